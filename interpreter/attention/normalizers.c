/* normalizers.c — the rows of the normaliser table (normalizers.h). Each row is defined next to
 * its kernel; this file only lists them, in the order messages name them. */
#include <string.h>

#include "normalizers.h"

extern const sp_norm_kind sp_norm_softmax, sp_norm_entmax, sp_norm_sparsemax,
    sp_norm_adaptive_softmax, sp_norm_stickbreaking, sp_norm_topk;

static const sp_norm_kind *const table[] = {
    &sp_norm_softmax,
    &sp_norm_entmax,
    &sp_norm_sparsemax,
    &sp_norm_adaptive_softmax,
    &sp_norm_stickbreaking,
    &sp_norm_topk,
};

const sp_norm_kind *sp_norm_at(size_t i) {
    return i < sizeof table / sizeof table[0] ? table[i] : NULL;
}

const sp_norm_kind *sp_norm_find(const char *name) {
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i]->name, name)) return table[i];
    return NULL;
}
