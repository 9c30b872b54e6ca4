/* secret.c - argon2id password hashes, UUIDs, generated passwords (libsodium). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/secret.h"
#include "core/validate.h"

const char *const al__pwhash_costs[] = {"min", "interactive", "moderate", NULL};

static int cost_params(const char *cost, unsigned long long *ops, size_t *mem)
{
	if (strcmp(cost, "min") == 0) {
		*ops = crypto_pwhash_argon2id_OPSLIMIT_MIN;
		*mem = crypto_pwhash_argon2id_MEMLIMIT_MIN;
	} else if (strcmp(cost, "interactive") == 0) {
		*ops = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
		*mem = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
	} else if (strcmp(cost, "moderate") == 0) {
		*ops = crypto_pwhash_argon2id_OPSLIMIT_MODERATE;
		*mem = crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
	} else
		return -1;
	return 0;
}

int al_pwhash_local(const char *cost, const char *pw, size_t n, char *out, size_t out_len, void *ctx)
{
	(void)ctx;
	unsigned long long ops;
	size_t mem;
	if (out_len < crypto_pwhash_argon2id_STRBYTES || cost_params(cost, &ops, &mem))
		return -1;
	return crypto_pwhash_argon2id_str(out, pw, n, ops, mem) == 0 ? 0 : -2;
}

int al_pwhash_verify_local(const char *hash, const char *pw, size_t n, void *ctx)
{
	(void)ctx;
	return crypto_pwhash_argon2id_str_verify(hash, pw, n) == 0;
}

/* Set once before the threads that hash start (al_set_pwhash_ops), read by them after. */
static al_pwhash_ops pwhash_ops = {al_pwhash_local, al_pwhash_verify_local, NULL};

void al_set_pwhash_ops(const al_pwhash_ops *ops)
{
	static const al_pwhash_ops local = {al_pwhash_local, al_pwhash_verify_local, NULL};
	pwhash_ops = ops && ops->hash && ops->verify ? *ops : local;
}

int al__pwhash(const char *cost, al_str password, char out[AL_PWHASH_LEN], al_error *err)
{
	if (sodium_init() < 0)
		return al_err(err, AL_EINTERNAL, "libsodium failed to initialise");
	int rc = pwhash_ops.hash(cost, password.p, password.n, out, AL_PWHASH_LEN, pwhash_ops.ctx);
	if (rc == -1)
		return al_err(err, AL_EINVALID_ARGUMENT, "pwhash: unknown cost '%.32s'", cost);
	if (rc != 0)
		return al_err(err, AL_ENO_MEMORY, "password hashing ran out of memory");
	return AL_OK;
}

int al__pwhash_verify(const char *hash, al_str password)
{
	return pwhash_ops.verify(hash, password.p, password.n, pwhash_ops.ctx) == 1;
}

void al__uuid4(char out[37])
{
	unsigned char b[16];
	randombytes_buf(b, sizeof b);
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

void al__uuid7(char out[37], int64_t us)
{
	unsigned char b[16];
	uint64_t ms = us > 0 ? (uint64_t)us / 1000 : 0;
	randombytes_buf(b, sizeof b);
	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	b[6] = (b[6] & 0x0f) | 0x70;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

void al__random_password(char *out, size_t n)
{
	static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!#%+-=?@_";
	do {
		for (size_t i = 0; i + 1 < n; i++)
			out[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
		out[n - 1] = 0;
	} while (al__check_password(NULL, "password", (al_str){out, n - 1}) != AL_OK);
}
