/* cmd_perplexity.c — `sparsa perplexity` (not implemented yet). */
#include <stdio.h>

#include "commands.h"

int cmd_perplexity(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "sparsa perplexity: not implemented yet\n");
    return 2;
}
