/* cmd_eval_task.c — `sparsa eval-task`: exact-match accuracy on synthetic tasks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "sparsa_eval.h"
#include "sparsa_interp.h"
#include "task_eval.h"

#define MAX_SETS 64

static const char *usage_text =
    "usage: sparsa eval-task FILE --src F[,F...] --trg F[,F...] [options]\n"
    "\n"
    "Greedy-decoding exact-match accuracy on synthetic-task data (one sample per line, token\n"
    "ids separated by spaces). Each sample feeds `bos src sep`, generates until eos or until\n"
    "int(len(source) * multiplier) tokens, and is correct when the output equals the target.\n"
    "Several src/trg pairs (repeat the options or separate files by commas) give one row each.\n"
    "\n"
    "options:\n"
    "  --json               one JSON document instead of the table\n"
    "  --max-len-mult X     generation length multiplier (default: model metadata\n"
    "                       task.generation_multiplier, else 2.2)\n"
    "  --bos ID --eos ID    special ids (default: metadata task.bos_id/task.eos_id, else the\n"
    "                       paper's tokenizer: vocab-4 and vocab-3)\n"
    "  --sep ID|none        separator after the source (default: task.sep_id, else vocab-1;\n"
    "                       none for flip-flop)\n"
    "  --limit N            first N samples of each file\n"
    "  --threads N          threads (default: all cores)\n"
    "  --predictions PATH   write one line per sample: <correct 0|1> <generated ids>\n";

static int parse_long(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Appends the comma-separated paths of arg to list. */
static int add_paths(char *arg, const char **list, size_t *n) {
    for (char *tok = strtok(arg, ","); tok; tok = strtok(NULL, ",")) {
        if (*n == MAX_SETS) return -1;
        list[(*n)++] = tok;
    }
    return 0;
}

/* A metadata integer or float, if the model file carries it. */
static int meta_number(sp_file *f, const char *key, double *out) {
    const sp_meta *m = sp_file_meta_find(f, key);
    if (!m) return 0;
    switch (m->type) {
    case SP_META_F32: case SP_META_F64: *out = m->num.f; return 1;
    case SP_META_I8: case SP_META_I16: case SP_META_I32: case SP_META_I64:
        *out = (double)m->num.i; return 1;
    case SP_META_U8: case SP_META_U16: case SP_META_U32: case SP_META_U64:
        *out = (double)m->num.u; return 1;
    default: return 0;
    }
}

typedef struct options {
    const char *model;
    const char *src[MAX_SETS], *trg[MAX_SETS];
    size_t n_src, n_trg;
    int json;
    double mult;            /* < 0: unset */
    long long bos, eos, sep; /* -2: unset; sep -1: none */
    long long limit, threads;
    const char *predictions;
} options;

static int parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->mult = -1;
    o->bos = o->eos = o->sep = -2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) { o->json = 1; continue; }
        if (a[0] == '-' && a[1] == '-' && !v)
            return cli_usage_error("eval-task", "%s needs a value", a);
        if (!strcmp(a, "--src") || !strcmp(a, "--trg")) {
            int src = a[2] == 's';
            if (add_paths(argv[++i], src ? o->src : o->trg, src ? &o->n_src : &o->n_trg))
                return cli_usage_error("eval-task", "at most %d files", MAX_SETS);
        } else if (!strcmp(a, "--max-len-mult")) {
            char *end;
            o->mult = strtod(argv[++i], &end);
            if (*end || !(o->mult > 0 && o->mult < 1e6))
                return cli_usage_error("eval-task", "--max-len-mult needs a positive number");
        } else if (!strcmp(a, "--bos") || !strcmp(a, "--eos")) {
            if (parse_long(argv[++i], 0, INT32_MAX, a[2] == 'b' ? &o->bos : &o->eos))
                return cli_usage_error("eval-task", "%s needs a token id", a);
        } else if (!strcmp(a, "--sep")) {
            if (!strcmp(argv[++i], "none")) o->sep = -1;
            else if (parse_long(argv[i], 0, INT32_MAX, &o->sep))
                return cli_usage_error("eval-task", "--sep needs a token id or none");
        } else if (!strcmp(a, "--limit")) {
            if (parse_long(argv[++i], 1, (long long)1 << 40, &o->limit))
                return cli_usage_error("eval-task", "--limit needs a positive integer");
        } else if (!strcmp(a, "--threads")) {
            if (parse_long(argv[++i], 1, 4096, &o->threads))
                return cli_usage_error("eval-task", "--threads needs a positive integer");
        } else if (!strcmp(a, "--predictions")) {
            o->predictions = argv[++i];
        } else if (a[0] == '-') {
            return cli_usage_error("eval-task", "unknown option %s", a);
        } else if (!o->model) {
            o->model = a;
        } else {
            return cli_usage_error("eval-task", "unexpected argument %s", a);
        }
    }
    if (!o->model) return cli_usage_error("eval-task", "missing the model FILE");
    if (!o->n_src || o->n_src != o->n_trg)
        return cli_usage_error("eval-task", "give as many --trg files as --src files (≥ 1)");
    return 0;
}

static void resolve_layout(const options *o, sp_model *m, sp_task_layout *layout) {
    sp_file *f = sp_model_file(m);
    sp_task_default_layout(sp_model_vocab_size(m), layout);
    double x;
    if (meta_number(f, "task.generation_multiplier", &x) && x > 0) layout->multiplier = x;
    if (meta_number(f, "task.bos_id", &x)) layout->bos = (int32_t)x;
    if (meta_number(f, "task.eos_id", &x)) layout->eos = (int32_t)x;
    if (meta_number(f, "task.sep_id", &x)) layout->sep = (int32_t)x;
    if (o->mult > 0) layout->multiplier = o->mult;
    if (o->bos >= 0) layout->bos = (int32_t)o->bos;
    if (o->eos >= 0) layout->eos = (int32_t)o->eos;
    if (o->sep != -2) layout->sep = (int32_t)o->sep;
}

static void print_row(int json, int first, const char *src, const char *trg,
                      const sp_task_result *r) {
    double acc = r->samples ? (double)r->correct / (double)r->samples : 0;
    if (json) {
        printf("%s\n    {\"src\": ", first ? "" : ",");
        sp_json_string(stdout, src);
        printf(", \"trg\": ");
        sp_json_string(stdout, trg);
        printf(", \"length\": %.1f, \"samples\": %zu, \"correct\": %zu, \"accuracy\": %.6f, "
               "\"seconds\": %.3f}", r->mean_src_len, r->samples, r->correct, acc, r->seconds);
    } else {
        printf("%-36s %8.1f %8zu %8zu %9.4f %9.2f\n", src, r->mean_src_len, r->samples,
               r->correct, acc, r->seconds);
    }
    fflush(stdout);
}

int cmd_eval_task(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        }
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    sp_error err = {0};
    sp_model *m = NULL;
    if (sp_model_open(o.model, &m, &err)) return cli_report("eval-task", &err);
    int32_t vocab = sp_model_vocab_size(m);
    sp_task_layout layout;
    resolve_layout(&o, m, &layout);
    if (layout.bos < 0 || layout.bos >= vocab || layout.eos < 0 || layout.eos >= vocab ||
        layout.sep >= vocab) {
        sp_model_free(m);
        return cli_usage_error("eval-task", "special ids outside the vocabulary of %d",
                               (int)vocab);
    }
    /* Read and validate every file before the (long) evaluation starts. */
    sp_task_set sets[MAX_SETS];
    size_t n_read = 0, capacity = 0;
    for (; n_read < o.n_src; n_read++) {
        if (sp_task_set_read(o.src[n_read], o.trg[n_read], vocab, (size_t)o.limit,
                             &sets[n_read], &err)) {
            rc = cli_report("eval-task", &err);
            break;
        }
        size_t c = sp_task_set_capacity(&sets[n_read], &layout);
        if (c > capacity) capacity = c;
    }
    uint64_t ctx = sp_model_context_length(m);
    if (!rc && ctx && capacity > ctx) {
        sp_fail(&err, SP_ERR_INPUT, "samples need %zu positions but the model supports %llu",
                capacity, (unsigned long long)ctx);
        rc = cli_report("eval-task", &err);
    }
    sp_session *s = NULL;
    if (!rc && sp_session_create(m, capacity, (int)o.threads, &s, &err))
        rc = cli_report("eval-task", &err);
    FILE *pred = NULL;
    if (!rc && o.predictions && !(pred = fopen(o.predictions, "w"))) {
        sp_fail(&err, SP_ERR_INPUT, "%s: cannot write: %s", o.predictions, strerror(errno));
        rc = cli_report("eval-task", &err);
    }
    if (!rc) {
        if (o.json) {
            printf("{\n  \"model\": ");
            sp_json_string(stdout, o.model);
            printf(",\n  \"bos\": %d, \"eos\": %d, \"sep\": %d, \"multiplier\": %g,\n"
                   "  \"results\": [", (int)layout.bos, (int)layout.eos, (int)layout.sep,
                   layout.multiplier);
        } else {
            printf("model %s   bos %d  eos %d  sep %d  multiplier %g\n", o.model,
                   (int)layout.bos, (int)layout.eos, (int)layout.sep, layout.multiplier);
            printf("%-36s %8s %8s %8s %9s %9s\n", "src", "length", "samples", "correct",
                   "accuracy", "seconds");
        }
        for (size_t i = 0; i < o.n_src; i++) {
            sp_task_result r;
            if (sp_task_eval(s, vocab, &layout, &sets[i], pred, &r, &err)) {
                rc = cli_report("eval-task", &err);
                break;
            }
            print_row(o.json, i == 0, o.src[i], o.trg[i], &r);
        }
        if (o.json && !rc) printf("\n  ]\n}\n");
    }
    if (pred) fclose(pred);
    for (size_t i = 0; i < n_read; i++) sp_task_set_free(&sets[i]);
    sp_session_free(s);
    sp_model_free(m);
    return rc;
}
