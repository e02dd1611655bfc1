/* cu_attn_flash.h — the bf16 softmax fast path (cu_attn_flash_bf16.cu): which calls it takes and
 * its launcher, for cu_attn_forward.cu's dispatch; and, callable from C, how many calls it has
 * run (the GPU tests use it to know that their cases reached it).
 *
 * It takes softmax prefill calls in precision bf16 with a bf16 cache, head size = value size =
 * 64 or 128, causal or not, any query scale and kv_heads, and nothing that needs per-score work
 * besides the causal mask: no ALiBi, soft cap, window or before-query mask, and no statistics
 * (those calls keep the generic tile kernel of cu_attn_tile_bf16.cu, as do decode calls).
 * SPARSA_CUDA_FLASH=0 turns it off (comparisons); =g|a|h picks the mma.sync kernel's variant at
 * head size 64, =k|s|u a variant of the wgmma kernel, =n|o|y|z one of the wgmma kernel with a
 * TMA load warpgroup (z: the default on sm_90a; tuning; docs/ATTENTION_MATH.md, "The CUDA
 * kernels").
 */
#ifndef SPARSA_CU_ATTN_FLASH_H
#define SPARSA_CU_ATTN_FLASH_H

#include "cu_attention.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Calls the fast path has launched in this process. */
unsigned long long cu_attn_flash_launches(void);

#ifdef __cplusplus
}
#endif

#ifdef __CUDACC__
#include "cu_attn_internal.h"

/* 1 if the fast path runs this call (see above), else 0. */
int cu_attn_flash_ok(const cu_attn_geom *g);
cudaError_t cu_attn_flash_launch(const cu_attn_geom *g, cudaStream_t st);
/* cu_attn_flash_wgmma.cu: the wgmma kernel (head size 64, sm_90a builds) in its variant
 * k|s|u (cudaErrorNotSupported for another letter), and whether the current device can run
 * it (compute capability 9.0, a build with sm_90a code). */
int cu_attn_flash_wgmma_available(void);
cudaError_t cu_attn_flash_wgmma_launch(const cu_attn_geom *g, char variant, cudaStream_t st);
/* cu_attn_flash_tma.cu: the wgmma kernel with a TMA load warp (head size 64, sm_90a), variant
 * n|o|y|z; cudaErrorNotSupported where it cannot run (device, build, driver without tensor
 * maps). */
cudaError_t cu_attn_flash_tma_launch(const cu_attn_geom *g, char variant, cudaStream_t st);
#endif

#endif
