/* checkpoint_reader.h — a checkpoint (torch.save zip, Lightning .ckpt, safetensors file,
 * Hugging Face folder) as a flat list of named tensors whose bytes are read lazily from
 * read-only mapped files, plus the config found for it (checkpoint_*.c). Internal to converters/
 * (tests may use it). */
#ifndef SPARSA_CHECKPOINT_READER_H
#define SPARSA_CHECKPOINT_READER_H

#include <stddef.h>
#include <stdint.h>

#include "json_reader.h"
#include "sparsa_format.h"

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

#endif
