"""convert_speed.py - conversion speed against `cp` of the same checkpoint on the same disk.

    /usr/bin/python3 bench/convert_speed.py SPARSA [DIR] [RUNS]
    /usr/bin/python3 bench/convert_speed.py --timeline SPARSA [DIR] [RUNS]

Writes the benchmark checkpoint into DIR (default /tmp/sparsa-convert-bench): a Hugging Face
Llama folder, one f32 safetensors file of 80.8 MB (20.2M parameters: 6 layers 512 wide, FFN
1536, 8 heads with 4 KV heads, a 1280-row embedding and LM head - the shape of the converter's
interruption test), then times, alternately and RUNS times each (default 7), whole processes:

    cp DIR/src/model.safetensors DIR/copy.safetensors
    SPARSA convert DIR/src -o DIR/out.sparsa --quiet
    sh -c 'cp DIR/src/model.safetensors DIR/synced.safetensors && sync DIR/synced.safetensors'
    openssl dgst -sha256 DIR/src/model.safetensors

all warm-cache (one untimed round first), every output deleted and the disk synced before each
run (untimed). The last two are for reference only: convert makes its output durable (fsync
before the rename), cp does not; and convert records the checkpoint's SHA-256, which is
sequential (one core, about 1.7 GB/s with the SHA extensions, against cp's 2.9 GB/s), so
OpenSSL's time for it, start-up included, is near the floor of a conversion. Prints, per
command, the minimum and median of the wall time and of the CPU time (user + system of the
process and its children, from wait4), the ratios convert / cp of the minima and of the
medians (and of the wall times convert / openssl: a conversion against the hash alone),
and the load average before and after: a conversion runs on two cores (the hash
beside everything else), so its wall time tends to its CPU time when the other core is busy.
With --timeline it times conversions only, with SPARSA_CONVERT_TRACE set, and prints when each
step of one was reached (milliseconds after the process was started: minimum and median over
the runs), from sp_convert's start through the hash and the second thread's plan, stream and
checked draft to the published file, and when the process was gone.
Needs numpy only.
"""
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

V, D, F, LAYERS, HEADS, KV = 1280, 512, 1536, 6, 8, 4


def make_checkpoint(src):
    os.makedirs(src, exist_ok=True)
    path = os.path.join(src, "model.safetensors")
    hd = D // HEADS
    shapes = [("model.embed_tokens.weight", (V, D))]
    for i in range(LAYERS):
        p = "model.layers.%d." % i
        shapes += [(p + "input_layernorm.weight", (D,)), (p + "post_attention_layernorm.weight", (D,)),
                   (p + "self_attn.q_proj.weight", (D, D)), (p + "self_attn.k_proj.weight", (KV * hd, D)),
                   (p + "self_attn.v_proj.weight", (KV * hd, D)), (p + "self_attn.o_proj.weight", (D, D)),
                   (p + "mlp.gate_proj.weight", (F, D)), (p + "mlp.up_proj.weight", (F, D)),
                   (p + "mlp.down_proj.weight", (D, F))]
    shapes += [("model.norm.weight", (D,)), ("lm_head.weight", (V, D))]
    hdr, off = {}, 0
    for name, shp in shapes:
        nb = 4 * int(np.prod(shp))
        hdr[name] = {"dtype": "F32", "shape": list(shp), "data_offsets": [off, off + nb]}
        off += nb
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for name, shp in shapes:
            f.write((rng.standard_normal(shp, dtype=np.float32) * 0.02).tobytes())
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": V,
           "hidden_size": D, "intermediate_size": F, "num_hidden_layers": LAYERS,
           "num_attention_heads": HEADS, "num_key_value_heads": KV, "rms_norm_eps": 1e-5,
           "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
           "torch_dtype": "float32"}
    with open(os.path.join(src, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    return path


def timed(argv):
    """Wall seconds and CPU seconds (user + system) of one whole process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit("convert_speed: %s failed (status %d)" % (" ".join(argv), status))
    return wall, ru.ru_utime + ru.ru_stime


def clear(paths):
    """Removes the outputs and syncs (untimed): freeing an 80 MB file's blocks (with the discards
    of a file system mounted -o discard) lands in the next journal commit, which the next
    process that syncs (convert's fsync) would otherwise wait for."""
    for p in paths:
        if os.path.exists(p):
            os.unlink(p)
    os.sync()


def timeline(sparsa, src, out, runs):
    """Each traced step's moment after the process start (ms), min and median over the runs."""
    env = dict(os.environ, SPARSA_CONVERT_TRACE="1")
    steps, gone = {}, []
    for first in (True,) + (False,) * runs:
        clear([out])
        t0 = time.monotonic()  # CLOCK_MONOTONIC, the clock of the trace
        proc = subprocess.Popen([sparsa, "convert", src, "-o", out, "--quiet"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env)
        err = proc.stderr.read().decode()
        _, status, _ = os.wait4(proc.pid, 0)
        t1 = time.monotonic()
        if status != 0:
            sys.exit("convert_speed: convert failed (status %d)" % status)
        if first:
            continue
        gone.append((t1 - t0) * 1e3)
        for line in err.splitlines():
            if line.startswith("convert-trace "):
                _, at, step = line.split(" ", 2)
                steps.setdefault(step, []).append((float(at) - t0) * 1e3)
    clear([out])
    print("%9s %9s  step (ms after the process started, %d runs, load average %.2f)" % (
        "min", "median", runs, os.getloadavg()[0]))
    for step, v in sorted(steps.items(), key=lambda kv: statistics.median(kv[1])):
        print("%9.1f %9.1f  %s" % (min(v), statistics.median(v), step))
    print("%9.1f %9.1f  %s" % (min(gone), statistics.median(gone), "process gone"))


def main():
    args = [a for a in sys.argv[1:] if a != "--timeline"]
    sparsa = args[0]
    base = args[1] if len(args) > 1 else "/tmp/sparsa-convert-bench"
    runs = int(args[2]) if len(args) > 2 else 7
    src = os.path.join(base, "src")
    st = os.path.join(src, "model.safetensors")
    if not os.path.exists(st):
        make_checkpoint(src)
    if "--timeline" in sys.argv:
        return timeline(sparsa, src, os.path.join(base, "traced.sparsa"), runs)
    outs = {"cp": os.path.join(base, "copy.safetensors"), "convert": os.path.join(base, "out.sparsa"),
            "cp+sync": os.path.join(base, "synced.safetensors")}
    cmds = {"cp": ["cp", st, outs["cp"]],
            "convert": [sparsa, "convert", src, "-o", outs["convert"], "--quiet"],
            "cp+sync": ["sh", "-c", 'cp "$1" "$2" && sync "$2"', "sh", st, outs["cp+sync"]],
            "openssl": ["openssl", "dgst", "-sha256", st]}
    load0 = os.getloadavg()[0]
    res = {k: [] for k in cmds}
    for first in (True,) + (False,) * runs:  # an untimed round first: the page cache is warm
        for k in cmds:
            clear(outs.values())
            r = timed(cmds[k])
            if not first:
                res[k].append(r)
    clear(outs.values())
    print("checkpoint %s: %.1f MB; %d runs each, load average %.2f before, %.2f after" % (
        st, os.path.getsize(st) / 1e6, runs, load0, os.getloadavg()[0]))
    print("%-10s %9s %9s %9s %9s" % ("", "wall min", "wall med", "cpu min", "cpu med"))
    stats = {}
    for k, v in res.items():
        w = [x[0] for x in v]
        c = [x[1] for x in v]
        stats[k] = (min(w), statistics.median(w), min(c), statistics.median(c))
        print("%-10s %9.3f %9.3f %9.3f %9.3f" % ((k,) + stats[k]))
    r = [stats["convert"][i] / stats["cp"][i] for i in range(4)]
    print("%-10s %9.2f %9.2f %9.2f %9.2f" % ("convert/cp", *r))
    # against hashing the file alone (OpenSSL's start-up, heavier than sparsa's, included)
    r = [stats["convert"][i] / stats["openssl"][i] for i in range(2)]
    print("%-10s %9.2f %9.2f" % ("conv/sha", *r))


if __name__ == "__main__":
    main()
