/* zip.c — a ZIP/ZIP64 reader for torch.save archives. Only stored (uncompressed) members are
 * accepted, so there is nothing to inflate and no zip bomb; every size and offset is checked
 * against the archive's length, members may not overlap, and names may not escape the folder. */
#include <stdlib.h>
#include <string.h>

#include "sparsa_convert.h"

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

int sp_zip_open(const uint8_t *d, uint64_t size, sp_zip **out, sp_error *err) {
    *out = NULL;
    if (size < 22) return sp_fail(err, SP_ERR_INPUT, "zip: file too small (%llu bytes)", (unsigned long long)size);
    /* end of central directory: the last record whose comment reaches exactly the end */
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
    uint64_t count = rd16(e + 10), cd_size = rd32(e + 12), cd_off = rd32(e + 16);
    uint64_t cd_limit = eocd; /* the central directory must end before this */
    if (eocd >= 20 && rd32(d + eocd - 20) == 0x07064b50) {
        const uint8_t *loc = d + eocd - 20;
        uint64_t z64 = rd64(loc + 8);
        if (rd32(loc + 4) != 0 || rd32(loc + 16) > 1)
            return sp_fail(err, SP_ERR_INPUT, "zip: multi-disk archives are not supported");
        if (z64 > eocd - 20 || eocd - 20 - z64 < 56)
            return sp_fail(err, SP_ERR_INPUT, "zip: zip64 end record offset %llu out of range", (unsigned long long)z64);
        const uint8_t *r = d + z64;
        if (rd32(r) != 0x06064b50) return sp_fail(err, SP_ERR_INPUT, "zip: bad zip64 end record signature at offset %llu", (unsigned long long)z64);
        if (rd32(r + 16) != 0 || rd32(r + 20) != 0)
            return sp_fail(err, SP_ERR_INPUT, "zip: multi-disk archives are not supported");
        count = rd64(r + 32);
        cd_size = rd64(r + 40);
        cd_off = rd64(r + 48);
        cd_limit = z64;
    }
    if (cd_off > cd_limit || cd_size > cd_limit - cd_off)
        return sp_fail(err, SP_ERR_INPUT, "zip: central directory (offset %llu, %llu bytes) lies outside the archive",
                       (unsigned long long)cd_off, (unsigned long long)cd_size);
    if (count > cd_size / 46)
        return sp_fail(err, SP_ERR_INPUT, "zip: %llu entries cannot fit a %llu-byte central directory",
                       (unsigned long long)count, (unsigned long long)cd_size);
    sp_zip *z = calloc(1, sizeof *z);
    range *rg = NULL;
    if (!z) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    z->e = calloc(count ? count : 1, sizeof *z->e);
    rg = calloc(count ? count : 1, sizeof *rg);
    if (!z->e || !rg) {
        free(rg);
        sp_zip_close(z);
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    }
    uint64_t p = cd_off, cd_end = cd_off + cd_size;
    int rc = 0;
    for (uint64_t i = 0; i < count && !rc; i++) {
        if (cd_end - p < 46 || rd32(d + p) != 0x02014b50) {
            rc = sp_fail(err, SP_ERR_INPUT, "zip: bad central directory entry %llu at offset %llu", (unsigned long long)i, (unsigned long long)p);
            break;
        }
        const uint8_t *c = d + p;
        uint16_t flags = rd16(c + 8), method = rd16(c + 10);
        uint64_t csize = rd32(c + 20), usize = rd32(c + 24), loff = rd32(c + 42);
        uint16_t nlen = rd16(c + 28), elen = rd16(c + 30), clen = rd16(c + 32);
        if (cd_end - p - 46 < (uint64_t)nlen + elen + clen) {
            rc = sp_fail(err, SP_ERR_INPUT, "zip: central directory entry %llu runs past the directory", (unsigned long long)i);
            break;
        }
        const char *name = (const char *)c + 46;
        const char *why = bad_name(name, nlen);
        if (why) {
            rc = sp_fail(err, SP_ERR_INPUT, "zip: refusing member name '%.*s': %s", nlen > 200 ? 200 : (int)nlen,
                         name, why);
            break;
        }
        /* zip64 extra field */
        const uint8_t *x = c + 46 + nlen, *xend = x + elen;
        while (xend - x >= 4) {
            uint16_t id = rd16(x), xl = rd16(x + 2);
            if (xend - x - 4 < xl) break;
            if (id == 1) {
                const uint8_t *q = x + 4, *qe = x + 4 + xl;
                if (usize == 0xffffffffu) { if (qe - q < 8) goto bad64; usize = rd64(q); q += 8; }
                if (csize == 0xffffffffu) { if (qe - q < 8) goto bad64; csize = rd64(q); q += 8; }
                if (loff == 0xffffffffu) { if (qe - q < 8) goto bad64; loff = rd64(q); q += 8; }
            }
            x += 4 + xl;
        }
        if (0) {
        bad64:
            rc = sp_fail(err, SP_ERR_INPUT, "zip: member '%.*s': truncated zip64 extra field", (int)nlen, name);
            break;
        }
        if (flags & 1) {
            rc = sp_fail(err, SP_ERR_INPUT, "zip: member '%.*s' is encrypted", (int)nlen, name);
            break;
        }
        if (method != 0) {
            rc = sp_fail(err, SP_ERR_INPUT,
                         "zip: member '%.*s' is compressed (method %u); only stored members are supported",
                         (int)nlen, name, method);
            break;
        }
        if (csize != usize) {
            rc = sp_fail(err, SP_ERR_INPUT, "zip: stored member '%.*s' has compressed size %llu != size %llu",
                         (int)nlen, name, (unsigned long long)csize, (unsigned long long)usize);
            break;
        }
        if (loff > cd_off || cd_off - loff < 30 || rd32(d + loff) != 0x04034b50) {
            rc = sp_fail(err, SP_ERR_INPUT, "zip: member '%.*s': bad local header offset %llu", (int)nlen, name,
                         (unsigned long long)loff);
            break;
        }
        const uint8_t *l = d + loff;
        uint64_t lnlen = rd16(l + 26), lelen = rd16(l + 28);
        if (rd16(l + 8) != 0) {
            rc = sp_fail(err, SP_ERR_INPUT, "zip: member '%.*s' is compressed in its local header", (int)nlen, name);
            break;
        }
        uint64_t data = loff + 30 + lnlen + lelen;
        if (data > cd_off || usize > cd_off - data) {
            rc = sp_fail(err, SP_ERR_INPUT, "zip: member '%.*s' (%llu bytes at %llu) runs past the member area",
                         (int)nlen, name, (unsigned long long)usize, (unsigned long long)data);
            break;
        }
        if (lnlen != nlen || memcmp(l + 30, name, nlen)) {
            rc = sp_fail(err, SP_ERR_INPUT, "zip: member '%.*s': local and central names differ", (int)nlen, name);
            break;
        }
        sp_zip_entry *en = &z->e[z->n];
        en->name = malloc((size_t)nlen + 1);
        if (!en->name) {
            rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
            break;
        }
        memcpy(en->name, name, nlen);
        en->name[nlen] = 0;
        en->data_offset = data;
        en->size = usize;
        rg[z->n] = (range){loff, data + usize, z->n};
        z->n++;
        p += 46 + (uint64_t)nlen + elen + clen;
    }
    if (!rc && z->n > 1) {
        qsort(rg, z->n, sizeof *rg, cmp_range);
        for (size_t i = 1; i < z->n && !rc; i++)
            if (rg[i].lo < rg[i - 1].hi)
                rc = sp_fail(err, SP_ERR_INPUT, "zip: members '%s' and '%s' overlap", z->e[rg[i - 1].idx].name,
                             z->e[rg[i].idx].name);
        if (!rc) {
            /* duplicate names: sort a copy of the entries by name */
            sp_zip_entry *tmp = malloc(z->n * sizeof *tmp);
            if (!tmp) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
            else {
                memcpy(tmp, z->e, z->n * sizeof *tmp);
                qsort(tmp, z->n, sizeof *tmp, cmp_name);
                for (size_t i = 1; i < z->n && !rc; i++)
                    if (!strcmp(tmp[i - 1].name, tmp[i].name))
                        rc = sp_fail(err, SP_ERR_INPUT, "zip: duplicate member name '%.200s'", tmp[i].name);
                free(tmp);
            }
        }
    }
    free(rg);
    if (rc) {
        sp_zip_close(z);
        return rc;
    }
    *out = z;
    return 0;
}
