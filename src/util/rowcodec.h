/*
 * rowcodec.h - compact view rows: a row is a C struct described by a column table, stored as
 * a msgpack array of its columns (no key names). The tables are generated from
 * schemas/rows.def (core/rows.h); this is the generic half that packs and reads them.
 */
#ifndef AL_ROWCODEC_H
#define AL_ROWCODEC_H

#include <stdbool.h>
#include <stddef.h>

#include "util/codec.h"

enum al_col_type { AL_COL_STR, AL_COL_INT, AL_COL_BOOL };

typedef struct al_col_def {
	const char *name;
	unsigned char len; /* strlen(name) */
	unsigned char type; /* enum al_col_type */
	unsigned short off; /* offset of the member in the row struct */
} al_col_def;

typedef struct al_row_def {
	const char *name;
	const al_col_def *cols;
	size_t ncols;
	size_t size; /* sizeof the row struct */
} al_row_def;

/* Every string member "" and every other member 0 / false. */
void al_row_clear(const al_row_def *d, void *row);
/* Packs row as the array of its columns. */
void al_row_pack(msgpack_packer *pk, const al_row_def *d, const void *row);
/* The bytes al_row_pack makes of row: how many, and written at out (room for
 * al_row_packed_size bytes), returning their end. No allocation: a fold packs every row it
 * held this way, once, when it writes its views. */
size_t al_row_packed_size(const al_row_def *d, const void *row);
char *al_row_pack_to(char *out, const al_row_def *d, const void *row);
/* Reads a stored row (an array of exactly d's columns, each of its type) into row; strings
 * point into o's memory. -1 (row unchanged in part) when o is not such an array. */
int al_row_read(const al_row_def *d, const msgpack_object *o, void *row);
/* al_row_read of the stored bytes p[0..n), decoded into zone z: 0, or -1 when they are not a
 * row of d. */
int al_row_decode(const al_row_def *d, const void *p, size_t n, msgpack_zone *z, void *row);
/* Overwrites the members of row named in map m (an event's fields) that have their column's
 * type; other keys are ignored. */
void al_row_set(const al_row_def *d, void *row, const msgpack_object *m);
/* The bytes the row's strings take together. */
size_t al_row_strings_len(const al_row_def *d, const void *row);
/* Copies the row's strings one after another into dst (al_row_strings_len bytes) and points
 * the row's strings at the copies: one allocation per row instead of one per column. */
void al_row_move_strings(const al_row_def *d, void *row, char *dst);
/* The column named name, or -1. */
int al_row_col(const al_row_def *d, const char *name);

#endif
