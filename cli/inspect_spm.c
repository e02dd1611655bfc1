/* inspect_spm.c — a SentencePiece model read without the library: the vocabulary size (the
 * top-level `pieces` fields, field 1, length-delimited, of the ModelProto) and each piece's
 * text (field 1 of that SentencePiece message), for `inspect` and `tokenize --pieces`. Every
 * length is checked against the bytes left. */
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

/* The text (field 1) of one SentencePiece message; an empty piece when it has none. */
static int piece_text(const uint8_t *p, size_t n, const uint8_t **text, size_t *len) {
    size_t i = 0;
    *text = p;
    *len = 0;
    while (i < n) {
        uint64_t key, v;
        if (!varint(p, n, &i, &key)) return 0;
        switch (key & 7) {
        case 0: if (!varint(p, n, &i, &v)) return 0; break;
        case 1: if (n - i < 8) return 0; i += 8; break;
        case 5: if (n - i < 4) return 0; i += 4; break;
        case 2:
            if (!varint(p, n, &i, &v) || v > n - i) return 0;
            if (key >> 3 == 1) {
                *text = p + i;
                *len = (size_t)v;
            }
            i += (size_t)v;
            break;
        default: return 0;
        }
    }
    return 1;
}

long long inspect_spm_pieces(const uint8_t *p, size_t n, const uint8_t **text, size_t *len,
                             size_t cap) {
    size_t i = 0;
    long long pieces = 0;
    while (i < n) {
        uint64_t key, v;
        if (!varint(p, n, &i, &key) || key >> 3 == 0) return -1;
        switch (key & 7) {
        case 0: if (!varint(p, n, &i, &v)) return -1; break;
        case 1: if (n - i < 8) return -1; i += 8; break;
        case 5: if (n - i < 4) return -1; i += 4; break;
        case 2:
            if (!varint(p, n, &i, &v) || v > n - i) return -1;
            if (key >> 3 == 1) {
                if ((size_t)pieces < cap && !piece_text(p + i, (size_t)v, &text[pieces], &len[pieces]))
                    return -1;
                pieces++;
            }
            i += (size_t)v;
            break;
        default: return -1;
        }
    }
    return pieces;
}
