/*
 * srv_int.h - what the server's files share: connections, jobs (a request travelling between
 * the loop and the threads), streams, watches and the server itself.
 *
 * Ownership: connections, watches and bufferevents belong to the loop thread. A job is owned
 * by whoever holds it in a queue; jobs and stream chunks come back to the loop through the done
 * queues (srv->mu) and an event the threads activate. A connection is freed when it is closed
 * and no job refers to it any more (refs).
 */
#ifndef AL_SRV_INT_H
#define AL_SRV_INT_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <pthread.h>

#include "al_srv.h"
#include "util/codec.h"

#define SRV_ID_MAX 80            /* a packed request id: int, or str of at most 64 bytes */
#define SRV_OP_MAX 64
#define SRV_ACTOR_BUF 768
#define SRV_MAX_BATCH 1024       /* writes per group commit */
#define SRV_STREAM_HIGH (1u << 20) /* a stream pauses while this much output waits */
#define SRV_OUT_HIGH (4u << 20)  /* a connection is not read while this much output waits */
#define SRV_CHUNK (64u << 10)    /* stream frames are handed to the loop in chunks of this */
#define AL_PWHASH_STR_MAX 128    /* crypto_pwhash_argon2id_STRBYTES */
#define SRV_AT_MAX 72            /* a request's at: an event seq or an RFC 3339 time, as text */
#define SRV_ASOF_CACHE 2         /* as-of stores kept for later reads of the same point */

#define SRV_RATE_WINDOW_US (900ll * 1000000) /* 15 minutes */

/* srv_rate.c: one key's fixed window. */
typedef struct rate_slot {
	struct rate_slot *next;
	int64_t start_us;
	uint32_t count;
	char key[];
} rate_slot;
typedef struct rate_table {
	size_t n;
	rate_slot *b[];
} rate_table;

typedef struct conn conn;
typedef struct job job;
typedef struct watch watch;

enum job_kind {
	J_WRITE,   /* a command for the writer (after its prepare step when it has one) */
	J_PREPARE, /* al_prepare on a worker, then J_WRITE */
	J_LOGIN,   /* al_login on a worker */
	J_STREAM,  /* a streamed read on a worker */
	J_ASOF,    /* a read from the past (at) on a worker (srv_asof.c) */
};
enum stream_kind { S_CMD, S_LOG, S_EXPORT };
/* Why a stream stops early: the client cancelled it (or the server stops), the connection
 * went away, or its owner lost the right to it (permission_denied, unauthenticated). */
enum cancel_kind { C_NONE, C_CLIENT, C_GONE, C_DENIED, C_UNAUTH };

struct job {
	job *next;  /* in a queue */
	job *wnext; /* in the connection's write order */
	job *snext; /* in the connection's streams */
	int kind;
	conn *c;
	char id[SRV_ID_MAX]; /* packed id, echoed */
	size_t idlen;
	char op[SRV_OP_MAX];
	char *args; /* packed args map (owned), NULL = none */
	size_t args_len;
	char *prep; /* from al_prepare (owned, wiped when freed) */
	size_t prep_len;
	al_actor actor; /* as of its request; a stream's owner */
	char actor_buf[SRV_ACTOR_BUF];
	const al_cmd_def *def; /* J_STREAM: the command whose rights it needs (NULL for log) */
	al_reply rep;
	int64_t t0;  /* arrival, monotonic µs */
	char at[SRV_AT_MAX]; /* the point in the past it reads ("" = now) */
	al_store *view;      /* J_ASOF and streams with at: the as-of store while in use */
	bool view_own;       /* view is not in the cache: closed after use */
	bool ready;  /* J_WRITE: may go to the writer (prepared, or nothing to prepare) */
	bool failed; /* refused before the writer (prepare step); rep.err says why */
	bool net;    /* J_PREPARE with network I/O: for the network thread, never a worker */
	char who[136];           /* J_LOGIN: the email, for counting failures */
	int64_t counted_at;      /* J_LOGIN: when the attempt was counted */
	bool waiting;            /* J_LOGIN: in the login queue, not on a worker yet */
	int64_t started;         /* J_LOGIN: when it went to a worker */
	al_login_result *login;  /* J_LOGIN: the worker's result (wiped when freed) */
	/* J_STREAM (fields below the line are shared with the loop under srv->mu) */
	int skind;
	msgpack_sbuffer sb; /* frames not yet handed over (worker side) */
	uint64_t count;
	int cancel; /* enum cancel_kind */
	size_t queued, outlen;
};

/* A piece of a stream's output on its way to the loop; last = the stream has ended. */
typedef struct chunk {
	struct chunk *next;
	job *j;
	char *data;
	size_t len;
	bool last;
} chunk;

/* srv_login.c: the logins of one client address waiting for a worker (linked by job->next),
 * and how many of its logins are on a worker. */
typedef struct login_queue {
	struct login_queue *next; /* the next address in the round */
	job *first, *last;
	int n, running;
	char addr[64];
} login_queue;

struct watch {
	watch *next;
	conn *c;
	char id[SRV_ID_MAX];
	size_t idlen;
	uint64_t next_seq;
	uint64_t count;
	int64_t t0;
	al_actor owner; /* who started it, as of then: re-checked whenever the log grows */
	char owner_buf[SRV_ACTOR_BUF];
};

struct conn {
	al_srv *srv;
	conn *prev, *next;
	struct bufferevent *bev;
	struct event *idle;
	struct event *handshake; /* while not authenticated: closes at the handshake timeout */
	uint64_t num;
	int refs;     /* 1 while open, plus one per job that points here */
	bool open;    /* the bufferevent exists */
	bool closing; /* close once the output is sent */
	bool eof;     /* the client closed its side: close once everything is answered */
	bool paused;  /* not reading (in-flight or output limit, or stopping) */
	char client[72]; /* for the log: "IP:PORT", "[IPv6]:PORT" or "unix" */
	char ip[64];     /* the bare address, "" for the Unix socket */
	unsigned char nonce[32];
	bool authed;
	al_actor actor;
	char actor_buf[SRV_ACTOR_BUF];
	int inflight;        /* requests read and not yet answered */
	job *wfirst, *wlast; /* writes in arrival order, until handed to the writer */
	job *login;          /* its login, waiting or on a worker (one at a time) */
	job *streams;
	watch *watches;
};

struct al_srv {
	al_store *s;
	al_srv_opts o;
	struct event_base *base;
	struct evconnlistener *tcp, *unx;
	char tcp_addr[80];
	char *sock_path;
	struct event *done_ev, *stop_ev, *sigterm, *sigint, *poll_ev, *deadline;
	conn *conns;
	int nconns;
	int nunauth; /* open connections not authenticated */
	uint64_t conn_seq;
	bool stopping;
	int inflight;  /* over all connections */
	uint64_t head; /* last seq known committed, for watches */
	uint64_t checked; /* the head when the owners of watches and streams were last checked */
	msgpack_zone zone;  /* the frame being handled */
	msgpack_sbuffer out; /* the frame being sent */
	unsigned long frame_nomem; /* failed allocations when it was begun (al__nomem_count) */
	char *describe;     /* packed result of `describe` */
	size_t describe_len;
	/* shared with the threads, under mu */
	pthread_mutex_t mu;
	pthread_cond_t wcv, jcv, flow;
	job *wq_first, *wq_last; /* writes for the writer */
	job *jq_first, *jq_last; /* jobs for the workers */
	job *dq_first, *dq_last; /* finished jobs */
	chunk *cq_first, *cq_last;
	bool quit;
	bool threads_started;
	pthread_t writer;
	pthread_t *workers;
	int nworkers;
	pthread_t net;        /* the network thread: prepare steps that wait for registries */
	pthread_cond_t ncv;   /* wakes it (net jobs wait in the job queue) */
	bool net_started;
	int next_worker; /* hands each worker thread its helper */
	struct {
		int fd;
		pid_t pid;
	} *hashers; /* srv_hash.c: one helper process per worker */
	int nhashers;
	uint64_t batches, batched; /* group commit statistics */
	rate_table *rate_keys;     /* requests per keypair */
	rate_table *rate_fail;     /* failed logins and auths per email, access key and client */
	login_queue *lq_first, *lq_last; /* addresses with logins waiting, in serving order */
	int logins_waiting, logins_running;
	int64_t login_us; /* how long a login takes on a worker, smoothed (for retry_after) */
	int64_t expired_at; /* when the agents' timer last ran agent.expire */
	/* srv.c: scheduling passes (scheduler.run) as the server's own writes, one at a time */
	int64_t scheduled_at;    /* when the last one was submitted */
	int64_t sched_every_us;  /* the scheduler-interval setting, read again now and then */
	int64_t sched_read_at;   /* when it was read */
	bool sched_due;          /* a session or an agent changed since the last pass */
	bool sched_running;      /* a pass is queued or running */
	int64_t sessions_expired_at; /* when the sessions' timer last ran session.expire */
	int64_t swept_at;
	/* srv_asof.c, under mu: the last as-of stores built, by the seq they are at */
	struct srv_asof {
		uint64_t seq;
		al_store *s;    /* NULL while building or empty */
		int users;      /* jobs reading it now */
		uint64_t used;  /* when last taken (asof_tick) */
		bool building;
	} asof[SRV_ASOF_CACHE];
	uint64_t asof_tick;
	pthread_cond_t asof_cv; /* a build finished */
	/* the checkpoint thread, under mu */
	pthread_t ckpt;
	bool ckpt_started;
	pthread_cond_t ckcv;
	uint64_t ckpt_due; /* the head at which the next checkpoint falls due; 0: unknown or never */
	bool ckpt_poked;
};

#define PROTOCOL 1

/* A request as the loop decoded it; args and id point into the frame being handled. */
typedef struct request {
	char id[SRV_ID_MAX]; /* packed */
	size_t idlen;
	char op[SRV_OP_MAX];
	const msgpack_object *args; /* a map, or NULL */
	bool stream;
	char at[SRV_AT_MAX]; /* "" = now */
	int64_t t0;
} request;

/* ---- srv.c ---- */
/* Answers rq with a result packed in sb / with an error; both log the request. */
void srv_send_result(conn *c, const request *rq, msgpack_sbuffer *sb);
void srv_reply_error(conn *c, const request *rq, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A job for rq on c (args copied, actor copied, counted in flight); NULL when out of memory. */
job *srv_job_new(conn *c, const request *rq, int kind);
/* Sends the job's answer (when c is still open), logs it and frees the job. */
void srv_answer_job(job *j);
int64_t srv_mono_us(void);
void srv_log(al_srv *srv, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void srv_log_req(conn *c, const al_actor *a, const char *op, int code, int64_t t0);
/* A frame on srv->out: begin, pack the map on pk, then send (writes it to c). */
msgpack_packer *srv_frame_begin(al_srv *srv, msgpack_packer *pk);
void srv_frame_send(conn *c);
void srv_pack_id(msgpack_packer *pk, const char *id, size_t idlen);
void srv_send_error(conn *c, const char *id, size_t idlen, int code, const char *msg);
void srv_conn_unref(conn *c);
/* The connection authenticated (login, auth) or was logged out: the caps on unauthenticated
 * connections and the handshake timer follow. */
void srv_conn_set_authed(conn *c, bool authed);

/* ---- srv_pool.c: writer, workers, done queues ---- */
int srv_threads_start(al_srv *srv, al_error *err);
void srv_threads_stop(al_srv *srv);
void srv_submit_write(al_srv *srv, job *j);
void srv_submit_job(al_srv *srv, job *j);
/* Worker side of a stream: hands the frames in j->sb to the loop, then waits while too much
 * of the stream's output is unsent. */
void srv_stream_flush(al_srv *srv, job *j, bool last);
void srv_job_free(job *j);

/* ---- srv_rate.c: fixed-window limits ---- */
rate_table *srv_rate_new(void);
void srv_rate_free(rate_table *t);
/* The key's slot, its window renewed when over; NULL when out of memory. */
rate_slot *srv_rate_slot(rate_table *t, const char *key, int64_t now_us);
/* 0 when one more hit is allowed, else the seconds until the window ends. */
int64_t srv_rate_wait(const rate_slot *s, int64_t limit, int64_t now_us);
/* srv_rate_wait, and counts the hit when allowed. */
int64_t srv_rate_hit(rate_table *t, const char *key, int64_t limit, int64_t now_us);
void srv_rate_sweep(rate_table *t, int64_t now_us);

/* ---- srv_ops.c: the server's own operations ---- */
/* An argument of one of them, as describe shows it (types those of the command table, plus
 * "bin_or_hex" and "seq_or_id"). */
typedef struct srv_arg {
	const char *name, *type;
	bool required;
	const char *doc;
	const char *(*values)(void); /* its allowed values, "a, b, c"; NULL: any */
} srv_arg;

/* The server's own operations (docs/protocol.md), looked up before the command table. */
typedef struct srv_op {
	const char *name;
	void (*run)(conn *c, const request *rq);
	bool unauthed;       /* runs before the connection has authenticated */
	bool streams;        /* takes "stream": true itself (else only READ commands stream) */
	bool past;           /* takes "at" (else only READ commands do) */
	const srv_arg *args; /* the arguments it takes (ends at name NULL) */
	bool more_args;      /* and those of the command behind it (export: the list's filters) */
	const char *role;    /* the least role, as describe names it ("none": before authentication) */
	const char *doc;
} srv_op;

const srv_op *srv_op_find(const char *op);
/* Only the op's arguments (nil counts as absent); false (answered invalid_argument, naming the
 * first other one) otherwise. */
bool srv_only_args(conn *c, const request *rq, const srv_op *so);
void srv_op_log(conn *c, const request *rq);
void srv_op_export(conn *c, const request *rq);
void srv_actor_copy(al_actor *dst, char *buf, size_t n, const al_actor *src);
/* Re-reads the connection's actor (its rights as of now) and counts the request against its
 * keypair's rate limit; false when answered (unauthenticated, and logged out, when the user
 * or keypair is no longer active; rate_limited). */
bool srv_actor_allows(conn *c, const request *rq);
bool srv_superadmin_only(conn *c, const request *rq);
/* Ends every watch and stream whose owner lost the right to it (permission_denied) or whose
 * user or keypair is no longer active (unauthenticated); call when the log grew. */
void srv_feeds_check(al_srv *srv);
void srv_op_hello(conn *c, const request *rq);
void srv_op_login(conn *c, const request *rq);
void srv_login_done(job *j);
/* Takes back the failed attempt a login counted when it was accepted (it succeeded, failed
 * otherwise than on credentials, or was dropped unverified). */
void srv_login_uncount(job *j);

/* ---- srv_login.c: logins waiting for a worker, per client address, round-robin ---- */
/* 0 when c's address may queue one more login, else the seconds to wait (retry_after). */
int64_t srv_login_room(conn *c);
/* Queues the connection's login (c->login = j) and hands logins to free workers. */
int srv_login_queue(job *j);
/* Back on the loop from a worker: the next waiting ones go. */
void srv_login_finished(job *j);
/* Takes c's login out of the queue when it still waits (c is closing); NULL otherwise. */
job *srv_login_drop(conn *c);
void srv_op_auth(conn *c, const request *rq);
void srv_op_whoami(conn *c, const request *rq);
void srv_op_describe(conn *c, const request *rq);
void srv_op_watch(conn *c, const request *rq);
void srv_op_cancel(conn *c, const request *rq);
void srv_build_describe(al_srv *srv);

/* ---- srv_asof.c: reads from the past, the checkpoint thread ---- */
/* A read command with at, on a worker. */
void srv_asof_submit(conn *c, const request *rq);
/* Worker side: j's read from the past into j->rep. */
void srv_asof_run(al_srv *srv, job *j);
/* The as-of store of j->at into j->view (cached, or built here: on a worker); AL_OK or why not. */
int srv_asof_acquire(al_srv *srv, job *j, al_error *err);
void srv_asof_release(al_srv *srv, job *j);
/* Closes the cached as-of stores (the threads have stopped). */
void srv_asof_free(al_srv *srv);
int srv_ckpt_start(al_srv *srv, al_error *err);
/* Call with srv->quit set and the threads woken: joins it. */
void srv_ckpt_join(al_srv *srv);
/* The loop after a commit: wakes the checkpoint thread when one falls due. */
void srv_ckpt_poke(al_srv *srv);

/* ---- srv_hash.c: argon2id in helper processes ---- */
int srv_hashers_start(al_srv *srv, int n, al_error *err);
void srv_hashers_stop(al_srv *srv);
/* Makes the calling worker thread hash through helper number worker. */
void srv_hash_use(al_srv *srv, int worker);

/* ---- srv_feed.c: events as maps, watch, streamed reads ---- */
void srv_pack_event(msgpack_packer *pk, const al_event *e);
void srv_stream_run(al_srv *srv, job *j);
void srv_watch_start(conn *c, const char *id, size_t idlen, uint64_t from_seq);
void srv_watch_pump(watch *w);
void srv_watch_end(watch *w, bool send_done);
/* Ends the watch with an error frame {id, error: {code, message}}. */
void srv_watch_fail(watch *w, int code, const char *msg);

#endif
