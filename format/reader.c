/* reader.c — opening a sparsa file: mapping, the header and the section table (SPEC.md §2,
 * §3, §8), the small sections' checksums, then the metadata and directory parsers
 * (reader_sections.c). Nothing sized by the file is allocated before its bounds are checked. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkostemp, renameat2 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format_internal.h"

#define FAIL(...) sp_fail(err, SP_ERR_INPUT, __VA_ARGS__)

static int check_header(sp_file *f, sp_error *err) {
    const uint8_t *h = f->base;
    if (f->size < SP_HEADER_SIZE)
        return FAIL("header at offset 0: file is %llu bytes, shorter than the %u-byte header",
                    (unsigned long long)f->size, SP_HEADER_SIZE);
    if (memcmp(h, SP_MAGIC, 8))
        return FAIL("header.magic at offset 0: not a sparsa model file");
    f->major = sp_rd16(h + 8);
    f->minor = sp_rd16(h + 10);
    if (f->major != SP_FORMAT_MAJOR)
        return FAIL("header.major at offset 8: file format version %u.%u, this reader reads %d.x "
                    "(%d.%d)", f->major, f->minor, SP_FORMAT_MAJOR, SP_FORMAT_MAJOR,
                    SP_FORMAT_MINOR);
    uint32_t bom = sp_rd32(h + 12);
    if (bom != SP_BYTE_ORDER_MARK)
        return FAIL("header.byte_order at offset 12: 0x%08x, expected 0x%08x (little-endian)%s",
                    bom, SP_BYTE_ORDER_MARK, bom == 0x04030201u ? ": a big-endian file" : "");
    uint32_t crc = sp_rd32(h + 60), want = sp_crc32(0, h, 60);
    if (SP_CRC_BAD(want, crc))
        return FAIL("header.header_crc32 at offset 60: 0x%08x, the header's bytes give 0x%08x",
                    crc, want);
    f->header_size = sp_rd32(h + 16);
    if (f->header_size < SP_HEADER_SIZE || f->header_size > SP_HEADER_MAX)
        return FAIL("header.header_size at offset 16: %u, must be %u..%u", f->header_size,
                    SP_HEADER_SIZE, SP_HEADER_MAX);
    if (f->header_size > f->size)
        return FAIL("header.header_size at offset 16: %u, beyond the end of the %llu-byte file",
                    f->header_size, (unsigned long long)f->size);
    f->alignment = sp_rd32(h + 20);
    if (f->alignment < SP_ALIGN_MIN || f->alignment > SP_ALIGN_MAX ||
        (f->alignment & (f->alignment - 1)))
        return FAIL("header.alignment at offset 20: %u, must be a power of two in %u..%u",
                    f->alignment, SP_ALIGN_MIN, SP_ALIGN_MAX);
    uint64_t fsize = sp_rd64(h + 24);
    if (fsize != f->size)
        return FAIL("header.file_size at offset 24: %llu, but the file has %llu bytes "
                    "(truncated or extended?)", (unsigned long long)fsize,
                    (unsigned long long)f->size);
    uint32_t flags = sp_rd32(h + 48);
    if (flags)
        return FAIL("header.flags at offset 48: unknown flag bits 0x%08x", flags);
    if (sp_rd64(h + 52))
        return FAIL("header.reserved at offset 52: must be 0");
    return SP_OK;
}

static const char *kind_name(uint32_t kind) {
    static const char *const names[] = {"?", "METADATA", "GRAPH", "TOKENIZER",
                                        "TENSOR_DIRECTORY", "TENSOR_DATA"};
    return kind <= SP_SEC_KNOWN_MAX ? names[kind] : "unknown";
}

/* Ranges [off, off+size) that must not overlap: the sections and the table itself. */
typedef struct {
    uint64_t off, end, at;  /* at: offset of the table entry (or of the header field) */
    const char *what;
} range;

static int check_overlaps(const range *r, size_t n, sp_error *err) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            if (r[i].off == r[i].end || r[j].off == r[j].end) continue;
            if (r[i].off < r[j].end && r[j].off < r[i].end) {
                const range *a = &r[j];  /* report the later entry */
                return FAIL("%s at offset %llu: range [%llu, %llu) overlaps %s [%llu, %llu)",
                            a->what, (unsigned long long)a->at, (unsigned long long)a->off,
                            (unsigned long long)a->end, r[i].what,
                            (unsigned long long)r[i].off, (unsigned long long)r[i].end);
            }
        }
    return SP_OK;
}

#define SECTION_LABEL 48

/* Section table entry i (at file offset `at`): its fields, its bounds (into *r, for the
 * overlap check) and, for a known kind, its place in f->sec. */
static int check_entry(sp_file *f, size_t i, uint64_t at, range *r, char *label, sp_error *err) {
    uint64_t end;
    const uint8_t *e = f->base + at;
    sp_section *s = &f->sections[i];
    s->kind = sp_rd32(e);
    s->flags = sp_rd32(e + 4);
    s->offset = sp_rd64(e + 8);
    s->size = sp_rd64(e + 16);
    s->crc32 = sp_rd32(e + 24);
    s->entry_offset = at;
    int known = s->kind >= 1 && s->kind <= SP_SEC_KNOWN_MAX;
    snprintf(label, SECTION_LABEL, "section %zu (%s)", i, kind_name(s->kind));
    if (!known && (s->flags & SP_SECTION_REQUIRED))
        return FAIL("section %zu kind at offset %llu: unknown required section kind %u "
                    "(this reader knows 1..%d of format %d.%d)", i,
                    (unsigned long long)at, s->kind, SP_SEC_KNOWN_MAX, SP_FORMAT_MAJOR,
                    SP_FORMAT_MINOR);
    if (s->flags & ~SP_SECTION_REQUIRED)
        return FAIL("section %zu flags at offset %llu: unknown flag bits 0x%08x", i,
                    (unsigned long long)(at + 4), s->flags);
    if (known && s->flags != SP_SECTION_REQUIRED)
        return FAIL("section %zu flags at offset %llu: a %s section must be marked required",
                    i, (unsigned long long)(at + 4), kind_name(s->kind));
    if (sp_rd32(e + 28))
        return FAIL("section %zu reserved at offset %llu: must be 0", i,
                    (unsigned long long)(at + 28));
    if (s->offset % 8)
        return FAIL("section %zu offset at offset %llu: %llu is not a multiple of 8", i,
                    (unsigned long long)(at + 8), (unsigned long long)s->offset);
    if (s->offset < f->header_size || sp_add_ovf(s->offset, s->size, &end) || end > f->size)
        return FAIL("section %zu (%s) at offset %llu: range [%llu, +%llu) is not between "
                    "the header and the end of the %llu-byte file", i, kind_name(s->kind),
                    (unsigned long long)(at + 8), (unsigned long long)s->offset,
                    (unsigned long long)s->size, (unsigned long long)f->size);
    *r = (range){s->offset, end, at + 8, label};
    if (!known) return SP_OK;  /* optional and unknown: skipped (after the bounds checks) */
    if (f->sec[s->kind])
        return FAIL("section %zu kind at offset %llu: a second %s section", i,
                    (unsigned long long)at, kind_name(s->kind));
    f->sec[s->kind] = s;
    if (s->kind == SP_SEC_DATA) {
        if (s->crc32)
            return FAIL("section %zu crc32 at offset %llu: must be 0 for TENSOR_DATA", i,
                        (unsigned long long)(at + 24));
        if (s->offset % f->alignment)
            return FAIL("section %zu offset at offset %llu: TENSOR_DATA at %llu is not a "
                        "multiple of the alignment %u", i, (unsigned long long)(at + 8),
                        (unsigned long long)s->offset, f->alignment);
    }
    return SP_OK;
}

/* The sections every file has, the checksums of the small ones, and the graph as text. */
static int check_section_contents(sp_file *f, uint64_t table, sp_error *err) {
    static const int mandatory[] = {SP_SEC_METADATA, SP_SEC_DIRECTORY, SP_SEC_DATA};
    for (size_t k = 0; k < 3; k++)
        if (!f->sec[mandatory[k]])
            return FAIL("section table at offset %llu: no %s section",
                        (unsigned long long)table, kind_name((uint32_t)mandatory[k]));
    for (uint32_t kind = 1; kind < SP_SEC_DATA; kind++) {
        const sp_section *s = f->sec[kind];
        if (!s) continue;
        uint32_t crc = sp_crc32(0, f->base + s->offset, (size_t)s->size);
        if (SP_CRC_BAD(s->crc32, crc))
            return FAIL("section %s crc32 at offset %llu: 0x%08x, the section's bytes give 0x%08x",
                        kind_name(kind), (unsigned long long)(s->entry_offset + 24), s->crc32,
                        crc);
    }
    const sp_section *g = f->sec[SP_SEC_GRAPH];
    if (g && (memchr(f->base + g->offset, 0, (size_t)g->size) ||
              !sp_utf8_valid(f->base + g->offset, (size_t)g->size)))
        return FAIL("graph section at offset %llu: not UTF-8 text without NUL bytes",
                    (unsigned long long)g->offset);
    return SP_OK;
}

static int check_sections(sp_file *f, sp_error *err) {
    const uint8_t *h = f->base;
    uint64_t table = sp_rd64(h + 32), count = sp_rd64(h + 40), tbytes, tend;
    if (count < 1 || count > SP_SECTION_MAX)
        return FAIL("header.section_count at offset 40: %llu, must be 1..%u",
                    (unsigned long long)count, SP_SECTION_MAX);
    if (table % 8)
        return FAIL("header.section_table_offset at offset 32: %llu is not a multiple of 8",
                    (unsigned long long)table);
    tbytes = count * SP_SECTION_ENTRY;
    if (table < f->header_size || sp_add_ovf(table, tbytes, &tend) || tend > f->size)
        return FAIL("header.section_table_offset at offset 32: table [%llu, +%llu) is not "
                    "between the header and the end of the %llu-byte file",
                    (unsigned long long)table, (unsigned long long)tbytes,
                    (unsigned long long)f->size);
    range r[SP_SECTION_MAX + 1];
    char labels[SP_SECTION_MAX][SECTION_LABEL];
    r[0] = (range){table, tend, 32, "section table"};
    f->section_count = (size_t)count;
    for (size_t i = 0; i < count; i++)
        if (check_entry(f, i, table + i * SP_SECTION_ENTRY, &r[i + 1], labels[i], err))
            return SP_ERR_INPUT;
    if (check_overlaps(r, (size_t)count + 1, err)) return SP_ERR_INPUT;
    return check_section_contents(f, table, err);
}

static int validate(sp_file *f, sp_error *err) {
    int rc;
    if ((rc = check_header(f, err)) || (rc = check_sections(f, err)) ||
        (rc = sp_parse_metadata(f, err)) || (rc = sp_parse_directory(f, err)))
        return rc;
    return SP_OK;
}

static int finish_open(sp_file *f, const sp_file_options *opts, sp_file **out, sp_error *err) {
    f->verify_on_use = !(opts && opts->no_verify);
    int rc = validate(f, err);
    if (rc) {
        sp_file_close(f);
        return rc;
    }
    *out = f;
    return SP_OK;
}

int sp_file_open_memory(const void *data, size_t size, sp_file **out, sp_error *err) {
    *out = NULL;
    sp_file *f = calloc(1, sizeof *f);
    if (!f) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    f->base = data;
    f->size = size;
    return finish_open(f, NULL, out, err);
}

int sp_file_open(const char *path, sp_file **out, sp_error *err) {
    return sp_file_open_opts(path, NULL, out, err);
}

int sp_file_open_opts(const char *path, const sp_file_options *opts, sp_file **out,
                      sp_error *err) {
    *out = NULL;
    /* a FIFO, device or directory is refused before anything can block */
    uint64_t size = 0;
    int fd = sp_open_input(path, &size, err);
    if (fd < 0) return err ? err->code : SP_ERR_INPUT;
    if (size < SP_HEADER_SIZE) {
        close(fd);
        return sp_fail(err, SP_ERR_INPUT, "header at offset 0: %s is %llu bytes, shorter than "
                       "the %u-byte header", path, (unsigned long long)size, SP_HEADER_SIZE);
    }
    if ((uint64_t)(size_t)size != size) {
        close(fd);
        return sp_fail(err, SP_ERR_INPUT, "%s: too large to map on this machine", path);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int mmap_errno = errno;
    close(fd);
    if (map == MAP_FAILED)
        return sp_fail(err, SP_ERR_RUNTIME, "%s: cannot map: %s", path, strerror(mmap_errno));
    sp_file *f = calloc(1, sizeof *f);
    if (!f) {
        munmap(map, (size_t)size);
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    }
    f->base = map;
    f->size = size;
    f->mapped = 1;
    return finish_open(f, opts, out, err);
}

void sp_file_close(sp_file *f) {
    if (!f) return;
    if (f->decompressed)
        for (size_t i = 0; i < f->tensor_count; i++) free(atomic_load(&f->decompressed[i]));
    free(f->decompressed);
    free(f->verified);
    free(f->tensor_sorted);
    free(f->tensors);
    free(f->meta_sorted);
    free(f->meta);
    if (f->mapped) munmap((void *)f->base, (size_t)f->size);
    free(f);
}

uint16_t sp_file_major(const sp_file *f) { return f->major; }
uint16_t sp_file_minor(const sp_file *f) { return f->minor; }
uint32_t sp_file_alignment(const sp_file *f) { return f->alignment; }
uint64_t sp_file_size(const sp_file *f) { return f->size; }

const char *sp_file_graph(const sp_file *f, size_t *len) {
    const sp_section *s = f->sec[SP_SEC_GRAPH];
    *len = s ? (size_t)s->size : 0;
    return s ? (const char *)f->base + s->offset : NULL;
}

const void *sp_file_tokenizer(const sp_file *f, size_t *len) {
    const sp_section *s = f->sec[SP_SEC_TOKENIZER];
    *len = s ? (size_t)s->size : 0;
    return s ? f->base + s->offset : NULL;
}
