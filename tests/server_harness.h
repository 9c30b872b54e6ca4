/*
 * server_harness.h - starting a real adminlogd ($BIN/adminlogd) on a temp data directory, and
 * client shortcuts, for tests/test_server*.c. Readiness is the server's own "listening" lines
 * on its stdout, never a fixed sleep.
 */
#ifndef AL_SERVER_HARNESS_H
#define AL_SERVER_HARNESS_H

#include <sys/types.h>

#include "adminlog_client.h"
#include "helpers.h"

#define SH_TIMEOUT_MS 30000 /* generous: sanitizer builds on a loaded 2-core machine */
#define SH_PASSWORD "Passw0rd!" /* of every user the tests create; the admin's is TH_PASSWORD */

typedef struct sh_key {
	char email[128], access_key[64], secret_key[128];
} sh_key;

typedef struct sh_server {
	pid_t pid;
	char *dir;       /* temp root (owned) */
	char data[4200]; /* data directory */
	char sock[4200]; /* "unix:PATH" */
	char tcp[80];    /* "127.0.0.1:PORT" */
	char log[4200];  /* the server's stderr */
	uint64_t boot;   /* events recorded by the bootstrap */
	sh_key keys[32]; /* keypairs from logins, reused with auth */
	int nkeys;
} sh_server;

/* A temp data directory initialised with pwhash cost (NULL = min); not started. */
void sh_prepare(sh_server *p, const char *pwhash);
/* Starts adminlogd-test on p->data with extra options (NULL-terminated); 0 when listening. */
int sh_start(sh_server *p, ...);
/* SIGTERM (or sig) and wait; returns the exit status, or 128+signal. */
int sh_stop(sh_server *p, int sig);
/* Stops if running, removes the directory. */
void sh_cleanup(sh_server *p);

/* A connection (Unix socket), or NULL with a message on stderr. */
al_client *sh_connect(sh_server *p);
/* A connection authenticated as email: login the first time (admin@example.com with
 * TH_PASSWORD, anyone else with SH_PASSWORD), keypair challenge-response after that.
 * Thread-safe. NULL (and a message) when it fails. */
al_client *sh_connect_as(sh_server *p, const char *email);
/* Logs in on c; fills key when not NULL; returns the code. */
int sh_login(al_client *c, const char *email, const char *password, sh_key *key);
/* Runs op with th_args-style triples (name, type, value, ..., NULL); returns the code. */
int sh_call(al_client *c, al_reply *rep, const char *op, ...);
/* A string field of a reply's result map (static buffer), or NULL. */
const char *sh_res_str(const al_reply *rep, const char *key);
/* Counts lines of the server log containing text. */
int sh_log_count(sh_server *p, const char *text);
/* cmocka fixtures: a server on a fresh directory (sh_setup: pwhash cost min, sh_setup_hashed:
 * "interactive"), started with no extra options; sh_teardown stops and removes it. */
int sh_setup(void **state);
int sh_setup_hashed(void **state);
int sh_teardown(void **state);
/* Runs op on c with th_args-style triples and frees the reply; returns the code. */
int sh_run(al_client *c, const char *op, ...);
/* Monotonic seconds, for the tests' timing assertions. */
double sh_now_s(void);
/* Runs a command line through sh -c; returns its exit status. */
int sh_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
