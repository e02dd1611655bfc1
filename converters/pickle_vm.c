/* pickle_vm.c — the pickle machine's state helpers: errors that name the opcode's byte, the
 * capped stack and marks, container items with their nesting depth, and reading arguments from
 * the input (every length bounded by the bytes left). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pickle_internal.h"

int pk_fail(pk_vm *m, const char *fmt, const char *arg) {
    char what[300];
    snprintf(what, sizeof what, fmt, arg ? arg : "");
    return sp_fail(m->err, SP_ERR_INPUT, "pickle: %s (opcode at byte %zu)", what, m->op_pos);
}

int pk_oom(pk_vm *m) {
    if (m->p->arena_bytes + PK_ARENA_BLOCK > m->p->arena_limit)
        return sp_fail(m->err, SP_ERR_INPUT, "pickle: object graph exceeds %zu MB (object bomb?)",
                       m->p->arena_limit >> 20);
    return sp_fail(m->err, SP_ERR_RUNTIME, "pickle: out of memory");
}

int pk_push(pk_vm *m, sp_pobj *o) {
    sp_pickle *p = m->p;
    if (!o) return pk_oom(m);
    if (p->sp == p->stack_cap) {
        if (p->stack_cap >= SP_PICKLE_MAX_STACK)
            return sp_fail(m->err, SP_ERR_INPUT, "pickle: stack exceeds %u entries (stack bomb?)", SP_PICKLE_MAX_STACK);
        size_t nc = p->stack_cap ? p->stack_cap * 2 : 256;
        sp_pobj **ns = realloc(p->stack, nc * sizeof *ns);
        if (!ns) return pk_oom(m);
        p->stack = ns;
        p->stack_cap = nc;
    }
    p->stack[p->sp++] = o;
    return 0;
}

size_t pk_mark_base(const pk_vm *m) { return m->p->nmarks ? m->p->marks[m->p->nmarks - 1] : 0; }

int pk_need(pk_vm *m, size_t n) {
    if (m->p->sp - pk_mark_base(m) < n) return pk_fail(m, "stack underflow", NULL);
    return 0;
}

int pk_pop_mark(pk_vm *m, size_t *base) {
    if (!m->p->nmarks) return pk_fail(m, "no MARK on the stack", NULL);
    *base = m->p->marks[--m->p->nmarks];
    return 0;
}

int pk_check_depth(pk_vm *m, sp_pobj *container, const sp_pobj *child) {
    if (child->depth + 1 > container->depth) container->depth = child->depth + 1;
    if (container->depth > SP_PICKLE_MAX_DEPTH)
        return sp_fail(m->err, SP_ERR_INPUT, "pickle: structures nested deeper than %d levels (opcode at byte %zu)",
                       SP_PICKLE_MAX_DEPTH, m->op_pos);
    return 0;
}

int pk_add_item(pk_vm *m, sp_pobj *c, sp_pobj *item) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 4;
        /* bounded by the input: every item costs at least one opcode byte */
        if (nc > 2 * m->len + 16) nc = 2 * m->len + 16;
        if (nc <= c->n) return pk_fail(m, "container larger than the input allows", NULL);
        sp_pobj **ni = pk_arena_alloc(m->p, nc * sizeof *ni);
        if (!ni) return pk_oom(m);
        if (c->n) memcpy(ni, c->items, c->n * sizeof *ni);
        c->items = ni; /* the old array stays in the arena: freed with it */
        c->cap = nc;
    }
    c->items[c->n++] = item;
    return pk_check_depth(m, c, item);
}

int pk_read_bytes(pk_vm *m, size_t n, const uint8_t **out) {
    if (m->len - m->pos < n) return pk_fail(m, "truncated pickle", NULL);
    *out = m->d + m->pos;
    m->pos += n;
    return 0;
}

int pk_read_line(pk_vm *m, const uint8_t **s, size_t *n) {
    const uint8_t *start = m->d + m->pos;
    const uint8_t *nl = memchr(start, '\n', m->len - m->pos);
    if (!nl) return pk_fail(m, "truncated pickle (missing newline)", NULL);
    *s = start;
    *n = (size_t)(nl - start);
    m->pos += *n + 1;
    return 0;
}

uint64_t pk_le(const uint8_t *b, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

sp_pobj *pk_new_str(pk_vm *m, sp_pk_type t, const uint8_t *s, size_t n) {
    sp_pobj *o = pk_new_obj(m->p, t);
    if (!o) return NULL;
    char *c = pk_arena_alloc(m->p, n + 1);
    if (!c) return NULL;
    memcpy(c, s, n);
    c[n] = 0;
    o->s = c;
    o->len = n;
    return o;
}

int pk_int_arg(const sp_pobj *o, int64_t *v) {
    if (!o || (o->type != SP_PK_INT && o->type != SP_PK_BOOL)) return 0;
    *v = o->v.i;
    return 1;
}
