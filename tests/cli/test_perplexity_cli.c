/* test_perplexity_cli.c — `sparsa perplexity` options and every bad input: exit 2, one line on
 * stderr naming the file at fault, nothing on stdout. */
#include <criterion/criterion.h>

#include "tu_cli.h"
#include "tu_eval.h"

#define DIR "tests/fixtures/perplexity/"
#define LLAMA DIR "ppl-llama.sparsa"
#define SPARSE DIR "ppl-asentmax.sparsa"

Test(perplexity_cli, bad_corpora_name_the_file) {
    tu_expect_bad("perplexity " LLAMA " /nonexistent/corpus.txt", "/nonexistent/corpus.txt");
    char *empty = tu_temp_file("", 0, ".txt");
    char *bad = tu_temp_file("In the beginning \xe2\x28\xa1 God", 22, ".txt");
    char *shortf = tu_temp_file("In the beginning God created the heaven.", 40, ".txt");
    char args[512];
    snprintf(args, sizeof args, "perplexity " LLAMA " " DIR "psalms.txt %s --threads 1", empty);
    tu_expect_bad(args, empty);
    snprintf(args, sizeof args, "perplexity " LLAMA " %s --threads 1", bad);
    tu_expect_bad(args, "invalid UTF-8 at byte 17");
    snprintf(args, sizeof args, "perplexity " LLAMA " %s --ctx 64 --threads 1", shortf);
    tu_expect_bad(args, shortf);
    snprintf(args, sizeof args, "perplexity " LLAMA " %s --ctx 64 --threads 1", shortf);
    tu_expect_bad(args, "too few for context 64");
    tu_expect_bad("perplexity " LLAMA " /tmp", "/tmp");
    /* long enough at 64 but not at 4096: the whole run is refused before any work */
    tu_expect_bad("perplexity " LLAMA " " DIR "mixed.txt --ctx 64,4096 --threads 1", DIR "mixed.txt");
    remove(empty);
    remove(bad);
    remove(shortf);
    free(empty);
    free(bad);
    free(shortf);
}

Test(perplexity_cli, bad_models) {
    tu_expect_bad("perplexity /nonexistent/m.sparsa " DIR "psalms.txt", "/nonexistent/m.sparsa");
    tu_expect_bad("perplexity " DIR "psalms.txt " DIR "psalms.txt", DIR "psalms.txt");
    tu_expect_bad("perplexity tests/fixtures/models/hf-llama-f32.sparsa " DIR "psalms.txt",
               "no tokenizer");
    tu_expect_bad("perplexity " SPARSE " " DIR "psalms.txt --ctx 512", "context length 256");
}

Test(perplexity_cli, bad_options) {
    const char *c = "perplexity " LLAMA " " DIR "psalms.txt ";
    const char *cases[][2] = {
        {"--ctx 0", "--ctx"}, {"--ctx abc", "--ctx"}, {"--ctx 64,", "--ctx"},
        {"--ctx", "--ctx"}, {"--ctx 1", "context 1"}, {"--score best", "--score"},
        {"--bos first", "--bos"}, {"--stride 0", "--stride"},
        {"--stride 8 --score second-half", "--stride"}, {"--ctx 64 --stride 65", "--stride"},
        {"--score second-half --ctx 2", "second-half"}, {"--max-tokens -5", "--max-tokens"},
        {"--threads x", "--threads"}, {"--frobnicate", "--frobnicate"},
        {"--max-bytes 0", "--max-bytes"}, {"--max-bytes 1k", "--max-bytes"},
    };
    char args[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, "%s%s", c, cases[i][0]);
        tu_expect_bad(args, cases[i][1]);
    }
    tu_expect_bad("perplexity " LLAMA, "CORPUS");
    tu_expect_bad("perplexity", "FILE");
}

Test(perplexity_cli, help) {
    char *out = NULL;
    cr_assert_eq(tu_run_sparsa("perplexity --help", &out, NULL), 0);
    cr_assert(strstr(out, "--score") && strstr(out, "--stride") && strstr(out, "--stats"));
    free(out);
}

Test(perplexity_cli, max_tokens_and_quiet_stderr) {
    char *out = NULL, *err = NULL;
    cr_assert_eq(tu_run_sparsa("perplexity " LLAMA " " DIR "psalms.txt --ctx 64 --max-tokens 650 "
                               "--threads 1 --json", &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "\"windows\": 10, \"tokens_scored\": 630,"), "%s", out);
    cr_assert_str_eq(err, "", "no progress line when stderr is not a terminal");
    free(out);
    free(err);
}

Test(perplexity_cli, table_lists_files_and_average) {
    char *out = NULL;
    cr_assert_eq(tu_run_sparsa("perplexity " LLAMA " " DIR "psalms.txt " DIR "mixed.txt --ctx 64 "
                               "--threads 1", &out, NULL), 0);
    cr_assert(strstr(out, "psalms.txt") && strstr(out, "mixed.txt") && strstr(out, "all 2 files"));
    cr_assert(strstr(out, "protocol: score=all bos=none"));
    free(out);
}

Test(perplexity_cli, stats_report_sparsity_per_head) {
    char *out = NULL;
    cr_assert_eq(tu_run_sparsa("perplexity " SPARSE " " DIR "mixed.txt --ctx 64 --threads 1 "
                               "--stats --json", &out, NULL), 0);
    /* 2 layers x 4 heads */
    int heads = 0;
    for (const char *p = out; (p = strstr(p, "\"mean_support\": ")); p++) heads++;
    cr_assert_eq(heads, 8, "%s", out);
    /* entmax-1.5 with ALiBi-style heads has exact zeros */
    cr_assert(strstr(out, "\"zero_fraction\": 0.9"), "%s", out);
    free(out);
    cr_assert_eq(tu_run_sparsa("perplexity " SPARSE " " DIR "mixed.txt --ctx 64 --threads 1 "
                               "--stats", &out, NULL), 0);
    cr_assert(strstr(out, "attention sparsity") && strstr(out, "layer 1"), "%s", out);
    free(out);
}
