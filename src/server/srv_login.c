/*
 * srv_login.c - the queue of logins waiting for a worker (docs/protocol.md, "Limits").
 *
 * A login costs one argon2id verification (~100 ms of a core at the interactive cost), so
 * whoever can send logins can make the server hash. These rules keep that from starving
 * everyone else: a connection has at most one login at a time (srv_ops.c refuses a second);
 * at most as many logins are on the workers as there are workers, and at most workers - 1
 * (at least 1) of one client address, so one address never holds them all; the others wait
 * here, one queue per address, served round-robin, so a login from an address with none
 * waiting starts as soon as a worker is free, however many another address sent; and the
 * waiting room is bounded, per address (LOGIN_WAIT_PER_ADDR) and in all (LOGIN_WAIT_MAX).
 * Loop thread only. Unix-socket clients (the server's own OS user) share the address "unix"
 * and count against the total only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_int.h"

#define LOGIN_WAIT_MAX 256     /* logins waiting for a worker, in all */
#define LOGIN_WAIT_PER_ADDR 16 /* ... from one TCP client address */

static const char *addr_of(const conn *c) { return c->ip[0] ? c->ip : "unix"; }

static login_queue *queue_of(al_srv *srv, const char *addr)
{
	login_queue *q = srv->lq_first;
	while (q && strcmp(q->addr, addr) != 0)
		q = q->next;
	return q;
}

/* Seconds until the waiting logins are likely through, at least 1. */
static int64_t retry_after(al_srv *srv)
{
	int64_t us = srv->login_us > 0 ? srv->login_us : 100000;
	int64_t s = (srv->logins_waiting * us / srv->o.workers + 999999) / 1000000;
	return s > 0 ? s : 1;
}

int64_t srv_login_room(conn *c)
{
	al_srv *srv = c->srv;
	if (srv->logins_waiting >= LOGIN_WAIT_MAX)
		return retry_after(srv);
	login_queue *q = c->ip[0] ? queue_of(srv, c->ip) : NULL;
	return q && q->n >= LOGIN_WAIT_PER_ADDR ? retry_after(srv) : 0;
}

/* Unlinks q from the round (prev is the one before it, or NULL). */
static void unlink_queue(al_srv *srv, login_queue *q, login_queue *prev)
{
	if (prev)
		prev->next = q->next;
	else
		srv->lq_first = q->next;
	if (srv->lq_last == q)
		srv->lq_last = prev;
	q->next = NULL;
}

/* Frees q once nothing of its address waits or runs. */
static void maybe_free(al_srv *srv, login_queue *q)
{
	if (q->n || q->running)
		return;
	login_queue *prev = NULL;
	for (login_queue *r = srv->lq_first; r != q; r = r->next)
		prev = r;
	unlink_queue(srv, q, prev);
	al_free(q);
}

/* The first address in the round with a login waiting and a worker it may use: one address
 * never has every worker (with one worker: one at a time), so another one's login starts as
 * soon as a worker is free, not after the first address's next one. Moved to the tail. */
static login_queue *next_turn(al_srv *srv)
{
	int cap = srv->o.workers > 1 ? srv->o.workers - 1 : 1;
	login_queue *prev = NULL, *q = srv->lq_first;
	while (q && (q->n == 0 || q->running >= cap)) {
		prev = q;
		q = q->next;
	}
	if (q == NULL)
		return NULL;
	unlink_queue(srv, q, prev);
	if (srv->lq_last)
		srv->lq_last->next = q;
	else
		srv->lq_first = q;
	srv->lq_last = q;
	return q;
}

/* Hands waiting logins to the workers while one is free: each address in turn. */
static void pump(al_srv *srv)
{
	login_queue *q;
	while (srv->logins_running < srv->o.workers && (q = next_turn(srv))) {
		job *j = q->first;
		if ((q->first = j->next) == NULL)
			q->last = NULL;
		q->n--;
		q->running++;
		srv->logins_waiting--;
		srv->logins_running++;
		j->waiting = false;
		j->started = srv_mono_us();
		srv_submit_job(srv, j);
	}
}

int srv_login_queue(job *j)
{
	conn *c = j->c;
	al_srv *srv = c->srv;
	login_queue *q = queue_of(srv, addr_of(c));
	if (q == NULL) {
		if ((q = al_calloc(1, sizeof *q)) == NULL)
			return AL_ENO_MEMORY;
		snprintf(q->addr, sizeof q->addr, "%s", addr_of(c));
		if (srv->lq_last)
			srv->lq_last->next = q;
		else
			srv->lq_first = q;
		srv->lq_last = q;
	}
	j->next = NULL;
	if (q->last)
		q->last->next = j;
	else
		q->first = j;
	q->last = j;
	q->n++;
	srv->logins_waiting++;
	j->waiting = true;
	c->login = j;
	pump(srv);
	return AL_OK;
}

void srv_login_finished(job *j)
{
	al_srv *srv = j->c->srv;
	int64_t took = srv_mono_us() - j->started;
	srv->login_us = srv->login_us > 0 ? (7 * srv->login_us + took) / 8 : took;
	srv->logins_running--;
	login_queue *q = queue_of(srv, addr_of(j->c));
	if (q) {
		q->running--;
		maybe_free(srv, q);
	}
	j->c->login = NULL;
	pump(srv);
}

job *srv_login_drop(conn *c)
{
	job *j = c->login;
	if (j == NULL || !j->waiting)
		return NULL; /* none, or on a worker: its answer comes back and finds c closed */
	al_srv *srv = c->srv;
	login_queue *q = queue_of(srv, addr_of(c));
	job **p = &q->first, *before = NULL;
	while (*p != j) {
		before = *p;
		p = &(*p)->next;
	}
	*p = j->next;
	if (q->last == j)
		q->last = before;
	q->n--;
	srv->logins_waiting--;
	c->login = NULL;
	j->waiting = false;
	maybe_free(srv, q);
	return j;
}
