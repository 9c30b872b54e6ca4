/*
 * catalogue.c - builds the event catalogue from schemas/events.def. Each event's fields and
 * old versions are contiguous in the .def file, so they become slices of flat arrays.
 */
#include <pthread.h>
#include <string.h>

#include "core/catalogue.h"

#define STR AL_T_STR
#define INT AL_T_INT
#define BOOL AL_T_BOOL
#define TIME AL_T_TIME
#define LIMIT AL_T_LIMIT
#define LIST AL_T_LIST
#define MAP AL_T_MAP
#define REQ AL_F_REQ
#define OPT AL_F_OPT
#define SECRET AL_F_SECRET

typedef struct {
	enum al_ev_id ev;
	al_field_def f;
} field_row;

typedef struct {
	enum al_ev_id ev;
	al_old_version_def o;
	al_upcast_fn fn;
} old_row;

static al_event_def events[] = {
#define AL_EVENT(ID, name, num, ver, kind, doc) {name, num, ver, kind, doc, NULL, 0, NULL, 0},
#define AL_FIELD(ID, name, type, flags, doc)
#define AL_OLD_VERSION(ID, ver, fn, doc)
#include "events.def"
#undef AL_EVENT
#undef AL_FIELD
#undef AL_OLD_VERSION
};

static const field_row field_rows[] = {
#define AL_EVENT(ID, name, num, ver, kind, doc)
#define AL_FIELD(ID, name, type, flags, doc) {AL_EV_##ID, {name, type, flags, doc}},
#define AL_OLD_VERSION(ID, ver, fn, doc)
#include "events.def"
#undef AL_EVENT
#undef AL_FIELD
#undef AL_OLD_VERSION
};

static const old_row old_rows[] = {
#define AL_EVENT(ID, name, num, ver, kind, doc)
#define AL_FIELD(ID, name, type, flags, doc)
#define AL_OLD_VERSION(ID, ver, fn, doc) {AL_EV_##ID, {ver, doc}, fn},
#include "events.def"
#undef AL_EVENT
#undef AL_FIELD
#undef AL_OLD_VERSION
	{AL_EV__COUNT, {0, NULL}, NULL} /* keeps the array non-empty */
};

#define NFIELD_ROWS (sizeof field_rows / sizeof *field_rows)
#define NOLD_ROWS (sizeof old_rows / sizeof *old_rows - 1)

static al_field_def fields[NFIELD_ROWS + 1];
static al_old_version_def olds[NOLD_ROWS + 1];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void link_slices(void)
{
	for (size_t i = 0; i < NFIELD_ROWS; i++) {
		al_event_def *e = &events[field_rows[i].ev];
		fields[i] = field_rows[i].f;
		if (e->nfields++ == 0)
			e->fields = &fields[i];
	}
	for (size_t i = 0; i < NOLD_ROWS; i++) {
		al_event_def *e = &events[old_rows[i].ev];
		olds[i] = old_rows[i].o;
		if (e->nold++ == 0)
			e->old = &olds[i];
	}
}

static void init(void) { pthread_once(&once, link_slices); }

/* Hot (every apply compares event types with it): the address is fixed at compile time, so no
 * init here; the fields and old versions are linked by the first lookup by name or number. */
const al_event_def *al__ev(enum al_ev_id id) { return &events[id]; }

size_t al_event_def_count(void) { return AL_EV__COUNT; }

const al_event_def *al_event_def_at(size_t i)
{
	init();
	return i < AL_EV__COUNT ? &events[i] : NULL;
}

const al_event_def *al_event_def_by_name(const char *name)
{
	init();
	for (size_t i = 0; i < AL_EV__COUNT; i++)
		if (strcmp(events[i].name, name) == 0)
			return &events[i];
	return NULL;
}

/* A switch with a case per event number: a number given twice in events.def is a duplicate
 * case value, so a compile error rather than a second event read back as the first. */
const al_event_def *al_event_def_by_number(unsigned number)
{
	init();
	switch (number) {
#define AL_EVENT(ID, name, num, ver, kind, doc) \
	case num: return &events[AL_EV_##ID];
#define AL_FIELD(ID, name, type, flags, doc)
#define AL_OLD_VERSION(ID, ver, fn, doc)
#include "events.def"
#undef AL_EVENT
#undef AL_FIELD
#undef AL_OLD_VERSION
	default: return NULL;
	}
}

int al__upcast(const al_event_def *d, unsigned stored_version, msgpack_object *f,
	       msgpack_zone *zone, al_error *err)
{
	if (stored_version > d->version)
		return al_err(err, AL_EUNSUPPORTED, "%s v%u was written by a newer adminlog (this one knows v%u)",
			      d->name, stored_version, d->version);
	/* Step version by version: v1 -> v2 -> ... -> current. */
	for (unsigned v = stored_version; v < d->version; v++) {
		const old_row *r = NULL;
		for (size_t i = 0; i < NOLD_ROWS; i++)
			if (&events[old_rows[i].ev] == d && old_rows[i].o.version == v)
				r = &old_rows[i];
		if (r == NULL)
			return al_err(err, AL_EUNSUPPORTED, "%s v%u has no upcaster", d->name, v);
		if (r->fn(f, zone) != 0)
			return al_err(err, AL_ECORRUPT, "%s v%u could not be upcast", d->name, v);
	}
	return AL_OK;
}
