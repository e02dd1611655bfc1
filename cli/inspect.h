/* inspect.h — private to `sparsa inspect` (cli/cmd_inspect.c, cli/inspect_*.c): the facts
 * gathered about a file and the two printers (text, JSON). */
#ifndef SPARSA_CLI_INSPECT_H
#define SPARSA_CLI_INSPECT_H

#include <stdint.h>
#include <stdio.h>

#include "sparsa_format.h"

#define INSPECT_MAX_OPS 64

typedef struct {
    int present;
    size_t bytes;
    const char *yaml;
    /* summary, valid when parsed */
    int parsed;
    char error[200];         /* why it could not be summarised */
    long long op_set;        /* sparsa_graph; -1 if missing */
    char name[256];          /* UTF-8, may be empty */
    uint64_t nodes;          /* after repeat expansion */
    size_t n_ops;
    struct { char op[48]; uint64_t count; } ops[INSPECT_MAX_OPS];
    uint64_t other_ops;      /* ops beyond INSPECT_MAX_OPS distinct names */
} inspect_graph;

typedef struct {
    int present;
    size_t bytes;
    long long vocab;         /* pieces in the SentencePiece model; -1 if unparseable */
} inspect_tokenizer;

/* One attention layer as the graph describes it (0 where an attribute is absent). */
typedef struct {
    long long heads, kv_heads, head_dim, value_dim, window;
    char normalizer[112];    /* "entmax alpha=1.5, asentmax query scale on 3 of 6 heads" */
    char positional[64];     /* rope, alibi, nape (alibi on H' of H heads), nope, rope+alibi */
} inspect_layer;

/* The hyper-parameter summary (inspect_hparams.c), valid when present. */
typedef struct {
    int present;
    uint64_t d_model, ffn, vocab, context;  /* 0: unknown (context: no limit) */
    int ffn_varies;          /* MLP widths differ between layers (ffn is the largest) */
    size_t n_layers, cap;
    inspect_layer *layers;   /* [n_layers], malloc'd */
} inspect_hparams;

/* The end of the run of layers equal to layers[start] (one past its last). */
size_t inspect_layer_run(const inspect_hparams *h, size_t start);

typedef struct {
    uint64_t tensors, params, raw, stored;
} inspect_total;

typedef struct {
    const char *path;
    sp_file *f;
    int show_graph, show_tensors, json, verify;
    int verified;            /* verify ran */
    int verified_graph;      /* the model opened for execution */
    int verified_tokenizer;  /* the file's tokenizer fits the vocabulary (0: none or failed) */
    sp_error verify_err;     /* code 0: every check passed; else the first failure */
    inspect_graph graph;
    inspect_hparams hparams;
    inspect_tokenizer tok;
    inspect_total total, by_dtype[SP_BOOL + 1];
} inspect_facts;

/* inspect_graph.c: summary of the graph YAML with libyaml (repeat blocks count x N), and the
 * hyper-parameters (h) from the same document. */
void inspect_graph_summary(const char *yaml, size_t len, const sp_file *f, inspect_graph *g,
                           inspect_hparams *h);
/* inspect_spm.c: number of pieces of a serialised SentencePiece ModelProto, -1 if malformed. */
long long inspect_spm_vocab(const uint8_t *p, size_t n);
/* The same count, and the text of the first `cap` pieces (pointers into p) in text/len; also
 * used by `tokenize --pieces`. */
long long inspect_spm_pieces(const uint8_t *p, size_t n, const uint8_t **text, size_t *len,
                             size_t cap);

/* inspect_verify.c: every check opening for execution runs (--verify); fills verify_err. */
void inspect_verify(inspect_facts *x);

/* Untrusted names and values are written with sp_text_escape (text) and sp_json_escape (JSON),
 * from sparsa_common.h. */
void inspect_print_text(FILE *out, const inspect_facts *x);
void inspect_print_json(FILE *out, const inspect_facts *x);
/* inspect_summary.c: the summary shown first (text lines; the JSON `summary` object's value). */
void inspect_summary_text(FILE *out, const inspect_facts *x);
void inspect_summary_json(FILE *out, const inspect_facts *x);

#endif
