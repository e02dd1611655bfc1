/* attn_tile_avx2.c — the AVX2+FMA back end of attn_tile.h: a lane row is four 8-float
 * registers; scores hold 3 keys × 32 queries (12 accumulators), outputs 3 value columns × 32
 * queries. Compiled with target attributes; used only when the matrix kernels chose AVX2. */
#include "attn_tile.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>

#define ATTR __attribute__((target("avx2,fma")))
#define V __m256
#define W 8
#define LOADV(p) _mm256_loadu_ps(p)
#define STOREV(p, x) _mm256_storeu_ps(p, x)
#define SET1(x) _mm256_set1_ps(x)
#define ZEROV() _mm256_setzero_ps()
#define FMAV(a, b, c) _mm256_fmadd_ps(a, b, c)
#define MULV(a, b) _mm256_mul_ps(a, b)
#define MASKV __m256
#define NONZERO(p) _mm256_cmp_ps(p, _mm256_setzero_ps(), _CMP_NEQ_UQ)
#define MASK_FMAV(a, b, c, k) _mm256_blendv_ps(c, _mm256_fmadd_ps(a, b, c), k)
#define ALL_LANES(k) (_mm256_movemask_ps(k) == 0xff)
#define MR_QK 3
#define MR_PV 3
#include "attn_tile_impl.h"

ATTR static void qk_row_avx2(const float *q, const float *k, size_t kstride, int d, int nkeys,
                             float *s) {
    qk_row_tail(q, k, kstride, d, 0, nkeys, s);
}

const sp_attn_tile_kernels sp_attn_tile_avx2 = {
    .name = "avx2", .qk = qk_tile, .qk_row = qk_row_avx2, .pv = pv_tile, .pv_row = pv_row_impl,
};
#endif
