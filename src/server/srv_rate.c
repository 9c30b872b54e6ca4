/*
 * srv_rate.c - in-memory rate limits with fixed windows (docs/protocol.md, "Limits"): a
 * window opens with the first request of a key and lasts SRV_RATE_WINDOW; at most `limit`
 * hits are allowed in it. Used for each keypair's requests (its rate_limit) and for failed
 * logins per email, per access key and per client address. Loop thread only; nothing is
 * written to the log, and a restart forgets everything.
 */
#include <stdlib.h>
#include <string.h>

#include "server/srv_int.h"

#define BUCKETS 1024

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

rate_table *srv_rate_new(void) { return al_calloc(1, sizeof(rate_table) + BUCKETS * sizeof(rate_slot *)); }

void srv_rate_free(rate_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < BUCKETS; i++)
		for (rate_slot *s = t->b[i], *next; s; s = next) {
			next = s->next;
			al_free(s);
		}
	al_free(t);
}

/* The key's slot with its window current at now; created when missing (NULL if no memory). */
rate_slot *srv_rate_slot(rate_table *t, const char *key, int64_t now_us)
{
	rate_slot **b = &t->b[hash(key) % BUCKETS], *s;
	for (s = *b; s && strcmp(s->key, key) != 0; s = s->next)
		;
	if (s == NULL) {
		size_t n = strlen(key) + 1;
		if ((s = al_calloc(1, sizeof *s + n)) == NULL)
			return NULL;
		memcpy(s->key, key, n);
		s->start_us = now_us;
		s->next = *b;
		*b = s;
		t->n++;
	}
	if (now_us - s->start_us >= SRV_RATE_WINDOW_US) { /* the window is over: a new one opens */
		s->start_us = now_us;
		s->count = 0;
	}
	return s;
}

int64_t srv_rate_wait(const rate_slot *s, int64_t limit, int64_t now_us)
{
	if (s == NULL || (int64_t)s->count < limit)
		return 0;
	int64_t left = s->start_us + SRV_RATE_WINDOW_US - now_us;
	return left <= 0 ? 0 : (left + 999999) / 1000000; /* whole seconds, rounded up */
}

int64_t srv_rate_hit(rate_table *t, const char *key, int64_t limit, int64_t now_us)
{
	rate_slot *s = srv_rate_slot(t, key, now_us);
	int64_t wait = srv_rate_wait(s, limit, now_us);
	if (wait == 0 && s)
		s->count++;
	return wait;
}

/* Drops slots whose window is over, so that the table holds only recent keys. */
void srv_rate_sweep(rate_table *t, int64_t now_us)
{
	for (size_t i = 0; i < BUCKETS; i++)
		for (rate_slot **p = &t->b[i]; *p;) {
			rate_slot *s = *p;
			if (now_us - s->start_us >= SRV_RATE_WINDOW_US) {
				*p = s->next;
				al_free(s);
				t->n--;
			} else
				p = &s->next;
		}
}
