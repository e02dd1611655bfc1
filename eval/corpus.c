/* corpus.c — reading a corpus file: whole file as bytes, non-empty, strict UTF-8. Every error
 * message starts with the path, so the CLI's one line names the file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sparsa_eval.h"

size_t sp_utf8_first_invalid(const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) n = 1;
        else if (c == 0xE0) n = 2, lo = 0xA0;             /* no overlongs */
        else if (c >= 0xE1 && c <= 0xEC) n = 2;
        else if (c == 0xED) n = 2, hi = 0x9F;             /* no surrogates */
        else if (c >= 0xEE && c <= 0xEF) n = 2;
        else if (c == 0xF0) n = 3, lo = 0x90;             /* no overlongs */
        else if (c >= 0xF1 && c <= 0xF3) n = 3;
        else if (c == 0xF4) n = 3, hi = 0x8F;             /* <= U+10FFFF */
        else return i;                                    /* 80..C1, F5..FF */
        if (len - i <= n) return i;                       /* truncated sequence */
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        i += n + 1;
    }
    return len;
}

int sp_corpus_read(const char *path, char **text, size_t *len, sp_error *err) {
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return sp_fail(err, SP_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode)) {
        fclose(f);
        return sp_fail(err, SP_ERR_INPUT, "%s: not a regular file", path);
    }
    /* Size from reading, not from stat: pipes and /proc files report 0. */
    size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return sp_fail(err, SP_ERR_RUNTIME, "%s: out of memory", path);
    }
    for (;;) {
        if (cap - n < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return sp_fail(err, SP_ERR_RUNTIME, "%s: out of memory", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return sp_fail(err, SP_ERR_INPUT, "%s: read error", path);
    }
    buf[n] = 0;
    if (n == 0) {
        free(buf);
        return sp_fail(err, SP_ERR_INPUT, "%s: empty file", path);
    }
    size_t at = sp_utf8_first_invalid(buf, n);
    if (at != n) {
        free(buf);
        return sp_fail(err, SP_ERR_INPUT, "%s: invalid UTF-8 at byte %zu", path, at);
    }
    *text = buf;
    *len = n;
    return SP_OK;
}
