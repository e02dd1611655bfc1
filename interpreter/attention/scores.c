/* scores.c — q·k for attention scores, one key at a time or eight at once, bit-identical.
 *
 * The arithmetic of one score is fixed: over blocks of 16 elements, two 8-lane partial sums
 * (elements x and x+8 of each block), a scalar tail for d mod 16, then
 *     (((s0+s4) + (s2+s6)) + ((s1+s5) + (s3+s7))) + tail   on the lanes of s = part0 + part1.
 * The same pair (query, key) gives the same bits wherever it is computed: alone (decode, row
 * edges) or in a group of eight keys (prefill). The group form keeps eight keys' partial sums
 * in registers and reduces the eight 8-lane vectors together with shuffles, which performs
 * exactly the additions above lane by lane, instead of one horizontal reduction per key.
 * GCC/Clang vector types make this SIMD on any target without reassociation flags (the build
 * is ISO C, so a*b+c is never contracted into an FMA behind our back). */
#include <string.h>

#include "attention_internal.h"

typedef float v8f __attribute__((vector_size(32)));

/* Lane i of the result is lane idx[i] of the 16 lanes a‖b (GCC's and Clang's spellings). */
#ifdef __clang__
#define SHUF2(a, b, i0, i1, i2, i3, i4, i5, i6, i7) __builtin_shufflevector(a, b, i0, i1, i2, i3, i4, i5, i6, i7)
#else
typedef int v8i __attribute__((vector_size(32)));
#define SHUF2(a, b, i0, i1, i2, i3, i4, i5, i6, i7) __builtin_shuffle(a, b, (v8i){i0, i1, i2, i3, i4, i5, i6, i7})
#endif

/* Helpers are macros, not functions: vector arguments and results wider than the target's
 * registers would change the calling convention (GCC -Wpsabi on non-AVX targets). */
#define LOAD8(dst, p) memcpy(&(dst), (p), sizeof(v8f))

float sp__score_dot(const float *restrict a, const float *restrict b, int d) {
    v8f s0 = {0}, s1 = {0}, a0, a1, b0, b1;
    int x = 0;
    for (; x + 16 <= d; x += 16) {
        LOAD8(a0, a + x), LOAD8(b0, b + x), LOAD8(a1, a + x + 8), LOAD8(b1, b + x + 8);
        s0 += a0 * b0;
        s1 += a1 * b1;
    }
    float tail = 0.0f;
    for (; x < d; x++) tail += a[x] * b[x];
    v8f s = s0 + s1;
    return (((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))) + tail;
}

/* Each vector's halves added, for two vectors u, v:
 * (u0+u4, u1+u5, u2+u6, u3+u7, v0+v4, v1+v5, v2+v6, v3+v7). */
#define FOLD_HALVES(u, v) (SHUF2(u, v, 0, 1, 2, 3, 8, 9, 10, 11) + SHUF2(u, v, 4, 5, 6, 7, 12, 13, 14, 15))

/* From two FOLD_HALVES results (keys a,b and c,d, each as p0..p3) the pairs (p0+p2, p1+p3):
 * (a e, a o, c e, c o, b e, b o, d e, d o). */
#define FOLD_PAIRS(ab, cd) (SHUF2(ab, cd, 0, 1, 8, 9, 4, 5, 12, 13) + SHUF2(ab, cd, 2, 3, 10, 11, 6, 7, 14, 15))

void sp__score_dot8(const float *restrict a, const float *restrict b, size_t stride, int d,
                    float *restrict out) {
    v8f s0[8], s1[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) s0[k] = s1[k] = (v8f){0};
    int x = 0;
    for (; x + 16 <= d; x += 16) {
        v8f a0, a1;
        LOAD8(a0, a + x), LOAD8(a1, a + x + 8);
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            v8f b0, b1;
            LOAD8(b0, b + (size_t)k * stride + x), LOAD8(b1, b + (size_t)k * stride + x + 8);
            s0[k] += a0 * b0;
            s1[k] += a1 * b1;
        }
    }
    v8f tail = {0};
    for (int k = 0; k < 8; k++) {
        float t = 0.0f;
        for (int y = x; y < d; y++) t += a[y] * b[(size_t)k * stride + y];
        tail[k] = t;
    }
    v8f u[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) u[k] = s0[k] + s1[k];
    /* keys 0..3 and 4..7, each as (p0+p2, p1+p3) pairs, in the order of FOLD_PAIRS */
    const v8f h01 = FOLD_HALVES(u[0], u[1]), h23 = FOLD_HALVES(u[2], u[3]);
    const v8f h45 = FOLD_HALVES(u[4], u[5]), h67 = FOLD_HALVES(u[6], u[7]);
    const v8f q = FOLD_PAIRS(h01, h23), r = FOLD_PAIRS(h45, h67);
    /* (p0+p2) + (p1+p3) per key; q holds keys 0,2,1,3 and r keys 4,6,5,7 */
    const v8f sum = SHUF2(q, r, 0, 2, 4, 6, 8, 10, 12, 14) + SHUF2(q, r, 1, 3, 5, 7, 9, 11, 13, 15);
    const v8f res = SHUF2(sum, sum, 0, 2, 1, 3, 4, 6, 5, 7) + tail; /* back to key order */
    memcpy(out, &res, sizeof res);
}
