/* test_eval_jobs.c — eval/'s whole runs through the library: perplexity planned, run and
 * reported (the report equals the command's output), generation, and the checks planning makes
 * before any window runs (same corpus twice, special files, task files with blank lines). */
#include <criterion/criterion.h>
#include <sys/stat.h>

#include "sparsa_eval.h"
#include "tu_eval.h"

#define DIR "tests/fixtures/perplexity/"
#define LLAMA DIR "ppl-llama.sparsa"

/* The JSON report of a run, as a string. */
static char *report_of(sp_ppl_run *run, int json) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert(f);
    sp_ppl_report(run, f, json);
    fclose(f);
    return buf;
}

Test(eval_jobs, perplexity_run_equals_the_command) {
    const char *corpora[] = {DIR "psalms.txt", DIR "mixed.txt"};
    const size_t ctx[] = {64, 32};
    sp_ppl_job job = {.model_path = LLAMA, .corpora = corpora, .n_corpora = 2, .ctx = ctx,
                      .n_ctx = 2, .max_tokens = 500, .threads = 1,
                      .version = "0.1.0"};
    sp_ppl_run *run = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_ppl_prepare(&job, &run, &err), 0, "%s", err.msg);
    cr_assert_eq(sp_ppl_execute(run, &err), 0, "%s", err.msg);
    char *lib = report_of(run, 1);
    sp_ppl_run_free(run);
    char *cmd = NULL;
    cr_assert_eq(tu_run_sparsa("perplexity " LLAMA " " DIR "psalms.txt " DIR "mixed.txt "
                               "--ctx 64,32 --max-tokens 500 --threads 1 --json", &cmd, NULL), 0);
    cr_assert_str_eq(lib, cmd);
    cr_assert(strstr(lib, "\"ctx\": 32") && strstr(lib, "\"files\": 2"), "%s", lib);
    free(lib);
    free(cmd);
}

Test(eval_jobs, perplexity_planning_refuses_before_running) {
    const char *twice[] = {DIR "psalms.txt", DIR "mixed.txt", "./" DIR "psalms.txt"};
    sp_ppl_job job = {.model_path = LLAMA, .corpora = twice, .n_corpora = 3};
    sp_ppl_run *run = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_ppl_prepare(&job, &run, &err), SP_ERR_INPUT);
    cr_assert_null(run);
    cr_assert(strstr(err.msg, "same file"), "%s", err.msg);

    const char *dev[] = {"/dev/zero"};
    job = (sp_ppl_job){.model_path = LLAMA, .corpora = dev, .n_corpora = 1};
    cr_assert_eq(sp_ppl_prepare(&job, &run, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "/dev/zero"), "%s", err.msg);

    const char *ok[] = {DIR "psalms.txt"};
    const size_t too_long[] = {512};
    job = (sp_ppl_job){.model_path = DIR "ppl-asentmax.sparsa", .corpora = ok, .n_corpora = 1, .ctx = too_long,
                       .n_ctx = 1};
    cr_assert_eq(sp_ppl_prepare(&job, &run, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "context length 256"), "%s", err.msg);
}

Test(eval_jobs, generation_is_seeded_and_decodes) {
    sp_gen_job job = {.model_path = LLAMA, .prompt = "In the beginning", .max_new = 12,
                      .temperature = 0.7f, .top_p = 0.9f, .seed = 5, .threads = 1};
    char *texts[2];
    for (int k = 0; k < 2; k++) {
        sp_gen_run *run = NULL;
        sp_error err = {0};
        size_t len = 0;
        cr_assert_eq(sp_gen_prepare(&job, &run, &err), 0, "%s", err.msg);
        cr_assert_eq(sp_gen_execute(run, NULL, NULL, &err), 0, "%s", err.msg);
        cr_assert_eq(sp_gen_text(run, &texts[k], &len, &err), 0, "%s", err.msg);
        cr_assert(!strncmp(texts[k], "In the beginning", 16), "%s", texts[k]);
        cr_assert_gt(len, 16, "nothing generated: %s", texts[k]);
        sp_gen_run_free(run);
    }
    cr_assert_str_eq(texts[0], texts[1], "the same seed gave different text");
    /* and the command, given the same job, prints that text */
    char *cli = NULL;
    cr_assert_eq(tu_run_sparsa("generate " LLAMA " --prompt 'In the beginning' -n 12 --temp 0.7 "
                               "--top-p 0.9 --seed 5 --threads 1", &cli, NULL), 0);
    size_t n_cli = strlen(cli);
    cr_assert(n_cli > 0 && cli[n_cli - 1] == '\n', "%s", cli);
    cli[n_cli - 1] = 0;
    cr_assert_str_eq(cli, texts[0]);
    free(cli);
    free(texts[0]);
    free(texts[1]);

    const int32_t bad[] = {1, 1 << 30};
    sp_gen_job ids = {.model_path = LLAMA, .ids = bad, .n_ids = 2, .max_new = 2, .top_p = 1};
    sp_gen_run *run = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_gen_prepare(&ids, &run, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "outside the model's vocabulary"), "%s", err.msg);
}

Test(eval_jobs, task_files_are_checked_line_by_line) {
#define CASE(text, want) {text, sizeof text - 1, want}
    const struct { const char *text; size_t len; const char *want; } cases[] = {
        CASE("1 2 3\n\n4 5\n", ":2: blank line"),
        CASE("1 2 3\n   \n", ":2: blank line"),
        CASE("1 2\n3 \0 4\n", ":2: not a list"),
        CASE("1 2 x\n", ":1: not a list"),
        CASE("", "no samples"),
    };
#undef CASE
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = tu_temp_file(cases[i].text, cases[i].len, ".src");
        sp_task_set set;
        sp_error err = {0};
        cr_assert_eq(sp_task_set_read(path, path, 40, 0, &set, &err), SP_ERR_INPUT, "case %zu", i);
        cr_assert(strstr(err.msg, cases[i].want) && strstr(err.msg, path), "case %zu: %s", i,
                  err.msg);
        remove(path);
        free(path);
    }
    char fifo[] = "/tmp/sparsa_task_fifoXXXXXX";
    cr_assert(mkdtemp(fifo));
    char p[64];
    snprintf(p, sizeof p, "%s/f", fifo);
    cr_assert_eq(mkfifo(p, 0600), 0);
    sp_task_set set;
    sp_error err = {0};
    cr_assert_eq(sp_task_set_read(p, p, 40, 0, &set, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "FIFO"), "%s", err.msg);
    remove(p);
    rmdir(fifo);
}
