"""torch_peer.py - the PyTorch side of `make bench`: the reference implementation
(tests/reference/sparsa_ref.py) on the weights read back from the same sparsa file.

    /usr/bin/python3 bench/torch_peer.py MODEL TOKENS.bin WINDOW [--threads T] [--reps R]
                                         [--decode N]

Prefill: one window as a batch of one under torch.no_grad(), logits reduced to the NLL of the
next token (log_softmax), median of R runs. Decode (optional): N tokens one at a time; the
reference has no KV cache, so each step re-runs the whole prefix, as a user of the reference
would. --threads sets torch's intra-op threads; OpenBLAS keeps its own setting
(OPENBLAS_NUM_THREADS). Prints one line of key=value pairs like bench_model.
"""

import argparse
import json
import os
import resource
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import sparsa_export as E  # noqa: E402
import sparsa_ref as R  # noqa: E402


def load(path):
    f = E.read(path)
    meta = f["metadata"]
    arch = meta["model.architecture"]
    cfg = R.Config(**json.loads(meta["source.config"]))
    model = R.ARCHS[arch](cfg)
    sd = {k: v.float() for k, v in f["tensors"].items()}
    if getattr(cfg, "tie_word_embeddings", False) and "lm_head.weight" not in sd:
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    model.load_state_dict(sd, strict=True)
    model.eval()
    del f
    return model, cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("tokens")
    ap.add_argument("window", type=int)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--decode", type=int, default=0)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    model, cfg = load(a.model)
    need = max(a.window, a.decode)
    with open(a.tokens, "rb") as f:
        raw = f.read(4 * need)
    if len(raw) < 4 * need:
        sys.stderr.write("torch_peer.py: %s holds fewer than %d tokens\n" % (a.tokens, need))
        sys.exit(2)
    toks = torch.tensor(struct.unpack("<%di" % need, raw), dtype=torch.long) % cfg.vocab_size
    x = toks[None, :a.window]
    times, cpus, nll = [], [], 0.0
    with torch.no_grad():
        for _ in range(a.reps):
            t0, c0 = time.perf_counter(), time.process_time()
            logits = model(x)[0]
            lp = F.log_softmax(logits[:-1].double(), dim=-1)
            nll = float(-lp.gather(1, x[0, 1:, None]).mean())
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            del logits, lp
        dec = 0.0
        if a.decode > 0:
            t0 = time.perf_counter()
            for i in range(a.decode):
                model(toks[None, :i + 1])
            dec = a.decode / (time.perf_counter() - t0)
    times.sort()
    cpus.sort()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("impl=torch window=%d threads=%d tokens_per_s=%.1f tokens_per_cpu_s=%.1f nll=%.6f "
          "decode_tokens_per_s=%.1f rss_mb=%.1f"
          % (a.window, torch.get_num_threads(), a.window / times[len(times) // 2],
             a.window / cpus[len(cpus) // 2], nll, dec, rss))


if __name__ == "__main__":
    main()
