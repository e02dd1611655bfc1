/* cmd_convert.c — `sparsa convert SRC [-o OUT.sparsa] [--config FILE] [--arch NAME]
 * [--tokenizer SPM.model] [--dtype keep|f32|f16|bf16] [--compress none|zstd[:LEVEL]] [--force]` */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "sparsa_convert.h"

static void help(void) {
    printf("usage: sparsa convert SRC [-o OUT.sparsa] [--config FILE] [--arch NAME] [--tokenizer SPM.model]\n"
           "                      [--dtype keep|f32|f16|bf16] [--compress none|zstd[:LEVEL]] [--force]\n\n"
           "Converts a checkpoint into a sparsa model file: a torch.save file (.pt .pth .bin), a Lightning\n"
           ".ckpt, a .safetensors file, or a Hugging Face model folder (config.json + *.safetensors or\n"
           "pytorch_model*.bin, sharded or not). Nothing in a pickle is ever executed.\n\n"
           "  -o OUT          output file (default: SRC with the extension .sparsa)\n"
           "  --config FILE   hyper-parameters (config.json / params.json, or a YAML such as a Hydra\n"
           "                  model config); default: config.json, params.json, <stem>.config.json or\n"
           "                  <stem>.params.json beside SRC, else a Lightning checkpoint's hyper_parameters\n"
           "  --arch NAME     force a mapping instead of detecting it\n"
           "  --tokenizer F   embed this SentencePiece model\n"
           "  --dtype D       keep (default) | f32 | f16 | bf16; vectors (norms, biases) stay f32\n"
           "                  unless keep\n"
           "  --compress C    none (default) | zstd[:LEVEL]\n"
           "  --force         overwrite an existing output\n\n"
           "mappings:\n");
    for (size_t i = 0; i < sp_mapping_count(); i++)
        printf("  %-17s %s\n", sp_mapping_at(i)->name, sp_mapping_at(i)->summary);
    printf("\nEvery tensor is re-read from the written file and compared with its source.\n");
}

int cmd_convert(int argc, char **argv) {
    sp_convert_options o = {0};
    o.dtype = SP_OUT_KEEP;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            return 0;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--out") || !strcmp(a, "--config") || !strcmp(a, "--arch") ||
                   !strcmp(a, "--tokenizer") || !strcmp(a, "--dtype") || !strcmp(a, "--compress")) {
            if (!v) return cli_usage_error("convert", "%s needs a value", a);
            i++;
            if (!strcmp(a, "-o") || !strcmp(a, "--out")) o.out = v;
            else if (!strcmp(a, "--config")) o.config = v;
            else if (!strcmp(a, "--arch")) {
                if (!sp_mapping_find(v)) return cli_usage_error("convert", "unknown --arch '%s'", v);
                o.arch = v;
            } else if (!strcmp(a, "--tokenizer")) o.tokenizer = v;
            else if (!strcmp(a, "--dtype")) {
                if (!strcmp(v, "keep")) o.dtype = SP_OUT_KEEP;
                else if (!strcmp(v, "f32")) o.dtype = SP_OUT_F32;
                else if (!strcmp(v, "f16")) o.dtype = SP_OUT_F16;
                else if (!strcmp(v, "bf16")) o.dtype = SP_OUT_BF16;
                else return cli_usage_error("convert", "--dtype must be keep, f32, f16 or bf16, not '%s'", v);
            } else {
                if (!strcmp(v, "none")) o.compression = SP_COMPRESS_NONE;
                else if (!strncmp(v, "zstd", 4) && (v[4] == 0 || v[4] == ':')) {
                    o.compression = SP_COMPRESS_ZSTD;
                    if (v[4] == ':') {
                        char *e;
                        long l = strtol(v + 5, &e, 10);
                        if (*e || e == v + 5 || l < 1 || l > 22)
                            return cli_usage_error("convert", "zstd level must be 1..22, not '%s'", v + 5);
                        o.zstd_level = (int)l;
                    }
                } else
                    return cli_usage_error("convert", "--compress must be none or zstd[:LEVEL], not '%s'", v);
            }
        } else if (!strcmp(a, "--force")) {
            o.force = 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("convert", "unknown option %s", a);
        } else if (!o.src) {
            o.src = a;
        } else
            return cli_usage_error("convert", "more than one SRC ('%s' and '%s')", o.src, a);
    }
    if (!o.src) return cli_usage_error("convert", "missing SRC");
    sp_convert_report rep;
    sp_error err = {0};
    int rc = sp_convert(&o, &rep, &err);
    if (rc) {
        if (!err.code) err.code = rc;
        return cli_report("convert", &err);
    }
    printf("%s: %s, %zu tensors, %.1f MB, checked\n", rep.out_path, rep.arch, rep.tensors,
           (double)rep.bytes_written / 1e6);
    return 0;
}
