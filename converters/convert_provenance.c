/* convert_provenance.c — what a model file records about where it came from: every input file
 * (checkpoint files, config, tokenizer) with its size and SHA-256, the source kind and path,
 * the config text, and the converter's name, version and dtype mode. Nothing depends on the
 * time, so converting the same inputs twice gives the same bytes. The checkpoint files are
 * hashed on a second core while the tensors stream out. */
#include <stdlib.h>
#include <string.h>

#include "convert_internal.h"

static void *hash_files(void *arg) {
    conv_provenance *p = arg;
    for (size_t i = 0; i < p->c->nfiles && !p->rc; i++)
        p->rc = sp_sha256_file(p->c->files[i].fd, p->c->files[i].size, p->hashes[i], &p->err);
    return NULL;
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

int conv_provenance_init(conv_provenance *p, const sp_ckpt *c, const char *tokenizer_path, const void *tok,
                         size_t toklen, sp_error *err) {
    memset(p, 0, sizeof *p);
    p->c = c;
    p->n = c->nfiles + (c->config_path ? 1 : 0) + (tok ? 1 : 0);
    p->hashes = calloc(p->n, sizeof *p->hashes);
    p->names = calloc(p->n, sizeof *p->names);
    p->sizes = calloc(p->n, sizeof *p->sizes);
    if (!p->hashes || !p->names || !p->sizes) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t i = 0; i < p->n; i++) {
        p->hashes[i] = calloc(65, 1);
        if (!p->hashes[i]) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
        if (i < c->nfiles) {
            p->names[i] = c->files[i].display;
            p->sizes[i] = c->files[i].size; /* hashed by conv_provenance_start */
        } else if (c->config_path && i == c->nfiles) {
            /* a YAML config: the file's own bytes, not its JSON form */
            const char *bytes = c->config_file_text ? c->config_file_text : c->config_text;
            p->names[i] = base_name(c->config_path);
            p->sizes[i] = strlen(bytes);
            hash_bytes(bytes, strlen(bytes), p->hashes[i]);
        } else {
            p->names[i] = base_name(tokenizer_path);
            p->sizes[i] = toklen;
            hash_bytes(tok, toklen, p->hashes[i]);
        }
    }
    return 0;
}

void conv_provenance_start(conv_provenance *p) {
    p->hashing = pthread_create(&p->thread, NULL, hash_files, p) == 0;
    if (!p->hashing) hash_files(p);
}

int conv_provenance_wait(conv_provenance *p, sp_error *err) {
    if (p->hashing) pthread_join(p->thread, NULL);
    p->hashing = 0;
    return p->rc ? sp_fail(err, p->err.code, "%s", p->err.msg) : 0;
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

void conv_provenance_write(sp_writer *w, const conv_provenance *p, const sp_convert_options *o,
                           const sp_mapping *m, const sp_mapping_result *r) {
    const sp_ckpt *c = p->c;
    meta_string(w, "general.name", r->model_name ? r->model_name : m->info.name);
    meta_string(w, "model.architecture", m->info.name);
    meta_string(w, "converter.name", "sparsa convert");
    meta_string(w, "converter.version", SP_CONVERTER_VERSION);
    meta_string(w, "converter.dtype", mode_name(o->dtype));
    meta_string(w, "source.kind", kind_name(c->kind));
    meta_string(w, "source.path", o->src);
    sp_writer_meta_array(w, "source.files", SP_META_STRING, p->names, p->n);
    sp_writer_meta_array(w, "source.sizes", SP_META_U64, p->sizes, p->n);
    sp_writer_meta_array(w, "source.sha256", SP_META_STRING, p->hashes, p->n);
    if (c->config_text) meta_string(w, "source.config", c->config_text);
}

void conv_provenance_free(conv_provenance *p) {
    if (p->hashing) pthread_join(p->thread, NULL);
    p->hashing = 0;
    for (size_t i = 0; p->hashes && i < p->n; i++) free(p->hashes[i]);
    free(p->hashes);
    free(p->names);
    free(p->sizes);
    memset(p, 0, sizeof *p);
}
