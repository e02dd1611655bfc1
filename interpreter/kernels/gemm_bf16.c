/* gemm_bf16.c — the bf16 products' driver (gemm_bf16.h): CPU check, packing callbacks, and the
 * one-time bf16 copy of f32/f16 weights. The same plan as the fp32 driver (gemm.c), shared
 * with it (gemm_plan.h): m below SP_GEMM_SMALL_M takes dot products straight from W, larger m
 * the packed path (gemm_bf16_internal.h); output columns (or rows, when columns are too few)
 * are cut into parts that threads take dynamically, and every element is computed by the same
 * instructions whichever part holds it, so the thread count changes no bit. Two engines run
 * the packed path: the AMX tiles (gemm_bf16_amx.c, 32-row tiles, the depth padded to 16 pairs)
 * where the CPU has them, else the AVX512_BF16 microkernel (gemm_bf16_avx512.c); the small-m
 * path is AVX512_BF16 dot products either way. */
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_bf16_internal.h"
#include "gemm_plan.h"

/* About how many rows of x per packed x block. */
#define MC_ROWS 168

#if defined(__GNUC__) && defined(__x86_64__)
#define HAVE_BF16_KERNELS 1
#else
#define HAVE_BF16_KERNELS 0
#endif

static int g_available, g_amx;
static const char *g_engine = "none";
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* A lower instruction set forced for the fp32 products (SPARSA_GEMM_ISA=avx2 or scalar, as
 * on a CPU without AVX-512) takes the bf16 products away too. SPARSA_BF16_ENGINE=avx512_bf16
 * keeps them off the AMX tiles (benchmarks). */
static void check_cpu(void) {
#if HAVE_BF16_KERNELS
    const char *isa = getenv("SPARSA_GEMM_ISA"), *engine = getenv("SPARSA_BF16_ENGINE");
    int lower = isa && (!strcmp(isa, "avx2") || !strcmp(isa, "scalar"));
    g_available = !lower && sp_bf16_cpu_ok();
    g_amx = g_available && sp_bf16_amx_cpu_ok();
    g_engine = !g_available ? "none" : g_amx && !(engine && !strcmp(engine, "avx512_bf16"))
                                           ? "amx" : "avx512_bf16";
#endif
}

int sp_gemm_bf16_available(void) {
    pthread_once(&g_once, check_cpu);
    return g_available;
}

const char *sp_gemm_bf16_engine(void) {
    pthread_once(&g_once, check_cpu);
    return g_engine;
}

int sp_gemm_bf16_set_engine(const char *name) {
    pthread_once(&g_once, check_cpu);
    if (!g_available || !name) return -1;
    if (!strcmp(name, "amx") && !g_amx) return -1;
    if (strcmp(name, "amx") && strcmp(name, "avx512_bf16")) return -1;
    g_engine = !strcmp(name, "amx") ? "amx" : "avx512_bf16";
    return 0;
}

uint16_t *sp_weight_to_bf16(const void *w, sp_dtype dt, size_t rows, size_t cols) {
    size_t n = rows * cols;
    uint16_t *out = malloc((n ? n : 1) * sizeof *out);
    if (!out) return NULL;
    const uint16_t *h = w;
    const float *f = w;
    #pragma omp parallel for schedule(static) if (n >= ((size_t)1 << 20))
    for (size_t i = 0; i < n; i++)
        out[i] = dt == SP_BF16 ? h[i] : sp_f32_to_bf16(dt == SP_F16 ? sp_f16_to_f32(h[i]) : f[i]);
    return out;
}

#if HAVE_BF16_KERNELS
#define NR SP_BF16_NR
#define KCP SP_BF16_KCP

typedef struct job {
    const float *x;
    size_t m, k, n;
    const uint16_t *w;
    float *y;
    const struct sp_gemm_blocking *bl;
} job;

/* x is always packed here (rounded to bf16 pairs), so lda is the packed stride KCP. */
static void kernel_tile(const void *job_ptr, size_t kcp, const void *a, size_t lda,
                        const void *b, float *c, size_t ldc, int accumulate) {
    (void)job_ptr;
    (void)lda;
    sp_bf16_kernel(kcp, a, b, c, ldc, accumulate);
}

static void kernel_tile_amx(const void *job_ptr, size_t kcp, const void *a, size_t lda,
                            const void *b, float *c, size_t ldc, int accumulate) {
    (void)job_ptr;
    (void)lda;
    sp_bf16_amx_kernel(kcp, a, b, c, ldc, accumulate);
}

/* The pairs of a packed depth past the k block: zero, for the AMX tiles' 16-pair steps. */
static size_t padded_pairs(const job *jb, size_t kc) {
    size_t kcp = (kc + 1) / 2, align = jb->bl->depth_align ? jb->bl->depth_align : 1;
    return (kcp + align - 1) / align * align;
}

static void pack_w_panel(const void *job_ptr, size_t j0, size_t pc, size_t kc, void *tmp,
                         void *dst) {
    const job *jb = job_ptr;
    uint32_t *d = dst;
    (void)tmp;
    sp_bf16_pack_w(jb->w, jb->k, jb->n, j0, pc, kc, d);
    size_t kcp = (kc + 1) / 2;
    memset(d + kcp * NR, 0, (padded_pairs(jb, kc) - kcp) * NR * sizeof *d);
}

/* Rounds x rows [i0, i0 + mr) (zero rows past rows_end), inputs [pc, pc + kc), into pairs. */
static void pack_x_panel(const void *job_ptr, size_t i0, size_t rows_end, size_t pc, size_t kc,
                         void *dst_words) {
    const job *jb = job_ptr;
    uint32_t *dst = dst_words;
    size_t kcp = (kc + 1) / 2, padded = padded_pairs(jb, kc);
    for (size_t r = 0; r < jb->bl->mr; r++) {
        uint32_t *d = dst + r * KCP;
        if (i0 + r < rows_end) sp_bf16_pack_x_row(jb->x + (i0 + r) * jb->k + pc, kc, d);
        else memset(d, 0, kcp * sizeof *d);
        memset(d + kcp, 0, (padded - kcp) * sizeof *d);
    }
}

static const sp_gemm_blocking g_blocking = {
    .mr = SP_BF16_MR, .nr = NR, .mc_rows = MC_ROWS, .kc = 2 * KCP, .pair = 2, .x_stride = KCP,
    .tmp_words = 0, .pack_w = pack_w_panel, .pack_x = pack_x_panel, .kernel = kernel_tile,
};

/* AMX: 32 rows per tile of y, the depth in whole 16-pair tiles. */
static const sp_gemm_blocking g_blocking_amx = {
    .mr = SP_BF16_AMX_MR, .nr = NR, .mc_rows = MC_ROWS, .kc = 2 * KCP, .pair = 2,
    .depth_align = 16, .x_stride = KCP, .tmp_words = 0, .pack_w = pack_w_panel,
    .pack_x = pack_x_panel, .kernel = kernel_tile_amx,
};

/* The blocked path over one part, on the AMX tiles when they are the engine. */
static int blocked_range(const job *jb, const sp_gemm_part *pt) {
    int amx = jb->bl == &g_blocking_amx;
    if (amx) sp_bf16_amx_begin();
    int rc = sp_gemm_blocked_range(jb->bl, jb, jb->y, jb->k, jb->n, pt);
    if (amx) sp_bf16_amx_end();
    return rc;
}

/* Part t of nt of the output (gemm_plan.h). */
static void run_part(const void *job_ptr, int t, int nt, int small) {
    const job *jb = job_ptr;
    size_t m = jb->m, n = jb->n, c0, c1;
    if (small) {
        if (sp_gemm_row_part(n, t, nt, &c0, &c1))
            sp_bf16_rows(jb->x, m, jb->k, jb->w, c0, c1, n, jb->y);
        return;
    }
    sp_gemm_part pt;
    if (!sp_gemm_blocked_part(m, n, jb->bl->mr, NR, t, nt, &pt)) return;
    /* out of memory: the unbuffered path */
    if (blocked_range(jb, &pt) != 0)
        sp_bf16_rows(jb->x + pt.r0 * jb->k, pt.r1 - pt.r0, jb->k, jb->w, pt.c0, pt.c1, n,
                     jb->y + pt.r0 * n);
}
#endif

void sp_gemm_wt_bf16(const float *x, size_t m, size_t k, const uint16_t *w, size_t n,
                     const float *bias, float *y) {
    if (m == 0 || n == 0) return;
#if HAVE_BF16_KERNELS
    if (k > 0 && sp_gemm_bf16_available()) {
        int amx = !strcmp(sp_gemm_bf16_engine(), "amx");
        job jb = {x, m, k, n, w, y, amx ? &g_blocking_amx : &g_blocking};
        sp_gemm_run_parts(&jb, run_part, m, n, k, NR);
    } else
#endif
    {
        /* callers check sp_gemm_bf16_available() first; an empty k gives zeros */
        for (size_t i = 0; i < m * n; i++) y[i] = 0.0f;
    }
    if (bias)
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) y[i * n + j] += bias[j];
}
