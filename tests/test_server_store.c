/*
 * test_server_store.c - adminlogd and the direct-mode tools on one data directory. While the
 * server runs it is the only writer (DIR/adminlogd.lock): a direct-mode write is refused with
 * a message naming the server, reads still run beside it (read-only), the server does not
 * start under a direct-mode writer, and nothing the tools do can crash it (another process
 * growing the map under the server's readers was SIGSEGV).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server_harness.h"

static const char *bin(void)
{
	const char *b = getenv("BIN");
	return b && *b ? b : "bin";
}

static int setup(void **state)
{
	sh_server *p = calloc(1, sizeof *p);
	sh_prepare(p, NULL);
	*state = p;
	return 0;
}

/* adminctl --data DIR user create EMAIL: its exit status, its stderr in p->dir/err. */
static int direct_create(sh_server *p, const char *email)
{
	return sh_system("printf '%%s\\n' '%s' | '%s/adminctl' --data '%s' user create --email '%s' --username '%.*s' "
			 "--password-stdin >/dev/null 2>'%s/err'",
			 SH_PASSWORD, bin(), p->data, email, (int)strcspn(email, "@"), email, p->dir);
}

static char *err_text(sh_server *p)
{
	char path[4300];
	snprintf(path, sizeof path, "%s/err", p->dir);
	size_t n;
	char *t = th_read_file(path, &n);
	assert_non_null(t);
	return t;
}

static void direct_write_refused_while_served(void **state)
{
	sh_server *p = *state;
	assert_int_equal(sh_start(p, NULL), 0);
	assert_int_equal(direct_create(p, "direct@example.com"), 1);
	char *msg = err_text(p), want[9000];
	snprintf(want, sizeof want,
		 "adminctl: in_use: %s is served by adminlogd (pid %d): direct-mode writes are refused while it "
		 "runs; use adminctl --socket %s\n",
		 p->data, (int)p->pid, p->sock + 5);
	assert_string_equal(msg, want);
	free(msg);
	/* The server is alive and serving, and the refused write left nothing. */
	assert_int_equal(kill(p->pid, 0), 0);
	al_client *c = sh_connect_as(p, "admin@example.com");
	assert_non_null(c);
	al_reply rep;
	assert_int_equal(sh_call(c, &rep, "user.get", "email", 's', "direct@example.com", NULL), AL_ENOT_FOUND);
	al_reply_free(&rep);
	assert_int_equal(sh_call(c, &rep, "user.create", "email", 's', "remote@example.com", "username", 's', "remote",
				 "password", 's', SH_PASSWORD, NULL),
			 AL_OK);
	al_reply_free(&rep);
	al_client_close(c);
	/* Reads run beside it (read-only), silently. */
	const char *b = bin(), *d = p->data, *e = p->dir;
	assert_int_equal(sh_system("'%s/adminlog' stats '%s' >/dev/null 2>'%s/err' && ! test -s '%s/err'", b, d, e, e), 0);
	assert_int_equal(sh_system("'%s/adminlog' log '%s' --type user.created | grep -q remote@example.com", b, d), 0);
	assert_int_equal(sh_system("'%s/adminlog' verify '%s' >/dev/null", b, d), 0);
	assert_int_equal(sh_system("'%s/adminctl' --data '%s' user get remote@example.com | grep -q remote", b, d), 0);
	/* Every other writer is refused too. */
	assert_int_equal(sh_system("'%s/adminlog' rebuild '%s' 2>&1 | grep -q 'in_use: .* served by adminlogd'", b, d), 0);
	assert_int_equal(sh_system("'%s/adminlog' rebuild '%s' >/dev/null 2>&1", b, d), 1);
	assert_int_equal(sh_stop(p, SIGTERM), 0);
	/* Once it has stopped, direct mode writes again. */
	assert_int_equal(direct_create(p, "direct@example.com"), 0);
}

static void server_does_not_start_under_a_direct_writer(void **state)
{
	sh_server *p = *state;
	al_store *s;
	al_error err = {0};
	al_open_opts oo = {AL_OPEN_QUIET, 0};
	assert_int_equal(al_store_open(&s, p->data, &oo, &err), AL_OK);
	assert_int_not_equal(sh_start(p, NULL), 0);
	assert_int_equal(sh_log_count(p, "is open read-write by another process (adminctl --data or adminlog)"), 1);
	al_store_close(s);
	assert_int_equal(sh_start(p, NULL), 0);
	/* Now the library refuses a read-write open; a read-only one goes on. */
	assert_int_equal(al_store_open(&s, p->data, &oo, &err), AL_EIN_USE);
	char want[64];
	snprintf(want, sizeof want, "served by adminlogd (pid %d)", (int)p->pid);
	assert_non_null(strstr(err.msg, want));
	oo.flags = AL_OPEN_QUIET | AL_OPEN_RDONLY;
	assert_int_equal(al_store_open(&s, p->data, &oo, &err), AL_OK);
	assert_int_equal(al_log_head(s), p->boot);
	al_store_close(s);
}

/* ---- the crash: direct-mode tools beside a server that streams and writes ---------------------- */

typedef struct busy {
	sh_server *p;
	atomic_int stop;
	int rounds, failures;
	bool writes;
} busy;

static int skip_row(const msgpack_object *row, void *ctx)
{
	(void)row;
	(void)ctx;
	return 0;
}

/* Streams the whole log and lists users (the reads of the crash), or writes through the
 * server, until told to stop. */
static void *busy_main(void *arg)
{
	busy *b = arg;
	al_client *c = sh_connect_as(b->p, "admin@example.com");
	if (c == NULL) {
		b->failures++;
		return NULL;
	}
	/* At most 100 writes (the map is 1 MiB, a full one refuses them), and 1500 rounds of
	 * reads: the keypair's rate limit is 10000 requests per window. */
	while (!atomic_load(&b->stop) && b->rounds < (b->writes ? 100 : 1500)) {
		al_error err = {0};
		al_reply rep;
		uint64_t count;
		char name[64];
		snprintf(name, sizeof name, "busy-%d", b->rounds);
		int rc = b->writes ? sh_call(c, &rep, "domain.create", "name", 's', name, NULL)
				   : al_client_stream(c, "log", NULL, 0, skip_row, NULL, &count, &err);
		if (b->writes)
			al_reply_free(&rep);
		if (rc == AL_OK && !b->writes) {
			rc = sh_call(c, &rep, "user.list", NULL);
			al_reply_free(&rep);
		}
		b->failures += rc != AL_OK;
		b->rounds++;
	}
	al_client_close(c);
	return NULL;
}

static void no_crash_with_direct_tools_beside(void **state)
{
	sh_server *p = *state;
	/* A small map, as in the report: a direct-mode writer grew the file past it. */
	assert_int_equal(sh_start(p, "--map-size", "1048576", NULL), 0);
	busy bs[3] = {{.p = p}, {.p = p}, {.p = p, .writes = true}};
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, busy_main, &bs[i]), 0);
	int refused = 0, verified = 0;
	for (int i = 0; i < 40; i++) {
		char email[64];
		snprintf(email, sizeof email, "direct%02d@example.com", i);
		refused += direct_create(p, email) == 1;
		if (i % 10 == 0) /* a read-only verify sees one snapshot while the server writes */
			verified += sh_system("'%s/adminlog' verify '%s' >/dev/null", bin(), p->data) == 0;
	}
	for (int i = 0; i < 3; i++) {
		atomic_store(&bs[i].stop, 1);
		pthread_join(t[i], NULL);
	}
	print_message("# 40 direct writes refused: %d; verify ok: %d of 4; rounds %d/%d/%d\n", refused, verified,
		      bs[0].rounds, bs[1].rounds, bs[2].rounds);
	assert_int_equal(refused, 40);
	assert_int_equal(verified, 4);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(bs[i].failures, 0);
		assert_true(bs[i].rounds > 0);
	}
	assert_int_equal(kill(p->pid, 0), 0);
	assert_int_equal(sh_stop(p, SIGTERM), 0);
	assert_int_equal(sh_system("'%s/adminlog' verify '%s' >/dev/null", bin(), p->data), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(direct_write_refused_while_served, setup, sh_teardown),
		cmocka_unit_test_setup_teardown(server_does_not_start_under_a_direct_writer, setup, sh_teardown),
		cmocka_unit_test_setup_teardown(no_crash_with_direct_tools_beside, setup, sh_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
