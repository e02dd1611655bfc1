/* convert_stream.c — moving one tensor from the checkpoint into the writer: chunk by chunk,
 * read from the file into the chunk buffer when the source is contiguous (pread: the mapping's
 * pages are never touched, so there is nothing to fault in, drop and shoot down on the core the
 * hash runs on), else gathered through the mapping (strided views, whose pages are dropped once
 * the tensor is written), and converted when the output dtype differs. Each chunk is checked
 * for NaN/Inf as it will be written (a finite value that overflows f16 counts too), unless
 * --allow-nonfinite, and its CRC-32 is taken for the self-check, while it is in cache. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert_internal.h"
#include "out_dtype.h"

int conv_alloc_bufs(chunk_bufs *b) {
    b->sbuf = malloc((size_t)CONV_CHUNK_ELEMS * 8);
    b->obuf = malloc((size_t)CONV_CHUNK_ELEMS * 8);
    b->fbuf = malloc((size_t)CONV_CHUNK_ELEMS * 8);
    return b->sbuf && b->obuf && b->fbuf;
}

void conv_free_bufs(chunk_bufs *b) {
    free(b->sbuf);
    free(b->obuf);
    free(b->fbuf);
}

static float to_f32(const uint8_t *p, sp_dtype d) {
    uint16_t h;
    float f;
    double x;
    switch (d) {
    case SP_F16: memcpy(&h, p, 2); return sp_f16_to_f32(h);
    case SP_BF16: memcpy(&h, p, 2); return sp_bf16_to_f32(h);
    case SP_F64: memcpy(&x, p, 8); return (float)x;
    default: memcpy(&f, p, 4); return f;
    }
}

void conv_convert_elems(const void *src, sp_dtype s, void *dst, sp_dtype d, size_t n) {
    if (s == d) {
        memcpy(dst, src, n * sp_dtype_size(d));
        return;
    }
    const uint8_t *p = src;
    size_t ss = sp_dtype_size(s);
    if (d == SP_F32) {
        float *o = dst;
        for (size_t i = 0; i < n; i++) o[i] = to_f32(p + i * ss, s);
    } else {
        uint16_t *o = dst;
        for (size_t i = 0; i < n; i++) {
            float f = to_f32(p + i * ss, s);
            o[i] = d == SP_F16 ? sp_f32_to_f16(f) : sp_f32_to_bf16(f);
        }
    }
}

static int writer_fail(sp_writer *w, sp_error *err) {
    return sp_fail(err, sp_writer_error(w)->code, "%s", sp_writer_error(w)->msg);
}

/* 1 if the element at p is NaN or +-Inf: its exponent bits are all ones, in every float
 * format; integer dtypes are always finite. */
static int elem_nonfinite(const uint8_t *p, sp_dtype d) {
    uint16_t h;
    uint32_t u;
    uint64_t x;
    switch (d) {
    case SP_F16: memcpy(&h, p, 2); return (h & 0x7c00u) == 0x7c00u;
    case SP_BF16: memcpy(&h, p, 2); return (h & 0x7f80u) == 0x7f80u;
    case SP_F32: memcpy(&u, p, 4); return (u & 0x7f800000u) == 0x7f800000u;
    case SP_F64: memcpy(&x, p, 8); return (x & 0x7ff0000000000000ull) == 0x7ff0000000000000ull;
    default: return 0;
    }
}

/* 1 if any of n elements is NaN/Inf: the largest magnitude bit pattern reaches the all-ones
 * exponent. A max over plain integers, one loop per width, vectorised (omp simd). */
static int any_nonfinite(const uint8_t *p, sp_dtype d, size_t n) {
    if (d == SP_F32) {
        uint32_t top = 0;
#pragma omp simd reduction(max : top)
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, p + 4 * i, 4);
            u &= 0x7fffffffu;
            top = u > top ? u : top;
        }
        return top >= 0x7f800000u;
    }
    if (d == SP_F64) {
        uint64_t top = 0;
#pragma omp simd reduction(max : top)
        for (size_t i = 0; i < n; i++) {
            uint64_t u;
            memcpy(&u, p + 8 * i, 8);
            u &= 0x7fffffffffffffffull;
            top = u > top ? u : top;
        }
        return top >= 0x7ff0000000000000ull;
    }
    uint16_t top = 0, inf = d == SP_F16 ? 0x7c00u : 0x7f80u;
#pragma omp simd reduction(max : top)
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        h &= 0x7fffu;
        top = h > top ? h : top;
    }
    return top >= inf;
}

/* The index of the first NaN/Inf among n elements, or n when all are finite. Blocks are
 * scanned without an early exit; only a block holding a bad value is walked again to find it. */
static size_t first_nonfinite(const void *data, sp_dtype d, size_t n) {
    if (!sp_dtype_is_floating(d)) return n;
    const uint8_t *p = data;
    size_t es = sp_dtype_size(d);
    enum { BLOCK = 4096 };
    for (size_t at = 0; at < n; at += BLOCK) {
        size_t len = n - at < BLOCK ? n - at : BLOCK;
        if (!any_nonfinite(p + at * es, d, len)) continue;
        for (size_t i = at; i < at + len; i++)
            if (elem_nonfinite(p + i * es, d)) return i;
    }
    return n;
}

/* "hf-llama.pt: tensor 'x' holds NaN at element 12 (index [0, 12]) ...": the value as the
 * checkpoint holds it, or, when the source value was finite, that the output dtype cannot. */
static int nonfinite_error(const sp_ckpt *c, const sp_src_tensor *t, uint64_t flat, const uint8_t *src,
                           const uint8_t *out, sp_dtype od, sp_error *err) {
    uint64_t idx[SP_MAX_DIMS] = {0}, rest = flat;
    for (uint32_t k = t->ndim; k-- > 0;) {
        idx[k] = t->shape[k] ? rest % t->shape[k] : 0;
        rest = t->shape[k] ? rest / t->shape[k] : 0;
    }
    char where[256];
    sp_shape_format(where, sizeof where, t->ndim, idx);
    float v = to_f32(out, od);
    const char *what = isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
    if (elem_nonfinite(src, t->dtype))
        return sp_fail(err, SP_ERR_INPUT,
                       "%s: tensor '%.200s' holds %s at element %llu (index %s); refusing non-finite weights "
                       "(--allow-nonfinite converts them anyway)",
                       c->files[t->file].display, t->name, what, (unsigned long long)flat, where);
    return sp_fail(err, SP_ERR_INPUT,
                   "%s: tensor '%.200s' element %llu (index %s) becomes %s in %s (too large for it); "
                   "choose another --dtype, or --allow-nonfinite",
                   c->files[t->file].display, t->name, (unsigned long long)flat, where, what, sp_dtype_name(od));
}

/* Elements [first, first + n) of the tensor, in its dtype, into buf: read from the file for a
 * contiguous view, else gathered through the mapping. */
static int read_source(const sp_ckpt *c, const sp_src_tensor *t, uint64_t first, uint64_t n, uint8_t *buf,
                       sp_error *err) {
    if (!sp_ckpt_view(c, t, first, n)) return sp_ckpt_read(c, t, first, n, buf, err);
    const sp_src_file *f = &c->files[t->file];
    size_t bytes = (size_t)n * sp_dtype_size(t->dtype), have = 0;
    uint64_t at = t->base + first * sp_dtype_size(t->dtype);
    while (have < bytes) {
        ssize_t k = pread(f->fd, buf + have, bytes - have, (off_t)(at + have));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return sp_fail(err, SP_ERR_RUNTIME, "%s: cannot read tensor '%.200s': %s", f->display, t->name,
                           k < 0 ? strerror(errno) : "the file is shorter than it was");
        have += (size_t)k;
    }
    return 0;
}

int conv_write_tensor(sp_writer *w, const sp_ckpt *c, const sp_map_tensor *mt, const sp_convert_options *o,
                      chunk_bufs *b, uint32_t *crc, sp_error *err) {
    const sp_src_tensor *t = mt->src;
    *crc = 0;
    sp_dtype od = sp_out_dtype_of(t, o->dtype);
    if (sp_writer_begin_tensor(w, mt->name, od, t->ndim, t->shape, o->compression, o->zstd_level))
        return writer_fail(w, err);
    for (uint64_t first = 0; first < t->numel; first += CONV_CHUNK_ELEMS) {
        uint64_t n = t->numel - first < CONV_CHUNK_ELEMS ? t->numel - first : CONV_CHUNK_ELEMS;
        const uint8_t *src = b->sbuf;
        if (read_source(c, t, first, n, b->sbuf, err)) return err->code;
        const void *data = src;
        if (od != t->dtype) {
            conv_convert_elems(src, t->dtype, b->obuf, od, (size_t)n);
            data = b->obuf;
        }
        /* checked as written, in the chunk already in cache: no second pass over the data */
        size_t bad = o->allow_nonfinite ? (size_t)n : first_nonfinite(data, od, (size_t)n);
        if (bad < n)
            return nonfinite_error(c, t, first + bad, src + bad * sp_dtype_size(t->dtype),
                                   (const uint8_t *)data + bad * sp_dtype_size(od), od, err);
        *crc = sp_crc32(*crc, data, (size_t)n * sp_dtype_size(od));
        if (sp_writer_tensor_data(w, data, (size_t)n * sp_dtype_size(od))) return writer_fail(w, err);
    }
    if (sp_writer_end_tensor(w)) return writer_fail(w, err);
    sp_ckpt_release(c, t);
    return 0;
}
