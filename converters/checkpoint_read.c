/* checkpoint_read.c — reading a checkpoint tensor's elements through the file mapping
 * (contiguous views without a copy, strided views gathered) and dropping the touched pages
 * again, so converting keeps the resident set near one tensor whatever the checkpoint size. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "checkpoint_reader.h"

int sp_ckpt_read(const sp_ckpt *c, const sp_src_tensor *t, uint64_t first, uint64_t count, void *dst, sp_error *err) {
    if (t->placeholder) return sp_fail(err, SP_ERR_INPUT, "tensor '%.200s' is not a plain tensor", t->name);
    if (first > t->numel || count > t->numel - first)
        return sp_fail(err, SP_ERR_RUNTIME, "internal: read past tensor '%.200s'", t->name);
    const uint8_t *map = c->files[t->file].map;
    size_t es = sp_dtype_size(t->dtype);
    if (t->contiguous) {
        memcpy(dst, map + t->base + first * es, (size_t)(count * es));
        return 0;
    }
    /* strided view: walk the multi-index of element `first` */
    uint64_t idx[SP_MAX_DIMS] = {0}, rem = first;
    for (uint32_t i = t->ndim; i-- > 0;) {
        idx[i] = t->shape[i] ? rem % t->shape[i] : 0;
        rem = t->shape[i] ? rem / t->shape[i] : 0;
    }
    uint8_t *o = dst;
    for (uint64_t k = 0; k < count; k++) {
        uint64_t off = 0;
        for (uint32_t i = 0; i < t->ndim; i++) off += idx[i] * (uint64_t)t->stride[i];
        memcpy(o, map + t->base + off * es, es);
        o += es;
        for (uint32_t i = t->ndim; i-- > 0;) {
            if (++idx[i] < t->shape[i]) break;
            idx[i] = 0;
        }
    }
    return 0;
}

void sp_ckpt_release(const sp_ckpt *c, const sp_src_tensor *t) {
    if (t->placeholder || t->span_hi <= t->span_lo) return;
    long pg = sysconf(_SC_PAGESIZE);
    uint64_t lo = t->span_lo / (uint64_t)pg * (uint64_t)pg;
    uint64_t hi = t->span_hi;
    /* a private read-only file mapping: dropped pages are simply read again if needed */
    madvise((void *)(c->files[t->file].map + lo), (size_t)(hi - lo), MADV_DONTNEED);
}

const void *sp_ckpt_view(const sp_ckpt *c, const sp_src_tensor *t, uint64_t first, uint64_t count) {
    if (t->placeholder || !t->contiguous || first > t->numel || count > t->numel - first) return NULL;
    return c->files[t->file].map + t->base + first * sp_dtype_size(t->dtype);
}

void sp_ckpt_release_elems(const sp_ckpt *c, const sp_src_tensor *t, uint64_t first, uint64_t count) {
    if (t->placeholder || !t->contiguous || !count) return;
    uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE), es = sp_dtype_size(t->dtype);
    uint64_t lo = t->base + first * es, hi = lo + count * es;
    lo = (lo + pg - 1) / pg * pg; /* whole pages inside the range: neighbours stay untouched */
    hi = hi / pg * pg;
    if (hi > lo) madvise((void *)(c->files[t->file].map + lo), (size_t)(hi - lo), MADV_DONTNEED);
}
