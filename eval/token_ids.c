/* token_ids.c — the one reader of token-id lists: command-line --tokens and --decode input,
 * and the lines of synthetic-task files (sparsa_eval.h, sp_ids_parse). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_eval.h"

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int bad_item(const char *item, size_t len, char *bad, size_t bad_len, int32_t *v) {
    free(v);
    snprintf(bad, bad_len, "%.*s", (int)(len > 40 ? 40 : len), item);
    return SP_ERR_INPUT;
}

int sp_ids_parse(const char *s, int32_t **ids, size_t *n, char *bad, size_t bad_len) {
    size_t cap = 64, k = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return SP_ERR_RUNTIME;
    const char *p = s;
    int after_comma = 0;
    for (;;) {
        while (is_space(*p)) p++;
        if (!*p) {
            if (after_comma) return bad_item(",", 1, bad, bad_len, v);
            break;
        }
        const char *item = p;
        while (*p && *p != ',' && !is_space(*p)) p++;
        size_t len = (size_t)(p - item);
        char *end;
        errno = 0;
        long long x = len ? strtoll(item, &end, 10) : 0;
        if (!len || end != p || errno || x < INT32_MIN || x > INT32_MAX)
            return bad_item(len ? item : ",", len ? len : 1, bad, bad_len, v);
        if (k == cap) {
            int32_t *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                return SP_ERR_RUNTIME;
            }
            v = nv;
        }
        v[k++] = (int32_t)x;
        while (is_space(*p)) p++;
        after_comma = *p == ',';
        if (after_comma) p++;
    }
    *ids = v;
    *n = k;
    return SP_OK;
}
