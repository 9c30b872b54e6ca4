/*
 * srv_feed.c - what the server streams: events as maps (watch, log), the change feed on the
 * loop, and streamed reads, audit listings and CSV exports on the workers.
 *
 * Memory stays bounded by back-pressure, not by the result's size: a worker stream hands its
 * frames over in chunks and waits while about SRV_STREAM_HIGH bytes are unsent
 * (srv_stream_flush); a watch sends while the connection's output is below that and resumes
 * from the write callback.
 */
#define _GNU_SOURCE /* fopencookie */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/srv_int.h"

/* ---- events as maps ------------------------------------------------------------------------------ */

static bool secret_field(const al_event *e, const msgpack_object *key)
{
	for (size_t i = 0; i < e->def->nfields; i++)
		if ((e->def->fields[i].flags & AL_F_SECRET) && al_mp_str_eq(key, e->def->fields[i].name))
			return true;
	return false;
}

void srv_pack_event(msgpack_packer *pk, const al_event *e)
{
	const al_str *opt[] = {&e->as_user, &e->user_id, &e->access_key, &e->client, &e->request_id, &e->reason};
	static const char *const names[] = {"as", "user_id", "access_key", "client", "request_id", "reason"};
	uint32_t n = 9;
	for (int i = 0; i < 6; i++)
		n += opt[i]->n > 0;
	msgpack_pack_map(pk, n);
	al_pack_cstr(pk, "seq");
	msgpack_pack_uint64(pk, e->seq);
	al_pack_cstr(pk, "time");
	msgpack_pack_int64(pk, e->time_us);
	al_pack_cstr(pk, "type");
	al_pack_cstr(pk, e->def->name);
	al_pack_cstr(pk, "version");
	msgpack_pack_unsigned_int(pk, e->def->version);
	al_pack_cstr(pk, "actor");
	al_pack_str(pk, e->actor.p, e->actor.n);
	al_pack_cstr(pk, "entity");
	msgpack_pack_str(pk, e->kind.n + 1 + e->id.n);
	msgpack_pack_str_body(pk, e->kind.p, e->kind.n);
	msgpack_pack_str_body(pk, ":", 1);
	msgpack_pack_str_body(pk, e->id.p, e->id.n);
	al_pack_cstr(pk, "kind");
	al_pack_str(pk, e->kind.p, e->kind.n);
	al_pack_cstr(pk, "id");
	al_pack_str(pk, e->id.p, e->id.n);
	for (int i = 0; i < 6; i++)
		if (opt[i]->n) {
			al_pack_cstr(pk, names[i]);
			al_pack_str(pk, opt[i]->p, opt[i]->n);
		}
	al_pack_cstr(pk, "fields");
	uint32_t nf = 0, total = e->fields.type == MSGPACK_OBJECT_MAP ? e->fields.via.map.size : 0;
	for (uint32_t i = 0; i < total; i++)
		nf += !secret_field(e, &e->fields.via.map.ptr[i].key);
	msgpack_pack_map(pk, nf);
	for (uint32_t i = 0; i < total; i++) {
		const msgpack_object_kv *kv = &e->fields.via.map.ptr[i];
		if (!secret_field(e, &kv->key)) {
			msgpack_pack_object(pk, kv->key);
			msgpack_pack_object(pk, kv->val);
		}
	}
}

/* ---- frames built on a worker -------------------------------------------------------------------- */

static size_t frame_open(msgpack_sbuffer *sb, msgpack_packer *pk)
{
	size_t at = sb->size;
	al_sbuffer_write(sb, "\0\0\0\0", 4);
	msgpack_packer_init(pk, sb, al_sbuffer_write);
	return at;
}

static void frame_close(msgpack_sbuffer *sb, size_t at)
{
	size_t n = sb->size - at - 4;
	unsigned char *h = (unsigned char *)sb->data + at;
	h[0] = (unsigned char)(n >> 24);
	h[1] = (unsigned char)(n >> 16);
	h[2] = (unsigned char)(n >> 8);
	h[3] = (unsigned char)n;
}

/* The stream's frames so far go to the loop when there are enough of them; 1 when cancelled. */
static int maybe_flush(job *j)
{
	al_srv *srv = j->c->srv;
	if (j->sb.size >= SRV_CHUNK)
		srv_stream_flush(srv, j, false);
	pthread_mutex_lock(&srv->mu);
	int stop = j->cancel != C_NONE || srv->quit;
	pthread_mutex_unlock(&srv->mu);
	return stop;
}

/* A stream item's frame: {id, KEY: <packed by the caller>}, closed by item_close. */
static size_t item_open(job *j, msgpack_packer *pk, const char *key)
{
	size_t at = frame_open(&j->sb, pk);
	msgpack_pack_map(pk, 2);
	al_pack_cstr(pk, "id");
	srv_pack_id(pk, j->id, j->idlen);
	al_pack_cstr(pk, key);
	return at;
}

/* Closes the item's frame, counts n (rows or csv bytes); 1 when cancelled. */
static int item_close(job *j, size_t at, size_t n)
{
	frame_close(&j->sb, at);
	j->count += n;
	return maybe_flush(j);
}

static int row_sink(const msgpack_object *row, void *ctx)
{
	job *j = ctx;
	msgpack_packer pk;
	size_t at = item_open(j, &pk, "row");
	msgpack_pack_object(&pk, *row);
	return item_close(j, at, 1);
}

static int event_sink(const al_event *e, void *ctx)
{
	job *j = ctx;
	msgpack_packer pk;
	size_t at = item_open(j, &pk, "row");
	srv_pack_event(&pk, e);
	return item_close(j, at, 1);
}

static ssize_t csv_write(void *cookie, const char *buf, size_t size)
{
	job *j = cookie;
	msgpack_packer pk;
	size_t at = item_open(j, &pk, "csv");
	al_pack_str(&pk, buf, size);
	return item_close(j, at, size) ? -1 : (ssize_t)size;
}

/* ---- streams on a worker ------------------------------------------------------------------------- */

/* The audit listing's filter from the args (strings copied into zone). */
static int log_filter(const msgpack_object *args, al_log_filter *f, msgpack_zone *z, al_error *err)
{
	static const char *const strs[] = {"entity", "actor", "type"};
	static const char *const ints[] = {"since", "until", "after_seq", "limit"};
	const char **sdst[] = {&f->entity, &f->actor, &f->type};
	memset(f, 0, sizeof *f);
	for (uint32_t i = 0; args && i < args->via.map.size; i++) {
		const msgpack_object *k = &args->via.map.ptr[i].key;
		bool known = false;
		for (int s = 0; s < 3; s++)
			known |= al_mp_str_eq(k, strs[s]);
		for (int s = 0; s < 4; s++)
			known |= al_mp_str_eq(k, ints[s]);
		if (!known)
			return al_err(err, AL_EINVALID_ARGUMENT, "%.*s: unknown argument of log",
				      k->type == MSGPACK_OBJECT_STR ? (int)(k->via.str.size > 64 ? 64 : k->via.str.size) : 1,
				      k->type == MSGPACK_OBJECT_STR ? k->via.str.ptr : "?");
	}
	for (int s = 0; s < 3; s++) {
		al_str v;
		int r = args ? al_mp_str(args, strs[s], &v) : 0;
		if (r < 0 || (r == 1 && (v.n == 0 || v.n > 512 || memchr(v.p, 0, v.n))))
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: must be a string of 1 to 512 bytes", strs[s]);
		if (r == 1) {
			char *c = al_zone_malloc(z, v.n + 1);
			if (c == NULL)
				return al_err(err, AL_ENO_MEMORY, "out of memory");
			*sdst[s] = al_str_cpy(c, v.n + 1, v);
		}
	}
	int64_t v[4] = {0, 0, 0, 0};
	for (int s = 0; s < 4; s++)
		if (args && (al_mp_int(args, ints[s], &v[s]) < 0 || v[s] < 0))
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: must be an integer >= 0", ints[s]);
	f->since_us = v[0];
	f->until_us = v[1];
	f->after_seq = (uint64_t)v[2];
	f->limit = (size_t)v[3];
	if (f->type && al_event_def_by_name(f->type) == NULL)
		return al_err(err, AL_EINVALID_ARGUMENT, "type: no event type named %.64s", f->type);
	return AL_OK;
}

static int run_log(al_store *s, job *j, al_error *err)
{
	msgpack_zone z;
	msgpack_object args = {.type = MSGPACK_OBJECT_NIL};
	al_log_filter f;
	msgpack_zone_init(&z, 1024);
	int rc = j->args && al_mp_decode(j->args, j->args_len, &z, &args) != 0
			 ? al_err(err, AL_EINVALID_ARGUMENT, "args: do not decode")
			 : log_filter(j->args ? &args : NULL, &f, &z, err);
	if (rc == AL_OK)
		rc = al_log_query(s, &f, event_sink, j, err);
	msgpack_zone_destroy(&z);
	return rc;
}

static int run_export(al_store *s, job *j, al_error *err)
{
	msgpack_zone z;
	msgpack_object args = {.type = MSGPACK_OBJECT_NIL};
	msgpack_zone_init(&z, 1024);
	al_str what = {"", 0};
	char w[64];
	int rc = AL_OK;
	if (j->args == NULL || al_mp_decode(j->args, j->args_len, &z, &args) != 0 || al_mp_str(&args, "what", &what) != 1 ||
	    what.n >= sizeof w)
		rc = al_err(err, AL_EINVALID_ARGUMENT, "what: is required: the list to export (%s)", al_export_names());
	/* The other arguments are the list command's filters. */
	msgpack_sbuffer rest;
	msgpack_packer pk;
	msgpack_sbuffer_init(&rest);
	msgpack_packer_init(&pk, &rest, al_sbuffer_write);
	if (rc == AL_OK) {
		msgpack_pack_map(&pk, args.via.map.size - 1);
		for (uint32_t i = 0; i < args.via.map.size; i++)
			if (!al_mp_str_eq(&args.via.map.ptr[i].key, "what")) {
				msgpack_pack_object(&pk, args.via.map.ptr[i].key);
				msgpack_pack_object(&pk, args.via.map.ptr[i].val);
			}
	}
	FILE *out = NULL;
	if (rc == AL_OK) {
		cookie_io_functions_t io = {.write = csv_write};
		if ((out = fopencookie(j, "w", io)) == NULL)
			rc = al_err(err, AL_ENO_MEMORY, "out of memory");
		else
			setvbuf(out, NULL, _IOFBF, SRV_CHUNK / 2);
	}
	if (rc == AL_OK) {
		al_request req = {"", rest.data, rest.size, &j->actor};
		rc = al_export_csv(s, al_str_cpy(w, sizeof w, what), &req, out, err);
	}
	if (out)
		fclose(out);
	al_sbuffer_destroy(&rest);
	msgpack_zone_destroy(&z);
	return rc;
}

/* The error frame of a stream stopped because its owner lost the right to it. */
static int lost_rights(job *j, int cancel, al_error *err)
{
	if (cancel == C_UNAUTH)
		return al_err(err, AL_EUNAUTHENTICATED, "%s: ended: the user or keypair is no longer active; log in again",
			      j->op);
	return al_err(err, AL_EPERMISSION_DENIED, "%s: ended: its owner no longer has the right to it", j->op);
}

/* The store a stream reads: the present, or the as-of store of its at. */
static int stream_store(al_srv *srv, job *j, al_store **s, al_error *err)
{
	int rc = j->at[0] ? srv_asof_acquire(srv, j, err) : AL_OK;
	if (rc == AL_OK && j->view)
		*s = j->view;
	return rc;
}

void srv_stream_run(al_srv *srv, job *j)
{
	al_error err = {0};
	int rc;
	pthread_mutex_lock(&srv->mu);
	int cancel = j->cancel;
	pthread_mutex_unlock(&srv->mu);
	al_store *s = srv->s;
	rc = cancel != C_NONE ? AL_EIO_ERROR : stream_store(srv, j, &s, &err); /* cancelled before it started */
	if (rc == AL_OK && j->skind == S_LOG)
		rc = run_log(s, j, &err);
	else if (rc == AL_OK && j->skind == S_EXPORT)
		rc = run_export(s, j, &err);
	else if (rc == AL_OK) {
		al_request req = {j->op, j->args, j->args_len, &j->actor};
		rc = al_exec_stream(s, &req, row_sink, j, &err);
	}
	srv_asof_release(srv, j);
	pthread_mutex_lock(&srv->mu);
	cancel = j->cancel;
	pthread_mutex_unlock(&srv->mu);
	if (rc != AL_OK && (cancel == C_DENIED || cancel == C_UNAUTH))
		lost_rights(j, cancel, &err);
	msgpack_packer pk;
	size_t at = frame_open(&j->sb, &pk);
	if (rc == AL_OK || cancel == C_CLIENT) { /* a cancelled stream ends like a finished one */
		msgpack_pack_map(&pk, 3);
		al_pack_cstr(&pk, "id");
		srv_pack_id(&pk, j->id, j->idlen);
		al_pack_cstr(&pk, "done");
		msgpack_pack_true(&pk);
		al_pack_cstr(&pk, "count");
		msgpack_pack_uint64(&pk, j->count);
	} else {
		if (err.code == AL_OK)
			al_err(&err, rc < 0 ? rc : AL_EINTERNAL, "%s: the stream failed", j->op);
		j->rep.err = err;
		msgpack_pack_map(&pk, 2);
		al_pack_cstr(&pk, "id");
		srv_pack_id(&pk, j->id, j->idlen);
		al_pack_cstr(&pk, "error");
		msgpack_pack_map(&pk, 2);
		al_pack_cstr(&pk, "code");
		al_pack_cstr(&pk, al_err_name(err.code));
		al_pack_cstr(&pk, "message");
		al_pack_cstr(&pk, err.msg);
	}
	frame_close(&j->sb, at);
	srv_stream_flush(srv, j, true);
}

/* ---- watch: the change feed, on the loop ------------------------------------------------------- */

static int watch_event(const al_event *e, void *ctx)
{
	watch *w = ctx;
	msgpack_packer pk;
	srv_frame_begin(w->c->srv, &pk);
	msgpack_pack_map(&pk, 2);
	al_pack_cstr(&pk, "id");
	srv_pack_id(&pk, w->id, w->idlen);
	al_pack_cstr(&pk, "row");
	srv_pack_event(&pk, e);
	srv_frame_send(w->c);
	w->next_seq = e->seq + 1;
	w->count++;
	return 0;
}

void srv_watch_start(conn *c, const char *id, size_t idlen, uint64_t from_seq)
{
	watch *w = al_calloc(1, sizeof *w);
	if (w == NULL) {
		srv_send_error(c, id, idlen, AL_ENO_MEMORY, "out of memory");
		return;
	}
	w->c = c;
	memcpy(w->id, id, idlen);
	w->idlen = idlen;
	w->next_seq = from_seq + 1;
	w->t0 = srv_mono_us();
	srv_actor_copy(&w->owner, w->owner_buf, sizeof w->owner_buf, &c->actor);
	w->next = c->watches;
	c->watches = w;
	srv_log(c->srv, AL_SRV_LOG_INFO, "%s %s watches from seq %llu", c->client, c->actor.name ? c->actor.name : "-",
		(unsigned long long)from_seq);
	srv_watch_pump(w);
}

/* Sends what the log holds beyond the watch's position while the client keeps up. */
void srv_watch_pump(watch *w)
{
	conn *c = w->c;
	al_srv *srv = c->srv;
	while (c->open && !c->closing && w->next_seq <= srv->head &&
	       evbuffer_get_length(bufferevent_get_output(c->bev)) < SRV_STREAM_HIGH) {
		al_log_filter f = {.after_seq = w->next_seq - 1, .limit = 256};
		al_error err = {0};
		uint64_t before = w->next_seq;
		if (al_log_query(srv->s, &f, watch_event, w, &err) != AL_OK) {
			srv_watch_fail(w, err.code, err.msg);
			return;
		}
		if (w->next_seq == before)
			break;
	}
}

/* Unlinks, logs and frees the watch. */
static void watch_free(watch *w, int code)
{
	conn *c = w->c;
	for (watch **p = &c->watches; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	srv_log_req(c, &w->owner, "watch", code, w->t0);
	al_free(w);
}

void srv_watch_fail(watch *w, int code, const char *msg)
{
	srv_send_error(w->c, w->id, w->idlen, code, msg);
	watch_free(w, code);
}

void srv_watch_end(watch *w, bool send_done)
{
	conn *c = w->c;
	if (send_done && c->open) {
		msgpack_packer pk;
		srv_frame_begin(c->srv, &pk);
		msgpack_pack_map(&pk, 3);
		al_pack_cstr(&pk, "id");
		srv_pack_id(&pk, w->id, w->idlen);
		al_pack_cstr(&pk, "done");
		msgpack_pack_true(&pk);
		al_pack_cstr(&pk, "count");
		msgpack_pack_uint64(&pk, w->count);
		srv_frame_send(c);
	}
	watch_free(w, AL_OK);
}
