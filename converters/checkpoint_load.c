/* checkpoint_load.c — reading the tensors of checkpoint files: which format a file is (sniffed
 * from its first bytes), the tensors of a safetensors file, and Hugging Face folders (sharded
 * through an index file, or every weights file in name order). torch.save archives are
 * checkpoint_torch.c's. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_internal.h"
#include "safetensors_reader.h"

static void default_strides(sp_src_tensor *t) {
    int64_t s = 1;
    for (uint32_t i = t->ndim; i-- > 0;) {
        t->stride[i] = s;
        s *= (int64_t)t->shape[i];
    }
}

static int load_safetensors(sp_ckpt *c, size_t fi, sp_error *err) {
    const sp_src_file *f = &c->files[fi];
    sp_safetensors *st;
    sp_error e2 = {0};
    if (sp_safetensors_parse(f->map, f->size, &st, &e2)) return sp_fail(err, e2.code, "%s: %s", f->display, e2.msg);
    int rc = 0;
    for (size_t i = 0; i < st->count && !rc; i++) {
        const sp_st_tensor *s = &st->tensors[i];
        sp_src_tensor *t = ckpt_new_tensor(c, s->name, err);
        if (!t) {
            rc = err->code;
            break;
        }
        t->dtype = s->dtype;
        t->ndim = s->ndim;
        memcpy(t->shape, s->shape, sizeof t->shape);
        default_strides(t);
        t->numel = s->size / sp_dtype_size(s->dtype);
        t->file = fi;
        t->base = s->offset;
        t->span_lo = s->offset;
        t->span_hi = s->offset + s->size;
        t->contiguous = 1;
    }
    sp_safetensors_free(st);
    return rc;
}

int ckpt_load_file(sp_ckpt *c, const char *path, const char *display, sp_error *err) {
    size_t fi = 0;
    int rc = ckpt_add_file(c, path, display, &fi, err);
    if (rc) return rc;
    const uint8_t *d = c->files[fi].map;
    uint64_t n = c->files[fi].size;
    if (n >= 4 && !memcmp(d, "PK\x03\x04", 4)) return ckpt_load_torch_zip(c, fi, err);
    if (n >= 4 && !memcmp(d, "PK\x05\x06", 4)) return ckpt_load_torch_zip(c, fi, err);
    if (n >= 10 && d[8] == '{') {
        if (c->kind != SP_CKPT_HF_FOLDER) c->kind = SP_CKPT_SAFETENSORS;
        return load_safetensors(c, fi, err);
    }
    if (n >= 2 && d[0] == 0x80 && d[1] <= 5)
        return sp_fail(err, SP_ERR_INPUT,
                       "%s: legacy (non-zip) torch.save format is not supported; re-save it with torch.save() from torch >= 1.6",
                       display);
    if (n >= 8) {
        uint64_t h = 0;
        for (int i = 7; i >= 0; i--) h = h << 8 | d[i];
        if (h > n - 8 && n > 8 && d[8] == '{')
            return sp_fail(err, SP_ERR_INPUT, "%s: safetensors header runs past the end of the file (truncated?)", display);
    }
    return sp_fail(err, SP_ERR_INPUT, "%s: not a torch.save zip, Lightning checkpoint or safetensors file", display);
}

/* ---- Hugging Face folders -------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* A shard name from an index file must be a plain file name in the folder. */
static int safe_leaf(const char *s) {
    return *s && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") && strcmp(s, "..");
}

/* Loads the distinct shards (sorted) of an index's weight_map; every tensor of a shard must be
 * listed for that shard, and every listed tensor must exist. */
static int load_shards(sp_ckpt *c, const char *dir, const char *index, const sp_json *wm, sp_error *err) {
    char **names = calloc(wm->len, sizeof *names);
    size_t nn = 0;
    int rc = names ? 0 : sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t i = 0; i < wm->len && !rc; i++) {
        const sp_json *v = wm->items[i];
        if (v->type != SP_JSON_STRING || !safe_leaf(v->str)) {
            rc = sp_fail(err, SP_ERR_INPUT, "%s: tensor '%.200s' maps to a bad file name", index, wm->keys[i]);
            break;
        }
        names[nn++] = v->str;
    }
    if (!rc) {
        qsort(names, nn, sizeof *names, cmp_str);
        size_t u = 0;
        for (size_t i = 0; i < nn; i++)
            if (!u || strcmp(names[u - 1], names[i])) names[u++] = names[i];
        char path[4096];
        for (size_t i = 0; i < u && !rc; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            size_t before = c->ntensors;
            rc = ckpt_load_file(c, path, names[i], err);
            for (size_t k = before; k < c->ntensors && !rc; k++) {
                const sp_json *m = sp_json_get(wm, c->tensors[k].name);
                if (!m || strcmp(m->str, names[i]))
                    rc = sp_fail(err, SP_ERR_INPUT, "%s: tensor '%.200s' in %s is not listed for that file", index,
                                 c->tensors[k].name, names[i]);
            }
        }
        for (size_t i = 0; i < wm->len && !rc; i++)
            if (!sp_ckpt_find(c, wm->keys[i]))
                rc = sp_fail(err, SP_ERR_INPUT, "%s lists tensor '%.200s' but %s does not hold it", index, wm->keys[i],
                             wm->items[i]->str);
    }
    free(names);
    return rc;
}

static int load_index(sp_ckpt *c, const char *dir, const char *index, sp_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, index);
    char *text;
    size_t len;
    int rc = sp_read_file(path, CKPT_TEXT_MAX, &text, &len, err);
    if (rc) return rc;
    sp_inputs_add(path); /* read, so never an output (the shards and config are recorded by the driver) */
    sp_json *j;
    sp_error e2 = {0};
    rc = sp_json_parse(text, strlen(text), &j, &e2);
    free(text);
    if (rc) return sp_fail(err, SP_ERR_INPUT, "%s: %s", index, e2.msg);
    const sp_json *wm = sp_json_get(j, "weight_map");
    if (!wm || wm->type != SP_JSON_OBJECT || wm->len == 0)
        rc = sp_fail(err, SP_ERR_INPUT, "%s: no weight_map object", index);
    else
        rc = load_shards(c, dir, index, wm, err);
    sp_json_free(j);
    return rc;
}

/* Appends a copy of name to *list (of *count). */
static int list_add(char ***list, size_t *count, const char *name, sp_error *err) {
    char **nl = realloc(*list, (*count + 1) * sizeof *nl);
    if (!nl) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    *list = nl;
    if (!(nl[*count] = strdup(name))) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    (*count)++;
    return 0;
}

int ckpt_load_folder(sp_ckpt *c, const char *dir, sp_error *err) {
    c->kind = SP_CKPT_HF_FOLDER;
    static const char *indexes[] = {"model.safetensors.index.json", "pytorch_model.bin.index.json"};
    char path[4096];
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, indexes[i]);
        if (ckpt_path_exists(path)) return load_index(c, dir, indexes[i], err);
    }
    DIR *d = opendir(dir);
    if (!d) return sp_fail(err, SP_ERR_INPUT, "cannot read folder %s: %s", dir, strerror(errno));
    char **st = NULL, **bin = NULL;
    size_t nst = 0, nbin = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) && !rc) {
        const char *n = e->d_name;
        if (ends_with(n, ".safetensors")) rc = list_add(&st, &nst, n, err);
        else if (!strncmp(n, "pytorch_model", 13) && ends_with(n, ".bin")) rc = list_add(&bin, &nbin, n, err);
    }
    closedir(d);
    char **use = nst ? st : bin;
    size_t nuse = nst ? nst : nbin;
    if (!rc && !nuse)
        rc = sp_fail(err, SP_ERR_INPUT, "%s: no *.safetensors or pytorch_model*.bin weights in the folder", dir);
    if (!rc) {
        qsort(use, nuse, sizeof *use, cmp_str);
        for (size_t i = 0; i < nuse && !rc; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, use[i]);
            rc = ckpt_load_file(c, path, use[i], err);
        }
    }
    for (size_t i = 0; i < nst; i++) free(st[i]);
    for (size_t i = 0; i < nbin; i++) free(bin[i]);
    free(st);
    free(bin);
    return rc;
}
