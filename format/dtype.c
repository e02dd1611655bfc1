/* dtype.c — tensor element types of SPEC.md §7: sizes and names. */
#include <string.h>

#include "sparsa_format.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [SP_DT_INVALID] = {"invalid", 0},
    [SP_F32] = {"f32", 4}, [SP_F16] = {"f16", 2}, [SP_BF16] = {"bf16", 2}, [SP_F64] = {"f64", 8},
    [SP_I8] = {"i8", 1},   [SP_U8] = {"u8", 1},   [SP_I16] = {"i16", 2},  [SP_I32] = {"i32", 4},
    [SP_I64] = {"i64", 8}, [SP_BOOL] = {"bool", 1},
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

size_t sp_dtype_size(sp_dtype dt) {
    return (unsigned)dt < N_DTYPES ? dtypes[dt].size : 0;
}

const char *sp_dtype_name(sp_dtype dt) {
    return (unsigned)dt < N_DTYPES ? dtypes[dt].name : "invalid";
}

sp_dtype sp_dtype_from_name(const char *name) {
    if (!name) return SP_DT_INVALID;
    for (unsigned i = 1; i < N_DTYPES; i++)
        if (!strcmp(name, dtypes[i].name)) return (sp_dtype)i;
    return SP_DT_INVALID;
}

/* SPEC.md §7: every dim, every partial product of the non-zero dims and the byte size < 2^63, so
 * that any product of a subset of the dims fits an int64_t in the code that uses them; the
 * raw size is 0 if any dim is 0. */
int sp_shape_bytes(sp_dtype dt, uint32_t ndim, const uint64_t *dims, uint64_t *numel,
                   uint64_t *bytes) {
    uint64_t n = 1, b;
    int zero = 0;
    for (uint32_t d = 0; d < ndim; d++) {
        if (dims[d] == 0) zero = 1;
        else if (__builtin_mul_overflow(n, dims[d], &n) || n >> 63) return 1;
    }
    if (__builtin_mul_overflow(n, (uint64_t)sp_dtype_size(dt), &b) || b >> 63) return 1;
    *numel = zero ? 0 : n;
    *bytes = zero ? 0 : b;
    return 0;
}
