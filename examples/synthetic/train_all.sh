#!/bin/sh
# Trains the bundled synthetic-task models on one GPU, in one process: copy and flip-flop, each
# as softmax+RoPE, ASEntmax+NAPE and SSMax+NAPE (same data, seeds and steps per task).
# Needs torch 2.x with CUDA and lightning. The step count of each task is fixed from the step
# rate measured at the start, so that the whole schedule fits in MINUTES (7 by default) of this
# run; the state saved in WORK/out/state lets a later run continue (`resume`, e.g. after an
# interruption, or with train_task.py's --plan TASK=SECONDS for a schedule spread over runs).
#
#   sh examples/synthetic/train_all.sh WORK            # data; trains all six models
#   sh examples/synthetic/train_all.sh WORK resume     # continues from WORK/out/state
#   sh examples/synthetic/train_all.sh WORK continue   # copy only: a new cosine stage after
#                                                      # the finished schedule (peak
#                                                      # $CONTINUE_LR, 5e-4 by default, reached
#                                                      # after $CONTINUE_WARMUP steps, 100)
#
# then, for each WORK/out/<model>/ (examples/synthetic/TRAINING.md):
#   sparsa convert WORK/out/<model>/last.ckpt --config WORK/out/<model>/config.json \
#       --dtype bf16 --compress zstd -o examples/synthetic/models/<model>.sparsa
set -eu
D=$(cd "$(dirname "$0")" && pwd)
W=${1:-/tmp/syn}
PHASE=${2:-first}
MINUTES=${MINUTES:-7}
mkdir -p "$W"
gen() { [ -f "$2/task.txt" ] || python3 "$D/generate_data.py" "$@"; }
# training data: the paper's generator, seed 42; copy sources of 32..64 tokens, flip-flop
# sources of 16..32 pairs (write probability 0.1)
gen copy "$W/copy" --train 500000 --eval 0 --seed 42 &
gen flipflop "$W/flipflop" --train 500000 --eval 0 --seq-len 24 --vary-len 8 --seed 42 &
# validation data, seed 43 (monitored while training; the same validation_* files as the
# first lengths of the evaluation data in README.md, whose test_* files make the table)
gen copy "$W/copy-eval" --train 0 --eval 100 --lengths 64,256,1024,4096 --seed 43 &
gen flipflop "$W/flipflop-eval" --train 0 --eval 100 --seq-len 24 --vary-len 8 \
  --lengths 32,128,512,2048 --seed 43 &
wait
set -- --variants softmax-rope,asentmax-nape,ssmax-nape --batch 512 --lr 1e-3 --warmup 1000 \
  --minutes "$MINUTES" --reserve 60 --monitor copy="$W/copy-eval" \
  --monitor flipflop="$W/flipflop-eval"
if [ "$PHASE" = first ]; then
  python3 "$D/train_task.py" "$W/out" --task copy="$W/copy" --task flipflop="$W/flipflop" \
    --plan flipflop --plan copy "$@"
elif [ "$PHASE" = continue ]; then
  # the bundled copy models' second run: 100 warm-up steps to 5e-4, then cosine to 0 at the
  # step count that fits in MINUTES (4.97 minutes gave step 4,213); their third run took
  # CONTINUE_LR=3e-4 CONTINUE_WARMUP=200 (step 7,222); flip-flop stays as it was
  python3 "$D/train_task.py" "$W/out" --task copy="$W/copy" --resume --plan copy \
    --continue-lr "${CONTINUE_LR:-5e-4}" --continue-warmup "${CONTINUE_WARMUP:-100}" --save-every 2 \
    --variants softmax-rope,asentmax-nape,ssmax-nape --batch 512 --lr 1e-3 --warmup 1000 \
    --minutes "$MINUTES" --reserve 45 --monitor copy="$W/copy-eval"
else
  python3 "$D/train_task.py" "$W/out" --task copy="$W/copy" --task flipflop="$W/flipflop" \
    --resume "$@"
fi
