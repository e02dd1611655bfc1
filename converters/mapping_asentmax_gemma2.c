/* mapping_asentmax_gemma2.c — the paper's SparseGemma2ForCausalLM (deep-spin/asentmax,
 * synthetic/src/models/architectures/sparse_gemma.py), usually a Lightning checkpoint whose
 * state_dict carries the "net.model." prefix.
 *
 * Hyper-parameters: a Gemma2Config (+ the sparse-attention keys). Keys the config lacks take
 * the gemma-2-2b values (the training code starts from AutoConfig("google/gemma-2-2b")), and the
 * sparse keys their values in configs/model/sparse_gemma.yaml. Gemma-2 keys the model ignores
 * are not read: query_pre_attn_scalar (the scale is 1/sqrt(head_dim)), attn_logit_softcapping
 * (the decoder layer forces None), sliding_window / layer_types (is_sliding is forced False),
 * final_logit_softcapping (null in every paper config; the model is described without it).
 *
 * Attention: normaliser from attn_type / entmax_alpha / poly_fit; RoPE when apply_rotary; NAPE
 * slopes (ALiBi heads first: linear 1/(h+1) or exp 2^-h, zeros after) when apply_nape, computed
 * here into alibi_slopes (stick-breaking uses none); length scaling of the last
 * H - alibi_num_heads heads with NAPE (else all H) for attn_scale_type adapt-softplus-tanh
 * (asentmax), nakanishi (ssmax) and learn; the position term is log(i + 2). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemma2_common.h"

int asentmax_gemma2_detect(const sp_ckpt *c) {
    if (!mc_ckpt_has_name(c, "pre_feedforward_layernorm") || !mc_ckpt_has_name(c, "embed_tokens.weight")) return 0;
    static const int score[3] = {1, 18, 20};
    return score[gemma2_paper_evidence(c)];
}

/* Press et al. slopes (the reference's apply_alibi option): 2^(-8(h+1)/n) for a power of two,
 * else those of the largest smaller power of two c then every other slope of 2c. */
static void press_slopes(int n, double *out) {
    int c = 1;
    while (c * 2 <= n) c *= 2;
    double start = pow(2.0, -pow(2.0, -(log2((double)c) - 3)));
    for (int i = 0; i < c; i++) out[i] = start * pow(start, i);
    if (c == n) return;
    double start2 = pow(2.0, -pow(2.0, -(log2((double)(2 * c)) - 3)));
    for (int i = 0; i < n - c; i++) out[c + i] = start2 * pow(start2, 2 * i);
}

/* attn_type / entmax_alpha / poly_fit -> the graph's normaliser. */
static void choose_normalizer(map_ctx *m, attn_spec *a) {
    double alpha = cfg_num(m, "entmax_alpha", 1.5);
    const char *type = cfg_str(m, "attn_type", "regular");
    if (!strcmp(type, "stick-break") || !strcmp(type, "stickbreaking")) a->normalizer = "stickbreaking";
    else if (!strcmp(type, "topk")) {
        a->normalizer = "topk";
        if (!cfg_get(m->c->config, "topk_size")) mc_config_error(m, "attn_type topk needs topk_size");
        a->topk = (int)cfg_int(m, "topk_size", 1);
        const char *rule = cfg_str(m, "topk_length_rule", NULL);
        if (rule && strcmp(rule, "div-2")) mc_config_error(m, "unknown topk_length_rule '%s'", rule);
        a->topk_div2 = rule != NULL;
        if (a->topk <= 0) mc_config_error(m, "topk_size must be positive");
    } else if (!strcmp(type, "regular")) {
        if (alpha == 1.0) a->normalizer = cfg_bool(m, "poly_fit", 0) ? "adaptive_softmax" : "softmax";
        else if (alpha == 2.0) a->normalizer = "sparsemax";
        else if (alpha > 1.0) {
            a->normalizer = "entmax";
            a->alpha = alpha;
        } else {
            mc_config_error(m, "entmax_alpha must be >= 1 (got %g)", alpha);
            a->normalizer = "softmax";
        }
    } else {
        mc_config_error(m, "unknown attn_type '%s'", type);
        a->normalizer = "softmax";
    }
}

/* Positions: RoPE when apply_rotary; NAPE slopes on the first A heads when apply_nape, else
 * Press slopes when apply_alibi (both rounded to f32 as the reference keeps them); slopes holds
 * H zeros on entry. *nape and *A tell the query scaling which heads are left to scale. */
static void positions(map_ctx *m, attn_spec *a, long long H, double *slopes, int *nape, long long *A) {
    if (cfg_bool(m, "apply_rotary", 0)) {
        cfg_check_rope_scaling(m);
        a->rope_style = "neox";
        a->rope_theta = cfg_rope_theta(m, 10000.0);
    }
    *nape = cfg_bool(m, "apply_nape", 1);
    int press = cfg_bool(m, "apply_alibi", 0);
    *A = cfg_int(m, "alibi_num_heads", H / 2);
    if (*nape && (*A < 0 || *A > H)) mc_config_error(m, "alibi_num_heads %lld out of range 0..%lld", *A, H);
    if (!strcmp(a->normalizer, "stickbreaking")) return; /* stick-breaking adds no bias */
    if (*nape) {
        const char *st = cfg_str(m, "alibi_slope_type", "linear");
        int lin = !strcmp(st, "linear");
        if (!lin && strcmp(st, "exp")) mc_config_error(m, "alibi_slope_type must be linear or exp, not '%s'", st);
        for (long long h = 0; h < H && h < *A; h++) slopes[h] = lin ? (double)(1.0f / (float)(h + 1)) : ldexp(1.0, (int)-h);
        a->slopes = slopes;
    } else if (press) {
        press_slopes((int)H, slopes);
        for (long long h = 0; h < H; h++) slopes[h] = (double)(float)slopes[h];
        a->slopes = slopes;
    }
}

/* Length-dependent query scaling (attn_scale_type) and its tensors. */
static void query_scaling(map_ctx *m, layer_spec *ls, long long H, int nape, long long A) {
    attn_spec *a = &ls->attn;
    const char *qs = cfg_str(m, "attn_scale_type", NULL);
    if (!qs) return;
    a->scaled_heads = (int)(nape ? H - A : H);
    if (a->scaled_heads <= 0) mc_config_error(m, "no heads left to scale (alibi_num_heads must be < num_attention_heads)");
    a->scale_delta = cfg_num(m, "attn_scale_delta", 1.0);
    a->gamma_range = cfg_num(m, "attn_scale_gamma_range", 2.0);
    if (!strcmp(qs, "adapt-softplus-tanh")) {
        a->query_scale = "asentmax";
        ls->qs_beta_w = "model.layers.%s.self_attn.attn_scale_beta_proj.weight";
        ls->qs_gamma_w = "model.layers.%s.self_attn.attn_scale_gamma_proj.weight";
        if (cfg_bool(m, "attn_scale_proj_bias", 0)) {
            ls->qs_beta_b = "model.layers.%s.self_attn.attn_scale_beta_proj.bias";
            ls->qs_gamma_b = "model.layers.%s.self_attn.attn_scale_gamma_proj.bias";
        }
    } else if (!strcmp(qs, "nakanishi")) {
        a->query_scale = "ssmax";
        ls->qs_beta = "model.layers.%s.self_attn.attn_scale_beta";
    } else if (!strcmp(qs, "learn")) {
        a->query_scale = "learn";
        ls->qs_beta = "model.layers.%s.self_attn.attn_scale_beta";
        ls->qs_gamma = "model.layers.%s.self_attn.attn_scale_gamma";
    } else
        mc_config_error(m, "unknown attn_scale_type '%s'", qs);
}

int asentmax_gemma2_build(const sp_ckpt *c, sp_out_dtype mode, sp_mapping_result *out, sp_error *err) {
    map_ctx m;
    if (mc_init(&m, c, mode, "asentmax-gemma2", out, err)) return err->code;
    if (!c->config) {
        mc_free(&m);
        return sp_fail(err, SP_ERR_INPUT,
                       "asentmax-gemma2 needs the model's config: a config.json beside the checkpoint, --config, or hyper_parameters in the checkpoint");
    }
    mc_detect_prefix(&m, "model.embed_tokens.weight");
    /* gemma-2-2b values for absent keys, but the vocabulary: the paper's wrapper sets it from
     * the tokenizer, so a config recovered from hyper_parameters lacks it; the embedding has it */
    long long V0 = 256000;
    const sp_src_tensor *emb = mc_find(&m, "model.embed_tokens.weight");
    if (emb && emb->ndim == 2 && emb->shape[0] > 0 && emb->shape[0] < (1ull << 40)) V0 = (long long)emb->shape[0];
    long long V = cfg_int(&m, "vocab_size", V0), D = cfg_int(&m, "hidden_size", 2304),
              F = cfg_int(&m, "intermediate_size", 9216), N = cfg_int(&m, "num_hidden_layers", 26),
              H = cfg_int(&m, "num_attention_heads", 8);
    long long Hk = cfg_int(&m, "num_key_value_heads", 4), hd = cfg_int(&m, "head_dim", 256);
    if (V <= 0 || D <= 0 || F <= 0 || N <= 0 || N > 4096 || H <= 0 || H > 4096 || Hk <= 0 || hd <= 0 || H % Hk) {
        mc_free(&m);
        return sp_fail(err, SP_ERR_INPUT, "asentmax-gemma2: config sizes are invalid (vocab %lld, hidden %lld, ffn %lld, layers %lld, heads %lld/%lld, head_dim %lld)",
                       V, D, F, N, H, Hk, hd);
    }
    double *slopes = calloc((size_t)H, sizeof *slopes);
    if (!slopes) {
        mc_free(&m);
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    }
    layer_spec ls = {0};
    attn_spec *a = &ls.attn;
    a->heads = (int)H;
    a->kv_heads = (int)Hk;
    a->head_dim = (int)hd;
    a->scale = pow((double)hd, -0.5);
    choose_normalizer(&m, a);
    int nape;
    long long A;
    positions(&m, a, H, slopes, &nape, &A);
    query_scaling(&m, &ls, H, nape, A);
    gemma_layer_common(&m, &ls, (uint64_t)D, (uint64_t)F, cfg_has(c->config, "hidden_activation"));
    double scale = gemma_embed_scale((uint64_t)D, emb ? mc_out_dtype(&m, emb) : SP_F32);
    const char *head = "lm_head.weight";
    if (cfg_bool(&m, "tie_word_embeddings", 0)) {
        head = "model.embed_tokens.weight";
        mc_ignore(&m, "lm_head.weight");
    }
    int rc = emit_graph(&m, "asentmax-gemma2", (uint64_t)V, "model.embed_tokens.weight", scale, (int)N, &ls,
                        "model.norm.weight", 1.0, head, 0);
    free(slopes);
    mc_free(&m);
    return rc;
}
