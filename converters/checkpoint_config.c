/* checkpoint_config.c — the hyper-parameters of a checkpoint: the config file named with
 * --config (JSON, or YAML read as the equivalent JSON object), else one found beside SRC, else
 * the config recovered from a Lightning checkpoint's hyper_parameters. Provenance keeps the
 * file's own bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_internal.h"
#include "config_readers.h"

static int is_yaml_name(const char *path) {
    size_t n = strlen(path);
    return (n > 5 && !strcmp(path + n - 5, ".yaml")) || (n > 4 && !strcmp(path + n - 4, ".yml"));
}

int ckpt_load_config(sp_ckpt *c, const char *path, sp_error *err) {
    char *text;
    size_t len;
    int rc = sp_read_file(path, CKPT_TEXT_MAX, &text, &len, err);
    if (rc) return rc;
    sp_error e2 = {0};
    if (is_yaml_name(path)) {
        /* YAML (e.g. a Hydra model config): read as the equivalent JSON object */
        char *json;
        if (sp_yaml_config_to_json(text, strlen(text), &json, &e2)) {
            free(text);
            return sp_fail(err, e2.code, "%s: %s", path, e2.msg);
        }
        c->config_file_text = text; /* provenance hashes the file, not its JSON form */
        text = json;
    }
    sp_json *j;
    if (sp_json_parse(text, strlen(text), &j, &e2)) {
        free(text);
        return sp_fail(err, SP_ERR_INPUT, "%s: %s", path, e2.msg);
    }
    if (j->type != SP_JSON_OBJECT) {
        sp_json_free(j);
        free(text);
        return sp_fail(err, SP_ERR_INPUT, "%s: the config is not a JSON object", path);
    }
    c->config = j;
    c->config_text = text;
    c->config_path = strdup(path);
    return c->config_path ? 0 : sp_fail(err, SP_ERR_RUNTIME, "out of memory");
}

/* No config file: the one recorded in the checkpoint's hyper_parameters. */
static int use_hparams_config(sp_ckpt *c, sp_error *err) {
    sp_json *j;
    sp_error e2 = {0};
    if (sp_json_parse(c->hparams_config, strlen(c->hparams_config), &j, &e2))
        return sp_fail(err, SP_ERR_INPUT, "the config in the checkpoint's hyper_parameters: %s", e2.msg);
    if (j->type != SP_JSON_OBJECT) {
        sp_json_free(j);
        return sp_fail(err, SP_ERR_INPUT, "the checkpoint's hyper_parameters hold no config object");
    }
    c->config = j;
    c->config_text = c->hparams_config;
    c->hparams_config = NULL;
    return 0;
}

/* <stem>.config.json / <stem>.params.json for every stem of a file name (a.b.ckpt: a.b, then
 * a), then config.json / params.json in the folder; 1 with the path in cand when found. */
static int config_beside(const char *src, int src_is_dir, const char *dir, char *cand, size_t cap) {
    if (!src_is_dir) {
        const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
        char stem[1024];
        snprintf(stem, sizeof stem, "%s", base);
        char *dot;
        while ((dot = strrchr(stem, '.')) && dot > stem) {
            *dot = 0;
            static const char *sfx[] = {".config.json", ".params.json"};
            for (size_t i = 0; i < 2; i++) {
                snprintf(cand, cap, "%s/%s%s", dir, stem, sfx[i]);
                if (ckpt_path_exists(cand)) return 1;
            }
        }
    }
    static const char *names[] = {"config.json", "params.json"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(cand, cap, "%s/%s", dir, names[i]);
        if (ckpt_path_exists(cand)) return 1;
    }
    return 0;
}

int ckpt_find_config(sp_ckpt *c, const char *src, int src_is_dir, const char *dir, sp_error *err) {
    char cand[5300];
    if (config_beside(src, src_is_dir, dir, cand, sizeof cand)) return ckpt_load_config(c, cand, err);
    if (c->hparams_config) return use_hparams_config(c, err);
    return 0;
}
