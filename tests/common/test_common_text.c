/* test_common_text.c — the text half of common/: string builder, JSON and terminal escaping,
 * strict UTF-8 and shape printing. JSON output is checked with a small strict validator and
 * decoder written here, independent of the code under test. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_common.h"

/* ---- string builder ---------------------------------------------------------------------- */

Test(strbuf, grows_across_many_appends) {
    sp_strbuf b = {0};
    for (int i = 0; i < 10000; i++) sp_sb_printf(&b, "%d,", i % 10);
    cr_assert(!b.oom);
    cr_assert_eq(b.len, 20000);
    cr_assert_eq(strlen(b.s), 20000);
    cr_assert_eq(b.s[0], '0');
    cr_assert_eq(b.s[19998], '9');
    cr_assert_geq(b.cap, b.len + 1);
    sp_sb_free(&b);
    cr_assert_null(b.s);
    cr_assert_eq(b.len, 0);
}

Test(strbuf, printf_longer_than_its_scratch_buffer) {
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    sp_strbuf b = {0};
    sp_sb_puts(&b, "<");
    sp_sb_printf(&b, "%s|%d", big, 42);
    cr_assert_eq(b.len, 1 + 999 + 3);
    cr_assert_eq(strncmp(b.s + 1000, "|42", 3), 0);
    cr_assert_eq(b.s[b.len], 0);
    sp_sb_free(&b);
}

Test(strbuf, put_keeps_embedded_nul_bytes) {
    sp_strbuf b = {0};
    sp_sb_put(&b, "a\0b", 3);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(memcmp(b.s, "a\0b", 4), 0);
    sp_sb_free(&b);
}

Test(strbuf, out_of_memory_is_sticky) {
    sp_strbuf b = {0};
    sp_sb_puts(&b, "abc");
    /* a request no allocator can meet marks the builder and leaves it unchanged */
    sp_sb_put(&b, "", SIZE_MAX - 2);
    cr_assert(b.oom);
    cr_assert_eq(b.len, 3);
    sp_sb_puts(&b, "more");
    sp_sb_printf(&b, "%d", 5);
    cr_assert_eq(b.len, 3, "an append after out-of-memory changed the builder");
    cr_assert_null(sp_sb_take(&b), "take after out-of-memory must report it");
    cr_assert(!b.oom && !b.s && !b.len, "take resets the builder");
}

Test(strbuf, take_hands_over_and_resets) {
    sp_strbuf b = {0};
    char *empty = sp_sb_take(&b);
    cr_assert_not_null(empty);
    cr_assert_str_eq(empty, "");
    free(empty);
    sp_sb_puts(&b, "hello");
    char *s = sp_sb_take(&b);
    cr_assert_str_eq(s, "hello");
    cr_assert(!b.s && !b.len && !b.cap);
    sp_sb_puts(&b, "again");
    cr_assert_str_eq(b.s, "again");
    cr_assert_neq(b.s, s);
    free(s);
    sp_sb_free(&b);
}

/* ---- a strict JSON string checker and decoder ------------------------------------------- */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Independent UTF-8 check of one sequence: returns its length or 0. */
static size_t seq_ok(const unsigned char *s, size_t left) {
    if (s[0] < 0x80) return 1;
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
             : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : 0;
    if (!n || left < n) return 0;
    for (size_t k = 1; k < n; k++)
        if ((s[k] & 0xc0) != 0x80) return 0;
    if (s[0] == 0xe0 && s[1] < 0xa0) return 0;  /* overlong */
    if (s[0] == 0xed && s[1] >= 0xa0) return 0; /* surrogate */
    if (s[0] == 0xf0 && s[1] < 0x90) return 0;  /* overlong */
    if (s[0] == 0xf4 && s[1] >= 0x90) return 0; /* above U+10FFFF */
    return n;
}

static void put_utf8(sp_strbuf *b, unsigned cp) {
    char t[4];
    size_t n;
    if (cp < 0x80) t[0] = (char)cp, n = 1;
    else if (cp < 0x800) t[0] = (char)(0xc0 | cp >> 6), t[1] = (char)(0x80 | (cp & 63)), n = 2;
    else if (cp < 0x10000)
        t[0] = (char)(0xe0 | cp >> 12), t[1] = (char)(0x80 | ((cp >> 6) & 63)),
        t[2] = (char)(0x80 | (cp & 63)), n = 3;
    else
        t[0] = (char)(0xf0 | cp >> 18), t[1] = (char)(0x80 | ((cp >> 12) & 63)),
        t[2] = (char)(0x80 | ((cp >> 6) & 63)), t[3] = (char)(0x80 | (cp & 63)), n = 4;
    sp_sb_put(b, t, n);
}

/* Validates j[0..n) as exactly one JSON string (RFC 8259) and decodes it into out; 0 if not. */
static int json_string_decode(const char *j, size_t n, sp_strbuf *out) {
    const unsigned char *s = (const unsigned char *)j;
    if (n < 2 || s[0] != '"' || s[n - 1] != '"') return 0;
    for (size_t i = 1; i < n - 1;) {
        unsigned char c = s[i];
        if (c == '"' || c < 0x20) return 0;
        if (c != '\\') {
            size_t k = seq_ok(s + i, n - 1 - i);
            if (!k) return 0;
            sp_sb_put(out, j + i, k);
            i += k;
            continue;
        }
        if (i + 1 >= n - 1) return 0;
        char e = (char)s[i + 1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            sp_sb_put(out, &map[simple - "\"\\/bfnrt"], 1);
            i += 2;
            continue;
        }
        if (e != 'u' || i + 6 > n - 1) return 0;
        unsigned cp = 0;
        for (int k = 0; k < 4; k++) {
            int h = hexval(j[i + 2 + k]);
            if (h < 0) return 0;
            cp = cp * 16 + (unsigned)h;
        }
        if (cp >= 0xd800 && cp <= 0xdfff) return 0;  /* the escaper never needs pairs */
        put_utf8(out, cp);
        i += 6;
    }
    return 1;
}

static char *escaped(const char *s, size_t n, size_t *len) {
    char *buf = NULL;
    size_t blen = 0;
    FILE *m = open_memstream(&buf, &blen);
    cr_assert_not_null(m);
    cr_assert_eq(sp_json_escape(m, s, n), 0);
    cr_assert_eq(fclose(m), 0);
    *len = blen;
    return buf;
}

/* ---- JSON escaping ----------------------------------------------------------------------- */

Test(json_escape, every_single_byte_gives_valid_json) {
    for (int c = 0; c < 256; c++) {
        char in = (char)c;
        size_t n;
        char *j = escaped(&in, 1, &n);
        sp_strbuf d = {0};
        cr_assert(json_string_decode(j, n, &d), "byte 0x%02x gave invalid JSON: %s", c, j);
        if (c < 0x80) {
            cr_assert_eq(d.len, 1, "byte 0x%02x", c);
            cr_assert_eq((unsigned char)d.s[0], c, "byte 0x%02x does not round-trip", c);
        } else {
            cr_assert_str_eq(j, "\"\\ufffd\"", "lone byte 0x%02x must become U+FFFD", c);
        }
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            cr_assert_eq(j[1], '\\', "byte 0x%02x not escaped: %s", c, j);
        sp_sb_free(&d);
        free(j);
    }
}

Test(json_escape, the_documented_escapes) {
    const char in[] = "a\"b\\c\nd\te\rf\x01g\x7fh\x1f";
    size_t n;
    char *j = escaped(in, sizeof in - 1, &n);
    cr_assert_str_eq(j, "\"a\\\"b\\\\c\\nd\\te\\rf\\u0001g\\u007fh\\u001f\"");
    free(j);
    j = escaped("", 0, &n);
    cr_assert_str_eq(j, "\"\"");
    free(j);
    j = escaped("nul\0x", 5, &n);
    cr_assert_str_eq(j, "\"nul\\u0000x\"");
    free(j);
}

Test(json_escape, invalid_utf8_becomes_replacement_characters) {
    /* overlong '/', a surrogate, above U+10FFFF, a truncated sequence, a stray continuation */
    const char in[] = "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82|\x80|\xc3\xa9";
    size_t n;
    char *j = escaped(in, sizeof in - 1, &n);
    cr_assert_str_eq(j, "\"\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd|"
                        "\\ufffd\\ufffd|\\ufffd|\xc3\xa9\"");
    free(j);
}

Test(json_escape, random_bytes_always_give_valid_json) {
    srand(1234);
    for (int t = 0; t < 3000; t++) {
        char in[64];
        size_t len = (size_t)(rand() % 64);
        for (size_t i = 0; i < len; i++) in[i] = (char)(rand() % 256);
        size_t n;
        char *j = escaped(in, len, &n);
        sp_strbuf d = {0};
        cr_assert(json_string_decode(j, n, &d), "random string %d gave invalid JSON", t);
        sp_sb_free(&d);
        free(j);
    }
}

Test(json_escape, valid_utf8_round_trips_exactly) {
    srand(99);
    static const unsigned ranges[][2] = {{0, 0x7f}, {0x80, 0x7ff}, {0x800, 0xd7ff},
                                         {0xe000, 0xffff}, {0x10000, 0x10ffff}};
    for (int t = 0; t < 2000; t++) {
        sp_strbuf in = {0};
        int k = rand() % 20;
        for (int i = 0; i < k; i++) {
            const unsigned *r = ranges[rand() % 5];
            put_utf8(&in, r[0] + (unsigned)rand() % (r[1] - r[0] + 1));
        }
        size_t n;
        char *j = escaped(in.s ? in.s : "", in.len, &n);
        sp_strbuf d = {0};
        cr_assert(json_string_decode(j, n, &d), "invalid JSON for valid UTF-8 input %d", t);
        cr_assert_eq(d.len, in.len, "round trip %d changed the length", t);
        cr_assert(in.len == 0 || memcmp(d.s, in.s, in.len) == 0, "round trip %d differs", t);
        sp_sb_free(&d);
        sp_sb_free(&in);
        free(j);
    }
}

Test(json_escape, string_builder_gives_the_same_text) {
    const char in[] = "x\"\x01\xff\xc3\xa9\n";
    size_t n;
    char *j = escaped(in, sizeof in - 1, &n);
    sp_strbuf b = {0};
    sp_sb_puts(&b, "[");
    sp_sb_json_string(&b, in, sizeof in - 1);
    cr_assert_eq(b.len, n + 1);
    cr_assert_eq(memcmp(b.s + 1, j, n), 0, "builder: %s, stream: %s", b.s, j);
    sp_sb_free(&b);
    free(j);
}

Test(json_escape, a_failed_write_is_reported) {
    FILE *full = fopen("/dev/full", "w");
    if (!full) cr_skip_test("/dev/full is not available here");
    setvbuf(full, NULL, _IONBF, 0);
    cr_assert_eq(sp_json_escape(full, "abc", 3), -1);
    fclose(full);
}

/* ---- terminal text ----------------------------------------------------------------------- */

static char *text_escaped(const char *s, size_t n) {
    char *buf = NULL;
    size_t blen = 0;
    FILE *m = open_memstream(&buf, &blen);
    cr_assert_eq(sp_text_escape(m, s, n), 0);
    fclose(m);
    return buf;
}

Test(text_escape, controls_and_backslash_are_escaped) {
    const char in[] = "a\nb\tc\rd\\e\x1b[2Jf\x7fg\xc2\x9bh\xc3\xa9";
    char *t = text_escaped(in, sizeof in - 1);
    cr_assert_str_eq(t, "a\\nb\\tc\\rd\\\\e\\x1b[2Jf\\x7fg\\u009bh\xc3\xa9");
    for (const char *c = t; *c; c++)
        cr_assert((unsigned char)*c >= 0x20 && *c != 0x7f, "control byte left in '%s'", t);
    free(t);
}

Test(text_escape, raw_c1_bytes_are_escaped_and_other_text_kept) {
    /* a lone 0x9b is CSI on an 8-bit terminal; the euro sign holds 0x82 as a continuation */
    const char in[] = "a\x9b" "b\xe2\x82\xac" "c\xe9" "d\xc2";
    char *t = text_escaped(in, sizeof in - 1);
    cr_assert_str_eq(t, "a\\x9bb\xe2\x82\xac" "c\xe9" "d\xc2");
    free(t);
}

Test(text_escape, every_c0_byte_is_escaped) {
    for (int c = 0; c < 0x20; c++) {
        char in = (char)c;
        char *t = text_escaped(&in, 1), want[8];
        if (c == '\n' || c == '\t' || c == '\r')
            snprintf(want, sizeof want, "\\%c", c == '\n' ? 'n' : c == '\t' ? 't' : 'r');
        else
            snprintf(want, sizeof want, "\\x%02x", c);
        cr_assert_str_eq(t, want, "byte 0x%02x", c);
        free(t);
    }
}

/* ---- UTF-8 ------------------------------------------------------------------------------- */

#define U(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

Test(utf8, accepts_the_boundaries) {
    cr_assert(sp_utf8_valid(U("")));
    cr_assert(sp_utf8_valid(U("plain ascii \x7f")));
    cr_assert(sp_utf8_valid(U("\xc2\x80")));         /* U+0080 */
    cr_assert(sp_utf8_valid(U("\xdf\xbf")));         /* U+07FF */
    cr_assert(sp_utf8_valid(U("\xe0\xa0\x80")));     /* U+0800 */
    cr_assert(sp_utf8_valid(U("\xed\x9f\xbf")));     /* U+D7FF */
    cr_assert(sp_utf8_valid(U("\xee\x80\x80")));     /* U+E000 */
    cr_assert(sp_utf8_valid(U("\xef\xbf\xbf")));     /* U+FFFF */
    cr_assert(sp_utf8_valid(U("\xf0\x90\x80\x80"))); /* U+10000 */
    cr_assert(sp_utf8_valid(U("\xf4\x8f\xbf\xbf"))); /* U+10FFFF */
    cr_assert(sp_utf8_valid((const uint8_t *)"a\0b", 3), "NUL is valid UTF-8");
}

Test(utf8, refuses_overlongs_surrogates_and_beyond) {
    cr_assert(!sp_utf8_valid(U("\xc0\x80")));         /* overlong NUL */
    cr_assert(!sp_utf8_valid(U("\xc1\xbf")));         /* overlong */
    cr_assert(!sp_utf8_valid(U("\xe0\x9f\xbf")));     /* overlong U+07FF */
    cr_assert(!sp_utf8_valid(U("\xf0\x8f\xbf\xbf"))); /* overlong U+FFFF */
    cr_assert(!sp_utf8_valid(U("\xed\xa0\x80")));     /* U+D800 */
    cr_assert(!sp_utf8_valid(U("\xed\xbf\xbf")));     /* U+DFFF */
    cr_assert(!sp_utf8_valid(U("\xf4\x90\x80\x80"))); /* U+110000 */
    cr_assert(!sp_utf8_valid(U("\xf5\x80\x80\x80")));
    cr_assert(!sp_utf8_valid(U("\xf8\x88\x80\x80\x80")));
    cr_assert(!sp_utf8_valid(U("\xff")));
    cr_assert(!sp_utf8_valid(U("\x80")));             /* stray continuation */
}

Test(utf8, refuses_truncated_sequences) {
    cr_assert(!sp_utf8_valid(U("\xc3")));
    cr_assert(!sp_utf8_valid(U("\xe2\x82")));
    cr_assert(!sp_utf8_valid(U("\xf0\x9f\x98")));
    cr_assert(!sp_utf8_valid(U("ok\xf0\x9f\x98")));
    cr_assert(!sp_utf8_valid(U("\xe2\x82x")));       /* continuation replaced */
    /* the length bound is honoured: a valid sequence cut by len is invalid */
    cr_assert(!sp_utf8_valid((const uint8_t *)"\xc3\xa9", 1));
}

Test(utf8, sequence_lengths) {
    cr_assert_eq(sp_utf8_seq_len(U("a")), 1);
    cr_assert_eq(sp_utf8_seq_len(U("\xc3\xa9")), 2);
    cr_assert_eq(sp_utf8_seq_len(U("\xe2\x82\xac")), 3);
    cr_assert_eq(sp_utf8_seq_len(U("\xf0\x9f\x98\x80")), 4);
    cr_assert_eq(sp_utf8_seq_len(U("\xf0\x9f\x98")), 0);
    cr_assert_eq(sp_utf8_seq_len(U("\xc0\x80")), 0);
    cr_assert_eq(sp_utf8_seq_len((const uint8_t *)"a", 0), 0);
}

/* ---- shapes ------------------------------------------------------------------------------ */

Test(shape, formats_and_scalar) {
    char buf[64];
    uint64_t d[3] = {2, 3, 18446744073709551615ull};
    cr_assert_str_eq(sp_shape_format(buf, sizeof buf, 2, d), "[2, 3]");
    cr_assert_str_eq(sp_shape_format(buf, sizeof buf, 1, d), "[2]");
    cr_assert_str_eq(sp_shape_format(buf, sizeof buf, 0, d), "[]");
    cr_assert_str_eq(sp_shape_format(buf, sizeof buf, 0, NULL), "[]");
    cr_assert_str_eq(sp_shape_format(buf, sizeof buf, 3, d), "[2, 3, 18446744073709551615]");
    cr_assert_eq(sp_shape_format(buf, sizeof buf, 1, d), buf);
}

Test(shape, cut_to_fit_with_dots) {
    uint64_t d[8] = {1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024};
    char full[128];
    sp_shape_format(full, sizeof full, 8, d);
    cr_assert_str_eq(full, "[1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024]");
    for (size_t cap = 1; cap < strlen(full) + 1; cap++) {
        char buf[128];
        memset(buf, 'Z', sizeof buf);
        sp_shape_format(buf, cap, 8, d);
        size_t n = strlen(buf);
        cr_assert_lt(n, cap, "cap %zu: '%s' does not fit", cap, buf);
        cr_assert_eq(buf[cap], 'Z', "cap %zu: wrote past the buffer", cap);
        if (cap >= 4) {
            cr_assert_eq(strcmp(buf + n - 3, "..."), 0, "cap %zu: '%s' not cut with ...", cap, buf);
            cr_assert_eq(strncmp(buf, full, n - 3), 0, "cap %zu: '%s' not a prefix", cap, buf);
        }
    }
    char buf[128];
    sp_shape_format(buf, sizeof full, 8, d);
    cr_assert_str_eq(buf, full, "a buffer that fits gets the whole shape");
}
