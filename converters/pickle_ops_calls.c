/* pickle_ops_calls.c — the pickle opcodes that name or call code, where nothing is ever run:
 * GLOBAL/STACK_GLOBAL only name a class or function, and a name from a module that can run
 * code (os, subprocess, builtins.eval, ...) is refused outright. REDUCE/NEWOBJ/NEWOBJ_EX/OBJ on
 * the torch rebuild functions produce tensors, collections.OrderedDict() a dict, and every
 * other call an inert placeholder object; BUILD keeps a placeholder's state. */
#include <stdio.h>
#include <string.h>

#include "pickle_internal.h"

/* ---- GLOBAL policy ---------------------------------------------------------------------------- */

static int is_dangerous(const char *mod, const char *name) {
    static const char *mods[] = {"os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib",
                                 "pickle", "_pickle", "marshal", "code", "codeop", "pty", "runpy", "ctypes",
                                 "webbrowser", "commands", "popen2", "multiprocessing", "asyncio",
                                 "tempfile", "io", "_io", "http", "urllib", "ftplib", "smtplib", "telnetlib",
                                 "shelve", "dbm", "pip", "setuptools", "distutils", "zipimport", "pkgutil",
                                 "bdb", "pdb", "timeit", "trace", "profile", "cProfile"};
    size_t ml = strcspn(mod, ".");
    for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++)
        if (strlen(mods[i]) == ml && !strncmp(mod, mods[i], ml)) return 1;
    if (!strcmp(mod, "builtins") || !strcmp(mod, "__builtin__") || !strcmp(mod, "__builtins__")) {
        static const char *safe[] = {"set", "frozenset", "slice", "complex", "bytearray", "range", "int",
                                     "float", "str", "dict", "list", "tuple", "bool", "bytes", "object", "print",
                                     "len", "min", "max", "abs", "round", "sum", "sorted", "reversed",
                                     "enumerate", "zip", "type", "property", "staticmethod", "classmethod"};
        for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
            if (!strcmp(name, safe[i])) return 0;
        return 1;
    }
    /* functions that call or import by name */
    static const char *callers[] = {"eval", "exec", "system", "__import__", "import_module", "getattr",
                                    "attrgetter", "methodcaller", "compile", "popen", "execfile"};
    for (size_t i = 0; i < sizeof callers / sizeof callers[0]; i++)
        if (!strcmp(name, callers[i])) return 1;
    return 0;
}

static int make_global(pk_vm *m, const char *mod, size_t ml, const char *name, size_t nl) {
    char full[512];
    char modz[256], namez[256];
    if (ml >= sizeof modz || nl >= sizeof namez) return pk_fail(m, "GLOBAL name too long", NULL);
    memcpy(modz, mod, ml);
    modz[ml] = 0;
    memcpy(namez, name, nl);
    namez[nl] = 0;
    snprintf(full, sizeof full, "%s.%s", modz, namez);
    if (is_dangerous(modz, namez))
        return sp_fail(m->err, SP_ERR_INPUT,
                       "pickle: refusing GLOBAL %s (byte %zu): it could run code; this is not a plain checkpoint",
                       full, m->op_pos);
    return pk_push(m, pk_new_str(m, SP_PK_GLOBAL, (const uint8_t *)full, strlen(full)));
}

int pk_op_global(pk_vm *m, uint8_t op) {
    int rc;
    if (op == 'c') { /* GLOBAL module\nname\n */
        const uint8_t *mod, *name;
        size_t ml, nl;
        if ((rc = pk_read_line(m, &mod, &ml)) || (rc = pk_read_line(m, &name, &nl))) return rc;
        return make_global(m, (const char *)mod, ml, (const char *)name, nl);
    }
    /* STACK_GLOBAL */
    if ((rc = pk_need(m, 2))) return rc;
    sp_pobj *a = pk_pop(m), *o = pk_pop(m);
    if (o->type != SP_PK_STR || a->type != SP_PK_STR) return pk_fail(m, "STACK_GLOBAL needs two strings", NULL);
    return make_global(m, o->s, o->len, a->s, a->len);
}

/* ---- calls ------------------------------------------------------------------------------------ */

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, ...) */
static int rebuild_tensor(pk_vm *m, const sp_pobj *args, sp_pobj **out) {
    if (args->type != SP_PK_TUPLE || args->n < 4) return pk_fail(m, "_rebuild_tensor: expected at least 4 arguments", NULL);
    const sp_pobj *st = args->items[0], *sz = args->items[2], *sd = args->items[3];
    int64_t off;
    if (st->type != SP_PK_STORAGE) return pk_fail(m, "_rebuild_tensor: first argument is not a storage", NULL);
    if (!pk_int_arg(args->items[1], &off) || off < 0) return pk_fail(m, "_rebuild_tensor: bad storage offset", NULL);
    if (sz->type != SP_PK_TUPLE || sd->type != SP_PK_TUPLE || sz->n != sd->n)
        return pk_fail(m, "_rebuild_tensor: size and stride must be tuples of equal length", NULL);
    if (sz->n > SP_MAX_DIMS) return pk_fail(m, "_rebuild_tensor: more than 8 dimensions", NULL);
    sp_pobj *o = pk_new_obj(m->p, SP_PK_TENSOR);
    sp_ptensor *t = pk_arena_alloc(m->p, sizeof *t);
    if (!o || !t) return pk_oom(m);
    o->t = t;
    o->dtype = st->dtype;
    t->storage = (sp_pobj *)st;
    t->offset = (uint64_t)off;
    t->ndim = (uint32_t)sz->n;
    for (size_t i = 0; i < sz->n; i++) {
        int64_t a, b;
        if (!pk_int_arg(sz->items[i], &a) || a < 0 || !pk_int_arg(sd->items[i], &b) || b < 0)
            return pk_fail(m, "_rebuild_tensor: bad size or stride element", NULL);
        t->shape[i] = (uint64_t)a;
        t->stride[i] = b;
    }
    *out = o;
    return 0;
}

static int call(pk_vm *m, sp_pobj *fn, sp_pobj *args, sp_pobj **out) {
    const char *g = fn->type == SP_PK_GLOBAL ? fn->s : "";
    if (fn->type == SP_PK_GLOBAL && args->type == SP_PK_TUPLE) {
        if (!strcmp(g, "torch._utils._rebuild_tensor_v2") || !strcmp(g, "torch._utils._rebuild_tensor"))
            return rebuild_tensor(m, args, out);
        if ((!strcmp(g, "torch._utils._rebuild_parameter") ||
             !strcmp(g, "torch._utils._rebuild_parameter_with_state")) && args->n >= 1) {
            *out = args->items[0];
            return 0;
        }
        if (!strcmp(g, "torch._tensor._rebuild_from_type_v2") && args->n >= 3 &&
            args->items[2]->type == SP_PK_TUPLE) {
            return call(m, args->items[0], args->items[2], out);
        }
        if (!strcmp(g, "collections.OrderedDict") && args->n == 0) {
            *out = pk_new_obj(m->p, SP_PK_DICT);
            return *out ? 0 : pk_oom(m);
        }
    }
    sp_pobj *o = pk_new_obj(m->p, SP_PK_OBJECT);
    if (!o) return pk_oom(m);
    o->cls = fn;
    o->args = args;
    o->depth = args->depth + 1;
    *out = o;
    return pk_check_depth(m, o, args);
}

/* OBJ: MARK cls args... */
static int obj_from_mark(pk_vm *m, sp_pobj **c, sp_pobj **a) {
    sp_pickle *p = m->p;
    size_t base = 0;
    int rc = pk_pop_mark(m, &base);
    if (rc) return rc;
    if (p->sp == base) return pk_fail(m, "OBJ without a class", NULL);
    *c = p->stack[base];
    *a = pk_new_obj(p, SP_PK_TUPLE);
    if (!*a) return pk_oom(m);
    for (size_t i = base + 1; i < p->sp && !rc; i++) rc = pk_add_item(m, *a, p->stack[i]);
    if (rc) return rc;
    p->sp = base;
    return 0;
}

/* BUILD obj state: only placeholders keep their state; setting attributes of a dict
 * (OrderedDict's _metadata) or a tensor changes nothing that a converter reads. */
static int build(pk_vm *m) {
    int rc = pk_need(m, 2);
    if (rc) return rc;
    sp_pobj *a = pk_pop(m), *o = pk_top(m);
    if (o->type == SP_PK_OBJECT && !o->state) {
        o->state = a;
        return pk_check_depth(m, o, a);
    }
    return 0;
}

int pk_op_call(pk_vm *m, uint8_t op) {
    sp_pobj *a = NULL, *c = NULL, *o = NULL;
    int rc = 0;
    switch (op) {
    case 'b': return build(m);
    case 'o':
        if ((rc = obj_from_mark(m, &c, &a))) return rc;
        break;
    default: /* 'R' REDUCE fn args, 0x81 NEWOBJ cls args, 0x92 NEWOBJ_EX cls args kwargs */
        if ((rc = pk_need(m, op == 0x92 ? 3 : 2))) return rc;
        if (op == 0x92) pk_pop(m);
        a = pk_pop(m);
        c = pk_pop(m);
        const char *what = op == 'R' ? "REDUCE" : op == 0x81 ? "NEWOBJ" : "NEWOBJ_EX";
        if (a->type != SP_PK_TUPLE) return pk_fail(m, "%s arguments are not a tuple", what);
    }
    if ((rc = call(m, c, a, &o))) return rc;
    return pk_push(m, o);
}
