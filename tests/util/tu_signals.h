/* tu_signals.h — included by the tests that send SIGINT, SIGHUP or SIGTERM to a child. A shell
 * starts background jobs with SIGINT ignored, and an ignored signal stays ignored across fork
 * and exec (sparsa keeps it so on purpose, as nohup expects); these tests are about the
 * default disposition, so the test binary restores it before any child is made. */
#ifndef SPARSA_TU_SIGNALS_H
#define SPARSA_TU_SIGNALS_H

#include <signal.h>

__attribute__((constructor)) static void tu_default_signals(void) {
    static const int sigs[] = {SIGINT, SIGHUP, SIGTERM};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_DFL);
}

#endif
