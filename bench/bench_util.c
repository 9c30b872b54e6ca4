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
	printf(",\"baseline\":%.6g,\"ratio\":%.4f}\n", baseline, baseline != 0 ? value / baseline : 0.0);
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

void bu_create_users(al_store *s, size_t n, size_t batch)
{
	reqbuf b;
	reqbuf_init(&b, batch);
	for (size_t u = 0; u < n;) {
		size_t m = 0;
		for (; m < batch && u < n; m++, u++) {
			char *a = b.args + m * 512;
			b.reqs[m] = (al_request){"user.create", a, bu_args_create(a, u), &bu_actor};
		}
		run_batch(s, b.reqs, b.reps, m);
	}
	reqbuf_free(&b);
}

uint64_t bu_update_users(al_store *s, size_t nusers, size_t first_k, size_t count, size_t batch)
{
	reqbuf b;
	reqbuf_init(&b, batch);
	uint64_t events = 0;
	for (size_t k = first_k, end = first_k + count; k < end;) {
		size_t m = 0;
		for (; m < batch && k < end; m++, k++) {
			char *a = b.args + m * 512;
			b.reqs[m] = (al_request){"user.update", a, bu_args_update(a, k % nusers, k), &bu_actor};
		}
		events += run_batch(s, b.reqs, b.reps, m);
	}
	reqbuf_free(&b);
	return events;
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
