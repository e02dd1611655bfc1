#!/usr/bin/python3
"""Makes the perplexity fixtures in tests/fixtures/perplexity/ (run from the repository root):

  ppl-llama.sparsa      a small Llama (softmax + RoPE, tied embeddings, bf16), briefly trained on
                        the King James Bible, with the KJV BPE tokenizer
                        (tests/fixtures/tokenizer/kjv_bpe.model) embedded; context_length 0
  ppl-asentmax.sparsa   the paper's SparseGemma2 with ASEntmax + NAPE, same tokenizer, graph
                        context_length 256 (to test ctx > model context)
  psalms.txt, mixed.txt two corpora (KJV text; the second also has mixed scripts and emoji)
  expected.tsv          the reference perplexity for every (model, protocol, ctx, file) and the
                        micro-average over both files (file "*"):
                        model score bos stride ctx file windows tokens_scored mean_nll

The expected numbers come from this script's own reading of the protocols (README.md,
"Perplexity protocols"; --score second-half mirrors llama.cpp's perplexity() loop), Python
sentencepiece's ids, and the PyTorch reference forward (tests/reference/sparsa_ref.py) in
float32 on exactly the stored bf16 weights, summed in float64.

Needs: python3-torch, python3-sentencepiece, bible (bible-kjv). Deterministic (seeded).
"""
import math
import os
import subprocess
import sys

import sentencepiece as spm
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sparsa_export as E  # noqa: E402
import sparsa_ref as R  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/perplexity"
SPM = os.path.join(HERE, "..", "fixtures", "tokenizer", "kjv_bpe.model")
CTXS = (64, 128)
PROTOCOLS = [  # score, bos, stride
    ("all", "none", 0), ("all", "replace", 0), ("all", "prepend", 0),
    ("second-half", "none", 0), ("all", "none", 24), ("all", "prepend", 40),
]

LLAMA = dict(vocab_size=2000, hidden_size=48, intermediate_size=128, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
             rope_theta=10000.0, tie_word_embeddings=True)
ASENTMAX = dict(vocab_size=2000, hidden_size=48, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, head_dim=12, rms_norm_eps=1e-6, tie_word_embeddings=True,
                entmax_alpha=1.5, attn_scale_type="adapt-softplus-tanh",
                attn_scale_proj_bias=True, apply_rotary=False, apply_nape=True,
                alibi_num_heads=2)
MIXED_TAIL = ("Grüße aus Köln — naïve café; Ελληνικά, русский, 日本語, 한국어, עברית.\n"
              "Emoji 🙂🚀 and symbols € ∑ ∞ ≠ ½.\n")


def kjv_verses(ref):
    out = subprocess.run(["bible", "-l100000", ref], check=True,
                         capture_output=True).stdout.decode("utf-8")
    verses = []
    for line in out.split("\n"):
        s = line.lstrip(" ")
        head, _, rest = s.partition(" ")
        if line.startswith(" ") and head.isdigit():
            verses.append(rest)
    return verses


def train(model, ids, steps, seed):
    """A short AdamW run on random 64-token windows, so the model's predictions are peaked
    like a real LM's (the parity check itself would hold for any weights)."""
    g = torch.Generator().manual_seed(seed)
    data = torch.tensor(ids, dtype=torch.long)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    model.train()
    for step in range(steps):
        starts = torch.randint(0, len(data) - 65, (16,), generator=g)
        batch = torch.stack([data[s:s + 65] for s in starts])
        logits = model(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 batch[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            print("  step %d loss %.3f" % (step, loss.item()))
    model.eval()


def window_nll(model, window, first_target):
    """Sum over positions p >= first_target of -log p(window[p] | window[:p]), and the count."""
    with torch.no_grad():
        logits = model(torch.tensor([window], dtype=torch.long))[0].float()
    logp = torch.log_softmax(logits, dim=-1).double()
    s = 0.0
    for p in range(first_target, len(window)):
        s -= float(logp[p - 1, window[p]])
    return s, len(window) - first_target


def reference_ppl(model, ids, bos, score, bos_mode, stride, L):
    """(windows, tokens_scored, nll_sum) under one protocol, from the contract's words."""
    windows = tokens = 0
    total = 0.0
    n = len(ids)
    if score == "second-half":
        # llama.cpp perplexity(): tokens = BOS + text; n_chunk = len // n_ctx; per chunk the
        # first token is replaced by BOS; logits from first = n_ctx/2; targets first+1..n_ctx-1.
        toks = [bos] + list(ids)
        first = L // 2
        for i in range(len(toks) // L):
            batch = toks[i * L:(i + 1) * L]
            batch[0] = bos
            s, c = window_nll(model, batch, first + 1)
            assert c == L - 1 - first
            windows, tokens, total = windows + 1, tokens + c, total + s
        return windows, tokens, total
    per = L - 1 if bos_mode == "prepend" else L        # corpus tokens in one window
    step = stride if stride else per
    k = 0
    while k * step + per <= n:
        chunk = list(ids[k * step:k * step + per])
        if bos_mode == "prepend":
            window = [bos] + chunk
        else:
            window = chunk
            if bos_mode == "replace":
                window[0] = bos
        # Hugging Face sliding window: after the first window only the last `stride` labels.
        first = 1 if (k == 0 or not stride) else max(1, L - stride)
        s, c = window_nll(model, window, first)
        windows, tokens, total = windows + 1, tokens + c, total + s
        k += 1
    return windows, tokens, total


def main():
    os.makedirs(OUT, exist_ok=True)
    sp = spm.SentencePieceProcessor(model_file=SPM)
    tok_bytes = open(SPM, "rb").read()
    bos = sp.bos_id()

    corpora = {
        "psalms.txt": "\n".join(kjv_verses("ps1:1-ps12:8")) + "\n",
        "mixed.txt": "\n".join(kjv_verses("mt5:1-mt5:48")) + "\n" + MIXED_TAIL,
    }
    for name, text in corpora.items():
        with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
            f.write(text)
    ids = {name: sp.encode(text) for name, text in corpora.items()}
    for name in ids:
        print("%s: %d bytes, %d tokens" % (name, len(corpora[name].encode()), len(ids[name])))

    # Training text: Genesis-Exodus (disjoint from the evaluation corpora).
    train_ids = sp.encode("\n".join(kjv_verses("gen1:1-ex40:38")) + "\n")

    rows = []
    for mname, arch, conf, ctx_len, seed in (("ppl-llama", "hf-llama", LLAMA, 0, 11),
                                             ("ppl-asentmax", "sparse-gemma2", ASENTMAX, 256, 12)):
        torch.manual_seed(seed)
        model = R.ARCHS[arch](R.Config(**conf))
        print(mname)
        train(model, train_ids, 300, seed)
        with torch.no_grad():
            R.round_weights_(model, "bf16")
        graph = E.graph_for(model)
        graph["context_length"] = ctx_len
        meta = {"general.name": mname, "model.architecture": model.arch,
                "converter.name": "sparsa_export.py", "converter.version": "1",
                "tokenizer.kind": "sentencepiece", "model.train_context_length": 64,
                "general.notes": "sparsa perplexity test fixture, trained 300 steps on KJV "
                                 "Genesis-Exodus"}
        E.write_file(os.path.join(OUT, mname + ".sparsa"), E.export_tensors(model, "bf16"),
                     E.graph_yaml(graph), meta, tok_bytes)
        for score, bos_mode, stride in PROTOCOLS:
            for L in CTXS:
                tw = tt = 0
                ts = 0.0
                for fname in corpora:
                    w, t, s = reference_ppl(model, ids[fname], bos, score, bos_mode, stride, L)
                    rows.append((mname, score, bos_mode, stride, L, fname, w, t, s / t))
                    tw, tt, ts = tw + w, tt + t, ts + s
                rows.append((mname, score, bos_mode, stride, L, "*", tw, tt, ts / tt))
                print("  %-11s %-7s stride %-2d ctx %3d: %d windows, %d tokens, ppl %.4f" % (
                    score, bos_mode, stride, L, tw, tt, math.exp(ts / tt)))
    with open(os.path.join(OUT, "expected.tsv"), "w") as f:
        f.write("# model\tscore\tbos\tstride\tctx\tfile\twindows\ttokens_scored\tmean_nll\n")
        for r in rows:
            f.write("%s\t%s\t%s\t%d\t%d\t%s\t%d\t%d\t%.12f\n" % r)


if __name__ == "__main__":
    main()
