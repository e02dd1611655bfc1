/* gemma2_common.h — what Hugging Face Gemma2 (mapping_hf_gemma2.c) and the paper's
 * SparseGemma2 (mapping_asentmax_gemma2.c) share (gemma2_common.c). Internal to converters/. */
#ifndef SPARSA_GEMMA2_COMMON_H
#define SPARSA_GEMMA2_COMMON_H

#include "mapping_blocks.h"

/* How strongly a Gemma-2-shaped checkpoint looks like the paper's SparseGemma2: 2 when its
 * config says so (sparse-attention keys or the architecture name), 1 when only its tensor names
 * do (scale projections, the Lightning net.model. prefix), else 0. */
int gemma2_paper_evidence(const sp_ckpt *c);

/* √D rounded to dtype dt, as HF computes the Gemma embedding normalizer. */
double gemma_embed_scale(uint64_t hidden, sp_dtype dt);

/* The parts of a Gemma-2 decoder layer both share: the HF tensor names (attention biases when
 * the config has attention_bias), the four (1 + w) RMSNorms and the GeGLU activation.
 * has_hidden_activation: the config names the activation under hidden_activation (else
 * hidden_act). */
void gemma_layer_common(map_ctx *m, layer_spec *ls, uint64_t hidden, uint64_t ffn, int has_hidden_activation);

#endif
