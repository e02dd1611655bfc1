/* test_common_sha256.c — SHA-256 of sparsa_common.h against the FIPS 180-4 example vectors:
 * whole, fed in pieces split at every offset, a million 'a', and whole files (empty, small,
 * and larger than one hashing window). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sparsa_common.h"

static void hex_of(const void *data, size_t len, char hex[65]) {
    sp_sha256 s;
    uint8_t d[32];
    sp_sha256_init(&s);
    sp_sha256_update(&s, data, len);
    sp_sha256_final(&s, d);
    sp_sha256_hex(d, hex);
}

static const char msg448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

Test(sha256, fips_vectors) {
    char hex[65];
    hex_of("", 0, hex);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hex_of(msg448, strlen(msg448), hex);
    cr_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(sha256, a_million_a_in_uneven_pieces) {
    static char a[1000000];
    memset(a, 'a', sizeof a);
    sp_sha256 s;
    uint8_t d[32];
    char hex[65];
    sp_sha256_init(&s);
    for (size_t off = 0, step = 1; off < sizeof a; off += step, step = step * 3 % 1031 + 1)
        sp_sha256_update(&s, a + off, off + step > sizeof a ? sizeof a - off : step);
    sp_sha256_final(&s, d);
    sp_sha256_hex(d, hex);
    cr_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

Test(sha256, every_split_point_gives_the_same_digest) {
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 7 + 3);
    char whole[65];
    hex_of(buf, sizeof buf, whole);
    for (size_t cut = 0; cut <= sizeof buf; cut++) {
        sp_sha256 s;
        uint8_t d[32];
        char hex[65];
        sp_sha256_init(&s);
        sp_sha256_update(&s, buf, cut);
        sp_sha256_update(&s, buf + cut, sizeof buf - cut);
        sp_sha256_final(&s, d);
        sp_sha256_hex(d, hex);
        cr_assert_str_eq(hex, whole, "split at %zu", cut);
    }
}

/* Hashes a temporary file of `len` bytes (from `fill`) both ways. */
static void check_file(const uint8_t *fill, size_t len) {
    char path[] = "/tmp/sparsa_sha_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(sp_write_all(fd, fill, len), 0);
    char want[65], got[65];
    hex_of(fill, len, want);
    sp_error err = {0};
    cr_assert_eq(sp_sha256_file(fd, len, got, &err), 0, "%s", err.msg);
    cr_assert_str_eq(got, want, "file of %zu bytes", len);
    close(fd);
    unlink(path);
}

Test(sha256, whole_files_small_empty_and_larger_than_a_window) {
    check_file((const uint8_t *)"abc", 3);
    check_file((const uint8_t *)"", 0);
    size_t big = (17u << 20) + 12345;
    uint8_t *b = malloc(big);
    cr_assert_not_null(b);
    for (size_t i = 0; i < big; i++) b[i] = (uint8_t)(i ^ (i >> 9));
    check_file(b, big);
    free(b);
}
