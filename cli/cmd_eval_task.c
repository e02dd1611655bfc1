/* cmd_eval_task.c — `sparsa eval-task FILE --src F --trg F`: exact-match accuracy on synthetic
 * tasks: parse, read every set through eval/, run each, print one row per set (table or JSON);
 * --predictions is written atomically and may not be one of the inputs. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "eval_task_report.h"
#include "shard_opt.h"
#include "sparsa_dist.h"
#include "sparsa_eval.h"

#define CMD "eval-task"
#define MAX_SETS 64

typedef struct path_list {
    const char *v[MAX_SETS];
    size_t n;
} path_list;

typedef struct options {
    const char *model;
    path_list src, trg;
    int json;
    double mult;              /* 0: unset */
    uint64_t bos, eos;        /* UINT64_MAX: unset */
    long long sep;            /* -2: unset; -1: none */
    uint64_t limit, threads;
    const char *predictions;
    int no_verify;
    int progress, quiet;      /* force the progress line on or off (default: stderr a tty) */
    const char *device, *precision; /* --device, --precision: validated (cpu, fp32) */
    cli_shard shard;          /* --shard K/N; n 0: none */
    const char *part_out;     /* -o PART, with --shard */
} options;

static int add_path(const char *item, size_t len, void *dest) {
    path_list *l = dest;
    if (!len) return SP_ERR_INPUT;
    if (l->n == MAX_SETS) return SP_ERR_INPUT;
    char *copy = strndup(item, len);
    if (!copy) return SP_ERR_RUNTIME;
    l->v[l->n++] = copy;
    return 0;
}

/* --src/--trg F[,F...], repeatable: every file is one more row. */
static int parse_paths(const char *value, void *dest, char *why, size_t why_len) {
    path_list *l = dest;
    int rc = cli_split_commas(value, add_path, l);
    if (rc == SP_ERR_INPUT && l->n == MAX_SETS)
        snprintf(why, why_len, "at most %d files", MAX_SETS);
    else if (rc == SP_ERR_INPUT) snprintf(why, why_len, "an empty file name in '%s'", value);
    return rc;
}

static int parse_mult(const char *value, void *dest, char *why, size_t why_len) {
    (void)why, (void)why_len;
    char *end;
    double v = strtod(value, &end);
    if (!*value || *end || !(v > 0 && v < 1e6)) return SP_ERR_INPUT;
    *(double *)dest = v;
    return 0;
}

static int parse_sep(const char *value, void *dest, char *why, size_t why_len) {
    (void)why, (void)why_len;
    char *end;
    errno = 0;
    long long v = strcmp(value, "none") ? strtoll(value, &end, 10) : -1;
    if (v != -1 && (value[0] < '0' || value[0] > '9' || *end || errno || v > INT32_MAX))
        return SP_ERR_INPUT;
    *(long long *)dest = v;
    return 0;
}

static const cli_option option_rows[] = {
    {.name = "--src", .kind = CLI_CUSTOM, .offset = offsetof(options, src), .repeatable = 1,
     .parse = parse_paths, .metavar = "F[,F...]",
     .help = "source files, one sample per line (repeatable)"},
    {.name = "--trg", .kind = CLI_CUSTOM, .offset = offsetof(options, trg), .repeatable = 1,
     .parse = parse_paths, .metavar = "F[,F...]", .help = "target files, one per --src file"},
    {.name = "--json", .kind = CLI_FLAG, .offset = offsetof(options, json),
     .help = "one JSON document instead of the table"},
    {.name = "--max-len-mult", .kind = CLI_CUSTOM, .offset = offsetof(options, mult),
     .parse = parse_mult, .metavar = "X",
     .help = "generation length multiplier (default: metadata, else 2.2)",
     .bad = "--max-len-mult needs a positive number"},
    {.name = "--bos", .kind = CLI_UINT, .offset = offsetof(options, bos), .max = INT32_MAX,
     .metavar = "ID", .help = "BOS id (default: metadata task.bos_id, else vocab-4)",
     .bad = "--bos needs a token id"},
    {.name = "--eos", .kind = CLI_UINT, .offset = offsetof(options, eos), .max = INT32_MAX,
     .metavar = "ID", .help = "EOS id (default: metadata task.eos_id, else vocab-3)",
     .bad = "--eos needs a token id"},
    {.name = "--sep", .kind = CLI_CUSTOM, .offset = offsetof(options, sep), .parse = parse_sep,
     .metavar = "ID|none", .help = "separator after the source (default: task.sep_id, else vocab-1)",
     .bad = "--sep needs a token id or none"},
    {.name = "--limit", .kind = CLI_UINT, .offset = offsetof(options, limit), .min = 1,
     .max = 1ull << 40, .metavar = "N", .help = "first N samples of each file",
     .bad = "--limit needs a positive integer"},
    CLI_OPTION_THREADS(options, threads),
    CLI_OPTIONS_BACKEND(options, device, precision),
    CLI_OPTION_NO_VERIFY(options, no_verify),
    {.name = "--predictions", .kind = CLI_STRING, .offset = offsetof(options, predictions),
     .metavar = "PATH", .help = "write one line per sample: <correct 0|1> <generated ids>"},
    {.name = "--progress", .kind = CLI_FLAG, .offset = offsetof(options, progress),
     .help = "draw the progress line on stderr even when it is not a terminal"},
    {.name = "--quiet", .kind = CLI_FLAG, .offset = offsetof(options, quiet),
     .help = "no progress line (default: drawn when stderr is a terminal)"},
    CLI_OPTIONS_SHARD(options, shard, part_out),
    {0},
};

static const cli_command command = {
    .name = CMD,
    .synopsis = "FILE --src F[,F...] --trg F[,F...] [options]",
    .about = "Greedy-decoding exact-match accuracy on synthetic-task data (one sample per line, "
             "token\nids separated by spaces). Each sample feeds `bos src sep`, generates until "
             "eos or until\nint(len(source) * multiplier) tokens, and is correct when the output "
             "equals the target.\nSeveral src/trg pairs (repeat the options or separate files "
             "by commas) give one row each.\n"
             "Defaults come from the model's metadata (task.generation_multiplier, task.bos_id, "
             "task.eos_id,\ntask.sep_id), else the paper's tokenizer (bos vocab-4, eos vocab-3, "
             "sep vocab-1); --sep none\nfor flip-flop. Each accuracy comes with its 95% Wilson "
             "score interval.\n"
             "Under mpirun each rank runs a share of the samples and rank 0 prints the report "
             "of one run;\n--shard K/N -o PART runs part K alone, for sparsa merge "
             "(docs/SCALING.md).\n",
    .options = option_rows,
    .max_positional = 1,
};

static void free_paths(options *o) {
    for (size_t i = 0; i < o->src.n; i++) free((char *)o->src.v[i]);
    for (size_t i = 0; i < o->trg.n; i++) free((char *)o->trg.v[i]);
}

/* Parses the command line and records every input; returns 0, CLI_HELP_SHOWN or a status. */
static int parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->bos = o->eos = UINT64_MAX;
    o->sep = -2;
    cli_args a;
    int rc = cli_parse(&command, argc, argv, o, &a);
    if (rc) return rc;
    if (a.n_pos < 1) return cli_usage_error(CMD, "missing the model FILE");
    if (o->progress && o->quiet) return cli_usage_error(CMD, "give --progress or --quiet, not both");
    if (!o->src.n || o->src.n != o->trg.n)
        return cli_usage_error(CMD, "give as many --trg files as --src files (≥ 1)");
    o->model = a.pos[0];
    if ((rc = cli_require_file(CMD, "the model FILE", o->model))) return rc;
    for (size_t i = 0; i < o->src.n; i++)
        if ((rc = cli_require_file(CMD, "--src", o->src.v[i])) ||
            (rc = cli_require_file(CMD, "--trg", o->trg.v[i])))
            return rc;
    sp_inputs_add(o->model);
    for (size_t i = 0; i < o->src.n; i++) {
        sp_inputs_add(o->src.v[i]);
        sp_inputs_add(o->trg.v[i]);
    }
    if ((rc = cli_check_shard(CMD, &o->shard, o->part_out))) return rc;
    if (o->shard.n && o->predictions)
        return cli_usage_error(CMD, "--predictions cannot be combined with --shard");
    sp_error err = {0};
    if (o->predictions && sp_output_check(o->predictions, 0, &err)) return cli_report(CMD, &err);
    if (o->part_out && sp_output_check(o->part_out, 0, &err)) return cli_report(CMD, &err);
    return 0;
}

/* The model's layout with the command line's overrides; every special id in the vocabulary. */
static int resolve_layout(const options *o, sp_model *m, sp_task_layout *layout, sp_error *err) {
    int32_t vocab = sp_model_vocab_size(m);
    sp_task_layout_of_model(m, layout);
    if (o->mult > 0) layout->multiplier = o->mult;
    if (o->bos != UINT64_MAX) layout->bos = (int32_t)o->bos;
    if (o->eos != UINT64_MAX) layout->eos = (int32_t)o->eos;
    if (o->sep != -2) layout->sep = (int32_t)o->sep;
    if (layout->bos < 0 || layout->bos >= vocab || layout->eos < 0 || layout->eos >= vocab ||
        layout->sep >= vocab)
        return sp_fail(err, SP_ERR_INPUT, "special ids outside the vocabulary of %d (see sparsa "
                       CMD " --help)", (int)vocab);
    return 0;
}

static void print_header(const options *o, const sp_task_layout *l) {
    if (o->json) {
        printf("{\n  \"model\": ");
        sp_json_escape(stdout, o->model, strlen(o->model));
        printf(",\n  \"bos\": %d, \"eos\": %d, \"sep\": %d, \"multiplier\": %g,\n"
               "  \"results\": [", (int)l->bos, (int)l->eos, (int)l->sep, l->multiplier);
    } else {
        printf("model %s   bos %d  eos %d  sep %d  multiplier %g\n", o->model, (int)l->bos,
               (int)l->eos, (int)l->sep, l->multiplier);
        printf("%-36s %8s %8s %8s %9s %-18s %9s\n", "src", "length", "samples", "correct",
               "accuracy", "95% CI (Wilson)", "seconds");
    }
}

static void print_row(int json, int first, const char *src, const char *trg,
                      const sp_task_result *r) {
    double acc = r->samples ? (double)r->correct / (double)r->samples : 0, lo, hi;
    sp_wilson_interval(r->correct, r->samples, &lo, &hi);
    if (json) {
        printf("%s\n    {\"src\": ", first ? "" : ",");
        sp_json_escape(stdout, src, strlen(src));
        printf(", \"trg\": ");
        sp_json_escape(stdout, trg, strlen(trg));
        printf(", \"length\": %.1f, \"samples\": %zu, \"correct\": %zu, \"accuracy\": %.6f, "
               "\"accuracy_ci_low\": %.6f, \"accuracy_ci_high\": %.6f, \"seconds\": %.3f}",
               r->mean_src_len, r->samples, r->correct, acc, lo, hi, r->seconds);
    } else {
        char ci[40];
        snprintf(ci, sizeof ci, "[%.4f, %.4f]", lo, hi);
        printf("%-36s %8.1f %8zu %8zu %9.4f %-18s %9.2f\n", src, r->mean_src_len, r->samples,
               r->correct, acc, ci, r->seconds);
    }
}

/* The report: a table grows row by row as each set finishes (its header with the first row,
 * so a run that fails at once prints nothing); the JSON document is printed whole at the end,
 * so stdout never holds half a document. */
typedef struct report {
    const options *o;
    const sp_task_layout *layout;
    sp_task_result rows[MAX_SETS];
    size_t n;
    char model_sha256[65];    /* --json only */
} report;

static void on_result(void *user, size_t i, const sp_task_result *r) {
    report *rep = user;
    rep->rows[i] = *r;
    rep->n = i + 1;
    if (rep->o->json) return;
    if (i == 0) print_header(rep->o, rep->layout);
    print_row(0, i == 0, rep->o->src.v[i], rep->o->trg.v[i], r);
    fflush(stdout);
}

/* What changes the accuracies: the layout and --limit (threads do not). The multiplier with
 * the fewest digits that read back to it: it decides every sample's length. */
static void json_settings(FILE *out, const void *user) {
    const report *rep = user;
    const sp_task_layout *l = rep->layout;
    char mult[32];
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(mult, sizeof mult, "%.*g", digits, l->multiplier);
        if (strtod(mult, NULL) == l->multiplier) break;
    }
    fprintf(out, "\"bos\": %d, \"eos\": %d, \"sep\": %d, \"multiplier\": %s, \"limit\": ",
            (int)l->bos, (int)l->eos, (int)l->sep, mult);
    if (rep->o->limit) fprintf(out, "%llu", (unsigned long long)rep->o->limit);
    else fputs("null", out);
    fputs(", ", out);
    sp_prov_device_settings(out);
}

static void print_json(const report *rep) {
    const char *sha = rep->model_sha256;
    sp_provenance prov = {.version = cli_version(), .models = &rep->o->model, .sha256 = &sha,
                          .n_models = 1, .settings = json_settings, .user = rep,
                          .settings_sep = ",\n  "};
    print_header(rep->o, rep->layout);
    for (size_t i = 0; i < rep->n; i++)
        print_row(1, i == 0, rep->o->src.v[i], rep->o->trg.v[i], &rep->rows[i]);
    fputs("\n  ],\n  ", stdout);
    sp_prov_write(stdout, &prov);
    fputs("\n}\n", stdout);
}

void cli_eval_task_print_merged(const sp_task_merged *m, int json) {
    options o;
    memset(&o, 0, sizeof o);
    o.model = m->model_path;
    o.json = json;
    o.limit = m->limit;
    for (size_t i = 0; i < m->n_sets && i < MAX_SETS; i++) {
        o.src.v[i] = m->src[i];
        o.trg.v[i] = m->trg[i];
    }
    o.src.n = o.trg.n = m->n_sets < MAX_SETS ? m->n_sets : MAX_SETS;
    report rep = {.o = &o, .layout = m->layout};
    memcpy(rep.model_sha256, m->model_sha256, sizeof rep.model_sha256);
    for (size_t i = 0; i < o.src.n; i++) on_result(&rep, i, &m->rows[i]);
    if (json) print_json(&rep);
}

/* The run and its report; predictions (if asked) into one atomic file. Under mpirun every rank
 * comes here, also after a failure (rc), so that all agree on it; only rank 0 writes. */
static int run_sets(const options *o, const sp_dist *d, sp_model *m, const sp_task_layout *layout,
                    const sp_task_set *sets, size_t capacity, int rc, sp_error *err) {
    sp_out pred = {.fd = -1, .slot = -1};
    report rep = {.o = o, .layout = layout};
    int writer = d->rank == 0;
    if (!rc && d->mpi && o->shard.n)
        rc = sp_fail(err, SP_ERR_INPUT, "--shard cannot be combined with mpirun (each rank is "
                     "already a part)");
    if (!rc && writer && o->json) rc = sp_prov_sha256_file(o->model, rep.model_sha256, err);
    if (!rc && writer && o->predictions) rc = sp_out_open(&pred, o->predictions, 0, err);
    rc = sp_dist_agree(d, rc, err);
    sp_task_job job = {.m = m, .model_path = o->model, .layout = layout, .sets = sets,
                       .trg_paths = o->trg.v, .n_sets = o->src.n, .capacity = capacity,
                       .limit = (size_t)o->limit, .threads = (int)o->threads,
                       .progress = !o->quiet && (o->progress || isatty(2)),
                       .version = cli_version()};
    sp_ppl_split split = {o->shard.k, o->shard.n, o->part_out, cli_version()};
    if (!rc)
        rc = sp_task_run_split(&job, &split, pred.fp, writer ? on_result : NULL, &rep, err);
    if (!rc && writer && o->predictions) rc = sp_out_commit(&pred, err);
    if (!rc && writer && o->json && !o->shard.n) print_json(&rep);
    sp_out_abort(&pred);
    return rc;
}

int cmd_eval_task(int argc, char **argv) {
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        free_paths(&o);
        return rc == CLI_HELP_SHOWN ? 0 : rc;
    }
    sp_error err = {0};
    sp_dist d;
    if (sp_dist_init(&d, &err)) {
        free_paths(&o);
        return cli_report(CMD, &err);
    }
    sp_model *m = NULL;
    sp_task_layout layout;
    sp_task_set sets[MAX_SETS];
    size_t n_read = 0, capacity = 0;
    sp_model_options mopts = {.no_verify = o.no_verify};
    rc = sp_eval_open_model_opts(o.model, &mopts, &m, &err);
    if (!rc) rc = resolve_layout(&o, m, &layout, &err);
    if (!rc) rc = sp_task_sets_read(m, &layout, o.src.v, o.trg.v, o.src.n, (size_t)o.limit, sets,
                                    &capacity, &err);
    if (!rc) n_read = o.src.n;
    rc = run_sets(&o, &d, m, &layout, sets, capacity, rc, &err);
    for (size_t i = 0; i < n_read; i++) sp_task_set_free(&sets[i]);
    sp_model_free(m);
    free_paths(&o);
    sp_dist_finish(&d);
    /* The other ranks end with 0: a non-zero exit would make mpirun stop rank 0 before it has
     * printed the job's one line; rank 0's status is the job's. */
    if (d.rank != 0) return 0;
    return rc ? cli_report(CMD, &err) : 0;
}
