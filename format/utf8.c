/* utf8.c — the name rule of SPEC.md for keys and tensor names (strict UTF-8 itself is
 * common/utf8.c), name comparison and quoting names for messages. */
#include "format_internal.h"

int sp_name_valid(const uint8_t *s, size_t len) {
    if (len < 1 || len > SP_NAME_MAX) return 0;
    if (memchr(s, 0, len)) return 0;
    return sp_utf8_valid(s, len);
}

int sp_name_cmp(const char *a, size_t alen, const char *b, size_t blen) {
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

void sp_name_quote(char *dst, size_t cap, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap < 8) {
        if (cap) dst[0] = 0;
        return;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= cap) {  /* room for "...", the escape and the NUL */
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '\'') {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = 0;
}
