#!/usr/bin/python3
"""Golden numbers for the interpreter's own smoke tests (tests/interpreter/test_interp_golden.c).

Two tiny random models that between them use every op of op-set 1 and most attributes, run
by a plain PyTorch forward written from format/GRAPH.md and the architecture notes (Llama,
Gemma 2), not from the C code:

  smoke-llama  RMSNorm (w), NeoX RoPE with partial rotary_dim, GQA (4 q heads, 2 kv heads,
               head_dim 8 != D/H), q bias, SwiGLU, untied head; the layer block is a `repeat`.
  smoke-gemma  embedding scale, RMSNorm (1 + w) pre/post norms, interleaved RoPE, attention
               softcap and sliding window, GeGLU (tanh) in layer 0, plain GELU (erf) MLP with
               biases in layer 1, `scale`, LayerNorm with bias, tied head, final softcap.

For each model it writes into tests/fixtures/interp/:
  NAME.yaml      the graph
  NAME.manifest  one line per tensor: name dim0 [dim1]; the tensors' f32 data follow one
                 another in NAME.weights in this order (little-endian)
  NAME.tokens    comma-separated ids
  NAME.logits    float32 LE [n, vocab] with f32 weights
  NAME.bf16.logits, NAME.f16.logits   the same with every weight rounded to bf16 / f16
The C test builds the model file from these with the sparsa writer.

Run: /usr/bin/python3 tests/reference/interp_smoke.py tests/fixtures/interp
"""
import math
import os
import sys

import torch

torch.set_grad_enabled(False)
V, D, H, HK, HD, T = 40, 16, 4, 2, 8, 24


def rms(x, w, eps, offset):
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return x * (offset + w)


def rope_neox(x, heads, d, rot, theta):
    # x [T, heads*d]; rotate the first `rot` dims of each head, pairs (k, k + rot/2)
    t = x.shape[0]
    x = x.view(t, heads, d).clone()
    inv = 1.0 / (theta ** (torch.arange(0, rot, 2, dtype=torch.int64).float() / rot))
    ang = torch.arange(t).float()[:, None] * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, None, :]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, None, :]
    r = x[..., :rot]
    half = rot // 2
    rot_half = torch.cat([-r[..., half:], r[..., :half]], -1)
    x[..., :rot] = r * cos + rot_half * sin
    return x.view(t, heads * d)


def rope_interleaved(x, heads, d, theta):
    t = x.shape[0]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2)[: d // 2].float() / d))
    freqs = torch.outer(torch.arange(t), inv).float()
    cis = torch.polar(torch.ones_like(freqs), freqs)[:, None, :]
    xc = torch.view_as_complex(x.view(t, heads, d // 2, 2))
    return torch.view_as_real(xc * cis).reshape(t, heads * d)


def attention(q, k, v, scale, softcap=0.0, window=0):
    t = q.shape[0]
    q = q.view(t, H, HD).transpose(0, 1)
    k = k.view(t, HK, HD).transpose(0, 1).repeat_interleave(H // HK, 0)
    v = v.view(t, HK, HD).transpose(0, 1).repeat_interleave(H // HK, 0)
    s = (q @ k.transpose(1, 2)) * scale
    if softcap:
        s = torch.tanh(s / softcap) * softcap
    i = torch.arange(t)[:, None]
    j = torch.arange(t)[None, :]
    mask = j <= i
    if window:
        mask = mask & (i - j < window)
    s = s.masked_fill(~mask, float("-inf"))
    p = torch.softmax(s, -1)
    return (p @ v).transpose(0, 1).reshape(t, H * HD)


def gelu_tanh(x):
    return torch.nn.functional.gelu(x, approximate="tanh")


class Weights:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)
        self.order = []
        self.t = {}

    def add(self, name, shape, std=None, mean=0.0):
        std = std if std is not None else 1.0 / math.sqrt(shape[-1])
        self.t[name] = torch.randn(*shape, generator=self.g) * std + mean
        self.order.append(name)

    def rounded(self, dtype):
        out = {}
        for n, t in self.t.items():
            out[n] = t.to(dtype).float() if dtype is not None else t
        return out


def llama_weights():
    w = Weights(1234)
    w.add("tok", (V, D), std=1.0)
    for i in range(2):
        p = "l%d." % i
        w.add(p + "attn_norm", (D,), std=0.2, mean=1.0)
        w.add(p + "wq", (H * HD, D), std=0.6)
        w.add(p + "bq", (H * HD,), std=0.3)
        w.add(p + "wk", (HK * HD, D), std=0.6)
        w.add(p + "wv", (HK * HD, D))
        w.add(p + "wo", (D, H * HD))
        w.add(p + "ffn_norm", (D,), std=0.2, mean=1.0)
        w.add(p + "gate", (24, D))
        w.add(p + "up", (24, D))
        w.add(p + "down", (D, 24))
    w.add("norm", (D,), std=0.2, mean=1.0)
    w.add("head", (V, D))
    return w


LLAMA_YAML = """sparsa_graph: 1
name: smoke-llama
vocab_size: %d
context_length: 64
inputs: [tokens]
outputs: [logits]
nodes:
  - {op: embed, name: embed, in: [tokens], out: x, weight: tok}
  - repeat: 2
    var: L
    nodes:
      - {op: rmsnorm, name: "l{L}.attn_norm", in: [x], out: h, weight: "l{L}.attn_norm", eps: 1.0e-5}
      - {op: linear, name: "l{L}.q", in: [h], out: q, weight: "l{L}.wq", bias: "l{L}.bq"}
      - {op: linear, name: "l{L}.k", in: [h], out: k, weight: "l{L}.wk"}
      - {op: linear, name: "l{L}.v", in: [h], out: v, weight: "l{L}.wv"}
      - {op: rope, name: "l{L}.rope_q", in: [q], out: q, head_dim: 8, rotary_dim: 6, theta: 10000.0, style: neox}
      - {op: rope, name: "l{L}.rope_k", in: [k], out: k, head_dim: 8, rotary_dim: 6, theta: 10000.0, style: neox}
      - {op: attention, name: "l{L}.attn", in: [q, k, v], out: a, heads: 4, kv_heads: 2, head_dim: 8, scale: 0.35355339059327373, causal: true, normalizer: softmax}
      - {op: linear, name: "l{L}.o", in: [a], out: a, weight: "l{L}.wo"}
      - {op: add, name: "l{L}.res1", in: [x, a], out: x}
      - {op: rmsnorm, name: "l{L}.ffn_norm", in: [x], out: h, weight: "l{L}.ffn_norm", eps: 1.0e-5}
      - {op: mlp, name: "l{L}.mlp", in: [h], out: m, activation: silu, gated: true, gate: "l{L}.gate", up: "l{L}.up", down: "l{L}.down"}
      - {op: add, name: "l{L}.res2", in: [x, m], out: x}
  - {op: rmsnorm, name: final_norm, in: [x], out: x, weight: norm, eps: 1.0e-5}
  - {op: linear, name: lm_head, in: [x], out: logits, weight: head}
""" % V


def llama_forward(w, tokens):
    x = w["tok"][tokens]
    for i in range(2):
        p = "l%d." % i
        h = rms(x, w[p + "attn_norm"], 1e-5, 0.0)
        q = h @ w[p + "wq"].T + w[p + "bq"]
        k = h @ w[p + "wk"].T
        v = h @ w[p + "wv"].T
        q = rope_neox(q, H, HD, 6, 10000.0)
        k = rope_neox(k, HK, HD, 6, 10000.0)
        a = attention(q, k, v, 1.0 / math.sqrt(HD)) @ w[p + "wo"].T
        x = x + a
        h = rms(x, w[p + "ffn_norm"], 1e-5, 0.0)
        m = (torch.nn.functional.silu(h @ w[p + "gate"].T) * (h @ w[p + "up"].T)) @ w[p + "down"].T
        x = x + m
    x = rms(x, w["norm"], 1e-5, 0.0)
    return x @ w["head"].T


def gemma_weights():
    w = Weights(4321)
    w.add("emb", (V, D), std=0.5)
    for i in range(2):
        p = "l%d." % i
        for n in ("pre_attn", "post_attn", "pre_ffn", "post_ffn"):
            w.add(p + n, (D,), std=0.3)
        w.add(p + "wq", (H * HD, D), std=0.7)
        w.add(p + "wk", (HK * HD, D), std=0.7)
        w.add(p + "wv", (HK * HD, D))
        w.add(p + "wo", (D, H * HD))
    w.add("l0.gate", (32, D))
    w.add("l0.up", (32, D))
    w.add("l0.down", (D, 32))
    w.add("l1.up", (20, D))
    w.add("l1.up_b", (20,), std=0.5)
    w.add("l1.down", (D, 20))
    w.add("l1.down_b", (D,), std=0.5)
    w.add("ln_w", (D,), std=0.2, mean=1.0)
    w.add("ln_b", (D,), std=0.2)
    return w


def gemma_layer_yaml(i, mlp):
    p = "l%d" % i
    return """  - {op: rmsnorm, name: %(p)s.pre_attn, in: [x], out: h, weight: %(p)s.pre_attn, eps: 1.0e-6, offset: 1.0}
  - {op: linear, name: %(p)s.q, in: [h], out: q, weight: %(p)s.wq}
  - {op: linear, name: %(p)s.k, in: [h], out: k, weight: %(p)s.wk}
  - {op: linear, name: %(p)s.v, in: [h], out: v, weight: %(p)s.wv}
  - {op: rope, name: %(p)s.rope_q, in: [q], out: q, head_dim: 8, theta: 500000.0, style: interleaved}
  - {op: rope, name: %(p)s.rope_k, in: [k], out: k, head_dim: 8, theta: 500000.0, style: interleaved}
  - {op: attention, name: %(p)s.attn, in: [q, k, v], out: a, heads: 4, kv_heads: 2, head_dim: 8, value_dim: 8, scale: 0.35355339059327373, softcap: 3.0, window: 7, normalizer: softmax}
  - {op: linear, name: %(p)s.o, in: [a], out: a, weight: %(p)s.wo}
  - {op: rmsnorm, name: %(p)s.post_attn, in: [a], out: a, weight: %(p)s.post_attn, eps: 1.0e-6, offset: 1.0}
  - {op: add, name: %(p)s.res1, in: [x, a], out: x}
  - {op: rmsnorm, name: %(p)s.pre_ffn, in: [x], out: h, weight: %(p)s.pre_ffn, eps: 1.0e-6, offset: 1.0}
%(mlp)s
  - {op: rmsnorm, name: %(p)s.post_ffn, in: [m], out: m, weight: %(p)s.post_ffn, eps: 1.0e-6, offset: 1.0}
  - {op: add, name: %(p)s.res2, in: [x, m], out: x}
""" % {"p": p, "mlp": mlp}


GEMMA_YAML = ("""sparsa_graph: 1
name: smoke-gemma
vocab_size: %d
inputs: [tokens]
outputs: [logits]
nodes:
  - {op: embed, name: embed, in: [tokens], out: x, weight: emb, scale: 4.0}
""" % V
    + gemma_layer_yaml(0, "  - {op: mlp, name: l0.mlp, in: [h], out: m, activation: gelu_tanh, gated: true, gate: l0.gate, up: l0.up, down: l0.down}")
    + gemma_layer_yaml(1, "  - {op: mlp, name: l1.mlp, in: [h], out: m, activation: gelu, gated: false, up: l1.up, up_bias: l1.up_b, down: l1.down, down_bias: l1.down_b}")
    + """  - {op: scale, name: shrink, in: [x], out: x, factor: 0.5}
  - {op: layernorm, name: final_norm, in: [x], out: x, weight: ln_w, bias: ln_b, eps: 1.0e-5}
  - {op: linear, name: lm_head, in: [x], out: logits, weight: emb}
  - {op: softcap, name: final_softcap, in: [logits], out: logits, cap: 4.0}
""")


def gemma_forward(w, tokens):
    x = w["emb"][tokens] * 4.0
    for i in range(2):
        p = "l%d." % i
        h = rms(x, w[p + "pre_attn"], 1e-6, 1.0)
        q = rope_interleaved(h @ w[p + "wq"].T, H, HD, 500000.0)
        k = rope_interleaved(h @ w[p + "wk"].T, HK, HD, 500000.0)
        v = h @ w[p + "wv"].T
        a = attention(q, k, v, 1.0 / math.sqrt(HD), softcap=3.0, window=7) @ w[p + "wo"].T
        x = x + rms(a, w[p + "post_attn"], 1e-6, 1.0)
        h = rms(x, w[p + "pre_ffn"], 1e-6, 1.0)
        if i == 0:
            m = (gelu_tanh(h @ w["l0.gate"].T) * (h @ w["l0.up"].T)) @ w["l0.down"].T
        else:
            m = torch.nn.functional.gelu(h @ w["l1.up"].T + w["l1.up_b"]) @ w["l1.down"].T + w["l1.down_b"]
        x = x + rms(m, w[p + "post_ffn"], 1e-6, 1.0)
    x = x * 0.5
    x = torch.nn.functional.layer_norm(x, (D,), w["ln_w"], w["ln_b"], 1e-5)
    logits = x @ w["emb"].T
    return torch.tanh(logits / 4.0) * 4.0


def write(outdir, name, weights, yaml_text, forward, tokens):
    with open(os.path.join(outdir, name + ".yaml"), "w") as f:
        f.write(yaml_text)
    with open(os.path.join(outdir, name + ".manifest"), "w") as f:
        for n in weights.order:
            f.write("%s %s\n" % (n, " ".join(str(s) for s in weights.t[n].shape)))
    with open(os.path.join(outdir, name + ".weights"), "wb") as f:
        for n in weights.order:
            f.write(weights.t[n].contiguous().numpy().astype("<f4").tobytes())
    with open(os.path.join(outdir, name + ".tokens"), "w") as f:
        f.write(",".join(str(t) for t in tokens.tolist()) + "\n")
    for suffix, dt in (("", None), (".bf16", torch.bfloat16), (".f16", torch.float16)):
        logits = forward(weights.rounded(dt), tokens)
        with open(os.path.join(outdir, name + suffix + ".logits"), "wb") as f:
            f.write(logits.contiguous().numpy().astype("<f4").tobytes())
        p = torch.softmax(logits, -1)
        print("%s%s: logits range [%.3f, %.3f], mean max prob %.3f" % (
            name, suffix, logits.min().item(), logits.max().item(), p.max(-1)[0].mean().item()))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/interp"
    os.makedirs(outdir, exist_ok=True)
    tokens = torch.randint(0, V, (T,), generator=torch.Generator().manual_seed(7))
    write(outdir, "smoke-llama", llama_weights(), LLAMA_YAML, llama_forward, tokens)
    write(outdir, "smoke-gemma", gemma_weights(), GEMMA_YAML, gemma_forward, tokens)


if __name__ == "__main__":
    main()
