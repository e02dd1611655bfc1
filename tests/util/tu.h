/* tu.h — helpers shared by the Criterion tests: run the sparsa binary, read files. */
#ifndef SPARSA_TEST_UTIL_H
#define SPARSA_TEST_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Path of the binary under test (the Makefile exports SPARSA_BIN). */
static inline const char *tu_sparsa_bin(void) {
    const char *b = getenv("SPARSA_BIN");
    return b && *b ? b : "build/sparsa";
}

/* Runs `sparsa <args>` through the shell; captures stdout and stderr (malloc'd, may be NULL
 * pointers if not wanted) and returns the exit status (or 128+signal). */
static inline int tu_run_sparsa(const char *args, char **out, char **errout) {
    char ofile[] = "/tmp/sparsa_test_outXXXXXX", efile[] = "/tmp/sparsa_test_errXXXXXX";
    int fo = mkstemp(ofile), fe = mkstemp(efile);
    if (fo < 0 || fe < 0) return -1;
    size_t cap = strlen(args) + 256 + strlen(tu_sparsa_bin());
    char *cmd = malloc(cap);
    snprintf(cmd, cap, "%s %s >%s 2>%s", tu_sparsa_bin(), args, ofile, efile);
    int st = system(cmd);
    free(cmd);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    char *files[2] = {ofile, efile};
    char **dst[2] = {out, errout};
    for (int i = 0; i < 2; i++) {
        if (dst[i]) {
            FILE *f = fopen(files[i], "rb");
            size_t n = 0, c = 4096;
            char *buf = malloc(c);
            size_t r;
            while (f && (r = fread(buf + n, 1, c - n - 1, f)) > 0) {
                n += r;
                if (c - n < 2) buf = realloc(buf, c *= 2);
            }
            buf[n] = 0;
            if (f) fclose(f);
            *dst[i] = buf;
        }
        remove(files[i]);
    }
    close(fo);
    close(fe);
    return rc;
}

/* Number of lines in s (a final line without newline counts). */
static inline int tu_line_count(const char *s) {
    int n = 0;
    for (const char *c = s; *c; c++)
        if (*c == '\n') n++;
    if (*s && s[strlen(s) - 1] != '\n') n++;
    return n;
}

/* Reads a whole file; returns malloc'd bytes (followed by a NUL not counted in *len, so text
 * files can be used as strings) or NULL; *len is 0 on failure. */
static inline void *tu_read_file(const char *path, size_t *len) {
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    if (n < 0) {
        fclose(f);
        return NULL;
    }
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[n > 0 ? n : 0] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

/* The entries of a folder (without . and ..), their names joined by spaces into names (for
 * messages); returns how many. */
static inline int tu_list_dir(const char *dir, char *names, size_t cap) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    names[0] = 0;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            n++;
            size_t l = strlen(names);
            snprintf(names + l, cap - l, "%s ", e->d_name);
        }
    if (d) closedir(d);
    return n;
}

/* Reads a whole text file as a NUL-terminated string (malloc'd) or NULL. */
static inline char *tu_read_text(const char *path) {
    return tu_read_file(path, NULL);
}

#endif
