/* cmd_tokenize.c — `sparsa tokenize FILE|SPM.model [--decode] [--pieces | --json] [TEXT | -]`:
 * text → ids on one line (or their pieces, or a JSON document of both), or with --decode ids
 * (space- or comma-separated) → the exact text. No BOS/EOS added. The pieces' text is read
 * from the SentencePiece model's own bytes (inspect_spm.c). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "inspect.h"
#include "sparsa_eval.h"

#define CMD "tokenize"

typedef struct tokenize_options {
    int decode, no_verify, pieces, json;
    uint64_t max_bytes;
} tokenize_options;

static const cli_option options[] = {
    {.name = "--decode", .kind = CLI_FLAG, .offset = offsetof(tokenize_options, decode),
     .help = "read ids (space- or comma-separated); print the text exactly, no newline"},
    {.name = "--max-bytes", .kind = CLI_UINT, .offset = offsetof(tokenize_options, max_bytes),
     .min = 1, .max = UINT64_MAX, .metavar = "N", .help = "read at most N bytes of standard "
     "input (default 1 GiB); more is refused", .bad = "--max-bytes needs a positive integer"},
    {.name = "--pieces", .kind = CLI_FLAG, .offset = offsetof(tokenize_options, pieces),
     .help = "print the pieces (space-separated, escaped) instead of the ids"},
    {.name = "--json", .kind = CLI_FLAG, .offset = offsetof(tokenize_options, json),
     .help = "one JSON document: the ids with their pieces"},
    /* Accepted as by every command that opens a model file; tokenize reads no weights. */
    CLI_OPTION_NO_VERIFY(tokenize_options, no_verify),
    {0},
};

static const cli_command command = {
    .name = CMD,
    .synopsis = "FILE|SPM.model [--decode | --pieces | --json] [--max-bytes N] [--no-verify]\n"
                "                       (TEXT | -)",
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

/* The pieces' text of the tokenizer `path` holds (a sparsa file's section or a .model file),
 * in text/len[0..vocab); the table keeps the bytes alive (piece_table_free). */
typedef struct piece_table {
    sp_file *file;
    char *bytes;
    const uint8_t **text;
    size_t *len;
    long long n;
} piece_table;

static void piece_table_free(piece_table *t) {
    sp_file_close(t->file);
    free(t->bytes);
    free(t->text);
    free(t->len);
}

static int piece_table_load(const char *path, int32_t vocab, piece_table *t, sp_error *err) {
    memset(t, 0, sizeof *t);
    const void *bytes = NULL;
    size_t len = 0;
    sp_error ignored = {0};
    if (!sp_file_open(path, &t->file, &ignored)) bytes = sp_file_tokenizer(t->file, &len);
    else if (sp_read_file(path, SP_READ_DEFAULT_MAX, &t->bytes, &len, err)) return err->code;
    else bytes = t->bytes;
    t->text = calloc((size_t)vocab + 1, sizeof *t->text);
    t->len = calloc((size_t)vocab + 1, sizeof *t->len);
    if (!t->text || !t->len) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    t->n = inspect_spm_pieces(bytes, len, t->text, t->len, (size_t)vocab);
    if (t->n < 0) return sp_fail(err, SP_ERR_INPUT, "%s: the tokenizer's pieces cannot be read", path);
    return SP_OK;
}

/* Ids with their pieces: --pieces as text, --json as one document (its provenance last). */
static void print_pieces(const tokenize_options *o, const piece_table *t, const int32_t *ids,
                         size_t n, const sp_provenance *prov) {
    static const uint8_t none[1];
    if (o->json) printf("{\"n_tokens\":%zu,\"tokens\":[", n);
    for (size_t i = 0; i < n; i++) {
        int known = ids[i] >= 0 && ids[i] < t->n;
        const char *p = (const char *)(known ? t->text[ids[i]] : none);
        size_t len = known ? t->len[ids[i]] : 0;
        if (o->json) {
            printf("%s{\"id\":%d,\"piece\":", i ? "," : "", (int)ids[i]);
            sp_json_escape(stdout, p, len);
            putchar('}');
        } else {
            if (i) putchar(' ');
            sp_text_escape(stdout, p, len);
        }
    }
    if (!o->json) {
        putchar('\n');
        return;
    }
    fputs("],", stdout);
    sp_prov_write(stdout, prov);
    fputs("}\n", stdout);
}

/* UTF-8 text to ids on one line (or pieces: pt not NULL); what names the text in an error. */
static int encode_text(sp_tokenizer *tok, const char *text, size_t len, const char *what,
                       const tokenize_options *o, const piece_table *pt,
                       const sp_provenance *prov, sp_error *err) {
    int32_t *ids = NULL;
    size_t n = 0;
    size_t bad_at = sp_utf8_first_invalid(text, len);
    int rc = bad_at != len ? sp_fail(err, SP_ERR_INPUT, "%s: invalid UTF-8 at byte %zu", what,
                                     bad_at)
                           : sp_tokenizer_encode(tok, text, len, &ids, &n, err);
    if (!rc && pt) print_pieces(o, pt, ids, n, prov);
    else if (!rc) {
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
    if (o.decode + o.pieces + o.json > 1)
        return cli_usage_error(CMD, "give one of --decode, --pieces and --json");
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
    piece_table pt = {0};
    int want_pieces = o.pieces || o.json;
    /* No setting changes the ids: no BOS or EOS is ever added. */
    char sha[65];
    const char *sha_ref = sha;
    sp_provenance prov = {.version = cli_version(), .models = &model, .sha256 = &sha_ref,
                          .n_models = 1};
    if (o.json) rc = sp_prov_sha256_file(model, sha, &err);
    if (!rc && want_pieces) rc = piece_table_load(model, sp_tokenizer_vocab_size(tok), &pt, &err);
    if (!rc && o.decode) rc = decode_ids(tok, text, &err);
    else if (!rc) rc = encode_text(tok, text, len, input ? "standard input" : "TEXT", &o,
                                   want_pieces ? &pt : NULL, &prov, &err);
    piece_table_free(&pt);
    free(input);
    sp_tokenizer_free(tok);
    return rc ? cli_report(CMD, &err) : 0;
}
