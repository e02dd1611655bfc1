/* test_common_files.h — scratch folders and small file helpers for the tests of common/'s
 * input and output rules. */
#ifndef SPARSA_TEST_COMMON_FILES_H
#define SPARSA_TEST_COMMON_FILES_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sparsa_common.h"

/* A fresh folder under /tmp, removed with everything in it by tc_rmdir. */
static inline void tc_mkdir(char *dir, size_t cap) {
    snprintf(dir, cap, "/tmp/sparsa_common_XXXXXX");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp failed");
}

static inline void tc_rmdir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static inline void tc_path(char *out, size_t cap, const char *dir, const char *name) {
    snprintf(out, cap, "%s/%s", dir, name);
}

static inline void tc_write(const char *path, const char *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(bytes, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* Whole file as a NUL-terminated string (NULL if absent). */
static inline char *tc_slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Number of entries of dir whose name contains `part` (e.g. ".tmp-"). */
static inline int tc_count_names(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, part)) n++;
    closedir(d);
    return n;
}

static inline int tc_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

#endif
