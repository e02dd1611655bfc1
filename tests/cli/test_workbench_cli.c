/* test_workbench_cli.c — the everyday conveniences, each against an independent computation:
 * inspect's summary (parameter count = the sum of the listed tensors' element counts, bytes per
 * dtype, layers), logits --json (the five largest of each row of logits --out, exact values),
 * tokenize --json/--pieces (the plain ids; pieces that spell the text), generate's repetition
 * penalty and top-k (chosen ids recomputed from logits --out rows), --stop (the text cut before
 * the stop string), --json (the ids printed without it), and eval-task's Wilson intervals (the
 * formula in double) and progress line. */
#include <criterion/criterion.h>
#include <math.h>

#include "json_reader.h"
#include "tu_cli.h"

#define LLAMA "tests/fixtures/perplexity/ppl-llama.sparsa"
#define EXAMPLE "examples/models/asentmax_nape.sparsa"
#define TASKS "tests/fixtures/tasks/"
#define TASK_MODEL "examples/synthetic/models/copy-softmax-rope.sparsa"
#define VOCAB 2000

static sp_json *run_json(const char *args) {
    char *out = NULL, *err = NULL;
    int rc = tu_run_sparsa(args, &out, &err);
    cr_assert_eq(rc, 0, "'%s' exited %d: %s", args, rc, err);
    sp_json *j = NULL;
    sp_error e = {0};
    cr_assert_eq(sp_json_parse(out, strlen(out), &j, &e), 0, "'%s': not JSON (%s): %s", args,
                 e.msg, out);
    free(out);
    free(err);
    return j;
}

static double num(const sp_json *obj, const char *key) {
    const sp_json *v = sp_json_get(obj, key);
    cr_assert(v && v->type == SP_JSON_NUMBER, "key %s missing or not a number", key);
    return v->number;
}

Test(workbench_cli, inspect_summary_counts_every_tensor) {
    sp_json *j = run_json("inspect " EXAMPLE " --json --tensors");
    const sp_json *s = sp_json_get(j, "summary"), *list = sp_json_get(sp_json_get(j, "tensors"), "list");
    cr_assert(s && list && list->type == SP_JSON_ARRAY);
    double numel_sum = 0, bf16_bytes = 0;
    for (size_t i = 0; i < list->len; i++) {
        const sp_json *t = list->items[i], *shape = sp_json_get(t, "shape");
        double n = 1;
        for (size_t d = 0; d < shape->len; d++) n *= shape->items[d]->number;
        numel_sum += n;
        if (!strcmp(sp_json_get(t, "dtype")->str, "bf16")) bf16_bytes += num(t, "bytes");
    }
    cr_assert_eq(num(s, "parameters"), numel_sum, "parameters = the sum of tensor numels");
    cr_assert_eq(num(sp_json_get(s, "bytes_by_dtype"), "bf16"), bf16_bytes);
    cr_assert_eq(num(s, "layers"), 4);
    cr_assert_eq(num(s, "heads"), 6);
    cr_assert_eq(num(s, "vocab"), 4096);
    const sp_json *att = sp_json_get(s, "attention");
    cr_assert_eq(att->len, 1, "all layers agree: one run");
    cr_assert_eq(num(att->items[0], "last_layer"), 3);
    cr_assert(strstr(sp_json_get(att->items[0], "normalizer")->str, "entmax alpha=1.5"));
    cr_assert(strstr(sp_json_get(att->items[0], "positional")->str, "nape"));
    sp_json_free(j);
    /* the text report opens with the same summary */
    char *out = NULL;
    cr_assert_eq(tu_run_sparsa("inspect " EXAMPLE, &out, NULL), 0);
    cr_assert(!strncmp(strchr(out, '\n') + 1, "model        4 attention layers, D ", 35), "%s", out);
    char want[80];
    snprintf(want, sizeof want, "parameters   %.0f (bf16 %.0f B)", numel_sum, bf16_bytes);
    cr_assert(strstr(out, want), "%s", out);
    free(out);
}

/* GQA with RoPE; Gemma-2's alternating sliding window gives one run per layer. */
Test(workbench_cli, inspect_summary_of_llama_and_gemma2) {
    char *out = NULL;
    cr_assert_eq(tu_run_sparsa("inspect tests/fixtures/models/hf-llama-f32.sparsa", &out, NULL), 0);
    cr_assert(strstr(out, "\nmodel        2 attention layers, D 32, FFN 64, vocab 96\n"
                          "  all 2      4 heads (kv 2) of 8, softmax, rope\n"), "%s", out);
    free(out);
    cr_assert_eq(tu_run_sparsa("inspect tests/fixtures/models/hf-gemma2-f32.sparsa", &out, NULL), 0);
    cr_assert(strstr(out, "  layer 0    4 heads (kv 2) of 16, softmax, rope, window 16\n"
                          "  layer 1    4 heads (kv 2) of 16, softmax, rope\n"), "%s", out);
    free(out);
    sp_json *j = run_json("inspect tests/fixtures/models/hf-gemma2-f32.sparsa --json");
    const sp_json *att = sp_json_get(sp_json_get(j, "summary"), "attention");
    cr_assert_eq(att->len, 2);
    cr_assert_eq(num(att->items[0], "window"), 16);
    cr_assert_eq(num(att->items[1], "window"), 0);
    cr_assert_eq(num(att->items[1], "kv_heads"), 2);
    sp_json_free(j);
}

/* The rows of `logits --out` for ids (a comma list of n_ids); malloc'd [n_ids][VOCAB]. */
static float *logits_rows(const char *ids, size_t n_ids) {
    char path[] = "/tmp/sparsa_wb_logitsXXXXXX", args[4096];
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    snprintf(args, sizeof args, "logits " LLAMA " --tokens %s --out %s", ids, path);
    cr_assert_eq(tu_run_sparsa(args, NULL, NULL), 0, "%s", args);
    size_t len = 0;
    float *all = tu_read_file(path, &len);
    remove(path);
    cr_assert(all && len == n_ids * VOCAB * sizeof(float), "logits --out has %zu bytes", len);
    return all;
}

/* The k-th largest of row (lowest id first among equals), k from 0; taken marks the chosen. */
static int next_best(const float *row, int *taken) {
    int best = -1;
    for (int i = 0; i < VOCAB; i++)
        if (!taken[i] && (best < 0 || row[i] > row[best])) best = i;
    taken[best] = 1;
    return best;
}

Test(workbench_cli, logits_json_is_the_top_five_of_every_row) {
    sp_json *j = run_json("logits " LLAMA " --tokens 5,17,3,1953,270 --json");
    float *rows = logits_rows("5,17,3,1953,270", 5);
    cr_assert_eq(num(j, "n_tokens"), 5);
    cr_assert_eq(num(j, "vocab"), VOCAB);
    const sp_json *pos = sp_json_get(j, "positions");
    cr_assert_eq(pos->len, 5);
    for (size_t p = 0; p < 5; p++) {
        const float *row = rows + p * VOCAB;
        const sp_json *top = sp_json_get(pos->items[p], "top");
        cr_assert_eq(num(pos->items[p], "position"), p);
        cr_assert_eq(top->len, 5);
        int taken[VOCAB] = {0};
        for (size_t t = 0; t < 5; t++) {
            int best = next_best(row, taken);
            cr_assert_eq(num(top->items[t], "id"), best, "position %zu rank %zu", p, t);
            float got = (float)num(top->items[t], "logit");
            cr_assert(got == row[best], "position %zu rank %zu: %.9g vs %.9g", p, t, got, row[best]);
        }
    }
    free(rows);
    sp_json_free(j);
}

Test(workbench_cli, tokenize_json_and_pieces_spell_the_ids) {
    const char *text = "In the beginning God created";
    char args[256], *ids = NULL, *pieces = NULL;
    snprintf(args, sizeof args, "tokenize " LLAMA " '%s'", text);
    cr_assert_eq(tu_run_sparsa(args, &ids, NULL), 0);
    snprintf(args, sizeof args, "tokenize " LLAMA " --pieces '%s'", text);
    cr_assert_eq(tu_run_sparsa(args, &pieces, NULL), 0);
    snprintf(args, sizeof args, "tokenize " LLAMA " --json '%s'", text);
    sp_json *j = run_json(args);
    const sp_json *toks = sp_json_get(j, "tokens");
    cr_assert_eq(num(j, "n_tokens"), toks->len);
    /* the ids are the plain output's; the pieces, '▁' read as a space, spell " " + text */
    char joined[512] = "", plain[512] = "", listed[512] = "";
    for (size_t i = 0; i < toks->len; i++) {
        char id[16];
        snprintf(id, sizeof id, i ? " %d" : "%d", (int)num(toks->items[i], "id"));
        strcat(plain, id);
        const char *p = sp_json_get(toks->items[i], "piece")->str;
        if (i) strcat(listed, " ");
        strcat(listed, p);
        for (; *p; p++) {
            if (!strncmp(p, "\xe2\x96\x81", 3)) {
                strcat(joined, " ");
                p += 2;
            } else strncat(joined, p, 1);
        }
    }
    strcat(plain, "\n");
    strcat(listed, "\n");
    cr_assert_str_eq(plain, ids);
    cr_assert_str_eq(listed, pieces, "--pieces lists the same pieces");
    cr_assert_eq(joined[0], ' ');
    cr_assert_str_eq(joined + 1, text);
    sp_json_free(j);
    free(ids);
    free(pieces);
    tu_expect_bad("tokenize " LLAMA " --json --pieces x", "one of");
}

/* The id `generate --tokens ids -n 1 EXTRA` prints (greedy unless EXTRA samples). */
static int generated_one(const char *ids, const char *extra) {
    char args[512], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "generate " LLAMA " --tokens %s -n 1 %s", ids, extra);
    cr_assert_eq(tu_run_sparsa(args, &out, &err), 0, "%s: %s", args, err);
    char *end;
    long id = strtol(out, &end, 10);
    cr_assert(end != out && !strcmp(end, "\n"), "one id on one line: '%s'", out);
    free(out);
    free(err);
    return (int)id;
}

/* llama.cpp's penalty on row for the distinct ids among the last n of seq, then the argmax. */
static int penalised_argmax(const float *row, const int *seq, size_t len, size_t n, float r) {
    static float pen[VOCAB];
    memcpy(pen, row, sizeof pen);
    int seen[VOCAB] = {0};
    for (size_t i = len > n ? len - n : 0; i < len; i++) seen[seq[i]] = 1;
    for (int i = 0; i < VOCAB; i++)
        if (seen[i]) pen[i] = pen[i] > 0 ? pen[i] / r : pen[i] * r;
    int taken[VOCAB] = {0};
    return next_best(pen, taken);
}

Test(workbench_cli, repeat_penalty_equals_a_direct_computation) {
    const char *prompts[] = {"5,17,3,1953,270,261,345", "5,17,3", "1043,261,1791,1243,1953,270"};
    const size_t last_n[] = {64, 2};
    int changed = 0;
    for (size_t k = 0; k < 3; k++) {
        int seq[16];
        size_t len = 0;
        for (const char *p = prompts[k]; *p; p += *p == ',') seq[len++] = (int)strtol(p, (char **)&p, 10);
        float *rows = logits_rows(prompts[k], len);
        const float *row = rows + (len - 1) * VOCAB;
        int taken[VOCAB] = {0}, plain = next_best(row, taken);
        cr_assert_eq(generated_one(prompts[k], ""), plain);
        for (size_t m = 0; m < 2; m++) {
            char extra[64];
            snprintf(extra, sizeof extra, "--repeat-penalty 1.8 --repeat-last-n %zu", last_n[m]);
            int want = penalised_argmax(row, seq, len, last_n[m], 1.8f);
            cr_assert_eq(generated_one(prompts[k], extra), want, "%s %s", prompts[k], extra);
            changed += want != plain;
        }
        free(rows);
    }
    cr_assert(changed > 0, "some case where the penalty changes the choice");
    tu_expect_bad("generate " LLAMA " --tokens 5 --repeat-penalty 0", "--repeat-penalty");
}

Test(workbench_cli, top_k_samples_only_among_the_k_largest) {
    float *rows = logits_rows("5,17,3", 3);
    const float *row = rows + 2 * VOCAB;
    int taken[VOCAB] = {0}, top[3];
    for (int t = 0; t < 3; t++) top[t] = next_best(row, taken);
    int hits[3] = {0};
    for (int seed = 0; seed < 24; seed++) {
        char extra[64];
        snprintf(extra, sizeof extra, "--temp 2 --top-k 3 --seed %d", seed);
        int id = generated_one("5,17,3", extra);
        int rank = id == top[0] ? 0 : id == top[1] ? 1 : id == top[2] ? 2 : -1;
        cr_assert(rank >= 0, "seed %d sampled %d, outside the top 3", seed, id);
        hits[rank]++;
        snprintf(extra, sizeof extra, "--temp 5 --top-k 1 --seed %d", seed);
        cr_assert_eq(generated_one("5,17,3", extra), top[0], "top-k 1 is greedy");
    }
    cr_assert((hits[0] > 0) + (hits[1] > 0) + (hits[2] > 0) >= 2, "sampling, not greedy");
    free(rows);
}

Test(workbench_cli, stop_string_cuts_the_text_and_json_matches_the_ids) {
    char *full = NULL, *cut = NULL, *ids = NULL;
    cr_assert_eq(tu_run_sparsa("generate " LLAMA " --prompt 'In the beginning' -n 30", &full, NULL), 0);
    cr_assert_eq(tu_run_sparsa("generate " LLAMA " --prompt 'In the beginning' -n 30 --stop LORD "
                               "--stop 'never there'", &cut, NULL), 0);
    char *at = strstr(full, "LORD");
    cr_assert(at, "the continuation holds the stop string: %s", full);
    cr_assert_eq(strlen(cut), (size_t)(at - full) + 1, "'%s' vs '%s'", cut, full);
    cr_assert(!strncmp(cut, full, (size_t)(at - full)) && cut[at - full] == '\n');
    sp_json *j = run_json("generate " LLAMA " --prompt 'In the beginning' -n 30 --stop LORD --json");
    cr_assert_str_eq(sp_json_get(j, "stopped_by")->str, "stop");
    cr_assert(!strncmp(sp_json_get(j, "text")->str, cut, strlen(cut) - 1));
    sp_json_free(j);
    /* --json's tokens are exactly the ids --tokens prints on one line without it */
    cr_assert_eq(tu_run_sparsa("generate " LLAMA " --tokens 1043,261,1791 -n 8", &ids, NULL), 0);
    cr_assert_eq(tu_line_count(ids), 1);
    j = run_json("generate " LLAMA " --tokens 1043,261,1791 -n 8 --json");
    const sp_json *t = sp_json_get(j, "tokens");
    char joined[256] = "";
    for (size_t i = 0; i < t->len; i++) {
        char id[16];
        snprintf(id, sizeof id, i ? " %d" : "%d", (int)t->items[i]->number);
        strcat(joined, id);
    }
    strcat(joined, "\n");
    cr_assert_str_eq(joined, ids);
    cr_assert_str_eq(sp_json_get(j, "stopped_by")->str, "length");
    const sp_json *tm = sp_json_get(j, "timings");
    cr_assert(num(tm, "prompt_seconds") >= 0 && num(tm, "decode_seconds") >= 0);
    sp_json_free(j);
    free(full);
    free(cut);
    free(ids);
}

/* The Wilson score interval, written out from its definition, in double. */
static void wilson(double k, double n, double *lo, double *hi) {
    double z = 1.959963984540054, p = k / n;
    double mid = (p + z * z / (2 * n)) / (1 + z * z / n);
    double half = z / (1 + z * z / n) * sqrt(p * (1 - p) / n + z * z / (4 * n * n));
    *lo = fmax(0, mid - half);
    *hi = fmin(1, mid + half);
}

Test(workbench_cli, eval_task_wilson_interval_and_progress) {
    char *out = NULL, *err = NULL;
    const char *args = "eval-task " TASK_MODEL " --src " TASKS "copy_0_64.src," TASKS
                       "copy_1_256.src --trg " TASKS "copy_0_64.trg," TASKS "copy_1_256.trg "
                       "--limit 5 --json";
    sp_json *j = run_json(args);
    const sp_json *res = sp_json_get(j, "results");
    cr_assert_eq(res->len, 2);
    for (size_t i = 0; i < res->len; i++) {
        double k = num(res->items[i], "correct"), n = num(res->items[i], "samples"), lo, hi;
        wilson(k, n, &lo, &hi);
        double got_lo = num(res->items[i], "accuracy_ci_low");
        double got_hi = num(res->items[i], "accuracy_ci_high");
        cr_assert(fabs(got_lo - lo) <= 1e-6 && fabs(got_hi - hi) <= 1e-6,
                  "%g/%g: [%g, %g] vs [%g, %g]", k, n, got_lo, got_hi, lo, hi);
        cr_assert(got_lo <= k / n && k / n <= got_hi);
    }
    sp_json_free(j);
    char line[600];
    snprintf(line, sizeof line, "%s --progress", args);
    cr_assert_eq(tu_run_sparsa(line, &out, &err), 0);
    cr_assert(strstr(err, "eval-task set 2/2, sample 5/5"), "a progress line: %s", err);
    free(out);
    free(err);
    cr_assert_eq(tu_run_sparsa(args, &out, &err), 0);
    cr_assert_str_eq(err, "", "no progress when stderr is not a terminal");
    free(out);
    free(err);
    snprintf(line, sizeof line, "%s --progress --quiet", args);
    tu_expect_bad(line, "--progress or --quiet");
}
