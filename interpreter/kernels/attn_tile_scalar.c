/* attn_tile_scalar.c — the portable back end of attn_tile.h: plain C loops, one multiply and
 * one add per step (the build never contracts them), in the order attn_tile.h fixes. */
#include "attn_tile.h"

#define L SP_ATTN_LANES

static void qk_scalar(const float *qT, const float *k, size_t kstride, int d, int nkeys,
                      float *sT) {
    for (int j = 0; j < nkeys; j++) {
        const float *kj = k + (size_t)j * kstride;
        float acc[L] = {0};
        for (int p = 0; p < d; p++)
            for (int l = 0; l < L; l++) acc[l] = acc[l] + kj[p] * qT[p * L + l];
        for (int l = 0; l < L; l++) sT[j * L + l] = acc[l];
    }
}

static void qk_row_scalar(const float *q, const float *k, size_t kstride, int d, int nkeys,
                          float *s) {
    for (int j = 0; j < nkeys; j++) {
        float acc = 0.0f;
        for (int p = 0; p < d; p++) acc = acc + k[(size_t)j * kstride + p] * q[p];
        s[j] = acc;
    }
}

static void pv_scalar(const float *pT, const float *v, size_t vstride, int dv, int nkeys,
                      const float *alpha, float *oT) {
    for (int c = 0; c < dv; c++) {
        float *o = oT + (size_t)c * L;
        if (alpha)
            for (int l = 0; l < L; l++) o[l] = o[l] * alpha[l];
        for (int j = 0; j < nkeys; j++) {
            const float vj = v[(size_t)j * vstride + c];
            for (int l = 0; l < L; l++) /* weight 0 adds nothing, even for a NaN value */
                if (pT[j * L + l] != 0.0f) o[l] = o[l] + vj * pT[j * L + l];
        }
    }
}

static void pv_row_scalar(const float *p, const float *v, size_t vstride, int dv, int nkeys,
                          const float *alpha, float *o) {
    if (alpha)
        for (int c = 0; c < dv; c++) o[c] = o[c] * alpha[0];
    for (int j = 0; j < nkeys; j++)
        if (p[j] != 0.0f)
            for (int c = 0; c < dv; c++) o[c] = o[c] + v[(size_t)j * vstride + c] * p[j];
}

const sp_attn_tile_kernels sp_attn_tile_scalar = {
    .name = "scalar", .qk = qk_scalar, .qk_row = qk_row_scalar, .pv = pv_scalar, .pv_row = pv_row_scalar,
};
