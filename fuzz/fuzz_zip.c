/* fuzz_zip.c — libFuzzer target for the stored-only ZIP/ZIP64 reader: open the input as an
 * archive, then read every member's name and every byte it claims (an out-of-bounds claim that
 * got past validation shows up as an ASan report), and look each member up by name. */
#include <stdint.h>
#include <string.h>

#include "zip_reader.h"

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sp_zip *z;
    sp_error err = {0};
    if (sp_zip_open(data, size, &z, &err)) {
        if (!err.msg[0]) __builtin_trap();
        return 0;
    }
    for (size_t i = 0; i < sp_zip_count(z); i++) {
        const sp_zip_entry *e = sp_zip_entry_at(z, i);
        if (e->data_offset > size || e->size > size - e->data_offset) __builtin_trap();
        uint8_t x = 0;
        for (uint64_t k = 0; k < e->size; k++) x ^= data[e->data_offset + k];
        sink ^= x;
        if (sp_zip_find(z, e->name) != e) __builtin_trap(); /* names are unique */
        sink ^= (uint8_t)strlen(e->name);
    }
    sp_zip_close(z);
    return 0;
}
