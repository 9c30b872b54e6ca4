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
 * The records come from a first, untimed pass of the same commands; then the three sides take
 * turns, 10,000 events each, so that all three see the same machine (its load and disk
 * latency move within seconds on a shared machine).
 * Both stores get the same 1 GiB initial map. BENCH_SCALE scales the event count.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "bench_util.h"

#define BATCH 1000
#define MAP (1ull << 30)

/* Records [from, to) into env, BATCH per committed transaction; returns the seconds taken. */
static double raw_turn(MDB_env *env, const bu_records *r, size_t from, size_t to)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc;
	double t0 = bu_now();
	for (size_t i = from; i < to;) {
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) || (rc = mdb_dbi_open(txn, "events", MDB_CREATE, &dbi)))
			bu_die("raw txn: %s", mdb_strerror(rc));
		for (size_t end = i + BATCH; i < end && i < to; i++) {
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
	return bu_now() - t0;
}

static void sq(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		bu_die("sqlite %s: %s", sql, msg);
}

typedef struct sql_side {
	sqlite3 *db;
	sqlite3_stmt *ev, *up;
	size_t nusers;
} sql_side;

/* The SQLite baseline's tables, with the users in place before anything is timed. */
static void sqlite_open(sql_side *q, const char *path, size_t nusers)
{
	q->nusers = nusers;
	if (sqlite3_open(path, &q->db) != SQLITE_OK)
		bu_die("sqlite open %s", path);
	sq(q->db, "PRAGMA journal_mode=WAL");
	sq(q->db, "PRAGMA synchronous=FULL");
	sq(q->db, "CREATE TABLE events(seq INTEGER PRIMARY KEY, type INTEGER, time INTEGER, record BLOB)");
	sq(q->db, "CREATE TABLE users(email TEXT PRIMARY KEY, full_name TEXT, description TEXT, modified_at INTEGER)");
	if (sqlite3_prepare_v2(q->db, "INSERT INTO events VALUES(?,?,?,?)", -1, &q->ev, NULL) ||
	    sqlite3_prepare_v2(q->db, "INSERT INTO users VALUES(?,?,?,?) ON CONFLICT(email) DO UPDATE SET "
				      "full_name=excluded.full_name, description=excluded.description, "
				      "modified_at=excluded.modified_at", -1, &q->up, NULL))
		bu_die("sqlite prepare: %s", sqlite3_errmsg(q->db));
	char email[64];
	sq(q->db, "BEGIN");
	for (size_t u = 0; u < nusers; u++) {
		bu_user_email(email, sizeof email, u);
		sqlite3_bind_text(q->up, 1, email, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(q->up, 2, "Bench User", -1, SQLITE_STATIC);
		sqlite3_bind_text(q->up, 3, "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(q->up, 4, 0);
		if (sqlite3_step(q->up) != SQLITE_DONE)
			bu_die("sqlite user: %s", sqlite3_errmsg(q->db));
		sqlite3_reset(q->up);
	}
	sq(q->db, "COMMIT");
}

/* Records [from, to): per event one INSERT and one users upsert, BATCH per transaction. */
static double sqlite_turn(sql_side *q, const bu_records *r, size_t from, size_t to)
{
	char email[64], full[64], desc[128];
	double t0 = bu_now();
	for (size_t i = from; i < to;) {
		sq(q->db, "BEGIN");
		for (size_t end = i + BATCH; i < end && i < to; i++) {
			const unsigned char *p = r->val[i];
			int64_t type = p[2] << 8 | p[3], time = 0;
			for (int b = 8; b < 16; b++)
				time = time << 8 | p[b];
			sqlite3_bind_int64(q->ev, 1, (int64_t)i + 1);
			sqlite3_bind_int64(q->ev, 2, type);
			sqlite3_bind_int64(q->ev, 3, time);
			sqlite3_bind_blob(q->ev, 4, p, (int)r->len[i], SQLITE_STATIC);
			bu_user_email(email, sizeof email, i % q->nusers);
			bu_update_texts(i % q->nusers, i, full, sizeof full, desc, sizeof desc);
			sqlite3_bind_text(q->up, 1, email, -1, SQLITE_STATIC);
			sqlite3_bind_text(q->up, 2, full, -1, SQLITE_STATIC);
			sqlite3_bind_text(q->up, 3, desc, -1, SQLITE_STATIC);
			sqlite3_bind_int64(q->up, 4, time);
			if (sqlite3_step(q->ev) != SQLITE_DONE || sqlite3_step(q->up) != SQLITE_DONE)
				bu_die("sqlite insert: %s", sqlite3_errmsg(q->db));
			sqlite3_reset(q->ev);
			sqlite3_reset(q->up);
		}
		sq(q->db, "COMMIT");
	}
	return bu_now() - t0;
}

static void sqlite_close(sql_side *q)
{
	sqlite3_finalize(q->ev);
	sqlite3_finalize(q->up);
	sqlite3_close(q->db);
}

#define TURN (10 * BATCH) /* events per turn: the three sides take turns on the same machine */

int main(void)
{
	size_t nusers = bu_scaled(10000, 10), n = bu_scaled(200000, BATCH);
	char *dir = bu_tmpdir("batch"), path[4200];
	snprintf(path, sizeof path, "%s/store", dir);
	al_store *s = bu_store_new(path, 0, MAP);
	bu_create_users(s, nusers, BATCH);
	/* A first, untimed pass makes the records the baselines write (the same bytes). */
	uint64_t head0 = al_log_head(s);
	uint64_t events = bu_update_users(s, nusers, 0, n, BATCH);
	al_store_close(s);
	bu_records r;
	bu_records_read(path, head0 + 1, head0 + events, &r);

	char raw_path[4200], sql_path[4200];
	snprintf(raw_path, sizeof raw_path, "%s/raw", dir);
	snprintf(sql_path, sizeof sql_path, "%s/bench.sqlite", dir);
	if (mkdir(raw_path, 0700) != 0)
		bu_die("mkdir %s", raw_path);
	MDB_env *env = bu_raw_env(raw_path, MAP);
	sql_side q;
	sqlite_open(&q, sql_path, nusers);
	s = bu_store_open(path, 0, MAP);
	double t = 0, raw = 0, sql = 0;
	uint64_t timed = 0;
	for (size_t i = 0; i < n; i += TURN) {
		size_t k = n - i < TURN ? n - i : TURN, to = i + k < r.n ? i + k : r.n;
		double t0 = bu_now();
		timed += bu_update_users(s, nusers, n + i, k, BATCH);
		t += bu_now() - t0;
		raw += raw_turn(env, &r, i, to);
		sql += sqlite_turn(&q, &r, i, to);
	}
	al_store_close(s);
	mdb_env_close(env);
	sqlite_close(&q);
	bu_note("%llu events in %.3f s (raw %.3f s, sqlite %.3f s); average record %.1f bytes (32 header + payload + "
		"32 hash)", (unsigned long long)timed, t, raw, sql, (double)r.bytes / (double)r.n);
	bu_emit("append_batch", (double)timed / t, "events/s", "raw_lmdb", (double)r.n / raw);
	bu_emit("append_batch", (double)timed / t, "events/s", "sqlite", (double)r.n / sql);
	bu_records_free(&r);
	bu_rmrf(dir);
	return 0;
}
