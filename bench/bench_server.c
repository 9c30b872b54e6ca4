/*
 * bench_server - adminlogd over loopback TCP, spoken to with the real protocol by client
 * threads in this process (the server runs on its own threads here too, as al_srv_*).
 *
 * server_read: `user.get` of one of 64 users, with 1, 16 and 64 connections, each with one
 * request in flight; value = requests/s over the run, p99_us = 99th percentile latency.
 * Baseline `echo`: a minimal libevent server in the same process that answers every frame with
 * a canned copy of a real user.get answer (same request and answer frame sizes), measured the
 * same way with the same number of connections; ratio = value / echo.
 *
 * server_write: `user.update` (full_name and description; one event), durable (fsync on every
 * commit), each connection updating its own user, with 1, 16 and 64 connections. For 16 and
 * 64 the baseline is the 1-connection figure (`server_write_1conn`): the ratio is what group
 * commit buys.
 *
 * Each run lasts 2 s (BENCH_SCALE scales it). The admin logs in once and creates a pool of
 * admin keypairs with the highest rate limit (50,000 per 15 minutes); every connection
 * authenticates with one of them (challenge-response, as adminctl does) and moves to the next
 * every 40,000 requests, so the limit is checked on every request but never reached. The server
 * logs at warn (no line per request).
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "adminlog_client.h"
#include "bench_util.h"
#include "al_srv.h"

#define NUSERS 64
#define MAP (256ull << 20)

static double run_secs;

static void emit(const char *name, double value, int conns, double p99, const char *bname, double base)
{
	printf("{\"name\":\"%s\",\"value\":%.6g,\"unit\":\"requests/s\",\"conns\":%d,\"p99_us\":%.0f,"
	       "\"baseline_name\":\"%s\",\"baseline\":%.6g,\"ratio\":%.4g}\n",
	       name, value, conns, p99, bname, base, base != 0 ? value / base : 0.0);
	fflush(stdout);
}

/* ---- load -------------------------------------------------------------------------------------- */

typedef struct client {
	const char *addr;
	bool auth;  /* authenticate first (the real server) */
	int write;  /* 1: user.update, 0: user.get */
	int num;
	pthread_barrier_t *go;
	uint32_t *lat; /* µs */
	size_t n, cap;
} client;

/* The msgpack map {email: E} in buf (at least 128 bytes); returns its length. */
static size_t email_args(char *buf, const char *email)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_str_with_body(&pk, "email", 5);
	msgpack_pack_str_with_body(&pk, email, strlen(email));
	size_t n = sb.size;
	memcpy(buf, sb.data, n);
	msgpack_sbuffer_destroy(&sb);
	return n;
}

#define ADMIN_PASSWORD "Adm1n!pass" /* what bu_store_new gives the bootstrap admin */
#define POOL 400
#define PER_KEY 40000

static struct {
	char ak[64], sk[128];
} pool[POOL];
static int pool_next; /* atomic */

/* Authenticates c with the next keypair of the pool. */
static void auth_next(al_client *c)
{
	int i = __atomic_fetch_add(&pool_next, 1, __ATOMIC_RELAXED);
	al_error err;
	if (i >= POOL)
		bu_die("keypair pool exhausted");
	if (al_client_auth(c, pool[i].ak, pool[i].sk, &err) != AL_OK)
		bu_die("auth: %s", err.msg);
}

static void *client_main(void *arg)
{
	client *cl = arg;
	al_client *c;
	al_error err;
	if (al_client_connect(&c, cl->addr, 30000, &err) != AL_OK)
		bu_die("connect %s: %s", cl->addr, err.msg);
	char args[512];
	if (cl->auth)
		auth_next(c);
	size_t u = (size_t)cl->num % NUSERS;
	pthread_barrier_wait(cl->go);
	double end = bu_now() + run_secs;
	for (size_t k = 0; bu_now() < end; k++) {
		size_t len;
		if (cl->auth && k && k % PER_KEY == 0) /* stay below the keypair's rate limit */
			auth_next(c);
		if (cl->write)
			len = bu_args_update(args, u, k);
		else {
			char email[64];
			bu_user_email(email, sizeof email, u);
			len = email_args(args, email);
		}
		double t0 = bu_now();
		al_msg m;
		if (al_client_send(c, k + 1, cl->write ? "user.update" : "user.get", args, len, false, &err) ||
		    al_client_recv(c, &m, &err))
			bu_die("request: %s", err.msg);
		if (m.kind != AL_MSG_RESULT)
			bu_die("request refused: %s", m.err.msg);
		if (cl->n == cl->cap) {
			cl->cap = cl->cap ? cl->cap * 2 : 4096;
			cl->lat = realloc(cl->lat, cl->cap * sizeof *cl->lat);
		}
		cl->lat[cl->n++] = (uint32_t)((bu_now() - t0) * 1e6);
	}
	al_client_close(c);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Runs conns clients against addr for run_secs; requests/s, and the p99 latency in *p99. */
static double load(const char *addr, bool auth, int write, int conns, double *p99)
{
	client *cl = calloc((size_t)conns, sizeof *cl);
	pthread_t *t = calloc((size_t)conns, sizeof *t);
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, (unsigned)conns + 1);
	for (int i = 0; i < conns; i++) {
		cl[i] = (client){addr, auth, write, i, &go, NULL, 0, 0};
		if (pthread_create(&t[i], NULL, client_main, &cl[i]) != 0)
			bu_die("pthread_create");
	}
	pthread_barrier_wait(&go); /* everyone connected and authenticated; each runs run_secs */
	double start = bu_now();
	size_t total = 0;
	for (int i = 0; i < conns; i++) {
		pthread_join(t[i], NULL);
		total += cl[i].n;
	}
	double secs = bu_now() - start;
	uint32_t *all = malloc((total ? total : 1) * sizeof *all);
	size_t k = 0;
	for (int i = 0; i < conns; i++) {
		memcpy(all + k, cl[i].lat, cl[i].n * sizeof *all);
		k += cl[i].n;
		free(cl[i].lat);
	}
	qsort(all, total, sizeof *all, cmp_u32);
	*p99 = total ? all[(size_t)((double)(total - 1) * 0.99)] : 0;
	free(all);
	free(cl);
	free(t);
	pthread_barrier_destroy(&go);
	return (double)total / secs;
}

/* ---- the echo baseline ------------------------------------------------------------------------ */

typedef struct echo {
	struct event_base *base;
	struct evconnlistener *l;
	char addr[64];
	char *hello, *answer; /* whole frames */
	size_t hello_len, answer_len;
	pthread_t t;
} echo;

static void echo_read(struct bufferevent *bev, void *arg)
{
	echo *e = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	unsigned char h[4];
	while (evbuffer_copyout(in, h, 4) == 4) {
		size_t n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
		if (evbuffer_get_length(in) < 4 + n)
			break;
		evbuffer_drain(in, 4 + n);
		bufferevent_write(bev, e->answer, e->answer_len);
	}
}

static void echo_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what, (void)arg;
	bufferevent_free(bev);
}

static void echo_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
	(void)l, (void)sa, (void)len;
	echo *e = arg;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct bufferevent *bev = bufferevent_socket_new(e->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(bev, echo_read, NULL, echo_event, e);
	bufferevent_enable(bev, EV_READ);
	bufferevent_write(bev, e->hello, e->hello_len);
}

static void *echo_main(void *arg)
{
	event_base_dispatch(((echo *)arg)->base);
	return NULL;
}

static char *frame_of(const msgpack_object *o, size_t *len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_sbuffer_write(&sb, "\0\0\0\0", 4);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_object(&pk, *o);
	size_t n = sb.size - 4;
	sb.data[0] = (char)(n >> 24), sb.data[1] = (char)(n >> 16), sb.data[2] = (char)(n >> 8), sb.data[3] = (char)n;
	*len = sb.size;
	return sb.data;
}

/* Starts the echo server with the hello and a user.get answer copied from the real server. */
static void echo_start(echo *e, const char *real)
{
	al_client *c;
	al_error err;
	al_msg m;
	if (al_client_connect(&c, real, 30000, &err) != AL_OK)
		bu_die("connect: %s", err.msg);
	char args[128], email[64];
	bu_user_email(email, sizeof email, 0);
	size_t alen = email_args(args, email);
	/* the hello is not kept by the client: build one of the same shape */
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "hello", 5);
	msgpack_pack_str_with_body(&pk, "adminlogd", 9);
	msgpack_pack_str_with_body(&pk, "protocol", 8);
	msgpack_pack_int(&pk, AL_PROTOCOL_VERSION);
	msgpack_pack_str_with_body(&pk, "nonce", 5);
	msgpack_pack_bin_with_body(&pk, al_client_nonce(c), AL_NONCE_LEN);
	msgpack_zone z;
	msgpack_object o;
	msgpack_zone_init(&z, 1024);
	size_t off = 0;
	msgpack_unpack(sb.data, sb.size, &off, &z, &o);
	e->hello = frame_of(&o, &e->hello_len);
	msgpack_zone_destroy(&z);
	msgpack_sbuffer_destroy(&sb);
	auth_next(c);
	if (al_client_send(c, 1, "user.get", args, alen, false, &err) || al_client_recv(c, &m, &err) ||
	    m.kind != AL_MSG_RESULT)
		bu_die("user.get for the echo answer failed");
	e->answer = frame_of(m.frame, &e->answer_len);
	bu_note("echo answers with a %zu-byte frame", e->answer_len);
	al_client_close(c);

	e->base = event_base_new();
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	e->l = evconnlistener_new_bind(e->base, echo_accept, e, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
				       (struct sockaddr *)&sin, sizeof sin);
	if (e->l == NULL)
		bu_die("echo: listen");
	socklen_t sl = sizeof sin;
	getsockname(evconnlistener_get_fd(e->l), (struct sockaddr *)&sin, &sl);
	snprintf(e->addr, sizeof e->addr, "127.0.0.1:%u", ntohs(sin.sin_port));
	pthread_create(&e->t, NULL, echo_main, e);
}

static void echo_stop(echo *e)
{
	event_base_loopbreak(e->base);
	pthread_join(e->t, NULL);
	evconnlistener_free(e->l);
	event_base_free(e->base);
	free(e->hello);
	free(e->answer);
}

static void copy_str(const msgpack_object *map, const char *key, char *dst, size_t n)
{
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key, *v = &map->via.map.ptr[i].val;
		if (k->via.str.size == strlen(key) && !memcmp(k->via.str.ptr, key, strlen(key)) &&
		    v->type == MSGPACK_OBJECT_STR)
			snprintf(dst, n, "%.*s", (int)v->via.str.size, v->via.str.ptr);
	}
}

/* Logs the admin in and fills the keypair pool (pipelined keypair.create). */
static void make_pool(const char *addr)
{
	al_client *c;
	al_error err;
	al_reply rep;
	if (al_client_connect(&c, addr, 30000, &err) != AL_OK)
		bu_die("connect: %s", err.msg);
	if (al_client_login(c, "admin@example.com", ADMIN_PASSWORD, NULL, &rep) != AL_OK)
		bu_die("login: %s", rep.err.msg);
	al_reply_free(&rep);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "user", 4);
	msgpack_pack_str_with_body(&pk, "admin@example.com", 17);
	msgpack_pack_str_with_body(&pk, "rate_limit", 10);
	msgpack_pack_int(&pk, 50000);
	msgpack_pack_str_with_body(&pk, "admin", 5);
	msgpack_pack_true(&pk);
	for (int i = 0; i < POOL; i++)
		if (al_client_send(c, (uint64_t)i + 100, "keypair.create", sb.data, sb.size, false, &err))
			bu_die("keypair.create: %s", err.msg);
	for (int i = 0; i < POOL; i++) {
		al_msg m;
		if (al_client_recv(c, &m, &err) || m.kind != AL_MSG_RESULT || !m.has_id || m.id < 100 || m.id >= 100 + POOL)
			bu_die("keypair.create failed: %s", m.kind == AL_MSG_ERROR ? m.err.msg : err.msg);
		copy_str(m.value, "access_key", pool[m.id - 100].ak, sizeof pool[0].ak);
		copy_str(m.value, "secret_key", pool[m.id - 100].sk, sizeof pool[0].sk);
	}
	msgpack_sbuffer_destroy(&sb);
	al_client_close(c);
}

/* ---- main ---------------------------------------------------------------------------------------- */

typedef struct running {
	al_srv *srv;
	pthread_t t;
} running;

static void *srv_main(void *arg)
{
	al_srv_run(((running *)arg)->srv);
	return NULL;
}

int main(void)
{
	run_secs = 2.0 * (double)bu_scaled(1000, 150) / 1000.0;
	char *dir = bu_tmpdir("server"), path[4200];
	snprintf(path, sizeof path, "%s/store", dir);
	al_store *s = bu_store_new(path, 0, MAP); /* fsync on commit: writes are durable */
	bu_create_users(s, NUSERS, NUSERS);
	al_srv_opts o = {.listen = "127.0.0.1:0", .log_level = AL_SRV_LOG_WARN};
	al_error err;
	running r;
	if (al_srv_new(&r.srv, s, &o, &err) != AL_OK)
		bu_die("server: %s", err.msg);
	pthread_create(&r.t, NULL, srv_main, &r);
	const char *addr = al_srv_tcp_addr(r.srv);
	make_pool(addr);
	echo e;
	echo_start(&e, addr);
	static const int conns[] = {1, 16, 64};
	for (int i = 0; i < 3; i++) {
		double p99, p99e;
		double v = load(addr, true, 0, conns[i], &p99);
		double b = load(e.addr, false, 0, conns[i], &p99e);
		bu_note("server_read %d conns: %.0f/s p99 %.0f us; echo %.0f/s p99 %.0f us", conns[i], v, p99, b, p99e);
		emit("server_read", v, conns[i], p99, "echo", b);
	}
	echo_stop(&e);
	double one = 0;
	for (int i = 0; i < 3; i++) {
		double p99;
		double v = load(addr, true, 1, conns[i], &p99);
		bu_note("server_write %d conns: %.0f/s p99 %.0f us", conns[i], v, p99);
		if (i == 0) {
			one = v;
			emit("server_write", v, 1, p99, "", 0);
		} else
			emit("server_write", v, conns[i], p99, "server_write_1conn", one);
	}
	al_srv_stop(r.srv);
	pthread_join(r.t, NULL);
	al_srv_free(r.srv);
	al_store_close(s);
	bu_rmrf(dir);
	return 0;
}
