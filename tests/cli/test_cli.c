/* test_cli.c — the command-line contract: dispatch, help, exit codes of bad usage. */
#include <criterion/criterion.h>

#include "tu_cli.h"

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
    char *out = NULL, *err = NULL;
    cr_assert_eq(tu_run_sparsa("", &out, &err), 2);
    cr_assert_eq(tu_line_count(err), 1, "stderr: %s", err);
    cr_assert(strstr(err, "--help"), "%s", err);
    cr_assert_str_eq(out, "");
    free(out);
    free(err);
}

/* The one argument parser, seen through the commands. */
Test(cli, parser_usage_errors_are_one_line) {
    tu_expect_bad("inspect tests/fixtures/perplexity/ppl-llama.sparsa --frob", "unknown option '--frob'");
    tu_expect_bad("inspect tests/fixtures/perplexity/ppl-llama.sparsa --json=1", "--json takes no value");
    tu_expect_bad("logits tests/fixtures/perplexity/ppl-llama.sparsa --tokens", "--tokens needs a value");
    tu_expect_bad("logits tests/fixtures/perplexity/ppl-llama.sparsa --tokens 1 --threads=0", "--threads");
    tu_expect_bad("inspect a.sparsa b.sparsa", "unexpected argument 'b.sparsa'");
    tu_expect_bad("perplexity --ctx=abc m.sparsa c.txt", "--ctx needs positive integers");
}

Test(cli, double_dash_ends_options) {
    /* after --, "-3" is a positional argument (an id list here), not an option */
    tu_expect_bad("tokenize tests/fixtures/tokenizer/kjv_bpe.model --decode -- -3", "-3");
    tu_expect_bad("tokenize tests/fixtures/tokenizer/kjv_bpe.model -- --decode x", "unexpected");
}

Test(cli, help_is_generated_from_the_option_table) {
    const char *want[][6] = {
        {"logits", "--tokens IDS", "--out PATH", "--threads N", "-h, --help", NULL},
        {"convert", "-o, --out OUT", "--dtype D", "--force", "hf-llama", NULL},
        {"eval-task", "--src F[,F...]", "--predictions PATH", "--sep ID|none", NULL, NULL},
        {"tokenize", "--decode", "--max-bytes N", NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char args[64], *out = NULL, *err = NULL;
        snprintf(args, sizeof args, "%s --help", want[i][0]);
        cr_assert_eq(tu_run_sparsa(args, &out, &err), 0, "%s: %s", args, err);
        cr_assert(!strncmp(out, "usage: sparsa ", 14), "%s", out);
        cr_assert_str_eq(err, "");
        for (int k = 1; k < 6 && want[i][k]; k++)
            cr_assert(strstr(out, want[i][k]), "%s lacks '%s':\n%s", args, want[i][k], out);
        free(out);
        free(err);
    }
}

/* Every command's help fits 100 columns, and every command that opens a model for a run offers
 * --no-verify (tokenize too, for uniformity). */
Test(cli, every_help_fits_and_model_commands_offer_no_verify) {
    const char *cmds[] = {"convert", "inspect", "logits", "tokenize", "perplexity", "generate",
                          "eval-task"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[64], *out = NULL;
        snprintf(args, sizeof args, "%s --help", cmds[i]);
        cr_assert_eq(tu_run_sparsa(args, &out, NULL), 0, "%s", args);
        size_t col = 0, widest = 0;
        for (const char *c = out; *c; c++) {
            col = *c == '\n' ? 0 : col + ((*c & 0xc0) != 0x80); /* columns, not bytes */
            if (col > widest) widest = col;
        }
        cr_assert_leq(widest, 100, "%s: a line of %zu columns", args, widest);
        int opens_model = i >= 2;
        cr_assert_eq(strstr(out, "--no-verify") != NULL, opens_model, "%s:\n%s", args, out);
        free(out);
    }
}
