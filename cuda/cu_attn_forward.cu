/* cu_attn_forward.cu — cu_attention.h's entry points: which calls the CUDA kernels take, the
 * workspace a call needs, and the dispatch of a call to its kernels
 * (docs/ATTENTION_MATH.md, "The CUDA kernels"):
 *   softmax                  one tile pass, online softmax (bf16 tensor cores when asked and
 *                            the head size allows, else fp32 on CUDA cores);
 *   entmax, sparsemax        gather pass → threshold solve → output pass over the tiles that
 *                            can hold support;
 *   adaptive_softmax, stickbreaking, topk   the row kernel.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cu_attn_flash.h"
#include "cu_attn_internal.h"

/* Candidates a row keeps for the warp solver (rows with more go to the block path, which
 * recomputes their scores): enough for entmax-1.5 on 64k keys of unit-variance scores, stale
 * entries of the running maximum included. */
#define CU_ENT_CAP 4096
/* Keys a row's list holds in the bf16 pipeline (cu_attn_sparse.cu keeps them in registers);
 * rows with more go to the block path of cu_attn_overflow.cu. */
#define CU_LIST_CAP 256
/* Blocks of the bf16 pipeline's overflow path (one overflowed row each at a time; scratch holds
 * one row's scores and keys per block). */
#define CU_LIST_GRID 1024
#define CU_ALIGN(x) (((x) + 255) & ~(size_t)255)

static int norm_kind(const char *name) {
    if (!name) return -1;
    if (!strcmp(name, "softmax")) return CU_NORM_SOFTMAX;
    if (!strcmp(name, "entmax") || !strcmp(name, "sparsemax")) return CU_NORM_ENTMAX;
    if (!strcmp(name, "adaptive_softmax")) return CU_NORM_ADAPTIVE;
    if (!strcmp(name, "stickbreaking")) return CU_NORM_STICK;
    if (!strcmp(name, "topk")) return CU_NORM_TOPK;
    return -1;
}

#define REFUSE(...)                                                  \
    do {                                                             \
        if (why && why_len) snprintf(why, why_len, __VA_ARGS__);     \
        return 0;                                                    \
    } while (0)

int cu_attention_supported(const sp_bk_attention *p, char *why, size_t why_len) {
    const int dv = p->value_dim > 0 ? p->value_dim : p->head_dim;
    if (norm_kind(p->normalizer) < 0)
        REFUSE("normalizer '%s' has no CUDA kernel", p->normalizer ? p->normalizer : "?");
    if (p->heads <= 0 || p->kv_heads <= 0 || p->heads % p->kv_heads)
        REFUSE("heads (%d) must be a multiple of kv_heads (%d)", p->heads, p->kv_heads);
    if (p->head_dim <= 0 || p->head_dim > 256 || dv > 256)
        REFUSE("head size %d / value size %d: the CUDA kernels take up to 256", p->head_dim, dv);
    if (!strcmp(p->normalizer, "entmax") && !(p->alpha > 1.0f))
        REFUSE("entmax needs alpha > 1 (got %g)", (double)p->alpha);
    return 1;
}
#undef REFUSE

/* l.field = the next n elements of type at base + off (NULL when base is NULL). */
#define CARVE(field, type, n)                                         \
    do {                                                              \
        l.field = p ? (type *)(p + off) : NULL;                       \
        off += CU_ALIGN((size_t)(n) * sizeof(type));                  \
    } while (0)

/* The tiling both entmax workspaces share: bq-row blocks, bk-key tiles, and candidate lists of
 * up to cap_max entries per row (fewer for short rows, a multiple of 32). */
static cu_ent_ws layout_grid(const cu_attn_geom *g, int bq, int bk, int cap_max) {
    cu_ent_ws l;
    memset(&l, 0, sizeof l);
    l.bq = bq, l.bk = bk;
    l.nqb = (g->nq + bq - 1) / bq, l.nkt = (g->nk + bk - 1) / bk;
    l.cap = g->nk < cap_max ? (g->nk + 31) / 32 * 32 : cap_max;
    if (l.cap == 0) l.cap = 32;
    l.rows_grid = CU_ROWS_GRID;
    return l;
}

size_t cu_attn_ent_layout(const cu_attn_geom *g, int bq, int bk, void *base, cu_ent_ws *w) {
    const size_t items = (size_t)g->H * g->nq;
    cu_ent_ws l = layout_grid(g, bq, bk, CU_ENT_CAP);
    char *p = (char *)base;
    size_t off = 0;
    CARVE(m, float, items);
    CARVE(tau, float, items);
    CARVE(cnt, int, 2 * items + 1);
    CARVE(cand, float, items * l.cap);
    CARVE(tmax, float, (size_t)g->H * l.nqb * l.nkt);
    CARVE(knorm, float, (size_t)g->Hk * l.nkt);
    CARVE(scratch, float, (size_t)2 * CU_ROWS_GRID * (g->nk > 0 ? g->nk : 1));
    if (w) *w = l;
    return off;
}

/* The bf16 list pipeline's workspace: the table of tile maxima is per warp stripe, the lists
 * hold CU_LIST_CAP keys (no scores: w.cand stays NULL), scratch per block of the overflow path
 * one row's scores and keys, 64 per key tile (cu_attn_overflow.cu). */
size_t cu_attn_list_layout(const cu_attn_geom *g, void *base, cu_ent_ws *w) {
    const size_t items = (size_t)g->H * g->nq;
    cu_ent_ws l = layout_grid(g, cu_attn_list_stripe(g->d), 64, CU_LIST_CAP);
    /* the block path's rows run CU_LIST_GRID at a time (nearly flat rows come in hundreds
     * where a model's early positions attend broadly) */
    l.rows_grid = CU_LIST_GRID;
    char *p = (char *)base;
    size_t off = 0;
    CARVE(m, float, items);
    CARVE(tau, float, items);
    CARVE(cnt, int, 3 * items + 2); /* lengths, then two queues of rows (cu_attn_sparse.cu) */
    CARVE(idx, int, items * l.cap); /* keys only: the output step scores them again */
    CARVE(tmax, float, (size_t)g->H * l.nqb * l.nkt);
    CARVE(knorm, float, (size_t)g->Hk * l.nkt);
    CARVE(scratch, float, (size_t)l.rows_grid * 2 * (l.nkt > 0 ? l.nkt : 1) * l.bk);
    if (w) *w = l;
    return off;
}
#undef CARVE

void cu_attn_make_geom(const sp_bk_attention *p, size_t q0, size_t nq, size_t nk,
                       cu_attn_geom *g) {
    memset(g, 0, sizeof *g);
    g->H = p->heads, g->Hk = p->kv_heads, g->group = p->heads / p->kv_heads;
    g->d = p->head_dim, g->dv = p->value_dim > 0 ? p->value_dim : p->head_dim;
    g->causal = p->causal, g->window = p->window;
    g->norm = norm_kind(p->normalizer);
    g->before_query = p->before_query || g->norm == CU_NORM_STICK;
    g->scale = p->scale, g->softcap = p->softcap;
    g->alpha = !strcmp(p->normalizer, "sparsemax") ? 2.0f : p->alpha;
    g->topk = p->topk, g->topk_div2 = p->topk_div2;
    g->q0 = (int)q0, g->nq = (int)nq, g->nk = (int)nk;
}

size_t cu_attention_workspace(const sp_bk_attention *p, size_t max_q, size_t max_k,
                              int precision) {
    (void)precision;
    cu_attn_geom g;
    cu_attn_make_geom(p, 0, max_q, max_k, &g);
    if (g.norm == CU_NORM_SOFTMAX) return 256;
    if (g.norm != CU_NORM_ENTMAX)
        return CU_ALIGN((size_t)2 * CU_ROWS_GRID * (max_k > 0 ? max_k : 1) * sizeof(float));
    /* precision bf16 brings a bf16 cache (cu_module.cu): the list pipeline where it applies */
    g.kv_bf16 = precision == SP_PREC_BF16;
    if (cu_attn_bf16_ok(&g)) return cu_attn_list_layout(&g, NULL, NULL);
    return cu_attn_ent_layout(&g, 32, 32, NULL, NULL); /* the smallest tiles need the most */
}

/* The bf16 list pipeline: pass 1 (maxima, thresholds, tile maxima) → pass 2 (lists) → τ and
 * the output over the support. ev (or NULL): events recorded before each step and at the end. */
static cudaError_t run_list(const cu_attn_geom *g, const cu_attn_call *c, cudaEvent_t *ev) {
    cu_ent_ws w;
    cu_attn_list_layout(g, c->workspace, &w);
    cudaError_t e = cudaSuccess;
    if (ev) e = cudaEventRecord(ev[0], c->stream);
    /* the key norms bound the bf16 scores' error (and, in prefill, whole tiles) */
    if (e == cudaSuccess) e = cu_attn_knorm_launch(g, &w, c->stream);
    if (e == cudaSuccess) e = cu_attn_list_pass_launch(g, &w, CU_LIST_MAX, c->stream);
    if (e == cudaSuccess && ev) e = cudaEventRecord(ev[1], c->stream);
    if (e == cudaSuccess) e = cu_attn_list_pass_launch(g, &w, CU_LIST_PICK, c->stream);
    if (e == cudaSuccess && ev) e = cudaEventRecord(ev[2], c->stream);
    if (e == cudaSuccess) e = cu_attn_list_out_launch(g, &w, c->stream);
    if (e == cudaSuccess) e = cu_attn_list_overflow_launch(g, &w, c->stream);
    if (e == cudaSuccess && ev) e = cudaEventRecord(ev[3], c->stream);
    return e;
}

/* SPARSA_CUDA_ENTMAX_TRACE: every bf16 entmax call timed step by step, one line on stderr (a
 * diagnostic: it serialises the host with the GPU). */
static int entmax_trace(void) {
    static int on = -1;
    if (on < 0) on = getenv("SPARSA_CUDA_ENTMAX_TRACE") != NULL;
    return on;
}

cudaError_t cu_attn_run_entmax(const cu_attn_geom *g, const cu_attn_call *c, int bf16) {
    if (bf16 && entmax_trace()) {
        float ms[3] = {0, 0, 0};
        double listed = 0;
        long over = 0;
        cudaError_t e = cu_attn_entmax_profile(c, ms, &listed, &over);
        fprintf(stderr, "sparsa: cuda entmax: rows %d keys %d heads %d: pass 1 %.3f ms, pass 2 %.3f "
                "ms, output %.3f ms; mean list %.1f, %ld rows over the lists\n",
                g->nq, g->nk, g->H, ms[0], ms[1], ms[2], listed, over);
        return e;
    }
    if (bf16) return run_list(g, c, NULL);
    cu_ent_ws w;
    cu_attn_ent_layout(g, cu_attn_f32_block_q(g), cu_attn_f32_block_k(g), c->workspace, &w);
    cudaError_t e = cudaSuccess;
    /* tile bounds pay in prefill; in decode they would cost as much as the scores they save */
    if (g->nq >= 64) e = cu_attn_knorm_launch(g, &w, c->stream);
    else w.knorm = NULL;
    if (e == cudaSuccess) e = cu_attn_f32_launch(g, &w, CU_TILE_GATHER, c->stream);
    if (e == cudaSuccess) e = cu_attn_solve_launch(g, &w, c->stream);
    if (e == cudaSuccess) e = cu_attn_f32_launch(g, &w, CU_TILE_OUT, c->stream);
    return e;
}

static void call_geom(const cu_attn_call *c, cu_attn_geom *g) {
    cu_attn_make_geom(c->p, c->q0, c->nq, c->nk, g);
    g->kv_bf16 = c->kv->bf16;
    g->q = c->q, g->qscale = c->qscale, g->slopes = c->slopes;
    g->k = c->kv->k, g->v = c->kv->v;
    g->out = c->out, g->stats = c->stats;
}

cudaError_t cu_attention_forward(const cu_attn_call *c) {
    const sp_bk_attention *p = c->p;
    if (!cu_attention_supported(p, NULL, 0) || c->nk > 0x7fffffff || c->q0 + c->nq > 0x7fffffff)
        return cudaErrorNotSupported;
    if (c->nq == 0) return cudaSuccess;
    cu_attn_geom g;
    call_geom(c, &g);
    const int bf16 = c->precision == SP_PREC_BF16 && cu_attn_bf16_ok(&g);
    switch (g.norm) {
    case CU_NORM_SOFTMAX:
        if (bf16 && cu_attn_flash_ok(&g)) return cu_attn_flash_launch(&g, c->stream);
        return bf16 ? cu_attn_bf16_softmax_launch(&g, c->stream)
                    : cu_attn_f32_launch(&g, NULL, CU_TILE_SOFTMAX, c->stream);
    case CU_NORM_ENTMAX: return cu_attn_run_entmax(&g, c, bf16);
    default: return cu_attn_rows_launch(&g, (float *)c->workspace, c->stream);
    }
}

cudaError_t cu_attn_entmax_profile(const cu_attn_call *c, float ms[3], double *listed,
                                   long *overflow) {
    cu_attn_geom g;
    call_geom(c, &g);
    if (g.norm != CU_NORM_ENTMAX || c->precision != SP_PREC_BF16 || !cu_attn_bf16_ok(&g) ||
        c->nq == 0)
        return cudaErrorNotSupported;
    cudaEvent_t ev[4];
    int made = 0;
    cudaError_t e = cudaSuccess;
    for (; made < 4 && e == cudaSuccess; made++) e = cudaEventCreate(&ev[made]);
    if (e == cudaSuccess) e = run_list(&g, c, ev);
    if (e == cudaSuccess) e = cudaEventSynchronize(ev[3]);
    for (int i = 0; i < 3 && e == cudaSuccess; i++)
        e = cudaEventElapsedTime(&ms[i], ev[i], ev[i + 1]);
    cu_ent_ws w;
    cu_attn_list_layout(&g, c->workspace, &w);
    const size_t items = (size_t)g.H * g.nq;
    int *cnt = (int *)malloc(items * sizeof(int));
    if (!cnt && e == cudaSuccess) e = cudaErrorMemoryAllocation;
    if (e == cudaSuccess) e = cudaMemcpy(cnt, w.cnt, items * sizeof(int), cudaMemcpyDeviceToHost);
    if (e == cudaSuccess) {
        double sum = 0.0;
        long over = 0;
        for (size_t i = 0; i < items; i++) sum += cnt[i], over += cnt[i] > w.cap;
        *listed = sum / (double)items, *overflow = over;
    }
    free(cnt);
    for (int i = 0; i < made; i++) cudaEventDestroy(ev[i]);
    return e;
}
