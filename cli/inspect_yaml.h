/* inspect_yaml.h — private to `sparsa inspect`: libyaml lookups (inspect_yaml.c) and the
 * hyper-parameter walk (inspect_hparams.c) over the graph document inspect_graph.c parses. */
#ifndef SPARSA_CLI_INSPECT_YAML_H
#define SPARSA_CLI_INSPECT_YAML_H

#include <yaml.h>

#include "inspect.h"

/* The value of `key` in mapping m, or NULL. */
yaml_node_t *inspect_yaml_get(yaml_document_t *d, yaml_node_t *m, const char *key);
/* A scalar's bytes (not NUL-terminated) and length, or NULL. */
const char *inspect_yaml_scalar(yaml_node_t *n, size_t *len);

/* inspect_hparams.c: fills h from the graph document's root mapping and the file's tensors. */
void inspect_hparams_collect(yaml_document_t *d, yaml_node_t *root, const sp_file *f,
                             inspect_hparams *h);

#endif
