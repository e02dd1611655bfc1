#!/usr/bin/env python3
"""generate_data.py - synthetic extrapolation tasks in the paper's data format.

Writes, into OUT_DIR, train.src/.trg and for every evaluation length i-th in --lengths
validation_{i}_{len}.src/.trg and test_{i}_{len}.src/.trg: one sample per line, tokens as
space-separated integers. Token ids are the integers themselves; a model adds the specials
pad = M+1, bos = M+2, eos = M+3, mask = M+4, sep = M+5 (vocabulary M+6), M = max_vocab_id.

Tasks (M in brackets):
  copy      [31]  trg = src, tokens uniform in [0, 32)
  sort      [31]  trg = sorted(src)
  reverse   [31]  trg = reversed(src)
  mqmtar    [259] multi-query multi-token associative recall: rows "k1 k2 1 v1 v2 0" (space 0,
                  key/value separator 1) spread over the sequence with spaces, then 4 queries
                  "2 k1 k2" (query separator 2) of keys present; trg = "2 v1 v2" per query.
                  Key and value symbols are 3..258; 10000 distinct keys map to 10000 values.
  flipflop  [4]   pairs (cmd, bit), cmd 2 = write (probability --write-prob), 3 = ignore,
                  the first is a write, the last cmd is 4 = read; src = the pairs without the
                  final bit; trg = the bit of the last write.

Training lengths are uniform in [seq_len - vary_len, seq_len + vary_len]; evaluation sets
have exactly the given length (for flip-flop the length counts pairs). Deterministic for a seed.

Usage: generate_data.py TASK OUT_DIR [--train N] [--eval N] [--lengths 64,128,...] [--seed S]
"""

import argparse
import os
import random

MAX_VOCAB_ID = {"copy": 31, "sort": 31, "reverse": 31, "mqmtar": 259, "flipflop": 4}


def sequence_task(kind, rng, length):
    src = [rng.randrange(32) for _ in range(length)]
    if kind == "copy":
        trg = list(src)
    elif kind == "sort":
        trg = sorted(src)
    else:
        trg = src[::-1]
    return src, trg


class Mqmtar:
    """The key -> value table is fixed for the whole data set (seeded), as in the paper."""

    def __init__(self, rng, n_pairs=10000, abc=256, k_len=2, v_len=2, num_q=4, num_kv=0.8):
        symbols = range(3, 3 + abc)
        keys, values = set(), set()
        while len(keys) < n_pairs:
            keys.add(tuple(rng.choice(symbols) for _ in range(k_len)))
        while len(values) < n_pairs:
            values.add(tuple(rng.choice(symbols) for _ in range(v_len)))
        keys, values = sorted(keys), sorted(values)
        rng.shuffle(values)
        self.table = dict(zip(keys, values))
        self.keys = keys
        self.row_len = k_len + 1 + v_len + 1
        self.num_q, self.num_kv = num_q, num_kv

    def sample(self, rng, length):
        n_kv = max(1, int(self.num_kv * length / self.row_len))
        block = max(self.row_len, length // n_kv)
        chosen = rng.sample(self.keys, n_kv)
        src = []
        for key in chosen:
            row = list(key) + [1] + list(self.table[key]) + [0]
            lead = rng.randrange(block - self.row_len + 1)
            src += [0] * lead + row + [0] * (block - self.row_len - lead)
        trg = []
        for _ in range(self.num_q):
            key = rng.choice(chosen)
            src += [2] + list(key)
            trg += [2] + list(self.table[key])
        return src, trg


def flipflop(rng, pairs, write_prob):
    src, last = [], None
    for t in range(pairs):
        if t == pairs - 1:
            src += [4]
            break
        cmd = 2 if t == 0 or rng.random() < write_prob else 3
        bit = rng.randrange(2)
        if cmd == 2:
            last = bit
        src += [cmd, bit]
    return src, [last]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("task", choices=sorted(MAX_VOCAB_ID))
    ap.add_argument("out_dir")
    ap.add_argument("--train", type=int, default=100000)
    ap.add_argument("--eval", type=int, default=1000)
    ap.add_argument("--seq-len", type=int, default=48)
    ap.add_argument("--vary-len", type=int, default=16)
    ap.add_argument("--lengths", default="64,128,256,512,1024,2048,4096")
    ap.add_argument("--write-prob", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    mq = Mqmtar(rng) if a.task == "mqmtar" else None

    def sample(length):
        if a.task == "mqmtar":
            return mq.sample(rng, length)
        if a.task == "flipflop":
            return flipflop(rng, length, a.write_prob)
        return sequence_task(a.task, rng, length)

    def write(name, lengths):
        with open(os.path.join(a.out_dir, name + ".src"), "w") as fs, \
             open(os.path.join(a.out_dir, name + ".trg"), "w") as ft:
            for n in lengths:
                src, trg = sample(n)
                fs.write(" ".join(map(str, src)) + "\n")
                ft.write(" ".join(map(str, trg)) + "\n")

    os.makedirs(a.out_dir, exist_ok=True)
    lo, hi = a.seq_len - a.vary_len, a.seq_len + a.vary_len
    if a.train:
        write("train", [rng.randint(lo, hi) for _ in range(a.train)])
    for split in ("validation", "test"):
        for i, n in enumerate(int(x) for x in a.lengths.split(",")):
            write("%s_%d_%d" % (split, i, n), [n] * a.eval)
    with open(os.path.join(a.out_dir, "task.txt"), "w") as f:
        f.write("task %s\nmax_vocab_id %d\n" % (a.task, MAX_VOCAB_ID[a.task]))


if __name__ == "__main__":
    main()
