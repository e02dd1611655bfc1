/* fuzz_pickle.c — libFuzzer target for the restricted pickle machine: run the input, then walk
 * what a converter reads (the state dict and its tensors, placeholders' classes and states, the
 * config recovered from hyper_parameters, which must be valid JSON when there is one).
 * Any crash, out-of-bounds access, leak or unbounded allocation is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_readers.h"
#include "json_reader.h"
#include "pickle_reader.h"

static volatile uint64_t sink;

static void touch(const sp_pobj *o) {
    if (!o) return;
    sink += o->type;
    if (o->s) sink += (uint64_t)strlen(o->s) + o->len;
    if (o->type == SP_PK_TENSOR) {
        const sp_ptensor *t = o->t;
        sink += t->offset + t->ndim + t->storage->v.numel + (uint64_t)strlen(t->storage->s);
        for (uint32_t i = 0; i < t->ndim; i++) sink += t->shape[i] + (uint64_t)t->stride[i];
    }
    if (o->type == SP_PK_OBJECT) {
        sink += o->cls ? o->cls->type : 0;
        sink += o->args ? o->args->n : 0;
        sink += o->state ? o->state->type : 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sp_pickle *p;
    sp_error err = {0};
    if (sp_pickle_load(data, size, &p, &err)) {
        if (!err.msg[0]) __builtin_trap(); /* every failure explains itself */
        return 0;
    }
    const sp_pobj *root = sp_pickle_root(p);
    const sp_pobj *sd = sp_pobj_dict_get(root, "state_dict");
    if (!sd) sd = root;
    touch(root);
    /* one level down, as the checkpoint reader goes: containers may be huge, not deep */
    for (size_t i = 0; i < sd->n; i++) {
        touch(sd->items[i]);
        const sp_pobj *c = sd->items[i];
        for (size_t k = 0; k < c->n && k < 64; k++) touch(c->items[k]);
    }
    char *cfg = sp_hparams_config_json(root);
    if (cfg) {
        sp_json *j = NULL;
        sp_error jerr = {0};
        if (sp_json_parse(cfg, strlen(cfg), &j, &jerr) == 0) sp_json_free(j);
        sink += strlen(cfg);
        free(cfg);
    }
    sp_pickle_free(p);
    return 0;
}
