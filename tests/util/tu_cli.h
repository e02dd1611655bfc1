/* tu_cli.h — Criterion checks shared by the command-line tests. */
#ifndef SPARSA_TEST_CLI_UTIL_H
#define SPARSA_TEST_CLI_UTIL_H

#include <criterion/criterion.h>

#include "tu.h"

/* `sparsa ARGS` must refuse: exit 2, one line on stderr (holding `needle` when given), nothing
 * on stdout. */
static inline void tu_expect_bad(const char *args, const char *needle) {
    char *out = NULL, *err = NULL;
    int rc = tu_run_sparsa(args, &out, &err);
    cr_assert_eq(rc, 2, "'%s' exited %d: %s", args, rc, err);
    cr_assert_eq(tu_line_count(err), 1, "one line on stderr for '%s': %s", args, err);
    if (needle) cr_assert(strstr(err, needle), "'%s': stderr lacks '%s': %s", args, needle, err);
    cr_assert_str_eq(out, "", "'%s' wrote to stdout", args);
    free(out);
    free(err);
}

/* Runs a whole shell line (which names the binary itself, e.g. "timeout 20 <bin> ..."); its
 * stderr in *err (malloc'd), stdout discarded; returns the exit status (or 128+signal). */
static inline int tu_run_sparsa_line(const char *line, char **err) {
    char efile[] = "/tmp/sparsa_test_lineXXXXXX";
    int fe = mkstemp(efile);
    if (fe < 0) return -1;
    close(fe);
    size_t cap = strlen(line) + 64;
    char *cmd = malloc(cap);
    snprintf(cmd, cap, "%s >/dev/null 2>%s", line, efile);
    int st = system(cmd);
    free(cmd);
    *err = tu_read_text(efile);
    if (!*err) *err = strdup("");
    remove(efile);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* A scratch folder for the tests of one suite: made by tu_scratch_make (the suite's .init),
 * removed with everything in it by tu_scratch_remove (.fini); tu_scratch_path names a file in it
 * (four rotating buffers, so a few names can be held at once). */
static inline char *tu_scratch_dir(void) {
    static char dir[] = "/tmp/sparsa_testXXXXXX";
    return dir;
}

static inline void tu_scratch_make(void) { cr_assert(mkdtemp(tu_scratch_dir())); }

static inline void tu_scratch_remove(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tu_scratch_dir());
    cr_assert_eq(system(cmd), 0);
}

static inline char *tu_scratch_path(const char *name) {
    static char buf[4][400];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", tu_scratch_dir(), name);
    return b;
}

#endif
