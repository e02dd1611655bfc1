/* test_mc_json.c — the strict JSON reader of eval/ (sp_jv_*): values, escapes and surrogate
 * pairs decoded; everything RFC 8259 forbids refused with the byte where it went wrong. */
#include <criterion/criterion.h>
#include <string.h>

#include "sparsa_workbench.h"

static int parse(const char *s, sp_jv *v, sp_error *e) { return sp_jv_parse(s, strlen(s), v, e); }

Test(json, values_and_escapes) {
    sp_jv v;
    sp_error e = {0};
    const char *doc = " {\"a\": [1, -2.5e3, true, false, null], \"s\": \"x\\n\\u00e9\\ud83d\\ude00\\\"\","
                      " \"o\": {}} ";
    cr_assert_eq(parse(doc, &v, &e), 0, "%s", e.msg);
    const sp_jv *a = sp_jv_get(&v, "a");
    cr_assert_eq(a->type, SP_JV_ARRAY);
    cr_assert_eq(a->n, 5);
    cr_assert_eq(a->items[1].number, -2500.0);
    cr_assert(a->items[2].boolean && !a->items[3].boolean);
    cr_assert_eq(a->items[4].type, SP_JV_NULL);
    cr_assert_str_eq(sp_jv_get(&v, "s")->str, "x\n\xc3\xa9\xf0\x9f\x98\x80\"");
    cr_assert_eq(sp_jv_get(&v, "o")->type, SP_JV_OBJECT);
    cr_assert_null(sp_jv_get(&v, "missing"));
    sp_jv_free(&v);
}

Test(json, refusals) {
    const char *bad[] = {
        "[1, 2,]", "{\"a\": 1, \"a\": 2}", "\"\\ud800\"", "\"\\udc00\"", "\"a\tb\"", "01",
        "1.", "-", "[1] x", "{\"a\" 1}", "\"\xff\"", "tru", "", "[1 2]", "\"\\x\"", "1e999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sp_jv v;
        sp_error e = {0};
        cr_assert_eq(parse(bad[i], &v, &e), SP_ERR_INPUT, "accepted %s", bad[i]);
        cr_assert(strstr(e.msg, "byte "), "%s", e.msg);
    }
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    sp_jv v;
    sp_error e = {0};
    cr_assert_eq(sp_jv_parse(deep, 200, &v, &e), SP_ERR_INPUT);
    cr_assert(strstr(e.msg, "deep"), "%s", e.msg);
}
