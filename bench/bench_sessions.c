/*
 * bench_sessions - compute sessions: the scheduling pass and a session's life (issue 12).
 *
 * The cluster: a simulated one (al_simulate, no sessions) with 1,000 agents (a third in each of
 * the groups sim-fifo, sim-lifo, sim-drf; 32 or 64 cores, 256 or 512 GiB) and 500 users, each
 * with its main keypair, all set to the default (unlimited) policy. Sessions: python images, 1 or 2 cores
 * and 2 GiB, user k % 500's. Durable store (fsync on commit), as append_batch.
 *
 *   sched_pass_fifo / _lifo / _drf: 10,000 PENDING sessions of 500 keypairs in the group are
 *     enqueued (untimed), then one scheduler.run --group G is timed: decisions per second
 *     (each candidate is one recorded decision: session.scheduled, or scheduling_failed).
 *   session_lifecycle: 10,000 sessions in sim-fifo each go create -> scheduled -> PREPARING ->
 *     RUNNING -> TERMINATED (5 events), creates and reports 1000 per transaction with
 *     al_exec_batch, the placing by one scheduler.run: events per second.
 * Baseline of both, in the same process: append_batch (bench_append_batch's workload: user.update
 * commands 1000 per durable transaction on a store of 10k users) of as many events, measured
 * right before and right after each and averaged (a shared machine's speed drifts within
 * seconds). BENCH_SCALE scales the session counts.
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define USERS 500
#define AGENTS 1000
#define BATCH 1000
#define MAP (4ull << 30)

typedef struct owner {
	char ak[32], project[64];
} owner;

static owner owners[USERS];

/* The string member key of a reply's result map into buf. */
static void reply_str(const al_reply *rep, const char *key, char *buf, size_t n, int array_first)
{
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	buf[0] = 0;
	if (rep->result && msgpack_unpack_next(&u, rep->result, rep->result_len, NULL) == MSGPACK_UNPACK_SUCCESS &&
	    u.data.type == MSGPACK_OBJECT_MAP)
		for (uint32_t i = 0; i < u.data.via.map.size; i++) {
			msgpack_object *k = &u.data.via.map.ptr[i].key, *v = &u.data.via.map.ptr[i].val;
			if (k->type != MSGPACK_OBJECT_STR || k->via.str.size != strlen(key) || memcmp(k->via.str.ptr, key, k->via.str.size))
				continue;
			if (array_first && v->type == MSGPACK_OBJECT_ARRAY && v->via.array.size)
				v = &v->via.array.ptr[0];
			if (v->type == MSGPACK_OBJECT_STR)
				snprintf(buf, n, "%.*s", (int)v->via.str.size, v->via.str.ptr);
		}
	msgpack_unpacked_destroy(&u);
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

/* Runs one command (arguments: a packed map) and dies on failure. */
static void exec(al_store *s, const char *op, const msgpack_sbuffer *args, al_reply *rep)
{
	al_request req = {op, args ? args->data : NULL, args ? args->size : 0, &bu_actor, NULL, 0};
	if (al_exec(s, &req, rep) != AL_OK)
		bu_die("%s: %s", op, rep->err.msg);
}

static void load_owners(al_store *s)
{
	for (size_t u = 0; u < USERS; u++) {
		char email[64];
		msgpack_sbuffer sb;
		msgpack_packer pk;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		snprintf(email, sizeof email, "simuser%05zu@sim.example.com", u);
		msgpack_pack_map(&pk, 1);
		pack_str(&pk, "email"), pack_str(&pk, email);
		al_reply rep;
		exec(s, "user.get", &sb, &rep);
		reply_str(&rep, "main_access_key", owners[u].ak, sizeof owners[u].ak, 0);
		reply_str(&rep, "projects", owners[u].project, sizeof owners[u].project, 1);
		al_reply_free(&rep);
		msgpack_sbuffer_destroy(&sb);
		if (!owners[u].ak[0] || !owners[u].project[0])
			bu_die("user %s has no main keypair or project", email);
		/* the default (unlimited) policy: the simulation puts some keys under tighter ones */
		msgpack_sbuffer_init(&sb);
		msgpack_pack_map(&pk, 2);
		pack_str(&pk, "access_key"), pack_str(&pk, owners[u].ak);
		pack_str(&pk, "policy"), pack_str(&pk, "default");
		exec(s, "keypair.update", &sb, &rep);
		al_reply_free(&rep);
		msgpack_sbuffer_destroy(&sb);
	}
}

/* Runs n commands, packed one after another in args (lengths in len), BATCH per transaction;
 * every one must succeed. ids: each reply's "id" (may be NULL). Returns the events appended. */
static uint64_t exec_many(al_store *s, const char *op, const msgpack_sbuffer *args, const size_t *len, size_t n,
			  char (*ids)[40])
{
	al_request *req = calloc(BATCH, sizeof *req);
	al_reply *rep = calloc(BATCH, sizeof *rep);
	uint64_t events = 0;
	size_t off = 0;
	for (size_t i = 0; i < n;) {
		size_t m = n - i < BATCH ? n - i : BATCH;
		for (size_t j = 0; j < m; j++) {
			req[j] = (al_request){op, args->data + off, len[i + j], &bu_actor, NULL, 0};
			off += len[i + j];
		}
		al_exec_batch(s, req, rep, m);
		for (size_t j = 0; j < m; j++) {
			if (rep[j].err.code)
				bu_die("%s: %s", op, rep[j].err.msg);
			if (rep[j].first_seq)
				events += rep[j].last_seq - rep[j].first_seq + 1;
			if (ids)
				reply_str(&rep[j], "id", ids[i + j], sizeof ids[i + j], 0);
			al_reply_free(&rep[j]);
		}
		i += m;
	}
	free(req);
	free(rep);
	return events;
}

/* n session.create commands in group g (names prefixed tag), their ids into ids. */
static uint64_t create_sessions(al_store *s, const char *g, const char *tag, size_t n, char (*ids)[40])
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t *len = calloc(n, sizeof *len);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (size_t i = 0; i < n; i++) {
		size_t before = sb.size;
		char name[64];
		snprintf(name, sizeof name, "%s-%06zu", tag, i);
		msgpack_pack_map(&pk, 7);
		pack_str(&pk, "name"), pack_str(&pk, name);
		pack_str(&pk, "image"), pack_str(&pk, "sim.registry.local/stable/python:3.11");
		pack_str(&pk, "architecture"), pack_str(&pk, "x86_64");
		pack_str(&pk, "group"), pack_str(&pk, g);
		pack_str(&pk, "project"), pack_str(&pk, owners[i % USERS].project);
		pack_str(&pk, "resources"), pack_str(&pk, i % 3 ? "cpu=1,mem=2g" : "cpu=2,mem=2g");
		pack_str(&pk, "access_key"), pack_str(&pk, owners[i % USERS].ak);
		len[i] = sb.size - before;
	}
	uint64_t ev = exec_many(s, "session.create", &sb, len, n, ids);
	msgpack_sbuffer_destroy(&sb);
	free(len);
	return ev;
}

/* session.report id --status st for each session. */
static uint64_t report_all(al_store *s, char (*ids)[40], size_t n, const char *st)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t *len = calloc(n, sizeof *len);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (size_t i = 0; i < n; i++) {
		size_t before = sb.size;
		msgpack_pack_map(&pk, 2);
		pack_str(&pk, "id"), pack_str(&pk, ids[i]);
		pack_str(&pk, "status"), pack_str(&pk, st);
		len[i] = sb.size - before;
	}
	uint64_t ev = exec_many(s, "session.report", &sb, len, n, NULL);
	msgpack_sbuffer_destroy(&sb);
	free(len);
	return ev;
}

/* One scheduler.run --group g: the events it recorded (one per decision). */
static uint64_t pass(al_store *s, const char *g)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	pack_str(&pk, "group"), pack_str(&pk, g);
	al_reply rep;
	exec(s, "scheduler.run", &sb, &rep);
	uint64_t n = rep.first_seq ? rep.last_seq - rep.first_seq + 1 : 0;
	al_reply_free(&rep);
	msgpack_sbuffer_destroy(&sb);
	return n;
}

/* append_batch's rate (events/s) over n events, on its own store. */
static double append_rate(al_store *base, size_t *k, size_t n)
{
	double t0 = bu_now();
	uint64_t ev = bu_update_users(base, 10000, *k, n, BATCH);
	*k += n;
	return (double)ev / (bu_now() - t0);
}

int main(void)
{
	size_t n = bu_scaled(10000, 100);
	char *dir = bu_tmpdir("sessions"), path[4096], bpath[4096];
	snprintf(path, sizeof path, "%s/cluster", dir);
	snprintf(bpath, sizeof bpath, "%s/base", dir);
	bu_note("simulating a cluster of %d agents and %d users", AGENTS, USERS);
	al_sim_opts o = al_sim_defaults;
	o.days = 1, o.users = USERS, o.agents = AGENTS, o.sessions_per_day = 0, o.seed = 1;
	al_error err = {0};
	if (al_simulate(path, &o, NULL, &err) != AL_OK)
		bu_die("simulate: %s", err.msg);
	al_store *s = bu_store_open(path, 0, MAP);
	load_owners(s);
	al_store *base = bu_store_new(bpath, 0, MAP);
	bu_create_users(base, 10000, BATCH);
	size_t k = 0;
	char(*ids)[40] = calloc(n, sizeof *ids);

	/* A session's life, 5 events each. */
	double rate = append_rate(base, &k, 5 * n);
	double t0 = bu_now(), t1, t2;
	uint64_t ev = create_sessions(s, "sim-fifo", "life", n, ids);
	t1 = bu_now();
	ev += pass(s, "sim-fifo");
	t2 = bu_now();
	ev += report_all(s, ids, n, "PREPARING");
	ev += report_all(s, ids, n, "RUNNING");
	ev += report_all(s, ids, n, "TERMINATED");
	double t = bu_now() - t0;
	bu_note("session_lifecycle: create %.3f s, pass %.3f s, 3 reports %.3f s", t1 - t0, t2 - t1, t0 + t - t2);
	rate = (rate + append_rate(base, &k, 5 * n)) / 2;
	if (ev != 5 * n)
		bu_die("session_lifecycle: %llu events for %zu sessions, not 5 each", (unsigned long long)ev, n);
	bu_emit("session_lifecycle", (double)ev / t, "events/s", "append_batch", rate);

	static const char *const groups[] = {"sim-fifo", "sim-lifo", "sim-drf"};
	static const char *const names[] = {"sched_pass_fifo", "sched_pass_lifo", "sched_pass_drf"};
	for (int g = 0; g < 3; g++) {
		create_sessions(s, groups[g], names[g], n, ids);
		rate = append_rate(base, &k, n);
		t0 = bu_now();
		uint64_t d = pass(s, groups[g]);
		t = bu_now() - t0;
		rate = (rate + append_rate(base, &k, n)) / 2;
		if (d != n)
			bu_die("%s: %llu decisions for %zu pending sessions", names[g], (unsigned long long)d, n);
		bu_emit(names[g], (double)d / t, "decisions/s", "append_batch", rate);
	}
	free(ids);
	al_store_close(s);
	al_store_close(base);
	bu_rmrf(dir);
	return 0;
}
