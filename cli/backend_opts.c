/* backend_opts.c — the values of --device and --precision (docs/ARCHITECTURE.md, "Backends").
 * Both set the process default of the interpreter (sp_set_default_device), so every model a
 * command opens runs there, whichever eval code opens it. The combination is checked when a
 * model is opened: the cpu computes in fp32 (bf16 with AVX512_BF16), and `cuda[:N]` needs the CUDA module, a
 * driver and a GPU (each missing piece is one line, exit 2). */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "sparsa_backend.h"
#include "sparsa_common.h"
#include "sparsa_interp.h"

static const char *chosen_device;
static int chosen_precision = SP_PREC_FP32;

int cli_parse_device(const char *value, void *dest, char *why, size_t why_len) {
    if (!sp_device_name_ok(value)) {
        snprintf(why, why_len, "--device needs cpu or cuda[:N], not '%s'", value);
        return SP_ERR_INPUT;
    }
    *(const char **)dest = value;
    chosen_device = value;
    sp_set_default_device(chosen_device, chosen_precision);
    return SP_OK;
}

int cli_parse_precision(const char *value, void *dest, char *why, size_t why_len) {
    for (int p = SP_PREC_FP32; p <= SP_PREC_BF16; p++)
        if (!strcmp(value, sp_precision_name(p))) {
            *(const char **)dest = value;
            chosen_precision = p;
            sp_set_default_device(chosen_device, chosen_precision);
            return SP_OK;
        }
    snprintf(why, why_len, "--precision needs fp32, tf32 or bf16, not '%s'", value);
    return SP_ERR_INPUT;
}
