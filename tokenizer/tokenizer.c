/* tokenizer.c — sparsa_tokenizer.h over the SentencePiece shim: argument checks, id range
 * checks, turning the shim's messages into sp_error lines, and encoding long texts in chunks
 * on several threads where that is exact (docs/PROTOCOLS.md, "Tokenizing a corpus"). */
#include "sparsa_tokenizer.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spm_shim.h"

struct sp_tokenizer {
    spm_shim *spm;
    int32_t vocab, bos, eos, unk;
    int chunkable; /* long texts may be encoded in pieces (see sp_tokenizer_encode_threads) */
    uint8_t sha256[32]; /* of the model's bytes: the tokenizer's identity for the token cache */
};

/* ---- the few ModelProto settings that decide whether chunked encoding is exact ---------- */

/* proto2 wire format: reads a varint at *p (< end); returns 0 on malformed input. */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 1;
        }
    }
    return 0;
}

/* Walks the fields of one message; calls fn for each varint and length-delimited field. */
typedef void (*field_fn)(void *user, uint32_t field, uint64_t varint, const uint8_t *data,
                         size_t len);
static int walk_fields(const uint8_t *p, size_t n, field_fn fn, void *user) {
    const uint8_t *end = p + n;
    while (p < end) {
        uint64_t key, v = 0;
        if (!read_varint(&p, end, &key)) return 0;
        uint32_t field = (uint32_t)(key >> 3), wt = (uint32_t)(key & 7);
        if (wt == 0) {
            if (!read_varint(&p, end, &v)) return 0;
            fn(user, field, v, NULL, 0);
        } else if (wt == 2) {
            if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p)) return 0;
            fn(user, field, 0, p, (size_t)v);
            p += v;
        } else if (wt == 1 || wt == 5) {
            size_t k = wt == 1 ? 8 : 4;
            if ((size_t)(end - p) < k) return 0;
            p += k;
        } else {
            return 0;
        }
    }
    return 1;
}

typedef struct spm_settings {
    /* NormalizerSpec (ModelProto field 3) */
    int add_dummy_prefix, escape_whitespaces, has_rule_tsv;
    /* TrainerSpec (ModelProto field 2) */
    int treat_whitespace_as_suffix, model_type;
    int ok;
} spm_settings;

static void normalizer_field(void *u, uint32_t f, uint64_t v, const uint8_t *d, size_t len) {
    spm_settings *s = u;
    (void)d;
    if (f == 3 && !d) s->add_dummy_prefix = v != 0;
    else if (f == 5 && !d) s->escape_whitespaces = v != 0;
    else if (f == 6 && d) s->has_rule_tsv = len > 0;
}

static void trainer_field(void *u, uint32_t f, uint64_t v, const uint8_t *d, size_t len) {
    spm_settings *s = u;
    (void)len;
    if (f == 24 && !d) s->treat_whitespace_as_suffix = v != 0;
    else if (f == 3 && !d) s->model_type = (int)v;
}

static void model_field(void *u, uint32_t f, uint64_t v, const uint8_t *d, size_t len) {
    spm_settings *s = u;
    (void)v;
    if (f == 3 && d && !walk_fields(d, len, normalizer_field, s)) s->ok = 0;
    if (f == 2 && d && !walk_fields(d, len, trainer_field, s)) s->ok = 0;
}

/* For a BPE model, chunked encoding equals whole-string encoding when every cut is a single
 * space between two ASCII letters/digits and: the normaliser adds the dummy prefix and escapes
 * spaces as U+2581 (so the dropped space comes back as the next chunk's dummy prefix),
 * whitespace is a prefix (not a suffix), there are no custom rules, and no piece holds U+2581
 * after its start (so no merge crosses a cut; merges on either side are then independent).
 * Unigram models are always encoded as one string: the library's Viterbi accumulates path
 * scores in float over the whole string, so on long texts its ties and roundings depend on
 * everything before, and only whole-string encoding reproduces its ids. The argument in full:
 * docs/PROTOCOLS.md, "Tokenizing a corpus". */
#define SPM_MODEL_BPE 2
static int settings_allow_chunks(const void *bytes, size_t len) {
    spm_settings s = {1, 1, 0, 0, 1, 1};
    if (!walk_fields(bytes, len, model_field, &s)) return 0;
    return s.ok && s.model_type == SPM_MODEL_BPE && s.add_dummy_prefix &&
           s.escape_whitespaces && !s.has_rule_tsv && !s.treat_whitespace_as_suffix;
}

static int wrap(spm_shim *spm, char *msg, const char *what, const void *bytes, size_t len,
                sp_tokenizer **out, sp_error *err) {
    if (!spm) {
        int rc = sp_fail(err, SP_ERR_INPUT, "%s: cannot load the SentencePiece model (%s)", what,
                         msg ? msg : "unknown error");
        free(msg);
        return rc;
    }
    sp_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        spm_shim_free(spm);
        return sp_fail(err, SP_ERR_RUNTIME, "%s: out of memory", what);
    }
    t->spm = spm;
    t->vocab = spm_shim_vocab_size(spm);
    t->bos = spm_shim_bos(spm);
    t->eos = spm_shim_eos(spm);
    t->unk = spm_shim_unk(spm);
    if (t->vocab <= 0) {
        sp_tokenizer_free(t);
        return sp_fail(err, SP_ERR_INPUT, "%s: SentencePiece model has an empty vocabulary", what);
    }
    /* Special ids are -1 when absent; anything else outside the vocabulary is absent too. */
    if (t->bos >= t->vocab) t->bos = -1;
    if (t->eos >= t->vocab) t->eos = -1;
    if (t->unk >= t->vocab) t->unk = -1;
    t->chunkable = settings_allow_chunks(bytes, len) && spm_shim_inner_space_piece(spm) == 0;
    sp_sha256 h;
    sp_sha256_init(&h);
    sp_sha256_update(&h, bytes, len);
    sp_sha256_final(&h, t->sha256);
    *out = t;
    return SP_OK;
}

int sp_tokenizer_load_file(const char *path, sp_tokenizer **out, sp_error *err) {
    *out = NULL;
    if (!path) return sp_fail(err, SP_ERR_INPUT, "tokenizer: no path");
    /* Read the bytes here (not in the library) so the settings can be inspected; a FIFO,
     * device or directory is refused at once. */
    char *buf = NULL;
    size_t n = 0;
    int rc = sp_read_file(path, SP_READ_DEFAULT_MAX, &buf, &n, err);
    if (rc) return rc;
    if (n == 0) {
        free(buf);
        return sp_fail(err, SP_ERR_INPUT, "%s: empty file, not a SentencePiece model", path);
    }
    char *msg = NULL;
    spm_shim *spm = spm_shim_load_bytes(buf, n, &msg);
    rc = wrap(spm, msg, path, buf, n, out, err);
    free(buf);
    return rc;
}

int sp_tokenizer_load_bytes(const void *bytes, size_t len, sp_tokenizer **out, sp_error *err) {
    *out = NULL;
    if (!bytes || len == 0) return sp_fail(err, SP_ERR_INPUT, "tokenizer: no model bytes");
    char *msg = NULL;
    spm_shim *spm = spm_shim_load_bytes(bytes, len, &msg);
    return wrap(spm, msg, "tokenizer section", bytes, len, out, err);
}

void sp_tokenizer_free(sp_tokenizer *t) {
    if (!t) return;
    spm_shim_free(t->spm);
    free(t);
}

int32_t sp_tokenizer_vocab_size(const sp_tokenizer *t) { return t->vocab; }
int32_t sp_tokenizer_bos(const sp_tokenizer *t) { return t->bos; }
int32_t sp_tokenizer_eos(const sp_tokenizer *t) { return t->eos; }
int32_t sp_tokenizer_unk(const sp_tokenizer *t) { return t->unk; }
void sp_tokenizer_sha256(const sp_tokenizer *t, uint8_t out[32]) {
    memcpy(out, t->sha256, sizeof t->sha256);
}

static int encode_one(const sp_tokenizer *t, const char *text, size_t len, int32_t **ids,
                      size_t *n, sp_error *err);

/* Text longer than this is cut into chunks of about this size (when exact, see above): the
 * library's encoder needs ~100 bytes of memory per input byte, so a 4 MB corpus as one string
 * would cost ~400 MB, and its time per byte grows with the string: the SOTU corpus (10.8 MB,
 * a 32000-piece BPE) took 1.25-1.3x as long on one thread in 64 KiB chunks as in 4 KiB ones,
 * 1.3-1.5x on two (AMD EPYC Zen 4, `sparsa tokenize`). The ids are the same. */
#define SP_ENCODE_CHUNK ((size_t)1 << 12)

static int is_alnum_ascii(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* The first cut at or after `from`: a space between two ASCII letters/digits. */
static size_t next_cut(const char *text, size_t len, size_t from) {
    for (size_t i = from; i + 1 < len; i++)
        if (text[i] == ' ' && i > 0 && is_alnum_ascii(text[i - 1]) && is_alnum_ascii(text[i + 1]))
            return i;
    return len;
}

/* The chunks of a long text: [start[i], end[i]); the space at each cut is dropped (it comes
 * back as the next chunk's dummy prefix). The cuts depend on the text alone, never on the
 * thread count, so every thread count gives the same chunks and the same ids. */
typedef struct chunk_list {
    size_t *start, *end, n;
} chunk_list;

static int list_chunks(const char *text, size_t len, chunk_list *c) {
    size_t cap = len / SP_ENCODE_CHUNK + 2;
    c->n = 0;
    c->start = malloc(cap * sizeof *c->start);
    c->end = malloc(cap * sizeof *c->end);
    if (!c->start || !c->end) return SP_ERR_RUNTIME;
    for (size_t pos = 0; pos < len && c->n < cap;) {
        size_t cut = len - pos > 2 * SP_ENCODE_CHUNK ? next_cut(text, len, pos + SP_ENCODE_CHUNK)
                                                     : len;
        c->start[c->n] = pos;
        c->end[c->n++] = cut;
        pos = cut < len ? cut + 1 : len;
    }
    return SP_OK;
}

/* Joins the chunks' ids in order into one malloc'd array; frees the parts. */
static int join_parts(int32_t **parts, const size_t *counts, size_t n_parts, int32_t **ids,
                      size_t *n) {
    size_t total = 0;
    for (size_t i = 0; i < n_parts; i++) total += counts[i];
    int32_t *all = total ? malloc(total * sizeof *all) : NULL;
    for (size_t i = 0, k = 0; i < n_parts; i++) {
        if (all && counts[i]) memcpy(all + k, parts[i], counts[i] * sizeof *all);
        k += counts[i];
        free(parts[i]);
    }
    if (total && !all) return SP_ERR_RUNTIME;
    *ids = all;
    *n = total;
    return SP_OK;
}

int sp_tokenizer_encode(const sp_tokenizer *t, const char *text, size_t len, int32_t **ids,
                        size_t *n, sp_error *err) {
    return sp_tokenizer_encode_threads(t, text, len, 0, ids, n, err);
}

int sp_tokenizer_encode_threads(const sp_tokenizer *t, const char *text, size_t len,
                                int threads, int32_t **ids, size_t *n, sp_error *err) {
    *ids = NULL;
    *n = 0;
    if (len <= SP_ENCODE_CHUNK || !t->chunkable) return encode_one(t, text, len, ids, n, err);
    chunk_list c = {0};
    int rc = list_chunks(text, len, &c);
    int32_t **parts = rc ? NULL : calloc(c.n, sizeof *parts);
    size_t *counts = rc ? NULL : calloc(c.n, sizeof *counts);
    int *codes = rc ? NULL : calloc(c.n, sizeof *codes);
    sp_error *errs = rc ? NULL : calloc(c.n, sizeof *errs);
    if (!parts || !counts || !codes || !errs) rc = SP_ERR_RUNTIME;
    int nt = threads > 0 ? threads : omp_get_max_threads();
    if (!rc) {
        /* each chunk is encoded on its own (the library's processor is const and safe to
         * share); errors are kept per chunk and the first in text order is reported */
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (size_t i = 0; i < c.n; i++)
            codes[i] = encode_one(t, text + c.start[i], c.end[i] - c.start[i], &parts[i],
                                  &counts[i], &errs[i]);
        for (size_t i = 0; i < c.n && !rc; i++)
            if (codes[i]) {
                rc = codes[i];
                if (err) *err = errs[i];
            }
        if (rc)
            for (size_t i = 0; i < c.n; i++) free(parts[i]);
        else if (join_parts(parts, counts, c.n, ids, n))
            rc = sp_fail(err, SP_ERR_RUNTIME, "tokenizer: out of memory");
    } else {
        rc = sp_fail(err, SP_ERR_RUNTIME, "tokenizer: out of memory");
    }
    free(c.start);
    free(c.end);
    free(parts);
    free(counts);
    free(codes);
    free(errs);
    return rc;
}

static int encode_one(const sp_tokenizer *t, const char *text, size_t len, int32_t **ids,
                      size_t *n, sp_error *err) {
    *ids = NULL;
    *n = 0;
    if (len == 0) return SP_OK;
    char *msg = NULL;
    int *raw = NULL;
    long k = spm_shim_encode(t->spm, text, len, &raw, &msg);
    if (k < 0) {
        int rc = sp_fail(err, SP_ERR_RUNTIME, "tokenizer: encoding failed (%s)",
                         msg ? msg : "unknown error");
        free(msg);
        return rc;
    }
    /* int and int32_t are the same type on every platform sparsa builds on. */
    _Static_assert(sizeof(int) == sizeof(int32_t), "int must be 32-bit");
    *ids = (int32_t *)raw;
    *n = (size_t)k;
    return SP_OK;
}

int sp_tokenizer_decode(const sp_tokenizer *t, const int32_t *ids, size_t n, char **text,
                        size_t *len, sp_error *err) {
    *text = NULL;
    *len = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= t->vocab)
            return sp_fail(err, SP_ERR_INPUT,
                           "token id %ld at position %zu is outside the vocabulary [0, %ld)",
                           (long)ids[i], i, (long)t->vocab);
    char *msg = NULL;
    char *s = spm_shim_decode(t->spm, (const int *)ids, n, len, &msg);
    if (!s) {
        int rc = sp_fail(err, SP_ERR_RUNTIME, "tokenizer: decoding failed (%s)",
                         msg ? msg : "unknown error");
        free(msg);
        return rc;
    }
    *text = s;
    return SP_OK;
}
