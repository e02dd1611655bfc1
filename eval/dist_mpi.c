/* dist_mpi.c — the MPI ranks of a run (sparsa_dist.h): Open MPI loaded at run time. The binary
 * links no MPI library, so a plain run needs none; under mpirun (the launcher's environment
 * variables say so) libmpi is opened with dlopen and the few calls used are resolved by name.
 * Open MPI's predefined handles (MPI_COMM_WORLD, MPI_DOUBLE, ...) are the addresses of global
 * objects (ompi_mpi_comm_world, ...), so they too come from dlsym; no mpi.h is needed to
 * build. Only rank 0 prints; a failure on any rank reaches rank 0 through sp_dist_agree. */
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_dist.h"

typedef void *mpi_handle; /* MPI_Comm, MPI_Datatype: pointers in Open MPI */

static struct {
    void *lib;
    int (*init)(int *, char ***);
    int (*comm_rank)(mpi_handle, int *);
    int (*comm_size)(mpi_handle, int *);
    int (*gather)(const void *, int, mpi_handle, void *, int, mpi_handle, int, mpi_handle);
    int (*send)(const void *, int, mpi_handle, int, int, mpi_handle);
    int (*recv)(void *, int, mpi_handle, int, int, mpi_handle, void *); /* NULL: no status */
    int (*bcast)(void *, int, mpi_handle, int, mpi_handle);
    int (*finalize)(void);
    mpi_handle world, byte, integer;
    int finished;
} mpi;

static sp_dist world = {0, 0, 1};

#define MSG_BYTES 512 /* one error line travels from a rank to rank 0 */

int sp_dist_launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

/* Open MPI's libmpi: SPARSA_MPI_LIB when set, else the soname of Debian's openmpi (3.x, 4.x,
 * 5.x), then the development link. RTLD_GLOBAL: Open MPI's own plugins resolve libmpi's symbols when it loads them. */
static const char *chosen_library(void) {
    const char *chosen = getenv("SPARSA_MPI_LIB"); /* a cluster's own Open MPI build */
    return chosen && *chosen ? chosen : NULL;
}

static void *open_library(void) {
    if (chosen_library()) return dlopen(chosen_library(), RTLD_NOW | RTLD_GLOBAL);
    static const char *const names[] = {"libmpi.so.40", "libmpi.so", NULL};
    for (int i = 0; names[i]; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
        if (h) return h;
    }
    return NULL;
}

static int resolve(void **slot, const char *name, sp_error *err) {
    *slot = dlsym(mpi.lib, name);
    if (*slot) return SP_OK;
    return sp_fail(err, SP_ERR_INPUT, "started by mpirun, but the MPI library lacks %s (sparsa "
                   "needs Open MPI's libmpi.so.40)", name);
}

static int load(sp_error *err) {
    mpi.lib = open_library();
    if (!mpi.lib)
        return sp_fail(err, SP_ERR_INPUT, "started by mpirun, but Open MPI's library %s cannot "
                       "be loaded (install openmpi-bin and libopenmpi-dev, or set SPARSA_MPI_LIB)",
                       chosen_library() ? chosen_library() : "libmpi.so.40");
    struct { void **slot; const char *name; } want[] = {
        {(void **)&mpi.init, "MPI_Init"}, {(void **)&mpi.comm_rank, "MPI_Comm_rank"},
        {(void **)&mpi.comm_size, "MPI_Comm_size"}, {(void **)&mpi.gather, "MPI_Gather"},
        {(void **)&mpi.send, "MPI_Send"},
        {(void **)&mpi.recv, "MPI_Recv"}, {(void **)&mpi.bcast, "MPI_Bcast"},
        {(void **)&mpi.finalize, "MPI_Finalize"}, {&mpi.world, "ompi_mpi_comm_world"},
        {&mpi.byte, "ompi_mpi_byte"},
        {&mpi.integer, "ompi_mpi_int"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (resolve(want[i].slot, want[i].name, err)) return SP_ERR_INPUT;
    return SP_OK;
}

int sp_dist_init(sp_dist *d, sp_error *err) {
    memset(d, 0, sizeof *d);
    d->size = 1;
    if (world.mpi) { /* a command that asks again (the CLI before eval's run): the same world */
        *d = world;
        return SP_OK;
    }
    if (!sp_dist_launched()) return SP_OK;
    if (!mpi.lib && load(err)) return SP_ERR_INPUT;
    if (mpi.init(NULL, NULL) != 0) return sp_fail(err, SP_ERR_RUNTIME, "MPI_Init failed");
    mpi.comm_rank(mpi.world, &d->rank);
    mpi.comm_size(mpi.world, &d->size);
    d->mpi = 1;
    world = *d;
    return SP_OK;
}

const sp_dist *sp_dist_world(void) { return &world; }

int sp_dist_agree(const sp_dist *d, int rc, sp_error *err) {
    if (!d->mpi || d->size == 1) return rc;
    int n = d->size;
    int *codes = d->rank == 0 ? calloc((size_t)n, sizeof *codes) : NULL;
    char *msgs = d->rank == 0 ? calloc((size_t)n, MSG_BYTES) : NULL;
    char mine[MSG_BYTES] = {0};
    if (rc) snprintf(mine, sizeof mine, "%s", err->msg);
    if (d->rank == 0 && (!codes || !msgs)) abort(); /* the job cannot agree without memory */
    mpi.gather(&rc, 1, mpi.integer, codes, 1, mpi.integer, 0, mpi.world);
    mpi.gather(mine, MSG_BYTES, mpi.byte, msgs, MSG_BYTES, mpi.byte, 0, mpi.world);
    int agreed = rc;
    if (d->rank == 0) {
        agreed = 0;
        for (int r = 0; r < n && !agreed; r++) {
            if (!codes[r]) continue;
            agreed = codes[r];
            if (r != 0)
                sp_fail(err, agreed, "rank %d: %.*s", r, MSG_BYTES - 1, msgs + (size_t)r * MSG_BYTES);
        }
    }
    free(codes);
    free(msgs);
    mpi.bcast(&agreed, 1, mpi.integer, 0, mpi.world);
    return agreed;
}

#define CHUNK ((uint64_t)1 << 30) /* bytes per message: a count MPI takes as int */
#define TAG_SUMS 18

int sp_dist_gather_bytes(const sp_dist *d, void *buf, const uint64_t *at, sp_error *err) {
    (void)err;
    if (!d->mpi || d->size == 1) return SP_OK;
    /* Point to point, rank by rank, in pieces of at most CHUNK: rank 0 receives each rank's
     * bytes straight at their place; nothing is aliased and no count overflows an int. */
    if (d->rank != 0) {
        char *mine = (char *)buf + at[d->rank];
        uint64_t len = at[d->rank + 1] - at[d->rank];
        for (uint64_t off = 0; off < len; off += CHUNK) {
            uint64_t piece = len - off < CHUNK ? len - off : CHUNK;
            mpi.send(mine + off, (int)piece, mpi.byte, 0, TAG_SUMS, mpi.world);
        }
        return SP_OK;
    }
    for (int r = 1; r < d->size; r++) {
        char *theirs = (char *)buf + at[r];
        uint64_t len = at[r + 1] - at[r];
        for (uint64_t off = 0; off < len; off += CHUNK) {
            uint64_t piece = len - off < CHUNK ? len - off : CHUNK;
            mpi.recv(theirs + off, (int)piece, mpi.byte, r, TAG_SUMS, mpi.world, NULL);
        }
    }
    return SP_OK;
}

void sp_dist_finish(sp_dist *d) {
    if (!d->mpi || mpi.finished) return;
    mpi.finished = 1;
    mpi.finalize();
}
