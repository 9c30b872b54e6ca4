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

/* ---- the same bytes written straight into a buffer ---------------------------------------- */

/* The sizes and bytes msgpack-c's packer gives (msgpack_pack_array, _str, _int64, _true,
 * _false): al_row_pack_to must write exactly what al_row_pack does (a fold's views are
 * compared with the live ones byte for byte). */
static size_t len_hdr(size_t n, size_t small) { return n < small ? 1 : n < 65536 ? 3 : 5; }
static size_t str_size(size_t n) { return (n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5) + n; }

static size_t int_size(int64_t v)
{
	if (v < -(1LL << 5))
		return v < -(1LL << 15) ? (v < -(1LL << 31) ? 9 : 5) : (v < -(1LL << 7) ? 3 : 2);
	if (v < (1LL << 7))
		return 1;
	return v < (1LL << 16) ? (v < (1LL << 8) ? 2 : 3) : (v < (1LL << 32) ? 5 : 9);
}

size_t al_row_packed_size(const al_row_def *d, const void *row)
{
	size_t n = len_hdr(d->ncols, 16);
	for (size_t i = 0; i < d->ncols; i++) {
		const char *p = (const char *)row + d->cols[i].off;
		if (d->cols[i].type == AL_COL_STR)
			n += str_size(((const al_str *)p)->n);
		else
			n += d->cols[i].type == AL_COL_INT ? int_size(*(const int64_t *)p) : 1;
	}
	return n;
}

/* A type byte then v in `bytes` bytes, big-endian. */
static char *put_be(char *o, unsigned char type, uint64_t v, int bytes)
{
	*o++ = (char)type;
	for (int b = bytes - 1; b >= 0; b--)
		*o++ = (char)(v >> (8 * b));
	return o;
}

static char *put_len(char *o, size_t n, size_t small, unsigned char fix, unsigned char t16, unsigned char t32)
{
	if (n < small) {
		*o++ = (char)(fix | n);
		return o;
	}
	return n < 65536 ? put_be(o, t16, n, 2) : put_be(o, t32, n, 4);
}

static char *put_int(char *o, int64_t v)
{
	if (v < -(1LL << 5)) {
		if (v < -(1LL << 15))
			return v < -(1LL << 31) ? put_be(o, 0xd3, (uint64_t)v, 8) : put_be(o, 0xd2, (uint64_t)v, 4);
		return v < -(1LL << 7) ? put_be(o, 0xd1, (uint64_t)v, 2) : put_be(o, 0xd0, (uint64_t)v, 1);
	}
	if (v < (1LL << 7)) {
		*o++ = (char)v;
		return o;
	}
	if (v < (1LL << 16))
		return v < (1LL << 8) ? put_be(o, 0xcc, (uint64_t)v, 1) : put_be(o, 0xcd, (uint64_t)v, 2);
	return v < (1LL << 32) ? put_be(o, 0xce, (uint64_t)v, 4) : put_be(o, 0xcf, (uint64_t)v, 8);
}

char *al_row_pack_to(char *o, const al_row_def *d, const void *row)
{
	o = put_len(o, d->ncols, 16, 0x90, 0xdc, 0xdd);
	for (size_t i = 0; i < d->ncols; i++) {
		const char *p = (const char *)row + d->cols[i].off;
		if (d->cols[i].type == AL_COL_STR) {
			const al_str *s = (const al_str *)p;
			o = s->n < 256 && s->n >= 32 ? put_be(o, 0xd9, s->n, 1) : put_len(o, s->n, 32, 0xa0, 0xda, 0xdb);
			if (s->n)
				memcpy(o, s->p, s->n);
			o += s->n;
		} else if (d->cols[i].type == AL_COL_INT)
			o = put_int(o, *(const int64_t *)p);
		else
			*o++ = *(const bool *)p ? (char)0xc3 : (char)0xc2;
	}
	return o;
}

/* Stores v in column c of row when v has the column's type; 0 stored, -1 not. */
static int set_col(const al_col_def *c, void *row, const msgpack_object *v)
{
	char *p = (char *)row + c->off;
	switch (c->type) {
	case AL_COL_STR:
		if (v->type != MSGPACK_OBJECT_STR)
			return -1;
		/* msgpack-c decodes an empty string as NULL; a row's strings are never NULL (they are
		 * copied with memcpy, which must not be given NULL even for 0 bytes). */
		*(al_str *)p = v->via.str.size ? (al_str){v->via.str.ptr, v->via.str.size} : (al_str){"", 0};
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
