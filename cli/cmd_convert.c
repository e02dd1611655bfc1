/* cmd_convert.c — `sparsa convert SRC [-o OUT.sparsa] [--config FILE] [--arch NAME]
 * [--tokenizer SPM.model] [--dtype keep|f32|f16|bf16] [--compress none|zstd[:LEVEL]] [--force]
 * [--allow-nonfinite]`. The driver (converters/) records the inputs and checks the output; this
 * file adds what the converters cannot do themselves: the tokenizer checked against the
 * model's vocabulary (the tokenizer API comes through eval's public header). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "sparsa_convert.h"
#include "sparsa_eval.h"

#define CMD "convert"

static int parse_arch(const char *value, void *dest, char *why, size_t why_len) {
    if (!sp_mapping_find(value)) {
        snprintf(why, why_len, "unknown --arch '%s'", value);
        return SP_ERR_INPUT;
    }
    *(const char **)dest = value;
    return 0;
}

static int parse_dtype(const char *value, void *dest, char *why, size_t why_len) {
    static const struct { const char *name; sp_out_dtype dtype; } dtypes[] = {
        {"keep", SP_OUT_KEEP}, {"f32", SP_OUT_F32}, {"f16", SP_OUT_F16}, {"bf16", SP_OUT_BF16}};
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(value, dtypes[i].name)) {
            *(sp_out_dtype *)dest = dtypes[i].dtype;
            return 0;
        }
    snprintf(why, why_len, "--dtype must be keep, f32, f16 or bf16, not '%s'", value);
    return SP_ERR_INPUT;
}

/* --compress none|zstd[:LEVEL] sets both the compression and the zstd level. */
static int parse_compress(const char *value, void *dest, char *why, size_t why_len) {
    sp_convert_options *o = (sp_convert_options *)((char *)dest -
                                                   offsetof(sp_convert_options, compression));
    if (!strcmp(value, "none")) {
        o->compression = SP_COMPRESS_NONE;
        return 0;
    }
    if (strncmp(value, "zstd", 4) || (value[4] != 0 && value[4] != ':')) {
        snprintf(why, why_len, "--compress must be none or zstd[:LEVEL], not '%s'", value);
        return SP_ERR_INPUT;
    }
    o->compression = SP_COMPRESS_ZSTD;
    if (value[4] == ':') {
        char *e;
        long l = strtol(value + 5, &e, 10);
        if (*e || e == value + 5 || l < 1 || l > 22) {
            snprintf(why, why_len, "zstd level must be 1..22, not '%s'", value + 5);
            return SP_ERR_INPUT;
        }
        o->zstd_level = (int)l;
    }
    return 0;
}

static const cli_option options[] = {
    {.name = "--out", .alias = "-o", .kind = CLI_STRING,
     .offset = offsetof(sp_convert_options, out), .metavar = "OUT",
     .help = "output file (default: SRC with the extension .sparsa)"},
    {.name = "--config", .kind = CLI_STRING, .offset = offsetof(sp_convert_options, config),
     .metavar = "FILE",
     .help = "hyper-parameters: config.json, params.json or YAML (a Hydra model config)"},
    {.name = "--arch", .kind = CLI_CUSTOM, .offset = offsetof(sp_convert_options, arch),
     .parse = parse_arch, .metavar = "NAME", .help = "force a mapping instead of detecting it"},
    {.name = "--tokenizer", .kind = CLI_STRING,
     .offset = offsetof(sp_convert_options, tokenizer), .metavar = "F",
     .help = "embed this SentencePiece model (one piece per vocabulary row)"},
    {.name = "--dtype", .kind = CLI_CUSTOM, .offset = offsetof(sp_convert_options, dtype),
     .parse = parse_dtype, .metavar = "D", .help = "keep (default) | f32 | f16 | bf16; vectors "
     "(norms, biases) stay f32 unless keep"},
    {.name = "--compress", .kind = CLI_CUSTOM,
     .offset = offsetof(sp_convert_options, compression), .parse = parse_compress,
     .metavar = "C", .help = "none (default) | zstd[:LEVEL]"},
    {.name = "--force", .kind = CLI_FLAG, .offset = offsetof(sp_convert_options, force),
     .help = "overwrite an existing output (never an input, a link or a device)"},
    {.name = "--allow-nonfinite", .kind = CLI_FLAG,
     .offset = offsetof(sp_convert_options, allow_nonfinite),
     .help = "write NaN/Inf weights instead of refusing the checkpoint"},
    {.name = "--progress", .kind = CLI_FLAG, .offset = offsetof(sp_convert_options, progress),
     .help = "draw the progress line on stderr even when it is not a terminal"},
    {.name = "--quiet", .kind = CLI_FLAG, .offset = offsetof(sp_convert_options, quiet),
     .help = "no progress line and no note about a tokenizer found in the folder"},
    {0},
};

static void epilog(FILE *out) {
    fprintf(out, "\nmappings:\n");
    for (size_t i = 0; i < sp_mapping_count(); i++)
        fprintf(out, "  %-17s %s\n", sp_mapping_at(i)->name, sp_mapping_at(i)->summary);
    fprintf(out, "\nEvery tensor is re-read from the written file and compared with its source.\n"
                 "A NaN or Inf weight (or one the chosen --dtype cannot hold) is refused, naming it.\n");
}

static const cli_command command = {
    .name = CMD,
    .synopsis = "SRC [-o OUT.sparsa] [--config FILE] [--arch NAME] [--tokenizer SPM.model]\n"
                "                      [--dtype keep|f32|f16|bf16] [--compress none|zstd[:LEVEL]] "
                "[--force]\n                      [--allow-nonfinite] [--progress | --quiet]",
    .about = "Converts a checkpoint into a sparsa model file: a torch.save file (.pt .pth .bin), "
             "a Lightning\n.ckpt, a .safetensors file, or a Hugging Face model folder "
             "(config.json + *.safetensors or\npytorch_model*.bin, sharded or not). Nothing in a "
             "pickle is ever executed.\nWithout --config, the hyper-parameters come from "
             "config.json, params.json,\n"
             "<stem>.config.json or <stem>.params.json beside SRC, else from a Lightning "
             "checkpoint's\nhyper_parameters. A Hugging Face folder's tokenizer.model is "
             "embedded when no --tokenizer\nis given (one line on stderr says so), and its "
             "tokenizer_config.json's add_bos_token is\nrecorded as tokenizer.add_bos. A "
             "progress line is drawn on stderr when it is a terminal.\n",
    .options = options,
    .max_positional = 1,
    .epilog = epilog,
};

/* The tokenizer must serve exactly the model's vocabulary: as many pieces as embedding rows,
 * and its BOS/EOS/UNK ids (when it has them) inside it. */
static int check_tokenizer(const void *bytes, size_t len, uint64_t vocab, sp_error *err) {
    sp_tokenizer *tok = NULL;
    int rc = sp_tokenizer_load_bytes(bytes, len, &tok, err);
    if (rc) return rc;
    int32_t pieces = sp_tokenizer_vocab_size(tok);
    const char *names[] = {"BOS", "EOS", "UNK"};
    int32_t ids[] = {sp_tokenizer_bos(tok), sp_tokenizer_eos(tok), sp_tokenizer_unk(tok)};
    sp_tokenizer_free(tok);
    if (pieces < 0 || (uint64_t)pieces != vocab)
        return sp_fail(err, SP_ERR_INPUT, "the tokenizer has %d pieces but the model's vocabulary is %llu",
                       (int)pieces, (unsigned long long)vocab);
    for (size_t i = 0; i < 3; i++)
        if (ids[i] >= 0 && (uint64_t)ids[i] >= vocab)
            return sp_fail(err, SP_ERR_INPUT, "the tokenizer's %s id %d is outside the model's vocabulary of %llu",
                           names[i], (int)ids[i], (unsigned long long)vocab);
    return 0;
}

/* A Hugging Face folder's own SentencePiece model, when SRC is a folder holding a regular
 * tokenizer.model and no --tokenizer was given: *found is malloc'd (NULL otherwise). */
static int folder_tokenizer(const sp_convert_options *o, char **found) {
    *found = NULL;
    struct stat st;
    if (o->tokenizer || stat(o->src, &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
    size_t n = strlen(o->src);
    while (n > 1 && o->src[n - 1] == '/') n--;
    char *path = malloc(n + sizeof "/tokenizer.model");
    if (!path) return 1;
    memcpy(path, o->src, n);
    strcpy(path + n, "/tokenizer.model");
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) *found = path;
    else free(path);
    return 0;
}

int cmd_convert(int argc, char **argv) {
    sp_convert_options o = {0};
    o.dtype = SP_OUT_KEEP;
    o.tokenizer_check = check_tokenizer;
    cli_args a;
    int rc = cli_parse(&command, argc, argv, &o, &a);
    if (rc) return rc == CLI_HELP_SHOWN ? 0 : rc;
    if (a.n_pos < 1) return cli_usage_error(CMD, "missing SRC");
    o.src = a.pos[0];
    /* checkpoints are mapped and configs found beside them: standard input cannot serve */
    if (!strcmp(o.src, "-")) return cli_usage_error(CMD, "SRC must be a file or folder, not standard input");
    if (o.config && !strcmp(o.config, "-"))
        return cli_usage_error(CMD, "--config must name a file, not standard input");
    if (o.tokenizer && !strcmp(o.tokenizer, "-"))
        return cli_usage_error(CMD, "--tokenizer must name a file, not standard input");
    if (o.out && !strcmp(o.out, "-"))
        return cli_usage_error(CMD, "-o must name a file (a model file is not written to standard output)");
    if (o.progress && o.quiet) return cli_usage_error(CMD, "give --progress or --quiet, not both");
    if (!o.quiet && isatty(2)) o.progress = 1;
    char *found = NULL;
    if (folder_tokenizer(&o, &found)) {
        fprintf(stderr, "sparsa %s: out of memory\n", CMD);
        return 1;
    }
    if (found) {
        o.tokenizer = found;
        o.tokenizer_found = 1;
        if (!o.quiet) fprintf(stderr, "sparsa %s: using the folder's tokenizer %s\n", CMD, found);
    }
    sp_convert_report rep;
    sp_error err = {0};
    rc = sp_convert(&o, &rep, &err);
    if (!rc && rep.tokenizer_skipped[0] && !o.quiet)
        fprintf(stderr, "sparsa %s: the folder's tokenizer is not embedded: %s\n", CMD,
                rep.tokenizer_skipped);
    free(found);
    if (rc) {
        if (!err.code) err.code = rc;
        return cli_report(CMD, &err);
    }
    printf("%s: %s, %zu tensors, %.1f MB, checked\n", rep.out_path, rep.arch, rep.tensors,
           (double)rep.bytes_written / 1e6);
    return 0;
}
