/* inspect_text.c — the human-readable report of `sparsa inspect`. Long values are cut, names
 * and strings from the file have their control characters escaped. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "inspect.h"

/* Up to `max` bytes of s (cut at a UTF-8 boundary) escaped, then "..." if cut. */
static void put_text_cut(FILE *out, const char *s, size_t len, size_t max) {
    if (len <= max) {
        sp_text_escape(out, s, len);
        return;
    }
    size_t cut = max;
    while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80) cut--;  /* not mid-character */
    sp_text_escape(out, s, cut);
    fputs("...", out);
}

#define VALUE_MAX 60  /* bytes of a value shown before it is cut */

static void human(FILE *out, uint64_t b) {
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 5) v /= 1024, u++;
    if (u == 0) fprintf(out, "%" PRIu64 " B", b);
    else fprintf(out, "%.1f %s", v, unit[u]);
}

static void scalar(FILE *out, const sp_meta *m) {
    switch (m->type) {
    case SP_META_U8: case SP_META_U16: case SP_META_U32: case SP_META_U64:
        fprintf(out, "%" PRIu64, m->num.u);
        break;
    case SP_META_I8: case SP_META_I16: case SP_META_I32: case SP_META_I64:
        fprintf(out, "%" PRId64, m->num.i);
        break;
    case SP_META_F32: fprintf(out, "%.9g", m->num.f); break;
    case SP_META_F64: fprintf(out, "%.17g", m->num.f); break;
    case SP_META_BOOL: fputs(m->num.u ? "true" : "false", out); break;
    case SP_META_STRING:
        fputc('"', out);
        put_text_cut(out, (const char *)m->data, (size_t)m->len, VALUE_MAX);
        fputc('"', out);
        break;
    case SP_META_BYTES:
        fprintf(out, "<%" PRIu64 " bytes:", m->len);
        for (uint64_t i = 0; i < m->len && i < 12; i++) fprintf(out, " %02x", m->data[i]);
        fputs(m->len > 12 ? " ...>" : ">", out);
        break;
    default: fputs("?", out);
    }
}

/* One metadata value, built in memory so it can be cut to about VALUE_MAX characters. */
static void value(FILE *out, const sp_meta *m) {
    if (m->type != SP_META_ARRAY) {
        scalar(out, m);
        if (m->type == SP_META_STRING && m->len > VALUE_MAX)
            fprintf(out, " (%" PRIu64 " bytes)", m->len);
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) return;
    sp_meta_iter it;
    sp_meta e;
    sp_meta_iter_init(&it, m);
    fputc('[', mem);
    uint64_t shown = 0;
    while (sp_meta_iter_next(&it, &e)) {
        fflush(mem);
        if (len > VALUE_MAX) break;
        if (shown++) fputs(", ", mem);
        scalar(mem, &e);
    }
    if (shown < m->len) fputs(", ...", mem);
    fputc(']', mem);
    fclose(mem);
    fputs(buf, out);
    free(buf);
    if (shown < m->len) fprintf(out, " (%" PRIu64 " elements)", m->len);
}

static void print_meta(FILE *out, const sp_file *f) {
    size_t n = sp_file_meta_count(f);
    fprintf(out, "metadata     %zu entr%s\n", n, n == 1 ? "y" : "ies");
    for (size_t i = 0; i < n; i++) {
        const sp_meta *m = sp_file_meta(f, i);
        fputs("  ", out);
        put_text_cut(out, m->key, m->key_len, 48);
        int w = (int)(m->key_len < 48 ? m->key_len : 51);
        fprintf(out, "%*s  ", w < 30 ? 30 - w : 0, "");
        char type[32];
        if (m->type == SP_META_ARRAY)
            snprintf(type, sizeof type, "%s[%" PRIu64 "]", sp_meta_type_name(m->elem_type), m->len);
        else snprintf(type, sizeof type, "%s", sp_meta_type_name(m->type));
        fprintf(out, "%-12s ", type);
        value(out, m);
        fputc('\n', out);
    }
}

static void print_graph(FILE *out, const inspect_facts *x) {
    const inspect_graph *g = &x->graph;
    if (!g->present) {
        fputs("graph        none\n", out);
        return;
    }
    fputs("graph        ", out);
    human(out, g->bytes);
    if (!g->parsed) {
        fputs(", cannot summarise: ", out);
        sp_text_escape(out, g->error, strlen(g->error));
        fputc('\n', out);
    } else {
        if (g->op_set >= 0) fprintf(out, ", op-set %lld", g->op_set);
        fputs(", name \"", out);
        sp_text_escape(out, g->name, strlen(g->name));
        fprintf(out, "\", %" PRIu64 " nodes\n", g->nodes);
        fputs("  ops       ", out);
        for (size_t i = 0; i < g->n_ops; i++) {
            fprintf(out, "%s ", i ? "," : "");
            sp_text_escape(out, g->ops[i].op, strlen(g->ops[i].op));
            fprintf(out, " %" PRIu64, g->ops[i].count);
        }
        if (g->other_ops) fprintf(out, ", other %" PRIu64, g->other_ops);
        fputc('\n', out);
    }
    if (x->show_graph) {
        fputs("--- graph YAML\n", out);
        /* The YAML as stored, but with control characters other than newline escaped. */
        const char *s = g->yaml, *end = g->yaml + g->bytes;
        while (s < end) {
            const char *nl = memchr(s, '\n', (size_t)(end - s));
            size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
            sp_text_escape(out, s, n);
            fputc('\n', out);
            s += n + (nl != NULL);
        }
        fputs("---\n", out);
    }
}

static void shape(FILE *out, const sp_tensor_info *t) {
    char buf[256];
    fputs(sp_shape_format(buf, sizeof buf, t->ndim, t->dims), out);
}

static void print_tensors(FILE *out, const inspect_facts *x) {
    const inspect_total *t = &x->total;
    fprintf(out, "tensors      %" PRIu64 " tensors, %" PRIu64 " parameters, ", t->tensors, t->params);
    human(out, t->raw);
    fputs(" (", out);
    human(out, t->stored);
    fputs(" stored)\n", out);
    for (int d = 1; d <= SP_BOOL; d++) {
        const inspect_total *b = &x->by_dtype[d];
        if (!b->tensors) continue;
        fprintf(out, "  %-6s %6" PRIu64 " tensors %14" PRIu64 " parameters  ",
                sp_dtype_name((sp_dtype)d), b->tensors, b->params);
        human(out, b->raw);
        fputc('\n', out);
    }
    if (!x->show_tensors) return;
    /* Two passes: format each name and shape, then print with column widths that fit. */
    size_t n = sp_file_tensor_count(x->f), wn = 4, ws = 5;
    char **names = calloc(n ? n : 1, sizeof *names), **shapes = calloc(n ? n : 1, sizeof *shapes);
    for (size_t i = 0; names && shapes && i < n; i++) {
        const sp_tensor_info *ti = sp_file_tensor(x->f, i);
        size_t l;
        FILE *m = open_memstream(&names[i], &l);
        if (!m) break;
        put_text_cut(m, ti->name, ti->name_len, 60);
        fclose(m);
        if (l > wn) wn = l;
        if (!(m = open_memstream(&shapes[i], &l))) break;
        shape(m, ti);
        fclose(m);
        if (l > ws) ws = l;
    }
    fprintf(out, "  %-*s  %-5s  %-*s %14s %14s  %s\n", (int)wn, "name", "dtype", (int)ws, "shape",
            "bytes", "stored", "compression");
    for (size_t i = 0; names && shapes && i < n; i++) {
        const sp_tensor_info *ti = sp_file_tensor(x->f, i);
        fprintf(out, "  %-*s  %-5s  %-*s %14" PRIu64 " %14" PRIu64 "  %s\n", (int)wn,
                names[i] ? names[i] : "?", sp_dtype_name(ti->dtype), (int)ws,
                shapes[i] ? shapes[i] : "?", ti->raw_size, ti->stored_size,
                ti->compression == SP_COMPRESS_ZSTD ? "zstd" : "none");
    }
    for (size_t i = 0; i < n; i++) {
        if (names) free(names[i]);
        if (shapes) free(shapes[i]);
    }
    free(names);
    free(shapes);
}

void inspect_print_text(FILE *out, const inspect_facts *x) {
    fputs("file         ", out);
    sp_text_escape(out, x->path, strlen(x->path));
    fputc('\n', out);
    inspect_summary_text(out, x);
    fputs("format       sparsa ", out);
    fprintf(out, "%u.%u, little-endian, alignment %u, ", sp_file_major(x->f),
            sp_file_minor(x->f), sp_file_alignment(x->f));
    human(out, sp_file_size(x->f));
    fprintf(out, " (%" PRIu64 " bytes)\n", sp_file_size(x->f));
    print_meta(out, x->f);
    print_graph(out, x);
    if (!x->tok.present) fputs("tokenizer    none\n", out);
    else {
        fputs("tokenizer    SentencePiece, ", out);
        human(out, x->tok.bytes);
        if (x->tok.vocab >= 0) fprintf(out, ", %lld pieces\n", x->tok.vocab);
        else fputs(", not a readable SentencePiece model\n", out);
    }
    print_tensors(out, x);
    if (x->verified) {
        if (x->verify_err.code) fputs("verify       FAILED (see the error)\n", out);
        else fprintf(out, "verify       OK: all %" PRIu64 " tensor checksums match, the graph "
                     "opens for a run%s\n", x->total.tensors,
                     x->verified_tokenizer ? ", the tokenizer fits the vocabulary" : "");
    }
}
