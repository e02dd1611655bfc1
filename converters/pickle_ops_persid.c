/* pickle_ops_persid.c — BINPERSID: the persistent ids torch.save writes for its storages,
 * ('storage', storage_type, key, location, numel), become storage objects that name their
 * archive member (data/<key>) and element type. Any other persistent id is refused. */
#include <string.h>

#include "pickle_internal.h"

static sp_dtype storage_dtype(const char *g) {
    static const struct {
        const char *name;
        sp_dtype dtype;
    } tab[] = {
        {.name = "torch.FloatStorage", .dtype = SP_F32},   {.name = "torch.HalfStorage", .dtype = SP_F16},
        {.name = "torch.BFloat16Storage", .dtype = SP_BF16}, {.name = "torch.DoubleStorage", .dtype = SP_F64},
        {.name = "torch.LongStorage", .dtype = SP_I64},    {.name = "torch.IntStorage", .dtype = SP_I32},
        {.name = "torch.ShortStorage", .dtype = SP_I16},   {.name = "torch.CharStorage", .dtype = SP_I8},
        {.name = "torch.ByteStorage", .dtype = SP_U8},     {.name = "torch.BoolStorage", .dtype = SP_BOOL},
        {.name = "torch.UntypedStorage", .dtype = SP_U8},  {.name = "torch.storage.UntypedStorage", .dtype = SP_U8},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(g, tab[i].name)) return tab[i].dtype;
    return SP_DT_INVALID;
}

static int persistent_load(pk_vm *m, sp_pobj *pid, sp_pobj **out) {
    if (pid->type != SP_PK_TUPLE || pid->n < 5 || pid->items[0]->type != SP_PK_STR ||
        strcmp(pid->items[0]->s, "storage"))
        return pk_fail(m, "unsupported persistent id (expected a torch storage)", NULL);
    const sp_pobj *ty = pid->items[1], *key = pid->items[2];
    int64_t numel;
    if (ty->type != SP_PK_GLOBAL) return pk_fail(m, "storage type is not a class", NULL);
    sp_dtype dt = storage_dtype(ty->s);
    if (dt == SP_DT_INVALID) return pk_fail(m, "unsupported storage type %s", ty->s);
    if (key->type != SP_PK_STR) return pk_fail(m, "storage key is not a string", NULL);
    if (!pk_int_arg(pid->items[4], &numel) || numel < 0) return pk_fail(m, "bad storage size", NULL);
    sp_pobj *s = pk_new_obj(m->p, SP_PK_STORAGE);
    if (!s) return pk_oom(m);
    s->s = key->s;
    s->len = key->len;
    s->dtype = dt;
    s->v.numel = (uint64_t)numel;
    *out = s;
    return 0;
}

int pk_op_persistent_id(pk_vm *m, uint8_t op) {
    (void)op; /* 'Q' BINPERSID */
    int rc = pk_need(m, 1);
    if (rc) return rc;
    sp_pobj *a = pk_pop(m), *o = NULL;
    if ((rc = persistent_load(m, a, &o))) return rc;
    return pk_push(m, o);
}
