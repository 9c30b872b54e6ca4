/* rows.c - the column tables of schemas/rows.def (rows.h). */
#include <stddef.h>

#include "core/rows.h"

#define AL_ROW_COLDEF(row, member, type) \
	{#member, sizeof #member - 1, AL_COL_##type, offsetof(al_row_##row, member)},
#define AL_ROW(name, doc)                                                      \
	static const al_col_def name##_cols[] = {AL_COLS_##name(AL_ROW_COLDEF)}; \
	const al_row_def al_row_##name##_def = {#name, name##_cols, sizeof name##_cols / sizeof *name##_cols, \
						sizeof(al_row_##name)};
#include "rows.def"
#undef AL_ROW
