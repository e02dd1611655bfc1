/* test_format_hostile.c — hostile files through the library: truncation at every offset, byte
 * flips in every section, counts and lengths near 2^64, overlapping, out-of-file and misaligned
 * ranges, unknown versions and kinds, duplicates, lying zstd frames. Each must be refused with
 * SP_ERR_INPUT and one line naming the field and its offset; none may crash (ASan/UBSan). */
#include <criterion/criterion.h>

#include "tu_hostile.h"

#define U64MAX UINT64_MAX

/* Does msg hold one of the '|'-separated alternatives of want? */
static int names_one_of(const char *msg, const char *want) {
    char alt[128];
    for (const char *p = want; *p;) {
        size_t n = strcspn(p, "|");
        snprintf(alt, sizeof alt, "%.*s", (int)n, p);
        if (n && strstr(msg, alt)) return 1;
        p += n + (p[n] == '|');
    }
    return 0;
}

/* rc == 2 and a one-line message that names an offset and what `want` says (one of its
 * '|'-separated alternatives). */
static void expect_bad(const himg *im, const char *want, const char *what) {
    sp_error err;
    int rc = tu_img_open(im, &err);
    cr_assert_eq(rc, SP_ERR_INPUT, "%s: accepted (rc %d)", what, rc);
    cr_assert(err.msg[0] && !strchr(err.msg, '\n'), "%s: not one line", what);
    cr_assert(strstr(err.msg, "offset"), "%s: no offset in '%s'", what, err.msg);
    cr_assert(names_one_of(err.msg, want), "%s: '%s' lacks '%s'", what, err.msg, want);
}

static himg base;
static void setup(void) { base = tu_img_load(); }
static void teardown(void) { free(base.b); }

TestSuite(hostile, .init = setup, .fini = teardown);

Test(hostile, the_fixture_is_valid) {
    sp_error err;
    cr_assert_eq(tu_img_open(&base, &err), 0, "%s", err.msg);
    cr_assert_gt(base.n, 1000);
    cr_assert_lt(base.n, 4096);
}

Test(hostile, truncated_at_every_offset) {
    for (size_t k = 0; k < base.n; k++) {
        himg t = {malloc(k ? k : 1), k};
        memcpy(t.b, base.b, k);
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu", k);
        /* the header check sees it first: too short for a header, or a size field that lies */
        expect_bad(&t, k < 64 ? "shorter than the 64-byte header" : "header.file_size", what);
        free(t.b);
    }
    /* and through the mmap path, for a few lengths */
    size_t cuts[] = {0, 1, 63, 64, 65, base.n / 2, base.n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        himg t = {base.b, cuts[i]};
        char path[256];
        tu_img_save(&t, path, sizeof path);
        sp_file *f;
        sp_error err;
        cr_assert_eq(sp_file_open(path, &f, &err), SP_ERR_INPUT, "cut %zu", cuts[i]);
        cr_assert(strstr(err.msg, "offset"), "%s", err.msg);
        remove(path);
    }
}

Test(hostile, extended_by_a_byte) {
    himg t = {malloc(base.n + 1), base.n + 1};
    memcpy(t.b, base.b, base.n);
    t.b[base.n] = 0;
    expect_bad(&t, "file_size", "extended");
    free(t.b);
}

/* Every byte of every CRC-covered region, with three masks: refused at open. Tensor data:
 * opens (data is not read at open), then fails at the tensor's first use and verification. */
Test(hostile, byte_flips_in_every_section) {
    const uint8_t masks[] = {0x01, 0x80, 0x5a};
    /* want: what the message must name (a checksum-covered section fails its CRC first) */
    struct { uint64_t off, len; const char *name, *want; } regions[] = {
        {0, 64, "header", "header."},
        /* the table has no CRC: a changed entry fails as the section or tensors it places */
        {tu_img_table(&base), 32 * tu_img_count(&base), "section table",
         "section|tensor directory"},
        {tu_img_sec_off(&base, 1), tu_img_sec_size(&base, 1), "metadata", "section METADATA crc32"},
        {tu_img_sec_off(&base, 2), tu_img_sec_size(&base, 2), "graph", "section GRAPH crc32"},
        {tu_img_sec_off(&base, 3), tu_img_sec_size(&base, 3), "tokenizer",
         "section TOKENIZER crc32"},
        {tu_img_sec_off(&base, 4), tu_img_sec_size(&base, 4), "directory",
         "section TENSOR_DIRECTORY crc32"},
    };
    himg t = tu_img_copy(&base);
    size_t tried = 0;
    for (size_t r = 0; r < sizeof regions / sizeof regions[0]; r++) {
        cr_assert_gt(regions[r].len, 0, "%s empty", regions[r].name);
        for (uint64_t i = regions[r].off; i < regions[r].off + regions[r].len; i++)
            for (size_t m = 0; m < sizeof masks; m++) {
                t.b[i] ^= masks[m];
                char what[64];
                snprintf(what, sizeof what, "%s byte %llu ^ 0x%02x", regions[r].name,
                         (unsigned long long)i, masks[m]);
                expect_bad(&t, regions[r].want, what);
                t.b[i] ^= masks[m];
                tried++;
            }
    }
    /* tensor data: every byte of every tensor */
    for (size_t k = 0; k < 3; k++) {
        uint64_t at = tu_img_data_at(&base, k), len = tu_img_rd64(base.b + tu_img_dir(&base, k).stored);
        for (uint64_t i = at; i < at + len; i++)
            for (size_t m = 0; m < sizeof masks; m++) {
                t.b[i] ^= masks[m];
                sp_file *f;
                sp_error err;
                int rc = sp_file_open_memory(t.b, t.n, &f, &err);
                if (rc == 0) {  /* a zstd frame header flip may already fail at open */
                    const void *d;
                    cr_assert_eq(sp_file_tensor_data(f, sp_file_tensor(f, k), &d, &err),
                                 SP_ERR_INPUT, "tensor %zu byte %llu handed out", k,
                                 (unsigned long long)i);
                    cr_assert(strstr(err.msg, "checksum mismatch"), "%s", err.msg);
                    rc = sp_file_verify(f, &err);
                    sp_file_close(f);
                }
                cr_assert_eq(rc, SP_ERR_INPUT, "tensor %zu byte %llu accepted", k,
                             (unsigned long long)i);
                t.b[i] ^= masks[m];
                tried++;
            }
    }
    cr_assert_gt(tried, 3000);
    free(t.b);
}

Test(hostile, counts_and_lengths_near_2_64) {
    const uint64_t huge[] = {U64MAX, U64MAX - 7, 1ull << 63, 1ull << 32, 0x0fffffffffffffffull};
    uint64_t meta = tu_img_sec_off(&base, 1), dir = tu_img_sec_off(&base, 4);
    /* metadata: entry 0 is general.name (STRING), entry 2 source.files (ARRAY of STRING) */
    uint64_t str_len = meta + 8 + 4 + 12 + 4;
    uint64_t arr = meta + 8 + (4 + 12 + 4 + 8 + 4) + (4 + 26 + 4 + 8);
    cr_assert(!memcmp(base.b + arr + 4, "source.files", 12));
    cr_assert_eq(tu_img_rd32(base.b + arr + 4 + 12), 14, "source.files is an ARRAY");
    uint64_t arr_count = arr + 4 + 12 + 4 + 4;
    tu_img_tensor t0 = tu_img_dir(&base, 0);
    struct { uint64_t at; int sec; const char *want; } fields[] = {
        {meta, 1, "metadata count"},
        {str_len, 1, "value length"},
        {arr_count, 1, "array count"},
        {dir, 4, "tensor directory count"},
        {t0.dims, 4, "dims|the shape and dtype give"},
        {t0.off, 4, "offset"},
        {t0.stored, 4, "tok"},
        {40, 0, "section_count"},
        {32, 0, "section_table_offset"},
        {tu_img_entry(&base, 2) + 16, -1, "section"},
        {tu_img_entry(&base, 2) + 8, -1, "section"},
    };
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
        for (size_t h = 0; h < sizeof huge / sizeof huge[0]; h++) {
            himg t = tu_img_copy(&base);
            uint64_t v = huge[h];
            if (fields[f].at == t0.off) v &= ~(uint64_t)63;  /* aligned, still far outside */
            tu_img_wr64(t.b + fields[f].at, v);
            if (fields[f].sec > 0) tu_img_fix_section(&t, (uint32_t)fields[f].sec);
            if (fields[f].sec == 0) tu_img_fix_header(&t);
            char what[80];
            snprintf(what, sizeof what, "%s = 0x%llx", fields[f].want, (unsigned long long)v);
            expect_bad(&t, fields[f].want, what);
            free(t.b);
        }
    /* u32 lengths at their maximum */
    himg t = tu_img_copy(&base);
    tu_img_wr32(t.b + meta + 8, 0xffffffffu);
    tu_img_fix_section(&t, 1);
    expect_bad(&t, "key length", "key_len 2^32-1");
    free(t.b);
    t = tu_img_copy(&base);
    tu_img_wr32(t.b + t0.name_len, 0xffffffffu);
    tu_img_fix_section(&t, 4);
    expect_bad(&t, "tensor name length", "name_len 2^32-1");
    free(t.b);
    t = tu_img_copy(&base);
    tu_img_wr32(t.b + t0.ndim, 0xffffffffu);
    tu_img_fix_section(&t, 4);
    expect_bad(&t, "ndim", "ndim 2^32-1");
    free(t.b);
    /* dims whose product overflows, with and without a zero among them */
    uint64_t bad_dims[][2] = {{1ull << 62, 4}, {1ull << 32, 1ull << 32}, {U64MAX, 0}, {0, 1ull << 63}};
    for (size_t i = 0; i < 4; i++) {
        t = tu_img_copy(&base);
        tu_img_wr64(t.b + t0.dims, bad_dims[i][0]);
        tu_img_wr64(t.b + t0.dims + 8, bad_dims[i][1]);
        tu_img_fix_section(&t, 4);
        expect_bad(&t, "overflows", "dims overflow");
        free(t.b);
    }
}

Test(hostile, overlapping_ranges) {
    /* tensor w1 placed on tok's bytes (same size range start) */
    himg t = tu_img_copy(&base);
    tu_img_tensor t0 = tu_img_dir(&t, 0), t2 = tu_img_dir(&t, 2);
    tu_img_wr64(t.b + t2.off, tu_img_rd64(t.b + t0.off));
    tu_img_fix_section(&t, 4);
    expect_bad(&t, "overlaps", "tensor overlap");
    free(t.b);
    /* graph section on top of metadata */
    t = tu_img_copy(&base);
    tu_img_wr64(t.b + tu_img_entry(&t, 2) + 8, tu_img_sec_off(&t, 1));
    expect_bad(&t, "overlaps", "section overlap");
    free(t.b);
    /* directory on top of the section table */
    t = tu_img_copy(&base);
    tu_img_wr64(t.b + tu_img_entry(&t, 4) + 8, tu_img_table(&t));
    expect_bad(&t, "overlaps", "section over the table");
    free(t.b);
    /* a section inside the header */
    t = tu_img_copy(&base);
    tu_img_wr64(t.b + tu_img_entry(&t, 3) + 8, 8);
    expect_bad(&t, "header", "section in the header");
    free(t.b);
    /* the table inside the header */
    t = tu_img_copy(&base);
    tu_img_wr64(t.b + 32, 32);
    tu_img_fix_header(&t);
    expect_bad(&t, "section_table_offset", "table in header");
    free(t.b);
}

Test(hostile, out_of_file_ranges) {
    himg t = tu_img_copy(&base);
    tu_img_wr64(t.b + tu_img_entry(&t, 3) + 16, t.n);  /* tokenizer runs past the end */
    expect_bad(&t, "end of the", "section past end");
    free(t.b);
    t = tu_img_copy(&base);
    tu_img_tensor t1 = tu_img_dir(&t, 1);
    tu_img_wr64(t.b + t1.off, (tu_img_sec_size(&t, 5) + 63) / 64 * 64 + 64 * 4);
    tu_img_fix_section(&t, 4);
    expect_bad(&t, "outside TENSOR_DATA", "tensor past data");
    free(t.b);
    t = tu_img_copy(&base);
    tu_img_wr64(t.b + 32, t.n - 16);  /* table runs off the end */
    tu_img_fix_header(&t);
    expect_bad(&t, "section_table_offset", "table past end");
    free(t.b);
    /* TENSOR_DATA longer than its tensors: the last tensor (w1) shrunk by one element */
    t = tu_img_copy(&base);
    tu_img_tensor t2 = tu_img_dir(&t, 2);
    tu_img_wr64(t.b + t2.dims, 7);
    tu_img_wr64(t.b + t2.stored, 28);
    tu_img_fix_section(&t, 4);
    expect_bad(&t, "TENSOR_DATA size", "data size");
    free(t.b);
}

Test(hostile, misaligned_offsets) {
    himg t = tu_img_copy(&base);
    tu_img_tensor t1 = tu_img_dir(&t, 1);
    tu_img_wr64(t.b + t1.off, tu_img_rd64(t.b + t1.off) + 8);
    tu_img_fix_section(&t, 4);
    expect_bad(&t, "alignment", "tensor +8");
    free(t.b);
    t = tu_img_copy(&base);
    tu_img_wr64(t.b + tu_img_entry(&t, 2) + 8, tu_img_sec_off(&t, 2) + 4);
    expect_bad(&t, "multiple of 8", "section +4");
    free(t.b);
    t = tu_img_copy(&base);
    tu_img_wr64(t.b + tu_img_entry(&t, 5) + 8, 64 + 8);
    expect_bad(&t, "alignment", "data section +8");
    free(t.b);
    t = tu_img_copy(&base);
    tu_img_wr64(t.b + 32, tu_img_table(&t) + 4);
    tu_img_fix_header(&t);
    expect_bad(&t, "multiple of 8", "table +4");
    free(t.b);
    const uint32_t aligns[] = {0, 32, 48, 100, 1u << 21, 0x80000000u};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        t = tu_img_copy(&base);
        tu_img_wr32(t.b + 20, aligns[i]);
        tu_img_fix_header(&t);
        expect_bad(&t, "header.alignment", "alignment field");
        free(t.b);
    }
}

Test(hostile, header_fields) {
    himg t = tu_img_copy(&base);
    tu_img_wr32(t.b + 0, 0x4e53505a);
    expect_bad(&t, "magic", "magic");
    free(t.b);
    /* unknown major: named with both versions, before and after fixing the CRC */
    for (int fix = 0; fix < 2; fix++) {
        t = tu_img_copy(&base);
        t.b[8] = 2;
        t.b[10] = 3;
        if (fix) tu_img_fix_header(&t);
        expect_bad(&t, "version 2.3", "major 2");
        sp_error err;
        tu_img_open(&t, &err);
        cr_assert(strstr(err.msg, "reads 1."), "%s", err.msg);
        free(t.b);
    }
    /* a newer minor is read */
    t = tu_img_copy(&base);
    t.b[10] = 7;
    tu_img_fix_header(&t);
    sp_error err;
    cr_assert_eq(tu_img_open(&t, &err), 0, "minor 7: %s", err.msg);
    free(t.b);
    t = tu_img_copy(&base);
    tu_img_wr32(t.b + 12, 0x04030201u);
    expect_bad(&t, "big-endian", "byte order");
    free(t.b);
    struct { uint64_t at; uint32_t v; const char *want; } f32s[] = {
        {16, 63, "header_size"}, {16, 4097, "header_size"}, {48, 1, "header.flags"},
        {52, 1, "reserved"}, {56, 1, "reserved"}};
    for (size_t i = 0; i < sizeof f32s / sizeof f32s[0]; i++) {
        t = tu_img_copy(&base);
        tu_img_wr32(t.b + f32s[i].at, f32s[i].v);
        tu_img_fix_header(&t);
        expect_bad(&t, f32s[i].want, f32s[i].want);
        free(t.b);
    }
    t = tu_img_copy(&base);
    tu_img_wr64(t.b + 40, 0);
    tu_img_fix_header(&t);
    expect_bad(&t, "section_count", "no sections");
    free(t.b);
}

Test(hostile, section_table_entries) {
    himg t = tu_img_copy(&base);
    tu_img_wr32(t.b + tu_img_entry(&t, 2), 3);  /* GRAPH becomes a second TOKENIZER */
    expect_bad(&t, "second TOKENIZER", "duplicate kind");
    free(t.b);
    t = tu_img_copy(&base);
    tu_img_wr32(t.b + tu_img_entry(&t, 1), 77);  /* METADATA becomes an unknown required kind */
    expect_bad(&t, "unknown required section kind 77", "unknown required");
    free(t.b);
    t = tu_img_copy(&base);
    uint64_t e = tu_img_entry(&t, 1);
    tu_img_wr32(t.b + e, 77);
    tu_img_wr32(t.b + e + 4, 0);  /* unknown optional: skipped, so METADATA is now missing */
    expect_bad(&t, "no METADATA", "missing metadata");
    free(t.b);
    t = tu_img_copy(&base);
    tu_img_wr32(t.b + tu_img_entry(&t, 2) + 4, 0);
    expect_bad(&t, "required", "known kind not flagged required");
    free(t.b);
    t = tu_img_copy(&base);
    tu_img_wr32(t.b + tu_img_entry(&t, 2) + 4, 3);
    expect_bad(&t, "flag bits", "unknown flag bits");
    free(t.b);
    t = tu_img_copy(&base);
    tu_img_wr32(t.b + tu_img_entry(&t, 2) + 28, 1);
    expect_bad(&t, "reserved", "entry reserved");
    free(t.b);
    t = tu_img_copy(&base);
    tu_img_wr32(t.b + tu_img_entry(&t, 5) + 24, 1);
    expect_bad(&t, "TENSOR_DATA", "data crc nonzero");
    free(t.b);

    /* An unknown optional section (a later minor's) is skipped; a required one is refused. */
    for (int required = 0; required < 2; required++) {
        himg x = {malloc(base.n + 32), base.n + 32};
        memcpy(x.b, base.b, base.n);
        uint8_t *ent = x.b + base.n;
        memset(ent, 0, 32);
        tu_img_wr32(ent, 99);
        tu_img_wr32(ent + 4, (uint32_t)required);
        tu_img_wr64(ent + 8, tu_img_sec_off(&base, 1));
        tu_img_wr64(ent + 16, 0);  /* empty: overlaps nothing */
        tu_img_wr64(x.b + 24, x.n);
        tu_img_wr64(x.b + 40, tu_img_count(&base) + 1);
        tu_img_fix_header(&x);
        sp_error err;
        if (required) expect_bad(&x, "unknown required section kind 99", "required 99");
        else cr_assert_eq(tu_img_open(&x, &err), 0, "optional unknown section: %s", err.msg);
        free(x.b);
    }
}

Test(hostile, duplicate_names) {
    himg t = tu_img_copy(&base);
    tu_img_tensor t2 = tu_img_dir(&t, 2);
    cr_assert(!memcmp(t.b + t2.name, "w1", 2));
    t.b[t2.name + 1] = '0';  /* w1 -> w0 */
    tu_img_fix_section(&t, 4);
    expect_bad(&t, "duplicate tensor name 'w0'", "duplicate tensor");
    free(t.b);
}

/* ---- metadata and directory values ---- */

static int make_values(const char *path, sp_error *err) {
    sp_writer *w;
    int rc = sp_writer_create(path, 1, err, &w);
    if (rc) return rc;
    sp_writer_meta_string(w, "aa", "xy", 2);   /* entry 0 */
    sp_writer_meta_bool(w, "ab", 1);           /* entry 1 */
    uint8_t arr[2] = {7, 8};
    sp_writer_meta_array(w, "ac", SP_META_U8, arr, 2);  /* entry 2 */
    sp_writer_set_graph(w, "a: 1\n", 5);
    float z[256];
    tu_fill_bytes(z, sizeof z, 4);
    for (int i = 0; i < 256; i++) z[i] = (float)(i % 5);  /* compressible */
    sp_writer_add_tensor(w, "z", SP_F32, 1, (uint64_t[]){256}, z, SP_COMPRESS_ZSTD, 1);
    sp_writer_add_tensor(w, "e", SP_F32, 1, (uint64_t[]){0}, NULL, SP_COMPRESS_NONE, 0);
    return sp_writer_finish(w, err);
}

Test(hostile, metadata_values) {
    himg v = tu_img_load_with(make_values);
    sp_error err;
    cr_assert_eq(tu_img_open(&v, &err), 0, "%s", err.msg);
    uint64_t m = tu_img_sec_off(&v, 1) + 8;
    uint64_t e0 = m, e1 = e0 + 4 + 2 + 4 + 8 + 2, e2 = e1 + 4 + 2 + 4 + 1;
    cr_assert(!memcmp(v.b + e1 + 4, "ab", 2) && !memcmp(v.b + e2 + 4, "ac", 2));
    struct { uint64_t at; int width; uint64_t val; const char *want; } cases[] = {
        {e1 + 4 + 1, 1, 'a', "duplicate key 'aa'"},
        {e1 + 10, 1, 2, "bool"},
        {e0 + 4 + 2 + 4 + 8, 1, 0xff, "UTF-8"},
        {e0 + 4, 1, 0, "NUL"},
        {e0 + 4, 1, 0xc0, "UTF-8"},
        {e0 + 6, 4, 15, "type"},
        {e0 + 6, 4, 0, "type"},
        {e2 + 10, 4, 14, "element type"},
        {e2 + 10, 4, 0, "element type"},
        {e0, 4, 0, "key length"},
        {e0, 4, 4097, "key length"},
        {tu_img_sec_off(&v, 1), 8, 2, "after the last entry"},
        {tu_img_sec_off(&v, 1), 8, 4, "needs 4 bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        himg t = tu_img_copy(&v);
        if (cases[i].width == 1) t.b[cases[i].at] = (uint8_t)cases[i].val;
        else if (cases[i].width == 4) tu_img_wr32(t.b + cases[i].at, (uint32_t)cases[i].val);
        else tu_img_wr64(t.b + cases[i].at, cases[i].val);
        tu_img_fix_section(&t, 1);
        expect_bad(&t, cases[i].want, cases[i].want);
        free(t.b);
    }
    /* graph with a NUL byte / invalid UTF-8 */
    const uint8_t gbad[] = {0, 0xff};
    for (int i = 0; i < 2; i++) {
        himg t = tu_img_copy(&v);
        t.b[tu_img_sec_off(&t, 2) + 1] = gbad[i];
        tu_img_fix_section(&t, 2);
        expect_bad(&t, "graph", "graph text");
        free(t.b);
    }
    free(v.b);
}

Test(hostile, directory_values) {
    himg v = tu_img_load_with(make_values);
    tu_img_tensor z = tu_img_dir(&v, 0), e = tu_img_dir(&v, 1);
    struct { uint64_t at; int width; uint64_t val; const char *want; } cases[] = {
        {z.dtype, 4, 11, "unknown dtype 11"},
        {z.dtype, 4, 0, "unknown dtype 0"},
        {z.ndim, 4, 9, "ndim"},
        {z.comp, 4, 2, "compression"},
        {e.comp, 4, 1, "empty tensor"},
        {z.name, 1, 0, "NUL"},
        {z.name, 1, 0xfe, "UTF-8"},
        {z.name_len, 4, 0, "length"},
        {e.stored, 8, 4, "stored_size"},
        {z.stored, 8, 3, "zstd"},              /* cut frame: no content size readable */
        {z.dims, 8, 255, "declares 1024"},      /* frame says 1024 bytes, dims say 1020 */
        {tu_img_sec_off(&v, 4), 8, 1, "after the last entry"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        himg t = tu_img_copy(&v);
        if (cases[i].width == 1) t.b[cases[i].at] = (uint8_t)cases[i].val;
        else if (cases[i].width == 4) tu_img_wr32(t.b + cases[i].at, (uint32_t)cases[i].val);
        else tu_img_wr64(t.b + cases[i].at, cases[i].val);
        tu_img_fix_section(&t, 4);
        expect_bad(&t, cases[i].want, cases[i].want);
        free(t.b);
    }
    free(v.b);
}

/* Position of the Frame_Content_Size field of the zstd frame at p, and its width. */
static size_t fcs_field(const uint8_t *p, size_t *width) {
    uint8_t fhd = p[4];
    int single = (fhd >> 5) & 1, fcs_flag = fhd >> 6, did = fhd & 3;
    static const size_t did_size[] = {0, 1, 2, 4}, fcs_size[] = {0, 2, 4, 8};
    *width = fcs_flag == 0 ? (single ? 1 : 0) : fcs_size[fcs_flag];
    return 5 + (single ? 0 : 1) + did_size[did];
}

/* A frame whose header declares a size its blocks do not produce (dims patched to agree
 * with the header, every CRC recomputed): open succeeds, decompression and verify refuse. */
Test(hostile, zstd_frame_decompressing_to_another_size) {
    himg v = tu_img_load_with(make_values);
    const int64_t deltas[] = {+4, -4, +1024};
    for (size_t d = 0; d < sizeof deltas / sizeof deltas[0]; d++) {
        himg t = tu_img_copy(&v);
        tu_img_tensor z = tu_img_dir(&t, 0);
        uint64_t at = tu_img_data_at(&t, 0), stored = tu_img_rd64(t.b + z.stored);
        size_t width, pos = fcs_field(t.b + at, &width);
        cr_assert_eq(width, 2, "the fixture frame has a 2-byte content size");
        uint64_t declared = 256 + (t.b[at + pos] | (t.b[at + pos + 1] << 8));
        cr_assert_eq(declared, 1024);
        uint64_t lie = (uint64_t)((int64_t)declared + deltas[d]);
        t.b[at + pos] = (uint8_t)(lie - 256);
        t.b[at + pos + 1] = (uint8_t)((lie - 256) >> 8);
        tu_img_wr64(t.b + z.dims, lie / 4);
        tu_img_wr32(t.b + z.crc, sp_crc32(0, t.b + at, (size_t)stored));
        tu_img_fix_section(&t, 4);
        sp_file *f;
        sp_error err;
        cr_assert_eq(sp_file_open_memory(t.b, t.n, &f, &err), 0, "%s", err.msg);
        const sp_tensor_info *ti = sp_file_find_tensor(f, "z");
        cr_assert_eq(ti->raw_size, lie);
        cr_assert_eq(sp_file_verify_tensor(f, ti, &err), SP_ERR_INPUT, "verify, delta %lld",
                     (long long)deltas[d]);
        cr_assert(strstr(err.msg, "'z'") && strstr(err.msg, "offset"), "%s", err.msg);
        const void *data = (void *)1;
        cr_assert_eq(sp_file_tensor_data(f, ti, &data, &err), SP_ERR_INPUT);
        cr_assert_null(data);
        cr_assert(strstr(err.msg, "'z'"), "%s", err.msg);
        sp_file_close(f);
        free(t.b);
    }
    /* The untouched file decompresses fine. */
    sp_file *f;
    sp_error err;
    cr_assert_eq(sp_file_open_memory(v.b, v.n, &f, &err), 0);
    const void *data;
    cr_assert_eq(sp_file_tensor_data(f, sp_file_find_tensor(f, "z"), &data, &err), 0, "%s", err.msg);
    cr_assert_eq(((const float *)data)[7], 2.0f);
    sp_file_close(f);
    free(v.b);
}

/* A frame cut short by one byte (stored_size and CRCs agree with the cut): refused. */
Test(hostile, zstd_frame_cut_short) {
    himg v = tu_img_load_with(make_values);
    sp_error err;
    sp_file *f;
    himg t = tu_img_copy(&v);
    tu_img_tensor z = tu_img_dir(&t, 0);
    uint64_t at = tu_img_data_at(&t, 0), stored = tu_img_rd64(t.b + z.stored) - 1;
    tu_img_wr64(t.b + z.stored, stored);
    tu_img_wr32(t.b + z.crc, sp_crc32(0, t.b + at, (size_t)stored));
    tu_img_fix_section(&t, 4);
    int rc = sp_file_open_memory(t.b, t.n, &f, &err);
    if (rc == 0) {
        rc = sp_file_verify(f, &err);
        sp_file_close(f);
    }
    cr_assert_eq(rc, SP_ERR_INPUT, "a cut frame is refused");
    free(t.b);
    free(v.b);
}
