/* token_cache.h — private to eval/: the token cache's folder, keys and entries
 * (docs/PROTOCOLS.md, "The token cache"); sp_corpus_tokenize (corpus_tokens.c) is its user. */
#ifndef SPARSA_EVAL_TOKEN_CACHE_H
#define SPARSA_EVAL_TOKEN_CACHE_H

#include "sparsa_eval.h"

/* The entry format's version: part of every key, so a change of format or of how a corpus is
 * cut into documents makes old entries unused (they are never misread). */
#define TC_VERSION 1u
/* How the text was tokenized: as one string, or one document per line. */
#define TC_MODE_WHOLE 0u
#define TC_MODE_LINES 1u

/* One line on stderr: "sparsa CMD: warning: ...". */
void tc_warn(const sp_token_cache_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The cache folder (malloc'd), or NULL when nothing is to be cached. */
char *tc_dir(const sp_token_cache_opts *o);
/* mkdir -p, each created folder 0700; 0, or -1 with errno set. */
int tc_make_dir(const char *dir);
/* SHA-256 over the format version, the mode, the tokenizer's SHA-256 and the text's. */
void tc_key(const sp_tokenizer *tok, const char *text, size_t len, uint32_t mode,
            uint8_t key[32]);
/* "<dir>/<hex key>.tok", malloc'd. */
char *tc_entry_path(const char *dir, const uint8_t key[32]);
/* 1 with *out filled from a verified entry; 0 when there is none or it cannot be trusted
 * (then one warning line says why). */
int tc_read(const char *path, const uint8_t key[32], uint32_t mode, size_t len, int32_t vocab,
            sp_corpus_tokens *out, const sp_token_cache_opts *o);
/* Writes an entry atomically (temporary in the folder, fsync, rename); -1 after one warning
 * line when it cannot. */
int tc_write(const char *dir, const char *path, const uint8_t key[32], uint32_t mode, size_t len,
             const sp_corpus_tokens *t, const sp_token_cache_opts *o);
/* The same beside the caller (token_cache_later.c): 0 once a thread writes the entry from a
 * copy of t (or, where none can be started, once tc_write has); sp_token_cache_settle waits. */
int tc_write_later(const char *dir, const char *path, const uint8_t key[32], uint32_t mode,
                   size_t len, const sp_corpus_tokens *t, const sp_token_cache_opts *o);

#endif
