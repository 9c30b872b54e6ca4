/*
 * overlay.h - a fold's views in memory: what a rebuild or a catch-up folds the log into before
 * the views are written to LMDB once, each in key order (MDB_APPEND into an emptied view).
 *
 * An overlay covers some view sub-databases (al__ov_cover). For each it holds what the fold
 * wrote: (dbi, key) -> value, or a tombstone for a deleted key. A key it does not hold is
 * LMDB's to answer, unless the sub-database is known to be empty there (a rebuild before its
 * first write): then the key is absent and LMDB is not asked. Folding a million events that
 * update one row each then costs a hash lookup and a copy per write instead of a B-tree put,
 * and the pages are written once at the end instead of once per transaction.
 *
 * Keys and values live in an arena that never moves: a value is rewritten in place while it
 * fits the room of the one it replaces (so a row updated a million times costs its size once),
 * else it gets new room. So an MDB_val from al__ov_get stays readable until al__ov_clear,
 * though a later put to the same key may change its bytes (as LMDB's may in a write txn).
 * Memory comes from al_malloc (fault points); al__ov_bytes says how much is held, so that
 * the fold writes the overlay out and starts again when it passes its budget.
 */
#ifndef AL_OVERLAY_H
#define AL_OVERLAY_H

#include <lmdb.h>
#include <stdbool.h>

#include "adminlog.h"

struct al_wtxn;
typedef struct al_ov al_ov;

/* al__ov_get / _put / _del / _range: the sub-database is not covered, or (get) the key is
 * not in the overlay and LMDB may hold it: ask LMDB. */
#define AL_OV_MISS 1

/* A new empty overlay (AL_ENO_MEMORY when it cannot be made); al__ov_free frees (NULL ok). */
int al__ov_new(al_ov **out);
void al__ov_free(al_ov *o);
/* Covers sub-database dbi. empty: LMDB holds no row of it (dropped, or to be dropped before
 * the overlay is written), so LMDB is never read for it and the write appends.
 * AL_ENO_MEMORY never; AL_EINVALID_ARGUMENT for a dbi the overlay cannot index. */
int al__ov_cover(al_ov *o, MDB_dbi dbi, bool empty);
/* Makes room for n more entries of sub-database dbi at once (a size hint: the views' row
 * counts before a rebuild), so that the tables do not grow and rehash step by step. */
int al__ov_reserve(al_ov *o, MDB_dbi dbi, size_t n);
/* Bytes held (arena and tables). */
size_t al__ov_bytes(const al_ov *o);

/* 0 and *out (valid as said above), MDB_NOTFOUND (deleted, or absent from an empty view), or
 * AL_OV_MISS. */
int al__ov_get(al_ov *o, MDB_dbi dbi, const void *k, size_t kn, MDB_val *out);
/* AL_OK, AL_ENO_MEMORY (the overlay is then unchanged for that key) or AL_OV_MISS. v may
 * point into the overlay itself (a value read back). */
int al__ov_put(al_ov *o, MDB_dbi dbi, const void *k, size_t kn, const void *v, size_t vn);
int al__ov_del(al_ov *o, MDB_dbi dbi, const void *k, size_t kn);

/* The overlay's entries of one sub-database whose keys start with a prefix, in LMDB's key
 * order, tombstones included: a cursor over the view merges them with LMDB's keys. */
typedef struct al_ov_iter {
	al_ov *o;
	unsigned db;
	size_t i, end;
	bool lmdb;  /* LMDB may hold rows of this sub-database: merge them */
} al_ov_iter;
/* AL_OK, AL_ENO_MEMORY (sorting needs room) or AL_OV_MISS. */
int al__ov_range(al_ov *o, MDB_dbi dbi, const void *prefix, size_t pn, al_ov_iter *it);
/* The next entry: false at the end. *deleted for a tombstone (v is then empty). */
bool al__ov_next(al_ov_iter *it, MDB_val *k, MDB_val *v, bool *deleted);

/* Readies n bytes of new memory at p for writing at once (huge pages, faulted in by one
 * call) rather than a page fault per 4 KiB page as they are first written. A hint. */
void al__ov_mem_ready(void *p, size_t n);

/* LMDB's default key order (mdb_cmp_memn): bytes, then the shorter first. */
int al__key_cmp(const void *a, size_t an, const void *b, size_t bn);

/* Roughly how many bytes of pages writing the overlay adds to the data file (page size psize),
 * so the map can be grown once beforehand rather than the write rerun on MDB_MAP_FULL. */
size_t al__ov_load_bytes(const al_ov *o, size_t psize);
/* Where al__ov_write stopped: a sub-database (in al__ov_cover order), an entry in key order. */
typedef struct al_ov_pos {
	size_t db, i;
} al_ov_pos;
/* Writes the entries from *pos on into LMDB in w, sub-database by sub-database in key order:
 * appended (MDB_APPEND) into one that was empty, put or deleted otherwise; stops after about
 * limit bytes of keys and values (so that one transaction's dirty pages stay bounded) and
 * moves *pos past what it wrote. Changes no entry, so a transaction rerun by al__store_write
 * may write the same range again. */
int al__ov_write(al_ov *o, struct al_wtxn *w, al_ov_pos *pos, size_t limit, al_error *err);
/* Starts sorting the views, one after the other, on a thread of its own, so that al__ov_write
 * finds the next view sorted while it writes one (for a large overlay only; nothing when no
 * thread can be had). Until al__ov_clear or al__ov_free, nothing but al__ov_write may touch
 * the overlay. */
void al__ov_presort(al_ov *o);
/* Every entry is written once al__ov_write has moved pos here. */
bool al__ov_written(const al_ov *o, const al_ov_pos *pos);
/* Forgets every entry once everything al__ov_write wrote is committed: the sub-databases it
 * wrote rows into are no longer empty. */
void al__ov_clear(al_ov *o);

#endif
