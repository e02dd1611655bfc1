/* tu_cuda.h — what the GPU attention tests share: a seeded generator of test values, bf16
 * rounding as the device does it, the visible skip without a GPU and a CUDA call check.
 * Include after <criterion/criterion.h> and <cuda_runtime.h>, with TU_CUDA_SEED defined to the
 * file's own seed (each file keeps its own data). */
#ifndef TU_CUDA_H
#define TU_CUDA_H

#include <stdint.h>
#include <string.h>

static uint64_t rng = TU_CUDA_SEED;
static float urand(void) { /* uniform in [-1, 1) */
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static float bf16_round(float x) { /* round to nearest even, as __float2bfloat16_rn */
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

static void need_gpu(void) {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        cr_skip_test("no CUDA device here (%s)",
                     e != cudaSuccess ? cudaGetErrorString(e) : "0 GPUs");
}

#define CK(x)                                                                              \
    do {                                                                                   \
        const cudaError_t e_ = (x);                                                        \
        cr_assert(e_ == cudaSuccess, "%s: %s", #x, cudaGetErrorString(e_));                \
    } while (0)

#endif
