/* test_provenance_cli.c — every result JSON carries its provenance: `sparsa_version` equal to the
 * number `sparsa --version` prints, `models` naming each model (or tokenizer) file with the
 * SHA-256 that `sha256sum` computes for it, and the `settings` behind the numbers. Checked for
 * all seven commands with a JSON result (perplexity, kld, mc, eval-task, logits, generate,
 * tokenize); for the four that gained it, the provenance comes after every key they had before
 * and the settings are the ones given on the command line. The documents are read with the
 * strict reader, which refuses a key written twice. */
#include <criterion/criterion.h>
#include <math.h>

#include "sparsa_workbench.h"
#include "tu_cli.h"

#define LLAMA "tests/fixtures/perplexity/ppl-llama.sparsa"
#define CORPUS "tests/fixtures/perplexity/psalms.txt"
#define SPM "tests/fixtures/tokenizer/kjv_bpe.model"
#define TASK_MODEL "examples/synthetic/models/copy-softmax-rope.sparsa"
#define TASKS "tests/fixtures/tasks/"

/* The number in "sparsa 0.1.0 (model format 1.0)". */
static char *version_number(void) {
    char *out = NULL;
    cr_assert_eq(tu_run_sparsa("--version", &out, NULL), 0);
    char number[64] = "";
    cr_assert_eq(sscanf(out, "sparsa %63s", number), 1, "--version printed '%s'", out);
    free(out);
    return strdup(number);
}

/* The digest as `sha256sum` prints it: computed outside sparsa. */
static void sha256sum(const char *path, char hex[65]) {
    char cmd[512], line[256] = "";
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    cr_assert(p, "cannot run sha256sum");
    int got = fgets(line, sizeof line, p) != NULL;
    int st = pclose(p);
    cr_assert(got && st == 0 && strlen(line) > 64, "sha256sum %s: '%s'", path, line);
    memcpy(hex, line, 64);
    hex[64] = 0;
}

/* `sparsa ARGS` exits 0 and prints one strict JSON document; its text in *text if asked. */
static void run_json(const char *args, sp_jv *doc, char **text) {
    char *out = NULL, *err = NULL;
    int rc = tu_run_sparsa(args, &out, &err);
    cr_assert_eq(rc, 0, "'%s' exited %d: %s", args, rc, err);
    sp_error e = {0};
    cr_assert_eq(sp_jv_parse(out, strlen(out), doc, &e), 0, "'%s': not JSON (%s): %s", args,
                 e.msg, out);
    free(err);
    if (text) *text = out;
    else free(out);
}

/* sparsa_version and models (file, sha256 of each path in order); returns the settings. */
static const sp_jv *expect_provenance(const sp_jv *doc, const char *const *paths, size_t n) {
    char *version = version_number();
    const sp_jv *v = sp_jv_get(doc, "sparsa_version");
    cr_assert(v && v->type == SP_JV_STRING, "no sparsa_version");
    cr_assert_str_eq(v->str, version);
    free(version);
    const sp_jv *models = sp_jv_get(doc, "models");
    cr_assert(models && models->type == SP_JV_ARRAY && models->n == n, "models: %zu wanted", n);
    for (size_t i = 0; i < n; i++) {
        char want[65];
        sha256sum(paths[i], want);
        const sp_jv *file = sp_jv_get(&models->items[i], "file");
        const sp_jv *sha = sp_jv_get(&models->items[i], "sha256");
        cr_assert(file && file->type == SP_JV_STRING && sha && sha->type == SP_JV_STRING);
        cr_assert_str_eq(file->str, paths[i]);
        cr_assert_str_eq(sha->str, want, "model %zu (%s)", i, paths[i]);
    }
    const sp_jv *settings = sp_jv_get(doc, "settings");
    cr_assert(settings && settings->type == SP_JV_OBJECT, "no settings object");
    return settings;
}

static const char *setting_str(const sp_jv *settings, const char *key) {
    const sp_jv *v = sp_jv_get(settings, key);
    cr_assert(v && v->type == SP_JV_STRING, "setting %s missing or not a string", key);
    return v->str;
}

static double setting_num(const sp_jv *settings, const char *key) {
    const sp_jv *v = sp_jv_get(settings, key);
    cr_assert(v && v->type == SP_JV_NUMBER, "setting %s missing or not a number", key);
    return v->number;
}

static int setting_null(const sp_jv *settings, const char *key) {
    const sp_jv *v = sp_jv_get(settings, key);
    return v && v->type == SP_JV_NULL;
}

/* Every number sparsa computes comes from this build's one device and precision. */
static void expect_device(const sp_jv *settings) {
    cr_assert_str_eq(setting_str(settings, "device"), "cpu");
    cr_assert_str_eq(setting_str(settings, "precision"), "fp32");
}

/* The provenance follows every key of the document as it was before it: `last_old_key` (a key
 * of the top-level object) is written before "sparsa_version". */
static void expect_appended(const char *text, const char *last_old_key) {
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", last_old_key);
    const char *old = strstr(text, quoted), *prov = strstr(text, "\"sparsa_version\"");
    cr_assert(old && prov && old < prov, "%s is written before the provenance: %s",
              last_old_key, text);
}

Test(provenance_cli, every_result_json_names_version_models_and_settings) {
    static const struct {
        const char *args;
        const char *models[2];
        size_t n;
    } runs[] = {
        {"perplexity " LLAMA " " CORPUS " --ctx 64 --max-tokens 200 --json", {LLAMA}, 1},
        {"kld " LLAMA " " LLAMA " " CORPUS " --ctx 64 --max-tokens 200 --json", {LLAMA, LLAMA}, 2},
        {"mc " LLAMA " tests/fixtures/mc/arc.jsonl --format arc --json", {LLAMA}, 1},
        {"eval-task " TASK_MODEL " --src " TASKS "copy_0_64.src --trg " TASKS "copy_0_64.trg "
         "--limit 2 --json", {TASK_MODEL}, 1},
        {"logits " LLAMA " --tokens 5,17,3 --json", {LLAMA}, 1},
        {"generate " LLAMA " --tokens 5,17,3 -n 3 --json", {LLAMA}, 1},
        {"tokenize " LLAMA " --json 'In the beginning'", {LLAMA}, 1},
    };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        sp_jv doc;
        run_json(runs[r].args, &doc, NULL);
        const sp_jv *settings = expect_provenance(&doc, runs[r].models, runs[r].n);
        if (strncmp(runs[r].args, "tokenize", 8)) expect_device(settings);
        sp_jv_free(&doc);
    }
}

Test(provenance_cli, eval_task_settings_are_its_layout_and_limit) {
    sp_jv doc;
    char *text = NULL;
    run_json("eval-task " TASK_MODEL " --src " TASKS "copy_0_64.src --trg " TASKS "copy_0_64.trg"
             " --limit 2 --max-len-mult 1.5 --sep none --bos 30 --eos 31 --json", &doc, &text);
    const char *paths[] = {TASK_MODEL};
    const sp_jv *s = expect_provenance(&doc, paths, 1);
    expect_appended(text, "results");
    cr_assert_eq(setting_num(s, "bos"), 30);
    cr_assert_eq(setting_num(s, "eos"), 31);
    cr_assert_eq(setting_num(s, "sep"), -1, "--sep none is -1, as the document's own sep");
    cr_assert_eq(setting_num(s, "multiplier"), 1.5);
    cr_assert_eq(setting_num(s, "limit"), 2);
    expect_device(s);
    /* the top-level keys scripts read are still there, with the same values */
    cr_assert_eq(sp_jv_get(&doc, "sep")->number, -1);
    cr_assert_eq(sp_jv_get(&doc, "results")->n, 1);
    sp_jv_free(&doc);
    free(text);
    run_json("eval-task " TASK_MODEL " --src " TASKS "copy_0_64.src --trg " TASKS "copy_0_64.trg"
             " --json --threads 1", &doc, NULL);
    s = sp_jv_get(&doc, "settings");
    cr_assert(setting_null(s, "limit"), "no --limit: null");
    cr_assert_eq(setting_num(s, "multiplier"), sp_jv_get(&doc, "multiplier")->number);
    cr_assert(!sp_jv_get(s, "threads"), "threads do not change the numbers");
    sp_jv_free(&doc);
}

Test(provenance_cli, logits_settings_and_order) {
    sp_jv doc;
    char *text = NULL;
    run_json("logits " LLAMA " --tokens 5,17,3 --json --threads 2", &doc, &text);
    const char *paths[] = {LLAMA};
    const sp_jv *s = expect_provenance(&doc, paths, 1);
    expect_appended(text, "positions");
    expect_device(s);
    cr_assert_eq(s->n, 2, "device and precision only: %s", text);
    cr_assert_eq(sp_jv_get(&doc, "n_tokens")->number, 3);
    sp_jv_free(&doc);
    free(text);
}

Test(provenance_cli, generate_settings_are_the_samplers) {
    sp_jv doc;
    char *text = NULL;
    run_json("generate " LLAMA " --prompt 'In the beginning' -n 6 --temp 0.7 --top-k 5 "
             "--top-p 0.9 --repeat-penalty 1.3 --repeat-last-n 8 --seed 42 --stop LORD "
             "--stop 'a\"b' --json", &doc, &text);
    const char *paths[] = {LLAMA};
    const sp_jv *s = expect_provenance(&doc, paths, 1);
    expect_appended(text, "timings");
    cr_assert_eq(setting_num(s, "max_new"), 6);
    cr_assert_eq(setting_num(s, "temperature"), 0.7, "the float as given, shortest digits");
    cr_assert_eq(setting_num(s, "top_k"), 5);
    cr_assert_eq(setting_num(s, "top_p"), 0.9);
    cr_assert_eq(setting_num(s, "repeat_penalty"), 1.3);
    cr_assert_eq(setting_num(s, "repeat_last_n"), 8);
    cr_assert_eq(setting_num(s, "seed"), 42);
    cr_assert_str_eq(setting_str(s, "bos"), "prepend");
    const sp_jv *stops = sp_jv_get(s, "stops");
    cr_assert(stops && stops->type == SP_JV_ARRAY && stops->n == 2);
    cr_assert_str_eq(stops->items[0].str, "LORD");
    cr_assert_str_eq(stops->items[1].str, "a\"b");
    expect_device(s);
    cr_assert(sp_jv_get(&doc, "bos_added")->boolean);
    sp_jv_free(&doc);
    free(text);
    /* ids used as given: no BOS; the defaults */
    run_json("generate " LLAMA " --tokens 5,17,3 -n 2 --json", &doc, NULL);
    s = sp_jv_get(&doc, "settings");
    cr_assert_str_eq(setting_str(s, "bos"), "none");
    cr_assert_eq(setting_num(s, "temperature"), 0);
    cr_assert_eq(setting_num(s, "top_p"), 1);
    cr_assert_eq(setting_num(s, "seed"), 0);
    cr_assert_eq(sp_jv_get(s, "stops")->n, 0);
    sp_jv_free(&doc);
}

Test(provenance_cli, tokenize_names_the_tokenizer_file) {
    const char *files[] = {LLAMA, SPM};
    for (size_t i = 0; i < 2; i++) {
        char args[256], *text = NULL;
        snprintf(args, sizeof args, "tokenize %s --json 'In the beginning'", files[i]);
        sp_jv doc;
        run_json(args, &doc, &text);
        const sp_jv *s = expect_provenance(&doc, &files[i], 1);
        expect_appended(text, "tokens");
        cr_assert_eq(s->n, 0, "no setting changes the ids: %s", text);
        cr_assert(sp_jv_get(&doc, "n_tokens")->number > 0);
        sp_jv_free(&doc);
        free(text);
    }
}
