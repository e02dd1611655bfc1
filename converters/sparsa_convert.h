/* sparsa_convert.h — checkpoint readers and architecture mappings (the converters part).
 *
 * Layers, lowest first:
 *  - readers that trust nothing and work on bytes in memory (a mapped file or a fuzzer buffer):
 *    sp_json (strict JSON), sp_zip (stored-only ZIP/ZIP64), sp_pickle (a restricted pickle
 *    machine that never executes anything), sp_safetensors (strict header validation);
 *  - sp_ckpt: a checkpoint (torch zip file, Lightning .ckpt, safetensors file, Hugging Face
 *    folder) as a flat list of named tensors whose bytes are read lazily from mapped files;
 *  - mappings (hf-llama, hf-gemma2, asentmax-gemma2, torchtitan-llama): from a checkpoint and its
 *    config to a graph (format/GRAPH.md) plus the list of output tensors;
 *  - sp_convert: the driver that streams the tensors into an sp_writer and re-reads the result.
 *
 * Every failure returns an sp_status and fills an sp_error with one line (format/sparsa_format.h).
 */
#ifndef SPARSA_CONVERT_H
#define SPARSA_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "sparsa_format.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SP_CONVERTER_VERSION "1.0.0"

/* ---- JSON (config.json, params.json, *.index.json, safetensors headers) ----------------- */

typedef enum {
    SP_JSON_NULL, SP_JSON_BOOL, SP_JSON_NUMBER, SP_JSON_STRING, SP_JSON_ARRAY, SP_JSON_OBJECT
} sp_json_type;

typedef struct sp_json sp_json;
struct sp_json {
    sp_json_type type;
    int boolean;
    double number;
    int is_integer;      /* the literal had no fraction/exponent and fits int64 */
    int64_t integer;
    char *str;           /* STRING: NUL-terminated UTF-8 (no embedded NUL) */
    size_t len;          /* STRING: bytes; ARRAY/OBJECT: element count */
    sp_json **items;     /* ARRAY elements / OBJECT values, in document order */
    char **keys;         /* OBJECT keys (unique) */
};

/* Strict RFC 8259 JSON; duplicate keys, \u0000, nesting deeper than 64 and trailing bytes other
 * than whitespace are errors. */
int sp_json_parse(const char *text, size_t len, sp_json **out, sp_error *err);
void sp_json_free(sp_json *j);
const sp_json *sp_json_get(const sp_json *obj, const char *key); /* NULL if absent / not object */

/* ---- ZIP (stored members only, ZIP64) ----------------------------------------------------- */

typedef struct sp_zip_entry {
    char *name;              /* NUL-terminated */
    uint64_t data_offset;    /* absolute offset of the member's bytes in the archive */
    uint64_t size;
} sp_zip_entry;

typedef struct sp_zip sp_zip;

/* Validates the whole central directory: stored members only, sizes and offsets inside the
 * archive, no overlapping members, no duplicate names, no names that escape the folder. */
int sp_zip_open(const uint8_t *data, uint64_t size, sp_zip **out, sp_error *err);
void sp_zip_close(sp_zip *z);
size_t sp_zip_count(const sp_zip *z);
const sp_zip_entry *sp_zip_entry_at(const sp_zip *z, size_t i);
const sp_zip_entry *sp_zip_find(const sp_zip *z, const char *name);

/* ---- restricted pickle machine --------------------------------------------------------------- */

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
/* hparams.c: the model config inside a checkpoint's hyper_parameters (a dict, config object,
 * functools.partial keywords or OmegaConf container holding hidden_size & co.) as a JSON
 * object text (malloc'd), or NULL when there is none. */
char *sp_hparams_config_json(const sp_pobj *root);
/* yaml_config.c: a YAML config as a JSON object text (malloc'd): the mapping holding the model
 * sizes (or the top one), OmegaConf `${.key}`/`${a.b}` whole-value interpolations resolved. */
int sp_yaml_config_to_json(const char *text, size_t len, char **json, sp_error *err);

/* ---- safetensors ----------------------------------------------------------------------------- */

typedef struct sp_st_tensor {
    char *name;
    sp_dtype dtype;
    uint32_t ndim;
    uint64_t shape[SP_MAX_DIMS];
    uint64_t offset;   /* absolute offset in the file */
    uint64_t size;     /* bytes */
} sp_st_tensor;

typedef struct sp_safetensors {
    sp_st_tensor *tensors;   /* in header order */
    size_t count;
    sp_json *header;         /* the parsed header (includes __metadata__) */
} sp_safetensors;

#define SP_SAFETENSORS_MAX_HEADER (100u << 20)

int sp_safetensors_parse(const uint8_t *data, uint64_t size, sp_safetensors **out, sp_error *err);
void sp_safetensors_free(sp_safetensors *st);

/* ---- checkpoints: named tensors read lazily ------------------------------------------------- */

typedef struct sp_src_file {
    char *path;
    char *display;        /* file name for provenance (relative to the folder) */
    uint64_t size;
    const uint8_t *map;   /* read-only mapping of the whole file */
    int fd;
} sp_src_file;

typedef struct sp_src_tensor {
    char *name;           /* full source name, e.g. "net.model.model.norm.weight" */
    sp_dtype dtype;
    uint32_t ndim;
    uint64_t shape[SP_MAX_DIMS];
    int64_t stride[SP_MAX_DIMS];   /* elements */
    uint64_t numel;
    size_t file;          /* index into sp_ckpt.files */
    uint64_t base;        /* file offset of element 0 of the view */
    uint64_t span_lo, span_hi; /* byte range of the file the view touches */
    int contiguous;
    int placeholder;      /* not a plain tensor (quantized, sparse, ...): cannot be read */
} sp_src_tensor;

typedef enum { SP_CKPT_TORCH, SP_CKPT_LIGHTNING, SP_CKPT_SAFETENSORS, SP_CKPT_HF_FOLDER } sp_ckpt_kind;

typedef struct sp_ckpt {
    sp_ckpt_kind kind;
    sp_src_file *files;
    size_t nfiles;
    sp_src_tensor *tensors;
    size_t ntensors;
    char *config_path;    /* config.json / params.json used (NULL if none) */
    char *config_text;    /* its bytes, NUL-terminated (a YAML config: as the equivalent JSON) */
    char *config_file_text; /* a YAML config file's own bytes (NULL for JSON configs) */
    sp_json *config;      /* parsed (NULL if none) */
    char *hparams_config; /* JSON recovered from a Lightning checkpoint's hyper_parameters
                             (moved to config_text when it becomes the config) */
    char *source;         /* the SRC argument */
} sp_ckpt;

/* Opens SRC (file or Hugging Face folder). config_path overrides the config found beside it. */
int sp_ckpt_open(const char *src, const char *config_path, sp_ckpt **out, sp_error *err);
void sp_ckpt_close(sp_ckpt *c);
const sp_src_tensor *sp_ckpt_find(const sp_ckpt *c, const char *name);
/* Copies elements [first, first+count) of the view (row-major order) into dst, in the source
 * dtype. Reads through the mapping; sp_ckpt_release drops the touched pages afterwards. */
int sp_ckpt_read(const sp_ckpt *c, const sp_src_tensor *t, uint64_t first, uint64_t count,
                 void *dst, sp_error *err);
void sp_ckpt_release(const sp_ckpt *c, const sp_src_tensor *t);
/* Pointer to elements [first, first+count) of a contiguous view (no copy); NULL otherwise. */
const void *sp_ckpt_view(const sp_ckpt *c, const sp_src_tensor *t, uint64_t first, uint64_t count);
/* Drops the resident pages of bytes [lo, hi) of a contiguous view's elements (whole pages
 * inside the range only), so a large tensor never becomes resident all at once. */
void sp_ckpt_release_elems(const sp_ckpt *c, const sp_src_tensor *t, uint64_t first, uint64_t count);

/* ---- SHA-256 --------------------------------------------------------------------------------- */

/* sp_sha256 and sp_sha256_file are declared in common/sparsa_common.h. */

/* ---- mappings -------------------------------------------------------------------------------- */

typedef enum { SP_OUT_KEEP = 0, SP_OUT_F32, SP_OUT_F16, SP_OUT_BF16 } sp_out_dtype;

/* One output tensor: written under `name`, read from source tensor `src`. */
typedef struct sp_map_tensor {
    char *name;
    const sp_src_tensor *src;
} sp_map_tensor;

typedef struct sp_mapping_result {
    char *graph;          /* YAML text */
    size_t graph_len;
    sp_map_tensor *tensors;
    size_t ntensors;
    char *model_name;
    uint64_t context_length;
} sp_mapping_result;

typedef struct sp_mapping {
    const char *name;      /* "hf-llama", ... */
    const char *summary;
    /* Score how well the checkpoint matches (0 = not at all); used for auto-detection. */
    int (*detect)(const sp_ckpt *c);
    /* Builds graph + tensor list. mode tells the dtype tensors will be written in (the Gemma
     * embedding scale is rounded to the embedding's). Every problem is reported in one line. */
    int (*build)(const sp_ckpt *c, sp_out_dtype mode, sp_mapping_result *out, sp_error *err);
} sp_mapping;

size_t sp_mapping_count(void);
const sp_mapping *sp_mapping_at(size_t i);
const sp_mapping *sp_mapping_find(const char *name);
void sp_mapping_result_free(sp_mapping_result *r);

/* ---- the driver ------------------------------------------------------------------------------ */

typedef struct sp_convert_options {
    const char *src;
    const char *out;          /* NULL: SRC with .sparsa */
    const char *config;       /* NULL: found beside SRC */
    const char *arch;         /* NULL: detect */
    const char *tokenizer;    /* SentencePiece .model to embed, or NULL */
    sp_out_dtype dtype;
    sp_compression compression;
    int zstd_level;
    int force;
    int quiet;
} sp_convert_options;

typedef struct sp_convert_report {
    char arch[64];
    size_t tensors;
    uint64_t bytes_written;
    char out_path[4096];
} sp_convert_report;

int sp_convert(const sp_convert_options *o, sp_convert_report *rep, sp_error *err);

/* The dtype a floating source tensor of rank ndim is written in for an output mode (0-/1-D
 * tensors stay f32 unless keep; f64 becomes f32; non-float tensors are kept). The driver also
 * keeps other vector-like tensors (one dimension above 1, e.g. [1, H, 1, 1]) in f32. */
sp_dtype sp_convert_out_dtype(sp_dtype src, uint32_t ndim, sp_out_dtype mode);

#ifdef __cplusplus
}
#endif
#endif
