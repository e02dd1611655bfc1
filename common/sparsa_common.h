/* sparsa_common.h — the floor every part of sparsa stands on (docs/ARCHITECTURE.md).
 *
 * What lives here, and nowhere else:
 *  - errors: sp_status codes and the one-line sp_error every function fills on failure;
 *  - text: a growable string builder, JSON string escaping (any bytes become valid JSON),
 *    terminal-safe escaping, strict UTF-8 validation;
 *  - shapes: the one way sparsa prints a tensor shape, "[2, 3]";
 *  - input files: checked whole-file reading with a size bound, refusing FIFOs, devices and
 *    directories before anything blocks; the identities (device + inode) of a command's inputs;
 *  - output files: the safety rules for an output path (never an input, a device, a FIFO, a
 *    socket, a directory or a symlink), atomic outputs (temporary in the same folder, fsync,
 *    rename) and one signal-safe registry that removes temporaries on SIGINT/SIGTERM/SIGHUP
 *    and on every error path;
 *  - checked writes: every write, flush and close is checked; stdout included;
 *  - SHA-256 and overflow-checked arithmetic.
 *
 * This header includes only libc headers. Nothing here depends on any other part of sparsa.
 */
#ifndef SPARSA_COMMON_H
#define SPARSA_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------------------------ */

typedef enum {
    SP_OK = 0,
    SP_ERR_RUNTIME = 1, /* failure while running (I/O error, out of memory, non-finite result) */
    SP_ERR_INPUT = 2    /* bad usage or invalid input: malformed, unsupported, unreadable */
} sp_status;

typedef struct sp_error {
    int code;       /* an sp_status */
    char msg[512];  /* one line, no trailing newline */
} sp_error;

/* Fills err (if not NULL) with code and a printf-formatted message (newlines become spaces);
 * returns code. */
int sp_fail(sp_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- string builder ---------------------------------------------------------------------- */

/* A growable NUL-terminated string. Zero-initialise ({0}) to start. Out of memory is sticky:
 * further appends do nothing and `oom` stays set; check it once at the end. */
typedef struct sp_strbuf {
    char *s;        /* NUL-terminated once anything was appended; NULL while empty */
    size_t len, cap;
    int oom;
} sp_strbuf;

void sp_sb_put(sp_strbuf *b, const char *s, size_t n);          /* n bytes as they are */
void sp_sb_puts(sp_strbuf *b, const char *s);                   /* a C string */
void sp_sb_printf(sp_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sp_sb_vprintf(sp_strbuf *b, const char *fmt, va_list ap);
/* Appends s[0..n) as a quoted JSON string (see sp_json_escape for the rules). */
void sp_sb_json_string(sp_strbuf *b, const char *s, size_t n);
/* Takes the string out (malloc'd; "" when empty; NULL on out of memory) and resets b. */
char *sp_sb_take(sp_strbuf *b);
void sp_sb_free(sp_strbuf *b);

/* ---- escaping and UTF-8 ------------------------------------------------------------------ */

/* 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
int sp_utf8_valid(const uint8_t *s, size_t len);
/* Length (1..4) of the valid UTF-8 sequence at s, or 0 if the bytes there are not one. */
size_t sp_utf8_seq_len(const uint8_t *s, size_t left);
/* Writes s[0..len) as a quoted JSON string to out. Any bytes give valid JSON: ", \ and
 * control characters are escaped (\n \t \r, else \u00XX), DEL as \u007f, and each byte that
 * is not part of valid UTF-8 becomes U+FFFD (\ufffd). Returns 0, or -1 if a write failed. */
int sp_json_escape(FILE *out, const char *s, size_t len);
/* Writes s[0..len) for a terminal or a log: control characters (C0, DEL, C1) and backslash
 * escaped, so an untrusted name cannot forge lines or move the cursor. Returns 0 or -1. */
int sp_text_escape(FILE *out, const char *s, size_t len);

/* ---- shapes ------------------------------------------------------------------------------ */

/* "[2, 3]" ("[]" for a scalar) into buf, cut with "..." to fit cap; returns buf. */
char *sp_shape_format(char *buf, size_t cap, uint32_t ndim, const uint64_t *dims);

/* ---- input files ------------------------------------------------------------------------- */

#define SP_READ_DEFAULT_MAX ((uint64_t)1 << 30)   /* 1 GiB: the default bound of a whole read */

/* Reads a whole regular file (or standard input for "-") into a malloc'd buffer followed by a
 * NUL not counted in *len. Refuses, with SP_ERR_INPUT and a line naming path and what it is,
 * a directory, FIFO, socket or device (checked with a non-blocking open + fstat before any
 * read, so a FIFO never blocks) and anything larger than max_bytes (standard input included:
 * it is read up to max_bytes + 1 and refused beyond, so /dev/zero cannot exhaust memory). */
int sp_read_file(const char *path, uint64_t max_bytes, char **data, size_t *len, sp_error *err);

/* Opens a regular file for reading (O_RDONLY | O_CLOEXEC | O_NONBLOCK, then O_NONBLOCK
 * cleared); a directory/FIFO/socket/device is refused as above. Returns the fd, or -1 with err
 * filled. st_size of the file in *size when size is not NULL. */
int sp_open_input(const char *path, uint64_t *size, sp_error *err);

/* Records the identity (st_dev, st_ino after following symlinks) of a command's input, so
 * outputs can be checked against it. Paths that do not exist are ignored ("-" too). */
void sp_inputs_add(const char *path);
void sp_inputs_clear(void);

/* ---- output files ------------------------------------------------------------------------ */

/* The output rules (checked before anything is opened for writing):
 *  - "-" means standard output, allowed only where allow_stdout is set;
 *  - a symlink is refused (no write-through, no replacement);
 *  - an existing directory, FIFO, socket, character or block device is refused, naming it;
 *  - a path that resolves to a recorded input (same device + inode) is refused;
 * each with SP_ERR_INPUT and one line. An existing regular file is allowed (it is replaced
 * atomically); whether to overwrite it at all is the caller's policy (--force). */
int sp_output_check(const char *path, int allow_stdout, sp_error *err);

/* An output file written atomically: bytes go to "<dir>/.<name>.tmp-XXXXXX" in the output's
 * folder (registered for removal on signals), then sp_out_commit flushes, fsyncs, renames
 * over the final name and fsyncs the folder. For "-" (when allowed) it writes to stdout. */
typedef struct sp_out {
    FILE *fp;          /* write through this (checked by commit) */
    int fd;
    char *path;        /* final path (NULL for stdout) */
    char *tmp;         /* temporary path (NULL for stdout) */
    int slot;          /* cleanup registry slot, -1 if none */
    int is_stdout;
} sp_out;

/* Creates the temporary "<dir>/.<base>.tmp-XXXXXX" next to path (0600, O_CLOEXEC) and registers
 * it with the cleanup registry, with SIGINT/SIGTERM/SIGHUP held back in between so a signal can
 * never leave it unregistered. Returns its fd, with the malloc'd name in *tmp and the registry
 * slot in *slot; or -1 with err filled (SP_ERR_RUNTIME) and nothing left behind. Used by
 * sp_out_open and by writers that manage their own temporary (the model-file writer). */
int sp_temp_create(const char *path, char **tmp, int *slot, sp_error *err);

/* Runs sp_output_check, then creates the temporary. On failure nothing is left behind. */
int sp_out_open(sp_out *o, const char *path, int allow_stdout, sp_error *err);
/* Flush + fsync + close + rename + folder fsync; every step checked (SP_ERR_RUNTIME with a
 * line naming the path on failure, and the temporary removed). For stdout: a checked fflush. */
int sp_out_commit(sp_out *o, sp_error *err);
/* Removes the temporary (if any) and releases o; safe to call twice and after commit. */
void sp_out_abort(sp_out *o);

/* The cleanup registry (also used by writers that manage their own temporaries, e.g. the
 * model-file writer): paths removed by the signal handler or by sp_cleanup_run. Registering
 * copies the path into a fixed table (async-signal-safe to read); returns a slot or -1. */
int sp_cleanup_register(const char *path);
void sp_cleanup_unregister(int slot);
/* Installs the SIGINT/SIGTERM/SIGHUP handler (unlink every registered path, then re-raise
 * with the default action so the exit status tells the signal) and restores SIGPIPE to its
 * default, so `sparsa ... | head` ends quietly with the conventional status. Idempotent. */
void sp_cleanup_install_signals(void);
/* Unlinks every registered path now (error paths, atexit). */
void sp_cleanup_run(void);
/* Moves the registry into memory a child forked afterwards shares, so that sp_cleanup_run in
 * either process removes what the other registered (a supervising parent removes the
 * temporaries of a child killed by SIGKILL). -1 when the mapping fails (then nothing is
 * shared). */
int sp_cleanup_share(void);

/* ---- checked writes ---------------------------------------------------------------------- */

/* write(2) until done, retrying EINTR; 0 or -1 (errno set). */
int sp_write_all(int fd, const void *data, size_t len);
/* fflush + ferror for a stdio stream; 0 or -1. */
int sp_flush_checked(FILE *f);
/* At the end of every command: flushes and closes stdout (and checks stderr) and returns
 * the exit status to use: rc unchanged when all went out, 1 with one line on stderr
 * ("sparsa: write error on standard output: No space left on device") when it did not. */
int sp_finish_stdout(int rc);

/* ---- SHA-256 ----------------------------------------------------------------------------- */

typedef struct sp_sha256 {
    uint32_t h[8];
    uint8_t buf[64];
    uint64_t total;
    size_t fill;
} sp_sha256;
void sp_sha256_init(sp_sha256 *s);
void sp_sha256_update(sp_sha256 *s, const void *data, size_t len);
void sp_sha256_final(sp_sha256 *s, uint8_t out[32]);
/* Hash of a whole file, read with pread in chunks (does not grow the resident set). */
int sp_sha256_file(int fd, uint64_t size, char hex[65], sp_error *err);
void sp_sha256_hex(const uint8_t digest[32], char hex[65]);

/* ---- overflow-checked arithmetic: 1 on overflow ------------------------------------------ */

static inline int sp_add_ovf(uint64_t a, uint64_t b, uint64_t *r) {
    return __builtin_add_overflow(a, b, r);
}
static inline int sp_mul_ovf(uint64_t a, uint64_t b, uint64_t *r) {
    return __builtin_mul_overflow(a, b, r);
}

#ifdef __cplusplus
}
#endif
#endif
