#!/bin/sh
# Trains the four example variants at once on one GPU and evaluates them.
#
#   sh examples/train/train_all.sh TOKENS_DIR OUT_DIR [STEPS]
#
# TOKENS_DIR holds train.npy, sotu.npy, moby.npy (prepare_data.sh). Without STEPS, a short
# probe (30 steps of every variant, all four running together) measures the step time and the
# step count is the largest multiple of 100 that fits TRAIN_SECONDS (default 330), capped at
# 4000; the count is the same for all four variants and is recorded in each config.json.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
TOK=$1
OUT=$2
STEPS=${3:-}
PY=${PYTHON:-python3}
VARIANTS="softmax_rope ssmax_nape entmax15_nape asentmax_nape"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

if [ -z "$STEPS" ]; then
    for v in $VARIANTS; do
        "$PY" "$HERE/train_lm.py" train "$v" --tokens "$TOK" --out "$OUT/probe_$v" \
            --steps 30 --log-every 10 --probe >"$OUT/probe_$v.log" 2>&1 &
    done
    wait
    STEPS=$(cat "$OUT"/probe_*.log | "$PY" -c '
import os, re, sys
t = [float(m.group(1)) for m in re.finditer(r"probe seconds/step ([0-9.]+)", sys.stdin.read())]
if len(t) != 4:
    sys.exit("probe failed")
budget = float(os.environ.get("TRAIN_SECONDS", "330"))
print(max(100, min(4000, int(budget / max(t) / 100) * 100)))')
    echo "probe: $(grep -h 'probe seconds' "$OUT"/probe_*.log | tr '\n' ' ')-> $STEPS steps"
    rm -rf "$OUT"/probe_*
fi

pids=""
for v in $VARIANTS; do
    "$PY" "$HERE/train_lm.py" train "$v" --tokens "$TOK" --out "$OUT/$v" --steps "$STEPS" \
        >"$OUT/$v.log" 2>&1 &
    pids="$pids $!"
done
fail=0
for p in $pids; do wait "$p" || fail=1; done
tail -n 12 "$OUT"/*.log
exit $fail
