/* cu_attn_flash_sm90.cuh — the Hopper-only primitives of the bf16 softmax fast path's wgmma
 * kernels (cu_attn_flash_wgmma.cu, cu_attn_flash_tma.cu), beside the shared ones of
 * cu_mma_bf16.cuh: shared-memory descriptors for the 128-byte swizzle, the 64×128 warpgroup
 * product (A from registers or from shared memory), mbarriers, TMA tile loads.
 *
 * The 128-byte swizzle (PTX ISA, "Shared Memory Matrix Layout"): a tile of rows of 64 bf16
 * (128 bytes) whose base is 1024-byte aligned keeps the 16-byte chunk c of row r at
 * r·128 + ((c ⊕ (r mod 8))·16), the layout TMA writes with CU_TENSOR_MAP_SWIZZLE_128B. The same
 * bytes serve as a K-major operand (K, q′: rows along M or N, d along K; the k-th step of 16
 * starts 32·k bytes into the row) and as an N-major one (V: keys along K, d along N; the k-th
 * step of 16 keys starts 2048·k bytes in). Either way 8-row groups are 1024 bytes apart (the
 * stride byte offset); the leading byte offset is unused at d 64.
 * Everything here traps unless built for sm_90a (the callers check before they launch).
 */
#ifndef SPARSA_CU_ATTN_FLASH_SM90_CUH
#define SPARSA_CU_ATTN_FLASH_SM90_CUH

#include "cu_mma_bf16.cuh"

/* Byte offset of chunk c (16 bytes) of row r in a 128-byte-swizzled tile. */
__device__ __forceinline__ uint32_t fa_sw128(int r, int c) {
    return (uint32_t)(r * 128 + ((c ^ (r & 7)) << 4));
}

/* Descriptor of a 128-byte-swizzled operand starting at p (1024-aligned tile plus the k-step's
 * offset), 8-row groups 1024 bytes apart. */
__device__ __forceinline__ uint64_t fa_desc_sw128(const void *p) {
    const uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
    return (uint64_t)((a & 0x3FFFFu) >> 4) | (uint64_t)1 << 16 | (uint64_t)(1024 >> 4) << 32 |
           (uint64_t)1 << 62;
}

#define FA_D8(i)                                                                             \
    "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]),              \
        "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
#define FA_R64                                                                               \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, "   \
    "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, "    \
    "%36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, "    \
    "%53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"

/* d (64×128 per warpgroup, fp32; the warp's 16 rows in mma.sync's accumulator layout, d[4i..]
 * for columns 8i …) = (acc ? d : 0) + a (the warp's 16×16 A fragment) · B (K-major 16×128 in
 * shared memory, descriptor b). Asynchronous, as mma_wg_64x64x16. */
__device__ __forceinline__ void fa_wg_64x128x16_rs(float *d, const uint32_t *a, uint64_t b,
                                                   int acc) {
    MMA_WG_ASM("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " FA_R64
               ", {%64, %65, %66, %67}, %68, p, 1, 1, 0;\n}\n"
               : FA_D8(0), FA_D8(8), FA_D8(16), FA_D8(24), FA_D8(32), FA_D8(40), FA_D8(48),
                 FA_D8(56)
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(acc));
}

/* The same with A (K-major 64×16) from shared memory too, descriptor a. */
__device__ __forceinline__ void fa_wg_64x128x16_ss(float *d, uint64_t a, uint64_t b, int acc) {
    MMA_WG_ASM("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " FA_R64
               ", %64, %65, p, 1, 1, 0, 0;\n}\n"
               : FA_D8(0), FA_D8(8), FA_D8(16), FA_D8(24), FA_D8(32), FA_D8(40), FA_D8(48),
                 FA_D8(56)
               : "l"(a), "l"(b), "r"(acc));
}

/* 64×64: d = (acc ? d : 0) + a (the warp's A fragment) · B (descriptor b; TB = 1: N-major). */
template <int TB>
__device__ __forceinline__ void fa_wg_64x64x16_rs(float *d, const uint32_t *a, uint64_t b,
                                                  int acc) {
    MMA_WG_ASM("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
               "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
               ", {%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
               : FA_D8(0), FA_D8(8), FA_D8(16), FA_D8(24)
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(acc), "n"(TB));
}

/* 64×64: d = (acc ? d : 0) + A (K-major, shared, descriptor a) · B (K-major, descriptor b). */
__device__ __forceinline__ void fa_wg_64x64x16_ss(float *d, uint64_t a, uint64_t b, int acc) {
    MMA_WG_ASM("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
               "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
               ", %32, %33, p, 1, 1, 0, 0;\n}\n"
               : FA_D8(0), FA_D8(8), FA_D8(16), FA_D8(24)
               : "l"(a), "l"(b), "r"(acc));
}

/* ---- mbarriers and TMA (shared::cta addresses; one CTA, no cluster) -------------------- */

__device__ __forceinline__ uint32_t fa_saddr(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}
__device__ __forceinline__ void fa_bar_init(uint64_t *bar, unsigned count) {
    MMA_WG_ASM("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(fa_saddr(bar)), "r"(count)
               : "memory");
}
/* Makes barrier initialisations visible to the async proxy (TMA) before first use. */
__device__ __forceinline__ void fa_bar_init_fence() {
    MMA_WG_ASM("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
__device__ __forceinline__ void fa_bar_arrive(uint64_t *bar) {
    MMA_WG_ASM("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(fa_saddr(bar)) : "memory");
}
/* One arrival that also expects bytes of TMA transfer to complete the phase. */
__device__ __forceinline__ void fa_bar_expect(uint64_t *bar, unsigned bytes) {
    MMA_WG_ASM("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(fa_saddr(bar)),
               "r"(bytes)
               : "memory");
}
/* Waits until the barrier's phase of the given parity has completed. */
__device__ __forceinline__ void fa_bar_wait(uint64_t *bar, unsigned parity) {
    unsigned done = 0;
    do {
        MMA_WG_ASM("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                   "selp.u32 %0, 1, 0, p;\n}\n"
                   : "=r"(done)
                   : "r"(fa_saddr(bar)), "r"(parity)
                   : "memory");
    } while (!done);
}
/* The box at (c0, c1, c2) of a 3-d tensor map into dst, completing bytes on bar. */
__device__ __forceinline__ void fa_tma_load3(void *dst, const void *map, int c0, int c1, int c2,
                                             uint64_t *bar) {
    MMA_WG_ASM("cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes "
               "[%0], [%1, {%2, %3, %4}], [%5];\n" ::"r"(fa_saddr(dst)),
               "l"((uint64_t)map), "r"(c0), "r"(c1), "r"(c2), "r"(fa_saddr(bar))
               : "memory");
}
/* Moves this warpgroup's register allotment down (the load warps) or up (the math warps). */
template <int N> __device__ __forceinline__ void fa_setmaxnreg_dec() {
    MMA_WG_ASM("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N> __device__ __forceinline__ void fa_setmaxnreg_inc() {
    MMA_WG_ASM("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}

/* A barrier among the first `threads` threads that reach barrier id (1 … 15; 0 is
 * __syncthreads'). */
__device__ __forceinline__ void fa_named_sync(int id, int threads) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
/* Arrives on barrier id without waiting (the other side of fa_named_sync). */
__device__ __forceinline__ void fa_named_arrive(int id, int threads) {
    asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

#endif
