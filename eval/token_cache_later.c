/* token_cache_later.c — writing a token-cache entry beside the run (docs/PROTOCOLS.md, "The
 * token cache"): the caller has its ids at once, and a thread of this file writes the entry
 * (tc_write: atomic, fsync, rename) from its own copy of them, so the caller may free or keep
 * its ids as it likes. Every such write ends before the cache is read again in this process
 * (sp_corpus_tokenize settles first) and before the process exits (atexit, which runs before
 * the cleanup registry's handler, registered earlier); one killed by a signal leaves at most a
 * temporary, which the registry removes. Where a thread or a copy cannot be had, the entry is
 * written at once, as before. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "token_cache.h"

typedef struct tc_job {
    struct tc_job *next;
    pthread_t thread;
    char *dir, *path, *who;
    uint8_t key[32];
    uint32_t mode;
    size_t len;
    sp_corpus_tokens copy;
    sp_token_cache_opts opts;
} tc_job;

static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static tc_job *jobs;
static int at_exit_set;

static void job_free(tc_job *j) {
    sp_corpus_tokens_free(&j->copy);
    free(j->dir), free(j->path), free(j->who), free(j);
}

static void *job_run(void *arg) {
    tc_job *j = arg;
    tc_write(j->dir, j->path, j->key, j->mode, j->len, &j->copy, &j->opts);
    return NULL;
}

void sp_token_cache_settle(void) {
    pthread_mutex_lock(&jobs_lock);
    tc_job *j = jobs;
    jobs = NULL;
    pthread_mutex_unlock(&jobs_lock);
    while (j) {
        tc_job *next = j->next;
        pthread_join(j->thread, NULL);
        job_free(j);
        j = next;
    }
}

/* A job holding copies of everything the write reads, or NULL. */
static tc_job *job_make(const char *dir, const char *path, const uint8_t key[32], uint32_t mode,
                        size_t len, const sp_corpus_tokens *t, const sp_token_cache_opts *o) {
    tc_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->dir = strdup(dir), j->path = strdup(path);
    j->who = o->who ? strdup(o->who) : NULL;
    j->copy.ids = malloc((t->n ? t->n : 1) * sizeof *t->ids);
    j->copy.docs = t->n_docs ? malloc(t->n_docs * sizeof *t->docs) : NULL;
    if (!j->dir || !j->path || (o->who && !j->who) || !j->copy.ids ||
        (t->n_docs && !j->copy.docs)) {
        job_free(j);
        return NULL;
    }
    if (t->n) memcpy(j->copy.ids, t->ids, t->n * sizeof *t->ids);
    if (t->n_docs) memcpy(j->copy.docs, t->docs, t->n_docs * sizeof *t->docs);
    j->copy.n = t->n, j->copy.n_docs = t->n_docs;
    memcpy(j->key, key, 32);
    j->mode = mode, j->len = len;
    j->opts = *o;
    j->opts.dir = NULL, j->opts.who = j->who;
    return j;
}

int tc_write_later(const char *dir, const char *path, const uint8_t key[32], uint32_t mode,
                   size_t len, const sp_corpus_tokens *t, const sp_token_cache_opts *o) {
    tc_job *j = job_make(dir, path, key, mode, len, t, o);
    if (!j) return tc_write(dir, path, key, mode, len, t, o);
    pthread_mutex_lock(&jobs_lock);
    if (!at_exit_set) at_exit_set = atexit(sp_token_cache_settle) == 0;
    const int started = at_exit_set && pthread_create(&j->thread, NULL, job_run, j) == 0;
    if (started) j->next = jobs, jobs = j;
    pthread_mutex_unlock(&jobs_lock);
    if (started) return 0;
    job_free(j);
    return tc_write(dir, path, key, mode, len, t, o);
}
