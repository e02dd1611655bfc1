/* cmd_tokenize.c — `sparsa tokenize FILE|SPM.model [--decode] [TEXT | -]`: text → ids on one
 * line, or with --decode ids (space- or comma-separated) → the exact text. No BOS/EOS added. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "sparsa_eval.h"

#define CMD "tokenize"

typedef struct tokenize_options {
    int decode, no_verify;
    uint64_t max_bytes;
} tokenize_options;

static const cli_option options[] = {
    {.name = "--decode", .kind = CLI_FLAG, .offset = offsetof(tokenize_options, decode),
     .help = "read ids (space- or comma-separated); print the text exactly, no newline"},
    {.name = "--max-bytes", .kind = CLI_UINT, .offset = offsetof(tokenize_options, max_bytes),
     .min = 1, .max = UINT64_MAX, .metavar = "N", .help = "read at most N bytes of standard "
     "input (default 1 GiB); more is refused", .bad = "--max-bytes needs a positive integer"},
    /* Accepted as by every command that opens a model file; tokenize reads no weights. */
    CLI_OPTION_NO_VERIFY(tokenize_options, no_verify),
    {0},
};

static const cli_command command = {
    .name = CMD,
    .synopsis = "FILE|SPM.model [--decode] [--max-bytes N] [--no-verify] (TEXT | -)",
    .about = "Encodes TEXT (or all of standard input with -) with the tokenizer stored in the "
             "sparsa\nmodel FILE, or with a SentencePiece .model file, and prints the ids "
             "space-separated on one\nline. No BOS or EOS is added.\n",
    .options = options,
    .max_positional = 2,
};

/* Ids (space- or comma-separated) to the exact text, written as is. */
static int decode_ids(sp_tokenizer *tok, const char *text, sp_error *err) {
    int32_t *ids = NULL;
    size_t n = 0;
    char bad[48];
    int rc = sp_ids_parse(text, &ids, &n, bad, sizeof bad);
    for (size_t i = 0; !rc && i < n; i++)
        if (ids[i] < 0) {
            snprintf(bad, sizeof bad, "%d", (int)ids[i]);
            rc = SP_ERR_INPUT;
        }
    if (rc == SP_ERR_INPUT) sp_fail(err, rc, "not a token id: '%s'", bad);
    else if (rc) sp_fail(err, rc, "out of memory");
    char *out = NULL;
    size_t out_len = 0;
    if (!rc) rc = sp_tokenizer_decode(tok, ids, n, &out, &out_len, err);
    if (!rc && fwrite(out, 1, out_len, stdout) != out_len)
        rc = sp_fail(err, SP_ERR_RUNTIME, "cannot write standard output");
    free(out);
    free(ids);
    return rc;
}

/* UTF-8 text to ids on one line; what names the text in an error. */
static int encode_text(sp_tokenizer *tok, const char *text, size_t len, const char *what,
                       sp_error *err) {
    int32_t *ids = NULL;
    size_t n = 0;
    size_t bad_at = sp_utf8_first_invalid(text, len);
    int rc = bad_at != len ? sp_fail(err, SP_ERR_INPUT, "%s: invalid UTF-8 at byte %zu", what,
                                     bad_at)
                           : sp_tokenizer_encode(tok, text, len, &ids, &n, err);
    if (!rc) {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        putchar('\n');
    }
    free(ids);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    tokenize_options o = {.max_bytes = SP_READ_DEFAULT_MAX};
    cli_args a;
    int rc = cli_parse(&command, argc, argv, &o, &a);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (a.n_pos < 1) return cli_usage_error(CMD, "missing the model FILE");
    if (a.n_pos < 2) return cli_usage_error(CMD, "missing TEXT (use - for standard input)");
    const char *model = a.pos[0], *text_arg = a.pos[1];
    if ((rc = cli_require_file(CMD, "the model FILE", model))) return rc;
    sp_inputs_add(model);

    sp_error err = {0};
    sp_tokenizer *tok = NULL;
    if (sp_tokenizer_load_path(model, &tok, &err)) return cli_report(CMD, &err);
    char *input = NULL;
    size_t len = strlen(text_arg);
    /* Standard input is read with a bound, so an endless stream cannot exhaust memory. */
    if (!strcmp(text_arg, "-") && (rc = sp_read_file("-", o.max_bytes, &input, &len, &err))) {
        sp_tokenizer_free(tok);
        return cli_report(CMD, &err);
    }
    const char *text = input ? input : text_arg;
    if (o.decode) rc = decode_ids(tok, text, &err);
    else rc = encode_text(tok, text, len, input ? "standard input" : "TEXT", &err);
    free(input);
    sp_tokenizer_free(tok);
    return rc ? cli_report(CMD, &err) : 0;
}
