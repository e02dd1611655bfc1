/* tokenizer_path.c — a tokenizer from a path that is either a sparsa model file or a
 * SentencePiece `.model` file (kept apart from tokenizer.c so that users of the plain API do
 * not pull in the model-file reader). */
#include <string.h>
#include <unistd.h>

#include "sparsa_tokenizer.h"

static const unsigned char sparsa_magic[8] = {0x89, 'S', 'P', 'A', 'R', 'S', 'A', '\n'};

int sp_tokenizer_load_path(const char *path, sp_tokenizer **out, sp_error *err) {
    *out = NULL;
    /* a FIFO, device or directory is refused here, before anything could block on it */
    int fd = sp_open_input(path, NULL, err);
    if (fd < 0) return err ? err->code : SP_ERR_INPUT;
    unsigned char head[8] = {0};
    ssize_t n = pread(fd, head, sizeof head, 0);
    close(fd);
    if (n < (ssize_t)sizeof head || memcmp(head, sparsa_magic, sizeof head) != 0)
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
