/* dist_parts.h — private to eval/: reading part files of any split command and checking that
 * they belong together (dist_parts.c), for merge's perplexity (dist_merge.c), eval-task
 * (dist_task_merge.c) and mc (dist_mc_merge.c) sides, and the lines every eval-task and mc
 * part file starts and ends its identity with. docs/SCALING.md, "Part files". */
#ifndef SPARSA_EVAL_DIST_PARTS_H
#define SPARSA_EVAL_DIST_PARTS_H

#include "sparsa_dist.h"
#include "sparsa_workbench.h"

typedef struct sp_part {
    const char *path;
    sp_jv doc;
    uint64_t part, parts, first, end;
} sp_part;

/* A member every part of one run must hold with the same value, and how a difference is
 * named ("another model"). */
typedef struct sp_part_key {
    const char *key, *what;
} sp_part_key;

/* The command that wrote a part: its "command" member, "perplexity" when it has none. */
const char *sp_part_command(const sp_part *p);
/* Reads and parses path, checks it is a part file of `command` (NULL: of any command) holding
 * every key of keys[0..n) and a valid part, parts, first and end. SP_ERR_INPUT naming the
 * file otherwise. */
int sp_part_read(const char *path, const char *command, const sp_part_key *keys, size_t n_keys,
                 sp_part *p, sp_error *err);
/* Every part like the first in every key; every part number once, none missing. */
int sp_parts_check(const sp_part *parts, size_t n, const char *command, const sp_part_key *keys,
                   size_t n_keys, sp_error *err);

/* sp_part_read of every path then sp_parts_check: *out (n parts, freed with sp_parts_free)
 * on success; nothing is kept on failure. */
int sp_parts_load(const char *const *paths, size_t n, const char *command,
                  const sp_part_key *keys, size_t n_keys, sp_part **out, sp_error *err);
void sp_parts_free(sp_part *parts, size_t n);

/* Adds one checked part's records to recs (state is the merge's own). */
typedef int (*sp_part_add_fn)(const sp_part *p, const void *state, sp_strbuf *recs,
                              sp_error *err);
/* Calls add for the parts in part order 0..N-1 (each once, as sp_parts_check made sure),
 * stopping at the first failure. */
int sp_parts_gather(const sp_part *parts, size_t n, sp_part_add_fn add, const void *state,
                    sp_strbuf *recs, sp_error *err);
/* The part's "records" when the split gives it exactly the items r holds ("questions",
 * "samples": `what`); NULL and SP_ERR_INPUT naming the file otherwise. */
const sp_jv *sp_part_records(const sp_part *p, sp_dist_range r, const char *what,
                             sp_error *err);

/* The start of an eval-task or mc part file, up to and with its one-model "models" list
 * (without a comma after it), and its line of part, parts, first and end. */
void sp_part_write_head(FILE *f, const char *command, const char *version,
                        const char *model_path, const char *model_sha256);
void sp_part_write_range(FILE *f, uint64_t part, uint64_t parts, sp_dist_range r);

/* Members of a parsed part: a non-negative integer exact in a double (SP_ERR_INPUT
 * otherwise), an array (of n items), a string; NULL when absent or of another type. */
int sp_part_uint_value(const sp_jv *v, uint64_t *out);
int sp_part_get_uint(const sp_jv *o, const char *key, uint64_t *out);
const sp_jv *sp_part_get_array(const sp_jv *o, const char *key);
const sp_jv *sp_part_get_array_n(const sp_jv *o, const char *key, size_t n);
const char *sp_part_get_string(const sp_jv *o, const char *key);

#endif
