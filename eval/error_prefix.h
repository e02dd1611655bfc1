/* error_prefix.h — private to eval/: putting where something failed in front of an error
 * message that says what failed ("psalms.txt:3: " + "non-finite logit at position 12"). */
#ifndef SPARSA_EVAL_ERROR_PREFIX_H
#define SPARSA_EVAL_ERROR_PREFIX_H

#include "sparsa_common.h"

/* err->msg becomes "<printf(fmt, ...)>: <err->msg>", cut to fit; the code is kept. */
void sp_eval_error_prefix(sp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
