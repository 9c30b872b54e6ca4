/*
 * test_rebuild_load.c - a rebuild bulk-loads the views: each is written once, in key order,
 * with MDB_APPEND, so its leaf pages come out packed (rather than split half full by puts in
 * log order and rewritten per event), and the rebuilt views equal the live ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "core/store.h"

#define NUSERS 600
#define BATCH 100

/* Bytes of nodes on the leaf pages of one view over the room those pages have. */
static double leaf_fill(MDB_txn *txn, MDB_dbi dbi, size_t *leaves)
{
	MDB_stat st;
	MDB_cursor *c;
	MDB_val k, v;
	assert_int_equal(mdb_stat(txn, dbi, &st), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
	size_t bytes = 0;
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		bytes += 2 + 8 + k.mv_size + v.mv_size + ((8 + k.mv_size + v.mv_size) & 1); /* index, header, padding */
	mdb_cursor_close(c);
	*leaves = st.ms_leaf_pages;
	return st.ms_leaf_pages ? (double)bytes / ((double)st.ms_leaf_pages * (st.ms_psize - 16)) : 1.0;
}

static void views_packed(void **state)
{
	al_store *s = th_store(state);
	/* Users created in no particular key order (a put into a full page splits it in two),
	 * in batches (one commit each); then a third of them renamed. */
	for (int u = 0; u < NUSERS; u += BATCH) {
		al_request req[BATCH];
		al_reply rep[BATCH];
		char email[BATCH][64], name[BATCH][64];
		for (int i = 0; i < BATCH; i++) {
			size_t len;
			int n = (u + i) * 7919 % NUSERS; /* a permutation: 7919 is prime */
			snprintf(email[i], sizeof email[i], "user%04d@example.com", n);
			snprintf(name[i], sizeof name[i], "Full Name of User %04d", n);
			char *args = th_args(&len, "email", 's', email[i], "username", 's', email[i], "password", 's',
					     TH_USER_PW, "full_name", 's', name[i], NULL);
			req[i] = (al_request){"user.create", args, len, &th_admin};
		}
		assert_int_equal(al_exec_batch(s, req, rep, BATCH), AL_OK);
		for (int i = 0; i < BATCH; i++) {
			assert_int_equal(rep[i].err.code, AL_OK);
			al_reply_free(&rep[i]);
			free((void *)req[i].args);
		}
	}
	for (int u = 0; u < NUSERS; u += 3) {
		char email[64], text[64];
		snprintf(email, sizeof email, "user%04d@example.com", u);
		snprintf(text, sizeof text, "Renamed User %04d", u);
		assert_int_equal(th_run(s, "user.update", "email", 's', email, "full_name", 's', text, NULL), AL_OK);
	}
	char live[33], rebuilt[33];
	th_digest(s, live);
	al_error err = {0};
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(rebuilt, live);

	MDB_txn *txn;
	assert_int_equal(al__read_begin(s, &txn, &err), AL_OK);
	int checked = 0;
	for (size_t p = 0; p < al__nprojections; p++)
		for (int d = 0; al__projections[p]->dbs[d]; d++) {
			size_t leaves;
			double fill = leaf_fill(txn, al__view_dbi(s, (enum al_proj_id)p, d), &leaves);
			if (leaves < 4)
				continue; /* the last page of a view is partly empty by nature */
			print_message("# %s: %zu leaf pages, %.0f%% full\n", al__projections[p]->dbs[d], leaves, fill * 100);
			if (fill < 0.85)
				fail_msg("view %s: leaf pages %.0f%% full after a rebuild", al__projections[p]->dbs[d], fill * 100);
			checked++;
		}
	mdb_txn_abort(txn);
	assert_true(checked >= 2); /* v_users and v_usernames at least */
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(views_packed, th_setup, th_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
