/* backend_module.c — finding, loading and attaching a backend module (docs/ARCHITECTURE.md,
 * "Backends"). The `sparsa` binary links no GPU library: `--device cuda[:N]` loads
 * libsparsa-cuda.so with dlopen, from (first found) $SPARSA_CUDA_MODULE, the folder of the
 * running executable, ../lib/sparsa/ beside it, then the dynamic linker's default search.
 * Every way this can fail is one line naming what is missing, SP_ERR_INPUT (exit 2). */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interp_internal.h"

#define CUDA_MODULE "libsparsa-cuda.so"

/* The local rank a launcher gives this process (Open MPI, then Slurm), or 0. */
static int local_rank(void) {
    const char *names[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v >= '0' && *v <= '9' && strlen(v) < 6) return atoi(v);
    }
    return 0;
}

/* "cuda" → the local rank (wrapped over the GPUs by the module), "cuda:N" → N; -1 for
 * anything else. */
static int cuda_index(const char *device, int *wrap) {
    *wrap = 0;
    if (strncmp(device, "cuda", 4)) return -1;
    if (!device[4]) {
        *wrap = 1;
        return local_rank();
    }
    if (device[4] != ':' || !device[5] || strlen(device + 5) > 4) return -1;
    for (const char *c = device + 5; *c; c++)
        if (*c < '0' || *c > '9') return -1;
    return atoi(device + 5);
}

/* The folder of the running executable, with a trailing '/', or "" when unknown. */
static void exe_folder(char *out, size_t cap) {
    out[0] = 0;
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) return;
    path[n] = 0;
    char *slash = strrchr(path, '/');
    if (!slash) return;
    slash[1] = 0;
    snprintf(out, cap, "%s", path);
}

/* dlopen of the first candidate that exists; why: the loader's message for the last failure. */
static void *open_module(char *why, size_t why_len) {
    const char *env = getenv("SPARSA_CUDA_MODULE");
    char dir[PATH_MAX], cand[3][PATH_MAX + 32];
    size_t nc = 0;
    if (env && *env) {
        snprintf(cand[nc++], sizeof cand[0], "%s", env);
    } else {
        exe_folder(dir, sizeof dir);
        if (dir[0]) {
            snprintf(cand[nc++], sizeof cand[0], "%s%s", dir, CUDA_MODULE);
            snprintf(cand[nc++], sizeof cand[0], "%s../lib/sparsa/%s", dir, CUDA_MODULE);
        }
        snprintf(cand[nc++], sizeof cand[0], "%s", CUDA_MODULE);
    }
    snprintf(why, why_len, "%.300s was not found (build it with `make cuda`)",
             env && *env ? env : CUDA_MODULE);
    for (size_t i = 0; i < nc; i++) {
        int is_path = strchr(cand[i], '/') != NULL;
        if (is_path && access(cand[i], F_OK) != 0) continue;
        void *h = dlopen(cand[i], RTLD_NOW | RTLD_LOCAL);
        if (h) return h;
        const char *e = dlerror();
        if (is_path || (e && !strstr(e, CUDA_MODULE ": cannot open")))
            snprintf(why, why_len, "cannot load %.300s: %.300s", cand[i], e ? e : "unknown error");
    }
    return NULL;
}

int sp_device_name_ok(const char *device) {
    int wrap;
    return !strcmp(device, "cpu") || cuda_index(device, &wrap) >= 0;
}

static int load_vtable(sp_backend_ref *r, const char *device, sp_error *err) {
    char why[768];
    r->dl = open_module(why, sizeof why);
    if (!r->dl) return sp_fail(err, SP_ERR_INPUT, "--device %s: no CUDA module: %s", device, why);
    sp_backend_entry_fn entry;
    void *sym = dlsym(r->dl, SP_BACKEND_ENTRY);
    memcpy(&entry, &sym, sizeof entry);  /* object → function pointer, as POSIX allows */
    r->vt = entry ? entry() : NULL;
    if (!r->vt || r->vt->abi != SP_BACKEND_ABI)
        return sp_fail(err, SP_ERR_INPUT, "--device %s: the CUDA module was built for another "
                       "sparsa (backend ABI %d, this sparsa %d)", device, r->vt ? r->vt->abi : -1,
                       SP_BACKEND_ABI);
    return SP_OK;
}

int sp_backend_attach(sp_model *m, const char *device, int precision, sp_error *err) {
    int wrap;
    int index = cuda_index(device, &wrap);
    if (index < 0)
        return sp_fail(err, SP_ERR_INPUT, "--device needs cpu or cuda[:N], not '%s'", device);
    sp_backend_ref *r = calloc(1, sizeof *r);
    if (!r) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    m->backend = r;
    snprintf(r->device, sizeof r->device, wrap ? "cuda" : "cuda:%d", index);
    int rc = sp_backend_lower(m, r, err);
    if (!rc) rc = load_vtable(r, device, err);
    if (rc) return rc;
    sp_bk_config cfg = {.device = index, .device_wrap = wrap, .precision = (sp_precision)precision,
                        .verbose = getenv("SPARSA_VERBOSE") != NULL};
    return r->vt->open_model(&r->desc, &cfg, &r->model, err);
}

void sp_backend_detach(sp_model *m) {
    sp_backend_ref *r = m->backend;
    if (!r) return;
    if (r->model) r->vt->free_model(r->model);
    /* The module stays loaded: CUDA's runtime does not support being unloaded while the
     * process lives on, and a later open may need it again. */
    free(r->ops);
    free(r->values);
    free(r);
    m->backend = NULL;
}
