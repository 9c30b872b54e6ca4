/*
 * row.h - helpers for the nouns' view rows (msgpack maps), shared by every noun: the generic
 * half of a projection's row building, so that no noun borrows it from another.
 */
#ifndef AL_ROW_H
#define AL_ROW_H

#include "util/codec.h"

/* Packs key name and its value for a view row: from over (an event's fields) when it has the
 * key, else from base (the old row, may be NULL), else the empty value of kind dflt
 * ('s' "", 'm' {}, 'a' [], 'b' true, 'i' 0). */
void al__row_col(msgpack_packer *pk, const char *name, char dflt, const msgpack_object *base,
		 const msgpack_object *over);

/* Packs the row's created_at and modified_at columns (microseconds). */
void al__row_times(msgpack_packer *pk, int64_t created_at, int64_t modified_at);

/* Adds every column of row (a map) to out, created_at and modified_at formatted as times: the
 * public view of a row whose other columns are shown as they are. */
void al__row_public_cols(al_mb *out, const msgpack_object *row);

#endif
