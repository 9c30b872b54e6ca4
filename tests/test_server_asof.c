/*
 * test_server_asof.c - the protocol's `at` (docs/protocol.md, "Reads from the past"): a read
 * command, a streamed list, an export and the audit listing answer from the state at a seq or
 * a time, with the rights of now; writes, watch, a seq past the head, a time in the future and
 * a malformed at are refused; the checkpoint thread writes checkpoints as the log grows.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server_harness.h"
#include "util/codec.h" /* al_clock_real */

/* A 20-digit entry of DIR/checkpoints: how many there are. */
static int checkpoints(sh_server *p)
{
	char path[4300];
	snprintf(path, sizeof path, "%s/checkpoints", p->data);
	DIR *d = opendir(path);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += strlen(e->d_name) == 20 && strspn(e->d_name, "0123456789") == 20;
	if (d)
		closedir(d);
	return n;
}

static uint64_t newest_checkpoint(sh_server *p)
{
	char path[4300];
	snprintf(path, sizeof path, "%s/checkpoints", p->data);
	DIR *d = opendir(path);
	uint64_t best = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		if (strlen(e->d_name) == 20 && strspn(e->d_name, "0123456789") == 20 && strtoull(e->d_name, NULL, 10) > best)
			best = strtoull(e->d_name, NULL, 10);
	if (d)
		closedir(d);
	return best;
}

static uint64_t head(al_client *c)
{
	al_reply rep;
	assert_int_equal(sh_call(c, &rep, "info", NULL), AL_OK);
	long long h = th_res_int(&rep, "head_seq");
	al_reply_free(&rep);
	assert_true(h > 0);
	return (uint64_t)h;
}

/* The full name of email as the client's at sees it. */
static const char *full_name(al_client *c, const char *email)
{
	static char buf[64];
	al_reply rep;
	int rc = sh_call(c, &rep, "user.get", "email", 's', email, NULL);
	if (rc)
		fail_msg("user.get %s: %s: %s", email, al_err_name(rc), rep.err.msg);
	snprintf(buf, sizeof buf, "%s", th_res_str(&rep, "full_name"));
	al_reply_free(&rep);
	return buf;
}

static int count_rows(const msgpack_object *row, void *ctx)
{
	(void)row;
	(*(int *)ctx)++;
	return 0;
}

static void at_reads_the_past(void **state)
{
	sh_server *p = *state;
	al_client *c = sh_connect_as(p, "admin@example.com");
	assert_non_null(c);
	assert_int_equal(sh_run(c, "settings.set", "key", 's', "checkpoint-interval", "value", 'l', "7", NULL), AL_OK);
	assert_int_equal(sh_run(c, "user.create", "email", 's', "alice@example.com", "username", 's', "alice", "password",
				's', SH_PASSWORD, "full_name", 's', "Alice", NULL),
			 AL_OK);
	uint64_t then = head(c);
	struct timespec pause = {0, 2000000};
	nanosleep(&pause, NULL); /* a time strictly between two events (their times are in µs) */
	char when[40];
	al_time_format(al_clock_real(NULL), when, sizeof when);
	nanosleep(&pause, NULL);
	assert_int_equal(sh_run(c, "user.update", "email", 's', "alice@example.com", "full_name", 's', "Bob", NULL),
			 AL_OK);
	/* The log grows until the checkpoint thread has written two (its log says when): it
	 * writes one whenever the head is 7 events past the newest. */
	double t0 = sh_now_s();
	static uint64_t seqs[100000]; /* the seq of each update: update i sets "even" or "odd" */
	int nup = 0;
	for (; sh_log_count(p, "checkpoint at event") < 2 && sh_now_s() - t0 < 60 && nup < 100000; nup++) {
		al_reply rep;
		assert_int_equal(sh_call(c, &rep, "user.update", "email", 's', "admin@example.com", "description", 's',
					 nup % 2 ? "odd" : "even", NULL),
				 AL_OK);
		seqs[nup] = rep.last_seq;
		al_reply_free(&rep);
	}
	assert_true(sh_log_count(p, "checkpoint at event") >= 2);
	assert_true(checkpoints(p) >= 2);

	assert_string_equal(full_name(c, "alice@example.com"), "Bob");
	char seq[24];
	snprintf(seq, sizeof seq, "%llu", (unsigned long long)then);
	al_client_set_at(c, seq);
	assert_string_equal(full_name(c, "alice@example.com"), "Alice");
	al_client_set_at(c, when);
	assert_string_equal(full_name(c, "alice@example.com"), "Alice");
	/* Streamed, exported, listed in the log: the same past. */
	al_client_set_at(c, seq);
	int rows = 0;
	al_error err = {0};
	assert_int_equal(al_client_stream(c, "user.list", NULL, 0, count_rows, &rows, NULL, &err), AL_OK);
	assert_int_equal(rows, 2); /* the admin and alice */
	FILE *csv = tmpfile();
	assert_int_equal(al_client_export(c, "users", NULL, 0, csv, &err), AL_OK);
	rewind(csv);
	char text[4096];
	size_t n = fread(text, 1, sizeof text - 1, csv);
	text[n] = 0;
	fclose(csv);
	assert_non_null(strstr(text, "Alice"));
	assert_null(strstr(text, "Bob"));
	char *args = th_args(&n, "entity", 's', "user:alice@example.com", NULL);
	rows = 0;
	assert_int_equal(al_client_stream(c, "log", args, n, count_rows, &rows, NULL, &err), AL_OK);
	assert_int_equal(rows, 1); /* created; the update came later */
	free(args);
	/* Not from the past: writes, watch; no such past: after the head, in the future. */
	al_reply rep;
	assert_int_equal(sh_call(c, &rep, "user.update", "email", 's', "alice@example.com", "full_name", 's', "Carol",
				 NULL),
			 AL_EINVALID_ARGUMENT);
	assert_non_null(strstr(rep.err.msg, "at: only read commands"));
	al_reply_free(&rep);
	assert_int_equal(sh_call(c, &rep, "watch", NULL), AL_EINVALID_ARGUMENT);
	al_reply_free(&rep);
	al_client_set_at(c, NULL); /* the head of now, not of the past the client was reading */
	snprintf(seq, sizeof seq, "%llu", (unsigned long long)head(c) + 1000);
	al_client_set_at(c, seq);
	assert_int_equal(sh_call(c, &rep, "user.get", "email", 's', "alice@example.com", NULL), AL_EINVALID_ARGUMENT);
	assert_non_null(strstr(rep.err.msg, "past the log's head"));
	al_reply_free(&rep);
	al_client_set_at(c, "2999-01-01T00:00:00Z");
	assert_int_equal(sh_call(c, &rep, "user.get", "email", 's', "alice@example.com", NULL), AL_EINVALID_ARGUMENT);
	assert_non_null(strstr(rep.err.msg, "in the future"));
	al_reply_free(&rep);
	al_client_set_at(c, "soon");
	assert_int_equal(sh_call(c, &rep, "user.get", "email", 's', "alice@example.com", NULL), AL_EINVALID_ARGUMENT);
	al_reply_free(&rep);
	al_client_set_at(c, NULL);
	assert_string_equal(full_name(c, "alice@example.com"), "Bob"); /* nothing was written */
	/* Just after the newest checkpoint (so as-of starts from it): the description then. */
	uint64_t ck = newest_checkpoint(p);
	/* The thread may have caught the head itself: one more update puts an event after it. */
	for (; ck + 1 > head(c) && nup < 100000; nup++) {
		al_reply rep;
		assert_int_equal(sh_call(c, &rep, "user.update", "email", 's', "admin@example.com", "description", 's',
					 nup % 2 ? "odd" : "even", NULL),
				 AL_OK);
		seqs[nup] = rep.last_seq;
		al_reply_free(&rep);
		ck = newest_checkpoint(p);
	}
	int last = -1;
	for (int i = 0; i < nup; i++)
		if (seqs[i] <= ck + 1)
			last = i;
	assert_true(last >= 0 && ck + 1 <= head(c));
	snprintf(seq, sizeof seq, "%llu", (unsigned long long)ck + 1);
	al_client_set_at(c, seq);
	assert_int_equal(head(c), ck + 1);
	assert_int_equal(sh_call(c, &rep, "user.get", "email", 's', "admin@example.com", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "description"), last % 2 ? "odd" : "even");
	al_reply_free(&rep);
	al_client_set_at(c, NULL);
	/* A malformed at (neither an integer nor a string). */
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str(&pk, 2), msgpack_pack_str_body(&pk, "id", 2), msgpack_pack_uint64(&pk, 77);
	msgpack_pack_str(&pk, 2), msgpack_pack_str_body(&pk, "op", 2);
	msgpack_pack_str(&pk, 4), msgpack_pack_str_body(&pk, "info", 4);
	msgpack_pack_str(&pk, 2), msgpack_pack_str_body(&pk, "at", 2), msgpack_pack_true(&pk);
	assert_int_equal(al_client_send_raw(c, sb.data, sb.size, &err), AL_OK);
	msgpack_sbuffer_destroy(&sb);
	al_msg m;
	assert_int_equal(al_client_recv(c, &m, &err), AL_OK);
	assert_int_equal(m.kind, AL_MSG_ERROR);
	assert_int_equal(m.err.code, AL_EINVALID_ARGUMENT);
	assert_non_null(strstr(m.err.msg, "at: must be"));
	al_client_close(c);
}

/* Rights are the actor's of now, against the present: a user created after the point reads as
 * itself (and finds nothing there); a user may not read another, then or now. */
static void at_rights_of_now(void **state)
{
	sh_server *p = *state;
	al_client *a = sh_connect_as(p, "admin@example.com");
	assert_non_null(a);
	assert_int_equal(sh_run(a, "user.create", "email", 's', "old@example.com", "username", 's', "old", "password", 's',
				SH_PASSWORD, "role", 's', "admin", NULL),
			 AL_OK);
	uint64_t then = head(a);
	assert_int_equal(sh_run(a, "user.create", "email", 's', "new@example.com", "username", 's', "new", "password", 's',
				SH_PASSWORD, NULL),
			 AL_OK);
	al_client *u = sh_connect_as(p, "new@example.com"), *o = sh_connect_as(p, "old@example.com");
	assert_non_null(u);
	assert_non_null(o);
	/* old is demoted now: then it listed the users of its domain, now it may not. */
	assert_int_equal(sh_run(a, "user.update", "email", 's', "old@example.com", "role", 's', "user", NULL), AL_OK);
	char seq[24];
	snprintf(seq, sizeof seq, "%llu", (unsigned long long)then);
	al_client_set_at(u, seq);
	al_client_set_at(o, seq);
	assert_int_equal(sh_run(u, "user.get", "email", 's', "new@example.com", NULL), AL_ENOT_FOUND);
	assert_int_equal(sh_run(u, "user.get", "email", 's', "admin@example.com", NULL), AL_EPERMISSION_DENIED);
	assert_int_equal(sh_run(o, "user.list", NULL), AL_EPERMISSION_DENIED);
	assert_int_equal(sh_run(o, "user.get", "email", 's', "old@example.com", NULL), AL_OK);
	al_client_close(u);
	al_client_close(o);
	al_client_close(a);
}

static int setup(void **state)
{
	int rc = sh_setup(state);
	return rc;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(at_reads_the_past, setup, sh_teardown),
		cmocka_unit_test_setup_teardown(at_rights_of_now, setup, sh_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
