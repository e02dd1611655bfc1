"""make_fixtures.py - regenerates the golden fixtures of sparsa from the PyTorch reference.

    /usr/bin/python3 tests/reference/make_fixtures.py tests/fixtures      (= make fixtures)

Needs torch (Debian python3-torch 1.13 is enough) and numpy. Deterministic: every model and
input comes from a seeded torch.Generator, so running it twice gives identical files.

Writes
  <out>/models/<name>.sparsa   the model (sparsa_export.export), weights in the named dtype
  <out>/models/<name>.tokens   the 64 input ids, comma-separated, one line
  <out>/models/<name>.logits   float32 little-endian [64, vocab]: the reference's logits,
                               computed in float32 on exactly the stored (rounded) weights
  <out>/models/MANIFEST.json   name -> arch, variant, dtype, sizes, measured attention sparsity
  <out>/checkpoints/...        source checkpoints for the converters (see make_checkpoints)
"""

import functools
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sparsa_export as E  # noqa: E402
import sparsa_ref as R  # noqa: E402

N_TOKENS = 64

# ---- architecture fixtures (softmax attention), each in f32, f16 and bf16 -------------------

LLAMA = dict(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
             rope_theta=10000.0)
GEMMA2 = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, head_dim=16,
              query_pre_attn_scalar=24, attn_logit_softcapping=5.0,
              final_logit_softcapping=10.0, sliding_window=16, rms_norm_eps=1e-6,
              rope_theta=10000.0)
# The paper's model: no GQA, gemma-2 defaults otherwise (the softmax+RoPE architecture fixture
# also has head_dim * heads != hidden).
SPARSE = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
              num_attention_heads=4, head_dim=8, rms_norm_eps=1e-6, rope_theta=10000.0)
TITAN = dict(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=80, multiple_of=16,
             ffn_dim_multiplier=1.3, norm_eps=1e-5, rope_theta=500000.0)

ARCH_FIXTURES = [
    # name, arch, config/params, variant, qk gain
    ("hf-llama", "hf-llama", LLAMA, "GQA 4/2 heads, untied", 1.6),
    ("hf-llama-tied", "hf-llama", dict(LLAMA, tie_word_embeddings=True),
     "GQA 4/2 heads, tied embeddings (no lm_head tensor)", 1.6),
    ("hf-gemma2", "hf-gemma2", GEMMA2,
     "GQA 4/2, head_dim 16, query_pre_attn_scalar 24, attn softcap 5, final softcap 10, "
     "sliding window 16 on layer 0", 1.8),
    ("sparse-gemma2-softmax-rope", "sparse-gemma2",
     dict(SPARSE, head_dim=16, entmax_alpha=1.0, apply_rotary=True, apply_nape=False),
     "softmax + RoPE", 1.6),
    ("torchtitan-llama", "torchtitan-llama", TITAN,
     "params.json semantics, interleaved RoPE theta 5e5, FFN 112", 1.6),
]

# ---- attention variants on SparseGemma2, bf16 weights like the paper's runs ----------------

NAPE = dict(apply_rotary=False, apply_nape=True, alibi_num_heads=2)
VARIANTS = [
    ("sg2-entmax15-nape", dict(entmax_alpha=1.5, **NAPE), "entmax-1.5 + NAPE (linear)", 1.8),
    ("sg2-asentmax-nape", dict(entmax_alpha=1.5, attn_scale_type="adapt-softplus-tanh",
                               attn_scale_proj_bias=True, **NAPE),
     "ASEntmax (alpha 1.5, softplus/tanh projections with bias) + NAPE", 1.8),
    ("sg2-ssmax-nape", dict(entmax_alpha=1.0, attn_scale_type="nakanishi",
                            alibi_slope_type="exp", **NAPE),
     "softmax + SSMax (nakanishi) + NAPE (exp slopes)", 1.6),
    ("sg2-sparsemax-nope", dict(entmax_alpha=2.0, apply_rotary=False, apply_nape=False),
     "sparsemax + NoPE", 1.6),
    ("sg2-entmax13-rope", dict(entmax_alpha=1.3, apply_rotary=True, apply_nape=False),
     "entmax alpha 1.3 (converged bisection) + RoPE", 2.2),
    ("sg2-stickbreaking", dict(attn_type="stick-break", apply_rotary=False, apply_nape=False),
     "stick-breaking (strictly earlier keys, remainder dropped), NoPE", 1.6),
    ("sg2-topk-nape", dict(attn_type="topk", topk_size=8, **NAPE),
     "top-k softmax (k = 8, fixed) + NAPE", 1.6),
    ("sg2-adaptive-softmax-nape", dict(entmax_alpha=1.0, poly_fit=True, **NAPE),
     "adaptive-temperature softmax (poly-fit) + NAPE", 1.2),
    ("sg2-learn-entmax15-nape", dict(entmax_alpha=1.5, attn_scale_type="learn", **NAPE),
     "entmax-1.5 + learn scaling (per-head beta, gamma) + NAPE", 1.8),
    ("sg2-entmax15-alibi", dict(entmax_alpha=1.5, apply_rotary=False, apply_nape=False,
                                apply_alibi=True),
     "entmax-1.5 + ALiBi (Press slopes on every head)", 1.8),
    ("sg2-asentmax-nape-nobias", dict(entmax_alpha=1.5, attn_scale_type="adapt-softplus-tanh",
                                      attn_scale_proj_bias=False, **NAPE),
     "ASEntmax (alpha 1.5, projections without bias) + NAPE", 1.8),
]


def build(arch, conf):
    if arch == "torchtitan-llama":
        return R.TorchTitanLlama(conf)
    return R.ARCHS[arch](R.Config(**conf))


@torch.no_grad()
def init_weights(model, seed, qk_gain, norm_neutral=None):
    """Deterministic random weights that give non-trivial attention.

    Linear weights ~ N(0, 1/fan_in) (unit-variance outputs); q/k projections times qk_gain,
    so scores have a spread of roughly qk_gain^2 and attention is peaked but not one-hot (and
    genuinely sparse for entmax); norm weights perturbed around their neutral value (1 for
    Llama's w, 0 for Gemma's 1 + w; norm_neutral overrides it for foreign model classes);
    length-scaling parameters spread over their useful range."""
    g = torch.Generator().manual_seed(seed)

    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=g) * std + mean

    for name, p in model.named_parameters():
        shape = p.shape
        if "embed" in name or "tok_embeddings" in name:
            p.copy_(normal(shape, 1.0))
        elif name.endswith("norm.weight") or "layernorm" in name:
            neutral = norm_neutral
            if neutral is None:
                neutral = 0.0 if isinstance(model, R.Gemma2ForCausalLM) else 1.0
            p.copy_(normal(shape, 0.1, neutral))
        elif "attn_scale_beta_proj" in name or "attn_scale_gamma_proj" in name:
            if name.endswith("bias"):
                p.copy_(normal(shape, 0.5))
            else:
                p.copy_(normal(shape, 0.4 / shape[1] ** 0.5))
        elif name.endswith("attn_scale_beta"):
            p.copy_(torch.rand(shape, generator=g) + 0.5)        # U(0.5, 1.5)
        elif name.endswith("attn_scale_gamma"):
            p.copy_(normal(shape, 0.5))
        elif p.dim() == 2:
            std = 1.0 / shape[1] ** 0.5
            if any(k in name for k in ("q_proj", "k_proj", "wq", "wk")):
                std *= qk_gain
            if name in ("lm_head.weight", "output.weight"):
                std *= 2.5
            p.copy_(normal(shape, std))
        else:
            p.copy_(normal(shape, 0.1))
    return model


def tokens_for(seed, vocab):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (N_TOKENS,), generator=g)


def write_expected(stem, tokens, logits):
    with open(stem + ".tokens", "w") as f:
        f.write(",".join(str(int(t)) for t in tokens) + "\n")
    arr = logits.detach().cpu().float().numpy().astype("<f4")
    with open(stem + ".logits", "wb") as f:
        f.write(arr.tobytes())


def run_reference(model, tokens):
    """float32 logits [n, vocab] and the measured fraction of exactly-zero attention weights."""
    model.eval()
    logits, zf = R.attention_stats(model, tokens[None])
    return logits[0], zf


def mean_max_weight(model, tokens):
    """Mean over rows (with >= 8 visible keys) of the largest attention weight: 1/n would be
    uniform, 1 one-hot."""
    model.record_attention(True)
    with torch.no_grad():
        model(tokens[None])
    vals = []
    for a in model.attention_modules():
        w = a.last_weights[0]
        vals.append(w[:, 8:, :].max(-1).values.mean())
    model.record_attention(False)
    return float(torch.stack(vals).mean())


def make_model_fixture(outdir, name, arch, conf, dtype, variant, gain, seed, manifest):
    model = build(arch, conf)
    init_weights(model, seed, gain)
    R.round_weights_(model, dtype)
    toks = tokens_for(seed + 1, model.config.vocab_size)
    logits, zf = run_reference(model, toks)
    mm = mean_max_weight(model, toks)
    stem = os.path.join(outdir, name)
    E.export(model, stem + ".sparsa", dtype=dtype,
             metadata={"general.notes": "sparsa test fixture: %s" % variant})
    write_expected(stem, toks, logits)
    check_roundtrip(stem + ".sparsa", model, dtype)
    manifest[name] = dict(
        arch=arch, variant=variant, dtype=dtype, vocab_size=model.config.vocab_size,
        n_tokens=N_TOKENS, files=[name + ext for ext in (".sparsa", ".tokens", ".logits")],
        zero_fraction=round(zf, 4), mean_max_attention=round(mm, 4),
        max_abs_logit=round(float(logits.abs().max()), 3),
        normalizer=model.attention_modules()[0].normalizer,
        notes="%s; %s weights, reference in float32 on the same rounded weights; "
              "zero_fraction = exactly-zero attention weights among visible keys "
              "(all layers, heads, rows)" % (variant, dtype))
    print("%-34s %-5s zeros %.3f  max-attn %.3f  |logit| %.2f  %6d B" % (
        name, dtype, zf, mm, float(logits.abs().max()), os.path.getsize(stem + ".sparsa")))
    return model


def check_roundtrip(path, model, dtype):
    """The file reads back with the same tensors as the (rounded) model, bit for bit."""
    f = E.read(path)
    sd = model.state_dict()
    tied = getattr(model.config, "tie_word_embeddings", False)
    for k, v in sd.items():
        if tied and k == "lm_head.weight":
            assert k not in f["tensors"]
            continue
        got = f["tensors"][k]
        assert got.dtype == E.STORE_DTYPES[dtype], k
        assert torch.equal(got.float(), v.float()), k


def make_models(outdir):
    os.makedirs(outdir, exist_ok=True)
    manifest = {}
    seed = 1000
    for name, arch, conf, variant, gain in ARCH_FIXTURES:
        for dtype in ("f32", "f16", "bf16"):
            make_model_fixture(outdir, "%s-%s" % (name, dtype), arch, conf, dtype, variant,
                               gain, seed, manifest)
        seed += 100
    for name, conf, variant, gain in VARIANTS:
        make_model_fixture(outdir, name + "-bf16", "sparse-gemma2", dict(SPARSE, **conf),
                           "bf16", variant, gain, seed, manifest)
        seed += 100
    with open(os.path.join(outdir, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


# ---- checkpoint fixtures for the converters ------------------------------------------------

SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
                      torch.int64: "I64", torch.int32: "I32"}


def write_safetensors(path, tensors, metadata=None):
    """Pure-Python safetensors writer: u64 LE header length, JSON header (padded with spaces
    to a multiple of 8), then the raw little-endian data in header order."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        raw = E.tensor_bytes(t)
        header[name] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def hf_llama_config_json(cfg):
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "vocab_size": cfg.vocab_size, "hidden_size": cfg.hidden_size,
            "intermediate_size": cfg.intermediate_size,
            "num_hidden_layers": cfg.num_hidden_layers,
            "num_attention_heads": cfg.num_attention_heads,
            "num_key_value_heads": cfg.num_key_value_heads, "rms_norm_eps": cfg.rms_norm_eps,
            "rope_theta": cfg.rope_theta, "hidden_act": "silu",
            "tie_word_embeddings": bool(cfg.tie_word_embeddings), "attention_bias": False,
            "mlp_bias": False, "max_position_embeddings": 2048, "torch_dtype": "float32"}


SPARSE_KEYS = ("entmax_alpha", "apply_rotary", "apply_nape", "alibi_num_heads",
               "alibi_slope_type", "attn_scale_type", "attn_scale_delta",
               "attn_scale_gamma_range", "attn_scale_proj_bias")


def sparse_gemma2_config_json(cfg):
    """A Gemma2Config (gemma-2-2b values for keys the paper's code leaves alone) plus the
    sparse-attention keys, as the paper's runs would produce."""
    d = {"architectures": ["SparseGemma2ForCausalLM"], "model_type": "gemma2",
         "vocab_size": cfg.vocab_size, "hidden_size": cfg.hidden_size,
         "intermediate_size": cfg.intermediate_size,
         "num_hidden_layers": cfg.num_hidden_layers,
         "num_attention_heads": cfg.num_attention_heads,
         "num_key_value_heads": cfg.num_key_value_heads, "head_dim": cfg.head_dim,
         "rms_norm_eps": cfg.rms_norm_eps, "rope_theta": cfg.rope_theta,
         "hidden_activation": "gelu_pytorch_tanh", "hidden_act": "gelu_pytorch_tanh",
         "query_pre_attn_scalar": 256, "attn_logit_softcapping": None,
         "final_logit_softcapping": None, "sliding_window": 131072,
         "max_position_embeddings": 131072, "tie_word_embeddings": False,
         "attention_bias": False, "attention_dropout": 0.0, "pad_token_id": 0,
         "bos_token_id": 2, "eos_token_id": 1, "torch_dtype": "bfloat16",
         "attn_implementation": "eager", "use_fast_attn": True}
    for k in SPARSE_KEYS:
        d[k] = getattr(cfg, k)
    if cfg.attn_type:
        d["attn_type"] = cfg.attn_type
    if cfg.attn_type == "topk":
        d["topk_size"] = cfg.topk_size
        d["topk_length_rule"] = cfg.topk_length_rule
    if cfg.poly_fit:
        d["poly_fit"] = True
    return d


class TaskSettings:
    """Stands in for a training script's own class: pickled by reference to __main__."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def lightning_style_dict(model, variant):
    """What Lightning's Trainer.save_checkpoint writes (bf16-true): state_dict under the
    net.model. prefix, hyper-parameters with a functools.partial and a __main__ object,
    optimizer and scheduler states."""
    sd = {"net.model." + k: v.to(torch.bfloat16) for k, v in model.state_dict().items()}
    params = [p for p in model.parameters()][:3]   # a real state, kept small
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.99))
    loss = model(torch.arange(8)[None] % model.config.vocab_size).float().pow(2).mean()
    loss.backward()
    # one step on a throwaway copy of the state only: the weights must stay as they are
    saved = [p.detach().clone() for p in params]
    opt.step()
    with torch.no_grad():
        for p, s in zip(params, saved):
            p.copy_(s)
    model.zero_grad()
    return {
        "epoch": 0, "global_step": 1, "pytorch-lightning_version": "2.5.0.post0",
        "state_dict": sd,
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 1}}}},
        "callbacks": {"ModelCheckpoint{'monitor': 'val/acc', 'mode': 'max'}":
                      {"best_model_score": torch.tensor(0.5), "best_model_path": "x.ckpt"}},
        "optimizer_states": [opt.state_dict()],
        "lr_schedulers": [{"base_lrs": [1e-3], "last_epoch": 1, "_step_count": 2}],
        "hyper_parameters": {
            "net": functools.partial(TaskSettings, variant=variant),
            "optimizer": functools.partial(torch.optim.AdamW, lr=1e-3),
            "task": TaskSettings(name="copy", max_vocab_id=31),
            "compile": False},
    }


def make_checkpoints(outdir):
    """Checkpoints for the converters, each with <stem>.tokens/.logits from the reference."""
    os.makedirs(outdir, exist_ok=True)
    notes = {}

    # 1. HF-Llama-shaped state dict, torch.save (.pt), float32, with config.json
    m = init_weights(build("hf-llama", LLAMA), 5000, 1.6)
    torch.save(m.state_dict(), os.path.join(outdir, "hf-llama.pt"))
    with open(os.path.join(outdir, "hf-llama.config.json"), "w") as f:
        json.dump(hf_llama_config_json(m.config), f, indent=1)
    toks = tokens_for(5001, m.config.vocab_size)
    write_expected(os.path.join(outdir, "hf-llama"), toks, run_reference(m, toks)[0])
    notes["hf-llama.pt"] = "torch.save(state_dict) of an HF-Llama-shaped model, f32; config " \
                           "hf-llama.config.json; expected hf-llama.tokens/.logits"

    # 2. the same model as bf16 safetensors (tied variant, so no lm_head tensor)
    m = init_weights(build("hf-llama", dict(LLAMA, tie_word_embeddings=True)), 5100, 1.6)
    R.round_weights_(m, "bf16")
    sd = {k: v.to(torch.bfloat16) for k, v in m.state_dict().items() if k != "lm_head.weight"}
    write_safetensors(os.path.join(outdir, "hf-llama-tied.safetensors"), sd,
                      {"format": "pt"})
    with open(os.path.join(outdir, "hf-llama-tied.config.json"), "w") as f:
        json.dump(dict(hf_llama_config_json(m.config), torch_dtype="bfloat16"), f, indent=1)
    toks = tokens_for(5101, m.config.vocab_size)
    write_expected(os.path.join(outdir, "hf-llama-tied"), toks, run_reference(m, toks)[0])
    notes["hf-llama-tied.safetensors"] = "safetensors (pure-Python writer), bf16, tied " \
                                         "embeddings (no lm_head.weight); config " \
                                         "hf-llama-tied.config.json"

    # 3. torchtitan Llama state dict + params.json
    m = init_weights(build("torchtitan-llama", TITAN), 5200, 1.6)
    torch.save(m.state_dict(), os.path.join(outdir, "torchtitan-llama.pt"))
    with open(os.path.join(outdir, "torchtitan-llama.params.json"), "w") as f:
        json.dump(TITAN, f, indent=1)
    toks = tokens_for(5201, m.config.vocab_size)
    write_expected(os.path.join(outdir, "torchtitan-llama"), toks, run_reference(m, toks)[0])
    notes["torchtitan-llama.pt"] = "torchtitan model state dict (dcp_to_torch_save layout), " \
                                   "f32; params torchtitan-llama.params.json"

    # 4. Lightning-style dict (torch.save) of SparseGemma2 ASEntmax+NAPE, bf16
    conf = dict(SPARSE, entmax_alpha=1.5, attn_scale_type="adapt-softplus-tanh",
                attn_scale_proj_bias=True, **NAPE)
    m = init_weights(build("sparse-gemma2", conf), 5300, 2.0)
    R.round_weights_(m, "bf16")
    torch.save(lightning_style_dict(m, "asentmax-nape"),
               os.path.join(outdir, "sg2-asentmax-nape.lightning.ckpt"))
    with open(os.path.join(outdir, "sg2-asentmax-nape.config.json"), "w") as f:
        json.dump(sparse_gemma2_config_json(m.config), f, indent=1)
    toks = tokens_for(5301, m.config.vocab_size)
    logits, zf = run_reference(m, toks)
    write_expected(os.path.join(outdir, "sg2-asentmax-nape"), toks, logits)
    notes["sg2-asentmax-nape.lightning.ckpt"] = (
        "Lightning-style dict via torch.save (net.model. prefix, bf16, AdamW state, "
        "functools.partial and a __main__ class in hyper_parameters); config "
        "sg2-asentmax-nape.config.json; zero fraction %.3f" % zf)
    with open(os.path.join(outdir, "MANIFEST.json"), "w") as f:
        json.dump(notes, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    torch.manual_seed(0)
    make_models(os.path.join(out, "models"))
    make_checkpoints(os.path.join(out, "checkpoints"))


if __name__ == "__main__":
    main()
