/* model_open.c — opening a model file for evaluation, the same way for every command: errors
 * name the file, and the tokenizer stored in the file is loaded when there is one; whether a
 * tokenizer fits a model's vocabulary. */
#include <string.h>

#include "error_prefix.h"
#include "sparsa_eval.h"

int sp_eval_open_model(const char *path, sp_model **out, sp_error *err) {
    return sp_eval_open_model_opts(path, NULL, out, err);
}

int sp_eval_open_model_opts(const char *path, const sp_model_options *opts, sp_model **out,
                            sp_error *err) {
    int rc = sp_model_open_opts(path, opts, out, err);
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

int sp_eval_tokenizer_fits(const sp_tokenizer *tok, int32_t vocab, sp_error *err) {
    int32_t pieces = sp_tokenizer_vocab_size(tok);
    if (pieces != vocab)
        return sp_fail(err, SP_ERR_INPUT, "the tokenizer has %d pieces but the model's "
                       "vocabulary is %d", (int)pieces, (int)vocab);
    const char *names[] = {"BOS", "EOS", "UNK"};
    int32_t ids[] = {sp_tokenizer_bos(tok), sp_tokenizer_eos(tok), sp_tokenizer_unk(tok)};
    for (size_t i = 0; i < 3; i++)
        if (ids[i] >= vocab)
            return sp_fail(err, SP_ERR_INPUT, "the tokenizer's %s id %d is outside the model's "
                           "vocabulary of %d", names[i], (int)ids[i], (int)vocab);
    return SP_OK;
}
