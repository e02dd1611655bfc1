/* cu_mma_bf16.cuh — the tensor-core and copy primitives of the bf16 attention kernels (sm_80 and
 * later, header only): mma.sync m16n8k16 with bf16 operands and fp32 accumulation, ldmatrix
 * (plain and transposed) for its fragments, cp.async for 16-byte global → shared copies, and
 * the hardware exp2.
 *
 * Fragment layouts are PTX's for mma.m16n8k16.row.col (lane = 4·g + t): the A operand holds
 * rows g and g+8, columns 2t, 2t+1 and 2t+8, 2t+9 of a 16×16 tile; the B operand columns n = g
 * of rows 2t, 2t+1 and 2t+8, 2t+9 of a 16×8 tile; the accumulator rows g (c0, c1) and g+8 (c2,
 * c3), columns 2t, 2t+1 (docs/ATTENTION_MATH.md, "The CUDA kernels").
 */
#ifndef SPARSA_CU_MMA_BF16_CUH
#define SPARSA_CU_MMA_BF16_CUH

#include <cuda_bf16.h>
#include <stdint.h>

/* c += a · b (16×16 by 16×8, bf16 in, fp32 accumulators). */
__device__ __forceinline__ void mma_bf16_16816(float *c, const uint32_t *a, uint32_t b0,
                                               uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* Four 8×8 bf16 matrices from shared memory; lane l gives the address of row l % 8 of matrix
 * l / 8, and r[i] receives matrix i in the accumulator-like layout (row g, columns 2t, 2t+1). */
__device__ __forceinline__ void mma_ldsm_x4(const __nv_bfloat16 *p, uint32_t *r) {
    const unsigned addr = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

/* The same, each matrix transposed (lane gets rows 2t, 2t+1 of column g). */
__device__ __forceinline__ void mma_ldsm_x4_trans(const __nv_bfloat16 *p, uint32_t *r) {
    const unsigned addr = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

/* Two floats rounded to nearest even into one bf16 pair (lo in the low half). */
__device__ __forceinline__ uint32_t mma_pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *(uint32_t *)&v;
}

/* 16 bytes global → shared, asynchronously; bytes < 16 zero-fills the rest (0: all zeros). */
__device__ __forceinline__ void mma_cp_async16(void *dst, const void *src, int bytes) {
    const unsigned a = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(a), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void mma_cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
/* Waits until at most N of this thread's committed groups are still in flight. */
template <int N> __device__ __forceinline__ void mma_cp_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

/* 2^x by the special-function unit (relative error about 2^-22; denormal results flush to 0,
 * 2^-inf = 0, NaN stays NaN). */
__device__ __forceinline__ float mma_ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

#endif
