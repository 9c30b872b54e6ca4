/*
 * test_server_logins.c - logins under attack, against a real adminlogd whose hashes cost what
 * they cost in production (argon2id at the interactive cost): the failed-login limit holds for
 * logins sent together (pipelined on one connection, or at once on many), and a flood of bad
 * logins from one address does not keep a login from another address waiting.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/codec.h"
#include "server_harness.h"

#define WRONG "Wrong!pass1"

static void create_user(sh_server *p, const char *email)
{
	al_client *admin = sh_connect_as(p, "admin@example.com");
	assert_non_null(admin);
	al_reply r;
	char name[64];
	snprintf(name, sizeof name, "%.*s", (int)strcspn(email, "@"), email);
	assert_int_equal(sh_call(admin, &r, "user.create", "email", 's', email, "username", 's', name, "password", 's',
				 SH_PASSWORD, NULL),
			 AL_OK);
	al_reply_free(&r);
	al_client_close(admin);
}

static void send_login(al_client *c, uint64_t id, const char *email, const char *password)
{
	size_t len;
	al_error err;
	char *args = th_args(&len, "email", 's', email, "password", 's', password, NULL);
	assert_int_equal(al_client_send(c, id, "login", args, len, false, &err), AL_OK);
	free(args);
}

/* Receives the answer of every id in 1..n (any order) into codes[id]. */
static void answers(al_client *c, int n, int *codes)
{
	for (int i = 0; i < n; i++) {
		al_msg m;
		al_error err = {0};
		assert_int_equal(al_client_recv(c, &m, &err), AL_OK);
		assert_true(m.has_id && m.id >= 1 && m.id <= (uint64_t)n);
		codes[m.id] = m.kind == AL_MSG_ERROR ? m.err.code : AL_OK;
		if (m.err.code == AL_ERATE_LIMITED)
			assert_true(m.retry_after >= 1);
	}
}

/* 64 logins pipelined on one connection, the right password 60th: one is verified at a time,
 * the others are refused with rate_limited at once, the right one too. */
static void pipelined_on_one_connection(void **state)
{
	sh_server *p = *state;
	create_user(p, "victim@example.com");
	al_client *c = sh_connect(p);
	assert_non_null(c);
	for (uint64_t id = 1; id <= 64; id++)
		send_login(c, id, "victim@example.com", id == 60 ? SH_PASSWORD : WRONG);
	int codes[65] = {0}, unauth = 0, limited = 0;
	answers(c, 64, codes);
	for (int id = 1; id <= 64; id++) {
		unauth += codes[id] == AL_EUNAUTHENTICATED;
		limited += codes[id] == AL_ERATE_LIMITED;
	}
	print_message("# %d unauthenticated, %d rate_limited\n", unauth, limited);
	assert_int_equal(codes[60], AL_ERATE_LIMITED);
	assert_int_equal(unauth + limited, 64);
	assert_true(unauth >= 1 && unauth <= 10);
	al_reply r;
	assert_int_equal(sh_call(c, &r, "whoami", NULL), AL_EUNAUTHENTICATED);
	al_client_close(c);
}

/* Logins for one email sent at once on 30 connections: exactly 10 are verified (the limit per
 * email), 20 are refused before any hashing, and then even the right password is refused. */
static void at_once_on_many_connections(void **state)
{
	sh_server *p = *state;
	create_user(p, "victim@example.com");
	al_client *c[30];
	for (int i = 0; i < 30; i++) {
		c[i] = sh_connect(p);
		assert_non_null(c[i]);
	}
	for (int i = 0; i < 30; i++)
		send_login(c[i], 1, "victim@example.com", WRONG);
	int unauth = 0, limited = 0;
	for (int i = 0; i < 30; i++) {
		int code[2] = {0, 0};
		answers(c[i], 1, code);
		unauth += code[1] == AL_EUNAUTHENTICATED;
		limited += code[1] == AL_ERATE_LIMITED;
	}
	assert_int_equal(unauth, 10);
	assert_int_equal(limited, 20);
	al_reply r;
	assert_int_equal(al_client_login(c[0], "victim@example.com", SH_PASSWORD, NULL, &r), AL_ERATE_LIMITED);
	assert_non_null(strstr(r.err.msg, "too many failed attempts"));
	for (int i = 0; i < 30; i++)
		al_client_close(c[i]);
	/* a success is taken back: 9 failures, a success, then a 10th failure is still verified */
	create_user(p, "other@example.com");
	al_client *d = sh_connect(p);
	for (int i = 0; i < 9; i++)
		assert_int_equal(al_client_login(d, "other@example.com", WRONG, NULL, &r), AL_EUNAUTHENTICATED);
	assert_int_equal(al_client_login(d, "other@example.com", SH_PASSWORD, NULL, &r), AL_OK);
	al_reply_free(&r);
	assert_int_equal(al_client_login(d, "other@example.com", WRONG, NULL, &r), AL_EUNAUTHENTICATED);
	assert_int_equal(al_client_login(d, "other@example.com", SH_PASSWORD, NULL, &r), AL_ERATE_LIMITED);
	al_client_close(d);
}

/* ---- a flood from one address ------------------------------------------------------------------ */

typedef struct flooder {
	sh_server *p;
	int num;
	volatile int *stop;
	int *answered; /* flooders with a first answer (atomic) */
	int hashed, limited; /* answers unauthenticated (verified) and rate_limited */
	int queue_full;      /* of those rate_limited, for want of room in the login queue */
} flooder;

/* One round: 64 logins pipelined for 64 emails nobody has, then their answers. No cmocka
 * asserts here: this runs on its own thread. */
static int flood_round(flooder *f, al_client *c, int *limited)
{
	al_error err = {0};
	*limited = 0;
	for (uint64_t id = 1; id <= 64; id++) {
		char email[64];
		size_t len;
		snprintf(email, sizeof email, "nobody%02d-%02llu@example.com", f->num, (unsigned long long)id);
		char *args = th_args(&len, "email", 's', email, "password", 's', WRONG, NULL);
		int rc = al_client_send(c, id, "login", args, len, false, &err);
		free(args);
		if (rc)
			return rc;
	}
	for (int i = 0; i < 64; i++) {
		al_msg m;
		if (al_client_recv(c, &m, &err) != AL_OK)
			return AL_EIO_ERROR;
		if (i == 0 && f->hashed + f->limited == 0)
			__atomic_add_fetch(f->answered, 1, __ATOMIC_SEQ_CST);
		f->hashed += m.kind == AL_MSG_ERROR && m.err.code == AL_EUNAUTHENTICATED;
		*limited += m.kind == AL_MSG_ERROR && m.err.code == AL_ERATE_LIMITED;
		f->queue_full += m.kind == AL_MSG_ERROR && m.err.code == AL_ERATE_LIMITED && m.retry_after >= 1 &&
				 strstr(m.err.msg, "waiting to be verified") != NULL;
	}
	f->limited += *limited;
	return AL_OK;
}

static void *flood_main(void *arg)
{
	flooder *f = arg;
	al_client *c = NULL;
	al_error err = {0};
	if (al_client_connect(&c, f->p->tcp, SH_TIMEOUT_MS, &err) != AL_OK)
		return NULL;
	int limited;
	while (!*f->stop && flood_round(f, c, &limited) == AL_OK) {
		/* The flooders share this machine's two cores with the server's hashing (which runs
		 * niced): a pause between rounds, longer after a round refused whole, keeps the test
		 * about the queue, not about who gets the CPU. Each connection that got a login in
		 * still has one waiting nearly all the time. */
		struct timespec gap = {0, (limited == 64 ? 250 : 50) * 1000 * 1000};
		nanosleep(&gap, NULL);
	}
	al_client_close(c);
	return NULL;
}

/* 20 TCP connections flood pipelined bad logins from 127.0.0.1; a login over the Unix socket
 * (another address) is answered in under 3 s. */
static void flood_does_not_starve(void **state)
{
	sh_server *p = *state;
	volatile int stop = 0;
	int answered = 0;
	flooder f[20];
	pthread_t t[20];
	for (int i = 0; i < 20; i++) {
		f[i] = (flooder){p, i, &stop, &answered, 0, 0, 0};
		assert_int_equal(pthread_create(&t[i], NULL, flood_main, &f[i]), 0);
	}
	/* The flood is on once every flooder has an answer (at once, when refused); a server that
	 * answers nothing for long is flooded too: go on after 2 s then. */
	double t0 = sh_now_s();
	while (__atomic_load_n(&answered, __ATOMIC_SEQ_CST) < 20 && sh_now_s() - t0 < 2) {
		struct timespec gap = {0, 10 * 1000 * 1000};
		nanosleep(&gap, NULL);
	}
	al_client *c = sh_connect(p);
	assert_non_null(c);
	t0 = sh_now_s();
	al_reply r;
	int rc = al_client_login(c, "admin@example.com", TH_PASSWORD, NULL, &r);
	double took = sh_now_s() - t0;
	al_reply_free(&r);
	stop = 1;
	int hashed = 0, limited = 0, queue_full = 0;
	for (int i = 0; i < 20; i++) {
		pthread_join(t[i], NULL);
		hashed += f[i].hashed;
		limited += f[i].limited;
		queue_full += f[i].queue_full;
	}
	print_message("# login during the flood: %.3f s (%s); flood: %d verified, %d refused at once (%d: queue full)\n",
		      took, al_err_name(rc), hashed, limited, queue_full);
	assert_int_equal(rc, AL_OK);
	assert_true(took < 3.0);
	assert_true(hashed <= 100); /* the limit per client address holds too */
	assert_true(queue_full > 0); /* 20 connections, room for 16 logins of one address to wait */
	al_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(pipelined_on_one_connection, sh_setup_hashed, sh_teardown),
		cmocka_unit_test_setup_teardown(at_once_on_many_connections, sh_setup_hashed, sh_teardown),
		cmocka_unit_test_setup_teardown(flood_does_not_starve, sh_setup_hashed, sh_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
