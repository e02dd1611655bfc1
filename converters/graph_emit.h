/* graph_emit.h — writing graph text (format/GRAPH.md) for the mappings (graph_emit.c): YAML
 * scalars that read back exactly, one flow-mapping line per node, and the attention block
 * (q/k/v projections, RoPE, the attention node with its normaliser, positions and query
 * scaling, the output projection). Graph text only: no tensors, no config. Internal to
 * converters/. */
#ifndef SPARSA_GRAPH_EMIT_H
#define SPARSA_GRAPH_EMIT_H

#include "sparsa_common.h"

/* Where nodes go, and at which indent. */
typedef struct graph_emitter {
    sp_strbuf *b;
    const char *indent;   /* "  - " at top level, "      - " inside a repeat */
} graph_emitter;

void ge_scalar_str(sp_strbuf *b, const char *s);   /* plain when safe, else double-quoted */
void ge_scalar_float(sp_strbuf *b, double v);      /* shortest round-trip, always with . or e */
/* Starts node "{op: OP, name: NAME, in: [..], out: OUT"; attributes follow; ge_end closes it. */
void ge_begin(graph_emitter *g, const char *op, const char *name, const char *const *in, int nin, const char *out);
void ge_str(graph_emitter *g, const char *key, const char *v);
void ge_int(graph_emitter *g, const char *key, long long v);
void ge_float(graph_emitter *g, const char *key, double v);
void ge_bool(graph_emitter *g, const char *key, int v);
void ge_floats(graph_emitter *g, const char *key, const double *v, int n);
void ge_end(graph_emitter *g);

/* An attention layer as the graph states it. */
typedef struct attn_spec {
    int heads, kv_heads, head_dim;
    double scale;
    int window;               /* 0 = none */
    double softcap;           /* 0 = none */
    const char *normalizer;   /* softmax entmax sparsemax adaptive_softmax stickbreaking topk */
    double alpha;
    int topk, topk_div2;
    const double *slopes;     /* NULL or heads values */
    const char *rope_style;   /* NULL = no RoPE; "neox" or "interleaved" */
    double rope_theta;
    const char *query_scale;  /* NULL, asentmax, ssmax, learn */
    int scaled_heads;
    double scale_delta, gamma_range;
    const char *beta_weight, *beta_bias, *gamma_weight, *gamma_bias, *beta, *gamma; /* names */
} attn_spec;

/* q/k/v projections (tensor names w[0..3] = wq..wo, optional biases or NULL), RoPE, attention
 * and the output projection; reads value hin, writes value "a". Layer name ln ("layers.{i}"). */
void emit_attention_block(graph_emitter *g, const char *ln, const char *hin, const char *const w[4],
                          const char *const bias[4], const attn_spec *a);

#endif
