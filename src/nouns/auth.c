/*
 * auth.c - login (email + password [+ TOTP code] -> keypair) and keypair challenge-response,
 * the two ways a connection authenticates (adminlog.h, "authentication").
 *
 * Login is read-only and split in three so the slow part holds no LMDB transaction: read the
 * user's hash, close; verify the password (argon2id, ~100 ms at the interactive cost); read
 * again and apply the rules that may only be told once the password matched. An unknown email
 * is verified against a fixed dummy hash at the directory's cost, so every failure before the
 * password matched costs one argon2id verification and answers the same message.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "core/authz.h"
#include "core/seal.h"
#include "core/secret.h"
#include "nouns/auth.h"
#include "nouns/nouns.h"

#define BAD_LOGIN "invalid email or password"
#define BAD_KEYPAIR "invalid access key or signature"

/* ---- client addresses ------------------------------------------------------------------------ */

typedef struct ip_addr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char b[16];
} ip_addr;

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parses an address of at most 63 characters; an IPv4-mapped IPv6 address becomes IPv4 and
 * *shift (when not NULL) tells how many prefix bits that removed. */
static bool parse_ip(const char *p, size_t n, ip_addr *a, unsigned *shift)
{
	char text[64];
	if (n == 0 || n >= sizeof text)
		return false;
	memcpy(text, p, n);
	text[n] = 0;
	if (shift)
		*shift = 0;
	if (inet_pton(AF_INET, text, a->b) == 1) {
		a->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, text, a->b) != 1)
		return false;
	a->family = AF_INET6;
	if (memcmp(a->b, v4_mapped, sizeof v4_mapped) == 0) {
		memmove(a->b, a->b + 12, 4);
		a->family = AF_INET;
		if (shift)
			*shift = 96;
	}
	return true;
}

/* The first bits bits of a and b are equal. */
static bool prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;
	if (memcmp(a, b, whole) != 0)
		return false;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return rest == 0 || ((a[whole] ^ b[whole]) & mask) == 0;
}

/* One list entry: "ADDR" or "ADDR/BITS". */
static bool entry_matches(const char *p, size_t n, const ip_addr *client)
{
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	const char *slash = memchr(p, '/', n);
	size_t an = slash ? (size_t)(slash - p) : n;
	ip_addr net;
	unsigned shift;
	if (!parse_ip(p, an, &net, &shift))
		return false;
	unsigned max = net.family == AF_INET ? 32 : 128, bits = max;
	if (slash) {
		const char *d = slash + 1, *end = p + n;
		if (d == end || end - d > 3)
			return false;
		bits = 0;
		for (; d < end; d++) {
			if (*d < '0' || *d > '9')
				return false;
			bits = bits * 10 + (unsigned)(*d - '0');
		}
		if (bits > max + shift || bits < shift) /* ::ffff:0:0/95 is not an IPv4 block */
			return false;
		bits -= shift;
	}
	return net.family == client->family && prefix_equal(net.b, client->b, bits);
}

bool al__ip_allowed(al_str list, const char *client)
{
	ip_addr c;
	if (client == NULL || !parse_ip(client, strlen(client), &c, NULL))
		return false;
	for (size_t i = 0; i < list.n;) {
		const char *comma = memchr(list.p + i, ',', list.n - i);
		size_t len = comma ? (size_t)(comma - (list.p + i)) : list.n - i;
		if (entry_matches(list.p + i, len, &c))
			return true;
		i += len + 1;
	}
	return false;
}

/* An empty list allows every address; a list with only spaces and commas is empty too. */
static bool ip_list_set(al_str list)
{
	for (size_t i = 0; i < list.n; i++)
		if (list.p[i] != ' ' && list.p[i] != ',' && list.p[i] != '\t')
			return true;
	return false;
}

static bool client_ok(al_str list, const char *client)
{
	return !ip_list_set(list) || al__ip_allowed(list, client);
}

/* ---- password verification --------------------------------------------------------------------- */

static uint64_t verifies;
static pthread_mutex_t dummy_lock = PTHREAD_MUTEX_INITIALIZER;
static char dummies[4][AL_PWHASH_LEN];

uint64_t al__auth_pwhash_verifies(void) { return __atomic_load_n(&verifies, __ATOMIC_RELAXED); }

const char *al__auth_dummy_hash(const char *cost)
{
	size_t i = 0;
	while (al__pwhash_costs[i] && strcmp(al__pwhash_costs[i], cost) != 0)
		i++;
	if (al__pwhash_costs[i] == NULL || i >= sizeof dummies / sizeof *dummies)
		return NULL;
	pthread_mutex_lock(&dummy_lock);
	if (dummies[i][0] == 0) {
		char pw[33];
		al__random_password(pw, sizeof pw);
		if (al__pwhash(cost, (al_str){pw, strlen(pw)}, dummies[i], NULL) != AL_OK)
			dummies[i][0] = 0;
		sodium_memzero(pw, sizeof pw);
	}
	pthread_mutex_unlock(&dummy_lock);
	return dummies[i][0] ? dummies[i] : NULL;
}

/* Exactly one argon2id verification per call: against hash, or the dummy when hash is "". */
static bool verify_password(const char *hash, const char *cost, al_str password)
{
	const char *h = hash[0] ? hash : al__auth_dummy_hash(cost);
	if (h == NULL)
		h = al__auth_dummy_hash("interactive");
	__atomic_add_fetch(&verifies, 1, __ATOMIC_RELAXED);
	bool ok = h && al__pwhash_verify(h, password);
	return ok && hash[0];
}

/* ---- login ------------------------------------------------------------------------------------ */

/* What the first read copies out before its transaction closes. */
typedef struct first_look {
	char hash[AL_PWHASH_LEN]; /* "" for an unknown user (or one without a password) */
	char cost[32];
} first_look;

static int look_up(al_store *s, al_str email, first_look *fl, al_error *err)
{
	MDB_txn *txn;
	int rc = al__read_begin(s, &txn, err);
	if (rc)
		return rc;
	msgpack_zone z;
	al_user_auth u;
	msgpack_zone_init(&z, 1024);
	rc = al__setting_get(s, txn, "pwhash", fl->cost, sizeof fl->cost, "interactive", err);
	/* No email is longer than 64 characters; a longer one (beyond LMDB's key size, even) is
	 * simply unknown. */
	if (rc == AL_OK)
		rc = email.n <= 64 ? al__user_auth_info(s, txn, email, &u, &z, err) : 0;
	if (rc == 1 && u.password_hash.n < sizeof fl->hash)
		al_str_cpy(fl->hash, sizeof fl->hash, u.password_hash);
	msgpack_zone_destroy(&z);
	mdb_txn_abort(txn);
	return rc < 0 ? rc : AL_OK;
}

static int copy_field(char *dst, size_t cap, al_str v, al_error *err)
{
	if (v.n >= cap)
		return al_err(err, AL_EINTERNAL, "a stored user field is longer than the login result allows");
	al_str_cpy(dst, cap, v);
	return AL_OK;
}

/* The keypair the client will use, with its secret key opened. */
static int hand_out_keypair(al_store *s, MDB_txn *txn, al_str email, msgpack_zone *z, al_login_result *out,
			    al_error *err)
{
	al_keypair_info kp;
	int rc = al__keypair_of_user(s, txn, email, &kp, z, err);
	if (rc < 0)
		return rc;
	if (rc == 0 || !kp.is_active)
		return al_err(err, AL_EUNAUTHENTICATED, "no active keypair");
	size_t n;
	if ((rc = copy_field(out->access_key, sizeof out->access_key, kp.access_key, err)))
		return rc;
	rc = al__unseal(s, kp.secret_key_sealed, (unsigned char *)out->secret_key, sizeof out->secret_key - 1, &n,
			err);
	if (rc == AL_OK)
		out->secret_key[n] = 0;
	return rc;
}

/* The rules told only once the password matched, on a fresh read of the user. */
static int second_look(al_store *s, const al_login_req *req, const first_look *fl, al_login_result *out,
		       al_error *err)
{
	MDB_txn *txn;
	int rc = al__read_begin(s, &txn, err);
	if (rc)
		return rc;
	al_str email = {req->email, strlen(req->email)};
	msgpack_zone z;
	al_user_auth u;
	msgpack_zone_init(&z, 1024);
	rc = al__user_auth_info(s, txn, email, &u, &z, err);
	bool totp = false; /* a TOTP row that cannot be read fails the login with that error */
	int trc = rc == 1 ? al__totp_state(s, txn, email, &totp, err) : AL_OK;
	if (rc == 0 || (rc == 1 && !al_str_eq(u.password_hash, fl->hash))) /* changed meanwhile */
		rc = al_err(err, AL_EUNAUTHENTICATED, BAD_LOGIN);
	else if (rc == 1 && al_str_eq(u.status, "before-verification"))
		rc = al_err(err, AL_EUNAUTHENTICATED, "needs verification: the account's email is not verified yet");
	else if (rc == 1 && !al_str_eq(u.status, "active")) /* inactive, deleted */
		rc = al_err(err, AL_EUNAUTHENTICATED, BAD_LOGIN);
	else if (rc == 1 && !client_ok(u.allowed_client_ip, req->client))
		rc = al_err(err, AL_EUNAUTHENTICATED, "client: logging in from %s is not allowed for this user",
			    req->client ? "this address" : "an unknown address");
	else if (rc == 1 && trc < 0)
		rc = trc;
	else if (rc == 1 && totp && (req->otp == NULL || req->otp[0] == 0))
		rc = al_err(err, AL_EUNAUTHENTICATED, "otp: a one-time code is required (two-factor authentication)");
	else if (rc == 1 && totp) {
		al_totp_use use;
		rc = al__totp_check(s, txn, email, (al_str){req->otp, strlen(req->otp)}, al__now(s), &use, err);
		if (rc == AL_OK) /* a code seen once, here or by user.2fa.confirm, cannot log in again */
			rc = al__totp_consume(s, email, &use, err);
	}
	else if (rc == 1)
		rc = AL_OK;
	if (rc == AL_OK)
		rc = hand_out_keypair(s, txn, email, &z, out, err);
	if (rc == AL_OK && (rc = copy_field(out->email, sizeof out->email, u.email, err)) == AL_OK &&
	    (rc = copy_field(out->user_id, sizeof out->user_id, u.id, err)) == AL_OK)
		rc = copy_field(out->domain, sizeof out->domain, u.domain, err);
	if (rc == AL_OK)
		out->role = al_role_parse(u.role.p, u.role.n);
	msgpack_zone_destroy(&z);
	mdb_txn_abort(txn);
	return rc;
}

int al_login(al_store *s, const al_login_req *req, al_login_result *out, al_error *err)
{
	memset(out, 0, sizeof *out);
	if (req == NULL || req->email == NULL || req->password == NULL)
		return al_err(err, AL_EINVALID_ARGUMENT, "login: email and password are required");
	if (sodium_init() < 0)
		return al_err(err, AL_EINTERNAL, "libsodium failed to initialise");
	first_look fl = {{0}, {0}};
	al_str email = {req->email, strlen(req->email)};
	unsigned long nomem = al__nomem_count(); /* out of memory is no refusal */
	int rc = look_up(s, email, &fl, err);
	/* The dummy is made on the first login of any kind, so that one is not a tell either. */
	al__auth_dummy_hash(fl.cost);
	if (rc == AL_OK && !verify_password(fl.hash, fl.cost, (al_str){req->password, strlen(req->password)}))
		rc = al_err(err, AL_EUNAUTHENTICATED, BAD_LOGIN);
	if (rc == AL_OK)
		rc = second_look(s, req, &fl, out, err);
	rc = al__nomem_since(nomem, err, rc);
	sodium_memzero(&fl, sizeof fl);
	if (rc)
		sodium_memzero(out, sizeof *out);
	return rc;
}

/* ---- keypair challenge-response -------------------------------------------------------------- */

void al_auth_keypair_mac(const char *secret_key, const unsigned char *nonce, size_t nonce_len,
			 const char *access_key, unsigned char mac_out[AL_AUTH_MAC_LEN])
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret_key, strlen(secret_key));
	crypto_auth_hmacsha256_update(&st, nonce, nonce_len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)access_key, strlen(access_key));
	crypto_auth_hmacsha256_final(&st, mac_out);
	sodium_memzero(&st, sizeof st);
}

/* Copies v into the actor buffer at *pos; NULL when it does not fit. */
static const char *put_str(char *buf, size_t n, size_t *pos, al_str v)
{
	if (*pos + v.n + 1 > n)
		return NULL;
	char *p = buf + *pos;
	memcpy(p, v.p, v.n);
	p[v.n] = 0;
	*pos += v.n + 1;
	return p;
}

static int fill_actor(const al_user_auth *u, al_str access_key, const char *client, al_actor *out, char *buf,
		      size_t n, al_error *err)
{
	size_t pos = 0;
	memset(out, 0, sizeof *out);
	out->user = put_str(buf, n, &pos, u->email);
	out->user_id = put_str(buf, n, &pos, u->id);
	out->domain = put_str(buf, n, &pos, u->domain);
	out->access_key = put_str(buf, n, &pos, access_key);
	out->client = client ? put_str(buf, n, &pos, (al_str){client, strlen(client)}) : NULL;
	if (!out->user || !out->user_id || !out->domain || !out->access_key || (client && !out->client)) {
		memset(out, 0, sizeof *out);
		return al_err(err, AL_EINTERNAL, "actor buffer too small");
	}
	out->name = out->user;
	out->role = al_role_parse(u->role.p, u->role.n);
	return AL_OK;
}

/* The keypair's secret key when it and its user may authenticate; "" otherwise. */
static int usable_secret(al_store *s, MDB_txn *txn, al_str ak, al_keypair_info *kp, al_user_auth *u,
			 msgpack_zone *z, char secret[64], al_error *err)
{
	size_t n = 0;
	secret[0] = 0;
	int rc = ak.n ? al__keypair_info(s, txn, ak, kp, z, err) : 0;
	if (rc == 1 && kp->is_active)
		rc = al__user_auth_info(s, txn, kp->user, u, z, err);
	else if (rc == 1)
		rc = 0;
	if (rc == 1 && al_str_eq(u->status, "active")) {
		if ((rc = al__unseal(s, kp->secret_key_sealed, (unsigned char *)secret, 63, &n, err)))
			return rc;
		secret[n] = 0;
	}
	return rc < 0 ? rc : AL_OK;
}

int al_auth_keypair(al_store *s, const char *access_key, const unsigned char *nonce, size_t nonce_len,
		    const unsigned char mac[AL_AUTH_MAC_LEN], const char *client, al_actor *out, char *buf, size_t n,
		    al_error *err)
{
	if (access_key == NULL || nonce == NULL || mac == NULL || out == NULL || buf == NULL)
		return al_err(err, AL_EINVALID_ARGUMENT, "auth: access key, nonce, mac and actor are required");
	if (nonce_len < AL_AUTH_NONCE_MIN || nonce_len > AL_AUTH_NONCE_MAX)
		return al_err(err, AL_EINVALID_ARGUMENT, "nonce: %d to %d bytes", AL_AUTH_NONCE_MIN, AL_AUTH_NONCE_MAX);
	if (sodium_init() < 0)
		return al_err(err, AL_EINTERNAL, "libsodium failed to initialise");
	memset(out, 0, sizeof *out);
	MDB_txn *txn;
	unsigned long nomem = al__nomem_count(); /* out of memory is no refusal */
	int rc = al__read_begin(s, &txn, err);
	if (rc)
		return rc;
	al_str ak = {access_key, strnlen(access_key, 65)};
	if (ak.n > 64)
		ak.n = 0; /* no such key; still does the same work below */
	msgpack_zone z;
	al_keypair_info kp;
	al_user_auth u = {{0}};
	char secret[64];
	unsigned char want[AL_AUTH_MAC_LEN];
	msgpack_zone_init(&z, 1024);
	rc = usable_secret(s, txn, ak, &kp, &u, &z, secret, err);
	/* An unusable key is checked against a fixed key, so a wrong one costs the same. */
	al_auth_keypair_mac(secret[0] ? secret : "not a secret key: the access key is unusable", nonce, nonce_len,
			    access_key, want);
	bool mac_ok = crypto_verify_32(want, mac) == 0 && secret[0];
	if (rc == AL_OK && !mac_ok)
		rc = al_err(err, AL_EUNAUTHENTICATED, BAD_KEYPAIR);
	else if (rc == AL_OK && !client_ok(u.allowed_client_ip, client))
		rc = al_err(err, AL_EUNAUTHENTICATED, "client: this address is not allowed for the keypair's user");
	if (rc == AL_OK)
		rc = fill_actor(&u, ak, client, out, buf, n, err);
	if ((rc = al__nomem_since(nomem, err, rc)))
		memset(out, 0, sizeof *out);
	sodium_memzero(secret, sizeof secret);
	sodium_memzero(want, sizeof want);
	msgpack_zone_destroy(&z);
	mdb_txn_abort(txn);
	return rc;
}

/* ---- rights as of now ---------------------------------------------------------------------- */

/* Copies s (NUL-terminated, may be NULL) into buf at *pos; *ok false when it does not fit. */
static const char *keep_cstr(char *buf, size_t n, size_t *pos, const char *s, bool *ok)
{
	if (s == NULL)
		return NULL;
	const char *p = put_str(buf, n, pos, (al_str){s, strlen(s)});
	*ok &= p != NULL;
	return p;
}

/* The user (and keypair) an actor names must still be there and active: one message for
 * every cause, as for a failed auth, since the session simply ended. */
static int session_over(al_error *err, const al_actor *in)
{
	if (in->access_key)
		return al_err(err, AL_EUNAUTHENTICATED, "the keypair %.32s or its user is no longer active; log in again",
			      in->access_key);
	return al_err(err, AL_EUNAUTHENTICATED, "user %.64s is no longer active", in->user);
}

static int actor_refresh(al_store *s, MDB_txn *txn, const al_actor *in, al_actor *out, char *buf, size_t n,
			 int64_t *rate_limit, al_error *err)
{
	msgpack_zone z;
	al_user_auth u;
	al_keypair_info kp;
	int rc = 1;
	msgpack_zone_init(&z, 1024);
	if (rate_limit)
		*rate_limit = 0;
	if (in->user) {
		rc = al__user_auth_info(s, txn, (al_str){in->user, strlen(in->user)}, &u, &z, err);
		if (rc == 1 && !al_str_eq(u.status, "active"))
			rc = 0;
	}
	if (rc == 1 && in->user && in->access_key) {
		rc = al__keypair_info(s, txn, (al_str){in->access_key, strlen(in->access_key)}, &kp, &z, err);
		if (rc == 1 && (!kp.is_active || !al_str_eq(kp.user, in->user)))
			rc = 0;
		else if (rc == 1 && rate_limit)
			*rate_limit = kp.rate_limit;
	}
	if (rc == 0)
		rc = session_over(err, in);
	if (rc == 1) {
		size_t pos = 0;
		bool ok = true;
		*out = *in;
		out->name = keep_cstr(buf, n, &pos, in->name, &ok);
		out->user = keep_cstr(buf, n, &pos, in->user, &ok);
		out->access_key = keep_cstr(buf, n, &pos, in->access_key, &ok);
		out->client = keep_cstr(buf, n, &pos, in->client, &ok);
		out->domain = in->user ? put_str(buf, n, &pos, u.domain) : keep_cstr(buf, n, &pos, in->domain, &ok);
		out->user_id = in->user ? put_str(buf, n, &pos, u.id) : keep_cstr(buf, n, &pos, in->user_id, &ok);
		ok &= (out->domain || !in->user) && (out->user_id || !in->user);
		if (in->user)
			out->role = al_role_parse(u.role.p, u.role.n);
		rc = ok ? AL_OK : al_err(err, AL_EINTERNAL, "actor buffer too small");
	}
	msgpack_zone_destroy(&z);
	return rc;
}

/* What the core's authorize (cmd.c) asks of the nouns (core/authz.h). */
const al_actor_source al__actor_source = {actor_refresh};

int al_actor_refresh(al_store *s, const al_actor *in, al_actor *out, char *buf, size_t n, al_error *err)
{
	if (in == NULL || out == NULL || buf == NULL)
		return al_err(err, AL_EINVALID_ARGUMENT, "actor refresh: actor, output and buffer are required");
	MDB_txn *txn;
	int rc = al__read_begin(s, &txn, err);
	if (rc)
		return rc;
	rc = actor_refresh(s, txn, in, out, buf, n, NULL, err);
	mdb_txn_abort(txn);
	return rc;
}

int al_actor_refresh_at(al_store *s, al_snapshot *snap, const al_actor *in, al_actor *out, char *buf,
			size_t n, int64_t *rate_limit, al_error *err)
{
	if (snap == NULL || in == NULL || out == NULL || buf == NULL)
		return al_err(err, AL_EINVALID_ARGUMENT, "actor refresh: snapshot, actor, output and buffer are required");
	return actor_refresh(s, (MDB_txn *)snap, in, out, buf, n, rate_limit, err);
}
