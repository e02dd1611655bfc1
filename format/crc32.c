/* crc32.c — CRC-32 (ISO-HDLC: reflected polynomial 0xEDB88320, init and xorout ~0, as zlib).
 *
 * Three paths, the fastest the CPU has chosen once at start-up (sp_crc32_use picks another,
 * for tests and measurements):
 *  - slice-by-8 tables: eight lookups per 8 input bytes; portable;
 *  - carry-less multiplication on 128 bits (PCLMULQDQ, x86-64): the message is folded 64 bytes
 *    at a time into four 128-bit remainders, ~20x the table path;
 *  - the same on 512 bits (VPCLMULQDQ with AVX-512): 256 bytes at a time into four registers of
 *    four 128-bit remainders each, about 3x the 128-bit path. A converter checksums every
 *    tensor it writes and its self-check every tensor it reads back, so this runs at the
 *    speed of memory rather than of the instructions.
 *
 * Folding, in the reflected representation the CRC uses: a 16-byte block loaded little-endian
 * is a polynomial whose bit k is the coefficient of x^(127-k). For a block X = H·x^64 + L that
 * lies D bits before another, X·x^D ≡ H·(x^(64+D) mod P) + L·(x^D mod P), a polynomial of
 * degree < 96 that is simply XORed into the later block. A carry-less product of two 64-bit
 * reflected operands lands one bit short (bit k means x^(126-k)), so each constant carries one
 * power of x less: x^(63+D) mod P and x^(D-1) mod P. The 512-bit path folds each 128-bit lane
 * the same way, by D = 2048 across its four registers, then by 512 to one register, then lane
 * into lane by 128. The constants are computed at start-up from P itself rather than copied as
 * magic numbers. The last 128-bit remainder R is reduced by running the table path over its 16
 * bytes from a zero register, which yields R·x^32 mod P. */
#include "crc32_impl.h"
#include "format_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SP_CRC_CLMUL 1
#endif

static uint32_t table[8][256];

/* Reflected register update over bytes, without the ~ on entry and exit. */
static uint32_t crc_tables(uint32_t crc, const uint8_t *p, size_t len) {
    while (len && ((uintptr_t)p & 7)) {
        crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        len--;
    }
    while (len >= 8) {
        uint32_t a = sp_rd32(p) ^ crc, b = sp_rd32(p + 4);
        crc = table[7][a & 0xff] ^ table[6][(a >> 8) & 0xff] ^ table[5][(a >> 16) & 0xff] ^
              table[4][a >> 24] ^ table[3][b & 0xff] ^ table[2][(b >> 8) & 0xff] ^
              table[1][(b >> 16) & 0xff] ^ table[0][b >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#ifdef SP_CRC_CLMUL
/* Fold constants as 64-bit reflected lanes: {x^(63+D) mod P, x^(D-1) mod P}. */
static uint64_t fold2048[2], fold512[2], fold128[2];
static int have_clmul, have_vclmul;

/* x^n mod P (P = x^32 + 0x04C11DB7, the normal form), as an ordinary bit pattern. */
static uint32_t xpow_mod(unsigned n) {
    uint32_t r = 1;
    while (n--) r = (r & 0x80000000u) ? (r << 1) ^ 0x04C11DB7u : r << 1;
    return r;
}

/* The polynomial of degree < 32 as a reflected 64-bit lane: coefficient of x^d at bit 63-d. */
static uint64_t reflect_lane(uint32_t poly) {
    uint64_t v = 0;
    for (int d = 0; d < 32; d++)
        if (poly >> d & 1) v |= 1ull << (63 - d);
    return v;
}

__attribute__((target("pclmul,sse2"))) static inline __m128i fold(__m128i x, __m128i k, __m128i next) {
    __m128i hi = _mm_clmulepi64_si128(x, k, 0x00); /* H·k0: low lane of x is the high degrees */
    __m128i lo = _mm_clmulepi64_si128(x, k, 0x11); /* L·k1 */
    return _mm_xor_si128(_mm_xor_si128(hi, lo), next);
}

/* len >= 64. Returns the register after the largest multiple of 16 bytes; *used tells how many. */
__attribute__((target("pclmul,sse2"))) static uint32_t crc_clmul(uint32_t crc, const uint8_t *p, size_t len,
                                                                 size_t *used) {
    const __m128i k512 = _mm_set_epi64x((long long)fold512[1], (long long)fold512[0]);
    const __m128i k128 = _mm_set_epi64x((long long)fold128[1], (long long)fold128[0]);
    __m128i a = _mm_loadu_si128((const __m128i *)p), b = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i c = _mm_loadu_si128((const __m128i *)(p + 32)), d = _mm_loadu_si128((const __m128i *)(p + 48));
    a = _mm_xor_si128(a, _mm_cvtsi32_si128((int)crc)); /* the register enters at the first bits */
    size_t off = 64;
    for (; len - off >= 64; off += 64) {
        a = fold(a, k512, _mm_loadu_si128((const __m128i *)(p + off)));
        b = fold(b, k512, _mm_loadu_si128((const __m128i *)(p + off + 16)));
        c = fold(c, k512, _mm_loadu_si128((const __m128i *)(p + off + 32)));
        d = fold(d, k512, _mm_loadu_si128((const __m128i *)(p + off + 48)));
    }
    a = fold(a, k128, b);
    a = fold(a, k128, c);
    a = fold(a, k128, d);
    for (; len - off >= 16; off += 16) a = fold(a, k128, _mm_loadu_si128((const __m128i *)(p + off)));
    uint8_t rest[16];
    _mm_storeu_si128((__m128i *)rest, a);
    *used = off;
    return crc_tables(0, rest, 16);
}

#define SP_VCLMUL_TARGET __attribute__((target("avx512f,vpclmulqdq,pclmul,sse2")))

SP_VCLMUL_TARGET static inline __m512i fold4(__m512i x, __m512i k, __m512i next) {
    __m512i hi = _mm512_clmulepi64_epi128(x, k, 0x00);
    __m512i lo = _mm512_clmulepi64_epi128(x, k, 0x11);
    return _mm512_ternarylogic_epi64(hi, lo, next, 0x96); /* hi ^ lo ^ next */
}

SP_VCLMUL_TARGET static inline __m512i lanes_of(const uint64_t k[2]) {
    return _mm512_broadcast_i32x4(_mm_set_epi64x((long long)k[1], (long long)k[0]));
}

/* len >= 256. As crc_clmul, 256 bytes a step. */
SP_VCLMUL_TARGET static uint32_t crc_vclmul(uint32_t crc, const uint8_t *p, size_t len, size_t *used) {
    const __m512i k2048 = lanes_of(fold2048), k512 = lanes_of(fold512);
    const __m128i k128 = _mm_set_epi64x((long long)fold128[1], (long long)fold128[0]);
    __m512i a = _mm512_loadu_si512(p), b = _mm512_loadu_si512(p + 64);
    __m512i c = _mm512_loadu_si512(p + 128), d = _mm512_loadu_si512(p + 192);
    a = _mm512_xor_si512(a, _mm512_castsi128_si512(_mm_cvtsi32_si128((int)crc)));
    size_t off = 256;
    for (; len - off >= 256; off += 256) {
        a = fold4(a, k2048, _mm512_loadu_si512(p + off));
        b = fold4(b, k2048, _mm512_loadu_si512(p + off + 64));
        c = fold4(c, k2048, _mm512_loadu_si512(p + off + 128));
        d = fold4(d, k2048, _mm512_loadu_si512(p + off + 192));
    }
    a = fold4(a, k512, b);
    a = fold4(a, k512, c);
    a = fold4(a, k512, d);
    for (; len - off >= 64; off += 64) a = fold4(a, k512, _mm512_loadu_si512(p + off));
    __m128i x = fold(_mm512_castsi512_si128(a), k128, _mm512_extracti32x4_epi32(a, 1));
    x = fold(x, k128, _mm512_extracti32x4_epi32(a, 2));
    x = fold(x, k128, _mm512_extracti32x4_epi32(a, 3));
    for (; len - off >= 16; off += 16) x = fold(x, k128, _mm_loadu_si128((const __m128i *)(p + off)));
    uint8_t rest[16];
    _mm_storeu_si128((__m128i *)rest, x);
    *used = off;
    return crc_tables(0, rest, 16);
}
#endif

/* The path sp_crc32 takes: 0 tables, 1 PCLMULQDQ, 2 VPCLMULQDQ. */
static int path;

/* Built once before main; everything is then read-only, so sp_crc32 is thread-safe. */
__attribute__((constructor)) static void crc32_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
#ifdef SP_CRC_CLMUL
    fold512[0] = reflect_lane(xpow_mod(63 + 512));
    fold512[1] = reflect_lane(xpow_mod(512 - 1));
    fold128[0] = reflect_lane(xpow_mod(63 + 128));
    fold128[1] = reflect_lane(xpow_mod(128 - 1));
    fold2048[0] = reflect_lane(xpow_mod(63 + 2048));
    fold2048[1] = reflect_lane(xpow_mod(2048 - 1));
    __builtin_cpu_init();
    have_clmul = __builtin_cpu_supports("pclmul");
    have_vclmul = have_clmul && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq");
    path = have_vclmul ? 2 : have_clmul;
#endif
}

static const char *const path_names[] = {"tables", "pclmul", "vpclmul"};

const char *sp_crc32_impl(void) { return path_names[path]; }

int sp_crc32_use(const char *name) {
    for (int i = 0; i < 3; i++) {
        if (!name || strcmp(name, path_names[i])) continue;
#ifdef SP_CRC_CLMUL
        if ((i == 1 && !have_clmul) || (i == 2 && !have_vclmul)) return -1;
#else
        if (i) return -1;
#endif
        path = i;
        return 0;
    }
    return -1;
}

uint32_t sp_crc32(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = data;
    crc = ~crc;
#ifdef SP_CRC_CLMUL
    size_t used = 0;
    if (path == 2 && len >= 256) crc = crc_vclmul(crc, p, len, &used);
    else if (path && len >= 64) crc = crc_clmul(crc, p, len, &used);
    p += used;
    len -= used;
#endif
    return ~crc_tables(crc, p, len);
}
