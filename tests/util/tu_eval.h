/* tu_eval.h — helpers for the tokenizer, perplexity and generation tests: read a
 * zstd-compressed fixture, write a temporary file. */
#ifndef SPARSA_EVAL_FIXTURES_H
#define SPARSA_EVAL_FIXTURES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "tu.h"

/* Decompresses a one-frame .zst fixture (the frame records its size). malloc'd, NUL-terminated. */
static inline char *tu_read_zst(const char *path, size_t *len) {
    size_t clen = 0;
    void *c = tu_read_file(path, &clen);
    if (!c) return NULL;
    unsigned long long n = ZSTD_getFrameContentSize(c, clen);
    if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN) {
        free(c);
        return NULL;
    }
    char *out = malloc((size_t)n + 1);
    size_t r = ZSTD_decompress(out, (size_t)n, c, clen);
    free(c);
    if (ZSTD_isError(r) || r != n) {
        free(out);
        return NULL;
    }
    out[n] = 0;
    if (len) *len = (size_t)n;
    return out;
}

/* Reads uint16 little-endian ids from a .zst fixture. */
static inline int32_t *tu_read_ids16(const char *path, size_t *n) {
    size_t len = 0;
    unsigned char *b = (unsigned char *)tu_read_zst(path, &len);
    if (!b) return NULL;
    int32_t *ids = malloc((len / 2 + 1) * sizeof *ids);
    for (size_t i = 0; i < len / 2; i++) ids[i] = b[2 * i] | (b[2 * i + 1] << 8);
    free(b);
    *n = len / 2;
    return ids;
}

/* Writes bytes to a new temporary file; returns its malloc'd path (caller removes and frees). */
static inline char *tu_temp_file(const void *data, size_t len, const char *suffix) {
    char tmpl[64];
    snprintf(tmpl, sizeof tmpl, "/tmp/sparsa_eval_XXXXXX%s", suffix ? suffix : "");
    int fd = mkstemps(tmpl, suffix ? (int)strlen(suffix) : 0);
    if (fd < 0) return NULL;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, (const char *)data + off, len - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    close(fd);
    return strdup(tmpl);
}

/* Parses space-separated integers (as printed by `sparsa tokenize`). */
static inline int32_t *tu_parse_ids(const char *s, size_t *n) {
    size_t cap = 1024, k = 0;
    int32_t *v = malloc(cap * sizeof *v);
    char *end;
    for (;;) {
        while (*s == ' ' || *s == '\n') s++;
        if (!*s) break;
        long x = strtol(s, &end, 10);
        if (end == s) break;
        if (k == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        v[k++] = (int32_t)x;
        s = end;
    }
    *n = k;
    return v;
}

#endif
