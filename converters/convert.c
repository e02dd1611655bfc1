/* convert.c — the conversion driver: open the checkpoint, pick the mapping, stream every mapped
 * tensor through the dtype conversion into an sp_writer (temporary file, renamed at the end),
 * record provenance, then re-open the written file and compare every tensor with its source
 * before it is renamed into place. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sparsa_convert.h"

extern const sp_mapping sp_mapping_hf_llama, sp_mapping_hf_gemma2, sp_mapping_asentmax_gemma2,
    sp_mapping_torchtitan_llama;

static const sp_mapping *const mappings[] = {&sp_mapping_hf_llama, &sp_mapping_hf_gemma2,
                                             &sp_mapping_asentmax_gemma2, &sp_mapping_torchtitan_llama};

size_t sp_mapping_count(void) { return sizeof mappings / sizeof mappings[0]; }
const sp_mapping *sp_mapping_at(size_t i) { return i < sp_mapping_count() ? mappings[i] : NULL; }

const sp_mapping *sp_mapping_find(const char *name) {
    for (size_t i = 0; i < sp_mapping_count(); i++)
        if (!strcmp(mappings[i]->name, name)) return mappings[i];
    return NULL;
}

void sp_mapping_result_free(sp_mapping_result *r) {
    for (size_t i = 0; i < r->ntensors; i++) free(r->tensors[i].name);
    free(r->tensors);
    free(r->graph);
    free(r->model_name);
    memset(r, 0, sizeof *r);
}

/* ---- dtypes ----------------------------------------------------------------------------------- */

static int is_float(sp_dtype d) { return d == SP_F32 || d == SP_F16 || d == SP_BF16 || d == SP_F64; }

sp_dtype sp_convert_out_dtype(sp_dtype src, uint32_t ndim, sp_out_dtype mode) {
    if (!is_float(src)) return src;
    if (mode == SP_OUT_KEEP) return src == SP_F64 ? SP_F32 : src;
    if (ndim <= 1) return SP_F32;
    return mode == SP_OUT_F16 ? SP_F16 : mode == SP_OUT_BF16 ? SP_BF16 : SP_F32;
}

/* Norm weights, biases and other vector-like tensors (at most one dimension above 1) stay f32
 * unless the dtype is kept: they are small and the interpreter applies them in f32. */
static sp_dtype out_dtype_of(const sp_src_tensor *t, sp_out_dtype mode) {
    if (!is_float(t->dtype) || mode == SP_OUT_KEEP) return sp_convert_out_dtype(t->dtype, t->ndim, mode);
    int big = 0;
    for (uint32_t i = 0; i < t->ndim; i++) big += t->shape[i] > 1;
    return big <= 1 ? SP_F32 : sp_convert_out_dtype(t->dtype, 2, mode);
}

static float to_f32(const uint8_t *p, sp_dtype d) {
    uint16_t h;
    float f;
    double x;
    switch (d) {
    case SP_F16: memcpy(&h, p, 2); return sp_f16_to_f32(h);
    case SP_BF16: memcpy(&h, p, 2); return sp_bf16_to_f32(h);
    case SP_F64: memcpy(&x, p, 8); return (float)x;
    default: memcpy(&f, p, 4); return f;
    }
}

/* n elements from src dtype s to dst dtype d (both floating, or equal). */
static void convert_elems(const void *src, sp_dtype s, void *dst, sp_dtype d, size_t n) {
    if (s == d) {
        memcpy(dst, src, n * sp_dtype_size(d));
        return;
    }
    const uint8_t *p = src;
    size_t ss = sp_dtype_size(s);
    if (d == SP_F32) {
        float *o = dst;
        for (size_t i = 0; i < n; i++) o[i] = to_f32(p + i * ss, s);
    } else {
        uint16_t *o = dst;
        for (size_t i = 0; i < n; i++) {
            float f = to_f32(p + i * ss, s);
            o[i] = d == SP_F16 ? sp_f32_to_f16(f) : sp_f32_to_bf16(f);
        }
    }
}

/* ---- helpers -------------------------------------------------------------------------------- */

static char *default_out(const char *src) {
    size_t n = strlen(src);
    while (n > 1 && src[n - 1] == '/') n--;
    const char *base = src;
    for (size_t i = 0; i < n; i++)
        if (src[i] == '/') base = src + i + 1;
    size_t stem = n;
    struct stat st;
    if (stat(src, &st) == 0 && !S_ISDIR(st.st_mode)) {
        const char *dot = NULL;
        for (const char *p = base; p < src + n; p++)
            if (*p == '.') dot = p;
        if (dot && dot > base) stem = (size_t)(dot - src);
    }
    char *o = malloc(stem + 8);
    if (o) {
        memcpy(o, src, stem);
        strcpy(o + stem, ".sparsa");
    }
    return o;
}

static int read_small_file(const char *path, size_t cap, void **out, size_t *len, sp_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sp_fail(err, SP_ERR_INPUT, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0 || (size_t)st.st_size > cap) {
        close(fd);
        return sp_fail(err, SP_ERR_INPUT, "%s: not a regular non-empty file of at most %zu MB", path, cap >> 20);
    }
    void *buf = malloc((size_t)st.st_size);
    if (!buf) {
        close(fd);
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, (char *)buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != (size_t)st.st_size) {
        free(buf);
        return sp_fail(err, SP_ERR_INPUT, "cannot read %s", path);
    }
    *out = buf;
    *len = got;
    return 0;
}

static const char *mode_name(sp_out_dtype m) {
    return m == SP_OUT_F32 ? "f32" : m == SP_OUT_F16 ? "f16" : m == SP_OUT_BF16 ? "bf16" : "keep";
}

static const char *kind_name(sp_ckpt_kind k) {
    return k == SP_CKPT_LIGHTNING ? "lightning" : k == SP_CKPT_SAFETENSORS ? "safetensors"
           : k == SP_CKPT_HF_FOLDER ? "huggingface-folder" : "torch";
}

enum { CHUNK_ELEMS = 1 << 20 };

/* Streams one tensor: source chunk -> converted chunk -> writer. */
static int write_tensor(sp_writer *w, const sp_ckpt *c, const sp_map_tensor *mt, sp_out_dtype mode,
                        const sp_convert_options *o, uint8_t *sbuf, uint8_t *obuf, sp_error *err) {
    const sp_src_tensor *t = mt->src;
    sp_dtype od = out_dtype_of(t, mode);
    if (sp_writer_begin_tensor(w, mt->name, od, t->ndim, t->shape, o->compression, o->zstd_level))
        return sp_fail(err, sp_writer_error(w)->code, "%s", sp_writer_error(w)->msg);
    for (uint64_t first = 0; first < t->numel; first += CHUNK_ELEMS) {
        uint64_t n = t->numel - first < CHUNK_ELEMS ? t->numel - first : CHUNK_ELEMS;
        const void *view = od == t->dtype ? sp_ckpt_view(c, t, first, n) : NULL;
        const void *data = view;
        if (!view) {
            /* gather (strided views) and/or convert through the chunk buffers */
            const void *src = sp_ckpt_view(c, t, first, n);
            if (!src) {
                if (sp_ckpt_read(c, t, first, n, sbuf, err)) return err->code;
                src = sbuf;
            }
            convert_elems(src, t->dtype, obuf, od, (size_t)n);
            data = obuf;
        }
        if (sp_writer_tensor_data(w, data, (size_t)n * sp_dtype_size(od)))
            return sp_fail(err, sp_writer_error(w)->code, "%s", sp_writer_error(w)->msg);
        sp_ckpt_release_elems(c, t, first, n);
    }
    if (sp_writer_end_tensor(w)) return sp_fail(err, sp_writer_error(w)->code, "%s", sp_writer_error(w)->msg);
    sp_ckpt_release(c, t);
    return 0;
}

/* ---- self-check ----------------------------------------------------------------------------- */

typedef struct {
    uint8_t *sbuf, *obuf, *fbuf;
} chunk_bufs;

static int alloc_bufs(chunk_bufs *b) {
    b->sbuf = malloc((size_t)CHUNK_ELEMS * 8);
    b->obuf = malloc((size_t)CHUNK_ELEMS * 8);
    b->fbuf = malloc((size_t)CHUNK_ELEMS * 8);
    return b->sbuf && b->obuf && b->fbuf;
}

static void free_bufs(chunk_bufs *b) {
    free(b->sbuf);
    free(b->obuf);
    free(b->fbuf);
}

/* Compares one tensor of the output with its source, chunk by chunk: the stored bytes are read
 * with pread (uncompressed) or taken from the decompressed, CRC-checked buffer (zdata); the
 * expected bytes are the source converted again. Byte equality with the source is the check;
 * the stored CRC-32 of uncompressed tensors is the format library's (sparsa inspect --verify). */
static int check_tensor(int fd, const sp_ckpt *c, const sp_map_tensor *mt, const sp_tensor_info *ti, sp_dtype od,
                        const uint8_t *zdata, chunk_bufs *b, sp_error *err) {
    const sp_src_tensor *t = mt->src;
    size_t es = sp_dtype_size(od);
    int rc = 0;
    for (uint64_t first = 0; first < t->numel && !rc; first += CHUNK_ELEMS) {
        uint64_t n = t->numel - first < CHUNK_ELEMS ? t->numel - first : CHUNK_ELEMS;
        size_t bytes = (size_t)n * es;
        const uint8_t *want = sp_ckpt_view(c, t, first, n);
        if (!want) {
            if ((rc = sp_ckpt_read(c, t, first, n, b->sbuf, err))) break;
            want = b->sbuf;
        }
        if (od != t->dtype) {
            convert_elems(want, t->dtype, b->obuf, od, (size_t)n);
            want = b->obuf;
        }
        const uint8_t *got;
        if (zdata) got = zdata + first * es;
        else {
            size_t have = 0;
            while (have < bytes) {
                ssize_t rr = pread(fd, b->fbuf + have, bytes - have, (off_t)(ti->offset + first * es + have));
                if (rr < 0 && errno == EINTR) continue;
                if (rr <= 0) break;
                have += (size_t)rr;
            }
            if (have != bytes) {
                rc = sp_fail(err, SP_ERR_RUNTIME, "self-check: short read of tensor '%s'", mt->name);
                break;
            }
            got = b->fbuf;
        }
        if (memcmp(got, want, bytes))
            rc = sp_fail(err, SP_ERR_RUNTIME, "self-check: tensor '%s' differs from its source", mt->name);
        sp_ckpt_release_elems(c, t, first, n);
    }
    sp_ckpt_release(c, t);
    return rc;
}

static int self_check(const char *path, const sp_ckpt *c, const sp_mapping_result *r, sp_out_dtype mode,
                      chunk_bufs *bufs, sp_error *err) {
    sp_file *f = NULL;
    sp_error e2 = {0};
    if (sp_file_open(path, &f, &e2)) return sp_fail(err, SP_ERR_RUNTIME, "self-check: cannot re-open the output: %s", e2.msg);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = 0;
    size_t glen;
    const char *g = sp_file_graph(f, &glen);
    const sp_tensor_info **infos = calloc(r->ntensors ? r->ntensors : 1, sizeof *infos);
    if (!infos) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    else if (fd < 0) rc = sp_fail(err, SP_ERR_RUNTIME, "self-check: cannot open %s", path);
    else if (!g || glen != r->graph_len || memcmp(g, r->graph, glen))
        rc = sp_fail(err, SP_ERR_RUNTIME, "self-check: the graph differs from the one written");
    else if (sp_file_tensor_count(f) != r->ntensors)
        rc = sp_fail(err, SP_ERR_RUNTIME, "self-check: %zu tensors in the output, %zu written", sp_file_tensor_count(f),
                     r->ntensors);
    for (size_t i = 0; i < r->ntensors && !rc; i++) {
        const sp_src_tensor *t = r->tensors[i].src;
        const sp_tensor_info *ti = sp_file_find_tensor(f, r->tensors[i].name);
        sp_dtype od = out_dtype_of(t, mode);
        if (!ti || ti->dtype != od || ti->ndim != t->ndim || memcmp(ti->dims, t->shape, t->ndim * sizeof(uint64_t)))
            rc = sp_fail(err, SP_ERR_RUNTIME, "self-check: tensor '%s' has the wrong dtype or shape in the output",
                         r->tensors[i].name);
        infos[i] = ti;
    }
    /* uncompressed tensors: pread + compare, spread over the threads */
    if (!rc) {
        int failed = 0;
#pragma omp parallel
        {
            chunk_bufs mine = {0};
            int ok = alloc_bufs(&mine);
            sp_error terr = {0};
#pragma omp for schedule(dynamic, 1)
            for (size_t i = 0; i < r->ntensors; i++) {
                int stop;
#pragma omp atomic read
                stop = failed;
                if (stop || infos[i]->compression != SP_COMPRESS_NONE) continue;
                int trc = ok ? check_tensor(fd, c, &r->tensors[i], infos[i], out_dtype_of(r->tensors[i].src, mode), NULL,
                                            &mine, &terr)
                             : sp_fail(&terr, SP_ERR_RUNTIME, "out of memory");
                if (trc) {
#pragma omp critical(sp_convert_check)
                    {
                        if (!failed) {
                            failed = trc;
                            *err = terr;
                        }
                    }
                }
            }
            free_bufs(&mine);
        }
        rc = failed;
    }
    /* compressed ones: decompressed (and CRC-checked) by the format library, one at a time */
    uint64_t decompressed = 0;
    for (size_t i = 0; i < r->ntensors && !rc; i++) {
        const sp_tensor_info *ti = infos[i];
        if (ti->compression == SP_COMPRESS_NONE) continue;
        if (decompressed > (256u << 20)) {
            /* decompressed buffers live as long as the file: re-open to bound memory */
            sp_file_close(f);
            f = NULL;
            decompressed = 0;
            if (sp_file_open(path, &f, &e2)) {
                rc = sp_fail(err, SP_ERR_RUNTIME, "self-check: cannot re-open the output: %s", e2.msg);
                break;
            }
            for (size_t k = i; k < r->ntensors; k++) infos[k] = sp_file_find_tensor(f, r->tensors[k].name);
            ti = infos[i];
        }
        const void *d;
        if (sp_file_tensor_data(f, ti, &d, &e2)) {
            rc = sp_fail(err, SP_ERR_RUNTIME, "self-check: %s", e2.msg);
            break;
        }
        decompressed += ti->raw_size;
        rc = check_tensor(fd, c, &r->tensors[i], ti, out_dtype_of(r->tensors[i].src, mode), d, bufs, err);
    }
    free(infos);
    if (fd >= 0) close(fd);
    if (f) sp_file_close(f);
    return rc;
}

typedef struct {
    const sp_ckpt *c;
    const sp_mapping_result *r;
    sp_out_dtype mode;
    chunk_bufs *bufs;
} self_check_job;

static int self_check_written(const char *temp_path, void *ctx, sp_error *err) {
    const self_check_job *j = ctx;
    return self_check(temp_path, j->c, j->r, j->mode, j->bufs, err);
}

/* ---- provenance hashes, computed beside the conversion ------------------------------------- */

typedef struct {
    const sp_ckpt *c;
    char **hashes;
    int rc;
    sp_error err;
} hash_job;

static void *hash_files(void *arg) {
    hash_job *j = arg;
    for (size_t i = 0; i < j->c->nfiles && !j->rc; i++)
        j->rc = sp_sha256_file(j->c->files[i].fd, j->c->files[i].size, j->hashes[i], &j->err);
    return NULL;
}

/* ---- the driver ----------------------------------------------------------------------------- */

static const sp_mapping *choose_mapping(const sp_convert_options *o, const sp_ckpt *c, sp_error *err) {
    if (o->arch) {
        const sp_mapping *m = sp_mapping_find(o->arch);
        if (!m) sp_fail(err, SP_ERR_INPUT, "unknown --arch '%s' (known: hf-llama, hf-gemma2, asentmax-gemma2, torchtitan-llama)", o->arch);
        return m;
    }
    const sp_mapping *best = NULL;
    int bs = 0;
    for (size_t i = 0; i < sp_mapping_count(); i++) {
        int s = mappings[i]->detect(c);
        if (s > bs) bs = s, best = mappings[i];
    }
    if (!best)
        sp_fail(err, SP_ERR_INPUT, "%s: cannot tell the architecture from its %zu tensors; use --arch (hf-llama, hf-gemma2, asentmax-gemma2, torchtitan-llama)",
                o->src, c->ntensors);
    return best;
}

static int same_file(const char *a, const char *b) {
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

int sp_convert(const sp_convert_options *o, sp_convert_report *rep, sp_error *err) {
    memset(rep, 0, sizeof *rep);
    char *out = o->out ? strdup(o->out) : default_out(o->src);
    if (!out) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    snprintf(rep->out_path, sizeof rep->out_path, "%s", out);
    struct stat st;
    if (stat(out, &st) == 0) {
        if (S_ISDIR(st.st_mode) || !o->force) {
            int rc = sp_fail(err, SP_ERR_INPUT, "%s already exists (use --force to overwrite it)", out);
            free(out);
            return rc;
        }
    }
    sp_ckpt *c = NULL;
    sp_mapping_result r = {0};
    sp_writer *w = NULL;
    void *tok = NULL;
    size_t toklen = 0;
    chunk_bufs bufs = {0};
    hash_job hjob = {0};
    pthread_t hthread;
    int hashing = 0;
    char **hashes = NULL;
    const char **names = NULL;
    uint64_t *sizes = NULL;
    size_t nsrc = 0;
    int rc = sp_ckpt_open(o->src, o->config, &c, err);
    if (rc) goto done;
    for (size_t i = 0; i < c->nfiles; i++)
        if (same_file(out, c->files[i].path) || (c->config_path && same_file(out, c->config_path))) {
            rc = sp_fail(err, SP_ERR_INPUT, "%s is an input of the conversion; choose another output", out);
            goto done;
        }
    const sp_mapping *m = choose_mapping(o, c, err);
    if (!m) {
        rc = SP_ERR_INPUT;
        goto done;
    }
    snprintf(rep->arch, sizeof rep->arch, "%s", m->name);
    if ((rc = m->build(c, o->dtype, &r, err))) goto done;
    if (o->tokenizer && (rc = read_small_file(o->tokenizer, (size_t)256 << 20, &tok, &toklen, err))) goto done;
    if (tok && ((const uint8_t *)tok)[0] != 0x0a) {
        rc = sp_fail(err, SP_ERR_INPUT, "%s does not look like a SentencePiece model (ModelProto)", o->tokenizer);
        goto done;
    }
    /* provenance: every input file with its size and SHA-256 */
    nsrc = c->nfiles + (c->config_path ? 1 : 0) + (tok ? 1 : 0);
    hashes = calloc(nsrc, sizeof *hashes);
    names = calloc(nsrc, sizeof *names);
    sizes = calloc(nsrc, sizeof *sizes);
    if (!hashes || !names || !sizes) {
        rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nsrc && !rc; i++) {
        hashes[i] = calloc(65, 1);
        if (!hashes[i]) {
            rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
            break;
        }
        if (i < c->nfiles) {
            names[i] = c->files[i].display;
            sizes[i] = c->files[i].size; /* hashed by the thread below */
        } else {
            int is_cfg = c->config_path && i == c->nfiles;
            const char *p = is_cfg ? c->config_path : o->tokenizer;
            const char *b = strrchr(p, '/');
            names[i] = b ? b + 1 : p;
            sp_sha256 s;
            uint8_t d[32];
            const char *cfg_bytes = c->config_file_text ? c->config_file_text : c->config_text;
            const void *data = is_cfg ? (const void *)cfg_bytes : tok;
            size_t len = is_cfg ? strlen(cfg_bytes) : toklen;
            sizes[i] = len;
            sp_sha256_init(&s);
            sp_sha256_update(&s, data, len);
            sp_sha256_final(&s, d);
            for (int k = 0; k < 32; k++) snprintf(hashes[i] + 2 * k, 3, "%02x", d[k]);
        }
    }
    if (rc) goto done;
    if (!alloc_bufs(&bufs)) {
        rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
        goto done;
    }
    if ((rc = sp_writer_create(out, o->force, err, &w))) goto done;
    /* the checkpoint files are hashed on a second core while the tensors stream out */
    hjob = (hash_job){c, hashes, 0, {0}};
    hashing = pthread_create(&hthread, NULL, hash_files, &hjob) == 0;
    if (!hashing) hash_files(&hjob);
    for (size_t i = 0; i < r.ntensors && !rc; i++) {
        rc = write_tensor(w, c, &r.tensors[i], o->dtype, o, bufs.sbuf, bufs.obuf, err);
        if (!rc) rep->bytes_written += r.tensors[i].src->numel * sp_dtype_size(out_dtype_of(r.tensors[i].src, o->dtype));
    }
    if (hashing) pthread_join(hthread, NULL);
    hashing = 0;
    if (rc) goto done;
    if (hjob.rc) {
        rc = sp_fail(err, hjob.err.code, "%s", hjob.err.msg);
        goto done;
    }
    const char *model_name = r.model_name ? r.model_name : m->name;
    sp_writer_meta_string(w, "general.name", model_name, strlen(model_name));
    sp_writer_meta_string(w, "model.architecture", m->name, strlen(m->name));
    sp_writer_meta_string(w, "converter.name", "sparsa convert", 14);
    sp_writer_meta_string(w, "converter.version", SP_CONVERTER_VERSION, strlen(SP_CONVERTER_VERSION));
    sp_writer_meta_string(w, "converter.dtype", mode_name(o->dtype), strlen(mode_name(o->dtype)));
    sp_writer_meta_string(w, "source.kind", kind_name(c->kind), strlen(kind_name(c->kind)));
    sp_writer_meta_string(w, "source.path", o->src, strlen(o->src));
    sp_writer_meta_array(w, "source.files", SP_META_STRING, names, nsrc);
    sp_writer_meta_array(w, "source.sizes", SP_META_U64, sizes, nsrc);
    sp_writer_meta_array(w, "source.sha256", SP_META_STRING, hashes, nsrc);
    if (c->config_text) sp_writer_meta_string(w, "source.config", c->config_text, strlen(c->config_text));
    if (tok) {
        sp_writer_meta_string(w, "tokenizer.kind", "sentencepiece", 13);
        sp_writer_set_tokenizer(w, tok, toklen);
    }
    sp_writer_set_graph(w, r.graph, r.graph_len);
    if (sp_writer_error(w)->code) {
        rc = sp_fail(err, sp_writer_error(w)->code, "%s", sp_writer_error(w)->msg);
        goto done;
    }
    /* the self-check reads the finished temporary file before it is renamed into place: a file
     * that does not match its source never appears under the output name */
    self_check_job check = {c, &r, o->dtype, &bufs};
    rc = sp_writer_finish_checked(w, self_check_written, &check, err);
    w = NULL;
    if (rc) goto done;
    rep->tensors = r.ntensors;
done:
    if (w) sp_writer_abort(w);
    for (size_t i = 0; hashes && i < nsrc; i++) free(hashes[i]);
    free(hashes);
    free(names);
    free(sizes);
    if (hashing) pthread_join(hthread, NULL);
    free_bufs(&bufs);
    free(tok);
    sp_mapping_result_free(&r);
    sp_ckpt_close(c);
    free(out);
    return rc;
}
