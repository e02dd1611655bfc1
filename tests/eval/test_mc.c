/* test_mc.c — `sparsa mc` on the hand-made task files (tests/fixtures/mc/, one per layout):
 * the prompts equal the ones lm-evaluation-harness builds (written out here as
 * tests/reference/workbench_prompts.py prints them from that harness's task code), and
 * acc/acc_norm with their standard errors and every log-likelihood equal a direct computation
 * from `sparsa logits --out`, with the pair tokenized here as lm-evaluation-harness does. */
#include <criterion/criterion.h>
#include <math.h>

#include "sparsa_tokenizer.h"
#include "sparsa_workbench.h"
#include "tu_eval.h"

#define MODEL "tests/fixtures/perplexity/ppl-llama.sparsa"
#define DIR "tests/fixtures/mc/"
#define VOCAB 2000

static int close_rel(double got, double want, double rel) {
    return fabs(got - want) <= rel * fabs(want) + 1e-300;
}

static int same_nan_or_close(double got, double want) {
    return (isnan(got) && isnan(want)) || close_rel(got, want, 1e-12);
}

static void read_set(const char *file, sp_mc_format f, sp_mc_set *set) {
    sp_error e = {0};
    cr_assert_eq(sp_mc_read(file, f, set, &e), 0, "%s", e.msg);
}

static void expect_choice(const sp_mc_item *it, size_t c, const char *ctx, const char *cont) {
    cr_assert_str_eq(it->context[c], ctx);
    cr_assert_str_eq(it->continuation[c], cont);
    cr_assert_eq(it->norm_bytes[c], strlen(cont) - 1);
}

Test(mc, hellaswag_prompts_as_lm_evaluation_harness) {
    sp_mc_set s;
    read_set(DIR "hellaswag.jsonl", SP_MC_HELLASWAG, &s);
    cr_assert_eq(s.n, 3);
    const char *q0 = "Shepherds: The shepherd leads his flock beside the still waters. He";
    expect_choice(&s.items[0], 0, q0, " restoreth my soul and leadeth me in the paths of righteousness.");
    expect_choice(&s.items[0], 1, q0, " sells the water. to the king.");
    expect_choice(&s.items[0], 2, q0, " flies  over the mountains.");
    const char *q1 = "Building a house: A wise man built his house upon a rock. The rain descended. "
                     "And the floods came";
    expect_choice(&s.items[1], 1, q1, " and he went to the market.");
    cr_assert_eq(s.items[1].gold, 0, "label given as the string \"0\"");
    sp_mc_set_free(&s);
    char *c = sp_mc_hellaswag_clean("  a [title] b [x] c    d\n");
    cr_assert_str_eq(c, "a. b c  d");
    free(c);
}

Test(mc, winogrande_arc_generic_prompts) {
    sp_mc_set s;
    read_set(DIR "winogrande.jsonl", SP_MC_WINOGRANDE, &s);
    expect_choice(&s.items[0], 0, "The shepherd gave water to the sheep because the shepherd", " was thirsty.");
    expect_choice(&s.items[0], 1, "The shepherd gave water to the sheep because the sheep", " was thirsty.");
    cr_assert_eq(s.items[0].gold, 1);
    sp_mc_set_free(&s);
    read_set(DIR "arc.jsonl", SP_MC_ARC, &s);
    cr_assert_eq(s.n, 3, "a blank line is skipped");
    expect_choice(&s.items[1], 0, "Question: In the beginning God created what?\nAnswer:",
                  " the heaven and the earth");
    cr_assert_eq(s.items[1].gold, 0);
    sp_mc_set_free(&s);
    read_set(DIR "generic.jsonl", SP_MC_GENERIC, &s);
    expect_choice(&s.items[1], 0, "The Lord is my shepherd; ", " I shall not want.");
    sp_mc_set_free(&s);
}

/* lm-evaluation-harness's _encode_pair: trailing white space of the context moves to the
 * continuation; the continuation's tokens are those of the whole after the context's. */
static int32_t *pair_tokens(sp_tokenizer *tok, const char *ctx, const char *cont, size_t *n,
                            size_t *n_cont) {
    size_t keep = strlen(ctx);
    while (keep && strchr(" \t\n", ctx[keep - 1])) keep--;
    char *whole = malloc(strlen(ctx) + strlen(cont) + 1);
    strcpy(whole, ctx);
    strcat(whole, cont);
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    sp_error e = {0};
    cr_assert_eq(sp_tokenizer_encode(tok, ctx, keep, &a, &na, &e), 0);
    cr_assert_eq(sp_tokenizer_encode(tok, whole, strlen(whole), &b, &nb, &e), 0);
    size_t lead = na == 0; /* an empty context is preceded by BOS */
    int32_t *seq = malloc((lead + nb + 1) * sizeof *seq);
    if (lead) seq[0] = sp_tokenizer_bos(tok);
    if (na) memcpy(seq + lead, a, na * sizeof *a); /* a may be NULL when na is 0 */
    memcpy(seq + lead + na, b + na, (nb - na) * sizeof *b);
    *n = lead + nb;
    *n_cont = nb - na;
    free(a);
    free(b);
    free(whole);
    return seq;
}

static double direct_loglik(sp_tokenizer *tok, const char *ctx, const char *cont) {
    size_t n, m;
    int32_t *seq = pair_tokens(tok, ctx, cont, &n, &m);
    char *ids = malloc(n * 12 + 1), *p = ids;
    for (size_t i = 0; i + 1 < n; i++) p += sprintf(p, "%s%d", i ? "," : "", (int)seq[i]);
    char *out = tu_temp_file("", 0, ".f32"), *args = malloc(strlen(ids) + 512), *err = NULL;
    sprintf(args, "logits " MODEL " --tokens %s --out %s", ids, out);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 0, "%s", err);
    size_t len = 0;
    float *x = tu_read_file(out, &len);
    cr_assert_eq(len, (n - 1) * VOCAB * sizeof(float));
    double ll = 0;
    for (size_t r = n - 1 - m; r + 1 < n; r++) {
        const float *row = x + r * VOCAB;
        double mx = row[0], s = 0;
        for (size_t i = 1; i < VOCAB; i++) mx = fmax(mx, row[i]);
        for (size_t i = 0; i < VOCAB; i++) s += exp(row[i] - mx);
        ll += row[seq[r + 1]] - mx - log(s);
    }
    remove(out);
    free(out), free(x), free(args), free(ids), free(err), free(seq);
    return ll;
}

static size_t best(const double *v, size_t n) {
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

static void check_layout(const char *name, sp_mc_format f) {
    char file[128], args[512], *out = NULL, *err = NULL;
    snprintf(file, sizeof file, DIR "%s.jsonl", name);
    char *pred = tu_temp_file("", 0, ".jsonl");
    snprintf(args, sizeof args, "mc " MODEL " %s --format %s --json --predictions %s", file, name,
             pred);
    cr_assert_eq(tu_run_sparsa(args, &out, &err), 0, "%s: %s", args, err);
    sp_jv doc;
    sp_error e = {0};
    cr_assert_eq(sp_jv_parse(out, strlen(out), &doc, &e), 0, "%s", e.msg);
    sp_tokenizer *tok = NULL;
    cr_assert_eq(sp_tokenizer_load_path(MODEL, &tok, &e), 0);
    sp_mc_set s;
    read_set(file, f, &s);
    unsigned char hit[16], hit_norm[16];
    char *lines = tu_read_text(pred), *line = lines;
    for (size_t i = 0; i < s.n; i++) {
        const sp_mc_item *it = &s.items[i];
        double ll[8], norm[8];
        for (size_t c = 0; c < it->n_choices; c++) {
            ll[c] = direct_loglik(tok, it->context[c], it->continuation[c]);
            norm[c] = ll[c] / (double)it->norm_bytes[c];
        }
        hit[i] = best(ll, it->n_choices) == it->gold;
        hit_norm[i] = best(norm, it->n_choices) == it->gold;
        char *nl = strchr(line, '\n');
        sp_jv p;
        cr_assert_eq(sp_jv_parse(line, (size_t)(nl - line), &p, &e), 0, "%s", e.msg);
        const sp_jv *got = sp_jv_get(&p, "loglik");
        for (size_t c = 0; c < it->n_choices; c++)
            cr_assert(close_rel(got->items[c].number, ll[c], 1e-6), "%s q%zu c%zu: %.9f vs %.9f",
                      name, i, c, got->items[c].number, ll[c]);
        sp_jv_free(&p);
        line = nl + 1;
    }
    double acc, se, accn, sen;
    sp_mc_mean_stderr(hit, s.n, &acc, &se);
    sp_mc_mean_stderr(hit_norm, s.n, &accn, &sen);
    cr_assert_eq(sp_jv_get(&doc, "n")->number, (double)s.n);
    const sp_jv *models = sp_jv_get(&doc, "models");
    cr_assert(models && models->n == 1 && sp_jv_get(&models->items[0], "sha256")->len == 64);
    cr_assert_str_eq(sp_jv_get(sp_jv_get(&doc, "settings"), "format")->str, name);
    cr_assert(close_rel(sp_jv_get(&doc, "acc")->number, acc, 1e-12), "%s acc", name);
    cr_assert(close_rel(sp_jv_get(&doc, "acc_norm")->number, accn, 1e-12), "%s acc_norm", name);
    const sp_jv *jse = sp_jv_get(&doc, "acc_stderr"), *jsen = sp_jv_get(&doc, "acc_norm_stderr");
    cr_assert(same_nan_or_close(jse->type == SP_JV_NULL ? NAN : jse->number, se), "%s se", name);
    cr_assert(same_nan_or_close(jsen->type == SP_JV_NULL ? NAN : jsen->number, sen), "%s se", name);
    sp_mc_set_free(&s);
    sp_jv_free(&doc);
    sp_tokenizer_free(tok);
    remove(pred);
    free(pred), free(lines), free(out), free(err);
}

Test(mc, hellaswag_matches_direct, .timeout = 120) { check_layout("hellaswag", SP_MC_HELLASWAG); }
Test(mc, winogrande_matches_direct, .timeout = 120) { check_layout("winogrande", SP_MC_WINOGRANDE); }
Test(mc, arc_matches_direct, .timeout = 120) { check_layout("arc", SP_MC_ARC); }
Test(mc, generic_matches_direct, .timeout = 120) { check_layout("generic", SP_MC_GENERIC); }

Test(mc, layout_told_from_the_keys) {
    const char *names[] = {"hellaswag", "winogrande", "arc", "generic"};
    for (int f = 0; f < 4; f++) {
        char file[128], *out = NULL, *err = NULL, *want = NULL, args[512];
        snprintf(file, sizeof file, DIR "%s.jsonl", names[f]);
        snprintf(args, sizeof args, "mc " MODEL " %s --json --format %s", file, names[f]);
        cr_assert_eq(tu_run_sparsa(args, &want, &err), 0, "%s", err);
        free(err);
        snprintf(args, sizeof args, "mc " MODEL " %s --json", file);
        cr_assert_eq(tu_run_sparsa(args, &out, &err), 0, "%s", err);
        cr_assert_str_eq(out, want, "the same document with and without --format");
        free(out), free(err), free(want);
    }
}

Test(mc, standard_error_as_lm_evaluation_harness) {
    unsigned char h[] = {1, 0, 1, 1};
    double m, se;
    sp_mc_mean_stderr(h, 4, &m, &se);
    cr_assert(close_rel(m, 0.75, 1e-15));
    cr_assert(close_rel(se, sqrt(0.75 / 3) / 2, 1e-15), "sample sd / sqrt(n): %g", se);
    sp_mc_mean_stderr(h, 1, &m, &se);
    cr_assert(isnan(se), "one question: no standard error");
    cr_assert(!close_rel(NAN, 0.75, 1e-6), "NaN fails");
}

static void expect_bad(const char *args, const char *needle) {
    char *err = NULL;
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 2, "%s: %s", args, err);
    cr_assert(strstr(err, needle), "%s: %s", args, err);
    cr_assert_eq(tu_line_count(err), 1, "%s", err);
    free(err);
}

Test(mc, bad_input_is_one_line_exit_2) {
    char *unknown = tu_temp_file("{\"q\": 1}\n", 9, ".jsonl"), a2[256];
    snprintf(a2, sizeof a2, "mc " MODEL " %s", unknown);
    expect_bad(a2, "cannot tell the layout");
    remove(unknown);
    free(unknown);
    expect_bad("mc " MODEL " " DIR "arc.jsonl --format generic", "line 1 (generic layout)");
    expect_bad("mc " MODEL " " DIR "arc.jsonl --format quiz", "--format");
    char *bad = tu_temp_file("{\"context\": \"a\", \"choices\": [\"b\", \"c\",], \"label\": 0}\n",
                             52, ".jsonl");
    char args[256];
    snprintf(args, sizeof args, "mc " MODEL " %s --format generic", bad);
    expect_bad(args, "line 1");
    remove(bad);
    free(bad);
    bad = tu_temp_file("{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"label\": 2}\n", 51,
                       ".jsonl");
    snprintf(args, sizeof args, "mc " MODEL " %s --format generic", bad);
    expect_bad(args, "past the last choice");
    remove(bad);
    free(bad);
}
