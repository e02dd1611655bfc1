/* out_dtype.h — the one output-dtype policy of the converters (out_dtype.c): which dtype each
 * source tensor is written in for a --dtype mode. The driver writes and self-checks with it and
 * the mappings use it where a constant must match a weight's written dtype (Gemma's embedding
 * scale). */
#ifndef SPARSA_OUT_DTYPE_H
#define SPARSA_OUT_DTYPE_H

#include "checkpoint_reader.h"
#include "sparsa_convert.h"

/* 1 for f32, f16, bf16 and f64. */
int sp_dtype_is_floating(sp_dtype d);

/* The dtype a floating tensor of rank ndim is written in: 0-/1-D tensors stay f32 unless keep;
 * keep writes f64 as f32; non-floating tensors are kept. */
sp_dtype sp_convert_out_dtype(sp_dtype src, uint32_t ndim, sp_out_dtype mode);

/* The dtype source tensor t is written in: as sp_convert_out_dtype, and any other vector-like
 * tensor (at most one dimension above 1, e.g. [1, H, 1, 1]) also stays f32 unless keep. */
sp_dtype sp_out_dtype_of(const sp_src_tensor *t, sp_out_dtype mode);

#endif
