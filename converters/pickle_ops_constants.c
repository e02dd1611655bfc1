/* pickle_ops_constants.c — the pickle opcodes that push a constant: None, True/False, integers
 * (binary, LONG1/LONG4 up to 64 bits, text INT/LONG), BINFLOAT, and strings and bytes of every
 * width (each length checked against the bytes left). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pickle_internal.h"

/* INT / LONG in text; INT 00 and 01 are the protocol-0 booleans. */
static int text_int(pk_vm *m, uint8_t op) {
    const uint8_t *b;
    size_t n;
    int rc = pk_read_line(m, &b, &n);
    if (rc) return rc;
    char tmp[32];
    if (n == 0 || n >= sizeof tmp) return pk_fail(m, "bad text integer", NULL);
    memcpy(tmp, b, n);
    tmp[n] = 0;
    if (tmp[n - 1] == 'L') tmp[n - 1] = 0;
    char *e;
    long long v = strtoll(tmp, &e, 10);
    if (*e) return pk_fail(m, "bad text integer", NULL);
    sp_pobj *o = pk_new_obj(m->p, op == 'I' && (!strcmp(tmp, "00") || !strcmp(tmp, "01")) ? SP_PK_BOOL : SP_PK_INT);
    if (o) o->v.i = v;
    return pk_push(m, o);
}

/* LONG1 / LONG4: two's complement, little-endian, at most 8 bytes. */
static int long_int(pk_vm *m, uint8_t op) {
    const uint8_t *b;
    int rc = pk_read_bytes(m, op == 0x8a ? 1 : 4, &b);
    if (rc) return rc;
    uint64_t n = op == 0x8a ? b[0] : pk_le(b, 4);
    if (n > 8) return pk_fail(m, "integer wider than 64 bits", NULL);
    if ((rc = pk_read_bytes(m, (size_t)n, &b))) return rc;
    sp_pobj *o = pk_new_obj(m->p, SP_PK_INT);
    if (o && n) {
        uint64_t v = pk_le(b, (int)n);
        if (n < 8 && (b[n - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * n);
        o->v.i = (int64_t)v;
    }
    return pk_push(m, o);
}

int pk_op_constant(pk_vm *m, uint8_t op) {
    sp_pickle *p = m->p;
    const uint8_t *b = NULL;
    sp_pobj *o;
    int rc = 0;
    switch (op) {
    case 'N': return pk_push(m, p->none ? p->none : (p->none = pk_new_obj(p, SP_PK_NONE)));
    case 0x88: /* NEWTRUE */
        if (!p->tru && (p->tru = pk_new_obj(p, SP_PK_BOOL))) p->tru->v.i = 1;
        return pk_push(m, p->tru);
    case 0x89: /* NEWFALSE */
        if (!p->fals) p->fals = pk_new_obj(p, SP_PK_BOOL);
        return pk_push(m, p->fals);
    case 'J': case 'K': case 'M': { /* BININT, BININT1, BININT2 */
        int n = op == 'J' ? 4 : op == 'K' ? 1 : 2;
        if ((rc = pk_read_bytes(m, (size_t)n, &b))) return rc;
        o = pk_new_obj(p, SP_PK_INT);
        if (o) o->v.i = op == 'J' ? (int64_t)(int32_t)pk_le(b, 4) : (int64_t)pk_le(b, n);
        return pk_push(m, o);
    }
    case 0x8a: case 0x8b: return long_int(m, op);
    case 'I': case 'L': return text_int(m, op);
    default: { /* 'G' BINFLOAT, big-endian */
        if ((rc = pk_read_bytes(m, 8, &b))) return rc;
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = u << 8 | b[i];
        o = pk_new_obj(p, SP_PK_FLOAT);
        if (o) memcpy(&o->v.f, &u, 8);
        return pk_push(m, o);
    }
    }
}

/* BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, BINBYTES, SHORT_BINBYTES, BINBYTES8, BINSTRING,
 * SHORT_BINSTRING, BYTEARRAY8: a little-endian length of 1, 4 or 8 bytes, then the bytes. */
int pk_op_string(pk_vm *m, uint8_t op) {
    const uint8_t *b = NULL;
    int w = (op == 0x8c || op == 'C' || op == 'U') ? 1 : (op == 0x8d || op == 0x8e || op == 0x96) ? 8 : 4;
    int rc = pk_read_bytes(m, (size_t)w, &b);
    if (rc) return rc;
    uint64_t n = pk_le(b, w);
    if (n > m->len - m->pos) return pk_fail(m, "string runs past the end of the pickle", NULL);
    if ((rc = pk_read_bytes(m, (size_t)n, &b))) return rc;
    int is_str = op == 'X' || op == 0x8c || op == 0x8d || op == 'T' || op == 'U';
    return pk_push(m, pk_new_str(m, is_str ? SP_PK_STR : SP_PK_BYTES, b, (size_t)n));
}
