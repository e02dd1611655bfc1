#!/bin/sh
# build_attn.sh — builds the CUDA attention objects, the GPU parity test and the attention
# benchmark with nvcc, outside the main Makefile: bench/cuda/build_attn.sh BUILD_DIR
# (BUILD_DIR/libsparsa.a must exist: make BUILD=BUILD_DIR BUILD_DIR/libsparsa.a).
set -e
B=${1:-build}
NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
PTX=${PTX-"-gencode arch=compute_90,code=compute_90"}
FLAGS="-std=c++17 -O3 -gencode arch=compute_90,code=sm_90 $PTX -Xcompiler -Wall,-Wextra,-Werror,-fPIC"
INC="-Icuda -Iinterpreter -Icommon"
mkdir -p "$B/cuda" "$B/tests/cuda" "$B/bench/cuda"
objs=""
for f in cuda/cu_attn_*.cu; do
    o="$B/cuda/$(basename "${f%.cu}").o"
    if [ ! -f "$o" ] || [ "$f" -nt "$o" ] || [ cuda/cu_attn_internal.h -nt "$o" ] || [ cuda/cu_attention.h -nt "$o" ]; then
        $NVCC $FLAGS $INC -c "$f" -o "$o" &
    fi
    objs="$objs $o"
done
wait
for o in $objs; do [ -f "$o" ] || exit 1; done
CRIT=$(pkg-config --cflags --libs criterion)
PKG=$(pkg-config --libs yaml-0.1 libzstd sentencepiece)
CUDA_LIBS="-L/usr/local/cuda/lib64 -lcudart_static -ldl -lrt -lpthread"
gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -fopenmp -Icommon -Iinterpreter \
    -Iinterpreter/attention -Iinterpreter/kernels -Icuda -I/usr/local/cuda/include -Itests/util \
    tests/cuda/test_cuda_attention.c $objs "$B/libsparsa.a" $CRIT $PKG $CUDA_LIBS -lstdc++ -lm \
    -o "$B/tests/cuda/test_cuda_attention"
if [ -f bench/cuda/attention_bench.cu ]; then
    $NVCC $FLAGS $INC bench/cuda/attention_bench.cu $objs -o "$B/bench/cuda/attention_bench"
fi
