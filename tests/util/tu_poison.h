/* tu_poison.h — models that compute non-finite values: a copy of a model file with NaN written
 * over some elements of one uncompressed tensor, its CRC-32 and the tensor directory's checksum
 * recomputed, so the copy opens and verifies and only running it shows the NaN; and a rewrite
 * of a tied-embedding model with its own lm_head, so a NaN embedding row poisons only the
 * positions that hold that token (and those after it), not every logit. */
#ifndef SPARSA_TEST_POISON_H
#define SPARSA_TEST_POISON_H

#include <stdint.h>

#include "tu_hostile.h"

/* One NaN in the tensor's storage type (quiet NaN of f32, f16 or bf16). */
static inline int tu_nan_bytes(sp_dtype dt, uint8_t out[4]) {
    uint32_t f32 = 0x7fc00000u;
    uint16_t half = dt == SP_F16 ? 0x7e00u : 0x7fc0u;
    if (dt == SP_F32) memcpy(out, &f32, 4);
    else if (dt == SP_F16 || dt == SP_BF16) memcpy(out, &half, 2);
    else return -1;
    return 0;
}

/* Copies src to dst with elements [first, first + count) of tensor `name` set to NaN. Returns
 * 0, or -1 (message on stderr) when the tensor is missing, compressed or not a float type. */
static inline int tu_poison_model(const char *src, const char *dst, const char *name,
                                  uint64_t first, uint64_t count) {
    himg im = {0};
    im.b = tu_read_file(src, &im.n);
    sp_file *f = NULL;
    sp_error err = {0};
    if (!im.b || sp_file_open(src, &f, &err)) {
        fprintf(stderr, "poison: cannot open %s: %s\n", src, err.msg);
        free(im.b);
        return -1;
    }
    size_t idx = SIZE_MAX;
    sp_tensor_info t = {0};
    for (size_t i = 0; i < sp_file_tensor_count(f) && idx == SIZE_MAX; i++) {
        const sp_tensor_info *ti = sp_file_tensor(f, i);
        if (ti->name_len == strlen(name) && !memcmp(ti->name, name, ti->name_len)) {
            idx = i;
            t = *ti;
        }
    }
    sp_file_close(f);
    uint8_t nan[4];
    size_t es = sp_dtype_size(t.dtype);
    if (idx == SIZE_MAX || t.compression != SP_COMPRESS_NONE || tu_nan_bytes(t.dtype, nan) ||
        first + count > t.numel || tu_img_data_at(&im, idx) != t.offset) {
        fprintf(stderr, "poison: %s in %s is missing, compressed or not float\n", name, src);
        free(im.b);
        return -1;
    }
    for (uint64_t k = first; k < first + count; k++) memcpy(im.b + t.offset + k * es, nan, es);
    tu_img_wr32(im.b + tu_img_dir(&im, idx).crc,
                sp_crc32(0, im.b + t.offset, (size_t)t.stored_size));
    tu_img_fix_section(&im, 4);
    FILE *out = fopen(dst, "wb");
    int rc = out && fwrite(im.b, 1, im.n, out) == im.n ? 0 : -1;
    if (out && fclose(out)) rc = -1;
    free(im.b);
    return rc;
}

/* Rewrites src (a model whose lm_head reuses the embedding "E", uncompressed) to dst with a
 * separate "lm_head.weight" (a clean copy of E) and E's row `token` set to NaN. The graph,
 * tokenizer and every other tensor are copied; metadata is not (no run here needs it). */
static inline int tu_untie_and_poison_row(const char *src, const char *dst, const char *E,
                                          int32_t token) {
    sp_file *f = NULL;
    sp_writer *w = NULL;
    sp_error err = {0};
    if (sp_file_open(src, &f, &err) || sp_writer_create(dst, 1, &err, &w)) {
        fprintf(stderr, "untie: %s\n", err.msg);
        if (f) sp_file_close(f);
        return -1;
    }
    size_t glen = 0, tlen = 0;
    const char *g = sp_file_graph(f, &glen);
    const void *tok = sp_file_tokenizer(f, &tlen);
    char *graph = malloc(glen + 64), *lm = NULL;
    memcpy(graph, g, glen);
    graph[glen] = 0;
    char needle[200];
    snprintf(needle, sizeof needle, "name: lm_head, in: [x], out: logits, weight: \"%s\"", E);
    if ((lm = strstr(graph, needle))) strcpy(lm + strlen(needle) - strlen(E) - 1, "lm_head.weight\"}\n");
    int rc = lm ? 0 : -1;
    if (!rc) rc = sp_writer_set_graph(w, graph, strlen(graph)) | sp_writer_set_tokenizer(w, tok, tlen);
    for (size_t i = 0; !rc && i < sp_file_tensor_count(f); i++) {
        const sp_tensor_info *t = sp_file_tensor(f, i);
        const void *data = NULL;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name_len, t->name);
        rc = sp_file_tensor_data(f, t, &data, &err);
        if (rc || strcmp(name, E)) {
            if (!rc) rc = sp_writer_add_tensor(w, name, t->dtype, t->ndim, t->dims, data,
                                               SP_COMPRESS_NONE, 0);
            continue;
        }
        uint8_t *copy = malloc((size_t)t->raw_size), nan[4];
        size_t row = (size_t)t->dims[1] * sp_dtype_size(t->dtype);
        memcpy(copy, data, (size_t)t->raw_size);
        rc = tu_nan_bytes(t->dtype, nan) | sp_writer_add_tensor(w, "lm_head.weight", t->dtype,
                                                               t->ndim, t->dims, data,
                                                               SP_COMPRESS_NONE, 0);
        for (size_t k = 0; k < (size_t)t->dims[1]; k++)
            memcpy(copy + (size_t)token * row + k * sp_dtype_size(t->dtype), nan,
                   sp_dtype_size(t->dtype));
        if (!rc) rc = sp_writer_add_tensor(w, name, t->dtype, t->ndim, t->dims, copy,
                                           SP_COMPRESS_NONE, 0);
        free(copy);
    }
    free(graph);
    sp_file_close(f);
    if (rc) {
        sp_writer_abort(w);
        return -1;
    }
    return sp_writer_finish(w, &err) ? -1 : 0;
}

#endif
