/* dist_link.h — private to eval/: the messages between a rank's two processes (docs/SCALING.md,
 * "A rank that dies"). Under a launcher, sparsa forks: the parent, which mpirun started, talks
 * to MPI and waits (dist_supervise.c); the child runs the command and asks the parent for each
 * collective call over a socket pair (dist_world.c). When the child dies, the parent still
 * takes part in the job's next agreement, as a failure naming how the child ended. */
#ifndef SPARSA_EVAL_DIST_LINK_H
#define SPARSA_EVAL_DIST_LINK_H

#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

enum { LINK_AGREE = 1, LINK_GATHER = 2, LINK_FINISH = 3 };

/* Parent to child once MPI is up: rc 0, rank and size (rc non-zero: MPI_Init failed). */
typedef struct link_hello {
    int32_t rc, rank, size;
} link_hello;

/* Child to parent: one request. AGREE: rc and msg, n_at 1 when gathers follow a success (so
 * a parent whose child died then knows it cannot join the others). GATHER: n_at = size + 1 offsets follow,
 * then the child's bytes [at[rank], at[rank + 1]). FINISH: nothing. */
typedef struct link_request {
    int32_t op, rc;
    uint64_t n_at;
    char msg[512];
} link_request;

/* Parent to child: AGREE's outcome (msg: rank 0's message of the agreed failure); GATHER's
 * rc, then on rank 0 the gathered bytes [at[0], at[size]); FINISH's rc. */
typedef struct link_reply {
    int32_t rc;
    char msg[512];
} link_reply;

/* The parent's side (dist_supervise.c): brings MPI up, answers the child on fd until it asks
 * to finish or is gone, and exits with the rank's status; never returns. */
void sp_dist_serve(int fd, pid_t child) __attribute__((noreturn));

/* Whole transfers over the socket; 0 when the other side is gone (no SIGPIPE). */
static inline int link_send(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return 0;
        p += k;
        n -= (size_t)k;
    }
    return 1;
}

static inline int link_recv(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n) {
        ssize_t k = recv(fd, p, n, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return 0;
        p += k;
        n -= (size_t)k;
    }
    return 1;
}

#endif
