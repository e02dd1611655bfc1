/* backend_opts.c — the values of --device and --precision. sparsa runs on the cpu backend in
 * fp32 today; `cuda[:N]`, `tf32` and `bf16` are the names the CUDA backend and the bf16 paths
 * will take (DESIGN.md), so they are recognised and refused with a line saying why, not
 * reported as unknown. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "sparsa_common.h"

static int is_cuda_name(const char *v) {
    if (strncmp(v, "cuda", 4)) return 0;
    if (!v[4]) return 1;
    if (v[4] != ':' || !v[5]) return 0;
    for (const char *c = v + 5; *c; c++)
        if (!isdigit((unsigned char)*c)) return 0;
    return 1;
}

int cli_parse_device(const char *value, void *dest, char *why, size_t why_len) {
    if (!strcmp(value, "cpu")) {
        *(const char **)dest = value;
        return SP_OK;
    }
    if (is_cuda_name(value))
        snprintf(why, why_len, "--device %s: this sparsa has no CUDA backend; cpu is the only "
                 "device", value);
    else
        snprintf(why, why_len, "--device needs cpu or cuda[:N], not '%s'", value);
    return SP_ERR_INPUT;
}

int cli_parse_precision(const char *value, void *dest, char *why, size_t why_len) {
    if (!strcmp(value, "fp32")) {
        *(const char **)dest = value;
        return SP_OK;
    }
    if (!strcmp(value, "tf32") || !strcmp(value, "bf16"))
        snprintf(why, why_len, "--precision %s: the cpu backend computes in fp32 only", value);
    else
        snprintf(why, why_len, "--precision needs fp32, tf32 or bf16, not '%s'", value);
    return SP_ERR_INPUT;
}
