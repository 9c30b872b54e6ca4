/*
 * session_expire.c - the session timeouts (platform model §10.6, and §10.3's hang tolerance):
 * session.touch, by which agents report activity, and session.expire, the check adminlogd's
 * timer runs every 15 s (the platform's DEFAULT_CHECK_INTERVAL).
 *
 * The check is a command, so its decisions are events (session.terminate_requested with the
 * platform's reason in status_info) and replay reproduces them from the log; its only input
 * besides the views is the command's time. For each live session (v_sessions_live):
 *
 *   RUNNING, RESTARTING, RUNNING_DEGRADED -> TERMINATING, with the limit that ran out first:
 *     idle-session-lifetime  not inference; the owner keypair's policy session_lifetime > 0 and
 *                            now >= created_at + lifetime (the platform counts from the
 *                            kernel's creation, pending and preparing time included)
 *     idle-timeout           not batch, not inference (so interactive and system sessions, as
 *                            the platform's network_timeout checker); policy idle_timeout > 0
 *                            and now >= max(last_activity, start) + idle_timeout
 *     task-timeout           batch sessions with a batch_timeout: now >= start + batch_timeout
 *   where start is the latest entry into RUNNING (RUNNING_DEGRADED for a session that never was
 *   RUNNING). On a tie the order above decides. A policy limit of 0 or unlimited is no limit.
 *   PREPARING, TERMINATING -> TERMINATED, forced (hang-timeout): in that status for longer than
 *     the hang-tolerance-preparing / hang-tolerance-terminating setting (seconds, 0 = never).
 *
 * Touches are coalesced: session.touch records session.touched only when the recorded last
 * activity is at least a minute old (or there is none). Agents touch often, on every request or
 * keystroke they see, while idle timeouts are minutes (the platform's default threshold is 10
 * minutes), so recording each touch would fill the log with events nobody needs; a minute keeps
 * it to one event per active session per minute at most. The price: the recorded last
 * activity may be up to 60 s behind the latest touch, so an idle timeout can end a session up
 * to 60 s before it has really been idle that long.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nouns/sessions.h"

#define SEC 1000000LL
#define TOUCH_EVERY_US (60 * SEC) /* a touch within this of the recorded activity records nothing */

/* The statuses the lifetime, idle and batch timeouts apply in (a touch too). */
static bool running(int st) { return st == AL_SS_RUNNING || st == AL_SS_RESTARTING || st == AL_SS_RUNNING_DEGRADED; }

static int not_found(al_cmd *c, al_str id)
{
	return al_err(c->err, AL_ENOT_FOUND, "session %.*s: not found", al__clip(id.n), id.p);
}

/* ---- touch --------------------------------------------------------------------------------- */

static int emit_touched(al_cmd *c, al_str id)
{
	al_mb f;
	al_mb_init(&f);
	al_mb_int(&f, "last_activity", c->now_us);
	int rc = al__emit(c, AL_EV_SESSION_TOUCHED, id, &f);
	al_mb_free(&f);
	return rc;
}

int al__session_touch(al_cmd *c)
{
	al_str id;
	al_sess_row r;
	char t[40];
	al__arg_str(c, "id", &id);
	int rc = al__session_find(c, id, &r);
	if (rc <= 0)
		return rc < 0 ? rc : not_found(c, id);
	int st = al__session_status(r.st.status); /* the row's strings may move once we emit */
	if (!running(st))
		return al_err(c->err, AL_EINVALID_STATE,
			      "session %.*s is %.*s: only RUNNING, RESTARTING or RUNNING_DEGRADED sessions are touched",
			      al__clip(id.n), id.p, al__clip(r.st.status.n), r.st.status.p);
	int64_t last = r.st.last_activity;
	bool record = last == 0 || c->now_us - last >= TOUCH_EVERY_US;
	if (record && (rc = emit_touched(c, id)) != AL_OK)
		return rc;
	msgpack_pack_map(c->out, 4);
	al_pack_cstr(c->out, "id");
	al_pack_str(c->out, id.p, id.n);
	al_pack_cstr(c->out, "status");
	al_pack_cstr(c->out, al__session_statuses[st]);
	al_pack_cstr(c->out, "last_activity");
	al_pack_cstr(c->out, al_time_format(record ? c->now_us : last, t, sizeof t));
	al_pack_cstr(c->out, "recorded");
	record ? msgpack_pack_true(c->out) : msgpack_pack_false(c->out);
	return AL_OK;
}

/* ---- expire -------------------------------------------------------------------------------- */

/* One session to end, found by the walk and ended after it (emitting changes the live view
 * under the walk's cursor). */
typedef struct expiry {
	struct expiry *next;
	al_str id;
	int from, to;
	const char *reason;
} expiry;

typedef struct expire_scan {
	int64_t hang_us[2]; /* PREPARING, TERMINATING; 0: never */
	msgpack_zone z;     /* one session's rows and policy at a time */
	expiry *first, **last;
	uint32_t checked, n;
} expire_scan;

/* A setting of whole seconds in µs (0 when unreadable: validated when set). */
static int64_t setting_us(al_cmd *c, const char *key)
{
	char buf[64];
	if (al__setting_get(c->s, c->txn, key, buf, sizeof buf, NULL, c->err) != AL_OK)
		al__cmd_fail_err(c, c->err);
	long long v = strtoll(buf, NULL, 10);
	return v > 0 ? v * SEC : 0;
}

/* A keypair policy limit in seconds: 0 for unlimited (a string) or none. */
static int64_t limit_secs(const msgpack_object *policy, const char *name)
{
	const msgpack_object *o = policy ? al_mp_get(policy, name) : NULL;
	if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return o->via.u64 > INT32_MAX ? INT32_MAX : (int64_t)o->via.u64;
	if (o && (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) && o->via.f64 > 0)
		return o->via.f64 > INT32_MAX ? INT32_MAX : (int64_t)o->via.f64;
	return 0;
}

/* The owner keypair's policy row in e->z: 1, or 0 when the keypair or its policy is gone (its
 * limits then do not apply), or a negative code. */
static int owner_policy(al_cmd *c, expire_scan *e, al_str access_key, msgpack_object *row)
{
	al_keypair_info k;
	int rc = al__keypair_info(c->s, c->txn, access_key, &k, &e->z, c->err);
	if (rc == 1)
		rc = al__policy_row(c->s, c->txn, AL_POLICY_KEYPAIR, k.resource_policy, &e->z, row, c->err);
	return rc;
}

/* When a running session started: its latest entry into RUNNING, else RUNNING_DEGRADED (it may
 * get there from PULLING without ever running), else its creation. */
static int64_t started(const al_sess_row *r)
{
	return r->st.at_running ? r->st.at_running : r->st.at_running_degraded ? r->st.at_running_degraded : r->a.created_at;
}

typedef struct verdict {
	int64_t deadline;
	const char *reason;
} verdict;

/* Takes limit (deadline, reason) when it ran out by now and before the one taken so far. */
static void consider(verdict *v, int64_t deadline, const char *reason, int64_t now)
{
	if (deadline <= now && (v->reason == NULL || deadline < v->deadline))
		*v = (verdict){deadline, reason};
}

/* The reason a running session ends now, or NULL. */
static int judge_running(al_cmd *c, expire_scan *e, const al_sess_row *r, const char **reason)
{
	msgpack_object policy;
	bool inference = al_str_eq(r->a.type, "inference"), batch = al_str_eq(r->a.type, "batch");
	int64_t now = c->now_us, start = started(r);
	verdict v = {0, NULL};
	int rc = inference ? 0 : owner_policy(c, e, r->a.access_key, &policy);
	if (rc < 0)
		return rc;
	int64_t lifetime = rc ? limit_secs(&policy, "session_lifetime") : 0;
	int64_t idle = rc && !batch ? limit_secs(&policy, "idle_timeout") : 0;
	if (lifetime > 0)
		consider(&v, r->a.created_at + lifetime * SEC, "idle-session-lifetime", now);
	if (idle > 0)
		consider(&v, (r->st.last_activity > start ? r->st.last_activity : start) + idle * SEC, "idle-timeout", now);
	if (batch && r->a.batch_timeout > 0)
		consider(&v, start + r->a.batch_timeout * SEC, "task-timeout", now);
	*reason = v.reason;
	return AL_OK;
}

static int add(al_cmd *c, expire_scan *e, al_str id, int from, int to, const char *reason)
{
	expiry *x = al_zone_malloc(c->zone, sizeof *x);
	if (x == NULL)
		return al_err(c->err, AL_ENO_MEMORY, "out of memory");
	*x = (expiry){NULL, al__keep(c, "", id), from, to, reason};
	if (c->failed.code)
		return c->failed.code;
	*e->last = x;
	e->last = &x->next;
	e->n++;
	return AL_OK;
}

/* One live session (key "group NUL id"): ends it when a limit ran out. */
static int expire_one(al_cmd *c, al_str key, const MDB_val *val, void *ctx)
{
	(void)val;
	expire_scan *e = ctx;
	const char *nul = memchr(key.p, 0, key.n);
	if (nul == NULL)
		return al_err(c->err, AL_ECORRUPT, "a live session index key is malformed");
	al_str id = {nul + 1, key.n - (size_t)(nul + 1 - key.p)};
	al_sess_row r;
	msgpack_zone_clear(&e->z);
	int rc = al__session_find_in(c, id, &e->z, &r);
	if (rc <= 0)
		return rc < 0 ? rc : al_err(c->err, AL_ECORRUPT, "the live session index names a missing session");
	e->checked++;
	int st = al__session_status(r.st.status);
	const char *reason = NULL;
	if (st == AL_SS_PREPARING || st == AL_SS_TERMINATING) {
		int64_t tol = e->hang_us[st == AL_SS_TERMINATING];
		int64_t since = st == AL_SS_TERMINATING ? r.st.at_terminating : r.st.at_preparing;
		return tol > 0 && c->now_us - since > tol ? add(c, e, id, st, AL_SS_TERMINATED, "hang-timeout") : AL_OK;
	}
	if (!running(st))
		return AL_OK;
	if ((rc = judge_running(c, e, &r, &reason)) != AL_OK)
		return rc;
	return reason ? add(c, e, id, st, AL_SS_TERMINATING, reason) : AL_OK;
}

static int end_session(al_cmd *c, const expiry *x)
{
	al_mb f;
	al_mb_init(&f);
	al_mb_cstr(&f, "status", al__session_statuses[x->to]);
	al_mb_cstr(&f, "from", al__session_statuses[x->from]);
	al_mb_bool(&f, "forced", x->to == AL_SS_TERMINATED);
	al_mb_cstr(&f, "status_info", x->reason);
	int rc = al__emit(c, AL_EV_SESSION_TERMINATE_REQUESTED, x->id, &f);
	al_mb_free(&f);
	return rc;
}

/* {"checked": live sessions looked at, "expired": [{id, from, to, reason}, ...]} */
static void pack_reply(al_cmd *c, const expire_scan *e)
{
	msgpack_pack_map(c->out, 2);
	al_pack_cstr(c->out, "checked");
	msgpack_pack_uint32(c->out, e->checked);
	al_pack_cstr(c->out, "expired");
	msgpack_pack_array(c->out, e->n);
	for (const expiry *x = e->first; x; x = x->next) {
		msgpack_pack_map(c->out, 4);
		al_pack_cstr(c->out, "id");
		al_pack_str(c->out, x->id.p, x->id.n);
		al_pack_cstr(c->out, "from");
		al_pack_cstr(c->out, al__session_statuses[x->from]);
		al_pack_cstr(c->out, "to");
		al_pack_cstr(c->out, al__session_statuses[x->to]);
		al_pack_cstr(c->out, "reason");
		al_pack_cstr(c->out, x->reason);
	}
}

int al__session_expire(al_cmd *c)
{
	expire_scan e = {.hang_us = {setting_us(c, "hang-tolerance-preparing"), setting_us(c, "hang-tolerance-terminating")}};
	e.last = &e.first;
	if (c->failed.code)
		return c->failed.code;
	msgpack_zone_init(&e.z, 2048);
	int rc = al__scan_prefix(c, al__view_dbi(c->s, AL_P_SESSIONS, AL_SDB_LIVE), "", 0, "live sessions", expire_one, &e);
	msgpack_zone_destroy(&e.z);
	for (const expiry *x = e.first; x && rc == AL_OK; x = x->next)
		rc = end_session(c, x);
	if (rc == AL_OK)
		pack_reply(c, &e);
	return rc;
}
