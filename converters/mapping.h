/* mapping.h — what an architecture mapping is, for the mappings and the driver (internal to
 * converters/): from a checkpoint and its config to a graph (format/GRAPH.md) and the list of
 * output tensors. The registry (mapping_table.c) holds one row per mapping. */
#ifndef SPARSA_MAPPING_H
#define SPARSA_MAPPING_H

#include "checkpoint_reader.h"
#include "sparsa_convert.h"

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
    uint64_t vocab_size;  /* rows of the embedding (what a tokenizer must match) */
} sp_mapping_result;

typedef struct sp_mapping {
    sp_mapping_info info;  /* first: sp_mapping_at hands out &info */
    /* Score how well the checkpoint matches (0 = not at all); used for auto-detection. */
    int (*detect)(const sp_ckpt *c);
    /* Builds graph + tensor list. mode tells the dtype tensors will be written in (the Gemma
     * embedding scale is rounded to the embedding's). Every problem is reported in one line. */
    int (*build)(const sp_ckpt *c, sp_out_dtype mode, sp_mapping_result *out, sp_error *err);
} sp_mapping;

/* The mappings' detect and build functions, one pair per mapping_<arch>.c. */
int hf_llama_detect(const sp_ckpt *c);
int hf_llama_build(const sp_ckpt *c, sp_out_dtype mode, sp_mapping_result *out, sp_error *err);
int hf_gemma2_detect(const sp_ckpt *c);
int hf_gemma2_build(const sp_ckpt *c, sp_out_dtype mode, sp_mapping_result *out, sp_error *err);
int asentmax_gemma2_detect(const sp_ckpt *c);
int asentmax_gemma2_build(const sp_ckpt *c, sp_out_dtype mode, sp_mapping_result *out, sp_error *err);
int torchtitan_llama_detect(const sp_ckpt *c);
int torchtitan_llama_build(const sp_ckpt *c, sp_out_dtype mode, sp_mapping_result *out, sp_error *err);

/* The mapping called name, or NULL. */
const sp_mapping *sp_mapping_named(const char *name);
/* The mapping whose detect scores c highest (the first of equals), or NULL when none matches. */
const sp_mapping *sp_mapping_detect(const sp_ckpt *c);
/* A comma-separated list of the mapping names, for error messages. */
const char *sp_mapping_names(void);

void sp_mapping_result_free(sp_mapping_result *r);

#endif
