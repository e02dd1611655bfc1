/* shard_opt.h — the --shard K/N and -o PART rows of the commands that can run one part of a
 * split evaluation (eval-task; docs/SCALING.md), and the parser of K/N. */
#ifndef SPARSA_CLI_SHARD_OPT_H
#define SPARSA_CLI_SHARD_OPT_H

#include <stdint.h>

#include "args.h"

typedef struct cli_shard {
    uint64_t k, n;   /* part K (0-based) of N; n 0: not a shard */
} cli_shard;

/* K/N with 0 <= K < N <= 2^20 into a cli_shard. */
int cli_parse_shard(const char *value, void *dest, char *why, size_t why_len);

/* --shard and -o come together: the usage error (exit 2) naming the one missing, else 0. */
int cli_check_shard(const char *cmd, const cli_shard *sh, const char *part_out);

#define CLI_OPTIONS_SHARD(type, shard_field, out_field)                                        \
    {.name = "--shard", .kind = CLI_CUSTOM, .offset = offsetof(type, shard_field),             \
     .parse = cli_parse_shard, .metavar = "K/N",                                                \
     .help = "run part K (0-based) of N alone, into -o PART (for sparsa merge)",                \
     .bad = "--shard needs K/N with 0 <= K < N <= 1048576"},                                    \
    {.name = "--out", .alias = "-o", .kind = CLI_STRING, .offset = offsetof(type, out_field),   \
     .metavar = "PART", .help = "the part file --shard writes (JSON)"}

#endif
