/* test_common_sha256_impls.c — the two SHA-256 block functions (portable C and the x86 SHA
 * extensions, sha256_impl.h) give the same digests: the FIPS 180-4 vectors, every length
 * 0..300 from random bytes, and a few MB fed whole and in uneven pieces. The portable one is
 * forced through sp_sha256_use, so both run on every machine with the extensions; without
 * them the extension half is skipped with the reason. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sha256_impl.h"
#include "sparsa_common.h"

static void hex_with(const char *impl, const void *data, size_t len, char hex[65]) {
    cr_assert_eq(sp_sha256_use(impl), 0, "cannot use the %s SHA-256", impl);
    cr_assert_str_eq(sp_sha256_impl(), impl);
    sp_sha256 s;
    uint8_t d[32];
    sp_sha256_init(&s);
    sp_sha256_update(&s, data, len);
    sp_sha256_final(&s, d);
    sp_sha256_hex(d, hex);
}

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void skip_without_ni(void) {
    if (sp_sha256_blocks_x86() == NULL) {
        sp_sha256_use("auto");
        cr_skip("this CPU has no SHA extensions (CPUID leaf 7 EBX bit 29): only the portable "
                "SHA-256 runs here");
    }
}

static void restore(void) { sp_sha256_use("auto"); }

TestSuite(sha256_impls, .fini = restore);

Test(sha256_impls, fips_vectors_both_ways) {
    static const char *msg[] = {"", "abc", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"};
    static const char *want[] = {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                                 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"};
    char hex[65];
    for (size_t i = 0; i < 3; i++) {
        hex_with("portable", msg[i], strlen(msg[i]), hex);
        cr_assert_str_eq(hex, want[i], "portable, vector %zu", i);
    }
    skip_without_ni();
    for (size_t i = 0; i < 3; i++) {
        hex_with("sha-ni", msg[i], strlen(msg[i]), hex);
        cr_assert_str_eq(hex, want[i], "sha-ni, vector %zu", i);
    }
}

Test(sha256_impls, a_million_a_both_ways) {
    static char a[1000000];
    memset(a, 'a', sizeof a);
    const char *want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    char hex[65];
    hex_with("portable", a, sizeof a, hex);
    cr_assert_str_eq(hex, want);
    skip_without_ni();
    hex_with("sha-ni", a, sizeof a, hex);
    cr_assert_str_eq(hex, want);
}

Test(sha256_impls, random_lengths_0_to_300_agree) {
    skip_without_ni();
    uint64_t seed = 0x5eed5a256ull;
    uint8_t buf[300 + 7];
    for (size_t len = 0; len <= 300; len++) {
        size_t shift = len % 8; /* unaligned starts too */
        for (size_t i = 0; i < len + shift; i++) buf[i] = (uint8_t)next(&seed);
        char a[65], b[65];
        hex_with("portable", buf + shift, len, a);
        hex_with("sha-ni", buf + shift, len, b);
        cr_assert_str_eq(a, b, "length %zu", len);
    }
}

Test(sha256_impls, a_few_megabytes_whole_and_in_pieces_agree) {
    skip_without_ni();
    size_t n = (3u << 20) + 4321;
    uint8_t *b = malloc(n);
    cr_assert_not_null(b);
    uint64_t seed = 42;
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)next(&seed);
    char whole_p[65], whole_n[65];
    hex_with("portable", b, n, whole_p);
    hex_with("sha-ni", b, n, whole_n);
    cr_assert_str_eq(whole_p, whole_n);
    /* the extension blocks fed in uneven pieces (partial blocks buffered between calls) */
    sp_sha256 s;
    uint8_t d[32];
    char hex[65];
    sp_sha256_init(&s);
    for (size_t off = 0, step = 1; off < n; off += step, step = step * 7 % 100003 + 1)
        sp_sha256_update(&s, b + off, off + step > n ? n - off : step);
    sp_sha256_final(&s, d);
    sp_sha256_hex(d, hex);
    cr_assert_str_eq(hex, whole_p);
    free(b);
}

Test(sha256_impls, unknown_names_change_nothing) {
    sp_sha256_use("portable");
    cr_assert_eq(sp_sha256_use("md5"), -1);
    cr_assert_eq(sp_sha256_use(NULL), -1);
    cr_assert_str_eq(sp_sha256_impl(), "portable");
    cr_assert_eq(sp_sha256_use("auto"), 0);
    cr_assert_str_eq(sp_sha256_impl(), sp_sha256_blocks_x86() ? "sha-ni" : "portable");
}
