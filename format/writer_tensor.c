/* writer_tensor.c — streaming one tensor into TENSOR_DATA (SPEC.md §7): aligned start, CRC of
 * the stored bytes, optional zstd (one frame, content size pledged so the header declares it),
 * then its directory entry. Memory use is independent of the tensor's size. */
#include "writer_internal.h"

int sp_writer_begin_tensor(sp_writer *w, const char *name, sp_dtype dtype, uint32_t ndim,
                           const uint64_t *dims, sp_compression compression, int zstd_level) {
    if (w->err.code) return w->err.code;
    if (w->tail_at)  /* the draft's sections follow the last tensor */
        return sp_writer_fail(w, SP_ERR_INPUT, "tensor '%s' begun after the draft",
                              name ? name : "");
    if (w->in_tensor)
        return sp_writer_fail(w, SP_ERR_INPUT, "tensor '%s' begun before the last one ended",
                              name ? name : "");
    if (!name || !sp_name_valid((const uint8_t *)name, strlen(name)))
        return sp_writer_fail(w, SP_ERR_INPUT, "tensor name is not 1..4096 bytes of UTF-8");
    if (!sp_dtype_size(dtype))
        return sp_writer_fail(w, SP_ERR_INPUT, "tensor '%s': invalid dtype %d", name, (int)dtype);
    if (ndim > SP_MAX_DIMS || (ndim && !dims))
        return sp_writer_fail(w, SP_ERR_INPUT, "tensor '%s': %u dims, at most %d", name, ndim,
                              SP_MAX_DIMS);
    if (compression != SP_COMPRESS_NONE && compression != SP_COMPRESS_ZSTD)
        return sp_writer_fail(w, SP_ERR_INPUT, "tensor '%s': unknown compression %d", name,
                              (int)compression);
    uint64_t numel;
    if (sp_shape_bytes(dtype, ndim, dims, &numel, &w->raw_size))
        return sp_writer_fail(w, SP_ERR_INPUT, "tensor '%s': size overflows 2^63 bytes", name);
    int added = sp_nameset_add(&w->names, name);
    if (added < 0) return sp_writer_fail(w, SP_ERR_RUNTIME, "out of memory");
    if (!added) return sp_writer_fail(w, SP_ERR_INPUT, "duplicate tensor name '%s'", name);

    /* An empty tensor is never compressed: SPEC.md §7. */
    w->comp = w->raw_size ? compression : SP_COMPRESS_NONE;
    uint64_t rel = w->pos - w->data_start;
    rel = (rel + w->alignment - 1) / w->alignment * w->alignment;
    if (sp_writer_pad(w, w->data_start + rel)) return w->err.code;
    w->rel_offset = rel;
    w->received = w->stored = 0;
    w->crc = 0;
    if (w->comp == SP_COMPRESS_ZSTD) {
        if (!w->cctx && !(w->cctx = ZSTD_createCCtx()))
            return sp_writer_fail(w, SP_ERR_RUNTIME, "out of memory");
        if (!w->zout) {
            w->zout_cap = ZSTD_CStreamOutSize();
            if (!(w->zout = malloc(w->zout_cap)))
                return sp_writer_fail(w, SP_ERR_RUNTIME, "out of memory");
        }
        ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_and_parameters);
        size_t r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, zstd_level);
        if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1);
        if (!ZSTD_isError(r)) r = ZSTD_CCtx_setPledgedSrcSize(w->cctx, w->raw_size);
        if (ZSTD_isError(r))
            return sp_writer_fail(w, SP_ERR_INPUT, "tensor '%s': zstd: %s", name,
                                  ZSTD_getErrorName(r));
    }
    /* Directory entry up to (not including) compression..stored_size, finished by end. */
    w->entry_at = w->dir.len;
    sp_buf_u32(&w->dir, (uint32_t)strlen(name));
    sp_buf_put(&w->dir, name, strlen(name));
    sp_buf_u32(&w->dir, dtype);
    sp_buf_u32(&w->dir, ndim);
    for (uint32_t d = 0; d < ndim; d++) sp_buf_u64(&w->dir, dims[d]);
    if (w->dir.oom) return sp_writer_fail(w, SP_ERR_RUNTIME, "out of memory");
    w->in_tensor = 1;
    return SP_OK;
}

/* Checksums and writes in cache-sized pieces, so the bytes the CRC just read are still in
 * cache when they are copied out. */
static int emit(sp_writer *w, const void *data, size_t n) {
    enum { PIECE = 1u << 20 };
    const uint8_t *p = data;
    while (n) {
        size_t k = n < PIECE ? n : PIECE;
        w->crc = sp_crc32(w->crc, p, k);
        w->stored += k;
        if (sp_writer_out(w, p, k)) return w->err.code;
        p += k;
        n -= k;
    }
    return SP_OK;
}

/* Runs the compressor over `in` with `mode`, writing every output chunk. */
static int compress(sp_writer *w, const void *data, size_t len, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in = {data, len, 0};
    for (;;) {
        ZSTD_outBuffer out = {w->zout, w->zout_cap, 0};
        size_t left = ZSTD_compressStream2(w->cctx, &out, &in, mode);
        if (ZSTD_isError(left))
            return sp_writer_fail(w, SP_ERR_RUNTIME, "zstd: %s", ZSTD_getErrorName(left));
        if (emit(w, w->zout, out.pos)) return w->err.code;
        if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) return SP_OK;
    }
}

int sp_writer_tensor_data(sp_writer *w, const void *data, size_t len) {
    if (w->err.code) return w->err.code;
    if (!w->in_tensor) return sp_writer_fail(w, SP_ERR_INPUT, "tensor data outside a tensor");
    if (len > w->raw_size - w->received)
        return sp_writer_fail(w, SP_ERR_INPUT, "tensor data: more bytes than its shape holds "
                              "(%llu)", (unsigned long long)w->raw_size);
    if (!len) return SP_OK;
    w->received += len;
    if (w->comp == SP_COMPRESS_NONE) return emit(w, data, len);
    return compress(w, data, len, ZSTD_e_continue);
}

int sp_writer_end_tensor(sp_writer *w) {
    if (w->err.code) return w->err.code;
    if (!w->in_tensor) return sp_writer_fail(w, SP_ERR_INPUT, "end of a tensor never begun");
    if (w->received != w->raw_size)
        return sp_writer_fail(w, SP_ERR_INPUT, "tensor data: got %llu bytes, its shape needs %llu",
                              (unsigned long long)w->received, (unsigned long long)w->raw_size);
    if (w->comp == SP_COMPRESS_ZSTD && compress(w, NULL, 0, ZSTD_e_end)) return w->err.code;
    sp_buf_u32(&w->dir, w->comp);
    sp_buf_u32(&w->dir, w->crc);
    sp_buf_u64(&w->dir, w->rel_offset);
    sp_buf_u64(&w->dir, w->stored);
    if (w->dir.oom) return sp_writer_fail(w, SP_ERR_RUNTIME, "out of memory");
    w->tensor_count++;
    w->in_tensor = 0;
    return SP_OK;
}

int sp_writer_add_tensor(sp_writer *w, const char *name, sp_dtype dtype, uint32_t ndim,
                         const uint64_t *dims, const void *data, sp_compression compression,
                         int zstd_level) {
    if (sp_writer_begin_tensor(w, name, dtype, ndim, dims, compression, zstd_level))
        return w->err.code;
    if (sp_writer_tensor_data(w, data, (size_t)w->raw_size)) return w->err.code;
    return sp_writer_end_tensor(w);
}
