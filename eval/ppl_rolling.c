/* ppl_rolling.c — the rolling protocol's windows (lm-evaluation-harness's
 * loglikelihood_rolling with context_len 1: get_rolling_token_windows followed by
 * make_disjoint_window) and its word count, pure logic. docs/PROTOCOLS.md, "rolling", states
 * the windows and the word, byte and bits-per-byte definitions. */
#include "sparsa_eval.h"

size_t sp_ppl_rolling_count(size_t n_tokens, size_t ctx) {
    if (!n_tokens || !ctx) return 0;
    return (n_tokens + ctx - 1) / ctx;
}

size_t sp_ppl_rolling_window(const int32_t *doc, size_t n_tokens, size_t ctx, int32_t bos,
                             size_t j, int32_t *seq, size_t *len) {
    if (j == 0) {
        /* The first window predicts its first min(L, n) tokens, the first from BOS alone. */
        size_t m = n_tokens < ctx ? n_tokens : ctx;
        seq[0] = bos;
        for (size_t i = 0; i < m; i++) seq[1 + i] = doc[i];
        *len = m + 1;
        return 1;
    }
    /* Later windows predict the next up-to-L tokens; the L + 1 tokens ending at the last of
     * them are the sequence (j L >= L, so e - L - 1 >= 0), the rest is context. */
    size_t done = j * ctx;
    size_t e = n_tokens - done < ctx ? n_tokens : done + ctx;
    size_t first = e - ctx - 1;
    for (size_t i = 0; i <= ctx; i++) seq[i] = doc[first + i];
    *len = ctx + 1;
    return ctx + 1 - (e - done);
}

/* Python's str.isspace() at s[i] (valid UTF-8): the byte length of the space, or 0. */
static size_t space_len(const unsigned char *s, size_t len, size_t i) {
    unsigned c = s[i];
    if ((c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20)) return 1;
    if (c == 0xc2 && i + 1 < len && (s[i + 1] == 0x85 || s[i + 1] == 0xa0)) return 2;
    if (i + 2 >= len) return 0;
    unsigned c1 = s[i + 1], c2 = s[i + 2];
    if (c == 0xe1 && c1 == 0x9a && c2 == 0x80) return 3;                  /* U+1680 */
    if (c == 0xe2 && c1 == 0x80 && (c2 <= 0x8a || c2 == 0xa8 || c2 == 0xa9 || c2 == 0xaf))
        return 3;                                /* U+2000..U+200A, U+2028, U+2029, U+202F */
    if (c == 0xe2 && c1 == 0x81 && c2 == 0x9f) return 3;                  /* U+205F */
    if (c == 0xe3 && c1 == 0x80 && c2 == 0x80) return 3;                  /* U+3000 */
    return 0;
}

uint64_t sp_count_words(const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text;
    uint64_t runs = 0;
    int in_space = 0;
    for (size_t i = 0; i < len;) {
        size_t n = space_len(s, len, i);
        if (n) {
            if (!in_space) runs++;
            in_space = 1;
            i += n;
        } else {
            in_space = 0;
            i++;
        }
    }
    /* re.split gives one piece more than there are separators, empty pieces included. */
    return runs + 1;
}
