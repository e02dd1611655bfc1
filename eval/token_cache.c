/* token_cache.c — the on-disk token cache (docs/PROTOCOLS.md, "The token cache"): where it
 * lives, the key of an entry, and reading (verified) and writing (atomic) one entry. A cache
 * that cannot be read or written costs a warning line on stderr, never the run: the caller
 * tokenizes anew. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "token_cache.h"

static const char entry_magic[8] = {'S', 'P', 'T', 'O', 'K', 'C', '\r', '\n'};

/* The fixed header: magic, version, mode, key, ids, documents, corpus bytes. */
#define HEADER_BYTES (8 + 4 + 4 + 32 + 8 + 8 + 8)
#define DOC_BYTES (4 * 8)
#define SUM_BYTES 32

void sp_corpus_tokens_free(sp_corpus_tokens *t) {
    if (!t) return;
    free(t->ids);
    free(t->docs);
    memset(t, 0, sizeof *t);
}

void tc_warn(const sp_token_cache_opts *o, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "sparsa %s: warning: ", o->who ? o->who : "token cache");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static char *join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) memcpy(s, a, la), memcpy(s + la, b, lb + 1);
    return s;
}

char *tc_dir(const sp_token_cache_opts *o) {
    if (!o || o->disabled) return NULL;
    if (o->dir) return o->dir[0] ? strdup(o->dir) : NULL;
    /* XDG: a relative $XDG_CACHE_HOME is invalid and ignored */
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && xdg[0] == '/') return join(xdg, "/sparsa/tokens");
    if (home && home[0]) return join(home, "/.cache/sparsa/tokens");
    return NULL;
}

/* mkdir -p with mode 0700 for every folder it creates; 0, or -1 with errno. */
int tc_make_dir(const char *dir) {
    char *p = strdup(dir);
    if (!p) return -1;
    int rc = 0;
    for (char *s = p + 1; !rc; s++) {
        int last = *s == 0;
        if (*s != '/' && !last) continue;
        *s = 0;
        struct stat st;
        if (mkdir(p, 0700) && errno != EEXIST) rc = -1;
        else if (stat(p, &st)) rc = -1;
        else if (!S_ISDIR(st.st_mode)) rc = -1, errno = ENOTDIR;
        if (last) break;
        *s = '/';
    }
    free(p);
    return rc;
}

void tc_key(const sp_tokenizer *tok, const char *text, size_t len, uint32_t mode,
            uint8_t key[32]) {
    uint8_t tok_sha[32], text_sha[32];
    sp_tokenizer_sha256(tok, tok_sha);
    sp_sha256 h;
    sp_sha256_init(&h);
    sp_sha256_update(&h, text, len);
    sp_sha256_final(&h, text_sha);
    uint32_t version = TC_VERSION;
    uint64_t n = len;
    sp_sha256_init(&h);
    sp_sha256_update(&h, "sparsa token cache", 19); /* with its NUL */
    sp_sha256_update(&h, &version, sizeof version);
    sp_sha256_update(&h, &mode, sizeof mode);
    sp_sha256_update(&h, tok_sha, sizeof tok_sha);
    sp_sha256_update(&h, text_sha, sizeof text_sha);
    sp_sha256_update(&h, &n, sizeof n);
    sp_sha256_final(&h, key);
}

char *tc_entry_path(const char *dir, const uint8_t key[32]) {
    char hex[65], name[80];
    sp_sha256_hex(key, hex);
    snprintf(name, sizeof name, "/%s.tok", hex);
    return join(dir, name);
}

static uint64_t get_u64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t get_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The documents tile the ids in order, each inside the text, none empty. */
static int docs_valid(const sp_corpus_doc *d, size_t n_docs, size_t n_ids, size_t len) {
    size_t next_id = 0, text_from = 0;
    for (size_t i = 0; i < n_docs; i++) {
        if (d[i].first != next_id || d[i].n == 0 || d[i].n > n_ids - next_id) return 0;
        if (d[i].text_at < text_from || d[i].text_len > len - d[i].text_at) return 0;
        next_id += d[i].n;
        text_from = d[i].text_at + d[i].text_len;
    }
    return next_id == n_ids;
}

/* Checks a whole entry's bytes against what this run expects; NULL if it holds, else why not.
 * On success the counts are in *n_ids and *n_docs. */
static const char *entry_check(const uint8_t *b, size_t size, const uint8_t key[32],
                               uint32_t mode, size_t len, size_t *n_ids, size_t *n_docs) {
    if (size < HEADER_BYTES + SUM_BYTES || memcmp(b, entry_magic, 8)) return "not an entry";
    if (get_u32(b + 8) != TC_VERSION) return "another format version";
    if (get_u32(b + 12) != mode || memcmp(b + 16, key, 32)) return "another key";
    uint64_t ids = get_u64(b + 48), docs = get_u64(b + 56), text = get_u64(b + 64);
    if (text != len) return "another corpus length";
    uint64_t body = size - HEADER_BYTES - SUM_BYTES;
    if (ids > body / 4 || docs > (body - ids * 4) / DOC_BYTES || ids * 4 + docs * DOC_BYTES != body)
        return "truncated or overlong";
    uint8_t sum[32];
    sp_sha256 h;
    sp_sha256_init(&h);
    sp_sha256_update(&h, b, size - SUM_BYTES);
    sp_sha256_final(&h, sum);
    if (memcmp(sum, b + size - SUM_BYTES, SUM_BYTES)) return "checksum mismatch";
    *n_ids = (size_t)ids;
    *n_docs = (size_t)docs;
    return NULL;
}

/* Copies a checked entry's documents out and moves its ids to the front of the entry's own
 * buffer *buf, which becomes out->ids (*buf is then NULL): a second buffer of the ids' size would
 * cost a warm run more in fresh pages than reading and checking the entry. NULL, or why they do
 * not fit. */
static const char *entry_unpack(char **buf, uint32_t mode, size_t n_ids, size_t n_docs,
                                size_t len, int32_t vocab, sp_corpus_tokens *out) {
    uint8_t *b = (uint8_t *)*buf;
    const uint8_t *p = b + HEADER_BYTES;
    out->docs = n_docs ? malloc(n_docs * sizeof *out->docs) : NULL;
    if (n_docs && !out->docs) return "out of memory";
    for (size_t i = 0; i < n_docs; i++, p += DOC_BYTES)
        out->docs[i] = (sp_corpus_doc){(size_t)get_u64(p), (size_t)get_u64(p + 8),
                                       (size_t)get_u64(p + 16), (size_t)get_u64(p + 24)};
    memmove(b, p, n_ids * sizeof *out->ids); /* the header and documents are read: overwrite */
    char *ids = realloc(*buf, (n_ids ? n_ids : 1) * sizeof *out->ids);
    out->ids = (int32_t *)(ids ? ids : *buf);
    *buf = NULL;
    out->n = n_ids;
    out->n_docs = n_docs;
    for (size_t i = 0; i < n_ids; i++)
        if (out->ids[i] < 0 || out->ids[i] >= vocab) return "an id outside the vocabulary";
    if (mode == TC_MODE_WHOLE ? n_docs != 0 : !docs_valid(out->docs, n_docs, n_ids, len))
        return "inconsistent documents";
    return NULL;
}

int tc_read(const char *path, const uint8_t key[32], uint32_t mode, size_t len, int32_t vocab,
            sp_corpus_tokens *out, const sp_token_cache_opts *o) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (lstat(path, &st)) return 0; /* none, or none reachable: writing it will say why */
    /* an entry holds at most two ids (a line's dummy prefix, then one per byte) and one
     * document per text byte, plus one */
    uint64_t most = HEADER_BYTES + SUM_BYTES + (uint64_t)(len + 1) * (4 * 2 + DOC_BYTES);
    char *bytes = NULL;
    size_t size = 0, n_ids = 0, n_docs = 0;
    sp_error err = {0};
    const char *why = NULL;
    if (!S_ISREG(st.st_mode)) why = "not a regular file";
    else if (sp_read_file(path, most, &bytes, &size, &err)) why = err.msg;
    else why = entry_check((const uint8_t *)bytes, size, key, mode, len, &n_ids, &n_docs);
    if (!why) why = entry_unpack(&bytes, mode, n_ids, n_docs, len, vocab, out);
    free(bytes);
    if (!why) return 1;
    sp_corpus_tokens_free(out);
    tc_warn(o, "token cache entry %s ignored (%s); tokenizing anew", path, why);
    return 0;
}

/* Writes through f and into the running checksum h. */
static void put(FILE *f, sp_sha256 *h, const void *p, size_t n) {
    if (n) fwrite(p, 1, n, f);
    sp_sha256_update(h, p, n);
}

static void write_body(FILE *f, const uint8_t key[32], uint32_t mode, size_t len,
                       const sp_corpus_tokens *t) {
    sp_sha256 h;
    sp_sha256_init(&h);
    uint8_t head[HEADER_BYTES];
    uint32_t version = TC_VERSION;
    uint64_t counts[3] = {t->n, t->n_docs, len};
    memcpy(head, entry_magic, 8);
    memcpy(head + 8, &version, 4);
    memcpy(head + 12, &mode, 4);
    memcpy(head + 16, key, 32);
    memcpy(head + 48, counts, sizeof counts);
    put(f, &h, head, sizeof head);
    for (size_t i = 0; i < t->n_docs; i++) {
        uint64_t d[4] = {t->docs[i].text_at, t->docs[i].text_len, t->docs[i].first,
                         t->docs[i].n};
        put(f, &h, d, sizeof d);
    }
    put(f, &h, t->ids, t->n * sizeof *t->ids);
    uint8_t sum[32];
    sp_sha256_final(&h, sum);
    fwrite(sum, 1, sizeof sum, f);
}

int tc_write(const char *dir, const char *path, const uint8_t key[32], uint32_t mode, size_t len,
             const sp_corpus_tokens *t, const sp_token_cache_opts *o) {
    if (tc_make_dir(dir)) {
        tc_warn(o, "cannot create the token cache folder %s (%s); the ids are not cached", dir,
                strerror(errno));
        return -1;
    }
    sp_out out;
    sp_error err = {0};
    int rc = sp_out_open(&out, path, 0, &err);
    if (!rc) {
        write_body(out.fp, key, mode, len, t);
        rc = sp_out_commit(&out, &err);
    }
    sp_out_abort(&out);
    if (rc) tc_warn(o, "the token cache could not be written (%s); the ids are not cached",
                    err.msg);
    return rc ? -1 : 0;
}
