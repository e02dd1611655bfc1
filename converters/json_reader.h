/* json_reader.h — the converters' strict JSON reader (json.c), for config.json, params.json,
 * *.index.json and safetensors headers. Internal to converters/ (tests and fuzz targets may use
 * it). Errors fill an sp_error with one line naming the byte offset. */
#ifndef SPARSA_JSON_READER_H
#define SPARSA_JSON_READER_H

#include <stddef.h>
#include <stdint.h>

#include "sparsa_format.h"

typedef enum {
    SP_JSON_NULL, SP_JSON_BOOL, SP_JSON_NUMBER, SP_JSON_STRING, SP_JSON_ARRAY, SP_JSON_OBJECT
} sp_json_type;

typedef struct sp_json sp_json;
struct sp_json {
    sp_json_type type;
    int boolean;
    double number;
    int is_integer;      /* the literal had no fraction/exponent and fits int64 */
    int64_t integer;
    char *str;           /* STRING: NUL-terminated UTF-8 (no embedded NUL) */
    size_t len;          /* STRING: bytes; ARRAY/OBJECT: element count */
    sp_json **items;     /* ARRAY elements / OBJECT values, in document order */
    char **keys;         /* OBJECT keys (unique) */
};

/* Strict RFC 8259 JSON; duplicate keys, \u0000, nesting deeper than 64 and trailing bytes other
 * than whitespace are errors. */
int sp_json_parse(const char *text, size_t len, sp_json **out, sp_error *err);
void sp_json_free(sp_json *j);
const sp_json *sp_json_get(const sp_json *obj, const char *key); /* NULL if absent / not object */

#endif
