/*
 * test_server_prepare.c - al_prepare / req.prep: the prepare step (password hashing, ids) run
 * apart from the command, as the server does on its worker threads.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "core/secret.h"

#define PW "Passw0rd!"

#define setup th_setup
#define teardown th_teardown

/* The string value of key in the msgpack map buf, copied into out ("" when absent). */
static void map_str(const char *buf, size_t len, const char *key, char *out, size_t n)
{
	msgpack_zone z;
	msgpack_object o;
	size_t off = 0;
	out[0] = 0;
	msgpack_zone_init(&z, 1024);
	assert_int_equal(msgpack_unpack(buf, len, &off, &z, &o), MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(o.type, MSGPACK_OBJECT_MAP);
	for (uint32_t i = 0; i < o.via.map.size; i++) {
		msgpack_object *k = &o.via.map.ptr[i].key, *v = &o.via.map.ptr[i].val;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
		    !memcmp(k->via.str.ptr, key, k->via.str.size) && v->type == MSGPACK_OBJECT_STR)
			snprintf(out, n, "%.*s", (int)v->via.str.size, v->via.str.ptr);
	}
	msgpack_zone_destroy(&z);
}

typedef struct found {
	char hash[256], id[64];
} found;

static int grab_created(const al_event *e, void *ctx)
{
	found *f = ctx;
	const msgpack_object *m = &e->fields;
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key, *v = &m->via.map.ptr[i].val;
		if (v->type != MSGPACK_OBJECT_STR)
			continue;
		if (k->via.str.size == 13 && !memcmp(k->via.str.ptr, "password_hash", 13))
			snprintf(f->hash, sizeof f->hash, "%.*s", (int)v->via.str.size, v->via.str.ptr);
		else if (k->via.str.size == 2 && !memcmp(k->via.str.ptr, "id", 2))
			snprintf(f->id, sizeof f->id, "%.*s", (int)v->via.str.size, v->via.str.ptr);
	}
	return 0;
}

/* The command uses the prepared hash and id as they are: it does not hash again. */
static void prepared_values_are_used(void **state)
{
	al_store *s = th_store(state);
	size_t len;
	char *args = th_args(&len, "email", 's', "p@example.com", "username", 's', "p", "password", 's', PW, NULL);
	al_request req = {"user.create", args, len, &th_admin};
	char *prep;
	size_t plen;
	al_error err = {0};
	uint64_t head = al_log_head(s);
	assert_int_equal(al_prepare(s, &req, &prep, &plen, &err), AL_OK);
	assert_non_null(prep);
	char hash[256], id[64];
	map_str(prep, plen, "password_hash", hash, sizeof hash);
	map_str(prep, plen, "id", id, sizeof id);
	assert_true(strncmp(hash, "$argon2id$", 10) == 0);
	assert_int_equal(strlen(id), 36);
	assert_int_equal(crypto_pwhash_argon2id_str_verify(hash, PW, strlen(PW)), 0);
	assert_int_equal(al_log_head(s), head); /* preparing appends nothing */

	req.prep = prep;
	req.prep_len = plen;
	al_reply rep;
	assert_int_equal(al_exec(s, &req, &rep), AL_OK);
	assert_string_equal(th_res_str(&rep, "id"), id);
	al_reply_free(&rep);
	found f = {{0}, {0}};
	al_log_filter lf = {.entity = "user:p@example.com"};
	assert_int_equal(al_log_query(s, &lf, grab_created, &f, &err), AL_OK);
	assert_string_equal(f.hash, hash);
	assert_string_equal(f.id, id);
	al_prepared_free(prep, plen);
	free(args);
}

/* al_prepare refuses what al_exec would refuse before the transaction, and writes nothing. */
static void prepare_refusals(void **state)
{
	al_store *s = th_store(state);
	size_t len;
	char *weak = th_args(&len, "email", 's', "w@example.com", "username", 's', "w", "password", 's', "short", NULL);
	al_request req = {"user.create", weak, len, &th_admin};
	char *prep = (char *)1;
	size_t plen = 7;
	al_error err = {0};
	assert_int_equal(al_prepare(s, &req, &prep, &plen, &err), AL_EINVALID_ARGUMENT);
	assert_true(strncmp(err.msg, "password:", 9) == 0);
	assert_null(prep);
	assert_int_equal(plen, 0);

	th_actor user;
	assert_int_equal(th_run(s, "user.create", "email", 's', "u@example.com", "username", 's', "u", "password", 's',
				PW, NULL),
			 AL_OK);
	assert_int_equal(th_as(s, "u@example.com", &user), AL_OK);
	req.actor = &user.a;
	assert_int_equal(al_prepare(s, &req, &prep, &plen, &err), AL_EPERMISSION_DENIED);
	req = (al_request){"no.such", weak, len, &th_admin};
	assert_int_equal(al_prepare(s, &req, &prep, &plen, &err), AL_EINVALID_ARGUMENT);
	assert_true(strncmp(err.msg, "op:", 3) == 0);
	req = (al_request){"user.create", weak, len, NULL};
	assert_int_equal(al_prepare(s, &req, &prep, &plen, &err), AL_EUNAUTHENTICATED);
	uint64_t head = al_log_head(s);
	free(weak);

	/* A command without a prepare step: nothing to carry. */
	char *get = th_args(&len, "email", 's', "u@example.com", NULL);
	req = (al_request){"user.get", get, len, &th_admin};
	assert_int_equal(al_prepare(s, &req, &prep, &plen, &err), AL_OK);
	assert_null(prep);
	assert_int_equal(al_log_head(s), head);
	free(get);
	assert_true(al_cmd_has_prepare("user.create"));
	assert_true(al_cmd_has_prepare("user.update"));
	assert_false(al_cmd_has_prepare("user.get"));
	assert_false(al_cmd_has_prepare("no.such"));
	assert_false(al_cmd_has_prepare(NULL));
}

/* A batch mixing prepared, unprepared and damaged prepared requests: each gets its own outcome. */
static void batch_mixes_prepared(void **state)
{
	al_store *s = th_store(state);
	size_t len[3];
	char *a[3];
	a[0] = th_args(&len[0], "email", 's', "b0@example.com", "username", 's', "b0", "password", 's', PW, NULL);
	a[1] = th_args(&len[1], "email", 's', "b1@example.com", "username", 's', "b1", "password", 's', PW, NULL);
	a[2] = th_args(&len[2], "email", 's', "b2@example.com", "username", 's', "b2", "password", 's', PW, NULL);
	al_request reqs[3];
	for (int i = 0; i < 3; i++)
		reqs[i] = (al_request){"user.create", a[i], len[i], &th_admin};
	char *prep;
	size_t plen;
	assert_int_equal(al_prepare(s, &reqs[0], &prep, &plen, NULL), AL_OK);
	reqs[0].prep = prep;
	reqs[0].prep_len = plen;
	static const char not_a_map[] = {(char)0x92, 1, 2};
	reqs[2].prep = not_a_map;
	reqs[2].prep_len = sizeof not_a_map;
	uint64_t head = al_log_head(s);
	al_reply reps[3];
	assert_int_equal(al_exec_batch(s, reqs, reps, 3), AL_OK);
	assert_int_equal(reps[0].err.code, AL_OK);
	assert_int_equal(reps[1].err.code, AL_OK);
	assert_int_equal(reps[2].err.code, AL_EINVALID_ARGUMENT);
	assert_true(strncmp(reps[2].err.msg, "prep:", 5) == 0);
	assert_int_equal(al_log_head(s), head + (reps[0].last_seq - reps[0].first_seq + 1) +
						 (reps[1].last_seq - reps[1].first_seq + 1));
	assert_int_equal(reps[0].first_seq, head + 1);
	assert_int_equal(reps[1].first_seq, reps[0].last_seq + 1);
	assert_int_equal(reps[2].first_seq, 0);
	for (int i = 0; i < 3; i++) {
		al_reply_free(&reps[i]);
		free(a[i]);
	}
	al_prepared_free(prep, plen);
	al_prepared_free(NULL, 0);
}

/* The command table says which prepare steps are slow (AL_PREP), and a thread limited to
 * hashing (a server's writer) refuses to run a network step itself: it must come prepared. */
static void network_prepare_never_inline(void **state)
{
	al_store *s = th_store(state);
	assert_int_equal(al_cmd_def_find("user.get")->prep, AL_PREP_NONE);
	assert_int_equal(al_cmd_def_find("keypair.create")->prep, AL_PREP_QUICK);
	assert_int_equal(al_cmd_def_find("user.2fa.confirm")->prep, AL_PREP_QUICK);
	assert_int_equal(al_cmd_def_find("user.create")->prep, AL_PREP_HASHES);
	assert_int_equal(al_cmd_def_find("user.update")->prep, AL_PREP_HASHES);
	assert_int_equal(al_cmd_def_find("image.rescan")->prep, AL_PREP_NETWORK);
	assert_int_equal(al_cmd_def_find("maintenance.rescan-images")->prep, AL_PREP_NETWORK);

	al_set_thread_prepare_limit(AL_PREP_HASHES);
	al_request req = {"image.rescan", NULL, 0, &th_admin};
	al_reply rep;
	uint64_t head = al_log_head(s);
	assert_int_equal(al_exec(s, &req, &rep), AL_EINTERNAL);
	assert_non_null(strstr(rep.err.msg, "network I/O"));
	al_reply_free(&rep);
	req.op = "maintenance.rescan-images";
	assert_int_equal(al_exec(s, &req, &rep), AL_EINTERNAL);
	al_reply_free(&rep);
	/* Hashing and quick steps still run here. */
	assert_int_equal(th_run(s, "user.create", "email", 's', "l@example.com", "username", 's', "l", "password", 's', PW,
				NULL),
			 AL_OK);
	/* al_prepare runs the step whatever the limit, and the prepared request then runs. */
	char *prep;
	size_t plen;
	req.op = "image.rescan";
	assert_int_equal(al_prepare(s, &req, &prep, &plen, NULL), AL_OK);
	req.prep = prep;
	req.prep_len = plen;
	assert_int_equal(al_exec(s, &req, &rep), AL_OK);
	al_reply_free(&rep);
	al_prepared_free(prep, plen);
	al_set_thread_prepare_limit(AL_PREP_NETWORK);
	assert_int_equal(al_log_head(s), head + 2); /* the user and its keypair */
}

static int hashed, verified;

static int count_hash(const char *cost, const char *pw, size_t n, char *out, size_t out_len, void *ctx)
{
	assert_ptr_equal(ctx, &hashed);
	hashed++;
	return al_pwhash_local(cost, pw, n, out, out_len, NULL);
}

static int count_verify(const char *hash, const char *pw, size_t n, void *ctx)
{
	assert_ptr_equal(ctx, &hashed);
	verified++;
	return al_pwhash_verify_local(hash, pw, n, NULL);
}

/* Hashing and verification go where al_set_pwhash_ops says (adminlogd: helper processes). */
static void pwhash_ops_route_hashing(void **state)
{
	al_store *s = th_store(state);
	al_pwhash_ops ops = {count_hash, count_verify, &hashed};
	al_set_pwhash_ops(&ops);
	size_t len;
	char *args = th_args(&len, "email", 's', "h@example.com", "username", 's', "h", "password", 's', PW, NULL);
	al_request req = {"user.create", args, len, &th_admin};
	char *prep;
	size_t plen;
	assert_int_equal(al_prepare(s, &req, &prep, &plen, NULL), AL_OK);
	assert_int_equal(hashed, 1);
	char hash[256];
	map_str(prep, plen, "password_hash", hash, sizeof hash);
	assert_int_equal(al__pwhash_verify(hash, (al_str){PW, strlen(PW)}), 1);
	assert_int_equal(al__pwhash_verify(hash, (al_str){"Wrong!pass1", 11}), 0);
	assert_int_equal(verified, 2);
	al_error err;
	char out[AL_PWHASH_LEN];
	assert_int_equal(al__pwhash("extreme", (al_str){PW, strlen(PW)}, out, &err), AL_EINVALID_ARGUMENT);
	assert_true(strncmp(err.msg, "pwhash:", 7) == 0);
	al_set_pwhash_ops(NULL); /* back to this thread */
	assert_int_equal(al__pwhash("min", (al_str){PW, strlen(PW)}, out, &err), AL_OK);
	assert_int_equal(al__pwhash_verify(out, (al_str){PW, strlen(PW)}), 1);
	assert_int_equal(hashed, 2); /* the refused cost went to the hook too; the last hash did not */
	assert_int_equal(verified, 2);
	al_prepared_free(prep, plen);
	free(args);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(prepared_values_are_used, setup, teardown),
		cmocka_unit_test_setup_teardown(prepare_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(batch_mixes_prepared, setup, teardown),
		cmocka_unit_test_setup_teardown(network_prepare_never_inline, setup, teardown),
		cmocka_unit_test_setup_teardown(pwhash_ops_route_hashing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
