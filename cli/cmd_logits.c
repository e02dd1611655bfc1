/* cmd_logits.c — `sparsa logits FILE --tokens 5,17,3 [--out PATH] [--threads N]`: parse, run
 * through eval/ (sp_logits_check, sp_logits_run). With --out, float32 little-endian row-major
 * [n_tokens, vocab] is written atomically (a temporary beside PATH, renamed when complete;
 * PATH may not be an input, a link, a device, a FIFO or a folder); otherwise, per position,
 * the five largest logits and their ids. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "sparsa_eval.h"

#define CMD "logits"
/* The longest --tokens list accepted when the model sets no context length. */
#define LOGITS_MAX_TOKENS (1u << 20)

typedef struct logits_options {
    const char *tokens, *out;
    uint64_t threads;
    int no_verify, json;
    const char *device, *precision; /* --device, --precision: validated (cpu, fp32) */
} logits_options;

static const cli_option options[] = {
    {.name = "--tokens", .kind = CLI_STRING, .offset = offsetof(logits_options, tokens),
     .metavar = "IDS", .help = "comma-separated token ids, e.g. 5,17,3"},
    {.name = "--out", .kind = CLI_STRING, .offset = offsetof(logits_options, out),
     .metavar = "PATH", .help = "write float32 little-endian [n_tokens, vocab] to PATH"},
    {.name = "--json", .kind = CLI_FLAG, .offset = offsetof(logits_options, json),
     .help = "the summary as one JSON document (n_tokens, vocab, top ids and logits)"},
    CLI_OPTION_THREADS(logits_options, threads),
    CLI_OPTIONS_BACKEND(logits_options, device, precision),
    CLI_OPTION_NO_VERIFY(logits_options, no_verify),
    {0},
};

static const cli_command command = {
    .name = CMD,
    .synopsis = "FILE --tokens IDS [--out PATH | --json] [--threads N] [--no-verify]",
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
    int rc = sp_ids_parse(s, ids, n, bad, sizeof bad);
    if (rc == SP_ERR_INPUT) return cli_usage_error(CMD, "--tokens: bad id at '%s'", bad);
    if (rc) fprintf(stderr, "sparsa %s: out of memory\n", CMD);
    return rc;
}

/* Logits depend on nothing but the model and the ids (threads do not change them). */
static void json_settings(FILE *out, const void *user) {
    (void)user;
    sp_prov_device_settings(out);
}

/* The summary as one JSON document, printed only when every row was finite; the provenance
 * follows the positions. */
static int print_json(sp_model *m, const char *path, const int32_t *ids, size_t n, int threads,
                      sp_error *err) {
    char sha[65], *rows = NULL;
    const char *sha_ref = sha;
    int rc = sp_prov_sha256_file(path, sha, err);
    if (rc) return rc;
    size_t len = 0;
    FILE *mem = open_memstream(&rows, &len);
    if (!mem) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    rc = sp_logits_top_json(m, ids, n, threads, mem, err);
    if (fclose(mem) && !rc) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    if (!rc) {
        sp_provenance prov = {.version = cli_version(), .models = &path, .sha256 = &sha_ref,
                              .n_models = 1, .settings = json_settings};
        fputs("{\"model\":", stdout);
        sp_json_escape(stdout, path, strlen(path));
        printf(",\"n_tokens\":%zu,\"vocab\":%d,\"positions\":[", n, (int)sp_model_vocab_size(m));
        fwrite(rows, 1, len, stdout);
        fputs("],", stdout);
        sp_prov_write(stdout, &prov);
        fputs("}\n", stdout);
    }
    free(rows);
    return rc;
}

/* One forward; the logits go to out_path (atomically: nothing is left on failure) or to the
 * summary on stdout. */
static int write_logits(sp_model *m, const int32_t *ids, size_t n, const char *out_path,
                        int threads, sp_error *err) {
    if (!out_path) return sp_logits_run(m, ids, n, threads, NULL, stdout, err);
    sp_out out;
    int rc = sp_out_open(&out, out_path, 0, err);
    if (!rc) rc = sp_logits_run(m, ids, n, threads, out.fp, NULL, err);
    if (!rc) rc = sp_out_commit(&out, err);
    sp_out_abort(&out);
    return rc;
}

int cmd_logits(int argc, char **argv) {
    logits_options o = {0};
    cli_args a;
    int rc = cli_parse(&command, argc, argv, &o, &a);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (a.n_pos < 1) return cli_usage_error(CMD, "missing model FILE");
    if (!o.tokens) return cli_usage_error(CMD, "missing --tokens");
    if (o.json && o.out) return cli_usage_error(CMD, "give --out or --json, not both");
    if ((rc = cli_require_file(CMD, "the model FILE", a.pos[0]))) return rc;
    sp_inputs_add(a.pos[0]);
    sp_error err = {0};
    if (o.out && sp_output_check(o.out, 0, &err)) return cli_report(CMD, &err);
    int32_t *ids = NULL;
    size_t n = 0;
    if ((rc = read_ids(o.tokens, &ids, &n))) return rc;
    sp_model *m = NULL;
    sp_model_options mopts = {.no_verify = o.no_verify};
    rc = sp_eval_open_model_opts(a.pos[0], &mopts, &m, &err);
    if (!rc) rc = sp_logits_check(m, ids, n, &err);
    if (!rc && o.json) rc = print_json(m, a.pos[0], ids, n, (int)o.threads, &err);
    else if (!rc) rc = write_logits(m, ids, n, o.out, (int)o.threads, &err);
    sp_model_free(m);
    free(ids);
    return rc ? cli_report(CMD, &err) : 0;
}
