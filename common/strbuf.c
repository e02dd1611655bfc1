/* strbuf.c — the growable string builder (sp_strbuf): appends, printf, take. Out of memory is
 * sticky, so a caller builds a whole text and checks `oom` once. */
#include <stdlib.h>
#include <string.h>

#include "sparsa_common.h"

/* Room for n more bytes and the NUL; 0, or -1 (and oom set) when memory ran out. */
static int reserve(sp_strbuf *b, size_t n) {
    if (b->oom) return -1;
    if (n > SIZE_MAX - b->len - 1) {
        b->oom = 1;
        return -1;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void sp_sb_put(sp_strbuf *b, const char *s, size_t n) {
    if (reserve(b, n)) return;
    if (n) memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void sp_sb_puts(sp_strbuf *b, const char *s) { sp_sb_put(b, s, strlen(s)); }

void sp_sb_vprintf(sp_strbuf *b, const char *fmt, va_list ap) {
    if (b->oom) return;
    va_list again;
    va_copy(again, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        va_end(again);
        return;  /* an encoding error: nothing to append */
    }
    if ((size_t)n < sizeof small) {
        sp_sb_put(b, small, (size_t)n);
    } else if (!reserve(b, (size_t)n)) {
        vsnprintf(b->s + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
}

void sp_sb_printf(sp_strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sp_sb_vprintf(b, fmt, ap);
    va_end(ap);
}

char *sp_sb_take(sp_strbuf *b) {
    char *s = b->oom ? NULL : b->s ? b->s : strdup("");
    if (b->oom) free(b->s);
    memset(b, 0, sizeof *b);
    return s;
}

void sp_sb_free(sp_strbuf *b) {
    free(b->s);
    memset(b, 0, sizeof *b);
}
