/* pickle.c — a restricted pickle machine for torch.save / Lightning checkpoints.
 *
 * Nothing is ever executed. GLOBAL only names a class or function; REDUCE/NEWOBJ/BUILD on the
 * torch rebuild functions produce tensors, collections.OrderedDict produces a dict, and every
 * other call becomes an inert placeholder object (so optimizer states, callbacks, functools.
 * partial and classes from a training script's __main__ load as data). GLOBALs from modules
 * that can run code (os, subprocess, builtins.eval, ...) are refused outright.
 *
 * Bounds: every object lives in one arena freed at once; the stack, the mark stack and the memo
 * are capped; nesting depth is tracked per container so no consumer ever needs deep recursion;
 * the machine itself never recurses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_convert.h"

#define ARENA_BLOCK (64 * 1024)
#define MAX_MARKS (1u << 16)

typedef struct block {
    struct block *next;
    size_t used, cap;
    max_align_t data[];
} block;

struct sp_pickle {
    block *blocks;
    sp_pobj *root;
    /* machine state */
    sp_pobj **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t nmarks, marks_cap;
    sp_pobj **memo;
    size_t memo_cap;
    size_t memo_count;
    size_t input_len;
    size_t arena_bytes, arena_limit;
    sp_pobj *none, *tru, *fals, *empty_tuple;
};

static void *arena_alloc(sp_pickle *p, size_t n) {
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    block *b = p->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
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

static sp_pobj *new_obj(sp_pickle *p, sp_pk_type t) {
    sp_pobj *o = arena_alloc(p, sizeof *o);
    if (o) o->type = t;
    return o;
}

void sp_pickle_free(sp_pickle *p) {
    if (!p) return;
    while (p->blocks) {
        block *n = p->blocks->next;
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

/* ---- helpers ----------------------------------------------------------------------------- */

typedef struct {
    sp_pickle *p;
    const uint8_t *d;
    size_t len, pos, op_pos;
    sp_error *err;
} vm;

static int vfail(vm *m, const char *fmt, const char *arg) {
    char what[300];
    snprintf(what, sizeof what, fmt, arg ? arg : "");
    return sp_fail(m->err, SP_ERR_INPUT, "pickle: %s (opcode at byte %zu)", what, m->op_pos);
}

static int oom(vm *m) {
    if (m->p->arena_bytes + ARENA_BLOCK > m->p->arena_limit)
        return sp_fail(m->err, SP_ERR_INPUT, "pickle: object graph exceeds %zu MB (object bomb?)",
                       m->p->arena_limit >> 20);
    return sp_fail(m->err, SP_ERR_RUNTIME, "pickle: out of memory");
}

static int push(vm *m, sp_pobj *o) {
    sp_pickle *p = m->p;
    if (!o) return oom(m);
    if (p->sp == p->stack_cap) {
        if (p->stack_cap >= SP_PICKLE_MAX_STACK)
            return sp_fail(m->err, SP_ERR_INPUT, "pickle: stack exceeds %u entries (stack bomb?)", SP_PICKLE_MAX_STACK);
        size_t nc = p->stack_cap ? p->stack_cap * 2 : 256;
        sp_pobj **ns = realloc(p->stack, nc * sizeof *ns);
        if (!ns) return oom(m);
        p->stack = ns;
        p->stack_cap = nc;
    }
    p->stack[p->sp++] = o;
    return 0;
}

static size_t mark_base(vm *m) { return m->p->nmarks ? m->p->marks[m->p->nmarks - 1] : 0; }

static int need(vm *m, size_t n) {
    if (m->p->sp - mark_base(m) < n) return vfail(m, "stack underflow", NULL);
    return 0;
}

static sp_pobj *pop(vm *m) { return m->p->stack[--m->p->sp]; }
static sp_pobj *top(vm *m) { return m->p->stack[m->p->sp - 1]; }

static int pop_mark(vm *m, size_t *base) {
    if (!m->p->nmarks) return vfail(m, "no MARK on the stack", NULL);
    *base = m->p->marks[--m->p->nmarks];
    return 0;
}

static int check_depth(vm *m, sp_pobj *container, const sp_pobj *child) {
    if (child->depth + 1 > container->depth) container->depth = child->depth + 1;
    if (container->depth > SP_PICKLE_MAX_DEPTH)
        return sp_fail(m->err, SP_ERR_INPUT, "pickle: structures nested deeper than %d levels (opcode at byte %zu)",
                       SP_PICKLE_MAX_DEPTH, m->op_pos);
    return 0;
}

static int add_item(vm *m, sp_pobj *c, sp_pobj *item) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 4;
        /* bounded by the input: every item costs at least one opcode byte */
        if (nc > 2 * m->len + 16) nc = 2 * m->len + 16;
        if (nc <= c->n) return vfail(m, "container larger than the input allows", NULL);
        sp_pobj **ni = arena_alloc(m->p, nc * sizeof *ni);
        if (!ni) return oom(m);
        if (c->n) memcpy(ni, c->items, c->n * sizeof *ni);
        c->items = ni; /* the old array stays in the arena: freed with it */
        c->cap = nc;
    }
    c->items[c->n++] = item;
    return check_depth(m, c, item);
}

static int rd_bytes(vm *m, size_t n, const uint8_t **out) {
    if (m->len - m->pos < n) return vfail(m, "truncated pickle", NULL);
    *out = m->d + m->pos;
    m->pos += n;
    return 0;
}

static uint64_t le(const uint8_t *b, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static sp_pobj *new_str(vm *m, sp_pk_type t, const uint8_t *s, size_t n) {
    sp_pobj *o = new_obj(m->p, t);
    if (!o) return NULL;
    char *c = arena_alloc(m->p, n + 1);
    if (!c) return NULL;
    memcpy(c, s, n);
    c[n] = 0;
    o->s = c;
    o->len = n;
    return o;
}

static int read_line(vm *m, const uint8_t **s, size_t *n) {
    const uint8_t *start = m->d + m->pos;
    const uint8_t *nl = memchr(start, '\n', m->len - m->pos);
    if (!nl) return vfail(m, "truncated pickle (missing newline)", NULL);
    *s = start;
    *n = (size_t)(nl - start);
    m->pos += *n + 1;
    return 0;
}

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
    if (!strcmp(name, "eval") || !strcmp(name, "exec") || !strcmp(name, "system") ||
        !strcmp(name, "__import__") || !strcmp(name, "import_module") || !strcmp(name, "getattr") ||
        !strcmp(name, "attrgetter") || !strcmp(name, "methodcaller") || !strcmp(name, "compile") ||
        !strcmp(name, "popen") || !strcmp(name, "execfile"))
        return 1;
    return 0;
}

static sp_dtype storage_dtype(const char *g) {
    static const struct { const char *n; sp_dtype t; } tab[] = {
        {"torch.FloatStorage", SP_F32}, {"torch.HalfStorage", SP_F16}, {"torch.BFloat16Storage", SP_BF16},
        {"torch.DoubleStorage", SP_F64}, {"torch.LongStorage", SP_I64}, {"torch.IntStorage", SP_I32},
        {"torch.ShortStorage", SP_I16}, {"torch.CharStorage", SP_I8}, {"torch.ByteStorage", SP_U8},
        {"torch.BoolStorage", SP_BOOL}, {"torch.UntypedStorage", SP_U8},
        {"torch.storage.UntypedStorage", SP_U8}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(g, tab[i].n)) return tab[i].t;
    return SP_DT_INVALID;
}

static int make_global(vm *m, const char *mod, size_t ml, const char *name, size_t nl) {
    char full[512];
    char modz[256], namez[256];
    if (ml >= sizeof modz || nl >= sizeof namez) return vfail(m, "GLOBAL name too long", NULL);
    memcpy(modz, mod, ml);
    modz[ml] = 0;
    memcpy(namez, name, nl);
    namez[nl] = 0;
    snprintf(full, sizeof full, "%s.%s", modz, namez);
    if (is_dangerous(modz, namez))
        return sp_fail(m->err, SP_ERR_INPUT,
                       "pickle: refusing GLOBAL %s (byte %zu): it could run code; this is not a plain checkpoint",
                       full, m->op_pos);
    return push(m, new_str(m, SP_PK_GLOBAL, (const uint8_t *)full, strlen(full)));
}

/* ---- calls ------------------------------------------------------------------------------------ */

static int int_arg(const sp_pobj *o, int64_t *v) {
    if (!o || (o->type != SP_PK_INT && o->type != SP_PK_BOOL)) return 0;
    *v = o->v.i;
    return 1;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, ...) */
static int rebuild_tensor(vm *m, const sp_pobj *args, sp_pobj **out) {
    if (args->type != SP_PK_TUPLE || args->n < 4) return vfail(m, "_rebuild_tensor: expected at least 4 arguments", NULL);
    const sp_pobj *st = args->items[0], *sz = args->items[2], *sd = args->items[3];
    int64_t off;
    if (st->type != SP_PK_STORAGE) return vfail(m, "_rebuild_tensor: first argument is not a storage", NULL);
    if (!int_arg(args->items[1], &off) || off < 0) return vfail(m, "_rebuild_tensor: bad storage offset", NULL);
    if (sz->type != SP_PK_TUPLE || sd->type != SP_PK_TUPLE || sz->n != sd->n)
        return vfail(m, "_rebuild_tensor: size and stride must be tuples of equal length", NULL);
    if (sz->n > SP_MAX_DIMS) return vfail(m, "_rebuild_tensor: more than 8 dimensions", NULL);
    sp_pobj *o = new_obj(m->p, SP_PK_TENSOR);
    sp_ptensor *t = arena_alloc(m->p, sizeof *t);
    if (!o || !t) return oom(m);
    o->t = t;
    o->dtype = st->dtype;
    t->storage = (sp_pobj *)st;
    t->offset = (uint64_t)off;
    t->ndim = (uint32_t)sz->n;
    for (size_t i = 0; i < sz->n; i++) {
        int64_t a, b;
        if (!int_arg(sz->items[i], &a) || a < 0 || !int_arg(sd->items[i], &b) || b < 0)
            return vfail(m, "_rebuild_tensor: bad size or stride element", NULL);
        t->shape[i] = (uint64_t)a;
        t->stride[i] = b;
    }
    *out = o;
    return 0;
}

static int call(vm *m, sp_pobj *fn, sp_pobj *args, sp_pobj **out) {
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
            *out = new_obj(m->p, SP_PK_DICT);
            return *out ? 0 : oom(m);
        }
    }
    sp_pobj *o = new_obj(m->p, SP_PK_OBJECT);
    if (!o) return oom(m);
    o->cls = fn;
    o->args = args;
    o->depth = args->depth + 1;
    *out = o;
    return check_depth(m, o, args);
}

static int persistent_load(vm *m, sp_pobj *pid, sp_pobj **out) {
    /* ('storage', storage_type, key, location, numel) */
    if (pid->type != SP_PK_TUPLE || pid->n < 5 || pid->items[0]->type != SP_PK_STR ||
        strcmp(pid->items[0]->s, "storage"))
        return vfail(m, "unsupported persistent id (expected a torch storage)", NULL);
    const sp_pobj *ty = pid->items[1], *key = pid->items[2];
    int64_t numel;
    if (ty->type != SP_PK_GLOBAL) return vfail(m, "storage type is not a class", NULL);
    sp_dtype dt = storage_dtype(ty->s);
    if (dt == SP_DT_INVALID) return vfail(m, "unsupported storage type %s", ty->s);
    if (key->type != SP_PK_STR) return vfail(m, "storage key is not a string", NULL);
    if (!int_arg(pid->items[4], &numel) || numel < 0) return vfail(m, "bad storage size", NULL);
    sp_pobj *s = new_obj(m->p, SP_PK_STORAGE);
    if (!s) return oom(m);
    s->s = key->s;
    s->len = key->len;
    s->dtype = dt;
    s->v.numel = (uint64_t)numel;
    *out = s;
    return 0;
}

/* ---- memo ------------------------------------------------------------------------------------- */

static int memo_put(vm *m, uint64_t idx) {
    sp_pickle *p = m->p;
    if (!p->sp) return vfail(m, "memo put on an empty stack", NULL);
    /* indices are sequential in practice; anything beyond the input length is a bomb */
    if (idx > m->len + 16) return sp_fail(m->err, SP_ERR_INPUT, "pickle: memo index %llu out of range (memo bomb?)",
                                          (unsigned long long)idx);
    if (idx >= p->memo_cap) {
        size_t nc = p->memo_cap ? p->memo_cap : 64;
        while (nc <= idx) nc *= 2;
        sp_pobj **nm = realloc(p->memo, nc * sizeof *nm);
        if (!nm) return oom(m);
        memset(nm + p->memo_cap, 0, (nc - p->memo_cap) * sizeof *nm);
        p->memo = nm;
        p->memo_cap = nc;
    }
    if (!p->memo[idx]) p->memo_count++;
    p->memo[idx] = top(m);
    return 0;
}

static int memo_get(vm *m, uint64_t idx) {
    if (idx >= m->p->memo_cap || !m->p->memo[idx]) return vfail(m, "memo get of an unset index", NULL);
    return push(m, m->p->memo[idx]);
}

/* ---- the machine ------------------------------------------------------------------------------ */

static int seq_from_mark(vm *m, sp_pk_type t) {
    size_t base = 0;
    if (pop_mark(m, &base)) return SP_ERR_INPUT;
    sp_pobj *o = new_obj(m->p, t);
    if (!o) return oom(m);
    for (size_t i = base; i < m->p->sp; i++)
        if (add_item(m, o, m->p->stack[i])) return m->err->code;
    m->p->sp = base;
    return push(m, o);
}

static int tuple_n(vm *m, size_t n) {
    if (need(m, n)) return SP_ERR_INPUT;
    sp_pobj *o = new_obj(m->p, SP_PK_TUPLE);
    if (!o) return oom(m);
    for (size_t i = m->p->sp - n; i < m->p->sp; i++)
        if (add_item(m, o, m->p->stack[i])) return m->err->code;
    m->p->sp -= n;
    return push(m, o);
}

/* APPEND(S)/SETITEM(S)/ADDITEMS into the container below the mark */
static int extend_from(vm *m, size_t base, int pairs) {
    if (base == 0 || base > m->p->sp) return vfail(m, "no container below the items", NULL);
    sp_pobj *c = m->p->stack[base - 1];
    size_t n = m->p->sp - base;
    if (pairs && (n & 1)) return vfail(m, "odd number of items for SETITEMS", NULL);
    if (c->type != SP_PK_LIST && c->type != SP_PK_DICT && c->type != SP_PK_OBJECT)
        return vfail(m, "items added to something that is not a list, dict or object", NULL);
    if (pairs && c->type == SP_PK_LIST) return vfail(m, "SETITEM on a list", NULL);
    /* dict keys are appended; lookups take the last occurrence, as Python's assignment does */
    for (size_t i = base; i < m->p->sp; i++)
        if (add_item(m, c, m->p->stack[i])) return m->err->code;
    m->p->sp = base;
    return 0;
}

int sp_pickle_load(const uint8_t *data, size_t len, sp_pickle **out, sp_error *err) {
    *out = NULL;
    sp_pickle *p = calloc(1, sizeof *p);
    if (!p) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    p->input_len = len;
    /* objects are small; a pickle that would need more than this is hostile */
    p->arena_limit = (size_t)256 << 20;
    if (len < ((size_t)1 << 40) / 16) p->arena_limit += 16 * len;
    vm mm = {p, data, len, 0, 0, err}, *m = &mm;
    int rc = 0;
    int done = 0;
    while (!done && !rc) {
        if (m->pos >= len) {
            rc = sp_fail(err, SP_ERR_INPUT, "pickle: truncated (no STOP opcode)");
            break;
        }
        m->op_pos = m->pos;
        uint8_t op = data[m->pos++];
        const uint8_t *b = NULL;
        size_t base = 0;
        sp_pobj *o, *a, *c;
        switch (op) {
        case 0x80: /* PROTO */
            if ((rc = rd_bytes(m, 1, &b))) break;
            if (b[0] < 2 || b[0] > 5) rc = vfail(m, "unsupported pickle protocol", NULL);
            break;
        case 0x95: /* FRAME */
            rc = rd_bytes(m, 8, &b);
            break;
        case '.': /* STOP */
            if (p->sp != 1 || p->nmarks) {
                rc = vfail(m, "STOP with a malformed stack", NULL);
                break;
            }
            p->root = pop(m);
            done = 1;
            break;
        case '(': /* MARK */
            if (p->nmarks == p->marks_cap) {
                if (p->marks_cap >= MAX_MARKS) {
                    rc = sp_fail(err, SP_ERR_INPUT, "pickle: more than %u nested MARKs (stack bomb?)", MAX_MARKS);
                    break;
                }
                size_t nc = p->marks_cap ? p->marks_cap * 2 : 64;
                size_t *nm = realloc(p->marks, nc * sizeof *nm);
                if (!nm) { rc = oom(m); break; }
                p->marks = nm;
                p->marks_cap = nc;
            }
            p->marks[p->nmarks++] = p->sp;
            break;
        case '0': /* POP */
            if (p->sp > mark_base(m)) p->sp--;
            else if (p->nmarks && p->marks[p->nmarks - 1] == p->sp) p->nmarks--; /* pops the mark */
            else rc = vfail(m, "stack underflow", NULL);
            break;
        case '1': /* POP_MARK */
            if (!(rc = pop_mark(m, &base))) p->sp = base;
            break;
        case '2': /* DUP */
            if (!(rc = need(m, 1))) rc = push(m, top(m));
            break;
        case 'N': rc = push(m, p->none ? p->none : (p->none = new_obj(p, SP_PK_NONE))); break;
        case 0x88:
            if (!p->tru && (p->tru = new_obj(p, SP_PK_BOOL))) p->tru->v.i = 1;
            rc = push(m, p->tru);
            break;
        case 0x89:
            if (!p->fals) p->fals = new_obj(p, SP_PK_BOOL);
            rc = push(m, p->fals);
            break;
        case 'J': case 'K': case 'M': { /* BININT, BININT1, BININT2 */
            int n = op == 'J' ? 4 : op == 'K' ? 1 : 2;
            if ((rc = rd_bytes(m, (size_t)n, &b))) break;
            o = new_obj(p, SP_PK_INT);
            if (o) o->v.i = op == 'J' ? (int64_t)(int32_t)le(b, 4) : (int64_t)le(b, n);
            rc = push(m, o);
            break;
        }
        case 0x8a: case 0x8b: { /* LONG1, LONG4 */
            uint64_t n;
            if ((rc = rd_bytes(m, op == 0x8a ? 1 : 4, &b))) break;
            n = op == 0x8a ? b[0] : le(b, 4);
            if (n > 8) { rc = vfail(m, "integer wider than 64 bits", NULL); break; }
            if ((rc = rd_bytes(m, (size_t)n, &b))) break;
            o = new_obj(p, SP_PK_INT);
            if (o && n) {
                uint64_t v = le(b, (int)n);
                if (n < 8 && (b[n - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * n);
                o->v.i = (int64_t)v;
            }
            rc = push(m, o);
            break;
        }
        case 'I': case 'L': { /* INT, LONG (text) */
            size_t n;
            if ((rc = read_line(m, &b, &n))) break;
            char tmp[32];
            if (n == 0 || n >= sizeof tmp) { rc = vfail(m, "bad text integer", NULL); break; }
            memcpy(tmp, b, n);
            tmp[n] = 0;
            if (tmp[n - 1] == 'L') tmp[n - 1] = 0;
            char *e;
            long long v = strtoll(tmp, &e, 10);
            if (*e) { rc = vfail(m, "bad text integer", NULL); break; }
            if (op == 'I' && (!strcmp(tmp, "00") || !strcmp(tmp, "01"))) {
                o = new_obj(p, SP_PK_BOOL);
            } else
                o = new_obj(p, SP_PK_INT);
            if (o) o->v.i = v;
            rc = push(m, o);
            break;
        }
        case 'G': { /* BINFLOAT, big-endian */
            if ((rc = rd_bytes(m, 8, &b))) break;
            uint64_t u = 0;
            for (int i = 0; i < 8; i++) u = u << 8 | b[i];
            o = new_obj(p, SP_PK_FLOAT);
            if (o) memcpy(&o->v.f, &u, 8);
            rc = push(m, o);
            break;
        }
        case 'X': case 0x8c: case 0x8d: /* BINUNICODE, SHORT_BINUNICODE, BINUNICODE8 */
        case 'B': case 'C': case 0x8e: /* BINBYTES, SHORT_BINBYTES, BINBYTES8 */
        case 'T': case 'U': case 0x96: { /* BINSTRING, SHORT_BINSTRING, BYTEARRAY8 */
            int w = (op == 0x8c || op == 'C' || op == 'U') ? 1 : (op == 0x8d || op == 0x8e || op == 0x96) ? 8 : 4;
            if ((rc = rd_bytes(m, (size_t)w, &b))) break;
            uint64_t n = le(b, w);
            if (n > len - m->pos) { rc = vfail(m, "string runs past the end of the pickle", NULL); break; }
            if ((rc = rd_bytes(m, (size_t)n, &b))) break;
            int is_str = op == 'X' || op == 0x8c || op == 0x8d || op == 'T' || op == 'U';
            rc = push(m, new_str(m, is_str ? SP_PK_STR : SP_PK_BYTES, b, (size_t)n));
            break;
        }
        case ')': /* the empty tuple is immutable: one shared object */
            rc = push(m, p->empty_tuple ? p->empty_tuple : (p->empty_tuple = new_obj(p, SP_PK_TUPLE)));
            break;
        case 't': rc = seq_from_mark(m, SP_PK_TUPLE); break;
        case 0x85: rc = tuple_n(m, 1); break;
        case 0x86: rc = tuple_n(m, 2); break;
        case 0x87: rc = tuple_n(m, 3); break;
        case ']': rc = push(m, new_obj(p, SP_PK_LIST)); break;
        case 'l': rc = seq_from_mark(m, SP_PK_LIST); break;
        case '}': rc = push(m, new_obj(p, SP_PK_DICT)); break;
        case 0x8f: rc = push(m, new_obj(p, SP_PK_LIST)); break; /* EMPTY_SET as a list */
        case 'd': /* DICT */
            if ((rc = pop_mark(m, &base))) break;
            if ((p->sp - base) & 1) { rc = vfail(m, "odd number of items for DICT", NULL); break; }
            o = new_obj(p, SP_PK_DICT);
            if (!o) { rc = oom(m); break; }
            for (size_t i = base; i < p->sp && !rc; i++) rc = add_item(m, o, p->stack[i]);
            if (rc) break;
            p->sp = base;
            rc = push(m, o);
            break;
        case 0x91: rc = seq_from_mark(m, SP_PK_LIST); break; /* FROZENSET */
        case 'a': /* APPEND */
            if ((rc = need(m, 2))) break;
            rc = extend_from(m, p->sp - 1, 0);
            break;
        case 'e': case 0x90: /* APPENDS, ADDITEMS */
            if ((rc = pop_mark(m, &base))) break;
            rc = extend_from(m, base, 0);
            break;
        case 's': /* SETITEM */
            if ((rc = need(m, 3))) break;
            rc = extend_from(m, p->sp - 2, 1);
            break;
        case 'u': /* SETITEMS */
            if ((rc = pop_mark(m, &base))) break;
            rc = extend_from(m, base, 1);
            break;
        case 'c': { /* GLOBAL module\nname\n */
            const uint8_t *mod, *name;
            size_t ml, nl;
            if ((rc = read_line(m, &mod, &ml)) || (rc = read_line(m, &name, &nl))) break;
            rc = make_global(m, (const char *)mod, ml, (const char *)name, nl);
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            if ((rc = need(m, 2))) break;
            a = pop(m);
            o = pop(m);
            if (o->type != SP_PK_STR || a->type != SP_PK_STR) { rc = vfail(m, "STACK_GLOBAL needs two strings", NULL); break; }
            rc = make_global(m, o->s, o->len, a->s, a->len);
            break;
        case 'R': /* REDUCE */
            if ((rc = need(m, 2))) break;
            a = pop(m);
            c = pop(m);
            if (a->type != SP_PK_TUPLE) { rc = vfail(m, "REDUCE arguments are not a tuple", NULL); break; }
            if ((rc = call(m, c, a, &o))) break;
            rc = push(m, o);
            break;
        case 0x81: /* NEWOBJ cls args */
            if ((rc = need(m, 2))) break;
            a = pop(m);
            c = pop(m);
            if (a->type != SP_PK_TUPLE) { rc = vfail(m, "NEWOBJ arguments are not a tuple", NULL); break; }
            if ((rc = call(m, c, a, &o))) break;
            rc = push(m, o);
            break;
        case 0x92: /* NEWOBJ_EX cls args kwargs */
            if ((rc = need(m, 3))) break;
            pop(m);
            a = pop(m);
            c = pop(m);
            if (a->type != SP_PK_TUPLE) { rc = vfail(m, "NEWOBJ_EX arguments are not a tuple", NULL); break; }
            if ((rc = call(m, c, a, &o))) break;
            rc = push(m, o);
            break;
        case 'o': /* OBJ: MARK cls args... */
            if ((rc = pop_mark(m, &base))) break;
            if (p->sp == base) { rc = vfail(m, "OBJ without a class", NULL); break; }
            c = p->stack[base];
            a = new_obj(p, SP_PK_TUPLE);
            if (!a) { rc = oom(m); break; }
            for (size_t i = base + 1; i < p->sp && !rc; i++) rc = add_item(m, a, p->stack[i]);
            if (rc) break;
            p->sp = base;
            if ((rc = call(m, c, a, &o))) break;
            rc = push(m, o);
            break;
        case 'b': /* BUILD obj state */
            if ((rc = need(m, 2))) break;
            a = pop(m);
            o = top(m);
            /* only placeholders keep their state; setting attributes of a dict (OrderedDict's
             * _metadata) or a tensor changes nothing that a converter reads */
            if (o->type == SP_PK_OBJECT && !o->state) {
                o->state = a;
                rc = check_depth(m, o, a);
            }
            break;
        case 'Q': /* BINPERSID */
            if ((rc = need(m, 1))) break;
            a = pop(m);
            if ((rc = persistent_load(m, a, &o))) break;
            rc = push(m, o);
            break;
        case 'p': { /* PUT (text) */
            size_t n;
            if ((rc = read_line(m, &b, &n))) break;
            char tmp[24];
            if (n == 0 || n >= sizeof tmp) { rc = vfail(m, "bad PUT index", NULL); break; }
            memcpy(tmp, b, n);
            tmp[n] = 0;
            rc = memo_put(m, strtoull(tmp, NULL, 10));
            break;
        }
        case 'g': { /* GET (text) */
            size_t n;
            if ((rc = read_line(m, &b, &n))) break;
            char tmp[24];
            if (n == 0 || n >= sizeof tmp) { rc = vfail(m, "bad GET index", NULL); break; }
            memcpy(tmp, b, n);
            tmp[n] = 0;
            rc = memo_get(m, strtoull(tmp, NULL, 10));
            break;
        }
        case 'q': if (!(rc = rd_bytes(m, 1, &b))) rc = memo_put(m, b[0]); break;
        case 'r': if (!(rc = rd_bytes(m, 4, &b))) rc = memo_put(m, le(b, 4)); break;
        case 0x94: rc = memo_put(m, p->memo_count); break; /* MEMOIZE: index = memo size */
        case 'h': if (!(rc = rd_bytes(m, 1, &b))) rc = memo_get(m, b[0]); break;
        case 'j': if (!(rc = rd_bytes(m, 4, &b))) rc = memo_get(m, le(b, 4)); break;
        default: {
            char hex[8];
            snprintf(hex, sizeof hex, "0x%02x", op);
            rc = vfail(m, "unsupported opcode %s", hex);
        }
        }
    }
    if (rc) {
        sp_pickle_free(p);
        return rc;
    }
    if (m->pos != len) {
        /* torch writes exactly one pickle per data.pkl; trailing bytes mean a damaged file */
        sp_pickle_free(p);
        return sp_fail(err, SP_ERR_INPUT, "pickle: %zu trailing bytes after STOP", len - m->pos);
    }
    free(p->stack);
    free(p->marks);
    free(p->memo);
    p->stack = NULL;
    p->marks = NULL;
    p->memo = NULL;
    *out = p;
    return 0;
}
