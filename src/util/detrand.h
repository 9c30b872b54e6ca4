/*
 * detrand.h - deterministic randomness from a 64-bit seed, for the simulator: the same seed
 * gives the same stream (libsodium's randombytes_buf_deterministic, one 1 KiB block at a time,
 * each block's seed derived from the seed, a purpose and the block number).
 */
#ifndef AL_DETRAND_H
#define AL_DETRAND_H

#include <stddef.h>
#include <stdint.h>

typedef struct al_detrand {
	unsigned char key[32];
	uint64_t block;
	unsigned char buf[1024];
	size_t pos;
} al_detrand;

/* A stream for seed and purpose (streams of one seed with other purposes are independent). */
void al_detrand_init(al_detrand *r, uint64_t seed, const char *purpose);
void al_detrand_bytes(al_detrand *r, void *out, size_t n);
/* Uniform in [0, n) (n > 0), without modulo bias. */
uint32_t al_detrand_below(al_detrand *r, uint32_t n);
/* Uniform in [0, 1). */
double al_detrand_unit(al_detrand *r);
/*
 * Makes libsodium's random source (keys, salts, ids the commands draw) a deterministic stream
 * from seed for the rest of this process. Must run before anything calls sodium_init: 0, or
 * -1 when it is too late. For `adminlog simulate` only: such keys are not secret.
 */
int al_detrand_install(uint64_t seed);

#endif
