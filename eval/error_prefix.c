/* error_prefix.c — where-prefixes for eval's one-line errors (error_prefix.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error_prefix.h"

void sp_eval_error_prefix(sp_error *err, const char *fmt, ...) {
    if (!err) return;
    char where[sizeof err->msg], was[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(where, sizeof where / 2, fmt, ap); /* half the line at most: the cause must show */
    va_end(ap);
    memcpy(was, err->msg, sizeof was);
    was[sizeof was - 1] = 0;
    sp_fail(err, err->code, "%s: %s", where, was);
}
