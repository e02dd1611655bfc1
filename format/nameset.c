/* nameset.c — a set of names (open addressing, FNV-1a) so the writer refuses duplicate
 * metadata keys and tensor names in O(1) each, whatever the number of tensors. */
#include "writer_internal.h"

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

/* 1 if added, 0 if present, -1 out of memory. */
int sp_nameset_add(sp_nameset *s, const char *name) {
    size_t n = strlen(name);
    if (s->count * 2 >= s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **slots = calloc(cap, sizeof *slots);
        if (!slots) return -1;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->slots[i]) continue;
            size_t j = fnv1a(s->slots[i], strlen(s->slots[i])) & (cap - 1);
            while (slots[j]) j = (j + 1) & (cap - 1);
            slots[j] = s->slots[i];
        }
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
    }
    size_t j = fnv1a(name, n) & (s->cap - 1);
    for (; s->slots[j]; j = (j + 1) & (s->cap - 1))
        if (!strcmp(s->slots[j], name)) return 0;
    if (!(s->slots[j] = strdup(name))) return -1;
    s->count++;
    return 1;
}

void sp_nameset_free(sp_nameset *s) {
    for (size_t i = 0; i < s->cap; i++) free(s->slots[i]);
    free(s->slots);
    memset(s, 0, sizeof *s);
}
