/* attn_tile_avx512.c — the AVX-512 back end of attn_tile.h: a lane row is two 16-float
 * registers; scores hold 8 keys × 32 queries (16 accumulators), outputs 8 value columns × 32
 * queries. Compiled with target attributes; used only when the matrix kernels chose AVX-512. */
#include "attn_tile.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>

#define ATTR __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define V __m512
#define W 16
#define LOADV(p) _mm512_loadu_ps(p)
#define STOREV(p, x) _mm512_storeu_ps(p, x)
#define SET1(x) _mm512_set1_ps(x)
#define ZEROV() _mm512_setzero_ps()
#define FMAV(a, b, c) _mm512_fmadd_ps(a, b, c)
#define MULV(a, b) _mm512_mul_ps(a, b)
#define MR_QK 8
#define MR_PV 8
#include "attn_tile_impl.h"

const sp_attn_tile_kernels sp_attn_tile_avx512 = {
    .name = "avx512", .qk = qk_tile, .pv = pv_tile, .pv_row = pv_row_impl,
};
#endif
