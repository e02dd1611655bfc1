/* checkpoint_open.c — sp_ckpt_open: a checkpoint file or Hugging Face folder with its tensors
 * (no name twice across shards) and its config. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint_internal.h"

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const sp_src_tensor *)a)->name, ((const sp_src_tensor *)b)->name);
}

/* Duplicate names across shards. */
static int check_unique_names(const sp_ckpt *c, sp_error *err) {
    sp_src_tensor *tmp = malloc((c->ntensors ? c->ntensors : 1) * sizeof *tmp);
    if (!tmp) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    memcpy(tmp, c->tensors, c->ntensors * sizeof *tmp);
    qsort(tmp, c->ntensors, sizeof *tmp, cmp_tensor_name);
    int rc = 0;
    for (size_t i = 1; i < c->ntensors && !rc; i++)
        if (!strcmp(tmp[i - 1].name, tmp[i].name))
            rc = sp_fail(err, SP_ERR_INPUT, "tensor '%.200s' appears twice in the checkpoint", tmp[i].name);
    free(tmp);
    return rc;
}

/* The tensors of SRC; dir receives the folder a config is looked for in. */
static int load_source(sp_ckpt *c, const char *src, const struct stat *st, char *dir, size_t cap, sp_error *err) {
    snprintf(dir, cap, "%s", src);
    if (S_ISDIR(st->st_mode)) return ckpt_load_folder(c, src, err);
    char *sl = strrchr(dir, '/');
    if (sl) *sl = 0;
    else strcpy(dir, ".");
    const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
    return ckpt_load_file(c, src, base, err);
}

int sp_ckpt_open(const char *src, const char *config_path, sp_ckpt **out, sp_error *err) {
    *out = NULL;
    sp_ckpt *c = calloc(1, sizeof *c);
    if (!c) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    c->source = strdup(src);
    struct stat st;
    int rc = 0;
    char dir[4096];
    if (stat(src, &st)) rc = sp_fail(err, SP_ERR_INPUT, "cannot open %s: %s", src, strerror(errno));
    else if (strlen(src) > 3000) rc = sp_fail(err, SP_ERR_INPUT, "path too long");
    else rc = load_source(c, src, &st, dir, sizeof dir, err);
    if (!rc) rc = check_unique_names(c, err);
    if (!rc) {
        if (config_path) rc = ckpt_load_config(c, config_path, err);
        else rc = ckpt_find_config(c, src, S_ISDIR(st.st_mode), dir, err);
    }
    if (rc) {
        sp_ckpt_close(c);
        return rc;
    }
    *out = c;
    return 0;
}
