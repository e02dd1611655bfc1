/* cu_attn_tma_map.cu — cu_attn_tma_map.h: the KV cache's tensor maps for TMA loads. */
#include "cu_attn_tma_map.h"

typedef CUresult (*tma_encode_fn)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *,
                                  const cuuint64_t *, const cuuint64_t *, const cuuint32_t *,
                                  const cuuint32_t *, CUtensorMapInterleave, CUtensorMapSwizzle,
                                  CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

/* The driver's cuTensorMapEncodeTiled, looked up once (NULL where the driver lacks it). */
static tma_encode_fn tma_encoder(void) {
    static tma_encode_fn fn;
    static int looked;
    if (!__atomic_load_n(&looked, __ATOMIC_ACQUIRE)) {
        void *p = NULL;
        cudaDriverEntryPointQueryResult q;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000,
                                             cudaEnableDefault, &q) != cudaSuccess ||
            q != cudaDriverEntryPointSuccess)
            p = NULL;
        __atomic_store_n(&fn, (tma_encode_fn)p, __ATOMIC_RELAXED);
        __atomic_store_n(&looked, 1, __ATOMIC_RELEASE);
    }
    return __atomic_load_n(&fn, __ATOMIC_RELAXED);
}

int cu_attn_tma_available(void) { return tma_encoder() != NULL; }

cudaError_t cu_attn_tma_kv_map(CUtensorMap *m, const void *base, const cu_attn_geom *g) {
    const tma_encode_fn enc = tma_encoder();
    if (!enc) return cudaErrorNotSupported;
    const cuuint64_t dim[3] = {64, (cuuint64_t)g->Hk, (cuuint64_t)g->nk};
    const cuuint64_t stride[2] = {64 * 2, (cuuint64_t)g->Hk * 64 * 2};
    const cuuint32_t box[3] = {64, 1, 128}, step[3] = {1, 1, 1};
    const CUresult r = enc(m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, (void *)base, dim, stride, box,
                           step, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                           CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    return r == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidValue;
}
