#!/bin/sh
# make fuzz: builds every fuzz/fuzz_<X>.c with libFuzzer, ASan and UBSan against the library
# sources, seeds its corpus from fuzz/seeds/<X>/ when that folder exists, runs it for $1
# seconds (default 60) and prints the number of executions. The build defines
# FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION: the format library then ignores CRC mismatches so
# mutations reach the parsers behind them. A crash, leak or sanitizer report
# fails the run; the input that caused it is left in build-fuzz/<X>-crash-*.
#   FUZZ_TARGETS="format zip"   only these targets
#   FUZZ_ARGS="-max_len=4096"   extra libFuzzer arguments
#   FUZZ_OUT=build-fuzz-x       build folder (default build-fuzz)
set -eu
cd "$(dirname "$0")/.."
SECS=${1:-60}
OUT=${FUZZ_OUT:-build-fuzz}
CC=${FUZZ_CC:-clang}
CXX=${FUZZ_CXX:-clang++}

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "installing clang and libomp-dev (libFuzzer)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang libomp-dev
fi

SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
INC="-Icommon -Iformat -Iinterpreter -Iinterpreter/attention -Iinterpreter/kernels -Iconverters -Itokenizer -Ieval"
PKG="yaml-0.1 libzstd sentencepiece"
CFLAGS="-std=c11 -D_GNU_SOURCE -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -O1 -g -fopenmp -fno-omit-frame-pointer $SAN $INC $(pkg-config --cflags $PKG)"
CXXFLAGS="-std=c++17 -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -O1 -g -fno-omit-frame-pointer $SAN $INC $(pkg-config --cflags $PKG)"
LIBS="$(pkg-config --libs $PKG) -lstdc++ -lm -fopenmp"

# The library, once, as an archive: each target pulls in only the objects it needs.
mkdir -p "$OUT/obj"
objs=""
for src in common/*.c format/*.c interpreter/*.c interpreter/*/*.c converters/*.c converters/*/*.c \
           tokenizer/*.c tokenizer/*.cc eval/*.c; do
    [ -f "$src" ] || continue
    obj="$OUT/obj/$(echo "$src" | tr '/' '_').o"
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ]; then
        rm -f "$obj"
        # A source clang cannot build (gcc-only builtins) is left out; a target that needs
        # it then fails to link, which is reported below.
        case "$src" in
            *.cc) $CXX $CXXFLAGS -c "$src" -o "$obj" 2>"$obj.err" || true ;;
            *) $CC $CFLAGS -c "$src" -o "$obj" 2>"$obj.err" || true ;;
        esac
        [ -f "$obj" ] || echo "left out $src (see $obj.err)"
    fi
    [ -f "$obj" ] && objs="$objs $obj"
done
rm -f "$OUT/libsparsa-fuzz.a"
ar rcs "$OUT/libsparsa-fuzz.a" $objs

fail=0
for src in fuzz/fuzz_*.c; do
    [ -f "$src" ] || continue
    name=$(basename "$src" .c)
    x=${name#fuzz_}
    if [ -n "${FUZZ_TARGETS:-}" ] && ! echo " $FUZZ_TARGETS " | grep -q " $x "; then continue; fi
    bin="$OUT/$name"
    if ! $CC $CFLAGS -fsanitize=fuzzer "$src" "$OUT/libsparsa-fuzz.a" $LIBS -o "$bin"; then
        echo "$name: FAILED to build"
        fail=1
        continue
    fi
    corpus="fuzz/corpus-$x"
    mkdir -p "$corpus"
    seeds=""
    [ -d "fuzz/seeds/$x" ] && seeds="fuzz/seeds/$x"
    log="$OUT/$name.log"
    echo "== $name: $SECS s (corpus $corpus${seeds:+, seeds $seeds})"
    if "$bin" -max_total_time="$SECS" -print_final_stats=1 -artifact_prefix="$OUT/$x-" \
            ${FUZZ_ARGS:-} "$corpus" $seeds >"$log" 2>&1; then
        runs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -1)
        echo "$name: ${runs:-no summary} (log $log)"
    else
        echo "$name: FAILED, see $log:"
        grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -5
        fail=1
    fi
done
exit $fail
