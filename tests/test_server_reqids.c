/*
 * test_server_reqids.c - request ids over the wire, against a real adminlogd: an id belongs to
 * the user that sent it. Another user sending the same op and id gets its own execution (never
 * the first user's TOTP secret); the first user's retry, on a new connection or with another of
 * its keypairs, gets its first result; a superadmin can use an id someone else used.
 */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_harness.h"

static void create_user(al_client *admin, const char *email, const char *domain)
{
	char name[64];
	al_reply rep;
	snprintf(name, sizeof name, "%.*s", (int)strcspn(email, "@"), email);
	assert_int_equal(sh_call(admin, &rep, "user.create", "email", 's', email, "username", 's', name, "password", 's',
				 SH_PASSWORD, "domain", 's', domain, NULL),
			 AL_OK);
	al_reply_free(&rep);
}

static void same_bytes(const al_reply *a, const al_reply *b)
{
	assert_true(b->replayed);
	assert_int_equal(a->result_len, b->result_len);
	assert_memory_equal(a->result, b->result, a->result_len);
	assert_int_equal(a->first_seq, b->first_seq);
}

static void ids_belong_to_their_user(void **state)
{
	sh_server *p = *state;
	al_client *admin = sh_connect_as(p, "admin@example.com");
	assert_non_null(admin);
	al_reply rep, first, again;
	assert_int_equal(sh_call(admin, &rep, "domain.create", "name", 's', "other", NULL), AL_OK);
	al_reply_free(&rep);
	create_user(admin, "alice@example.com", "default");
	create_user(admin, "mallory@other.org", "other");
	al_client *alice = sh_connect_as(p, "alice@example.com"), *mallory = sh_connect_as(p, "mallory@other.org");
	assert_non_null(alice);
	assert_non_null(mallory);

	assert_int_equal(sh_call(alice, &first, "user.2fa.enable", "request_id", 's', "2fa-1", NULL), AL_OK);
	assert_false(first.replayed);
	char secret[64];
	snprintf(secret, sizeof secret, "%s", sh_res_str(&first, "secret"));
	assert_int_equal(strlen(secret), 32);
	/* Another user, another domain, the same op and id: its own enrolment. */
	assert_int_equal(sh_call(mallory, &rep, "user.2fa.enable", "request_id", 's', "2fa-1", NULL), AL_OK);
	assert_false(rep.replayed);
	assert_true(rep.first_seq > first.last_seq);
	assert_string_equal(sh_res_str(&rep, "email"), "mallory@other.org");
	assert_null(memmem(rep.result, rep.result_len, secret, strlen(secret)));
	assert_null(memmem(rep.result, rep.result_len, "alice", 5));
	al_reply_free(&rep);

	/* alice again, on a new connection (keypair auth): her first result. */
	al_client *alice2 = sh_connect_as(p, "alice@example.com");
	assert_non_null(alice2);
	assert_int_equal(sh_call(alice2, &again, "user.2fa.enable", "request_id", 's', "2fa-1", NULL), AL_OK);
	same_bytes(&first, &again);
	al_reply_free(&again);
	/* ...and with another keypair of hers: the scope is the user, not the keypair. */
	assert_int_equal(sh_call(admin, &rep, "keypair.create", "user", 's', "alice@example.com", NULL), AL_OK);
	char ak[64], sk[128];
	snprintf(ak, sizeof ak, "%s", sh_res_str(&rep, "access_key"));
	snprintf(sk, sizeof sk, "%s", sh_res_str(&rep, "secret_key"));
	al_reply_free(&rep);
	al_client *alice3 = sh_connect(p);
	assert_non_null(alice3);
	al_error err;
	assert_int_equal(al_client_auth(alice3, ak, sk, &err), AL_OK);
	assert_int_equal(sh_call(alice3, &again, "user.2fa.enable", "request_id", 's', "2fa-1", NULL), AL_OK);
	same_bytes(&first, &again);
	al_reply_free(&again);
	/* Her id with other arguments: a conflict naming request_id. */
	assert_int_equal(sh_call(alice3, &rep, "user.2fa.enable", "reason", 's', "again", "request_id", 's', "2fa-1", NULL),
			 AL_ECONFLICT);
	assert_true(strncmp(rep.err.msg, "request_id:", 11) == 0);
	al_reply_free(&rep);

	/* The superadmin is not locked out of an id someone else used. */
	assert_int_equal(sh_call(admin, &rep, "domain.create", "name", 's', "after", "request_id", 's', "2fa-1", NULL), AL_OK);
	assert_false(rep.replayed);
	assert_string_equal(sh_res_str(&rep, "name"), "after");
	al_reply_free(&rep);
	al_reply_free(&first);
	al_client_close(alice3);
	al_client_close(alice2);
	al_client_close(mallory);
	al_client_close(alice);
	al_client_close(admin);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(ids_belong_to_their_user, sh_setup, sh_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
