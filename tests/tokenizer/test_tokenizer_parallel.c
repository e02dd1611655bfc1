/* test_tokenizer_parallel.c — tokenizing on several threads gives exactly the single-threaded
 * ids, on real text: the bundled example corpus with the example BPE model, the 1 MiB KJV text
 * with the fixtures' BPE model (against Python's ids for the whole string), and line by line
 * (every line its own string) with the fixtures' unigram model, for 1, 2, 3 and 7 threads. */
#include <criterion/criterion.h>

#include "sparsa_eval.h"
#include "sparsa_tokenizer.h"
#include "tu_eval.h"

#define FIX "tests/fixtures/tokenizer/"
#define EXAMPLE_MODEL "examples/data/bpe4k.model"
#define EXAMPLE_TEXT "examples/data/sotu_2001_2021.txt"

static const int thread_counts[] = {1, 2, 3, 7};

static sp_tokenizer *load(const char *path) {
    sp_error err = {0};
    sp_tokenizer *t = NULL;
    cr_assert_eq(sp_tokenizer_load_file(path, &t, &err), 0, "%s", err.msg);
    return t;
}

static void expect_same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb,
                            const char *what, int threads) {
    cr_assert_eq(na, nb, "%s, %d threads: %zu ids against %zu", what, threads, na, nb);
    for (size_t i = 0; i < na; i++)
        cr_assert_eq(a[i], b[i], "%s, %d threads: id %zu is %d, not %d", what, threads, i, a[i],
                     b[i]);
}

/* Every thread count against the reference ids ref[0..n_ref). */
static void expect_every_count(const sp_tokenizer *t, const char *text, size_t len,
                               const int32_t *ref, size_t n_ref, const char *what) {
    for (size_t k = 0; k < sizeof thread_counts / sizeof *thread_counts; k++) {
        sp_error err = {0};
        int32_t *ids = NULL;
        size_t n = 0;
        cr_assert_eq(sp_tokenizer_encode_threads(t, text, len, thread_counts[k], &ids, &n, &err),
                     0, "%s", err.msg);
        expect_same_ids(ids, n, ref, n_ref, what, thread_counts[k]);
        free(ids);
    }
}

Test(tokenizer_parallel, example_corpus_bpe_every_thread_count) {
    sp_tokenizer *t = load(EXAMPLE_MODEL);
    size_t len = 0;
    char *text = tu_read_file(EXAMPLE_TEXT, &len);
    cr_assert(text && len > 2 * 65536, "the example corpus must span several chunks");
    sp_error err = {0};
    int32_t *one = NULL;
    size_t n_one = 0;
    cr_assert_eq(sp_tokenizer_encode_threads(t, text, len, 1, &one, &n_one, &err), 0, "%s",
                 err.msg);
    cr_assert_gt(n_one, 10000u);
    expect_every_count(t, text, len, one, n_one, EXAMPLE_TEXT);
    free(one);
    free(text);
    sp_tokenizer_free(t);
}

/* Python's ids are those of the whole string: every thread count must give them. */
Test(tokenizer_parallel, kjv_bpe_equals_the_whole_string_every_thread_count) {
    sp_tokenizer *t = load(FIX "kjv_bpe.model");
    size_t len = 0, n_ref = 0;
    char *text = tu_read_zst(FIX "kjv_1mb.txt.zst", &len);
    int32_t *ref = tu_read_ids16(FIX "kjv_1mb.kjv_bpe.ids.zst", &n_ref);
    cr_assert(text && ref && len >= 1u << 20);
    expect_every_count(t, text, len, ref, n_ref, "kjv_1mb (BPE)");
    free(ref);
    free(text);
    sp_tokenizer_free(t);
}

/* A unigram model is never cut (docs/PROTOCOLS.md): any thread count is Python's whole string. */
Test(tokenizer_parallel, kjv_unigram_is_the_whole_string_every_thread_count) {
    sp_tokenizer *t = load(FIX "kjv_unigram.model");
    size_t len = 0, n_ref = 0;
    char *text = tu_read_zst(FIX "kjv_1mb.txt.zst", &len);
    int32_t *ref = tu_read_ids16(FIX "kjv_1mb.kjv_unigram.ids.zst", &n_ref);
    cr_assert(text && ref);
    expect_every_count(t, text, len, ref, n_ref, "kjv_1mb (unigram)");
    free(ref);
    free(text);
    sp_tokenizer_free(t);
}

/* Line by line: each line encoded alone, one after the other, is the reference. */
static void expect_lines(const char *model, const char *text, size_t len) {
    sp_tokenizer *t = load(model);
    sp_error err = {0};
    size_t cap = len + 1, n_ref = 0, n_docs = 0;
    int32_t *ref = malloc(cap * sizeof *ref);
    cr_assert(ref);
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        int32_t *ids = NULL;
        size_t n = 0;
        cr_assert_eq(sp_tokenizer_encode_threads(t, text + at, end - at, 1, &ids, &n, &err), 0);
        cr_assert_leq(n_ref + n, cap);
        if (n) memcpy(ref + n_ref, ids, n * sizeof *ids), n_docs++;
        n_ref += n;
        free(ids);
        at = end + 1;
    }
    sp_token_cache_opts off = {.disabled = 1};
    for (size_t k = 0; k < sizeof thread_counts / sizeof *thread_counts; k++) {
        sp_corpus_tokens got;
        cr_assert_eq(sp_corpus_tokenize(t, "text", text, len, 1, thread_counts[k], &off, &got,
                                        &err), 0, "%s", err.msg);
        expect_same_ids(got.ids, got.n, ref, n_ref, model, thread_counts[k]);
        cr_assert_eq(got.n_docs, n_docs);
        sp_corpus_tokens_free(&got);
    }
    free(ref);
    sp_tokenizer_free(t);
}

Test(tokenizer_parallel, lines_unigram_and_bpe_every_thread_count) {
    size_t len = 0;
    char *text = tu_read_zst(FIX "kjv_1mb.txt.zst", &len);
    cr_assert(text && memchr(text, '\n', len));
    expect_lines(FIX "kjv_unigram.model", text, len);
    free(text);
    text = tu_read_file(EXAMPLE_TEXT, &len);
    cr_assert(text);
    expect_lines(EXAMPLE_MODEL, text, len);
    free(text);
}
