/* test_ref_fixtures.c — the golden fixtures written by the Python exporter
 * (tests/reference/sparsa_export.py) are valid sparsa files for the C reader, and their expected
 * outputs are well-formed: every model opens and verifies, has a graph whose vocab_size matches
 * the logits width, an architecture, f32/f16/bf16 tensors only; every .tokens file holds 64 ids
 * inside the vocabulary and every .logits file exactly 64 × vocab finite floats. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_format.h"

#define MODELS "tests/fixtures/models"
#define N_TOKENS 64

static long graph_vocab(const char *g, size_t len) {
    const char *key = "\nvocab_size:";
    for (size_t i = 0; i + strlen(key) < len; i++)
        if (memcmp(g + i, key, strlen(key)) == 0) return strtol(g + i + strlen(key), NULL, 10);
    return -1;
}

static int read_tokens(const char *path, long *ids, int cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    long v;
    while (n < cap && fscanf(f, "%ld", &v) == 1) {
        ids[n++] = v;
        int c = fgetc(f);
        if (c != ',') break;
    }
    fclose(f);
    return n;
}

static void check_model(const char *stem) {
    char path[512];
    snprintf(path, sizeof path, MODELS "/%s.sparsa", stem);
    sp_file *f = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_file_open(path, &f, &err), SP_OK, "%s: %s", path, err.msg);
    cr_assert_eq(sp_file_verify(f, &err), SP_OK, "%s: %s", path, err.msg);
    size_t glen = 0;
    const char *g = sp_file_graph(f, &glen);
    cr_assert(g && glen > 16 && strncmp(g, "sparsa_graph: 1\n", 16) == 0, "%s: graph", path);
    long vocab = graph_vocab(g, glen);
    cr_assert_gt(vocab, 0, "%s: vocab_size", path);
    cr_assert_not_null(sp_file_meta_find(f, "model.architecture"), "%s", path);
    for (size_t i = 0; i < sp_file_tensor_count(f); i++) {
        sp_dtype dt = sp_file_tensor(f, i)->dtype;
        cr_assert(dt == SP_F32 || dt == SP_F16 || dt == SP_BF16, "%s: tensor %zu dtype", path, i);
    }
    sp_file_close(f);

    long ids[N_TOKENS + 1];
    snprintf(path, sizeof path, MODELS "/%s.tokens", stem);
    cr_assert_eq(read_tokens(path, ids, N_TOKENS + 1), N_TOKENS, "%s", path);
    for (int i = 0; i < N_TOKENS; i++) cr_assert(ids[i] >= 0 && ids[i] < vocab, "%s", path);

    snprintf(path, sizeof path, MODELS "/%s.logits", stem);
    FILE *lf = fopen(path, "rb");
    cr_assert_not_null(lf, "%s", path);
    size_t want = (size_t)N_TOKENS * (size_t)vocab;
    float *x = malloc((want + 1) * sizeof *x);
    size_t got = fread(x, sizeof *x, want + 1, lf);
    fclose(lf);
    cr_assert_eq(got, want, "%s: %zu floats, want %zu", path, got, want);
    for (size_t i = 0; i < want; i++) cr_assert(isfinite(x[i]), "%s: float %zu", path, i);
    free(x);
}

Test(ref_fixtures, every_model_fixture_is_valid) {
    DIR *d = opendir(MODELS);
    cr_assert_not_null(d, "cannot open " MODELS " (run from the repository root)");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 7 && strcmp(e->d_name + len - 7, ".sparsa") == 0) {
            char stem[256];
            snprintf(stem, sizeof stem, "%.*s", (int)(len - 7), e->d_name);
            check_model(stem);
            n++;
        }
    }
    closedir(d);
    /* 5 architectures x 3 dtypes + 11 attention variants */
    cr_assert_geq(n, 26, "only %d model fixtures", n);
}
