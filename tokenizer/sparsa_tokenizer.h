/* sparsa_tokenizer.h — SentencePiece, through a small C API.
 *
 * The model is either the bytes stored in a sparsa file's tokenizer section or a `.model`
 * file. Encoding adds no BOS/EOS; special ids come from the tokenizer model (-1 if absent).
 * Every C++ exception is caught inside the shim and turned into an sp_error.
 */
#ifndef SPARSA_TOKENIZER_H
#define SPARSA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include "sparsa_format.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sp_tokenizer sp_tokenizer;

int sp_tokenizer_load_file(const char *path, sp_tokenizer **out, sp_error *err);
int sp_tokenizer_load_bytes(const void *bytes, size_t len, sp_tokenizer **out, sp_error *err);
/* Either a sparsa model file (recognised by its magic; its tokenizer section is used, and a
 * file without one is SP_ERR_INPUT) or a SentencePiece `.model` file. */
int sp_tokenizer_load_path(const char *path, sp_tokenizer **out, sp_error *err);
void sp_tokenizer_free(sp_tokenizer *t);

int32_t sp_tokenizer_vocab_size(const sp_tokenizer *t);
int32_t sp_tokenizer_bos(const sp_tokenizer *t);
int32_t sp_tokenizer_eos(const sp_tokenizer *t);
int32_t sp_tokenizer_unk(const sp_tokenizer *t);
/* SHA-256 of the SentencePiece model's bytes (the .model file or the model file's tokenizer
 * section): what identifies the tokenizer, e.g. in the token cache's key. */
void sp_tokenizer_sha256(const sp_tokenizer *t, uint8_t out[32]);

/* *ids is malloc'd (caller frees). Long texts of a model for which it is exact are cut into
 * chunks encoded on up to omp_get_max_threads() threads (docs/PROTOCOLS.md, "Tokenizing a
 * corpus"); the ids are those of the whole string, whatever the thread count. */
int sp_tokenizer_encode(const sp_tokenizer *t, const char *text, size_t len, int32_t **ids,
                        size_t *n, sp_error *err);
/* The same with the thread count given (0: omp_get_max_threads()). */
int sp_tokenizer_encode_threads(const sp_tokenizer *t, const char *text, size_t len,
                                int threads, int32_t **ids, size_t *n, sp_error *err);
/* *text is malloc'd and NUL-terminated; *len excludes the NUL. Ids out of range: SP_ERR_INPUT. */
int sp_tokenizer_decode(const sp_tokenizer *t, const int32_t *ids, size_t n, char **text,
                        size_t *len, sp_error *err);

#ifdef __cplusplus
}
#endif
#endif
