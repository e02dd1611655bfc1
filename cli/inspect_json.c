/* inspect_json.c — `sparsa inspect --json`: one JSON document with the facts of the text
 * report. Strings are escaped; NaN and infinities (not JSON numbers) become strings. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "inspect.h"

#define JSON_ARRAY_MAX 4096  /* array elements listed before "truncated": true */

static void str(FILE *out, const char *s) { sp_json_escape(out, s, strlen(s)); }

static void num_f(FILE *out, double v, int f32) {
    if (isnan(v)) fputs("\"nan\"", out);
    else if (isinf(v)) fputs(v > 0 ? "\"inf\"" : "\"-inf\"", out);
    else fprintf(out, f32 ? "%.9g" : "%.17g", v);
}

static void scalar(FILE *out, const sp_meta *m) {
    switch (m->type) {
    case SP_META_U8: case SP_META_U16: case SP_META_U32: case SP_META_U64:
        fprintf(out, "%" PRIu64, m->num.u);
        break;
    case SP_META_I8: case SP_META_I16: case SP_META_I32: case SP_META_I64:
        fprintf(out, "%" PRId64, m->num.i);
        break;
    case SP_META_F32: num_f(out, m->num.f, 1); break;
    case SP_META_F64: num_f(out, m->num.f, 0); break;
    case SP_META_BOOL: fputs(m->num.u ? "true" : "false", out); break;
    case SP_META_STRING: sp_json_escape(out, (const char *)m->data, (size_t)m->len); break;
    case SP_META_BYTES:  /* hex */
        fputc('"', out);
        for (uint64_t i = 0; i < m->len; i++) fprintf(out, "%02x", m->data[i]);
        fputc('"', out);
        break;
    default: fputs("null", out);
    }
}

static void meta(FILE *out, const sp_file *f) {
    fputs("\"metadata\":[", out);
    for (size_t i = 0; i < sp_file_meta_count(f); i++) {
        const sp_meta *m = sp_file_meta(f, i);
        fputs(i ? ",{\"key\":" : "{\"key\":", out);
        sp_json_escape(out, m->key, m->key_len);
        fputs(",\"type\":", out);
        str(out, sp_meta_type_name(m->type));
        if (m->type == SP_META_ARRAY) {
            fputs(",\"elem_type\":", out);
            str(out, sp_meta_type_name(m->elem_type));
            fprintf(out, ",\"count\":%" PRIu64 ",\"value\":[", m->len);
            sp_meta_iter it;
            sp_meta e;
            sp_meta_iter_init(&it, m);
            uint64_t k = 0;
            while (k < JSON_ARRAY_MAX && sp_meta_iter_next(&it, &e)) {
                if (k++) fputc(',', out);
                scalar(out, &e);
            }
            fputc(']', out);
            if (m->len > JSON_ARRAY_MAX) fputs(",\"truncated\":true", out);
        } else {
            fputs(",\"value\":", out);
            scalar(out, m);
        }
        fputc('}', out);
    }
    fputc(']', out);
}

static void graph(FILE *out, const inspect_facts *x) {
    const inspect_graph *g = &x->graph;
    fputs("\"graph\":", out);
    if (!g->present) {
        fputs("null", out);
        return;
    }
    fprintf(out, "{\"bytes\":%zu", g->bytes);
    if (g->parsed) {
        fputs(",\"op_set\":", out);
        if (g->op_set >= 0) fprintf(out, "%lld", g->op_set);
        else fputs("null", out);
        fputs(",\"name\":", out);
        str(out, g->name);
        fprintf(out, ",\"nodes\":%" PRIu64 ",\"ops\":{", g->nodes);
        for (size_t i = 0; i < g->n_ops; i++) {
            if (i) fputc(',', out);
            str(out, g->ops[i].op);
            fprintf(out, ":%" PRIu64, g->ops[i].count);
        }
        fputc('}', out);
        if (g->other_ops) fprintf(out, ",\"other_ops\":%" PRIu64, g->other_ops);
    } else {
        fputs(",\"error\":", out);
        str(out, g->error);
    }
    if (x->show_graph) {
        fputs(",\"yaml\":", out);
        sp_json_escape(out, g->yaml, g->bytes);
    }
    fputc('}', out);
}

static void totals(FILE *out, const inspect_total *t) {
    fprintf(out, "\"tensors\":%" PRIu64 ",\"parameters\":%" PRIu64 ",\"bytes\":%" PRIu64
            ",\"stored_bytes\":%" PRIu64, t->tensors, t->params, t->raw, t->stored);
}

static void tensors(FILE *out, const inspect_facts *x) {
    fputs("\"tensors\":{", out);
    totals(out, &x->total);
    fputs(",\"by_dtype\":{", out);
    int first = 1;
    for (int d = 1; d <= SP_BOOL; d++) {
        if (!x->by_dtype[d].tensors) continue;
        if (!first) fputc(',', out);
        first = 0;
        str(out, sp_dtype_name((sp_dtype)d));
        fputs(":{", out);
        totals(out, &x->by_dtype[d]);
        fputc('}', out);
    }
    fputc('}', out);
    if (x->show_tensors) {
        fputs(",\"list\":[", out);
        for (size_t i = 0; i < sp_file_tensor_count(x->f); i++) {
            const sp_tensor_info *t = sp_file_tensor(x->f, i);
            fputs(i ? ",{\"name\":" : "{\"name\":", out);
            sp_json_escape(out, t->name, t->name_len);
            fputs(",\"dtype\":", out);
            str(out, sp_dtype_name(t->dtype));
            fputs(",\"shape\":[", out);
            for (uint32_t d = 0; d < t->ndim; d++)
                fprintf(out, "%s%" PRIu64, d ? "," : "", t->dims[d]);
            fprintf(out, "],\"bytes\":%" PRIu64 ",\"stored_bytes\":%" PRIu64
                    ",\"compression\":\"%s\",\"offset\":%" PRIu64 ",\"crc32\":\"%08x\"}",
                    t->raw_size, t->stored_size,
                    t->compression == SP_COMPRESS_ZSTD ? "zstd" : "none", t->offset, t->crc32);
        }
        fputc(']', out);
    }
    fputc('}', out);
}

void inspect_print_json(FILE *out, const inspect_facts *x) {
    fputs("{\"file\":", out);
    str(out, x->path);
    fputs(",\"summary\":", out);
    inspect_summary_json(out, x);
    fprintf(out, ",\"format\":{\"major\":%u,\"minor\":%u,\"byte_order\":\"little\","
            "\"alignment\":%u,\"file_size\":%" PRIu64 "},", sp_file_major(x->f),
            sp_file_minor(x->f), sp_file_alignment(x->f), sp_file_size(x->f));
    meta(out, x->f);
    fputc(',', out);
    graph(out, x);
    fputs(",\"tokenizer\":", out);
    if (!x->tok.present) fputs("null", out);
    else {
        fprintf(out, "{\"kind\":\"sentencepiece\",\"bytes\":%zu,\"vocab_size\":", x->tok.bytes);
        if (x->tok.vocab >= 0) fprintf(out, "%lld}", x->tok.vocab);
        else fputs("null}", out);
    }
    fputc(',', out);
    tensors(out, x);
    if (x->verified) {
        fprintf(out, ",\"verify\":{\"ok\":%s", x->verify_err.code ? "false" : "true");
        if (x->verify_err.code) {
            fputs(",\"error\":", out);
            str(out, x->verify_err.msg);
        }
        fputc('}', out);
    }
    fputs("}\n", out);
}
