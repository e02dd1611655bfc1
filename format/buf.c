/* buf.c — the growable byte buffer the writer serialises the small sections into. */
#include "format_internal.h"

int sp_buf_reserve(sp_buf *b, size_t extra) {
    if (b->oom) return 0;
    if (b->cap - b->len >= extra) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return 0;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

void sp_buf_put(sp_buf *b, const void *d, size_t n) {
    if (!n || !sp_buf_reserve(b, n)) return;
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

void sp_buf_u32(sp_buf *b, uint32_t v) {
    uint8_t t[4];
    sp_wr32(t, v);
    sp_buf_put(b, t, 4);
}

void sp_buf_u64(sp_buf *b, uint64_t v) {
    uint8_t t[8];
    sp_wr64(t, v);
    sp_buf_put(b, t, 8);
}

void sp_buf_free(sp_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}
