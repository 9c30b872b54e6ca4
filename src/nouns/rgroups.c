/*
 * rgroups.c - resource groups (the platform's scaling groups) and their associations with
 * domains, projects and keypairs, which decide the groups a user may use.
 *
 * Views:
 *   v_rgroups         name -> {name, description, is_active, is_public, scheduler,
 *                     allowed_session_types, pending_timeout, retries_to_skip, wsproxy_addr,
 *                     created_at, modified_at}, columns in that order; retries_to_skip -1 means
 *                     the retries-to-skip setting applies
 *   v_rgroup_assoc    name "\0" kind target -> ""   (the associations of a group: a range scan)
 *   v_rgroup_targets  kind target "\0" name -> ""   (the groups of a target: a range scan)
 * kind is 'd' (target: a domain name), 'p' (a project's id, so a rename keeps it) or 'k' (an
 * access key). A deleted keypair's associations go with it (keypair.deleted), as the platform's
 * ON DELETE CASCADE does; domains and projects are never deleted.
 *
 * Rules (the guide's "Manage resource group" and platform-model §6): the name is a slug of at
 * most 64 characters, unique; description at most 512; scheduler fifo, lifo or drf (default: the
 * scheduler setting at creation, recorded in the event); allowed session types a non-empty
 * subset of interactive, batch, inference, system (default interactive, batch); pending timeout
 * 0 (never) to 2^31-1 seconds; retries to skip 0-1000 and non-zero only for fifo, or -1 (absent)
 * for the setting's value; WSProxy address empty or an http/https URL without credentials.
 * Deactivate rather than delete: delete is refused (in_use) once an agent or a session ever
 * referenced the group. Every change is superadmin only (the command table).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/authz.h"
#include "core/validate.h"
#include "nouns/nouns.h"

enum { DB_GROUPS, DB_ASSOC, DB_TARGETS };

#define DESC_MAX 512
#define WSPROXY_MAX 1024 /* varchar(1024) in the platform model */
#define PENDING_MAX 2147483647LL
#define KEY_MAX 511 /* LMDB's default key limit */

static const char *const session_types[] = {"interactive", "batch", "inference", "system", NULL};
enum { T_INTERACTIVE = 1, T_BATCH = 2, T_INFERENCE = 4, T_SYSTEM = 8 };
#define TYPES_DEFAULT (T_INTERACTIVE | T_BATCH)

static bool same(al_str a, al_str b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

/* ---- rows ------------------------------------------------------------------------------------ */

typedef struct rg_row {
	al_str name, description, scheduler, wsproxy;
	bool is_active, is_public;
	unsigned types; /* T_* bits */
	int64_t pending_timeout, retries; /* retries -1: the setting applies */
	int64_t created_at, modified_at;
} rg_row;

static const rg_row empty_row = {.name = {"", 0}, .description = {"", 0}, .scheduler = {"fifo", 4},
				 .wsproxy = {"", 0}, .is_active = true, .is_public = true,
				 .types = TYPES_DEFAULT, .retries = -1};

/* The T_* bits of an array of type names; unknown names are ignored (the handlers check). */
static unsigned types_of(const msgpack_object *a)
{
	unsigned t = 0;
	for (uint32_t i = 0; a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size; i++)
		for (unsigned b = 0; session_types[b]; b++)
			if (al_mp_str_eq(&a->via.array.ptr[i], session_types[b]))
				t |= 1u << b;
	return t;
}

static void pack_types(msgpack_packer *pk, unsigned t)
{
	uint32_t n = 0;
	for (unsigned b = 0; session_types[b]; b++)
		n += (t >> b) & 1;
	msgpack_pack_array(pk, n);
	for (unsigned b = 0; session_types[b]; b++)
		if ((t >> b) & 1)
			al_pack_cstr(pk, session_types[b]);
}

static bool get_int(const msgpack_object *v, int64_t *out)
{
	if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		*out = (int64_t)v->via.u64;
	else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*out = v->via.i64;
	else
		return false;
	return true;
}

/* Overwrites the members of r named in map m (a stored row or an event's fields). */
static void read_fields(const msgpack_object *m, rg_row *r)
{
	static const struct {
		const char *name;
		size_t off;
		char type; /* 's' string, 'b' bool, 'i' integer, 't' session types */
	} cols[] = {
#define C(k, f, t) {k, offsetof(rg_row, f), t}
		C("name", name, 's'), C("description", description, 's'), C("scheduler", scheduler, 's'),
		C("wsproxy_addr", wsproxy, 's'), C("is_active", is_active, 'b'), C("is_public", is_public, 'b'),
		C("allowed_session_types", types, 't'), C("pending_timeout", pending_timeout, 'i'),
		C("retries_to_skip", retries, 'i'), C("created_at", created_at, 'i'), C("modified_at", modified_at, 'i'),
#undef C
	};
	for (uint32_t i = 0; m->type == MSGPACK_OBJECT_MAP && i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key, *v = &m->via.map.ptr[i].val;
		for (size_t c = 0; c < sizeof cols / sizeof *cols; c++) {
			if (!al_mp_str_eq(k, cols[c].name))
				continue;
			char *p = (char *)r + cols[c].off;
			if (cols[c].type == 's' && v->type == MSGPACK_OBJECT_STR)
				*(al_str *)p = (al_str){v->via.str.ptr, v->via.str.size};
			else if (cols[c].type == 'b' && v->type == MSGPACK_OBJECT_BOOLEAN)
				*(bool *)p = v->via.boolean;
			else if (cols[c].type == 'i')
				get_int(v, (int64_t *)p);
			else if (cols[c].type == 't')
				*(unsigned *)p = types_of(v);
			break;
		}
	}
}

static void pack_bool(msgpack_packer *pk, const char *key, bool b)
{
	al_pack_cstr(pk, key);
	b ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
}

/* The nine settings of a group, name first: what a row and the public view share. nil_retries:
 * retries_to_skip null when negative (the setting applies) rather than the stored number. */
static void pack_settings(msgpack_packer *pk, const rg_row *r, bool nil_retries)
{
	al_pack_cstr(pk, "name"), al_pack_str(pk, r->name.p, r->name.n);
	al_pack_cstr(pk, "description"), al_pack_str(pk, r->description.p, r->description.n);
	pack_bool(pk, "is_active", r->is_active);
	pack_bool(pk, "is_public", r->is_public);
	al_pack_cstr(pk, "scheduler"), al_pack_str(pk, r->scheduler.p, r->scheduler.n);
	al_pack_cstr(pk, "allowed_session_types"), pack_types(pk, r->types);
	al_pack_cstr(pk, "pending_timeout"), msgpack_pack_int64(pk, r->pending_timeout);
	al_pack_cstr(pk, "retries_to_skip");
	nil_retries && r->retries < 0 ? msgpack_pack_nil(pk) : msgpack_pack_int64(pk, r->retries);
	al_pack_cstr(pk, "wsproxy_addr"), al_pack_str(pk, r->wsproxy.p, r->wsproxy.n);
}

static void pack_row(msgpack_packer *pk, const rg_row *r)
{
	msgpack_pack_map(pk, 11);
	pack_settings(pk, r, false);
	al_pack_cstr(pk, "created_at"), msgpack_pack_int64(pk, r->created_at);
	al_pack_cstr(pk, "modified_at"), msgpack_pack_int64(pk, r->modified_at);
}

/* The association keys of (group, kind, target) in both directions. */
static bool assoc_keys(char *by_group, size_t *gn, char *by_target, size_t *tn, al_str group, char kind, al_str target)
{
	char kt[KEY_MAX];
	if (target.n + 1 > KEY_MAX)
		return false;
	kt[0] = kind;
	memcpy(kt + 1, target.p, target.n);
	*gn = al__key2(by_group, KEY_MAX, 0, group, (al_str){kt, target.n + 1});
	*tn = al__key2(by_target, KEY_MAX, kind, target, group);
	return *gn && *tn && group.n && target.n;
}

static const struct {
	char kind;
	const char *name;
} kinds[] = {{'d', "domain"}, {'p', "project"}, {'k', "keypair"}};

static char kind_char(al_str name)
{
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
		if (al_str_eq(name, kinds[i].name))
			return kinds[i].kind;
	return 0;
}

static const char *kind_name(char kind)
{
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
		if (kinds[i].kind == kind)
			return kinds[i].name;
	return "?";
}

/* ---- projection ---------------------------------------------------------------------------- */

static int put_row(const al_view *v, const char *key, size_t kn, const rg_row *r, al_error *err)
{
	msgpack_packer pk;
	msgpack_sbuffer *b = al__view_row(v, &pk);
	pack_row(&pk, r);
	return al__view_put(v, DB_GROUPS, key, kn, b->data, b->size, err);
}

/* Drops every association of group (deleted) with its reverse entry. */
static int drop_group_assocs(const al_view *v, al_str group, al_error *err)
{
	char prefix[KEY_MAX];
	size_t pn = al__key2(prefix, KEY_MAX, 0, group, (al_str){"", 0});
	al_keys l; /* copies: the deletes below change the view */
	int rc = pn ? al__view_keys(v, DB_ASSOC, prefix, pn, &l, err) : AL_OK;
	for (size_t i = 0; rc == AL_OK && pn && i < l.n; i++) {
		const char *rest = (const char *)l.k[i].mv_data + pn; /* kind target */
		size_t rn = l.k[i].mv_size - pn, tn;
		char tkey[KEY_MAX];
		if (rn < 2 || (tn = al__key2(tkey, KEY_MAX, rest[0], (al_str){rest + 1, rn - 1}, group)) == 0)
			return al_err(err, AL_ECORRUPT, "a resource group association key is malformed");
		if ((rc = al__view_del(v, DB_ASSOC, l.k[i].mv_data, l.k[i].mv_size, err)) == AL_OK)
			rc = al__view_del(v, DB_TARGETS, tkey, tn, err);
	}
	return rc;
}

/* Drops every association of a target (a deleted keypair). */
static int drop_target_assocs(const al_view *v, char kind, al_str target, al_error *err)
{
	char prefix[KEY_MAX];
	size_t pn = al__key2(prefix, KEY_MAX, kind, target, (al_str){"", 0});
	al_keys l;
	int rc = pn && target.n ? al__view_keys(v, DB_TARGETS, prefix, pn, &l, err) : AL_OK;
	for (size_t i = 0; rc == AL_OK && pn && target.n && i < l.n; i++) {
		al_str group = {(const char *)l.k[i].mv_data + pn, l.k[i].mv_size - pn};
		char gkey[KEY_MAX], tkey[KEY_MAX];
		size_t gn, tn;
		if (!assoc_keys(gkey, &gn, tkey, &tn, group, kind, target))
			return al_err(err, AL_ECORRUPT, "a resource group association key is malformed");
		if ((rc = al__view_del(v, DB_ASSOC, gkey, gn, err)) == AL_OK)
			rc = al__view_del(v, DB_TARGETS, tkey, tn, err);
	}
	return rc;
}

static int apply_assoc(const al_view *v, const al_event *e, bool add, al_error *err)
{
	al_str kind = {"", 0}, target = {"", 0};
	al_mp_str(&e->fields, "target_kind", &kind);
	al_mp_str(&e->fields, "target", &target);
	char gkey[KEY_MAX], tkey[KEY_MAX];
	size_t gn, tn;
	char k = kind_char(kind);
	if (k == 0 || !assoc_keys(gkey, &gn, tkey, &tn, e->id, k, target))
		return al_err(err, AL_ECORRUPT, "event %llu: bad association", (unsigned long long)e->seq);
	if (!add) {
		int rc = al__view_del(v, DB_ASSOC, gkey, gn, err);
		return rc ? rc : al__view_del(v, DB_TARGETS, tkey, tn, err);
	}
	int rc = al__view_put(v, DB_ASSOC, gkey, gn, "", 0, err);
	return rc ? rc : al__view_put(v, DB_TARGETS, tkey, tn, "", 0, err);
}

static int apply_group(const al_view *v, const al_event *e, al_error *err)
{
	const al_event_def *d = e->def;
	char key[KEY_MAX];
	if (e->id.n == 0 || e->id.n > 64)
		return al_err(err, AL_ECORRUPT, "event %llu: bad resource group name", (unsigned long long)e->seq);
	memcpy(key, e->id.p, e->id.n); /* the old row's memory may move while it is replaced */
	al_str name = {key, e->id.n};
	rg_row r = empty_row;
	if (d == al__ev(AL_EV_RGROUP_CREATED)) {
		read_fields(&e->fields, &r);
		r.name = name;
		r.is_active = true;
		r.created_at = r.modified_at = e->time_us;
		return put_row(v, key, e->id.n, &r, err);
	}
	MDB_val val;
	msgpack_object base;
	if (al__view_get(v, DB_GROUPS, key, e->id.n, &val) != 0 ||
	    al_mp_decode(val.mv_data, val.mv_size, &v->w->zone, &base) != 0)
		return al_err(err, AL_ECORRUPT, "event %llu: %s for unknown resource group %.*s",
			      (unsigned long long)e->seq, d->name, al__clip(e->id.n), e->id.p);
	if (d == al__ev(AL_EV_RGROUP_DELETED)) {
		int rc = al__view_del(v, DB_GROUPS, key, e->id.n, err);
		return rc ? rc : drop_group_assocs(v, name, err);
	}
	read_fields(&base, &r);
	if (d == al__ev(AL_EV_RGROUP_UPDATED))
		read_fields(&e->fields, &r);
	else
		r.is_active = d == al__ev(AL_EV_RGROUP_ACTIVATED);
	r.modified_at = e->time_us;
	return put_row(v, key, e->id.n, &r, err); /* packed before the put: base may point into the page */
}

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	const al_event_def *d = e->def;
	if (d == al__ev(AL_EV_RGROUP_CREATED) || d == al__ev(AL_EV_RGROUP_UPDATED) ||
	    d == al__ev(AL_EV_RGROUP_DEACTIVATED) || d == al__ev(AL_EV_RGROUP_ACTIVATED) ||
	    d == al__ev(AL_EV_RGROUP_DELETED))
		return apply_group(v, e, err);
	if (d == al__ev(AL_EV_RGROUP_ASSOCIATED) || d == al__ev(AL_EV_RGROUP_DISSOCIATED))
		return apply_assoc(v, e, d == al__ev(AL_EV_RGROUP_ASSOCIATED), err);
	if (d == al__ev(AL_EV_KEYPAIR_DELETED))
		return drop_target_assocs(v, 'k', e->id, err);
	return AL_OK;
}

/* v2: the first real layout (v1 was an empty stub). */
/* The event types apply reads: the engine calls it for these only. */
static const enum al_ev_id applies_to[] = {
	AL_EV_RGROUP_CREATED, AL_EV_RGROUP_UPDATED, AL_EV_RGROUP_DEACTIVATED, AL_EV_RGROUP_ACTIVATED,
	AL_EV_RGROUP_DELETED, AL_EV_RGROUP_ASSOCIATED, AL_EV_RGROUP_DISSOCIATED, AL_EV_KEYPAIR_DELETED,
	AL_EV__COUNT};
const al_projection al__proj_rgroups = {
	"rgroups", 2, {"v_rgroups", "v_rgroup_assoc", "v_rgroup_targets", NULL}, apply, .on = applies_to};

/* ---- queries --------------------------------------------------------------------------------- */

static MDB_dbi dbi(al_cmd *c, int db) { return al__view_dbi(c->s, AL_P_RGROUPS, db); }

/* 1 found, 0 not found, or a negative al_ code; row strings point into the view (valid until
 * the command emits). */
static int find_row(al_cmd *c, al_str name, rg_row *r, msgpack_object *raw)
{
	MDB_val k = {name.n, (void *)name.p}, v;
	msgpack_object m;
	int rc = name.n && name.n <= KEY_MAX ? mdb_get(c->txn, dbi(c, DB_GROUPS), &k, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "read resource group: %s", mdb_strerror(rc));
	if ((rc = al__decode_row(c, &v, &m)))
		return rc;
	*r = empty_row;
	read_fields(&m, r);
	if (raw)
		*raw = m;
	return 1;
}

static int not_found(al_cmd *c, al_str name)
{
	return al_err(c->err, AL_ENOT_FOUND, "resource group %.*s: not found", al__clip(name.n), name.p);
}

static int must_find(al_cmd *c, al_str name, rg_row *r)
{
	int rc = find_row(c, name, r, NULL);
	return rc == 0 ? not_found(c, name) : rc < 0 ? rc : AL_OK;
}

int al__rgroup_row(al_cmd *c, al_str name, msgpack_object *row)
{
	rg_row r;
	return find_row(c, name, &r, row);
}

int al__rgroup_require(al_cmd *c, const char *field, al_str name)
{
	rg_row r;
	int rc = find_row(c, name, &r, NULL);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: no resource group named %.*s", field, al__clip(name.n), name.p);
	if (!r.is_active)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: resource group %.*s is inactive", field, al__clip(name.n),
			      name.p);
	return AL_OK;
}

/* Calls fn with the part after prefix of each key of db that starts with it; stops early when
 * fn returns non-zero and returns that. */
static int scan(al_cmd *c, int db, const char *prefix, size_t pn, al_prefix_fn fn, void *ctx)
{
	return al__scan_prefix(c, dbi(c, db), prefix, pn, "resource group associations", fn, ctx);
}

/* The associations of one group, as three lists packed one after the other. */
typedef struct assoc_lists {
	msgpack_sbuffer buf[3]; /* domains, projects, keypairs */
	msgpack_packer pk[3];
	uint32_t n[3];
} assoc_lists;

static int add_assoc(al_cmd *c, al_str rest, const MDB_val *v, void *ctx)
{
	(void)v;
	assoc_lists *l = ctx;
	if (rest.n < 2)
		return al_err(c->err, AL_ECORRUPT, "a resource group association key is malformed");
	al_str target = {rest.p + 1, rest.n - 1};
	int i = rest.p[0] == 'd' ? 0 : rest.p[0] == 'p' ? 1 : 2;
	if (i == 1) { /* shown as domain/name; the id when the project is gone (never, today) */
		al_str domain, name;
		bool active;
		int rc = al__project_by_id(c, al__keep(c, "", target), &domain, &name, &active);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			msgpack_pack_str(&l->pk[i], domain.n + 1 + name.n);
			msgpack_pack_str_body(&l->pk[i], domain.p, domain.n);
			msgpack_pack_str_body(&l->pk[i], "/", 1);
			msgpack_pack_str_body(&l->pk[i], name.p, name.n);
			l->n[i]++;
			return 0;
		}
	}
	al_pack_str(&l->pk[i], target.p, target.n);
	l->n[i]++;
	return 0;
}

static void pack_time(msgpack_packer *pk, const char *key, int64_t us)
{
	char t[40];
	al_pack_cstr(pk, key);
	al_pack_cstr(pk, al_time_format(us, t, sizeof t));
}

/* The public view of a group: its row (retries_to_skip null when the setting applies), its
 * associations (domains, projects as "domain/name", keypairs) and its entity version. */
static int pack_public(al_cmd *c, const rg_row *r, msgpack_packer *pk)
{
	assoc_lists l;
	memset(&l, 0, sizeof l);
	for (int i = 0; i < 3; i++) {
		msgpack_sbuffer_init(&l.buf[i]);
		msgpack_packer_init(&l.pk[i], &l.buf[i], al_sbuffer_write);
	}
	char prefix[KEY_MAX];
	size_t pn = al__key2(prefix, KEY_MAX, 0, r->name, (al_str){"", 0});
	int rc = pn ? scan(c, DB_ASSOC, prefix, pn, add_assoc, &l) : AL_OK;
	if (rc == AL_OK) {
		msgpack_pack_map(pk, 15);
		pack_settings(pk, r, true);
		static const char *const names[3] = {"domains", "projects", "keypairs"};
		for (int i = 0; i < 3; i++) {
			al_pack_cstr(pk, names[i]);
			msgpack_pack_array(pk, l.n[i]);
			if (l.buf[i].size)
				pk->callback(pk->data, l.buf[i].data, l.buf[i].size);
		}
		pack_time(pk, "created_at", r->created_at);
		pack_time(pk, "modified_at", r->modified_at);
		al_pack_cstr(pk, "version");
		msgpack_pack_uint64(pk, al__cmd_version(c, "rgroup", r->name));
	}
	for (int i = 0; i < 3; i++)
		al_sbuffer_destroy(&l.buf[i]);
	return rc;
}

static int pack_found(al_cmd *c, al_str name)
{
	rg_row r;
	int rc = must_find(c, name, &r);
	return rc ? rc : pack_public(c, &r, c->out);
}

/* ---- field rules ----------------------------------------------------------------------------- */

static bool host_label_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-';
}

/* host, IPv4 address or [IPv6 address], then an optional :port (1-65535). */
static bool authority_ok(const char *p, size_t n)
{
	size_t hn;
	if (n && p[0] == '[') {
		const char *end = memchr(p, ']', n);
		if (end == NULL || end == p + 1)
			return false;
		for (const char *q = p + 1; q < end; q++)
			if (!(host_label_char(*q) && *q != '-') && *q != ':' && *q != '.')
				return false;
		hn = (size_t)(end - p) + 1;
	} else {
		const char *colon = memchr(p, ':', n);
		hn = colon ? (size_t)(colon - p) : n;
		size_t label = 0;
		for (size_t i = 0; i <= hn; i++) {
			if (i == hn || p[i] == '.') {
				if (label == 0 || label > 63 || p[i - 1] == '-')
					return false;
				label = 0;
			} else if (!host_label_char(p[i]) || (p[i] == '-' && label == 0))
				return false;
			else
				label++;
		}
	}
	if (hn == n)
		return true;
	if (p[hn] != ':' || n - hn - 1 == 0 || n - hn - 1 > 5)
		return false;
	long port = 0;
	for (size_t i = hn + 1; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		port = port * 10 + (p[i] - '0');
	}
	return port >= 1 && port <= 65535;
}

/* Empty, or http(s)://authority[/path...] in printable ASCII, with no user:password@ part (the
 * address is shown to admins and kept in the log). */
static int check_wsproxy(al_error *err, al_str u)
{
	if (u.n == 0)
		return AL_OK;
	if (u.n > WSPROXY_MAX)
		return al_err(err, AL_EINVALID_ARGUMENT, "wsproxy: at most %d characters", WSPROXY_MAX);
	size_t skip = u.n > 7 && strncasecmp(u.p, "http://", 7) == 0 ? 7 : u.n > 8 && strncasecmp(u.p, "https://", 8) == 0 ? 8 : 0;
	if (skip == 0)
		return al_err(err, AL_EINVALID_ARGUMENT, "wsproxy: must be empty or an http:// or https:// URL");
	for (size_t i = 0; i < u.n; i++)
		if (u.p[i] <= ' ' || u.p[i] > '~')
			return al_err(err, AL_EINVALID_ARGUMENT, "wsproxy: must not contain spaces or non-ASCII characters");
	const char *a = u.p + skip;
	size_t an = strcspn(a, "/?#");
	if (an > u.n - skip)
		an = u.n - skip;
	if (memchr(a, '@', an))
		return al_err(err, AL_EINVALID_ARGUMENT, "wsproxy: must not carry a user name or password");
	if (!authority_ok(a, an))
		return al_err(err, AL_EINVALID_ARGUMENT, "wsproxy: '%.*s' is not a host[:port]", al__clip(an), a);
	return AL_OK;
}

static int check_types(al_error *err, const msgpack_object *list, unsigned *out)
{
	unsigned t = 0;
	if (list->via.array.size == 0)
		return al_err(err, AL_EINVALID_ARGUMENT,
			      "allowed_session_types: at least one of interactive, batch, inference, system");
	for (uint32_t i = 0; i < list->via.array.size; i++) {
		al_str s = {list->via.array.ptr[i].via.str.ptr, list->via.array.ptr[i].via.str.size};
		unsigned b = 0;
		while (session_types[b] && !al_str_eq(s, session_types[b]))
			b++;
		if (session_types[b] == NULL)
			return al_err(err, AL_EINVALID_ARGUMENT,
				      "allowed_session_types: '%.*s' is not interactive, batch, inference or system", al__clip(s.n),
				      s.p);
		if (t & (1u << b))
			return al_err(err, AL_EINVALID_ARGUMENT, "allowed_session_types: %s is listed twice", session_types[b]);
		t |= 1u << b;
	}
	*out = t;
	return AL_OK;
}

/* Which arguments a create or update gave. */
enum { G_DESC = 1, G_SCHED = 2, G_PUBLIC = 4, G_WSPROXY = 8, G_TYPES = 16, G_PENDING = 32, G_RETRIES = 64 };

/* Overwrites r's fields with the given arguments, each checked; *given gets the G_* bits. */
static int read_args(al_cmd *c, rg_row *r, unsigned *given)
{
	const msgpack_object *list;
	int64_t n;
	int rc = AL_OK;
	*given = 0;
	if (al__arg_str(c, "description", &r->description)) {
		*given |= G_DESC;
		rc = al__check_note(c->err, "description", r->description, 0, DESC_MAX);
	}
	if (rc == AL_OK && al__arg_str(c, "scheduler", &r->scheduler)) {
		*given |= G_SCHED;
		rc = al__check_enum(c->err, "scheduler", r->scheduler, al__schedulers);
	}
	if (rc == AL_OK && al__arg_bool(c, "public", &r->is_public))
		*given |= G_PUBLIC;
	if (rc == AL_OK && al__arg_str(c, "wsproxy", &r->wsproxy)) {
		*given |= G_WSPROXY;
		rc = check_wsproxy(c->err, r->wsproxy);
	}
	if (rc == AL_OK && al__arg_list(c, "allowed_session_types", &list)) {
		*given |= G_TYPES;
		rc = check_types(c->err, list, &r->types);
	}
	if (rc == AL_OK && al__arg_int(c, "pending_timeout", &n)) {
		*given |= G_PENDING;
		r->pending_timeout = n;
		if (n < 0 || n > PENDING_MAX)
			rc = al_err(c->err, AL_EINVALID_ARGUMENT, "pending_timeout: seconds from 0 (never) to %lld", PENDING_MAX);
	}
	if (rc == AL_OK && al__arg_int(c, "retries_to_skip", &n)) {
		*given |= G_RETRIES;
		r->retries = n;
		if (n < -1 || n > AL_RETRIES_TO_SKIP_MAX)
			rc = al_err(c->err, AL_EINVALID_ARGUMENT,
				    "retries_to_skip: from 0 to %d, or -1 for the retries-to-skip setting", AL_RETRIES_TO_SKIP_MAX);
	}
	return rc;
}

/* Only FIFO skips pending sessions after retries (the guide; the platform's scheduler dialog). */
static int check_retries_rule(al_cmd *c, const rg_row *r, unsigned given)
{
	if (r->retries <= 0 || al_str_eq(r->scheduler, "fifo"))
		return AL_OK;
	if (given & G_RETRIES)
		return al_err(c->err, AL_EINVALID_ARGUMENT,
			      "retries_to_skip: may be non-zero only with the fifo scheduler (this group's is %.*s)",
			      al__clip(r->scheduler.n), r->scheduler.p);
	return al_err(c->err, AL_EINVALID_ARGUMENT,
		      "scheduler: the group skips pending sessions after %lld retries, which only fifo does; "
		      "give --retries-to-skip 0 or -1 too",
		      (long long)r->retries);
}

/* The event fields of a new group. */
static void created_fields(al_mb *f, const rg_row *r)
{
	al_mb_str(f, "name", r->name.p, r->name.n);
	if (r->description.n)
		al_mb_str(f, "description", r->description.p, r->description.n);
	al_mb_bool(f, "is_public", r->is_public);
	al_mb_str(f, "scheduler", r->scheduler.p, r->scheduler.n);
	pack_types(al_mb_key(f, "allowed_session_types"), r->types);
	al_mb_int(f, "pending_timeout", r->pending_timeout);
	if (r->retries >= 0)
		al_mb_int(f, "retries_to_skip", r->retries);
	if (r->wsproxy.n)
		al_mb_str(f, "wsproxy_addr", r->wsproxy.p, r->wsproxy.n);
}

static int emit_created(al_cmd *c, const rg_row *r)
{
	al_mb f;
	al_mb_init(&f);
	created_fields(&f, r);
	int rc = al__emit(c, AL_EV_RGROUP_CREATED, r->name, &f);
	al_mb_free(&f);
	return rc;
}

static int emit_assoc(al_cmd *c, al_str group, char kind, al_str target, al_str domain, al_str project, bool add)
{
	al_mb f;
	al_mb_init(&f);
	al_mb_cstr(&f, "target_kind", kind_name(kind));
	al_mb_str(&f, "target", target.p, target.n);
	if (kind == 'p') {
		al_mb_str(&f, "domain", domain.p, domain.n);
		al_mb_str(&f, "project", project.p, project.n);
	}
	int rc = al__emit(c, add ? AL_EV_RGROUP_ASSOCIATED : AL_EV_RGROUP_DISSOCIATED, group, &f);
	al_mb_free(&f);
	return rc;
}

static bool assoc_exists(al_cmd *c, al_str group, char kind, al_str target)
{
	char gkey[KEY_MAX], tkey[KEY_MAX];
	size_t gn, tn;
	if (!assoc_keys(gkey, &gn, tkey, &tn, group, kind, target))
		return false;
	MDB_val k = {gn, gkey}, v;
	return al__cmd_found(c, mdb_get(c->txn, dbi(c, DB_ASSOC), &k, &v), "resource group associations");
}

/* ---- commands -------------------------------------------------------------------------------- */

int al__rgroup_create(al_cmd *c)
{
	rg_row r = empty_row;
	unsigned given;
	char sched[16];
	al__arg_str(c, "name", &r.name);
	/* Without --scheduler: the scheduler setting of now, recorded, so a later change of the
	 * setting does not change this group behind the admin's back. */
	int rc = al__setting_get(c->s, c->txn, "scheduler", sched, sizeof sched, NULL, c->err);
	r.scheduler = (al_str){sched, strlen(sched)};
	if (rc == AL_OK)
		rc = al__check_slug(c->err, "name", r.name);
	if (rc == AL_OK)
		rc = read_args(c, &r, &given);
	if (rc == AL_OK)
		rc = check_retries_rule(c, &r, given | G_RETRIES);
	if (rc)
		return rc;
	rg_row old;
	if ((rc = find_row(c, r.name, &old, NULL)) != 0)
		return rc < 0 ? rc
			      : al_err(c->err, AL_EALREADY_EXISTS, "name: resource group %.*s already exists", al__clip(r.name.n),
				       r.name.p);
	if ((rc = emit_created(c, &r)))
		return rc;
	return pack_found(c, r.name);
}

/* Adds to f each field of n that differs from o; returns how many. */
static int changed_fields(const rg_row *o, const rg_row *n, al_mb *f)
{
	int k = 0;
	if (!same(o->description, n->description))
		al_mb_str(f, "description", n->description.p, n->description.n), k++;
	if (o->is_public != n->is_public)
		al_mb_bool(f, "is_public", n->is_public), k++;
	if (!same(o->scheduler, n->scheduler))
		al_mb_str(f, "scheduler", n->scheduler.p, n->scheduler.n), k++;
	if (o->types != n->types)
		pack_types(al_mb_key(f, "allowed_session_types"), n->types), k++;
	if (o->pending_timeout != n->pending_timeout)
		al_mb_int(f, "pending_timeout", n->pending_timeout), k++;
	if (o->retries != n->retries)
		al_mb_int(f, "retries_to_skip", n->retries), k++;
	if (!same(o->wsproxy, n->wsproxy))
		al_mb_str(f, "wsproxy_addr", n->wsproxy.p, n->wsproxy.n), k++;
	return k;
}

int al__rgroup_update(al_cmd *c)
{
	al_str name;
	rg_row old, r;
	unsigned given;
	al__arg_str(c, "name", &name);
	int rc = must_find(c, name, &old);
	if (rc)
		return rc;
	r = old;
	if ((rc = read_args(c, &r, &given)))
		return rc;
	if (given == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "nothing to update (the name cannot change)");
	if ((rc = check_retries_rule(c, &r, given)))
		return rc;
	al_mb f;
	al_mb_init(&f);
	if (changed_fields(&old, &r, &f) > 0) /* an update that changes nothing records nothing */
		rc = al__emit(c, AL_EV_RGROUP_UPDATED, name, &f);
	al_mb_free(&f);
	return rc ? rc : pack_found(c, name);
}

static int set_active(al_cmd *c, enum al_ev_id ev, bool active)
{
	al_str name;
	rg_row r;
	al__arg_str(c, "name", &name);
	int rc = must_find(c, name, &r);
	if (rc == AL_OK && r.is_active != active) /* already so: nothing to record */
		rc = al__emit(c, ev, name, NULL);
	return rc ? rc : pack_found(c, name);
}

int al__rgroup_deactivate(al_cmd *c) { return set_active(c, AL_EV_RGROUP_DEACTIVATED, false); }
int al__rgroup_activate(al_cmd *c) { return set_active(c, AL_EV_RGROUP_ACTIVATED, true); }

int al__rgroup_delete(al_cmd *c)
{
	al_str name;
	rg_row r;
	uint64_t agents = 0, sessions = 0;
	al__arg_str(c, "name", &name);
	int rc = must_find(c, name, &r);
	if (rc == AL_OK)
		rc = al__agents_count_group(c, name, &agents);
	if (rc == AL_OK)
		rc = al__sessions_count_group(c, name, &sessions);
	if (rc)
		return rc;
	if (agents > 0)
		return al_err(c->err, AL_EIN_USE,
			      "name: resource group %.*s was used by %llu agent(s); deactivate it instead", al__clip(name.n),
			      name.p, (unsigned long long)agents);
	/* A session of any status, even one cancelled while PENDING, keeps its group in its history. */
	if (sessions > 0)
		return al_err(c->err, AL_EIN_USE,
			      "name: resource group %.*s ran %llu compute session(s); deactivate it instead", al__clip(name.n),
			      name.p, (unsigned long long)sessions);
	if ((rc = al__emit(c, AL_EV_RGROUP_DELETED, name, NULL)))
		return rc;
	return al__answer_deleted(c, "name", name);
}

int al__rgroup_get(al_cmd *c)
{
	al_str name;
	al__arg_str(c, "name", &name);
	return pack_found(c, name);
}

int al__rgroup_list(al_cmd *c)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(c->txn, dbi(c, DB_GROUPS), &cur);
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "list resource groups: %s", mdb_strerror(rc));
	al_rows rows;
	al__rows_begin(c, &rows);
	MDB_val k, v;
	int m;
	for (m = mdb_cursor_get(cur, &k, &v, MDB_FIRST); m == 0 && rc == AL_OK;
	     m = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		msgpack_object row;
		rg_row r = empty_row;
		if ((rc = al__decode_row(c, &v, &row)))
			break;
		read_fields(&row, &r);
		if ((rc = pack_public(c, &r, &rows.pk)) == AL_OK)
			rc = al__rows_push(c, &rows);
	}
	if (rc == AL_OK)
		rc = al__cursor_end(m, c->err, "resource groups");
	mdb_cursor_close(cur);
	return al__rows_end(c, &rows, rc);
}

/* ---- associations ------------------------------------------------------------------------------ */

typedef struct target {
	char kind;
	al_str value;           /* domain name, project id or access key */
	al_str domain, project; /* for a project */
} target;

/* The one target of associate (add) or dissociate; it must exist (to associate: an active
 * domain or project; to dissociate, an inactive one will do, so that it can be undone). */
static int resolve_target(al_cmd *c, bool add, target *t)
{
	bool project = al__args_given(c, (const char *const[]){"project"}, 1);
	bool keypair = al__args_given(c, (const char *const[]){"keypair"}, 1);
	bool domain = al__args_given(c, (const char *const[]){"domain"}, 1) && !project;
	if (project + keypair + domain != 1)
		return al_err(c->err, AL_EINVALID_ARGUMENT,
			      "target: give exactly one of --domain, --project (with an optional --domain) or --keypair");
	memset(t, 0, sizeof *t);
	if (domain) {
		t->kind = 'd';
		al__arg_str(c, "domain", &t->value);
		if (add)
			return al__domain_require_active(c, "domain", t->value);
		return al__domain_exists(c, t->value) ? AL_OK
						      : al_err(c->err, AL_EINVALID_ARGUMENT, "domain: no domain named %.*s",
							       al__clip(t->value.n), t->value.p);
	}
	if (project) {
		t->kind = 'p';
		t->domain = al__domain_arg(c);
		al__arg_str(c, "project", &t->project);
		if (add)
			return al__project_require(c, "project", t->domain, t->project, &t->value);
		bool active;
		int rc = al__project_lookup(c, t->domain, t->project, &t->value, &active);
		if (rc == 0)
			return al_err(c->err, AL_EINVALID_ARGUMENT, "project: no project named %.*s in domain %.*s",
				      al__clip(t->project.n), t->project.p, al__clip(t->domain.n), t->domain.p);
		return rc < 0 ? rc : AL_OK;
	}
	t->kind = 'k';
	al__arg_str(c, "keypair", &t->value);
	al_keypair_info k;
	int rc = al__keypair_info(c->s, c->txn, t->value, &k, c->zone, c->err);
	if (rc == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "keypair: no keypair %.*s", al__clip(t->value.n), t->value.p);
	return rc < 0 ? rc : AL_OK;
}

static int change_assoc(al_cmd *c, bool add)
{
	al_str name;
	rg_row r;
	target t;
	al__arg_str(c, "name", &name);
	int rc = must_find(c, name, &r);
	if (rc == AL_OK)
		rc = resolve_target(c, add, &t);
	if (rc)
		return rc;
	if (assoc_exists(c, name, t.kind, t.value) != add) /* already so: nothing to record */
		rc = emit_assoc(c, name, t.kind, t.value, t.domain, t.project, add);
	return rc ? rc : pack_found(c, name);
}

int al__rgroup_associate(al_cmd *c) { return change_assoc(c, true); }
int al__rgroup_dissociate(al_cmd *c) { return change_assoc(c, false); }

/* ---- what sessions use --------------------------------------------------------------------------- */

int al__rgroup_check_use(al_cmd *c, al_str name, const al_rgroup_use *u)
{
	rg_row r;
	int rc = find_row(c, name, &r, NULL);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "group: no resource group named %.*s", al__clip(name.n), name.p);
	if (!r.is_active)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "group: resource group %.*s is inactive", al__clip(name.n), name.p);
	/* The platform's allowed groups: associated with the domain, the project or the keypair. */
	if (!assoc_exists(c, name, 'd', u->domain) && !assoc_exists(c, name, 'p', u->project_id) &&
	    !assoc_exists(c, name, 'k', u->access_key))
		return c->failed.code ? c->failed.code
				      : al_err(c->err, AL_EINVALID_ARGUMENT,
					       "group: resource group %.*s is not allowed for domain %.*s, project %.*s or keypair %.*s",
					       al__clip(name.n), name.p, al__clip(u->domain.n), u->domain.p,
					       al__clip(u->project.n), u->project.p, al__clip(u->access_key.n), u->access_key.p);
	unsigned bit = 0;
	for (unsigned i = 0; session_types[i]; i++)
		if (al_str_eq(u->type, session_types[i]))
			bit = 1u << i;
	unsigned types = r.is_public ? r.types : (r.types & T_SYSTEM); /* a non-public group: system only */
	if (!(types & bit))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "group: resource group %.*s does not accept %.*s sessions%s",
			      al__clip(name.n), name.p, al__clip(u->type.n), u->type.p,
			      r.is_public ? "" : " (it is not public: system sessions only)");
	return AL_OK;
}

/* ---- the groups a user may use ---------------------------------------------------------------- */

typedef struct hit {
	al_str group, via;
} hit;

typedef struct hits {
	al_cmd *c;
	hit *v;
	size_t n, cap;
	al_str via; /* for the scan in progress */
	al_str user; /* keypair scans: the owner wanted */
} hits;

static int add_hit(al_cmd *c, al_str group, al_str via, hits *h)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		hit *nv = al_zone_malloc(c->zone, cap * sizeof *nv);
		if (nv == NULL)
			return al_err(c->err, AL_ENO_MEMORY, "out of memory");
		if (h->n)
			memcpy(nv, h->v, h->n * sizeof *nv);
		h->v = nv;
		h->cap = cap;
	}
	h->v[h->n++] = (hit){al__keep(c, "", group), via};
	return 0;
}

/* Scan of v_rgroup_targets under one target: rest is the group name. */
static int hit_group(al_cmd *c, al_str rest, const MDB_val *v, void *ctx)
{
	(void)v;
	return add_hit(c, rest, ((hits *)ctx)->via, ctx);
}

static al_str join(al_cmd *c, const char *a, al_str b, const char *sep, al_str d)
{
	size_t an = strlen(a), sn = strlen(sep), n = an + b.n + sn + d.n;
	char *p = al_zone_malloc(c->zone, n + 1);
	if (p == NULL)
		return (al_str){"", 0};
	memcpy(p, a, an);
	memcpy(p + an, b.p, b.n);
	memcpy(p + an + b.n, sep, sn);
	memcpy(p + an + b.n + sn, d.p, d.n);
	p[n] = 0;
	return (al_str){p, n};
}

static int scan_target(al_cmd *c, char kind, al_str target, al_str via, hits *h)
{
	char prefix[KEY_MAX];
	size_t pn = al__key2(prefix, KEY_MAX, kind, target, (al_str){"", 0});
	h->via = via;
	return pn && target.n ? scan(c, DB_TARGETS, prefix, pn, hit_group, h) : AL_OK;
}

/* Scan of every keypair association ('k' prefix): rest is access key "\0" group. Only the
 * user's own active keypairs count. */
static int hit_keypair(al_cmd *c, al_str rest, const MDB_val *v, void *ctx)
{
	(void)v;
	hits *h = ctx;
	const char *nul = memchr(rest.p, 0, rest.n);
	if (nul == NULL)
		return al_err(c->err, AL_ECORRUPT, "a resource group association key is malformed");
	al_str ak = {rest.p, (size_t)(nul - rest.p)}, group = {nul + 1, rest.n - ak.n - 1};
	al_keypair_info k;
	int rc = al__keypair_info(c->s, c->txn, ak, &k, c->zone, c->err);
	if (rc < 0)
		return rc;
	if (rc == 1 && k.is_active && same(k.user, h->user))
		return add_hit(c, group, join(c, "keypair:", al__keep(c, "", ak), "", (al_str){"", 0}), h);
	return 0;
}

/* The user's active projects, each scanned for its groups. */
static int project_hits(al_cmd *c, al_str email, al_str domain, hits *h)
{
	msgpack_sbuffer b;
	msgpack_packer pk;
	msgpack_object names;
	msgpack_sbuffer_init(&b);
	msgpack_packer_init(&pk, &b, al_sbuffer_write);
	int rc = al__user_projects_pack(c, email, &pk);
	if (rc == AL_OK && al_mp_decode(b.data, b.size, c->zone, &names) != 0)
		rc = al_err(c->err, AL_EINTERNAL, "the user's projects do not decode");
	for (uint32_t i = 0; rc == AL_OK && i < names.via.array.size; i++) {
		al_str name = al__keep(c, "", (al_str){names.via.array.ptr[i].via.str.ptr, names.via.array.ptr[i].via.str.size}), id;
		bool active;
		int found = al__project_lookup(c, domain, name, &id, &active);
		if (found < 0)
			rc = found;
		else if (found == 1 && active)
			rc = scan_target(c, 'p', id, join(c, "project:", domain, "/", name), h);
	}
	al_sbuffer_destroy(&b); /* the names were kept in the zone */
	return rc;
}

static int cmp_hit(const void *a, const void *b)
{
	const hit *x = a, *y = b;
	int r = memcmp(x->group.p, y->group.p, x->group.n < y->group.n ? x->group.n : y->group.n);
	if (r == 0)
		r = (x->group.n > y->group.n) - (x->group.n < y->group.n);
	if (r == 0) {
		r = memcmp(x->via.p, y->via.p, x->via.n < y->via.n ? x->via.n : y->via.n);
		r = r ? r : (x->via.n > y->via.n) - (x->via.n < y->via.n);
	}
	return r;
}

/* One allowed group: name, is_public, scheduler, the session types the user may start there
 * (a non-public group hosts system sessions only) and the associations that allow it. */
static int pack_allowed(al_cmd *c, al_rows *rows, const hit *first, size_t n)
{
	rg_row r;
	int rc = find_row(c, first->group, &r, NULL);
	if (rc <= 0)
		return rc < 0 ? rc : al_err(c->err, AL_ECORRUPT, "an association names a missing resource group");
	unsigned types = r.is_public ? r.types : (r.types & T_SYSTEM);
	if (!r.is_active || types == 0)
		return AL_OK;
	msgpack_packer *pk = &rows->pk;
	msgpack_pack_map(pk, 5);
	al_pack_cstr(pk, "name"), al_pack_str(pk, r.name.p, r.name.n);
	pack_bool(pk, "is_public", r.is_public);
	al_pack_cstr(pk, "scheduler"), al_pack_str(pk, r.scheduler.p, r.scheduler.n);
	al_pack_cstr(pk, "session_types"), pack_types(pk, types);
	al_pack_cstr(pk, "via");
	size_t distinct = 0;
	for (size_t i = 0; i < n; i++)
		distinct += i == 0 || !same(first[i].via, first[i - 1].via);
	msgpack_pack_array(pk, (uint32_t)distinct);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || !same(first[i].via, first[i - 1].via))
			al_pack_str(pk, first[i].via.p, first[i].via.n);
	return al__rows_push(c, rows);
}

int al__rgroup_allowed(al_cmd *c)
{
	al_str email;
	al_user_auth u;
	al__arg_str(c, "user", &email);
	int rc = al__user_auth_info(c->s, c->txn, email, &u, c->zone, c->err);
	if (rc < 0)
		return rc;
	if (rc == 0) /* others learn nothing about accounts outside their reach */
		return al__is_superadmin(c) ? al_err(c->err, AL_ENOT_FOUND, "user %.*s: not found", al__clip(email.n), email.p)
					    : al__authz_deny(c);
	if ((rc = al__authz_read_user(c, email, u.domain)))
		return rc;
	email = al__keep(c, "", u.email);
	al_str domain = al__keep(c, "", u.domain);
	hits h = {.c = c, .user = email};
	al_error scratch, *err = c->err;
	c->err = &scratch; /* an inactive domain is not an error here: it just allows nothing */
	bool domain_ok = al__domain_require_active(c, "domain", domain) == AL_OK;
	c->err = err;
	if (domain_ok)
		rc = scan_target(c, 'd', domain, join(c, "domain:", domain, "", (al_str){"", 0}), &h);
	if (rc == AL_OK)
		rc = project_hits(c, email, domain, &h);
	if (rc == AL_OK)
		rc = scan(c, DB_TARGETS, "k", 1, hit_keypair, &h);
	if (rc)
		return rc;
	if (h.n > 1)
		qsort(h.v, h.n, sizeof *h.v, cmp_hit);
	al_rows rows;
	al__rows_begin(c, &rows);
	for (size_t i = 0, j; rc == AL_OK && i < h.n; i = j) {
		for (j = i + 1; j < h.n && same(h.v[j].group, h.v[i].group); j++)
			;
		rc = pack_allowed(c, &rows, &h.v[i], j - i);
	}
	return al__rows_end(c, &rows, rc);
}

/* ---- bootstrap ----------------------------------------------------------------------------------- */

int al__rgroup_emit_default(al_cmd *c)
{
	al_str name = {"default", 7}, domain = {"default", 7}, none = {"", 0};
	rg_row r = empty_row;
	int rc = find_row(c, name, &r, NULL);
	if (rc != 0)
		return rc < 0 ? rc : AL_OK; /* made already */
	if (!al__domain_exists(c, domain))
		return al_err(c->err, AL_EINTERNAL, "bootstrap: the default resource group needs domain default first");
	r = empty_row;
	r.name = name;
	r.description = (al_str){"The default resource group", 26};
	r.scheduler = (al_str){"fifo", 4};
	if ((rc = emit_created(c, &r)))
		return rc;
	return emit_assoc(c, name, 'd', domain, none, none, true);
}
