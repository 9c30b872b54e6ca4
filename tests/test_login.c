/* test_login.c - al_login and al_auth_keypair: what a failure tells (nothing, until the
 * password matched), the work it does, 2FA, allowed client addresses, the keypair
 * challenge-response. */
#define _GNU_SOURCE
#include <liboath/oath.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nouns/auth.h"
#include "helpers.h"

#define PW "Passw0rd!"
#define STEP_US (30 * 1000000LL)
#define T0_US ((((1900000000LL / 30) + 1) * 30 + 15) * 1000000LL)
#define BAD_LOGIN "invalid email or password"

size_t al__map_full_retries(void); /* store.c: transactions run again after MAP_FULL */

typedef struct fx {
	TH_FX_HEAD;
	int64_t now_us;
} fx;

static int64_t test_clock(void *ctx) { return *(int64_t *)ctx; }

static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	if (f == NULL || oath_init() != OATH_OK)
		return -1;
	f->now_us = T0_US;
	al_store_set_clock(f->s, test_clock, &f->now_us);
	*state = f;
	return 0;
}

#define teardown th_teardown /* th_fx_free */

/* Creates a user; when ak / sk are not NULL, copies the main keypair from the result. */
static void mkuser(al_store *s, const char *email, const char *status, char ak[21], char sk[41])
{
	al_reply rep;
	char name[64];
	snprintf(name, sizeof name, "%.*s", (int)strcspn(email, "@"), email);
	int rc = th_exec(s, &rep, "user.create", "email", 's', email, "username", 's', name, "password", 's', PW,
			 "status", 's', status, NULL);
	if (rc)
		print_error("user.create %s: %s\n", email, rep.err.msg);
	assert_int_equal(rc, AL_OK);
	if (ak) {
		assert_non_null(th_res_str(&rep, "access_key"));
		snprintf(ak, 21, "%s", th_res_str(&rep, "access_key"));
	}
	if (sk) {
		assert_non_null(th_res_str(&rep, "secret_key"));
		snprintf(sk, 41, "%s", th_res_str(&rep, "secret_key"));
	}
	al_reply_free(&rep);
}

static int login(al_store *s, const char *email, const char *pw, const char *otp, const char *client,
		 al_login_result *out, al_error *err)
{
	al_login_req req = {email, pw, otp, client};
	return al_login(s, &req, out, err);
}

/* A failure that must look like every other one before the password matched: the code, the
 * message, an emptied result, and exactly one argon2id verification. */
static void generic_failure_at(const char *file, int line, al_store *s, const char *email, const char *pw)
{
	al_login_result out;
	al_error err = {0};
	memset(&out, 0x5a, sizeof out);
	uint64_t before = al__auth_pwhash_verifies();
	int rc = login(s, email, pw, NULL, NULL, &out, &err);
	if (rc != AL_EUNAUTHENTICATED || strcmp(err.msg, BAD_LOGIN) != 0)
		print_error("login %s: got %s '%s'\n", email, al_err_name(rc), err.msg);
	_assert_int_equal(rc, AL_EUNAUTHENTICATED, file, line);
	_assert_int_equal(err.code, AL_EUNAUTHENTICATED, file, line);
	_assert_true(strcmp(err.msg, BAD_LOGIN) == 0, "the one message", file, line);
	_assert_int_equal(al__auth_pwhash_verifies() - before, 1, file, line);
	_assert_true(out.access_key[0] == 0 && out.secret_key[0] == 0 && out.email[0] == 0, "result emptied", file,
		     line);
}
#define GENERIC_FAILURE(s, email, pw) generic_failure_at(__FILE__, __LINE__, s, email, pw)

/* ---- client addresses --------------------------------------------------------------------- */

static bool allowed(const char *list, const char *client) { return al__ip_allowed((al_str){list, strlen(list)}, client); }

static void ip_rules(void **state)
{
	(void)state;
	/* IPv4: exact, blocks of various sizes, the whole space. */
	assert_true(allowed("192.0.2.7", "192.0.2.7"));
	assert_false(allowed("192.0.2.7", "192.0.2.8"));
	assert_true(allowed("10.0.0.0/8", "10.255.1.2"));
	assert_false(allowed("10.0.0.0/8", "11.0.0.1"));
	assert_true(allowed("192.168.4.0/22", "192.168.7.255"));
	assert_false(allowed("192.168.4.0/22", "192.168.8.0"));
	assert_false(allowed("192.168.4.0/22", "192.168.3.255"));
	assert_true(allowed("192.0.2.7/32", "192.0.2.7"));
	assert_false(allowed("192.0.2.7/32", "192.0.2.6"));
	assert_true(allowed("0.0.0.0/0", "203.0.113.9"));
	assert_true(allowed("10.1.2.3/8", "10.9.9.9")); /* host bits in the entry are ignored */
	/* IPv6. */
	assert_true(allowed("2001:db8::/32", "2001:db8:ffff::1"));
	assert_false(allowed("2001:db8::/32", "2001:db9::1"));
	assert_true(allowed("2001:db8:0:12::/63", "2001:db8:0:13::9"));
	assert_false(allowed("2001:db8:0:12::/63", "2001:db8:0:14::9"));
	assert_true(allowed("::1", "::1"));
	assert_true(allowed("::1/128", "0:0:0:0:0:0:0:1"));
	assert_false(allowed("::1", "::2"));
	assert_true(allowed("::/0", "fe80::1"));
	/* Families do not mix, except IPv4-mapped IPv6 addresses, which are IPv4. */
	assert_false(allowed("::/0", "192.0.2.1"));
	assert_false(allowed("0.0.0.0/0", "2001:db8::1"));
	assert_true(allowed("10.0.0.0/8", "::ffff:10.1.1.1"));
	assert_true(allowed("::ffff:10.0.0.0/104", "10.200.0.1"));
	assert_false(allowed("::ffff:10.0.0.0/104", "11.0.0.1"));
	/* Lists: commas, blanks, and the one matching entry anywhere. */
	assert_true(allowed("192.0.2.1, 10.0.0.0/8 ,2001:db8::/32", "10.0.0.1"));
	assert_true(allowed("192.0.2.1, 10.0.0.0/8 ,2001:db8::/32", "2001:db8::7"));
	assert_false(allowed("192.0.2.1, 10.0.0.0/8 ,2001:db8::/32", "172.16.0.1"));
	assert_true(allowed("garbage,,10.0.0.0/33, 192.0.2.1", "192.0.2.1"));
	/* Malformed entries match nothing. */
	static const char *const bad[] = {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/-1", "10.0.0.0/0008",
					  "/8", "10.0.0/8", "10.0.0.0 /8", "2001:db8::/129", "::ffff:0:0/95",
					  "example.com", ""};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_false(allowed(bad[i], "10.0.0.1"));
	/* A missing or malformed client matches nothing. */
	assert_false(allowed("0.0.0.0/0", NULL));
	assert_false(allowed("0.0.0.0/0", ""));
	assert_false(allowed("0.0.0.0/0", "10.0.0.1:443"));
	assert_false(allowed("::/0", "fe80::1%eth0"));
	assert_false(allowed("0.0.0.0/0", " 10.0.0.1"));
}

/* ---- failures before the password matched ---------------------------------------------- */

static void failures_look_alike(void **state)
{
	fx *f = *state;
	mkuser(f->s, "alice@example.com", "active", NULL, NULL);
	mkuser(f->s, "ina@example.com", "inactive", NULL, NULL);
	mkuser(f->s, "new@example.com", "before-verification", NULL, NULL);
	assert_int_equal(th_run(f->s, "user.deactivate", "email", 's', "alice@example.com", NULL), AL_OK);
	assert_int_equal(th_run(f->s, "user.activate", "email", 's', "alice@example.com", NULL), AL_OK);
	uint64_t head = al_log_head(f->s);

	GENERIC_FAILURE(f->s, "alice@example.com", "Wrong-passw0rd");  /* wrong password */
	GENERIC_FAILURE(f->s, "nobody@example.com", PW);               /* unknown email */
	GENERIC_FAILURE(f->s, "ina@example.com", PW);                  /* inactive, right password */
	GENERIC_FAILURE(f->s, "ina@example.com", "Wrong-passw0rd");    /* inactive, wrong password */
	GENERIC_FAILURE(f->s, "new@example.com", "Wrong-passw0rd");    /* unverified, wrong password */
	GENERIC_FAILURE(f->s, "", PW);
	GENERIC_FAILURE(f->s, "alice@example.com", "");
	GENERIC_FAILURE(f->s, "ALICE@example.com", PW); /* emails are exact */
	char longmail[700]; /* longer than any email, and than an LMDB key */
	memset(longmail, 'x', sizeof longmail - 1);
	longmail[sizeof longmail - 1] = 0;
	GENERIC_FAILURE(f->s, longmail, PW);

	/* Deactivated later: the same again. */
	assert_int_equal(th_run(f->s, "user.deactivate", "email", 's', "alice@example.com", NULL), AL_OK);
	GENERIC_FAILURE(f->s, "alice@example.com", PW);
	head = al_log_head(f->s);

	/* Unverified with the right password: its own message, told only now. */
	al_login_result out;
	al_error err;
	uint64_t before = al__auth_pwhash_verifies();
	assert_int_equal(login(f->s, "new@example.com", PW, NULL, NULL, &out, &err), AL_EUNAUTHENTICATED);
	assert_non_null(strstr(err.msg, "needs verification"));
	assert_int_equal(al__auth_pwhash_verifies() - before, 1);
	assert_int_equal(out.access_key[0], 0);

	/* Logins record nothing. */
	assert_int_equal(al_log_head(f->s), head);
	/* NULL email or password is a caller error, not a login attempt. */
	assert_int_equal(login(f->s, NULL, PW, NULL, NULL, &out, &err), AL_EINVALID_ARGUMENT);
	assert_int_equal(login(f->s, "alice@example.com", NULL, NULL, NULL, &out, &err), AL_EINVALID_ARGUMENT);
}

/* The dummy an unknown email is verified against costs what the directory's hashes cost. */
static void dummy_hash_cost(void **state)
{
	(void)state;
	static const char *const costs[] = {"min", "interactive"};
	for (size_t i = 0; i < 2; i++) {
		const char *d = al__auth_dummy_hash(costs[i]);
		assert_non_null(d);
		assert_ptr_equal(d, al__auth_dummy_hash(costs[i])); /* made once */
		char real[128];
		size_t n = (size_t)(strrchr(d, '$') - d);
		assert_int_equal(crypto_pwhash_str_needs_rehash(d, i ? crypto_pwhash_OPSLIMIT_INTERACTIVE
								    : crypto_pwhash_OPSLIMIT_MIN,
								i ? crypto_pwhash_MEMLIMIT_INTERACTIVE
								  : crypto_pwhash_MEMLIMIT_MIN),
				 0);
		/* Same parameters ("$argon2id$v=19$m=..,t=..,p=1$") as a real hash of that cost. */
		assert_int_equal(crypto_pwhash_str_alg(real, PW, strlen(PW),
						       i ? crypto_pwhash_OPSLIMIT_INTERACTIVE : crypto_pwhash_OPSLIMIT_MIN,
						       i ? crypto_pwhash_MEMLIMIT_INTERACTIVE : crypto_pwhash_MEMLIMIT_MIN,
						       crypto_pwhash_ALG_ARGON2ID13),
				 0);
		size_t params = (size_t)(strchr(strstr(d, "p=") + 2, '$') - d);
		assert_true(params < n);
		assert_memory_equal(d, real, params);
	}
	assert_null(al__auth_dummy_hash("extreme"));
}

/* ---- two-factor authentication -------------------------------------------------------------- */

static void code_at(const char *b32, int64_t t_us, char out[7])
{
	char *key = NULL;
	size_t n = 0;
	assert_int_equal(oath_base32_decode(b32, strlen(b32), &key, &n), OATH_OK);
	assert_int_equal(oath_totp_generate(key, n, (time_t)(t_us / 1000000), 30, 0, 6, out), OATH_OK);
	free(key);
}

/* Enrols and confirms 2FA for email; its base32 secret in b32. */
static void turn_on_2fa(fx *f, const char *email, char b32[33])
{
	th_actor a;
	al_reply rep;
	char code[7];
	assert_int_equal(th_as(f->s, email, &a), AL_OK);
	assert_int_equal(th_exec_as(f->s, &a.a, &rep, "user.2fa.enable", NULL), AL_OK);
	snprintf(b32, 33, "%s", th_res_str(&rep, "secret"));
	al_reply_free(&rep);
	code_at(b32, f->now_us, code);
	assert_int_equal(th_run_as(f->s, &a.a, "user.2fa.confirm", "code", 's', code, NULL), AL_OK);
}

static void otp_after_password(void **state)
{
	fx *f = *state;
	char b32[33], code[7], wrong[16];
	mkuser(f->s, "alice@example.com", "active", NULL, NULL);
	turn_on_2fa(f, "alice@example.com", b32);
	f->now_us += 10 * STEP_US; /* login later than the enrolment */
	code_at(b32, f->now_us, code);
	snprintf(wrong, sizeof wrong, "%06ld", (strtol(code, NULL, 10) + 1) % 1000000);

	/* A wrong password says nothing about the code, with or without one. */
	GENERIC_FAILURE(f->s, "alice@example.com", "Wrong-passw0rd");
	al_login_result out;
	al_error err;
	assert_int_equal(login(f->s, "alice@example.com", "Wrong-passw0rd", code, NULL, &out, &err),
			 AL_EUNAUTHENTICATED);
	assert_string_equal(err.msg, BAD_LOGIN);

	/* The right password: the code is required and checked. */
	assert_int_equal(login(f->s, "alice@example.com", PW, NULL, NULL, &out, &err), AL_EUNAUTHENTICATED);
	assert_non_null(strstr(err.msg, "otp:"));
	assert_non_null(strstr(err.msg, "required"));
	assert_int_equal(login(f->s, "alice@example.com", PW, "", NULL, &out, &err), AL_EUNAUTHENTICATED);
	assert_non_null(strstr(err.msg, "required"));
	assert_int_equal(login(f->s, "alice@example.com", PW, wrong, NULL, &out, &err), AL_EUNAUTHENTICATED);
	assert_non_null(strstr(err.msg, "otp:"));
	assert_int_equal(login(f->s, "alice@example.com", PW, "12345", NULL, &out, &err), AL_EUNAUTHENTICATED);
	assert_non_null(strstr(err.msg, "otp:"));
	char old[7];
	code_at(b32, f->now_us - 2 * STEP_US, old);
	if (strcmp(old, code) != 0) {
		assert_int_equal(login(f->s, "alice@example.com", PW, old, NULL, &out, &err), AL_EUNAUTHENTICATED);
		assert_non_null(strstr(err.msg, "otp:"));
	}
	assert_int_equal(out.access_key[0], 0);
	code_at(b32, f->now_us - STEP_US, old); /* the step before: still in the window */
	assert_int_equal(login(f->s, "alice@example.com", PW, old, NULL, &out, &err), AL_OK);
	assert_int_equal(login(f->s, "alice@example.com", PW, code, NULL, &out, &err), AL_OK);
	assert_string_equal(out.email, "alice@example.com");
	/* A code is good once (RFC 6238 5.2): neither it nor an older one logs in again. */
	assert_int_equal(login(f->s, "alice@example.com", PW, code, NULL, &out, &err), AL_EUNAUTHENTICATED);
	assert_non_null(strstr(err.msg, "already used"));
	if (strcmp(old, code) != 0) {
		assert_int_equal(login(f->s, "alice@example.com", PW, old, NULL, &out, &err), AL_EUNAUTHENTICATED);
		assert_non_null(strstr(err.msg, "otp:"));
	}
	char next[7]; /* the next step's code, still in the window: accepted once */
	code_at(b32, f->now_us + STEP_US, next);
	if (strcmp(next, code) != 0) {
		assert_int_equal(login(f->s, "alice@example.com", PW, next, NULL, &out, &err), AL_OK);
		assert_int_equal(login(f->s, "alice@example.com", PW, next, NULL, &out, &err), AL_EUNAUTHENTICATED);
	}
	/* Disabled by an admin: no code needed any more. */
	assert_int_equal(th_run(f->s, "user.2fa.disable", "email", 's', "alice@example.com", NULL), AL_OK);
	assert_int_equal(login(f->s, "alice@example.com", PW, NULL, NULL, &out, &err), AL_OK);
}

/* A code is good once whatever it was used for: the code that confirmed the enrolment does not
 * log in afterwards in the same step (nor does an older one); the next step's code does. */
static void confirm_code_used(void **state)
{
	fx *f = *state;
	char b32[33], code[7], older[7], next[7];
	mkuser(f->s, "carol@example.com", "active", NULL, NULL);
	turn_on_2fa(f, "carol@example.com", b32); /* confirmed with the code of now */
	code_at(b32, f->now_us, code);
	al_login_result out;
	al_error err;
	assert_int_equal(login(f->s, "carol@example.com", PW, code, NULL, &out, &err), AL_EUNAUTHENTICATED);
	assert_non_null(strstr(err.msg, "already used"));
	assert_int_equal(out.access_key[0], 0);
	code_at(b32, f->now_us - STEP_US, older);
	if (strcmp(older, code) != 0) {
		assert_int_equal(login(f->s, "carol@example.com", PW, older, NULL, &out, &err), AL_EUNAUTHENTICATED);
		assert_non_null(strstr(err.msg, "otp:"));
	}
	f->now_us += STEP_US;
	code_at(b32, f->now_us, next);
	if (strcmp(next, code) != 0) {
		assert_int_equal(login(f->s, "carol@example.com", PW, next, NULL, &out, &err), AL_OK);
		assert_string_equal(out.email, "carol@example.com");
	}
}

/* The confirmation consumes its code once per command, not once per run of its transaction: a
 * batch that is run again (here: the map fills up and grows) still confirms, and the code is
 * then used. */
static void confirm_in_rerun_batch(void **state)
{
	fx *f = *state;
	enum { N = 1500 };
	char b32[33], code[7];
	th_actor dave;
	mkuser(f->s, "dave@example.com", "active", NULL, NULL);
	assert_int_equal(th_as(f->s, "dave@example.com", &dave), AL_OK);
	al_reply rep;
	assert_int_equal(th_exec_as(f->s, &dave.a, &rep, "user.2fa.enable", NULL), AL_OK);
	snprintf(b32, sizeof b32, "%s", th_res_str(&rep, "secret"));
	al_reply_free(&rep);
	code_at(b32, f->now_us, code);
	al_request *reqs = calloc(N + 1, sizeof *reqs);
	al_reply *reps = calloc(N + 1, sizeof *reps);
	char **args = calloc(N + 1, sizeof *args);
	size_t *lens = calloc(N + 1, sizeof *lens);
	char desc[501];
	memset(desc, 'x', 500);
	desc[500] = 0;
	args[0] = th_args(&lens[0], "code", 's', code, NULL);
	reqs[0] = (al_request){"user.2fa.confirm", args[0], lens[0], &dave.a};
	for (int i = 1; i <= N; i++) {
		char name[32];
		snprintf(name, sizeof name, "filler-%04d", i);
		args[i] = th_args(&lens[i], "name", 's', name, "description", 's', desc, NULL);
		reqs[i] = (al_request){"domain.create", args[i], lens[i], &th_admin};
	}
	al_error err;
	size_t retries0 = al__map_full_retries();
	assert_int_equal(al_exec_batch(f->s, reqs, reps, N + 1), AL_OK);
	assert_int_equal(reps[0].err.code, AL_OK);
	assert_string_equal(th_res_str(&reps[0], "status"), "enabled");
	for (int i = 1; i <= N; i++)
		assert_int_equal(reps[i].err.code, AL_OK);
	assert_true(al__map_full_retries() > retries0); /* the batch did run again */
	al_login_result out;
	assert_int_equal(login(f->s, "dave@example.com", PW, code, NULL, &out, &err), AL_EUNAUTHENTICATED);
	assert_non_null(strstr(err.msg, "already used"));
	for (int i = 0; i <= N; i++) {
		al_reply_free(&reps[i]);
		free(args[i]);
	}
	free(reqs);
	free(reps);
	free(args);
	free(lens);
}

/* ---- success, keypair choice, client addresses ---------------------------------------------- */

static void login_success(void **state)
{
	fx *f = *state;
	char ak[21], sk[41];
	mkuser(f->s, "alice@example.com", "active", ak, sk);
	al_login_result out;
	al_error err = {0};
	uint64_t head = al_log_head(f->s), before = al__auth_pwhash_verifies();
	int rc = login(f->s, "alice@example.com", PW, NULL, "203.0.113.5", &out, &err);
	if (rc)
		print_error("login: %s\n", err.msg);
	assert_int_equal(rc, AL_OK);
	assert_int_equal(al__auth_pwhash_verifies() - before, 1);
	assert_string_equal(out.access_key, ak);
	assert_string_equal(out.secret_key, sk);
	assert_string_equal(out.email, "alice@example.com");
	assert_string_equal(out.domain, "default");
	assert_int_equal(out.role, AL_ROLE_USER);
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "user.get", "email", 's', "alice@example.com", NULL), AL_OK);
	assert_string_equal(out.user_id, th_res_str(&rep, "id"));
	al_reply_free(&rep);
	assert_int_equal(al_log_head(f->s), head); /* a login records nothing */

	/* The bootstrap superadmin. */
	assert_int_equal(login(f->s, "admin@example.com", TH_PASSWORD, NULL, NULL, &out, &err), AL_OK);
	assert_int_equal(out.role, AL_ROLE_SUPERADMIN);

	/* The main key inactive: another active keypair is handed out; none: refused. */
	char ak2[21], sk2[41];
	assert_int_equal(th_exec(f->s, &rep, "keypair.create", "user", 's', "alice@example.com", NULL), AL_OK);
	snprintf(ak2, sizeof ak2, "%s", th_res_str(&rep, "access_key"));
	snprintf(sk2, sizeof sk2, "%s", th_res_str(&rep, "secret_key"));
	al_reply_free(&rep);
	assert_int_equal(login(f->s, "alice@example.com", PW, NULL, NULL, &out, &err), AL_OK);
	assert_string_equal(out.access_key, ak); /* the main key first */
	assert_int_equal(th_run(f->s, "keypair.deactivate", "access_key", 's', ak, NULL), AL_OK);
	assert_int_equal(login(f->s, "alice@example.com", PW, NULL, NULL, &out, &err), AL_OK);
	assert_string_equal(out.access_key, ak2);
	assert_string_equal(out.secret_key, sk2);
	assert_int_equal(th_run(f->s, "keypair.deactivate", "access_key", 's', ak2, NULL), AL_OK);
	assert_int_equal(login(f->s, "alice@example.com", PW, NULL, NULL, &out, &err), AL_EUNAUTHENTICATED);
	assert_string_equal(err.msg, "no active keypair");
	assert_int_equal(out.secret_key[0], 0);
}

static void client_addresses(void **state)
{
	fx *f = *state;
	al_login_result out;
	al_error err;
	mkuser(f->s, "alice@example.com", "active", NULL, NULL);
	assert_int_equal(th_run(f->s, "user.update", "email", 's', "alice@example.com", "allowed_client_ip", 'l',
				"10.0.0.0/8,2001:db8::/32,192.0.2.7",
				NULL),
			 AL_OK);
	static const char *const ok[] = {"10.1.2.3", "2001:db8::5", "::ffff:10.9.9.9", "192.0.2.7"};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
		assert_int_equal(login(f->s, "alice@example.com", PW, NULL, ok[i], &out, &err), AL_OK);
	static const char *const no[] = {"192.168.1.1", "11.0.0.1", "2001:db9::1", "192.0.2.8", "garbage"};
	for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
		assert_int_equal(login(f->s, "alice@example.com", PW, NULL, no[i], &out, &err), AL_EUNAUTHENTICATED);
		assert_non_null(strstr(err.msg, "client:"));
		assert_int_equal(out.secret_key[0], 0);
	}
	/* A list set and no client address given: refused. */
	assert_int_equal(login(f->s, "alice@example.com", PW, NULL, NULL, &out, &err), AL_EUNAUTHENTICATED);
	assert_non_null(strstr(err.msg, "client:"));
	/* ... but a wrong password from a refused address still says only the one thing. */
	assert_int_equal(login(f->s, "alice@example.com", "Wrong-passw0rd", NULL, "192.168.1.1", &out, &err),
			 AL_EUNAUTHENTICATED);
	assert_string_equal(err.msg, BAD_LOGIN);
	/* Emptied: any address again. */
	assert_int_equal(th_run(f->s, "user.update", "email", 's', "alice@example.com", "allowed_client_ip", 'l', "",
				NULL),
			 AL_OK);
	assert_int_equal(login(f->s, "alice@example.com", PW, NULL, "192.168.1.1", &out, &err), AL_OK);
	assert_int_equal(login(f->s, "alice@example.com", PW, NULL, NULL, &out, &err), AL_OK);
}

/* ---- keypair challenge-response ---------------------------------------------------------------- */

/* HMAC-SHA256(secret key, nonce || access key), computed here from the definition. */
static void mac_by_hand(const char *sk, const unsigned char *nonce, size_t nn, const char *ak, unsigned char out[32])
{
	crypto_auth_hmacsha256_state st;
	unsigned char msg[512];
	memcpy(msg, nonce, nn);
	memcpy(msg + nn, ak, strlen(ak));
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)sk, strlen(sk));
	crypto_auth_hmacsha256_update(&st, msg, nn + strlen(ak));
	crypto_auth_hmacsha256_final(&st, out);
}

static int auth(fx *f, const char *ak, const unsigned char *nonce, size_t nn, const unsigned char mac[32],
		const char *client, th_actor *who, al_error *err)
{
	return al_auth_keypair(f->s, ak, nonce, nn, mac, client, &who->a, who->buf, sizeof who->buf, err);
}

static void refused_at(const char *file, int line, fx *f, const char *ak, const unsigned char *nonce, size_t nn,
		       const unsigned char mac[32])
{
	th_actor who;
	al_error err = {0};
	int rc = auth(f, ak, nonce, nn, mac, NULL, &who, &err);
	_assert_int_equal(rc, AL_EUNAUTHENTICATED, file, line);
	_assert_true(strcmp(err.msg, "invalid access key or signature") == 0, "the one message", file, line);
	_assert_true(who.a.name == NULL && who.a.user == NULL, "no actor", file, line);
}
#define REFUSED(f, ak, nonce, nn, mac) refused_at(__FILE__, __LINE__, f, ak, nonce, nn, mac)

static void keypair_challenge(void **state)
{
	fx *f = *state;
	char ak[21], sk[41];
	unsigned char nonce[32], mac[32], hand[32];
	mkuser(f->s, "alice@example.com", "active", ak, sk);
	randombytes_buf(nonce, sizeof nonce);
	al_auth_keypair_mac(sk, nonce, sizeof nonce, ak, mac);
	mac_by_hand(sk, nonce, sizeof nonce, ak, hand);
	assert_memory_equal(mac, hand, 32);

	th_actor who;
	al_error err = {0};
	uint64_t head = al_log_head(f->s);
	int rc = auth(f, ak, nonce, sizeof nonce, mac, "198.51.100.4", &who, &err);
	if (rc)
		print_error("auth: %s\n", err.msg);
	assert_int_equal(rc, AL_OK);
	assert_string_equal(who.a.name, "alice@example.com");
	assert_string_equal(who.a.user, "alice@example.com");
	assert_string_equal(who.a.domain, "default");
	assert_string_equal(who.a.access_key, ak);
	assert_string_equal(who.a.client, "198.51.100.4");
	assert_int_equal(who.a.role, AL_ROLE_USER);
	th_actor same;
	assert_int_equal(th_as(f->s, "alice@example.com", &same), AL_OK);
	assert_string_equal(who.a.user_id, same.a.user_id);
	assert_int_equal(al_log_head(f->s), head);
	/* The actor runs commands as alice. */
	assert_int_equal(th_run_as(f->s, &who.a, "user.get", "email", 's', "alice@example.com", NULL), AL_OK);
	assert_int_equal(th_run_as(f->s, &who.a, "user.get", "email", 's', "admin@example.com", NULL),
			 AL_EPERMISSION_DENIED);

	/* Wrong mac, mac for another nonce, unknown key, a key of another's secret. */
	unsigned char bad[32];
	memcpy(bad, mac, 32);
	bad[31] ^= 1;
	REFUSED(f, ak, nonce, sizeof nonce, bad);
	unsigned char other[32];
	memcpy(other, nonce, sizeof other);
	other[0] ^= 0x80;
	REFUSED(f, ak, other, sizeof other, mac);
	REFUSED(f, "AKIAAAAAAAAAAAAAAAAA", nonce, sizeof nonce, mac);
	REFUSED(f, "", nonce, sizeof nonce, mac);
	char bob_ak[21], bob_sk[41];
	mkuser(f->s, "bob@example.com", "active", bob_ak, bob_sk);
	al_auth_keypair_mac(sk, nonce, sizeof nonce, bob_ak, bad); /* alice's secret, bob's key */
	REFUSED(f, bob_ak, nonce, sizeof nonce, bad);
	/* The nonce's length is bounded. */
	assert_int_equal(auth(f, ak, nonce, AL_AUTH_NONCE_MIN - 1, mac, NULL, &who, &err), AL_EINVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "nonce:"));

	/* An inactive keypair, then a deleted one. */
	char ak2[21], sk2[41];
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "keypair.create", "user", 's', "alice@example.com", NULL), AL_OK);
	snprintf(ak2, sizeof ak2, "%s", th_res_str(&rep, "access_key"));
	snprintf(sk2, sizeof sk2, "%s", th_res_str(&rep, "secret_key"));
	al_reply_free(&rep);
	al_auth_keypair_mac(sk2, nonce, sizeof nonce, ak2, mac);
	assert_int_equal(auth(f, ak2, nonce, sizeof nonce, mac, NULL, &who, &err), AL_OK);
	assert_int_equal(th_run(f->s, "keypair.deactivate", "access_key", 's', ak2, NULL), AL_OK);
	REFUSED(f, ak2, nonce, sizeof nonce, mac);
	assert_int_equal(th_run(f->s, "keypair.activate", "access_key", 's', ak2, NULL), AL_OK);
	assert_int_equal(auth(f, ak2, nonce, sizeof nonce, mac, NULL, &who, &err), AL_OK);
	assert_int_equal(th_run(f->s, "keypair.delete", "access_key", 's', ak2, NULL), AL_OK);
	REFUSED(f, ak2, nonce, sizeof nonce, mac);

	/* A user that is not active: refused even while its keypair is active. */
	al_auth_keypair_mac(sk, nonce, sizeof nonce, ak, mac);
	assert_int_equal(th_run(f->s, "user.update", "email", 's', "alice@example.com", "status", 's',
				"before-verification", NULL),
			 AL_OK);
	REFUSED(f, ak, nonce, sizeof nonce, mac);
	assert_int_equal(th_run(f->s, "user.deactivate", "email", 's', "alice@example.com", NULL), AL_OK);
	REFUSED(f, ak, nonce, sizeof nonce, mac);
	assert_int_equal(th_run(f->s, "user.activate", "email", 's', "alice@example.com", NULL), AL_OK);
	REFUSED(f, ak, nonce, sizeof nonce, mac); /* activating the user reactivates no keypair */
	assert_int_equal(th_run(f->s, "keypair.activate", "access_key", 's', ak, NULL), AL_OK);
	assert_int_equal(auth(f, ak, nonce, sizeof nonce, mac, NULL, &who, &err), AL_OK);

	/* The user's allowed client addresses hold for keypairs too. */
	assert_int_equal(th_run(f->s, "user.update", "email", 's', "alice@example.com", "allowed_client_ip", 'l',
				"10.0.0.0/8", NULL),
			 AL_OK);
	assert_int_equal(auth(f, ak, nonce, sizeof nonce, mac, "10.2.3.4", &who, &err), AL_OK);
	assert_int_equal(auth(f, ak, nonce, sizeof nonce, mac, "192.168.0.1", &who, &err), AL_EUNAUTHENTICATED);
	assert_non_null(strstr(err.msg, "client:"));
	assert_int_equal(auth(f, ak, nonce, sizeof nonce, mac, NULL, &who, &err), AL_EUNAUTHENTICATED);
	/* The actor buffer must hold the strings. */
	char tiny[8];
	al_actor a;
	assert_int_equal(al_auth_keypair(f->s, ak, nonce, sizeof nonce, mac, "10.2.3.4", &a, tiny, sizeof tiny, &err),
			 AL_EINTERNAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ip_rules),
		cmocka_unit_test(dummy_hash_cost),
		cmocka_unit_test_setup_teardown(failures_look_alike, setup, teardown),
		cmocka_unit_test_setup_teardown(otp_after_password, setup, teardown),
		cmocka_unit_test_setup_teardown(confirm_code_used, setup, teardown),
		cmocka_unit_test_setup_teardown(confirm_in_rerun_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(login_success, setup, teardown),
		cmocka_unit_test_setup_teardown(client_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(keypair_challenge, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
