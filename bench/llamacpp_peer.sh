#!/bin/sh
# The llama.cpp peer of `make bench`: the same softmax Llama weights, the same text and the same
# windows through llama.cpp's llama-perplexity and llama-bench and through sparsa, side by side.
# See bench/README.md ("llama.cpp side by side").
#
#   sh bench/llamacpp_peer.sh [build/sparsa]
#
# llama.cpp is built from the source bundle pinned in the npm package node-llama-cpp (never part
# of this repository) in a cache folder, once: later runs reuse the binaries. The model is
# bench/make_models.py's llama-bpe4k, written again as an F32 GGUF by bench/make_gguf.py with
# the gguf package of that same llama.cpp tree.
#
# Protocol: `llama-perplexity -c L --chunks K` against `sparsa perplexity --ctx L --score
# second-half --max-tokens K*L` (the same K windows of L tokens, first token of each replaced
# by BOS, targets L/2+1 .. L-1); time per window = the whole process's wall time / K, the
# minimum over the repetitions. Decode: llama-bench tg N (empty context) against `sparsa
# generate --tokens BOS -n N` (wall time less that of a run generating one token).
#
# Environment (defaults in brackets):
#   BENCH_PEER_CACHE    cache folder [$HOME/.cache/sparsa-bench]
#   BENCH_PEER_WINDOWS  windows L [512 1024 2048 4096 8192]
#   BENCH_PEER_TOKENS   tokens per point: K = max(1, this / L) windows [8192]
#   BENCH_PEER_REPS     repetitions per point, minimum quoted [3]
#   BENCH_PEER_TEXT     the text [examples/data/moby_dick.txt]
#   BENCH_THREADS       threads of both [2]
#   BENCH_DECODE        decode tokens [128]
#   BENCH_DIR           model cache [build/bench-models]
#   BENCH_LOG           also append the table to this file [build/bench-llamacpp.txt]
set -u
SPARSA=${1:-build/sparsa}
BUILD=$(dirname "$SPARSA")
PY=${BENCH_PYTHON:-/usr/bin/python3}
NODE_LLAMA_CPP=3.22.1
CACHE=${BENCH_PEER_CACHE:-$HOME/.cache/sparsa-bench}
SRC=$CACHE/llama.cpp
BIN=$SRC/build/bin
DIR=${BENCH_DIR:-$BUILD/bench-models}
WINDOWS=${BENCH_PEER_WINDOWS:-"512 1024 2048 4096 8192"}
TOKENS=${BENCH_PEER_TOKENS:-8192}
REPS=${BENCH_PEER_REPS:-3}
TEXT=${BENCH_PEER_TEXT:-examples/data/moby_dick.txt}
THREADS=${BENCH_THREADS:-2}
DECODE=${BENCH_DECODE:-128}
LOG=${BENCH_LOG:-$BUILD/bench-llamacpp.txt}
MODEL=$DIR/llama-bpe4k.sparsa
GGUF=$DIR/llama-bpe4k.gguf
CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_CUDA=OFF -DGGML_METAL=OFF
 -DGGML_VULKAN=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF
 -DBUILD_SHARED_LIBS=OFF"

say() { echo "$@" | tee -a "$LOG"; }
skip() { say "== llama.cpp side by side: skipped ($*)"; exit 0; }
fail() { echo "llamacpp_peer: $*" >&2; exit 1; }

[ -x "$SPARSA" ] || { echo "llamacpp_peer: $SPARSA missing (run 'make')" >&2; exit 2; }
[ -f "$TEXT" ] || { echo "llamacpp_peer: text $TEXT missing" >&2; exit 2; }
command -v npm >/dev/null 2>&1 || skip "npm not found"
command -v cmake >/dev/null 2>&1 || skip "cmake not found"
command -v git >/dev/null 2>&1 || skip "git not found"
"$PY" -c 'import torch, numpy' 2>/dev/null || skip "no PyTorch and numpy at $PY to write the model"

# ---- llama.cpp, built once into the cache -----------------------------------------------------
# The stamp names the package version and the cmake flags: a change of either rebuilds.
STAMP="node-llama-cpp $NODE_LLAMA_CPP; $(echo $CMAKE_FLAGS)"
build_llamacpp() {
    mkdir -p "$CACHE" || fail "cannot create $CACHE"
    # built before from another package version: a fresh tree
    if [ -f "$SRC/build/sparsa-bench.stamp" ] &&
       ! grep -q "^node-llama-cpp $NODE_LLAMA_CPP;" "$SRC/build/sparsa-bench.stamp"; then
        rm -rf "$SRC"
    fi
    if [ ! -d "$SRC/.git" ]; then
        echo "llama.cpp peer: fetching node-llama-cpp@$NODE_LLAMA_CPP (npm) into $CACHE" >&2
        ( cd "$CACHE" && npm pack --silent "node-llama-cpp@$NODE_LLAMA_CPP" >/dev/null ) ||
            fail "npm pack node-llama-cpp@$NODE_LLAMA_CPP failed"
        rm -rf "$CACHE/package" "$SRC.tmp"
        tar -xzf "$CACHE/node-llama-cpp-$NODE_LLAMA_CPP.tgz" -C "$CACHE" \
            package/llama/gitRelease.bundle || fail "the package holds no llama/gitRelease.bundle"
        git clone -q "$CACHE/package/llama/gitRelease.bundle" "$SRC.tmp" 2>/dev/null ||
            fail "git clone of the bundle failed"
        mv "$SRC.tmp" "$SRC" && rm -rf "$CACHE/package"
    fi
    echo "llama.cpp peer: building llama-perplexity and llama-bench in $SRC/build" \
        "(nice, -j2; $CACHE/build.log)" >&2
    # shellcheck disable=SC2086
    nice cmake -S "$SRC" -B "$SRC/build" $CMAKE_FLAGS > "$CACHE/build.log" 2>&1 &&
        nice cmake --build "$SRC/build" -j2 --target llama-perplexity llama-bench \
            >> "$CACHE/build.log" 2>&1 || fail "llama.cpp build failed (see $CACHE/build.log)"
    echo "$STAMP" > "$SRC/build/sparsa-bench.stamp"
}
if [ ! -x "$BIN/llama-perplexity" ] || [ ! -x "$BIN/llama-bench" ] ||
   [ "$(cat "$SRC/build/sparsa-bench.stamp" 2>/dev/null)" != "$STAMP" ]; then
    build_llamacpp
fi

# ---- the model, as a sparsa file and as a GGUF -----------------------------------------------
mkdir -p "$DIR"
"$PY" bench/make_models.py "$DIR" llama-bpe4k >/dev/null || fail "making $MODEL failed"
if [ ! -f "$GGUF" ] || [ "$MODEL" -nt "$GGUF" ] || [ bench/make_gguf.py -nt "$GGUF" ]; then
    PYTHONPATH="$SRC/gguf-py" "$PY" bench/make_gguf.py "$MODEL" "$GGUF" ||
        fail "writing $GGUF failed"
fi

# ---- measurements ------------------------------------------------------------------------------
now() { date +%s.%N; }
# min_of A B: the smaller, "-" when either is empty
min_of() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "") print b; else if (b == "" || a + 0 < b + 0) print a; else print b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
reldiff() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else { d = (a - b) / b; if (d < 0) d = -d; printf "%.1e", d } }'; }

# llama.cpp in fp32 throughout, as sparsa runs: flash attention off and an f32 KV cache (its
# defaults, flash attention with an f16 KV cache, round K and V to f16: PPL then differs by
# about 2e-4 relative; that configuration is measured too, as "default")
F32_OPTS="-fa off -ctk f32 -ctv f32"
# llama_ppl L K OPTS... -> "seconds ppl" of one llama-perplexity run
llama_ppl() {
    L=$1; K=$2; shift 2
    t0=$(now)
    out=$("$BIN/llama-perplexity" -m "$GGUF" -f "$TEXT" -c "$L" --chunks "$K" -t "$THREADS" \
        -tb "$THREADS" "$@" 2>&1) || { echo "$out" | tail -n 3 >&2; echo "- -"; return; }
    t1=$(now)
    ppl=$(echo "$out" | sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p' | tail -n 1)
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}') ${ppl:--}"
}
# sparsa_ppl L K -> "seconds ppl windows" of one sparsa perplexity run
sparsa_ppl() {
    t0=$(now)
    out=$("$SPARSA" perplexity "$MODEL" "$TEXT" --ctx "$1" --score second-half \
        --max-tokens $(($1 * $2)) --threads "$THREADS" 2>&1) ||
        { echo "$out" | tail -n 3 >&2; echo "- - -"; return; }
    t1=$(now)
    line=$(echo "$out" | grep "^$TEXT ")
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}') $(echo "$line" | awk '{print $6, $3}')"
}

: >> "$LOG"
say ""
say "== llama.cpp side by side ($(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg))"
say "   $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); llama.cpp of node-llama-cpp $NODE_LLAMA_CPP ($(git -C "$SRC" log -1 --format=%h 2>/dev/null))"
say "   model llama-bpe4k (hf-llama, D 512, 6 layers, V 4096, f32), text $TEXT, $THREADS threads"
say "   llama-perplexity -c L --chunks K  vs  sparsa perplexity --ctx L --score second-half --max-tokens K*L"
say "   seconds per window = whole-process wall time / K, minimum of $REPS runs"
# the text as both tokenize it: llama-perplexity names its token count when the text is too
# short for two windows (asked for with -c 32768, nothing is evaluated); sparsa's + BOS, of the
# text less one final newline, which llama.cpp's -f drops (the windows never reach the end)
n_llama=$("$BIN/llama-perplexity" -m "$GGUF" -f "$TEXT" -c 32768 -t "$THREADS" 2>&1 |
    sed -n 's/.*tokenizes to only \([0-9]*\) tokens.*/\1/p' | head -n 1)
drop=$(tail -c 1 "$TEXT" | wc -l)
n_sparsa=$(head -c "-$drop" "$TEXT" | "$SPARSA" tokenize "$MODEL" - | wc -w)
say "   tokens of the text (BOS included): llama.cpp ${n_llama:-?}, sparsa $((n_sparsa + 1))"
say "   window   K  llama.cpp s/win  sparsa s/win  sparsa/llama  llama.cpp PPL    sparsa PPL  rel.diff  |  default s/win  sparsa/default  default PPL  load"
per_window() { awk -v t="$1" -v k="$2" 'BEGIN { if (t == "") print "-"; else printf "%.3f", t / k }'; }
for L in $WINDOWS; do
    K=$((TOKENS / L)); [ "$K" -ge 1 ] || K=1
    lt=""; st=""; dt=""; lp=-; sp=-; sw=-; dp=-
    r=0
    while [ "$r" -lt "$REPS" ]; do
        # shellcheck disable=SC2086
        set -- $(llama_ppl "$L" "$K" $F32_OPTS); [ "$1" != - ] && lt=$(min_of "$lt" "$1"); lp=$2
        set -- $(sparsa_ppl "$L" "$K"); [ "$1" != - ] && st=$(min_of "$st" "$1"); sp=$2; sw=$3
        set -- $(llama_ppl "$L" "$K"); [ "$1" != - ] && dt=$(min_of "$dt" "$1"); dp=$2
        r=$((r + 1))
    done
    [ "$sw" = "$K" ] || [ "$sw" = - ] || say "   (sparsa scored $sw windows at L=$L, llama.cpp $K)"
    lw=$(per_window "$lt" "$K"); sww=$(per_window "$st" "$K"); dw=$(per_window "$dt" "$K")
    # load: the 1-minute load average when the point is done (2 would be this run alone)
    say "$(printf '   %6s %3s  %15s  %12s  %12s  %13s  %12s  %8s  |  %13s  %14s  %11s  %4s' "$L" "$K" \
        "$lw" "$sww" "$(ratio "$sww" "$lw")" "$lp" "$sp" "$(reldiff "$sp" "$lp")" \
        "$dw" "$(ratio "$sww" "$dw")" "$dp" "$(cut -d' ' -f1 /proc/loadavg)")"
done

# decode: llama-bench tg (its own warm-up, then N tokens from an empty context), the best of
# REPS runs, at its defaults and with flash attention off (llama-bench offers no f32 KV cache:
# both keep K and V in f16); sparsa generate N tokens after BOS, less the same process
# generating one token
llama_tg() {
    "$BIN/llama-bench" -m "$GGUF" -p 0 -n "$DECODE" -t "$THREADS" -r 1 "$@" -o csv 2>/dev/null |
        awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /avg_ts/) c = i; next }
                 c { gsub(/"/, "", $c); print $c; exit }'
}
BOS=$(PYTHONPATH="$SRC/gguf-py" "$PY" -c "import sys; sys.path.insert(0, 'bench'); import make_gguf as G, sparsa_export as E
print(G.read_spm(bytes(E.read('$MODEL')['tokenizer']))[3]['bos'])" 2>/dev/null)
sparsa_gen() {
    t0=$(now)
    n=$("$SPARSA" generate "$MODEL" --tokens "${BOS:-1}" -n "$1" --threads "$THREADS" | wc -w)
    t1=$(now)
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", b - a}') $n"
}
max_of() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 > a + 0) ? b : a }'; }
lt=""; dt=""; sN=""; s1=""; sn=0
r=0
while [ "$r" -lt "$REPS" ]; do
    v=$(llama_tg -fa off); [ -n "$v" ] && lt=$(max_of "$lt" "$v")
    v=$(llama_tg); [ -n "$v" ] && dt=$(max_of "$dt" "$v")
    set -- $(sparsa_gen "$DECODE"); sN=$(min_of "$sN" "$1"); sn=$2
    set -- $(sparsa_gen 1); s1=$(min_of "$s1" "$1")
    r=$((r + 1))
done
st=$(awk -v a="$sN" -v b="$s1" -v n="$sn" 'BEGIN { if (a - b <= 0 || n < 2) print "-"; else printf "%.1f", (n - 1) / (a - b) }')
say "   decode tok/s, $DECODE tokens from an empty context, best of $REPS: sparsa generate $st;" \
    "llama-bench tg, flash attention off $(printf '%.1f' "${lt:-0}") (sparsa/llama.cpp $(ratio "$st" "$lt")), default $(printf '%.1f' "${dt:-0}") (sparsa/default $(ratio "$st" "$dt")); load $(cut -d' ' -f1 /proc/loadavg)"
[ "$sn" = "$DECODE" ] || say "   (sparsa generate stopped after $sn tokens)"

# GEMM: sparsa's matrix kernel on the model's prefill shapes against the fp32 peak measured now
# (each bench_gemm figure is a median of 5; the best of REPS such figures is quoted)
BG=$BUILD/bench/bench_gemm
if [ -x "$BG" ]; then
    field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1; }
    best_gflops() {
        b=""; r=0
        while [ "$r" -lt "$REPS" ]; do b=$(max_of "$b" "$(field gflops "$("$BG" "$@" | head -n 1)")"); r=$((r + 1)); done
        echo "$b"
    }
    peak=$(best_gflops peak "$THREADS")
    line="   GEMM at $THREADS threads, GFLOP/s (% of the fp32 peak measured now, $peak):"
    for s in 1024,512,512 1024,512,1536 1024,1536,512 1024,512,4096; do
        g=$(best_gflops sparsa "$THREADS" f32 "$s")
        line="$line $s $g ($(awk -v a="$g" -v p="$peak" 'BEGIN { if (p + 0 > 0) printf "%.0f%%", 100 * a / p; else print "-" }'))"
    done
    say "$line"
else
    say "   GEMM: $BG missing (make bench builds it)"
fi
[ -n "${BENCH_LOG:-}" ] || say "(also in $LOG)"
