#define _GNU_SOURCE /* memmem */
/* test_seal.c - the master key, sealing of secrets, sealed request-id results, the CSV writer
 * and streamed listings: the shared mechanisms the identity nouns build on. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/csv.h"
#include "helpers.h"
#include "core/seal.h"

static void master_key_file(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	assert_non_null(s);
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, AL_MASTER_KEY_FILE);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 32);
	size_t n;
	char *key = th_read_file(path, &n);
	al_store_close(s);
	/* Reopening keeps the same key: a secret sealed before still opens. */
	al_open_opts oo = {AL_OPEN_QUIET, 0};
	al_error err;
	assert_int_equal(al_store_open(&s, dir, &oo, &err), AL_OK);
	size_t n2;
	char *key2 = th_read_file(path, &n2);
	assert_int_equal(n, n2);
	assert_memory_equal(key, key2, n);
	free(key);
	free(key2);
	al_store_close(s);
	th_rmrf(dir);
}

static void seal_round_trip(void **state)
{
	(void)state;
	char *d1 = th_tmpdir(), *d2 = th_tmpdir();
	al_store *a = th_init(d1, 0), *b = th_init(d2, 0);
	const char secret[] = "wJalrXUtnFEMI_K7MDENG_bPxRfiCYEXAMPLEKEY";
	char sealed[AL_SEALED_LEN(sizeof secret)], sealed2[AL_SEALED_LEN(sizeof secret)];
	al_error err;
	assert_int_equal(al__seal(a, secret, strlen(secret), sealed, sizeof sealed, &err), AL_OK);
	assert_int_equal(strncmp(sealed, AL_SEAL_PREFIX, strlen(AL_SEAL_PREFIX)), 0);
	assert_null(strstr(sealed, "wJalr"));
	/* A fresh nonce each time: the same secret seals differently. */
	assert_int_equal(al__seal(a, secret, strlen(secret), sealed2, sizeof sealed2, &err), AL_OK);
	assert_string_not_equal(sealed, sealed2);
	unsigned char out[128];
	size_t n;
	assert_int_equal(al__unseal(a, (al_str){sealed, strlen(sealed)}, out, sizeof out, &n, &err), AL_OK);
	assert_int_equal(n, strlen(secret));
	assert_memory_equal(out, secret, n);
	/* Another directory's key, a flipped character, a cut, a foreign text: corrupt. */
	assert_int_equal(al__unseal(b, (al_str){sealed, strlen(sealed)}, out, sizeof out, &n, &err), AL_ECORRUPT);
	assert_null(strstr(err.msg, "wJalr"));
	char bad[sizeof sealed];
	memcpy(bad, sealed, sizeof sealed);
	bad[strlen(AL_SEAL_PREFIX) + 10] ^= 1;
	assert_int_equal(al__unseal(a, (al_str){bad, strlen(bad)}, out, sizeof out, &n, &err), AL_ECORRUPT);
	assert_int_equal(al__unseal(a, (al_str){sealed, strlen(sealed) - 4}, out, sizeof out, &n, &err), AL_ECORRUPT);
	assert_int_equal(al__unseal(a, (al_str){"plain", 5}, out, sizeof out, &n, &err), AL_ECORRUPT);
	assert_int_equal(al__unseal(a, (al_str){sealed, strlen(sealed)}, out, 8, &n, &err), AL_ECORRUPT);
	/* Too small an output buffer for sealing is refused, not overrun. */
	assert_int_equal(al__seal(a, secret, strlen(secret), sealed, 20, &err), AL_EINTERNAL);
	al_store_close(a);
	al_store_close(b);
	th_rmrf(d1);
	th_rmrf(d2);
}

/* A read-only open of a directory without master.key cannot seal or open. */
static void no_master_key(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	al_store_close(s);
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, AL_MASTER_KEY_FILE);
	assert_int_equal(unlink(path), 0);
	/* A read-write open refuses it, naming the file, and never makes a new key: every
	 * secret sealed before would silently stop opening. */
	al_open_opts oo = {AL_OPEN_QUIET, 0};
	al_error err;
	assert_int_equal(al_store_open(&s, dir, &oo, &err), AL_ECORRUPT);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "is missing: restore it from a backup"));
	assert_int_equal(access(path, F_OK), -1);
	/* A reader falls back to read-only, and says it has no secrets. */
	oo.flags = AL_OPEN_QUIET | AL_OPEN_READER;
	assert_int_equal(al_store_open(&s, dir, &oo, &err), AL_OK);
	assert_int_equal(al_store_has_secrets(s), 0);
	assert_int_equal(al_log_head(s), th_boot_seq);
	al_store_close(s);
	assert_int_equal(access(path, F_OK), -1);
	oo.flags = AL_OPEN_QUIET | AL_OPEN_RDONLY;
	assert_int_equal(al_store_open(&s, dir, &oo, &err), AL_OK);
	char sealed[AL_SEALED_LEN(4)];
	assert_int_equal(al__seal(s, "abcd", 4, sealed, sizeof sealed, &err), AL_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "master key"));
	al_store_close(s);
	/* A truncated key file is refused on open rather than used. */
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(write(fd, "short", 5) == 5);
	close(fd);
	oo.flags = AL_OPEN_QUIET;
	assert_int_equal(al_store_open(&s, dir, &oo, &err), AL_ECORRUPT);
	th_rmrf(dir);
}

static void csv_writer(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	al_csv w;
	al_csv_init(&w, f);
	al_csv_cfield(&w, "plain");
	al_csv_cfield(&w, "a,b");
	al_csv_cfield(&w, "say \"hi\"");
	al_csv_cfield(&w, "two\nlines");
	al_csv_cfield(&w, "cr\rhere");
	al_csv_cfield(&w, "Zoë 東京");
	al_csv_cfield(&w, "");
	al_csv_end_record(&w);
	msgpack_object t = {.type = MSGPACK_OBJECT_BOOLEAN, .via.boolean = true};
	msgpack_object i = {.type = MSGPACK_OBJECT_NEGATIVE_INTEGER, .via.i64 = -5};
	msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
	msgpack_object items[2] = {{.type = MSGPACK_OBJECT_STR, .via.str = {1, "x"}},
				   {.type = MSGPACK_OBJECT_STR, .via.str = {3, "y,z"}}};
	msgpack_object arr = {.type = MSGPACK_OBJECT_ARRAY, .via.array = {2, items}};
	al_csv_value(&w, &t);
	al_csv_value(&w, &i);
	al_csv_value(&w, &nil);
	al_csv_value(&w, &arr);
	al_csv_end_record(&w);
	assert_int_equal(al_csv_error(&w), 0);
	fclose(f);
	assert_string_equal(buf, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\rhere\",Zoë 東京,\r\n"
				 "true,-5,,\"x;y,z\"\r\n");
	free(buf);
}

/* A result without a secret is kept as it is (the sealed case is in test_keypairs.c). */
static void plain_request_result(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	/* Found through the data file: an unsealed result would show its text in plain. */
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "domain.create", "name", 's', "plainly-visible-domain", "request_id", 's',
				 "r-1", NULL),
			 AL_OK);
	al_reply_free(&rep);
	al_store_close(s);
	char path[4200];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	size_t n;
	char *data = th_read_file(path, &n);
	assert_non_null(memmem(data, n, "plainly-visible-domain", 22));
	free(data);
	th_rmrf(dir);
}

typedef struct rows_seen {
	int n;
	int stop_at;
} rows_seen;

static int count_rows(const msgpack_object *row, void *ctx)
{
	rows_seen *r = ctx;
	assert_int_equal(row->type, MSGPACK_OBJECT_MAP);
	return ++r->n == r->stop_at ? 1 : 0;
}

static void stream_listing(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	for (int i = 0; i < 5; i++) {
		char name[16];
		snprintf(name, sizeof name, "d%d", i);
		assert_int_equal(th_run(s, "domain.create", "name", 's', name, NULL), AL_OK);
	}
	al_request req = {"domain.list", NULL, 0, &th_admin};
	rows_seen r = {0, 0};
	al_error err;
	assert_int_equal(al_exec_stream(s, &req, count_rows, &r, &err), AL_OK);
	assert_int_equal(r.n, 6); /* default + 5 */
	r = (rows_seen){0, 3};    /* the receiver stops early */
	assert_int_not_equal(al_exec_stream(s, &req, count_rows, &r, &err), AL_OK);
	assert_int_equal(r.n, 3);
	/* Writes do not stream; unknown ops and bad arguments fail like al_exec. */
	al_request w = {"domain.create", NULL, 0, &th_admin};
	assert_int_equal(al_exec_stream(s, &w, count_rows, &r, &err), AL_EINVALID_ARGUMENT);
	al_request u = {"no.such", NULL, 0, &th_admin};
	assert_int_equal(al_exec_stream(s, &u, count_rows, &r, &err), AL_EINVALID_ARGUMENT);
	al_store_close(s);
	th_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(master_key_file), cmocka_unit_test(seal_round_trip),
		cmocka_unit_test(no_master_key),   cmocka_unit_test(csv_writer),
		cmocka_unit_test(plain_request_result), cmocka_unit_test(stream_listing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
