/* pickle_arena.c — where the pickle machine's objects live: one arena of blocks, capped (a
 * pickle that needs more is hostile) and freed at once; and reading the result (root, dict
 * lookups). */
#include <stdlib.h>
#include <string.h>

#include "pickle_internal.h"

void *pk_arena_alloc(sp_pickle *p, size_t n) {
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    pk_block *b = p->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > PK_ARENA_BLOCK ? n : PK_ARENA_BLOCK;
        if (p->arena_bytes + cap > p->arena_limit) return NULL;
        p->arena_bytes += cap;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = p->blocks;
        p->blocks = b;
    }
    void *r = (char *)b->data + b->used;
    b->used += n;
    memset(r, 0, n);
    return r;
}

sp_pobj *pk_new_obj(sp_pickle *p, sp_pk_type t) {
    sp_pobj *o = pk_arena_alloc(p, sizeof *o);
    if (o) o->type = t;
    return o;
}

void sp_pickle_free(sp_pickle *p) {
    if (!p) return;
    while (p->blocks) {
        pk_block *n = p->blocks->next;
        free(p->blocks);
        p->blocks = n;
    }
    free(p->stack);
    free(p->marks);
    free(p->memo);
    free(p);
}

const sp_pobj *sp_pickle_root(const sp_pickle *p) { return p->root; }

const sp_pobj *sp_pobj_dict_get(const sp_pobj *d, const char *key) {
    if (!d || (d->type != SP_PK_DICT && d->type != SP_PK_OBJECT)) return NULL;
    size_t kl = strlen(key);
    for (size_t i = d->n & ~(size_t)1; i >= 2; i -= 2) {
        const sp_pobj *k = d->items[i - 2];
        if (k->type == SP_PK_STR && k->len == kl && !memcmp(k->s, key, kl)) return d->items[i - 1];
    }
    return NULL;
}
