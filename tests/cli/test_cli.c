/* test_cli.c — the command-line contract: dispatch, help, exit codes of bad usage. */
#include <criterion/criterion.h>

#include "tu.h"

Test(cli, help_lists_every_command) {
    char *out = NULL;
    cr_assert_eq(tu_run_sparsa("--help", &out, NULL), 0);
    const char *cmds[] = {"convert", "inspect", "logits", "tokenize", "perplexity", "generate", "eval-task"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        cr_assert(strstr(out, cmds[i]), "help lacks %s", cmds[i]);
    free(out);
}

Test(cli, unknown_command_is_usage_error_with_one_line) {
    char *err = NULL;
    cr_assert_eq(tu_run_sparsa("frobnicate", NULL, &err), 2);
    cr_assert_eq(tu_line_count(err), 1, "stderr: %s", err);
    free(err);
}

Test(cli, no_arguments_is_usage_error) {
    cr_assert_eq(tu_run_sparsa("", NULL, NULL), 2);
}
