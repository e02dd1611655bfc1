/* commands.h — the subcommands of the `sparsa` binary, one file each (cli/cmd_*.c).
 * Each takes the arguments after the subcommand name (argv[0] is the subcommand) and returns the
 * process exit status: 0 success, 1 failure while running, 2 bad usage or invalid input. */
#ifndef SPARSA_CLI_COMMANDS_H
#define SPARSA_CLI_COMMANDS_H

#include "sparsa_format.h"

int cmd_convert(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_eval_task(int argc, char **argv);
int cmd_kld(int argc, char **argv);
int cmd_mc(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_merge(int argc, char **argv);

/* sparsa's version ("0.1.0"), as --version prints it. */
const char *cli_version(void);

/* Before anything else in main: makes the thread pool wait passively (threads_setup.c); may
 * execute the program again, with the same arguments, and then does not return. */
void cli_threads_setup(char **argv);

/* Prints "sparsa <cmd>: <msg>" as one line on stderr and returns err->code (2 if unset). */
int cli_report(const char *cmd, const sp_error *err);
/* Prints a usage error as one line on stderr and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
