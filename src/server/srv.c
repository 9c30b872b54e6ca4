/*
 * srv.c - adminlogd's event loop: listeners, connections, frames, dispatch, answers, stop.
 * The protocol is docs/protocol.md; the server's own operations (login, auth, watch, ...) are
 * in srv_ops.c, the threads and group commit in srv_pool.c, events, watch and streams in
 * srv_feed.c, hashing processes in srv_hash.c, rate windows in srv_rate.c, the queue of
 * logins waiting for a worker in srv_login.c, reads from the past (at) and the checkpoint
 * thread in srv_asof.c.
 *
 * A frame is handled in the loop turn that completed it: checked (al_mp_check bounds the
 * decode by the frame's length before msgpack-c sees it), decoded, dispatched. Reads are
 * answered at once from a read transaction; writes join the writer's queue (after a worker
 * ran their prepare step when it is slow, keeping each connection's writes in order).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "server/srv_int.h"

#define STOP_DEADLINE_S 30 /* a stop that waits longer than this for clients closes them anyway */

static void process_input(conn *c);
static void conn_close_soon(conn *c);
static void check_stopped(al_srv *srv);
static void job_done(job *j);

/* The server's own timers: what they run, and how often (each runs at the first poll too). */
#define SRV_EXPIRE_EVERY_US (5 * 1000000ll) /* agent.expire: the agents' LOST timer */
#define SRV_SESSION_EXPIRE_EVERY_US (15 * 1000000ll) /* session.expire: the platform's DEFAULT_CHECK_INTERVAL */

/* ---- small things ------------------------------------------------------------------------------ */

int64_t srv_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void log_line(const char *line)
{
	char t[40];
	fprintf(stderr, "%s adminlogd: %s\n", al_time_format(al_clock_real(NULL), t, sizeof t), line);
}

void srv_log(al_srv *srv, int level, const char *fmt, ...)
{
	if (level > srv->o.log_level)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	log_line(line);
}

void al_srv_store_log(void *opts, int level, const char *msg)
{
	const al_srv_opts *o = opts;
	if ((level == AL_LOG_WARN ? AL_SRV_LOG_WARN : AL_SRV_LOG_INFO) <= o->log_level)
		log_line(msg);
}

/* The one line per request: time, client, actor, op, result code, µs. The op comes from the
 * client, so anything but visible ASCII is shown as '?' (no forged log lines). */
void srv_log_req(conn *c, const al_actor *a, const char *op, int code, int64_t t0)
{
	al_srv *srv = c->srv;
	if (srv->o.log_level < AL_SRV_LOG_INFO)
		return;
	char t[40], shown[SRV_OP_MAX];
	size_t i = 0;
	for (; op[i] && i + 1 < sizeof shown; i++)
		shown[i] = op[i] > 0x20 && op[i] < 0x7f ? op[i] : '?';
	shown[i] = 0;
	fprintf(stderr, "%s %s %s %s %s %lldus\n", al_time_format(al_clock_real(NULL), t, sizeof t), c->client,
		a && a->name ? a->name : "-", i ? shown : "-", code ? al_err_name(code) : "ok",
		(long long)(srv_mono_us() - t0));
}

msgpack_packer *srv_frame_begin(al_srv *srv, msgpack_packer *pk)
{
	srv->frame_nomem = al__nomem_count(); /* the loop's thread: its own count */
	srv->out.size = 0;
	al_sbuffer_write(&srv->out, "\0\0\0\0", 4);
	msgpack_packer_init(pk, &srv->out, al_sbuffer_write);
	return pk;
}

void srv_frame_send(conn *c)
{
	al_srv *srv = c->srv;
	if (srv->out.data == NULL || srv->out.size < 4 || al__nomem_count() != srv->frame_nomem) {
		/* out of memory while packing: the frame is short or missing; sending it would
		 * desynchronise the client, and an error frame needs memory too */
		srv_log(srv, AL_SRV_LOG_ERROR, "out of memory answering connection %llu; closing it",
			(unsigned long long)c->num);
		srv->out.size = 0;
		conn_close_soon(c);
		return;
	}
	size_t n = srv->out.size - 4;
	unsigned char *h = (unsigned char *)srv->out.data;
	h[0] = (unsigned char)(n >> 24);
	h[1] = (unsigned char)(n >> 16);
	h[2] = (unsigned char)(n >> 8);
	h[3] = (unsigned char)n;
	if (c->open)
		bufferevent_write(c->bev, srv->out.data, srv->out.size);
	sodium_memzero(srv->out.data, srv->out.size); /* it may have held a secret key */
	if (srv->out.alloc > (1u << 20)) {             /* do not keep a huge result's buffer */
		al_sbuffer_destroy(&srv->out);
		msgpack_sbuffer_init(&srv->out);
	}
}

void srv_pack_id(msgpack_packer *pk, const char *id, size_t idlen)
{
	if (idlen)
		pk->callback(pk->data, id, idlen);
	else
		msgpack_pack_nil(pk);
}

static void pack_error(msgpack_packer *pk, int code, const char *msg)
{
	msgpack_pack_map(pk, 2);
	al_pack_cstr(pk, "code");
	al_pack_cstr(pk, al_err_name(code));
	al_pack_cstr(pk, "message");
	al_pack_cstr(pk, msg);
}

void srv_send_error(conn *c, const char *id, size_t idlen, int code, const char *msg)
{
	msgpack_packer pk;
	srv_frame_begin(c->srv, &pk);
	msgpack_pack_map(&pk, 2);
	al_pack_cstr(&pk, "id");
	srv_pack_id(&pk, id, idlen);
	al_pack_cstr(&pk, "error");
	pack_error(&pk, code, msg);
	srv_frame_send(c);
}

/* Answers a request with an al_reply (result or error). */
static void send_reply(conn *c, const char *id, size_t idlen, const al_reply *rep)
{
	al_srv *srv = c->srv;
	if (rep->err.code) {
		srv_send_error(c, id, idlen, rep->err.code, rep->err.msg);
		return;
	}
	if (rep->result_len > srv->o.max_result) {
		char m[160];
		snprintf(m, sizeof m, "result: %zu bytes, more than the %zu a frame may carry; ask with stream: true",
			 rep->result_len, srv->o.max_result);
		srv_send_error(c, id, idlen, AL_ELIMIT_EXCEEDED, m);
		return;
	}
	msgpack_packer pk;
	srv_frame_begin(srv, &pk);
	msgpack_pack_map(&pk, 2 + (rep->last_seq ? 2 : 0) + (rep->replayed ? 1 : 0));
	al_pack_cstr(&pk, "id");
	srv_pack_id(&pk, id, idlen);
	al_pack_cstr(&pk, "result");
	if (rep->result_len)
		al_sbuffer_write(&srv->out, rep->result, rep->result_len);
	else
		msgpack_pack_nil(&pk);
	if (rep->last_seq) {
		al_pack_cstr(&pk, "first_seq");
		msgpack_pack_uint64(&pk, rep->first_seq);
		al_pack_cstr(&pk, "last_seq");
		msgpack_pack_uint64(&pk, rep->last_seq);
	}
	if (rep->replayed) {
		al_pack_cstr(&pk, "replayed");
		msgpack_pack_true(&pk);
	}
	srv_frame_send(c);
}

/* Answers with a result packed into sb (a msgpack value). */
void srv_send_result(conn *c, const request *rq, msgpack_sbuffer *sb)
{
	al_reply rep = {.result = sb->data, .result_len = sb->size};
	send_reply(c, rq->id, rq->idlen, &rep);
	srv_log_req(c, c->authed ? &c->actor : NULL, rq->op, AL_OK, rq->t0);
}

void srv_reply_error(conn *c, const request *rq, int code, const char *fmt, ...)
{
	char m[AL_ERR_MSG_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	srv_send_error(c, rq->id, rq->idlen, code, m);
	srv_log_req(c, c->authed ? &c->actor : NULL, rq->op, code, rq->t0);
}

/* ---- connections --------------------------------------------------------------------------------- */

void srv_conn_unref(conn *c)
{
	if (--c->refs == 0)
		al_free(c);
}

static size_t out_len(conn *c) { return c->open ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0; }

static void conn_close(conn *c)
{
	if (!c->open)
		return;
	al_srv *srv = c->srv;
	c->open = false;
	bufferevent_free(c->bev);
	c->bev = NULL;
	event_free(c->idle);
	c->idle = NULL;
	event_free(c->handshake);
	c->handshake = NULL;
	if (!c->authed)
		srv->nunauth--;
	job *login = srv_login_drop(c);
	if (login) { /* never verified: it does not count, and nobody waits for its answer */
		srv_login_uncount(login);
		job_done(login);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	while (c->watches)
		srv_watch_end(c->watches, false);
	pthread_mutex_lock(&srv->mu);
	for (job *j = c->streams; j; j = j->snext)
		j->cancel = C_GONE;
	pthread_cond_broadcast(&srv->flow);
	pthread_mutex_unlock(&srv->mu);
	srv_log(srv, AL_SRV_LOG_DEBUG, "connection %llu from %s closed", (unsigned long long)c->num, c->client);
	srv_conn_unref(c);
	check_stopped(srv);
}

/* Closes once the output is sent. Never closes at once: callers may be in the middle of a
 * frame that points into the input buffer; the write callback does it. */
static void conn_close_soon(conn *c)
{
	if (!c->open || c->closing)
		return;
	c->closing = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_trigger(c->bev, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* A framing error: one error frame without id, then close. */
static void proto_fail(conn *c, int code, const char *msg, int64_t t0)
{
	srv_send_error(c, NULL, 0, code, msg);
	srv_log_req(c, c->authed ? &c->actor : NULL, "-", code, t0);
	conn_close_soon(c);
}

static void pause_reading(conn *c)
{
	if (!c->paused) {
		c->paused = true;
		bufferevent_disable(c->bev, EV_READ);
	}
}

static bool over_limits(conn *c)
{
	return c->inflight >= c->srv->o.max_inflight || out_len(c) > SRV_OUT_HIGH;
}

static void maybe_resume(conn *c)
{
	if (!c->open || !c->paused || c->closing || c->srv->stopping || over_limits(c))
		return;
	c->paused = false;
	if (!c->eof)
		bufferevent_enable(c->bev, EV_READ);
	process_input(c);
}

static bool busy(const conn *c) { return c->inflight || c->streams || c->watches; }

/* After the client closed its side: answer what was read, then close. A watch never ends by
 * itself, so it ends here (with its done frame): otherwise a closed client's connection would
 * hold its slot until a write to it failed, which on a quiet log is never. */
static void eof_check(conn *c)
{
	if (!c->open || !c->eof || c->closing || c->paused)
		return;
	size_t avail = evbuffer_get_length(bufferevent_get_input(c->bev));
	if (avail) {
		proto_fail(c, AL_EINVALID_ARGUMENT, "frame: truncated (the connection ended inside a frame)",
			   srv_mono_us());
		return;
	}
	while (c->watches)
		srv_watch_end(c->watches, true);
	if (!busy(c))
		conn_close_soon(c);
}

static void arm_idle(conn *c, int seconds)
{
	struct timeval tv = {seconds, 0};
	if (c->idle)
		evtimer_add(c->idle, &tv);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	conn *c = arg;
	if (!c->open)
		return;
	if (c->closing) { /* the client does not read its last frame */
		conn_close(c);
		return;
	}
	if (busy(c)) {
		arm_idle(c, c->srv->o.idle_timeout);
		return;
	}
	char m[96];
	snprintf(m, sizeof m, "idle: no request for %d s", c->srv->o.idle_timeout);
	srv_send_error(c, NULL, 0, AL_ELIMIT_EXCEEDED, m);
	conn_close_soon(c);
	arm_idle(c, 5);
}

/* A connection has handshake_timeout seconds to authenticate, whatever it sends meanwhile, so
 * that half-sent frames and idle chatter cannot keep a slot. A login in progress is waited for. */
static void on_handshake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	conn *c = arg;
	if (!c->open || c->authed || c->closing)
		return;
	if (c->login) { /* a login waiting or being verified: its answer decides */
		struct timeval tv = {1, 0};
		evtimer_add(c->handshake, &tv);
		return;
	}
	char m[96];
	snprintf(m, sizeof m, "handshake: not authenticated within %d s", c->srv->o.handshake_timeout);
	srv_send_error(c, NULL, 0, AL_ELIMIT_EXCEEDED, m);
	srv_log(c->srv, AL_SRV_LOG_DEBUG, "connection %llu from %s: %s", (unsigned long long)c->num, c->client, m);
	conn_close_soon(c);
	arm_idle(c, 5); /* closed then even if the client does not read */
}

void srv_conn_set_authed(conn *c, bool authed)
{
	if (!c->open || c->authed == authed)
		return;
	c->authed = authed;
	c->srv->nunauth += authed ? -1 : 1;
	if (authed)
		evtimer_del(c->handshake);
	else {
		struct timeval tv = {c->srv->o.handshake_timeout, 0};
		evtimer_add(c->handshake, &tv);
	}
}

/* ---- jobs ---------------------------------------------------------------------------------------------- */

job *srv_job_new(conn *c, const request *rq, int kind)
{
	al_srv *srv = c->srv;
	job *j = al_calloc(1, sizeof *j);
	if (j == NULL)
		return NULL;
	j->kind = kind;
	j->c = c;
	c->refs++;
	memcpy(j->id, rq->id, rq->idlen);
	j->idlen = rq->idlen;
	snprintf(j->op, sizeof j->op, "%s", rq->op);
	if (rq->args) {
		msgpack_sbuffer sb;
		msgpack_packer pk;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, al_sbuffer_write);
		msgpack_pack_object(&pk, *rq->args);
		j->args = sb.data;
		j->args_len = sb.size;
	}
	srv_actor_copy(&j->actor, j->actor_buf, sizeof j->actor_buf, &c->actor);
	j->t0 = rq->t0;
	memcpy(j->at, rq->at, sizeof j->at);
	msgpack_sbuffer_init(&j->sb);
	c->inflight++;
	srv->inflight++;
	return j;
}

/* The end of a job on the loop: the connection may read again, or close, or the server stop. */
static void job_done(job *j)
{
	conn *c = j->c;
	al_srv *srv = c->srv;
	c->inflight--;
	srv->inflight--;
	srv_job_free(j);
	maybe_resume(c);
	eof_check(c);
	srv_conn_unref(c);
	check_stopped(srv);
}

void srv_answer_job(job *j)
{
	conn *c = j->c;
	if (c->open)
		send_reply(c, j->id, j->idlen, &j->rep);
	srv_log_req(c, &j->actor, j->op, j->rep.err.code, j->t0);
	job_done(j);
}

/* Hands the connection's writes to the writer in arrival order, as far as they are ready. */
static void flush_writes(conn *c)
{
	while (c->wfirst && c->wfirst->ready) {
		job *j = c->wfirst;
		if ((c->wfirst = j->wnext) == NULL)
			c->wlast = NULL;
		if (j->failed)
			srv_answer_job(j);
		else {
			j->kind = J_WRITE;
			srv_submit_write(c->srv, j);
		}
	}
}

/* Whether a write's prepare step is slow, as the command table declares it (AL_PREP): network
 * I/O always (a registry may not answer for minutes), argon2id only when a PASSWORD argument is
 * given. A quick step (ids, keys, sealing) is left to al_exec_batch on the writer, saving a
 * thread hop; a slow one never runs there, where it would hold every client's writes. */
static bool slow_prepare(const al_cmd_def *d, const msgpack_object *args)
{
	if (d->prep == AL_PREP_NETWORK)
		return true;
	if (d->prep != AL_PREP_HASHES || args == NULL)
		return false;
	for (size_t i = 0; i < d->nargs; i++) {
		const msgpack_object *v = d->args[i].type == AL_T_PASSWORD ? al_mp_get(args, d->args[i].name) : NULL;
		if (v && v->type != MSGPACK_OBJECT_NIL)
			return true;
	}
	return false;
}

static void submit_write(conn *c, const request *rq, const al_cmd_def *d)
{
	job *j = srv_job_new(c, rq, J_WRITE);
	if (j == NULL) {
		srv_reply_error(c, rq, AL_ENO_MEMORY, "out of memory");
		return;
	}
	j->ready = !slow_prepare(d, rq->args);
	if (c->wlast)
		c->wlast->wnext = j;
	else
		c->wfirst = j;
	c->wlast = j;
	if (!j->ready) { /* hashing or network: on a worker thread, never on the loop or the writer */
		j->kind = J_PREPARE;
		srv_submit_job(c->srv, j);
	}
	flush_writes(c);
}

/* The command whose rights a stream needs while it runs: the list behind an export. */
static const al_cmd_def *stream_def(const request *rq, int skind)
{
	al_str what;
	char w[64];
	if (skind == S_CMD)
		return al_cmd_def_find(rq->op);
	if (skind != S_EXPORT || rq->args == NULL || al_mp_str(rq->args, "what", &what) != 1 || what.n >= sizeof w)
		return NULL;
	const char *op = al_export_op(al_str_cpy(w, sizeof w, what));
	return op ? al_cmd_def_find(op) : NULL;
}

static void start_stream(conn *c, const request *rq, int skind)
{
	job *j = srv_job_new(c, rq, J_STREAM);
	if (j == NULL) {
		srv_reply_error(c, rq, AL_ENO_MEMORY, "out of memory");
		return;
	}
	j->skind = skind;
	j->def = stream_def(rq, skind);
	j->snext = c->streams;
	c->streams = j;
	srv_submit_job(c->srv, j);
}

static void stream_chunk(chunk *ch)
{
	job *j = ch->j;
	conn *c = j->c;
	al_srv *srv = c->srv;
	if (c->open && j->cancel != C_GONE)
		bufferevent_write(c->bev, ch->data, ch->len);
	pthread_mutex_lock(&srv->mu);
	j->queued -= ch->len;
	j->outlen = out_len(c);
	pthread_mutex_unlock(&srv->mu);
	if (ch->last) {
		for (job **p = &c->streams; *p; p = &(*p)->snext)
			if (*p == j) {
				*p = j->snext;
				break;
			}
		srv_log_req(c, &j->actor, j->op, j->rep.err.code, j->t0);
		job_done(j);
	}
	al_free(ch->data);
	al_free(ch);
}

static void pump_watches(al_srv *srv)
{
	for (conn *c = srv->conns; c; c = c->next)
		for (watch *w = c->watches, *next; w; w = next) {
			next = w->next;
			srv_watch_pump(w);
		}
}

/* Finished jobs and stream output, brought back by the threads. */
/* ---- the server's own writes ---------------------------------------------------------------------------- */

/* The server's own actor: what its timers record is signed "adminlogd". */
static const al_actor own_actor = {"adminlogd", AL_ROLE_SUPERADMIN, NULL, NULL, NULL, NULL, NULL};

/* A write the server issues itself (no connection answers it): queued to the writer like any
 * other, so it joins the next group commit. */
static bool submit_own_write(al_srv *srv, const char *op)
{
	job *j = al_calloc(1, sizeof *j);
	if (j == NULL)
		return false; /* the timer tries again */
	j->kind = J_WRITE;
	j->ready = true;
	snprintf(j->op, sizeof j->op, "%s", op);
	j->actor = own_actor;
	j->t0 = srv_mono_us();
	msgpack_sbuffer_init(&j->sb);
	srv_submit_write(srv, j);
	return true;
}

/* ---- scheduling passes ------------------------------------------------------------------------ */

#define SCHED_SETTING_EVERY_US (5 * 1000000ll) /* a changed scheduler-interval is seen within this */
#define SCHED_DEFAULT_US (10 * 1000000ll)      /* the platform's 10 s, when the setting is unreadable */

/* The scheduler-interval setting in µs. */
static int64_t sched_interval(al_srv *srv)
{
	int64_t v = 0;
	if (al_setting_int(srv->s, "scheduler-interval", &v, NULL) != AL_OK || v <= 0)
		return SCHED_DEFAULT_US;
	return v * 1000000;
}

/* Runs a pass when a session or an agent changed, or every scheduler-interval seconds (for
 * start times and pending timeouts), never two at once: the platform's triggers. */
static void sched_maybe(al_srv *srv)
{
	int64_t now = srv_mono_us();
	if (srv->stopping || srv->sched_running)
		return;
	if (now - srv->sched_read_at >= SCHED_SETTING_EVERY_US || srv->sched_every_us == 0) {
		srv->sched_every_us = sched_interval(srv);
		srv->sched_read_at = now;
	}
	if (!srv->sched_due && now - srv->scheduled_at < srv->sched_every_us)
		return;
	srv->scheduled_at = now;
	if (submit_own_write(srv, "scheduler.run"))
		srv->sched_due = false, srv->sched_running = true;
}

/* Whether a write that recorded events may let a pending session run (or time out). */
static bool sched_trigger(const job *j)
{
	return j->rep.err.code == AL_OK && j->rep.last_seq &&
	       ((strncmp(j->op, "session.", 8) == 0 && strcmp(j->op, "session.touch") != 0) ||
		strncmp(j->op, "agent.", 6) == 0 || strncmp(j->op, "rgroup.", 7) == 0 || strncmp(j->op, "policy.", 7) == 0);
}

static void own_write_done(al_srv *srv, job *j)
{
	if (strcmp(j->op, "scheduler.run") == 0)
		srv->sched_running = false;
	if (j->rep.err.code)
		srv_log(srv, AL_SRV_LOG_WARN, "%s: %s: %s", j->op, al_err_name(j->rep.err.code), j->rep.err.msg);
	else if (j->rep.last_seq)
		srv_log(srv, AL_SRV_LOG_INFO, "%s: recorded events %llu-%llu", j->op, (unsigned long long)j->rep.first_seq,
			(unsigned long long)j->rep.last_seq);
	srv_job_free(j);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	al_srv *srv = arg;
	pthread_mutex_lock(&srv->mu);
	job *jobs = srv->dq_first;
	chunk *chunks = srv->cq_first;
	srv->dq_first = srv->dq_last = NULL;
	srv->cq_first = srv->cq_last = NULL;
	pthread_mutex_unlock(&srv->mu);
	bool wrote = false;
	for (job *j = jobs, *next; j; j = next) {
		next = j->next;
		if (j->kind == J_PREPARE) {
			j->ready = true; /* set here, not by the worker: the loop owns the write order */
			flush_writes(j->c);
		} else if (j->kind == J_LOGIN)
			srv_login_done(j);
		else {
			if (j->rep.last_seq > srv->head) {
				srv->head = j->rep.last_seq;
				wrote = true;
			}
			srv->sched_due |= sched_trigger(j);
			if (j->c)
				srv_answer_job(j);
			else
				own_write_done(srv, j);
		}
	}
	for (chunk *ch = chunks, *next; ch; ch = next) {
		next = ch->next;
		stream_chunk(ch);
	}
	if (wrote) { /* first the owners' rights: a demotion ends a feed before it sends more */
		srv_feeds_check(srv);
		pump_watches(srv);
		srv_ckpt_poke(srv);
	}
	sched_maybe(srv);
}

/* A READ command answered at once, from a read transaction on the loop. */
static void run_read(conn *c, const request *rq)
{
	al_srv *srv = c->srv;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	if (rq->args) {
		msgpack_packer_init(&pk, &sb, al_sbuffer_write);
		msgpack_pack_object(&pk, *rq->args);
	}
	al_request req = {rq->op, sb.data, sb.size, &c->actor};
	al_reply rep;
	al_exec(srv->s, &req, &rep);
	send_reply(c, rq->id, rq->idlen, &rep);
	srv_log_req(c, &c->actor, rq->op, rep.err.code, rq->t0);
	al_reply_free(&rep);
	al_sbuffer_destroy(&sb);
}

void srv_op_log(conn *c, const request *rq)
{
	if (srv_superadmin_only(c, rq))
		start_stream(c, rq, S_LOG);
}

void srv_op_export(conn *c, const request *rq) { start_stream(c, rq, S_EXPORT); }

/* The table's command: a READ runs at once (or streams), a write goes to the writer. */
static void run_command(conn *c, const request *rq)
{
	const al_cmd_def *d = al_cmd_def_find(rq->op);
	if (d == NULL)
		srv_reply_error(c, rq, AL_EINVALID_ARGUMENT, "op: unknown operation '%s'", rq->op);
	else if (d->kind != AL_CMD_READ)
		submit_write(c, rq, d);
	else if (rq->stream)
		start_stream(c, rq, S_CMD);
	else if (rq->at[0]) /* an as-of store may take a while to build: on a worker */
		srv_asof_submit(c, rq);
	else
		run_read(c, rq);
}

static void dispatch(conn *c, const request *rq)
{
	const srv_op *so = srv_op_find(rq->op);
	const al_cmd_def *d = so ? NULL : al_cmd_def_find(rq->op);
	if (rq->at[0] && !(so ? so->past : d && d->kind == AL_CMD_READ)) { /* never a write to the present */
		srv_reply_error(c, rq, AL_EINVALID_ARGUMENT, "at: only read commands, export and log answer from the past "
			    "(%s does not)", rq->op);
		return;
	}
	if (so && so->unauthed) {
		if (srv_only_args(c, rq, so))
			so->run(c, rq);
		return;
	}
	if (!c->authed) {
		srv_reply_error(c, rq, AL_EUNAUTHENTICATED, "%s: log in first (login or auth)", rq->op);
		return;
	}
	if (!srv_actor_allows(c, rq))
		return;
	if (rq->stream && !(so && so->streams)) {
		const al_cmd_def *d = al_cmd_def_find(rq->op);
		if (d == NULL || d->kind != AL_CMD_READ) {
			srv_reply_error(c, rq, AL_EINVALID_ARGUMENT, "stream: only read commands stream (%s)", rq->op);
			return;
		}
	}
	if (so && srv_only_args(c, rq, so))
		so->run(c, rq);
	else if (so == NULL)
		run_command(c, rq);
}

/* ---- frames ---------------------------------------------------------------------------------------------- */

/* Packs o into buf (at most SRV_ID_MAX bytes); returns the length. */
static size_t pack_small(const msgpack_object *o, char *buf)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	msgpack_pack_object(&pk, *o);
	size_t n = sb.size <= SRV_ID_MAX ? sb.size : 0;
	memcpy(buf, sb.data, n);
	al_sbuffer_destroy(&sb);
	return n;
}

/* A request's at into out as text ("" when absent or nil); false when it is neither a seq nor
 * a string (whether the string is a time is the worker's to say, al_log_point). */
static bool parse_at(const msgpack_object *at, char out[SRV_AT_MAX])
{
	out[0] = 0;
	if (at == NULL || at->type == MSGPACK_OBJECT_NIL)
		return true;
	if (at->type == MSGPACK_OBJECT_POSITIVE_INTEGER && at->via.u64 <= INT64_MAX) {
		snprintf(out, SRV_AT_MAX, "%llu", (unsigned long long)at->via.u64);
		return true;
	}
	if (at->type != MSGPACK_OBJECT_STR || at->via.str.size == 0 || at->via.str.size >= SRV_AT_MAX ||
	    memchr(at->via.str.ptr, 0, at->via.str.size))
		return false;
	memcpy(out, at->via.str.ptr, at->via.str.size);
	out[at->via.str.size] = 0;
	return true;
}

static void handle_frame(conn *c, const unsigned char *p, size_t len)
{
	al_srv *srv = c->srv;
	request rq = {.t0 = srv_mono_us()};
	msgpack_object o;
	if (al_mp_check(p, len) != 0) { /* bounds msgpack-c's allocations by len before it decodes */
		proto_fail(c, AL_EINVALID_ARGUMENT, "frame: not exactly one well-formed msgpack value", rq.t0);
		return;
	}
	msgpack_zone_clear(&srv->zone);
	if (al_mp_decode(p, len, &srv->zone, &o) != 0) {
		proto_fail(c, AL_EINVALID_ARGUMENT, "frame: msgpack nested too deeply", rq.t0);
		return;
	}
	if (o.type != MSGPACK_OBJECT_MAP) {
		proto_fail(c, AL_EINVALID_ARGUMENT, "frame: must be a msgpack map", rq.t0);
		return;
	}

	const msgpack_object *id = al_mp_get(&o, "id"), *op = al_mp_get(&o, "op"), *args = al_mp_get(&o, "args");
	if (id == NULL || !((id->type == MSGPACK_OBJECT_POSITIVE_INTEGER && id->via.u64 <= INT64_MAX) ||
			    (id->type == MSGPACK_OBJECT_STR && id->via.str.size >= 1 && id->via.str.size <= 64))) {
		srv_reply_error(c, &rq, AL_EINVALID_ARGUMENT, "id: must be an integer >= 0 or a string of 1 to 64 bytes");
		return;
	}
	rq.idlen = pack_small(id, rq.id);
	if (op == NULL || op->type != MSGPACK_OBJECT_STR || op->via.str.size == 0 ||
	    op->via.str.size >= SRV_OP_MAX || memchr(op->via.str.ptr, 0, op->via.str.size)) {
		srv_reply_error(c, &rq, AL_EINVALID_ARGUMENT, "op: must be the name of an operation (a string)");
		return;
	}
	memcpy(rq.op, op->via.str.ptr, op->via.str.size);
	rq.op[op->via.str.size] = 0;
	if (args && args->type != MSGPACK_OBJECT_NIL && args->type != MSGPACK_OBJECT_MAP) {
		srv_reply_error(c, &rq, AL_EINVALID_ARGUMENT, "args: must be a map");
		return;
	}
	rq.args = args && args->type == MSGPACK_OBJECT_MAP ? args : NULL;
	if (al_mp_bool(&o, "stream", &rq.stream) < 0) {
		srv_reply_error(c, &rq, AL_EINVALID_ARGUMENT, "stream: must be a boolean");
		return;
	}
	if (!parse_at(al_mp_get(&o, "at"), rq.at)) {
		srv_reply_error(c, &rq, AL_EINVALID_ARGUMENT, "at: must be an event seq (an integer >= 0) or an RFC 3339 "
			    "time (a string)");
		return;
	}
	dispatch(c, &rq);
}

static uint32_t be32(const unsigned char *h)
{
	return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

static void process_input(conn *c)
{
	al_srv *srv = c->srv;
	c->refs++; /* c stays valid whatever a frame does */
	while (c->open && !c->closing && !srv->stopping) {
		if (over_limits(c)) { /* back-pressure: read more once answers went out */
			pause_reading(c);
			break;
		}
		struct evbuffer *in = bufferevent_get_input(c->bev);
		size_t avail = evbuffer_get_length(in);
		unsigned char h[4];
		if (avail < 4)
			break;
		evbuffer_copyout(in, h, 4);
		size_t len = be32(h);
		if (len == 0 || len > srv->o.max_frame) {
			char m[128];
			snprintf(m, sizeof m, "frame: %zu bytes; a frame holds 1 to %zu", len, srv->o.max_frame);
			proto_fail(c, len ? AL_ELIMIT_EXCEEDED : AL_EINVALID_ARGUMENT, m, srv_mono_us());
			break;
		}
		if (avail < 4 + len)
			break;
		unsigned char *p = evbuffer_pullup(in, (ssize_t)(4 + len));
		arm_idle(c, srv->o.idle_timeout);
		handle_frame(c, p + 4, len);
		if (c->open) /* frames never close the connection synchronously */
			evbuffer_drain(in, 4 + len);
	}
	eof_check(c);
	srv_conn_unref(c);
}

/* ---- bufferevent callbacks -------------------------------------------------------------------------- */

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	process_input(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	conn *c = arg;
	al_srv *srv = c->srv;
	size_t n = evbuffer_get_length(bufferevent_get_output(bev));
	if (c->closing) {
		if (n == 0)
			conn_close(c);
		return;
	}
	if (c->streams) {
		pthread_mutex_lock(&srv->mu);
		for (job *j = c->streams; j; j = j->snext)
			j->outlen = n;
		pthread_cond_broadcast(&srv->flow);
		pthread_mutex_unlock(&srv->mu);
	}
	for (watch *w = c->watches, *next; w; w = next) {
		next = w->next;
		srv_watch_pump(w);
	}
	maybe_resume(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	conn *c = arg;
	if (what & BEV_EVENT_EOF) {
		c->eof = true;
		bufferevent_disable(c->bev, EV_READ);
		if (!c->paused) { /* frames still in the buffer are handled first */
			c->refs++;
			process_input(c);
			srv_conn_unref(c);
		}
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_close(c);
}

/* ---- accepting -------------------------------------------------------------------------------------------- */

static void describe_peer(const struct sockaddr *sa, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		snprintf(out, n, "%s:%u", ip, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		snprintf(out, n, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else
		snprintf(out, n, "unix");
}

/* The bare IP address (what allowed_client_ip lists hold); "" for a Unix socket. */
static void peer_ip(const struct sockaddr *sa, char *out, size_t n)
{
	out[0] = 0;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

static void send_hello(conn *c)
{
	al_srv *srv = c->srv;
	msgpack_packer pk;
	srv_frame_begin(srv, &pk);
	msgpack_pack_map(&pk, 9);
	al_pack_cstr(&pk, "hello");
	al_pack_cstr(&pk, "adminlogd");
	al_pack_cstr(&pk, "protocol");
	msgpack_pack_int(&pk, PROTOCOL);
	al_pack_cstr(&pk, "server");
	al_pack_cstr(&pk, AL_VERSION);
	al_pack_cstr(&pk, "nonce");
	msgpack_pack_bin(&pk, sizeof c->nonce);
	msgpack_pack_bin_body(&pk, c->nonce, sizeof c->nonce);
	al_pack_cstr(&pk, "max_frame");
	msgpack_pack_uint64(&pk, srv->o.max_frame);
	al_pack_cstr(&pk, "max_result");
	msgpack_pack_uint64(&pk, srv->o.max_result);
	al_pack_cstr(&pk, "max_inflight");
	msgpack_pack_int(&pk, srv->o.max_inflight);
	al_pack_cstr(&pk, "idle_timeout");
	msgpack_pack_int(&pk, srv->o.idle_timeout);
	al_pack_cstr(&pk, "handshake_timeout");
	msgpack_pack_int(&pk, srv->o.handshake_timeout);
	srv_frame_send(c);
}

/* At a connection limit: one error frame, written straight to the socket, then close. */
static void refuse(al_srv *srv, evutil_socket_t fd, const char *m)
{
	msgpack_packer pk;
	srv_log(srv, AL_SRV_LOG_WARN, "connection refused: %s", m);
	srv_frame_begin(srv, &pk);
	msgpack_pack_map(&pk, 2);
	al_pack_cstr(&pk, "id");
	msgpack_pack_nil(&pk);
	al_pack_cstr(&pk, "error");
	pack_error(&pk, AL_ELIMIT_EXCEEDED, m);
	if (srv->out.data == NULL || srv->out.size < 4 || al__nomem_count() != srv->frame_nomem) {
		evutil_closesocket(fd); /* out of memory: no refusal frame, just the close */
		return;
	}
	size_t n = srv->out.size - 4;
	unsigned char *h = (unsigned char *)srv->out.data;
	h[0] = (unsigned char)(n >> 24), h[1] = (unsigned char)(n >> 16), h[2] = (unsigned char)(n >> 8);
	h[3] = (unsigned char)n;
	if (send(fd, srv->out.data, srv->out.size, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		srv_log(srv, AL_SRV_LOG_DEBUG, "refusal not sent: %s", strerror(errno));
	shutdown(fd, SHUT_WR);
	evutil_closesocket(fd);
}

/* Why a new connection from ip ("" for the Unix socket) may not wait for its authentication,
 * or NULL. The unauthenticated ones have their own caps, below the connection limit, so that
 * authenticated clients are always served; the Unix socket (mode 0600: clients running as the
 * server's own user, who all share one "address") counts against the total only. */
static const char *unauth_full(al_srv *srv, const char *ip, char *m, size_t n)
{
	if (srv->nunauth >= srv->o.max_unauth) {
		snprintf(m, n, "connections: %d are waiting to authenticate, the limit", srv->o.max_unauth);
		return m;
	}
	int same = 0;
	for (conn *c = srv->conns; ip[0] && c; c = c->next)
		same += !c->authed && strcmp(c->ip, ip) == 0;
	if (same >= srv->o.max_unauth_per_addr) {
		snprintf(m, n, "connections: %d from this address are waiting to authenticate, the limit", same);
		return m;
	}
	return NULL;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int socklen, void *arg)
{
	(void)l, (void)socklen;
	al_srv *srv = arg;
	char m[128], ip[64];
	if (srv->stopping) {
		evutil_closesocket(fd);
		return;
	}
	if (srv->nconns >= srv->o.max_conns) {
		snprintf(m, sizeof m, "connections: the server is at its limit of %d", srv->o.max_conns);
		refuse(srv, fd, m);
		return;
	}
	peer_ip(sa, ip, sizeof ip);
	if (unauth_full(srv, ip, m, sizeof m)) {
		refuse(srv, fd, m);
		return;
	}
	conn *c = al_calloc(1, sizeof *c);
	struct bufferevent *bev = c ? bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
	if (bev == NULL) {
		al_free(c);
		evutil_closesocket(fd);
		srv_log(srv, AL_SRV_LOG_ERROR, "out of memory accepting a connection");
		return;
	}
	c->srv = srv;
	c->bev = bev;
	c->open = true;
	c->refs = 1;
	c->num = ++srv->conn_seq;
	describe_peer(sa, c->client, sizeof c->client);
	memcpy(c->ip, ip, sizeof c->ip);
	if (sa->sa_family != AF_UNIX) {
		int one = 1; /* answers are small frames: no Nagle delay */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	randombytes_buf(c->nonce, sizeof c->nonce);
	c->idle = evtimer_new(srv->base, on_idle, c);
	c->handshake = evtimer_new(srv->base, on_handshake, c);
	if ((c->next = srv->conns))
		c->next->prev = c;
	srv->conns = c;
	srv->nconns++;
	srv->nunauth++;
	struct timeval hs = {srv->o.handshake_timeout, 0};
	evtimer_add(c->handshake, &hs);
	bufferevent_setcb(bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(bev, EV_READ, 0, srv->o.max_frame + 4 + SRV_CHUNK);
	bufferevent_setwatermark(bev, EV_WRITE, 4 * SRV_CHUNK, 0);
	bufferevent_enable(bev, EV_READ);
	arm_idle(c, srv->o.idle_timeout);
	send_hello(c);
	srv_log(srv, AL_SRV_LOG_DEBUG, "connection %llu from %s", (unsigned long long)c->num, c->client);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	(void)l;
	/* EMFILE and friends: the listener retries on the next loop turn; say so once per error. */
	srv_log(arg, AL_SRV_LOG_ERROR, "accept: %s", strerror(errno));
}

/* ---- stopping ---------------------------------------------------------------------------------------------- */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	al_srv *srv = arg;
	srv_log(srv, AL_SRV_LOG_WARN, "stop: clients did not finish within %d s; closing them", STOP_DEADLINE_S);
	while (srv->conns)
		conn_close(srv->conns);
	event_base_loopbreak(srv->base);
}

static void check_stopped(al_srv *srv)
{
	if (!srv->stopping)
		return;
	if (srv->inflight == 0)
		for (conn *c = srv->conns; c; c = c->next)
			conn_close_soon(c);
	if (srv->nconns == 0)
		event_base_loopbreak(srv->base);
}

static void close_listeners(al_srv *srv)
{
	if (srv->tcp)
		evconnlistener_free(srv->tcp);
	if (srv->unx)
		evconnlistener_free(srv->unx);
	srv->tcp = srv->unx = NULL;
	if (srv->sock_path)
		unlink(srv->sock_path);
}

/* Stop accepting and reading; what was read is finished, committed and answered. */
static void begin_stop(al_srv *srv)
{
	if (srv->stopping)
		return;
	srv->stopping = true;
	srv_log(srv, AL_SRV_LOG_INFO, "stopping: finishing %d requests in progress", srv->inflight);
	close_listeners(srv);
	for (conn *c = srv->conns; c; c = c->next) {
		pause_reading(c);
		while (c->watches)
			srv_watch_end(c->watches, true);
		pthread_mutex_lock(&srv->mu);
		for (job *j = c->streams; j; j = j->snext)
			if (j->cancel == C_NONE)
				j->cancel = C_CLIENT;
		pthread_mutex_unlock(&srv->mu);
	}
	pthread_mutex_lock(&srv->mu);
	pthread_cond_broadcast(&srv->flow);
	pthread_mutex_unlock(&srv->mu);
	struct timeval tv = {STOP_DEADLINE_S, 0};
	srv->deadline = evtimer_new(srv->base, on_deadline, srv);
	evtimer_add(srv->deadline, &tv);
	check_stopped(srv);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	begin_stop(arg);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	al_srv *srv = arg;
	int64_t now = srv_mono_us();
	/* Agents not heard from within the heartbeat timeout become LOST (agent.expire records it
	 * only for agents that are late; their last-seen times live in this process). */
	if (!srv->stopping && now - srv->expired_at >= SRV_EXPIRE_EVERY_US) {
		srv->expired_at = now;
		submit_own_write(srv, "agent.expire");
	}
	/* Sessions past a timeout end (session.expire records only those; its decisions are in
	 * the log, so a restart needs no grace: overdue sessions end at the first poll). */
	if (!srv->stopping && now - srv->sessions_expired_at >= SRV_SESSION_EXPIRE_EVERY_US) {
		srv->sessions_expired_at = now;
		submit_own_write(srv, "session.expire");
	}
	sched_maybe(srv);
	if (now - srv->swept_at > 60 * 1000000ll) { /* forget windows that are over */
		srv_rate_sweep(srv->rate_keys, now);
		srv_rate_sweep(srv->rate_fail, now);
		srv->swept_at = now;
	}
	bool any = false;
	for (conn *c = srv->conns; c && !any; c = c->next)
		any = c->watches != NULL || c->streams != NULL;
	if (!any)
		return;
	/* The server is the only writer (the store lock), so srv->head is every commit; a feed
	 * check that a commit could not do (its read transaction failed) is retried here. */
	if (srv->head > srv->checked) {
		srv_feeds_check(srv);
		pump_watches(srv);
	}
}

void al_srv_stop(al_srv *srv) { event_active(srv->stop_ev, EV_READ, 0); }

/* ---- set-up ------------------------------------------------------------------------------------------------ */

static int listen_tcp(al_srv *srv, const char *addr, al_error *err)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	char a[128];
	size_t n = strlen(addr);
	memset(&ss, 0, sizeof ss);
	/* libevent refuses port 0; parse ":1" and clear the port to bind any free one */
	bool any_port = n >= 2 && n < sizeof a && !strcmp(addr + n - 2, ":0");
	snprintf(a, sizeof a, "%.*s%s", (int)(any_port ? n - 1 : n), addr, any_port ? "1" : "");
	if (n >= sizeof a || evutil_parse_sockaddr_port(a, (struct sockaddr *)&ss, &len) != 0)
		return al_err(err, AL_EINVALID_ARGUMENT, "listen: expected IP:PORT or [IPv6]:PORT, got %.64s", addr);
	if (any_port && ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = 0;
	else if (any_port)
		((struct sockaddr_in6 *)&ss)->sin6_port = 0;
	srv->tcp = evconnlistener_new_bind(srv->base, on_accept, srv,
					   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 128,
					   (struct sockaddr *)&ss, len);
	if (srv->tcp == NULL)
		return al_err(err, AL_EIO_ERROR, "listen %.64s: %s", addr, strerror(errno));
	evconnlistener_set_error_cb(srv->tcp, on_accept_error);
	socklen_t sl = sizeof ss;
	getsockname(evconnlistener_get_fd(srv->tcp), (struct sockaddr *)&ss, &sl);
	describe_peer((struct sockaddr *)&ss, srv->tcp_addr, sizeof srv->tcp_addr);
	return AL_OK;
}

static int listen_unix(al_srv *srv, const char *path, al_error *err)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct stat st;
	if (strlen(path) >= sizeof a.sun_path)
		return al_err(err, AL_EINVALID_ARGUMENT, "socket: path longer than %zu bytes", sizeof a.sun_path - 1);
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return al_err(err, AL_EALREADY_EXISTS, "socket: %s exists and is not a socket", path);
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int live = probe >= 0 && connect(probe, (struct sockaddr *)&a, sizeof a) == 0;
		if (probe >= 0)
			close(probe);
		if (live)
			return al_err(err, AL_EALREADY_EXISTS, "socket: another server listens on %s", path);
		unlink(path); /* left by a server that was killed */
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return al_err(err, AL_EIO_ERROR, "socket: %s", strerror(errno));
	mode_t old = umask(0177); /* born 0600: no moment where others could connect */
	int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
	umask(old);
	if (rc != 0) {
		int e = errno;
		close(fd);
		return al_err(err, AL_EIO_ERROR, "socket %s: %s", path, strerror(e));
	}
	chmod(path, 0600);
	srv->unx = evconnlistener_new(srv->base, on_accept, srv, LEV_OPT_CLOSE_ON_FREE, 128, fd);
	if (srv->unx == NULL) {
		close(fd);
		unlink(path);
		return al_err(err, AL_EIO_ERROR, "listen %s: %s", path, strerror(errno));
	}
	evconnlistener_set_error_cb(srv->unx, on_accept_error);
	srv->sock_path = al_strdup(path);
	return AL_OK;
}

static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
static void use_pthreads(void) { evthread_use_pthreads(); }

int al_srv_new(al_srv **out, al_store *s, const al_srv_opts *o, al_error *err)
{
	*out = NULL;
	pthread_once(&threads_once, use_pthreads); /* the threads wake the loop with event_active */
	signal(SIGPIPE, SIG_IGN);                  /* a client that went away is an error code, not a death */
	if (sodium_init() < 0)
		return al_err(err, AL_EINTERNAL, "libsodium failed to initialise");
	al_srv *srv = al_calloc(1, sizeof *srv);
	if (srv == NULL)
		return al_err(err, AL_ENO_MEMORY, "out of memory");
	srv->s = s;
	/* From now on threads read while the writer writes: the map must never be resized under
	 * them (LMDB allows it only with no transaction open in the process). */
	al_store_fix_map(s);
	srv->o = *o;
	if (srv->o.max_frame == 0)
		srv->o.max_frame = 1u << 20;
	if (srv->o.max_result == 0)
		srv->o.max_result = 64u << 20;
	if (srv->o.max_conns <= 0)
		srv->o.max_conns = 1024;
	if (srv->o.max_unauth <= 0)
		srv->o.max_unauth = srv->o.max_conns / 4 > 0 ? srv->o.max_conns / 4 : 1;
	if (srv->o.max_unauth > srv->o.max_conns)
		srv->o.max_unauth = srv->o.max_conns;
	if (srv->o.max_unauth_per_addr <= 0)
		srv->o.max_unauth_per_addr = 64;
	if (srv->o.handshake_timeout <= 0)
		srv->o.handshake_timeout = 10;
	if (srv->o.idle_timeout <= 0)
		srv->o.idle_timeout = 300;
	if (srv->o.max_inflight <= 0)
		srv->o.max_inflight = 64;
	if (srv->o.workers <= 0)
		srv->o.workers = 2;
	pthread_mutex_init(&srv->mu, NULL);
	pthread_cond_init(&srv->wcv, NULL);
	pthread_cond_init(&srv->jcv, NULL);
	pthread_cond_init(&srv->flow, NULL);
	pthread_cond_init(&srv->ckcv, NULL);
	pthread_cond_init(&srv->asof_cv, NULL);
	msgpack_zone_init(&srv->zone, 8192);
	msgpack_sbuffer_init(&srv->out);
	srv_build_describe(srv);
	srv->head = srv->checked = al_log_head(s);
	srv->rate_keys = srv_rate_new();
	srv->rate_fail = srv_rate_new();
	int rc = AL_OK;
	if ((srv->base = event_base_new()) == NULL)
		rc = al_err(err, AL_EINTERNAL, "libevent: cannot create the event base");
	if (rc == AL_OK) {
		srv->done_ev = event_new(srv->base, -1, 0, on_done, srv);
		srv->stop_ev = event_new(srv->base, -1, 0, on_stop, srv);
		srv->poll_ev = event_new(srv->base, -1, EV_PERSIST, on_poll, srv);
		/* Twice a second: what another process writes reaches watches, and ends the feeds of
		 * owners it takes rights from, within a second. */
		struct timeval half = {0, 500 * 1000};
		event_add(srv->poll_ev, &half);
		if (o->signals) {
			srv->sigterm = evsignal_new(srv->base, SIGTERM, on_stop, srv);
			srv->sigint = evsignal_new(srv->base, SIGINT, on_stop, srv);
			event_add(srv->sigterm, NULL);
			event_add(srv->sigint, NULL);
		}
		if (o->listen && *o->listen)
			rc = listen_tcp(srv, o->listen, err);
	}
	if (rc == AL_OK && o->socket_path && *o->socket_path)
		rc = listen_unix(srv, o->socket_path, err);
	if (rc == AL_OK && srv->tcp == NULL && srv->unx == NULL)
		rc = al_err(err, AL_EINVALID_ARGUMENT, "nothing to listen on: give a TCP address or a socket path");
	if (rc == AL_OK) /* before any thread exists: fork is simple then */
		rc = srv_hashers_start(srv, srv->o.workers, err);
	if (rc == AL_OK)
		rc = srv_threads_start(srv, err);
	if (rc) {
		al_srv_free(srv);
		return rc;
	}
	*out = srv;
	return AL_OK;
}

const char *al_srv_tcp_addr(const al_srv *srv) { return srv->tcp ? srv->tcp_addr : NULL; }

int al_srv_run(al_srv *srv)
{
	srv_log(srv, AL_SRV_LOG_INFO, "serving %s (log head %llu)", al_store_dir(srv->s),
		(unsigned long long)srv->head);
	event_base_dispatch(srv->base);
	srv_threads_stop(srv); /* the writer commits anything still queued before it ends */
	srv_log(srv, AL_SRV_LOG_INFO, "stopped: %llu writes in %llu group commits",
		(unsigned long long)srv->batched, (unsigned long long)srv->batches);
	return 0;
}

static void free_jobs(job *j)
{
	for (job *next; j; j = next) {
		next = j->next;
		if (j->c) /* the server's own writes (timers) have no connection */
			srv_conn_unref(j->c);
		srv_job_free(j);
	}
}

void al_srv_free(al_srv *srv)
{
	if (srv == NULL)
		return;
	srv_threads_stop(srv);
	srv_asof_free(srv);
	srv_hashers_stop(srv);
	close_listeners(srv);
	while (srv->conns)
		conn_close(srv->conns);
	for (chunk *ch = srv->cq_first, *next; ch; ch = next) {
		next = ch->next;
		al_free(ch->data);
		al_free(ch);
	}
	free_jobs(srv->wq_first);
	free_jobs(srv->jq_first);
	free_jobs(srv->dq_first);
	struct event *evs[] = {srv->done_ev, srv->stop_ev, srv->sigterm, srv->sigint, srv->poll_ev, srv->deadline};
	for (size_t i = 0; i < sizeof evs / sizeof *evs; i++)
		if (evs[i])
			event_free(evs[i]);
	if (srv->base)
		event_base_free(srv->base);
	al_free(srv->sock_path);
	al_free(srv->describe);
	srv_rate_free(srv->rate_keys);
	srv_rate_free(srv->rate_fail);
	msgpack_zone_destroy(&srv->zone);
	al_sbuffer_destroy(&srv->out);
	pthread_mutex_destroy(&srv->mu);
	pthread_cond_destroy(&srv->wcv);
	pthread_cond_destroy(&srv->jcv);
	pthread_cond_destroy(&srv->flow);
	pthread_cond_destroy(&srv->ckcv);
	pthread_cond_destroy(&srv->asof_cv);
	al_free(srv);
}
