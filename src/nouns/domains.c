/*
 * domains.c - the domain noun: commands, events, view and queries; and the resource fields
 * (slots, storage hosts, docker registries) that domains and projects share.
 *
 * View v_domains: name -> {name, description, is_active, total_resource_slots,
 * allowed_vfolder_hosts, allowed_docker_registries, created_at, modified_at}, columns in that
 * order. Domains are never deleted: deactivation is an event, and an inactive domain takes no
 * new users or projects (al__domain_require_active).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/authz.h"
#include "core/validate.h"
#include "nouns/images.h"
#include "nouns/nouns.h"
#include "util/resources.h"
#include "util/row.h"

enum { DB_DOMAINS };

#define DESC_MAX 512 /* varchar(512) in the platform model */

/* ---- projection ------------------------------------------------------------------------ */

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	const al_event_def *d = e->def;
	bool created = d == al__ev(AL_EV_DOMAIN_CREATED);
	if (!created && d != al__ev(AL_EV_DOMAIN_UPDATED) && d != al__ev(AL_EV_DOMAIN_DEACTIVATED) &&
	    d != al__ev(AL_EV_DOMAIN_ACTIVATED))
		return AL_OK;
	char key[AL_MAX_ID];
	if (e->id.n == 0 || e->id.n > sizeof key)
		return al_err(err, AL_ECORRUPT, "event %llu: bad domain name", (unsigned long long)e->seq);
	memcpy(key, e->id.p, e->id.n); /* the old row's memory may move while it is replaced */
	msgpack_object base, *bp = NULL;
	bool active = true;
	int64_t created_at = e->time_us;
	if (!created) {
		MDB_val val;
		if (al__view_get(v, DB_DOMAINS, key, e->id.n, &val) != 0 ||
		    al_mp_decode(val.mv_data, val.mv_size, &v->w->zone, &base) != 0)
			return al_err(err, AL_ECORRUPT, "event %llu: %s for unknown domain %.*s",
				      (unsigned long long)e->seq, d->name, al__clip(e->id.n), e->id.p);
		bp = &base;
		al_mp_bool(bp, "is_active", &active);
		al_mp_int(bp, "created_at", &created_at);
		if (d == al__ev(AL_EV_DOMAIN_DEACTIVATED))
			active = false;
		else if (d == al__ev(AL_EV_DOMAIN_ACTIVATED))
			active = true;
	}
	msgpack_packer pk;
	msgpack_sbuffer *b = al__view_row(v, &pk);
	msgpack_pack_map(&pk, 8);
	al_pack_cstr(&pk, "name");
	al_pack_str(&pk, key, e->id.n);
	al__row_col(&pk, "description", 's', bp, &e->fields);
	al_pack_cstr(&pk, "is_active");
	active ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	al__row_col(&pk, "total_resource_slots", 'm', bp, &e->fields);
	al__row_col(&pk, "allowed_vfolder_hosts", 'm', bp, &e->fields);
	al__row_col(&pk, "allowed_docker_registries", 'a', bp, &e->fields);
	al__row_times(&pk, created_at, e->time_us);
	return al__view_put(v, DB_DOMAINS, key, e->id.n, b->data, b->size, err);
}

/* v2: the row gained is_active changes, slots, hosts and registries. */
/* The event types apply reads: the engine calls it for these only. */
static const enum al_ev_id applies_to[] = {
	AL_EV_DOMAIN_CREATED, AL_EV_DOMAIN_UPDATED, AL_EV_DOMAIN_DEACTIVATED, AL_EV_DOMAIN_ACTIVATED,
	AL_EV__COUNT};
const al_projection al__proj_domains = {"domains", 2, {"v_domains", NULL}, apply, .on = applies_to};

/* ---- queries ----------------------------------------------------------------------------- */

static MDB_dbi dbi(al_cmd *c) { return al__view_dbi(c->s, AL_P_DOMAINS, DB_DOMAINS); }

bool al__domain_exists(al_cmd *c, al_str name)
{
	MDB_val k = {name.n, (void *)name.p}, v;
	return name.n && al__cmd_found(c, mdb_get(c->txn, dbi(c), &k, &v), "domains");
}

/* The row with its times formatted and the entity version added. */
static void pack_public(al_cmd *c, const msgpack_object *row, msgpack_packer *pk)
{
	al_mb out;
	al_str name = {"", 0};
	al_mp_str(row, "name", &name);
	al_mb_init(&out);
	al__row_public_cols(&out, row);
	msgpack_pack_uint64(al_mb_key(&out, "version"), al__cmd_version(c, "domain", name));
	al_mb_finish(&out, pk);
	al_mb_free(&out);
}

/* 1 found, 0 not found, or a negative al_ code. */
static int find_row(al_cmd *c, al_str key, msgpack_object *row)
{
	return al__find_row(c, AL_P_DOMAINS, DB_DOMAINS, key, row);
}

static int get_row(al_cmd *c, al_str key, msgpack_object *row)
{
	return al__must_find_row(c, AL_P_DOMAINS, DB_DOMAINS, "domain", key, row);
}

int al__domain_row(al_cmd *c, al_str name, msgpack_object *row) { return find_row(c, name, row); }

int al__domain_require_active(al_cmd *c, const char *field, al_str name)
{
	msgpack_object row;
	bool active = false;
	int rc = find_row(c, name, &row);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: no domain named %.*s", field, al__clip(name.n), name.p);
	al_mp_bool(&row, "is_active", &active);
	if (!active)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: domain %.*s is inactive", field, al__clip(name.n), name.p);
	return AL_OK;
}

/* ---- resource fields (domains and projects) ---------------------------------------------- */

static int cmp_objstr(const void *a, const void *b)
{
	const msgpack_object_str *x = &((const msgpack_object *)a)->via.str, *y = &((const msgpack_object *)b)->via.str;
	int r = memcmp(x->ptr, y->ptr, x->size < y->size ? x->size : y->size);
	return r ? r : (x->size > y->size) - (x->size < y->size);
}

/* The registry list, checked, sorted, as an array on pk. */
static int registries_pack(al_cmd *c, const char *field, const msgpack_object *list, msgpack_packer *pk)
{
	uint32_t n = list->via.array.size;
	msgpack_object *sorted = n ? al_zone_malloc(c->zone, n * sizeof *sorted) : NULL;
	if (n && sorted == NULL)
		return al_err(c->err, AL_ENO_MEMORY, "out of memory");
	for (uint32_t i = 0; i < n; i++) {
		al_str h = {list->via.array.ptr[i].via.str.ptr, list->via.array.ptr[i].via.str.size};
		if (!al__ref_host_ok(h)) /* the registries' own hostname rule (images.h) */
			return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: '%.*s' is not a registry hostname (host or host:port)",
				      field, al__clip(h.n), h.p);
		sorted[i] = list->via.array.ptr[i];
	}
	if (n)
		qsort(sorted, n, sizeof *sorted, cmp_objstr);
	for (uint32_t i = 1; i < n; i++)
		if (cmp_objstr(&sorted[i - 1], &sorted[i]) == 0)
			return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: %.*s is listed twice", field,
				      al__clip(sorted[i].via.str.size), sorted[i].via.str.ptr);
	msgpack_pack_array(pk, n);
	for (uint32_t i = 0; i < n; i++)
		msgpack_pack_object(pk, sorted[i]);
	return AL_OK;
}

/* Whether the packed value in nb differs from cur's column (a missing column is empty). */
static bool differs(const msgpack_object *cur, const char *col, char empty, const msgpack_sbuffer *nb)
{
	if (cur == NULL)
		return true;
	msgpack_sbuffer old;
	msgpack_packer pk;
	msgpack_sbuffer_init(&old);
	msgpack_packer_init(&pk, &old, al_sbuffer_write);
	const msgpack_object *v = al_mp_get(cur, col);
	if (v && v->type != MSGPACK_OBJECT_NIL)
		msgpack_pack_object(&pk, *v);
	else if (empty == 'm')
		msgpack_pack_map(&pk, 0);
	else
		msgpack_pack_array(&pk, 0);
	bool d = old.size != nb->size || memcmp(old.data, nb->data, nb->size) != 0;
	al_sbuffer_destroy(&old);
	return d;
}

int al__resource_fields(al_cmd *c, const msgpack_object *cur, al_mb *f)
{
	static const struct {
		const char *arg, *col;
		char kind; /* 's' slots, 'h' hosts, 'r' registries */
	} cols[] = {{"total_resource_slots", "total_resource_slots", 's'},
		    {"allowed_hosts", "allowed_vfolder_hosts", 'h'},
		    {"allowed_registries", "allowed_docker_registries", 'r'}};
	msgpack_sbuffer nb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&nb);
	msgpack_packer_init(&pk, &nb, al_sbuffer_write);
	int rc = AL_OK, n = 0;
	for (size_t i = 0; i < sizeof cols / sizeof *cols && rc == AL_OK; i++) {
		al_str text;
		const msgpack_object *list;
		nb.size = 0;
		if (cols[i].kind == 'r') {
			if (!al__arg_list(c, cols[i].arg, &list))
				continue;
			rc = registries_pack(c, cols[i].arg, list, &pk);
		} else {
			if (!al__arg_str(c, cols[i].arg, &text))
				continue;
			rc = cols[i].kind == 's' ? al__slots_pack(c->err, cols[i].arg, text, &pk)
						 : al__hostperms_pack(c->err, cols[i].arg, text, &pk);
		}
		if (rc == AL_OK && differs(cur, cols[i].col, cols[i].kind == 'r' ? 'a' : 'm', &nb)) {
			msgpack_packer *out = al_mb_key(f, cols[i].col);
			out->callback(out->data, nb.data, nb.size);
			n++;
		}
	}
	al_sbuffer_destroy(&nb);
	return rc ? rc : n;
}

/* ---- commands ------------------------------------------------------------------------------ */

static int check_fields(al_cmd *c, al_str name, al_str description)
{
	int rc = al__check_slug(c->err, "name", name);
	return rc ? rc : al__check_note(c->err, "description", description, 0, DESC_MAX);
}

static int check_unique(al_cmd *c, al_str name)
{
	if (al__domain_exists(c, name))
		return al_err(c->err, AL_EALREADY_EXISTS, "name: domain %.*s already exists", al__clip(name.n), name.p);
	return AL_OK;
}

int al__domain_emit_created(al_cmd *c, al_str name, al_str description)
{
	int rc = check_fields(c, name, description);
	if (rc == AL_OK)
		rc = check_unique(c, name);
	if (rc)
		return rc;
	al_mb f;
	al_mb_init(&f);
	al_mb_str(&f, "name", name.p, name.n);
	al_mb_str(&f, "description", description.p, description.n);
	rc = al__emit(c, AL_EV_DOMAIN_CREATED, name, &f);
	al_mb_free(&f);
	return rc;
}

int al__domain_create(al_cmd *c)
{
	al_str name, desc = {"", 0};
	al__arg_str(c, "name", &name);
	al__arg_str(c, "description", &desc);
	al_mb f;
	al_mb_init(&f);
	al_mb_str(&f, "name", name.p, name.n);
	al_mb_str(&f, "description", desc.p, desc.n);
	int rc = check_fields(c, name, desc); /* every field rule before uniqueness */
	if (rc == AL_OK && (rc = al__resource_fields(c, NULL, &f)) > 0)
		rc = AL_OK;
	if (rc == AL_OK)
		rc = check_unique(c, name);
	if (rc == AL_OK)
		rc = al__emit(c, AL_EV_DOMAIN_CREATED, name, &f);
	al_mb_free(&f);
	msgpack_object row;
	if (rc == AL_OK)
		rc = get_row(c, name, &row);
	if (rc == AL_OK)
		pack_public(c, &row, c->out);
	return rc;
}

int al__domain_update(al_cmd *c)
{
	static const char *const all[] = {"description", "total_resource_slots", "allowed_hosts", "allowed_registries"};
	al_str name, desc;
	msgpack_object row;
	al__arg_str(c, "name", &name);
	int rc = get_row(c, name, &row);
	if (rc)
		return rc;
	if (al__args_given(c, all, sizeof all / sizeof *all) == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "nothing to update (the name cannot change)");
	al_mb f;
	al_mb_init(&f);
	int n = 0;
	if (al__arg_str(c, "description", &desc)) {
		al_str old = {"", 0};
		al_mp_str(&row, "description", &old);
		rc = al__check_note(c->err, "description", desc, 0, DESC_MAX);
		if (rc == AL_OK && !(old.n == desc.n && memcmp(old.p, desc.p, desc.n) == 0)) {
			al_mb_str(&f, "description", desc.p, desc.n);
			n++;
		}
	}
	if (rc == AL_OK) {
		int k = al__resource_fields(c, &row, &f);
		rc = k < 0 ? k : AL_OK;
		n += k > 0 ? k : 0;
	}
	if (rc == AL_OK && n > 0) /* an update that changes nothing records nothing */
		rc = al__emit(c, AL_EV_DOMAIN_UPDATED, name, &f);
	al_mb_free(&f);
	if (rc == AL_OK && n > 0)
		rc = get_row(c, name, &row);
	if (rc == AL_OK)
		pack_public(c, &row, c->out);
	return rc;
}

static int set_active(al_cmd *c, enum al_ev_id ev, bool active)
{
	al_str name;
	msgpack_object row;
	bool cur = true;
	al__arg_str(c, "name", &name);
	int rc = get_row(c, name, &row);
	if (rc)
		return rc;
	al_mp_bool(&row, "is_active", &cur);
	if (cur != active) { /* already there: nothing to record */
		if ((rc = al__emit(c, ev, name, NULL)) == AL_OK)
			rc = get_row(c, name, &row);
	}
	if (rc == AL_OK)
		pack_public(c, &row, c->out);
	return rc;
}

int al__domain_deactivate(al_cmd *c) { return set_active(c, AL_EV_DOMAIN_DEACTIVATED, false); }
int al__domain_activate(al_cmd *c) { return set_active(c, AL_EV_DOMAIN_ACTIVATED, true); }

/* A superadmin sees every domain; anyone else only the domain it belongs to. */
static bool may_see(const al_cmd *c, al_str name)
{
	return al__is_superadmin(c) || (c->actor->domain && al_str_eq(name, c->actor->domain));
}

int al__domain_get(al_cmd *c)
{
	al_str name;
	al__arg_str(c, "name", &name);
	if (!may_see(c, name)) /* before the lookup: others' domains are not probed */
		return al__authz_deny(c);
	msgpack_object row;
	int rc = get_row(c, name, &row);
	if (rc == AL_OK)
		pack_public(c, &row, c->out);
	return rc;
}

int al__domain_list(al_cmd *c)
{
	if (!al__is_superadmin(c)) { /* a domain admin or monitor: its own domain only */
		msgpack_object row;
		al_str own = {c->actor->domain ? c->actor->domain : "", c->actor->domain ? strlen(c->actor->domain) : 0};
		int rc = find_row(c, own, &row);
		if (rc < 0)
			return rc;
		msgpack_pack_array(c->out, (uint32_t)rc);
		if (rc == 1)
			pack_public(c, &row, c->out);
		return AL_OK;
	}
	return al__list_view(c, AL_P_DOMAINS, DB_DOMAINS, pack_public);
}

/* For images (images.c): the registries a domain allows. */
int al__domain_registries(al_cmd *c, al_str name, msgpack_object *list)
{
	msgpack_object row;
	int rc = find_row(c, name, &row);
	if (rc != 1)
		return rc;
	const msgpack_object *l = al_mp_get(&row, "allowed_docker_registries");
	if (l && l->type == MSGPACK_OBJECT_ARRAY)
		*list = *l;
	else
		*list = (msgpack_object){.type = MSGPACK_OBJECT_ARRAY};
	return 1;
}
