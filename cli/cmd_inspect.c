/* cmd_inspect.c — `sparsa inspect FILE [--json] [--graph] [--tensors] [--verify]`: what a model
 * file holds (header, metadata, graph, tokenizer, tensors) and, with --verify, whether every
 * tensor's checksum matches. Opening validates the whole file except tensor data. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "inspect.h"

static const char usage[] =
    "usage: sparsa inspect FILE [--json] [--graph] [--tensors] [--verify]\n"
    "\n"
    "Shows what a sparsa model file holds: format version and alignment, metadata, a graph\n"
    "summary (op-set, name, node count, op histogram), the tokenizer, and tensor totals per\n"
    "dtype with the parameter count. Opening checks the header, section table, metadata,\n"
    "graph, tokenizer and tensor directory; tensor data is only read with --verify.\n"
    "\n"
    "  --tensors  list every tensor: name, dtype, shape, bytes, stored bytes, compression\n"
    "  --graph    print the graph YAML in full\n"
    "  --verify   check every tensor's CRC-32 (and decode zstd tensors); exit 2 on a mismatch\n"
    "  --json     print one JSON document with the same facts\n"
    "\n"
    "Exit status: 0 ok, 1 failure while running, 2 invalid file or usage (one line on stderr).\n";

static void gather(inspect_facts *x) {
    sp_file *f = x->f;
    size_t len;
    const char *g = sp_file_graph(f, &len);
    if (g) {
        x->graph.present = 1;
        x->graph.bytes = len;
        x->graph.yaml = g;
        inspect_graph_summary(g, len, &x->graph);
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
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(a, "--json")) x.json = 1;
        else if (!strcmp(a, "--graph")) x.show_graph = 1;
        else if (!strcmp(a, "--tensors")) x.show_tensors = 1;
        else if (!strcmp(a, "--verify")) x.verify = 1;
        else if (a[0] == '-' && a[1]) return cli_usage_error("inspect", "unknown option '%s'", a);
        else if (x.path) return cli_usage_error("inspect", "one FILE only");
        else x.path = a;
    }
    if (!x.path) return cli_usage_error("inspect", "missing FILE");

    sp_error err = {0};
    int rc = sp_file_open(x.path, &x.f, &err);
    if (rc) return cli_report("inspect", &err);
    gather(&x);
    if (x.verify) {
        x.verified = 1;
        sp_file_verify(x.f, &x.verify_err);
    }
    if (x.json) inspect_print_json(stdout, &x);
    else inspect_print_text(stdout, &x);
    fflush(stdout);
    rc = 0;
    if (x.verify_err.code) rc = cli_report("inspect", &x.verify_err);
    sp_file_close(x.f);
    return rc;
}
