"""hf_peer.py - the Hugging Face peer of `make bench-cuda`: perplexity throughput of a model folder
with transformers in bf16 + SDPA on one GPU, on token ids sparsa made.

    python3 bench/cuda/hf_peer.py HF_FOLDER IDS [--ctx 2048,8192,32768] [--tokens N]
                                  [--modes labels:1,chunked:1,chunked:max] [--device cuda:0]

IDS is a text file of token ids separated by white space (`sparsa tokenize MODEL - < CORPUS`).
For each context L the ids are cut as `sparsa perplexity --ctx L --score all --bos none
--max-tokens W*L` cuts them: W = min(N, len(IDS)) // L whole windows t[kL .. kL+L-1], each
scoring its positions 1 .. L-1 (L-1 targets per window; the first token is context only), so
the mean NLL and PPL are those sparsa reports for the same windows.

Modes, NAME:BATCH (BATCH windows per forward; `max`: as many as make 32768 tokens, at least 1):
  labels   transformers' standard forward with labels (`model(input_ids, labels=input_ids)`):
           the whole [batch, L, vocab] logits in bf16 and its fp32 loss (mean over the targets),
           what a user of transformers runs
  chunked  the body once (`model.model`), then lm_head and cross entropy (fp32) on 4096 rows at a
           time: memory O(L * D + 4096 * vocab), never O(L * vocab)

Timing: the model is loaded, the ids copied to the GPU and two forwards of the first batch run
(warm-up: cuBLAS, SDPA kernels, the caching allocator); then the W windows run back to back
under torch.inference_mode, the NLL summed on the GPU, synchronised once at the end; tok/s =
W * L (tokens fed) / that wall time (time.perf_counter around torch.cuda.synchronize()).

One line per (mode, L) on stdout, key=value, for bench/bench_cuda.sh:

  hf mode=labels batch=1 ctx=2048 windows=256 tokens=524288 seconds=2.712 tok_s=193301
     mean_nll=10.3731 ppl=31961.2 peak_gib=3.41

(one line; peak_gib is torch.cuda.max_memory_allocated over the timed windows). A mode that
fails (out of memory) prints `hf mode=... ctx=... error="..."` and the others go on.
"""

import argparse
import math
import sys
import time

import torch

CHUNK_ROWS = 4096
BATCH_TOKENS = 32768


def load(folder, device):
    from transformers import AutoModelForCausalLM
    kw = dict(attn_implementation="sdpa")
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16, **kw)
    except TypeError:  # transformers < 4.56 names it torch_dtype
        model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.bfloat16, **kw)
    return model.to(device).eval()


def read_ids(path):
    with open(path) as f:
        return torch.tensor([int(t) for t in f.read().replace(",", " ").split()],
                            dtype=torch.int64)


def nll_labels(model, x):
    """Summed NLL of the batch x [B, L] (targets 1 .. L-1 of each row) through the standard
    forward with labels."""
    out = model(input_ids=x, labels=x)
    return out.loss.double() * (x.shape[0] * (x.shape[1] - 1))


def nll_chunked(model, x):
    h = model.model(input_ids=x).last_hidden_state[:, :-1].reshape(-1, model.config.hidden_size)
    y = x[:, 1:].reshape(-1)
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for r in range(0, h.shape[0], CHUNK_ROWS):
        logits = model.lm_head(h[r:r + CHUNK_ROWS]).float()
        total += torch.nn.functional.cross_entropy(logits, y[r:r + CHUNK_ROWS],
                                                   reduction="sum").double()
    return total


SCORERS = {"labels": nll_labels, "chunked": nll_chunked}


def run_mode(model, ids, L, windows, name, batch):
    score = SCORERS[name]
    data = ids[:windows * L].view(windows, L)
    with torch.inference_mode():
        for _ in range(2):
            score(model, data[:batch])
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        total = torch.zeros((), dtype=torch.float64, device=ids.device)
        t0 = time.perf_counter()
        for w in range(0, windows, batch):
            total += score(model, data[w:w + batch])
        torch.cuda.synchronize()
        sec = time.perf_counter() - t0
    mean = float(total) / (windows * (L - 1))
    ppl = math.exp(mean) if mean < 700 else float("inf")
    print("hf mode=%s batch=%d ctx=%d windows=%d tokens=%d seconds=%.3f tok_s=%.0f "
          "mean_nll=%.6f ppl=%.4f peak_gib=%.2f" % (
              name, batch, L, windows, windows * L, sec, windows * L / sec, mean, ppl,
              torch.cuda.max_memory_allocated() / 2 ** 30), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("ids")
    ap.add_argument("--ctx", default="2048,8192,32768")
    ap.add_argument("--tokens", type=int, default=1 << 19)
    ap.add_argument("--modes", default="labels:1,chunked:1,chunked:max")
    ap.add_argument("--device", default="cuda:0")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("hf_peer: no CUDA GPU visible to PyTorch", file=sys.stderr)
        sys.exit(2)
    t0 = time.perf_counter()
    model = load(a.folder, a.device)
    ids = read_ids(a.ids).to(a.device)
    print("hf_peer: torch %s, %s, model loaded in %.1f s, %d ids" % (
        torch.__version__, torch.cuda.get_device_name(a.device), time.perf_counter() - t0,
        ids.numel()), file=sys.stderr, flush=True)
    for L in [int(c) for c in a.ctx.split(",")]:
        windows = min(a.tokens, ids.numel()) // L
        if windows < 1:
            print("hf ctx=%d error=\"fewer than %d ids\"" % (L, L), flush=True)
            continue
        for m in a.modes.split(","):
            name, _, b = m.partition(":")
            batch = max(1, BATCH_TOKENS // L) if b == "max" else int(b or 1)
            batch = min(batch, windows)
            if b == "max" and batch == 1 and "%s:1" % name in a.modes.split(","):
                continue  # the same run as NAME:1
            try:
                run_mode(model, ids, L, windows - windows % batch, name, batch)
            except torch.cuda.OutOfMemoryError as e:
                print("hf mode=%s batch=%d ctx=%d error=\"out of memory: %s\"" % (
                    name, batch, L, str(e).split("\n")[0][:120]), flush=True)
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
