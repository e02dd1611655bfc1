/* test_graph_parse.c — the graph parser on its own: repeat expansion and substitution, and
 * robustness: every truncation and many byte mutations of real graphs are parsed or rejected
 * with SP_ERR_INPUT and a one-line message, never a crash (run under ASan by make test-asan). */
#include <criterion/criterion.h>

#include "interp_internal.h"
#include "tu_interp.h"

Test(graph_parse, repeat_expands_and_substitutes) {
    const char *y =
        "sparsa_graph: 1\nvocab_size: 5\ninputs: [tokens]\noutputs: [logits]\nnodes:\n"
        "  - {op: embed, name: e, in: [tokens], out: x, weight: t}\n"
        "  - repeat: 3\n    var: L\n    nodes:\n"
        "      - {op: linear, name: \"lin{L}\", in: [x], out: x, weight: \"w.{L}.{L}\", note: \"{i}\"}\n"
        "  - {op: linear, name: head, in: [x], out: logits, weight: t}\n";
    sp_graph *g = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_graph_parse(y, strlen(y), &g, &err), 0, "%s", err.msg);
    cr_assert_eq(g->n_nodes, 5);
    cr_assert_str_eq(g->nodes[2].name, "lin1");
    cr_assert_str_eq(g->nodes[3].attrs[0].scalar, "w.2.2");
    cr_assert_str_eq(g->nodes[3].attrs[1].scalar, "{i}", "only the declared var is substituted");
    cr_assert_eq(g->context_length, 0);
    cr_assert_eq(g->vocab_size, 5);
    sp_graph_free(g);
}

Test(graph_parse, a_repeated_top_level_key_is_refused) {
    static const char *const graphs[] = {
        "sparsa_graph: 1\nvocab_size: 5\nvocab_size: 6\ninputs: [tokens]\noutputs: [logits]\n"
        "nodes:\n  - {op: embed, name: e, in: [tokens], out: logits, weight: t}\n",
        "sparsa_graph: 1\nvocab_size: 5\ninputs: [tokens]\noutputs: [logits]\nnodes:\n"
        "  - {op: embed, name: e, in: [tokens], out: logits, weight: t}\n"
        "nodes:\n  - {op: embed, name: f, in: [tokens], out: logits, weight: t}\n",
    };
    const char *names[] = {"'vocab_size'", "'nodes'"};
    for (int i = 0; i < 2; i++) {
        sp_graph *g = NULL;
        sp_error err = {0};
        cr_assert_eq(sp_graph_parse(graphs[i], strlen(graphs[i]), &g, &err), SP_ERR_INPUT,
                     "graph %d accepted", i);
        cr_assert(strstr(err.msg, "duplicate top-level key") && strstr(err.msg, names[i]), "%s",
                  err.msg);
        cr_assert_null(g);
    }
}

Test(graph_parse, oversized_repeat_is_rejected_before_expansion) {
    sp_graph *g = NULL;
    sp_error err = {0};
    /* 4096 × 64 aliased nodes: refused from the counts, before anything is expanded */
    const char *y2 =
        "sparsa_graph: 1\nvocab_size: 5\ninputs: [tokens]\noutputs: [logits]\nnodes:\n"
        "  - repeat: 4096\n    nodes: [&n {op: add, name: a, in: [x, x], out: x}, *n, *n, *n, *n, *n, *n, *n,"
        " *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n,"
        " *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n, *n,"
        " *n, *n, *n, *n, *n, *n, *n, *n, *n, *n]\n";
    cr_assert_eq(sp_graph_parse(y2, strlen(y2), &g, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "exceeds"), "%s", err.msg);
}

static void parse_must_not_crash(const char *text, size_t len) {
    sp_graph *g = NULL;
    sp_error err = {0};
    int rc = sp_graph_parse(text, len, &g, &err);
    cr_assert(rc == 0 || rc == SP_ERR_INPUT, "rc %d", rc);
    if (rc) {
        cr_assert_null(g);
        cr_assert(err.msg[0] && !strchr(err.msg, '\n'), "message: '%s'", err.msg);
    } else {
        sp_graph_free(g);
    }
}

Test(graph_parse, every_truncation_is_handled, .timeout = 60) {
    char *y = tu_read_text("tests/fixtures/interp/smoke-gemma.yaml");
    cr_assert(y);
    size_t len = strlen(y);
    for (size_t cut = 0; cut <= len; cut += 1) parse_must_not_crash(y, cut);
    free(y);
}

Test(graph_parse, byte_mutations_are_handled, .timeout = 60) {
    char *y = tu_read_text("tests/fixtures/interp/smoke-llama.yaml");
    cr_assert(y);
    size_t len = strlen(y);
    static const char repl[] = "{}[],:-&*!|>'\"%@`#\n\t 0{i}";
    uint32_t s = 12345;
    for (int it = 0; it < 3000; it++) {
        char *m = malloc(len + 1);
        memcpy(m, y, len + 1);
        for (int k = 0; k < 1 + it % 3; k++) {
            s = s * 1664525u + 1013904223u;
            size_t pos = (s >> 8) % len;
            s = s * 1664525u + 1013904223u;
            m[pos] = repl[(s >> 8) % (sizeof repl - 1)];
        }
        parse_must_not_crash(m, len);
        free(m);
    }
    free(y);
}
