/* pickle_reader.h — the restricted pickle machine (pickle*.c) that reads the data.pkl of
 * torch.save files and Lightning checkpoints without executing anything. Internal to
 * converters/ (tests and fuzz targets may use it). */
#ifndef SPARSA_PICKLE_READER_H
#define SPARSA_PICKLE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "sparsa_format.h"

typedef enum {
    SP_PK_NONE, SP_PK_BOOL, SP_PK_INT, SP_PK_FLOAT, SP_PK_STR, SP_PK_BYTES,
    SP_PK_TUPLE, SP_PK_LIST, SP_PK_DICT,
    SP_PK_GLOBAL,   /* a class or function reference that was not called */
    SP_PK_OBJECT,   /* inert placeholder for any other call/instance (cls = the GLOBAL) */
    SP_PK_STORAGE,  /* torch storage from a persistent id */
    SP_PK_TENSOR    /* torch tensor view of a storage */
} sp_pk_type;

typedef struct sp_pobj sp_pobj;

/* torch tensor view of a storage (SP_PK_TENSOR) */
typedef struct sp_ptensor {
    sp_pobj *storage;
    uint64_t offset;      /* in elements */
    uint32_t ndim;
    uint64_t shape[SP_MAX_DIMS];
    int64_t stride[SP_MAX_DIMS];
} sp_ptensor;

struct sp_pobj {
    sp_pk_type type;
    int depth;            /* nesting depth (containers) */
    union {
        int64_t i;        /* BOOL, INT */
        double f;         /* FLOAT */
        uint64_t numel;   /* STORAGE: elements */
    } v;
    const char *s;        /* STR, BYTES (NUL-terminated copy); GLOBAL: "module.name";
                             STORAGE: its key */
    size_t len;
    sp_pobj **items;      /* TUPLE/LIST items; DICT: keys and values interleaved (k0,v0,k1,..);
                             OBJECT: items appended/set after creation */
    size_t n;             /* number of entries in items */
    size_t cap;
    sp_pobj *cls;         /* OBJECT: the GLOBAL it came from */
    sp_pobj *args;        /* OBJECT: its arguments */
    sp_pobj *state;       /* OBJECT: BUILD state */
    sp_dtype dtype;       /* STORAGE, TENSOR */
    sp_ptensor *t;        /* TENSOR */
};

typedef struct sp_pickle sp_pickle;

#define SP_PICKLE_MAX_STACK (1u << 20)
#define SP_PICKLE_MAX_DEPTH 200

/* Runs the pickle in data[0..len). GLOBALs from dangerous modules (os, subprocess, builtins'
 * eval/exec/..) are errors; other unknown classes become inert placeholders. */
int sp_pickle_load(const uint8_t *data, size_t len, sp_pickle **out, sp_error *err);
const sp_pobj *sp_pickle_root(const sp_pickle *p);
void sp_pickle_free(sp_pickle *p);
/* Value of a string key in a DICT (or an OBJECT's set items; the last one wins); NULL if absent. */
const sp_pobj *sp_pobj_dict_get(const sp_pobj *d, const char *key);

#endif
