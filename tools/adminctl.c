/*
 * adminctl - the admin command line. Every noun and verb comes from the command table
 * (schemas/commands.def): `adminctl user create --email E ...` runs op "user.create" with
 * arguments named after the options (dashes become underscores).
 *
 * Direct mode (--data DIR) runs the command in-process against a data directory, as
 * local:<OS user>, a superadmin. Exit status: 0 done, 1 refused (error code and message on
 * stderr), 2 usage error.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "adminlog.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2

static const char *prog = "adminctl";

static void usage(FILE *out)
{
	fprintf(out,
		"usage: %s [--data DIR] <noun> <verb> [TARGET] [--field-name value ...] [--json]\n"
		"\n"
		"Runs one admin command against a data directory (direct mode).\n"
		"  --data DIR        data directory (default $ADMINLOG_DATA or ./var/adminlog)\n"
		"  --json            print the result as JSON instead of a table\n"
		"  --password-stdin  read the command's password from one line of standard input\n"
		"  --request-id ID   retry key: repeating it returns the first result\n"
		"  --expected-version N  refuse with conflict unless the target is at version N\n"
		"  --reason TEXT     why, recorded in the audit log\n"
		"  -h, --help        this help, or a command's arguments: %s user create --help\n"
		"  -V, --version     print the version\n"
		"\ncommands:\n",
		prog, prog);
	for (size_t i = 0; i < al_cmd_def_count(); i++) {
		const al_cmd_def *d = al_cmd_def_at(i);
		char nv[64];
		snprintf(nv, sizeof nv, "%s", d->op);
		char *dot = strchr(nv, '.');
		if (dot)
			*dot = ' ';
		fprintf(out, "  %-18s %s%s%s  %s\n", nv, d->target[0] ? "[" : "", d->target, d->target[0] ? "]" : "", d->doc);
	}
	fprintf(out, "\nexit status: 0 done, 1 refused (error code on stderr), 2 usage error\n");
}

static void cmd_help(const al_cmd_def *d)
{
	printf("%s: %s\n\n", d->op, d->doc);
	for (size_t i = 0; i < d->nargs; i++) {
		const al_field_def *a = &d->args[i];
		char opt[64];
		snprintf(opt, sizeof opt, "--%s", a->name);
		for (char *p = opt; *p; p++)
			if (*p == '_')
				*p = '-';
		if (a->type == AL_T_PASSWORD)
			snprintf(opt, sizeof opt, "--password-stdin");
		printf("  %-28s %s%s\n", opt, a->flags & AL_F_REQ ? "(required) " : "", a->doc);
	}
}

static int die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(run %s --help)\n", prog);
	return EXIT_USAGE;
}

/* One line from stdin, or a no-echo prompt on a terminal. */
static int read_password(char *buf, size_t n, int prompt)
{
	struct termios old, quiet;
	int tty = prompt && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	if (tty) {
		fprintf(stderr, "Password: ");
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	char *ok = fgets(buf, (int)n, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (ok == NULL)
		return -1;
	buf[strcspn(buf, "\r\n")] = 0;
	return 0;
}

static const al_field_def common[] = {
	{"request_id", AL_T_STR, AL_F_OPT, ""},
	{"expected_version", AL_T_INT, AL_F_OPT, ""},
	{"reason", AL_T_STR, AL_F_OPT, ""},
};

static const al_field_def *find_arg(const al_cmd_def *d, const char *name)
{
	for (size_t i = 0; i < d->nargs; i++)
		if (strcmp(d->args[i].name, name) == 0)
			return &d->args[i];
	if (d->kind == AL_CMD_WRITE)
		for (size_t i = 0; i < sizeof common / sizeof *common; i++)
			if (strcmp(common[i].name, name) == 0)
				return &common[i];
	return NULL;
}

static int pack_value(msgpack_packer *pk, const al_field_def *a, const char *v)
{
	char *end;
	switch (a->type) {
	case AL_T_INT:
	case AL_T_TIME: {
		errno = 0;
		long long n = strtoll(v, &end, 10);
		if (errno || *v == 0 || *end)
			return -1;
		return msgpack_pack_int64(pk, n);
	}
	case AL_T_BOOL:
		if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "on"))
			return msgpack_pack_true(pk);
		if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0") || !strcmp(v, "off"))
			return msgpack_pack_false(pk);
		return -1;
	default:
		msgpack_pack_str(pk, strlen(v));
		return msgpack_pack_str_body(pk, v, strlen(v));
	}
}

static char *actor_name(void)
{
	static char name[128];
	struct passwd *pw = getpwuid(geteuid());
	snprintf(name, sizeof name, "local:%s", pw ? pw->pw_name : "unknown");
	return name;
}

int main(int argc, char **argv)
{
	const char *data = getenv("ADMINLOG_DATA");
	int json = 0, i = 1;
	if (data == NULL || !*data)
		data = "var/adminlog";
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--data") && i + 1 < argc)
			data = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
			printf("adminctl %s\n", AL_VERSION);
			return 0;
		} else {
			char shown[64]; /* never echo a value given as --opt=value: it may be a password */
			snprintf(shown, sizeof shown, "%.*s", (int)strcspn(argv[i], "="), argv[i]);
			return die_usage("unknown option %s", shown);
		}
	}
	if (argc - i < 2)
		return die_usage("%s", "expected a noun and a verb, e.g. user list");
	char op[128];
	snprintf(op, sizeof op, "%s.%s", argv[i], argv[i + 1]);
	const al_cmd_def *d = al_cmd_def_find(op);
	if (d == NULL)
		return die_usage("no command '%s'", op);
	i += 2;

	/* Arguments are packed as a map; count pairs first, values second. */
	msgpack_sbuffer body;
	msgpack_packer pk;
	msgpack_sbuffer_init(&body);
	msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
	uint32_t pairs = 0;
	int password_stdin = 0, rc = 0;
	if (d->target[0] && i < argc && strncmp(argv[i], "--", 2) != 0) {
		const al_field_def *t = find_arg(d, d->target);
		msgpack_pack_str(&pk, strlen(d->target));
		msgpack_pack_str_body(&pk, d->target, strlen(d->target));
		pack_value(&pk, t, argv[i++]);
		pairs++;
	}
	for (; i < argc && rc == 0; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--json")) {
			json = 1;
			continue;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			cmd_help(d);
			msgpack_sbuffer_destroy(&body);
			return 0;
		}
		if (!strcmp(a, "--password-stdin")) {
			password_stdin = 1;
			continue;
		}
		if (strncmp(a, "--", 2) != 0) {
			rc = die_usage("unexpected argument %s", a);
			break;
		}
		char name[64];
		snprintf(name, sizeof name, "%s", a + 2);
		for (char *p = name; *p; p++)
			if (*p == '-')
				*p = '_';
		const al_field_def *f = find_arg(d, name);
		if (f == NULL) {
			char shown[64]; /* never echo a value given as --opt=value: it may be a password */
			snprintf(shown, sizeof shown, "%.*s", (int)strcspn(a, "="), a);
			rc = die_usage("unknown option %s for this command", shown);
			break;
		}
		if (f->type == AL_T_PASSWORD) {
			rc = die_usage("%s: passwords are never taken as arguments (ps would show them); use --password-stdin", a);
			break;
		}
		if (i + 1 >= argc) {
			rc = die_usage("%s needs a value", a);
			break;
		}
		msgpack_pack_str(&pk, strlen(name));
		msgpack_pack_str_body(&pk, name, strlen(name));
		if (pack_value(&pk, f, argv[++i]) != 0) {
			rc = die_usage("bad value for %s", a);
			break;
		}
		pairs++;
	}
	for (size_t k = 0; rc == 0 && k < d->nargs; k++) {
		const al_field_def *f = &d->args[k];
		if (f->type != AL_T_PASSWORD || (!password_stdin && !(f->flags & AL_F_REQ)))
			continue;
		char pw[1024];
		if (!password_stdin && !isatty(STDIN_FILENO)) {
			rc = die_usage("%s needs a password: pass --password-stdin", op);
			break;
		}
		if (read_password(pw, sizeof pw, !password_stdin) != 0) {
			rc = die_usage("%s", "no password on standard input");
			break;
		}
		msgpack_pack_str(&pk, strlen(f->name));
		msgpack_pack_str_body(&pk, f->name, strlen(f->name));
		pack_value(&pk, f, pw);
		memset(pw, 0, sizeof pw);
		pairs++;
	}
	if (rc) {
		msgpack_sbuffer_destroy(&body);
		return rc;
	}
	msgpack_sbuffer args;
	msgpack_sbuffer_init(&args);
	msgpack_packer apk;
	msgpack_packer_init(&apk, &args, msgpack_sbuffer_write);
	msgpack_pack_map(&apk, pairs);
	if (body.size) { /* no arguments: body.data is NULL */
		msgpack_sbuffer_write(&args, body.data, body.size);
		memset(body.data, 0, body.size); /* it may hold a password */
	}
	msgpack_sbuffer_destroy(&body);

	al_store *s;
	al_error err = {0};
	al_open_opts oo = {0, 0}; /* read-write so that stale views catch up first */
	if (al_store_open(&s, data, &oo, &err) != AL_OK) {
		fprintf(stderr, "%s: %s: %s\n", prog, al_err_name(err.code), err.msg);
		msgpack_sbuffer_destroy(&args);
		return EXIT_REFUSED;
	}
	al_actor actor = {actor_name(), AL_ROLE_SUPERADMIN, NULL, NULL, NULL};
	al_request req = {op, args.data, args.size, &actor};
	al_reply rep;
	rc = al_exec(s, &req, &rep);
	memset(args.data, 0, args.size);
	msgpack_sbuffer_destroy(&args);
	if (rc == AL_OK) {
		msgpack_zone z;
		msgpack_object o;
		size_t off = 0;
		msgpack_zone_init(&z, 4096);
		if (rep.result && msgpack_unpack(rep.result, rep.result_len, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS) {
			if (json) {
				al_render_json(&o, stdout);
				putchar('\n');
			} else
				al_render_table(&o, stdout);
		}
		msgpack_zone_destroy(&z);
	} else
		fprintf(stderr, "%s: %s: %s\n", prog, al_err_name(rep.err.code), rep.err.msg);
	al_reply_free(&rep);
	al_store_close(s);
	return rc == AL_OK ? 0 : EXIT_REFUSED;
}
