/* test_convert_draft.c — the writer's draft, as a conversion uses it: the whole file is written
 * and checked before the last metadata (the source's hash) is known, and the finish writes the
 * small sections again after the tensors. The finished file must be byte for byte the file a
 * plain finish writes with the same final metadata, whatever the draft's metadata held (longer,
 * shorter or the same length); no tensor may follow a draft; an abort leaves nothing. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <sys/stat.h>

#include "tu_format.h"

static const char graph[] = "sparsa_graph: 1\nname: draft\n";

/* Writes two tensors (one zstd), a graph, a tokenizer and draft_meta as "source.sha256"; with
 * draft_meta set, drafts first (check: the draft must open) and finishes with final_meta. */
static int write_file(const char *path, const char *draft_meta, const char *final_meta, sp_error *err);

static int opens(const char *temp_path, void *ctx, sp_error *err) {
    (void)ctx;
    sp_file *f = NULL;
    int rc = sp_file_open(temp_path, &f, err);
    sp_file_close(f);
    return rc;
}

static void meta(sp_writer *w, const char *hash) {
    sp_writer_meta_string(w, "general.name", "draft", 5);
    const char *hashes[] = {hash, "0123"};
    sp_writer_meta_array(w, "source.sha256", SP_META_STRING, hashes, 2);
    sp_writer_meta_u64(w, "after", 7);
}

static int write_file(const char *path, const char *draft_meta, const char *final_meta, sp_error *err) {
    sp_writer *w;
    int rc = sp_writer_create(path, 1, err, &w);
    if (rc) return rc;
    float a[256], b[64];
    tu_fill_bytes(a, sizeof a, 3);
    tu_fill_bytes(b, sizeof b, 4);
    uint64_t da[] = {16, 16}, db[] = {64};
    sp_writer_add_tensor(w, "a", SP_F32, 2, da, a, SP_COMPRESS_NONE, 0);
    sp_writer_add_tensor(w, "b", SP_F32, 1, db, b, SP_COMPRESS_ZSTD, 3);
    sp_writer_set_graph(w, graph, sizeof graph - 1);
    sp_writer_set_tokenizer(w, "\x0a\x03\x0a\x01x", 5);
    if (draft_meta) {
        meta(w, draft_meta);
        if ((rc = sp_writer_draft_checked(w, opens, NULL, err))) {
            sp_writer_abort(w);
            return rc;
        }
        sp_writer_meta_clear(w);
    }
    meta(w, final_meta);
    return sp_writer_finish(w, err);
}

static void same_bytes(const char *draft_meta) {
    char plain[256], drafted[256];
    tu_tmp_name(plain, sizeof plain, "plain");
    tu_tmp_name(drafted, sizeof drafted, "drafted");
    const char *final_meta = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
    sp_error err = {0};
    cr_assert_eq(write_file(plain, NULL, final_meta, &err), 0, "%s", err.msg);
    cr_assert_eq(write_file(drafted, draft_meta, final_meta, &err), 0, "%s", err.msg);
    size_t na = 0, nb = 0;
    uint8_t *a = tu_read_file(plain, &na), *b = tu_read_file(drafted, &nb);
    cr_assert(a && b);
    cr_assert_eq(nb, na, "the drafted file has %zu bytes, the plain one %zu", nb, na);
    cr_assert(!memcmp(a, b, na), "the drafted file differs from the plain one");
    sp_file *f = NULL;
    cr_assert_eq(sp_file_open(drafted, &f, &err), 0, "%s", err.msg);
    const sp_meta *m = sp_file_meta_find(f, "source.sha256");
    sp_meta_iter it;
    sp_meta e;
    cr_assert_not_null(m);
    sp_meta_iter_init(&it, m);
    cr_assert(sp_meta_iter_next(&it, &e) && e.len == 64 && !memcmp(e.data, final_meta, 64));
    cr_assert_eq(sp_file_verify(f, &err), 0, "%s", err.msg);
    sp_file_close(f);
    free(a);
    free(b);
    unlink(plain);
    unlink(drafted);
}

Test(convert_draft, a_stand_in_of_the_same_length_gives_the_same_file) {
    same_bytes("0000000000000000000000000000000000000000000000000000000000000000");
}

Test(convert_draft, a_longer_draft_is_cut_back_to_the_same_file) {
    char longer[5000];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    same_bytes(longer);
}

Test(convert_draft, a_shorter_draft_grows_to_the_same_file) {
    same_bytes("");
}

Test(convert_draft, no_tensor_after_the_draft_and_an_abort_leaves_nothing) {
    char path[256];
    tu_tmp_name(path, sizeof path, "after");
    sp_writer *w;
    sp_error err = {0};
    cr_assert_eq(sp_writer_create(path, 1, &err, &w), 0, "%s", err.msg);
    float x[4] = {1, 2, 3, 4};
    uint64_t d[] = {4};
    cr_assert_eq(sp_writer_add_tensor(w, "x", SP_F32, 1, d, x, SP_COMPRESS_NONE, 0), 0);
    cr_assert_eq(sp_writer_draft_checked(w, opens, NULL, &err), 0, "%s", err.msg);
    cr_assert_neq(sp_writer_add_tensor(w, "y", SP_F32, 1, d, x, SP_COMPRESS_NONE, 0), 0);
    cr_assert_not_null(strstr(sp_writer_error(w)->msg, "after the draft"), "%s", sp_writer_error(w)->msg);
    sp_writer_abort(w);
    struct stat st;
    cr_assert_neq(stat(path, &st), 0, "the output exists");
    char prefix[300];
    snprintf(prefix, sizeof prefix, ".%s.tmp-", strrchr(path, '/') + 1);
    DIR *dir = opendir("/tmp");
    struct dirent *e;
    cr_assert_not_null(dir);
    while ((e = readdir(dir))) cr_assert_neq(strncmp(e->d_name, prefix, strlen(prefix)), 0, "%s left behind", e->d_name);
    closedir(dir);
}
