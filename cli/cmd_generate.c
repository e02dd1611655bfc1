/* cmd_generate.c — `sparsa generate` (not implemented yet). */
#include <stdio.h>

#include "commands.h"

int cmd_generate(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "sparsa generate: not implemented yet\n");
    return 2;
}
