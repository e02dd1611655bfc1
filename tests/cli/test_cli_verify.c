/* test_cli_verify.c — data is checked before it is trusted: a changed byte inside a weight's
 * stored bytes (CRC-32 no longer matching) is refused by every command that runs the model
 * (exit 2, one line naming the tensor) and by inspect --verify, while --no-verify still runs;
 * inspect --verify fails, naming the first problem, on files whose every checksum matches but
 * that a run would refuse (a graph that does not fit its tensors, a tokenizer that does not
 * fit the vocabulary), and says OK only when every check passes. */
#include <criterion/criterion.h>

#include "tu_cli.h"
#include "tu_format.h"

#define DIR "tests/fixtures/perplexity/"
#define LLAMA DIR "ppl-llama.sparsa"
#define PSALMS DIR "psalms.txt"
#define NORM0 "model.layers.0.input_layernorm.weight"

TestSuite(cli_verify, .init = tu_scratch_make, .fini = tu_scratch_remove);

/* LLAMA with the lowest mantissa bit of the first weight of NORM0 flipped (a tame change: the
 * model still computes finite logits), its stored CRC-32 left as it was. */
static const char *flipped_model(void) {
    sp_file *f = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_file_open(LLAMA, &f, &err), 0, "%s", err.msg);
    const sp_tensor_info *t = sp_file_find_tensor(f, NORM0);
    cr_assert(t && t->compression == SP_COMPRESS_NONE);
    uint64_t at = t->offset;
    sp_file_close(f);
    size_t n = 0;
    uint8_t *img = tu_read_file(LLAMA, &n);
    cr_assert(img && at < n);
    img[at] ^= 0x01;
    char *path = tu_scratch_path("flipped.sparsa");
    FILE *fp = fopen(path, "wb");
    cr_assert(fp && fwrite(img, 1, n, fp) == n && fclose(fp) == 0);
    free(img);
    return path;
}

static void expect_checksum_refused(const char *args) {
    char *out = NULL, *err = NULL;
    int rc = tu_run_sparsa(args, &out, &err);
    cr_assert_eq(rc, 2, "'%s' exited %d: %s", args, rc, err);
    cr_assert_eq(tu_line_count(err), 1, "'%s': %s", args, err);
    cr_assert(strstr(err, "'" NORM0 "'") && strstr(err, "checksum mismatch"), "'%s': %s", args,
              err);
    cr_assert_str_eq(out, "", "'%s' printed a result", args);
    free(out);
    free(err);
}

/* inspect --verify: the report, then FAILED, exit 2 and one line naming the first failure. */
static void expect_verify_fails(const char *args, const char *what, const char *why) {
    char *out = NULL, *err = NULL;
    int rc = tu_run_sparsa(args, &out, &err);
    cr_assert_eq(rc, 2, "'%s' exited %d: %s", args, rc, err);
    cr_assert_eq(tu_line_count(err), 1, "'%s': %s", args, err);
    cr_assert(strstr(err, what) && strstr(err, why), "'%s': %s", args, err);
    cr_assert(strstr(out, "verify       FAILED") && !strstr(out, "OK"), "'%s': %s", args, out);
    free(out);
    free(err);
}

static void expect_runs(const char *args, const char *needle) {
    char *out = NULL, *err = NULL;
    int rc = tu_run_sparsa(args, &out, &err);
    cr_assert_eq(rc, 0, "'%s' exited %d: %s", args, rc, err);
    cr_assert(strstr(out, needle), "'%s': stdout lacks '%s': %s", args, needle, out);
    free(out);
    free(err);
}

Test(cli_verify, a_changed_weight_is_refused_by_every_run_and_no_verify_runs) {
    const char *m = flipped_model();
    char *src = tu_scratch_path("t.src");
    FILE *f = fopen(src, "w");
    cr_assert(f && fputs("5 6 7\n", f) >= 0 && fclose(f) == 0);
    const char *runs[][2] = {
        {"logits %s --tokens 5,6,7", "0: "},
        {"perplexity %s " PSALMS " --ctx 64 --max-tokens 200 --json", "\"ppl\": "},
        {"generate %s --tokens 5,6,7 -n 3", " "},
        {"eval-task %s --src %s --trg %s --json", "\"accuracy\": "},
        {"kld %s " LLAMA " " PSALMS " --ctx 64 --max-tokens 200 --json", "\"mean_kld\": "},
        {"mc %s tests/fixtures/mc/generic.jsonl --json", "\"acc\": "},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char fmt[300], args[1200];
        snprintf(fmt, sizeof fmt, "%s --threads 1", runs[i][0]);
        snprintf(args, sizeof args, fmt, m, src, src);
        expect_checksum_refused(args);
        snprintf(fmt, sizeof fmt, "%s --threads 1 --no-verify", runs[i][0]);
        snprintf(args, sizeof args, fmt, m, src, src);
        expect_runs(args, runs[i][1]);
    }
    char args[600];
    snprintf(args, sizeof args, "inspect %s", m);
    expect_runs(args, "20 tensors"); /* opening reads no tensor data */
    snprintf(args, sizeof args, "inspect %s --verify", m);
    expect_verify_fails(args, "'" NORM0 "'", "checksum mismatch");
    snprintf(args, sizeof args, "tokenize %s --no-verify 'In the beginning'", m);
    expect_runs(args, " ");
}

/* The small graph of tu_format.h (vocabulary 4, width 8) with its three tensors, w0 given
 * `w0_len` elements, and the tokenizer section `tok` when not NULL. */
static const char *small_model(const char *name, uint64_t w0_len, const void *tok, size_t tlen) {
    char *path = tu_scratch_path(name);
    sp_writer *w = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_writer_create(path, 1, &err, &w), 0, "%s", err.msg);
    cr_assert_eq(sp_writer_set_graph(w, tu_small_graph, sizeof tu_small_graph - 1), 0);
    if (tok) cr_assert_eq(sp_writer_set_tokenizer(w, tok, tlen), 0);
    float v[32];
    for (int i = 0; i < 32; i++) v[i] = 0.25f + 0.01f * (float)i;
    uint64_t d_tok[2] = {4, 8}, d_w0[1] = {w0_len}, d_w1[1] = {8};
    cr_assert_eq(sp_writer_add_tensor(w, "tok", SP_F32, 2, d_tok, v, SP_COMPRESS_NONE, 0), 0);
    cr_assert_eq(sp_writer_add_tensor(w, "w0", SP_F32, 1, d_w0, v, SP_COMPRESS_NONE, 0), 0);
    cr_assert_eq(sp_writer_add_tensor(w, "w1", SP_F32, 1, d_w1, v, SP_COMPRESS_NONE, 0), 0);
    cr_assert_eq(sp_writer_finish(w, &err), 0, "%s", err.msg);
    return path;
}

Test(cli_verify, a_graph_that_does_not_fit_its_tensors_fails_verify) {
    const char *m = small_model("bad-graph.sparsa", 7, NULL, 0);
    char args[600];
    snprintf(args, sizeof args, "inspect %s", m);
    expect_runs(args, "3 tensors");
    snprintf(args, sizeof args, "inspect %s --verify", m);
    expect_verify_fails(args, "'n0'", "w0");
    /* and the run refuses it the same way */
    snprintf(args, sizeof args, "logits %s --tokens 1,2", m);
    tu_expect_bad(args, "'n0'");
    m = small_model("good-graph.sparsa", 8, NULL, 0);
    snprintf(args, sizeof args, "inspect %s --verify", m);
    expect_runs(args, "verify       OK: all 3 tensor checksums match, the graph opens for a run\n");
}

Test(cli_verify, a_tokenizer_that_does_not_fit_the_vocabulary_fails_verify) {
    sp_file *f = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_file_open(LLAMA, &f, &err), 0, "%s", err.msg);
    size_t tlen = 0;
    const void *tok = sp_file_tokenizer(f, &tlen);
    cr_assert(tok && tlen);
    const char *m = small_model("bad-tokenizer.sparsa", 8, tok, tlen);
    sp_file_close(f);
    char args[600];
    snprintf(args, sizeof args, "inspect %s --verify", m);
    expect_verify_fails(args, "2000 pieces", "vocabulary is 4");
    snprintf(args, sizeof args, "inspect %s --verify --json", m);
    char *out = NULL, *e = NULL;
    cr_assert_eq(tu_run_sparsa(args, &out, &e), 2, "%s", e);
    cr_assert(strstr(out, "\"verify\":{\"ok\":false,\"error\":\"the tokenizer has 2000 pieces"),
              "%s", out);
    free(out);
    free(e);
}

/* Acceptance: 200 seeded random single-byte changes inside the (uncompressed) tensor data of a
 * model: every one refused by `logits` (exit 2, never 0); with --no-verify each still runs
 * (exit 0, or 1 when the change made a logit non-finite: never a refusal at load). */
Test(cli_verify, two_hundred_random_byte_changes_are_never_silent, .timeout = 600) {
    sp_file *f = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_file_open(LLAMA, &f, &err), 0, "%s", err.msg);
    /* every byte of every tensor's data, equally likely (alignment padding is not data) */
    size_t count = sp_file_tensor_count(f);
    uint64_t off[64], size[64], stored = 0;
    cr_assert(count <= 64);
    for (size_t i = 0; i < count; i++) {
        const sp_tensor_info *t = sp_file_tensor(f, i);
        cr_assert_eq(t->compression, SP_COMPRESS_NONE);
        off[i] = t->offset;
        size[i] = t->stored_size;
        stored += t->stored_size;
    }
    sp_file_close(f);
    size_t n = 0;
    uint8_t *img = tu_read_file(LLAMA, &n);
    cr_assert(img && stored > 0);
    char *path = tu_scratch_path("changed.sparsa");
    uint64_t s = 0x5eed2024u;
    int ran_clean = 0, ran_nonfinite = 0;
    for (int k = 0; k < 200; k++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = (s >> 11) % stored, at = 0;
        for (size_t i = 0; i < count; r -= size[i++])
            if (r < size[i]) {
                at = off[i] + r;
                break;
            }
        cr_assert(at > 0 && at < n);
        uint8_t delta = (uint8_t)(1 + (s >> 3) % 255); /* never 0: the byte always changes */
        img[at] ^= delta;
        FILE *fp = fopen(path, "wb");
        cr_assert(fp && fwrite(img, 1, n, fp) == n && fclose(fp) == 0);
        img[at] ^= delta;
        char args[600], *out = NULL, *e = NULL;
        snprintf(args, sizeof args, "logits %s --tokens 5,6,7 --threads 1", path);
        int rc = tu_run_sparsa(args, &out, &e);
        cr_assert_eq(rc, 2, "change %d at %llu: exit %d: %s", k, (unsigned long long)at, rc, e);
        cr_assert(strstr(e, "checksum mismatch") && !out[0], "change %d: %s", k, e);
        free(out);
        free(e);
        snprintf(args, sizeof args, "logits %s --tokens 5,6,7 --threads 1 --no-verify", path);
        rc = tu_run_sparsa(args, &out, &e);
        cr_assert(rc == 0 || (rc == 1 && strstr(e, "non-finite logit")),
                  "change %d with --no-verify: exit %d: %s", k, rc, e);
        ran_clean += rc == 0;
        ran_nonfinite += rc == 1;
        free(out);
        free(e);
    }
    cr_assert_eq(ran_clean + ran_nonfinite, 200);
    free(img);
}
