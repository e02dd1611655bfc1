/* pickle_ops_stack.c — the pickle opcodes that move the machine rather than make objects:
 * PROTO, FRAME, STOP, MARK, POP, POP_MARK, DUP, and the memo (PUT/GET in their text, one-byte
 * and four-byte forms, MEMOIZE). The memo is capped by the input length (a memo bomb names an
 * index far beyond it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pickle_internal.h"

static int push_mark(pk_vm *m) {
    sp_pickle *p = m->p;
    if (p->nmarks == p->marks_cap) {
        if (p->marks_cap >= PK_MAX_MARKS)
            return sp_fail(m->err, SP_ERR_INPUT, "pickle: more than %u nested MARKs (stack bomb?)", PK_MAX_MARKS);
        size_t nc = p->marks_cap ? p->marks_cap * 2 : 64;
        size_t *nm = realloc(p->marks, nc * sizeof *nm);
        if (!nm) return pk_oom(m);
        p->marks = nm;
        p->marks_cap = nc;
    }
    p->marks[p->nmarks++] = p->sp;
    return 0;
}

int pk_op_stack(pk_vm *m, uint8_t op) {
    sp_pickle *p = m->p;
    const uint8_t *b = NULL;
    size_t base = 0;
    int rc = 0;
    switch (op) {
    case 0x80: /* PROTO */
        if ((rc = pk_read_bytes(m, 1, &b))) return rc;
        return b[0] < 2 || b[0] > 5 ? pk_fail(m, "unsupported pickle protocol", NULL) : 0;
    case 0x95: return pk_read_bytes(m, 8, &b); /* FRAME */
    case '.': /* STOP */
        if (p->sp != 1 || p->nmarks) return pk_fail(m, "STOP with a malformed stack", NULL);
        p->root = pk_pop(m);
        m->done = 1;
        return 0;
    case '(': return push_mark(m); /* MARK */
    case '0': /* POP */
        if (p->sp > pk_mark_base(m)) p->sp--;
        else if (p->nmarks && p->marks[p->nmarks - 1] == p->sp) p->nmarks--; /* pops the mark */
        else return pk_fail(m, "stack underflow", NULL);
        return 0;
    case '1': /* POP_MARK */
        if (!(rc = pk_pop_mark(m, &base))) p->sp = base;
        return rc;
    default: /* '2' DUP */
        if ((rc = pk_need(m, 1))) return rc;
        return pk_push(m, pk_top(m));
    }
}

/* ---- memo ------------------------------------------------------------------------------------- */

static int memo_put(pk_vm *m, uint64_t idx) {
    sp_pickle *p = m->p;
    if (!p->sp) return pk_fail(m, "memo put on an empty stack", NULL);
    /* indices are sequential in practice; anything beyond the input length is a bomb */
    if (idx > m->len + 16)
        return sp_fail(m->err, SP_ERR_INPUT, "pickle: memo index %llu out of range (memo bomb?)", (unsigned long long)idx);
    if (idx >= p->memo_cap) {
        size_t nc = p->memo_cap ? p->memo_cap : 64;
        while (nc <= idx) nc *= 2;
        sp_pobj **nm = realloc(p->memo, nc * sizeof *nm);
        if (!nm) return pk_oom(m);
        memset(nm + p->memo_cap, 0, (nc - p->memo_cap) * sizeof *nm);
        p->memo = nm;
        p->memo_cap = nc;
    }
    if (!p->memo[idx]) p->memo_count++;
    p->memo[idx] = pk_top(m);
    return 0;
}

static int memo_get(pk_vm *m, uint64_t idx) {
    if (idx >= m->p->memo_cap || !m->p->memo[idx]) return pk_fail(m, "memo get of an unset index", NULL);
    return pk_push(m, m->p->memo[idx]);
}

/* The decimal index of a text PUT/GET. */
static int text_index(pk_vm *m, const char *what, uint64_t *idx) {
    const uint8_t *b;
    size_t n;
    int rc = pk_read_line(m, &b, &n);
    if (rc) return rc;
    char tmp[24];
    if (n == 0 || n >= sizeof tmp) return pk_fail(m, what, NULL);
    memcpy(tmp, b, n);
    tmp[n] = 0;
    *idx = strtoull(tmp, NULL, 10);
    return 0;
}

int pk_op_memo(pk_vm *m, uint8_t op) {
    const uint8_t *b = NULL;
    uint64_t idx = 0;
    int rc = 0;
    switch (op) {
    case 'p': return (rc = text_index(m, "bad PUT index", &idx)) ? rc : memo_put(m, idx);
    case 'g': return (rc = text_index(m, "bad GET index", &idx)) ? rc : memo_get(m, idx);
    case 'q': return (rc = pk_read_bytes(m, 1, &b)) ? rc : memo_put(m, b[0]);
    case 'r': return (rc = pk_read_bytes(m, 4, &b)) ? rc : memo_put(m, pk_le(b, 4));
    case 0x94: return memo_put(m, m->p->memo_count); /* MEMOIZE: index = memo size */
    case 'h': return (rc = pk_read_bytes(m, 1, &b)) ? rc : memo_get(m, b[0]);
    default: return (rc = pk_read_bytes(m, 4, &b)) ? rc : memo_get(m, pk_le(b, 4)); /* 'j' */
    }
}
