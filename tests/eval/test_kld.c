/* test_kld.c — `sparsa kld` against independent computations: a model against itself gives
 * KLD 0, same-top rate 1 and RMS dp 0; against a copy with perturbed weights (written here with
 * the format library) every statistic equals the one computed in double, in this file, from
 * both models' `sparsa logits --out` rows of the same windows, within 1e-6 relative; tokenizers
 * that differ are refused with exit 2. The percentile and histogram helpers on known values. */
#include <criterion/criterion.h>
#include <math.h>

#include "sparsa_format.h"
#include "sparsa_tokenizer.h"
#include "sparsa_workbench.h"
#include "tu_eval.h"

#define MODEL "tests/fixtures/perplexity/ppl-llama.sparsa"
#define CORPUS "tests/fixtures/perplexity/psalms.txt"
#define CTX 64
#define MAX_TOKENS 320

/* NaN fails: the comparison is false for it. */
static int close_rel(double got, double want, double rel) {
    return fabs(got - want) <= rel * fabs(want) + 1e-300;
}

static double num(const sp_jv *doc, const char *key) {
    const sp_jv *v = sp_jv_get(doc, key);
    cr_assert(v && v->type == SP_JV_NUMBER, "no number %s in the kld JSON", key);
    return v->number;
}

static void run_kld_json(const char *other, sp_jv *doc) {
    char args[512], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "kld " MODEL " %s " CORPUS " --ctx %d --max-tokens %d --json",
             other, CTX, MAX_TOKENS);
    cr_assert_eq(tu_run_sparsa(args, &out, &err), 0, "%s: %s", args, err);
    sp_error e = {0};
    cr_assert_eq(sp_jv_parse(out, strlen(out), doc, &e), 0, "kld JSON: %s", e.msg);
    free(out);
    free(err);
}

/* A copy of MODEL with every weight w replaced by w (1 + amp·u), u uniform in [-1, 1]
 * (a fixed LCG), and, when tok_path is set, another tokenizer. */
static char *perturbed_copy(double amp, const char *tok_path) {
    sp_error e = {0};
    sp_file *f = NULL;
    cr_assert_eq(sp_file_open(MODEL, &f, &e), 0, "%s", e.msg);
    char *path = tu_temp_file("", 0, ".sparsa");
    sp_writer *w = NULL;
    cr_assert_eq(sp_writer_create(path, 1, &e, &w), 0, "%s", e.msg);
    for (size_t i = 0; i < sp_file_meta_count(f); i++) {
        const sp_meta *m = sp_file_meta(f, i);
        char *key = strndup(m->key, m->key_len);
        if (m->type == SP_META_STRING) sp_writer_meta_string(w, key, (const char *)m->data, m->len);
        else if (m->type == SP_META_U64) sp_writer_meta_u64(w, key, m->num.u);
        else cr_assert_fail("metadata %s of an unexpected type", key);
        free(key);
    }
    size_t len = 0;
    const char *graph = sp_file_graph(f, &len);
    sp_writer_set_graph(w, graph, len);
    size_t tlen = 0;
    void *tok_bytes = tok_path ? tu_read_file(tok_path, &tlen) : NULL;
    const void *tok = tok_path ? tok_bytes : sp_file_tokenizer(f, &tlen);
    sp_writer_set_tokenizer(w, tok, tlen);
    uint64_t state = 12345;
    for (size_t i = 0; i < sp_file_tensor_count(f); i++) {
        const sp_tensor_info *t = sp_file_tensor(f, i);
        const void *data = NULL;
        cr_assert_eq(sp_file_tensor_data(f, t, &data, &e), 0, "%s", e.msg);
        cr_assert_eq(t->dtype, SP_BF16, "the fixture's weights are bf16");
        uint16_t *copy = malloc(t->numel * sizeof *copy);
        for (uint64_t k = 0; k < t->numel; k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            double u = (double)(state >> 11) / 9007199254740992.0 * 2 - 1;
            float v = sp_bf16_to_f32(((const uint16_t *)data)[k]);
            copy[k] = sp_f32_to_bf16((float)(v * (1 + amp * u)));
        }
        char *name = strndup(t->name, t->name_len);
        cr_assert_eq(sp_writer_add_tensor(w, name, t->dtype, t->ndim, t->dims, copy,
                                          SP_COMPRESS_NONE, 0), 0);
        free(name);
        free(copy);
    }
    cr_assert_eq(sp_writer_finish(w, &e), 0, "%s", e.msg);
    free(tok_bytes);
    sp_file_close(f);
    return path;
}

/* The logits of ids[0..n) from `sparsa logits --out`, [n][vocab]. */
static float *logits_of(const char *model, const int32_t *ids, size_t n, size_t vocab) {
    char *ids_s = malloc(n * 12 + 1), *p = ids_s;
    for (size_t i = 0; i < n; i++) p += sprintf(p, "%s%d", i ? "," : "", (int)ids[i]);
    char *out = tu_temp_file("", 0, ".f32");
    size_t cap = strlen(ids_s) + 512;
    char *args = malloc(cap), *err = NULL;
    snprintf(args, cap, "logits %s --tokens %s --out %s", model, ids_s, out);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 0, "%s", err);
    size_t len = 0;
    float *rows = tu_read_file(out, &len);
    cr_assert_eq(len, n * vocab * sizeof(float));
    remove(out);
    free(out);
    free(args);
    free(ids_s);
    free(err);
    return rows;
}

static int32_t *corpus_ids(size_t *n) {
    size_t len = 0;
    char *text = tu_read_file(CORPUS, &len);
    sp_tokenizer *tok = NULL;
    sp_error e = {0};
    cr_assert_eq(sp_tokenizer_load_path(MODEL, &tok, &e), 0, "%s", e.msg);
    int32_t *ids = NULL;
    cr_assert_eq(sp_tokenizer_encode(tok, text, len, &ids, n, &e), 0, "%s", e.msg);
    if (*n > MAX_TOKENS) *n = MAX_TOKENS;
    sp_tokenizer_free(tok);
    free(text);
    return ids;
}

typedef struct direct {
    double kld_sum, kld_sq, kld_max, nll_b, nll_o, same, dp_sq;
    double *all;
    size_t n;
} direct;

static void log_softmax(const float *x, size_t v, double *out, size_t *top) {
    double mx = x[0];
    *top = 0;
    for (size_t i = 1; i < v; i++)
        if (x[i] > mx) mx = x[i], *top = i;
    double s = 0;
    for (size_t i = 0; i < v; i++) s += exp((double)x[i] - mx);
    for (size_t i = 0; i < v; i++) out[i] = (double)x[i] - mx - log(s);
}

/* Row r of both models, predicting target. */
static void direct_row(direct *d, const float *xb, const float *xo, size_t v, int32_t target) {
    double *lb = malloc(v * sizeof *lb), *lo = malloc(v * sizeof *lo), k = 0;
    size_t tb, to;
    log_softmax(xb, v, lb, &tb);
    log_softmax(xo, v, lo, &to);
    for (size_t i = 0; i < v; i++) k += exp(lb[i]) * (lb[i] - lo[i]);
    double dp = exp(lo[target]) - exp(lb[target]);
    d->all[d->n++] = k;
    d->kld_sum += k;
    d->kld_sq += k * k;
    d->kld_max = fmax(d->kld_max, k);
    d->nll_b -= lb[target];
    d->nll_o -= lo[target];
    d->same += tb == to;
    d->dp_sq += dp * dp;
    free(lb);
    free(lo);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void direct_stats(const char *other, direct *d, size_t *windows) {
    size_t n = 0, vocab = 2000;
    int32_t *ids = corpus_ids(&n);
    *windows = n / CTX;
    d->all = calloc(*windows * CTX, sizeof *d->all);
    for (size_t w = 0; w < *windows; w++) {
        const int32_t *in = ids + w * CTX;
        float *xb = logits_of(MODEL, in, CTX, vocab), *xo = logits_of(other, in, CTX, vocab);
        for (size_t r = 0; r + 1 < CTX; r++)
            direct_row(d, xb + r * vocab, xo + r * vocab, vocab, in[r + 1]);
        free(xb);
        free(xo);
    }
    qsort(d->all, d->n, sizeof *d->all, cmp_double);
    free(ids);
}

Test(kld, model_against_itself_is_zero) {
    sp_jv doc;
    run_kld_json(MODEL, &doc);
    cr_assert(num(&doc, "tokens_scored") > 0);
    cr_assert_eq(num(&doc, "mean_kld"), 0.0, "mean_kld %g", num(&doc, "mean_kld"));
    cr_assert_eq(num(&doc, "max_kld"), 0.0);
    cr_assert_eq(num(&doc, "same_top_rate"), 1.0);
    cr_assert_eq(num(&doc, "rms_dp"), 0.0);
    cr_assert_eq(num(&doc, "ppl_ratio"), 1.0);
    const sp_jv *models = sp_jv_get(&doc, "models");
    cr_assert(models && models->type == SP_JV_ARRAY && models->n == 2, "provenance: models[]");
    const sp_jv *sha = sp_jv_get(&models->items[0], "sha256");
    cr_assert(sha && sha->len == 64 && strspn(sha->str, "0123456789abcdef") == 64);
    cr_assert_str_eq(sha->str, sp_jv_get(&models->items[1], "sha256")->str);
    cr_assert(sp_jv_get(&doc, "sparsa_version") && sp_jv_get(&doc, "settings"));
    sp_jv_free(&doc);
}

Test(kld, perturbed_copy_matches_direct_computation, .timeout = 120) {
    char *other = perturbed_copy(0.05, NULL);
    sp_jv doc;
    run_kld_json(other, &doc);
    direct d = {0};
    size_t windows = 0;
    direct_stats(other, &d, &windows);
    double n = (double)d.n, mean = d.kld_sum / n;
    cr_assert_eq((size_t)num(&doc, "windows"), windows);
    cr_assert_eq((size_t)num(&doc, "tokens_scored"), d.n);
    cr_assert(mean > 1e-4, "the perturbation should move the model (mean KLD %g)", mean);
    const sp_jv *base = sp_jv_get(&doc, "base"), *oth = sp_jv_get(&doc, "other");
    double want[][2] = {
        {num(&doc, "mean_kld"), mean},
        {num(&doc, "kld_stderr"), sqrt((d.kld_sq / n - mean * mean) / (n - 1))},
        {num(&doc, "max_kld"), d.kld_max},
        {num(&doc, "same_top_rate"), d.same / n},
        {num(&doc, "rms_dp"), sqrt(d.dp_sq / n)},
        {num(base, "ppl"), exp(d.nll_b / n)},
        {num(oth, "ppl"), exp(d.nll_o / n)},
        {num(&doc, "ppl_ratio"), exp((d.nll_o - d.nll_b) / n)},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(close_rel(want[i][0], want[i][1], 1e-6), "statistic %zu: kld %.12g, direct %.12g",
                  i, want[i][0], want[i][1]);
    const sp_jv *pct = sp_jv_get(&doc, "kld_percentiles");
    const char *keys[] = {"99.9", "99", "95", "90", "50", "10", "1"};
    for (int i = 0; i < 7; i++) {
        double p = sp_kld_percentile_levels[i] / 100 * (n - 1), lo = floor(p);
        size_t a = (size_t)lo, b = a + 1 < d.n ? a + 1 : a;
        double direct_p = (1 - (p - lo)) * d.all[a] + (p - lo) * d.all[b];
        cr_assert(close_rel(num(pct, keys[i]), direct_p, 1e-6), "percentile %s: %.12g vs %.12g",
                  keys[i], num(pct, keys[i]), direct_p);
    }
    sp_jv_free(&doc);
    free(d.all);
    remove(other);
    free(other);
}

Test(kld, different_tokenizers_are_refused) {
    char *other = perturbed_copy(0, "tests/fixtures/tokenizer/kjv_unigram.model");
    char args[512], *err = NULL;
    snprintf(args, sizeof args, "kld " MODEL " %s " CORPUS " --ctx 64", other);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 2, "%s", err);
    cr_assert(strstr(err, "tokenizer"), "%s", err);
    cr_assert_eq(tu_line_count(err), 1, "%s", err);
    free(err);
    remove(other);
    free(other);
}

Test(kld, usage_errors) {
    char *err = NULL;
    cr_assert_eq(tu_run_sparsa("kld " MODEL " " MODEL, NULL, &err), 2);
    cr_assert(strstr(err, "CORPUS"), "%s", err);
    free(err);
    cr_assert_eq(tu_run_sparsa("kld " MODEL " " MODEL " " CORPUS " --ctx 100000", NULL, &err), 2);
    cr_assert(strstr(err, CORPUS) && strstr(err, "too few"), "%s", err);
    free(err);
    cr_assert_eq(tu_run_sparsa("kld " MODEL " " MODEL " " CORPUS " ./" CORPUS, NULL, &err), 2);
    cr_assert(strstr(err, "same file"), "%s", err);
    free(err);
}

Test(kld, percentile_and_histogram_helpers) {
    float v[] = {0.5f, 0.0f, 2.0f, 1.0f, 0.25f};
    sp_kld_result r;
    memset(&r, 0, sizeof r);
    sp_kld_summarize(v, 5, &r);
    cr_assert_eq(v[0], 0.0f, "sorted in place");
    cr_assert_eq(sp_kld_percentile(v, 5, 0.5), 0.5);
    cr_assert(close_rel(sp_kld_percentile(v, 5, 0.99), 1.0 + 0.96 * 1.0, 1e-12));
    cr_assert_eq(sp_kld_percentile(v, 5, 1.0), 2.0);
    cr_assert_eq(r.max_kld, 2.0);
    cr_assert(close_rel(r.mean_kld, 0.75, 1e-12));
    uint64_t total = r.hist_below;
    for (int b = 0; b < SP_KLD_HIST_BINS; b++) total += r.hist[b];
    cr_assert_eq(total, 5, "every value in the histogram");
    cr_assert(isnan(sp_kld_percentile(v, 0, 0.5)));
    cr_assert(!close_rel(NAN, 1.0, 1e-6) && !close_rel(1.0, NAN, 1e-6), "NaN fails");
}
