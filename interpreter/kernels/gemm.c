/* gemm.c — y = x·Wᵀ (+ bias) over f32/f16/bf16 weights: back-end choice, packing, statistics.
 *
 * m < SP_GEMM_SMALL_M (decode) goes to the back end's row path: dot products straight from W,
 * which is read once, so it runs at memory bandwidth. Larger m goes through the packed, blocked
 * path (see gemm_internal.h). The output columns (or rows, when there are too few columns) are
 * cut into contiguous parts that threads take dynamically (gemm_plan.h, shared with
 * gemm_bf16.c); every output element is computed by the same instruction sequence whichever
 * part or thread holds it, so results are bit-identical for any thread count.
 */
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm_internal.h"
#include "gemm_plan.h"
#if SP_GEMM_X86
#include <cpuid.h>
#endif

/* About how many rows of x per packed x block. */
#define MC_ROWS 160

/* ---- back-end choice -------------------------------------------------------------------- */

static const sp_gemm_backend *g_backend;
static pthread_once_t g_backend_once = PTHREAD_ONCE_INIT;

#if SP_GEMM_X86
/* F16C straight from CPUID (leaf 1, ECX bit 29): not every compiler's __builtin_cpu_supports
 * knows the name. */
static int cpu_has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
}
#endif

static int cpu_has(const char *name) {
#if SP_GEMM_X86
    __builtin_cpu_init();
    if (!strcmp(name, "avx512"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("fma") && cpu_has_f16c();
    if (!strcmp(name, "avx2"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
#endif
    return !strcmp(name, "scalar");
}

static const sp_gemm_backend *backend_named(const char *name) {
#if SP_GEMM_X86
    if (!strcmp(name, "avx512")) return &sp_gemm_backend_avx512;
    if (!strcmp(name, "avx2")) return &sp_gemm_backend_avx2;
#endif
    if (!strcmp(name, "scalar")) return &sp_gemm_backend_scalar;
    return NULL;
}

static const sp_gemm_backend *best_backend(void) {
    static const char *order[] = {"avx512", "avx2", "scalar"};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
        if (cpu_has(order[i]) && backend_named(order[i])) return backend_named(order[i]);
    return &sp_gemm_backend_scalar;
}

static void choose_backend(void) {
    const char *env = getenv("SPARSA_GEMM_ISA");
    const sp_gemm_backend *b = env && *env ? backend_named(env) : NULL;
    g_backend = b && cpu_has(env) ? b : best_backend();
}

static const sp_gemm_backend *backend(void) {
    pthread_once(&g_backend_once, choose_backend);
    return g_backend;
}

const char *sp_gemm_isa(void) { return backend()->name; }

int sp_gemm_set_isa(const char *name) {
    backend();
    if (!name) return -1;
    if (!strcmp(name, "auto")) {
        g_backend = best_backend();
        return 0;
    }
    const sp_gemm_backend *b = backend_named(name);
    if (!b || !cpu_has(name)) return -1;
    g_backend = b;
    return 0;
}

/* ---- statistics ------------------------------------------------------------------------- */

static _Atomic unsigned long long g_stat_macs, g_stat_ns;

void sp_gemm_stats(double *flops, double *seconds) {
    if (flops) *flops = 2.0 * (double)atomic_load(&g_stat_macs);
    if (seconds) *seconds = 1e-9 * (double)atomic_load(&g_stat_ns);
}

void sp_gemm_stats_reset(void) {
    atomic_store(&g_stat_macs, 0);
    atomic_store(&g_stat_ns, 0);
}

static unsigned long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
}

/* Bytes per weight element; 0 for dtypes the kernels do not take. (Kept here so the kernels
 * depend on nothing of the format library but the half conversions.) */
static size_t weight_size(sp_dtype dt) {
    return dt == SP_F32 ? 4 : dt == SP_F16 || dt == SP_BF16 ? 2 : 0;
}

/* ---- embedding rows --------------------------------------------------------------------- */

void sp_weight_row_f32(const void *w, sp_dtype w_dtype, size_t row, size_t cols, float *out) {
    size_t esz = weight_size(w_dtype);
    if (esz == 0) {
        memset(out, 0, cols * sizeof(float));
        return;
    }
    backend()->convert((const char *)w + row * cols * esz, w_dtype, cols, out);
}

/* ---- the blocked path ------------------------------------------------------------------- */

typedef struct job {
    const sp_gemm_backend *be;
    const float *x;
    size_t m, k, n;
    const void *w;
    sp_dtype dt;
    size_t esz;
    float *y;
} job;

/* Packs W rows [j0, j0 + nr) (zero rows past n), inputs [pc, pc + kc), as [kc][NR]. */
static void pack_w_panel(const void *job_ptr, size_t j0, size_t pc, size_t kc, void *tmp_words,
                         void *dst_words) {
    const job *jb = job_ptr;
    float *tmp = tmp_words, *dst = dst_words;
    if (jb->be->pack_w) {
        jb->be->pack_w(jb->w, jb->dt, jb->k, jb->n, j0, pc, kc, dst);
        return;
    }
    const int NR = jb->be->nr;
    for (int r = 0; r < NR; r++) {
        float *t = tmp + (size_t)r * SP_GEMM_KC;
        if (j0 + (size_t)r < jb->n)
            jb->be->convert((const char *)jb->w + ((j0 + (size_t)r) * jb->k + pc) * jb->esz,
                            jb->dt, kc, t);
        else
            memset(t, 0, kc * sizeof(float));
    }
    for (size_t p = 0; p < kc; p++)
        for (int r = 0; r < NR; r++) dst[p * (size_t)NR + (size_t)r] = tmp[(size_t)r * SP_GEMM_KC + p];
}

/* Packs x rows [i0, i0 + MR) (zero rows past `rows_end`), inputs [pc, pc + kc). */
static void pack_x_panel(const void *job_ptr, size_t i0, size_t rows_end, size_t pc, size_t kc,
                         void *dst_words) {
    const job *jb = job_ptr;
    float *dst = dst_words;
    for (int r = 0; r < jb->be->mr; r++) {
        float *d = dst + (size_t)r * SP_GEMM_KC;
        if (i0 + (size_t)r < rows_end)
            memcpy(d, jb->x + (i0 + (size_t)r) * jb->k + pc, kc * sizeof(float));
        else
            memset(d, 0, kc * sizeof(float));
    }
}

/* x rows are f32 already: whole micro-panels read them where they are. */
static const void *x_in_place(const void *job_ptr, size_t i0, size_t pc, size_t *lda) {
    const job *jb = job_ptr;
    *lda = jb->k;
    return jb->x + i0 * jb->k + pc;
}

static void kernel_tile(const void *job_ptr, size_t kc, const void *a, size_t lda,
                        const void *b, float *c, size_t ldc, int accumulate) {
    ((const job *)job_ptr)->be->kernel(kc, a, lda, b, c, ldc, accumulate);
}

/* y[part] without bias through the back end's microkernel. Returns -1 if the workspace cannot
 * be allocated. */
static int blocked_range(const job *jb, const sp_gemm_part *part) {
    const sp_gemm_blocking bl = {
        .mr = (size_t)jb->be->mr, .nr = (size_t)jb->be->nr, .mc_rows = MC_ROWS,
        .kc = SP_GEMM_KC, .pair = 1, .x_stride = SP_GEMM_KC,
        .tmp_words = (size_t)jb->be->nr * SP_GEMM_KC,
        .pack_w = pack_w_panel, .pack_x = pack_x_panel, .x_in_place = x_in_place,
        .kernel = kernel_tile,
    };
    return sp_gemm_blocked_range(&bl, jb, jb->y, jb->k, jb->n, part);
}

/* Part t of nt of the output (gemm_plan.h). */
static void run_part(const void *job_ptr, int t, int nt, int small) {
    const job *jb = job_ptr;
    const sp_gemm_backend *be = jb->be;
    size_t m = jb->m, n = jb->n, c0, c1;
    if (small || !be->kernel) {
        if (sp_gemm_row_part(n, t, nt, &c0, &c1))
            be->rows(jb->x, m, jb->k, jb->w, jb->dt, c0, c1, n, jb->y);
        return;
    }
    sp_gemm_part pt;
    if (!sp_gemm_blocked_part(m, n, (size_t)be->mr, (size_t)be->nr, t, nt, &pt)) return;
    if (blocked_range(jb, &pt) != 0) /* out of memory: the unbuffered path */
        be->rows(jb->x + pt.r0 * jb->k, pt.r1 - pt.r0, jb->k, jb->w, jb->dt, pt.c0, pt.c1, n,
                 jb->y + pt.r0 * n);
}

void sp_gemm_wt(const float *x, size_t m, size_t k, const void *w, sp_dtype w_dtype, size_t n,
                const float *bias, float *y) {
    if (m == 0 || n == 0) return;
    int nested = omp_in_parallel();
    unsigned long long t0 = nested ? 0 : now_ns();
    job jb = {backend(), x, m, k, n, w, w_dtype, weight_size(w_dtype), y};
    if (k == 0 || jb.esz == 0) {
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) y[i * n + j] = 0.0f;
    } else {
        sp_gemm_run_parts(&jb, run_part, m, n, k, jb.be->kernel ? (size_t)jb.be->nr : 0);
    }
    if (bias)
        for (size_t i = 0; i < m; i++) {
            float *yi = y + i * n;
            for (size_t j = 0; j < n; j++) yi[j] += bias[j];
        }
    if (!nested) {
        atomic_fetch_add(&g_stat_macs, (unsigned long long)m * k * n);
        atomic_fetch_add(&g_stat_ns, now_ns() - t0);
    }
}
