/* convert_provenance.c — what a model file records about where it came from: every input file
 * (checkpoint files, config, tokenizer) with its size and SHA-256, the source kind and path,
 * the config text, and the converter's name, version and dtype mode. Nothing depends on the
 * time, so converting the same inputs twice gives the same bytes. The checkpoint files are
 * hashed by the thread that opened them, from the moment they are open, while a second thread
 * chooses the mapping and streams and checks the tensors; SHA-256 is sequential, so on a fast
 * disk this hash is what a conversion waits for (bench/README.md, "Conversion speed"). A
 * conversion that fails before the hashes are needed stops the hash at its next window. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "convert_internal.h"

/* SHA-256 of one checkpoint file, through one mapping of it read in order (the kernel maps
 * pages ahead of the reads), HASH_WINDOW bytes at a time, each window dropped once hashed so
 * resident memory stays near one window; gives up between windows once stop is set. */
enum { HASH_WINDOW = 8 << 20 };

static int hash_file(conv_provenance *p, const sp_src_file *f, char hex[65]) {
    sp_sha256 s;
    sp_sha256_init(&s);
    uint8_t *map = f->size ? mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, f->fd, 0) : NULL;
    if (map == MAP_FAILED)
        return sp_fail(&p->err, SP_ERR_RUNTIME, "%s: cannot map it for hashing: %s", f->display, strerror(errno));
    int rc = 0;
    for (uint64_t off = 0; off < f->size && !rc; off += HASH_WINDOW) {
        size_t want = f->size - off < HASH_WINDOW ? (size_t)(f->size - off) : HASH_WINDOW;
        if (atomic_load(&p->stop)) rc = SP_ERR_RUNTIME;
        else sp_sha256_update(&s, map + off, want);
        madvise(map + off, want, MADV_DONTNEED);
    }
    if (map) munmap(map, (size_t)f->size);
    uint8_t d[32];
    sp_sha256_final(&s, d);
    sp_sha256_hex(d, hex);
    return rc;
}

void conv_provenance_run(conv_provenance *p) {
    for (size_t i = 0; i < p->c->nfiles && !p->rc; i++) p->rc = hash_file(p, &p->c->files[i], p->hashes[i]);
    pthread_mutex_lock(&p->gate_lock);
    atomic_store(&p->done, 1);
    pthread_cond_broadcast(&p->gate);
    pthread_mutex_unlock(&p->gate_lock);
}

static void hash_bytes(const void *data, size_t len, char hex[65]) {
    sp_sha256 s;
    uint8_t d[32];
    sp_sha256_init(&s);
    sp_sha256_update(&s, data, len);
    sp_sha256_final(&s, d);
    sp_sha256_hex(d, hex);
}

static const char *base_name(const char *path) {
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

int conv_provenance_init(conv_provenance *p, const sp_ckpt *c, sp_error *err) {
    memset(p, 0, sizeof *p);
    p->c = c;
    pthread_mutex_init(&p->gate_lock, NULL);
    pthread_cond_init(&p->gate, NULL);
    size_t cap = c->nfiles + 2; /* the files, the config, a tokenizer */
    p->hashes = calloc(cap, sizeof *p->hashes);
    p->names = calloc(cap, sizeof *p->names);
    p->sizes = calloc(cap, sizeof *p->sizes);
    p->shown = calloc(cap, sizeof *p->shown);
    if (!p->hashes || !p->names || !p->sizes || !p->shown) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t i = 0; i < cap; i++)
        if (!(p->hashes[i] = calloc(65, 1))) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (; p->n < c->nfiles; p->n++) {
        p->names[p->n] = c->files[p->n].display;
        p->sizes[p->n] = c->files[p->n].size; /* hashed by conv_provenance_start */
    }
    if (c->config_path) {
        /* a YAML config: the file's own bytes, not its JSON form */
        const char *bytes = c->config_file_text ? c->config_file_text : c->config_text;
        p->names[p->n] = base_name(c->config_path);
        p->sizes[p->n] = strlen(bytes);
        hash_bytes(bytes, strlen(bytes), p->hashes[p->n++]);
    }
    return 0;
}

void conv_provenance_add_tokenizer(conv_provenance *p, const char *path, const void *tok, size_t toklen) {
    p->names[p->n] = base_name(path);
    p->sizes[p->n] = toklen;
    hash_bytes(tok, toklen, p->hashes[p->n++]);
}

int conv_provenance_wait(conv_provenance *p, sp_error *err) {
    p->hashed = 1;
    return p->rc ? sp_fail(err, p->err.code, "%s", p->err.msg) : 0;
}

int conv_provenance_await(conv_provenance *p, atomic_int *give_up) {
    pthread_mutex_lock(&p->gate_lock);
    while (!atomic_load(&p->done) && !atomic_load(give_up)) pthread_cond_wait(&p->gate, &p->gate_lock);
    pthread_mutex_unlock(&p->gate_lock);
    return atomic_load(&p->done);
}

void conv_provenance_wake(conv_provenance *p) {
    pthread_mutex_lock(&p->gate_lock);
    pthread_cond_broadcast(&p->gate);
    pthread_mutex_unlock(&p->gate_lock);
}

static const char *mode_name(sp_out_dtype m) {
    return m == SP_OUT_F32 ? "f32" : m == SP_OUT_F16 ? "f16" : m == SP_OUT_BF16 ? "bf16" : "keep";
}

static const char *kind_name(sp_ckpt_kind k) {
    return k == SP_CKPT_LIGHTNING ? "lightning" : k == SP_CKPT_SAFETENSORS ? "safetensors"
           : k == SP_CKPT_HF_FOLDER ? "huggingface-folder" : "torch";
}

static void meta_string(sp_writer *w, const char *key, const char *value) {
    sp_writer_meta_string(w, key, value, strlen(value));
}

void conv_provenance_write(sp_writer *w, conv_provenance *p, const sp_convert_options *o,
                           const sp_mapping *m, const sp_mapping_result *r) {
    const sp_ckpt *c = p->c;
    /* until the hashes are in, the checkpoint files' entries hold a stand-in of the same length */
    static const char pending[65] = "0000000000000000000000000000000000000000000000000000000000000000";
    for (size_t i = 0; i < p->n; i++) p->shown[i] = p->hashed || i >= c->nfiles ? p->hashes[i] : pending;
    meta_string(w, "general.name", r->model_name ? r->model_name : m->info.name);
    meta_string(w, "model.architecture", m->info.name);
    meta_string(w, "converter.name", "sparsa convert");
    meta_string(w, "converter.version", SP_CONVERTER_VERSION);
    meta_string(w, "converter.dtype", mode_name(o->dtype));
    meta_string(w, "source.kind", kind_name(c->kind));
    meta_string(w, "source.path", o->src);
    sp_writer_meta_array(w, "source.files", SP_META_STRING, p->names, p->n);
    sp_writer_meta_array(w, "source.sizes", SP_META_U64, p->sizes, p->n);
    sp_writer_meta_array(w, "source.sha256", SP_META_STRING, p->shown, p->n);
    if (c->config_text) meta_string(w, "source.config", c->config_text);
}

void conv_provenance_free(conv_provenance *p) {
    for (size_t i = 0; p->hashes && i < p->c->nfiles + 2; i++) free(p->hashes[i]);
    free(p->hashes);
    free(p->names);
    free(p->sizes);
    free(p->shown);
    if (p->c) {
        pthread_mutex_destroy(&p->gate_lock);
        pthread_cond_destroy(&p->gate);
    }
    memset(p, 0, sizeof *p);
}
