/*
 * test_scheduler.c - the scheduling pass (scheduler.run, src/nouns/scheduler.c; platform model
 * §10.4, §10.5), with the store's clock under the test's control: every predicate with its
 * name and message, several failing together in the platform's order, system sessions
 * cancelled, no agent (room, architecture, unschedulable, not ALIVE), groups without ALIVE
 * agents left alone, FIFO (with retries-to-skip), LIFO and DRF orders, dispersed and
 * concentrated agent choice, multi-node and single-node placement, the pending timeout,
 * occupancy (v_occupancy) of agents, keypairs, users, projects and domains as sessions move,
 * the quieting of a failure repeated within ten minutes, and rebuild equal to live.
 *
 * Each test reads the decisions from the log (session.scheduled, session.scheduling_failed,
 * session.cancelled since the last look, one line each, see evs) and the views, not only the
 * pass's counts.
 *
 * Images come from the stub registry of registry_test.h: stable/plain:1 (amd64, the default
 * minimums cpu 1 and mem 1g), stable/sftp:1 (amd64, a SYSTEM image) and stable/arm:1 (arm64).
 */
#include "registry_test.h" /* first: it sets _GNU_SOURCE */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "core/store.h"
#include "nouns/nouns.h"

#define SEC 1000000LL
#define MIN (60 * SEC)
#define HOUR_US (60 * MIN)

typedef struct fx {
	TH_FX_HEAD;
	stub st;
	char host[64], plain[200], sftp[200], arm[200];
	rt_image ims[3];
	char *labels[2];
	int64_t now; /* the store's clock, µs */
	th_actor u1, u2, u3;
	char ak1[32], ak2[32], ak3[32], pid[40];
	uint64_t mark; /* the log head at the last look (evs) */
	struct {
		char id[40], name[32];
	} sess[64];
	int nsess;
} fx;

static int64_t fake_clock(void *ctx) { return ((fx *)ctx)->now; }

static void put_images(fx *f)
{
	stub *st = &f->st;
	f->labels[0] = rt_labels(NULL);
	f->labels[1] = rt_labels(",\"ai.backend.role\":\"SYSTEM\"");
	rt_image_make(&f->ims[0], "amd64", f->labels[0], "plain");
	rt_image_make(&f->ims[1], "amd64", f->labels[1], "sftp");
	rt_image_make(&f->ims[2], "arm64", f->labels[0], "arm");
	stub_put_image(st, "stable/plain", "1", &f->ims[0]);
	stub_put_image(st, "stable/sftp", "1", &f->ims[1]);
	stub_put_image(st, "stable/arm", "1", &f->ims[2]);
	stub_tags(st, "stable/plain", "[\"1\"]");
	stub_tags(st, "stable/sftp", "[\"1\"]");
	stub_tags(st, "stable/arm", "[\"1\"]");
	const char *cat = "{\"repositories\":[\"stable/plain\",\"stable/sftp\",\"stable/arm\"]}";
	stub_add(st, "/v2/_catalog", 200, NULL, cat, strlen(cat));
	snprintf(f->host, sizeof f->host, "127.0.0.1:%d", st->port);
	snprintf(f->plain, sizeof f->plain, "%s/stable/plain:1", f->host);
	snprintf(f->sftp, sizeof f->sftp, "%s/stable/sftp:1", f->host);
	snprintf(f->arm, sizeof f->arm, "%s/stable/arm:1", f->host);
}

/* Users u1, u2, u3 of domain default, members of project vision; resource group private
 * (system sessions); no agent yet. The store's clock is f->now from here on. */
static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	if (f == NULL || stub_start(&f->st) != 0)
		return -1;
	put_images(f);
	al_store *s = f->s;
	char url[80];
	snprintf(url, sizeof url, "http://%s", f->host);
	th_fixture(s, "registry.create", "hostname", 's', f->host, "url", 's', url, NULL);
	th_fixture(s, "image.rescan", NULL);
	th_fixture(s, "domain.update", "name", 's', "default", "allowed_registries", 'l', f->host, NULL);
	const th_member cast[] = {{"u1@x.io", "default", "user", &f->u1, NULL},
				  {"u2@x.io", "default", "user", &f->u2, NULL},
				  {"u3@x.io", "default", "user", &f->u3, NULL},
				  {NULL}};
	assert_int_equal(th_cast(s, cast), AL_OK);
	th_fixture(s, "project.create", "name", 's', "vision", "domain", 's', "default", NULL);
	th_fixture(s, "project.add-member", "name", 's', "vision", "domain", 's', "default", "users", 'l', "u1@x.io,u2@x.io,u3@x.io",
	   NULL);
	th_fixture(s, "rgroup.create", "name", 's', "private", "public", 'b', 0, "allowed_session_types", 'l', "interactive,system", NULL);
	th_fixture(s, "rgroup.associate", "name", 's', "private", "domain", 's', "default", NULL);
	th_main_key(s, "u1@x.io", f->ak1);
	th_main_key(s, "u2@x.io", f->ak2);
	th_main_key(s, "u3@x.io", f->ak3);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "project.get", "name", 's', "vision", "domain", 's', "default", NULL), AL_OK);
	snprintf(f->pid, sizeof f->pid, "%s", th_res_str(&rep, "id"));
	al_reply_free(&rep);
	f->now = al_clock_real(NULL) + 3600 * SEC; /* after the fixture's events */
	al_store_set_clock(s, fake_clock, f);
	f->mark = al_log_head(s);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	stub_stop(&f->st);
	for (int i = 0; i < 3; i++)
		rt_image_free(&f->ims[i]);
	for (int i = 0; i < 2; i++)
		free(f->labels[i]);
	th_fx_free(f);
	return 0;
}

/* ---- helpers ----------------------------------------------------------------------------------- */

static void agent(fx *f, const char *id, const char *group, const char *avail)
{
	th_fixture(f->s, "agent.heartbeat", "id", 's', id, "addr", 's', "10.0.0.1:6001", "available", 's', avail, "group", 's', group,
	   NULL);
}

/* session.create of name by who (NULL: a superadmin, which then names access_key), arguments
 * as th_exec triples ending in NULL; one second after the previous one, so creation order is
 * clear. The id into id. */
static void mk(fx *f, char id[40], const th_actor *who, const char *name, ...)
{
	va_list ap;
	va_start(ap, name);
	size_t len;
	char *args = th_vargs(&len, ap);
	va_end(ap);
	f->now += SEC;
	al_request req = {"session.create", args, len, who ? &who->a : &th_admin};
	al_reply rep;
	if (al_exec(f->s, &req, &rep) != AL_OK)
		fail_msg("session.create %s: %s", name, rep.err.msg);
	snprintf(id, 40, "%s", th_res_str(&rep, "id"));
	al_reply_free(&rep);
	free(args);
	assert_true(f->nsess < 64);
	snprintf(f->sess[f->nsess].id, 40, "%s", id);
	snprintf(f->sess[f->nsess++].name, 32, "%s", name);
}

/* A session of the plain image (MKI: of image) in project vision; the arguments after name: the
 * group, then extra th_exec triples. */
#define MK(id, who, name, ...) \
	mk(f, id, who, name, "name", 's', name, "image", 's', f->plain, "project", 's', "vision", "group", 's', __VA_ARGS__, NULL)
#define MKI(id, who, name, image, ...) \
	mk(f, id, who, name, "name", 's', name, "image", 's', image, "project", 's', "vision", "group", 's', __VA_ARGS__, NULL)

static const char *name_of(const fx *f, al_str id)
{
	for (int i = 0; i < f->nsess; i++)
		if (strlen(f->sess[i].id) == id.n && memcmp(f->sess[i].id, id.p, id.n) == 0)
			return f->sess[i].name;
	return "?";
}

static const msgpack_object *field(const msgpack_object *m, const char *key)
{
	for (uint32_t i = 0; m->type == MSGPACK_OBJECT_MAP && i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
		    memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
			return &m->via.map.ptr[i].val;
	}
	return NULL;
}

typedef struct evbuf {
	const fx *f;
	char text[8192];
	size_t n;
} evbuf;

static void put(evbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(evbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (b->n < sizeof b->text)
		b->n += (size_t)vsnprintf(b->text + b->n, sizeof b->text - b->n, fmt, ap);
	va_end(ap);
}

static void put_str(evbuf *b, const msgpack_object *o)
{
	if (o && o->type == MSGPACK_OBJECT_STR)
		put(b, "%.*s", (int)o->via.str.size, o->via.str.ptr);
}

/* One line per decision: "NAME scheduled AGENT,AGENT", "NAME failed(STATUS_INFO) F | F",
 * "NAME cancelled(STATUS_INFO)". */
static int one_event(const al_event *e, void *ctx)
{
	evbuf *b = ctx;
	const char *t = e->def->name;
	if (strncmp(t, "session.", 8) != 0 || strcmp(t, "session.created") == 0)
		return 0;
	put(b, "%s%s ", b->n ? "\n" : "", name_of(b->f, e->id));
	if (strcmp(t, "session.scheduled") == 0) {
		const msgpack_object *a = field(&e->fields, "agents");
		put(b, "scheduled ");
		for (uint32_t i = 0; a && i < a->via.array.size; i++) {
			put(b, "%s", i ? "," : "");
			put_str(b, &a->via.array.ptr[i]);
		}
	} else if (strcmp(t, "session.scheduling_failed") == 0) {
		const msgpack_object *l = field(&e->fields, "failed");
		put(b, "failed(");
		put_str(b, field(&e->fields, "status_info"));
		put(b, ")");
		for (uint32_t i = 0; l && i < l->via.array.size; i++) {
			put(b, "%s", i ? " | " : " ");
			put_str(b, &l->via.array.ptr[i]);
		}
	} else if (strcmp(t, "session.cancelled") == 0) {
		put(b, "cancelled(");
		put_str(b, field(&e->fields, "status_info"));
		put(b, ")");
	} else {
		put(b, "%s ", t + 8);
		put_str(b, field(&e->fields, "status"));
	}
	return 0;
}

/* The session events recorded since the last look, as lines (one_event). */
static const char *evs(fx *f)
{
	static evbuf b;
	b.f = f, b.n = 0, b.text[0] = 0;
	al_log_filter lf = {.after_seq = f->mark};
	al_error err;
	assert_int_equal(al_log_query(f->s, &lf, one_event, &b, &err), AL_OK);
	f->mark = al_log_head(f->s);
	return b.text;
}

/* A pass (of group g, NULL: every group) that must answer these counts. */
static void pass_at(const char *file, int line, fx *f, const char *g, long long scheduled, long long failed,
		    long long cancelled)
{
	al_reply rep;
	int rc = g ? th_exec(f->s, &rep, "scheduler.run", "group", 's', g, NULL) : th_exec(f->s, &rep, "scheduler.run", NULL);
	if (rc != AL_OK)
		fail_msg("%s:%d: scheduler.run: %s", file, line, rep.err.msg);
	char want[120], got[120];
	snprintf(want, sizeof want, "%lld %lld %lld", scheduled, failed, cancelled);
	snprintf(got, sizeof got, "%lld %lld %lld", th_res_int(&rep, "scheduled"), th_res_int(&rep, "failed"),
		 th_res_int(&rep, "cancelled"));
	_assert_string_equal(got, want, file, line);
	al_reply_free(&rep);
}
#define PASS(g, s, fl, c) pass_at(__FILE__, __LINE__, f, g, s, fl, c)

/* A pass of every group, whatever it decides. */
static void PASS_ANY(fx *f) { assert_int_equal(th_run(f->s, "scheduler.run", NULL), AL_OK); }

static int count_one(const al_event *e, void *ctx)
{
	(void)e;
	++*(int *)ctx;
	return 0;
}
#define EVS(want) _assert_string_equal(evs(f), want, __FILE__, __LINE__)

/* Member key of session id's public view as JSON. */
static const char *sess_json(fx *f, const char *id, const char *key)
{
	static char out[4][1024];
	static int k;
	char *b = out[k++ % 4];
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "session.get", "id", 's', id, NULL), AL_OK);
	snprintf(b, 1024, "%s", th_res_json(&rep, key));
	al_reply_free(&rep);
	return b;
}

static void report(fx *f, const char *id, const char *status, long long exit_code)
{
	if (exit_code >= 0)
		th_fixture(f->s, "session.report", "id", 's', id, "status", 's', status, "exit_code", 'i', exit_code, NULL);
	else
		th_fixture(f->s, "session.report", "id", 's', id, "status", 's', status, NULL);
}

/* What holder (kind, key) occupies in v_occupancy: "SESSIONS SLOTS", then " pending N SLOTS"
 * when it has PENDING sessions (keypairs). */
static const char *occ(fx *f, char kind, const char *holder)
{
	static char out[4][512];
	static int k;
	char *b = out[k++ % 4];
	MDB_txn *txn;
	al_error err = {0};
	assert_int_equal(al__read_begin(f->s, &txn, &err), AL_OK);
	msgpack_zone z;
	msgpack_zone_init(&z, 1024);
	al_cmd c = {.s = f->s, .txn = txn, .actor = &th_admin, .err = &err, .zone = &z};
	al_row_occupancy o;
	assert_true(al__session_occupancy(&c, kind, (al_str){holder, strlen(holder)}, &o) >= 0);
	int n = snprintf(b, 512, "%lld %.*s", (long long)o.sessions, (int)o.slots.n, o.slots.p);
	if (o.pending)
		snprintf(b + n, 512 - (size_t)n, " pending %lld", (long long)o.pending);
	msgpack_zone_destroy(&z);
	mdb_txn_abort(txn);
	return b;
}

/* Rebuilt views equal the live ones (the pass's decisions replay from the log), and verify. */
static void rebuild_same(fx *f)
{
	char live[33], rebuilt[33];
	al_error err;
	th_digest(f->s, live);
	if (al_store_rebuild(f->s, NULL, NULL, &err) != AL_OK)
		fail_msg("rebuild: %s", err.msg);
	th_digest(f->s, rebuilt);
	assert_string_equal(live, rebuilt);
	if (al_store_verify(f->s, NULL, NULL, &err) != AL_OK)
		fail_msg("verify: %s", err.msg);
}

static void time_text(int64_t us, char *buf, size_t n) { al_time_format(us, buf, n); }

#define NOROOM(n) "failed(no-available-instances) agent: No agent of architecture x86_64 has room for " #n " container(s)"

/* ---- predicates, each alone ---------------------------------------------------------------------- */

/* reserved_time: a batch session waits for its start time, and goes at it. */
static void reserved_time(void **state)
{
	fx *f = *state;
	agent(f, "ag1", "default", "cpu=8,mem=32g");
	char a[40], start[40], tried[40], want[400];
	time_text(f->now + 30 * MIN + SEC, start, sizeof start); /* mk steps one second */
	MK(a, &f->u1, "batch-1", "default", "type", 's', "batch", "starts_at", 's', start);
	PASS("default", 0, 1, 0);
	EVS("batch-1 failed(predicate-checks-failed) reserved_time: Before start time");
	/* the view: the platform's status_data.scheduler */
	time_text(f->now, tried, sizeof tried);
	snprintf(want, sizeof want,
		 "{\"retries\":1,\"last_try\":\"%s\",\"failed_predicates\":[{\"name\":\"reserved_time\",\"msg\":\"Before start "
		 "time\"}]}",
		 tried);
	assert_string_equal(sess_json(f, a, "scheduler"), want);
	assert_string_equal(sess_json(f, a, "status"), "\"PENDING\"");
	assert_string_equal(sess_json(f, a, "status_info"), "\"predicate-checks-failed\"");
	f->now += 30 * MIN - SEC; /* a second before: still waiting (recorded again: 30 minutes later) */
	PASS("default", 0, 1, 0);
	EVS("batch-1 failed(predicate-checks-failed) reserved_time: Before start time");
	f->now += SEC; /* the start time */
	PASS("default", 1, 0, 0);
	EVS("batch-1 scheduled ag1");
	assert_string_equal(sess_json(f, a, "status"), "\"SCHEDULED\"");
	assert_string_equal(sess_json(f, a, "agents"), "[\"ag1\"]");
	rebuild_same(f);
}

/* dependencies: waiting until each is TERMINATED with exit code 0; a failed one keeps it waiting. */
static void dependencies(void **state)
{
	fx *f = *state;
	agent(f, "ag1", "default", "cpu=8,mem=32g");
	char a[40], b[40], c[40], d[40], want[300];
	MK(a, &f->u1, "dep-a", "default");
	MK(b, &f->u1, "dep-b", "default", "depends_on", 'l', a);
	PASS("default", 1, 1, 0);
	snprintf(want, sizeof want,
		 "dep-a scheduled ag1\ndep-b failed(predicate-checks-failed) dependencies: Waiting dependency sessions to "
		 "finish as success. (%s)",
		 a);
	EVS(want);
	report(f, a, "PREPARING", -1);
	report(f, a, "RUNNING", -1);
	report(f, a, "TERMINATED", 1); /* failed */
	assert_string_equal(evs(f), "dep-a status_changed PREPARING\ndep-a status_changed RUNNING\ndep-a status_changed TERMINATED");
	f->now += 11 * MIN;
	PASS("default", 0, 1, 0);
	EVS(strchr(want, '\n') + 1); /* still waiting, recorded again after ten minutes */
	/* one that ends well releases its dependant */
	MK(c, &f->u1, "dep-c", "default");
	PASS("default", 1, 1, 0); /* dep-b's failure again within ten minutes: not recorded */
	EVS("dep-c scheduled ag1");
	MK(d, &f->u1, "dep-d", "default", "depends_on", 'l', c);
	report(f, c, "PREPARING", -1);
	report(f, c, "RUNNING", -1);
	evs(f);
	f->now += 11 * MIN;
	PASS("default", 0, 2, 0); /* RUNNING is not finished */
	snprintf(want, sizeof want,
		 "dep-b failed(predicate-checks-failed) dependencies: Waiting dependency sessions to finish as success. (%s)\n"
		 "dep-d failed(predicate-checks-failed) dependencies: Waiting dependency sessions to finish as success. (%s)",
		 a, c);
	EVS(want);
	report(f, c, "TERMINATED", 0);
	evs(f);
	PASS("default", 1, 1, 0);
	EVS("dep-d scheduled ag1");
	assert_string_equal(sess_json(f, b, "status"), "\"PENDING\"");
	rebuild_same(f);
}

/* concurrency: the keypair policy's concurrent_jobs; another keypair is not limited; an ended
 * session frees its place. */
static void concurrency(void **state)
{
	fx *f = *state;
	agent(f, "ag1", "default", "cpu=8,mem=32g");
	th_fixture(f->s, "policy.create", "name", 's', "two", "concurrent_jobs", 'i', 2LL, NULL);
	th_fixture(f->s, "keypair.update", "access_key", 's', f->ak1, "policy", 's', "two", NULL);
	char c1[40], c2[40], c3[40], c4[40];
	MK(c1, &f->u1, "conc-1", "default");
	MK(c2, &f->u1, "conc-2", "default");
	MK(c3, &f->u1, "conc-3", "default");
	PASS("default", 2, 1, 0);
	EVS("conc-1 scheduled ag1\nconc-2 scheduled ag1\n"
	    "conc-3 failed(predicate-checks-failed) concurrency: You cannot run more than 2 concurrent sessions");
	assert_string_equal(occ(f, 'k', f->ak1), "2 cpu=2,mem=2147483648 pending 1");
	MK(c4, &f->u2, "conc-4", "default");
	PASS("default", 1, 1, 0);
	EVS("conc-4 scheduled ag1");
	th_fixture(f->s, "session.terminate", "id", 's', c1, "forced", 'b', 1, NULL); /* a superadmin's: TERMINATED */
	PASS("default", 1, 0, 0);
	EVS("conc-1 terminate_requested TERMINATED\nconc-3 scheduled ag1");
	assert_string_equal(occ(f, 'k', f->ak1), "2 cpu=2,mem=2147483648");
	(void)c2;
	rebuild_same(f);
}

/* The limit holds across the groups of one pass: what the pass placed in one group counts in
 * the next. */
static void concurrency_across_groups(void **state)
{
	fx *f = *state;
	th_fixture(f->s, "rgroup.create", "name", 's', "zeta", NULL);
	th_fixture(f->s, "rgroup.associate", "name", 's', "zeta", "domain", 's', "default", NULL);
	agent(f, "ag1", "default", "cpu=8,mem=32g");
	agent(f, "ag-z", "zeta", "cpu=8,mem=32g");
	th_fixture(f->s, "policy.create", "name", 's', "one", "concurrent_jobs", 'i', 1LL, "cpu", 'i', 3LL, NULL);
	th_fixture(f->s, "keypair.update", "access_key", 's', f->ak1, "policy", 's', "one", NULL);
	char z[40], d[40];
	MK(z, &f->u1, "in-zeta", "zeta", "resources", 's', "cpu=2");
	MK(d, &f->u1, "in-default", "default", "resources", 's', "cpu=2");
	PASS(NULL, 1, 1, 0); /* default first (groups by name) */
	EVS("in-default scheduled ag1\n"
	    "in-zeta failed(predicate-checks-failed) concurrency: You cannot run more than 1 concurrent sessions | "
	    "keypair_resource_limit: Your keypair resource quota is exceeded. (cpu=3) | "
	    "user_resource_limit: Your main-keypair resource quota is exceeded. (cpu=3)");
	rebuild_same(f);
}

/* System sessions: max_concurrent_sftp_sessions instead of concurrent_jobs, and a failure
 * cancels them. */
static void system_sessions(void **state)
{
	fx *f = *state;
	agent(f, "ag-p", "private", "cpu=8,mem=32g");
	th_fixture(f->s, "policy.create", "name", 's', "sys", "concurrent_jobs", 'i', 5LL, "max_concurrent_sftp_sessions", 'i', 2LL,
	   NULL);
	th_fixture(f->s, "keypair.update", "access_key", 's', f->ak1, "policy", 's', "sys", NULL);
	char s1[40], s2[40], s3[40];
	MKI(s1, &f->u1, "sftp-1", f->sftp, "private", "type", 's', "system");
	MKI(s2, &f->u1, "sftp-2", f->sftp, "private", "type", 's', "system");
	MKI(s3, &f->u1, "sftp-3", f->sftp, "private", "type", 's', "system");
	PASS("private", 2, 0, 1);
	EVS("sftp-1 scheduled ag-p\nsftp-2 scheduled ag-p\nsftp-3 cancelled(predicate-checks-failed)");
	assert_string_equal(sess_json(f, s3, "status"), "\"CANCELLED\"");
	assert_string_equal(sess_json(f, s3, "status_info"), "\"predicate-checks-failed\"");
	assert_string_not_equal(sess_json(f, s3, "terminated_at"), "null");
	assert_string_equal(occ(f, 'k', f->ak1), "2 cpu=2,mem=2147483648"); /* no longer pending */
	(void)s1, (void)s2;
	rebuild_same(f);
}

/* The two counters are apart (the platform's concurrency_used and sftp_concurrency_used): system
 * sessions do not count against concurrent_jobs, nor the others against the SFTP limit. */
static void system_sessions_counted_apart(void **state)
{
	fx *f = *state;
	agent(f, "ag-p", "private", "cpu=8,mem=32g");
	agent(f, "ag1", "default", "cpu=8,mem=32g");
	th_fixture(f->s, "policy.create", "name", 's', "one", "concurrent_jobs", 'i', 1LL, "max_concurrent_sftp_sessions", 'i', 1LL,
	   NULL);
	th_fixture(f->s, "keypair.update", "access_key", 's', f->ak1, "policy", 's', "one", NULL);
	char s1[40], i1[40], s2[40], i2[40];
	MKI(s1, &f->u1, "sftp-1", f->sftp, "private", "type", 's', "system");
	MK(i1, &f->u1, "inter-1", "default");
	PASS(NULL, 2, 0, 0);
	EVS("inter-1 scheduled ag1\nsftp-1 scheduled ag-p");
	/* each limit reached by its own kind */
	MKI(s2, &f->u1, "sftp-2", f->sftp, "private", "type", 's', "system");
	MK(i2, &f->u1, "inter-2", "default");
	PASS(NULL, 0, 1, 1);
	EVS("inter-2 failed(predicate-checks-failed) concurrency: You cannot run more than 1 concurrent sessions\n"
	    "sftp-2 cancelled(predicate-checks-failed)");
	(void)s1, (void)i1, (void)i2;
	rebuild_same(f);
}

/* pending_session_count_limit: more PENDING sessions than max_pending_session_count; cancelling
 * one lets the other go. */
static void pending_count(void **state)
{
	fx *f = *state;
	agent(f, "ag1", "default", "cpu=8,mem=32g");
	th_fixture(f->s, "policy.create", "name", 's', "pend1", "max_pending_session_count", 'i', 1LL, NULL);
	th_fixture(f->s, "keypair.update", "access_key", 's', f->ak1, "policy", 's', "pend1", NULL);
	char p1[40], p2[40];
	MK(p1, &f->u1, "pend-1", "default");
	MK(p2, &f->u1, "pend-2", "default");
	PASS("default", 0, 2, 0);
	EVS("pend-1 failed(predicate-checks-failed) pending_session_count_limit: You cannot create more than 1 pending "
	    "session(s).\n"
	    "pend-2 failed(predicate-checks-failed) pending_session_count_limit: You cannot create more than 1 pending "
	    "session(s).");
	assert_string_equal(occ(f, 'k', f->ak1), "0  pending 2");
	TH_OK(f->s, &f->u1, 1, NULL, "session.terminate", "id", 's', p2, NULL); /* PENDING: CANCELLED */
	assert_string_equal(occ(f, 'k', f->ak1), "0  pending 1");
	PASS("default", 1, 0, 0);
	EVS("pend-2 terminate_requested CANCELLED\npend-1 scheduled ag1");
	assert_string_equal(occ(f, 'k', f->ak1), "1 cpu=1,mem=1073741824");
	rebuild_same(f);
}

/* keypair_resource_limit (the session's keypair's policy) and user_resource_limit (the policy of
 * the user's main keypair, over all its keypairs), with the limits that were exceeded. */
static void keypair_and_user_limits(void **state)
{
	fx *f = *state;
	agent(f, "ag1", "default", "cpu=16,mem=64g");
	th_fixture(f->s, "policy.create", "name", 's', "small", "cpu", 'i', 2LL, "ram_gb", 'i', 3LL, NULL);
	/* u1: a second keypair with the small policy, the main one unlimited: the keypair's limit */
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "keypair.create", "user", 's', "u1@x.io", "policy", 's', "small", NULL), AL_OK);
	char k1[32];
	snprintf(k1, sizeof k1, "%s", th_res_str(&rep, "access_key"));
	al_reply_free(&rep);
	/* u2: the main keypair small, the sessions on a second (default) one: the user's limit */
	th_fixture(f->s, "keypair.update", "access_key", 's', f->ak2, "policy", 's', "small", NULL);
	assert_int_equal(th_exec(f->s, &rep, "keypair.create", "user", 's', "u2@x.io", NULL), AL_OK);
	char k2[32];
	snprintf(k2, sizeof k2, "%s", th_res_str(&rep, "access_key"));
	al_reply_free(&rep);
	char id[40];
	MK(id, NULL, "kp-1", "default", "access_key", 's', k1, "resources", 's', "cpu=1,mem=1g");
	MK(id, NULL, "kp-2", "default", "access_key", 's', k1, "resources", 's', "cpu=1,mem=2g");
	MK(id, NULL, "kp-3", "default", "access_key", 's', k1, "resources", 's', "cpu=1,mem=1g");
	MK(id, NULL, "us-1", "default", "access_key", 's', k2, "resources", 's', "cpu=2,mem=1g");
	MK(id, NULL, "us-2", "default", "access_key", 's', k2, "resources", 's', "cpu=1,mem=3g");
	PASS("default", 3, 2, 0);
	EVS("kp-1 scheduled ag1\nkp-2 scheduled ag1\n"
	    "kp-3 failed(predicate-checks-failed) keypair_resource_limit: Your keypair resource quota is exceeded. (cpu=2 "
	    "mem=3g)\n"
	    "us-1 scheduled ag1\n"
	    "us-2 failed(predicate-checks-failed) user_resource_limit: Your main-keypair resource quota is exceeded. (cpu=2 "
	    "mem=3g)");
	/* the main keypair's own sessions: both limits, in order */
	MK(id, &f->u2, "us-3", "default", "resources", 's', "cpu=1,mem=1g");
	PASS("default", 0, 3, 0);
	EVS("us-3 failed(predicate-checks-failed) user_resource_limit: Your main-keypair resource quota is exceeded. "
	    "(cpu=2)");
	assert_string_equal(occ(f, 'u', "u2@x.io"), "1 cpu=2,mem=1073741824");
	rebuild_same(f);
}

/* The keypair's limits cover every slot a candidate asks for, also when the pass met the keypair
 * first through a session it runs, scanned before the candidate (ids in index order), before
 * the candidate's slots were seen: its pending slots name them. */
static void keypair_limits_of_running_keys(void **state)
{
	fx *f = *state;
	agent(f, "ag1", "default", "cpu=8,mem=32g");
	th_fixture(f->s, "policy.create", "name", 's', "nogpu", "gpu", 'i', 0LL, NULL);
	th_fixture(f->s, "keypair.update", "access_key", 's', f->ak1, "policy", 's', "nogpu", NULL);
	char p[40], x[40];
	/* A running session of the key, older, so the live index lists it first (session ids are
	 * time-ordered): the pass meets the key before the candidate that asks for cuda.device. */
	MK(x, &f->u1, "run-0", "default");
	PASS("default", 1, 0, 0);
	MK(p, &f->u1, "gpu-want", "default", "resources", 's', "cpu=1,cuda.device=1");
	assert_true(strcmp(x, p) < 0);
	const char *want = "gpu-want failed(predicate-checks-failed) keypair_resource_limit: Your keypair resource quota is "
			   "exceeded. (cuda.device=0) | user_resource_limit: Your main-keypair resource quota is exceeded. "
			   "(cuda.device=0)";
	evs(f);
	PASS("default", 0, 1, 0);
	assert_non_null(strstr(evs(f), want));
	f->now += 10 * MIN;
	PASS("default", 0, 1, 0);
	EVS(want);
	rebuild_same(f);
}

/* user_group_resource_limit (the project's total_resource_slots) and domain_resource_limit. */
static void project_and_domain_limits(void **state)
{
	fx *f = *state;
	agent(f, "ag1", "default", "cpu=16,mem=64g");
	th_fixture(f->s, "project.update", "name", 's', "vision", "domain", 's', "default", "total_resource_slots", 's', "cpu=2", NULL);
	char id[40];
	MK(id, &f->u1, "grp-1", "default");
	MK(id, &f->u2, "grp-2", "default");
	MK(id, &f->u3, "grp-3", "default");
	PASS("default", 2, 1, 0);
	EVS("grp-1 scheduled ag1\ngrp-2 scheduled ag1\n"
	    "grp-3 failed(predicate-checks-failed) user_group_resource_limit: Your group resource quota is exceeded. (cpu=2)");
	assert_string_equal(occ(f, 'p', f->pid), "2 cpu=2,mem=2147483648");
	th_fixture(f->s, "project.update", "name", 's', "vision", "domain", 's', "default", "total_resource_slots", 's', "", NULL);
	th_fixture(f->s, "domain.update", "name", 's', "default", "total_resource_slots", 's', "cpu=3,mem=100g", NULL);
	MK(id, &f->u1, "grp-4", "default");
	PASS("default", 1, 1, 0);
	EVS("grp-3 scheduled ag1\n"
	    "grp-4 failed(predicate-checks-failed) domain_resource_limit: Your domain resource quota is exceeded. (cpu=3)");
	assert_string_equal(occ(f, 'd', "default"), "3 cpu=3,mem=3221225472");
	rebuild_same(f);
}

/* Every predicate failing at once: all recorded in one event, in the platform's order. */
static void all_predicates_together(void **state)
{
	fx *f = *state;
	agent(f, "ag1", "default", "cpu=16,mem=64g");
	th_fixture(f->s, "policy.create", "name", 's', "tight", "cpu", 'i', 1LL, "concurrent_jobs", 'i', 1LL, NULL);
	th_fixture(f->s, "keypair.update", "access_key", 's', f->ak1, "policy", 's', "tight", NULL);
	th_fixture(f->s, "project.update", "name", 's', "vision", "domain", 's', "default", "total_resource_slots", 's', "cpu=1", NULL);
	th_fixture(f->s, "domain.update", "name", 's', "default", "total_resource_slots", 's', "cpu=1", NULL);
	char a[40], b[40], start[40], want[1200];
	MK(a, &f->u1, "all-a", "default");
	PASS("default", 1, 0, 0);
	EVS("all-a scheduled ag1");
	th_fixture(f->s, "policy.update", "name", 's', "tight", "max_pending_session_count", 'i', 0LL, NULL);
	time_text(f->now + HOUR_US, start, sizeof start);
	MK(b, &f->u1, "all-b", "default", "type", 's', "batch", "starts_at", 's', start, "depends_on", 'l', a);
	PASS("default", 0, 1, 0);
	snprintf(want, sizeof want,
		 "all-b failed(predicate-checks-failed) reserved_time: Before start time"
		 " | dependencies: Waiting dependency sessions to finish as success. (%s)"
		 " | concurrency: You cannot run more than 1 concurrent sessions"
		 " | pending_session_count_limit: You cannot create more than 0 pending session(s)."
		 " | keypair_resource_limit: Your keypair resource quota is exceeded. (cpu=1)"
		 " | user_resource_limit: Your main-keypair resource quota is exceeded. (cpu=1)"
		 " | user_group_resource_limit: Your group resource quota is exceeded. (cpu=1)"
		 " | domain_resource_limit: Your domain resource quota is exceeded. (cpu=1)",
		 a);
	EVS(want);
	/* the view keeps them, in order, as {name, msg} */
	const char *fp = sess_json(f, b, "scheduler");
	const char *names[] = {"reserved_time",		   "dependencies",	   "concurrency",
			       "pending_session_count_limit", "keypair_resource_limit", "user_resource_limit",
			       "user_group_resource_limit",  "domain_resource_limit"};
	const char *at = fp;
	for (size_t i = 0; i < 8; i++) {
		char key[80];
		snprintf(key, sizeof key, "{\"name\":\"%s\",\"msg\":", names[i]);
		assert_non_null(at = strstr(at, key));
	}
	rebuild_same(f);
}

/* ---- agents ------------------------------------------------------------------------------------------ */

/* No agent with room, of the architecture, schedulable, ALIVE: no-available-instances. */
static void no_agent(void **state)
{
	fx *f = *state;
	agent(f, "ag1", "default", "cpu=4,mem=16g");
	char big[40], arm[40], big2[40];
	MK(big, &f->u1, "big-1", "default", "resources", 's', "cpu=8");
	MKI(arm, &f->u1, "arm-1", f->arm, "default");
	assert_string_equal(sess_json(f, arm, "architecture"), "\"aarch64\"");
	PASS("default", 0, 2, 0);
	EVS("big-1 " NOROOM(1) "\n"
	    "arm-1 failed(no-available-instances) agent: No agent of architecture aarch64 has room for 1 container(s)");
	/* an agent of that architecture */
	th_fixture(f->s, "agent.heartbeat", "id", 's', "ag-arm", "addr", 's', "10.0.0.2:6001", "arch", 's', "aarch64", "available", 's',
	   "cpu=4,mem=16g", "group", 's', "default", NULL);
	f->now += 10 * MIN;
	PASS("default", 1, 1, 0);
	EVS("big-1 " NOROOM(1) "\narm-1 scheduled ag-arm");
	/* room on an unschedulable agent is no room */
	agent(f, "ag-big", "default", "cpu=16,mem=64g");
	th_fixture(f->s, "agent.set-schedulable", "id", 's', "ag-big", "schedulable", 'b', 0, NULL);
	f->now += 10 * MIN;
	PASS("default", 0, 1, 0);
	EVS("big-1 " NOROOM(1));
	th_fixture(f->s, "agent.set-schedulable", "id", 's', "ag-big", "schedulable", 'b', 1, NULL);
	PASS("default", 1, 0, 0);
	EVS("big-1 scheduled ag-big");
	/* nor on one that is not ALIVE */
	th_fixture(f->s, "agent.terminate", "id", 's', "ag-big", NULL);
	MK(big2, &f->u1, "big-2", "default", "resources", 's', "cpu=8");
	PASS("default", 0, 1, 0);
	EVS("big-2 " NOROOM(1));
	rebuild_same(f);
}

/* A group without an ALIVE agent is not visited: its sessions are neither scheduled nor timed
 * out, and the reply does not list it. */
static void groups_without_alive_agents(void **state)
{
	fx *f = *state;
	agent(f, "ag1", "default", "cpu=4,mem=16g");
	th_fixture(f->s, "rgroup.create", "name", 's', "idle-g", "pending_timeout", 'i', 60LL, NULL);
	th_fixture(f->s, "rgroup.associate", "name", 's', "idle-g", "domain", 's', "default", NULL);
	agent(f, "ag-i", "idle-g", "cpu=4,mem=16g");
	th_fixture(f->s, "agent.terminate", "id", 's', "ag-i", NULL);
	char w[40], d[40];
	MK(w, &f->u1, "wait-1", "idle-g");
	MK(d, &f->u1, "dflt-1", "default");
	f->now += 10 * MIN; /* long past idle-g's pending timeout */
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "scheduler.run", NULL), AL_OK);
	assert_string_equal(th_res_json(&rep, "groups"),
			    "[{\"group\":\"default\",\"scheduler\":\"fifo\",\"scheduled\":1,\"failed\":0,\"cancelled\":0}]");
	al_reply_free(&rep);
	EVS("dflt-1 scheduled ag1");
	assert_string_equal(sess_json(f, w, "status"), "\"PENDING\"");
	assert_string_equal(sess_json(f, w, "scheduler"), "{\"retries\":0,\"last_try\":null,\"failed_predicates\":[]}");
	/* --group of a group without ALIVE agents: nothing */
	PASS("idle-g", 0, 0, 0);
	EVS("");
	/* the agent is back: the pass cancels what waited too long */
	agent(f, "ag-i", "idle-g", "cpu=4,mem=16g");
	PASS(NULL, 0, 0, 1);
	EVS("wait-1 cancelled(pending-timeout)");
	rebuild_same(f);
}

/* ---- orders ------------------------------------------------------------------------------------------- */

/* FIFO: the oldest gets the last free room. */
static void fifo_order(void **state)
{
	fx *f = *state;
	agent(f, "ag1", "default", "cpu=1,mem=16g");
	char a[40], b[40];
	MK(a, &f->u2, "fifo-a", "default");
	MK(b, &f->u1, "fifo-b", "default");
	PASS("default", 1, 1, 0);
	EVS("fifo-a scheduled ag1\nfifo-b " NOROOM(1));
	rebuild_same(f);
}

/* FIFO with retries-to-skip: a session tried that many times goes after the others (the
 * head-of-line rule); with 0 it keeps its place. The same history in two groups. */
static void fifo_retries_to_skip(void **state)
{
	fx *f = *state;
	static const char *const g[] = {"skip0", "skip2"};
	char x[2][40], a[2][40], b[2][40], name[32];
	for (int i = 0; i < 2; i++) {
		th_fixture(f->s, "rgroup.create", "name", 's', g[i], "scheduler", 's', "fifo", "retries_to_skip", 'i', (long long)(2 * i),
		   NULL);
		th_fixture(f->s, "rgroup.associate", "name", 's', g[i], "domain", 's', "default", NULL);
		snprintf(name, sizeof name, "ag-%s", g[i]);
		agent(f, name, g[i], "cpu=1,mem=16g");
	}
	for (int i = 0; i < 2; i++) {
		snprintf(name, sizeof name, "x-%s", g[i]);
		MK(x[i], &f->u3, name, g[i]);
	}
	PASS(NULL, 2, 0, 0);
	EVS("x-skip0 scheduled ag-skip0\nx-skip2 scheduled ag-skip2");
	for (int i = 0; i < 2; i++) {
		snprintf(name, sizeof name, "a-%s", g[i]);
		MK(a[i], &f->u1, name, g[i]);
	}
	for (int k = 0; k < 2; k++) { /* two recorded failures each: ten minutes apart */
		PASS(NULL, 0, 2, 0);
		EVS("a-skip0 " NOROOM(1) "\na-skip2 " NOROOM(1));
		f->now += 10 * MIN;
	}
	assert_int_equal(strncmp(sess_json(f, a[1], "scheduler"), "{\"retries\":2,", 13), 0);
	for (int i = 0; i < 2; i++) {
		snprintf(name, sizeof name, "b-%s", g[i]);
		MK(b[i], &f->u2, name, g[i]);
		th_fixture(f->s, "session.terminate", "id", 's', x[i], "forced", 'b', 1, NULL);
	}
	evs(f);
	PASS(NULL, 2, 2, 0);
	EVS("a-skip0 scheduled ag-skip0\nb-skip0 " NOROOM(1) "\nb-skip2 scheduled ag-skip2\na-skip2 " NOROOM(1));
	assert_int_equal(strncmp(sess_json(f, a[1], "scheduler"), "{\"retries\":3,", 13), 0);
	rebuild_same(f);
}

/* LIFO: the newest first. */
static void lifo_order(void **state)
{
	fx *f = *state;
	th_fixture(f->s, "rgroup.create", "name", 's', "lifo-g", "scheduler", 's', "lifo", NULL);
	th_fixture(f->s, "rgroup.associate", "name", 's', "lifo-g", "domain", 's', "default", NULL);
	agent(f, "ag1", "lifo-g", "cpu=1,mem=16g");
	char a[40], b[40], c[40];
	MK(a, &f->u1, "lifo-a", "lifo-g");
	MK(b, &f->u2, "lifo-b", "lifo-g");
	MK(c, &f->u3, "lifo-c", "lifo-g");
	PASS("lifo-g", 1, 2, 0);
	EVS("lifo-c scheduled ag1\nlifo-b " NOROOM(1) "\nlifo-a " NOROOM(1));
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "session.get", "id", 's', c, NULL), AL_OK);
	assert_string_equal(th_res_json(&rep, "status"), "\"SCHEDULED\"");
	al_reply_free(&rep);
	rebuild_same(f);
}

/* DRF against a hand-computed example. Group capacity cpu 8, mem 100g (one agent). Holding:
 *   u1's key: one session cpu 2, mem 1g          -> shares cpu 2/8 = .25, mem .01: dominant .25
 *   u2's key: three sessions cpu 1, mem 1g each  -> cpu 3/8 = .375, mem .03: dominant .375
 *   u3's key: one session cpu 2, mem 60g         -> cpu .25, mem .6: dominant .6
 * one cpu free. Pending, oldest first: u3's, u2's, u1's (cpu 1 each). The smallest dominant
 * share is u1's (.25), so its session, the newest, gets the free cpu; then u2's (.375) and u3's
 * (.6) are tried and fail. (The platform's max over single sessions would give u2 .125 and
 * pick u2's.) */
static void drf_order(void **state)
{
	fx *f = *state;
	th_fixture(f->s, "rgroup.create", "name", 's', "drf-g", "scheduler", 's', "drf", NULL);
	th_fixture(f->s, "rgroup.associate", "name", 's', "drf-g", "domain", 's', "default", NULL);
	agent(f, "ag1", "drf-g", "cpu=8,mem=100g");
	char id[40];
	MK(id, &f->u1, "hold-1a", "drf-g", "resources", 's', "cpu=2,mem=1g");
	MK(id, &f->u2, "hold-2a", "drf-g", "resources", 's', "cpu=1,mem=1g");
	MK(id, &f->u2, "hold-2b", "drf-g", "resources", 's', "cpu=1,mem=1g");
	MK(id, &f->u2, "hold-2c", "drf-g", "resources", 's', "cpu=1,mem=1g");
	MK(id, &f->u3, "hold-3a", "drf-g", "resources", 's', "cpu=2,mem=60g");
	PASS("drf-g", 5, 0, 0);
	evs(f);
	assert_string_equal(occ(f, 'a', "ag1"), "5 cpu=7,mem=68719476736");
	char p1[40], p2[40], p3[40];
	MK(p3, &f->u3, "drf-p3", "drf-g", "resources", 's', "cpu=1,mem=1g");
	MK(p2, &f->u2, "drf-p2", "drf-g", "resources", 's', "cpu=1,mem=1g");
	MK(p1, &f->u1, "drf-p1", "drf-g", "resources", 's', "cpu=1,mem=1g");
	PASS("drf-g", 1, 2, 0);
	EVS("drf-p1 scheduled ag1\ndrf-p2 " NOROOM(1) "\ndrf-p3 " NOROOM(1));
	rebuild_same(f);
}

/* ---- agent choice and placement ------------------------------------------------------------------------ */

/* dispersed (the default): most remaining; concentrated: least; either way an agent without
 * accelerators the session does not ask for first. */
static void agent_selection(void **state)
{
	fx *f = *state;
	agent(f, "ag-small", "default", "cpu=4,mem=64g");
	agent(f, "ag-big", "default", "cpu=8,mem=64g");
	agent(f, "ag-gpu", "default", "cpu=32,mem=64g,cuda.device=2");
	char id[40];
	MK(id, &f->u1, "sel-1", "default");
	PASS("default", 1, 0, 0);
	EVS("sel-1 scheduled ag-big");
	th_fixture(f->s, "settings.set", "key", 's', "agent-selection", "value", 'l', "concentrated", NULL);
	MK(id, &f->u1, "sel-2", "default");
	PASS("default", 1, 0, 0);
	EVS("sel-2 scheduled ag-small");
	MK(id, &f->u1, "sel-3", "default", "resources", 's', "cpu=1,cuda.device=1");
	PASS("default", 1, 0, 0);
	EVS("sel-3 scheduled ag-gpu");
	/* concentrated: ag-small has 3 left, ag-big 7: 3 cpus go on ag-small */
	MK(id, &f->u1, "sel-4", "default", "resources", 's', "cpu=3");
	PASS("default", 1, 0, 0);
	EVS("sel-4 scheduled ag-small");
	th_fixture(f->s, "settings.set", "key", 's', "agent-selection", "value", 'l', "dispersed", NULL);
	MK(id, &f->u1, "sel-5", "default", "resources", 's', "cpu=1");
	PASS("default", 1, 0, 0);
	EVS("sel-5 scheduled ag-big");
	rebuild_same(f);
}

/* A multi-node session's containers each where there is room; a single-node one needs one agent
 * with room for all of them. */
static void multi_and_single_node(void **state)
{
	fx *f = *state;
	agent(f, "ag1", "default", "cpu=3,mem=64g");
	agent(f, "ag2", "default", "cpu=3,mem=64g");
	char sn[40], mn[40];
	MK(sn, &f->u1, "single-1", "default", "cluster_size", 'i', 2LL, "resources", 's', "cpu=2,mem=1g");
	MK(mn, &f->u1, "multi-1", "default", "cluster_mode", 's', "multi-node", "cluster_size", 'i', 2LL, "resources", 's',
	   "cpu=2,mem=1g");
	PASS("default", 1, 1, 0);
	EVS("single-1 " NOROOM(2) "\nmulti-1 scheduled ag1,ag2");
	assert_string_equal(sess_json(f, mn, "occupied"), "{\"cpu\":4,\"mem\":2147483648}");
	assert_string_equal(occ(f, 'a', "ag1"), "1 cpu=2,mem=1073741824");
	assert_string_equal(occ(f, 'a', "ag2"), "1 cpu=2,mem=1073741824");
	assert_string_equal(occ(f, 'k', f->ak1), "1 cpu=4,mem=2147483648 pending 1");
	/* three containers of one cpu on ag1 (4 cpus) and ag2 (3): ag1 has most cpus left, then
	 * the cpus tie and ag2 has more mem left, then ag1 has more cpus left again */
	th_fixture(f->s, "session.terminate", "id", 's', mn, "forced", 'b', 1, NULL);
	th_fixture(f->s, "session.terminate", "id", 's', sn, NULL);
	agent(f, "ag1", "default", "cpu=4,mem=64g");
	MK(mn, &f->u1, "multi-2", "default", "cluster_mode", 's', "multi-node", "cluster_size", 'i', 3LL, "resources", 's',
	   "cpu=1,mem=1g");
	evs(f);
	PASS("default", 1, 0, 0);
	EVS("multi-2 scheduled ag1,ag2,ag1");
	assert_string_equal(occ(f, 'a', "ag1"), "1 cpu=2,mem=2147483648");
	assert_string_equal(occ(f, 'a', "ag2"), "1 cpu=1,mem=1073741824");
	/* single-node: all its containers on one agent (2 cpus left on each, ag2 more mem) */
	MK(sn, &f->u1, "single-2", "default", "cluster_size", 'i', 2LL, "resources", 's', "cpu=1,mem=1g");
	PASS("default", 1, 0, 0);
	EVS("single-2 scheduled ag2,ag2");
	assert_string_equal(occ(f, 'a', "ag2"), "2 cpu=3,mem=3221225472");
	rebuild_same(f);
}

/* A multi-node session whose last container finds no room takes nothing: the candidates
 * after it see every agent as it was. */
static void multi_node_all_or_nothing(void **state)
{
	fx *f = *state;
	agent(f, "ag1", "default", "cpu=3,mem=64g");
	agent(f, "ag2", "default", "cpu=3,mem=64g");
	char m[40], a[40], b[40];
	MK(m, &f->u1, "multi-3", "default", "cluster_mode", 's', "multi-node", "cluster_size", 'i', 3LL, "resources", 's',
	   "cpu=2,mem=1g");
	MK(a, &f->u2, "after-a", "default", "resources", 's', "cpu=3,mem=1g");
	MK(b, &f->u3, "after-b", "default", "resources", 's', "cpu=3,mem=1g");
	PASS("default", 2, 1, 0);
	EVS("multi-3 " NOROOM(3) "\nafter-a scheduled ag1\nafter-b scheduled ag2");
	assert_string_equal(occ(f, 'k', f->ak1), "0  pending 1");
	rebuild_same(f);
}

/* ---- pending timeout, occupancy, quieting ------------------------------------------------------------- */

/* A session PENDING longer than its group's pending_timeout is cancelled (pending-timeout) and
 * its keypair's pending count goes down. */
static void pending_timeout(void **state)
{
	fx *f = *state;
	th_fixture(f->s, "rgroup.create", "name", 's', "pt-g", "pending_timeout", 'i', 60LL, NULL);
	th_fixture(f->s, "rgroup.associate", "name", 's', "pt-g", "domain", 's', "default", NULL);
	agent(f, "ag1", "pt-g", "cpu=1,mem=16g");
	char hog[40], w[40];
	MK(hog, &f->u2, "pt-hog", "pt-g");
	MK(w, &f->u1, "pt-wait", "pt-g");
	PASS("pt-g", 1, 1, 0);
	EVS("pt-hog scheduled ag1\npt-wait " NOROOM(1));
	assert_string_equal(occ(f, 'k', f->ak1), "0  pending 1");
	f->now += 59 * SEC; /* a second before its timeout */
	PASS("pt-g", 0, 1, 0);
	EVS("");
	f->now += SEC;
	PASS("pt-g", 0, 0, 1);
	EVS("pt-wait cancelled(pending-timeout)");
	assert_string_equal(sess_json(f, w, "status"), "\"CANCELLED\"");
	assert_string_equal(sess_json(f, w, "status_info"), "\"pending-timeout\"");
	assert_string_not_equal(sess_json(f, w, "terminated_at"), "null");
	assert_string_equal(occ(f, 'k', f->ak1), "0 ");
	/* a scheduled session is not timed out */
	f->now += HOUR_US;
	PASS("pt-g", 0, 0, 0);
	assert_string_equal(sess_json(f, hog, "status"), "\"SCHEDULED\"");
	rebuild_same(f);
}

/* What a scheduled session holds: its agent's share until TERMINATED, its owner's (keypair,
 * user, project, domain) until TERMINATING; fractional shares add and go back to exactly 0. */
static void occupancy(void **state)
{
	fx *f = *state;
	agent(f, "ag1", "default", "cpu=8,mem=32g,cuda.shares=1");
	char o[40];
	MK(o, &f->u1, "occ-1", "default", "resources", 's', "cpu=1,mem=1g,cuda.shares=0.1");
	assert_string_equal(occ(f, 'k', f->ak1), "0  pending 1");
	assert_string_equal(occ(f, 'a', "ag1"), "0 ");
	PASS("default", 1, 0, 0);
	const char *held = "1 cpu=1,cuda.shares=0.1,mem=1073741824";
	assert_string_equal(occ(f, 'a', "ag1"), held);
	assert_string_equal(occ(f, 'k', f->ak1), held);
	assert_string_equal(occ(f, 'u', "u1@x.io"), held);
	assert_string_equal(occ(f, 'p', f->pid), held);
	assert_string_equal(occ(f, 'd', "default"), held);
	assert_string_equal(occ(f, 'k', f->ak2), "0 ");
	report(f, o, "PREPARING", -1);
	report(f, o, "RUNNING", -1);
	assert_string_equal(occ(f, 'k', f->ak1), held);
	TH_OK(f->s, &f->u1, 1, NULL, "session.terminate", "id", 's', o, NULL); /* RUNNING: TERMINATING */
	assert_string_equal(sess_json(f, o, "status"), "\"TERMINATING\"");
	assert_string_equal(occ(f, 'a', "ag1"), held);
	assert_string_equal(occ(f, 'k', f->ak1), "0 ");
	assert_string_equal(occ(f, 'u', "u1@x.io"), "0 ");
	assert_string_equal(occ(f, 'p', f->pid), "0 ");
	assert_string_equal(occ(f, 'd', "default"), "0 ");
	report(f, o, "TERMINATED", 0);
	assert_string_equal(occ(f, 'a', "ag1"), "0 ");
	/* 0.1 three times, and back */
	char s[3][40];
	MK(s[0], &f->u1, "frac-1", "default", "resources", 's', "cpu=1,mem=1g,cuda.shares=0.1");
	MK(s[1], &f->u2, "frac-2", "default", "resources", 's', "cpu=1,mem=1g,cuda.shares=0.1");
	MK(s[2], &f->u1, "frac-3", "default", "resources", 's', "cpu=1,mem=1g,cuda.shares=0.1");
	PASS("default", 3, 0, 0);
	assert_string_equal(occ(f, 'a', "ag1"), "3 cpu=3,cuda.shares=0.3,mem=3221225472");
	assert_string_equal(occ(f, 'k', f->ak1), "2 cpu=2,cuda.shares=0.2,mem=2147483648");
	assert_string_equal(occ(f, 'd', "default"), "3 cpu=3,cuda.shares=0.3,mem=3221225472");
	th_fixture(f->s, "session.terminate", "id", 's', s[0], "forced", 'b', 1, NULL);
	assert_string_equal(occ(f, 'a', "ag1"), "2 cpu=2,cuda.shares=0.2,mem=2147483648");
	report(f, s[1], "ERROR", -1);
	report(f, s[1], "TERMINATED", -1);
	assert_string_equal(occ(f, 'a', "ag1"), "1 cpu=1,cuda.shares=0.1,mem=1073741824");
	th_fixture(f->s, "session.terminate", "id", 's', s[2], "forced", 'b', 1, NULL);
	assert_string_equal(occ(f, 'a', "ag1"), "0 ");
	assert_string_equal(occ(f, 'k', f->ak1), "0 ");
	assert_string_equal(occ(f, 'u', "u2@x.io"), "0 ");
	assert_string_equal(occ(f, 'p', f->pid), "0 ");
	assert_string_equal(occ(f, 'd', "default"), "0 ");
	rebuild_same(f);
}

/* The same failure again within ten minutes of the last recorded one is not recorded (nor
 * counted as a retry); at ten minutes it is; a different one is at once. */
static void same_failure_quiet(void **state)
{
	fx *f = *state;
	agent(f, "ag1", "default", "cpu=1,mem=16g");
	char q[40];
	MK(q, &f->u1, "quiet-1", "default", "resources", 's', "cpu=2");
	PASS("default", 0, 1, 0);
	EVS("quiet-1 " NOROOM(1));
	int64_t first = f->now;
	f->now = first + 5 * MIN;
	PASS("default", 0, 1, 0);
	EVS("");
	f->now = first + 10 * MIN - 1;
	PASS("default", 0, 1, 0);
	EVS("");
	assert_int_equal(strncmp(sess_json(f, q, "scheduler"), "{\"retries\":1,", 13), 0);
	f->now = first + 10 * MIN;
	PASS("default", 0, 1, 0);
	EVS("quiet-1 " NOROOM(1));
	assert_int_equal(strncmp(sess_json(f, q, "scheduler"), "{\"retries\":2,", 13), 0);
	/* another failure: recorded at once */
	th_fixture(f->s, "policy.create", "name", 's', "one-cpu", "cpu", 'i', 1LL, NULL);
	th_fixture(f->s, "keypair.update", "access_key", 's', f->ak1, "policy", 's', "one-cpu", NULL);
	f->now += MIN;
	PASS("default", 0, 1, 0);
	EVS("quiet-1 failed(predicate-checks-failed) keypair_resource_limit: Your keypair resource quota is exceeded. (cpu=1) | "
	    "user_resource_limit: Your main-keypair resource quota is exceeded. (cpu=1)");
	assert_int_equal(strncmp(sess_json(f, q, "scheduler"), "{\"retries\":3,", 13), 0);
	f->now += MIN;
	PASS("default", 0, 1, 0);
	EVS("");
	rebuild_same(f);
}

/* Rebuild and as-of after a mix of passes in groups of all three schedulers. */
/* A pass of a group that does not exist is refused and records nothing; a retried request id
 * is answered from the first pass, not run again (a session enqueued since stays PENDING). */
static void unknown_group_and_replayed_request(void **state)
{
	fx *f = *state;
	agent(f, "ag1", "default", "cpu=8,mem=32g");
	char a[40], b[40];
	MK(a, &f->u1, "rq-a", "default");
	uint64_t head = al_log_head(f->s);
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "scheduler.run", "group", 's', "no-such-group", NULL), AL_EINVALID_ARGUMENT);
	assert_non_null(strstr(rep.err.msg, "no resource group no-such-group"));
	al_reply_free(&rep);
	assert_int_equal(al_log_head(f->s), head);
	assert_int_equal(th_exec(f->s, &rep, "scheduler.run", "request_id", 's', "pass-1", NULL), AL_OK);
	uint64_t first = rep.first_seq;
	assert_int_equal(rep.last_seq - rep.first_seq + 1, 1); /* rq-a scheduled */
	assert_int_equal(rep.replayed, 0);
	al_reply_free(&rep);
	MK(b, &f->u1, "rq-b", "default");
	head = al_log_head(f->s);
	assert_int_equal(th_exec(f->s, &rep, "scheduler.run", "request_id", 's', "pass-1", NULL), AL_OK);
	assert_int_equal(rep.replayed, 1);
	assert_int_equal(rep.first_seq, first);
	al_reply_free(&rep);
	assert_int_equal(al_log_head(f->s), head);
	assert_int_equal(th_exec(f->s, &rep, "session.get", "id", 's', b, NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "PENDING");
	al_reply_free(&rep);
}

static void rebuild_after_mix(void **state)
{
	fx *f = *state;
	static const char *const g[] = {"mix-fifo", "mix-lifo", "mix-drf"};
	for (int i = 0; i < 3; i++) {
		th_fixture(f->s, "rgroup.create", "name", 's', g[i], "scheduler", 's', g[i] + 4, "pending_timeout", 'i', 1800LL, NULL);
		th_fixture(f->s, "rgroup.associate", "name", 's', g[i], "domain", 's', "default", NULL);
		char name[32];
		snprintf(name, sizeof name, "ag-%d", i);
		agent(f, name, g[i], "cpu=3,mem=8g,cuda.shares=1");
	}
	const th_actor *who[] = {&f->u1, &f->u2, &f->u3};
	static const char *const res[] = {"cpu=1,mem=1g", "cpu=1,mem=2g,cuda.shares=0.3", "cpu=2,mem=1g"};
	char ids[24][40];
	uint64_t mid = 0;
	char at_mid[33] = "";
	for (int k = 0; k < 24; k++) {
		char name[32];
		snprintf(name, sizeof name, "mix-%02d", k);
		MK(ids[k], who[k % 3], name, g[k % 3], "resources", 's', res[k / 3 % 3]);
		if (k % 4 == 3) {
			f->now += 7 * MIN;
			PASS_ANY(f);
		}
		if (k % 6 == 5) { /* something ends */
			char st[20];
			snprintf(st, sizeof st, "%s", sess_json(f, ids[k - 5], "status"));
			if (strcmp(st, "\"SCHEDULED\"") == 0)
				th_fixture(f->s, "session.terminate", "id", 's', ids[k - 5], "forced", 'b', 1, NULL);
		}
		if (k == 12) {
			mid = al_log_head(f->s);
			th_digest(f->s, at_mid);
		}
	}
	f->now += HOUR_US; /* timeouts */
	PASS_ANY(f);
	al_log_filter lf = {.type = "session.scheduled"};
	int n = 0;
	al_error err;
	assert_int_equal(al_log_query(f->s, &lf, count_one, &n, &err), AL_OK);
	assert_true(n >= 6);
	lf.type = "session.scheduling_failed", n = 0;
	assert_int_equal(al_log_query(f->s, &lf, count_one, &n, &err), AL_OK);
	assert_true(n >= 3);
	lf.type = "session.cancelled", n = 0;
	assert_int_equal(al_log_query(f->s, &lf, count_one, &n, &err), AL_OK);
	assert_true(n >= 1);
	rebuild_same(f);
	al_store *past;
	assert_int_equal(al_store_asof(f->s, mid, &past, &err), AL_OK);
	char then[33];
	th_digest(past, then);
	al_store_close(past);
	assert_string_equal(then, at_mid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(reserved_time, setup, teardown),
		cmocka_unit_test_setup_teardown(dependencies, setup, teardown),
		cmocka_unit_test_setup_teardown(concurrency, setup, teardown),
		cmocka_unit_test_setup_teardown(concurrency_across_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(system_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(system_sessions_counted_apart, setup, teardown),
		cmocka_unit_test_setup_teardown(pending_count, setup, teardown),
		cmocka_unit_test_setup_teardown(keypair_and_user_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(keypair_limits_of_running_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(project_and_domain_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(all_predicates_together, setup, teardown),
		cmocka_unit_test_setup_teardown(no_agent, setup, teardown),
		cmocka_unit_test_setup_teardown(groups_without_alive_agents, setup, teardown),
		cmocka_unit_test_setup_teardown(fifo_order, setup, teardown),
		cmocka_unit_test_setup_teardown(fifo_retries_to_skip, setup, teardown),
		cmocka_unit_test_setup_teardown(lifo_order, setup, teardown),
		cmocka_unit_test_setup_teardown(drf_order, setup, teardown),
		cmocka_unit_test_setup_teardown(agent_selection, setup, teardown),
		cmocka_unit_test_setup_teardown(multi_and_single_node, setup, teardown),
		cmocka_unit_test_setup_teardown(multi_node_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(pending_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(occupancy, setup, teardown),
		cmocka_unit_test_setup_teardown(same_failure_quiet, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_group_and_replayed_request, setup, teardown),
		cmocka_unit_test_setup_teardown(rebuild_after_mix, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
