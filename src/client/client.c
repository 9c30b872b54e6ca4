/*
 * client.c - the blocking client of the adminlogd wire protocol (adminlog_client.h,
 * docs/protocol.md): frames over a Unix or TCP socket, the hello, calls, streams and the two
 * ways to authenticate.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "adminlog_client.h"
#include "util/codec.h"

#define DEFAULT_MAX_RESULT (64u << 20)

struct al_client {
	int fd;
	unsigned char nonce[AL_NONCE_LEN];
	char server[32];
	size_t max_frame, max_result;
	uint64_t next_id;
	char *buf; /* body of the last frame received */
	size_t cap;
	msgpack_zone zone;
	msgpack_object frame;
	char at[72]; /* al_client_set_at: the point calls and streams answer from; "" = now */
};

/* ---- sockets -------------------------------------------------------------------------------- */

static int io_fail(al_error *err, const char *what)
{
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return al_err(err, AL_EIO_ERROR, "%s: timed out", what);
	return al_err(err, AL_EIO_ERROR, "%s: %s", what, errno ? strerror(errno) : "connection closed");
}

static int write_full(int fd, const void *p, size_t n, al_error *err)
{
	const char *b = p;
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return io_fail(err, "send");
		b += w;
		n -= (size_t)w;
	}
	return AL_OK;
}

static int read_full(int fd, void *p, size_t n, al_error *err)
{
	char *b = p;
	while (n) {
		ssize_t r = recv(fd, b, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			errno = 0;
		if (r <= 0)
			return io_fail(err, "receive");
		b += r;
		n -= (size_t)r;
	}
	return AL_OK;
}

static int connect_unix(const char *path, al_error *err)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof a.sun_path)
		return al_err(err, AL_EINVALID_ARGUMENT, "socket path longer than %zu bytes", sizeof a.sun_path - 1);
	memcpy(a.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return io_fail(err, "socket");
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return al_err(err, AL_EIO_ERROR, "connect %s: %s", path, strerror(e));
	}
	return fd;
}

static int connect_tcp(const char *addr, al_error *err)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	if (colon == NULL || colon == addr || (size_t)(colon - addr) >= sizeof host)
		return al_err(err, AL_EINVALID_ARGUMENT, "address: expected HOST:PORT, got %.64s", addr);
	const char *h = addr;
	size_t hn = (size_t)(colon - addr);
	if (h[0] == '[' && hn >= 2 && h[hn - 1] == ']') { /* [::1]:7457 */
		h++;
		hn -= 2;
	}
	memcpy(host, h, hn);
	host[hn] = 0;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
	int g = getaddrinfo(host, colon + 1, &hints, &res);
	if (g != 0)
		return al_err(err, AL_EINVALID_ARGUMENT, "address %.64s: %s", addr, gai_strerror(g));
	int fd = -1, e = 0;
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			e = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return al_err(err, AL_EIO_ERROR, "connect %.64s: %s", addr, strerror(e ? e : ECONNREFUSED));
	int one = 1; /* requests are small and answered one by one: no Nagle delay */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* ---- frames ----------------------------------------------------------------------------------- */

int al_client_send_raw(al_client *c, const void *body, size_t len, al_error *err)
{
	unsigned char h[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8),
			      (unsigned char)len};
	int rc = write_full(c->fd, h, 4, err);
	return rc ? rc : write_full(c->fd, body, len, err);
}

static const msgpack_object *get(const msgpack_object *m, const char *key) { return al_mp_get(m, key); }

static void parse_msg(const msgpack_object *f, al_msg *m)
{
	memset(m, 0, sizeof *m);
	m->frame = f;
	m->kind = AL_MSG_OTHER;
	const msgpack_object *id = get(f, "id"), *v;
	if (id && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		m->has_id = true;
		m->id = id->via.u64;
	}
	if ((v = get(f, "result"))) {
		m->kind = AL_MSG_RESULT;
		m->value = v;
	} else if ((v = get(f, "row"))) {
		m->kind = AL_MSG_ROW;
		m->value = v;
	} else if ((v = get(f, "csv"))) {
		m->kind = AL_MSG_CSV;
		m->value = v;
	} else if ((v = get(f, "error"))) {
		al_str code = {"", 0}, msg = {"", 0};
		char name[64];
		m->kind = AL_MSG_ERROR;
		al_mp_str(v, "code", &code);
		al_mp_str(v, "message", &msg);
		int e = al_err_from_name(al_str_cpy(name, sizeof name, code));
		al_err(&m->err, e ? e : AL_EINTERNAL, "%.*s", (int)(msg.n > 250 ? 250 : msg.n), msg.p);
		al_mp_int(v, "retry_after", &m->retry_after);
	} else if ((v = get(f, "done")) && v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean)
		m->kind = AL_MSG_DONE;
	int64_t n;
	if (al_mp_int(f, "count", &n) == 1)
		m->count = (uint64_t)n;
	if (al_mp_int(f, "first_seq", &n) == 1)
		m->first_seq = (uint64_t)n;
	if (al_mp_int(f, "last_seq", &n) == 1)
		m->last_seq = (uint64_t)n;
	bool b;
	if (al_mp_bool(f, "replayed", &b) == 1)
		m->replayed = b;
}

int al_client_recv(al_client *c, al_msg *m, al_error *err)
{
	unsigned char h[4];
	int rc = read_full(c->fd, h, 4, err);
	if (rc)
		return rc;
	size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
	if (len == 0 || len > c->max_result)
		return al_err(err, AL_EIO_ERROR, "server frame of %zu bytes (at most %zu)", len, c->max_result);
	if (len > c->cap) {
		char *nb = al_realloc(c->buf, len);
		if (nb == NULL)
			return al_err(err, AL_ENO_MEMORY, "out of memory");
		c->buf = nb;
		c->cap = len;
	}
	if ((rc = read_full(c->fd, c->buf, len, err)))
		return rc;
	msgpack_zone_clear(&c->zone);
	if (al_mp_check(c->buf, len) != 0 || al_mp_decode(c->buf, len, &c->zone, &c->frame) != 0 ||
	    c->frame.type != MSGPACK_OBJECT_MAP)
		return al_err(err, AL_EIO_ERROR, "malformed frame from the server");
	parse_msg(&c->frame, m);
	return AL_OK;
}

/* A frame under construction: 4 bytes reserved for the length, then the map. */
static void frame_begin(msgpack_sbuffer *sb, msgpack_packer *pk)
{
	msgpack_sbuffer_init(sb);
	al_sbuffer_write(sb, "\0\0\0\0", 4);
	msgpack_packer_init(pk, sb, al_sbuffer_write);
}

/* at: "" or NULL for none; digits go as an event seq (int), anything else as a time (str). */
static void pack_at(msgpack_packer *pk, const char *at)
{
	size_t digits = strspn(at, "0123456789");
	al_pack_cstr(pk, "at");
	if (digits && !at[digits])
		msgpack_pack_uint64(pk, strtoull(at, NULL, 10));
	else
		al_pack_cstr(pk, at);
}

static int send_req(al_client *c, uint64_t id, const char *op, const void *args, size_t args_len, bool stream,
		    const char *at, al_error *err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	bool has_at = at && *at;
	frame_begin(&sb, &pk);
	msgpack_pack_map(&pk, 2 + (args != NULL) + stream + has_at);
	al_pack_cstr(&pk, "id");
	msgpack_pack_uint64(&pk, id);
	al_pack_cstr(&pk, "op");
	al_pack_cstr(&pk, op);
	if (args) {
		al_pack_cstr(&pk, "args");
		al_sbuffer_write(&sb, args, args_len);
	}
	if (stream) {
		al_pack_cstr(&pk, "stream");
		msgpack_pack_true(&pk);
	}
	if (has_at)
		pack_at(&pk, at);
	size_t n = sb.size - 4;
	sb.data[0] = (char)(n >> 24);
	sb.data[1] = (char)(n >> 16);
	sb.data[2] = (char)(n >> 8);
	sb.data[3] = (char)n;
	int rc = write_full(c->fd, sb.data, sb.size, err);
	sodium_memzero(sb.data, sb.size); /* may hold a password */
	al_sbuffer_destroy(&sb);
	return rc;
}

int al_client_send(al_client *c, uint64_t id, const char *op, const void *args, size_t args_len, bool stream,
		   al_error *err)
{
	return send_req(c, id, op, args, args_len, stream, NULL, err);
}

void al_client_set_at(al_client *c, const char *at) { snprintf(c->at, sizeof c->at, "%s", at ? at : ""); }

/* ---- connecting ---------------------------------------------------------------------------------- */

static int read_hello(al_client *c, al_error *err)
{
	al_msg m;
	int rc = al_client_recv(c, &m, err);
	if (rc)
		return rc;
	if (m.kind == AL_MSG_ERROR) { /* refused: too many connections */
		if (err)
			*err = m.err;
		return m.err.code;
	}
	al_str hello = {"", 0}, ver = {"", 0};
	int64_t proto = 0, n;
	const msgpack_object *nonce = al_mp_get(m.frame, "nonce");
	al_mp_str(m.frame, "hello", &hello);
	al_mp_int(m.frame, "protocol", &proto);
	if (!al_str_eq(hello, "adminlogd") || nonce == NULL || nonce->type != MSGPACK_OBJECT_BIN ||
	    nonce->via.bin.size != AL_NONCE_LEN)
		return al_err(err, AL_EIO_ERROR, "the peer is not an adminlogd (no hello)");
	if (proto != AL_PROTOCOL_VERSION)
		return al_err(err, AL_EUNSUPPORTED, "server speaks protocol %lld, this client %d", (long long)proto,
			      AL_PROTOCOL_VERSION);
	memcpy(c->nonce, nonce->via.bin.ptr, AL_NONCE_LEN);
	al_mp_str(m.frame, "server", &ver);
	al_str_cpy(c->server, sizeof c->server, ver);
	if (al_mp_int(m.frame, "max_frame", &n) == 1 && n > 0)
		c->max_frame = (size_t)n;
	if (al_mp_int(m.frame, "max_result", &n) == 1 && n > 0)
		c->max_result = (size_t)n;
	return AL_OK;
}

int al_client_connect(al_client **out, const char *addr, int timeout_ms, al_error *err)
{
	*out = NULL;
	if (sodium_init() < 0)
		return al_err(err, AL_EINTERNAL, "libsodium failed to initialise");
	int unix_path = strncmp(addr, "unix:", 5) == 0;
	int fd = unix_path ? connect_unix(addr + 5, err)
			   : strchr(addr, '/') ? connect_unix(addr, err) : connect_tcp(addr, err);
	if (fd < 0)
		return fd;
	if (timeout_ms > 0) {
		struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	}
	al_client *c = al_calloc(1, sizeof *c);
	if (c == NULL) {
		close(fd);
		return al_err(err, AL_ENO_MEMORY, "out of memory");
	}
	c->fd = fd;
	c->max_frame = 1u << 20;
	c->max_result = DEFAULT_MAX_RESULT;
	c->next_id = 1;
	msgpack_zone_init(&c->zone, 4096);
	int rc = read_hello(c, err);
	if (rc) {
		al_client_close(c);
		return rc;
	}
	*out = c;
	return AL_OK;
}

void al_client_close(al_client *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	if (c->buf)
		sodium_memzero(c->buf, c->cap); /* may hold a secret key from login */
	al_free(c->buf);
	msgpack_zone_destroy(&c->zone);
	al_free(c);
}

int al_client_fd(const al_client *c) { return c->fd; }
const unsigned char *al_client_nonce(const al_client *c) { return c->nonce; }
const char *al_client_server_version(const al_client *c) { return c->server; }
size_t al_client_max_frame(const al_client *c) { return c->max_frame; }
uint64_t al_client_next_id(al_client *c) { return c->next_id++; }

/* ---- calls ------------------------------------------------------------------------------------------ */

/* The answer to id (or a connection-level error, id nil). Other frames are dropped. */
static int wait_answer(al_client *c, uint64_t id, al_msg *m, al_error *err)
{
	for (;;) {
		int rc = al_client_recv(c, m, err);
		if (rc)
			return rc;
		if (m->has_id ? m->id == id : m->kind == AL_MSG_ERROR)
			return AL_OK;
	}
}

int al_client_call(al_client *c, const char *op, const void *args, size_t args_len, al_reply *rep)
{
	memset(rep, 0, sizeof *rep);
	uint64_t id = al_client_next_id(c);
	al_msg m;
	int rc = send_req(c, id, op, args, args_len, false, c->at, &rep->err);
	if (rc == AL_OK)
		rc = wait_answer(c, id, &m, &rep->err);
	if (rc)
		return rc;
	if (m.kind == AL_MSG_ERROR) {
		rep->err = m.err;
		return rep->err.code;
	}
	if (m.kind != AL_MSG_RESULT)
		return al_err(&rep->err, AL_EIO_ERROR, "%s: unexpected answer from the server", op);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	msgpack_pack_object(&pk, *m.value);
	rep->result = sb.data; /* handed over; al_reply_free frees it */
	rep->result_len = sb.size;
	rep->first_seq = m.first_seq;
	rep->last_seq = m.last_seq;
	rep->replayed = m.replayed;
	return AL_OK;
}

int al_client_stream(al_client *c, const char *op, const void *args, size_t args_len, al_row_fn fn, void *ctx,
		     uint64_t *count, al_error *err)
{
	uint64_t id = al_client_next_id(c);
	al_msg m;
	int rc = send_req(c, id, op, args, args_len, true, c->at, err), stop = 0;
	while (rc == AL_OK) {
		if ((rc = wait_answer(c, id, &m, err)))
			break;
		if (m.kind == AL_MSG_ERROR) {
			if (err)
				*err = m.err;
			rc = m.err.code;
		} else if (m.kind == AL_MSG_DONE) {
			if (count)
				*count = m.count;
			break;
		} else if ((m.kind == AL_MSG_ROW || m.kind == AL_MSG_CSV) && !stop && (stop = fn(m.value, ctx))) {
			/* cancel, then read on to the stream's end so the connection stays usable */
			msgpack_sbuffer sb;
			msgpack_packer pk;
			msgpack_sbuffer_init(&sb);
			msgpack_packer_init(&pk, &sb, al_sbuffer_write);
			msgpack_pack_map(&pk, 1);
			al_pack_cstr(&pk, "target");
			msgpack_pack_uint64(&pk, id);
			rc = al_client_send(c, al_client_next_id(c), "cancel", sb.data, sb.size, false, err);
			al_sbuffer_destroy(&sb);
		}
	}
	return rc ? rc : stop;
}

int al_client_login(al_client *c, const char *email, const char *password, const char *otp, al_reply *rep)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	msgpack_pack_map(&pk, 2 + (otp != NULL));
	al_pack_cstr(&pk, "email");
	al_pack_cstr(&pk, email);
	al_pack_cstr(&pk, "password");
	al_pack_cstr(&pk, password);
	if (otp) {
		al_pack_cstr(&pk, "otp");
		al_pack_cstr(&pk, otp);
	}
	int rc = al_client_call(c, "login", sb.data, sb.size, rep);
	sodium_memzero(sb.data, sb.size);
	al_sbuffer_destroy(&sb);
	return rc;
}

void al_client_mac(const unsigned char nonce[AL_NONCE_LEN], const char *access_key, const char *secret_key,
		   unsigned char mac[AL_MAC_LEN])
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret_key, strlen(secret_key));
	crypto_auth_hmacsha256_update(&st, nonce, AL_NONCE_LEN);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)access_key, strlen(access_key));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof st);
}

int al_client_auth(al_client *c, const char *access_key, const char *secret_key, al_error *err)
{
	unsigned char mac[AL_MAC_LEN];
	al_client_mac(c->nonce, access_key, secret_key, mac);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	al_pack_cstr(&pk, "access_key");
	al_pack_cstr(&pk, access_key);
	al_pack_cstr(&pk, "mac");
	msgpack_pack_bin(&pk, AL_MAC_LEN);
	msgpack_pack_bin_body(&pk, mac, AL_MAC_LEN);
	al_reply rep;
	int rc = al_client_call(c, "auth", sb.data, sb.size, &rep);
	al_sbuffer_destroy(&sb);
	if (rc && err)
		*err = rep.err;
	al_reply_free(&rep);
	return rc;
}
