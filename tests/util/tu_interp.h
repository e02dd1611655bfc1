/* tu_interp.h — helpers for the interpreter tests: write small model files with the
 * sparsa writer (from a YAML string and tensor specs, or from the fixtures made by
 * tests/reference/interp_smoke.py) and collect logits through the sink. */
#ifndef SPARSA_TEST_INTERP_UTIL_H
#define SPARSA_TEST_INTERP_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sparsa_format.h"
#include "sparsa_interp.h"
#include "tu.h"

/* A unique temporary path (caller frees and removes). */
static inline char *tu_tmp_path(const char *tag) {
    static int counter;
    char *p = malloc(256);
    snprintf(p, 256, "/tmp/sparsa_interp_%s_%ld_%d.sparsa", tag, (long)getpid(), counter++);
    return p;
}

/* Fills n floats with a fixed pseudo-random pattern in [-amp, amp) plus mean. */
static inline void tu_fill(float *v, size_t n, uint32_t seed, float amp, float mean) {
    uint32_t s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = mean + amp * ((float)(s >> 8) / 8388608.0f - 1.0f);
    }
}

/* Writes one tensor of f32 values, stored as dtype (f32, f16, bf16, or others raw-zeroed). */
static inline int tu_add_tensor(sp_writer *w, const char *name, sp_dtype dt, uint32_t ndim,
                                const uint64_t *dims, const float *vals) {
    uint64_t n = 1;
    for (uint32_t d = 0; d < ndim; d++) n *= dims[d];
    size_t es = sp_dtype_size(dt);
    uint8_t *buf = calloc(n ? n : 1, es ? es : 1);
    for (uint64_t i = 0; i < n; i++) {
        if (dt == SP_F32) memcpy(buf + 4 * i, &vals[i], 4);
        else if (dt == SP_F16) { uint16_t h = sp_f32_to_f16(vals[i]); memcpy(buf + 2 * i, &h, 2); }
        else if (dt == SP_BF16) { uint16_t h = sp_f32_to_bf16(vals[i]); memcpy(buf + 2 * i, &h, 2); }
    }
    int rc = sp_writer_add_tensor(w, name, dt, ndim, dims, buf, SP_COMPRESS_NONE, 0);
    free(buf);
    return rc;
}

/* Tensor spec for hand-written models: name, dtype, dims (ndim 1 or 2). */
typedef struct {
    const char *name;
    sp_dtype dtype;
    uint32_t ndim;
    uint64_t dims[2];
} tu_tensor;

/* Writes a model file with graph `yaml` and the listed tensors (pseudo-random values). */
static inline int tu_write_model(const char *path, const char *yaml, const tu_tensor *ts, size_t nt) {
    sp_error err = {0};
    sp_writer *w = NULL;
    if (sp_writer_create(path, 1, &err, &w)) return -1;
    sp_writer_set_graph(w, yaml, strlen(yaml));
    for (size_t i = 0; i < nt; i++) {
        uint64_t n = ts[i].ndim == 2 ? ts[i].dims[0] * ts[i].dims[1] : ts[i].dims[0];
        float *v = malloc((n ? n : 1) * sizeof *v);
        tu_fill(v, n, (uint32_t)i + 1, 0.5f, 0.0f);
        tu_add_tensor(w, ts[i].name, ts[i].dtype, ts[i].ndim, ts[i].dims, v);
        free(v);
    }
    return sp_writer_finish(w, &err) ? -1 : 0;
}

/* Builds tests/fixtures/interp/NAME.* into a model file at path, storing weights as dt. */
static inline int tu_write_fixture_model(const char *name, sp_dtype dt, const char *path) {
    char p[512];
    snprintf(p, sizeof p, "tests/fixtures/interp/%s.yaml", name);
    size_t ylen = 0, wlen = 0;
    char *yaml = tu_read_file(p, &ylen);
    snprintf(p, sizeof p, "tests/fixtures/interp/%s.weights", name);
    float *weights = tu_read_file(p, &wlen);
    snprintf(p, sizeof p, "tests/fixtures/interp/%s.manifest", name);
    FILE *mf = fopen(p, "r");
    if (!yaml || !weights || !mf) {
        free(yaml);
        free(weights);
        if (mf) fclose(mf);
        return -1;
    }
    sp_error err = {0};
    sp_writer *w = NULL;
    int rc = sp_writer_create(path, 1, &err, &w);
    if (!rc) rc = sp_writer_set_graph(w, yaml, ylen);
    char line[512];
    size_t off = 0;
    while (!rc && fgets(line, sizeof line, mf)) {
        char tname[256];
        unsigned long long d0 = 0, d1 = 0;
        int k = sscanf(line, "%255s %llu %llu", tname, &d0, &d1);
        if (k < 2) continue;
        uint64_t dims[2] = {d0, d1};
        uint32_t ndim = k == 3 ? 2 : 1;
        size_t n = (size_t)(ndim == 2 ? d0 * d1 : d0);
        if ((off + n) * 4 > wlen) { rc = -1; break; }
        rc = tu_add_tensor(w, tname, dt, ndim, dims, weights + off);
        off += n;
    }
    fclose(mf);
    free(yaml);
    free(weights);
    if (rc) {
        if (w) sp_writer_abort(w);
        return -1;
    }
    return sp_writer_finish(w, &err) ? -1 : 0;
}

/* Reads "5,17,3" ids from a file. */
static inline int32_t *tu_read_tokens(const char *path, size_t *n) {
    char *s = tu_read_text(path);
    if (!s) return NULL;
    size_t cap = 1;
    for (char *c = s; *c; c++) cap += *c == ',';
    int32_t *ids = malloc(cap * sizeof *ids);
    size_t k = 0;
    char *p = s;
    while (*p && k < cap) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        ids[k++] = (int32_t)v;
        p = end;
        while (*p == ',' || *p == '\n' || *p == ' ') p++;
    }
    free(s);
    *n = k;
    return ids;
}

/* The ids of tests/fixtures/interp/NAME.tokens; the test fails when they cannot be read. */
static inline int32_t *tu_fixture_tokens(const char *name, size_t *n) {
    char p[512];
    snprintf(p, sizeof p, "tests/fixtures/interp/%s.tokens", name);
    int32_t *t = tu_read_tokens(p, n);
    cr_assert(t && *n > 0, "cannot read %s", p);
    return t;
}

/* Sink that stores rows into a [rows][vocab] array at row offset base + first_row. */
typedef struct {
    float *dst;
    size_t vocab, base, rows_seen;
} tu_collect;

static inline int tu_collect_sink(void *user, size_t first_row, size_t n_rows, const float *logits) {
    tu_collect *c = user;
    memcpy(c->dst + (c->base + first_row) * c->vocab, logits, n_rows * c->vocab * sizeof(float));
    c->rows_seen += n_rows;
    return 0;
}

/* Runs tokens through a fresh session in one forward (chunk = 0) or in chunks of `chunk`
 * tokens; returns malloc'd [n][vocab] logits or NULL. */
static inline float *tu_logits(sp_model *m, const int32_t *tok, size_t n, size_t chunk,
                               int threads) {
    size_t vocab = (size_t)sp_model_vocab_size(m);
    sp_session *s = NULL;
    sp_error err = {0};
    if (sp_session_create(m, n, threads, &s, &err)) return NULL;
    float *out = calloc(n * vocab, sizeof *out);
    tu_collect c = {out, vocab, 0, 0};
    if (!chunk) chunk = n;
    for (size_t p = 0; p < n; p += chunk) {
        size_t k = n - p < chunk ? n - p : chunk;
        c.base = p;
        if (sp_session_forward(s, tok + p, k, 0, tu_collect_sink, &c, &err)) {
            free(out);
            out = NULL;
            break;
        }
    }
    sp_session_free(s);
    if (out && c.rows_seen != n) {
        free(out);
        out = NULL;
    }
    return out;
}

#endif
