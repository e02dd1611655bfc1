/* mapping_config.c — the mappings' config getters (mapping_context.h): a value with a default
 * when the key is absent or null, a recorded problem when it has the wrong type, and the
 * Hugging Face conventions several mappings share (rope_theta's two homes, RoPE scaling,
 * activation names). */
#include <string.h>

#include "mapping_context.h"

const sp_json *cfg_get(const sp_json *cfg, const char *k) {
    const sp_json *v = sp_json_get(cfg, k);
    return v && v->type != SP_JSON_NULL ? v : NULL;
}

int cfg_has(const sp_json *cfg, const char *k) { return sp_json_get(cfg, k) != NULL; }

double cfg_num(map_ctx *m, const char *k, double def) {
    const sp_json *v = cfg_get(m->c->config, k);
    if (!v) return def;
    if (v->type != SP_JSON_NUMBER) {
        mc_config_error(m, "config key %s must be a number", k);
        return def;
    }
    return v->number;
}

long long cfg_int(map_ctx *m, const char *k, long long def) {
    const sp_json *v = cfg_get(m->c->config, k);
    if (!v) return def;
    if (v->type != SP_JSON_NUMBER || !v->is_integer) {
        mc_config_error(m, "config key %s must be an integer", k);
        return def;
    }
    return v->integer;
}

int cfg_bool(map_ctx *m, const char *k, int def) {
    const sp_json *v = cfg_get(m->c->config, k);
    if (!v) return def;
    if (v->type != SP_JSON_BOOL) {
        mc_config_error(m, "config key %s must be true or false", k);
        return def;
    }
    return v->boolean;
}

const char *cfg_str(map_ctx *m, const char *k, const char *def) {
    const sp_json *v = cfg_get(m->c->config, k);
    if (!v) return def;
    if (v->type != SP_JSON_STRING) {
        mc_config_error(m, "config key %s must be a string", k);
        return def;
    }
    return v->str;
}

double cfg_rope_theta(map_ctx *m, double def) {
    const sp_json *rp = cfg_get(m->c->config, "rope_parameters");
    if (rp && rp->type == SP_JSON_OBJECT) {
        const sp_json *t = cfg_get(rp, "rope_theta");
        if (t && t->type == SP_JSON_NUMBER) return t->number;
    }
    return cfg_num(m, "rope_theta", def);
}

int cfg_check_rope_scaling(map_ctx *m) {
    static const char *keys[] = {"rope_scaling", "rope_parameters"};
    for (int i = 0; i < 2; i++) {
        const sp_json *rs = cfg_get(m->c->config, keys[i]);
        if (!rs) continue;
        if (rs->type != SP_JSON_OBJECT) {
            mc_config_error(m, "config key %s must be an object", keys[i]);
            return 1;
        }
        const sp_json *t = cfg_get(rs, "rope_type");
        if (!t) t = cfg_get(rs, "type");
        if (t && (t->type != SP_JSON_STRING || strcmp(t->str, "default"))) {
            mc_config_error(m, "RoPE scaling '%s' is not supported (only default RoPE)",
                            t->type == SP_JSON_STRING ? t->str : "?");
            return 1;
        }
        const sp_json *f = cfg_get(rs, "partial_rotary_factor");
        if (f && (f->type != SP_JSON_NUMBER || f->number != 1.0)) {
            mc_config_error(m, "partial_rotary_factor other than 1 is not supported");
            return 1;
        }
    }
    return 0;
}

const char *hf_activation(map_ctx *m, const char *key, const char *def) {
    static const struct {
        const char *hf, *graph;
    } names[] = {
        {.hf = "silu", .graph = "silu"},
        {.hf = "swish", .graph = "silu"},
        {.hf = "gelu_pytorch_tanh", .graph = "gelu_tanh"},
        {.hf = "gelu_new", .graph = "gelu_tanh"},
        {.hf = "gelu_fast", .graph = "gelu_tanh"},
        {.hf = "gelu", .graph = "gelu"},
        {.hf = "relu", .graph = "relu"},
    };
    const char *a = cfg_str(m, key, def);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(a, names[i].hf)) return names[i].graph;
    mc_config_error(m, "activation '%s' is not supported", a);
    return "silu";
}
