/* tu_hostile.h — building hostile files: a valid image written by the library, then
 * bytes patched in place, with the CRCs recomputed where a test aims past them. */
#ifndef SPARSA_TEST_FORMAT_HOSTILE_H
#define SPARSA_TEST_FORMAT_HOSTILE_H

#include "tu_format.h"

typedef struct {
    uint8_t *b;
    size_t n;
} himg;

static inline uint32_t tu_img_rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t tu_img_rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void tu_img_wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void tu_img_wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* Reads a file written by `make` (a function writing a valid file at a path). */
static inline himg tu_img_load_with(int (*make)(const char *, sp_error *)) {
    char path[256];
    tu_tmp_name(path, sizeof path, "hostile");
    sp_error err;
    himg im = {0};
    if (make(path, &err)) {
        fprintf(stderr, "fixture: %s\n", err.msg);
        abort();
    }
    im.b = tu_read_file(path, &im.n);
    remove(path);
    return im;
}
static inline himg tu_img_load(void) { return tu_img_load_with(tu_write_small_file); }

static inline himg tu_img_copy(const himg *a) {
    himg c = {malloc(a->n ? a->n : 1), a->n};
    memcpy(c.b, a->b, a->n);
    return c;
}

static inline uint64_t tu_img_table(const himg *im) { return tu_img_rd64(im->b + 32); }
static inline uint64_t tu_img_count(const himg *im) { return tu_img_rd64(im->b + 40); }

/* Offset of the section table entry of `kind` (0 if absent). */
static inline uint64_t tu_img_entry(const himg *im, uint32_t kind) {
    for (uint64_t i = 0; i < tu_img_count(im); i++) {
        uint64_t e = tu_img_table(im) + 32 * i;
        if (tu_img_rd32(im->b + e) == kind) return e;
    }
    return 0;
}
static inline uint64_t tu_img_sec_off(const himg *im, uint32_t kind) {
    return tu_img_rd64(im->b + tu_img_entry(im, kind) + 8);
}
static inline uint64_t tu_img_sec_size(const himg *im, uint32_t kind) {
    return tu_img_rd64(im->b + tu_img_entry(im, kind) + 16);
}

static inline void tu_img_fix_header(himg *im) { tu_img_wr32(im->b + 60, sp_crc32(0, im->b, 60)); }
static inline void tu_img_fix_section(himg *im, uint32_t kind) {
    uint64_t e = tu_img_entry(im, kind);
    tu_img_wr32(im->b + e + 24, sp_crc32(0, im->b + tu_img_rd64(im->b + e + 8),
                                     (size_t)tu_img_rd64(im->b + e + 16)));
}

/* Field offsets of tensor directory entry i (walked independently of the library). */
typedef struct {
    uint64_t name_len, name, dtype, ndim, dims, comp, crc, off, stored;
} tu_img_tensor;

static inline tu_img_tensor tu_img_dir(const himg *im, size_t idx) {
    uint64_t p = tu_img_sec_off(im, 4) + 8;
    tu_img_tensor t = {0};
    for (size_t i = 0; i <= idx; i++) {
        t.name_len = p;
        t.name = p + 4;
        p = t.name + tu_img_rd32(im->b + t.name_len);
        t.dtype = p;
        t.ndim = p + 4;
        t.dims = p + 8;
        p = t.dims + 8ull * tu_img_rd32(im->b + t.ndim);
        t.comp = p;
        t.crc = p + 4;
        t.off = p + 8;
        t.stored = p + 16;
        p += 24;
    }
    return t;
}

/* Absolute offset of tensor idx's stored bytes. */
static inline uint64_t tu_img_data_at(const himg *im, size_t idx) {
    return tu_img_sec_off(im, 5) + tu_img_rd64(im->b + tu_img_dir(im, idx).off);
}

/* Opens a copy of exactly n bytes (so a read past the end is an ASan error). */
static inline int tu_img_open(const himg *im, sp_error *err) {
    uint8_t *c = malloc(im->n ? im->n : 1);
    memcpy(c, im->b, im->n);
    sp_file *f;
    memset(err, 0, sizeof *err);
    int rc = sp_file_open_memory(c, im->n, &f, err);
    if (!rc) sp_file_close(f);
    free(c);
    return rc;
}

/* Writes the image to a fresh temp path (returned in path). */
static inline void tu_img_save(const himg *im, char *path, size_t cap) {
    tu_tmp_name(path, cap, "hostile");
    FILE *fp = fopen(path, "wb");
    fwrite(im->b, 1, im->n, fp);
    fclose(fp);
}

#endif
