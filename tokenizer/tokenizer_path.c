/* tokenizer_path.c — a tokenizer from a path that is either a sparsa model file or a
 * SentencePiece `.model` file (kept apart from tokenizer.c so that users of the plain API do
 * not pull in the model-file reader). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sparsa_tokenizer.h"

static const unsigned char sparsa_magic[8] = {0x89, 'S', 'P', 'A', 'R', 'S', 'A', '\n'};

int sp_tokenizer_load_path(const char *path, sp_tokenizer **out, sp_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return sp_fail(err, SP_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    unsigned char head[8] = {0};
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (n < sizeof head || memcmp(head, sparsa_magic, sizeof head) != 0)
        return sp_tokenizer_load_file(path, out, err);
    sp_file *file = NULL;
    int rc = sp_file_open(path, &file, err);
    if (rc) return rc;
    size_t len = 0;
    const void *bytes = sp_file_tokenizer(file, &len);
    if (!bytes || len == 0)
        rc = sp_fail(err, SP_ERR_INPUT, "%s: the model file holds no tokenizer (convert it with "
                     "--tokenizer SPM.model)", path);
    else
        rc = sp_tokenizer_load_bytes(bytes, len, out, err);
    sp_file_close(file);
    return rc;
}
