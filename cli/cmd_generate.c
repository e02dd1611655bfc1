/* cmd_generate.c — `sparsa generate FILE (--prompt TEXT | --tokens IDS) [-n N] [--temp T]
 * [--top-p P] [--seed S]`: text in and out through the model's tokenizer, or ids in and out. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "sparsa_eval.h"
#include "sparsa_interp.h"
#include "sparsa_tokenizer.h"

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

#define CMD "generate"

static const char *usage_text =
    "usage: sparsa generate FILE (--prompt TEXT | --tokens IDS) [-n N] [--temp T] [--top-p P]\n"
    "                       [--seed S] [--no-bos] [--threads N]\n"
    "\n"
    "Generates up to N tokens (default 128) after a prompt, stopping early at EOS or at the\n"
    "model's context length.\n"
    "  --prompt TEXT  encoded with FILE's tokenizer, preceded by BOS (unless --no-bos); prints\n"
    "                 the prompt and the generated text\n"
    "  --tokens IDS   ids separated by commas or spaces, used as given; prints the generated\n"
    "                 ids on one line\n"
    "  --temp T       0 (default): greedy, the most likely token; T > 0: sample from\n"
    "                 softmax(logits / T)\n"
    "  --top-p P      sample only from the smallest set of most likely tokens whose\n"
    "                 probability reaches P (default 1: all)\n"
    "  --seed S       seed of the sampler (default 0); the same seed gives the same tokens\n";

static int parse_u64(const char *s, uint64_t *out) {
    if (!s || *s < '0' || *s > '9') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno) return -1;
    *out = v;
    return 0;
}

static int parse_float(const char *s, float *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (*end || errno || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_ids(const char *s, int32_t **ids, size_t *n) {
    size_t cap = 16, k = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return -1;
    for (const char *p = s;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        if (*p < '0' || *p > '9') {
            free(v);
            return -1;
        }
        char *end;
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (errno || x > INT32_MAX || (*end && *end != ' ' && *end != ',' && *end != '\t' &&
                                       *end != '\n')) {
            free(v);
            return -1;
        }
        if (k == cap) {
            int32_t *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                return -1;
            }
            v = nv;
        }
        v[k++] = (int32_t)x;
        p = end;
    }
    *ids = v;
    *n = k;
    return 0;
}

typedef struct collected {
    int32_t *ids;
    size_t n, cap;
    int print_ids;
} collected;

static int on_token(void *user, int32_t id) {
    collected *c = user;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        int32_t *nv = realloc(c->ids, cap * sizeof *nv);
        if (!nv) return 1;
        c->ids = nv;
        c->cap = cap;
    }
    c->ids[c->n++] = id;
    if (c->print_ids) {
        printf(c->n > 1 ? " %d" : "%d", (int)id);
        fflush(stdout);
    }
    return 0;
}

int cmd_generate(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL, *tokens = NULL;
    uint64_t n_new = 128, seed = 0, threads = 0;
    float temp = 0.0f, top_p = 1.0f;
    int no_bos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "--prompt")) {
            if (!val) return cli_usage_error(CMD, "--prompt needs TEXT");
            prompt = val;
            i++;
        } else if (!strcmp(a, "--tokens")) {
            if (!val) return cli_usage_error(CMD, "--tokens needs ids");
            tokens = val;
            i++;
        } else if (!strcmp(a, "-n")) {
            if (parse_u64(val, &n_new) || n_new > (1u << 30))
                return cli_usage_error(CMD, "-n needs a non-negative integer");
            i++;
        } else if (!strcmp(a, "--temp")) {
            if (parse_float(val, &temp) || temp < 0)
                return cli_usage_error(CMD, "--temp needs a number >= 0");
            i++;
        } else if (!strcmp(a, "--top-p")) {
            if (parse_float(val, &top_p) || !(top_p > 0 && top_p <= 1))
                return cli_usage_error(CMD, "--top-p needs a number in (0, 1]");
            i++;
        } else if (!strcmp(a, "--seed")) {
            if (parse_u64(val, &seed)) return cli_usage_error(CMD, "--seed needs an integer");
            i++;
        } else if (!strcmp(a, "--threads")) {
            if (parse_u64(val, &threads) || threads == 0 || threads > 4096)
                return cli_usage_error(CMD, "--threads needs a positive integer");
            i++;
        } else if (!strcmp(a, "--no-bos")) {
            no_bos = 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error(CMD, "unknown option '%s'", a);
        } else if (!model_path) {
            model_path = a;
        } else {
            return cli_usage_error(CMD, "unexpected argument '%s'", a);
        }
    }
    if (!model_path) return cli_usage_error(CMD, "missing the model FILE");
    if (!prompt == !tokens) return cli_usage_error(CMD, "give exactly one of --prompt and --tokens");

    sp_error err = {0};
    sp_model *model = NULL;
    sp_tokenizer *tok = NULL;
    sp_session *sess = NULL;
    sp_sampler smp = {0};
    int32_t *ids = NULL;
    size_t n_ids = 0;
    collected out = {NULL, 0, 0, tokens != NULL};
    int rc;

    if ((rc = sp_model_open(model_path, &model, &err))) {
        name_the_file(&err, model_path);
        goto done;
    }
    int32_t vocab = sp_model_vocab_size(model);
    size_t tlen = 0;
    const void *tbytes = sp_file_tokenizer(sp_model_file(model), &tlen);
    if (tbytes && tlen && (rc = sp_tokenizer_load_bytes(tbytes, tlen, &tok, &err))) goto done;
    if (prompt) {
        if (!tok) {
            rc = sp_fail(&err, SP_ERR_INPUT, "%s holds no tokenizer: use --tokens", model_path);
            goto done;
        }
        size_t plen = strlen(prompt);
        if (sp_utf8_first_invalid(prompt, plen) != plen) {
            rc = sp_fail(&err, SP_ERR_INPUT, "the prompt is not valid UTF-8");
            goto done;
        }
        int32_t *enc = NULL;
        size_t n_enc = 0;
        if ((rc = sp_tokenizer_encode(tok, prompt, plen, &enc, &n_enc, &err))) goto done;
        int32_t bos = no_bos ? -1 : sp_tokenizer_bos(tok);
        n_ids = n_enc + (bos >= 0);
        ids = malloc((n_ids ? n_ids : 1) * sizeof *ids);
        if (!ids) {
            free(enc);
            rc = sp_fail(&err, SP_ERR_RUNTIME, "out of memory");
            goto done;
        }
        if (bos >= 0) ids[0] = bos;
        if (n_enc) memcpy(ids + (bos >= 0), enc, n_enc * sizeof *ids);
        free(enc);
    } else if (parse_ids(tokens, &ids, &n_ids)) {
        rc = cli_usage_error(CMD, "--tokens needs non-negative integer ids");
        goto done_quiet;
    }
    if (n_ids == 0) {
        rc = sp_fail(&err, SP_ERR_INPUT, "the prompt is empty (no tokens)");
        goto done;
    }
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= vocab) {
            rc = sp_fail(&err, SP_ERR_INPUT, "token id %d is outside the model's vocabulary "
                         "[0, %d)", (int)ids[i], (int)vocab);
            goto done;
        }
    uint64_t model_ctx = sp_model_context_length(model);
    if (model_ctx && n_ids > model_ctx) {
        rc = sp_fail(&err, SP_ERR_INPUT, "the prompt has %zu tokens, more than the model's "
                     "context length %llu", n_ids, (unsigned long long)model_ctx);
        goto done;
    }
    /* The last generated token is never fed back, so prompt + n - 1 positions suffice. */
    size_t cap = n_ids + (n_new ? (size_t)n_new - 1 : 0);
    if (model_ctx && cap > model_ctx) {
        cap = (size_t)model_ctx;
        n_new = model_ctx - n_ids + 1;
    }
    if ((rc = sp_sampler_init(&smp, vocab, temp, top_p, seed, &err))) goto done;
    if ((rc = sp_session_create(model, cap, (int)threads, &sess, &err))) goto done;
    int32_t eos = tok ? sp_tokenizer_eos(tok) : -1;
    size_t produced = 0;
    rc = sp_generate(sess, vocab, ids, n_ids, (size_t)n_new, eos, &smp, on_token, &out,
                     &produced, &err);
    if (rc) goto done;
    if (tokens) {
        putchar('\n');
    } else {
        /* Decode prompt + continuation together, so the first piece's leading space is kept. */
        size_t n_all = n_ids + out.n;
        int32_t *all = malloc((n_all ? n_all : 1) * sizeof *all);
        char *text = NULL;
        size_t len = 0;
        if (!all) {
            rc = sp_fail(&err, SP_ERR_RUNTIME, "out of memory");
            goto done;
        }
        /* Ids the tokenizer lacks (a model vocabulary padded past it) have no text. */
        int32_t tv = sp_tokenizer_vocab_size(tok);
        size_t k = 0;
        for (size_t i = 0; i < n_all; i++) {
            int32_t id = i < n_ids ? ids[i] : out.ids[i - n_ids];
            if (id < tv) all[k++] = id;
        }
        n_all = k;
        /* BOS/EOS and other control pieces decode to nothing. */
        rc = sp_tokenizer_decode(tok, all, n_all, &text, &len, &err);
        free(all);
        if (rc) goto done;
        fwrite(text, 1, len, stdout);
        putchar('\n');
        free(text);
    }
    if (fflush(stdout) != 0) rc = sp_fail(&err, SP_ERR_RUNTIME, "cannot write standard output");
done:
    if (rc) rc = cli_report(CMD, &err);
done_quiet:
    free(out.ids);
    free(ids);
    sp_sampler_free(&smp);
    sp_session_free(sess);
    sp_tokenizer_free(tok);
    sp_model_free(model);
    return rc;
}
