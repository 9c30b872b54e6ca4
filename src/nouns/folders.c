/*
 * folders.c - storage folders (vfolders) of users and projects (platform model §8; the guide's
 * "Share project storage folders with project members").
 *
 * Views:
 *   v_folders       id -> {id, name, host, ownership_type, user, project_id, domain, permission,
 *                   creator, quota_scope_id, created_at}, columns in that order; user is the
 *                   owner's email of a user folder, project_id the project of a project folder
 *                   ("" otherwise)
 *   v_folder_names  quota_scope_id "\0" name -> id: names are unique per owner (a user's scope
 *                   "user:UUID" or a project's "project:UUID"), and a prefix scan counts them
 *
 * Creation rules, checked in this order before the event: the name; the permission; the host
 * is registered; the owner (a user folder belongs to the acting user; a project folder needs
 * the project-folders setting and an admin of the project's domain, and the project must be
 * active); the name is free for that owner; the host allows create-vfolder in the union of the
 * (active) domain's, the project's and the creator's keypair resource policy's
 * allowed_vfolder_hosts, unless the actor is a superadmin; and the owner's folder count is
 * below the limits (user folders: the keypair policy's max_folders and the user policy's
 * max_folder_count; project folders: the project policy's max_folder_count).
 *
 * Visibility: a user sees its own folders and, without any invitation, the folders of every
 * project it belongs to; an admin or monitor also sees the folders of its domain (its users'
 * and projects'); a superadmin sees all. Deletion is immediate (no trash, no purge step).
 */
#include <stdio.h>
#include <string.h>

#include "core/authz.h"
#include "core/validate.h"
#include "nouns/nouns.h"
#include "util/row.h"

enum { DB_FOLDERS, DB_NAMES };

#define NAME_MAX_LEN 64
#define KEY_MAX 511

static const char *const perms[] = {"ro", "rw", "wd", NULL};


/* ---- projection ------------------------------------------------------------------------------ */

static int apply_created(const al_view *v, const al_event *e, al_error *err)
{
	al_str scope = {"", 0}, name = {"", 0};
	char key[KEY_MAX];
	al_mp_str(&e->fields, "quota_scope_id", &scope);
	al_mp_str(&e->fields, "name", &name);
	size_t kn = al__key2(key, KEY_MAX, 0, scope, name);
	if (kn == 0 || e->id.n == 0 || e->id.n > AL_MAX_ID)
		return al_err(err, AL_ECORRUPT, "event %llu: folder.created without id, scope or name",
			      (unsigned long long)e->seq);
	static const char *const cols[] = {"id", "name", "host", "ownership_type", "user", "project_id",
					   "domain", "permission", "creator", "quota_scope_id"};
	msgpack_packer pk;
	msgpack_sbuffer *b = al__view_row(v, &pk);
	msgpack_pack_map(&pk, 11);
	for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
		al__row_col(&pk, cols[i], 's', NULL, &e->fields);
	al_pack_cstr(&pk, "created_at");
	msgpack_pack_int64(&pk, e->time_us);
	int rc = al__view_put(v, DB_FOLDERS, e->id.p, e->id.n, b->data, b->size, err);
	return rc ? rc : al__view_put(v, DB_NAMES, key, kn, e->id.p, e->id.n, err);
}

static int apply_deleted(const al_view *v, const al_event *e, al_error *err)
{
	MDB_val val;
	msgpack_object row;
	al_str scope = {"", 0}, name = {"", 0};
	char id[AL_MAX_ID], key[KEY_MAX];
	if (e->id.n == 0 || e->id.n > sizeof id || al__view_get(v, DB_FOLDERS, e->id.p, e->id.n, &val) != 0 ||
	    al_mp_decode(val.mv_data, val.mv_size, &v->w->zone, &row) != 0)
		return al_err(err, AL_ECORRUPT, "event %llu: folder.deleted for an unknown folder", (unsigned long long)e->seq);
	memcpy(id, e->id.p, e->id.n);
	al_mp_str(&row, "quota_scope_id", &scope);
	al_mp_str(&row, "name", &name);
	size_t kn = al__key2(key, KEY_MAX, 0, scope, name); /* copied out of the row before it goes */
	int rc = kn ? al__view_del(v, DB_NAMES, key, kn, err) : al_err(err, AL_ECORRUPT, "a folder row has no scope");
	return rc ? rc : al__view_del(v, DB_FOLDERS, id, e->id.n, err);
}

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	if (e->def == al__ev(AL_EV_FOLDER_CREATED))
		return apply_created(v, e, err);
	if (e->def == al__ev(AL_EV_FOLDER_DELETED))
		return apply_deleted(v, e, err);
	return AL_OK;
}

/* v2: folders and their per-owner names. */
/* The event types apply reads: the engine calls it for these only. */
static const enum al_ev_id applies_to[] = {AL_EV_FOLDER_CREATED, AL_EV_FOLDER_DELETED, AL_EV__COUNT};
const al_projection al__proj_folders = {"folders", 2, {"v_folders", "v_folder_names", NULL}, apply,
	.on = applies_to};

/* ---- queries --------------------------------------------------------------------------------- */

static MDB_dbi dbi(al_cmd *c, int db) { return al__view_dbi(c->s, AL_P_FOLDERS, db); }

/* The id of the folder named name of scope (kept in the zone): 1, 0 when none, or a negative code. */
static int find_name(al_cmd *c, al_str scope, al_str name, al_str *id)
{
	char key[KEY_MAX];
	MDB_val k = {al__key2(key, KEY_MAX, 0, scope, name), key}, v;
	int rc = k.mv_size ? mdb_get(c->txn, dbi(c, DB_NAMES), &k, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "read folder names: %s", mdb_strerror(rc));
	*id = al__keep(c, "", (al_str){v.mv_data, v.mv_size});
	return 1;
}

static int find_row(al_cmd *c, al_str id, msgpack_object *row)
{
	MDB_val k = {id.n, (void *)id.p}, v;
	int rc = id.n ? mdb_get(c->txn, dbi(c, DB_FOLDERS), &k, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return al_err(c->err, AL_ECORRUPT, "folder index points to a missing folder");
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "read folder: %s", mdb_strerror(rc));
	return al__decode_row(c, &v, row);
}

/* Who owns a folder now: the owner's current domain (a user may have moved) and the project's
 * current name (projects may be renamed). Strings live in z or the view. */
typedef struct owner_now {
	al_str user, project_id, project, domain;
	bool is_user;
} owner_now;

static int owner_now_of(al_cmd *c, const msgpack_object *row, msgpack_zone *z, owner_now *o)
{
	memset(o, 0, sizeof *o);
	o->user = o->project_id = o->project = o->domain = (al_str){"", 0};
	al_mp_str(row, "user", &o->user);
	al_mp_str(row, "project_id", &o->project_id);
	al_mp_str(row, "domain", &o->domain);
	o->is_user = o->user.n > 0;
	int rc;
	if (o->is_user) {
		al_user_auth u;
		if ((rc = al__user_auth_info(c->s, c->txn, o->user, &u, z, c->err)) == 1)
			o->domain = u.domain;
	} else {
		msgpack_object prow;
		if ((rc = al__project_row(c, o->project_id, &prow)) == 1)
			al_mp_str(&prow, "name", &o->project);
	}
	return rc < 0 ? rc : AL_OK;
}

static bool may_see(al_cmd *c, const owner_now *o)
{
	if (al__is_superadmin(c) || al__sees_domain(c, o->domain))
		return true;
	const char *me = c->actor->user;
	if (me == NULL)
		return false;
	al_str mine = {me, strlen(me)};
	return o->is_user ? al__is_self(c, o->user) : al__project_has_member(c, o->project_id, mine);
}

/* The public view of a folder. */
static void pack_public(al_cmd *c, const msgpack_object *row, const owner_now *o, msgpack_packer *pk)
{
	static const char *const head[] = {"id", "name", "host", "ownership_type"},
				 *const tail[] = {"permission", "creator", "quota_scope_id"};
	msgpack_pack_map(pk, 13);
	for (size_t i = 0; i < sizeof head / sizeof *head; i++)
		al__row_col(pk, head[i], 's', row, NULL);
	al_pack_cstr(pk, "user");
	al_pack_str(pk, o->user.p, o->user.n);
	al_pack_cstr(pk, "project");
	al_pack_str(pk, o->project.p, o->project.n);
	al_pack_cstr(pk, "domain");
	al_pack_str(pk, o->domain.p, o->domain.n);
	for (size_t i = 0; i < sizeof tail / sizeof *tail; i++)
		al__row_col(pk, tail[i], 's', row, NULL);
	al_pack_cstr(pk, "status");
	al_pack_cstr(pk, "ready");
	int64_t created_at = 0;
	char t[40];
	al_mp_int(row, "created_at", &created_at);
	al_pack_cstr(pk, "created_at");
	al_pack_cstr(pk, al_time_format(created_at, t, sizeof t));
	al_str id = {"", 0};
	al_mp_str(row, "id", &id);
	al_pack_cstr(pk, "version");
	msgpack_pack_uint64(pk, al__cmd_version(c, "folder", id));
}

/* ---- names --------------------------------------------------------------------------------- */

static bool lower_alnum(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); }

/* ^\.[a-z0-9]+SUFFIX$: shell start-up files such as .bashrc and .bash_profile. */
static bool dotfile(al_str n, const char *suffix)
{
	size_t sn = strlen(suffix);
	if (n.n < 2 + sn || n.p[0] != '.' || memcmp(n.p + n.n - sn, suffix, sn) != 0)
		return false;
	for (size_t i = 1; i < n.n - sn; i++)
		if (!lower_alnum(n.p[i]))
			return false;
	return true;
}

/* The platform's rules (M/defs.py): at most 64 characters, none of the names that would shadow
 * a session's home directory files; here also a fixed alphabet, so that a name is a safe path
 * component (the platform's /bin, /etc, ... are impossible without '/'). */
static int check_name(al_cmd *c, al_str n, bool project)
{
	static const char *const reserved[] = {".terminfo", ".jupyter", ".tmux.conf", ".ssh", NULL};
	if (n.n == 0 || n.n > NAME_MAX_LEN)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "name: 1 to %d characters", NAME_MAX_LEN);
	for (size_t i = 0; i < n.n; i++) {
		char ch = n.p[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '_' || ch == '-'))
			return al_err(c->err, AL_EINVALID_ARGUMENT, "name: only letters, digits, '.', '_' and '-'");
	}
	if (al_str_eq(n, ".") || al_str_eq(n, ".."))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "name: . and .. are not folder names");
	for (size_t i = 0; reserved[i]; i++)
		if (al_str_eq(n, reserved[i]))
			return al_err(c->err, AL_EINVALID_ARGUMENT, "name: %s is reserved", reserved[i]);
	if (dotfile(n, "rc") || dotfile(n, "_profile"))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "name: %.*s is reserved (a shell start-up file)", al__clip(n.n), n.p);
	if (project && n.p[0] == '.' && !al_str_eq(n, ".local"))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "name: a project folder's name may not start with '.' (but .local)");
	return AL_OK;
}

/* ---- the owner a command names ------------------------------------------------------------------- */

typedef struct owner {
	bool is_user;
	al_str scope, domain, user, user_policy, project, project_id, project_policy;
	msgpack_object project_row;
} owner;

/* A user folder belongs to the acting user: an operator without one (adminctl without --as)
 * owns none. */
static int user_owner(al_cmd *c, owner *o)
{
	if (c->actor->user == NULL || c->actor->user[0] == 0)
		return al_err(c->err, AL_EPERMISSION_DENIED,
			      "%s: a user folder is its user's; an operator acts as that user (adminctl --as EMAIL) or "
			      "names a project (--project)",
			      c->def->op);
	al_str me = {c->actor->user, strlen(c->actor->user)};
	al_user_auth u;
	int rc = al__user_auth_info(c->s, c->txn, me, &u, c->zone, c->err);
	if (rc == 0)
		return al_err(c->err, AL_ENOT_FOUND, "user %.*s: not found", al__clip(me.n), me.p);
	if (rc < 0)
		return rc;
	o->is_user = true;
	o->user = al__keep(c, "", u.email);
	o->domain = al__keep(c, "", u.domain);
	o->user_policy = al__keep(c, "", u.resource_policy.n ? u.resource_policy : (al_str){"default", 7});
	o->scope = al__keep(c, "user:", u.id);
	return AL_OK;
}

/* A project named by --project and --domain. With manage, the actor must administer the
 * domain (checked before the lookup, so that nothing about another domain is revealed);
 * otherwise it must see the domain or be a member. */
static int project_owner(al_cmd *c, owner *o, bool manage)
{
	al_str name;
	al__arg_str(c, "project", &name);
	o->domain = al__keep(c, "", al__domain_arg(c));
	int rc = manage ? al__authz_manage_domain(c, o->domain) : AL_OK;
	if (rc)
		return rc;
	al_str id = {"", 0};
	if ((rc = al__project_find(c, o->domain, name, &id, &o->project_row)) < 0)
		return rc;
	const char *me = c->actor->user;
	if (!manage && !al__sees_domain(c, o->domain) &&
	    !(rc == 1 && me && al__project_has_member(c, id, (al_str){me, strlen(me)})))
		return al__authz_deny(c);
	if (rc == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "project: no project named %.*s in domain %.*s", al__clip(name.n),
			      name.p, al__clip(o->domain.n), o->domain.p);
	al_str policy = {"default", 7};
	al_mp_str(&o->project_row, "resource_policy", &policy);
	o->is_user = false;
	o->project = al__keep(c, "", name);
	o->project_id = id;
	o->project_policy = al__keep(c, "", policy);
	o->scope = al__keep(c, "project:", id);
	return AL_OK;
}

/* The owner of the folder a get or delete names (--project or the actor's own). */
static int named_owner(al_cmd *c, owner *o, bool manage)
{
	al_str d;
	memset(o, 0, sizeof *o);
	if (al__arg_str(c, "project", &d))
		return project_owner(c, o, manage);
	if (al__arg_str(c, "domain", &d))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "domain: only with --project");
	return user_owner(c, o);
}

/* ---- creation checks --------------------------------------------------------------------------- */

static bool same_str(msgpack_object o, al_str s)
{
	return o.type == MSGPACK_OBJECT_STR && o.via.str.size == s.n && memcmp(o.via.str.ptr, s.p, s.n) == 0;
}

/* Whether a map host -> [permission, ...] grants create-vfolder on host. */
static bool grants_create(const msgpack_object *map, al_str host)
{
	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return false;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_ARRAY ||
		    !same_str(kv->key, host))
			continue;
		for (uint32_t k = 0; k < kv->val.via.array.size; k++)
			if (al_mp_str_eq(&kv->val.via.array.ptr[k], "create-vfolder"))
				return true;
	}
	return false;
}

/* A limit option of a policy row: its value, or -1 when unlimited (or absent). */
static int64_t limit_of(const msgpack_object *row, const char *key)
{
	const msgpack_object *v = row ? al_mp_get(row, key) : NULL;
	if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (int64_t)v->via.u64;
	if (v && (v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32))
		return (int64_t)v->via.f64;
	return -1;
}

/* The creator's keypair resource policy row (its main keypair's, else its first active one);
 * 0 when the actor is an operator or has no active keypair. */
static int creator_policy(al_cmd *c, msgpack_object *row, al_str *name)
{
	if (c->actor->user == NULL || c->actor->user[0] == 0)
		return 0;
	al_keypair_info kp;
	int rc = al__keypair_of_user(c->s, c->txn, (al_str){c->actor->user, strlen(c->actor->user)}, &kp, c->zone, c->err);
	if (rc != 1)
		return rc;
	*name = al__keep(c, "", kp.resource_policy);
	return al__policy_row(c->s, c->txn, AL_POLICY_KEYPAIR, *name, c->zone, row, c->err);
}

/* The host allows create-vfolder in the union of the domain's (when active), the project's
 * and the keypair policy's allowed hosts. A superadmin may use any registered host. */
static int check_host_allowed(al_cmd *c, const owner *o, al_str host, const msgpack_object *kp_row)
{
	if (al__is_superadmin(c))
		return AL_OK;
	msgpack_object drow;
	bool active = false;
	int rc = al__domain_row(c, o->domain, &drow);
	if (rc < 0)
		return rc;
	if (rc == 1)
		al_mp_bool(&drow, "is_active", &active);
	if ((rc == 1 && active && grants_create(al_mp_get(&drow, "allowed_vfolder_hosts"), host)) ||
	    (!o->is_user && grants_create(al_mp_get(&o->project_row, "allowed_vfolder_hosts"), host)) ||
	    (kp_row && grants_create(al_mp_get(kp_row, "allowed_hosts"), host)))
		return AL_OK;
	return al_err(c->err, AL_EPERMISSION_DENIED,
		      "host: %.*s does not allow creating folders here (none of the allowed hosts of the domain, %sthe "
		      "keypair resource policy grants create-vfolder)",
		      al__clip(host.n), host.p, o->is_user ? "" : "the project or ");
}

/* The owner's folder count is below its limits. */
static int check_count(al_cmd *c, const owner *o, const msgpack_object *kp_row, al_str kp_name)
{
	uint64_t owned = 0;
	int rc = al__count_range(c, AL_P_FOLDERS, DB_NAMES, o->scope, &owned); /* the scope's folder names */
	int64_t have = (int64_t)owned;
	if (rc)
		return rc;
	if (o->is_user) {
		int64_t max = limit_of(kp_row, "max_folders");
		if (max >= 0 && have >= max)
			return al_err(c->err, AL_ELIMIT_EXCEEDED,
				      "max_folders: %.*s has %lld folders; keypair resource policy %.*s allows %lld",
				      al__clip(o->user.n), o->user.p, (long long)have, al__clip(kp_name.n), kp_name.p, (long long)max);
	}
	msgpack_object prow;
	al_str pname = o->is_user ? o->user_policy : o->project_policy;
	rc = al__policy_row(c->s, c->txn, o->is_user ? AL_POLICY_USER : AL_POLICY_PROJECT, pname, c->zone, &prow, c->err);
	if (rc < 0)
		return rc;
	int64_t max = rc == 1 ? limit_of(&prow, "max_folder_count") : -1;
	if (max >= 0 && have >= max)
		return al_err(c->err, AL_ELIMIT_EXCEEDED, "max_folder_count: %s %.*s has %lld folders; %s resource policy %.*s allows %lld",
			      o->is_user ? "user" : "project", al__clip((o->is_user ? o->user : o->project).n),
			      (o->is_user ? o->user : o->project).p, (long long)have, o->is_user ? "user" : "project",
			      al__clip(pname.n), pname.p, (long long)max);
	return AL_OK;
}

/* Project folders exist only while the project-folders setting allows them. */
static int check_project_folders_allowed(al_cmd *c)
{
	char v[16];
	int rc = al__setting_get(c->s, c->txn, "project-folders", v, sizeof v, "true", c->err);
	if (rc)
		return rc;
	if (strcmp(v, "true") == 0)
		return AL_OK;
	return al_err(c->err, AL_EPERMISSION_DENIED, "project: project folders are not allowed (setting project-folders is %s)",
		      v);
}

/* ---- commands ---------------------------------------------------------------------------------- */

/* Packs the folder with this id onto pk. */
static int pack_by_id(al_cmd *c, al_str id, msgpack_packer *pk)
{
	msgpack_object row;
	owner_now o;
	int rc = find_row(c, id, &row);
	if (rc == AL_OK)
		rc = owner_now_of(c, &row, c->zone, &o);
	if (rc == AL_OK)
		pack_public(c, &row, &o, pk);
	return rc;
}

int al__folder_create(al_cmd *c)
{
	al_str name, host, perm = {"rw", 2}, id = {"", 0}, d;
	owner o;
	memset(&o, 0, sizeof o);
	al__arg_str(c, "name", &name);
	al__arg_str(c, "host", &host);
	al__arg_str(c, "permission", &perm);
	al_mp_str(c->prep, "id", &id);
	bool is_project = al__arg_str(c, "project", &d);
	int rc;
	if ((rc = check_name(c, name, is_project)) || (rc = al__check_enum(c->err, "permission", perm, perms)))
		return rc;
	if (!is_project && al__arg_str(c, "domain", &d))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "domain: only with --project");
	if ((rc = al__storage_host(c->s, c->txn, host, NULL, c->err)) <= 0)
		return rc < 0 ? rc
			      : al_err(c->err, AL_EINVALID_ARGUMENT, "host: no storage host named %.*s", al__clip(host.n), host.p);
	if (is_project && ((rc = check_project_folders_allowed(c)) || (rc = project_owner(c, &o, true))))
		return rc;
	if (!is_project && (rc = user_owner(c, &o)))
		return rc;
	bool active = true;
	if (!o.is_user && al_mp_bool(&o.project_row, "is_active", &active) == 1 && !active)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "project: project %.*s is inactive", al__clip(o.project.n), o.project.p);
	al_str other;
	if ((rc = find_name(c, o.scope, name, &other)) < 0)
		return rc;
	if (rc == 1)
		return al_err(c->err, AL_EALREADY_EXISTS, "name: %s %.*s already has a folder named %.*s",
			      o.is_user ? "user" : "project", al__clip((o.is_user ? o.user : o.project).n),
			      (o.is_user ? o.user : o.project).p, al__clip(name.n), name.p);
	msgpack_object kp_row;
	al_str kp_name = {"", 0};
	int has_kp = creator_policy(c, &kp_row, &kp_name);
	if (has_kp < 0)
		return has_kp;
	if ((rc = check_host_allowed(c, &o, host, has_kp == 1 ? &kp_row : NULL)) ||
	    (rc = check_count(c, &o, has_kp == 1 ? &kp_row : NULL, kp_name)))
		return rc;
	if (id.n == 0)
		return al_err(c->err, AL_EINTERNAL, "folder.create needs a prepared id");
	const char *creator = c->actor->user && c->actor->user[0] ? c->actor->user : c->actor->name;
	al_mb f;
	al_mb_init(&f);
	al_mb_str(&f, "id", id.p, id.n);
	al_mb_str(&f, "name", name.p, name.n);
	al_mb_str(&f, "host", host.p, host.n);
	al_mb_cstr(&f, "ownership_type", o.is_user ? "user" : "project");
	if (o.is_user)
		al_mb_str(&f, "user", o.user.p, o.user.n);
	else
		al_mb_str(&f, "project_id", o.project_id.p, o.project_id.n);
	al_mb_str(&f, "domain", o.domain.p, o.domain.n);
	al_mb_str(&f, "permission", perm.p, perm.n);
	al_mb_cstr(&f, "creator", creator);
	al_mb_str(&f, "quota_scope_id", o.scope.p, o.scope.n);
	rc = al__emit(c, AL_EV_FOLDER_CREATED, id, &f);
	al_mb_free(&f);
	return rc ? rc : pack_by_id(c, id, c->out);
}

/* The folder a get or delete names: its id. */
static int named_folder(al_cmd *c, bool manage, al_str *id)
{
	al_str name;
	owner o;
	al__arg_str(c, "name", &name);
	int rc = named_owner(c, &o, manage);
	if (rc)
		return rc;
	if ((rc = find_name(c, o.scope, name, id)) < 0)
		return rc;
	if (rc == 0)
		return al_err(c->err, AL_ENOT_FOUND, "folder %.*s of %s %.*s: not found", al__clip(name.n), name.p,
			      o.is_user ? "user" : "project", al__clip((o.is_user ? o.user : o.project).n),
			      (o.is_user ? o.user : o.project).p);
	return AL_OK;
}

int al__folder_get(al_cmd *c)
{
	al_str id;
	int rc = named_folder(c, false, &id);
	return rc ? rc : pack_by_id(c, id, c->out);
}

int al__folder_delete(al_cmd *c)
{
	al_str id;
	int rc = named_folder(c, true, &id);
	if (rc)
		return rc;
	/* The result is the folder as it was, packed aside before it goes. */
	msgpack_sbuffer b;
	msgpack_packer pk;
	msgpack_sbuffer_init(&b);
	msgpack_packer_init(&pk, &b, al_sbuffer_write);
	rc = pack_by_id(c, id, &pk);
	if (rc == AL_OK)
		rc = al__emit(c, AL_EV_FOLDER_DELETED, id, NULL);
	if (rc == AL_OK)
		c->out->callback(c->out->data, b.data, b.size);
	al_sbuffer_destroy(&b);
	return rc;
}

typedef struct folder_list {
	al_rows rows;
	msgpack_zone z; /* what the owner's look-up decodes, one row at a time */
} folder_list;

static int list_one(al_cmd *c, al_str key, const msgpack_object *row, void *ctx)
{
	folder_list *l = ctx;
	owner_now o;
	int rc;
	(void)key;
	msgpack_zone_clear(&l->z);
	if ((rc = owner_now_of(c, row, &l->z, &o)) || !may_see(c, &o))
		return rc;
	pack_public(c, row, &o, &l->rows.pk);
	return al__rows_push(c, &l->rows);
}

int al__folder_list(al_cmd *c)
{
	folder_list l;
	msgpack_zone_init(&l.z, 1024);
	al__rows_begin(c, &l.rows);
	int rc = al__each_row(c, dbi(c, DB_FOLDERS), "list folders", "a folder", "folders", list_one, &l);
	msgpack_zone_destroy(&l.z);
	return al__rows_end(c, &l.rows, rc);
}
