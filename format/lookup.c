/* lookup.c — metadata and tensor access of an open file: by index, and by name through the
 * name-sorted indexes built at open (binary search). */
#include "format_internal.h"

size_t sp_file_meta_count(const sp_file *f) { return f->meta_count; }

const sp_meta *sp_file_meta(const sp_file *f, size_t i) {
    return i < f->meta_count ? &f->meta[i] : NULL;
}

const sp_meta *sp_file_meta_find(const sp_file *f, const char *key) {
    size_t klen = strlen(key), lo = 0, hi = f->meta_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const sp_meta *m = f->meta_sorted[mid];
        int c = sp_name_cmp(m->key, m->key_len, key, klen);
        if (!c) return m;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

size_t sp_file_tensor_count(const sp_file *f) { return f->tensor_count; }

const sp_tensor_info *sp_file_tensor(const sp_file *f, size_t i) {
    return i < f->tensor_count ? &f->tensors[i] : NULL;
}

const sp_tensor_info *sp_file_find_tensor(const sp_file *f, const char *name) {
    size_t nlen = strlen(name), lo = 0, hi = f->tensor_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const sp_tensor_info *t = f->tensor_sorted[mid];
        int c = sp_name_cmp(t->name, t->name_len, name, nlen);
        if (!c) return t;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}
