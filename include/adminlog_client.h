/*
 * adminlog_client.h - a blocking client of the adminlogd wire protocol (docs/protocol.md),
 * shared by adminctl, the tests and the benchmarks.
 *
 * One al_client is one connection; it is not thread-safe (use one per thread). Frames are read
 * and written whole; a decoded frame (al_msg) lives until the next al_client_recv.
 */
#ifndef ADMINLOG_CLIENT_H
#define ADMINLOG_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "adminlog.h"

#define AL_PROTOCOL_VERSION 1
#define AL_NONCE_LEN 32
#define AL_MAC_LEN 32

typedef struct al_client al_client;

/*
 * Connects to addr and reads the server's hello: "unix:PATH" or any addr containing a '/'
 * is a Unix socket path, otherwise "HOST:PORT" ("127.0.0.1:7457", "[::1]:7457").
 * timeout_ms bounds every later send and receive (0 = wait forever).
 * AL_EUNSUPPORTED when the server speaks another protocol version; the error frame's code
 * when the server refused the connection (limit_exceeded); AL_EIO_ERROR otherwise.
 */
int al_client_connect(al_client **out, const char *addr, int timeout_ms, al_error *err);
void al_client_close(al_client *c);
int al_client_fd(const al_client *c);
/* From the hello. */
const unsigned char *al_client_nonce(const al_client *c);
const char *al_client_server_version(const al_client *c);
size_t al_client_max_frame(const al_client *c);

/* ---- frames ----------------------------------------------------------------------------- */

enum al_msg_kind {
	AL_MSG_RESULT = 1, /* {id, result} */
	AL_MSG_ERROR,      /* {id, error: {code, message}} */
	AL_MSG_ROW,        /* {id, row} */
	AL_MSG_CSV,        /* {id, csv} */
	AL_MSG_DONE,       /* {id, done: true, count} */
	AL_MSG_OTHER,      /* anything else (the hello) */
};

/* One decoded server frame; objects point into the client and live until the next receive. */
typedef struct al_msg {
	int kind;           /* enum al_msg_kind */
	bool has_id;        /* id is an integer (the ids this client sends) */
	uint64_t id;
	const msgpack_object *frame; /* the whole map */
	const msgpack_object *value; /* result, row or csv; NULL otherwise */
	al_error err;       /* AL_MSG_ERROR: code from the wire name, message */
	int64_t retry_after; /* rate_limited: seconds, else 0 */
	uint64_t first_seq, last_seq, count;
	bool replayed;
} al_msg;

/* Sends one frame holding the msgpack map body (len bytes). */
int al_client_send_raw(al_client *c, const void *body, size_t len, al_error *err);
/* Sends {id, op, args, stream?}; args is a msgpack map or NULL. */
int al_client_send(al_client *c, uint64_t id, const char *op, const void *args, size_t args_len, bool stream,
		   al_error *err);
/* Receives the next frame. AL_EIO_ERROR on end of stream, a timeout or a malformed frame. */
int al_client_recv(al_client *c, al_msg *m, al_error *err);

/* ---- calls -------------------------------------------------------------------------------- */

/* A fresh request id. */
uint64_t al_client_next_id(al_client *c);
/* From now on al_client_call, al_client_stream and al_client_export ask for the state at a
 * point of the log (the request's `at`): at is an event seq (digits) or an RFC 3339 time, as
 * adminctl --at takes it; NULL or "" for the present. The server answers only read commands,
 * export and log so, and refuses anything else that carries at. */
void al_client_set_at(al_client *c, const char *at);
/*
 * Runs one operation and waits for its answer, filling rep as al_exec would (result
 * allocated, al_reply_free). Frames of other requests that arrive meanwhile are dropped.
 * Returns rep->err.code.
 */
int al_client_call(al_client *c, const char *op, const void *args, size_t args_len, al_reply *rep);
/*
 * Runs op with stream: true and hands each row (or, for export, each csv chunk as a str
 * object) to fn; non-zero from fn cancels the stream and is returned. *count gets the
 * server's count when not NULL.
 */
int al_client_stream(al_client *c, const char *op, const void *args, size_t args_len, al_row_fn fn, void *ctx,
		     uint64_t *count, al_error *err);

/* login {email, password, otp?}: on success the connection is authenticated and rep->result
 * holds {access_key, secret_key, email, user_id, role, domain}. */
int al_client_login(al_client *c, const char *email, const char *password, const char *otp, al_reply *rep);
/* HMAC-SHA256(key = secret_key, nonce || access_key), the proof `auth` takes. */
void al_client_mac(const unsigned char nonce[AL_NONCE_LEN], const char *access_key, const char *secret_key,
		   unsigned char mac[AL_MAC_LEN]);
/* auth {access_key, mac}: keypair challenge-response against this connection's nonce. */
int al_client_auth(al_client *c, const char *access_key, const char *secret_key, al_error *err);

/* ---- credentials and what adminctl does over the wire -------------------------------------- */

/* A keypair saved by `adminctl login`: "key = value" lines in a file only its owner can read. */
typedef struct al_creds {
	char access_key[64];
	char secret_key[128];
	char email[128];
	char server[256]; /* the address it was obtained from, or "" */
} al_creds;

/* $ADMINLOG_CREDENTIALS, else $HOME/.config/adminlog/credentials, into buf. */
const char *al_creds_path(char *buf, size_t n);
/* AL_ENOT_FOUND without the file; AL_EPERMISSION_DENIED when group or others may read it;
 * AL_EINVALID_ARGUMENT when it lacks access_key or secret_key. */
int al_creds_load(const char *path, al_creds *c, al_error *err);
/* Writes path atomically with mode 0600, creating its directory (0700) when missing. */
int al_creds_save(const char *path, const al_creds *c, al_error *err);
/* adminctl login: connects to addr, logs in and saves the returned keypair (server = addr) to
 * creds_path (NULL = al_creds_path()). */
int al_client_login_save(const char *addr, const char *email, const char *password, const char *otp,
			 const char *creds_path, int timeout_ms, al_error *err);
/* Connects to addr and authenticates (auth) with the keypair of the credentials file at
 * creds_path (NULL = al_creds_path()). */
int al_client_open(al_client **out, const char *addr, const char *creds_path, int timeout_ms, al_error *err);
/* export {what, ...}: the CSV of list what, filtered by args (the list command's arguments, a
 * msgpack map, or NULL), written to out as it arrives. */
int al_client_export(al_client *c, const char *what, const void *args, size_t args_len, FILE *out, al_error *err);
/* watch {from_seq}: writes each event as one line (JSON when json, else as `adminlog log`
 * prints it) to out and flushes; returns after count events when count > 0, else when the
 * server ends the feed. from_seq UINT64_MAX: only events committed from now on. */
int al_client_watch(al_client *c, uint64_t from_seq, uint64_t count, bool json, FILE *out, al_error *err);
/* One event map of the feed as a readable line (no newline). */
void al_client_event_text(const msgpack_object *ev, FILE *out);

#endif
