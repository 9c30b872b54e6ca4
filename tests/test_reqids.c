/*
 * test_reqids.c - request ids (the retry key every write takes) belong to the actor that sent
 * them: a replay answers only that actor (the user, whatever keypair or connection it comes
 * through; a local operator or the server by its name), and only for the same op and the same
 * arguments. Another actor's id is no business of anyone else: not a replay, not a refusal.
 */
#define _GNU_SOURCE /* memmem */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "core/seal.h"

typedef struct fx {
	TH_FX_HEAD;
	th_actor alice, bob, root;
} fx;

static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	if (f == NULL || th_run(f->s, "domain.create", "name", 's', "other", NULL) ||
	    th_cast(f->s, (const th_member[]){{"alice@example.com", "default", "user", &f->alice, NULL},
					      {"bob@other.org", "other", "user", &f->bob, NULL},
					      {NULL}}) ||
	    th_as(f->s, "admin@example.com", &f->root))
		return -1;
	*state = f;
	return 0;
}

#define teardown th_teardown /* th_fx_free */

/* The reply of op as who; asserts success. */
#define EXEC_OK(f, who, rep, ...) assert_int_equal(th_exec_as((f)->s, who, rep, __VA_ARGS__), AL_OK)

static void same_result(const al_reply *a, const al_reply *b)
{
	assert_int_equal(b->replayed, 1);
	assert_int_equal(a->result_len, b->result_len);
	assert_memory_equal(a->result, b->result, a->result_len);
	assert_int_equal(a->first_seq, b->first_seq);
	assert_int_equal(a->last_seq, b->last_seq);
}

/* The reproduction: alice's enrolment id, sent by bob (another user, another domain), runs bob's
 * own enrolment; neither alice's secret nor her URI reaches him. A superadmin's result about
 * alice does not either. */
static void other_users_id_is_theirs(void **state)
{
	fx *f = *state;
	al_reply a, b, again;
	EXEC_OK(f, &f->alice.a, &a, "user.2fa.enable", "request_id", 's', "2fa-1", NULL);
	char secret[64], uri[256];
	snprintf(secret, sizeof secret, "%s", th_res_str(&a, "secret"));
	snprintf(uri, sizeof uri, "%s", th_res_str(&a, "uri"));
	assert_int_equal(strlen(secret), 32);
	uint64_t head = al_log_head(f->s);
	EXEC_OK(f, &f->bob.a, &b, "user.2fa.enable", "request_id", 's', "2fa-1", NULL);
	assert_int_equal(b.replayed, 0);
	assert_int_equal(b.first_seq, head + 1); /* bob's own enrolment was recorded */
	assert_string_equal(th_res_str(&b, "email"), "bob@other.org");
	assert_string_not_equal(th_res_str(&b, "secret"), secret);
	assert_null(memmem(b.result, b.result_len, secret, strlen(secret)));
	assert_null(memmem(b.result, b.result_len, "alice", 5));
	/* alice's retry still gets her own first result, byte for byte. */
	EXEC_OK(f, &f->alice.a, &again, "user.2fa.enable", "request_id", 's', "2fa-1", NULL);
	same_result(&a, &again);
	assert_string_equal(th_res_str(&again, "uri"), uri);
	al_reply_free(&a);
	al_reply_free(&b);
	al_reply_free(&again);

	/* A superadmin's update of alice, then bob's own update with the same id. */
	EXEC_OK(f, &f->root.a, &a, "user.update", "email", 's', "alice@example.com", "full_name", 's', "Alice A",
		"request_id", 's', "upd-1", NULL);
	EXEC_OK(f, &f->bob.a, &b, "user.update", "email", 's', "bob@other.org", "full_name", 's', "Bob B", "request_id", 's',
		"upd-1", NULL);
	assert_int_equal(b.replayed, 0);
	assert_true(b.first_seq > a.last_seq);
	assert_string_equal(th_res_str(&b, "email"), "bob@other.org");
	assert_string_equal(th_res_str(&b, "full_name"), "Bob B");
	assert_null(memmem(b.result, b.result_len, "alice", 5));
	al_reply_free(&a);
	al_reply_free(&b);
	/* The same id from bob for alice is his own command, refused for his own rights, and never
	 * the superadmin's remembered answer. */
	al_reply d;
	assert_int_equal(th_exec_as(f->s, &f->bob.a, &d, "user.update", "email", 's', "alice@example.com", "full_name", 's',
				    "Alice A", "request_id", 's', "upd-2", NULL),
			 AL_EPERMISSION_DENIED);
	assert_int_equal(d.replayed, 0);
	assert_null(d.result);
	al_reply_free(&d);
}

/* An id that someone else used first is still free for a superadmin (and anyone else). */
static void ids_cannot_be_squatted(void **state)
{
	fx *f = *state;
	al_reply a, b;
	EXEC_OK(f, &f->bob.a, &a, "user.update", "email", 's', "bob@other.org", "full_name", 's', "B", "request_id", 's',
		"sq-1", NULL);
	EXEC_OK(f, &f->root.a, &b, "domain.create", "name", 's', "squat", "request_id", 's', "sq-1", NULL);
	assert_int_equal(b.replayed, 0);
	assert_string_equal(th_res_str(&b, "name"), "squat");
	al_reply_free(&a);
	al_reply_free(&b);
	/* A local operator (no user) and the server have their own scopes too, by name. */
	const al_actor ops = {"local:ops", AL_ROLE_SUPERADMIN, NULL, NULL, NULL, NULL, NULL};
	EXEC_OK(f, &ops, &a, "domain.create", "name", 's', "squat2", "request_id", 's', "sq-1", NULL);
	assert_int_equal(a.replayed, 0);
	EXEC_OK(f, &th_admin, &b, "domain.create", "name", 's', "squat3", "request_id", 's', "sq-1", NULL);
	assert_int_equal(b.replayed, 0);
	al_reply_free(&a);
	al_reply_free(&b);
	EXEC_OK(f, &ops, &a, "domain.create", "name", 's', "squat2", "request_id", 's', "sq-1", NULL);
	assert_int_equal(a.replayed, 1);
	assert_string_equal(th_res_str(&a, "name"), "squat2");
	al_reply_free(&a);
}

/* The same actor, the same id, other arguments: a conflict naming request_id, nothing written.
 * Another op with the id stays invalid_argument, as before. */
static void other_arguments_conflict(void **state)
{
	fx *f = *state;
	al_reply a, r;
	EXEC_OK(f, &f->root.a, &a, "user.update", "email", 's', "alice@example.com", "full_name", 's', "One", "request_id",
		's', "c-1", NULL);
	uint64_t head = al_log_head(f->s);
	assert_int_equal(th_exec_as(f->s, &f->root.a, &r, "user.update", "email", 's', "alice@example.com", "full_name", 's',
				    "Two", "request_id", 's', "c-1", NULL),
			 AL_ECONFLICT);
	assert_true(strncmp(r.err.msg, "request_id:", 11) == 0);
	assert_non_null(strstr(r.err.msg, "user.update"));
	assert_int_equal(r.replayed, 0);
	assert_null(r.result);
	al_reply_free(&r);
	/* An argument more, or one less, is other arguments too. */
	TH_REFUSE(f->s, &f->root, AL_ECONFLICT, "request_id", "user.update", "email", 's', "alice@example.com", "full_name",
		  's', "One", "reason", 's', "why", "request_id", 's', "c-1", NULL);
	TH_REFUSE(f->s, &f->root, AL_ECONFLICT, "request_id", "user.update", "email", 's', "alice@example.com", "request_id",
		  's', "c-1", NULL);
	TH_REFUSE(f->s, &f->root, AL_EINVALID_ARGUMENT, "request_id", "domain.create", "name", 's', "d", "request_id", 's',
		  "c-1", NULL);
	assert_int_equal(al_log_head(f->s), head);
	al_reply_free(&a);
	/* A password is compared too (as a MAC under the master key, never stored itself). */
	EXEC_OK(f, &f->root.a, &a, "user.update", "email", 's', "alice@example.com", "password", 's', "Fresh-Passw0rd",
		"request_id", 's', "c-2", NULL);
	TH_REFUSE(f->s, &f->root, AL_ECONFLICT, "request_id", "user.update", "email", 's', "alice@example.com", "password",
		  's', "Other-Passw0rd", "request_id", 's', "c-2", NULL);
	al_reply r2;
	EXEC_OK(f, &f->root.a, &r2, "user.update", "email", 's', "alice@example.com", "password", 's', "Fresh-Passw0rd",
		"request_id", 's', "c-2", NULL);
	same_result(&a, &r2);
	al_reply_free(&a);
	al_reply_free(&r2);
}

/* The same actor, id and arguments (in any key order, nil counting as absent): the first result,
 * byte for byte, nothing appended. The scope is the user, so a retry through another keypair
 * (another connection, or an operator acting as the user) is recognised too. */
static void same_arguments_replay(void **state)
{
	fx *f = *state;
	al_reply a, b;
	EXEC_OK(f, &f->alice.a, &a, "user.update", "email", 's', "alice@example.com", "full_name", 's', "Al", "description",
		's', "d", "request_id", 's', "s-1", NULL);
	uint64_t head = al_log_head(f->s);
	EXEC_OK(f, &f->alice.a, &b, "user.update", "request_id", 's', "s-1", "description", 's', "d", "full_name", 's', "Al",
		"email", 's', "alice@example.com", "expected_version", 'n', NULL);
	same_result(&a, &b);
	al_reply_free(&b);
	al_actor other_key = f->alice.a;
	other_key.name = "local:someone"; /* an operator acting as alice (adminctl --as) */
	other_key.access_key = NULL;
	other_key.client = "192.0.2.1";
	EXEC_OK(f, &other_key, &b, "user.update", "email", 's', "alice@example.com", "full_name", 's', "Al", "description",
		's', "d", "request_id", 's', "s-1", NULL);
	same_result(&a, &b);
	assert_int_equal(al_log_head(f->s), head);
	al_reply_free(&a);
	al_reply_free(&b);
}

/* A store written before request ids were scoped: its entries (keyed by the bare id) are not
 * answered any more, and do not get in the way. */
static void old_entries_ignored(void **state)
{
	fx *f = *state;
	static const char old_val[] = "\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\1\0user.update\0\x80";
	MDB_txn *txn = NULL;
	assert_int_equal(mdb_txn_begin(f->s->env, NULL, 0, &txn), 0);
	MDB_val k = {5, "old-1"}, v = {sizeof old_val - 1, (void *)old_val};
	assert_int_equal(mdb_put(txn, f->s->reqids, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	al_reply a, b;
	EXEC_OK(f, &f->root.a, &a, "user.update", "email", 's', "alice@example.com", "full_name", 's', "Old", "request_id",
		's', "old-1", NULL);
	assert_int_equal(a.replayed, 0);
	assert_true(a.first_seq > 1);
	EXEC_OK(f, &f->root.a, &b, "user.update", "email", 's', "alice@example.com", "full_name", 's', "Old", "request_id",
		's', "old-1", NULL);
	same_result(&a, &b);
	al_reply_free(&a);
	al_reply_free(&b);
}

/* A copy of a log prefix (adminlog replay) keeps the prefix's request ids: a retry there is
 * recognised as well. An as-of store is no copy: it answers reads only, and refuses the retry. */
static void copies_keep_ids(void **state)
{
	fx *f = *state;
	al_reply a, b;
	EXEC_OK(f, &f->alice.a, &a, "user.update", "email", 's', "alice@example.com", "full_name", 's', "Then",
		"request_id", 's', "p-1", NULL);
	uint64_t mid = al_log_head(f->s);
	EXEC_OK(f, &f->alice.a, &b, "user.update", "email", 's', "alice@example.com", "full_name", 's', "Later",
		"request_id", 's', "p-2", NULL);
	al_reply_free(&b);
	al_store *past;
	al_error err;
	char *out = th_tmpdir();
	assert_int_equal(al_store_replay(f->s, mid, out, AL_OPEN_NOSYNC, &err), AL_OK);
	al_open_opts oo = {AL_OPEN_QUIET, 0};
	assert_int_equal(al_store_open(&past, out, &oo, &err), AL_OK);
	th_actor alice;
	assert_int_equal(th_as(past, "alice@example.com", &alice), AL_OK);
	assert_int_equal(th_exec_as(past, &alice.a, &b, "user.update", "email", 's', "alice@example.com", "full_name", 's',
				    "Then", "request_id", 's', "p-1", NULL),
			 AL_OK);
	same_result(&a, &b);
	al_reply_free(&b);
	/* p-2 came after the prefix: in the copy it is a new command. */
	assert_int_equal(th_exec_as(past, &alice.a, &b, "user.update", "email", 's', "alice@example.com", "full_name", 's',
				    "Later", "request_id", 's', "p-2", NULL),
			 AL_OK);
	assert_int_equal(b.replayed, 0);
	al_reply_free(&b);
	al_store_close(past);
	th_rmrf(out);
	/* The as-of store of the same point: the retry is a write, refused; nothing is appended. */
	assert_int_equal(al_store_asof(f->s, mid, &past, &err), AL_OK);
	assert_int_equal(th_exec_as(past, &alice.a, &b, "user.update", "email", 's', "alice@example.com", "full_name", 's',
				    "Then", "request_id", 's', "p-1", NULL),
			 AL_EPERMISSION_DENIED);
	assert_non_null(strstr(b.err.msg, "answers reads only"));
	al_reply_free(&b);
	assert_int_equal(al_log_head(past), mid);
	al_store_close(past);
	al_reply_free(&a);
}

/* When the result that must be kept sealed cannot be sealed, the command is refused with that
 * error and leaves nothing (the sealed text is never read before it was written). */
static void seal_failure_refuses(void **state)
{
	fx *f = *state;
	size_t len;
	char *args = th_args(&len, "user", 's', "alice@example.com", "request_id", 's', "k-1", NULL);
	al_request req = {"keypair.create", args, len, &f->root.a};
	char *prep;
	size_t plen;
	al_error err;
	assert_int_equal(al_prepare(f->s, &req, &prep, &plen, &err), AL_OK);
	req.prep = prep;
	req.prep_len = plen;
	uint64_t head = al_log_head(f->s);
	f->s->has_master_key = false; /* as if the key were gone: sealing fails */
	al_reply rep;
	assert_int_equal(al_exec(f->s, &req, &rep), AL_EUNSUPPORTED);
	assert_non_null(strstr(rep.err.msg, "master key"));
	assert_null(rep.result);
	al_reply_free(&rep);
	f->s->has_master_key = true;
	assert_int_equal(al_log_head(f->s), head);
	assert_int_equal(al_exec(f->s, &req, &rep), AL_OK); /* and the id is still free */
	assert_int_equal(rep.replayed, 0);
	al_reply_free(&rep);
	al_prepared_free(prep, plen);
	free(args);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(other_users_id_is_theirs, setup, teardown),
		cmocka_unit_test_setup_teardown(ids_cannot_be_squatted, setup, teardown),
		cmocka_unit_test_setup_teardown(other_arguments_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(same_arguments_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(old_entries_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(copies_keep_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(seal_failure_refuses, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
