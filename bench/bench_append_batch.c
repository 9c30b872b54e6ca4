/*
 * bench_append_batch - group-commit throughput of adminlog writes.
 *
 * Measures: 200k user.update commands (each changes full_name and description of one of 10k
 * users created beforehand, so each appends one user.updated event and rewrites one view row),
 * sent through al_exec_batch 1000 per durable (fsynced) write transaction. Unit: events/s.
 * Baselines, in the same process, over the very records adminlog stored (read back from the
 * closed store's `events` sub-database, so the byte sizes are identical):
 *   raw_lmdb - mdb_put(MDB_APPEND) of those records into a fresh env (default flags, so
 *              fsync on commit), 1000 per committed transaction;
 *   sqlite   - SQLite, journal_mode=WAL, synchronous=FULL: per event one INSERT into an
 *              events table plus one users-table upsert (INSERT .. ON CONFLICT DO UPDATE),
 *              1000 per transaction.
 * Both stores get the same 1 GiB initial map. BENCH_SCALE scales the event count.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "bench_util.h"

#define BATCH 1000
#define MAP (1ull << 30)

static double raw_lmdb(const char *dir, const bu_records *r)
{
	MDB_env *env = bu_raw_env(dir, MAP);
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc;
	double t0 = bu_now();
	for (size_t i = 0; i < r->n;) {
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) || (rc = mdb_dbi_open(txn, "events", MDB_CREATE, &dbi)))
			bu_die("raw txn: %s", mdb_strerror(rc));
		for (size_t end = i + BATCH; i < end && i < r->n; i++) {
			unsigned char k[8];
			uint64_t seq = i + 1;
			for (int b = 7; b >= 0; b--, seq >>= 8)
				k[b] = (unsigned char)seq;
			MDB_val key = {8, k}, val = {r->len[i], r->val[i]};
			if ((rc = mdb_put(txn, dbi, &key, &val, MDB_APPEND)))
				bu_die("raw put: %s", mdb_strerror(rc));
		}
		if ((rc = mdb_txn_commit(txn)))
			bu_die("raw commit: %s", mdb_strerror(rc));
	}
	double t = bu_now() - t0;
	mdb_env_close(env);
	return (double)r->n / t;
}

static void sq(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		bu_die("sqlite %s: %s", sql, msg);
}

static double sqlite(const char *path, const bu_records *r, size_t nusers)
{
	sqlite3 *db;
	sqlite3_stmt *ev, *up;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		bu_die("sqlite open %s", path);
	sq(db, "PRAGMA journal_mode=WAL");
	sq(db, "PRAGMA synchronous=FULL");
	sq(db, "CREATE TABLE events(seq INTEGER PRIMARY KEY, type INTEGER, time INTEGER, record BLOB)");
	sq(db, "CREATE TABLE users(email TEXT PRIMARY KEY, full_name TEXT, description TEXT, modified_at INTEGER)");
	if (sqlite3_prepare_v2(db, "INSERT INTO events VALUES(?,?,?,?)", -1, &ev, NULL) ||
	    sqlite3_prepare_v2(db, "INSERT INTO users VALUES(?,?,?,?) ON CONFLICT(email) DO UPDATE SET "
				   "full_name=excluded.full_name, description=excluded.description, "
				   "modified_at=excluded.modified_at", -1, &up, NULL))
		bu_die("sqlite prepare: %s", sqlite3_errmsg(db));
	char email[64], full[64], desc[128];
	sq(db, "BEGIN");
	for (size_t u = 0; u < nusers; u++) { /* the users exist before the timed part, as in adminlog */
		bu_user_email(email, sizeof email, u);
		sqlite3_bind_text(up, 1, email, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(up, 2, "Bench User", -1, SQLITE_STATIC);
		sqlite3_bind_text(up, 3, "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(up, 4, 0);
		if (sqlite3_step(up) != SQLITE_DONE)
			bu_die("sqlite user: %s", sqlite3_errmsg(db));
		sqlite3_reset(up);
	}
	sq(db, "COMMIT");
	double t0 = bu_now();
	for (size_t i = 0; i < r->n;) {
		sq(db, "BEGIN");
		for (size_t end = i + BATCH; i < end && i < r->n; i++) {
			const unsigned char *p = r->val[i];
			int64_t type = p[2] << 8 | p[3], time = 0;
			for (int b = 8; b < 16; b++)
				time = time << 8 | p[b];
			sqlite3_bind_int64(ev, 1, (int64_t)i + 1);
			sqlite3_bind_int64(ev, 2, type);
			sqlite3_bind_int64(ev, 3, time);
			sqlite3_bind_blob(ev, 4, p, (int)r->len[i], SQLITE_STATIC);
			bu_user_email(email, sizeof email, i % nusers);
			bu_update_texts(i % nusers, i, full, sizeof full, desc, sizeof desc);
			sqlite3_bind_text(up, 1, email, -1, SQLITE_STATIC);
			sqlite3_bind_text(up, 2, full, -1, SQLITE_STATIC);
			sqlite3_bind_text(up, 3, desc, -1, SQLITE_STATIC);
			sqlite3_bind_int64(up, 4, time);
			if (sqlite3_step(ev) != SQLITE_DONE || sqlite3_step(up) != SQLITE_DONE)
				bu_die("sqlite insert: %s", sqlite3_errmsg(db));
			sqlite3_reset(ev);
			sqlite3_reset(up);
		}
		sq(db, "COMMIT");
	}
	double t = bu_now() - t0;
	sqlite3_finalize(ev);
	sqlite3_finalize(up);
	sqlite3_close(db);
	return (double)r->n / t;
}

int main(void)
{
	size_t nusers = bu_scaled(10000, 10), n = bu_scaled(200000, BATCH);
	char *dir = bu_tmpdir("batch"), path[4200];
	snprintf(path, sizeof path, "%s/store", dir);
	al_store *s = bu_store_new(path, 0, MAP);
	bu_create_users(s, nusers, BATCH);
	uint64_t head0 = al_log_head(s);

	double t0 = bu_now();
	uint64_t events = bu_update_users(s, nusers, 0, n, BATCH);
	double t = bu_now() - t0, adminlog = (double)events / t;
	al_store_close(s);

	bu_records r;
	bu_records_read(path, head0 + 1, head0 + events, &r);
	bu_note("%llu events in %.3f s; average record %.1f bytes (32 header + payload + 32 hash)",
		(unsigned long long)events, t, (double)r.bytes / (double)r.n);
	snprintf(path, sizeof path, "%s/raw", dir);
	if (mkdir(path, 0700) != 0)
		bu_die("mkdir %s", path);
	double raw = raw_lmdb(path, &r);
	snprintf(path, sizeof path, "%s/bench.sqlite", dir);
	double sql = sqlite(path, &r, nusers);

	bu_emit("append_batch", adminlog, "events/s", "raw_lmdb", raw);
	bu_emit("append_batch", adminlog, "events/s", "sqlite", sql);
	bu_records_free(&r);
	bu_rmrf(dir);
	return 0;
}
