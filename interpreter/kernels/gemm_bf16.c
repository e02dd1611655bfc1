/* gemm_bf16.c — the bf16 products' driver (gemm_bf16.h): CPU check, packing callbacks, and the
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

/* x is always packed here (rounded to bf16 pairs), so lda is the packed stride KCP. */
static void kernel_tile(const void *job_ptr, size_t kcp, const void *a, size_t lda,
                        const void *b, float *c, size_t ldc, int accumulate) {
    (void)job_ptr;
    (void)lda;
    sp_bf16_kernel(kcp, a, b, c, ldc, accumulate);
}

static void pack_w_panel(const void *job_ptr, size_t j0, size_t pc, size_t kc, void *tmp,
                         void *dst) {
    const job *jb = job_ptr;
    (void)tmp;
    sp_bf16_pack_w(jb->w, jb->k, jb->n, j0, pc, kc, dst);
}

/* Rounds x rows [i0, i0 + MR) (zero rows past rows_end), inputs [pc, pc + kc), into pairs. */
static void pack_x_panel(const void *job_ptr, size_t i0, size_t rows_end, size_t pc, size_t kc,
                         void *dst_words) {
    const job *jb = job_ptr;
    uint32_t *dst = dst_words;
    for (size_t r = 0; r < MR; r++) {
        uint32_t *d = dst + r * KCP;
        if (i0 + r < rows_end) sp_bf16_pack_x_row(jb->x + (i0 + r) * jb->k + pc, kc, d);
        else memset(d, 0, (kc + 1) / 2 * sizeof *d);
    }
}

static const sp_gemm_blocking g_blocking = {
    .mr = MR, .nr = NR, .mc_rows = MC_ROWS, .kc = 2 * KCP, .pair = 2, .x_stride = KCP,
    .tmp_words = 0, .pack_w = pack_w_panel, .pack_x = pack_x_panel, .kernel = kernel_tile,
};

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
    /* out of memory: the unbuffered path */
    if (sp_gemm_blocked_range(&g_blocking, jb, jb->y, jb->k, jb->n, &pt) != 0)
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
