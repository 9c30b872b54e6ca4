/*
 * rg_helpers.h - checks shared by test_rgroups.c and test_settings.c (besides those of
 * helpers.h): count events, and run a noun function (nouns.h) inside a write transaction the
 * way a command would.
 * Static functions (each test file uses some): include it in one test file each.
 */
#ifndef RG_HELPERS_H
#define RG_HELPERS_H

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "nouns/nouns.h"

/* Events matching a filter: how many, and the last one as JSON. */
typedef struct evscan {
	int n;
	char last[4096];
} evscan;

static __attribute__((unused)) int scan_cb(const al_event *e, void *ctx)
{
	evscan *x = ctx;
	x->n++;
	FILE *f = fmemopen(x->last, sizeof x->last, "w");
	al_event_write_json(e, f);
	fclose(f);
	return 0;
}

static __attribute__((unused)) evscan events_of(al_store *s, const char *type, const char *entity)
{
	evscan x = {0};
	al_log_filter f = {.type = type, .entity = entity};
	al_error err;
	assert_int_equal(al_log_query(s, &f, scan_cb, &x, &err), AL_OK);
	return x;
}

/* Runs fn(c) in a write transaction as the test superadmin would run a command (op names the
 * command whose entity kind error messages use). Returns fn's code; *events gets the count of
 * events it appended and msg (when not NULL) its error message. */
typedef int (*internal_fn)(al_cmd *c, void *ctx);
typedef struct internal_run {
	const char *op;
	internal_fn fn;
	void *ctx;
	int rc;
	uint64_t first, last;
	char msg[AL_ERR_MSG_LEN];
} internal_run;

static __attribute__((unused)) int internal_write(al_wtxn *w, void *ctx, al_error *err)
{
	internal_run *r = ctx;
	msgpack_zone z;
	msgpack_sbuffer out;
	msgpack_packer pk;
	msgpack_zone_init(&z, 4096);
	msgpack_sbuffer_init(&out);
	msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
	al_error cerr = {0};
	msgpack_object noargs = {.type = MSGPACK_OBJECT_MAP};
	al_cmd c = {.s = w->s, .w = w, .txn = w->txn, .def = al_cmd_def_find(r->op), .actor = &th_admin,
		    .args = &noargs, .now_us = al__now(w->s), .out = &pk, .err = &cerr, .zone = &z};
	c.now_us = c.now_us > w->head_time ? c.now_us : w->head_time;
	r->rc = r->fn(&c, r->ctx);
	r->first = c.first_seq;
	r->last = c.last_seq;
	snprintf(r->msg, sizeof r->msg, "%s", cerr.msg);
	msgpack_sbuffer_destroy(&out);
	msgpack_zone_destroy(&z);
	(void)err;
	return r->rc == AL_OK ? AL_OK : AL_EINVALID_ARGUMENT; /* a refusal aborts the transaction */
}

static __attribute__((unused)) int run_internal(al_store *s, const char *op, internal_fn fn, void *ctx, uint64_t *events, char *msg,
			size_t n)
{
	internal_run r = {.op = op, .fn = fn, .ctx = ctx};
	al_error err;
	al__store_write(s, internal_write, &r, &err);
	if (events)
		*events = r.first ? r.last - r.first + 1 : 0;
	if (msg)
		snprintf(msg, n, "%s", r.msg);
	return r.rc;
}

#endif
