/* task_eval.c — synthetic-task exact-match accuracy by greedy generation (sparsa_eval.h,
 * "synthetic tasks"): the task layout, reading src/trg sets, and the evaluation loop. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "error_prefix.h"
#include "task_progress.h"

void sp_task_default_layout(int32_t vocab, sp_task_layout *out) {
    out->bos = vocab - 4;
    out->eos = vocab - 3;
    out->sep = vocab - 1;
    out->multiplier = 2.2;
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

void sp_task_layout_of_model(sp_model *m, sp_task_layout *layout) {
    sp_file *f = sp_model_file(m);
    sp_task_default_layout(sp_model_vocab_size(m), layout);
    double x;
    if (meta_number(f, "task.generation_multiplier", &x) && x > 0) layout->multiplier = x;
    if (meta_number(f, "task.bos_id", &x)) layout->bos = (int32_t)x;
    if (meta_number(f, "task.eos_id", &x)) layout->eos = (int32_t)x;
    if (meta_number(f, "task.sep_id", &x)) layout->sep = (int32_t)x;
}

static void free_rows(int32_t **rows, size_t *lens, size_t n) {
    for (size_t i = 0; rows && i < n; i++) free(rows[i]);
    free(rows);
    free(lens);
}

void sp_task_set_free(sp_task_set *s) {
    free_rows(s->src, s->src_len, s->samples);
    free_rows(s->trg, s->trg_len, s->samples);
    memset(s, 0, sizeof *s);
}

/* Parses one line of space-separated ids, every one inside the vocabulary. */
static int parse_ids(const char *path, size_t line_no, const char *line, int32_t vocab,
                     int32_t **ids, size_t *n, sp_error *err) {
    char bad[48];
    int rc = sp_ids_parse(line, ids, n, bad, sizeof bad);
    if (rc == SP_ERR_RUNTIME) return sp_fail(err, rc, "%s: out of memory", path);
    if (rc) return sp_fail(err, rc, "%s:%zu: not a list of integer token ids", path, line_no);
    for (size_t i = 0; i < *n; i++)
        if ((*ids)[i] < 0 || (*ids)[i] >= vocab) {
            int32_t x = (*ids)[i];
            free(*ids);
            *ids = NULL;
            return sp_fail(err, SP_ERR_INPUT, "%s:%zu: token id %d outside the vocabulary "
                           "[0, %d)", path, line_no, (int)x, (int)vocab);
        }
    return SP_OK;
}

static int is_blank(const char *line) {
    for (; *line; line++)
        if (*line != ' ' && *line != '\t' && *line != '\r') return 0;
    return 1;
}

/* Appends one parsed line to rows/lens (growing them). */
static int add_row(const char *path, size_t line_no, char *line, int32_t vocab, int32_t ***rows,
                   size_t **lens, size_t *n, size_t *cap, sp_error *err) {
    if (is_blank(line))
        return sp_fail(err, SP_ERR_INPUT, "%s:%zu: blank line (every line is one sample)", path,
                       line_no);
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        int32_t **nr = realloc(*rows, c * sizeof *nr);
        if (nr) *rows = nr;
        size_t *nl = nr ? realloc(*lens, c * sizeof *nl) : NULL;
        if (!nl) return sp_fail(err, SP_ERR_RUNTIME, "%s: out of memory", path);
        *lens = nl;
        *cap = c;
    }
    int rc = parse_ids(path, line_no, line, vocab, &(*rows)[*n], &(*lens)[*n], err);
    if (!rc) ++*n;
    return rc;
}

/* Reads every line of path (up to limit) as an id list; the file is read whole, with a bound
 * (a FIFO, device or folder is refused at once). */
static int read_lines(const char *path, int32_t vocab, size_t limit, int32_t ***rows,
                      size_t **lens, size_t *count, sp_error *err) {
    char *text = NULL;
    size_t len = 0, n = 0, cap = 0;
    int rc = sp_read_file(path, SP_READ_DEFAULT_MAX, &text, &len, err);
    if (rc) return rc;
    int32_t **r = NULL;
    size_t *l = NULL;
    for (char *line = text; rc == SP_OK && line < text + len && (!limit || n < limit);) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        char *next = nl ? nl + 1 : text + len;
        if (nl) *nl = 0;
        if (strlen(line) != (size_t)(next - line) - (nl != NULL))
            rc = sp_fail(err, SP_ERR_INPUT, "%s:%zu: not a list of integer token ids", path, n + 1);
        else
            rc = add_row(path, n + 1, line, vocab, &r, &l, &n, &cap, err);
        line = next;
    }
    free(text);
    if (rc == SP_OK && n == 0) rc = sp_fail(err, SP_ERR_INPUT, "%s: no samples", path);
    if (rc) {
        free_rows(r, l, n);
        return rc;
    }
    *rows = r;
    *lens = l;
    *count = n;
    return SP_OK;
}

int sp_task_set_read(const char *src_path, const char *trg_path, int32_t vocab, size_t limit,
                     sp_task_set *out, sp_error *err) {
    memset(out, 0, sizeof *out);
    int32_t **src = NULL, **trg = NULL;
    size_t *src_len = NULL, *trg_len = NULL, ns = 0, nt = 0;
    int rc = read_lines(src_path, vocab, limit, &src, &src_len, &ns, err);
    if (rc) return rc;
    rc = read_lines(trg_path, vocab, limit, &trg, &trg_len, &nt, err);
    if (rc == SP_OK && nt != ns)
        rc = sp_fail(err, SP_ERR_INPUT, "%s has %zu samples but %s has %zu", src_path, ns,
                     trg_path, nt);
    if (rc) {
        free_rows(src, src_len, ns);
        free_rows(trg, trg_len, nt);
        return rc;
    }
    *out = (sp_task_set){ns, src, trg, src_len, trg_len, 0, src_path};
    for (size_t i = 0; i < ns; i++)
        if (src_len[i] > out->max_src_len) out->max_src_len = src_len[i];
    return SP_OK;
}

static size_t source_len(const sp_task_layout *layout, size_t src_len) {
    return 1 + src_len + (layout->sep >= 0 ? 1 : 0);
}

static size_t total_len(const sp_task_layout *layout, size_t src_len) {
    return (size_t)floor((double)source_len(layout, src_len) * layout->multiplier);
}

size_t sp_task_set_capacity(const sp_task_set *s, const sp_task_layout *layout) {
    size_t n = source_len(layout, s->max_src_len), t = total_len(layout, s->max_src_len);
    return t > n ? t : n;
}

static int collect(void *user, int32_t id) {
    task_runner *r = user;
    if (r->generated < r->cap) r->ids[r->generated] = id;
    r->generated++;
    return 0;
}

int task_runner_init(task_runner *r, sp_session *s, int32_t vocab, const sp_task_layout *layout,
                     size_t cap, sp_error *err) {
    memset(r, 0, sizeof *r);
    r->s = s;
    r->vocab = vocab;
    r->layout = layout;
    r->cap = cap;
    r->prompt = malloc((cap ? cap : 1) * sizeof *r->prompt);
    r->ids = malloc((cap ? cap : 1) * sizeof *r->ids);
    int rc = sp_sampler_init(&r->greedy, vocab, 0.0f, 1.0f, 0, err);
    if (rc == SP_OK && (!r->prompt || !r->ids))
        rc = sp_fail(err, SP_ERR_RUNTIME, "eval-task: out of memory");
    return rc;
}

void task_runner_free(task_runner *r) {
    sp_sampler_free(&r->greedy);
    free(r->prompt);
    free(r->ids);
    memset(r, 0, sizeof *r);
}

int task_sample(task_runner *r, const sp_task_set *set, size_t i, int *ok, sp_error *err) {
    const sp_task_layout *layout = r->layout;
    size_t n = 0;
    r->prompt[n++] = layout->bos;
    memcpy(r->prompt + n, set->src[i], set->src_len[i] * sizeof *r->prompt);
    n += set->src_len[i];
    if (layout->sep >= 0) r->prompt[n++] = layout->sep;
    size_t total = total_len(layout, set->src_len[i]);
    size_t max_new = total > n ? total - n : 0;
    sp_session_reset(r->s);
    r->generated = 0;
    size_t produced = 0;
    int rc = SP_OK;
    if (max_new > 0)
        rc = sp_generate(r->s, r->vocab, r->prompt, n, max_new, layout->eos, &r->greedy, collect,
                         r, &produced, err);
    if (rc) {
        sp_eval_error_prefix(err, "%s:%zu", set->src_path ? set->src_path : "sample", i + 1);
        return rc;
    }
    *ok = r->generated == set->trg_len[i] &&
          !memcmp(r->ids, set->trg[i], r->generated * sizeof(int32_t));
    r->n_ids = r->generated < r->cap ? r->generated : r->cap;
    return SP_OK;
}

void task_write_prediction(FILE *pred, int ok, const int32_t *ids, size_t n) {
    fprintf(pred, "%d", ok);
    for (size_t j = 0; j < n; j++) fprintf(pred, " %d", (int)ids[j]);
    fputc('\n', pred);
}

size_t task_sample_cost(const sp_task_layout *layout, size_t src_len) {
    size_t n = source_len(layout, src_len), t = total_len(layout, src_len);
    return t > n ? t : n;
}

int sp_task_eval(sp_session *s, int32_t vocab, const sp_task_layout *layout,
                 const sp_task_set *set, FILE *pred, sp_task_result *res, sp_error *err) {
    return task_eval_progress(s, vocab, layout, set, pred, NULL, res, err);
}

static void show_progress(const task_progress *p, size_t done, size_t samples) {
    if (!p || !p->on) return;
    if (done < samples)
        fprintf(stderr, "\r\033[Keval-task set %zu/%zu, sample %zu/%zu", p->set + 1, p->n_sets,
                done + 1, samples);
    else fputs("\r\033[K", stderr);
}

int task_eval_progress(sp_session *s, int32_t vocab, const sp_task_layout *layout,
                       const sp_task_set *set, FILE *pred, const task_progress *prog,
                       sp_task_result *res, sp_error *err) {
    memset(res, 0, sizeof *res);
    task_runner r;
    int rc = task_runner_init(&r, s, vocab, layout, sp_task_set_capacity(set, layout), err);
    double t0 = omp_get_wtime(), len_sum = 0;
    for (size_t i = 0; rc == SP_OK && i < set->samples; i++) {
        show_progress(prog, i, set->samples);
        int ok = 0;
        rc = task_sample(&r, set, i, &ok, err);
        if (rc) break;
        res->correct += (size_t)ok;
        len_sum += (double)set->src_len[i];
        if (pred) task_write_prediction(pred, ok, r.ids, r.n_ids);
        res->samples++;
    }
    show_progress(prog, set->samples, set->samples);
    res->seconds = omp_get_wtime() - t0;
    res->mean_src_len = res->samples ? len_sum / (double)res->samples : 0;
    task_runner_free(&r);
    return rc;
}
