/* cmd_perplexity.c — `sparsa perplexity FILE CORPUS...`: parse the command line, then plan,
 * run and report through eval/ (sp_ppl_prepare, sp_ppl_execute, sp_ppl_report). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "shard_opt.h"
#include "sparsa_dist.h"
#include "sparsa_eval.h"

#define CMD "perplexity"
#define MAX_CTX 64
#define MAX_MODELS 16
/* sparsa's version for the provenance of the JSON; the same string as `sparsa --version`. */

/* --ctx N[,N...]: distinct positive integers, one run each. */
typedef struct ctx_list {
    size_t v[MAX_CTX], n;
    size_t dup;                  /* the value listed twice, when that was the error */
} ctx_list;

typedef struct ppl_options {
    ctx_list ctx;
    int score, bos;              /* indices of score_names, bos_names: sp_score_mode, sp_bos_mode */
    uint64_t stride, max_tokens, max_bytes, threads;
    int json, stats, no_verify, progress, quiet, docs;
    uint64_t by_position;
    const char *dump_nll;
    struct model_list {
        const char *v[MAX_MODELS];
        size_t n;
    } models;                    /* --model, repeatable */
    cli_shard shard;             /* --shard K/N; n 0: none */
    const char *part_out;        /* -o PART, with --shard */
    const char *device, *precision; /* --device, --precision: validated (cpu, fp32) */
    const char *token_cache;     /* --token-cache DIR */
    int no_token_cache;
} ppl_options;

static const char *const score_names[] = {"all", "second-half", "rolling", NULL};
static const char *const docs_names[] = {"files", "lines", NULL};
static const char *const bos_names[] = {"none", "prepend", "replace", NULL};

static int add_ctx(const char *item, size_t len, void *dest) {
    ctx_list *l = dest;
    char buf[24];
    if (len == 0 || len >= sizeof buf || item[0] < '0' || item[0] > '9') return SP_ERR_INPUT;
    memcpy(buf, item, len);
    buf[len] = 0;
    char *end;
    unsigned long long v = strtoull(buf, &end, 10);
    if (*end || v == 0 || v > (1ull << 40) || l->n == MAX_CTX) return SP_ERR_INPUT;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == v) {
            l->dup = (size_t)v;
            return SP_ERR_INPUT;
        }
    l->v[l->n++] = (size_t)v;
    return 0;
}

static int parse_ctx(const char *value, void *dest, char *why, size_t why_len) {
    ctx_list *l = dest;
    l->n = 0;
    l->dup = 0;
    if (!cli_split_commas(value, add_ctx, l)) return 0;
    if (l->dup) snprintf(why, why_len, "--ctx lists %zu twice", l->dup);
    return SP_ERR_INPUT;
}

/* --model FILE, once per extra model. */
static int parse_model(const char *value, void *dest, char *why, size_t why_len) {
    struct model_list *l = dest;
    if (l->n == MAX_MODELS) {
        snprintf(why, why_len, "at most %d --model", MAX_MODELS);
        return SP_ERR_INPUT;
    }
    l->v[l->n++] = value;
    return 0;
}

static const cli_option options[] = {
    {.name = "--ctx", .kind = CLI_CUSTOM, .offset = offsetof(ppl_options, ctx),
     .parse = parse_ctx, .metavar = "N[,N...]",
     .help = "context lengths (default: 512, or the model's if smaller)",
     .bad = "--ctx needs positive integers separated by commas"},
    {.name = "--score", .kind = CLI_CHOICE, .offset = offsetof(ppl_options, score),
     .choices = score_names, .metavar = "MODE",
     .help = "all (default), second-half (llama.cpp's) or rolling (see above)",
     .bad = "--score must be all, second-half or rolling"},
    {.name = "--docs", .kind = CLI_CHOICE, .offset = offsetof(ppl_options, docs),
     .choices = docs_names, .metavar = "files|lines",
     .help = "rolling: a document is a whole file (default) or each line",
     .bad = "--docs must be files or lines"},
    {.name = "--model", .kind = CLI_CUSTOM, .offset = offsetof(ppl_options, models),
     .parse = parse_model, .repeatable = 1, .metavar = "FILE",
     .help = "one more model on the same windows (repeatable)",
     .bad = "--model needs a model file"},
    {.name = "--by-position", .kind = CLI_UINT, .offset = offsetof(ppl_options, by_position),
     .min = 1, .max = 1ull << 40, .metavar = "B",
     .help = "mean NLL by position in the window, buckets of B",
     .bad = "--by-position needs a positive integer"},
    {.name = "--dump-nll", .kind = CLI_STRING, .offset = offsetof(ppl_options, dump_nll),
     .metavar = "FILE", .help = "every scored token's NLL as a table (docs/PROTOCOLS.md)"},
    {.name = "--progress", .kind = CLI_FLAG, .offset = offsetof(ppl_options, progress),
     .help = "the running PPL on stderr, also when it is not a terminal"},
    {.name = "--quiet", .kind = CLI_FLAG, .offset = offsetof(ppl_options, quiet),
     .help = "no progress line"},
    {.name = "--stride", .kind = CLI_UINT, .offset = offsetof(ppl_options, stride),
     .min = 1, .max = 1ull << 40, .metavar = "S",
     .help = "Hugging Face sliding window: a window every S tokens",
     .bad = "--stride needs a positive integer"},
    {.name = "--bos", .kind = CLI_CHOICE, .offset = offsetof(ppl_options, bos),
     .choices = bos_names, .metavar = "none|prepend|replace",
     .help = "BOS at the start of each window (default none; see above)",
     .bad = "--bos must be none, prepend or replace"},
    {.name = "--max-tokens", .kind = CLI_UINT, .offset = offsetof(ppl_options, max_tokens),
     .min = 1, .max = 1ull << 40, .metavar = "N",
     .help = "use only the first N tokens of each corpus",
     .bad = "--max-tokens needs a positive integer"},
    {.name = "--max-bytes", .kind = CLI_UINT, .offset = offsetof(ppl_options, max_bytes),
     .min = 1, .max = UINT64_MAX, .metavar = "N", .help = "largest corpus read (default 4 GiB; "
     "1 GiB for -)", .bad = "--max-bytes needs a positive integer"},
    CLI_OPTION_THREADS(ppl_options, threads),
    {.name = "--token-cache", .kind = CLI_STRING, .offset = offsetof(ppl_options, token_cache),
     .metavar = "DIR", .help = "where corpora's token ids are cached (default: the user's cache)"},
    {.name = "--no-token-cache", .kind = CLI_FLAG, .offset = offsetof(ppl_options, no_token_cache),
     .help = "tokenize every corpus anew; read and write no cache"},
    CLI_OPTIONS_BACKEND(ppl_options, device, precision),
    CLI_OPTION_NO_VERIFY(ppl_options, no_verify),
    {.name = "--json", .kind = CLI_FLAG, .offset = offsetof(ppl_options, json),
     .help = "one JSON document on stdout"},
    {.name = "--stats", .kind = CLI_FLAG, .offset = offsetof(ppl_options, stats),
     .help = "attention sparsity per layer and head (see above)"},
    {.name = "--shard", .kind = CLI_CUSTOM, .offset = offsetof(ppl_options, shard),
     .parse = cli_parse_shard, .metavar = "K/N",
     .help = "run only part K (0-based) of N; with -o, for sparsa merge",
     .bad = "--shard needs K/N with 0 <= K < N <= 1048576"},
    {.name = "--out", .alias = "-o", .kind = CLI_STRING, .offset = offsetof(ppl_options, part_out),
     .metavar = "PART", .help = "the part file --shard writes (JSON)"},
    {0},
};

static const cli_command command = {
    .name = CMD,
    .synopsis = "FILE [--model FILE]... CORPUS... [--ctx N[,N...]]\n"
                "                         [--score all|second-half|rolling] [--docs files|lines]"
                " [--stride S]\n                         [--bos none|prepend|replace] "
                "[--max-tokens N] [--max-bytes N]\n                         [--by-position B] "
                "[--dump-nll FILE] [--progress|--quiet]\n                         [--threads N] "
                "[--json] [--stats] [--no-verify]\n                         [--shard K/N -o PART] "
                "[--token-cache DIR | --no-token-cache]",
    .about = "Perplexity of the model FILE on UTF-8 text files (- reads standard input). Each "
             "corpus is\ntokenized once, as one string, with the tokenizer stored in FILE; for "
             "each context length L\nits tokens are cut into windows of L tokens "
             "(docs/PROTOCOLS.md states each protocol).\n"
             "  --score all          score every token of a window but its first\n"
             "  --score second-half  llama.cpp's llama-perplexity -c L exactly: BOS + tokens, each\n"
             "                       window's first token replaced by BOS, targets L/2+1 .. L-1\n"
             "  --score rolling      lm-evaluation-harness's loglikelihood_rolling: every token of\n"
             "                       each document once, the first after BOS alone; adds word and\n"
             "                       byte perplexities and bits per byte\n"
             "  --stride S           each window scores its last S targets (the first window all)\n"
             "  --bos replace        first token := BOS;  --bos prepend: BOS + L-1 corpus tokens,\n"
             "                       all scored\n"
             "  --model FILE         more models, run on the same windows: a PPL column each\n"
             "  --stats              mean support size (keys with weight > 0 per query) and the\n"
             "                       fraction of exactly-zero attention weights; for the\n"
             "                       entmax family also the fraction of key tiles skipped\n"
             "Under mpirun each rank runs a share of the windows and rank 0 prints the report\n"
             "of one run; --shard K/N -o PART runs part K alone, for sparsa merge\n"
             "(docs/SCALING.md).\n",
    .options = options,
    .max_positional = SIZE_MAX,
};

/* Combinations that cannot mean anything, refused before any file is read. */
static int check_combinations(const ppl_options *o) {
    if (o->stride && o->score == SP_SCORE_SECOND_HALF)
        return cli_usage_error(CMD, "--stride cannot be combined with --score second-half");
    if (o->score == SP_SCORE_ROLLING && o->stride)
        return cli_usage_error(CMD, "--stride cannot be combined with --score rolling");
    if (o->score == SP_SCORE_ROLLING && o->max_tokens)
        return cli_usage_error(CMD, "--max-tokens cannot be combined with --score rolling, "
                               "which scores whole documents");
    if (o->docs && o->score != SP_SCORE_ROLLING)
        return cli_usage_error(CMD, "--docs needs --score rolling");
    if (o->progress && o->quiet)
        return cli_usage_error(CMD, "--progress and --quiet exclude each other");
    if (o->token_cache && o->no_token_cache)
        return cli_usage_error(CMD, "--token-cache and --no-token-cache exclude each other");
    return 0;
}

static int check_outputs(const ppl_options *o) {
    sp_error err = {0};
    if (o->dump_nll && sp_output_check(o->dump_nll, 0, &err)) return cli_report(CMD, &err);
    return 0;
}

int cmd_perplexity(int argc, char **argv) {
    ppl_options o = {0};
    cli_args a;
    int rc = cli_parse(&command, argc, argv, &o, &a);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (a.n_pos < 1) return cli_usage_error(CMD, "missing the model FILE");
    if (a.n_pos < 2) return cli_usage_error(CMD, "missing a CORPUS file");
    if ((rc = cli_require_file(CMD, "the model FILE", a.pos[0]))) return rc;
    for (size_t i = 0; i < o.models.n; i++)
        if ((rc = cli_require_file(CMD, "a --model FILE", o.models.v[i]))) return rc;
    if ((rc = check_combinations(&o))) return rc;
    if ((rc = cli_check_shard(CMD, &o.shard, o.part_out))) return rc;
    for (size_t i = 0; i < a.n_pos; i++) sp_inputs_add(a.pos[i]);
    for (size_t i = 0; i < o.models.n; i++) sp_inputs_add(o.models.v[i]);
    if ((rc = check_outputs(&o))) return rc;

    sp_ppl_job job = {
        .model_path = a.pos[0],
        .more_models = o.models.v,
        .n_more_models = o.models.n,
        .corpora = a.pos + 1,
        .n_corpora = a.n_pos - 1,
        .ctx = o.ctx.v,
        .n_ctx = o.ctx.n,
        .protocol = {(sp_score_mode)o.score, (sp_bos_mode)o.bos, (size_t)o.stride,
                     (sp_docs_mode)o.docs},
        .max_tokens = (size_t)o.max_tokens,
        .max_bytes = o.max_bytes,
        .threads = (int)o.threads,
        .no_verify = o.no_verify,
        .stats = o.stats,
        .progress = o.quiet ? 0 : isatty(2) ? 1 : o.progress ? 2 : 0,
        .by_position = (size_t)o.by_position,
        .dump_nll = o.dump_nll,
        .version = cli_version(),
    };
    job.token_cache = (sp_token_cache_opts){o.token_cache, o.no_token_cache, job.progress != 0,
                                            CMD};
    sp_ppl_split split = {o.shard.k, o.shard.n, o.part_out, cli_version()};
    sp_error err = {0};
    int quiet = 0; /* MPI ranks other than 0 print nothing; rank 0 reports for all */
    rc = sp_ppl_run_split(&job, &split, stdout, o.json, &quiet, &err);
    /* The other ranks end with 0: a non-zero exit would make mpirun stop rank 0 before it
     * has printed the job's one line; rank 0's status is the job's. */
    if (quiet) return 0;
    return rc ? cli_report(CMD, &err) : 0;
}
