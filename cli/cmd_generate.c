/* cmd_generate.c — `sparsa generate FILE (--prompt TEXT | --tokens IDS) [-n N] [--temp T]
 * [--top-p P] [--seed S]`: parse the command line, run through eval/ (sp_gen_prepare,
 * sp_gen_execute), print the text, or the generated ids on one line. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "args.h"
#include "commands.h"
#include "sparsa_eval.h"

#define CMD "generate"

typedef struct gen_options {
    const char *prompt, *tokens;
    uint64_t n_new, seed, threads;
    float temp, top_p;
    int no_bos, no_verify;
} gen_options;

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
    {.name = "--top-p", .kind = CLI_CUSTOM, .offset = offsetof(gen_options, top_p),
     .parse = parse_top_p, .metavar = "P",
     .help = "sample from the most likely tokens whose mass reaches P (default 1)",
     .bad = "--top-p needs a number in (0, 1]"},
    {.name = "--seed", .kind = CLI_UINT, .offset = offsetof(gen_options, seed), .min = 0,
     .max = UINT64_MAX, .metavar = "S", .help = "seed of the sampler (default 0); the same "
     "seed gives the same tokens", .bad = "--seed needs an integer"},
    {.name = "--no-bos", .kind = CLI_FLAG, .offset = offsetof(gen_options, no_bos),
     .help = "do not put BOS before the --prompt text"},
    CLI_OPTION_THREADS(gen_options, threads),
    CLI_OPTION_NO_VERIFY(gen_options, no_verify),
    {0},
};

static const cli_command command = {
    .name = CMD,
    .synopsis = "FILE (--prompt TEXT | --tokens IDS) [-n N] [--temp T] [--top-p P]\n"
                "                       [--seed S] [--no-bos] [--threads N] [--no-verify]",
    .about = "Generates up to N tokens (default 128) after a prompt, stopping early at EOS or at "
             "the\nmodel's context length.\n",
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

int cmd_generate(int argc, char **argv) {
    gen_options o = {.n_new = 128, .temp = 0.0f, .top_p = 1.0f};
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
                      .no_verify = o.no_verify};
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
    if (!rc) rc = generate_and_print(run, o.tokens != NULL, &err);
    sp_gen_run_free(run);
    free(ids);
    return rc ? cli_report(CMD, &err) : 0;
}
