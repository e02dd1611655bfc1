/* model_open.c — opening a model file for evaluation, the same way for every command: errors
 * name the file, and the tokenizer stored in the file is loaded when there is one. */
#include <string.h>

#include "error_prefix.h"
#include "sparsa_eval.h"

int sp_eval_open_model(const char *path, sp_model **out, sp_error *err) {
    int rc = sp_model_open(path, out, err);
    /* Errors from the model reader name a field and offset; the one line also names the file. */
    if (rc && !strstr(err->msg, path)) sp_eval_error_prefix(err, "%s", path);
    return rc;
}

int sp_eval_model_tokenizer(sp_model *m, sp_tokenizer **out, sp_error *err) {
    *out = NULL;
    size_t len = 0;
    const void *bytes = sp_file_tokenizer(sp_model_file(m), &len);
    if (!bytes || !len) return SP_OK;
    return sp_tokenizer_load_bytes(bytes, len, out, err);
}
