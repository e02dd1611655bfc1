#!/bin/sh
# build_attn.sh — builds the CUDA attention objects, the GPU attention tests and the attention
# benchmark with nvcc, outside the main Makefile: bench/cuda/build_attn.sh BUILD_DIR
# (the CPU library BUILD_DIR/libsparsa.a must exist: make BUILD=BUILD_DIR BUILD_DIR/libsparsa.a;
# LIB=path/libsparsa.a takes another one; LDEXTRA adds link options, e.g. -static-libstdc++
# for binaries that go to a machine without the library).
set -e
B=${1:-build}
LIB=${LIB:-$B/libsparsa.a}
NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
PTX=${PTX-"-gencode arch=compute_90,code=compute_90"}
FLAGS="-std=c++17 -O3 -gencode arch=compute_90a,code=sm_90a $PTX -Xcompiler -Wall,-Wextra,-Werror,-fPIC"
INC="-Icuda -Iinterpreter -Icommon"
mkdir -p "$B/cuda" "$B/tests/cuda" "$B/bench/cuda"
objs=""
for f in cuda/cu_attn_*.cu; do
    o="$B/cuda/$(basename "${f%.cu}").o"
    stale=0
    [ -f "$o" ] || stale=1
    for dep in "$f" cuda/*.h cuda/*.cuh; do
        [ ! -f "$dep" ] || [ ! "$dep" -nt "$o" ] || stale=1
    done
    if [ $stale = 1 ]; then
        $NVCC $FLAGS $INC -c "$f" -o "$o" &
    fi
    objs="$objs $o"
done
wait
for o in $objs; do [ -f "$o" ] || exit 1; done
CRIT=$(pkg-config --cflags --libs criterion)
PKG=$(pkg-config --libs yaml-0.1 libzstd sentencepiece)
CUDA_LIBS="-L/usr/local/cuda/lib64 -lcudart_static -ldl -lrt -lpthread"
for t in tests/cuda/test_cuda_attention tests/cuda/test_cuda_flash; do
    gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -fopenmp -Icommon -Iinterpreter \
        -Iinterpreter/attention -Iinterpreter/kernels -Icuda -I/usr/local/cuda/include \
        -Itests/util $t.c $objs "$LIB" $CRIT $PKG $CUDA_LIBS -lstdc++ -lm $LDEXTRA -o "$B/$t"
done
if [ -f bench/cuda/attention_bench.cu ]; then
    $NVCC $FLAGS $INC bench/cuda/attention_bench.cu $objs ${LDEXTRA:+-Xcompiler "$LDEXTRA"} \
        -o "$B/bench/cuda/attention_bench"
fi
