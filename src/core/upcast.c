/*
 * upcast.c - turns fields written by an older version of an event type into the current
 * shape. Each function takes one step (vN -> vN+1), allocating in the zone, and is listed with
 * AL_OLD_VERSION in schemas/events.def. Never delete one: old logs are read forever.
 */
#include "core/catalogue.h"

/* Appends n pairs to a map, copying its existing pairs into a zone-allocated array. */
static msgpack_object_kv *map_grow(msgpack_object *map, uint32_t extra, msgpack_zone *zone)
{
	uint32_t n = map->via.map.size;
	msgpack_object_kv *kv = al_zone_malloc(zone, sizeof *kv * (n + extra));
	if (kv == NULL)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		kv[i] = map->via.map.ptr[i];
	map->via.map.ptr = kv;
	return kv + n;
}

static msgpack_object cstr(const char *s)
{
	msgpack_object o = {.type = MSGPACK_OBJECT_STR};
	o.via.str.ptr = s;
	o.via.str.size = (uint32_t)strlen(s);
	return o;
}

/* user.created v1 -> v2: is_active (bool) became status; need_password_change was added. */
int al__upcast_user_created_v1(msgpack_object *f, msgpack_zone *zone)
{
	if (f->type != MSGPACK_OBJECT_MAP)
		return -1;
	bool active = true; /* v1 records without is_active were active */
	al_mp_bool(f, "is_active", &active);
	msgpack_object status = cstr(active ? "active" : "inactive");
	msgpack_object_kv *end = map_grow(f, 2, zone);
	if (end == NULL)
		return -1;
	bool renamed = false;
	for (uint32_t i = 0; i < f->via.map.size; i++)
		if (al_mp_str_eq(&f->via.map.ptr[i].key, "is_active")) {
			f->via.map.ptr[i].key = cstr("status"); /* keep the pair where it was */
			f->via.map.ptr[i].val = status;
			renamed = true;
		}
	if (!renamed)
		*end++ = (msgpack_object_kv){cstr("status"), status};
	*end++ = (msgpack_object_kv){cstr("need_password_change"),
				     {.type = MSGPACK_OBJECT_BOOLEAN, .via.boolean = false}};
	f->via.map.size = (uint32_t)(end - f->via.map.ptr);
	return 0;
}
