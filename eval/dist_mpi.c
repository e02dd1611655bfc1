/* dist_mpi.c — Open MPI loaded at run time (dist_mpi.h). The binary links no MPI library, so
 * a plain run needs none; under mpirun (the launcher's environment variables say so) libmpi
 * is opened with dlopen and the few calls used are resolved by name. Open MPI's predefined
 * handles (MPI_COMM_WORLD, MPI_BYTE, ...) are the addresses of global objects
 * (ompi_mpi_comm_world, ...), so they too come from dlsym; no mpi.h is needed to build. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "dist_mpi.h"

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

#define MSG_BYTES 512 /* one error line travels from a rank to rank 0 */

/* A cluster's own Open MPI build, when SPARSA_MPI_LIB names one. */
static const char *chosen_library(void) {
    const char *chosen = getenv("SPARSA_MPI_LIB");
    return chosen && *chosen ? chosen : NULL;
}

/* Open MPI's libmpi: the chosen one, else the soname of Debian's openmpi (3.x, 4.x, 5.x), then
 * the development link. RTLD_GLOBAL: Open MPI's own plugins resolve libmpi's symbols when it
 * loads them. */
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

int sp_mpi_load(sp_error *err) {
    if (mpi.lib) return SP_OK;
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

int sp_mpi_start(int *rank, int *size) {
    if (mpi.init(NULL, NULL) != 0) return SP_ERR_RUNTIME;
    mpi.comm_rank(mpi.world, rank);
    mpi.comm_size(mpi.world, size);
    return SP_OK;
}

int sp_mpi_agree(int rank, int size, int rc, sp_error *err) {
    int *codes = rank == 0 ? calloc((size_t)size, sizeof *codes) : NULL;
    char *msgs = rank == 0 ? calloc((size_t)size, MSG_BYTES) : NULL;
    char mine[MSG_BYTES] = {0};
    if (rc) snprintf(mine, sizeof mine, "%s", err->msg);
    if (rank == 0 && (!codes || !msgs)) abort(); /* the job cannot agree without memory */
    mpi.gather(&rc, 1, mpi.integer, codes, 1, mpi.integer, 0, mpi.world);
    mpi.gather(mine, MSG_BYTES, mpi.byte, msgs, MSG_BYTES, mpi.byte, 0, mpi.world);
    int agreed = rc;
    if (rank == 0) {
        agreed = 0;
        for (int r = 0; r < size && !agreed; r++) {
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

void sp_mpi_gather_bytes(int rank, int size, void *buf, const uint64_t *at) {
    /* Point to point, rank by rank, in pieces of at most CHUNK: rank 0 receives each rank's
     * bytes straight at their place; nothing is aliased and no count overflows an int. */
    if (rank != 0) {
        char *mine = (char *)buf + at[rank];
        uint64_t len = at[rank + 1] - at[rank];
        for (uint64_t off = 0; off < len; off += CHUNK) {
            uint64_t piece = len - off < CHUNK ? len - off : CHUNK;
            mpi.send(mine + off, (int)piece, mpi.byte, 0, TAG_SUMS, mpi.world);
        }
        return;
    }
    for (int r = 1; r < size; r++) {
        char *theirs = (char *)buf + at[r];
        uint64_t len = at[r + 1] - at[r];
        for (uint64_t off = 0; off < len; off += CHUNK) {
            uint64_t piece = len - off < CHUNK ? len - off : CHUNK;
            mpi.recv(theirs + off, (int)piece, mpi.byte, r, TAG_SUMS, mpi.world, NULL);
        }
    }
}

void sp_mpi_finish(void) {
    if (!mpi.lib || mpi.finished) return;
    mpi.finished = 1;
    mpi.finalize();
}
