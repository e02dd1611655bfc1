/* mapping_context.h — what every architecture mapping works with (internal to converters/):
 *  - the mapping context (mapping_context.c): source tensors found under a prefix, checked for
 *    rank and sizes, marked used and added to the output; every missing, mis-shaped and
 *    unmapped tensor and every config problem collected and reported together in one line;
 *  - config getters with defaults (mapping_config.c): a wrong type is a recorded problem. */
#ifndef SPARSA_MAPPING_CONTEXT_H
#define SPARSA_MAPPING_CONTEXT_H

#include <stdint.h>

#include "mapping.h"
#include "sparsa_common.h"

typedef struct map_ctx {
    const sp_ckpt *c;
    sp_out_dtype mode;
    const char *arch;
    char prefix[256];     /* stripped from source names (e.g. "net.model.") */
    unsigned char *used;  /* per checkpoint tensor */
    sp_mapping_result *res;
    sp_strbuf missing, shaped;
    int nmissing, nshaped;
    int nunmapped;
    sp_strbuf unmapped;
    sp_error *err;
    int fatal;            /* out of memory etc. */
} map_ctx;

#define MC_ANY UINT64_MAX  /* a dimension that is not checked */

int mc_init(map_ctx *m, const sp_ckpt *c, sp_out_dtype mode, const char *arch, sp_mapping_result *res, sp_error *err);
void mc_free(map_ctx *m);
/* Picks the prefix: the part before `probe` (e.g. "model.embed_tokens.weight") in the tensor
 * name that ends with it; "" if none. */
void mc_detect_prefix(map_ctx *m, const char *probe);
/* The source tensor prefix+name, or NULL; nothing is marked used. */
const sp_src_tensor *mc_find(const map_ctx *m, const char *name);
/* 1 if some tensor name of the checkpoint contains `part`. */
int mc_ckpt_has_name(const sp_ckpt *c, const char *part);
/* Finds prefix+name, checks rank and the given dims (MC_ANY = unchecked), marks it used and
 * adds it to the output under `name`. Problems are recorded, not returned; NULL if unusable. */
const sp_src_tensor *mc_take(map_ctx *m, const char *name, uint32_t ndim, uint64_t d0, uint64_t d1);
/* Like mc_take for an optional tensor: NULL without a problem when absent. */
const sp_src_tensor *mc_take_opt(map_ctx *m, const char *name, uint32_t ndim, uint64_t d0, uint64_t d1);
/* Marks a source tensor as consumed without writing it (tied lm_head, rotary buffers). */
void mc_ignore(map_ctx *m, const char *name);
/* Records a config problem (reported with the tensor problems). */
void mc_config_error(map_ctx *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records unmapped tensors and turns all problems into one error line. */
int mc_finish(map_ctx *m);
/* The dtype tensor `src` will be written in (out_dtype.h). */
sp_dtype mc_out_dtype(const map_ctx *m, const sp_src_tensor *src);

/* ---- config (mapping_config.c) ---------------------------------------------------------------- */

/* The value of key, or NULL when absent or null. */
const sp_json *cfg_get(const sp_json *cfg, const char *key);
int cfg_has(const sp_json *cfg, const char *key); /* present, even if null */
/* Number/int/bool/string getters: default when absent (or null); a wrong type is an error
 * recorded in m (and the default is returned). */
double cfg_num(map_ctx *m, const char *key, double def);
long long cfg_int(map_ctx *m, const char *key, long long def);
int cfg_bool(map_ctx *m, const char *key, int def);
const char *cfg_str(map_ctx *m, const char *key, const char *def);
/* rope_theta at the top level (transformers 4) or under rope_parameters (transformers 5). */
double cfg_rope_theta(map_ctx *m, double def);
/* Rejects RoPE scaling other than none/default (returns nonzero and records the error). */
int cfg_check_rope_scaling(map_ctx *m);
/* Hugging Face hidden_act / hidden_activation name -> graph activation (records an error when
 * unknown). */
const char *hf_activation(map_ctx *m, const char *key, const char *def);

#endif
