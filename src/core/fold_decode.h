/*
 * fold_decode.h - reading and decoding the log ahead of a fold, on a thread of its own.
 *
 * A rebuild spends about half of its time reading and decoding records. The decoder thread
 * does that on the machine's other core, in batches, with a read transaction of its own (the
 * decoded events point into its snapshot and its zones), while the fold applies the events
 * of the previous batches, taken a block at a time. Each record's checksum is checked as its
 * block is handed over, on the fold's thread (the decoder's is the busier). The events come
 * out in seq order, exactly as al__log_read would give them and checked as it checks them; a
 * damaged or missing event ends the stream with its error.
 */
#ifndef AL_FOLD_DECODE_H
#define AL_FOLD_DECODE_H

#include "core/store.h"

typedef struct al_decoder al_decoder;

/* Starts decoding events from..to of s's log; NULL (nothing started) when no thread or memory
 * could be had: the caller then decodes them itself. */
al_decoder *al__decoder_start(al_store *s, uint64_t from, uint64_t to);
/* The next block of *n (>= 1) events in seq order, valid until the next call: the fold takes
 * the lock once per block, not per event. NULL at the end of the stream, with *rc AL_OK when
 * every event through `to` came out, else the error (in *err); a damaged event ends the
 * stream after a block of the events before it. */
const al_event *al__decoder_block(al_decoder *d, size_t *n, int *rc, al_error *err);
/* The next event, from the blocks in turn: valid until the next call; NULL at the end as
 * al__decoder_block says. Use one or the other on a decoder, not both. */
const al_event *al__decoder_next(al_decoder *d, int *rc, al_error *err);
/* Stops the thread (also before the end of the stream) and frees everything. */
void al__decoder_stop(al_decoder *d);

#endif
