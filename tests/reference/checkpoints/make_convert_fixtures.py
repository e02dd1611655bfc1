"""make_convert_fixtures.py - extra checkpoints for the converters' tests (tests/fixtures/convert/).

Needs Debian python3-torch and python3-numpy only:

    /usr/bin/python3 tests/reference/checkpoints/make_convert_fixtures.py tests/fixtures/convert

They complete the set in tests/fixtures/checkpoints/ (and device/, made with transformers and
Lightning) so that the asentmax-gemma2 mapping is exercised for every attn_scale_type and
position scheme, and hf-gemma2 for a transformers-4 style config:

  sg2-learn-entmax15-nape.ckpt    learn scaling (per-head beta, gamma) + NAPE linear
  sg2-adaptive-softmax-nape.ckpt  poly-fit adaptive-temperature softmax + NAPE
  sg2-entmax15-alibi.ckpt         Press ALiBi slopes on every head (apply_alibi)
  sg2-asentmax-rope-nobias.ckpt   ASEntmax on all heads (no NAPE) + RoPE, projections without bias
  sg2-hydra-partial.ckpt          ASEntmax + NAPE with NO config file: the config lives only in
                                  hyper_parameters, as the keyword arguments of a
                                  functools.partial of the network wrapper (the paper's Hydra
                                  `net` partial; no vocab_size, which the wrapper takes from the
                                  tokenizer), with OmegaConf-style containers around some values;
                                  and sg2-hydra-partial.model.yaml, the same config as a Hydra
                                  model YAML (nested under net:, ${.key} interpolations) for
                                  --config
  hf-gemma2-t4/                   Gemma-2 folder: bf16 safetensors, tied (no lm_head), config in
                                  the transformers 4.4x form (torch_dtype, rope_theta at the top,
                                  no layer_types: even layers slide)

Each with <stem>.tokens / <stem>.logits from the PyTorch reference (sparsa_ref.py) in float32 on
the stored (bf16) weights. Deterministic (seeded).
"""

import functools
import json
import os
import sys
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import make_fixtures as MF  # noqa: E402
import sparsa_ref as R  # noqa: E402

SPARSE = dict(MF.SPARSE, num_hidden_layers=1)
VARIANTS = [
    ("sg2-learn-entmax15-nape", dict(entmax_alpha=1.5, attn_scale_type="learn", **MF.NAPE), 1.8),
    ("sg2-adaptive-softmax-nape", dict(entmax_alpha=1.0, poly_fit=True, **MF.NAPE), 1.2),
    ("sg2-entmax15-alibi", dict(entmax_alpha=1.5, apply_rotary=False, apply_nape=False,
                                apply_alibi=True), 1.8),
    ("sg2-asentmax-rope-nobias", dict(entmax_alpha=1.5, attn_scale_type="adapt-softplus-tanh",
                                      attn_scale_proj_bias=False, apply_rotary=True,
                                      apply_nape=False), 1.8),
]


def sparse_ckpts(outdir):
    for i, (name, conf, gain) in enumerate(VARIANTS):
        m = MF.init_weights(MF.build("sparse-gemma2", dict(SPARSE, **conf)), 7000 + 10 * i, gain)
        R.round_weights_(m, "bf16")
        torch.save(MF.lightning_style_dict(m, name), os.path.join(outdir, name + ".ckpt"))
        cj = MF.sparse_gemma2_config_json(m.config)
        if conf.get("apply_alibi"):
            cj["apply_alibi"] = True
        with open(os.path.join(outdir, name + ".config.json"), "w") as f:
            json.dump(cj, f, indent=1)
        toks = MF.tokens_for(7001 + 10 * i, m.config.vocab_size)
        MF.write_expected(os.path.join(outdir, name), toks, MF.run_reference(m, toks)[0])


# Stand-ins pickled under the names the real classes have (module paths of the training code and
# of OmegaConf), so the file carries the same GLOBALs and object states as the real thing.
def _module(name):
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    return sys.modules[name]


class HFWrapper:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class AnyNode:
    def __init__(self, val):
        self.__dict__.update({"_val": val, "_metadata": None, "_parent": None})


class ListConfig:
    def __init__(self, items):
        self.__dict__.update({"_content": [AnyNode(v) for v in items], "_metadata": None,
                              "_parent": None})


class DictConfig:
    def __init__(self, d):
        self.__dict__.update({"_content": {k: AnyNode(v) for k, v in d.items()},
                              "_metadata": None, "_parent": None})


for _cls, _mod in ((HFWrapper, "src.models.components.net_wrapper"),
                   (AnyNode, "omegaconf.nodes"), (ListConfig, "omegaconf.listconfig"),
                   (DictConfig, "omegaconf.dictconfig")):
    _cls.__module__ = _mod
    setattr(_module(_mod), _cls.__name__, _cls)


def write_hydra_yaml(path, kw):
    """The shape of the paper's configs/model/*.yaml: module target, optimizer, net partial."""
    def scalar(v):
        return "null" if v is None else ("true" if v is True else "false" if v is False else str(v))
    lines = ["# Hydra-style model config (as configs/model/sparse_gemma.yaml is laid out)",
             "_target_: src.models.src_trg_module.SrcTrgLitModule",
             "optimizer:", "  _target_: torch.optim.AdamW", "  _partial_: true", "  lr: 0.0003",
             "net:", "  _target_: src.models.components.net_wrapper.HFWrapper", "  _partial_: true"]
    for k, v in kw.items():
        if k == "num_key_value_heads" and v == kw["num_attention_heads"]:
            v = "${.num_attention_heads}"
        elif k == "sliding_window" and v == kw["max_position_embeddings"]:
            v = "${.max_position_embeddings}"
        lines.append("  %s: %s" % (k, scalar(v)))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def hydra_partial_ckpt(outdir):
    name = "sg2-hydra-partial"
    conf = dict(SPARSE, entmax_alpha=1.5, attn_scale_type="adapt-softplus-tanh", **MF.NAPE)
    m = MF.init_weights(MF.build("sparse-gemma2", conf), 7200, 1.8)
    R.round_weights_(m, "bf16")
    d = MF.lightning_style_dict(m, name)
    cj = MF.sparse_gemma2_config_json(m.config)
    kw = {k: v for k, v in cj.items()
          if k not in ("vocab_size", "architectures", "model_type", "transformers_version")}
    kw["entmax_alpha"] = AnyNode(kw["entmax_alpha"])
    d["hyper_parameters"] = {
        "net": functools.partial(HFWrapper, **kw),
        "optimizer": functools.partial(torch.optim.AdamW, lr=1e-3,
                                       betas=ListConfig([0.9, 0.99])),
        "data": DictConfig({"batch_size": 64, "num_workers": 4}),
        "compile": False}
    torch.save(d, os.path.join(outdir, name + ".ckpt"))
    plain = {k: v for k, v in cj.items()
             if k not in ("vocab_size", "architectures", "model_type", "transformers_version")}
    write_hydra_yaml(os.path.join(outdir, name + ".model.yaml"), plain)
    toks = MF.tokens_for(7201, m.config.vocab_size)
    MF.write_expected(os.path.join(outdir, name), toks, MF.run_reference(m, toks)[0])


def gemma2_t4(outdir):
    d = os.path.join(outdir, "hf-gemma2-t4")
    os.makedirs(d, exist_ok=True)
    conf = dict(MF.GEMMA2, num_hidden_layers=3, tie_word_embeddings=True)
    m = MF.init_weights(MF.build("hf-gemma2", conf), 7100, 1.8)
    R.round_weights_(m, "bf16")
    sd = {k: v.to(torch.bfloat16) for k, v in m.state_dict().items() if k != "lm_head.weight"}
    MF.write_safetensors(os.path.join(d, "model.safetensors"), sd, {"format": "pt"})
    c = m.config
    cj = {"architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2",
          "vocab_size": c.vocab_size, "hidden_size": c.hidden_size,
          "intermediate_size": c.intermediate_size, "num_hidden_layers": c.num_hidden_layers,
          "num_attention_heads": c.num_attention_heads,
          "num_key_value_heads": c.num_key_value_heads, "head_dim": c.head_dim,
          "query_pre_attn_scalar": c.query_pre_attn_scalar,
          "attn_logit_softcapping": c.attn_logit_softcapping,
          "final_logit_softcapping": c.final_logit_softcapping,
          "sliding_window": c.sliding_window, "rms_norm_eps": c.rms_norm_eps,
          "rope_theta": c.rope_theta, "hidden_activation": "gelu_pytorch_tanh",
          "hidden_act": "gelu_pytorch_tanh", "tie_word_embeddings": True,
          "torch_dtype": "bfloat16", "cache_implementation": "hybrid",
          "transformers_version": "4.46.3"}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cj, f, indent=1)
    toks = MF.tokens_for(7101, c.vocab_size)
    MF.write_expected(os.path.join(d, "expected"), toks, MF.run_reference(m, toks)[0])


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/convert"
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(0)
    sparse_ckpts(outdir)
    hydra_partial_ckpt(outdir)
    gemma2_t4(outdir)


if __name__ == "__main__":
    main()
