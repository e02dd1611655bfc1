/* corpus.c — reading a corpus file: a regular file (a FIFO, device or folder is refused at
 * once), read whole with a bound, non-empty, strict UTF-8. Every error message starts with
 * the path, so the command's one line names the file. */
#include <stdlib.h>

#include "sparsa_eval.h"

size_t sp_utf8_first_invalid(const char *str, size_t len) {
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    while (i < len) {
        size_t n = sp_utf8_seq_len(s + i, len - i);
        if (n == 0) return i;
        i += n;
    }
    return len;
}

int sp_corpus_read(const char *path, char **text, size_t *len, sp_error *err) {
    *text = NULL;
    *len = 0;
    char *buf = NULL;
    size_t n = 0;
    int rc = sp_read_file(path, SP_CORPUS_MAX_BYTES, &buf, &n, err);
    if (rc) return rc;
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
