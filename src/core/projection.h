/*
 * projection.h - the projection engine: named, versioned folds of the log into views.
 *
 * A projection owns some sub-databases (named v_*) and a pure apply(view, event): it may read
 * and write only its own sub-databases inside the given transaction, and use nothing but the
 * event (no clock, no randomness, no I/O). That is what makes rebuild and as-of exact.
 * Bump a projection's version whenever its view layout or its apply changes: on open, a
 * projection whose stored version differs is rebuilt, one whose cursor is behind catches up.
 */
#ifndef AL_PROJECTION_H
#define AL_PROJECTION_H

#include <lmdb.h>

#include "adminlog.h"
#include "core/catalogue.h"
#include "util/rowcodec.h"

#define AL_PROJ_MAX 16
#define AL_PROJ_MAX_DBS 9 /* views of one projection, and the NULL after them */

struct al_wtxn;

/* What apply sees: its transaction, its own sub-databases in declaration order. */
typedef struct al_view {
	struct al_wtxn *w;
	MDB_txn *txn;
	const MDB_dbi *dbi;
} al_view;

typedef struct al_projection {
	const char *name;
	unsigned version;
	const char *dbs[AL_PROJ_MAX_DBS]; /* sub-database names, NULL-terminated */
	int (*apply)(const al_view *v, const al_event *e, al_error *err);
	/* Frees what the projection keeps in al_store.proj_mem[its id] (NULL accepted), on
	 * close; NULL for a projection that keeps nothing in memory. */
	void (*mem_free)(void *mem);
	/* The event types apply reads, ending with AL_EV__COUNT: the engine calls apply for
	 * these only (one table lookup per event instead of a call per projection). */
	const enum al_ev_id *on;
} al_projection;

/* The registered projections, in the order of al__projections[]. */
enum al_proj_id {
	AL_P_SETTINGS,
	AL_P_DOMAINS,
	AL_P_USERS,
	AL_P_POLICIES,
	AL_P_KEYPAIRS,
	AL_P_PROJECTS,
	AL_P_TOTP,
	AL_P_RGROUPS,
	AL_P_AGENTS,
	AL_P_REGISTRIES,
	AL_P_IMAGES,
	AL_P_PRESETS,
	AL_P_STORAGE,
	AL_P_FOLDERS,
	AL_P_SESSIONS,
	AL_P__COUNT
};
extern const al_projection al__proj_settings, al__proj_domains, al__proj_users, al__proj_policies,
	al__proj_keypairs, al__proj_projects, al__proj_totp, al__proj_rgroups, al__proj_agents,
	al__proj_registries, al__proj_images, al__proj_presets, al__proj_storage, al__proj_folders,
	al__proj_sessions;
extern const al_projection *const al__projections[];
extern const size_t al__nprojections;

struct al_store;
/* Opens (creating when writable) every projection's sub-databases in txn. */
int al__proj_open_dbs(struct al_store *s, MDB_txn *txn, al_error *err);
/* Brings every projection up to the log head: rebuild on version change, else catch up. */
int al__proj_catch_up(struct al_store *s, al_error *err);
/* The projections whose `on` lists name event type d, one bit per enum al_proj_id. */
uint16_t al__proj_readers(const al_event_def *d);
/* Applies one event to every projection that reads its type. */
int al__proj_apply(struct al_wtxn *w, const al_event *e, al_error *err);
/* Applies one event to projection only (an enum al_proj_id), or to all when only < 0. */
int al__proj_apply_only(struct al_wtxn *w, int only, const al_event *e, al_error *err);
/* The dbi of sub-database db of projection p, for queries. */
MDB_dbi al__view_dbi(const struct al_store *s, enum al_proj_id p, int db);
/* xxh3-128 over one projection's sub-databases (p >= 0) or all of them (p < 0). */
int al__proj_digest(struct al_store *s, MDB_txn *txn, int p, uint8_t out[16], al_error *err);
/* A stored cursor meaning "at the log head": written once, then live commits (which apply
 * every event to every projection) leave the cursors alone instead of rewriting 14 keys. */
#define AL_CURSOR_AT_HEAD UINT64_MAX
/* The cursor a stored value stands for, given the head of the same snapshot. */
uint64_t al__proj_cursor_at(uint64_t stored, uint64_t head);
/* At the end of a write transaction that moved the head: marks every projection's cursor "at
 * the head" (with its version), unless this store's last commit already did. */
int al__proj_save_cursors(struct al_wtxn *w, al_error *err);
/* Folds events (after_seq, until_seq] into the views of projection only (all when < 0).
 * The fold goes into memory (overlay.h) and the views are written, sorted, with their cursors
 * in one transaction at the end, or earlier each time the overlay holds more than
 * al__fold_budget bytes: every commit leaves the views exactly at their cursors, so a fold
 * that fails or is killed leaves them as they were or behind, never ahead. */
int al__proj_fold(struct al_store *s, int only, uint64_t after_seq, uint64_t until_seq,
		  al_progress_fn p, void *pctx, al_error *err);
/* Folds events 1..until_seq into emptied views of projection only (all when < 0): the views
 * are dropped in the transaction that first writes the fold (the one that bulk-loads them
 * with MDB_APPEND when the overlay holds the whole fold), so a rebuild that fails before it
 * leaves them as they were; one that fails after an early write leaves them at their
 * cursors, which the next open completes. */
int al__proj_rebuild(struct al_store *s, int only, uint64_t until_seq, al_progress_fn p, void *pctx,
		     al_error *err);
/* How a fold uses memory (knobs for tests): it writes its overlay out and goes on when the
 * overlay holds more than budget bytes (default 256 MiB), and writes at most about txn_bytes
 * of rows per transaction (default 8 MiB: LMDB keeps a transaction's dirty pages in memory,
 * and reuses them in the next one; measured faster than 32 MiB or one transaction).
 * While a write spans transactions the cursors say "incomplete" (AL_CURSOR_INCOMPLETE). */
typedef struct al_fold_limits {
	size_t budget, txn_bytes;
} al_fold_limits;
extern al_fold_limits al__fold_limits;
/* Transactions that wrote folded views, since the process started (for tests). */
extern unsigned long al__fold_writes;
#define AL_CURSOR_INCOMPLETE (UINT64_MAX - 1) /* the views are being written: rebuild them on open */

/* A composite view key: [tag] a NUL b into buf (cap bytes, at most LMDB's 511); 0 when it does
 * not fit. Range scans over "a NUL" then find every b of a. */
size_t al__key2(char *buf, size_t cap, char tag, al_str a, al_str b);

/* View helpers for apply functions, which read and write their views only through them (a
 * fold's overlay answers first, see overlay.h). al__view_get returns mdb_get's rc; a failure
 * other than MDB_NOTFOUND also poisons the transaction (al__mdb), so it fails with io_error
 * whatever apply answers. */
int al__view_get(const al_view *v, int db, const void *k, size_t kn, MDB_val *out);
int al__view_put(const al_view *v, int db, const void *k, size_t kn, const void *val, size_t vn,
		 al_error *err);
int al__view_del(const al_view *v, int db, const void *k, size_t kn, al_error *err);
/* al__view_put of val, the packed form of row (a rows.def kind d), which is also kept decoded
 * for the rest of the transaction (rowcache.h). */
int al__view_put_row(const al_view *v, int db, const void *k, size_t kn, const void *val, size_t vn,
		     const al_row_def *d, const void *row, al_error *err);
/* The keys of view db that start with prefix, in key order, copied into the transaction's
 * zone (valid while the view changes, until the zone is cleared for the next event): what a
 * cursor over the view would see, a fold's overlay included. Apply functions read ranges
 * of their views only through this, never with their own cursor. */
typedef struct al_keys {
	MDB_val *k;
	size_t n;
} al_keys;
int al__view_keys(const al_view *v, int db, const void *prefix, size_t pn, al_keys *out, al_error *err);
/* A compact row (a rows.def kind d) of view db: 0 and *row, MDB_NOTFOUND, another LMDB code,
 * or -1 when the stored row does not decode. Within a write transaction the row a command or
 * a fold touched comes from memory (rowcache.h, foldrows.h) without a lookup or a decode. */
int al__view_get_typed(const al_view *v, int db, const void *k, size_t kn, const al_row_def *d, void *row);
/* Writes row (kind d): packed and put (and kept decoded for the transaction), or in a fold
 * held decoded and packed once before the overlay is written. */
int al__view_put_typed(const al_view *v, int db, const void *k, size_t kn, const al_row_def *d, const void *row,
		       al_error *err);
/* The worker's scratch buffer for a view row, emptied, with pk set up to pack into it. */
msgpack_sbuffer *al__view_row(const al_view *v, msgpack_packer *pk);

#endif
