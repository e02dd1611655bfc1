/* sha256.c — SHA-256 (FIPS 180-4), e.g. for the provenance hashes of source checkpoints: a
 * streaming hash, a whole-file hash through bounded mappings, and the hex form. Uses the x86 SHA
 * extensions when the CPU has them (checked at run time: checkpoints are hundreds of MB and the
 * hash is the slowest part of a conversion), else portable C. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sparsa_common.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define SP_SHA_NI 1
#endif

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void blocks_c(uint32_t h[8], const uint8_t *p, size_t nblk) {
    while (nblk--) {
        uint32_t w[64];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
        for (int i = 0; i < 64; i++) {
            uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
            uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
        p += 64;
    }
}

#ifdef SP_SHA_NI
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
            msg = _mm_add_epi32(cur, _mm_loadu_si128((const __m128i *)&K[4 * r]));
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
#endif

static void blocks(uint32_t h[8], const uint8_t *p, size_t nblk) {
#ifdef SP_SHA_NI
    static int have_ni = -1; /* racing first callers all store the same answer */
    if (have_ni < 0) {
        /* CPUID: SHA is leaf 7 EBX bit 29, SSE4.1 leaf 1 ECX bit 19 */
        unsigned a, b, c, d, ok = 0;
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 29 & 1) && __get_cpuid(1, &a, &b, &c, &d))
            ok = c >> 19 & 1;
        have_ni = (int)ok;
    }
    if (have_ni) {
        blocks_ni(h, p, nblk);
        return;
    }
#endif
    blocks_c(h, p, nblk);
}

void sp_sha256_init(sp_sha256 *s) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->total = 0;
    s->fill = 0;
}

void sp_sha256_update(sp_sha256 *s, const void *data, size_t len) {
    const uint8_t *p = data;
    s->total += len;
    if (s->fill) {
        size_t k = 64 - s->fill < len ? 64 - s->fill : len;
        memcpy(s->buf + s->fill, p, k);
        s->fill += k;
        p += k;
        len -= k;
        if (s->fill < 64) return;
        blocks(s->h, s->buf, 1);
        s->fill = 0;
    }
    if (len >= 64) {
        blocks(s->h, p, len / 64);
        p += len / 64 * 64;
        len %= 64;
    }
    memcpy(s->buf, p, len);
    s->fill = len;
}

void sp_sha256_final(sp_sha256 *s, uint8_t out[32]) {
    uint64_t bits = s->total * 8;
    uint8_t pad[72] = {0x80};
    size_t padlen = (s->fill < 56 ? 56 : 120) - s->fill;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(bits >> (56 - 8 * i));
    uint64_t keep = s->total;
    sp_sha256_update(s, pad, padlen);
    sp_sha256_update(s, len8, 8);
    s->total = keep;
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

/* The file is hashed through read-only mappings of 16 MiB windows: no copy into a buffer, and
 * each window is unmapped before the next so resident memory stays bounded. */
int sp_sha256_file(int fd, uint64_t size, char hex[65], sp_error *err) {
    enum { WINDOW = 16 << 20 };
    sp_sha256 s;
    sp_sha256_init(&s);
    for (uint64_t off = 0; off < size;) {
        size_t want = size - off < WINDOW ? (size_t)(size - off) : WINDOW;
        void *map = mmap(NULL, want, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, (off_t)off);
        if (map == MAP_FAILED)
            return sp_fail(err, SP_ERR_RUNTIME, "cannot map the input for hashing at offset %llu: %s",
                           (unsigned long long)off, strerror(errno));
        madvise(map, want, MADV_SEQUENTIAL);
        madvise(map, want, MADV_WILLNEED);
        sp_sha256_update(&s, map, want);
        munmap(map, want);
        off += want;
    }
    uint8_t d[32];
    sp_sha256_final(&s, d);
    sp_sha256_hex(d, hex);
    return 0;
}

void sp_sha256_hex(const uint8_t digest[32], char hex[65]) {
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = hx[digest[i] >> 4];
        hex[2 * i + 1] = hx[digest[i] & 15];
    }
    hex[64] = 0;
}
