/* test_inspect_hostile.c — hostile files through the command: `sparsa inspect` exits 2 with
 * exactly one line on stderr (and nothing half-printed on stdout) for each kind of damage.
 * The exhaustive variants run through the library (test_format_hostile.c); these few check
 * the command's contract. */
#include <criterion/criterion.h>

#include "tu_hostile.h"
#include "tu.h"

static int inspect(const himg *im, const char *opts, char **out, char **err) {
    char path[256], args[512];
    tu_img_save(im, path, sizeof path);
    snprintf(args, sizeof args, "inspect %s %s", path, opts);
    int rc = tu_run_sparsa(args, out, err);
    remove(path);
    return rc;
}

static void expect_exit2(const himg *im, const char *want, const char *what) {
    char *out, *err;
    int rc = inspect(im, "--tensors", &out, &err);
    cr_assert_eq(rc, 2, "%s: exit %d, stderr: %s", what, rc, err);
    cr_assert_eq(tu_line_count(err), 1, "%s: stderr not one line: %s", what, err);
    cr_assert(strstr(err, "sparsa inspect: "), "%s: %s", what, err);
    cr_assert(strstr(err, want), "%s: '%s' lacks '%s'", what, err, want);
    cr_assert_eq(out[0], 0, "%s: stdout not empty", what);
    free(out);
    free(err);
}

static int make_zstd(const char *path, sp_error *err) {
    sp_writer *w;
    int rc = sp_writer_create(path, 1, err, &w);
    if (rc) return rc;
    float z[256];
    for (int i = 0; i < 256; i++) z[i] = (float)(i % 5);
    sp_writer_add_tensor(w, "z", SP_F32, 1, (uint64_t[]){256}, z, SP_COMPRESS_ZSTD, 1);
    return sp_writer_finish(w, err);
}

Test(inspect_hostile, each_damage_is_exit_2_and_one_line) {
    himg base = tu_img_load();
    himg t = {base.b, base.n / 2};
    expect_exit2(&t, "file_size", "truncated");

    t = tu_img_copy(&base);
    t.b[tu_img_sec_off(&t, 1) + 3] ^= 0x20;
    expect_exit2(&t, "METADATA crc32", "metadata flip");
    free(t.b);

    t = tu_img_copy(&base);
    t.b[8] = 9;
    expect_exit2(&t, "version 9.0", "unknown major");
    free(t.b);

    t = tu_img_copy(&base);
    tu_img_wr64(t.b + tu_img_sec_off(&t, 4), UINT64_MAX);
    tu_img_fix_section(&t, 4);
    expect_exit2(&t, "count", "count near 2^64");
    free(t.b);

    t = tu_img_copy(&base);
    tu_img_tensor t0 = tu_img_dir(&t, 0), t2 = tu_img_dir(&t, 2);
    tu_img_wr64(t.b + t2.off, tu_img_rd64(t.b + t0.off));
    tu_img_fix_section(&t, 4);
    expect_exit2(&t, "overlaps", "overlap");
    free(t.b);

    t = tu_img_copy(&base);
    t.b[t2.name + 1] = '0';
    tu_img_fix_section(&t, 4);
    expect_exit2(&t, "duplicate tensor name", "duplicate");
    free(t.b);

    t = tu_img_copy(&base);
    tu_img_wr64(t.b + t2.off, tu_img_rd64(t.b + t2.off) + 8);
    tu_img_fix_section(&t, 4);
    expect_exit2(&t, "alignment", "misaligned");
    free(t.b);

    t = tu_img_copy(&base);
    tu_img_wr64(t.b + tu_img_entry(&t, 3) + 16, t.n);
    expect_exit2(&t, "end of the", "out of file");
    free(t.b);
    free(base.b);
}

Test(inspect_hostile, lying_zstd_frame_fails_verify) {
    himg v = tu_img_load_with(make_zstd);
    tu_img_tensor z = tu_img_dir(&v, 0);
    uint64_t at = tu_img_data_at(&v, 0), stored = tu_img_rd64(v.b + z.stored);
    /* The 2-byte Frame_Content_Size (single-segment frame, no dictionary) says 1024; make it
     * 1028 and the dims 257 so the header and the directory agree, and fix every CRC. */
    cr_assert_eq(v.b[at + 4] >> 6, 1);
    cr_assert_eq((v.b[at + 4] >> 5) & 1, 1);
    cr_assert_eq(v.b[at + 5] | (v.b[at + 6] << 8), 1024 - 256);
    v.b[at + 5] += 4;
    tu_img_wr64(v.b + z.dims, 257);
    tu_img_wr32(v.b + z.crc, sp_crc32(0, v.b + at, (size_t)stored));
    tu_img_fix_section(&v, 4);
    char *out, *err;
    cr_assert_eq(inspect(&v, "", &out, &err), 0, "opening does not decode: %s", err);
    free(out);
    free(err);
    cr_assert_eq(inspect(&v, "--verify", &out, &err), 2);
    cr_assert_eq(tu_line_count(err), 1, "%s", err);
    cr_assert(strstr(err, "'z'") && strstr(err, "zstd"), "%s", err);
    free(out);
    free(err);
    free(v.b);
}
