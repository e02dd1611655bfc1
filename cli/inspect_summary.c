/* inspect_summary.c — the hyper-parameter summary `sparsa inspect` shows first, as text lines
 * and as the JSON `summary` object: model sizes (layers, D, FFN, vocabulary, heads), the
 * attention layers grouped into runs of equal layers (one line when all agree), the training
 * and graph context lengths, the parameter count (the sum of every tensor's elements) and the
 * bytes per dtype. */
#include <inttypes.h>
#include <string.h>

#include "inspect.h"

static int same_layer(const inspect_layer *a, const inspect_layer *b) {
    return a->heads == b->heads && a->kv_heads == b->kv_heads && a->head_dim == b->head_dim &&
           a->value_dim == b->value_dim && a->window == b->window &&
           !strcmp(a->normalizer, b->normalizer) && !strcmp(a->positional, b->positional);
}

size_t inspect_layer_run(const inspect_hparams *h, size_t start) {
    size_t end = start + 1;
    while (end < h->n_layers && same_layer(&h->layers[start], &h->layers[end])) end++;
    return end;
}

/* metadata model.train_context_length, or -1 when the file does not record it. */
static long long train_context(const sp_file *f) {
    const sp_meta *m = sp_file_meta_find(f, "model.train_context_length");
    if (!m) return -1;
    if (m->type == SP_META_U8 || m->type == SP_META_U16 || m->type == SP_META_U32 ||
        m->type == SP_META_U64)
        return m->num.u <= INT64_MAX ? (long long)m->num.u : -1;
    if (m->type == SP_META_I8 || m->type == SP_META_I16 || m->type == SP_META_I32 ||
        m->type == SP_META_I64)
        return m->num.i >= 0 ? (long long)m->num.i : -1;
    return -1;
}

static void text_layers(FILE *out, const inspect_hparams *h) {
    for (size_t a = 0; a < h->n_layers;) {
        size_t b = inspect_layer_run(h, a);
        const inspect_layer *l = &h->layers[a];
        char span[48];
        if (a == 0 && b == h->n_layers) snprintf(span, sizeof span, "all %zu", h->n_layers);
        else if (b - a == 1) snprintf(span, sizeof span, "layer %zu", a);
        else snprintf(span, sizeof span, "layers %zu-%zu", a, b - 1);
        fprintf(out, "  %-10s %lld heads (kv %lld) of %lld, ", span, l->heads, l->kv_heads,
                l->head_dim);
        sp_text_escape(out, l->normalizer, strlen(l->normalizer));
        fputs(", ", out);
        sp_text_escape(out, l->positional, strlen(l->positional));
        if (l->window) fprintf(out, ", window %lld", l->window);
        fputc('\n', out);
        a = b;
    }
}

void inspect_summary_text(FILE *out, const inspect_facts *x) {
    const inspect_hparams *h = &x->hparams;
    if (!h->present) {
        fputs("model        (no graph to summarise)\n", out);
    } else {
        fprintf(out, "model        %zu attention layer%s, D %" PRIu64 ", ", h->n_layers,
                h->n_layers == 1 ? "" : "s", h->d_model);
        if (h->ffn) fprintf(out, "FFN %" PRIu64 "%s", h->ffn, h->ffn_varies ? " (largest)" : "");
        else fputs("no MLP", out);
        fprintf(out, ", vocab %" PRIu64 "\n", h->vocab);
        text_layers(out, h);
    }
    long long tc = train_context(x->f);
    fputs("context      training ", out);
    if (tc >= 0) fprintf(out, "%lld", tc);
    else fputs("not recorded", out);
    if (h->context) fprintf(out, ", graph limit %" PRIu64 "\n", h->context);
    else fputs(", graph limit none\n", out);
    fprintf(out, "parameters   %" PRIu64 " (", x->total.params);
    int first = 1;
    for (int d = 1; d <= SP_BOOL; d++) {
        if (!x->by_dtype[d].tensors) continue;
        fprintf(out, "%s%s %" PRIu64 " B", first ? "" : ", ", sp_dtype_name((sp_dtype)d),
                x->by_dtype[d].raw);
        first = 0;
    }
    fputs(")\n", out);
}

static void json_layers(FILE *out, const inspect_hparams *h) {
    fputs(",\"attention\":[", out);
    for (size_t a = 0; a < h->n_layers;) {
        size_t b = inspect_layer_run(h, a);
        const inspect_layer *l = &h->layers[a];
        fprintf(out, "%s{\"first_layer\":%zu,\"last_layer\":%zu,\"heads\":%lld,\"kv_heads\":%lld,"
                "\"head_dim\":%lld,\"value_dim\":%lld,\"window\":%lld,\"normalizer\":",
                a ? "," : "", a, b - 1, l->heads, l->kv_heads, l->head_dim, l->value_dim,
                l->window);
        sp_json_escape(out, l->normalizer, strlen(l->normalizer));
        fputs(",\"positional\":", out);
        sp_json_escape(out, l->positional, strlen(l->positional));
        fputc('}', out);
        a = b;
    }
    fputc(']', out);
}

void inspect_summary_json(FILE *out, const inspect_facts *x) {
    const inspect_hparams *h = &x->hparams;
    fputc('{', out);
    if (h->present) {
        const inspect_layer *l0 = h->n_layers ? &h->layers[0] : NULL;
        fprintf(out, "\"layers\":%zu,\"d_model\":%" PRIu64 ",\"ffn\":%" PRIu64 ",\"ffn_varies\":%s,"
                "\"vocab\":%" PRIu64 ",", h->n_layers, h->d_model, h->ffn,
                h->ffn_varies ? "true" : "false", h->vocab);
        if (l0) fprintf(out, "\"heads\":%lld,\"kv_heads\":%lld,\"head_dim\":%lld,", l0->heads,
                        l0->kv_heads, l0->head_dim);
        else fputs("\"heads\":null,\"kv_heads\":null,\"head_dim\":null,", out);
        fprintf(out, "\"context_length\":%" PRIu64 ",", h->context);
    }
    long long tc = train_context(x->f);
    if (tc >= 0) fprintf(out, "\"train_context_length\":%lld", tc);
    else fputs("\"train_context_length\":null", out);
    fprintf(out, ",\"parameters\":%" PRIu64 ",\"bytes_by_dtype\":{", x->total.params);
    int first = 1;
    for (int d = 1; d <= SP_BOOL; d++) {
        if (!x->by_dtype[d].tensors) continue;
        fprintf(out, "%s\"%s\":%" PRIu64, first ? "" : ",", sp_dtype_name((sp_dtype)d),
                x->by_dtype[d].raw);
        first = 0;
    }
    fputc('}', out);
    if (h->present) json_layers(out, h);
    fputc('}', out);
}
