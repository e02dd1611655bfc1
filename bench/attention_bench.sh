#!/bin/sh
# The attention kernel benchmark (bench/attention_bench.c): entmax-1.5 against softmax, one
# head, d = 64, causal prefill at 1k, 4k and 16k tokens on sparse scores, then 1k and 4k on
# dense scores (the worst case for entmax); one thread, so the ratio is about the kernel.
#   sh bench/attention_bench.sh [BUILD_DIR] [L ...]
set -e
B=${1:-build}
[ $# -gt 0 ] && shift
make -s --no-print-directory "$B/libsparsa.a" BUILD="$B"
${CC:-gcc} -std=c11 -D_GNU_SOURCE -O2 -march=${ARCH:-native} -fopenmp -Iinterpreter/attention \
    bench/attention_bench.c "$B/libsparsa.a" -lm -o "$B/attention_bench"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
if [ $# -gt 0 ]; then
    "$B/attention_bench" "$@"
else
    "$B/attention_bench"                       # sparse scores: the case entmax is built for
    "$B/attention_bench" --std 0.3 1024 4096   # dense scores: every key a candidate
fi
