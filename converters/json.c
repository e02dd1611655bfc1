/* json.c — a small strict JSON parser for config.json, params.json, *.index.json and
 * safetensors headers. Recursion is bounded by a nesting limit; every length is bounded by the
 * input. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_reader.h"

#define JSON_MAX_DEPTH 64

typedef struct {
    const char *p, *end, *start;
    sp_error *err;
} jp;

static int jfail(jp *j, const char *what) {
    return sp_fail(j->err, SP_ERR_INPUT, "invalid JSON at byte %zu: %s", (size_t)(j->p - j->start), what);
}

static void skip_ws(jp *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

void sp_json_free(sp_json *v) {
    if (!v) return;
    if (v->type == SP_JSON_ARRAY || v->type == SP_JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++) {
            sp_json_free(v->items[i]);
            if (v->keys) free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
    }
    free(v->str);
    free(v);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(jp *j, unsigned *out) {
    if (j->end - j->p < 4) return jfail(j, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(j->p[i]);
        if (h < 0) return jfail(j, "bad \\u escape");
        v = v * 16 + (unsigned)h;
    }
    j->p += 4;
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned c) {
    if (c < 0x80) { o[0] = (char)c; return 1; }
    if (c < 0x800) { o[0] = (char)(0xc0 | (c >> 6)); o[1] = (char)(0x80 | (c & 0x3f)); return 2; }
    if (c < 0x10000) {
        o[0] = (char)(0xe0 | (c >> 12)); o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        o[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (c >> 18)); o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3f)); o[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* Parses a string starting at the opening quote; the decoded form is never longer. */
static int parse_string(jp *j, char **out, size_t *outlen) {
    j->p++; /* opening quote */
    const char *s = j->p;
    while (j->p < j->end && *j->p != '"') {
        if (*j->p == '\\') j->p++;
        j->p++;
    }
    if (j->p >= j->end) return jfail(j, "unterminated string");
    size_t raw = (size_t)(j->p - s);
    char *buf = malloc(raw + 1);
    if (!buf) return sp_fail(j->err, SP_ERR_RUNTIME, "out of memory");
    size_t o = 0;
    j->p = s;
    while (*j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20) { free(buf); return jfail(j, "control character in string"); }
        if (c == '\\') {
            j->p++;
            char e = *j->p++;
            switch (e) {
            case '"': buf[o++] = '"'; break;
            case '\\': buf[o++] = '\\'; break;
            case '/': buf[o++] = '/'; break;
            case 'b': buf[o++] = '\b'; break;
            case 'f': buf[o++] = '\f'; break;
            case 'n': buf[o++] = '\n'; break;
            case 'r': buf[o++] = '\r'; break;
            case 't': buf[o++] = '\t'; break;
            case 'u': {
                unsigned u;
                if (read_hex4(j, &u)) { free(buf); return SP_ERR_INPUT; }
                if (u >= 0xd800 && u <= 0xdbff) {
                    unsigned lo;
                    if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') {
                        free(buf);
                        return jfail(j, "unpaired surrogate");
                    }
                    j->p += 2;
                    if (read_hex4(j, &lo)) { free(buf); return SP_ERR_INPUT; }
                    if (lo < 0xdc00 || lo > 0xdfff) { free(buf); return jfail(j, "unpaired surrogate"); }
                    u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                } else if (u >= 0xdc00 && u <= 0xdfff) {
                    free(buf);
                    return jfail(j, "unpaired surrogate");
                }
                if (u == 0) { free(buf); return jfail(j, "\\u0000 is not supported"); }
                /* the escape used >= 6 raw bytes, the encoding <= 4 */
                o += put_utf8(buf + o, u);
                break;
            }
            default: free(buf); j->p--; return jfail(j, "bad escape");
            }
        } else {
            size_t n = sp_utf8_seq_len((const uint8_t *)j->p, (size_t)(j->end - j->p));
            if (!n || j->p + n > s + raw) { free(buf); return jfail(j, "invalid UTF-8 in string"); }
            memcpy(buf + o, j->p, n);
            o += n;
            j->p += n;
        }
    }
    j->p++; /* closing quote */
    buf[o] = 0;
    *out = buf;
    *outlen = o;
    return 0;
}

static int parse_number(jp *j, sp_json *v) {
    const char *s = j->p;
    int frac = 0;
    if (j->p < j->end && *j->p == '-') j->p++;
    if (j->p >= j->end) return jfail(j, "bad number");
    if (*j->p == '0') j->p++;
    else if (*j->p >= '1' && *j->p <= '9') while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    else return jfail(j, "bad number");
    if (j->p < j->end && *j->p == '.') {
        frac = 1;
        j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9') return jfail(j, "bad number");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        frac = 1;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9') return jfail(j, "bad number");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    size_t n = (size_t)(j->p - s);
    if (n > 400) return jfail(j, "number too long");
    char tmp[401];
    memcpy(tmp, s, n);
    tmp[n] = 0;
    v->type = SP_JSON_NUMBER;
    v->number = strtod(tmp, NULL);
    if (!frac) {
        errno = 0;
        long long ll = strtoll(tmp, NULL, 10);
        if (errno == 0) {
            v->is_integer = 1;
            v->integer = ll;
        }
    }
    return 0;
}

static int match_lit(jp *j, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n)) return jfail(j, "unexpected token");
    j->p += n;
    return 0;
}

static int push_item(jp *j, sp_json *v, sp_json *item, char *key) {
    if ((v->len & (v->len - 1)) == 0) { /* grow at powers of two */
        size_t cap = v->len ? v->len * 2 : 4;
        sp_json **ni = realloc(v->items, cap * sizeof *ni);
        if (!ni) return sp_fail(j->err, SP_ERR_RUNTIME, "out of memory");
        v->items = ni;
        if (key || v->type == SP_JSON_OBJECT) {
            char **nk = realloc(v->keys, cap * sizeof *nk);
            if (!nk) return sp_fail(j->err, SP_ERR_RUNTIME, "out of memory");
            v->keys = nk;
        }
    }
    v->items[v->len] = item;
    if (v->type == SP_JSON_OBJECT) v->keys[v->len] = key;
    v->len++;
    return 0;
}

static int parse_value(jp *j, sp_json **out, int depth);

static int cmp_keyp(const void *a, const void *b) {
    return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

/* Duplicate keys are an error; sorting keeps this O(n log n) for huge headers. */
static int check_duplicates(jp *j, const sp_json *v) {
    if (v->len < 2) return 0;
    char ***ptrs = malloc(v->len * sizeof *ptrs);
    if (!ptrs) return sp_fail(j->err, SP_ERR_RUNTIME, "out of memory");
    for (size_t i = 0; i < v->len; i++) ptrs[i] = &v->keys[i];
    qsort(ptrs, v->len, sizeof *ptrs, cmp_keyp);
    int rc = 0;
    for (size_t i = 1; i < v->len && !rc; i++)
        if (!strcmp(*ptrs[i - 1], *ptrs[i]))
            rc = sp_fail(j->err, SP_ERR_INPUT, "invalid JSON: duplicate key \"%.200s\"", *ptrs[i]);
    free(ptrs);
    return rc;
}

static int parse_container(jp *j, sp_json *v, int depth) {
    int obj = *j->p == '{';
    char close = obj ? '}' : ']';
    v->type = obj ? SP_JSON_OBJECT : SP_JSON_ARRAY;
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(j);
        if (obj) {
            size_t kl;
            if (j->p >= j->end || *j->p != '"') return jfail(j, "expected a key");
            if (parse_string(j, &key, &kl)) return SP_ERR_INPUT;
            skip_ws(j);
            if (j->p >= j->end || *j->p != ':') { free(key); return jfail(j, "expected ':'"); }
            j->p++;
        }
        sp_json *item = NULL;
        if (parse_value(j, &item, depth + 1)) { free(key); return SP_ERR_INPUT; }
        if (push_item(j, v, item, key)) { free(key); sp_json_free(item); return SP_ERR_RUNTIME; }
        skip_ws(j);
        if (j->p >= j->end) return jfail(j, "unterminated container");
        if (*j->p == ',') { j->p++; continue; }
        if (*j->p == close) { j->p++; return obj ? check_duplicates(j, v) : 0; }
        return jfail(j, "expected ',' or end of container");
    }
}

static int parse_value(jp *j, sp_json **out, int depth) {
    if (depth > JSON_MAX_DEPTH) return jfail(j, "nesting deeper than 64");
    skip_ws(j);
    if (j->p >= j->end) return jfail(j, "unexpected end");
    sp_json *v = calloc(1, sizeof *v);
    if (!v) return sp_fail(j->err, SP_ERR_RUNTIME, "out of memory");
    int rc = 0;
    char c = *j->p;
    if (c == '{' || c == '[') rc = parse_container(j, v, depth);
    else if (c == '"') { v->type = SP_JSON_STRING; rc = parse_string(j, &v->str, &v->len); }
    else if (c == 't') { v->type = SP_JSON_BOOL; v->boolean = 1; rc = match_lit(j, "true"); }
    else if (c == 'f') { v->type = SP_JSON_BOOL; rc = match_lit(j, "false"); }
    else if (c == 'n') { v->type = SP_JSON_NULL; rc = match_lit(j, "null"); }
    else if (c == '-' || (c >= '0' && c <= '9')) rc = parse_number(j, v);
    else rc = jfail(j, "unexpected character");
    if (rc) {
        sp_json_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

int sp_json_parse(const char *text, size_t len, sp_json **out, sp_error *err) {
    jp j = {text, text + len, text, err};
    *out = NULL;
    /* a UTF-8 byte order mark is tolerated (some editors write one into config.json) */
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) j.p += 3;
    sp_json *v = NULL;
    if (parse_value(&j, &v, 0)) return err ? err->code : SP_ERR_INPUT;
    skip_ws(&j);
    if (j.p != j.end) {
        sp_json_free(v);
        return jfail(&j, "trailing bytes after the value");
    }
    *out = v;
    return 0;
}

const sp_json *sp_json_get(const sp_json *obj, const char *key) {
    if (!obj || obj->type != SP_JSON_OBJECT) return NULL;
    for (size_t i = 0; i < obj->len; i++)
        if (!strcmp(obj->keys[i], key)) return obj->items[i];
    return NULL;
}
