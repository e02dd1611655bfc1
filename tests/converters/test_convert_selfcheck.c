/* test_convert_selfcheck.c — the converter's self-check really compares the written file with
 * its source: the file is corrupted between writing and checking (one byte of one tensor,
 * through a link-time wrapper around sp_writer_draft_checked, see the Makefile), and the
 * conversion must fail with a self-check error, leaving neither the output nor the temporary
 * file behind; also when the file is left consistent with itself (the tensor's CRC in the
 * directory, the directory's and the header's recomputed), since the bytes are checked
 * against the source's. The same conversion without the corruption succeeds. The file's small sections
 * are written again once the source's hash is in, and checked again: a wrong hash written
 * there (through a wrapper around sp_writer_finish_checked) fails the conversion the same way. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sparsa_convert.h"
#include "sparsa_format.h"
#include "tu_hostile.h"

#define FIX "tests/fixtures/checkpoints/"

/* ---- the wrappers: flip one byte of the named tensor before the draft's check runs; write a
 * wrong source.sha256 before the finish --------------------------------------------------- */

static const char *corrupt_tensor; /* NULL: no corruption */
static int consistent;             /* 1: the file's own CRCs are fixed after the flip */
static int wrong_hash;             /* 1: the finish writes a wrong source.sha256 */
static sp_writer_check_fn real_check;

int __real_sp_writer_draft_checked(sp_writer *w, sp_writer_check_fn check, void *ctx, sp_error *err);
int __real_sp_writer_finish_checked(sp_writer *w, sp_writer_check_fn check, void *ctx, sp_error *err);

/* Recomputes the first tensor's CRC in the directory (the flipped one: the wrapper's tensor is
 * the first written), the directory's CRC and the header's, so the file is valid as it is. */
static void refresh_crcs(const char *temp_path) {
    himg im = {0};
    im.b = tu_read_file(temp_path, &im.n);
    cr_assert_not_null(im.b);
    tu_img_tensor t = tu_img_dir(&im, 0);
    uint64_t at = tu_img_data_at(&im, 0);
    tu_img_wr32(im.b + t.crc, sp_crc32(0, im.b + at, (size_t)tu_img_rd64(im.b + t.stored)));
    tu_img_fix_section(&im, 4);
    tu_img_fix_header(&im);
    int fd = open(temp_path, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, im.b, im.n, 0), (ssize_t)im.n);
    close(fd);
    free(im.b);
    sp_error e = {0};
    sp_file *f = NULL;
    cr_assert_eq(sp_file_open(temp_path, &f, &e), 0, "the patched file is not valid: %s", e.msg);
    const sp_tensor_info *ti = sp_file_tensor(f, 0);
    const void *d;
    cr_assert_eq(sp_file_tensor_data(f, ti, &d, &e), 0, "its CRC does not match: %s", e.msg);
    sp_file_close(f);
}

static int corrupting_check(const char *temp_path, void *ctx, sp_error *err) {
    sp_file *f = NULL;
    sp_error e = {0};
    cr_assert_eq(sp_file_open(temp_path, &f, &e), 0, "%s", e.msg);
    const sp_tensor_info *ti = sp_file_find_tensor(f, corrupt_tensor);
    cr_assert_not_null(ti, "%s", corrupt_tensor);
    off_t at = (off_t)(ti->offset + ti->stored_size / 2);
    sp_file_close(f);
    int fd = open(temp_path, O_RDWR);
    cr_assert_geq(fd, 0);
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, at), 1);
    b ^= 0x10;
    cr_assert_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
    if (consistent) refresh_crcs(temp_path);
    return real_check(temp_path, ctx, err);
}

int __wrap_sp_writer_draft_checked(sp_writer *w, sp_writer_check_fn check, void *ctx, sp_error *err) {
    if (!corrupt_tensor || !check) return __real_sp_writer_draft_checked(w, check, ctx, err);
    real_check = check;
    return __real_sp_writer_draft_checked(w, corrupting_check, ctx, err);
}

int __wrap_sp_writer_finish_checked(sp_writer *w, sp_writer_check_fn check, void *ctx, sp_error *err) {
    if (wrong_hash) {
        /* the metadata the converter set, but for one hash: a valid file the check must refuse */
        const char *h = "1111111111111111111111111111111111111111111111111111111111111111";
        const char *hashes[] = {h, h}; /* as many as the inputs: the checkpoint and its config */
        sp_writer_meta_clear(w);
        sp_writer_meta_array(w, "source.sha256", SP_META_STRING, hashes, 2);
    }
    return __real_sp_writer_finish_checked(w, check, ctx, err);
}

/* ---- helpers ------------------------------------------------------------------------------ */

static char tmpdir[256], out[300];

static void mk_tmp(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sparsa_selfcheck_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(out, sizeof out, "%s/out.sparsa", tmpdir);
    corrupt_tensor = NULL;
    consistent = 0;
    wrong_hash = 0;
}

static int entries_in_tmp(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static void rm_tmp(void) {
    unlink(out);
    rmdir(tmpdir);
}

static int convert(sp_out_dtype dtype, sp_error *err) {
    sp_convert_options o = {0};
    o.src = FIX "hf-llama-tied.safetensors";
    o.config = FIX "hf-llama-tied.config.json";
    o.out = out;
    o.dtype = dtype;
    o.quiet = 1;
    sp_convert_report rep;
    return sp_convert(&o, &rep, err);
}

static const char *embed_name(void) {
    /* the name of the first tensor an untouched conversion writes */
    static char name[128];
    sp_error err = {0};
    cr_assert_eq(convert(SP_OUT_KEEP, &err), 0, "%s", err.msg);
    sp_file *f = NULL;
    cr_assert_eq(sp_file_open(out, &f, &err), 0, "%s", err.msg);
    const sp_tensor_info *ti = sp_file_tensor(f, 0);
    cr_assert_not_null(ti);
    snprintf(name, sizeof name, "%.*s", (int)ti->name_len, ti->name);
    sp_file_close(f);
    unlink(out);
    return name;
}

Test(convert_selfcheck, an_untouched_conversion_passes, .init = mk_tmp, .fini = rm_tmp) {
    sp_error err = {0};
    cr_assert_eq(convert(SP_OUT_KEEP, &err), 0, "%s", err.msg);
    cr_assert_eq(entries_in_tmp(), 1);
}

Test(convert_selfcheck, a_flipped_byte_fails_the_conversion_and_leaves_nothing, .init = mk_tmp, .fini = rm_tmp) {
    corrupt_tensor = embed_name();
    sp_error err = {0};
    int rc = convert(SP_OUT_KEEP, &err);
    cr_assert_neq(rc, 0);
    cr_assert_not_null(strstr(err.msg, "self-check"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, corrupt_tensor), "%s", err.msg);
    cr_assert_eq(entries_in_tmp(), 0, "the output or its temporary file was left behind");
}

Test(convert_selfcheck, a_flipped_byte_with_the_files_own_crcs_fixed_is_caught_too, .init = mk_tmp, .fini = rm_tmp) {
    corrupt_tensor = embed_name();
    consistent = 1;
    sp_error err = {0};
    int rc = convert(SP_OUT_KEEP, &err);
    cr_assert_neq(rc, 0);
    /* by the draft's check of the bytes, not only later when the directory is rewritten */
    cr_assert_not_null(strstr(err.msg, "self-check: tensor"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "differs from its source"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, corrupt_tensor), "%s", err.msg);
    cr_assert_eq(entries_in_tmp(), 0, "the output or its temporary file was left behind");
}

Test(convert_selfcheck, a_flipped_byte_in_a_rounded_tensor_is_caught_too, .init = mk_tmp, .fini = rm_tmp) {
    corrupt_tensor = embed_name();
    sp_error err = {0};
    int rc = convert(SP_OUT_BF16, &err);
    cr_assert_neq(rc, 0);
    cr_assert_not_null(strstr(err.msg, "self-check"), "%s", err.msg);
    cr_assert_eq(entries_in_tmp(), 0);
}

Test(convert_selfcheck, a_wrong_hash_in_the_rewritten_sections_fails_the_conversion, .init = mk_tmp, .fini = rm_tmp) {
    wrong_hash = 1;
    sp_error err = {0};
    int rc = convert(SP_OUT_KEEP, &err);
    cr_assert_neq(rc, 0);
    cr_assert_not_null(strstr(err.msg, "self-check"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "source.sha256"), "%s", err.msg);
    cr_assert_eq(entries_in_tmp(), 0, "the output or its temporary file was left behind");
}
