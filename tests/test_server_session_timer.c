/*
 * test_server_session_timer.c - adminlogd's session timer: it runs session.expire as its own
 * write (signed adminlogd) at its first poll and then every 15 s (SRV_SESSION_EXPIRE_EVERY_US,
 * the platform's DEFAULT_CHECK_INTERVAL), so a session past its keypair policy's lifetime ends
 * without anyone asking.
 *
 * The data directory is prepared in this process before the server starts: a stub registry
 * (registry_test.h) for the image, a keypair under a policy with a one-second session lifetime,
 * session A RUNNING and session B PREPARING (not checked for the lifetime). Once a second has
 * passed (real time: the lifetime is whole seconds), A is overdue when the server starts, and
 * its first poll ends it. B is reported RUNNING right after that, overdue at once; the timer's
 * next run, 15 s after its first, ends it: not earlier, and not much later. That wait is the
 * interval itself, so the test takes about 17 s.
 */
#include "registry_test.h" /* first: it sets _GNU_SOURCE */

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server_harness.h"
#include "util/codec.h"

#define INTERVAL_S 15.0 /* SRV_SESSION_EXPIRE_EVERY_US */

static void run_ok(al_store *s, al_reply *rep, const char *op, ...)
{
	va_list ap;
	va_start(ap, op);
	size_t len;
	char *args = th_vargs(&len, ap);
	va_end(ap);
	al_request req = {op, args, len, &th_admin};
	al_reply own;
	if (al_exec(s, &req, rep ? rep : &own) != AL_OK)
		fail_msg("fixture %s: %s", op, (rep ? rep : &own)->err.msg);
	if (rep == NULL)
		al_reply_free(&own);
	free(args);
}

/* A RUNNING session a and a PREPARING session b of u@x.io, under keypair policy "brief" (a
 * session lifetime of 1 s), in p's data directory; their ids into a and b. */
static int64_t prepare(sh_server *p, char a[40], char b[40])
{
	stub st;
	rt_image im;
	char *labels = rt_labels(NULL);
	char host[64], url[80], img[200], ak[32];
	assert_int_equal(stub_start(&st), 0);
	rt_image_make(&im, "amd64", labels, "timer");
	stub_put_image(&st, "stable/plain", "1", &im);
	stub_tags(&st, "stable/plain", "[\"1\"]");
	const char *cat = "{\"repositories\":[\"stable/plain\"]}";
	stub_add(&st, "/v2/_catalog", 200, NULL, cat, strlen(cat));
	snprintf(host, sizeof host, "127.0.0.1:%d", st.port);
	snprintf(url, sizeof url, "http://%s", host);
	snprintf(img, sizeof img, "%s/stable/plain:1", host);

	al_store *s;
	al_open_opts oo = {AL_OPEN_QUIET, 0};
	al_error err = {0};
	assert_int_equal(al_store_open(&s, p->data, &oo, &err), AL_OK);
	al_reply rep;
	run_ok(s, NULL, "registry.create", "hostname", 's', host, "url", 's', url, NULL);
	run_ok(s, NULL, "image.rescan", NULL);
	run_ok(s, NULL, "domain.update", "name", 's', "default", "allowed_registries", 'l', host, NULL);
	assert_int_equal(th_user(s, "u@x.io", "default", "user"), AL_OK);
	run_ok(s, NULL, "project.create", "name", 's', "vision", "domain", 's', "default", NULL);
	run_ok(s, NULL, "project.add-member", "name", 's', "vision", "domain", 's', "default", "users", 'l', "u@x.io", NULL);
	run_ok(s, NULL, "policy.create", "name", 's', "brief", "session_lifetime", 'i', 1LL, NULL);
	run_ok(s, &rep, "keypair.create", "user", 's', "u@x.io", "policy", 's', "brief", NULL);
	snprintf(ak, sizeof ak, "%s", th_res_str(&rep, "access_key"));
	al_reply_free(&rep);
	run_ok(s, NULL, "agent.heartbeat", "id", 's', "ag1", "addr", 's', "10.0.0.1:6001", "available", 's',
	       "cpu=64,mem=256g", "group", 's', "default", NULL);
	char *ids[2] = {a, b};
	const char *names[2] = {"sess-a", "sess-b"};
	for (int i = 0; i < 2; i++) {
		run_ok(s, &rep, "session.create", "name", 's', names[i], "image", 's', img, "group", 's', "default", "project",
		       's', "vision", "access_key", 's', ak, NULL);
		snprintf(ids[i], 40, "%s", th_res_str(&rep, "id"));
		al_reply_free(&rep);
		run_ok(s, NULL, "scheduler.run", NULL); /* only a pass makes it SCHEDULED */
		run_ok(s, NULL, "session.report", "id", 's', ids[i], "status", 's', "PREPARING", NULL);
	}
	run_ok(s, NULL, "session.report", "id", 's', a, "status", 's', "RUNNING", NULL);
	int64_t created = al_clock_real(NULL); /* both were created before this */
	al_store_close(s);
	stub_stop(&st);
	rt_image_free(&im);
	free(labels);
	return created;
}

/* The session's "status status_info" over the wire. */
static const char *state(al_client *c, const char *id)
{
	static char buf[128];
	al_reply rep;
	assert_int_equal(sh_call(c, &rep, "session.get", "id", 's', id, NULL), AL_OK);
	size_t n = (size_t)snprintf(buf, sizeof buf, "%s ", sh_res_str(&rep, "status")); /* one static buffer */
	snprintf(buf + n, sizeof buf - n, "%s", sh_res_str(&rep, "status_info"));
	al_reply_free(&rep);
	return buf;
}

/* Polls until the session is TERMINATING (SH_TIMEOUT_MS past the deadline at most); the
 * monotonic time it was first seen so, or -1. */
static double wait_terminating(al_client *c, const char *id, double deadline)
{
	while (sh_now_s() < deadline) {
		if (strncmp(state(c, id), "TERMINATING ", 12) == 0)
			return sh_now_s();
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return -1;
}

static int count_cb(const al_event *e, void *ctx)
{
	(void)e;
	++*(int *)ctx;
	return 0;
}

static void timer_expires_sessions(void **state_)
{
	(void)state_;
	sh_server p;
	char a[40], b[40];
	sh_prepare(&p, NULL);
	int64_t created = prepare(&p, a, b);
	/* the lifetime is one second of real time since creation: let it pass */
	while (al_clock_real(NULL) < created + 1100000) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	double t_start = sh_now_s(); /* the server's timer cannot run before this */
	assert_int_equal(sh_start(&p, NULL), 0);
	al_client *c = sh_connect_as(&p, "admin@example.com");
	assert_non_null(c);
	/* A, overdue at start: ended by the first run, at the first poll (half a second in) */
	double t_a = wait_terminating(c, a, t_start + SH_TIMEOUT_MS / 1000.0);
	if (t_a < 0)
		fail_msg("session A is still %s", state(c, a));
	assert_string_equal(state(c, a), "TERMINATING idle-session-lifetime");
	if (t_a - t_start >= INTERVAL_S - 1)
		fail_msg("the first run came %.1f s after the start, not at the first poll", t_a - t_start);
	/* B, PREPARING (no lifetime check) until now, then RUNNING and overdue: the next run ends it */
	assert_string_equal(state(c, b), "PREPARING ");
	assert_int_equal(sh_run(c, "session.report", "id", 's', b, "status", 's', "RUNNING", NULL), AL_OK);
	double t_b = wait_terminating(c, b, t_a + INTERVAL_S + SH_TIMEOUT_MS / 1000.0);
	if (t_b < 0)
		fail_msg("session B is still %s", state(c, b));
	assert_string_equal(state(c, b), "TERMINATING idle-session-lifetime");
	/* the second run is 15 s after the first, which came after t_start and before t_a */
	if (t_b - t_start < INTERVAL_S - 0.1 || t_b - t_a > INTERVAL_S + SH_TIMEOUT_MS / 2000.0)
		fail_msg("the second run came %.1f s after the start, %.1f s after A was seen ended (interval %.0f s)",
			 t_b - t_start, t_b - t_a, INTERVAL_S);
	al_client_close(c);
	assert_int_equal(sh_stop(&p, SIGTERM), 0);
	/* both terminate_requested events are the server's own writes */
	al_store *s;
	al_open_opts oo = {AL_OPEN_QUIET, 0};
	al_error err = {0};
	assert_int_equal(al_store_open(&s, p.data, &oo, &err), AL_OK);
	al_log_filter flt = {.type = "session.terminate_requested", .actor = "adminlogd"};
	int own = 0;
	assert_int_equal(al_log_query(s, &flt, count_cb, &own, &err), AL_OK);
	assert_int_equal(own, 2);
	al_store_close(s);
	sh_cleanup(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(timer_expires_sessions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
