/* cmd_convert.c — `sparsa convert` (not implemented yet). */
#include <stdio.h>

#include "commands.h"

int cmd_convert(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "sparsa convert: not implemented yet\n");
    return 2;
}
