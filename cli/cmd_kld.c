/* cmd_kld.c — `sparsa kld BASE OTHER CORPUS...`: parse the command line, then run and report
 * through eval/ (sparsa_workbench.h: sp_kld_run, sp_kld_print). */
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "sparsa_dist.h"
#include "sparsa_workbench.h"

#define CMD "kld"

typedef struct kld_options {
    uint64_t ctx, max_tokens, threads;
    int score, bos;
    int json;
    const char *device, *precision; /* --device, --precision: validated (cpu, fp32) */
    int no_verify, progress, quiet;
    const char *token_cache;     /* --token-cache DIR */
    int no_token_cache;
} kld_options;

static const char *const score_names[] = {"all", "second-half", NULL};
static const char *const bos_names[] = {"none", "prepend", "replace", NULL};

static const cli_option options[] = {
    {.name = "--ctx", .kind = CLI_UINT, .offset = offsetof(kld_options, ctx), .min = 2,
     .max = 1ull << 40, .metavar = "L",
     .help = "context length (default: 512, or the models' if smaller)",
     .bad = "--ctx needs an integer >= 2"},
    {.name = "--score", .kind = CLI_CHOICE, .offset = offsetof(kld_options, score),
     .choices = score_names, .metavar = "all|second-half",
     .help = "which positions of a window count, as for perplexity (default all)",
     .bad = "--score must be all or second-half"},
    {.name = "--bos", .kind = CLI_CHOICE, .offset = offsetof(kld_options, bos),
     .choices = bos_names, .metavar = "none|prepend|replace",
     .help = "BOS at the start of each window, as for perplexity (default none)",
     .bad = "--bos must be none, prepend or replace"},
    {.name = "--max-tokens", .kind = CLI_UINT, .offset = offsetof(kld_options, max_tokens),
     .min = 1, .max = 1ull << 40, .metavar = "N",
     .help = "use only the first N tokens of each corpus",
     .bad = "--max-tokens needs a positive integer"},
    CLI_OPTION_THREADS(kld_options, threads),
    {.name = "--token-cache", .kind = CLI_STRING, .offset = offsetof(kld_options, token_cache),
     .metavar = "DIR", .help = "where corpora's token ids are cached (default: the user's cache)"},
    {.name = "--no-token-cache", .kind = CLI_FLAG, .offset = offsetof(kld_options, no_token_cache),
     .help = "tokenize every corpus anew; read and write no cache"},
    CLI_OPTIONS_BACKEND(kld_options, device, precision),
    CLI_OPTION_NO_VERIFY(kld_options, no_verify),
    {.name = "--progress", .kind = CLI_FLAG, .offset = offsetof(kld_options, progress),
     .help = "draw the progress line on stderr even when it is not a terminal"},
    {.name = "--quiet", .kind = CLI_FLAG, .offset = offsetof(kld_options, quiet),
     .help = "no progress line (default: drawn when stderr is a terminal)"},
    {.name = "--json", .kind = CLI_FLAG, .offset = offsetof(kld_options, json),
     .help = "one JSON document on stdout"},
    {0},
};

static const cli_command command = {
    .name = CMD,
    .synopsis = "BASE OTHER CORPUS... [--ctx L] [--score all|second-half]\n"
                "                  [--bos none|prepend|replace] [--max-tokens N] [--threads N] "
                "[--json]",
    .about = "How far the model OTHER's next-token distributions are from BASE's on the same "
             "windows\n(planned as perplexity plans them): PPL of each and their ratio, the "
             "mean KL divergence\nKL(base || other) in nats with its standard error, its "
             "percentiles and maximum, the rate\nof positions whose most likely token agrees "
             "and the RMS difference of the probability\nof the correct token (llama.cpp's "
             "definitions; docs/WORKBENCH.md). The two tokenizers\nmust agree. Under mpirun "
             "each rank runs a share of the windows and rank 0 prints the\nreport of one run "
             "(docs/SCALING.md).\n",
    .options = options,
    .max_positional = SIZE_MAX,
};

int cmd_kld(int argc, char **argv) {
    kld_options o = {0};
    cli_args a;
    int rc = cli_parse(&command, argc, argv, &o, &a);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (o.progress && o.quiet) return cli_usage_error(CMD, "give --progress or --quiet, not both");
    if (o.token_cache && o.no_token_cache)
        return cli_usage_error(CMD, "--token-cache and --no-token-cache exclude each other");
    if (a.n_pos < 2) return cli_usage_error(CMD, "missing the model files BASE and OTHER");
    if (a.n_pos < 3) return cli_usage_error(CMD, "missing a CORPUS file");
    for (size_t i = 0; i < a.n_pos; i++) sp_inputs_add(a.pos[i]);
    sp_kld_job job = {
        .base_path = a.pos[0],
        .other_path = a.pos[1],
        .corpora = a.pos + 2,
        .n_corpora = a.n_pos - 2,
        .ctx = (size_t)o.ctx,
        .protocol = {(sp_score_mode)o.score, (sp_bos_mode)o.bos, 0},
        .max_tokens = (size_t)o.max_tokens,
        .threads = (int)o.threads,
        .progress = !o.quiet && (o.progress || isatty(2)),
        .no_verify = o.no_verify,
        .version = cli_version(),
    };
    job.token_cache = (sp_token_cache_opts){o.token_cache, o.no_token_cache, job.progress, CMD};
    sp_error err = {0};
    sp_kld_result res;
    rc = sp_kld_run(&job, &res, &err);
    sp_dist world = *sp_dist_world();
    sp_dist_finish(&world);
    /* Under mpirun only rank 0 reports; the others end with 0 so that mpirun never stops rank
     * 0 before it has printed the job's one line (rank 0's status is the job's). */
    if (world.rank != 0) return 0;
    if (rc) return cli_report(CMD, &err);
    sp_kld_print(stdout, &job, &res, o.json);
    return 0;
}
