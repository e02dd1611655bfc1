/* pickle_internal.h — the restricted pickle machine's insides, shared by the pickle*.c files and
 * no one else: the object arena (pickle_arena.c), the machine state and its stack, mark and
 * input helpers (pickle_vm.c), and one handler per opcode family, which sp_pickle_load
 * (pickle.c) dispatches to through its opcode table:
 *   pickle_ops_stack.c       PROTO FRAME STOP MARK POP POP_MARK DUP and the memo;
 *   pickle_ops_constants.c   None, booleans, integers, floats, strings and bytes;
 *   pickle_ops_containers.c  tuples, lists, dicts, sets and adding items to them;
 *   pickle_ops_calls.c       GLOBAL/STACK_GLOBAL (with the refusal policy), REDUCE, NEWOBJ,
 *                            OBJ, BUILD: torch rebuild functions make tensors, anything else an
 *                            inert placeholder;
 *   pickle_ops_persid.c      BINPERSID: torch storages. */
#ifndef SPARSA_PICKLE_INTERNAL_H
#define SPARSA_PICKLE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "pickle_reader.h"

#define PK_ARENA_BLOCK (64 * 1024)
#define PK_MAX_MARKS (1u << 16)

typedef struct pk_block {
    struct pk_block *next;
    size_t used, cap;
    max_align_t data[];
} pk_block;

struct sp_pickle {
    pk_block *blocks;
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

/* The machine running over one input. */
typedef struct pk_vm {
    sp_pickle *p;
    const uint8_t *d;
    size_t len, pos, op_pos;   /* input, read position, position of the current opcode */
    sp_error *err;
    int done;                  /* STOP was run */
} pk_vm;

/* One opcode family: runs opcode op (its argument bytes follow at m->pos). */
typedef int (*pk_op_fn)(pk_vm *m, uint8_t op);

/* ---- arena (pickle_arena.c): every object lives until sp_pickle_free ------------------------- */

void *pk_arena_alloc(sp_pickle *p, size_t n);   /* zeroed; NULL past the arena limit */
sp_pobj *pk_new_obj(sp_pickle *p, sp_pk_type t);

/* ---- machine helpers (pickle_vm.c); each failure fills m->err and returns its code --------- */

/* "pickle: <fmt with arg> (opcode at byte N)", SP_ERR_INPUT. */
int pk_fail(pk_vm *m, const char *fmt, const char *arg);
/* Out of arena (an object bomb: SP_ERR_INPUT) or out of memory (SP_ERR_RUNTIME). */
int pk_oom(pk_vm *m);
int pk_push(pk_vm *m, sp_pobj *o);              /* o NULL: out of memory */
size_t pk_mark_base(const pk_vm *m);            /* stack index of the innermost MARK */
int pk_need(pk_vm *m, size_t n);                /* n items above the innermost MARK */
int pk_pop_mark(pk_vm *m, size_t *base);
static inline sp_pobj *pk_pop(pk_vm *m) { return m->p->stack[--m->p->sp]; }
static inline sp_pobj *pk_top(pk_vm *m) { return m->p->stack[m->p->sp - 1]; }
/* Records that container holds child (nesting depth, capped at SP_PICKLE_MAX_DEPTH). */
int pk_check_depth(pk_vm *m, sp_pobj *container, const sp_pobj *child);
int pk_add_item(pk_vm *m, sp_pobj *container, sp_pobj *item);
int pk_read_bytes(pk_vm *m, size_t n, const uint8_t **out);
int pk_read_line(pk_vm *m, const uint8_t **s, size_t *n);   /* without its newline */
uint64_t pk_le(const uint8_t *b, int n);                     /* n-byte little-endian */
sp_pobj *pk_new_str(pk_vm *m, sp_pk_type t, const uint8_t *s, size_t n);
/* 1 and *v when o is an INT or BOOL. */
int pk_int_arg(const sp_pobj *o, int64_t *v);

/* ---- opcode families ---------------------------------------------------------------------- */

int pk_op_stack(pk_vm *m, uint8_t op);
int pk_op_memo(pk_vm *m, uint8_t op);
int pk_op_constant(pk_vm *m, uint8_t op);
int pk_op_string(pk_vm *m, uint8_t op);
int pk_op_container(pk_vm *m, uint8_t op);
int pk_op_add_items(pk_vm *m, uint8_t op);
int pk_op_global(pk_vm *m, uint8_t op);
int pk_op_call(pk_vm *m, uint8_t op);
int pk_op_persistent_id(pk_vm *m, uint8_t op);

#endif
