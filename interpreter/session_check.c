/* session_check.c — what every forward checks before it runs, whichever backend runs it: the
 * session has room for the tokens, and every id is inside the vocabulary. */
#include "interp_internal.h"

int sp_session_check_call(const sp_session *s, const int32_t *tokens, size_t n, sp_error *err) {
    if (n > s->max_tokens - s->pos)
        return sp_fail(err, SP_ERR_INPUT, "%zu tokens after %zu cached exceed the session's %zu",
                       n, s->pos, s->max_tokens);
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (int64_t)tokens[i] >= s->m->graph->vocab_size)
            return sp_fail(err, SP_ERR_INPUT, "token id %ld at position %zu outside [0, %lld)",
                           (long)tokens[i], i, (long long)s->m->graph->vocab_size);
    return SP_OK;
}
