/* tokenizer.c — sparsa_tokenizer.h over the SentencePiece shim: argument checks, id range
 * checks and turning the shim's messages into sp_error lines. */
#include "sparsa_tokenizer.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "spm_shim.h"

struct sp_tokenizer {
    spm_shim *spm;
    int32_t vocab, bos, eos, unk;
};

/* One line: SentencePiece messages may hold newlines. */
static void one_line(char *s) {
    for (; s && *s; s++)
        if (*s == '\n' || *s == '\r') *s = ' ';
}

static int wrap(spm_shim *spm, char *msg, const char *what, sp_tokenizer **out, sp_error *err) {
    if (!spm) {
        one_line(msg);
        int rc = sp_fail(err, SP_ERR_INPUT, "%s: cannot load the SentencePiece model (%s)", what,
                         msg ? msg : "unknown error");
        free(msg);
        return rc;
    }
    sp_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        spm_shim_free(spm);
        return sp_fail(err, SP_ERR_RUNTIME, "%s: out of memory", what);
    }
    t->spm = spm;
    t->vocab = spm_shim_vocab_size(spm);
    t->bos = spm_shim_bos(spm);
    t->eos = spm_shim_eos(spm);
    t->unk = spm_shim_unk(spm);
    if (t->vocab <= 0) {
        sp_tokenizer_free(t);
        return sp_fail(err, SP_ERR_INPUT, "%s: SentencePiece model has an empty vocabulary", what);
    }
    /* Special ids are -1 when absent; anything else outside the vocabulary is absent too. */
    if (t->bos >= t->vocab) t->bos = -1;
    if (t->eos >= t->vocab) t->eos = -1;
    if (t->unk >= t->vocab) t->unk = -1;
    *out = t;
    return SP_OK;
}

int sp_tokenizer_load_file(const char *path, sp_tokenizer **out, sp_error *err) {
    *out = NULL;
    if (!path) return sp_fail(err, SP_ERR_INPUT, "tokenizer: no path");
    char *msg = NULL;
    spm_shim *spm = spm_shim_load_file(path, &msg);
    return wrap(spm, msg, path, out, err);
}

int sp_tokenizer_load_bytes(const void *bytes, size_t len, sp_tokenizer **out, sp_error *err) {
    *out = NULL;
    if (!bytes || len == 0) return sp_fail(err, SP_ERR_INPUT, "tokenizer: no model bytes");
    char *msg = NULL;
    spm_shim *spm = spm_shim_load_bytes(bytes, len, &msg);
    return wrap(spm, msg, "tokenizer section", out, err);
}

void sp_tokenizer_free(sp_tokenizer *t) {
    if (!t) return;
    spm_shim_free(t->spm);
    free(t);
}

int32_t sp_tokenizer_vocab_size(const sp_tokenizer *t) { return t->vocab; }
int32_t sp_tokenizer_bos(const sp_tokenizer *t) { return t->bos; }
int32_t sp_tokenizer_eos(const sp_tokenizer *t) { return t->eos; }
int32_t sp_tokenizer_unk(const sp_tokenizer *t) { return t->unk; }

int sp_tokenizer_encode(const sp_tokenizer *t, const char *text, size_t len, int32_t **ids,
                        size_t *n, sp_error *err) {
    *ids = NULL;
    *n = 0;
    if (len == 0) return SP_OK;
    char *msg = NULL;
    int *raw = NULL;
    long k = spm_shim_encode(t->spm, text, len, &raw, &msg);
    if (k < 0) {
        one_line(msg);
        int rc = sp_fail(err, SP_ERR_RUNTIME, "tokenizer: encoding failed (%s)",
                         msg ? msg : "unknown error");
        free(msg);
        return rc;
    }
    /* int and int32_t are the same type on every platform sparsa builds on. */
    _Static_assert(sizeof(int) == sizeof(int32_t), "int must be 32-bit");
    *ids = (int32_t *)raw;
    *n = (size_t)k;
    return SP_OK;
}

int sp_tokenizer_decode(const sp_tokenizer *t, const int32_t *ids, size_t n, char **text,
                        size_t *len, sp_error *err) {
    *text = NULL;
    *len = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= t->vocab)
            return sp_fail(err, SP_ERR_INPUT,
                           "token id %ld at position %zu is outside the vocabulary [0, %ld)",
                           (long)ids[i], i, (long)t->vocab);
    char *msg = NULL;
    char *s = spm_shim_decode(t->spm, (const int *)ids, n, len, &msg);
    if (!s) {
        one_line(msg);
        int rc = sp_fail(err, SP_ERR_RUNTIME, "tokenizer: decoding failed (%s)",
                         msg ? msg : "unknown error");
        free(msg);
        return rc;
    }
    *text = s;
    return SP_OK;
}
