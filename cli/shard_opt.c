/* shard_opt.c — parsing --shard K/N (shard_opt.h). */
#include <stdio.h>

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
