#!/bin/sh
# make bench: sparsa against the PyTorch reference on the same weights and windows, plus the
# matrix-product kernels against the machine's peak and OpenBLAS. See bench/README.md.
#
#   sh bench/run.sh [build/sparsa]
#
# Environment (defaults in brackets):
#   BENCH_MODELS        models for the window sweep [softmax-rope entmax15-nape asentmax-nape]
#   BENCH_WINDOWS       windows of the sweep [512 1024 2048 8192]
#   BENCH_THREADS       sparsa threads [2]
#   BENCH_TORCH_MAX_WINDOW         largest window the PyTorch peer runs for softmax [8192]
#   BENCH_TORCH_SPARSE_MAX_WINDOW  largest window it runs for the entmax models [2048]
#                       (the reference materialises, sorts and iterates over every score:
#                       at 8192 that is minutes and >10 GB per layer)
#   BENCH_TORCH_MEM_GB  address-space cap of each PyTorch run [10]; beyond it the run reports OOM
#   BENCH_TORCH_TIMEOUT seconds per PyTorch run [240]
#   BENCH_REPS          prefill repetitions per point, median quoted [3; 1 at window >= 8192]
#   BENCH_DECODE        decode tokens (KV cache) [128]
#   BENCH_DIR           model cache [build/bench-models]
#   BENCH_QUICK=1       small sweep: windows 512 1024, no OpenBLAS table, no thread pick
#   BENCH_LLAMACPP=0    no llama.cpp side by side (bench/llamacpp_peer.sh, its own variables)
set -u
SPARSA=${1:-build/sparsa}
BUILD=$(dirname "$SPARSA")
PY=${BENCH_PYTHON:-/usr/bin/python3}
DIR=${BENCH_DIR:-$BUILD/bench-models}
MODELS=${BENCH_MODELS:-"softmax-rope entmax15-nape asentmax-nape"}
WINDOWS=${BENCH_WINDOWS:-"512 1024 2048 8192"}
THREADS=${BENCH_THREADS:-2}
TORCH_MAX=${BENCH_TORCH_MAX_WINDOW:-8192}
TORCH_SPARSE_MAX=${BENCH_TORCH_SPARSE_MAX_WINDOW:-2048}
TORCH_MEM_GB=${BENCH_TORCH_MEM_GB:-10}
TORCH_TIMEOUT=${BENCH_TORCH_TIMEOUT:-240}
REPS=${BENCH_REPS:-3}
DECODE=${BENCH_DECODE:-128}
QUICK=${BENCH_QUICK:-0}
[ "$QUICK" = 1 ] && WINDOWS=${BENCH_WINDOWS:-"512 1024"}
BG="$BUILD/bench/bench_gemm"
BM="$BUILD/bench/bench_model"
LOG="$BUILD/bench-results.txt"

for b in "$BG" "$BM"; do
    [ -x "$b" ] || { echo "bench: $b missing (run 'make bench')" >&2; exit 2; }
done
mkdir -p "$DIR"
: > "$LOG"
say() { echo "$@" | tee -a "$LOG"; }
# field KEY "key=value ..." -> value
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1; }
# the larger of a run's wall and CPU figures: per wall second is right on a quiet machine, per
# CPU second on a busy one, and each errs only low (a lost time slice, a spinning helper thread)
best() { awk -v a="$(field gflops "$1")" -v b="$(field cpu_gflops "$1")" 'BEGIN { printf "%.1f", (a + 0 > b + 0) ? a : b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

HAVE_TORCH=0
if "$PY" -c 'import torch' 2>/dev/null; then HAVE_TORCH=1; fi

say "== sparsa benchmarks ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
say "   $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"

# ---- models -------------------------------------------------------------------------------
if [ "$HAVE_TORCH" = 1 ]; then
    "$PY" bench/make_models.py "$DIR" $MODELS llama >/dev/null || { echo "bench: making models failed" >&2; exit 1; }
else
    say "   no PyTorch at $PY: sparsa only, models must already be in $DIR"
fi
[ -f "$DIR/tokens.bin" ] || { echo "bench: $DIR/tokens.bin missing" >&2; exit 2; }

# ---- peak and matrix products -------------------------------------------------------------
say ""
say "== fp32 peak (register-only FMA loop) and matrix products y = x·Wᵀ (GFLOP/s, median of 5)"
P1=$("$BG" peak 1 | head -n 1); P2=$("$BG" peak 2 | head -n 1)
PEAK1=$(best "$P1"); PEAK2=$(field gflops "$P2"); PEAK2C=$(field cpu_gflops "$P2")
say "   peak 1 thread: $PEAK1   2 threads: $PEAK2 (wall), $PEAK2C (per running thread x2)"
SHAPES="1024,512,512 1024,512,1536 1024,1536,512 1024,512,8192 512,512,512 2048,2048,2048"
say "   shape M,K,N      sparsa-1t  %peak   openblas-1t  sparsa-2t  %peak  openblas-2t  2t/1t"
for s in $SHAPES; do
    a1=$(best "$("$BG" sparsa 1 f32 "$s")")
    a2=$(field gflops "$("$BG" sparsa 2 f32 "$s")")
    if [ "$QUICK" = 1 ]; then b1=-; b2=-; else
        b1=$(best "$("$BG" openblas 1 f32 "$s" 2>/dev/null)")
        b2=$(field gflops "$("$BG" openblas 2 f32 "$s" 2>/dev/null)")
    fi
    say "$(printf '   %-16s %9s  %5s%%  %11s  %9s  %5s%%  %11s  %5s' "$s" "$a1" \
        "$(awk -v a="$a1" -v p="$PEAK1" 'BEGIN{printf "%.0f", 100*a/p}')" "${b1:--}" "$a2" \
        "$(awk -v a="$a2" -v p="$PEAK2" 'BEGIN{printf "%.0f", 100*a/p}')" "${b2:--}" "$(ratio "$a2" "$a1")")"
done
for dt in f16 bf16; do
    a1=$(best "$("$BG" sparsa 1 $dt 1024,512,1536)")
    say "   1024,512,1536 with $dt weights, 1 thread: $a1"
done
# the --precision bf16 products (AMX tiles where the CPU has them, else AVX512_BF16)
for s in 1024,512,1536 1024,1536,512; do
    o=$("$BG" sparsa 1 bf16p "$s" 2>/dev/null)
    if [ -z "$o" ]; then say "   bf16 products: not on this CPU (no AVX512_BF16)"; break; fi
    a1=$(best "$o"); f1=$(best "$("$BG" sparsa 1 f32 "$s")")
    say "   $s bf16 products ($(field isa "$o")), 1 thread: $a1 (x$(ratio "$a1" "$f1") fp32's $f1)"
done
a1=$(best "$("$BG" sparsa 1 f32 1,512,8192)")
say "   decode shape 1,512,8192 (bandwidth bound), 1 thread: $a1"

# ---- PyTorch thread setting ---------------------------------------------------------------
# torch_run MODEL WINDOW EXTRA...: one PyTorch run with the chosen threads, capped.
TT=1; OBT=2
torch_run() {
    m=$1; w=$2; shift 2
    ( ulimit -v $((TORCH_MEM_GB * 1024 * 1024)) 2>/dev/null
      OPENBLAS_NUM_THREADS=$OBT OMP_NUM_THREADS=$TT timeout "$TORCH_TIMEOUT" \
        "$PY" bench/torch_peer.py "$DIR/$m.sparsa" "$DIR/tokens.bin" "$w" --threads "$TT" "$@" 2>&1 ) |
        grep '^impl=torch' || echo "impl=torch failed=1"
}
if [ "$HAVE_TORCH" = 1 ] && [ "$QUICK" != 1 ]; then
    say ""
    say "== PyTorch thread setting (softmax-rope, window 512, tokens/s)"
    best=0
    for cfg in "1 2" "2 1" "2 2" "1 1"; do
        set -- $cfg
        TT=$1; OBT=$2
        t=$(field tokens_per_s "$(torch_run softmax-rope 512 --reps 3)")
        say "   torch threads $1, OpenBLAS threads $2: $t"
        if awk -v a="$t" -v b="$best" 'BEGIN{exit !(a + 0 > b + 0)}'; then best=$t; BT=$1; BO=$2; fi
    done
    TT=$BT; OBT=$BO
    say "   chosen: torch threads $TT, OpenBLAS threads $OBT"
fi

# ---- prefill sweep --------------------------------------------------------------------------
sparsa_run() {
    m=$1; w=$2; shift 2
    "$BM" "$DIR/$m.sparsa" "$DIR/tokens.bin" "$w" "$@" 2>&1 | grep '^impl=sparsa' ||
        echo "impl=sparsa failed=1"
}
reps_for() { if [ "$1" -ge 8192 ]; then echo 1; else echo "$REPS"; fi; }

say ""
say "== perplexity-style prefill, one window per forward (sparsa $THREADS threads; PyTorch $TT+$OBT)"
say "   tok/s per wall second; in brackets per CPU second of all threads (the cost, robust to other load)"
say "   model           window  sparsa tok/s  torch tok/s  ratio  [sparsa  torch  ratio]  sparsa RSS MB  torch RSS MB  gemm GFLOP/s  gemm share  NLL sparsa / torch"
row() {
    m=$1; w=$2; S=$3; T=$4
    say "$(printf '   %-15s %6s  %12s  %11s  %5s  [%6s %6s %6s]  %13s  %12s  %12s  %10s  %s / %s' "$m" "$w" \
        "$(field tokens_per_s "$S")" "$(field tokens_per_s "$T")" \
        "$(ratio "$(field tokens_per_s "$S")" "$(field tokens_per_s "$T")")" \
        "$(field tokens_per_cpu_s "$S")" "$(field tokens_per_cpu_s "$T")" \
        "$(ratio "$(field tokens_per_cpu_s "$S")" "$(field tokens_per_cpu_s "$T")")" \
        "$(field rss_mb "$S")" "$(field rss_mb "$T")" "$(field gemm_gflops "$S")" \
        "$(field gemm_share "$S")" "$(field nll "$S")" "$(field nll "$T")")"
}
run_point() {
    m=$1; w=$2; lim=$3
    r=$(reps_for "$w")
    S=$(sparsa_run "$m" "$w" --threads "$THREADS" --reps "$r")
    T="impl=torch"
    if [ "$HAVE_TORCH" = 1 ] && [ "$w" -le "$lim" ]; then T=$(torch_run "$m" "$w" --reps "$r"); fi
    row "$m" "$w" "$S" "$T"
}
for m in $MODELS; do
    for w in $WINDOWS; do
        case $m in *entmax*) lim=$TORCH_SPARSE_MAX ;; *) lim=$TORCH_MAX ;; esac
        run_point "$m" "$w" "$lim"
    done
done
run_point llama 1024 "$TORCH_MAX"

# ---- threads and decode ---------------------------------------------------------------------
say ""
say "== thread scaling and decode (llama, window 1024; decode: $DECODE tokens from an empty KV cache)"
S1=$(sparsa_run llama 1024 --threads 1 --reps "$REPS" --decode "$DECODE")
S2=$(sparsa_run llama 1024 --threads 2 --reps "$REPS" --decode "$DECODE")
say "   sparsa prefill tok/s: 1 thread $(field tokens_per_s "$S1"), 2 threads $(field tokens_per_s "$S2"), ratio $(ratio "$(field tokens_per_s "$S2")" "$(field tokens_per_s "$S1")") (CPU cost 2t/1t: $(ratio "$(field tokens_per_cpu_s "$S1")" "$(field tokens_per_cpu_s "$S2")"))"
say "   sparsa decode tok/s:  1 thread $(field decode_tokens_per_s "$S1"), 2 threads $(field decode_tokens_per_s "$S2")"
if [ "$HAVE_TORCH" = 1 ]; then
    T=$(torch_run llama 64 --reps 1 --decode 64)
    say "   PyTorch reference decode (no KV cache: each step re-runs the prefix), 64 tokens: $(field decode_tokens_per_s "$T") tok/s"
fi

# ---- llama.cpp side by side -----------------------------------------------------------------
if [ "${BENCH_LLAMACPP:-1}" != 0 ]; then
    [ "$QUICK" = 1 ] && BENCH_PEER_WINDOWS=${BENCH_PEER_WINDOWS:-"512 1024"}
    BENCH_PEER_WINDOWS=${BENCH_PEER_WINDOWS:-"512 1024 2048 4096 8192"} BENCH_LOG=$LOG \
        BENCH_DIR=$DIR BENCH_THREADS=$THREADS BENCH_DECODE=$DECODE \
        sh bench/llamacpp_peer.sh "$SPARSA" || say "   llama.cpp side by side failed (exit $?)"
fi
say ""
say "(results also in $LOG)"
