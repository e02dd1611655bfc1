/* test_format_verify_on_use.c — tensor data is trusted only once checked: the first time a
 * tensor's bytes are handed out (sp_file_tensor_data; sp_model_open takes every weight the
 * graph uses that way) they are compared with the tensor's CRC-32, uncompressed tensors
 * included. 200 seeded random single-byte changes inside the tensor data of a model stored
 * without compression are each refused through the library, a handful through
 * `sparsa logits` too (exit 2, one line naming the tensor), and with no_verify the same damaged
 * files still open and run. The check is made once per tensor and is safe from many threads. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>

#include "tu_cli.h"
#include "tu_format.h"
#include "tu_interp.h"

/* A fixture whose tensors are all stored uncompressed and all used by its graph. */
#define MODEL "tests/fixtures/models/hf-llama-f32.sparsa"
#define FLIPS 200
#define CLI_FLIPS 5

static uint64_t rng_state;

static uint64_t rng_next(void) { /* xorshift64: the same flips on every run */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A private copy of MODEL (path filled in) and its bytes. */
static uint8_t *copy_model(char *path, size_t cap, size_t *len) {
    uint8_t *img = tu_read_file(MODEL, len);
    cr_assert(img && *len > 0, "cannot read %s", MODEL);
    tu_tmp_name(path, cap, "verify");
    FILE *f = fopen(path, "wb");
    cr_assert(f && fwrite(img, 1, *len, f) == *len && fclose(f) == 0, "cannot write %s", path);
    return img;
}

static void put_byte(const char *path, uint64_t at, uint8_t v) {
    int fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0, "%s", path);
    cr_assert_eq(pwrite(fd, &v, 1, (off_t)at), 1);
    cr_assert_eq(close(fd), 0);
}

/* One change: a byte inside some tensor's stored bytes (uniform over all of them) and a
 * non-zero XOR mask. */
typedef struct {
    uint64_t at;
    uint8_t mask;
    size_t tensor;
} flip;

static flip pick_flip(const sp_file *f) {
    uint64_t total = 0;
    for (size_t i = 0; i < sp_file_tensor_count(f); i++) total += sp_file_tensor(f, i)->stored_size;
    uint64_t k = rng_next() % total;
    flip fl = {0, (uint8_t)(1 + rng_next() % 255), 0};
    for (size_t i = 0; i < sp_file_tensor_count(f); i++) {
        const sp_tensor_info *t = sp_file_tensor(f, i);
        if (k < t->stored_size) {
            fl.at = t->offset + k;
            fl.tensor = i;
            return fl;
        }
        k -= t->stored_size;
    }
    cr_assert_fail("no tensor byte picked");
    return fl;
}

static char *tensor_name(const sp_tensor_info *t) {
    char *s = malloc(t->name_len + 1);
    memcpy(s, t->name, t->name_len);
    s[t->name_len] = 0;
    return s;
}

/* The element holding the changed byte, read from the damaged image: is it a weight a model
 * can run with (finite, |w| <= 1000)? Only then must the forward without verification give
 * finite logits; any other change must still open. */
static int changed_weight_is_tame(const uint8_t *img, const sp_tensor_info *t, uint64_t at) {
    cr_assert_eq(t->dtype, SP_F32, "the fixture stores f32 weights");
    float w;
    memcpy(&w, img + at - (at - t->offset) % 4, 4);
    return isfinite(w) && fabsf(w) <= 1000.0f;
}

static void expect_refused(const char *path, const char *name, uint32_t crc, const char *ctx) {
    sp_model *m = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_model_open(path, &m, &err), SP_ERR_INPUT, "%s: opened", ctx);
    cr_assert_null(m);
    char want[400];
    snprintf(want, sizeof want, "tensor '%s': checksum mismatch (stored 0x%08x, computed 0x", name,
             crc);
    cr_assert(strstr(err.msg, want), "%s: '%s' lacks '%s'", ctx, err.msg, want);
}

static const int32_t tokens[] = {1, 5, 17, 3, 42, 9};
#define NTOK (sizeof tokens / sizeof tokens[0])

/* With no_verify the damaged file opens; a tame change also runs to finite logits. */
static int runs_without_verification(const char *path, int tame, const char *ctx) {
    sp_model *m = NULL;
    sp_error err = {0};
    sp_model_options o = {.no_verify = 1};
    cr_assert_eq(sp_model_open_opts(path, &o, &m, &err), 0, "%s: no_verify: %s", ctx, err.msg);
    if (tame) {
        float *lg = tu_logits(m, tokens, NTOK, 0, 1);
        cr_assert_not_null(lg, "%s: the forward failed without verification", ctx);
        size_t n = NTOK * (size_t)sp_model_vocab_size(m);
        for (size_t i = 0; i < n; i++)
            cr_assert(isfinite(lg[i]), "%s: logit %zu = %g", ctx, i, lg[i]);
        free(lg);
    }
    sp_model_free(m);
    return tame;
}

Test(format_verify_on_use, two_hundred_random_flips_refused_and_run_with_no_verify,
     .timeout = 120) {
    char path[256];
    size_t len;
    uint8_t *img = copy_model(path, sizeof path, &len);
    sp_file *f = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_file_open_memory(img, len, &f, &err), 0, "%s", err.msg);
    sp_model *m = NULL;
    cr_assert_eq(sp_model_open(path, &m, &err), 0, "the undamaged copy: %s", err.msg);
    sp_model_free(m);
    rng_state = 0x5ca1ab1e14ull;
    int ran = 0;
    for (int i = 0; i < FLIPS; i++) {
        flip fl = pick_flip(f);
        const sp_tensor_info *t = sp_file_tensor(f, fl.tensor);
        char *name = tensor_name(t), ctx[400];
        snprintf(ctx, sizeof ctx, "flip %d: byte %llu of '%s' ^= 0x%02x", i,
                 (unsigned long long)(fl.at - t->offset), name, fl.mask);
        img[fl.at] ^= fl.mask;
        put_byte(path, fl.at, img[fl.at]);
        expect_refused(path, name, t->crc32, ctx);
        ran += runs_without_verification(path, changed_weight_is_tame(img, t, fl.at), ctx);
        img[fl.at] ^= fl.mask;
        put_byte(path, fl.at, img[fl.at]);
        free(name);
    }
    cr_assert_gt(ran, FLIPS / 2, "only %d of %d changes left a runnable weight", ran, FLIPS);
    cr_log_info("%d flips refused; with no_verify all opened and %d ran", FLIPS, ran);
    cr_assert_eq(sp_model_open(path, &m, &err), 0, "the restored copy: %s", err.msg);
    sp_model_free(m);
    sp_file_close(f);
    free(img);
    remove(path);
}

Test(format_verify_on_use, a_handful_of_flips_exit_2_through_logits, .timeout = 120) {
    char path[256];
    size_t len;
    uint8_t *img = copy_model(path, sizeof path, &len);
    sp_file *f = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_file_open_memory(img, len, &f, &err), 0, "%s", err.msg);
    char args[512];
    snprintf(args, sizeof args, "logits %s --tokens 1,5,17", path);
    char *out = NULL;
    cr_assert_eq(tu_run_sparsa(args, &out, NULL), 0, "the undamaged copy");
    cr_assert_eq(tu_line_count(out), 3, "one line of logits per token: %s", out);
    free(out);
    rng_state = 0xf11b5ull;
    for (int i = 0; i < CLI_FLIPS; i++) {
        flip fl = pick_flip(f);
        char *name = tensor_name(sp_file_tensor(f, fl.tensor)), needle[400];
        snprintf(needle, sizeof needle, "tensor '%s': checksum mismatch", name);
        put_byte(path, fl.at, img[fl.at] ^ fl.mask);
        tu_expect_bad(args, needle);
        put_byte(path, fl.at, img[fl.at]);
        free(name);
    }
    sp_file_close(f);
    free(img);
    remove(path);
}

/* At the file level: the damaged tensor fails on every call (the check is not a one-shot),
 * its neighbours are handed out, and no_verify hands out the damaged bytes themselves. */
Test(format_verify_on_use, a_damaged_tensor_fails_every_call_and_only_it) {
    char path[256];
    size_t len;
    uint8_t *img = copy_model(path, sizeof path, &len);
    sp_file *f = NULL;
    sp_error err = {0};
    cr_assert_eq(sp_file_open(path, &f, &err), 0, "%s", err.msg);
    const sp_tensor_info *t = sp_file_tensor(f, 1);
    uint64_t at = t->offset + t->stored_size / 3;
    sp_file_close(f);
    put_byte(path, at, img[at] ^ 0x80);
    cr_assert_eq(sp_file_open(path, &f, &err), 0, "opening reads no tensor data: %s", err.msg);
    const void *d = (const void *)1;
    for (int call = 0; call < 2; call++) {
        err = (sp_error){0};
        cr_assert_eq(sp_file_tensor_data(f, sp_file_tensor(f, 1), &d, &err), SP_ERR_INPUT,
                     "call %d", call);
        cr_assert_null(d);
        cr_assert(strstr(err.msg, "checksum mismatch"), "%s", err.msg);
    }
    for (size_t i = 0; i < sp_file_tensor_count(f); i++)
        if (i != 1)
            cr_assert_eq(sp_file_tensor_data(f, sp_file_tensor(f, i), &d, &err), 0, "%s", err.msg);
    sp_file_close(f);
    cr_assert_eq(sp_file_open_opts(path, &(sp_file_options){.no_verify = 1}, &f, &err), 0);
    t = sp_file_tensor(f, 1);
    cr_assert_eq(sp_file_tensor_data(f, t, &d, &err), 0, "no_verify: %s", err.msg);
    cr_assert_eq(((const uint8_t *)d)[at - t->offset], img[at] ^ 0x80,
                 "the stored bytes, as they are");
    sp_file_close(f);
    free(img);
    remove(path);
}

/* no_verify concerns uncompressed tensors only: a zstd tensor is decoded, so still checked. */
Test(format_verify_on_use, zstd_tensors_are_checked_even_with_no_verify) {
    char path[256];
    sp_error err = {0};
    tu_tmp_name(path, sizeof path, "zstd");
    cr_assert_eq(tu_write_small_file(path, &err), 0, "%s", err.msg);
    sp_file *f = NULL;
    cr_assert_eq(sp_file_open(path, &f, &err), 0, "%s", err.msg);
    const sp_tensor_info *t = sp_file_find_tensor(f, "w0");
    cr_assert(t && t->compression == SP_COMPRESS_ZSTD, "the fixture's w0 is zstd");
    uint64_t at = t->offset + t->stored_size / 2;
    size_t len = 0;
    uint8_t *img = tu_read_file(path, &len);
    cr_assert(img && len > at);
    sp_file_close(f);
    put_byte(path, at, img[at] ^ 0x04);
    cr_assert_eq(sp_file_open_opts(path, &(sp_file_options){.no_verify = 1}, &f, &err), 0);
    const void *d;
    cr_assert_eq(sp_file_tensor_data(f, sp_file_find_tensor(f, "w0"), &d, &err), SP_ERR_INPUT);
    cr_assert(strstr(err.msg, "tensor 'w0': checksum mismatch (stored 0x"), "%s", err.msg);
    sp_file_close(f);
    free(img);
    remove(path);
}

/* Many threads asking for the same tensors at once: every call succeeds with the same
 * pointer (one decompressed buffer per zstd tensor, the mapping for the others), and on a
 * damaged file every call for the damaged tensor fails. */
#define THREADS 8

typedef struct {
    sp_file *f;
    const void *got[8];
    int failures;
} worker;

static void *fetch_all(void *arg) {
    worker *w = arg;
    for (size_t i = 0; i < sp_file_tensor_count(w->f) && i < 8; i++) {
        sp_error err = {0};
        if (sp_file_tensor_data(w->f, sp_file_tensor(w->f, i), &w->got[i], &err)) w->failures++;
    }
    return NULL;
}

static void run_workers(sp_file *f, worker *w) {
    pthread_t th[THREADS];
    for (int k = 0; k < THREADS; k++) {
        w[k] = (worker){.f = f};
        cr_assert_eq(pthread_create(&th[k], NULL, fetch_all, &w[k]), 0);
    }
    for (int k = 0; k < THREADS; k++) pthread_join(th[k], NULL);
}

Test(format_verify_on_use, first_use_from_many_threads_at_once) {
    char path[256];
    sp_error err = {0};
    tu_tmp_name(path, sizeof path, "threads");
    cr_assert_eq(tu_write_small_file(path, &err), 0, "%s", err.msg);
    sp_file *f = NULL;
    cr_assert_eq(sp_file_open(path, &f, &err), 0, "%s", err.msg);
    size_t n = sp_file_tensor_count(f);
    cr_assert(n >= 3 && n <= 8, "%zu tensors", n);
    worker w[THREADS];
    run_workers(f, w);
    for (int k = 0; k < THREADS; k++) {
        cr_assert_eq(w[k].failures, 0, "thread %d", k);
        for (size_t i = 0; i < n; i++)
            cr_assert(w[k].got[i] && w[k].got[i] == w[0].got[i], "thread %d tensor %zu", k, i);
    }
    const sp_tensor_info *t = sp_file_find_tensor(f, "w1");
    cr_assert(t && t->compression == SP_COMPRESS_NONE);
    uint64_t at = t->offset;
    sp_file_close(f);
    size_t len = 0;
    uint8_t *img = tu_read_file(path, &len);
    cr_assert(img && len > at);
    put_byte(path, at, img[at] ^ 0x01);
    cr_assert_eq(sp_file_open(path, &f, &err), 0, "%s", err.msg);
    run_workers(f, w);
    for (int k = 0; k < THREADS; k++) cr_assert_eq(w[k].failures, 1, "thread %d", k);
    sp_file_close(f);
    free(img);
    remove(path);
}
