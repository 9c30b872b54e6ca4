/* detrand.c - deterministic randomness from a seed (detrand.h). */
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "util/detrand.h"

void al_detrand_init(al_detrand *r, uint64_t seed, const char *purpose)
{
	unsigned char in[8];
	for (int i = 0; i < 8; i++)
		in[i] = (unsigned char)(seed >> (56 - 8 * i));
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, sizeof r->key);
	crypto_generichash_update(&st, in, sizeof in);
	crypto_generichash_update(&st, (const unsigned char *)purpose, strlen(purpose));
	crypto_generichash_final(&st, r->key, sizeof r->key);
	r->block = 0;
	r->pos = sizeof r->buf;
}

static void refill(al_detrand *r)
{
	unsigned char seed[randombytes_SEEDBYTES], in[8];
	for (int i = 0; i < 8; i++)
		in[i] = (unsigned char)(r->block >> (56 - 8 * i));
	r->block++;
	crypto_generichash(seed, sizeof seed, in, sizeof in, r->key, sizeof r->key);
	randombytes_buf_deterministic(r->buf, sizeof r->buf, seed);
	r->pos = 0;
}

void al_detrand_bytes(al_detrand *r, void *out, size_t n)
{
	unsigned char *o = out;
	while (n) {
		if (r->pos == sizeof r->buf)
			refill(r);
		size_t k = sizeof r->buf - r->pos < n ? sizeof r->buf - r->pos : n;
		memcpy(o, r->buf + r->pos, k);
		r->pos += k, o += k, n -= k;
	}
}

uint32_t al_detrand_below(al_detrand *r, uint32_t n)
{
	uint32_t v, limit = UINT32_MAX - UINT32_MAX % n; /* values >= limit would favour the low ones */
	do
		al_detrand_bytes(r, &v, sizeof v);
	while (v >= limit);
	return v % n;
}

double al_detrand_unit(al_detrand *r)
{
	uint64_t v;
	al_detrand_bytes(r, &v, sizeof v);
	return (double)(v >> 11) / (double)(1ull << 53);
}

/* ---- the process's random source ------------------------------------------------------------- */

static al_detrand proc;
static pthread_mutex_t proc_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *proc_name(void) { return "adminlog-deterministic"; }

static void proc_buf(void *const buf, const size_t size)
{
	pthread_mutex_lock(&proc_lock);
	al_detrand_bytes(&proc, buf, size);
	pthread_mutex_unlock(&proc_lock);
}

static uint32_t proc_random(void)
{
	uint32_t v;
	proc_buf(&v, sizeof v);
	return v;
}

static randombytes_implementation impl = {.implementation_name = proc_name, .random = proc_random, .buf = proc_buf};

int al_detrand_install(uint64_t seed)
{
	al_detrand_init(&proc, seed, "process");
	return randombytes_set_implementation(&impl) == 0 ? 0 : -1;
}
