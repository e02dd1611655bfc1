/* test_perplexity_plan.c — the protocols as pure logic (no model): which tokens each window
 * feeds, which targets it scores, how many windows fit, the statistics, corpus checks. */
#include <criterion/criterion.h>
#include <math.h>

#include "tu_eval.h"
#include "sparsa_eval.h"

#define BOS 1000

/* corpus[i] = i, so every input token tells which corpus token it is. */
static int32_t corpus[64];
static void init_corpus(void) {
    for (int i = 0; i < 64; i++) corpus[i] = i;
}

static sp_ppl_plan plan_of(sp_score_mode sc, sp_bos_mode b, size_t stride, size_t ctx, size_t n) {
    sp_ppl_protocol p = {sc, b, stride, SP_DOCS_FILES};
    sp_ppl_plan plan;
    sp_error err = {0};
    cr_assert_eq(sp_ppl_plan_make(&p, ctx, n, &plan, &err), 0, "%s", err.msg);
    return plan;
}

static void expect_window(const sp_ppl_plan *plan, size_t n, size_t k, const int32_t *want,
                          size_t want_from) {
    int32_t in[16];
    size_t from = sp_ppl_window_input(plan, corpus, n, BOS, k, in);
    for (size_t p = 0; p < plan->ctx; p++)
        cr_assert_eq(in[p], want[p], "window %zu pos %zu: %d, want %d", k, p, in[p], want[p]);
    cr_assert_eq(from, want_from, "window %zu scores from %zu, want %zu", k, from, want_from);
}

/* Every corpus token that some window scores, counted: the union must be what the README says. */
static void scored_tokens(const sp_ppl_plan *plan, size_t n, int *count) {
    memset(count, 0, 64 * sizeof *count);
    int32_t in[16];
    for (size_t k = 0; k < plan->windows; k++) {
        size_t from = sp_ppl_window_input(plan, corpus, n, BOS, k, in);
        for (size_t p = from; p < plan->ctx; p++) {
            cr_assert_neq(in[p], BOS, "a target is never the inserted BOS");
            count[in[p]]++;
        }
    }
}

Test(ppl_plan, all_none_non_overlapping, .init = init_corpus) {
    sp_ppl_plan pl = plan_of(SP_SCORE_ALL, SP_BOS_NONE, 0, 4, 10);
    cr_assert_eq(pl.windows, 2);
    cr_assert_eq(pl.tokens_scored, 6);
    expect_window(&pl, 10, 0, (int32_t[]){0, 1, 2, 3}, 1);
    expect_window(&pl, 10, 1, (int32_t[]){4, 5, 6, 7}, 1);
    int c[64];
    scored_tokens(&pl, 10, c);
    int want[10] = {0, 1, 1, 1, 0, 1, 1, 1, 0, 0}; /* first of each window and the tail: not */
    for (int i = 0; i < 10; i++) cr_assert_eq(c[i], want[i], "token %d", i);
}

Test(ppl_plan, all_replace_overwrites_first_token, .init = init_corpus) {
    sp_ppl_plan pl = plan_of(SP_SCORE_ALL, SP_BOS_REPLACE, 0, 4, 10);
    cr_assert_eq(pl.windows, 2);
    cr_assert_eq(pl.tokens_scored, 6);
    expect_window(&pl, 10, 0, (int32_t[]){BOS, 1, 2, 3}, 1);
    expect_window(&pl, 10, 1, (int32_t[]){BOS, 5, 6, 7}, 1);
}

Test(ppl_plan, all_prepend_scores_every_corpus_token_of_a_window, .init = init_corpus) {
    sp_ppl_plan pl = plan_of(SP_SCORE_ALL, SP_BOS_PREPEND, 0, 4, 10);
    cr_assert_eq(pl.windows, 3);
    cr_assert_eq(pl.tokens_scored, 9);
    expect_window(&pl, 10, 0, (int32_t[]){BOS, 0, 1, 2}, 1);
    expect_window(&pl, 10, 2, (int32_t[]){BOS, 6, 7, 8}, 1);
    int c[64];
    scored_tokens(&pl, 10, c);
    for (int i = 0; i < 9; i++) cr_assert_eq(c[i], 1, "token %d", i);
    cr_assert_eq(c[9], 0);
}

Test(ppl_plan, second_half_is_llama_cpp, .init = init_corpus) {
    /* llama.cpp: stream = BOS + tokens, chunks of L, chunk's first token := BOS,
     * first = L/2, targets first+1 .. L-1. */
    sp_ppl_plan pl = plan_of(SP_SCORE_SECOND_HALF, SP_BOS_NONE, 0, 4, 10);
    cr_assert_eq(pl.windows, 2); /* 11 stream tokens / 4 */
    cr_assert_eq(pl.tokens_scored, 2);
    expect_window(&pl, 10, 0, (int32_t[]){BOS, 0, 1, 2}, 3);
    expect_window(&pl, 10, 1, (int32_t[]){BOS, 4, 5, 6}, 3);

    pl = plan_of(SP_SCORE_SECOND_HALF, SP_BOS_NONE, 0, 8, 40);
    cr_assert_eq(pl.windows, 5);
    cr_assert_eq(pl.score_from, 5);
    cr_assert_eq(pl.tokens_scored, 5 * (8 - 1 - 4));
    expect_window(&pl, 40, 1, (int32_t[]){BOS, 8, 9, 10, 11, 12, 13, 14}, 5);
    /* 512 → 255 targets per chunk, as llama.cpp prints. */
    pl = plan_of(SP_SCORE_SECOND_HALF, SP_BOS_NONE, 0, 512, 5000);
    cr_assert_eq(pl.tokens_scored, pl.windows * 255);
    cr_assert_eq(pl.windows, 5001 / 512);
}

Test(ppl_plan, second_half_ignores_bos_option, .init = init_corpus) {
    sp_ppl_plan a = plan_of(SP_SCORE_SECOND_HALF, SP_BOS_PREPEND, 0, 8, 40);
    sp_ppl_plan b = plan_of(SP_SCORE_SECOND_HALF, SP_BOS_NONE, 0, 8, 40);
    cr_assert(memcmp(&a, &b, sizeof a) == 0);
}

Test(ppl_plan, stride_is_hf_sliding_window, .init = init_corpus) {
    sp_ppl_plan pl = plan_of(SP_SCORE_ALL, SP_BOS_NONE, 2, 4, 10);
    cr_assert_eq(pl.windows, 4);
    expect_window(&pl, 10, 0, (int32_t[]){0, 1, 2, 3}, 1);
    expect_window(&pl, 10, 1, (int32_t[]){2, 3, 4, 5}, 2);
    expect_window(&pl, 10, 3, (int32_t[]){6, 7, 8, 9}, 2);
    cr_assert_eq(pl.tokens_scored, 9);
    int c[64];
    scored_tokens(&pl, 10, c);
    cr_assert_eq(c[0], 0);
    for (int i = 1; i < 10; i++) cr_assert_eq(c[i], 1, "token %d scored %d times", i, c[i]);
}

Test(ppl_plan, stride_equal_to_ctx_is_non_overlapping, .init = init_corpus) {
    sp_ppl_plan a = plan_of(SP_SCORE_ALL, SP_BOS_NONE, 4, 4, 13);
    sp_ppl_plan b = plan_of(SP_SCORE_ALL, SP_BOS_NONE, 0, 4, 13);
    cr_assert_eq(a.windows, b.windows);
    cr_assert_eq(a.tokens_scored, b.tokens_scored);
    cr_assert_eq(a.score_from, 1);
}

Test(ppl_plan, stride_with_prepend, .init = init_corpus) {
    sp_ppl_plan pl = plan_of(SP_SCORE_ALL, SP_BOS_PREPEND, 2, 4, 10);
    cr_assert_eq(pl.windows, 4);
    expect_window(&pl, 10, 1, (int32_t[]){BOS, 2, 3, 4}, 2);
    int c[64];
    scored_tokens(&pl, 10, c);
    for (int i = 0; i < 9; i++) cr_assert_eq(c[i], 1, "token %d", i);
    cr_assert_eq(pl.tokens_scored, 9);
}

Test(ppl_plan, bad_plans_are_input_errors) {
    sp_ppl_plan pl;
    sp_error err = {0};
    sp_ppl_protocol all = {SP_SCORE_ALL, SP_BOS_NONE, 0, SP_DOCS_FILES};
    cr_assert_eq(sp_ppl_plan_make(&all, 4, 3, &pl, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "3 tokens") && strstr(err.msg, "needs at least 4"), "%s", err.msg);
    cr_assert_eq(sp_ppl_plan_make(&all, 1, 100, &pl, &err), SP_ERR_INPUT);
    sp_ppl_protocol pre = {SP_SCORE_ALL, SP_BOS_PREPEND, 0, SP_DOCS_FILES};
    cr_assert_eq(sp_ppl_plan_make(&pre, 4, 2, &pl, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "needs at least 3"), "%s", err.msg);
    cr_assert_eq(sp_ppl_plan_make(&pre, 4, 3, &pl, &err), 0);
    sp_ppl_protocol half = {SP_SCORE_SECOND_HALF, SP_BOS_NONE, 0, SP_DOCS_FILES};
    cr_assert_eq(sp_ppl_plan_make(&half, 4, 2, &pl, &err), SP_ERR_INPUT);
    cr_assert_eq(sp_ppl_plan_make(&half, 4, 3, &pl, &err), 0);
    cr_assert_eq(sp_ppl_plan_make(&half, 2, 100, &pl, &err), SP_ERR_INPUT);
    sp_ppl_protocol big = {SP_SCORE_ALL, SP_BOS_NONE, 5, SP_DOCS_FILES};
    cr_assert_eq(sp_ppl_plan_make(&big, 4, 100, &pl, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "--stride"), "%s", err.msg);
    sp_ppl_protocol big2 = {SP_SCORE_ALL, SP_BOS_PREPEND, 4, SP_DOCS_FILES};
    cr_assert_eq(sp_ppl_plan_make(&big2, 4, 100, &pl, &err), SP_ERR_INPUT);
    sp_ppl_protocol hs = {SP_SCORE_SECOND_HALF, SP_BOS_NONE, 2, SP_DOCS_FILES};
    cr_assert_eq(sp_ppl_plan_make(&hs, 8, 100, &pl, &err), SP_ERR_INPUT);
    cr_assert_eq(sp_ppl_min_tokens(&all, 8), 8);
    cr_assert_eq(sp_ppl_min_tokens(&pre, 8), 7);
    cr_assert_eq(sp_ppl_min_tokens(&half, 8), 7);
}

Test(ppl_stats, mean_and_standard_errors) {
    sp_ppl_acc a;
    sp_ppl_acc_init(&a);
    /* window 1: token NLLs 0.5, 1.5; window 2: 1, 3 */
    sp_ppl_acc_window(&a, 2, 2.0, 0.25 + 2.25);
    sp_ppl_acc_window(&a, 2, 4.0, 1.0 + 9.0);
    sp_ppl_result r;
    sp_ppl_result_of(&a, &r);
    cr_assert_eq(r.windows, 2);
    cr_assert_eq(r.tokens_scored, 4);
    cr_assert_float_eq(r.mean_nll, 1.5, 1e-15);
    cr_assert_float_eq(r.ppl, exp(1.5), 1e-12);
    /* window means 1 and 2: sd 0.70711, over sqrt(2) windows = 0.5 */
    cr_assert_float_eq(r.nll_stderr, 0.5, 1e-12);
    cr_assert_float_eq(r.ppl_stderr, 0.5 * exp(1.5), 1e-12);
    /* llama.cpp: sqrt((mean(x²) - mean(x)²)/(N-1)) = sqrt((3.125 - 2.25)/3) */
    cr_assert_float_eq(r.nll_stderr_tokens, sqrt(0.875 / 3.0), 1e-12);
}

Test(ppl_stats, unequal_windows_use_the_ratio_estimator) {
    sp_ppl_acc a, b, all;
    sp_ppl_acc_init(&a);
    sp_ppl_acc_init(&b);
    sp_ppl_acc_window(&a, 3, 3.0, 3.0);
    sp_ppl_acc_window(&b, 1, 3.0, 9.0);
    sp_ppl_acc_window(&b, 4, 2.0, 1.0);
    all = a;
    sp_ppl_acc_merge(&all, &b);
    sp_ppl_result r;
    sp_ppl_result_of(&all, &r);
    double mu = 8.0 / 8.0;
    double e1 = 3 - 3 * mu, e2 = 3 - 1 * mu, e3 = 2 - 4 * mu;
    double se = sqrt(3.0 / 2.0 * (e1 * e1 + e2 * e2 + e3 * e3)) / 8.0;
    cr_assert_eq(r.windows, 3);
    cr_assert_float_eq(r.mean_nll, mu, 1e-15);
    cr_assert_float_eq(r.nll_stderr, se, 1e-12);
}

Test(ppl_stats, one_window_has_no_window_error) {
    sp_ppl_acc a;
    sp_ppl_acc_init(&a);
    sp_ppl_acc_window(&a, 3, 3.0, 3.5);
    sp_ppl_result r;
    sp_ppl_result_of(&a, &r);
    cr_assert(isnan(r.nll_stderr));
    cr_assert(isfinite(r.nll_stderr_tokens));
}

Test(ppl_stats, nll_of_row_is_log_softmax) {
    float row[3] = {0.0f, logf(2.0f), logf(3.0f)};
    cr_assert_float_eq(sp_nll_of_row(row, 3, 0), log(6.0), 1e-6);
    cr_assert_float_eq(sp_nll_of_row(row, 3, 2), log(2.0), 1e-6);
    /* large logits do not overflow */
    float big[2] = {1000.0f, 1000.0f};
    cr_assert_float_eq(sp_nll_of_row(big, 2, 1), log(2.0), 1e-9);
}

Test(corpus, utf8_validation) {
    struct { const char *s; size_t len, bad; } cases[] = {
        {"plain ascii", 11, 11},
        {"gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac \xf0\x9f\x99\x82", 16, 16},
        {"a\xc0\x80", 3, 1},          /* overlong NUL */
        {"ab\xe0\x80\xaf", 5, 2},     /* overlong 3-byte */
        {"\xed\xa0\x80", 3, 0},       /* surrogate */
        {"x\xf4\x90\x80\x80", 5, 1},  /* above U+10FFFF */
        {"xy\xe2\x82", 4, 2},         /* truncated */
        {"\x80", 1, 0},               /* lone continuation */
        {"ok\xf5\x80\x80\x80", 6, 2}, /* F5 */
        {"\xc3(", 2, 0},              /* bad continuation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(sp_utf8_first_invalid(cases[i].s, cases[i].len), cases[i].bad, "case %zu", i);
}

Test(corpus, read_errors_name_the_file) {
    char *text;
    size_t len;
    sp_error err = {0};
    cr_assert_eq(sp_corpus_read("/nonexistent/c.txt", &text, &len, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "/nonexistent/c.txt"), "%s", err.msg);
    char *empty = tu_temp_file("", 0, ".txt");
    cr_assert_eq(sp_corpus_read(empty, &text, &len, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, empty) && strstr(err.msg, "empty"), "%s", err.msg);
    char *bad = tu_temp_file("good text\n\xff bad", 15, ".txt");
    cr_assert_eq(sp_corpus_read(bad, &text, &len, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, bad) && strstr(err.msg, "invalid UTF-8 at byte 10"), "%s", err.msg);
    cr_assert_eq(sp_corpus_read("/tmp", &text, &len, &err), SP_ERR_INPUT);
    char *good = tu_temp_file("caf\xc3\xa9\n", 6, ".txt");
    cr_assert_eq(sp_corpus_read(good, &text, &len, &err), 0, "%s", err.msg);
    cr_assert_eq(len, 6);
    cr_assert_str_eq(text, "caf\xc3\xa9\n");
    free(text);
    remove(empty);
    remove(bad);
    remove(good);
    free(empty);
    free(bad);
    free(good);
}
