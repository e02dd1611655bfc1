/* corpus_tokens.c — a corpus's text to its ids (sp_corpus_tokenize): as one string or line by
 * line, on several threads, through the token cache (token_cache.c). Line by line, each line is
 * encoded on its own, so encoding the lines on different threads is exactly the serial result;
 * one string is cut only where the tokenizer proves it exact (docs/PROTOCOLS.md, "Tokenizing a
 * corpus"). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token_cache.h"

/* The number of lines of text (the last one needs no newline). */
static size_t count_lines(const char *text, size_t len) {
    size_t n = 0;
    for (size_t at = 0; at < len; n++) {
        const char *nl = memchr(text + at, '\n', len - at);
        at = nl ? (size_t)(nl - text) + 1 : len;
    }
    return n;
}

/* Every line's ids into out->ids, and the lines with tokens into out->docs. */
static int join_lines(int32_t **parts, const size_t *counts, const size_t *at,
                      const size_t *line_len, size_t n_lines, sp_corpus_tokens *out) {
    size_t total = 0, n_docs = 0;
    for (size_t i = 0; i < n_lines; i++) total += counts[i], n_docs += counts[i] > 0;
    out->ids = malloc((total ? total : 1) * sizeof *out->ids);
    out->docs = n_docs ? malloc(n_docs * sizeof *out->docs) : NULL;
    if (!out->ids || (n_docs && !out->docs)) return SP_ERR_RUNTIME;
    for (size_t i = 0; i < n_lines; i++) {
        if (!counts[i]) continue;
        out->docs[out->n_docs++] = (sp_corpus_doc){at[i], line_len[i], out->n, counts[i]};
        memcpy(out->ids + out->n, parts[i], counts[i] * sizeof *out->ids);
        out->n += counts[i];
    }
    return SP_OK;
}

static int tokenize_lines(const sp_tokenizer *tok, const char *text, size_t len, int threads,
                          sp_corpus_tokens *out, sp_error *err) {
    size_t n = count_lines(text, len), k = 0;
    size_t *at = malloc((n + 1) * sizeof *at), *line_len = malloc((n + 1) * sizeof *line_len);
    size_t *counts = calloc(n + 1, sizeof *counts);
    int32_t **parts = calloc(n + 1, sizeof *parts);
    int *codes = calloc(n + 1, sizeof *codes);
    int rc = at && line_len && counts && parts && codes ? SP_OK : SP_ERR_RUNTIME;
    for (size_t pos = 0; !rc && pos < len; k++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        at[k] = pos;
        line_len[k] = end - pos;
        pos = end + 1;
    }
    int nt = threads > 0 ? threads : omp_get_max_threads();
    if (!rc) {
        /* one line's encoding never depends on another's: any schedule gives the same ids */
#pragma omp parallel for schedule(dynamic, 4) num_threads(nt)
        for (size_t i = 0; i < n; i++) {
            sp_error line_err = {0};
            codes[i] = line_len[i] ? sp_tokenizer_encode_threads(tok, text + at[i], line_len[i],
                                                                 1, &parts[i], &counts[i],
                                                                 &line_err)
                                   : SP_OK;
        }
        /* the first failed line, again on this thread, for its message */
        for (size_t i = 0; i < n && !rc; i++)
            if (codes[i] && !sp_tokenizer_encode_threads(tok, text + at[i], line_len[i], 1,
                                                         &parts[n], &counts[n], err))
                rc = sp_fail(err, codes[i], "tokenizer: encoding failed");
            else if (codes[i])
                rc = codes[i];
        if (!rc && join_lines(parts, counts, at, line_len, n, out)) rc = SP_ERR_RUNTIME;
    }
    if (rc == SP_ERR_RUNTIME && (!err || !err->msg[0])) sp_fail(err, rc, "out of memory");
    for (size_t i = 0; parts && i <= n; i++) free(parts[i]);
    free(at), free(line_len), free(counts), free(parts), free(codes);
    return rc;
}

static void note(const sp_token_cache_opts *o, const char *name, size_t n, const char *what) {
    if (o && o->note)
        fprintf(stderr, "sparsa %s: %s: %zu tokens %s\n", o->who ? o->who : "tokenize", name, n,
                what);
}

int sp_corpus_tokenize(const sp_tokenizer *tok, const char *name, const char *text, size_t len,
                       int by_lines, int threads, const sp_token_cache_opts *cache,
                       sp_corpus_tokens *out, sp_error *err) {
    memset(out, 0, sizeof *out);
    uint32_t mode = by_lines ? TC_MODE_LINES : TC_MODE_WHOLE;
    uint8_t key[32];
    char *dir = tc_dir(cache), *path = NULL;
    if (dir) {
        tc_key(tok, text, len, mode, key);
        path = tc_entry_path(dir, key);
    }
    int32_t vocab = sp_tokenizer_vocab_size(tok);
    if (path) sp_token_cache_settle(); /* an entry this process is still writing */
    if (path && tc_read(path, key, mode, len, vocab, out, cache)) {
        note(cache, name, out->n, "from the token cache");
        free(path);
        free(dir);
        return SP_OK;
    }
    int rc = by_lines ? tokenize_lines(tok, text, len, threads, out, err)
                      : sp_tokenizer_encode_threads(tok, text, len, threads, &out->ids, &out->n,
                                                    err);
    if (!rc && path && !tc_write_later(dir, path, key, mode, len, out, cache))
        note(cache, name, out->n, "tokenized, being stored in the token cache");
    if (rc) sp_corpus_tokens_free(out);
    free(path);
    free(dir);
    return rc;
}
