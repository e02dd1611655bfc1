/* gemm_bf16_amx.c — the AMX kernel of the bf16 products (gemm_bf16_internal.h): a 32×32 tile
 * of y in four 16×16 fp32 tile registers, fed per 32 inputs by two x tiles (rows 0–15, 16–31)
 * and two W tiles (columns 0–15, 16–31) through tdpbf16ps, which multiplies bf16 pairs and
 * accumulates in fp32 like vdpbf16ps. The operands are the AVX512_BF16 path's packing (x rows
 * of pairs SP_BF16_KCP words apart, W panels [pair][NR]) with the depth padded with zeros to a
 * multiple of 16 pairs, the depth of one tile.
 *
 * Linux hands AMX state to a process only on request (arch_prctl ARCH_REQ_XCOMP_PERM), and
 * every thread loads its own tile configuration: sp_bf16_amx_begin does so before a run of
 * kernels and sp_bf16_amx_end releases the tiles after it. */
#include "gemm_bf16_internal.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SP_AMX __attribute__((target("amx-tile,amx-bf16")))

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

#define KCP SP_BF16_KCP
#define NR SP_BF16_NR

/* The 64-byte operand of ldtilecfg (palette 1). */
typedef struct tile_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

int sp_bf16_amx_cpu_ok(void) {
    unsigned a, b, c, d;
    /* AMX-BF16: CPUID leaf 7 sub-leaf 0, EDX bit 22; AMX-TILE: bit 24 */
    if (!sp_bf16_cpu_ok() || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!(d >> 22 & 1) || !(d >> 24 & 1)) return 0;
    unsigned long perm = 0;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm) != 0) return 0;
    return perm >> XFEATURE_XTILEDATA & 1;
}

/* Eight tiles of 16 rows × 64 bytes: 0–3 the fp32 tile of y, 4–5 x, 6–7 W. A static object:
 * ldtilecfg reads memory the compiler does not see it read, and the stores into a local
 * configuration were dropped as dead. */
static const tile_config g_config __attribute__((aligned(64))) = {
    .palette = 1,
    .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
    .rows = {16, 16, 16, 16, 16, 16, 16, 16},
};

SP_AMX void sp_bf16_amx_begin(void) { _tile_loadconfig(&g_config); }

SP_AMX void sp_bf16_amx_end(void) { _tile_release(); }

SP_AMX void sp_bf16_amx_kernel(size_t kcp, const uint32_t *a, const uint32_t *b, float *c,
                               size_t ldc, int accumulate) {
    size_t row_bytes = ldc * sizeof(float);
    float *c1 = c + 16 * ldc;
    /* the tile loads and stores are asm without a memory clobber: order them with the C
     * code around them by hand */
    __asm__ volatile("" ::: "memory");
    if (accumulate) {
        _tile_loadd(0, c, row_bytes);
        _tile_loadd(1, c + 16, row_bytes);
        _tile_loadd(2, c1, row_bytes);
        _tile_loadd(3, c1 + 16, row_bytes);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    /* kcp is a multiple of 16 (the packing pads the depth) */
    for (size_t p = 0; p < kcp; p += 16) {
        _tile_loadd(4, a + p, KCP * sizeof(uint32_t));
        _tile_loadd(5, a + 16 * KCP + p, KCP * sizeof(uint32_t));
        _tile_loadd(6, b + p * NR, NR * sizeof(uint32_t));
        _tile_loadd(7, b + p * NR + 16, NR * sizeof(uint32_t));
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, c, row_bytes);
    _tile_stored(1, c + 16, row_bytes);
    _tile_stored(2, c1, row_bytes);
    _tile_stored(3, c1 + 16, row_bytes);
    __asm__ volatile("" ::: "memory");
}
#endif
