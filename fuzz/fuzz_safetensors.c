/* fuzz_safetensors.c — libFuzzer target for the safetensors header validation: parse the input,
 * then check the promises the parser makes (every tensor inside the file, sizes equal to shape
 * times dtype, ranges that tile the data area) and read every tensor byte. */
#include <stdint.h>
#include <string.h>

#include "safetensors_reader.h"

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sp_safetensors *st;
    sp_error err = {0};
    if (sp_safetensors_parse(data, size, &st, &err)) {
        if (!err.msg[0]) __builtin_trap();
        return 0;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < st->count; i++) {
        const sp_st_tensor *t = &st->tensors[i];
        if (t->offset > size || t->size > size - t->offset) __builtin_trap();
        uint64_t numel = 1;
        for (uint32_t k = 0; k < t->ndim; k++) numel *= t->shape[k];
        if (numel * sp_dtype_size(t->dtype) != t->size) __builtin_trap();
        uint8_t x = 0;
        for (uint64_t k = 0; k < t->size; k++) x ^= data[t->offset + k];
        sink ^= x;
        total += t->size;
    }
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = hlen << 8 | data[k];
    if (total != size - 8 - hlen) __builtin_trap(); /* no holes, no overlaps */
    sp_safetensors_free(st);
    return 0;
}
