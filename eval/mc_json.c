/* mc_json.c — a small strict JSON reader (sparsa_workbench.h, sp_jv_*) for the task files of
 * `mc` and the result files of `plot`: a recursive descent over RFC 8259 that builds a tree of
 * malloc'd values and refuses anything lenient parsers accept (trailing commas, duplicate keys,
 * lone surrogates, invalid UTF-8, raw control characters). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_workbench.h"

#define MAX_DEPTH 64

typedef struct reader {
    const char *s;
    size_t len, pos;
    int depth;
    sp_error *err;
} reader;

static int bad(reader *r, const char *what) {
    return sp_fail(r->err, SP_ERR_INPUT, "byte %zu: %s", r->pos, what);
}

static void skip_ws(reader *r) {
    while (r->pos < r->len && strchr(" \t\r\n", r->s[r->pos]) && r->s[r->pos]) r->pos++;
}

static int parse_value(reader *r, sp_jv *v);

static int hex4(reader *r, unsigned *out) {
    if (r->len - r->pos < 4) return bad(r, "truncated \\u escape");
    unsigned u = 0;
    for (int i = 0; i < 4; i++) {
        char c = r->s[r->pos++];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return bad(r, "bad \\u escape");
        u = u * 16 + (unsigned)d;
    }
    *out = u;
    return SP_OK;
}

static void put_utf8(sp_strbuf *b, unsigned cp) {
    char o[4];
    size_t n;
    if (cp < 0x80) o[0] = (char)cp, n = 1;
    else if (cp < 0x800) o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 63)), n = 2;
    else if (cp < 0x10000)
        o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | (cp >> 6 & 63)),
        o[2] = (char)(0x80 | (cp & 63)), n = 3;
    else
        o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | (cp >> 12 & 63)),
        o[2] = (char)(0x80 | (cp >> 6 & 63)), o[3] = (char)(0x80 | (cp & 63)), n = 4;
    sp_sb_put(b, o, n);
}

/* A \uXXXX escape (the backslash and 'u' already read), a surrogate pair when it is one. */
static int unicode_escape(reader *r, sp_strbuf *b) {
    unsigned u, lo;
    if (hex4(r, &u)) return SP_ERR_INPUT;
    if (u >= 0xDC00 && u <= 0xDFFF) return bad(r, "lone low surrogate");
    if (u >= 0xD800 && u <= 0xDBFF) {
        if (r->len - r->pos < 2 || r->s[r->pos] != '\\' || r->s[r->pos + 1] != 'u')
            return bad(r, "lone high surrogate");
        r->pos += 2;
        if (hex4(r, &lo)) return SP_ERR_INPUT;
        if (lo < 0xDC00 || lo > 0xDFFF) return bad(r, "lone high surrogate");
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
    }
    put_utf8(b, u);
    return SP_OK;
}

static int parse_string(reader *r, char **out, size_t *out_len) {
    sp_strbuf b = {0};
    r->pos++; /* the opening quote */
    int rc = SP_OK;
    while (!rc) {
        if (r->pos >= r->len) { rc = bad(r, "unterminated string"); break; }
        unsigned char c = (unsigned char)r->s[r->pos];
        if (c == '"') { r->pos++; break; }
        if (c < 0x20) { rc = bad(r, "control character in a string"); break; }
        if (c != '\\') {
            size_t n = sp_utf8_seq_len((const uint8_t *)r->s + r->pos, r->len - r->pos);
            if (!n) { rc = bad(r, "invalid UTF-8"); break; }
            sp_sb_put(&b, r->s + r->pos, n);
            r->pos += n;
            continue;
        }
        if (++r->pos >= r->len) { rc = bad(r, "unterminated string"); break; }
        char e = r->s[r->pos++];
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *k = e ? strchr(from, e) : NULL;
        if (k) sp_sb_put(&b, to + (k - from), 1);
        else if (e == 'u') rc = unicode_escape(r, &b);
        else rc = bad(r, "bad escape in a string");
    }
    if (!rc && b.oom) rc = sp_fail(r->err, SP_ERR_RUNTIME, "out of memory");
    if (rc) { sp_sb_free(&b); return rc; }
    *out_len = b.len;
    *out = sp_sb_take(&b);
    return *out ? SP_OK : sp_fail(r->err, SP_ERR_RUNTIME, "out of memory");
}

static int parse_number(reader *r, sp_jv *v) {
    size_t p = r->pos;
    const char *s = r->s;
    if (p < r->len && s[p] == '-') p++;
    if (p >= r->len || s[p] < '0' || s[p] > '9') return bad(r, "bad number");
    if (s[p] == '0') p++;
    else while (p < r->len && s[p] >= '0' && s[p] <= '9') p++;
    if (p < r->len && s[p] == '.') {
        if (++p >= r->len || s[p] < '0' || s[p] > '9') return bad(r, "bad number");
        while (p < r->len && s[p] >= '0' && s[p] <= '9') p++;
    }
    if (p < r->len && (s[p] == 'e' || s[p] == 'E')) {
        p++;
        if (p < r->len && (s[p] == '+' || s[p] == '-')) p++;
        if (p >= r->len || s[p] < '0' || s[p] > '9') return bad(r, "bad number");
        while (p < r->len && s[p] >= '0' && s[p] <= '9') p++;
    }
    char buf[64];
    if (p - r->pos >= sizeof buf) return bad(r, "number too long");
    memcpy(buf, s + r->pos, p - r->pos);
    buf[p - r->pos] = 0;
    v->type = SP_JV_NUMBER;
    v->number = strtod(buf, NULL);
    if (!isfinite(v->number)) return bad(r, "number out of range");
    r->pos = p;
    return SP_OK;
}

/* Grows items (and keys, for objects) by one slot. */
static int grow(reader *r, sp_jv *v, size_t *cap) {
    if (v->n < *cap) return SP_OK;
    size_t nc = *cap ? *cap * 2 : 4;
    sp_jv *items = realloc(v->items, nc * sizeof *items);
    if (items) v->items = items;
    if (items && v->type == SP_JV_OBJECT) {
        char **keys = realloc(v->keys, nc * sizeof *keys);
        if (!keys) items = NULL;
        else v->keys = keys;
    }
    if (!items) return sp_fail(r->err, SP_ERR_RUNTIME, "out of memory");
    *cap = nc;
    return SP_OK;
}

static int parse_member_key(reader *r, sp_jv *v) {
    skip_ws(r);
    if (r->pos >= r->len || r->s[r->pos] != '"') return bad(r, "expected a key");
    char *key;
    size_t klen;
    int rc = parse_string(r, &key, &klen);
    if (rc) return rc;
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->keys[i], key)) {
            free(key);
            return bad(r, "key given twice");
        }
    v->keys[v->n] = key;
    skip_ws(r);
    if (r->pos >= r->len || r->s[r->pos] != ':') return free(key), bad(r, "expected ':'");
    r->pos++;
    return SP_OK;
}

/* An array or object: items separated by commas, no trailing comma. */
static int parse_container(reader *r, sp_jv *v, char close) {
    if (++r->depth > MAX_DEPTH) return bad(r, "nesting too deep");
    v->type = close == ']' ? SP_JV_ARRAY : SP_JV_OBJECT;
    r->pos++;
    size_t cap = 0;
    skip_ws(r);
    if (r->pos < r->len && r->s[r->pos] == close) {
        r->pos++;
        r->depth--;
        return SP_OK;
    }
    for (;;) {
        int rc = grow(r, v, &cap);
        if (!rc && v->type == SP_JV_OBJECT) rc = parse_member_key(r, v);
        if (rc) return rc;
        memset(&v->items[v->n], 0, sizeof v->items[v->n]);
        rc = parse_value(r, &v->items[v->n]);
        v->n++; /* counted even on failure, so sp_jv_free releases the partial item */
        if (rc) return rc;
        skip_ws(r);
        if (r->pos < r->len && r->s[r->pos] == ',') { r->pos++; continue; }
        if (r->pos < r->len && r->s[r->pos] == close) { r->pos++; break; }
        return bad(r, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
    }
    r->depth--;
    return SP_OK;
}

static int literal(reader *r, const char *word, sp_jv *v, sp_jv_type t, int b) {
    size_t n = strlen(word);
    if (r->len - r->pos < n || memcmp(r->s + r->pos, word, n)) return bad(r, "unexpected text");
    r->pos += n;
    v->type = t;
    v->boolean = b;
    return SP_OK;
}

static int parse_value(reader *r, sp_jv *v) {
    skip_ws(r);
    if (r->pos >= r->len) return bad(r, "expected a value");
    switch (r->s[r->pos]) {
    case '{': return parse_container(r, v, '}');
    case '[': return parse_container(r, v, ']');
    case '"': v->type = SP_JV_STRING; return parse_string(r, &v->str, &v->len);
    case 't': return literal(r, "true", v, SP_JV_BOOL, 1);
    case 'f': return literal(r, "false", v, SP_JV_BOOL, 0);
    case 'n': return literal(r, "null", v, SP_JV_NULL, 0);
    default: return parse_number(r, v);
    }
}

int sp_jv_parse(const char *text, size_t len, sp_jv *out, sp_error *err) {
    memset(out, 0, sizeof *out);
    reader r = {text, len, 0, 0, err};
    int rc = parse_value(&r, out);
    if (!rc) {
        skip_ws(&r);
        if (r.pos != len) rc = bad(&r, "text after the value");
    }
    if (rc) sp_jv_free(out);
    return rc;
}

void sp_jv_free(sp_jv *v) {
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        if (v->items) sp_jv_free(&v->items[i]);
        if (v->keys && v->type == SP_JV_OBJECT) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    memset(v, 0, sizeof *v);
}

const sp_jv *sp_jv_get(const sp_jv *v, const char *key) {
    if (!v || v->type != SP_JV_OBJECT) return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->keys[i], key)) return &v->items[i];
    return NULL;
}
