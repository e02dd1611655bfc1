/* cmd_inspect.c — `sparsa inspect` (not implemented yet). */
#include <stdio.h>

#include "commands.h"

int cmd_inspect(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "sparsa inspect: not implemented yet\n");
    return 2;
}
