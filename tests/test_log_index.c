/*
 * test_log_index.c - the audit indexes idx_actor and idx_type, added in bulk (log_index.h).
 *
 * They lag the head by up to AL_IDX_LAG events plus one transaction's; every reader must give
 * the same answers as a scan of the whole log: audit listings by actor and by type (with
 * limits and after_seq, across the point where the index stops), the per-type counts of
 * `stats`, and verify (which must still catch a missing entry the index claims to hold).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "al_fault.h"

#include "core/log_index.h"
#include "core/record.h"
#include "core/store.h"
#include "helpers.h"

#define NACTORS 3

static const al_actor actors[NACTORS] = {
	{"local:ops-a", AL_ROLE_SUPERADMIN}, {"local:ops-b", AL_ROLE_SUPERADMIN}, {"local:ops-c", AL_ROLE_SUPERADMIN}};

/* n one-command commits (user.update of u@x.io or setting.set), actors and types mixed. */
static void append_singles(al_store *s, int n, int salt)
{
	for (int i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof name, "name %d-%d", salt, i);
		const al_actor *who = &actors[(i * 7 + salt) % NACTORS];
		if (i % 5 == 4)
			assert_int_equal(th_run_as(s, who, "settings.set", "key", 's', "session-creation-retries", "value",
						   'l', i % 2 ? "5" : "4", NULL),
					 AL_OK);
		else
			assert_int_equal(th_run_as(s, who, "user.update", "email", 's', "u@x.io", "full_name", 's', name, NULL),
					 AL_OK);
	}
}

static uint64_t indexed_to(al_store *s, uint64_t *head)
{
	MDB_txn *txn;
	al_error err = {0};
	uint64_t idx = 0;
	assert_int_equal(al__read_begin(s, &txn, &err), AL_OK);
	*head = al_log_head(s);
	assert_int_equal(al__idx_seq(s, txn, *head, &idx, &err), AL_OK);
	mdb_txn_abort(txn);
	return idx;
}

typedef struct seqs {
	uint64_t v[4096];
	size_t n;
	const al_log_filter *want; /* for the brute-force pass: NULL = collect what the query gave */
} seqs;

static int collect(const al_event *e, void *ctx)
{
	seqs *q = ctx;
	const al_log_filter *f = q->want;
	if (f && ((f->actor && !al_str_eq(e->actor, f->actor)) || (f->type && strcmp(e->def->name, f->type) != 0) ||
		  e->seq <= f->after_seq))
		return 0;
	assert_true(q->n < 4096);
	q->v[q->n++] = e->seq;
	return 0;
}

/* The query's answer equals a filter over every event of the log, oldest first and newest first. */
static void same_as_scan_in(al_store *s, const al_log_filter *f)
{
	seqs got = {0}, want = {0};
	al_log_filter all = *f;
	all.limit = 0;
	all.newest_first = false;
	want.want = &all;
	al_error err = {0};
	assert_int_equal(al_log_query(s, f, collect, &got, &err), AL_OK);
	assert_int_equal(al_log_query(s, NULL, collect, &want, &err), AL_OK);
	if (f->newest_first)
		for (size_t i = 0; i < want.n / 2; i++) {
			uint64_t t = want.v[i];
			want.v[i] = want.v[want.n - 1 - i];
			want.v[want.n - 1 - i] = t;
		}
	if (f->limit && want.n > f->limit)
		want.n = f->limit;
	if (got.n != want.n)
		fail_msg("actor %s type %s after %llu limit %zu: %zu events, a scan finds %zu", f->actor ? f->actor : "-",
			 f->type ? f->type : "-", (unsigned long long)f->after_seq, f->limit, got.n, want.n);
	assert_memory_equal(got.v, want.v, got.n * sizeof *got.v);
}

static void same_as_scan(al_store *s, const al_log_filter *f)
{
	al_log_filter back = *f;
	back.newest_first = true;
	same_as_scan_in(s, f);
	same_as_scan_in(s, &back);
}

static void check_queries(al_store *s, uint64_t idx)
{
	const char *types[] = {"user.updated", "setting.changed", "user.created"};
	uint64_t afters[] = {0, idx > 10 ? idx - 10 : 0, idx, idx + 1, idx + 40};
	size_t limits[] = {0, 1, 25, 1000};
	for (size_t a = 0; a < sizeof afters / sizeof *afters; a++)
		for (size_t l = 0; l < sizeof limits / sizeof *limits; l++) {
			for (int i = 0; i < NACTORS; i++)
				same_as_scan(s, &(al_log_filter){.actor = actors[i].name, .after_seq = afters[a], .limit = limits[l]});
			for (size_t t = 0; t < sizeof types / sizeof *types; t++)
				same_as_scan(s, &(al_log_filter){.type = types[t], .after_seq = afters[a], .limit = limits[l]});
		}
}

static void setup_user(al_store *s)
{
	assert_int_equal(th_run(s, "user.create", "email", 's', "u@x.io", "username", 's', "u", "password", 's',
				TH_PASSWORD, NULL),
			 AL_OK);
}

/* Single commits leave a tail behind the index; the listings see it all the same. */
static void singles_leave_a_tail(void **state)
{
	al_store *s = th_store(state);
	setup_user(s);
	append_singles(s, AL_IDX_LAG * 2 + 37, 1);
	uint64_t head, idx = indexed_to(s, &head);
	assert_true(idx > 0);      /* the index was written in bulk ... */
	assert_true(idx < head);   /* ... and the last events are not in it yet */
	assert_true(head - idx < AL_IDX_LAG);
	check_queries(s, idx);
	al_error err = {0};
	if (al_store_verify(s, NULL, NULL, &err) != AL_OK)
		fail_msg("verify: %s", err.msg);
}

/* A batch as large as the lag indexes itself before it commits. */
static void batch_indexes_itself(void **state)
{
	al_store *s = th_store(state);
	setup_user(s);
	enum { N = AL_IDX_LAG + 20 };
	al_request *reqs = calloc(N, sizeof *reqs);
	al_reply *reps = calloc(N, sizeof *reps);
	char **args = calloc(N, sizeof *args);
	for (int i = 0; i < N; i++) {
		char name[32];
		snprintf(name, sizeof name, "batch %d", i);
		size_t len;
		args[i] = th_args(&len, "email", 's', "u@x.io", "full_name", 's', name, NULL);
		reqs[i] = (al_request){"user.update", args[i], len, &actors[i % NACTORS], NULL, 0};
	}
	assert_int_equal(al_exec_batch(s, reqs, reps, N), AL_OK);
	for (int i = 0; i < N; i++) {
		assert_int_equal(reps[i].err.code, AL_OK);
		al_reply_free(&reps[i]);
		free(args[i]);
	}
	free(reqs), free(reps), free(args);
	uint64_t head, idx = indexed_to(s, &head);
	assert_int_equal(idx, head);
	check_queries(s, idx);
}

/* Many actors in one batch (each key its own group in the bulk write). */
static void batch_of_many_actors(void **state)
{
	al_store *s = th_store(state);
	setup_user(s);
	enum { N = AL_IDX_LAG + 100 };
	static char names[N][32];
	static al_actor who[N];
	al_request *reqs = calloc(N, sizeof *reqs);
	al_reply *reps = calloc(N, sizeof *reps);
	char **args = calloc(N, sizeof *args);
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "local:op-%d", i % (N - 3)); /* three act twice */
		who[i] = (al_actor){names[i], AL_ROLE_SUPERADMIN};
		char name[32];
		snprintf(name, sizeof name, "many %d", i);
		size_t len;
		args[i] = th_args(&len, "email", 's', "u@x.io", "full_name", 's', name, NULL);
		reqs[i] = (al_request){"user.update", args[i], len, &who[i], NULL, 0};
	}
	assert_int_equal(al_exec_batch(s, reqs, reps, N), AL_OK);
	for (int i = 0; i < N; i++) {
		assert_int_equal(reps[i].err.code, AL_OK);
		al_reply_free(&reps[i]);
		free(args[i]);
	}
	free(reqs), free(reps), free(args);
	uint64_t head, idx = indexed_to(s, &head);
	assert_int_equal(idx, head);
	for (int i = 0; i < N - 3; i++) {
		seqs got = {0};
		al_error err = {0};
		assert_int_equal(al_log_query(s, &(al_log_filter){.actor = names[i]}, collect, &got, &err), AL_OK);
		assert_int_equal(got.n, i < 3 ? 2 : 1);
	}
	same_as_scan(s, &(al_log_filter){.actor = "local:op-1", .limit = 1});
	same_as_scan(s, &(al_log_filter){.type = "user.updated", .after_seq = idx - 50});
}

/* stats counts events by type from the index and the tail. */
static void stats_count_the_tail(void **state)
{
	al_store *s = th_store(state);
	setup_user(s);
	append_singles(s, AL_IDX_LAG + 11, 2);
	uint64_t head, idx = indexed_to(s, &head);
	assert_true(idx < head);
	char *mp;
	size_t len;
	al_error err = {0};
	assert_int_equal(al_store_stats(s, &mp, &len, &err), AL_OK);
	msgpack_zone z;
	msgpack_zone_init(&z, 4096);
	msgpack_object m;
	assert_int_equal(al_mp_decode(mp, len, &z, &m), 0);
	const msgpack_object *types = al_mp_get(&m, "events_by_type");
	assert_non_null(types);
	int64_t total = 0, updated = 0;
	for (uint32_t i = 0; i < types->via.map.size; i++) {
		total += (int64_t)types->via.map.ptr[i].val.via.u64;
		if (al_mp_str_eq(&types->via.map.ptr[i].key, "user.updated"))
			updated = (int64_t)types->via.map.ptr[i].val.via.u64;
	}
	seqs want = {.want = &(al_log_filter){.type = "user.updated"}};
	assert_int_equal(al_log_query(s, NULL, collect, &want, &err), AL_OK);
	assert_int_equal(total, (int64_t)head);
	assert_int_equal(updated, (int64_t)want.n);
	msgpack_zone_destroy(&z);
	free(mp);
}

/* verify still checks the index up to where it claims to be complete. */
static void verify_catches_a_missing_entry(void **state)
{
	th_fx *f = *state;
	setup_user(f->s);
	append_singles(f->s, AL_IDX_LAG + 5, 3);
	uint64_t head, idx = indexed_to(f->s, &head);
	assert_true(idx > 2);
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", f->dir);
	al_store_close(f->s);
	f->s = NULL;
	th_raw r;
	th_raw_open(&r, dir, 0);
	MDB_txn *txn = r.txn;
	MDB_dbi dbi = th_raw_db(&r, "idx_type", MDB_DUPSORT | MDB_DUPFIXED);
	unsigned char tk[2], sk[8];
	al__be16(tk, al_event_def_by_name("user.updated")->number);
	MDB_cursor *c;
	assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
	MDB_val k = {2, tk}, v;
	assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_SET), 0);
	assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_LAST_DUP), 0); /* the newest indexed update */
	memcpy(sk, v.mv_data, 8);
	assert_true(al__get_be64(sk) <= idx);
	mdb_cursor_close(c);
	MDB_val dv = {8, sk};
	assert_int_equal(mdb_del(txn, dbi, &k, &dv), 0);
	th_raw_close(&r, true);
	al_error err = {0};
	assert_int_equal(al_store_open(&f->s, dir, &(al_open_opts){.flags = AL_OPEN_QUIET}, &err), AL_OK);
	assert_int_equal(al_store_verify(f->s, NULL, NULL, &err), AL_ECORRUPT);
	assert_non_null(strstr(err.msg, "idx_type"));
}

/* The LMDB calls of one single-command commit (al_fault.h counts them). */
static long lmdb_calls(al_store *s, int i)
{
	al_fault_set(AL_FAULT_LMDB, LONG_MAX); /* count, fail none */
	append_singles(s, 1, i);
	long n = al_fault_count(AL_FAULT_LMDB);
	al_fault_set(AL_FAULT_LMDB, 0);
	return n;
}

/* The commit that writes the audit indexes after a run of single commits does not read those
 * events back: the store kept their notes. It used to read and decode AL_IDX_LAG - 1 events
 * (286 LMDB calls against 12), the one commit in 256 that took several times as long. */
static void flush_reads_nothing_back(void **state)
{
	al_store *s = th_store(state);
	setup_user(s);
	/* A process keeps what it noted itself: its first flush reads the events before its
	 * first commit from the log. */
	append_singles(s, AL_IDX_LAG + 3, 4);
	long least = LONG_MAX, most = 0;
	int flushes = 0;
	uint64_t head, idx = indexed_to(s, &head);
	for (int i = 0; i < 2 * AL_IDX_LAG + 10; i++) {
		long n = lmdb_calls(s, i);
		uint64_t idx2 = indexed_to(s, &head);
		flushes += idx2 != idx;
		idx = idx2;
		least = n < least ? n : least;
		most = n > most ? n : most;
	}
	assert_true(flushes >= 2);
	if (most > least + 64)
		fail_msg("a commit made %ld LMDB calls, the fewest %ld: the flush read the log", most, least);
	check_queries(s, idx);
	al_error err = {0};
	if (al_store_verify(s, NULL, NULL, &err) != AL_OK)
		fail_msg("verify: %s", err.msg);
}

/* Notes kept across commits are used only for the log they describe: events another process
 * appended in between are read from the log and indexed with the rest. */
static void kept_notes_follow_the_log(void **state)
{
	th_fx *f = *state;
	al_store *s = f->s;
	setup_user(s);
	append_singles(s, AL_IDX_LAG + 3, 5);
	uint64_t head, idx = indexed_to(s, &head);
	append_singles(s, AL_IDX_LAG - (int)(head - idx) - 20, 6); /* kept notes, 20 short of a flush */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) { /* another writer: its own environment, 10 events of its own actor */
		al_store *o = NULL;
		al_error err = {0};
		const al_actor other = {"local:other", AL_ROLE_SUPERADMIN};
		int ok = al_store_open(&o, f->dir, &(al_open_opts){.flags = AL_OPEN_QUIET}, &err) == AL_OK;
		for (int i = 0; ok && i < 10; i++) {
			char name[32];
			snprintf(name, sizeof name, "other %d", i);
			ok = th_run_as(o, &other, "user.update", "email", 's', "u@x.io", "full_name", 's', name, NULL) == AL_OK;
		}
		al_store_close(o);
		_exit(ok ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	uint64_t before = al_log_head(s);
	append_singles(s, 40, 7); /* past the lag: this process flushes */
	idx = indexed_to(s, &head);
	assert_true(idx > before);
	seqs got = {0};
	al_error err = {0};
	assert_int_equal(al_log_query(s, &(al_log_filter){.actor = "local:other"}, collect, &got, &err), AL_OK);
	assert_int_equal(got.n, 10);
	assert_true(got.v[9] <= idx); /* in the index, not only in the tail */
	check_queries(s, idx);
	if (al_store_verify(s, NULL, NULL, &err) != AL_OK)
		fail_msg("verify: %s", err.msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(singles_leave_a_tail, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(batch_indexes_itself, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(batch_of_many_actors, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(stats_count_the_tail, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(verify_catches_a_missing_entry, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(flush_reads_nothing_back, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(kept_notes_follow_the_log, th_setup, th_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
