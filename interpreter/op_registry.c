/* op_registry.c — the op-set 1 table: op name → kind (format/GRAPH.md §4). A new op is one
 * ops_<name>.c file defining its sp_op_kind plus one line here. */
#include <string.h>

#include "interp_internal.h"

extern const sp_op_kind sp_op_embed, sp_op_rmsnorm, sp_op_layernorm, sp_op_linear, sp_op_rope,
    sp_op_attention, sp_op_mlp, sp_op_add, sp_op_softcap, sp_op_scale;

static const sp_op_kind *const kinds[] = {
    &sp_op_embed, &sp_op_rmsnorm, &sp_op_layernorm, &sp_op_linear, &sp_op_rope,
    &sp_op_attention, &sp_op_mlp, &sp_op_add, &sp_op_softcap, &sp_op_scale,
};

const sp_op_kind *sp_op_kind_find(const char *name) {
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kinds[i]->name, name)) return kinds[i];
    return NULL;
}
