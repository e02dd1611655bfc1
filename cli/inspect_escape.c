/* inspect_escape.c — writing untrusted names and values safely: control characters escaped
 * in text (so a name cannot forge lines or move the cursor), proper JSON string escaping. */
#include <string.h>

#include "inspect.h"

static int ctrl(unsigned char c) { return c < 0x20 || c == 0x7f; }

void inspect_put_text(FILE *out, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", out);
        else if (c == '\t') fputs("\\t", out);
        else if (c == '\r') fputs("\\r", out);
        else if (c == '\\') fputs("\\\\", out);
        else if (ctrl(c)) fprintf(out, "\\x%02x", c);
        else if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
                 (unsigned char)s[i + 1] < 0xa0) {  /* C1 control (U+0080..U+009F) */
            fprintf(out, "\\u%04x", (unsigned char)s[i + 1]);
            i++;
        } else fputc(c, out);
    }
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t left) {
    unsigned char c = s[0];
    size_t n;
    unsigned cp, min;
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

void inspect_put_json_string(FILE *out, const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', out);
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t n = utf8_seq(s + i, len - i);
        if (n == 0) {  /* not UTF-8 (a path from the command line): replacement character */
            fputs("\\ufffd", out);
            i++;
            continue;
        }
        if (n > 1) {
            fwrite(s + i, 1, n, out);
        } else if (c == '"') fputs("\\\"", out);
        else if (c == '\\') fputs("\\\\", out);
        else if (c == '\n') fputs("\\n", out);
        else if (c == '\t') fputs("\\t", out);
        else if (c == '\r') fputs("\\r", out);
        else if (c < 0x20 || c == 0x7f) fprintf(out, "\\u%04x", c);
        else fputc(c, out);
        i += n;
    }
    fputc('"', out);
}

void inspect_put_text_cut(FILE *out, const char *s, size_t len, size_t max) {
    if (len <= max) {
        inspect_put_text(out, s, len);
        return;
    }
    size_t cut = max;
    while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80) cut--;  /* not mid-character */
    inspect_put_text(out, s, cut);
    fputs("...", out);
}
