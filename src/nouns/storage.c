/*
 * storage.c - storage hosts (volumes of storage proxies) and the quotas set on them per user
 * and per project (the guide's "Storages" tab; platform model §8.3).
 *
 * Views:
 *   v_storage  name -> {name, backend, mount, quota_supported, capabilities, used_bytes,
 *              capacity_bytes, usage_reported_at, created_at, modified_at}, columns in that
 *              order; usage_reported_at 0 = no report yet (used/capacity then show as null)
 *   v_quotas   host "\0" quota_scope_id -> {host, quota_scope_id, hard_limit_gb, user,
 *              project_id, domain, set_at}; user is the email of a user scope, project_id and
 *              domain belong to a project scope ("" otherwise)
 *
 * Which backends support quotas: the guide names XFS, CephFS, NetApp and PureStorage; the
 * platform's storage proxy also manages quotas on Weka, GPFS, VAST, Dell EMC OneFS and DDN
 * ExaScaler, while vfs (the plain-filesystem fallback, e.g. NFS) has none. The backend gives
 * the default; --quota yes|no overrides it. The decision is recorded in the event, so changing
 * this table never changes the past.
 *
 * A quota is keyed by (host, scope) with scope "user:UUID" or "project:UUID": the manager
 * records the hard limit that it asked the storage backend to enforce. Unset, the effective
 * limit is the max_quota_size of the user's or project's resource policy.
 */
#include <stdio.h>
#include <string.h>

#include "core/authz.h"
#include "core/validate.h"
#include "nouns/nouns.h"
#include "util/row.h"

enum { DB_HOSTS, DB_QUOTAS };

#define NAME_PART_MAX 64
#define MOUNT_MAX 1024
#define GB (1LL << 30)
#define HARD_LIMIT_GB_MAX (1LL << 30) /* 2^60 bytes, the resource policies' quota maximum */
#define KEY_MAX 511

static const struct backend {
	const char *name;
	bool quota, metric; /* metric: the proxy reports performance metrics */
} backends[] = {
	{"vfs", false, false},        {"xfs", true, false},         {"cephfs", true, false},
	{"netapp", true, true},       {"purestorage", true, true},  {"weka", true, true},
	{"gpfs", true, true},         {"vast", true, true},         {"dellemc-onefs", true, true},
	{"exascaler", true, false},
};
#define NBACKENDS (sizeof backends / sizeof *backends)


static const struct backend *find_backend(al_str name)
{
	for (size_t i = 0; i < NBACKENDS; i++)
		if (al_str_eq(name, backends[i].name))
			return &backends[i];
	return NULL;
}

/* ---- projection ------------------------------------------------------------------------------ */

/* The stored row of key in db, decoded in the transaction's zone; 0 when absent. */
static int load(const al_view *v, int db, const char *key, size_t kn, msgpack_object *row)
{
	MDB_val val;
	if (al__view_get(v, db, key, kn, &val) != 0)
		return 0;
	return al_mp_decode(val.mv_data, val.mv_size, &v->w->zone, row) == 0 ? 1 : -1;
}

static void pack_i64(msgpack_packer *pk, const char *name, int64_t v)
{
	al_pack_cstr(pk, name);
	msgpack_pack_int64(pk, v);
}

static int apply_host(const al_view *v, const al_event *e, al_error *err)
{
	const al_event_def *d = e->def;
	char key[AL_MAX_ID];
	if (e->id.n == 0 || e->id.n > sizeof key)
		return al_err(err, AL_ECORRUPT, "event %llu: bad storage host name", (unsigned long long)e->seq);
	memcpy(key, e->id.p, e->id.n); /* the old row's memory may move while it is replaced */
	msgpack_object base, *bp = NULL;
	int64_t created_at = e->time_us, modified_at = e->time_us, reported_at = 0, used = 0, capacity = 0;
	if (d != al__ev(AL_EV_STORAGE_CREATED)) {
		if (load(v, DB_HOSTS, key, e->id.n, &base) != 1)
			return al_err(err, AL_ECORRUPT, "event %llu: %s for unknown storage host %.*s",
				      (unsigned long long)e->seq, d->name, al__clip(e->id.n), e->id.p);
		bp = &base;
		al_mp_int(bp, "created_at", &created_at);
		al_mp_int(bp, "usage_reported_at", &reported_at);
		al_mp_int(bp, "used_bytes", &used);
		al_mp_int(bp, "capacity_bytes", &capacity);
	}
	if (d == al__ev(AL_EV_STORAGE_USAGE_REPORTED)) {
		al_mp_int(bp, "modified_at", &modified_at);
		al_mp_int(&e->fields, "used_bytes", &used);
		al_mp_int(&e->fields, "capacity_bytes", &capacity);
		reported_at = e->time_us;
	}
	msgpack_packer pk;
	msgpack_sbuffer *b = al__view_row(v, &pk);
	msgpack_pack_map(&pk, 10);
	al_pack_cstr(&pk, "name");
	al_pack_str(&pk, key, e->id.n);
	al__row_col(&pk, "backend", 's', bp, &e->fields);
	al__row_col(&pk, "mount", 's', bp, &e->fields);
	al__row_col(&pk, "quota_supported", 'b', bp, &e->fields);
	al__row_col(&pk, "capabilities", 'a', bp, &e->fields);
	pack_i64(&pk, "used_bytes", used);
	pack_i64(&pk, "capacity_bytes", capacity);
	pack_i64(&pk, "usage_reported_at", reported_at);
	pack_i64(&pk, "created_at", created_at);
	pack_i64(&pk, "modified_at", modified_at);
	return al__view_put(v, DB_HOSTS, key, e->id.n, b->data, b->size, err);
}

static int apply_quota(const al_view *v, const al_event *e, al_error *err)
{
	al_str host, scope;
	char key[KEY_MAX];
	size_t kn = 0;
	if (al_mp_str(&e->fields, "host", &host) == 1 && al_mp_str(&e->fields, "quota_scope_id", &scope) == 1)
		kn = al__key2(key, KEY_MAX, 0, host, scope);
	if (kn == 0)
		return al_err(err, AL_ECORRUPT, "event %llu: %s without host and quota scope", (unsigned long long)e->seq,
			      e->def->name);
	if (e->def == al__ev(AL_EV_QUOTA_UNSET))
		return al__view_del(v, DB_QUOTAS, key, kn, err);
	int64_t gb = 0;
	al_str project = {"", 0};
	al_mp_int(&e->fields, "hard_limit_gb", &gb);
	if (scope.n > 8 && memcmp(scope.p, "project:", 8) == 0)
		project = (al_str){scope.p + 8, scope.n - 8};
	msgpack_packer pk;
	msgpack_sbuffer *b = al__view_row(v, &pk);
	msgpack_pack_map(&pk, 7);
	al_pack_cstr(&pk, "host");
	al_pack_str(&pk, host.p, host.n);
	al_pack_cstr(&pk, "quota_scope_id");
	al_pack_str(&pk, scope.p, scope.n);
	pack_i64(&pk, "hard_limit_gb", gb);
	al__row_col(&pk, "user", 's', NULL, &e->fields);
	al_pack_cstr(&pk, "project_id");
	al_pack_str(&pk, project.p, project.n);
	al__row_col(&pk, "domain", 's', NULL, &e->fields);
	pack_i64(&pk, "set_at", e->time_us);
	return al__view_put(v, DB_QUOTAS, key, kn, b->data, b->size, err);
}

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	const al_event_def *d = e->def;
	if (d == al__ev(AL_EV_STORAGE_CREATED) || d == al__ev(AL_EV_STORAGE_UPDATED) ||
	    d == al__ev(AL_EV_STORAGE_USAGE_REPORTED))
		return apply_host(v, e, err);
	if (d == al__ev(AL_EV_QUOTA_SET) || d == al__ev(AL_EV_QUOTA_UNSET))
		return apply_quota(v, e, err);
	return AL_OK;
}

/* v2: hosts and quotas. */
/* The event types apply reads: the engine calls it for these only. */
static const enum al_ev_id applies_to[] = {
	AL_EV_STORAGE_CREATED, AL_EV_STORAGE_UPDATED, AL_EV_STORAGE_USAGE_REPORTED, AL_EV_QUOTA_SET,
	AL_EV_QUOTA_UNSET, AL_EV__COUNT};
const al_projection al__proj_storage = {"storage", 2, {"v_storage", "v_quotas", NULL}, apply,
	.on = applies_to};

/* ---- queries --------------------------------------------------------------------------------- */

static MDB_dbi dbi(al_store *s, int db) { return al__view_dbi(s, AL_P_STORAGE, db); }

int al__storage_host(al_store *s, MDB_txn *txn, al_str name, bool *quota_supported, al_error *err)
{
	MDB_val k = {name.n, (void *)name.p}, v;
	int rc = name.n && name.n <= KEY_MAX ? mdb_get(txn, dbi(s, DB_HOSTS), &k, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return al_err(err, AL_EIO_ERROR, "read storage host: %s", mdb_strerror(rc));
	msgpack_zone z;
	msgpack_object row;
	bool q = false;
	msgpack_zone_init(&z, 512);
	rc = al_mp_decode(v.mv_data, v.mv_size, &z, &row) == 0 ? 1 : al_err(err, AL_ECORRUPT, "a storage view row does not decode");
	if (rc == 1)
		al_mp_bool(&row, "quota_supported", &q);
	msgpack_zone_destroy(&z);
	if (rc == 1 && quota_supported)
		*quota_supported = q;
	return rc;
}

/* 1 found, 0 not found, or a negative al_ code. */
static int find_host(al_cmd *c, al_str name, msgpack_object *row)
{
	return al__get_row(c, dbi(c->s, DB_HOSTS), name, KEY_MAX, "storage host", row);
}

static int get_host(al_cmd *c, al_str name, msgpack_object *row)
{
	int rc = find_host(c, name, row);
	if (rc == 0)
		return al_err(c->err, AL_ENOT_FOUND, "storage host %.*s: not found", al__clip(name.n), name.p);
	return rc < 0 ? rc : AL_OK;
}

/* The public view: times formatted, usage null before the first report, the entity version (an
 * unreadable one kept in *fail). */
static void pack_host(al_store *s, MDB_txn *txn, const msgpack_object *row, msgpack_packer *pk, al_error *fail)
{
	int64_t reported = 0;
	al_str name = {"", 0};
	al_mp_int(row, "usage_reported_at", &reported);
	al_mp_str(row, "name", &name);
	al_mb out;
	al_mb_init(&out);
	for (uint32_t i = 0; i < row->via.map.size; i++) {
		const msgpack_object_kv *kv = &row->via.map.ptr[i];
		char key[32];
		al_str_cpy(key, sizeof key, (al_str){kv->key.via.str.ptr, kv->key.via.str.size});
		bool usage = strcmp(key, "used_bytes") == 0 || strcmp(key, "capacity_bytes") == 0;
		if (strcmp(key, "created_at") == 0 || strcmp(key, "modified_at") == 0 ||
		    strcmp(key, "usage_reported_at") == 0) {
			char t[40];
			if (strcmp(key, "usage_reported_at") == 0 && reported == 0)
				msgpack_pack_nil(al_mb_key(&out, key));
			else
				al_mb_cstr(&out, key, al_time_format(kv->val.via.i64, t, sizeof t));
		} else if (usage && reported == 0)
			msgpack_pack_nil(al_mb_key(&out, key));
		else
			al_mb_obj(&out, key, &kv->val);
	}
	msgpack_pack_uint64(al_mb_key(&out, "version"), al__entity_version_or(s, txn, "storage", name, fail));
	al_mb_finish(&out, pk);
	al_mb_free(&out);
}

/* ---- field rules ------------------------------------------------------------------------------- */

/* One part of proxy:volume: letters, digits, '.', '_', '-', starting with a letter or digit. */
static bool name_part_ok(const char *p, size_t n)
{
	if (n == 0 || n > NAME_PART_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
		if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != '-')))
			return false;
	}
	return true;
}

static int check_name(al_cmd *c, al_str name)
{
	const char *colon = memchr(name.p, ':', name.n);
	size_t pn = colon ? (size_t)(colon - name.p) : 0;
	if (colon == NULL || !name_part_ok(name.p, pn) || !name_part_ok(colon + 1, name.n - pn - 1))
		return al_err(c->err, AL_EINVALID_ARGUMENT,
			      "name: '%.*s' is not proxy:volume (two names of letters, digits, '.', '_', '-', starting "
			      "with a letter or digit, at most %d each)",
			      al__clip(name.n), name.p, NAME_PART_MAX);
	return AL_OK;
}

static int check_backend(al_cmd *c, al_str b, const struct backend **out)
{
	if ((*out = find_backend(b)) != NULL)
		return AL_OK;
	return al_err(c->err, AL_EINVALID_ARGUMENT,
		      "backend: '%.*s' is not a storage backend (vfs, xfs, cephfs, netapp, purestorage, weka, gpfs, "
		      "vast, dellemc-onefs or exascaler)",
		      al__clip(b.n), b.p);
}

/* An absolute path, no empty, "." or ".." parts (a trailing '/' aside), no control characters. */
static int check_mount(al_cmd *c, al_str m)
{
	int rc = al__check_text(c->err, "mount", m, 1, MOUNT_MAX);
	if (rc)
		return rc;
	if (m.p[0] != '/')
		return al_err(c->err, AL_EINVALID_ARGUMENT, "mount: '%.*s' is not an absolute path", al__clip(m.n), m.p);
	for (size_t i = 1; i <= m.n;) {
		size_t len = 0;
		while (i + len < m.n && m.p[i + len] != '/')
			len++;
		bool last = i + len >= m.n;
		if ((len == 0 && !last) || (len == 1 && m.p[i] == '.') || (len == 2 && m.p[i] == '.' && m.p[i + 1] == '.'))
			return al_err(c->err, AL_EINVALID_ARGUMENT, "mount: '%.*s' has an empty, '.' or '..' part", al__clip(m.n),
				      m.p);
		i += len + 1;
	}
	return AL_OK;
}

/* The capabilities of a volume: every one holds folders; quota and metric by backend. */
static void pack_caps(msgpack_packer *pk, const struct backend *b, bool quota)
{
	msgpack_pack_array(pk, 1 + (quota ? 1 : 0) + (b->metric ? 1 : 0));
	al_pack_cstr(pk, "vfolder");
	if (quota)
		al_pack_cstr(pk, "quota");
	if (b->metric)
		al_pack_cstr(pk, "metric");
}

/* ---- storage host commands ----------------------------------------------------------------------- */

static int pack_current(al_cmd *c, al_str name)
{
	msgpack_object row;
	int rc = get_host(c, name, &row);
	if (rc == AL_OK)
		pack_host(c->s, c->txn, &row, c->out, &c->failed);
	return rc;
}

int al__storage_create(al_cmd *c)
{
	al_str name, backend, mount;
	const struct backend *b;
	al__arg_str(c, "name", &name);
	al__arg_str(c, "backend", &backend);
	al__arg_str(c, "mount", &mount);
	int rc;
	if ((rc = check_name(c, name)) || (rc = check_backend(c, backend, &b)) || (rc = check_mount(c, mount)))
		return rc;
	bool quota = b->quota;
	al__arg_bool(c, "quota", &quota);
	msgpack_object row;
	if ((rc = find_host(c, name, &row)) < 0)
		return rc;
	if (rc == 1)
		return al_err(c->err, AL_EALREADY_EXISTS, "name: storage host %.*s already exists", al__clip(name.n), name.p);
	al_mb f;
	al_mb_init(&f);
	al_mb_str(&f, "name", name.p, name.n);
	al_mb_str(&f, "backend", backend.p, backend.n);
	al_mb_str(&f, "mount", mount.p, mount.n);
	al_mb_bool(&f, "quota_supported", quota);
	pack_caps(al_mb_key(&f, "capabilities"), b, quota);
	rc = al__emit(c, AL_EV_STORAGE_CREATED, name, &f);
	al_mb_free(&f);
	return rc ? rc : pack_current(c, name);
}

static bool same(al_str a, al_str b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

/* Adds capabilities to f when those of (b, quota) differ from the row's. */
static int changed_caps(al_cmd *c, const msgpack_object *row, const struct backend *b, bool quota, al_mb *f)
{
	msgpack_sbuffer nb, ob;
	msgpack_packer npk, opk;
	msgpack_sbuffer_init(&nb);
	msgpack_sbuffer_init(&ob);
	msgpack_packer_init(&npk, &nb, al_sbuffer_write);
	msgpack_packer_init(&opk, &ob, al_sbuffer_write);
	pack_caps(&npk, b, quota);
	const msgpack_object *old = al_mp_get(row, "capabilities");
	if (old)
		msgpack_pack_object(&opk, *old);
	int rc = nb.data == NULL ? al_err(c->err, AL_ENO_MEMORY, "out of memory") : AL_OK;
	if (rc == AL_OK && (nb.size != ob.size || memcmp(nb.data, ob.data, nb.size) != 0)) {
		msgpack_packer *out = al_mb_key(f, "capabilities");
		out->callback(out->data, nb.data, nb.size);
	}
	al_sbuffer_destroy(&nb);
	al_sbuffer_destroy(&ob);
	return rc;
}

int al__storage_update(al_cmd *c)
{
	al_str name, backend = {"", 0}, mount = {"", 0}, cur_backend = {"", 0}, cur_mount = {"", 0};
	msgpack_object row;
	al__arg_str(c, "name", &name);
	int rc = get_host(c, name, &row);
	if (rc)
		return rc;
	bool has_backend = al__arg_str(c, "backend", &backend), has_mount = al__arg_str(c, "mount", &mount);
	bool quota = false, cur_quota = false, has_quota = al__arg_bool(c, "quota", &quota);
	if (!has_backend && !has_mount && !has_quota)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "nothing to update (the name cannot change)");
	const struct backend *b = NULL;
	if ((has_backend && (rc = check_backend(c, backend, &b))) || (has_mount && (rc = check_mount(c, mount))))
		return rc;
	al_mp_str(&row, "backend", &cur_backend);
	al_mp_str(&row, "mount", &cur_mount);
	al_mp_bool(&row, "quota_supported", &cur_quota);
	if (!has_backend)
		backend = cur_backend;
	if ((b = find_backend(backend)) == NULL)
		return al_err(c->err, AL_ECORRUPT, "storage host %.*s has an unknown backend", al__clip(name.n), name.p);
	if (!has_quota) /* a new backend brings its own default */
		quota = has_backend && !same(backend, cur_backend) ? b->quota : cur_quota;
	uint64_t nquotas = 0;
	if (cur_quota && !quota && (rc = al__count_range(c, AL_P_STORAGE, DB_QUOTAS, name, &nquotas)) == AL_OK && nquotas > 0)
		return al_err(c->err, AL_EIN_USE, "quota: %llu quotas are set on %.*s; unset them before turning quotas off",
			      (unsigned long long)nquotas, al__clip(name.n), name.p);
	if (rc)
		return rc;
	al_mb f;
	al_mb_init(&f);
	if (!same(backend, cur_backend))
		al_mb_str(&f, "backend", backend.p, backend.n);
	if (has_mount && !same(mount, cur_mount))
		al_mb_str(&f, "mount", mount.p, mount.n);
	if (quota != cur_quota)
		al_mb_bool(&f, "quota_supported", quota);
	if (f.n > 0 && (rc = changed_caps(c, &row, b, quota, &f)) < 0) {
		al_mb_free(&f);
		return rc;
	}
	if (f.n > 0) /* an update that changes nothing records nothing */
		rc = al__emit(c, AL_EV_STORAGE_UPDATED, name, &f);
	al_mb_free(&f);
	return rc ? rc : pack_current(c, name);
}

int al__storage_get(al_cmd *c)
{
	al_str name;
	al__arg_str(c, "name", &name);
	return pack_current(c, name);
}

static int list_one(al_cmd *c, al_str key, const msgpack_object *row, void *ctx)
{
	al_rows *rows = ctx;
	(void)key;
	pack_host(c->s, c->txn, row, &rows->pk, &c->failed);
	return al__rows_push(c, rows);
}

int al__storage_list(al_cmd *c)
{
	al_rows rows;
	al__rows_begin(c, &rows);
	int rc = al__each_row(c, dbi(c->s, DB_HOSTS), "list storage hosts", "a storage", "storage hosts", list_one,
			      &rows);
	return al__rows_end(c, &rows, rc);
}

int al__storage_report_usage(al_cmd *c)
{
	al_str name;
	int64_t used = -1, capacity = -1, cur_used = 0, cur_capacity = 0, reported = 0;
	msgpack_object row;
	al__arg_str(c, "name", &name);
	al__arg_int(c, "used_bytes", &used);
	al__arg_int(c, "capacity_bytes", &capacity);
	int rc = get_host(c, name, &row);
	if (rc)
		return rc;
	if (capacity < 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "capacity_bytes: must not be negative");
	if (used < 0 || used > capacity)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "used_bytes: 0 to capacity_bytes (%lld)", (long long)capacity);
	al_mp_int(&row, "used_bytes", &cur_used);
	al_mp_int(&row, "capacity_bytes", &cur_capacity);
	al_mp_int(&row, "usage_reported_at", &reported);
	if (reported == 0 || used != cur_used || capacity != cur_capacity) { /* else: nothing to record */
		al_mb f;
		al_mb_init(&f);
		al_mb_int(&f, "used_bytes", used);
		al_mb_int(&f, "capacity_bytes", capacity);
		rc = al__emit(c, AL_EV_STORAGE_USAGE_REPORTED, name, &f);
		al_mb_free(&f);
	}
	return rc ? rc : pack_current(c, name);
}

/* ---- quotas -------------------------------------------------------------------------------------- */

/* The quota scope a command names: a user (by email) or a project (by domain and name). */
typedef struct scope {
	al_str host, id; /* id: "user:UUID" or "project:UUID" */
	al_str user, project, project_id, domain, policy;
	bool is_user;
} scope;

enum access { READ_SCOPE, MANAGE_SCOPE };

static int user_scope(al_cmd *c, scope *t, enum access how)
{
	al_user_auth u;
	int rc = al__user_auth_info(c->s, c->txn, t->user, &u, c->zone, c->err);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "user: no user with email %.*s", al__clip(t->user.n), t->user.p);
	rc = how == MANAGE_SCOPE ? al__authz_manage_domain(c, u.domain) : al__authz_read_user(c, u.email, u.domain);
	if (rc)
		return rc;
	t->is_user = true;
	t->user = al__keep(c, "", u.email);
	t->domain = al__keep(c, "", u.domain);
	t->policy = al__keep(c, "", u.resource_policy.n ? u.resource_policy : (al_str){"default", 7});
	t->id = al__keep(c, "user:", u.id);
	return AL_OK;
}

static int project_scope(al_cmd *c, scope *t, enum access how)
{
	t->domain = al__domain_arg(c);
	/* The domain is known before the lookup: someone outside it learns nothing about it. */
	int rc = how == MANAGE_SCOPE ? al__authz_manage_domain(c, t->domain) : AL_OK;
	if (rc)
		return rc;
	msgpack_object row;
	al_str id = {"", 0}, policy = {"default", 7};
	if ((rc = al__project_find(c, t->domain, t->project, &id, &row)) < 0)
		return rc;
	const char *me = c->actor->user;
	if (how == READ_SCOPE && !al__sees_domain(c, t->domain) &&
	    !(rc == 1 && me && al__project_has_member(c, id, (al_str){me, strlen(me)})))
		return al__authz_deny(c);
	if (rc == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "project: no project named %.*s in domain %.*s",
			      al__clip(t->project.n), t->project.p, al__clip(t->domain.n), t->domain.p);
	al_mp_str(&row, "resource_policy", &policy);
	t->is_user = false;
	t->project_id = id; /* kept by al__project_find */
	t->domain = al__keep(c, "", t->domain);
	t->project = al__keep(c, "", t->project);
	t->policy = al__keep(c, "", policy);
	t->id = al__keep(c, "project:", id);
	return AL_OK;
}

/* Resolves host and scope, checks the actor's rights and the host's quota support. */
static int resolve(al_cmd *c, scope *t, enum access how)
{
	memset(t, 0, sizeof *t);
	al__arg_str(c, "host", &t->host);
	bool by_user = al__arg_str(c, "user", &t->user), by_project = al__arg_str(c, "project", &t->project);
	al_str d;
	if (by_user == by_project)
		return al_err(c->err, AL_EINVALID_ARGUMENT, by_user ? "project: give --user or --project, not both"
								    : "user: give --user EMAIL or --project NAME");
	if (by_user && al__arg_str(c, "domain", &d))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "domain: only with --project (a user's domain is its own)");
	bool quota = false;
	int rc = al__storage_host(c->s, c->txn, t->host, &quota, c->err);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "host: no storage host named %.*s", al__clip(t->host.n), t->host.p);
	if ((rc = by_user ? user_scope(c, t, how) : project_scope(c, t, how)))
		return rc;
	if (!quota)
		return al_err(c->err, AL_EUNSUPPORTED, "host: storage host %.*s does not support quotas", al__clip(t->host.n),
			      t->host.p);
	return AL_OK;
}

/* The hard limit set on the scope: 1 (in *gb), 0 when none, or a negative code. */
static int find_quota(al_cmd *c, const scope *t, int64_t *gb)
{
	char key[KEY_MAX];
	MDB_val k = {al__key2(key, KEY_MAX, 0, t->host, t->id), key}, v;
	int rc = k.mv_size ? mdb_get(c->txn, dbi(c->s, DB_QUOTAS), &k, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "read quota: %s", mdb_strerror(rc));
	msgpack_object row;
	if ((rc = al__decode_row(c, &v, &row)))
		return rc;
	*gb = 0;
	al_mp_int(&row, "hard_limit_gb", gb);
	return 1;
}

/* hard_limit_gb from policy bytes: "unlimited", a whole number, or a fraction. */
static void pack_policy_gb(msgpack_packer *pk, int64_t bytes)
{
	if (bytes < 0)
		al_pack_cstr(pk, "unlimited");
	else if (bytes % GB == 0)
		msgpack_pack_int64(pk, bytes / GB);
	else
		msgpack_pack_double(pk, (double)bytes / (double)GB);
}

/* {host, quota_scope_id, user|project, domain, hard_limit_gb, source[, policy]} */
static int pack_effective(al_cmd *c, const scope *t)
{
	int64_t gb = 0, bytes = -1;
	int rc = find_quota(c, t, &gb);
	if (rc < 0)
		return rc;
	bool set = rc == 1;
	if (!set) {
		rc = al__policy_quota(c->s, c->txn, t->is_user ? AL_POLICY_USER : AL_POLICY_PROJECT, t->policy, &bytes,
				      c->err);
		if (rc < 0)
			return rc;
		if (rc == 0) /* the policy was deleted: nothing limits the scope */
			bytes = -1;
	}
	msgpack_packer *pk = c->out;
	msgpack_pack_map(pk, set ? 6 : 7);
	al_pack_cstr(pk, "host");
	al_pack_str(pk, t->host.p, t->host.n);
	al_pack_cstr(pk, "quota_scope_id");
	al_pack_str(pk, t->id.p, t->id.n);
	al_pack_cstr(pk, t->is_user ? "user" : "project");
	al_pack_str(pk, t->is_user ? t->user.p : t->project.p, t->is_user ? t->user.n : t->project.n);
	al_pack_cstr(pk, "domain");
	al_pack_str(pk, t->domain.p, t->domain.n);
	al_pack_cstr(pk, "hard_limit_gb");
	if (set)
		msgpack_pack_int64(pk, gb);
	else
		pack_policy_gb(pk, bytes);
	al_pack_cstr(pk, "source");
	al_pack_cstr(pk, set ? "quota" : "policy");
	if (!set) {
		al_pack_cstr(pk, "policy");
		al_pack_str(pk, t->policy.p, t->policy.n);
	}
	return AL_OK;
}

/* Entity id of a quota: HOST/SCOPE, in the command's zone. */
static al_str entity(al_cmd *c, const scope *t)
{
	char *p = al_zone_malloc(c->zone, t->host.n + 1 + t->id.n);
	if (p == NULL)
		return (al_str){"", 0};
	memcpy(p, t->host.p, t->host.n);
	p[t->host.n] = '/';
	memcpy(p + t->host.n + 1, t->id.p, t->id.n);
	return (al_str){p, t->host.n + 1 + t->id.n};
}

int al__quota_set(al_cmd *c)
{
	scope t;
	int64_t gb = 0, cur = 0;
	al__arg_int(c, "hard_limit_gb", &gb);
	int rc = resolve(c, &t, MANAGE_SCOPE);
	if (rc)
		return rc;
	if (gb < 1 || gb > HARD_LIMIT_GB_MAX)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "hard_limit_gb: 1 to %lld", (long long)HARD_LIMIT_GB_MAX);
	int found = find_quota(c, &t, &cur);
	if (found < 0)
		return found;
	if (found == 0 || cur != gb) { /* the same limit again records nothing */
		al_mb f;
		al_mb_init(&f);
		al_mb_str(&f, "host", t.host.p, t.host.n);
		al_mb_str(&f, "quota_scope_id", t.id.p, t.id.n);
		al_mb_int(&f, "hard_limit_gb", gb);
		if (t.is_user)
			al_mb_str(&f, "user", t.user.p, t.user.n);
		else {
			al_mb_str(&f, "project", t.project.p, t.project.n);
			al_mb_str(&f, "domain", t.domain.p, t.domain.n);
		}
		rc = al__emit(c, AL_EV_QUOTA_SET, entity(c, &t), &f);
		al_mb_free(&f);
	}
	return rc ? rc : pack_effective(c, &t);
}

int al__quota_unset(al_cmd *c)
{
	scope t;
	int64_t cur = 0;
	int rc = resolve(c, &t, MANAGE_SCOPE), found = rc ? rc : find_quota(c, &t, &cur);
	if (found < 0)
		return found;
	if (found == 1) { /* else none is set: nothing to record */
		al_mb f;
		al_mb_init(&f);
		al_mb_str(&f, "host", t.host.p, t.host.n);
		al_mb_str(&f, "quota_scope_id", t.id.p, t.id.n);
		rc = al__emit(c, AL_EV_QUOTA_UNSET, entity(c, &t), &f);
		al_mb_free(&f);
	}
	return rc ? rc : pack_effective(c, &t);
}

int al__quota_get(al_cmd *c)
{
	scope t;
	int rc = resolve(c, &t, READ_SCOPE);
	return rc ? rc : pack_effective(c, &t);
}

/* One quota row for the list, when the actor may see it: the target's current domain (a user
 * may have moved) and the project's current name. 1 packed, 0 skipped, or a negative code. */
static int pack_quota_row(al_cmd *c, const msgpack_object *row, msgpack_zone *z, msgpack_packer *pk)
{
	al_str user = {"", 0}, project_id = {"", 0}, domain = {"", 0}, project = {"", 0}, host = {"", 0}, id = {"", 0};
	int64_t gb = 0, set_at = 0;
	al_mp_str(row, "user", &user);
	al_mp_str(row, "project_id", &project_id);
	al_mp_str(row, "domain", &domain);
	if (user.n) {
		al_user_auth u;
		int rc = al__user_auth_info(c->s, c->txn, user, &u, z, c->err);
		if (rc < 0)
			return rc;
		if (rc == 1)
			domain = u.domain;
	} else {
		msgpack_object prow;
		int rc = al__project_row(c, project_id, &prow);
		if (rc < 0)
			return rc;
		if (rc == 1)
			al_mp_str(&prow, "name", &project);
	}
	if (!al__sees_domain(c, domain))
		return 0;
	al_mp_str(row, "host", &host);
	al_mp_str(row, "quota_scope_id", &id);
	al_mp_int(row, "hard_limit_gb", &gb);
	al_mp_int(row, "set_at", &set_at);
	char t[40];
	msgpack_pack_map(pk, 8);
	al_pack_cstr(pk, "host");
	al_pack_str(pk, host.p, host.n);
	al_pack_cstr(pk, "quota_scope_id");
	al_pack_str(pk, id.p, id.n);
	al_pack_cstr(pk, "scope_type");
	al_pack_cstr(pk, user.n ? "user" : "project");
	al_pack_cstr(pk, "user");
	al_pack_str(pk, user.p, user.n);
	al_pack_cstr(pk, "project");
	al_pack_str(pk, project.p, project.n);
	al_pack_cstr(pk, "domain");
	al_pack_str(pk, domain.p, domain.n);
	pack_i64(pk, "hard_limit_gb", gb);
	al_pack_cstr(pk, "set_at");
	al_pack_cstr(pk, al_time_format(set_at, t, sizeof t));
	return 1;
}

typedef struct quota_ctx {
	al_rows rows;
	msgpack_zone z; /* rows are decoded one at a time */
} quota_ctx;

static int quota_one(al_cmd *c, al_str rest, const MDB_val *val, void *ctx)
{
	quota_ctx *q = ctx;
	msgpack_object row;
	(void)rest;
	msgpack_zone_clear(&q->z);
	if (al_mp_decode(val->mv_data, val->mv_size, &q->z, &row) != 0)
		return al_err(c->err, AL_ECORRUPT, "a quota view row does not decode");
	int rc = pack_quota_row(c, &row, &q->z, &q->rows.pk);
	return rc == 1 ? al__rows_push(c, &q->rows) : rc;
}

int al__quota_list(al_cmd *c)
{
	al_str host = {"", 0};
	char prefix[KEY_MAX];
	size_t pn = al__arg_str(c, "host", &host) ? al__key2(prefix, KEY_MAX, 0, host, (al_str){"", 0}) : 0;
	quota_ctx q;
	al__rows_begin(c, &q.rows);
	msgpack_zone_init(&q.z, 1024);
	int rc = al__scan_prefix_as(c, dbi(c->s, DB_QUOTAS), "list quotas", prefix, pn, "quotas", quota_one, &q);
	msgpack_zone_destroy(&q.z);
	return al__rows_end(c, &q.rows, rc);
}
