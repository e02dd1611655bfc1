/* config_readers.h — model configs that do not come as JSON, turned into the JSON object text
 * the mappings read: a YAML file (yaml_config.c) and a Lightning checkpoint's hyper_parameters
 * (hparams.c). Internal to converters/ (tests and fuzz targets may use it). */
#ifndef SPARSA_CONFIG_READERS_H
#define SPARSA_CONFIG_READERS_H

#include <stddef.h>

#include "pickle_reader.h"
#include "sparsa_format.h"

/* The model config inside a checkpoint's hyper_parameters (a dict, config object,
 * functools.partial keywords or OmegaConf container holding hidden_size & co.) as a JSON
 * object text (malloc'd), or NULL when there is none. */
char *sp_hparams_config_json(const sp_pobj *root);

/* A YAML config as a JSON object text (malloc'd): the mapping holding the model sizes (or the
 * top one), OmegaConf `${.key}`/`${a.b}` whole-value interpolations resolved. */
int sp_yaml_config_to_json(const char *text, size_t len, char **json, sp_error *err);

#endif
