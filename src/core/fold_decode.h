/*
 * fold_decode.h - reading and decoding the log ahead of a fold, on a thread of its own.
 *
 * A rebuild spends about a third of its time checking and decoding records. The decoder
 * thread does that on the machine's other core, in batches, with a read transaction of its
 * own (the decoded events point into its snapshot and its zones), while the fold applies the
 * events of the previous batch. The events come out in seq order, exactly as al__log_read
 * would give them; a damaged or missing event ends the stream with its error.
 */
#ifndef AL_FOLD_DECODE_H
#define AL_FOLD_DECODE_H

#include "core/store.h"

typedef struct al_decoder al_decoder;

/* Starts decoding events from..to of s's log; NULL (nothing started) when no thread or memory
 * could be had: the caller then decodes them itself. */
al_decoder *al__decoder_start(al_store *s, uint64_t from, uint64_t to);
/* The next event, valid until the call after next; NULL at the end of the stream, with *rc
 * AL_OK when every event through `to` came out, else the error (in *err). */
const al_event *al__decoder_next(al_decoder *d, int *rc, al_error *err);
/* Stops the thread (also before the end of the stream) and frees everything. */
void al__decoder_stop(al_decoder *d);

#endif
