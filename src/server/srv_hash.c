/*
 * srv_hash.c - argon2id in helper processes, one per worker thread.
 *
 * Why processes: an argon2id hash at the interactive cost maps 64 MiB with MAP_POPULATE
 * (libsodium), which holds the address space's lock while it faults the pages in; any other
 * thread of the same process that then maps or unmaps memory queues behind it, and so do the
 * page faults of the event loop, which stalled reads by 20-90 ms. A helper has its own address
 * space. Each worker thread owns one helper and talks to it over a socketpair, blocking (in
 * the worker, never the loop) while it hashes; the library is pointed at them with
 * al_set_pwhash_ops. Helpers are forked before any thread starts, touch nothing of the parent
 * but libsodium, and exit when their socket closes (or the parent dies).
 *
 * Messages: request = op (1 byte: 'h' hash, 'v' verify) | len a (4) | len b (4) | a | b,
 * where a is the cost or the hash and b the password; reply = result (4, signed) | len (4) |
 * the encoded hash. Integers big-endian.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/srv_int.h"

#define MSG_MAX (64u << 10)

static __thread int my_fd = -1; /* this worker thread's helper */

static int io_all(int fd, void *p, size_t n, bool wr)
{
	char *b = p;
	while (n) {
		ssize_t r = wr ? send(fd, b, n, MSG_NOSIGNAL) : recv(fd, b, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- the helper process --------------------------------------------------------------------- */

static void __attribute__((noreturn)) helper_main(int fd)
{
	signal(SIGINT, SIG_IGN); /* the parent decides when we stop: it closes the socket */
	signal(SIGTERM, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	(void)!setpriority(PRIO_PROCESS, 0, 10); /* like the workers: the loop goes first */
	for (;;) {
		unsigned char h[9], reply[8];
		if (io_all(fd, h, 9, false) != 0)
			_exit(0);
		uint32_t na = get32(h + 1), nb = get32(h + 5);
		if (na > MSG_MAX || nb > MSG_MAX)
			_exit(1);
		char *a = al_malloc(na + 1), *b = al_malloc(nb + 1), out[AL_PWHASH_STR_MAX];
		if (a == NULL || b == NULL || io_all(fd, a, na, false) || io_all(fd, b, nb, false))
			_exit(1);
		a[na] = 0;
		int rc;
		uint32_t len = 0;
		if (h[0] == 'h') {
			rc = al_pwhash_local(a, b, nb, out, sizeof out, NULL);
			len = rc == 0 ? (uint32_t)strlen(out) : 0;
		} else
			rc = al_pwhash_verify_local(a, b, nb, NULL);
		sodium_memzero(b, nb);
		al_free(a);
		al_free(b);
		put32(reply, (uint32_t)rc);
		put32(reply + 4, len);
		if (io_all(fd, reply, 8, true) || io_all(fd, out, len, true))
			_exit(0);
		sodium_memzero(out, sizeof out);
	}
}

/* ---- the worker side ----------------------------------------------------------------------------- */

/* One request to this thread's helper; -3 when the helper cannot be reached. */
static int ask(char op, const char *a, size_t na, const char *b, size_t nb, char *out, size_t out_len)
{
	unsigned char h[9], reply[8];
	if (na > MSG_MAX || nb > MSG_MAX)
		return -3;
	h[0] = (unsigned char)op;
	put32(h + 1, (uint32_t)na);
	put32(h + 5, (uint32_t)nb);
	if (io_all(my_fd, h, 9, true) || io_all(my_fd, (void *)a, na, true) || io_all(my_fd, (void *)b, nb, true) ||
	    io_all(my_fd, reply, 8, false))
		return -3;
	int rc = (int)get32(reply);
	uint32_t len = get32(reply + 4);
	if (len >= out_len || io_all(my_fd, out, len, false))
		return -3;
	out[len] = 0;
	return rc;
}

static int hash_op(const char *cost, const char *pw, size_t n, char *out, size_t out_len, void *ctx)
{
	(void)ctx;
	int rc = my_fd >= 0 ? ask('h', cost, strlen(cost), pw, n, out, out_len) : -3;
	return rc == -3 ? al_pwhash_local(cost, pw, n, out, out_len, NULL) : rc; /* not a worker, or no helper */
}

static int verify_op(const char *hash, const char *pw, size_t n, void *ctx)
{
	(void)ctx;
	char none[8];
	int rc = my_fd >= 0 ? ask('v', hash, strlen(hash), pw, n, none, sizeof none) : -3;
	return rc == -3 ? al_pwhash_verify_local(hash, pw, n, NULL) : rc;
}

void srv_hash_use(al_srv *srv, int worker)
{
	my_fd = srv->hashers && worker < srv->nhashers ? srv->hashers[worker].fd : -1;
}

int srv_hashers_start(al_srv *srv, int n, al_error *err)
{
	srv->hashers = al_calloc((size_t)n, sizeof *srv->hashers);
	if (srv->hashers == NULL)
		return al_err(err, AL_ENO_MEMORY, "out of memory");
	for (int i = 0; i < n; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
			return al_err(err, AL_EIO_ERROR, "socketpair: %s", strerror(errno));
		pid_t pid = fork();
		if (pid < 0) {
			close(sv[0]);
			close(sv[1]);
			return al_err(err, AL_EIO_ERROR, "fork: %s", strerror(errno));
		}
		if (pid == 0) { /* keep only our end of the socket: no listener, no LMDB file */
			long max = sysconf(_SC_OPEN_MAX);
			for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
				if (fd != sv[1])
					close(fd);
			helper_main(sv[1]);
		}
		close(sv[1]);
		srv->hashers[i].fd = sv[0];
		srv->hashers[i].pid = pid;
		srv->nhashers = i + 1;
	}
	static al_pwhash_ops ops = {hash_op, verify_op, NULL};
	al_set_pwhash_ops(&ops);
	return AL_OK;
}

void srv_hashers_stop(al_srv *srv)
{
	if (srv->hashers == NULL)
		return;
	al_set_pwhash_ops(NULL);
	for (int i = 0; i < srv->nhashers; i++)
		close(srv->hashers[i].fd); /* the helper sees the end of its socket and exits */
	for (int i = 0; i < srv->nhashers; i++)
		waitpid(srv->hashers[i].pid, NULL, 0);
	al_free(srv->hashers);
	srv->hashers = NULL;
	srv->nhashers = 0;
}
