/* test_common_arith.c — the overflow-checked arithmetic of sparsa_common.h at its edges and the
 * one-line errors of sp_fail. */
#include <criterion/criterion.h>
#include <string.h>

#include "sparsa_common.h"

Test(arith, add_and_mul_report_overflow_at_the_edge) {
    uint64_t r = 0;
    cr_assert_eq(sp_add_ovf(UINT64_MAX - 1, 1, &r), 0);
    cr_assert_eq(r, UINT64_MAX);
    cr_assert_eq(sp_add_ovf(UINT64_MAX, 1, &r), 1);
    cr_assert_eq(sp_mul_ovf(UINT64_C(1) << 32, (UINT64_C(1) << 32) - 1, &r), 0);
    cr_assert_eq(r, (UINT64_C(1) << 32) * ((UINT64_C(1) << 32) - 1));
    cr_assert_eq(sp_mul_ovf(UINT64_C(1) << 32, UINT64_C(1) << 32, &r), 1);
    cr_assert_eq(sp_mul_ovf(0, UINT64_MAX, &r), 0);
    cr_assert_eq(r, 0);
}

Test(errors, sp_fail_fills_one_line_and_returns_the_code) {
    sp_error err = {0};
    cr_assert_eq(sp_fail(&err, SP_ERR_INPUT, "%s: bad\nvalue %d\r!", "x.json", 7), SP_ERR_INPUT);
    cr_assert_eq(err.code, SP_ERR_INPUT);
    cr_assert_str_eq(err.msg, "x.json: bad value 7 !");
    cr_assert_eq(sp_fail(NULL, SP_ERR_RUNTIME, "ignored"), SP_ERR_RUNTIME);
    char long_name[2000];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    sp_fail(&err, SP_ERR_RUNTIME, "%s", long_name);
    cr_assert_eq(strlen(err.msg), sizeof err.msg - 1, "a long message is cut to the buffer");
}
