/* test_convert_trace.c — the conversion's timeline for measuring it (converters/convert_trace.c):
 * with SPARSA_CONVERT_TRACE set, `sparsa convert` prints one "convert-trace SECONDS STEP" line per
 * step on stderr, the steps of both threads in the order of their moments within each thread
 * (the hash's and the second thread's, through the published file); unset, it prints none, and
 * the file is the same either way. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tu.h"
#include "tu_format.h"

#define CK "tests/fixtures/checkpoints/"

/* The moment of step in err's trace lines, or -1 when it is missing. */
static double step_at(const char *err, const char *step) {
    char want[128];
    snprintf(want, sizeof want, " %s\n", step);
    for (const char *p = strstr(err, "convert-trace "); p; p = strstr(p + 1, "convert-trace ")) {
        const char *eol = strchr(p, '\n');
        const char *space = strchr(p + 14, ' ');
        if (eol && space && space < eol && !strncmp(space, want, (size_t)(eol - space + 1)))
            return strtod(p + 14, NULL);
    }
    return -1;
}

static char *convert(const char *out, int traced) {
    char args[512], *err = NULL;
    if (traced) setenv("SPARSA_CONVERT_TRACE", "1", 1);
    else unsetenv("SPARSA_CONVERT_TRACE");
    snprintf(args, sizeof args, "convert " CK "sg2-asentmax-nape.lightning.ckpt -o %s --quiet --force", out);
    int rc = tu_run_sparsa(args, NULL, &err);
    unsetenv("SPARSA_CONVERT_TRACE");
    cr_assert_eq(rc, 0, "convert: rc %d: %s", rc, err ? err : "");
    return err;
}

Test(convert_trace, steps_in_order_and_same_file) {
    char plain[256], traced[256];
    tu_tmp_name(plain, sizeof plain, "untraced");
    tu_tmp_name(traced, sizeof traced, "traced");
    char *quiet = convert(plain, 0), *err = convert(traced, 1);
    cr_assert(!strstr(quiet, "convert-trace"), "a trace without SPARSA_CONVERT_TRACE: %s", quiet);
    const char *hash[] = {"sp_convert", "checkpoint open", "hash starts", "hash done", "published",
                          "sp_convert returns"};
    const char *beside[] = {"second thread runs", "planned", "streamed", "draft written, check starts",
                            "draft checked", "draft checked and on disk", "published"};
    double last = 0;
    for (size_t i = 0; i < sizeof hash / sizeof hash[0]; i++) {
        const double t = step_at(err, hash[i]);
        cr_assert(t > 0 && t >= last, "step '%s' missing or out of order in:\n%s", hash[i], err);
        last = t;
    }
    last = step_at(err, "checkpoint open");
    for (size_t i = 0; i < sizeof beside / sizeof beside[0]; i++) {
        const double t = step_at(err, beside[i]);
        cr_assert(t > 0 && t >= last, "step '%s' missing or out of order in:\n%s", beside[i], err);
        last = t;
    }
    size_t na = 0, nb = 0;
    uint8_t *a = tu_read_file(plain, &na), *b = tu_read_file(traced, &nb);
    cr_assert(a && b && na == nb && !memcmp(a, b, na), "the traced conversion wrote other bytes");
    free(a);
    free(b);
    free(quiet);
    free(err);
    remove(plain);
    remove(traced);
}
