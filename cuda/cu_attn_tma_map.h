/* cu_attn_tma_map.h — tensor maps of the bf16 KV cache for the Hopper kernels' TMA loads
 * (cu_attn_flash_tma.cu, cu_attn_ent_tma.cu), made through the driver's cuTensorMapEncodeTiled,
 * found at run time so that the module links no libcuda. */
#ifndef SPARSA_CU_ATTN_TMA_MAP_H
#define SPARSA_CU_ATTN_TMA_MAP_H

#include <cuda.h>

#include "cu_attn_internal.h"

/* Whether the driver has cuTensorMapEncodeTiled (looked up once). */
int cu_attn_tma_available(void);
/* The map of a bf16 cache [nk][Hk][64] at base: boxes of 128 keys × 1 head × 64, 128-byte
 * swizzled; keys past nk read as zeros. cudaErrorNotSupported without the driver entry point,
 * cudaErrorInvalidValue if the driver refuses the map. */
cudaError_t cu_attn_tma_kv_map(CUtensorMap *m, const void *base, const cu_attn_geom *g);

#endif
