#!/bin/sh
# The attention kernel benchmark (bench/attention_bench.c): entmax-1.5 against softmax, one
# head, d = 64, causal prefill at 1k, 4k and 16k tokens on sparse scores; one thread, so the
# ratio is about the kernel, not the scheduler.
#   sh bench/attention_bench.sh [BUILD_DIR] [L ...]
set -e
B=${1:-build}
[ $# -gt 0 ] && shift
make -s --no-print-directory "$B/libsparsa.a" BUILD="$B"
${CC:-gcc} -std=c11 -D_GNU_SOURCE -O2 -march=${ARCH:-native} -fopenmp -Iinterpreter/attention \
    bench/attention_bench.c "$B/libsparsa.a" -lm -o "$B/attention_bench"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$B/attention_bench" "$@"
