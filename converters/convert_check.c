/* convert_check.c — the self-check: the written temporary file is re-opened with the format
 * library, its graph compared with the one written and every tensor with its source, before it
 * is renamed into place; a file that does not match its source never appears under the output
 * name. An uncompressed tensor's bytes are read back from the file with pread, a piece at a
 * time, and their CRC-32 compared with the one the stream computed on the source's bytes as
 * it handed them to the writer (and with the directory's): reading the file back once, and
 * not the source a second time, is what keeps the check off the conversion's critical path
 * (bench/README.md, "Conversion speed"); these threads share a core with the hash, so the
 * file is read without a mapping (nothing to fault in, drop and shoot down on the other core).
 * Compressed tensors are decompressed (and their stored CRC checked) by the format library and
 * compared byte for byte with the source converted again, one at a time. This runs on the draft
 * (whose source hashes are stand-ins, while the hash thread still runs); once the small
 * sections are written again with the hashes, the final check re-opens the file and finds the
 * graph, the same directory entries and the hashes. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert_internal.h"
#include "out_dtype.h"

/* Read back in pieces that stay in the core's cache between the read and the CRC. */
enum { READ_PIECE = 256u << 10 };

/* bytes of the stored tensor at offset `at` into buf; 0 or -1 on a short read. */
static int read_stored(int fd, uint8_t *buf, size_t bytes, uint64_t at) {
    size_t have = 0;
    while (have < bytes) {
        ssize_t rr = pread(fd, buf + have, bytes - have, (off_t)(at + have));
        if (rr < 0 && errno == EINTR) continue;
        if (rr <= 0) break;
        have += (size_t)rr;
    }
    return have == bytes ? 0 : -1;
}

/* One uncompressed tensor of the output against its source: the size its dtype and shape
 * need, and the CRC-32 of the bytes read back from the file equal to the source's as streamed
 * (crc) and to the directory's. */
static int check_stored(int fd, const sp_map_tensor *mt, const sp_tensor_info *ti, sp_dtype od, uint32_t crc,
                        uint8_t *buf, sp_error *err) {
    if (ti->stored_size != mt->src->numel * sp_dtype_size(od))
        return sp_fail(err, SP_ERR_RUNTIME, "self-check: tensor '%s' has the wrong size in the output", mt->name);
    uint32_t got = 0;
    for (uint64_t at = 0; at < ti->stored_size; at += READ_PIECE) {
        size_t k = ti->stored_size - at < READ_PIECE ? (size_t)(ti->stored_size - at) : READ_PIECE;
        if (read_stored(fd, buf, k, ti->offset + at))
            return sp_fail(err, SP_ERR_RUNTIME, "self-check: short read of tensor '%s'", mt->name);
        got = sp_crc32(got, buf, k);
    }
    if (got != crc || ti->crc32 != crc)
        return sp_fail(err, SP_ERR_RUNTIME, "self-check: tensor '%s' differs from its source", mt->name);
    return 0;
}

/* Compares one compressed tensor, decompressed and CRC-checked by the format library (zdata),
 * with its source converted again, chunk by chunk. */
static int check_decompressed(const sp_ckpt *c, const sp_map_tensor *mt, sp_dtype od, const uint8_t *zdata,
                              chunk_bufs *b, sp_error *err) {
    const sp_src_tensor *t = mt->src;
    size_t es = sp_dtype_size(od);
    int rc = 0;
    for (uint64_t first = 0; first < t->numel && !rc; first += CONV_CHUNK_ELEMS) {
        uint64_t n = t->numel - first < CONV_CHUNK_ELEMS ? t->numel - first : CONV_CHUNK_ELEMS;
        const uint8_t *want = sp_ckpt_view(c, t, first, n);
        if (!want) {
            if ((rc = sp_ckpt_read(c, t, first, n, b->sbuf, err))) break;
            want = b->sbuf;
        }
        if (od != t->dtype) {
            conv_convert_elems(want, t->dtype, b->obuf, od, (size_t)n);
            want = b->obuf;
        }
        if (memcmp(zdata + first * es, want, (size_t)n * es))
            rc = sp_fail(err, SP_ERR_RUNTIME, "self-check: tensor '%s' differs from its source", mt->name);
        sp_ckpt_release_elems(c, t, first, n);
    }
    sp_ckpt_release(c, t);
    return rc;
}

/* The graph as written, the tensor count, and each tensor's dtype and shape; infos[i] is the
 * output's entry for mapped tensor i. */
static int check_layout(const sp_file *f, const conv_check_job *j, const sp_tensor_info **infos, sp_error *err) {
    const sp_mapping_result *r = j->r;
    size_t glen;
    const char *g = sp_file_graph(f, &glen);
    if (!g || glen != r->graph_len || memcmp(g, r->graph, glen))
        return sp_fail(err, SP_ERR_RUNTIME, "self-check: the graph differs from the one written");
    if (sp_file_tensor_count(f) != r->ntensors)
        return sp_fail(err, SP_ERR_RUNTIME, "self-check: %zu tensors in the output, %zu written",
                       sp_file_tensor_count(f), r->ntensors);
    int rc = 0;
    for (size_t i = 0; i < r->ntensors && !rc; i++) {
        const sp_src_tensor *t = r->tensors[i].src;
        const sp_tensor_info *ti = sp_file_find_tensor(f, r->tensors[i].name);
        sp_dtype od = sp_out_dtype_of(t, j->mode);
        if (!ti || ti->dtype != od || ti->ndim != t->ndim || memcmp(ti->dims, t->shape, t->ndim * sizeof(uint64_t)))
            rc = sp_fail(err, SP_ERR_RUNTIME, "self-check: tensor '%s' has the wrong dtype or shape in the output",
                         r->tensors[i].name);
        infos[i] = ti;
    }
    return rc;
}

/* Uncompressed tensors: read + compare, spread over j->threads threads (the caller's and
 * plain threads, not OpenMP's: a conversion starts no thread pool), each taking the next
 * tensor not yet taken; the first failure wins. */
typedef struct {
    int fd;
    const conv_check_job *j;
    const sp_tensor_info **infos;
    atomic_size_t next;
    atomic_int failed;
    atomic_int all_taken;  /* every tensor has been taken: a helper still waiting can go */
    pthread_mutex_t lock;
    sp_error *err;
} check_pool;

static void check_some(check_pool *p, chunk_bufs *bufs) {
    const sp_mapping_result *r = p->j->r;
    sp_error terr = {0};
    for (size_t i; !atomic_load(&p->failed) && (i = atomic_fetch_add(&p->next, 1)) < r->ntensors;) {
        if (p->infos[i]->compression != SP_COMPRESS_NONE) continue;
        int trc = bufs ? check_stored(p->fd, &r->tensors[i], p->infos[i], sp_out_dtype_of(r->tensors[i].src, p->j->mode),
                                      p->j->crcs[i], bufs->fbuf, &terr)
                       : sp_fail(&terr, SP_ERR_RUNTIME, "out of memory");
        if (!trc) continue;
        pthread_mutex_lock(&p->lock);
        if (!atomic_load(&p->failed)) {
            *p->err = terr;
            atomic_store(&p->failed, trc);
        }
        pthread_mutex_unlock(&p->lock);
    }
}

static void *check_worker(void *arg) {
    chunk_bufs mine = {0};
    int ok = conv_alloc_bufs(&mine);
    check_some(arg, ok ? &mine : NULL);
    conv_free_bufs(&mine);
    return NULL;
}

/* A helper for the core the hash thread holds: it sleeps until the hash is done, then takes
 * what tensors are left. */
static void *late_worker(void *arg) {
    check_pool *p = arg;
    if (conv_provenance_await(p->j->hash, &p->all_taken)) check_worker(p);
    return NULL;
}

static int check_uncompressed(int fd, const conv_check_job *j, const sp_tensor_info **infos, sp_error *err) {
    enum { MAX_WORKERS = 63 };
    check_pool p = {.fd = fd, .j = j, .infos = infos, .err = err};
    pthread_mutex_init(&p.lock, NULL);
    pthread_t workers[MAX_WORKERS + 1];
    int n = 0;
    while (n < j->threads - 1 && n < MAX_WORKERS && !pthread_create(&workers[n], NULL, check_worker, &p)) n++;
    if (j->hash && !atomic_load(&j->hash->done) && !pthread_create(&workers[n], NULL, late_worker, &p)) n++;
    check_some(&p, j->bufs);
    atomic_store(&p.all_taken, 1);
    if (j->hash) conv_provenance_wake(j->hash);
    while (n > 0) pthread_join(workers[--n], NULL);
    pthread_mutex_destroy(&p.lock);
    return atomic_load(&p.failed);
}

/* Compressed tensors, one at a time; decompressed buffers live as long as the file, so it is
 * re-opened every 256 MB to bound memory (*f may change). */
static int check_compressed(const char *path, sp_file **f, const conv_check_job *j, const sp_tensor_info **infos,
                            sp_error *err) {
    const sp_mapping_result *r = j->r;
    uint64_t decompressed = 0;
    sp_error e2 = {0};
    for (size_t i = 0; i < r->ntensors; i++) {
        if (infos[i]->compression == SP_COMPRESS_NONE) continue;
        if (decompressed > (256u << 20)) {
            sp_file_close(*f);
            *f = NULL;
            decompressed = 0;
            if (sp_file_open(path, f, &e2))
                return sp_fail(err, SP_ERR_RUNTIME, "self-check: cannot re-open the output: %s", e2.msg);
            for (size_t k = i; k < r->ntensors; k++) infos[k] = sp_file_find_tensor(*f, r->tensors[k].name);
        }
        const sp_tensor_info *ti = infos[i];
        const void *d;
        if (sp_file_tensor_data(*f, ti, &d, &e2)) return sp_fail(err, SP_ERR_RUNTIME, "self-check: %s", e2.msg);
        decompressed += ti->raw_size;
        int rc = check_decompressed(j->c, &r->tensors[i], sp_out_dtype_of(r->tensors[i].src, j->mode), d, j->bufs, err);
        if (rc) return rc;
    }
    return 0;
}

int conv_self_check_written(const char *path, void *job, sp_error *err) {
    const conv_check_job *j = job;
    sp_file *f = NULL;
    sp_error e2 = {0};
    conv_trace("draft written, check starts");
    if (sp_file_open(path, &f, &e2))
        return sp_fail(err, SP_ERR_RUNTIME, "self-check: cannot re-open the output: %s", e2.msg);
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    const sp_tensor_info **infos = calloc(j->r->ntensors ? j->r->ntensors : 1, sizeof *infos);
    if (!infos) rc = sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    else if (fd < 0) rc = sp_fail(err, SP_ERR_RUNTIME, "self-check: cannot open %s", path);
    else rc = check_layout(f, j, infos, err);
    if (!rc) rc = check_uncompressed(fd, j, infos, err);
    if (!rc) rc = check_compressed(path, &f, j, infos, err);
    for (size_t i = 0; !rc && i < j->r->ntensors; i++) {
        const sp_tensor_info *ti = sp_file_find_tensor(f, j->r->tensors[i].name); /* f may be new */
        j->placed[i] = (conv_placed){ti->offset, ti->stored_size, ti->crc32, ti->compression};
    }
    free(infos);
    if (fd >= 0) close(fd);
    if (f) sp_file_close(f);
    conv_trace("draft checked");
    return rc;
}

/* 0 when the file's source.sha256 lists exactly the hashes given. */
static int check_hashes(const sp_file *f, const conv_check_job *j, sp_error *err) {
    const sp_meta *m = sp_file_meta_find(f, "source.sha256");
    int ok = m && m->type == SP_META_ARRAY && m->elem_type == SP_META_STRING && m->len == j->nhashes;
    sp_meta_iter it;
    sp_meta e;
    if (ok) sp_meta_iter_init(&it, m);
    for (size_t i = 0; ok && i < j->nhashes; i++)
        ok = sp_meta_iter_next(&it, &e) && e.len == strlen(j->hashes[i]) && !memcmp(e.data, j->hashes[i], e.len);
    return ok ? 0 : sp_fail(err, SP_ERR_RUNTIME, "self-check: source.sha256 differs from the inputs' hashes");
}

int conv_self_check_final(const char *path, void *job, sp_error *err) {
    const conv_check_job *j = job;
    sp_file *f = NULL;
    sp_error e2 = {0};
    conv_trace("sections rewritten, final check starts");
    if (sp_file_open(path, &f, &e2))
        return sp_fail(err, SP_ERR_RUNTIME, "self-check: cannot re-open the output: %s", e2.msg);
    const sp_tensor_info **infos = calloc(j->r->ntensors ? j->r->ntensors : 1, sizeof *infos);
    int rc = infos ? check_layout(f, j, infos, err) : sp_fail(err, SP_ERR_RUNTIME, "out of memory");
    for (size_t i = 0; !rc && i < j->r->ntensors; i++) {
        const sp_tensor_info *ti = infos[i];
        const conv_placed *was = &j->placed[i];
        if (ti->offset != was->offset || ti->stored_size != was->stored_size || ti->crc32 != was->crc32 ||
            ti->compression != was->compression)
            rc = sp_fail(err, SP_ERR_RUNTIME, "self-check: tensor '%s' moved after it was checked",
                         j->r->tensors[i].name);
    }
    if (!rc) rc = check_hashes(f, j, err);
    free(infos);
    sp_file_close(f);
    conv_trace("final check done");
    return rc;
}
