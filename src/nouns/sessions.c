/*
 * sessions.c - compute sessions (platform model §10): the sessions projection, the queries
 * (get, list) and the status changes (report, terminate). session_create.c enqueues them.
 *
 * Views:
 *   v_sessions          id -> what was asked (schemas/rows.def, AL_ROW session)
 *   v_session_state     id -> what happened since (AL_ROW session_state): status, history
 *   v_sessions_by_key   access key NUL id -> "": every session a keypair ever owned (the
 *                       keypair delete guard counts them, whatever their status)
 *   v_session_names     access key NUL name -> id: live sessions only (not CANCELLED or
 *                       TERMINATED), so a name is unique among a keypair's live sessions
 *   v_sessions_by_time  created µs (8 bytes, big-endian) id -> "": the list's order
 *   v_sessions_live     group NUL id -> "": sessions not yet CANCELLED or TERMINATED (what a
 *                       scheduling pass and the timeout check look at)
 *   v_sessions_by_group group NUL id -> "": every session a resource group ever ran (its
 *                       delete guard)
 *   v_occupancy         kind holder -> what live sessions occupy (AL_ROW occupancy): per
 *                       agent, keypair, user, project and domain, changed by the events that
 *                       move a scheduled session in or out of the occupying statuses
 *
 * Every status change is an event whose time is the command's (the projection uses only the
 * event): the row keeps the latest entry time of each status (the platform's status_history)
 * and status_info (the reason). Reports follow the platform's transition map; terminate
 * follows its destroy rules, which the map alone does not describe (a forced destroy of an
 * ERROR session by a non-superadmin makes it TERMINATING, as the platform does).
 *
 * Who may do what: a user reads and terminates its own sessions; an admin those of its domain
 * (a monitor reads them); a superadmin all. Agents report with a superadmin service account.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/authz.h"
#include "core/rowcache.h"
#include "nouns/sessions.h"
#include "util/resources.h"
#include "util/slotvec.h"

#define ASKED (&al_row_session_def)
#define STATE (&al_row_session_state_def)
/* A fold keeps rows decoded in slots of 256 bytes (core/foldrows.c). */
_Static_assert(sizeof(al_row_session) <= 256 && sizeof(al_row_session_state) <= 256, "a session row is too wide");
#define KEY_MAX 511
#define TEXT_MAX 4096 /* a slot map or an id list as text */

const char *const al__session_statuses[] = {"PENDING",     "SCHEDULED",  "PULLING", "PREPARING",
					    "RUNNING",     "RESTARTING", "RUNNING_DEGRADED",
					    "TERMINATING", "TERMINATED", "ERROR",   "CANCELLED", NULL};

#define B(s) (1u << AL_SS_##s)
/* SESSION_STATUS_TRANSITION_MAP (platform model §10.3): the statuses each may go to. */
static const unsigned transitions[AL_SS__COUNT] = {
	[AL_SS_PENDING] = B(SCHEDULED) | B(TERMINATING) | B(TERMINATED) | B(ERROR) | B(CANCELLED),
	[AL_SS_SCHEDULED] = B(PULLING) | B(PREPARING) | B(TERMINATED) | B(ERROR) | B(CANCELLED),
	[AL_SS_PULLING] = B(PREPARING) | B(RUNNING) | B(RUNNING_DEGRADED) | B(TERMINATED) | B(ERROR) | B(CANCELLED),
	[AL_SS_PREPARING] = B(PULLING) | B(RUNNING) | B(RUNNING_DEGRADED) | B(TERMINATING) | B(TERMINATED) | B(ERROR) |
			    B(CANCELLED),
	[AL_SS_RUNNING] = B(RESTARTING) | B(RUNNING_DEGRADED) | B(TERMINATING) | B(TERMINATED) | B(ERROR),
	[AL_SS_RESTARTING] = B(RUNNING) | B(RUNNING_DEGRADED) | B(TERMINATING) | B(TERMINATED) | B(ERROR),
	[AL_SS_RUNNING_DEGRADED] = B(RUNNING) | B(TERMINATING) | B(TERMINATED) | B(ERROR),
	[AL_SS_TERMINATING] = B(TERMINATED) | B(ERROR),
	[AL_SS_ERROR] = B(TERMINATED),
	[AL_SS_TERMINATED] = 0,
	[AL_SS_CANCELLED] = 0,
};
#undef B

int al__session_status(al_str s)
{
	for (int i = 0; al__session_statuses[i]; i++)
		if (al_str_eq(s, al__session_statuses[i]))
			return i;
	return -1;
}

bool al__session_transition_ok(int from, int to)
{
	return from >= 0 && from < AL_SS__COUNT && to >= 0 && to < AL_SS__COUNT && (transitions[from] >> to & 1);
}

/* The row's entry time of status st (status_history). */
static int64_t *at_of(al_row_session_state *r, int st)
{
	int64_t *const at[AL_SS__COUNT] = {&r->at_pending,	   &r->at_scheduled,  &r->at_pulling,
					   &r->at_preparing,	   &r->at_running,    &r->at_restarting,
					   &r->at_running_degraded, &r->at_terminating, &r->at_terminated,
					   &r->at_error,	   &r->at_cancelled};
	return at[st];
}

size_t al__session_name_key(char *buf, size_t n, al_str ak, al_str name) { return al__key2(buf, n, 0, ak, name); }

/* The list order's key: the creation time big-endian, then the id. */
static size_t time_key(char *buf, size_t n, int64_t us, al_str id)
{
	if (8 + id.n > n)
		return 0;
	for (int i = 0; i < 8; i++)
		buf[i] = (char)((uint64_t)us >> (56 - 8 * i));
	memcpy(buf + 8, id.p, id.n);
	return 8 + id.n;
}

/* ---- projection ---------------------------------------------------------------------------- */

static int put(const al_view *v, int db, const char *k, size_t kn, const char *val, size_t vn, al_error *err)
{
	if (kn == 0)
		return al_err(err, AL_ECORRUPT, "a session index key is too long");
	return al__view_put(v, db, k, kn, val, vn, err);
}

/* A slot map (slot -> number) as "slot=amount,..." in buf, in the map's order. */
static al_str slots_text(const msgpack_object *m, char *buf, size_t n)
{
	size_t len = 0;
	buf[0] = 0;
	for (uint32_t i = 0; m && m->type == MSGPACK_OBJECT_MAP && i < m->via.map.size && len < n; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key, *val = &m->via.map.ptr[i].val;
		char num[40];
		size_t nn = 0;
		if (k->type != MSGPACK_OBJECT_STR)
			continue;
		if (val->type == MSGPACK_OBJECT_POSITIVE_INTEGER) { /* digits by hand: snprintf is slow */
			char tmp[24];
			uint64_t u = val->via.u64;
			size_t t = 0;
			do
				tmp[t++] = (char)('0' + u % 10);
			while ((u /= 10) != 0);
			while (t)
				num[nn++] = tmp[--t];
		} else if (val->type == MSGPACK_OBJECT_FLOAT64 || val->type == MSGPACK_OBJECT_FLOAT32)
			nn = strlen(al_double_str(val->via.f64, num, sizeof num));
		else
			num[nn++] = '0';
		if (len + 1 + k->via.str.size + 1 + nn >= n)
			break;
		if (i)
			buf[len++] = ',';
		memcpy(buf + len, k->via.str.ptr, k->via.str.size), len += k->via.str.size;
		buf[len++] = '=';
		memcpy(buf + len, num, nn), len += nn;
		buf[len] = 0;
	}
	return (al_str){buf, len < n ? len : n - 1};
}

/* A list of strings joined by ',' into buf. */
static al_str join_list(const msgpack_object *l, char *buf, size_t n)
{
	size_t len = 0;
	buf[0] = 0;
	for (uint32_t i = 0; l && l->type == MSGPACK_OBJECT_ARRAY && i < l->via.array.size && len < n; i++)
		if (l->via.array.ptr[i].type == MSGPACK_OBJECT_STR)
			len += (size_t)snprintf(buf + len, n - len, "%s%.*s", len ? "," : "",
						(int)l->via.array.ptr[i].via.str.size, l->via.array.ptr[i].via.str.ptr);
	return (al_str){buf, len < n ? len : n - 1};
}

static int pend(const al_view *v, const al_row_session *a, int k, al_error *err);

static int apply_created(const al_view *v, const al_event *e, al_error *err)
{
	al_row_session a;
	al_row_session_state st;
	char req[TEXT_MAX], res[TEXT_MAX], deps[TEXT_MAX], k[KEY_MAX];
	al_row_clear(ASKED, &a);
	al_row_clear(STATE, &st);
	al_row_set(ASKED, &a, &e->fields);
	a.requested = slots_text(al_mp_get(&e->fields, "requested"), req, sizeof req);
	a.resources = slots_text(al_mp_get(&e->fields, "resources"), res, sizeof res);
	a.depends_on = join_list(al_mp_get(&e->fields, "depends_on"), deps, sizeof deps);
	a.created_at = e->time_us;
	st.status = (al_str){"PENDING", 7};
	st.at_pending = st.modified_at = e->time_us;
	int rc = al__view_put_typed(v, AL_SDB_SESSIONS, e->id.p, e->id.n, ASKED, &a, err);
	if (rc == AL_OK)
		rc = al__view_put_typed(v, AL_SDB_STATE, e->id.p, e->id.n, STATE, &st, err);
	if (rc == AL_OK)
		rc = put(v, AL_SDB_BY_KEY, k, al__key2(k, sizeof k, 0, a.access_key, e->id), "", 0, err);
	if (rc == AL_OK)
		rc = put(v, AL_SDB_NAMES, k, al__session_name_key(k, sizeof k, a.access_key, a.name), e->id.p, e->id.n, err);
	if (rc == AL_OK)
		rc = put(v, AL_SDB_BY_TIME, k, time_key(k, sizeof k, e->time_us, e->id), "", 0, err);
	if (rc == AL_OK)
		rc = put(v, AL_SDB_LIVE, k, al__key2(k, sizeof k, 0, a.group, e->id), "", 0, err);
	if (rc == AL_OK)
		rc = put(v, AL_SDB_BY_GROUP, k, al__key2(k, sizeof k, 0, a.group, e->id), "", 0, err);
	return rc == AL_OK ? pend(v, &a, 1, err) : rc;
}

static int unknown(const al_event *e, al_error *err)
{
	return al_err(err, AL_ECORRUPT, "event %llu: %s for an unknown session %.*s", (unsigned long long)e->seq,
		      e->def->name, al__clip(e->id.n), e->id.p);
}

/* A dead session's name goes back to its keypair, and it leaves the live index. */
static int bury(const al_view *v, const al_event *e, const al_row_session *a, al_error *err)
{
	char k[KEY_MAX];
	size_t kn = al__session_name_key(k, sizeof k, a->access_key, a->name);
	MDB_val cur;
	int rc = AL_OK;
	if (kn && al__view_get(v, AL_SDB_NAMES, k, kn, &cur) == 0 && cur.mv_size == e->id.n &&
	    memcmp(cur.mv_data, e->id.p, e->id.n) == 0)
		rc = al__view_del(v, AL_SDB_NAMES, k, kn, err);
	if (rc == AL_OK && (kn = al__key2(k, sizeof k, 0, a->group, e->id)))
		rc = al__view_del(v, AL_SDB_LIVE, k, kn, err);
	return rc == MDB_NOTFOUND ? AL_OK : rc;
}

/* Adds k times slots (with k sessions, k system sessions too when system) to what holder
 * (kind, a) occupies; with pending, k to the number of its PENDING sessions (no slots). */
static int occupy_as(const al_view *v, char kind, al_str a, const al_slotvec *slots, int k, bool pending, bool system,
		     al_error *err)
{
	char key[KEY_MAX], text[TEXT_MAX];
	size_t kn = al__key2(key, sizeof key, kind, a, (al_str){"", 0});
	al_row_occupancy o;
	al_slotvec sum;
	al_row_clear(&al_row_occupancy_def, &o); /* a new holder: "" for its texts, never NULL */
	if (kn == 0)
		return al_err(err, AL_ECORRUPT, "an occupancy key is too long");
	int rc = al__view_get_typed(v, AL_SDB_OCCUPANCY, key, kn, &al_row_occupancy_def, &o);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return al_err(err, AL_ECORRUPT, "an occupancy row does not decode");
	if (pending)
		o.pending += k;
	else if (al_slotvec_parse(&sum, o.slots) != 0 || al_slotvec_add(&sum, slots, k) != 0)
		return al_err(err, AL_ECORRUPT, "occupied slots do not add up (%.*s)", al__clip(a.n), a.p);
	else {
		o.sessions += k;
		o.system_sessions += system ? k : 0;
		o.slots = al_slotvec_format(&sum, text, sizeof text);
	}
	return al__view_put_typed(v, AL_SDB_OCCUPANCY, key, kn, &al_row_occupancy_def, &o, err);
}

/* A session enters (k 1) or leaves (k -1) PENDING: its keypair's pending count. */
static int pend(const al_view *v, const al_row_session *a, int k, al_error *err)
{
	return occupy_as(v, 'k', a->access_key, NULL, k, true, false, err);
}

/* Whether id, the comma-separated item of list that starts at byte i, is the first item
 * with its value; *n: how many items have it. */
static bool first_of(al_str list, size_t i, al_str id, int *n)
{
	bool first = true;
	*n = 0;
	for (size_t j = 0; j < list.n;) {
		const char *c2 = memchr(list.p + j, ',', list.n - j);
		size_t len = c2 ? (size_t)(c2 - list.p) - j : list.n - j;
		if (len == id.n && memcmp(list.p + j, id.p, len) == 0) {
			first &= j >= i;
			++*n;
		}
		j += len + 1;
	}
	return first;
}

/* Calls fn with each share a placed session holds: (owner) all its occupied slots on its
 * keypair, user, project and domain (a system session's keypair counts it apart); (agent)
 * each container's slots on its agent (containers share the session's slots evenly; an agent
 * with several gets their sum, in one call). */
static int each_share(const al_row_session *a, const al_row_session_state *st, bool agent, bool owner,
		      al_holding_fn fn, void *ctx, al_error *err)
{
	al_slotvec all, each = {0};
	if (al_slotvec_parse(&all, st->occupied) != 0)
		return al_err(err, AL_ECORRUPT, "a session's occupied slots do not parse");
	const char kinds[] = {'k', 'u', 'p', 'd'};
	const al_str holders[] = {a->access_key, a->user, a->project_id, a->domain};
	bool system = al_str_eq(a->type, "system");
	int rc = AL_OK;
	for (int i = 0; owner && rc == AL_OK && i < 4; i++)
		rc = fn(kinds[i], holders[i], false, system && i == 0, &all, ctx);
	al_slotvec_add(&each, &all, 1.0 / (double)(a->cluster_size > 0 ? a->cluster_size : 1));
	for (size_t i = 0; agent && rc == AL_OK && i < st->agents.n;) {
		const char *comma = memchr(st->agents.p + i, ',', st->agents.n - i);
		al_str id = {st->agents.p + i, comma ? (size_t)(comma - st->agents.p) - i : st->agents.n - i};
		int n;
		if (first_of(st->agents, i, id, &n)) {
			al_slotvec share = {0};
			al_slotvec_add(&share, &each, n);
			rc = fn('a', id, false, false, &share, ctx);
		}
		i += id.n + 1;
	}
	return rc;
}

typedef struct occupy_ctx {
	const al_view *v;
	int k;
	al_error *err;
} occupy_ctx;

static int occupy_share(char kind, al_str holder, bool pending, bool system, const al_slotvec *slots, void *ctx)
{
	occupy_ctx *o = ctx;
	return occupy_as(o->v, kind, holder, slots, o->k, pending, system, o->err);
}

/* A scheduled session moving between statuses takes (k 1) or gives back (k -1) the agents'
 * share (agent) or the owner's share (owner). */
static int hold(const al_view *v, const al_row_session *a, const al_row_session_state *st, bool agent, bool owner,
		int k, al_error *err)
{
	occupy_ctx o = {v, k, err};
	return each_share(a, st, agent, owner, occupy_share, &o, err);
}

/* Every status change: the new status, its time and the reason; a scheduled session's agents
 * and slots; what it holds when it enters or leaves the occupying statuses; a dead one's name
 * and live entry. */
static int apply_status(const al_view *v, const al_event *e, al_error *err)
{
	al_row_session_state st;
	al_row_session a;
	char agents[TEXT_MAX], occ[TEXT_MAX];
	if (al__view_get_typed(v, AL_SDB_STATE, e->id.p, e->id.n, STATE, &st) != 0)
		return unknown(e, err);
	int from = al__session_status(st.status);
	bool scheduled = e->def == al__ev(AL_EV_SESSION_SCHEDULED), placed = st.agents.n > 0;
	al_row_set(STATE, &st, &e->fields); /* status, status_info, exit_code */
	int to = al__session_status(st.status);
	if (from < 0 || to < 0)
		return al_err(err, AL_ECORRUPT, "event %llu: unknown session status", (unsigned long long)e->seq);
	if (scheduled) {
		st.agents = join_list(al_mp_get(&e->fields, "agents"), agents, sizeof agents);
		st.occupied = slots_text(al_mp_get(&e->fields, "occupied"), occ, sizeof occ);
		st.status_info = (al_str){"", 0};
	}
	*at_of(&st, to) = st.modified_at = e->time_us;
	if (al_mp_get(&e->fields, "exit_code"))
		st.has_exit_code = true;
	if (al__session_dead(to))
		st.terminated_at = e->time_us;
	bool agent = (placed && al__session_holds_agent(from)) != (st.agents.n && al__session_holds_agent(to));
	bool owner = (placed && al__session_holds_owner(from)) != (st.agents.n && al__session_holds_owner(to));
	bool dead = al__session_dead(to), unpend = from == AL_SS_PENDING && to != AL_SS_PENDING;
	if ((agent || owner || dead || unpend) && al__view_get_typed(v, AL_SDB_SESSIONS, e->id.p, e->id.n, ASKED, &a) != 0)
		return unknown(e, err);
	/* The state row last: writing it may free the strings st was read with. */
	int rc = unpend ? pend(v, &a, -1, err) : AL_OK;
	/* Each share on its own: RUNNING -> TERMINATING gives back the owner's share while the
	 * agents keep theirs, TERMINATING -> ERROR takes the owner's again. */
	if (rc == AL_OK && agent)
		rc = hold(v, &a, &st, true, false, al__session_holds_agent(to) ? 1 : -1, err);
	if (rc == AL_OK && owner)
		rc = hold(v, &a, &st, false, true, al__session_holds_owner(to) ? 1 : -1, err);
	if (rc == AL_OK)
		rc = al__view_put_typed(v, AL_SDB_STATE, e->id.p, e->id.n, STATE, &st, err);
	if (rc == AL_OK && dead)
		rc = bury(v, e, &a, err);
	return rc;
}

/* A failed scheduling attempt: one more retry, when, and why. */
static int apply_failed(const al_view *v, const al_event *e, al_error *err)
{
	al_row_session_state st;
	char failed[TEXT_MAX];
	size_t len = 0;
	if (al__view_get_typed(v, AL_SDB_STATE, e->id.p, e->id.n, STATE, &st) != 0)
		return unknown(e, err);
	const msgpack_object *l = al_mp_get(&e->fields, "failed");
	failed[0] = 0;
	for (uint32_t i = 0; l && l->type == MSGPACK_OBJECT_ARRAY && i < l->via.array.size && len < sizeof failed; i++)
		if (l->via.array.ptr[i].type == MSGPACK_OBJECT_STR)
			len += (size_t)snprintf(failed + len, sizeof failed - len, "%s%.*s", len ? "\n" : "",
						(int)l->via.array.ptr[i].via.str.size, l->via.array.ptr[i].via.str.ptr);
	al_row_set(STATE, &st, &e->fields); /* status_info */
	st.failed = (al_str){failed, len < sizeof failed ? len : sizeof failed - 1};
	st.retries++;
	st.last_try = e->time_us;
	return al__view_put_typed(v, AL_SDB_STATE, e->id.p, e->id.n, STATE, &st, err);
}

/* An agent's activity report (session touch): the idle timeout counts from it. Not a status
 * change, so modified_at stays. */
static int apply_touched(const al_view *v, const al_event *e, al_error *err)
{
	al_row_session_state st;
	if (al__view_get_typed(v, AL_SDB_STATE, e->id.p, e->id.n, STATE, &st) != 0)
		return unknown(e, err);
	al_row_set(STATE, &st, &e->fields); /* last_activity */
	return al__view_put_typed(v, AL_SDB_STATE, e->id.p, e->id.n, STATE, &st, err);
}

/* The kinds of holder as usage.recalculated names them, in v_occupancy's key letters. */
static const struct {
	char kind;
	const char *name;
} kind_names[] = {{'a', "agent"}, {'k', "keypair"}, {'u', "user"}, {'p', "project"}, {'d', "domain"}};

char al__occupancy_kind(al_str name)
{
	for (size_t i = 0; i < sizeof kind_names / sizeof *kind_names; i++)
		if (al_str_eq(name, kind_names[i].name))
			return kind_names[i].kind;
	return 0;
}

const char *al__occupancy_kind_name(char kind)
{
	for (size_t i = 0; i < sizeof kind_names / sizeof *kind_names; i++)
		if (kind_names[i].kind == kind)
			return kind_names[i].name;
	return NULL;
}

/* A slot map of an event as canonical slot text (sorted, zeros left out) in buf. */
static int map_slots(const msgpack_object *m, char *buf, size_t n, al_str *out)
{
	char text[TEXT_MAX];
	al_slotvec v;
	if (m && m->type != MSGPACK_OBJECT_MAP)
		return -1;
	if (al_slotvec_parse(&v, slots_text(m, text, sizeof text)) != 0)
		return -1;
	*out = al_slotvec_format(&v, buf, n);
	return 0;
}

/* One corrected holder: its row becomes the figures f names, whatever it held. */
static int set_figures(const al_view *v, const al_event *e, char kind, al_str holder, const msgpack_object *f,
		       al_error *err)
{
	char key[KEY_MAX], slots[TEXT_MAX];
	size_t kn = al__key2(key, sizeof key, kind, holder, (al_str){"", 0});
	al_row_occupancy o;
	al_row_clear(&al_row_occupancy_def, &o);
	if (kn == 0 || f->type != MSGPACK_OBJECT_MAP || map_slots(al_mp_get(f, "slots"), slots, sizeof slots, &o.slots))
		return al_err(err, AL_ECORRUPT, "event %llu: the figures of %.*s do not read", (unsigned long long)e->seq,
			      al__clip(holder.n), holder.p);
	al_mp_int(f, "sessions", &o.sessions);
	al_mp_int(f, "pending", &o.pending);
	al_mp_int(f, "system_sessions", &o.system_sessions);
	return al__view_put_typed(v, AL_SDB_OCCUPANCY, key, kn, &al_row_occupancy_def, &o, err);
}

/*
 * usage.recalculated (maintenance recalculate-usage): each holder its "occupancy" field names
 * gets exactly those figures. A correction is a value, not a difference: when the view had
 * drifted outside the log, a replay has the right figures already and setting them again
 * changes nothing; when the fold itself had gone wrong, a replay goes wrong the same way and
 * the event puts it right at the same point. Events without the field (recorded before
 * sessions existed) change nothing.
 */
static int apply_recalculated(const al_view *v, const al_event *e, al_error *err)
{
	const msgpack_object *occ = al_mp_get(&e->fields, "occupancy");
	for (uint32_t i = 0; occ && occ->type == MSGPACK_OBJECT_MAP && i < occ->via.map.size; i++) {
		const msgpack_object *k = &occ->via.map.ptr[i].key, *byholder = &occ->via.map.ptr[i].val;
		char kind = k->type == MSGPACK_OBJECT_STR ? al__occupancy_kind((al_str){k->via.str.ptr, k->via.str.size}) : 0;
		if (kind == 0 || byholder->type != MSGPACK_OBJECT_MAP)
			return al_err(err, AL_ECORRUPT, "event %llu: occupancy names an unknown kind of holder",
				      (unsigned long long)e->seq);
		for (uint32_t j = 0; j < byholder->via.map.size; j++) {
			const msgpack_object_kv *h = &byholder->via.map.ptr[j];
			if (h->key.type != MSGPACK_OBJECT_STR)
				return al_err(err, AL_ECORRUPT, "event %llu: a holder is not a string", (unsigned long long)e->seq);
			int rc = set_figures(v, e, kind, (al_str){h->key.via.str.ptr, h->key.via.str.size}, &h->val, err);
			if (rc)
				return rc;
		}
	}
	return AL_OK;
}

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	if (e->def == al__ev(AL_EV_USAGE_RECALCULATED))
		return apply_recalculated(v, e, err);
	if (e->def == al__ev(AL_EV_SESSION_CREATED))
		return apply_created(v, e, err);
	if (e->def == al__ev(AL_EV_SESSION_SCHEDULING_FAILED))
		return apply_failed(v, e, err);
	if (e->def == al__ev(AL_EV_SESSION_TOUCHED))
		return apply_touched(v, e, err);
	if (e->def == al__ev(AL_EV_SESSION_STATUS_CHANGED) || e->def == al__ev(AL_EV_SESSION_TERMINATE_REQUESTED) ||
	    e->def == al__ev(AL_EV_SESSION_SCHEDULED) || e->def == al__ev(AL_EV_SESSION_CANCELLED))
		return apply_status(v, e, err);
	return AL_OK; /* not ours (test_dispatch calls apply with every other type) */
}

/* The event types apply reads: the engine calls it for these only. */
static const enum al_ev_id applies_to[] = {AL_EV_SESSION_CREATED,	 AL_EV_SESSION_STATUS_CHANGED,
					   AL_EV_SESSION_TERMINATE_REQUESTED, AL_EV_SESSION_SCHEDULED,
					   AL_EV_SESSION_SCHEDULING_FAILED,   AL_EV_SESSION_CANCELLED,
					   AL_EV_SESSION_TOUCHED,	      AL_EV_USAGE_RECALCULATED,
					   AL_EV__COUNT};
/* v2: the live, by-group and occupancy views; the scheduler's columns. v3: TERMINATING gives
 * the owner's share back (v2 added it a second time); a keypair's system sessions counted
 * apart; usage.recalculated sets the figures it corrects. */
const al_projection al__proj_sessions = {"sessions",
					 3,
					 {"v_sessions", "v_session_state", "v_sessions_by_key", "v_session_names",
					  "v_sessions_by_time", "v_sessions_live", "v_sessions_by_group", "v_occupancy", NULL},
					 apply,
					 .on = applies_to};

/* ---- queries ------------------------------------------------------------------------------- */

static MDB_dbi dbi(const al_cmd *c, int db) { return al__view_dbi(c->s, AL_P_SESSIONS, db); }

/* One compact row of session id, from the write transaction's row cache when it holds it
 * (a status change reads the rows, its projection reads and rewrites them, the reply reads
 * them again), else decoded in z and, in a write, cached. */
static int find_row(al_cmd *c, int db, al_str id, msgpack_zone *z, const al_row_def *d, void *row)
{
	if (c->w && al__rc_get(c->w, dbi(c, db), id, d, row))
		return 1;
	int rc = al__get_compact(c->txn, dbi(c, db), id, z, d, row, "session", "a session", c->err);
	if (rc == 1 && c->w)
		al__rc_put(c->w, dbi(c, db), id, d, row);
	return rc;
}

/* Both rows of session id: 1 found, 0 not, or a negative code. */
static int find_in(al_cmd *c, al_str id, msgpack_zone *z, al_sess_row *r)
{
	int rc = find_row(c, AL_SDB_SESSIONS, id, z, ASKED, &r->a);
	if (rc == 1 && (rc = find_row(c, AL_SDB_STATE, id, z, STATE, &r->st)) == 0)
		rc = al_err(c->err, AL_ECORRUPT, "session %.*s has no state row", al__clip(id.n), id.p);
	r->id = id;
	return rc;
}

int al__session_find(al_cmd *c, al_str id, al_sess_row *r) { return find_in(c, id, c->zone, r); }

static int must_find(al_cmd *c, al_str id, al_sess_row *r)
{
	int rc = al__session_find(c, id, r);
	if (rc == 0)
		return al_err(c->err, AL_ENOT_FOUND, "session %.*s: not found", al__clip(id.n), id.p);
	return rc < 0 ? rc : AL_OK;
}

int al__sessions_count_key(al_cmd *c, al_str ak, uint64_t *n)
{
	return al__count_range(c, AL_P_SESSIONS, AL_SDB_BY_KEY, ak, n);
}

int al__sessions_count_group(al_cmd *c, al_str g, uint64_t *n)
{
	return al__count_range(c, AL_P_SESSIONS, AL_SDB_BY_GROUP, g, n);
}

int al__occupancy_get(al_store *s, MDB_txn *txn, char kind, al_str holder, msgpack_zone *z, al_row_occupancy *o,
		      al_error *err)
{
	char k[KEY_MAX];
	size_t kn = al__key2(k, sizeof k, kind, holder, (al_str){"", 0});
	al_row_clear(&al_row_occupancy_def, o);
	if (kn == 0)
		return 0;
	return al__get_compact(txn, al__view_dbi(s, AL_P_SESSIONS, AL_SDB_OCCUPANCY), (al_str){k, kn}, z,
			       &al_row_occupancy_def, o, "occupancy", "an occupancy", err);
}

int al__session_occupancy(al_cmd *c, char kind, al_str holder, al_row_occupancy *o)
{
	return al__occupancy_get(c->s, c->txn, kind, holder, c->zone, o, c->err);
}

typedef struct occ_walk {
	al_occupancy_fn fn;
	void *ctx;
} occ_walk;

static int occ_one(al_cmd *c, al_str key, const MDB_val *val, void *ctx)
{
	occ_walk *w = ctx;
	al_row_occupancy o;
	msgpack_zone z;
	/* The key is kind letter, holder, NUL (al__key2 with an empty second part). */
	if (key.n < 2 || key.p[key.n - 1] != 0)
		return al_err(c->err, AL_ECORRUPT, "an occupancy key is malformed");
	msgpack_zone_init(&z, 256);
	int rc = al_row_decode(&al_row_occupancy_def, val->mv_data, val->mv_size, &z, &o) != 0
			 ? al_err(c->err, AL_ECORRUPT, "an occupancy view row does not decode")
			 : w->fn(key.p[0], (al_str){key.p + 1, key.n - 2}, &o, w->ctx);
	msgpack_zone_destroy(&z);
	return rc;
}

int al__occupancy_each(al_cmd *c, al_occupancy_fn fn, void *ctx)
{
	occ_walk w = {fn, ctx};
	return al__scan_prefix(c, dbi(c, AL_SDB_OCCUPANCY), "", 0, "occupancy", occ_one, &w);
}

typedef struct fold_walk {
	al_holding_fn fn;
	void *ctx;
	msgpack_zone z;
} fold_walk;

/* One live session: what it holds in its status now, as the projection counts it. */
static int fold_one(al_cmd *c, al_str key, const MDB_val *val, void *ctx)
{
	fold_walk *w = ctx;
	const char *nul = memchr(key.p, 0, key.n);
	al_sess_row r;
	(void)val;
	if (nul == NULL)
		return al_err(c->err, AL_ECORRUPT, "a live session key is malformed");
	msgpack_zone_clear(&w->z);
	al_str id = {nul + 1, key.n - (size_t)(nul + 1 - key.p)};
	int rc = find_in(c, id, &w->z, &r);
	if (rc <= 0)
		return rc < 0 ? rc : al_err(c->err, AL_ECORRUPT, "the live index names a missing session");
	int st = al__session_status(r.st.status);
	if (st < 0)
		return al_err(c->err, AL_ECORRUPT, "session %.*s has an unknown status", al__clip(id.n), id.p);
	if (st == AL_SS_PENDING)
		return w->fn('k', r.a.access_key, true, false, NULL, w->ctx);
	if (r.st.agents.n == 0)
		return AL_OK;
	return each_share(&r.a, &r.st, al__session_holds_agent(st), al__session_holds_owner(st), w->fn, w->ctx, c->err);
}

int al__sessions_fold_holdings(al_cmd *c, al_holding_fn fn, void *ctx)
{
	fold_walk w = {fn, ctx};
	msgpack_zone_init(&w.z, 1024);
	int rc = al__scan_prefix(c, dbi(c, AL_SDB_LIVE), "", 0, "live sessions", fold_one, &w);
	msgpack_zone_destroy(&w.z);
	return rc;
}

static void pack_list(msgpack_packer *pk, al_str joined)
{
	uint32_t n = 0;
	for (size_t i = 0; i < joined.n; i++)
		n += joined.p[i] == ',';
	msgpack_pack_array(pk, joined.n ? n + 1 : 0);
	for (size_t i = 0; i < joined.n;) {
		const char *comma = memchr(joined.p + i, ',', joined.n - i);
		size_t len = comma ? (size_t)(comma - joined.p) - i : joined.n - i;
		al_pack_str(pk, joined.p + i, len);
		i += len + 1;
	}
}

/* Stored slot text as a map slot -> number (integers where whole, as the command parsed them). */
static void pack_slots(al_cmd *c, msgpack_packer *pk, const char *what, al_str text)
{
	al_slotvec v;
	if (al_slotvec_parse(&v, text) != 0) {
		msgpack_pack_map(pk, 0);
		al__cmd_fail(c, AL_ECORRUPT, "session %s: stored slots do not parse", what);
		return;
	}
	msgpack_pack_map(pk, v.n);
	for (uint32_t i = 0; i < v.n; i++) {
		al_pack_cstr(pk, v.s[i].name);
		if (v.s[i].v == (double)(int64_t)v.s[i].v)
			msgpack_pack_int64(pk, (int64_t)v.s[i].v);
		else
			msgpack_pack_double(pk, v.s[i].v);
	}
}

static void pack_history(msgpack_packer *pk, al_row_session_state *r)
{
	uint32_t n = 0;
	for (int st = 0; st < AL_SS__COUNT; st++)
		n += *at_of(r, st) != 0;
	msgpack_pack_map(pk, n);
	for (int st = 0; st < AL_SS__COUNT; st++) {
		char t[40];
		if (*at_of(r, st)) {
			al_pack_cstr(pk, al__session_statuses[st]);
			al_pack_cstr(pk, al_time_format(*at_of(r, st), t, sizeof t));
		}
	}
}

#define PACK_S(mb, key, s) al_mb_str(mb, key, (s).p, (s).n)

/* The scheduler's attempts (the platform's status_data.scheduler): retries, the last try and
 * what failed then, each {name, msg}. */
static void pack_scheduler(msgpack_packer *pk, const al_row_session_state *st)
{
	char t[40];
	uint32_t n = st->failed.n ? 1 : 0;
	for (size_t i = 0; i < st->failed.n; i++)
		n += st->failed.p[i] == '\n';
	msgpack_pack_map(pk, 3);
	al_pack_cstr(pk, "retries");
	msgpack_pack_int64(pk, st->retries);
	al_pack_cstr(pk, "last_try");
	if (st->last_try)
		al_pack_cstr(pk, al_time_format(st->last_try, t, sizeof t));
	else
		msgpack_pack_nil(pk);
	al_pack_cstr(pk, "failed_predicates");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < st->failed.n;) {
		const char *nl = memchr(st->failed.p + i, '\n', st->failed.n - i);
		size_t len = nl ? (size_t)(nl - st->failed.p) - i : st->failed.n - i;
		const char *colon = memchr(st->failed.p + i, ':', len);
		size_t nn = colon ? (size_t)(colon - st->failed.p) - i : len, mo = colon ? nn + (colon[1] == ' ' ? 2 : 1) : len;
		msgpack_pack_map(pk, 2);
		al_pack_cstr(pk, "name");
		al_pack_str(pk, st->failed.p + i, nn);
		al_pack_cstr(pk, "msg");
		al_pack_str(pk, st->failed.p + i + mo, len - mo);
		i += len + 1;
	}
}

static void mb_time(al_mb *m, const char *key, int64_t us)
{
	char t[40];
	if (us)
		al_mb_cstr(m, key, al_time_format(us, t, sizeof t));
	else
		msgpack_pack_nil(al_mb_key(m, key));
}

static void mb_int_or_nil(al_mb *m, const char *key, bool has, int64_t v)
{
	if (has)
		al_mb_int(m, key, v);
	else
		msgpack_pack_nil(al_mb_key(m, key));
}

void al__session_pack_public(al_cmd *c, const al_sess_row *row, msgpack_packer *pk)
{
	const al_row_session *a = &row->a;
	al_row_session_state st = row->st;
	const char *slash = memchr(a->image.p, '/', a->image.n);
	al_str registry = {a->image.p, slash ? (size_t)(slash - a->image.p) : 0};
	al_mb m;
	al_mb_init(&m);
	PACK_S(&m, "id", row->id), PACK_S(&m, "name", a->name), PACK_S(&m, "type", a->type);
	PACK_S(&m, "cluster_mode", a->cluster_mode), al_mb_int(&m, "cluster_size", a->cluster_size);
	PACK_S(&m, "user", a->user), PACK_S(&m, "access_key", a->access_key), PACK_S(&m, "domain", a->domain);
	PACK_S(&m, "project", a->project), PACK_S(&m, "group", a->group), PACK_S(&m, "image", a->image);
	PACK_S(&m, "architecture", a->architecture), PACK_S(&m, "registry", registry);
	pack_slots(c, al_mb_key(&m, "requested"), "requested", a->requested);
	pack_slots(c, al_mb_key(&m, "resources"), "resources", a->resources);
	mb_time(&m, "starts_at", a->starts_at);
	pack_list(al_mb_key(&m, "depends_on"), a->depends_on);
	mb_int_or_nil(&m, "batch_timeout", a->batch_timeout > 0, a->batch_timeout);
	pack_list(al_mb_key(&m, "agents"), st.agents);
	pack_slots(c, al_mb_key(&m, "occupied"), "occupied", st.occupied);
	pack_scheduler(al_mb_key(&m, "scheduler"), &st);
	mb_time(&m, "last_activity", st.last_activity);
	PACK_S(&m, "status", st.status), PACK_S(&m, "status_info", st.status_info);
	pack_history(al_mb_key(&m, "status_history"), &st);
	mb_int_or_nil(&m, "exit_code", st.has_exit_code, st.exit_code);
	mb_time(&m, "created_at", a->created_at);
	mb_time(&m, "terminated_at", st.terminated_at);
	mb_time(&m, "modified_at", st.modified_at);
	msgpack_pack_uint64(al_mb_key(&m, "version"), al__cmd_version(c, "session", row->id));
	al_mb_finish(&m, pk);
	al_mb_free(&m);
}

static int pack_found(al_cmd *c, al_str id)
{
	al_sess_row r;
	int rc = must_find(c, id, &r);
	if (rc == AL_OK)
		al__session_pack_public(c, &r, c->out);
	return rc;
}

/* ---- get and list -------------------------------------------------------------------------- */

int al__session_get(al_cmd *c)
{
	al_str id;
	al_sess_row r;
	al__arg_str(c, "id", &id);
	int rc = must_find(c, id, &r);
	if (rc == AL_OK)
		rc = al__authz_read_user(c, r.a.user, r.a.domain);
	if (rc == AL_OK)
		al__session_pack_public(c, &r, c->out);
	return rc;
}

typedef struct list_state {
	al_rows rows;
	unsigned statuses; /* bit per status; 0: any */
	al_str user, project, group, agent;
	bool by_user, by_project, by_group, by_agent, scoped_user;
	int64_t since, until, limit, offset, n, skipped;
	msgpack_zone z;
} list_state;

static bool has_item(al_str joined, al_str item)
{
	for (size_t i = 0; i < joined.n;) {
		const char *comma = memchr(joined.p + i, ',', joined.n - i);
		size_t len = comma ? (size_t)(comma - joined.p) - i : joined.n - i;
		if (len == item.n && memcmp(joined.p + i, item.p, len) == 0)
			return true;
		i += len + 1;
	}
	return false;
}

static bool eq(al_str a, al_str b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

static bool wanted(al_cmd *c, const list_state *l, const al_sess_row *r)
{
	int st = al__session_status(r->st.status);
	if (l->statuses && (st < 0 || !(l->statuses >> st & 1)))
		return false;
	if ((l->by_user && !eq(r->a.user, l->user)) || (l->by_project && !eq(r->a.project, l->project)) ||
	    (l->by_group && !eq(r->a.group, l->group)) || (l->by_agent && !has_item(r->st.agents, l->agent)))
		return false;
	/* Scoping: a superadmin sees all, an admin or monitor its domain, a user its own. */
	return l->scoped_user ? al__is_self(c, r->a.user) : al__sees_domain(c, r->a.domain);
}

static int list_one(al_cmd *c, al_str key, const MDB_val *v, void *ctx)
{
	(void)v;
	list_state *l = ctx;
	if (key.n <= 8)
		return al_err(c->err, AL_ECORRUPT, "a session time index key is malformed");
	int64_t created = 0;
	for (int i = 0; i < 8; i++)
		created = (int64_t)((uint64_t)created << 8 | (unsigned char)key.p[i]);
	if (created < l->since)
		return AL_OK;
	if (created >= l->until)
		return 1; /* the index is in time order: nothing later matches */
	al_sess_row r;
	msgpack_zone_clear(&l->z);
	int rc = find_in(c, (al_str){key.p + 8, key.n - 8}, &l->z, &r);
	if (rc <= 0)
		return rc < 0 ? rc : al_err(c->err, AL_ECORRUPT, "the session time index names a missing session");
	if (!wanted(c, l, &r) || l->skipped++ < l->offset)
		return AL_OK;
	al__session_pack_public(c, &r, &l->rows.pk);
	rc = al__rows_push(c, &l->rows);
	return rc ? rc : ++l->n >= l->limit; /* 1: the page is full */
}

static int arg_time(al_cmd *c, const char *name, int64_t *us)
{
	al_str s;
	char buf[64];
	if (!al__arg_str(c, name, &s))
		return AL_OK;
	if (s.n >= sizeof buf || al_time_parse(al_str_cpy(buf, sizeof buf, s), us) != 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: not a time (RFC 3339, e.g. 2026-12-01T08:00:00Z): %.*s", name,
			      al__clip(s.n), s.p);
	return AL_OK;
}

static int list_filters(al_cmd *c, list_state *l)
{
	const msgpack_object *sts;
	if (al__arg_list(c, "status", &sts))
		for (uint32_t i = 0; i < sts->via.array.size; i++) {
			al_str s = {sts->via.array.ptr[i].via.str.ptr, sts->via.array.ptr[i].via.str.size};
			int st = al__session_status(s);
			if (st < 0)
				return al_err(c->err, AL_EINVALID_ARGUMENT,
					      "status: %.*s is not a session status (PENDING, SCHEDULED, PULLING, PREPARING, "
					      "RUNNING, RESTARTING, RUNNING_DEGRADED, TERMINATING, TERMINATED, ERROR, CANCELLED)",
					      al__clip(s.n), s.p);
			l->statuses |= 1u << st;
		}
	l->by_user = al__arg_str(c, "user", &l->user);
	l->by_project = al__arg_str(c, "project", &l->project);
	l->by_group = al__arg_str(c, "group", &l->group);
	l->by_agent = al__arg_str(c, "agent", &l->agent);
	int rc = arg_time(c, "since", &l->since);
	if (rc == AL_OK)
		rc = arg_time(c, "until", &l->until);
	al__arg_int(c, "limit", &l->limit);
	al__arg_int(c, "offset", &l->offset);
	if (rc == AL_OK && (l->limit < 1 || (l->limit > 10000 && l->limit != INT64_MAX)))
		rc = al_err(c->err, AL_EINVALID_ARGUMENT, "limit: 1 to 10000");
	if (rc == AL_OK && l->offset < 0)
		rc = al_err(c->err, AL_EINVALID_ARGUMENT, "offset: must not be negative");
	return rc;
}

int al__session_list(al_cmd *c)
{
	list_state l = {.limit = al__streaming(c) ? INT64_MAX : 100, .until = INT64_MAX}; /* an export takes all */
	int rc = list_filters(c, &l);
	if (rc)
		return rc;
	/* Plain users see their own; so does a local operator without rights over domains. */
	l.scoped_user = !al__is_superadmin(c) && c->actor->role != AL_ROLE_ADMIN && c->actor->role != AL_ROLE_MONITOR;
	if (l.scoped_user && c->actor->user == NULL)
		return al__authz_deny(c);
	msgpack_zone_init(&l.z, 1024);
	al__rows_begin(c, &l.rows);
	rc = al__scan_prefix(c, dbi(c, AL_SDB_BY_TIME), "", 0, "sessions", list_one, &l);
	msgpack_zone_destroy(&l.z);
	return al__rows_end(c, &l.rows, rc > 0 ? AL_OK : rc);
}

/* ---- status changes ------------------------------------------------------------------------ */

static al_str reason_or(const al_cmd *c, const char *def)
{
	return c->reason.n ? c->reason : (al_str){def, strlen(def)};
}

int al__session_report(al_cmd *c)
{
	al_str id, status;
	int64_t exit_code;
	al_sess_row r;
	al__arg_str(c, "id", &id);
	al__arg_str(c, "status", &status);
	bool has_exit = al__arg_int(c, "exit_code", &exit_code);
	int rc = must_find(c, id, &r);
	if (rc)
		return rc;
	int to = al__session_status(status), from = al__session_status(r.st.status);
	if (to < 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "status: %.*s is not a session status", al__clip(status.n),
			      status.p);
	if (!al__session_transition_ok(from, to))
		return al_err(c->err, AL_EINVALID_STATE, "status: session %.*s cannot go from %.*s to %s",
			      al__clip(id.n), id.p, al__clip(r.st.status.n), r.st.status.p, al__session_statuses[to]);
	/* A session reported SCHEDULED would hold no agent and no slots: only a pass places one. */
	if (to == AL_SS_SCHEDULED)
		return al_err(c->err, AL_EINVALID_STATE,
			      "status: session %.*s: a session is scheduled only by a scheduling pass (scheduler run), "
			      "not reported SCHEDULED", al__clip(id.n), id.p);
	al_mb f;
	al_mb_init(&f);
	al_mb_cstr(&f, "status", al__session_statuses[to]);
	al_mb_cstr(&f, "from", al__session_statuses[from]);
	if (has_exit)
		al_mb_int(&f, "exit_code", exit_code);
	if (c->reason.n)
		al_mb_str(&f, "status_info", c->reason.p, c->reason.n);
	rc = al__emit(c, AL_EV_SESSION_STATUS_CHANGED, id, &f);
	al_mb_free(&f);
	return rc ? rc : pack_found(c, id);
}

/* The platform's destroy rules (registry.destroy_session): the status a destroy leads to, or
 * invalid_state. su: the actor is a superadmin. */
static int destroy_rule(al_cmd *c, al_str id, int from, bool forced, bool su, int *to)
{
	switch (from) {
	case AL_SS_PENDING:
		*to = AL_SS_CANCELLED;
		return AL_OK;
	case AL_SS_PULLING:
		if (forced && su) {
			*to = AL_SS_CANCELLED;
			return AL_OK;
		}
		return al_err(c->err, AL_EINVALID_STATE,
			      "session %.*s is PULLING: it cannot be destroyed now (only a superadmin's forced destroy "
			      "cancels it)", al__clip(id.n), id.p);
	case AL_SS_SCHEDULED:
	case AL_SS_PREPARING:
	case AL_SS_TERMINATING:
	case AL_SS_ERROR:
		if (!forced)
			return al_err(c->err, AL_EINVALID_STATE, "session %.*s is %s: destroy it with forced",
				      al__clip(id.n), id.p, al__session_statuses[from]);
		*to = su ? AL_SS_TERMINATED : AL_SS_TERMINATING;
		return AL_OK;
	case AL_SS_TERMINATED:
	case AL_SS_CANCELLED:
		return al_err(c->err, AL_EINVALID_STATE, "session %.*s is %s already", al__clip(id.n), id.p,
			      al__session_statuses[from]);
	default: /* RUNNING, RESTARTING, RUNNING_DEGRADED */
		*to = AL_SS_TERMINATING;
		return AL_OK;
	}
}

int al__session_terminate(al_cmd *c)
{
	al_str id;
	bool forced = false;
	al_sess_row r;
	al__arg_str(c, "id", &id);
	al__arg_bool(c, "forced", &forced);
	int rc = must_find(c, id, &r);
	if (rc == AL_OK && !al__is_self(c, r.a.user))
		rc = al__authz_manage_domain(c, r.a.domain);
	if (rc)
		return rc;
	bool su = al__is_superadmin(c);
	int from = al__session_status(r.st.status), to = AL_SS_TERMINATING;
	if ((rc = destroy_rule(c, id, from, forced, su, &to)))
		return rc;
	al_str info = reason_or(c, forced && su && to == AL_SS_TERMINATED ? "force-terminated" : "user-requested");
	al_mb f;
	al_mb_init(&f);
	al_mb_cstr(&f, "status", al__session_statuses[to]);
	al_mb_cstr(&f, "from", al__session_statuses[from]);
	al_mb_bool(&f, "forced", forced);
	al_mb_str(&f, "status_info", info.p, info.n);
	rc = al__emit(c, AL_EV_SESSION_TERMINATE_REQUESTED, id, &f);
	al_mb_free(&f);
	return rc ? rc : pack_found(c, id);
}

/* ---- for session_expire.c ------------------------------------------------------------------- */

int al__session_find_in(al_cmd *c, al_str id, msgpack_zone *z, al_sess_row *r) { return find_in(c, id, z, r); }
