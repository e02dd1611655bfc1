# bench_cuda_parts.sh — the attention, tokenizing and memory tables of bench/bench_cuda.sh
# (sourced by bench/cuda/bench_cuda_lib.sh; the same variables and helpers).

# ---- 2. attention forward: sparsa's kernels against SDPA -------------------------------------
# attn_line FILE NORMALIZER N: the micro-benchmark's line for that normaliser and size
attn_line() { grep -E "(^| )(normalizer|norm)=$2( |$)" "$1" | grep -E "(^| )n=$3( |$)" | head -n 1; }

section_attention() {
    say ""
    say "-- causal attention forward, bf16, B1 H12 d64: ms (median), TFLOP/s = 2*n^2*d*H / s;" \
        "ratio = SDPA ms / sparsa ms (>= 0.8 asked of softmax; entmax-1.5 within 2x: ratio >= 0.5)"
    SD=$WORK/sdpa.txt; AT=$WORK/attention.txt; : > "$SD"; : > "$AT"
    if [ "$HAVE_TORCH" = 1 ]; then
        timeout "$STEP" "$PY" "$HERE/cuda/sdpa_peer.py" --n "$(echo $ATTN_N | tr ' ' ',')" \
            > "$SD" 2> "$WORK/sdpa.err" || note "sdpa_peer.py: $(tail -n 1 "$WORK/sdpa.err")"
    else
        say "   SDPA peer skipped (no CUDA PyTorch)"
    fi
    if [ -x "$ATTN_BIN" ]; then
        # shellcheck disable=SC2086
        timeout "$STEP" "$ATTN_BIN" $ATTN_N > "$AT" 2> "$WORK/attention.err" ||
            note "attention_bench: $(tail -n 1 "$WORK/attention.err")"
    else
        say "   sparsa's attention micro-benchmark skipped ($ATTN_BIN missing: sh bench/cuda/build_attn.sh $BUILD builds it)"
    fi
    say "        n   SDPA ms  TFLOP/s  (best backend ms) |  softmax ms ratio | entmax-1.5 ms ratio skip | sparsemax ms ratio skip | asentmax ms ratio skip"
    errs=""
    for n in $ATTN_N; do
        d=$(grep "^sdpa backend=default n=$n " "$SD" | head -n 1)
        dms=$(field ms "$d")
        bb=$(grep "^sdpa .* n=$n .*ms=" "$SD" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^ms=/) { v = substr($i, 4) + 0; if (m == "" || v < m) { m = v; l = $0 } } } END { print l }')
        row=$(printf '   %6s %9s %8s %19s |' "$n" "${dms:--}" "$(field tflops "$d")" \
            "($(field backend "$bb") $(field ms "$bb"))")
        for norm in softmax entmax15 sparsemax asentmax; do
            a=$(attn_line "$AT" "$norm" "$n"); ams=$(field ms "$a")
            sk=$(awk -v f="$(field skipped "$a")" 'BEGIN { if (f == "") print "-"; else printf "%.0f%%", 100 * f }')
            [ -z "$a" ] || errs="$errs $norm@$n $(field err "$a")"
            if [ "$norm" = softmax ]; then
                row="$row $(printf '%11s %5s |' "${ams:--}" "$(ratio "$dms" "$ams")")"
            else
                row="$row $(printf '%13s %5s %4s |' "${ams:--}" "$(ratio "$dms" "$ams")" "${sk:--}")"
            fi
        done
        say "$row"
    done
    say "   skip: (row, 64-key tile) pairs skipped by sparsa's kernel; TFLOP/s of sparsa = the" \
        "same dense count / its time. max |o_bf16 - o_fp32| / max(1, |o|) against sparsa's fp32" \
        "kernel (2e-2 asked):${errs:- -}"
    grep -h error= "$SD" "$AT" 2>/dev/null | sed 's/^/   /' | tee -a "$LOG"
}

# ---- 3. tokenizing share of a whole-corpus run --------------------------------------------------
# The whole SOTU at ctx 8192, bf16, cold token cache (an empty folder) and warm (the same folder
# again). tokenizing = wall - fixed - W * per-window time, where fixed is a run of one window of
# the first 100 kB (start-up, model upload) less that window, and the per-window time comes
# from the throughput table at 8192 (measured here when 8192 was not in it).
section_tokenizing() {
    [ -n "$LLAMA" ] || return 0
    say ""
    say "-- tokenizing share: sparsa perplexity (134M Llama) over the whole corpus, ctx 8192, bf16"
    if [ "$CUDA_OK" != 1 ]; then skip "sparsa has no CUDA here ($CUDA_WHY)"; return; fi
    L=8192; W=$((NTOK / L))
    r=$(eval "echo \${RATE_$L:-}")
    [ -n "$r" ] && [ "$r" != - ] || { set -- $(sparsa_rate "$LLAMA" $L "$TOKENS" bf16); r=$1; }
    [ "$r" != - ] || { skip "no per-window time at ctx 8192"; return; }
    win=$(awk -v r="$r" -v L=$L 'BEGIN { printf "%.5f", L / r }')
    head -c 100000 "$SOTU" > "$WORK/sotu-100k.txt"
    if [ "$TC_OK" = 1 ]; then NOC=--no-token-cache; else NOC=""; fi
    # shellcheck disable=SC2086
    tf=$(sparsa_time "$WORK/tok-fixed" "$LLAMA" "$WORK/sotu-100k.txt" --ctx $L --max-tokens $L \
        --precision bf16 $NOC)
    if [ "$TC_OK" = 1 ]; then
        rm -rf "$WORK/tc-share"
        tc=$(sparsa_time "$WORK/tok-cold" "$LLAMA" "$SOTU" --ctx $L --precision bf16 \
            --token-cache "$WORK/tc-share")
        tw=$(sparsa_time "$WORK/tok-warm" "$LLAMA" "$SOTU" --ctx $L --precision bf16 \
            --token-cache "$WORK/tc-share")
    else
        tc=$(sparsa_time "$WORK/tok-cold" "$LLAMA" "$SOTU" --ctx $L --precision bf16); tw=-
        say "   (this sparsa has no --token-cache: warm not measured)"
    fi
    share() { awk -v t="$1" -v f="$tf" -v w="$W" -v s="$win" 'BEGIN { if (t == "-" || f == "-") { print "- -"; exit }
        k = t - (f - s) - w * s; printf "%.3f %.1f%%", k, 100 * k / t }'; }
    set -- $(share "$tc"); cs=$1; cp=$2
    set -- $(share "$tw"); ws=$1; wp=$2
    say "   $NTOK tokens, W = $W windows; fixed (start-up + upload) $(awk -v f="$tf" -v s="$win" 'BEGIN { if (f == "-") print "-"; else printf "%.3f", f - s }') s; per window $win s"
    say "   cold cache: wall $tc s, tokenizing $cs s = $cp (target <= 15%);" \
        "warm cache: wall $tw s, tokenizing $ws s = $wp (target <= 2%)"
    say "   cross-check: sparsa tokenize alone $T_TOKENIZE s = $(awk -v a="$T_TOKENIZE" -v b="$tc" 'BEGIN { if (b == "-") print "-"; else printf "%.1f%%", 100 * a / b }') of the cold wall time;" \
        "PPL cold $(json_ppl "$WORK/tok-cold.json"), warm $(json_ppl "$WORK/tok-warm.json")"
}

# ---- 4. peak GPU memory of one long window ------------------------------------------------------
section_memory() {
    [ -n "$LLAMA" ] || return 0
    say ""
    say "-- peak GPU memory, one window of the 134M Llama, bf16 (nvidia-smi memory.used sampled" \
        "every 20 ms, less the value before the run)"
    if [ "$CUDA_OK" != 1 ]; then skip "sparsa has no CUDA here"; return; fi
    idx=${DEVICE#cuda}; idx=${idx#:}; idx=${idx:-0}
    prev=""; prevd=""
    for L in $MEM_CTX; do
        if [ "$L" -gt "$NTOK" ]; then say "   $L: corpus too short"; continue; fi
        base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$idx" | head -n 1)
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$idx" -lms 20 \
            > "$WORK/mem-$L.txt" 2>/dev/null &
        poller=$!
        # shellcheck disable=SC2086
        t=$(sparsa_time "$WORK/mem-$L" "$LLAMA" "$TEXT" --ctx "$L" --max-tokens "$L" \
            --precision bf16 $TC)
        kill "$poller" 2>/dev/null; wait "$poller" 2>/dev/null
        peak=$(sort -n "$WORK/mem-$L.txt" | tail -n 1)
        d=$(awk -v p="$peak" -v b="$base" 'BEGIN { if (p == "") print "-"; else print p - b }')
        grow=""
        [ -n "$prevd" ] && [ "$d" != - ] && grow=" (+$((d - prevd)) MiB over $prev)"
        say "   window $L: peak $d MiB above the idle $base MiB$grow; run $t s (PPL $(json_ppl "$WORK/mem-$L.json"))"
        prev=$L; prevd=$d
        [ "$d" = - ] && prevd=""
    done
    hfm=$(grep "^hf mode=labels batch=1 ctx=32768 " "$WORK/hf.txt" 2>/dev/null | head -n 1)
    [ -z "$hfm" ] || say "   (HF transformers, labels:1 at 32768: torch peak allocated $(field peak_gib "$hfm") GiB)"
    say "   O(window): each doubling adds about the same again (x2) if memory is linear in the" \
        "window, x4 if quadratic"
}
