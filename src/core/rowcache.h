/*
 * rowcache.h - decoded view rows kept for the rest of a write transaction.
 *
 * A command reads a row, its event's projection reads and rewrites the same row, and the
 * reply reads it once more: without this each read is a B-tree lookup and a decode. Rows are
 * cached by (sub-database, key) as structs of a schemas/rows.def kind, their strings copied
 * into the transaction's arena. al__view_put and al__view_del forget the key, so a stale row
 * is never served; a projection that writes a row through the cache puts it back after.
 * The cache is emptied when a write transaction starts (including a rerun after MAP_FULL).
 */
#ifndef AL_ROWCACHE_H
#define AL_ROWCACHE_H

#include "core/store.h"
#include "util/rowcodec.h"

/* 1 and the row in *row when (dbi, key) is cached as kind d; 0 when not. */
int al__rc_get(al_wtxn *w, MDB_dbi dbi, al_str key, const al_row_def *d, void *row);
/* Caches row (copied) for (dbi, key); silently skipped when memory runs out. */
void al__rc_put(al_wtxn *w, MDB_dbi dbi, al_str key, const al_row_def *d, const void *row);
/* Forgets (dbi, key). */
void al__rc_forget(al_wtxn *w, MDB_dbi dbi, const void *key, size_t kn);
/* Empties the cache (a new transaction) and frees it (the end of al__store_write). */
void al__rc_reset(al_wtxn *w);
void al__rc_free(al_wtxn *w);

#endif
