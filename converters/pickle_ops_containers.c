/* pickle_ops_containers.c — the pickle opcodes that build containers: the empty tuple (one
 * shared object), tuples from a MARK or the top 1-3 items, lists, dicts, sets and frozensets
 * (kept as lists), and APPEND(S)/SETITEM(S)/ADDITEMS into the container below the items. Dict
 * keys are appended in order; lookups take the last occurrence, as Python's assignment does. */
#include "pickle_internal.h"

static int seq_from_mark(pk_vm *m, sp_pk_type t) {
    size_t base = 0;
    if (pk_pop_mark(m, &base)) return SP_ERR_INPUT;
    sp_pobj *o = pk_new_obj(m->p, t);
    if (!o) return pk_oom(m);
    for (size_t i = base; i < m->p->sp; i++)
        if (pk_add_item(m, o, m->p->stack[i])) return m->err->code;
    m->p->sp = base;
    return pk_push(m, o);
}

static int tuple_n(pk_vm *m, size_t n) {
    if (pk_need(m, n)) return SP_ERR_INPUT;
    sp_pobj *o = pk_new_obj(m->p, SP_PK_TUPLE);
    if (!o) return pk_oom(m);
    for (size_t i = m->p->sp - n; i < m->p->sp; i++)
        if (pk_add_item(m, o, m->p->stack[i])) return m->err->code;
    m->p->sp -= n;
    return pk_push(m, o);
}

static int dict_from_mark(pk_vm *m) {
    sp_pickle *p = m->p;
    size_t base = 0;
    int rc = pk_pop_mark(m, &base);
    if (rc) return rc;
    if ((p->sp - base) & 1) return pk_fail(m, "odd number of items for DICT", NULL);
    sp_pobj *o = pk_new_obj(p, SP_PK_DICT);
    if (!o) return pk_oom(m);
    for (size_t i = base; i < p->sp && !rc; i++) rc = pk_add_item(m, o, p->stack[i]);
    if (rc) return rc;
    p->sp = base;
    return pk_push(m, o);
}

int pk_op_container(pk_vm *m, uint8_t op) {
    sp_pickle *p = m->p;
    switch (op) {
    case ')': /* the empty tuple is immutable: one shared object */
        return pk_push(m, p->empty_tuple ? p->empty_tuple : (p->empty_tuple = pk_new_obj(p, SP_PK_TUPLE)));
    case 't': return seq_from_mark(m, SP_PK_TUPLE);
    case 0x85: return tuple_n(m, 1);
    case 0x86: return tuple_n(m, 2);
    case 0x87: return tuple_n(m, 3);
    case ']': return pk_push(m, pk_new_obj(p, SP_PK_LIST));
    case 'l': return seq_from_mark(m, SP_PK_LIST);
    case '}': return pk_push(m, pk_new_obj(p, SP_PK_DICT));
    case 0x8f: return pk_push(m, pk_new_obj(p, SP_PK_LIST)); /* EMPTY_SET as a list */
    case 'd': return dict_from_mark(m);
    default: return seq_from_mark(m, SP_PK_LIST); /* 0x91 FROZENSET */
    }
}

/* The items from stack index base up go into the container just below them. */
static int extend_from(pk_vm *m, size_t base, int pairs) {
    if (base == 0 || base > m->p->sp) return pk_fail(m, "no container below the items", NULL);
    sp_pobj *c = m->p->stack[base - 1];
    size_t n = m->p->sp - base;
    if (pairs && (n & 1)) return pk_fail(m, "odd number of items for SETITEMS", NULL);
    if (c->type != SP_PK_LIST && c->type != SP_PK_DICT && c->type != SP_PK_OBJECT)
        return pk_fail(m, "items added to something that is not a list, dict or object", NULL);
    if (pairs && c->type == SP_PK_LIST) return pk_fail(m, "SETITEM on a list", NULL);
    for (size_t i = base; i < m->p->sp; i++)
        if (pk_add_item(m, c, m->p->stack[i])) return m->err->code;
    m->p->sp = base;
    return 0;
}

int pk_op_add_items(pk_vm *m, uint8_t op) {
    size_t base = 0;
    int rc = 0;
    switch (op) {
    case 'a': /* APPEND */
        return (rc = pk_need(m, 2)) ? rc : extend_from(m, m->p->sp - 1, 0);
    case 'e': case 0x90: /* APPENDS, ADDITEMS */
        return (rc = pk_pop_mark(m, &base)) ? rc : extend_from(m, base, 0);
    case 's': /* SETITEM */
        return (rc = pk_need(m, 3)) ? rc : extend_from(m, m->p->sp - 2, 1);
    default: /* 'u' SETITEMS */
        return (rc = pk_pop_mark(m, &base)) ? rc : extend_from(m, base, 1);
    }
}
