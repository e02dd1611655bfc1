#!/bin/sh
# tests/run_criterion.sh TALLY BINARY [ARGS...] — runs one Criterion test binary (make test) and
# prints what a reader needs: every failure with its messages, every skipped test with its reason
# ([SKIP] lines, which Criterion prints only in verbose mode) and the synthesis; the [RUN ] and
# [PASS] lines are left out. Appends "run passed skipped" to TALLY for the summary of make test.
# Exits with the binary's status.
set -u
tally=$1
shift
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
trap 'exit 130' INT TERM
"$@" --verbose >"$log" 2>&1
rc=$?
grep -v -E '^\[(RUN |PASS)\] |^\[----\] Criterion v|^\[====\] Running ' "$log"
skipped=$(grep -c '^\[SKIP\] ' "$log")
synthesis=$(grep '^\[====\] Synthesis' "$log" | tail -n 1)
run=$(echo "$synthesis" | sed -n 's/.*Tested: \([0-9]*\).*/\1/p')
passed=$(echo "$synthesis" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
echo "${run:-0} ${passed:-0} $skipped" >>"$tally"
exit $rc
