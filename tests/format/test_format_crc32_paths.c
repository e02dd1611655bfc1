/* test_format_crc32_paths.c — CRC-32's three paths (crc32_impl.h: slice-by-8 tables, 128-bit
 * and 512-bit carry-less folding) give the checksum of a bitwise reference: every length
 * 0..4096 at several alignments of random bytes, chained at uneven cuts, and a few MB against
 * the tables. Each path is forced through sp_crc32_use; a path this CPU lacks is skipped with
 * the reason. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "crc32_impl.h"
#include "sparsa_format.h"

enum { MAXLEN = 4096, OFFSETS = 9 };

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fill(uint8_t *p, size_t n, uint64_t seed) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(next(&seed) >> 32);
}

/* want[len] = the CRC-32 of p[0, len), bit by bit. */
static void reference(const uint8_t *p, uint32_t *want) {
    uint32_t c = 0xffffffffu;
    want[0] = 0;
    for (size_t i = 0; i < MAXLEN; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        want[i + 1] = ~c;
    }
}

static void use(const char *path) {
    if (sp_crc32_use(path)) cr_skip("this CPU cannot run the %s CRC-32 path", path);
    cr_assert_str_eq(sp_crc32_impl(), path);
}

static void every_length(const char *path) {
    use(path);
    static uint8_t buf[MAXLEN + OFFSETS];
    static uint32_t want[MAXLEN + 1];
    for (size_t off = 0; off < OFFSETS; off++) {
        fill(buf, sizeof buf, 0x9E3779B97F4A7C15ull + off);
        reference(buf + off, want);
        for (size_t len = 0; len <= MAXLEN; len++)
            cr_assert_eq(sp_crc32(0, buf + off, len), want[len], "%s: off %zu len %zu", path, off, len);
        /* chained at a cut: the register carries over between calls */
        for (size_t cut = 0; cut <= MAXLEN; cut += 61)
            cr_assert_eq(sp_crc32(sp_crc32(0, buf + off, cut), buf + off + cut, MAXLEN - cut), want[MAXLEN],
                         "%s: off %zu cut %zu", path, off, cut);
    }
}

/* A few MB, whole and in uneven pieces, against the tables. */
static void long_input(const char *path) {
    size_t n = (3u << 20) + 77;
    uint8_t *p = malloc(n);
    cr_assert_not_null(p);
    fill(p, n, 42);
    cr_assert_eq(sp_crc32_use("tables"), 0);
    uint32_t want = sp_crc32(0, p, n);
    use(path);
    cr_assert_eq(sp_crc32(0, p, n), want, "%s, whole", path);
    uint32_t c = 0;
    uint64_t s = 7;
    for (size_t at = 0, k; at < n; at += k) {
        k = next(&s) % 100000;
        if (k > n - at) k = n - at;
        c = sp_crc32(c, p + at, k);
    }
    cr_assert_eq(c, want, "%s, in pieces", path);
    free(p);
}

static void restore(void) {
    if (sp_crc32_use("vpclmul") && sp_crc32_use("pclmul")) sp_crc32_use("tables");
}

TestSuite(crc32_paths, .fini = restore);

Test(crc32_paths, tables_every_length) { every_length("tables"); }
Test(crc32_paths, pclmul_every_length) { every_length("pclmul"); }
Test(crc32_paths, vpclmul_every_length) { every_length("vpclmul"); }
Test(crc32_paths, pclmul_long_input) { long_input("pclmul"); }
Test(crc32_paths, vpclmul_long_input) { long_input("vpclmul"); }

Test(crc32_paths, unknown_names_are_refused) {
    cr_assert_eq(sp_crc32_use("fast"), -1);
    cr_assert_eq(sp_crc32_use(NULL), -1);
}
