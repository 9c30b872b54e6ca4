/*
 * users.c - the user noun: commands, events, view and queries.
 *
 * View v_users: email -> row (see user_row); v_usernames: username -> email, for uniqueness.
 * Users are never deleted: deactivation is an event and listings filter by status. The row's
 * main_access_key comes from the keypair.created event with is_main (user.create makes it).
 *
 * Who may do what: a superadmin everything; an admin or monitor reads the users of its domain;
 * a user reads itself and changes only its own username, full name, description and password.
 */
#include <arpa/inet.h>
#include <sodium.h>
#include <string.h>

#include "core/authz.h"
#include "core/rowcache.h"
#include "core/rows.h"
#include "core/secret.h"
#include "core/validate.h"
#include "nouns/nouns.h"

enum { DB_USERS, DB_USERNAMES };

static const char *const roles[] = {"superadmin", "admin", "user", "monitor", NULL};
static const char *const statuses[] = {"active", "inactive", "before-verification", NULL};

/* The stored row: its columns are declared in schemas/rows.def (AL_ROW user). */
typedef al_row_user user_row;
#define ROW (&al_row_user_def)

/* Overwrites the members of u named in map m (an event's fields). */
static void read_fields(const msgpack_object *m, user_row *u) { al_row_set(ROW, u, m); }

/* A stored row into u: 0, or -1 when it does not decode as one. */
static int read_row(const void *p, size_t n, msgpack_zone *z, user_row *u) { return al_row_decode(ROW, p, n, z, u); }

static const user_row empty_row = {.id = {"", 0}, .email = {"", 0}, .username = {"", 0},
				   .password_hash = {"", 0}, .full_name = {"", 0},
				   .description = {"", 0}, .domain = {"", 0}, .role = {"", 0},
				   .status = {"", 0}, .resource_policy = {"", 0}, .allowed_client_ip = {"", 0},
				   .main_access_key = {"", 0}};

/* ---- projection ---------------------------------------------------------------------------- */

static int put_row(const al_view *v, const user_row *u, al_error *err)
{
	/* u->email may point into the stored row (load_row): LMDB may move that memory while it
	 * replaces the row in a dirty page, so the key is copied first. */
	char key[AL_MAX_ID];
	if (u->email.n > sizeof key)
		return al_err(err, AL_ECORRUPT, "user email of %zu bytes is too long for a key", u->email.n);
	memcpy(key, u->email.p, u->email.n);
	/* kept decoded too: the command's reply (or the fold's next event) reads it next */
	return al__view_put_typed(v, DB_USERS, key, u->email.n, ROW, u, err);
}

/* The row of user email, named in event e. */
static int load_row_of(const al_view *v, const al_event *e, al_str email, user_row *u, al_error *err)
{
	if (al__view_get_typed(v, DB_USERS, email.p, email.n, ROW, u) != 0)
		return al_err(err, AL_ECORRUPT, "event %llu: %s for unknown user %.*s", (unsigned long long)e->seq,
			      e->def->name, (int)(email.n > 64 ? 64 : email.n), email.p);
	return AL_OK;
}

static int load_row(const al_view *v, const al_event *e, user_row *u, al_error *err)
{
	return load_row_of(v, e, e->id, u, err);
}

static int apply_created(const al_view *v, const al_event *e, al_error *err)
{
	user_row u = empty_row;
	read_fields(&e->fields, &u);
	if (u.resource_policy.n == 0) /* absent in events written before it existed */
		u.resource_policy = (al_str){"default", 7};
	u.password_changed_at = u.created_at = u.modified_at = e->time_us;
	u.version = 1;
	int rc = put_row(v, &u, err);
	if (rc == AL_OK)
		rc = al__view_put(v, DB_USERNAMES, u.username.p, u.username.n, u.email.p, u.email.n, err);
	return rc;
}

static int apply_updated(const al_view *v, const al_event *e, al_error *err)
{
	user_row u;
	int rc = load_row(v, e, &u, err);
	if (rc)
		return rc;
	al_str old_name = u.username, old_hash = u.password_hash;
	int64_t version = u.version;
	read_fields(&e->fields, &u);
	u.version = version + 1;
	if (u.password_hash.p != old_hash.p) /* the event set it: its string is the event's */
		u.password_changed_at = e->time_us;
	u.modified_at = e->time_us;
	if (e->def == al__ev(AL_EV_USER_DEACTIVATED))
		u.status = (al_str){"inactive", 8};
	else if (e->def == al__ev(AL_EV_USER_ACTIVATED))
		u.status = (al_str){"active", 6};
	if (!(old_name.n == u.username.n && memcmp(old_name.p, u.username.p, old_name.n) == 0)) {
		rc = al__view_del(v, DB_USERNAMES, old_name.p, old_name.n, err);
		if (rc == AL_OK)
			rc = al__view_put(v, DB_USERNAMES, u.username.p, u.username.n, u.email.p, u.email.n, err);
	}
	return rc ? rc : put_row(v, &u, err);
}

/* The first keypair of a user (is_main) becomes its main access key. */
static int apply_keypair_created(const al_view *v, const al_event *e, al_error *err)
{
	bool is_main = false;
	al_str email;
	if (al_mp_bool(&e->fields, "is_main", &is_main) != 1 || !is_main || al_mp_str(&e->fields, "user", &email) != 1)
		return AL_OK;
	user_row u;
	int rc = load_row_of(v, e, email, &u, err);
	if (rc == AL_OK) {
		u.main_access_key = e->id;
		rc = put_row(v, &u, err);
	}
	return rc;
}

/* Another event of the user (its 2FA state, kept by totp.c): only the version moves. */
static int apply_counted(const al_view *v, const al_event *e, al_error *err)
{
	user_row u;
	int rc = load_row(v, e, &u, err);
	if (rc == AL_OK) {
		u.version++;
		rc = put_row(v, &u, err);
	}
	return rc;
}

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	if (e->def == al__ev(AL_EV_USER_TOTP_PENDING) || e->def == al__ev(AL_EV_USER_TOTP_ENABLED) ||
	    e->def == al__ev(AL_EV_USER_TOTP_DISABLED))
		return apply_counted(v, e, err);
	if (e->def == al__ev(AL_EV_KEYPAIR_CREATED))
		return apply_keypair_created(v, e, err);
	if (e->def == al__ev(AL_EV_USER_CREATED))
		return apply_created(v, e, err);
	if (e->def == al__ev(AL_EV_USER_UPDATED) || e->def == al__ev(AL_EV_USER_DEACTIVATED) ||
	    e->def == al__ev(AL_EV_USER_ACTIVATED))
		return apply_updated(v, e, err);
	return AL_OK;
}

/* The event types apply reads: the engine calls it for these only. */
static const enum al_ev_id applies_to[] = {
	AL_EV_USER_CREATED, AL_EV_USER_UPDATED, AL_EV_USER_DEACTIVATED, AL_EV_USER_ACTIVATED,
	AL_EV_KEYPAIR_CREATED, AL_EV_USER_TOTP_PENDING, AL_EV_USER_TOTP_ENABLED, AL_EV_USER_TOTP_DISABLED,
	AL_EV__COUNT};
const al_projection al__proj_users = {"users", 4, {"v_users", "v_usernames", NULL}, apply, .on = applies_to};

/* ---- queries --------------------------------------------------------------------------------- */

static MDB_dbi dbi(al_cmd *c, int db) { return al__view_dbi(c->s, AL_P_USERS, db); }


/* 1 found, 0 not found, or a negative al_ code. */
static int find_user(al_cmd *c, al_str email, user_row *u)
{
	if (c->w && al__rc_get(c->w, dbi(c, DB_USERS), email, ROW, u))
		return 1;
	int rc = al__get_compact(c->txn, dbi(c, DB_USERS), email, c->zone, ROW, u, "user", "a user", c->err);
	if (rc == 1 && c->w) /* its projection and the reply read it again */
		al__rc_put(c->w, dbi(c, DB_USERS), email, ROW, u);
	return rc;
}

static int must_find(al_cmd *c, al_str email, user_row *u)
{
	int rc = find_user(c, email, u);
	if (rc == 0)
		return al_err(c->err, AL_ENOT_FOUND, "user %.*s: not found", al__clip(email.n), email.p);
	return rc < 0 ? rc : AL_OK;
}

static bool username_taken(al_cmd *c, al_str username)
{
	MDB_val k = {username.n, (void *)username.p}, v;
	return al__cmd_found(c, mdb_get(c->txn, dbi(c, DB_USERNAMES), &k, &v), "usernames");
}

/* The IP list as an array of strings (stored comma-joined). */
static void pack_ip_list(msgpack_packer *pk, al_str list)
{
	uint32_t n = list.n ? 1 : 0;
	for (size_t i = 0; i < list.n; i++)
		n += list.p[i] == ',';
	msgpack_pack_array(pk, n);
	for (const char *p = list.p, *end = list.p + list.n; n--;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t len = comma ? (size_t)(comma - p) : (size_t)(end - p);
		al_pack_str(pk, p, len);
		p += len + 1;
	}
}

/* The public view of a user (never its hash); the caller packs `extra` more pairs. */
static void pack_public(al_cmd *c, const user_row *u, msgpack_packer *pk, uint32_t extra)
{
	char t1[40], t2[40], t3[40];
	msgpack_pack_map(pk, 18 + extra);
#define S(f) al_pack_cstr(pk, #f), al_pack_str(pk, u->f.p, u->f.n)
#define T(f, buf) al_pack_cstr(pk, #f), al_pack_cstr(pk, al_time_format(u->f, buf, sizeof buf))
	S(id), S(email), S(username), S(full_name), S(description), S(domain), S(role), S(status);
	al_pack_cstr(pk, "need_password_change");
	u->need_password_change ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	T(password_changed_at, t1), T(created_at, t2), T(modified_at, t3);
	S(resource_policy);
	al_pack_cstr(pk, "allowed_client_ip");
	pack_ip_list(pk, u->allowed_client_ip);
	al_pack_cstr(pk, "main_access_key");
	if (u->main_access_key.n)
		al_pack_str(pk, u->main_access_key.p, u->main_access_key.n);
	else
		msgpack_pack_nil(pk);
	al_pack_cstr(pk, "totp_activated");
	bool totp = false;
	al_error e = {0};
	if (al__totp_state(c->s, c->txn, u->email, &totp, &e))
		al__cmd_fail_err(c, &e);
	totp ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	al_pack_cstr(pk, "projects");
	if (al__user_projects_pack(c, u->email, pk))
		al__cmd_fail_err(c, c->err);
	al_pack_cstr(pk, "version");
	msgpack_pack_uint64(pk, (uint64_t)u->version);
#undef S
#undef T
}

int al__user_pack_public(al_cmd *c, al_str email)
{
	user_row u;
	int rc = must_find(c, email, &u);
	if (rc == AL_OK)
		pack_public(c, &u, c->out, 0);
	return rc;
}

/* ---- allowed client addresses ---------------------------------------------------------------- */

/* One IPv4 or IPv6 address, optionally with a prefix length (CIDR). */
static int check_cidr(al_error *err, const char *field, al_str s)
{
	char buf[64];
	unsigned char addr[16];
	const char *slash = memchr(s.p, '/', s.n);
	size_t an = slash ? (size_t)(slash - s.p) : s.n;
	int max = 0;
	if (an > 0 && an < sizeof buf) {
		memcpy(buf, s.p, an);
		buf[an] = 0;
		max = inet_pton(AF_INET, buf, addr) == 1 ? 32 : inet_pton(AF_INET6, buf, addr) == 1 ? 128 : 0;
	}
	bool ok = max > 0;
	if (ok && slash) {
		size_t dn = s.n - an - 1;
		int prefix = 0;
		ok = dn >= 1 && dn <= 3;
		for (size_t i = 0; ok && i < dn; i++) {
			ok = slash[1 + i] >= '0' && slash[1 + i] <= '9';
			prefix = prefix * 10 + (slash[1 + i] - '0');
		}
		ok = ok && prefix <= max;
	}
	if (!ok)
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: '%.*s' is not an IPv4 or IPv6 address or CIDR", field,
			      al__clip(s.n), s.p);
	return AL_OK;
}

/* Every element of a comma-joined list ("" is the empty list). */
static int check_ip_list(al_error *err, const char *field, al_str list)
{
	for (const char *p = list.p, *end = list.p + list.n; list.n && p <= end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t len = comma ? (size_t)(comma - p) : (size_t)(end - p);
		int rc = check_cidr(err, field, (al_str){p, len});
		if (rc)
			return rc;
		p += len + 1;
	}
	return AL_OK;
}

/* The LIST argument name, checked and comma-joined in c->zone. 1 given, 0 not, or a negative code. */
static int arg_ip_list(al_cmd *c, const char *name, al_str *out)
{
	const msgpack_object *l;
	*out = (al_str){"", 0};
	if (!al__arg_list(c, name, &l))
		return 0;
	size_t total = 0;
	for (uint32_t i = 0; i < l->via.array.size; i++) {
		al_str e = {l->via.array.ptr[i].via.str.ptr, l->via.array.ptr[i].via.str.size};
		int rc = check_cidr(c->err, name, e);
		if (rc)
			return rc;
		total += e.n + 1;
	}
	if (total == 0)
		return 1;
	char *buf = al_zone_malloc(c->zone, total);
	if (buf == NULL)
		return al_err(c->err, AL_ENO_MEMORY, "out of memory");
	size_t off = 0;
	for (uint32_t i = 0; i < l->via.array.size; i++) {
		memcpy(buf + off, l->via.array.ptr[i].via.str.ptr, l->via.array.ptr[i].via.str.size);
		off += l->via.array.ptr[i].via.str.size;
		buf[off++] = ',';
	}
	*out = (al_str){buf, total - 1};
	return 1;
}

/* ---- commands -------------------------------------------------------------------------------- */

static bool admin_role(al_str role) { return al_str_eq(role, "superadmin") || al_str_eq(role, "admin"); }

/* Callers may leave the optional members zeroed. */
static al_user_new with_defaults(const al_user_new *in)
{
	al_user_new u = *in;
	al_str *opt[] = {&u.full_name, &u.description, &u.allowed_client_ip};
	for (size_t i = 0; i < sizeof opt / sizeof *opt; i++)
		if (opt[i]->p == NULL)
			*opt[i] = (al_str){"", 0};
	if (u.resource_policy.n == 0)
		u.resource_policy = (al_str){"default", 7};
	return u;
}

static int check_new(al_cmd *c, const al_user_new *u)
{
	int rc;
	if ((rc = al__check_email(c->err, "email", u->email)) ||
	    (rc = al__check_text(c->err, "username", u->username, 1, 64)) ||
	    (rc = al__check_text(c->err, "full_name", u->full_name, 0, 64)) ||
	    (rc = al__check_note(c->err, "description", u->description, 0, 500)) ||
	    (rc = al__check_enum(c->err, "role", u->role, roles)) ||
	    (rc = al__check_enum(c->err, "status", u->status, statuses)) ||
	    (rc = check_ip_list(c->err, "allowed_client_ip", u->allowed_client_ip)))
		return rc;
	if (u->password_hash.n == 0 || u->id.n == 0)
		return al_err(c->err, AL_EINTERNAL, "user.created needs a prepared hash and id");
	if ((rc = al__domain_require_active(c, "domain", u->domain)))
		return rc;
	if ((rc = al__policy_require(c, AL_POLICY_USER, "resource_policy", u->resource_policy)))
		return rc;
	user_row old;
	if ((rc = find_user(c, u->email, &old)) < 0)
		return rc;
	if (rc == 1)
		return al_err(c->err, AL_EALREADY_EXISTS, "email: a user with email %.*s already exists",
			      al__clip(u->email.n), u->email.p);
	if (username_taken(c, u->username))
		return al_err(c->err, AL_EALREADY_EXISTS, "username: %.*s is already taken", al__clip(u->username.n),
			      u->username.p);
	return AL_OK;
}

/* Records user.created for a checked u. */
static int emit_user(al_cmd *c, const al_user_new *u)
{
	al_mb f;
	al_mb_init(&f);
	al_mb_str(&f, "id", u->id.p, u->id.n);
	al_mb_str(&f, "email", u->email.p, u->email.n);
	al_mb_str(&f, "username", u->username.p, u->username.n);
	al_mb_str(&f, "password_hash", u->password_hash.p, u->password_hash.n);
	al_mb_str(&f, "full_name", u->full_name.p, u->full_name.n);
	al_mb_str(&f, "description", u->description.p, u->description.n);
	al_mb_str(&f, "domain", u->domain.p, u->domain.n);
	al_mb_str(&f, "role", u->role.p, u->role.n);
	al_mb_str(&f, "status", u->status.p, u->status.n);
	al_mb_bool(&f, "need_password_change", u->need_password_change);
	al_mb_str(&f, "resource_policy", u->resource_policy.p, u->resource_policy.n);
	if (u->allowed_client_ip.n)
		al_mb_str(&f, "allowed_client_ip", u->allowed_client_ip.p, u->allowed_client_ip.n);
	int rc = al__emit(c, AL_EV_USER_CREATED, u->email, &f);
	al_mb_free(&f);
	return rc;
}

int al__user_emit_created(al_cmd *c, const al_user_new *in)
{
	al_user_new u = with_defaults(in);
	int rc = check_new(c, &u);
	return rc ? rc : emit_user(c, &u);
}

/* Stateless checks and the slow, random part: the argon2id hash and the id. */
static int prepare_password(al_store *s, const msgpack_object *args, al_mb *out, al_error *err)
{
	al_str pw;
	if (al_mp_str(args, "password", &pw) != 1)
		return AL_OK;
	int rc = al__check_password(err, "password", pw);
	if (rc)
		return rc;
	char cost[32], hash[AL_PWHASH_LEN];
	if ((rc = al__setting_get(s, NULL, "pwhash", cost, sizeof cost, "interactive", err)) ||
	    (rc = al__pwhash(cost, pw, hash, err)))
		return rc;
	al_mb_cstr(out, "password_hash", hash);
	sodium_memzero(hash, sizeof hash);
	return AL_OK;
}

/* The id, the hash, and the first keypair (generated, its secret sealed). */
int al__user_create_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err)
{
	char id[37];
	al__uuid4(id);
	al_mb_cstr(out, "id", id);
	int rc = prepare_password(s, args, out, err);
	return rc ? rc : al__keypair_prepare(s, args, out, err);
}

int al__user_update_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err)
{
	return prepare_password(s, args, out, err);
}

/* The ids of the projects named in the LIST argument, which must be of domain; copied into
 * c->zone, since view memory may move once the command emits. */
static int resolve_projects(al_cmd *c, al_str domain, al_str **ids, uint32_t *n)
{
	const msgpack_object *l;
	*n = 0;
	if (!al__arg_list(c, "projects", &l) || l->via.array.size == 0)
		return AL_OK;
	*ids = al_zone_malloc(c->zone, l->via.array.size * sizeof **ids);
	if (*ids == NULL)
		return al_err(c->err, AL_ENO_MEMORY, "out of memory");
	for (uint32_t i = 0; i < l->via.array.size; i++) {
		al_str name = {l->via.array.ptr[i].via.str.ptr, l->via.array.ptr[i].via.str.size}, id;
		int rc = al__project_require(c, "projects", domain, name, &id);
		if (rc)
			return rc;
		char *copy = al_zone_malloc(c->zone, id.n ? id.n : 1);
		if (copy == NULL)
			return al_err(c->err, AL_ENO_MEMORY, "out of memory");
		memcpy(copy, id.p, id.n);
		(*ids)[(*n)++] = (al_str){copy, id.n};
	}
	return AL_OK;
}

int al__user_create(al_cmd *c)
{
	al_user_new u = {.full_name = {"", 0}, .description = {"", 0}, .domain = {"default", 7},
			 .role = {"user", 4}, .status = {"active", 6}, .resource_policy = {"default", 7},
			 .allowed_client_ip = {"", 0}};
	al_keypair_new k = {.resource_policy = {"default", 7}, .rate_limit = 10000, .is_main = true};
	al_str secret = {"", 0}, *projects = NULL;
	uint32_t nprojects = 0;
	al__arg_str(c, "email", &u.email);
	al__arg_str(c, "username", &u.username);
	al__arg_str(c, "full_name", &u.full_name);
	al__arg_str(c, "description", &u.description);
	al__arg_str(c, "domain", &u.domain);
	al__arg_str(c, "role", &u.role);
	al__arg_str(c, "status", &u.status);
	al__arg_bool(c, "need_password_change", &u.need_password_change);
	al__arg_str(c, "resource_policy", &u.resource_policy);
	int rc = arg_ip_list(c, "allowed_client_ip", &u.allowed_client_ip);
	if (rc < 0)
		return rc;
	al_mp_str(c->prep, "password_hash", &u.password_hash);
	al_mp_str(c->prep, "id", &u.id);
	al_mp_str(c->prep, "access_key", &k.access_key);
	al_mp_str(c->prep, "secret_key", &secret);
	al_mp_str(c->prep, "secret_key_sealed", &k.secret_key_sealed);
	/* Everything is checked before the first event, so a refusal writes nothing. */
	if ((rc = check_new(c, &u)) || (rc = resolve_projects(c, u.domain, &projects, &nprojects)) ||
	    (rc = al__policy_require(c, AL_POLICY_KEYPAIR, "keypair_policy", k.resource_policy)))
		return rc;
	k.user_email = u.email;
	k.user_id = u.id;
	k.is_admin = admin_role(u.role);
	k.is_active = al_str_eq(u.status, "active");
	if ((rc = emit_user(c, &u)) || (rc = al__keypair_emit_created(c, &k)))
		return rc;
	for (uint32_t i = 0; i < nprojects && rc == AL_OK; i++)
		rc = al__project_emit_member(c, projects[i], u.email, true);
	user_row row;
	if (rc || (rc = must_find(c, u.email, &row)))
		return rc;
	c->secret_result = true; /* the keypair's secret: kept sealed for request-id retries */
	pack_public(c, &row, c->out, 2);
	al_pack_cstr(c->out, "access_key");
	al_pack_str(c->out, k.access_key.p, k.access_key.n);
	al_pack_cstr(c->out, "secret_key");
	al_pack_str(c->out, secret.p, secret.n);
	return AL_OK;
}

int al__user_get(al_cmd *c)
{
	al_str email;
	user_row u;
	al__arg_str(c, "email", &email);
	int rc = must_find(c, email, &u);
	if (rc == AL_OK)
		rc = al__authz_read_user(c, u.email, u.domain);
	if (rc == AL_OK)
		pack_public(c, &u, c->out, 0);
	return rc;
}

static bool contains(al_str hay, al_str needle)
{
	if (needle.n == 0)
		return true;
	for (size_t i = 0; i + needle.n <= hay.n; i++)
		if (memcmp(hay.p + i, needle.p, needle.n) == 0)
			return true;
	return false;
}

/* The guide's "Inactive tab": --status inactive lists inactive and before-verification users. */
static bool status_matches(al_str want, al_str have)
{
	if (al_str_eq(want, "inactive") && al_str_eq(have, "before-verification"))
		return true;
	return want.n == have.n && memcmp(want.p, have.p, want.n) == 0;
}

typedef struct user_list {
	al_rows rows;
	al_str status, email_has, name_has;
	bool by_status;
	int64_t limit, offset, n, skipped;
} user_list;

static int list_one(al_cmd *c, al_str key, const msgpack_object *row, void *ctx)
{
	user_list *l = ctx;
	user_row u;
	(void)key;
	if (al_row_read(ROW, row, &u) != 0)
		return al_err(c->err, AL_ECORRUPT, "a user view row does not decode");
	if (!al__sees_domain(c, u.domain) || (l->by_status && !status_matches(l->status, u.status)) ||
	    !contains(u.email, l->email_has) || !contains(u.username, l->name_has))
		return AL_OK;
	if (l->skipped++ < l->offset)
		return AL_OK;
	pack_public(c, &u, &l->rows.pk, 0);
	int rc = al__rows_push(c, &l->rows);
	return rc ? rc : ++l->n >= l->limit; /* 1: the page is full */
}

int al__user_list(al_cmd *c)
{
	al_str status = {0}, email_has = {"", 0}, name_has = {"", 0};
	int64_t limit = al__streaming(c) ? INT64_MAX : 100, offset = 0; /* an export takes all */
	bool by_status = al__arg_str(c, "status", &status);
	al__arg_str(c, "email_contains", &email_has);
	al__arg_str(c, "username_contains", &name_has);
	al__arg_int(c, "limit", &limit);
	al__arg_int(c, "offset", &offset);
	int rc;
	if (by_status && (rc = al__check_enum(c->err, "status", status, statuses)))
		return rc;
	if (limit < 1 || (limit > 10000 && limit != INT64_MAX))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "limit: 1 to 10000");
	if (offset < 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "offset: must not be negative");

	user_list l = {.status = status, .email_has = email_has, .name_has = name_has, .by_status = by_status,
		       .limit = limit, .offset = offset};
	al__rows_begin(c, &l.rows);
	rc = al__each_row(c, dbi(c, DB_USERS), "list users", "a user", "users", list_one, &l);
	return al__rows_end(c, &l.rows, rc);
}

static bool given(al_cmd *c, const char *name) { return al__args_given(c, &name, 1) == 1; }

/* Adds to f each argument that differs from the current row; returns how many. */
static int changed_fields(al_cmd *c, const user_row *u, al_str ips, al_mb *f)
{
	static const char *const text[] = {"username", "full_name", "description", "domain", "role", "status",
					   "resource_policy"};
	const al_str cur[] = {u->username, u->full_name, u->description, u->domain, u->role, u->status,
			      u->resource_policy};
	int n = 0;
	for (size_t i = 0; i < sizeof text / sizeof *text; i++) {
		al_str s;
		if (al__arg_str(c, text[i], &s) && !(s.n == cur[i].n && memcmp(s.p, cur[i].p, s.n) == 0)) {
			al_mb_str(f, text[i], s.p, s.n);
			n++;
		}
	}
	if (given(c, "allowed_client_ip") &&
	    !(ips.n == u->allowed_client_ip.n && memcmp(ips.p, u->allowed_client_ip.p, ips.n) == 0)) {
		al_mb_str(f, "allowed_client_ip", ips.p, ips.n);
		n++;
	}
	bool b;
	if (al__arg_bool(c, "need_password_change", &b) && b != u->need_password_change) {
		al_mb_bool(f, "need_password_change", b);
		n++;
	}
	al_str hash;
	if (c->prep && al_mp_str(c->prep, "password_hash", &hash) == 1) {
		al_mb_str(f, "password_hash", hash.p, hash.n);
		n++;
	}
	return n;
}

/* A superadmin changes anything; a user changes only its own name fields and password. */
static int authz_update(al_cmd *c, const user_row *u)
{
	static const char *const superadmin_only[] = {"domain", "role", "status", "need_password_change",
						      "resource_policy", "allowed_client_ip"};
	if (al__is_superadmin(c))
		return AL_OK;
	if (!al__is_self(c, u->email))
		return al__authz_deny(c);
	for (size_t i = 0; i < sizeof superadmin_only / sizeof *superadmin_only; i++)
		if (given(c, superadmin_only[i]))
			return al_err(c->err, AL_EPERMISSION_DENIED, "%s: only a superadmin may change it",
				      superadmin_only[i]);
	return AL_OK;
}

static int check_update(al_cmd *c, al_str *ips)
{
	al_str s;
	int rc = AL_OK;
	static const char *const all[] = {"username", "password", "full_name", "description", "domain", "role",
					  "status", "need_password_change", "resource_policy", "allowed_client_ip"};
	if (al__args_given(c, all, sizeof all / sizeof *all) == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "nothing to update (the email cannot change)");
	if (al__arg_str(c, "username", &s) && (rc = al__check_text(c->err, "username", s, 1, 64)))
		return rc;
	if (al__arg_str(c, "full_name", &s) && (rc = al__check_text(c->err, "full_name", s, 0, 64)))
		return rc;
	if (al__arg_str(c, "description", &s) && (rc = al__check_note(c->err, "description", s, 0, 500)))
		return rc;
	if (al__arg_str(c, "role", &s) && (rc = al__check_enum(c->err, "role", s, roles)))
		return rc;
	if (al__arg_str(c, "status", &s) && (rc = al__check_enum(c->err, "status", s, statuses)))
		return rc;
	if (al__arg_str(c, "domain", &s) && (rc = al__domain_require_active(c, "domain", s)))
		return rc;
	if (al__arg_str(c, "resource_policy", &s) && (rc = al__policy_require(c, AL_POLICY_USER, "resource_policy", s)))
		return rc;
	return (rc = arg_ip_list(c, "allowed_client_ip", ips)) < 0 ? rc : AL_OK;
}

/*
 * After user.updated: a role change sets every keypair's admin flag to match; status inactive
 * deactivates every keypair, as user.deactivate does (other statuses touch no keypair:
 * authentication refuses keys of users that are not active); a domain change leaves every
 * project of the old domain.
 */
static int update_side_effects(al_cmd *c, al_str email, bool role_changed, bool domain_changed)
{
	al_str s;
	int rc = AL_OK;
	if (role_changed && al__arg_str(c, "role", &s))
		rc = al__keypairs_sync_admin(c, email, admin_role(s));
	if (rc == AL_OK && al__arg_str(c, "status", &s) && al_str_eq(s, "inactive"))
		rc = al__keypairs_deactivate_user(c, email);
	if (rc == AL_OK && domain_changed)
		rc = al__projects_leave_all(c, email);
	return rc;
}

int al__user_update(al_cmd *c)
{
	al_str email, name, ips = {"", 0};
	user_row u;
	al__arg_str(c, "email", &email);
	int rc = must_find(c, email, &u);
	if (rc == AL_OK)
		rc = authz_update(c, &u);
	if (rc == AL_OK)
		rc = check_update(c, &ips);
	if (rc)
		return rc;
	if (al__arg_str(c, "username", &name) && !al_str_eq(u.username, "") &&
	    !(name.n == u.username.n && memcmp(name.p, u.username.p, name.n) == 0) && username_taken(c, name))
		return al_err(c->err, AL_EALREADY_EXISTS, "username: %.*s is already taken", al__clip(name.n), name.p);
	al_mb f;
	al_mb_init(&f);
	/* Decided before the first emit, while u still points at the old row. */
	al_str s;
	bool role_changed = al__arg_str(c, "role", &s) && !(s.n == u.role.n && memcmp(s.p, u.role.p, s.n) == 0);
	bool domain_changed = al__arg_str(c, "domain", &s) && !(s.n == u.domain.n && memcmp(s.p, u.domain.p, s.n) == 0);
	if (changed_fields(c, &u, ips, &f) > 0) /* an update that changes nothing records nothing */
		rc = al__emit(c, AL_EV_USER_UPDATED, email, &f);
	al_mb_free(&f);
	if (rc == AL_OK)
		rc = update_side_effects(c, email, role_changed, domain_changed);
	return rc ? rc : al__user_pack_public(c, email);
}

/* user.deactivate also deactivates every keypair of the user, each as its own event;
 * user.activate restores the status only (the guide's warning). */
static int set_status(al_cmd *c, enum al_ev_id ev, const char *status)
{
	al_str email;
	user_row u;
	al__arg_str(c, "email", &email);
	int rc = must_find(c, email, &u);
	if (rc == AL_OK && !al_str_eq(u.status, status)) /* already there: nothing to record */
		rc = al__emit(c, ev, email, NULL);
	if (rc == AL_OK && ev == AL_EV_USER_DEACTIVATED)
		rc = al__keypairs_deactivate_user(c, email);
	return rc ? rc : al__user_pack_public(c, email);
}

int al__user_deactivate(al_cmd *c) { return set_status(c, AL_EV_USER_DEACTIVATED, "inactive"); }
int al__user_activate(al_cmd *c) { return set_status(c, AL_EV_USER_ACTIVATED, "active"); }

/* ---- acting as a user ------------------------------------------------------------------------ */

int al_actor_for_user(al_store *s, const char *email, const char *name, al_actor *out, char *buf, size_t n,
		      al_error *err)
{
	MDB_txn *txn;
	int rc = al__read_begin(s, &txn, err);
	if (rc)
		return rc;
	MDB_val k = {strlen(email), (void *)email}, v;
	msgpack_zone z;
	user_row u = empty_row;
	msgpack_zone_init(&z, 1024);
	rc = k.mv_size ? mdb_get(txn, al__view_dbi(s, AL_P_USERS, DB_USERS), &k, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		rc = al_err(err, AL_ENOT_FOUND, "user %.64s: not found", email);
	else if (rc)
		rc = al_err(err, AL_EIO_ERROR, "read user %.64s: %s", email, mdb_strerror(rc));
	else if (read_row(v.mv_data, v.mv_size, &z, &u) != 0)
		rc = al_err(err, AL_ECORRUPT, "user %.64s: view row does not decode", email);
	else {
		if (!al_str_eq(u.status, "active"))
			rc = al_err(err, AL_EUNAUTHENTICATED, "user %.64s is %.*s", email, (int)u.status.n, u.status.p);
		else if (u.email.n + u.id.n + u.domain.n + 3 > n)
			rc = al_err(err, AL_EINTERNAL, "actor buffer too small");
	}
	if (rc == AL_OK) {
		memset(out, 0, sizeof *out);
		out->role = al_role_parse(u.role.p, u.role.n);
		out->user = al_str_cpy(buf, u.email.n + 1, u.email);
		out->name = name ? name : out->user; /* in buf: outlives the caller's email */
		buf += u.email.n + 1;
		out->user_id = al_str_cpy(buf, u.id.n + 1, u.id);
		buf += u.id.n + 1;
		out->domain = al_str_cpy(buf, u.domain.n + 1, u.domain);
	}
	msgpack_zone_destroy(&z);
	mdb_txn_abort(txn);
	return rc;
}

int al__users_count_policy(al_cmd *c, al_str name, uint64_t *n)
{
	return al__count_rows_eq_in(c, AL_P_USERS, DB_USERS, "count users", "a user", ROW, "resource_policy", name, n);
}

/* allowed_client_ip is the comma-joined list ("" = any address); main_access_key "" = none. */
int al__user_auth_info(al_store *s, MDB_txn *txn, al_str email, al_user_auth *out, msgpack_zone *z, al_error *err)
{
	MDB_val k = {email.n, (void *)email.p}, v;
	int rc = email.n ? mdb_get(txn, al__view_dbi(s, AL_P_USERS, DB_USERS), &k, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return al_err(err, AL_EIO_ERROR, "read user: %s", mdb_strerror(rc));
	user_row u;
	if (read_row(v.mv_data, v.mv_size, z, &u) != 0)
		return al_err(err, AL_ECORRUPT, "a user view row does not decode");
	*out = (al_user_auth){u.id,     u.email,  u.password_hash,      u.status,
			      u.role,   u.domain, u.allowed_client_ip, u.main_access_key,
			      u.resource_policy};
	return 1;
}
