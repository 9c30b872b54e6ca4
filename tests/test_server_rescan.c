/*
 * test_server_rescan.c - image.rescan against a registry that hangs, over the wire: the rescan's
 * network I/O never runs on the writer, so other clients' writes commit as usual meanwhile, and
 * it does not hold the threads that log users in either (the server runs with one worker).
 * The "hung registry" is a TCP listener in this test that accepts and never answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server_harness.h"

#define RESCAN_TIMEOUT_S 120LL /* far beyond this test's patience: the rescan must not be waited for */
#define WRITE_MAX_MS 200       /* the issue's bound for an unrelated write during a hung rescan */

/* ---- a registry that accepts and never answers ------------------------------------------------ */

typedef struct hung {
	int lfd, port, stop[2];
	int fds[16];
	int nfds;
	pthread_t t;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} hung;

static void *hung_main(void *arg)
{
	hung *h = arg;
	for (;;) {
		struct pollfd pf[2] = {{h->lfd, POLLIN, 0}, {h->stop[0], POLLIN, 0}};
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents)
			break;
		if (!(pf[0].revents & POLLIN))
			continue;
		int fd = accept(h->lfd, NULL, NULL);
		pthread_mutex_lock(&h->mu);
		if (fd >= 0 && h->nfds < (int)(sizeof h->fds / sizeof *h->fds))
			h->fds[h->nfds++] = fd; /* held open, never read, never answered */
		else if (fd >= 0)
			close(fd);
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->mu);
	}
	return NULL;
}

static void hung_start(hung *h)
{
	memset(h, 0, sizeof *h);
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	assert_int_equal(pipe(h->stop), 0);
	h->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(h->lfd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t n = sizeof a;
	assert_int_equal(bind(h->lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(h->lfd, 16), 0);
	assert_int_equal(getsockname(h->lfd, (struct sockaddr *)&a, &n), 0);
	h->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&h->t, NULL, hung_main, h), 0);
}

/* Waits (at most SH_TIMEOUT_MS) until someone has connected: the rescan is then in its network
 * I/O. Returns whether it happened. */
static bool hung_wait_connected(hung *h)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SH_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&h->mu);
	int rc = 0;
	while (h->nfds == 0 && rc == 0)
		rc = pthread_cond_timedwait(&h->cv, &h->mu, &until);
	bool ok = h->nfds > 0;
	pthread_mutex_unlock(&h->mu);
	return ok;
}

/* Stops accepting and closes every held connection: the registry's client sees the end of the
 * stream at once. */
static void hung_stop(hung *h)
{
	assert_int_equal(write(h->stop[1], "x", 1), 1);
	pthread_join(h->t, NULL);
	for (int i = 0; i < h->nfds; i++)
		close(h->fds[i]);
	close(h->lfd);
	close(h->stop[0]);
	close(h->stop[1]);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
}

/* ---- the rescan, on a thread of its own (the client call blocks until answered) ---------------- */

typedef struct rescan_call {
	al_client *c;
	char host[64];
	int rc;
	char msg[256];
	volatile int done;
	pthread_t t;
} rescan_call;

static void *rescan_main(void *arg)
{
	rescan_call *r = arg;
	al_reply rep;
	r->rc = sh_call(r->c, &rep, "image.rescan", "registry", 's', r->host, "timeout", 'i', RESCAN_TIMEOUT_S, NULL);
	snprintf(r->msg, sizeof r->msg, "%s", rep.err.msg);
	al_reply_free(&rep);
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What teardown must release even when an assertion stopped the test half-way. */
typedef struct fx {
	sh_server p;
	hung h;
	bool hung_on;
	rescan_call r;
	bool rescan_on;
	al_client *conns[4];
} fx;

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	sh_prepare(&f->p, NULL);
	*state = f;
	return sh_start(&f->p, "--workers", "1", NULL);
}

static int teardown(void **state)
{
	fx *f = *state;
	if (f->hung_on) /* ends a rescan still waiting for it */
		hung_stop(&f->h);
	if (f->rescan_on)
		pthread_join(f->r.t, NULL);
	for (int i = 0; i < 4; i++)
		al_client_close(f->conns[i]);
	al_client_close(f->r.c);
	sh_cleanup(&f->p);
	free(f);
	return 0;
}

static void hung_rescan_blocks_nobody(void **state)
{
	fx *f = *state;
	sh_server *p = &f->p;
	al_client *admin = f->conns[0] = sh_connect_as(p, "admin@example.com");
	assert_non_null(admin);
	al_reply rep;
	const char *users[] = {"target@example.com", "late@example.com"};
	for (int i = 0; i < 2; i++) {
		char name[32];
		snprintf(name, sizeof name, "%.*s", (int)strcspn(users[i], "@"), users[i]);
		assert_int_equal(sh_call(admin, &rep, "user.create", "email", 's', users[i], "username", 's', name, "password",
					 's', SH_PASSWORD, NULL),
				 AL_OK);
		al_reply_free(&rep);
	}
	hung_start(&f->h);
	f->hung_on = true;
	char host[64], url[80];
	snprintf(host, sizeof host, "127.0.0.1:%d", f->h.port);
	snprintf(url, sizeof url, "http://%s", host);
	assert_int_equal(sh_call(admin, &rep, "registry.create", "hostname", 's', host, "url", 's', url, NULL), AL_OK);
	al_reply_free(&rep);

	/* The rescan on its own connection; another client's connection ready beforehand. */
	al_client *other = f->conns[1] = sh_connect_as(p, "admin@example.com");
	assert_non_null(other);
	rescan_call *r = &f->r;
	r->c = sh_connect_as(p, "admin@example.com");
	snprintf(r->host, sizeof r->host, "%s", host);
	assert_non_null(r->c);
	int64_t started = mono_ms();
	assert_int_equal(pthread_create(&r->t, NULL, rescan_main, r), 0);
	f->rescan_on = true;
	assert_true(hung_wait_connected(&f->h)); /* the rescan now waits for the registry */

	/* An unrelated write from another client is answered at once. */
	int64_t t0 = mono_ms();
	int rc = sh_call(other, &rep, "user.update", "email", 's', "target@example.com", "full_name", 's', "During", NULL);
	int64_t took = mono_ms() - t0;
	print_message("# user.update during a hung rescan: %s in %lld ms\n", al_err_name(rc), (long long)took);
	assert_int_equal(rc, AL_OK);
	assert_string_equal(sh_res_str(&rep, "full_name"), "During");
	al_reply_free(&rep);
	assert_true(took < WRITE_MAX_MS);

	/* A login (a worker's job, and the server has one worker) is not held either. */
	al_client *late = f->conns[2] = sh_connect(p);
	assert_non_null(late);
	t0 = mono_ms();
	assert_int_equal(sh_login(late, "late@example.com", SH_PASSWORD, NULL), AL_OK);
	took = mono_ms() - t0;
	print_message("# login during a hung rescan: %lld ms\n", (long long)took);
	assert_true(took < SH_TIMEOUT_MS / 3);
	assert_false(__atomic_load_n(&r->done, __ATOMIC_ACQUIRE)); /* all of it while the rescan hung */

	/* The registry goes away: the rescan ends now, reporting it, long before its timeout. */
	hung_stop(&f->h);
	f->hung_on = false;
	pthread_join(r->t, NULL);
	f->rescan_on = false;
	print_message("# rescan: %s after %lld ms: %s\n", al_err_name(r->rc), (long long)(mono_ms() - started), r->msg);
	assert_int_equal(r->rc, AL_EIO_ERROR);
	assert_non_null(strstr(r->msg, host));
	assert_true(mono_ms() - started < RESCAN_TIMEOUT_S * 1000);
	assert_int_equal(sh_stop(p, SIGTERM), 0); /* and the server stops cleanly */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(hung_rescan_blocks_nobody, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
