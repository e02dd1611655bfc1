/* escape.c — untrusted bytes made safe to print: as a JSON string (any bytes give valid JSON;
 * bytes that are not UTF-8 become U+FFFD) and as terminal text (control characters and
 * backslash escaped, so a name cannot forge lines or move the cursor). */
#include <stdio.h>

#include "sparsa_common.h"

/* Where escaped text goes: a stdio stream or a string builder. */
typedef struct sink {
    FILE *out;
    sp_strbuf *sb;
    int failed;
} sink;

static void put(sink *k, const char *s, size_t n) {
    if (k->sb) sp_sb_put(k->sb, s, n);
    else if (n && fwrite(s, 1, n, k->out) != n) k->failed = 1;
}

static void put_hex(sink *k, const char *prefix, unsigned c) {
    char t[8];
    int n = snprintf(t, sizeof t, "%s%0*x", prefix, prefix[1] == 'u' ? 4 : 2, c);
    put(k, t, (size_t)n);
}

static void json_escape(sink *k, const char *str, size_t len) {
    const uint8_t *s = (const uint8_t *)str;
    put(k, "\"", 1);
    for (size_t i = 0; i < len;) {
        uint8_t c = s[i];
        size_t n = sp_utf8_seq_len(s + i, len - i);
        if (n == 0) {  /* not UTF-8 (a path from the command line, say) */
            put(k, "\\ufffd", 6);
            i++;
            continue;
        }
        if (n > 1) put(k, (const char *)s + i, n);
        else if (c == '"') put(k, "\\\"", 2);
        else if (c == '\\') put(k, "\\\\", 2);
        else if (c == '\n') put(k, "\\n", 2);
        else if (c == '\t') put(k, "\\t", 2);
        else if (c == '\r') put(k, "\\r", 2);
        else if (c < 0x20 || c == 0x7f) put_hex(k, "\\u", c);
        else put(k, (const char *)s + i, 1);
        i += n;
    }
    put(k, "\"", 1);
}

int sp_json_escape(FILE *out, const char *s, size_t len) {
    sink k = {out, NULL, 0};
    json_escape(&k, s, len);
    return k.failed || ferror(out) ? -1 : 0;
}

void sp_sb_json_string(sp_strbuf *b, const char *s, size_t n) {
    sink k = {NULL, b, 0};
    json_escape(&k, s, n);
}

int sp_text_escape(FILE *out, const char *str, size_t len) {
    sink k = {out, NULL, 0};
    const uint8_t *s = (const uint8_t *)str;
    for (size_t i = 0; i < len;) {
        uint8_t c = s[i];
        size_t n = sp_utf8_seq_len(s + i, len - i);
        if (n > 1 && c == 0xc2 && s[i + 1] < 0xa0) put_hex(&k, "\\u", s[i + 1]);  /* C1 control */
        else if (n > 1) put(&k, (const char *)s + i, n);
        else if (c == '\n') put(&k, "\\n", 2);
        else if (c == '\t') put(&k, "\\t", 2);
        else if (c == '\r') put(&k, "\\r", 2);
        else if (c == '\\') put(&k, "\\\\", 2);
        else if (c < 0x20 || c == 0x7f) put_hex(&k, "\\x", c);
        else if (n == 0 && c < 0xa0) put_hex(&k, "\\x", c);  /* a raw C1 byte, not UTF-8 */
        else put(&k, (const char *)s + i, 1);  /* ASCII, or a stray byte shown as it is */
        i += n ? n : 1;
    }
    return k.failed || ferror(out) ? -1 : 0;
}
