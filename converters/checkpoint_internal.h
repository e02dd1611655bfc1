/* checkpoint_internal.h — the steps of opening a checkpoint, shared by the checkpoint_*.c files
 * and no one else: file mapping and the tensor list (checkpoint_files.c), format sniffing,
 * safetensors files and Hugging Face folders (checkpoint_load.c), torch.save archives
 * (checkpoint_torch.c) and the config (checkpoint_config.c). */
#ifndef SPARSA_CHECKPOINT_INTERNAL_H
#define SPARSA_CHECKPOINT_INTERNAL_H

#include "checkpoint_reader.h"

/* Maps path read-only and appends it to c->files; its index in *idx. */
int ckpt_add_file(sp_ckpt *c, const char *path, const char *display, size_t *idx, sp_error *err);
/* 1 if something exists at path (following symlinks), whatever it is: a config or index file
 * found by its name is then read, and refused there if it is a FIFO, a device or a folder,
 * rather than silently passed over. */
int ckpt_path_exists(const char *path);
/* Appends a zeroed tensor named name; NULL (err filled) on out of memory. */
sp_src_tensor *ckpt_new_tensor(sp_ckpt *c, const char *name, sp_error *err);

/* Maps one file and reads its tensors, whatever its format (sniffed from its first bytes). */
int ckpt_load_file(sp_ckpt *c, const char *path, const char *display, sp_error *err);
/* A Hugging Face folder: the shards of its index file, else every *.safetensors (or else every
 * pytorch_model*.bin) in name order. */
int ckpt_load_folder(sp_ckpt *c, const char *dir, sp_error *err);
/* The tensors of the torch.save archive c->files[fi] (its config from hyper_parameters too). */
int ckpt_load_torch_zip(sp_ckpt *c, size_t fi, sp_error *err);

/* The size bound of the text files a checkpoint comes with (configs, index files). */
#define CKPT_TEXT_MAX ((uint64_t)16 << 20)

/* Reads the config at path (JSON, or YAML by its extension) into c. */
int ckpt_load_config(sp_ckpt *c, const char *path, sp_error *err);
/* No config named: <stem>.config.json / <stem>.params.json beside the file, config.json /
 * params.json in dir, else the checkpoint's hyper_parameters; none of them is no error. */
int ckpt_find_config(sp_ckpt *c, const char *src, int src_is_dir, const char *dir, sp_error *err);

#endif
