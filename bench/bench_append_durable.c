/*
 * bench_append_durable - latency-bound writes: one command per committed, fsynced transaction.
 *
 * Measures: 1000 user.update commands (full_name + description of one of 100 users created
 * beforehand; one user.updated event each) through al_exec, each its own durable write
 * transaction. Unit: commands/s.
 * Baseline raw_lmdb, same process: the records of a first, untimed pass of the same 1000
 * commands (read back from the closed store, so identical sizes), one mdb_put(MDB_APPEND) per
 * committed transaction into a fresh env with default flags (fsync on every commit). The timed
 * commands and the baseline take turns, 50 commits each, so that both see the same disk: on a
 * shared machine the fsync latency moves by several times within a minute.
 * BENCH_SCALE scales the command count.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "bench_util.h"

#define MAP (64ull << 20)

/* Puts records [from, to) into env, one committed transaction each; returns the seconds taken. */
static double raw_lmdb(MDB_env *env, const bu_records *r, size_t from, size_t to)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc;
	double t0 = bu_now();
	for (size_t i = from; i < to; i++) {
		unsigned char k[8];
		uint64_t seq = i + 1;
		for (int b = 7; b >= 0; b--, seq >>= 8)
			k[b] = (unsigned char)seq;
		MDB_val key = {8, k}, val = {r->len[i], r->val[i]};
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) || (rc = mdb_dbi_open(txn, "events", MDB_CREATE, &dbi)) ||
		    (rc = mdb_put(txn, dbi, &key, &val, MDB_APPEND)) || (rc = mdb_txn_commit(txn)))
			bu_die("raw: %s", mdb_strerror(rc));
	}
	return bu_now() - t0;
}

#define CHUNK 50 /* commands per turn: the two sides take turns, so both see the same machine */

int main(void)
{
	size_t nusers = 100, n = bu_scaled(1000, 10);
	char *dir = bu_tmpdir("durable"), path[4200], raw_path[4200];
	snprintf(path, sizeof path, "%s/store", dir);
	snprintf(raw_path, sizeof raw_path, "%s/raw", dir);
	al_store *s = bu_store_new(path, 0, MAP);
	bu_create_users(s, nusers, nusers);
	/* A first, untimed pass makes the records the baseline writes (the same sizes). */
	uint64_t head0 = al_log_head(s);
	uint64_t events = bu_update_users(s, nusers, 0, n, 1);
	al_store_close(s);
	bu_records r;
	bu_records_read(path, head0 + 1, head0 + events, &r);
	if (mkdir(raw_path, 0700) != 0)
		bu_die("mkdir %s", raw_path);
	MDB_env *env = bu_raw_env(raw_path, MAP);
	s = bu_store_open(path, 0, MAP);
	double t = 0, raw = 0;
	for (size_t i = 0; i < n; i += CHUNK) {
		size_t k = n - i < CHUNK ? n - i : CHUNK;
		double t0 = bu_now();
		bu_update_users(s, nusers, n + i, k, 1);
		t += bu_now() - t0;
		raw += raw_lmdb(env, &r, i, i + k < r.n ? i + k : r.n);
	}
	al_store_close(s);
	mdb_env_close(env);
	bu_note("%zu commands in %.3f s (%.0f us each), raw %.0f us each; average record %.1f bytes", n, t,
		t / (double)n * 1e6, raw / (double)r.n * 1e6, (double)r.bytes / (double)r.n);
	bu_emit("append_durable", (double)n / t, "commands/s", "raw_lmdb", (double)r.n / raw);
	bu_records_free(&r);
	bu_rmrf(dir);
	return 0;
}
