/* dist_world.c — the MPI ranks of a run as the command sees them (sparsa_dist.h). Run plainly,
 * rank 0 of 1 and nothing loaded. Under a launcher, the MPI library is loaded, then the
 * process forks (dist_link.h): the parent, which mpirun watches, talks to MPI
 * (dist_supervise.c); this side runs the command and sends each collective call to it over a
 * socket pair. If the parent dies, the kernel sends this side SIGTERM (its temporaries go). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "dist_link.h"
#include "dist_mpi.h"
#include "sparsa_dist.h"

static sp_dist world = {0, 0, 1};
static int link_fd = -1, finished;

int sp_dist_launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

static int link_lost(const sp_dist *d, sp_error *err) {
    return sp_fail(err, SP_ERR_RUNTIME, "rank %d lost its MPI process", d->rank);
}

/* Forks: the parent serves MPI for good; the child comes back with its rank and size. */
static int split_process(sp_dist *d, sp_error *err) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        return sp_fail(err, SP_ERR_RUNTIME, "cannot create the rank's socket pair");
    fflush(NULL);
    sp_cleanup_share(); /* the parent removes the temporaries of a child killed by SIGKILL */
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) return sp_fail(err, SP_ERR_RUNTIME, "cannot fork the rank's process");
    if (pid > 0) {
        close(sv[1]);
        sp_dist_serve(sv[0], pid);
    }
    close(sv[0]);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) raise(SIGTERM); /* the parent died before prctl */
    link_fd = sv[1];
    link_hello h;
    if (!link_recv(link_fd, &h, sizeof h)) return link_lost(d, err);
    if (h.rc) return sp_fail(err, SP_ERR_RUNTIME, "MPI_Init failed");
    d->mpi = 1;
    d->rank = h.rank;
    d->size = h.size;
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
    int rc = sp_mpi_load(err);
    if (!rc) rc = split_process(d, err);
    if (!rc) world = *d;
    return rc;
}

const sp_dist *sp_dist_world(void) { return &world; }

static int agree(const sp_dist *d, int rc, int then_gather, sp_error *err) {
    if (!d->mpi || d->size == 1) return rc;
    link_request q = {LINK_AGREE, rc, (uint64_t)then_gather, {0}};
    if (rc) snprintf(q.msg, sizeof q.msg, "%s", err->msg);
    link_reply a;
    if (!link_send(link_fd, &q, sizeof q) || !link_recv(link_fd, &a, sizeof a))
        return link_lost(d, err);
    if (a.rc && d->rank == 0) { /* the first failure in rank order, "rank R: " before it */
        err->code = a.rc;
        memcpy(err->msg, a.msg, sizeof err->msg);
        err->msg[sizeof err->msg - 1] = 0;
    }
    return a.rc;
}

int sp_dist_agree(const sp_dist *d, int rc, sp_error *err) { return agree(d, rc, 0, err); }

int sp_dist_agree_gather(const sp_dist *d, int rc, sp_error *err) {
    return agree(d, rc, 1, err);
}

int sp_dist_gather_bytes(const sp_dist *d, void *buf, const uint64_t *at, sp_error *err) {
    if (!d->mpi || d->size == 1) return SP_OK;
    link_request q = {LINK_GATHER, 0, (uint64_t)d->size + 1, {0}};
    link_reply a;
    size_t mine = (size_t)(at[d->rank + 1] - at[d->rank]);
    if (!link_send(link_fd, &q, sizeof q) ||
        !link_send(link_fd, at, ((size_t)d->size + 1) * sizeof *at) ||
        !link_send(link_fd, (char *)buf + at[d->rank], mine) ||
        !link_recv(link_fd, &a, sizeof a))
        return link_lost(d, err);
    if (d->rank == 0 &&
        !link_recv(link_fd, (char *)buf + at[0], (size_t)(at[d->size] - at[0])))
        return link_lost(d, err);
    return a.rc;
}

void sp_dist_finish(sp_dist *d) {
    if (!d->mpi || finished) return;
    finished = 1;
    link_request q = {LINK_FINISH, 0, 0, {0}};
    link_reply a;
    if (link_send(link_fd, &q, sizeof q)) link_recv(link_fd, &a, sizeof a);
}
