/* mapping_blocks.h — the decoder-layer graph shared by the mappings (mapping_blocks.c): each
 * block both takes its source tensors (mapping_context.h) and writes its nodes (graph_emit.h).
 * Internal to converters/. */
#ifndef SPARSA_MAPPING_BLOCKS_H
#define SPARSA_MAPPING_BLOCKS_H

#include "graph_emit.h"
#include "mapping_context.h"

/* A pre-norm decoder layer (Llama, torchtitan; Gemma-2 adds the post-norms). Name formats take
 * the layer index as their one %s. */
typedef struct layer_spec {
    const char *q, *k, *v, *o, *bq, *bk, *bv, *bo;  /* bias formats NULL when absent */
    const char *gate, *up, *down, *gate_b, *up_b, *down_b;
    const char *norm_attn, *norm_ffn;                /* pre-norms */
    const char *norm_post_attn, *norm_post_ffn;      /* Gemma-2 post-norms, else NULL */
    uint64_t hidden, ffn;
    double eps, norm_offset;
    const char *activation;
    attn_spec attn;
    /* per-layer attention options (Gemma-2 sliding window), NULL = same for all layers */
    int (*window_of)(int layer, void *user);
    void *window_user;
    /* query-scale tensor formats (asentmax/ssmax/learn); NULL when unused */
    const char *qs_beta_w, *qs_beta_b, *qs_gamma_w, *qs_gamma_b, *qs_beta, *qs_gamma;
} layer_spec;

/* Writes one layer: li is the index in the graph text ("{i}" inside a repeat block), i the
 * layer's number; take: also take its source tensors. */
typedef void (*layer_emit_fn)(map_ctx *m, graph_emitter *g, const char *li, int i, int take, void *user);

/* Emits the decoder layers: a repeat block if every layer's text is the same with "{i}", else
 * each layer written out. */
void mc_emit_layers(map_ctx *m, graph_emitter *g, int n, layer_emit_fn emit, void *user);
/* layer_emit_fn for a layer_spec (user). */
void emit_decoder_layer(map_ctx *m, graph_emitter *g, const char *li, int i, int take, void *user);
/* The whole graph: embedding (optional scale; 0 = none), the layers, final norm, head and
 * optional final softcap; then mc_finish, and on success the graph goes into m->res. */
int emit_graph(map_ctx *m, const char *name, uint64_t vocab, const char *embed, double embed_scale,
               int nlayers, layer_spec *ls, const char *final_norm, double final_offset,
               const char *head, double final_softcap);

#endif
