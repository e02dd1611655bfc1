/* mapping_hf_llama.c — Hugging Face LlamaForCausalLM (transformers 4 and 5 configs): RMSNorm
 * (w), GQA attention with NeoX-style RoPE, SwiGLU MLP, optional attention/MLP biases, tied or
 * separate lm_head. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mapping_blocks.h"

int hf_llama_detect(const sp_ckpt *c) {
    int score = 0;
    for (size_t i = 0; i < c->ntensors; i++) {
        const char *n = c->tensors[i].name;
        if (strstr(n, "pre_feedforward_layernorm")) return 0; /* Gemma-2 */
        if (strstr(n, "layers.0.self_attn.q_proj.weight")) score |= 1;
        if (strstr(n, "layers.0.mlp.gate_proj.weight")) score |= 2;
        if (strstr(n, "embed_tokens.weight")) score |= 4;
    }
    if (score != 7) return 0;
    const sp_json *mt = cfg_get(c->config, "model_type");
    if (mt && mt->type == SP_JSON_STRING && !strcmp(mt->str, "llama")) return 20;
    return 10;
}

int hf_llama_build(const sp_ckpt *c, sp_out_dtype mode, sp_mapping_result *out, sp_error *err) {
    map_ctx m;
    if (mc_init(&m, c, mode, "hf-llama", out, err)) return err->code;
    if (!c->config) {
        mc_free(&m);
        return sp_fail(err, SP_ERR_INPUT, "hf-llama needs a config.json (beside the checkpoint or --config)");
    }
    mc_detect_prefix(&m, "model.embed_tokens.weight");
    long long V = cfg_int(&m, "vocab_size", 32000), D = cfg_int(&m, "hidden_size", 4096),
              F = cfg_int(&m, "intermediate_size", 11008), N = cfg_int(&m, "num_hidden_layers", 32),
              H = cfg_int(&m, "num_attention_heads", 32);
    long long Hk = cfg_int(&m, "num_key_value_heads", H);
    long long hd = cfg_int(&m, "head_dim", H > 0 ? D / H : 0);
    if (V <= 0 || D <= 0 || F <= 0 || N <= 0 || N > 4096 || H <= 0 || Hk <= 0 || hd <= 0 || H % Hk) {
        mc_free(&m);
        return sp_fail(err, SP_ERR_INPUT, "hf-llama: config sizes are invalid (vocab %lld, hidden %lld, ffn %lld, layers %lld, heads %lld/%lld, head_dim %lld)",
                       V, D, F, N, H, Hk, hd);
    }
    int tied = cfg_bool(&m, "tie_word_embeddings", 0);
    int abias = cfg_bool(&m, "attention_bias", 0), mbias = cfg_bool(&m, "mlp_bias", 0);
    cfg_check_rope_scaling(&m);
    layer_spec ls = {0};
    ls.q = "model.layers.%s.self_attn.q_proj.weight";
    ls.k = "model.layers.%s.self_attn.k_proj.weight";
    ls.v = "model.layers.%s.self_attn.v_proj.weight";
    ls.o = "model.layers.%s.self_attn.o_proj.weight";
    if (abias) {
        ls.bq = "model.layers.%s.self_attn.q_proj.bias";
        ls.bk = "model.layers.%s.self_attn.k_proj.bias";
        ls.bv = "model.layers.%s.self_attn.v_proj.bias";
        ls.bo = "model.layers.%s.self_attn.o_proj.bias";
    }
    ls.gate = "model.layers.%s.mlp.gate_proj.weight";
    ls.up = "model.layers.%s.mlp.up_proj.weight";
    ls.down = "model.layers.%s.mlp.down_proj.weight";
    if (mbias) {
        ls.gate_b = "model.layers.%s.mlp.gate_proj.bias";
        ls.up_b = "model.layers.%s.mlp.up_proj.bias";
        ls.down_b = "model.layers.%s.mlp.down_proj.bias";
    }
    ls.norm_attn = "model.layers.%s.input_layernorm.weight";
    ls.norm_ffn = "model.layers.%s.post_attention_layernorm.weight";
    ls.hidden = (uint64_t)D;
    ls.ffn = (uint64_t)F;
    ls.eps = cfg_num(&m, "rms_norm_eps", 1e-6);
    ls.activation = hf_activation(&m, cfg_has(c->config, "hidden_act") ? "hidden_act" : "hidden_activation", "silu");
    ls.attn.heads = (int)H;
    ls.attn.kv_heads = (int)Hk;
    ls.attn.head_dim = (int)hd;
    ls.attn.scale = 1.0 / sqrt((double)hd);
    ls.attn.normalizer = "softmax";
    ls.attn.rope_style = "neox";
    ls.attn.rope_theta = cfg_rope_theta(&m, 10000.0);
    for (long long i = 0; i < N; i++) {
        char n[128];
        snprintf(n, sizeof n, "model.layers.%lld.self_attn.rotary_emb.inv_freq", i);
        mc_ignore(&m, n);
    }
    const char *head = "lm_head.weight";
    if (tied) {
        head = "model.embed_tokens.weight";
        mc_ignore(&m, "lm_head.weight"); /* torch.save keeps the tied copy */
    }
    int rc = emit_graph(&m, "hf-llama", (uint64_t)V, "model.embed_tokens.weight", 0, (int)N, &ls,
                        "model.norm.weight", 0, head, 0);
    mc_free(&m);
    return rc;
}

