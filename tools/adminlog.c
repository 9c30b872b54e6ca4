/*
 * adminlog - the offline tool: init, verify, rebuild, log (audit), replay (as-of), stats,
 * digest, checkpoint, simulate. Links only against include/adminlog.h.
 * Exit status: 0 done, 1 failed (error code and message on stderr), 2 usage error.
 */
#include <errno.h>
#include <sodium.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adminlog.h"
#include "adminlog_client.h"

static void usage(FILE *out)
{
	fputs("usage: adminlog <command> DIR [options]\n"
	      "\n"
	      "  init DIR [--admin-email E] [--admin-password-file F] [--pwhash min|interactive|moderate]\n"
	      "           [--offline] [--write-credentials]\n"
	      "        create a data directory with the bootstrap events; without a password file a\n"
	      "        password is generated, printed once and written to DIR/admin-password (0600);\n"
	      "        --offline: no default registry cr.backend.ai (it cannot be reached offline)\n"
	      "        --write-credentials: save the admin's keypair for adminctl ($ADMINLOG_CREDENTIALS,\n"
	      "        else ~/.config/adminlog/credentials, mode 0600)\n"
	      "  verify DIR        checksums, hash chain, indexes, views against a fresh rebuild\n"
	      "  rebuild DIR       drop every view and fold the whole log again\n"
	      "  log DIR [--entity KIND:ID] [--actor A] [--type T] [--since TIME] [--until TIME]\n"
	      "          [--after SEQ] [--limit N] [--json]     the audit listing, oldest first\n"
	      "  replay DIR --until SEQ|TIME --out DIR2   the state as of that point, as a new data directory\n"
	      "  stats DIR [--json]    event counts per type, head seq and hash, sizes\n"
	      "  digest DIR [--until SEQ|TIME]   xxh3-128 of all views (as of a point when given)\n"
	      "  checkpoint DIR [--list]   write the view checkpoints as-of starts from: at the head, and\n"
	      "        the missing ones before it that the pruning policy keeps (every checkpoint-interval\n"
	      "        events); --list: each checkpoint's seq, size and whether this build can use it\n"
	      "  simulate DIR [--days D] [--users U] [--agents A] [--sessions-per-day S] [--seed N]\n"
	      "           [--end TIME] [--verbose]\n"
	      "        a new data directory holding a simulated cluster history of D days ending at TIME\n"
	      "        (default now), written through the normal commands with a simulated clock (defaults:\n"
	      "        30 days, 50 users, 8 agents, 200 sessions a day, seed 1); the same options give the\n"
	      "        same history and digest. The admin is admin@sim.example.com, password\n"
	      "        Sim-Adm1n-Passw0rd! (users: Sim-Passw0rd!): a simulation's keys are not secret.\n"
	      "        Some commands are refused, as on a live cluster (sessions of deactivated users);\n"
	      "        --verbose prints each refusal on stderr\n"
	      "\n"
	      "TIME is RFC 3339, e.g. 2026-11-27T18:00:00Z. verify, log, stats, digest and checkpoint also run\n"
	      "while adminlogd serves DIR (read-only); rebuild and replay are refused then.\n"
	      "exit status: 0 done, 1 failed, 2 usage error\n",
	      out);
}

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "adminlog: %s%s\n(run adminlog --help)\n", msg, arg ? arg : "");
	return 2;
}

static int fail(const al_error *err)
{
	fprintf(stderr, "adminlog: %s: %s\n", al_err_name(err->code), err->msg);
	return 1;
}

static const char *opt(int argc, char **argv, const char *name, int *ok)
{
	for (int i = 3; i < argc; i++)
		if (!strcmp(argv[i], name)) {
			if (i + 1 >= argc) {
				*ok = 0;
				return NULL;
			}
			return argv[i + 1];
		}
	return NULL;
}

static int flag(int argc, char **argv, const char *name)
{
	for (int i = 3; i < argc; i++)
		if (!strcmp(argv[i], name))
			return 1;
	return 0;
}

/* Every option must be one of known (value options) or flags. */
static int check_opts(int argc, char **argv, const char *const *known, const char *const *flags)
{
	for (int i = 3; i < argc; i++) {
		int hit = 0;
		for (const char *const *k = known; *k && !hit; k++)
			if (!strcmp(argv[i], *k)) {
				hit = 1;
				i++;
			}
		for (const char *const *f = flags; *f && !hit; f++)
			hit = !strcmp(argv[i], *f);
		if (!hit) {
			char shown[64]; /* never echo a value given as --opt=value: it may be a password */
			snprintf(shown, sizeof shown, "%.*s", (int)strcspn(argv[i], "="), argv[i]);
			return usage_error("unknown option ", shown);
		}
	}
	return 0;
}

static void warn(const char *msg, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "adminlog: warning: %s\n", msg);
}

/* The store's messages (views catching up or rebuilt) on stderr. */
static void store_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	(void)level;
	fprintf(stderr, "adminlog: %s\n", msg);
}

/*
 * Opens DIR for a command; reading says it only reads (log, stats, verify, digest): those
 * also run beside adminlogd (read-only) and without DIR/master.key, saying so on stderr.
 * Commands that write are refused in both cases.
 */
static al_store *open_store(const char *dir, int reading, al_error *err)
{
	al_store *s = NULL;
	al_open_opts o = {reading ? AL_OPEN_READER : 0, 0, NULL, store_log, NULL};
	al_store_check_perms(dir, warn, NULL);
	if (al_store_open(&s, dir, &o, err) != AL_OK)
		return NULL;
	if (!al_store_has_secrets(s))
		fprintf(stderr, "adminlog: warning: %s/master.key is missing: secrets were not checked (sealed secret "
			"keys, TOTP keys and registry passwords cannot be opened until it is restored from a backup)\n",
			dir);
	return s;
}

static char *actor_name(void)
{
	static char name[128];
	struct passwd *pw = getpwuid(geteuid());
	snprintf(name, sizeof name, "local:%s", pw ? pw->pw_name : "unknown");
	return name;
}

/* SEQ or TIME to a seq. */
static int resolve_point(al_store *s, const char *v, uint64_t *seq, al_error *err)
{
	char *end;
	int64_t t;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (*v && !*end && !errno) {
		*seq = n;
		return AL_OK;
	}
	if (al_time_parse(v, &t) != 0)
		return al_err(err, AL_EINVALID_ARGUMENT, "--until: not a seq or an RFC 3339 time: %.64s", v);
	return al_log_seq_at_time(s, t, seq, err);
}

static void print_mp(const char *mp, size_t len, int json)
{
	msgpack_zone z;
	msgpack_object o;
	size_t off = 0;
	msgpack_zone_init(&z, 4096);
	if (msgpack_unpack(mp, len, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS) {
		if (json) {
			al_render_json(&o, stdout);
			putchar('\n');
		} else
			al_render_table(&o, stdout);
	}
	msgpack_zone_destroy(&z);
}

/* ---- init ------------------------------------------------------------------------------------------------ */

/* Logs the new admin in (locally, as the server would) and saves its keypair where adminctl
 * looks for credentials, so that `adminctl --socket ...` works at once. */
static int write_credentials(const char *dir, const char *email, const char *password)
{
	al_store *s;
	al_error err = {0};
	al_open_opts oo = {AL_OPEN_QUIET, 0};
	if (al_store_open(&s, dir, &oo, &err) != AL_OK)
		return fail(&err);
	al_login_req req = {email, password, NULL, NULL};
	al_login_result r;
	int rc = al_login(s, &req, &r, &err);
	al_store_close(s);
	if (rc)
		return fail(&err);
	al_creds c = {0};
	snprintf(c.access_key, sizeof c.access_key, "%s", r.access_key);
	snprintf(c.secret_key, sizeof c.secret_key, "%s", r.secret_key);
	snprintf(c.email, sizeof c.email, "%s", r.email);
	char path[4096];
	al_creds_path(path, sizeof path);
	rc = al_creds_save(path, &c, &err);
	sodium_memzero(&r, sizeof r);
	sodium_memzero(&c, sizeof c);
	if (rc)
		return fail(&err);
	printf("credentials of %s written to %s (mode 0600)\n", email, path);
	return 0;
}

static int cmd_init(int argc, char **argv)
{
	static const char *const known[] = {"--admin-email", "--admin-password-file", "--pwhash", NULL};
	static const char *const flags[] = {"--offline", "--write-credentials", NULL};
	int ok = 1, rc = check_opts(argc, argv, known, flags);
	if (rc)
		return rc;
	const char *dir = argv[2];
	al_init_opts o = {0};
	o.admin_email = opt(argc, argv, "--admin-email", &ok);
	o.pwhash = opt(argc, argv, "--pwhash", &ok);
	o.offline = flag(argc, argv, "--offline");
	const char *pwfile = opt(argc, argv, "--admin-password-file", &ok);
	if (!ok)
		return usage_error("an option needs a value", NULL);
	char pw[1024];
	if (pwfile) {
		FILE *f = fopen(pwfile, "r");
		if (f == NULL || fgets(pw, sizeof pw, f) == NULL) {
			fprintf(stderr, "adminlog: cannot read a password from %s\n", pwfile);
			if (f)
				fclose(f);
			return 1;
		}
		fclose(f);
		pw[strcspn(pw, "\r\n")] = 0;
		o.admin_password = pw;
	}
	al_error err = {0};
	al_actor actor = {actor_name(), AL_ROLE_SUPERADMIN, NULL, NULL, NULL};
	o.write_password = !pwfile; /* in place before the directory appears */
	if (al_store_init(dir, &o, &actor, &err) != AL_OK)
		return fail(&err);
	const char *email = o.admin_email ? o.admin_email : "admin@example.com";
	printf("initialised %s\nadmin: %s\n", dir, email);
	if (!pwfile)
		printf("password: %s\n(written to %s/admin-password, mode 0600; it is shown only this once)\n",
		       o.generated_password, dir);
	if (flag(argc, argv, "--write-credentials") && write_credentials(dir, email, pwfile ? pw : o.generated_password))
		return 1;
	memset(pw, 0, sizeof pw);
	return 0;
}

/* ---- verify, rebuild ---------------------------------------------------------------------------------------- */

static void progress(uint64_t done, uint64_t total, void *ctx)
{
	(void)ctx;
	if (!isatty(STDERR_FILENO) || total == 0)
		return;
	int w = 40, filled = (int)(done * (uint64_t)w / total);
	fprintf(stderr, "\r[%.*s%*s] %llu/%llu", filled, "########################################", w - filled, "",
		(unsigned long long)done, (unsigned long long)total);
	if (done >= total)
		fputc('\n', stderr);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmd_verify(int argc, char **argv)
{
	static const char *const none[] = {NULL};
	int rc = check_opts(argc, argv, none, none);
	if (rc)
		return rc;
	al_error err = {0};
	al_store *s = open_store(argv[2], 1, &err);
	if (s == NULL)
		return fail(&err);
	rc = al_store_verify(s, progress, NULL, &err);
	uint64_t head = al_log_head(s);
	al_store_close(s);
	if (rc)
		return fail(&err);
	printf("ok: %llu events, checksums, hash chain, indexes and views hold\n", (unsigned long long)head);
	return 0;
}

static int cmd_rebuild(int argc, char **argv)
{
	static const char *const none[] = {NULL};
	int rc = check_opts(argc, argv, none, none);
	if (rc)
		return rc;
	al_error err = {0};
	al_store *s = open_store(argv[2], 0, &err);
	if (s == NULL)
		return fail(&err);
	double t0 = now_s();
	rc = al_store_rebuild(s, progress, NULL, &err);
	double dt = now_s() - t0;
	uint64_t head = al_log_head(s);
	al_store_close(s);
	if (rc)
		return fail(&err);
	printf("rebuilt %llu events in %.3f s (%.0f events/s)\n", (unsigned long long)head, dt,
	       dt > 0 ? (double)head / dt : 0.0);
	return 0;
}

/* ---- log ------------------------------------------------------------------------------------------------------ */

static int print_event(const al_event *e, void *ctx)
{
	if (*(int *)ctx)
		al_event_write_json(e, stdout);
	else
		al_event_write_text(e, stdout);
	putchar('\n');
	return ferror(stdout) ? 1 : 0;
}

static int cmd_log(int argc, char **argv)
{
	static const char *const known[] = {"--entity", "--actor", "--type", "--since", "--until", "--limit", "--after", NULL};
	static const char *const flags[] = {"--json", NULL};
	int ok = 1, rc = check_opts(argc, argv, known, flags);
	if (rc)
		return rc;
	al_log_filter f = {0};
	f.entity = opt(argc, argv, "--entity", &ok);
	f.actor = opt(argc, argv, "--actor", &ok);
	f.type = opt(argc, argv, "--type", &ok);
	const char *since = opt(argc, argv, "--since", &ok), *until = opt(argc, argv, "--until", &ok);
	const char *limit = opt(argc, argv, "--limit", &ok), *after = opt(argc, argv, "--after", &ok);
	if (!ok)
		return usage_error("an option needs a value", NULL);
	if (since && al_time_parse(since, &f.since_us))
		return usage_error("--since: not an RFC 3339 time: ", since);
	if (until && al_time_parse(until, &f.until_us))
		return usage_error("--until: not an RFC 3339 time: ", until);
	char *end;
	if (limit && ((f.limit = strtoull(limit, &end, 10)) == 0 || *end))
		return usage_error("--limit: a positive number: ", limit);
	if (after && (f.after_seq = strtoull(after, &end, 10), *end))
		return usage_error("--after: a seq: ", after);
	if (f.entity && !strchr(f.entity, ':'))
		return usage_error("--entity: KIND:ID, e.g. user:alice@example.com, not ", f.entity);
	int json = flag(argc, argv, "--json");
	al_error err = {0};
	al_store *s = open_store(argv[2], 1, &err);
	if (s == NULL)
		return fail(&err);
	rc = al_log_query(s, &f, print_event, &json, &err);
	al_store_close(s);
	return rc < 0 ? fail(&err) : 0;
}

/* ---- replay, digest, stats -------------------------------------------------------------------------------------- */

static int cmd_replay(int argc, char **argv)
{
	static const char *const known[] = {"--until", "--out", NULL};
	static const char *const none[] = {NULL};
	int ok = 1, rc = check_opts(argc, argv, known, none);
	if (rc)
		return rc;
	const char *until = opt(argc, argv, "--until", &ok), *out = opt(argc, argv, "--out", &ok);
	if (!ok || !until || !out)
		return usage_error("replay needs --until SEQ|TIME and --out DIR2", NULL);
	al_error err = {0};
	al_store *s = open_store(argv[2], 0, &err);
	if (s == NULL)
		return fail(&err);
	uint64_t seq;
	rc = resolve_point(s, until, &seq, &err);
	if (rc == AL_OK && seq > al_log_head(s))
		rc = al_err(&err, AL_EINVALID_ARGUMENT, "--until: seq %llu is past the head %llu", (unsigned long long)seq,
			    (unsigned long long)al_log_head(s));
	if (rc == AL_OK)
		rc = al_store_replay(s, seq, out, 0, &err);
	al_store_close(s);
	if (rc)
		return fail(&err);
	printf("wrote %s: the state after event %llu\n", out, (unsigned long long)seq);
	return 0;
}

static int cmd_digest(int argc, char **argv)
{
	static const char *const known[] = {"--until", NULL};
	static const char *const none[] = {NULL};
	int ok = 1, rc = check_opts(argc, argv, known, none);
	if (rc)
		return rc;
	const char *until = opt(argc, argv, "--until", &ok);
	if (!ok)
		return usage_error("--until needs a value", NULL);
	al_error err = {0};
	al_store *s = open_store(argv[2], 1, &err), *view = s;
	if (s == NULL)
		return fail(&err);
	uint64_t seq;
	if (until && (rc = resolve_point(s, until, &seq, &err)) == AL_OK)
		rc = al_store_asof(s, seq, &view, &err);
	uint8_t d[16];
	if (rc == AL_OK && (rc = al_store_digest(view, d, &err)) == AL_OK) {
		for (int i = 0; i < 16; i++)
			printf("%02x", d[i]);
		putchar('\n');
	}
	if (view != s)
		al_store_close(view);
	al_store_close(s);
	return rc ? fail(&err) : 0;
}

static int cmd_stats(int argc, char **argv)
{
	static const char *const none[] = {NULL};
	static const char *const flags[] = {"--json", NULL};
	int rc = check_opts(argc, argv, none, flags);
	if (rc)
		return rc;
	al_error err = {0};
	al_store *s = open_store(argv[2], 1, &err);
	if (s == NULL)
		return fail(&err);
	char *mp;
	size_t len;
	rc = al_store_stats(s, &mp, &len, &err);
	al_store_close(s);
	if (rc)
		return fail(&err);
	print_mp(mp, len, flag(argc, argv, "--json"));
	al_free(mp);
	return 0;
}

/* ---- checkpoint ---------------------------------------------------------------------------------------------- */

static void print_checkpoint(uint64_t seq, uint64_t bytes, int usable, void *ctx)
{
	(void)ctx;
	printf("%llu  %.1f MB  %s\n", (unsigned long long)seq, bytes / 1e6, usable ? "usable" : "unusable (skipped)");
}

static int cmd_checkpoint(int argc, char **argv)
{
	static const char *const none[] = {NULL};
	static const char *const flags[] = {"--list", NULL};
	int rc = check_opts(argc, argv, none, flags);
	if (rc)
		return rc;
	al_error err = {0};
	al_store *s = open_store(argv[2], 1, &err); /* it writes checkpoints, not the store */
	if (s == NULL)
		return fail(&err);
	al_checkpoint_info ci;
	double t0 = now_s();
	if (flag(argc, argv, "--list"))
		rc = al_store_checkpoint_list(s, print_checkpoint, NULL, &err);
	else
		rc = al_store_checkpoint(s, AL_CKPT_FILL, progress, NULL, &ci, &err);
	al_store_close(s);
	if (rc)
		return fail(&err);
	if (!flag(argc, argv, "--list"))
		printf("wrote %llu checkpoints (%.1f MB, the newest at event %llu) in %.1f s; %llu kept (%.1f MB), "
		       "%llu removed\n",
		       (unsigned long long)ci.written, ci.bytes / 1e6, (unsigned long long)ci.seq, now_s() - t0,
		       (unsigned long long)ci.kept, ci.kept_bytes / 1e6, (unsigned long long)ci.pruned);
	return 0;
}

/* ---- simulate ----------------------------------------------------------------------------------------------- */

/* *out from a decimal option between lo and hi; 0, or the usage error's exit status. */
static int num_opt(int argc, char **argv, const char *name, unsigned long long lo, unsigned long long hi,
		   unsigned long long *out)
{
	int ok = 1;
	const char *v = opt(argc, argv, name, &ok);
	if (!ok)
		return usage_error("a value is missing after ", name);
	if (v == NULL)
		return 0;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || n < lo || n > hi) {
		char msg[128];
		snprintf(msg, sizeof msg, "%s: a whole number from %llu to %llu, not ", name, lo, hi);
		return usage_error(msg, v);
	}
	*out = n;
	return 0;
}

static void sim_refused(const char *op, const al_error *err, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "refused %s: %s: %s\n", op, al_err_name(err->code), err->msg);
}

static int cmd_simulate(int argc, char **argv)
{
	static const char *const known[] = {"--days", "--users", "--agents", "--sessions-per-day", "--seed", "--end", NULL};
	static const char *const flags[] = {"--verbose", NULL};
	int ok = 1, rc = check_opts(argc, argv, known, flags);
	if (rc)
		return rc;
	al_sim_opts o = al_sim_defaults;
	if (flag(argc, argv, "--verbose"))
		o.refused = sim_refused;
	unsigned long long days = o.days, users = o.users, agents = o.agents, spd = o.sessions_per_day, seed = o.seed;
	if ((rc = num_opt(argc, argv, "--days", 1, 3650, &days)) || (rc = num_opt(argc, argv, "--users", 1, 1000000, &users)) ||
	    (rc = num_opt(argc, argv, "--agents", 0, 100000, &agents)) ||
	    (rc = num_opt(argc, argv, "--sessions-per-day", 0, 1000000, &spd)) ||
	    (rc = num_opt(argc, argv, "--seed", 0, UINT64_MAX, &seed)))
		return rc;
	const char *end = opt(argc, argv, "--end", &ok);
	if (!ok)
		return usage_error("a value is missing after --end", NULL);
	if (end && al_time_parse(end, &o.end_us) != 0)
		return usage_error("--end: not an RFC 3339 time: ", end);
	o.days = (unsigned)days, o.users = (unsigned)users, o.agents = (unsigned)agents;
	o.sessions_per_day = (unsigned)spd, o.seed = seed;
	struct stat st;
	if (stat(argv[2], &st) == 0) {
		al_error e;
		al_err(&e, AL_EALREADY_EXISTS, "%s exists: simulate makes a new data directory", argv[2]);
		return fail(&e);
	}
	if (al_sim_seed_random(seed) != 0) {
		al_error e;
		al_err(&e, AL_EINTERNAL, "the random source could not be seeded");
		return fail(&e);
	}
	al_error err = {0};
	al_sim_stats ss;
	double t0 = now_s();
	if (al_simulate(argv[2], &o, &ss, &err))
		return fail(&err);
	printf("wrote %s: %u days, %llu commands (%llu refused), %llu events (head %llu) in %.1f s\n", argv[2], o.days,
	       (unsigned long long)ss.commands, (unsigned long long)ss.refused, (unsigned long long)ss.events,
	       (unsigned long long)ss.head, now_s() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))) {
		printf("adminlog %s (record format %d)\n", AL_VERSION, AL_FORMAT_VERSION);
		return 0;
	}
	if (argc < 3 || argv[2][0] == '-') {
		if (argc >= 3 && (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help"))) {
			usage(stdout);
			return 0;
		}
		return usage_error("expected a command and a data directory", NULL);
	}
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {{"init", cmd_init},	    {"verify", cmd_verify}, {"rebuild", cmd_rebuild}, {"log", cmd_log},
		    {"replay", cmd_replay}, {"stats", cmd_stats},   {"digest", cmd_digest}, {"checkpoint", cmd_checkpoint},
		    {"simulate", cmd_simulate}};
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc, argv);
	return usage_error("unknown command ", argv[1]);
}
