/* provenance.c — what every result JSON says about where its numbers come from: sparsa's
 * version, each model file with its SHA-256, and the settings behind the numbers
 * (docs/WORKBENCH.md, "Provenance"). One writer for every command, so the keys read the same
 * in perplexity, kld, mc, eval-task, logits, generate and tokenize documents. */
#include <string.h>
#include <unistd.h>

#include "sparsa_eval.h"

int sp_prov_sha256_file(const char *path, char hex[65], sp_error *err) {
    uint64_t size = 0;
    int fd = sp_open_input(path, &size, err);
    if (fd < 0) return err->code ? err->code : SP_ERR_INPUT;
    int rc = sp_sha256_file(fd, size, hex, err);
    close(fd);
    return rc;
}

static void json_string(FILE *out, const char *s) { sp_json_escape(out, s, strlen(s)); }

void sp_prov_device_settings(FILE *out) {
    const char *kind, *precision;
    sp_default_device(&kind, &precision);
    fprintf(out, "\"device\": \"%s\", \"precision\": \"%s\"", kind, precision);
    /* the CPU's bf16 engines agree closely, not bit for bit: say which one ran */
    if (!strcmp(kind, "cpu") && !strcmp(precision, "bf16"))
        fprintf(out, ", \"bf16_engine\": \"%s\"", sp_cpu_bf16_engine());
}

void sp_prov_write(FILE *out, const sp_provenance *p) {
    fputs("\"sparsa_version\": ", out);
    json_string(out, p->version ? p->version : "unknown");
    fputs(", \"models\": [", out);
    for (size_t m = 0; m < p->n_models; m++) {
        fputs(m ? ", {\"file\": " : "{\"file\": ", out);
        json_string(out, p->models[m]);
        fprintf(out, ", \"sha256\": \"%s\"}", p->sha256[m]);
    }
    fputc(']', out);
    fputs(p->settings_sep ? p->settings_sep : ", ", out);
    fputs("\"settings\": {", out);
    if (p->settings) p->settings(out, p->user);
    fputc('}', out);
}
