/* tc_child.h — runs a test scenario in a fresh process: fork, then exec of this very test
 * binary, which runs the named scenario from a constructor before Criterion starts. A fresh
 * process rather than a bare fork keeps the scenario free of Criterion's threads and memory, so
 * it is clean under valgrind and the sanitizers as well as in a plain run.
 *
 * The scenario runs from a constructor, before the constructors of the library objects linked
 * after the test (format/crc32.c has one), so it may only use code that needs none: common/
 * has none. Scenarios that end by a signal may use a bare fork instead (valgrind checks no
 * leaks for a process a signal killed).
 *
 * Use: define the scenario functions, list them once with TC_SCENARIOS({"name", fn}, ...),
 * then tc_run("name", a, b) returns the child's wait status. */
#ifndef SPARSA_TEST_CHILD_H
#define SPARSA_TEST_CHILD_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*tc_scenario_fn)(const char *a, const char *b);
typedef struct tc_scenario {
    const char *name;
    tc_scenario_fn fn;
} tc_scenario;

#define TC_SCENARIOS(...)                                                                   \
    static const tc_scenario tc_scenarios[] = {__VA_ARGS__, {NULL, NULL}};                 \
    __attribute__((constructor)) static void tc_scenario_main(void) {                      \
        const char *name = getenv("TC_SCENARIO");                                          \
        if (!name) return;                                                                 \
        for (const tc_scenario *s = tc_scenarios; s->name; s++)                             \
            if (!strcmp(s->name, name)) {                                                  \
                s->fn(getenv("TC_ARG_A"), getenv("TC_ARG_B"));                             \
                _exit(77); /* a scenario ends the process itself */                        \
            }                                                                              \
        _exit(78);                                                                         \
    }

static inline int tc_run(const char *name, const char *a, const char *b) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    cr_assert_gt(n, 0, "cannot find the test binary");
    self[n] = 0;
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        setenv("TC_SCENARIO", name, 1);
        setenv("TC_ARG_A", a ? a : "", 1);
        setenv("TC_ARG_B", b ? b : "", 1);
        execl(self, self, (char *)NULL);
        _exit(127);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(!(WIFEXITED(st) && WEXITSTATUS(st) >= 77), "scenario %s did not run (%d)", name,
              WEXITSTATUS(st));
    return st;
}

#endif
