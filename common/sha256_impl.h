/* sha256_impl.h — private to common/: the two SHA-256 block functions behind sparsa_common.h's
 * streaming hash (portable C in sha256.c, the x86 SHA extensions in sha256_x86.c), the round
 * constants they share, and the choice between them. Tests force the portable one so both are
 * checked on every machine that has the extensions. */
#ifndef SPARSA_SHA256_IMPL_H
#define SPARSA_SHA256_IMPL_H

#include <stddef.h>
#include <stdint.h>

/* FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first
 * 64 primes. */
static const uint32_t sp_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

/* h = the state after nblk more 64-byte blocks at p. */
typedef void (*sp_sha256_blocks_fn)(uint32_t h[8], const uint8_t *p, size_t nblk);

/* The SHA-extension blocks when this CPU has SHA and SSE4.1 (CPUID, asked once), else NULL. */
sp_sha256_blocks_fn sp_sha256_blocks_x86(void);

/* Which block function the hash uses: "sha-ni" or "portable". The first hash chooses: the
 * extensions when the CPU has them, unless the environment variable SPARSA_SHA256 is
 * "portable". sp_sha256_use("portable" | "sha-ni" | "auto") changes it for tests and
 * benchmarks (while no hash runs); it returns -1 and changes nothing for an unknown name or
 * "sha-ni" on a CPU without the extensions. */
const char *sp_sha256_impl(void);
int sp_sha256_use(const char *name);

#endif
