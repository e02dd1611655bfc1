/* generate.c — the prompt-then-decode loop over an interpreter session. A non-finite logit
 * stops the loop (SP_ERR_RUNTIME naming the position): no id is ever sampled from it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_eval.h"

/* ---- the generation loop --------------------------------------------------------------------- */

typedef struct last_row {
    float *row;
    int32_t vocab;
    size_t want; /* row index whose logits are kept */
    int got;
} last_row;

static int keep_last(void *user, size_t first_row, size_t n_rows, const float *logits) {
    last_row *l = user;
    if (l->want >= first_row && l->want < first_row + n_rows) {
        memcpy(l->row, logits + (l->want - first_row) * (size_t)l->vocab,
               (size_t)l->vocab * sizeof(float));
        l->got = 1;
    }
    return 0;
}

/* The first id whose logit is NaN or infinite, or -1. */
static int32_t first_nonfinite(const float *row, int32_t vocab) {
    for (int32_t i = 0; i < vocab; i++)
        if (!isfinite(row[i])) return i;
    return -1;
}

int sp_generate(sp_session *s, int32_t vocab, const int32_t *prompt, size_t n_prompt,
                size_t max_new, int32_t eos, sp_sampler *smp, sp_token_cb cb, void *user,
                size_t *n_out, sp_error *err) {
    *n_out = 0;
    if (n_prompt == 0) return sp_fail(err, SP_ERR_INPUT, "generate: empty prompt");
    if (max_new == 0) return SP_OK;
    for (size_t i = 0; i < n_prompt; i++) sp_sampler_accept(smp, prompt[i]);
    last_row l = {malloc((size_t)vocab * sizeof(float)), vocab, n_prompt - 1, 0};
    if (!l.row) return sp_fail(err, SP_ERR_RUNTIME, "generate: out of memory");
    int rc = sp_session_forward(s, prompt, n_prompt, n_prompt - 1, keep_last, &l, err);
    while (rc == SP_OK) {
        if (!l.got) {
            rc = sp_fail(err, SP_ERR_RUNTIME, "generate: no logits for the last position");
            break;
        }
        size_t at = n_prompt - 1 + *n_out; /* the position whose logits these are */
        int32_t bad = first_nonfinite(l.row, vocab);
        if (bad >= 0) {
            rc = sp_fail(err, SP_ERR_RUNTIME, "non-finite logit at position %zu (id %d)", at,
                         (int)bad);
            break;
        }
        int32_t id = sp_sample(smp, l.row);
        if (eos >= 0 && id == eos) break;
        sp_sampler_accept(smp, id);
        ++*n_out;
        if (cb && cb(user, id)) break;
        if (*n_out >= max_new) break;
        l.want = 0;
        l.got = 0;
        rc = sp_session_forward(s, &id, 1, 0, keep_last, &l, err);
    }
    free(l.row);
    return rc;
}
