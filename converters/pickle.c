/* pickle.c — sp_pickle_load: the restricted pickle machine for torch.save / Lightning
 * checkpoints. Nothing is ever executed (pickle_ops_calls.c says what a call becomes).
 *
 * Bounds: every object lives in one arena freed at once; the stack, the mark stack and the memo
 * are capped; nesting depth is tracked per container so no consumer ever needs deep recursion;
 * the machine itself never recurses. Each opcode is dispatched through one table to the handler
 * of its family (pickle_internal.h lists them); an opcode not in the table is refused. */
#include <stdio.h>
#include <stdlib.h>

#include "pickle_internal.h"

static const pk_op_fn opcodes[256] = {
    /* machine */
    [0x80] = pk_op_stack, [0x95] = pk_op_stack, ['.'] = pk_op_stack, ['('] = pk_op_stack,
    ['0'] = pk_op_stack, ['1'] = pk_op_stack, ['2'] = pk_op_stack,
    /* memo */
    ['p'] = pk_op_memo, ['g'] = pk_op_memo, ['q'] = pk_op_memo, ['r'] = pk_op_memo,
    [0x94] = pk_op_memo, ['h'] = pk_op_memo, ['j'] = pk_op_memo,
    /* constants */
    ['N'] = pk_op_constant, [0x88] = pk_op_constant, [0x89] = pk_op_constant, ['J'] = pk_op_constant,
    ['K'] = pk_op_constant, ['M'] = pk_op_constant, [0x8a] = pk_op_constant, [0x8b] = pk_op_constant,
    ['I'] = pk_op_constant, ['L'] = pk_op_constant, ['G'] = pk_op_constant,
    /* strings and bytes */
    ['X'] = pk_op_string, [0x8c] = pk_op_string, [0x8d] = pk_op_string, ['B'] = pk_op_string,
    ['C'] = pk_op_string, [0x8e] = pk_op_string, ['T'] = pk_op_string, ['U'] = pk_op_string,
    [0x96] = pk_op_string,
    /* containers */
    [')'] = pk_op_container, ['t'] = pk_op_container, [0x85] = pk_op_container, [0x86] = pk_op_container,
    [0x87] = pk_op_container, [']'] = pk_op_container, ['l'] = pk_op_container, ['}'] = pk_op_container,
    [0x8f] = pk_op_container, ['d'] = pk_op_container, [0x91] = pk_op_container,
    ['a'] = pk_op_add_items, ['e'] = pk_op_add_items, [0x90] = pk_op_add_items, ['s'] = pk_op_add_items,
    ['u'] = pk_op_add_items,
    /* names and calls */
    ['c'] = pk_op_global, [0x93] = pk_op_global,
    ['R'] = pk_op_call, [0x81] = pk_op_call, [0x92] = pk_op_call, ['o'] = pk_op_call, ['b'] = pk_op_call,
    /* torch storages */
    ['Q'] = pk_op_persistent_id,
};

static int run(pk_vm *m) {
    int rc = 0;
    while (!m->done && !rc) {
        if (m->pos >= m->len) return sp_fail(m->err, SP_ERR_INPUT, "pickle: truncated (no STOP opcode)");
        m->op_pos = m->pos;
        uint8_t op = m->d[m->pos++];
        if (opcodes[op]) {
            rc = opcodes[op](m, op);
        } else {
            char hex[8];
            snprintf(hex, sizeof hex, "0x%02x", op);
            rc = pk_fail(m, "unsupported opcode %s", hex);
        }
    }
    return rc;
}

int sp_pickle_load(const uint8_t *data, size_t len, sp_pickle **out, sp_error *err) {
    *out = NULL;
    sp_pickle *p = calloc(1, sizeof *p);
    if (!p) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    p->input_len = len;
    /* objects are small; a pickle that would need more than this is hostile */
    p->arena_limit = (size_t)256 << 20;
    if (len < ((size_t)1 << 40) / 16) p->arena_limit += 16 * len;
    pk_vm m = {.p = p, .d = data, .len = len, .err = err};
    int rc = run(&m);
    if (rc) {
        sp_pickle_free(p);
        return rc;
    }
    if (m.pos != len) {
        /* torch writes exactly one pickle per data.pkl; trailing bytes mean a damaged file */
        sp_pickle_free(p);
        return sp_fail(err, SP_ERR_INPUT, "pickle: %zu trailing bytes after STOP", len - m.pos);
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
