/*
 * test_dispatch.c - the per-event-type dispatch of projections (projection.c readers[]).
 *
 * The engine calls a projection's apply only for the event types its `on` list names. A type
 * missing from a list would silently never reach the view, live and on rebuild alike, so no
 * digest comparison would notice. This test calls every projection's apply directly with an
 * event of every type its list leaves out (all fields present, with plausible values) and
 * checks that apply ignores it: answers AL_OK and leaves the projection's views unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "core/catalogue.h"
#include "core/log.h"
#include "core/store.h"
#include "helpers.h"

/* A payload map for event type d with every field of its current version set. */
static void pack_fields(msgpack_packer *pk, const al_event_def *d)
{
	msgpack_pack_map(pk, (uint32_t)d->nfields);
	for (size_t i = 0; i < d->nfields; i++) {
		al_pack_cstr(pk, d->fields[i].name);
		switch (d->fields[i].type) {
		case AL_T_INT:
		case AL_T_TIME:
		case AL_T_LIMIT:
			msgpack_pack_int64(pk, 1);
			break;
		case AL_T_BOOL:
			msgpack_pack_true(pk);
			break;
		case AL_T_LIST:
			msgpack_pack_array(pk, 1);
			al_pack_cstr(pk, "x@example.com");
			break;
		case AL_T_MAP:
			msgpack_pack_map(pk, 1);
			al_pack_cstr(pk, "cpu");
			al_pack_cstr(pk, "1");
			break;
		default:
			al_pack_cstr(pk, "x@example.com");
		}
	}
}

typedef struct probe {
	int p;          /* the projection */
	size_t t;       /* the event type */
	int rc;         /* what apply answered */
	uint8_t before[16], after[16];
} probe;

static int run_probe(al_wtxn *w, void *ctx, al_error *err)
{
	probe *pr = ctx;
	const al_event_def *d = al__ev((enum al_ev_id)pr->t);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	pack_fields(&pk, d);
	msgpack_zone z;
	msgpack_zone_init(&z, 1024);
	al_event e = {.seq = w->head_seq + 1, .time_us = 1, .def = d, .stored_version = d->version,
		      .actor = {"local:test", 10}, .kind = {d->entity, strlen(d->entity)}, .id = {"x@example.com", 13}};
	int rc = al_mp_decode(sb.data, sb.size, &z, &e.fields);
	assert_int_equal(rc, 0);
	rc = al__proj_digest(w->s, w->txn, pr->p, pr->before, err);
	assert_int_equal(rc, AL_OK);
	al_view v = {w, w->txn, w->s->views[pr->p]};
	al_error aerr = {0};
	pr->rc = al__projections[pr->p]->apply(&v, &e, &aerr);
	rc = al__proj_digest(w->s, w->txn, pr->p, pr->after, err);
	msgpack_zone_destroy(&z);
	al_sbuffer_destroy(&sb);
	return rc ? rc : AL_EINTERNAL; /* never commit the probe */
}

static void unlisted_types_are_ignored(void **state)
{
	al_store *s = th_store(state);
	size_t probes = 0;
	for (size_t p = 0; p < al__nprojections; p++)
		for (size_t t = 0; t < AL_EV__COUNT; t++) {
			const al_event_def *d = al__ev((enum al_ev_id)t);
			if (al__proj_readers(d) & (1u << p))
				continue;
			probe pr = {.p = (int)p, .t = t};
			al_error err = {0};
			assert_int_equal(al__store_write(s, run_probe, &pr, &err), AL_EINTERNAL);
			if (pr.rc != AL_OK || memcmp(pr.before, pr.after, 16) != 0)
				fail_msg("projection %s reads %s but its `on` list leaves it out (apply: %d)",
					 al__projections[p]->name, d->name, pr.rc);
			probes++;
		}
	assert_true(probes > 100);
}

/* The other direction: every listed type reaches the projection through the engine. */
static void listed_types_reach_apply(void **state)
{
	(void)state;
	for (size_t p = 0; p < al__nprojections; p++) {
		size_t n = 0;
		for (const enum al_ev_id *t = al__projections[p]->on; *t != AL_EV__COUNT; t++, n++)
			assert_true(al__proj_readers(al__ev(*t)) & (1u << p));
		assert_true(n > 0);
	}
}

/* The sessions projection (issue 12) reads its event types and usage.recalculated (its
 * corrections of v_occupancy), and only it reads them. */
static void sessions_dispatch(void **state)
{
	(void)state;
	const enum al_ev_id types[] = {AL_EV_SESSION_CREATED,	     AL_EV_SESSION_STATUS_CHANGED,
				       AL_EV_SESSION_TERMINATE_REQUESTED, AL_EV_SESSION_SCHEDULED,
				       AL_EV_SESSION_SCHEDULING_FAILED,   AL_EV_SESSION_CANCELLED,
				       AL_EV_SESSION_TOUCHED,		     AL_EV_USAGE_RECALCULATED};
	for (size_t i = 0; i < sizeof types / sizeof *types; i++)
		assert_int_equal(al__proj_readers(al__ev(types[i])), 1u << AL_P_SESSIONS);
	size_t n = 0;
	for (const enum al_ev_id *t = al__projections[AL_P_SESSIONS]->on; *t != AL_EV__COUNT; t++)
		n++;
	assert_int_equal(n, sizeof types / sizeof *types);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(unlisted_types_are_ignored, th_setup, th_teardown),
		cmocka_unit_test(listed_types_reach_apply),
		cmocka_unit_test(sessions_dispatch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
