"""sdpa_peer.py - the PyTorch peer of sparsa's attention micro-benchmark: causal
scaled_dot_product_attention forward, bf16, on one GPU.

    python3 bench/cuda/sdpa_peer.py [--n 4096,16384,65536] [--heads 12] [--dim 64]
                                    [--reps 10] [--backends default,flash,cudnn]

q, k, v are [1, heads, n, dim] bf16 from a seeded normal; `default` is SDPA's own choice of
kernel (what a user gets), the others force one backend with torch.nn.attention.sdpa_kernel
(skipped with a note where the backend refuses the shape or is absent). Each point: 3 warm-up
calls, then REPS calls each timed with a pair of CUDA events; the median is quoted. FLOPs of a
causal forward: 4 * n * n * dim * heads / 2 (QK^T and PV over the lower triangle), so
TFLOP/s = 2 * n^2 * dim * heads / seconds / 1e12.

One line per point on stdout, key=value, for bench/bench_cuda.sh:

  sdpa backend=default n=4096 heads=12 dim=64 ms=0.110 tflops=250.2 min_ms=0.108
"""

import argparse
import statistics
import sys

import torch
import torch.nn.functional as F


def backend_ctx(name):
    if name == "default":
        import contextlib
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel
    table = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
             "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}
    return sdpa_kernel([table[name]])


def time_point(n, heads, dim, reps, backend):
    g = torch.Generator(device="cuda").manual_seed(n)
    q, k, v = (torch.randn(1, heads, n, dim, device="cuda", dtype=torch.bfloat16, generator=g)
               for _ in range(3))
    times = []
    with torch.inference_mode(), backend_ctx(backend):
        for _ in range(3):
            F.scaled_dot_product_attention(q, k, v, is_causal=True)
        for _ in range(reps):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            F.scaled_dot_product_attention(q, k, v, is_causal=True)
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
    ms = statistics.median(times)
    flops = 2.0 * n * n * dim * heads
    print("sdpa backend=%s n=%d heads=%d dim=%d ms=%.4f tflops=%.1f min_ms=%.4f" % (
        backend, n, heads, dim, ms, flops / (ms * 1e-3) / 1e12, min(times)), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", default="4096,16384,65536")
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--backends", default="default,flash,cudnn")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("sdpa_peer: no CUDA GPU visible to PyTorch", file=sys.stderr)
        sys.exit(2)
    print("sdpa_peer: torch %s, %s" % (torch.__version__, torch.cuda.get_device_name()),
          file=sys.stderr)
    for backend in a.backends.split(","):
        for n in [int(x) for x in a.n.split(",")]:
            try:
                time_point(n, a.heads, a.dim, a.reps, backend)
            except (RuntimeError, KeyError, ImportError) as e:
                print("sdpa backend=%s n=%d error=\"%s\"" % (
                    backend, n, str(e).split("\n")[0][:120]), flush=True)
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
