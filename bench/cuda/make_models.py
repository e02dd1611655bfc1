"""make_models.py - the two 134M-parameter models of `make bench-cuda`, as checkpoints that
`sparsa convert` reads (and the Hugging Face peer loads), written once into a folder.

    python3 bench/cuda/make_models.py OUTDIR [llama] [asentmax]

  OUTDIR/llama134m/            transformers' LlamaForCausalLM.save_pretrained (config.json +
                               model.safetensors), bf16 weights: V 32000, D 768, FFN 2048 (SwiGLU),
                               12 layers, 12 heads of 64 (no GQA), RoPE theta 10000, untied
                               lm_head: 134.1M parameters (the model of issue 17)
  OUTDIR/asentmax134m.ckpt     the project's reference architecture at the same size
                               (tests/reference/sparsa_ref.py's SparseGemma2: ASEntmax, entmax-1.5
                               with adapt-softplus-tanh query scaling, biased projections, NAPE:
                               ALiBi on 6 of 12 heads, NoPE on the others), bf16, as a Lightning
                               checkpoint stores it (state_dict under net.model.)
  OUTDIR/asentmax134m.config.json  its hyper-parameters (Gemma2Config keys + the sparse keys)

Weights are random and seeded (the same files on every machine and run, for the same library
versions): linear weights N(0, 1/fan_in), q/k projections times a gain so attention is peaked
(and genuinely sparse for entmax), as bench/make_models.py and the golden fixtures do
(tests/reference/make_fixtures.py, init_weights); the Llama's embedding at std 0.1 so its PPL is
near the vocabulary size. The files are bf16 because both peers run bf16 and sparsa keeps bf16
weights as stored: every run reads the same rounded weights.

Needs torch; the Llama also needs transformers (5.x tested; 4.x works). BENCH_CUDA_D,
BENCH_CUDA_LAYERS, BENCH_CUDA_HEADS, BENCH_CUDA_FFN and BENCH_CUDA_VOCAB shrink the shape for a
quick check on a machine without a GPU.
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))

import torch  # noqa: E402

import make_fixtures as MF  # noqa: E402
import sparsa_ref as R  # noqa: E402

D = int(os.environ.get("BENCH_CUDA_D", "768"))
LAYERS = int(os.environ.get("BENCH_CUDA_LAYERS", "12"))
HEADS = int(os.environ.get("BENCH_CUDA_HEADS", "12"))
FFN = int(os.environ.get("BENCH_CUDA_FFN", "2048"))
VOCAB = int(os.environ.get("BENCH_CUDA_VOCAB", "32000"))
SEED_LLAMA, SEED_ASENTMAX = 1700, 1701


def shape():
    return dict(vocab_size=VOCAB, hidden_size=D, intermediate_size=FFN,
                num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                num_key_value_heads=HEADS, head_dim=D // HEADS, rms_norm_eps=1e-6,
                rope_theta=10000.0, tie_word_embeddings=False)


def count(model):
    return sum(p.numel() for p in model.parameters())


def make_llama(outdir):
    from transformers import LlamaConfig, LlamaForCausalLM
    path = os.path.join(outdir, "llama134m")
    if os.path.exists(os.path.join(path, "config.json")):
        return path
    torch.manual_seed(SEED_LLAMA)
    cfg = LlamaConfig(max_position_embeddings=131072, hidden_act="silu", attention_bias=False,
                      mlp_bias=False, bos_token_id=1, eos_token_id=2, **shape())
    with torch.device("cpu"):
        model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        MF.init_weights(model, SEED_LLAMA, 1.6, norm_neutral=1.0)
        model.model.embed_tokens.weight.mul_(0.1)
    model = model.to(torch.bfloat16)
    tmp = path + ".tmp"
    model.save_pretrained(tmp)
    os.replace(tmp, path)
    print("wrote %s (hf-llama, %.1fM parameters, bf16)" % (path, count(model) / 1e6))
    return path


def make_asentmax(outdir):
    stem = os.path.join(outdir, "asentmax134m")
    if os.path.exists(stem + ".ckpt") and os.path.exists(stem + ".config.json"):
        return stem + ".ckpt"
    torch.manual_seed(SEED_ASENTMAX)
    conf = dict(shape(), entmax_alpha=1.5, attn_scale_type="adapt-softplus-tanh",
                attn_scale_proj_bias=True, apply_rotary=False, apply_nape=True,
                alibi_num_heads=HEADS // 2)
    model = R.SparseGemma2ForCausalLM(R.Config(**conf)).eval()
    with torch.no_grad():
        MF.init_weights(model, SEED_ASENTMAX, 1.8)
    sd = {"net.model." + k: v.to(torch.bfloat16) for k, v in model.state_dict().items()}
    torch.save({"state_dict": sd, "global_step": 0}, stem + ".ckpt.tmp")
    with open(stem + ".config.json.tmp", "w") as f:
        json.dump(MF.sparse_gemma2_config_json(model.config), f, indent=1)
    os.replace(stem + ".config.json.tmp", stem + ".config.json")
    os.replace(stem + ".ckpt.tmp", stem + ".ckpt")
    print("wrote %s (asentmax-gemma2, %.1fM parameters, bf16)" % (stem + ".ckpt",
                                                                 count(model) / 1e6))
    return stem + ".ckpt"


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: make_models.py OUTDIR [llama] [asentmax]")
    outdir = sys.argv[1]
    names = sys.argv[2:] or ["llama", "asentmax"]
    os.makedirs(outdir, exist_ok=True)
    makers = {"llama": make_llama, "asentmax": make_asentmax}
    for name in names:
        if name not in makers:
            sys.exit("make_models.py: unknown model %r (llama, asentmax)" % name)
        t0 = time.time()
        makers[name](outdir)
        print("%s: %.1f s" % (name, time.time() - t0))


if __name__ == "__main__":
    main()
