#!/usr/bin/env python3
"""reference_eval.py - greedy-decoding exact-match accuracy of a synthetic-task checkpoint with
the PyTorch reference (tests/reference/sparsa_ref.py), sample by sample.

The checkpoint (Lightning .ckpt or torch.save dict with state_dict keys net.model.*) is run in
float32 on its stored (bf16) weights. For each sample: source = bos src sep (flip-flop: no
sep); greedy generation until eos or int(len(source) * multiplier) tokens in all; the
prediction is what precedes eos; a sample is correct when it equals the target exactly.

Usage: reference_eval.py CKPT_DIR SRC TRG [--limit N] [--out predictions.txt]
Writes one line per sample: "<correct 0|1> <predicted ids space-separated>".
"""

import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))
import sparsa_ref  # noqa: E402
from train_task import Specials  # noqa: E402


def load(ckpt_dir):
    conf = json.load(open(os.path.join(ckpt_dir, "config.json")))
    keys = set(sparsa_ref.Config.DEFAULTS)
    cfg = sparsa_ref.Config(**{k: v for k, v in conf.items() if k in keys})
    model = sparsa_ref.SparseGemma2ForCausalLM(cfg)
    ck = torch.load(os.path.join(ckpt_dir, "last.ckpt"), map_location="cpu", weights_only=False)
    sd = {k[len("net.model."):]: v.float() for k, v in ck["state_dict"].items()
          if k.startswith("net.model.")}
    model.load_state_dict(sd, strict=True)
    # the sqrt(D) embedding scale is rounded to the stored weight dtype (bf16 in these runs)
    model.weight_dtype = next(iter(ck["state_dict"].values())).dtype
    model.eval()
    return model, conf


@torch.no_grad()
def greedy(model, sources, eos, max_total):
    """sources: equal-length id lists. Returns the generated ids (eos excluded) per sample."""
    device = next(model.parameters()).device
    x = torch.tensor(sources, dtype=torch.long, device=device)
    done = torch.zeros(len(sources), dtype=torch.bool)
    out = [[] for _ in sources]
    while x.shape[1] < max_total and not bool(done.all()):
        nxt = model(x)[:, -1].argmax(-1)
        for i, t in enumerate(nxt.cpu().tolist()):
            if not done[i]:
                if t == eos:
                    done[i] = True
                else:
                    out[i].append(t)
        x = torch.cat([x, nxt[:, None]], dim=1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ckpt_dir")
    ap.add_argument("src")
    ap.add_argument("trg")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model, conf = load(a.ckpt_dir)
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False   # plain fp32, as on a CPU
        model = model.cuda()
    sp = Specials(conf["vocab_size"] - 6, conf["task"])
    srcs = [[int(t) for t in line.split()] for line in open(a.src)][: a.limit]
    trgs = [[int(t) for t in line.split()] for line in open(a.trg)][: a.limit]
    mult = conf.get("generation_multiplier", 2.2)
    lines, correct = [], 0
    for b in range(0, len(srcs), a.batch):
        chunk = [sp.source(s) for s in srcs[b:b + a.batch]]
        assert len(set(map(len, chunk))) == 1, "one evaluation length per batch"
        preds = greedy(model, chunk, sp.eos, int(len(chunk[0]) * mult))
        for p, t in zip(preds, trgs[b:b + a.batch]):
            ok = int(p == t)
            correct += ok
            lines.append("%d %s" % (ok, " ".join(map(str, p))))
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    print(json.dumps({"file": a.src, "samples": len(srcs), "correct": correct,
                      "accuracy": correct / max(1, len(srcs))}))


if __name__ == "__main__":
    main()
