/* cu_reduce.cuh — the block reduction the row kernels share (norm statistics): a sum in double
 * over one block of CU_THREADS threads, in one fixed order (warp shuffles, then the warps'
 * partial sums in warp order), so every kernel that uses it forms the same bits. */
#ifndef SPARSA_CU_REDUCE_CUH
#define SPARSA_CU_REDUCE_CUH

#include "cu_internal.h"

/* Sum of v over the block; every thread gets the total. */
static __device__ __forceinline__ double cu_block_sum(double v) {
    __shared__ double part[CU_THREADS / 32];
    __shared__ double total;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0;
        for (int i = 0; i < CU_THREADS / 32; i++) t += part[i];
        total = t;
    }
    __syncthreads();
    double r = total;
    __syncthreads();  /* the next call may overwrite part/total */
    return r;
}

#endif
