/* convert.c — sp_convert, the conversion driver, in its steps: check the output path (before
 * and again once every input file is known), open the checkpoint and hash it on this thread
 * while a second one chooses the mapping (by --arch or detection through the mapping table)
 * and builds the graph and output list, reads and checks the tokenizer, streams every mapped
 * tensor into an sp_writer (temporary file), writes the metadata and has the writer complete a
 * draft of the file, self-checks it (convert_check.c) and flushes it to disk; once both are
 * done, write the metadata again with the hashes, and let the writer rewrite the small sections
 * after the tensors, check them and rename the file into place. The hash is the one step that
 * cannot be shortened (SHA-256 is sequential), so it starts first, on the thread that is
 * already running, and everything else runs beside it. */
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convert_internal.h"
#include "out_dtype.h"

/* Everything one conversion holds, released by release(). */
typedef struct {
    const sp_convert_options *o;
    char *out;
    sp_ckpt *c;
    const sp_mapping *m;
    sp_mapping_result r;
    char *tok;
    size_t toklen;
    conv_provenance prov;
    chunk_bufs bufs;
    sp_writer *w;
    int add_bos;            /* tokenizer.add_bos when known (convert_bos.c), else -1 */
    uint32_t *crcs;         /* [r.ntensors]: each tensor's CRC-32 as streamed */
    conv_check_job check;   /* the self-check's job, from the draft to the finish */
} conversion;

static char *default_out(const char *src) {
    size_t n = strlen(src);
    while (n > 1 && src[n - 1] == '/') n--;
    const char *base = src;
    for (size_t i = 0; i < n; i++)
        if (src[i] == '/') base = src + i + 1;
    size_t stem = n;
    struct stat st;
    if (stat(src, &st) == 0 && !S_ISDIR(st.st_mode)) {
        const char *dot = NULL;
        for (const char *p = base; p < src + n; p++)
            if (*p == '.') dot = p;
        if (dot && dot > base) stem = (size_t)(dot - src);
    }
    char *o = malloc(stem + 8);
    if (o) {
        memcpy(o, src, stem);
        strcpy(o + stem, ".sparsa");
    }
    return o;
}

/* Records the files the open checkpoint was read from (its files and the config used; SRC,
 * --config and --tokenizer are recorded by sp_convert first) as inputs, and checks the output
 * against the rules of sparsa_common.h: never an input, a symlink, a device, a FIFO or a
 * directory. */
static int check_output(const conversion *cv, sp_error *err) {
    if (cv->c) {
        for (size_t i = 0; i < cv->c->nfiles; i++) sp_inputs_add(cv->c->files[i].path);
        sp_inputs_add(cv->c->config_path);
    }
    return sp_output_check(cv->out, 0, err);
}

static const sp_mapping *choose_mapping(const sp_convert_options *o, const sp_ckpt *c, sp_error *err) {
    if (o->arch) {
        const sp_mapping *m = sp_mapping_named(o->arch);
        if (!m) sp_fail(err, SP_ERR_INPUT, "unknown --arch '%s' (known: %s)", o->arch, sp_mapping_names());
        return m;
    }
    const sp_mapping *best = sp_mapping_detect(c);
    if (!best)
        sp_fail(err, SP_ERR_INPUT, "%s: cannot tell the architecture from its %zu tensors; use --arch (%s)", o->src,
                c->ntensors, sp_mapping_names());
    return best;
}

/* Choose the mapping, build the graph and the output list, read and check the tokenizer. */
static int plan(conversion *cv, sp_convert_report *rep, sp_error *err) {
    const sp_convert_options *o = cv->o;
    int rc;
    cv->add_bos = conv_add_bos(cv->c, o->src);
    if ((rc = check_output(cv, err))) return rc;
    if (!(cv->m = choose_mapping(o, cv->c, err))) return SP_ERR_INPUT;
    snprintf(rep->arch, sizeof rep->arch, "%s", cv->m->info.name);
    if ((rc = cv->m->build(cv->c, o->dtype, &cv->r, err))) return rc;
    if (!o->tokenizer) return 0;
    if ((rc = sp_read_file(o->tokenizer, (uint64_t)256 << 20, &cv->tok, &cv->toklen, err))) return rc;
    if ((uint8_t)cv->tok[0] != 0x0a)
        rc = sp_fail(err, SP_ERR_INPUT, "%s does not look like a SentencePiece model (ModelProto)", o->tokenizer);
    else if (o->tokenizer_check && (rc = o->tokenizer_check(cv->tok, cv->toklen, cv->r.vocab_size, err))) {
        sp_error inner = *err;
        rc = sp_fail(err, rc, "%s: %s", o->tokenizer, inner.msg);
    }
    if (rc) {
        sp_error inner = *err;
        if (!o->tokenizer_found || rc != SP_ERR_INPUT) return rc;
        /* a folder's own tokenizer that does not fit (a padded vocabulary): convert without it */
        snprintf(rep->tokenizer_skipped, sizeof rep->tokenizer_skipped, "%s", inner.msg);
        memset(err, 0, sizeof *err);
        free(cv->tok);
        cv->tok = NULL;
        cv->toklen = 0;
    }
    return 0;
}

/* Every mapped tensor into the writer, the checkpoint hashed beside it. */
static int stream_tensors(conversion *cv, sp_convert_report *rep, sp_error *err) {
    const sp_convert_options *o = cv->o;
    int rc = sp_writer_create(cv->out, o->force, err, &cv->w);
    if (!rc && !(cv->crcs = calloc(cv->r.ntensors ? cv->r.ntensors : 1, sizeof *cv->crcs)))
        rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t i = 0; i < cv->r.ntensors && !rc; i++) {
        const sp_map_tensor *mt = &cv->r.tensors[i];
        if (o->progress)
            fprintf(stderr, "\r\033[Kconvert: tensor %zu/%zu %.60s", i + 1, cv->r.ntensors, mt->name);
        rc = conv_write_tensor(cv->w, cv->c, mt, o, &cv->bufs, &cv->crcs[i], err);
        if (!rc) rep->bytes_written += mt->src->numel * sp_dtype_size(sp_out_dtype_of(mt->src, o->dtype));
    }
    return rc;
}

/* The metadata: provenance (with stand-in hashes until they are in) and the tokenizer's. */
static void write_metadata(conversion *cv) {
    sp_writer *w = cv->w;
    conv_provenance_write(w, &cv->prov, cv->o, cv->m, &cv->r);
    if (cv->tok) {
        sp_writer_meta_string(w, "tokenizer.kind", "sentencepiece", 13);
        if (cv->add_bos >= 0) sp_writer_meta_bool(w, "tokenizer.add_bos", cv->add_bos);
    }
}

/* Metadata, tokenizer and graph; the writer completes the file, which is self-checked while
 * the hash thread still runs, and flushed to disk. */
static int draft(conversion *cv, sp_error *err) {
    sp_writer *w = cv->w;
    if (cv->o->progress) fputs("\r\033[Kconvert: checking the written file\r", stderr);
    write_metadata(cv);
    if (cv->tok) sp_writer_set_tokenizer(w, cv->tok, cv->toklen);
    sp_writer_set_graph(w, cv->r.graph, cv->r.graph_len);
    if (sp_writer_error(w)->code) return sp_fail(err, sp_writer_error(w)->code, "%s", sp_writer_error(w)->msg);
    /* one thread fewer while the hash has a core */
    int threads = omp_get_max_threads() - !atomic_load(&cv->prov.done);
    cv->check = (conv_check_job){
        .c = cv->c, .r = &cv->r, .mode = cv->o->dtype, .bufs = &cv->bufs, .threads = threads > 1 ? threads : 1,
        .hash = &cv->prov, .crcs = cv->crcs};
    cv->check.placed = calloc(cv->r.ntensors ? cv->r.ntensors : 1, sizeof *cv->check.placed);
    if (!cv->check.placed) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    return sp_writer_draft_checked(w, conv_self_check_written, &cv->check, err);
}

/* Waits for the hashes, writes the metadata again with them; the writer rewrites the small
 * sections, checks them and renames the file into place. */
static int publish(conversion *cv, sp_error *err) {
    int rc = conv_provenance_wait(&cv->prov, err);
    if (rc) return rc;
    sp_writer *w = cv->w;
    sp_writer_meta_clear(w);
    write_metadata(cv);
    if (sp_writer_error(w)->code) return sp_fail(err, sp_writer_error(w)->code, "%s", sp_writer_error(w)->msg);
    cv->check.hashes = (const char *const *)cv->prov.hashes;
    cv->check.nhashes = cv->prov.n;
    cv->w = NULL; /* finished or aborted by sp_writer_finish_checked */
    return sp_writer_finish_checked(w, conv_self_check_final, &cv->check, err);
}

static void release(conversion *cv) {
    if (cv->w) sp_writer_abort(cv->w);
    conv_provenance_free(&cv->prov);
    free(cv->check.placed);
    free(cv->crcs);
    conv_free_bufs(&cv->bufs);
    free(cv->tok);
    sp_mapping_result_free(&cv->r);
    sp_ckpt_close(cv->c);
    free(cv->out);
}

/* The inputs are read with seek and mmap, and standard input cannot be: refused by name. */
static int check_not_stdin(const sp_convert_options *o, sp_error *err) {
    const char *names[] = {"SRC", "--config", "--tokenizer"}, *paths[] = {o->src, o->config, o->tokenizer};
    for (size_t i = 0; i < 3; i++)
        if (paths[i] && !strcmp(paths[i], "-"))
            return sp_fail(err, SP_ERR_INPUT, "%s cannot be standard input ('-'): name a file", names[i]);
    return 0;
}

/* What runs beside the hash, on a second thread: plan, stream, draft and its self-check. A
 * failure stops the hash at its next window. */
typedef struct {
    conversion *cv;
    sp_convert_report *rep;
    int pinned;          /* started away from the hashing CPU: allowed is restored first */
    cpu_set_t allowed;
    int rc;
    sp_error err;
} beside_hash;

static void *plan_stream_draft(void *arg) {
    beside_hash *b = arg;
    conversion *cv = b->cv;
    if (b->pinned) (void)sched_setaffinity(0, sizeof b->allowed, &b->allowed);
    conv_trace("second thread runs");
    int rc = plan(cv, b->rep, &b->err);
    conv_trace("planned");
    if (!rc && cv->tok) conv_provenance_add_tokenizer(&cv->prov, cv->o->tokenizer, cv->tok, cv->toklen);
    if (!rc && !conv_alloc_bufs(&cv->bufs)) rc = sp_fail(&b->err, SP_ERR_RUNTIME, "out of memory");
    if (!rc) rc = stream_tensors(cv, b->rep, &b->err);
    conv_trace("streamed");
    if (!rc) rc = draft(cv, &b->err);
    conv_trace("draft checked and on disk");
    if (rc) atomic_store(&cv->prov.stop, 1);
    b->rc = rc;
    return NULL;
}

/* Opens the checkpoint; this thread then hashes it (SHA-256 is what a conversion waits for:
 * bench/README.md, "Conversion speed") from the moment its files are open, while a second
 * thread does everything up to the flushed, checked draft; then the hashes go in. */
static int convert_opened(conversion *cv, sp_convert_report *rep, sp_error *err) {
    int rc = sp_ckpt_open(cv->o->src, cv->o->config, &cv->c, err);
    conv_trace("checkpoint open");
    if (rc || (rc = conv_provenance_init(&cv->prov, cv->c, err))) return rc;
    beside_hash b = {.cv = cv, .rep = rep};
    /* A new thread the scheduler puts on this CPU waits for it (milliseconds) until it is moved;
     * one started on another allowed CPU runs within a fraction of one, then may go anywhere. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    int here = sched_getcpu();
    if (here >= 0 && sched_getaffinity(0, sizeof b.allowed, &b.allowed) == 0 && CPU_ISSET(here, &b.allowed)) {
        cpu_set_t others = b.allowed;
        CPU_CLR(here, &others);
        b.pinned = CPU_COUNT(&others) > 0 && pthread_attr_setaffinity_np(&attr, sizeof others, &others) == 0;
    }
    pthread_t t;
    int threaded = pthread_create(&t, &attr, plan_stream_draft, &b) == 0;
    pthread_attr_destroy(&attr);
    if (!threaded) plan_stream_draft(&b);
    conv_trace("hash starts");
    conv_provenance_run(&cv->prov);
    conv_trace("hash done");
    if (threaded) pthread_join(t, NULL);
    if (b.rc) {
        *err = b.err;
        return b.rc;
    }
    rc = publish(cv, err);
    conv_trace("published");
    return rc;
}

int sp_convert(const sp_convert_options *o, sp_convert_report *rep, sp_error *err) {
    memset(rep, 0, sizeof *rep);
    conv_trace_start();
    if (check_not_stdin(o, err)) return SP_ERR_INPUT;
    conversion cv = {.o = o, .add_bos = -1};
    cv.out = o->out ? strdup(o->out) : default_out(o->src);
    if (!cv.out) return sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    snprintf(rep->out_path, sizeof rep->out_path, "%s", cv.out);
    sp_inputs_add(o->src);
    sp_inputs_add(o->config);
    sp_inputs_add(o->tokenizer);
    int rc = check_output(&cv, err);
    struct stat st;
    if (!rc && !o->force && lstat(cv.out, &st) == 0)
        rc = sp_fail(err, SP_ERR_INPUT, "%s already exists (use --force to overwrite it)", cv.out);
    if (!rc) rc = convert_opened(&cv, rep, err);
    if (o->progress) fputs("\r\033[K", stderr);
    if (!rc) rep->tensors = cv.r.ntensors;
    release(&cv);
    conv_trace_print();
    return rc;
}
