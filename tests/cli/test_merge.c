/* test_merge.c — `perplexity --shard K/N -o PART` and `sparsa merge`: the parts of N = 1, 2
 * and 5 merge into the report of one run, byte for byte (timing keys aside), table and JSON,
 * under each protocol; merge refuses a missing part, a part given twice, and parts of another
 * model, corpus or settings, with one line and exit 2; shard's usage errors. */
#include <criterion/criterion.h>
#include <dirent.h>

#include "../dist/tu_dist.h"
#include "tu_cli.h"

static char dir[64];

static void make_dir(void) { tu_dist_make_dir(dir, sizeof dir, "/tmp/sparsa_merge_XXXXXX"); }

static void write_parts(const char *args, int n, const char *tag) {
    tu_dist_write_parts(dir, "perplexity", args, n, tag);
}

static void expect_parts_merge(const char *args) {
    make_dir();
    for (int json = 0; json <= 1; json++) {
        char line[2048], *ref = NULL, *err = NULL;
        snprintf(line, sizeof line, "%s perplexity %s%s", tu_sparsa_bin(), args,
                 json ? " --json" : "");
        cr_assert_eq(tu_dist_run(line, &ref, &err), 0, "single run: %s", err);
        free(err);
        static const int ns[] = {1, 2, 5};
        for (int i = 0; i < 3; i++) {
            char tag[16], glob[32], *out = NULL, what[64];
            snprintf(tag, sizeof tag, "n%d", ns[i]);
            write_parts(args, ns[i], tag);
            snprintf(glob, sizeof glob, "%s-*.json", tag);
            int rc = tu_dist_merge(dir, glob, json ? "--json" : "", &out, &err);
            cr_assert_eq(rc, 0, "merge of %d parts exited %d: %s", ns[i], rc, err);
            snprintf(what, sizeof what, "merge of %d parts", ns[i]);
            tu_dist_expect_same(out, ref, what);
            free(out);
            free(err);
        }
        free(ref);
    }
    /* no temporaries left beside the parts */
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)))
        cr_assert(!strstr(e->d_name, ".tmp"), "temporary left: %s", e->d_name);
    closedir(d);
    tu_dist_remove_dir(dir);
}

#define FILES TU_PPL_CORPORA

Test(merge, all_two_files_two_contexts) {
    expect_parts_merge(TU_PPL_MODEL " " FILES "--ctx 32,64 --max-tokens 700");
}

Test(merge, second_half) {
    expect_parts_merge(TU_PPL_MODEL " " FILES "--ctx 40 --score second-half --max-tokens 500");
}

Test(merge, stride_prepend_sparse) {
    expect_parts_merge(TU_PPL_SPARSE " " FILES "--ctx 48 --stride 16 --bos prepend "
                       "--max-tokens 400");
}

static void expect_merge_refused(const char *parts, const char *needle) {
    char *out = NULL, *err = NULL;
    int rc = tu_dist_merge(dir, parts, "--json", &out, &err);
    cr_assert_eq(rc, 2, "merge %s exited %d: %s", parts, rc, err);
    cr_assert_str_eq(out, "", "merge %s printed a report", parts);
    cr_assert_eq(tu_line_count(err), 1, "one line: %s", err);
    cr_assert(strstr(err, needle), "merge %s: stderr lacks '%s': %s", parts, needle, err);
    free(out);
    free(err);
}

Test(merge, refuses_parts_that_do_not_make_one_run) {
    make_dir();
    const char *args = TU_PPL_MODEL " " FILES "--ctx 32 --max-tokens 300";
    write_parts(args, 3, "a");
    write_parts(TU_PPL_SPARSE " " FILES "--ctx 32 --max-tokens 300", 3, "other-model");
    write_parts(TU_PPL_MODEL " " FILES "--ctx 32 --max-tokens 300 --bos replace", 3, "other-bos");
    write_parts(TU_PPL_MODEL " " TU_PPL_DIR "psalms.txt --ctx 32 --max-tokens 300", 3, "one-file");
    write_parts(args, 2, "halves");
    expect_merge_refused("a-0.json a-2.json", "part 1/3 is missing");
    expect_merge_refused("a-0.json a-1.json a-1.json a-2.json", "part 1/3 given twice");
    expect_merge_refused("a-0.json other-model-1.json a-2.json", "another model");
    expect_merge_refused("a-0.json other-bos-1.json a-2.json", "other settings");
    expect_merge_refused("a-0.json one-file-1.json a-2.json", "other corpora");
    expect_merge_refused("a-0.json halves-1.json a-2.json", "another number of parts");
    expect_merge_refused("a-0.json no-such.json", "no-such.json");
    tu_dist_remove_dir(dir);
}

Test(merge, help_fits_100_columns) {
    char *out = NULL;
    cr_assert_eq(tu_run_sparsa("merge --help", &out, NULL), 0);
    size_t col = 0, widest = 0;
    for (const char *c = out; *c; c++) {
        col = *c == '\n' ? 0 : col + ((*c & 0xc0) != 0x80);
        if (col > widest) widest = col;
    }
    cr_assert_leq(widest, 100, "a help line of %zu columns:\n%s", widest, out);
    cr_assert(strstr(out, "--json"), "%s", out);
    free(out);
}

Test(merge, usage_errors) {
    tu_expect_bad("perplexity " TU_PPL_MODEL " " TU_PPL_DIR "mixed.txt --shard 1/2", "-o PART");
    tu_expect_bad("perplexity " TU_PPL_MODEL " " TU_PPL_DIR "mixed.txt --shard 2/2 -o x.json",
                  "--shard");
    tu_expect_bad("perplexity " TU_PPL_MODEL " " TU_PPL_DIR "mixed.txt --shard 1 -o x.json",
                  "--shard");
    tu_expect_bad("perplexity " TU_PPL_MODEL " " TU_PPL_DIR "mixed.txt -o x.json", "--shard");
    tu_expect_bad("perplexity " TU_PPL_MODEL " - --shard 0/2 -o /tmp/x.json < "
                  TU_PPL_DIR "mixed.txt", "standard input");
    tu_expect_bad("perplexity " TU_PPL_MODEL " " TU_PPL_DIR "mixed.txt --ctx 32 --stats "
                  "--shard 0/2 -o /tmp/sparsa_merge_stats.json", "--stats");
    tu_expect_bad("perplexity " TU_PPL_MODEL " " TU_PPL_DIR "mixed.txt --ctx 32 --shard 0/2 -o "
                  TU_PPL_DIR "mixed.txt", "mixed.txt");
    tu_expect_bad("perplexity " TU_PPL_MODEL " " TU_PPL_DIR "mixed.txt --ctx 32 --shard 0/2 -o "
                  "/nonexistent-folder/p.json", "nonexistent-folder");
    tu_expect_bad("merge", "PART");
    tu_expect_bad("merge " TU_PPL_DIR "mixed.txt", "mixed.txt");
}

Test(merge, models_buckets_rolling) {
    expect_parts_merge(TU_PPL_MODEL " --model " TU_PPL_SPARSE " " TU_PPL_DIR "mixed.txt --ctx 32 "
                       "--score rolling --docs lines --by-position 8");
}
