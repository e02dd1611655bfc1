#!/usr/bin/python3
"""Writes the PyTorch reference perplexities that `make run` compares sparsa against.

  reference_table.py reference_eval.json MAX_TOKENS > examples/data/reference_ppl_MAX_TOKENS.tsv

reference_eval.json holds, per model, text and context length L, the NLL sum of every
non-overlapping window of the whole held-out sample (train_lm.py's evaluation). sparsa's
`--max-tokens N` keeps the first N tokens of each text, i.e. the first N // L windows, so the
reference for that run is the mean over those windows. MAX_TOKENS 0 means the whole sample.
Output: one line per (model, text, L): model, text, L, windows, tokens scored, mean NLL, PPL.
"""
import json
import math
import sys


def main():
    ref = json.load(open(sys.argv[1]))
    max_tokens = int(sys.argv[2])
    print("# model\ttext\tctx\twindows\ttokens_scored\tmean_nll\tppl"
          f"\t(PyTorch reference, first {max_tokens or 'all'} tokens)")
    for model, m in ref["models"].items():
        for r in m["results"]:
            L = r["ctx"]
            w = r["window_nll"]
            if max_tokens:
                w = w[: max_tokens // L]
            tokens = len(w) * (L - 1)
            mean = sum(w) / tokens
            print(f"{model}\t{r['file']}\t{L}\t{len(w)}\t{tokens}\t{mean:.9f}\t{math.exp(mean):.6f}")


if __name__ == "__main__":
    main()
