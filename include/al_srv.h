/*
 * al_srv.h - adminlogd, the server, as a library: tools/adminlogd.c parses options and runs one;
 * the benchmarks run one on a thread. The protocol is docs/protocol.md.
 *
 * Threads: one libevent loop owns every connection (framing, authentication, dispatch, reads,
 * watch); one writer thread runs the queued writes as group commits (al_exec_batch); a small
 * worker pool runs what is slow (password hashing in prepare steps, login) and streams; one
 * network thread runs the prepare steps that wait for registries (image rescans).
 */
#ifndef AL_SRV_H
#define AL_SRV_H

#include <stdbool.h>
#include <stddef.h>

#include "adminlog.h"

enum al_srv_log_level { AL_SRV_LOG_ERROR, AL_SRV_LOG_WARN, AL_SRV_LOG_INFO, AL_SRV_LOG_DEBUG };

typedef struct al_srv_opts {
	const char *listen;      /* "HOST:PORT" (port 0 = any free port); NULL = no TCP */
	const char *socket_path; /* Unix socket, created mode 0600; NULL = none */
	size_t max_frame;        /* largest client frame body; 0 = 1 MiB */
	size_t max_result;       /* largest server frame body; 0 = 64 MiB */
	int max_conns;           /* 0 = 1024 */
	int max_unauth;          /* connections not authenticated yet, at once; 0 = max_conns / 4 (>= 1) */
	int max_unauth_per_addr; /* the same from one TCP client address; 0 = 64 (Unix: total only) */
	int handshake_timeout;   /* seconds to authenticate in; 0 = 10 */
	int idle_timeout;        /* seconds; 0 = 300 */
	int max_inflight;        /* requests in progress per connection; 0 = 64 */
	int workers;             /* worker threads; 0 = 2 */
	int log_level;           /* enum al_srv_log_level; one line per request at INFO */
	bool signals;            /* SIGTERM and SIGINT stop the server */
} al_srv_opts;

typedef struct al_srv al_srv;

/* An al_log_fn (al_open_opts.log) that writes the store's messages to the server's log, as
 * srv_log does: ctx is the al_srv_opts the server runs with (its log_level applies). The
 * store is opened before the server exists, so this needs only the options. */
void al_srv_store_log(void *opts, int level, const char *msg);

/* Binds the listeners and starts the threads; the store must stay open until al_srv_free. */
int al_srv_new(al_srv **out, al_store *s, const al_srv_opts *o, al_error *err);
/* The bound TCP address ("127.0.0.1:41234"), or NULL without TCP. */
const char *al_srv_tcp_addr(const al_srv *srv);
/* Runs the loop until stopped (al_srv_stop or a signal): stops accepting and reading, lets
 * every request in progress finish, commit and be answered, then closes the connections. */
int al_srv_run(al_srv *srv);
/* Thread-safe: asks al_srv_run to stop, as SIGTERM does. */
void al_srv_stop(al_srv *srv);
void al_srv_free(al_srv *srv);

#endif
