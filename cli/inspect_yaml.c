/* inspect_yaml.c — the libyaml lookups `sparsa inspect` reads its graph document with (the op
 * summary in inspect_graph.c, the hyper-parameters in inspect_hparams.c). */
#include <string.h>

#include "inspect_yaml.h"

yaml_node_t *inspect_yaml_get(yaml_document_t *d, yaml_node_t *m, const char *key) {
    if (!m || m->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(key) &&
            !memcmp(k->data.scalar.value, key, k->data.scalar.length))
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

const char *inspect_yaml_scalar(yaml_node_t *n, size_t *len) {
    if (!n || n->type != YAML_SCALAR_NODE) return NULL;
    *len = n->data.scalar.length;
    return (const char *)n->data.scalar.value;
}
