/* threads_setup.c — how the thread pool waits, set before anything runs. The pool is OpenMP
 * (libgomp), which reads OMP_WAIT_POLICY once, when the program is loaded; unset, its idle
 * workers spin for a while between parallel regions, and on a busy machine that spinning takes
 * the CPU from the threads doing the work (a 40-token generation went from 0.04 s to 4 s under
 * two busy processes). So when the variable is unset, sparsa sets it to PASSIVE and executes
 * itself again, once: the variable, now set, is what stops a second round; a user's own value
 * is kept. If the program cannot be executed again (no /proc), it runs on as it is.
 * The default thread count is libgomp's: the CPUs this process may run on (its affinity mask,
 * as sched_getaffinity reports it), never more. */
#include <stdlib.h>
#include <unistd.h>

#include "commands.h"

void cli_threads_setup(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1)) return;
    execv("/proc/self/exe", argv);
}
