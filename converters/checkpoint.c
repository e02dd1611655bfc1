/* checkpoint.c — open a checkpoint (torch.save zip, Lightning .ckpt, safetensors, Hugging Face
 * folder) as a flat list of named tensors. Files are memory-mapped read-only; tensor bytes are
 * only touched when sp_ckpt_read copies them, and sp_ckpt_release drops those pages again, so
 * converting keeps the resident set near one tensor whatever the checkpoint size. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sparsa_convert.h"

/* ---- files ------------------------------------------------------------------------------------ */

static int add_file(sp_ckpt *c, const char *path, const char *display, size_t *idx, sp_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sp_fail(err, SP_ERR_INPUT, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return sp_fail(err, SP_ERR_INPUT, "%s is not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return sp_fail(err, SP_ERR_INPUT, "%s is empty", path);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        close(fd);
        return sp_fail(err, SP_ERR_RUNTIME, "cannot map %s: %s", path, strerror(errno));
    }
    sp_src_file *nf = realloc(c->files, (c->nfiles + 1) * sizeof *nf);
    if (!nf) {
        munmap(map, (size_t)st.st_size);
        close(fd);
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    }
    c->files = nf;
    sp_src_file *f = &c->files[c->nfiles];
    f->path = strdup(path);
    f->display = strdup(display);
    f->size = (uint64_t)st.st_size;
    f->map = map;
    f->fd = fd;
    *idx = c->nfiles++;
    if (!f->path || !f->display) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    return 0;
}

static sp_src_tensor *new_tensor(sp_ckpt *c, const char *name, sp_error *err) {
    if ((c->ntensors & (c->ntensors - 1)) == 0) {
        size_t cap = c->ntensors ? c->ntensors * 2 : 16;
        sp_src_tensor *nt = realloc(c->tensors, cap * sizeof *nt);
        if (!nt) {
            sp_fail(err, SP_ERR_RUNTIME, "out of memory");
            return NULL;
        }
        c->tensors = nt;
    }
    sp_src_tensor *t = &c->tensors[c->ntensors];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) {
        sp_fail(err, SP_ERR_RUNTIME, "out of memory");
        return NULL;
    }
    c->ntensors++;
    return t;
}

/* Row-major contiguity; dimensions of size 1 may carry any stride. */
static int is_contiguous(const sp_src_tensor *t) {
    int64_t expect = 1;
    for (uint32_t i = t->ndim; i-- > 0;) {
        if (t->shape[i] != 1 && t->stride[i] != expect) return 0;
        expect *= (int64_t)t->shape[i];
    }
    return 1;
}

static void default_strides(sp_src_tensor *t) {
    int64_t s = 1;
    for (uint32_t i = t->ndim; i-- > 0;) {
        t->stride[i] = s;
        s *= (int64_t)t->shape[i];
    }
}

/* ---- safetensors ------------------------------------------------------------------------------ */

static int load_safetensors(sp_ckpt *c, size_t fi, sp_error *err) {
    const sp_src_file *f = &c->files[fi];
    sp_safetensors *st;
    sp_error e2 = {0};
    if (sp_safetensors_parse(f->map, f->size, &st, &e2)) return sp_fail(err, e2.code, "%s: %s", f->display, e2.msg);
    int rc = 0;
    for (size_t i = 0; i < st->count && !rc; i++) {
        const sp_st_tensor *s = &st->tensors[i];
        sp_src_tensor *t = new_tensor(c, s->name, err);
        if (!t) { rc = err->code; break; }
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

/* ---- torch zip -------------------------------------------------------------------------------- */

static int resolve_view(sp_ckpt *c, sp_src_tensor *t, const sp_ptensor *pt, const sp_zip_entry *ent,
                        uint64_t storage_numel, sp_error *err) {
    size_t es = sp_dtype_size(t->dtype);
    if (storage_numel > ent->size / es)
        return sp_fail(err, SP_ERR_INPUT, "tensor '%.200s': storage of %llu elements but its member holds %llu bytes",
                       t->name, (unsigned long long)storage_numel, (unsigned long long)ent->size);
    t->ndim = pt->ndim;
    uint64_t numel = 1, last = pt->offset;
    for (uint32_t i = 0; i < pt->ndim; i++) {
        t->shape[i] = pt->shape[i];
        t->stride[i] = pt->stride[i];
        if (pt->shape[i] && numel > UINT64_MAX / pt->shape[i]) goto overflow;
        numel *= pt->shape[i];
    }
    t->numel = numel;
    if (numel) {
        for (uint32_t i = 0; i < pt->ndim; i++) {
            uint64_t ext = pt->shape[i] - 1, st = (uint64_t)pt->stride[i];
            if (st && ext > (UINT64_MAX - last) / st) goto overflow;
            last += ext * st;
        }
        if (last >= storage_numel)
            return sp_fail(err, SP_ERR_INPUT, "tensor '%.200s' (offset %llu) reaches element %llu of a %llu-element storage",
                           t->name, (unsigned long long)pt->offset, (unsigned long long)last,
                           (unsigned long long)storage_numel);
    } else
        last = pt->offset;
    if (pt->offset > storage_numel) goto overflow;
    t->base = ent->data_offset + pt->offset * es;
    t->span_lo = t->base;
    t->span_hi = numel ? ent->data_offset + (last + 1) * es : t->base;
    t->contiguous = is_contiguous(t);
    (void)c;
    return 0;
overflow:
    return sp_fail(err, SP_ERR_INPUT, "tensor '%.200s': shape, stride or offset out of range", t->name);
}

/* The dict of tensors inside a torch pickle: a Lightning checkpoint's state_dict, a training
 * checkpoint's "model", or the top-level dict itself. */
static const sp_pobj *find_state_dict(const sp_pobj *root, sp_ckpt_kind *kind) {
    const sp_pobj *sd = sp_pobj_dict_get(root, "state_dict");
    if (sd && sd->type == SP_PK_DICT) {
        *kind = SP_CKPT_LIGHTNING;
        return sd;
    }
    static const char *keys[] = {"model", "model_state_dict", "module"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        sd = sp_pobj_dict_get(root, keys[i]);
        if (sd && sd->type == SP_PK_DICT) {
            for (size_t k = 1; k < sd->n; k += 2)
                if (sd->items[k]->type == SP_PK_TENSOR) {
                    *kind = SP_CKPT_TORCH;
                    return sd;
                }
        }
    }
    *kind = SP_CKPT_TORCH;
    return root->type == SP_PK_DICT ? root : NULL;
}

static int load_torch_zip(sp_ckpt *c, size_t fi, sp_error *err) {
    const sp_src_file *f = &c->files[fi];
    sp_zip *z;
    sp_error e2 = {0};
    if (sp_zip_open(f->map, f->size, &z, &e2)) return sp_fail(err, e2.code, "%s: %s", f->display, e2.msg);
    /* torch's top folder is the file stem: find <prefix>/data.pkl */
    const sp_zip_entry *pkl = NULL;
    for (size_t i = 0; i < sp_zip_count(z); i++) {
        const char *n = sp_zip_entry_at(z, i)->name, *sl = strchr(n, '/');
        if (sl && !strcmp(sl, "/data.pkl")) {
            if (pkl) {
                sp_zip_close(z);
                return sp_fail(err, SP_ERR_INPUT, "%s: more than one data.pkl in the archive", f->display);
            }
            pkl = sp_zip_entry_at(z, i);
        }
    }
    if (!pkl) {
        sp_zip_close(z);
        return sp_fail(err, SP_ERR_INPUT, "%s: zip archive without <name>/data.pkl: not a torch.save file", f->display);
    }
    size_t plen = strlen(pkl->name) - strlen("data.pkl");
    char prefix[4096];
    if (plen >= sizeof prefix - 64) {
        sp_zip_close(z);
        return sp_fail(err, SP_ERR_INPUT, "%s: archive folder name too long", f->display);
    }
    memcpy(prefix, pkl->name, plen);
    prefix[plen] = 0;
    char bo[4200];
    snprintf(bo, sizeof bo, "%sbyteorder", prefix);
    const sp_zip_entry *boe = sp_zip_find(z, bo);
    if (boe && !(boe->size == 6 && !memcmp(f->map + boe->data_offset, "little", 6))) {
        sp_zip_close(z);
        return sp_fail(err, SP_ERR_INPUT, "%s: only little-endian torch files are supported", f->display);
    }
    sp_pickle *pk;
    if (sp_pickle_load(f->map + pkl->data_offset, (size_t)pkl->size, &pk, &e2)) {
        sp_zip_close(z);
        return sp_fail(err, e2.code, "%s: %s", f->display, e2.msg);
    }
    sp_ckpt_kind kind;
    const sp_pobj *sd = find_state_dict(sp_pickle_root(pk), &kind);
    if (!c->hparams_config) c->hparams_config = sp_hparams_config_json(sp_pickle_root(pk));
    int rc = 0;
    if (!sd) rc = sp_fail(err, SP_ERR_INPUT, "%s: the pickle holds no dict of tensors", f->display);
    if (c->kind != SP_CKPT_HF_FOLDER) c->kind = kind;
    for (size_t i = 0; !rc && i + 1 < sd->n; i += 2) {
        const sp_pobj *k = sd->items[i], *v = sd->items[i + 1];
        if (k->type != SP_PK_STR) continue;
        if (v->type != SP_PK_TENSOR) {
            if (v->type == SP_PK_OBJECT && v->cls && strstr(v->cls->s, "torch.")) {
                /* a tensor kind we cannot read (quantized, sparse, meta): keep it so a mapping
                 * that needs it can say so */
                sp_src_tensor *t = new_tensor(c, k->s, err);
                if (!t) { rc = err->code; break; }
                t->placeholder = 1;
                t->file = fi;
            }
            continue;
        }
        const sp_ptensor *pt = v->t;
        const sp_pobj *sto = pt->storage;
        char member[4200];
        snprintf(member, sizeof member, "%sdata/%s", prefix, sto->s);
        const sp_zip_entry *ent = sp_zip_find(z, member);
        if (!ent) {
            rc = sp_fail(err, SP_ERR_INPUT, "%s: tensor '%.200s' refers to missing member %.300s", f->display, k->s, member);
            break;
        }
        sp_src_tensor *t = new_tensor(c, k->s, err);
        if (!t) { rc = err->code; break; }
        t->dtype = v->dtype;
        t->file = fi;
        uint64_t sn = sto->v.numel;
        if (!strcmp(sto->s, "") || sp_dtype_size(t->dtype) == 0) {
            rc = sp_fail(err, SP_ERR_INPUT, "%s: tensor '%.200s' has a bad storage", f->display, k->s);
            break;
        }
        rc = resolve_view(c, t, pt, ent, sn, err);
    }
    sp_pickle_free(pk);
    sp_zip_close(z);
    return rc;
}

/* ---- sniffing --------------------------------------------------------------------------------- */

static int load_file(sp_ckpt *c, const char *path, const char *display, sp_error *err) {
    size_t fi = 0;
    int rc = add_file(c, path, display, &fi, err);
    if (rc) return rc;
    const uint8_t *d = c->files[fi].map;
    uint64_t n = c->files[fi].size;
    if (n >= 4 && !memcmp(d, "PK\x03\x04", 4)) return load_torch_zip(c, fi, err);
    if (n >= 4 && !memcmp(d, "PK\x05\x06", 4)) return load_torch_zip(c, fi, err);
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

static int read_text(const char *path, char **out, sp_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return sp_fail(err, SP_ERR_INPUT, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || st.st_size > (16 << 20)) {
        fclose(f);
        return sp_fail(err, SP_ERR_INPUT, "%s is not a regular file of at most 16 MB", path);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        fclose(f);
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    }
    size_t r = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    if (r != (size_t)st.st_size) {
        free(buf);
        return sp_fail(err, SP_ERR_INPUT, "cannot read %s", path);
    }
    buf[r] = 0;
    *out = buf;
    return 0;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_yaml_name(const char *path) {
    size_t n = strlen(path);
    return (n > 5 && !strcmp(path + n - 5, ".yaml")) || (n > 4 && !strcmp(path + n - 4, ".yml"));
}

static int load_config(sp_ckpt *c, const char *path, sp_error *err) {
    char *text;
    int rc = read_text(path, &text, err);
    if (rc) return rc;
    sp_error e2 = {0};
    if (is_yaml_name(path)) {
        /* YAML (e.g. a Hydra model config): read as the equivalent JSON object */
        char *json;
        if (sp_yaml_config_to_json(text, strlen(text), &json, &e2)) {
            free(text);
            return sp_fail(err, e2.code, "%s: %s", path, e2.msg);
        }
        c->config_file_text = text; /* provenance hashes the file, not its JSON form */
        text = json;
    }
    sp_json *j;
    if (sp_json_parse(text, strlen(text), &j, &e2)) {
        free(text);
        return sp_fail(err, SP_ERR_INPUT, "%s: %s", path, e2.msg);
    }
    if (j->type != SP_JSON_OBJECT) {
        sp_json_free(j);
        free(text);
        return sp_fail(err, SP_ERR_INPUT, "%s: the config is not a JSON object", path);
    }
    c->config = j;
    c->config_text = text;
    c->config_path = strdup(path);
    return c->config_path ? 0 : sp_fail(err, SP_ERR_RUNTIME, "out of memory");
}

/* No config file: the one recorded in the checkpoint's hyper_parameters. */
static int use_hparams_config(sp_ckpt *c, sp_error *err) {
    sp_json *j;
    sp_error e2 = {0};
    if (sp_json_parse(c->hparams_config, strlen(c->hparams_config), &j, &e2))
        return sp_fail(err, SP_ERR_INPUT, "the config in the checkpoint's hyper_parameters: %s", e2.msg);
    if (j->type != SP_JSON_OBJECT) {
        sp_json_free(j);
        return sp_fail(err, SP_ERR_INPUT, "the checkpoint's hyper_parameters hold no config object");
    }
    c->config = j;
    c->config_text = c->hparams_config;
    c->hparams_config = NULL;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* A shard name from an index file must be a plain file name in the folder. */
static int safe_leaf(const char *s) {
    return *s && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") && strcmp(s, "..");
}

static int load_index(sp_ckpt *c, const char *dir, const char *index, sp_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, index);
    char *text;
    int rc = read_text(path, &text, err);
    if (rc) return rc;
    sp_json *j;
    sp_error e2 = {0};
    rc = sp_json_parse(text, strlen(text), &j, &e2);
    free(text);
    if (rc) return sp_fail(err, SP_ERR_INPUT, "%s: %s", index, e2.msg);
    const sp_json *wm = sp_json_get(j, "weight_map");
    if (!wm || wm->type != SP_JSON_OBJECT || wm->len == 0) {
        sp_json_free(j);
        return sp_fail(err, SP_ERR_INPUT, "%s: no weight_map object", index);
    }
    /* the distinct shard files, in sorted order */
    char **names = calloc(wm->len, sizeof *names);
    size_t nn = 0;
    if (!names) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
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
        for (size_t i = 0; i < u && !rc; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            size_t before = c->ntensors;
            rc = load_file(c, path, names[i], err);
            /* every tensor of a shard must be listed for that shard */
            for (size_t k = before; k < c->ntensors && !rc; k++) {
                const sp_json *m = sp_json_get(wm, c->tensors[k].name);
                if (!m || strcmp(m->str, names[i]))
                    rc = sp_fail(err, SP_ERR_INPUT, "%s: tensor '%.200s' in %s is not listed for that file", index,
                                 c->tensors[k].name, names[i]);
            }
        }
        /* and every listed tensor must exist */
        for (size_t i = 0; i < wm->len && !rc; i++)
            if (!sp_ckpt_find(c, wm->keys[i]))
                rc = sp_fail(err, SP_ERR_INPUT, "%s lists tensor '%.200s' but %s does not hold it", index, wm->keys[i],
                             wm->items[i]->str);
    }
    free(names);
    sp_json_free(j);
    return rc;
}

static int load_folder(sp_ckpt *c, const char *dir, sp_error *err) {
    c->kind = SP_CKPT_HF_FOLDER;
    static const char *indexes[] = {"model.safetensors.index.json", "pytorch_model.bin.index.json"};
    char path[4096];
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, indexes[i]);
        if (exists(path)) return load_index(c, dir, indexes[i], err);
    }
    DIR *d = opendir(dir);
    if (!d) return sp_fail(err, SP_ERR_INPUT, "cannot read folder %s: %s", dir, strerror(errno));
    char **st = NULL, **bin = NULL;
    size_t nst = 0, nbin = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) && !rc) {
        const char *n = e->d_name;
        char ***lst = NULL;
        size_t *cnt = NULL;
        if (ends_with(n, ".safetensors")) lst = &st, cnt = &nst;
        else if (!strncmp(n, "pytorch_model", 13) && ends_with(n, ".bin")) lst = &bin, cnt = &nbin;
        if (!lst) continue;
        char **nl = realloc(*lst, (*cnt + 1) * sizeof *nl);
        if (!nl || !(nl[*cnt] = strdup(n))) {
            if (nl) *lst = nl;
            rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
            break;
        }
        *lst = nl;
        (*cnt)++;
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
            rc = load_file(c, path, use[i], err);
        }
    }
    for (size_t i = 0; i < nst; i++) free(st[i]);
    for (size_t i = 0; i < nbin; i++) free(bin[i]);
    free(st);
    free(bin);
    return rc;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const sp_src_tensor *)a)->name, ((const sp_src_tensor *)b)->name);
}

int sp_ckpt_open(const char *src, const char *config_path, sp_ckpt **out, sp_error *err) {
    *out = NULL;
    sp_ckpt *c = calloc(1, sizeof *c);
    if (!c) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    c->source = strdup(src);
    struct stat st;
    int rc = 0;
    char dir[4096];
    if (stat(src, &st)) rc = sp_fail(err, SP_ERR_INPUT, "cannot open %s: %s", src, strerror(errno));
    else if (strlen(src) > 3000) rc = sp_fail(err, SP_ERR_INPUT, "path too long");
    else if (S_ISDIR(st.st_mode)) {
        snprintf(dir, sizeof dir, "%s", src);
        rc = load_folder(c, src, err);
    } else {
        snprintf(dir, sizeof dir, "%s", src);
        char *sl = strrchr(dir, '/');
        if (sl) *sl = 0;
        else strcpy(dir, ".");
        const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
        rc = load_file(c, src, base, err);
    }
    if (!rc) {
        /* duplicate names across shards */
        sp_src_tensor *tmp = malloc((c->ntensors ? c->ntensors : 1) * sizeof *tmp);
        if (!tmp) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
        else {
            memcpy(tmp, c->tensors, c->ntensors * sizeof *tmp);
            qsort(tmp, c->ntensors, sizeof *tmp, cmp_tensor_name);
            for (size_t i = 1; i < c->ntensors && !rc; i++)
                if (!strcmp(tmp[i - 1].name, tmp[i].name))
                    rc = sp_fail(err, SP_ERR_INPUT, "tensor '%.200s' appears twice in the checkpoint", tmp[i].name);
            free(tmp);
        }
    }
    if (!rc) {
        if (config_path) rc = load_config(c, config_path, err);
        else {
            /* <stem>.config.json / <stem>.params.json for every stem of a file name (a.b.ckpt:
             * a.b, then a), then config.json / params.json in the folder */
            char cand[5300];
            int found = 0;
            if (!S_ISDIR(st.st_mode)) {
                const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
                char stem[1024];
                snprintf(stem, sizeof stem, "%s", base);
                char *dot;
                while (!found && (dot = strrchr(stem, '.')) && dot > stem) {
                    *dot = 0;
                    static const char *sfx[] = {".config.json", ".params.json"};
                    for (size_t i = 0; i < 2 && !found; i++) {
                        snprintf(cand, sizeof cand, "%s/%s%s", dir, stem, sfx[i]);
                        if (exists(cand)) found = 1;
                    }
                }
            }
            static const char *names[] = {"config.json", "params.json"};
            for (size_t i = 0; i < 2 && !found; i++) {
                snprintf(cand, sizeof cand, "%s/%s", dir, names[i]);
                if (exists(cand)) found = 1;
            }
            if (found) rc = load_config(c, cand, err);
            else if (c->hparams_config) rc = use_hparams_config(c, err);
        }
    }
    if (rc) {
        sp_ckpt_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void sp_ckpt_close(sp_ckpt *c) {
    if (!c) return;
    for (size_t i = 0; i < c->nfiles; i++) {
        munmap((void *)c->files[i].map, (size_t)c->files[i].size);
        close(c->files[i].fd);
        free(c->files[i].path);
        free(c->files[i].display);
    }
    for (size_t i = 0; i < c->ntensors; i++) free(c->tensors[i].name);
    free(c->files);
    free(c->tensors);
    free(c->config_path);
    free(c->config_text);
    free(c->hparams_config);
    free(c->config_file_text);
    sp_json_free(c->config);
    free(c->source);
    free(c);
}

const sp_src_tensor *sp_ckpt_find(const sp_ckpt *c, const char *name) {
    for (size_t i = 0; i < c->ntensors; i++)
        if (!strcmp(c->tensors[i].name, name)) return &c->tensors[i];
    return NULL;
}

int sp_ckpt_read(const sp_ckpt *c, const sp_src_tensor *t, uint64_t first, uint64_t count, void *dst, sp_error *err) {
    if (t->placeholder) return sp_fail(err, SP_ERR_INPUT, "tensor '%.200s' is not a plain tensor", t->name);
    if (first > t->numel || count > t->numel - first)
        return sp_fail(err, SP_ERR_RUNTIME, "internal: read past tensor '%.200s'", t->name);
    const uint8_t *map = c->files[t->file].map;
    size_t es = sp_dtype_size(t->dtype);
    if (t->contiguous) {
        memcpy(dst, map + t->base + first * es, (size_t)(count * es));
        return 0;
    }
    /* strided view: walk the multi-index of element `first` */
    uint64_t idx[SP_MAX_DIMS] = {0}, rem = first;
    for (uint32_t i = t->ndim; i-- > 0;) {
        idx[i] = t->shape[i] ? rem % t->shape[i] : 0;
        rem = t->shape[i] ? rem / t->shape[i] : 0;
    }
    uint8_t *o = dst;
    for (uint64_t k = 0; k < count; k++) {
        uint64_t off = 0;
        for (uint32_t i = 0; i < t->ndim; i++) off += idx[i] * (uint64_t)t->stride[i];
        memcpy(o, map + t->base + off * es, es);
        o += es;
        for (uint32_t i = t->ndim; i-- > 0;) {
            if (++idx[i] < t->shape[i]) break;
            idx[i] = 0;
        }
    }
    return 0;
}

void sp_ckpt_release(const sp_ckpt *c, const sp_src_tensor *t) {
    if (t->placeholder || t->span_hi <= t->span_lo) return;
    long pg = sysconf(_SC_PAGESIZE);
    uint64_t lo = t->span_lo / (uint64_t)pg * (uint64_t)pg;
    uint64_t hi = t->span_hi;
    /* a private read-only file mapping: dropped pages are simply read again if needed */
    madvise((void *)(c->files[t->file].map + lo), (size_t)(hi - lo), MADV_DONTNEED);
}

const void *sp_ckpt_view(const sp_ckpt *c, const sp_src_tensor *t, uint64_t first, uint64_t count) {
    if (t->placeholder || !t->contiguous || first > t->numel || count > t->numel - first) return NULL;
    return c->files[t->file].map + t->base + first * sp_dtype_size(t->dtype);
}

void sp_ckpt_release_elems(const sp_ckpt *c, const sp_src_tensor *t, uint64_t first, uint64_t count) {
    if (t->placeholder || !t->contiguous || !count) return;
    uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE), es = sp_dtype_size(t->dtype);
    uint64_t lo = t->base + first * es, hi = lo + count * es;
    lo = (lo + pg - 1) / pg * pg; /* whole pages inside the range: neighbours stay untouched */
    hi = hi / pg * pg;
    if (hi > lo) madvise((void *)(c->files[t->file].map + lo), (size_t)(hi - lo), MADV_DONTNEED);
}
