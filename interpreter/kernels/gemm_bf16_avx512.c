/* gemm_bf16_avx512.c — the AVX512_BF16 kernels of the bf16 products (gemm_bf16_internal.h): a
 * 14×32 microkernel of vdpbf16ps (28 fp32 accumulators, a pair of x broadcast per row), the
 * packing of W panels as stored (16×16 transposes of bf16 pairs) and of x rows (rounded to
 * nearest even by vcvtne2ps2bf16), and the small-m path as dot products of 8 W rows at a time.
 * Compiled with target attributes so a baseline build still carries them; the driver calls
 * them only when CPUID reports AVX512_BF16. */
#include "gemm_bf16_internal.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

#define SP_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#define SP_BF16_INLINE SP_BF16 __attribute__((always_inline)) static inline

#define MR SP_BF16_MR
#define NR SP_BF16_NR
#define KCP SP_BF16_KCP
#define R14(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)

int sp_bf16_cpu_ok(void) {
    /* AVX512_BF16: CPUID leaf 7 sub-leaf 1, EAX bit 5 */
    unsigned a, b, c, d;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512dq"))
        return 0;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 5 & 1);
}

SP_BF16_INLINE __m512 dp(__m512 acc, __m512i a, __m512i b) {
    return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}

SP_BF16 void sp_bf16_kernel(size_t kcp, const uint32_t *a, const uint32_t *b, float *c,
                            size_t ldc, int accumulate) {
#define DECL(i) __m512 c##i##0, c##i##1;
    R14(DECL)
#undef DECL
    if (accumulate) {
#define LOAD(i) c##i##0 = _mm512_loadu_ps(c + (i) * ldc); \
                c##i##1 = _mm512_loadu_ps(c + (i) * ldc + 16);
        R14(LOAD)
#undef LOAD
    } else {
#define ZERO(i) c##i##0 = _mm512_setzero_ps(); c##i##1 = _mm512_setzero_ps();
        R14(ZERO)
#undef ZERO
    }
#pragma GCC unroll 2
    for (size_t p = 0; p < kcp; p++) {
        __m512i b0 = _mm512_load_si512(b), b1 = _mm512_load_si512(b + 16);
        b += NR;
#define STEP(i) { __m512i ai = _mm512_set1_epi32((int)a[(i) * KCP]); \
                  c##i##0 = dp(c##i##0, ai, b0); \
                  c##i##1 = dp(c##i##1, ai, b1); }
        R14(STEP)
#undef STEP
        a++;
    }
#define STORE(i) _mm512_storeu_ps(c + (i) * ldc, c##i##0); \
                 _mm512_storeu_ps(c + (i) * ldc + 16, c##i##1);
    R14(STORE)
#undef STORE
}

/* The bf16 mask of `len` (0..32) elements. */
SP_BF16_INLINE __mmask32 mask32(size_t len) {
    return len >= 32 ? 0xffffffffu : (__mmask32)((1u << len) - 1);
}

/* In-register transpose of 16 rows of 16 words: afterwards r[i] holds column i. */
SP_BF16_INLINE void transpose16(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 16; i += 8)
        for (int j = 0; j < 4; j++) {
            t[i + j] = _mm512_shuffle_i32x4(r[i + j], r[i + j + 4], 0x88);
            t[i + j + 4] = _mm512_shuffle_i32x4(r[i + j], r[i + j + 4], 0xDD);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0xDD);
    }
}

SP_BF16 void sp_bf16_pack_w(const uint16_t *w, size_t k, size_t n, size_t j0, size_t pc,
                            size_t kc, uint32_t *dst) {
    size_t kcp = (kc + 1) / 2;
    for (size_t g = 0; g < NR; g += 16) {
        size_t rows = j0 + g >= n ? 0 : n - (j0 + g) < 16 ? n - (j0 + g) : 16;
        for (size_t p = 0; p < kcp; p += 16) {
            /* 16 pairs = 32 elements of each row, fewer at the end of the k block */
            __mmask32 m = mask32(kc - 2 * p);
            __m512i r[16];
#pragma GCC unroll 16
            for (size_t i = 0; i < 16; i++)
                r[i] = i < rows ? _mm512_maskz_loadu_epi16(m, w + (j0 + g + i) * k + pc + 2 * p)
                                : _mm512_setzero_si512();
            transpose16(r);
            uint32_t *d = dst + p * NR + g;
            size_t len = kcp - p < 16 ? kcp - p : 16;
            for (size_t i = 0; i < len; i++) _mm512_store_si512(d + i * NR, r[i]);
        }
    }
}

/* 32 floats at x[0..len) (zero past len) as 32 bf16, rounded to nearest even, in order. */
SP_BF16_INLINE __m512i round32(const float *x, size_t len) {
    __mmask16 lo = len >= 16 ? 0xffff : (__mmask16)((1u << len) - 1);
    __mmask16 hi = len >= 32 ? 0xffff : len <= 16 ? 0 : (__mmask16)((1u << (len - 16)) - 1);
    __m512 a = _mm512_maskz_loadu_ps(lo, x), b = _mm512_maskz_loadu_ps(hi, x + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(b, a);
}

SP_BF16 void sp_bf16_pack_x_row(const float *x, size_t len, uint32_t *dst) {
    size_t words = (len + 1) / 2;
    for (size_t p = 0; p < words; p += 16) {
        __m512i v = round32(x + 2 * p, len - 2 * p);
        __mmask16 m = words - p >= 16 ? 0xffff : (__mmask16)((1u << (words - p)) - 1);
        _mm512_mask_storeu_epi32(dst + p, m, v);
    }
}

/* y[i][j0..j0+8) for one x row against 8 consecutive W rows; lanes hold pairs p ≡ lane
 * (mod 16), reduced at the end in a fixed order. */
SP_BF16_INLINE void dot8(const float *xi, size_t k, const uint16_t *w, size_t j0, float *out) {
    __m512 s[8];
    for (int r = 0; r < 8; r++) s[r] = _mm512_setzero_ps();
    for (size_t p = 0; p < k; p += 32) {
        __mmask32 m = mask32(k - p);
        __m512i xv = round32(xi + p, k - p);
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++)
            s[r] = dp(s[r], xv, _mm512_maskz_loadu_epi16(m, w + (j0 + (size_t)r) * k + p));
    }
    for (int r = 0; r < 8; r++) out[r] = _mm512_reduce_add_ps(s[r]);
}

SP_BF16_INLINE float dot1(const float *xi, size_t k, const uint16_t *w, size_t j) {
    __m512 s = _mm512_setzero_ps();
    for (size_t p = 0; p < k; p += 32)
        s = dp(s, round32(xi + p, k - p), _mm512_maskz_loadu_epi16(mask32(k - p), w + j * k + p));
    return _mm512_reduce_add_ps(s);
}

SP_BF16 void sp_bf16_rows(const float *x, size_t m, size_t k, const uint16_t *w, size_t j0,
                          size_t j1, size_t n, float *y) {
    size_t j = j0;
    float o[8];
    for (; j + 8 <= j1; j += 8)
        for (size_t i = 0; i < m; i++) {
            dot8(x + i * k, k, w, j, o);
            memcpy(y + i * n + j, o, sizeof o);
        }
    for (; j < j1; j++)
        for (size_t i = 0; i < m; i++) y[i * n + j] = dot1(x + i * k, k, w, j);
}
#endif
