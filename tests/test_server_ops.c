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

/* The first frame answering request id: an error with code and a message starting with prefix. */
static void first_frame_error(al_client *c, uint64_t id, int code, const char *prefix)
{
	al_msg m;
	al_error err = {0};
	do
		assert_int_equal(al_client_recv(c, &m, &err), AL_OK);
	while (!m.has_id || m.id != id);
	if (m.kind != AL_MSG_ERROR || m.err.code != code || strncmp(m.err.msg, prefix, strlen(prefix)) != 0)
		print_error("id %llu: got kind %d %s '%s'\n", (unsigned long long)id, m.kind, al_err_name(m.err.code),
			    m.err.msg);
	assert_int_equal(m.kind, AL_MSG_ERROR);
	assert_int_equal(m.err.code, code);
	assert_true(strncmp(m.err.msg, prefix, strlen(prefix)) == 0);
}

/* Issue 15 item 12: a refused export used to start with the CSV header. */
static void export_checks_first(void **state)
{
	sh_server *p = *state;
	al_client *c = sh_connect_as(p, "admin@example.com");
	assert_non_null(c);
	assert_int_equal(sh_run(c, "user.create", "email", 's', "u@x.io", "username", 's', "u", "password", 's',
				SH_PASSWORD, NULL),
			 AL_OK);
	al_client *u = sh_connect_as(p, "u@x.io");
	assert_non_null(u);
	al_error err = {0};
	size_t n;
	char *a = th_args(&n, "what", 's', "users", "nope", 'i', 1LL, NULL);
	assert_int_equal(al_client_send(c, 101, "export", a, n, false, &err), AL_OK);
	first_frame_error(c, 101, AL_EINVALID_ARGUMENT, "nope: unknown argument");
	free(a);
	a = th_args(&n, "what", 's', "users", "status", 's', "sleeping", NULL);
	assert_int_equal(al_client_send(c, 102, "export", a, n, false, &err), AL_OK);
	first_frame_error(c, 102, AL_EINVALID_ARGUMENT, "status:");
	free(a);
	/* a user may not list the users of the domain */
	a = th_args(&n, "what", 's', "storage", NULL);
	assert_int_equal(al_client_send(u, 103, "export", a, n, false, &err), AL_OK);
	first_frame_error(u, 103, AL_EPERMISSION_DENIED, "");
	free(a);
	/* an export that is allowed still starts with the header, also with no row */
	a = th_args(&n, "what", 's', "storage", NULL);
	assert_int_equal(al_client_send(c, 104, "export", a, n, false, &err), AL_OK);
	al_msg m;
	assert_int_equal(al_client_recv(c, &m, &err), AL_OK);
	assert_int_equal(m.kind, AL_MSG_CSV);
	assert_true(m.value->type == MSGPACK_OBJECT_STR && m.value->via.str.size > 5);
	assert_memory_equal(m.value->via.str.ptr, "name,", 5);
	size_t bytes = m.value->via.str.size;
	assert_int_equal(al_client_recv(c, &m, &err), AL_OK);
	assert_int_equal(m.kind, AL_MSG_DONE);
	assert_int_equal(m.count, bytes); /* done.count: bytes of CSV */
	free(a);
	al_client_close(u);
	al_client_close(c);
}

/* The entry of op in describe's answer, or NULL. */
static const msgpack_object *described(const al_reply *rep, const char *op)
{
	static msgpack_zone z;
	static msgpack_object all;
	static bool init;
	if (!init) {
		msgpack_zone_init(&z, 4096);
		init = true;
	}
	msgpack_zone_clear(&z);
	if (al_mp_decode(rep->result, rep->result_len, &z, &all) != 0 || all.type != MSGPACK_OBJECT_ARRAY)
		return NULL;
	for (uint32_t i = 0; i < all.via.array.size; i++) {
		const msgpack_object *e = &all.via.array.ptr[i], *o = al_mp_get(e, "op");
		if (o && al_mp_str_eq(o, op))
			return e;
	}
	return NULL;
}

/* The argument arg of entry e, or NULL. */
static const msgpack_object *arg_of(const msgpack_object *e, const char *arg)
{
	const msgpack_object *args = al_mp_get(e, "args");
	for (uint32_t i = 0; args && args->type == MSGPACK_OBJECT_ARRAY && i < args->via.array.size; i++)
		if (al_mp_str_eq(al_mp_get(&args->via.array.ptr[i], "name"), arg))
			return &args->via.array.ptr[i];
	return NULL;
}

/* The values of an argument joined with ",", or "" when it has none. */
static const char *values_of(const msgpack_object *a)
{
	static char buf[512];
	size_t n = 0;
	buf[0] = 0;
	const msgpack_object *v = a ? al_mp_get(a, "values") : NULL;
	for (uint32_t i = 0; v && v->type == MSGPACK_OBJECT_ARRAY && i < v->via.array.size; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%.*s", i ? "," : "", (int)v->via.array.ptr[i].via.str.size,
				      v->via.array.ptr[i].via.str.ptr);
	return buf;
}

static bool str_is(const msgpack_object *o, const char *key, const char *want)
{
	const msgpack_object *v = o ? al_mp_get(o, key) : NULL;
	return v && al_mp_str_eq(v, want);
}

/* Issue 15 item 11: describe listed the command table only, and allowed values only in prose. */
static void describe_every_op(void **state)
{
	sh_server *p = *state;
	al_client *c = sh_connect_as(p, "admin@example.com");
	assert_non_null(c);
	al_reply rep;
	assert_int_equal(sh_call(c, &rep, "describe", NULL), AL_OK);
	static const char *const own[] = {"hello", "login", "auth", "whoami", "describe", "cancel", "watch", "log",
					  "export"};
	for (size_t i = 0; i < sizeof own / sizeof *own; i++) {
		const msgpack_object *e = described(&rep, own[i]);
		if (e == NULL)
			print_error("describe: no %s\n", own[i]);
		assert_non_null(e);
		assert_non_null(al_mp_get(e, "args"));
		assert_non_null(al_mp_get(e, "role"));
		assert_non_null(al_mp_get(e, "doc"));
	}
	const msgpack_object *e = described(&rep, "watch");
	assert_true(str_is(e, "kind", "stream") && str_is(e, "role", "superadmin"));
	assert_true(str_is(arg_of(e, "from_seq"), "type", "integer"));
	e = described(&rep, "login");
	assert_true(str_is(e, "role", "none"));
	assert_true(str_is(arg_of(e, "otp"), "type", "string"));
	assert_true(str_is(arg_of(e, "password"), "type", "password"));
	assert_true(str_is(described(&rep, "whoami"), "kind", "session"));
	assert_non_null(strstr(values_of(arg_of(described(&rep, "export"), "what")), "users,keypairs,policies"));
	/* allowed values of the command table's arguments */
	assert_string_equal(values_of(arg_of(described(&rep, "user.create"), "role")), "superadmin,admin,user,monitor");
	assert_string_equal(values_of(arg_of(described(&rep, "user.update"), "status")),
			    "active,inactive,before-verification");
	assert_string_equal(values_of(arg_of(described(&rep, "user.list"), "status")),
			    "active,inactive,before-verification");
	assert_string_equal(values_of(arg_of(described(&rep, "rgroup.create"), "scheduler")), "fifo,lifo,drf");
	assert_string_equal(values_of(arg_of(described(&rep, "user.create"), "email")), ""); /* free text */
	assert_true(str_is(described(&rep, "user.create"), "kind", "write"));
	al_reply_free(&rep);
	al_client_close(c);
}

/* The next frame: kind, the id (or none), the code and a message starting with prefix. */
static void next_is(al_client *c, int kind, long long id, int code, const char *prefix)
{
	al_msg m;
	al_error err = {0};
	assert_int_equal(al_client_recv(c, &m, &err), AL_OK);
	if (m.kind != kind || m.err.code != code || strncmp(m.err.msg, prefix, strlen(prefix)) != 0)
		print_error("got kind %d %s '%s'\n", m.kind, al_err_name(m.err.code), m.err.msg);
	assert_int_equal(m.kind, kind);
	assert_int_equal(m.has_id, id >= 0);
	if (id >= 0)
		assert_int_equal(m.id, id);
	assert_int_equal(m.err.code, code);
	assert_true(strncmp(m.err.msg, prefix, strlen(prefix)) == 0);
}

/* Issue 15 item 13: the input rules docs/protocol.md and describe now state. */
static void input_rules_as_documented(void **state)
{
	sh_server *p = *state;
	/* otp must be a str: 6 digits as an int are refused before any check of the password */
	al_client *u = sh_connect(p);
	assert_non_null(u);
	al_reply rep;
	assert_int_equal(sh_call(u, &rep, "login", "email", 's', "admin@example.com", "password", 's', TH_PASSWORD,
				 "otp", 'i', 123456LL, NULL),
			 AL_EINVALID_ARGUMENT);
	assert_true(strncmp(rep.err.msg, "otp: must be a string", 21) == 0);
	al_reply_free(&rep);
	al_client_close(u);

	al_client *c = sh_connect_as(p, "admin@example.com");
	assert_non_null(c);
	al_error err = {0};
	/* a request map with a key that is not a string: that key is ignored like any unknown one */
	unsigned char k1[] = {0x83, 0x01, 0x02, 0xa2, 'i', 'd', 0x05, 0xa2, 'o', 'p', 0xa6, 'w', 'h', 'o', 'a', 'm', 'i'};
	assert_int_equal(al_client_send_raw(c, k1, sizeof k1, &err), AL_OK);
	next_is(c, AL_MSG_RESULT, 5, AL_OK, "");
	/* ... so a map of such keys only has no id: invalid_argument with id nil, and the
	 * connection stays open (not a framing error) */
	unsigned char k2[] = {0x81, 0x01, 0x02};
	assert_int_equal(al_client_send_raw(c, k2, sizeof k2, &err), AL_OK);
	next_is(c, AL_MSG_ERROR, -1, AL_EINVALID_ARGUMENT, "id:");
	/* in args, where every key is an argument name, it is refused, answered by the id */
	unsigned char k3[] = {0x83, 0xa2, 'i', 'd', 0x06, 0xa2, 'o', 'p', 0xa6, 'w', 'h', 'o', 'a', 'm', 'i',
			      0xa4, 'a', 'r', 'g', 's', 0x81, 0x01, 0x02};
	assert_int_equal(al_client_send_raw(c, k3, sizeof k3, &err), AL_OK);
	next_is(c, AL_MSG_ERROR, 6, AL_EINVALID_ARGUMENT, "whoami: argument names must be strings");
	unsigned char k4[] = {0x83, 0xa2, 'i', 'd', 0x07, 0xa2, 'o', 'p', 0xa8, 'u', 's', 'e', 'r', '.', 'g', 'e', 't',
			      0xa4, 'a', 'r', 'g', 's', 0x81, 0x01, 0x02};
	assert_int_equal(al_client_send_raw(c, k4, sizeof k4, &err), AL_OK);
	next_is(c, AL_MSG_ERROR, 7, AL_EINVALID_ARGUMENT, "user.get: argument names must be strings");
	assert_int_equal(sh_run(c, "whoami", NULL), AL_OK);

	/* username and full name refuse control characters, and say so in describe */
	assert_int_equal(sh_call(c, &rep, "user.create", "email", 's', "t@x.io", "username", 's', "a\tb", "password", 's',
				 SH_PASSWORD, NULL),
			 AL_EINVALID_ARGUMENT);
	assert_true(strncmp(rep.err.msg, "username: must be valid UTF-8 text without control characters", 60) == 0);
	al_reply_free(&rep);
	assert_int_equal(sh_call(c, &rep, "user.update", "email", 's', "admin@example.com", "full_name", 's', "A\x1b[2J",
				 NULL),
			 AL_EINVALID_ARGUMENT);
	assert_true(strncmp(rep.err.msg, "full_name: must be valid UTF-8 text without control characters", 60) == 0);
	al_reply_free(&rep);
	assert_int_equal(sh_call(c, &rep, "describe", NULL), AL_OK);
	static const char *const ops[] = {"user.create", "user.update"}, *const fields[] = {"username", "full_name"};
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < 2; k++) {
			const msgpack_object *d = al_mp_get(arg_of(described(&rep, ops[i]), fields[k]), "doc");
			assert_non_null(d);
			char doc[300];
			snprintf(doc, sizeof doc, "%.*s", (int)d->via.str.size, d->via.str.ptr);
			if (strstr(doc, "no control characters") == NULL)
				print_error("%s %s: '%s'\n", ops[i], fields[k], doc);
			assert_non_null(strstr(doc, "no control characters"));
		}
	al_reply_free(&rep);
	al_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(unknown_args_refused, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(export_checks_first, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(describe_every_op, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(input_rules_as_documented, sh_setup, sh_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
