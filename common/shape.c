/* shape.c — the one way sparsa prints a tensor shape: "[2, 3]", "[]" for a scalar. */
#include <stdio.h>
#include <string.h>

#include "sparsa_common.h"

/* Appends t to buf at *o if it fits (with the NUL); remembers the last place where "..." still
 * fits, so a cut ends on a whole piece. */
static int append(char *buf, size_t cap, size_t *o, size_t *cut_at, const char *t) {
    size_t n = strlen(t);
    if (*o + n + 1 > cap) return 0;
    memcpy(buf + *o, t, n + 1);
    *o += n;
    if (*o + 4 <= cap) *cut_at = *o;
    return 1;
}

char *sp_shape_format(char *buf, size_t cap, uint32_t ndim, const uint64_t *dims) {
    if (!buf || cap == 0) return buf;
    buf[0] = 0;
    size_t o = 0, cut_at = 0;
    int ok = append(buf, cap, &o, &cut_at, "[");
    for (uint32_t d = 0; ok && d < ndim; d++) {
        char piece[32];
        snprintf(piece, sizeof piece, "%s%llu", d ? ", " : "", (unsigned long long)dims[d]);
        ok = append(buf, cap, &o, &cut_at, piece);
    }
    if (ok) ok = append(buf, cap, &o, &cut_at, "]");
    if (!ok) {
        if (cap < 4) {  /* not even room for "...": as much of it as fits */
            memcpy(buf, "...", cap - 1);
            buf[cap - 1] = 0;
        } else {
            memcpy(buf + cut_at, "...", 4);
        }
    }
    return buf;
}
