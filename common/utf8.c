/* utf8.c — strict UTF-8: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above
 * U+10FFFF. The one validator of sparsa (file names in the format, JSON output, tokenizer text). */
#include "sparsa_common.h"

size_t sp_utf8_seq_len(const uint8_t *s, size_t left) {
    if (left == 0) return 0;
    uint8_t c = s[0];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) n = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0) n = 3, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0) n = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (left < n) return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

int sp_utf8_valid(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {  /* ASCII runs are the common case */
            i++;
            continue;
        }
        size_t n = sp_utf8_seq_len(s + i, len - i);
        if (!n) return 0;
        i += n;
    }
    return 1;
}
