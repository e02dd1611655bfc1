/* dist_supervise.c — the process mpirun started for a rank, once it has forked the process
 * that runs the command (dist_link.h): it brings MPI up, makes each collective call the
 * command asks for, and ends with the command's exit status. Why two processes: when a rank's
 * command dies (killed, out of memory, a crash), mpirun would end the whole job with its own
 * status and no word from sparsa; the parent outlives its child instead, takes part in the
 * job's next agreement as a failure naming how the child ended, so rank 0 prints
 * `sparsa CMD: rank R: died of signal S (...)` once and the job exits 1 (docs/SCALING.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dist_link.h"
#include "dist_mpi.h"

static volatile pid_t child;

/* What the other ranks do next, as far as this rank's collective calls tell. */
typedef enum {
    NEXT_AGREE,    /* at the start and after an agreement with gathers neither announced nor
                    * finished: a dead child's failure joins the next agreement */
    NEXT_GATHER,   /* after a successful agreement that announced gathers: no way to join */
    NEXT_NOTHING,  /* after a failed agreement: the job ends */
} next_call;

/* mpirun ending the job (SIGTERM) or a user's ^C reaches the command too, whose handler
 * removes its temporaries; then this process dies of the same signal. */
static void forward(int sig) {
    if (child > 0) kill(child, sig);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_forwarding(void) {
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = forward;
        sigfillset(&sa.sa_mask);
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(sigs[i], &sa, NULL);
    }
}

/* Ends this rank with status. A failing status makes mpirun end the job at once, and its
 * forwarding of the rank's stderr may then lose the line just printed: so the rank's copies
 * of stdout and stderr are closed first and mpirun is given a moment to read them to the
 * end before the status arrives. */
static void end_rank(int status) __attribute__((noreturn));
static void end_rank(int status) {
    if (status) {
        fflush(NULL);
        close(1);
        close(2);
        usleep(200 * 1000);
    }
    _exit(status);
}

/* The child's end; a child killed by a signal could not remove its temporaries, which the
 * shared cleanup registry (sp_cleanup_share, before the fork) lets this process remove. */
static int wait_child(void) {
    int st = 0;
    while (waitpid(child, &st, 0) < 0)
        if (errno != EINTR) return 0;
    if (WIFSIGNALED(st)) sp_cleanup_run();
    return st;
}

/* "sparsa CMD" from this process's own command line. */
static void command_name(char *out, size_t cap) {
    snprintf(out, cap, "sparsa");
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (!f) return;
    char buf[256];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    size_t first = strlen(buf);
    if (first + 1 < n) snprintf(out, cap, "sparsa %s", buf + first + 1);
}

/* The child is gone without finishing (docs/SCALING.md, "A rank that dies"): where the others
 * will agree next, this rank's part is a failure naming how the child ended, and rank 0
 * prints the line when its own child died of a signal (a child that exited printed its
 * own). Where they are gathering, there is no way to join: this rank prints the line and
 * exits 1, and mpirun ends the job. */
static void orphaned(int rank, int size, next_call next) __attribute__((noreturn));
static void orphaned(int rank, int size, next_call next) {
    int st = wait_child();
    sp_error e = {0};
    if (WIFSIGNALED(st))
        sp_fail(&e, SP_ERR_RUNTIME, "died of signal %d (%s)", WTERMSIG(st),
                strsignal(WTERMSIG(st)));
    else sp_fail(&e, SP_ERR_RUNTIME, "ended (exit status %d) before the job did",
                 WEXITSTATUS(st));
    char name[160];
    command_name(name, sizeof name);
    if (next == NEXT_GATHER) {
        fprintf(stderr, "%s: rank %d: %s\n", name, rank, e.msg);
        end_rank(SP_ERR_RUNTIME);
    }
    if (next == NEXT_AGREE && size > 1) sp_mpi_agree(rank, size, SP_ERR_RUNTIME, &e);
    sp_mpi_finish();
    if (rank != 0) _exit(0); /* rank 0 reports; a non-zero exit here would stop it first */
    if (!WIFSIGNALED(st)) end_rank(WEXITSTATUS(st) ? WEXITSTATUS(st) : SP_ERR_RUNTIME);
    fprintf(stderr, "%s: rank 0: %s\n", name, e.msg);
    end_rank(SP_ERR_RUNTIME);
}

/* A gather: the offsets, this rank's bytes, the collective, and on rank 0 every rank's bytes
 * back to the child. 0 when the child is gone half-way (the job cannot go on). */
static int serve_gather(int fd, int rank, int size, const link_request *q) {
    if (q->n_at != (uint64_t)size + 1) return 0;
    uint64_t *at = malloc((size_t)q->n_at * sizeof *at), *local = calloc(q->n_at, sizeof *local);
    if (!at || !local || !link_recv(fd, at, (size_t)q->n_at * sizeof *at)) return 0;
    uint64_t lo = rank == 0 ? at[0] : at[rank], hi = rank == 0 ? at[size] : at[rank + 1];
    for (int r = 0; r <= size; r++) local[r] = rank != 0 || at[r] < lo ? 0 : at[r] - lo;
    if (rank != 0) local[rank + 1] = hi - lo;
    char *buf = hi >= lo ? malloc(hi - lo ? hi - lo : 1) : NULL;
    if (!buf || !link_recv(fd, buf + local[rank], (size_t)(local[rank + 1] - local[rank])))
        return 0;
    sp_mpi_gather_bytes(rank, size, buf, local);
    link_reply a = {0, {0}};
    int ok = link_send(fd, &a, sizeof a) && (rank != 0 || link_send(fd, buf, hi - lo));
    free(buf);
    free(at);
    free(local);
    return ok;
}

void sp_dist_serve(int fd, pid_t worker) {
    child = worker;
    install_forwarding();
    link_hello h = {0, 0, 1};
    if (sp_mpi_start(&h.rank, &h.size)) h.rc = SP_ERR_RUNTIME;
    if (h.rc) {
        link_send(fd, &h, sizeof h);
        int st = wait_child(); /* the child says MPI_Init failed */
        end_rank(WIFEXITED(st) ? WEXITSTATUS(st) : SP_ERR_RUNTIME);
    }
    if (!link_send(fd, &h, sizeof h)) orphaned(h.rank, h.size, NEXT_AGREE);
    next_call next = NEXT_AGREE;
    for (;;) {
        link_request q;
        if (!link_recv(fd, &q, sizeof q)) orphaned(h.rank, h.size, next);
        link_reply a = {0, {0}};
        if (q.op == LINK_AGREE) {
            sp_error e = {q.rc, {0}};
            memcpy(e.msg, q.msg, sizeof e.msg - 1);
            a.rc = h.size > 1 ? sp_mpi_agree(h.rank, h.size, q.rc, &e) : q.rc;
            next = a.rc ? NEXT_NOTHING : q.n_at ? NEXT_GATHER : NEXT_AGREE;
            memcpy(a.msg, e.msg, sizeof a.msg);
            if (!link_send(fd, &a, sizeof a)) orphaned(h.rank, h.size, next);
        } else if (q.op == LINK_GATHER) {
            if (!serve_gather(fd, h.rank, h.size, &q)) orphaned(h.rank, h.size, NEXT_GATHER);
        } else {
            sp_mpi_finish();
            link_send(fd, &a, sizeof a);
            int st = wait_child();
            end_rank(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        }
    }
}
