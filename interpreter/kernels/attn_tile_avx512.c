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
#define MASKV __mmask16
#define NONZERO(p) _mm512_cmp_ps_mask(p, _mm512_setzero_ps(), _CMP_NEQ_UQ)
#define MASK_FMAV(a, b, c, k) _mm512_mask3_fmadd_ps(a, b, c, k)
#define ALL_LANES(k) ((k) == 0xffff)
#define MR_QK 8
#define MR_PV 8
#include "attn_tile_impl.h"

/* In-register transpose of 16 rows of 16 floats: afterwards r[i] holds column i. */
__attribute__((always_inline)) ATTR static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i += 8)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
            t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xDD);
        }
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xDD);
    }
}

/* Sixteen keys at a time: their rows transposed 16 × 16 in registers, so the chain over p runs
 * with the keys in the lanes; p past the last whole block continues each key's chain alone. */
ATTR static void qk_row_avx512(const float *q, const float *k, size_t kstride, int d, int nkeys,
                               float *s) {
    const int d16 = d & ~15;
    int j = 0;
    for (; j + 16 <= nkeys; j += 16) {
        __m512 acc = _mm512_setzero_ps();
        for (int p0 = 0; p0 < d16; p0 += 16) {
            __m512 r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(k + (size_t)(j + i) * kstride + p0);
            transpose16(r);
#pragma GCC unroll 16
            for (int p = 0; p < 16; p++) acc = _mm512_fmadd_ps(r[p], _mm512_set1_ps(q[p0 + p]), acc);
        }
        _mm512_storeu_ps(s + j, acc);
        for (int p = d16; p < d; p++)
            for (int i = 0; i < 16; i++)
                s[j + i] = fmaf(k[(size_t)(j + i) * kstride + p], q[p], s[j + i]);
    }
    qk_row_tail(q, k, kstride, d, j, nkeys, s);
}

const sp_attn_tile_kernels sp_attn_tile_avx512 = {
    .name = "avx512", .qk = qk_tile, .qk_row = qk_row_avx512, .pv = pv_tile,
    .pv_row = pv_row_impl,
};
#endif
