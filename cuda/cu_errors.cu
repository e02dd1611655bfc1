/* cu_errors.cu — the CUDA module's one-line errors: CUDA runtime and cuBLAS statuses turned
 * into sp_error lines (SP_ERR_RUNTIME while running), and the choice of GPU, whose failures
 * are what the user can fix (SP_ERR_INPUT: no driver, no GPU, an index out of range). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cu_internal.h"

int cu_fail_cuda(sp_error *err, cudaError_t e, const char *what, size_t bytes) {
    cudaGetLastError();  /* clears a non-sticky error so later calls report their own */
    if (e == cudaErrorMemoryAllocation && bytes)
        return sp_fail(err, SP_ERR_RUNTIME, "CUDA: out of GPU memory allocating %zu bytes for %s",
                       bytes, what);
    return sp_fail(err, SP_ERR_RUNTIME, "CUDA: %s: %s", what, cudaGetErrorString(e));
}

int cu_fail_cublas(sp_error *err, cublasStatus_t st, const char *what) {
    const char *name = cublasGetStatusString(st);
    return sp_fail(err, SP_ERR_RUNTIME, "cuBLAS: %s: %s", what, name ? name : "unknown status");
}

/* cudaGetDeviceCount's failures that mean the machine has no usable driver. */
static int driver_missing(cudaError_t e) {
    return e == cudaErrorInsufficientDriver || e == cudaErrorInitializationError ||
           e == cudaErrorCompatNotSupportedOnDevice || e == cudaErrorSystemDriverMismatch ||
           e == cudaErrorStubLibrary || e == cudaErrorSystemNotReady;
}

int cu_select_device(const sp_bk_config *cfg, int *device, sp_error *err) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaErrorNoDevice || (e == cudaSuccess && count == 0))
        return sp_fail(err, SP_ERR_INPUT, "--device cuda: no CUDA GPU on this machine");
    if (driver_missing(e))
        return sp_fail(err, SP_ERR_INPUT, "--device cuda: no CUDA driver (%s)",
                       cudaGetErrorString(e));
    if (e != cudaSuccess)
        return sp_fail(err, SP_ERR_INPUT, "--device cuda: cannot use CUDA (%s)",
                       cudaGetErrorString(e));
    int d = cfg->device;
    if (cfg->device_wrap && d >= 0) d %= count;
    if (d < 0 || d >= count)
        return sp_fail(err, SP_ERR_INPUT, "--device cuda:%d: cuda:%d out of range (%d GPU%s)",
                       cfg->device, cfg->device, count, count == 1 ? "" : "s");
    if ((e = cudaSetDevice(d)) != cudaSuccess)
        return sp_fail(err, SP_ERR_INPUT, "--device cuda:%d: cannot use the GPU (%s)", d,
                       cudaGetErrorString(e));
    *device = d;
    return SP_OK;
}
