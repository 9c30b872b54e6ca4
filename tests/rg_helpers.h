/*
 * rg_helpers.h - checks shared by test_rgroups.c and test_settings.c: run a command and check
 * its outcome and the events it appended, read result members as JSON, count events, and run
 * a noun function (nouns.h) inside a write transaction the way a command would.
 * Static functions (each test file uses some): include it in one test file each.
 */
#ifndef RG_HELPERS_H
#define RG_HELPERS_H

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "nouns.h"

static __attribute__((unused)) uint64_t appended(const al_reply *rep) { return rep->first_seq ? rep->last_seq - rep->first_seq + 1 : 0; }

/* Runs op as who (NULL: the test superadmin), checks success and the number of events it
 * appended; the reply is left in *rep when rep is not NULL. */
static __attribute__((unused)) void ok_at(const char *file, int line, al_store *s, const th_actor *who, uint64_t events, al_reply *rep,
		  const char *op, ...)
{
	size_t len;
	va_list ap;
	va_start(ap, op);
	char *args = th_vargs(&len, ap);
	va_end(ap);
	al_request req = {op, args, len, who ? &who->a : &th_admin};
	al_reply own, *r = rep ? rep : &own;
	int rc = al_exec(s, &req, r);
	free(args);
	if (rc != AL_OK || appended(r) != events)
		print_error("%s: got %s (%s) with %llu events, expected ok with %llu\n", op, al_err_name(rc), r->err.msg,
			    (unsigned long long)appended(r), (unsigned long long)events);
	_assert_int_equal(rc, AL_OK, file, line);
	_assert_int_equal(appended(r), events, file, line);
	if (rep == NULL)
		al_reply_free(&own);
}
#define OK(s, who, events, rep, ...) ok_at(__FILE__, __LINE__, s, who, events, rep, __VA_ARGS__)

/* Runs op as who and checks the refusal: the code, a message starting with "field:" (unless
 * field is NULL), no result and nothing appended. */
static __attribute__((unused)) void refuse_at(const char *file, int line, al_store *s, const th_actor *who, int code, const char *field,
		      const char *op, ...)
{
	uint64_t head = al_log_head(s);
	size_t len;
	va_list ap;
	va_start(ap, op);
	char *args = th_vargs(&len, ap);
	va_end(ap);
	al_request req = {op, args, len, who ? &who->a : &th_admin};
	al_reply rep;
	int rc = al_exec(s, &req, &rep);
	free(args);
	if (rc != code)
		print_error("%s: got %s (%s), expected %s\n", op, al_err_name(rc), rep.err.msg, al_err_name(code));
	_assert_int_equal(rc, code, file, line);
	if (field) {
		char prefix[80];
		snprintf(prefix, sizeof prefix, "%s:", field);
		if (strncmp(rep.err.msg, prefix, strlen(prefix)) != 0)
			print_error("%s: message '%s' does not name '%s'\n", op, rep.err.msg, field);
		_assert_true(strncmp(rep.err.msg, prefix, strlen(prefix)) == 0, "message names the field", file, line);
	}
	_assert_true(rep.result == NULL, "no result on error", file, line);
	_assert_int_equal(appended(&rep), 0, file, line);
	_assert_int_equal(al_log_head(s), head, file, line);
	al_reply_free(&rep);
}
#define REFUSE(s, who, code, field, ...) refuse_at(__FILE__, __LINE__, s, who, code, field, __VA_ARGS__)
#define DENY(s, who, ...) refuse_at(__FILE__, __LINE__, s, who, AL_EPERMISSION_DENIED, NULL, __VA_ARGS__)

/* The member key of the result map (of element i of a result array when i >= 0; the whole
 * result when key is NULL) as compact JSON, in one of four rotating static buffers; "" when
 * absent. */
static __attribute__((unused)) const char *res_json_at(const al_reply *rep, long i, const char *key)
{
	static char bufs[4][8192];
	static int next;
	char *buf = bufs[next++ % 4];
	msgpack_zone z;
	msgpack_object o;
	size_t off = 0;
	buf[0] = 0;
	msgpack_zone_init(&z, 1024);
	if (rep->result && msgpack_unpack(rep->result, rep->result_len, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS) {
		const msgpack_object *m = &o, *found = NULL;
		if (i >= 0)
			m = o.type == MSGPACK_OBJECT_ARRAY && (uint32_t)i < o.via.array.size ? &o.via.array.ptr[i] : NULL;
		if (key == NULL)
			found = m;
		for (uint32_t k = 0; key && m && m->type == MSGPACK_OBJECT_MAP && k < m->via.map.size; k++) {
			const msgpack_object *key_o = &m->via.map.ptr[k].key;
			if (key_o->via.str.size == strlen(key) && memcmp(key_o->via.str.ptr, key, strlen(key)) == 0)
				found = &m->via.map.ptr[k].val;
		}
		if (found) {
			FILE *f = fmemopen(buf, sizeof bufs[0], "w");
			al_render_json(found, f);
			fclose(f);
		}
	}
	msgpack_zone_destroy(&z);
	return buf;
}
static __attribute__((unused)) const char *res_json(const al_reply *rep, const char *key) { return res_json_at(rep, -1, key); }

/* The values of key in every element of a result array, as "a,b,c," (strings unquoted). */
static __attribute__((unused)) const char *res_column(const al_reply *rep, const char *key)
{
	static char out[8192];
	out[0] = 0;
	for (long i = 0; i < th_res_len(rep); i++) {
		char v[1024];
		snprintf(v, sizeof v, "%s", res_json_at(rep, i, key));
		size_t n = strlen(v);
		if (n >= 2 && v[0] == '"') {
			v[n - 1] = 0;
			memmove(v, v + 1, n - 1);
		}
		strncat(out, v, sizeof out - strlen(out) - 2);
		strcat(out, ",");
	}
	return out;
}

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
