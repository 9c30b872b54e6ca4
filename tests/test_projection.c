/*
 * test_projection.c - projections over a long log: map growth under the public write path,
 * rebuild == live after a seeded random command mix, as-of (by seq and by time) and replay,
 * upcasting a v1 record from a checked-in fixture, and rebuilding a view whose stored
 * version differs from the code's.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helpers.h"
#include "core/catalogue.h"
#include "util/codec.h"
#include "core/log.h"
#include "core/record.h"
#include "core/store.h"

/* ---- small utilities ------------------------------------------------------------------------ */

/* xorshift64*: deterministic, seeded with a constant that the test prints. */
typedef struct rng {
	uint64_t s;
} rng;

static uint64_t rnd(rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1DULL;
}
static unsigned rnd_below(rng *r, unsigned n) { return (unsigned)(rnd(r) % n); }
static bool chance(rng *r, unsigned percent) { return rnd_below(r, 100) < percent; }

/* A msgpack argument map built one pair at a time. */
typedef struct argb {
	msgpack_sbuffer body;
	msgpack_packer pk;
	uint32_t n;
} argb;

static void ab_init(argb *a)
{
	msgpack_sbuffer_init(&a->body);
	msgpack_packer_init(&a->pk, &a->body, msgpack_sbuffer_write);
	a->n = 0;
}
static void ab_key(argb *a, const char *k)
{
	a->n++;
	msgpack_pack_str(&a->pk, strlen(k));
	msgpack_pack_str_body(&a->pk, k, strlen(k));
}
static void ab_s(argb *a, const char *k, const char *v)
{
	ab_key(a, k);
	msgpack_pack_str(&a->pk, strlen(v));
	msgpack_pack_str_body(&a->pk, v, strlen(v));
}
static void ab_b(argb *a, const char *k, bool v)
{
	ab_key(a, k);
	v ? msgpack_pack_true(&a->pk) : msgpack_pack_false(&a->pk);
}
/* The finished map, malloc'd. */
static char *ab_done(argb *a, size_t *len)
{
	msgpack_sbuffer out;
	msgpack_packer pk;
	msgpack_sbuffer_init(&out);
	msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, a->n);
	msgpack_sbuffer_write(&out, a->body.data, a->body.size);
	msgpack_sbuffer_destroy(&a->body);
	*len = out.size;
	return out.data;
}

/* Events a reply says its command appended. */
static uint64_t appended(const al_reply *rep)
{
	if (rep->first_seq == 0 && rep->last_seq == 0)
		return 0;
	assert_true(rep->first_seq <= rep->last_seq);
	return rep->last_seq - rep->first_seq + 1;
}

/* An integer member of the msgpack map returned by al_store_stats; -1 when absent. */
static long long stats_int(const char *mp, size_t len, const char *key)
{
	msgpack_zone z;
	msgpack_object o;
	long long out = -1;
	msgpack_zone_init(&z, 1024);
	assert_int_equal(al_mp_decode(mp, len, &z, &o), 0);
	assert_int_equal(o.type, MSGPACK_OBJECT_MAP);
	int64_t v;
	if (al_mp_int(&o, key, &v) == 1)
		out = v;
	msgpack_zone_destroy(&z);
	return out;
}

static void store_stats(al_store *s, long long *head, long long *map_size, long long *retries, long long *used)
{
	char *mp = NULL;
	size_t len = 0;
	al_error err = {0};
	assert_int_equal(al_store_stats(s, &mp, &len, &err), AL_OK);
	*head = stats_int(mp, len, "head_seq");
	*map_size = stats_int(mp, len, "map_size");
	*retries = stats_int(mp, len, "map_full_retries");
	*used = stats_int(mp, len, "used_bytes");
	al_free(mp);
}

static void verify_ok(al_store *s)
{
	al_error err = {0};
	int rc = al_store_verify(s, NULL, NULL, &err);
	if (rc != AL_OK)
		print_error("verify: %s\n", err.msg);
	assert_int_equal(rc, AL_OK);
}

static bool dir_exists(const char *d)
{
	struct stat st;
	return stat(d, &st) == 0;
}

/* meta "proj/<name>" -> version(4) cursor(8), read from a closed store. */
static void read_proj_meta(const char *dir, const char *name, unsigned *ver, uint64_t *cursor)
{
	th_raw r;
	MDB_dbi meta;
	char k[64];
	th_raw_open(&r, dir, MDB_RDONLY);
	assert_int_equal(mdb_dbi_open(r.txn, "meta", 0, &meta), 0);
	MDB_val key = {(size_t)snprintf(k, sizeof k, "proj/%s", name), k}, v;
	assert_int_equal(mdb_get(r.txn, meta, &key, &v), 0);
	assert_int_equal(v.mv_size, 12);
	*ver = al__get_be32(v.mv_data);
	*cursor = al__get_be64((const unsigned char *)v.mv_data + 4);
	MDB_val hk = {4, "head"}, hv;
	MDB_dbi main; /* the head is a key of the main database (store.h, AL_DIR_FORMAT) */
	assert_int_equal(mdb_dbi_open(r.txn, NULL, 0, &main), 0);
	uint64_t head = mdb_get(r.txn, main, &hk, &hv) == 0 ? al__get_be64(hv.mv_data) : 0;
	*cursor = al__proj_cursor_at(*cursor, head); /* AL_CURSOR_AT_HEAD: live commits left it */
	th_raw_close(&r, false);
}

static al_store *reopen(const char *dir)
{
	al_store *s = NULL;
	al_open_opts o = {AL_OPEN_QUIET, 0};
	al_error err = {0};
	int rc = al_store_open(&s, dir, &o, &err);
	if (rc != AL_OK)
		print_error("open %s: %s\n", dir, err.msg);
	assert_int_equal(rc, AL_OK);
	return s;
}

/* ---- 1. map growth through the public write path -------------------------------------------- */

#define GROWTH_EVENTS 100000
#define GROWTH_BATCH 1000
#define GROWTH_USERS 4

static void map_growth(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 64 * 1024);
	assert_non_null(s);
	long long head0, map0, retries0, used0;
	store_stats(s, &head0, &map0, &retries0, &used0);
	assert_int_equal(head0, th_boot_seq);
	assert_true(map0 <= 1024 * 1024); /* the tiny map asked for (at least the committed data) */
	char emails[GROWTH_USERS][64];
	for (int u = 0; u < GROWTH_USERS; u++) {
		char name[32];
		snprintf(emails[u], sizeof emails[u], "grow%d@example.com", u);
		snprintf(name, sizeof name, "grow%d", u);
		assert_int_equal(th_run(s, "user.create", "email", 's', emails[u], "username", 's', name, "password", 's',
					"Passw0rd!", NULL), AL_OK);
	}
	uint64_t expect_head = th_boot_seq + 2 * GROWTH_USERS; /* user.created + keypair.created each */
	al_request *reqs = calloc(GROWTH_BATCH, sizeof *reqs);
	al_reply *reps = calloc(GROWTH_BATCH, sizeof *reps);
	char **args = calloc(GROWTH_BATCH, sizeof *args);
	assert_non_null(reqs);
	assert_non_null(reps);
	assert_non_null(args);
	char last_name[GROWTH_USERS][64] = {{0}};
	for (int b = 0; b < GROWTH_EVENTS / GROWTH_BATCH; b++) {
		for (int i = 0; i < GROWTH_BATCH; i++) {
			int n = b * GROWTH_BATCH + i, u = n % GROWTH_USERS;
			char full[64];
			/* Every value differs from the user's current one, so each command appends. */
			snprintf(full, sizeof full, "Full Name %d", n);
			snprintf(last_name[u], sizeof last_name[u], "%s", full);
			size_t len;
			args[i] = th_args(&len, "email", 's', emails[u], "full_name", 's', full, NULL);
			reqs[i] = (al_request){"user.update", args[i], len, &th_admin};
		}
		assert_int_equal(al_exec_batch(s, reqs, reps, GROWTH_BATCH), AL_OK);
		for (int i = 0; i < GROWTH_BATCH; i++) {
			if (reps[i].err.code != AL_OK)
				print_error("batch %d item %d: %s\n", b, i, reps[i].err.msg);
			assert_int_equal(reps[i].err.code, AL_OK);
			expect_head++;
			assert_int_equal(reps[i].first_seq, expect_head);
			assert_int_equal(reps[i].last_seq, expect_head);
			al_reply_free(&reps[i]);
			free(args[i]);
		}
	}
	free(reqs);
	free(reps);
	free(args);
	assert_int_equal(expect_head, th_boot_seq + 2 * GROWTH_USERS + GROWTH_EVENTS);
	assert_int_equal(al_log_head(s), expect_head);

	long long head, map_size, retries, used;
	store_stats(s, &head, &map_size, &retries, &used);
	print_message("# map_size %lld -> %lld bytes, map-full retries %lld, used %lld bytes\n", map0, map_size,
		      retries - retries0, used);
	assert_int_equal(head, (long long)expect_head);
	assert_true(used <= map_size);
	/* 100,000 records cannot fit in anything near 64 KiB: the map must have grown a lot. */
	assert_true(map_size >= 64LL * 1024 * 256);
	assert_true(retries - retries0 > 0 || map_size >= 64LL * 1024 * 256);
	for (int u = 0; u < GROWTH_USERS; u++) {
		al_reply rep;
		assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', emails[u], NULL), AL_OK);
		assert_string_equal(th_res_str(&rep, "full_name"), last_name[u]);
		assert_int_equal(th_res_int(&rep, "version"), 1 + GROWTH_EVENTS / GROWTH_USERS);
		al_reply_free(&rep);
	}
	verify_ok(s);
	al_store_close(s);

	/* Reopening with the tiny map again: LMDB keeps at least the data, and writes still grow it. */
	al_open_opts o = {AL_OPEN_QUIET, 64 * 1024};
	al_error err = {0};
	assert_int_equal(al_store_open(&s, dir, &o, &err), AL_OK);
	assert_int_equal(al_log_head(s), expect_head);
	assert_int_equal(th_run(s, "user.update", "email", 's', emails[0], "full_name", 's', "After Reopen", NULL), AL_OK);
	assert_int_equal(al_log_head(s), expect_head + 1);
	al_store_close(s);
	th_rmrf(dir);
}

/* ---- 2. rebuild == live after a seeded random mix of valid and invalid commands ---------------- */

#define NEMAIL 120
#define NUSERNAME 160
#define NDOMAIN 12
#define RANDOM_COMMANDS 10000
#define RANDOM_SEED 0x9E3779B97F4A7C15ULL

typedef struct muser {
	bool exists;
	char username[96], full_name[96], description[96], domain[96], role[16], status[24];
	bool npc;
	bool has_kp, kp_active; /* the main keypair user.create (or the bootstrap) made */
	bool in_project;        /* member of a project: the bootstrap admin, of "default" */
} muser;

typedef struct model {
	muser users[NEMAIL];
	bool domains[NDOMAIN];
} model;

typedef struct gcmd {
	const char *op;
	char *args;
	size_t len;
	int expect_code;
	int expect_events;
	char what[400]; /* for failure messages */
} gcmd;

static const char *const valid_roles[] = {"superadmin", "admin", "user", "monitor"};
static const char *const valid_statuses[] = {"active", "inactive", "before-verification"};
static const char long65[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

static void email_of(int i, char *buf, size_t n)
{
	if (i == 0)
		snprintf(buf, n, "admin@example.com");
	else
		snprintf(buf, n, "r%d@example.com", i);
}

static bool domain_exists(const model *m, const char *d)
{
	if (strcmp(d, "default") == 0)
		return true;
	int k;
	char tail;
	return sscanf(d, "d%d%c", &k, &tail) == 1 && k >= 0 && k < NDOMAIN && m->domains[k];
}

static bool username_taken(const model *m, const char *name)
{
	for (int i = 0; i < NEMAIL; i++)
		if (m->users[i].exists && strcmp(m->users[i].username, name) == 0)
			return true;
	return false;
}

static const char *pick_password(rng *r, bool *ok)
{
	static const char *const weak[] = {"password", "Sh0rt!", "NoDigits!!", "12345678!", "abcdefg12", "Abcdefgh1"};
	if (chance(r, 85)) {
		*ok = true;
		return "Passw0rd!";
	}
	*ok = false;
	return weak[rnd_below(r, 6)];
}

static const char *pick_role(rng *r, bool *ok)
{
	if (chance(r, 88)) {
		*ok = true;
		return valid_roles[rnd_below(r, 4)];
	}
	*ok = false;
	return chance(r, 50) ? "root" : "Admin";
}

static const char *pick_status(rng *r, bool *ok)
{
	if (chance(r, 88)) {
		*ok = true;
		return valid_statuses[rnd_below(r, 3)];
	}
	*ok = false;
	return chance(r, 50) ? "deleted" : "";
}

static void pick_domain(rng *r, char *buf, size_t n)
{
	if (chance(r, 20))
		snprintf(buf, n, "default");
	else if (chance(r, 90))
		snprintf(buf, n, "d%u", rnd_below(r, NDOMAIN));
	else
		snprintf(buf, n, "nope-domain");
}

/* A username: mostly from a pool (so duplicates happen), sometimes too long or empty. */
static void pick_username(rng *r, char *buf, size_t n, bool *ok)
{
	*ok = true;
	if (chance(r, 5))
		snprintf(buf, n, "admin");
	else if (chance(r, 5)) {
		snprintf(buf, n, "%s", long65);
		*ok = false;
	} else if (chance(r, 3)) {
		buf[0] = 0;
		*ok = false;
	} else
		snprintf(buf, n, "n%u", rnd_below(r, NUSERNAME));
}

static bool is_admin_role(const char *role) { return !strcmp(role, "admin") || !strcmp(role, "superadmin"); }

static void gen_user_create(rng *r, model *m, gcmd *c)
{
	static const char *const bad_emails[] = {"not-an-email", "@example.com", "x@", "two@@example.com",
						 "sp ace@example.com",
						 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@ex.com"};
	argb a;
	ab_init(&a);
	char email[96], username[96], full[96], domain[64];
	bool invalid = false, ok;
	int ei = -1;
	if (chance(r, 88)) {
		ei = (int)rnd_below(r, NEMAIL);
		email_of(ei, email, sizeof email);
	} else {
		snprintf(email, sizeof email, "%s", bad_emails[rnd_below(r, 6)]);
		invalid = true;
	}
	ab_s(&a, "email", email);
	pick_username(r, username, sizeof username, &ok);
	invalid |= !ok;
	ab_s(&a, "username", username);
	ab_s(&a, "password", pick_password(r, &ok));
	invalid |= !ok;
	full[0] = 0;
	if (chance(r, 70)) {
		snprintf(full, sizeof full, "Full %u", rnd_below(r, 50));
		if (chance(r, 4)) {
			snprintf(full, sizeof full, "%s", long65);
			invalid = true;
		}
		ab_s(&a, "full_name", full);
	}
	const char *role = "user", *status = "active";
	if (chance(r, 60)) {
		role = pick_role(r, &ok);
		invalid |= !ok;
		ab_s(&a, "role", role);
	}
	if (chance(r, 50)) {
		status = pick_status(r, &ok);
		invalid |= !ok;
		ab_s(&a, "status", status);
	}
	snprintf(domain, sizeof domain, "default");
	if (chance(r, 60)) {
		pick_domain(r, domain, sizeof domain);
		ab_s(&a, "domain", domain);
	}
	bool npc = false;
	if (chance(r, 30)) {
		npc = chance(r, 50);
		ab_b(&a, "need_password_change", npc);
	}
	c->op = "user.create";
	c->args = ab_done(&a, &c->len);
	snprintf(c->what, sizeof c->what, "user.create %.70s %.70s role=%.16s status=%.24s domain=%.40s", email, username, role, status,
		 domain);
	c->expect_events = 0;
	if (invalid || !domain_exists(m, domain))
		c->expect_code = AL_EINVALID_ARGUMENT;
	else if (m->users[ei].exists || username_taken(m, username))
		c->expect_code = AL_EALREADY_EXISTS;
	else {
		c->expect_code = AL_OK;
		c->expect_events = 2; /* user.created, keypair.created */
		muser *u = &m->users[ei];
		memset(u, 0, sizeof *u);
		u->exists = true;
		u->has_kp = true;
		u->kp_active = strcmp(status, "active") == 0;
		snprintf(u->username, sizeof u->username, "%s", username);
		snprintf(u->full_name, sizeof u->full_name, "%s", full);
		snprintf(u->domain, sizeof u->domain, "%s", domain);
		snprintf(u->role, sizeof u->role, "%s", role);
		snprintf(u->status, sizeof u->status, "%s", status);
		u->npc = npc;
	}
}

static void gen_user_update(rng *r, model *m, gcmd *c)
{
	argb a;
	ab_init(&a);
	char email[96], username[96] = "", full[96] = "", desc[96] = "", domain[64] = "";
	const char *role = NULL, *status = NULL;
	bool has_name = false, has_full = false, has_desc = false, has_domain = false, has_npc = false, npc = false,
	     has_pw = false, invalid = false, ok;
	int ei = (int)rnd_below(r, NEMAIL);
	email_of(ei, email, sizeof email);
	ab_s(&a, "email", email);
	do {
		if ((has_name = chance(r, 20))) {
			pick_username(r, username, sizeof username, &ok);
			invalid |= !ok;
			ab_s(&a, "username", username);
		}
		if ((has_full = chance(r, 40))) {
			snprintf(full, sizeof full, "Full %u", rnd_below(r, 50));
			if (chance(r, 3)) {
				snprintf(full, sizeof full, "%s", long65);
				invalid = true;
			}
			ab_s(&a, "full_name", full);
		}
		if ((has_desc = chance(r, 15))) {
			snprintf(desc, sizeof desc, "Desc %u", rnd_below(r, 10));
			ab_s(&a, "description", desc);
		}
		if ((has_domain = chance(r, 15))) {
			pick_domain(r, domain, sizeof domain);
			ab_s(&a, "domain", domain);
		}
		if (chance(r, 15)) {
			role = pick_role(r, &ok);
			invalid |= !ok;
			ab_s(&a, "role", role);
		}
		if (chance(r, 15)) {
			status = pick_status(r, &ok);
			invalid |= !ok;
			ab_s(&a, "status", status);
		}
		if ((has_npc = chance(r, 10))) {
			npc = chance(r, 50);
			ab_b(&a, "need_password_change", npc);
		}
		if ((has_pw = chance(r, 5))) {
			ab_s(&a, "password", pick_password(r, &ok));
			invalid |= !ok;
		}
	} while (a.n == 1 && chance(r, 80)); /* now and then: nothing to update, refused */
	c->op = "user.update";
	c->args = ab_done(&a, &c->len);
	snprintf(c->what, sizeof c->what, "user.update %.70s name=%.70s full=%.70s domain=%.40s role=%.16s status=%.24s pw=%d", email,
		 has_name ? username : "-", has_full ? full : "-", has_domain ? domain : "-", role ? role : "-",
		 status ? status : "-", has_pw);
	muser *u = &m->users[ei];
	c->expect_events = 0;
	/* The order of the checks: the password (in prepare, before the user is looked up), the
	 * user's existence, the field rules, then uniqueness. */
	bool pw_bad = false;
	if (has_pw) { /* which password was packed */
		msgpack_zone z;
		msgpack_object o;
		al_str pw;
		msgpack_zone_init(&z, 512);
		assert_int_equal(al_mp_decode(c->args, c->len, &z, &o), 0);
		assert_int_equal(al_mp_str(&o, "password", &pw), 1);
		pw_bad = !al_str_eq(pw, "Passw0rd!");
		msgpack_zone_destroy(&z);
	}
	if (pw_bad)
		c->expect_code = AL_EINVALID_ARGUMENT;
	else if (!u->exists)
		c->expect_code = AL_ENOT_FOUND;
	else if (a.n == 1 || invalid || (has_domain && !domain_exists(m, domain)))
		c->expect_code = AL_EINVALID_ARGUMENT;
	else if (has_name && strcmp(username, u->username) != 0 && username_taken(m, username))
		c->expect_code = AL_EALREADY_EXISTS;
	else {
		c->expect_code = AL_OK;
		bool changed = has_pw;
		changed |= has_name && strcmp(username, u->username) != 0;
		changed |= has_full && strcmp(full, u->full_name) != 0;
		changed |= has_desc && strcmp(desc, u->description) != 0;
		changed |= has_domain && strcmp(domain, u->domain) != 0;
		changed |= role && strcmp(role, u->role) != 0;
		changed |= status && strcmp(status, u->status) != 0;
		changed |= has_npc && npc != u->npc;
		c->expect_events = changed;
		/* A role change across admin / non-admin updates the keypair's flag; status inactive
		 * deactivates the keypair. */
		if (role && strcmp(role, u->role) != 0 && is_admin_role(role) != is_admin_role(u->role) && u->has_kp)
			c->expect_events++;
		if (status && strcmp(status, "inactive") == 0 && u->kp_active) {
			c->expect_events++;
			u->kp_active = false;
		}
		if (has_domain && strcmp(domain, u->domain) != 0 && u->in_project) { /* leaves its projects */
			c->expect_events++;
			u->in_project = false;
		}
		if (has_name)
			snprintf(u->username, sizeof u->username, "%s", username);
		if (has_full)
			snprintf(u->full_name, sizeof u->full_name, "%s", full);
		if (has_desc)
			snprintf(u->description, sizeof u->description, "%s", desc);
		if (has_domain)
			snprintf(u->domain, sizeof u->domain, "%s", domain);
		if (role)
			snprintf(u->role, sizeof u->role, "%s", role);
		if (status)
			snprintf(u->status, sizeof u->status, "%s", status);
		if (has_npc)
			u->npc = npc;
	}
}

static void gen_status(rng *r, model *m, gcmd *c)
{
	bool activate = chance(r, 50);
	int ei = (int)rnd_below(r, NEMAIL);
	char email[96];
	email_of(ei, email, sizeof email);
	argb a;
	ab_init(&a);
	ab_s(&a, "email", email);
	c->op = activate ? "user.activate" : "user.deactivate";
	c->args = ab_done(&a, &c->len);
	snprintf(c->what, sizeof c->what, "%s %s", c->op, email);
	muser *u = &m->users[ei];
	const char *target = activate ? "active" : "inactive";
	c->expect_events = 0;
	if (!u->exists)
		c->expect_code = AL_ENOT_FOUND;
	else {
		c->expect_code = AL_OK;
		c->expect_events = strcmp(u->status, target) != 0;
		if (!activate && u->kp_active) { /* deactivation also deactivates the keypair */
			c->expect_events++;
			u->kp_active = false;
		}
		snprintf(u->status, sizeof u->status, "%s", target);
	}
}

static void gen_domain_create(rng *r, model *m, gcmd *c)
{
	static const char *const bad[] = {"-bad", "bad-", "bad name", "", long65, "b@d"};
	char name[96];
	bool invalid = false;
	int k = -1;
	if (chance(r, 80)) {
		k = (int)rnd_below(r, NDOMAIN);
		snprintf(name, sizeof name, "d%d", k);
	} else {
		snprintf(name, sizeof name, "%s", bad[rnd_below(r, 6)]);
		invalid = true;
	}
	argb a;
	ab_init(&a);
	ab_s(&a, "name", name);
	if (chance(r, 50)) {
		if (chance(r, 5)) {
			char *d = malloc(514); /* a domain description holds 512 characters */
			memset(d, 'd', 513);
			d[513] = 0;
			ab_s(&a, "description", d);
			free(d);
			invalid = true;
		} else
			ab_s(&a, "description", "A domain");
	}
	c->op = "domain.create";
	c->args = ab_done(&a, &c->len);
	snprintf(c->what, sizeof c->what, "domain.create '%.70s'", name);
	c->expect_events = 0;
	if (invalid)
		c->expect_code = AL_EINVALID_ARGUMENT;
	else if (m->domains[k])
		c->expect_code = AL_EALREADY_EXISTS;
	else {
		c->expect_code = AL_OK;
		c->expect_events = 1;
		m->domains[k] = true;
	}
}

static void gen_user_get(rng *r, model *m, gcmd *c)
{
	int ei = (int)rnd_below(r, NEMAIL);
	char email[96];
	email_of(ei, email, sizeof email);
	argb a;
	ab_init(&a);
	ab_s(&a, "email", email);
	c->op = "user.get";
	c->args = ab_done(&a, &c->len);
	snprintf(c->what, sizeof c->what, "user.get %s", email);
	c->expect_events = 0;
	c->expect_code = m->users[ei].exists ? AL_OK : AL_ENOT_FOUND;
}

static void gen_command(rng *r, model *m, gcmd *c)
{
	unsigned k = rnd_below(r, 100);
	if (k < 30)
		gen_user_create(r, m, c);
	else if (k < 70)
		gen_user_update(r, m, c);
	else if (k < 85)
		gen_status(r, m, c);
	else if (k < 95)
		gen_domain_create(r, m, c);
	else
		gen_user_get(r, m, c);
}

static void model_init(model *m)
{
	memset(m, 0, sizeof *m);
	muser *a = &m->users[0]; /* the bootstrap admin */
	a->exists = true;
	snprintf(a->username, sizeof a->username, "admin");
	snprintf(a->full_name, sizeof a->full_name, "Administrator");
	snprintf(a->description, sizeof a->description, "Bootstrap superadmin");
	snprintf(a->domain, sizeof a->domain, "default");
	snprintf(a->role, sizeof a->role, "superadmin");
	snprintf(a->status, sizeof a->status, "active");
	a->has_kp = a->kp_active = a->in_project = true;
}

static void check_reply(const gcmd *c, const al_reply *rep, size_t index, uint64_t *total)
{
	uint64_t n = appended(rep);
	if (rep->err.code != c->expect_code || n != (uint64_t)c->expect_events)
		print_error("command %zu: %s: got %s (%s) with %llu events, expected %s with %d\n", index, c->what,
			    al_err_name(rep->err.code), rep->err.msg, (unsigned long long)n,
			    al_err_name(c->expect_code), c->expect_events);
	assert_int_equal(rep->err.code, c->expect_code);
	assert_int_equal(n, (uint64_t)c->expect_events);
	if (n)
		assert_int_equal(rep->first_seq, *total + 1);
	*total += n;
}

/* Compares every pool user and domain in the store against the model. */
static void check_against_model(al_store *s, const model *m)
{
	for (int i = 0; i < NEMAIL; i++) {
		char email[96];
		email_of(i, email, sizeof email);
		al_reply rep;
		const muser *u = &m->users[i];
		int rc = th_exec(s, &rep, "user.get", "email", 's', email, NULL);
		assert_int_equal(rc, u->exists ? AL_OK : AL_ENOT_FOUND);
		if (u->exists) {
			assert_string_equal(th_res_str(&rep, "username"), u->username);
			assert_string_equal(th_res_str(&rep, "full_name"), u->full_name);
			assert_string_equal(th_res_str(&rep, "domain"), u->domain);
			assert_string_equal(th_res_str(&rep, "role"), u->role);
			assert_string_equal(th_res_str(&rep, "status"), u->status);
		}
		al_reply_free(&rep);
	}
	int ndomains = 1;
	for (int k = 0; k < NDOMAIN; k++)
		ndomains += m->domains[k];
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "domain.list", NULL), AL_OK);
	assert_int_equal(th_res_len(&rep), ndomains);
	al_reply_free(&rep);
}

static void rebuild_equals_live(void **state)
{
	(void)state;
	print_message("# seed 0x%016llx, %d commands\n", (unsigned long long)RANDOM_SEED, RANDOM_COMMANDS);
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	assert_non_null(s);
	rng r = {RANDOM_SEED};
	model *m = malloc(sizeof *m);
	model_init(m);
	enum { MAXB = 100 };
	gcmd cmds[MAXB];
	al_request reqs[MAXB];
	al_reply reps[MAXB];
	uint64_t total = th_boot_seq; /* bootstrap events */
	size_t done = 0, ok = 0, refused = 0, singles = 0, batches = 0;
	int codes_seen[4] = {0}; /* ok, invalid_argument, not_found, already_exists */
	while (done < RANDOM_COMMANDS) {
		bool single = chance(&r, 50);
		size_t n = single ? 1 : 1 + rnd_below(&r, MAXB);
		if (n > RANDOM_COMMANDS - done)
			n = RANDOM_COMMANDS - done;
		for (size_t i = 0; i < n; i++) {
			gen_command(&r, m, &cmds[i]);
			reqs[i] = (al_request){cmds[i].op, cmds[i].args, cmds[i].len, &th_admin};
		}
		if (single) {
			al_exec(s, &reqs[0], &reps[0]);
			singles++;
		} else {
			assert_int_equal(al_exec_batch(s, reqs, reps, n), AL_OK);
			batches++;
		}
		for (size_t i = 0; i < n; i++) {
			check_reply(&cmds[i], &reps[i], done + i, &total);
			int code = reps[i].err.code;
			ok += code == AL_OK;
			refused += code != AL_OK;
			codes_seen[0] += code == AL_OK;
			codes_seen[1] += code == AL_EINVALID_ARGUMENT;
			codes_seen[2] += code == AL_ENOT_FOUND;
			codes_seen[3] += code == AL_EALREADY_EXISTS;
			al_reply_free(&reps[i]);
			free(cmds[i].args);
		}
		done += n;
	}
	print_message("# %zu ok, %zu refused, %llu events, %zu batches, %zu single calls\n", ok, refused,
		      (unsigned long long)total, batches, singles);
	/* The mix really is mixed. */
	for (int i = 0; i < 4; i++)
		assert_true(codes_seen[i] > 100);
	assert_true(singles > 100);
	/* Rejected commands appended nothing: the head is exactly the sum of what the OKs appended. */
	assert_int_equal(al_log_head(s), total);
	check_against_model(s, m);

	char live[33], rebuilt[33], reopened[33];
	th_digest(s, live);
	al_error err = {0};
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	assert_int_equal(al_log_head(s), total);
	verify_ok(s);
	check_against_model(s, m);
	al_store_close(s);
	s = reopen(dir);
	th_digest(s, reopened);
	assert_string_equal(live, reopened);
	al_store_close(s);
	free(m);
	th_rmrf(dir);
}

/* ---- 3. as-of by seq and by time, and replay to a directory --------------------------------------- */

typedef struct fake_clock {
	int64_t now;
} fake_clock;

static int64_t fake_now(void *ctx) { return ((fake_clock *)ctx)->now; }

#define ASOF_COMMANDS 600
#define ASOF_EVERY 50
#define ASOF_USERS (ASOF_COMMANDS / 10)
#define ASOF_POINTS (ASOF_COMMANDS / ASOF_EVERY)

typedef struct checkpoint {
	uint64_t seq;
	int64_t time;
	char digest[33];
	int nusers;                    /* users t0..t(nusers-1) exist */
	char full[ASOF_USERS][24];     /* their full names then */
	bool active[ASOF_USERS];
} checkpoint;

static void asof_user_email(int k, char *buf, size_t n) { snprintf(buf, n, "t%d@example.com", k); }

static void check_scratch(al_store *scratch, const checkpoint *cp, bool *saw_old_value, const char (*final_full)[24],
			  int final_users)
{
	char d[33];
	th_digest(scratch, d);
	assert_string_equal(d, cp->digest);
	assert_int_equal(al_log_head(scratch), cp->seq);
	for (int k = 0; k < cp->nusers; k++) {
		char email[64];
		al_reply rep;
		asof_user_email(k, email, sizeof email);
		assert_int_equal(th_exec(scratch, &rep, "user.get", "email", 's', email, NULL), AL_OK);
		assert_string_equal(th_res_str(&rep, "full_name"), cp->full[k]);
		assert_string_equal(th_res_str(&rep, "status"), cp->active[k] ? "active" : "inactive");
		if (strcmp(cp->full[k], final_full[k]) != 0)
			*saw_old_value = true;
		al_reply_free(&rep);
	}
	if (cp->nusers < final_users) { /* created later: not there yet */
		char email[64];
		asof_user_email(cp->nusers, email, sizeof email);
		assert_int_equal(th_run(scratch, "user.get", "email", 's', email, NULL), AL_ENOT_FOUND);
	}
}

static void asof_and_replay(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	assert_non_null(s);
	uint64_t boot = al_log_head(s);
	assert_int_equal(boot, th_boot_seq);
	fake_clock fc = {al_clock_real(NULL) + 3600LL * 1000000};
	fc.now -= fc.now % 1000000;
	const int64_t start = fc.now;
	al_store_set_clock(s, fake_now, &fc);

	static checkpoint cps[ASOF_POINTS];
	static int64_t ev_time[ASOF_COMMANDS * 2 + 8]; /* time of each event (seq > boot) */
	char full[ASOF_USERS][24];
	bool active[ASOF_USERS], kp_active[ASOF_USERS];
	int nusers = 0, npoints = 0;
	uint64_t head = boot;
	rng r = {0xA50F};
	for (int i = 0; i < ASOF_COMMANDS; i++) {
		fc.now += 1000; /* 1 ms per command */
		char email[64], name[32], value[24];
		al_reply rep;
		int rc, expect = AL_OK;
		uint64_t events = 1;
		if (i % 10 == 0) {
			asof_user_email(nusers, email, sizeof email);
			snprintf(name, sizeof name, "t%d", nusers);
			snprintf(full[nusers], sizeof full[nusers], "v%d", i);
			active[nusers] = kp_active[nusers] = true;
			nusers++;
			events = 2; /* user.created, keypair.created */
			rc = th_exec(s, &rep, "user.create", "email", 's', email, "username", 's', name, "password", 's',
				     "Passw0rd!", "full_name", 's', full[nusers - 1], NULL);
		} else if (i % 10 == 5) { /* refused: appends nothing */
			expect = AL_EINVALID_ARGUMENT;
			rc = th_exec(s, &rep, "user.create", "email", 's', "broken", "username", 's', "broken", "password",
				     's', "Passw0rd!", NULL);
		} else if (i % 10 == 9) {
			int k = (int)rnd_below(&r, (unsigned)nusers);
			asof_user_email(k, email, sizeof email);
			rc = th_exec(s, &rep, active[k] ? "user.deactivate" : "user.activate", "email", 's', email, NULL);
			events += active[k] && kp_active[k]; /* deactivation also deactivates the keypair */
			kp_active[k] &= !active[k];
			active[k] = !active[k];
		} else {
			int k = (int)rnd_below(&r, (unsigned)nusers);
			asof_user_email(k, email, sizeof email);
			snprintf(value, sizeof value, "v%d", i);
			snprintf(full[k], sizeof full[k], "%s", value);
			rc = th_exec(s, &rep, "user.update", "email", 's', email, "full_name", 's', value, NULL);
		}
		if (rc != expect)
			print_error("command %d: %s\n", i, rep.err.msg);
		assert_int_equal(rc, expect);
		uint64_t n = appended(&rep);
		assert_int_equal(n, expect == AL_OK ? events : 0);
		for (uint64_t k = 0; k < n; k++)
			ev_time[++head - boot] = fc.now;
		al_reply_free(&rep);
		if ((i + 1) % ASOF_EVERY == 0) {
			checkpoint *cp = &cps[npoints++];
			cp->seq = al_log_head(s);
			assert_int_equal(cp->seq, head);
			cp->time = fc.now;
			th_digest(s, cp->digest);
			cp->nusers = nusers;
			memcpy(cp->full, full, sizeof full);
			memcpy(cp->active, active, sizeof active);
		}
	}
	assert_int_equal(npoints, ASOF_POINTS);

	/* As-of by seq: each remembered state comes back exactly, in a scratch store that goes away. */
	bool saw_old_value = false;
	for (int p = 0; p < npoints; p++) {
		al_store *scratch = NULL;
		al_error err = {0};
		assert_int_equal(al_store_asof(s, cps[p].seq, &scratch, &err), AL_OK);
		char *sdir = strdup(al_store_dir(scratch));
		assert_string_not_equal(sdir, dir);
		check_scratch(scratch, &cps[p], &saw_old_value, (const char (*)[24])full, nusers);
		if (p == npoints / 2)
			verify_ok(scratch);
		al_store_close(scratch);
		assert_false(dir_exists(sdir));
		free(sdir);
	}
	assert_true(saw_old_value);
	/* The ends: before the first event (nothing at all) and past the head (clamped to it). */
	{
		al_store *scratch = NULL;
		al_error err = {0};
		al_reply rep;
		assert_int_equal(al_store_asof(s, 0, &scratch, &err), AL_OK);
		assert_int_equal(al_log_head(scratch), 0);
		assert_int_equal(th_run(scratch, "user.get", "email", 's', "admin@example.com", NULL), AL_ENOT_FOUND);
		assert_int_equal(th_exec(scratch, &rep, "domain.list", NULL), AL_OK);
		assert_int_equal(th_res_len(&rep), 0);
		al_reply_free(&rep);
		al_store_close(scratch);
		char now[33], then[33];
		th_digest(s, now);
		assert_int_equal(al_store_asof(s, head + 100, &scratch, &err), AL_OK);
		assert_int_equal(al_log_head(scratch), head);
		th_digest(scratch, then);
		assert_string_equal(now, then);
		al_store_close(scratch);
	}

	/* Seq at time: a binary search over event times, checked against every event's time. */
	al_error err = {0};
	uint64_t seq = 99;
	assert_int_equal(al_log_seq_at_time(s, 0, &seq, &err), AL_OK);
	assert_int_equal(seq, 0);
	assert_int_equal(al_log_seq_at_time(s, start, &seq, &err), AL_OK);
	assert_int_equal(seq, boot); /* the bootstrap ran on the real clock, before the fake one */
	assert_int_equal(al_log_seq_at_time(s, INT64_MAX, &seq, &err), AL_OK);
	assert_int_equal(seq, head);
	for (int64_t t = start; t <= fc.now + 1000; t += 250) {
		uint64_t want = boot;
		for (uint64_t q = boot + 1; q <= head && ev_time[q - boot] <= t; q++)
			want = q;
		assert_int_equal(al_log_seq_at_time(s, t, &seq, &err), AL_OK);
		if (seq != want)
			print_error("seq at time %lld: %llu, expected %llu\n", (long long)(t - start),
				    (unsigned long long)seq, (unsigned long long)want);
		assert_int_equal(seq, want);
	}
	for (int p = 0; p < npoints; p++) {
		assert_int_equal(al_log_seq_at_time(s, cps[p].time, &seq, &err), AL_OK);
		assert_int_equal(seq, cps[p].seq);
		assert_int_equal(al_log_seq_at_time(s, cps[p].time + 999, &seq, &err), AL_OK);
		assert_int_equal(seq, cps[p].seq); /* the next command ran 1 ms later */
	}

	/* As-of by time, written out: replay to the seq of a moment, open it as a store. */
	const checkpoint *cp = &cps[npoints / 3];
	assert_int_equal(al_log_seq_at_time(s, cp->time + 500, &seq, &err), AL_OK);
	assert_int_equal(seq, cp->seq);
	char *out = th_tmpdir();
	assert_int_equal(al_store_replay(s, seq, out, 0, &err), AL_OK);
	assert_int_equal(al_store_replay(s, seq, out, 0, &err), AL_EALREADY_EXISTS);
	al_store *r2 = reopen(out);
	bool dummy = false;
	check_scratch(r2, cp, &dummy, (const char (*)[24])full, nusers);
	uint64_t seq2 = 0;
	assert_int_equal(al_log_seq_at_time(r2, cp->time, &seq2, &err), AL_OK);
	assert_int_equal(seq2, cp->seq);
	verify_ok(r2);
	al_store_close(r2);
	assert_true(dir_exists(out)); /* a replay is not a scratch store: it stays */
	th_rmrf(out);

	/* The source is untouched by all of this. */
	verify_ok(s);
	al_store_close(s);
	th_rmrf(dir);
}

/* ---- 4. upcasting a v1 user.created from a checked-in fixture --------------------------------------- */

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/fixtures"
#endif

/* Reads a hex fixture (whitespace ignored) into a malloc'd buffer. */
static unsigned char *read_hex_fixture(const char *name, size_t *len)
{
	char path[512];
	const char *d = getenv("AL_FIXTURE_DIR");
	snprintf(path, sizeof path, "%s/%s", d && *d ? d : FIXTURE_DIR, name);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		print_error("cannot open fixture %s: %s (run from the source root)\n", path, strerror(errno));
	assert_non_null(f);
	unsigned char *buf = malloc(4096);
	size_t n = 0;
	int hi = -1, ch;
	while ((ch = fgetc(f)) != EOF) {
		int v = 0;
		if (ch >= '0' && ch <= '9')
			v = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			v = ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			v = ch - 'A' + 10;
		else if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
			continue;
		else
			fail_msg("fixture %s: not hex", path);
		if (hi < 0)
			hi = v;
		else {
			assert_true(n < 4096);
			buf[n++] = (unsigned char)(hi << 4 | v);
			hi = -1;
		}
	}
	fclose(f);
	assert_int_equal(hi, -1);
	*len = n;
	return buf;
}

static void assert_str_field(const msgpack_object *map, const char *key, const char *want)
{
	al_str v;
	assert_int_equal(al_mp_str(map, key, &v), 1);
	assert_int_equal(v.n, strlen(want));
	assert_memory_equal(v.p, want, v.n);
}

typedef struct append_ctx {
	unsigned type, version;
	const void *payload;
	size_t len;
	uint64_t seq; /* out */
} append_ctx;

/* What al__emit does, with a record of any version: append, then apply to the views. */
static int append_raw(al_wtxn *w, void *ctx, al_error *err)
{
	append_ctx *a = ctx;
	al_event e;
	a->seq = 0;
	msgpack_zone_clear(&w->zone);
	int rc = al__log_append(w, a->type, a->version, w->head_time + 1, a->payload, a->len, &e, err);
	if (rc == AL_OK)
		rc = al__proj_apply(w, &e, err);
	if (rc == AL_OK)
		a->seq = e.seq;
	return rc;
}

typedef struct found {
	unsigned stored_version;
	char status[24];
	int n;
} found;

static int find_cb(const al_event *e, void *ctx)
{
	found *f = ctx;
	al_str st = {"", 0};
	f->n++;
	f->stored_version = e->stored_version;
	al_mp_str(&e->fields, "status", &st);
	al_str_cpy(f->status, sizeof f->status, st);
	return 0;
}

static void upcast_v1_fixture(void **state)
{
	(void)state;
	size_t len;
	unsigned char *payload = read_hex_fixture("user_created_v1.hex", &len);
	const al_event_def *def = al_event_def_by_name("user.created");
	assert_non_null(def);
	assert_int_equal(def->version, 2); /* the fixture is one version behind */

	/* (a) decode + upcast, no store involved. */
	al_rec_header h = {.format = AL_FORMAT_VERSION, .type = def->number, .version = 1, .time_us = 1,
			   .payload_len = (uint32_t)len};
	msgpack_zone z;
	msgpack_zone_init(&z, 4096);
	al_event e;
	al_error err = {0};
	assert_int_equal(al__event_decode(&h, payload, 7, &z, &e, &err), AL_OK);
	assert_ptr_equal(e.def, def);
	assert_int_equal(e.stored_version, 1);
	assert_int_equal(e.seq, 7);
	assert_true(al_str_eq(e.kind, "user"));
	assert_true(al_str_eq(e.id, "legacy@example.com"));
	assert_true(al_str_eq(e.actor, "local:legacy-import"));
	assert_str_field(&e.fields, "status", "inactive");
	bool npc = true;
	assert_int_equal(al_mp_bool(&e.fields, "need_password_change", &npc), 1);
	assert_false(npc);
	assert_null(al_mp_get(&e.fields, "is_active"));
	assert_str_field(&e.fields, "email", "legacy@example.com");
	assert_str_field(&e.fields, "username", "legacy");
	assert_str_field(&e.fields, "domain", "legacy");
	assert_str_field(&e.fields, "role", "user");
	assert_str_field(&e.fields, "full_name", "Legacy User");
	/* Every required field of the current version is there, each exactly once; an optional one
	 * added later without a version bump (its absence means the old default) at most once. */
	uint32_t known = 0;
	for (size_t i = 0; i < def->nfields; i++) {
		int seen = 0;
		for (uint32_t k = 0; k < e.fields.via.map.size; k++)
			seen += al_mp_str_eq(&e.fields.via.map.ptr[k].key, def->fields[i].name);
		if (seen != 1 && !(seen == 0 && (def->fields[i].flags & AL_F_OPT)))
			print_error("field %s appears %d times after upcasting\n", def->fields[i].name, seen);
		assert_true(seen == 1 || (seen == 0 && (def->fields[i].flags & AL_F_OPT)));
		known += (uint32_t)seen;
	}
	assert_int_equal(e.fields.via.map.size, known); /* and nothing else */

	/* A version from the future, and a version 0 that never existed, are refused. */
	h.version = def->version + 1;
	assert_int_equal(al__event_decode(&h, payload, 7, &z, &e, &err), AL_EUNSUPPORTED);
	h.version = 0;
	assert_int_equal(al__event_decode(&h, payload, 7, &z, &e, &err), AL_EUNSUPPORTED);
	msgpack_zone_destroy(&z);

	/* (b) the same bytes as a v1 record in a real store. */
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	assert_non_null(s);
	assert_int_equal(th_run(s, "domain.create", "name", 's', "legacy", NULL), AL_OK);
	uint64_t head = al_log_head(s);
	append_ctx a = {def->number, def->version + 1, payload, len, 0};
	/* Newer than the code: refused, nothing appended. */
	assert_int_equal(al__store_write(s, append_raw, &a, &err), AL_EUNSUPPORTED);
	assert_int_equal(al_log_head(s), head);
	a.version = 1;
	assert_int_equal(al__store_write(s, append_raw, &a, &err), AL_OK);
	assert_int_equal(a.seq, head + 1);
	assert_int_equal(al_log_head(s), head + 1);

	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', "legacy@example.com", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "inactive");
	assert_string_equal(th_res_str(&rep, "username"), "legacy");
	assert_string_equal(th_res_str(&rep, "domain"), "legacy");
	assert_string_equal(th_res_str(&rep, "full_name"), "Legacy User");
	assert_string_equal(th_res_str(&rep, "resource_policy"), "default"); /* absent in v1: the default */
	assert_int_equal(th_res_int(&rep, "version"), 1);
	al_reply_free(&rep);
	{
		msgpack_zone rz;
		msgpack_object ro;
		size_t off = 0;
		assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', "legacy@example.com", NULL), AL_OK);
		msgpack_zone_init(&rz, 1024);
		assert_int_equal(msgpack_unpack(rep.result, rep.result_len, &off, &rz, &ro), MSGPACK_UNPACK_SUCCESS);
		bool b = true;
		assert_int_equal(al_mp_bool(&ro, "need_password_change", &b), 1);
		assert_false(b);
		msgpack_zone_destroy(&rz);
		al_reply_free(&rep);
	}
	/* The audit log reads it back upcast, remembering it was written as v1. */
	found f = {0};
	al_log_filter filt = {.entity = "user:legacy@example.com"};
	assert_int_equal(al_log_query(s, &filt, find_cb, &f, &err), AL_OK);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.stored_version, 1);
	assert_string_equal(f.status, "inactive");
	/* Its username is taken like any other. */
	assert_int_equal(th_run(s, "user.create", "email", 's', "other@example.com", "username", 's', "legacy",
				"password", 's', "Passw0rd!", NULL), AL_EALREADY_EXISTS);

	char before[33], after[33];
	th_digest(s, before);
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, after);
	assert_string_equal(before, after);
	verify_ok(s);
	/* Later events build on the upcast row. */
	assert_int_equal(th_exec(s, &rep, "user.activate", "email", 's', "legacy@example.com", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "active");
	assert_int_equal(appended(&rep), 1);
	al_reply_free(&rep);
	th_digest(s, before);
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, after);
	assert_string_equal(before, after);
	al_store_close(s);
	th_rmrf(dir);
	free(payload);
}

/* ---- 5. a view whose stored version differs from the code's is rebuilt on open --------------------- */

static void stale_view_version_rebuilt(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	assert_non_null(s);
	for (int i = 0; i < 20; i++) {
		char email[64], name[32], full[32];
		snprintf(email, sizeof email, "pv%d@example.com", i);
		snprintf(name, sizeof name, "pv%d", i);
		snprintf(full, sizeof full, "Name %d", i);
		assert_int_equal(th_run(s, "user.create", "email", 's', email, "username", 's', name, "password", 's',
					"Passw0rd!", NULL), AL_OK);
		assert_int_equal(th_run(s, "user.update", "email", 's', email, "full_name", 's', full, NULL), AL_OK);
	}
	assert_int_equal(th_run(s, "user.deactivate", "email", 's', "pv3@example.com", NULL), AL_OK);
	uint64_t head = al_log_head(s);
	char good[33];
	th_digest(s, good);
	al_store_close(s);

	unsigned ver, code_ver = al__proj_users.version;
	uint64_t cursor, dom_cursor;
	read_proj_meta(dir, "users", &ver, &cursor);
	assert_int_equal(ver, code_ver);
	assert_int_equal(cursor, head);
	unsigned dom_ver;
	read_proj_meta(dir, "domains", &dom_ver, &dom_cursor);

	/* Pretend the view was written by another version of the users projection, whose rows
	 * look different: a changed row, a stray row, a missing row. */
	{
		th_raw r;
		MDB_dbi meta, users;
		th_raw_open(&r, dir, 0);
		assert_int_equal(mdb_dbi_open(r.txn, "meta", 0, &meta), 0);
		assert_int_equal(mdb_dbi_open(r.txn, "v_users", 0, &users), 0);
		unsigned char v[12];
		al__be32(v, code_ver + 41);
		al__be64(v + 4, head);
		MDB_val k = {10, "proj/users"}, val = {sizeof v, v};
		assert_int_equal(mdb_put(r.txn, meta, &k, &val, 0), 0);
		MDB_val uk = {15, "pv1@example.com"}, uv = {3, "old"};
		assert_int_equal(mdb_put(r.txn, users, &uk, &uv, 0), 0);
		MDB_val sk = {17, "stray@example.com"};
		assert_int_equal(mdb_put(r.txn, users, &sk, &uv, 0), 0);
		MDB_val dk = {15, "pv2@example.com"};
		assert_int_equal(mdb_del(r.txn, users, &dk, NULL), 0);
		th_raw_close(&r, true);
	}
	/* Opened read-only, nothing is rebuilt: the damage shows. */
	{
		al_open_opts ro = {AL_OPEN_RDONLY | AL_OPEN_QUIET, 0};
		al_error err = {0};
		assert_int_equal(al_store_open(&s, dir, &ro, &err), AL_OK);
		char stale[33];
		th_digest(s, stale);
		assert_string_not_equal(stale, good);
		al_store_close(s);
	}
	s = reopen(dir);
	char now[33];
	th_digest(s, now);
	assert_string_equal(now, good);
	assert_int_equal(al_log_head(s), head);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', "pv2@example.com", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "full_name"), "Name 2");
	al_reply_free(&rep);
	assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', "pv3@example.com", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "inactive");
	al_reply_free(&rep);
	assert_int_equal(th_run(s, "user.get", "email", 's', "stray@example.com", NULL), AL_ENOT_FOUND);
	verify_ok(s);
	al_store_close(s);

	read_proj_meta(dir, "users", &ver, &cursor);
	assert_int_equal(ver, code_ver);
	assert_int_equal(cursor, head);
	/* The other views were left alone. */
	unsigned dv;
	uint64_t dc;
	read_proj_meta(dir, "domains", &dv, &dc);
	assert_int_equal(dv, dom_ver);
	assert_int_equal(dc, dom_cursor);

	/* A second open finds nothing to do and changes nothing. */
	s = reopen(dir);
	th_digest(s, now);
	assert_string_equal(now, good);
	al_store_close(s);
	th_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(map_growth),
		cmocka_unit_test(rebuild_equals_live),
		cmocka_unit_test(asof_and_replay),
		cmocka_unit_test(upcast_v1_fixture),
		cmocka_unit_test(stale_view_version_rebuilt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
