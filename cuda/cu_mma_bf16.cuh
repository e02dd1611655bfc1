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

/* ---- wgmma (sm_90a only; elsewhere these trap and the fast path does not pick them) ------ */

/* A shared-memory matrix descriptor of wgmma without swizzle: the operand is made of 8×16-byte
 * core matrices (128 contiguous bytes each); lbo is the byte distance of core matrices along K,
 * sbo along M or N, for K-major and N-major operands alike (PTX ISA, "Matrix Descriptor
 * Format"; checked on an H200). */
__device__ __forceinline__ uint64_t mma_wg_desc(const void *smem, uint32_t lbo, uint32_t sbo) {
    const uint32_t a = (uint32_t)__cvta_generic_to_shared(smem);
    return (uint64_t)((a & 0x3FFFFu) >> 4) | (uint64_t)((lbo >> 4) & 0x3FFFu) << 16 |
           (uint64_t)((sbo >> 4) & 0x3FFFu) << 32;
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define MMA_WG_ASM(...) asm volatile(__VA_ARGS__)
#else
#define MMA_WG_ASM(...) __trap()
#endif

/* Orders this thread's register writes before the warpgroup's next wgmma. */
__device__ __forceinline__ void mma_wg_fence() {
    MMA_WG_ASM("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void mma_wg_commit() {
    MMA_WG_ASM("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N> __device__ __forceinline__ void mma_wg_wait() {
    MMA_WG_ASM("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
/* Makes this thread's generic-proxy writes to shared memory (cp.async, stores) visible to wgmma. */
__device__ __forceinline__ void mma_fence_proxy_async() {
    MMA_WG_ASM("fence.proxy.async.shared::cta;\n" ::: "memory");
}
/* Keeps the compiler from moving uses of accumulators across a wgmma wait. */
template <int N> __device__ __forceinline__ void mma_wg_hold(float *r) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(r[i])::"memory");
}

/* d (64×64 per warpgroup, fp32; the warp's 16 rows in mma.sync's accumulator layout, d[4i..4i+3]
 * for columns 8i … 8i+7) += a (this warp's 16×16 bf16 A fragment, as for mma.sync) · B (16×64 in
 * shared memory, descriptor b; TB = 1: B stored N-major). Asynchronous: commit, then wait; pin
 * a and d (mma_wg_hold) before the fence that precedes it. */
template <int TB>
__device__ __forceinline__ void mma_wg_64x64x16(float *d, const uint32_t *a, uint64_t b) {
    MMA_WG_ASM("{\n.reg .pred p;\nsetp.ne.b32 p, %38, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
               "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
               "{%32, %33, %34, %35}, %36, p, 1, 1, %37;\n}\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),
                 "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]),
                 "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]),
                 "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                 "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]),
                 "+f"(d[30]), "+f"(d[31])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "n"(TB), "r"(1));
}

#endif
