/* safetensors_reader.h — strict safetensors header validation (safetensors.c). Internal to
 * converters/ (tests and fuzz targets may use it). */
#ifndef SPARSA_SAFETENSORS_READER_H
#define SPARSA_SAFETENSORS_READER_H

#include <stddef.h>
#include <stdint.h>

#include "json_reader.h"
#include "sparsa_format.h"

typedef struct sp_st_tensor {
    char *name;
    sp_dtype dtype;
    uint32_t ndim;
    uint64_t shape[SP_MAX_DIMS];
    uint64_t offset;   /* absolute offset in the file */
    uint64_t size;     /* bytes */
} sp_st_tensor;

typedef struct sp_safetensors {
    sp_st_tensor *tensors;   /* in header order */
    size_t count;
    sp_json *header;         /* the parsed header (includes __metadata__) */
} sp_safetensors;

#define SP_SAFETENSORS_MAX_HEADER (100u << 20)

/* The header of the file in data[0..size): capped length inside the file, a JSON object, known
 * dtypes, sizes that match shapes, data ranges that tile the data area exactly. */
int sp_safetensors_parse(const uint8_t *data, uint64_t size, sp_safetensors **out, sp_error *err);
void sp_safetensors_free(sp_safetensors *st);

#endif
