#!/bin/sh
# make bench: benchmarks against the PyTorch reference (see bench/README.md).
echo "no benchmarks yet"
# attention kernel: entmax-1.5 vs softmax at 1k/4k/16k tokens
sh bench/attention_bench.sh "$(dirname "${1:-build/sparsa}")"
