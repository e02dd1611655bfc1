/* cmd_merge.c — `sparsa merge PART...`: joins the part files of `perplexity`, `eval-task` or
 * `mc --shard K/N -o PART` into the report one run prints (eval/: sp_ppl_merge, sp_task_merge
 * and sp_mc_merge check and reduce; the first part says which command wrote them). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "eval_task_report.h"
#include "sparsa_dist.h"

#define CMD "merge"

typedef struct merge_options {
    int json;
} merge_options;

static const cli_option options[] = {
    {.name = "--json", .kind = CLI_FLAG, .offset = offsetof(merge_options, json),
     .help = "one JSON document on stdout, as the command's --json"},
    {0},
};

static const cli_command command = {
    .name = CMD,
    .synopsis = "PART... [--json]",
    .about = "Joins the part files written by perplexity, eval-task or mc --shard K/N -o PART "
             "(K = 0 .. N-1)\nand prints the table, or with --json the document, that one run "
             "of that command prints.\nThe parts must share the sparsa version, the model, the "
             "corpora or src/trg files and\nevery setting, and cover each K exactly once; "
             "otherwise one line names the problem (exit 2).\n",
    .options = options,
    .max_positional = SIZE_MAX,
};

int cmd_merge(int argc, char **argv) {
    merge_options o = {0};
    cli_args a;
    int rc = cli_parse(&command, argc, argv, &o, &a);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (a.n_pos < 1) return cli_usage_error(CMD, "missing the PART files");
    sp_error err = {0};
    const char *command = sp_part_file_command(a.pos[0]);
    if (!strcmp(command, "eval-task")) {
        sp_task_merged m;
        rc = sp_task_merge(a.pos, a.n_pos, &m, &err);
        if (!rc) cli_eval_task_print_merged(&m, o.json);
        sp_task_merged_free(&m);
    } else if (!strcmp(command, "mc")) {
        sp_mc_merged m;
        rc = sp_mc_merge(a.pos, a.n_pos, &m, &err);
        if (!rc) sp_mc_print(stdout, &m.job, &m.res, o.json);
        sp_mc_merged_free(&m);
    } else
        rc = sp_ppl_merge(a.pos, a.n_pos, stdout, o.json, &err);
    return rc ? cli_report(CMD, &err) : 0;
}
