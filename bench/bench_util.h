/*
 * bench_util.h - helpers shared by the bench/bench_*.c programs: monotonic timing, the JSON
 * result line, scratch directories, msgpack arguments, building a store full of users and
 * user.update events, the year log (bench_rebuild, bench_audit), and reading the raw `events`
 * sub-database of a closed store.
 *
 * Every program prints one JSON object per result line:
 *   {"name":..,"value":..,"unit":..,"baseline_name":..,"baseline":..,"ratio":..}
 * with ratio = value / baseline, both measured in the same process. Progress goes to stderr.
 * BENCH_SCALE (default 1.0) scales every event count, for quick runs. `make bench` runs each
 * program BENCH_RUNS times and prints the medians (tools/bench_runs.sh).
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "adminlog.h"

extern const al_actor bu_actor; /* {"local:bench", AL_ROLE_SUPERADMIN} */

/* Seconds on CLOCK_MONOTONIC. */
double bu_now(void);
/* n * BENCH_SCALE, rounded, at least min. */
size_t bu_scaled(size_t n, size_t min);
/* Prints one result line on stdout (and flushes). */
void bu_emit(const char *name, double value, const char *unit, const char *baseline_name, double baseline);
/* Prints a message on stderr, prefixed with the program name, and exits 1. */
void bu_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void bu_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A new empty directory under $TMPDIR (or /tmp); malloc'd path. bu_rmrf removes it and frees. */
char *bu_tmpdir(const char *tag);
void bu_rmrf(char *dir);

/* al_store_init (admin password hashed at pwhash "min") in dir/name, then al_store_open with
 * flags | AL_OPEN_QUIET and map_size. Dies on failure. */
al_store *bu_store_new(const char *dir, unsigned flags, size_t map_size);
al_store *bu_store_open(const char *dir, unsigned flags, size_t map_size);

/* The msgpack map of a user.create / user.update request for user number u (update number k
 * changes full_name and description). Writes into buf (at least 512 bytes); returns length. */
size_t bu_args_create(char *buf, size_t u);
size_t bu_args_update(char *buf, size_t u, size_t k);
/* The same texts, for the SQLite baseline. */
void bu_user_email(char *buf, size_t n, size_t u);
void bu_update_texts(size_t u, size_t k, char *full_name, size_t fn, char *desc, size_t dn);

/* Creates users 0..n-1 with al_exec_batch in batches of `batch`. Dies on failure. */
void bu_create_users(al_store *s, size_t n, size_t batch);
/* Runs `count` user.update commands (update k targets user k % nusers) in al_exec_batch
 * batches of `batch` (batch 1 uses al_exec). k starts at first_k. Dies on failure; returns
 * the number of events appended. */
uint64_t bu_update_users(al_store *s, size_t nusers, size_t first_k, size_t count, size_t batch);

/*
 * The year log, the workload bench_rebuild and bench_audit share: 1,000,000 events (times
 * BENCH_SCALE, at least 2000; users 100,000 times BENCH_SCALE, at least 10) over 365 days
 * of store time (al_store_set_clock: command i runs at t0 + i * step, t0 = the wall clock at
 * the start), from BU_YEAR_ACTORS superadmin operators "local:op-00".. picked pseudo-randomly
 * per command, written with al_exec_batch 1000 per transaction and AL_OPEN_NOSYNC:
 *   20 policy.create (keypair policies bench-pol-00..19), then nusers user.create (each
 *   user.created + keypair.created), then user.update commands (full_name + description of
 *   user k % nusers) until the log holds its events, but for 1 in 50 a keypair.create
 *   (keypair.created), 1 in 100 a policy.update (keypair_policy.updated, cpu changed) and
 *   1 in 10,000 a domain.create (domain.created, the rare type).
 * Without $BENCH_CACHE it is built in the new store directory `own`, which is returned. With
 * $BENCH_CACHE (set by `make bench`: tools/bench_runs.sh), it is built once per cache under
 * $BENCH_CACHE/year-USERS-EVENTS and shared: returned as is for a reader (writable 0: open it
 * AL_OPEN_RDONLY), copied to `own` (cp -a) for a writer. Dies on failure.
 */
#define BU_YEAR_ACTORS 50
#define BU_YEAR_US (365LL * 24 * 3600 * 1000000)
const char *bu_year_log(const char *own, int writable);
/* The name of operator i of the year log, "local:op-07". */
const char *bu_year_actor(size_t i);

/* Raw `events` records of a closed store, read with LMDB directly (read-only env). */
typedef struct bu_records {
	size_t n;
	unsigned char **val; /* malloc'd copies */
	size_t *len;
	size_t bytes;
} bu_records;
/* Copies records with seq in [from, to] of the store in dir. */
void bu_records_read(const char *dir, uint64_t from, uint64_t to, bu_records *r);
void bu_records_free(bu_records *r);

/* Opens the LMDB env of a closed store in dir read-only and the named sub-database. */
void bu_raw_open(const char *dir, MDB_env **env, MDB_txn **txn, MDB_dbi *dbi, const char *name);

/* A raw LMDB environment (default flags: fsync on commit) in dir, for the baselines. */
MDB_env *bu_raw_env(const char *dir, size_t map);

#endif
