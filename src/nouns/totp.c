/*
 * totp.c - two-factor authentication: TOTP keys (RFC 6238 via liboath: HMAC-SHA1, 30 s steps,
 * 6 digits, what authenticator apps expect), sealed at rest with the master key.
 *
 * View v_totp: email -> {pending_sealed, active_sealed, activated_at}; "" when absent. A user
 * enrolls a key for itself (user.totp_pending), confirms it with a valid code
 * (user.totp_enabled: pending becomes active), and it, a superadmin or an admin of its domain
 * turns it off (user.totp_disabled: the row goes). The plaintext key leaves the library once,
 * in the result of user.2fa.enable (sealed in the request-id table); nothing prints it again.
 * A code is good once, whatever it was used for: login and confirmation record the last code
 * (key and time step) each user used in one registry per store, in memory and shared by every
 * thread (login runs on the server's workers, confirmation on its writer).
 */
#include <liboath/oath.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/authz.h"
#include "core/seal.h"
#include "nouns/nouns.h"

#define TOTP_KEY_LEN 20 /* 160 bits: RFC 4226's recommended HMAC-SHA1 key length */
#define TOTP_STEP 30
#define TOTP_DIGITS 6
#define TOTP_WINDOW 1 /* steps either side of now: clock skew and typing time */
#define ISSUER "adminlog"
#define CLAIM_LEN 16 /* user.2fa.confirm's prepared claim on the step it uses */

enum { DB_TOTP };

typedef struct totp_row {
	al_str pending_sealed, active_sealed;
	int64_t activated_at;
} totp_row;

static const totp_row empty_row = {{"", 0}, {"", 0}, 0};


/* ---- row encoding -------------------------------------------------------------------------- */

static void pack_row(msgpack_packer *pk, const totp_row *r)
{
	msgpack_pack_map(pk, 3);
	al_pack_cstr(pk, "pending_sealed"), al_pack_str(pk, r->pending_sealed.p, r->pending_sealed.n);
	al_pack_cstr(pk, "active_sealed"), al_pack_str(pk, r->active_sealed.p, r->active_sealed.n);
	al_pack_cstr(pk, "activated_at"), msgpack_pack_int64(pk, r->activated_at);
}

static int read_row(const void *data, size_t n, msgpack_zone *z, totp_row *r)
{
	msgpack_object m;
	if (al_mp_decode(data, n, z, &m) != 0 || m.type != MSGPACK_OBJECT_MAP)
		return -1;
	*r = empty_row;
	al_mp_str(&m, "pending_sealed", &r->pending_sealed);
	al_mp_str(&m, "active_sealed", &r->active_sealed);
	al_mp_int(&m, "activated_at", &r->activated_at);
	return 0;
}

/* ---- projection ---------------------------------------------------------------------------- */

/* r's strings may point into the stored row: packing copies them into vb before the put.
 * The key is the event's id, which does not live in a view page. */
static int put_row(const al_view *v, const al_event *e, const totp_row *r, al_error *err)
{
	msgpack_packer pk;
	msgpack_sbuffer *b = al__view_row(v, &pk);
	pack_row(&pk, r);
	return al__view_put(v, DB_TOTP, e->id.p, e->id.n, b->data, b->size, err);
}

static int load_row(const al_view *v, const al_event *e, totp_row *r, bool *found, al_error *err)
{
	MDB_val val;
	*r = empty_row;
	*found = al__view_get(v, DB_TOTP, e->id.p, e->id.n, &val) == 0;
	if (*found && read_row(val.mv_data, val.mv_size, &v->w->zone, r) != 0)
		return al_err(err, AL_ECORRUPT, "event %llu: the totp view row of %.*s does not decode",
			      (unsigned long long)e->seq, al__clip(e->id.n), e->id.p);
	return AL_OK;
}

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	totp_row r;
	bool found;
	int rc;
	if (e->def == al__ev(AL_EV_USER_TOTP_DISABLED))
		return al__view_del(v, DB_TOTP, e->id.p, e->id.n, err);
	if (e->def != al__ev(AL_EV_USER_TOTP_PENDING) && e->def != al__ev(AL_EV_USER_TOTP_ENABLED))
		return AL_OK;
	if ((rc = load_row(v, e, &r, &found, err)))
		return rc;
	if (e->def == al__ev(AL_EV_USER_TOTP_PENDING)) {
		if (al_mp_str(&e->fields, "key_sealed", &r.pending_sealed) != 1)
			return al_err(err, AL_ECORRUPT, "event %llu: user.totp_pending without key_sealed",
				      (unsigned long long)e->seq);
	} else {
		if (r.pending_sealed.n == 0)
			return al_err(err, AL_ECORRUPT, "event %llu: user.totp_enabled for %.*s without a pending key",
				      (unsigned long long)e->seq, al__clip(e->id.n), e->id.p);
		r.active_sealed = r.pending_sealed;
		r.pending_sealed = (al_str){"", 0};
		r.activated_at = e->time_us;
	}
	return put_row(v, e, &r, err);
}

static void mem_free(void *p); /* below, with the memory it frees */
/* The event types apply reads: the engine calls it for these only. */
static const enum al_ev_id applies_to[] = {
	AL_EV_USER_TOTP_PENDING, AL_EV_USER_TOTP_ENABLED, AL_EV_USER_TOTP_DISABLED, AL_EV__COUNT};
const al_projection al__proj_totp = {"totp", 1, {"v_totp", NULL}, apply, mem_free, .on = applies_to};

/* ---- TOTP arithmetic: all in liboath -------------------------------------------------------- */

static pthread_once_t oath_once = PTHREAD_ONCE_INIT;
static int oath_status = OATH_OK;
static void oath_start(void) { oath_status = oath_init(); }

static int oath_ready(al_error *err)
{
	pthread_once(&oath_once, oath_start);
	return oath_status == OATH_OK ? AL_OK : al_err(err, AL_EINTERNAL, "liboath: %s", oath_strerror(oath_status));
}

/* liboath's strcmp-like hook, so the code comparison takes the same time whatever matches. */
static int same_code(void *code, const char *candidate)
{
	return strlen(candidate) == TOTP_DIGITS && sodium_memcmp(code, candidate, TOTP_DIGITS) == 0 ? 0 : 1;
}

static bool code_format_ok(al_str code)
{
	if (code.n != TOTP_DIGITS)
		return false;
	for (size_t i = 0; i < code.n; i++)
		if (code.p[i] < '0' || code.p[i] > '9')
			return false;
	return true;
}

/* 1 when code (already checked to be 6 digits) is valid for key at now_us within the window;
 * *step is then the time step it belongs to. */
static int code_valid(const unsigned char *key, size_t n, int64_t now_us, al_str code, int64_t *step)
{
	char want[TOTP_DIGITS + 1];
	int pos = 0;
	memcpy(want, code.p, TOTP_DIGITS);
	want[TOTP_DIGITS] = 0;
	time_t now = (time_t)((now_us > 0 ? now_us : 0) / 1000000);
	int rc = oath_totp_validate2_callback((const char *)key, n, now, TOTP_STEP, OATH_TOTP_DEFAULT_START_TIME,
					      TOTP_DIGITS, TOTP_WINDOW, &pos, same_code, want);
	*step = (int64_t)now / TOTP_STEP + pos;
	return rc >= 0;
}

/* Opens a sealed key and checks code against it: 1 valid, 0 not, or a negative al_ code. use
 * then names the code: its step, and the key by a hash of its sealed text (unique per
 * enrolment, as sealing draws a random nonce; the same text once pending and once active). */
static int sealed_code_valid(const al_store *s, al_str sealed, int64_t now_us, al_str code, al_totp_use *use,
			     al_error *err)
{
	unsigned char key[64];
	size_t n;
	int rc = al__unseal(s, sealed, key, sizeof key, &n, err);
	if (rc)
		return rc;
	rc = code_valid(key, n, now_us, code, &use->step);
	sodium_memzero(key, sizeof key);
	crypto_generichash(use->key, sizeof use->key, (const unsigned char *)sealed.p, sealed.n, NULL, 0);
	return rc;
}

/* ---- codes are good once ----------------------------------------------------------------------- */

typedef struct used_step {
	char email[AL_MAX_ID + 1];
	al_totp_use last;              /* the last code accepted: its key and step */
	bool claimed;                  /* it was taken by the confirmation holding claim */
	unsigned char claim[CLAIM_LEN];
} used_step;

typedef struct totp_mem {
	pthread_mutex_t mu;
	used_step *v;
	size_t n, cap;
} totp_mem;

static pthread_mutex_t mem_create = PTHREAD_MUTEX_INITIALIZER;

static void mem_free(void *p)
{
	totp_mem *m = p;
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->mu);
	al_free(m->v);
	al_free(m);
}

/* Whether u may take the code use: any code of another key (a new enrolment starts afresh), a
 * later step always; the same step only for the claim that took it, as a confirmation runs
 * again when its batch's transaction does (see al__totp_confirm). */
static bool step_free(const used_step *u, const al_totp_use *use, const unsigned char *claim)
{
	if (memcmp(u->last.key, use->key, sizeof use->key) != 0 || use->step > u->last.step)
		return true;
	return use->step == u->last.step && claim && u->claimed && sodium_memcmp(u->claim, claim, CLAIM_LEN) == 0;
}

static void step_take(used_step *u, const al_totp_use *use, const unsigned char *claim)
{
	u->last = *use;
	u->claimed = claim != NULL;
	if (claim)
		memcpy(u->claim, claim, CLAIM_LEN);
}

/* The store's registry of used steps, made on first use; NULL when out of memory. */
static totp_mem *mem_of(al_store *s)
{
	pthread_mutex_lock(&mem_create);
	if (s->proj_mem[AL_P_TOTP] == NULL) {
		totp_mem *m = al_calloc(1, sizeof *m);
		if (m && pthread_mutex_init(&m->mu, NULL) != 0) {
			al_free(m);
			m = NULL;
		}
		s->proj_mem[AL_P_TOTP] = m;
	}
	totp_mem *m = s->proj_mem[AL_P_TOTP];
	pthread_mutex_unlock(&mem_create);
	return m;
}

/* True, and use remembered, when no code of its key and step or later was accepted for email
 * before (login and 2FA confirmation alike, from any thread): a code seen once cannot be used
 * again within its window. claim (CLAIM_LEN bytes, or NULL) lets the same confirmation take its
 * step again. Out of memory fails closed. */
static bool step_unused(al_store *s, al_str email, const al_totp_use *use, const unsigned char *claim)
{
	totp_mem *m = mem_of(s);
	if (m == NULL || email.n > AL_MAX_ID)
		return false;
	bool ok = true;
	pthread_mutex_lock(&m->mu);
	size_t i = 0;
	while (i < m->n && !(strlen(m->v[i].email) == email.n && memcmp(m->v[i].email, email.p, email.n) == 0))
		i++;
	if (i < m->n) {
		ok = step_free(&m->v[i], use, claim);
		if (ok)
			step_take(&m->v[i], use, claim);
	} else {
		if (m->n == m->cap) {
			size_t cap = m->cap ? 2 * m->cap : 16;
			used_step *v = al_realloc(m->v, cap * sizeof *v);
			if (v) {
				m->v = v;
				m->cap = cap;
			}
		}
		ok = m->n < m->cap;
		if (ok) {
			al_str_cpy(m->v[m->n].email, sizeof m->v[m->n].email, email);
			step_take(&m->v[m->n++], use, claim);
		}
	}
	pthread_mutex_unlock(&m->mu);
	return ok;
}

int al__totp_consume(al_store *s, al_str email, const al_totp_use *use, al_error *err)
{
	return step_unused(s, email, use, NULL)
		       ? AL_OK
		       : al_err(err, AL_EUNAUTHENTICATED, "otp: this one-time code was already used; wait for the next");
}

/* ---- queries -------------------------------------------------------------------------------- */

/* 1 found, 0 not, or a negative al_ code. Strings live in z. */
static int find_row(const al_store *s, MDB_txn *txn, al_str email, msgpack_zone *z, totp_row *r, al_error *err)
{
	MDB_val k = {email.n, (void *)email.p}, v;
	*r = empty_row;
	int rc = email.n ? mdb_get(txn, al__view_dbi(s, AL_P_TOTP, DB_TOTP), &k, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return al_err(err, AL_EIO_ERROR, "read totp view: %s", mdb_strerror(rc));
	if (read_row(v.mv_data, v.mv_size, z, r) != 0)
		return al_err(err, AL_ECORRUPT, "the totp view row of %.*s does not decode", al__clip(email.n), email.p);
	return 1;
}

int al__totp_state(al_store *s, MDB_txn *txn, al_str email, bool *on, al_error *err)
{
	msgpack_zone z;
	totp_row r;
	msgpack_zone_init(&z, 512);
	int rc = find_row(s, txn, email, &z, &r, err);
	*on = rc == 1 && r.active_sealed.n > 0;
	msgpack_zone_destroy(&z);
	return rc < 0 ? rc : AL_OK;
}

int al__totp_check(al_store *s, MDB_txn *txn, al_str email, al_str code, int64_t now_us, al_totp_use *use_out,
		   al_error *err)
{
	int rc = oath_ready(err);
	if (rc)
		return rc;
	msgpack_zone z;
	totp_row r;
	msgpack_zone_init(&z, 512);
	rc = find_row(s, txn, email, &z, &r, err);
	if (rc == 1 && r.active_sealed.n == 0)
		rc = 0;
	if (rc == 0)
		rc = al_err(err, AL_EUNAUTHENTICATED, "otp: two-factor authentication is not enabled");
	else if (rc == 1 && !code_format_ok(code))
		rc = al_err(err, AL_EUNAUTHENTICATED, "otp: a one-time code is 6 digits");
	else if (rc == 1) {
		al_totp_use use;
		rc = sealed_code_valid(s, r.active_sealed, now_us, code, &use, err);
		if (rc == 0)
			rc = al_err(err, AL_EUNAUTHENTICATED, "otp: wrong or expired one-time code");
		else if (rc == 1) {
			rc = AL_OK;
			if (use_out)
				*use_out = use;
		}
	}
	msgpack_zone_destroy(&z);
	return rc;
}

/* ---- commands ------------------------------------------------------------------------------ */

/* The user named email; not_found when there is none. */
static int must_find_user(al_cmd *c, al_str email, al_user_auth *u)
{
	int rc = al__user_auth_info(c->s, c->txn, email, u, c->zone, c->err);
	if (rc == 0)
		return al_err(c->err, AL_ENOT_FOUND, "user %.*s: not found", al__clip(email.n), email.p);
	return rc < 0 ? rc : AL_OK;
}

/* Enabling and confirming act on the actor's own account: an operator without a user (adminctl
 * without --as) has none, and nobody enrolls a key for someone else. */
static int require_self(al_cmd *c, al_str *email, al_user_auth *u)
{
	if (c->actor->user == NULL || c->actor->user[0] == 0)
		return al_err(c->err, AL_EPERMISSION_DENIED,
			      "%s: two-factor authentication is set up by each user for itself; an operator must act "
			      "as that user (adminctl --as EMAIL)",
			      c->def->op);
	*email = (al_str){c->actor->user, strlen(c->actor->user)};
	return must_find_user(c, *email, u);
}

/* The otpauth:// label: issuer:email, percent-encoded except unreserved characters and '@'. */
static void pack_uri(msgpack_packer *pk, al_str email, const char *secret)
{
	char uri[512];
	size_t n = (size_t)snprintf(uri, sizeof uri, "otpauth://totp/" ISSUER ":");
	for (size_t i = 0; i < email.n && n + 4 < sizeof uri; i++) {
		unsigned char ch = (unsigned char)email.p[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("-._~@", ch))
			uri[n++] = (char)ch;
		else
			n += (size_t)snprintf(uri + n, sizeof uri - n, "%%%02X", ch);
	}
	n += (size_t)snprintf(uri + n, sizeof uri - n, "?secret=%s&issuer=" ISSUER, secret);
	al_pack_str(pk, uri, n < sizeof uri ? n : sizeof uri - 1);
	sodium_memzero(uri, sizeof uri);
}

/* Random key, sealed: the only form in which it enters the command (and the event). */
int al__totp_enable_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err)
{
	(void)args;
	unsigned char key[TOTP_KEY_LEN];
	char sealed[AL_SEALED_LEN(TOTP_KEY_LEN)];
	randombytes_buf(key, sizeof key);
	int rc = al__seal(s, key, sizeof key, sealed, sizeof sealed, err);
	sodium_memzero(key, sizeof key);
	if (rc == AL_OK)
		al_mb_cstr(out, "key_sealed", sealed);
	return rc;
}

/* Packs {email, status: pending, secret, uri} from the sealed key. */
static int pack_enrolment(al_cmd *c, al_str email, al_str sealed)
{
	unsigned char key[64];
	size_t n;
	char *b32 = NULL;
	size_t b32n = 0;
	int rc = al__unseal(c->s, sealed, key, sizeof key, &n, c->err);
	if (rc == AL_OK && oath_base32_encode((const char *)key, n, &b32, &b32n) != OATH_OK)
		rc = al_err(c->err, AL_ENO_MEMORY, "base32 encoding failed");
	sodium_memzero(key, sizeof key);
	if (rc)
		return rc;
	msgpack_packer *pk = c->out;
	msgpack_pack_map(pk, 4);
	al_pack_cstr(pk, "email"), al_pack_str(pk, email.p, email.n);
	al_pack_cstr(pk, "status"), al_pack_cstr(pk, "pending");
	al_pack_cstr(pk, "secret"), al_pack_str(pk, b32, b32n);
	al_pack_cstr(pk, "uri"), pack_uri(pk, email, b32);
	sodium_memzero(b32, b32n);
	free(b32); /* liboath allocates it with libc */
	c->secret_result = true; /* kept sealed for request-id retries */
	return AL_OK;
}

int al__totp_enable(al_cmd *c)
{
	al_str email, sealed;
	al_user_auth u;
	totp_row r;
	int rc = oath_ready(c->err);
	if (rc == AL_OK)
		rc = require_self(c, &email, &u);
	if (rc == AL_OK && (!c->prep || al_mp_str(c->prep, "key_sealed", &sealed) != 1))
		rc = al_err(c->err, AL_EINTERNAL, "user.2fa.enable needs a prepared key");
	if (rc == AL_OK && (rc = find_row(c->s, c->txn, email, c->zone, &r, c->err)) >= 0)
		rc = AL_OK;
	if (rc)
		return rc;
	if (r.active_sealed.n)
		return al_err(c->err, AL_EALREADY_EXISTS,
			      "2fa: two-factor authentication is already enabled for %.*s (disable it first to enroll a "
			      "new key)",
			      al__clip(email.n), email.p);
	al_mb f;
	al_mb_init(&f);
	al_mb_str(&f, "key_sealed", sealed.p, sealed.n);
	rc = al__emit(c, AL_EV_USER_TOTP_PENDING, email, &f);
	al_mb_free(&f);
	return rc ? rc : pack_enrolment(c, email, sealed);
}

static void pack_status(al_cmd *c, al_str email, const totp_row *r, bool found)
{
	const char *st = !found ? "disabled" : r->active_sealed.n ? "enabled" : "pending";
	char t[40];
	msgpack_pack_map(c->out, r->active_sealed.n ? 3 : 2);
	al_pack_cstr(c->out, "email"), al_pack_str(c->out, email.p, email.n);
	al_pack_cstr(c->out, "status"), al_pack_cstr(c->out, st);
	if (r->active_sealed.n)
		al_pack_cstr(c->out, "activated_at"), al_pack_cstr(c->out, al_time_format(r->activated_at, t, sizeof t));
}

/* A random claim on the time step the code will use: decided once per command, so that the
 * step this confirmation takes is still its own when its batch's transaction runs again. */
int al__totp_confirm_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err)
{
	(void)s, (void)args, (void)err;
	unsigned char claim[CLAIM_LEN];
	char hex[2 * CLAIM_LEN + 1];
	randombytes_buf(claim, sizeof claim);
	al_mb_cstr(out, "claim", sodium_bin2hex(hex, sizeof hex, claim, sizeof claim));
	return AL_OK;
}

/* The prepared claim, as bytes. */
static int prepared_claim(al_cmd *c, unsigned char claim[CLAIM_LEN])
{
	al_str hex;
	size_t n = 0;
	if (!c->prep || al_mp_str(c->prep, "claim", &hex) != 1 ||
	    sodium_hex2bin(claim, CLAIM_LEN, hex.p, hex.n, NULL, &n, NULL) != 0 || n != CLAIM_LEN)
		return al_err(c->err, AL_EINTERNAL, "%s ran without its prepare step", c->def->op);
	return AL_OK;
}

int al__totp_confirm(al_cmd *c)
{
	al_str email, code = {"", 0};
	al_user_auth u;
	totp_row r;
	al__arg_str(c, "code", &code);
	int rc = oath_ready(c->err);
	if (rc == AL_OK)
		rc = require_self(c, &email, &u);
	if (rc)
		return rc;
	if (!code_format_ok(code))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "code: must be exactly %d digits", TOTP_DIGITS);
	if ((rc = find_row(c->s, c->txn, email, c->zone, &r, c->err)) < 0)
		return rc;
	if (r.pending_sealed.n == 0 && r.active_sealed.n)
		return al_err(c->err, AL_EALREADY_EXISTS, "2fa: two-factor authentication is already enabled for %.*s",
			      al__clip(email.n), email.p);
	if (r.pending_sealed.n == 0)
		return al_err(c->err, AL_ENOT_FOUND, "2fa: no pending two-factor key for %.*s: run user 2fa enable first",
			      al__clip(email.n), email.p);
	al_totp_use use;
	rc = sealed_code_valid(c->s, r.pending_sealed, c->now_us, code, &use, c->err);
	if (rc == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "code: wrong or expired one-time code");
	if (rc < 0)
		return rc;
	/* A code is good once whatever it is used for: the one that confirms does not log in. */
	unsigned char claim[CLAIM_LEN];
	if ((rc = prepared_claim(c, claim)))
		return rc;
	if (!step_unused(c->s, email, &use, claim))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "code: this one-time code was already used; wait for the next");
	if ((rc = al__emit(c, AL_EV_USER_TOTP_ENABLED, email, NULL)))
		return rc;
	r.active_sealed = r.pending_sealed;
	r.activated_at = c->now_us;
	pack_status(c, email, &r, true);
	return AL_OK;
}

/* The user itself, a superadmin, or an admin of the user's domain (never over a superadmin,
 * as the platform lets admins act for users of their domain but never for a superadmin). */
static int authz_disable(al_cmd *c, const al_user_auth *u)
{
	if (al__is_self(c, u->email) || al__is_superadmin(c))
		return AL_OK;
	if (c->actor->role == AL_ROLE_ADMIN && !al_str_eq(u->role, "superadmin") && al__sees_domain(c, u->domain))
		return AL_OK;
	return al__authz_deny(c);
}

static int authz_status(al_cmd *c, const al_user_auth *u) { return al__authz_read_user(c, u->email, u->domain); }

/* The user the email argument names, once authz allows the actor at it, and its row: 1 when it
 * has one, 0 when not, or a negative al_ code. */
static int arg_user_row(al_cmd *c, int (*authz)(al_cmd *c, const al_user_auth *u), al_str *email, totp_row *r)
{
	al_user_auth u;
	al__arg_str(c, "email", email);
	int rc = must_find_user(c, *email, &u);
	if (rc == AL_OK)
		rc = authz(c, &u);
	return rc ? rc : find_row(c->s, c->txn, *email, c->zone, r, c->err);
}

int al__totp_disable(al_cmd *c)
{
	al_str email;
	totp_row r;
	int rc = arg_user_row(c, authz_disable, &email, &r);
	if (rc == 1) /* only when enrolled: without a row there is nothing to record */
		rc = al__emit(c, AL_EV_USER_TOTP_DISABLED, email, NULL);
	if (rc)
		return rc;
	pack_status(c, email, &empty_row, false);
	return AL_OK;
}

int al__totp_status(al_cmd *c)
{
	al_str email;
	totp_row r;
	int rc = arg_user_row(c, authz_status, &email, &r);
	if (rc < 0)
		return rc;
	pack_status(c, email, &r, rc == 1);
	return AL_OK;
}
