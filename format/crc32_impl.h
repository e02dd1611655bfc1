/* crc32_impl.h — which of CRC-32's paths sp_crc32 takes (crc32.c): "tables" (portable),
 * "pclmul" (128-bit carry-less folding) or "vpclmul" (512-bit). The fastest the CPU has is
 * chosen at start-up; tests and measurements pick another to compare them. Private to
 * format/ (tests may use it). */
#ifndef SPARSA_CRC32_IMPL_H
#define SPARSA_CRC32_IMPL_H

/* The path in use. */
const char *sp_crc32_impl(void);
/* Switches to the named path: 0, or -1 when the name is unknown or this CPU lacks it. Not
 * thread-safe: call it before any thread checksums. */
int sp_crc32_use(const char *name);

#endif
