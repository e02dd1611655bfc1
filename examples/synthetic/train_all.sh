#!/bin/sh
# Trains the bundled synthetic-task models: {copy, MQMTAR} x {softmax+RoPE, ASEntmax+NAPE}, all
# four at once on one GPU (needs torch 2.x with CUDA and lightning), then converts them with
# sparsa. This is exactly how examples/synthetic/models/ was made (an H100, 4.5 minutes each):
#
#   sh examples/synthetic/train_all.sh /tmp/syn        # on the GPU machine
#   for m in /tmp/syn/out/*; do                         # here
#     build/sparsa convert $m/last.ckpt --config $m/config.json --dtype bf16 \
#       --compress zstd -o examples/synthetic/models/$(basename $m).sparsa
#   done
set -eu
D=$(cd "$(dirname "$0")" && pwd)
W=${1:-/tmp/syn}
mkdir -p "$W"
python3 "$D/generate_data.py" copy "$W/copy" --train 200000 --eval 1 --lengths 64 --seed 42
python3 "$D/generate_data.py" mqmtar "$W/mqmtar" --train 200000 --eval 1 --lengths 64 --seed 42
for task in copy mqmtar; do
  if [ $task = copy ]; then L=2; else L=4; fi
  for v in softmax-rope asentmax-nape; do
    python3 "$D/train_task.py" "$W/$task" "$W/out/$task-$v" --variant $v --minutes 4.5 \
      --max-steps 12000 --layers $L --hidden 128 --heads 8 --head-dim 16 --ffn 512 --lr 1e-3 \
      > "$W/log-$task-$v.txt" 2>&1 &
  done
done
wait
tail -n 3 "$W"/log-*.txt
