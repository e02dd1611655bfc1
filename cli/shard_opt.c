/* shard_opt.c — parsing --shard K/N (shard_opt.h). */
#include <stdio.h>

#include "commands.h"
#include "shard_opt.h"
#include "sparsa_common.h"

int cli_parse_shard(const char *value, void *dest, char *why, size_t why_len) {
    cli_shard *sh = dest;
    unsigned long long k, n;
    int used = 0;
    (void)why;
    (void)why_len;
    if (value[0] < '0' || value[0] > '9' || sscanf(value, "%llu/%llu%n", &k, &n, &used) != 2 ||
        value[used] || n == 0 || k >= n || n > (1ull << 20))
        return SP_ERR_INPUT;
    sh->k = k;
    sh->n = n;
    return 0;
}

int cli_check_shard(const char *cmd, const cli_shard *sh, const char *part_out) {
    if (sh->n && !part_out) return cli_usage_error(cmd, "--shard needs -o PART");
    if (part_out && !sh->n) return cli_usage_error(cmd, "-o is the part file of --shard");
    return 0;
}
