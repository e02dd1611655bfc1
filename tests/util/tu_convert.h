/* tu_convert.h — builders for the converters' tests: stored ZIP archives (optionally
 * ZIP64) and safetensors files, made in memory so hostile inputs need no committed fixtures. */
#ifndef SPARSA_TEST_CONVERT_UTIL_H
#define SPARSA_TEST_CONVERT_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *b;
    size_t n, cap;
} tu_buf;

static inline void tu_put(tu_buf *o, const void *p, size_t n) {
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2 + 64;
        o->b = realloc(o->b, o->cap);
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
static inline void tu_u16(tu_buf *o, uint16_t v) { uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)}; tu_put(o, b, 2); }
static inline void tu_u32(tu_buf *o, uint32_t v) { tu_u16(o, (uint16_t)v); tu_u16(o, (uint16_t)(v >> 16)); }
static inline void tu_u64(tu_buf *o, uint64_t v) { tu_u32(o, (uint32_t)v); tu_u32(o, (uint32_t)(v >> 32)); }

typedef struct {
    const char *name;
    const void *data;
    size_t len;
    uint16_t method;        /* 0 stored */
    uint64_t claim_size;    /* 0: len; else the size written in the central directory */
} tu_member;

/* A ZIP archive of the members; zip64 writes ZIP64 end records and extra fields. */
static inline tu_buf tu_zip(const tu_member *m, int n, int zip64) {
    tu_buf o = {0};
    uint64_t *off = calloc((size_t)n, sizeof *off);
    for (int i = 0; i < n; i++) {
        off[i] = o.n;
        size_t nl = strlen(m[i].name);
        tu_u32(&o, 0x04034b50); tu_u16(&o, 20); tu_u16(&o, 0); tu_u16(&o, m[i].method);
        tu_u16(&o, 0); tu_u16(&o, 0); tu_u32(&o, 0);
        tu_u32(&o, (uint32_t)m[i].len); tu_u32(&o, (uint32_t)m[i].len);
        tu_u16(&o, (uint16_t)nl); tu_u16(&o, 0);
        tu_put(&o, m[i].name, nl);
        tu_put(&o, m[i].data, m[i].len);
    }
    uint64_t cd = o.n;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(m[i].name);
        uint64_t sz = m[i].claim_size ? m[i].claim_size : m[i].len;
        tu_u32(&o, 0x02014b50); tu_u16(&o, 45); tu_u16(&o, 45); tu_u16(&o, 0); tu_u16(&o, m[i].method);
        tu_u16(&o, 0); tu_u16(&o, 0); tu_u32(&o, 0);
        if (zip64) { tu_u32(&o, 0xffffffffu); tu_u32(&o, 0xffffffffu); }
        else { tu_u32(&o, (uint32_t)sz); tu_u32(&o, (uint32_t)sz); }
        tu_u16(&o, (uint16_t)nl); tu_u16(&o, zip64 ? 28 : 0); tu_u16(&o, 0);
        tu_u16(&o, 0); tu_u16(&o, 0); tu_u32(&o, 0);
        tu_u32(&o, zip64 ? 0xffffffffu : (uint32_t)off[i]);
        tu_put(&o, m[i].name, nl);
        if (zip64) { tu_u16(&o, 1); tu_u16(&o, 24); tu_u64(&o, sz); tu_u64(&o, sz); tu_u64(&o, off[i]); }
    }
    uint64_t cdsize = o.n - cd;
    if (zip64) {
        uint64_t z = o.n;
        tu_u32(&o, 0x06064b50); tu_u64(&o, 44); tu_u16(&o, 45); tu_u16(&o, 45); tu_u32(&o, 0); tu_u32(&o, 0);
        tu_u64(&o, (uint64_t)n); tu_u64(&o, (uint64_t)n); tu_u64(&o, cdsize); tu_u64(&o, cd);
        tu_u32(&o, 0x07064b50); tu_u32(&o, 0); tu_u64(&o, z); tu_u32(&o, 1);
    }
    tu_u32(&o, 0x06054b50); tu_u16(&o, 0); tu_u16(&o, 0);
    tu_u16(&o, zip64 ? 0xffff : (uint16_t)n); tu_u16(&o, zip64 ? 0xffff : (uint16_t)n);
    tu_u32(&o, zip64 ? 0xffffffffu : (uint32_t)cdsize); tu_u32(&o, zip64 ? 0xffffffffu : (uint32_t)cd);
    tu_u16(&o, 0);
    free(off);
    return o;
}

/* A torch.save-like archive: <stem>/data.pkl = pkl, plus optional storage members. */
static inline tu_buf tu_torch_zip(const void *pkl, size_t len) {
    tu_member m[2] = {{"archive/data.pkl", pkl, len, 0, 0}, {"archive/version", "3\n", 2, 0, 0}};
    return tu_zip(m, 2, 0);
}

/* A safetensors file from header JSON text and data bytes. */
static inline tu_buf tu_safetensors(const char *header, const void *data, size_t len) {
    tu_buf o = {0};
    tu_u64(&o, strlen(header));
    tu_put(&o, header, strlen(header));
    if (len) tu_put(&o, data, len);
    return o;
}

static inline int tu_write(const char *path, const tu_buf *b) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(b->b, 1, b->n, f);
    fclose(f);
    return w == b->n ? 0 : -1;
}

#endif
