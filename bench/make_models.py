"""make_models.py - the benchmark models and token stream, written once into a cache folder.

    /usr/bin/python3 bench/make_models.py OUTDIR [NAME ...]

Models (about 24.6M parameters each: D=512, 6 layers, 8 heads of 64, MLP 1536, V=8192, tied
embeddings; about 20M outside the embedding), built with the PyTorch reference
(tests/reference/sparsa_ref.py) and written with its exporter (sparsa_export.py), so sparsa
and the PyTorch peer run the very same weights (the peer reads them back from the file):

    llama            HF Llama (SwiGLU, RoPE, softmax)               - the issue-4 model
    softmax-rope     SparseGemma2, softmax + RoPE
    entmax15-nape    SparseGemma2, entmax-1.5 + NAPE
    asentmax-nape    SparseGemma2, ASEntmax (entmax-1.5 with learned query scaling) + NAPE
    llama-bpe4k      HF Llama as `llama`, with the 4096-piece SentencePiece vocabulary of
                     examples/data/bpe4k.model stored in the file (V=4096, about 22.6M
                     parameters): the llama.cpp peer's model, which runs on text

Weights are random but shaped like a trained model's attention: q/k projections are scaled so
scores spread over several units (peaked attention, genuinely sparse for entmax), as the golden
fixtures do (make_fixtures.init_weights). Also writes tokens.bin: 16384 int32 token ids.
Environment: BENCH_D, BENCH_LAYERS, BENCH_VOCAB, BENCH_HEADS, BENCH_FFN change the shape.
"""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))

import torch  # noqa: E402

import make_fixtures as MF  # noqa: E402
import sparsa_export as E  # noqa: E402
import sparsa_ref as R  # noqa: E402

D = int(os.environ.get("BENCH_D", "512"))
LAYERS = int(os.environ.get("BENCH_LAYERS", "6"))
VOCAB = int(os.environ.get("BENCH_VOCAB", "8192"))
HEADS = int(os.environ.get("BENCH_HEADS", "8"))
FFN = int(os.environ.get("BENCH_FFN", str(3 * D)))
N_TOKENS = 16384

BASE = dict(vocab_size=VOCAB, hidden_size=D, intermediate_size=FFN, num_hidden_layers=LAYERS,
            num_attention_heads=HEADS, head_dim=D // HEADS, rms_norm_eps=1e-6,
            rope_theta=10000.0, tie_word_embeddings=True)
SPM = os.path.join(HERE, "..", "examples", "data", "bpe4k.model")
NAPE = dict(apply_rotary=False, apply_nape=True, alibi_num_heads=HEADS // 2)

MODELS = {
    # name: (architecture, config, q/k gain[, extras: tokenizer = SentencePiece model stored in
    # the file, embed_std = standard deviation of the embedding])
    "llama": ("hf-llama", dict(BASE), 1.6),
    "softmax-rope": ("sparse-gemma2", dict(BASE, entmax_alpha=1.0, apply_rotary=True,
                                           apply_nape=False), 1.6),
    "entmax15-nape": ("sparse-gemma2", dict(BASE, entmax_alpha=1.5, **NAPE), 1.8),
    "asentmax-nape": ("sparse-gemma2", dict(BASE, entmax_alpha=1.5,
                                            attn_scale_type="adapt-softplus-tanh",
                                            attn_scale_proj_bias=True, **NAPE), 1.8),
    # last, so the other models keep their seeds (100 + position)
    # embeddings at std 0.1 instead of 1: logits of a few units and a PPL near the vocabulary
    # size, so a relative PPL difference measures the peers, not float32 rounding of NLLs of
    # hundreds of nats
    "llama-bpe4k": ("hf-llama", dict(BASE, vocab_size=4096), 1.6,
                    dict(tokenizer=SPM, embed_std=0.1)),
}


def make(outdir, name, seed):
    arch, conf, gain = MODELS[name][:3]
    extras = MODELS[name][3] if len(MODELS[name]) > 3 else {}
    spm = extras.get("tokenizer")
    tokenizer = open(spm, "rb").read() if spm else None
    torch.manual_seed(seed)
    model = R.ARCHS[arch](R.Config(**conf))
    with torch.no_grad():
        MF.init_weights(model, seed, gain)
        if "embed_std" in extras:
            model.model.embed_tokens.weight.mul_(extras["embed_std"])
    path = os.path.join(outdir, name + ".sparsa")
    tmp = path + ".tmp"
    E.export(model, tmp, dtype="f32", tokenizer=tokenizer,
             metadata={"general.name": "bench-" + name})
    os.replace(tmp, path)
    n = sum(p.numel() for p in model.parameters())
    print("wrote %s (%.1fM parameters)" % (path, n / 1e6))


def write_tokens(outdir):
    path = os.path.join(outdir, "tokens.bin")
    if os.path.exists(path):
        return
    g = torch.Generator().manual_seed(1234)
    toks = torch.randint(0, VOCAB, (N_TOKENS,), generator=g).tolist()
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<%di" % N_TOKENS, *toks))
    os.replace(path + ".tmp", path)


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: make_models.py OUTDIR [NAME ...]\n")
        sys.exit(2)
    outdir = sys.argv[1]
    names = sys.argv[2:] or list(MODELS)
    os.makedirs(outdir, exist_ok=True)
    write_tokens(outdir)
    for name in names:
        if name not in MODELS:
            sys.stderr.write("make_models.py: unknown model %r (have %s)\n"
                             % (name, ", ".join(MODELS)))
            sys.exit(2)
        if not os.path.exists(os.path.join(outdir, name + ".sparsa")):
            make(outdir, name, 100 + list(MODELS).index(name))


if __name__ == "__main__":
    main()
