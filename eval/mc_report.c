/* mc_report.c — the `mc` report: one line of accuracies, or one JSON document. */
#include <math.h>
#include <string.h>

#include "sparsa_workbench.h"

static void json_num(FILE *out, const char *key, double v) {
    fprintf(out, ", \"%s\": ", key);
    if (isfinite(v)) fprintf(out, "%.17g", v);
    else fputs("null", out);
}

static void table_acc(FILE *out, const char *label, double v, double se) {
    fprintf(out, "%-9s %.4f", label, v);
    if (isfinite(se)) fprintf(out, " ± %.4f", se);
    fputc('\n', out);
}

typedef struct mc_run_ref {
    const sp_mc_job *job;
    const sp_mc_result *r;
} mc_run_ref;

/* What changes the numbers: the layout read, BOS and --limit (threads do not). */
static void json_settings(FILE *out, const void *user) {
    const sp_mc_job *job = ((const mc_run_ref *)user)->job;
    const sp_mc_result *r = ((const mc_run_ref *)user)->r;
    fprintf(out, "\"format\": \"%s\", \"bos\": \"%s\", \"limit\": ",
            sp_mc_format_name(r->format), job->bos ? "prepend" : "none");
    if (job->limit) fprintf(out, "%zu", job->limit);
    else fputs("null", out);
    fputs(", ", out);
    sp_prov_device_settings(out);
}

void sp_mc_print(FILE *out, const sp_mc_job *job, const sp_mc_result *r, int json) {
    if (!json) {
        fprintf(out, "model: %s\ntask: %s (%s layout, bos=%s), %zu questions\n", job->model_path,
                job->task_path, sp_mc_format_name(r->format), job->bos ? "prepend" : "none",
                r->n);
        table_acc(out, "acc", r->acc, r->acc_stderr);
        table_acc(out, "acc_norm", r->acc_norm, r->acc_norm_stderr);
        return;
    }
    const char *sha = r->model_sha256;
    mc_run_ref ref = {job, r};
    sp_provenance prov = {.version = job->version, .models = &job->model_path, .sha256 = &sha,
                          .n_models = 1, .settings = json_settings, .user = &ref};
    fputs("{\"command\": \"mc\", ", out);
    sp_prov_write(out, &prov);
    fputs(",\n \"model\": ", out);
    sp_json_escape(out, job->model_path, strlen(job->model_path));
    fputs(", \"task\": ", out);
    sp_json_escape(out, job->task_path, strlen(job->task_path));
    fprintf(out, ", \"format\": \"%s\", \"bos\": \"%s\", \"n\": %zu",
            sp_mc_format_name(r->format), job->bos ? "prepend" : "none", r->n);
    json_num(out, "acc", r->acc);
    json_num(out, "acc_stderr", r->acc_stderr);
    json_num(out, "acc_norm", r->acc_norm);
    json_num(out, "acc_norm_stderr", r->acc_norm_stderr);
    fputs("}\n", out);
}
