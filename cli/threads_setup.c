/* threads_setup.c — how the thread pool waits and how many threads it has by default, set
 * before anything runs. The pool is OpenMP (libgomp), which reads OMP_WAIT_POLICY once, when
 * the program is loaded; unset, its idle workers spin for a while between parallel regions,
 * and on a busy machine that spinning takes the CPU from the threads doing the work (a
 * 40-token generation went from 0.04 s to 4 s under two busy processes). So when the variable
 * is unset, sparsa sets it to PASSIVE and executes itself again, once: the variable, now set,
 * is what stops a second round; a user's own value is kept. If the program cannot be executed
 * again (no /proc), it runs on as it is. convert, which starts no OpenMP thread, is not.
 * While the threads fit in the CPUs free at start-up (the default count, or a --threads or
 * OMP_NUM_THREADS no larger), an idle worker spins briefly (GOMP_SPINCOUNT) before sleeping.
 * The default thread count (no --threads, no OMP_NUM_THREADS) is the number of CPUs the process
 * may run on (its affinity mask), never more. When that is the whole machine, the tasks
 * already running at start-up (the kernel's count of runnable tasks in /proc/loadavg) are
 * taken off, down to 1: on an idle machine every CPU, on a busy one no more threads than free
 * CPUs, so the team never waits for a thread the scheduler has parked behind another process.
 * When the mask is a part of the machine (a batch job's CPUs, taskset), the machine-wide count
 * says nothing about those CPUs, and all of them are used. Results do not depend on the thread
 * count. */
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

/* CPUs in the affinity mask (0 if unknown). */
static int allowed_cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
}

/* Runnable tasks on the machine now, this one included (0 if unknown). */
static int runnable_tasks(void) {
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return 0;
    double l1, l5, l15;
    int running = 0, total = 0;
    if (fscanf(f, "%lf %lf %lf %d/%d", &l1, &l5, &l15, &running, &total) != 5) running = 0;
    fclose(f);
    return running;
}

static int default_threads(void) {
    int cpus = allowed_cpus();
    if (cpus <= 0) return 0;
    if (cpus < sysconf(_SC_NPROCESSORS_ONLN)) return cpus;
    int others = runnable_tasks() - 1;
    int free_cpus = cpus - (others > 0 ? others : 0);
    return free_cpus < 1 ? 1 : free_cpus;
}

/* Whether the command line names its own thread count. */
static int threads_given(char **argv) {
    for (int i = 1; argv[i]; i++)
        if (!strcmp(argv[i], "--threads") || !strncmp(argv[i], "--threads=", 10)) return 1;
    return getenv("OMP_NUM_THREADS") != NULL;
}

/* The thread count asked for (--threads N, --threads=N, else OMP_NUM_THREADS); 0 when none or
 * unreadable (the command itself reports a bad --threads). */
static int threads_asked(char **argv) {
    const char *v = getenv("OMP_NUM_THREADS");
    for (int i = 1; argv[i]; i++) {
        if (!strcmp(argv[i], "--threads") && argv[i + 1]) v = argv[i + 1];
        else if (!strncmp(argv[i], "--threads=", 10)) v = argv[i] + 10;
    }
    int n = v ? atoi(v) : 0;
    return n > 0 ? n : 0;
}

/* Whether idle workers may spin briefly: with the default count, which leaves out CPUs busy at
 * start-up, or with a count that fits in the CPUs free now. */
static int threads_fit(char **argv) {
    if (!threads_given(argv)) return 1;
    int asked = threads_asked(argv), free_cpus = default_threads();
    return asked > 0 && free_cpus > 0 && asked <= free_cpus;
}

void cli_threads_setup(char **argv) {
    /* convert starts no OpenMP thread (its self-check uses plain threads), and is timed against
     * cp: loading the program a second time would cost it a tenth of that copy */
    int pool = !(argv[0] && argv[1] && !strcmp(argv[1], "convert"));
    if (pool && !getenv("OMP_WAIT_POLICY") && !setenv("OMP_WAIT_POLICY", "PASSIVE", 1)) {
        /* A short spin before sleeping: decoding runs ~45 small parallel products per token,
         * and waking a sleeping worker for each costs about what it saves (184 against 289
         * tokens/s on two quiet cores). Only while the threads fit in the CPUs free at
         * start-up: with a count forced onto busy CPUs, spinning halves speed. */
        if (threads_fit(argv) && !getenv("GOMP_SPINCOUNT")) setenv("GOMP_SPINCOUNT", "10000", 1);
        execv("/proc/self/exe", argv);
    }
    int n = getenv("OMP_NUM_THREADS") ? 0 : default_threads();
    if (n > 0) omp_set_num_threads(n);
}
