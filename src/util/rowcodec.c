/* rowcodec.c - packing and reading compact view rows (rowcodec.h). */
#include <string.h>

#include "util/rowcodec.h"

size_t al_row_strings_len(const al_row_def *d, const void *row)
{
	size_t n = 0;
	for (size_t i = 0; i < d->ncols; i++)
		if (d->cols[i].type == AL_COL_STR)
			n += ((const al_str *)((const char *)row + d->cols[i].off))->n;
	return n;
}

void al_row_move_strings(const al_row_def *d, void *row, char *dst)
{
	for (size_t i = 0; i < d->ncols; i++)
		if (d->cols[i].type == AL_COL_STR) {
			al_str *s = (al_str *)((char *)row + d->cols[i].off);
			if (s->n)
				memcpy(dst, s->p, s->n);
			s->p = dst;
			dst += s->n;
		}
}

void al_row_clear(const al_row_def *d, void *row)
{
	for (size_t i = 0; i < d->ncols; i++) {
		char *p = (char *)row + d->cols[i].off;
		switch (d->cols[i].type) {
		case AL_COL_STR:
			*(al_str *)p = (al_str){"", 0};
			break;
		case AL_COL_INT:
			*(int64_t *)p = 0;
			break;
		default:
			*(bool *)p = false;
		}
	}
}

void al_row_pack(msgpack_packer *pk, const al_row_def *d, const void *row)
{
	msgpack_pack_array(pk, (uint32_t)d->ncols);
	for (size_t i = 0; i < d->ncols; i++) {
		const char *p = (const char *)row + d->cols[i].off;
		switch (d->cols[i].type) {
		case AL_COL_STR:
			al_pack_str(pk, ((const al_str *)p)->p, ((const al_str *)p)->n);
			break;
		case AL_COL_INT:
			msgpack_pack_int64(pk, *(const int64_t *)p);
			break;
		default:
			*(const bool *)p ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
		}
	}
}

/* Stores v in column c of row when v has the column's type; 0 stored, -1 not. */
static int set_col(const al_col_def *c, void *row, const msgpack_object *v)
{
	char *p = (char *)row + c->off;
	switch (c->type) {
	case AL_COL_STR:
		if (v->type != MSGPACK_OBJECT_STR)
			return -1;
		*(al_str *)p = (al_str){v->via.str.ptr, v->via.str.size};
		return 0;
	case AL_COL_INT:
		if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX)
			*(int64_t *)p = (int64_t)v->via.u64;
		else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
			*(int64_t *)p = v->via.i64;
		else
			return -1;
		return 0;
	default:
		if (v->type != MSGPACK_OBJECT_BOOLEAN)
			return -1;
		*(bool *)p = v->via.boolean;
		return 0;
	}
}

int al_row_read(const al_row_def *d, const msgpack_object *o, void *row)
{
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != d->ncols)
		return -1;
	for (size_t i = 0; i < d->ncols; i++)
		if (set_col(&d->cols[i], row, &o->via.array.ptr[i]))
			return -1;
	return 0;
}

int al_row_col(const al_row_def *d, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < d->ncols; i++)
		if (d->cols[i].len == n && memcmp(d->cols[i].name, name, n) == 0)
			return (int)i;
	return -1;
}

int al_row_decode(const al_row_def *d, const void *p, size_t n, msgpack_zone *z, void *row)
{
	msgpack_object o;
	return al_mp_decode(p, n, z, &o) != 0 || al_row_read(d, &o, row) != 0 ? -1 : 0;
}

void al_row_set(const al_row_def *d, void *row, const msgpack_object *m)
{
	if (m->type != MSGPACK_OBJECT_MAP)
		return;
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key;
		if (k->type != MSGPACK_OBJECT_STR)
			continue;
		for (size_t c = 0; c < d->ncols; c++)
			if (k->via.str.size == d->cols[c].len && memcmp(k->via.str.ptr, d->cols[c].name, d->cols[c].len) == 0) {
				set_col(&d->cols[c], row, &m->via.map.ptr[i].val);
				break;
			}
	}
}
