/* mapping_table.c — the registry of architecture mappings: one row per mapping (its name, the
 * line --help shows, and its detect/build functions). Adding an architecture is one mapping file
 * and one row here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping.h"

static const sp_mapping mappings[] = {
    {.info = {.name = "hf-llama", .summary = "Hugging Face LlamaForCausalLM (config.json)"},
     .detect = hf_llama_detect, .build = hf_llama_build},
    {.info = {.name = "hf-gemma2", .summary = "Hugging Face Gemma2ForCausalLM (config.json)"},
     .detect = hf_gemma2_detect, .build = hf_gemma2_build},
    {.info = {.name = "asentmax-gemma2",
              .summary = "the paper's SparseGemma2 (Lightning .ckpt, net.model. prefix; config.json)"},
     .detect = asentmax_gemma2_detect, .build = asentmax_gemma2_build},
    {.info = {.name = "torchtitan-llama", .summary = "torchtitan / Meta Llama state dict (.pt + params.json)"},
     .detect = torchtitan_llama_detect, .build = torchtitan_llama_build},
};

enum { N_MAPPINGS = sizeof mappings / sizeof mappings[0] };

size_t sp_mapping_count(void) { return N_MAPPINGS; }

const sp_mapping_info *sp_mapping_at(size_t i) { return i < N_MAPPINGS ? &mappings[i].info : NULL; }

const sp_mapping *sp_mapping_named(const char *name) {
    for (size_t i = 0; i < N_MAPPINGS; i++)
        if (!strcmp(mappings[i].info.name, name)) return &mappings[i];
    return NULL;
}

const sp_mapping_info *sp_mapping_find(const char *name) {
    const sp_mapping *m = sp_mapping_named(name);
    return m ? &m->info : NULL;
}

const sp_mapping *sp_mapping_detect(const sp_ckpt *c) {
    const sp_mapping *best = NULL;
    int bs = 0;
    for (size_t i = 0; i < N_MAPPINGS; i++) {
        int s = mappings[i].detect(c);
        if (s > bs) bs = s, best = &mappings[i];
    }
    return best;
}

const char *sp_mapping_names(void) {
    static char names[256];
    if (!names[0]) {
        size_t o = 0;
        for (size_t i = 0; i < N_MAPPINGS && o < sizeof names; i++)
            o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "", mappings[i].info.name);
    }
    return names;
}

void sp_mapping_result_free(sp_mapping_result *r) {
    for (size_t i = 0; i < r->ntensors; i++) free(r->tensors[i].name);
    free(r->tensors);
    free(r->graph);
    free(r->model_name);
    memset(r, 0, sizeof *r);
}
