/* zip.c — a ZIP/ZIP64 reader for torch.save archives. Only stored (uncompressed) members are
 * accepted, so there is nothing to inflate and no zip bomb; every size and offset is checked
 * against the archive's length, members may not overlap, and names may not escape the folder.
 * Reading goes record by record: the end of central directory (and its ZIP64 locator and
 * record), each central entry (with its ZIP64 extra field) and the local header it points to,
 * then the overlap and duplicate-name checks over all members. */
#include <stdlib.h>
#include <string.h>

#include "zip_reader.h"

struct sp_zip {
    sp_zip_entry *e;
    size_t n;
};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

void sp_zip_close(sp_zip *z) {
    if (!z) return;
    for (size_t i = 0; i < z->n; i++) free(z->e[i].name);
    free(z->e);
    free(z);
}

size_t sp_zip_count(const sp_zip *z) { return z->n; }
const sp_zip_entry *sp_zip_entry_at(const sp_zip *z, size_t i) { return i < z->n ? &z->e[i] : NULL; }

const sp_zip_entry *sp_zip_find(const sp_zip *z, const char *name) {
    for (size_t i = 0; i < z->n; i++)
        if (!strcmp(z->e[i].name, name)) return &z->e[i];
    return NULL;
}

/* Rejects names that could escape the extraction folder or are ambiguous. */
static const char *bad_name(const char *s, size_t n) {
    if (n == 0) return "empty name";
    if (memchr(s, 0, n)) return "NUL in name";
    if (s[0] == '/') return "absolute path";
    if (memchr(s, '\\', n)) return "backslash in name";
    if (n >= 2 && s[1] == ':') return "drive letter in name";
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '/') j++;
        if (j - i == 2 && s[i] == '.' && s[i + 1] == '.') return "'..' component escapes the folder";
        i = j + 1;
    }
    return NULL;
}

typedef struct { uint64_t lo, hi; size_t idx; } range;

static int cmp_range(const void *a, const void *b) {
    const range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const sp_zip_entry *)a)->name, ((const sp_zip_entry *)b)->name);
}

/* Where the central directory is: the end of central directory record (the last one whose
 * comment reaches exactly the end of the archive) and, when a ZIP64 locator precedes it, the
 * ZIP64 end record it points to. */
typedef struct {
    uint64_t count, cd_off, cd_size;
} central_dir;

static int read_zip64_end(const uint8_t *d, uint64_t eocd, central_dir *cd, uint64_t *cd_limit, sp_error *err) {
    const uint8_t *loc = d + eocd - 20;
    uint64_t z64 = rd64(loc + 8);
    if (rd32(loc + 4) != 0 || rd32(loc + 16) > 1)
        return sp_fail(err, SP_ERR_INPUT, "zip: multi-disk archives are not supported");
    if (z64 > eocd - 20 || eocd - 20 - z64 < 56)
        return sp_fail(err, SP_ERR_INPUT, "zip: zip64 end record offset %llu out of range", (unsigned long long)z64);
    const uint8_t *r = d + z64;
    if (rd32(r) != 0x06064b50)
        return sp_fail(err, SP_ERR_INPUT, "zip: bad zip64 end record signature at offset %llu", (unsigned long long)z64);
    if (rd32(r + 16) != 0 || rd32(r + 20) != 0)
        return sp_fail(err, SP_ERR_INPUT, "zip: multi-disk archives are not supported");
    cd->count = rd64(r + 32);
    cd->cd_size = rd64(r + 40);
    cd->cd_off = rd64(r + 48);
    *cd_limit = z64;
    return 0;
}

static int read_end_records(const uint8_t *d, uint64_t size, central_dir *cd, sp_error *err) {
    if (size < 22) return sp_fail(err, SP_ERR_INPUT, "zip: file too small (%llu bytes)", (unsigned long long)size);
    uint64_t eocd = UINT64_MAX;
    uint64_t lowest = size > 22 + 65535 ? size - 22 - 65535 : 0;
    for (uint64_t p = size - 22 + 1; p-- > lowest;) {
        if (rd32(d + p) == 0x06054b50 && p + 22 + rd16(d + p + 20) == size) {
            eocd = p;
            break;
        }
    }
    if (eocd == UINT64_MAX) return sp_fail(err, SP_ERR_INPUT, "zip: no end-of-central-directory record (truncated file?)");
    const uint8_t *e = d + eocd;
    if (rd16(e + 4) != 0 || rd16(e + 6) != 0)
        return sp_fail(err, SP_ERR_INPUT, "zip: multi-disk archives are not supported");
    cd->count = rd16(e + 10);
    cd->cd_size = rd32(e + 12);
    cd->cd_off = rd32(e + 16);
    uint64_t cd_limit = eocd; /* the central directory must end before this */
    if (eocd >= 20 && rd32(d + eocd - 20) == 0x07064b50) {
        int rc = read_zip64_end(d, eocd, cd, &cd_limit, err);
        if (rc) return rc;
    }
    if (cd->cd_off > cd_limit || cd->cd_size > cd_limit - cd->cd_off)
        return sp_fail(err, SP_ERR_INPUT, "zip: central directory (offset %llu, %llu bytes) lies outside the archive",
                       (unsigned long long)cd->cd_off, (unsigned long long)cd->cd_size);
    if (cd->count > cd->cd_size / 46)
        return sp_fail(err, SP_ERR_INPUT, "zip: %llu entries cannot fit a %llu-byte central directory",
                       (unsigned long long)cd->count, (unsigned long long)cd->cd_size);
    return 0;
}

/* One member as its central entry describes it. */
typedef struct {
    const char *name;
    uint16_t nlen, elen, clen, flags, method;
    uint64_t csize, usize, loff;
} member;

/* The ZIP64 extra field replaces the 32-bit sizes and offset that are all ones. */
static int read_zip64_extra(const uint8_t *x, uint16_t elen, member *mb, sp_error *err) {
    const uint8_t *xend = x + elen;
    while (xend - x >= 4) {
        uint16_t id = rd16(x), xl = rd16(x + 2);
        if (xend - x - 4 < xl) break;
        if (id == 1) {
            const uint8_t *q = x + 4, *qe = x + 4 + xl;
            uint64_t *fields[3] = {&mb->usize, &mb->csize, &mb->loff};
            for (int k = 0; k < 3; k++) {
                if (*fields[k] != 0xffffffffu) continue;
                if (qe - q < 8)
                    return sp_fail(err, SP_ERR_INPUT, "zip: member '%.*s': truncated zip64 extra field", (int)mb->nlen,
                                   mb->name);
                *fields[k] = rd64(q);
                q += 8;
            }
        }
        x += 4 + xl;
    }
    return 0;
}

/* The central entry at p (i-th), checked: its name, stored and unencrypted, equal sizes. */
static int read_central_entry(const uint8_t *d, uint64_t p, uint64_t cd_end, uint64_t i, member *mb, sp_error *err) {
    if (cd_end - p < 46 || rd32(d + p) != 0x02014b50)
        return sp_fail(err, SP_ERR_INPUT, "zip: bad central directory entry %llu at offset %llu", (unsigned long long)i,
                       (unsigned long long)p);
    const uint8_t *c = d + p;
    *mb = (member){.name = (const char *)c + 46, .flags = rd16(c + 8), .method = rd16(c + 10),
                   .csize = rd32(c + 20), .usize = rd32(c + 24), .loff = rd32(c + 42),
                   .nlen = rd16(c + 28), .elen = rd16(c + 30), .clen = rd16(c + 32)};
    if (cd_end - p - 46 < (uint64_t)mb->nlen + mb->elen + mb->clen)
        return sp_fail(err, SP_ERR_INPUT, "zip: central directory entry %llu runs past the directory", (unsigned long long)i);
    int nl = (int)mb->nlen;
    const char *why = bad_name(mb->name, mb->nlen);
    if (why)
        return sp_fail(err, SP_ERR_INPUT, "zip: refusing member name '%.*s': %s", nl > 200 ? 200 : nl, mb->name, why);
    int rc = read_zip64_extra(c + 46 + mb->nlen, mb->elen, mb, err);
    if (rc) return rc;
    if (mb->flags & 1) return sp_fail(err, SP_ERR_INPUT, "zip: member '%.*s' is encrypted", nl, mb->name);
    if (mb->method != 0)
        return sp_fail(err, SP_ERR_INPUT, "zip: member '%.*s' is compressed (method %u); only stored members are supported",
                       nl, mb->name, mb->method);
    if (mb->csize != mb->usize)
        return sp_fail(err, SP_ERR_INPUT, "zip: stored member '%.*s' has compressed size %llu != size %llu", nl, mb->name,
                       (unsigned long long)mb->csize, (unsigned long long)mb->usize);
    return 0;
}

/* The local header of a member: stored, same name, data inside the member area (before the
 * central directory). The offset of the member's bytes goes to *data. */
static int read_local_header(const uint8_t *d, uint64_t cd_off, const member *mb, uint64_t *data, sp_error *err) {
    int nl = (int)mb->nlen;
    if (mb->loff > cd_off || cd_off - mb->loff < 30 || rd32(d + mb->loff) != 0x04034b50)
        return sp_fail(err, SP_ERR_INPUT, "zip: member '%.*s': bad local header offset %llu", nl, mb->name,
                       (unsigned long long)mb->loff);
    const uint8_t *l = d + mb->loff;
    uint64_t lnlen = rd16(l + 26), lelen = rd16(l + 28);
    if (rd16(l + 8) != 0)
        return sp_fail(err, SP_ERR_INPUT, "zip: member '%.*s' is compressed in its local header", nl, mb->name);
    *data = mb->loff + 30 + lnlen + lelen;
    if (*data > cd_off || mb->usize > cd_off - *data)
        return sp_fail(err, SP_ERR_INPUT, "zip: member '%.*s' (%llu bytes at %llu) runs past the member area", nl,
                       mb->name, (unsigned long long)mb->usize, (unsigned long long)*data);
    if (lnlen != mb->nlen || memcmp(l + 30, mb->name, mb->nlen))
        return sp_fail(err, SP_ERR_INPUT, "zip: member '%.*s': local and central names differ", nl, mb->name);
    return 0;
}

/* No two members' byte ranges (local header to end of data) overlap; no name twice. */
static int check_members(const sp_zip *z, range *rg, sp_error *err) {
    if (z->n <= 1) return 0;
    qsort(rg, z->n, sizeof *rg, cmp_range);
    for (size_t i = 1; i < z->n; i++)
        if (rg[i].lo < rg[i - 1].hi)
            return sp_fail(err, SP_ERR_INPUT, "zip: members '%s' and '%s' overlap", z->e[rg[i - 1].idx].name,
                           z->e[rg[i].idx].name);
    /* duplicate names: sort a copy of the entries by name */
    sp_zip_entry *tmp = malloc(z->n * sizeof *tmp);
    if (!tmp) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    memcpy(tmp, z->e, z->n * sizeof *tmp);
    qsort(tmp, z->n, sizeof *tmp, cmp_name);
    int rc = 0;
    for (size_t i = 1; i < z->n && !rc; i++)
        if (!strcmp(tmp[i - 1].name, tmp[i].name))
            rc = sp_fail(err, SP_ERR_INPUT, "zip: duplicate member name '%.200s'", tmp[i].name);
    free(tmp);
    return rc;
}

static int read_members(sp_zip *z, const uint8_t *d, const central_dir *cd, range *rg, sp_error *err) {
    uint64_t p = cd->cd_off, cd_end = cd->cd_off + cd->cd_size;
    for (uint64_t i = 0; i < cd->count; i++) {
        member mb;
        uint64_t data = 0;
        int rc = read_central_entry(d, p, cd_end, i, &mb, err);
        if (!rc) rc = read_local_header(d, cd->cd_off, &mb, &data, err);
        if (rc) return rc;
        sp_zip_entry *en = &z->e[z->n];
        en->name = malloc((size_t)mb.nlen + 1);
        if (!en->name) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
        memcpy(en->name, mb.name, mb.nlen);
        en->name[mb.nlen] = 0;
        en->data_offset = data;
        en->size = mb.usize;
        rg[z->n] = (range){mb.loff, data + mb.usize, z->n};
        z->n++;
        p += 46 + (uint64_t)mb.nlen + mb.elen + mb.clen;
    }
    return 0;
}

int sp_zip_open(const uint8_t *d, uint64_t size, sp_zip **out, sp_error *err) {
    *out = NULL;
    central_dir cd = {0};
    int rc = read_end_records(d, size, &cd, err);
    if (rc) return rc;
    sp_zip *z = calloc(1, sizeof *z);
    if (!z) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    z->e = calloc(cd.count ? cd.count : 1, sizeof *z->e);
    range *rg = calloc(cd.count ? cd.count : 1, sizeof *rg);
    if (!z->e || !rg) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    if (!rc) rc = read_members(z, d, &cd, rg, err);
    if (!rc) rc = check_members(z, rg, err);
    free(rg);
    if (rc) {
        sp_zip_close(z);
        return rc;
    }
    *out = z;
    return 0;
}
