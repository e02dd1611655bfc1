/* cmd_inspect.c — `sparsa inspect FILE [--json] [--graph] [--tensors] [--verify]`: what a model
 * file holds (header, metadata, graph, tokenizer, tensors) and, with --verify, whether every
 * check a run makes passes (inspect_verify.c). Opening validates the whole file except tensor
 * data. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "inspect.h"

#define CMD "inspect"

static const cli_option options[] = {
    {.name = "--tensors", .kind = CLI_FLAG, .offset = offsetof(inspect_facts, show_tensors),
     .help = "list every tensor: name, dtype, shape, bytes, stored bytes, compression"},
    {.name = "--graph", .kind = CLI_FLAG, .offset = offsetof(inspect_facts, show_graph),
     .help = "print the graph YAML in full"},
    {.name = "--verify", .kind = CLI_FLAG, .offset = offsetof(inspect_facts, verify),
     .help = "run every check a run makes (see above); exit 2 at the first failure"},
    {.name = "--json", .kind = CLI_FLAG, .offset = offsetof(inspect_facts, json),
     .help = "print one JSON document with the same facts"},
    {0},
};

static void epilog(FILE *out) {
    fputs("\nExit status: 0 ok, 1 failure while running, 2 invalid file or usage (one line on "
          "stderr).\n", out);
}

static const cli_command command = {
    .name = CMD,
    .synopsis = "FILE [--json] [--graph] [--tensors] [--verify]",
    .about = "Shows what a sparsa model file holds: first a hyper-parameter summary (layers, "
             "D, FFN,\nvocabulary, heads, each attention layer's normaliser and positional "
             "scheme, context\nlengths, parameters, bytes per dtype), then format version and "
             "alignment, metadata, a graph\nsummary (op-set, name, node count, op histogram), the tokenizer, and tensor "
             "totals per\ndtype with the parameter count. Opening checks the header, section "
             "table, metadata,\ngraph, tokenizer and tensor directory; tensor data is only read "
             "with --verify, which\nruns every check that opening the file for a run makes: "
             "each tensor's CRC-32 (zstd\ntensors decoded), the graph against the tensors "
             "(shapes, dtypes, attention attributes),\nand the tokenizer against the "
             "vocabulary (one piece per row, BOS/EOS/UNK inside).\n",
    .options = options,
    .max_positional = 1,
    .epilog = epilog,
};

static void gather(inspect_facts *x) {
    sp_file *f = x->f;
    size_t len;
    const char *g = sp_file_graph(f, &len);
    if (g) {
        x->graph.present = 1;
        x->graph.bytes = len;
        x->graph.yaml = g;
        inspect_graph_summary(g, len, f, &x->graph, &x->hparams);
    }
    const void *t = sp_file_tokenizer(f, &len);
    if (t) {
        x->tok.present = 1;
        x->tok.bytes = len;
        x->tok.vocab = inspect_spm_vocab(t, len);
    }
    for (size_t i = 0; i < sp_file_tensor_count(f); i++) {
        const sp_tensor_info *ti = sp_file_tensor(f, i);
        inspect_total *parts[2] = {&x->total, &x->by_dtype[ti->dtype]};
        for (int k = 0; k < 2; k++) {
            parts[k]->tensors++;
            parts[k]->params += ti->numel;
            parts[k]->raw += ti->raw_size;
            parts[k]->stored += ti->stored_size;
        }
    }
}

int cmd_inspect(int argc, char **argv) {
    inspect_facts x;
    memset(&x, 0, sizeof x);
    cli_args a;
    int rc = cli_parse(&command, argc, argv, &x, &a);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (a.n_pos < 1) return cli_usage_error(CMD, "missing FILE");
    if ((rc = cli_require_file(CMD, "FILE", a.pos[0]))) return rc;
    x.path = a.pos[0];
    sp_inputs_add(x.path);

    sp_error err = {0};
    rc = sp_file_open(x.path, &x.f, &err);
    if (rc) return cli_report(CMD, &err);
    gather(&x);
    if (x.verify) inspect_verify(&x);
    if (x.json) inspect_print_json(stdout, &x);
    else inspect_print_text(stdout, &x);
    fflush(stdout);
    rc = 0;
    if (x.verify_err.code) rc = cli_report(CMD, &x.verify_err);
    sp_file_close(x.f);
    free(x.hparams.layers);
    return rc;
}
