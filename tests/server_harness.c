/* server_harness.c - see server_harness.h. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/codec.h"
#include "server_harness.h"

void sh_prepare(sh_server *p, const char *pwhash)
{
	memset(p, 0, sizeof *p);
	p->dir = th_tmpdir();
	if (mkdir(p->dir, 0700) != 0)
		abort();
	snprintf(p->data, sizeof p->data, "%s/data", p->dir);
	snprintf(p->sock, sizeof p->sock, "unix:%s/s.sock", p->dir);
	snprintf(p->log, sizeof p->log, "%s/server.log", p->dir);
	al_init_opts o = {.admin_email = "admin@example.com", .admin_password = TH_PASSWORD,
			  .pwhash = pwhash ? pwhash : "min"};
	al_error err = {0};
	if (al_store_init(p->data, &o, &th_admin, &err) != AL_OK) {
		fprintf(stderr, "# init %s: %s\n", p->data, err.msg);
		abort();
	}
	al_store *s;
	al_open_opts oo = {AL_OPEN_QUIET, 0};
	if (al_store_open(&s, p->data, &oo, &err) != AL_OK)
		abort();
	p->boot = al_log_head(s);
	al_store_close(s);
}

static const char *server_bin(void)
{
	static char path[4096];
	const char *b = getenv("BIN");
	snprintf(path, sizeof path, "%s/adminlogd", b && *b ? b : "bin");
	return path;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sh_start(sh_server *p, ...)
{
	char *argv[64];
	int n = 0, fds[2];
	argv[n++] = (char *)server_bin();
	argv[n++] = "--data";
	argv[n++] = p->data;
	argv[n++] = "--socket";
	argv[n++] = p->sock + 5;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--log-level";
	argv[n++] = "info";
	va_list ap;
	va_start(ap, p);
	for (char *a; n < 62 && (a = va_arg(ap, char *));)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	if (pipe(fds) != 0)
		return -1;
	p->pid = fork();
	if (p->pid == 0) {
		int log = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(fds[1], 1);
		dup2(log, 2);
		close(fds[0]);
		close(fds[1]);
		close(log);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	char buf[8192];
	size_t len = 0;
	int64_t deadline = now_ms() + SH_TIMEOUT_MS;
	int ready = -1;
	while (ready != 0 && now_ms() < deadline) {
		struct pollfd pf = {fds[0], POLLIN, 0};
		if (poll(&pf, 1, 200) <= 0)
			continue;
		ssize_t r = read(fds[0], buf + len, sizeof buf - 1 - len);
		if (r <= 0)
			break; /* the server exited */
		len += (size_t)r;
		buf[len] = 0;
		char *t = strstr(buf, "listening on tcp ");
		if (t && strchr(t, '\n')) {
			sscanf(t + 17, "%79s", p->tcp);
		}
		if (strstr(buf, "listening on unix ") && p->tcp[0])
			ready = 0;
	}
	close(fds[0]); /* later stdout lines are not read: the server never writes more there */
	if (ready != 0) {
		fprintf(stderr, "# adminlogd did not start; its log:\n");
		sh_system("sed 's/^/#   /' '%s' | tail -20 >&2", p->log);
		sh_stop(p, SIGKILL);
	}
	return ready;
}

int sh_stop(sh_server *p, int sig)
{
	if (p->pid <= 0)
		return -1;
	int st = 0;
	kill(p->pid, sig);
	int64_t deadline = now_ms() + SH_TIMEOUT_MS * 2;
	pid_t r;
	while ((r = waitpid(p->pid, &st, WNOHANG)) == 0 && now_ms() < deadline) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (r == 0) { /* hung: that is a failure the caller sees as status 999 */
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &st, 0);
		p->pid = 0;
		return 999;
	}
	p->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void sh_cleanup(sh_server *p)
{
	/* A server that does not stop cleanly has crashed or hung: show why. */
	if (p->pid > 0 && sh_stop(p, SIGTERM) != 0) {
		fprintf(stderr, "# adminlogd did not stop cleanly; the end of its log:\n");
		sh_system("grep -v ' ok [0-9]*us$' '%s' | tail -40 | sed 's/^/#   /' >&2", p->log);
	}
	if (p->dir)
		th_rmrf(p->dir);
	p->dir = NULL;
}

al_client *sh_connect(sh_server *p)
{
	al_client *c = NULL;
	al_error err = {0};
	if (al_client_connect(&c, p->sock, SH_TIMEOUT_MS, &err) != AL_OK)
		fprintf(stderr, "# connect %s: %s: %s\n", p->sock, al_err_name(err.code), err.msg);
	return c;
}

/* Copies a string field of the reply's result map into dst ("" when absent); thread-safe,
 * unlike th_res_str's static buffer. */
static void res_copy(const al_reply *rep, const char *key, char *dst, size_t n)
{
	msgpack_zone z;
	msgpack_object o;
	size_t off = 0;
	al_str v;
	dst[0] = 0;
	msgpack_zone_init(&z, 1024);
	if (rep->result && msgpack_unpack(rep->result, rep->result_len, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS &&
	    al_mp_str(&o, key, &v) == 1)
		snprintf(dst, n, "%.*s", (int)v.n, v.p);
	msgpack_zone_destroy(&z);
}

int sh_login(al_client *c, const char *email, const char *password, sh_key *key)
{
	al_reply rep;
	int rc = al_client_login(c, email, password, NULL, &rep);
	if (rc == AL_OK && key) {
		snprintf(key->email, sizeof key->email, "%s", email);
		res_copy(&rep, "access_key", key->access_key, sizeof key->access_key);
		res_copy(&rep, "secret_key", key->secret_key, sizeof key->secret_key);
	}
	al_reply_free(&rep);
	return rc;
}

static pthread_mutex_t keys_mu = PTHREAD_MUTEX_INITIALIZER;

al_client *sh_connect_as(sh_server *p, const char *email)
{
	al_client *c = sh_connect(p);
	if (c == NULL)
		return NULL;
	sh_key key = {{0}};
	pthread_mutex_lock(&keys_mu);
	for (int i = 0; i < p->nkeys && !key.email[0]; i++)
		if (!strcmp(p->keys[i].email, email))
			key = p->keys[i];
	pthread_mutex_unlock(&keys_mu);
	al_error err = {0};
	int rc;
	if (key.email[0])
		rc = al_client_auth(c, key.access_key, key.secret_key, &err);
	else {
		const char *pw = strcmp(email, "admin@example.com") ? SH_PASSWORD : TH_PASSWORD;
		al_reply rep;
		rc = al_client_login(c, email, pw, NULL, &rep);
		err = rep.err;
		if (rc == AL_OK) {
			snprintf(key.email, sizeof key.email, "%s", email);
			res_copy(&rep, "access_key", key.access_key, sizeof key.access_key);
			res_copy(&rep, "secret_key", key.secret_key, sizeof key.secret_key);
			pthread_mutex_lock(&keys_mu);
			if (p->nkeys < (int)(sizeof p->keys / sizeof *p->keys))
				p->keys[p->nkeys++] = key;
			pthread_mutex_unlock(&keys_mu);
		}
		al_reply_free(&rep);
	}
	if (rc != AL_OK) {
		fprintf(stderr, "# authenticate %s: %s: %s\n", email, al_err_name(rc), err.msg);
		al_client_close(c);
		c = NULL;
	}
	return c;
}

int sh_call(al_client *c, al_reply *rep, const char *op, ...)
{
	va_list ap;
	va_start(ap, op);
	size_t len;
	char *args = th_vargs(&len, ap);
	va_end(ap);
	int rc = al_client_call(c, op, args, len, rep);
	free(args);
	return rc;
}

const char *sh_res_str(const al_reply *rep, const char *key) { return th_res_str(rep, key); }

int sh_log_count(sh_server *p, const char *text)
{
	FILE *f = fopen(p->log, "r");
	char line[4096];
	int n = 0;
	while (f && fgets(line, sizeof line, f))
		n += strstr(line, text) != NULL;
	if (f)
		fclose(f);
	return n;
}

int sh_system(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- cmocka fixtures and shortcuts --------------------------------------------------------- */

static int setup_with(void **state, const char *pwhash)
{
	sh_server *p = calloc(1, sizeof *p);
	if (p == NULL)
		return -1;
	sh_prepare(p, pwhash);
	*state = p;
	return sh_start(p, NULL);
}

int sh_setup(void **state) { return setup_with(state, NULL); }
int sh_setup_hashed(void **state) { return setup_with(state, "interactive"); }

int sh_teardown(void **state)
{
	sh_server *p = *state;
	sh_cleanup(p);
	free(p);
	return 0;
}

int sh_run(al_client *c, const char *op, ...)
{
	va_list ap;
	va_start(ap, op);
	size_t len;
	char *args = th_vargs(&len, ap);
	va_end(ap);
	al_reply rep;
	int rc = al_client_call(c, op, args, len, &rep);
	free(args);
	al_reply_free(&rep);
	return rc;
}

double sh_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
