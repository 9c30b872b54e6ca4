/*
 * agents.c - agents: what the cluster reports (heartbeats, graceful shutdowns, lost agents)
 * and what admins set (schedulable).
 *
 * View v_agents: id -> {id, status, schedulable, addr, region, architecture, agent_version,
 *   scaling_group, available_slots, images, first_contact, status_changed, lost_at} (times in
 *   µs, lost_at 0 = never). What sessions occupy on an agent is the sessions projection's
 *   (v_occupancy, kind 'a'): the public row reads it from there.
 * View v_agent_groups: group NUL id -> "": every resource group an agent ever belonged to,
 *   which is the resource groups' delete guard (al__agents_count_group).
 *
 * Statuses (the platform's AgentStatus): ALIVE on first contact and on any heartbeat; LOST
 * from agent.expire; TERMINATED (graceful shutdown) or RESTARTING from agent.terminate. A
 * heartbeat from a LOST, RESTARTING or TERMINATED agent makes it ALIVE again in one
 * agent.status_changed event (the platform revives such agents the same way; an agent that
 * says it is restarting says so with agent terminate --restarting).
 *
 * Last seen, in memory: a heartbeat that changes nothing must append nothing (the issue), yet
 * the lost-agent check needs the time of every heartbeat. So the time lives in a small table
 * hung on the al_store (al_store.proj_mem[AL_P_AGENTS]), updated by every accepted heartbeat whether it
 * records an event or not. This is the one place a command has an effect outside LMDB. It is
 * not state the views depend on: rebuild, as-of and digests never see it. A process that
 * starts (or restarts) knows no times, so agent.expire counts an agent it has not heard from
 * since the process started as seen at its first check: a restart grace of one timeout, after
 * which a silent agent becomes LOST as usual. The table is guarded by a mutex, because read
 * commands (agent get, list) may run on other threads than the writer.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/validate.h"
#include "nouns/nouns.h"
#include "util/resources.h"

enum { DB_AGENTS, DB_GROUPS };

#define ID_MAX 64
#define ADDR_MAX 128
#define IMAGE_MAX 512
#define TIMEOUT_DEFAULT 40.0 /* seconds: the platform's manager.heartbeat-timeout */


/* ---- last seen, in memory ------------------------------------------------------------------ */

typedef struct seen {
	char id[ID_MAX + 1];
	int64_t at;
} seen;

typedef struct agents_mem {
	pthread_mutex_t mu;
	seen *v; /* sorted by id */
	size_t n, cap;
} agents_mem;

static pthread_mutex_t mem_create = PTHREAD_MUTEX_INITIALIZER;

/* The store's table, made on first use; NULL when out of memory. */
static agents_mem *mem_of(al_store *s)
{
	pthread_mutex_lock(&mem_create);
	if (s->proj_mem[AL_P_AGENTS] == NULL) {
		agents_mem *m = al_calloc(1, sizeof *m);
		if (m && pthread_mutex_init(&m->mu, NULL) != 0) {
			al_free(m);
			m = NULL;
		}
		s->proj_mem[AL_P_AGENTS] = m;
	}
	pthread_mutex_unlock(&mem_create);
	return s->proj_mem[AL_P_AGENTS];
}

static void mem_free(void *p)
{
	agents_mem *m = p;
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->mu);
	al_free(m->v);
	al_free(m);
}

/* Where id is or would go in m->v (lock held). */
static size_t mem_pos(const agents_mem *m, const char *id, bool *found)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(m->v[mid].id, id);
		if (r == 0) {
			*found = true;
			return mid;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static bool grow(agents_mem *m)
{
	size_t cap = m->cap ? 2 * m->cap : 64;
	seen *v = al_realloc(m->v, cap * sizeof *v);
	if (v == NULL)
		return false;
	m->v = v;
	m->cap = cap;
	return true;
}

/* Sets id's time to at (always when force, else only when id is unknown). 1 when id was
 * known before, 0 when it was added, or AL_ENO_MEMORY. */
static int mem_set(al_store *s, al_str id, int64_t at, bool force)
{
	agents_mem *m = mem_of(s);
	char key[ID_MAX + 1];
	if (m == NULL || id.n > ID_MAX)
		return AL_ENO_MEMORY;
	al_str_cpy(key, sizeof key, id);
	pthread_mutex_lock(&m->mu);
	bool found;
	size_t i = mem_pos(m, key, &found);
	int rc = found;
	if (found) {
		if (force)
			m->v[i].at = at;
	} else if (m->n == m->cap && !grow(m)) {
		rc = AL_ENO_MEMORY;
	} else {
		memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof *m->v);
		memcpy(m->v[i].id, key, sizeof key);
		m->v[i].at = at;
		m->n++;
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* When id was last heard from in this process; 0 when not. */
static int64_t mem_get(al_store *s, al_str id)
{
	agents_mem *m = mem_of(s);
	char key[ID_MAX + 1];
	if (m == NULL || id.n > ID_MAX)
		return 0;
	al_str_cpy(key, sizeof key, id);
	pthread_mutex_lock(&m->mu);
	bool found;
	size_t i = mem_pos(m, key, &found);
	int64_t at = found ? m->v[i].at : 0;
	pthread_mutex_unlock(&m->mu);
	return at;
}

/* ---- slot amounts ---------------------------------------------------------------------------- */

/* An amount of a slot map: an integer (counts, bytes) or a fraction (cuda.shares). */
typedef struct num {
	bool is_int;
	int64_t i;
	double d;
} num;

static num obj_num(const msgpack_object *o)
{
	if (o == NULL)
		return (num){true, 0, 0};
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return (num){true, o->via.u64 > INT64_MAX ? INT64_MAX : (int64_t)o->via.u64, 0};
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return (num){true, o->via.i64, 0};
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return (num){false, 0, o->via.f64};
	default: return (num){true, 0, 0};
	}
}

static long double num_ld(num n) { return n.is_int ? (long double)n.i : (long double)n.d; }

static bool num_eq(num a, num b)
{
	return a.is_int && b.is_int ? a.i == b.i : num_ld(a) == num_ld(b);
}

static num num_sub(num a, num b)
{
	if (a.is_int && b.is_int)
		return (num){true, a.i - b.i, 0};
	return (num){false, 0, al_slot_round((double)(num_ld(a) - num_ld(b)))}; /* 1.0 - 0.7 is 0.3 */
}

static void pack_num(msgpack_packer *pk, num n)
{
	if (n.is_int)
		msgpack_pack_int64(pk, n.i);
	else
		msgpack_pack_double(pk, n.d);
}

static al_str key_str(const msgpack_object *k)
{
	return k->type == MSGPACK_OBJECT_STR ? (al_str){k->via.str.ptr, k->via.str.size} : (al_str){"", 0};
}

static bool str_eq2(al_str a, al_str b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

/* A string column of a row ("" when absent). */
static al_str row_str(const msgpack_object *row, const char *key)
{
	al_str v = {"", 0};
	al_mp_str(row, key, &v);
	return v;
}

/* The value of slot name in map (NULL when absent). */
static const msgpack_object *slot_of(const msgpack_object *map, al_str name)
{
	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++)
		if (str_eq2(key_str(&map->via.map.ptr[i].key), name))
			return &map->via.map.ptr[i].val;
	return NULL;
}

static uint32_t map_size(const msgpack_object *m) { return m && m->type == MSGPACK_OBJECT_MAP ? m->via.map.size : 0; }

/* Same slots with equal amounts (a missing map is empty). */
static bool slots_equal(const msgpack_object *a, const msgpack_object *b)
{
	if (map_size(a) != map_size(b))
		return false;
	for (uint32_t i = 0; i < map_size(a); i++) {
		const msgpack_object *o = slot_of(b, key_str(&a->via.map.ptr[i].key));
		if (o == NULL || !num_eq(obj_num(&a->via.map.ptr[i].val), obj_num(o)))
			return false;
	}
	return true;
}

/* Same strings in the same order (a missing array is empty). */
static bool lists_equal(const msgpack_object *a, const msgpack_object *b)
{
	uint32_t na = a && a->type == MSGPACK_OBJECT_ARRAY ? a->via.array.size : 0;
	uint32_t nb = b && b->type == MSGPACK_OBJECT_ARRAY ? b->via.array.size : 0;
	if (na != nb)
		return false;
	for (uint32_t i = 0; i < na; i++)
		if (!str_eq2(key_str(&a->via.array.ptr[i]), key_str(&b->via.array.ptr[i])))
			return false;
	return true;
}

/* ---- projection ------------------------------------------------------------------------------- */

static void pack_obj_or(msgpack_packer *pk, const char *key, const msgpack_object *v, char empty)
{
	al_pack_cstr(pk, key);
	if (v && v->type != MSGPACK_OBJECT_NIL)
		msgpack_pack_object(pk, *v);
	else if (empty == 'm')
		msgpack_pack_map(pk, 0);
	else if (empty == 'a')
		msgpack_pack_array(pk, 0);
	else
		al_pack_str(pk, "", 0);
}

/* A field of the event when it has it, else of the old row (NULL: neither). */
static const msgpack_object *pick(const msgpack_object *ev, const msgpack_object *old, const char *key)
{
	const msgpack_object *v = al_mp_get(ev, key);
	if (v && v->type != MSGPACK_OBJECT_NIL)
		return v;
	return old ? al_mp_get(old, key) : NULL;
}

static int64_t row_time(const msgpack_object *row, const char *key, int64_t dflt)
{
	int64_t t = dflt;
	if (row)
		al_mp_int(row, key, &t);
	return t;
}

/* Records that agent key belongs to group (the index of every group an agent ever had). */
static int index_group(const al_view *v, const msgpack_object *group, const char *key, size_t kn, al_error *err)
{
	char k[2 * AL_MAX_ID + 2];
	if (group == NULL || group->type != MSGPACK_OBJECT_STR || group->via.str.size + 1 + kn > sizeof k)
		return AL_OK;
	memcpy(k, group->via.str.ptr, group->via.str.size);
	k[group->via.str.size] = 0;
	memcpy(k + group->via.str.size + 1, key, kn);
	return al__view_put(v, DB_GROUPS, k, group->via.str.size + 1 + kn, "", 0, err);
}

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	const al_event_def *d = e->def;
	bool created = d == al__ev(AL_EV_AGENT_CREATED);
	if (!created && d != al__ev(AL_EV_AGENT_UPDATED) && d != al__ev(AL_EV_AGENT_STATUS_CHANGED) &&
	    d != al__ev(AL_EV_AGENT_SCHEDULABLE_CHANGED))
		return AL_OK;
	char key[AL_MAX_ID];
	if (e->id.n == 0 || e->id.n > sizeof key)
		return al_err(err, AL_ECORRUPT, "event %llu: bad agent id", (unsigned long long)e->seq);
	memcpy(key, e->id.p, e->id.n); /* the old row's memory may move while it is replaced */
	msgpack_object base, *old = NULL;
	if (!created) {
		MDB_val val;
		if (al__view_get(v, DB_AGENTS, key, e->id.n, &val) != 0 ||
		    al_mp_decode(val.mv_data, val.mv_size, &v->w->zone, &base) != 0)
			return al_err(err, AL_ECORRUPT, "event %llu: %s for unknown agent %.*s", (unsigned long long)e->seq,
				      d->name, al__clip(e->id.n), e->id.p);
		old = &base;
	}
	al_str status = {"ALIVE", 5};
	bool schedulable = true;
	int64_t status_changed = row_time(old, "status_changed", e->time_us), lost_at = row_time(old, "lost_at", 0);
	if (old) {
		al_mp_str(old, "status", &status);
		al_mp_bool(old, "schedulable", &schedulable);
	}
	if (d == al__ev(AL_EV_AGENT_STATUS_CHANGED)) {
		al_mp_str(&e->fields, "status", &status);
		status_changed = e->time_us;
		if (al_str_eq(status, "LOST"))
			lost_at = e->time_us;
	} else if (d == al__ev(AL_EV_AGENT_SCHEDULABLE_CHANGED))
		al_mp_bool(&e->fields, "schedulable", &schedulable);

	msgpack_packer pk;
	msgpack_sbuffer *b = al__view_row(v, &pk);
	msgpack_pack_map(&pk, 13);
	al_pack_cstr(&pk, "id");
	al_pack_str(&pk, key, e->id.n);
	al_pack_cstr(&pk, "status");
	al_pack_str(&pk, status.p, status.n);
	al_pack_cstr(&pk, "schedulable");
	schedulable ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	static const char *const text[] = {"addr", "region", "architecture", "agent_version", "scaling_group"};
	for (size_t i = 0; i < sizeof text / sizeof *text; i++)
		pack_obj_or(&pk, text[i], pick(&e->fields, old, text[i]), 's');
	pack_obj_or(&pk, "available_slots", pick(&e->fields, old, "available_slots"), 'm');
	pack_obj_or(&pk, "images", pick(&e->fields, old, "images"), 'a');
	al_pack_cstr(&pk, "first_contact");
	msgpack_pack_int64(&pk, row_time(old, "first_contact", e->time_us));
	al_pack_cstr(&pk, "status_changed");
	msgpack_pack_int64(&pk, status_changed);
	al_pack_cstr(&pk, "lost_at");
	msgpack_pack_int64(&pk, lost_at);
	/* b holds the new row: from here on the old row's memory may move. */
	int rc = index_group(v, al_mp_get(&e->fields, "scaling_group"), key, e->id.n, err);
	return rc ? rc : al__view_put(v, DB_AGENTS, key, e->id.n, b->data, b->size, err);
}

/* v1: the first agents view. v2: no occupied_slots (always {}; v_occupancy holds it). */
/* The event types apply reads: the engine calls it for these only. */
static const enum al_ev_id applies_to[] = {
	AL_EV_AGENT_CREATED, AL_EV_AGENT_UPDATED, AL_EV_AGENT_STATUS_CHANGED, AL_EV_AGENT_SCHEDULABLE_CHANGED,
	AL_EV__COUNT};
const al_projection al__proj_agents = {"agents", 2, {"v_agents", "v_agent_groups", NULL}, apply,
				     mem_free, .on = applies_to};

/* ---- queries ----------------------------------------------------------------------------------- */

static MDB_dbi dbi(const al_store *s, int db) { return al__view_dbi(s, AL_P_AGENTS, db); }

/* 1 found (row decoded in z), 0 not found, or a negative al_ code. */
static int find_in(al_store *s, MDB_txn *txn, al_str id, msgpack_zone *z, msgpack_object *row, al_error *err)
{
	return al__get_map(txn, dbi(s, DB_AGENTS), id, ID_MAX, z, row, "agent", "an agent", err);
}

static int must_find(al_cmd *c, al_str id, msgpack_object *row)
{
	int rc = find_in(c->s, c->txn, id, c->zone, row, c->err);
	if (rc == 0)
		return al_err(c->err, AL_ENOT_FOUND, "agent %.*s: not found", al__clip(id.n), id.p);
	return rc < 0 ? rc : AL_OK;
}

/* The slot names of available and then those only in occupied, each once. */
typedef struct slot_names {
	al_str v[2 * AL_SLOTS_MAX];
	uint32_t n;
} slot_names;

static void add_name(slot_names *sn, al_str k)
{
	bool dup = false;
	for (uint32_t j = 0; j < sn->n && !dup; j++)
		dup = str_eq2(sn->v[j], k);
	if (!dup && sn->n < sizeof sn->v / sizeof *sn->v)
		sn->v[sn->n++] = k;
}

/* An amount of a slot vector: whole numbers as integers (bytes, counts), like the maps. */
static num vec_num(const al_slotvec *v, al_str name)
{
	double d = al_slotvec_get(v, name);
	if (d == floor(d) && fabs(d) < 9007199254740992.0)
		return (num){true, (int64_t)d, 0};
	return (num){false, 0, d};
}

/* What the sessions placed on agent id occupy (v_occupancy), into *occ and *sessions; an
 * unreadable row counts as nothing and is kept in *fail. */
static void occupancy_of(al_store *s, MDB_txn *txn, al_str id, al_slotvec *occ, int64_t *sessions, al_error *fail)
{
	msgpack_zone z;
	al_row_occupancy o;
	al_error err = {0};
	occ->n = 0;
	*sessions = 0;
	msgpack_zone_init(&z, 256);
	int rc = al__occupancy_get(s, txn, 'a', id, &z, &o, &err);
	if (rc == 1 && al_slotvec_parse(occ, o.slots) != 0)
		rc = al_err(&err, AL_ECORRUPT, "agent %.*s: occupied slots do not parse", al__clip(id.n), id.p);
	if (rc == 1)
		*sessions = o.sessions;
	else if (rc < 0 && fail->code == AL_OK)
		*fail = err;
	msgpack_zone_destroy(&z);
}

/*
 * The public row: the view row with times formatted, the slots as available, occupied (what
 * the sessions placed on it hold, v_occupancy) and free (= available - occupied, per slot;
 * occupied and free name every slot of available, and a slot only occupied too), sessions
 * (how many hold something on it), last_seen from memory (null when not heard from in this
 * process) and the entity version. An unreadable version or occupancy is kept in *fail
 * (al__entity_version_or).
 */
static void pack_public(al_store *s, MDB_txn *txn, const msgpack_object *row, msgpack_packer *pk, al_error *fail)
{
	al_str id = {"", 0};
	al_mp_str(row, "id", &id);
	msgpack_pack_map(pk, 18);
	static const char *const text[] = {"id", "status"};
	for (size_t i = 0; i < 2; i++)
		pack_obj_or(pk, text[i], al_mp_get(row, text[i]), 's');
	bool sched = true;
	al_mp_bool(row, "schedulable", &sched);
	al_pack_cstr(pk, "schedulable");
	sched ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	static const char *const more[] = {"scaling_group", "addr", "region", "architecture", "agent_version"};
	for (size_t i = 0; i < sizeof more / sizeof *more; i++)
		pack_obj_or(pk, more[i], al_mp_get(row, more[i]), 's');
	const msgpack_object *avail = al_mp_get(row, "available_slots");
	al_slotvec occ;
	int64_t sessions;
	occupancy_of(s, txn, id, &occ, &sessions, fail);
	slot_names sn = {.n = 0};
	for (uint32_t i = 0; i < map_size(avail); i++)
		add_name(&sn, key_str(&avail->via.map.ptr[i].key));
	for (uint32_t i = 0; i < occ.n; i++)
		add_name(&sn, (al_str){occ.s[i].name, strlen(occ.s[i].name)});
	pack_obj_or(pk, "available", avail, 'm');
	al_pack_cstr(pk, "occupied");
	msgpack_pack_map(pk, sn.n);
	for (uint32_t i = 0; i < sn.n; i++) {
		al_pack_str(pk, sn.v[i].p, sn.v[i].n);
		pack_num(pk, vec_num(&occ, sn.v[i]));
	}
	al_pack_cstr(pk, "free");
	msgpack_pack_map(pk, sn.n);
	for (uint32_t i = 0; i < sn.n; i++) {
		al_pack_str(pk, sn.v[i].p, sn.v[i].n);
		pack_num(pk, num_sub(obj_num(slot_of(avail, sn.v[i])), vec_num(&occ, sn.v[i])));
	}
	al_pack_cstr(pk, "sessions");
	msgpack_pack_int64(pk, sessions);
	pack_obj_or(pk, "images", al_mp_get(row, "images"), 'a');
	al__pack_time_or_nil(pk, "first_contact", row_time(row, "first_contact", 0));
	al__pack_time_or_nil(pk, "status_changed", row_time(row, "status_changed", 0));
	al__pack_time_or_nil(pk, "lost_at", row_time(row, "lost_at", 0));
	al__pack_time_or_nil(pk, "last_seen", mem_get(s, id));
	al_pack_cstr(pk, "version");
	msgpack_pack_uint64(pk, al__entity_version_or(s, txn, "agent", id, fail));
}

static bool row_in_group(const msgpack_object *row, al_str group)
{
	al_str g = {"", 0};
	al_mp_str(row, "scaling_group", &g);
	return group.n == 0 || str_eq2(g, group);
}

int al__agents_each(al_store *s, MDB_txn *txn, al_str group, al_row_fn fn, void *ctx, al_error *err)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, dbi(s, DB_AGENTS), &cur);
	if (rc)
		return al_err(err, AL_EIO_ERROR, "list agents: %s", mdb_strerror(rc));
	msgpack_zone z;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone_init(&z, 2048);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	MDB_val k, v;
	int m;
	for (m = mdb_cursor_get(cur, &k, &v, MDB_FIRST); m == 0 && rc == AL_OK;
	     m = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		msgpack_object row, pub;
		msgpack_zone_clear(&z);
		if (al_mp_decode(v.mv_data, v.mv_size, &z, &row) != 0) {
			rc = al_err(err, AL_ECORRUPT, "an agent view row does not decode");
			break;
		}
		if (!row_in_group(&row, group))
			continue;
		sb.size = 0;
		al_error fail = {0};
		pack_public(s, txn, &row, &pk, &fail);
		if (fail.code)
			rc = al_err(err, fail.code, "%s", fail.msg);
		else if (al_mp_decode(sb.data, sb.size, &z, &pub) != 0)
			rc = al_err(err, AL_EINTERNAL, "an agent row does not decode");
		else if ((rc = fn(&pub, ctx)) != 0 && (err == NULL || err->code == AL_OK))
			rc = al_err(err, rc < 0 ? rc : AL_EIO_ERROR, "the receiver stopped the agent listing");
	}
	if (rc == AL_OK)
		rc = al__cursor_end(m, err, "agents");
	mdb_cursor_close(cur);
	al_sbuffer_destroy(&sb);
	msgpack_zone_destroy(&z);
	return rc;
}

int al__agents_count_group(al_cmd *c, al_str group, uint64_t *n)
{
	*n = 0;
	char prefix[AL_MAX_ID + 1];
	if (group.n == 0 || group.n >= sizeof prefix)
		return AL_OK;
	memcpy(prefix, group.p, group.n);
	prefix[group.n] = 0;
	size_t pn = group.n + 1;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(c->txn, dbi(c->s, DB_GROUPS), &cur);
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "count agents: %s", mdb_strerror(rc));
	MDB_val k = {pn, prefix}, v;
	int m;
	for (m = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); m == 0 && k.mv_size > pn && memcmp(k.mv_data, prefix, pn) == 0;
	     m = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		++*n;
	if (rc == AL_OK)
		rc = al__cursor_end(m, c->err, "agents");
	mdb_cursor_close(cur);
	return rc;
}

/* ---- field rules ---------------------------------------------------------------------------------- */

static bool hostname_ok(const char *h, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	size_t label = 0;
	bool last_numeric = true;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || h[i] == '.') {
			if (label == 0 || label > 63 || h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		unsigned char ch = (unsigned char)h[i];
		if (label == 0)
			last_numeric = true;
		if (!(isalnum(ch) || (ch == '-' && label > 0)))
			return false;
		last_numeric = last_numeric && isdigit(ch);
		label++;
	}
	return !last_numeric; /* 300.1.2.3 is neither an address nor a host name */
}

/* HOST:PORT with HOST a host name, an IPv4 address or [IPv6]; PORT 1 to 65535. */
static int check_addr(al_error *err, al_str a)
{
	const char *colon = NULL;
	for (size_t i = 0; i < a.n; i++)
		if (a.p[i] == ':')
			colon = a.p + i;
	if (a.n > ADDR_MAX || colon == NULL || colon == a.p)
		return al_err(err, AL_EINVALID_ARGUMENT, "addr: expected HOST:PORT (at most %d characters), got '%.*s'",
			      ADDR_MAX, al__clip(a.n), a.p);
	size_t hn = (size_t)(colon - a.p), pn = a.n - hn - 1;
	unsigned long port = 0;
	bool ok = pn >= 1 && pn <= 5;
	for (size_t i = 0; ok && i < pn; i++) {
		ok = isdigit((unsigned char)colon[1 + i]);
		port = port * 10 + (unsigned long)(colon[1 + i] - '0');
	}
	if (!ok || port == 0 || port > 65535)
		return al_err(err, AL_EINVALID_ARGUMENT, "addr: the port must be 1 to 65535, got '%.*s'", al__clip(pn), colon + 1);
	char host[ADDR_MAX + 1];
	unsigned char bin[16];
	memcpy(host, a.p, hn);
	host[hn] = 0;
	if (host[0] == '[' && hn > 2 && host[hn - 1] == ']') {
		host[hn - 1] = 0;
		ok = inet_pton(AF_INET6, host + 1, bin) == 1;
	} else
		ok = inet_pton(AF_INET, host, bin) == 1 || hostname_ok(host, hn);
	if (!ok)
		return al_err(err, AL_EINVALID_ARGUMENT,
			      "addr: '%.*s' is not a host name, an IPv4 address or a bracketed IPv6 address", al__clip(hn), a.p);
	return AL_OK;
}

/* 1 to 32 of a-z 0-9 _ -; the platform's aliases become their canonical names. */
static int check_arch(al_error *err, al_str *a)
{
	bool ok = a->n >= 1 && a->n <= 32;
	for (size_t i = 0; ok && i < a->n; i++)
		ok = islower((unsigned char)a->p[i]) || isdigit((unsigned char)a->p[i]) || a->p[i] == '_' || a->p[i] == '-';
	if (!ok)
		return al_err(err, AL_EINVALID_ARGUMENT, "arch: 1 to 32 of a-z, 0-9, '_' and '-' (e.g. x86_64, aarch64), got '%.*s'",
			      al__clip(a->n), a->p);
	if (al_str_eq(*a, "amd64") || al_str_eq(*a, "x86-64"))
		*a = (al_str){"x86_64", 6};
	else if (al_str_eq(*a, "arm64"))
		*a = (al_str){"aarch64", 7};
	return AL_OK;
}

/* A canonical image name registry/project/name:tag: printable, no spaces, a registry part, a
 * path and a non-empty tag after the last '/'. */
static bool image_ok(al_str s)
{
	if (s.n == 0 || s.n > IMAGE_MAX)
		return false;
	const char *slash = NULL, *colon = NULL;
	for (size_t i = 0; i < s.n; i++) {
		unsigned char ch = (unsigned char)s.p[i];
		if (ch <= ' ' || ch >= 0x7f)
			return false;
		if (ch == '/')
			slash = s.p + i, colon = NULL;
		else if (ch == ':' && slash)
			colon = s.p + i;
	}
	return slash && slash != s.p && s.p[0] != '/' && colon && colon > slash + 1 && colon < s.p + s.n - 1;
}

static int cmp_obj_str(const void *a, const void *b)
{
	al_str x = key_str(a), y = key_str(b);
	int r = memcmp(x.p, y.p, x.n < y.n ? x.n : y.n);
	return r ? r : (x.n > y.n) - (x.n < y.n);
}

/* The images argument checked, sorted and without duplicates, as an array in c->zone. */
static int images_arg(al_cmd *c, const msgpack_object *list, msgpack_object *out)
{
	uint32_t n = list->via.array.size;
	msgpack_object *v = al_zone_malloc(c->zone, (n ? n : 1) * sizeof *v);
	if (v == NULL)
		return al_err(c->err, AL_ENO_MEMORY, "out of memory");
	for (uint32_t i = 0; i < n; i++) {
		v[i] = list->via.array.ptr[i];
		if (!image_ok(key_str(&v[i])))
			return al_err(c->err, AL_EINVALID_ARGUMENT,
				      "images: '%.*s' is not a canonical image name registry/project/name:tag",
				      al__clip(v[i].via.str.size), v[i].via.str.ptr);
	}
	qsort(v, n, sizeof *v, cmp_obj_str);
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++) /* an image listed twice counts once */
		if (k == 0 || cmp_obj_str(&v[k - 1], &v[i]) != 0)
			v[k++] = v[i];
	out->type = MSGPACK_OBJECT_ARRAY;
	out->via.array.size = k;
	out->via.array.ptr = v;
	return AL_OK;
}

/* The available argument as a slot map (decoded in c->zone); cpu and mem are required. */
static int available_arg(al_cmd *c, al_str text, msgpack_object *out)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	int rc = al__slots_pack(c->err, "available", text, &pk);
	if (rc == AL_OK) {
		/* the zone keeps the bytes: strings of a decoded object point into its buffer */
		char *copy = al_zone_malloc(c->zone, sb.size ? sb.size : 1);
		if (copy == NULL)
			rc = al_err(c->err, AL_ENO_MEMORY, "out of memory");
		else {
			memcpy(copy, sb.data, sb.size);
			if (al_mp_decode(copy, sb.size, c->zone, out) != 0)
				rc = al_err(c->err, AL_EINTERNAL, "available: slots do not decode");
		}
	}
	al_sbuffer_destroy(&sb);
	if (rc == AL_OK && (slot_of(out, (al_str){"cpu", 3}) == NULL || slot_of(out, (al_str){"mem", 3}) == NULL))
		rc = al_err(c->err, AL_EINVALID_ARGUMENT, "available: must report cpu and mem, e.g. cpu=8,mem=32g");
	return rc;
}

/* ---- commands -------------------------------------------------------------------------------------- */

/* The heartbeat's arguments, checked. */
typedef struct beat {
	al_str id, addr, region, arch, version, group;
	bool has_region, has_arch, has_version, has_group, has_images;
	msgpack_object available, images;
} beat;

static int read_beat(al_cmd *c, beat *b)
{
	al_str avail;
	const msgpack_object *list;
	int rc;
	memset(b, 0, sizeof *b);
	al__arg_str(c, "id", &b->id);
	al__arg_str(c, "addr", &b->addr);
	al__arg_str(c, "available", &avail);
	b->has_region = al__arg_str(c, "region", &b->region);
	b->has_arch = al__arg_str(c, "arch", &b->arch);
	b->has_version = al__arg_str(c, "version", &b->version);
	b->has_group = al__arg_str(c, "group", &b->group);
	if ((rc = al__check_slug(c->err, "id", b->id)) || (rc = check_addr(c->err, b->addr)))
		return rc;
	if (b->has_region && (rc = al__check_text(c->err, "region", b->region, 1, 64)))
		return rc;
	if (b->has_arch && (rc = check_arch(c->err, &b->arch)))
		return rc;
	if (b->has_version && (rc = al__check_text(c->err, "version", b->version, 1, 64)))
		return rc;
	if (b->has_group && b->group.n == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "group: must not be empty");
	if ((rc = available_arg(c, avail, &b->available)))
		return rc;
	if ((b->has_images = al__arg_list(c, "images", &list)) && (rc = images_arg(c, list, &b->images)))
		return rc;
	return AL_OK;
}

/* Adds a text field to f when it is given and differs from the row's (always when row is NULL). */
static int text_change(al_mb *f, const char *key, const msgpack_object *row, bool given, al_str v)
{
	al_str cur = {"", 0};
	if (row && (!given || (al_mp_str(row, key, &cur) == 1 && str_eq2(cur, v))))
		return 0;
	al_mb_str(f, key, v.p, v.n);
	return 1;
}

/* The fields agent.created (row NULL) or agent.updated records; returns how many. */
static int beat_fields(const beat *b, const msgpack_object *row, al_mb *f)
{
	static const al_str dflt_region = {"local", 5}, dflt_arch = {"x86_64", 6}, dflt_group = {"default", 7};
	int n = 0;
	n += text_change(f, "addr", row, true, b->addr);
	n += text_change(f, "region", row, b->has_region, b->has_region ? b->region : dflt_region);
	n += text_change(f, "architecture", row, b->has_arch, b->has_arch ? b->arch : dflt_arch);
	n += text_change(f, "agent_version", row, b->has_version, b->has_version ? b->version : (al_str){"", 0});
	if (row == NULL || !slots_equal(al_mp_get(row, "available_slots"), &b->available)) {
		msgpack_pack_object(al_mb_key(f, "available_slots"), b->available);
		n++;
	}
	n += text_change(f, "scaling_group", row, b->has_group, b->has_group ? b->group : dflt_group);
	if (row == NULL || (b->has_images && !lists_equal(al_mp_get(row, "images"), &b->images))) {
		msgpack_packer *pk = al_mb_key(f, "images");
		if (b->has_images)
			msgpack_pack_object(pk, b->images);
		else
			msgpack_pack_array(pk, 0);
		n++;
	}
	return n;
}

static int pack_agent(al_cmd *c, al_str id)
{
	msgpack_object row;
	int rc = must_find(c, id, &row);
	if (rc == AL_OK)
		pack_public(c->s, c->txn, &row, c->out, &c->failed);
	return rc;
}

int al__agent_heartbeat(al_cmd *c)
{
	beat b;
	msgpack_object row;
	int rc = read_beat(c, &b);
	if (rc)
		return rc;
	int found = find_in(c->s, c->txn, b.id, c->zone, &row, c->err);
	if (found < 0)
		return found;
	al_mb f;
	al_mb_init(&f);
	int n = beat_fields(&b, found ? &row : NULL, &f);
	char status[16] = "ALIVE"; /* copied: the row's memory may move once we emit */
	if (found)
		al_str_cpy(status, sizeof status, row_str(&row, "status"));
	/* The group is checked last, and only when it changes: an agent stays in a group that was
	 * deactivated after it joined (deactivation stops new sessions, not agents). */
	al_str group = b.has_group ? b.group : (al_str){"default", 7};
	if (!found || (b.has_group && !str_eq2(row_str(&row, "scaling_group"), b.group)))
		rc = al__rgroup_require(c, "group", group);
	if (rc == AL_OK && mem_set(c->s, b.id, c->now_us, true) < 0) /* every accepted heartbeat */
		rc = al_err(c->err, AL_ENO_MEMORY, "out of memory");
	if (rc == AL_OK && n > 0)
		rc = al__emit(c, found ? AL_EV_AGENT_UPDATED : AL_EV_AGENT_CREATED, b.id, &f);
	al_mb_free(&f);
	if (rc == AL_OK && found && strcmp(status, "ALIVE") != 0) {
		al_mb_init(&f);
		al_mb_cstr(&f, "status", "ALIVE");
		al_mb_cstr(&f, "previous", status);
		msgpack_object now;
		const msgpack_object *imgs;
		/* termination cleared what the agent had installed (images.c): say it again */
		if (strcmp(status, "TERMINATED") == 0 && must_find(c, b.id, &now) == AL_OK &&
		    (imgs = al_mp_get(&now, "images")) != NULL)
			al_mb_obj(&f, "images", imgs);
		rc = al__emit(c, AL_EV_AGENT_STATUS_CHANGED, b.id, &f);
		al_mb_free(&f);
	}
	return rc ? rc : pack_agent(c, b.id);
}

/* Records status (unless the agent already has it). */
static int set_status(al_cmd *c, al_str id, const char *status)
{
	msgpack_object row;
	al_str cur = {"", 0};
	int rc = must_find(c, id, &row);
	if (rc)
		return rc;
	al_mp_str(&row, "status", &cur);
	if (al_str_eq(cur, status))
		return AL_OK;
	char previous[16];
	al_str_cpy(previous, sizeof previous, cur);
	al_mb f;
	al_mb_init(&f);
	al_mb_cstr(&f, "status", status);
	al_mb_cstr(&f, "previous", previous);
	rc = al__emit(c, AL_EV_AGENT_STATUS_CHANGED, id, &f);
	al_mb_free(&f);
	return rc;
}

int al__agent_terminate(al_cmd *c)
{
	al_str id;
	bool restarting = false;
	al__arg_str(c, "id", &id);
	al__arg_bool(c, "restarting", &restarting);
	int rc = set_status(c, id, restarting ? "RESTARTING" : "TERMINATED");
	return rc ? rc : pack_agent(c, id);
}

int al__agent_set_schedulable(al_cmd *c)
{
	al_str id;
	bool want = true, cur = true;
	msgpack_object row;
	al__arg_str(c, "id", &id);
	al__arg_bool(c, "schedulable", &want);
	int rc = must_find(c, id, &row);
	if (rc)
		return rc;
	al_mp_bool(&row, "schedulable", &cur);
	if (cur != want) { /* already so: nothing to record */
		al_mb f;
		al_mb_init(&f);
		al_mb_bool(&f, "schedulable", want);
		rc = al__emit(c, AL_EV_AGENT_SCHEDULABLE_CHANGED, id, &f);
		al_mb_free(&f);
	}
	return rc ? rc : pack_agent(c, id);
}

/* The agent-heartbeat-timeout setting in µs: seconds (a number >= 1, optionally ending in
 * "s"); anything else falls back to the default. */
static int64_t heartbeat_timeout_us(al_cmd *c, double *secs)
{
	char buf[64], *end;
	if (al__setting_get(c->s, c->txn, "agent-heartbeat-timeout", buf, sizeof buf, "40", c->err))
		al__cmd_fail_err(c, c->err);
	double v = strtod(buf, &end);
	if (end == buf || (*end && strcmp(end, "s") != 0) || !(v >= 1 && v <= 1e9))
		v = TIMEOUT_DEFAULT;
	*secs = v;
	return (int64_t)(v * 1e6);
}

typedef struct expire_scan {
	int64_t timeout;
	al_strs lost;
} expire_scan;

/* Collects a live agent not heard from within the timeout. */
static int expire_one(al_cmd *c, al_str id, const msgpack_object *row, void *ctx)
{
	expire_scan *e = ctx;
	al_str status = {"", 0};
	al_mp_str(row, "status", &status);
	if (!al_str_eq(status, "ALIVE") && !al_str_eq(status, "RESTARTING"))
		return AL_OK;
	int known = mem_set(c->s, id, c->now_us, false); /* unknown: the restart grace starts now */
	if (known < 0)
		return al_err(c->err, AL_ENO_MEMORY, "out of memory");
	if (known == 0 || c->now_us - mem_get(c->s, id) <= e->timeout)
		return AL_OK;
	return al__strs_add(c, &e->lost, id);
}

int al__agent_expire(al_cmd *c)
{
	double secs;
	expire_scan e = {.timeout = heartbeat_timeout_us(c, &secs)};
	/* The ids to mark first, copied: emitting changes the view under a cursor. */
	int rc = al__each_row(c, dbi(c->s, DB_AGENTS), "list agents", "an agent", "agents", expire_one, &e);
	const al_str *lost = e.lost.v;
	size_t n = e.lost.n;
	for (size_t i = 0; i < n && rc == AL_OK; i++)
		rc = set_status(c, lost[i], "LOST");
	if (rc)
		return rc;
	msgpack_pack_map(c->out, 2);
	al_pack_cstr(c->out, "lost");
	msgpack_pack_array(c->out, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		al_pack_str(c->out, lost[i].p, lost[i].n);
	al_pack_cstr(c->out, "timeout");
	msgpack_pack_double(c->out, secs);
	return AL_OK;
}

int al__agent_get(al_cmd *c)
{
	al_str id;
	al__arg_str(c, "id", &id);
	return pack_agent(c, id);
}

typedef struct agent_list {
	al_rows rows;
	al_str group;
	bool terminated;
} agent_list;

static int list_one(al_cmd *c, al_str key, const msgpack_object *row, void *ctx)
{
	agent_list *l = ctx;
	al_str status = {"", 0};
	(void)key;
	al_mp_str(row, "status", &status);
	if (al_str_eq(status, "TERMINATED") != l->terminated || !row_in_group(row, l->group))
		return AL_OK;
	pack_public(c->s, c->txn, row, &l->rows.pk, &c->failed);
	return al__rows_push(c, &l->rows);
}

int al__agent_list(al_cmd *c)
{
	bool terminated = false;
	al_str group = {"", 0};
	al__arg_bool(c, "terminated", &terminated);
	if (al__arg_str(c, "group", &group) && group.n == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "group: must not be empty");
	agent_list l = {.group = group, .terminated = terminated};
	al__rows_begin(c, &l.rows);
	int rc = al__each_row(c, dbi(c->s, DB_AGENTS), "list agents", "an agent", "agents", list_one, &l);
	return al__rows_end(c, &l.rows, rc);
}
