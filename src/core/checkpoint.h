/*
 * checkpoint.h - view checkpoints: a copy of every view at one event of the log, kept beside the
 * store, from which al_store_asof starts instead of folding from the first event.
 *
 * On disk (docs/format.md, "Checkpoints"): DIR/checkpoints/<seq, 20 digits>/ holds data.mdb, a
 * views-only LMDB environment (every v_* sub-database copied with MDB_APPEND, and a meta
 * sub-database in the store's own layout: format, head, projection cursors, so that a copy of
 * the file is a scratch store as it stands), and `checkpoint`, the header that says what it is
 * and whether it may be trusted (below). A checkpoint is written under a temporary name
 * (.tmp-<seq>-<pid>-<n>), synced, and renamed into place; only 20-digit names are ever read.
 *
 * The header (all integers big-endian):
 *   OFFSET SIZE DESCRIPTION
 *        0    6 magic "ALCKPT"
 *        6    2 checkpoint format version (1)
 *        8    4 record format version of the store (AL_FORMAT_VERSION)
 *       12    4 number of projections P
 *       16    8 seq N0: the views are the state after event N0
 *       24   32 chain hash of event N0 (the log it belongs to: another store's, or a rewritten
 *               log, has another hash there)
 *       56    8 time of event N0, µs
 *       64    8 size of data.mdb in bytes
 *       72   16 xxh3-128 of data.mdb
 *       88    . P times: name length L (1), name (L), projection version (4), in the order of
 *               al__projections[]
 *      end   16 xxh3-128 of every byte before it
 * A checkpoint is used only when all of it matches: the header's own hash, the versions (this
 * build's projections, names and versions, in order), the chain hash of event N0 in the log
 * read, and the size and hash of data.mdb, checked while it is copied. Anything else is
 * skipped (the next older one is tried, then a fold from the first event), never trusted.
 */
#ifndef AL_CHECKPOINT_H
#define AL_CHECKPOINT_H

#include "core/log.h"

#define AL_CKPT_DIR "checkpoints"
/* The pruning policy keeps one checkpoint per K events for the last AL_CKPT_WINDOW * K events,
 * then one per AL_CKPT_WINDOW * K (at K = 65536: one per 64 Ki events for the last ~1M, then
 * one per ~1M), and always the newest. */
#define AL_CKPT_WINDOW 16

/*
 * Copies into dir/data.mdb the newest usable checkpoint of lv's store with a seq at or before n
 * (checking it as it goes, see above); *base gets its seq and *bytes its size, both 0 when none
 * is usable (dir is then left empty). Skipped checkpoints are told to the store's log.
 * @return AL_OK, or AL_EIO_ERROR when dir cannot be written (a checkpoint that cannot be read
 *         is skipped, not an error).
 */
int al__ckpt_restore(const al_logv *lv, uint64_t n, const char *dir, uint64_t *base, uint64_t *bytes,
		     al_error *err);

/* For tests: called with 1 (views written, not synced), 2 (data.mdb synced and hashed, no
 * header yet) and 3 (header written, not renamed into place) while a checkpoint is written. */
extern void (*al__ckpt_hook)(int stage);

#endif
