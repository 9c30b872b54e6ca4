/* codec.c - msgpack helpers: map builder, lookups, decoding. */
#include <stdlib.h>
#include <time.h>

#include "util/codec.h"
#include "util/fault.h"

void al_mb_init(al_mb *mb)
{
	msgpack_sbuffer_init(&mb->body);
	msgpack_packer_init(&mb->pk, &mb->body, al_sbuffer_write);
	mb->n = 0;
}

void al_mb_free(al_mb *mb)
{
	if (mb)
		al_sbuffer_destroy(&mb->body);
}

void al_mb_reset(al_mb *mb)
{
	mb->body.size = 0;
	mb->n = 0;
}

void al_pack_str(msgpack_packer *pk, const char *s, size_t n)
{
	/* Most strings are short: their header and bytes go out in one write (the bytes are
	 * what msgpack_pack_str would write, a fixstr header for up to 31 bytes). */
	if (n < 32) {
		char buf[32];
		buf[0] = (char)(0xa0 | n);
		if (n) /* an empty al_str may be {NULL, 0} (a zeroed row, a copied empty string) */
			memcpy(buf + 1, s, n);
		pk->callback(pk->data, buf, n + 1);
		return;
	}
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

void al_pack_cstr(msgpack_packer *pk, const char *s) { al_pack_str(pk, s, strlen(s)); }

int al_kv_cmp(const void *a, const void *b)
{
	const msgpack_object_str *x = &((const msgpack_object_kv *)a)->key.via.str,
				 *y = &((const msgpack_object_kv *)b)->key.via.str;
	int r = memcmp(x->ptr, y->ptr, x->size < y->size ? x->size : y->size);
	return r ? r : (x->size > y->size) - (x->size < y->size);
}

void al_pack_kv_sorted(msgpack_packer *pk, msgpack_object_kv *kv, uint32_t n)
{
	if (n > 1)
		qsort(kv, n, sizeof *kv, al_kv_cmp);
	msgpack_pack_map(pk, n);
	for (uint32_t i = 0; i < n; i++) {
		msgpack_pack_object(pk, kv[i].key);
		msgpack_pack_object(pk, kv[i].val);
	}
}

msgpack_packer *al_mb_key(al_mb *mb, const char *key)
{
	mb->n++;
	al_pack_cstr(&mb->pk, key);
	return &mb->pk;
}

void al_mb_str(al_mb *mb, const char *key, const char *v, size_t n)
{
	al_pack_str(al_mb_key(mb, key), v, n);
}

void al_mb_cstr(al_mb *mb, const char *key, const char *v) { al_mb_str(mb, key, v, strlen(v)); }

void al_mb_int(al_mb *mb, const char *key, int64_t v) { msgpack_pack_int64(al_mb_key(mb, key), v); }

void al_mb_bool(al_mb *mb, const char *key, bool v)
{
	msgpack_packer *pk = al_mb_key(mb, key);
	v ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
}

void al_mb_obj(al_mb *mb, const char *key, const msgpack_object *v)
{
	msgpack_pack_object(al_mb_key(mb, key), *v);
}

void al_mb_finish(const al_mb *mb, msgpack_packer *out)
{
	msgpack_pack_map(out, mb->n);
	if (mb->body.size)
		out->callback(out->data, mb->body.data, mb->body.size);
}

void al_mb_to_sbuffer(const al_mb *mb, msgpack_sbuffer *out)
{
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, al_sbuffer_write);
	al_mb_finish(mb, &pk);
}

const msgpack_object *al_mp_get(const msgpack_object *map, const char *key)
{
	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	size_t n = strlen(key);
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
		    memcmp(k->via.str.ptr, key, n) == 0)
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

int al_mp_str(const msgpack_object *map, const char *key, al_str *out)
{
	const msgpack_object *v = al_mp_get(map, key);
	if (v == NULL || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type != MSGPACK_OBJECT_STR)
		return -1;
	out->p = v->via.str.ptr;
	out->n = v->via.str.size;
	return 1;
}

int al_mp_int(const msgpack_object *map, const char *key, int64_t *out)
{
	const msgpack_object *v = al_mp_get(map, key);
	if (v == NULL || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (v->via.u64 > INT64_MAX)
			return -1;
		*out = (int64_t)v->via.u64;
		return 1;
	}
	if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*out = v->via.i64;
		return 1;
	}
	return -1;
}

int al_mp_bool(const msgpack_object *map, const char *key, bool *out)
{
	const msgpack_object *v = al_mp_get(map, key);
	if (v == NULL || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type != MSGPACK_OBJECT_BOOLEAN)
		return -1;
	*out = v->via.boolean;
	return 1;
}

bool al_mp_str_eq(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);
	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
	       memcmp(o->via.str.ptr, s, n) == 0;
}

char *al_str_cpy(char *buf, size_t n, al_str s)
{
	size_t m = s.n < n - 1 ? s.n : n - 1;
	memcpy(buf, s.p, m);
	buf[m] = 0;
	return buf;
}

void al_repack_init(al_repack *r)
{
	msgpack_sbuffer_init(&r->sb);
	msgpack_packer_init(&r->pk, &r->sb, al_sbuffer_write);
	msgpack_zone_init(&r->z, 512);
}

int al_repack_decode(al_repack *r, msgpack_object *out) { return al_mp_decode(r->sb.data, r->sb.size, &r->z, out); }

void al_repack_destroy(al_repack *r)
{
	msgpack_zone_destroy(&r->z);
	al_sbuffer_destroy(&r->sb);
}

void al_packed2_init(al_packed2 *p)
{
	msgpack_sbuffer_init(&p->a);
	msgpack_sbuffer_init(&p->b);
	msgpack_packer_init(&p->pa, &p->a, al_sbuffer_write);
	msgpack_packer_init(&p->pb, &p->b, al_sbuffer_write);
}

bool al_packed2_same(const al_packed2 *p) { return p->a.size == p->b.size && memcmp(p->a.data, p->b.data, p->a.size) == 0; }

void al_packed2_destroy(al_packed2 *p)
{
	al_sbuffer_destroy(&p->a);
	al_sbuffer_destroy(&p->b);
}

int al_mp_decode(const void *buf, size_t len, msgpack_zone *zone, msgpack_object *out)
{
	/* The zone's allocations are msgpack-c's own: a decode is their one fault point. */
	if (al__fault(AL_FAULT_ALLOC)) {
		al__nomem();
		return -2;
	}
	size_t off = 0;
	msgpack_unpack_return r = msgpack_unpack(buf, len, &off, zone, out);
	if (r == MSGPACK_UNPACK_SUCCESS && off == len)
		return 0;
	if (r == MSGPACK_UNPACK_NOMEM_ERROR) {
		al__nomem();
		return -2;
	}
	return -1;
}

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

int al_mp_check(const void *buf, size_t len)
{
	const unsigned char *p = buf, *end = p + len;
	uint64_t need = 1; /* values still to read; each takes at least one byte */
	while (need > 0) {
		if (p >= end || need > (uint64_t)(end - p))
			return -1;
		need--;
		unsigned c = *p++;
		uint64_t skip = 0, items = 0;
		int hdr = 0;
		if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
			continue;
		if (c >= 0x80 && c <= 0x8f)
			items = 2 * (uint64_t)(c & 0x0f);
		else if (c >= 0x90 && c <= 0x9f)
			items = c & 0x0f;
		else if (c >= 0xa0 && c <= 0xbf)
			skip = c & 0x1f;
		else
			switch (c) {
			case 0xc4: case 0xd9: hdr = 1; break; /* bin8, str8 */
			case 0xc5: case 0xda: hdr = 2; break;
			case 0xc6: case 0xdb: hdr = 4; break;
			case 0xc7: hdr = 1; skip = 1; break; /* ext8: length, then a type byte */
			case 0xc8: hdr = 2; skip = 1; break;
			case 0xc9: hdr = 4; skip = 1; break;
			case 0xca: skip = 4; break;
			case 0xcb: skip = 8; break;
			case 0xcc: case 0xd0: skip = 1; break;
			case 0xcd: case 0xd1: skip = 2; break;
			case 0xce: case 0xd2: skip = 4; break;
			case 0xcf: case 0xd3: skip = 8; break;
			case 0xd4: skip = 2; break; /* fixext: type byte + data */
			case 0xd5: skip = 3; break;
			case 0xd6: skip = 5; break;
			case 0xd7: skip = 9; break;
			case 0xd8: skip = 17; break;
			case 0xdc:
				if (end - p < 2)
					return -1;
				items = be(p, 2);
				p += 2;
				break;
			case 0xdd:
				if (end - p < 4)
					return -1;
				items = be(p, 4);
				p += 4;
				break;
			case 0xde:
				if (end - p < 2)
					return -1;
				items = 2 * be(p, 2);
				p += 2;
				break;
			case 0xdf:
				if (end - p < 4)
					return -1;
				items = 2 * be(p, 4);
				p += 4;
				break;
			default: return -1; /* 0xc1 is never used */
			}
		if (hdr) {
			if (end - p < hdr)
				return -1;
			skip += be(p, hdr);
			p += hdr;
		}
		if (skip > (uint64_t)(end - p))
			return -1;
		p += skip;
		need += items;
	}
	return p == end ? 0 : -1;
}

int64_t al_clock_real(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
