/* cmd_tokenize.c — `sparsa tokenize FILE|SPM.model [--decode] [TEXT | -]`: text → ids on one
 * line, or with --decode ids (space- or comma-separated) → the exact text. No BOS/EOS added. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "sparsa_eval.h"
#include "sparsa_tokenizer.h"

static const char *usage_text =
    "usage: sparsa tokenize FILE|SPM.model [--decode] (TEXT | -)\n"
    "\n"
    "Encodes TEXT (or all of standard input with -) with the tokenizer stored in the sparsa\n"
    "model FILE, or with a SentencePiece .model file, and prints the ids space-separated on one\n"
    "line. No BOS or EOS is added.\n"
    "  --decode   read ids (space- or comma-separated) and print the text exactly, with no\n"
    "             newline added\n";

/* All of standard input, NUL-terminated (the NUL is not counted). */
static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (cap - n < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, stdin);
        n += r;
        if (r == 0) {
            if (ferror(stdin)) break;
            buf[n] = 0;
            *len = n;
            return buf;
        }
    }
    free(buf);
    return NULL;
}

/* Parses ids separated by spaces, tabs, newlines or commas. */
static int parse_ids(const char *s, int32_t **ids, size_t *n, char *bad, size_t bad_len) {
    size_t cap = 64, k = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return SP_ERR_RUNTIME;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',') p++;
        if (!*p) break;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != ',') p++;
        char *end;
        errno = 0;
        long long x = strtoll(start, &end, 10);
        if (end != p || errno || x < 0 || x > INT32_MAX || !(*start >= '0' && *start <= '9')) {
            snprintf(bad, bad_len, "%.*s", (int)(p - start > 40 ? 40 : p - start), start);
            free(v);
            return SP_ERR_INPUT;
        }
        if (k == cap) {
            int32_t *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                return SP_ERR_RUNTIME;
            }
            v = nv;
        }
        v[k++] = (int32_t)x;
    }
    *ids = v;
    *n = k;
    return SP_OK;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *text_arg = NULL;
    int decode = 0, n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "--decode")) {
            decode = 1;
        } else if (a[0] == '-' && a[1] && strcmp(a, "--") != 0) {
            return cli_usage_error("tokenize", "unknown option '%s'", a);
        } else {
            if (!strcmp(a, "--")) {
                if (++i >= argc) break;
                a = argv[i];
            }
            if (n_pos == 0) model = a;
            else if (n_pos == 1) text_arg = a;
            else return cli_usage_error("tokenize", "unexpected argument '%s'", a);
            n_pos++;
        }
    }
    if (!model) return cli_usage_error("tokenize", "missing the model FILE");
    if (!text_arg) return cli_usage_error("tokenize", "missing TEXT (use - for standard input)");

    sp_error err = {0};
    sp_tokenizer *tok = NULL;
    if (sp_tokenizer_load_path(model, &tok, &err)) return cli_report("tokenize", &err);

    char *input = NULL;
    size_t len = 0;
    if (!strcmp(text_arg, "-")) {
        input = read_stdin(&len);
        if (!input) {
            sp_tokenizer_free(tok);
            sp_fail(&err, SP_ERR_RUNTIME, "cannot read standard input");
            return cli_report("tokenize", &err);
        }
    }
    const char *text = input ? input : text_arg;
    if (!input) len = strlen(text_arg);

    int rc = SP_OK;
    if (decode) {
        int32_t *ids = NULL;
        size_t n = 0;
        char bad[48];
        rc = parse_ids(text, &ids, &n, bad, sizeof bad);
        if (rc == SP_ERR_INPUT) sp_fail(&err, rc, "not a token id: '%s'", bad);
        else if (rc) sp_fail(&err, rc, "out of memory");
        char *out = NULL;
        size_t out_len = 0;
        if (!rc) rc = sp_tokenizer_decode(tok, ids, n, &out, &out_len, &err);
        if (!rc && fwrite(out, 1, out_len, stdout) != out_len)
            rc = sp_fail(&err, SP_ERR_RUNTIME, "cannot write standard output");
        free(out);
        free(ids);
    } else {
        int32_t *ids = NULL;
        size_t n = 0;
        size_t bad_at = sp_utf8_first_invalid(text, len);
        if (bad_at != len)
            rc = sp_fail(&err, SP_ERR_INPUT, "%s: invalid UTF-8 at byte %zu",
                         input ? "standard input" : "TEXT", bad_at);
        else
            rc = sp_tokenizer_encode(tok, text, len, &ids, &n, &err);
        if (!rc) {
            for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
            putchar('\n');
        }
        free(ids);
    }
    if (!rc && fflush(stdout) != 0) rc = sp_fail(&err, SP_ERR_RUNTIME, "cannot write standard output");
    free(input);
    sp_tokenizer_free(tok);
    return rc ? cli_report("tokenize", &err) : 0;
}
