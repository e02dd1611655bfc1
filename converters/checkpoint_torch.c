/* checkpoint_torch.c — the tensors of a torch.save archive (a plain state dict, a training
 * checkpoint's "model", or a Lightning checkpoint's "state_dict"): find <stem>/data.pkl, run
 * the restricted pickle machine on it, and turn each tensor view of a storage member into a
 * checkpoint tensor whose every element lies inside that member. The config a Lightning
 * checkpoint keeps in its hyper_parameters is recovered on the way. */
#include <stdio.h>
#include <string.h>

#include "checkpoint_internal.h"
#include "config_readers.h"
#include "pickle_reader.h"
#include "zip_reader.h"

/* Row-major contiguity; dimensions of size 1 may carry any stride. */
static int is_contiguous(const sp_src_tensor *t) {
    int64_t expect = 1;
    for (uint32_t i = t->ndim; i-- > 0;) {
        if (t->shape[i] != 1 && t->stride[i] != expect) return 0;
        expect *= (int64_t)t->shape[i];
    }
    return 1;
}

static int resolve_view(sp_src_tensor *t, const sp_ptensor *pt, const sp_zip_entry *ent, uint64_t storage_numel,
                        sp_error *err) {
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

/* torch's top folder is the file stem: finds the one <prefix>/data.pkl, checks the byte order
 * and copies "<prefix>/" into prefix (of cap bytes). */
static int find_data_pkl(const sp_zip *z, const sp_src_file *f, char *prefix, size_t cap, const sp_zip_entry **out,
                         sp_error *err) {
    const sp_zip_entry *pkl = NULL;
    for (size_t i = 0; i < sp_zip_count(z); i++) {
        const char *n = sp_zip_entry_at(z, i)->name, *sl = strchr(n, '/');
        if (sl && !strcmp(sl, "/data.pkl")) {
            if (pkl) return sp_fail(err, SP_ERR_INPUT, "%s: more than one data.pkl in the archive", f->display);
            pkl = sp_zip_entry_at(z, i);
        }
    }
    if (!pkl)
        return sp_fail(err, SP_ERR_INPUT, "%s: zip archive without <name>/data.pkl: not a torch.save file", f->display);
    size_t plen = strlen(pkl->name) - strlen("data.pkl");
    if (plen >= cap - 64) return sp_fail(err, SP_ERR_INPUT, "%s: archive folder name too long", f->display);
    memcpy(prefix, pkl->name, plen);
    prefix[plen] = 0;
    char bo[4200];
    snprintf(bo, sizeof bo, "%sbyteorder", prefix);
    const sp_zip_entry *boe = sp_zip_find(z, bo);
    if (boe && !(boe->size == 6 && !memcmp(f->map + boe->data_offset, "little", 6)))
        return sp_fail(err, SP_ERR_INPUT, "%s: only little-endian torch files are supported", f->display);
    *out = pkl;
    return 0;
}

/* One state-dict entry: a tensor view of a storage member, a torch object that cannot be read
 * (kept as a placeholder so a mapping that needs it can say so), or anything else (skipped). */
static int add_entry(sp_ckpt *c, size_t fi, const sp_zip *z, const char *prefix, const sp_pobj *k, const sp_pobj *v,
                     sp_error *err) {
    const sp_src_file *f = &c->files[fi];
    if (k->type != SP_PK_STR) return 0;
    if (v->type != SP_PK_TENSOR) {
        if (v->type == SP_PK_OBJECT && v->cls && strstr(v->cls->s, "torch.")) {
            /* a tensor kind we cannot read (quantized, sparse, meta) */
            sp_src_tensor *t = ckpt_new_tensor(c, k->s, err);
            if (!t) return err->code;
            t->placeholder = 1;
            t->file = fi;
        }
        return 0;
    }
    const sp_ptensor *pt = v->t;
    const sp_pobj *sto = pt->storage;
    char member[4200];
    snprintf(member, sizeof member, "%sdata/%s", prefix, sto->s);
    const sp_zip_entry *ent = sp_zip_find(z, member);
    if (!ent)
        return sp_fail(err, SP_ERR_INPUT, "%s: tensor '%.200s' refers to missing member %.300s", f->display, k->s, member);
    sp_src_tensor *t = ckpt_new_tensor(c, k->s, err);
    if (!t) return err->code;
    t->dtype = v->dtype;
    t->file = fi;
    if (!strcmp(sto->s, "") || sp_dtype_size(t->dtype) == 0)
        return sp_fail(err, SP_ERR_INPUT, "%s: tensor '%.200s' has a bad storage", f->display, k->s);
    return resolve_view(t, pt, ent, sto->v.numel, err);
}

int ckpt_load_torch_zip(sp_ckpt *c, size_t fi, sp_error *err) {
    const sp_src_file *f = &c->files[fi];
    sp_zip *z;
    sp_error e2 = {0};
    if (sp_zip_open(f->map, f->size, &z, &e2)) return sp_fail(err, e2.code, "%s: %s", f->display, e2.msg);
    const sp_zip_entry *pkl = NULL;
    char prefix[4096];
    int rc = find_data_pkl(z, f, prefix, sizeof prefix, &pkl, err);
    if (rc) {
        sp_zip_close(z);
        return rc;
    }
    sp_pickle *pk;
    if (sp_pickle_load(f->map + pkl->data_offset, (size_t)pkl->size, &pk, &e2)) {
        sp_zip_close(z);
        return sp_fail(err, e2.code, "%s: %s", f->display, e2.msg);
    }
    sp_ckpt_kind kind;
    const sp_pobj *sd = find_state_dict(sp_pickle_root(pk), &kind);
    if (!c->hparams_config) c->hparams_config = sp_hparams_config_json(sp_pickle_root(pk));
    if (!sd) rc = sp_fail(err, SP_ERR_INPUT, "%s: the pickle holds no dict of tensors", f->display);
    if (c->kind != SP_CKPT_HF_FOLDER) c->kind = kind;
    for (size_t i = 0; !rc && i + 1 < sd->n; i += 2)
        rc = add_entry(c, fi, z, prefix, sd->items[i], sd->items[i + 1], err);
    sp_pickle_free(pk);
    sp_zip_close(z);
    return rc;
}
