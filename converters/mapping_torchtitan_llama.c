/* mapping_torchtitan_llama.c — torchtitan (Meta-style) Llama state dicts with params.json:
 * tok_embeddings, layers.{i}.attention.wq/wk/wv/wo, feed_forward.w1/w2/w3, attention_norm,
 * ffn_norm, norm, output. RoPE uses interleaved pairs; the FFN width comes from the weights
 * (params.json only gives multiple_of/ffn_dim_multiplier); norm_eps defaults to 1e-5. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mapping_blocks.h"

int torchtitan_llama_detect(const sp_ckpt *c) {
    int score = 0;
    for (size_t i = 0; i < c->ntensors; i++) {
        const char *n = c->tensors[i].name;
        if (strstr(n, "tok_embeddings.weight")) score |= 1;
        if (strstr(n, "layers.0.attention.wq.weight")) score |= 2;
        if (strstr(n, "layers.0.feed_forward.w1.weight")) score |= 4;
    }
    return score == 7 ? 20 : 0;
}

int torchtitan_llama_build(const sp_ckpt *c, sp_out_dtype mode, sp_mapping_result *out, sp_error *err) {
    map_ctx m;
    if (mc_init(&m, c, mode, "torchtitan-llama", out, err)) return err->code;
    if (!c->config) {
        mc_free(&m);
        return sp_fail(err, SP_ERR_INPUT, "torchtitan-llama needs params.json (beside the checkpoint or --config)");
    }
    mc_detect_prefix(&m, "tok_embeddings.weight");
    const sp_src_tensor *emb = mc_find(&m, "tok_embeddings.weight");
    const sp_src_tensor *w1 = mc_find(&m, "layers.0.feed_forward.w1.weight");
    long long D = cfg_int(&m, "dim", emb && emb->ndim == 2 ? (long long)emb->shape[1] : 0);
    long long V = cfg_int(&m, "vocab_size", -1);
    if (V <= 0 && emb && emb->ndim == 2) V = (long long)emb->shape[0]; /* -1: from the tokenizer */
    long long N = cfg_int(&m, "n_layers", 0), H = cfg_int(&m, "n_heads", 0);
    long long Hk = cfg_int(&m, "n_kv_heads", H);
    long long F = w1 && w1->ndim == 2 ? (long long)w1->shape[0] : 0;
    if (!cfg_get(c->config, "n_heads") || !cfg_get(c->config, "n_layers"))
        mc_config_error(&m, "params.json needs n_layers and n_heads");
    if (V <= 0 || D <= 0 || N <= 0 || N > 4096 || H <= 0 || Hk <= 0 || H % Hk || D % H || F <= 0) {
        mc_free(&m);
        return sp_fail(err, SP_ERR_INPUT, "torchtitan-llama: sizes are invalid or missing (vocab %lld, dim %lld, ffn %lld from layers.0.feed_forward.w1, layers %lld, heads %lld/%lld)",
                       V, D, F, N, H, Hk);
    }
    layer_spec ls = {0};
    ls.q = "layers.%s.attention.wq.weight";
    ls.k = "layers.%s.attention.wk.weight";
    ls.v = "layers.%s.attention.wv.weight";
    ls.o = "layers.%s.attention.wo.weight";
    ls.gate = "layers.%s.feed_forward.w1.weight";
    ls.up = "layers.%s.feed_forward.w3.weight";
    ls.down = "layers.%s.feed_forward.w2.weight";
    ls.norm_attn = "layers.%s.attention_norm.weight";
    ls.norm_ffn = "layers.%s.ffn_norm.weight";
    ls.hidden = (uint64_t)D;
    ls.ffn = (uint64_t)F;
    ls.eps = cfg_num(&m, "norm_eps", 1e-5);
    ls.activation = "silu";
    ls.attn.heads = (int)H;
    ls.attn.kv_heads = (int)Hk;
    ls.attn.head_dim = (int)(D / H);
    ls.attn.scale = 1.0 / sqrt((double)(D / H));
    ls.attn.normalizer = "softmax";
    ls.attn.rope_style = "interleaved";
    ls.attn.rope_theta = cfg_num(&m, "rope_theta", 10000.0);
    if (cfg_get(c->config, "use_scaled_rope") && cfg_bool(&m, "use_scaled_rope", 0))
        mc_config_error(&m, "use_scaled_rope (Llama-3.1 RoPE scaling) is not supported");
    mc_ignore(&m, "freqs_cis");
    int rc = emit_graph(&m, "torchtitan-llama", (uint64_t)V, "tok_embeddings.weight", 0, (int)N, &ls, "norm.weight", 0,
                        "output.weight", 0);
    mc_free(&m);
    return rc;
}

