/*
 * test_server_proto.c - adminlogd against real clients on a Unix socket and on 127.0.0.1: the
 * hello, requests and answers, hostile frames of every kind, limits, streams and watch.
 * Every test starts its own server on a fresh data directory (server_harness.h).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/codec.h"
#include "server_harness.h"

#define PW "Passw0rd!"

/* Receives the next frame, failing the test on a transport error. */
static void recv_ok(al_client *c, al_msg *m)
{
	al_error err = {0};
	int rc = al_client_recv(c, m, &err);
	if (rc)
		print_error("recv: %s\n", err.msg);
	assert_int_equal(rc, AL_OK);
}

/* The connection-level error frame (id nil) with code and a message starting with prefix,
 * then the end of the connection. */
static void expect_fatal(al_client *c, int code, const char *prefix)
{
	al_msg m;
	recv_ok(c, &m);
	assert_int_equal(m.kind, AL_MSG_ERROR);
	assert_false(m.has_id);
	const msgpack_object *id = al_mp_get(m.frame, "id");
	assert_non_null(id);
	assert_int_equal(id->type, MSGPACK_OBJECT_NIL);
	if (m.err.code != code || strncmp(m.err.msg, prefix, strlen(prefix)) != 0)
		print_error("got %s '%s', expected %s '%s...'\n", al_err_name(m.err.code), m.err.msg, al_err_name(code),
			    prefix);
	assert_int_equal(m.err.code, code);
	assert_true(strncmp(m.err.msg, prefix, strlen(prefix)) == 0);
	al_error err;
	assert_int_equal(al_client_recv(c, &m, &err), AL_EIO_ERROR); /* closed */
}

/* An error answer for the request with integer id (or id nil when id < 0). */
static void expect_error(al_client *c, long long id, int code, const char *prefix)
{
	al_msg m;
	recv_ok(c, &m);
	assert_int_equal(m.kind, AL_MSG_ERROR);
	if (id >= 0) {
		assert_true(m.has_id);
		assert_int_equal(m.id, id);
	} else
		assert_false(m.has_id);
	if (m.err.code != code || strncmp(m.err.msg, prefix, strlen(prefix)) != 0)
		print_error("got %s '%s', expected %s '%s...'\n", al_err_name(m.err.code), m.err.msg, al_err_name(code),
			    prefix);
	assert_int_equal(m.err.code, code);
	assert_true(strncmp(m.err.msg, prefix, strlen(prefix)) == 0);
}

static void user_get_works(al_client *c)
{
	al_reply rep;
	assert_int_equal(sh_call(c, &rep, "user.get", "email", 's', "admin@example.com", NULL), AL_OK);
	assert_string_equal(sh_res_str(&rep, "role"), "superadmin");
	al_reply_free(&rep);
}

/* ---- hello, authentication gate, answers ---------------------------------------------------- */

static void hello_and_gate(void **state)
{
	sh_server *p = *state;
	al_client *a = sh_connect(p), *b = sh_connect(p);
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(al_client_server_version(a), AL_VERSION);
	assert_int_equal(al_client_max_frame(a), 1u << 20);
	assert_memory_not_equal(al_client_nonce(a), al_client_nonce(b), AL_NONCE_LEN);
	static const unsigned char zero[AL_NONCE_LEN];
	assert_memory_not_equal(al_client_nonce(a), zero, AL_NONCE_LEN);

	al_reply rep;
	assert_int_equal(sh_call(a, &rep, "user.get", "email", 's', "admin@example.com", NULL), AL_EUNAUTHENTICATED);
	assert_null(rep.result);
	assert_int_equal(sh_call(a, &rep, "user.create", "email", 's', "x@example.com", "username", 's', "x",
				 "password", 's', PW, NULL),
			 AL_EUNAUTHENTICATED);
	assert_int_equal(sh_call(a, &rep, "whoami", NULL), AL_EUNAUTHENTICATED);
	assert_int_equal(sh_call(a, &rep, "hello", "protocol", 'i', 1LL, "client", 's', "test", NULL), AL_OK);
	al_reply_free(&rep);
	assert_int_equal(sh_call(a, &rep, "hello", "protocol", 'i', 2LL, NULL), AL_EUNSUPPORTED);
	assert_int_equal(sh_login(a, "admin@example.com", "Wrong!pass1", NULL), AL_EUNAUTHENTICATED);
	assert_int_equal(sh_call(a, &rep, "whoami", NULL), AL_EUNAUTHENTICATED);

	sh_key admin;
	assert_int_equal(sh_login(a, "admin@example.com", TH_PASSWORD, &admin), AL_OK);
	assert_int_equal(strlen(admin.access_key), 20);
	assert_int_equal(strlen(admin.secret_key), 40);
	assert_int_equal(sh_call(a, &rep, "whoami", NULL), AL_OK);
	assert_string_equal(sh_res_str(&rep, "email"), "admin@example.com");
	assert_string_equal(sh_res_str(&rep, "role"), "superadmin");
	assert_string_equal(sh_res_str(&rep, "client"), "unix");
	assert_string_equal(sh_res_str(&rep, "access_key"), admin.access_key);
	al_reply_free(&rep);
	user_get_works(a);
	/* b is a separate connection: still not authenticated */
	assert_int_equal(sh_call(b, &rep, "user.get", "email", 's', "admin@example.com", NULL), AL_EUNAUTHENTICATED);

	/* a write: answered after commit with its seqs; the event records the actor and client */
	assert_int_equal(sh_call(a, &rep, "user.create", "email", 's', "x@example.com", "username", 's', "x", "password",
				 's', PW, "request_id", 's', "r1", NULL),
			 AL_OK);
	assert_int_equal(rep.first_seq, p->boot + 1);
	assert_true(rep.last_seq >= rep.first_seq);
	uint64_t last = rep.last_seq;
	assert_false(rep.replayed);
	assert_string_equal(sh_res_str(&rep, "email"), "x@example.com");
	al_reply_free(&rep);
	assert_int_equal(sh_call(a, &rep, "user.create", "email", 's', "x@example.com", "username", 's', "x", "password",
				 's', PW, "request_id", 's', "r1", NULL),
			 AL_OK);
	assert_true(rep.replayed);
	assert_int_equal(rep.last_seq, last);
	al_reply_free(&rep);
	/* refusals name the field */
	assert_int_equal(sh_call(a, &rep, "user.get", "email", 'i', 5LL, NULL), AL_EINVALID_ARGUMENT);
	assert_true(strncmp(rep.err.msg, "email:", 6) == 0);
	assert_int_equal(sh_call(a, &rep, "no.such", NULL), AL_EINVALID_ARGUMENT);
	assert_true(strncmp(rep.err.msg, "op:", 3) == 0);
	assert_int_equal(sh_call(a, &rep, "user.create", "email", 's', "y@example.com", "username", 's', "y", "password",
				 's', "weak", NULL),
			 AL_EINVALID_ARGUMENT);
	assert_true(strncmp(rep.err.msg, "password:", 9) == 0);
	assert_null(strstr(rep.err.msg, "weak"));

	/* a user sees itself only */
	al_client *u = sh_connect_as(p, "x@example.com");
	assert_non_null(u);
	assert_int_equal(sh_call(u, &rep, "user.get", "email", 's', "x@example.com", NULL), AL_OK);
	al_reply_free(&rep);
	assert_int_equal(sh_call(u, &rep, "user.get", "email", 's', "admin@example.com", NULL), AL_EPERMISSION_DENIED);
	assert_int_equal(sh_call(u, &rep, "watch", NULL), AL_EPERMISSION_DENIED);
	assert_int_equal(sh_call(u, &rep, "log", NULL), AL_EPERMISSION_DENIED);
	al_client_close(u);

	/* describe: the command table, then the server's own 9 operations (test_server_ops.c) */
	assert_int_equal(sh_call(a, &rep, "describe", NULL), AL_OK);
	assert_true(th_res_len(&rep) == (long)al_cmd_def_count() + 9);
	al_reply_free(&rep);

	/* the request log: one line per request with client, actor, op, code, µs */
	assert_true(sh_log_count(p, " unix admin@example.com user.create ok ") == 2); /* and its retry */
	assert_true(sh_log_count(p, " unix - user.get unauthenticated ") >= 2);
	assert_true(sh_log_count(p, " unix admin@example.com no.such invalid_argument ") == 1);
	assert_int_equal(sh_log_count(p, PW), 0);
	al_client_close(a);
	al_client_close(b);
}

struct got {
	uint64_t seq;
	char client[64];
};

static int grab(const al_event *e, void *ctx)
{
	struct got *g = ctx;
	g->seq = e->seq;
	snprintf(g->client, sizeof g->client, "%.*s", (int)e->client.n, e->client.p);
	return 0;
}

/* The same over TCP: client address recorded in events. */
static void over_tcp(void **state)
{
	sh_server *p = *state;
	al_client *c = NULL;
	al_error err;
	assert_int_equal(al_client_connect(&c, p->tcp, SH_TIMEOUT_MS, &err), AL_OK);
	al_reply rep;
	assert_int_equal(sh_login(c, "admin@example.com", TH_PASSWORD, NULL), AL_OK);
	assert_int_equal(sh_call(c, &rep, "whoami", NULL), AL_OK);
	assert_string_equal(sh_res_str(&rep, "client"), "127.0.0.1");
	al_reply_free(&rep);
	assert_int_equal(sh_call(c, &rep, "domain.create", "name", 's', "tcp-domain", NULL), AL_OK);
	uint64_t seq = rep.last_seq;
	al_reply_free(&rep);
	al_client_close(c);
	assert_int_equal(sh_stop(p, SIGTERM), 0);

	al_store *s;
	al_open_opts oo = {AL_OPEN_QUIET, 0};
	assert_int_equal(al_store_open(&s, p->data, &oo, &err), AL_OK);
	al_log_filter f = {.entity = "domain:tcp-domain"};
	struct got got = {0, ""};
	assert_int_equal(al_log_query(s, &f, grab, &got, &err), AL_OK);
	assert_int_equal(got.seq, seq);
	assert_string_equal(got.client, "127.0.0.1");
	al_store_close(s);
}

/* ---- hostile frames ------------------------------------------------------------------------------ */

static void send_bytes(al_client *c, const void *p, size_t n)
{
	assert_int_equal(send(al_client_fd(c), p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void fatal_frame(sh_server *p, al_client *witness, const void *bytes, size_t n, bool half_close, int code,
			const char *prefix)
{
	al_client *c = sh_connect_as(p, "admin@example.com");
	assert_non_null(c);
	send_bytes(c, bytes, n);
	if (half_close)
		shutdown(al_client_fd(c), SHUT_WR);
	expect_fatal(c, code, prefix);
	al_client_close(c);
	user_get_works(witness); /* everyone else is still served */
}

static void malformed_frames(void **state)
{
	sh_server *p = *state;
	al_client *w = sh_connect_as(p, "admin@example.com");
	assert_non_null(w);

	static const unsigned char oversized[] = {0x00, 0x10, 0x00, 0x01};            /* 1 MiB + 1 */
	static const unsigned char huge[] = {0xff, 0xff, 0xff, 0xff};                 /* 4 GiB */
	static const unsigned char zero[] = {0, 0, 0, 0};
	static const unsigned char not_msgpack[] = {0, 0, 0, 1, 0xc1};                 /* never used byte */
	static const unsigned char not_a_map[] = {0, 0, 0, 3, 0x92, 0x01, 0x02};       /* [1, 2] */
	static const unsigned char a_string[] = {0, 0, 0, 2, 0xa1, 'x'};
	static const unsigned char trailing[] = {0, 0, 0, 2, 0x80, 0x80};              /* {} then {} */
	static const unsigned char lying_map[] = {0, 0, 0, 5, 0xdf, 0xff, 0xff, 0xff, 0xff}; /* 4G pairs */
	static const unsigned char short_str[] = {0, 0, 0, 4, 0x81, 0xa2, 'i', 'd'};  /* key, no value */
	static const unsigned char truncated[] = {0, 0, 0, 100, 0x83, 0xa2, 'i', 'd', 0x01};
	static const unsigned char partial_len[] = {0, 0};
	fatal_frame(p, w, oversized, sizeof oversized, false, AL_ELIMIT_EXCEEDED, "frame: 1048577 bytes");
	fatal_frame(p, w, huge, sizeof huge, false, AL_ELIMIT_EXCEEDED, "frame: 4294967295 bytes");
	fatal_frame(p, w, zero, sizeof zero, false, AL_EINVALID_ARGUMENT, "frame: 0 bytes");
	fatal_frame(p, w, not_msgpack, sizeof not_msgpack, false, AL_EINVALID_ARGUMENT, "frame: not exactly one");
	fatal_frame(p, w, not_a_map, sizeof not_a_map, false, AL_EINVALID_ARGUMENT, "frame: must be a msgpack map");
	fatal_frame(p, w, a_string, sizeof a_string, false, AL_EINVALID_ARGUMENT, "frame: must be a msgpack map");
	fatal_frame(p, w, trailing, sizeof trailing, false, AL_EINVALID_ARGUMENT, "frame: not exactly one");
	fatal_frame(p, w, lying_map, sizeof lying_map, false, AL_EINVALID_ARGUMENT, "frame: not exactly one");
	fatal_frame(p, w, short_str, sizeof short_str, false, AL_EINVALID_ARGUMENT, "frame: not exactly one");
	fatal_frame(p, w, truncated, sizeof truncated, true, AL_EINVALID_ARGUMENT, "frame: truncated");
	fatal_frame(p, w, partial_len, sizeof partial_len, true, AL_EINVALID_ARGUMENT, "frame: truncated");

	/* 100,000 nested arrays: well-formed, but too deep to decode */
	size_t depth = 100000;
	unsigned char *deep = malloc(depth + 5);
	deep[0] = (unsigned char)((depth + 1) >> 24), deep[1] = (unsigned char)((depth + 1) >> 16);
	deep[2] = (unsigned char)((depth + 1) >> 8), deep[3] = (unsigned char)(depth + 1);
	memset(deep + 4, 0x91, depth);
	deep[4 + depth] = 0xc0;
	fatal_frame(p, w, deep, depth + 5, false, AL_EINVALID_ARGUMENT, "frame: ");
	free(deep);

	/* A frame split into single bytes is still one frame. */
	al_client *slow = sh_connect_as(p, "admin@example.com");
	size_t len;
	char *args = th_args(&len, "email", 's', "admin@example.com", NULL);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_sbuffer_write(&sb, "\0\0\0\0", 4);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "id", 2);
	msgpack_pack_uint64(&pk, 77);
	msgpack_pack_str_with_body(&pk, "op", 2);
	msgpack_pack_str_with_body(&pk, "user.get", 8);
	msgpack_pack_str_with_body(&pk, "args", 4);
	msgpack_sbuffer_write(&sb, args, len);
	sb.data[3] = (char)(sb.size - 4);
	for (size_t i = 0; i < sb.size; i++)
		send_bytes(slow, sb.data + i, 1);
	al_msg m;
	recv_ok(slow, &m);
	assert_int_equal(m.kind, AL_MSG_RESULT);
	assert_int_equal(m.id, 77);
	msgpack_sbuffer_destroy(&sb);
	free(args);
	al_client_close(slow);
	al_client_close(w);
}

/* Wrong types inside a good frame: answered, and the connection stays usable. */
static void wrong_types_answered(void **state)
{
	sh_server *p = *state;
	al_client *c = sh_connect_as(p, "admin@example.com");
	assert_non_null(c);
	struct {
		const char *json_like;
		unsigned char bytes[64];
		size_t n;
		long long id; /* expected id of the answer, -1 for nil */
		const char *prefix;
	} cases[] = {
		{"{op: user.get}", {0x81, 0xa2, 'o', 'p', 0xa8, 'u', 's', 'e', 'r', '.', 'g', 'e', 't'}, 13, -1, "id:"},
		{"{id: -1, op: x}", {0x82, 0xa2, 'i', 'd', 0xff, 0xa2, 'o', 'p', 0xa1, 'x'}, 10, -1, "id:"},
		{"{id: {}, op: x}", {0x82, 0xa2, 'i', 'd', 0x80, 0xa2, 'o', 'p', 0xa1, 'x'}, 10, -1, "id:"},
		{"{id: \"\", op: x}", {0x82, 0xa2, 'i', 'd', 0xa0, 0xa2, 'o', 'p', 0xa1, 'x'}, 10, -1, "id:"},
		{"{id: 1.5, op: x}",
		 {0x82, 0xa2, 'i', 'd', 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xa2, 'o', 'p', 0xa1, 'x'}, 18, -1, "id:"},
		{"{id: 5}", {0x81, 0xa2, 'i', 'd', 0x05}, 5, 5, "op:"},
		{"{id: 6, op: 7}", {0x82, 0xa2, 'i', 'd', 0x06, 0xa2, 'o', 'p', 0x07}, 9, 6, "op:"},
		{"{id: 7, op: no.such}", {0x82, 0xa2, 'i', 'd', 0x07, 0xa2, 'o', 'p', 0xa7, 'n', 'o', '.', 's', 'u', 'c', 'h'},
		 16, 7, "op: unknown operation 'no.such'"},
		{"{id: 8, op: user.get, args: [1]}",
		 {0x83, 0xa2, 'i', 'd', 0x08, 0xa2, 'o', 'p', 0xa8, 'u', 's', 'e', 'r', '.', 'g', 'e', 't', 0xa4, 'a', 'r',
		  'g', 's', 0x91, 0x01},
		 24, 8, "args: must be a map"},
		{"{id: 9, op: user.get, stream: 1}",
		 {0x83, 0xa2, 'i', 'd', 0x09, 0xa2, 'o', 'p', 0xa8, 'u', 's', 'e', 'r', '.', 'g', 'e', 't', 0xa6, 's', 't',
		  'r', 'e', 'a', 'm', 0x01},
		 25, 9, "stream: must be a boolean"},
		{"{id: 10, op: user.get, args: {email: 1}}",
		 {0x83, 0xa2, 'i', 'd', 0x0a, 0xa2, 'o', 'p', 0xa8, 'u', 's', 'e', 'r', '.', 'g', 'e', 't', 0xa4, 'a', 'r',
		  'g', 's', 0x81, 0xa5, 'e', 'm', 'a', 'i', 'l', 0x01},
		 30, 10, "email: must be a string"},
		{"{id: 11, op: user.get, args: {}}",
		 {0x83, 0xa2, 'i', 'd', 0x0b, 0xa2, 'o', 'p', 0xa8, 'u', 's', 'e', 'r', '.', 'g', 'e', 't', 0xa4, 'a', 'r',
		  'g', 's', 0x80},
		 23, 11, "email: is required"},
		{"{id: 12, op: user.update, stream: true, args: {}}",
		 {0x84, 0xa2, 'i', 'd', 0x0c, 0xa2, 'o', 'p', 0xab, 'u', 's', 'e', 'r', '.', 'u', 'p', 'd', 'a', 't', 'e',
		  0xa6, 's', 't', 'r', 'e', 'a', 'm', 0xc3, 0xa4, 'a', 'r', 'g', 's', 0x80},
		 34, 12, "stream: only read commands stream"},
		{"{id: 13, op: user.create, args: {email: x, nope: 1}}",
		 {0x83, 0xa2, 'i', 'd', 0x0d, 0xa2, 'o', 'p', 0xab, 'u', 's', 'e', 'r', '.', 'c', 'r', 'e', 'a', 't', 'e',
		  0xa4, 'a', 'r', 'g', 's', 0x82, 0xa5, 'e', 'm', 'a', 'i', 'l', 0xa1, 'x', 0xa4, 'n', 'o', 'p', 'e', 0x01},
		 40, 13, "nope: unknown argument"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		print_message("# %s\n", cases[i].json_like);
		al_error err;
		assert_int_equal(al_client_send_raw(c, cases[i].bytes, cases[i].n, &err), AL_OK);
		expect_error(c, cases[i].id, AL_EINVALID_ARGUMENT, cases[i].prefix);
	}
	/* a string id is echoed as it was */
	unsigned char sid[] = {0x82, 0xa2, 'i', 'd', 0xa3, 'a', 'b', 'c', 0xa2, 'o', 'p', 0xa6, 'w', 'h', 'o', 'a', 'm', 'i'};
	al_error err;
	assert_int_equal(al_client_send_raw(c, sid, sizeof sid, &err), AL_OK);
	al_msg m;
	recv_ok(c, &m);
	assert_int_equal(m.kind, AL_MSG_RESULT);
	const msgpack_object *id = al_mp_get(m.frame, "id");
	assert_true(id && al_mp_str_eq(id, "abc"));
	user_get_works(c);
	al_client_close(c);
}

/* ---- limits --------------------------------------------------------------------------------------- */

static void limits(void **state)
{
	sh_server *p = *state;
	assert_int_equal(sh_stop(p, SIGTERM), 0);
	assert_int_equal(sh_start(p, "--max-conns", "2", "--idle-timeout", "1", "--max-inflight", "3", "--max-frame",
				  "4096", NULL),
			 0);
	al_client *a = sh_connect_as(p, "admin@example.com"), *b = sh_connect(p), *c = NULL;
	assert_non_null(a);
	assert_non_null(b);
	al_error err = {0};
	assert_int_equal(al_client_connect(&c, p->sock, SH_TIMEOUT_MS, &err), AL_ELIMIT_EXCEEDED);
	assert_true(strncmp(err.msg, "connections:", 12) == 0);
	/* b says nothing: closed after the idle time with an error frame */
	expect_fatal(b, AL_ELIMIT_EXCEEDED, "idle: no request for 1 s");
	al_client_close(b);
	/* a frame over --max-frame */
	unsigned char big[] = {0, 0, 0x10, 0x01};
	assert_int_equal(al_client_connect(&b, p->sock, SH_TIMEOUT_MS, &err), AL_OK);
	send_bytes(b, big, sizeof big);
	expect_fatal(b, AL_ELIMIT_EXCEEDED, "frame: 4097 bytes; a frame holds 1 to 4096");
	al_client_close(b);

	al_client_close(a); /* idle too by now */
	a = sh_connect_as(p, "admin@example.com");
	assert_non_null(a);
	/* 200 pipelined requests with at most 3 in flight: all answered, in back-pressure */
	size_t len;
	char *get = th_args(&len, "email", 's', "admin@example.com", NULL);
	size_t ulen;
	char *upd = th_args(&ulen, "email", 's', "admin@example.com", "full_name", 's', "Pipelined", NULL);
	for (uint64_t i = 1; i <= 200; i++)
		assert_int_equal(al_client_send(a, i, i % 2 ? "user.get" : "user.update", i % 2 ? get : upd,
						i % 2 ? len : ulen, false, &err),
				 AL_OK);
	free(get);
	free(upd);
	bool seen[201] = {false};
	for (int i = 0; i < 200; i++) {
		al_msg m;
		recv_ok(a, &m);
		if (m.kind != AL_MSG_RESULT)
			print_error("answer %llu: %s\n", (unsigned long long)m.id, m.err.msg);
		assert_int_equal(m.kind, AL_MSG_RESULT);
		assert_true(m.has_id && m.id >= 1 && m.id <= 200 && !seen[m.id]);
		seen[m.id] = true;
	}
	al_client_close(a);
}

/* The first bytes of a frame whose body never comes. */
static const unsigned char half_frame[] = {0, 0, 0, 100, 0x82, 0xa2, 'i', 'd'};

/* Half-sent frames cannot take every slot: connections not authenticated yet have their own caps
 * below --max-conns (in total, and per TCP address), so authenticated clients are served and a
 * client from elsewhere still connects and logs in. */
static void unauthenticated_capped(void **state)
{
	sh_server *p = *state;
	assert_int_equal(sh_stop(p, SIGTERM), 0);
	assert_int_equal(sh_start(p, "--max-conns", "16", "--max-unauth", "8", "--max-unauth-per-addr", "4", NULL), 0);
	al_client *a = sh_connect_as(p, "admin@example.com"); /* authenticated before the flood */
	assert_non_null(a);
	al_client *flood[40];
	al_error err = {0};
	int in = 0;
	for (int i = 0; i < 40; i++) {
		int rc = al_client_connect(&flood[in], p->tcp, SH_TIMEOUT_MS, &err);
		if (rc == AL_OK)
			send_bytes(flood[in++], half_frame, sizeof half_frame);
		else {
			assert_int_equal(rc, AL_ELIMIT_EXCEEDED);
			assert_true(strncmp(err.msg, "connections:", 12) == 0);
		}
	}
	assert_int_equal(in, 4); /* the per-address cap */
	/* a client over the Unix socket gets in and logs in; the authenticated one is served */
	al_client *u = NULL;
	assert_int_equal(al_client_connect(&u, p->sock, SH_TIMEOUT_MS, &err), AL_OK);
	assert_int_equal(sh_login(u, "admin@example.com", TH_PASSWORD, NULL), AL_OK);
	user_get_works(u);
	user_get_works(a);
	/* the total cap: half-sent Unix clients take what is left of 8, not more */
	al_client *ux[8];
	int uin = 0;
	for (int i = 0; i < 8; i++) {
		int rc = al_client_connect(&ux[uin], p->sock, SH_TIMEOUT_MS, &err);
		if (rc == AL_OK)
			send_bytes(ux[uin++], half_frame, sizeof half_frame);
		else
			assert_int_equal(rc, AL_ELIMIT_EXCEEDED);
	}
	assert_int_equal(uin, 4);
	user_get_works(a); /* authenticated clients are still served */
	user_get_works(u);
	/* once one of them is gone, a new client gets in and logs in */
	al_client_close(ux[--uin]);
	al_client *v = NULL;
	double t0 = sh_now_s();
	int rc;
	do { /* nothing tells a client that a slot is free: ask until one is */
		struct timespec gap = {0, 20 * 1000 * 1000};
		nanosleep(&gap, NULL);
		rc = al_client_connect(&v, p->sock, SH_TIMEOUT_MS, &err);
	} while (rc == AL_ELIMIT_EXCEEDED && sh_now_s() - t0 < 5);
	assert_int_equal(rc, AL_OK);
	assert_int_equal(sh_login(v, "admin@example.com", TH_PASSWORD, NULL), AL_OK);
	user_get_works(v);
	al_client_close(v);
	while (uin)
		al_client_close(ux[--uin]);
	while (in)
		al_client_close(flood[--in]);
	al_client_close(u);
	al_client_close(a);
}

/* A connection must authenticate within --handshake-timeout, silent, chatty or half-way
 * through a frame; an authenticated one stays. */
static void handshake_timeout(void **state)
{
	sh_server *p = *state;
	assert_int_equal(sh_stop(p, SIGTERM), 0);
	assert_int_equal(sh_start(p, "--handshake-timeout", "1", NULL), 0);
	double t0 = sh_now_s();
	al_client *a = sh_connect_as(p, "admin@example.com"), *silent = sh_connect(p), *half = sh_connect(p),
		  *chatty = sh_connect(p);
	assert_non_null(a);
	assert_non_null(silent);
	assert_non_null(half);
	assert_non_null(chatty);
	send_bytes(half, half_frame, sizeof half_frame);
	al_error err = {0};
	al_msg m;
	for (uint64_t id = 1;; id++) { /* a hello every 200 ms does not keep it open */
		int sent = al_client_send(chatty, id, "hello", NULL, 0, false, &err);
		recv_ok(chatty, &m); /* an answer, or the end that came before (then sending failed) */
		assert_true(sent == AL_OK || !m.has_id);
		if (!m.has_id)
			break;
		assert_int_equal(m.kind, AL_MSG_RESULT);
		assert_true(id < 50); /* 10 s: far past the timeout */
		struct timespec gap = {0, 200 * 1000 * 1000};
		nanosleep(&gap, NULL);
	}
	double took = sh_now_s() - t0;
	print_message("# closed after %.3f s\n", took);
	assert_int_equal(m.kind, AL_MSG_ERROR);
	assert_int_equal(m.err.code, AL_ELIMIT_EXCEEDED);
	assert_string_equal(m.err.msg, "handshake: not authenticated within 1 s");
	assert_true(took >= 0.9 && took < 3);
	expect_fatal(silent, AL_ELIMIT_EXCEEDED, "handshake: not authenticated within 1 s");
	expect_fatal(half, AL_ELIMIT_EXCEEDED, "handshake: not authenticated within 1 s");
	user_get_works(a); /* well past the timeout */
	al_client_close(silent);
	al_client_close(half);
	al_client_close(chatty);
	al_client_close(a);
}

/* With --max-conns 3, three watching clients go away (two close, one resets): their slots are
 * free again within a second, although nothing is written that a watch would send. */
static void closed_watches_released(void **state)
{
	sh_server *p = *state;
	assert_int_equal(sh_stop(p, SIGTERM), 0);
	assert_int_equal(sh_start(p, "--max-conns", "3", NULL), 0);
	al_client *first = sh_connect_as(p, "admin@example.com"); /* its keypair, for auth below */
	assert_non_null(first);
	al_client_close(first);
	sh_key *k = &p->keys[0];
	al_client *w[3];
	al_error err = {0};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(al_client_connect(&w[i], i == 2 ? p->tcp : p->sock, SH_TIMEOUT_MS, &err), AL_OK);
		assert_int_equal(al_client_auth(w[i], k->access_key, k->secret_key, &err), AL_OK);
		assert_int_equal(al_client_send(w[i], 1, "watch", NULL, 0, false, &err), AL_OK);
		user_get_works(w[i]); /* answered after the watch began: it runs */
	}
	al_client *x = NULL;
	assert_int_equal(al_client_connect(&x, p->sock, SH_TIMEOUT_MS, &err), AL_ELIMIT_EXCEEDED);
	struct linger reset = {1, 0}; /* the TCP one is closed with a reset */
	assert_int_equal(setsockopt(al_client_fd(w[2]), SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
	for (int i = 0; i < 3; i++)
		al_client_close(w[i]);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	double took = 0;
	int rc;
	do { /* nothing tells a client that a slot is free: ask until one is, for at most a second */
		struct timespec gap = {0, 20 * 1000 * 1000};
		nanosleep(&gap, NULL);
		rc = al_client_connect(&x, p->sock, SH_TIMEOUT_MS, &err);
		clock_gettime(CLOCK_MONOTONIC, &t);
		took = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
	} while (rc == AL_ELIMIT_EXCEEDED && took < 1.0);
	print_message("# a slot was free again after %.3f s\n", took);
	assert_int_equal(rc, AL_OK);
	assert_true(took < 1.0);
	assert_int_equal(al_client_auth(x, k->access_key, k->secret_key, &err), AL_OK);
	user_get_works(x);
	/* all three: three clients fit again */
	al_client *y = NULL, *z = NULL;
	assert_int_equal(al_client_connect(&y, p->sock, SH_TIMEOUT_MS, &err), AL_OK);
	assert_int_equal(al_client_auth(y, k->access_key, k->secret_key, &err), AL_OK);
	assert_int_equal(al_client_connect(&z, p->tcp, SH_TIMEOUT_MS, &err), AL_OK);
	assert_int_equal(al_client_auth(z, k->access_key, k->secret_key, &err), AL_OK);
	user_get_works(z);
	al_client_close(x);
	al_client_close(y);
	al_client_close(z);
}

/* ---- streams and watch ---------------------------------------------------------------------------- */

typedef struct rows {
	int n;
	char last[64];
} rows;

static int count_row(const msgpack_object *row, void *ctx)
{
	rows *r = ctx;
	al_str e;
	if (al_mp_str(row, "email", &e) == 1)
		snprintf(r->last, sizeof r->last, "%.*s", (int)e.n, e.p);
	r->n++;
	return 0;
}

static int csv_chunk(const msgpack_object *o, void *ctx)
{
	msgpack_sbuffer *sb = ctx;
	assert_int_equal(o->type, MSGPACK_OBJECT_STR);
	msgpack_sbuffer_write(sb, o->via.str.ptr, o->via.str.size);
	return 0;
}

static int stop_after(const msgpack_object *row, void *ctx)
{
	(void)row;
	return ++*(int *)ctx == 3;
}

static void streams(void **state)
{
	sh_server *p = *state;
	al_client *c = sh_connect_as(p, "admin@example.com");
	assert_non_null(c);
	/* 300 users, so that the stream is more than one chunk and more than the list's default limit */
	for (int i = 0; i < 300; i++) {
		char email[64], name[32];
		snprintf(email, sizeof email, "s%03d@example.com", i);
		snprintf(name, sizeof name, "s%03d", i);
		al_error err;
		size_t len;
		char *args = th_args(&len, "email", 's', email, "username", 's', name, "password", 's', PW, NULL);
		assert_int_equal(al_client_send(c, (uint64_t)i + 1000, "user.create", args, len, false, &err), AL_OK);
		free(args);
	}
	for (int i = 0; i < 300; i++) {
		al_msg m;
		recv_ok(c, &m);
		assert_int_equal(m.kind, AL_MSG_RESULT);
	}
	rows r = {0, ""};
	uint64_t count = 0;
	al_error err = {0};
	size_t len;
	char *args = th_args(&len, "email_contains", 's', "@example.com", "limit", 'i', 1000LL, NULL);
	assert_int_equal(al_client_stream(c, "user.list", args, len, count_row, &r, &count, &err), AL_OK);
	assert_int_equal(r.n, 301);
	assert_int_equal(count, 301);
	assert_string_equal(r.last, "s299@example.com");
	free(args);
	al_reply rep;
	assert_int_equal(sh_call(c, &rep, "user.list", "limit", 'i', 1000LL, NULL), AL_OK);
	assert_int_equal(th_res_len(&rep), 301);
	al_reply_free(&rep);
	/* the audit log, filtered */
	r.n = 0;
	args = th_args(&len, "type", 's', "user.created", NULL);
	assert_int_equal(al_client_stream(c, "log", args, len, count_row, &r, &count, &err), AL_OK);
	assert_int_equal(count, 301);
	free(args);
	args = th_args(&len, "type", 's', "no.such", NULL);
	int rc = al_client_stream(c, "log", args, len, count_row, &r, &count, &err);
	if (rc != AL_EINVALID_ARGUMENT)
		print_error("log: %s\n", err.msg);
	assert_int_equal(rc, AL_EINVALID_ARGUMENT);
	assert_true(strncmp(err.msg, "type:", 5) == 0);
	free(args);
	args = th_args(&len, "bogus", 'i', 1LL, NULL);
	assert_int_equal(al_client_stream(c, "log", args, len, count_row, &r, &count, &err), AL_EINVALID_ARGUMENT);
	free(args);
	/* a CSV export: header + one record per user, in chunks */
	msgpack_sbuffer csv;
	msgpack_sbuffer_init(&csv);
	args = th_args(&len, "what", 's', "users", "limit", 'i', 1000LL, NULL);
	assert_int_equal(al_client_stream(c, "export", args, len, csv_chunk, &csv, &count, &err), AL_OK);
	assert_int_equal(count, csv.size);
	int lines = 0;
	for (size_t i = 0; i < csv.size; i++)
		lines += csv.data[i] == '\n';
	assert_int_equal(lines, 302);
	assert_null(memmem(csv.data, csv.size, "argon2", 6));
	msgpack_sbuffer_destroy(&csv);
	free(args);
	args = th_args(&len, "what", 's', "nothing", NULL);
	assert_int_equal(al_client_stream(c, "export", args, len, csv_chunk, &csv, &count, &err), AL_EINVALID_ARGUMENT);
	free(args);
	/* a stream stopped by the receiver is cancelled; the connection stays usable */
	int seen = 0;
	assert_int_equal(al_client_stream(c, "user.list", NULL, 0, stop_after, &seen, &count, &err), 1);
	user_get_works(c);
	al_client_close(c);
}

typedef struct feed {
	uint64_t seqs[4096];
	int n;
	int stop_at;
} feed;

static int take_event(const msgpack_object *row, void *ctx)
{
	feed *f = ctx;
	int64_t seq = 0;
	assert_int_equal(al_mp_int(row, "seq", &seq), 1);
	const msgpack_object *fields = al_mp_get(row, "fields");
	assert_non_null(fields);
	assert_null(al_mp_get(fields, "password_hash")); /* secrets never leave */
	f->seqs[f->n++] = (uint64_t)seq;
	return f->n == f->stop_at;
}

static void watch_feed(void **state)
{
	sh_server *p = *state;
	al_client *w = sh_connect_as(p, "admin@example.com"), *c = sh_connect_as(p, "admin@example.com");
	assert_non_null(w);
	assert_non_null(c);
	/* catch-up from 0: the bootstrap events, then live ones as they commit */
	feed f = {.stop_at = 0};
	uint64_t count;
	al_error err = {0};
	size_t len;
	char *args = th_args(&len, "from_seq", 'i', 0LL, NULL);
	assert_int_equal(al_client_send(w, 1, "watch", args, len, false, &err), AL_OK);
	free(args);
	for (int i = 0; i < 40; i++) {
		char email[64];
		snprintf(email, sizeof email, "w%d@example.com", i);
		al_reply rep;
		assert_int_equal(sh_call(c, &rep, "user.create", "email", 's', email, "username", 's', email + 0, "password",
					 's', PW, NULL),
				 AL_OK);
		f.stop_at = (int)rep.last_seq;
		al_reply_free(&rep);
		if (i == 19) { /* read the first half live, before the rest is written */
			while (f.n < f.stop_at) {
				al_msg m;
				recv_ok(w, &m);
				assert_int_equal(m.kind, AL_MSG_ROW);
				take_event(m.value, &f);
			}
		}
	}
	while (f.n < f.stop_at) {
		al_msg m;
		recv_ok(w, &m);
		assert_int_equal(m.kind, AL_MSG_ROW);
		take_event(m.value, &f);
	}
	for (int i = 0; i < f.n; i++)
		assert_int_equal(f.seqs[i], (uint64_t)i + 1);
	/* cancel ends the watch with done */
	args = th_args(&len, "target", 'i', 1LL, NULL);
	assert_int_equal(al_client_send(w, 2, "cancel", args, len, false, &err), AL_OK);
	free(args);
	bool done = false, answered = false;
	while (!done || !answered) {
		al_msg m;
		recv_ok(w, &m);
		if (m.id == 1) {
			assert_int_equal(m.kind, AL_MSG_DONE);
			assert_int_equal(m.count, (uint64_t)f.stop_at);
			done = true;
		} else {
			assert_int_equal(m.kind, AL_MSG_RESULT);
			answered = true;
		}
	}
	al_client_close(w);

	/* reconnect and resume after seq 20: every later event exactly once, in order */
	w = sh_connect_as(p, "admin@example.com");
	feed g = {.stop_at = 23};
	args = th_args(&len, "from_seq", 'i', 20LL, NULL);
	assert_int_equal(al_client_stream(w, "watch", args, len, take_event, &g, &count, &err), 1);
	free(args);
	for (int i = 0; i < g.n; i++)
		assert_int_equal(g.seqs[i], (uint64_t)i + 21);
	/* a watch without from_seq sends only new events */
	feed h = {.stop_at = 1};
	assert_int_equal(al_client_send(w, 900, "watch", NULL, 0, false, &err), AL_OK);
	al_reply rep;
	assert_int_equal(sh_call(c, &rep, "domain.create", "name", 's', "after-watch", NULL), AL_OK);
	uint64_t want = rep.last_seq;
	al_reply_free(&rep);
	al_msg m;
	do
		recv_ok(w, &m);
	while (!(m.has_id && m.id == 900));
	assert_int_equal(m.kind, AL_MSG_ROW);
	take_event(m.value, &h);
	assert_int_equal(h.seqs[0], want);
	al_client_close(w);
	al_client_close(c);
}

/* The pieces adminctl uses over the wire: export to a FILE, the feed as lines, credentials. */
static void client_helpers(void **state)
{
	sh_server *p = *state;
	al_client *c = sh_connect_as(p, "admin@example.com");
	assert_non_null(c);
	al_error err = {0};
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	assert_int_equal(al_client_export(c, "users", NULL, 0, f, &err), AL_OK);
	fclose(f);
	assert_true(strncmp(buf, "id,email,username,", 18) == 0); /* the header row, as direct mode writes it */
	assert_non_null(strstr(buf, ",admin@example.com,admin,Administrator,"));
	free(buf);
	f = open_memstream(&buf, &n);
	assert_int_equal(al_client_export(c, "nothing", NULL, 0, f, &err), AL_EINVALID_ARGUMENT);
	fclose(f);
	free(buf);

	/* the feed from 0, as text and as JSON, stops after count events */
	f = open_memstream(&buf, &n);
	assert_int_equal(al_client_watch(c, 0, 2, false, f, &err), AL_OK);
	fclose(f);
	assert_true(strncmp(buf, "1 ", 2) == 0);
	assert_non_null(strstr(buf, "\n2 "));
	assert_non_null(strstr(buf, "store.initialized store:store {"));
	int lines = 0;
	for (size_t i = 0; i < n; i++)
		lines += buf[i] == '\n';
	assert_int_equal(lines, 2);
	free(buf);
	f = open_memstream(&buf, &n);
	assert_int_equal(al_client_watch(c, p->boot - 1, 1, true, f, &err), AL_OK);
	fclose(f);
	char want[64];
	snprintf(want, sizeof want, "{\"seq\":%llu,", (unsigned long long)p->boot);
	assert_true(strncmp(buf, want, strlen(want)) == 0);
	assert_null(strstr(buf, "password_hash"));
	free(buf);
	user_get_works(c); /* the cancelled feeds left the connection usable */
	al_client_close(c);

	/* credentials: saved 0600 (directory created), loaded back, refused when others may read */
	char path[4300];
	snprintf(path, sizeof path, "%s/home/.config/adminlog/credentials", p->dir);
	al_creds cr = {"AKIAEXAMPLE", "secret/with+chars", "a@example.com", "127.0.0.1:7457"}, back;
	assert_int_equal(al_creds_save(path, &cr, &err), AL_OK);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(al_creds_load(path, &back, &err), AL_OK);
	assert_string_equal(back.access_key, cr.access_key);
	assert_string_equal(back.secret_key, cr.secret_key);
	assert_string_equal(back.email, cr.email);
	assert_string_equal(back.server, cr.server);
	chmod(path, 0644);
	assert_int_equal(al_creds_load(path, &back, &err), AL_EPERMISSION_DENIED);
	unlink(path);
	assert_int_equal(al_creds_load(path, &back, &err), AL_ENOT_FOUND);
	setenv("ADMINLOG_CREDENTIALS", path, 1);
	char where[4300];
	assert_string_equal(al_creds_path(where, sizeof where), path);
	unsetenv("ADMINLOG_CREDENTIALS");
	assert_int_equal(al_client_open(&c, p->sock, path, SH_TIMEOUT_MS, &err), AL_ENOT_FOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(hello_and_gate, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(over_tcp, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(malformed_frames, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(wrong_types_answered, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(limits, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(closed_watches_released, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(unauthenticated_capped, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(handshake_timeout, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(streams, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(watch_feed, sh_setup, sh_teardown),
		cmocka_unit_test_setup_teardown(client_helpers, sh_setup, sh_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
