/* cmd_eval_task.c — `sparsa eval-task` (not implemented yet). */
#include <stdio.h>

#include "commands.h"

int cmd_eval_task(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "sparsa eval-task: not implemented yet\n");
    return 2;
}
