/* error.c — sp_error, the one-line error every part of sparsa reports. */
#include <stdarg.h>
#include <stdio.h>

#include "sparsa_common.h"

int sp_fail(sp_error *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        /* one line: a message may quote text holding newlines */
        for (char *c = err->msg; *c; c++)
            if (*c == '\n' || *c == '\r') *c = ' ';
        err->code = code;
    }
    return code;
}
