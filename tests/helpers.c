#define _GNU_SOURCE /* memmem */
/* helpers.c - test fixtures (see helpers.h). */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "core/log.h"
#include "core/projection.h"
#include "core/store.h"
#include "util/argpack.h"

uint64_t th_boot_seq;
const al_actor th_admin = {"local:test", AL_ROLE_SUPERADMIN, NULL, NULL, NULL};

char *th_tmpdir(void)
{
	const char *tmp = getenv("TMPDIR");
	char *d = malloc(4096);
	snprintf(d, 4096, "%s/adminlog-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(d) == NULL)
		abort();
	rmdir(d); /* callers want a path that does not exist yet */
	return d;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return remove(path);
}

/* nftw, not system("rm -rf"): no shell to quote the path for, and no process per call.
 * FTW_DEPTH visits a directory after its entries; FTW_PHYS removes links, not their targets. */
void th_rmrf(char *dir)
{
	if (dir && nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
		fprintf(stderr, "# could not remove %s: %s\n", dir, strerror(errno));
	free(dir);
}

al_store *th_init(const char *dir, size_t map_size)
{
	/* offline: no cr.backend.ai, so that no test reaches for the internet */
	al_init_opts o = {.admin_email = "admin@example.com", .admin_password = TH_PASSWORD, .pwhash = "min", .offline = 1};
	al_error err = {0};
	if (al_store_init(dir, &o, &th_admin, &err) != AL_OK) {
		fprintf(stderr, "# init %s: %s\n", dir, err.msg);
		return NULL;
	}
	al_store *s = NULL;
	al_open_opts oo = {AL_OPEN_QUIET, map_size};
	if (al_store_open(&s, dir, &oo, &err) != AL_OK)
		fprintf(stderr, "# open %s: %s\n", dir, err.msg);
	else
		th_boot_seq = al_log_head(s);
	return s;
}

void th_refuse_at(const char *file, int line, al_store *s, const al_actor *who, int code, const char *field,
		  const char *has, const char *op, ...)
{
	uint64_t head = al_log_head(s);
	size_t len;
	va_list ap;
	va_start(ap, op);
	char *args = th_vargs(&len, ap);
	va_end(ap);
	al_request req = {op, args, len, who ? who : &th_admin};
	al_reply rep;
	int rc = al_exec(s, &req, &rep);
	free(args);
	if (rc != code)
		print_error("%s: got %s (%s), expected %s\n", op, al_err_name(rc), rep.err.msg, al_err_name(code));
	_assert_int_equal(rc, code, file, line);
	if (field) {
		char prefix[80];
		snprintf(prefix, sizeof prefix, "%s:", field);
		if (strncmp(rep.err.msg, prefix, strlen(prefix)) != 0)
			print_error("%s: message '%s' does not name '%s'\n", op, rep.err.msg, field);
		_assert_true(strncmp(rep.err.msg, prefix, strlen(prefix)) == 0, "message names the field", file, line);
	}
	if (has) {
		if (strstr(rep.err.msg, has) == NULL)
			print_error("%s: message '%s' lacks '%s'\n", op, rep.err.msg, has);
		_assert_true(strstr(rep.err.msg, has) != NULL, "message says why", file, line);
	}
	if (code != AL_OK) {
		_assert_true(rep.result == NULL, "no result on error", file, line);
		_assert_int_equal(al_log_head(s), head, file, line);
	}
	al_reply_free(&rep);
}

uint64_t th_appended(const al_reply *rep) { return rep->first_seq ? rep->last_seq - rep->first_seq + 1 : 0; }

void th_ok_at(const char *file, int line, al_store *s, const al_actor *who, uint64_t events, al_reply *rep,
	      const char *op, ...)
{
	size_t len;
	va_list ap;
	va_start(ap, op);
	char *args = th_vargs(&len, ap);
	va_end(ap);
	al_request req = {op, args, len, who ? who : &th_admin};
	al_reply own, *r = rep ? rep : &own;
	int rc = al_exec(s, &req, r);
	free(args);
	if (rc != AL_OK || th_appended(r) != events)
		print_error("%s: got %s (%s) with %llu events, expected ok with %llu\n", op, al_err_name(rc), r->err.msg,
			    (unsigned long long)th_appended(r), (unsigned long long)events);
	_assert_int_equal(rc, AL_OK, file, line);
	_assert_int_equal(th_appended(r), events, file, line);
	if (rep == NULL)
		al_reply_free(&own);
}

const char *th_res_json_at(const al_reply *rep, long i, const char *key)
{
	static char bufs[4][8192];
	static int next;
	char *buf = bufs[next++ % 4];
	msgpack_zone z;
	msgpack_object o;
	size_t off = 0;
	buf[0] = 0;
	msgpack_zone_init(&z, 1024);
	if (rep->result && msgpack_unpack(rep->result, rep->result_len, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS) {
		const msgpack_object *m = &o, *found = NULL;
		if (i >= 0)
			m = o.type == MSGPACK_OBJECT_ARRAY && (uint32_t)i < o.via.array.size ? &o.via.array.ptr[i] : NULL;
		if (key == NULL)
			found = m;
		for (uint32_t k = 0; key && m && m->type == MSGPACK_OBJECT_MAP && k < m->via.map.size; k++) {
			const msgpack_object *key_o = &m->via.map.ptr[k].key;
			if (key_o->via.str.size == strlen(key) && memcmp(key_o->via.str.ptr, key, strlen(key)) == 0)
				found = &m->via.map.ptr[k].val;
		}
		if (found) {
			FILE *f = fmemopen(buf, sizeof bufs[0], "w");
			al_render_json(found, f);
			fclose(f);
		}
	}
	msgpack_zone_destroy(&z);
	return buf;
}

const char *th_res_json(const al_reply *rep, const char *key) { return th_res_json_at(rep, -1, key); }

const char *th_res_column(const al_reply *rep, const char *key)
{
	static char out[8192];
	out[0] = 0;
	for (long i = 0; i < th_res_len(rep); i++) {
		char v[1024];
		snprintf(v, sizeof v, "%s", th_res_json_at(rep, i, key));
		size_t n = strlen(v);
		if (n >= 2 && v[0] == '"') {
			v[n - 1] = 0;
			memmove(v, v + 1, n - 1);
		}
		strncat(out, v, sizeof out - strlen(out) - 2);
		strcat(out, ",");
	}
	return out;
}

void th_run_ok_at(const char *file, int line, th_result *r, al_store *s, const al_actor *who, const char *op, ...)
{
	size_t len, off = 0;
	va_list ap;
	va_start(ap, op);
	char *args = th_vargs(&len, ap);
	va_end(ap);
	al_request req = {op, args, len, who ? who : &th_admin};
	int rc = al_exec(s, &req, &r->rep);
	free(args);
	if (rc != AL_OK)
		print_error("%s: %s: %s\n", op, al_err_name(rc), r->rep.err.msg);
	_assert_int_equal(rc, AL_OK, file, line);
	msgpack_zone_init(&r->z, 4096);
	_assert_int_equal(msgpack_unpack(r->rep.result, r->rep.result_len, &off, &r->z, &r->o), MSGPACK_UNPACK_SUCCESS,
			  file, line);
}

void th_result_free(th_result *r)
{
	msgpack_zone_destroy(&r->z);
	al_reply_free(&r->rep);
}

int th_user(al_store *s, const char *email, const char *domain, const char *role)
{
	return th_cast(s, (const th_member[]){{email, domain, role, NULL, NULL}, {NULL}});
}

void *th_fx_new(size_t size)
{
	th_fx *f = calloc(1, size);
	if (f == NULL)
		return NULL;
	f->dir = th_tmpdir();
	f->s = th_init(f->dir, 0);
	if (f->s == NULL) {
		th_fx_free(f);
		return NULL;
	}
	return f;
}

void th_fx_free(void *fx)
{
	th_fx *f = fx;
	if (f == NULL)
		return;
	al_store_close(f->s);
	th_rmrf(f->dir);
	free(f);
}

int th_setup(void **state)
{
	*state = th_fx_new(sizeof(th_fx));
	return *state ? 0 : -1;
}

int th_teardown(void **state)
{
	th_fx_free(*state);
	return 0;
}

int th_cast(al_store *s, const th_member *m)
{
	int rc = AL_OK;
	for (const th_member *u = m; rc == AL_OK && u->email; u++) {
		char username[64];
		snprintf(username, sizeof username, "%.*s", (int)strcspn(u->email, "@"), u->email);
		/* Without a policy, the NULL name ends the arguments before resource_policy. */
		rc = th_run(s, "user.create", "email", 's', u->email, "username", 's', username, "password", 's', TH_USER_PW,
			    "domain", 's', u->domain, "role", 's', u->role, u->policy ? "resource_policy" : NULL, 's',
			    u->policy, NULL);
	}
	for (const th_member *u = m; rc == AL_OK && u->email; u++)
		if (u->as)
			rc = th_as(s, u->email, u->as);
	return rc;
}

char *th_read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *buf = NULL;
	size_t cap = 0, len = 0;
	for (;;) {
		if (len + 1 >= cap && (buf = realloc(buf, cap = cap ? cap * 2 : 65536)) == NULL)
			abort();
		size_t r = fread(buf + len, 1, cap - len - 1, f);
		if (r == 0)
			break;
		len += r;
	}
	fclose(f);
	buf[len] = 0;
	if (n)
		*n = len;
	return buf;
}

int th_store_file_has(const char *dir, const char *needle)
{
	char path[4200];
	size_t n;
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	char *data = th_read_file(path, &n);
	int found = data && memmem(data, n, needle, strlen(needle)) != NULL;
	free(data);
	return found;
}

char *th_vargs(size_t *len, va_list ap)
{
	msgpack_sbuffer out;
	msgpack_sbuffer_init(&out);
	assert_int_equal(al_args_vpack(&out, ap), 0);
	*len = out.size;
	return out.data;
}

char *th_args(size_t *len, ...)
{
	va_list ap;
	va_start(ap, len);
	char *a = th_vargs(len, ap);
	va_end(ap);
	return a;
}

static int vexec_as(al_store *s, const al_actor *who, al_reply *rep, const char *op, va_list ap)
{
	size_t len;
	char *args = th_vargs(&len, ap);
	al_request req = {op, args, len, who};
	int rc = al_exec(s, &req, rep);
	free(args);
	return rc;
}

int th_exec_as(al_store *s, const al_actor *who, al_reply *rep, const char *op, ...)
{
	va_list ap;
	va_start(ap, op);
	int rc = vexec_as(s, who, rep, op, ap);
	va_end(ap);
	return rc;
}

int th_run_as(al_store *s, const al_actor *who, const char *op, ...)
{
	al_reply rep;
	va_list ap;
	va_start(ap, op);
	int rc = vexec_as(s, who, &rep, op, ap);
	va_end(ap);
	al_reply_free(&rep);
	return rc;
}

int th_as(al_store *s, const char *email, th_actor *out)
{
	al_error err;
	int rc = al_actor_for_user(s, email, NULL, &out->a, out->buf, sizeof out->buf, &err);
	return rc;
}

static int vexec(al_store *s, al_reply *rep, const char *op, va_list ap)
{
	size_t len;
	char *args = th_vargs(&len, ap);
	al_request req = {op, args, len, &th_admin};
	int rc = al_exec(s, &req, rep);
	free(args);
	return rc;
}

int th_exec(al_store *s, al_reply *rep, const char *op, ...)
{
	va_list ap;
	va_start(ap, op);
	int rc = vexec(s, rep, op, ap);
	va_end(ap);
	return rc;
}

int th_run(al_store *s, const char *op, ...)
{
	al_reply rep;
	va_list ap;
	va_start(ap, op);
	int rc = vexec(s, &rep, op, ap);
	va_end(ap);
	al_reply_free(&rep);
	return rc;
}

void th_fixture(al_store *s, const char *op, ...)
{
	al_reply rep;
	va_list ap;
	va_start(ap, op);
	int rc = vexec(s, &rep, op, ap);
	va_end(ap);
	if (rc != AL_OK)
		fail_msg("fixture %s: %s", op, rep.err.msg);
	al_reply_free(&rep);
}

void th_main_key(al_store *s, const char *email, char out[32])
{
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', email, NULL), AL_OK);
	snprintf(out, 32, "%s", th_res_str(&rep, "main_access_key"));
	al_reply_free(&rep);
}

static int result(const al_reply *rep, msgpack_zone *z, msgpack_object *o)
{
	size_t off = 0;
	msgpack_zone_init(z, 1024);
	return rep->result && msgpack_unpack(rep->result, rep->result_len, &off, z, o) == MSGPACK_UNPACK_SUCCESS;
}

static const msgpack_object *field(const msgpack_object *m, const char *key)
{
	if (m->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
		    memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
			return &m->via.map.ptr[i].val;
	}
	return NULL;
}

const char *th_res_str(const al_reply *rep, const char *key)
{
	static char buf[1024];
	msgpack_zone z;
	msgpack_object o;
	const char *out = NULL;
	if (result(rep, &z, &o)) {
		const msgpack_object *v = field(&o, key);
		if (v && v->type == MSGPACK_OBJECT_STR && v->via.str.size < sizeof buf) {
			memcpy(buf, v->via.str.ptr, v->via.str.size);
			buf[v->via.str.size] = 0;
			out = buf;
		}
	}
	msgpack_zone_destroy(&z);
	return out;
}

long long th_res_int(const al_reply *rep, const char *key)
{
	msgpack_zone z;
	msgpack_object o;
	long long out = -1;
	if (result(rep, &z, &o)) {
		const msgpack_object *v = field(&o, key);
		if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			out = (long long)v->via.u64;
	}
	msgpack_zone_destroy(&z);
	return out;
}

long th_res_len(const al_reply *rep)
{
	msgpack_zone z;
	msgpack_object o;
	long out = -1;
	if (result(rep, &z, &o) && o.type == MSGPACK_OBJECT_ARRAY)
		out = (long)o.via.array.size;
	msgpack_zone_destroy(&z);
	return out;
}

void th_digest(al_store *s, char out[33])
{
	uint8_t d[16];
	al_error err;
	memset(d, 0, sizeof d);
	al_store_digest(s, d, &err);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* ---- raw LMDB access ------------------------------------------------------------------------ */

void th_raw_open(th_raw *r, const char *dir, unsigned txn_flags)
{
	assert_int_equal(mdb_env_create(&r->env), 0);
	assert_int_equal(mdb_env_set_maxdbs(r->env, 128), 0);
	assert_int_equal(mdb_env_open(r->env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(r->env, NULL, txn_flags, &r->txn), 0);
}

MDB_dbi th_raw_db(const th_raw *r, const char *name, unsigned flags)
{
	MDB_dbi dbi;
	assert_int_equal(mdb_dbi_open(r->txn, name, flags, &dbi), 0);
	return dbi;
}

void th_raw_close(th_raw *r, bool commit)
{
	if (commit)
		assert_int_equal(mdb_txn_commit(r->txn), 0);
	else
		mdb_txn_abort(r->txn);
	mdb_env_close(r->env);
}

void th_damage_record(const char *dir, uint64_t seq, size_t offset, unsigned char mask)
{
	th_raw r;
	th_raw_open(&r, dir, 0);
	MDB_dbi events = th_raw_db(&r, "events", 0);
	unsigned char k[8];
	for (int i = 7; i >= 0; i--, seq >>= 8)
		k[i] = (unsigned char)seq;
	MDB_val key = {8, k}, val;
	assert_int_equal(mdb_get(r.txn, events, &key, &val), 0);
	assert_true(offset < val.mv_size);
	unsigned char *copy = malloc(val.mv_size);
	assert_non_null(copy);
	memcpy(copy, val.mv_data, val.mv_size);
	copy[offset] ^= mask;
	MDB_val nv = {val.mv_size, copy};
	assert_int_equal(mdb_put(r.txn, events, &key, &nv, 0), 0);
	th_raw_close(&r, true);
	free(copy);
}

typedef struct th_old_event {
	const al_event_def *def;
	msgpack_sbuffer payload;
} th_old_event;

static int append_old(al_wtxn *w, void *ctx, al_error *err)
{
	th_old_event *o = ctx;
	al_event e;
	msgpack_zone_clear(&w->zone);
	int64_t now = al__now(w->s);
	int rc = al__log_append(w, o->def->number, o->def->version, now > w->head_time ? now : w->head_time, o->payload.data,
				o->payload.size, &e, err);
	return rc ? rc : al__proj_apply(w, &e, err);
}

int th_append_event(al_store *s, const char *type, const char *id, ...)
{
	th_old_event o = {al_event_def_by_name(type)};
	if (o.def == NULL)
		return AL_EINVALID_ARGUMENT;
	va_list ap;
	va_start(ap, id);
	size_t len;
	char *fields = th_vargs(&len, ap);
	va_end(ap);
	msgpack_packer pk;
	msgpack_sbuffer_init(&o.payload);
	msgpack_packer_init(&pk, &o.payload, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	const char *env[] = {"actor", "local:test", "kind", o.def->entity, "id", id};
	for (int i = 0; i < 6; i++) {
		msgpack_pack_str(&pk, strlen(env[i]));
		msgpack_pack_str_body(&pk, env[i], strlen(env[i]));
	}
	msgpack_pack_str(&pk, 6);
	msgpack_pack_str_body(&pk, "fields", 6);
	msgpack_sbuffer_write(&o.payload, fields, len);
	al_error err;
	int rc = al__store_write(s, append_old, &o, &err);
	if (rc)
		print_error("append %s: %s\n", type, err.msg);
	msgpack_sbuffer_destroy(&o.payload);
	free(fields);
	return rc;
}
