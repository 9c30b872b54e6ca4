/*
 * log_index.h - the audit indexes idx_actor and idx_type, kept in bulk.
 *
 * idx_entity is written with every event: entity versions and histories need it at once.
 * The two audit indexes are not: a write transaction that leaves them AL_IDX_LAG or more
 * events behind the head adds every missing entry in one sorted pass (appends to the same
 * few keys), and meta "idx" records the seq they are complete to. A durable one-command
 * commit so writes two fewer B-trees, and a batch writes them key by key. Readers take the
 * events after "idx" (fewer than AL_IDX_LAG, plus one transaction's worth) from the log.
 * A store without "idx" (written before this) has both indexes complete to its head.
 * The store keeps the notes of the events its own commits appended since "idx", so the
 * transaction that indexes them need not read them back (log_index.c, "kept between
 * transactions").
 */
#ifndef AL_LOG_INDEX_H
#define AL_LOG_INDEX_H

#include "core/store.h"

#define AL_IDX_LAG 256

/* Reads meta "idx" into w at the start of a write transaction (after the head). */
int al__idx_load(al_wtxn *w, al_error *err);
/* Notes event seq (its type and actor) for the indexes; called by every append. */
int al__idx_note(al_wtxn *w, uint64_t seq, unsigned type, al_str actor, al_error *err);
/* At the end of a write transaction that moved the head: indexes the missing events when
 * they are AL_IDX_LAG or more, and records how far the indexes go. */
int al__idx_flush(al_wtxn *w, al_error *err);
/* The seq idx_actor and idx_type are complete to in txn, at most head (any upper bound of the
 * reader's range: the head, a time bound, an as-of point); head when meta has no "idx". */
int al__idx_seq(al_store *s, MDB_txn *txn, uint64_t head, uint64_t *out, al_error *err);
/* Frees the notes the store keeps (at close). */
void al__idx_free(al_store *s);

#endif
