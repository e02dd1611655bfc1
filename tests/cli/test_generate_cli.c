/* test_generate_cli.c — `sparsa generate`: greedy continuations equal the PyTorch reference's
 * (tests/fixtures/generate/greedy.tsv from tests/reference/generate_fixtures.py), sampling is
 * reproducible by seed, the context length bounds generation, bad inputs exit 2. */
#include <criterion/criterion.h>

#include "tu_cli.h"
#include "tu_eval.h"

#define DIR "tests/fixtures/perplexity/"
#define LLAMA DIR "ppl-llama.sparsa"
#define SPARSE DIR "ppl-asentmax.sparsa"

static void unescape(char *s) {
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\\' && r[1]) {
            r++;
            *w++ = *r == 'n' ? '\n' : *r == 't' ? '\t' : *r;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
}

Test(generate_cli, greedy_equals_reference, .timeout = 900) {
    char *tsv = tu_read_text("tests/fixtures/generate/greedy.tsv");
    cr_assert(tsv);
    int cases = 0;
    char *save = NULL;
    for (char *line = strtok_r(tsv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char *f[6] = {0};
        int nf = 0;
        for (char *p = line; nf < 6; nf++) {
            f[nf] = p;
            char *tab = strchr(p, '\t');
            if (!tab) {
                nf++;
                break;
            }
            *tab = 0;
            p = tab + 1;
        }
        cr_assert_geq(nf, 5);
        char args[1024], *out = NULL, *err = NULL;
        int tokens = !strcmp(f[1], "tokens");
        snprintf(args, sizeof args, "generate " DIR "%s.sparsa %s '%s' -n %s --threads 1", f[0],
                 tokens ? "--tokens" : "--prompt", f[2], f[3]);
        cr_assert_eq(tu_run_sparsa(args, &out, &err), 0, "%s: %s", args, err);
        if (tokens) {
            char want[1024];
            snprintf(want, sizeof want, "%s\n", f[4]);
            for (char *c = want; *c; c++)
                if (*c == ',') *c = ' ';
            cr_assert_str_eq(out, want, "%s", args);
        } else {
            cr_assert(nf == 6);
            unescape(f[5]);
            size_t n = strlen(out);
            cr_assert(n > 0 && out[n - 1] == '\n');
            out[n - 1] = 0;
            cr_assert_str_eq(out, f[5], "%s", args);
        }
        free(out);
        free(err);
        cases++;
    }
    cr_assert_eq(cases, 4);
    free(tsv);
}

static char *gen(const char *args) {
    char *out = NULL, *err = NULL;
    cr_assert_eq(tu_run_sparsa(args, &out, &err), 0, "%s: %s", args, err);
    free(err);
    return out;
}

Test(generate_cli, sampling_is_reproducible_by_seed) {
    char *a = gen("generate " LLAMA " --tokens 1,157,21 -n 30 --temp 1.5 --top-p 0.95 --seed 7 "
                  "--threads 1");
    char *b = gen("generate " LLAMA " --tokens 1,157,21 -n 30 --temp 1.5 --top-p 0.95 --seed 7 "
                  "--threads 1");
    char *c = gen("generate " LLAMA " --tokens 1,157,21 -n 30 --temp 1.5 --top-p 0.95 --seed 8 "
                  "--threads 1");
    cr_assert_str_eq(a, b);
    cr_assert_str_neq(a, c);
    free(a);
    free(b);
    free(c);
}

Test(generate_cli, zero_tokens_and_context_limit) {
    char *out = gen("generate " LLAMA " --tokens 1,2,3 -n 0");
    cr_assert_str_eq(out, "\n");
    free(out);
    /* ppl-asentmax has context length 256: a 250-token prompt leaves room for 7 more ids (the
     * last one is never fed back). */
    char args[4096];
    int k = snprintf(args, sizeof args, "generate " SPARSE " -n 100 --threads 1 --tokens ");
    for (int i = 0; i < 250; i++) k += snprintf(args + k, sizeof args - k, i ? ",%d" : "%d", 100 + i);
    out = gen(args);
    size_t n = 0;
    int32_t *ids = tu_parse_ids(out, &n);
    cr_assert_eq(n, 7, "%zu ids: %s", n, out); /* -n 100 cut to what the context holds */
    free(ids);
    free(out);
}

Test(generate_cli, bad_inputs_exit_2) {
    tu_expect_bad("generate", "FILE");
    tu_expect_bad("generate " LLAMA, "exactly one");
    tu_expect_bad("generate " LLAMA " --prompt a --tokens 1", "exactly one");
    tu_expect_bad("generate " LLAMA " --tokens 1,2000", "2000");
    tu_expect_bad("generate " LLAMA " --tokens 1,x", "--tokens");
    tu_expect_bad("generate " LLAMA " --tokens 1 --top-p 0", "--top-p");
    tu_expect_bad("generate " LLAMA " --tokens 1 --top-p 1.5", "--top-p");
    tu_expect_bad("generate " LLAMA " --tokens 1 --temp -1", "--temp");
    tu_expect_bad("generate " LLAMA " --tokens 1 -n x", "-n");
    tu_expect_bad("generate " LLAMA " --tokens ''", "empty");
    tu_expect_bad("generate " LLAMA " --prompt '' --no-bos", "empty");
    tu_expect_bad("generate " LLAMA " --tokens 1 --bogus", "--bogus");
    tu_expect_bad("generate /nonexistent.sparsa --tokens 1", "/nonexistent.sparsa");
    tu_expect_bad("generate tests/fixtures/models/hf-llama-f32.sparsa --prompt hi", "no tokenizer");
    char args[8192];
    int k = snprintf(args, sizeof args, "generate " SPARSE " --tokens ");
    for (int i = 0; i < 300; i++) k += snprintf(args + k, sizeof args - k, i ? ",%d" : "%d", 5);
    tu_expect_bad(args, "context length 256");
}

Test(generate_cli, help) {
    char *out = gen("generate --help");
    cr_assert(strstr(out, "--top-p") && strstr(out, "--seed"));
    free(out);
}
