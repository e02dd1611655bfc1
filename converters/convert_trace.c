/* convert_trace.c — the timeline of one conversion, for measuring it: with SPARSA_CONVERT_TRACE
 * set in the environment, each step's moment (CLOCK_MONOTONIC, the clock a parent process can
 * read too, so it can place them after its own start) is recorded by whichever thread reaches
 * it, and all are printed on stderr when the conversion ends, one "convert-trace SECONDS STEP"
 * line each (bench/convert_speed.py --timeline reads them). Unset, nothing is recorded. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "convert_internal.h"

enum { MAX_STEPS = 64 };

static int tracing;
static atomic_int n_steps;
static struct {
    const char *step;
    double at;
} steps[MAX_STEPS];

void conv_trace_start(void) {
    const char *v = getenv("SPARSA_CONVERT_TRACE");
    tracing = v && *v && *v != '0';
    atomic_store(&n_steps, 0);
    conv_trace("sp_convert");
}

void conv_trace(const char *step) {
    if (!tracing) return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const int i = atomic_fetch_add(&n_steps, 1);
    if (i >= MAX_STEPS) return;
    steps[i].step = step;
    steps[i].at = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void conv_trace_print(void) {
    conv_trace("sp_convert returns");
    const int n = atomic_load(&n_steps);
    for (int i = 0; tracing && i < n && i < MAX_STEPS; i++)
        fprintf(stderr, "convert-trace %.6f %s\n", steps[i].at, steps[i].step);
}
