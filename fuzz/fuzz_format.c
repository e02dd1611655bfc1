/* fuzz_format.c — libFuzzer target for the model file reader: open the input as a file image,
 * then touch everything an open file hands out (metadata, array elements, graph, tokenizer,
 * every tensor's bytes, lookups by name) and verify. Any out-of-bounds read, leak or
 * undefined behaviour is a bug (built with ASan + UBSan by fuzz/run.sh). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sparsa_format.h"

static volatile uint8_t sink;

static void touch(const void *p, uint64_t n) {
    const uint8_t *b = p;
    uint8_t x = 0;
    for (uint64_t i = 0; i < n; i++) x ^= b[i];
    sink ^= x;
}

static void touch_meta(const sp_file *f) {
    for (size_t i = 0; i < sp_file_meta_count(f); i++) {
        const sp_meta *m = sp_file_meta(f, i);
        touch(m->key, m->key_len);
        char key[64];
        if (m->key_len < sizeof key) {
            memcpy(key, m->key, m->key_len);
            key[m->key_len] = 0;
            if (sp_file_meta_find(f, key) != m) abort();  /* keys are unique */
        }
        if (m->type == SP_META_STRING || m->type == SP_META_BYTES) touch(m->data, m->len);
        if (m->type == SP_META_ARRAY) {
            sp_meta_iter it;
            sp_meta e;
            sp_meta_iter_init(&it, m);
            uint64_t n = 0;
            while (sp_meta_iter_next(&it, &e)) {
                touch(e.data, e.len);
                n++;
            }
            if (n != m->len) abort();
            if (m->len && sp_meta_array_get(m, m->len - 1, &e)) abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sp_file *f;
    sp_error err;
    if (sp_file_open_memory(data, size, &f, &err)) return 0;
    touch_meta(f);
    size_t len;
    const char *g = sp_file_graph(f, &len);
    touch(g, len);
    const void *t = sp_file_tokenizer(f, &len);
    touch(t, len);
    for (size_t i = 0; i < sp_file_tensor_count(f); i++) {
        const sp_tensor_info *ti = sp_file_tensor(f, i);
        char name[64];
        if (ti->name_len < sizeof name) {
            memcpy(name, ti->name, ti->name_len);
            name[ti->name_len] = 0;
            if (sp_file_find_tensor(f, name) != ti) abort();  /* names are unique */
        }
        const void *p;
        if (sp_file_tensor_data(f, ti, &p, &err) == 0) touch(p, ti->raw_size);
        sp_file_verify_tensor(f, ti, &err);
    }
    sp_file_verify(f, &err);
    sp_file_close(f);
    return 0;
}
