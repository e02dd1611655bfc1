/* topk.c — top-k attention for one query (docs/ATTENTION_MATH.md#top-k): softmax over the k largest visible
 * scores, zeros elsewhere. Ties are broken deterministically: the lower key index wins, so
 * prefill and decode select the same keys.
 *
 * Selection: a quickselect on (score, index) pairs finds the k-th largest in expected O(n);
 * the k winners are then re-sorted by index so the softmax and the output sum run in key order.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "normalizers.h"

/* a ranks before b: higher score, or equal score and lower index. */
static int before(const float *s, uint32_t a, uint32_t b) {
    return s[a] > s[b] || (s[a] == s[b] && a < b);
}

static void swap_u32(uint32_t *x, uint32_t *y) {
    uint32_t t = *x;
    *x = *y;
    *y = t;
}

/* Rearranges idx[0..n) so that its first k entries (0 < k < n) are the k top-ranked keys:
 * quickselect with a Lomuto partition around a median-of-three pivot. */
static void select_top(const float *s, uint32_t *idx, size_t n, size_t k) {
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2, last = hi - 1;
        uint32_t a = idx[lo], b = idx[mid], c = idx[last];
        size_t pp;
        if (before(s, a, b)) pp = before(s, b, c) ? mid : (before(s, a, c) ? last : lo);
        else pp = before(s, a, c) ? lo : (before(s, b, c) ? last : mid);
        swap_u32(&idx[pp], &idx[last]);
        const uint32_t piv = idx[last];
        size_t store = lo;
        for (size_t i = lo; i < last; i++)
            if (before(s, idx[i], piv)) swap_u32(&idx[store++], &idx[i]);
        swap_u32(&idx[store], &idx[last]);
        /* [lo, store) rank before the pivot, idx[store] is the pivot, the rest after it */
        if (store == k || store + 1 == k) return;
        if (store > k) hi = store;
        else lo = store + 1;
    }
}

static void sort_u32(uint32_t *a, size_t n) {
    for (size_t i = 1; i < n; i++) { /* insertion sort; used for small k */
        uint32_t v = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

static int cmp_u32(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

size_t sp__topk_row(const float *s, size_t n, size_t k, uint32_t *idx, float *w, float *t) {
    if (k > n) k = n;
    for (size_t j = 0; j < n; j++) idx[j] = (uint32_t)j;
    if (k < n) select_top(s, idx, n, k);
    if (k <= 64) sort_u32(idx, k);
    else qsort(idx, k, sizeof(uint32_t), cmp_u32);
    for (size_t e = 0; e < k; e++) t[e] = s[idx[e]];
    sp__softmax_row(t, k, w);
    return k;
}

/* k for a row of n visible keys: topk, or max(topk, n/2) with the div2 rule. */
static size_t topk_row(const sp_attn_params *p, size_t n, sp_row_ws *ws) {
    size_t k = p->topk > 0 ? (size_t)p->topk : 1;
    if (p->topk_div2 && n / 2 > k) k = n / 2;
    return sp__topk_row(ws->s, n, k, ws->idx, ws->w, ws->t);
}

static const char *const topk_attrs[] = {"topk", "topk_rule", NULL};

static int topk_parse(const sp_norm_attrs *a, sp_attn_params *ap, sp_error *err) {
    long long topk = 0;
    const char *rule = NULL;
    int r = a->read_int(a->cc, "topk", 0, 1, (long long)1 << 40, &topk, err);
    if (r < 0) return -r;
    if (r == 0) return a->fail(a->cc, err, "missing attribute 'topk'");
    ap->topk = (int)(topk > 0x7fffffff ? 0x7fffffff : topk);
    r = a->read_string(a->cc, "topk_rule", 0, &rule, err);
    if (r < 0) return -r;
    if (r && !strcmp(rule, "div2")) ap->topk_div2 = 1;
    else if (r && strcmp(rule, "fixed"))
        return a->fail(a->cc, err, "topk_rule must be fixed or div2 (got '%s')", rule);
    return SP_OK;
}

const sp_norm_kind sp_norm_topk = {
    .name = "topk",
    .attrs = topk_attrs,
    .parse = topk_parse,
    .row = topk_row,
    .sparse = 1,
    .math = "docs/ATTENTION_MATH.md#top-k",
};
