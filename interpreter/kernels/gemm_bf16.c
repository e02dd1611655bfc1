/* gemm_bf16.c — the bf16 products' driver (gemm_bf16.h): CPU check, threads, blocking, and the
 * one-time bf16 copy of f32/f16 weights. The same plan as the fp32 driver (gemm.c), shared
 * with it (gemm_plan.h): m below SP_GEMM_SMALL_M takes dot products straight from W, larger m
 * the packed path (gemm_bf16_internal.h); output columns (or rows, when columns are too few)
 * are cut into parts that threads take dynamically, and every element is computed by the same
 * instructions whichever part holds it, so the thread count changes no bit. */
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_bf16_internal.h"
#include "gemm_plan.h"

/* About how many rows of x per packed x block. */
#define MC_ROWS 168
#define NC SP_GEMM_NC

#if defined(__GNUC__) && defined(__x86_64__)
#define HAVE_BF16_KERNELS 1
#else
#define HAVE_BF16_KERNELS 0
#endif

static int g_available;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* A lower instruction set forced for the fp32 products (SPARSA_GEMM_ISA=avx2 or scalar, as
 * on a CPU without AVX-512) takes the bf16 products away too. */
static void check_cpu(void) {
#if HAVE_BF16_KERNELS
    const char *isa = getenv("SPARSA_GEMM_ISA");
    int lower = isa && (!strcmp(isa, "avx2") || !strcmp(isa, "scalar"));
    g_available = !lower && sp_bf16_cpu_ok();
#endif
}

int sp_gemm_bf16_available(void) {
    pthread_once(&g_once, check_cpu);
    return g_available;
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
#define MR SP_BF16_MR
#define NR SP_BF16_NR
#define KCP SP_BF16_KCP

typedef struct job {
    const float *x;
    size_t m, k, n;
    const uint16_t *w;
    float *y;
} job;

/* One MR×NR tile over kcp pairs; edge tiles go through a full-size scratch tile. */
static void tile(const job *jb, const uint32_t *xp, const uint32_t *wp, size_t kcp, float *c,
                 size_t rows, size_t cols, int accumulate, float *ct) {
    if (rows == MR && cols == NR) {
        sp_bf16_kernel(kcp, xp, wp, c, jb->n, accumulate);
        return;
    }
    if (accumulate) sp_gemm_edge_load(ct, NR, c, jb->n, rows, cols);
    sp_bf16_kernel(kcp, xp, wp, ct, NR, accumulate);
    sp_gemm_edge_store(c, jb->n, ct, NR, rows, cols);
}

/* Rounds x rows [i0, i0 + MR) (zero rows past rows_end), inputs [pc, pc + kc), into pairs. */
static void pack_x_panel(const job *jb, size_t i0, size_t rows_end, size_t pc, size_t kc,
                         uint32_t *dst) {
    for (size_t r = 0; r < MR; r++) {
        uint32_t *d = dst + r * KCP;
        if (i0 + r < rows_end) sp_bf16_pack_x_row(jb->x + (i0 + r) * jb->k + pc, kc, d);
        else memset(d, 0, (kc + 1) / 2 * sizeof *d);
    }
}

/* y[r0..r1)[c0..c1) without bias. Returns -1 if the workspace cannot be allocated. */
static int blocked_range(const job *jb, size_t r0, size_t r1, size_t c0, size_t c1) {
    const size_t MC = (MC_ROWS + MR - 1) / MR * MR, KC = 2 * KCP;
    size_t nc_max = c1 - c0 < NC ? (c1 - c0 + NR - 1) / NR * NR : NC;
    size_t mc_max = r1 - r0 < MC ? (r1 - r0 + MR - 1) / MR * MR : MC;
    uint32_t *ws = sp_gemm_workspace((nc_max * KCP + mc_max * KCP + MR * NR) * sizeof(uint32_t));
    if (!ws) return -1;
    uint32_t *wp = ws, *xp = wp + nc_max * KCP;
    float *ct = (float *)(xp + mc_max * KCP);
    for (size_t jc = c0; jc < c1; jc += NC) {
        size_t nc = c1 - jc < NC ? c1 - jc : NC;
        for (size_t pc = 0; pc < jb->k; pc += KC) {
            size_t kc = jb->k - pc < KC ? jb->k - pc : KC, kcp = (kc + 1) / 2;
            for (size_t jp = 0; jp < nc; jp += NR)
                sp_bf16_pack_w(jb->w, jb->k, jb->n, jc + jp, pc, kc, wp + jp * kcp);
            for (size_t ic = r0; ic < r1; ic += MC) {
                size_t mc = r1 - ic < MC ? r1 - ic : MC;
                for (size_t ip = 0; ip < mc; ip += MR) pack_x_panel(jb, ic + ip, r1, pc, kc, xp + ip * KCP);
                for (size_t jp = 0; jp < nc; jp += NR)
                    for (size_t ip = 0; ip < mc; ip += MR)
                        tile(jb, xp + ip * KCP, wp + jp * kcp, kcp, jb->y + (ic + ip) * jb->n + jc + jp,
                             mc - ip < MR ? mc - ip : MR, nc - jp < NR ? nc - jp : NR, pc > 0, ct);
            }
        }
    }
    return 0;
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
    if (!sp_gemm_blocked_part(m, n, MR, NR, t, nt, &pt)) return;
    if (blocked_range(jb, pt.r0, pt.r1, pt.c0, pt.c1) != 0) /* out of memory: the unbuffered path */
        sp_bf16_rows(jb->x + pt.r0 * jb->k, pt.r1 - pt.r0, jb->k, jb->w, pt.c0, pt.c1, n,
                     jb->y + pt.r0 * n);
}
#endif

void sp_gemm_wt_bf16(const float *x, size_t m, size_t k, const uint16_t *w, size_t n,
                     const float *bias, float *y) {
    if (m == 0 || n == 0) return;
#if HAVE_BF16_KERNELS
    if (k > 0 && sp_gemm_bf16_available()) {
        job jb = {x, m, k, n, w, y};
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
