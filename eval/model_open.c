/* model_open.c — opening a model file for evaluation, the same way for every command: errors
 * name the file, and the tokenizer stored in the file is loaded when there is one. */
#include <string.h>

#include "sparsa_eval.h"

/* Errors from the model reader name a field and offset; the one line also names the file. */
static void name_the_file(sp_error *err, const char *path) {
    if (strstr(err->msg, path)) return;
    char tmp[sizeof err->msg];
    size_t n = strlen(path);
    if (n > sizeof tmp / 2) n = sizeof tmp / 2;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ": ", 2);
    size_t m = strnlen(err->msg, sizeof tmp - n - 3);
    memcpy(tmp + n + 2, err->msg, m);
    tmp[n + 2 + m] = 0;
    memcpy(err->msg, tmp, sizeof tmp);
}

int sp_eval_open_model(const char *path, sp_model **out, sp_error *err) {
    int rc = sp_model_open(path, out, err);
    if (rc) name_the_file(err, path);
    return rc;
}

int sp_eval_model_tokenizer(sp_model *m, sp_tokenizer **out, sp_error *err) {
    *out = NULL;
    size_t len = 0;
    const void *bytes = sp_file_tokenizer(sp_model_file(m), &len);
    if (!bytes || !len) return SP_OK;
    return sp_tokenizer_load_bytes(bytes, len, out, err);
}
