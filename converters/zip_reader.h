/* zip_reader.h — the stored-only ZIP/ZIP64 reader (zip.c, zip_records.c) that opens torch.save
 * archives in memory. Internal to converters/ (tests and fuzz targets may use it). */
#ifndef SPARSA_ZIP_READER_H
#define SPARSA_ZIP_READER_H

#include <stddef.h>
#include <stdint.h>

#include "sparsa_format.h"

typedef struct sp_zip_entry {
    char *name;              /* NUL-terminated */
    uint64_t data_offset;    /* absolute offset of the member's bytes in the archive */
    uint64_t size;
} sp_zip_entry;

typedef struct sp_zip sp_zip;

/* Validates the whole central directory: stored members only, sizes and offsets inside the
 * archive, no overlapping members, no duplicate names, no names that escape the folder. */
int sp_zip_open(const uint8_t *data, uint64_t size, sp_zip **out, sp_error *err);
void sp_zip_close(sp_zip *z);
size_t sp_zip_count(const sp_zip *z);
const sp_zip_entry *sp_zip_entry_at(const sp_zip *z, size_t i);
const sp_zip_entry *sp_zip_find(const sp_zip *z, const char *name);

#endif
