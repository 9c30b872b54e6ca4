/*
 * codec.h - msgpack helpers shared by every module: building maps whose size is not known up
 * front, looking keys up in decoded maps, and comparing strings.
 */
#ifndef AL_CODEC_H
#define AL_CODEC_H

#include <msgpack.h>
#include <stdbool.h>
#include <string.h>

#include "adminlog.h"
#include "util/alloc.h"

/* A map under construction: pairs are packed into body and counted; al_mb_finish writes the
 * map header and the body to another packer. Owns body until al_mb_free. */
typedef struct al_mb {
	msgpack_sbuffer body;
	msgpack_packer pk;
	uint32_t n;
} al_mb;

void al_mb_init(al_mb *mb);
void al_mb_free(al_mb *mb);
void al_mb_reset(al_mb *mb);
/* Packs the key and counts the pair; the caller then packs exactly one value on mb->pk. */
msgpack_packer *al_mb_key(al_mb *mb, const char *key);
void al_mb_str(al_mb *mb, const char *key, const char *v, size_t n);
void al_mb_cstr(al_mb *mb, const char *key, const char *v);
void al_mb_int(al_mb *mb, const char *key, int64_t v);
void al_mb_bool(al_mb *mb, const char *key, bool v);
void al_mb_obj(al_mb *mb, const char *key, const msgpack_object *v);
void al_mb_finish(const al_mb *mb, msgpack_packer *out);
/* The finished map as bytes in out (which the caller initialised). */
void al_mb_to_sbuffer(const al_mb *mb, msgpack_sbuffer *out);

void al_pack_str(msgpack_packer *pk, const char *s, size_t n);
void al_pack_cstr(msgpack_packer *pk, const char *s);
/* Orders map pairs by their string keys (bytes, then length), for qsort. */
int al_kv_cmp(const void *a, const void *b);
/* Sorts kv[0..n) (string keys) with al_kv_cmp and packs them as one map. */
void al_pack_kv_sorted(msgpack_packer *pk, msgpack_object_kv *kv, uint32_t n);

/* Value of key in a map object, or NULL when absent or when o is not a map. */
const msgpack_object *al_mp_get(const msgpack_object *map, const char *key);
/* 1 and *out set when key holds a string; 0 when absent or nil; -1 when another type. */
int al_mp_str(const msgpack_object *map, const char *key, al_str *out);
int al_mp_int(const msgpack_object *map, const char *key, int64_t *out);
int al_mp_bool(const msgpack_object *map, const char *key, bool *out);
bool al_mp_str_eq(const msgpack_object *o, const char *s);

static inline bool al_str_eq(al_str a, const char *b)
{
	size_t n = strlen(b);
	return a.n == n && memcmp(a.p, b, n) == 0;
}
/* A NUL-terminated copy into buf (truncated to n-1). */
char *al_str_cpy(char *buf, size_t n, al_str s);

/* Decodes one msgpack value filling all of buf; 0 on success, -1 when malformed or trailing
 * bytes remain, -2 when out of memory (counted: al__nomem_count). The object lives in zone. */
int al_mp_decode(const void *buf, size_t len, msgpack_zone *zone, msgpack_object *out);

/* A value packed through pk into a buffer of its own, then read back (al_repack_decode, same
 * answers as al_mp_decode) as an object living in z: building a map with the packers, then
 * walking it. al_repack_destroy frees both. */
typedef struct al_repack {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone z;
} al_repack;
void al_repack_init(al_repack *r);
int al_repack_decode(al_repack *r, msgpack_object *out);
void al_repack_destroy(al_repack *r);

/* Two values packed side by side (through pa into a, pb into b) to be compared as bytes: equal
 * when packed the same canonical way. al_packed2_destroy frees both buffers. */
typedef struct al_packed2 {
	msgpack_sbuffer a, b;
	msgpack_packer pa, pb;
} al_packed2;
void al_packed2_init(al_packed2 *p);
bool al_packed2_same(const al_packed2 *p);
void al_packed2_destroy(al_packed2 *p);

/*
 * Checks that buf holds exactly one well-formed msgpack value whose containers declare no more
 * elements than there are bytes left. msgpack-c allocates a container's declared size before
 * reading it, so untrusted input must pass this first: it bounds the decode's memory by the
 * input's length. 0 when fine, -1 otherwise.
 */
int al_mp_check(const void *buf, size_t len);

/* Wall clock in µs since the epoch. */
int64_t al_clock_real(void *ctx);

#endif
