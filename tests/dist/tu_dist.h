/* tu_dist.h — helpers of the distributed-run tests (MPI ranks, --shard parts and merge): run a
 * shell line and keep its stdout, write a run's parts and merge them in a scratch directory,
 * check a failed job left that directory empty, and compare two reports as docs/SCALING.md
 * promises (equal bytes once the keys whose names contain time, seconds, elapsed or tok_per_s
 * are removed). */
#ifndef SPARSA_TEST_DIST_UTIL_H
#define SPARSA_TEST_DIST_UTIL_H

#include <criterion/criterion.h>

#include "tu.h"

#define TU_PPL_DIR "tests/fixtures/perplexity/"
#define TU_PPL_MODEL TU_PPL_DIR "ppl-llama.sparsa"
#define TU_PPL_SPARSE TU_PPL_DIR "ppl-asentmax.sparsa"
#define TU_PPL_CORPORA TU_PPL_DIR "psalms.txt " TU_PPL_DIR "mixed.txt "

/* Open MPI in a container: no ptrace-based single copy, root allowed, more ranks than cores;
 * -q keeps mpirun's own banners off stderr, so sparsa's one line is all there is. Under
 * AddressSanitizer, leak checking is off for the ranks only: Open MPI leaves its own buffers
 * at MPI_Finalize, from plugins it has unloaded (no frame a suppression could name); sparsa's
 * code is leak-checked by the plain runs and the --shard tests, which take the same paths. */
#define MPIRUN "OMPI_MCA_btl_vader_single_copy_mechanism=none " \
               "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 " \
               "mpirun -q --oversubscribe --allow-run-as-root -n "

static inline void tu_need_mpirun(void) {
    if (system("command -v mpirun >/dev/null 2>&1") != 0)
        cr_skip_test("mpirun is not installed (make deps installs openmpi-bin)");
}

/* Runs `line` through the shell (it names the binary itself); stdout and stderr malloc'd into
 * *out and *err; returns the exit status (or 128+signal). */
static inline int tu_dist_run(const char *line, char **out, char **err) {
    char ofile[] = "/tmp/sparsa_dist_outXXXXXX", efile[] = "/tmp/sparsa_dist_errXXXXXX";
    int fo = mkstemp(ofile), fe = mkstemp(efile);
    if (fo < 0 || fe < 0) return -1;
    close(fo);
    close(fe);
    size_t cap = strlen(line) + 128;
    char *cmd = malloc(cap);
    snprintf(cmd, cap, "%s >%s 2>%s", line, ofile, efile);
    int st = system(cmd);
    free(cmd);
    *out = tu_read_file(ofile, NULL);
    *err = tu_read_file(efile, NULL);
    if (!*out) *out = strdup("");
    if (!*err) *err = strdup("");
    remove(ofile);
    remove(efile);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* A fresh scratch directory from templ (ending in XXXXXX), its name into dir. */
static inline void tu_dist_make_dir(char *dir, size_t cap, const char *templ) {
    snprintf(dir, cap, "%s", templ);
    cr_assert_not_null(mkdtemp(dir));
}

static inline void tu_dist_remove_dir(const char *dir) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* The N parts of `sparsa COMMAND ARGS` as DIR/TAG-K.json; a shard prints nothing. */
static inline void tu_dist_write_parts(const char *dir, const char *command, const char *args,
                                       int n, const char *tag) {
    for (int k = 0; k < n; k++) {
        char line[2048], *out = NULL, *err = NULL;
        snprintf(line, sizeof line, "%s %s %s --shard %d/%d -o %s/%s-%d.json", tu_sparsa_bin(),
                 command, args, k, n, dir, tag, k);
        int rc = tu_dist_run(line, &out, &err);
        cr_assert_eq(rc, 0, "shard %d/%d exited %d: %s", k, n, rc, err);
        cr_assert_str_eq(out, "", "a shard prints nothing");
        free(out);
        free(err);
    }
}

/* merge, run in dir, of the named parts (a shell word list) with extra flags; returns the exit
 * status. */
static inline int tu_dist_merge(const char *dir, const char *parts, const char *flags, char **out,
                                char **err) {
    char line[2048];
    snprintf(line, sizeof line, "cd %s && %s%s merge %s %s", dir, tu_sparsa_bin()[0] == '/' ? "" :
             "\"$OLDPWD\"/", tu_sparsa_bin(), parts, flags);
    return tu_dist_run(line, out, err);
}

/* A job that failed left nothing in its working directory dir, which is then removed; out and
 * err (the job's) are freed. */
static inline void tu_dist_expect_left_nothing(char *dir, char *out, char *err) {
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)))
        cr_assert(e->d_name[0] == '.' && (!e->d_name[1] || !strcmp(e->d_name, "..")),
                  "left behind: %s", e->d_name);
    closedir(d);
    rmdir(dir);
    free(out);
    free(err);
}

/* Whether a JSON key names a measurement of time or speed, which may differ between runs. */
static inline int tu_dist_timing_key(const char *key, size_t len) {
    static const char *const words[] = {"time", "seconds", "elapsed", "tok_per_s", NULL};
    for (int w = 0; words[w]; w++)
        for (size_t i = 0; i + strlen(words[w]) <= len; i++)
            if (!strncmp(key + i, words[w], strlen(words[w]))) return 1;
    return 0;
}

/* End of the JSON value starting at s[i] (a string, number, literal, array or object). */
static inline size_t tu_dist_value_end(const char *s, size_t i) {
    int depth = 0, in_str = 0;
    for (; s[i]; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
            if (!in_str && depth == 0) return i + 1;
            continue;
        }
        if (c == '"') in_str = 1;
        else if (c == '[' || c == '{') depth++;
        else if (c == ']' || c == '}') {
            if (depth == 0) return i;
            if (--depth == 0) return i + 1;
        } else if (c == ',' && depth == 0) return i;
    }
    return i;
}

/* A copy of the JSON text without the members whose keys tu_dist_timing_key names (with the
 * comma before them, or after them when they come first). Nothing else changes. */
static inline char *tu_dist_strip_timing(const char *s) {
    size_t n = strlen(s), o = 0;
    char *out = malloc(n + 1);
    for (size_t i = 0; i < n;) {
        if (s[i] == '"') {
            size_t k = i + 1;
            while (s[k] && s[k] != '"') k += s[k] == '\\' ? 2 : 1;
            size_t after = k + 1;
            while (s[after] == ' ') after++;
            if (s[after] == ':' && tu_dist_timing_key(s + i + 1, k - i - 1)) {
                size_t v = after + 1;
                while (s[v] == ' ' || s[v] == '\n') v++;
                size_t end = tu_dist_value_end(s, v);
                size_t back = o;
                while (back > 0 && (out[back - 1] == ' ' || out[back - 1] == '\n')) back--;
                if (back > 0 && out[back - 1] == ',') o = back - 1; /* drop ", " before */
                else if (s[end] == ',') end++;                      /* first: drop "," after */
                i = end;
                continue;
            }
            memcpy(out + o, s + i, after - i);
            o += after - i;
            i = after;
            continue;
        }
        out[o++] = s[i++];
    }
    out[o] = 0;
    return out;
}

/* A copy of a table without the last column of each line (eval-task's seconds). */
static inline char *tu_dist_strip_last_column(const char *s) {
    size_t n = strlen(s), o = 0;
    char *out = malloc(n + 1);
    for (const char *line = s; *line;) {
        const char *nl = strchr(line, '\n'), *end = nl ? nl : line + strlen(line), *cut = end;
        while (cut > line && cut[-1] != ' ') cut--;
        while (cut > line && cut[-1] == ' ') cut--;
        memcpy(out + o, line, (size_t)(cut - line));
        o += (size_t)(cut - line);
        if (nl) out[o++] = '\n';
        line = nl ? nl + 1 : end;
    }
    out[o] = 0;
    return out;
}

/* a and b are the same report: equal bytes without timing members. */
static inline void tu_dist_expect_same(const char *a, const char *b, const char *what) {
    char *x = tu_dist_strip_timing(a), *y = tu_dist_strip_timing(b);
    cr_assert(x[0], "%s: empty report", what);
    cr_assert_str_eq(x, y, "%s differs from the single run:\n%s\n---\n%s", what, y, x);
    free(x);
    free(y);
}

#endif
