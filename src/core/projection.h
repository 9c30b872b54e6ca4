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
#define AL_PROJ_MAX_DBS 6

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
	AL_P__COUNT
};
extern const al_projection al__proj_settings, al__proj_domains, al__proj_users, al__proj_policies,
	al__proj_keypairs, al__proj_projects, al__proj_totp, al__proj_rgroups, al__proj_agents,
	al__proj_registries, al__proj_images, al__proj_presets, al__proj_storage, al__proj_folders;
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
/* Drops every view and sets the cursors to 0. */
int al__proj_reset_all(struct al_wtxn *w, al_error *err);
/* Folds events (after_seq, until_seq] into the views, committing every chunk. */
int al__proj_fold(struct al_store *s, int only, uint64_t after_seq, uint64_t until_seq,
		  al_progress_fn p, void *pctx, al_error *err);
/* Drops the views of projection only (all when < 0) and folds events 1..until_seq into them.
 * The drop commits with the first chunk (65,536 events), so a rebuild that fails there leaves
 * the views as they were; one that fails later leaves them at their cursors, which the next
 * open completes. */
int al__proj_rebuild(struct al_store *s, int only, uint64_t until_seq, al_progress_fn p, void *pctx,
		     al_error *err);

/* A composite view key: [tag] a NUL b into buf (cap bytes, at most LMDB's 511); 0 when it does
 * not fit. Range scans over "a NUL" then find every b of a. */
size_t al__key2(char *buf, size_t cap, char tag, al_str a, al_str b);

/* View helpers for apply functions. al__view_get returns mdb_get's rc; a failure other than
 * MDB_NOTFOUND also poisons the transaction (al__mdb), so it fails with io_error whatever
 * apply answers. */
int al__view_get(const al_view *v, int db, const void *k, size_t kn, MDB_val *out);
int al__view_put(const al_view *v, int db, const void *k, size_t kn, const void *val, size_t vn,
		 al_error *err);
int al__view_del(const al_view *v, int db, const void *k, size_t kn, al_error *err);
/* al__view_put of val, the packed form of row (a rows.def kind d), which is also kept decoded
 * for the rest of the transaction (rowcache.h). */
int al__view_put_row(const al_view *v, int db, const void *k, size_t kn, const void *val, size_t vn,
		     const al_row_def *d, const void *row, al_error *err);
/* The worker's scratch buffer for a view row, emptied, with pk set up to pack into it. */
msgpack_sbuffer *al__view_row(const al_view *v, msgpack_packer *pk);

#endif
