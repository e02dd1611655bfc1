/* cmd_generate.c — `sparsa generate FILE (--prompt TEXT | --tokens IDS) [-n N] [--temp T]
 * [--top-k K] [--top-p P] [--repeat-penalty R] [--stop S]... [--seed S] [--json]`: parse the
 * command line, run through eval/ (sp_gen_prepare, sp_gen_execute), print the text, the
 * generated ids on one line, or one JSON document with tokens, text and timings. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "sparsa_eval.h"

#define CMD "generate"

#define MAX_STOPS 16

typedef struct stop_list {
    const char *v[MAX_STOPS];
    size_t n;
} stop_list;

typedef struct gen_options {
    const char *prompt, *tokens;
    uint64_t n_new, seed, threads, top_k, last_n;
    float temp, top_p, penalty;
    int no_bos, no_verify, json;
    stop_list stops;
    const char *device, *precision; /* --device, --precision: validated (cpu, fp32) */
} gen_options;

static int parse_stop(const char *value, void *dest, char *why, size_t why_len) {
    stop_list *l = dest;
    if (!*value) snprintf(why, why_len, "--stop needs a non-empty string");
    else if (l->n == MAX_STOPS) snprintf(why, why_len, "at most %d --stop strings", MAX_STOPS);
    else {
        l->v[l->n++] = value;
        return 0;
    }
    return SP_ERR_INPUT;
}

static int parse_float(const char *s, float *out) {
    if (!*s) return -1;
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (*end || errno || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_temp(const char *value, void *dest, char *why, size_t why_len) {
    (void)why, (void)why_len;
    float v;
    if (parse_float(value, &v) || v < 0) return SP_ERR_INPUT;
    *(float *)dest = v;
    return 0;
}

static int parse_top_p(const char *value, void *dest, char *why, size_t why_len) {
    (void)why, (void)why_len;
    float v;
    if (parse_float(value, &v) || !(v > 0 && v <= 1)) return SP_ERR_INPUT;
    *(float *)dest = v;
    return 0;
}

static int parse_penalty(const char *value, void *dest, char *why, size_t why_len) {
    (void)why, (void)why_len;
    float v;
    if (parse_float(value, &v) || !(v > 0)) return SP_ERR_INPUT;
    *(float *)dest = v;
    return 0;
}

static const cli_option options[] = {
    {.name = "--prompt", .kind = CLI_STRING, .offset = offsetof(gen_options, prompt),
     .metavar = "TEXT",
     .help = "text for FILE's tokenizer, BOS first; prints prompt + generated text"},
    {.name = "--tokens", .kind = CLI_STRING, .offset = offsetof(gen_options, tokens),
     .metavar = "IDS", .help = "ids (commas or spaces), used as given; prints the generated ids"},
    {.name = "-n", .kind = CLI_UINT, .offset = offsetof(gen_options, n_new), .min = 0,
     .max = 1u << 30, .metavar = "N", .help = "generate up to N tokens (default 128)",
     .bad = "-n needs a non-negative integer"},
    {.name = "--temp", .kind = CLI_CUSTOM, .offset = offsetof(gen_options, temp),
     .parse = parse_temp, .metavar = "T",
     .help = "0 (default): greedy; T > 0: sample from softmax(logits / T)",
     .bad = "--temp needs a number >= 0"},
    {.name = "--top-k", .kind = CLI_UINT, .offset = offsetof(gen_options, top_k), .min = 0,
     .max = INT32_MAX, .metavar = "K", .help = "sample from the K most likely tokens only "
     "(default 0: all)", .bad = "--top-k needs a non-negative integer"},
    {.name = "--top-p", .kind = CLI_CUSTOM, .offset = offsetof(gen_options, top_p),
     .parse = parse_top_p, .metavar = "P",
     .help = "sample from the most likely tokens whose mass reaches P (default 1)",
     .bad = "--top-p needs a number in (0, 1]"},
    {.name = "--repeat-penalty", .kind = CLI_CUSTOM, .offset = offsetof(gen_options, penalty),
     .parse = parse_penalty, .metavar = "R", .help = "recent tokens' logits: positive / R, "
     "negative * R (default 1: off)", .bad = "--repeat-penalty needs a "
     "number > 0"},
    {.name = "--repeat-last-n", .kind = CLI_UINT, .offset = offsetof(gen_options, last_n),
     .min = 0, .max = 1u << 30, .metavar = "N", .help = "the penalty looks at the last N "
     "tokens, prompt included (default 64)", .bad = "--repeat-last-n needs a non-negative "
     "integer"},
    {.name = "--stop", .kind = CLI_CUSTOM, .offset = offsetof(gen_options, stops),
     .parse = parse_stop, .metavar = "STRING", .repeatable = 1, .help = "stop when the text "
     "ends with STRING, not printed (repeatable)"},
    {.name = "--seed", .kind = CLI_UINT, .offset = offsetof(gen_options, seed), .min = 0,
     .max = UINT64_MAX, .metavar = "S", .help = "seed of the sampler (default 0); the same "
     "seed gives the same tokens", .bad = "--seed needs an integer"},
    {.name = "--no-bos", .kind = CLI_FLAG, .offset = offsetof(gen_options, no_bos),
     .help = "no BOS before the --prompt text (default: BOS unless tokenizer.add_bos false)"},
    {.name = "--json", .kind = CLI_FLAG, .offset = offsetof(gen_options, json),
     .help = "one JSON document: prompt and generated ids, text, why it stopped, timings"},
    CLI_OPTION_THREADS(gen_options, threads),
    CLI_OPTIONS_BACKEND(gen_options, device, precision),
    CLI_OPTION_NO_VERIFY(gen_options, no_verify),
    {0},
};

static const cli_command command = {
    .name = CMD,
    .synopsis = "FILE (--prompt TEXT | --tokens IDS) [-n N] [--temp T] [--top-k K]\n"
                "                       [--top-p P] [--repeat-penalty R] [--repeat-last-n N] "
                "[--stop STRING]...\n"
                "                       [--seed S] [--no-bos] [--json] [--threads N] "
                "[--no-verify]",
    .about = "Generates up to N tokens (default 128) after a prompt, stopping early at EOS, at "
             "a --stop\nstring or at the model's context length. Before sampling: the repeat "
             "penalty, then top-k,\nthen temperature and top-p. BOS goes before a --prompt "
             "text unless the file's metadata\nsays the model was trained without one "
             "(tokenizer.add_bos false) or --no-bos.\n",
    .options = options,
    .max_positional = 1,
};

static int print_id(void *user, int32_t id) {
    size_t *count = user;
    printf(*count ? " %d" : "%d", (int)id);
    ++*count;
    return fflush(stdout) != 0; /* a closed output stops the generation */
}

/* Runs the generation and prints its result: ids as they come, or the decoded text. */
static int generate_and_print(sp_gen_run *run, int print_ids, sp_error *err) {
    size_t printed = 0;
    int rc = sp_gen_execute(run, print_ids ? print_id : NULL, &printed, err);
    if (rc) return rc;
    if (print_ids) {
        putchar('\n');
        return SP_OK;
    }
    char *text = NULL;
    size_t len = 0;
    if ((rc = sp_gen_text(run, &text, &len, err))) return rc;
    fwrite(text, 1, len, stdout);
    putchar('\n');
    free(text);
    return SP_OK;
}

typedef struct gen_json_ref {
    const sp_gen_job *job;
    int bos_added;
} gen_json_ref;

static void json_ids(const int32_t *ids, size_t n) {
    putchar('[');
    for (size_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", (int)ids[i]);
    putchar(']');
}

/* A float with the fewest digits that read back to it (0.7, not 0.699999988). */
static void json_float(FILE *out, const char *key, float v) {
    char text[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)v);
        if (strtof(text, NULL) == v) break;
    }
    fprintf(out, ", \"%s\": %s", key, text);
}

/* What decides the tokens: the sampler's settings, the length, the stop strings and whether
 * BOS went first (threads do not). */
static void json_settings(FILE *out, const void *user) {
    const gen_json_ref *ref = user;
    const sp_gen_job *job = ref->job;
    fprintf(out, "\"max_new\": %zu", job->max_new);
    json_float(out, "temperature", job->temperature);
    fprintf(out, ", \"top_k\": %d", (int)job->top_k);
    json_float(out, "top_p", job->top_p);
    json_float(out, "repeat_penalty", job->repeat_penalty);
    fprintf(out, ", \"repeat_last_n\": %zu, \"seed\": %llu, \"bos\": \"%s\", \"stops\": [",
            job->repeat_last_n, (unsigned long long)job->seed, ref->bos_added ? "prepend" : "none");
    for (size_t i = 0; i < job->n_stops; i++) {
        if (i) fputs(", ", out);
        sp_json_escape(out, job->stops[i], strlen(job->stops[i]));
    }
    fputs("], ", out);
    sp_prov_device_settings(out);
}

/* `--json`: the whole document after the run (stdout never holds half of one). */
static int print_json(const sp_gen_job *job, sp_gen_run *run, sp_error *err) {
    char sha[65];
    const char *sha_ref = sha;
    int rc = sp_prov_sha256_file(job->model_path, sha, err);
    if (!rc) rc = sp_gen_execute(run, NULL, NULL, err);
    if (rc) return rc;
    char *text = NULL;
    size_t len = 0;
    sp_error text_err = {0};
    int has_text = sp_gen_text(run, &text, &len, &text_err) == SP_OK;
    sp_gen_info g;
    sp_gen_info_of(run, &g);
    fputs("{\"model\":", stdout);
    sp_json_escape(stdout, job->model_path, strlen(job->model_path));
    printf(",\"bos_added\":%s,\"prompt_tokens\":", g.bos_added ? "true" : "false");
    json_ids(g.prompt, g.n_prompt);
    fputs(",\"tokens\":", stdout);
    json_ids(g.out, g.n_out);
    fputs(",\"text\":", stdout);
    if (has_text) sp_json_escape(stdout, text, len);
    else fputs("null", stdout);
    double decoded = g.n_out > 1 ? (double)(g.n_out - 1) : 0;
    printf(",\"stopped_by\":\"%s\",\"timings\":{\"prompt_seconds\":%.6f,\"decode_seconds\":"
           "%.6f,\"prompt_tokens_per_second\":%.3f,\"decode_tokens_per_second\":%.3f},",
           g.stopped_by, g.prompt_seconds, g.decode_seconds,
           g.prompt_seconds > 0 ? (double)g.n_prompt / g.prompt_seconds : 0,
           g.decode_seconds > 0 ? decoded / g.decode_seconds : 0);
    gen_json_ref ref = {job, g.bos_added};
    sp_provenance prov = {.version = cli_version(), .models = &job->model_path,
                          .sha256 = &sha_ref, .n_models = 1, .settings = json_settings,
                          .user = &ref};
    sp_prov_write(stdout, &prov);
    fputs("}\n", stdout);
    free(text);
    return SP_OK;
}

int cmd_generate(int argc, char **argv) {
    gen_options o = {.n_new = 128, .temp = 0.0f, .top_p = 1.0f, .penalty = 1.0f, .last_n = 64};
    cli_args a;
    int rc = cli_parse(&command, argc, argv, &o, &a);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (a.n_pos < 1) return cli_usage_error(CMD, "missing the model FILE");
    if (!o.prompt == !o.tokens)
        return cli_usage_error(CMD, "give exactly one of --prompt and --tokens");
    if ((rc = cli_require_file(CMD, "the model FILE", a.pos[0]))) return rc;
    sp_inputs_add(a.pos[0]);
    sp_gen_job job = {.model_path = a.pos[0], .prompt = o.prompt, .max_new = (size_t)o.n_new,
                      .temperature = o.temp, .top_p = o.top_p, .seed = o.seed,
                      .threads = (int)o.threads, .no_bos = o.no_bos,
                      .no_verify = o.no_verify, .top_k = (int32_t)o.top_k,
                      .repeat_penalty = o.penalty, .repeat_last_n = (size_t)o.last_n,
                      .stops = o.stops.v, .n_stops = o.stops.n};
    int32_t *ids = NULL;
    if (o.tokens) {
        char bad[48];
        rc = sp_ids_parse(o.tokens, &ids, &job.n_ids, bad, sizeof bad);
        for (size_t i = 0; !rc && i < job.n_ids; i++) rc = ids[i] < 0 ? SP_ERR_INPUT : 0;
        if (rc == SP_ERR_RUNTIME) fprintf(stderr, "sparsa %s: out of memory\n", CMD);
        else if (rc) rc = cli_usage_error(CMD, "--tokens needs non-negative integer ids");
        if (rc) {
            free(ids);
            return rc;
        }
        job.ids = ids;
    }
    sp_error err = {0};
    sp_gen_run *run = NULL;
    rc = sp_gen_prepare(&job, &run, &err);
    if (!rc && o.json) rc = print_json(&job, run, &err);
    else if (!rc) rc = generate_and_print(run, o.tokens != NULL, &err);
    sp_gen_run_free(run);
    free(ids);
    return rc ? cli_report(CMD, &err) : 0;
}
