/* cu_weights.cu — weights onto the GPU, once per model: every tensor is copied as stored in
 * the file, then widened or narrowed on the device to the precision's type (fp32/tf32: f32,
 * where f16 and bf16 widen exactly; bf16: f32 rounds to bf16 to nearest even, bf16 and f16
 * stay as stored). Also the small f32 vectors (norm weights, biases, frequencies). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cu_internal.h"

int cu_alloc(void **p, size_t bytes, const char *what, sp_error *err) {
    *p = NULL;
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        *p = NULL;
        return cu_fail_cuda(err, e, what, bytes);
    }
    return SP_OK;
}

static size_t dtype_size(int dtype) { return dtype == CU_F32 ? 4 : 2; }

__global__ static void widen_half(const __half *x, float *y, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __half2float(x[i]);
}

__global__ static void widen_bf16(const __nv_bfloat16 *x, float *y, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __bfloat162float(x[i]);
}

__global__ static void narrow_bf16(const float *x, __nv_bfloat16 *y, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __float2bfloat16_rn(x[i]);
}

/* The device type a stored dtype becomes under prec. */
static int device_dtype(int stored, sp_precision prec) {
    if (prec != SP_PREC_BF16) return CU_F32;
    return stored == CU_F16 ? CU_F16 : CU_BF16;
}

/* raw (stored type, on the device) → out->data (out->dtype), count elements. */
static cudaError_t convert(const void *raw, int stored, cu_weight *out, size_t count) {
    unsigned blocks = cu_blocks(count);
    if (out->dtype == CU_F32 && stored == CU_F16)
        widen_half<<<blocks, CU_THREADS>>>((const __half *)raw, (float *)out->data, count);
    else if (out->dtype == CU_F32 && stored == CU_BF16)
        widen_bf16<<<blocks, CU_THREADS>>>((const __nv_bfloat16 *)raw, (float *)out->data, count);
    else if (out->dtype == CU_BF16 && stored == CU_F32)
        narrow_bf16<<<blocks, CU_THREADS>>>((const float *)raw, (__nv_bfloat16 *)out->data, count);
    cudaError_t e = cudaGetLastError();
    return e != cudaSuccess ? e : cudaDeviceSynchronize();
}

int cu_weight_upload(const sp_bk_tensor *t, sp_precision prec, cu_weight *out, sp_error *err) {
    *out = cu_weight{};
    if (!t->data) return SP_OK;
    if (t->dtype != CU_F32 && t->dtype != CU_F16 && t->dtype != CU_BF16)
        return sp_fail(err, SP_ERR_INPUT, "a weight has dtype %d, which the CUDA module does not "
                       "read", t->dtype);
    size_t count = (size_t)t->rows * (size_t)t->cols, stored_bytes = count * dtype_size(t->dtype);
    out->rows = t->rows;
    out->cols = t->cols;
    out->host = t->data;
    out->prec = (int)prec;
    out->dtype = device_dtype(t->dtype, prec);
    int rc = cu_alloc(&out->data, count * dtype_size(out->dtype), "weights", err);
    if (rc) return rc;
    void *raw = out->data;
    if (out->dtype != t->dtype && (rc = cu_alloc(&raw, stored_bytes, "weights", err))) {
        cu_weight_free(out);
        return rc;
    }
    cudaError_t e = cudaMemcpy(raw, t->data, stored_bytes, cudaMemcpyHostToDevice);
    if (e == cudaSuccess && raw != out->data) e = convert(raw, t->dtype, out, count);
    if (raw != out->data) cudaFree(raw);
    if (e != cudaSuccess) {
        cu_weight_free(out);
        return cu_fail_cuda(err, e, "uploading weights", 0);
    }
    return SP_OK;
}

int cu_weight_stack(cu_weight *a, cu_weight *b, cu_weight *out, sp_error *err) {
    *out = cu_weight{};
    if (a->dtype != b->dtype || a->cols != b->cols)
        return sp_fail(err, SP_ERR_RUNTIME, "internal: stacking unlike weights");
    size_t elem = dtype_size(a->dtype), ab = a->rows * a->cols * elem, bb = b->rows * b->cols * elem;
    int rc = cu_alloc(&out->data, ab + bb, "weights", err);
    if (rc) return rc;
    out->dtype = a->dtype;
    out->rows = a->rows + b->rows;
    out->cols = a->cols;
    out->prec = a->prec;  /* no host tensor: never shared */
    cudaError_t e = cudaMemcpy(out->data, a->data, ab, cudaMemcpyDeviceToDevice);
    if (e == cudaSuccess)
        e = cudaMemcpy((char *)out->data + ab, b->data, bb, cudaMemcpyDeviceToDevice);
    cu_weight_free(a);
    cu_weight_free(b);
    if (e != cudaSuccess) {
        cu_weight_free(out);
        return cu_fail_cuda(err, e, "stacking weights", 0);
    }
    return SP_OK;
}

int cu_model_weight(cu_model *cm, const sp_bk_tensor *t, sp_precision prec, cu_weight *out,
                    sp_error *err) {
    for (size_t i = 0; t->data && cm->dev && i < cm->m->n_ops; i++)
        for (int k = 0; k < 3; k++) {
            const cu_weight *w = &cm->dev[i].w[k];
            if (w->data && !w->borrowed && w->host == t->data && w->rows == t->rows &&
                w->cols == t->cols && w->prec == (int)prec) {
                *out = *w;
                out->borrowed = 1;
                return SP_OK;
            }
        }
    return cu_weight_upload(t, prec, out, err);
}

void cu_weight_free(cu_weight *w) {
    if (w->data && !w->borrowed) cudaFree(w->data);
    *w = cu_weight{};
}

int cu_floats_upload(const float *host, size_t n, float **out, sp_error *err) {
    *out = NULL;
    if (!host || !n) return SP_OK;
    int rc = cu_alloc((void **)out, n * sizeof(float), "parameters", err);
    if (rc) return rc;
    cudaError_t e = cudaMemcpy(*out, host, n * sizeof(float), cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
        cudaFree(*out);
        *out = NULL;
        return cu_fail_cuda(err, e, "uploading parameters", 0);
    }
    return SP_OK;
}
