/* test_inspect_cli.c — `sparsa inspect`: the facts in text and JSON, escaping of hostile
 * names, --verify on intact and damaged files, usage errors. */
#include <criterion/criterion.h>

#include "tu_format.h"
#include "tu.h"

/* ---- a minimal JSON syntax checker (the output must be ONE valid JSON document) ---- */
static const char *js_ws(const char *p) {
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    return p;
}
static const char *js_value(const char *p);
static const char *js_string(const char *p) {
    if (*p++ != '"') return NULL;
    while (*p != '"') {
        unsigned char c = (unsigned char)*p;
        if (!c || c < 0x20) return NULL;
        if (c == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i]) return NULL;
                p += 5;
                continue;
            }
            if (!*p || !strchr("\"\\/bfnrt", *p)) return NULL;
        }
        p++;
    }
    return p + 1;
}
static const char *js_number(const char *p) {
    const char *s = p;
    if (*p == '-') p++;
    if (*p < '0' || *p > '9') return NULL;
    while ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' ||
           *p == '-')
        p++;
    return p > s ? p : NULL;
}
static const char *js_value(const char *p) {
    p = js_ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int obj = *p == '{';
        p = js_ws(p + 1);
        if (*p == close) return p + 1;
        for (;;) {
            if (obj) {
                if (!(p = js_string(js_ws(p)))) return NULL;
                p = js_ws(p);
                if (*p++ != ':') return NULL;
            }
            if (!(p = js_value(p))) return NULL;
            p = js_ws(p);
            if (*p == close) return p + 1;
            if (*p++ != ',') return NULL;
        }
    }
    if (*p == '"') return js_string(p);
    if (!strncmp(p, "true", 4)) return p + 4;
    if (!strncmp(p, "false", 5)) return p + 5;
    if (!strncmp(p, "null", 4)) return p + 4;
    return js_number(p);
}
static int json_valid(const char *s) {
    const char *e = js_value(s);
    return e && *js_ws(e) == 0;
}

static char small[256];

static void setup_small(void) {
    tu_tmp_name(small, sizeof small, "insp");
    sp_error err;
    cr_assert_eq(tu_write_small_file(small, &err), 0, "%s", err.msg);
}
static void teardown_small(void) { remove(small); }

static int run(const char *fmt, const char *path, char **out, char **err) {
    char args[600];
    snprintf(args, sizeof args, fmt, path);
    return tu_run_sparsa(args, out, err);
}

Test(inspect, text_report_has_the_facts, .init = setup_small, .fini = teardown_small) {
    char *out, *err;
    cr_assert_eq(run("inspect %s", small, &out, &err), 0, "%s", err);
    const char *want[] = {"sparsa 1.0", "alignment 64", "general.name", "\"tiny\"",
                          "model.train_context_length", "128", "[\"model.pt\", \"config.json\"]",
                          "op-set 1", "4 nodes", "rmsnorm 2", "embed 1", "linear 1",
                          "4 pieces", "3 tensors", "48 parameters", "f32"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(strstr(out, want[i]), "missing '%s' in:\n%s", want[i], out);
    cr_assert_null(strstr(out, "[4, 8]"), "no table without --tensors");
    cr_assert_eq(err[0], 0);
    free(out);
    free(err);
    cr_assert_eq(run("inspect %s --tensors --graph", small, &out, NULL), 0);
    cr_assert(strstr(out, "[4, 8]") && strstr(out, "zstd") && strstr(out, "w1"), "%s", out);
    cr_assert(strstr(out, "repeat: 2"), "full YAML with --graph");
    free(out);
}

/* The small file's tokenizer is a bare list of four pieces that SentencePiece cannot load
 * (no unknown piece): every checksum matches, but a run would refuse it, so --verify fails. */
Test(inspect, json_is_one_document_with_the_facts, .init = setup_small, .fini = teardown_small) {
    char *out, *err;
    cr_assert_eq(run("inspect %s --json --tensors --graph --verify", small, &out, &err), 2);
    cr_assert(json_valid(out), "not one JSON document:\n%s", out);
    const char *want[] = {"\"major\":1", "\"alignment\":64", "\"key\":\"general.name\"",
                          "\"op_set\":1", "\"rmsnorm\":2", "\"vocab_size\":4",
                          "\"parameters\":48", "\"shape\":[4,8]", "\"compression\":\"zstd\"",
                          "\"verify\":{\"ok\":false,\"error\":\"tokenizer section: cannot load",
                          "\"yaml\":\"sparsa_graph: 1\\n"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(strstr(out, want[i]), "missing '%s' in:\n%s", want[i], out);
    cr_assert_eq(tu_line_count(err), 1, "%s", err);
    cr_assert(strstr(err, "tokenizer section: cannot load"), "%s", err);
    free(out);
    free(err);
}

Test(inspect, verify_ok_on_a_complete_model) {
    char *out, *err;
    const char *model = "tests/fixtures/perplexity/ppl-llama.sparsa";
    cr_assert_eq(run("inspect %s --json --verify", model, &out, &err), 0, "%s", err);
    cr_assert(json_valid(out) && strstr(out, "\"verify\":{\"ok\":true}"), "%s", out);
    cr_assert_str_eq(err, "");
    free(out);
    free(err);
    cr_assert_eq(run("inspect %s --verify", model, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "verify       OK: all 20 tensor checksums match, the graph opens for a "
                          "run, the tokenizer fits the vocabulary\n"), "%s", out);
    free(out);
    free(err);
}

Test(inspect, control_characters_are_escaped) {
    char path[256];
    tu_tmp_name(path, sizeof path, "ctl");
    sp_error err;
    sp_writer *w;
    cr_assert_eq(sp_writer_create(path, 1, &err, &w), 0);
    const char *nasty = "evil\n\x1b[31mred\ttab\"q\\";
    uint8_t x[2] = {1, 2};
    cr_assert_eq(sp_writer_add_tensor(w, nasty, SP_U8, 1, (uint64_t[]){2}, x, SP_COMPRESS_NONE, 0), 0);
    cr_assert_eq(sp_writer_meta_string(w, nasty, nasty, strlen(nasty)), 0);
    cr_assert_eq(sp_writer_finish(w, &err), 0, "%s", err.msg);
    char *out;
    cr_assert_eq(run("inspect %s --tensors", path, &out, NULL), 0);
    cr_assert_null(strchr(out, '\x1b'), "raw ESC in text output");
    cr_assert_null(strchr(out, '\t'), "raw tab in text output");
    cr_assert(strstr(out, "evil\\n\\x1b[31mred\\ttab\"q\\\\"), "%s", out);
    free(out);
    cr_assert_eq(run("inspect %s --tensors --json", path, &out, NULL), 0);
    cr_assert(json_valid(out), "%s", out);
    cr_assert(strstr(out, "\"evil\\n\\u001b[31mred\\ttab\\\"q\\\\\""), "%s", out);
    free(out);
    remove(path);
}

/* Acceptance: --verify detects a single flipped bit in any tensor's data. Every bit of every
 * tensor through the library; a few through the command for the exit code and the message. */
Test(inspect, verify_detects_every_single_bit_flip, .init = setup_small, .fini = teardown_small) {
    size_t n;
    uint8_t *img = tu_read_file(small, &n);
    sp_file *f;
    sp_error err;
    cr_assert_eq(sp_file_open_memory(img, n, &f, &err), 0, "%s", err.msg);
    size_t flips = 0;
    for (size_t i = 0; i < sp_file_tensor_count(f); i++) {
        const sp_tensor_info *t = sp_file_tensor(f, i);
        for (uint64_t b = 0; b < t->stored_size * 8; b++) {
            img[t->offset + b / 8] ^= (uint8_t)(1u << (b % 8));
            cr_assert_eq(sp_file_verify(f, &err), SP_ERR_INPUT, "tensor %zu bit %llu", i,
                         (unsigned long long)b);
            cr_assert(strstr(err.msg, "checksum mismatch"), "%s", err.msg);
            img[t->offset + b / 8] ^= (uint8_t)(1u << (b % 8));
            flips++;
        }
    }
    cr_assert_gt(flips, 1000);
    cr_assert_eq(sp_file_verify(f, &err), 0);
    sp_file_close(f);

    /* Through the command: one flip in each tensor. */
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(sp_file_open_memory(img, n, &f, &err), 0);
        const sp_tensor_info *t = sp_file_tensor(f, i);
        char name[16];
        snprintf(name, sizeof name, "'%.*s'", (int)t->name_len, t->name);
        uint64_t at = t->offset + t->stored_size / 2;
        sp_file_close(f);
        char bad[256];
        tu_tmp_name(bad, sizeof bad, "flip");
        img[at] ^= 0x10;
        FILE *fp = fopen(bad, "wb");
        fwrite(img, 1, n, fp);
        fclose(fp);
        img[at] ^= 0x10;
        char *out, *e;
        cr_assert_eq(run("inspect %s", bad, &out, &e), 0, "opening does not read data");
        free(out);
        free(e);
        cr_assert_eq(run("inspect %s --verify", bad, &out, &e), 2);
        cr_assert_eq(tu_line_count(e), 1, "%s", e);
        cr_assert(strstr(e, name) && strstr(e, "checksum"), "%s", e);
        free(out);
        free(e);
        cr_assert_eq(run("inspect --json --verify %s", bad, &out, &e), 2);
        cr_assert(json_valid(out) && strstr(out, "\"ok\":false"), "%s", out);
        cr_assert_eq(tu_line_count(e), 1, "%s", e);
        free(out);
        free(e);
        remove(bad);
    }
    free(img);
}

Test(inspect, usage_and_unreadable_files) {
    char *out, *err;
    cr_assert_eq(tu_run_sparsa("inspect --help", &out, NULL), 0);
    cr_assert(strstr(out, "--verify") && strstr(out, "--json"));
    free(out);
    const char *bad[] = {"inspect", "inspect --frobnicate x", "inspect a b",
                         "inspect /nonexistent/model.sparsa", "inspect /tmp",
                         "inspect Makefile"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(tu_run_sparsa(bad[i], &out, &err), 2, "%s", bad[i]);
        cr_assert_eq(tu_line_count(err), 1, "%s: %s", bad[i], err);
        cr_assert_eq(out[0], 0, "%s: nothing on stdout", bad[i]);
        free(out);
        free(err);
    }
}
