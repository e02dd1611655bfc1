/* dist_mpi.h — private to eval/: Open MPI itself, loaded at run time (dist_mpi.c). Only the
 * process that talks to MPI calls these: under a launcher that is the small supervising
 * process of each rank (dist_supervise.c), never the process that runs the command. */
#ifndef SPARSA_EVAL_DIST_MPI_H
#define SPARSA_EVAL_DIST_MPI_H

#include <stdint.h>

#include "sparsa_common.h"

/* Loads libmpi (SPARSA_MPI_LIB, libmpi.so.40, libmpi.so) and resolves the calls used;
 * SP_ERR_INPUT naming what is missing. */
int sp_mpi_load(sp_error *err);
/* MPI_Init, then this process's rank and the world's size; non-zero when MPI_Init fails. */
int sp_mpi_start(int *rank, int *size);
/* Collective: every rank's status; all get the first non-zero one in rank order. On rank 0
 * err then holds that rank's message, "rank R: " first when R is not 0. */
int sp_mpi_agree(int rank, int size, int rc, sp_error *err);
/* Collective: every rank's bytes [at[rank], at[rank + 1]) of buf into buf on rank 0. */
void sp_mpi_gather_bytes(int rank, int size, void *buf, const uint64_t *at);
/* MPI_Finalize, once. */
void sp_mpi_finish(void);

#endif
