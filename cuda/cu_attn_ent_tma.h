/* cu_attn_ent_tma.h — the Hopper kernel of the bf16 α-entmax list pipeline's two QK-only passes
 * (cu_attn_ent_tma.cu): its launcher for cu_attn_ent_bf16.cu's dispatch and, callable from C,
 * how many calls it has run (the GPU tests use it to know that their cases reached it).
 *
 * It takes the calls of the list pipeline at head size 64 on a device and build with sm_90a
 * code (cu_attn_flash_wgmma_available), with at least 64 query rows, at most 131072 keys and a
 * driver that makes tensor maps; cu_attn_ent_bf16.cu picks it by default there
 * (SPARSA_CUDA_ENTMAX_PASS=s keeps the mma.sync kernel; a|b|c picks a variant).
 */
#ifndef SPARSA_CU_ATTN_ENT_TMA_H
#define SPARSA_CU_ATTN_ENT_TMA_H

#ifdef __cplusplus
extern "C" {
#endif

/* Calls (pass 1 launches) the Hopper passes have run in this process. */
unsigned long long cu_attn_ent_tma_launches(void);

#ifdef __cplusplus
}
#endif

#ifdef __CUDACC__
#include "cu_attn_internal.h"

/* Pass CU_LIST_MAX or CU_LIST_PICK of the call in the kernel's variant (a: 3 consumer
 * warpgroups and 2 stages, b: 3 and 4, c: 2 and 4); cudaErrorNotSupported where the call,
 * device, build or driver does not allow it — the same answer for both passes of a call. */
cudaError_t cu_attn_ent_tma_launch(const cu_attn_geom *g, const cu_ent_ws *w, int pass,
                                   char variant, cudaStream_t st);
#endif

#endif
