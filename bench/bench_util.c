/* bench_util.c - helpers shared by the benchmark programs (see bench_util.h). */
#include <errno.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

const al_actor bu_actor = {"local:bench", AL_ROLE_SUPERADMIN, NULL, NULL, NULL};

extern const char *__progname;

static char *made_dir; /* the last bu_tmpdir, removed by bu_die */

double bu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

size_t bu_scaled(size_t n, size_t min)
{
	const char *e = getenv("BENCH_SCALE");
	double f = e && *e ? strtod(e, NULL) : 1.0;
	if (!(f > 0))
		f = 1.0;
	double v = (double)n * f + 0.5;
	return v < (double)min ? min : (size_t)v;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

void bu_emit(const char *name, double value, const char *unit, const char *baseline_name, double baseline)
{
	printf("{\"name\":");
	json_str(name);
	printf(",\"value\":%.6g,\"unit\":", value);
	json_str(unit);
	printf(",\"baseline_name\":");
	json_str(baseline_name);
	printf(",\"baseline\":%.6g,\"ratio\":%.4g}\n", baseline, baseline != 0 ? value / baseline : 0.0);
	fflush(stdout);
}

void bu_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", __progname);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	if (made_dir) {
		char cmd[4200];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", made_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", made_dir);
	}
	exit(1);
}

void bu_note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "# %s: ", __progname);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- directories ------------------------------------------------------------------------ */

char *bu_tmpdir(const char *tag)
{
	const char *tmp = getenv("TMPDIR");
	char *d = malloc(4096);
	if (d == NULL)
		bu_die("out of memory");
	snprintf(d, 4096, "%s/adminlog-bench-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
	if (mkdtemp(d) == NULL)
		bu_die("mkdtemp %s: %s", d, strerror(errno));
	made_dir = d;
	return d;
}

void bu_rmrf(char *dir)
{
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		bu_note("could not remove %s", dir);
	if (made_dir == dir)
		made_dir = NULL;
	free(dir);
}

/* ---- stores ------------------------------------------------------------------------------ */

al_store *bu_store_open(const char *dir, unsigned flags, size_t map_size)
{
	al_store *s;
	al_error err = {0};
	al_open_opts o = {flags | AL_OPEN_QUIET, map_size};
	if (al_store_open(&s, dir, &o, &err) != AL_OK)
		bu_die("open %s: %s", dir, err.msg);
	return s;
}

al_store *bu_store_new(const char *dir, unsigned flags, size_t map_size)
{
	al_error err = {0};
	al_init_opts o = {.admin_email = "admin@example.com", .admin_password = "Adm1n!pass", .pwhash = "min"};
	if (al_store_init(dir, &o, &bu_actor, &err) != AL_OK)
		bu_die("init %s: %s", dir, err.msg);
	return bu_store_open(dir, flags, map_size);
}

/* ---- arguments ---------------------------------------------------------------------------- */

typedef struct wbuf {
	char *p;
	size_t n;
} wbuf;

static int wbuf_write(void *data, const char *buf, size_t len)
{
	wbuf *w = data;
	memcpy(w->p + w->n, buf, len);
	w->n += len;
	return 0;
}

static void kv(msgpack_packer *pk, const char *k, const char *v)
{
	msgpack_pack_str(pk, strlen(k));
	msgpack_pack_str_body(pk, k, strlen(k));
	msgpack_pack_str(pk, strlen(v));
	msgpack_pack_str_body(pk, v, strlen(v));
}

void bu_user_email(char *buf, size_t n, size_t u) { snprintf(buf, n, "user%06zu@bench.example.com", u); }

void bu_update_texts(size_t u, size_t k, char *full_name, size_t fn, char *desc, size_t dn)
{
	snprintf(full_name, fn, "Bench User %zu rev %zu", u, k);
	snprintf(desc, dn, "Benchmark account %zu, description revision %zu of the update run", u, k);
}

size_t bu_args_create(char *buf, size_t u)
{
	wbuf w = {buf, 0};
	msgpack_packer pk;
	msgpack_packer_init(&pk, &w, wbuf_write);
	char email[64], name[64], full[64];
	bu_user_email(email, sizeof email, u);
	snprintf(name, sizeof name, "user%06zu", u);
	snprintf(full, sizeof full, "Bench User %zu", u);
	msgpack_pack_map(&pk, 4);
	kv(&pk, "email", email);
	kv(&pk, "username", name);
	kv(&pk, "password", "Bench1!pass");
	kv(&pk, "full_name", full);
	return w.n;
}

size_t bu_args_update(char *buf, size_t u, size_t k)
{
	wbuf w = {buf, 0};
	msgpack_packer pk;
	msgpack_packer_init(&pk, &w, wbuf_write);
	char email[64], full[64], desc[128];
	bu_user_email(email, sizeof email, u);
	bu_update_texts(u, k, full, sizeof full, desc, sizeof desc);
	msgpack_pack_map(&pk, 3);
	kv(&pk, "email", email);
	kv(&pk, "full_name", full);
	kv(&pk, "description", desc);
	return w.n;
}

/* Runs requests [0, n) of one batch; dies if any command failed. */
static uint64_t run_batch(al_store *s, al_request *reqs, al_reply *reps, size_t n)
{
	if (n == 1)
		al_exec(s, reqs, reps);
	else
		al_exec_batch(s, reqs, reps, n);
	uint64_t events = 0;
	for (size_t i = 0; i < n; i++) {
		if (reps[i].err.code != AL_OK)
			bu_die("%s: %s", reqs[i].op, reps[i].err.msg);
		if (reps[i].last_seq)
			events += reps[i].last_seq - reps[i].first_seq + 1;
		al_reply_free(&reps[i]);
	}
	return events;
}

typedef struct reqbuf {
	al_request *reqs;
	al_reply *reps;
	char *args; /* batch * 512 bytes */
} reqbuf;

static void reqbuf_init(reqbuf *b, size_t batch)
{
	b->reqs = calloc(batch, sizeof *b->reqs);
	b->reps = calloc(batch, sizeof *b->reps);
	b->args = malloc(batch * 512);
	if (!b->reqs || !b->reps || !b->args)
		bu_die("out of memory");
}

static void reqbuf_free(reqbuf *b)
{
	free(b->reqs);
	free(b->reps);
	free(b->args);
}

/* Runs commands first..first+count-1 of a stream, `batch` per al_exec_batch (batch 1:
 * al_exec); gen writes command i into req (its args into the 512-byte buffer a). Returns the
 * events appended; dies if a command fails. */
typedef void (*gen_fn)(size_t i, char *a, al_request *req, void *ctx);

static uint64_t run_commands(al_store *s, size_t first, size_t count, size_t batch, gen_fn gen, void *ctx)
{
	reqbuf b;
	reqbuf_init(&b, batch);
	uint64_t events = 0;
	for (size_t i = first, end = first + count; i < end;) {
		size_t m = 0;
		for (; m < batch && i < end; m++, i++)
			gen(i, b.args + m * 512, &b.reqs[m], ctx);
		events += run_batch(s, b.reqs, b.reps, m);
	}
	reqbuf_free(&b);
	return events;
}

static void gen_create(size_t u, char *a, al_request *req, void *ctx)
{
	(void)ctx;
	*req = (al_request){"user.create", a, bu_args_create(a, u), &bu_actor};
}

typedef struct upd_ctx {
	size_t nusers;
} upd_ctx;

static void gen_update(size_t k, char *a, al_request *req, void *ctx)
{
	size_t nusers = ((upd_ctx *)ctx)->nusers;
	*req = (al_request){"user.update", a, bu_args_update(a, k % nusers, k), &bu_actor};
}

void bu_create_users(al_store *s, size_t n, size_t batch) { run_commands(s, 0, n, batch, gen_create, NULL); }

uint64_t bu_update_users(al_store *s, size_t nusers, size_t first_k, size_t count, size_t batch)
{
	upd_ctx c = {nusers};
	return run_commands(s, first_k, count, batch, gen_update, &c);
}

/* ---- the year log ------------------------------------------------------------------------- */

#define YEAR_POLICIES 20
#define YEAR_MAP (4ull << 30)

static char actor_names[BU_YEAR_ACTORS][16];
static al_actor actors[BU_YEAR_ACTORS];

const char *bu_year_actor(size_t i)
{
	if (actors[0].name == NULL)
		for (size_t a = 0; a < BU_YEAR_ACTORS; a++) {
			snprintf(actor_names[a], sizeof actor_names[a], "local:op-%02zu", a);
			actors[a] = (al_actor){actor_names[a], AL_ROLE_SUPERADMIN, NULL, NULL, NULL, NULL, NULL};
		}
	return actors[i % BU_YEAR_ACTORS].name;
}

/* Command i's actor: a fixed pseudo-random pick, so that no actor goes with one command kind. */
static const al_actor *actor_of(size_t i)
{
	uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull;
	bu_year_actor(0);
	return &actors[(x ^ (x >> 29)) % BU_YEAR_ACTORS];
}

static void kv_int(msgpack_packer *pk, const char *k, int64_t v)
{
	msgpack_pack_str(pk, strlen(k));
	msgpack_pack_str_body(pk, k, strlen(k));
	msgpack_pack_int64(pk, v);
}

/* policy.create / policy.update of keypair policy p with `cpu` cores. */
static size_t args_policy(char *buf, size_t p, int64_t cpu)
{
	wbuf w = {buf, 0};
	msgpack_packer pk;
	char name[32];
	msgpack_packer_init(&pk, &w, wbuf_write);
	snprintf(name, sizeof name, "bench-pol-%02zu", p);
	msgpack_pack_map(&pk, 2);
	kv(&pk, "name", name);
	kv_int(&pk, "cpu", cpu);
	return w.n;
}

/* A map of one string: {key: value}. */
static size_t args_one(char *buf, const char *key, const char *value)
{
	wbuf w = {buf, 0};
	msgpack_packer pk;
	msgpack_packer_init(&pk, &w, wbuf_write);
	msgpack_pack_map(&pk, 1);
	kv(&pk, key, value);
	return w.n;
}

typedef struct year_plan {
	size_t nusers, mixed; /* commands: YEAR_POLICIES policy.create, nusers user.create, mixed others */
	int64_t t0_us, step_us, calls;
} year_plan;

/* The store clock: command number `calls` runs at t0 + calls * step, so the log spans a year. */
static int64_t year_clock(void *ctx)
{
	year_plan *p = ctx;
	return p->t0_us + p->calls++ * p->step_us;
}

/* Command k of the mixed part: user.update but for 1 in 50 keypair.create, 1 in 100
 * policy.update and 1 in 10,000 domain.create (the rare type). */
static const char *gen_mixed(size_t k, size_t nusers, char *a, size_t *len)
{
	char text[64];
	if (k % 10000 == 9999) {
		snprintf(text, sizeof text, "bench-dom-%zu", k / 10000);
		*len = args_one(a, "name", text);
		return "domain.create";
	}
	if (k % 100 == 50) { /* a policy's successive updates are 20 cores apart (mod 500) */
		*len = args_policy(a, (k / 100) % YEAR_POLICIES, 1 + (int64_t)((k / 100) % 500));
		return "policy.update";
	}
	if (k % 50 == 25) {
		bu_user_email(text, sizeof text, (k * 7) % nusers);
		*len = args_one(a, "user", text);
		return "keypair.create";
	}
	*len = bu_args_update(a, k % nusers, k);
	return "user.update";
}

static void gen_year(size_t i, char *a, al_request *req, void *ctx)
{
	const year_plan *p = ctx;
	size_t len;
	const char *op;
	if (i < YEAR_POLICIES) /* 512 cores, which no update (1..500) repeats: each one changes it */
		op = "policy.create", len = args_policy(a, i, 512);
	else if (i < YEAR_POLICIES + p->nusers)
		op = "user.create", len = bu_args_create(a, i - YEAR_POLICIES);
	else
		op = gen_mixed(i - YEAR_POLICIES - p->nusers, p->nusers, a, &len);
	*req = (al_request){op, a, len, actor_of(i)};
}

static void year_build(const char *path, size_t nusers, size_t total)
{
	double t0 = bu_now();
	al_store *s = bu_store_new(path, AL_OPEN_NOSYNC, YEAR_MAP);
	uint64_t boot = al_log_head(s), fixed = boot + YEAR_POLICIES + 2 * (uint64_t)nusers;
	year_plan p = {.nusers = nusers, .mixed = total > fixed ? total - fixed : 0};
	size_t commands = YEAR_POLICIES + nusers + p.mixed;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	p.t0_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	p.step_us = BU_YEAR_US / (int64_t)commands;
	al_store_set_clock(s, year_clock, &p);
	run_commands(s, 0, commands, 1000, gen_year, &p);
	uint64_t head = al_log_head(s);
	al_store_set_clock(s, NULL, NULL);
	al_store_close(s);
	bu_note("year log: %llu events (%zu users, %zu mixed commands, %d actors) built in %.1f s",
		(unsigned long long)head, nusers, p.mixed, BU_YEAR_ACTORS, bu_now() - t0);
}

static void run_cmd(const char *what, const char *cmd)
{
	if (system(cmd) != 0)
		bu_die("%s failed: %s", what, cmd);
}

const char *bu_year_log(const char *own, int writable)
{
	size_t nusers = bu_scaled(100000, 10), total = bu_scaled(1000000, 2000);
	const char *cache = getenv("BENCH_CACHE");
	if (cache == NULL || *cache == 0) {
		year_build(own, nusers, total);
		return own;
	}
	static char shared[4096];
	char probe[4200], cmd[9000];
	snprintf(shared, sizeof shared, "%s/year-%zu-%zu", cache, nusers, total);
	snprintf(probe, sizeof probe, "%s/data.mdb", shared);
	if (access(probe, F_OK) != 0) {
		/* Built under a temporary name and renamed, so a half-built log is never reused. */
		snprintf(probe, sizeof probe, "%s.tmp%ld", shared, (long)getpid());
		year_build(probe, nusers, total);
		if (rename(probe, shared) != 0)
			bu_die("rename %s: %s", probe, strerror(errno));
	} else
		bu_note("year log: reusing %s", shared);
	if (!writable)
		return shared;
	double t0 = bu_now();
	snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", shared, own);
	run_cmd("copy the year log", cmd);
	bu_note("year log: copied in %.1f s", bu_now() - t0);
	return own;
}

/* ---- raw LMDB access to a closed store ----------------------------------------------------- */

void bu_raw_open(const char *dir, MDB_env **env, MDB_txn **txn, MDB_dbi *dbi, const char *name)
{
	int rc = mdb_env_create(env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(*env, 32);
	if (rc == 0)
		rc = mdb_env_open(*env, dir, MDB_RDONLY | MDB_NOTLS, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(*env, NULL, MDB_RDONLY, txn);
	if (rc == 0)
		rc = mdb_dbi_open(*txn, name, 0, dbi);
	if (rc)
		bu_die("raw open %s/%s: %s", dir, name, mdb_strerror(rc));
}

void bu_records_read(const char *dir, uint64_t from, uint64_t to, bu_records *r)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *c;
	bu_raw_open(dir, &env, &txn, &dbi, "events");
	memset(r, 0, sizeof *r);
	size_t cap = to >= from ? to - from + 1 : 0;
	r->val = calloc(cap ? cap : 1, sizeof *r->val);
	r->len = calloc(cap ? cap : 1, sizeof *r->len);
	if (!r->val || !r->len || mdb_cursor_open(txn, dbi, &c))
		bu_die("records: out of memory or cursor");
	unsigned char k[8];
	for (int i = 7; i >= 0; i--)
		k[7 - i] = (unsigned char)(from >> (8 * i));
	MDB_val key = {8, k}, val;
	for (int rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE); rc == 0 && r->n < cap;
	     rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		r->val[r->n] = malloc(val.mv_size);
		if (r->val[r->n] == NULL)
			bu_die("out of memory");
		memcpy(r->val[r->n], val.mv_data, val.mv_size);
		r->len[r->n++] = val.mv_size;
		r->bytes += val.mv_size;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

void bu_records_free(bu_records *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->val[i]);
	free(r->val);
	free(r->len);
	memset(r, 0, sizeof *r);
}

MDB_env *bu_raw_env(const char *dir, size_t map)
{
	MDB_env *env;
	int rc = mdb_env_create(&env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(env, 4);
	if (rc == 0)
		rc = mdb_env_set_mapsize(env, map);
	if (rc == 0)
		rc = mdb_env_open(env, dir, 0, 0600);
	if (rc)
		bu_die("raw env: %s", mdb_strerror(rc));
	return env;
}
