/* attention_bench.cu — the CUDA attention kernels' forward time: batch 1, 12 heads, head dim 64,
 * causal, bf16 (tensor cores, bf16 KV cache), at 4k, 16k and 64k tokens, for softmax,
 * entmax-1.5, sparsemax and ASEntmax (entmax-1.5 with a per-row query scale 1 + 0.5·√log(i+2)
 * and NAPE: ALiBi slopes 1, 1/2, … on the first half of the heads, NoPE on the rest).
 * q, k, v are standard normal values rounded to bf16, made on the device (scores of standard
 * deviation about 1 at scale 1/√d).
 *
 * Usage: attention_bench [N …] (default 4096 16384 65536); env BENCH_NORMS limits the
 * normalisers (comma list of softmax, entmax15, sparsemax, asentmax), BENCH_D sets the head
 * dim (default 64).
 *
 * Output: one line per (normaliser, length), fields separated by single spaces, key=value:
 *   attn norm=<name> n=<tokens> heads=12 d=64 precision=bf16 ms=<median ms> tflops=<T>
 *        skipped=<fraction of (row, 64-key tile) pairs with a visible key skipped>
 *        support=<mean keys with p > 0 per row> [pass1_ms=… pass2_ms=… out_ms=… (the entmax
 *        pipeline's steps: maxima and thresholds, lists, τ and the output over the support)
 *        listed=<mean list length per row> overflow=<rows over the list's capacity>]
 *        fp32_ms=<the fp32 kernel's time (CUDA cores, f32 cache)>
 *        err=<max |o_bf16 − o_fp32| / max(1, |o_fp32|) against the fp32 kernel on the same
 *            bf16-valued inputs>
 *        [softmax: generic_ms=… generic_err=… (the generic tile kernel, the fast path off);
 *         BENCH_VARIANTS=<letters>: those of the listed kernels instead, flash_<v>_ms=…
 *         flash_<v>_err=… for a kernel v of the fast path (cuda/cu_attn_flash.h)]
 *        [entmax, BENCH_PASSES=<v,…>: pass_<v>_ms=… pass_<v>_err=… and pass_<v>_ the steps'
 *         fields above, with SPARSA_CUDA_ENTMAX_PASS=v (the two QK-only passes' kernels)]
 * TFLOP/s counts 4·n²·d·H/2 (the causal half of QKᵀ and PV), as FlashAttention's benchmarks
 * do, whatever the kernel skipped. Exit status 1 if a CUDA call fails.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cu_attn_internal.h"

#define CK(x)                                                                               \
    do {                                                                                    \
        cudaError_t e_ = (x);                                                               \
        if (e_ != cudaSuccess) {                                                            \
            fprintf(stderr, "attention_bench: %s: %s\n", #x, cudaGetErrorString(e_));       \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

/* x[i] standard normal (Box-Muller on a hash of i and the seed), rounded to bf16 so that the
 * bf16 and the fp32 kernel see the same inputs (as a bf16 model's q, k, v are): made on the
 * device, so the host spends no time on them. */
__global__ void fill_normal(float *x, size_t n, unsigned long long seed) {
    const size_t step = (size_t)gridDim.x * blockDim.x;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += step) {
        unsigned long long z = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        const double u = ((z >> 40) + 0.5) / 16777216.0, v = ((z & 0xffffff) + 0.5) / 16777216.0;
        const float nz = (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
        x[i] = __bfloat162float(__float2bfloat16_rn(nz));
    }
}

struct bench_case {
    const char *name, *norm;
    float alpha;
    int asentmax;
};

static float time_ms(cudaEvent_t a, cudaEvent_t b) {
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    return ms;
}

/* Median time of reps calls of cu_attention_forward. */
static float time_forward(const cu_attn_call *c, int reps) {
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    std::vector<float> t;
    CK(cu_attention_forward(c)); /* warm-up */
    for (int r = 0; r < reps; r++) {
        CK(cudaEventRecord(a));
        CK(cu_attention_forward(c));
        CK(cudaEventRecord(b));
        CK(cudaEventSynchronize(b));
        t.push_back(time_ms(a, b));
    }
    std::sort(t.begin(), t.end());
    cudaEventDestroy(a), cudaEventDestroy(b);
    return t[t.size() / 2];
}

/* The entmax steps timed one by one, and the candidate counts of the gather pass. */
static void entmax_phases(const cu_attn_call *c, const char *tag) {
    float ms[3];
    double listed = 0;
    long over = 0;
    CK(cu_attn_entmax_profile(c, ms, &listed, &over));
    printf(" %spass1_ms=%.3f %spass2_ms=%.3f %sout_ms=%.3f %slisted=%.1f %soverflow=%ld", tag,
           ms[0], tag, ms[1], tag, ms[2], tag, listed, tag, over);
}

/* Largest |x − ref| / max(1, |ref|) of the device output x against the host reference ref
 * (NaN if any is NaN). */
static double max_err(const float *x, const std::vector<float> &ref) {
    std::vector<float> a(ref.size());
    CK(cudaMemcpy(a.data(), x, a.size() * 4, cudaMemcpyDeviceToHost));
    double err = 0;
    for (size_t i = 0; i < a.size(); i++) {
        const double e = fabs((double)a[i] - ref[i]) / fmax(1.0, fabs((double)ref[i]));
        err = e > err || e != e ? e : err;
    }
    return err;
}

/* Entmax: the times, steps and errors of the passes' kernels that BENCH_PASSES lists (comma
 * list of SPARSA_CUDA_ENTMAX_PASS values, cu_attn_ent_bf16.cu: s = mma.sync, a|b|c = Hopper
 * variants, …w = Hopper also with ALiBi), fields prefixed pass_<value>_. */
static void entmax_variants(const cu_attn_call *c, int reps, const std::vector<float> &ref) {
    const char *prev = getenv("SPARSA_CUDA_ENTMAX_PASS"), *list = getenv("BENCH_PASSES");
    std::string names = list ? list : "";
    while (!names.empty()) {
        const size_t cut = names.find(',');
        const std::string v = names.substr(0, cut);
        names = cut == std::string::npos ? "" : names.substr(cut + 1);
        setenv("SPARSA_CUDA_ENTMAX_PASS", v.c_str(), 1);
        cudaMemset(c->out, 0xff, ref.size() * 4);
        CK(cu_attention_forward(c));
        CK(cudaDeviceSynchronize());
        const std::string tag = "pass_" + v + "_";
        printf(" %sms=%.4f %serr=%.3g", tag.c_str(), time_forward(c, reps), tag.c_str(),
               max_err(c->out, ref));
        entmax_phases(c, tag.c_str());
        fflush(stdout);
    }
    if (prev) setenv("SPARSA_CUDA_ENTMAX_PASS", prev, 1);
    else unsetenv("SPARSA_CUDA_ENTMAX_PASS");
}

/* Softmax: the generic bf16 tile kernel's time (the fast path off), or those of the kernels
 * BENCH_VARIANTS lists (SPARSA_CUDA_FLASH values: 0 = generic, a|b|c|w… the fast path's
 * kernels, cuda/cu_attn_flash.h), each with its error against ref. */
static void softmax_variants(const cu_attn_call *c, int reps, const std::vector<float> &ref) {
    const char *prev = getenv("SPARSA_CUDA_FLASH"), *list = getenv("BENCH_VARIANTS");
    const std::string names = list ? list : "0";
    for (size_t i = 0; i < names.size(); i++) {
        const char name[2] = {names[i], 0};
        setenv("SPARSA_CUDA_FLASH", name, 1);
        cudaMemset(c->out, 0xff, ref.size() * 4);
        const cudaError_t e = cu_attention_forward(c);
        if (e != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess) {
            printf(" flash_%s=\"%s\"", name, cudaGetErrorString(e));
            cudaGetLastError();
            break; /* a trap leaves the context unusable */
        }
        const double err = max_err(c->out, ref);
        const float ms = time_forward(c, reps);
        if (name[0] == '0') printf(" generic_ms=%.4f generic_err=%.3g", ms, err);
        else printf(" flash_%s_ms=%.4f flash_%s_err=%.3g", name, ms, name, err);
        fflush(stdout);
    }
    if (prev) setenv("SPARSA_CUDA_FLASH", prev, 1);
    else unsetenv("SPARSA_CUDA_FLASH");
}

static void run(const bench_case &bc, int n, int d, const float *dq, const float *dk,
                const float *dv, const float *dqs, const float *dsl, void *ws) {
    const int H = 12;
    sp_bk_attention p;
    memset(&p, 0, sizeof p);
    p.heads = H, p.kv_heads = H, p.head_dim = d, p.value_dim = d;
    p.scale = 1.0f / sqrtf((float)d), p.causal = 1, p.normalizer = bc.norm, p.alpha = bc.alpha;
    cu_kv kv16, kv32;
    CK(cu_kv_alloc(&kv16, &p, n, 1));
    CK(cu_kv_alloc(&kv32, &p, n, 0));
    CK(cu_kv_append(&kv16, dk, dv, 0, n, 0));
    CK(cu_kv_append(&kv32, dk, dv, 0, n, 0));
    float *out16, *out32;
    cu_attn_stats *st;
    CK(cudaMalloc(&out16, (size_t)n * H * d * 4));
    CK(cudaMalloc(&out32, (size_t)n * H * d * 4));
    CK(cudaMalloc(&st, H * sizeof *st));
    cu_attn_call c = {&p, bc.asentmax ? dsl : NULL, dq, bc.asentmax ? dqs : NULL, &kv16, 0,
                      (size_t)n, (size_t)n, out16, st, SP_PREC_BF16, ws, 0};
    const int reps = n <= 4096 ? 20 : n <= 16384 ? 10 : 5;
    CK(cudaMemset(st, 0, H * sizeof *st));
    CK(cu_attention_forward(&c)); /* the statistics (softmax: on the generic kernel) */
    std::vector<cu_attn_stats> hs(H);
    CK(cudaMemcpy(hs.data(), st, H * sizeof *st, cudaMemcpyDeviceToHost));
    c.stats = NULL;
    const float ms = time_forward(&c, reps);
    double tiles = 0, skipped = 0, support = 0, rows = 0;
    for (auto &s : hs)
        tiles += s.tiles, skipped += s.tiles_skipped, support += s.support, rows += s.rows;
    const double flops = 4.0 * n * (double)n * d * H / 2.0;
    printf("attn norm=%s n=%d heads=%d d=%d precision=bf16 ms=%.4f tflops=%.1f skipped=%.4f "
           "support=%.1f", bc.name, n, H, d, ms, flops / (ms * 1e-3) / 1e12,
           tiles > 0 ? skipped / tiles : 0.0, support / rows);
    if (strcmp(bc.norm, "softmax")) entmax_phases(&c, "");
    cu_attn_call c32 = c;
    c32.kv = &kv32, c32.out = out32, c32.precision = SP_PREC_FP32;
    printf(" fp32_ms=%.3f", time_forward(&c32, 1));
    std::vector<float> ref((size_t)n * H * d);
    CK(cudaMemcpy(ref.data(), out32, ref.size() * 4, cudaMemcpyDeviceToHost));
    printf(" err=%.3g", max_err(out16, ref));
    if (!strcmp(bc.norm, "softmax")) softmax_variants(&c, reps, ref);
    else entmax_variants(&c, reps, ref);
    printf("\n");
    fflush(stdout);
    cudaFree(out16), cudaFree(out32), cudaFree(st);
    cu_kv_free(&kv16), cu_kv_free(&kv32);
}

int main(int argc, char **argv) {
    std::vector<int> ns;
    for (int i = 1; i < argc; i++) ns.push_back(atoi(argv[i]));
    if (ns.empty()) ns = {4096, 16384, 65536};
    const bench_case cases[] = {{"softmax", "softmax", 0, 0},
                                {"entmax15", "entmax", 1.5f, 0},
                                {"sparsemax", "sparsemax", 2.0f, 0},
                                {"asentmax", "entmax", 1.5f, 1}};
    const char *only = getenv("BENCH_NORMS");
    const int H = 12, d = getenv("BENCH_D") ? atoi(getenv("BENCH_D")) : 64;
    const int nmax = *std::max_element(ns.begin(), ns.end());
    const size_t nel = (size_t)nmax * H * d;
    std::vector<float> qs((size_t)nmax * H), sl(H);
    for (int i = 0; i < nmax; i++)
        for (int h = 0; h < H; h++)
            qs[(size_t)i * H + h] = 1.0f + 0.5f * sqrtf(logf((float)i + 2.0f));
    for (int h = 0; h < H; h++) sl[h] = h < H / 2 ? 1.0f / (float)(1 << h) : 0.0f;
    float *dq, *dk, *dv, *dqs, *dsl;
    CK(cudaMalloc(&dq, nel * 4));
    CK(cudaMalloc(&dk, nel * 4));
    CK(cudaMalloc(&dv, nel * 4));
    CK(cudaMalloc(&dqs, qs.size() * 4));
    CK(cudaMalloc(&dsl, H * 4));
    fill_normal<<<1024, 256>>>(dq, nel, 1);
    fill_normal<<<1024, 256>>>(dk, nel, 2);
    fill_normal<<<1024, 256>>>(dv, nel, 3);
    CK(cudaGetLastError());
    CK(cudaMemcpy(dqs, qs.data(), qs.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dsl, sl.data(), H * 4, cudaMemcpyHostToDevice));
    sp_bk_attention p;
    memset(&p, 0, sizeof p);
    p.heads = H, p.kv_heads = H, p.head_dim = d, p.value_dim = d;
    p.normalizer = "entmax", p.alpha = 1.5f;
    void *ws;
    /* the bf16 and the fp32 entmax pipelines lay out their workspaces differently */
    const size_t wb = cu_attention_workspace(&p, nmax, nmax, SP_PREC_BF16);
    const size_t wf = cu_attention_workspace(&p, nmax, nmax, SP_PREC_FP32);
    CK(cudaMalloc(&ws, wb > wf ? wb : wf));
    for (int n : ns)
        for (const bench_case &bc : cases)
            if (!only || strstr(only, bc.name)) run(bc, n, d, dq, dk, dv, dqs, dsl, ws);
    return 0;
}
