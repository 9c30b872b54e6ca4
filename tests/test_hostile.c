/* test_hostile.c - malformed and hostile requests never crash and never append. */
#include <stdlib.h>
#include <string.h>

#include "util/codec.h"
#include "helpers.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void random_bytes_as_args(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	uint64_t head = al_log_head(s);
	const char *ops[] = {"user.create", "user.update", "user.get", "user.list", "domain.create", "store.init"};
	unsigned char buf[256];
	for (int i = 0; i < 5000; i++) {
		size_t n = next() % sizeof buf;
		for (size_t k = 0; k < n; k++)
			buf[k] = (unsigned char)next();
		if (n && i % 2)
			buf[0] = 0x80 | (buf[0] & 0x0f); /* a fixmap header: gets past the first check */
		al_request req = {ops[i % 6], buf, n, &th_admin};
		al_reply rep;
		int rc = al_exec(s, &req, &rep);
		assert_int_not_equal(rc, AL_EINTERNAL);
		al_reply_free(&rep);
	}
	assert_int_equal(al_log_head(s), head);
	al_store_close(s);
	th_rmrf(dir);
}

/* Containers that declare far more elements than the bytes that follow. */
static void huge_declared_sizes(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	static const unsigned char frames[][8] = {
		{0xdd, 0x7f, 0xff, 0xff, 0xff},       /* array32 of 2^31 - 1 */
		{0xdf, 0xff, 0xff, 0xff, 0xff},       /* map32 of 2^32 - 1 pairs */
		{0x81, 0xa1, 'a', 0xdd, 0x10, 0, 0, 0}, /* nested in a map */
		{0xdb, 0xff, 0xff, 0xff, 0xff},       /* str32 longer than the frame */
	};
	static const size_t lens[] = {5, 5, 8, 5};
	for (int i = 0; i < 4; i++) {
		al_request req = {"user.list", frames[i], lens[i], &th_admin};
		al_reply rep;
		assert_int_equal(al_exec(s, &req, &rep), AL_EINVALID_ARGUMENT);
		al_reply_free(&rep);
	}
	al_store_close(s);
	th_rmrf(dir);
}

static void truncated_args(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	size_t len;
	char *args = th_args(&len, "email", 's', "t@example.com", "username", 's', "t", "password", 's', "Passw0rd!",
			     NULL);
	for (size_t cut = 0; cut < len; cut++) {
		al_request req = {"user.create", args, cut, &th_admin};
		al_reply rep;
		int rc = al_exec(s, &req, &rep);
		/* cut == 0 is "no arguments": required ones are missing. */
		assert_int_equal(rc, AL_EINVALID_ARGUMENT);
		al_reply_free(&rep);
	}
	assert_int_equal(al_log_head(s), th_boot_seq);
	al_request req = {"user.create", args, len, &th_admin};
	al_reply rep;
	assert_int_equal(al_exec(s, &req, &rep), AL_OK);
	al_reply_free(&rep);
	free(args);
	al_store_close(s);
	th_rmrf(dir);
}

static void strange_strings(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	char big[5000];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = 0;
	/* NUL inside a string, invalid UTF-8, control characters, a huge value, no actor. */
	size_t len;
	char *args = th_args(&len, "email", 's', "n@example.com", "username", 's', "x", "password", 's', "Passw0rd!",
			     NULL);
	char *nul = memchr(args, 'x', len);
	*nul = 0;
	al_request req = {"user.create", args, len, &th_admin};
	al_reply rep;
	assert_int_equal(al_exec(s, &req, &rep), AL_EINVALID_ARGUMENT);
	al_reply_free(&rep);
	free(args);
	assert_int_equal(th_run(s, "user.create", "email", 's', "u@example.com", "username", 's', "\xff\xfe", "password",
				's', "Passw0rd!", NULL), AL_EINVALID_ARGUMENT);
	assert_int_equal(th_run(s, "user.create", "email", 's', "u@example.com", "username", 's', "a\tb", "password",
				's', "Passw0rd!", NULL), AL_EINVALID_ARGUMENT);
	assert_int_equal(th_run(s, "user.create", "email", 's', big, "username", 's', "big", "password", 's',
				"Passw0rd!", NULL), AL_EINVALID_ARGUMENT);
	assert_int_equal(th_run(s, "user.get", "email", 's', big, NULL), AL_ENOT_FOUND);
	assert_int_equal(th_run(s, "user.update", "email", 's', "admin@example.com", "request_id", 's', big,
				"full_name", 's', "x", NULL), AL_EINVALID_ARGUMENT);
	al_request anon = {"user.list", NULL, 0, NULL};
	assert_int_equal(al_exec(s, &anon, &rep), AL_EUNAUTHENTICATED);
	al_reply_free(&rep);
	al_request noop = {NULL, NULL, 0, &th_admin};
	assert_int_equal(al_exec(s, &noop, &rep), AL_EINVALID_ARGUMENT);
	al_reply_free(&rep);
	assert_int_equal(al_log_head(s), th_boot_seq);
	al_store_close(s);
	th_rmrf(dir);
}

static void batch_isolates_rejections(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	al_request reqs[4];
	al_reply reps[4];
	size_t len[4];
	char *args[4];
	args[0] = th_args(&len[0], "email", 's', "b1@example.com", "username", 's', "b1", "password", 's', "Passw0rd!", NULL);
	args[1] = th_args(&len[1], "email", 's', "b2@example.com", "username", 's', "b1", "password", 's', "Passw0rd!", NULL);
	args[2] = th_args(&len[2], "email", 's', "b3@example.com", "username", 's', "b3", "password", 's', "weak", NULL);
	args[3] = th_args(&len[3], "email", 's', "b4@example.com", "username", 's', "b4", "password", 's', "Passw0rd!", NULL);
	for (int i = 0; i < 4; i++)
		reqs[i] = (al_request){"user.create", args[i], len[i], &th_admin};
	assert_int_equal(al_exec_batch(s, reqs, reps, 4), AL_OK);
	assert_int_equal(reps[0].err.code, AL_OK);
	assert_int_equal(reps[1].err.code, AL_EALREADY_EXISTS); /* username taken by the first, same batch */
	assert_int_equal(reps[2].err.code, AL_EINVALID_ARGUMENT);
	assert_int_equal(reps[3].err.code, AL_OK);
	assert_int_equal(reps[0].first_seq, th_boot_seq + 1);
	assert_int_equal(reps[0].last_seq, th_boot_seq + 2); /* user.created and keypair.created */
	assert_int_equal(reps[3].first_seq, reps[0].last_seq + 1); /* nothing of the rejected two between */
	assert_int_equal(al_log_head(s), reps[3].last_seq);
	for (int i = 0; i < 4; i++) {
		al_reply_free(&reps[i]);
		free(args[i]);
	}
	al_error err;
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
	al_store_close(s);
	th_rmrf(dir);
}

/* A key given twice is refused, whichever value would have won. */
static void duplicate_keys(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	msgpack_sbuffer b;
	msgpack_packer pk;
	msgpack_sbuffer_init(&b);
	msgpack_packer_init(&pk, &b, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	al_pack_cstr(&pk, "name");
	al_pack_cstr(&pk, "first");
	al_pack_cstr(&pk, "name");
	al_pack_cstr(&pk, "second");
	al_request req = {"domain.create", b.data, b.size, &th_admin};
	al_reply rep;
	assert_int_equal(al_exec(s, &req, &rep), AL_EINVALID_ARGUMENT);
	assert_string_equal(rep.err.msg, "name: given twice");
	assert_int_equal(al_log_head(s), th_boot_seq);
	al_reply_free(&rep);
	msgpack_sbuffer_destroy(&b);
	al_store_close(s);
	th_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_bytes_as_args),
		cmocka_unit_test(huge_declared_sizes),
		cmocka_unit_test(truncated_args),
		cmocka_unit_test(strange_strings),
		cmocka_unit_test(batch_isolates_rejections),
		cmocka_unit_test(duplicate_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
