/*
 * bench_append_durable - latency-bound writes: one command per committed, fsynced transaction.
 *
 * Measures: 1000 user.update commands (full_name + description of one of 100 users created
 * beforehand; one user.updated event each) through al_exec, each its own durable write
 * transaction. Unit: commands/s.
 * Baseline raw_lmdb, same process: the same 1000 records (read back from the closed store, so
 * identical sizes), one mdb_put(MDB_APPEND) per committed transaction into a fresh env with
 * default flags (fsync on every commit). BENCH_SCALE scales the command count.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "bench_util.h"

#define MAP (64ull << 20)

static double raw_lmdb(const char *dir, const bu_records *r)
{
	MDB_env *env = bu_raw_env(dir, MAP);
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc;
	double t0 = bu_now();
	for (size_t i = 0; i < r->n; i++) {
		unsigned char k[8];
		uint64_t seq = i + 1;
		for (int b = 7; b >= 0; b--, seq >>= 8)
			k[b] = (unsigned char)seq;
		MDB_val key = {8, k}, val = {r->len[i], r->val[i]};
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) || (rc = mdb_dbi_open(txn, "events", MDB_CREATE, &dbi)) ||
		    (rc = mdb_put(txn, dbi, &key, &val, MDB_APPEND)) || (rc = mdb_txn_commit(txn)))
			bu_die("raw: %s", mdb_strerror(rc));
	}
	double t = bu_now() - t0;
	mdb_env_close(env);
	return (double)r->n / t;
}

int main(void)
{
	size_t nusers = 100, n = bu_scaled(1000, 10);
	char *dir = bu_tmpdir("durable"), path[4200];
	snprintf(path, sizeof path, "%s/store", dir);
	al_store *s = bu_store_new(path, 0, MAP);
	bu_create_users(s, nusers, nusers);
	uint64_t head0 = al_log_head(s);

	double t0 = bu_now();
	uint64_t events = bu_update_users(s, nusers, 0, n, 1);
	double t = bu_now() - t0;
	al_store_close(s);

	bu_records r;
	bu_records_read(path, head0 + 1, head0 + events, &r);
	bu_note("%zu commands in %.3f s (%.0f us each); average record %.1f bytes", n, t, t / (double)n * 1e6,
		(double)r.bytes / (double)r.n);
	snprintf(path, sizeof path, "%s/raw", dir);
	if (mkdir(path, 0700) != 0)
		bu_die("mkdir %s", path);
	double raw = raw_lmdb(path, &r);
	bu_emit("append_durable", (double)n / t, "commands/s", "raw_lmdb", raw);
	bu_records_free(&r);
	bu_rmrf(dir);
	return 0;
}
