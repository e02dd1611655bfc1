/* test_convert_hostile.c — `sparsa convert` used as a careless or hostile user would: outputs
 * that are inputs (by name, hard link, shard of a folder, config), symlinks, FIFOs, devices and
 * folders; inputs that are FIFOs, devices or folders (refused at once, never blocked on) or
 * standard input; checkpoints holding NaN/Inf (or values a chosen dtype cannot hold); a
 * tokenizer that does not fit the model's vocabulary; a YAML config with a key given twice.
 * Every refusal is exit 2 with one line, and leaves the inputs unchanged and nothing behind. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "sparsa_convert.h"
#include "tu_cli.h"
#include "tu_convert.h"
#include "tu.h"

static char tmpdir[256], src[300], outdir[300];

/* A small generated Llama folder at <tmp>/src and an empty <tmp>/out. */
static void setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sparsa_conv_hostile_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(src, sizeof src, "%s/src", tmpdir);
    snprintf(outdir, sizeof outdir, "%s/out", tmpdir);
    cr_assert_eq(mkdir(src, 0755), 0);
    cr_assert_eq(mkdir(outdir, 0755), 0);
    tu_llama m = {.vocab = 64, .hidden = 16, .ffn = 32, .layers = 1, .heads = 2, .kv_heads = 1, .seed = 3};
    cr_assert_eq(tu_make_llama(src, &m), 0);
}

/* Plain C, not rm: two levels of folders. */
static void rm_tree(const char *dir, int depth) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[700];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (depth < 2 && lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rm_tree(p, depth + 1);
        else unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

static void teardown(void) { rm_tree(tmpdir, 0); }

TestSuite(convert_hostile, .init = setup, .fini = teardown);

static uint8_t *snapshot(const char *path, size_t *n) {
    uint8_t *b = tu_read_file(path, n);
    cr_assert_not_null(b, "%s", path);
    return b;
}

static void expect_same_bytes(const char *path, const uint8_t *before, size_t n) {
    size_t m = 0;
    uint8_t *now = tu_read_file(path, &m);
    cr_assert(now && m == n && !memcmp(now, before, n), "%s was modified", path);
    free(now);
}

/* ---- outputs ---------------------------------------------------------------------------- */

/* `convert <src> -o <out> --force` is refused naming `needle`; both input files unchanged and no
 * temporary left in the output's folder or in the source folder. */
static void expect_output_refused(const char *srcarg, const char *out, const char *needle) {
    char st[400], cf[400], args[1200], names[2000];
    snprintf(st, sizeof st, "%s/model.safetensors", src);
    snprintf(cf, sizeof cf, "%s/config.json", src);
    size_t ns, nc;
    uint8_t *bs = snapshot(st, &ns), *bc = snapshot(cf, &nc);
    snprintf(args, sizeof args, "convert %s -o %s --force", srcarg, out);
    tu_expect_bad(args, needle);
    expect_same_bytes(st, bs, ns);
    expect_same_bytes(cf, bc, nc);
    free(bs);
    free(bc);
    cr_assert_eq(tu_list_dir(src, names, sizeof names), 2, "source folder holds: %s", names);
}

Test(convert_hostile, an_output_that_is_an_input_is_refused_even_with_force) {
    char st[400], cf[400], hard[400], names[2000];
    snprintf(st, sizeof st, "%s/model.safetensors", src);
    snprintf(cf, sizeof cf, "%s/config.json", src);
    expect_output_refused(st, st, "is an input");          /* SRC itself */
    expect_output_refused(src, st, "is an input");         /* a shard of the SRC folder */
    expect_output_refused(st, cf, "is an input");          /* the config found beside SRC */
    expect_output_refused(src, cf, "is an input");
    snprintf(hard, sizeof hard, "%s/hard.sparsa", outdir); /* another name of SRC */
    cr_assert_eq(link(st, hard), 0);
    expect_output_refused(st, hard, "is an input");
    char other[400], args[2000];
    snprintf(other, sizeof other, "%s/other.json", outdir); /* --config named by the user */
    snprintf(args, sizeof args, "cp %s %s", cf, other);
    cr_assert_eq(system(args), 0);
    snprintf(args, sizeof args, "convert %s --config %s -o %s --force", st, other, other);
    tu_expect_bad(args, "is an input");
    cr_assert_eq(tu_list_dir(outdir, names, sizeof names), 2, "out holds: %s", names);
}

/* A sharded folder: its index file and every shard are inputs too. */
Test(convert_hostile, the_index_and_shards_of_a_sharded_folder_are_inputs) {
    char dir[400], p[500], args[1400];
    snprintf(dir, sizeof dir, "%s/sharded", tmpdir);
    snprintf(args, sizeof args, "cp -r tests/fixtures/checkpoints/device/hf-llama-sharded %s", dir);
    cr_assert_eq(system(args), 0);
    static const char *files[] = {"model.safetensors.index.json", "model-00002-of-00003.safetensors", "config.json"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        size_t n;
        uint8_t *before = snapshot(p, &n);
        snprintf(args, sizeof args, "convert %s -o %s --force", dir, p);
        tu_expect_bad(args, "is an input");
        expect_same_bytes(p, before, n);
        free(before);
    }
    rm_tree(dir, 1);
}

Test(convert_hostile, links_fifos_devices_and_folders_are_never_written) {
    char p[400], target[400], names[2000];
    struct stat st;
    /* a symlink, dangling or not: neither written through nor replaced */
    snprintf(p, sizeof p, "%s/link.sparsa", outdir);
    snprintf(target, sizeof target, "%s/target.sparsa", outdir);
    cr_assert_eq(symlink(target, p), 0);
    expect_output_refused(src, p, "symlink");
    cr_assert(lstat(target, &st) != 0, "written through the symlink");
    cr_assert(lstat(p, &st) == 0 && S_ISLNK(st.st_mode));
    /* a FIFO (a writer would block on it) */
    snprintf(p, sizeof p, "%s/fifo.sparsa", outdir);
    cr_assert_eq(mkfifo(p, 0644), 0);
    expect_output_refused(src, p, "FIFO");
    cr_assert(lstat(p, &st) == 0 && S_ISFIFO(st.st_mode));
    /* a character device: one of our own when root can make it, else /dev/null */
    snprintf(p, sizeof p, "%s/null.sparsa", outdir);
    if (mknod(p, S_IFCHR | 0666, makedev(1, 3)) != 0) snprintf(p, sizeof p, "/dev/null");
    expect_output_refused(src, p, "character device");
    cr_assert(stat(p, &st) == 0 && S_ISCHR(st.st_mode), "%s is no longer a device", p);
    /* a folder, by name and with a trailing slash */
    snprintf(p, sizeof p, "%s/dir.sparsa", outdir);
    cr_assert_eq(mkdir(p, 0755), 0);
    expect_output_refused(src, p, "directory");
    snprintf(p, sizeof p, "%s/", outdir);
    expect_output_refused(src, p, "folder");
    /* standard output: a model file is never written there */
    expect_output_refused(src, "-", "-o must name a file");
    int n = tu_list_dir(outdir, names, sizeof names);
    cr_assert(strstr(names, "link.sparsa") && strstr(names, "fifo.sparsa") && strstr(names, "dir.sparsa"),
              "out holds: %s", names);
    cr_assert(n <= 4 && !strstr(names, ".tmp"), "out holds: %s", names);
}

/* ---- special inputs ------------------------------------------------------------------------ */

/* `convert args...` ends within 10 s with exit 2 and one line holding needle. */
static void expect_input_refused(const char *const *args, const char *needle) {
    char *err = NULL;
    int rc = tu_run_sparsa_timed(args, 10, &err);
    cr_assert_neq(rc, -1, "convert %s %s %s blocked (killed after 10 s)", args[1], args[2], args[3]);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
    cr_assert_eq(tu_line_count(err), 1, "%s", err);
    cr_assert(strstr(err, needle), "'%s' lacks '%s'", err, needle);
    free(err);
}

Test(convert_hostile, fifos_devices_and_folders_as_inputs_are_refused_at_once) {
    char fifo[400], st[400], cf[400], out[400], tok[400];
    snprintf(fifo, sizeof fifo, "%s/fifo", outdir);
    snprintf(st, sizeof st, "%s/model.safetensors", src);
    snprintf(cf, sizeof cf, "%s/config.json", src);
    snprintf(out, sizeof out, "%s/o.sparsa", outdir);
    snprintf(tok, sizeof tok, "tests/fixtures/tokenizer/kjv_bpe.model");
    cr_assert_eq(mkfifo(fifo, 0644), 0);
    const char *a1[] = {"convert", fifo, "-o", out, NULL};
    expect_input_refused(a1, "FIFO");
    const char *a2[] = {"convert", st, "--config", fifo, "-o", out, NULL};
    expect_input_refused(a2, "FIFO");
    const char *a3[] = {"convert", st, "--tokenizer", fifo, "-o", out, NULL};
    expect_input_refused(a3, "FIFO");
    const char *a4[] = {"convert", "/dev/zero", "-o", out, NULL};
    expect_input_refused(a4, "character device");
    const char *a5[] = {"convert", st, "--config", "/dev/zero", "-o", out, NULL};
    expect_input_refused(a5, "character device");
    const char *a6[] = {"convert", st, "--tokenizer", "/dev/zero", "-o", out, NULL};
    expect_input_refused(a6, "character device");
    const char *a7[] = {"convert", st, "--config", src, "-o", out, NULL};
    expect_input_refused(a7, "directory");
    const char *a8[] = {"convert", st, "--tokenizer", src, "-o", out, NULL};
    expect_input_refused(a8, "directory");
    /* standard input cannot be mapped or found beside: a usage error, nothing read */
    const char *a9[] = {"convert", "-", "-o", out, NULL};
    expect_input_refused(a9, "standard input");
    const char *a10[] = {"convert", st, "--config", "-", "-o", out, NULL};
    expect_input_refused(a10, "standard input");
    const char *a11[] = {"convert", st, "--tokenizer", "-", "-o", out, NULL};
    expect_input_refused(a11, "standard input");
    /* inside a folder: a config.json or a shard that is a FIFO is refused, not skipped */
    char moved[400];
    snprintf(moved, sizeof moved, "%s/config.keep", outdir);
    cr_assert_eq(rename(cf, moved), 0);
    cr_assert_eq(mkfifo(cf, 0644), 0);
    const char *a12[] = {"convert", src, "-o", out, NULL};
    expect_input_refused(a12, "config.json: is a FIFO");
    cr_assert_eq(unlink(cf), 0);
    cr_assert_eq(rename(moved, cf), 0);
    cr_assert_eq(unlink(st), 0);
    cr_assert_eq(mkfifo(st, 0644), 0);
    expect_input_refused(a12, "model.safetensors: is a FIFO");
    struct stat s;
    cr_assert(stat(out, &s) != 0, "an output was written");
}

/* ---- non-finite weights ---------------------------------------------------------------------- */

/* A model at <tmp>/src whose tensor `name` has `value` at flat index `at`. */
static void make_bad_model(const char *name, uint64_t at, float value) {
    tu_llama m = {.vocab = 64, .hidden = 16, .ffn = 32, .layers = 1, .heads = 2, .kv_heads = 1, .seed = 3,
                  .bad_tensor = name, .bad_at = at, .bad_value = value};
    cr_assert_eq(tu_make_llama(src, &m), 0);
}

/* convert is refused with every needle in its one line, and writes nothing. */
static void expect_convert_refused(const char *extra, const char *const *needles, size_t n) {
    char args[1200], *err = NULL, names[2000];
    snprintf(args, sizeof args, "convert %s -o %s/o.sparsa %s", src, outdir, extra);
    int rc = tu_run_sparsa(args, NULL, &err);
    cr_assert_eq(rc, 2, "%s: exit %d: %s", args, rc, err);
    cr_assert_eq(tu_line_count(err), 1, "%s", err);
    for (size_t i = 0; i < n; i++) cr_assert(strstr(err, needles[i]), "'%s' lacks '%s'", err, needles[i]);
    free(err);
    cr_assert_eq(tu_list_dir(outdir, names, sizeof names), 0, "out holds: %s", names);
}

Test(convert_hostile, nan_and_inf_weights_are_refused_naming_tensor_and_index) {
    make_bad_model("model.layers.0.mlp.up_proj.weight", 37, NAN); /* [32, 16]: row 2, column 5 */
    const char *n1[] = {"model.safetensors", "'model.layers.0.mlp.up_proj.weight'", "NaN", "element 37",
                        "index [2, 5]", "--allow-nonfinite"};
    expect_convert_refused("", n1, 6);
    make_bad_model("model.norm.weight", 15, INFINITY);
    const char *n2[] = {"'model.norm.weight'", "+Inf", "element 15", "index [15]"};
    expect_convert_refused("", n2, 4);
    make_bad_model("lm_head.weight", 64 * 16 - 1, -INFINITY);
    const char *n3[] = {"'lm_head.weight'", "-Inf", "element 1023", "index [63, 15]"};
    expect_convert_refused("--dtype bf16", n3, 4);
    /* finite in the checkpoint, but too large for f16: refused too, saying why */
    make_bad_model("model.embed_tokens.weight", 100, 1e6f);
    const char *n4[] = {"'model.embed_tokens.weight'", "element 100", "index [6, 4]", "becomes +Inf in f16"};
    expect_convert_refused("--dtype f16", n4, 4);
    char args[1200], *err = NULL;
    snprintf(args, sizeof args, "convert %s -o %s/b.sparsa --dtype bf16", src, outdir);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 0, "bf16 holds 1e6: %s", err);
    free(err);
}

/* Far into a large tensor: past the first streaming chunk (2^20 elements) and scan block. */
Test(convert_hostile, a_nan_deep_in_a_large_tensor_is_found_at_its_place) {
    tu_llama m = {.vocab = 2100, .hidden = 512, .ffn = 32, .layers = 1, .heads = 2, .kv_heads = 1, .seed = 9,
                  .bad_tensor = "lm_head.weight", .bad_at = 1050000, .bad_value = NAN};
    cr_assert_eq(tu_make_llama(src, &m), 0);
    const char *n[] = {"'lm_head.weight'", "NaN", "element 1050000", "index [2050, 400]"};
    expect_convert_refused("", n, 4);
    expect_convert_refused("--dtype f16", n, 4);
}

Test(convert_hostile, allow_nonfinite_writes_them_and_the_file_verifies) {
    make_bad_model("model.layers.0.mlp.up_proj.weight", 37, NAN);
    char out[400], args[1200], *err = NULL;
    snprintf(out, sizeof out, "%s/o.sparsa", outdir);
    snprintf(args, sizeof args, "convert %s -o %s --allow-nonfinite", src, out);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 0, "%s", err);
    free(err);
    sp_file *f;
    sp_error e = {0};
    cr_assert_eq(sp_file_open(out, &f, &e), 0, "%s", e.msg);
    const sp_tensor_info *ti = sp_file_find_tensor(f, "model.layers.0.mlp.up_proj.weight");
    cr_assert_not_null(ti);
    const void *d;
    cr_assert_eq(sp_file_tensor_data(f, ti, &d, &e), 0, "%s", e.msg);
    cr_assert(isnan(((const float *)d)[37]) && isfinite(((const float *)d)[36]));
    sp_file_close(f);
    snprintf(args, sizeof args, "inspect %s --verify", out);
    char *o = NULL;
    cr_assert_eq(tu_run_sparsa(args, &o, NULL), 0);
    cr_assert(strstr(o, "verify       OK"), "%s", o);
    free(o);
}

/* ---- the tokenizer against the vocabulary ------------------------------------------------- */

Test(convert_hostile, a_tokenizer_that_does_not_fit_the_vocabulary_is_refused) {
    static const int vocabs[] = {1999, 2001, 96};
    for (size_t i = 0; i < 3; i++) {
        tu_llama m = {.vocab = vocabs[i], .hidden = 16, .ffn = 32, .layers = 1, .heads = 2, .kv_heads = 1, .seed = 5};
        cr_assert_eq(tu_make_llama(src, &m), 0);
        char vocab[64];
        snprintf(vocab, sizeof vocab, "the model's vocabulary is %d", vocabs[i]);
        const char *n[] = {"kjv_bpe.model", "2000 pieces", vocab};
        expect_convert_refused("--tokenizer tests/fixtures/tokenizer/kjv_bpe.model", n, 3);
    }
}

static int refuse_every_tokenizer(const void *bytes, size_t len, uint64_t vocab, sp_error *err) {
    (void)bytes;
    return sp_fail(err, SP_ERR_INPUT, "refused: %zu bytes for a vocabulary of %llu", len, (unsigned long long)vocab);
}

/* The library's side of the check: the caller's verdict, prefixed with the file, before
 * anything is written. */
Test(convert_hostile, the_tokenizer_check_runs_before_anything_is_written) {
    char out[400], names[2000];
    snprintf(out, sizeof out, "%s/o.sparsa", outdir);
    sp_convert_options o = {.src = src, .out = out, .tokenizer = "tests/fixtures/tokenizer/kjv_bpe.model",
                            .tokenizer_check = refuse_every_tokenizer, .quiet = 1};
    sp_convert_report rep;
    sp_error err = {0};
    cr_assert_eq(sp_convert(&o, &rep, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "kjv_bpe.model: refused: ") && strstr(err.msg, "vocabulary of 64"), "%s", err.msg);
    cr_assert_eq(tu_list_dir(outdir, names, sizeof names), 0, "out holds: %s", names);
}

/* ---- YAML configs --------------------------------------------------------------------------- */

Test(convert_hostile, a_yaml_key_given_twice_is_refused_naming_it) {
    static const struct { const char *text, *key, *lines; } cases[] = {
        {"net:\n  hidden_size: 32\nnet:\n  hidden_size: 64\n", "'net'", "lines 1 and 3"},
        {"model_type: llama\nvocab_size: 64\nhidden_size: 16\nintermediate_size: 32\nnum_hidden_layers: 1\n"
         "num_attention_heads: 2\nnum_key_value_heads: 1\nvocab_size: 65\n", "'vocab_size'", "lines 2 and 8"},
        {"net:\n  hidden_size: 16\n  num_hidden_layers: 1\n  hidden_size: 32\n", "'hidden_size'", "lines 2 and 4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[400], extra[600];
        snprintf(path, sizeof path, "%s/c%zu.yaml", tmpdir, i);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fputs(cases[i].text, f);
        fclose(f);
        snprintf(extra, sizeof extra, "--config %s", path);
        const char *n[] = {path, cases[i].key, "given twice", cases[i].lines};
        expect_convert_refused(extra, n, 4);
    }
}
