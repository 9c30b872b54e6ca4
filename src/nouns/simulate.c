/*
 * simulate.c - a realistic cluster history written through the normal commands with a
 * simulated clock (al_simulate, `adminlog simulate`): the tests, the benchmarks and the demo
 * use it.
 *
 * The history is a list of actions, each at a time, run in time order from a heap: every
 * action is one command through al_exec, with the store's clock reading the action's time, so
 * the log is exactly what live administrators and agents would have written. The choices come
 * from a deterministic stream of the seed (util/detrand.h); `adminlog simulate` also makes the
 * process's random source a stream of the seed, so the keys and ids the commands draw repeat
 * too: same seed, same digest.
 *
 * What happens: at the start, a registry with images, domains, keypair policies, resource
 * groups with the three schedulers, projects, users (some admins) with their keypairs, and
 * agents; then, day after day, agents heartbeat, some go silent and are found LOST, some are
 * made unschedulable for a while or shut down and come back, a few users are deactivated
 * and later activated again, and sessions arrive at random through each day. Scheduling
 * passes (scheduler.run) place them, as adminlogd would: after each enqueue and each end, and
 * every 10 minutes; the groups cancel what waited more than their pending timeouts (2, 6 and
 * 4 hours). A placed
 * session is prepared and runs for minutes to days (the agent's steps are session.report),
 * some fail while preparing, a few restart; owners end their interactive sessions, and some
 * cancel theirs while they are still pending. A third of the users work under the sim-small
 * policy (an idle timeout of an hour, a lifetime of two days): their agents touch their
 * interactive sessions every 20 minutes while the owner works, some owners walk away, and the
 * timeout check (session.expire, every 5 minutes) ends what went idle or lived too long; some
 * batch jobs run past their --batch-timeout.
 */
#include <stdio.h>
#include <stdlib.h>

#include "nouns/images.h"
#include "nouns/nouns.h"
#include "util/argpack.h"
#include "util/detrand.h"

#define SEC 1000000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define HEARTBEAT_EVERY (3 * HOUR) /* with the agent-heartbeat-timeout below */
#define HEARTBEAT_TIMEOUT_S 21600
#define EXPIRE_EVERY HOUR
#define SCHEDULE_EVERY (10 * MIN) /* the timer's passes (adminlogd's default is 10 s) */
#define PENDING_TIMEOUT_S 7200    /* the fifo group's; the drf group's twice that, the lifo's 3 times */
#define SESSION_EXPIRE_EVERY (5 * MIN)
#define TOUCH_EVERY (20 * MIN)
#define FOREVER INT64_MAX
#define REGISTRY "sim.registry.local"
#define MAX_DOMAINS 4

const al_sim_opts al_sim_defaults = {.days = 30, .users = 50, .agents = 8, .sessions_per_day = 200, .seed = 1};

static const al_actor sim_actor = {"local:simulator", AL_ROLE_SUPERADMIN, NULL, NULL, NULL, NULL, NULL};

enum act_kind {
	A_HEARTBEAT,
	A_EXPIRE,
	A_SCHEDULABLE,
	A_TERMINATE,
	A_USER_STATUS,
	A_DAY,
	A_SESSION_NEW,
	A_SESSION,
	A_SESSION_CANCEL,
	A_SCHEDULE,
	A_SESSION_EXPIRE,
	A_TOUCH
};

typedef struct act {
	int64_t at;
	uint64_t order; /* ties run in the order they were planned */
	int kind;
	uint32_t who;
	int64_t arg;
} act;

typedef struct agent {
	int64_t silent_until; /* its heartbeats stop until then (a network failure) */
	bool down;            /* shut down: no heartbeats until it comes back */
} agent;

typedef struct user {
	char access_key[24]; /* its main keypair's */
	bool small;          /* under sim-small: idle timeout and lifetime */
	unsigned char domain, project; /* project: 1 or 2 of its domain */
} user;

/* A session's life once it is placed, planned then: each step is a report (or the owner's
 * terminate) at its time. */
enum step { S_PULLING, S_PREPARING, S_RUNNING, S_RESTARTING, S_END, S_TERMINATED, S_ERROR };

typedef struct session {
	char id[40];
	uint32_t user;
	bool batch, waiting;                  /* waiting: PENDING as far as the simulator knows */
	bool live;                            /* RUNNING (or restarting): its agent touches it */
	uint32_t gen;                         /* planned steps of an older life are dropped */
	int64_t idle_from;                    /* the owner stops working then (FOREVER: never) */
	unsigned char step, plan[12], nplan; /* the steps still to come, in order */
	int64_t wait[12];                     /* the delay before each */
} session;

typedef struct sim {
	al_store *s;
	const al_sim_opts *o;
	al_sim_stats *st;
	al_error *err;
	al_detrand rng;
	int64_t now, start, end;
	act *heap;
	size_t n, cap;
	uint64_t order;
	agent *agents;
	user *users;
	session *sessions;
	size_t nsessions, session_cap;
	uint32_t *waiting; /* sessions not yet placed, by index */
	size_t nwaiting, waiting_cap;
	unsigned ndomains;
} sim;

/* ---- the plan: a heap of actions by time --------------------------------------------------- */

static bool before(const act *a, const act *b) { return a->at < b->at || (a->at == b->at && a->order < b->order); }

static int plan(sim *w, int64_t at, int kind, uint32_t who, int64_t arg)
{
	if (at >= w->end)
		return AL_OK; /* beyond the history */
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 1024;
		act *h = al_realloc(w->heap, cap * sizeof *h);
		if (h == NULL)
			return al_err(w->err, AL_ENO_MEMORY, "out of memory planning the simulation");
		w->heap = h, w->cap = cap;
	}
	size_t i = w->n++;
	w->heap[i] = (act){at, w->order++, kind, who, arg};
	for (; i > 0 && before(&w->heap[i], &w->heap[(i - 1) / 2]); i = (i - 1) / 2) {
		act t = w->heap[i];
		w->heap[i] = w->heap[(i - 1) / 2];
		w->heap[(i - 1) / 2] = t;
	}
	return AL_OK;
}

static act next(sim *w)
{
	act top = w->heap[0];
	w->heap[0] = w->heap[--w->n];
	for (size_t i = 0;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < w->n && before(&w->heap[l], &w->heap[m]))
			m = l;
		if (r < w->n && before(&w->heap[r], &w->heap[m]))
			m = r;
		if (m == i)
			break;
		act t = w->heap[i];
		w->heap[i] = w->heap[m];
		w->heap[m] = t;
		i = m;
	}
	return top;
}

static int64_t between(sim *w, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(al_detrand_unit(&w->rng) * (double)(hi - lo));
}

static bool chance(sim *w, double p) { return al_detrand_unit(&w->rng) < p; }

/* ---- commands ---------------------------------------------------------------------------------- */

static int64_t sim_clock(void *ctx) { return ((sim *)ctx)->now; }

/*
 * Runs op with the (name, type, value) arguments, NULL-terminated (util/argpack.h) as the
 * simulator's superadmin, at w->now. must: a refusal ends the simulation (the set-up);
 * otherwise it is counted, as a live cluster's refusals are. The reply goes to rep when given.
 */
static int run(sim *w, bool must, al_reply *rep, const void *prep, size_t prep_len, const char *op, ...)
{
	msgpack_sbuffer args;
	msgpack_sbuffer_init(&args);
	va_list ap;
	va_start(ap, op);
	int rc = al_args_vpack(&args, ap);
	va_end(ap);
	al_reply own = {0};
	if (rep == NULL)
		rep = &own;
	if (rc == 0) {
		al_request req = {op, args.data, args.size, &sim_actor, prep, prep_len};
		rc = al_exec(w->s, &req, rep);
		w->st->commands++;
		if (rep->first_seq)
			w->st->events += rep->last_seq - rep->first_seq + 1;
		if (rc && !must && w->o->refused)
			w->o->refused(op, &rep->err, w->o->ctx);
		if (rc && !must)
			w->st->refused++, rc = AL_OK;
		else if (rc)
			rc = al_err(w->err, rc, "%s: %s", op, rep->err.msg);
	} else
		rc = al_err(w->err, AL_ENO_MEMORY, "out of memory packing %s", op);
	msgpack_sbuffer_destroy(&args);
	al_reply_free(&own);
	return rc;
}

#define MUST(w, op, ...) run((w), true, NULL, NULL, 0, (op), __VA_ARGS__, NULL)
#define TRY(w, op, ...) run((w), false, NULL, NULL, 0, (op), __VA_ARGS__, NULL)

/* ---- the set-up --------------------------------------------------------------------------- */

/* Domain d's name in buf (the first is the bootstrap's "default"). */
static const char *domain_name(unsigned d, char *buf, size_t n)
{
	if (d == 0)
		snprintf(buf, n, "default");
	else
		snprintf(buf, n, "sim-dom%u", d);
	return buf;
}

static void user_email(unsigned u, char *buf, size_t n) { snprintf(buf, n, "simuser%05u@sim.example.com", u); }
static void agent_id(unsigned a, char *buf, size_t n) { snprintf(buf, n, "sim-agent-%04u", a); }

static const char *const groups[] = {"sim-fifo", "sim-lifo", "sim-drf"};
static const char *const schedulers[] = {"fifo", "lifo", "drf"};

/* A labels map (msgpack) for an image: the labels a scan requires, and minimum resources. */
static void image_labels(msgpack_sbuffer *sb, const char *min_cpu, const char *min_mem, const char *accel)
{
	al_args_pack(sb, "ai.backend.kernelspec", 's', "1", "ai.backend.features", 's', "batch uid-match",
		     "ai.backend.base-distro", 's', "ubuntu22.04", "ai.backend.runtime-type", 's', "python",
		     "ai.backend.runtime-path", 's', "/usr/bin/python3", "ai.backend.role", 's', "COMPUTE",
		     "ai.backend.resource.min.cpu", 's', min_cpu, "ai.backend.resource.min.mem", 's', min_mem,
		     "ai.backend.accelerators", 's', accel, NULL);
}

/* The registry and its images, recorded by image.rescan as if the registry had answered. */
static int setup_images(sim *w)
{
	int rc = MUST(w, "registry.create", "hostname", 's', REGISTRY, "url", 's', "http://" REGISTRY);
	if (rc)
		return rc;
	msgpack_sbuffer lab[3];
	for (int i = 0; i < 3; i++)
		msgpack_sbuffer_init(&lab[i]);
	image_labels(&lab[0], "1", "1g", "");
	image_labels(&lab[1], "2", "4g", "cuda");
	image_labels(&lab[2], "1", "512m", "");
	const char *dg = "sha256:";
	char digests[3][72];
	for (int i = 0; i < 3; i++)
		snprintf(digests[i], sizeof digests[i], "%s%064d", dg, i + 1);
	al_listed_image imgs[] = {
		{"stable/python", "3.11", "x86_64", digests[0], 800 << 20, lab[0].data, lab[0].size},
		{"stable/pytorch", "2.1-cuda12", "x86_64", digests[1], 6000ll << 20, lab[1].data, lab[1].size},
		{"stable/python", "3.11", "aarch64", digests[2], 700 << 20, lab[2].data, lab[2].size},
	};
	al_mb prep;
	al_mb_init(&prep);
	rc = al__rescan_prep_listed(REGISTRY, imgs, sizeof imgs / sizeof *imgs, &prep, w->err);
	msgpack_sbuffer bytes;
	msgpack_sbuffer_init(&bytes);
	if (rc == AL_OK) {
		al_mb_to_sbuffer(&prep, &bytes);
		rc = run(w, true, NULL, bytes.data, bytes.size, "image.rescan", "registry", 's', REGISTRY, NULL);
	}
	al_sbuffer_destroy(&bytes);
	al_mb_free(&prep);
	for (int i = 0; i < 3; i++)
		msgpack_sbuffer_destroy(&lab[i]);
	return rc;
}

static int setup_org(sim *w)
{
	char d[32], p[64];
	int rc = MUST(w, "settings.set", "key", 's', "agent-heartbeat-timeout", "value", 'l', "21600");
	w->ndomains = 1 + w->o->users / 100;
	if (w->ndomains > MAX_DOMAINS)
		w->ndomains = MAX_DOMAINS;
	rc = rc ? rc : MUST(w, "domain.update", "name", 's', "default", "allowed_registries", 'l', REGISTRY);
	for (unsigned i = 1; rc == AL_OK && i < w->ndomains; i++)
		rc = MUST(w, "domain.create", "name", 's', domain_name(i, d, sizeof d), "allowed_registries", 'l', REGISTRY);
	rc = rc ? rc
		: MUST(w, "policy.create", "name", 's', "sim-small", "cpu", 'i', 8LL, "ram_gb", 'i', 32LL, "concurrent_jobs",
		       'i', 3LL, "idle_timeout", 'i', 3600LL, "session_lifetime", 'i', 172800LL);
	rc = rc ? rc
		: MUST(w, "policy.create", "name", 's', "sim-large", "cpu", 'i', 64LL, "ram_gb", 'i', 512LL, "gpu", 'i', 8LL,
		       "concurrent_jobs", 'i', 10LL, "containers_per_session", 'i', 4LL);
	for (unsigned g = 0; rc == AL_OK && g < 3; g++) {
		rc = MUST(w, "rgroup.create", "name", 's', groups[g], "scheduler", 's', schedulers[g], "pending_timeout", 'i',
			  PENDING_TIMEOUT_S * (g == 1 ? 3LL : g ? 2LL : 1LL));
		for (unsigned i = 0; rc == AL_OK && i < w->ndomains; i++)
			rc = MUST(w, "rgroup.associate", "name", 's', groups[g], "domain", 's', domain_name(i, d, sizeof d));
	}
	for (unsigned i = 0; rc == AL_OK && i < w->ndomains; i++)
		for (unsigned k = 1; rc == AL_OK && k <= 2; k++) {
			snprintf(p, sizeof p, "%s-p%u", domain_name(i, d, sizeof d), k);
			rc = MUST(w, "project.create", "name", 's', p, "domain", 's', d);
		}
	return rc;
}

/* The string member key of a reply's result map into buf ("" when absent). */
static void reply_str(const al_reply *rep, const char *key, char *buf, size_t n)
{
	msgpack_zone z;
	msgpack_object o;
	al_str v = {"", 0};
	msgpack_zone_init(&z, 2048);
	if (rep->result && al_mp_decode(rep->result, rep->result_len, &z, &o) == 0)
		al_mp_str(&o, key, &v);
	al_str_cpy(buf, n, v);
	msgpack_zone_destroy(&z);
}

static int setup_users(sim *w)
{
	char email[64], name[32], d[32], p[64];
	w->users = al_calloc(w->o->users, sizeof *w->users);
	if (w->users == NULL)
		return al_err(w->err, AL_ENO_MEMORY, "out of memory");
	int rc = AL_OK;
	for (unsigned u = 0; rc == AL_OK && u < w->o->users; u++) {
		user *x = &w->users[u];
		user_email(u, email, sizeof email);
		snprintf(name, sizeof name, "simuser%05u", u);
		x->domain = (unsigned char)(u % w->ndomains);
		x->project = (unsigned char)(1 + al_detrand_below(&w->rng, 2));
		domain_name(x->domain, d, sizeof d);
		snprintf(p, sizeof p, "%s-p%u", d, x->project);
		al_reply rep = {0};
		rc = run(w, true, &rep, NULL, 0, "user.create", "email", 's', email, "username", 's', name, "password", 's',
			 "Sim-Passw0rd!", "domain", 's', d, "role", 's', u % 25 == 24 ? "admin" : "user", "projects", 'l', p,
			 NULL);
		reply_str(&rep, "main_access_key", x->access_key, sizeof x->access_key);
		al_reply_free(&rep);
		x->small = u % 3 == 2;
		if (rc == AL_OK && x->small)
			rc = MUST(w, "keypair.update", "access_key", 's', x->access_key, "policy", 's', "sim-small");
		if (rc == AL_OK && chance(w, 0.2)) /* a second keypair, with more room */
			rc = MUST(w, "keypair.create", "user", 's', email, "policy", 's', "sim-large");
	}
	return rc;
}

static int heartbeat(sim *w, unsigned a)
{
	char id[32], addr[32];
	agent_id(a, id, sizeof id);
	snprintf(addr, sizeof addr, "10.%u.%u.%u:6001", 1 + a / 65536, a / 256 % 256, a % 256);
	const char *avail = a % 2 == 1 ? "cpu=64,mem=512g,cuda.device=8" : "cpu=32,mem=256g"; /* every group has both */
	bool arm = a % 7 == 6; /* the registry has python for both, pytorch for x86_64 only */
	return run(w, false, NULL, NULL, 0, "agent.heartbeat", "id", 's', id, "addr", 's', addr, "arch", 's',
		   arm ? "aarch64" : "x86_64", "available", 's', avail, "group", 's', groups[a % 3], "images", 'l',
		   arm ? REGISTRY "/stable/python:3.11" : REGISTRY "/stable/python:3.11," REGISTRY "/stable/pytorch:2.1-cuda12",
		   NULL);
}

static int setup_agents(sim *w)
{
	w->agents = al_calloc(w->o->agents ? w->o->agents : 1, sizeof *w->agents);
	if (w->agents == NULL)
		return al_err(w->err, AL_ENO_MEMORY, "out of memory");
	int rc = AL_OK;
	for (unsigned a = 0; rc == AL_OK && a < w->o->agents; a++) {
		rc = heartbeat(w, a);
		rc = rc ? rc : plan(w, w->now + between(w, HOUR, HEARTBEAT_EVERY), A_HEARTBEAT, a, 0);
	}
	rc = rc ? rc : plan(w, w->now + SCHEDULE_EVERY, A_SCHEDULE, 0, 0);
	rc = rc ? rc : plan(w, w->now + SESSION_EXPIRE_EVERY, A_SESSION_EXPIRE, 0, 0);
	return rc ? rc : plan(w, w->now + EXPIRE_EVERY, A_EXPIRE, 0, 0);
}

/* ---- sessions ------------------------------------------------------------------------------ */

static int wait_for_agent(sim *w, uint32_t i)
{
	if (w->nwaiting == w->waiting_cap) {
		size_t cap = w->waiting_cap ? w->waiting_cap * 2 : 256;
		uint32_t *v = al_realloc(w->waiting, cap * sizeof *v);
		if (v == NULL)
			return al_err(w->err, AL_ENO_MEMORY, "out of memory");
		w->waiting = v, w->waiting_cap = cap;
	}
	w->waiting[w->nwaiting++] = i;
	w->sessions[i].waiting = true;
	return AL_OK;
}

static void plan_life(sim *w, session *x);

/* A scheduling pass, then what became of the sessions that waited: a placed one starts its
 * life (its agent reports the steps), a cancelled one is done. */
static int schedule(sim *w)
{
	if (w->nwaiting == 0)
		return AL_OK;
	int rc = run(w, false, NULL, NULL, 0, "scheduler.run", NULL);
	size_t kept = 0;
	for (size_t j = 0; rc == AL_OK && j < w->nwaiting; j++) {
		session *x = &w->sessions[w->waiting[j]];
		char status[32];
		al_reply rep = {0};
		rc = run(w, false, &rep, NULL, 0, "session.get", "id", 's', x->id, NULL);
		reply_str(&rep, "status", status, sizeof status);
		al_reply_free(&rep);
		x->waiting = strcmp(status, "PENDING") == 0;
		if (x->waiting)
			w->waiting[kept++] = w->waiting[j];
		else if (rc == AL_OK && strcmp(status, "SCHEDULED") == 0) {
			plan_life(w, x);
			rc = plan(w, w->now + x->wait[0], A_SESSION, w->waiting[j], x->gen);
		}
	}
	w->nwaiting = kept; /* a failed command ends the simulation: what is left does not matter */
	return rc;
}

static void step_add(session *x, int step, int64_t wait)
{
	x->plan[x->nplan] = (unsigned char)step;
	x->wait[x->nplan++] = wait;
}

/* The life of a placed session: failed while preparing, or run for a while and ended by its
 * owner (interactive) or by its own end (batch), now and then restarting. */
static void plan_life(sim *w, session *x)
{
	if (chance(w, 0.5))
		step_add(x, S_PULLING, between(w, SEC, 30 * SEC));
	step_add(x, S_PREPARING, between(w, 5 * SEC, 2 * MIN));
	if (chance(w, 0.03)) {
		step_add(x, S_ERROR, between(w, 10 * SEC, 2 * MIN));
		step_add(x, S_TERMINATED, between(w, 10 * SEC, MIN));
		return;
	}
	step_add(x, S_RUNNING, between(w, 10 * SEC, 3 * MIN));
	int64_t run = x->batch ? between(w, MIN, 2 * HOUR) : between(w, 10 * MIN, 8 * HOUR);
	if (!x->batch && chance(w, 0.1))
		run *= 10; /* a long one: days */
	if (chance(w, 0.02)) {
		int64_t first = between(w, 0, run);
		step_add(x, S_RESTARTING, first);
		step_add(x, S_RUNNING, between(w, 10 * SEC, 2 * MIN));
		run -= first;
	}
	step_add(x, S_END, run);
	if (!x->batch)
		step_add(x, S_TERMINATED, between(w, 5 * SEC, MIN));
}

static int session_new(sim *w)
{
	if (w->nsessions == w->session_cap) {
		size_t cap = w->session_cap ? w->session_cap * 2 : 1024;
		session *v = al_realloc(w->sessions, cap * sizeof *v);
		if (v == NULL)
			return al_err(w->err, AL_ENO_MEMORY, "out of memory");
		w->sessions = v, w->session_cap = cap;
	}
	session *x = &w->sessions[w->nsessions];
	memset(x, 0, sizeof *x);
	x->user = al_detrand_below(&w->rng, w->o->users);
	x->batch = chance(w, 0.3);
	const user *u = &w->users[x->user];
	bool gpu = chance(w, 0.2);
	char name[32], d[32], p[64], res[64];
	snprintf(name, sizeof name, "sim-%06zu", w->nsessions);
	snprintf(p, sizeof p, "%s-p%u", domain_name(u->domain, d, sizeof d), u->project);
	/* One draw per statement: the order of a call's arguments is the compiler's choice. */
	unsigned cpu = 1 + al_detrand_below(&w->rng, 4);
	unsigned mem = 2u << al_detrand_below(&w->rng, 4);
	snprintf(res, sizeof res, "cpu=%u,mem=%ug%s", cpu, mem, gpu ? ",cuda.device=1" : "");
	/* Some batch jobs are to start later: they wait (reserved_time), and some owners cancel. */
	int64_t start = x->batch && chance(w, 0.25) ? w->now + between(w, 10 * MIN, 3 * HOUR) : 0;
	long long timeout = x->batch && !start && chance(w, 0.1) ? 3600 : 0; /* some run past it: task-timeout */
	char ts[40];
	al_time_format(start, ts, sizeof ts);
	al_reply rep = {0};
	const char *group = groups[al_detrand_below(&w->rng, 3)];
	const char *image = gpu ? REGISTRY "/stable/pytorch:2.1-cuda12" : REGISTRY "/stable/python:3.11";
#define CREATE(...)                                                                                                  \
	run(w, false, &rep, NULL, 0, "session.create", "name", 's', name, "image", 's', image, "architecture", 's',     \
	    "x86_64", "group", 's', group, "project", 's', p, "type", 's', x->batch ? "batch" : "interactive",          \
	    "resources", 's', res, "access_key", 's', u->access_key, __VA_ARGS__)
	int rc = start ? CREATE("starts_at", 's', ts, NULL) : timeout ? CREATE("batch_timeout", 'i', timeout, NULL)
							 : CREATE(NULL);
#undef CREATE
	if (rc == AL_OK && rep.err.code == AL_OK) {
		reply_str(&rep, "id", x->id, sizeof x->id);
		uint32_t i = (uint32_t)w->nsessions++;
		rc = wait_for_agent(w, i);
		if (rc == AL_OK && chance(w, start ? 0.5 : 0.04)) /* the owner gives up if it waits that long */
			rc = plan(w, w->now + between(w, MIN, start ? 3 * HOUR : 30 * MIN), A_SESSION_CANCEL, i, 0);
		rc = rc ? rc : schedule(w);
	}
	al_reply_free(&rep);
	return rc;
}

/* The owner cancels a session still pending. */
static int session_cancel(sim *w, session *x)
{
	if (!x->waiting)
		return AL_OK;
	int rc = TRY(w, "session.terminate", "id", 's', x->id);
	return rc ? rc : schedule(w);
}

/* The session's next step, then the one after it is planned; a pass follows its end. */
static int session_step(sim *w, session *x)
{
	static const char *const report[] = {[S_PULLING] = "PULLING",	  [S_PREPARING] = "PREPARING",
					     [S_RUNNING] = "RUNNING",	  [S_RESTARTING] = "RESTARTING",
					     [S_TERMINATED] = "TERMINATED", [S_ERROR] = "ERROR"};
	int step = x->plan[x->step], rc;
	x->live = step == S_RUNNING || step == S_RESTARTING;
	if (step == S_RUNNING && !x->batch && w->users[x->user].small && x->idle_from == 0) { /* first run */
		x->idle_from = chance(w, 0.3) ? w->now + between(w, 0, 3 * HOUR) : FOREVER; /* some walk away */
		if ((rc = plan(w, w->now + TOUCH_EVERY, A_TOUCH, (uint32_t)(x - w->sessions), x->gen)))
			return rc;
	}
	if (step == S_END && !x->batch) /* the owner ends it: TERMINATING */
		rc = TRY(w, "session.terminate", "id", 's', x->id);
	else if (step == S_END) /* a batch session's program exits */
		rc = TRY(w, "session.report", "id", 's', x->id, "status", 's', "TERMINATED", "exit_code", 'i',
			 chance(w, 0.9) ? 0LL : 1LL);
	else
		rc = TRY(w, "session.report", "id", 's', x->id, "status", 's', report[step]);
	if (rc == AL_OK && ++x->step < x->nplan)
		rc = plan(w, w->now + x->wait[x->step], A_SESSION, (uint32_t)(x - w->sessions), x->gen);
	else if (rc == AL_OK)
		rc = schedule(w); /* it ended: room for the waiting */
	return rc;
}

/* Its agent touches a session while the owner works (sessions under an idle timeout). */
static int touch(sim *w, session *x)
{
	if (!x->live || w->now >= x->idle_from)
		return AL_OK; /* ended, or the owner walked away: the idle timeout will end it */
	int rc = TRY(w, "session.touch", "id", 's', x->id);
	return rc ? rc : plan(w, w->now + TOUCH_EVERY, A_TOUCH, (uint32_t)(x - w->sessions), x->gen);
}

/* The timeout check; a session it ends drops the rest of its plan: its agent reports it
 * TERMINATED a little later (a hang timeout has already made it so). */
static int expire(sim *w)
{
	al_reply rep = {0};
	int rc = run(w, false, &rep, NULL, 0, "session.expire", NULL);
	msgpack_zone z;
	msgpack_object o;
	msgpack_zone_init(&z, 4096);
	const msgpack_object *l = NULL;
	if (rc == AL_OK && rep.result && al_mp_decode(rep.result, rep.result_len, &z, &o) == 0)
		l = al_mp_get(&o, "expired");
	for (uint32_t i = 0; rc == AL_OK && l && l->type == MSGPACK_OBJECT_ARRAY && i < l->via.array.size; i++) {
		al_str id = {"", 0}, to = {"", 0};
		al_mp_str(&l->via.array.ptr[i], "id", &id);
		al_mp_str(&l->via.array.ptr[i], "to", &to);
		for (size_t k = w->nsessions; k-- > 0;) { /* recent sessions are the likely ones */
			session *x = &w->sessions[k];
			if (strlen(x->id) != id.n || memcmp(x->id, id.p, id.n) != 0)
				continue;
			x->gen++, x->live = false;
			if (al_str_eq(to, "TERMINATING")) {
				x->nplan = 0, x->step = 0;
				step_add(x, S_TERMINATED, between(w, 5 * SEC, MIN));
				rc = plan(w, w->now + x->wait[0], A_SESSION, (uint32_t)k, x->gen);
			}
			break;
		}
	}
	bool ended = l && l->type == MSGPACK_OBJECT_ARRAY && l->via.array.size > 0;
	msgpack_zone_destroy(&z);
	al_reply_free(&rep);
	return rc ? rc : ended ? schedule(w) : AL_OK; /* room for the waiting */
}

/* ---- the days ----------------------------------------------------------------------------- */

/* What happens to the agents and users on a day, planned at its start. */
static int plan_day(sim *w)
{
	int rc = AL_OK;
	for (unsigned a = 0; rc == AL_OK && a < w->o->agents; a++) {
		agent *g = &w->agents[a];
		if (chance(w, 0.02)) /* a network failure: silent long enough to be found LOST */
			g->silent_until = w->now + between(w, 7 * HOUR, 30 * HOUR);
		if (chance(w, 0.03)) {
			int64_t at = between(w, w->now, w->now + DAY);
			rc = plan(w, at, A_SCHEDULABLE, a, 0);
			rc = rc ? rc : plan(w, at + between(w, 2 * HOUR, 24 * HOUR), A_SCHEDULABLE, a, 1);
		}
		if (rc == AL_OK && chance(w, 0.01)) {
			int64_t at = between(w, w->now, w->now + DAY), down = between(w, HOUR, 6 * HOUR);
			rc = plan(w, at, A_TERMINATE, a, down);
		}
	}
	if (rc == AL_OK && w->o->users > 1 && chance(w, 0.2)) {
		uint32_t u = al_detrand_below(&w->rng, w->o->users);
		int64_t at = between(w, w->now, w->now + DAY);
		rc = plan(w, at, A_USER_STATUS, u, 0);
		rc = rc ? rc : plan(w, at + between(w, DAY, 5 * DAY), A_USER_STATUS, u, 1);
	}
	for (unsigned k = 0; rc == AL_OK && k < w->o->sessions_per_day; k++)
		rc = plan(w, between(w, w->now, w->now + DAY), A_SESSION_NEW, 0, 0);
	return rc ? rc : plan(w, w->now + DAY, A_DAY, 0, 0);
}

static int act_run(sim *w, const act *x)
{
	char id[64];
	agent *g = x->kind == A_HEARTBEAT || x->kind == A_TERMINATE ? &w->agents[x->who] : NULL;
	switch (x->kind) {
	case A_DAY:
		return plan_day(w);
	case A_EXPIRE: {
		int rc = run(w, false, NULL, NULL, 0, "agent.expire", NULL);
		return rc ? rc : plan(w, w->now + EXPIRE_EVERY, A_EXPIRE, 0, 0);
	}
	case A_HEARTBEAT: {
		int rc = g->down || w->now < g->silent_until ? AL_OK : heartbeat(w, x->who);
		return rc ? rc : plan(w, w->now + HEARTBEAT_EVERY, A_HEARTBEAT, x->who, 0);
	}
	case A_SCHEDULABLE:
		agent_id(x->who, id, sizeof id);
		return TRY(w, "agent.set-schedulable", "id", 's', id, "schedulable", 'b', (int)x->arg);
	case A_TERMINATE:
		if (x->arg == 0) { /* back up */
			g->down = false;
			return heartbeat(w, x->who);
		}
		agent_id(x->who, id, sizeof id);
		g->down = true;
		int rc = TRY(w, "agent.terminate", "id", 's', id);
		return rc ? rc : plan(w, w->now + x->arg, A_TERMINATE, x->who, 0);
	case A_USER_STATUS: { /* deactivating a user deactivates its keypairs; the admin activates both back */
		user_email(x->who, id, sizeof id);
		int rc = TRY(w, x->arg ? "user.activate" : "user.deactivate", "email", 's', id);
		return rc || !x->arg ? rc : TRY(w, "keypair.activate", "access_key", 's', w->users[x->who].access_key);
	}
	case A_SESSION_NEW:
		return session_new(w);
	case A_SESSION: /* a step planned for an earlier life (before a timeout) is dropped */
		return w->sessions[x->who].gen == (uint32_t)x->arg ? session_step(w, &w->sessions[x->who]) : AL_OK;
	case A_TOUCH:
		return w->sessions[x->who].gen == (uint32_t)x->arg ? touch(w, &w->sessions[x->who]) : AL_OK;
	case A_SESSION_EXPIRE: {
		int rc = expire(w);
		return rc ? rc : plan(w, w->now + SESSION_EXPIRE_EVERY, A_SESSION_EXPIRE, 0, 0);
	}
	case A_SESSION_CANCEL:
		return session_cancel(w, &w->sessions[x->who]);
	case A_SCHEDULE: {
		int rc = schedule(w);
		return rc ? rc : plan(w, w->now + SCHEDULE_EVERY, A_SCHEDULE, 0, 0);
	}
	}
	return AL_OK;
}

int al_sim_seed_random(uint64_t seed) { return al_detrand_install(seed); }

/* ---- the whole run ------------------------------------------------------------------------ */

static int check_opts(const al_sim_opts *o, al_error *err)
{
	if (o->days < 1 || o->days > 3650)
		return al_err(err, AL_EINVALID_ARGUMENT, "days: 1 to 3650");
	if (o->users < 1 || o->users > 1000000)
		return al_err(err, AL_EINVALID_ARGUMENT, "users: 1 to 1000000");
	if (o->agents > 100000)
		return al_err(err, AL_EINVALID_ARGUMENT, "agents: 0 to 100000");
	if (o->sessions_per_day > 1000000)
		return al_err(err, AL_EINVALID_ARGUMENT, "sessions per day: 0 to 1000000");
	return AL_OK;
}

int al_simulate(const char *dir, const al_sim_opts *o, al_sim_stats *st, al_error *err)
{
	al_sim_stats own = {0};
	if (st == NULL)
		st = &own;
	memset(st, 0, sizeof *st);
	int rc = check_opts(o, err);
	if (rc)
		return rc;
	sim w = {.o = o, .st = st, .err = err};
	al_detrand_init(&w.rng, o->seed, "simulation");
	w.end = o->end_us ? o->end_us : al_clock_real(NULL) / HOUR * HOUR;
	w.start = w.end - (int64_t)o->days * DAY;
	w.now = w.start;
	al_init_opts io = {.admin_email = "admin@sim.example.com", .admin_password = "Sim-Adm1n-Passw0rd!",
			   .pwhash = o->pwhash ? o->pwhash : "min", .offline = 1, .at_us = w.start};
	rc = al_store_init(dir, &io, &sim_actor, err);
	if (rc == AL_OK)
		rc = al_store_open(&w.s, dir, &(al_open_opts){.flags = AL_OPEN_NOSYNC | AL_OPEN_QUIET}, err);
	if (rc)
		return rc;
	al_store_set_clock(w.s, sim_clock, &w);
	rc = setup_images(&w);
	rc = rc ? rc : setup_org(&w);
	rc = rc ? rc : setup_users(&w);
	rc = rc ? rc : setup_agents(&w);
	rc = rc ? rc : plan(&w, w.start + DAY, A_DAY, 0, 0);
	while (rc == AL_OK && w.n > 0) {
		act x = next(&w);
		w.now = x.at;
		rc = act_run(&w, &x);
	}
	st->head = al_log_head(w.s);
	al_store_set_clock(w.s, NULL, NULL);
	al_store_close(w.s);
	al_free(w.heap);
	al_free(w.agents);
	al_free(w.users);
	al_free(w.sessions);
	al_free(w.waiting);
	return rc;
}
