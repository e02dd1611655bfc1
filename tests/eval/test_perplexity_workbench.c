/* test_perplexity_workbench.c — perplexity's workbench options against independent
 * computations: --by-position buckets recomputed from --dump-nll; the rolling windows against a
 * transcription of lm-evaluation-harness's get_rolling_token_windows + make_disjoint_window;
 * word/byte perplexities and bits per byte from the dumped NLLs and the raw text (words and
 * bytes counted by Python's re.split, a visible skip without python3); several models in one
 * run equal to each model's own run; provenance keys; usage errors; progress on and off; a run
 * that fails leaves no --dump-nll file behind.
 * Every tolerance check fails on NaN. */
#include <criterion/criterion.h>
#include <glob.h>
#include <math.h>

#include "sparsa_eval.h"
#include "sparsa_workbench.h"
#include "tu_cli.h"
#include "tu_eval.h"
#include "tu_poison.h"

#define DIR "tests/fixtures/perplexity/"
#define LLAMA DIR "ppl-llama.sparsa"
#define SPARSE DIR "ppl-asentmax.sparsa"

/* |a - b| <= rel |b|: false when either is NaN. */
static int close_rel(double a, double b, double rel) { return fabs(a - b) <= rel * fabs(b); }

static void parse_json(const char *text, sp_jv *doc) {
    sp_error err = {0};
    cr_assert_eq(sp_jv_parse(text, strlen(text), doc, &err), 0, "%s", err.msg);
}

static double num(const sp_jv *o, const char *key) {
    const sp_jv *v = sp_jv_get(o, key);
    cr_assert(v && v->type == SP_JV_NUMBER, "no number %s", key);
    return v->number;
}

static const char *str(const sp_jv *o, const char *key) {
    const sp_jv *v = sp_jv_get(o, key);
    cr_assert(v && v->type == SP_JV_STRING, "no string %s", key);
    return v->str;
}

/* Per file of the dump: Σ nll, count, and per bucket of B (by position) Σ nll and count. */
#define MAXB 128
typedef struct dump_file {
    char file[256];
    double sum, bsum[MAXB];
    uint64_t n, bn[MAXB];
} dump_file;

static size_t read_dump(const char *path, size_t B, dump_file *out, size_t max) {
    FILE *f = fopen(path, "r");
    cr_assert(f, "no dump %s", path);
    char line[1024];
    size_t nf = 0, lines = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || !strncmp(line, "model\t", 6)) continue;
        char model[256], file[256];
        size_t ctx, doc, win, pos;
        int tok;
        double nll;
        cr_assert_eq(sscanf(line, "%255[^\t]\t%255[^\t]\t%zu\t%zu\t%zu\t%zu\t%d\t%lf", model, file,
                            &ctx, &doc, &win, &pos, &tok, &nll), 8, "bad dump line %s", line);
        size_t i = 0;
        while (i < nf && strcmp(out[i].file, file)) i++;
        if (i == nf) {
            cr_assert(nf < max);
            memset(&out[nf], 0, sizeof out[nf]);
            snprintf(out[nf++].file, sizeof out[0].file, "%s", file);
        }
        out[i].sum += nll;
        out[i].n++;
        cr_assert(B && pos / B < MAXB);
        out[i].bsum[pos / B] += nll;
        out[i].bn[pos / B]++;
        lines++;
    }
    fclose(f);
    cr_assert(lines > 0);
    return nf;
}

/* Buckets and their token-weighted mean against the dump, for every result of doc. */
static void check_buckets(const sp_jv *doc, const dump_file *df, size_t nf, size_t B) {
    const sp_jv *res = sp_jv_get(doc, "results");
    cr_assert(res && res->n == nf);
    for (size_t i = 0; i < res->n; i++) {
        const sp_jv *r = &res->items[i];
        const dump_file *d = NULL;
        for (size_t j = 0; j < nf; j++)
            if (!strcmp(df[j].file, str(r, "file"))) d = &df[j];
        cr_assert(d, "no dump lines for %s", str(r, "file"));
        const sp_jv *bk = sp_jv_get(r, "by_position");
        cr_assert(bk && bk->type == SP_JV_ARRAY && bk->n > 0);
        double weighted = 0;
        uint64_t tokens = 0;
        for (size_t b = 0; b < bk->n; b++) {
            const sp_jv *o = &bk->items[b];
            size_t start = (size_t)num(o, "start"), k = start / B;
            cr_assert_eq(start % B, 0);
            cr_assert_eq((uint64_t)num(o, "tokens"), d->bn[k]);
            double mean = d->bsum[k] / (double)d->bn[k];
            cr_assert(close_rel(num(o, "mean_nll"), mean, 1e-12), "%.17g vs %.17g",
                      num(o, "mean_nll"), mean);
            cr_assert(close_rel(num(o, "ppl"), exp(mean), 1e-12));
            weighted += num(o, "mean_nll") * num(o, "tokens");
            tokens += (uint64_t)num(o, "tokens");
        }
        cr_assert_eq(tokens, (uint64_t)num(r, "tokens_scored"));
        cr_assert_eq(d->n, tokens);
        cr_assert(close_rel(weighted / (double)tokens, num(r, "mean_nll"), 1e-12));
        cr_assert(close_rel(d->sum / (double)d->n, num(r, "mean_nll"), 1e-12));
    }
}

Test(perplexity_workbench, buckets_equal_the_dumped_nlls) {
    const char *protocols[] = {"--ctx 64 --by-position 10", "--ctx 48 --by-position 7 --score "
                               "second-half", "--ctx 32 --by-position 5 --stride 8"};
    for (size_t p = 0; p < 3; p++) {
        char *dump = tu_temp_file("", 0, ".tsv"), args[512], *out = NULL, *err = NULL;
        remove(dump);
        size_t B = (size_t)atoi(strstr(protocols[p], "by-position ") + 12);
        snprintf(args, sizeof args, "perplexity " LLAMA " " DIR "psalms.txt " DIR "mixed.txt %s "
                 "--json --threads 2 --dump-nll %s", protocols[p], dump);
        cr_assert_eq(tu_run_sparsa(args, &out, &err), 0, "%s: %s", args, err);
        dump_file df[4];
        size_t nf = read_dump(dump, B, df, 4);
        sp_jv doc;
        parse_json(out, &doc);
        check_buckets(&doc, df, nf, B);
        sp_jv_free(&doc);
        remove(dump);
        free(dump);
        free(out);
        free(err);
    }
}

/* lm-evaluation-harness's windows, transcribed: (input, predicted) pairs, then the disjoint
 * form (context, continuation); the model sees (context + continuation)[:-1]. */
static void harness_window(const int32_t *t, size_t n, size_t L, int32_t prefix, size_t want,
                           int32_t *seq, size_t *len, size_t *npred, int *found) {
    size_t predicted = 0, idx = 0, first = n < L ? n : L;
    *found = 0;
    if (want == idx) { /* [prefix] + t[:first-1], t[:first] */
        seq[0] = prefix;
        for (size_t i = 0; i < first; i++) seq[1 + i] = t[i];
        *len = first + 1, *npred = first, *found = 1;
        return;
    }
    predicted = first;
    while (predicted < n) {
        idx++;
        size_t wpl = n - predicted < L ? n - predicted : L; /* pred_len = L - 1 + 1 */
        size_t end = predicted + wpl;
        if (idx == want) { /* input t[end-L-1 : end-1], pred t[end-wpl : end] */
            for (size_t i = 0; i <= L; i++) seq[i] = t[end - L - 1 + i];
            *len = L + 1, *npred = wpl, *found = 1;
            return;
        }
        predicted += wpl;
    }
}

Test(perplexity_workbench, rolling_windows_match_the_harness) {
    /* the harness's own test: 34 tokens, max_seq_len 10, prefix -100 */
    int32_t doc[300], seq[64], ref[64];
    for (int i = 0; i < 300; i++) doc[i] = i;
    cr_assert_eq(sp_ppl_rolling_count(34, 10), 4);
    size_t len, from = sp_ppl_rolling_window(doc, 34, 10, -100, 3, seq, &len);
    cr_assert_eq(len, 11);
    cr_assert_eq(seq[0], 23); /* fed 23..32 */
    cr_assert_eq(seq[from], 30); /* predicted 30..33 */
    for (size_t L = 2; L <= 12; L++)
        for (size_t n = 1; n <= 40; n++) {
            size_t w = sp_ppl_rolling_count(n, L), scored = 0;
            for (size_t j = 0; j <= w; j++) {
                size_t rlen = 0, npred = 0;
                int found;
                harness_window(doc, n, L, -1, j, ref, &rlen, &npred, &found);
                cr_assert_eq(found, j < w, "n %zu L %zu window %zu", n, L, j);
                if (!found) break;
                size_t f = sp_ppl_rolling_window(doc, n, L, -1, j, seq, &len);
                cr_assert_eq(len, rlen);
                cr_assert_eq(len - f, npred, "n %zu L %zu window %zu", n, L, j);
                cr_assert(len - 1 <= L);
                cr_assert_eq(memcmp(seq, ref, len * sizeof *seq), 0);
                scored += npred;
            }
            cr_assert_eq(scored, n);
        }
}

Test(perplexity_workbench, words_follow_python_split) {
    cr_assert_eq(sp_count_words("a b", 3), 2);
    cr_assert_eq(sp_count_words("a  b\n", 5), 3);
    cr_assert_eq(sp_count_words(" a", 2), 2);
    cr_assert_eq(sp_count_words("", 0), 1);
    cr_assert_eq(sp_count_words("a\xc2\xa0" "b\xe3\x80\x80" "c\xe2\x80\x8b" "d", 11), 3);
}

/* Words and bytes of a corpus, by Python (lines: each non-empty line a document). */
static int python_counts(const char *path, int lines, double *words, double *bytes) {
    if (system("/usr/bin/python3 -c 'import re' >/dev/null 2>&1") != 0) return 0;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c 'import re,sys; t=open(sys.argv[1],"
             "encoding=\"utf-8\",newline=\"\").read(); d=[l for l in t.split(\"\\n\") if l] if "
             "%d else [t]; print(sum(len(re.split(r\"\\s+\",x)) for x in d), sum(len(x.encode())"
             " for x in d))' %s", lines, path);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    cr_assert_eq(fscanf(p, "%lf %lf", words, bytes), 2);
    pclose(p);
    return 1;
}

static void check_rolling(const char *opts, int lines) {
    char *dump = tu_temp_file("", 0, ".tsv"), args[512], *out = NULL, *err = NULL;
    remove(dump);
    snprintf(args, sizeof args, "perplexity " LLAMA " " DIR "psalms.txt " DIR "mixed.txt --score "
             "rolling %s --by-position 4 --json --threads 2 --dump-nll %s", opts, dump);
    cr_assert_eq(tu_run_sparsa(args, &out, &err), 0, "%s: %s", args, err);
    dump_file df[4];
    size_t nf = read_dump(dump, 4, df, 4);
    sp_jv doc;
    parse_json(out, &doc);
    check_buckets(&doc, df, nf, 4);
    const sp_jv *res = sp_jv_get(&doc, "results");
    for (size_t i = 0; i < res->n; i++) {
        const sp_jv *r = &res->items[i];
        double words, bytes, s = num(r, "mean_nll") * num(r, "tokens_scored");
        if (!python_counts(str(r, "file"), lines, &words, &bytes))
            cr_skip_test("python3 is not installed: words and bytes not recounted");
        cr_assert_eq(num(r, "words"), words);
        cr_assert_eq(num(r, "bytes"), bytes);
        cr_assert(close_rel(num(r, "word_perplexity"), exp(s / words), 1e-12));
        cr_assert(close_rel(num(r, "byte_perplexity"), exp(s / bytes), 1e-12));
        cr_assert(close_rel(num(r, "bits_per_byte"), s / (log(2.0) * bytes), 1e-12));
    }
    sp_jv_free(&doc);
    remove(dump);
    free(dump);
    free(out);
    free(err);
}

Test(perplexity_workbench, rolling_word_and_byte_perplexities) {
    check_rolling("--ctx 64", 0);
    check_rolling("--ctx 16 --docs lines", 1);
}

Test(perplexity_workbench, rolling_scores_every_token_once) {
    char *out = NULL, *err = NULL, *ids = NULL;
    cr_assert_eq(tu_run_sparsa("perplexity " LLAMA " " DIR "mixed.txt --score rolling --ctx 24 "
                               "--json --threads 2", &out, &err), 0, "%s", err);
    cr_assert_eq(tu_run_sparsa("tokenize " LLAMA " - < " DIR "mixed.txt", &ids, NULL), 0);
    size_t n = 0;
    int32_t *v = tu_parse_ids(ids, &n);
    sp_jv doc;
    parse_json(out, &doc);
    const sp_jv *r = &sp_jv_get(&doc, "results")->items[0];
    cr_assert_eq((size_t)num(r, "tokens_scored"), n);
    cr_assert_eq((size_t)num(r, "windows"), (n + 23) / 24);
    sp_jv_free(&doc);
    free(v);
    free(ids);
    free(out);
    free(err);
}

/* The results of one model inside a multi-model document equal its own run's, key by key. */
static void same_results(const sp_jv *multi, const sp_jv *single, const char *model,
                         const char *section) {
    const sp_jv *a = sp_jv_get(multi, section), *b = sp_jv_get(single, section);
    size_t k = 0;
    for (size_t i = 0; i < a->n; i++) {
        const sp_jv *r = &a->items[i];
        if (strcmp(str(r, "model"), model)) continue;
        cr_assert(k < b->n);
        const sp_jv *s = &b->items[k++];
        cr_assert_eq(r->n, s->n);
        for (size_t j = 0; j < s->n; j++) {
            const sp_jv *x = sp_jv_get(r, s->keys[j]);
            cr_assert(x && x->type == s->items[j].type, "%s", s->keys[j]);
            if (x->type == SP_JV_NUMBER)
                cr_assert(x->number == s->items[j].number, "%s: %.17g vs %.17g", s->keys[j],
                          x->number, s->items[j].number);
        }
    }
    cr_assert_eq(k, b->n);
}

Test(perplexity_workbench, several_models_equal_their_own_runs) {
    const char *common = DIR "psalms.txt " DIR "mixed.txt --ctx 32,64 --json --threads 2 "
                         "--max-tokens 900";
    char args[512], *multi = NULL, *one = NULL, *two = NULL;
    snprintf(args, sizeof args, "perplexity " LLAMA " --model " SPARSE " %s", common);
    cr_assert_eq(tu_run_sparsa(args, &multi, NULL), 0);
    snprintf(args, sizeof args, "perplexity " LLAMA " %s", common);
    cr_assert_eq(tu_run_sparsa(args, &one, NULL), 0);
    snprintf(args, sizeof args, "perplexity " SPARSE " %s", common);
    cr_assert_eq(tu_run_sparsa(args, &two, NULL), 0);
    sp_jv m, a, b;
    parse_json(multi, &m);
    parse_json(one, &a);
    parse_json(two, &b);
    same_results(&m, &a, LLAMA, "results");
    same_results(&m, &a, LLAMA, "average");
    same_results(&m, &b, SPARSE, "results");
    same_results(&m, &b, SPARSE, "average");
    /* provenance: version, each model's SHA-256 (as sha256sum prints it), the settings */
    cr_assert(strlen(str(&m, "sparsa_version")) > 0);
    const sp_jv *models = sp_jv_get(&m, "models");
    cr_assert(models && models->n == 2);
    for (size_t i = 0; i < 2; i++) {
        char cmd[256], hex[65] = {0};
        snprintf(cmd, sizeof cmd, "sha256sum %s", str(&models->items[i], "file"));
        FILE *p = popen(cmd, "r");
        cr_assert(p && fscanf(p, "%64s", hex) == 1);
        pclose(p);
        cr_assert_str_eq(str(&models->items[i], "sha256"), hex);
    }
    const sp_jv *set = sp_jv_get(&m, "settings");
    cr_assert_eq(num(set, "max_tokens"), 900);
    cr_assert_eq(sp_jv_get(set, "contexts")->n, 2);
    cr_assert_str_eq(str(set, "device"), "cpu");
    cr_assert_str_eq(str(set, "precision"), "fp32");
    cr_assert_null(sp_jv_get(set, "threads"));
    sp_jv_free(&m);
    sp_jv_free(&a);
    sp_jv_free(&b);
    free(multi);
    free(one);
    free(two);
}

Test(perplexity_workbench, bad_combinations_and_outputs) {
    const char *c = "perplexity " LLAMA " " DIR "psalms.txt ";
    const char *cases[][2] = {
        {"--docs lines", "--docs"}, {"--score rolling --max-tokens 10", "--max-tokens"},
        {"--score rolling --stride 4", "--stride"}, {"--progress --quiet", "--quiet"},
        {"--by-position 0", "--by-position"}, {"--dump-nll " LLAMA, LLAMA},
        {"--dump-nll /tmp", "/tmp"}, {"--model " LLAMA, "given twice"},
        {"--model tests/fixtures/models/hf-llama-f32.sparsa", "no tokenizer"},
        {"--model /nonexistent.sparsa", "/nonexistent.sparsa"}, {"--docs pages", "--docs"},
    };
    char args[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, "%s%s", c, cases[i][0]);
        tu_expect_bad(args, cases[i][1]);
    }
}

Test(perplexity_workbench, progress_forced_and_quiet) {
    char *out = NULL, *err = NULL;
    cr_assert_eq(tu_run_sparsa("perplexity " LLAMA " " DIR "psalms.txt --ctx 64 --max-tokens 300"
                               " --progress", &out, &err), 0);
    cr_assert(strstr(err, "window 4/4") && strstr(err, " ppl "), "%s", err);
    free(out);
    free(err);
    cr_assert_eq(tu_run_sparsa("perplexity " LLAMA " " DIR "psalms.txt --ctx 64 --max-tokens 300"
                               " --quiet", &out, &err), 0);
    cr_assert_str_eq(err, "");
    free(out);
    free(err);
}

/* A second model whose every logit is NaN: exit 1 naming it, and the dump (already holding
 * the first model's lines) neither renamed into place nor left as a temporary. */
Test(perplexity_workbench, a_failed_run_leaves_no_dump) {
    char dir[] = "/tmp/sparsa_ppl_dumpXXXXXX", nan[256], dump[256], args[1024];
    cr_assert(mkdtemp(dir));
    snprintf(nan, sizeof nan, "%s/nan.sparsa", dir);
    snprintf(dump, sizeof dump, "%s/nll.tsv", dir);
    cr_assert_eq(tu_poison_model(LLAMA, nan, "model.norm.weight", 0, 48), 0);
    snprintf(args, sizeof args, "perplexity " LLAMA " --model %s " DIR "psalms.txt --ctx 64 "
             "--max-tokens 200 --threads 2 --dump-nll %s", nan, dump);
    char *out = NULL, *err = NULL;
    cr_assert_eq(tu_run_sparsa(args, &out, &err), 1, "%s", err);
    cr_assert(strstr(err, "non-finite NLL") && strstr(err, nan), "%s", err);
    cr_assert_str_eq(out, "");
    char pattern[300];
    snprintf(pattern, sizeof pattern, "%s/*", dir); /* the temporary is a dot file: */
    glob_t g;
    cr_assert_eq(glob(pattern, GLOB_PERIOD, NULL, &g), 0);
    size_t others = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *base = strrchr(g.gl_pathv[i], '/') + 1;
        if (strcmp(base, ".") && strcmp(base, "..") && strcmp(base, "nan.sparsa")) others++;
    }
    globfree(&g);
    cr_assert_eq(others, 0, "the dump or its temporary was left in %s", dir);
    remove(nan);
    rmdir(dir);
    free(out);
    free(err);
}
