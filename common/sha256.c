/* sha256.c — SHA-256 (FIPS 180-4), e.g. for the provenance hashes of source checkpoints: a
 * streaming hash, a whole-file hash through bounded mappings, and the hex form; the portable
 * block function, and the choice between it and the SHA-extension one of sha256_x86.c (made
 * once, at the first hash; see sha256_impl.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sha256_impl.h"
#include "sparsa_common.h"

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void blocks_portable(uint32_t h[8], const uint8_t *p, size_t nblk) {
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
            uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + sp_sha256_k[i] + w[i];
            uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
        p += 64;
    }
}

static sp_sha256_blocks_fn g_blocks;
static pthread_once_t g_blocks_once = PTHREAD_ONCE_INIT;

static void choose_blocks(void) {
    const char *env = getenv("SPARSA_SHA256");
    sp_sha256_blocks_fn ni = sp_sha256_blocks_x86();
    g_blocks = ni && !(env && !strcmp(env, "portable")) ? ni : blocks_portable;
}

static void blocks(uint32_t h[8], const uint8_t *p, size_t nblk) {
    pthread_once(&g_blocks_once, choose_blocks);
    g_blocks(h, p, nblk);
}

const char *sp_sha256_impl(void) {
    pthread_once(&g_blocks_once, choose_blocks);
    return g_blocks == blocks_portable ? "portable" : "sha-ni";
}

int sp_sha256_use(const char *name) {
    pthread_once(&g_blocks_once, choose_blocks);
    sp_sha256_blocks_fn ni = sp_sha256_blocks_x86();
    if (!name) return -1;
    if (!strcmp(name, "portable")) g_blocks = blocks_portable;
    else if (!strcmp(name, "sha-ni") && ni) g_blocks = ni;
    else if (!strcmp(name, "auto")) g_blocks = ni ? ni : blocks_portable;
    else return -1;
    return 0;
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
