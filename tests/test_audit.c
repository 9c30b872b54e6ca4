/* test_audit.c - the audit listing (al_log_query): every filter and bound, oldest first and
 * newest first, against the same filter applied by hand to the whole log. */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define MAXEV 256
#define T0 4102444800000000LL /* 2100-01-01: after the bootstrap's wall-clock times */

typedef struct ev {
	uint64_t seq;
	int64_t time;
	char actor[32], type[48], entity[96];
} ev;

typedef struct evs {
	ev e[MAXEV];
	size_t n;
} evs;

static int keep(const al_event *e, void *ctx)
{
	evs *l = ctx;
	if (l->n == MAXEV)
		return 1;
	ev *x = &l->e[l->n++];
	x->seq = e->seq;
	x->time = e->time_us;
	snprintf(x->actor, sizeof x->actor, "%.*s", (int)e->actor.n, e->actor.p);
	snprintf(x->type, sizeof x->type, "%s", e->def->name);
	snprintf(x->entity, sizeof x->entity, "%.*s:%.*s", (int)e->kind.n, e->kind.p, (int)e->id.n, e->id.p);
	return 0;
}

/* Two commands per second of store time, so that some events share a time. */
static int64_t two_per_second(void *ctx)
{
	int64_t *calls = ctx;
	return T0 + (*calls)++ / 2 * 1000000;
}

typedef struct fx {
	TH_FX_HEAD;
	int64_t calls;
	evs all; /* the whole log, oldest first */
} fx;

/* 12 users (user.created + keypair.created each), 24 updates and 2 policies from three local
 * operators, then the whole log read back. */
static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	if (f == NULL)
		return -1;
	al_store_set_clock(f->s, two_per_second, &f->calls);
	th_actor op[3] = {{{"local:a", AL_ROLE_SUPERADMIN}}, {{"local:b", AL_ROLE_SUPERADMIN}},
			  {{"local:c", AL_ROLE_SUPERADMIN}}};
	char email[64], name[64];
	for (int i = 0; i < 12; i++) {
		snprintf(email, sizeof email, "u%d@example.com", i);
		snprintf(name, sizeof name, "u%d", i);
		TH_OK(f->s, &op[i % 3], 2, NULL, "user.create", "email", 's', email, "username", 's', name, "password",
		      's', TH_USER_PW, NULL);
	}
	for (int i = 0; i < 24; i++) {
		snprintf(email, sizeof email, "u%d@example.com", i % 12);
		snprintf(name, sizeof name, "rev %d", i);
		TH_OK(f->s, &op[(i * 2 + i / 5) % 3], 1, NULL, "user.update", "email", 's', email, "full_name", 's', name,
		      NULL);
	}
	TH_OK(f->s, &op[0], 1, NULL, "policy.create", "name", 's', "p0", NULL);
	TH_OK(f->s, &op[1], 1, NULL, "policy.create", "name", 's', "p1", NULL);
	al_error err;
	assert_int_equal(al_log_query(f->s, NULL, keep, &f->all, &err), AL_OK);
	assert_int_equal(f->all.n, al_log_head(f->s));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	th_fx_free(*state);
	return 0;
}

static bool want(const ev *e, const al_log_filter *q)
{
	return (!q->actor || strcmp(e->actor, q->actor) == 0) && (!q->type || strcmp(e->type, q->type) == 0) &&
	       (!q->entity || strcmp(e->entity, q->entity) == 0) && e->seq > q->after_seq &&
	       (!q->since_us || e->time >= q->since_us) && (!q->until_us || e->time <= q->until_us);
}

/* The query's answer equals the whole log filtered by hand, in its order, cut at its limit. */
static void check(fx *f, const al_log_filter *q)
{
	evs got = {0};
	al_error err;
	assert_int_equal(al_log_query(f->s, q, keep, &got, &err), AL_OK);
	size_t n = 0;
	for (size_t i = 0; i < f->all.n && (!q->limit || n < q->limit); i++) {
		const ev *e = &f->all.e[q->newest_first ? f->all.n - 1 - i : i];
		if (!want(e, q))
			continue;
		if (n >= got.n || got.e[n].seq != e->seq)
			fail_msg("actor %s type %s entity %s after %llu since %lld until %lld limit %zu %s: answer %zu is "
				 "seq %llu, expected %llu",
				 q->actor ? q->actor : "-", q->type ? q->type : "-", q->entity ? q->entity : "-",
				 (unsigned long long)q->after_seq, (long long)q->since_us, (long long)q->until_us, q->limit,
				 q->newest_first ? "newest first" : "oldest first", n,
				 (unsigned long long)(n < got.n ? got.e[n].seq : 0), (unsigned long long)e->seq);
		n++;
	}
	assert_int_equal(got.n, n);
}

/* Both orders with limits none, 1 and 3. */
static void check_orders(fx *f, al_log_filter q)
{
	static const size_t limits[] = {0, 1, 3};
	for (int back = 0; back < 2; back++)
		for (int l = 0; l < 3; l++) {
			q.newest_first = back;
			q.limit = limits[l];
			check(f, &q);
		}
}

static const al_log_filter drivers[] = {
	{0},
	{.entity = "user:u3@example.com"},
	{.actor = "local:b"},
	{.type = "user.updated"},
	{.actor = "local:c", .type = "user.created"},
	{.entity = "user:u4@example.com", .actor = "local:a"},
	{.type = "keypair_policy.created"},
	{.actor = "local:nobody"},
	{.entity = "user:nobody@example.com"},
};
#define NDRIVERS (sizeof drivers / sizeof *drivers)

/* after_seq at every seq, before the first and past the head. */
static void every_after_seq(void **state)
{
	fx *f = *state;
	for (size_t d = 0; d < NDRIVERS; d++)
		for (uint64_t a = 0; a <= f->all.n + 2; a++) {
			al_log_filter q = drivers[d];
			q.after_seq = a;
			check_orders(f, q);
		}
}

/* until at every event's time and just before it, alone and with since one second earlier. */
static void every_time_bound(void **state)
{
	fx *f = *state;
	for (size_t d = 0; d < NDRIVERS; d++)
		for (size_t i = 0; i < f->all.n; i++)
			for (int64_t off = -1; off <= 0; off++) {
				al_log_filter q = drivers[d];
				q.until_us = f->all.e[i].time + off;
				check_orders(f, q);
				q.since_us = q.until_us - 1000000;
				check_orders(f, q);
				q.after_seq = f->all.e[i].seq / 2;
				check_orders(f, q);
			}
}

/* Flips a payload byte of event seq's record in place, so its checksum fails (store closed). */
static void damage(const char *dir, uint64_t seq) { th_damage_record(dir, seq, 40, 0x20); }

/* Newest first reads from the head back and stops at the limit: an older damaged record of the
 * same actor is never read (oldest first, it is, and fails). */
static void newest_first_stops_at_limit(void **state)
{
	fx *f = *state;
	uint64_t old = 0;
	for (size_t i = 0; i < f->all.n && !old; i++)
		if (strcmp(f->all.e[i].actor, "local:b") == 0)
			old = f->all.e[i].seq;
	al_store_close(f->s);
	f->s = NULL;
	damage(f->dir, old);
	al_open_opts o = {AL_OPEN_RDONLY | AL_OPEN_QUIET, 0};
	al_error err;
	assert_int_equal(al_store_open(&f->s, f->dir, &o, &err), AL_OK);
	static evs got;
	al_log_filter q = {.actor = "local:b", .newest_first = true, .limit = 3};
	assert_int_equal(al_log_query(f->s, &q, keep, &got, &err), AL_OK);
	assert_int_equal(got.n, 3);
	assert_true(got.e[2].seq > old);
	got.n = 0;
	q = (al_log_filter){.newest_first = true, .limit = 5};
	assert_int_equal(al_log_query(f->s, &q, keep, &got, &err), AL_OK);
	assert_int_equal(got.n, 5);
	assert_int_equal(got.e[0].seq, f->all.n);
	got.n = 0;
	q = (al_log_filter){.actor = "local:b", .limit = 3};
	assert_int_equal(al_log_query(f->s, &q, keep, &got, &err), AL_ECORRUPT);
	assert_non_null(strstr(err.msg, "checksum"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(every_after_seq, setup, teardown),
		cmocka_unit_test_setup_teardown(every_time_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(newest_first_stops_at_limit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
