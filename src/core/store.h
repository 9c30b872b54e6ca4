/*
 * store.h - internals of a data directory: the LMDB environment, its sub-databases, and the
 * write-transaction runner that hides map growth from every caller.
 *
 * Sub-databases (all in one environment):
 *   events      seq (8 bytes BE) -> record (record.h)                      MDB_APPEND
 *   idx_entity  "kind:id"        -> seq, dupsort                           entity history
 *   idx_actor   actor            -> seq, dupsort    audit by actor  } up to meta "idx",
 *   idx_type    type (2 bytes BE)-> seq, dupsort    audit by type   } added in bulk (log_index.h)
 *   reqids      NUL scope(16) id -> first(8) last(8) flags(1) digest(32) op NUL result
 *                                                                          retries (cmd.c)
 *   meta        "format" -> u32 (AL_DIR_FORMAT); "idx" -> seq(8); "proj/<name>" -> version(4) cursor(8)
 *   (main)      "head" -> seq(8) hash(32) time(8), beside the sub-databases' own records
 *   v_*         views, owned by projections (projection.h)
 * The number of events of an entity (its version) is the count of its idx_entity duplicates.
 */
#ifndef AL_STORE_H
#define AL_STORE_H

#include <lmdb.h>
#include <stdbool.h>

#include "adminlog.h"
#include "core/projection.h"
#include "util/alloc.h"
#include "util/fault.h" /* after <lmdb.h>: wraps the LMDB calls with fault points */

/* meta "format", the data directory's layout (the records' own format is AL_FORMAT_VERSION).
 * 2: the head is a key of LMDB's main database, the one holding the sub-databases' records,
 * whose page every commit rewrites anyway (a head in meta cost every commit one more page).
 * 1: the head was in meta; opened read-write, such a store is moved to 2 (open_dbs). */
#define AL_DIR_FORMAT 2

/* al_store_asof's private copy: no lock file, no master key, and it may hold no events. */
#define AL__OPEN_SCRATCH (1u << 30)
#define AL_LOCK_FILE "adminlogd.lock"
#define AL_STAGE_DIR ".init" /* where al_store_init builds a new store (bootstrap.c) */

struct al_store {
	MDB_env *env;
	char *dir;
	unsigned flags;
	int lock_fd; /* DIR/adminlogd.lock, held while open; -1 when not taken */
	bool scratch; /* delete the directory on close */
	/* An as-of store (al_store_asof): views of the state after event log_bound, no log of its
	 * own: its log is log_src's, read up to log_bound (al__logv_begin, log.h). It answers reads
	 * only, with the rights its actors have in log_src. NULL for a store with its own log. */
	struct al_store *log_src;
	uint64_t log_bound;
	uint64_t asof_base; /* the checkpoint it started from; 0: folded from the first event */
	bool dbs_open; /* the sub-databases below are open */
	MDB_dbi events, idx_entity, idx_actor, idx_type, reqids, meta;
	MDB_dbi head_db; /* where "head" is: the main database, or meta in a format 1 store read as is */
	MDB_dbi views[AL_PROJ_MAX][AL_PROJ_MAX_DBS];
	unsigned char master_key[32]; /* seal.h; never written to LMDB */
	bool has_master_key;
	int64_t (*clock)(void *);
	void *clock_ctx;
	al_log_fn log; /* al_open_opts.log: the library prints nothing itself */
	void *log_ctx;
	/* What a projection keeps in memory beside its views, by enum al_proj_id: made on first
	 * use by the projection's module, freed on close by its descriptor's mem_free (so the
	 * core never calls into a noun). Today: when each agent was last heard from (agents.c;
	 * heartbeats without changes stay out of the log), and the last code (key, time step)
	 * each user used at login or confirming 2FA, so that a code is good once (totp.c, RFC
	 * 6238 §5.2). A restart forgets both. */
	void *proj_mem[AL_P__COUNT];
	/* meta holds AL_CURSOR_AT_HEAD for every projection, as this process last committed it
	 * (a fold or reset that writes a real cursor clears it). */
	bool cursors_at_head;
	/* The events after meta "idx" noted for the audit indexes (log_index.c), kept from one
	 * write transaction to the next so that the one that indexes them need not read them
	 * back. Used only inside write transactions, under LMDB's writer lock. */
	struct al_idx_entry *idx;
	size_t idx_n, idx_cap;
	msgpack_sbuffer idx_names; /* the actors of idx[] */
	/* What the last transaction left: idx_kept notes (idx_kept_names bytes of names), of the
	 * events (kept_from, kept_to] where kept_from was meta "idx" and kept_hash is the chain
	 * hash of event kept_to. A transaction uses them only when its log matches. */
	size_t idx_kept, idx_kept_names;
	uint64_t kept_from, kept_to;
	unsigned char kept_hash[32];
};

/* The state of one write transaction, including the in-memory log head. */
typedef struct al_wtxn {
	al_store *s;
	MDB_txn *txn; /* innermost open transaction: every write goes here */
	uint64_t head_seq;
	unsigned char head_hash[32];
	int64_t head_time;
	bool map_full; /* set by al__mdb(): the runner grows the map and runs fn again */
	bool poisoned; /* an internal failure: nothing more may be written, commit is refused */
	bool cursors_marked; /* this transaction wrote the AL_CURSOR_AT_HEAD markers */
	al_error poison; /* that failure: what every command of the transaction answers */
	unsigned long nomem_seen; /* al__nomem_count() already answered for; more refuses commit */
	unsigned char *rec; /* scratch buffer for one record */
	size_t rec_cap;
	msgpack_zone zone; /* decoded events; cleared per event */
	msgpack_sbuffer sb; /* scratch payload buffer */
	msgpack_sbuffer vb; /* scratch buffer for view rows, used by apply functions */
	/* The audit indexes (log_index.h): complete to idx_seq (the notes are the store's). */
	uint64_t idx_seq;
	bool idx_known; /* meta "idx" exists */
	struct al_rc_slot **rc; /* decoded rows of this transaction (rowcache.h) */
	msgpack_zone rc_arena;
	struct al_ov *ov; /* a fold's in-memory views (overlay.h), which al__view_* use; else NULL */
	struct al_fr *fr; /* a fold's compact rows held decoded (foldrows.h); else NULL */
} al_wtxn;

typedef int (*al_write_fn)(al_wtxn *w, void *ctx, al_error *err);

/*
 * Runs fn in a write transaction and commits (fsync unless NOSYNC). When the map fills up,
 * the transaction is aborted, the map doubled and fn run again from the start, so fn must
 * decide nothing random or time-based itself, and reset its outputs on entry.
 */
int al__store_write(al_store *s, al_write_fn fn, void *ctx, al_error *err);
/* A read transaction that copes with another process having grown the map. */
int al__read_begin(al_store *s, MDB_txn **txn, al_error *err);

/* Marks the whole transaction lost with e (the first failure is the one reported). */
void al__poison(al_wtxn *w, const al_error *e);
/* Turns an LMDB failure into an al_ code (and marks map-full / poisons the transaction). */
int al__mdb(al_wtxn *w, int rc, al_error *err, const char *what);
int al__put(al_wtxn *w, MDB_dbi dbi, const void *k, size_t kn, const void *v, size_t vn,
	    unsigned flags, al_error *err);
int al__del(al_wtxn *w, MDB_dbi dbi, const void *k, size_t kn, al_error *err);
/* How a cursor walk ended, given the last mdb_cursor_get's rc: AL_OK when it ran out
 * (MDB_NOTFOUND) or was left early (0), else AL_EIO_ERROR reading what. */
int al__cursor_end(int rc, al_error *err, const char *what);

int64_t al__now(al_store *s);
/* Formats one message (enum al_log_level) for the store's log function; dropped when there is
 * none or the store was opened AL_OPEN_QUIET. Never pass a secret. */
void al__log(al_store *s, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- what opening a directory checks (store_guard.c) ---- */

/* Takes DIR/adminlogd.lock for the store's lifetime: exclusively for AL_OPEN_SERVER, shared
 * for any other read-write open; read-only and scratch opens take nothing. AL_EIN_USE with
 * a message naming the server (pid, socket) or the writer that holds it. */
int al__store_lock(al_store *s, const char *socket_path, al_error *err);
/* Releases the lock; safe when none was taken. */
void al__store_unlock(al_store *s);
/* AL_ECORRUPT when data.mdb is shorter than the pages its meta page says are used, before
 * any of those pages is touched (reading past the end of a mapped file is SIGBUS). */
int al__store_check_size(al_store *s, al_error *err);
/* The error for a directory without data.mdb: not_found, naming an interrupted bootstrap
 * (DIR/.init left) or a master.key without its data file when that is what is there. */
int al__store_missing(const char *dir, al_error *err);
/* Removes the files a store directory may hold (not the directory); for scratch copies and
 * al_store_init's staging directory. */
void al__store_remove_files(const char *dir);
/* Removes DIR/.init when an init was killed after data.mdb was in place (so it is garbage). */
void al__store_clear_stage(const char *dir);

#endif
