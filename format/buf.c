/* buf.c — little-endian fields appended to the writer's serialisation buffer (an sp_strbuf
 * from common/, which holds any bytes). */
#include "format_internal.h"

void sp_buf_put(sp_buf *b, const void *d, size_t n) { sp_sb_put(b, d, n); }

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
