/* out_dtype.c — the output-dtype policy (out_dtype.h). Norm weights, biases and other
 * vector-like tensors stay f32 unless the dtype is kept: they are small and the interpreter
 * applies them in f32; matrices take the chosen dtype. */
#include "out_dtype.h"

int sp_dtype_is_floating(sp_dtype d) { return d == SP_F32 || d == SP_F16 || d == SP_BF16 || d == SP_F64; }

sp_dtype sp_convert_out_dtype(sp_dtype src, uint32_t ndim, sp_out_dtype mode) {
    if (!sp_dtype_is_floating(src)) return src;
    if (mode == SP_OUT_KEEP) return src == SP_F64 ? SP_F32 : src;
    if (ndim <= 1) return SP_F32;
    return mode == SP_OUT_F16 ? SP_F16 : mode == SP_OUT_BF16 ? SP_BF16 : SP_F32;
}

sp_dtype sp_out_dtype_of(const sp_src_tensor *t, sp_out_dtype mode) {
    if (!sp_dtype_is_floating(t->dtype) || mode == SP_OUT_KEEP) return sp_convert_out_dtype(t->dtype, t->ndim, mode);
    int big = 0;
    for (uint32_t i = 0; i < t->ndim; i++) big += t->shape[i] > 1;
    return big <= 1 ? SP_F32 : sp_convert_out_dtype(t->dtype, 2, mode);
}
