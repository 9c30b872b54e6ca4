/*
 * test_session_timeouts.c - the session timeouts (issue 12): session.expire with the store's
 * clock under control, for each of the platform's reasons, each exactly at its limit and not
 * a microsecond before: the keypair policy's session lifetime (idle-session-lifetime, counted
 * from creation), its idle timeout (idle-timeout, counted from the start or the last activity
 * session.touch recorded), a batch session's batch_timeout (task-timeout), and the hang
 * tolerances of PREPARING and TERMINATING (hang-timeout, forced TERMINATED); inference sessions
 * exempt from lifetime and idle, batch sessions from idle; a check that finds nothing records
 * nothing. session.touch: recorded only when the recorded activity is a minute old, refused
 * outside the running statuses. Rebuild and as-of equal live.
 *
 * Sessions reach RUNNING by session.report PENDING -> SCHEDULED -> PREPARING -> RUNNING (the
 * scheduler places them later). Images come from the stub registry of registry_test.h.
 */
#include "registry_test.h"

#include "helpers.h"
#include "util/codec.h"

#define SEC 1000000LL
#define MIN (60 * SEC)
#define HOUR (3600 * SEC)

typedef struct fx {
	TH_FX_HEAD;
	int64_t now; /* the store's clock, µs */
	stub st;
	char host[64], plain[200], infer[200], sys[200];
	rt_image ims[3];
	char *labels[3];
	char k_life[32], k_idle[32], k_both[32], k_none[32]; /* keypairs of u@x.io by policy */
	th_actor u;
} fx;

static int64_t fake_clock(void *ctx) { return ((fx *)ctx)->now; }

static void new_key(al_store *s, const char *policy, char *out)
{
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "keypair.create", "user", 's', "u@x.io", "policy", 's', policy, NULL), AL_OK);
	snprintf(out, 32, "%s", th_res_str(&rep, "access_key"));
	al_reply_free(&rep);
}

static void put_images(fx *f)
{
	stub *st = &f->st;
	f->labels[0] = rt_labels(NULL);
	f->labels[1] = rt_labels(",\"ai.backend.role\":\"INFERENCE\",\"ai.backend.endpoint-ports\":\"api\","
				 "\"ai.backend.model-path\":\"/models\",\"ai.backend.model-format\":\"onnx\","
				 "\"ai.backend.service-ports\":\"api:preopen:8000\"");
	f->labels[2] = rt_labels(",\"ai.backend.role\":\"SYSTEM\"");
	rt_image_make(&f->ims[0], "amd64", f->labels[0], "plain");
	rt_image_make(&f->ims[1], "amd64", f->labels[1], "infer");
	rt_image_make(&f->ims[2], "amd64", f->labels[2], "sys");
	stub_put_image(st, "stable/plain", "1", &f->ims[0]);
	stub_put_image(st, "stable/infer", "1", &f->ims[1]);
	stub_put_image(st, "stable/sys", "1", &f->ims[2]);
	stub_tags(st, "stable/plain", "[\"1\"]");
	stub_tags(st, "stable/infer", "[\"1\"]");
	stub_tags(st, "stable/sys", "[\"1\"]");
	const char *cat = "{\"repositories\":[\"stable/plain\",\"stable/infer\",\"stable/sys\"]}";
	stub_add(st, "/v2/_catalog", 200, NULL, cat, strlen(cat));
	snprintf(f->host, sizeof f->host, "127.0.0.1:%d", st->port);
	snprintf(f->plain, sizeof f->plain, "%s/stable/plain:1", f->host);
	snprintf(f->infer, sizeof f->infer, "%s/stable/infer:1", f->host);
	snprintf(f->sys, sizeof f->sys, "%s/stable/sys:1", f->host);
}

/* User u@x.io of domain default, a member of project vision, with a keypair under each of the
 * keypair policies life (session_lifetime 1 h), idle (idle_timeout 10 min), both (the two) and
 * none (the unlimited default); resource group all takes every session type. */
static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	if (f == NULL || stub_start(&f->st) != 0)
		return -1;
	f->now = al_clock_real(NULL) + HOUR; /* after the bootstrap's events */
	al_store_set_clock(f->s, fake_clock, f);
	put_images(f);
	al_store *s = f->s;
	char url[80];
	snprintf(url, sizeof url, "http://%s", f->host);
	th_fixture(s, "registry.create", "hostname", 's', f->host, "url", 's', url, NULL);
	th_fixture(s, "image.rescan", NULL);
	th_fixture(s, "domain.update", "name", 's', "default", "allowed_registries", 'l', f->host, NULL);
	th_fixture(s, "rgroup.create", "name", 's', "all", "allowed_session_types", 'l', "interactive,batch,inference,system", NULL);
	th_fixture(s, "rgroup.associate", "name", 's', "all", "domain", 's', "default", NULL);
	th_fixture(s, "agent.heartbeat", "id", 's', "ag1", "addr", 's', "10.0.0.1:6001", "available", 's', "cpu=64,mem=256g",
	   "group", 's', "all", NULL);
	assert_int_equal(th_user(s, "u@x.io", "default", "user"), AL_OK);
	assert_int_equal(th_as(s, "u@x.io", &f->u), AL_OK);
	th_fixture(s, "project.create", "name", 's', "vision", "domain", 's', "default", NULL);
	th_fixture(s, "project.add-member", "name", 's', "vision", "domain", 's', "default", "users", 'l', "u@x.io", NULL);
	th_fixture(s, "policy.create", "name", 's', "life", "session_lifetime", 'i', 3600LL, NULL);
	th_fixture(s, "policy.create", "name", 's', "idle", "idle_timeout", 'i', 600LL, NULL);
	th_fixture(s, "policy.create", "name", 's', "both", "session_lifetime", 'i', 3600LL, "idle_timeout", 'i', 600LL, NULL);
	new_key(s, "life", f->k_life);
	new_key(s, "idle", f->k_idle);
	new_key(s, "both", f->k_both);
	new_key(s, "default", f->k_none);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	stub_stop(&f->st);
	for (int i = 0; i < 3; i++) {
		rt_image_free(&f->ims[i]);
		free(f->labels[i]);
	}
	th_fx_free(f);
	return 0;
}

/* ---- helpers ---------------------------------------------------------------------------------- */

#define REFUSE_HAS(s, who, code, field, has, ...) \
	th_refuse_at(__FILE__, __LINE__, s, th_who(who), code, field, has, __VA_ARGS__)

/* A PENDING session named name of type on image under keypair ak (batch: with batch_timeout
 * when > 0); its id into id. */
static void create(fx *f, const char *name, const char *type, const char *image, const char *ak, long long batch_timeout,
		   char id[40])
{
	al_reply rep;
	if (batch_timeout > 0)
		TH_OK(f->s, NULL, 1, &rep, "session.create", "name", 's', name, "image", 's', image, "group", 's', "all",
		      "project", 's', "vision", "type", 's', type, "access_key", 's', ak, "batch_timeout", 'i', batch_timeout,
		      NULL);
	else
		TH_OK(f->s, NULL, 1, &rep, "session.create", "name", 's', name, "image", 's', image, "group", 's', "all",
		      "project", 's', "vision", "type", 's', type, "access_key", 's', ak, NULL);
	snprintf(id, 40, "%s", th_res_str(&rep, "id"));
	al_reply_free(&rep);
}

/* An agent's report of status; SCHEDULED comes from a scheduling pass (the fixture's agent
 * has room for every session), which must have placed the session. */
/* A PENDING session no agent has room for: it stays PENDING through the passes. */
static void create_stuck(fx *f, const char *name, const char *ak, char id[40])
{
	al_reply rep;
	TH_OK(f->s, NULL, 1, &rep, "session.create", "name", 's', name, "image", 's', f->plain, "group", 's', "all",
	      "project", 's', "vision", "access_key", 's', ak, "resources", 's', "cpu=1000", NULL);
	snprintf(id, 40, "%s", th_res_str(&rep, "id"));
	al_reply_free(&rep);
}

static void report(fx *f, const char *id, const char *status)
{
	if (strcmp(status, "SCHEDULED") != 0) {
		TH_OK(f->s, NULL, 1, NULL, "session.report", "id", 's', id, "status", 's', status, NULL);
		return;
	}
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "scheduler.run", "group", 's', "all", NULL), AL_OK);
	al_reply_free(&rep);
	assert_int_equal(th_exec(f->s, &rep, "session.get", "id", 's', id, NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "SCHEDULED");
	al_reply_free(&rep);
}

/* PENDING -> SCHEDULED -> PREPARING -> RUNNING, all at the clock's time. */
static void run(fx *f, const char *id)
{
	report(f, id, "SCHEDULED");
	report(f, id, "PREPARING");
	report(f, id, "RUNNING");
}

/* Runs session.expire at the clock's time and asserts it ended exactly the sessions of want,
 * "id from>to reason;" each in the walk's order ("" for none), with one event each. */
static void expire_at(const char *file, int line, fx *f, const char *want)
{
	uint64_t head = al_log_head(f->s);
	th_result r;
	th_run_ok_at(file, line, &r, f->s, NULL, "session.expire", NULL);
	const msgpack_object *l = al_mp_get(&r.o, "expired");
	char got[1024] = "";
	size_t n = 0;
	for (uint32_t i = 0; l && i < l->via.array.size; i++) {
		const msgpack_object *x = &l->via.array.ptr[i];
		al_str id = {"", 0}, from = {"", 0}, to = {"", 0}, why = {"", 0};
		al_mp_str(x, "id", &id), al_mp_str(x, "from", &from), al_mp_str(x, "to", &to), al_mp_str(x, "reason", &why);
		n += (size_t)snprintf(got + n, sizeof got - n, "%.*s %.*s>%.*s %.*s;", (int)id.n, id.p, (int)from.n, from.p,
				      (int)to.n, to.p, (int)why.n, why.p);
	}
	if (strcmp(got, want) != 0)
		fail_msg("%s:%d: session.expire ended \"%s\", expected \"%s\"", file, line, got, want);
	if (al_log_head(f->s) - head != (l ? l->via.array.size : 0))
		fail_msg("%s:%d: session.expire appended %llu events for %u sessions", file, line,
			 (unsigned long long)(al_log_head(f->s) - head), l ? l->via.array.size : 0);
	th_result_free(&r);
}
#define EXPIRE(f, want) expire_at(__FILE__, __LINE__, f, want)

/* "id from>to reason;" for one expected session. */
static const char *ended(const char *id, const char *from, const char *to, const char *reason)
{
	static char buf[4][256];
	static int k;
	char *b = buf[k++ % 4];
	snprintf(b, 256, "%s %s>%s %s;", id, from, to, reason);
	return b;
}

/* The k strings of ended() joined in the walk's order, which is the ids' (one group, and a
 * string of ended() starts with the id). In a static buffer. */
static const char *in_order(int k, ...)
{
	static char out[1024];
	const char *v[8];
	va_list ap;
	va_start(ap, k);
	for (int i = 0; i < k && i < 8; i++)
		v[i] = va_arg(ap, const char *);
	va_end(ap);
	for (int i = 0; i < k; i++)
		for (int j = i + 1; j < k; j++)
			if (strcmp(v[j], v[i]) < 0) {
				const char *x = v[i];
				v[i] = v[j], v[j] = x;
			}
	size_t n = 0;
	out[0] = 0;
	for (int i = 0; i < k; i++)
		n += (size_t)snprintf(out + n, sizeof out - n, "%s", v[i]);
	return out;
}

/* A session's status and status_info as "STATUS info". */
static const char *state_of(fx *f, const char *id)
{
	static char buf[128];
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "session.get", "id", 's', id, NULL), AL_OK);
	size_t n = (size_t)snprintf(buf, sizeof buf, "%s ", th_res_str(&rep, "status")); /* one static buffer */
	snprintf(buf + n, sizeof buf - n, "%s", th_res_str(&rep, "status_info"));
	al_reply_free(&rep);
	return buf;
}

/* The newest event: its type, actor and fields as "k=v,..." (strings, booleans, integers). */
typedef struct last_ev {
	char type[64], actor[64], fields[512];
} last_ev;

static int last_cb(const al_event *e, void *ctx)
{
	last_ev *l = ctx;
	size_t n = 0;
	snprintf(l->type, sizeof l->type, "%s", e->def->name);
	snprintf(l->actor, sizeof l->actor, "%.*s", (int)e->actor.n, e->actor.p);
	l->fields[0] = 0;
	for (uint32_t i = 0; i < e->fields.via.map.size; i++) {
		const msgpack_object *k = &e->fields.via.map.ptr[i].key, *v = &e->fields.via.map.ptr[i].val;
		n += (size_t)snprintf(l->fields + n, sizeof l->fields - n, "%s%.*s=", i ? "," : "", (int)k->via.str.size,
				      k->via.str.ptr);
		if (v->type == MSGPACK_OBJECT_STR)
			n += (size_t)snprintf(l->fields + n, sizeof l->fields - n, "%.*s", (int)v->via.str.size, v->via.str.ptr);
		else if (v->type == MSGPACK_OBJECT_BOOLEAN)
			n += (size_t)snprintf(l->fields + n, sizeof l->fields - n, "%s", v->via.boolean ? "true" : "false");
		else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			n += (size_t)snprintf(l->fields + n, sizeof l->fields - n, "%llu", (unsigned long long)v->via.u64);
	}
	return 0;
}

static last_ev last_event(al_store *s)
{
	last_ev l = {{0}};
	al_log_filter flt = {.after_seq = al_log_head(s) - 1};
	al_error err = {0};
	assert_int_equal(al_log_query(s, &flt, last_cb, &l, &err), AL_OK);
	return l;
}

/* session.touch at the clock's time: whether it recorded, asserted against want, with the
 * events it appended (one or none). */
static void touch(const char *file, int line, fx *f, const char *id, bool want)
{
	th_result r;
	uint64_t head = al_log_head(f->s);
	th_run_ok_at(file, line, &r, f->s, NULL, "session.touch", "id", 's', id, NULL);
	const msgpack_object *rec = al_mp_get(&r.o, "recorded");
	if (rec == NULL || rec->type != MSGPACK_OBJECT_BOOLEAN || rec->via.boolean != want)
		fail_msg("%s:%d: session.touch: recorded should be %s", file, line, want ? "true" : "false");
	if (al_log_head(f->s) - head != (want ? 1u : 0u))
		fail_msg("%s:%d: session.touch appended %llu events", file, line, (unsigned long long)(al_log_head(f->s) - head));
	th_result_free(&r);
}
#define TOUCH(f, id, want) touch(__FILE__, __LINE__, f, id, want)

/* The session's last_activity as get shows it, or "null". */
static const char *last_activity(fx *f, const char *id)
{
	static char buf[64];
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "session.get", "id", 's', id, NULL), AL_OK);
	snprintf(buf, sizeof buf, "%s", th_res_json(&rep, "last_activity"));
	al_reply_free(&rep);
	return buf;
}

static const char *json_time(int64_t us)
{
	static char buf[64];
	char t[40];
	snprintf(buf, sizeof buf, "\"%s\"", al_time_format(us, t, sizeof t));
	return buf;
}

/* ---- session lifetime ------------------------------------------------------------------------------ */

/* From creation (pending time included), for every type but inference; RUNNING-family only. */
static void lifetime(void **state)
{
	fx *f = *state;
	char a[40], b[40], pend[40], inf[40], deg[40];
	int64_t t0 = f->now;
	create(f, "life-a", "interactive", f->plain, f->k_life, 0, a);
	create_stuck(f, "life-pend", f->k_life, pend); /* stays PENDING */
	create(f, "life-inf", "inference", f->infer, f->k_life, 0, inf);
	f->now = t0 + 10 * MIN;
	create(f, "life-b", "batch", f->plain, f->k_life, 0, b);
	create(f, "life-deg", "interactive", f->plain, f->k_life, 0, deg);
	f->now = t0 + 50 * MIN; /* most of the hour waiting */
	run(f, a);
	run(f, inf);
	f->now = t0 + 55 * MIN;
	run(f, b);
	report(f, deg, "SCHEDULED");
	report(f, deg, "PULLING");
	report(f, deg, "RUNNING_DEGRADED");
	f->now = t0 + HOUR - 1;
	EXPIRE(f, "");
	f->now = t0 + HOUR; /* exactly the lifetime since a's creation */
	EXPIRE(f, ended(a, "RUNNING", "TERMINATING", "idle-session-lifetime"));
	assert_string_equal(state_of(f, a), "TERMINATING idle-session-lifetime");
	last_ev l = last_event(f->s);
	assert_string_equal(l.type, "session.terminate_requested");
	assert_string_equal(l.fields, "status=TERMINATING,from=RUNNING,forced=false,status_info=idle-session-lifetime");
	EXPIRE(f, ""); /* TERMINATING has no hang tolerance by default */
	f->now = t0 + 10 * MIN + HOUR; /* batch sessions have a lifetime too; RUNNING_DEGRADED runs */
	EXPIRE(f, in_order(2, ended(b, "RUNNING", "TERMINATING", "idle-session-lifetime"),
			   ended(deg, "RUNNING_DEGRADED", "TERMINATING", "idle-session-lifetime")));
	f->now += 365 * 24 * HOUR; /* inference and PENDING sessions never */
	EXPIRE(f, "");
	assert_string_equal(state_of(f, inf), "RUNNING ");
	assert_string_equal(state_of(f, pend), "PENDING no-available-instances");
}

/* RESTARTING counts as running; a policy without a lifetime (unlimited) ends nothing. */
static void lifetime_restarting_and_unlimited(void **state)
{
	fx *f = *state;
	char a[40], none[40];
	int64_t t0 = f->now;
	create(f, "rs-a", "interactive", f->plain, f->k_life, 0, a);
	create(f, "rs-none", "interactive", f->plain, f->k_none, 0, none);
	run(f, a);
	run(f, none);
	report(f, a, "RESTARTING");
	f->now = t0 + HOUR;
	EXPIRE(f, ended(a, "RESTARTING", "TERMINATING", "idle-session-lifetime"));
	f->now += 365 * 24 * HOUR;
	EXPIRE(f, "");
	assert_string_equal(state_of(f, none), "RUNNING ");
}

/* ---- idle timeout and touch ------------------------------------------------------------------------- */

/* From the start, or from the last recorded activity; interactive and system sessions, not batch
 * or inference ones. */
static void idle(void **state)
{
	fx *f = *state;
	char a[40], sys[40], bat[40], inf[40];
	create(f, "idle-a", "interactive", f->plain, f->k_idle, 0, a);
	create(f, "idle-sys", "system", f->sys, f->k_idle, 0, sys);
	create(f, "idle-bat", "batch", f->plain, f->k_idle, 0, bat);
	create(f, "idle-inf", "inference", f->infer, f->k_idle, 0, inf);
	f->now += 30 * MIN; /* pending time does not count */
	int64_t t1 = f->now;
	run(f, a);
	run(f, bat);
	run(f, inf);
	f->now = t1 + 5 * MIN;
	run(f, sys);
	assert_string_equal(last_activity(f, a), "null");
	f->now = t1 + 5 * MIN;
	TOUCH(f, a, true); /* a: active 5 min in */
	assert_string_equal(last_activity(f, a), json_time(t1 + 5 * MIN));
	f->now = t1 + 10 * MIN; /* a's start is 10 min ago, its activity 5 */
	EXPIRE(f, "");
	f->now = t1 + 15 * MIN - 1;
	EXPIRE(f, "");
	f->now = t1 + 15 * MIN; /* 10 min since a's activity and since sys started */
	EXPIRE(f, in_order(2, ended(a, "RUNNING", "TERMINATING", "idle-timeout"),
			   ended(sys, "RUNNING", "TERMINATING", "idle-timeout")));
	assert_string_equal(state_of(f, a), "TERMINATING idle-timeout");
	last_ev l = last_event(f->s);
	assert_string_equal(l.fields + strlen("status=TERMINATING,from=RUNNING,"), "forced=false,status_info=idle-timeout");
	f->now += 365 * 24 * HOUR; /* batch and inference sessions are never idle */
	EXPIRE(f, "");
	assert_string_equal(state_of(f, bat), "RUNNING ");
	assert_string_equal(state_of(f, inf), "RUNNING ");
}

/* A touch within a minute of the recorded activity records nothing; the idle timeout counts
 * from the recorded one. */
static void touch_coalesces(void **state)
{
	fx *f = *state;
	char a[40];
	create(f, "touchy", "interactive", f->plain, f->k_idle, 0, a);
	int64_t t1 = f->now;
	run(f, a);
	TOUCH(f, a, true); /* none recorded yet: recorded at once */
	last_ev l = last_event(f->s);
	assert_string_equal(l.type, "session.touched");
	char want[80];
	snprintf(want, sizeof want, "last_activity=%lld", (long long)t1);
	assert_string_equal(l.fields, want);
	f->now = t1 + MIN - 1;
	TOUCH(f, a, false);
	assert_string_equal(last_activity(f, a), json_time(t1));
	f->now = t1 + MIN; /* a minute after the recorded one */
	TOUCH(f, a, true);
	assert_string_equal(last_activity(f, a), json_time(t1 + MIN));
	f->now = t1 + MIN + 30 * SEC;
	TOUCH(f, a, false);
	/* the reply shows the recorded activity */
	th_result r;
	TH_RUN_OK(&r, f->s, "session.touch", "id", 's', a, NULL);
	const msgpack_object *la = al_mp_get(&r.o, "last_activity");
	char t[40];
	assert_non_null(la);
	assert_int_equal(la->type, MSGPACK_OBJECT_STR);
	assert_true(la->via.str.size == strlen(al_time_format(t1 + MIN, t, sizeof t)) &&
		    memcmp(la->via.str.ptr, t, la->via.str.size) == 0);
	th_result_free(&r);
	/* idle from t1 + 1 min (the touch at +1.5 min was not recorded) */
	f->now = t1 + 11 * MIN - 1;
	EXPIRE(f, "");
	f->now = t1 + 11 * MIN;
	EXPIRE(f, ended(a, "RUNNING", "TERMINATING", "idle-timeout"));
}

/* Only the running statuses are touched; an unknown id is not_found; agents (superadmins) only. */
static void touch_refused(void **state)
{
	fx *f = *state;
	char a[40], b[40];
	create(f, "tch-a", "interactive", f->plain, f->k_idle, 0, a);
	create_stuck(f, "tch-b", f->k_idle, b); /* stays PENDING: cancelled below */
	REFUSE_HAS(f->s, NULL, AL_EINVALID_STATE, NULL, "is PENDING", "session.touch", "id", 's', a, NULL);
	report(f, a, "SCHEDULED");
	REFUSE_HAS(f->s, NULL, AL_EINVALID_STATE, NULL, "is SCHEDULED", "session.touch", "id", 's', a, NULL);
	report(f, a, "PULLING");
	REFUSE_HAS(f->s, NULL, AL_EINVALID_STATE, NULL, "is PULLING", "session.touch", "id", 's', a, NULL);
	report(f, a, "PREPARING");
	REFUSE_HAS(f->s, NULL, AL_EINVALID_STATE, NULL, "is PREPARING", "session.touch", "id", 's', a, NULL);
	report(f, a, "RUNNING_DEGRADED");
	TOUCH(f, a, true);
	report(f, a, "RUNNING");
	report(f, a, "RESTARTING");
	f->now += MIN;
	TOUCH(f, a, true);
	TH_DENY(f->s, &f->u, "session.touch", "id", 's', a, NULL); /* its owner is no agent */
	report(f, a, "TERMINATING");
	REFUSE_HAS(f->s, NULL, AL_EINVALID_STATE, NULL, "is TERMINATING", "session.touch", "id", 's', a, NULL);
	report(f, a, "ERROR");
	REFUSE_HAS(f->s, NULL, AL_EINVALID_STATE, NULL, "is ERROR", "session.touch", "id", 's', a, NULL);
	report(f, a, "TERMINATED");
	REFUSE_HAS(f->s, NULL, AL_EINVALID_STATE, NULL, "is TERMINATED", "session.touch", "id", 's', a, NULL);
	TH_OK(f->s, NULL, 1, NULL, "session.terminate", "id", 's', b, NULL);
	REFUSE_HAS(f->s, NULL, AL_EINVALID_STATE, NULL, "is CANCELLED", "session.touch", "id", 's', b, NULL);
	REFUSE_HAS(f->s, NULL, AL_ENOT_FOUND, NULL, "not found", "session.touch", "id", 's', "nope", NULL);
	TH_DENY(f->s, &f->u, "session.expire", NULL);
}

/* ---- batch timeout ----------------------------------------------------------------------------------- */

/* From the start (not the creation); the limit that runs out first gives the reason. */
static void batch_timeout(void **state)
{
	fx *f = *state;
	char a[40], b[40], c[40];
	int64_t t0 = f->now;
	create(f, "bt-a", "batch", f->plain, f->k_none, 120, a);
	create(f, "bt-b", "batch", f->plain, f->k_life, 2 * 3600, b); /* the lifetime first */
	create(f, "bt-c", "batch", f->plain, f->k_life, 600, c);      /* its batch timeout first */
	f->now = t0 + 10 * MIN;
	int64_t t1 = f->now;
	run(f, a);
	run(f, b);
	run(f, c);
	f->now = t1 + 120 * SEC - 1;
	EXPIRE(f, "");
	f->now = t1 + 120 * SEC;
	EXPIRE(f, ended(a, "RUNNING", "TERMINATING", "task-timeout"));
	assert_string_equal(state_of(f, a), "TERMINATING task-timeout");
	f->now = t1 + 10 * MIN - 1;
	EXPIRE(f, "");
	f->now = t1 + 10 * MIN;
	EXPIRE(f, ended(c, "RUNNING", "TERMINATING", "task-timeout"));
	f->now = t0 + HOUR;
	EXPIRE(f, ended(b, "RUNNING", "TERMINATING", "idle-session-lifetime"));
	/* all past due at once: the lifetime ran out before the batch timeout */
	char d[40], e[40];
	t0 = f->now;
	create(f, "bt-d", "batch", f->plain, f->k_life, 3000, d); /* start + 50 min, before the hour */
	create(f, "bt-e", "batch", f->plain, f->k_life, 3600, e); /* start + 1 h, after the hour */
	f->now = t0 + 5 * MIN;
	run(f, d);
	run(f, e);
	f->now = t0 + 10 * HOUR;
	EXPIRE(f, in_order(2, ended(d, "RUNNING", "TERMINATING", "task-timeout"),
			   ended(e, "RUNNING", "TERMINATING", "idle-session-lifetime")));
}

/* ---- hang tolerance -------------------------------------------------------------------------------- */

/* Longer than the tolerance in PREPARING or TERMINATING: forced TERMINATED; 0 (the default)
 * never. Inference sessions too. */
static void hang(void **state)
{
	fx *f = *state;
	char p[40], t[40], inf[40];
	create(f, "hang-p", "interactive", f->plain, f->k_none, 0, p);
	create(f, "hang-t", "interactive", f->plain, f->k_none, 0, t);
	create(f, "hang-inf", "inference", f->infer, f->k_none, 0, inf);
	report(f, p, "SCHEDULED");
	report(f, p, "PREPARING");
	report(f, inf, "SCHEDULED");
	report(f, inf, "PREPARING");
	run(f, t);
	TH_OK(f->s, &f->u, 1, NULL, "session.terminate", "id", 's', t, NULL); /* TERMINATING */
	f->now += 365 * 24 * HOUR; /* the tolerances are 0: off */
	EXPIRE(f, "");
	th_fixture(f->s, "settings.set", "key", 's', "hang-tolerance-preparing", "value", 'l', "300", NULL);
	th_fixture(f->s, "settings.set", "key", 's', "hang-tolerance-terminating", "value", 'l', "60", NULL);
	/* the three entered their statuses a year ago */
	EXPIRE(f, in_order(3, ended(p, "PREPARING", "TERMINATED", "hang-timeout"),
			   ended(inf, "PREPARING", "TERMINATED", "hang-timeout"),
			   ended(t, "TERMINATING", "TERMINATED", "hang-timeout")));
	assert_string_equal(state_of(f, p), "TERMINATED hang-timeout");
	assert_string_equal(state_of(f, t), "TERMINATED hang-timeout");
	last_ev l = last_event(f->s);
	assert_string_equal(l.type, "session.terminate_requested");
	assert_true(strstr(l.fields, "status=TERMINATED,") == l.fields);
	assert_non_null(strstr(l.fields, ",forced=true,status_info=hang-timeout"));
	/* exactly at the tolerance: not yet; a microsecond longer: forced */
	char q[40], r[40];
	create(f, "hang-q", "interactive", f->plain, f->k_none, 0, q);
	create(f, "hang-r", "interactive", f->plain, f->k_none, 0, r);
	int64_t tq = f->now;
	report(f, q, "SCHEDULED");
	report(f, q, "PREPARING");
	run(f, r);
	f->now = tq + 10 * SEC;
	TH_OK(f->s, NULL, 1, NULL, "session.terminate", "id", 's', r, NULL); /* TERMINATING at tq + 10 s */
	f->now = tq + 60 * SEC + 10 * SEC;
	EXPIRE(f, "");
	f->now = tq + 70 * SEC + 1;
	EXPIRE(f, ended(r, "TERMINATING", "TERMINATED", "hang-timeout"));
	f->now = tq + 300 * SEC;
	EXPIRE(f, "");
	f->now = tq + 300 * SEC + 1;
	EXPIRE(f, ended(q, "PREPARING", "TERMINATED", "hang-timeout"));
	/* a hung session ended is no longer live: nothing is left to check */
	th_result res;
	TH_RUN_OK(&res, f->s, "session.expire", NULL);
	assert_int_equal(al_mp_get(&res.o, "checked")->via.u64, 0);
	th_result_free(&res);
}

/* ---- nothing to do, the server's actor, rebuild ------------------------------------------------------ */

/* A check that finds nothing overdue records nothing; the reply counts the live sessions. */
static void nothing_expired(void **state)
{
	fx *f = *state;
	char a[40], b[40], c[40];
	EXPIRE(f, ""); /* no sessions at all */
	create(f, "none-a", "interactive", f->plain, f->k_both, 0, a);
	create(f, "none-b", "batch", f->plain, f->k_both, 3600, b);
	create(f, "none-c", "interactive", f->plain, f->k_none, 0, c);
	run(f, a);
	run(f, b);
	report(f, c, "SCHEDULED");
	report(f, c, "PREPARING");
	f->now += 9 * MIN;
	uint64_t head = al_log_head(f->s);
	th_result r;
	TH_RUN_OK(&r, f->s, "session.expire", NULL);
	assert_int_equal(al_mp_get(&r.o, "checked")->via.u64, 3);
	assert_int_equal(al_mp_get(&r.o, "expired")->via.array.size, 0);
	th_result_free(&r);
	assert_int_equal(al_log_head(f->s), head);
}

/* Touches and timeouts fold the same way live, on rebuild and as of a past event. */
static void rebuild_and_asof(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	char a[40];
	create(f, "rb-a", "interactive", f->plain, f->k_idle, 0, a);
	run(f, a);
	f->now += 2 * MIN;
	TOUCH(f, a, true);
	uint64_t mid = al_log_head(s);
	char at_mid[33], live[33], rebuilt[33], then[33];
	th_digest(s, at_mid);
	f->now += 10 * MIN;
	EXPIRE(f, ended(a, "RUNNING", "TERMINATING", "idle-timeout"));
	th_digest(s, live);
	al_error err;
	if (al_store_rebuild(s, NULL, NULL, &err) != AL_OK)
		fail_msg("rebuild: %s", err.msg);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	al_store *past;
	assert_int_equal(al_store_asof(s, mid, &past, &err), AL_OK);
	th_digest(past, then);
	assert_string_equal(then, at_mid);
	al_reply rep;
	assert_int_equal(th_exec(past, &rep, "session.get", "id", 's', a, NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "RUNNING");
	assert_string_equal(th_res_json(&rep, "last_activity"), json_time(f->now - 10 * MIN));
	al_reply_free(&rep);
	al_store_close(past);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(lifetime, setup, teardown),
		cmocka_unit_test_setup_teardown(lifetime_restarting_and_unlimited, setup, teardown),
		cmocka_unit_test_setup_teardown(idle, setup, teardown),
		cmocka_unit_test_setup_teardown(touch_coalesces, setup, teardown),
		cmocka_unit_test_setup_teardown(touch_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(batch_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(hang, setup, teardown),
		cmocka_unit_test_setup_teardown(nothing_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(rebuild_and_asof, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
