/*
 * bench_audit - audit reads over a year of events: al_log_query, the call behind `adminlog log`
 * and the server's `log` stream, on the year log of bench_util.h (1,000,000 events, 50
 * operators, 365 days of store time; opened read-only).
 *
 * Measures, each the median latency of REPS repetitions in ms (a callback that checks and
 * counts each event; nothing is printed):
 *   audit_actor  - the 1,000 newest events of one operator ({actor, newest_first, limit 1000};
 *                  each operator has ~2% of the log; the repetitions go round the 50);
 *   audit_type   - the 1,000 newest keypair_policy.updated events ({type, newest_first,
 *                  limit 1000}; ~0.8% of the log, spread over the year);
 *   audit_window - every event of one hour in the middle of the year ({since, until}; ~110
 *                  events; the repetitions go round 24 consecutive hours).
 * Baseline full_scan (the same for the three): the listing as it runs without an index,
 * al_log_query with no filter, so it reads, checksums and decodes every event of the log,
 * and a callback that applies the three filters itself. Median of 3 passes, in ms.
 * Every answer is checked against what the full scan found; a wrong answer exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define NEWEST 1000
#define HOURS 24
#define HOUR_US 3600000000LL
#define TYPE "keypair_policy.updated"
#define REPS 200
#define SCANS 3

/* What the full scan finds: per operator (and, at index BU_YEAR_ACTORS, for TYPE) the count
 * and a ring of the newest NEWEST seqs; the events of each measured hour. */
typedef struct truth {
	uint64_t n[BU_YEAR_ACTORS + 1];
	uint64_t ring[BU_YEAR_ACTORS + 1][NEWEST];
	int64_t hour0; /* start of the first measured hour, µs */
	uint64_t hour_n[HOURS], hour_last[HOURS];
	uint64_t events;
} truth;

/* The operator index of "local:op-NN", or -1. */
static int actor_index(al_str a)
{
	if (a.n != 11 || memcmp(a.p, "local:op-", 9) != 0)
		return -1;
	int i = (a.p[9] - '0') * 10 + (a.p[10] - '0');
	return i >= 0 && i < BU_YEAR_ACTORS ? i : -1;
}

static void ring_add(truth *t, int i, uint64_t seq) { t->ring[i][t->n[i]++ % NEWEST] = seq; }

/* The full scan's callback: the actor, type and time filters of the three queries. */
static int scan_cb(const al_event *e, void *ctx)
{
	truth *t = ctx;
	int a = actor_index(e->actor);
	if (a >= 0)
		ring_add(t, a, e->seq);
	if (strcmp(e->def->name, TYPE) == 0)
		ring_add(t, BU_YEAR_ACTORS, e->seq);
	int64_t h = (e->time_us - t->hour0) / HOUR_US;
	if (e->time_us >= t->hour0 && h < HOURS) {
		t->hour_n[h]++;
		t->hour_last[h] = e->seq;
	}
	t->events++;
	return 0;
}

static double full_scan(al_store *s, truth *t)
{
	int64_t hour0 = t->hour0;
	memset(t, 0, sizeof *t);
	t->hour0 = hour0;
	al_error err = {0};
	double t0 = bu_now();
	if (al_log_query(s, NULL, scan_cb, t, &err) != AL_OK)
		bu_die("full scan: %s", err.msg);
	return (bu_now() - t0) * 1e3;
}

/* One query's answer as the callback saw it. */
typedef struct answer {
	const char *actor, *type;
	int64_t since, until;
	uint64_t n, first, last;
	int bad;
} answer;

static int query_cb(const al_event *e, void *ctx)
{
	answer *q = ctx;
	if (q->actor && !(e->actor.n == strlen(q->actor) && memcmp(e->actor.p, q->actor, e->actor.n) == 0))
		q->bad = 1;
	if (q->type && strcmp(e->def->name, q->type) != 0)
		q->bad = 1;
	if (q->since && (e->time_us < q->since || e->time_us > q->until))
		q->bad = 1;
	if (q->n == 0)
		q->first = e->seq;
	q->last = e->seq;
	q->n++;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The newest NEWEST of ring i: q must hold them newest first, from the head back. */
static void check_newest(const truth *t, int i, const answer *q, const char *what)
{
	uint64_t n = t->n[i], want = n < NEWEST ? n : NEWEST;
	uint64_t newest = n ? t->ring[i][(n - 1) % NEWEST] : 0, oldest = n ? t->ring[i][(n - want) % NEWEST] : 0;
	if (q->bad || q->n != want || (want && (q->first != newest || q->last != oldest)))
		bu_die("%s: wrong answer: %llu events %llu..%llu, expected %llu events %llu..%llu", what,
		       (unsigned long long)q->n, (unsigned long long)q->first, (unsigned long long)q->last,
		       (unsigned long long)want, (unsigned long long)newest, (unsigned long long)oldest);
}

static void check_hour(const truth *t, int h, const answer *q)
{
	if (q->bad || q->n != t->hour_n[h] || (q->n && q->last != t->hour_last[h]))
		bu_die("audit_window: wrong answer for hour %d: %llu events, expected %llu", h, (unsigned long long)q->n,
		       (unsigned long long)t->hour_n[h]);
}

typedef enum kind { K_ACTOR, K_TYPE, K_WINDOW } kind;

/* Runs repetition r of one query kind and checks its answer; returns its latency in ms. */
static double run_query(al_store *s, const truth *t, kind k, int r)
{
	al_log_filter f = {0};
	answer q = {0};
	int i = r % BU_YEAR_ACTORS, h = r % HOURS;
	if (k == K_ACTOR)
		f.actor = q.actor = bu_year_actor((size_t)i);
	else if (k == K_TYPE)
		f.type = q.type = TYPE;
	else {
		f.since_us = q.since = t->hour0 + h * HOUR_US;
		f.until_us = q.until = q.since + HOUR_US - 1;
	}
	if (k != K_WINDOW) {
		f.newest_first = true;
		f.limit = NEWEST;
	}
	al_error err = {0};
	double t0 = bu_now();
	if (al_log_query(s, &f, query_cb, &q, &err) != AL_OK)
		bu_die("query: %s", err.msg);
	double ms = (bu_now() - t0) * 1e3;
	if (k == K_WINDOW)
		check_hour(t, h, &q);
	else
		check_newest(t, k == K_ACTOR ? i : BU_YEAR_ACTORS, &q, k == K_ACTOR ? "audit_actor" : "audit_type");
	return ms;
}

static double measure(al_store *s, const truth *t, kind k, const char *name)
{
	static double ms[REPS];
	for (int r = 0; r < REPS; r++)
		ms[r] = run_query(s, t, k, r);
	double med = median(ms, REPS);
	bu_note("%s: median %.3f ms, p90 %.3f ms, max %.3f ms over %d repetitions", name, med, ms[REPS * 9 / 10],
		ms[REPS - 1], REPS);
	return med;
}

static int time_cb(const al_event *e, void *ctx)
{
	*(int64_t *)ctx = e->time_us;
	return 0;
}

/* The time of event after_seq + 1. */
static int64_t time_after(al_store *s, uint64_t after_seq)
{
	al_log_filter f = {.after_seq = after_seq, .limit = 1};
	al_error err = {0};
	int64_t t = 0;
	if (al_log_query(s, &f, time_cb, &t, &err) != AL_OK)
		bu_die("read event %llu: %s", (unsigned long long)after_seq + 1, err.msg);
	return t;
}

int main(void)
{
	char *dir = bu_tmpdir("audit"), own[4200];
	snprintf(own, sizeof own, "%s/store", dir);
	const char *path = bu_year_log(own, 0);
	al_store *s = bu_store_open(path, AL_OPEN_RDONLY, 0);
	uint64_t head = al_log_head(s);

	/* The measured hours: a day in the middle of the log's year, on whole hours. */
	static truth t;
	int64_t first = time_after(s, 0), last = time_after(s, head - 1), mid = first + (last - first) / 2;
	t.hour0 = mid - mid % HOUR_US;

	double scans[SCANS];
	for (int i = 0; i < SCANS; i++)
		scans[i] = full_scan(s, &t);
	double scan = median(scans, SCANS);
	if (t.events != head)
		bu_die("full scan: %llu events of %llu", (unsigned long long)t.events, (unsigned long long)head);
	bu_note("full scan: %llu events in %.1f ms (median of %d); operator 0 has %llu events, %s %llu, hour 0 %llu",
		(unsigned long long)head, scan, SCANS, (unsigned long long)t.n[0], TYPE,
		(unsigned long long)t.n[BU_YEAR_ACTORS], (unsigned long long)t.hour_n[0]);

	bu_emit("audit_actor", measure(s, &t, K_ACTOR, "audit_actor"), "ms", "full_scan", scan);
	bu_emit("audit_type", measure(s, &t, K_TYPE, "audit_type"), "ms", "full_scan", scan);
	bu_emit("audit_window", measure(s, &t, K_WINDOW, "audit_window"), "ms", "full_scan", scan);
	al_store_close(s);
	bu_rmrf(dir);
	return 0;
}
