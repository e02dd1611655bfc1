/* cu_plan.cu — a session's device buffers: every value version of the plan gets a buffer
 * (slot) shared with values whose lifetimes do not overlap; body values hold the call's rows
 * ([rows][width], grown to the largest call, up to max_tokens), tail values one block of rows
 * (the logits tail runs in blocks, as on the CPU). Also the grow-on-demand scratch. */
#include <stdlib.h>
#include <string.h>

#include "cu_internal.h"

/* Tail block rows: at most 256, fewer when the widest tail value (the logits) would take more
 * than 2^25 floats (128 MB) per buffer. */
#define CU_TAIL_ROWS 256
#define CU_TAIL_FLOATS ((size_t)1 << 25)

/* A value's lifetime in op indices: [first, last]. The output lives to the end. */
static void lifetime(const sp_bk_model *m, int v, size_t *first, size_t *last) {
    const sp_bk_value *val = &m->values[v];
    *first = (size_t)val->producer;
    *last = val->last_use >= 0 ? (size_t)val->last_use : *first;
    if (v == m->out_value) *last = m->n_ops;
}

typedef struct slot_set {
    size_t *width, *busy_until;
    size_t n;
} slot_set;

/* The slot for a value of width live over [first, last]: the narrowest free one wide enough,
 * else the widest free one (widened), else a new one. Returns -1 when out of memory. */
static int take_slot(slot_set *ss, size_t width, size_t first, size_t last) {
    int best = -1, widest = -1;
    for (size_t i = 0; i < ss->n; i++) {
        if (ss->busy_until[i] >= first) continue;
        if (ss->width[i] >= width && (best < 0 || ss->width[i] < ss->width[best])) best = (int)i;
        if (widest < 0 || ss->width[i] > ss->width[widest]) widest = (int)i;
    }
    if (best < 0) best = widest;
    if (best < 0) {
        size_t *w = (size_t *)realloc(ss->width, (ss->n + 1) * sizeof *w);
        if (w) ss->width = w;
        size_t *b = (size_t *)realloc(ss->busy_until, (ss->n + 1) * sizeof *b);
        if (b) ss->busy_until = b;
        if (!w || !b) return -1;
        best = (int)ss->n++;
        ss->width[best] = 0;
    }
    if (ss->width[best] < width) ss->width[best] = width;
    ss->busy_until[best] = last;
    return best;
}

/* Slots for every value, in the order their producers run. */
static int assign_slots(cu_session *s, slot_set *body, slot_set *tail, sp_error *err) {
    const sp_bk_model *m = s->cm->m;
    for (size_t op = 0; op < m->n_ops; op++)
        for (size_t v = 0; v < m->n_values; v++) {
            if (m->values[v].producer != (int)op) continue;
            size_t first, last;
            lifetime(m, (int)v, &first, &last);
            slot_set *ss = op < s->body_end ? body : tail;
            s->slot_of[v] = take_slot(ss, m->values[v].width, first, last);
            if (s->slot_of[v] < 0) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
        }
    return SP_OK;
}

static int alloc_slots(float **slots, const size_t *width, size_t n, size_t rows,
                       const char *what, sp_error *err) {
    for (size_t i = 0; i < n; i++) {
        int rc = cu_alloc((void **)&slots[i], rows * width[i] * sizeof(float), what, err);
        if (rc) return rc;
    }
    return SP_OK;
}

int cu_plan_create(cu_session *s, sp_error *err) {
    const sp_bk_model *m = s->cm->m;
    s->body_end = s->cm->body_end;
    slot_set body = {}, tail = {};
    s->slot_of = (int *)calloc(m->n_values + 1, sizeof *s->slot_of);
    int rc = s->slot_of ? assign_slots(s, &body, &tail, err)
                        : sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    s->body_width = body.width;
    s->n_body_slots = body.n;
    s->tail_width = tail.width;
    s->n_tail_slots = tail.n;
    free(body.busy_until);
    free(tail.busy_until);
    if (rc) return rc;
    s->body_slot = (float **)calloc(body.n + 1, sizeof *s->body_slot);
    s->tail_slot = (float **)calloc(tail.n + 1, sizeof *s->tail_slot);
    if (!s->body_slot || !s->tail_slot) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    size_t widest = 1;
    for (size_t i = 0; i < tail.n; i++)
        if (tail.width[i] > widest) widest = tail.width[i];
    s->tail_rows = CU_TAIL_FLOATS / widest;
    s->tail_rows = s->tail_rows < 1 ? 1 : s->tail_rows > CU_TAIL_ROWS ? CU_TAIL_ROWS : s->tail_rows;
    return alloc_slots(s->tail_slot, s->tail_width, s->n_tail_slots, s->tail_rows,
                       "the logits tail's buffers", err);
}

static void free_slots(float **slots, size_t n) {
    for (size_t i = 0; slots && i < n; i++) {
        if (slots[i]) cudaFree(slots[i]);
        slots[i] = NULL;
    }
}

int cu_plan_body_rows(cu_session *s, size_t rows, sp_error *err) {
    if (rows <= s->body_rows) return SP_OK;
    size_t want = (rows + 63) / 64 * 64;
    if (want > s->max_rows) want = s->max_rows;
    if (want < rows) want = rows;
    cudaStreamSynchronize(s->stream);
    free_slots(s->body_slot, s->n_body_slots);
    s->body_rows = 0;
    int rc = alloc_slots(s->body_slot, s->body_width, s->n_body_slots, want,
                         "the activations", err);
    if (!rc) s->body_rows = want;
    return rc;
}

void cu_plan_free(cu_session *s) {
    free_slots(s->body_slot, s->n_body_slots);
    free_slots(s->tail_slot, s->n_tail_slots);
    free(s->body_slot);
    free(s->tail_slot);
    free(s->body_width);
    free(s->tail_width);
    free(s->slot_of);
    s->body_slot = s->tail_slot = NULL;
    s->body_width = s->tail_width = NULL;
    s->slot_of = NULL;
    for (int i = 0; i < CU_SCR_COUNT; i++) {
        if (s->scr[i]) cudaFree(s->scr[i]);
        s->scr[i] = NULL;
        s->scr_bytes[i] = 0;
    }
}

float *cu_plan_value(const cu_session *s, int v, size_t r0) {
    const sp_bk_model *m = s->cm->m;
    const sp_bk_value *val = &m->values[v];
    int slot = s->slot_of[v];
    if ((size_t)val->producer >= s->body_end) return s->tail_slot[slot];
    return s->body_slot[slot] + r0 * val->width;
}

int cu_scratch(cu_session *s, int which, size_t bytes, void **p, sp_error *err) {
    if (bytes > s->scr_bytes[which]) {
        /* the stream may still read the old buffer */
        cudaStreamSynchronize(s->stream);
        if (s->scr[which]) cudaFree(s->scr[which]);
        s->scr[which] = NULL;
        s->scr_bytes[which] = 0;
        int rc = cu_alloc(&s->scr[which], bytes, "scratch", err);
        if (rc) return rc;
        s->scr_bytes[which] = bytes;
    }
    *p = s->scr[which];
    return SP_OK;
}
