/*
 * scheduler.c - the scheduling pass (platform model §10.4, §10.5): scheduler.run.
 *
 * A pass is a command, so its decisions are events and a replay reproduces every one of them
 * from the log. adminlogd runs it as its own write (srv.c). For each resource group with at
 * least one ALIVE agent (the platform visits no other group: its pending sessions are neither
 * scheduled nor timed out), in name order:
 *   1. PENDING sessions older than the group's pending_timeout are cancelled (session.cancelled,
 *      pending-timeout).
 *   2. The other PENDING sessions are candidates, taken in the group's scheduler's order: fifo
 *      oldest first, except that sessions already tried retries-to-skip times go after all
 *      the others (the head-of-line rule); lifo newest first; drf the oldest session of the
 *      access key with the smallest dominant share (below).
 *   3. Each candidate goes through every predicate, in the platform's order, and the failures
 *      are recorded together (session.scheduling_failed, predicate-checks-failed); a system
 *      session whose predicates fail is cancelled instead, as the platform does.
 *   4. Then an agent: ALIVE, schedulable, of the session's architecture, with room for the
 *      containers in every slot (a single-node session's containers all on one agent, a
 *      multi-node session's each where it fits); none: session.scheduling_failed,
 *      no-available-instances. Found: session.scheduled with the agents and the occupied
 *      slots, and the pass counts them as taken for the candidates after it.
 *
 * Agent choice (the agent-selection setting): among the agents with room, fewest accelerator
 * slot types the session does not ask for first (the platform's FIFO/LIFO preference, used by
 * every scheduler here), then by what remains after placing it in the requested slots taken
 * in the order cuda*, rocm*, tpu*, cpu, mem, others by name: dispersed most remaining first,
 * concentrated least; ties by agent id, so a replay chooses the same.
 *
 * DRF: an access key's dominant share is the largest, over slot types, of what its sessions
 * in the group occupy divided by the group's capacity (what the schedulable ALIVE agents
 * have): the standard definition, summing the key's sessions. The platform takes the largest
 * share of any single session instead (a max over sessions), which lets a key with many small
 * sessions look as small as one of them; see docs/catalogue.md.
 *
 * A failed attempt is recorded with what failed; the same failure again within ten minutes
 * of the last recorded one is not recorded again (nor counted as a retry): a session that
 * cannot be placed for hours would otherwise fill the log with one event per pass, every
 * scheduler-interval seconds. So retries count failures that differ or recur after that.
 *
 * Everything the predicates need is read once per group before the first decision and kept
 * in memory (the pass's zone), and updated as the pass places sessions: the views change
 * under it with every event it records.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "core/authz.h"
#include "nouns/sessions.h"
#include "util/alloc.h"
#include "util/slotvec.h"

#define NS AL_SLOTS_MAX
#define KEY_MAX 511
#define MSG_MAX 512
#define SAME_FAILURE_QUIET_US (600 * 1000000LL) /* an identical failure is recorded again after this */

/* Amounts per slot, indexed by the pass's slot table. */
typedef struct vec {
	double v[NS];
} vec;

/* An agent, a keypair, a user, a project or a domain: what it holds and what it may hold. */
typedef struct holder {
	char kind; /* 'k' 'u' 'p' 'd' */
	al_str key;
	vec occ, limit;
	unsigned limited;                  /* bit per slot: limit applies */
	int64_t sessions, pending;         /* occupying sessions, PENDING ones */
	int64_t system;                    /* keypairs: occupying SYSTEM sessions (sftp_concurrency_used) */
	int64_t conc, sftp, pend_max;      /* policy limits, -1: none */
	vec drf;                           /* keypairs: what their sessions in the group occupy */
	long q_head, q_tail;               /* drf: its candidates, oldest first (cand.q_next) */
	bool limits_read;                  /* load_limits ran */
	struct holder *next;               /* hash chain */
} holder;

typedef struct agent {
	al_str id, arch;
	int arch_id;
	vec cap, free;
	unsigned has; /* slots it has (> 0) */
} agent;

typedef struct cand {
	al_str id, type, arch, ak, user, project_id, domain;
	int64_t created, starts_at, retries, size;
	bool multi, system, deps_ok;
	al_str deps_waiting; /* ids of unfinished dependencies, for the message */
	al_str last_failed;  /* what failed at the last recorded try ("predicate: message" lines) */
	int64_t last_try;
	vec req, total;      /* per container, all containers */
	unsigned asks;       /* slots it asks for (> 0) */
	holder *kp, *u, *p, *d;
	int arch_id;  /* index of arch among the pass's architectures */
	long q_next; /* drf: the key's next candidate */
	bool done;
} cand;

typedef struct pass {
	al_cmd *c;
	msgpack_zone z;
	char names[NS][AL_SLOT_NAME_MAX + 1];
	int nnames;
	unsigned accel; /* slots that are accelerators: neither cpu nor a memory slot */
	al_str archs[16];
	int narchs;
	/* the group being scheduled */
	al_str group, scheduler;
	int64_t pending_timeout_us, retries_to_skip;
	bool concentrated;
	agent *agents;
	size_t nagents, cap_agents;
	bool any_alive;
	cand *cands;
	size_t ncands, cap_cands;
	vec capacity;
	holder *table[1024];
	/* totals for the reply */
	uint64_t scheduled, failed, cancelled;
} pass;

/* ---- memory ---------------------------------------------------------------------------------- */

static al_str keep(pass *ps, al_str s)
{
	char *p = al_zone_malloc(&ps->z, s.n + 1);
	if (p == NULL) {
		al__cmd_fail(ps->c, AL_ENO_MEMORY, "scheduler: out of memory");
		return (al_str){"", 0};
	}
	if (s.n) /* an empty text may have no pointer */
		memcpy(p, s.p, s.n);
	p[s.n] = 0;
	return (al_str){p, s.n};
}

static bool grow(pass *ps, void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return true;
	size_t ncap = *cap ? 2 * *cap : 64;
	void *nv = realloc(*v, ncap * size);
	if (nv == NULL)
		return al__cmd_fail(ps->c, AL_ENO_MEMORY, "scheduler: out of memory"), false;
	*v = nv, *cap = ncap;
	return true;
}

/* The pass's index of slot name, added when new; -1 when the table is full. */
static int slot_id(pass *ps, al_str name)
{
	for (int i = 0; i < ps->nnames; i++)
		if (strlen(ps->names[i]) == name.n && memcmp(ps->names[i], name.p, name.n) == 0)
			return i;
	if (ps->nnames == NS || name.n == 0 || name.n > AL_SLOT_NAME_MAX)
		return -1;
	memcpy(ps->names[ps->nnames], name.p, name.n);
	ps->names[ps->nnames][name.n] = 0;
	if (!al_str_eq(name, "cpu") && !strstr(ps->names[ps->nnames], "mem"))
		ps->accel |= 1u << ps->nnames;
	return ps->nnames++;
}

/* The pass's number for an architecture (comparing agents is then an integer compare); -1
 * for a 17th, which no agent has then. */
static int arch_id(pass *ps, al_str a)
{
	for (int i = 0; i < ps->narchs; i++)
		if (ps->archs[i].n == a.n && memcmp(ps->archs[i].p, a.p, a.n) == 0)
			return i;
	if (ps->narchs == 16)
		return -1;
	ps->archs[ps->narchs] = a;
	return ps->narchs++;
}

/* Slot text ("cpu=2,mem=...") as a vector times k; mask gets the slots above 0. */
static int vec_of(pass *ps, al_str text, double k, vec *out, unsigned *mask)
{
	al_slotvec sv;
	memset(out, 0, sizeof *out);
	if (al_slotvec_parse(&sv, text) != 0)
		return al_err(ps->c->err, AL_ECORRUPT, "scheduler: stored slots do not parse: %.*s", al__clip(text.n), text.p);
	for (uint32_t i = 0; i < sv.n; i++) {
		int id = slot_id(ps, (al_str){sv.s[i].name, strlen(sv.s[i].name)});
		if (id < 0)
			return al_err(ps->c->err, AL_EINVALID_ARGUMENT, "scheduler: more than %d slot types", NS);
		out->v[id] = al_slot_round(sv.s[i].v * k);
		if (mask && out->v[id] > 0)
			*mask |= 1u << id;
	}
	return AL_OK;
}

/* A slot map (slot -> number) as a vector. */
static int vec_of_map(pass *ps, const msgpack_object *m, vec *out, unsigned *mask)
{
	memset(out, 0, sizeof *out);
	for (uint32_t i = 0; m && m->type == MSGPACK_OBJECT_MAP && i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key, *v = &m->via.map.ptr[i].val;
		double x = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)v->via.u64
			   : v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32 ? v->via.f64
												    : NAN;
		if (k->type != MSGPACK_OBJECT_STR || isnan(x))
			continue;
		int id = slot_id(ps, (al_str){k->via.str.ptr, k->via.str.size});
		if (id < 0)
			return al_err(ps->c->err, AL_EINVALID_ARGUMENT, "scheduler: more than %d slot types", NS);
		out->v[id] = x;
		if (mask)
			*mask |= 1u << id;
	}
	return AL_OK;
}

static void vec_add(vec *a, const vec *b, double k)
{
	for (int i = 0; i < NS; i++)
		if (b->v[i] != 0)
			a->v[i] = al_slot_round(a->v[i] + k * b->v[i]);
}

/* ---- holders: keypairs, users, projects, domains --------------------------------------------- */

static int64_t limit_int(const msgpack_object *pol, const char *key)
{
	const msgpack_object *o = pol ? al_mp_get(pol, key) : NULL;
	if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (int64_t)o->via.u64;
	if (o && (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32))
		return (int64_t)o->via.f64;
	return -1; /* "unlimited" */
}

/* A keypair policy's limits on h, for every slot the pass knows. */
static void policy_limits(pass *ps, holder *h, const msgpack_object *pol)
{
	for (int i = 0; i < ps->nnames; i++) {
		double lim;
		if (al__policy_slot_limit(pol, (al_str){ps->names[i], strlen(ps->names[i])}, &lim))
			h->limited |= 1u << i, h->limit.v[i] = lim;
	}
}

/* A keypair: its occupancy and its policy's limits. */
static int load_keypair(pass *ps, holder *h)
{
	al_cmd *c = ps->c;
	al_keypair_info k;
	msgpack_object pol;
	int rc = al__keypair_info(c->s, c->txn, h->key, &k, c->zone, c->err);
	if (rc == 1 && (rc = al__policy_row(c->s, c->txn, AL_POLICY_KEYPAIR, k.resource_policy, c->zone, &pol, c->err)) == 1) {
		policy_limits(ps, h, &pol);
		h->conc = limit_int(&pol, "concurrent_jobs");
		h->sftp = limit_int(&pol, "max_concurrent_sftp_sessions");
		h->pend_max = limit_int(&pol, "max_pending_session_count");
	}
	return rc < 0 ? rc : AL_OK; /* a keypair or policy gone limits nothing */
}

/* A user: the policy of its main keypair limits all its sessions. */
static int load_user(pass *ps, holder *h)
{
	al_cmd *c = ps->c;
	al_user_auth u;
	al_keypair_info k;
	msgpack_object pol;
	int rc = al__user_auth_info(c->s, c->txn, h->key, &u, c->zone, c->err);
	if (rc == 1 && u.main_access_key.n &&
	    (rc = al__keypair_info(c->s, c->txn, u.main_access_key, &k, c->zone, c->err)) == 1 &&
	    (rc = al__policy_row(c->s, c->txn, AL_POLICY_KEYPAIR, k.resource_policy, c->zone, &pol, c->err)) == 1)
		policy_limits(ps, h, &pol);
	return rc < 0 ? rc : AL_OK;
}

/* A project or a domain: total_resource_slots, a slot it leaves out unlimited. */
static int load_total(pass *ps, holder *h)
{
	msgpack_object row;
	int rc = h->kind == 'p' ? al__project_row(ps->c, h->key, &row) : al__domain_row(ps->c, h->key, &row);
	if (rc == 1) {
		unsigned mask = 0;
		if ((rc = vec_of_map(ps, al_mp_get(&row, "total_resource_slots"), &h->limit, &mask)) != AL_OK)
			return rc;
		h->limited = mask;
	}
	return rc < 0 ? rc : AL_OK;
}

/* The holder (kind, key) of this group's pass, read from the views on first use. */
static int holder_of(pass *ps, char kind, al_str key, holder **out)
{
	uint64_t hv = XXH3_64bits_withSeed(key.p, key.n, (unsigned char)kind);
	holder **slot = &ps->table[hv % (sizeof ps->table / sizeof *ps->table)];
	for (holder *h = *slot; h; h = h->next)
		if (h->kind == kind && h->key.n == key.n && memcmp(h->key.p, key.p, key.n) == 0)
			return *out = h, AL_OK;
	holder *h = al_zone_malloc(&ps->z, sizeof *h);
	if (h == NULL)
		return al_err(ps->c->err, AL_ENO_MEMORY, "scheduler: out of memory");
	memset(h, 0, sizeof *h);
	h->kind = kind, h->key = key, h->conc = h->sftp = h->pend_max = -1;
	al_row_occupancy o;
	int rc = al__session_occupancy(ps->c, kind, key, &o);
	if (rc >= 0) {
		h->sessions = o.sessions, h->pending = o.pending, h->system = o.system_sessions;
		rc = vec_of(ps, o.slots, 1, &h->occ, NULL);
	}
	if (rc)
		return rc;
	h->next = *slot, *slot = h;
	return *out = h, AL_OK;
}

/* What h may hold, once per pass of a group, for every slot name the pass knows by then: so
 * only after every candidate was read (a holder met first through a running session would
 * otherwise miss a slot only a later candidate names). */
static int load_limits(pass *ps, holder *h)
{
	if (h->limits_read)
		return AL_OK;
	h->limits_read = true;
	return h->kind == 'k' ? load_keypair(ps, h) : h->kind == 'u' ? load_user(ps, h) : load_total(ps, h);
}

/* ---- loading a group: agents and sessions ---------------------------------------------------- */

static int load_agent(const msgpack_object *row, void *ctx)
{
	pass *ps = ctx;
	al_str status = {"", 0}, id = {"", 0}, arch = {"", 0};
	bool sched = false;
	al_mp_str(row, "status", &status);
	al_mp_str(row, "id", &id);
	al_mp_str(row, "architecture", &arch);
	al_mp_bool(row, "schedulable", &sched);
	if (!al_str_eq(status, "ALIVE"))
		return 0;
	ps->any_alive = true;
	if (!sched || !grow(ps, (void **)&ps->agents, &ps->cap_agents, ps->nagents, sizeof *ps->agents))
		return ps->c->failed.code;
	agent *a = &ps->agents[ps->nagents];
	memset(a, 0, sizeof *a);
	a->id = keep(ps, id), a->arch = keep(ps, arch);
	a->arch_id = arch_id(ps, a->arch);
	/* What it has free: its capacity less what the sessions placed on it occupy (the public
	 * row reads that from v_occupancy already). */
	vec occ;
	int rc = vec_of_map(ps, al_mp_get(row, "available"), &a->cap, &a->has);
	if (rc == AL_OK)
		rc = vec_of_map(ps, al_mp_get(row, "occupied"), &occ, NULL);
	if (rc)
		return rc;
	a->free = a->cap;
	vec_add(&a->free, &occ, -1);
	vec_add(&ps->capacity, &a->cap, 1);
	ps->nagents++;
	return AL_OK;
}

/* Whether every dependency finished well (TERMINATED, exit code 0 or none); else the ids of
 * those still waited for, comma-joined. */
static int check_deps(pass *ps, al_str deps, cand *k)
{
	char waiting[1024];
	size_t len = 0;
	k->deps_ok = true;
	for (size_t i = 0; i < deps.n;) {
		const char *comma = memchr(deps.p + i, ',', deps.n - i);
		al_str id = {deps.p + i, comma ? (size_t)(comma - deps.p) - i : deps.n - i};
		al_sess_row r;
		int rc = al__session_find(ps->c, id, &r);
		if (rc < 0)
			return rc;
		if (rc == 0 || !al_str_eq(r.st.status, "TERMINATED") || (r.st.has_exit_code && r.st.exit_code != 0)) {
			k->deps_ok = false;
			if (len < sizeof waiting)
				len += (size_t)snprintf(waiting + len, sizeof waiting - len, "%s%.*s", len ? ", " : "",
							al__clip(id.n), id.p);
		}
		i += id.n + 1;
	}
	k->deps_waiting = keep(ps, (al_str){waiting, len < sizeof waiting ? len : sizeof waiting - 1});
	return AL_OK;
}

/* One live session of the group: a candidate when PENDING; else, for DRF, what its key holds
 * in the group. */
static int load_session(al_cmd *c, al_str rest, const MDB_val *val, void *ctx)
{
	(void)val;
	pass *ps = ctx;
	al_sess_row r;
	int rc = al__session_find(c, rest, &r);
	if (rc <= 0)
		return rc < 0 ? rc : al_err(c->err, AL_ECORRUPT, "the live session index names a missing session");
	int st = al__session_status(r.st.status);
	if (st != AL_SS_PENDING) {
		holder *kp;
		vec occ;
		if (!al__session_holds_agent(st) || r.st.agents.n == 0)
			return AL_OK;
		if ((rc = holder_of(ps, 'k', keep(ps, r.a.access_key), &kp)) || (rc = vec_of(ps, r.st.occupied, 1, &occ, NULL)))
			return rc;
		vec_add(&kp->drf, &occ, 1);
		return AL_OK;
	}
	if (!grow(ps, (void **)&ps->cands, &ps->cap_cands, ps->ncands, sizeof *ps->cands))
		return c->failed.code;
	cand *k = &ps->cands[ps->ncands];
	memset(k, 0, sizeof *k);
	k->id = keep(ps, rest), k->type = keep(ps, r.a.type), k->arch = keep(ps, r.a.architecture);
	k->arch_id = arch_id(ps, k->arch);
	k->ak = keep(ps, r.a.access_key), k->user = keep(ps, r.a.user), k->project_id = keep(ps, r.a.project_id);
	k->domain = keep(ps, r.a.domain);
	k->created = r.a.created_at, k->starts_at = r.a.starts_at, k->retries = r.st.retries;
	k->last_failed = keep(ps, r.st.failed), k->last_try = r.st.last_try;
	k->size = r.a.cluster_size > 0 ? r.a.cluster_size : 1;
	k->multi = al_str_eq(r.a.cluster_mode, "multi-node");
	k->system = al_str_eq(r.a.type, "system");
	if ((rc = vec_of(ps, r.a.resources, 1, &k->req, &k->asks)) || (rc = vec_of(ps, r.a.resources, (double)k->size, &k->total, NULL)))
		return rc;
	if ((rc = check_deps(ps, r.a.depends_on, k)))
		return rc;
	ps->ncands++;
	return c->failed.code;
}

/* The holders of every candidate (after every slot name is known, for the limits). */
static int load_holders(pass *ps)
{
	for (size_t i = 0; i < ps->ncands; i++) {
		cand *k = &ps->cands[i];
		int rc = holder_of(ps, 'k', k->ak, &k->kp);
		if (rc == AL_OK)
			rc = holder_of(ps, 'u', k->user, &k->u);
		if (rc == AL_OK)
			rc = holder_of(ps, 'p', k->project_id, &k->p);
		if (rc == AL_OK)
			rc = holder_of(ps, 'd', k->domain, &k->d);
		for (int j = 0; rc == AL_OK && j < 4; j++)
			rc = load_limits(ps, j == 0 ? k->kp : j == 1 ? k->u : j == 2 ? k->p : k->d);
		if (rc)
			return rc;
	}
	return AL_OK;
}

static int cmp_created(const void *a, const void *b)
{
	const cand *x = a, *y = b;
	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	size_t n = x->id.n < y->id.n ? x->id.n : y->id.n;
	int c = memcmp(x->id.p, y->id.p, n);
	return c ? c : (x->id.n > y->id.n) - (x->id.n < y->id.n);
}

/* ---- predicates (platform model §10.5) ------------------------------------------------------- */

typedef struct fails {
	char v[8][MSG_MAX];
	int n;
} fails;

static void fail(fails *f, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(fails *f, const char *name, const char *fmt, ...)
{
	if (f->n == 8)
		return;
	int len = snprintf(f->v[f->n], MSG_MAX, "%s: ", name);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->v[f->n] + len, MSG_MAX - (size_t)len, fmt, ap);
	va_end(ap);
	f->n++;
}

/* "(cpu=4 mem=8g)": the limits of the slots a quota check found exceeded. */
static void quota_text(const pass *ps, const holder *h, unsigned over, char *buf, size_t n)
{
	size_t len = 0;
	buf[0] = 0;
	for (int i = 0; i < ps->nnames && len < n; i++) {
		if (!(over >> i & 1))
			continue;
		double v = h->limit.v[i];
		char num[40];
		if (strstr(ps->names[i], "mem") && v == floor(v) && fmod(v, 1073741824.0) == 0)
			snprintf(num, sizeof num, "%.0fg", v / 1073741824.0);
		else
			al_double_str(v, num, sizeof num);
		len += (size_t)snprintf(buf + len, n - len, "%s%s=%s", len ? " " : "", ps->names[i], num);
	}
}

/* The slots in which h would go over its limit with add more; 0 when it fits. */
static unsigned over_limit(const holder *h, const vec *add, unsigned asks)
{
	unsigned over = 0;
	for (unsigned m = h->limited & asks; m; m &= m - 1) {
		int i = __builtin_ctz(m);
		if (h->occ.v[i] + add->v[i] > h->limit.v[i] + 1e-9)
			over |= 1u << i;
	}
	return over;
}

static void check_quota(const pass *ps, const cand *k, const holder *h, const char *name, const char *whose, fails *f)
{
	unsigned over = over_limit(h, &k->total, k->asks);
	if (over) {
		char t[MSG_MAX / 2];
		quota_text(ps, h, over, t, sizeof t);
		fail(f, name, "Your %s resource quota is exceeded. (%s)", whose, t);
	}
}

static void predicates(const pass *ps, const cand *k, fails *f)
{
	if (k->starts_at && ps->c->now_us < k->starts_at)
		fail(f, "reserved_time", "Before start time");
	if (!k->deps_ok)
		fail(f, "dependencies", "Waiting dependency sessions to finish as success. (%s)", k->deps_waiting.p);
	/* The platform's two counters: system sessions against the SFTP limit, the others against
	 * concurrent_jobs. */
	int64_t lim = k->system ? k->kp->sftp : k->kp->conc;
	int64_t used = k->system ? k->kp->system : k->kp->sessions - k->kp->system;
	if (lim >= 0 && used >= lim)
		fail(f, "concurrency", "You cannot run more than %lld concurrent sessions", (long long)lim);
	if (k->system)
		return; /* private sessions skip the quotas */
	/* The platform fails when pending >= the limit (this one included), which makes a limit of
	 * 1 block every session; its newer versions refuse only past the limit, as here. */
	if (k->kp->pend_max >= 0 && k->kp->pending > k->kp->pend_max)
		fail(f, "pending_session_count_limit", "You cannot create more than %lld pending session(s).",
		     (long long)k->kp->pend_max);
	check_quota(ps, k, k->kp, "keypair_resource_limit", "keypair", f);
	check_quota(ps, k, k->u, "user_resource_limit", "main-keypair", f);
	check_quota(ps, k, k->p, "user_group_resource_limit", "group", f);
	check_quota(ps, k, k->d, "domain_resource_limit", "domain", f);
}

/* ---- agents ------------------------------------------------------------------------------------ */

static bool fits(const vec *free, const vec *need, unsigned asks)
{
	for (; asks; asks &= asks - 1) {
		int i = __builtin_ctz(asks);
		if (free->v[i] + 1e-9 < need->v[i])
			return false;
	}
	return true;
}

/* The order in which remaining slots rank agents: cuda*, rocm*, tpu*, cpu, mem, the rest. */
static int rank_slots(const pass *ps, unsigned asks, int *order)
{
	static const char *const prio[] = {"cuda", "rocm", "tpu", "cpu", "mem"};
	int n = 0;
	unsigned left = asks;
	for (size_t p = 0; p < sizeof prio / sizeof *prio; p++)
		for (int i = 0; i < ps->nnames; i++)
			if ((left >> i & 1) && strncmp(ps->names[i], prio[p], strlen(prio[p])) == 0)
				order[n++] = i, left &= ~(1u << i);
	for (int i = 0; i < ps->nnames; i++)
		if (left >> i & 1)
			order[n++] = i;
	return n;
}

/* Accelerator slot types the agent has and the session does not ask for. */
static int extra(const pass *ps, const agent *a, unsigned asks)
{
	int n = 0;
	for (unsigned m = a->has & ps->accel & ~asks; m; m &= m - 1) /* few bits: no popcount instruction needed */
		n++;
	return n;
}

/* Whether agent a is a better place than b for need: < 0 yes. */
static int better(const pass *ps, const agent *a, const agent *b, const vec *need, unsigned asks, const int *order,
		  int norder)
{
	int ea = extra(ps, a, asks), eb = extra(ps, b, asks);
	if (ea != eb)
		return ea < eb ? -1 : 1;
	for (int j = 0; j < norder; j++) {
		int i = order[j];
		double ra = a->free.v[i] - need->v[i], rb = b->free.v[i] - need->v[i];
		if (ra != rb)
			return (ra > rb) != ps->concentrated ? -1 : 1;
	}
	return a < b ? -1 : a > b; /* agents are loaded in id order */
}

static agent *best_agent(pass *ps, const cand *k, const vec *need, const int *order, int norder)
{
	agent *best = NULL;
	for (size_t i = 0; i < ps->nagents; i++) {
		agent *a = &ps->agents[i];
		if (a->arch_id != k->arch_id || k->arch_id < 0 || !fits(&a->free, need, k->asks))
			continue;
		if (best == NULL || better(ps, a, best, need, k->asks, order, norder) < 0)
			best = a;
	}
	return best;
}

/* Places the candidate's containers: agents[i] the agent of container i; false when one
 * does not fit anywhere (nothing is taken then). */
static bool place(pass *ps, const cand *k, agent **agents)
{
	int order[NS], norder = rank_slots(ps, k->asks, order);
	if (!k->multi) {
		agent *a = best_agent(ps, k, &k->total, order, norder);
		if (a == NULL)
			return false;
		for (int64_t i = 0; i < k->size; i++)
			agents[i] = a;
		vec_add(&a->free, &k->total, -1);
		return true;
	}
	for (int64_t i = 0; i < k->size; i++) {
		if ((agents[i] = best_agent(ps, k, &k->req, order, norder)) == NULL) {
			while (i-- > 0)
				vec_add(&agents[i]->free, &k->req, 1);
			return false;
		}
		vec_add(&agents[i]->free, &k->req, -1);
	}
	return true;
}

/* ---- decisions --------------------------------------------------------------------------------- */

/* A slot vector as a map slot -> amount, names sorted (as commands pack slot maps). */
static void pack_vec(const pass *ps, msgpack_packer *pk, const vec *v)
{
	uint32_t n = 0;
	int order[NS];
	for (int i = 0; i < ps->nnames; i++) {
		int j = (int)n;
		if (v->v[i] == 0)
			continue;
		for (; j > 0 && strcmp(ps->names[order[j - 1]], ps->names[i]) > 0; j--)
			order[j] = order[j - 1];
		order[j] = i, n++;
	}
	msgpack_pack_map(pk, n);
	for (uint32_t k = 0; k < n; k++) {
		int i = order[k];
		al_pack_cstr(pk, ps->names[i]);
		if (v->v[i] == floor(v->v[i]) && fabs(v->v[i]) < 9007199254740992.0)
			msgpack_pack_int64(pk, (int64_t)v->v[i]);
		else
			msgpack_pack_double(pk, v->v[i]);
	}
}

static int emit_cancel(pass *ps, cand *k, const char *why)
{
	al_mb f;
	al_mb_init(&f);
	al_mb_cstr(&f, "status", "CANCELLED");
	al_mb_cstr(&f, "from", "PENDING");
	al_mb_cstr(&f, "status_info", why);
	int rc = al__emit(ps->c, AL_EV_SESSION_CANCELLED, k->id, &f);
	al_mb_free(&f);
	k->kp->pending--;
	ps->cancelled++;
	return rc;
}

/* Whether fl is what failed at k's last recorded try, not long ago. */
static bool same_failure(const pass *ps, const cand *k, const fails *fl)
{
	if (k->last_try == 0 || ps->c->now_us - k->last_try >= SAME_FAILURE_QUIET_US)
		return false;
	size_t at = 0;
	for (int i = 0; i < fl->n; i++) {
		size_t n = strlen(fl->v[i]);
		if (at + n > k->last_failed.n || memcmp(k->last_failed.p + at, fl->v[i], n) != 0)
			return false;
		at += n;
		if (i + 1 < fl->n && (at >= k->last_failed.n || k->last_failed.p[at++] != '\n'))
			return false;
	}
	return at == k->last_failed.n;
}

static int emit_failed(pass *ps, cand *k, const char *why, const fails *fl)
{
	ps->failed++;
	if (same_failure(ps, k, fl))
		return AL_OK;
	al_mb f;
	al_mb_init(&f);
	al_mb_cstr(&f, "status_info", why);
	msgpack_packer *pk = al_mb_key(&f, "failed");
	msgpack_pack_array(pk, (uint32_t)fl->n);
	for (int i = 0; i < fl->n; i++)
		al_pack_cstr(pk, fl->v[i]);
	int rc = al__emit(ps->c, AL_EV_SESSION_SCHEDULING_FAILED, k->id, &f);
	al_mb_free(&f);
	return rc;
}

static int emit_scheduled(pass *ps, cand *k, agent **agents)
{
	al_mb f;
	al_mb_init(&f);
	al_mb_cstr(&f, "status", "SCHEDULED");
	al_mb_cstr(&f, "from", "PENDING");
	msgpack_packer *pk = al_mb_key(&f, "agents");
	msgpack_pack_array(pk, (uint32_t)k->size);
	for (int64_t i = 0; i < k->size; i++)
		al_pack_str(pk, agents[i]->id.p, agents[i]->id.n);
	pack_vec(ps, al_mb_key(&f, "occupied"), &k->total);
	al_mb_str(&f, "scheduler", ps->scheduler.p, ps->scheduler.n);
	int rc = al__emit(ps->c, AL_EV_SESSION_SCHEDULED, k->id, &f);
	al_mb_free(&f);
	/* What the views now say, for the candidates after it. */
	holder *hs[] = {k->kp, k->u, k->p, k->d};
	for (size_t i = 0; i < 4; i++)
		hs[i]->sessions++, vec_add(&hs[i]->occ, &k->total, 1);
	k->kp->system += k->system;
	k->kp->pending--;
	vec_add(&k->kp->drf, &k->total, 1);
	ps->scheduled++;
	return rc;
}

/* One candidate: predicates, then an agent. */
static int decide(pass *ps, cand *k)
{
	fails fl = {.n = 0};
	k->done = true;
	predicates(ps, k, &fl);
	if (fl.n)
		return k->system ? emit_cancel(ps, k, "predicate-checks-failed")
				 : emit_failed(ps, k, "predicate-checks-failed", &fl);
	agent *stack[16], **agents = k->size <= 16 ? stack : malloc((size_t)k->size * sizeof *agents);
	if (agents == NULL)
		return al_err(ps->c->err, AL_ENO_MEMORY, "scheduler: out of memory");
	int rc;
	if (place(ps, k, agents))
		rc = emit_scheduled(ps, k, agents);
	else {
		fail(&fl, "agent", "No agent of architecture %.*s has room for %lld container(s)", al__clip(k->arch.n),
		     k->arch.p, (long long)k->size);
		rc = emit_failed(ps, k, "no-available-instances", &fl);
	}
	if (agents != stack)
		free(agents);
	return rc;
}

/* ---- the schedulers ---------------------------------------------------------------------------- */

/* DRF: the key's dominant share of the group's capacity. */
static double share(const pass *ps, const holder *kp)
{
	double s = 0;
	for (int i = 0; i < ps->nnames; i++)
		if (ps->capacity.v[i] > 0 && kp->drf.v[i] / ps->capacity.v[i] > s)
			s = kp->drf.v[i] / ps->capacity.v[i];
	return s;
}

/* DRF's queue: the keys with candidates, in a heap by (dominant share, access key). Only the
 * key just served changes its share, so each decision costs one sift. */
typedef struct drf_heap {
	holder **v;
	double *share;
	size_t n;
} drf_heap;

static bool drf_less(const drf_heap *h, size_t a, size_t b)
{
	if (h->share[a] != h->share[b])
		return h->share[a] < h->share[b];
	al_str x = h->v[a]->key, y = h->v[b]->key;
	size_t n = x.n < y.n ? x.n : y.n;
	int c = memcmp(x.p, y.p, n);
	return c ? c < 0 : x.n < y.n;
}

static void drf_swap(drf_heap *h, size_t a, size_t b)
{
	holder *t = h->v[a];
	double s = h->share[a];
	h->v[a] = h->v[b], h->share[a] = h->share[b];
	h->v[b] = t, h->share[b] = s;
}

static void drf_down(drf_heap *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && drf_less(h, l, m))
			m = l;
		if (r < h->n && drf_less(h, r, m))
			m = r;
		if (m == i)
			return;
		drf_swap(h, i, m);
		i = m;
	}
}

static int run_drf(pass *ps)
{
	drf_heap h = {calloc(ps->ncands + 1, sizeof *h.v), calloc(ps->ncands + 1, sizeof *h.share), 0};
	int rc = h.v && h.share ? AL_OK : al_err(ps->c->err, AL_ENO_MEMORY, "scheduler: out of memory");
	for (size_t i = 0; rc == AL_OK && i < ps->ncands; i++) /* each key's candidates, oldest first */
		ps->cands[i].kp->q_head = ps->cands[i].kp->q_tail = -1;
	for (size_t i = 0; rc == AL_OK && i < ps->ncands; i++) {
		cand *k = &ps->cands[i];
		k->q_next = -1;
		if (k->done)
			continue;
		if (k->kp->q_head < 0) {
			k->kp->q_head = (long)i;
			h.v[h.n] = k->kp, h.share[h.n] = share(ps, k->kp), h.n++;
		} else
			ps->cands[k->kp->q_tail].q_next = (long)i;
		k->kp->q_tail = (long)i;
	}
	for (size_t i = h.n / 2; i-- > 0;)
		drf_down(&h, i);
	while (rc == AL_OK && h.n > 0) {
		holder *kp = h.v[0];
		cand *k = &ps->cands[kp->q_head];
		kp->q_head = k->q_next;
		rc = decide(ps, k);
		if (kp->q_head < 0)
			drf_swap(&h, 0, --h.n);
		else
			h.share[0] = share(ps, kp);
		drf_down(&h, 0);
	}
	free(h.v);
	free(h.share);
	return rc;
}

static int run_order(pass *ps)
{
	int rc = AL_OK;
	if (al_str_eq(ps->scheduler, "drf"))
		return run_drf(ps);
	bool lifo = al_str_eq(ps->scheduler, "lifo");
	int64_t skip = al_str_eq(ps->scheduler, "fifo") ? ps->retries_to_skip : 0;
	/* fifo with retries-to-skip: the often-tried go after every other candidate. */
	for (int round = 0; round < (skip > 0 ? 2 : 1); round++)
		for (size_t j = 0; rc == AL_OK && j < ps->ncands; j++) {
			cand *k = &ps->cands[lifo ? ps->ncands - 1 - j : j];
			if (!k->done && (skip <= 0 || (k->retries >= skip) == (round == 1)))
				rc = decide(ps, k);
		}
	return rc;
}

/* ---- a group's pass ----------------------------------------------------------------------------- */

static void reset_group(pass *ps)
{
	ps->nagents = ps->ncands = 0;
	ps->any_alive = false;
	memset(ps->table, 0, sizeof ps->table);
	memset(&ps->capacity, 0, sizeof ps->capacity);
}

static int group_options(pass *ps, al_str group)
{
	al_cmd *c = ps->c;
	msgpack_object row;
	char buf[32];
	int rc = al__rgroup_row(c, group, &row);
	if (rc <= 0)
		return rc < 0 ? rc : al_err(c->err, AL_EINVALID_ARGUMENT, "group: no resource group %.*s", al__clip(group.n), group.p);
	al_str sched = {"fifo", 4};
	int64_t timeout = 0, skip = -1;
	rc = AL_OK; /* found (1): the settings below answer AL_OK too */
	al_mp_str(&row, "scheduler", &sched);
	al_mp_int(&row, "pending_timeout", &timeout);
	al_mp_int(&row, "retries_to_skip", &skip);
	ps->scheduler = keep(ps, sched);
	ps->pending_timeout_us = timeout * 1000000;
	if (skip < 0 && (rc = al__setting_get(c->s, c->txn, "retries-to-skip", buf, sizeof buf, NULL, c->err)) == AL_OK)
		skip = atoll(buf);
	ps->retries_to_skip = skip;
	if (rc == AL_OK && (rc = al__setting_get(c->s, c->txn, "agent-selection", buf, sizeof buf, "dispersed", c->err)) == AL_OK)
		ps->concentrated = strcmp(buf, "concentrated") == 0;
	return rc;
}

typedef struct group_result {
	al_str group, scheduler;
	uint64_t scheduled, failed, cancelled;
	bool visited;
} group_result;

static int run_group(pass *ps, al_str group, group_result *out)
{
	al_cmd *c = ps->c;
	char prefix[KEY_MAX];
	reset_group(ps);
	ps->group = group;
	uint64_t s0 = ps->scheduled, f0 = ps->failed, c0 = ps->cancelled;
	int rc = al__agents_each(c->s, c->txn, group, load_agent, ps, c->err);
	if (rc || !ps->any_alive)
		return rc ? rc : c->failed.code;
	if ((rc = group_options(ps, group)))
		return rc;
	size_t pn = al__key2(prefix, sizeof prefix, 0, group, (al_str){"", 0});
	if ((rc = al__scan_prefix(c, al__view_dbi(c->s, AL_P_SESSIONS, AL_SDB_LIVE), prefix, pn, "live sessions",
				  load_session, ps)) ||
	    (rc = load_holders(ps)) || (rc = c->failed.code))
		return rc;
	if (ps->ncands) /* none: cands may be NULL, which qsort must not get */
		qsort(ps->cands, ps->ncands, sizeof *ps->cands, cmp_created);
	for (size_t i = 0; rc == AL_OK && i < ps->ncands; i++) { /* pending timeout first */
		cand *k = &ps->cands[i];
		if (ps->pending_timeout_us > 0 && c->now_us - k->created >= ps->pending_timeout_us) {
			k->done = true;
			rc = emit_cancel(ps, k, "pending-timeout");
		}
	}
	if (rc == AL_OK)
		rc = run_order(ps);
	*out = (group_result){group, ps->scheduler, ps->scheduled - s0, ps->failed - f0, ps->cancelled - c0, true};
	return rc;
}

/* The resource groups agents belong to, each once, sorted (al__agents_each walks agents). */
typedef struct group_names {
	pass *ps;
	al_str *v;
	size_t n, cap;
} group_names;

static int add_group(const msgpack_object *row, void *ctx)
{
	group_names *g = ctx;
	al_str name = {"", 0};
	al_mp_str(row, "scaling_group", &name);
	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].n == name.n && memcmp(g->v[i].p, name.p, name.n) == 0)
			return 0;
	if (!grow(g->ps, (void **)&g->v, &g->cap, g->n, sizeof *g->v))
		return g->ps->c->failed.code;
	g->v[g->n++] = keep(g->ps, name);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	const al_str *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);
	return c ? c : (x->n > y->n) - (x->n < y->n);
}

static void pack_result(al_cmd *c, const pass *ps, const group_result *r, size_t n)
{
	size_t visited = 0;
	for (size_t i = 0; i < n; i++)
		visited += r[i].visited;
	msgpack_pack_map(c->out, 4);
	al_pack_cstr(c->out, "scheduled");
	msgpack_pack_uint64(c->out, ps->scheduled);
	al_pack_cstr(c->out, "failed");
	msgpack_pack_uint64(c->out, ps->failed);
	al_pack_cstr(c->out, "cancelled");
	msgpack_pack_uint64(c->out, ps->cancelled);
	al_pack_cstr(c->out, "groups");
	msgpack_pack_array(c->out, (uint32_t)visited);
	for (size_t i = 0; i < n; i++) {
		if (!r[i].visited)
			continue;
		msgpack_pack_map(c->out, 5);
		al_pack_cstr(c->out, "group"), al_pack_str(c->out, r[i].group.p, r[i].group.n);
		al_pack_cstr(c->out, "scheduler"), al_pack_str(c->out, r[i].scheduler.p, r[i].scheduler.n);
		al_pack_cstr(c->out, "scheduled"), msgpack_pack_uint64(c->out, r[i].scheduled);
		al_pack_cstr(c->out, "failed"), msgpack_pack_uint64(c->out, r[i].failed);
		al_pack_cstr(c->out, "cancelled"), msgpack_pack_uint64(c->out, r[i].cancelled);
	}
}

int al__scheduler_run(al_cmd *c)
{
	pass *ps = calloc(1, sizeof *ps);
	if (ps == NULL)
		return al_err(c->err, AL_ENO_MEMORY, "scheduler: out of memory");
	ps->c = c;
	msgpack_zone_init(&ps->z, 1 << 16);
	group_names g = {.ps = ps};
	al_str one;
	int rc = AL_OK;
	if (al__arg_str(c, "group", &one)) {
		if ((rc = al__rgroup_row(c, one, &(msgpack_object){0})) == 0)
			rc = al_err(c->err, AL_EINVALID_ARGUMENT, "group: no resource group %.*s", al__clip(one.n), one.p);
		else if (rc == 1 && grow(ps, (void **)&g.v, &g.cap, 0, sizeof *g.v))
			g.v[g.n++] = keep(ps, one), rc = c->failed.code;
	} else if ((rc = al__agents_each(c->s, c->txn, (al_str){"", 0}, add_group, &g, c->err)) == AL_OK && g.n)
		qsort(g.v, g.n, sizeof *g.v, cmp_str); /* not with no agent: g.v is NULL then */
	group_result *res = rc == AL_OK && g.n ? calloc(g.n, sizeof *res) : NULL;
	if (rc == AL_OK && g.n && res == NULL)
		rc = al_err(c->err, AL_ENO_MEMORY, "scheduler: out of memory");
	for (size_t i = 0; rc == AL_OK && i < g.n; i++)
		rc = run_group(ps, g.v[i], &res[i]);
	if (rc == AL_OK)
		pack_result(c, ps, res, g.n);
	free(res);
	free(g.v);
	free(ps->agents);
	free(ps->cands);
	msgpack_zone_destroy(&ps->z);
	free(ps);
	return rc;
}
