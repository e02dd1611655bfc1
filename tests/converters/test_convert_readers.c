/* test_convert_readers.c — the checkpoint readers on their own: strict JSON, stored-only ZIP,
 * the restricted pickle machine, safetensors validation, SHA-256; hostile inputs are built here
 * in memory and must fail with one clear message, never crash. */
#include <criterion/criterion.h>

#include "checkpoint_reader.h"
#include "json_reader.h"
#include "pickle_reader.h"
#include "safetensors_reader.h"
#include "zip_reader.h"
#include "tu_convert.h"
#include <unistd.h>

/* ---- JSON -------------------------------------------------------------------------------- */

static int json_ok(const char *s, sp_json **out) {
    sp_error e = {0};
    return sp_json_parse(s, strlen(s), out, &e) == 0;
}

static void json_bad(const char *s, const char *msg_part) {
    sp_error e = {0};
    sp_json *j = NULL;
    cr_assert_eq(sp_json_parse(s, strlen(s), &j, &e), SP_ERR_INPUT, "accepted: %s", s);
    cr_assert_null(j);
    cr_assert(strstr(e.msg, msg_part), "message '%s' lacks '%s'", e.msg, msg_part);
}

Test(convert_json, parses_config_values) {
    sp_json *j;
    cr_assert(json_ok("{\"a\": 1, \"b\": -2.5e-3, \"c\": [true, false, null], \"d\": \"x\\u00e9\\ud83d\\ude00\", \"e\": {}}", &j));
    cr_assert_eq(sp_json_get(j, "a")->integer, 1);
    cr_assert(sp_json_get(j, "a")->is_integer);
    cr_assert_float_eq(sp_json_get(j, "b")->number, -2.5e-3, 1e-15);
    cr_assert(!sp_json_get(j, "b")->is_integer);
    cr_assert_eq(sp_json_get(j, "c")->len, 3);
    cr_assert_eq(sp_json_get(j, "c")->items[2]->type, SP_JSON_NULL);
    cr_assert_str_eq(sp_json_get(j, "d")->str, "x\xc3\xa9\xf0\x9f\x98\x80");
    cr_assert_null(sp_json_get(j, "zz"));
    sp_json_free(j);
}

Test(convert_json, rejects_malformed_and_ambiguous_input) {
    json_bad("{\"a\": 1, \"a\": 2}", "duplicate key");
    json_bad("{\"a\": 1} x", "trailing");
    json_bad("{\"a\": 01}", "");
    json_bad("{\"a\": \"\\u0000\"}", "\\u0000");
    json_bad("{\"a\": \"\\ud800\"}", "surrogate");
    json_bad("{\"a\": \"\x01\"}", "control");
    json_bad("{\"a\": \"\xff\"}", "UTF-8");
    json_bad("[1, 2", "");
    json_bad("", "unexpected end");
    char deep[200];
    memset(deep, '[', 70);
    memset(deep + 70, ']', 70);
    deep[140] = 0;
    json_bad(deep, "nesting");
}

/* ---- ZIP --------------------------------------------------------------------------------- */

static int zip_open_buf(const tu_buf *b, sp_zip **z, sp_error *e) { return sp_zip_open(b->b, b->n, z, e); }

Test(convert_zip, reads_stored_members_and_zip64) {
    for (int z64 = 0; z64 < 2; z64++) {
        tu_member m[2] = {{"sd/data.pkl", "hello", 5, 0, 0}, {"sd/data/0", "0123456789", 10, 0, 0}};
        tu_buf b = tu_zip(m, 2, z64);
        sp_zip *z;
        sp_error e = {0};
        cr_assert_eq(zip_open_buf(&b, &z, &e), 0, "zip64=%d: %s", z64, e.msg);
        cr_assert_eq(sp_zip_count(z), 2);
        const sp_zip_entry *en = sp_zip_find(z, "sd/data/0");
        cr_assert_not_null(en);
        cr_assert_eq(en->size, 10);
        cr_assert_eq(memcmp(b.b + en->data_offset, "0123456789", 10), 0);
        sp_zip_close(z);
        free(b.b);
    }
}

static void zip_bad(const tu_member *m, int n, int z64, const char *part) {
    tu_buf b = tu_zip(m, n, z64);
    sp_zip *z = NULL;
    sp_error e = {0};
    cr_assert_eq(zip_open_buf(&b, &z, &e), SP_ERR_INPUT, "accepted (expected '%s')", part);
    cr_assert(strstr(e.msg, part), "message '%s' lacks '%s'", e.msg, part);
    free(b.b);
}

Test(convert_zip, rejects_escaping_names_compression_and_huge_sizes) {
    tu_member esc[1] = {{"sd/../../etc/passwd", "x", 1, 0, 0}};
    zip_bad(esc, 1, 0, "escapes the folder");
    tu_member abs[1] = {{"/etc/passwd", "x", 1, 0, 0}};
    zip_bad(abs, 1, 0, "absolute");
    tu_member bs[1] = {{"sd\\..\\x", "x", 1, 0, 0}};
    zip_bad(bs, 1, 0, "backslash");
    tu_member defl[1] = {{"sd/data.pkl", "xx", 2, 8, 0}};
    zip_bad(defl, 1, 0, "compressed");
    /* a "zip bomb": a member that claims far more bytes than the archive has */
    tu_member bomb[1] = {{"sd/data/0", "x", 1, 0, (uint64_t)1 << 40}};
    zip_bad(bomb, 1, 1, "runs past");
    tu_member bomb32[1] = {{"sd/data/0", "x", 1, 0, 0xfffffff0u}};
    zip_bad(bomb32, 1, 0, "runs past");
    tu_member dup[2] = {{"a/b", "x", 1, 0, 0}, {"a/b", "y", 1, 0, 0}};
    zip_bad(dup, 2, 0, "duplicate");
}

Test(convert_zip, rejects_overlapping_members) {
    /* member 1 claims to extend over member 2's local header */
    tu_member m[2] = {{"a/x", "abc", 3, 0, 3 + 30 + 3 + 3}, {"a/y", "def", 3, 0, 0}};
    tu_buf b = tu_zip(m, 2, 0);
    sp_zip *z = NULL;
    sp_error e = {0};
    cr_assert_eq(zip_open_buf(&b, &z, &e), SP_ERR_INPUT);
    cr_assert(strstr(e.msg, "overlap"), "%s", e.msg);
    free(b.b);
}

Test(convert_zip, rejects_truncated_archives_at_every_length) {
    tu_member m[2] = {{"sd/data.pkl", "hello", 5, 0, 0}, {"sd/data/0", "0123456789", 10, 0, 0}};
    for (int z64 = 0; z64 < 2; z64++) {
        tu_buf b = tu_zip(m, 2, z64);
        for (size_t cut = 0; cut < b.n; cut++) {
            uint8_t *copy = malloc(cut ? cut : 1);
            memcpy(copy, b.b, cut);
            sp_zip *z = NULL;
            sp_error e = {0};
            int rc = sp_zip_open(copy, cut, &z, &e);
            cr_assert_eq(rc, SP_ERR_INPUT, "truncated to %zu accepted", cut);
            /* the reader's own one-line refusal, not an empty or foreign message */
            cr_assert(!strncmp(e.msg, "zip: ", 5) && !strchr(e.msg, '\n'), "truncated to %zu: '%s'", cut, e.msg);
            free(copy);
        }
        free(b.b);
    }
}

/* ---- pickle ------------------------------------------------------------------------------ */

static int pk_load(const void *p, size_t n, sp_pickle **out, sp_error *e) { return sp_pickle_load(p, n, out, e); }

static void pk_bad(const void *p, size_t n, const char *part) {
    sp_pickle *pk = NULL;
    sp_error e = {0};
    cr_assert_eq(pk_load(p, n, &pk, &e), SP_ERR_INPUT, "accepted (expected '%s')", part);
    cr_assert_null(pk);
    cr_assert(strstr(e.msg, part), "message '%s' lacks '%s'", e.msg, part);
}

Test(convert_pickle, builds_dicts_lists_and_scalars) {
    /* {'a': [1, 2.5, 'x', -300, 2**40], 'b': OrderedDict(), 't': True} with memo puts/gets */
    static const uint8_t p[] = "\x80\x02\x7d\x71\x00\x28\x58\x01\x00\x00\x00\x61\x71\x01\x5d\x71\x02\x28\x4b\x01\x47\x40\x04\x00"
        "\x00\x00\x00\x00\x00\x58\x01\x00\x00\x00\x78\x4a\xd4\xfe\xff\xff\x8a\x06\x00\x00\x00\x00\x00\x01"
        "\x65\x58\x01\x00\x00\x00\x62\x63\x63\x6f\x6c\x6c\x65\x63\x74\x69\x6f\x6e\x73\x0a\x4f\x72\x64\x65"
        "\x72\x65\x64\x44\x69\x63\x74\x0a\x29\x52\x58\x01\x00\x00\x00\x74\x88\x75\x2e";
    sp_pickle *pk;
    sp_error e = {0};
    cr_assert_eq(pk_load(p, sizeof p - 1, &pk, &e), 0, "%s", e.msg);
    const sp_pobj *r = sp_pickle_root(pk);
    cr_assert_eq(r->type, SP_PK_DICT);
    const sp_pobj *a = sp_pobj_dict_get(r, "a");
    cr_assert_eq(a->type, SP_PK_LIST);
    cr_assert_eq(a->n, 5);
    cr_assert_eq(a->items[0]->v.i, 1);
    cr_assert_float_eq(a->items[1]->v.f, 2.5, 0);
    cr_assert_str_eq(a->items[2]->s, "x");
    cr_assert_eq(a->items[3]->v.i, -300);
    cr_assert_eq(a->items[4]->v.i, (int64_t)1 << 40);
    cr_assert_eq(sp_pobj_dict_get(r, "b")->type, SP_PK_DICT);
    cr_assert_eq(sp_pobj_dict_get(r, "t")->v.i, 1);
    sp_pickle_free(pk);
}

Test(convert_pickle, unknown_classes_become_inert_placeholders) {
    /* {'h': functools.partial(__main__.Task, lr=...) via NEWOBJ/BUILD, 'o': __main__.Foo() with
     * state, 'opt': torch.optim.AdamW as a bare GLOBAL} in protocol 4 with FRAME/MEMOIZE */
    static const uint8_t p[] = "\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x7d\x94\x28\x8c\x01\x68\x94\x8c\x09\x66\x75\x6e\x63"
        "\x74\x6f\x6f\x6c\x73\x94\x8c\x07\x70\x61\x72\x74\x69\x61\x6c\x94\x93\x94\x8c\x08\x5f\x5f\x6d\x61"
        "\x69\x6e\x5f\x5f\x94\x8c\x04\x54\x61\x73\x6b\x94\x93\x94\x85\x94\x52\x94\x28\x68\x07\x29\x7d\x94"
        "\x8c\x02\x6c\x72\x94\x47\x3f\x50\x62\x4d\xd2\xf1\xa9\xfc\x74\x94\x62\x8c\x01\x6f\x94\x68\x05\x8c"
        "\x03\x46\x6f\x6f\x94\x93\x94\x29\x81\x94\x7d\x94\x8c\x01\x61\x94\x4b\x01\x73\x62\x8c\x03\x6f\x70"
        "\x74\x94\x8c\x0b\x74\x6f\x72\x63\x68\x2e\x6f\x70\x74\x69\x6d\x94\x8c\x05\x41\x64\x61\x6d\x57\x94"
        "\x93\x94\x75\x2e";
    sp_pickle *pk;
    sp_error e = {0};
    cr_assert_eq(pk_load(p, sizeof p - 1, &pk, &e), 0, "%s", e.msg);
    const sp_pobj *r = sp_pickle_root(pk);
    const sp_pobj *h = sp_pobj_dict_get(r, "h");
    cr_assert_eq(h->type, SP_PK_OBJECT);
    cr_assert_str_eq(h->cls->s, "functools.partial");
    cr_assert_not_null(h->state);
    const sp_pobj *o = sp_pobj_dict_get(r, "o");
    cr_assert_eq(o->type, SP_PK_OBJECT);
    cr_assert_str_eq(o->cls->s, "__main__.Foo");
    cr_assert_eq(sp_pobj_dict_get(o->state, "a")->v.i, 1);
    cr_assert_eq(sp_pobj_dict_get(r, "opt")->type, SP_PK_GLOBAL);
    sp_pickle_free(pk);
}

Test(convert_pickle, refuses_code_execution_globals) {
    static const char os_system[] = "\x80\x02\x63\x6f\x73\x0a\x73\x79\x73\x74\x65\x6d\x0a\x58\x02\x00\x00\x00\x69\x64\x85\x52\x2e";
    pk_bad(os_system, sizeof os_system - 1, "os.system");
    static const char posix[] = "\x80\x02\x63\x70\x6f\x73\x69\x78\x0a\x73\x79\x73\x74\x65\x6d\x0a\x58\x02\x00\x00\x00\x69\x64\x85"
        "\x52\x2e";
    pk_bad(posix, sizeof posix - 1, "posix.system");
    static const char ev[] = "\x80\x02\x63\x5f\x5f\x62\x75\x69\x6c\x74\x69\x6e\x5f\x5f\x0a\x65\x76\x61\x6c\x0a\x58\x01\x00\x00"
        "\x00\x31\x85\x52\x2e";
    pk_bad(ev, sizeof ev - 1, "eval");
    static const char ev3[] = "\x80\x04\x8c\x08\x62\x75\x69\x6c\x74\x69\x6e\x73\x8c\x04\x65\x76\x61\x6c\x93\x58\x01\x00\x00\x00"
        "\x31\x85\x52\x2e";
    pk_bad(ev3, sizeof ev3 - 1, "builtins.eval");
    static const char sub[] = "\x80\x02\x63\x73\x75\x62\x70\x72\x6f\x63\x65\x73\x73\x0a\x50\x6f\x70\x65\x6e\x0a\x29\x52\x2e";
    pk_bad(sub, sizeof sub - 1, "subprocess.Popen");
}

Test(convert_pickle, memo_and_stack_bombs_are_bounded) {
    static const char memo[] = "\x80\x02\x4e\x72\xf0\xff\xff\xff\x2e";
    pk_bad(memo, sizeof memo - 1, "memo");
    static const char get[] = "\x80\x02\x6a\x10\x00\x00\x00\x2e";
    pk_bad(get, sizeof get - 1, "memo get");
    size_t n = SP_PICKLE_MAX_STACK + 16;
    char *big = malloc(n + 3);
    big[0] = (char)0x80;
    big[1] = 2;
    memset(big + 2, ')', n);
    big[n + 2] = '.';
    pk_bad(big, n + 3, "stack");
    memset(big + 2, '(', n); /* marks */
    pk_bad(big, n + 3, "MARK");
    free(big);
}

Test(convert_pickle, deep_nesting_is_an_error_not_a_crash) {
    size_t depth = 100000;
    char *p = malloc(2 * depth + 8);
    size_t k = 0;
    p[k++] = (char)0x80;
    p[k++] = 2;
    for (size_t i = 0; i < depth; i++) p[k++] = ']';
    for (size_t i = 0; i + 1 < depth; i++) p[k++] = 'a';
    p[k++] = '.';
    pk_bad(p, k, "nested deeper");
    /* tuples built from marks nest the same way */
    k = 2;
    for (size_t i = 0; i < depth; i++) p[k++] = ')';
    for (size_t i = 0; i + 1 < depth; i++) p[k++] = (char)0x86; /* TUPLE2 of (prev, empty) */
    p[k++] = '.';
    pk_bad(p, k, "");
    free(p);
}

Test(convert_pickle, truncated_and_malformed_streams) {
    static const uint8_t p[] = "\x80\x02\x7d\x71\x00\x28\x58\x01\x00\x00\x00\x61\x71\x01\x5d\x71\x02\x28\x4b\x01\x4b\x02\x65\x75"
        "\x2e";
    for (size_t cut = 0; cut < sizeof p - 1; cut++) {
        sp_pickle *pk = NULL;
        sp_error e = {0};
        cr_assert_eq(pk_load(p, cut, &pk, &e), SP_ERR_INPUT, "cut %zu accepted", cut);
    }
    static const char under[] = "\x80\x02\x73\x2e";
    pk_bad(under, sizeof under - 1, "underflow");
    static const char bad_op[] = "\x80\x02\xff\x2e";
    pk_bad(bad_op, sizeof bad_op - 1, "unsupported opcode");
    static const char str_past[] = "\x80\x02\x58\xff\xff\xff\x7f\x61\x62\x2e";
    pk_bad(str_past, sizeof str_past - 1, "past the end");
    static const char trailing[] = "\x80\x02\x4e\x2e\x4e";
    pk_bad(trailing, sizeof trailing - 1, "trailing");
}

Test(convert_pickle, tensors_from_rebuild_functions) {
    /* _rebuild_tensor_v2(BINPERSID(('storage', torch.FloatStorage, '0', 'cpu', 12)), 2, (2, 3), (1, 2), False, OrderedDict()) */
    static const uint8_t p[] = "\x80\x02\x63\x74\x6f\x72\x63\x68\x2e\x5f\x75\x74\x69\x6c\x73\x0a\x5f\x72\x65\x62\x75\x69\x6c\x64"
        "\x5f\x74\x65\x6e\x73\x6f\x72\x5f\x76\x32\x0a\x28\x28\x58\x07\x00\x00\x00\x73\x74\x6f\x72\x61\x67\x65"
        "\x63\x74\x6f\x72\x63\x68\x0a\x46\x6c\x6f\x61\x74\x53\x74\x6f\x72\x61\x67\x65\x0a\x58\x01\x00\x00"
        "\x00\x30\x58\x03\x00\x00\x00\x63\x70\x75\x4b\x0c\x74\x51\x4b\x02\x4b\x02\x4b\x03\x86\x4b\x01\x4b"
        "\x02\x86\x89\x63\x63\x6f\x6c\x6c\x65\x63\x74\x69\x6f\x6e\x73\x0a\x4f\x72\x64\x65\x72\x65\x64\x44"
        "\x69\x63\x74\x0a\x29\x52\x74\x52\x2e";
    sp_pickle *pk;
    sp_error e = {0};
    cr_assert_eq(pk_load(p, sizeof p - 1, &pk, &e), 0, "%s", e.msg);
    const sp_pobj *t = sp_pickle_root(pk);
    cr_assert_eq(t->type, SP_PK_TENSOR);
    cr_assert_eq(t->dtype, SP_F32);
    cr_assert_eq(t->t->offset, 2);
    cr_assert_eq(t->t->ndim, 2);
    cr_assert_eq(t->t->shape[1], 3);
    cr_assert_eq(t->t->stride[1], 2);
    cr_assert_str_eq(t->t->storage->s, "0");
    cr_assert_eq(t->t->storage->v.numel, 12);
    sp_pickle_free(pk);
}

/* ---- safetensors ------------------------------------------------------------------------- */

static void st_bad(const char *hdr, size_t datalen, const char *part) {
    uint8_t *data = calloc(datalen ? datalen : 1, 1);
    tu_buf b = tu_safetensors(hdr, data, datalen);
    sp_safetensors *st = NULL;
    sp_error e = {0};
    cr_assert_eq(sp_safetensors_parse(b.b, b.n, &st, &e), SP_ERR_INPUT, "accepted: %s", hdr);
    cr_assert_null(st);
    cr_assert(strstr(e.msg, part), "message '%s' lacks '%s'", e.msg, part);
    free(b.b);
    free(data);
}

Test(convert_safetensors, parses_unaligned_headers) {
    /* header length 71: data starts at an odd offset and must still be accepted */
    const char *h = "{\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[8,14]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    uint8_t data[14] = {0};
    tu_buf b = tu_safetensors(h, data, sizeof data);
    sp_safetensors *st;
    sp_error e = {0};
    cr_assert_eq(sp_safetensors_parse(b.b, b.n, &st, &e), 0, "%s", e.msg);
    cr_assert_eq(st->count, 2);
    cr_assert_str_eq(st->tensors[0].name, "b");
    cr_assert_eq(st->tensors[0].dtype, SP_BF16);
    cr_assert_eq(st->tensors[0].offset, 8 + strlen(h) + 8);
    cr_assert_eq(st->tensors[1].size, 8);
    sp_safetensors_free(st);
    free(b.b);
}

Test(convert_safetensors, rejects_hostile_headers) {
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[268435456,268435456,16],\"data_offsets\":[0,1152921504606846976]}}", 8,
           "data area");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
           "overflows");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
           12, "overlap");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "hole");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "not described");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12");
    st_bad("{\"a\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "unsupported dtype");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "bad shape");
    st_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{}}", 4, "duplicate");
    st_bad("[1]", 0, "JSON object");
    st_bad("{\"__metadata__\":{\"k\":1}}", 0, "not a string");
    /* the header length itself claims 2^60 bytes */
    tu_buf b = {0};
    tu_u64(&b, (uint64_t)1 << 60);
    tu_put(&b, "{}", 2);
    sp_safetensors *st = NULL;
    sp_error e = {0};
    cr_assert_eq(sp_safetensors_parse(b.b, b.n, &st, &e), SP_ERR_INPUT);
    cr_assert(strstr(e.msg, "cap"), "%s", e.msg);
    free(b.b);
}

Test(convert_safetensors, truncated_files) {
    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    uint8_t data[8] = {0};
    tu_buf b = tu_safetensors(h, data, 8);
    for (size_t cut = 0; cut < b.n; cut++) {
        sp_safetensors *st = NULL;
        sp_error e = {0};
        cr_assert_eq(sp_safetensors_parse(b.b, cut, &st, &e), SP_ERR_INPUT, "cut %zu accepted", cut);
    }
    free(b.b);
}

/* ---- SHA-256 (FIPS 180-4 examples) -------------------------------------------------------- */

Test(convert_sha256, known_vectors_and_chunking) {
    uint8_t d[32];
    char h[65];
    sp_sha256 s;
    sp_sha256_init(&s);
    sp_sha256_update(&s, "abc", 3);
    sp_sha256_final(&s, d);
    sp_sha256_hex(d, h);
    cr_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sp_sha256_init(&s);
    sp_sha256_final(&s, d);
    sp_sha256_hex(d, h);
    cr_assert_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sp_sha256_init(&s);
    sp_sha256_update(&s, two, strlen(two));
    sp_sha256_final(&s, d);
    sp_sha256_hex(d, h);
    cr_assert_str_eq(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a', fed in uneven pieces */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    sp_sha256_init(&s);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t n = 1000000 - off < step ? 1000000 - off : step;
        sp_sha256_update(&s, a + off, n);
        off += n;
        step = step * 3 % 1021 + 1;
    }
    sp_sha256_final(&s, d);
    sp_sha256_hex(d, h);
    cr_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* ---- checkpoint views --------------------------------------------------------------------- */

/* {'w': storage[0:12] as [12], 't': the same storage viewed at offset 2, shape (2, 3), stride
 * (1, 2)} in a torch.save-like archive: shared storage, offsets and strides. */
Test(convert_ckpt, shared_storage_offsets_and_strides) {
    static const uint8_t pkl[] =
        "\x80\x02\x63\x74\x6f\x72\x63\x68\x2e\x5f\x75\x74\x69\x6c\x73\x0a\x5f\x72\x65\x62\x75\x69\x6c\x64"
        "\x5f\x74\x65\x6e\x73\x6f\x72\x5f\x76\x32\x0a\x71\x00\x30\x63\x63\x6f\x6c\x6c\x65\x63\x74\x69\x6f"
        "\x6e\x73\x0a\x4f\x72\x64\x65\x72\x65\x64\x44\x69\x63\x74\x0a\x71\x01\x30\x7d\x71\x02\x28\x58\x01"
        "\x00\x00\x00\x77\x68\x00\x28\x28\x58\x07\x00\x00\x00\x73\x74\x6f\x72\x61\x67\x65\x63\x74\x6f\x72"
        "\x63\x68\x0a\x46\x6c\x6f\x61\x74\x53\x74\x6f\x72\x61\x67\x65\x0a\x58\x01\x00\x00\x00\x30\x58\x03"
        "\x00\x00\x00\x63\x70\x75\x4b\x0c\x74\x51\x71\x03\x4b\x00\x4b\x0c\x85\x4b\x01\x85\x89\x68\x01\x29"
        "\x52\x74\x52\x58\x01\x00\x00\x00\x74\x68\x00\x28\x68\x03\x4b\x02\x4b\x02\x4b\x03\x86\x4b\x01\x4b"
        "\x02\x86\x89\x68\x01\x29\x52\x74\x52\x75\x2e";
    float data[12];
    for (int i = 0; i < 12; i++) data[i] = (float)i;
    tu_member m[3] = {{"sd/data.pkl", pkl, sizeof pkl - 1, 0, 0}, {"sd/data/0", data, sizeof data, 0, 0},
                      {"sd/version", "3\n", 2, 0, 0}};
    tu_buf b = tu_zip(m, 3, 0);
    char path[] = "/tmp/sparsa_ckpt_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    cr_assert_eq(tu_write(path, &b), 0);
    sp_ckpt *c;
    sp_error e = {0};
    cr_assert_eq(sp_ckpt_open(path, NULL, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c->ntensors, 2);
    const sp_src_tensor *w = sp_ckpt_find(c, "w"), *t = sp_ckpt_find(c, "t");
    cr_assert(w && t);
    cr_assert(w->contiguous);
    cr_assert(!t->contiguous);
    float got[12];
    cr_assert_eq(sp_ckpt_read(c, w, 0, 12, got, &e), 0);
    cr_assert_eq(memcmp(got, data, sizeof data), 0);
    cr_assert_eq(sp_ckpt_read(c, t, 0, 6, got, &e), 0);
    const float want[6] = {2, 4, 6, 3, 5, 7};
    cr_assert_eq(memcmp(got, want, sizeof want), 0, "%g %g %g %g %g %g", got[0], got[1], got[2], got[3], got[4], got[5]);
    cr_assert_eq(sp_ckpt_read(c, t, 4, 2, got, &e), 0);
    cr_assert(got[0] == 5 && got[1] == 7);
    cr_assert_null(sp_ckpt_view(c, t, 0, 6));
    sp_ckpt_close(c);
    /* a view reaching past its storage is refused */
    data[0] = 0;
    uint8_t *bad = malloc(sizeof pkl);
    memcpy(bad, pkl, sizeof pkl);
    for (size_t i = 0; i + 1 < sizeof pkl; i++)
        if (bad[i] == 'K' && bad[i + 1] == 3 && bad[i - 2] == 'K' && bad[i - 1] == 2) bad[i + 1] = 9; /* shape (2, 9) */
    m[0].data = bad;
    free(b.b);
    b = tu_zip(m, 3, 0);
    cr_assert_eq(tu_write(path, &b), 0);
    cr_assert_eq(sp_ckpt_open(path, NULL, &c, &e), SP_ERR_INPUT);
    cr_assert(strstr(e.msg, "storage"), "%s", e.msg);
    free(bad);
    free(b.b);
    remove(path);
}
