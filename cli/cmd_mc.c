/* cmd_mc.c — `sparsa mc MODEL TASK.jsonl [--format ...]`: parse the command line, open the
 * predictions output, then run and report through eval/ (sp_mc_run, sp_mc_print). */
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "shard_opt.h"
#include "sparsa_dist.h"
#include "sparsa_workbench.h"

#define CMD "mc"

typedef struct mc_options {
    int format, bos, json;
    uint64_t limit, threads;
    const char *predictions;
    const char *device, *precision; /* --device, --precision: validated (cpu, fp32) */
    int no_verify, progress, quiet;
    cli_shard shard;          /* --shard K/N; n 0: none */
    const char *part_out;     /* -o PART, with --shard */
} mc_options;

static const char *const format_names[] = {"hellaswag", "winogrande", "arc", "generic", NULL};
static const char *const bos_names[] = {"none", "prepend", NULL};

static const cli_option options[] = {
    {.name = "--format", .kind = CLI_CHOICE, .offset = offsetof(mc_options, format),
     .choices = format_names, .metavar = "hellaswag|winogrande|arc|generic",
     .help = "the layout of TASK.jsonl (default: told from its keys)",
     .bad = "--format must be hellaswag, winogrande, arc or generic"},
    {.name = "--bos", .kind = CLI_CHOICE, .offset = offsetof(mc_options, bos),
     .choices = bos_names, .metavar = "none|prepend",
     .help = "BOS before every context (default none, as lm-evaluation-harness)",
     .bad = "--bos must be none or prepend"},
    {.name = "--limit", .kind = CLI_UINT, .offset = offsetof(mc_options, limit), .min = 1,
     .max = 1ull << 40, .metavar = "N", .help = "score only the first N questions",
     .bad = "--limit needs a positive integer"},
    {.name = "--predictions", .kind = CLI_STRING, .offset = offsetof(mc_options, predictions),
     .metavar = "FILE", .help = "one JSON line per question: gold, predictions, log-likelihoods"},
    CLI_OPTION_THREADS(mc_options, threads),
    CLI_OPTIONS_BACKEND(mc_options, device, precision),
    CLI_OPTION_NO_VERIFY(mc_options, no_verify),
    {.name = "--progress", .kind = CLI_FLAG, .offset = offsetof(mc_options, progress),
     .help = "draw the progress line on stderr even when it is not a terminal"},
    {.name = "--quiet", .kind = CLI_FLAG, .offset = offsetof(mc_options, quiet),
     .help = "no progress line (default: drawn when stderr is a terminal)"},
    {.name = "--json", .kind = CLI_FLAG, .offset = offsetof(mc_options, json),
     .help = "one JSON document on stdout"},
    CLI_OPTIONS_SHARD(mc_options, shard, part_out),
    {0},
};

static const cli_command command = {
    .name = CMD,
    .synopsis = "MODEL TASK.jsonl [--format hellaswag|winogrande|arc|generic] [--bos none|prepend]\n"
                "                 [--limit N] [--predictions FILE] [--threads N] [--json]",
    .about = "Zero-shot multiple-choice accuracy. Each choice is scored by the log-likelihood of "
             "its\ncontinuation given its context, with prompts and tokenization as in "
             "lm-evaluation-harness;\nacc picks the most likely choice, acc_norm the most likely "
             "per byte of the choice\n(docs/WORKBENCH.md gives the layouts and where the official "
             "files come from).\nUnder mpirun each rank scores a share of the questions and "
             "rank 0 prints the report of one run;\n--shard K/N -o PART scores part K alone, "
             "for sparsa merge (docs/SCALING.md).\n",
    .options = options,
    .max_positional = 2,
};

int cmd_mc(int argc, char **argv) {
    mc_options o = {.format = -1};
    cli_args a;
    int rc = cli_parse(&command, argc, argv, &o, &a);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (o.progress && o.quiet) return cli_usage_error(CMD, "give --progress or --quiet, not both");
    if (a.n_pos < 1) return cli_usage_error(CMD, "missing the MODEL file");
    if (a.n_pos < 2) return cli_usage_error(CMD, "missing the TASK.jsonl file");
    if ((rc = cli_check_shard(CMD, &o.shard, o.part_out))) return rc;
    if (o.shard.n && o.predictions)
        return cli_usage_error(CMD, "--predictions cannot be combined with --shard");
    sp_inputs_add(a.pos[0]);
    sp_inputs_add(a.pos[1]);
    sp_error err = {0};
    if (o.part_out && sp_output_check(o.part_out, 0, &err)) return cli_report(CMD, &err);
    sp_out pred = {0};
    sp_dist world;
    if (sp_dist_init(&world, &err)) return cli_report(CMD, &err);
    int writer = world.rank == 0; /* under mpirun only rank 0 writes */
    if (writer && o.predictions && sp_out_open(&pred, o.predictions, 1, &err))
        return cli_report(CMD, &err);
    sp_mc_job job = {
        .model_path = a.pos[0],
        .task_path = a.pos[1],
        .format = o.format < 0 ? SP_MC_AUTO : (sp_mc_format)o.format,
        .bos = o.bos,
        .limit = (size_t)o.limit,
        .threads = (int)o.threads,
        .progress = !o.quiet && (o.progress || isatty(2)),
        .no_verify = o.no_verify,
        .version = cli_version(),
        .predictions = writer && o.predictions ? pred.fp : NULL,
        .shard = o.shard.k,
        .shards = o.shard.n,
        .part_path = o.part_out,
    };
    sp_mc_result res;
    rc = sp_mc_run(&job, &res, &err);
    sp_dist_finish(&world);
    /* The other ranks end with 0: a non-zero exit would make mpirun stop rank 0 before it has
     * printed the job's one line; rank 0's status is the job's. */
    if (!writer) return 0;
    if (!rc && o.predictions) rc = sp_out_commit(&pred, &err);
    if (o.predictions) sp_out_abort(&pred);
    if (rc) return cli_report(CMD, &err);
    if (!o.shard.n) sp_mc_print(stdout, &job, &res, o.json);
    return 0;
}
