/* gemm_avx512.c — AVX-512 back end: a 14×32 microkernel (28 accumulators, W row pair in two
 * registers, x broadcast from memory), F16C/bf16 conversion on 16 lanes, and the small-m path
 * (decode) as dot products of 16 (then 8) W rows at a time, converted in registers.
 * Compiled with target attributes so a baseline build still carries it; the driver only calls
 * it when the CPU reports AVX-512 F/BW/VL. */
#include "gemm_internal.h"

#if SP_GEMM_X86
#include <immintrin.h>
#include <string.h>

#define SP_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")))
#define SP_AVX512_INLINE SP_AVX512 __attribute__((always_inline)) static inline

#define MR 14
#define NR 32
#define R14(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)

SP_AVX512 static void kernel_14x32(size_t kc, const float *a, size_t lda, const float *b,
                                   float *c, size_t ldc, int accumulate) {
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
    /* The 14 rows of a through two bases and four row strides: every row address is then
     * base + index (13 separate row offsets made GCC spill three of them and reload them from
     * the stack inside the loop). */
    const float *a0 = a, *a7 = a + 7 * lda;
    const size_t l2 = 2 * lda, l3 = 3 * lda, l5 = 5 * lda;
#define ROWS(X) X(0, a0[0]) X(1, a0[lda]) X(2, a0[2 * lda]) X(3, a0[l3]) X(4, a0[2 * l2]) \
                X(5, a0[l5]) X(6, a0[2 * l3]) X(7, a7[0]) X(8, a7[lda]) X(9, a7[2 * lda]) \
                X(10, a7[l3]) X(11, a7[2 * l2]) X(12, a7[l5]) X(13, a7[2 * l3])
#pragma GCC unroll 2
    for (size_t p = 0; p < kc; p++) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        b += NR;
#define STEP(i, x) { __m512 ai = _mm512_set1_ps(x); \
                     c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0); \
                     c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1); }
        ROWS(STEP)
#undef STEP
        a0++;
        a7++;
    }
#undef ROWS
#define STORE(i) _mm512_storeu_ps(c + (i) * ldc, c##i##0); \
                 _mm512_storeu_ps(c + (i) * ldc + 16, c##i##1);
    R14(STORE)
#undef STORE
}

/* 16 (or fewer, masked) weights at w[off..] as f32. */
SP_AVX512_INLINE __m512 load_w(const void *w, sp_dtype dt, size_t off, __mmask16 mask) {
    if (dt == SP_F32) return _mm512_maskz_loadu_ps(mask, (const float *)w + off);
    __m256i h = _mm256_maskz_loadu_epi16(mask, (const uint16_t *)w + off);
    if (dt == SP_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

SP_AVX512 static void convert_avx512(const void *src, sp_dtype dt, size_t len, float *dst) {
    if (dt == SP_F32) {
        memcpy(dst, src, len * sizeof(float));
        return;
    }
    if (dt != SP_F16 && dt != SP_BF16) {
        sp_gemm_convert_scalar(src, dt, len, dst);
        return;
    }
    size_t i = 0;
    for (; i + 16 <= len; i += 16) _mm512_storeu_ps(dst + i, load_w(src, dt, i, 0xffff));
    if (i < len) {
        __mmask16 m = (__mmask16)((1u << (len - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, m, load_w(src, dt, i, m));
    }
}

/* In-register transpose of 16 rows of 16 floats: afterwards r[i] holds column i. */
SP_AVX512_INLINE void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 16; i += 8)
        for (int j = 0; j < 4; j++) {
            t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
            t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xDD);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xDD);
    }
}

/* dst[p][NR] = W[j0 + r][pc + p] for r < NR (zero past row n), p < kc: converted and
 * transposed 16×16 at a time in registers. */
SP_AVX512_INLINE void pack_w_t(const void *w, sp_dtype dt, size_t k, size_t n, size_t j0,
                               size_t pc, size_t kc, float *dst) {
    for (size_t g = 0; g < NR; g += 16) {
        size_t rows = j0 + g >= n ? 0 : n - (j0 + g) < 16 ? n - (j0 + g) : 16;
        for (size_t p = 0; p < kc; p += 16) {
            size_t len = kc - p < 16 ? kc - p : 16;
            __mmask16 m = len == 16 ? 0xffff : (__mmask16)((1u << len) - 1);
            __m512 r[16];
#pragma GCC unroll 16
            for (size_t i = 0; i < 16; i++)
                r[i] = i < rows ? load_w(w, dt, (j0 + g + i) * k + pc + p, m) : _mm512_setzero_ps();
            transpose16(r);
            float *d = dst + p * NR + g;
            if (len == 16) {
#pragma GCC unroll 16
                for (size_t i = 0; i < 16; i++) _mm512_store_ps(d + i * NR, r[i]);
            } else {
                for (size_t i = 0; i < len; i++) _mm512_store_ps(d + i * NR, r[i]);
            }
        }
    }
}

SP_AVX512 static void pack_w_avx512(const void *w, sp_dtype dt, size_t k, size_t n, size_t j0,
                                    size_t pc, size_t kc, float *dst) {
    switch (dt) {
    case SP_F32: pack_w_t(w, SP_F32, k, n, j0, pc, kc, dst); break;
    case SP_F16: pack_w_t(w, SP_F16, k, n, j0, pc, kc, dst); break;
    default: pack_w_t(w, SP_BF16, k, n, j0, pc, kc, dst); break;
    }
}

/* y[i][j0..j0+R) for one x row against R consecutive W rows (R = 8 or 16); lanes hold
 * p ≡ lane (mod 16), each reduced at the end in a fixed order, so a row's value does not depend
 * on R. Sixteen rows read at once keep twice as many lines in flight as eight: decode streams
 * every weight from memory once per token, and the wider block moves about a fifth more bytes
 * per second on one core. */
SP_AVX512_INLINE void dot_rows(const float *xi, size_t k, const void *w, sp_dtype dt, size_t j0,
                               int R, float *out) {
    __m512 s[16];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) s[r] = _mm512_setzero_ps();
    for (size_t p = 0; p < k; p += 16) {
        __mmask16 m = k - p >= 16 ? 0xffff : (__mmask16)((1u << (k - p)) - 1);
        __m512 xv = _mm512_maskz_loadu_ps(m, xi + p);
#pragma GCC unroll 16
        for (int r = 0; r < R; r++)
            s[r] = _mm512_fmadd_ps(xv, load_w(w, dt, (j0 + (size_t)r) * k + p, m), s[r]);
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) out[r] = _mm512_reduce_add_ps(s[r]);
}

SP_AVX512_INLINE float dot1(const float *xi, size_t k, const void *w, sp_dtype dt, size_t j) {
    __m512 s = _mm512_setzero_ps();
    for (size_t p = 0; p < k; p += 16) {
        __mmask16 m = k - p >= 16 ? 0xffff : (__mmask16)((1u << (k - p)) - 1);
        s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xi + p), load_w(w, dt, j * k + p, m), s);
    }
    return _mm512_reduce_add_ps(s);
}

SP_AVX512_INLINE void rows_t(const float *x, size_t m, size_t k, const void *w, sp_dtype dt,
                             size_t j0, size_t j1, size_t n, float *y) {
    size_t j = j0;
    float o[16];
    for (; j + 16 <= j1; j += 16)
        for (size_t i = 0; i < m; i++) {
            dot_rows(x + i * k, k, w, dt, j, 16, o);
            memcpy(y + i * n + j, o, 16 * sizeof(float));
        }
    for (; j + 8 <= j1; j += 8)
        for (size_t i = 0; i < m; i++) {
            dot_rows(x + i * k, k, w, dt, j, 8, o);
            memcpy(y + i * n + j, o, 8 * sizeof(float));
        }
    for (; j < j1; j++)
        for (size_t i = 0; i < m; i++) y[i * n + j] = dot1(x + i * k, k, w, dt, j);
}

SP_AVX512 static void rows_avx512(const float *x, size_t m, size_t k, const void *w,
                                  sp_dtype dt, size_t j0, size_t j1, size_t n, float *y) {
    switch (dt) {
    case SP_F32: rows_t(x, m, k, w, SP_F32, j0, j1, n, y); break;
    case SP_F16: rows_t(x, m, k, w, SP_F16, j0, j1, n, y); break;
    case SP_BF16: rows_t(x, m, k, w, SP_BF16, j0, j1, n, y); break;
    default: sp_gemm_backend_scalar.rows(x, m, k, w, dt, j0, j1, n, y); break;
    }
}

const sp_gemm_backend sp_gemm_backend_avx512 = {
    .name = "avx512", .mr = MR, .nr = NR, .kernel = kernel_14x32, .pack_w = pack_w_avx512,
    .convert = convert_avx512, .rows = rows_avx512,
};
#endif
