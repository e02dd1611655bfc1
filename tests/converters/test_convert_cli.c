/* test_convert_cli.c — `sparsa convert` end to end: every fixture checkpoint (torch.save,
 * Lightning, safetensors, Hugging Face folders made by transformers, sharded and .bin) converts
 * and its logits match the PyTorch reference; dtype modes round exactly; provenance; overwrite
 * rules; all mapping problems in one line; hostile files give exit 2 and one line. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>

#include "checkpoint_reader.h"
#include "pickle_reader.h"
#include "sparsa_convert.h"
#include "tu_convert.h"
#include "tu.h"

static char tmpdir[256];

static void mk_tmp(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sparsa_convert_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

/* Plain C, not rm/cp: the tests also run under valgrind --trace-children. */
static void rm_tmp(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[600];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
    if (d) closedir(d);
    rmdir(tmpdir);
}

static void copy_into_tmp(const char *src, const char *name) {
    size_t n = 0;
    uint8_t *b = tu_read_file(src, &n);
    cr_assert_not_null(b, "%s", src);
    char p[600];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    tu_buf t = {b, n, n};
    cr_assert_eq(tu_write(p, &t), 0);
    free(b);
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static char *slurp_text(const char *path) {
    size_t n;
    char *b = tu_read_file(path, &n);
    if (!b) return NULL;
    b = realloc(b, n + 1);
    b[n] = 0;
    while (n && (b[n - 1] == '\n' || b[n - 1] == ' ')) b[--n] = 0;
    return b;
}

/* Converts src and compares `sparsa logits` with the reference logits (1e-4 * max(1, |x|)). */
static void convert_and_compare(const char *src, const char *tokens, const char *logits, const char *extra) {
    char out[400], lo[400], args[2000];
    snprintf(out, sizeof out, "%s/m.sparsa", tmpdir);
    snprintf(lo, sizeof lo, "%s/m.logits", tmpdir);
    remove(out);
    char *err = NULL;
    snprintf(args, sizeof args, "convert %s -o %s %s", src, out, extra ? extra : "");
    int rc = tu_run_sparsa(args, NULL, &err);
    cr_assert_eq(rc, 0, "convert %s: rc %d: %s", src, rc, err);
    free(err);
    char *toks = slurp_text(tokens);
    cr_assert_not_null(toks, "%s", tokens);
    snprintf(args, sizeof args, "logits %s --tokens %s --out %s", out, toks, lo);
    free(toks);
    rc = tu_run_sparsa(args, NULL, &err);
    cr_assert_eq(rc, 0, "logits %s: %s", src, err);
    free(err);
    size_t na = 0, nb = 0;
    float *a = tu_read_file(lo, &na), *b = tu_read_file(logits, &nb);
    cr_assert(a && b && na == nb && na > 0, "%s: logits sizes %zu vs %zu", src, na, nb);
    double worst = 0;
    for (size_t i = 0; i < na / 4; i++) {
        double d = fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)b[i]));
        if (!(d <= worst)) worst = d;
    }
    cr_assert(worst <= 1e-4, "%s: max scaled logit difference %g", src, worst);
    free(a);
    free(b);
}

#define CK "tests/fixtures/checkpoints/"
#define DV "tests/fixtures/checkpoints/device/"
#define CV "tests/fixtures/convert/"

Test(convert_cli, torch_save_safetensors_and_lightning_fixtures_match_reference, .init = mk_tmp, .fini = rm_tmp) {
    convert_and_compare(CK "hf-llama.pt", CK "hf-llama.tokens", CK "hf-llama.logits", NULL);
    convert_and_compare(CK "hf-llama-tied.safetensors", CK "hf-llama-tied.tokens", CK "hf-llama-tied.logits", NULL);
    convert_and_compare(CK "torchtitan-llama.pt", CK "torchtitan-llama.tokens", CK "torchtitan-llama.logits", NULL);
    convert_and_compare(CK "sg2-asentmax-nape.lightning.ckpt", CK "sg2-asentmax-nape.tokens",
                        CK "sg2-asentmax-nape.logits", NULL);
}

Test(convert_cli, hugging_face_folders_made_by_transformers, .init = mk_tmp, .fini = rm_tmp) {
    static const char *dirs[] = {"hf-llama-safetensors", "hf-llama-bin", "hf-llama-sharded", "hf-gemma2-safetensors"};
    for (size_t i = 0; i < 4; i++) {
        char src[300], t[400], l[400];
        snprintf(src, sizeof src, DV "%s", dirs[i]);
        snprintf(t, sizeof t, "%s/expected.tokens", src);
        snprintf(l, sizeof l, "%s/expected.logits", src);
        convert_and_compare(src, t, l, NULL);
    }
    /* transformers-4 style config (torch_dtype, rope_theta at the top, no layer_types), bf16,
     * tied embeddings without lm_head, three layers with alternating sliding window */
    convert_and_compare(CV "hf-gemma2-t4", CV "hf-gemma2-t4/expected.tokens", CV "hf-gemma2-t4/expected.logits", NULL);
}

/* Every attn_scale_type and position scheme of the paper's model (Lightning checkpoints). */
Test(convert_cli, asentmax_gemma2_every_attention_variant, .init = mk_tmp, .fini = rm_tmp) {
    static const char *dev[] = {"sg2-asentmax-nape", "sg2-entmax13-rope", "sg2-entmax15-nape", "sg2-softmax-rope",
                                "sg2-sparsemax-nope", "sg2-ssmax-nape", "sg2-stickbreaking", "sg2-topk-nape"};
    char s[300], t[300], l[300];
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) {
        snprintf(s, sizeof s, DV "%s.ckpt", dev[i]);
        snprintf(t, sizeof t, DV "%s.tokens", dev[i]);
        snprintf(l, sizeof l, DV "%s.logits", dev[i]);
        convert_and_compare(s, t, l, NULL);
    }
    static const char *loc[] = {"sg2-learn-entmax15-nape", "sg2-adaptive-softmax-nape", "sg2-entmax15-alibi",
                                "sg2-asentmax-rope-nobias", "sg2-hydra-partial"};
    for (size_t i = 0; i < sizeof loc / sizeof loc[0]; i++) {
        snprintf(s, sizeof s, CV "%s.ckpt", loc[i]);
        snprintf(t, sizeof t, CV "%s.tokens", loc[i]);
        snprintf(l, sizeof l, CV "%s.logits", loc[i]);
        convert_and_compare(s, t, l, NULL);
    }
}

/* ---- dtype modes ----------------------------------------------------------------------------- */

static float src_elem(const uint8_t *p, sp_dtype d) {
    uint16_t h;
    float f;
    if (d == SP_F16) { memcpy(&h, p, 2); return sp_f16_to_f32(h); }
    if (d == SP_BF16) { memcpy(&h, p, 2); return sp_bf16_to_f32(h); }
    memcpy(&f, p, 4);
    return f;
}

static void check_dtype_mode(const char *src, const char *mode) {
    char out[400], args[1000];
    snprintf(out, sizeof out, "%s/%s.sparsa", tmpdir, mode);
    snprintf(args, sizeof args, "convert %s -o %s --dtype %s --force", src, out, mode);
    char *err = NULL;
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 0, "%s", err);
    free(err);
    sp_ckpt *c;
    sp_file *f;
    sp_error e = {0};
    cr_assert_eq(sp_ckpt_open(src, NULL, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(sp_file_open(out, &f, &e), 0, "%s", e.msg);
    size_t n = sp_file_tensor_count(f);
    cr_assert(n > 10);
    for (size_t i = 0; i < n; i++) {
        const sp_tensor_info *ti = sp_file_tensor(f, i);
        char name[300];
        snprintf(name, sizeof name, "%.*s", (int)ti->name_len, ti->name);
        const sp_src_tensor *t = sp_ckpt_find(c, name);
        cr_assert_not_null(t, "%s not in the source", name);
        int vector = 0;
        for (uint32_t k = 0; k < t->ndim; k++) vector += t->shape[k] > 1;
        vector = vector <= 1;
        sp_dtype want = !strcmp(mode, "keep") ? t->dtype
                        : vector                ? SP_F32
                        : !strcmp(mode, "f16")  ? SP_F16
                        : !strcmp(mode, "bf16") ? SP_BF16
                                                : SP_F32;
        cr_assert_eq(ti->dtype, want, "%s: %s stored as %s", mode, name, sp_dtype_name(ti->dtype));
        uint8_t *sb = malloc(t->numel * sp_dtype_size(t->dtype));
        cr_assert_eq(sp_ckpt_read(c, t, 0, t->numel, sb, &e), 0);
        const void *d;
        cr_assert_eq(sp_file_tensor_data(f, ti, &d, &e), 0);
        for (uint64_t k = 0; k < t->numel; k++) {
            float x = src_elem(sb + k * sp_dtype_size(t->dtype), t->dtype);
            const uint8_t *o = (const uint8_t *)d + k * sp_dtype_size(want);
            uint16_t h;
            float g;
            if (want == SP_F32) {
                memcpy(&g, o, 4);
                cr_assert(g == x, "%s[%llu]: %g != %g", name, (unsigned long long)k, g, x);
            } else {
                memcpy(&h, o, 2);
                uint16_t r = want == SP_F16 ? sp_f32_to_f16(x) : sp_f32_to_bf16(x);
                if (want == t->dtype) memcpy(&r, sb + k * 2, 2); /* kept bit for bit */
                cr_assert_eq(h, r, "%s[%llu] not the %s rounding", name, (unsigned long long)k, mode);
            }
        }
        free(sb);
    }
    sp_file_close(f);
    sp_ckpt_close(c);
}

Test(convert_cli, dtype_modes_round_exactly_and_vectors_stay_f32, .init = mk_tmp, .fini = rm_tmp) {
    static const char *modes[] = {"keep", "f32", "f16", "bf16"};
    for (int i = 0; i < 4; i++) {
        check_dtype_mode(CK "hf-llama.pt", modes[i]);
        check_dtype_mode(CK "hf-llama-tied.safetensors", modes[i]);
    }
}

Test(convert_cli, zstd_output_holds_the_same_tensors, .init = mk_tmp, .fini = rm_tmp) {
    char a[400], b[400], args[1200];
    snprintf(a, sizeof a, "%s/plain.sparsa", tmpdir);
    snprintf(b, sizeof b, "%s/z.sparsa", tmpdir);
    snprintf(args, sizeof args, "convert " CK "sg2-asentmax-nape.lightning.ckpt -o %s", a);
    cr_assert_eq(tu_run_sparsa(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "convert " CK "sg2-asentmax-nape.lightning.ckpt -o %s --compress zstd:5", b);
    cr_assert_eq(tu_run_sparsa(args, NULL, NULL), 0);
    sp_file *fa, *fb;
    sp_error e = {0};
    cr_assert_eq(sp_file_open(a, &fa, &e), 0);
    cr_assert_eq(sp_file_open(b, &fb, &e), 0);
    cr_assert_eq(sp_file_tensor_count(fa), sp_file_tensor_count(fb));
    int compressed = 0;
    for (size_t i = 0; i < sp_file_tensor_count(fa); i++) {
        const sp_tensor_info *x = sp_file_tensor(fa, i);
        char name[300];
        snprintf(name, sizeof name, "%.*s", (int)x->name_len, x->name);
        const sp_tensor_info *y = sp_file_find_tensor(fb, name);
        cr_assert_not_null(y);
        compressed += y->compression == SP_COMPRESS_ZSTD;
        const void *dx, *dy;
        cr_assert_eq(sp_file_tensor_data(fa, x, &dx, &e), 0);
        cr_assert_eq(sp_file_tensor_data(fb, y, &dy, &e), 0, "%s", e.msg);
        cr_assert_eq(x->raw_size, y->raw_size);
        cr_assert_eq(memcmp(dx, dy, x->raw_size), 0, "%s differs", name);
    }
    cr_assert(compressed > 0);
    sp_file_close(fa);
    sp_file_close(fb);
}

/* ---- provenance, overwrite rules, reports ---------------------------------------------------- */

Test(convert_cli, inspect_shows_provenance_and_graph, .init = mk_tmp, .fini = rm_tmp) {
    char out[400], args[1000], *o = NULL;
    snprintf(out, sizeof out, "%s/p.sparsa", tmpdir);
    snprintf(args, sizeof args, "convert " DV "hf-llama-sharded -o %s", out);
    cr_assert_eq(tu_run_sparsa(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "inspect %s --graph", out);
    cr_assert_eq(tu_run_sparsa(args, &o, NULL), 0);
    FILE *p = popen("sha256sum " DV "hf-llama-sharded/model-00002-of-00003.safetensors", "r");
    char sha[65] = {0};
    cr_assert_eq(fscanf(p, "%64s", sha), 1);
    pclose(p);
    /* inspect abbreviates long arrays; the metadata itself holds every hash */
    sp_file *f;
    sp_error e = {0};
    cr_assert_eq(sp_file_open(out, &f, &e), 0);
    const sp_meta *m = sp_file_meta_find(f, "source.sha256");
    cr_assert_not_null(m);
    cr_assert_eq(m->len, 4, "3 shards and the config, got %llu", (unsigned long long)m->len);
    int found = 0;
    sp_meta_iter it;
    sp_meta el;
    sp_meta_iter_init(&it, m);
    while (sp_meta_iter_next(&it, &el)) found |= el.len == 64 && !memcmp(el.data, sha, 64);
    cr_assert(found, "sha256 of a shard missing");
    /* the config travels as its own text, the converter by its version */
    size_t clen = 0;
    char *config = tu_read_file(DV "hf-llama-sharded/config.json", &clen);
    cr_assert_not_null(config);
    const sp_meta *sc = sp_file_meta_find(f, "source.config");
    cr_assert(sc && sc->len == clen && !memcmp(sc->data, config, clen), "source.config is not config.json's text");
    free(config);
    const sp_meta *cv = sp_file_meta_find(f, "converter.version");
    cr_assert(cv && cv->len == strlen(SP_CONVERTER_VERSION) && !memcmp(cv->data, SP_CONVERTER_VERSION, cv->len),
              "converter.version is not %s", SP_CONVERTER_VERSION);
    sp_file_close(f);
    cr_assert(strstr(o, "source.sha256"), "%s", o);
    cr_assert(strstr(o, "model.architecture"), "%s", o);
    cr_assert(strstr(o, "sparsa_graph: 1"), "%s", o);
    cr_assert(strstr(o, "op: attention"), "%s", o);
    free(o);
}

Test(convert_cli, never_overwrites_without_force_nor_an_input, .init = mk_tmp, .fini = rm_tmp) {
    char out[400], args[1000], *err = NULL;
    snprintf(out, sizeof out, "%s/o.sparsa", tmpdir);
    FILE *f = fopen(out, "w");
    fputs("precious", f);
    fclose(f);
    snprintf(args, sizeof args, "convert " CK "hf-llama.pt -o %s", out);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 2);
    cr_assert_eq(tu_line_count(err), 1, "%s", err);
    cr_assert(strstr(err, "--force"), "%s", err);
    free(err);
    char *keep = slurp_text(out);
    cr_assert_str_eq(keep, "precious");
    free(keep);
    snprintf(args, sizeof args, "convert " CK "hf-llama.pt -o %s --force", out);
    cr_assert_eq(tu_run_sparsa(args, NULL, NULL), 0);
    /* the input itself, even with --force */
    copy_into_tmp(CK "hf-llama.pt", "hf-llama.pt");
    copy_into_tmp(CK "hf-llama.config.json", "hf-llama.config.json");
    snprintf(args, sizeof args, "convert %s/hf-llama.pt -o %s/hf-llama.pt --force", tmpdir, tmpdir);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 2);
    cr_assert(strstr(err, "input"), "%s", err);
    free(err);
    /* the default name: SRC with .sparsa */
    snprintf(args, sizeof args, "convert %s/hf-llama.pt", tmpdir);
    cr_assert_eq(tu_run_sparsa(args, NULL, NULL), 0);
    snprintf(out, sizeof out, "%s/hf-llama.sparsa", tmpdir);
    cr_assert(exists(out));
}

/* The config as a Hydra model YAML (nested under net:, ${.key} interpolations), for a
 * checkpoint whose hyper_parameters would also hold it: --config wins and gives the same model. */
Test(convert_cli, hydra_yaml_config, .init = mk_tmp, .fini = rm_tmp) {
    convert_and_compare(CV "sg2-hydra-partial.ckpt", CV "sg2-hydra-partial.tokens", CV "sg2-hydra-partial.logits",
                        "--config " CV "sg2-hydra-partial.model.yaml");
}

/* Provenance names the YAML file, so its size and SHA-256 are the file's, not its JSON form's. */
Test(convert_cli, yaml_config_provenance_is_the_file, .init = mk_tmp, .fini = rm_tmp) {
    const char *yaml = CV "sg2-hydra-partial.model.yaml";
    size_t n = 0;
    uint8_t *bytes = tu_read_file(yaml, &n);
    cr_assert_not_null(bytes);
    sp_sha256 h;
    uint8_t d[32];
    sp_sha256_init(&h);
    sp_sha256_update(&h, bytes, n);
    sp_sha256_final(&h, d);
    free(bytes);
    char hex[65], size[32], args[1000], *out = NULL, *err = NULL;
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    snprintf(size, sizeof size, ",%zu]", n);
    snprintf(args, sizeof args, "convert " CV "sg2-hydra-partial.ckpt --config %s -o %s/y.sparsa", yaml, tmpdir);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 0, "%s", err);
    free(err);
    snprintf(args, sizeof args, "inspect %s/y.sparsa --json", tmpdir);
    cr_assert_eq(tu_run_sparsa(args, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, hex), "the YAML file's SHA-256 %s is not in the provenance", hex);
    cr_assert(strstr(out, size), "the YAML file's size %zu is not in the provenance", n);
    free(out);
    free(err);
}

Test(convert_cli, bad_yaml_configs_one_line, .init = mk_tmp, .fini = rm_tmp) {
    static const char *bad[] = {
        "- a\n- b\n",                                   /* not a mapping */
        "net: {hidden_size: 32\n",                       /* malformed */
        "a: &a [1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f]\nh: [*g,*g,*g,*g,*g,*g,*g,*g]\n", /* alias bomb */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[400], args[1200], out[400];
        snprintf(path, sizeof path, "%s/bad%zu.yaml", tmpdir, i);
        snprintf(out, sizeof out, "%s/never.sparsa", tmpdir);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fputs(bad[i], f);
        fclose(f);
        snprintf(args, sizeof args, "convert " CV "sg2-hydra-partial.ckpt --config %s -o %s", path, out);
        char *err = NULL;
        int rc = tu_run_sparsa(args, NULL, &err);
        cr_assert_eq(rc, 2, "case %zu: rc %d", i, rc);
        cr_assert_eq(tu_line_count(err), 1, "case %zu: %s", i, err);
        cr_assert(strstr(err, path), "case %zu: %s", i, err);
        free(err);
        cr_assert(!exists(out));
    }
}

Test(convert_cli, every_mapping_problem_in_one_line) {
    char *err = NULL;
    /* torchtitan names under the hf-llama mapping: everything missing and everything unmapped */
    int rc = tu_run_sparsa("convert " CK "torchtitan-llama.pt --arch hf-llama --config " CK "hf-llama.config.json -o /tmp/never.sparsa", NULL, &err);
    cr_assert_eq(rc, 2);
    cr_assert_eq(tu_line_count(err), 1, "%s", err);
    cr_assert(strstr(err, "missing") && strstr(err, "unmapped"), "%s", err);
    cr_assert(strstr(err, "problems in all"), "%s", err);
    free(err);
    /* right names, wrong sizes: every mis-shaped tensor is named */
    rc = tu_run_sparsa("convert " CK "hf-llama.pt --config " CK "hf-llama-tied.config.json --arch hf-gemma2 -o /tmp/never.sparsa", NULL, &err);
    cr_assert_eq(rc, 2);
    cr_assert_eq(tu_line_count(err), 1, "%s", err);
    cr_assert(strstr(err, "hf-gemma2 mapping"), "%s", err);
    /* shapes as sparsa prints them everywhere, with * for a size that is not checked */
    cr_assert(strstr(err, "model.layers.0.self_attn.q_proj.weight is [32, 32], expected [1024, 32]"), "%s", err);
    free(err);
    cr_assert(!exists("/tmp/never.sparsa"));
}

Test(convert_cli, help_lists_the_mappings) {
    char *out = NULL;
    cr_assert_eq(tu_run_sparsa("convert --help", &out, NULL), 0);
    cr_assert(strstr(out, "hf-llama") && strstr(out, "hf-gemma2") && strstr(out, "asentmax-gemma2") &&
              strstr(out, "torchtitan-llama"));
    free(out);
    cr_assert_eq(tu_run_sparsa("convert", NULL, NULL), 2);
    cr_assert_eq(tu_run_sparsa("convert x --dtype f8", NULL, NULL), 2);
    cr_assert_eq(tu_run_sparsa("convert x --compress lz4", NULL, NULL), 2);
    cr_assert_eq(tu_run_sparsa("convert x --arch gpt9", NULL, NULL), 2);
}

/* ---- hostile inputs -------------------------------------------------------------------------- */

static void expect_refused(const char *name, const tu_buf *b, const char *part) {
    char src[400], out[400], args[1000], *err = NULL;
    snprintf(src, sizeof src, "%s/%s", tmpdir, name);
    snprintf(out, sizeof out, "%s/%s.sparsa", tmpdir, name);
    cr_assert_eq(tu_write(src, b), 0);
    snprintf(args, sizeof args, "convert %s -o %s --arch hf-llama", src, out);
    int rc = tu_run_sparsa(args, NULL, &err);
    cr_assert_eq(rc, 2, "%s: rc %d: %s", name, rc, err);
    cr_assert_eq(tu_line_count(err), 1, "%s: %s", name, err);
    cr_assert(strstr(err, part), "%s: '%s' lacks '%s'", name, err, part);
    cr_assert(!exists(out), "%s: output left behind", name);
    free(err);
}

static tu_buf pickle_in_zip(const char *p, size_t n) { return tu_torch_zip(p, n); }

Test(convert_cli, hostile_pickles, .init = mk_tmp, .fini = rm_tmp) {
    static const char sys_[] = "\x80\x02\x63\x6f\x73\x0a\x73\x79\x73\x74\x65\x6d\x0a\x58\x02\x00\x00\x00\x69\x64\x85\x52\x2e";
    tu_buf b = pickle_in_zip(sys_, sizeof sys_ - 1);
    expect_refused("system.pt", &b, "os.system");
    free(b.b);
    static const char ev[] = "\x80\x02\x63\x62\x75\x69\x6c\x74\x69\x6e\x73\x0a\x65\x76\x61\x6c\x0a\x58\x01\x00\x00\x00\x31\x85\x52\x2e";
    b = pickle_in_zip(ev, sizeof ev - 1);
    expect_refused("eval.pt", &b, "builtins.eval");
    free(b.b);
    static const char memo[] = "\x80\x02\x4e\x72\xf0\xff\xff\xff\x2e";
    b = pickle_in_zip(memo, sizeof memo - 1);
    expect_refused("memo.pt", &b, "memo");
    free(b.b);
    size_t n = SP_PICKLE_MAX_STACK + 8, k = 0;
    char *p = malloc(2 * n);
    p[k++] = (char)0x80;
    p[k++] = 2;
    for (size_t i = 0; i < n; i++) p[k++] = 'N';
    p[k++] = '.';
    b = pickle_in_zip(p, k);
    expect_refused("stack.pt", &b, "stack");
    free(b.b);
    k = 2;
    for (size_t i = 0; i < 5000; i++) p[k++] = ']';
    for (size_t i = 0; i < 4999; i++) p[k++] = 'a';
    p[k++] = '.';
    b = pickle_in_zip(p, k);
    expect_refused("nested.pt", &b, "nested deeper");
    free(b.b);
    free(p);
}

Test(convert_cli, hostile_archives_and_truncated_files, .init = mk_tmp, .fini = rm_tmp) {
    static const char pk[] = "\x80\x02\x7d\x2e";
    tu_member esc[2] = {{"archive/data.pkl", pk, 4, 0, 0}, {"archive/../../evil", "x", 1, 0, 0}};
    tu_buf b = tu_zip(esc, 2, 0);
    expect_refused("escape.pt", &b, "escapes the folder");
    free(b.b);
    tu_member defl[1] = {{"archive/data.pkl", pk, 4, 8, 0}};
    b = tu_zip(defl, 1, 0);
    expect_refused("deflate.pt", &b, "only stored members");
    free(b.b);
    tu_member bomb[2] = {{"archive/data.pkl", pk, 4, 0, 0}, {"archive/data/0", "x", 1, 0, (uint64_t)1 << 42}};
    b = tu_zip(bomb, 2, 1);
    expect_refused("bomb.pt", &b, "runs past");
    free(b.b);
    /* a real checkpoint cut in half, and cut just before its end */
    size_t n = 0;
    uint8_t *full = tu_read_file(CK "hf-llama.pt", &n);
    cr_assert_not_null(full);
    tu_buf half = {full, n / 2, n};
    expect_refused("half.pt", &half, "zip");
    tu_buf most = {full, n - 10, n};
    expect_refused("most.pt", &most, "zip");
    free(full);
    full = tu_read_file(CK "hf-llama-tied.safetensors", &n);
    tu_buf st = {full, n - 100, n};
    expect_refused("cut.safetensors", &st, "safetensors");
    st.n = 200;
    expect_refused("cut2.safetensors", &st, "safetensors");
    free(full);
    /* legacy torch format, garbage, empty */
    tu_buf legacy = {(uint8_t *)"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 14, 14};
    expect_refused("legacy.pt", &legacy, "legacy");
    tu_buf junk = {(uint8_t *)"hello world, not a model", 24, 24};
    expect_refused("junk.bin", &junk, "not a torch.save");
    tu_buf empty = {(uint8_t *)"", 0, 0};
    expect_refused("empty.pt", &empty, "empty");
}

Test(convert_cli, hostile_safetensors, .init = mk_tmp, .fini = rm_tmp) {
    uint8_t data[16] = {0};
    tu_buf b = tu_safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[268435456,268435456,16],\"data_offsets\":[0,1152921504606846976]}}",
                              data, 8);
    expect_refused("huge.safetensors", &b, "data area");
    free(b.b);
    b = tu_safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                       data, 12);
    expect_refused("overlap.safetensors", &b, "overlap");
    free(b.b);
    b = (tu_buf){0};
    tu_u64(&b, (uint64_t)1 << 60);
    tu_put(&b, "{}", 2);
    expect_refused("hdr.safetensors", &b, "cap");
    free(b.b);
}

Test(convert_cli, embeds_a_sentencepiece_tokenizer, .init = mk_tmp, .fini = rm_tmp) {
    /* a model whose vocabulary is the tokenizer's 2000 pieces */
    tu_llama m = {.vocab = 2000, .hidden = 16, .ffn = 32, .layers = 1, .heads = 2, .kv_heads = 1, .seed = 7};
    cr_assert_eq(tu_make_llama(tmpdir, &m), 0);
    char out[400], args[1000], *err = NULL;
    snprintf(out, sizeof out, "%s/t.sparsa", tmpdir);
    snprintf(args, sizeof args, "convert %s/model.safetensors -o %s --tokenizer tests/fixtures/tokenizer/kjv_bpe.model",
             tmpdir, out);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 0, "%s", err);
    free(err);
    size_t n = 0;
    void *want = tu_read_file("tests/fixtures/tokenizer/kjv_bpe.model", &n);
    sp_file *f;
    sp_error e = {0};
    cr_assert_eq(sp_file_open(out, &f, &e), 0);
    size_t len = 0;
    const void *tok = sp_file_tokenizer(f, &len);
    cr_assert(tok && len == n && !memcmp(tok, want, n));
    const sp_meta *k = sp_file_meta_find(f, "tokenizer.kind");
    cr_assert(k && k->len == 13 && !memcmp(k->data, "sentencepiece", 13));
    sp_file_close(f);
    free(want);
    /* something that is not a SentencePiece model is refused before anything is written */
    snprintf(args, sizeof args, "convert " CK "hf-llama.pt -o %s/u.sparsa --tokenizer " CK "hf-llama.config.json", tmpdir);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 2);
    cr_assert_eq(tu_line_count(err), 1, "%s", err);
    cr_assert(strstr(err, "SentencePiece"), "%s", err);
    free(err);
    snprintf(args, sizeof args, "%s/u.sparsa", tmpdir);
    cr_assert(!exists(args));
}
