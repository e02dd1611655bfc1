/* session.c — sp_session: buffers sized once, the KV cache, the forward pass, the logits sink,
 * attention statistics.
 *
 * A forward runs the body ops (up to the last attention op) on all n rows, then the tail ops
 * (final norm, LM head, …) per block of s->logit_rows rows from logits_from on, handing each
 * block to the sink. Threads: every kernel is parallel over rows or output elements with a
 * fixed per-element reduction order, so results do not depend on the thread count. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp_internal.h"

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* SPARSA_PROFILE=1: wall time per op kind, printed to stderr when the session is freed. */
static void print_profile(const sp_session *s) {
    double total = 0;
    for (size_t i = 0; i < s->m->n_ops; i++) total += s->op_seconds[i];
    fprintf(stderr, "sparsa profile: %.3f s in ops\n", total);
    for (size_t i = 0; i < s->m->n_ops; i++) {
        const char *kind = s->m->ops[i].kind->name;
        int first = 1;
        for (size_t j = 0; j < i; j++) first &= strcmp(s->m->ops[j].kind->name, kind) != 0;
        if (!first) continue;
        double t = 0;
        for (size_t j = i; j < s->m->n_ops; j++)
            if (!strcmp(s->m->ops[j].kind->name, kind)) t += s->op_seconds[j];
        fprintf(stderr, "  %-10s %8.3f s  %5.1f%%\n", kind, t, total > 0 ? 100 * t / total : 0);
    }
}

void sp_session_free(sp_session *s) {
    if (!s) return;
    sp_model *m = s->m;
    if (s->op_seconds) print_profile(s);
    sp_bk_session_close(s);
    free(s->op_seconds);
    if (s->body_bufs)
        for (size_t i = 0; i < m->plan.n_body_bufs; i++) free(s->body_bufs[i]);
    if (s->tail_bufs)
        for (size_t i = 0; i < m->plan.n_tail_bufs; i++) free(s->tail_bufs[i]);
    free(s->body_bufs);
    free(s->tail_bufs);
    free(s->scratch);
    if (s->kv)
        for (size_t l = 0; l < m->n_layers; l++) {
            free(s->kv[l].k);
            free(s->kv[l].v);
        }
    free(s->kv);
    if (s->stats)
        for (size_t l = 0; l < m->n_layers; l++) free(s->stats[l]);
    if (s->stats_out)
        for (size_t l = 0; l < m->n_layers; l++) free(s->stats_out[l]);
    free(s->stats);
    free(s->stats_out);
    free(s);
}

static float *alloc_floats(size_t rows, size_t width, int *oom) {
    if (width && rows > SIZE_MAX / sizeof(float) / width) {
        *oom = 1;
        return NULL;
    }
    float *p = calloc((rows * width) != 0 ? rows * width : 1, sizeof(float));
    if (!p) *oom = 1;
    return p;
}

int sp_session_create(sp_model *m, size_t max_tokens, int n_threads, sp_session **out,
                      sp_error *err) {
    *out = NULL;
    if (max_tokens == 0) return sp_fail(err, SP_ERR_INPUT, "session: max_tokens must be > 0");
    uint64_t ctx = m->graph->context_length;
    if (ctx && max_tokens > ctx)
        return sp_fail(err, SP_ERR_INPUT, "session: %zu tokens exceed the model's context length %llu",
                       max_tokens, (unsigned long long)ctx);
    sp_session *s = calloc(1, sizeof *s);
    if (!s) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    s->m = m;
    s->max_tokens = max_tokens;
    s->n_threads = n_threads;
    if (m->backend) {
        int rc = sp_bk_session_open(s, err);
        if (rc) sp_session_free(s);
        else *out = s;
        return rc;
    }
    int oom = 0;
    const char *prof = getenv("SPARSA_PROFILE");
    if (prof && *prof && strcmp(prof, "0")) s->op_seconds = calloc(m->n_ops ? m->n_ops : 1, sizeof(double));
    const sp_plan *pl = &m->plan;
    s->body_bufs = calloc(pl->n_body_bufs + 1, sizeof *s->body_bufs);
    s->tail_bufs = calloc(pl->n_tail_bufs + 1, sizeof *s->tail_bufs);
    s->kv = calloc(m->n_layers + 1, sizeof *s->kv);
    s->stats = calloc(m->n_layers + 1, sizeof *s->stats);
    s->stats_out = calloc(m->n_layers + 1, sizeof *s->stats_out);
    oom = !s->body_bufs || !s->tail_bufs || !s->kv || !s->stats || !s->stats_out;
    /* Activations start small and grow to the largest call (decode sessions stay small). */
    s->body_rows = min_sz(max_tokens, 16);
    for (size_t i = 0; !oom && i < pl->n_body_bufs; i++)
        s->body_bufs[i] = alloc_floats(s->body_rows, pl->body_buf_width[i], &oom);
    /* Tail blocks as tall as ~8 MB of the widest tail buffer (the logits) allows: every block
     * re-reads the LM head's weights, so fewer, taller blocks are faster; a large vocabulary
     * gets shorter blocks to keep the memory bounded. */
    size_t widest = 1;
    for (size_t i = 0; i < pl->n_tail_bufs; i++)
        if (pl->tail_buf_width[i] > widest) widest = pl->tail_buf_width[i];
    s->logit_rows = ((size_t)1 << 21) / widest;
    s->logit_rows = s->logit_rows < SP_LOGIT_BLOCK_MIN ? SP_LOGIT_BLOCK_MIN
                    : s->logit_rows > SP_LOGIT_BLOCK ? SP_LOGIT_BLOCK : s->logit_rows;
    for (size_t i = 0; !oom && i < pl->n_tail_bufs; i++)
        s->tail_bufs[i] = alloc_floats(s->logit_rows, pl->tail_buf_width[i], &oom);
    size_t srows = min_sz(max_tokens, SP_ROW_CHUNK), sfl = 0;
    for (size_t i = 0; i < m->n_ops; i++) {
        size_t need = m->ops[i].scratch_floats + srows * m->ops[i].scratch_per_row;
        if (need > sfl) sfl = need;
    }
    if (!oom) s->scratch = alloc_floats(1, sfl, &oom);
    s->scratch_floats = sfl;
    for (size_t l = 0; !oom && l < m->n_layers; l++) {
        const sp_op *op = &m->ops[m->layer_op[l]];
        s->kv[l].k_width = op->in_width[1];
        s->kv[l].v_width = op->in_width[2];
        s->kv[l].k = alloc_floats(max_tokens, op->in_width[1], &oom);
        if (!oom) s->kv[l].v = alloc_floats(max_tokens, op->in_width[2], &oom);
        int heads = sp_model_attention_heads(m, l);
        if (!oom) s->stats[l] = calloc((size_t)heads, sizeof **s->stats);
        if (!oom) s->stats_out[l] = calloc((size_t)heads, sizeof **s->stats_out);
        if (!s->stats[l] || !s->stats_out[l]) oom = 1;
    }
    if (oom) {
        sp_session_free(s);
        return sp_fail(err, SP_ERR_RUNTIME, "session: out of memory for %zu tokens", max_tokens);
    }
    *out = s;
    return SP_OK;
}

void sp_session_reset(sp_session *s) {
    s->pos = 0;
    if (s->backend) sp_bk_session_reset(s);
}
size_t sp_session_position(const sp_session *s) { return s->pos; }

void sp_session_enable_stats(sp_session *s, int on) {
    s->stats_on = on != 0;
    if (s->backend) sp_bk_session_stats_enable(s, on);
}

void sp_session_reset_stats(sp_session *s) {
    if (s->backend) {
        sp_bk_session_stats_reset(s);
        return;
    }
    for (size_t l = 0; l < s->m->n_layers; l++)
        memset(s->stats[l], 0, (size_t)sp_model_attention_heads(s->m, l) * sizeof **s->stats);
}

const sp_head_stats *sp_session_stats(const sp_session *s, size_t layer) {
    if (layer >= s->m->n_layers) return NULL;
    if (s->backend) return sp_bk_session_stats(s, layer);
    int heads = sp_model_attention_heads(s->m, layer);
    for (int h = 0; h < heads; h++) {
        s->stats_out[layer][h].rows = s->stats[layer][h].rows;
        s->stats_out[layer][h].support = s->stats[layer][h].support;
        s->stats_out[layer][h].visible = s->stats[layer][h].visible;
        s->stats_out[layer][h].tiles = s->stats[layer][h].tiles;
        s->stats_out[layer][h].tiles_skipped = s->stats[layer][h].tiles_skipped;
    }
    return s->stats_out[layer];
}

/* Points ex's inputs and output at the buffers of op's versions; tail versions live in
 * block-sized buffers, body versions read by the tail are offset to row r0. */
static void bind(sp_session *s, const sp_op *op, size_t r0, sp_exec *ex) {
    const sp_plan *pl = &s->m->plan;
    for (size_t j = 0; j < op->n_in; j++) {
        int v = op->in_ver[j];
        if (v < 0) continue;
        const sp_value_ver *vv = &pl->vers[v];
        ex->in[j] = vv->in_tail ? s->tail_bufs[vv->buffer]
                                : s->body_bufs[vv->buffer] + r0 * vv->width;
    }
    const sp_value_ver *ov = &pl->vers[op->out_ver];
    ex->out = ov->in_tail ? s->tail_bufs[ov->buffer] : s->body_bufs[ov->buffer] + r0 * ov->width;
}

static void run_op(sp_session *s, size_t i, sp_exec *ex) {
    const sp_op *op = &s->m->ops[i];
    if (!s->op_seconds) {
        op->kind->run(op, ex);
        return;
    }
    double t0 = omp_get_wtime();
    op->kind->run(op, ex);
    s->op_seconds[i] += omp_get_wtime() - t0;
}

/* Grows the body buffers to hold `rows` rows (at most max_tokens). */
static int grow_body(sp_session *s, size_t rows, sp_error *err) {
    const sp_plan *pl = &s->m->plan;
    size_t want = s->body_rows * 2 > rows ? s->body_rows * 2 : rows;
    if (want > s->max_tokens) want = s->max_tokens;
    for (size_t i = 0; i < pl->n_body_bufs; i++) {
        size_t w = pl->body_buf_width[i];
        if (w && want > SIZE_MAX / sizeof(float) / w)
            return sp_fail(err, SP_ERR_RUNTIME, "out of memory for %zu rows", want);
        float *nb = realloc(s->body_bufs[i], ((want * w) != 0 ? want * w : 1) * sizeof(float));
        if (!nb) return sp_fail(err, SP_ERR_RUNTIME, "out of memory for %zu rows", want);
        s->body_bufs[i] = nb;
    }
    s->body_rows = want;
    return SP_OK;
}

int sp_session_forward(sp_session *s, const int32_t *tokens, size_t n, size_t logits_from,
                       sp_logits_sink sink, void *user, sp_error *err) {
    sp_model *m = s->m;
    const sp_plan *pl = &m->plan;
    if (err) err->msg[0] = 0, err->code = 0;
    if (n == 0) return SP_OK;
    int rc = sp_session_check_call(s, tokens, n, err);
    if (rc) return rc;
    if (s->backend) return sp_bk_session_forward(s, tokens, n, logits_from, sink, user, err);
    if (n > s->body_rows && (rc = grow_body(s, n, err))) return rc;
    if (s->n_threads > 0) omp_set_num_threads(s->n_threads);
    sp_exec ex = {.s = s, .scratch = s->scratch, .scratch_rows = min_sz(s->max_tokens, SP_ROW_CHUNK)};
    for (size_t i = 0; i < pl->tail_start; i++) {
        const sp_op *op = &m->ops[i];
        ex.n = n;
        ex.pos0 = s->pos;
        ex.tokens = tokens;
        bind(s, op, 0, &ex);
        run_op(s, i, &ex);
    }
    size_t pos0 = s->pos;
    s->pos += n;  /* the KV cache now holds these rows, whatever the sink does */
    const float *logits = NULL;
    for (size_t r0 = logits_from; r0 < n; r0 += s->logit_rows) {
        size_t nb = min_sz(s->logit_rows, n - r0);
        for (size_t i = pl->tail_start; i < m->n_ops; i++) {
            const sp_op *op = &m->ops[i];
            ex.n = nb;
            ex.pos0 = pos0 + r0;
            ex.tokens = tokens + r0;
            ex.scratch_rows = min_sz(ex.scratch_rows, s->logit_rows);
            bind(s, op, r0, &ex);
            run_op(s, i, &ex);
        }
        const sp_value_ver *ov = &pl->vers[pl->out_ver];
        logits = ov->in_tail ? s->tail_bufs[ov->buffer] : s->body_bufs[ov->buffer] + r0 * ov->width;
        if (sink && sink(user, r0, nb, logits)) {
            if (err && err->code) return err->code;
            return sp_fail(err, SP_ERR_RUNTIME, "the logits consumer stopped the forward");
        }
    }
    return SP_OK;
}
