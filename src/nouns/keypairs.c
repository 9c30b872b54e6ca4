/*
 * keypairs.c - the keypair noun: API credentials of users. An access key ("AKIA" + 16 base32
 * characters) and a 40-character secret key, generated in the prepare step; the secret is
 * sealed with the master key there, so events and views hold only the sealed text and the
 * plaintext is shown once, in the create result (sealed in the request-id table).
 *
 * Views:
 *   v_keypairs          access key -> row (see kp_row)
 *   v_keypairs_by_user  owner email NUL access key -> "" (a user's keypairs are a range scan)
 *   v_keypairs_deleted  access key -> owner email: deleted keypairs; their keys go to no other user
 * A deleted keypair leaves v_keypairs and the index; its events stay in the log.
 *
 * Who may do what: a superadmin everything; an admin or monitor reads the keypairs of the
 * users of its domain; a user reads its own and changes none (the narrowest reading of the
 * guide's "reads and updates only itself ... and its own keypairs").
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/authz.h"
#include "core/rows.h"
#include "core/seal.h"
#include "core/validate.h"
#include "nouns/nouns.h"

enum { DB_KEYPAIRS, DB_BY_USER, DB_DELETED };

#define RATE_LIMIT_DEFAULT 10000
#define RATE_LIMIT_MAX 50000

/* The stored row: its columns are declared in schemas/rows.def (AL_ROW keypair). */
typedef al_row_keypair kp_row;
#define ROW (&al_row_keypair_def)

static const kp_row empty_row = {.access_key = {"", 0}, .user = {"", 0}, .user_id = {"", 0},
				 .secret_key_sealed = {"", 0}, .resource_policy = {"", 0}};

static bool str_eq(al_str a, al_str b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

/* Overwrites the members of k named in map m (an event's fields). */
static void read_fields(const msgpack_object *m, kp_row *k) { al_row_set(ROW, k, m); }

/* The index key "email NUL access key" into buf; 0 when it does not fit. */
static size_t user_key(char *buf, size_t n, al_str email, al_str ak)
{
	if (email.n + 1 + ak.n > n)
		return 0;
	memcpy(buf, email.p, email.n);
	buf[email.n] = 0;
	memcpy(buf + email.n + 1, ak.p, ak.n);
	return email.n + 1 + ak.n;
}

/* ---- projection ------------------------------------------------------------------------------ */

/* The row is keyed by the event's id, which lives in the event, not in a view page. */
static int put_row(const al_view *v, const al_event *e, const kp_row *k, al_error *err)
{
	msgpack_packer pk;
	msgpack_sbuffer *b = al__view_row(v, &pk);
	al_row_pack(&pk, ROW, k);
	return al__view_put(v, DB_KEYPAIRS, e->id.p, e->id.n, b->data, b->size, err);
}

static int load_row(const al_view *v, const al_event *e, kp_row *k, al_error *err)
{
	MDB_val val;
	if (al__view_get(v, DB_KEYPAIRS, e->id.p, e->id.n, &val) != 0 ||
	    al_row_decode(ROW, val.mv_data, val.mv_size, &v->w->zone, k) != 0)
		return al_err(err, AL_ECORRUPT, "event %llu: %s for unknown keypair %.*s", (unsigned long long)e->seq,
			      e->def->name, al__clip(e->id.n), e->id.p);
	return AL_OK;
}

static int apply_created(const al_view *v, const al_event *e, al_error *err)
{
	kp_row k = empty_row;
	read_fields(&e->fields, &k);
	k.num_sessions = k.last_used = 0;
	k.created_at = k.modified_at = e->time_us;
	char key[AL_MAX_ID * 2];
	size_t kn = user_key(key, sizeof key, k.user, e->id);
	if (kn == 0)
		return al_err(err, AL_ECORRUPT, "event %llu: keypair owner too long", (unsigned long long)e->seq);
	int rc = put_row(v, e, &k, err);
	return rc ? rc : al__view_put(v, DB_BY_USER, key, kn, "", 0, err);
}

static int apply_deleted(const al_view *v, const al_event *e, al_error *err)
{
	kp_row k;
	int rc = load_row(v, e, &k, err);
	if (rc)
		return rc;
	/* Copied before the first write: k points into a page that the writes may move. */
	char key[AL_MAX_ID * 2];
	size_t kn = user_key(key, sizeof key, k.user, e->id);
	if (kn == 0)
		return al_err(err, AL_ECORRUPT, "event %llu: keypair owner too long", (unsigned long long)e->seq);
	if ((rc = al__view_del(v, DB_KEYPAIRS, e->id.p, e->id.n, err)) ||
	    (rc = al__view_del(v, DB_BY_USER, key, kn, err)))
		return rc;
	return al__view_put(v, DB_DELETED, e->id.p, e->id.n, key, k.user.n, err);
}

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	if (e->def == al__ev(AL_EV_KEYPAIR_CREATED))
		return apply_created(v, e, err);
	if (e->def == al__ev(AL_EV_KEYPAIR_DELETED))
		return apply_deleted(v, e, err);
	bool updated = e->def == al__ev(AL_EV_KEYPAIR_UPDATED), used = e->def == al__ev(AL_EV_KEYPAIR_USED);
	bool on = e->def == al__ev(AL_EV_KEYPAIR_ACTIVATED), off = e->def == al__ev(AL_EV_KEYPAIR_DEACTIVATED);
	if (!updated && !used && !on && !off)
		return AL_OK;
	kp_row k;
	int rc = load_row(v, e, &k, err);
	if (rc)
		return rc;
	if (used) { /* keypair.record-use, gone since sessions exist: old logs still count */
		k.num_sessions++;
		k.last_used = e->time_us;
	} else {
		if (updated)
			read_fields(&e->fields, &k);
		else
			k.is_active = on;
		k.modified_at = e->time_us;
	}
	return put_row(v, e, &k, err);
}

/* The event types apply reads: the engine calls it for these only. */
static const enum al_ev_id applies_to[] = {
	AL_EV_KEYPAIR_CREATED, AL_EV_KEYPAIR_UPDATED, AL_EV_KEYPAIR_DEACTIVATED, AL_EV_KEYPAIR_ACTIVATED,
	AL_EV_KEYPAIR_DELETED, AL_EV_KEYPAIR_USED, AL_EV__COUNT};
/* v5: no concurrency_used column (v_occupancy holds it). */
const al_projection al__proj_keypairs = {
	"keypairs", 5, {"v_keypairs", "v_keypairs_by_user", "v_keypairs_deleted", NULL}, apply,
	.on = applies_to};

/* ---- queries --------------------------------------------------------------------------------- */

static MDB_dbi dbi(al_store *s, int db) { return al__view_dbi(s, AL_P_KEYPAIRS, db); }

/* 1 found, 0 not found (or deleted), or a negative al_ code. Strings live in z / the txn. */
static int find_row(al_store *s, MDB_txn *txn, al_str ak, msgpack_zone *z, kp_row *k, al_error *err)
{
	return al__get_compact(txn, dbi(s, DB_KEYPAIRS), ak, z, ROW, k, "keypair", "a keypair", err);
}

static int must_find(al_cmd *c, al_str ak, kp_row *k)
{
	int rc = find_row(c->s, c->txn, ak, c->zone, k, c->err);
	if (rc == 0)
		return al_err(c->err, AL_ENOT_FOUND, "keypair %.*s: not found", al__clip(ak.n), ak.p);
	return rc < 0 ? rc : AL_OK;
}

/* The access key is not in use, and if a deleted keypair had it, that keypair was user's: the
 * guide has an admin re-create an accidentally deleted keypair with the same keys (the log
 * keeps both lives under the one entity), but a key never passes to another user, whose
 * requests would then carry the first owner's audit trail. */
static int check_unused(al_cmd *c, al_str ak, al_str user)
{
	MDB_val key = {ak.n, (void *)ak.p}, v;
	int rc = mdb_get(c->txn, dbi(c->s, DB_KEYPAIRS), &key, &v);
	if (rc == 0)
		return al_err(c->err, AL_EALREADY_EXISTS, "access_key: %.*s is already in use", al__clip(ak.n), ak.p);
	if (rc == MDB_NOTFOUND && (rc = mdb_get(c->txn, dbi(c->s, DB_DELETED), &key, &v)) == 0 &&
	    !(v.mv_size == user.n && memcmp(v.mv_data, user.p, user.n) == 0))
		return al_err(c->err, AL_EALREADY_EXISTS,
			      "access_key: %.*s belonged to a deleted keypair of another user and is never given to another",
			      al__clip(ak.n), ak.p);
	if (rc == 0)
		return AL_OK; /* the same user's deleted keypair: re-created */
	return rc == MDB_NOTFOUND ? AL_OK : al_err(c->err, AL_EIO_ERROR, "read keypairs: %s", mdb_strerror(rc));
}

/* The owner of a keypair: 1 found, 0 not, or a negative code. */
static int owner(al_cmd *c, al_str email, al_user_auth *u)
{
	return al__user_auth_info(c->s, c->txn, email, u, c->zone, c->err);
}

/* Reading keypairs of email: the user itself, or an admin / monitor of its domain. */
static int authz_read(al_cmd *c, al_str email)
{
	al_user_auth u;
	int rc = owner(c, email, &u);
	if (rc < 0)
		return rc;
	return rc == 1 ? al__authz_read_user(c, email, u.domain) : (al__is_superadmin(c) ? AL_OK : al__authz_deny(c));
}

static void pack_bool(msgpack_packer *pk, const char *key, bool b)
{
	al_pack_cstr(pk, key);
	b ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
}

/* What the keypair's sessions hold (v_occupancy): concurrency_used (its sessions in the
 * platform's USER_RESOURCE_OCCUPYING statuses) and occupied (their slots, a slot map). An
 * unreadable row fails the command (al__cmd_fail) and packs as nothing. */
static void pack_occupancy(al_cmd *c, al_str ak, msgpack_packer *pk)
{
	msgpack_zone z;
	al_row_occupancy o;
	al_slotvec occ = {0};
	msgpack_zone_init(&z, 256);
	int rc = al__occupancy_get(c->s, c->txn, 'k', ak, &z, &o, c->err);
	if (rc == 1 && al_slotvec_parse(&occ, o.slots) != 0)
		rc = al_err(c->err, AL_ECORRUPT, "keypair %.*s: occupied slots do not parse", al__clip(ak.n), ak.p);
	if (rc < 0) {
		al__cmd_fail_err(c, c->err);
		o.sessions = 0, occ.n = 0;
	}
	al_pack_cstr(pk, "concurrency_used"), msgpack_pack_int64(pk, rc == 1 ? o.sessions : 0);
	al_pack_cstr(pk, "occupied"), al_slotvec_pack(&occ, pk);
	msgpack_zone_destroy(&z);
}

/* num_sessions: the sessions created with the key (of any status), and those keypair.used
 * events counted before sessions existed. */
static int64_t sessions_of(al_cmd *c, const kp_row *k)
{
	uint64_t n = 0;
	if (al__sessions_count_key(c, k->access_key, &n) != AL_OK)
		al__cmd_fail_err(c, c->err);
	return k->num_sessions + (int64_t)n;
}

/* The public view of a keypair, never its secret; the caller packs `extra` more pairs. */
static void pack_public(al_cmd *c, const kp_row *k, msgpack_packer *pk, uint32_t extra)
{
	msgpack_pack_map(pk, 14 + extra);
	al_pack_cstr(pk, "access_key"), al_pack_str(pk, k->access_key.p, k->access_key.n);
	al_pack_cstr(pk, "user"), al_pack_str(pk, k->user.p, k->user.n);
	pack_bool(pk, "is_active", k->is_active);
	pack_bool(pk, "is_admin", k->is_admin);
	pack_bool(pk, "is_main", k->is_main);
	al_pack_cstr(pk, "resource_policy"), al_pack_str(pk, k->resource_policy.p, k->resource_policy.n);
	al_pack_cstr(pk, "rate_limit"), msgpack_pack_int64(pk, k->rate_limit);
	al_pack_cstr(pk, "num_sessions"), msgpack_pack_int64(pk, sessions_of(c, k));
	pack_occupancy(c, k->access_key, pk);
	al__pack_time_or_nil(pk, "created_at", k->created_at);
	al__pack_time_or_nil(pk, "modified_at", k->modified_at);
	al__pack_time_or_nil(pk, "last_used", k->last_used);
	al_pack_cstr(pk, "version");
	msgpack_pack_uint64(pk, al__cmd_version(c, "keypair", k->access_key));
}

static int pack_found(al_cmd *c, al_str ak)
{
	kp_row k;
	int rc = must_find(c, ak, &k);
	if (rc == AL_OK)
		pack_public(c, &k, c->out, 0);
	return rc;
}

/* ---- the prepare step: generation, advanced-mode formats, sealing ----------------------------- */

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* RFC 4648 base32 without padding of n bytes (n * 8 a multiple of 5) into out. libsodium has none. */
static void base32(const unsigned char *in, size_t n, char *out)
{
	unsigned acc = 0, bits = 0;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8 | in[i]) & 0xfff;
		for (bits += 8; bits >= 5; bits -= 5)
			*out++ = b32[(acc >> (bits - 5)) & 31];
	}
	*out = 0;
}

static int check_access_key(al_error *err, al_str ak)
{
	bool ok = ak.n == AL_ACCESS_KEY_LEN && memcmp(ak.p, "AKIA", 4) == 0;
	for (size_t i = 4; ok && i < ak.n; i++)
		ok = memchr(b32, ak.p[i], 32) != NULL;
	return ok ? AL_OK
		  : al_err(err, AL_EINVALID_ARGUMENT, "access_key: must be \"AKIA\" followed by 16 of A-Z and 2-7");
}

/* The message never contains the secret. */
static int check_secret_key(al_error *err, al_str sk)
{
	bool ok = sk.n == AL_SECRET_KEY_LEN;
	for (size_t i = 0; ok && i < sk.n; i++) {
		char ch = sk.p[i];
		ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		     ch == '_';
	}
	return ok ? AL_OK
		  : al_err(err, AL_EINVALID_ARGUMENT,
			   "secret_key: must be 40 characters of A-Z, a-z, 0-9, '-' and '_' (URL-safe base64)");
}

int al__keypair_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err)
{
	char ak[AL_ACCESS_KEY_LEN + 1], sk[AL_SECRET_KEY_LEN + 1], sealed[AL_SEALED_LEN(AL_SECRET_KEY_LEN)];
	al_str given_ak, given_sk;
	bool has_ak = al_mp_str(args, "access_key", &given_ak) == 1, has_sk = al_mp_str(args, "secret_key", &given_sk) == 1;
	int rc;
	if (has_ak != has_sk)
		return al_err(err, AL_EINVALID_ARGUMENT, "%s: advanced mode needs both access_key and secret_key",
			      has_ak ? "secret_key" : "access_key");
	if (has_ak) {
		if ((rc = check_access_key(err, given_ak)) || (rc = check_secret_key(err, given_sk)))
			return rc;
		al_str_cpy(ak, sizeof ak, given_ak);
		al_str_cpy(sk, sizeof sk, given_sk);
	} else {
		unsigned char raw[30];
		memcpy(ak, "AKIA", 4);
		randombytes_buf(raw, 10);
		base32(raw, 10, ak + 4);
		randombytes_buf(raw, sizeof raw); /* 30 bytes are exactly 40 base64 characters */
		sodium_bin2base64(sk, sizeof sk, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		sodium_memzero(raw, sizeof raw);
	}
	rc = al__seal(s, sk, AL_SECRET_KEY_LEN, sealed, sizeof sealed, err);
	if (rc == AL_OK) {
		al_mb_cstr(out, "access_key", ak);
		al_mb_cstr(out, "secret_key", sk);
		al_mb_cstr(out, "secret_key_sealed", sealed);
	}
	sodium_memzero(sk, sizeof sk);
	return rc;
}

/* ---- what other nouns use ---------------------------------------------------------------------- */

static int check_rate_limit(al_cmd *c, int64_t n)
{
	if (n < 1 || n > RATE_LIMIT_MAX)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "rate_limit: 1 to %d requests per 15 minutes (got %lld)",
			      RATE_LIMIT_MAX, (long long)n);
	return AL_OK;
}

int al__keypair_emit_created(al_cmd *c, const al_keypair_new *k)
{
	al_user_auth u;
	int rc;
	if ((rc = check_access_key(c->err, k->access_key)) || (rc = check_unused(c, k->access_key, k->user_email)) ||
	    (rc = check_rate_limit(c, k->rate_limit)) ||
	    (rc = al__policy_require(c, AL_POLICY_KEYPAIR, "policy", k->resource_policy)))
		return rc;
	if (k->secret_key_sealed.n == 0 || k->user_id.n == 0)
		return al_err(c->err, AL_EINTERNAL, "keypair.created needs a prepared secret and the owner's id");
	if ((rc = owner(c, k->user_email, &u)) < 0)
		return rc;
	if (rc == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "user: no user with email %.*s", al__clip(k->user_email.n),
			      k->user_email.p);
	al_mb f;
	al_mb_init(&f);
	al_mb_str(&f, "access_key", k->access_key.p, k->access_key.n);
	al_mb_str(&f, "user", k->user_email.p, k->user_email.n);
	al_mb_str(&f, "user_id", k->user_id.p, k->user_id.n);
	al_mb_str(&f, "secret_key_sealed", k->secret_key_sealed.p, k->secret_key_sealed.n);
	al_mb_str(&f, "resource_policy", k->resource_policy.p, k->resource_policy.n);
	al_mb_int(&f, "rate_limit", k->rate_limit);
	al_mb_bool(&f, "is_admin", k->is_admin);
	al_mb_bool(&f, "is_active", k->is_active);
	al_mb_bool(&f, "is_main", k->is_main);
	rc = al__emit(c, AL_EV_KEYPAIR_CREATED, k->access_key, &f);
	al_mb_free(&f);
	return rc;
}

/* The access keys of email's keypairs for which want(row, arg) holds, copied out of the view
 * (emitting moves its pages). *out is malloc'd, AL_ACCESS_KEY_LEN bytes per key. */
typedef bool (*kp_filter)(const kp_row *k, const void *arg);

static int collect(al_cmd *c, al_str email, kp_filter want, const void *arg, char **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	char key[AL_MAX_ID * 2];
	al_str none = {"", 0};
	size_t pn = user_key(key, sizeof key, email, none);
	if (pn == 0 || email.n == 0)
		return AL_OK;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(c->txn, dbi(c->s, DB_BY_USER), &cur);
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "list keypairs: %s", mdb_strerror(rc));
	MDB_val k = {pn, key}, v;
	size_t cap = 0;
	msgpack_zone z;
	msgpack_zone_init(&z, 512);
	rc = AL_OK;
	int m;
	for (m = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     m == 0 && k.mv_size > pn && memcmp(k.mv_data, key, pn) == 0; m = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		al_str ak = {(const char *)k.mv_data + pn, k.mv_size - pn};
		kp_row row;
		msgpack_zone_clear(&z);
		if ((rc = find_row(c->s, c->txn, ak, &z, &row, c->err)) < 0)
			break;
		rc = AL_OK;
		if (ak.n != AL_ACCESS_KEY_LEN || !want(&row, arg))
			continue;
		if (*n == cap) {
			char *p = al_realloc(*out, (cap = cap ? cap * 2 : 4) * AL_ACCESS_KEY_LEN);
			if (p == NULL) {
				rc = al_err(c->err, AL_ENO_MEMORY, "out of memory");
				break;
			}
			*out = p;
		}
		memcpy(*out + (*n)++ * AL_ACCESS_KEY_LEN, ak.p, AL_ACCESS_KEY_LEN);
	}
	msgpack_zone_destroy(&z);
	if (rc == AL_OK)
		rc = al__cursor_end(m, c->err, "keypairs");
	mdb_cursor_close(cur);
	if (rc) {
		al_free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

static bool is_active(const kp_row *k, const void *arg) { return (void)arg, k->is_active; }
static bool admin_differs(const kp_row *k, const void *arg) { return k->is_admin != *(const bool *)arg; }

/* Emits ev (with fields f, or none) about each collected key. */
static int emit_each(al_cmd *c, char *keys, size_t n, enum al_ev_id ev, const al_mb *f)
{
	int rc = AL_OK;
	for (size_t i = 0; rc == AL_OK && i < n; i++)
		rc = al__emit(c, ev, (al_str){keys + i * AL_ACCESS_KEY_LEN, AL_ACCESS_KEY_LEN}, f);
	al_free(keys);
	return rc;
}

int al__keypairs_deactivate_user(al_cmd *c, al_str email)
{
	char *keys;
	size_t n;
	int rc = collect(c, email, is_active, NULL, &keys, &n);
	return rc ? rc : emit_each(c, keys, n, AL_EV_KEYPAIR_DEACTIVATED, NULL);
}

int al__keypairs_sync_admin(al_cmd *c, al_str email, bool is_admin)
{
	char *keys;
	size_t n;
	int rc = collect(c, email, admin_differs, &is_admin, &keys, &n);
	if (rc)
		return rc;
	al_mb f;
	al_mb_init(&f);
	al_mb_bool(&f, "is_admin", is_admin);
	rc = emit_each(c, keys, n, AL_EV_KEYPAIR_UPDATED, &f);
	al_mb_free(&f);
	return rc;
}

int al__keypairs_count_policy(al_cmd *c, al_str name, uint64_t *n)
{
	return al__count_rows_eq_in(c, AL_P_KEYPAIRS, DB_KEYPAIRS, "count keypairs", "a keypair", ROW, "resource_policy", name,
				 n);
}

static void to_info(const kp_row *k, al_keypair_info *out)
{
	*out = (al_keypair_info){k->access_key, k->user, k->secret_key_sealed, k->resource_policy,
				 k->rate_limit, k->is_active, k->is_admin};
}

int al__keypair_info(al_store *s, MDB_txn *txn, al_str access_key, al_keypair_info *out, msgpack_zone *z,
		     al_error *err)
{
	kp_row k;
	int rc = find_row(s, txn, access_key, z, &k, err);
	if (rc == 1)
		to_info(&k, out);
	return rc;
}

int al__keypair_of_user(al_store *s, MDB_txn *txn, al_str email, al_keypair_info *out, msgpack_zone *z,
			al_error *err)
{
	char key[AL_MAX_ID * 2];
	al_str none = {"", 0};
	size_t pn = user_key(key, sizeof key, email, none);
	if (pn == 0 || email.n == 0)
		return 0;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, dbi(s, DB_BY_USER), &cur);
	if (rc)
		return al_err(err, AL_EIO_ERROR, "list keypairs: %s", mdb_strerror(rc));
	MDB_val k = {pn, key}, v;
	kp_row best = empty_row;
	int found = 0; /* 0 none, 1 active, 2 active admin, 3 active main */
	int m;
	for (m = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     found < 3 && m == 0 && k.mv_size > pn && memcmp(k.mv_data, key, pn) == 0;
	     m = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		kp_row row;
		al_str ak = {(const char *)k.mv_data + pn, k.mv_size - pn};
		if ((rc = find_row(s, txn, ak, z, &row, err)) < 0)
			break;
		int rank = !row.is_active ? 0 : row.is_main ? 3 : row.is_admin ? 2 : 1;
		if (rank > found) {
			found = rank;
			best = row;
		}
	}
	if (rc >= 0)
		rc = al__cursor_end(m, err, "keypairs");
	mdb_cursor_close(cur);
	if (rc < 0)
		return rc;
	if (found)
		to_info(&best, out);
	return found ? 1 : 0;
}

/* ---- commands ---------------------------------------------------------------------------------- */

int al__keypair_create(al_cmd *c)
{
	al_keypair_new k = {.resource_policy = {"default", 7}, .rate_limit = RATE_LIMIT_DEFAULT};
	al_user_auth u;
	al_str secret;
	al__arg_str(c, "user", &k.user_email);
	al__arg_str(c, "policy", &k.resource_policy);
	al__arg_int(c, "rate_limit", &k.rate_limit);
	al__arg_bool(c, "admin", &k.is_admin);
	int rc = owner(c, k.user_email, &u);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "user: no user with email %.*s", al__clip(k.user_email.n),
			      k.user_email.p);
	if (!c->prep || al_mp_str(c->prep, "access_key", &k.access_key) != 1 ||
	    al_mp_str(c->prep, "secret_key", &secret) != 1 ||
	    al_mp_str(c->prep, "secret_key_sealed", &k.secret_key_sealed) != 1)
		return al_err(c->err, AL_EINTERNAL, "keypair.create ran without its prepare step");
	k.user_id = u.id;
	k.is_active = al_str_eq(u.status, "active"); /* a non-active user gets no usable credential */
	if ((rc = al__keypair_emit_created(c, &k)))
		return rc;
	kp_row row;
	if ((rc = must_find(c, k.access_key, &row)))
		return rc;
	c->secret_result = true; /* kept sealed for request-id retries */
	pack_public(c, &row, c->out, 1);
	al_pack_cstr(c->out, "secret_key");
	al_pack_str(c->out, secret.p, secret.n);
	return AL_OK;
}

int al__keypair_get(al_cmd *c)
{
	al_str ak;
	kp_row k;
	al__arg_str(c, "access_key", &ak);
	int rc = must_find(c, ak, &k);
	if (rc == AL_OK)
		rc = authz_read(c, k.user);
	if (rc == AL_OK)
		pack_public(c, &k, c->out, 0);
	return rc;
}

static const char *const statuses[] = {"active", "inactive", NULL};

typedef struct list_state {
	al_cmd *c;
	al_rows rows;
	int status;            /* -1 any, 1 active, 0 inactive */
	bool scoped;           /* an admin or monitor: only owners of domains it sees */
	al_str last_owner;     /* the last owner looked up, and whether the actor sees it */
	char last_buf[AL_MAX_ID];
	bool last_visible;
} list_state;

static bool visible(list_state *st, al_str email)
{
	if (!st->scoped)
		return true;
	if (str_eq(email, st->last_owner))
		return st->last_visible;
	al_user_auth u;
	msgpack_zone z;
	msgpack_zone_init(&z, 512);
	al_error ignore;
	st->last_visible = al__user_auth_info(st->c->s, st->c->txn, email, &u, &z, &ignore) == 1 &&
			   al__sees_domain(st->c, u.domain);
	msgpack_zone_destroy(&z);
	st->last_owner = (al_str){"", 0}; /* copied: email lives in a zone cleared per row */
	if (email.n <= sizeof st->last_buf) {
		memcpy(st->last_buf, email.p, email.n);
		st->last_owner = (al_str){st->last_buf, email.n};
	}
	return st->last_visible;
}

static int list_row(list_state *st, const kp_row *k)
{
	if ((st->status >= 0 && k->is_active != (st->status == 1)) || !visible(st, k->user))
		return AL_OK;
	pack_public(st->c, k, &st->rows.pk, 0);
	return al__rows_push(st->c, &st->rows);
}

/* Rows of one owner (a range of the index), or of everyone (the whole view, by access key). */
static int list_rows(list_state *st, const al_str *email)
{
	al_cmd *c = st->c;
	char key[AL_MAX_ID * 2];
	size_t pn = 0;
	if (email && (pn = user_key(key, sizeof key, *email, (al_str){"", 0})) == 0)
		return AL_OK;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(c->txn, dbi(c->s, email ? DB_BY_USER : DB_KEYPAIRS), &cur);
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "list keypairs: %s", mdb_strerror(rc));
	msgpack_zone z;
	msgpack_zone_init(&z, 1024);
	MDB_val k = {pn, key}, v;
	int m;
	for (m = mdb_cursor_get(cur, &k, &v, email ? MDB_SET_RANGE : MDB_FIRST); m == 0;
	     m = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		kp_row row = empty_row;
		msgpack_zone_clear(&z);
		if (email) {
			if (k.mv_size <= pn || memcmp(k.mv_data, key, pn) != 0)
				break;
			al_str ak = {(const char *)k.mv_data + pn, k.mv_size - pn};
			if ((rc = find_row(c->s, c->txn, ak, &z, &row, c->err)) < 0)
				break;
			rc = AL_OK;
		} else {
			if (al_row_decode(ROW, v.mv_data, v.mv_size, &z, &row) != 0) {
				rc = al_err(c->err, AL_ECORRUPT, "a keypair view row does not decode");
				break;
			}
		}
		if ((rc = list_row(st, &row)))
			break;
	}
	msgpack_zone_destroy(&z);
	if (rc == AL_OK)
		rc = al__cursor_end(m, c->err, "keypairs");
	mdb_cursor_close(cur);
	return rc;
}

int al__keypair_list(al_cmd *c)
{
	al_str email = {0}, status;
	bool by_user = al__arg_str(c, "user", &email);
	list_state st = {.c = c, .status = -1, .last_owner = {"", 0}};
	int rc;
	if (al__arg_str(c, "status", &status)) {
		if ((rc = al__check_enum(c->err, "status", status, statuses)))
			return rc;
		st.status = al_str_eq(status, "active");
	}
	if (by_user) {
		al_user_auth u;
		if ((rc = owner(c, email, &u)) < 0)
			return rc;
		if (rc == 0)
			return al_err(c->err, AL_EINVALID_ARGUMENT, "user: no user with email %.*s", al__clip(email.n), email.p);
		if ((rc = al__authz_read_user(c, email, u.domain)))
			return rc;
	} else if (!al__is_superadmin(c) && c->actor->role != AL_ROLE_ADMIN && c->actor->role != AL_ROLE_MONITOR) {
		/* A user lists its own keypairs. */
		if (c->actor->user == NULL)
			return al__authz_deny(c);
		email = (al_str){c->actor->user, strlen(c->actor->user)};
		by_user = true;
	} else
		st.scoped = !al__is_superadmin(c);

	al__rows_begin(c, &st.rows);
	return al__rows_end(c, &st.rows, list_rows(&st, by_user ? &email : NULL));
}

int al__keypair_update(al_cmd *c)
{
	al_str ak, policy;
	int64_t rate;
	bool admin;
	kp_row k;
	al__arg_str(c, "access_key", &ak);
	int rc = must_find(c, ak, &k);
	if (rc)
		return rc;
	bool has_policy = al__arg_str(c, "policy", &policy), has_rate = al__arg_int(c, "rate_limit", &rate),
	     has_admin = al__arg_bool(c, "admin", &admin);
	if (!has_policy && !has_rate && !has_admin)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "nothing to update (give policy, rate_limit or admin)");
	if ((has_rate && (rc = check_rate_limit(c, rate))) ||
	    (has_policy && (rc = al__policy_require(c, AL_POLICY_KEYPAIR, "policy", policy))))
		return rc;
	al_mb f;
	al_mb_init(&f);
	if (has_admin && admin != k.is_admin)
		al_mb_bool(&f, "is_admin", admin);
	if (has_policy && !str_eq(policy, k.resource_policy))
		al_mb_str(&f, "resource_policy", policy.p, policy.n);
	if (has_rate && rate != k.rate_limit)
		al_mb_int(&f, "rate_limit", rate);
	if (f.n > 0) /* an update to the current values records nothing */
		rc = al__emit(c, AL_EV_KEYPAIR_UPDATED, ak, &f);
	al_mb_free(&f);
	return rc ? rc : pack_found(c, ak);
}

int al__keypair_deactivate(al_cmd *c)
{
	al_str ak;
	kp_row k;
	al__arg_str(c, "access_key", &ak);
	int rc = must_find(c, ak, &k);
	if (rc == AL_OK && k.is_active) /* already inactive: nothing to record */
		rc = al__emit(c, AL_EV_KEYPAIR_DEACTIVATED, ak, NULL);
	return rc ? rc : pack_found(c, ak);
}

int al__keypair_activate(al_cmd *c)
{
	al_str ak;
	kp_row k;
	al_user_auth u;
	al__arg_str(c, "access_key", &ak);
	int rc = must_find(c, ak, &k);
	if (rc || k.is_active)
		return rc ? rc : pack_found(c, ak);
	/* The guide: reactivating a user reactivates no keypair; the reverse holds too, so an
	 * inactive user never regains a usable credential behind its back. */
	if ((rc = owner(c, k.user, &u)) < 0)
		return rc;
	if (rc == 0 || !al_str_eq(u.status, "active"))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "access_key: its user %.*s is %.*s; activate the user first",
			      al__clip(k.user.n), k.user.p, rc ? al__clip(u.status.n) : 7, rc ? u.status.p : "missing");
	rc = al__emit(c, AL_EV_KEYPAIR_ACTIVATED, ak, NULL);
	return rc ? rc : pack_found(c, ak);
}

int al__keypair_delete(al_cmd *c)
{
	al_str ak;
	kp_row k;
	al_user_auth u;
	al__arg_str(c, "access_key", &ak);
	int rc = must_find(c, ak, &k);
	if (rc)
		return rc;
	if ((rc = owner(c, k.user, &u)) < 0)
		return rc;
	if (k.is_main || (rc == 1 && str_eq(u.main_access_key, ak)))
		return al_err(c->err, AL_EIN_USE, "access_key: %.*s is the main access key of %.*s", al__clip(ak.n), ak.p,
			      al__clip(k.user.n), k.user.p);
	/* Sessions of any status created with the key, and those keypair.used events counted in
	 * logs from before sessions existed. */
	uint64_t sessions = 0;
	if ((rc = al__sessions_count_key(c, ak, &sessions)))
		return rc;
	if (k.num_sessions > 0 || sessions > 0)
		return al_err(c->err, AL_EIN_USE, "access_key: %.*s was used by %lld compute session(s); deactivate it instead",
			      al__clip(ak.n), ak.p, (long long)k.num_sessions + (long long)sessions);
	if ((rc = al__emit(c, AL_EV_KEYPAIR_DELETED, ak, NULL)))
		return rc;
	return al__answer_deleted(c, "access_key", ak);
}
