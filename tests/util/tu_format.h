/* tu_format.h — a small model file with every feature of the format, written with
 * the library; shared by the round-trip and hostile-file tests. */
#ifndef SPARSA_TEST_FORMAT_FIXTURE_H
#define SPARSA_TEST_FORMAT_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sparsa_format.h"
#include "tu.h"

/* Deterministic bytes (xorshift) so data compresses a little but not to nothing. */
static inline void tu_fill_bytes(void *dst, size_t n, uint32_t seed) {
    uint8_t *p = dst;
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)((i % 7 == 0) ? 0 : x >> 24);
    }
}

static const char tu_small_graph[] =
    "sparsa_graph: 1\nname: fixture \xc3\xa9\nvocab_size: 4\ncontext_length: 0\n"
    "inputs: [tokens]\noutputs: [logits]\nnodes:\n"
    "  - {op: embed, name: emb, in: [tokens], out: x, weight: tok}\n"
    "  - repeat: 2\n    var: i\n    nodes:\n"
    "      - {op: rmsnorm, name: 'n{i}', in: [x], out: x, weight: 'w{i}', eps: 1.0e-5}\n"
    "  - {op: linear, name: head, in: [x], out: logits, weight: tok}\n";

/* A temp path unique to this process (and call). */
static inline void tu_tmp_name(char *buf, size_t cap, const char *tag) {
    static int counter;
    snprintf(buf, cap, "/tmp/sparsa_fmt_%ld_%d_%s.sparsa", (long)getpid(), counter++, tag);
}

/* Writes the small fixture (three tensors, one zstd, a graph, a tokenizer, some metadata). */
static inline int tu_write_small_file(const char *path, sp_error *err) {
    sp_writer *w;
    int rc = sp_writer_create(path, 1, err, &w);
    if (rc) return rc;
    sp_writer_meta_string(w, "general.name", "tiny", 4);
    sp_writer_meta_u64(w, "model.train_context_length", 128);
    const char *files[] = {"model.pt", "config.json"};
    sp_writer_meta_array(w, "source.files", SP_META_STRING, files, 2);
    sp_writer_set_graph(w, tu_small_graph, sizeof tu_small_graph - 1);
    /* A minimal SentencePiece ModelProto: four `pieces` (field 1), each {piece: "a".."d"}. */
    uint8_t tok[4 * 5];
    for (int i = 0; i < 4; i++) {
        uint8_t piece[5] = {0x0a, 0x03, 0x0a, 0x01, (uint8_t)('a' + i)};
        memcpy(tok + 5 * i, piece, 5);
    }
    sp_writer_set_tokenizer(w, tok, sizeof tok);
    float a[4 * 8], b[8];
    tu_fill_bytes(a, sizeof a, 1);
    tu_fill_bytes(b, sizeof b, 2);
    uint64_t da[2] = {4, 8}, db[1] = {8};
    sp_writer_add_tensor(w, "tok", SP_F32, 2, da, a, SP_COMPRESS_NONE, 0);
    sp_writer_add_tensor(w, "w0", SP_F32, 1, db, b, SP_COMPRESS_ZSTD, 3);
    sp_writer_add_tensor(w, "w1", SP_F32, 1, db, b, SP_COMPRESS_NONE, 0);
    return sp_writer_finish(w, err);
}

#endif
