/*
 * domains.c - the domain noun: commands, events, view and queries.
 * View v_domains: name -> {name, description, is_active, created_at, modified_at}.
 */
#include <string.h>

#include "nouns.h"
#include "validate.h"

enum { DB_DOMAINS };

/* ---- projection ------------------------------------------------------------------------ */

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	if (e->def != al__ev(AL_EV_DOMAIN_CREATED))
		return AL_OK;
	al_str name = {0}, desc = {"", 0};
	al_mp_str(&e->fields, "name", &name);
	al_mp_str(&e->fields, "description", &desc);
	al_mb row;
	al_mb_init(&row);
	al_mb_str(&row, "name", name.p, name.n);
	al_mb_str(&row, "description", desc.p, desc.n);
	al_mb_bool(&row, "is_active", true);
	al_mb_int(&row, "created_at", e->time_us);
	al_mb_int(&row, "modified_at", e->time_us);
	msgpack_sbuffer *b = &v->w->vb;
	b->size = 0;
	al_mb_to_sbuffer(&row, b);
	al_mb_free(&row);
	return al__view_put(v, DB_DOMAINS, name.p, name.n, b->data, b->size, err);
}

const al_projection al__proj_domains = {"domains", 1, {"v_domains", NULL}, apply};

/* ---- queries ----------------------------------------------------------------------------- */

static MDB_dbi dbi(al_cmd *c) { return al__view_dbi(c->s, AL_P_DOMAINS, DB_DOMAINS); }

bool al__domain_exists(al_cmd *c, al_str name)
{
	MDB_val k = {name.n, (void *)name.p}, v;
	return name.n && mdb_get(c->txn, dbi(c), &k, &v) == 0;
}

static void pack_public(al_cmd *c, const msgpack_object *row)
{
	al_mb out;
	al_mb_init(&out);
	for (uint32_t i = 0; i < row->via.map.size; i++) {
		const msgpack_object_kv *kv = &row->via.map.ptr[i];
		char key[32];
		al_str_cpy(key, sizeof key, (al_str){kv->key.via.str.ptr, kv->key.via.str.size});
		if (strcmp(key, "created_at") == 0 || strcmp(key, "modified_at") == 0) {
			char t[40];
			al_mb_cstr(&out, key, al_time_format(kv->val.via.i64, t, sizeof t));
		} else
			al_mb_obj(&out, key, &kv->val);
	}
	al_mb_finish(&out, c->out);
	al_mb_free(&out);
}

/* ---- commands ------------------------------------------------------------------------------ */

int al__domain_require_active(al_cmd *c, const char *field, al_str name)
{
	MDB_val k = {name.n, (void *)name.p}, v;
	msgpack_object row;
	bool active = false;
	if (name.n && mdb_get(c->txn, dbi(c), &k, &v) == 0 && al__decode_row(c, &v, &row) == AL_OK)
		al_mp_bool(&row, "is_active", &active);
	else
		return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: no domain named %.*s", field,
			      (int)(name.n > 64 ? 64 : name.n), name.p);
	if (!active)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: domain %.*s is inactive", field,
			      (int)(name.n > 64 ? 64 : name.n), name.p);
	return AL_OK;
}

int al__domain_emit_created(al_cmd *c, al_str name, al_str description)
{
	int rc = al__check_slug(c->err, "name", name);
	if (rc == AL_OK)
		rc = al__check_text(c->err, "description", description, 0, 500);
	if (rc)
		return rc;
	if (al__domain_exists(c, name))
		return al_err(c->err, AL_EALREADY_EXISTS, "name: domain %.*s already exists", (int)name.n, name.p);
	al_mb f;
	al_mb_init(&f);
	al_mb_str(&f, "name", name.p, name.n);
	al_mb_str(&f, "description", description.p, description.n);
	rc = al__emit(c, AL_EV_DOMAIN_CREATED, name, &f);
	al_mb_free(&f);
	return rc;
}

static int get_row(al_cmd *c, al_str name, msgpack_object *row)
{
	MDB_val k = {name.n, (void *)name.p}, v;
	int rc = name.n ? mdb_get(c->txn, dbi(c), &k, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return al_err(c->err, AL_ENOT_FOUND, "domain %.*s: not found", (int)(name.n > 64 ? 64 : name.n), name.p);
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "read domain: %s", mdb_strerror(rc));
	return al__decode_row(c, &v, row);
}

int al__domain_create(al_cmd *c)
{
	al_str name, desc = {"", 0};
	al__arg_str(c, "name", &name);
	al__arg_str(c, "description", &desc);
	msgpack_object row;
	int rc = al__domain_emit_created(c, name, desc);
	if (rc == AL_OK)
		rc = get_row(c, name, &row);
	if (rc == AL_OK)
		pack_public(c, &row);
	return rc;
}

int al__domain_get(al_cmd *c)
{
	al_str name;
	al__arg_str(c, "name", &name);
	msgpack_object row;
	int rc = get_row(c, name, &row);
	if (rc == AL_OK)
		pack_public(c, &row);
	return rc;
}

int al__domain_list(al_cmd *c)
{
	MDB_cursor *cur;
	MDB_stat st;
	int rc = mdb_stat(c->txn, dbi(c), &st);
	if (rc == 0)
		rc = mdb_cursor_open(c->txn, dbi(c), &cur);
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "list domains: %s", mdb_strerror(rc));
	msgpack_pack_array(c->out, (uint32_t)st.ms_entries);
	MDB_val k, v;
	for (int m = mdb_cursor_get(cur, &k, &v, MDB_FIRST); m == 0; m = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		msgpack_object row;
		if ((rc = al__decode_row(c, &v, &row)))
			break;
		pack_public(c, &row);
	}
	mdb_cursor_close(cur);
	return rc;
}
