/* test_attention_normalizers.c — the table of attention normalisers (normalizers.h): every
 * normaliser of format/GRAPH.md resolves to one row, each row is complete, its math pointer
 * names a section that exists in docs/ATTENTION_MATH.md, and its sparsity flag says what its
 * row kernel does. The checks run over whatever rows the table has, so a new normaliser is
 * tested here without editing this file. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normalizers.h"

static const char *const GRAPH_NAMES[] = {"softmax",          "entmax",        "sparsemax",
                                          "adaptive_softmax", "stickbreaking", "topk"};
#define N_NAMES (sizeof GRAPH_NAMES / sizeof GRAPH_NAMES[0])

Test(normalizers, every_graph_name_is_one_row) {
    size_t rows = 0;
    while (sp_norm_at(rows)) rows++;
    cr_assert_geq(rows, N_NAMES, "table has %zu rows", rows);
    for (size_t i = 0; i < N_NAMES; i++) {
        const sp_norm_kind *k = sp_norm_find(GRAPH_NAMES[i]);
        cr_assert_not_null(k, "%s", GRAPH_NAMES[i]);
        cr_assert_str_eq(k->name, GRAPH_NAMES[i]);
    }
    for (size_t i = 0; i < rows; i++) /* names are unique: each finds its own row */
        cr_assert_eq(sp_norm_find(sp_norm_at(i)->name), sp_norm_at(i), "%s", sp_norm_at(i)->name);
    cr_assert_null(sp_norm_find("softermax"));
    cr_assert_null(sp_norm_find(""));
}

/* GitHub's anchor of a heading: lower case, spaces to '-', other punctuation dropped. */
static void anchor_of(const char *heading, char *out, size_t cap) {
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)heading; *c && *c != '\n' && o + 1 < cap; c++) {
        if (*c >= 0x80 || isalnum(*c) || *c == '-' || *c == '_') out[o++] = (char)tolower(*c);
        else if (*c == ' ') out[o++] = '-';
    }
    out[o] = 0;
}

static char *read_doc(void) {
    FILE *f = fopen("docs/ATTENTION_MATH.md", "rb");
    cr_assert_not_null(f, "docs/ATTENTION_MATH.md not found (tests run from the repository root)");
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    cr_assert(n > 0);
    return buf;
}

static int doc_has_anchor(const char *doc, const char *anchor) {
    for (const char *l = doc; l; l = strchr(l, '\n')) {
        while (*l == '\n') l++;
        if (*l != '#') continue;
        while (*l == '#') l++;
        while (*l == ' ') l++;
        char a[200];
        anchor_of(l, a, sizeof a);
        if (!strcmp(a, anchor)) return 1;
    }
    return 0;
}

Test(normalizers, rows_are_complete_and_point_to_their_math) {
    char *doc = read_doc();
    const char *prefix = "docs/ATTENTION_MATH.md#";
    for (size_t i = 0; sp_norm_at(i); i++) {
        const sp_norm_kind *k = sp_norm_at(i);
        cr_assert_not_null(k->row, "%s has no row kernel", k->name);
        cr_assert_not_null(k->math, "%s has no math pointer", k->name);
        cr_assert_eq(strncmp(k->math, prefix, strlen(prefix)), 0, "%s: %s", k->name, k->math);
        cr_assert(doc_has_anchor(doc, k->math + strlen(prefix)), "%s: no section for %s", k->name,
                  k->math);
        cr_assert(k->parse || !k->attrs, "%s lists attributes but reads none", k->name);
    }
    free(doc);
}

/* Scores with a wide gap: a sparse normaliser leaves keys out of its support (their weight is
 * exactly zero), a dense one writes a weight for every key. Both sum to 1 (stick-breaking
 * discards the remainder, so at most 1). */
Test(normalizers, sparsity_flag_matches_the_row_kernel) {
    enum { N = 9 };
    const float s[N] = {4.0f, -3.0f, 0.5f, 3.5f, -6.0f, 0.0f, -2.0f, 1.0f, -8.0f};
    for (size_t i = 0; sp_norm_at(i); i++) {
        const sp_norm_kind *k = sp_norm_at(i);
        float sc[N], w[N], t[N];
        uint32_t idx[N];
        sp_row_ws ws = {.s = sc, .w = w, .t = t, .idx = idx};
        memcpy(sc, s, sizeof s);
        sp_attn_params p = {.norm = k, .alpha = 1.5f, .topk = 3};
        if (!strcmp(k->name, "sparsemax")) p.alpha = 2.0f;
        size_t m = k->row(&p, N, &ws);
        double sum = 0;
        for (size_t e = 0; e < m; e++) {
            cr_assert(isfinite(w[e]) && w[e] >= 0, "%s: w[%zu] = %g", k->name, e, (double)w[e]);
            sum += w[e];
        }
        if (k->sparse) {
            cr_assert(m >= 1 && m < N, "%s: support %zu of %d keys", k->name, m, N);
            for (size_t e = 0; e < m; e++) {
                cr_assert_lt(idx[e], N);
                if (e) cr_assert_gt(idx[e], idx[e - 1], "%s: support not in key order", k->name);
            }
        } else {
            cr_assert_eq(m, N, "%s: a dense row weighs every key", k->name);
        }
        if (k->before_query) cr_assert(sum <= 1.0 + 1e-6, "%s: sum %g", k->name, sum);
        else cr_assert(fabs(sum - 1.0) <= 1e-6, "%s: sum %g", k->name, sum);
    }
}
