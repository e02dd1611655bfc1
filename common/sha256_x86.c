/* sha256_x86.c — SHA-256 blocks with the x86 SHA extensions (sha256rnds2, sha256msg1/2), the
 * common case on current CPUs: checkpoints are hundreds of MB and their hash is the slowest
 * step of a conversion (see bench/README.md, "Conversion speed"). Compiled with a target
 * attribute so a baseline build still carries it; used only after CPUID says SHA and SSE4.1. */
#include "sha256_impl.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

/* The standard SHA-NI schedule: state kept as (ABEF, CDGH), four rounds per sha256rnds2 pair. */
__attribute__((target("sha,sse4.1"))) static void blocks_ni(uint32_t h[8], const uint8_t *p, size_t nblk) {
    const __m128i MASK = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&h[0]);
    __m128i st1 = _mm_loadu_si128((const __m128i *)&h[4]);
    tmp = _mm_shuffle_epi32(tmp, 0xB1);          /* CDAB */
    st1 = _mm_shuffle_epi32(st1, 0x1B);          /* EFGH */
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8);  /* ABEF */
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);       /* CDGH */
    while (nblk--) {
        __m128i save0 = st0, save1 = st1, msg, m[4];
        for (int i = 0; i < 4; i++)
            m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), MASK);
#pragma GCC unroll 16 /* fully unrolled, m[] lives in registers */
        for (int r = 0; r < 16; r++) {
            __m128i cur = m[r & 3];
            msg = _mm_add_epi32(cur, _mm_loadu_si128((const __m128i *)&sp_sha256_k[4 * r]));
            st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
            msg = _mm_shuffle_epi32(msg, 0x0E);
            st0 = _mm_sha256rnds2_epu32(st0, st1, msg);
            if (r < 12) {
                /* next schedule words for slot r&3: W[t] from the previous four groups */
                __m128i a = m[r & 3], b = m[(r + 1) & 3], c = m[(r + 2) & 3], d = m[(r + 3) & 3];
                __m128i x = _mm_sha256msg1_epu32(a, b);
                x = _mm_add_epi32(x, _mm_alignr_epi8(d, c, 4));
                m[r & 3] = _mm_sha256msg2_epu32(x, d);
            }
        }
        st0 = _mm_add_epi32(st0, save0);
        st1 = _mm_add_epi32(st1, save1);
        p += 64;
    }
    tmp = _mm_shuffle_epi32(st0, 0x1B);          /* FEBA */
    st1 = _mm_shuffle_epi32(st1, 0xB1);          /* DCHG */
    st0 = _mm_blend_epi16(tmp, st1, 0xF0);       /* DCBA */
    st1 = _mm_alignr_epi8(st1, tmp, 8);          /* ABEF */
    _mm_storeu_si128((__m128i *)&h[0], st0);
    _mm_storeu_si128((__m128i *)&h[4], st1);
}

sp_sha256_blocks_fn sp_sha256_blocks_x86(void) {
    /* CPUID: SHA is leaf 7 EBX bit 29, SSE4.1 leaf 1 ECX bit 19 */
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b >> 29 & 1)) return NULL;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c >> 19 & 1)) return NULL;
    return blocks_ni;
}

#else
sp_sha256_blocks_fn sp_sha256_blocks_x86(void) { return NULL; }
#endif
