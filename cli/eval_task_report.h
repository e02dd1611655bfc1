/* eval_task_report.h — eval-task's report (table or JSON, cmd_eval_task.c) printed for the
 * parts that `sparsa merge` joined (cmd_merge.c), so both print the same bytes. */
#ifndef SPARSA_CLI_EVAL_TASK_REPORT_H
#define SPARSA_CLI_EVAL_TASK_REPORT_H

#include "sparsa_dist.h"

void cli_eval_task_print_merged(const sp_task_merged *m, int json);

#endif
