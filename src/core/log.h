/*
 * log.h - the append-only event log: appending records with their chain hash and indexes,
 * reading them back (checked and upcast), and the entity version used for optimistic
 * concurrency.
 */
#ifndef AL_LOG_H
#define AL_LOG_H

#include "core/record.h"
#include "core/store.h"
#include "util/codec.h"

#define AL_MAX_ID 400 /* bytes of an entity id; keeps "kind:id" inside LMDB's key limit */

/*
 * Appends one event at seq head+1: seals the record (record.h), chains it, writes the
 * events entry and the entity/actor/type indexes, then decodes it into *e (valid until the
 * next append on w) exactly as a reader would, so projections see the same thing live and on
 * rebuild. time_us must not be below the previous event's time.
 */
int al__log_append(al_wtxn *w, unsigned type, unsigned version, int64_t time_us,
		   const void *payload, size_t plen, al_event *e, al_error *err);
/* The same for a payload the caller packed itself (al__emit), described by *e already (def,
 * time_us, actor, kind, id and the other envelope strings, which must stay valid while
 * projections apply it): only the fields map, at fields_off in payload, is decoded; the
 * record is not re-read. Sets e->seq and e->fields. */
int al__log_append_event(al_wtxn *w, const void *payload, size_t plen, size_t fields_off, al_event *e,
			 al_error *err);
/* Stores an already sealed and checked record (with its chain hash) as event e->seq = head+1,
 * with its indexes; used to copy a log prefix byte for byte. */
int al__log_put_record(al_wtxn *w, const void *rec, size_t len, const al_rec_header *h, const al_event *e,
		       al_error *err);
/* Decodes a checked record's payload into *e (upcast to the current version). */
int al__event_decode(const al_rec_header *h, const void *payload, uint64_t seq,
		     msgpack_zone *zone, al_event *e, al_error *err);
/* Reads event seq; AL_ENOT_FOUND past the head, AL_ECORRUPT for damaged bytes. */
int al__log_read(al_store *s, MDB_txn *txn, uint64_t seq, msgpack_zone *zone, al_event *e,
		 al_error *err);
/* Number of events recorded for kind:id (its version) into *out; AL_EIO_ERROR when the index
 * cannot be read. */
int al__entity_version(al_store *s, MDB_txn *txn, const char *kind, al_str id, uint64_t *out, al_error *err);
/* The same for a packer that cannot return an error: 0 then, and the error kept in *fail
 * unless it holds one already (fail->code != AL_OK). */
uint64_t al__entity_version_or(al_store *s, MDB_txn *txn, const char *kind, al_str id, al_error *fail);
/*
 * Where the log of a store is read. A store reads its own; an as-of store (al_store_asof) has
 * no log of its own and reads its source's, up to the as-of point: the one place that bound is
 * applied (al_store.log_src, log_bound). Every reader of events or log indexes goes through it.
 */
typedef struct al_logv {
	al_store *s;    /* the store whose events and indexes are read */
	MDB_txn *txn;   /* a read transaction on s */
	uint64_t bound; /* the last seq that may be seen; UINT64_MAX: the whole log */
	bool own_txn;   /* txn was begun here, and al__logv_end aborts it */
} al_logv;
/* The log as s sees it; txn is the caller's transaction on s (used as is for s's own log). A
 * source's log is read in a read transaction of its own: the log only grows, so any snapshot
 * holds the same events up to the bound. */
int al__logv_begin(al_store *s, MDB_txn *txn, al_logv *v, al_error *err);
void al__logv_end(al_logv *v);
/* The last seq the view shows: the bound, or the head of the store's own log. */
int al__logv_head(const al_logv *v, uint64_t *head, al_error *err);

/* Head seq as committed in txn (0 for an empty log) into *head. */
int al__log_head_in(al_store *s, MDB_txn *txn, uint64_t *head, al_error *err);
/* "kind:id" into buf; returns its length, or 0 when it does not fit. */
size_t al__entity_key(char *buf, size_t n, const char *kind, size_t kn, const char *id, size_t idn);

#endif
