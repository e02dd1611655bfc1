/* dist_rec.h — private to eval/: per-item records of a split evaluation (sp_dist_collect), as
 * bytes in host order (every rank of a job runs on the same kind of host): writers append to
 * an sp_strbuf, a reader takes values back in the same order and notices a short record. */
#ifndef SPARSA_EVAL_DIST_REC_H
#define SPARSA_EVAL_DIST_REC_H

#include <stdint.h>
#include <string.h>

#include "sparsa_common.h"

static inline void rec_put(sp_strbuf *b, const void *v, size_t n) { sp_sb_put(b, v, n); }
static inline void rec_u8(sp_strbuf *b, unsigned char v) { rec_put(b, &v, 1); }
static inline void rec_u64(sp_strbuf *b, uint64_t v) { rec_put(b, &v, sizeof v); }
static inline void rec_f64(sp_strbuf *b, double v) { rec_put(b, &v, sizeof v); }

typedef struct rec_reader {
    const char *p, *end;
    int short_read;   /* 1: a value was asked past the end (its bytes read as 0) */
} rec_reader;

static inline void rec_get(rec_reader *r, void *v, size_t n) {
    if ((size_t)(r->end - r->p) < n) {
        memset(v, 0, n);
        r->short_read = 1;
        r->p = r->end;
        return;
    }
    memcpy(v, r->p, n);
    r->p += n;
}
static inline unsigned char rec_get_u8(rec_reader *r) {
    unsigned char v;
    rec_get(r, &v, 1);
    return v;
}
static inline uint64_t rec_get_u64(rec_reader *r) {
    uint64_t v;
    rec_get(r, &v, sizeof v);
    return v;
}
static inline double rec_get_f64(rec_reader *r) {
    double v;
    rec_get(r, &v, sizeof v);
    return v;
}

#endif
