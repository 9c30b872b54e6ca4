/*
 * foldrows.h - a fold's compact rows kept decoded.
 *
 * Folding a million updates of 100k users would unpack and repack a user row per event; a
 * fold instead keeps every compact row (schemas/rows.def) it reads or writes as its struct,
 * and packs the ones it changed into the overlay (overlay.h) once, before the overlay is
 * written out or measured against its budget. The rows are the fold's alone: its projections
 * read them back through al__view_get_typed, and an untyped read or write of the same key
 * first puts the row back into the overlay (al__fr_sync).
 */
#ifndef AL_FOLDROWS_H
#define AL_FOLDROWS_H

#include <lmdb.h>

#include "core/overlay.h"
#include "util/rowcodec.h"

typedef struct al_fr al_fr;

int al__fr_new(al_fr **out);
void al__fr_free(al_fr *f);
/* 1 and *row (its strings in f's memory) when (dbi, key) is held as kind d; 0 when not. */
int al__fr_get(al_fr *f, MDB_dbi dbi, const void *k, size_t kn, const al_row_def *d, void *row);
/* Holds row for (dbi, key), its strings copied; dirty: to be packed into the overlay.
 * AL_OK or AL_ENO_MEMORY. */
int al__fr_put(al_fr *f, MDB_dbi dbi, const void *k, size_t kn, const al_row_def *d, const void *row, bool dirty);
/* Packs every dirty row into ov (then they are clean). AL_OK or AL_ENO_MEMORY. */
int al__fr_flush(al_fr *f, al_ov *ov);
/* Puts (dbi, key) back into ov if dirty, and forgets it: for an untyped access of the key. */
int al__fr_sync(al_fr *f, al_ov *ov, MDB_dbi dbi, const void *k, size_t kn);
/* Bytes held. */
size_t al__fr_bytes(const al_fr *f);

#endif
