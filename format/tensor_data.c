/* tensor_data.c — tensor bytes of an open file: zero-copy for uncompressed tensors, checked
 * zstd decompression (CRC first, then frame bounds, then exact size) for compressed ones, the
 * CRC-32 check of every tensor at its first use, and the verification behind
 * `sparsa inspect --verify` (CRC-32; zstd frames also decoded). */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_decompressBound */
#include <zstd.h>

#include "format_internal.h"

#define ULL(x) ((unsigned long long)(x))

static size_t tensor_index(const sp_file *f, const sp_tensor_info *t) {
    return (size_t)(t - f->tensors);
}

static int owned(const sp_file *f, const sp_tensor_info *t) {
    return t && t >= f->tensors && t < f->tensors + f->tensor_count;
}

static int check_crc(const sp_file *f, const sp_tensor_info *t, sp_error *err) {
    uint32_t crc = sp_crc32(0, f->base + t->offset, (size_t)t->stored_size);
    if (SP_CRC_BAD(t->crc32, crc)) {
        char q[128];
        sp_name_quote(q, sizeof q, t->name, t->name_len);
        return sp_fail(err, SP_ERR_INPUT, "tensor '%s' data at offset %llu: checksum mismatch "
                       "(stored 0x%08x, data gives 0x%08x)", q, ULL(t->offset), t->crc32, crc);
    }
    return SP_OK;
}

/* The check at first use: the line names the tensor first, as the interpreter's load errors
 * do, and says where the damaged bytes are. */
static int check_crc_on_use(const sp_file *f, const sp_tensor_info *t, sp_error *err) {
    uint32_t crc = sp_crc32(0, f->base + t->offset, (size_t)t->stored_size);
    if (SP_CRC_BAD(t->crc32, crc)) {
        char q[128];
        sp_name_quote(q, sizeof q, t->name, t->name_len);
        return sp_fail(err, SP_ERR_INPUT, "tensor '%s': checksum mismatch (stored 0x%08x, "
                       "computed 0x%08x) in its %llu stored bytes at offset %llu", q, t->crc32,
                       crc, ULL(t->stored_size), ULL(t->offset));
    }
    return SP_OK;
}

/* Decodes a zstd tensor through a small window, counting bytes: the frame must be exactly
 * stored_size bytes and produce exactly raw_size bytes. Memory use is independent of size. */
static int check_frame(const sp_file *f, const sp_tensor_info *t, sp_error *err) {
    char q[128];
    sp_name_quote(q, sizeof q, t->name, t->name_len);
    const uint8_t *src = f->base + t->offset;
    size_t n = (size_t)t->stored_size;
    size_t frame = ZSTD_findFrameCompressedSize(src, n);
    if (ZSTD_isError(frame) || frame != n)
        return sp_fail(err, SP_ERR_INPUT, "tensor '%s' data at offset %llu: not exactly one zstd "
                       "frame of %llu bytes", q, ULL(t->offset), ULL(n));
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    size_t cap = ZSTD_DStreamOutSize();
    uint8_t *buf = malloc(cap);
    if (!dc || !buf) {
        ZSTD_freeDCtx(dc);
        free(buf);
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    }
    ZSTD_inBuffer in = {src, n, 0};
    uint64_t total = 0;
    size_t r = 1;
    while (r != 0 && !ZSTD_isError(r)) {
        ZSTD_outBuffer out = {buf, cap, 0};
        r = ZSTD_decompressStream(dc, &out, &in);
        total += out.pos;
        if (!ZSTD_isError(r) && r != 0 && in.pos == in.size && out.pos < out.size) break;
        if (total > t->raw_size) break;
    }
    ZSTD_freeDCtx(dc);
    free(buf);
    if (ZSTD_isError(r))
        return sp_fail(err, SP_ERR_INPUT, "tensor '%s' data at offset %llu: zstd: %s", q,
                       ULL(t->offset), ZSTD_getErrorName(r));
    if (r != 0 || total != t->raw_size)
        return sp_fail(err, SP_ERR_INPUT, "tensor '%s' data at offset %llu: the zstd frame "
                       "decompresses to %s%llu bytes, expected %llu", q, ULL(t->offset),
                       r != 0 || total > t->raw_size ? "at least " : "", ULL(total),
                       ULL(t->raw_size));
    return SP_OK;
}

int sp_file_verify_tensor(const sp_file *f, const sp_tensor_info *t, sp_error *err) {
    if (!owned(f, t)) return sp_fail(err, SP_ERR_INPUT, "not a tensor of this file");
    int rc = check_crc(f, t, err);
    if (!rc && t->compression == SP_COMPRESS_ZSTD) rc = check_frame(f, t, err);
    return rc;
}

int sp_file_verify(const sp_file *f, sp_error *err) {
    for (size_t i = 0; i < f->tensor_count; i++) {
        int rc = sp_file_verify_tensor(f, &f->tensors[i], err);
        if (rc) return rc;
    }
    return SP_OK;
}

static int decompress(sp_file *f, const sp_tensor_info *t, void **out, sp_error *err) {
    char q[128];
    sp_name_quote(q, sizeof q, t->name, t->name_len);
    const uint8_t *src = f->base + t->offset;
    size_t n = (size_t)t->stored_size;
    int rc = check_crc_on_use(f, t, err);
    if (rc) return rc;
    size_t frame = ZSTD_findFrameCompressedSize(src, n);
    if (ZSTD_isError(frame) || frame != n)
        return sp_fail(err, SP_ERR_INPUT, "tensor '%s' data at offset %llu: not exactly one zstd "
                       "frame of %llu bytes", q, ULL(t->offset), ULL(n));
    /* A frame that claims more than its blocks can produce is refused before allocating. */
    unsigned long long bound = ZSTD_decompressBound(src, n);
    if (bound == ZSTD_CONTENTSIZE_ERROR || t->raw_size > bound)
        return sp_fail(err, SP_ERR_INPUT, "tensor '%s' data at offset %llu: the zstd frame "
                       "cannot produce the declared %llu bytes", q, ULL(t->offset),
                       ULL(t->raw_size));
    void *buf = malloc((size_t)t->raw_size);
    if (!buf)
        return sp_fail(err, SP_ERR_RUNTIME, "tensor '%s': out of memory for %llu bytes", q,
                       ULL(t->raw_size));
    size_t got = ZSTD_decompress(buf, (size_t)t->raw_size, src, n);
    if (ZSTD_isError(got) || got != t->raw_size) {
        free(buf);
        if (ZSTD_isError(got))
            return sp_fail(err, SP_ERR_INPUT, "tensor '%s' data at offset %llu: zstd: %s", q,
                           ULL(t->offset), ZSTD_getErrorName(got));
        return sp_fail(err, SP_ERR_INPUT, "tensor '%s' data at offset %llu: decompressed to %zu "
                       "bytes, expected %llu", q, ULL(t->offset), got, ULL(t->raw_size));
    }
    *out = buf;
    return SP_OK;
}

/* An uncompressed tensor is checked once: the flag is set only after a match, so a damaged
 * tensor fails every call. Two threads may both compute the CRC before either sets it; the
 * result is the same, and the mapping it describes never changes. */
static int verify_on_first_use(sp_file *f, const sp_tensor_info *t, sp_error *err) {
    atomic_uchar *verified = &f->verified[tensor_index(f, t)];
    if (!f->verify_on_use || atomic_load_explicit(verified, memory_order_acquire)) return SP_OK;
    int rc = check_crc_on_use(f, t, err);
    if (!rc) atomic_store_explicit(verified, 1, memory_order_release);
    return rc;
}

/* A zstd tensor is decompressed (and so checked) once; a thread that loses the race to publish
 * its buffer frees it and takes the winner's. */
static int decompressed_once(sp_file *f, const sp_tensor_info *t, const void **data,
                             sp_error *err) {
    _Atomic(void *) *slot = &f->decompressed[tensor_index(f, t)];
    void *have = atomic_load_explicit(slot, memory_order_acquire);
    if (!have) {
        void *mine = NULL;
        int rc = decompress(f, t, &mine, err);
        if (rc) return rc;
        if (atomic_compare_exchange_strong_explicit(slot, &have, mine, memory_order_acq_rel,
                                                    memory_order_acquire))
            have = mine;
        else
            free(mine);
    }
    *data = have;
    return SP_OK;
}

int sp_file_tensor_data(sp_file *f, const sp_tensor_info *t, const void **data, sp_error *err) {
    *data = NULL;
    if (!owned(f, t)) return sp_fail(err, SP_ERR_INPUT, "not a tensor of this file");
    if (t->compression != SP_COMPRESS_NONE) return decompressed_once(f, t, data, err);
    int rc = verify_on_first_use(f, t, err);
    if (!rc) *data = f->base + t->offset;
    return rc;
}
