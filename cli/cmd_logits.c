/* cmd_logits.c — `sparsa logits FILE --tokens 5,17,3 [--out PATH] [--threads N]`.
 *
 * Runs the model on the ids in one batched forward. With --out, writes float32 little-endian
 * row-major [n_tokens, vocab] (to a temporary sibling, renamed when complete); otherwise prints,
 * per position, the five largest logits and their ids. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "sparsa_interp.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cmd_logits writes host floats as little-endian"
#endif

/* The longest --tokens list accepted when the model sets no context length. */
#define LOGITS_MAX_TOKENS (1u << 20)

static void usage(FILE *f) {
    fprintf(f, "usage: sparsa logits FILE --tokens IDS [--out PATH] [--threads N]\n"
               "  IDS       comma-separated token ids, e.g. 5,17,3\n"
               "  --out     write float32 little-endian [n_tokens, vocab] to PATH\n"
               "            (default: print the top-5 logits of every position)\n"
               "  --threads number of threads (default: all cores)\n");
}

/* Parses "5,17,3" into a malloc'd array. Returns 0 or an exit code (message printed). */
static int parse_ids(const char *s, int32_t **out, size_t *n) {
    size_t cap = 1;
    for (const char *c = s; *c; c++) cap += *c == ',';
    if (cap > LOGITS_MAX_TOKENS)
        return cli_usage_error("logits", "--tokens has %zu ids, more than %u", cap, LOGITS_MAX_TOKENS);
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "sparsa logits: out of memory\n");
        return 1;
    }
    size_t k = 0;
    const char *p = s;
    for (;;) {
        char *end = NULL;
        errno = 0;
        while (*p == ' ') p++;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < INT32_MIN || v > INT32_MAX) {
            free(ids);
            return cli_usage_error("logits", "--tokens: bad id at '%.20s'", p);
        }
        ids[k++] = (int32_t)v;
        p = end;
        while (*p == ' ') p++;
        if (!*p) break;
        if (*p != ',') {
            free(ids);
            return cli_usage_error("logits", "--tokens: bad id at '%.20s'", p);
        }
        p++;
    }
    *out = ids;
    *n = k;
    return 0;
}

typedef struct {
    FILE *f;          /* --out: the temporary file */
    int32_t vocab;
    int failed;
} sink_ctx;

static int write_sink(void *user, size_t first_row, size_t n_rows, const float *logits) {
    sink_ctx *c = user;
    (void)first_row;
    size_t cnt = n_rows * (size_t)c->vocab;
    if (fwrite(logits, sizeof(float), cnt, c->f) != cnt) {
        c->failed = 1;
        return 1;
    }
    return 0;
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

int cmd_logits(int argc, char **argv) {
    const char *path = NULL, *ids_arg = NULL, *out_path = NULL;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--tokens") || !strcmp(a, "--out") || !strcmp(a, "--threads")) {
            if (i + 1 >= argc) return cli_usage_error("logits", "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--tokens")) ids_arg = v;
            else if (!strcmp(a, "--out")) out_path = v;
            else {
                char *end = NULL;
                long t = strtol(v, &end, 10);
                if (!*v || *end || t < 1 || t > 4096)
                    return cli_usage_error("logits", "--threads must be an integer in 1..4096");
                threads = (int)t;
            }
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("logits", "unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_usage_error("logits", "unexpected argument '%s'", a);
        }
    }
    if (!path) return cli_usage_error("logits", "missing model FILE");
    if (!ids_arg) return cli_usage_error("logits", "missing --tokens");
    if (!*ids_arg) return cli_usage_error("logits", "--tokens is empty");
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = parse_ids(ids_arg, &ids, &n);
    if (rc) return rc;

    sp_error err = {0};
    sp_model *m = NULL;
    sp_session *s = NULL;
    if (sp_model_open(path, &m, &err)) {
        free(ids);
        return cli_report("logits", &err);
    }
    int32_t vocab = sp_model_vocab_size(m);
    uint64_t ctx = sp_model_context_length(m);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab) {
            fprintf(stderr, "sparsa logits: token id %ld at position %zu is outside [0, %d)\n",
                    (long)ids[i], i, vocab);
            rc = 2;
            goto done;
        }
    if (ctx && n > ctx) {
        fprintf(stderr, "sparsa logits: %zu tokens exceed the model's context length %llu\n", n,
                (unsigned long long)ctx);
        rc = 2;
        goto done;
    }
    if (sp_session_create(m, n, threads, &s, &err)) {
        rc = cli_report("logits", &err);
        goto done;
    }
    sink_ctx sc = {.vocab = vocab};
    char *tmp = NULL;
    if (out_path) {
        size_t tl = strlen(out_path) + 32;
        tmp = malloc(tl);
        if (!tmp) {
            fprintf(stderr, "sparsa logits: out of memory\n");
            rc = 1;
            goto done;
        }
        snprintf(tmp, tl, "%s.tmp.%ld", out_path, (long)getpid());
        sc.f = fopen(tmp, "wb");
        if (!sc.f) {
            fprintf(stderr, "sparsa logits: cannot write '%s': %s\n", out_path, strerror(errno));
            free(tmp);
            rc = 2;
            goto done;
        }
    }
    rc = sp_session_forward(s, ids, n, 0, out_path ? write_sink : print_sink, &sc, &err);
    if (out_path) {
        int bad = rc || sc.failed;
        if (fclose(sc.f) != 0) bad = 1;
        if (!bad && rename(tmp, out_path) != 0) bad = 1;
        if (bad) {
            remove(tmp);
            if (!rc) {
                fprintf(stderr, "sparsa logits: cannot write '%s': %s\n", out_path, strerror(errno));
                rc = 1;
                free(tmp);
                goto done;
            }
        }
        free(tmp);
    }
    if (rc) rc = cli_report("logits", &err);
done:
    sp_session_free(s);
    sp_model_free(m);
    free(ids);
    return rc;
}
