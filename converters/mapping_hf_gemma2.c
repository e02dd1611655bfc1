/* mapping_hf_gemma2.c — Hugging Face Gemma2ForCausalLM: embedding scaled by √D (rounded to the
 * weight dtype, as HF casts it), RMSNorm with (1 + w), pre- and post-norms around attention and
 * the GeGLU MLP, attention scale query_pre_attn_scalar^-1/2, attention and final logit softcaps,
 * a sliding window on alternating layers (or per `layer_types`), tied embeddings by default. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gemma2_common.h"

/* Gemma2Config defaults (= gemma-2-2b), used for keys a config lacks. */
#define G2_VOCAB 256000
#define G2_HIDDEN 2304
#define G2_FFN 9216
#define G2_LAYERS 26
#define G2_HEADS 8
#define G2_KV 4
#define G2_HEAD_DIM 256

int hf_gemma2_detect(const sp_ckpt *c) {
    if (!mc_ckpt_has_name(c, "pre_feedforward_layernorm") || !mc_ckpt_has_name(c, "embed_tokens.weight")) return 0;
    /* anything of the paper's model leaves it to asentmax-gemma2 */
    return gemma2_paper_evidence(c) ? 5 : 15;
}

typedef struct { int *sliding; } win_user;

static int window_of(int layer, void *user) {
    win_user *w = user;
    return w->sliding[layer];
}

int hf_gemma2_build(const sp_ckpt *c, sp_out_dtype mode, sp_mapping_result *out, sp_error *err) {
    map_ctx m;
    if (mc_init(&m, c, mode, "hf-gemma2", out, err)) return err->code;
    if (!c->config) {
        mc_free(&m);
        return sp_fail(err, SP_ERR_INPUT, "hf-gemma2 needs a config.json (beside the checkpoint or --config)");
    }
    mc_detect_prefix(&m, "model.embed_tokens.weight");
    long long V = cfg_int(&m, "vocab_size", G2_VOCAB), D = cfg_int(&m, "hidden_size", G2_HIDDEN),
              F = cfg_int(&m, "intermediate_size", G2_FFN), N = cfg_int(&m, "num_hidden_layers", G2_LAYERS),
              H = cfg_int(&m, "num_attention_heads", G2_HEADS);
    long long Hk = cfg_int(&m, "num_key_value_heads", G2_KV), hd = cfg_int(&m, "head_dim", G2_HEAD_DIM);
    if (V <= 0 || D <= 0 || F <= 0 || N <= 0 || N > 4096 || H <= 0 || Hk <= 0 || hd <= 0 || H % Hk) {
        mc_free(&m);
        return sp_fail(err, SP_ERR_INPUT, "hf-gemma2: config sizes are invalid (vocab %lld, hidden %lld, ffn %lld, layers %lld, heads %lld/%lld, head_dim %lld)",
                       V, D, F, N, H, Hk, hd);
    }
    double qpas = cfg_num(&m, "query_pre_attn_scalar", 256);
    double attn_cap = cfg_has(c->config, "attn_logit_softcapping") ? cfg_num(&m, "attn_logit_softcapping", 0) : 50.0;
    double final_cap = cfg_has(c->config, "final_logit_softcapping") ? cfg_num(&m, "final_logit_softcapping", 0) : 30.0;
    long long sw = cfg_has(c->config, "sliding_window") ? cfg_int(&m, "sliding_window", 0) : 4096;
    int tied = cfg_bool(&m, "tie_word_embeddings", 1);
    cfg_check_rope_scaling(&m);
    if (qpas <= 0 || attn_cap < 0 || final_cap < 0 || sw < 0) mc_config_error(&m, "query_pre_attn_scalar, softcaps and sliding_window must be positive");
    int sliding[4096];
    const sp_json *lt = cfg_get(c->config, "layer_types");
    for (long long i = 0; i < N; i++) {
        int s = (i % 2) == 0; /* transformers 4.4x: even layers slide */
        if (lt) {
            const sp_json *e = lt->type == SP_JSON_ARRAY && (long long)lt->len == N ? lt->items[i] : NULL;
            if (!e || e->type != SP_JSON_STRING) {
                mc_config_error(&m, "layer_types must list one string per layer");
                lt = NULL;
            } else if (!strcmp(e->str, "sliding_attention")) s = 1;
            else if (!strcmp(e->str, "full_attention")) s = 0;
            else mc_config_error(&m, "unknown layer type '%s'", e->str);
        }
        sliding[i] = s && sw > 0 ? (int)(sw > 0x7fffffff ? 0x7fffffff : sw) : 0;
    }
    win_user wu = {sliding};
    layer_spec ls = {0};
    gemma_layer_common(&m, &ls, (uint64_t)D, (uint64_t)F, cfg_has(c->config, "hidden_activation"));
    ls.attn.heads = (int)H;
    ls.attn.kv_heads = (int)Hk;
    ls.attn.head_dim = (int)hd;
    ls.attn.scale = qpas > 0 ? pow(qpas, -0.5) : 1.0;
    ls.attn.softcap = attn_cap;
    ls.attn.normalizer = "softmax";
    ls.attn.rope_style = "neox";
    ls.attn.rope_theta = cfg_rope_theta(&m, 10000.0);
    ls.window_of = window_of;
    ls.window_user = &wu;
    const sp_src_tensor *emb = mc_find(&m, "model.embed_tokens.weight");
    double scale = gemma_embed_scale((uint64_t)D, emb ? mc_out_dtype(&m, emb) : SP_F32);
    const char *head = "lm_head.weight";
    if (tied) {
        head = "model.embed_tokens.weight";
        mc_ignore(&m, "lm_head.weight");
    }
    int rc = emit_graph(&m, "hf-gemma2", (uint64_t)V, "model.embed_tokens.weight", scale, (int)N, &ls,
                        "model.norm.weight", 1.0, head, final_cap);
    mc_free(&m);
    return rc;
}

