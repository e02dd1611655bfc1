/* test_cli_hostile.c — the command line used as a careless or hostile user would: outputs that
 * are inputs, links, FIFOs or devices are refused before anything is written (inputs keep
 * their bytes, links and devices stay what they were); writes to a full device are exit 1;
 * flags given twice, duplicate context lengths and the same corpus twice are usage errors;
 * --opt=value works; a reader that stops early ends the program quietly. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "sparsa_common.h"
#include "tu_cli.h"
#include "tu_signals.h"

#define DIR "tests/fixtures/perplexity/"
#define LLAMA DIR "ppl-llama.sparsa"
#define TASKS "tests/fixtures/tasks/"
#define TASK_MODEL "examples/synthetic/models/copy-asentmax-nape.sparsa"

static char tmpdir[] = "/tmp/sparsa_cli_hostileXXXXXX";

static void mk_tmp(void) { cr_assert(mkdtemp(tmpdir)); }
static void rm_tmp(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(cli_hostile, .init = mk_tmp, .fini = rm_tmp);

/* Runs a shell command line (the binary is $SPARSA); returns the exit status, stderr in *err. */
static int run_sh(const char *line, char **err) {
    char efile[400], cmd[2000];
    snprintf(efile, sizeof efile, "%s/stderr.txt", tmpdir);
    snprintf(cmd, sizeof cmd, "SPARSA=%s; %s 2>%s", tu_sparsa_bin(), line, efile);
    int st = system(cmd);
    *err = tu_read_text(efile);
    remove(efile);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* path in the scratch folder */
static char *in_tmp(const char *name) {
    static char buf[4][400];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", tmpdir, name);
    return b;
}

static void copy_file(const char *from, const char *to) {
    size_t n = 0;
    void *data = tu_read_file(from, &n);
    cr_assert(data && n, "cannot read %s", from);
    FILE *f = fopen(to, "wb");
    cr_assert(f && fwrite(data, 1, n, f) == n && fclose(f) == 0);
    free(data);
}

static void expect_same_bytes(const char *path, const void *want, size_t n) {
    size_t m = 0;
    void *got = tu_read_file(path, &m);
    cr_assert(got && m == n && !memcmp(got, want, n), "%s changed", path);
    free(got);
}

/* SHA-256 of a file, as hex (the acceptance check: every input's digest unchanged). */
static void sha256_of(const char *path, char hex[65]) {
    struct stat st;
    int fd = open(path, O_RDONLY);
    cr_assert(fd >= 0 && fstat(fd, &st) == 0, "cannot open %s", path);
    sp_error err = {0};
    cr_assert_eq(sp_sha256_file(fd, (uint64_t)st.st_size, hex, &err), 0, "%s", err.msg);
    close(fd);
}

static void expect_refused(const char *line, const char *needle) {
    char *err = NULL;
    int rc = run_sh(line, &err);
    cr_assert_eq(rc, 2, "'%s' exited %d: %s", line, rc, err);
    cr_assert_eq(tu_line_count(err), 1, "'%s': %s", line, err);
    if (needle) cr_assert(strstr(err, needle), "'%s': stderr lacks '%s': %s", line, needle, err);
    free(err);
}

Test(cli_hostile, logits_out_onto_its_own_model_is_refused) {
    char *model = in_tmp("m.sparsa");
    copy_file(LLAMA, model);
    size_t n = 0;
    void *before = tu_read_file(model, &n);
    char sha_before[65], sha_after[65];
    sha256_of(model, sha_before);
    char line[1200];
    snprintf(line, sizeof line, "$SPARSA logits %s --tokens 1,2 --out %s", model, model);
    expect_refused(line, "input");
    /* another name for the same file */
    snprintf(line, sizeof line, "ln %s %s/hard && $SPARSA logits %s --tokens 1,2 --out %s/hard",
             model, tmpdir, model, tmpdir);
    expect_refused(line, "input");
    /* --force is no option of logits, and no option weakens the rule */
    snprintf(line, sizeof line, "$SPARSA logits %s --tokens 1,2 --out %s --no-verify", model,
             model);
    expect_refused(line, "input");
    expect_same_bytes(model, before, n);
    sha256_of(model, sha_after);
    cr_assert_str_eq(sha_after, sha_before, "the model's SHA-256 changed");
    free(before);
}

Test(cli_hostile, logits_out_symlink_is_refused_and_kept) {
    char *target = in_tmp("target.bin"), *link = in_tmp("link.bin");
    FILE *f = fopen(target, "w");
    fputs("precious", f);
    fclose(f);
    cr_assert_eq(symlink(target, link), 0);
    char line[1200];
    snprintf(line, sizeof line, "$SPARSA logits " LLAMA " --tokens 1,2 --out %s", link);
    expect_refused(line, "symlink");
    struct stat st;
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode), "the link was replaced");
    expect_same_bytes(target, "precious", 8);
}

Test(cli_hostile, logits_out_fifo_is_refused_at_once) {
    char *fifo = in_tmp("fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    char line[1200];
    snprintf(line, sizeof line, "timeout 20 $SPARSA logits " LLAMA " --tokens 1,2 --out %s", fifo);
    expect_refused(line, "FIFO");
    struct stat st;
    cr_assert(stat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
}

/* --out onto a character device: refused, naming it; the node stays a device. */
static void expect_device_kept(const char *dev) {
    char line[1200];
    snprintf(line, sizeof line, "$SPARSA logits " LLAMA " --tokens 1,2 --out %s", dev);
    expect_refused(line, dev);
    snprintf(line, sizeof line, "$SPARSA logits " LLAMA " --tokens 1,2 --out %s --threads 1",
             dev);
    expect_refused(line, "device");
    struct stat st;
    cr_assert(stat(dev, &st) == 0 && S_ISCHR(st.st_mode), "%s is no longer a device", dev);
}

Test(cli_hostile, logits_out_char_device_made_with_mknod_is_refused_and_kept) {
    if (geteuid() != 0) cr_skip_test("mknod of a character device needs root");
    const char *dev = in_tmp("null");
    cr_assert_eq(mknod(dev, S_IFCHR | 0666, makedev(1, 3)), 0, "mknod failed as root");
    char sha[65];
    sha256_of(LLAMA, sha);
    expect_device_kept(dev);
    char again[65];
    sha256_of(LLAMA, again);
    cr_assert_str_eq(again, sha, "the model's SHA-256 changed");
}

Test(cli_hostile, logits_out_dev_null_is_refused_and_kept) {
    expect_device_kept("/dev/null");
}

Test(cli_hostile, predictions_onto_src_is_refused) {
    char *src = in_tmp("t.src"), *trg = in_tmp("t.trg");
    copy_file(TASKS "copy_0_64.src", src);
    copy_file(TASKS "copy_0_64.trg", trg);
    size_t n = 0;
    void *before = tu_read_file(src, &n);
    char sha_src[65], sha_trg[65], sha_model[65], now[65];
    sha256_of(src, sha_src);
    sha256_of(trg, sha_trg);
    sha256_of(TASK_MODEL, sha_model);
    char line[1500];
    snprintf(line, sizeof line, "$SPARSA eval-task " TASK_MODEL " --src %s --trg %s --limit 1 "
             "--predictions %s", src, trg, src);
    expect_refused(line, "input");
    snprintf(line, sizeof line, "$SPARSA eval-task " TASK_MODEL " --src %s --trg %s --limit 1 "
             "--predictions %s", src, trg, trg);
    expect_refused(line, "input");
    snprintf(line, sizeof line, "$SPARSA eval-task " TASK_MODEL " --src %s --trg %s --limit 1 "
             "--predictions " TASK_MODEL, src, trg);
    expect_refused(line, "input");
    expect_same_bytes(src, before, n);
    const char *paths[] = {src, trg, TASK_MODEL};
    const char *digests[] = {sha_src, sha_trg, sha_model};
    for (int i = 0; i < 3; i++) {
        sha256_of(paths[i], now);
        cr_assert_str_eq(now, digests[i], "%s: SHA-256 changed", paths[i]);
    }
    free(before);
    /* and a good run writes the predictions, one line per sample, atomically */
    char *pred = in_tmp("pred.txt");
    snprintf(line, sizeof line, "$SPARSA eval-task " TASK_MODEL " --src %s --trg %s --limit 2 "
             "--threads 1 --predictions %s >/dev/null", src, trg, pred);
    char *err = NULL;
    cr_assert_eq(run_sh(line, &err), 0, "%s", err);
    free(err);
    char *text = tu_read_text(pred);
    cr_assert(text && tu_line_count(text) == 2 && (text[0] == '0' || text[0] == '1'), "%s", text);
    free(text);
}

static void expect_write_error(const char *line) {
    char *err = NULL;
    int rc = run_sh(line, &err);
    cr_assert_eq(rc, 1, "'%s' exited %d: %s", line, rc, err);
    cr_assert_eq(tu_line_count(err), 1, "'%s': %s", line, err);
    cr_assert(strstr(err, "standard output"), "'%s': %s", line, err);
    free(err);
}

Test(cli_hostile, full_stdout_is_exit_1) {
    expect_write_error("$SPARSA inspect " LLAMA " > /dev/full");
    expect_write_error("$SPARSA perplexity " LLAMA " " DIR "psalms.txt --ctx 64 --max-tokens 200 "
                       "--threads 1 --json > /dev/full");
    expect_write_error("$SPARSA --help > /dev/full");
    const char *cmds[] = {"convert", "inspect", "logits", "tokenize", "perplexity", "generate",
                          "eval-task"};
    char line[200];
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        snprintf(line, sizeof line, "$SPARSA %s --help > /dev/full", cmds[i]);
        expect_write_error(line);
    }
}

Test(cli_hostile, reader_closing_early_ends_with_sigpipe_and_no_message) {
    /* Output larger than a pipe holds (3000 summary lines, about 200 KB) that the reader stops
     * reading: sparsa ends by SIGPIPE (status 128 + 13) whatever the timing, never exit 0 with
     * output lost, and says nothing on stderr. */
    char *status = in_tmp("status"), line[1200], *err = NULL;
    snprintf(line, sizeof line, "( $SPARSA logits " LLAMA " --threads 1 --tokens "
             "$(seq -s, 1 1999),$(seq -s, 1 1000); echo $? > %s ) | head -c 5 >/dev/null", status);
    cr_assert_eq(run_sh(line, &err), 0, "%s", err);
    cr_assert_str_eq(err, "", "error output: %s", err);
    free(err);
    char *st = tu_read_text(status);
    cr_assert(st && atoi(st) == 128 + SIGPIPE, "sparsa exited %s", st);
    free(st);
}

Test(cli_hostile, reader_closing_early_is_quiet) {
    char *err = NULL;
    int rc = run_sh("$SPARSA inspect " LLAMA " --tensors --graph | head -c 10 >/dev/null", &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(err, "", "error output: %s", err);
    free(err);
    /* a long stream cut by the reader: no message either */
    rc = run_sh("$SPARSA generate " LLAMA " --tokens 1 -n 5000 --threads 1 | head -c 5 "
                ">/dev/null", &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(err, "", "error output: %s", err);
    free(err);
}

Test(cli_hostile, flags_given_twice_are_usage_errors) {
    tu_expect_bad("perplexity " LLAMA " " DIR "psalms.txt --ctx 256 --ctx 512", "--ctx given twice");
    tu_expect_bad("perplexity " LLAMA " " DIR "psalms.txt --json --json", "--json given twice");
    tu_expect_bad("perplexity " LLAMA " " DIR "psalms.txt --ctx 4,4", "4 twice");
    tu_expect_bad("perplexity " LLAMA " " DIR "psalms.txt --ctx=64,32,64", "64 twice");
    tu_expect_bad("logits " LLAMA " --tokens 1 --tokens 2", "--tokens given twice");
    tu_expect_bad("convert x.pt -o a.sparsa --out b.sparsa", "--out given twice");
    tu_expect_bad("generate " LLAMA " --tokens 1 -n 2 -n 3", "-n given twice");
    tu_expect_bad("tokenize " LLAMA " --decode --decode 1", "--decode given twice");
    tu_expect_bad("inspect " LLAMA " --verify --verify", "--verify given twice");
    tu_expect_bad("eval-task " TASK_MODEL " --src a --trg b --limit 1 --limit 2",
                  "--limit given twice");
}

Test(cli_hostile, same_corpus_twice_is_refused) {
    tu_expect_bad("perplexity " LLAMA " " DIR "psalms.txt " DIR "psalms.txt --ctx 64",
                  "psalms.txt given twice");
    tu_expect_bad("perplexity " LLAMA " " DIR "psalms.txt ./" DIR "psalms.txt --ctx 64",
                  "same file");
    char *link = in_tmp("psalms-link.txt");
    char target[600];
    cr_assert(realpath(DIR "psalms.txt", target));
    cr_assert_eq(symlink(target, link), 0);
    char args[1200];
    snprintf(args, sizeof args, "perplexity " LLAMA " " DIR "psalms.txt %s --ctx 64", link);
    tu_expect_bad(args, link);
}

Test(cli_hostile, repeatable_src_trg_stay_repeatable) {
    char *out = NULL, *err = NULL;
    int rc = tu_run_sparsa("eval-task " TASK_MODEL " --limit 1 --threads 1 --json "
                           "--src " TASKS "copy_0_64.src --trg " TASKS "copy_0_64.trg "
                           "--src " TASKS "copy_1_256.src --trg " TASKS "copy_1_256.trg",
                           &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(out, "copy_0_64.src") && strstr(out, "copy_1_256.src"), "%s", out);
    free(out);
    free(err);
}

Test(cli_hostile, opt_equals_value_is_the_same_as_two_words) {
    char *a = NULL, *b = NULL;
    const char *base = "perplexity " LLAMA " " DIR "psalms.txt --max-tokens 300 --threads 1 ";
    char args[600];
    snprintf(args, sizeof args, "%s--ctx 64 --score second-half --json", base);
    cr_assert_eq(tu_run_sparsa(args, &a, NULL), 0);
    snprintf(args, sizeof args, "%s--ctx=64 --score=second-half --json", base);
    cr_assert_eq(tu_run_sparsa(args, &b, NULL), 0);
    cr_assert(strstr(a, "\"score\": \"second-half\""), "%s", a);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
}

Test(cli_hostile, special_files_as_inputs_are_refused_at_once) {
    char *fifo = in_tmp("corpus.fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    char line[1200];
    snprintf(line, sizeof line, "timeout 20 $SPARSA perplexity " LLAMA " %s --ctx 64", fifo);
    expect_refused(line, "FIFO");
    snprintf(line, sizeof line, "timeout 20 $SPARSA perplexity " LLAMA " /dev/zero --ctx 64");
    expect_refused(line, "/dev/zero");
    snprintf(line, sizeof line, "timeout 20 $SPARSA eval-task " TASK_MODEL " --src %s --trg %s",
             fifo, fifo);
    expect_refused(line, "FIFO");
    snprintf(line, sizeof line, "timeout 20 $SPARSA logits %s --tokens 1", fifo);
    expect_refused(line, fifo);
    /* standard input is read with a bound */
    expect_refused("head -c 5000 /dev/zero | tr '\\0' a | $SPARSA tokenize "
                   "tests/fixtures/tokenizer/kjv_bpe.model - --max-bytes 1000", "1000");
}

Test(cli_hostile, blank_lines_in_task_files_are_refused) {
    char *src = in_tmp("blank.src");
    FILE *f = fopen(src, "w");
    fputs("1 2 3\n\n4 5 6\n", f);
    fclose(f);
    char line[1200];
    snprintf(line, sizeof line, "$SPARSA eval-task " TASK_MODEL " --src %s --trg %s", src, src);
    expect_refused(line, ":2: blank line");
}

/* `sparsa ARGS` (with %s for the hostile name) succeeds and its JSON holds the name escaped,
 * no raw byte of it. */
static void expect_escaped_name(const char *fmt, const char *name, const char *escaped) {
    char args[1500], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, fmt, name, name, name);
    cr_assert_eq(tu_run_sparsa(args, &out, &err), 0, "%s: %s", args, err);
    cr_assert(strstr(out, escaped), "%s: %s", args, out);
    for (const unsigned char *c = (const unsigned char *)out; *c; c++)
        cr_assert(*c != 0xff && *c != 0x01, "%s: a raw byte of the name reached the JSON", args);
    free(out);
    free(err);
}

Test(cli_hostile, file_names_in_json_are_valid_for_any_bytes) {
    char *corpus = in_tmp("bad\xff\"name\x01.txt");
    copy_file(DIR "psalms.txt", corpus);
    expect_escaped_name("perplexity " LLAMA " '%s' --ctx 64 --max-tokens 200 --threads 1 --json",
                        corpus, "bad\\ufffd\\\"name\\u0001.txt\"");
    char *model = in_tmp("model\xff\"x\x01.sparsa");
    copy_file(LLAMA, model);
    expect_escaped_name("inspect '%s' --json", model, "model\\ufffd\\\"x\\u0001.sparsa\"");
    char *src = in_tmp("task\xff\"x\x01.src");
    copy_file(TASKS "copy_0_64.src", src);
    expect_escaped_name("eval-task " TASK_MODEL " --src '%s' --trg '%s' --limit 1 --threads 1 "
                        "--json", src, "\"src\": \"" );
    expect_escaped_name("eval-task " TASK_MODEL " --src '%s' --trg '%s' --limit 1 --threads 1 "
                        "--json", src, "task\\ufffd\\\"x\\u0001.src\", \"trg\"");
}

/* A full file system: a small tmpfs (mounted when root) filled to the last byte. */
static char full_dir[400];

/* (the suite's own init and fini make and remove tmpdir around these) */
static void mount_full(void) {
    snprintf(full_dir, sizeof full_dir, "%s/full", tmpdir);
    cr_assert_eq(mkdir(full_dir, 0700), 0);
    if (geteuid() != 0) return;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=64k tmpfs '%s' 2>/dev/null && "
             "{ dd if=/dev/zero of='%s/fill' bs=4k 2>/dev/null; true; }", full_dir, full_dir);
    if (system(cmd) != 0) full_dir[0] = 0;
}

static void unmount_full(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "umount '%s' 2>/dev/null", full_dir);
    if (full_dir[0] && geteuid() == 0) (void)!system(cmd);
}

/* Outputs onto a full disk: exit 1 with one line, and nothing left behind but the filler. */
Test(cli_hostile, outputs_onto_a_full_disk_fail_and_leave_nothing, .init = mount_full,
     .fini = unmount_full) {
    if (geteuid() != 0) cr_skip_test("mounting a small tmpfs needs root");
    if (!full_dir[0]) cr_skip_test("mount -t tmpfs is not permitted here");
    char line[1500], *err = NULL;
    const char *const outputs[] = {
        "$SPARSA logits " LLAMA " --tokens 1,2,3 --threads 1 --out %s/logits.bin",
        "$SPARSA eval-task " TASK_MODEL " --src " TASKS "copy_0_64.src --trg " TASKS
        "copy_0_64.trg --limit 2 --threads 1 --predictions %s/pred.txt > /dev/null",
    };
    for (size_t i = 0; i < 2; i++) {
        snprintf(line, sizeof line, outputs[i], full_dir);
        int rc = run_sh(line, &err);
        cr_assert_eq(rc, 1, "'%s' exited %d: %s", line, rc, err);
        cr_assert_eq(tu_line_count(err), 1, "'%s': %s", line, err);
        cr_assert(strstr(err, "No space left on device"), "'%s': %s", line, err);
        free(err);
        char ls[600];
        snprintf(ls, sizeof ls, "test \"$(ls -A '%s')\" = fill", full_dir);
        cr_assert_eq(system(ls), 0, "'%s' left a file in %s", line, full_dir);
    }
}

/* SIGTERM, SIGINT or SIGHUP while eval-task writes --predictions: the process ends by that
 * signal and neither the output nor its temporary is left. */
Test(cli_hostile, a_signal_during_a_run_leaves_no_temporary, .timeout = 120) {
    const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    char pairs[1200] = "";
    for (int i = 0; i < 8; i++)
        strcat(pairs, " --src " TASKS "copy_1_256.src --trg " TASKS "copy_1_256.trg");
    for (size_t i = 0; i < 3; i++) {
        char *out_dir = in_tmp("signal"), line[2500], *err = NULL;
        cr_assert_eq(mkdir(out_dir, 0700), 0);
        char *status = in_tmp("status");
        /* timeout runs sparsa in the foreground (a background job of a shell script would
         * start with SIGINT ignored) and sends the signal after 0.4 s */
        snprintf(line, sizeof line, "timeout --preserve-status -s %d 0.4 $SPARSA eval-task "
                 TASK_MODEL "%s --threads 1 --predictions %s/pred.txt > /dev/null; echo $? > %s",
                 sigs[i], pairs, out_dir, status);
        cr_assert_eq(run_sh(line, &err), 0, "%s", err);
        free(err);
        char *st = tu_read_text(status);
        cr_assert(st && atoi(st) == 128 + sigs[i], "signal %d: exit %s", sigs[i], st);
        free(st);
        char ls[600];
        snprintf(ls, sizeof ls, "test -z \"$(ls -A '%s')\"", out_dir);
        cr_assert_eq(system(ls), 0, "signal %d left a file in %s", sigs[i], out_dir);
        snprintf(ls, sizeof ls, "rmdir '%s'", out_dir);
        cr_assert_eq(system(ls), 0);
    }
}
