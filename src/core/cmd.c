/*
 * cmd.c - the command table and the dispatcher: argument checks, authorization, idempotency,
 * optimistic concurrency, then the handler; one write transaction per call or per batch.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/authz.h"
#include "core/cmd.h"
#include "core/record.h"
#include "core/seal.h"

/* ---- the table, from schemas/commands.def ---------------------------------------------------- */

enum al_cmd_id {
#define AL_CMD(ID, op, kind, role, target, entity, handler, prepare, doc) AL_CMD_##ID,
#define AL_ARG(ID, name, type, flags, doc)
#include "commands.def"
#undef AL_CMD
#undef AL_ARG
	AL_CMD__COUNT
};

#define WRITE AL_CMD_WRITE
#define READ AL_CMD_READ
#define SUPERADMIN AL_ROLE_SUPERADMIN
#define ADMIN AL_ROLE_ADMIN
#define USER AL_ROLE_USER
#define STR AL_T_STR
#define INT AL_T_INT
#define BOOL AL_T_BOOL
#define PASSWORD AL_T_PASSWORD
#define LIMIT AL_T_LIMIT
#define NUM AL_T_NUM
#define LIST AL_T_LIST
#define REQ AL_F_REQ
#define OPT AL_F_OPT

typedef struct entry {
	al_cmd_def def;
	al_handler_fn handler;
	al_prepare_fn prepare;
} entry;

static entry table[] = {
#define AL_CMD(ID, op, kind, role, target, entity, handler, prepare, doc) \
	{{op, kind, role, target, entity, doc, NULL, 0}, handler, prepare},
#define AL_ARG(ID, name, type, flags, doc)
#include "commands.def"
#undef AL_CMD
#undef AL_ARG
};

static const struct {
	enum al_cmd_id cmd;
	al_field_def f;
} arg_rows[] = {
#define AL_CMD(ID, op, kind, role, target, entity, handler, prepare, doc)
#define AL_ARG(ID, name, type, flags, doc) {AL_CMD_##ID, {name, type, flags, doc}},
#include "commands.def"
#undef AL_CMD
#undef AL_ARG
};
#define NARG_ROWS (sizeof arg_rows / sizeof *arg_rows)
static al_field_def args_flat[NARG_ROWS];
static pthread_once_t once = PTHREAD_ONCE_INIT;

#define HASHES AL_PREP_HASHES
#define NETWORK AL_PREP_NETWORK
static const struct {
	enum al_cmd_id cmd;
	int how;
} prep_rows[] = {
#define AL_CMD(ID, op, kind, role, target, entity, handler, prepare, doc)
#define AL_ARG(ID, name, type, flags, doc)
#define AL_PREP(ID, how) {AL_CMD_##ID, how},
#include "commands.def"
#undef AL_CMD
#undef AL_ARG
#undef AL_PREP
};

static const struct {
	enum al_cmd_id cmd;
	const char *arg, *values;
} values_rows[] = {
#define AL_CMD(ID, op, kind, role, target, entity, handler, prepare, doc)
#define AL_ARG(ID, name, type, flags, doc)
#define AL_VALUES(ID, arg, values) {AL_CMD_##ID, arg, values},
#include "commands.def"
#undef AL_CMD
#undef AL_ARG
#undef AL_VALUES
};

const char *al_cmd_arg_values(const al_cmd_def *d, const char *arg)
{
	for (size_t i = 0; d && i < sizeof values_rows / sizeof *values_rows; i++)
		if (&table[values_rows[i].cmd].def == d && strcmp(values_rows[i].arg, arg) == 0)
			return values_rows[i].values;
	return NULL;
}

static void link_args(void)
{
	for (size_t i = 0; i < NARG_ROWS; i++) {
		al_cmd_def *d = &table[arg_rows[i].cmd].def;
		args_flat[i] = arg_rows[i].f;
		if (d->nargs++ == 0)
			d->args = &args_flat[i];
	}
	for (size_t i = 0; i < AL_CMD__COUNT; i++)
		table[i].def.prep = table[i].prepare ? AL_PREP_QUICK : AL_PREP_NONE;
	for (size_t i = 0; i < sizeof prep_rows / sizeof *prep_rows; i++)
		table[prep_rows[i].cmd].def.prep = prep_rows[i].how;
}

size_t al_cmd_def_count(void) { return AL_CMD__COUNT; }

const al_cmd_def *al_cmd_def_at(size_t i)
{
	pthread_once(&once, link_args);
	return i < AL_CMD__COUNT ? &table[i].def : NULL;
}

static const entry *find(const char *op)
{
	pthread_once(&once, link_args);
	for (size_t i = 0; i < AL_CMD__COUNT; i++)
		if (strcmp(table[i].def.op, op) == 0)
			return &table[i];
	return NULL;
}

const al_cmd_def *al_cmd_def_find(const char *op)
{
	const entry *e = find(op);
	return e ? &e->def : NULL;
}

/* ---- arguments ---------------------------------------------------------------------------------- */

/* Arguments every WRITE command accepts besides its own. */
static const al_field_def common_write_args[] = {
	{"request_id", AL_T_STR, AL_F_OPT, "Retry key: a repeated id returns the first result."},
	{"expected_version", AL_T_INT, AL_F_OPT, "Refuse with conflict unless the target is at this version."},
	{"reason", AL_T_STR, AL_F_OPT, "Why, recorded in the event for the audit log."},
};

static const al_field_def *arg_named(const al_cmd_def *d, al_str name)
{
	for (size_t i = 0; i < d->nargs; i++)
		if (al_str_eq(name, d->args[i].name))
			return &d->args[i];
	if (d->kind == AL_CMD_WRITE)
		for (size_t i = 0; i < sizeof common_write_args / sizeof *common_write_args; i++)
			if (al_str_eq(name, common_write_args[i].name))
				return &common_write_args[i];
	return NULL;
}

static const al_field_def *arg_def(const al_cmd_def *d, const msgpack_object *key)
{
	if (key->type != MSGPACK_OBJECT_STR)
		return NULL;
	return arg_named(d, (al_str){key->via.str.ptr, key->via.str.size});
}

const al_field_def *al_cmd_def_arg(const al_cmd_def *d, const char *name)
{
	return arg_named(d, (al_str){name, strlen(name)});
}

static bool type_ok(int type, const msgpack_object *v)
{
	switch (type) {
	case AL_T_STR:
	case AL_T_PASSWORD:
		return v->type == MSGPACK_OBJECT_STR && memchr(v->via.str.ptr, 0, v->via.str.size) == NULL;
	case AL_T_INT:
	case AL_T_TIME:
		return v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
		       (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX);
	case AL_T_BOOL: return v->type == MSGPACK_OBJECT_BOOLEAN;
	case AL_T_LIMIT:
		return type_ok(AL_T_NUM, v) ||
		       (v->type == MSGPACK_OBJECT_STR && v->via.str.size == 9 && memcmp(v->via.str.ptr, "unlimited", 9) == 0);
	case AL_T_NUM:
		return v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
		       ((v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32) && v->via.f64 >= 0 &&
			v->via.f64 <= 1e15);
	case AL_T_LIST:
		if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size > AL_LIST_MAX)
			return false;
		for (uint32_t i = 0; i < v->via.array.size; i++) {
			const msgpack_object *e = &v->via.array.ptr[i];
			if (e->type != MSGPACK_OBJECT_STR || memchr(e->via.str.ptr, 0, e->via.str.size))
				return false;
		}
		return true;
	}
	return false;
}

static const char *type_name(int type)
{
	static const char *const n[] = {"a string",  "an integer", "a boolean", "a time", "a string",
					"a number >= 0 or \"unlimited\"", "a list of at most 1000 strings", "a map",
					"a number >= 0 (an amount, never \"unlimited\")"};
	return n[type];
}

static int check_args(const al_cmd_def *d, const msgpack_object *args, al_error *err)
{
	if (args->type != MSGPACK_OBJECT_MAP)
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: arguments must be a map", d->op);
	for (uint32_t i = 0; i < args->via.map.size; i++) {
		const msgpack_object *k = &args->via.map.ptr[i].key, *v = &args->via.map.ptr[i].val;
		if (k->type != MSGPACK_OBJECT_STR)
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: argument names must be strings", d->op);
		const al_field_def *a = arg_def(d, k);
		int kn = k->via.str.size > 64 ? 64 : (int)k->via.str.size;
		if (a == NULL)
			return al_err(err, AL_EINVALID_ARGUMENT, "%.*s: unknown argument of %s", kn, k->via.str.ptr, d->op);
		for (uint32_t j = 0; j < i; j++) /* a map with a key twice: which one counts would be a guess */
			if (al_mp_str_eq(&args->via.map.ptr[j].key, a->name))
				return al_err(err, AL_EINVALID_ARGUMENT, "%s: given twice", a->name);
		if (v->type != MSGPACK_OBJECT_NIL && !type_ok(a->type, v))
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: must be %s", a->name, type_name(a->type));
	}
	for (size_t i = 0; i < d->nargs; i++) {
		if (!(d->args[i].flags & AL_F_REQ))
			continue;
		const msgpack_object *v = al_mp_get(args, d->args[i].name);
		if (v == NULL || v->type == MSGPACK_OBJECT_NIL)
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: is required", d->args[i].name);
	}
	return AL_OK;
}

int al__arg_str(const al_cmd *c, const char *name, al_str *out) { return al_mp_str(c->args, name, out) == 1; }
int al__arg_int(const al_cmd *c, const char *name, int64_t *out) { return al_mp_int(c->args, name, out) == 1; }
int al__arg_bool(const al_cmd *c, const char *name, bool *out) { return al_mp_bool(c->args, name, out) == 1; }

al_str al__domain_arg(const al_cmd *c)
{
	al_str d;
	if (al__arg_str(c, "domain", &d))
		return d;
	if (c->actor->domain && *c->actor->domain)
		return (al_str){c->actor->domain, strlen(c->actor->domain)};
	return (al_str){"default", 7};
}

int al__args_given(const al_cmd *c, const char *const *names, size_t n)
{
	int given = 0;
	for (size_t i = 0; i < n; i++) {
		const msgpack_object *v = al_mp_get(c->args, names[i]);
		given += v != NULL && v->type != MSGPACK_OBJECT_NIL;
	}
	return given;
}

int al__arg_limit(const al_cmd *c, const char *name, double *out)
{
	const msgpack_object *v = al_mp_get(c->args, name);
	if (v == NULL || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type == MSGPACK_OBJECT_STR)
		*out = AL_UNLIMITED;
	else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		*out = (double)v->via.u64;
	else
		*out = v->via.f64;
	return 1;
}

int al__arg_list(const al_cmd *c, const char *name, const msgpack_object **out)
{
	const msgpack_object *v = al_mp_get(c->args, name);
	if (v == NULL || v->type != MSGPACK_OBJECT_ARRAY)
		return 0;
	*out = v;
	return 1;
}

int al__find_row(al_cmd *c, int p, int db, al_str key, msgpack_object *row)
{
	MDB_val k = {key.n, (void *)key.p}, v;
	int rc = key.n && key.n <= 511 ? mdb_get(c->txn, al__view_dbi(c->s, p, db), &k, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "read %s view: %s", al__projections[p]->name, mdb_strerror(rc));
	rc = al__decode_row(c, &v, row);
	return rc ? rc : 1;
}

int al__must_find_row(al_cmd *c, int p, int db, const char *what, al_str key, msgpack_object *row)
{
	int rc = al__find_row(c, p, db, key, row);
	if (rc == 0)
		return al_err(c->err, AL_ENOT_FOUND, "%s %.*s: not found", what, al__clip(key.n), key.p);
	return rc < 0 ? rc : AL_OK;
}

int al__get_row(al_cmd *c, MDB_dbi dbi, al_str key, size_t max, const char *what, msgpack_object *row)
{
	MDB_val k = {key.n, (void *)key.p}, v;
	int rc = key.n && key.n <= max ? mdb_get(c->txn, dbi, &k, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "read %s: %s", what, mdb_strerror(rc));
	rc = al__decode_row(c, &v, row);
	return rc ? rc : 1;
}

int al__get_map(MDB_txn *txn, MDB_dbi dbi, al_str key, size_t max, msgpack_zone *z, msgpack_object *row,
		const char *what, const char *row_what, al_error *err)
{
	MDB_val k = {key.n, (void *)key.p}, v;
	int rc = key.n && key.n <= max ? mdb_get(txn, dbi, &k, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return al_err(err, AL_EIO_ERROR, "read %s: %s", what, mdb_strerror(rc));
	if (al_mp_decode(v.mv_data, v.mv_size, z, row) != 0 || row->type != MSGPACK_OBJECT_MAP)
		return al_err(err, AL_ECORRUPT, "%s view row does not decode", row_what);
	return 1;
}

int al__get_compact(MDB_txn *txn, MDB_dbi dbi, al_str key, msgpack_zone *z, const al_row_def *d, void *row,
		const char *what, const char *row_what, al_error *err)
{
	MDB_val k = {key.n, (void *)key.p}, v;
	int rc = key.n ? mdb_get(txn, dbi, &k, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return al_err(err, AL_EIO_ERROR, "read %s: %s", what, mdb_strerror(rc));
	if (al_row_decode(d, v.mv_data, v.mv_size, z, row) != 0)
		return al_err(err, AL_ECORRUPT, "%s view row does not decode", row_what);
	return 1;
}

void al__pack_time_or_nil(msgpack_packer *pk, const char *key, int64_t us)
{
	char t[40];
	al_pack_cstr(pk, key);
	if (us)
		al_pack_cstr(pk, al_time_format(us, t, sizeof t));
	else
		msgpack_pack_nil(pk);
}

int al__answer_deleted(al_cmd *c, const char *key, al_str val)
{
	msgpack_pack_map(c->out, 2);
	al_pack_cstr(c->out, key);
	al_pack_str(c->out, val.p, val.n);
	al_pack_cstr(c->out, "deleted");
	msgpack_pack_true(c->out);
	return AL_OK;
}

int al__count_range(al_cmd *c, int p, int db, al_str a, uint64_t *n)
{
	char key[512];
	size_t pn = al__key2(key, sizeof key, 0, a, (al_str){"", 0});
	*n = 0;
	if (pn == 0)
		return AL_OK; /* longer than any key: nothing starts with it */
	MDB_cursor *cur;
	int rc = mdb_cursor_open(c->txn, al__view_dbi(c->s, p, db), &cur);
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "read %s view: %s", al__projections[p]->name, mdb_strerror(rc));
	MDB_val k = {pn, key}, v;
	int m;
	for (m = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); m == 0; m = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < pn || memcmp(k.mv_data, key, pn) != 0)
			break;
		++*n;
	}
	mdb_cursor_close(cur);
	return al__cursor_end(m, c->err, al__projections[p]->name);
}

int al__each_row(al_cmd *c, MDB_dbi dbi, const char *open, const char *row_what, const char *what,
		 al_row_visit_fn fn, void *ctx)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(c->txn, dbi, &cur);
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "%s: %s", open, mdb_strerror(rc));
	msgpack_zone z; /* one row at a time */
	msgpack_zone_init(&z, 1024);
	MDB_val k, v;
	int m;
	for (m = mdb_cursor_get(cur, &k, &v, MDB_FIRST); m == 0; m = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		msgpack_object row;
		msgpack_zone_clear(&z);
		if (al_mp_decode(v.mv_data, v.mv_size, &z, &row) != 0 ||
		    (row.type != MSGPACK_OBJECT_MAP && row.type != MSGPACK_OBJECT_ARRAY)) { /* rowcodec.h */
			rc = al_err(c->err, AL_ECORRUPT, "%s view row does not decode", row_what);
			break;
		}
		if ((rc = fn(c, (al_str){k.mv_data, k.mv_size}, &row, ctx)))
			break;
	}
	if (rc > 0)
		rc = AL_OK; /* fn asked to stop */
	else if (rc == AL_OK)
		rc = al__cursor_end(m, c->err, what);
	mdb_cursor_close(cur);
	msgpack_zone_destroy(&z);
	return rc;
}

typedef struct count_eq {
	const char *col;
	al_str val;
	uint64_t *n;
	const al_row_def *d; /* compact rows (rowcodec.h); NULL for map rows */
	const char *row_what;
} count_eq;

static int count_eq_one(al_cmd *c, al_str key, const msgpack_object *row, void *ctx)
{
	count_eq *ce = ctx;
	al_str v = {"", 0};
	(void)key;
	if (ce->d) {
		int col = al_row_col(ce->d, ce->col);
		if (col < 0 || row->type != MSGPACK_OBJECT_ARRAY || row->via.array.size != ce->d->ncols ||
		    row->via.array.ptr[col].type != MSGPACK_OBJECT_STR)
			return al_err(c->err, AL_ECORRUPT, "%s view row does not decode", ce->row_what);
		v = (al_str){row->via.array.ptr[col].via.str.ptr, row->via.array.ptr[col].via.str.size};
	} else if (al_mp_str(row, ce->col, &v) != 1)
		return AL_OK;
	*ce->n += v.n == ce->val.n && memcmp(v.p, ce->val.p, v.n) == 0;
	return AL_OK;
}

int al__count_rows_eq(al_cmd *c, int p, int db, const char *open, const char *row_what, const char *col, al_str val,
		      uint64_t *n)
{
	return al__count_rows_eq_in(c, p, db, open, row_what, NULL, col, val, n);
}

int al__count_rows_eq_in(al_cmd *c, int p, int db, const char *open, const char *row_what, const al_row_def *d,
			 const char *col, al_str val, uint64_t *n)
{
	*n = 0;
	return al__each_row(c, al__view_dbi(c->s, p, db), open, row_what, al__projections[p]->name, count_eq_one,
			    &(count_eq){col, val, n, d, row_what});
}

int al__scan_prefix(al_cmd *c, MDB_dbi dbi, const char *prefix, size_t pn, const char *what, al_prefix_fn fn,
		    void *ctx)
{
	return al__scan_prefix_as(c, dbi, NULL, prefix, pn, what, fn, ctx);
}

int al__scan_prefix_as(al_cmd *c, MDB_dbi dbi, const char *open, const char *prefix, size_t pn, const char *what,
		       al_prefix_fn fn, void *ctx)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(c->txn, dbi, &cur);
	if (rc)
		return open ? al_err(c->err, AL_EIO_ERROR, "%s: %s", open, mdb_strerror(rc))
			    : al_err(c->err, AL_EIO_ERROR, "read %s: %s", what, mdb_strerror(rc));
	MDB_val k = {pn, (void *)prefix}, v;
	int m;
	for (m = mdb_cursor_get(cur, &k, &v, pn ? MDB_SET_RANGE : MDB_FIRST); m == 0 && rc == 0;
	     m = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < pn || memcmp(k.mv_data, prefix, pn) != 0)
			break;
		rc = fn(c, (al_str){(const char *)k.mv_data + pn, k.mv_size - pn}, &v, ctx);
	}
	if (rc == AL_OK)
		rc = al__cursor_end(m, c->err, what);
	mdb_cursor_close(cur);
	return rc;
}

typedef struct list_view {
	al_rows rows;
	al_row_pack_fn pack;
} list_view;

static int list_one(al_cmd *c, al_str key, const msgpack_object *row, void *ctx)
{
	list_view *l = ctx;
	(void)key;
	l->pack(c, row, &l->rows.pk);
	return al__rows_push(c, &l->rows);
}

int al__list_view(al_cmd *c, int p, int db, al_row_pack_fn pack)
{
	const char *name = al__projections[p]->name;
	char open[64], row[64];
	snprintf(open, sizeof open, "list %s", name);
	snprintf(row, sizeof row, "a %s", name);
	list_view l = {.pack = pack};
	al__rows_begin(c, &l.rows);
	int rc = al__each_row(c, al__view_dbi(c->s, p, db), open, row, name, list_one, &l);
	return al__rows_end(c, &l.rows, rc);
}

al_str al__keep(al_cmd *c, const char *prefix, al_str s)
{
	size_t pn = strlen(prefix);
	char *p = al_zone_malloc(c->zone, pn + s.n + 1);
	if (p == NULL) {
		al__cmd_fail(c, AL_ENO_MEMORY, "out of memory");
		return (al_str){"", 0};
	}
	memcpy(p, prefix, pn);
	memcpy(p + pn, s.p, s.n);
	p[pn + s.n] = 0;
	return (al_str){p, pn + s.n};
}

int al__strs_add(al_cmd *c, al_strs *l, al_str s)
{
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 16;
		al_str *nv = al_zone_malloc(c->zone, cap * sizeof *nv);
		if (nv == NULL)
			return al_err(c->err, AL_ENO_MEMORY, "out of memory");
		if (l->n)
			memcpy(nv, l->v, l->n * sizeof *nv);
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = al__keep(c, "", s);
	return AL_OK;
}

int al__decode_row(al_cmd *c, const MDB_val *v, msgpack_object *out)
{
	int rc = al_mp_decode(v->mv_data, v->mv_size, c->zone, out);
	if (rc == -2)
		return al_err(c->err, AL_ENO_MEMORY, "out of memory");
	if (rc != 0 || out->type != MSGPACK_OBJECT_MAP)
		return al_err(c->err, AL_ECORRUPT, "a %s view row does not decode", c->def->entity);
	return AL_OK;
}

bool al__cmd_found(al_cmd *c, int rc, const char *what)
{
	if (rc && rc != MDB_NOTFOUND)
		al__cmd_fail(c, AL_EIO_ERROR, "read %s: %s", what, mdb_strerror(rc));
	return rc == 0;
}

uint64_t al__cmd_version(al_cmd *c, const char *kind, al_str id)
{
	return al__entity_version_or(c->s, c->txn, kind, id, &c->failed);
}

void al__cmd_fail_err(al_cmd *c, const al_error *e)
{
	if (c->failed.code == AL_OK)
		c->failed = *e;
}

int al__cmd_fail(al_cmd *c, int code, const char *fmt, ...)
{
	if (c->failed.code == AL_OK) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->failed.msg, sizeof c->failed.msg, fmt, ap);
		va_end(ap);
		c->failed.code = code;
	}
	return code;
}

/* ---- list results ---------------------------------------------------------------------------- */

void al__rows_begin(al_cmd *c, al_rows *r)
{
	(void)c;
	memset(r, 0, sizeof *r);
	msgpack_sbuffer_init(&r->buf);
	msgpack_packer_init(&r->pk, &r->buf, al_sbuffer_write);
	r->nomem = al__nomem_count();
}

int al__rows_push(al_cmd *c, al_rows *r)
{
	r->n++;
	if (!c->sink)
		return AL_OK;
	if (al__nomem_since(r->nomem, c->err, AL_OK))
		return c->err->code;
	msgpack_zone z;
	msgpack_object row;
	msgpack_zone_init(&z, 2048);
	int d = al_mp_decode(r->buf.data + r->mark, r->buf.size - r->mark, &z, &row);
	int rc = d == 0 ? c->sink(&row, c->sink_ctx)
		 : d == -2 ? al_err(c->err, AL_ENO_MEMORY, "out of memory")
			   : al_err(c->err, AL_EINTERNAL, "a list row does not decode");
	msgpack_zone_destroy(&z);
	r->buf.size = r->mark = 0;
	if (rc > 0 || (rc < 0 && c->err->code == AL_OK)) /* the sink stopped the stream */
		al_err(c->err, rc < 0 ? rc : AL_EIO_ERROR, "the receiver stopped the listing");
	return rc ? c->err->code : AL_OK;
}

int al__rows_end(al_cmd *c, al_rows *r, int rc)
{
	if (rc == AL_OK && !c->sink) {
		msgpack_pack_array(c->out, r->n);
		if (r->buf.size)
			c->out->callback(c->out->data, r->buf.data, r->buf.size);
	}
	al_sbuffer_destroy(&r->buf);
	return rc;
}

/* ---- emitting events ---------------------------------------------------------------------------- */

static al_str cstr_or_empty(const char *p) { return p ? (al_str){p, strlen(p)} : (al_str){"", 0}; }

static void pack_pair(msgpack_packer *pk, const char *key, al_str v)
{
	al_pack_cstr(pk, key);
	al_pack_str(pk, v.p, v.n);
}

int al__emit(al_cmd *c, enum al_ev_id ev, al_str id, const al_mb *fields)
{
	al_wtxn *w = c->w;
	const al_event_def *d = al__ev(ev);
	unsigned long nomem = al__nomem_count();
	/* The event as projections see it; the payload below is packed from the same strings. */
	al_event e = {.def = d, .time_us = c->now_us, .actor = cstr_or_empty(c->actor->name),
		      .user_id = cstr_or_empty(c->actor->user_id), .access_key = cstr_or_empty(c->actor->access_key),
		      .client = cstr_or_empty(c->actor->client), .request_id = c->request_id,
		      .kind = cstr_or_empty(d->entity), .id = id, .reason = c->reason};
	if (c->actor->user && strcmp(c->actor->user, c->actor->name) != 0)
		e.as_user = cstr_or_empty(c->actor->user); /* an operator acting with a user's rights */
	if (e.request_id.p == NULL)
		e.request_id = (al_str){"", 0};
	if (e.reason.p == NULL)
		e.reason = (al_str){"", 0};
	const struct {
		const char *key;
		al_str v;
		bool always;
	} env[] = {{"actor", e.actor, true},   {"as", e.as_user, false},         {"user_id", e.user_id, false},
		   {"access_key", e.access_key, false}, {"client", e.client, false}, {"request_id", e.request_id, false},
		   {"kind", e.kind, true},      {"id", e.id, true},               {"reason", e.reason, false}};
	uint32_t n = 1; /* fields */
	for (size_t i = 0; i < sizeof env / sizeof *env; i++)
		n += env[i].always || env[i].v.n;
	w->sb.size = 0;
	msgpack_packer pk;
	msgpack_packer_init(&pk, &w->sb, al_sbuffer_write);
	msgpack_pack_map(&pk, n);
	for (size_t i = 0; i < sizeof env / sizeof *env; i++)
		if (env[i].always || env[i].v.n)
			pack_pair(&pk, env[i].key, env[i].v);
	al_pack_cstr(&pk, "fields");
	size_t fields_off = w->sb.size;
	if (fields)
		al_mb_finish(fields, &pk);
	else
		msgpack_pack_map(&pk, 0);
	int rc = al__nomem_since(nomem, c->err, AL_OK); /* a payload missing a part never reaches the log */
	if (rc)
		return rc;

	msgpack_zone_clear(&w->zone);
	rc = al__log_append_event(w, w->sb.data, w->sb.size, fields_off, &e, c->err);
	if (rc == AL_OK)
		rc = al__proj_apply(w, &e, c->err);
	if (rc == AL_OK) {
		if (c->first_seq == 0)
			c->first_seq = e.seq;
		c->last_seq = e.seq;
	}
	return rc;
}

/* ---- running commands -------------------------------------------------------------------------- */

typedef struct item {
	const al_request *req;
	al_reply *rep;
	const entry *e;
	bool ready; /* passed the checks done before the transaction */
	const al_actor *actor; /* req->actor, or its rights as of the transaction (authorize) */
	al_actor fresh;
	char *fresh_buf; /* in zone */
	msgpack_zone zone;
	msgpack_object args, prep;
	msgpack_sbuffer prep_buf, result;
} item;

static const msgpack_object empty_map = {.type = MSGPACK_OBJECT_MAP};

/* The table's least role; a monitor reads what an admin reads and never writes. */
bool al__role_allows(const al_actor *a, const al_cmd_def *d)
{
	if (a->role == AL_ROLE_MONITOR)
		return d->kind == AL_CMD_READ && d->role <= AL_ROLE_ADMIN;
	return a->role >= d->role;
}

bool al_cmd_def_allows(const al_cmd_def *d, const al_actor *a) { return al__role_allows(a, d); }

#define FRESH_BUF 1024

static int authorize_now(al_store *s, item *it, al_error *err);

/*
 * The actor's rights as of txn, then the table's least role. An actor acting as a user is
 * re-read from the views in the command's own transaction (al__actor_source), so that a
 * change of role, domain or status, or a deactivated keypair, applies to the very next
 * command, and the handler sees the same rights. A local operator's role is its own.
 */
static int authorize(al_store *s, MDB_txn *txn, item *it, al_error *err)
{
	const al_actor *a = it->req->actor;
	if (a->user && s->log_src) /* an as-of store: the rights of now, as its source holds them */
		return authorize_now(s->log_src, it, err);
	if (a->user) {
		if (it->fresh_buf == NULL && (it->fresh_buf = al_zone_malloc(&it->zone, FRESH_BUF)) == NULL)
			return al_err(err, AL_ENO_MEMORY, "out of memory");
		int rc = al__actor_source.refresh(s, txn, a, &it->fresh, it->fresh_buf, FRESH_BUF, NULL, err);
		if (rc)
			return rc;
		a = &it->fresh;
	}
	it->actor = a;
	if (!al__role_allows(a, &it->e->def))
		return al_err(err, AL_EPERMISSION_DENIED, "%s: not allowed for role %s", it->e->def.op, al_role_name(a->role));
	return AL_OK;
}

/* authorize in a read transaction of its own. */
static int authorize_now(al_store *s, item *it, al_error *err)
{
	MDB_txn *txn;
	int rc = al__read_begin(s, &txn, err);
	if (rc == AL_OK) {
		rc = authorize(s, txn, it, err);
		mdb_txn_abort(txn);
	}
	return rc;
}

/* The slowest prepare step item_setup runs itself in this thread (al_set_thread_prepare_limit). */
static __thread int prepare_limit = AL_PREP_NETWORK;

void al_set_thread_prepare_limit(int max_kind) { prepare_limit = max_kind; }

static const char *const prep_names[] = {"none", "quick", "password hashing", "network I/O"};

/* The checks before any transaction, then the prepare step unless req->prep holds its output;
 * a step slower than limit (enum al_prep_kind) is refused instead of run. */
static int item_setup(al_store *s, const al_request *req, al_reply *rep, item *it, int limit)
{
	memset(it, 0, sizeof *it);
	memset(rep, 0, sizeof *rep);
	it->req = req;
	it->rep = rep;
	msgpack_zone_init(&it->zone, 2048);
	msgpack_sbuffer_init(&it->prep_buf);
	msgpack_sbuffer_init(&it->result);
	al_error *err = &rep->err;
	it->e = req->op ? find(req->op) : NULL;
	if (it->e == NULL)
		return al_err(err, AL_EINVALID_ARGUMENT, "op: unknown operation '%.64s'", req->op ? req->op : "");
	if (req->actor == NULL || req->actor->name == NULL || req->actor->role == AL_ROLE_NONE ||
	    !req->actor->name[0] || strlen(req->actor->name) > 500)
		return al_err(err, AL_EUNAUTHENTICATED, "no authenticated actor");
	it->actor = req->actor;
	/* The cheap check first, on the actor as given. A refusal of a user is confirmed on the
	 * views as they are now (it may have been promoted since); what passes here is checked
	 * again in the command's transaction (authorize), where it counts. */
	if (!al__role_allows(req->actor, &it->e->def)) {
		if (req->actor->user == NULL)
			return al_err(err, AL_EPERMISSION_DENIED, "%s: not allowed for role %s", req->op,
				      al_role_name(req->actor->role));
		int rc = authorize_now(s, it, err);
		if (rc)
			return rc;
	}
	it->args = empty_map;
	if (req->args && req->args_len &&
	    (al_mp_check(req->args, req->args_len) != 0 ||
	     al_mp_decode(req->args, req->args_len, &it->zone, &it->args) != 0))
		return al_err(err, AL_EINVALID_ARGUMENT, "args: not a well-formed msgpack value");
	int rc = check_args(&it->e->def, &it->args, err);
	if (rc)
		return rc;
	if (it->e->prepare && req->prep) { /* al_prepare ran the step already */
		al_sbuffer_write(&it->prep_buf, req->prep, req->prep_len);
		if (al_mp_decode(it->prep_buf.data, it->prep_buf.size, &it->zone, &it->prep) != 0 ||
		    it->prep.type != MSGPACK_OBJECT_MAP)
			return al_err(err, AL_EINVALID_ARGUMENT, "prep: not the output of al_prepare");
	} else if (it->e->prepare && it->e->def.prep > limit) {
		return al_err(err, AL_EINTERNAL, "%s: its prepare step (%s) may not run in this thread: al_prepare it first",
			      req->op, prep_names[it->e->def.prep]);
	} else if (it->e->prepare) {
		al_mb out;
		al_mb_init(&out);
		rc = it->e->prepare(s, &it->args, &out, err);
		if (rc == AL_OK) {
			al_mb_to_sbuffer(&out, &it->prep_buf);
			if (al_mp_decode(it->prep_buf.data, it->prep_buf.size, &it->zone, &it->prep))
				rc = al_err(err, AL_EINTERNAL, "prepare produced no map");
		}
		al_mb_free(&out);
		if (rc)
			return rc;
	}
	it->ready = true;
	return AL_OK;
}

/* item_setup, where an allocation that failed on the way answers no_memory whatever it broke
 * (a decode that ran out of memory reads as malformed input). */
static int setup(al_store *s, const al_request *req, al_reply *rep, item *it, int limit)
{
	unsigned long nomem = al__nomem_count();
	int rc = al__nomem_since(nomem, &rep->err, item_setup(s, req, rep, it, limit));
	if (rc)
		it->ready = false;
	return rc;
}

static void item_finish(item *it)
{
	if (it->rep->err.code == AL_OK && it->result.size) {
		it->rep->result = it->result.data; /* hand the buffer over */
		it->rep->result_len = it->result.size;
		msgpack_sbuffer_init(&it->result);
	}
	al_sbuffer_destroy(&it->result);
	if (it->prep_buf.data) /* may hold a new secret key in plaintext */
		sodium_memzero(it->prep_buf.data, it->prep_buf.size);
	al_sbuffer_destroy(&it->prep_buf);
	msgpack_zone_destroy(&it->zone);
}

static void cmd_init(al_cmd *c, al_store *s, item *it, msgpack_packer *pk)
{
	memset(c, 0, sizeof *c);
	c->s = s;
	c->def = &it->e->def;
	c->actor = it->actor;
	c->args = &it->args;
	c->prep = it->prep.type == MSGPACK_OBJECT_MAP ? &it->prep : NULL;
	c->err = &it->rep->err;
	c->zone = &it->zone;
	c->out = pk;
	it->result.size = 0;
	msgpack_packer_init(pk, &it->result, al_sbuffer_write);
}

/* ---- request ids ---------------------------------------------------------------------------------- */

/*
 * A request id is the retry key of one actor: the reqids key is
 *     NUL | BLAKE2b-128(scope) | request id
 * where scope is "user-id:<id>" for a user (whatever keypair, connection or operator acting as
 * it: a retry after reconnecting with another keypair is still recognised), else "user:<email>",
 * else "actor:<name>" (a local operator such as "local:alice", or "adminlogd"). The leading NUL
 * sets these keys apart from those of earlier versions (a bare id, which never holds a NUL):
 * those are never looked up again. The value is
 *     first seq (8) | last seq (8) | flags (1) | args digest (32) | op | NUL | result
 * with the result sealed when flags & REQ_SEALED. The digest is over the op and the arguments
 * in canonical form, so a retry answers only the same command (see args_digest).
 */
#define REQ_SEALED 1
#define REQ_SCOPE_LEN 16
#define REQ_DIGEST_LEN 32
#define REQ_HEAD (17 + REQ_DIGEST_LEN) /* bytes before the op */

typedef struct reqid {
	unsigned char key[1 + REQ_SCOPE_LEN + 128];
	size_t keylen;
	unsigned char digest[REQ_DIGEST_LEN];
} reqid;

static int hash_write(void *st, const char *buf, size_t len)
{
	crypto_generichash_update(st, (const unsigned char *)buf, len);
	return 0;
}

/* The MAC of a password-like argument under a key derived from the master key: equal values
 * compare equal, and the digest holds nothing a guess could be checked against offline. */
static int secret_mac(al_cmd *c, const msgpack_object *v, unsigned char out[REQ_DIGEST_LEN])
{
	unsigned char key[crypto_kdf_KEYBYTES];
	crypto_generichash_state st;
	msgpack_packer pk;
	if (!c->s->has_master_key)
		return al_err(c->err, AL_EUNSUPPORTED, "no master key in %s: cannot compare request ids", c->s->dir);
	crypto_kdf_derive_from_key(key, sizeof key, 1, "reqargs1", c->s->master_key);
	crypto_generichash_init(&st, key, sizeof key, REQ_DIGEST_LEN);
	msgpack_packer_init(&pk, &st, hash_write);
	msgpack_pack_object(&pk, *v);
	crypto_generichash_final(&st, out, REQ_DIGEST_LEN);
	sodium_memzero(key, sizeof key);
	sodium_memzero(&st, sizeof st);
	return AL_OK;
}

static int key_cmp(const void *a, const void *b)
{
	const msgpack_object_kv *x = *(const msgpack_object_kv *const *)a, *y = *(const msgpack_object_kv *const *)b;
	uint32_t xn = x->key.via.str.size, yn = y->key.via.str.size;
	int d = memcmp(x->key.via.str.ptr, y->key.via.str.ptr, xn < yn ? xn : yn);
	return d ? d : (xn > yn) - (xn < yn);
}

/*
 * BLAKE2b-256 over the op and the arguments in canonical form: sorted by name, request_id and
 * nil values (nil counts as absent) left out, each value re-packed in msgpack's shortest form,
 * password arguments as their MAC (secret_mac). So a retry matches whatever key order or integer
 * width its client packs, and any other value, one argument more or one less, does not.
 */
static int args_digest(al_cmd *c, unsigned char out[REQ_DIGEST_LEN])
{
	const msgpack_object *args = c->args;
	uint32_t n = args->via.map.size;
	const msgpack_object_kv **kv = al_malloc((n ? n : 1) * sizeof *kv);
	if (kv == NULL)
		return al_err(c->err, AL_ENO_MEMORY, "out of memory");
	for (uint32_t i = 0; i < n; i++)
		kv[i] = &args->via.map.ptr[i]; /* check_args made every key a known, unique string */
	qsort(kv, n, sizeof *kv, key_cmp);
	crypto_generichash_state st;
	msgpack_packer pk;
	crypto_generichash_init(&st, NULL, 0, REQ_DIGEST_LEN);
	msgpack_packer_init(&pk, &st, hash_write);
	al_pack_cstr(&pk, c->def->op);
	int rc = AL_OK;
	for (uint32_t i = 0; i < n && rc == AL_OK; i++) {
		if (kv[i]->val.type == MSGPACK_OBJECT_NIL || al_mp_str_eq(&kv[i]->key, "request_id"))
			continue;
		msgpack_pack_object(&pk, kv[i]->key);
		const al_field_def *a = arg_def(c->def, &kv[i]->key);
		if (a && a->type == AL_T_PASSWORD) {
			unsigned char mac[REQ_DIGEST_LEN];
			if ((rc = secret_mac(c, &kv[i]->val, mac)) == AL_OK) {
				msgpack_pack_bin(&pk, sizeof mac);
				msgpack_pack_bin_body(&pk, mac, sizeof mac);
			}
		} else
			msgpack_pack_object(&pk, kv[i]->val);
	}
	crypto_generichash_final(&st, out, REQ_DIGEST_LEN);
	al_free(kv);
	return rc;
}

/* The actor's scope (see above), hashed to a fixed size: names may be 500 bytes. */
static void scope_hash(const al_actor *a, unsigned char out[REQ_SCOPE_LEN])
{
	const char *kind = "actor:", *who = a->name;
	if (a->user_id && a->user_id[0])
		kind = "user-id:", who = a->user_id;
	else if (a->user && a->user[0])
		kind = "user:", who = a->user;
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, REQ_SCOPE_LEN);
	crypto_generichash_update(&st, (const unsigned char *)kind, strlen(kind));
	crypto_generichash_update(&st, (const unsigned char *)who, strlen(who));
	crypto_generichash_final(&st, out, REQ_SCOPE_LEN);
}

static int reqid_make(al_cmd *c, reqid *r)
{
	r->key[0] = 0;
	scope_hash(c->actor, r->key + 1);
	memcpy(r->key + 1 + REQ_SCOPE_LEN, c->request_id.p, c->request_id.n); /* at most 128 bytes */
	r->keylen = 1 + REQ_SCOPE_LEN + c->request_id.n;
	return args_digest(c, r->digest);
}

static int replay_request(al_cmd *c, item *it, const reqid *r, bool *found)
{
	MDB_val k = {r->keylen, (void *)r->key}, v;
	*found = false;
	int rc = mdb_get(c->txn, c->s->reqids, &k, &v);
	if (rc == MDB_NOTFOUND)
		return AL_OK;
	if (rc)
		return al__mdb(c->w, rc, c->err, "read request ids");
	const char *p = v.mv_data, *op = p + REQ_HEAD;
	const char *nul = v.mv_size > REQ_HEAD ? memchr(op, 0, v.mv_size - REQ_HEAD) : NULL;
	if (nul == NULL)
		return al_err(c->err, AL_ECORRUPT, "request id record is damaged");
	if (strcmp(op, c->def->op) != 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "request_id: already used for %s", op);
	if (sodium_memcmp(p + 17, r->digest, REQ_DIGEST_LEN) != 0)
		return al_err(c->err, AL_ECONFLICT, "request_id: already used for %s with other arguments", op);
	size_t off = (size_t)(nul + 1 - p), n = v.mv_size - off;
	if (p[16] & REQ_SEALED) {
		unsigned char *plain = al_malloc(n);
		size_t pn;
		if (plain == NULL)
			return al_err(c->err, AL_ENO_MEMORY, "out of memory");
		rc = al__unseal(c->s, (al_str){p + off, n}, plain, n, &pn, c->err);
		if (rc == AL_OK)
			al_sbuffer_write(&it->result, (const char *)plain, pn);
		sodium_memzero(plain, n);
		al_free(plain);
		if (rc)
			return rc;
	} else
		al_sbuffer_write(&it->result, p + off, n);
	*found = true;
	it->rep->first_seq = al__get_be64((const unsigned char *)p);
	it->rep->last_seq = al__get_be64((const unsigned char *)p + 8);
	it->rep->replayed = 1;
	return AL_OK;
}

static int remember_request(al_cmd *c, item *it, const reqid *r)
{
	size_t opn = strlen(c->def->op) + 1;
	size_t rn = c->secret_result ? AL_SEALED_LEN(it->result.size) : it->result.size;
	unsigned char *v = al_malloc(REQ_HEAD + opn + rn);
	if (v == NULL)
		return al_err(c->err, AL_ENO_MEMORY, "out of memory");
	al__be64(v, c->first_seq);
	al__be64(v + 8, c->last_seq);
	v[16] = c->secret_result ? REQ_SEALED : 0;
	memcpy(v + 17, r->digest, REQ_DIGEST_LEN);
	memcpy(v + REQ_HEAD, c->def->op, opn);
	char *res = (char *)v + REQ_HEAD + opn;
	int rc = AL_OK;
	if (c->secret_result) {
		rc = al__seal(c->s, it->result.data, it->result.size, res, rn, c->err);
		if (rc == AL_OK) /* the sealed text is shorter than its room: store it without the rest */
			rn = strlen(res);
	} else
		memcpy(res, it->result.data, it->result.size);
	if (rc == AL_OK)
		rc = al__put(c->w, c->s->reqids, r->key, r->keylen, v, REQ_HEAD + opn + rn, 0, c->err);
	al_free(v);
	return rc;
}

static int check_version(al_cmd *c)
{
	int64_t expected;
	al_str target;
	if (!al__arg_int(c, "expected_version", &expected))
		return AL_OK;
	if (!c->def->target[0] || !c->def->entity[0] || !al__arg_str(c, c->def->target, &target))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "expected_version: %s has no target entity", c->def->op);
	uint64_t have;
	int rc = al__entity_version(c->s, c->txn, c->def->entity, target, &have, c->err);
	if (rc)
		return rc;
	if (expected < 0 || (uint64_t)expected != have)
		return al_err(c->err, AL_ECONFLICT, "%s %.*s is at version %llu, not %lld", c->def->entity,
			      (int)(target.n > 64 ? 64 : target.n), target.p, (unsigned long long)have, (long long)expected);
	return AL_OK;
}

/* A handler returns AL_OK or a negative al_ code with c->err set; anything else is a bug that
 * must not pass for success. An error a helper recorded (al__cmd_fail) or an allocation that
 * failed on the way fails the command whatever the handler made of it. */
static int call_handler(al_cmd *c, item *it)
{
	unsigned long nomem = al__nomem_count();
	int rc = it->e->handler(c);
	if (rc > 0 || (rc < 0 && c->err->code == AL_OK))
		rc = al_err(c->err, AL_EINTERNAL, "%s: handler returned %d without an error", c->def->op, rc);
	if (rc == AL_OK && c->err->code != AL_OK) /* a helper's error its caller dropped */
		rc = c->err->code;
	if (c->failed.code)
		rc = (*c->err = c->failed).code;
	return al__nomem_since(nomem, c->err, rc);
}

static int run_write(al_wtxn *w, item *it)
{
	al_cmd c;
	msgpack_packer pk;
	int arc = authorize(w->s, w->txn, it, &it->rep->err);
	if (arc)
		return arc;
	cmd_init(&c, w->s, it, &pk);
	c.w = w;
	c.txn = w->txn;
	int64_t now = al__now(w->s);
	c.now_us = now > w->head_time ? now : w->head_time; /* times never decrease along the log */
	al__arg_str(&c, "reason", &c.reason);
	reqid r;
	if (al__arg_str(&c, "request_id", &c.request_id)) {
		if (c.request_id.n == 0 || c.request_id.n > 128)
			return al_err(c.err, AL_EINVALID_ARGUMENT, "request_id: 1 to 128 characters");
		bool found;
		int rc = reqid_make(&c, &r);
		if (rc == AL_OK)
			rc = replay_request(&c, it, &r, &found);
		if (rc || found)
			return rc;
	}
	if (c.reason.n > 500)
		return al_err(c.err, AL_EINVALID_ARGUMENT, "reason: at most 500 characters");
	int rc = check_version(&c);
	if (rc == AL_OK)
		rc = call_handler(&c, it);
	if (rc == AL_OK && c.request_id.n)
		rc = remember_request(&c, it, &r);
	if (rc == AL_OK) {
		it->rep->first_seq = c.first_seq;
		it->rep->last_seq = c.last_seq;
	}
	return rc;
}

static int run_read(al_store *s, MDB_txn *txn, item *it)
{
	al_cmd c;
	msgpack_packer pk;
	int rc = authorize(s, txn, it, &it->rep->err);
	if (rc)
		return rc;
	cmd_init(&c, s, it, &pk);
	c.txn = txn;
	return call_handler(&c, it);
}

typedef struct batch {
	item *items;
	size_t n;
	bool rerun; /* a command failed after writing: run the batch again without it */
} batch;

/*
 * Runs every ready command in the one write transaction. Handlers validate before their first
 * emit, so a rejected command has written nothing and needs no nested transaction to undo
 * (a nested transaction per command cost half the batch's instructions). A command that fails
 * after writing is taken out and the whole batch runs again, so it still leaves no trace.
 */
static int batch_fn(al_wtxn *w, void *ctx, al_error *err)
{
	batch *b = ctx;
	for (size_t i = 0; i < b->n; i++) {
		item *it = &b->items[i];
		if (!it->ready)
			continue;
		al_err_clear(&it->rep->err);
		it->rep->first_seq = it->rep->last_seq = 0;
		it->rep->replayed = 0;
		if (it->e->def.kind == AL_CMD_READ) {
			run_read(w->s, w->txn, it);
			w->nomem_seen = al__nomem_count(); /* answered in its reply */
			continue;
		}
		uint64_t before = w->head_seq;
		unsigned long nomem = al__nomem_count();
		int rc = al__nomem_since(nomem, &it->rep->err, run_write(w, it));
		w->nomem_seen = al__nomem_count();
		if (rc) /* whatever run_write reported before it failed */
			it->rep->first_seq = it->rep->last_seq = 0, it->rep->replayed = 0;
		if (w->poisoned) { /* the whole transaction is lost: report it once, for all */
			*err = w->poison;
			return err->code;
		}
		if (rc != AL_OK && w->head_seq != before) {
			it->ready = false; /* keeps its error */
			b->rerun = true;
			return al_err(err, rc, "rerun without command %zu", i);
		}
	}
	return AL_OK;
}

int al_exec_batch(al_store *s, const al_request *reqs, al_reply *reps, size_t n)
{
	item *items = al_calloc(n ? n : 1, sizeof *items);
	if (items == NULL) { /* every request still gets its answer */
		for (size_t i = 0; i < n; i++) {
			memset(&reps[i], 0, sizeof reps[i]);
			al_err(&reps[i].err, AL_ENO_MEMORY, "out of memory");
		}
		return AL_ENO_MEMORY;
	}
	size_t writes = 0;
	for (size_t i = 0; i < n; i++)
		if (setup(s, &reqs[i], &reps[i], &items[i], prepare_limit) == AL_OK)
			writes += items[i].e->def.kind == AL_CMD_WRITE;
	int rc = AL_OK;
	if (writes) {
		batch b = {items, n, false};
		al_error err = {0};
		do {
			b.rerun = false;
			rc = al__store_write(s, batch_fn, &b, &err);
		} while (b.rerun);
		for (size_t i = 0; rc && i < n; i++)
			if (items[i].ready) {
				reps[i].err = err;
				reps[i].first_seq = reps[i].last_seq = 0;
				reps[i].replayed = 0;
			}
	} else {
		MDB_txn *txn = NULL;
		al_error err = {0};
		rc = al__read_begin(s, &txn, &err);
		for (size_t i = 0; i < n; i++)
			if (items[i].ready) {
				if (rc)
					reps[i].err = err;
				else
					run_read(s, txn, &items[i]);
			}
		if (txn)
			mdb_txn_abort(txn);
	}
	for (size_t i = 0; i < n; i++)
		item_finish(&items[i]);
	al_free(items);
	return rc;
}

int al_exec_stream(al_store *s, const al_request *req, al_row_fn fn, void *ctx, al_error *err)
{
	item it;
	al_reply rep;
	int rc = setup(s, req, &rep, &it, prepare_limit);
	if (rc == AL_OK && it.e->def.kind != AL_CMD_READ)
		rc = al_err(&rep.err, AL_EINVALID_ARGUMENT, "%s: only read commands stream", req->op);
	MDB_txn *txn = NULL;
	if (rc == AL_OK)
		rc = al__read_begin(s, &txn, &rep.err);
	if (rc == AL_OK && (rc = authorize(s, txn, &it, &rep.err)))
		mdb_txn_abort(txn);
	if (rc == AL_OK) {
		al_cmd c;
		msgpack_packer pk;
		cmd_init(&c, s, &it, &pk);
		c.txn = txn;
		c.sink = fn;
		c.sink_ctx = ctx;
		rc = call_handler(&c, &it);
		mdb_txn_abort(txn);
		if (rc == AL_OK && it.result.size) { /* a handler that packed its result whole */
			msgpack_object o;
			int d = al_mp_decode(it.result.data, it.result.size, &it.zone, &o);
			if (d == -2)
				rc = al_err(&rep.err, AL_ENO_MEMORY, "out of memory");
			else if (d != 0)
				rc = al_err(&rep.err, AL_EINTERNAL, "%s: result does not decode", req->op);
			else if (o.type != MSGPACK_OBJECT_ARRAY)
				rc = fn(&o, ctx);
			else
				for (uint32_t i = 0; rc == AL_OK && i < o.via.array.size; i++)
					rc = fn(&o.via.array.ptr[i], ctx);
			if (rc > 0)
				rc = al_err(&rep.err, AL_EIO_ERROR, "the receiver stopped the listing");
		}
	}
	if (err)
		*err = rep.err;
	item_finish(&it);
	al_reply_free(&rep);
	return rc ? (rep.err.code ? rep.err.code : rc) : AL_OK;
}

int al_prepare(al_store *s, const al_request *req, char **prep, size_t *prep_len, al_error *err)
{
	item it;
	al_reply rep;
	al_request r = *req;
	r.prep = NULL; /* always run the step */
	r.prep_len = 0;
	*prep = NULL;
	*prep_len = 0;
	int rc = setup(s, &r, &rep, &it, AL_PREP_NETWORK); /* running the step is its job */
	if (rc == AL_OK && it.prep_buf.size) {
		if ((*prep = al_malloc(it.prep_buf.size)) == NULL)
			rc = al_err(&rep.err, AL_ENO_MEMORY, "out of memory");
		else {
			memcpy(*prep, it.prep_buf.data, it.prep_buf.size);
			*prep_len = it.prep_buf.size;
		}
	}
	if (err)
		*err = rep.err;
	item_finish(&it); /* wipes its copy */
	return rc;
}

void al_prepared_free(char *prep, size_t prep_len)
{
	if (prep)
		sodium_memzero(prep, prep_len);
	al_free(prep);
}

int al_cmd_has_prepare(const char *op)
{
	const entry *e = op ? find(op) : NULL;
	return e && e->prepare;
}

int al_exec(al_store *s, const al_request *req, al_reply *rep)
{
	al_exec_batch(s, req, rep, 1);
	return rep->err.code;
}

void al_reply_free(al_reply *rep)
{
	if (rep) {
		al_free(rep->result);
		rep->result = NULL;
		rep->result_len = 0;
	}
}

int al_setting_int(al_store *s, const char *key, int64_t *v, al_error *err)
{
	static const al_actor self = {"adminlog:settings", AL_ROLE_SUPERADMIN, NULL, NULL, NULL, NULL, NULL};
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	al_pack_cstr(&pk, "key");
	al_pack_cstr(&pk, key);
	al_request req = {"settings.get", sb.data, sb.size, &self};
	al_reply rep;
	int rc = al_exec(s, &req, &rep);
	al_sbuffer_destroy(&sb);
	msgpack_zone z;
	msgpack_object o;
	msgpack_zone_init(&z, 512);
	if (rc == AL_OK && (al_mp_decode(rep.result, rep.result_len, &z, &o) != 0 || al_mp_int(&o, "value", v) != 1 ||
			    *v < 0))
		rc = al_err(&rep.err, AL_EINTERNAL, "settings.get %s: no integer value", key);
	msgpack_zone_destroy(&z);
	if (rc && err)
		*err = rep.err;
	al_reply_free(&rep);
	return rc;
}
