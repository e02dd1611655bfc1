/* spm_shim.h — the smallest extern "C" surface over the SentencePiece C++ library.
 * Internal to tokenizer/: callers use sparsa_tokenizer.h. Every function catches every C++
 * exception; failures return NULL / -1 and, where asked, a malloc'd message in *err. */
#ifndef SPARSA_SPM_SHIM_H
#define SPARSA_SPM_SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spm_shim spm_shim;

spm_shim *spm_shim_load_file(const char *path, char **err);
spm_shim *spm_shim_load_bytes(const void *bytes, size_t len, char **err);
void spm_shim_free(spm_shim *s);

int spm_shim_vocab_size(const spm_shim *s);
int spm_shim_bos(const spm_shim *s);
int spm_shim_eos(const spm_shim *s);
int spm_shim_unk(const spm_shim *s);

/* 1 if some piece that encoding can produce holds U+2581 (the escaped space) after its first
 * character, 0 if none, -1 on error. */
int spm_shim_inner_space_piece(const spm_shim *s);

/* Returns the number of ids (>= 0) with *ids malloc'd (NULL when 0), or -1 with *err set. */
long spm_shim_encode(const spm_shim *s, const char *text, size_t len, int **ids, char **err);
/* Returns the malloc'd NUL-terminated text with its length in *len, or NULL with *err set. */
char *spm_shim_decode(const spm_shim *s, const int *ids, size_t n, size_t *len, char **err);

#ifdef __cplusplus
}
#endif
#endif
