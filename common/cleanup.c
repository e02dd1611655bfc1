/* cleanup.c — the one registry of temporary files to remove when sparsa is interrupted
 * (SIGINT, SIGTERM, SIGHUP) or fails. A fixed table, so the signal handler only reads memory
 * that never moves and calls async-signal-safe functions (unlink, signal, raise). */
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sparsa_common.h"

#define SLOTS 64

/* A slot's state: FREE, CLAIMED (being filled; the handler skips it) or ACTIVE. */
enum { FREE = 0, CLAIMED = 1, ACTIVE = 2 };

typedef struct registry {
    char path[SLOTS][PATH_MAX];
    volatile sig_atomic_t state[SLOTS];
} registry;

/* The table: this process's own, or one shared with a forked child (sp_cleanup_share). */
static registry own;
static registry *reg = &own;

int sp_cleanup_share(void) {
    registry *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) return -1;
    memcpy(r, reg, sizeof *r);
    reg = r;
    return 0;
}

/* The absolute form of path into dst (a later chdir must not change what is removed). */
static int absolute(const char *path, char *dst) {
    size_t n = strlen(path);
    if (path[0] == '/') {
        if (n >= PATH_MAX) return -1;
        memcpy(dst, path, n + 1);
        return 0;
    }
    if (!getcwd(dst, PATH_MAX)) return -1;
    size_t d = strlen(dst);
    if (d + 1 + n >= PATH_MAX) return -1;
    dst[d] = '/';
    memcpy(dst + d + 1, path, n + 1);
    return 0;
}

int sp_cleanup_register(const char *path) {
    if (!path || !*path) return -1;
    for (int i = 0; i < SLOTS; i++) {
        sig_atomic_t expected = FREE;
        /* claimed atomically: writers may register from several threads */
        if (!__atomic_compare_exchange_n(&reg->state[i], &expected, CLAIMED, 0,
                                         __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            continue;
        if (absolute(path, reg->path[i])) {
            __atomic_store_n(&reg->state[i], FREE, __ATOMIC_SEQ_CST);
            return -1;
        }
        __atomic_store_n(&reg->state[i], ACTIVE, __ATOMIC_SEQ_CST);
        return i;
    }
    return -1;
}

void sp_cleanup_unregister(int slot) {
    if (slot >= 0 && slot < SLOTS) __atomic_store_n(&reg->state[slot], FREE, __ATOMIC_SEQ_CST);
}

static void unlink_registered(void) {
    for (int i = 0; i < SLOTS; i++)
        if (__atomic_load_n(&reg->state[i], __ATOMIC_SEQ_CST) == ACTIVE) unlink(reg->path[i]);
}

void sp_cleanup_run(void) {
    for (int i = 0; i < SLOTS; i++) {
        sig_atomic_t expected = ACTIVE;
        if (__atomic_compare_exchange_n(&reg->state[i], &expected, CLAIMED, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            unlink(reg->path[i]);
            __atomic_store_n(&reg->state[i], FREE, __ATOMIC_SEQ_CST);
        }
    }
}

/* Removes the temporaries, then dies of the same signal with its default action, so the
 * parent sees the conventional status (130 for SIGINT in a shell). */
static void on_signal(int sig) {
    unlink_registered();
    signal(sig, SIG_DFL);
    raise(sig);
}

void sp_cleanup_install_signals(void) {
    static int installed;
    if (installed) return;
    installed = 1;
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigfillset(&sa.sa_mask);  /* one signal at a time runs the handler */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;  /* ignored by whoever started us (nohup, a background job): keep it so */
        sigaction(sigs[i], &sa, NULL);
    }
    signal(SIGPIPE, SIG_DFL);
    atexit(sp_cleanup_run);
}
