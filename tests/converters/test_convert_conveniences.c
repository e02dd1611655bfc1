/* test_convert_conveniences.c — `sparsa convert` of a Hugging Face folder: its tokenizer.model
 * is embedded when no --tokenizer is given (one stderr line, none with --quiet), its
 * tokenizer_config.json's add_bos_token becomes the metadata tokenizer.add_bos that `generate`
 * follows (no BOS before the prompt when false), and --progress draws a progress line on stderr
 * when it is not a terminal (never by default there). */
#include <criterion/criterion.h>
#include <sys/stat.h>

#include "sparsa_format.h"
#include "tu_cli.h"
#include "tu_convert.h"

#define BPE "tests/fixtures/tokenizer/kjv_bpe.model"

static char tmpdir[256];

static void mk_tmp(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sparsa_convconv_XXXXXX");
    cr_assert(mkdtemp(tmpdir));
}

static void rm_tmp(void) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

/* A Llama folder whose vocabulary is the BPE tokenizer's 2000 pieces (or `vocab`), the
 * tokenizer copied in. */
static void make_folder_vocab(const char *add_bos_json, int vocab) {
    tu_llama m = {.vocab = vocab, .hidden = 16, .ffn = 32, .layers = 1, .heads = 2, .kv_heads = 1,
                  .seed = 11};
    cr_assert_eq(tu_make_llama(tmpdir, &m), 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp " BPE " '%s/tokenizer.model'", tmpdir);
    cr_assert_eq(system(cmd), 0);
    if (add_bos_json) {
        char path[400];
        snprintf(path, sizeof path, "%s/tokenizer_config.json", tmpdir);
        FILE *f = fopen(path, "w");
        cr_assert(f);
        fprintf(f, "{\"add_bos_token\": %s, \"add_eos_token\": false}\n", add_bos_json);
        cr_assert_eq(fclose(f), 0);
    }
}

static void make_folder(const char *add_bos_json) { make_folder_vocab(add_bos_json, 2000); }

/* 1/0: the file's tokenizer.add_bos; -1: absent. */
static int add_bos_of(const char *path) {
    sp_file *f = NULL;
    sp_error e = {0};
    cr_assert_eq(sp_file_open(path, &f, &e), 0, "%s", e.msg);
    const sp_meta *m = sp_file_meta_find(f, "tokenizer.add_bos");
    if (m) cr_assert_eq(m->type, SP_META_BOOL, "tokenizer.add_bos is a bool");
    int v = m ? (int)m->num.u : -1;
    size_t len = 0;
    cr_assert(sp_file_tokenizer(f, &len) && len > 0, "the folder's tokenizer is embedded");
    sp_file_close(f);
    return v;
}

Test(convert_conveniences, folder_tokenizer_is_embedded_and_said_once, .init = mk_tmp,
     .fini = rm_tmp) {
    make_folder(NULL);
    char args[900], *err = NULL;
    snprintf(args, sizeof args, "convert '%s' -o '%s/a.sparsa'", tmpdir, tmpdir);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 0, "%s", err);
    cr_assert_eq(tu_line_count(err), 1, "one line names the tokenizer: %s", err);
    cr_assert(strstr(err, "tokenizer.model"), "%s", err);
    free(err);
    snprintf(args, sizeof args, "%s/a.sparsa", tmpdir);
    cr_assert_eq(add_bos_of(args), -1, "nothing says whether BOS was used");
    /* the same embedded bytes as --tokenizer gives */
    size_t n = 0, len = 0;
    void *want = tu_read_file(BPE, &n);
    sp_file *f = NULL;
    sp_error e = {0};
    cr_assert_eq(sp_file_open(args, &f, &e), 0);
    const void *tok = sp_file_tokenizer(f, &len);
    cr_assert(tok && len == n && !memcmp(tok, want, n));
    sp_file_close(f);
    free(want);
    /* --quiet: nothing on stderr */
    snprintf(args, sizeof args, "convert '%s' -o '%s/b.sparsa' --quiet", tmpdir, tmpdir);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 0, "%s", err);
    cr_assert_str_eq(err, "");
    free(err);
}

Test(convert_conveniences, add_bos_token_recorded_and_followed_by_generate, .init = mk_tmp,
     .fini = rm_tmp) {
    const char *values[] = {"false", "true"};
    for (int k = 0; k < 2; k++) {
        make_folder(values[k]);
        char args[900], out[400], *o = NULL, *err = NULL;
        snprintf(out, sizeof out, "%s/m%d.sparsa", tmpdir, k);
        snprintf(args, sizeof args, "convert '%s' -o '%s' --quiet", tmpdir, out);
        cr_assert_eq(tu_run_sparsa(args, NULL, &err), 0, "%s", err);
        free(err);
        cr_assert_eq(add_bos_of(out), k, "tokenizer.add_bos is %s", values[k]);
        snprintf(args, sizeof args, "generate '%s' --prompt 'In the beginning' -n 1 --json", out);
        cr_assert_eq(tu_run_sparsa(args, &o, &err), 0, "%s", err);
        const char *want = k ? "\"bos_added\":true,\"prompt_tokens\":[1," :
                               "\"bos_added\":false,\"prompt_tokens\":[1043,";
        cr_assert(strstr(o, want), "add_bos %s: %s", values[k], o);
        free(o);
        free(err);
        /* --no-bos wins over the metadata */
        snprintf(args, sizeof args, "generate '%s' --prompt 'In the beginning' -n 1 --json "
                 "--no-bos", out);
        cr_assert_eq(tu_run_sparsa(args, &o, &err), 0, "%s", err);
        cr_assert(strstr(o, "\"bos_added\":false"), "%s", o);
        free(o);
        free(err);
    }
}

Test(convert_conveniences, progress_only_when_asked_off_a_terminal, .init = mk_tmp,
     .fini = rm_tmp) {
    make_folder(NULL);
    char args[900], *err = NULL;
    snprintf(args, sizeof args, "convert '%s' -o '%s/p.sparsa' --tokenizer " BPE " --progress",
             tmpdir, tmpdir);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 0, "%s", err);
    cr_assert(strstr(err, "convert: tensor 1/"), "a progress line: %s", err);
    free(err);
    snprintf(args, sizeof args, "convert '%s' -o '%s/q.sparsa' --tokenizer " BPE, tmpdir, tmpdir);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 0, "%s", err);
    cr_assert_str_eq(err, "", "no progress and no note when stderr is a file");
    free(err);
    snprintf(args, sizeof args, "convert '%s' -o '%s/r.sparsa' --progress --quiet", tmpdir, tmpdir);
    tu_expect_bad(args, "--progress or --quiet");
}

Test(convert_conveniences, folder_tokenizer_that_does_not_fit_is_left_out, .init = mk_tmp,
     .fini = rm_tmp) {
    make_folder_vocab(NULL, 2048); /* a vocabulary padded past the tokenizer's 2000 pieces */
    char args[900], *err = NULL;
    snprintf(args, sizeof args, "convert '%s' -o '%s/pad.sparsa'", tmpdir, tmpdir);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 0, "converted without it: %s", err);
    cr_assert_eq(tu_line_count(err), 2, "found, then not embedded: %s", err);
    cr_assert(strstr(err, "not embedded") && strstr(err, "2000 pieces"), "%s", err);
    free(err);
    snprintf(args, sizeof args, "%s/pad.sparsa", tmpdir);
    sp_file *f = NULL;
    sp_error e = {0};
    cr_assert_eq(sp_file_open(args, &f, &e), 0);
    size_t len = 0;
    cr_assert_null(sp_file_tokenizer(f, &len));
    sp_file_close(f);
    /* asked for with --tokenizer, the same file is refused as before */
    snprintf(args, sizeof args, "convert '%s' -o '%s/pad2.sparsa' --tokenizer '%s/tokenizer.model'",
             tmpdir, tmpdir, tmpdir);
    tu_expect_bad(args, "2000 pieces");
}
