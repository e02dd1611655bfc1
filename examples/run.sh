#!/bin/sh
# The main job (make run): perplexity of the four bundled example models on two held-out
# texts at 1x, 2x, 4x and 8x their training length (256 tokens), as one table, checked
# against the PyTorch reference evaluation of the same models and windows.
#
#   sh examples/run.sh [SPARSA_BINARY]
#
# Environment: SPARSA_RUN_MAX_TOKENS (default 8192: the first 8192 tokens of each text, so the
# run takes about a minute on two cores; 0 = the whole samples, several minutes),
# SPARSA_RUN_THREADS (default: all cores), SPARSA_RUN_FIGURE (default: example_ppl.svg beside
# the binary).
# See examples/README.md for what the models are and how to read the table.
set -u
SPARSA=${1:-build/sparsa}
HERE=$(cd "$(dirname "$0")" && pwd)
MODELS="softmax_rope ssmax_nape entmax15_nape asentmax_nape"
SOTU=examples/data/sotu_2001_2021.txt
MOBY=examples/data/moby_dick.txt
CTX=256,512,1024,2048
MAXTOK=${SPARSA_RUN_MAX_TOKENS:-8192}
THREADS=${SPARSA_RUN_THREADS:-0}
REF=$HERE/data/reference_ppl_$MAXTOK.tsv
case $SPARSA in /*) ;; */*) SPARSA=$PWD/$SPARSA ;; esac
cd "$HERE/.." || exit 1

label() {
    case $1 in
        softmax_rope) echo "softmax + RoPE" ;;
        ssmax_nape) echo "SSMax + NAPE" ;;
        entmax15_nape) echo "entmax-1.5 + NAPE" ;;
        asentmax_nape) echo "ASEntmax + NAPE" ;;
        *) echo "$1" ;;
    esac
}

for m in $MODELS; do
    if [ ! -f "examples/models/$m.sparsa" ]; then
        echo "make run: examples/models/$m.sparsa is missing (see examples/README.md)" >&2
        exit 1
    fi
done

# Waiting threads sleep instead of spinning: the same speed on an idle machine, far less
# wasted CPU on a busy one.
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export OMP_WAIT_POLICY
start=$(date +%s)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sparsa-run.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
tflag=""
[ "$THREADS" -gt 0 ] 2>/dev/null && tflag="--threads $THREADS"
mflag=""
[ "$MAXTOK" -gt 0 ] 2>/dev/null && mflag="--max-tokens $MAXTOK"

echo "sparsa example models: held-out perplexity at 1x-8x the training length (256 tokens)"
if [ -n "$mflag" ]; then
    echo "first $MAXTOK tokens of each text, non-overlapping windows, --score all --bos none"
else
    echo "whole held-out samples, non-overlapping windows, --score all --bos none"
fi
echo

# One perplexity run per model; its JSON results become lines "model text ctx windows ppl".
for m in $MODELS; do
    # shellcheck disable=SC2086
    if ! "$SPARSA" perplexity "examples/models/$m.sparsa" "$SOTU" "$MOBY" --ctx "$CTX" \
        $mflag $tflag --json >"$TMP/$m.json" 2>"$TMP/$m.err"; then
        echo "make run: sparsa perplexity failed on $m:" >&2
        cat "$TMP/$m.err" >&2
        exit 1
    fi
    tr '{}' '\n\n' <"$TMP/$m.json" | awk -v m="$m" '
        function val(key,   s) {
            if (!match($0, "\"" key "\": *\"?[^,\"]*")) return ""
            s = substr($0, RSTART, RLENGTH); sub(/^"[^"]*": *"?/, "", s); return s
        }
        /"file":/ && /"ctx":/ {
            f = val("file"); t = (f ~ /moby/) ? "moby" : "sotu"
            print m, t, val("ctx"), val("windows"), val("ppl")
        }' >>"$TMP/results"
done

# The table: one row per model, PPL per text and context length.
awk -v maxtok="$MAXTOK" '
    BEGIN {
        split("softmax_rope ssmax_nape entmax15_nape asentmax_nape", order, " ")
        lab["softmax_rope"] = "softmax + RoPE"; lab["ssmax_nape"] = "SSMax + NAPE"
        lab["entmax15_nape"] = "entmax-1.5 + NAPE"; lab["asentmax_nape"] = "ASEntmax + NAPE"
        n = split("256 512 1024 2048", ctx, " ")
    }
    { ppl[$1, $2, $3] = $5; win[$2, $3] = $4 }
    END {
        printf "%-19s %-38s  %-38s\n", "", "SOTU 2001-2021 (in-domain)", "Moby-Dick (out-of-domain)"
        printf "%-19s", "model \\ context"
        for (t = 1; t <= 2; t++) { for (c = 1; c <= n; c++) printf " %9s", ctx[c] " (" 2^(c-1) "x)" ; printf "  " }
        printf "\n"
        for (i = 1; i <= 4; i++) {
            m = order[i]; printf "%-19s", lab[m]
            split("sotu moby", texts, " ")
            for (t = 1; t <= 2; t++) {
                for (c = 1; c <= n; c++) printf " %9.2f", ppl[m, texts[t], ctx[c]]
                printf "  "
            }
            printf "\n"
        }
        printf "%-19s", "windows"
        for (t = 1; t <= 2; t++) { for (c = 1; c <= n; c++) printf " %9d", win[texts[t], ctx[c]]; printf "  " }
        printf "\n"
    }' "$TMP/results" | sed 's/ *$//'

# The same results as a figure (PPL against context length, one line per model and text),
# written next to the binary, outside the repository's sources.
FIG=${SPARSA_RUN_FIGURE:-$(dirname "$SPARSA")/example_ppl.svg}
if "$SPARSA" plot "$TMP"/*.json -o "$FIG" 2>"$TMP/plot.err"; then
    echo
    echo "figure: $FIG"
else
    echo "make run: sparsa plot failed:" >&2
    cat "$TMP/plot.err" >&2
    exit 1
fi

# Parity with the training script's PyTorch evaluation (examples/train/reference_eval.json),
# available for the default (8192) and the whole-sample (0) runs. A missing reference, a
# missing number or a value that is not a finite number fails the run.
status=0
echo
if [ ! -f "$REF" ]; then
    echo "parity: no reference values for SPARSA_RUN_MAX_TOKENS=$MAXTOK (they exist for 8192 and 0)" >&2
    status=1
elif ! awk '
        function finite(x) { return x ~ /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/ }
        FNR == NR { if ($0 !~ /^#/) ref[$1, $2, $3] = $7; next }
        {
            if (!(($1, $2, $3) in ref)) { missing++; next }
            if (!finite($5)) { bad++; at = $1 " " $2 " " $3; next }
            d = ($5 - ref[$1, $2, $3]) / ref[$1, $2, $3]; if (d < 0) d = -d
            if (n == 0 || d > worst) { worst = d; wat = $1 " " $2 " " $3 }
            n++
        }
        END {
            if (bad) { printf "parity: FAILED, not a finite number at %s\n", at; exit 1 }
            if (missing || n == 0) { printf "parity: FAILED, %d reference values missing\n", missing; exit 1 }
            printf "parity with the PyTorch reference: max relative PPL difference %.2e over %d numbers (%s)\n", \
                worst, n, (worst <= 1e-4 ? "within 1e-4" : "OVER 1e-4 at " wat)
            if (!(worst <= 1e-4)) exit 1
        }' "$REF" "$TMP/results"; then
    status=1
fi
echo "unigram baseline (training-text token frequencies, whole samples): SOTU 1106.7, Moby-Dick 1281.6"
echo "done in $(( $(date +%s) - start )) s"
exit $status
