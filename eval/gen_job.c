/* gen_job.c — a whole generation run (sparsa_eval.h, "a whole generation run"): the prompt
 * built from text or ids and checked against the model, sampling set up, tokens generated (up
 * to a stop string), timed, and the result decoded back to text. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "error_prefix.h"
#include "sparsa_eval.h"

struct sp_gen_run {
    const char *model_path;      /* the job's (outlives the run) */
    sp_model *model;
    sp_tokenizer *tok;           /* NULL when the file holds none */
    sp_session *sess;
    sp_sampler smp;
    int32_t vocab;
    int32_t *prompt;             /* [n_prompt] */
    size_t n_prompt, max_new;
    int32_t *out;                /* generated ids [n_out] */
    size_t n_out, cap_out;
    const char *const *stops;    /* the job's */
    size_t n_stops;
    size_t stop_len;             /* bytes of the stop string that ended the run, else 0 */
    size_t prompt_text_len;      /* bytes of the prompt alone, decoded (when stops are set) */
    int bos_added;
    double t_start, t_first, t_end;
};

/* BOS before a text prompt unless the converter recorded that the model was trained without
 * one (tokenizer.add_bos false); a file that says nothing keeps the old default, BOS. */
static int model_adds_bos(sp_model *m) {
    const sp_meta *meta = sp_file_meta_find(sp_model_file(m), "tokenizer.add_bos");
    if (!meta || meta->type != SP_META_BOOL) return 1;
    return meta->num.u != 0;
}

/* BOS (unless no_bos) followed by the encoded text. */
static int prompt_from_text(sp_gen_run *run, const sp_gen_job *job, sp_error *err) {
    if (!run->tok)
        return sp_fail(err, SP_ERR_INPUT, "%s holds no tokenizer: use --tokens", job->model_path);
    size_t plen = strlen(job->prompt);
    if (!sp_utf8_valid((const uint8_t *)job->prompt, plen))
        return sp_fail(err, SP_ERR_INPUT, "the prompt is not valid UTF-8");
    int32_t *enc = NULL;
    size_t n_enc = 0;
    int rc = sp_tokenizer_encode(run->tok, job->prompt, plen, &enc, &n_enc, err);
    if (rc) return rc;
    int32_t bos = job->no_bos || !model_adds_bos(run->model) ? -1 : sp_tokenizer_bos(run->tok);
    run->bos_added = bos >= 0;
    run->n_prompt = n_enc + (bos >= 0);
    run->prompt = malloc((run->n_prompt ? run->n_prompt : 1) * sizeof *run->prompt);
    if (!run->prompt) {
        free(enc);
        return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    }
    if (bos >= 0) run->prompt[0] = bos;
    if (n_enc) memcpy(run->prompt + (bos >= 0), enc, n_enc * sizeof *enc);
    free(enc);
    return SP_OK;
}

static int build_prompt(sp_gen_run *run, const sp_gen_job *job, sp_error *err) {
    if (job->prompt) return prompt_from_text(run, job, err);
    run->n_prompt = job->n_ids;
    run->prompt = malloc((job->n_ids ? job->n_ids : 1) * sizeof *run->prompt);
    if (!run->prompt) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    if (job->n_ids) memcpy(run->prompt, job->ids, job->n_ids * sizeof *job->ids);
    return SP_OK;
}

/* Not empty, every id inside the vocabulary, within the context; -n cut to fit. */
static int check_prompt(sp_gen_run *run, sp_error *err) {
    if (run->n_prompt == 0) return sp_fail(err, SP_ERR_INPUT, "the prompt is empty (no tokens)");
    for (size_t i = 0; i < run->n_prompt; i++)
        if (run->prompt[i] < 0 || run->prompt[i] >= run->vocab)
            return sp_fail(err, SP_ERR_INPUT, "token id %d is outside the model's vocabulary "
                           "[0, %d)", (int)run->prompt[i], (int)run->vocab);
    uint64_t model_ctx = sp_model_context_length(run->model);
    if (model_ctx && run->n_prompt > model_ctx)
        return sp_fail(err, SP_ERR_INPUT, "the prompt has %zu tokens, more than the model's "
                       "context length %llu", run->n_prompt, (unsigned long long)model_ctx);
    /* The last generated token is never fed back, so prompt + n - 1 positions suffice. */
    size_t cap = run->n_prompt + (run->max_new ? run->max_new - 1 : 0);
    if (model_ctx && cap > model_ctx) run->max_new = (size_t)model_ctx - run->n_prompt + 1;
    return SP_OK;
}

int sp_gen_prepare(const sp_gen_job *job, sp_gen_run **out, sp_error *err) {
    *out = NULL;
    sp_gen_run *run = calloc(1, sizeof *run);
    if (!run) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    run->max_new = job->max_new;
    run->model_path = job->model_path;
    sp_model_options mopts = {.no_verify = job->no_verify};
    int rc = sp_eval_open_model_opts(job->model_path, &mopts, &run->model, err);
    if (!rc) {
        run->vocab = sp_model_vocab_size(run->model);
        rc = sp_eval_model_tokenizer(run->model, &run->tok, err);
    }
    if (!rc) rc = build_prompt(run, job, err);
    if (!rc) rc = check_prompt(run, err);
    if (!rc) rc = sp_sampler_init(&run->smp, run->vocab, job->temperature, job->top_p,
                                  job->seed, err);
    if (!rc) rc = sp_sampler_controls(&run->smp, job->top_k, job->repeat_penalty > 0
                                      ? job->repeat_penalty : 1.0f, job->repeat_last_n, err);
    run->stops = job->stops;
    run->n_stops = job->n_stops;
    if (!rc && run->n_stops && !run->tok)
        rc = sp_fail(err, SP_ERR_INPUT, "%s holds no tokenizer: --stop needs one to decode",
                     job->model_path);
    size_t positions = run->n_prompt + (run->max_new ? run->max_new - 1 : 0);
    if (!rc) rc = sp_session_create(run->model, positions, job->threads, &run->sess, err);
    if (rc) {
        sp_gen_run_free(run);
        return rc;
    }
    *out = run;
    return SP_OK;
}

static int decode_sequence(const sp_gen_run *run, size_t n_out, char **text, size_t *len,
                           sp_error *err);

/* 1 when the text decoded so far ends with a stop string that the generated tokens reached
 * (run->stop_len set); decoding failures and lack of memory also stop, quietly. */
static int ends_with_stop(sp_gen_run *run) {
    char *text = NULL;
    size_t len = 0;
    sp_error err = {0};
    if (decode_sequence(run, run->n_out, &text, &len, &err)) return 1;
    for (size_t i = 0; i < run->n_stops; i++) {
        size_t k = strlen(run->stops[i]);
        if (k && len > run->prompt_text_len && len >= k &&
            !memcmp(text + len - k, run->stops[i], k)) {
            run->stop_len = k;
            break;
        }
    }
    free(text);
    return run->stop_len > 0;
}

typedef struct collector {
    sp_gen_run *run;
    sp_token_cb cb;
    void *user;
} collector;

static int collect(void *user, int32_t id) {
    collector *c = user;
    sp_gen_run *run = c->run;
    if (run->n_out == run->cap_out) {
        size_t cap = run->cap_out ? run->cap_out * 2 : 64;
        int32_t *nv = realloc(run->out, cap * sizeof *nv);
        if (!nv) return 1;
        run->out = nv;
        run->cap_out = cap;
    }
    run->out[run->n_out++] = id;
    if (run->n_out == 1) run->t_first = omp_get_wtime();
    int stop = c->cb ? c->cb(c->user, id) : 0;
    if (!stop && run->n_stops) stop = ends_with_stop(run);
    return stop;
}

int sp_gen_execute(sp_gen_run *run, sp_token_cb cb, void *user, sp_error *err) {
    int32_t eos = run->tok ? sp_tokenizer_eos(run->tok) : -1;
    collector c = {run, cb, user};
    size_t produced = 0;
    if (run->n_stops) {
        char *text = NULL;
        int rc = decode_sequence(run, 0, &text, &run->prompt_text_len, err);
        free(text);
        if (rc) return rc;
    }
    run->t_start = omp_get_wtime();
    int rc = sp_generate(run->sess, run->vocab, run->prompt, run->n_prompt, run->max_new, eos,
                         &run->smp, collect, &c, &produced, err);
    run->t_end = omp_get_wtime();
    if (rc) sp_eval_error_prefix(err, "%s", run->model_path);
    return rc;
}

/* The prompt and the first n_out generated ids, decoded together. */
static int decode_sequence(const sp_gen_run *run, size_t n_out, char **text, size_t *len,
                           sp_error *err) {
    *text = NULL;
    *len = 0;
    if (!run->tok) return sp_fail(err, SP_ERR_INPUT, "the model holds no tokenizer");
    size_t n_all = run->n_prompt + n_out;
    int32_t *all = malloc((n_all ? n_all : 1) * sizeof *all);
    if (!all) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    /* Ids the tokenizer lacks (a model vocabulary padded past it) have no text. */
    int32_t tv = sp_tokenizer_vocab_size(run->tok);
    size_t k = 0;
    for (size_t i = 0; i < n_all; i++) {
        int32_t id = i < run->n_prompt ? run->prompt[i] : run->out[i - run->n_prompt];
        if (id < tv) all[k++] = id;
    }
    /* BOS/EOS and other control pieces decode to nothing. */
    int rc = sp_tokenizer_decode(run->tok, all, k, text, len, err);
    free(all);
    return rc;
}

int sp_gen_text(const sp_gen_run *run, char **text, size_t *len, sp_error *err) {
    int rc = decode_sequence(run, run->n_out, text, len, err);
    if (!rc && run->stop_len <= *len) *len -= run->stop_len; /* the stop string is not shown */
    return rc;
}

void sp_gen_info_of(const sp_gen_run *run, sp_gen_info *out) {
    out->prompt = run->prompt;
    out->n_prompt = run->n_prompt;
    out->out = run->out;
    out->n_out = run->n_out;
    double first = run->n_out ? run->t_first : run->t_end;
    out->prompt_seconds = first - run->t_start;
    out->decode_seconds = run->t_end - first;
    out->stopped_by = run->stop_len ? "stop" : run->n_out >= run->max_new ? "length" : "eos";
    out->bos_added = run->bos_added;
}

void sp_gen_run_free(sp_gen_run *run) {
    if (!run) return;
    free(run->out);
    free(run->prompt);
    sp_sampler_free(&run->smp);
    sp_session_free(run->sess);
    sp_tokenizer_free(run->tok);
    sp_model_free(run->model);
    free(run);
}
