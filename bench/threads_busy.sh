#!/bin/sh
# threads_busy.sh — does sparsa stay fast when the machine is busy? Starts two busy background
# processes (shell loops), then times whole `sparsa generate MODEL --tokens ... -n N` runs with
# the default thread settings and with --threads 1, RUNS times each, and prints min and median
# of both and the ratio of the medians (default / one thread). The target is a ratio of at most
# 1.5: idle pool threads must wait passively (the binary sets OMP_WAIT_POLICY=PASSIVE itself,
# cli/threads_setup.c) and the default thread count must not exceed the CPUs sparsa may use.
# Exit status 1 when the ratio is above the target. Not a timed test: run it by hand.
#
#   bench/threads_busy.sh [MODEL]        (default: examples/models/softmax_rope.sparsa)
#
# Environment: SPARSA (binary, default build/sparsa), RUNS (default 9), N (tokens, default 40),
# BUSY (background loops, default 2), TARGET (default 1.5). OMP_WAIT_POLICY is removed from the
# environment of the timed runs, so the binary's own default is what is measured.
set -eu
SPARSA=${SPARSA:-build/sparsa}
MODEL=${1:-examples/models/softmax_rope.sparsa}
RUNS=${RUNS:-9}
N=${N:-40}
BUSY=${BUSY:-2}
TARGET=${TARGET:-1.5}

[ -x "$SPARSA" ] || { echo "threads_busy.sh: no binary at $SPARSA (make first)" >&2; exit 2; }
[ -f "$MODEL" ] || { echo "threads_busy.sh: no model file $MODEL" >&2; exit 2; }

pids=""
stop_busy() { for p in $pids; do kill "$p" 2>/dev/null || true; done; }
trap stop_busy EXIT
trap 'stop_busy; exit 130' INT TERM
i=0
while [ "$i" -lt "$BUSY" ]; do
    sh -c 'while :; do :; done' &
    pids="$pids $!"
    i=$((i + 1))
done
sleep 1

# Seconds of one whole run (process start to exit).
one_run() {
    t0=$(date +%s%N)
    env -u OMP_WAIT_POLICY "$SPARSA" generate "$MODEL" --tokens 1,2,3 -n "$N" "$@" >/dev/null
    t1=$(date +%s%N)
    echo "$t0 $t1" | awk '{printf "%.4f\n", ($2 - $1) / 1e9}'
}

# "min median" of RUNS runs.
series() {
    k=0
    while [ "$k" -lt "$RUNS" ]; do one_run "$@"; k=$((k + 1)); done |
        sort -n | awk '{v[NR] = $1} END {printf "%.4f %.4f\n", v[1], v[int((NR + 1) / 2)]}'
}

cpus=$(nproc)
echo "sparsa generate -n $N, $BUSY busy processes, $cpus CPUs available, $RUNS runs each"
default=$(series)
single=$(series --threads 1)
stop_busy
echo "$default $single" | awk -v target="$TARGET" '{
    printf "  default threads   min %.3f s  median %.3f s\n", $1, $2
    printf "  --threads 1       min %.3f s  median %.3f s\n", $3, $4
    ratio = $2 / $4
    printf "  ratio of medians  %.2f (target <= %s)\n", ratio, target
    exit ratio > target ? 1 : 0
}'
