/* checkpoint_files.c — what an open checkpoint owns: its read-only mapped files and its list
 * of named tensors (adding, finding, closing). Files are memory-mapped so tensor bytes are only
 * touched when they are read (checkpoint_read.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint_internal.h"

int ckpt_add_file(sp_ckpt *c, const char *path, const char *display, size_t *idx, sp_error *err) {
    /* a FIFO, device or directory is refused before anything could block on it */
    uint64_t size = 0;
    int fd = sp_open_input(path, &size, err);
    if (fd < 0) return err ? err->code : SP_ERR_INPUT;
    if (size == 0) {
        close(fd);
        return sp_fail(err, SP_ERR_INPUT, "%s is empty", path);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        close(fd);
        return sp_fail(err, SP_ERR_RUNTIME, "cannot map %s: %s", path, strerror(errno));
    }
    sp_src_file *nf = realloc(c->files, (c->nfiles + 1) * sizeof *nf);
    if (!nf) {
        munmap(map, (size_t)size);
        close(fd);
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    }
    c->files = nf;
    sp_src_file *f = &c->files[c->nfiles];
    f->path = strdup(path);
    f->display = strdup(display);
    f->size = size;
    f->map = map;
    f->fd = fd;
    *idx = c->nfiles++;
    if (!f->path || !f->display) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    return 0;
}

int ckpt_path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

sp_src_tensor *ckpt_new_tensor(sp_ckpt *c, const char *name, sp_error *err) {
    if ((c->ntensors & (c->ntensors - 1)) == 0) {
        size_t cap = c->ntensors ? c->ntensors * 2 : 16;
        sp_src_tensor *nt = realloc(c->tensors, cap * sizeof *nt);
        if (!nt) {
            sp_fail(err, SP_ERR_RUNTIME, "out of memory");
            return NULL;
        }
        c->tensors = nt;
    }
    sp_src_tensor *t = &c->tensors[c->ntensors];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) {
        sp_fail(err, SP_ERR_RUNTIME, "out of memory");
        return NULL;
    }
    c->ntensors++;
    return t;
}

void sp_ckpt_close(sp_ckpt *c) {
    if (!c) return;
    for (size_t i = 0; i < c->nfiles; i++) {
        munmap((void *)c->files[i].map, (size_t)c->files[i].size);
        close(c->files[i].fd);
        free(c->files[i].path);
        free(c->files[i].display);
    }
    for (size_t i = 0; i < c->ntensors; i++) free(c->tensors[i].name);
    free(c->files);
    free(c->tensors);
    free(c->config_path);
    free(c->config_text);
    free(c->hparams_config);
    free(c->config_file_text);
    sp_json_free(c->config);
    free(c->source);
    free(c);
}

const sp_src_tensor *sp_ckpt_find(const sp_ckpt *c, const char *name) {
    for (size_t i = 0; i < c->ntensors; i++)
        if (!strcmp(c->tensors[i].name, name)) return &c->tensors[i];
    return NULL;
}
