/* test_attention_positions.c — the position and attention examples of
 * docs/ATTENTION_MATH.md#worked-examples through the whole interpreter (graph → ops →
 * attention kernel): RoPE in both conventions and the attention example for ASEntmax + NAPE,
 * plain entmax + NAPE, softmax and SSMax. Each model is written with the sparsa writer from
 * exact values: an embedding whose rows carry the inputs, and selection matrices for the
 * projections, so the graph's attention op sees the example's q, k, v. Every model runs as one
 * prefill and token by token; both must match. */
#include <criterion/criterion.h>

#include "tu_interp.h"

#define TOL 1e-6

typedef struct {
    const char *name;
    uint64_t rows, cols; /* cols = 0: a vector */
    const float *v;
} tensor;

/* Logits of tokens 0..n-1 (token i = embedding row i) as prefill; checks decode agrees. */
static float *run(const char *yaml, const tensor *ts, size_t nt, size_t n, size_t vocab) {
    char *path = tu_tmp_path("attnpos");
    sp_error err = {0, ""};
    sp_writer *w = NULL;
    cr_assert_eq(sp_writer_create(path, 1, &err, &w), 0, "%s", err.msg);
    cr_assert_eq(sp_writer_set_graph(w, yaml, strlen(yaml)), 0);
    for (size_t i = 0; i < nt; i++) {
        uint64_t dims[2] = {ts[i].rows, ts[i].cols};
        cr_assert_eq(tu_add_tensor(w, ts[i].name, SP_F32, ts[i].cols ? 2 : 1, dims, ts[i].v), 0,
                     "tensor %s", ts[i].name);
    }
    cr_assert_eq(sp_writer_finish(w, &err), 0, "%s", err.msg);
    sp_model *m = NULL;
    cr_assert_eq(sp_model_open(path, &m, &err), 0, "%s", err.msg);
    int32_t ids[8];
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)i;
    float *pre = tu_logits(m, ids, n, 0, 1), *dec = tu_logits(m, ids, n, 1, 1);
    cr_assert(pre && dec, "forward failed");
    for (size_t i = 0; i < n * vocab; i++)
        cr_assert(fabsf(pre[i] - dec[i]) <= 1e-6f, "decode [%zu] %.9g vs prefill %.9g", i,
                  (double)dec[i], (double)pre[i]);
    free(dec);
    sp_model_free(m);
    remove(path);
    free(path);
    return pre;
}

static void assert_close(const float *got, const double *want, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs(got[i] - want[i]) <= TOL, "%s[%zu]: got %.9g want %.9g", what, i,
                  (double)got[i], want[i]);
}

/* The RoPE example: x = [1, 2, 3, 4], d_h = 4, θ = 1e4, at position 1 (row 1; row 0 is unrotated). */
static void rope_case(const char *style, const double want[4]) {
    char yaml[600];
    snprintf(yaml, sizeof yaml,
             "sparsa_graph: 1\nname: rope\nvocab_size: 4\ninputs: [tokens]\noutputs: [logits]\n"
             "nodes:\n"
             "  - {op: embed, name: emb, in: [tokens], out: x, weight: tok}\n"
             "  - {op: rope, name: rope, in: [x], out: logits, head_dim: 4, theta: 10000.0, "
             "style: %s}\n",
             style);
    /* the table needs vocab_size rows; only rows 0 and 1 are used */
    const float tok[4][4] = {{1, 2, 3, 4}, {1, 2, 3, 4}};
    const tensor ts[] = {{"tok", 4, 4, &tok[0][0]}};
    float *out = run(yaml, ts, 1, 2, 4);
    const double row0[4] = {1, 2, 3, 4};
    assert_close(out, row0, 4, "position 0");
    assert_close(out + 4, want, 4, style);
    free(out);
}

Test(attention_positions, rope_neox) {
    const double want[4] = {-1.98411065, 1.95990067, 2.4623779, 4.01979967};
    rope_case("neox", want);
}

Test(attention_positions, rope_interleaved) {
    const double want[4] = {-1.14263966, 1.9220756, 2.95985067, 4.0297995};
    rope_case("interleaved", want);
}

/* The attention example: H = 2, d = 2, L = 3. Embedding row i = [q_i (4), k_i (4), v_i (4), β_lin_i, γ_lin_i]. */
enum { W = 14 };
static float TOK[4][W] /* vocab_size rows; row 3 unused */, WQ[4][W], WK[4][W], WV[4][W], WB[1][W], WG[1][W];

static void build94(void) {
    static const float Q[3][4] = {{1, 0, .5f, .5f}, {0, 1, 1, -1}, {1, 2, 1, .5f}};
    static const float K[3][4] = {{1, 0, 2, 0}, {0, 1, 0, 1}, {1, 1, 1, 1}};
    static const float V[3][4] = {{1, 0, 1, 2}, {0, 1, 3, 4}, {1, 1, 5, 6}};
    /* β, γ after softplus / a·tanh (a = 4 keeps atanh finite for γ = 2) */
    static const double beta[3] = {0.2, 0.5, 1.0}, gamma[3] = {1.0, -0.5, 2.0};
    memset(TOK, 0, sizeof TOK);
    for (int i = 0; i < 3; i++) {
        for (int x = 0; x < 4; x++) {
            TOK[i][x] = Q[i][x];
            TOK[i][4 + x] = K[i][x];
            TOK[i][8 + x] = V[i][x];
        }
        TOK[i][12] = (float)log(expm1(beta[i]));
        TOK[i][13] = (float)atanh(gamma[i] / 4.0);
    }
    memset(WQ, 0, sizeof WQ);
    memset(WK, 0, sizeof WK);
    memset(WV, 0, sizeof WV);
    for (int r = 0; r < 4; r++) {
        WQ[r][r] = 1;
        WK[r][4 + r] = 1;
        WV[r][8 + r] = 1;
    }
    memset(WB, 0, sizeof WB);
    memset(WG, 0, sizeof WG);
    WB[0][12] = 1;
    WG[0][13] = 1;
}

static float *run94(const char *attn_attrs, int with_h) {
    build94();
    char yaml[1500];
    snprintf(yaml, sizeof yaml,
             "sparsa_graph: 1\nname: vec94\nvocab_size: 4\ninputs: [tokens]\noutputs: [logits]\n"
             "nodes:\n"
             "  - {op: embed, name: emb, in: [tokens], out: x, weight: tok}\n"
             "  - {op: linear, name: q, in: [x], out: q, weight: wq}\n"
             "  - {op: linear, name: k, in: [x], out: k, weight: wk}\n"
             "  - {op: linear, name: v, in: [x], out: v, weight: wv}\n"
             "  - {op: attention, name: attn, in: [q, k, v%s], out: a, heads: 2, "
             "kv_heads: 2, head_dim: 2, scale: 0.7071067811865476, alibi_slopes: [1.0, 0.0], %s}\n"
             "  - {op: scale, name: out, in: [a], out: logits, factor: 1.0}\n",
             with_h ? ", x" : "", attn_attrs);
    static const float sb[1] = {1.0f};
    const tensor ts[] = {{"tok", 4, W, &TOK[0][0]}, {"wq", 4, W, &WQ[0][0]},
                         {"wk", 4, W, &WK[0][0]},   {"wv", 4, W, &WV[0][0]},
                         {"wb", 1, W, &WB[0][0]},   {"wg", 1, W, &WG[0][0]},
                         {"sb", 1, 0, sb}};
    return run(yaml, ts, sizeof ts / sizeof ts[0], 3, 4);
}

Test(attention_positions, asentmax_nape_9_4) {
    float *out = run94("normalizer: entmax, alpha: 1.5, query_scale: asentmax, scaled_heads: 1, "
                       "scale_delta: 1.0, gamma_range: 4.0, beta_weight: wb, gamma_weight: wg",
                       1);
    const double want[3][4] = {{1, 0, 1, 2},
                               {0.0187732504, 0.98122675, 1, 2},
                               {0.98122675, 1, 1.64001528, 2.64001528}};
    for (int i = 0; i < 3; i++) assert_close(out + 4 * i, want[i], 4, "asentmax");
    free(out);
}

Test(attention_positions, entmax_nape_9_4) {
    float *out = run94("normalizer: entmax, alpha: 1.5", 0);
    const double h1[2] = {2.51852562, 3.51852562};
    assert_close(out + 8 + 2, h1, 2, "entmax head 1, i = 2");
    const double h0[2] = {0.98122675, 1};
    assert_close(out + 8, h0, 2, "entmax head 0, i = 2");
    free(out);
}

Test(attention_positions, softmax_nape_9_4) {
    float *out = run94("normalizer: softmax", 0);
    const double h1[2] = {2.70922747, 3.70922747};
    assert_close(out + 8 + 2, h1, 2, "softmax head 1, i = 2");
    const double h0[2] = {0.0270958462 + 0.823525076, 0.149379077 + 0.823525076};
    assert_close(out + 8, h0, 2, "softmax head 0, i = 2");
    free(out);
}

Test(attention_positions, ssmax_nape_9_4) {
    float *out = run94("normalizer: softmax, query_scale: ssmax, scaled_heads: 1, beta: sb", 0);
    const double h1[2] = {2.57940069, 3.57940069};
    assert_close(out + 8 + 2, h1, 2, "ssmax head 1, i = 2");
    free(out);
}
