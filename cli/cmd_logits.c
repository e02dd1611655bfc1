/* cmd_logits.c — `sparsa logits` (not implemented yet). */
#include <stdio.h>

#include "commands.h"

int cmd_logits(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "sparsa logits: not implemented yet\n");
    return 2;
}
