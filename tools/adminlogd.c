/*
 * adminlogd - the admin server: one data directory, served over TCP and a Unix socket with
 * the msgpack protocol of docs/protocol.md. The server itself is src/server/srv*.c.
 *
 * On an empty data directory it first records the bootstrap events exactly as `adminlog
 * init` does, with a generated admin password written to DIR/admin-password (mode 0600).
 * While it runs it is the directory's only writer (direct-mode writes are refused), and it
 * refuses to start on a directory whose master key or itself group or others may access.
 * Once listening it prints one "listening ..." line per socket on stdout (a readiness signal
 * for scripts); the per-request log goes to stderr, and so do the store's messages when it
 * opens (views catching up at info, rebuilt at warn). SIGTERM/SIGINT stop it cleanly.
 * Exit status: 0 stopped, 1 could not start, 2 usage error.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adminlog.h"
#include "al_srv.h"

#define DEFAULT_LISTEN "127.0.0.1:7457"
#define DEFAULT_MAP_SIZE (8ull << 30)

static void usage(FILE *out)
{
	fputs("usage: adminlogd [--data DIR] [--listen HOST:PORT|none] [--socket PATH|none] [options]\n"
	      "\n"
	      "Serves the data directory DIR to admin frontends and adminctl (docs/protocol.md).\n"
	      "  --data DIR           data directory (default $ADMINLOG_DATA or ./var/adminlog);\n"
	      "                       an empty one is initialised as `adminlog init` does\n"
	      "  --listen HOST:PORT   TCP address, numeric (default " DEFAULT_LISTEN "; port 0 = any)\n"
	      "  --socket PATH        Unix socket, mode 0600 (default DIR/adminlogd.sock)\n"
	      "  --log-level L        error, warn, info (default: one line per request), debug\n"
	      "  --max-frame BYTES    largest request frame (default 1048576)\n"
	      "  --max-conns N        connections at once (default 1024)\n"
	      "  --max-unauth N       of those, not authenticated yet (default max-conns / 4)\n"
	      "  --max-unauth-per-addr N\n"
	      "                       the same from one TCP client address (default 64)\n"
	      "  --handshake-timeout S\n"
	      "                       close a connection not authenticated this long (default 10)\n"
	      "  --idle-timeout S     close a connection idle this long (default 300)\n"
	      "  --max-inflight N     requests in progress per connection (default 64)\n"
	      "  --workers N          threads for password hashing and streams (default 2)\n"
	      "  --map-size BYTES     LMDB map size reserved up front (default 8 GiB of address space)\n"
	      "  --admin-email E      bootstrap only: the first superadmin (default admin@example.com)\n"
	      "  --pwhash COST        bootstrap only: min, interactive (default) or moderate\n"
	      "  -h, --help           this help\n"
	      "  -V, --version        print the version\n"
	      "\n"
	      "While it runs it is DIR's only writer: adminctl --data writes are refused (reads work).\n"
	      "It does not start when DIR, DIR/master.key or DIR/admin-password is open to group or\n"
	      "others, when master.key is missing, or while a direct-mode writer has DIR open.\n"
	      "\n"
	      "exit status: 0 stopped by SIGTERM/SIGINT, 1 could not start, 2 usage error\n",
	      out);
}

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "adminlogd: %s%s\n(run adminlogd --help)\n", msg, arg ? arg : "");
	return 2;
}

static int parse_num(const char *v, long long lo, long long hi, long long *out)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || *v == 0 || *end || n < lo || n > hi)
		return -1;
	*out = n;
	return 0;
}

/* mkdir -p of dir's parents (the data directory itself is created by the store). */
static void make_parents(const char *dir)
{
	char p[4096];
	snprintf(p, sizeof p, "%s", dir);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = 0;
			mkdir(p, 0755);
			*s = '/';
		}
}

static char *actor_name(void)
{
	static char name[128];
	struct passwd *pw = getpwuid(geteuid());
	snprintf(name, sizeof name, "local:%s", pw ? pw->pw_name : "unknown");
	return name;
}

/* The same bootstrap as `adminlog init`, with a generated password written 0600 (both appear
 * in DIR together: al_store_init builds the directory aside and moves it into place). */
static int bootstrap(const char *dir, const char *email, const char *pwhash)
{
	al_init_opts o = {.admin_email = email, .pwhash = pwhash, .write_password = 1};
	al_actor actor = {actor_name(), AL_ROLE_SUPERADMIN};
	al_error err = {0};
	make_parents(dir);
	int rc = al_store_init(dir, &o, &actor, &err);
	memset(o.generated_password, 0, sizeof o.generated_password);
	if (rc != AL_OK) {
		fprintf(stderr, "adminlogd: %s: init %s: %s\n", al_err_name(err.code), dir, err.msg);
		return 1;
	}
	printf("adminlogd: initialised %s; admin %s, password written to %s/admin-password (mode 0600)\n", dir,
	       email ? email : "admin@example.com", dir);
	return 0;
}

/* Refuses, as ssh does for private keys, secrets that group or others may read. */
static void refuse_perms(const char *msg, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "adminlogd: permission_denied: %s\n", msg);
}

int main(int argc, char **argv)
{
	const char *data = getenv("ADMINLOG_DATA"), *listen = DEFAULT_LISTEN, *sock = NULL;
	const char *email = NULL, *pwhash = NULL;
	al_srv_opts o = {.log_level = AL_SRV_LOG_INFO, .signals = true};
	long long n, map_size = (long long)DEFAULT_MAP_SIZE;
	if (data == NULL || !*data)
		data = "var/adminlog";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("adminlogd %s\n", AL_VERSION);
			return 0;
		}
		if (v == NULL || strncmp(a, "--", 2) != 0) {
			char shown[64];
			snprintf(shown, sizeof shown, "%.*s", (int)strcspn(a, "="), a);
			return usage_error(v ? "unknown argument " : "unknown option or missing value: ", shown);
		}
		i++;
		if (!strcmp(a, "--data"))
			data = v;
		else if (!strcmp(a, "--listen"))
			listen = strcmp(v, "none") ? v : NULL;
		else if (!strcmp(a, "--socket"))
			sock = v;
		else if (!strcmp(a, "--admin-email"))
			email = v;
		else if (!strcmp(a, "--pwhash"))
			pwhash = v;
		else if (!strcmp(a, "--log-level")) {
			static const char *const levels[] = {"error", "warn", "info", "debug"};
			o.log_level = -1;
			for (int l = 0; l < 4; l++)
				if (!strcmp(v, levels[l]))
					o.log_level = l;
			if (o.log_level < 0)
				return usage_error("--log-level: one of error, warn, info, debug, not ", v);
		} else if (!strcmp(a, "--max-frame") && !parse_num(v, 64, 1ll << 30, &n))
			o.max_frame = (size_t)n;
		else if (!strcmp(a, "--max-conns") && !parse_num(v, 1, 1 << 20, &n))
			o.max_conns = (int)n;
		else if (!strcmp(a, "--max-unauth") && !parse_num(v, 1, 1 << 20, &n))
			o.max_unauth = (int)n;
		else if (!strcmp(a, "--max-unauth-per-addr") && !parse_num(v, 1, 1 << 20, &n))
			o.max_unauth_per_addr = (int)n;
		else if (!strcmp(a, "--handshake-timeout") && !parse_num(v, 1, 3600, &n))
			o.handshake_timeout = (int)n;
		else if (!strcmp(a, "--idle-timeout") && !parse_num(v, 1, 1 << 24, &n))
			o.idle_timeout = (int)n;
		else if (!strcmp(a, "--max-inflight") && !parse_num(v, 1, 1 << 16, &n))
			o.max_inflight = (int)n;
		else if (!strcmp(a, "--workers") && !parse_num(v, 1, 256, &n))
			o.workers = (int)n;
		else if (!strcmp(a, "--map-size") && !parse_num(v, 1 << 20, 1ll << 44, &n))
			map_size = n;
		else
			return usage_error("unknown option or bad value: ", a);
	}
	char sockbuf[4200];
	if (sock == NULL) {
		snprintf(sockbuf, sizeof sockbuf, "%s/adminlogd.sock", data);
		sock = sockbuf;
	} else if (!strcmp(sock, "none"))
		sock = NULL;
	o.listen = listen;
	o.socket_path = sock;

	char probe[4200];
	struct stat st;
	snprintf(probe, sizeof probe, "%s/data.mdb", data);
	if (stat(probe, &st) != 0 && bootstrap(data, email, pwhash) != 0)
		return 1;

	if (al_store_check_perms(data, refuse_perms, NULL) > 0)
		return 1;
	al_store *s;
	al_error err = {0};
	/* Threads read while the writer writes: the map never moves, and no other process
	 * writes while this one runs (AL_OPEN_SERVER). */
	al_open_opts oo = {AL_OPEN_FIXED_MAP | AL_OPEN_SERVER, (size_t)map_size, sock, al_srv_store_log, &o};
	if (al_store_open(&s, data, &oo, &err) != AL_OK) {
		fprintf(stderr, "adminlogd: %s: %s\n", al_err_name(err.code), err.msg);
		return 1;
	}
	al_srv *srv;
	if (al_srv_new(&srv, s, &o, &err) != AL_OK) {
		fprintf(stderr, "adminlogd: %s: %s\n", al_err_name(err.code), err.msg);
		al_store_close(s);
		return 1;
	}
	if (al_srv_tcp_addr(srv))
		printf("adminlogd: listening on tcp %s\n", al_srv_tcp_addr(srv));
	if (sock)
		printf("adminlogd: listening on unix %s\n", sock);
	fflush(stdout);
	al_srv_run(srv);
	al_srv_free(srv);
	al_store_close(s);
	return 0;
}
