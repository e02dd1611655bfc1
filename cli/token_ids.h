/* token_ids.h — the one reader of token-id lists on the command line (logits --tokens,
 * generate --tokens, tokenize --decode). */
#ifndef SPARSA_CLI_TOKEN_IDS_H
#define SPARSA_CLI_TOKEN_IDS_H

#include <stddef.h>
#include <stdint.h>

/* Parses ids separated by commas and/or white space ("5,17,3", "5 17 3", "5, 17"). Each item
 * is a decimal integer that fits int32 (a sign is allowed, so callers can name an id outside
 * the vocabulary in their own words); an empty item (",,", a leading or trailing comma) is
 * bad. Returns 0 (*ids malloc'd, possibly with *n = 0), SP_ERR_INPUT with the bad item (cut to
 * 40 bytes) in bad, or SP_ERR_RUNTIME when memory ran out. */
int cli_parse_token_ids(const char *s, int32_t **ids, size_t *n, char *bad, size_t bad_len);

#endif
