/*
 * projects.c - the project noun (groups in the platform model) and project membership.
 *
 * A project is keyed by a UUID decided in the prepare step; its name is unique within its
 * domain. Views:
 *   v_projects         id -> {id, name, domain, description, is_active, type, resource_policy,
 *                      total_resource_slots, allowed_vfolder_hosts, allowed_docker_registries,
 *                      created_at, modified_at}, columns in that order
 *   v_project_names    "domain\0name" -> id (uniqueness, lookups, listing by domain and name)
 *   v_project_members  "p" id "\0" email -> user id, and "u" email "\0" id -> "": both
 *                      directions are range scans
 *   v_project_user_ids user id -> email, folded from user.created, so that members can be
 *                      named by id (the users view is keyed by email only)
 * Projects are never deleted: deactivation is an event.
 */
#include <stdlib.h>
#include <string.h>

#include "core/authz.h"
#include "core/secret.h"
#include "core/validate.h"
#include "nouns/nouns.h"
#include "util/row.h"

enum { DB_PROJECTS, DB_NAMES, DB_MEMBERS, DB_USER_IDS };

#define DESC_MAX 512
#define KEY_MAX 512 /* LMDB's default key limit is 511 bytes */

static const char *const types[] = {"general", "model-store", NULL};


/* ---- projection ---------------------------------------------------------------------------- */

static int load_row(const al_view *v, const char *id, size_t idn, msgpack_object *row, const al_event *e,
		    al_error *err)
{
	MDB_val val;
	if (al__view_get(v, DB_PROJECTS, id, idn, &val) != 0 ||
	    al_mp_decode(val.mv_data, val.mv_size, &v->w->zone, row) != 0)
		return al_err(err, AL_ECORRUPT, "event %llu: %s for unknown project %.*s", (unsigned long long)e->seq,
			      e->def->name, al__clip(idn), id);
	return AL_OK;
}

/* project.created / updated / deactivated / activated: the new row, and the name index. */
static int apply_project(const al_view *v, const al_event *e, al_error *err)
{
	const al_event_def *d = e->def;
	bool created = d == al__ev(AL_EV_PROJECT_CREATED);
	char id[AL_MAX_ID], oldkey[KEY_MAX], newkey[KEY_MAX];
	size_t idn = e->id.n, oldn = 0, newn = 0;
	if (idn == 0 || idn > sizeof id)
		return al_err(err, AL_ECORRUPT, "event %llu: bad project id", (unsigned long long)e->seq);
	memcpy(id, e->id.p, idn);
	msgpack_object base, *bp = NULL;
	bool active = true;
	int64_t created_at = e->time_us;
	al_str domain = {"", 0}, name = {"", 0}, new_name;
	if (!created) {
		int rc = load_row(v, id, idn, &base, e, err);
		if (rc)
			return rc;
		bp = &base;
		al_mp_bool(bp, "is_active", &active);
		al_mp_int(bp, "created_at", &created_at);
		if (d == al__ev(AL_EV_PROJECT_DEACTIVATED))
			active = false;
		else if (d == al__ev(AL_EV_PROJECT_ACTIVATED))
			active = true;
	}
	al_mp_str(bp ? bp : &e->fields, "domain", &domain);
	al_mp_str(bp ? bp : &e->fields, "name", &name);
	bool rename = bp && al_mp_str(&e->fields, "name", &new_name) == 1;
	if (rename) {
		oldn = al__key2(oldkey, KEY_MAX, 0, domain, name);
		name = new_name;
	}
	newn = al__key2(newkey, KEY_MAX, 0, domain, name);
	if (newn == 0 || (rename && oldn == 0))
		return al_err(err, AL_ECORRUPT, "event %llu: project name too long", (unsigned long long)e->seq);

	msgpack_packer pk;
	msgpack_sbuffer *b = al__view_row(v, &pk);
	msgpack_pack_map(&pk, 12);
	al_pack_cstr(&pk, "id");
	al_pack_str(&pk, id, idn);
	al_pack_cstr(&pk, "name");
	al_pack_str(&pk, name.p, name.n);
	al_pack_cstr(&pk, "domain");
	al_pack_str(&pk, domain.p, domain.n);
	al__row_col(&pk, "description", 's', bp, &e->fields);
	al_pack_cstr(&pk, "is_active");
	active ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	al__row_col(&pk, "type", 's', bp, &e->fields);
	al__row_col(&pk, "resource_policy", 's', bp, &e->fields);
	al__row_col(&pk, "total_resource_slots", 'm', bp, &e->fields);
	al__row_col(&pk, "allowed_vfolder_hosts", 'm', bp, &e->fields);
	al__row_col(&pk, "allowed_docker_registries", 'a', bp, &e->fields);
	al__row_times(&pk, created_at, e->time_us);
	/* The row is packed (copied) before anything is written: base points into the view. */
	int rc = al__view_put(v, DB_PROJECTS, id, idn, b->data, b->size, err);
	if (rc == AL_OK && oldn)
		rc = al__view_del(v, DB_NAMES, oldkey, oldn, err);
	if (rc == AL_OK && (created || rename))
		rc = al__view_put(v, DB_NAMES, newkey, newn, id, idn, err);
	return rc;
}

static int apply_member(const al_view *v, const al_event *e, bool add, al_error *err)
{
	al_str email = {"", 0}, uid = {"", 0};
	al_mp_str(&e->fields, "email", &email);
	al_mp_str(&e->fields, "user_id", &uid);
	char pkey[KEY_MAX], ukey[KEY_MAX];
	size_t pn = al__key2(pkey, KEY_MAX, 'p', e->id, email), un = al__key2(ukey, KEY_MAX, 'u', email, e->id);
	if (pn == 0 || un == 0 || email.n == 0)
		return al_err(err, AL_ECORRUPT, "event %llu: bad member", (unsigned long long)e->seq);
	if (!add) {
		int rc = al__view_del(v, DB_MEMBERS, pkey, pn, err);
		return rc ? rc : al__view_del(v, DB_MEMBERS, ukey, un, err);
	}
	int rc = al__view_put(v, DB_MEMBERS, pkey, pn, uid.p, uid.n, err);
	return rc ? rc : al__view_put(v, DB_MEMBERS, ukey, un, "", 0, err);
}

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	const al_event_def *d = e->def;
	if (d == al__ev(AL_EV_PROJECT_CREATED) || d == al__ev(AL_EV_PROJECT_UPDATED) ||
	    d == al__ev(AL_EV_PROJECT_DEACTIVATED) || d == al__ev(AL_EV_PROJECT_ACTIVATED))
		return apply_project(v, e, err);
	if (d == al__ev(AL_EV_PROJECT_MEMBER_ADDED) || d == al__ev(AL_EV_PROJECT_MEMBER_REMOVED))
		return apply_member(v, e, d == al__ev(AL_EV_PROJECT_MEMBER_ADDED), err);
	if (d == al__ev(AL_EV_USER_CREATED)) { /* ids never change, so one event is enough */
		al_str id, email;
		if (al_mp_str(&e->fields, "id", &id) == 1 && al_mp_str(&e->fields, "email", &email) == 1 && id.n &&
		    id.n < KEY_MAX)
			return al__view_put(v, DB_USER_IDS, id.p, id.n, email.p, email.n, err);
	}
	return AL_OK;
}

/* The event types apply reads: the engine calls it for these only. */
static const enum al_ev_id applies_to[] = {
	AL_EV_PROJECT_CREATED, AL_EV_PROJECT_UPDATED, AL_EV_PROJECT_DEACTIVATED, AL_EV_PROJECT_ACTIVATED,
	AL_EV_PROJECT_MEMBER_ADDED, AL_EV_PROJECT_MEMBER_REMOVED, AL_EV_USER_CREATED, AL_EV__COUNT};
const al_projection al__proj_projects = {
	"projects", 2, {"v_projects", "v_project_names", "v_project_members", "v_project_user_ids", NULL}, apply,
	.on = applies_to};

/* ---- queries --------------------------------------------------------------------------------- */

static MDB_dbi dbi(al_cmd *c, int db) { return al__view_dbi(c->s, AL_P_PROJECTS, db); }

/* 1 found, 0 not found, or a negative al_ code. */
static int find_by_id(al_cmd *c, al_str id, msgpack_object *row)
{
	return al__get_row(c, dbi(c, DB_PROJECTS), id, SIZE_MAX, "project", row);
}

/* By domain and name; *id (kept in the zone) and row. 1 found, 0 not, or a negative code. */
static int find_by_name(al_cmd *c, al_str domain, al_str name, al_str *id, msgpack_object *row)
{
	char key[KEY_MAX];
	MDB_val k = {al__key2(key, KEY_MAX, 0, domain, name), key}, v;
	int rc = k.mv_size && name.n ? mdb_get(c->txn, dbi(c, DB_NAMES), &k, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "read project: %s", mdb_strerror(rc));
	*id = al__keep(c, "", (al_str){v.mv_data, v.mv_size});
	rc = find_by_id(c, *id, row);
	return rc == 0 ? al_err(c->err, AL_ECORRUPT, "project index points to a missing project") : rc;
}

static bool is_member(al_cmd *c, al_str id, al_str email)
{
	char key[KEY_MAX];
	MDB_val k = {al__key2(key, KEY_MAX, 'p', id, email), key}, v;
	return k.mv_size && email.n && al__cmd_found(c, mdb_get(c->txn, dbi(c, DB_MEMBERS), &k, &v), "members");
}

/* Calls fn for each key of DB_MEMBERS that starts with tag a "\0", with the part after it.
 * Stops early when fn returns non-zero and returns that. */
static int scan_members(al_cmd *c, char tag, al_str a, al_prefix_fn fn, void *ctx)
{
	char key[KEY_MAX];
	size_t pn = al__key2(key, KEY_MAX, tag, a, (al_str){"", 0});
	return pn ? al__scan_prefix(c, dbi(c, DB_MEMBERS), key, pn, "members", fn, ctx) : AL_OK;
}

static int collect(al_cmd *c, al_str s, const MDB_val *v, void *ctx)
{
	(void)v;
	return al__strs_add(c, ctx, s);
}

static int count_one(al_cmd *c, al_str s, const MDB_val *v, void *ctx)
{
	(void)c, (void)s, (void)v;
	++*(uint64_t *)ctx;
	return 0;
}

/* The project's members (emails, sorted by the key order), or its member count. */
static void pack_public(al_cmd *c, const msgpack_object *row, msgpack_packer *pk, bool members)
{
	al_mb out;
	al_str id = {"", 0};
	al_mp_str(row, "id", &id);
	al_mb_init(&out);
	al__row_public_cols(&out, row);
	if (members) {
		al_strs l = {0};
		if (scan_members(c, 'p', id, collect, &l))
			al__cmd_fail_err(c, c->err);
		msgpack_packer *m = al_mb_key(&out, "members");
		msgpack_pack_array(m, l.n);
		for (uint32_t i = 0; i < l.n; i++)
			al_pack_str(m, l.v[i].p, l.v[i].n);
	} else {
		uint64_t n = 0;
		if (scan_members(c, 'p', id, count_one, &n))
			al__cmd_fail_err(c, c->err);
		msgpack_pack_uint64(al_mb_key(&out, "member_count"), n);
	}
	msgpack_pack_uint64(al_mb_key(&out, "version"), al__cmd_version(c, "project", id));
	al_mb_finish(&out, pk);
	al_mb_free(&out);
}

static int pack_by_id(al_cmd *c, al_str id)
{
	msgpack_object row;
	int rc = find_by_id(c, id, &row);
	if (rc == 0)
		return al_err(c->err, AL_ECORRUPT, "project %.*s vanished", al__clip(id.n), id.p);
	if (rc < 0)
		return rc;
	pack_public(c, &row, c->out, true);
	return AL_OK;
}

/* ---- the project a command names ------------------------------------------------------------- */

static int not_found(al_cmd *c, al_str domain, al_str name)
{
	return al_err(c->err, AL_ENOT_FOUND, "project %.*s in domain %.*s: not found", al__clip(name.n), name.p,
		      al__clip(domain.n), domain.p);
}

/* For the write commands: the actor manages the domain (checked first, so that nothing about
 * another domain is revealed), and the project exists. */
static int target(al_cmd *c, al_str *domain, al_str *name, al_str *id, msgpack_object *row)
{
	*domain = al__domain_arg(c);
	al__arg_str(c, "name", name);
	int rc = al__authz_manage_domain(c, *domain);
	if (rc)
		return rc;
	rc = find_by_name(c, *domain, *name, id, row);
	return rc == 0 ? not_found(c, *domain, *name) : rc < 0 ? rc : AL_OK;
}

/* ---- creating -------------------------------------------------------------------------------- */

typedef struct proj_new {
	al_str id, name, domain, description, type, policy;
} proj_new;

static int check_fields(al_cmd *c, const proj_new *p)
{
	int rc;
	if ((rc = al__check_slug(c->err, "name", p->name)) ||
	    (rc = al__check_note(c->err, "description", p->description, 0, DESC_MAX)) ||
	    (rc = al__check_enum(c->err, "type", p->type, types)))
		return rc;
	return AL_OK;
}

/* What the new project refers to (an active domain, a policy), then uniqueness. */
static int check_refs(al_cmd *c, const proj_new *p)
{
	int rc;
	msgpack_object row;
	al_str other;
	if ((rc = al__domain_require_active(c, "domain", p->domain)) ||
	    (rc = al__policy_require(c, AL_POLICY_PROJECT, "policy", p->policy)))
		return rc;
	if (p->id.n == 0)
		return al_err(c->err, AL_EINTERNAL, "project.created needs a prepared id");
	if ((rc = find_by_name(c, p->domain, p->name, &other, &row)) < 0)
		return rc;
	if (rc == 1)
		return al_err(c->err, AL_EALREADY_EXISTS, "name: project %.*s already exists in domain %.*s",
			      al__clip(p->name.n), p->name.p, al__clip(p->domain.n), p->domain.p);
	if ((rc = find_by_id(c, p->id, &row)) != 0)
		return rc < 0 ? rc : al_err(c->err, AL_EALREADY_EXISTS, "id: project %.*s already exists", al__clip(p->id.n), p->id.p);
	return AL_OK;
}

/* f starts with the base fields; al__resource_fields may have added more. */
static void base_fields(al_mb *f, const proj_new *p)
{
	al_mb_str(f, "id", p->id.p, p->id.n);
	al_mb_str(f, "name", p->name.p, p->name.n);
	al_mb_str(f, "domain", p->domain.p, p->domain.n);
	al_mb_str(f, "description", p->description.p, p->description.n);
	al_mb_str(f, "type", p->type.p, p->type.n);
	al_mb_str(f, "resource_policy", p->policy.p, p->policy.n);
}

int al__project_create_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err)
{
	(void)s, (void)args, (void)err;
	char id[37];
	al__uuid4(id);
	al_mb_cstr(out, "id", id);
	return AL_OK;
}

int al__project_create(al_cmd *c)
{
	proj_new p = {.description = {"", 0}, .type = {"general", 7}, .policy = {"default", 7}};
	p.domain = al__domain_arg(c);
	al__arg_str(c, "name", &p.name);
	al__arg_str(c, "description", &p.description);
	al__arg_str(c, "type", &p.type);
	al__arg_str(c, "policy", &p.policy);
	if (c->prep)
		al_mp_str(c->prep, "id", &p.id);
	int rc = al__authz_manage_domain(c, p.domain);
	if (rc == AL_OK)
		rc = check_fields(c, &p);
	if (rc)
		return rc;
	al_mb f;
	al_mb_init(&f);
	base_fields(&f, &p);
	rc = al__resource_fields(c, NULL, &f);
	if (rc >= 0)
		rc = check_refs(c, &p);
	if (rc == AL_OK)
		rc = al__emit(c, AL_EV_PROJECT_CREATED, p.id, &f);
	al_mb_free(&f);
	return rc ? rc : pack_by_id(c, p.id);
}

int al__project_emit_default(al_cmd *c, al_str id, al_str member_email)
{
	proj_new p = {id, {"default", 7}, {"default", 7}, {"", 0}, {"general", 7}, {"default", 7}};
	al_user_auth u;
	int rc = check_fields(c, &p);
	if (rc == AL_OK)
		rc = check_refs(c, &p);
	if (rc)
		return rc;
	if ((rc = al__user_auth_info(c->s, c->txn, member_email, &u, c->zone, c->err)) <= 0)
		return rc < 0 ? rc : al_err(c->err, AL_EINVALID_ARGUMENT, "users: no user %.*s", al__clip(member_email.n),
					    member_email.p);
	al_mb f;
	al_mb_init(&f);
	base_fields(&f, &p);
	rc = al__emit(c, AL_EV_PROJECT_CREATED, id, &f);
	al_mb_free(&f);
	return rc ? rc : al__project_emit_member(c, id, member_email, true);
}

/* ---- changing -------------------------------------------------------------------------------- */

static bool same(al_str a, al_str b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

/* The text fields of project.update that differ from row, checked, into f; how many. */
static int changed_text(al_cmd *c, const msgpack_object *row, al_str domain, al_mb *f)
{
	static const struct {
		const char *arg, *field;
	} text[] = {{"new_name", "name"}, {"description", "description"}, {"type", "type"}, {"policy", "resource_policy"}};
	int n = 0, rc;
	for (size_t i = 0; i < sizeof text / sizeof *text; i++) {
		al_str s, cur = {"", 0}, other;
		msgpack_object orow;
		if (!al__arg_str(c, text[i].arg, &s))
			continue;
		if ((i == 0 && (rc = al__check_slug(c->err, "new_name", s))) ||
		    (i == 1 && (rc = al__check_note(c->err, "description", s, 0, DESC_MAX))) ||
		    (i == 2 && (rc = al__check_enum(c->err, "type", s, types))) ||
		    (i == 3 && (rc = al__policy_require(c, AL_POLICY_PROJECT, "policy", s))))
			return rc;
		al_mp_str(row, text[i].field, &cur);
		if (same(s, cur))
			continue;
		if (i == 0 && (rc = find_by_name(c, domain, s, &other, &orow)) != 0)
			return rc < 0 ? rc
				      : al_err(c->err, AL_EALREADY_EXISTS, "new_name: project %.*s already exists in domain %.*s",
					       al__clip(s.n), s.p, al__clip(domain.n), domain.p);
		al_mb_str(f, text[i].field, s.p, s.n);
		n++;
	}
	return n;
}

int al__project_update(al_cmd *c)
{
	static const char *const all[] = {"new_name", "description", "type", "policy", "total_resource_slots",
					  "allowed_hosts", "allowed_registries"};
	al_str domain, name, id;
	msgpack_object row;
	int rc = target(c, &domain, &name, &id, &row);
	if (rc)
		return rc;
	if (al__args_given(c, all, sizeof all / sizeof *all) == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "nothing to update (the domain cannot change)");
	al_mb f;
	al_mb_init(&f);
	int n = changed_text(c, &row, domain, &f), k = n < 0 ? 0 : al__resource_fields(c, &row, &f);
	rc = n < 0 ? n : k < 0 ? k : AL_OK;
	if (rc == AL_OK && n + k > 0) /* an update that changes nothing records nothing */
		rc = al__emit(c, AL_EV_PROJECT_UPDATED, id, &f);
	al_mb_free(&f);
	return rc ? rc : pack_by_id(c, id);
}

static int set_active(al_cmd *c, enum al_ev_id ev, bool active)
{
	al_str domain, name, id;
	msgpack_object row;
	bool cur = true;
	int rc = target(c, &domain, &name, &id, &row);
	if (rc)
		return rc;
	al_mp_bool(&row, "is_active", &cur);
	if (cur != active && (rc = al__emit(c, ev, id, NULL))) /* already so: nothing to record */
		return rc;
	return pack_by_id(c, id);
}

int al__project_deactivate(al_cmd *c) { return set_active(c, AL_EV_PROJECT_DEACTIVATED, false); }
int al__project_activate(al_cmd *c) { return set_active(c, AL_EV_PROJECT_ACTIVATED, true); }

/* ---- membership ------------------------------------------------------------------------------ */

/* A user named by email or by user id: its auth info (u->email is the email). */
static int resolve_user(al_cmd *c, al_str who, al_user_auth *u)
{
	int rc = al__user_auth_info(c->s, c->txn, who, u, c->zone, c->err);
	if (rc != 0)
		return rc;
	MDB_val k = {who.n, (void *)who.p}, v;
	rc = who.n && who.n < KEY_MAX ? mdb_get(c->txn, dbi(c, DB_USER_IDS), &k, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "read user ids: %s", mdb_strerror(rc));
	return al__user_auth_info(c->s, c->txn, al__keep(c, "", (al_str){v.mv_data, v.mv_size}), u, c->zone, c->err);
}

/* The checks of one membership change; *email and *uid are the user's. */
static int check_member(al_cmd *c, const msgpack_object *row, al_str who, bool add, al_str *email, al_str *uid)
{
	al_user_auth u;
	int rc = resolve_user(c, who, &u);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "users: no user %.*s", al__clip(who.n), who.p);
	al_str domain = {"", 0}, name = {"", 0};
	bool active = true;
	al_mp_str(row, "domain", &domain);
	al_mp_str(row, "name", &name);
	al_mp_bool(row, "is_active", &active);
	if (add && !same(u.domain, domain))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "users: %.*s belongs to domain %.*s, not %.*s", al__clip(u.email.n),
			      u.email.p, al__clip(u.domain.n), u.domain.p, al__clip(domain.n), domain.p);
	if (add && !active)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "name: project %.*s is inactive", al__clip(name.n), name.p);
	*email = al__keep(c, "", u.email);
	*uid = al__keep(c, "", u.id);
	return AL_OK;
}

/* Emits the change for one checked member unless it is already so. */
static int emit_member(al_cmd *c, al_str id, al_str email, al_str uid, bool add)
{
	if (is_member(c, id, email) == add)
		return AL_OK;
	al_mb f;
	al_mb_init(&f);
	al_mb_str(&f, "email", email.p, email.n);
	if (add)
		al_mb_str(&f, "user_id", uid.p, uid.n);
	int rc = al__emit(c, add ? AL_EV_PROJECT_MEMBER_ADDED : AL_EV_PROJECT_MEMBER_REMOVED, id, &f);
	al_mb_free(&f);
	return rc;
}

int al__project_emit_member(al_cmd *c, al_str project_id, al_str email, bool add)
{
	msgpack_object row;
	al_str id = al__keep(c, "", project_id), e, uid;
	int rc = find_by_id(c, id, &row);
	if (rc == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "project: no project with id %.*s", al__clip(id.n), id.p);
	if (rc < 0 || (rc = check_member(c, &row, email, add, &e, &uid)))
		return rc;
	return emit_member(c, id, e, uid, add);
}

static int change_members(al_cmd *c, bool add)
{
	al_str domain, name, id;
	msgpack_object row;
	const msgpack_object *list = NULL;
	int rc = target(c, &domain, &name, &id, &row);
	if (rc)
		return rc;
	al__arg_list(c, "users", &list);
	uint32_t n = list ? list->via.array.size : 0;
	if (n == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "users: name at least one user (email or id)");
	al_str *emails = al_zone_malloc(c->zone, n * 2 * sizeof *emails);
	if (emails == NULL)
		return al_err(c->err, AL_ENO_MEMORY, "out of memory");
	for (uint32_t i = 0; i < n && rc == AL_OK; i++) { /* every user checked before the first emit */
		al_str who = {list->via.array.ptr[i].via.str.ptr, list->via.array.ptr[i].via.str.size};
		rc = check_member(c, &row, who, add, &emails[2 * i], &emails[2 * i + 1]);
	}
	for (uint32_t i = 0; i < n && rc == AL_OK; i++) /* a user named twice is a no-op the second time */
		rc = emit_member(c, id, emails[2 * i], emails[2 * i + 1], add);
	return rc ? rc : pack_by_id(c, id);
}

int al__project_add_member(al_cmd *c) { return change_members(c, true); }
int al__project_remove_member(al_cmd *c) { return change_members(c, false); }

int al__projects_leave_all(al_cmd *c, al_str email)
{
	al_strs ids = {0};
	al_str e = al__keep(c, "", email);
	int rc = scan_members(c, 'u', e, collect, &ids); /* collected first: emitting changes the view */
	for (uint32_t i = 0; i < ids.n && rc == AL_OK; i++)
		rc = emit_member(c, ids.v[i], e, (al_str){"", 0}, false);
	return rc;
}

/* ---- reading --------------------------------------------------------------------------------- */

/* The actor may read the project: an admin or monitor of its domain, or a member. */
static bool may_read(al_cmd *c, al_str domain, al_str id)
{
	if (al__sees_domain(c, domain))
		return true;
	const char *me = c->actor->user;
	return me && is_member(c, id, (al_str){me, strlen(me)});
}

int al__project_get(al_cmd *c)
{
	al_str domain = al__domain_arg(c), name, id = {"", 0};
	msgpack_object row;
	al__arg_str(c, "name", &name);
	int rc = find_by_name(c, domain, name, &id, &row);
	if (rc < 0)
		return rc;
	/* Someone who may not read the domain learns nothing, not even whether the project exists. */
	if (!may_read(c, domain, id))
		return al__authz_deny(c);
	if (rc == 0)
		return not_found(c, domain, name);
	pack_public(c, &row, c->out, true);
	return AL_OK;
}

typedef struct list_ctx {
	al_rows rows;
	bool member_only; /* only the projects me is a member of */
	al_str me;
} list_ctx;

/* One entry of the names index (its value the project's id): the project, when listed. */
static int list_one(al_cmd *c, al_str rest, const MDB_val *val, void *ctx)
{
	list_ctx *l = ctx;
	al_str id = {val->mv_data, val->mv_size};
	msgpack_object row;
	(void)rest;
	if (l->member_only && !is_member(c, id, l->me))
		return AL_OK;
	int rc = find_by_id(c, id, &row);
	if (rc == 1) {
		pack_public(c, &row, &l->rows.pk, false);
		return al__rows_push(c, &l->rows);
	}
	return rc == 0 ? al_err(c->err, AL_ECORRUPT, "project index points to a missing project") : rc;
}

int al__project_list(al_cmd *c)
{
	al_str domain = {"", 0};
	bool by_domain = al__arg_str(c, "domain", &domain);
	bool member_only = false;
	if (!al__is_superadmin(c)) {
		const char *own = c->actor->domain ? c->actor->domain : "";
		if (by_domain && !al_str_eq(domain, own))
			return al__authz_deny(c);
		domain = (al_str){own, strlen(own)};
		by_domain = true;
		member_only = !al__sees_domain(c, domain); /* a user: its own projects */
	}
	char prefix[KEY_MAX];
	size_t pn = by_domain ? al__key2(prefix, KEY_MAX, 0, domain, (al_str){"", 0}) : 0;
	const char *me = c->actor->user ? c->actor->user : "";
	list_ctx l = {.member_only = member_only, .me = {me, strlen(me)}};
	al__rows_begin(c, &l.rows);
	int rc = al__scan_prefix_as(c, dbi(c, DB_NAMES), "list projects", prefix, pn, "projects", list_one, &l);
	return al__rows_end(c, &l.rows, rc);
}

int al__project_require(al_cmd *c, const char *field, al_str domain, al_str name, al_str *id)
{
	msgpack_object row;
	bool active = true;
	int rc = find_by_name(c, domain, name, id, &row);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: no project named %.*s in domain %.*s", field,
			      al__clip(name.n), name.p, al__clip(domain.n), domain.p);
	al_mp_bool(&row, "is_active", &active);
	if (!active)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: project %.*s in domain %.*s is inactive", field,
			      al__clip(name.n), name.p, al__clip(domain.n), domain.p);
	return AL_OK;
}

int al__project_find(al_cmd *c, al_str domain, al_str name, al_str *id, msgpack_object *row)
{
	return find_by_name(c, domain, name, id, row);
}

int al__project_row(al_cmd *c, al_str id, msgpack_object *row) { return find_by_id(c, id, row); }

bool al__project_has_member(al_cmd *c, al_str id, al_str email) { return is_member(c, id, email); }
int al__project_lookup(al_cmd *c, al_str domain, al_str name, al_str *id, bool *active)
{
	msgpack_object row;
	int rc = find_by_name(c, domain, name, id, &row);
	if (rc == 1) {
		*active = true;
		al_mp_bool(&row, "is_active", active);
	}
	return rc;
}

int al__project_by_id(al_cmd *c, al_str id, al_str *domain, al_str *name, bool *active)
{
	msgpack_object row;
	int rc = find_by_id(c, id, &row);
	if (rc != 1)
		return rc;
	*domain = *name = (al_str){"", 0};
	*active = true;
	al_mp_str(&row, "domain", domain);
	al_mp_str(&row, "name", name);
	al_mp_bool(&row, "is_active", active);
	*domain = al__keep(c, "", *domain);
	*name = al__keep(c, "", *name);
	return 1;
}

int al__projects_count_policy(al_cmd *c, al_str name, uint64_t *n)
{
	return al__count_rows_eq(c, AL_P_PROJECTS, DB_PROJECTS, "read projects", "a project", "resource_policy", name,
				 n);
}

static int cmp_str(const void *a, const void *b)
{
	const al_str *x = a, *y = b;
	int r = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
	return r ? r : (x->n > y->n) - (x->n < y->n);
}

/* The names of the user's projects, sorted. */
static int user_project_names(al_cmd *c, al_str email, al_strs *names)
{
	al_strs ids = {0};
	int rc = scan_members(c, 'u', email, collect, &ids);
	for (uint32_t i = 0; i < ids.n && rc == AL_OK; i++) {
		msgpack_object row;
		al_str name;
		if ((rc = find_by_id(c, ids.v[i], &row)) == 1 && al_mp_str(&row, "name", &name) == 1)
			rc = al__strs_add(c, names, name);
		else if (rc >= 0)
			rc = al_err(c->err, AL_ECORRUPT, "membership of a missing project");
	}
	if (rc == AL_OK && names->n > 1)
		qsort(names->v, names->n, sizeof *names->v, cmp_str);
	return rc;
}

int al__user_projects_pack(al_cmd *c, al_str email, msgpack_packer *pk)
{
	al_strs names = {0};
	int rc = user_project_names(c, email, &names);
	if (rc)
		return rc;
	msgpack_pack_array(pk, names.n);
	for (uint32_t i = 0; i < names.n; i++)
		al_pack_str(pk, names.v[i].p, names.v[i].n);
	return AL_OK;
}

int al__user_projects_join(al_cmd *c, al_str email, char *buf, size_t n)
{
	al_strs names = {0};
	int rc = user_project_names(c, email, &names);
	size_t used = 0;
	if (n)
		buf[0] = 0;
	for (uint32_t i = 0; i < names.n && rc == AL_OK; i++) {
		size_t need = names.v[i].n + (i ? 1 : 0);
		if (used + need + 1 > n)
			return al_err(c->err, AL_EINTERNAL, "projects of %.*s: %zu bytes do not hold the names", al__clip(email.n),
				      email.p, n);
		if (i)
			buf[used++] = ';';
		memcpy(buf + used, names.v[i].p, names.v[i].n);
		used += names.v[i].n;
		buf[used] = 0;
	}
	return rc;
}

/* For images (images.c): the registries that the active projects of a user allow. */
int al__user_project_registries(al_cmd *c, al_str email, int (*fn)(al_cmd *c, al_str host, void *ctx), void *ctx)
{
	al_strs ids = {0};
	int rc = scan_members(c, 'u', email, collect, &ids);
	for (uint32_t i = 0; i < ids.n && rc == AL_OK; i++) {
		msgpack_object row;
		bool active = true;
		if ((rc = find_by_id(c, ids.v[i], &row)) != 1) {
			rc = rc < 0 ? rc : al_err(c->err, AL_ECORRUPT, "membership of a missing project");
			break;
		}
		rc = AL_OK;
		al_mp_bool(&row, "is_active", &active);
		const msgpack_object *l = al_mp_get(&row, "allowed_docker_registries");
		for (uint32_t k = 0; active && l && l->type == MSGPACK_OBJECT_ARRAY && k < l->via.array.size && rc == AL_OK;
		     k++)
			if (l->via.array.ptr[k].type == MSGPACK_OBJECT_STR)
				rc = fn(c, (al_str){l->via.array.ptr[k].via.str.ptr, l->via.array.ptr[k].via.str.size}, ctx);
	}
	return rc;
}
