/* test_convert_interrupted.c — `sparsa convert` never leaves a partial file behind:
 *  - SIGTERM at random moments (seeded) during the conversion of an ~80 MB checkpoint, 20
 *    times, then SIGINT and SIGHUP three times each: afterwards the output folder holds either nothing or one complete output that
 *    `inspect --verify` accepts — never a temporary, never a truncated file;
 *  - onto a full file system (a 1 MB tmpfs, mounted when running as root): a non-zero exit, one
 *    line on stderr, and nothing left in it. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "tu_convert.h"
#include "tu.h"
#include "tu_signals.h"

static char tmpdir[256], src[300], outdir[300];
static int mounted;

static void setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sparsa_conv_interrupted_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(src, sizeof src, "%s/src", tmpdir);
    snprintf(outdir, sizeof outdir, "%s/out", tmpdir);
    cr_assert_eq(mkdir(src, 0755), 0);
    cr_assert_eq(mkdir(outdir, 0755), 0);
    mounted = 0;
}

static void empty_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[700];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    if (d) closedir(d);
}

static void teardown(void) {
    if (mounted) umount2(outdir, MNT_DETACH);
    empty_dir(src);
    empty_dir(outdir);
    rmdir(src);
    rmdir(outdir);
    rmdir(tmpdir);
}

TestSuite(convert_interrupted, .init = setup, .fini = teardown);

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int under_valgrind(void) {
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload");
}

/* The output folder after a run: empty, or exactly the complete output, which verifies. */
static void expect_nothing_or_complete(const char *out, int try_no, int status) {
    char names[4000];
    int n = tu_list_dir(outdir, names, sizeof names);
    if (n == 0) return;
    cr_assert(n == 1 && strstr(names, "m.sparsa "), "try %d (status %d): the output folder holds %s", try_no,
              status, names);
    const char *verify[] = {"inspect", out, "--verify", NULL};
    char *err = NULL;
    int rc = tu_run_sparsa_timed(verify, 120, &err);
    cr_assert_eq(rc, 0, "try %d (status %d): the output left behind does not verify: %s", try_no, status, err);
    free(err);
}

Test(convert_interrupted, sigterm_at_random_moments_leaves_nothing_or_a_whole_file, .timeout = 900) {
    if (under_valgrind()) cr_skip("80 MB conversions 27 times are too slow under valgrind; make test runs this");
    /* 20.2 M parameters in f32 (81 MB): 6 layers 512 wide (ffn 1536), 1280-row embedding and head */
    tu_llama m = {.vocab = 1280, .hidden = 512, .ffn = 1536, .layers = 6, .heads = 8, .kv_heads = 4, .seed = 11};
    cr_assert_eq(tu_make_llama(src, &m), 0);
    char st[400], out[400];
    snprintf(st, sizeof st, "%s/model.safetensors", src);
    snprintf(out, sizeof out, "%s/m.sparsa", outdir);
    struct stat sb;
    cr_assert(stat(st, &sb) == 0 && sb.st_size > 78000000, "the checkpoint is %lld bytes", (long long)sb.st_size);
    const char *args[] = {"convert", src, "-o", out, NULL};
    /* one whole conversion gives the time scale */
    double t0 = now_s();
    char *err = NULL;
    cr_assert_eq(tu_run_sparsa_timed(args, 300, &err), 0, "%s", err);
    free(err);
    double whole = now_s() - t0;
    expect_nothing_or_complete(out, 0, 0);
    unlink(out);
    uint64_t seed = 20260314;
    int killed = 0;
    for (int i = 1; i <= 26; i++) {
        /* 20 times SIGTERM, then SIGINT and SIGHUP three times each */
        int sig = i <= 20 ? SIGTERM : i <= 23 ? SIGINT : SIGHUP;
        double delay = whole * (double)(tu_xorshift(&seed) % 1000) / 1000.0;
        pid_t pid = tu_spawn_sparsa(args, NULL);
        cr_assert(pid > 0);
        struct timespec nap = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
        nanosleep(&nap, NULL);
        kill(pid, sig);
        int status = tu_wait_sparsa(pid, 300);
        cr_assert(status == 0 || status == 128 + sig, "try %d: status %d after signal %d at %.3f s", i, status, sig,
                  delay);
        killed += status == 128 + sig;
        expect_nothing_or_complete(out, i, status);
        unlink(out);
    }
    cr_log_info("signals within %.2f s: %d of 26 conversions interrupted, the rest had finished", whole, killed);
    cr_assert(killed >= 6, "only %d of 26 tries were interrupted (a conversion takes %.2f s)", killed, whole);
}

Test(convert_interrupted, a_full_disk_fails_the_conversion_and_leaves_nothing) {
    if (geteuid() != 0) cr_skip("mounting a 1 MB tmpfs needs root; run the tests as root for this check");
    if (mount("tmpfs", outdir, "tmpfs", 0, "size=1m") != 0)
        cr_skip("cannot mount a 1 MB tmpfs here (%s)", strerror(errno));
    mounted = 1;
    /* about 2.7 MB of tensors: the writer runs out of room part-way */
    tu_llama m = {.vocab = 2000, .hidden = 128, .ffn = 256, .layers = 1, .heads = 4, .kv_heads = 2, .seed = 13};
    cr_assert_eq(tu_make_llama(src, &m), 0);
    char out[400], *err = NULL, names[4000];
    snprintf(out, sizeof out, "%s/m.sparsa", outdir);
    const char *args[] = {"convert", src, "-o", out, NULL};
    int rc = tu_run_sparsa_timed(args, 120, &err);
    cr_assert_eq(rc, 1, "exit %d on a full disk: %s", rc, err);
    cr_assert_eq(tu_line_count(err), 1, "%s", err);
    cr_assert(strstr(err, "No space left on device"), "%s", err);
    free(err);
    cr_assert_eq(tu_list_dir(outdir, names, sizeof names), 0, "the full tmpfs holds %s", names);
}
