/* cu_profile.cu — where a session's GPU time goes, by op kind, when SPARSA_CUDA_PROFILE is
 * set: the stream is drained after every op and the wall time charged to its kind (this
 * serialises the host with the GPU, so it is a diagnostic, never the default), and one line per
 * kind goes to stderr when the session ends; also the start-up's steps (the GPU's context,
 * the weights' upload, the session's stream, cuBLAS handle and buffers), one line each. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cu_internal.h"

static const char *const kind_names[CU_PROF_SLOTS] = {
    "other", "embed", "rmsnorm", "layernorm", "linear", "rope", "attention", "mlp", "add",
    "softcap", "scale", "scoring head"};

int cu_profile_enabled(void) {
    const char *e = getenv("SPARSA_CUDA_PROFILE");
    return e && *e && *e != '0';
}

double cu_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double cu_profile_now(const cu_session *s) {
    cudaStreamSynchronize(s->stream);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cu_profile_add(cu_session *s, int slot, double t0) {
    if (slot < 0 || slot >= CU_PROF_SLOTS) slot = 0;
    s->prof_seconds[slot] += cu_profile_now(s) - t0;
    s->prof_calls[slot]++;
}

void cu_profile_report(const cu_session *s) {
    double total = 0;
    for (int i = 0; i < CU_PROF_SLOTS; i++) total += s->prof_seconds[i];
    if (total <= 0) return;
    for (int i = 0; i < CU_PROF_SLOTS; i++)
        if (s->prof_calls[i])
            fprintf(stderr, "sparsa: cuda profile: %-12s %9.3f ms %5.1f%% (%llu launches)\n",
                    kind_names[i], 1e3 * s->prof_seconds[i], 100.0 * s->prof_seconds[i] / total,
                    (unsigned long long)s->prof_calls[i]);
}

void cu_profile_step(const char *what, double t0) {
    fprintf(stderr, "sparsa: cuda profile: %-28s %9.3f ms\n", what, 1e3 * (cu_clock() - t0));
}
