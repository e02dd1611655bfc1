/* inspect_spm.c — the vocabulary size of a SentencePiece model without the library: count the
 * top-level `pieces` fields (field 1, length-delimited) of the ModelProto. Every length is
 * checked against the bytes left. */
#include "inspect.h"

static int varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*i >= n) return 0;
        uint8_t b = p[(*i)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return 1;
    }
    return 0;
}

long long inspect_spm_vocab(const uint8_t *p, size_t n) {
    size_t i = 0;
    long long pieces = 0;
    while (i < n) {
        uint64_t key, v;
        if (!varint(p, n, &i, &key)) return -1;
        uint64_t field = key >> 3;
        switch (key & 7) {
        case 0: if (!varint(p, n, &i, &v)) return -1; break;
        case 1: if (n - i < 8) return -1; i += 8; break;
        case 5: if (n - i < 4) return -1; i += 4; break;
        case 2:
            if (!varint(p, n, &i, &v) || v > n - i) return -1;
            i += (size_t)v;
            if (field == 1) pieces++;
            break;
        default: return -1;
        }
        if (field == 0) return -1;
    }
    return pieces;
}
