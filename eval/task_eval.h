/* task_eval.h — exact-match accuracy on the paper's synthetic tasks (copy, sort, reverse,
 * MQMTAR, flip-flop), by greedy generation over an interpreter session.
 *
 * Data format: one sample per line, tokens as space-separated integers, in a .src file and a
 * .trg file with the same number of lines. Each sample runs as: reset the session, feed
 * `bos src sep` (no sep for flip-flop), generate greedily until eos or until the sequence holds
 * int(len(source) × multiplier) tokens, cut at eos; the sample is correct when the generated
 * ids equal the target line exactly.
 */
#ifndef SPARSA_TASK_EVAL_H
#define SPARSA_TASK_EVAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sparsa_format.h"
#include "sparsa_interp.h"

typedef struct sp_task_layout {
    int32_t bos, eos;
    int32_t sep;        /* < 0: no separator (flip-flop) */
    double multiplier;  /* generation length multiplier */
} sp_task_layout;

/* The paper's simple tokenizer: ids are the integers 0..M, then pad, bos, eos, mask, sep, so a
 * vocabulary of V gives bos = V-4, eos = V-3, sep = V-1. */
void sp_task_default_layout(int32_t vocab, sp_task_layout *out);

/* One src/trg file pair, read and validated (every id in [0, vocab), equal line counts). */
typedef struct sp_task_set {
    size_t samples;
    int32_t **src, **trg;
    size_t *src_len, *trg_len;
    size_t max_src_len;
} sp_task_set;

int sp_task_set_read(const char *src_path, const char *trg_path, int32_t vocab, size_t limit,
                     sp_task_set *out, sp_error *err);
void sp_task_set_free(sp_task_set *s);
/* Tokens the session must hold for the longest sample of the set. */
size_t sp_task_set_capacity(const sp_task_set *s, const sp_task_layout *layout);

typedef struct sp_task_result {
    size_t samples, correct;
    double mean_src_len;
    double seconds;
} sp_task_result;

/* Runs every sample; if pred is not NULL writes one line per sample: "<0|1> <ids>". */
int sp_task_eval(sp_session *s, int32_t vocab, const sp_task_layout *layout,
                 const sp_task_set *set, FILE *pred, sp_task_result *res, sp_error *err);

#endif
