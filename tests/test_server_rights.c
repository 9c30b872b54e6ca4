/*
 * test_server_rights.c - rights are those of the moment, not of the login: against a real
 * adminlogd, a connection's next request after a demotion, a move to another domain, a
 * promotion or a deactivation (of the user or of its keypair) is judged on the new state, and
 * a running watch, streamed list, audit listing or export whose owner loses the right ends
 * with permission_denied or unauthenticated within a second (through the server, or written
 * by another process on the same data directory).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/codec.h"
#include "server_harness.h"

#define POLICIES 20000 /* several MiB of rows: a stream that cannot finish while nobody reads */

/* The data directory gets POLICIES keypair resource policies before the server starts. */
static int setup_big(void **state)
{
	sh_server *p = calloc(1, sizeof *p);
	sh_prepare(p, NULL);
	*state = p;
	al_store *s;
	al_error err = {0};
	al_open_opts oo = {AL_OPEN_QUIET, 0};
	if (al_store_open(&s, p->data, &oo, &err) != AL_OK)
		return -1;
	enum { B = 1000 };
	al_request *reqs = calloc(B, sizeof *reqs);
	al_reply *reps = calloc(B, sizeof *reps);
	char **args = calloc(B, sizeof *args);
	for (int i = 0; i < POLICIES; i += B) {
		for (int k = 0; k < B; k++) {
			char name[32];
			size_t len;
			snprintf(name, sizeof name, "policy-%05d", i + k);
			args[k] = th_args(&len, "name", 's', name, "cpu", 'i', 8LL, "ram_gb", 'i', 64LL, NULL);
			reqs[k] = (al_request){"policy.create", args[k], len, &th_admin};
		}
		al_exec_batch(s, reqs, reps, B);
		for (int k = 0; k < B; k++) {
			if (reps[k].err.code)
				fprintf(stderr, "# policy.create: %s\n", reps[k].err.msg);
			al_reply_free(&reps[k]);
			free(args[k]);
		}
	}
	free(reqs);
	free(reps);
	free(args);
	al_store_close(s);
	return sh_start(p, NULL);
}

#define OK(call) assert_int_equal((call), AL_OK)

static void create_user(al_client *admin, const char *email, const char *domain, const char *role)
{
	char name[64];
	snprintf(name, sizeof name, "%.*s", (int)strcspn(email, "@"), email);
	OK(sh_run(admin, "user.create", "email", 's', email, "username", 's', name, "password", 's', SH_PASSWORD, "domain",
	       's', domain, "role", 's', role, NULL));
}

/* The role whoami reports for c (static buffer). */
static const char *role_of(al_client *c)
{
	static char role[32];
	al_reply r;
	OK(sh_call(c, &r, "whoami", NULL));
	snprintf(role, sizeof role, "%s", th_res_str(&r, "role"));
	al_reply_free(&r);
	return role;
}

static int count_rows(const msgpack_object *row, void *ctx)
{
	(void)row;
	++*(int *)ctx;
	return 0;
}

/* How many events the log holds about entity ("user:a@b.c"), asked as the superadmin. */
static int events_about(sh_server *p, const char *entity)
{
	al_client *c = sh_connect_as(p, "admin@example.com");
	assert_non_null(c);
	size_t len;
	char *args = th_args(&len, "entity", 's', entity, NULL);
	int n = 0;
	uint64_t count;
	al_error err;
	OK(al_client_stream(c, "log", args, len, count_rows, &n, &count, &err));
	free(args);
	al_client_close(c);
	return n;
}

/* ---- the connection's next request ---------------------------------------------------------------- */

static void demoted_superadmin(void **state)
{
	sh_server *p = *state;
	al_client *admin = sh_connect_as(p, "admin@example.com");
	create_user(admin, "boss@example.com", "default", "superadmin");
	al_client *b = sh_connect_as(p, "boss@example.com");
	assert_non_null(b);
	assert_string_equal(role_of(b), "superadmin");
	OK(sh_run(b, "user.create", "email", 's', "first@example.com", "username", 's', "first", "password", 's',
	       SH_PASSWORD, "role", 's', "superadmin", NULL));
	/* demoted while its connection stays open: the very next request has the new rights */
	OK(sh_run(admin, "user.update", "email", 's', "boss@example.com", "role", 's', "user", NULL));
	assert_int_equal(sh_run(b, "user.create", "email", 's', "evil@example.com", "username", 's', "evil", "password", 's',
			     SH_PASSWORD, "role", 's', "superadmin", NULL),
			 AL_EPERMISSION_DENIED);
	assert_int_equal(sh_run(b, "user.update", "email", 's', "first@example.com", "role", 's', "user", NULL),
			 AL_EPERMISSION_DENIED);
	assert_int_equal(sh_run(b, "user.list", NULL), AL_EPERMISSION_DENIED);
	assert_string_equal(role_of(b), "user"); /* whoami shows it too */
	/* and nothing of it reached the log */
	assert_int_equal(events_about(p, "user:evil@example.com"), 0);
	assert_int_equal(events_about(p, "user:first@example.com"), 1);
	/* the server's own superadmin operations as well */
	assert_int_equal(sh_run(b, "log", NULL), AL_EPERMISSION_DENIED);
	assert_int_equal(sh_run(b, "watch", NULL), AL_EPERMISSION_DENIED);
	assert_true(sh_log_count(p, " boss@example.com user.create permission_denied ") == 1);
	al_client_close(b);
	al_client_close(admin);
}

static void promoted_user(void **state)
{
	sh_server *p = *state;
	al_client *admin = sh_connect_as(p, "admin@example.com");
	create_user(admin, "up@example.com", "default", "user");
	al_client *u = sh_connect_as(p, "up@example.com");
	assert_non_null(u);
	assert_int_equal(sh_run(u, "user.list", NULL), AL_EPERMISSION_DENIED);
	assert_int_equal(sh_run(u, "domain.create", "name", 's', "by-up", NULL), AL_EPERMISSION_DENIED);
	OK(sh_run(admin, "user.update", "email", 's', "up@example.com", "role", 's', "superadmin", NULL));
	/* the new rights at once, without logging in again */
	OK(sh_run(u, "user.list", NULL));
	OK(sh_run(u, "domain.create", "name", 's', "by-up", NULL));
	assert_string_equal(role_of(u), "superadmin");
	al_client_close(u);
	al_client_close(admin);
}

static void domain_admin_moved(void **state)
{
	sh_server *p = *state;
	al_client *admin = sh_connect_as(p, "admin@example.com");
	OK(sh_run(admin, "domain.create", "name", 's', "dom-a", NULL));
	OK(sh_run(admin, "domain.create", "name", 's', "dom-b", NULL));
	create_user(admin, "lead@example.com", "dom-a", "admin");
	create_user(admin, "ua@example.com", "dom-a", "user");
	create_user(admin, "ub@example.com", "dom-b", "user");
	al_client *da = sh_connect_as(p, "lead@example.com");
	assert_non_null(da);
	OK(sh_run(da, "project.create", "name", 's', "pa1", "domain", 's', "dom-a", NULL));
	assert_int_equal(sh_run(da, "project.create", "name", 's', "pb1", "domain", 's', "dom-b", NULL), AL_EPERMISSION_DENIED);
	OK(sh_run(da, "user.get", "email", 's', "ua@example.com", NULL));
	OK(sh_run(admin, "user.update", "email", 's', "lead@example.com", "domain", 's', "dom-b", NULL));
	/* the old domain is no longer its to manage (or to read); the new one is */
	assert_int_equal(sh_run(da, "project.create", "name", 's', "pa2", "domain", 's', "dom-a", NULL), AL_EPERMISSION_DENIED);
	assert_int_equal(sh_run(da, "project.add-member", "name", 's', "pa1", "domain", 's', "dom-a", "users", 'l',
			     "ua@example.com", NULL),
			 AL_EPERMISSION_DENIED);
	assert_int_equal(sh_run(da, "user.get", "email", 's', "ua@example.com", NULL), AL_EPERMISSION_DENIED);
	OK(sh_run(da, "project.create", "name", 's', "pb2", "domain", 's', "dom-b", NULL));
	OK(sh_run(da, "project.add-member", "name", 's', "pb2", "domain", 's', "dom-b", "users", 'l', "ub@example.com", NULL));
	al_reply r;
	OK(sh_call(da, &r, "whoami", NULL));
	assert_string_equal(th_res_str(&r, "domain"), "dom-b");
	al_reply_free(&r);
	OK(sh_call(da, &r, "user.list", NULL));
	assert_string_equal(th_res_column(&r, "email"), "lead@example.com,ub@example.com,");
	al_reply_free(&r);
	assert_int_equal(sh_run(admin, "project.get", "name", 's', "pa2", "domain", 's', "dom-a", NULL), AL_ENOT_FOUND);
	al_client_close(da);
	al_client_close(admin);
}

static void deactivated(void **state)
{
	sh_server *p = *state;
	al_client *admin = sh_connect_as(p, "admin@example.com");
	create_user(admin, "gone@example.com", "default", "user");
	create_user(admin, "kp@example.com", "default", "user");
	/* the user deactivated: its next request, not one a second later */
	al_client *g = sh_connect_as(p, "gone@example.com");
	assert_non_null(g);
	OK(sh_run(g, "whoami", NULL));
	OK(sh_run(admin, "user.deactivate", "email", 's', "gone@example.com", NULL));
	assert_int_equal(sh_run(g, "user.get", "email", 's', "gone@example.com", NULL), AL_EUNAUTHENTICATED);
	assert_int_equal(sh_run(g, "whoami", NULL), AL_EUNAUTHENTICATED); /* logged out */
	/* only its keypair deactivated */
	al_client *k = sh_connect_as(p, "kp@example.com");
	assert_non_null(k);
	al_reply r;
	OK(sh_call(k, &r, "whoami", NULL));
	char ak[32];
	snprintf(ak, sizeof ak, "%s", th_res_str(&r, "access_key"));
	al_reply_free(&r);
	OK(sh_run(admin, "keypair.deactivate", "access_key", 's', ak, NULL));
	assert_int_equal(sh_run(k, "user.update", "email", 's', "kp@example.com", "full_name", 's', "K", NULL),
			 AL_EUNAUTHENTICATED);
	assert_int_equal(sh_run(k, "whoami", NULL), AL_EUNAUTHENTICATED);
	al_client_close(k);
	al_client_close(g);
	al_client_close(admin);
}

/* The library's own check: al_actor_refresh and al_exec judge an actor on the views of now. */
static void library_refresh(void **state)
{
	sh_server *p = *state;
	assert_int_equal(sh_stop(p, SIGTERM), 0);
	al_store *s;
	al_error err = {0};
	al_open_opts oo = {AL_OPEN_QUIET, 0};
	OK(al_store_open(&s, p->data, &oo, &err));
	OK(th_user(s, "lib@example.com", "default", "superadmin"));
	th_actor a;
	OK(th_as(s, "lib@example.com", &a));
	OK(th_run(s, "user.update", "email", 's', "lib@example.com", "role", 's', "monitor", NULL));
	/* the stale copy says superadmin; the store says monitor */
	assert_int_equal(a.a.role, AL_ROLE_SUPERADMIN);
	assert_int_equal(th_run_as(s, &a.a, "domain.create", "name", 's', "lib-dom", NULL), AL_EPERMISSION_DENIED);
	al_actor now;
	char buf[1024];
	OK(al_actor_refresh(s, &a.a, &now, buf, sizeof buf, &err));
	assert_int_equal(now.role, AL_ROLE_MONITOR);
	assert_string_equal(now.user, "lib@example.com");
	assert_string_equal(now.domain, "default");
	/* promoted back: the stale "monitor" copy may write again */
	OK(th_run(s, "user.update", "email", 's', "lib@example.com", "role", 's', "superadmin", NULL));
	OK(th_run_as(s, &now, "domain.create", "name", 's', "lib-dom", NULL));
	OK(th_run(s, "user.deactivate", "email", 's', "lib@example.com", NULL));
	assert_int_equal(al_actor_refresh(s, &a.a, &now, buf, sizeof buf, &err), AL_EUNAUTHENTICATED);
	assert_int_equal(th_run_as(s, &a.a, "user.get", "email", 's', "lib@example.com", NULL), AL_EUNAUTHENTICATED);
	/* a local operator is copied as it is */
	OK(al_actor_refresh(s, &th_admin, &now, buf, sizeof buf, &err));
	assert_string_equal(now.name, th_admin.name);
	assert_int_equal(now.role, AL_ROLE_SUPERADMIN);
	al_store_close(s);
}

/* ---- running feeds ---------------------------------------------------------------------------------- */

/* Reads c until the frame that ends request id (an error or done) and returns its code (AL_OK
 * for done); rows before it are skipped. *took gets the seconds it took. */
static int feed_end(al_client *c, uint64_t id, double *took)
{
	double t0 = sh_now_s();
	for (;;) {
		al_msg m;
		al_error err = {0};
		int rc = al_client_recv(c, &m, &err);
		if (rc) {
			print_error("recv: %s\n", err.msg);
			return rc;
		}
		if (!m.has_id || m.id != id || m.kind == AL_MSG_ROW || m.kind == AL_MSG_CSV)
			continue;
		*took = sh_now_s() - t0;
		if (m.kind == AL_MSG_ERROR)
			print_message("# feed %llu ended after %.3f s: %s: %s\n", (unsigned long long)id, *took,
				      al_err_name(m.err.code), m.err.msg);
		return m.kind == AL_MSG_ERROR ? m.err.code : AL_OK;
	}
}

/* A superadmin's live watch, with one event received so that it surely runs. */
static al_client *watching(sh_server *p, al_client *admin, const char *email, uint64_t id)
{
	al_client *w = sh_connect_as(p, email);
	assert_non_null(w);
	al_error err;
	OK(al_client_send(w, id, "watch", NULL, 0, false, &err));
	char name[64];
	snprintf(name, sizeof name, "seen-by-%.*s", (int)strcspn(email, "@"), email);
	OK(sh_run(admin, "domain.create", "name", 's', name, NULL));
	al_msg m;
	OK(al_client_recv(w, &m, &err));
	assert_int_equal(m.kind, AL_MSG_ROW);
	return w;
}

static void watch_ends(void **state)
{
	sh_server *p = *state;
	al_client *admin = sh_connect_as(p, "admin@example.com");
	const char *who[] = {"w-demoted@example.com", "w-gone@example.com", "w-key@example.com", "w-moved@example.com"};
	for (int i = 0; i < 4; i++)
		create_user(admin, who[i], "default", "superadmin");
	double took;
	/* demoted to user: permission_denied within a second */
	al_client *w = watching(p, admin, who[0], 7);
	OK(sh_run(admin, "user.update", "email", 's', who[0], "role", 's', "user", NULL));
	assert_int_equal(feed_end(w, 7, &took), AL_EPERMISSION_DENIED);
	assert_true(took < 1.0);
	assert_int_equal(sh_run(w, "watch", NULL), AL_EPERMISSION_DENIED); /* and may not start another */
	al_client_close(w);
	/* the user deactivated: unauthenticated */
	w = watching(p, admin, who[1], 8);
	OK(sh_run(admin, "user.deactivate", "email", 's', who[1], NULL));
	assert_int_equal(feed_end(w, 8, &took), AL_EUNAUTHENTICATED);
	assert_true(took < 1.0);
	al_client_close(w);
	/* only its keypair deactivated: unauthenticated */
	w = watching(p, admin, who[2], 9);
	al_reply r;
	OK(sh_call(w, &r, "whoami", NULL));
	char ak[32];
	snprintf(ak, sizeof ak, "%s", th_res_str(&r, "access_key"));
	al_reply_free(&r);
	OK(sh_run(admin, "keypair.deactivate", "access_key", 's', ak, NULL));
	assert_int_equal(feed_end(w, 9, &took), AL_EUNAUTHENTICATED);
	assert_true(took < 1.0);
	al_client_close(w);
	/* demoted to a domain admin (watch is superadmin only): permission_denied within a second.
	 * (Another process cannot demote it: direct-mode writes are refused while adminlogd runs,
	 * see test_server_store.) */
	w = watching(p, admin, who[3], 10);
	OK(sh_run(admin, "user.update", "email", 's', who[3], "role", 's', "admin", NULL));
	assert_int_equal(feed_end(w, 10, &took), AL_EPERMISSION_DENIED);
	assert_true(took < 1.0);
	al_client_close(w);
	/* a change that takes no right away ends nothing: the event comes as a row */
	w = watching(p, admin, "admin@example.com", 11);
	OK(sh_run(admin, "user.update", "email", 's', "admin@example.com", "full_name", 's', "Still Root", NULL));
	al_msg m;
	al_error err;
	OK(al_client_recv(w, &m, &err));
	assert_int_equal(m.kind, AL_MSG_ROW);
	assert_int_equal(m.id, 11);
	al_client_close(w);
	al_client_close(admin);
}

/* Starts a stream of op on c (not read beyond its first row, so that it waits for the client). */
static void stream_started(al_client *c, uint64_t id, const char *op, const void *args, size_t len)
{
	al_error err;
	OK(al_client_send(c, id, op, args, len, true, &err));
	al_msg m;
	OK(al_client_recv(c, &m, &err));
	assert_true(m.has_id && m.id == id);
	assert_true(m.kind == AL_MSG_ROW || m.kind == AL_MSG_CSV);
}

static void streams_end(void **state)
{
	sh_server *p = *state;
	al_client *admin = sh_connect_as(p, "admin@example.com");
	const char *who[] = {"s-list@example.com", "s-log@example.com", "s-export@example.com", "s-key@example.com"};
	for (int i = 0; i < 4; i++)
		create_user(admin, who[i], "default", "superadmin");
	double took;
	/* a streamed list: the superadmin becomes a domain admin, who sees less */
	al_client *c = sh_connect_as(p, who[0]);
	assert_non_null(c);
	stream_started(c, 21, "policy.list", NULL, 0);
	OK(sh_run(admin, "user.update", "email", 's', who[0], "role", 's', "admin", NULL));
	assert_int_equal(feed_end(c, 21, &took), AL_EPERMISSION_DENIED);
	assert_true(took < 1.0);
	OK(sh_run(c, "whoami", NULL)); /* the connection stays usable */
	al_client_close(c);
	/* the audit listing (superadmin only): demoted to user */
	c = sh_connect_as(p, who[1]);
	stream_started(c, 22, "log", NULL, 0);
	OK(sh_run(admin, "user.update", "email", 's', who[1], "role", 's', "user", NULL));
	assert_int_equal(feed_end(c, 22, &took), AL_EPERMISSION_DENIED);
	assert_true(took < 1.0);
	al_client_close(c);
	/* a CSV export: the user deactivated */
	c = sh_connect_as(p, who[2]);
	size_t len;
	char *args = th_args(&len, "what", 's', "policies", NULL);
	stream_started(c, 23, "export", args, len);
	free(args);
	OK(sh_run(admin, "user.deactivate", "email", 's', who[2], NULL));
	assert_int_equal(feed_end(c, 23, &took), AL_EUNAUTHENTICATED);
	assert_true(took < 1.0);
	al_client_close(c);
	/* a streamed list: its keypair deactivated */
	c = sh_connect_as(p, who[3]);
	al_reply r;
	OK(sh_call(c, &r, "whoami", NULL));
	char ak[32];
	snprintf(ak, sizeof ak, "%s", th_res_str(&r, "access_key"));
	al_reply_free(&r);
	stream_started(c, 24, "policy.list", NULL, 0);
	OK(sh_run(admin, "keypair.deactivate", "access_key", 's', ak, NULL));
	assert_int_equal(feed_end(c, 24, &took), AL_EUNAUTHENTICATED);
	assert_true(took < 1.0);
	al_client_close(c);
	/* a promotion takes nothing away: a domain admin's stream runs to its end */
	create_user(admin, "s-up@example.com", "default", "admin");
	c = sh_connect_as(p, "s-up@example.com");
	stream_started(c, 25, "policy.list", NULL, 0);
	OK(sh_run(admin, "user.update", "email", 's', "s-up@example.com", "role", 's', "superadmin", NULL));
	assert_int_equal(feed_end(c, 25, &took), AL_OK);
	al_client_close(c);
	al_client_close(admin);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(demoted_superadmin, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(promoted_user, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(domain_admin_moved, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(deactivated, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(library_refresh, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(watch_ends, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(streams_end, setup_big, sh_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
