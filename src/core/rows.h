/*
 * rows.h - the row structs and column tables generated from schemas/rows.def: for each
 * AL_ROW(name, ...), the struct al_row_<name> and its column table al_row_<name>_def.
 */
#ifndef AL_ROWS_H
#define AL_ROWS_H

#include "util/rowcodec.h"

#define AL_COLT_STR al_str
#define AL_COLT_INT int64_t
#define AL_COLT_BOOL bool
#define AL_ROW_MEMBER(row, member, type) AL_COLT_##type member;
#define AL_ROW(name, doc)                                     \
	typedef struct al_row_##name {                        \
		AL_COLS_##name(AL_ROW_MEMBER)                 \
	} al_row_##name;                                      \
	extern const al_row_def al_row_##name##_def;
#include "rows.def"
#undef AL_ROW

#endif
