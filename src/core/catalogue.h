/*
 * catalogue.h - the event catalogue and the command table, compiled from the .def files in schemas/.
 */
#ifndef AL_CATALOGUE_H
#define AL_CATALOGUE_H

#include "adminlog.h"
#include "util/codec.h"

/* AL_EV_<ID>: index of an event type in the catalogue. */
enum al_ev_id {
#define AL_EVENT(ID, name, num, ver, kind, doc) AL_EV_##ID,
#define AL_FIELD(ID, name, type, flags, doc)
#define AL_OLD_VERSION(ID, ver, fn, doc)
#include "events.def"
#undef AL_EVENT
#undef AL_FIELD
#undef AL_OLD_VERSION
	AL_EV__COUNT
};

const al_event_def *al__ev(enum al_ev_id id);

/* Rewrites fields (decoded at stored_version) into the shape of the current version.
 * New objects are allocated in zone. AL_EUNSUPPORTED for a version from the future. */
int al__upcast(const al_event_def *d, unsigned stored_version, msgpack_object *fields,
	       msgpack_zone *zone, al_error *err);

/* Upcasters named in events.def (src/core/upcast.c). */
typedef int (*al_upcast_fn)(msgpack_object *fields, msgpack_zone *zone);
#define AL_EVENT(ID, name, num, ver, kind, doc)
#define AL_FIELD(ID, name, type, flags, doc)
#define AL_OLD_VERSION(ID, ver, fn, doc) int fn(msgpack_object *fields, msgpack_zone *zone);
#include "events.def"
#undef AL_EVENT
#undef AL_FIELD
#undef AL_OLD_VERSION

#endif
