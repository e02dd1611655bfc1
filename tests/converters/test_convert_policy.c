/* test_convert_policy.c — the converters' tables and policies on their own: the output-dtype
 * policy (matrices take the --dtype, vector-like tensors stay f32 unless keep, f64 becomes
 * f32, integers are kept) and the mapping table (every row listed, found by name, detected
 * from tensor names, refused when unknown). */
#include <criterion/criterion.h>
#include <string.h>

#include "checkpoint_reader.h"
#include "mapping.h"
#include "out_dtype.h"
#include "sparsa_convert.h"

static sp_src_tensor tensor(sp_dtype dt, uint32_t ndim, const uint64_t *shape) {
    sp_src_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.ndim = ndim;
    for (uint32_t i = 0; i < ndim; i++) t.shape[i] = shape[i];
    return t;
}

Test(convert_out_dtype, matrices_take_the_mode_vectors_stay_f32) {
    static const uint64_t mat[2] = {8, 4}, vec[1] = {8}, scale[4] = {1, 4, 1, 1}, row[2] = {1, 8};
    static const sp_out_dtype modes[3] = {SP_OUT_F32, SP_OUT_F16, SP_OUT_BF16};
    static const sp_dtype want[3] = {SP_F32, SP_F16, SP_BF16};
    static const sp_dtype srcs[4] = {SP_F32, SP_F16, SP_BF16, SP_F64};
    for (int m = 0; m < 3; m++)
        for (int s = 0; s < 4; s++) {
            sp_src_tensor a = tensor(srcs[s], 2, mat), v = tensor(srcs[s], 1, vec), q = tensor(srcs[s], 4, scale),
                          r = tensor(srcs[s], 2, row);
            cr_assert_eq(sp_out_dtype_of(&a, modes[m]), want[m], "matrix, mode %d, source %d", m, s);
            cr_assert_eq(sp_out_dtype_of(&v, modes[m]), SP_F32, "vector, mode %d, source %d", m, s);
            cr_assert_eq(sp_out_dtype_of(&q, modes[m]), SP_F32, "[1, H, 1, 1], mode %d, source %d", m, s);
            cr_assert_eq(sp_out_dtype_of(&r, modes[m]), SP_F32, "[1, D], mode %d, source %d", m, s);
            cr_assert_eq(sp_convert_out_dtype(srcs[s], 1, modes[m]), SP_F32);
            cr_assert_eq(sp_convert_out_dtype(srcs[s], 2, modes[m]), want[m]);
        }
}

Test(convert_out_dtype, keep_keeps_all_but_f64_and_integers_are_never_converted) {
    static const uint64_t mat[2] = {8, 4}, vec[1] = {8};
    static const sp_dtype floats[3] = {SP_F32, SP_F16, SP_BF16};
    for (int s = 0; s < 3; s++) {
        sp_src_tensor a = tensor(floats[s], 2, mat), v = tensor(floats[s], 1, vec);
        cr_assert_eq(sp_out_dtype_of(&a, SP_OUT_KEEP), floats[s]);
        cr_assert_eq(sp_out_dtype_of(&v, SP_OUT_KEEP), floats[s]);
    }
    sp_src_tensor d = tensor(SP_F64, 2, mat), i = tensor(SP_I64, 2, mat), b = tensor(SP_BOOL, 1, vec);
    cr_assert_eq(sp_out_dtype_of(&d, SP_OUT_KEEP), SP_F32);
    cr_assert_eq(sp_out_dtype_of(&i, SP_OUT_BF16), SP_I64);
    cr_assert_eq(sp_out_dtype_of(&b, SP_OUT_F16), SP_BOOL);
    cr_assert(sp_dtype_is_floating(SP_F64) && !sp_dtype_is_floating(SP_I32) && !sp_dtype_is_floating(SP_U8));
}

Test(convert_mapping_table, every_row_is_listed_and_found_by_name) {
    static const char *expected[] = {"hf-llama", "hf-gemma2", "asentmax-gemma2", "torchtitan-llama"};
    size_t n = sp_mapping_count();
    cr_assert_eq(n, sizeof expected / sizeof expected[0]);
    for (size_t i = 0; i < n; i++) {
        const sp_mapping_info *info = sp_mapping_at(i);
        cr_assert_not_null(info);
        cr_assert_str_eq(info->name, expected[i]);
        cr_assert(info->summary && info->summary[0], "%s has no summary", info->name);
        cr_assert_eq(sp_mapping_find(info->name), info, "%s", info->name);
        const sp_mapping *m = sp_mapping_named(info->name);
        cr_assert(m && &m->info == info && m->detect && m->build, "%s", info->name);
        cr_assert(strstr(sp_mapping_names(), info->name), "%s not in '%s'", info->name, sp_mapping_names());
    }
    cr_assert_null(sp_mapping_at(n));
    cr_assert_null(sp_mapping_find("gpt9"));
    cr_assert_null(sp_mapping_named(""));
}

/* Detection through the table: each fixture checkpoint picks its own mapping. */
Test(convert_mapping_table, detects_each_fixture_architecture) {
    static const struct {
        const char *src, *arch;
    } cases[] = {
        {.src = "tests/fixtures/checkpoints/hf-llama.pt", .arch = "hf-llama"},
        {.src = "tests/fixtures/checkpoints/torchtitan-llama.pt", .arch = "torchtitan-llama"},
        {.src = "tests/fixtures/checkpoints/sg2-asentmax-nape.lightning.ckpt", .arch = "asentmax-gemma2"},
        {.src = "tests/fixtures/checkpoints/device/hf-gemma2-safetensors", .arch = "hf-gemma2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sp_ckpt *c = NULL;
        sp_error e = {0};
        cr_assert_eq(sp_ckpt_open(cases[i].src, NULL, &c, &e), 0, "%s: %s", cases[i].src, e.msg);
        const sp_mapping *m = sp_mapping_detect(c);
        cr_assert(m, "%s: nothing detected", cases[i].src);
        cr_assert_str_eq(m->info.name, cases[i].arch, "%s", cases[i].src);
        sp_ckpt_close(c);
    }
}
