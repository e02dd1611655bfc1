/* attn_tile.c — picks the tiled-attention back end (attn_tile.h) that matches the matrix
 * kernels' instruction set, so SPARSA_GEMM_ISA and sp_gemm_set_isa switch both together. */
#include <string.h>

#include "attn_tile.h"
#include "gemm.h"

const sp_attn_tile_kernels *sp_attn_tile_kernels_get(void) {
    const char *isa = sp_gemm_isa();
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    if (!strcmp(isa, "avx512")) return &sp_attn_tile_avx512;
    if (!strcmp(isa, "avx2")) return &sp_attn_tile_avx2;
#endif
    (void)isa;
    return &sp_attn_tile_scalar;
}
