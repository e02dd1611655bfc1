/* test_format_roundtrip.c — what the writer writes is what the reader reads, bit for bit:
 * every dtype compressed and not, empty and 0-d tensors, every metadata type, unicode names,
 * streaming in pieces, and the writer's file handling (no clobbering, temp file removed). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>

#include "tu_format.h"

#define N_DTYPES 10

Test(format_crc32, known_vectors_and_chaining) {
    cr_assert_eq(sp_crc32(0, "123456789", 9), 0xCBF43926u);
    cr_assert_eq(sp_crc32(0, "", 0), 0u);
    cr_assert_eq(sp_crc32(0, "a", 1), 0xE8B7BE43u);
    /* both paths (tables below 64 bytes, carry-less folding above where the CPU has it)
     * against a bitwise reference at every alignment, at every length up to 300 */
    static uint8_t buf[4096 + 16];
    tu_fill_bytes(buf, sizeof buf, 5);
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len <= 300; len++) {
            uint32_t c = 0xffffffffu;
            for (size_t i = 0; i < len; i++) {
                c ^= buf[off + i];
                for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }
            cr_assert_eq(sp_crc32(0, buf + off, len), ~c, "off %zu len %zu", off, len);
        }
    /* long inputs and chaining at odd split points */
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < 4096 + 7; i++) {
        c ^= buf[3 + i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    uint32_t whole = sp_crc32(0, buf + 3, 4096 + 7);
    cr_assert_eq(whole, ~c);
    const size_t cuts[] = {1, 63, 64, 65, 123, 1000, 4095};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        cr_assert_eq(sp_crc32(sp_crc32(0, buf + 3, cuts[i]), buf + 3 + cuts[i], 4096 + 7 - cuts[i]), whole, "cut %zu",
                     cuts[i]);
}

Test(format_dtype, names_and_sizes) {
    const char *names[] = {"invalid", "f32", "f16", "bf16", "f64", "i8", "u8", "i16", "i32", "i64", "bool"};
    const size_t sizes[] = {0, 4, 2, 2, 8, 1, 1, 2, 4, 8, 1};
    for (int d = 0; d <= N_DTYPES; d++) {
        cr_assert_str_eq(sp_dtype_name((sp_dtype)d), names[d]);
        cr_assert_eq(sp_dtype_size((sp_dtype)d), sizes[d]);
        if (d) cr_assert_eq(sp_dtype_from_name(names[d]), (sp_dtype)d);
    }
    cr_assert_eq(sp_dtype_from_name("f8"), SP_DT_INVALID);
    cr_assert_eq(sp_dtype_size((sp_dtype)11), 0);
}

/* ---- the full round trip ---- */

typedef struct {
    char name[64];
    sp_dtype dt;
    uint32_t ndim;
    uint64_t dims[SP_MAX_DIMS];
    sp_compression comp;
    uint8_t *data;
    size_t bytes;
} expect_t;

static expect_t ex[64];
static size_t n_ex;

static void add(sp_writer *w, const char *name, sp_dtype dt, uint32_t ndim, const uint64_t *dims,
                sp_compression comp) {
    expect_t *e = &ex[n_ex];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->dt = dt;
    e->ndim = ndim;
    size_t n = 1;
    for (uint32_t d = 0; d < ndim; d++) n *= (e->dims[d] = dims[d]);
    e->bytes = n * sp_dtype_size(dt);
    e->comp = comp;
    e->data = malloc(e->bytes + 1);
    tu_fill_bytes(e->data, e->bytes, (uint32_t)n_ex + 100);
    if (dt == SP_BOOL)
        for (size_t i = 0; i < e->bytes; i++) e->data[i] &= 1;
    cr_assert_eq(sp_writer_add_tensor(w, name, dt, ndim, dims, e->data, comp, 1), 0,
                 "%s: %s", name, sp_writer_error(w)->msg);
    n_ex++;
}

/* Every metadata type, scalar and array. */
static const uint8_t m_u8 = 250;
static const int8_t m_i8 = -7;
static const uint16_t m_u16 = 65000;
static const int16_t m_i16 = -32000;
static const uint32_t m_u32 = 4000000000u;
static const int32_t m_i32 = -2000000000;
static const uint64_t m_u64 = 0xfedcba9876543210ull;
static const int64_t m_i64 = INT64_MIN + 3;
static const float m_f32 = -1.25e-3f;
static const double m_f64 = 3.141592653589793;
static const char *m_strs[] = {"", "plain", "ünïcødé ∑ 😀", "tab\there"};
static const uint8_t m_bytes[] = {0, 1, 2, 0xff, 0, 0x80};

static void write_meta(sp_writer *w) {
    const void *vals[] = {&m_u8, &m_i8, &m_u16, &m_i16, &m_u32, &m_i32, &m_u64, &m_i64, &m_f32, &m_f64};
    for (int t = SP_META_U8; t <= SP_META_F64; t++) {
        char key[32], akey[32];
        snprintf(key, sizeof key, "scalar.%s", sp_meta_type_name((sp_meta_type)t));
        snprintf(akey, sizeof akey, "array.%s", sp_meta_type_name((sp_meta_type)t));
        cr_assert_eq(sp_writer_meta_scalar(w, key, (sp_meta_type)t, vals[t - 1]), 0);
        uint8_t arr[3 * 8];
        size_t es = 0;
        switch (t) {
        case SP_META_U8: case SP_META_I8: es = 1; break;
        case SP_META_U16: case SP_META_I16: es = 2; break;
        case SP_META_U32: case SP_META_I32: case SP_META_F32: es = 4; break;
        default: es = 8;
        }
        for (int k = 0; k < 3; k++) memcpy(arr + k * es, vals[t - 1], es);
        cr_assert_eq(sp_writer_meta_array(w, akey, (sp_meta_type)t, arr, 3), 0);
    }
    cr_assert_eq(sp_writer_meta_bool(w, "scalar.bool", 1), 0);
    uint8_t bools[] = {1, 0, 1, 1};
    cr_assert_eq(sp_writer_meta_array(w, "array.bool", SP_META_BOOL, bools, 4), 0);
    cr_assert_eq(sp_writer_meta_string(w, "general.name", m_strs[2], strlen(m_strs[2])), 0);
    cr_assert_eq(sp_writer_meta_string(w, "empty.string", "", 0), 0);
    cr_assert_eq(sp_writer_meta_bytes(w, "scalar.bytes", m_bytes, sizeof m_bytes), 0);
    cr_assert_eq(sp_writer_meta_array(w, "array.string", SP_META_STRING, m_strs, 4), 0);
    cr_assert_eq(sp_writer_meta_array(w, "array.empty", SP_META_U64, NULL, 0), 0);
    cr_assert_eq(sp_writer_meta_u64(w, "ключ.ü", 42), 0);
    cr_assert_eq(sp_writer_meta_i64(w, "i64.helper", -42), 0);
    cr_assert_eq(sp_writer_meta_f64(w, "f64.nan", NAN), 0);
}

static void check_meta(const sp_file *f) {
    const void *vals[] = {&m_u8, &m_i8, &m_u16, &m_i16, &m_u32, &m_i32, &m_u64, &m_i64, &m_f32, &m_f64};
    for (int t = SP_META_U8; t <= SP_META_F64; t++) {
        char key[32], akey[32];
        snprintf(key, sizeof key, "scalar.%s", sp_meta_type_name((sp_meta_type)t));
        snprintf(akey, sizeof akey, "array.%s", sp_meta_type_name((sp_meta_type)t));
        const sp_meta *m = sp_file_meta_find(f, key);
        cr_assert(m, "%s missing", key);
        cr_assert_eq(m->type, (sp_meta_type)t);
        cr_assert_eq(m->key_len, strlen(key));
        /* bit for bit: the encoded bytes are the host value (the test host is little-endian) */
        cr_assert_eq(memcmp(m->data, vals[t - 1], m->len), 0, "%s", key);
        const sp_meta *a = sp_file_meta_find(f, akey);
        cr_assert(a && a->type == SP_META_ARRAY && a->elem_type == (sp_meta_type)t && a->len == 3);
        for (uint64_t k = 0; k < 3; k++) {
            sp_meta e;
            cr_assert_eq(sp_meta_array_get(a, k, &e), 0);
            cr_assert_eq(e.type, (sp_meta_type)t);
            cr_assert_eq(memcmp(e.data, vals[t - 1], e.len), 0);
        }
        sp_meta e;
        cr_assert_eq(sp_meta_array_get(a, 3, &e), SP_ERR_INPUT);
    }
    cr_assert_eq(sp_file_meta_find(f, "scalar.u8")->num.u, 250);
    cr_assert_eq(sp_file_meta_find(f, "scalar.i8")->num.i, -7);
    cr_assert_eq(sp_file_meta_find(f, "scalar.i16")->num.i, -32000);
    cr_assert_eq(sp_file_meta_find(f, "scalar.u32")->num.u, 4000000000u);
    cr_assert_eq(sp_file_meta_find(f, "scalar.i64")->num.i, INT64_MIN + 3);
    cr_assert_eq(sp_file_meta_find(f, "scalar.u64")->num.u, 0xfedcba9876543210ull);
    cr_assert_eq(sp_file_meta_find(f, "scalar.f32")->num.f, (double)m_f32);
    cr_assert_eq(sp_file_meta_find(f, "scalar.f64")->num.f, m_f64);
    cr_assert(isnan(sp_file_meta_find(f, "f64.nan")->num.f));
    cr_assert_eq(sp_file_meta_find(f, "i64.helper")->num.i, -42);
    cr_assert_eq(sp_file_meta_find(f, "ключ.ü")->num.u, 42);
    const sp_meta *b = sp_file_meta_find(f, "scalar.bool");
    cr_assert(b && b->type == SP_META_BOOL && b->num.u == 1);
    const sp_meta *ab = sp_file_meta_find(f, "array.bool");
    cr_assert(ab && ab->len == 4 && memcmp(ab->data, "\1\0\1\1", 4) == 0);
    const sp_meta *s = sp_file_meta_find(f, "general.name");
    cr_assert(s && s->type == SP_META_STRING && s->len == strlen(m_strs[2]) &&
              !memcmp(s->data, m_strs[2], s->len));
    const sp_meta *es = sp_file_meta_find(f, "empty.string");
    cr_assert(es && es->type == SP_META_STRING && es->len == 0);
    const sp_meta *by = sp_file_meta_find(f, "scalar.bytes");
    cr_assert(by && by->type == SP_META_BYTES && by->len == sizeof m_bytes &&
              !memcmp(by->data, m_bytes, sizeof m_bytes));
    const sp_meta *as = sp_file_meta_find(f, "array.string");
    cr_assert(as && as->elem_type == SP_META_STRING && as->len == 4);
    sp_meta_iter it;
    sp_meta e;
    sp_meta_iter_init(&it, as);
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(sp_meta_iter_next(&it, &e), 1);
        cr_assert(e.type == SP_META_STRING && e.len == strlen(m_strs[k]) &&
                  !memcmp(e.data, m_strs[k], e.len), "string %d", k);
        sp_meta r;
        cr_assert_eq(sp_meta_array_get(as, (uint64_t)k, &r), 0);
        cr_assert(r.len == e.len && r.data == e.data);
    }
    cr_assert_eq(sp_meta_iter_next(&it, &e), 0);
    const sp_meta *ae = sp_file_meta_find(f, "array.empty");
    cr_assert(ae && ae->type == SP_META_ARRAY && ae->len == 0);
    cr_assert_null(sp_file_meta_find(f, "absent"));
    cr_assert_null(sp_file_meta_find(f, "general.nam"));
}

static void write_all_tensors(sp_writer *w) {
    n_ex = 0;
    for (int d = 1; d <= N_DTYPES; d++)
        for (int c = 0; c < 2; c++) {
            char name[64];
            snprintf(name, sizeof name, "t.%s.%s", sp_dtype_name((sp_dtype)d), c ? "zstd" : "raw");
            uint64_t dims[3] = {3, 5, (uint64_t)d + 1};
            add(w, name, (sp_dtype)d, 3, dims, c ? SP_COMPRESS_ZSTD : SP_COMPRESS_NONE);
        }
    uint64_t empty[2] = {0, 7}, eight[8] = {1, 2, 1, 3, 1, 2, 1, 2};
    add(w, "empty", SP_F32, 2, empty, SP_COMPRESS_NONE);
    add(w, "empty.zstd", SP_F16, 2, empty, SP_COMPRESS_ZSTD);  /* stored uncompressed */
    add(w, "scalar0d", SP_F64, 0, NULL, SP_COMPRESS_NONE);
    add(w, "scalar0d.zstd", SP_I32, 0, NULL, SP_COMPRESS_ZSTD);
    add(w, "eight.dims", SP_BF16, 8, eight, SP_COMPRESS_NONE);
    add(w, "ünïcødé/∑/😀 name", SP_F32, 1, (uint64_t[]){5}, SP_COMPRESS_NONE);
    add(w, "line\nbreak\x01", SP_U8, 1, (uint64_t[]){3}, SP_COMPRESS_NONE);
}

static void check_tensors(sp_file *f, int mapped) {
    cr_assert_eq(sp_file_tensor_count(f), n_ex);
    for (size_t i = 0; i < n_ex; i++) {
        const expect_t *e = &ex[i];
        const sp_tensor_info *t = sp_file_tensor(f, i);
        cr_assert_eq(sp_file_find_tensor(f, e->name), t, "%s", e->name);
        cr_assert(t->name_len == strlen(e->name) && !memcmp(t->name, e->name, t->name_len));
        cr_assert_eq(t->dtype, e->dt);
        cr_assert_eq(t->ndim, e->ndim);
        for (uint32_t d = 0; d < e->ndim; d++) cr_assert_eq(t->dims[d], e->dims[d]);
        cr_assert_eq(t->raw_size, e->bytes);
        cr_assert_eq(t->numel, e->bytes / sp_dtype_size(e->dt));
        sp_compression want = e->bytes ? e->comp : SP_COMPRESS_NONE;
        cr_assert_eq(t->compression, want, "%s", e->name);
        if (want == SP_COMPRESS_NONE) cr_assert_eq(t->stored_size, e->bytes);
        cr_assert_eq(t->offset % sp_file_alignment(f), 0);
        const void *data;
        sp_error err = {0};
        cr_assert_eq(sp_file_tensor_data(f, t, &data, &err), 0, "%s", err.msg);
        cr_assert(e->bytes == 0 || !memcmp(data, e->data, e->bytes), "%s data differs", e->name);
        if (mapped && want == SP_COMPRESS_NONE) cr_assert_eq((uintptr_t)data % 64, 0, "zero-copy aligned");
        const void *again;
        cr_assert_eq(sp_file_tensor_data(f, t, &again, &err), 0);
        cr_assert_eq(again, data, "decompressed once, cached");
        cr_assert_eq(sp_file_verify_tensor(f, t, &err), 0);
    }
    sp_error err = {0};
    cr_assert_eq(sp_file_verify(f, &err), 0, "%s", err.msg);
    cr_assert_null(sp_file_find_tensor(f, "t.f3"));
    cr_assert_null(sp_file_tensor(f, n_ex));
}

static void free_ex(void) {
    for (size_t i = 0; i < n_ex; i++) free(ex[i].data);
    n_ex = 0;
}

Test(format_roundtrip, everything_bit_for_bit) {
    char path[256];
    tu_tmp_name(path, sizeof path, "rt");
    sp_error err = {0};
    sp_writer *w;
    cr_assert_eq(sp_writer_create(path, 0, &err, &w), 0, "%s", err.msg);
    write_meta(w);
    write_all_tensors(w);
    cr_assert_eq(sp_writer_set_graph(w, tu_small_graph, sizeof tu_small_graph - 1), 0);
    uint8_t tok[333];
    tu_fill_bytes(tok, sizeof tok, 77);
    cr_assert_eq(sp_writer_set_tokenizer(w, tok, sizeof tok), 0);
    cr_assert_eq(sp_writer_finish(w, &err), 0, "%s", err.msg);

    sp_file *f;
    cr_assert_eq(sp_file_open(path, &f, &err), 0, "%s", err.msg);
    cr_assert_eq(sp_file_major(f), 1);
    cr_assert_eq(sp_file_minor(f), 0);
    cr_assert_eq(sp_file_alignment(f), SP_DEFAULT_ALIGNMENT);
    struct stat st;
    stat(path, &st);
    cr_assert_eq(sp_file_size(f), (uint64_t)st.st_size);
    check_meta(f);
    check_tensors(f, 1);
    size_t glen, tlen;
    const char *g = sp_file_graph(f, &glen);
    cr_assert(glen == sizeof tu_small_graph - 1 && !memcmp(g, tu_small_graph, glen));
    const void *tk = sp_file_tokenizer(f, &tlen);
    cr_assert(tlen == sizeof tok && !memcmp(tk, tok, tlen));
    sp_file_close(f);

    /* The same through sp_file_open_memory, from the bytes on disk. */
    size_t n;
    void *img = tu_read_file(path, &n);
    cr_assert_eq(sp_file_open_memory(img, n, &f, &err), 0, "%s", err.msg);
    check_tensors(f, 0);
    sp_file_close(f);
    free(img);
    free_ex();
    remove(path);
}

Test(format_roundtrip, deterministic_and_graph_tokenizer_optional) {
    char p1[256], p2[256];
    tu_tmp_name(p1, sizeof p1, "det1");
    tu_tmp_name(p2, sizeof p2, "det2");
    sp_error err = {0};
    cr_assert_eq(tu_write_small_file(p1, &err), 0, "%s", err.msg);
    cr_assert_eq(tu_write_small_file(p2, &err), 0, "%s", err.msg);
    size_t n1, n2;
    void *a = tu_read_file(p1, &n1), *b = tu_read_file(p2, &n2);
    cr_assert(n1 == n2 && !memcmp(a, b, n1), "same input, same bytes");
    free(a);
    free(b);
    /* A file with no graph, no tokenizer, no metadata, no tensors is valid. */
    sp_writer *w;
    cr_assert_eq(sp_writer_create(p1, 1, &err, &w), 0);
    cr_assert_eq(sp_writer_finish(w, &err), 0, "%s", err.msg);
    sp_file *f;
    cr_assert_eq(sp_file_open(p1, &f, &err), 0, "%s", err.msg);
    size_t len = 7;
    cr_assert_null(sp_file_graph(f, &len));
    cr_assert_eq(len, 0);
    cr_assert_null(sp_file_tokenizer(f, &len));
    cr_assert_eq(sp_file_tensor_count(f), 0);
    cr_assert_eq(sp_file_meta_count(f), 0);
    cr_assert_eq(sp_file_verify(f, &err), 0);
    sp_file_close(f);
    remove(p1);
    remove(p2);
}

Test(format_roundtrip, streaming_in_pieces_equals_one_call) {
    char p1[256], p2[256];
    tu_tmp_name(p1, sizeof p1, "s1");
    tu_tmp_name(p2, sizeof p2, "s2");
    size_t n = 3 * 1024 * 1024 + 13;  /* more than the write buffer */
    uint8_t *d = malloc(n);
    tu_fill_bytes(d, n, 3);
    uint64_t dims[1] = {n};
    sp_error err = {0};
    for (int c = 0; c < 2; c++) {
        sp_writer *w;
        cr_assert_eq(sp_writer_create(p1, 1, &err, &w), 0);
        cr_assert_eq(sp_writer_add_tensor(w, "x", SP_U8, 1, dims, d, (sp_compression)c, 0), 0);
        cr_assert_eq(sp_writer_finish(w, &err), 0, "%s", err.msg);
        cr_assert_eq(sp_writer_create(p2, 1, &err, &w), 0);
        cr_assert_eq(sp_writer_begin_tensor(w, "x", SP_U8, 1, dims, (sp_compression)c, 0), 0);
        for (size_t off = 0, k = 1; off < n; off += k, k = k * 3 + 1) {
            if (k > n - off) k = n - off;
            cr_assert_eq(sp_writer_tensor_data(w, d + off, k), 0);
        }
        cr_assert_eq(sp_writer_end_tensor(w), 0);
        cr_assert_eq(sp_writer_finish(w, &err), 0, "%s", err.msg);
        sp_file *f1, *f2;
        cr_assert_eq(sp_file_open(p1, &f1, &err), 0, "%s", err.msg);
        cr_assert_eq(sp_file_open(p2, &f2, &err), 0, "%s", err.msg);
        const void *x1, *x2;
        cr_assert_eq(sp_file_tensor_data(f1, sp_file_tensor(f1, 0), &x1, &err), 0, "%s", err.msg);
        cr_assert_eq(sp_file_tensor_data(f2, sp_file_tensor(f2, 0), &x2, &err), 0, "%s", err.msg);
        cr_assert(!memcmp(x1, d, n) && !memcmp(x2, d, n));
        if (c) cr_assert_lt(sp_file_tensor(f1, 0)->stored_size, n, "zstd compressed");
        sp_file_close(f1);
        sp_file_close(f2);
    }
    free(d);
    remove(p1);
    remove(p2);
}

/* No ".<name>.tmp-*" left in /tmp for this path. */
static int temp_left(const char *path) {
    const char *base = strrchr(path, '/') + 1;
    char prefix[300];
    snprintf(prefix, sizeof prefix, ".%s.tmp-", base);
    DIR *dir = opendir("/tmp");
    struct dirent *e;
    int found = 0;
    while ((e = readdir(dir)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) found = 1;
    closedir(dir);
    return found;
}

Test(format_writer, refuses_to_overwrite_unless_asked) {
    char path[256];
    tu_tmp_name(path, sizeof path, "ow");
    FILE *fp = fopen(path, "w");
    fputs("precious", fp);
    fclose(fp);
    sp_error err = {0};
    sp_writer *w = NULL;
    cr_assert_eq(sp_writer_create(path, 0, &err, &w), SP_ERR_INPUT);
    cr_assert_null(w);
    cr_assert(strstr(err.msg, "exists"), "%s", err.msg);
    /* created while the writer ran: finish still refuses */
    remove(path);
    cr_assert_eq(sp_writer_create(path, 0, &err, &w), 0);
    fp = fopen(path, "w");
    fputs("precious", fp);
    fclose(fp);
    cr_assert_eq(sp_writer_finish(w, &err), SP_ERR_INPUT);
    size_t n;
    char *s = tu_read_file(path, &n);
    cr_assert(n == 8 && !memcmp(s, "precious", 8));
    free(s);
    cr_assert_not(temp_left(path));
    cr_assert_eq(sp_writer_create(path, 1, &err, &w), 0);
    cr_assert_eq(sp_writer_finish(w, &err), 0);
    sp_file *f;
    cr_assert_eq(sp_file_open(path, &f, &err), 0, "%s", err.msg);
    sp_file_close(f);
    remove(path);
}

Test(format_writer, abort_and_failures_leave_nothing) {
    char path[256];
    tu_tmp_name(path, sizeof path, "ab");
    sp_error err = {0};
    sp_writer *w;
    uint64_t dims[1] = {4};
    float x[4] = {1, 2, 3, 4};
    cr_assert_eq(sp_writer_create(path, 0, &err, &w), 0);
    cr_assert_eq(sp_writer_add_tensor(w, "a", SP_F32, 1, dims, x, SP_COMPRESS_NONE, 0), 0);
    cr_assert(temp_left(path));
    sp_writer_abort(w);
    cr_assert_not(temp_left(path));
    cr_assert_neq(access(path, F_OK), 0);

    /* Each misuse is refused with a message, then finish fails and removes the temp file. */
    struct {
        const char *what;
        int code;
    } cases[] = {{"short data", 2}, {"duplicate tensor", 2}, {"duplicate key", 2},
                 {"bad utf8", 2}, {"bool 2", 2}, {"too many dims", 2}, {"overflow", 2},
                 {"unfinished tensor", 2}, {"bad name", 2}, {"long data", 2}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        cr_assert_eq(sp_writer_create(path, 0, &err, &w), 0);
        uint8_t two = 2;
        uint64_t big[3] = {1ull << 40, 1ull << 40, 1ull << 40};
        switch (c) {
        case 0:
            sp_writer_begin_tensor(w, "a", SP_F32, 1, dims, SP_COMPRESS_NONE, 0);
            sp_writer_tensor_data(w, x, 8);
            sp_writer_end_tensor(w);
            break;
        case 1:
            sp_writer_add_tensor(w, "a", SP_F32, 1, dims, x, SP_COMPRESS_NONE, 0);
            sp_writer_add_tensor(w, "a", SP_F32, 1, dims, x, SP_COMPRESS_ZSTD, 0);
            break;
        case 2:
            sp_writer_meta_u64(w, "k", 1);
            sp_writer_meta_string(w, "k", "v", 1);
            break;
        case 3: sp_writer_meta_string(w, "k", "\xff", 1); break;
        case 4: sp_writer_meta_scalar(w, "k", SP_META_BOOL, &two); break;
        case 5: sp_writer_begin_tensor(w, "a", SP_F32, 9, big, SP_COMPRESS_NONE, 0); break;
        case 6: sp_writer_begin_tensor(w, "a", SP_F32, 3, big, SP_COMPRESS_NONE, 0); break;
        case 7: sp_writer_begin_tensor(w, "a", SP_F32, 1, dims, SP_COMPRESS_NONE, 0); break;
        case 8: sp_writer_add_tensor(w, "", SP_F32, 1, dims, x, SP_COMPRESS_NONE, 0); break;
        case 9:
            sp_writer_begin_tensor(w, "a", SP_F32, 1, dims, SP_COMPRESS_ZSTD, 0);
            sp_writer_tensor_data(w, x, 16);
            sp_writer_tensor_data(w, x, 1);
            break;
        }
        cr_assert_eq(sp_writer_error(w)->code || c == 7, 1, "%s", cases[c].what);
        memset(&err, 0, sizeof err);
        cr_assert_eq(sp_writer_finish(w, &err), cases[c].code, "%s", cases[c].what);
        cr_assert(err.msg[0] && !strchr(err.msg, '\n'), "%s: one line", cases[c].what);
        cr_assert_not(temp_left(path), "%s", cases[c].what);
        cr_assert_neq(access(path, F_OK), 0, "%s", cases[c].what);
    }
}

Test(format_writer, unwritable_directory_is_a_clean_error) {
    sp_error err = {0};
    sp_writer *w = NULL;
    cr_assert_eq(sp_writer_create("/nonexistent-dir/x.sparsa", 0, &err, &w), SP_ERR_RUNTIME);
    cr_assert_null(w);
    cr_assert(strstr(err.msg, "/nonexistent-dir/x.sparsa"), "%s", err.msg);
}
