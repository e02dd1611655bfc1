/* test_tokenizer_api.c — the C tokenizer API against Python sentencepiece's ids (fixtures made
 * by tests/reference/tokenizer_fixtures.py), exact round trips, and every error path. */
#include <criterion/criterion.h>
#include <sys/stat.h>

#include "tu_eval.h"
#include "sparsa_tokenizer.h"

#define FIX "tests/fixtures/tokenizer/"

static void check_model_against_python(const char *model, const char *ids_path) {
    sp_error err = {0};
    sp_tokenizer *t = NULL;
    cr_assert_eq(sp_tokenizer_load_file(model, &t, &err), 0, "%s", err.msg);
    size_t len = 0, n_ref = 0;
    char *text = tu_read_zst(FIX "kjv_1mb.txt.zst", &len);
    int32_t *ref = tu_read_ids16(ids_path, &n_ref);
    cr_assert(text && ref);
    cr_assert_geq(len, 1u << 20, "the comparison must cover at least 1 MiB");
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(sp_tokenizer_encode(t, text, len, &ids, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, n_ref, "%zu ids, Python gave %zu", n, n_ref);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ids[i], ref[i], "id %zu: %d, Python gave %d", i, ids[i], ref[i]);
    /* decode(encode(x)) == x on the whole text (identity normaliser, byte fallback). */
    char *back = NULL;
    size_t back_len = 0;
    cr_assert_eq(sp_tokenizer_decode(t, ids, n, &back, &back_len, &err), 0, "%s", err.msg);
    cr_assert_eq(back_len, len);
    cr_assert(memcmp(back, text, len) == 0);
    cr_assert_eq(back[back_len], 0);
    free(back);
    free(ids);
    free(ref);
    free(text);
    sp_tokenizer_free(t);
}

Test(tokenizer_api, bpe_ids_equal_python_on_1mb) {
    check_model_against_python(FIX "kjv_bpe.model", FIX "kjv_1mb.kjv_bpe.ids.zst");
}

Test(tokenizer_api, unigram_ids_equal_python_on_1mb) {
    check_model_against_python(FIX "kjv_unigram.model", FIX "kjv_1mb.kjv_unigram.ids.zst");
}

Test(tokenizer_api, special_ids_and_vocab) {
    sp_error err = {0};
    sp_tokenizer *t = NULL;
    cr_assert_eq(sp_tokenizer_load_file(FIX "kjv_bpe.model", &t, &err), 0, "%s", err.msg);
    cr_assert_eq(sp_tokenizer_vocab_size(t), 2000);
    cr_assert_eq(sp_tokenizer_unk(t), 0);
    cr_assert_eq(sp_tokenizer_bos(t), 1);
    cr_assert_eq(sp_tokenizer_eos(t), 2);
    sp_tokenizer_free(t);
}

Test(tokenizer_api, byte_fallback_round_trip_from_bytes) {
    size_t mlen = 0, len = 0;
    void *mb = tu_read_file(FIX "kjv_bpe.model", &mlen);
    char *text = tu_read_file(FIX "roundtrip.txt", &len);
    cr_assert(mb && text);
    sp_error err = {0};
    sp_tokenizer *t = NULL;
    cr_assert_eq(sp_tokenizer_load_bytes(mb, mlen, &t, &err), 0, "%s", err.msg);
    int32_t *ids = NULL;
    size_t n = 0;
    cr_assert_eq(sp_tokenizer_encode(t, text, len, &ids, &n, &err), 0, "%s", err.msg);
    cr_assert_gt(n, 0);
    int bytes_used = 0; /* byte pieces are ids 3..258 */
    for (size_t i = 0; i < n; i++) bytes_used |= ids[i] >= 3 && ids[i] < 259;
    cr_assert(bytes_used, "the text must exercise byte fallback");
    char *back = NULL;
    size_t back_len = 0;
    cr_assert_eq(sp_tokenizer_decode(t, ids, n, &back, &back_len, &err), 0, "%s", err.msg);
    cr_assert_eq(back_len, len);
    cr_assert(memcmp(back, text, len) == 0);
    free(back);
    free(ids);
    free(text);
    free(mb);
    sp_tokenizer_free(t);
}

Test(tokenizer_api, empty_text_gives_no_ids) {
    sp_error err = {0};
    sp_tokenizer *t = NULL;
    cr_assert_eq(sp_tokenizer_load_file(FIX "kjv_bpe.model", &t, &err), 0);
    int32_t *ids = (int32_t *)1;
    size_t n = 7;
    cr_assert_eq(sp_tokenizer_encode(t, "", 0, &ids, &n, &err), 0);
    cr_assert_eq(n, 0);
    free(ids);
    char *s = NULL;
    size_t len = 9;
    cr_assert_eq(sp_tokenizer_decode(t, NULL, 0, &s, &len, &err), 0);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(s, "");
    free(s);
    sp_tokenizer_free(t);
}

Test(tokenizer_api, decode_rejects_ids_outside_vocab) {
    sp_error err = {0};
    sp_tokenizer *t = NULL;
    cr_assert_eq(sp_tokenizer_load_file(FIX "kjv_bpe.model", &t, &err), 0);
    int32_t ids[] = {100, 2000};
    char *s = NULL;
    size_t len = 0;
    cr_assert_eq(sp_tokenizer_decode(t, ids, 2, &s, &len, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "2000"), "%s", err.msg);
    cr_assert_null(s);
    int32_t neg[] = {-1};
    cr_assert_eq(sp_tokenizer_decode(t, neg, 1, &s, &len, &err), SP_ERR_INPUT);
    sp_tokenizer_free(t);
}

Test(tokenizer_api, missing_file_is_input_error) {
    sp_error err = {0};
    sp_tokenizer *t = (sp_tokenizer *)1;
    cr_assert_eq(sp_tokenizer_load_file("/nonexistent/x.model", &t, &err), SP_ERR_INPUT);
    cr_assert_null(t);
    cr_assert(strstr(err.msg, "/nonexistent/x.model"), "%s", err.msg);
    cr_assert_null(strchr(err.msg, '\n'));
}

Test(tokenizer_api, garbage_bytes_are_input_error) {
    sp_error err = {0};
    sp_tokenizer *t = NULL;
    const char junk[] = "this is not a serialized ModelProto \x01\x02\x03\xff\xfe";
    cr_assert_eq(sp_tokenizer_load_bytes(junk, sizeof junk, &t, &err), SP_ERR_INPUT);
    cr_assert_null(t);
    cr_assert(strstr(err.msg, "cannot load the SentencePiece model"), "%s", err.msg);
    cr_assert_eq(sp_tokenizer_load_bytes(junk, 0, &t, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "no model bytes"), "%s", err.msg);
    /* A truncated real model. */
    size_t mlen = 0;
    void *mb = tu_read_file(FIX "kjv_bpe.model", &mlen);
    cr_assert(mb && mlen > 3, "cannot read " FIX "kjv_bpe.model");
    cr_assert_eq(sp_tokenizer_load_bytes(mb, mlen / 3, &t, &err), SP_ERR_INPUT);
    cr_assert_null(t);
    cr_assert(strstr(err.msg, "cannot load the SentencePiece model") && !strchr(err.msg, '\n'),
              "%s", err.msg);
    free(mb);
}

Test(tokenizer_api, load_path_reads_a_model_file_and_reports_missing) {
    sp_error err = {0};
    sp_tokenizer *t = NULL;
    cr_assert_eq(sp_tokenizer_load_path(FIX "kjv_bpe.model", &t, &err), 0, "%s", err.msg);
    cr_assert_eq(sp_tokenizer_vocab_size(t), 2000);
    sp_tokenizer_free(t);
    cr_assert_eq(sp_tokenizer_load_path("/nonexistent/m.sparsa", &t, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "/nonexistent/m.sparsa"));
}

/* A FIFO, a directory or a device given as the model is refused at once (a FIFO with no
 * writer would block a plain open forever). */
Test(tokenizer_api, special_files_are_refused_at_once, .timeout = 30) {
    char dir[] = "/tmp/sparsa_tok_XXXXXX", fifo[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(fifo, sizeof fifo, "%s/model.fifo", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    const char *paths[] = {fifo, dir, "/dev/null"};
    const char *kinds[] = {"FIFO", "directory", "character device"};
    for (int i = 0; i < 3; i++) {
        sp_error err = {0};
        sp_tokenizer *t = (sp_tokenizer *)1;
        cr_assert_eq(sp_tokenizer_load_file(paths[i], &t, &err), SP_ERR_INPUT, "%s", paths[i]);
        cr_assert_null(t);
        cr_assert(strstr(err.msg, kinds[i]) && strstr(err.msg, paths[i]), "%s", err.msg);
        t = (sp_tokenizer *)1;
        cr_assert_eq(sp_tokenizer_load_path(paths[i], &t, &err), SP_ERR_INPUT, "%s", paths[i]);
        cr_assert_null(t);
        cr_assert(strstr(err.msg, kinds[i]), "%s", err.msg);
    }
    unlink(fifo);
    rmdir(dir);
}
