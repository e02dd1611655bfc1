/* args.h — the one argument parser of every `sparsa` command.
 *
 * A command describes its options in a table (cli_option rows ending with {0}): long name,
 * short alias, value kind, where the value goes (an offset into the command's own options
 * struct), whether it may repeat, help text and metavar. cli_parse then reads argv the same
 * way for every command:
 *  - `--opt value` and `--opt=value`; a flag given a value (`--json=1`) is a usage error;
 *  - arguments that do not start with '-' (and "-" itself) are positional; `--` ends options;
 *  - an option that is not repeatable given twice is a usage error naming it
 *    ("sparsa perplexity: --ctx given twice"); unknown options and missing values too;
 *  - `-h`/`--help` prints the help generated from the table to stdout.
 * Every usage error is one line on stderr and exit status 2. */
#ifndef SPARSA_CLI_ARGS_H
#define SPARSA_CLI_ARGS_H

#include <stddef.h> /* offsetof, for the tables */
#include <stdint.h>
#include <stdio.h>

typedef enum {
    CLI_FLAG = 0, /* no value; sets an int to 1 */
    CLI_STRING,   /* const char *, the value as given */
    CLI_UINT,     /* uint64_t, decimal digits only, in [min, max] */
    CLI_CHOICE,   /* int: index of the value in `choices` */
    CLI_CUSTOM    /* parse(value, destination, why) */
} cli_kind;

/* A custom value parser: 0 when the value is stored, SP_ERR_INPUT when it is bad (why, if
 * filled, replaces the option's `bad` message), SP_ERR_RUNTIME when memory ran out. */
typedef int (*cli_value_parser)(const char *value, void *dest, char *why, size_t why_len);

typedef struct cli_option {
    const char *name;             /* "--ctx", or a one-letter "-n" */
    const char *alias;            /* "-o" for "--out"; NULL */
    cli_kind kind;
    size_t offset;                /* of the destination in the command's options struct */
    const char *metavar;          /* shown in the help: "N[,N...]"; NULL for a flag */
    const char *help;             /* one line */
    const char *bad;              /* the usage error when the value does not parse */
    uint64_t min, max;            /* CLI_UINT bounds */
    const char *const *choices;   /* CLI_CHOICE: NULL-terminated */
    cli_value_parser parse;       /* CLI_CUSTOM */
    int repeatable;               /* may be given more than once (lists such as --src) */
} cli_option;

typedef struct cli_command {
    const char *name;             /* "perplexity" */
    const char *synopsis;         /* after "usage: sparsa perplexity " */
    const char *about;            /* paragraph(s) between the usage line and the options */
    const cli_option *options;    /* ends with a row whose name is NULL */
    size_t max_positional;        /* more is "unexpected argument"; SIZE_MAX: any number */
    void (*epilog)(FILE *out);    /* more help after the options (NULL: none) */
} cli_command;

/* The --threads row every command that runs a model shares (results never depend on it). */
#define CLI_OPTION_THREADS(type, field)                                                        \
    {.name = "--threads", .kind = CLI_UINT, .offset = offsetof(type, field), .min = 1,         \
     .max = 4096, .metavar = "N", .help = "threads (default: the free CPUs sparsa may use; " \
     "any N, same results)", .bad = "--threads needs an integer in 1..4096"}

/* The --no-verify row every command that opens a model shares: weights are used without their
 * CRC-32 check at first use (zstd tensors are still checked as they are decompressed). */
#define CLI_OPTION_NO_VERIFY(type, field)                                                      \
    {.name = "--no-verify", .kind = CLI_FLAG, .offset = offsetof(type, field),                 \
     .help = "skip the weights' CRC-32 checks (default: each checked at first use)"}

/* The --device and --precision rows every evaluating command shares (DESIGN.md's contract).
 * This build has the cpu backend only, which computes in fp32: other values are usage errors
 * that say so (cli/backend_opts.c). */
int cli_parse_device(const char *value, void *dest, char *why, size_t why_len);
int cli_parse_precision(const char *value, void *dest, char *why, size_t why_len);
#define CLI_OPTIONS_BACKEND(type, device_field, precision_field)                              \
    {.name = "--device", .kind = CLI_CUSTOM, .offset = offsetof(type, device_field),          \
     .metavar = "DEV", .help = "cpu (default), cuda (the GPU of the MPI local rank) or cuda:N",  \
     .parse = cli_parse_device},                                                             \
    {.name = "--precision", .kind = CLI_CUSTOM, .offset = offsetof(type, precision_field),    \
     .metavar = "P", .help = "fp32 (default), tf32 (GPU) or bf16 (GPU; CPU with AVX512_BF16)", \
     .parse = cli_parse_precision}

/* Positional arguments in order (they point into argv). */
typedef struct cli_args {
    const char **pos;
    size_t n_pos;
} cli_args;

/* cli_parse's result when --help was printed: the command returns exit status 0. */
#define CLI_HELP_SHOWN (-1)

/* Parses argv[1..argc) (argv[0] is the command's name) into opts per the table and the
 * positional arguments into *args (stored in argv's own slots, so nothing to free). Returns
 * 0, CLI_HELP_SHOWN, or an exit status after printing one line (2: usage, 1: no memory). */
int cli_parse(const cli_command *cmd, int argc, char **argv, void *opts, cli_args *args);

/* The command's help, generated from its table. */
void cli_print_help(const cli_command *cmd, FILE *out);

/* A path that must name a file, not standard input: for "-", prints the usage error ("sparsa
 * logits: the model FILE must name a file, not standard input") and returns 2; else 0. */
int cli_require_file(const char *cmd, const char *what, const char *path);

/* Splits a comma-separated list (an empty item is bad). Each item is passed to add(item, len,
 * dest); a non-zero return stops the walk and is returned. */
int cli_split_commas(const char *value, int (*add)(const char *, size_t, void *), void *dest);

#endif
