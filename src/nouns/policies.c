/*
 * policies.c - the resource policy nouns: keypair resource policies (session limits, noun
 * `policy`), user resource policies and project resource policies (storage limits, nouns
 * `user-policy` and `project-policy`). One table per kind (kinds[]) drives the commands, the
 * events and the view, so the three kinds follow the same rules.
 *
 * Views, one per kind (v_keypair_policies, v_user_policies, v_project_policies):
 *   name -> {name, [default_for_unspecified], each option of the kind in table order,
 *            [allowed_hosts: {host: [permission, ...]}], created_at, modified_at}
 * An option's value is an integer, a double (fgpu only: a multiple of 0.1) or "unlimited".
 *
 * The name is the key: unique within its kind and never renamed (update has no rename
 * argument). Delete removes the row and only the row: the events stay in the log, and a later
 * create may reuse the name, continuing the entity's history (and so its version).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/validate.h"
#include "nouns/nouns.h"
#include "util/resources.h"
#include "util/row.h"

/* ---- the options of each kind -------------------------------------------------------------- */

enum { OPT_FRAC = 1, OPT_BYTES = 2 };

/* A limit option: a number in [0, max] or unlimited. */
typedef struct limit_opt {
	const char *name;
	double max;
	double def; /* the value when create omits it: AL_UNLIMITED or a number */
	unsigned flags; /* OPT_FRAC: steps of 0.1 (else whole numbers); OPT_BYTES: a STR argument
			 * holding a size ("100g", plain bytes) or "unlimited" */
} limit_opt;

#define QUOTA_MAX 1152921504606846976.0 /* 2^60 bytes, 1 EiB */

/* Maxima from the admin guide; where it gives none (documented in the command table):
 * session_lifetime one year, pending sessions 1000, SFTP sessions, sessions per model service
 * and customized images 100. */
static const limit_opt keypair_opts[] = {
	{"cpu", 512, AL_UNLIMITED, 0},
	{"ram_gb", 1024, AL_UNLIMITED, 0},
	{"gpu", 64, AL_UNLIMITED, 0},
	{"fgpu", 256, AL_UNLIMITED, OPT_FRAC},
	{"containers_per_session", 100, AL_UNLIMITED, 0},
	{"idle_timeout", 15552000, AL_UNLIMITED, 0},
	{"concurrent_jobs", 100, AL_UNLIMITED, 0},
	{"session_lifetime", 31536000, AL_UNLIMITED, 0},
	{"capacity_gb", 1024, AL_UNLIMITED, 0},
	{"max_folders", 100, AL_UNLIMITED, 0},
	{"max_pending_session_count", 1000, AL_UNLIMITED, 0},
	{"max_concurrent_sftp_sessions", 100, 1, 0}, /* the platform's server default */
};

static const limit_opt user_opts[] = {
	{"max_folder_count", 100, AL_UNLIMITED, 0},
	{"max_quota_size", QUOTA_MAX, AL_UNLIMITED, OPT_BYTES},
	{"max_session_count_per_model_session", 100, AL_UNLIMITED, 0},
	{"max_customized_image_count", 100, 3, 0}, /* the platform's default */
};

static const limit_opt project_opts[] = {
	{"max_folder_count", 100, AL_UNLIMITED, 0},
	{"max_quota_size", QUOTA_MAX, AL_UNLIMITED, OPT_BYTES},
};

typedef struct kind {
	const char *what;      /* in messages: "keypair resource policy" */
	const char *entity;    /* the entity kind of its events */
	const char *followers; /* what follows a policy of this kind */
	enum al_ev_id created, updated, deleted;
	const limit_opt *opts;
	size_t nopts;
	bool session; /* has default_for_unspecified and allowed_hosts (keypair policies) */
	int (*count)(al_cmd *c, al_str name, uint64_t *n);
} kind;

/* Indexed by enum al_policy_kind, which is also the index of the kind's view. */
static const kind kinds[] = {
	{"keypair resource policy", "keypair_policy", "keypairs", AL_EV_KEYPAIR_POLICY_CREATED,
	 AL_EV_KEYPAIR_POLICY_UPDATED, AL_EV_KEYPAIR_POLICY_DELETED, keypair_opts,
	 sizeof keypair_opts / sizeof *keypair_opts, true, al__keypairs_count_policy},
	{"user resource policy", "user_policy", "users", AL_EV_USER_POLICY_CREATED, AL_EV_USER_POLICY_UPDATED,
	 AL_EV_USER_POLICY_DELETED, user_opts, sizeof user_opts / sizeof *user_opts, false, al__users_count_policy},
	{"project resource policy", "project_policy", "projects", AL_EV_PROJECT_POLICY_CREATED,
	 AL_EV_PROJECT_POLICY_UPDATED, AL_EV_PROJECT_POLICY_DELETED, project_opts,
	 sizeof project_opts / sizeof *project_opts, false, al__projects_count_policy},
};
#define NKINDS (sizeof kinds / sizeof *kinds)

static const char *const for_unspecified[] = {"limited", "unlimited", NULL};

#define NAME_MAX_LEN 256


/* ---- limit values ---------------------------------------------------------------------------- */

typedef struct lim {
	bool unlimited;
	double v;
} lim;

static void pack_lim(msgpack_packer *pk, lim l)
{
	if (l.unlimited)
		al_pack_cstr(pk, "unlimited");
	else if (l.v == floor(l.v))
		msgpack_pack_uint64(pk, (uint64_t)l.v);
	else
		msgpack_pack_double(pk, l.v);
}

/* A stored value (row or event field); anything but a number reads as unlimited. */
static lim obj_lim(const msgpack_object *o)
{
	if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (lim){false, (double)o->via.u64};
	if (o && (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32))
		return (lim){false, o->via.f64};
	return (lim){true, 0};
}

static bool lim_eq(lim a, lim b) { return a.unlimited == b.unlimited && (a.unlimited || a.v == b.v); }

/* Range, whole-number and step rules; *out is the normalised value. */
static int check_value(al_error *err, const limit_opt *o, double v, lim *out)
{
	char given[40]; /* the value as given, in errors: 256.1, never 256.10000000000002 */
	al_double_str(v, given, sizeof given);
	if (!(v >= 0))
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: must be a number >= 0 or unlimited", o->name);
	if (o->flags & OPT_FRAC) {
		double tenths = round(v * 10);
		if (fabs(v * 10 - tenths) > 1e-6)
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: must be a multiple of 0.1, got %s", o->name, given);
		v = tenths / 10; /* 0.30000000000000004 -> 0.3 */
	} else if (v != floor(v))
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: must be a whole number or unlimited, got %s", o->name, given);
	if (v > o->max) {
		if (o->flags & OPT_BYTES)
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: at most 1e (2^60 bytes) or unlimited", o->name);
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: at most %.0f or unlimited, got %s", o->name, o->max, given);
	}
	*out = (lim){false, v};
	return AL_OK;
}

/* 1 when the command gives option o (*out set), 0 when it does not, or a negative al_ code. */
static int arg_opt(al_cmd *c, const limit_opt *o, lim *out)
{
	double v;
	if (o->flags & OPT_BYTES) {
		al_str s;
		if (!al__arg_str(c, o->name, &s))
			return 0;
		if (al_str_eq(s, "unlimited")) {
			*out = (lim){true, 0};
			return 1;
		}
		int64_t b = al__parse_bytes(s.p, s.n);
		if (b < 0)
			return al_err(c->err, AL_EINVALID_ARGUMENT,
				      "%s: must be a size like 100g, a number of bytes or unlimited, got '%.*s'", o->name,
				      al__clip(s.n), s.p);
		v = (double)b;
	} else {
		if (!al__arg_limit(c, o->name, &v))
			return 0;
		if (v == AL_UNLIMITED) {
			*out = (lim){true, 0};
			return 1;
		}
	}
	int rc = check_value(c->err, o, v, out);
	return rc ? rc : 1;
}

/* ---- storage host permissions ------------------------------------------------------------------ */

/* The canonical text of a host map: "host:perm" entries joined by ',' (the map is already
 * sorted by host, each host's permissions in the platform's order). */
static void hosts_text(const msgpack_object *map, msgpack_sbuffer *out)
{
	out->size = 0;
	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *h = &map->via.map.ptr[i].key, *perms = &map->via.map.ptr[i].val;
		if (h->type != MSGPACK_OBJECT_STR || perms->type != MSGPACK_OBJECT_ARRAY)
			continue;
		for (uint32_t k = 0; k < perms->via.array.size; k++) {
			const msgpack_object *p = &perms->via.array.ptr[k];
			if (p->type != MSGPACK_OBJECT_STR)
				continue;
			if (out->size)
				al_sbuffer_write(out, ",", 1);
			al_sbuffer_write(out, h->via.str.ptr, h->via.str.size);
			al_sbuffer_write(out, ":", 1);
			al_sbuffer_write(out, p->via.str.ptr, p->via.str.size);
		}
	}
}

/* Parses the allowed_hosts argument and leaves its canonical text in out. */
static int hosts_canonical(al_cmd *c, al_str text, msgpack_sbuffer *out)
{
	msgpack_sbuffer map;
	msgpack_packer pk;
	msgpack_sbuffer_init(&map);
	msgpack_packer_init(&pk, &map, al_sbuffer_write);
	int rc = al__hostperms_pack(c->err, "allowed_hosts", text, &pk);
	msgpack_object m;
	if (rc == AL_OK && al_mp_decode(map.data, map.size, c->zone, &m) != 0)
		rc = al_err(c->err, AL_EINTERNAL, "allowed_hosts: the parsed map does not decode");
	if (rc == AL_OK)
		hosts_text(&m, out);
	al_sbuffer_destroy(&map);
	return rc;
}

/* ---- projection -------------------------------------------------------------------------------- */

static const kind *kind_of_event(const al_event *e, size_t *db)
{
	for (size_t i = 0; i < NKINDS; i++)
		if (e->def == al__ev(kinds[i].created) || e->def == al__ev(kinds[i].updated) ||
		    e->def == al__ev(kinds[i].deleted)) {
			*db = i;
			return &kinds[i];
		}
	return NULL;
}

/* The value of key: the event's when it carries one, else the old row's. */
static const msgpack_object *pick(const msgpack_object *fields, const msgpack_object *old, const char *key)
{
	const msgpack_object *v = al_mp_get(fields, key);
	return v || old == NULL ? v : al_mp_get(old, key);
}

static void pack_or_unlimited(msgpack_packer *pk, const char *key, const msgpack_object *v)
{
	al_pack_cstr(pk, key);
	if (v)
		msgpack_pack_object(pk, *v);
	else
		al_pack_cstr(pk, "unlimited");
}

/* Writes the row of e's policy: the event's fields over the old row (NULL for a create). */
static int put_row(const al_view *v, size_t db, const kind *k, const al_event *e, const msgpack_object *old,
		   al_error *err)
{
	msgpack_packer pk;
	msgpack_sbuffer *b = al__view_row(v, &pk);
	msgpack_pack_map(&pk, (uint32_t)(k->nopts + (k->session ? 5 : 3)));
	al_pack_cstr(&pk, "name");
	al_pack_str(&pk, e->id.p, e->id.n);
	if (k->session)
		pack_or_unlimited(&pk, "default_for_unspecified", pick(&e->fields, old, "default_for_unspecified"));
	for (size_t i = 0; i < k->nopts; i++)
		pack_or_unlimited(&pk, k->opts[i].name, pick(&e->fields, old, k->opts[i].name));
	if (k->session) {
		al_str text;
		const msgpack_object *h;
		al_pack_cstr(&pk, "allowed_hosts");
		if (al_mp_str(&e->fields, "allowed_hosts", &text) == 1) {
			/* the canonical text the handler recorded parses back into the same map */
			if (al__hostperms_pack(err, "allowed_hosts", text, &pk) != AL_OK)
				return al_err(err, AL_ECORRUPT, "event %llu: allowed_hosts does not parse: %s",
					      (unsigned long long)e->seq, err->msg);
		} else if (old && (h = al_mp_get(old, "allowed_hosts")) != NULL)
			msgpack_pack_object(&pk, *h);
		else
			msgpack_pack_map(&pk, 0);
	}
	int64_t created = e->time_us;
	if (old)
		al_mp_int(old, "created_at", &created);
	al__row_times(&pk, created, e->time_us);
	return al__view_put(v, (int)db, e->id.p, e->id.n, b->data, b->size, err);
}

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	size_t db;
	const kind *k = kind_of_event(e, &db);
	if (k == NULL)
		return AL_OK;
	if (e->def == al__ev(k->deleted))
		return al__view_del(v, (int)db, e->id.p, e->id.n, err);
	if (e->def == al__ev(k->created))
		return put_row(v, db, k, e, NULL, err);
	MDB_val val;
	msgpack_object old;
	if (al__view_get(v, (int)db, e->id.p, e->id.n, &val) != 0 ||
	    al_mp_decode(val.mv_data, val.mv_size, &v->w->zone, &old) != 0 || old.type != MSGPACK_OBJECT_MAP)
		return al_err(err, AL_ECORRUPT, "event %llu: %s for unknown %s %.*s", (unsigned long long)e->seq,
			      e->def->name, k->what, al__clip(e->id.n), e->id.p);
	return put_row(v, db, k, e, &old, err);
}

/* Version 2: one view per kind (version 1 was the stub's single empty v_policies). */
/* The event types apply reads: the engine calls it for these only. */
static const enum al_ev_id applies_to[] = {
	AL_EV_KEYPAIR_POLICY_CREATED, AL_EV_KEYPAIR_POLICY_UPDATED, AL_EV_KEYPAIR_POLICY_DELETED,
	AL_EV_USER_POLICY_CREATED, AL_EV_USER_POLICY_UPDATED, AL_EV_USER_POLICY_DELETED,
	AL_EV_PROJECT_POLICY_CREATED, AL_EV_PROJECT_POLICY_UPDATED, AL_EV_PROJECT_POLICY_DELETED,
	AL_EV__COUNT};
const al_projection al__proj_policies = {
	"policies", 2, {"v_keypair_policies", "v_user_policies", "v_project_policies", NULL}, apply,
	.on = applies_to};

/* ---- queries ------------------------------------------------------------------------------------ */

static MDB_dbi dbi_of(const al_store *s, const kind *k) { return al__view_dbi(s, AL_P_POLICIES, (int)(k - kinds)); }

/* 1 found (row decoded in z), 0 not found, or a negative al_ code. */
static int find_row(al_store *s, MDB_txn *txn, const kind *k, al_str name, msgpack_zone *z, msgpack_object *row,
		    al_error *err)
{
	MDB_val key = {name.n, (void *)name.p}, v;
	int rc = name.n ? mdb_get(txn, dbi_of(s, k), &key, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return al_err(err, AL_EIO_ERROR, "read %s: %s", k->what, mdb_strerror(rc));
	if (al_mp_decode(v.mv_data, v.mv_size, z, row) != 0 || row->type != MSGPACK_OBJECT_MAP)
		return al_err(err, AL_ECORRUPT, "a %s view row does not decode", k->what);
	return 1;
}

static int must_find(al_cmd *c, const kind *k, al_str name, msgpack_object *row)
{
	int rc = find_row(c->s, c->txn, k, name, c->zone, row, c->err);
	if (rc == 0)
		return al_err(c->err, AL_ENOT_FOUND, "%s %.*s: not found", k->what, al__clip(name.n), name.p);
	return rc < 0 ? rc : AL_OK;
}

/* The row as a result: times formatted, and the entity's version. Values are copied as they
 * are, so unlimited options read "unlimited" (also in --json). */
static void pack_public(al_cmd *c, const kind *k, const msgpack_object *row, msgpack_packer *pk)
{
	msgpack_pack_map(pk, row->via.map.size + 1);
	al_str name = {"", 0};
	for (uint32_t i = 0; i < row->via.map.size; i++) {
		const msgpack_object *key = &row->via.map.ptr[i].key, *val = &row->via.map.ptr[i].val;
		msgpack_pack_object(pk, *key);
		if ((al_mp_str_eq(key, "created_at") || al_mp_str_eq(key, "modified_at")) &&
		    (val->type == MSGPACK_OBJECT_POSITIVE_INTEGER || val->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)) {
			char t[40];
			al_pack_cstr(pk, al_time_format(val->via.i64, t, sizeof t));
		} else
			msgpack_pack_object(pk, *val);
		if (al_mp_str_eq(key, "name") && val->type == MSGPACK_OBJECT_STR)
			name = (al_str){val->via.str.ptr, val->via.str.size};
	}
	al_pack_cstr(pk, "version");
	msgpack_pack_uint64(pk, al__cmd_version(c, k->entity, name));
}

static int pack_current(al_cmd *c, const kind *k, al_str name)
{
	msgpack_object row;
	int rc = must_find(c, k, name, &row);
	if (rc == AL_OK)
		pack_public(c, k, &row, c->out);
	return rc;
}

int al__policy_require(al_cmd *c, enum al_policy_kind kd, const char *field, al_str name)
{
	if ((size_t)kd >= NKINDS)
		return al_err(c->err, AL_EINTERNAL, "%s: unknown policy kind %d", field, (int)kd);
	const kind *k = &kinds[kd];
	msgpack_object row;
	int rc = find_row(c->s, c->txn, k, name, c->zone, &row, c->err);
	if (rc == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: no %s named %.*s", field, k->what, al__clip(name.n), name.p);
	return rc < 0 ? rc : AL_OK;
}

int al__policy_quota(al_store *s, MDB_txn *txn, enum al_policy_kind kd, al_str name, int64_t *bytes, al_error *err)
{
	if (kd != AL_POLICY_USER && kd != AL_POLICY_PROJECT)
		return al_err(err, AL_EINVALID_ARGUMENT, "only user and project resource policies have a quota");
	msgpack_zone z;
	msgpack_object row;
	msgpack_zone_init(&z, 512);
	int rc = find_row(s, txn, &kinds[kd], name, &z, &row, err);
	if (rc == 1) {
		lim l = obj_lim(al_mp_get(&row, "max_quota_size"));
		*bytes = l.unlimited ? -1 : (int64_t)l.v;
	}
	msgpack_zone_destroy(&z);
	return rc;
}

int al__policy_row(al_store *s, MDB_txn *txn, enum al_policy_kind kd, al_str name, msgpack_zone *z,
		   msgpack_object *row, al_error *err)
{
	if ((size_t)kd >= NKINDS)
		return al_err(err, AL_EINTERNAL, "unknown policy kind %d", (int)kd);
	return find_row(s, txn, &kinds[kd], name, z, row, err);
}

/* ---- commands ---------------------------------------------------------------------------------- */

/* The slug rule of domain names with the platform's 256-character limit: ASCII letters,
 * digits, '.', '_', '-', starting and ending with a letter or digit. */
static int check_name(al_error *err, al_str s)
{
	if (s.n == 0 || s.n > NAME_MAX_LEN)
		return al_err(err, AL_EINVALID_ARGUMENT, "name: 1 to %d characters", NAME_MAX_LEN);
	for (size_t i = 0; i < s.n; i++) {
		unsigned char ch = (unsigned char)s.p[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
		if (!alnum && (i == 0 || i == s.n - 1 || (ch != '.' && ch != '_' && ch != '-')))
			return al_err(err, AL_EINVALID_ARGUMENT,
				      "name: letters, digits, '.', '_' and '-', starting and ending with a letter or digit");
	}
	return AL_OK;
}

/* The created event's fields from the arguments, every option present (omitted ones at their
 * default). Validates everything; emits nothing. */
static int created_fields(al_cmd *c, const kind *k, al_str name, al_mb *f)
{
	int rc;
	al_mb_str(f, "name", name.p, name.n);
	if (k->session) {
		al_str d = {"unlimited", 9};
		al__arg_str(c, "default_for_unspecified", &d);
		if ((rc = al__check_enum(c->err, "default_for_unspecified", d, for_unspecified)))
			return rc;
		al_mb_str(f, "default_for_unspecified", d.p, d.n);
	}
	for (size_t i = 0; i < k->nopts; i++) {
		const limit_opt *o = &k->opts[i];
		lim l = {o->def == AL_UNLIMITED, o->def};
		if ((rc = arg_opt(c, o, &l)) < 0)
			return rc;
		pack_lim(al_mb_key(f, o->name), l);
	}
	rc = AL_OK; /* arg_opt answered 1 for a given option */
	if (k->session) {
		al_str text = {"", 0};
		msgpack_sbuffer canon;
		msgpack_sbuffer_init(&canon);
		al__arg_str(c, "allowed_hosts", &text);
		rc = hosts_canonical(c, text, &canon);
		if (rc == AL_OK)
			al_mb_str(f, "allowed_hosts", canon.size ? canon.data : "", canon.size);
		al_sbuffer_destroy(&canon);
	}
	return rc;
}

static int policy_create(al_cmd *c, const kind *k)
{
	al_str name;
	al__arg_str(c, "name", &name);
	msgpack_object row;
	int rc = check_name(c->err, name);
	if (rc == AL_OK && (rc = find_row(c->s, c->txn, k, name, c->zone, &row, c->err)) == 1)
		rc = al_err(c->err, AL_EALREADY_EXISTS, "name: a %s named %.*s already exists", k->what, al__clip(name.n),
			    name.p);
	if (rc)
		return rc;
	al_mb f;
	al_mb_init(&f);
	rc = created_fields(c, k, name, &f);
	if (rc == AL_OK)
		rc = al__emit(c, k->created, name, &f);
	al_mb_free(&f);
	return rc ? rc : pack_current(c, k, name);
}

/* Adds to f each given option that differs from the row; *given counts the given ones. */
static int changed_fields(al_cmd *c, const kind *k, const msgpack_object *row, al_mb *f, int *given)
{
	int rc, n = 0;
	*given = 0;
	if (k->session) {
		al_str d, cur = {"", 0};
		if (al__arg_str(c, "default_for_unspecified", &d)) {
			++*given;
			if ((rc = al__check_enum(c->err, "default_for_unspecified", d, for_unspecified)))
				return rc;
			al_mp_str(row, "default_for_unspecified", &cur);
			if (!(d.n == cur.n && memcmp(d.p, cur.p, d.n) == 0)) {
				al_mb_str(f, "default_for_unspecified", d.p, d.n);
				n++;
			}
		}
	}
	for (size_t i = 0; i < k->nopts; i++) {
		const limit_opt *o = &k->opts[i];
		lim l;
		if ((rc = arg_opt(c, o, &l)) < 0)
			return rc;
		if (rc == 0)
			continue;
		++*given;
		if (!lim_eq(l, obj_lim(al_mp_get(row, o->name)))) {
			pack_lim(al_mb_key(f, o->name), l);
			n++;
		}
	}
	al_str text;
	if (k->session && al__arg_str(c, "allowed_hosts", &text)) {
		++*given;
		msgpack_sbuffer canon, cur;
		msgpack_sbuffer_init(&canon);
		msgpack_sbuffer_init(&cur);
		rc = hosts_canonical(c, text, &canon);
		hosts_text(al_mp_get(row, "allowed_hosts"), &cur);
		bool same = canon.size == cur.size && (cur.size == 0 || memcmp(canon.data, cur.data, cur.size) == 0);
		if (rc == AL_OK && !same) {
			al_mb_str(f, "allowed_hosts", canon.size ? canon.data : "", canon.size);
			n++;
		}
		al_sbuffer_destroy(&canon);
		al_sbuffer_destroy(&cur);
		if (rc)
			return rc;
	}
	return n;
}

static int policy_update(al_cmd *c, const kind *k)
{
	al_str name;
	msgpack_object row;
	al__arg_str(c, "name", &name);
	int rc = must_find(c, k, name, &row), given = 0;
	if (rc)
		return rc;
	al_mb f;
	al_mb_init(&f);
	int n = changed_fields(c, k, &row, &f, &given);
	if (n >= 0 && given == 0)
		n = al_err(c->err, AL_EINVALID_ARGUMENT, "nothing to update (the name cannot change)");
	if (n > 0) /* an update that changes nothing records nothing */
		n = al__emit(c, k->updated, name, &f);
	al_mb_free(&f);
	return n < 0 ? n : pack_current(c, k, name);
}

static int policy_delete(al_cmd *c, const kind *k)
{
	al_str name;
	msgpack_object row;
	uint64_t followers = 0;
	al__arg_str(c, "name", &name);
	int rc = must_find(c, k, name, &row);
	if (rc)
		return rc;
	/* Everything new falls back to "default" (keypair create, user create, project create):
	 * deleting it would make those fail, so it stays. */
	if (al_str_eq(name, "default"))
		return al_err(c->err, AL_EIN_USE, "name: default is the fallback %s and cannot be deleted", k->what);
	if ((rc = k->count(c, name, &followers)))
		return rc;
	if (followers)
		return al_err(c->err, AL_EIN_USE, "name: %s %.*s is followed by %llu %s; move them to another policy first",
			      k->what, al__clip(name.n), name.p, (unsigned long long)followers, k->followers);
	if ((rc = al__emit(c, k->deleted, name, NULL)))
		return rc;
	return al__answer_deleted(c, "name", name);
}

static int policy_get(al_cmd *c, const kind *k)
{
	al_str name;
	al__arg_str(c, "name", &name);
	return pack_current(c, k, name);
}

/* Every policy of the kind, by name (bytewise, as LMDB orders keys). */
typedef struct policy_rows {
	al_rows rows;
	const kind *k;
} policy_rows;

static int list_one(al_cmd *c, al_str key, const msgpack_object *row, void *ctx)
{
	policy_rows *l = ctx;
	(void)key;
	pack_public(c, l->k, row, &l->rows.pk);
	return al__rows_push(c, &l->rows);
}

static int policy_list(al_cmd *c, const kind *k)
{
	char open[64], row[64];
	snprintf(open, sizeof open, "list %s", k->what);
	snprintf(row, sizeof row, "a %s", k->what);
	policy_rows l = {.k = k};
	al__rows_begin(c, &l.rows);
	int rc = al__each_row(c, dbi_of(c->s, k), open, row, "policies", list_one, &l);
	return al__rows_end(c, &l.rows, rc);
}

/* Bootstrap: the "default" policy of each kind, every option unlimited (also those whose
 * create default is a number), default_for_unspecified unlimited, no storage hosts.
 * A kind whose default already exists is left alone, so running it twice records nothing. */
int al__policy_emit_defaults(al_cmd *c)
{
	al_str name = {"default", 7};
	int rc = AL_OK;
	for (size_t i = 0; i < NKINDS && rc == AL_OK; i++) {
		const kind *k = &kinds[i];
		msgpack_object row;
		if ((rc = find_row(c->s, c->txn, k, name, c->zone, &row, c->err)) != 0) {
			rc = rc == 1 ? AL_OK : rc;
			continue;
		}
		al_mb f;
		al_mb_init(&f);
		al_mb_str(&f, "name", name.p, name.n);
		if (k->session)
			al_mb_cstr(&f, "default_for_unspecified", "unlimited");
		for (size_t o = 0; o < k->nopts; o++)
			al_mb_cstr(&f, k->opts[o].name, "unlimited");
		if (k->session)
			al_mb_cstr(&f, "allowed_hosts", "");
		rc = al__emit(c, k->created, name, &f);
		al_mb_free(&f);
	}
	return rc;
}

/* ---- the handlers named in schemas/commands/policies.def ---------------------------------------- */

#define HANDLERS(prefix, kd)                                                         \
	int prefix##_create(al_cmd *c) { return policy_create(c, &kinds[kd]); }      \
	int prefix##_update(al_cmd *c) { return policy_update(c, &kinds[kd]); }      \
	int prefix##_delete(al_cmd *c) { return policy_delete(c, &kinds[kd]); }      \
	int prefix##_get(al_cmd *c) { return policy_get(c, &kinds[kd]); }            \
	int prefix##_list(al_cmd *c) { return policy_list(c, &kinds[kd]); }
HANDLERS(al__policy, AL_POLICY_KEYPAIR)
HANDLERS(al__user_policy, AL_POLICY_USER)
HANDLERS(al__project_policy, AL_POLICY_PROJECT)
#undef HANDLERS

/* ---- limits for sessions ------------------------------------------------------------------- */

bool al__policy_slot_limit(const msgpack_object *pol, al_str slot, double *limit)
{
	static const struct {
		const char *slot, *option;
		double scale;
	} opts[] = {{"cpu", "cpu", 1}, {"mem", "ram_gb", 1073741824.0}, {"cuda.device", "gpu", 1}, {"cuda.shares", "fgpu", 1}};
	for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
		if (!al_str_eq(slot, opts[i].slot))
			continue;
		const msgpack_object *o = al_mp_get(pol, opts[i].option);
		if (o == NULL)
			break; /* not named: default_for_unspecified */
		if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			*limit = (double)o->via.u64 * opts[i].scale;
		else if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32)
			*limit = o->via.f64 * opts[i].scale;
		else
			return false; /* "unlimited" */
		return true;
	}
	al_str d = {"unlimited", 9};
	al_mp_str(pol, "default_for_unspecified", &d);
	*limit = 0;
	return al_str_eq(d, "limited");
}
