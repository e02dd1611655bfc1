/* plot_data.c — `sparsa plot`'s inputs: perplexity results (results[] with ctx, ppl, file,
 * optional model and by_position buckets) become points of the PPL-against-context and
 * NLL-against-position panels; a kld result becomes a histogram panel of its log10 bins. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot_data.h"

void plot_figure_init(plot_figure *fig) {
    memset(fig, 0, sizeof *fig);
    snprintf(fig->ppl.title, sizeof fig->ppl.title, "Perplexity against context length");
    fig->ppl.xlabel = "context length (tokens, log scale)";
    fig->ppl.ylabel = "perplexity";
    fig->ppl.logx = 1;
    snprintf(fig->nll.title, sizeof fig->nll.title, "Mean NLL against position in the window");
    fig->nll.xlabel = "position in the window (bucket centre)";
    fig->nll.ylabel = "mean NLL (nats)";
}

/* The last component of a path, for labels. */
static const char *base(const char *p) {
    const char *s = strrchr(p, '/');
    return s && s[1] ? s + 1 : p;
}

/* The last component without a .sparsa/.txt/.json extension, for legend labels. */
static int stem_len(const char *name) {
    const char *dot = strrchr(name, '.');
    static const char *const ext[] = {".sparsa", ".txt", ".json"};
    for (int i = 0; dot && i < 3; i++)
        if (!strcmp(dot, ext[i]) && dot != name) return (int)(dot - name);
    return (int)strlen(name);
}

static int num(const sp_jv *o, const char *key, double *v) {
    const sp_jv *j = sp_jv_get(o, key);
    if (!j || j->type != SP_JV_NUMBER) return 0;
    *v = j->number;
    return 1;
}

static const char *str(const sp_jv *o, const char *key) {
    const sp_jv *j = sp_jv_get(o, key);
    return j && j->type == SP_JV_STRING ? j->str : NULL;
}

static int oom(sp_error *err) { return sp_fail(err, SP_ERR_RUNTIME, "out of memory"); }

static int add_buckets(plot_figure *fig, const char *label, double ctx, const sp_jv *buckets,
                       const char *path, sp_error *err) {
    char name[512];
    snprintf(name, sizeof name, "%.400s, ctx %.0f", label, ctx);
    plot_series *s = plot_series_get(&fig->nll, name);
    if (!s) return oom(err);
    for (size_t i = 0; i < buckets->n; i++) {
        double a, b, nll;
        const sp_jv *o = &buckets->items[i];
        if (!num(o, "start", &a) || !num(o, "end", &b) || !num(o, "mean_nll", &nll))
            return sp_fail(err, SP_ERR_INPUT, "%s: a by_position bucket lacks start, end or "
                           "mean_nll", path);
        if (plot_series_add(s, (a + b) / 2, nll)) return oom(err);
    }
    return SP_OK;
}

static int add_perplexity(plot_figure *fig, const char *path, const sp_jv *doc, sp_error *err) {
    const sp_jv *results = sp_jv_get(doc, "results");
    const char *doc_model = str(doc, "model");
    for (size_t i = 0; i < results->n; i++) {
        const sp_jv *r = &results->items[i];
        double ctx, ppl;
        if (r->type != SP_JV_OBJECT || !num(r, "ctx", &ctx) || !(ctx > 0))
            return sp_fail(err, SP_ERR_INPUT, "%s: results[%zu] has no positive ctx", path, i);
        const sp_jv *pj = sp_jv_get(r, "ppl");
        if (!pj || (pj->type != SP_JV_NUMBER && pj->type != SP_JV_NULL))
            return sp_fail(err, SP_ERR_INPUT, "%s: results[%zu] has no ppl", path, i);
        ppl = pj->type == SP_JV_NUMBER ? pj->number : NAN; /* null: not finite, not drawn */
        const char *model = str(r, "model") ? str(r, "model") : doc_model ? doc_model : path;
        const char *file = str(r, "file") ? str(r, "file") : "all files";
        char label[512];
        const char *bm = base(model), *bf = base(file);
        int lm = stem_len(bm) < 200 ? stem_len(bm) : 200, lf = stem_len(bf) < 200 ? stem_len(bf) : 200;
        snprintf(label, sizeof label, "%.*s · %.*s", lm, bm, lf, bf);
        plot_series *s = plot_series_get(&fig->ppl, label);
        if (!s || plot_series_add(s, ctx, ppl)) return oom(err);
        const sp_jv *b = sp_jv_get(r, "by_position");
        if (b && b->type == SP_JV_ARRAY) {
            int rc = add_buckets(fig, label, ctx, b, path, err);
            if (rc) return rc;
        }
    }
    return SP_OK;
}

static int add_kld(plot_figure *fig, const char *path, const sp_jv *doc, sp_error *err) {
    const sp_jv *h = sp_jv_get(doc, "kld_histogram"), *counts = sp_jv_get(h, "counts");
    double lo, hi, mean = NAN, below = 0;
    if (!counts || counts->type != SP_JV_ARRAY || !counts->n || !num(h, "lo", &lo) ||
        !num(h, "hi", &hi) || !(hi > lo))
        return sp_fail(err, SP_ERR_INPUT, "%s: kld result without a kld_histogram", path);
    if (fig->n_kld == PLOT_MAX_PANELS)
        return sp_fail(err, SP_ERR_INPUT, "more than %d kld results", PLOT_MAX_PANELS);
    num(doc, "mean_kld", &mean);
    num(h, "below", &below);
    plot_panel *p = &fig->kld[fig->n_kld++];
    const sp_jv *b = sp_jv_get(doc, "base"), *o = sp_jv_get(doc, "other");
    const char *bn = str(b, "file") ? str(b, "file") : "base", *on = str(o, "file") ? str(o, "file") : "other";
    snprintf(p->title, sizeof p->title, "KL divergence per position: %.90s → %.90s (mean %.4g nats)",
             base(bn), base(on), mean);
    p->xlabel = "KLD (nats, log scale)";
    p->ylabel = "positions";
    p->kind = PLOT_BARS;
    p->x_pow10 = 1;
    p->bar_width = (hi - lo) / (double)counts->n;
    char label[64];
    snprintf(label, sizeof label, "%.0f positions below 1e%.0f", below, lo);
    plot_series *s = plot_series_get(p, label);
    if (!s) return oom(err);
    for (size_t i = 0; i < counts->n; i++) {
        if (counts->items[i].type != SP_JV_NUMBER)
            return sp_fail(err, SP_ERR_INPUT, "%s: kld_histogram counts must be numbers", path);
        if (plot_series_add(s, lo + ((double)i + 0.5) * p->bar_width, counts->items[i].number))
            return oom(err);
    }
    return SP_OK;
}

int plot_figure_add(plot_figure *fig, const char *path, const sp_jv *doc, sp_error *err) {
    const char *cmd = str(doc, "command");
    const sp_jv *results = sp_jv_get(doc, "results");
    if (cmd && !strcmp(cmd, "kld")) return add_kld(fig, path, doc, err);
    if (results && results->type == SP_JV_ARRAY && results->n)
        return add_perplexity(fig, path, doc, err);
    return sp_fail(err, SP_ERR_INPUT, "%s: neither perplexity results (a non-empty results[]) "
                   "nor a kld result", path);
}

static void sort_series(plot_panel *p) {
    for (size_t i = 0; i < p->n; i++) { /* insertion sort by x: series are short */
        plot_series *s = &p->series[i];
        for (size_t a = 1; a < s->n; a++)
            for (size_t b = a; b > 0 && s->x[b - 1] > s->x[b]; b--) {
                double tx = s->x[b], ty = s->y[b];
                s->x[b] = s->x[b - 1], s->y[b] = s->y[b - 1];
                s->x[b - 1] = tx, s->y[b - 1] = ty;
            }
    }
}

size_t plot_figure_finish(plot_figure *fig) {
    sort_series(&fig->ppl);
    sort_series(&fig->nll);
    return (fig->ppl.n > 0) + (fig->nll.n > 0) + fig->n_kld;
}

void plot_figure_free(plot_figure *fig) {
    plot_panel_free(&fig->ppl);
    plot_panel_free(&fig->nll);
    for (size_t i = 0; i < fig->n_kld; i++) plot_panel_free(&fig->kld[i]);
}
