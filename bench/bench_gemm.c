/* bench_gemm.c — the machine's fp32 peak and the GFLOP/s of y = x·Wᵀ, for sparsa's kernels
 * and (when built with OpenBLAS) cblas_sgemm on the same shapes.
 *
 *   bench_gemm peak [THREADS]                   fp32 FMA peak (AVX-512 and AVX2 register loops)
 *   bench_gemm sparsa|openblas THREADS DTYPE M,K,N [M,K,N ...]
 *                  DTYPE: f32, f16, bf16 (weights, fp32 products) or bf16p (the --precision bf16
 *                  products: AMX or AVX512_BF16, engine in the line)
 *                                               one line per shape: GFLOP/s (median of 5)
 * Each figure is given per wall second and per CPU second × threads (cpu_gflops: the rate while
 * the threads actually run, which holds on a shared machine; spin-waiting counts as running).
 *
 * Use one library per process: OpenBLAS's and OpenMP's idle threads would otherwise compete.
 */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm.h"
#include "gemm_bf16.h"
#include "sparsa_format.h"

#ifdef SP_HAVE_OPENBLAS
#include <cblas.h>
#endif
#include "bench_util.h"

/* ---- peak: independent FMA chains in registers, nothing from memory ---------------------- */

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) static void fma_loop_512(long iters) {
    __asm__ volatile(
        "vxorps %%zmm0,%%zmm0,%%zmm0\n\t"
        "1:\n\t"
        "vfmadd231ps %%zmm30,%%zmm31,%%zmm0\n\t vfmadd231ps %%zmm30,%%zmm31,%%zmm1\n\t"
        "vfmadd231ps %%zmm30,%%zmm31,%%zmm2\n\t vfmadd231ps %%zmm30,%%zmm31,%%zmm3\n\t"
        "vfmadd231ps %%zmm30,%%zmm31,%%zmm4\n\t vfmadd231ps %%zmm30,%%zmm31,%%zmm5\n\t"
        "vfmadd231ps %%zmm30,%%zmm31,%%zmm6\n\t vfmadd231ps %%zmm30,%%zmm31,%%zmm7\n\t"
        "vfmadd231ps %%zmm30,%%zmm31,%%zmm8\n\t vfmadd231ps %%zmm30,%%zmm31,%%zmm9\n\t"
        "vfmadd231ps %%zmm30,%%zmm31,%%zmm10\n\t vfmadd231ps %%zmm30,%%zmm31,%%zmm11\n\t"
        "vfmadd231ps %%zmm30,%%zmm31,%%zmm12\n\t vfmadd231ps %%zmm30,%%zmm31,%%zmm13\n\t"
        "vfmadd231ps %%zmm30,%%zmm31,%%zmm14\n\t vfmadd231ps %%zmm30,%%zmm31,%%zmm15\n\t"
        "dec %0\n\t jnz 1b\n\t"
        : "+r"(iters)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
          "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm30", "xmm31", "cc");
}

__attribute__((target("avx2,fma"))) static void fma_loop_256(long iters) {
    __asm__ volatile(
        "1:\n\t"
        "vfmadd231ps %%ymm14,%%ymm15,%%ymm0\n\t vfmadd231ps %%ymm14,%%ymm15,%%ymm1\n\t"
        "vfmadd231ps %%ymm14,%%ymm15,%%ymm2\n\t vfmadd231ps %%ymm14,%%ymm15,%%ymm3\n\t"
        "vfmadd231ps %%ymm14,%%ymm15,%%ymm4\n\t vfmadd231ps %%ymm14,%%ymm15,%%ymm5\n\t"
        "vfmadd231ps %%ymm14,%%ymm15,%%ymm6\n\t vfmadd231ps %%ymm14,%%ymm15,%%ymm7\n\t"
        "vfmadd231ps %%ymm14,%%ymm15,%%ymm8\n\t vfmadd231ps %%ymm14,%%ymm15,%%ymm9\n\t"
        "vfmadd231ps %%ymm14,%%ymm15,%%ymm10\n\t vfmadd231ps %%ymm14,%%ymm15,%%ymm11\n\t"
        "dec %0\n\t jnz 1b\n\t"
        : "+r"(iters)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
          "xmm10", "xmm11", "xmm14", "xmm15", "cc");
}

/* GFLOP/s of `threads` copies of the loop, median of 5: per wall second, and per CPU second
 * times threads (what the threads reach while they run; robust on a shared machine). */
static void peak(int threads, int wide, double *wall, double *cpu) {
    const long iters = 20000000;
    double g[5], c[5];
    for (int r = 0; r < 5; r++) {
        double t = now(), tc = cpu_now();
        #pragma omp parallel num_threads(threads)
        {
            if (wide) fma_loop_512(iters);
            else fma_loop_256(iters);
        }
        double flops = (double)threads * (double)iters * (wide ? 16 * 16 * 2 : 12 * 8 * 2);
        g[r] = flops / (now() - t) / 1e9;
        c[r] = flops / (cpu_now() - tc) / 1e9 * threads;
    }
    qsort(g, 5, sizeof *g, cmp_double);
    qsort(c, 5, sizeof *c, cmp_double);
    *wall = g[2];
    *cpu = c[2];
}
#endif

static int cmd_peak(int threads) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    double wall, cpu;
    if (__builtin_cpu_supports("avx512f")) {
        peak(threads, 1, &wall, &cpu);
        printf("peak avx512 threads=%d gflops=%.1f cpu_gflops=%.1f\n", threads, wall, cpu);
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        peak(threads, 0, &wall, &cpu);
        printf("peak avx2 threads=%d gflops=%.1f cpu_gflops=%.1f\n", threads, wall, cpu);
    }
    return 0;
#else
    (void)threads;
    printf("peak unknown (not x86-64)\n");
    return 0;
#endif
}

/* ---- products ----------------------------------------------------------------------------- */

static int cmd_gemm(const char *lib, int threads, const char *dtname, int nshapes,
                    char **shapes) {
    /* bf16p: the --precision bf16 products (x rounded to bf16, bf16 W, sp_gemm_wt_bf16) */
    int bf16p = !strcmp(dtname, "bf16p");
    sp_dtype dt = !strcmp(dtname, "f16") ? SP_F16
                : !strcmp(dtname, "bf16") || bf16p ? SP_BF16 : SP_F32;
    int blas = !strcmp(lib, "openblas");
    if (bf16p && (blas || !sp_gemm_bf16_available())) {
        fprintf(stderr, "bench_gemm: bf16p needs sparsa on a CPU with AVX512_BF16\n");
        return 2;
    }
#ifndef SP_HAVE_OPENBLAS
    if (blas) {
        fprintf(stderr, "bench_gemm: built without OpenBLAS\n");
        return 2;
    }
#else
    if (blas) openblas_set_num_threads(threads);
#endif
    if (blas && dt != SP_F32) {
        fprintf(stderr, "bench_gemm: OpenBLAS takes f32 weights only\n");
        return 2;
    }
    omp_set_num_threads(threads);
    for (int s = 0; s < nshapes; s++) {
        size_t m, k, n;
        if (sscanf(shapes[s], "%zu,%zu,%zu", &m, &k, &n) != 3 || !m || !k || !n) {
            fprintf(stderr, "bench_gemm: bad shape '%s' (want M,K,N)\n", shapes[s]);
            return 2;
        }
        float *x = malloc(m * k * sizeof(float)), *y = malloc(m * n * sizeof(float));
        size_t esz = dt == SP_F32 ? 4 : 2;
        uint8_t *w = malloc(n * k * esz);
        if (!x || !y || !w) {
            fprintf(stderr, "bench_gemm: out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < m * k; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
        for (size_t i = 0; i < n * k; i++) {
            float v = (float)((i * 40503u) % 997) / 997.0f - 0.5f;
            if (dt == SP_F32) memcpy(w + 4 * i, &v, 4);
            else {
                uint16_t h = dt == SP_F16 ? sp_f32_to_f16(v) : sp_f32_to_bf16(v);
                memcpy(w + 2 * i, &h, 2);
            }
        }
        double flops = 2.0 * (double)m * (double)k * (double)n;
        /* Repetitions per sample: about 50 ms each. */
        int reps = (int)(0.05 * 100e9 / flops) + 1;
        double g[5], c[5];
        for (int r = -1; r < 5; r++) {
            double t = now(), tc = cpu_now();
            for (int q = 0; q < reps; q++) {
#ifdef SP_HAVE_OPENBLAS
                if (blas) {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k,
                                1.0f, x, (int)k, (const float *)w, (int)k, 0.0f, y, (int)n);
                    continue;
                }
#endif
                if (bf16p) sp_gemm_wt_bf16(x, m, k, (const uint16_t *)w, n, NULL, y);
                else sp_gemm_wt(x, m, k, w, dt, n, NULL, y);
            }
            if (r >= 0) {
                g[r] = flops * reps / (now() - t) / 1e9;
                c[r] = flops * reps / (cpu_now() - tc) / 1e9 * threads;
            }
        }
        qsort(g, 5, sizeof *g, cmp_double);
        qsort(c, 5, sizeof *c, cmp_double);
        printf("%s %s threads=%d m=%zu k=%zu n=%zu gflops=%.1f cpu_gflops=%.1f isa=%s\n",
               blas ? "openblas" : "sparsa", dtname, threads, m, k, n, g[2], c[2],
               blas ? "-" : bf16p ? sp_gemm_bf16_engine() : sp_gemm_isa());
        fflush(stdout);
        free(x);
        free(y);
        free(w);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "peak")) return cmd_peak(argc > 2 ? atoi(argv[2]) : 1);
    if (argc >= 5 && (!strcmp(argv[1], "sparsa") || !strcmp(argv[1], "openblas")))
        return cmd_gemm(argv[1], atoi(argv[2]), argv[3], argc - 4, argv + 4);
    fprintf(stderr,
            "usage: bench_gemm peak [THREADS]\n"
            "       bench_gemm sparsa|openblas THREADS f32|f16|bf16|bf16p M,K,N [M,K,N ...]\n");
    return 2;
}
