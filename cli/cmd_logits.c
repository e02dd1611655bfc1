/* cmd_logits.c — `sparsa logits FILE --tokens 5,17,3 [--out PATH] [--threads N]`.
 *
 * Runs the model on the ids in one batched forward. With --out, writes float32 little-endian
 * row-major [n_tokens, vocab] atomically (a temporary beside PATH, renamed when complete;
 * PATH may not be an input, a link, a device, a FIFO or a folder); otherwise prints, per
 * position, the five largest logits and their ids. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "sparsa_eval.h"
#include "token_ids.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cmd_logits writes host floats as little-endian"
#endif

#define CMD "logits"
/* The longest --tokens list accepted when the model sets no context length. */
#define LOGITS_MAX_TOKENS (1u << 20)

typedef struct logits_options {
    const char *tokens, *out;
    uint64_t threads;
} logits_options;

static const cli_option options[] = {
    {.name = "--tokens", .kind = CLI_STRING, .offset = offsetof(logits_options, tokens),
     .metavar = "IDS", .help = "comma-separated token ids, e.g. 5,17,3"},
    {.name = "--out", .kind = CLI_STRING, .offset = offsetof(logits_options, out),
     .metavar = "PATH", .help = "write float32 little-endian [n_tokens, vocab] to PATH"},
    CLI_OPTION_THREADS(logits_options, threads),
    {0},
};

static const cli_command command = {
    .name = CMD,
    .synopsis = "FILE --tokens IDS [--out PATH] [--threads N]",
    .about = "Runs the model on the ids in one batched forward and prints the five largest logits "
             "of\nevery position, or with --out writes all of them.\n",
    .options = options,
    .max_positional = 1,
};

/* Parses --tokens; returns 0 or an exit status (message printed). */
static int read_ids(const char *s, int32_t **ids, size_t *n) {
    if (!*s) return cli_usage_error(CMD, "--tokens is empty");
    size_t count = 1;
    for (const char *c = s; *c; c++) count += *c == ',';
    if (count > LOGITS_MAX_TOKENS)
        return cli_usage_error(CMD, "--tokens has %zu ids, more than %u", count,
                               LOGITS_MAX_TOKENS);
    char bad[48];
    int rc = cli_parse_token_ids(s, ids, n, bad, sizeof bad);
    if (rc == SP_ERR_INPUT) return cli_usage_error(CMD, "--tokens: bad id at '%s'", bad);
    if (rc) fprintf(stderr, "sparsa %s: out of memory\n", CMD);
    return rc;
}

typedef struct sink_ctx {
    FILE *f;          /* --out: the temporary file; NULL: print the summary */
    int32_t vocab;
} sink_ctx;

static int write_sink(void *user, size_t first_row, size_t n_rows, const float *logits) {
    sink_ctx *c = user;
    (void)first_row;
    size_t cnt = n_rows * (size_t)c->vocab;
    return fwrite(logits, sizeof(float), cnt, c->f) != cnt;
}

static int print_sink(void *user, size_t first_row, size_t n_rows, const float *logits) {
    sink_ctx *c = user;
    for (size_t r = 0; r < n_rows; r++) {
        const float *row = logits + r * (size_t)c->vocab;
        int32_t top[5];
        int nt = 0;
        for (int32_t j = 0; j < c->vocab; j++) {
            if (nt == 5 && !(row[j] > row[top[4]])) continue;
            if (nt < 5) nt++;
            int at = nt - 1;
            for (; at > 0 && row[j] > row[top[at - 1]]; at--) top[at] = top[at - 1];
            top[at] = j;
        }
        printf("%zu:", first_row + r);
        for (int t = 0; t < nt; t++) printf(" %d=%.4f", top[t], row[top[t]]);
        printf("\n");
    }
    return 0;
}

/* Every id inside the vocabulary and the list within the model's context. */
static int check_ids(sp_model *m, const int32_t *ids, size_t n, sp_error *err) {
    int32_t vocab = sp_model_vocab_size(m);
    uint64_t ctx = sp_model_context_length(m);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return sp_fail(err, SP_ERR_INPUT, "token id %ld at position %zu is outside [0, %d)",
                           (long)ids[i], i, vocab);
    if (ctx && n > ctx)
        return sp_fail(err, SP_ERR_INPUT, "%zu tokens exceed the model's context length %llu",
                       n, (unsigned long long)ctx);
    return SP_OK;
}

/* One forward over ids; the logits go to out_path (atomically) or to the summary. */
static int run_logits(sp_model *m, const int32_t *ids, size_t n, const char *out_path,
                      int threads, sp_error *err) {
    sp_session *s = NULL;
    int rc = sp_session_create(m, n, threads, &s, err);
    if (rc) return rc;
    sp_out out = {.fd = -1, .slot = -1};
    sink_ctx sc = {NULL, sp_model_vocab_size(m)};
    if (out_path && !(rc = sp_out_open(&out, out_path, 0, err))) sc.f = out.fp;
    if (!rc) {
        rc = sp_session_forward(s, ids, n, 0, sc.f ? write_sink : print_sink, &sc, err);
        if (rc && !err->msg[0] && out_path)
            rc = sp_fail(err, SP_ERR_RUNTIME, "%s: write failed", out_path);
    }
    if (out_path && !rc) rc = sp_out_commit(&out, err);
    if (out_path) sp_out_abort(&out);
    sp_session_free(s);
    return rc;
}

int cmd_logits(int argc, char **argv) {
    logits_options o = {0};
    cli_args a;
    int rc = cli_parse(&command, argc, argv, &o, &a);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (a.n_pos < 1) return cli_usage_error(CMD, "missing model FILE");
    if (!o.tokens) return cli_usage_error(CMD, "missing --tokens");
    sp_inputs_add(a.pos[0]);
    sp_error err = {0};
    if (o.out && sp_output_check(o.out, 0, &err)) return cli_report(CMD, &err);
    int32_t *ids = NULL;
    size_t n = 0;
    if ((rc = read_ids(o.tokens, &ids, &n))) return rc;
    sp_model *m = NULL;
    rc = sp_eval_open_model(a.pos[0], &m, &err);
    if (!rc) rc = check_ids(m, ids, n, &err);
    if (!rc) rc = run_logits(m, ids, n, o.out, (int)o.threads, &err);
    sp_model_free(m);
    free(ids);
    return rc ? cli_report(CMD, &err) : 0;
}
