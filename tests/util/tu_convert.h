/* tu_convert.h — builders for the converters' tests: stored ZIP archives (optionally
 * ZIP64) and safetensors files, made in memory so hostile inputs need no committed fixtures;
 * and a Hugging Face Llama folder (config.json + model.safetensors) of any size, its weights
 * from a seeded generator and streamed to disk, with one element optionally set to a chosen
 * value (NaN, Inf, a value too large for f16); running `sparsa` without a shell, with a
 * time limit (a command that blocks fails the test instead of hanging it) or to be signalled. */
#ifndef SPARSA_TEST_CONVERT_UTIL_H
#define SPARSA_TEST_CONVERT_UTIL_H

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tu.h"

typedef struct {
    uint8_t *b;
    size_t n, cap;
} tu_buf;

static inline void tu_put(tu_buf *o, const void *p, size_t n) {
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2 + 64;
        o->b = realloc(o->b, o->cap);
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
static inline void tu_u16(tu_buf *o, uint16_t v) { uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)}; tu_put(o, b, 2); }
static inline void tu_u32(tu_buf *o, uint32_t v) { tu_u16(o, (uint16_t)v); tu_u16(o, (uint16_t)(v >> 16)); }
static inline void tu_u64(tu_buf *o, uint64_t v) { tu_u32(o, (uint32_t)v); tu_u32(o, (uint32_t)(v >> 32)); }

typedef struct {
    const char *name;
    const void *data;
    size_t len;
    uint16_t method;        /* 0 stored */
    uint64_t claim_size;    /* 0: len; else the size written in the central directory */
} tu_member;

/* A ZIP archive of the members; zip64 writes ZIP64 end records and extra fields. */
static inline tu_buf tu_zip(const tu_member *m, int n, int zip64) {
    tu_buf o = {0};
    uint64_t *off = calloc((size_t)n, sizeof *off);
    for (int i = 0; i < n; i++) {
        off[i] = o.n;
        size_t nl = strlen(m[i].name);
        tu_u32(&o, 0x04034b50); tu_u16(&o, 20); tu_u16(&o, 0); tu_u16(&o, m[i].method);
        tu_u16(&o, 0); tu_u16(&o, 0); tu_u32(&o, 0);
        tu_u32(&o, (uint32_t)m[i].len); tu_u32(&o, (uint32_t)m[i].len);
        tu_u16(&o, (uint16_t)nl); tu_u16(&o, 0);
        tu_put(&o, m[i].name, nl);
        tu_put(&o, m[i].data, m[i].len);
    }
    uint64_t cd = o.n;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(m[i].name);
        uint64_t sz = m[i].claim_size ? m[i].claim_size : m[i].len;
        tu_u32(&o, 0x02014b50); tu_u16(&o, 45); tu_u16(&o, 45); tu_u16(&o, 0); tu_u16(&o, m[i].method);
        tu_u16(&o, 0); tu_u16(&o, 0); tu_u32(&o, 0);
        if (zip64) { tu_u32(&o, 0xffffffffu); tu_u32(&o, 0xffffffffu); }
        else { tu_u32(&o, (uint32_t)sz); tu_u32(&o, (uint32_t)sz); }
        tu_u16(&o, (uint16_t)nl); tu_u16(&o, zip64 ? 28 : 0); tu_u16(&o, 0);
        tu_u16(&o, 0); tu_u16(&o, 0); tu_u32(&o, 0);
        tu_u32(&o, zip64 ? 0xffffffffu : (uint32_t)off[i]);
        tu_put(&o, m[i].name, nl);
        if (zip64) { tu_u16(&o, 1); tu_u16(&o, 24); tu_u64(&o, sz); tu_u64(&o, sz); tu_u64(&o, off[i]); }
    }
    uint64_t cdsize = o.n - cd;
    if (zip64) {
        uint64_t z = o.n;
        tu_u32(&o, 0x06064b50); tu_u64(&o, 44); tu_u16(&o, 45); tu_u16(&o, 45); tu_u32(&o, 0); tu_u32(&o, 0);
        tu_u64(&o, (uint64_t)n); tu_u64(&o, (uint64_t)n); tu_u64(&o, cdsize); tu_u64(&o, cd);
        tu_u32(&o, 0x07064b50); tu_u32(&o, 0); tu_u64(&o, z); tu_u32(&o, 1);
    }
    tu_u32(&o, 0x06054b50); tu_u16(&o, 0); tu_u16(&o, 0);
    tu_u16(&o, zip64 ? 0xffff : (uint16_t)n); tu_u16(&o, zip64 ? 0xffff : (uint16_t)n);
    tu_u32(&o, zip64 ? 0xffffffffu : (uint32_t)cdsize); tu_u32(&o, zip64 ? 0xffffffffu : (uint32_t)cd);
    tu_u16(&o, 0);
    free(off);
    return o;
}

/* A torch.save-like archive: <stem>/data.pkl = pkl, plus optional storage members. */
static inline tu_buf tu_torch_zip(const void *pkl, size_t len) {
    tu_member m[2] = {{"archive/data.pkl", pkl, len, 0, 0}, {"archive/version", "3\n", 2, 0, 0}};
    return tu_zip(m, 2, 0);
}

/* A safetensors file from header JSON text and data bytes. */
static inline tu_buf tu_safetensors(const char *header, const void *data, size_t len) {
    tu_buf o = {0};
    tu_u64(&o, strlen(header));
    tu_put(&o, header, strlen(header));
    if (len) tu_put(&o, data, len);
    return o;
}

static inline int tu_write(const char *path, const tu_buf *b) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(b->b, 1, b->n, f);
    fclose(f);
    return w == b->n ? 0 : -1;
}

/* ---- a generated Hugging Face Llama folder ---------------------------------------------- */

typedef struct {
    int vocab, hidden, ffn, layers, heads, kv_heads;
    uint64_t seed;
    const char *bad_tensor;   /* NULL, or the tensor whose element bad_at becomes bad_value */
    uint64_t bad_at;
    float bad_value;
} tu_llama;

/* The tensors of the model: name, rows, columns (columns 0 for a vector). */
static inline int tu_llama_tensor(const tu_llama *m, int i, char *name, size_t cap, uint64_t *rows,
                                  uint64_t *cols) {
    uint64_t D = (uint64_t)m->hidden, F = (uint64_t)m->ffn, hd = D / (uint64_t)m->heads;
    uint64_t Q = hd * (uint64_t)m->heads, KV = hd * (uint64_t)m->kv_heads;
    int per = 9, last = 1 + per * m->layers;
    if (i == 0) { snprintf(name, cap, "model.embed_tokens.weight"); *rows = (uint64_t)m->vocab; *cols = D; return 1; }
    if (i == last) { snprintf(name, cap, "model.norm.weight"); *rows = D; *cols = 0; return 1; }
    if (i == last + 1) { snprintf(name, cap, "lm_head.weight"); *rows = (uint64_t)m->vocab; *cols = D; return 1; }
    if (i > last + 1) return 0;
    int l = (i - 1) / per, k = (i - 1) % per;
    static const char *const part[] = {"input_layernorm", "self_attn.q_proj", "self_attn.k_proj",
                                       "self_attn.v_proj", "self_attn.o_proj", "post_attention_layernorm",
                                       "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
    const uint64_t r[] = {D, Q, KV, KV, D, D, F, F, D}, c[] = {0, D, D, D, Q, 0, D, D, F};
    snprintf(name, cap, "model.layers.%d.%s.weight", l, part[k]);
    *rows = r[k];
    *cols = c[k];
    return 1;
}

static inline uint64_t tu_xorshift(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Writes dir/config.json and dir/model.safetensors (f32); 0 on success. */
static inline int tu_make_llama(const char *dir, const tu_llama *m) {
    char path[512], name[128];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"vocab_size\": %d, "
               "\"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d, "
               "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"rms_norm_eps\": 1e-06, "
               "\"rope_theta\": 10000.0, \"hidden_act\": \"silu\", \"tie_word_embeddings\": false}\n",
            m->vocab, m->hidden, m->ffn, m->layers, m->heads, m->kv_heads);
    if (fclose(f)) return -1;
    tu_buf h = {0};
    uint64_t off = 0, rows, cols;
    tu_put(&h, "{", 1);
    for (int i = 0; tu_llama_tensor(m, i, name, sizeof name, &rows, &cols); i++) {
        uint64_t bytes = rows * (cols ? cols : 1) * 4;
        char e[400];
        int n = cols ? snprintf(e, sizeof e, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%llu,%llu],\"data_offsets\":[%llu,%llu]}",
                                i ? "," : "", name, (unsigned long long)rows, (unsigned long long)cols,
                                (unsigned long long)off, (unsigned long long)(off + bytes))
                     : snprintf(e, sizeof e, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%llu],\"data_offsets\":[%llu,%llu]}",
                                i ? "," : "", name, (unsigned long long)rows, (unsigned long long)off,
                                (unsigned long long)(off + bytes));
        tu_put(&h, e, (size_t)n);
        off += bytes;
    }
    tu_put(&h, "}", 1);
    while (h.n % 8) tu_put(&h, " ", 1);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    f = fopen(path, "wb");
    if (!f) return -1;
    uint8_t len[8];
    for (int k = 0; k < 8; k++) len[k] = (uint8_t)((uint64_t)h.n >> (8 * k));
    int ok = fwrite(len, 1, 8, f) == 8 && fwrite(h.b, 1, h.n, f) == h.n;
    free(h.b);
    uint64_t seed = m->seed ? m->seed : 1;
    float *row = malloc(65536 * sizeof *row);
    for (int i = 0; ok && row && tu_llama_tensor(m, i, name, sizeof name, &rows, &cols); i++) {
        uint64_t numel = rows * (cols ? cols : 1), done = 0;
        int bad = m->bad_tensor && !strcmp(m->bad_tensor, name);
        while (ok && done < numel) {
            size_t n = numel - done < 65536 ? (size_t)(numel - done) : 65536;
            for (size_t k = 0; k < n; k++) {
                float u = (float)(tu_xorshift(&seed) >> 40) / (float)(1 << 24) - 0.5f; /* [-0.5, 0.5) */
                row[k] = cols ? 0.1f * u : 1.0f + 0.1f * u;
                if (bad && done + k == m->bad_at) row[k] = m->bad_value;
            }
            ok = fwrite(row, sizeof *row, n, f) == n;
            done += n;
        }
    }
    free(row);
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* ---- running sparsa without a shell --------------------------------------------------------- */

/* Starts `sparsa args...` (args ends with NULL) with stdin and stdout on /dev/null and stderr
 * into errpath (NULL: /dev/null); returns the pid, or -1. */
static inline pid_t tu_spawn_sparsa(const char *const *args, const char *errpath) {
    const char *argv[64];
    size_t n = 0;
    argv[n++] = tu_sparsa_bin();
    while (args[n - 1] && n < 63) { argv[n] = args[n - 1]; n++; }
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid != 0) return pid;
    int null = open("/dev/null", O_RDWR);
    int e = errpath ? open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644) : null;
    dup2(null, 0);
    dup2(null, 1);
    dup2(e, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

/* Waits for pid at most timeout_s seconds: its exit status, 128 + the signal that ended it, or
 * -1 when it was still running (it is then killed). */
static inline int tu_wait_sparsa(pid_t pid, double timeout_s) {
    struct timespec nap = {0, 2000000};
    for (double waited = 0; waited < timeout_s; waited += 0.002) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0) return -1;
        nanosleep(&nap, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* Runs `sparsa args...` for at most timeout_s seconds; its stderr in *err (malloc'd) if err. */
static inline int tu_run_sparsa_timed(const char *const *args, double timeout_s, char **err) {
    char ef[] = "/tmp/sparsa_test_errXXXXXX";
    int fd = mkstemp(ef);
    if (fd < 0) return -1;
    close(fd);
    int rc = tu_wait_sparsa(tu_spawn_sparsa(args, ef), timeout_s);
    if (err) {
        *err = tu_read_text(ef);
        if (!*err) *err = strdup("");
    }
    remove(ef);
    return rc;
}

#endif
