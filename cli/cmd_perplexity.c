/* cmd_perplexity.c — `sparsa perplexity FILE CORPUS...`: parse, check every input before any
 * heavy work, tokenize each corpus once, run every (ctx, file) under one protocol, print. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "sparsa_eval.h"
#include "sparsa_interp.h"
#include "sparsa_tokenizer.h"

static const char *usage_text =
    "usage: sparsa perplexity FILE CORPUS... [--ctx N[,N...]] [--score all|second-half]\n"
    "                         [--stride S] [--bos none|prepend|replace] [--max-tokens N]\n"
    "                         [--threads N] [--json] [--stats]\n"
    "\n"
    "Perplexity of the model FILE on UTF-8 text files. Each corpus is tokenized once, as one\n"
    "string, with the tokenizer stored in FILE; for each context length L its tokens are cut\n"
    "into windows of L tokens (README.md, \"Perplexity protocols\", states each protocol).\n"
    "  --ctx N[,N...]       context lengths (default: 512, or the model's context length if\n"
    "                       smaller)\n"
    "  --score all          score every token of a window but its first (default)\n"
    "  --score second-half  llama.cpp's llama-perplexity -c L exactly: BOS + tokens, each\n"
    "                       window's first token replaced by BOS, targets L/2+1 .. L-1\n"
    "  --stride S           Hugging Face sliding window: a window every S tokens, each scoring\n"
    "                       its last S targets (the first window all of them)\n"
    "  --bos none|prepend|replace\n"
    "                       none (default): windows as they are; replace: first token := BOS;\n"
    "                       prepend: BOS + L-1 corpus tokens, all scored\n"
    "  --max-tokens N       use only the first N tokens of each corpus\n"
    "  --threads N          threads (results are identical for any N)\n"
    "  --json               one JSON document on stdout\n"
    "  --stats              attention sparsity per layer and head: mean support size and\n"
    "                       fraction of exactly-zero attention weights\n";

/* Errors from the model reader name a field and offset; the CLI line also names the file. */
static void name_the_file(sp_error *err, const char *path) {
    if (strstr(err->msg, path)) return;
    char tmp[sizeof err->msg];
    size_t n = strlen(path);
    if (n > sizeof tmp / 2) n = sizeof tmp / 2;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ": ", 2);
    size_t m = strnlen(err->msg, sizeof tmp - n - 3);
    memcpy(tmp + n + 2, err->msg, m);
    tmp[n + 2 + m] = 0;
    memcpy(err->msg, tmp, sizeof tmp);
}

#define CMD "perplexity"

typedef struct corpus_tokens {
    const char *path;
    int32_t *ids;
    size_t n;
} corpus_tokens;

static int parse_size(const char *s, size_t *out) {
    if (!s || !*s || *s < '0' || *s > '9') return -1;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v == 0 || v > (1ull << 40)) return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_ctx_list(const char *s, size_t **ctx, size_t *n) {
    size_t cap = 8, k = 0;
    size_t *v = malloc(cap * sizeof *v);
    char *copy = strdup(s);
    if (!v || !copy) {
        free(v);
        free(copy);
        return -1;
    }
    char *save = NULL;
    int bad = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (k == cap) {
            size_t *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) {
                bad = 1;
                break;
            }
            v = nv;
        }
        if (parse_size(tok, &v[k++])) {
            bad = 1;
            break;
        }
    }
    free(copy);
    if (bad || k == 0 || s[strlen(s) - 1] == ',') {
        free(v);
        return -1;
    }
    *ctx = v;
    *n = k;
    return 0;
}

/* The progress line goes to stderr only when it is a terminal. */
typedef struct progress {
    int on;
    double t0;
    uint64_t done, total;
} progress;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress_show(progress *p, size_t ctx, const char *file, size_t k, size_t w) {
    if (!p->on) return;
    double dt = now_s() - p->t0;
    double rate = dt > 0 ? (double)p->done / dt : 0;
    fprintf(stderr, "\r\033[Kctx %zu  %s  window %zu/%zu  %.0f%%  %.0f tokens/s", ctx, file, k,
            w, p->total ? 100.0 * (double)p->done / (double)p->total : 100.0, rate);
    fflush(stderr);
}

typedef struct run_state {
    sp_ppl_row *rows;
    size_t n_rows;
    /* --stats storage, freed at the end */
    sp_head_sparsity **sparsity_blocks;
    const sp_head_sparsity **sparsity_ptrs;
    size_t n_blocks;
    int *heads;
} run_state;

static int collect_stats(sp_model *m, sp_session *s, run_state *st, sp_ppl_row *row,
                         sp_error *err) {
    size_t layers = sp_model_layer_count(m);
    if (!layers) return SP_OK;
    size_t total = 0;
    for (size_t l = 0; l < layers; l++) total += (size_t)st->heads[l];
    sp_head_sparsity *block = calloc(total ? total : 1, sizeof *block);
    const sp_head_sparsity **ptrs = calloc(layers, sizeof *ptrs);
    if (!block || !ptrs) {
        free(block);
        free(ptrs);
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    }
    st->sparsity_blocks[st->n_blocks] = block;
    st->sparsity_ptrs[st->n_blocks] = (const sp_head_sparsity *)ptrs; /* freed with the block */
    st->n_blocks++;
    size_t off = 0;
    for (size_t l = 0; l < layers; l++) {
        const sp_head_stats *hs = sp_session_stats(s, l);
        ptrs[l] = block + off;
        for (int h = 0; h < st->heads[l]; h++) {
            sp_head_sparsity *o = &block[off + (size_t)h];
            o->mean_support = hs && hs[h].rows ? (double)hs[h].support / (double)hs[h].rows : NAN;
            o->zero_fraction = hs && hs[h].visible
                                   ? 1.0 - (double)hs[h].support / (double)hs[h].visible
                                   : NAN;
        }
        off += (size_t)st->heads[l];
    }
    row->layers = layers;
    row->heads = st->heads;
    row->sparsity = ptrs;
    return SP_OK;
}

int cmd_perplexity(int argc, char **argv) {
    const char *model_path = NULL;
    const char **corpora = calloc((size_t)argc + 1, sizeof *corpora);
    size_t n_corpora = 0, *ctx = NULL, n_ctx = 0, max_tokens = 0, threads = 0;
    sp_ppl_protocol proto = {SP_SCORE_ALL, SP_BOS_NONE, 0};
    int json = 0, stats = 0, rc = 0;
    if (!corpora) return 1;
#define USAGE(...)                                   \
    do {                                             \
        rc = cli_usage_error(CMD, __VA_ARGS__);      \
        goto out_args;                               \
    } while (0)
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            goto out_args;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--stats")) {
            stats = 1;
        } else if (!strcmp(a, "--ctx")) {
            free(ctx);
            ctx = NULL;
            if (!val || parse_ctx_list(val, &ctx, &n_ctx))
                USAGE("--ctx needs positive integers separated by commas");
            i++;
        } else if (!strcmp(a, "--score")) {
            if (val && !strcmp(val, "all")) proto.score = SP_SCORE_ALL;
            else if (val && !strcmp(val, "second-half")) proto.score = SP_SCORE_SECOND_HALF;
            else USAGE("--score must be all or second-half");
            i++;
        } else if (!strcmp(a, "--bos")) {
            if (val && !strcmp(val, "none")) proto.bos = SP_BOS_NONE;
            else if (val && !strcmp(val, "prepend")) proto.bos = SP_BOS_PREPEND;
            else if (val && !strcmp(val, "replace")) proto.bos = SP_BOS_REPLACE;
            else USAGE("--bos must be none, prepend or replace");
            i++;
        } else if (!strcmp(a, "--stride")) {
            if (parse_size(val, &proto.stride)) USAGE("--stride needs a positive integer");
            i++;
        } else if (!strcmp(a, "--max-tokens")) {
            if (parse_size(val, &max_tokens)) USAGE("--max-tokens needs a positive integer");
            i++;
        } else if (!strcmp(a, "--threads")) {
            if (parse_size(val, &threads) || threads > 4096)
                USAGE("--threads needs a positive integer");
            i++;
        } else if (a[0] == '-' && a[1]) {
            USAGE("unknown option '%s'", a);
        } else if (!model_path) {
            model_path = a;
        } else {
            corpora[n_corpora++] = a;
        }
    }
    if (!model_path) USAGE("missing the model FILE");
    if (!n_corpora) USAGE("missing a CORPUS file");
    if (proto.stride && proto.score == SP_SCORE_SECOND_HALF)
        USAGE("--stride cannot be combined with --score second-half");
#undef USAGE

    sp_error err = {0};
    sp_model *model = NULL;
    sp_tokenizer *tok = NULL;
    sp_session *sess = NULL;
    corpus_tokens *ct = NULL;
    run_state st = {0};
    sp_ppl_acc *file_acc = NULL;

    if (threads) omp_set_num_threads((int)threads);
    if ((rc = sp_model_open(model_path, &model, &err))) {
        name_the_file(&err, model_path);
        goto fail;
    }
    int32_t vocab = sp_model_vocab_size(model);
    uint64_t model_ctx = sp_model_context_length(model);
    if (!ctx) {
        n_ctx = 1;
        ctx = malloc(sizeof *ctx);
        if (!ctx) {
            rc = sp_fail(&err, SP_ERR_RUNTIME, "out of memory");
            goto fail;
        }
        ctx[0] = model_ctx && model_ctx < 512 ? (size_t)model_ctx : 512;
    }
    size_t max_ctx = 0;
    for (size_t c = 0; c < n_ctx; c++) {
        if (model_ctx && ctx[c] > model_ctx) {
            rc = sp_fail(&err, SP_ERR_INPUT, "context %zu exceeds %s's context length %llu",
                         ctx[c], model_path, (unsigned long long)model_ctx);
            goto fail;
        }
        sp_ppl_plan probe;
        /* Protocol checks that do not depend on the corpus (ctx too small, stride too big). */
        if (sp_ppl_plan_make(&proto, ctx[c], (size_t)1 << 40, &probe, &err)) {
            rc = SP_ERR_INPUT;
            goto fail;
        }
        if (ctx[c] > max_ctx) max_ctx = ctx[c];
    }

    size_t tlen = 0;
    const void *tbytes = sp_file_tokenizer(sp_model_file(model), &tlen);
    if (!tbytes || !tlen) {
        rc = sp_fail(&err, SP_ERR_INPUT, "%s holds no tokenizer (convert it with --tokenizer "
                     "SPM.model)", model_path);
        goto fail;
    }
    if ((rc = sp_tokenizer_load_bytes(tbytes, tlen, &tok, &err))) goto fail;
    if (sp_tokenizer_vocab_size(tok) > vocab) {
        rc = sp_fail(&err, SP_ERR_INPUT, "%s: the tokenizer has %d pieces but the model only "
                     "%d logits", model_path, (int)sp_tokenizer_vocab_size(tok), (int)vocab);
        goto fail;
    }
    int32_t bos = sp_tokenizer_bos(tok);
    int needs_bos = proto.score == SP_SCORE_SECOND_HALF || proto.bos != SP_BOS_NONE;
    if (needs_bos && bos < 0) {
        rc = sp_fail(&err, SP_ERR_INPUT, "%s: the tokenizer defines no BOS, which this protocol "
                     "needs", model_path);
        goto fail;
    }

    /* Every corpus: read, validate, tokenize once, check it is long enough for every ctx. */
    ct = calloc(n_corpora, sizeof *ct);
    if (!ct) {
        rc = sp_fail(&err, SP_ERR_RUNTIME, "out of memory");
        goto fail;
    }
    uint64_t total_windows_tokens = 0;
    for (size_t f = 0; f < n_corpora; f++) {
        char *text = NULL;
        size_t len = 0;
        ct[f].path = corpora[f];
        if ((rc = sp_corpus_read(corpora[f], &text, &len, &err))) goto fail;
        rc = sp_tokenizer_encode(tok, text, len, &ct[f].ids, &ct[f].n, &err);
        free(text);
        if (rc) goto fail;
        if (max_tokens && ct[f].n > max_tokens) ct[f].n = max_tokens;
        for (size_t c = 0; c < n_ctx; c++) {
            sp_ppl_plan plan;
            sp_error perr = {0};
            if (sp_ppl_plan_make(&proto, ctx[c], ct[f].n, &plan, &perr)) {
                rc = sp_fail(&err, SP_ERR_INPUT, "%s: %s", corpora[f], perr.msg);
                goto fail;
            }
            total_windows_tokens += (uint64_t)plan.windows * ctx[c];
        }
    }

    if ((rc = sp_session_create(model, max_ctx, (int)threads, &sess, &err))) goto fail;
    if (stats) sp_session_enable_stats(sess, 1);

    st.rows = calloc(n_ctx * (n_corpora + 1), sizeof *st.rows);
    file_acc = calloc(n_corpora, sizeof *file_acc);
    int32_t *input = malloc(max_ctx * sizeof *input);
    size_t layers = sp_model_layer_count(model);
    st.heads = calloc(layers ? layers : 1, sizeof *st.heads);
    st.sparsity_blocks = calloc(n_ctx * n_corpora + 1, sizeof *st.sparsity_blocks);
    st.sparsity_ptrs = calloc(n_ctx * n_corpora + 1, sizeof *st.sparsity_ptrs);
    if (!st.rows || !file_acc || !input || !st.heads || !st.sparsity_blocks ||
        !st.sparsity_ptrs) {
        free(input);
        rc = sp_fail(&err, SP_ERR_RUNTIME, "out of memory");
        goto fail;
    }
    for (size_t l = 0; l < layers; l++) st.heads[l] = sp_model_attention_heads(model, l);

    progress prog = {isatty(2), now_s(), 0, total_windows_tokens};
    for (size_t c = 0; c < n_ctx && !rc; c++) {
        sp_ppl_acc all;
        sp_ppl_acc_init(&all);
        for (size_t f = 0; f < n_corpora && !rc; f++) {
            sp_ppl_plan plan;
            sp_ppl_plan_make(&proto, ctx[c], ct[f].n, &plan, &err); /* checked above */
            sp_ppl_acc_init(&file_acc[f]);
            if (stats) sp_session_reset_stats(sess);
            for (size_t k = 0; k < plan.windows && !rc; k++) {
                progress_show(&prog, ctx[c], ct[f].path, k, plan.windows);
                size_t from = sp_ppl_window_input(&plan, ct[f].ids, ct[f].n, bos, k, input);
                rc = sp_ppl_run_window(sess, vocab, input, ctx[c], from, &file_acc[f], &err);
                prog.done += ctx[c];
            }
            if (rc) break;
            sp_ppl_row *row = &st.rows[st.n_rows++];
            row->file = ct[f].path;
            row->files = 1;
            row->ctx = ctx[c];
            sp_ppl_result_of(&file_acc[f], &row->r);
            if (stats && (rc = collect_stats(model, sess, &st, row, &err))) break;
            sp_ppl_acc_merge(&all, &file_acc[f]);
        }
        if (rc) break;
        sp_ppl_row *avg = &st.rows[st.n_rows++];
        avg->file = NULL;
        avg->files = n_corpora;
        avg->ctx = ctx[c];
        sp_ppl_result_of(&all, &avg->r);
    }
    free(input);
    if (prog.on) fputs("\r\033[K", stderr);
    if (rc) goto fail;

    sp_ppl_report_info info = {model_path, &proto, ctx, n_ctx};
    if (json) sp_ppl_print_json(stdout, &info, st.rows, st.n_rows);
    else sp_ppl_print_table(stdout, &info, st.rows, st.n_rows);
    if (fflush(stdout) != 0) rc = sp_fail(&err, SP_ERR_RUNTIME, "cannot write standard output");

fail:
    if (rc) rc = cli_report(CMD, &err);
    for (size_t i = 0; i < st.n_blocks; i++) {
        free(st.sparsity_blocks[i]);
        free((void *)st.sparsity_ptrs[i]);
    }
    free(st.sparsity_blocks);
    free(st.sparsity_ptrs);
    free(st.heads);
    free(st.rows);
    free(file_acc);
    if (ct)
        for (size_t f = 0; f < n_corpora; f++) free(ct[f].ids);
    free(ct);
    sp_session_free(sess);
    sp_tokenizer_free(tok);
    sp_model_free(model);
out_args:
    free(ctx);
    free(corpora);
    return rc;
}
