/* test_graph_validate.c — every validation rule of format/GRAPH.md §6: a malformed graph is
 * rejected by `sparsa logits` with exit 2 and one stderr line naming the node (or the
 * top-level key / line for structural errors). The valid base graph passes, so each case
 * fails only through its one mutation. */
#include <criterion/criterion.h>

#include "tu_interp.h"

static const char *BASE =
    "sparsa_graph: 1\n"
    "name: tiny\n"
    "vocab_size: 10\n"
    "inputs: [tokens]\n"
    "outputs: [logits]\n"
    "nodes:\n"
    "  - {op: embed, name: emb, in: [tokens], out: x, weight: tok}\n"
    "  - repeat: 2\n"
    "    nodes:\n"
    "      - {op: rmsnorm, name: \"n{i}\", in: [x], out: h, weight: nw, eps: 1.0e-5}\n"
    "      - {op: linear, name: \"q{i}\", in: [h], out: q, weight: wq}\n"
    "      - {op: linear, name: \"k{i}\", in: [h], out: k, weight: wk}\n"
    "      - {op: linear, name: \"v{i}\", in: [h], out: v, weight: wk}\n"
    "      - {op: rope, name: \"rope{i}\", in: [q], out: q, head_dim: 4, theta: 10000.0, style: neox}\n"
    "      - {op: attention, name: \"attn{i}\", in: [q, k, v], out: a, heads: 2, kv_heads: 1, head_dim: 4, scale: 0.5, normalizer: softmax}\n"
    "      - {op: linear, name: \"o{i}\", in: [a], out: a, weight: wo}\n"
    "      - {op: add, name: \"res{i}\", in: [x, a], out: x}\n"
    "      - {op: mlp, name: \"mlp{i}\", in: [x], out: m, activation: silu, gated: true, gate: wg, up: wg, down: wd}\n"
    "      - {op: add, name: \"res2{i}\", in: [x, m], out: x}\n"
    "  - {op: layernorm, name: final, in: [x], out: x, weight: nw, eps: 1.0e-5}\n"
    "  - {op: linear, name: head, in: [x], out: logits, weight: tok}\n"
    "  - {op: softcap, name: cap, in: [logits], out: logits, cap: 30.0}\n";

static const tu_tensor TENSORS[] = {
    {"tok", SP_F32, 2, {10, 8}}, {"nw", SP_F32, 1, {8, 0}},  {"wq", SP_BF16, 2, {8, 8}},
    {"wk", SP_F16, 2, {4, 8}},   {"wo", SP_F32, 2, {8, 8}},  {"wg", SP_F32, 2, {12, 8}},
    {"wd", SP_F32, 2, {8, 12}},  {"ids", SP_I32, 1, {8, 0}}, {"h4", SP_F32, 2, {2, 8}},
    {"b2", SP_F32, 1, {2, 0}},
};

/* base with `from` replaced by `to` (from must occur). */
static char *mutate(const char *from, const char *to) {
    const char *at = strstr(BASE, from);
    cr_assert(at, "mutation anchor '%s' not in the base graph", from);
    size_t n = strlen(BASE) - strlen(from) + strlen(to) + 1;
    char *s = malloc(n);
    memcpy(s, BASE, (size_t)(at - BASE));
    strcpy(s + (at - BASE), to);
    strcat(s, at + strlen(from));
    return s;
}

/* Runs `sparsa logits` on a model with this graph; returns the exit status, stderr in *err. */
static int run_graph(const char *yaml, char **err) {
    char *path = tu_tmp_path("val");
    cr_assert_eq(tu_write_model(path, yaml, TENSORS, sizeof TENSORS / sizeof TENSORS[0]), 0);
    char args[600];
    snprintf(args, sizeof args, "logits %s --tokens 1,2,3", path);
    int rc = tu_run_sparsa(args, NULL, err);
    remove(path);
    free(path);
    return rc;
}

static void expect_reject(const char *yaml, const char *node, const char *what) {
    char *err = NULL;
    int rc = run_graph(yaml, &err);
    cr_assert_eq(rc, 2, "exit %d, stderr: %s", rc, err);
    cr_assert_eq(tu_line_count(err), 1, "stderr: %s", err);
    if (node) {
        char q[128];
        snprintf(q, sizeof q, "'%s'", node);
        cr_assert(strstr(err, q), "message does not name node %s: %s", node, err);
    }
    cr_assert(strstr(err, what), "message lacks '%s': %s", what, err);
    free(err);
}

static void reject(const char *from, const char *to, const char *node, const char *what) {
    char *y = mutate(from, to);
    expect_reject(y, node, what);
    free(y);
}

Test(graph_validate, base_graph_is_valid) {
    char *err = NULL;
    int rc = run_graph(BASE, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    free(err);
}

Test(graph_validate, unknown_op) { reject("op: add, name: \"res{i}\"", "op: plus, name: \"res{i}\"", "res0", "unknown op 'plus'"); }
Test(graph_validate, unknown_attribute) { reject("cap: 30.0", "cap: 30.0, kap: 1", "cap", "unknown attribute 'kap'"); }
Test(graph_validate, missing_attribute) { reject(", eps: 1.0e-5}\n  - {op: linear, name: head", "}\n  - {op: linear, name: head", "final", "missing attribute 'eps'"); }
Test(graph_validate, wrong_attribute_type_int) { reject("heads: 2,", "heads: two,", "attn0", "must be an integer"); }
Test(graph_validate, wrong_attribute_type_float) { reject("cap: 30.0", "cap: [30.0]", "cap", "not a list"); }
Test(graph_validate, wrong_attribute_type_bool) { reject("gated: true", "gated: 1", "mlp0", "true or false"); }
Test(graph_validate, unknown_enum_value) { reject("normalizer: softmax", "normalizer: softermax", "attn0", "normalizer must be"); }
Test(graph_validate, unknown_normalizer_lists_the_table) {
    reject("normalizer: softmax}", "normalizer: softermax}", "attn0", "normalizer must be softmax, entmax, sparsemax, adaptive_softmax, stickbreaking");
    reject("normalizer: softmax}", "normalizer: softermax}", "attn0", "topk");
    reject("normalizer: softmax}", "normalizer: softermax}", "attn0", " or ");
    reject("normalizer: softmax}", "normalizer: softermax}", "attn0", " (got 'softermax')");
}
Test(graph_validate, entmax_needs_alpha) { reject("normalizer: softmax}", "normalizer: entmax}", "attn0", "missing attribute 'alpha' (entmax)"); }
Test(graph_validate, entmax_alpha_above_one) { reject("normalizer: softmax}", "normalizer: entmax, alpha: 1.0}", "attn0", "alpha must be > 1"); }
Test(graph_validate, alpha_belongs_to_entmax) { reject("normalizer: softmax}", "normalizer: softmax, alpha: 1.5}", "attn0", "attribute 'alpha' applies to normalizer entmax only"); }
Test(graph_validate, sparsemax_takes_no_alpha) { reject("normalizer: softmax}", "normalizer: sparsemax, alpha: 2.0}", "attn0", "attribute 'alpha' applies to normalizer entmax only"); }
Test(graph_validate, topk_needs_k) { reject("normalizer: softmax}", "normalizer: topk}", "attn0", "missing attribute 'topk'"); }
Test(graph_validate, topk_rule_value) { reject("normalizer: softmax}", "normalizer: topk, topk: 2, topk_rule: half}", "attn0", "topk_rule must be fixed or div2 (got 'half')"); }
Test(graph_validate, topk_belongs_to_topk) { reject("normalizer: softmax}", "normalizer: entmax, alpha: 1.5, topk_rule: div2}", "attn0", "attribute 'topk_rule' applies to normalizer topk only"); }
Test(graph_validate, query_scale_value) { reject("normalizer: softmax}", "normalizer: softmax, query_scale: nakanishi}", "attn0", "query_scale must be none, asentmax, ssmax or learn"); }
Test(graph_validate, scale_attribute_needs_query_scale) { reject("normalizer: softmax}", "normalizer: softmax, scale_delta: 1.0}", "attn0", "attribute 'scale_delta' needs a query_scale"); }
Test(graph_validate, unknown_tensor) { reject("weight: wo}", "weight: w_missing}", "o0", "unknown tensor 'w_missing'"); }
Test(graph_validate, tensor_dtype) { reject("weight: nw, eps: 1.0e-5}\n      - {op: linear", "weight: ids, eps: 1.0e-5}\n      - {op: linear", "n0", "dtype i32"); }
Test(graph_validate, tensor_shape_vs_input_width) { reject("out: a, weight: wo}", "out: a, weight: wd}", "o0", "tensor 'wd' (attribute 'weight') has shape [8, 12], expected [*, 8]"); }
Test(graph_validate, add_width_mismatch) { reject("out: a, weight: wo}", "out: a, weight: wk}", "res0", "widths 8 and 4"); }
Test(graph_validate, tensor_shape_vs_norm_width) { reject("weight: nw, eps: 1.0e-5}\n  - {op: linear", "weight: b2, eps: 1.0e-5}\n  - {op: linear", "final", "shape [2]"); }
Test(graph_validate, mlp_down_shape) { reject("down: wd}", "down: wg}", "mlp0", "tensor 'wg' (attribute 'down')"); }
Test(graph_validate, attention_width_vs_heads) { reject("heads: 2, kv_heads: 1", "heads: 4, kv_heads: 1", "attn0", "heads·head_dim"); }
Test(graph_validate, value_read_before_written) { reject("in: [x, a], out: x}", "in: [x, z], out: x}", "res0", "reads value 'z' before it is written"); }
Test(graph_validate, duplicate_node_name) { reject("name: final,", "name: emb,", "emb", "duplicate node name"); }
Test(graph_validate, duplicate_after_repeat_expansion) { reject("name: \"o{i}\"", "name: \"o\"", "o", "duplicate node name"); }
Test(graph_validate, repeat_count_zero) { reject("repeat: 2", "repeat: 0", NULL, "repeat count 0"); }
Test(graph_validate, repeat_count_too_large) { reject("repeat: 2", "repeat: 4097", NULL, "repeat count 4097"); }
Test(graph_validate, repeat_count_not_int) { reject("repeat: 2", "repeat: two", NULL, "repeat count must be an integer"); }
Test(graph_validate, nested_repeat) { reject("      - {op: rmsnorm", "      - {repeat: 1, nodes: []}\n      - {op: rmsnorm", NULL, "repeats may not nest"); }
Test(graph_validate, two_inputs) { reject("inputs: [tokens]", "inputs: [tokens, more]", NULL, "exactly one"); }
Test(graph_validate, two_outputs) { reject("outputs: [logits]", "outputs: [logits, x]", NULL, "exactly one"); }
Test(graph_validate, output_not_written) { reject("outputs: [logits]", "outputs: [probs]", NULL, "'probs' is never written"); }
Test(graph_validate, logits_width_vs_vocab) { reject("vocab_size: 10", "vocab_size: 9", "cap", "vocab_size is 9"); }
Test(graph_validate, heads_not_multiple_of_kv_heads) { reject("heads: 2, kv_heads: 1", "heads: 2, kv_heads: 3", "attn0", "not a multiple of kv_heads"); }
Test(graph_validate, alibi_slopes_length) { reject("normalizer: softmax}", "normalizer: softmax, alibi_slopes: [0.5, 0.25, 0.1]}", "attn0", "alibi_slopes has 3 entries"); }
Test(graph_validate, scaled_heads_above_heads) { reject("normalizer: softmax}", "normalizer: softmax, query_scale: ssmax, scaled_heads: 3, beta: b2}", "attn0", "scaled_heads 3 > heads 2"); }
Test(graph_validate, asentmax_needs_h_input) { reject("in: [q, k, v], out: a", "in: [q, k, v, h], out: a", "attn0", "takes 3 inputs"); }
Test(graph_validate, wrong_input_count) { reject("in: [x, a], out: x}", "in: [x], out: x}", "res0", "takes 2 inputs"); }
Test(graph_validate, tokens_outside_embed) { reject("in: [x, a], out: x}", "in: [x, tokens], out: x}", "res0", "can only feed an embed"); }
Test(graph_validate, embed_needs_tokens) { reject("in: [tokens], out: x, weight: tok", "in: [x], out: x, weight: tok", "emb", "must be the graph input"); }
Test(graph_validate, newer_opset) { reject("sparsa_graph: 1", "sparsa_graph: 2", NULL, "op-set 2 is newer"); }
Test(graph_validate, unknown_top_level_key) { reject("name: tiny", "name: tiny\nflavour: x", NULL, "unknown top-level key 'flavour'"); }
Test(graph_validate, unknown_repeat_key) { reject("    nodes:\n", "    times: 3\n    nodes:\n", NULL, "unknown key 'times' in repeat"); }
Test(graph_validate, node_without_name) { reject("{op: add, name: \"res{i}\", ", "{op: add, ", NULL, "without 'name'"); }
Test(graph_validate, yaml_syntax_error) { reject("nodes:\n", "nodes: [\n", NULL, "YAML error"); }
Test(graph_validate, rope_style) { reject("style: neox", "style: gptj", "rope0", "style must be"); }
Test(graph_validate, rope_odd_rotary_dim) { reject("head_dim: 4, theta", "head_dim: 4, rotary_dim: 3, theta", "rope0", "rotary_dim 3 must be even"); }
Test(graph_validate, softcap_cap_positive) { reject("cap: 30.0", "cap: -1.0", "cap", "cap must be > 0"); }
Test(graph_validate, output_before_last_attention) {
    /* logits written inside the layer block before attention, never after the last one */
    char *y = mutate("      - {op: attention", "      - {op: linear, name: \"early{i}\", in: [x], out: logits, weight: tok}\n      - {op: attention");
    char *cut = strstr(y, "  - {op: linear, name: head");
    cr_assert(cut);
    *cut = 0;
    expect_reject(y, "early1", "must be written after the last attention op");
    free(y);
}

Test(graph_validate, empty_graph_section) {
    char *path = tu_tmp_path("nograph");
    sp_error e = {0};
    sp_writer *w = NULL;
    cr_assert_eq(sp_writer_create(path, 1, &e, &w), 0);
    cr_assert_eq(sp_writer_finish(w, &e), 0);
    char args[600], *err = NULL;
    snprintf(args, sizeof args, "logits %s --tokens 1", path);
    cr_assert_eq(tu_run_sparsa(args, NULL, &err), 2);
    cr_assert(strstr(err, "no graph"), "%s", err);
    cr_assert_eq(tu_line_count(err), 1);
    free(err);
    remove(path);
    free(path);
}

/* The API reports the same errors (no CLI in between). */
Test(graph_validate, api_error_names_node) {
    char *y = mutate("weight: wo}", "weight: w_missing}");
    char *path = tu_tmp_path("api");
    cr_assert_eq(tu_write_model(path, y, TENSORS, sizeof TENSORS / sizeof TENSORS[0]), 0);
    sp_model *m = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_model_open(path, &m, &err), SP_ERR_INPUT);
    cr_assert_null(m);
    cr_assert(strstr(err.msg, "'o0'"), "%s", err.msg);
    remove(path);
    free(path);
    free(y);
}

/* sp_model_describe: a header of two lines, then one line per op with its inputs, output,
 * width and attributes. */
Test(graph_validate, describe_lists_every_op) {
    char *path = tu_tmp_path("describe");
    cr_assert_eq(tu_write_model(path, BASE, TENSORS, sizeof TENSORS / sizeof TENSORS[0]), 0);
    sp_model *m = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_model_open(path, &m, &err), 0, "%s", err.msg);
    char *d = sp_model_describe(m);
    cr_assert_not_null(d);
    const char *head = "graph 'tiny', op-set 1, vocab 10, context 0, 24 ops, 2 attention layers\n"
                       "input tokens -> output logits; ops 17.. run per logits block of at most 256 rows\n";
    cr_assert_eq(strncmp(d, head, strlen(head)), 0, "%s", d);
    cr_assert(strstr(d, "\n   0 embed      emb                      (tokens) -> x [8] weight=tok\n"), "%s", d);
    cr_assert(strstr(d, "\n   6 attention  attn0                    (q, k, v) -> a [8] heads=2 kv_heads=1 head_dim=4 scale=0.5 normalizer=softmax\n"), "%s", d);
    cr_assert(strstr(d, "\n  23 softcap    cap                      (logits) -> logits [10] cap=30.0\n"), "%s", d);
    cr_assert_eq(tu_line_count(d), 2 + 24, "%s", d);
    free(d);
    sp_model_free(m);
    remove(path);
    free(path);
}
