/* sparsa_convert.h — the converters part as the rest of sparsa sees it: convert a checkpoint
 * (torch.save file, Lightning .ckpt, safetensors file, Hugging Face folder) into a sparsa model
 * file, and list the architecture mappings (for --help and --arch).
 *
 * Inside converters/, lowest first: the readers that trust nothing (json_reader.h,
 * zip_reader.h, pickle_reader.h, safetensors_reader.h, config_readers.h), the checkpoint as
 * named tensors read lazily (checkpoint_reader.h), the output-dtype policy (out_dtype.h), the
 * mapping context, graph emitter and shared blocks the per-architecture mappings are written
 * with (mapping_context.h, graph_emit.h, mapping_blocks.h, gemma2_common.h, mapping.h), and the
 * driver (convert*.c). Those headers are internal to converters/ (tests and fuzz targets may
 * include them).
 *
 * Every failure returns an sp_status and fills an sp_error with one line. */
#ifndef SPARSA_CONVERT_H
#define SPARSA_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "sparsa_format.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SP_CONVERTER_VERSION "1.0.0"

/* --dtype: how floating tensors are written. Matrices take the chosen type; vector-like
 * tensors (norm weights, biases) stay f32 unless KEEP; KEEP writes f64 as f32. */
typedef enum { SP_OUT_KEEP = 0, SP_OUT_F32, SP_OUT_F16, SP_OUT_BF16 } sp_out_dtype;

/* ---- the mappings ----------------------------------------------------------------------------- */

/* An architecture mapping as listed by `sparsa convert --help`. */
typedef struct sp_mapping_info {
    const char *name;      /* "hf-llama", ... (the --arch value) */
    const char *summary;   /* one line */
} sp_mapping_info;

size_t sp_mapping_count(void);
const sp_mapping_info *sp_mapping_at(size_t i);           /* NULL past the end */
const sp_mapping_info *sp_mapping_find(const char *name); /* NULL if unknown */

/* ---- the driver ------------------------------------------------------------------------------- */

/* Checks the tokenizer to embed (the bytes of the --tokenizer file) against the model's
 * vocabulary size; 0, or an sp_status with err filled. The converters do not read
 * SentencePiece models themselves (they stand on format/ only), so the caller supplies it. */
typedef int (*sp_tokenizer_check_fn)(const void *bytes, size_t len, uint64_t vocab_size,
                                     sp_error *err);

typedef struct sp_convert_options {
    const char *src;          /* a file or a Hugging Face folder (never "-") */
    const char *out;          /* NULL: SRC with .sparsa */
    const char *config;       /* NULL: found beside SRC (never "-") */
    const char *arch;         /* NULL: detect */
    const char *tokenizer;    /* SentencePiece .model to embed, or NULL (never "-") */
    sp_tokenizer_check_fn tokenizer_check; /* run on the tokenizer before anything is written */
    sp_out_dtype dtype;
    sp_compression compression;
    int zstd_level;
    int force;
    int allow_nonfinite;      /* write NaN/Inf values instead of refusing the checkpoint */
    int quiet;
    int progress;             /* a progress line on stderr while tensors stream (the caller
                                 decides: a terminal, or --progress) */
    int tokenizer_found;      /* the tokenizer was found beside SRC, not asked for: one that
                                 does not fit the model is left out (see the report) */
} sp_convert_options;

typedef struct sp_convert_report {
    char arch[64];
    size_t tensors;
    uint64_t bytes_written;
    char out_path[4096];
    char tokenizer_skipped[512]; /* why a found tokenizer was left out ("" when it was not) */
} sp_convert_report;

/* Opens the checkpoint, picks the mapping, streams every mapped tensor through the dtype
 * conversion into a temporary file with its graph and provenance, re-reads the written file
 * and compares every tensor with its source, then renames it into place. Every missing,
 * mis-shaped or unmapped tensor is reported in one line (SP_ERR_INPUT).
 *
 * Every file read is recorded with sp_inputs_add and the output passes sp_output_check (never
 * an input, a symlink, a device, a FIFO or a directory; --force only allows replacing an
 * existing regular file). A NaN or Inf in a floating tensor, as written, is SP_ERR_INPUT naming
 * the tensor and the first bad element, unless allow_nonfinite. Checkpoint files, the config
 * and the tokenizer must be regular files (a FIFO or device is refused, never read). */
int sp_convert(const sp_convert_options *o, sp_convert_report *rep, sp_error *err);

#ifdef __cplusplus
}
#endif
#endif
