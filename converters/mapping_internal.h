/* mapping_internal.h — shared by the architecture mappings: a string builder, YAML graph
 * emission, config access with defaults, and the tensor bookkeeping that collects every missing,
 * mis-shaped and unmapped tensor before reporting them together. Not a public header. */
#ifndef SPARSA_MAPPING_INTERNAL_H
#define SPARSA_MAPPING_INTERNAL_H

#include <stdarg.h>

#include "sparsa_convert.h"

/* ---- string builder ---------------------------------------------------------------------- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_put(sbuf *b, const char *s, size_t n);          /* n bytes as they are */
void sb_json_string(sbuf *b, const char *s, size_t n);  /* a quoted, escaped JSON string */
void sb_free(sbuf *b);

/* ---- graph YAML (format/GRAPH.md) ------------------------------------------------------------ */

typedef struct ge {
    sbuf *b;
    const char *indent;   /* "  - " at top level, "      - " inside a repeat */
    int attrs;            /* attributes written in the current node */
} ge;

void ge_scalar_str(sbuf *b, const char *s);   /* plain when safe, else double-quoted */
void ge_scalar_float(sbuf *b, double v);      /* shortest round-trip, always with . or e */
void ge_begin(ge *g, const char *op, const char *name, const char *const *in, int nin, const char *out);
void ge_str(ge *g, const char *key, const char *v);
void ge_int(ge *g, const char *key, long long v);
void ge_float(ge *g, const char *key, double v);
void ge_bool(ge *g, const char *key, int v);
void ge_floats(ge *g, const char *key, const double *v, int n);
void ge_end(ge *g);

/* ---- mapping context ---------------------------------------------------------------------- */

typedef struct map_ctx {
    const sp_ckpt *c;
    sp_out_dtype mode;
    const char *arch;
    char prefix[256];     /* stripped from source names (e.g. "net.model.") */
    unsigned char *used;  /* per checkpoint tensor */
    sp_mapping_result *res;
    sbuf missing, shaped;
    int nmissing, nshaped;
    int nunmapped;
    sbuf unmapped;
    sp_error *err;
    int fatal;            /* out of memory etc. */
} map_ctx;

#define ANY UINT64_MAX

int mc_init(map_ctx *m, const sp_ckpt *c, sp_out_dtype mode, const char *arch, sp_mapping_result *res, sp_error *err);
/* Picks the prefix: the part before `probe` (e.g. "model.embed_tokens.weight") in the tensor
 * name that ends with it; "" if none. */
void mc_detect_prefix(map_ctx *m, const char *probe);
/* The source tensor prefix+name, or NULL; nothing is marked used. */
const sp_src_tensor *mc_find(const map_ctx *m, const char *name);
/* 1 if some tensor name of the checkpoint contains `part`. */
int mc_ckpt_has_name(const sp_ckpt *c, const char *part);
/* How strongly a Gemma-2-shaped checkpoint looks like the paper's SparseGemma2: 2 when its
 * config says so (sparse-attention keys or the architecture name), 1 when only its tensor names
 * do (scale projections, the Lightning net.model. prefix), else 0. */
int mc_paper_gemma2_evidence(const sp_ckpt *c);
/* Finds prefix+name, checks rank and the given dims (ANY = unchecked), marks it used and adds it
 * to the output under `name`. Problems are recorded, not returned; NULL if unusable. */
const sp_src_tensor *mc_take(map_ctx *m, const char *name, uint32_t ndim, uint64_t d0, uint64_t d1);
/* Like mc_take for an optional tensor: NULL without a problem when absent. */
const sp_src_tensor *mc_take_opt(map_ctx *m, const char *name, uint32_t ndim, uint64_t d0, uint64_t d1);
/* Marks a source tensor as consumed without writing it (tied lm_head, rotary buffers). */
void mc_ignore(map_ctx *m, const char *name);
/* Records unmapped tensors and turns all problems into one error line. */
int mc_finish(map_ctx *m, const char *graph_text);
void mc_free(map_ctx *m);
/* The dtype tensor `src` will be written in. */
sp_dtype mc_out_dtype(const map_ctx *m, const sp_src_tensor *src);
/* Emits the decoder layers: repeat block if every layer's text is the same with "{i}", else
 * each layer written out. emit(g, li, i, user) writes one layer using the index string li. */
void mc_emit_layers(map_ctx *m, ge *g, int n,
                    void (*emit)(map_ctx *m, ge *g, const char *li, int i, int take, void *user), void *user);

/* ---- shared blocks -------------------------------------------------------------------------- */

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

/* q/k/v projections (tensor names wq..wo, optional biases bq..bo or NULL), RoPE, attention and
 * the output projection; reads value hin, writes value "a". Layer name ln ("layers.{i}"). */
void emit_attention_block(ge *g, const char *ln, const char *hin, const char *const w[4],
                          const char *const bias[4], const attn_spec *a);

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

/* emit callback for mc_emit_layers; user = layer_spec */
void emit_decoder_layer(map_ctx *m, ge *g, const char *li, int i, int take, void *user);
/* Embedding (optional scale; 0 = none), the layers, final norm, head and optional final softcap. */
int emit_graph(map_ctx *m, const char *name, uint64_t vocab, const char *embed, double embed_scale,
               int nlayers, layer_spec *ls, const char *final_norm, double final_offset,
               const char *head, double final_softcap);

/* ---- config ---------------------------------------------------------------------------------- */

/* The value of key, or NULL when absent or null. */
const sp_json *cfg_get(const sp_json *cfg, const char *key);
int cfg_has(const sp_json *cfg, const char *key); /* present, even if null */
/* Number/int/bool/string getters: default when absent (or null); a wrong type is an error
 * recorded in m (and the default is returned). */
double cfg_num(map_ctx *m, const char *key, double def);
long long cfg_int(map_ctx *m, const char *key, long long def);
int cfg_bool(map_ctx *m, const char *key, int def);
const char *cfg_str(map_ctx *m, const char *key, const char *def);
/* rope_theta at the top level (transformers 4) or under rope_parameters (transformers 5). */
double cfg_rope_theta(map_ctx *m, double def);
/* Rejects RoPE scaling other than none/default (returns nonzero and records the error). */
int cfg_check_rope_scaling(map_ctx *m);
void mc_config_error(map_ctx *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Hugging Face hidden_act / hidden_activation name -> graph activation (records an error when
 * unknown). */
const char *hf_activation(map_ctx *m, const char *key, const char *def);

/* √D rounded to dtype dt, as HF computes the Gemma embedding normalizer. */
double gemma_embed_scale(uint64_t hidden, sp_dtype dt);

/* The parts of a Gemma-2 decoder layer that HF Gemma2 and the paper's SparseGemma2 share: the
 * HF tensor names (attention biases when the config has attention_bias), the four (1 + w)
 * RMSNorms and the GeGLU activation. has_hidden_activation: the config names the activation
 * under hidden_activation (else hidden_act). */
void gemma_layer_common(map_ctx *m, layer_spec *ls, uint64_t hidden, uint64_t ffn,
                        int has_hidden_activation);

#endif
