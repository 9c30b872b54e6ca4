/*
 * test_store_log.c - the library does not print: a view catching up or rebuilt on open tells
 * al_open_opts.log, at AL_LOG_INFO or AL_LOG_WARN; without a log function (or with
 * AL_OPEN_QUIET) nothing reaches the callback or stderr, and the views still catch up.
 */
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "core/projection.h"
#include "core/record.h"

/* What a log function received. */
typedef struct heard {
	int n;
	int level[8];
	char msg[8][256];
} heard;

static void listen_fn(void *ctx, int level, const char *msg)
{
	heard *h = ctx;
	if (h->n < 8) {
		h->level[h->n] = level;
		snprintf(h->msg[h->n], sizeof h->msg[h->n], "%s", msg);
	}
	h->n++;
}

/* A store whose last event (a user's new name) is one the users view may fold again. */
static char *make_store(uint64_t *head, char good[33])
{
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	assert_non_null(s);
	assert_int_equal(th_run(s, "user.create", "email", 's', "lg@example.com", "username", 's', "lg", "password",
				's', "Passw0rd!", NULL), AL_OK);
	assert_int_equal(th_run(s, "user.update", "email", 's', "lg@example.com", "full_name", 's', "Log Test", NULL),
			 AL_OK);
	/* Last, an event the users view does not read: the tests below fake a users cursor one
	 * event behind views that hold every event, and folding this one again changes nothing
	 * (a user's row counts its events, so folding a user event twice would). */
	assert_int_equal(th_run(s, "settings.set", "key", 's', "overlay-mtu", "value", 'l', "1400", NULL), AL_OK);
	*head = al_log_head(s);
	th_digest(s, good);
	al_store_close(s);
	return dir;
}

/* Rewrites meta "proj/users" of a closed store: version(4) cursor(8). */
static void set_users_meta(const char *dir, unsigned ver, uint64_t cursor)
{
	th_raw r;
	th_raw_open(&r, dir, 0);
	MDB_dbi meta = th_raw_db(&r, "meta", 0);
	unsigned char v[12];
	al__be32(v, ver);
	al__be64(v + 4, cursor);
	MDB_val k = {10, "proj/users"}, val = {sizeof v, v};
	assert_int_equal(mdb_put(r.txn, meta, &k, &val, 0), 0);
	th_raw_close(&r, true);
}

/* Opens dir with opts, checks the views are whole again (digest), and closes it. */
static void open_check(const char *dir, const al_open_opts *o, const char *good)
{
	al_store *s = NULL;
	al_error err = {0};
	int rc = al_store_open(&s, dir, o, &err);
	if (rc != AL_OK)
		print_error("open %s: %s\n", dir, err.msg);
	assert_int_equal(rc, AL_OK);
	char now[33];
	th_digest(s, now);
	assert_string_equal(now, good);
	al_store_close(s);
}

static void catch_up_and_rebuild_reach_the_callback(void **state)
{
	(void)state;
	uint64_t head;
	char good[33], want[256];
	char *dir = make_store(&head, good);
	unsigned code = al__proj_users.version;

	set_users_meta(dir, code, head - 1);
	heard h = {0};
	al_open_opts o = {0, 0, NULL, listen_fn, &h};
	open_check(dir, &o, good);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.level[0], AL_LOG_INFO);
	snprintf(want, sizeof want, "view users is at event %llu of %llu: catching up", (unsigned long long)(head - 1),
		 (unsigned long long)head);
	assert_string_equal(h.msg[0], want);

	set_users_meta(dir, code + 41, head);
	h = (heard){0};
	open_check(dir, &o, good);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.level[0], AL_LOG_WARN);
	snprintf(want, sizeof want, "view users is version %u, code is %u: rebuilding from %llu events", code + 41,
		 code, (unsigned long long)head);
	assert_string_equal(h.msg[0], want);

	/* Nothing to do: nothing said. */
	h = (heard){0};
	open_check(dir, &o, good);
	assert_int_equal(h.n, 0);
	th_rmrf(dir);
}

/* Runs open_check with stderr sent to a file; returns how many bytes reached it. */
static long stderr_bytes_of_open(const char *dir, const al_open_opts *o, const char *good)
{
	char path[] = "/tmp/al_store_log_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	open_check(dir, o, good);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	long n = (long)lseek(fd, 0, SEEK_END);
	close(fd);
	unlink(path);
	return n;
}

static void silent_without_callback_or_when_quiet(void **state)
{
	(void)state;
	uint64_t head;
	char good[33];
	char *dir = make_store(&head, good);
	unsigned code = al__proj_users.version;

	set_users_meta(dir, code, head - 1);
	al_open_opts none = {0, 0};
	assert_int_equal(stderr_bytes_of_open(dir, &none, good), 0);
	set_users_meta(dir, code + 41, head);
	assert_int_equal(stderr_bytes_of_open(dir, &none, good), 0);

	heard h = {0};
	al_open_opts quiet = {AL_OPEN_QUIET, 0, NULL, listen_fn, &h};
	set_users_meta(dir, code, head - 1);
	assert_int_equal(stderr_bytes_of_open(dir, &quiet, good), 0);
	set_users_meta(dir, code + 41, head);
	assert_int_equal(stderr_bytes_of_open(dir, &quiet, good), 0);
	assert_int_equal(h.n, 0);
	th_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(catch_up_and_rebuild_reach_the_callback),
		cmocka_unit_test(silent_without_callback_or_when_quiet),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
