/* convert_bos.c — whether the model was trained with BOS before its text, for the metadata key
 * tokenizer.add_bos that `sparsa generate` follows: `add_bos_token` in the Hugging Face
 * tokenizer_config.json beside the checkpoint (in the folder SRC, or in SRC's folder), else in
 * the config. Nothing else records it, so other checkpoints leave the key out (and generate
 * keeps its default, BOS). A tokenizer_config.json that cannot be read or parsed is ignored:
 * it only ever adds this one fact. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convert_internal.h"
#include "json_reader.h"

/* The add_bos_token boolean of a JSON object, or -1. */
static int add_bos_of(const sp_json *obj) {
    const sp_json *v = obj ? sp_json_get(obj, "add_bos_token") : NULL;
    return v && v->type == SP_JSON_BOOL ? v->boolean != 0 : -1;
}

/* SRC's folder (SRC itself when it is one) joined with name; malloc'd. */
static char *beside(const char *src, const char *name) {
    struct stat st;
    size_t n = strlen(src);
    if (stat(src, &st) != 0 || !S_ISDIR(st.st_mode)) {
        const char *slash = strrchr(src, '/');
        n = slash ? (size_t)(slash - src) : 0;
    }
    char *path = malloc(n + strlen(name) + 3);
    if (!path) return NULL;
    if (n) {
        memcpy(path, src, n);
        path[n] = '/';
        strcpy(path + n + 1, name);
    } else {
        strcpy(path, name);
    }
    return path;
}

int conv_add_bos(const sp_ckpt *c, const char *src) {
    int known = -1;
    char *path = beside(src, "tokenizer_config.json");
    struct stat st;
    if (path && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        char *text = NULL;
        size_t len = 0;
        sp_error ignored = {0};
        sp_json *j = NULL;
        if (!sp_read_file(path, (uint64_t)16 << 20, &text, &len, &ignored) &&
            !sp_json_parse(text, len, &j, &ignored)) {
            sp_inputs_add(path);
            known = add_bos_of(j);
        }
        sp_json_free(j);
        free(text);
    }
    free(path);
    if (known < 0 && c->config) known = add_bos_of(c->config);
    return known;
}
