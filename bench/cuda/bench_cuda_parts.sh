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
                verdict "attention softmax, SDPA ms / sparsa ms, n $n" "$(ratio "$dms" "$ams")" ">=" 0.8
            else
                [ "$norm" != entmax15 ] || [ "$n" -lt 16384 ] ||
                    verdict "attention entmax-1.5, SDPA ms / sparsa ms, n $n" "$(ratio "$dms" "$ams")" ">=" 0.5
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
# The whole SOTU at ctx 8192, bf16: cold token cache (an empty folder), then warm (the same
# folder again), each twice, the run whose ids were ready sooner counting (as for the reference
# run below: start-up varies by a few 10 ms). With --progress sparsa prints one line when the corpus's ids are ready ("N
# tokens tokenized, being stored in / from the token cache"); each stderr line is stamped as it
# arrives, so tokenizing = (that line's time - the start) of the run, less the same for a run on
# the first 100 kB (start-up before the ids, and a negligible tokenizing). Second estimate, when
# the throughput table measured ctx 8192: wall - (the 100 kB run less its one window) - W windows.
# sparsa_noted TAG ARGS...: "wall ids_ready" seconds of one `sparsa perplexity ARGS --progress`
sparsa_noted() {
    tag=$1; shift
    t0=$(now)
    { timeout "$STEP" "$SPARSA" perplexity "$@" --device "$DEVICE" --json --progress 2>&1 \
        > "$tag.json"; echo $? > "$tag.rc"; } | "$JSONPY" -u -c 'import sys, time
for line in sys.stdin:
    sys.stdout.write("%.4f %s" % (time.time(), line))' > "$tag.err"
    t1=$(now)
    if [ "$(cat "$tag.rc")" != 0 ]; then
        note "$(basename "$tag"): exit $(cat "$tag.rc"): $(tail -n 1 "$tag.err")"; echo "- -"; return
    fi
    tn=$(grep -m 1 "token cache" "$tag.err" | cut -d' ' -f1)
    echo "$(secs "$t0" "$t1") $([ -n "$tn" ] && secs "$t0" "$tn" || echo -)"
}

section_tokenizing() {
    [ -n "$LLAMA" ] || return 0
    say ""
    say "-- tokenizing share: sparsa perplexity (134M Llama) over the whole corpus, ctx 8192, bf16"
    if [ "$CUDA_OK" != 1 ]; then skip "sparsa has no CUDA here ($CUDA_WHY)"; return; fi
    if [ "$TC_OK" != 1 ]; then skip "this sparsa has no --token-cache"; return; fi
    L=8192; W=$((NTOK / L))
    head -c 100000 "$SOTU" > "$WORK/sotu-100k.txt"
    rm -rf "$WORK/tc-ref" "$WORK/tc-share" "$WORK/tc-share2"
    # the reference twice (its cache cold, then warm): the smaller start-up of the two
    set -- $(sparsa_noted "$WORK/tok-ref" "$LLAMA" "$WORK/sotu-100k.txt" --ctx $L --max-tokens $L \
        --precision bf16 --token-cache "$WORK/tc-ref"); tf=$1; nf=$2
    set -- $(sparsa_noted "$WORK/tok-ref2" "$LLAMA" "$WORK/sotu-100k.txt" --ctx $L --max-tokens $L \
        --precision bf16 --token-cache "$WORK/tc-ref")
    nf=$(awk -v a="$nf" -v b="$2" 'BEGIN { if (a == "-" || (b != "-" && b + 0 < a + 0)) print b; else print a }')
    tf=$(awk -v a="$tf" -v b="$1" 'BEGIN { if (a == "-" || (b != "-" && b + 0 < a + 0)) print b; else print a }')
    # cold and warm twice each as well (cold: each into an empty folder), the run whose ids were
    # ready sooner of each pair counting, as for the reference
    faster() { awk -v t1="$1" -v n1="$2" -v t2="$3" -v n2="$4" 'BEGIN {
        if (n1 == "-" || (n2 != "-" && n2 + 0 < n1 + 0)) print t2, n2; else print t1, n1 }'; }
    rm -rf "$WORK/tc-share2"
    set -- $(sparsa_noted "$WORK/tok-cold" "$LLAMA" "$SOTU" --ctx $L --precision bf16 \
        --token-cache "$WORK/tc-share") \
        $(sparsa_noted "$WORK/tok-cold2" "$LLAMA" "$SOTU" --ctx $L --precision bf16 \
        --token-cache "$WORK/tc-share2")
    set -- $(faster "$@"); tc=$1; nc=$2
    set -- $(sparsa_noted "$WORK/tok-warm" "$LLAMA" "$SOTU" --ctx $L --precision bf16 \
        --token-cache "$WORK/tc-share") \
        $(sparsa_noted "$WORK/tok-warm2" "$LLAMA" "$SOTU" --ctx $L --precision bf16 \
        --token-cache "$WORK/tc-share")
    set -- $(faster "$@"); tw=$1; nw=$2
    # share WALL READY: "seconds percent" of the tokenizing
    share() { awk -v t="$1" -v n="$2" -v f="$nf" 'BEGIN { if (t == "-" || n == "-" || f == "-") print "- -"
        else printf "%.3f %.1f%%", n - f, 100 * (n - f) / t }'; }
    set -- $(share "$tc" "$nc"); cs=$1; cp=$2
    set -- $(share "$tw" "$nw"); ws=$1; wp=$2
    say "   $NTOK tokens, W = $W windows; ids ready after: 100 kB run $nf s (the faster of two)," \
        "cold $nc s, warm $nw s (each the faster of two; start-up varies by a few 10 ms between runs)"
    say "   cold cache: wall $tc s, tokenizing $cs s = $cp (target <= 15%);" \
        "warm cache: wall $tw s, tokenizing $ws s = $wp (target <= 2%)"
    verdict "tokenizing share of the wall time, cold token cache" "$cp" "<=" 15
    verdict "tokenizing share of the wall time, warm token cache" "$wp" "<=" 2
    r=$(eval "echo \${RATE_$L:-}")
    if [ -n "$r" ] && [ "$r" != - ] && [ "$tf" != - ]; then
        say "   second estimate (wall - start-up - W windows at the table's $r tok/s): cold $(awk -v t="$tc" -v f="$tf" -v r="$r" -v L=$L -v w="$W" 'BEGIN { if (t == "-") print "-"; else { k = t - (f - L / r) - w * L / r; printf "%.3f s = %.1f%%", k, 100 * k / t } }'), warm $(awk -v t="$tw" -v f="$tf" -v r="$r" -v L=$L -v w="$W" 'BEGIN { if (t == "-") print "-"; else { k = t - (f - L / r) - w * L / r; printf "%.3f s = %.1f%%", k, 100 * k / t } }')"
    fi
    say "   sparsa tokenize alone: $T_TOKENIZE s; PPL cold $(json_ppl "$WORK/tok-cold.json")," \
        "warm $(json_ppl "$WORK/tok-warm.json") (identical ids give identical PPL)"
}

# ---- 4. peak GPU memory of one long window ------------------------------------------------------
section_memory() {
    [ -n "$LLAMA" ] || return 0
    say ""
    say "-- peak GPU memory, one window of the 134M Llama, bf16 (nvidia-smi memory.used sampled" \
        "every 20 ms, less the value before the run)"
    if [ "$CUDA_OK" != 1 ]; then skip "sparsa has no CUDA here"; return; fi
    idx=${DEVICE#cuda}; idx=${idx#:}; idx=${idx:-0}
    prev=""; prevd=""; pgrow=""
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
        [ -z "$grow" ] || [ -z "${pgrow:-}" ] || verdict "memory: growth to $L / growth to $prev (x2: O(window))" \
            "$(ratio "$((d - prevd))" "$pgrow")" "<=" 2.5
        pgrow=""; [ -z "$grow" ] || pgrow=$((d - prevd))
        prev=$L; prevd=$d
        [ "$d" = - ] && prevd=""
    done
    hfm=$(grep "^hf mode=labels batch=1 ctx=32768 " "$WORK/hf.txt" 2>/dev/null | head -n 1)
    [ -z "$hfm" ] || say "   (HF transformers, labels:1 at 32768: torch peak allocated $(field peak_gib "$hfm") GiB)"
    say "   O(window): each doubling adds about the same again (x2) if memory is linear in the" \
        "window, x4 if quadratic"
}
