/* convert_stream.c — moving one tensor from the checkpoint into the writer: chunk by chunk,
 * without a copy when the source is contiguous and already in the output dtype, else gathered
 * (strided views) and/or converted through the chunk buffers; the source pages are dropped as
 * soon as each chunk is written. */
#include <stdlib.h>
#include <string.h>

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

int conv_write_tensor(sp_writer *w, const sp_ckpt *c, const sp_map_tensor *mt, const sp_convert_options *o,
                      chunk_bufs *b, sp_error *err) {
    const sp_src_tensor *t = mt->src;
    sp_dtype od = sp_out_dtype_of(t, o->dtype);
    if (sp_writer_begin_tensor(w, mt->name, od, t->ndim, t->shape, o->compression, o->zstd_level))
        return writer_fail(w, err);
    for (uint64_t first = 0; first < t->numel; first += CONV_CHUNK_ELEMS) {
        uint64_t n = t->numel - first < CONV_CHUNK_ELEMS ? t->numel - first : CONV_CHUNK_ELEMS;
        const void *data = od == t->dtype ? sp_ckpt_view(c, t, first, n) : NULL;
        if (!data) {
            const void *src = sp_ckpt_view(c, t, first, n);
            if (!src) {
                if (sp_ckpt_read(c, t, first, n, b->sbuf, err)) return err->code;
                src = b->sbuf;
            }
            conv_convert_elems(src, t->dtype, b->obuf, od, (size_t)n);
            data = b->obuf;
        }
        if (sp_writer_tensor_data(w, data, (size_t)n * sp_dtype_size(od))) return writer_fail(w, err);
        sp_ckpt_release_elems(c, t, first, n);
    }
    if (sp_writer_end_tensor(w)) return writer_fail(w, err);
    sp_ckpt_release(c, t);
    return 0;
}
