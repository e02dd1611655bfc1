/* corpus.c — reading a corpus: a regular file (a FIFO, device or folder is refused at once) or
 * standard input ("-"), read whole with a bound, non-empty, strict UTF-8. Every error message
 * starts with the corpus's name, so the command's one line names it. */
#include <stdlib.h>
#include <string.h>

#include "sparsa_eval.h"

size_t sp_utf8_first_invalid(const char *str, size_t len) {
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    while (i < len) {
        /* ASCII runs are the common case: eight bytes at a time (a corpus of megabytes is
         * checked on every run, token cache or not) */
        uint64_t w;
        while (i + 8 <= len && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080ull))) i += 8;
        if (i >= len) break;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = sp_utf8_seq_len(s + i, len - i);
        if (n == 0) return i;
        i += n;
    }
    return len;
}

const char *sp_corpus_name(const char *path) {
    return strcmp(path, "-") ? path : "standard input";
}

int sp_corpus_read(const char *path, char **text, size_t *len, sp_error *err) {
    return sp_corpus_read_max(path, 0, text, len, err);
}

int sp_corpus_read_max(const char *path, uint64_t max_bytes, char **text, size_t *len,
                       sp_error *err) {
    *text = NULL;
    *len = 0;
    char *buf = NULL;
    size_t n = 0;
    if (!max_bytes) max_bytes = strcmp(path, "-") ? SP_CORPUS_MAX_BYTES : SP_CORPUS_STDIN_MAX_BYTES;
    int rc = sp_read_file(path, max_bytes, &buf, &n, err);
    if (rc) return rc;
    if (n == 0) {
        free(buf);
        return sp_fail(err, SP_ERR_INPUT, "%s: empty file", sp_corpus_name(path));
    }
    size_t at = sp_utf8_first_invalid(buf, n);
    if (at != n) {
        free(buf);
        return sp_fail(err, SP_ERR_INPUT, "%s: invalid UTF-8 at byte %zu", sp_corpus_name(path),
                       at);
    }
    *text = buf;
    *len = n;
    return SP_OK;
}
