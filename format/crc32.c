/* crc32.c — CRC-32 (ISO-HDLC: reflected polynomial 0xEDB88320, init and xorout ~0, as zlib),
 * slice-by-8: eight table lookups per 8 input bytes, about 8x a byte-at-a-time loop. */
#include "format_internal.h"

static uint32_t table[8][256];

/* Built once before main; the tables are then read-only, so sp_crc32 is thread-safe. */
__attribute__((constructor)) static void crc32_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

uint32_t sp_crc32(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = data;
    crc = ~crc;
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
    return ~crc;
}
