/* gemma2_common.c — the Gemma-2 pieces both Gemma mappings use (gemma2_common.h): telling the
 * paper's model from plain Gemma-2, the embedding scale as HF rounds it, and the decoder
 * layer's tensor names, norms and activation. */
#include <math.h>
#include <string.h>

#include "gemma2_common.h"

int gemma2_paper_evidence(const sp_ckpt *c) {
    static const char *sparse[] = {"entmax_alpha", "apply_nape", "apply_rotary", "attn_scale_type", "attn_type"};
    for (size_t i = 0; i < sizeof sparse / sizeof sparse[0]; i++)
        if (cfg_has(c->config, sparse[i])) return 2;
    const sp_json *ar = cfg_get(c->config, "architectures");
    if (ar && ar->type == SP_JSON_ARRAY)
        for (size_t i = 0; i < ar->len; i++)
            if (ar->items[i]->type == SP_JSON_STRING && strstr(ar->items[i]->str, "SparseGemma2")) return 2;
    return mc_ckpt_has_name(c, "attn_scale_") || mc_ckpt_has_name(c, "net.model.");
}

double gemma_embed_scale(uint64_t hidden, sp_dtype dt) {
    double s = sqrt((double)hidden);
    float f = (float)s;
    if (dt == SP_BF16) return (double)sp_bf16_to_f32(sp_f32_to_bf16(f));
    if (dt == SP_F16) return (double)sp_f16_to_f32(sp_f32_to_f16(f));
    return (double)f;
}

void gemma_layer_common(map_ctx *m, layer_spec *ls, uint64_t hidden, uint64_t ffn, int has_hidden_activation) {
    ls->q = "model.layers.%s.self_attn.q_proj.weight";
    ls->k = "model.layers.%s.self_attn.k_proj.weight";
    ls->v = "model.layers.%s.self_attn.v_proj.weight";
    ls->o = "model.layers.%s.self_attn.o_proj.weight";
    if (cfg_bool(m, "attention_bias", 0)) {
        ls->bq = "model.layers.%s.self_attn.q_proj.bias";
        ls->bk = "model.layers.%s.self_attn.k_proj.bias";
        ls->bv = "model.layers.%s.self_attn.v_proj.bias";
        ls->bo = "model.layers.%s.self_attn.o_proj.bias";
    }
    ls->gate = "model.layers.%s.mlp.gate_proj.weight";
    ls->up = "model.layers.%s.mlp.up_proj.weight";
    ls->down = "model.layers.%s.mlp.down_proj.weight";
    ls->norm_attn = "model.layers.%s.input_layernorm.weight";
    ls->norm_post_attn = "model.layers.%s.post_attention_layernorm.weight";
    ls->norm_ffn = "model.layers.%s.pre_feedforward_layernorm.weight";
    ls->norm_post_ffn = "model.layers.%s.post_feedforward_layernorm.weight";
    ls->hidden = hidden;
    ls->ffn = ffn;
    ls->eps = cfg_num(m, "rms_norm_eps", 1e-6);
    ls->norm_offset = 1.0;
    ls->activation = hf_activation(m, has_hidden_activation ? "hidden_activation" : "hidden_act",
                                   "gelu_pytorch_tanh");
}
