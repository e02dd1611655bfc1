/* cmd_tokenize.c — `sparsa tokenize` (not implemented yet). */
#include <stdio.h>

#include "commands.h"

int cmd_tokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "sparsa tokenize: not implemented yet\n");
    return 2;
}
