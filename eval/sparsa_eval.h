/* sparsa_eval.h — eval/'s public interface: perplexity on text corpora, token generation and
 * synthetic-task accuracy, each as building blocks and as a whole run (plan → run → report) that
 * the commands call. README "Perplexity protocols" states every protocol precisely.
 *
 * Perplexity pipeline: sp_corpus_read (UTF-8 text) → sp_tokenizer_encode (once per file) →
 * sp_ppl_plan (windows of one context length under one protocol) → sp_ppl_run_window (one
 * batched forward per window, log-softmax reduced row by row in the logits sink, so memory is
 * O(vocab), never O(window × vocab)) → sp_ppl_acc (sums per window) → sp_ppl_result.
 * Everything is sequential in the caller's thread and accumulated in double in a fixed order,
 * so results depend only on the logits (which the interpreter makes thread-count independent).
 */
#ifndef SPARSA_EVAL_H
#define SPARSA_EVAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sparsa_format.h"
#include "sparsa_interp.h"
#include "sparsa_tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- corpus files ------------------------------------------------------------------------ */

/* The largest corpus file read (4 GiB: the King James Bible is 4.1 MB, enwik9 1 GB). */
#define SP_CORPUS_MAX_BYTES ((uint64_t)4 << 30)
/* The most read from standard input (a corpus given as "-"): 1 GiB, as `tokenize -`. A file's
 * size is known before it is read; a stream's is not, and every byte is held in memory until
 * the bound is passed, so the bound of a stream is the smaller one. */
#define SP_CORPUS_STDIN_MAX_BYTES ((uint64_t)1 << 30)

/* Reads the whole file, or standard input for "-" (sp_read_file: a FIFO, device or folder is
 * refused before anything blocks), and checks it is non-empty, valid UTF-8 (no overlong forms,
 * surrogates or code points above U+10FFFF). *text is malloc'd and NUL-terminated. Every error
 * is SP_ERR_INPUT (SP_ERR_RUNTIME for lack of memory) with a message that starts with the
 * corpus's name (sp_corpus_name). sp_corpus_read reads at most SP_CORPUS_MAX_BYTES of a file
 * and SP_CORPUS_STDIN_MAX_BYTES of standard input; _max takes the bound (0: those defaults). */
int sp_corpus_read(const char *path, char **text, size_t *len, sp_error *err);
int sp_corpus_read_max(const char *path, uint64_t max_bytes, char **text, size_t *len,
                       sp_error *err);
/* The name a corpus goes by in messages: "standard input" for "-", else its path. */
const char *sp_corpus_name(const char *path);
/* Byte offset of the first invalid UTF-8 sequence, or len if the text is valid. */
size_t sp_utf8_first_invalid(const char *s, size_t len);

/* ---- tokenizing a corpus, through the token cache ---------------------------------------- */

/* The token cache (docs/PROTOCOLS.md, "The token cache"): --token-cache DIR, --no-token-cache. */
typedef struct sp_token_cache_opts {
    const char *dir;   /* NULL: $XDG_CACHE_HOME/sparsa/tokens, else $HOME/.cache/sparsa/tokens */
    int disabled;      /* 1: neither read nor write the cache */
    int note;          /* 1: one stderr line when ids come from or go to the cache */
    const char *who;   /* the command, for its stderr lines ("perplexity") */
} sp_token_cache_opts;

/* One document of a corpus tokenized line by line: its text text[text_at, text_at+text_len)
 * (a line without its newline) and its ids ids[first, first+n), n >= 1. */
typedef struct sp_corpus_doc {
    size_t text_at, text_len, first, n;
} sp_corpus_doc;

typedef struct sp_corpus_tokens {
    int32_t *ids;          /* malloc'd */
    size_t n;
    sp_corpus_doc *docs;   /* by lines: the lines with at least one token, in order; else NULL */
    size_t n_docs;
} sp_corpus_tokens;

/* The ids of a corpus's text: as one string (by_lines 0, sp_tokenizer_encode), or each line
 * (without its newline) on its own. On up to `threads` threads (0: OpenMP's default), the same
 * ids for every count. Read from the token cache when a verified entry for this text and
 * tokenizer is there, else tokenized and stored beside the caller's work (a cache that cannot
 * be used costs one warning line on stderr, never the run). name names the corpus in the
 * notes. */
int sp_corpus_tokenize(const sp_tokenizer *tok, const char *name, const char *text, size_t len,
                       int by_lines, int threads, const sp_token_cache_opts *cache,
                       sp_corpus_tokens *out, sp_error *err);
void sp_corpus_tokens_free(sp_corpus_tokens *t);
/* A corpus's new cache entry is written by a thread beside the run; this waits until every
 * such write has ended (sp_corpus_tokenize does before it reads the cache, and so does the
 * process at exit). */
void sp_token_cache_settle(void);

/* ---- token-id lists ----------------------------------------------------------------------- */

/* Parses ids separated by commas and/or white space ("5,17,3", "5 17 3", "5, 17"). Each item
 * is a decimal integer that fits int32 (a sign is allowed, so callers can name an id outside
 * the vocabulary in their own words); an empty item (",,", a leading or trailing comma) is
 * bad. Returns 0 (*ids malloc'd, possibly with *n = 0), SP_ERR_INPUT with the bad item (cut to
 * 40 bytes) in bad, or SP_ERR_RUNTIME when memory ran out. */
int sp_ids_parse(const char *s, int32_t **ids, size_t *n, char *bad, size_t bad_len);

/* ---- protocols and window planning ----------------------------------------------------- */

typedef enum { SP_SCORE_ALL = 0, SP_SCORE_SECOND_HALF = 1, SP_SCORE_ROLLING = 2 } sp_score_mode;
typedef enum { SP_BOS_NONE = 0, SP_BOS_PREPEND = 1, SP_BOS_REPLACE = 2 } sp_bos_mode;
/* What a document is for SP_SCORE_ROLLING: a whole corpus file, or each line of it. */
typedef enum { SP_DOCS_FILES = 0, SP_DOCS_LINES = 1 } sp_docs_mode;

typedef struct sp_ppl_protocol {
    sp_score_mode score;
    sp_bos_mode bos;     /* ignored by SP_SCORE_SECOND_HALF (always replaces) and ROLLING */
    size_t stride;       /* 0: non-overlapping windows; S: Hugging Face sliding window */
    sp_docs_mode docs;   /* SP_SCORE_ROLLING only */
} sp_ppl_protocol;

/* The windows of one context length L over a corpus of n_tokens tokens (no BOS added).
 * Window k feeds L tokens at positions 0..L-1:
 *   input[p] = stream[start_k + p - lead]  for p >= lead   (lead = 1 with prepend, else 0)
 *   input[0] = BOS                          when lead = 1 or the protocol replaces
 * where stream is the corpus, preceded by BOS for second-half (llama.cpp's stream). The
 * targets are the tokens at positions score_from..L-1 (score_from >= 1), each predicted by the
 * logits row one position earlier; the first window may score more (see first_score_from). */
typedef struct sp_ppl_plan {
    size_t ctx;              /* L */
    size_t windows;          /* number of windows */
    size_t step;             /* start_k = k * step, in stream tokens */
    size_t lead;             /* 1 if BOS is prepended inside the window, else 0 */
    int stream_bos;          /* 1 if the stream is BOS + corpus (second-half) */
    int replace_first;       /* 1 if input[0] is overwritten by BOS */
    size_t first_score_from; /* score_from of window 0 */
    size_t score_from;       /* score_from of windows 1.. */
    size_t tokens_scored;    /* total targets over all windows */
} sp_ppl_plan;

/* Plans the windows. Fails with SP_ERR_INPUT (message without the file name, e.g. "120
 * tokens are too few for context 256 (needs at least 256)") when there are none, when L < 2,
 * or when the stride is not in [1, L] or is combined with second-half. */
int sp_ppl_plan_make(const sp_ppl_protocol *p, size_t ctx, size_t n_tokens, sp_ppl_plan *out,
                     sp_error *err);
/* The smallest corpus (tokens, no BOS) that gives one window. */
size_t sp_ppl_min_tokens(const sp_ppl_protocol *p, size_t ctx);
/* Fills input[0..L) of window k; returns that window's score_from. */
size_t sp_ppl_window_input(const sp_ppl_plan *plan, const int32_t *corpus, size_t n_tokens,
                           int32_t bos, size_t k, int32_t *input);

/* ---- the rolling protocol (lm-evaluation-harness's loglikelihood_rolling) -----------------
 * docs/PROTOCOLS.md, "rolling". A document of n >= 1 tokens gives ceil(n / L) windows; window j
 * is a sequence seq[0..len) of which the first len - 1 tokens are fed to the model and the
 * tokens at positions score_from..len-1 are the targets (each predicted by the row before it):
 *   j = 0: seq = BOS, doc[0 .. m) with m = min(L, n); score_from = 1 (every token of it);
 *   j > 0: with e = min(n, (j + 1) L), seq = doc[e-L-1 .. e) (L + 1 tokens), score_from =
 *          L + 1 - (e - jL): the e - jL tokens not scored before, each seeing up to L tokens. */
size_t sp_ppl_rolling_count(size_t n_tokens, size_t ctx);
/* Fills seq (room for ctx + 1 ids) with window j of doc[0..n); returns score_from. */
size_t sp_ppl_rolling_window(const int32_t *doc, size_t n_tokens, size_t ctx, int32_t bos,
                             size_t j, int32_t *seq, size_t *len);
/* Words of a text as lm-evaluation-harness counts them: len(re.split(r"\s+", text)), i.e. one
 * more than the number of maximal runs of white space (Python's str.isspace() characters). */
uint64_t sp_count_words(const char *text, size_t len);

/* ---- accumulation and results ----------------------------------------------------------- */

/* Sums over windows, in window order. Token-level sums give llama.cpp's (optimistic)
 * uncertainty; per-window sums give the standard error over windows. */
typedef struct sp_ppl_acc {
    size_t windows;
    uint64_t tokens;
    double nll_sum;       /* Σ over tokens of -log p */
    double nll_sq_sum;    /* Σ over tokens of (log p)² */
    double win_nll_sum;   /* Σ over windows of that window's NLL sum s_w */
    double win_sq_sum;    /* Σ over windows of s_w² */
    double win_cross;     /* Σ over windows of s_w n_w */
    double win_n_sq;      /* Σ over windows of n_w² */
} sp_ppl_acc;

void sp_ppl_acc_init(sp_ppl_acc *a);
/* Adds one window of n targets with NLL sum s and sum of squared NLL sq. */
void sp_ppl_acc_window(sp_ppl_acc *a, uint64_t n, double s, double sq);
/* a += b (pooling files for the micro-average). */
void sp_ppl_acc_merge(sp_ppl_acc *a, const sp_ppl_acc *b);

typedef struct sp_ppl_result {
    size_t windows;
    uint64_t tokens_scored;
    double mean_nll;
    double ppl;
    double nll_stderr;        /* standard error of mean_nll over windows (NAN if < 2 windows) */
    double ppl_stderr;        /* ppl · nll_stderr (delta method) */
    double nll_stderr_tokens; /* over tokens, as llama.cpp (NAN if < 2 tokens) */
    double ppl_stderr_tokens;
} sp_ppl_result;

void sp_ppl_result_of(const sp_ppl_acc *a, sp_ppl_result *r);

/* -log softmax(row)[target] over vocab entries, in double: logsumexp(row) - row[target]. */
double sp_nll_of_row(const float *row, int32_t vocab, int32_t target);

/* Runs window input[0..L) through s (which it resets first) and adds its targets
 * input[score_from..L) to acc. A non-finite NLL (NaN or infinite logits) is SP_ERR_RUNTIME,
 * "non-finite NLL at position P", with P (the target's position in the window, >= 1) also in
 * *nonfinite_at when that is not NULL (0 otherwise); acc is then left unchanged. */
int sp_ppl_run_window(sp_session *s, int32_t vocab, const int32_t *input, size_t ctx,
                      size_t score_from, sp_ppl_acc *acc, size_t *nonfinite_at, sp_error *err);

/* As sp_ppl_run_window for a sequence seq[0..len) of which the first feed tokens are run
 * (feed = len, or len - 1 for a rolling window): writes the NLL of each target position p in
 * score_from..len-1 to nll[p] (nll has room for len values) instead of summing. */
int sp_ppl_score_window(sp_session *s, int32_t vocab, const int32_t *seq, size_t len,
                        size_t feed, size_t score_from, double *nll, size_t *nonfinite_at,
                        sp_error *err);

/* Windows scored together where the session batches them across its device (the CUDA
 * module; docs/ARCHITECTURE.md, "Backends"): sp_ppl_window_batch is how many windows of feed
 * tokens one sp_ppl_score_windows call takes (1 on the CPU). sp_ppl_score_windows scores
 * count windows of equal len, feed and score_from, window j at seqs[j·len ..), its NLLs at
 * nll[j·len + p], as sp_ppl_score_window would one at a time. A non-finite NLL stops it with
 * *bad_window = j and *nonfinite_at = the position (the windows before j are complete). */
size_t sp_ppl_window_batch(const sp_session *s, size_t feed);
int sp_ppl_score_windows(sp_session *s, int32_t vocab, size_t count, const int32_t *seqs,
                         size_t len, size_t feed, size_t score_from, double *nll,
                         size_t *bad_window, size_t *nonfinite_at, sp_error *err);

/* ---- reports ---------------------------------------------------------------------------- */

/* One bucket of --by-position B: targets whose position in the window is in [start, end). */
typedef struct sp_ppl_bucket {
    size_t start, end;
    uint64_t tokens;
    double nll_sum;
} sp_ppl_bucket;

/* Per-head sparsity of one run (from sp_session_stats). */
typedef struct sp_head_sparsity {
    double mean_support;   /* mean number of keys with p > 0 per query row */
    double zero_fraction;  /* fraction of visible (query, key) weights that are exactly 0 */
    double skipped_tiles;  /* fraction of (query, key tile) pairs whose value rows were never
                            * read, no key of the tile having p > 0 (NaN: not a tiled sparse
                            * normaliser) */
} sp_head_sparsity;

typedef struct sp_ppl_row {
    const char *file;      /* NULL for the micro-average over files */
    size_t files;          /* number of files pooled (1 for a file row) */
    size_t ctx;
    sp_ppl_result r;
    size_t layers;         /* 0 unless --stats */
    const int *heads;      /* [layers] */
    const sp_head_sparsity *const *sparsity; /* [layers][heads[l]] */
    size_t model;          /* index into the report's models */
    const sp_ppl_bucket *buckets; /* [n_buckets] with tokens > 0, by start; NULL without B */
    size_t n_buckets;
    uint64_t words, bytes; /* rolling: words and UTF-8 bytes of the documents scored */
} sp_ppl_row;

typedef struct sp_ppl_report_info {
    const char *model;     /* the first model */
    const sp_ppl_protocol *protocol;
    const size_t *ctx;     /* [n_ctx] */
    size_t n_ctx;
    /* provenance (JSON): every model with its SHA-256, and the settings behind the numbers */
    const char *const *models;  /* [n_models]; rows give their model's index */
    const char *const *sha256;  /* [n_models], 64 hex digits each */
    size_t n_models;
    const char *version;        /* sparsa's version, or NULL */
    size_t max_tokens;          /* 0: every token */
    size_t by_position;         /* B, 0: none */
} sp_ppl_report_info;

/* rows are grouped per model, then per ctx: for each ctx, its file rows then its
 * micro-average row. With several models the table has a column per model. */
void sp_ppl_print_table(FILE *out, const sp_ppl_report_info *info, const sp_ppl_row *rows,
                        size_t n_rows);
void sp_ppl_print_json(FILE *out, const sp_ppl_report_info *info, const sp_ppl_row *rows,
                       size_t n_rows);
/* Names of the protocol parts as written on the command line ("all", "second-half", ...). */
const char *sp_score_name(sp_score_mode m);
const char *sp_bos_name(sp_bos_mode m);

/* ---- provenance of a result JSON -----------------------------------------------------------
 * Every result JSON (every command) carries sparsa's version, each model file with its SHA-256
 * (computed once per model per run) and the settings that affect the numbers. */

/* Writes the settings members every computed number shares, `"device": "cpu", "precision":
 * "fp32"` (the device kind without a GPU index; threads never change the numbers). */
void sp_prov_device_settings(FILE *out);

/* The SHA-256 of a whole input file (sp_open_input's refusals) as 64 lowercase hex digits. */
int sp_prov_sha256_file(const char *path, char hex[65], sp_error *err);

/* Writes the members of the settings object, without its braces (none is valid). */
typedef void (*sp_prov_settings_fn)(FILE *out, const void *user);

typedef struct sp_provenance {
    const char *version;           /* sparsa's version; NULL: "unknown" */
    const char *const *models;     /* [n_models] model (or tokenizer) files, as given */
    const char *const *sha256;     /* [n_models], 64 hex digits each */
    size_t n_models;
    sp_prov_settings_fn settings;  /* NULL: an empty settings object */
    const void *user;              /* passed to settings */
    const char *settings_sep;      /* written between the models and the settings; NULL: ", " */
} sp_provenance;

/* Three members of the caller's object, with no comma before or after them:
 * "sparsa_version": V, "models": [{"file": F, "sha256": H}, ...]<sep>"settings": {...} */
void sp_prov_write(FILE *out, const sp_provenance *p);

/* ---- synthetic tasks: exact-match accuracy ------------------------------------------------
 * The paper's synthetic tasks (copy, sort, reverse, MQMTAR, flip-flop), by greedy generation.
 * Data: one sample per line, tokens as space-separated integers, in a .src file and a .trg
 * file with the same number of lines. Each sample runs as: reset the session, feed
 * `bos src sep` (no sep for flip-flop), generate greedily until eos or until the sequence holds
 * int(len(source) × multiplier) tokens, cut at eos; the sample is correct when the generated
 * ids equal the target line exactly. */

typedef struct sp_task_layout {
    int32_t bos, eos;
    int32_t sep;        /* < 0: no separator (flip-flop) */
    double multiplier;  /* generation length multiplier */
} sp_task_layout;

/* The paper's simple tokenizer: ids are the integers 0..M, then pad, bos, eos, mask, sep, so a
 * vocabulary of V gives bos = V-4, eos = V-3, sep = V-1. */
void sp_task_default_layout(int32_t vocab, sp_task_layout *out);

/* One src/trg file pair, read and validated (every id in [0, vocab), equal line counts). */
typedef struct sp_task_set {
    size_t samples;
    int32_t **src, **trg;
    size_t *src_len, *trg_len;
    size_t max_src_len;
    const char *src_path;   /* as given to sp_task_set_read (not copied): names errors */
} sp_task_set;

int sp_task_set_read(const char *src_path, const char *trg_path, int32_t vocab, size_t limit,
                     sp_task_set *out, sp_error *err);
void sp_task_set_free(sp_task_set *s);
/* Tokens the session must hold for the longest sample of the set. */
size_t sp_task_set_capacity(const sp_task_set *s, const sp_task_layout *layout);

typedef struct sp_task_result {
    size_t samples, correct;
    double mean_src_len;
    double seconds;
} sp_task_result;

/* Runs every sample; if pred is not NULL writes one line per sample: "<0|1> <ids>". An error
 * while generating (a non-finite logit: SP_ERR_RUNTIME) names the src file and line. */
int sp_task_eval(sp_session *s, int32_t vocab, const sp_task_layout *layout,
                 const sp_task_set *set, FILE *pred, sp_task_result *res, sp_error *err);

/* The layout a model file asks for: its metadata task.generation_multiplier, task.bos_id,
 * task.eos_id and task.sep_id where present, else sp_task_default_layout. */
void sp_task_layout_of_model(sp_model *m, sp_task_layout *out);

/* Reads and checks every src/trg pair (sets[0..n)) before a long evaluation starts; on error
 * the sets already read are freed. *capacity gets the session size the longest sample needs,
 * which must fit the model's context length (SP_ERR_INPUT otherwise). */
int sp_task_sets_read(sp_model *m, const sp_task_layout *layout, const char *const *src,
                      const char *const *trg, size_t n, size_t limit, sp_task_set *sets,
                      size_t *capacity, sp_error *err);

/* Called after each set with its result (row i of the report). */
typedef void (*sp_task_row_cb)(void *user, size_t i, const sp_task_result *r);

/* Runs every set in order on one session of `capacity` tokens; pred as in sp_task_eval. With
 * progress, a line on stderr counts the samples done (set i of n, sample j of the set's). */
int sp_task_run(sp_model *m, const sp_task_layout *layout, const sp_task_set *sets, size_t n,
                size_t capacity, int threads, int progress, FILE *pred, sp_task_row_cb row,
                void *user, sp_error *err);

/* The 95% Wilson score interval (z = 1.959963984540054) of k successes in n trials, in [0, 1]
 * (docs/WORKBENCH.md, "Accuracy intervals"); n = 0 gives [0, 1]. */
void sp_wilson_interval(size_t k, size_t n, double *lo, double *hi);

/* ---- logits of one list of ids ---------------------------------------------------------- */

/* Every id inside the model's vocabulary, and no more ids than its context length. */
int sp_logits_check(sp_model *m, const int32_t *ids, size_t n, sp_error *err);
/* One batched forward over ids. With raw, writes the float32 rows [n, vocab] (host order,
 * little-endian on every supported host); otherwise prints, per position, its five largest
 * logits as "p: id=value ..." to summary. A failed write is SP_ERR_RUNTIME; so is a NaN or
 * infinite logit ("non-finite logit at position P (id I)"), found before its row is written. */
int sp_logits_run(sp_model *m, const int32_t *ids, size_t n, int threads, FILE *raw,
                  FILE *summary, sp_error *err);
/* The same summary as JSON (`logits --json`): one object per position, comma-separated,
 * {"position":p,"top":[{"id":i,"logit":v},...]} with v printed exactly (%.9g). */
int sp_logits_top_json(sp_model *m, const int32_t *ids, size_t n, int threads, FILE *rows,
                       sp_error *err);

/* ---- a whole perplexity run: plan, run, report ----------------------------------------- */

/* Opens a model file; an error names the file. _opts takes the interpreter's options (NULL:
 * the defaults, which check each weight's CRC-32 at first use; no_verify skips that). */
int sp_eval_open_model(const char *path, sp_model **out, sp_error *err);
int sp_eval_open_model_opts(const char *path, const sp_model_options *opts, sp_model **out,
                            sp_error *err);
/* The tokenizer serves exactly the model's vocabulary: one piece per row of the vocabulary
 * and its BOS/EOS/UNK ids (those it defines) inside it; SP_ERR_INPUT naming what does not. */
int sp_eval_tokenizer_fits(const sp_tokenizer *tok, int32_t vocab, sp_error *err);
/* The tokenizer stored in the model file (*out NULL, and SP_OK, when it holds none). */
int sp_eval_model_tokenizer(sp_model *m, sp_tokenizer **out, sp_error *err);

/* The strings and lists a job points to must outlive its run. */
typedef struct sp_ppl_job {
    const char *model_path;
    const char *const *more_models; /* [n_more_models] run on the same windows (--model) */
    size_t n_more_models;
    const char *const *corpora;  /* [n_corpora] UTF-8 text files */
    size_t n_corpora;
    const size_t *ctx;           /* [n_ctx]; n_ctx 0: 512, or the model's context if smaller */
    size_t n_ctx;
    sp_ppl_protocol protocol;
    size_t max_tokens;           /* 0: every token of each corpus */
    uint64_t max_bytes;          /* the most read of one corpus; 0: sp_corpus_read's defaults */
    int threads;                 /* 0: the default */
    int no_verify;               /* 1: skip the weights' CRC-32 checks (--no-verify) */
    int stats;                   /* per-head attention sparsity */
    int progress;                /* stderr progress: 0 none, 1 one redrawn line (a terminal),
                                  * 2 one line per window (--progress elsewhere) */
    size_t by_position;          /* B > 0: NLL by position in the window, buckets of B */
    const char *dump_nll;        /* path for every target's NLL (TSV, docs/PROTOCOLS.md) */
    const char *version;         /* sparsa's version, for the JSON's provenance */
    sp_token_cache_opts token_cache; /* where each corpus's ids are cached */
} sp_ppl_job;

typedef struct sp_ppl_run sp_ppl_run;

/* Planning: every check before the first window runs. The same corpus file twice (same
 * device + inode), a context above the model's, a protocol the tokenizer cannot serve, a
 * corpus too short for some context: SP_ERR_INPUT naming the file. Each corpus is read and
 * tokenized here, once. On success *out is the run (free it with sp_ppl_run_free). */
int sp_ppl_prepare(const sp_ppl_job *job, sp_ppl_run **out, sp_error *err);
/* Running: every (ctx, file) in order, one batched forward per window. */
int sp_ppl_execute(sp_ppl_run *run, sp_error *err);
/* Reporting: the table, or with json one JSON document (README "Perplexity protocols"). */
void sp_ppl_report(const sp_ppl_run *run, FILE *out, int json);
void sp_ppl_run_free(sp_ppl_run *run);

/* ---- generation ------------------------------------------------------------------------- */

/* A seeded PRNG (xoshiro256**, seeded through splitmix64): the same seed gives the same
 * numbers on every platform. */
typedef struct sp_rng {
    uint64_t s[4];
} sp_rng;

void sp_rng_seed(sp_rng *r, uint64_t seed);
uint64_t sp_rng_next(sp_rng *r);
double sp_rng_uniform(sp_rng *r); /* in [0, 1), 53 random bits */

typedef struct sp_sampler {
    float temperature;  /* <= 0: greedy (argmax, lowest id on ties) */
    float top_p;        /* in (0, 1]; 1 keeps every token */
    sp_rng rng;
    /* scratch, owned */
    int32_t vocab;
    int32_t *order;
    double *prob;
    /* sp_sampler_controls (all off after sp_sampler_init) */
    int32_t top_k;          /* 0: off; else only the K largest logits compete (ties: lower id) */
    float repeat_penalty;   /* 1: off */
    size_t repeat_last_n;   /* window of recent ids the penalty looks at */
    int32_t *recent;        /* ring of the last repeat_last_n accepted ids */
    size_t n_recent, recent_next;
    uint32_t *recent_count; /* [vocab]: occurrences of each id in the ring */
    float *penalized;       /* [vocab]: the row after the penalty */
} sp_sampler;

int sp_sampler_init(sp_sampler *s, int32_t vocab, float temperature, float top_p,
                    uint64_t seed, sp_error *err);
void sp_sampler_free(sp_sampler *s);
/* Picks the next id from one logits row. */
int32_t sp_sample(sp_sampler *s, const float *logits);
/* Top-k and llama.cpp's repetition penalty (docs/WORKBENCH.md, "Generation controls"): before
 * sampling, the logit l of each id among the last repeat_last_n accepted ids becomes l / R when
 * l > 0, else l · R (once per distinct id); then only the top_k largest logits compete (0: all),
 * then temperature and top-p as above. R = 1 or last_n = 0 turns the penalty off. */
int sp_sampler_controls(sp_sampler *s, int32_t top_k, float repeat_penalty, size_t last_n,
                        sp_error *err);
/* Records an id of the sequence (prompt and generated) for the penalty; a no-op without one. */
void sp_sampler_accept(sp_sampler *s, int32_t id);

/* Called with each generated id; return non-zero to stop. */
typedef int (*sp_token_cb)(void *user, int32_t id);

/* Feeds prompt[0..n_prompt) (n_prompt >= 1) after the session's cached tokens, then samples up
 * to max_new ids, stopping at eos (not passed to cb, not counted) when eos >= 0, or when cb
 * asks to. The session must hold n_prompt + max_new - 1 more tokens. *n_out gets the number of
 * ids passed to cb. A NaN or infinite logit is SP_ERR_RUNTIME, "non-finite logit at position
 * P (id I)" (P counted from the prompt's first token): nothing is sampled from it. */
int sp_generate(sp_session *s, int32_t vocab, const int32_t *prompt, size_t n_prompt,
                size_t max_new, int32_t eos, sp_sampler *smp, sp_token_cb cb, void *user,
                size_t *n_out, sp_error *err);

/* ---- a whole generation run: prompt, decode, text --------------------------------------- */

typedef struct sp_gen_job {
    const char *model_path;
    const char *prompt;          /* text for the model's tokenizer (BOS first unless no_bos) */
    const int32_t *ids;          /* or, when prompt is NULL, the prompt's ids as given */
    size_t n_ids;
    size_t max_new;              /* tokens to generate at most (cut to the model's context) */
    float temperature, top_p;
    uint64_t seed;
    int threads;                 /* 0: the default */
    int no_verify;               /* 1: skip the weights' CRC-32 checks (--no-verify) */
    int no_bos;                  /* never BOS (else BOS unless metadata tokenizer.add_bos is false) */
    int32_t top_k;               /* 0: off (sp_sampler_controls) */
    float repeat_penalty;        /* 0 or 1: off */
    size_t repeat_last_n;
    const char *const *stops;    /* [n_stops] stop strings: generation ends when the decoded */
    size_t n_stops;              /* text ends with one; sp_gen_text leaves it out */
} sp_gen_job;

typedef struct sp_gen_run sp_gen_run;

/* Opens the model, builds and checks the prompt (not empty, ids inside the vocabulary, within
 * the context length), and sets up the sampler and session. Errors are SP_ERR_INPUT naming
 * the problem. */
int sp_gen_prepare(const sp_gen_job *job, sp_gen_run **out, sp_error *err);
/* Generates, passing each new id to cb (which may be NULL) as it comes; an error names the
 * model file. */
int sp_gen_execute(sp_gen_run *run, sp_token_cb cb, void *user, sp_error *err);
/* The prompt and continuation decoded together (so the first piece keeps its leading space);
 * control pieces and ids past the tokenizer's vocabulary give no text. *text is malloc'd. */
int sp_gen_text(const sp_gen_run *run, char **text, size_t *len, sp_error *err);
/* What a finished run did, for `generate --json`; the pointers live as long as the run. */
typedef struct sp_gen_info {
    const int32_t *prompt, *out;
    size_t n_prompt, n_out;
    double prompt_seconds;       /* the prompt's forward and the first sample */
    double decode_seconds;       /* every later token */
    const char *stopped_by;      /* "eos", "length" (-n or the context) or "stop" */
    int bos_added;               /* BOS was put before the --prompt text */
} sp_gen_info;
void sp_gen_info_of(const sp_gen_run *run, sp_gen_info *out);
void sp_gen_run_free(sp_gen_run *run);

#ifdef __cplusplus
}
#endif
#endif
