/* test_token_cache.c — the token cache (docs/PROTOCOLS.md, "The token cache"): cached ids equal
 * fresh ones, a second run reads the entry (a forged but well-formed entry is what it returns;
 * the entry is not rewritten), a damaged, truncated or foreign entry is one warning and is
 * rebuilt, --no-token-cache writes nothing, the default folder follows XDG_CACHE_HOME and HOME,
 * a cache that cannot be written is a warning, perplexity's JSON is the same bytes cold, warm
 * and without the cache, and two runs writing the same entry at once both succeed. Every test
 * uses a scratch folder, never the user's cache. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <sys/stat.h>

#include "sparsa_eval.h"
#include "sparsa_tokenizer.h"
#include "tu_cli.h"
#include "tu_eval.h"

#define MODEL "tests/fixtures/perplexity/ppl-llama.sparsa"
#define CORPUS "tests/fixtures/perplexity/psalms.txt"
#define BPE "tests/fixtures/tokenizer/kjv_bpe.model"
#define TEXT "examples/data/sotu_2001_2021.txt"
#define PPL "perplexity " MODEL " " CORPUS " --ctx 32 --json"

TestSuite(token_cache, .init = tu_scratch_make, .fini = tu_scratch_remove);

/* The one entry (*.tok) in dir, its path in out; fails when there is not exactly one or a
 * temporary is left. */
static void the_entry(const char *dir, char *out, size_t cap) {
    sp_token_cache_settle(); /* entries are written beside the caller */
    DIR *d = opendir(dir);
    cr_assert(d, "no cache folder %s", dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' && strstr(e->d_name, ".tmp-"))
            cr_assert_fail("a temporary was left: %s", e->d_name);
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".tok")) {
            snprintf(out, cap, "%s/%s", dir, e->d_name);
            n++;
        }
    }
    closedir(d);
    cr_assert_eq(n, 1, "%d entries in %s", n, dir);
}

static int entries(const char *dir) {
    char names[4096];
    return tu_list_dir(dir, names, sizeof names);
}

/* The example BPE tokenizer and the test text (*len bytes). */
static sp_tokenizer *bpe_and_text(char **text, size_t *len) {
    sp_error err = {0};
    sp_tokenizer *t = NULL;
    cr_assert_eq(sp_tokenizer_load_file(BPE, &t, &err), 0, "%s", err.msg);
    *text = tu_read_file(TEXT, len);
    cr_assert(*text);
    return t;
}

static sp_corpus_tokens tokenize(const sp_tokenizer *t, const char *text, size_t len, int lines,
                                 const sp_token_cache_opts *o) {
    sp_corpus_tokens r;
    sp_error err = {0};
    cr_assert_eq(sp_corpus_tokenize(t, "text", text, len, lines, 2, o, &r, &err), 0, "%s",
                 err.msg);
    return r;
}

static void expect_equal(const sp_corpus_tokens *a, const sp_corpus_tokens *b) {
    cr_assert_eq(a->n, b->n, "%zu ids against %zu", a->n, b->n);
    cr_assert(a->n == 0 || !memcmp(a->ids, b->ids, a->n * sizeof *a->ids), "ids differ");
    cr_assert_eq(a->n_docs, b->n_docs);
    for (size_t i = 0; i < a->n_docs; i++)
        cr_assert(!memcmp(&a->docs[i], &b->docs[i], sizeof a->docs[i]), "document %zu", i);
}

Test(token_cache, cached_ids_equal_fresh_ids_and_are_read_back) {
    size_t len = 0;
    char *text = NULL;
    sp_tokenizer *t = bpe_and_text(&text, &len);
    for (int lines = 0; lines < 2; lines++) {
        char dir[400], entry[600];
        snprintf(dir, sizeof dir, "%s", tu_scratch_path(lines ? "lines" : "whole"));
        sp_token_cache_opts off = {.disabled = 1}, on = {.dir = dir};
        sp_corpus_tokens fresh = tokenize(t, text, len, lines, &off);
        sp_corpus_tokens cold = tokenize(t, text, len, lines, &on);
        the_entry(dir, entry, sizeof entry);
        struct stat st1, st2;
        cr_assert_eq(stat(entry, &st1), 0);
        cr_assert_eq(stat(dir, &st2), 0);
        cr_assert_eq(st2.st_mode & 0777, 0700, "the cache folder is %o", st2.st_mode & 0777);
        sp_corpus_tokens warm = tokenize(t, text, len, lines, &on);
        cr_assert_eq(stat(entry, &st2), 0);
        cr_assert(st1.st_ino == st2.st_ino && st1.st_mtim.tv_sec == st2.st_mtim.tv_sec &&
                  st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec, "a warm run rewrote the entry");
        expect_equal(&cold, &fresh);
        expect_equal(&warm, &fresh);
        cr_assert_gt(fresh.n, 1000u);
        size_t full_lines = 0; /* lines holding text: each gives tokens here */
        for (size_t i = 0; i < len; i++)
            full_lines += text[i] != '\n' && (i + 1 == len || text[i + 1] == '\n');
        cr_assert_eq(fresh.n_docs, lines ? full_lines : 0, "%zu documents", fresh.n_docs);
        sp_corpus_tokens_free(&fresh);
        sp_corpus_tokens_free(&cold);
        sp_corpus_tokens_free(&warm);
    }
    free(text);
    sp_tokenizer_free(t);
}

/* An entry with one id changed and its checksum made right again is what a run returns: the
 * ids come from the cache, not from the tokenizer. */
/* The entry is written from a copy of the ids, beside the caller: the caller may free (and
 * its allocator reuse) them at once, and the entry still holds the ids that were tokenized. */
Test(token_cache, the_entry_is_written_from_a_copy) {
    size_t len = 0;
    char *text = NULL;
    sp_tokenizer *t = bpe_and_text(&text, &len);
    sp_token_cache_opts off = {.disabled = 1}, on = {.dir = tu_scratch_path("copy")};
    sp_corpus_tokens fresh = tokenize(t, text, len, 0, &off);
    sp_corpus_tokens cold = tokenize(t, text, len, 0, &on);
    memset(cold.ids, 0xA5, cold.n * sizeof *cold.ids);
    sp_corpus_tokens_free(&cold);
    char entry[600];
    the_entry(on.dir, entry, sizeof entry);
    sp_corpus_tokens warm = tokenize(t, text, len, 0, &on);
    expect_equal(&warm, &fresh);
    sp_corpus_tokens_free(&fresh);
    sp_corpus_tokens_free(&warm);
    free(text);
    sp_tokenizer_free(t);
}

Test(token_cache, a_warm_run_returns_the_entry) {
    size_t len = 0, size = 0;
    char *text = NULL, entry[600];
    sp_tokenizer *t = bpe_and_text(&text, &len);
    sp_token_cache_opts on = {.dir = tu_scratch_path("forged")};
    sp_corpus_tokens cold = tokenize(t, text, len, 0, &on);
    the_entry(on.dir, entry, sizeof entry);
    uint8_t *b = tu_read_file(entry, &size);
    cr_assert(b && size == 72 + cold.n * 4 + 32, "entry of %zu bytes", size);
    int32_t forged = cold.ids[5] == 7 ? 8 : 7;
    memcpy(b + 72 + 5 * 4, &forged, 4);
    sp_sha256 h;
    sp_sha256_init(&h);
    sp_sha256_update(&h, b, size - 32);
    sp_sha256_final(&h, b + size - 32);
    FILE *f = fopen(entry, "wb");
    cr_assert(f && fwrite(b, 1, size, f) == size && !fclose(f));
    sp_corpus_tokens warm = tokenize(t, text, len, 0, &on);
    cr_assert_eq(warm.n, cold.n);
    cr_assert_eq(warm.ids[5], forged, "the run did not read the entry");
    cr_assert(!memcmp(warm.ids + 6, cold.ids + 6, (cold.n - 6) * sizeof *cold.ids));
    sp_corpus_tokens_free(&cold);
    sp_corpus_tokens_free(&warm);
    free(b);
    free(text);
    sp_tokenizer_free(t);
}

/* Runs perplexity with extra arguments; its stdout (malloc'd) and stderr (malloc'd). */
static char *ppl(const char *extra, char **err) {
    char args[1200], *out = NULL;
    snprintf(args, sizeof args, PPL " %s", extra);
    int rc = tu_run_sparsa(args, &out, err);
    cr_assert_eq(rc, 0, "'%s' exited %d: %s", args, rc, *err);
    return out;
}

static void expect_ppl(const char *extra, const char *want, const char *stderr_has) {
    char *err = NULL, *out = ppl(extra, &err);
    cr_assert_str_eq(out, want, "'%s' changed the JSON", extra);
    if (stderr_has) {
        cr_assert(strstr(err, stderr_has), "'%s': stderr lacks '%s': %s", extra, stderr_has, err);
        cr_assert_eq(tu_line_count(err), 1, "one warning line: %s", err);
    } else {
        cr_assert_str_eq(err, "", "'%s': %s", extra, err);
    }
    free(out);
    free(err);
}

Test(token_cache, json_is_the_same_cold_warm_and_uncached) {
    char opt[600], *err = NULL;
    snprintf(opt, sizeof opt, "--token-cache '%s'", tu_scratch_path("c"));
    for (int rolling = 0; rolling < 2; rolling++) {
        const char *mode = rolling ? " --score rolling --docs lines" : "";
        char no[200], cold[800];
        snprintf(no, sizeof no, "--no-token-cache%s", mode);
        snprintf(cold, sizeof cold, "%s%s", opt, mode);
        char *want = ppl(no, &err);
        free(err);
        cr_assert(strstr(want, "\"ppl\""), "%s", want);
        expect_ppl(cold, want, NULL); /* cold */
        expect_ppl(cold, want, NULL); /* warm */
        free(want);
    }
    /* --progress tells where the ids came from */
    char line[900], *out;
    snprintf(line, sizeof line, "%s --progress", opt);
    out = ppl(line, &err);
    cr_assert(strstr(err, "tokens from the token cache"), "%s", err);
    free(out);
    free(err);
}

/* The bytes of a file, and whether they equal want. */
static int same_file(const char *path, const void *want, size_t len) {
    size_t n = 0;
    void *b = tu_read_file(path, &n);
    int same = b && n == len && !memcmp(b, want, len);
    free(b);
    return same;
}

Test(token_cache, a_damaged_entry_is_one_warning_and_rebuilt) {
    char dir[400], opt[600], entry[600], other[700], *err = NULL;
    snprintf(dir, sizeof dir, "%s", tu_scratch_path("d"));
    snprintf(opt, sizeof opt, "--token-cache '%s'", dir);
    char *want = ppl(opt, &err);
    free(err);
    the_entry(dir, entry, sizeof entry);
    size_t size = 0;
    uint8_t *good = tu_read_file(entry, &size);
    cr_assert(good && size > 120);
    /* a flipped id byte, a cut entry, an empty one, another corpus's entry under this name */
    snprintf(other, sizeof other, "%s/other", tu_scratch_dir());
    char make_other[4000];
    snprintf(make_other, sizeof make_other, "%s perplexity " MODEL " " TEXT " --ctx 32 "
             "--max-tokens 100 --token-cache '%s' >/dev/null && cp %s/*.tok '%s'",
             tu_sparsa_bin(), other, other, entry);
    for (int kind = 0; kind < 4; kind++) {
        FILE *f = fopen(entry, "wb");
        cr_assert(f);
        if (kind == 0) {
            good[size - 40] ^= 0x20;
            fwrite(good, 1, size, f);
            good[size - 40] ^= 0x20;
        } else if (kind == 1) {
            fwrite(good, 1, size / 2, f);
        }
        fclose(f);
        if (kind == 3) cr_assert_eq(system(make_other), 0, "%s", make_other);
        static const char *const why[] = {"checksum mismatch", "truncated", "not an entry",
                                          "another"};
        expect_ppl(opt, want, why[kind]);
        cr_assert(same_file(entry, good, size), "case %d: the entry was not rebuilt", kind);
        expect_ppl(opt, want, NULL);
    }
    free(good);
    free(want);
}

Test(token_cache, default_folders_and_no_token_cache) {
    char xdg[400], home[400], path[600], entry[700], *err = NULL;
    snprintf(xdg, sizeof xdg, "%s", tu_scratch_path("xdg"));
    snprintf(home, sizeof home, "%s", tu_scratch_path("home"));
    cr_assert(!mkdir(xdg, 0755) && !mkdir(home, 0755));
    setenv("XDG_CACHE_HOME", xdg, 1);
    setenv("HOME", home, 1);
    char *want = ppl("--no-token-cache", &err);
    free(err);
    cr_assert_eq(entries(xdg) + entries(home), 0, "--no-token-cache wrote something");
    expect_ppl("", want, NULL);
    snprintf(path, sizeof path, "%s/sparsa/tokens", xdg);
    the_entry(path, entry, sizeof entry);
    cr_assert_eq(entries(home), 0);
    struct stat st;
    snprintf(path, sizeof path, "%s/sparsa", xdg);
    cr_assert(!stat(path, &st) && (st.st_mode & 0777) == 0700, "%s is %o", path, st.st_mode);
    setenv("XDG_CACHE_HOME", "relative/ignored", 1);
    expect_ppl("", want, NULL);
    snprintf(path, sizeof path, "%s/.cache/sparsa/tokens", home);
    the_entry(path, entry, sizeof entry);
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    expect_ppl("", want, NULL); /* no cache at all, and nothing said */
    free(want);
}

Test(token_cache, an_unwritable_cache_is_a_warning) {
    char *err = NULL, opt[700], file[400];
    char *want = ppl("--no-token-cache", &err);
    free(err);
    snprintf(file, sizeof file, "%s", tu_scratch_path("a_file"));
    FILE *f = fopen(file, "w");
    cr_assert(f && !fclose(f));
    snprintf(opt, sizeof opt, "--token-cache '%s/below'", file);
    expect_ppl(opt, want, "warning: cannot create the token cache folder");
    if (geteuid() != 0) { /* root writes into a read-only folder anyway */
        char ro[400];
        snprintf(ro, sizeof ro, "%s", tu_scratch_path("ro"));
        cr_assert(!mkdir(ro, 0500));
        snprintf(opt, sizeof opt, "--token-cache '%s'", ro);
        expect_ppl(opt, want, "warning: the token cache could not be written");
        cr_assert_eq(entries(ro), 0);
    }
    free(want);
}

Test(token_cache, two_runs_writing_one_entry_at_once) {
    char dir[400], line[3000], entry[600], *err = NULL;
    snprintf(dir, sizeof dir, "%s", tu_scratch_path("race"));
    char *want = ppl("--no-token-cache", &err);
    free(err);
    char outs[2][500];
    for (int i = 0; i < 2; i++)
        snprintf(outs[i], sizeof outs[i], "%s", tu_scratch_path(i ? "o2" : "o1"));
    snprintf(line, sizeof line, "%s " PPL " --token-cache '%s' >'%s' & a=$!; %s " PPL
             " --token-cache '%s' >'%s' & b=$!; wait $a && wait $b", tu_sparsa_bin(), dir,
             outs[0], tu_sparsa_bin(), dir, outs[1]);
    cr_assert_eq(system(line), 0, "%s", line);
    the_entry(dir, entry, sizeof entry);
    for (int i = 0; i < 2; i++) {
        char *got = tu_read_text(outs[i]);
        cr_assert(got);
        cr_assert_str_eq(got, want);
        free(got);
    }
    free(want);
}

Test(token_cache, both_flags_are_refused) {
    tu_expect_bad(PPL " --token-cache /tmp --no-token-cache", "--no-token-cache");
    tu_expect_bad("kld " MODEL " " MODEL " " CORPUS " --token-cache /tmp --no-token-cache",
                  "--no-token-cache");
}
