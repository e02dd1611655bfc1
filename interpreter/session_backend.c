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
