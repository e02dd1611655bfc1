/* session_backend.c — a session whose model runs on a backend module (sparsa_backend.h): the
 * module owns the KV cache and every buffer; this file forwards the session's calls and
 * keeps the position, so sp_session_position and the checks of session_check.c behave as on
 * the CPU. */
#include <stdlib.h>
#include <string.h>

#include "interp_internal.h"

int sp_bk_session_open(sp_session *s, sp_error *err) {
    sp_backend_ref *r = s->m->backend;
    s->stats_out = calloc(s->m->n_layers + 1, sizeof *s->stats_out);
    if (!s->stats_out) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t l = 0; l < s->m->n_layers; l++) {
        s->stats_out[l] = calloc((size_t)sp_model_attention_heads(s->m, l), sizeof **s->stats_out);
        if (!s->stats_out[l]) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    }
    return r->vt->session_create(r->model, s->max_tokens, &s->backend, err);
}

void sp_bk_session_close(sp_session *s) {
    if (s->backend) s->m->backend->vt->session_free(s->backend);
    s->backend = NULL;
}

void sp_bk_session_reset(sp_session *s) { s->m->backend->vt->session_reset(s->backend); }

int sp_bk_session_forward(sp_session *s, const int32_t *tokens, size_t n, size_t logits_from,
                          sp_logits_sink sink, void *user, sp_error *err) {
    const sp_backend_vtable *vt = s->m->backend->vt;
    int rc = vt->forward(s->backend, tokens, n, s->pos, logits_from, sink, user, err);
    if (!rc) s->pos += n;
    return rc;
}

int sp_session_fused_nll(const sp_session *s) {
    return s->backend && s->m->backend->vt->forward_nll;
}

int sp_session_forward_nll(sp_session *s, const int32_t *tokens, size_t n, size_t logits_from,
                           const int32_t *targets, double *nll, sp_error *err) {
    if (!sp_session_fused_nll(s))
        return sp_fail(err, SP_ERR_INPUT, "the %s backend has no fused scoring head",
                       sp_model_device(s->m));
    if (err) err->msg[0] = 0, err->code = 0;
    if (n == 0) return SP_OK;
    int rc = sp_session_check_call(s, tokens, n, err);
    for (size_t r = logits_from; !rc && r < n; r++)
        if (targets[r] < 0 || (int64_t)targets[r] >= s->m->graph->vocab_size)
            rc = sp_fail(err, SP_ERR_INPUT, "target id %ld at row %zu outside [0, %lld)",
                         (long)targets[r], r, (long long)s->m->graph->vocab_size);
    if (rc) return rc;
    const sp_backend_vtable *vt = s->m->backend->vt;
    rc = vt->forward_nll(s->backend, tokens, n, s->pos, logits_from, targets, nll, err);
    if (!rc) s->pos += n;
    return rc;
}

size_t sp_session_nll_batch(const sp_session *s, size_t n) {
    if (!s->backend || !n || n > s->max_tokens) return 1;
    const sp_backend_vtable *vt = s->m->backend->vt;
    if (!vt->forward_nll_batch || !vt->batch_capacity) return 1;
    size_t cap = vt->batch_capacity(s->backend, n);
    return cap ? cap : 1;
}

/* Every sequence is checked as a call on an empty session would be; the session is left as
 * after the last sequence alone (its tokens cached, position n). */
int sp_session_forward_nll_batch(sp_session *s, const int32_t *tokens, size_t n_seq, size_t n,
                                 size_t logits_from, const int32_t *targets, double *nll,
                                 sp_error *err) {
    if (err) err->msg[0] = 0, err->code = 0;
    if (n_seq > sp_session_nll_batch(s, n))
        return sp_fail(err, SP_ERR_INPUT, "%zu sequences of %zu tokens exceed the session's "
                       "batch of %zu", n_seq, n, sp_session_nll_batch(s, n));
    s->pos = 0;  /* as sp_session_reset */
    sp_bk_session_reset(s);
    if (n_seq == 1) return sp_session_forward_nll(s, tokens, n, logits_from, targets, nll, err);
    int rc = SP_OK;
    for (size_t b = 0; !rc && b < n_seq; b++) {
        rc = sp_session_check_call(s, tokens + b * n, n, err);
        for (size_t r = logits_from; !rc && r < n; r++)
            if (targets[b * n + r] < 0 || (int64_t)targets[b * n + r] >= s->m->graph->vocab_size)
                rc = sp_fail(err, SP_ERR_INPUT, "target id %ld at row %zu of sequence %zu "
                             "outside [0, %lld)", (long)targets[b * n + r], r, b,
                             (long long)s->m->graph->vocab_size);
    }
    if (rc || n == 0) return rc;
    const sp_backend_vtable *vt = s->m->backend->vt;
    rc = vt->forward_nll_batch(s->backend, tokens, n_seq, n, logits_from, targets, nll, err);
    if (!rc) s->pos = n;
    return rc;
}

void sp_bk_session_stats_enable(sp_session *s, int on) {
    const sp_backend_vtable *vt = s->m->backend->vt;
    if (vt->stats_enable) vt->stats_enable(s->backend, on);
}

void sp_bk_session_stats_reset(sp_session *s) {
    const sp_backend_vtable *vt = s->m->backend->vt;
    if (vt->stats_reset) vt->stats_reset(s->backend);
}

/* The counters of one layer, copied into the session's sp_head_stats (zeros when the module
 * keeps none, or when reading them fails). */
const sp_head_stats *sp_bk_session_stats(const sp_session *s, size_t layer) {
    const sp_backend_vtable *vt = s->m->backend->vt;
    int heads = sp_model_attention_heads(s->m, layer);
    sp_head_stats *out = s->stats_out[layer];
    memset(out, 0, (size_t)heads * sizeof *out);
    sp_bk_head_stats *tmp = calloc((size_t)heads, sizeof *tmp);
    sp_error e = {0};
    if (tmp && vt->stats_read && vt->stats_read(s->backend, layer, tmp, &e) == SP_OK)
        for (int h = 0; h < heads; h++)
            out[h] = (sp_head_stats){tmp[h].rows, tmp[h].support, tmp[h].visible, tmp[h].tiles,
                                     tmp[h].tiles_skipped};
    free(tmp);
    return out;
}
