/*
 * test_server_auth.c - authentication and authorization over the wire, against a real
 * adminlogd: login (success and every refusal), keypair challenge-response (wrong, inactive and
 * deleted keypairs), the limits on failed attempts and on each keypair's request rate, the
 * guide's authorization rules, and the actor recorded in every event.
 */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/codec.h"
#include "server_harness.h"

#define OK(call) assert_int_equal((call), AL_OK)

static void create_user(al_client *admin, const char *email, const char *domain, const char *role, const char *status)
{
	char name[64];
	snprintf(name, sizeof name, "%.*s", (int)strcspn(email, "@"), email);
	OK(sh_run(admin, "user.create", "email", 's', email, "username", 's', name, "password", 's', SH_PASSWORD, "domain",
	       's', domain, "role", 's', role, "status", 's', status, NULL));
}

/* ---- login --------------------------------------------------------------------------------------- */

static void login_outcomes(void **state)
{
	sh_server *p = *state;
	al_client *admin = sh_connect_as(p, "admin@example.com"), *c = sh_connect(p);
	assert_non_null(admin);
	create_user(admin, "off@example.com", "default", "user", "inactive");
	create_user(admin, "new@example.com", "default", "user", "before-verification");
	create_user(admin, "u@example.com", "default", "user", "active");

	/* unknown email, wrong password, inactive user: one code, one message */
	al_reply a, b, d;
	assert_int_equal(al_client_login(c, "nobody@example.com", SH_PASSWORD, NULL, &a), AL_EUNAUTHENTICATED);
	assert_int_equal(al_client_login(c, "u@example.com", "Wrong!pass1", NULL, &b), AL_EUNAUTHENTICATED);
	assert_int_equal(al_client_login(c, "off@example.com", SH_PASSWORD, NULL, &d), AL_EUNAUTHENTICATED);
	assert_string_equal(a.err.msg, b.err.msg);
	assert_string_equal(a.err.msg, d.err.msg);
	assert_null(strstr(a.err.msg, "nobody"));
	assert_int_equal(al_client_login(c, "new@example.com", SH_PASSWORD, NULL, &a), AL_EUNAUTHENTICATED);
	assert_int_equal(sh_run(c, "whoami", NULL), AL_EUNAUTHENTICATED); /* still nobody */

	/* malformed logins are answered, not counted as credentials */
	al_reply r;
	assert_int_equal(sh_call(c, &r, "login", "email", 'i', 5LL, "password", 's', SH_PASSWORD, NULL),
			 AL_EINVALID_ARGUMENT);
	assert_true(strncmp(r.err.msg, "email:", 6) == 0);
	assert_int_equal(sh_call(c, &r, "login", "email", 's', "u@example.com", NULL), AL_EINVALID_ARGUMENT);
	assert_true(strncmp(r.err.msg, "password:", 9) == 0);
	assert_int_equal(sh_call(c, &r, "login", "email", 's', "u@example.com", "password", 's', SH_PASSWORD, "role", 's',
				 "superadmin", NULL),
			 AL_EINVALID_ARGUMENT);
	assert_true(strncmp(r.err.msg, "role: unknown argument of login", 31) == 0);

	/* success: the user's active keypair, and the connection acts as the user */
	assert_int_equal(al_client_login(c, "u@example.com", SH_PASSWORD, NULL, &r), AL_OK);
	assert_string_equal(th_res_str(&r, "email"), "u@example.com");
	assert_string_equal(th_res_str(&r, "role"), "user");
	assert_string_equal(th_res_str(&r, "domain"), "default");
	assert_int_equal(strlen(th_res_str(&r, "secret_key")), 40);
	char ak[32];
	snprintf(ak, sizeof ak, "%s", th_res_str(&r, "access_key"));
	assert_true(strncmp(ak, "AKIA", 4) == 0);
	al_reply_free(&r);
	assert_int_equal(sh_call(c, &r, "whoami", NULL), AL_OK);
	assert_string_equal(th_res_str(&r, "email"), "u@example.com");
	assert_string_equal(th_res_str(&r, "access_key"), ak);
	al_reply_free(&r);
	/* the request log names the user; no password anywhere in it */
	assert_true(sh_log_count(p, " unix u@example.com login ok ") == 1);
	assert_true(sh_log_count(p, " unix - login unauthenticated ") == 4);
	assert_int_equal(sh_log_count(p, SH_PASSWORD), 0);
	assert_int_equal(sh_log_count(p, "Wrong!pass1"), 0);
	al_client_close(c);
	al_client_close(admin);
}

/* ---- keypair challenge-response ------------------------------------------------------------------ */

static void auth_outcomes(void **state)
{
	sh_server *p = *state;
	al_client *admin = sh_connect_as(p, "admin@example.com");
	create_user(admin, "k@example.com", "default", "user", "active");
	al_reply r;
	OK(sh_call(admin, &r, "keypair.create", "user", 's', "k@example.com", NULL));
	char ak[32], sk[64];
	snprintf(ak, sizeof ak, "%s", th_res_str(&r, "access_key"));
	snprintf(sk, sizeof sk, "%s", th_res_str(&r, "secret_key"));
	al_reply_free(&r);
	al_error err;

	al_client *c = sh_connect(p);
	OK(al_client_auth(c, ak, sk, &err));
	OK(sh_call(c, &r, "whoami", NULL));
	assert_string_equal(th_res_str(&r, "email"), "k@example.com");
	assert_string_equal(th_res_str(&r, "access_key"), ak);
	al_reply_free(&r);
	al_client_close(c);

	/* a proof for another connection's nonce, a wrong secret, an unknown key: refused alike */
	al_client *c1 = sh_connect(p), *c2 = sh_connect(p);
	unsigned char mac[AL_MAC_LEN];
	al_client_mac(al_client_nonce(c1), ak, sk, mac);
	size_t len;
	char *args = th_args(&len, "access_key", 's', ak, NULL);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_str_with_body(&pk, "access_key", 10);
	msgpack_pack_str_with_body(&pk, ak, strlen(ak));
	msgpack_pack_str_with_body(&pk, "mac", 3);
	msgpack_pack_bin_with_body(&pk, mac, sizeof mac);
	al_reply replayed;
	assert_int_equal(al_client_call(c2, "auth", sb.data, sb.size, &replayed), AL_EUNAUTHENTICATED);
	assert_int_equal(al_client_auth(c2, ak, "0123456789012345678901234567890123456789", &err), AL_EUNAUTHENTICATED);
	assert_string_equal(err.msg, replayed.err.msg);
	assert_int_equal(al_client_auth(c2, "AKIANOSUCHKEY2345678", sk, &err), AL_EUNAUTHENTICATED);
	assert_string_equal(err.msg, replayed.err.msg);
	assert_int_equal(al_client_call(c1, "auth", sb.data, sb.size, &r), AL_OK); /* its own nonce */
	al_reply_free(&r);
	msgpack_sbuffer_destroy(&sb);
	free(args);
	/* the mac as 64 hex digits works too; a short one is malformed */
	char hex[2 * AL_MAC_LEN + 1];
	al_client_mac(al_client_nonce(c2), ak, sk, mac);
	sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
	OK(sh_call(c2, &r, "auth", "access_key", 's', ak, "mac", 's', hex, NULL));
	al_reply_free(&r);
	assert_int_equal(sh_call(c2, &r, "auth", "access_key", 's', ak, "mac", 's', "abcd", NULL), AL_EINVALID_ARGUMENT);
	assert_true(strncmp(r.err.msg, "mac:", 4) == 0);
	al_client_close(c1);
	al_client_close(c2);

	/* an inactive keypair, then active again; a deleted one; a deactivated user */
	al_client *live = sh_connect(p); /* authenticated before the keypair goes */
	OK(al_client_auth(live, ak, sk, &err));
	OK(sh_run(live, "whoami", NULL));
	OK(sh_run(admin, "keypair.deactivate", "access_key", 's', ak, NULL));
	int rc = AL_OK; /* within a second, the connection that used it is logged out */
	for (int i = 0; i < 60 && rc == AL_OK; i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
		rc = sh_run(live, "whoami", NULL);
	}
	assert_int_equal(rc, AL_EUNAUTHENTICATED);
	assert_int_equal(sh_run(live, "whoami", NULL), AL_EUNAUTHENTICATED); /* for good */
	al_client_close(live);
	c = sh_connect(p);
	assert_int_equal(al_client_auth(c, ak, sk, &err), AL_EUNAUTHENTICATED);
	OK(sh_run(admin, "keypair.activate", "access_key", 's', ak, NULL));
	OK(al_client_auth(c, ak, sk, &err));
	al_client_close(c);
	OK(sh_run(admin, "keypair.delete", "access_key", 's', ak, NULL));
	c = sh_connect(p);
	assert_int_equal(al_client_auth(c, ak, sk, &err), AL_EUNAUTHENTICATED);
	al_client_close(c);
	al_client *k = sh_connect_as(p, "k@example.com"); /* its main keypair, from login */
	assert_non_null(k);
	al_client_close(k);
	OK(sh_run(admin, "user.deactivate", "email", 's', "k@example.com", NULL));
	c = sh_connect(p);
	assert_int_equal(al_client_auth(c, p->keys[p->nkeys - 1].access_key, p->keys[p->nkeys - 1].secret_key, &err),
			 AL_EUNAUTHENTICATED);
	al_client_close(c);
	al_client_close(admin);
}

/* ---- limits on failures and on rates ---------------------------------------------------------------- */

static void failed_logins_limited(void **state)
{
	sh_server *p = *state;
	al_client *admin = sh_connect_as(p, "admin@example.com");
	create_user(admin, "v@example.com", "default", "user", "active");
	create_user(admin, "w@example.com", "default", "user", "active");
	al_client *c = sh_connect(p);
	al_reply r;
	for (int i = 0; i < 10; i++) {
		assert_int_equal(al_client_login(c, "v@example.com", "Wrong!pass1", NULL, &r), AL_EUNAUTHENTICATED);
		al_reply_free(&r);
	}
	/* the 11th attempt is refused before any hashing, even with the right password */
	assert_int_equal(al_client_login(c, "v@example.com", SH_PASSWORD, NULL, &r), AL_ERATE_LIMITED);
	assert_true(strstr(r.err.msg, "retry in ") != NULL);
	/* the answer says how long to wait */
	al_error err;
	uint64_t id = al_client_next_id(c);
	size_t len;
	char *args = th_args(&len, "email", 's', "v@example.com", "password", 's', SH_PASSWORD, NULL);
	OK(al_client_send(c, id, "login", args, len, false, &err));
	free(args);
	al_msg m;
	OK(al_client_recv(c, &m, &err));
	assert_int_equal(m.err.code, AL_ERATE_LIMITED);
	assert_true(m.retry_after > 800 && m.retry_after <= 900);
	/* another email is not affected */
	OK(al_client_login(c, "w@example.com", SH_PASSWORD, NULL, &r));
	al_reply_free(&r);
	/* failed auths count per access key the same way */
	al_client *d = sh_connect(p);
	for (int i = 0; i < 10; i++)
		assert_int_equal(al_client_auth(d, "AKIAXXXXXXXXXXXXXXXX", "nope", &err), AL_EUNAUTHENTICATED);
	assert_int_equal(al_client_auth(d, "AKIAXXXXXXXXXXXXXXXX", "nope", &err), AL_ERATE_LIMITED);
	assert_int_equal(sh_log_count(p, " login rate_limited "), 2);
	al_client_close(c);
	al_client_close(d);
	al_client_close(admin);
}

static void keypair_rate_limit(void **state)
{
	sh_server *p = *state;
	al_client *admin = sh_connect_as(p, "admin@example.com");
	create_user(admin, "r@example.com", "default", "user", "active");
	al_reply r;
	OK(sh_call(admin, &r, "keypair.create", "user", 's', "r@example.com", "rate_limit", 'i', 5LL, NULL));
	char ak[32], sk[64];
	snprintf(ak, sizeof ak, "%s", th_res_str(&r, "access_key"));
	snprintf(sk, sizeof sk, "%s", th_res_str(&r, "secret_key"));
	al_reply_free(&r);
	al_error err;
	al_client *c = sh_connect(p), *c2 = sh_connect(p);
	OK(al_client_auth(c, ak, sk, &err));
	OK(al_client_auth(c2, ak, sk, &err));
	for (int i = 0; i < 3; i++)
		OK(sh_run(c, "whoami", NULL));
	OK(sh_run(c2, "user.get", "email", 's', "r@example.com", NULL));
	OK(sh_run(c2, "whoami", NULL));
	/* the 6th request of the keypair, on either connection */
	uint64_t id = al_client_next_id(c);
	OK(al_client_send(c, id, "whoami", NULL, 0, false, &err));
	al_msg m;
	OK(al_client_recv(c, &m, &err));
	assert_int_equal(m.kind, AL_MSG_ERROR);
	assert_int_equal(m.err.code, AL_ERATE_LIMITED);
	assert_true(m.retry_after > 0 && m.retry_after <= 900);
	assert_int_equal(sh_run(c2, "whoami", NULL), AL_ERATE_LIMITED);
	/* a higher limit applies within a second: wait for it by asking again */
	OK(sh_run(admin, "keypair.update", "access_key", 's', ak, "rate_limit", 'i', 50LL, NULL));
	int rc = AL_ERATE_LIMITED;
	for (int i = 0; i < 40 && rc == AL_ERATE_LIMITED; i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
		rc = sh_run(c, "whoami", NULL);
	}
	OK(rc);
	/* other keypairs are not affected */
	OK(sh_run(admin, "whoami", NULL));
	al_client_close(c);
	al_client_close(c2);
	al_client_close(admin);
}

/* ---- authorization ----------------------------------------------------------------------------------- */

/* Who an event names. */
struct ev {
	char actor[80], user_id[64], access_key[32], client[16];
};

static int grab(const msgpack_object *row, void *ctx)
{
	struct ev *e = ctx;
	struct {
		const char *key;
		char *dst;
		size_t n;
	} f[] = {{"actor", e->actor, sizeof e->actor},
		 {"user_id", e->user_id, sizeof e->user_id},
		 {"access_key", e->access_key, sizeof e->access_key},
		 {"client", e->client, sizeof e->client}};
	for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
		al_str v;
		if (al_mp_str(row, f[i].key, &v) == 1)
			snprintf(f[i].dst, f[i].n, "%.*s", (int)v.n, v.p);
	}
	return 0;
}

static void authorization_rules(void **state)
{
	sh_server *p = *state;
	al_client *admin = sh_connect_as(p, "admin@example.com");
	OK(sh_run(admin, "domain.create", "name", 's', "dom-a", NULL));
	OK(sh_run(admin, "domain.create", "name", 's', "dom-b", NULL));
	create_user(admin, "boss-a@example.com", "dom-a", "admin", "active");
	create_user(admin, "ua@example.com", "dom-a", "user", "active");
	create_user(admin, "ub@example.com", "dom-b", "user", "active");

	/* a domain admin sees and manages its own domain only, and creates no users */
	al_client *da = sh_connect_as(p, "boss-a@example.com");
	assert_non_null(da);
	OK(sh_run(da, "user.get", "email", 's', "ua@example.com", NULL));
	assert_int_equal(sh_run(da, "user.get", "email", 's', "ub@example.com", NULL), AL_EPERMISSION_DENIED);
	assert_int_equal(sh_run(da, "user.update", "email", 's', "ub@example.com", "full_name", 's', "X", NULL),
			 AL_EPERMISSION_DENIED);
	assert_int_equal(sh_run(da, "user.create", "email", 's', "x@example.com", "username", 's', "x", "password", 's',
			     SH_PASSWORD, "domain", 's', "dom-a", NULL),
			 AL_EPERMISSION_DENIED);
	assert_int_equal(sh_run(da, "user.deactivate", "email", 's', "ua@example.com", NULL), AL_EPERMISSION_DENIED);
	assert_int_equal(sh_run(da, "keypair.list", "user", 's', "ub@example.com", NULL), AL_EPERMISSION_DENIED);
	al_reply r;
	OK(sh_call(da, &r, "user.list", NULL));
	assert_int_equal(th_res_len(&r), 2); /* boss-a and ua */
	al_reply_free(&r);
	OK(sh_call(da, &r, "keypair.list", NULL));
	assert_int_equal(th_res_len(&r), 2); /* their main keypairs */
	al_reply_free(&r);

	/* a user sees only itself and its own keypairs */
	al_client *u = sh_connect_as(p, "ua@example.com");
	assert_non_null(u);
	OK(sh_run(u, "user.get", "email", 's', "ua@example.com", NULL));
	assert_int_equal(sh_run(u, "user.get", "email", 's', "boss-a@example.com", NULL), AL_EPERMISSION_DENIED);
	assert_int_equal(sh_run(u, "user.list", NULL), AL_EPERMISSION_DENIED);
	OK(sh_call(u, &r, "keypair.list", NULL));
	assert_int_equal(th_res_len(&r), 1);
	al_reply_free(&r);
	assert_int_equal(sh_run(u, "keypair.list", "user", 's', "boss-a@example.com", NULL), AL_EPERMISSION_DENIED);

	/* the superadmin sees everything */
	OK(sh_call(admin, &r, "user.list", NULL));
	assert_int_equal(th_res_len(&r), 4);
	al_reply_free(&r);
	OK(sh_run(admin, "user.get", "email", 's', "ub@example.com", NULL));

	/* a write records who: user id, access key and client address */
	OK(sh_call(u, &r, "user.update", "email", 's', "ua@example.com", "full_name", 's', "User A", NULL));
	uint64_t seq = r.last_seq;
	al_reply_free(&r);
	OK(sh_call(u, &r, "whoami", NULL));
	char uid[64], ak[32];
	snprintf(uid, sizeof uid, "%s", th_res_str(&r, "user_id"));
	snprintf(ak, sizeof ak, "%s", th_res_str(&r, "access_key"));
	al_reply_free(&r);
	al_client *w = sh_connect_as(p, "admin@example.com");
	size_t len;
	char *args = th_args(&len, "after_seq", 'i', (long long)seq - 1, "limit", 'i', 1LL, NULL);
	struct ev got = {{0}};
	uint64_t count;
	al_error err;
	OK(al_client_stream(w, "log", args, len, grab, &got, &count, &err));
	free(args);
	assert_int_equal(count, 1);
	assert_string_equal(got.actor, "ua@example.com");
	assert_string_equal(got.user_id, uid);
	assert_string_equal(got.access_key, ak);
	assert_string_equal(got.client, "unix");
	al_client_close(w);
	al_client_close(u);
	al_client_close(da);
	al_client_close(admin);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(login_outcomes, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(auth_outcomes, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(failed_logins_limited, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(keypair_rate_limit, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(authorization_rules, sh_setup, sh_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
