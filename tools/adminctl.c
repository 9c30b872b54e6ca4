/*
 * adminctl - the admin command line. Every noun and verb comes from the command table
 * (schemas/commands.def): `adminctl user create --email E ...` runs op "user.create" with
 * arguments named after the options (dashes become underscores).
 *
 * Direct mode (--data DIR) runs the command in-process against a data directory, as
 * local:<OS user>, a superadmin. Remote mode (--connect HOST:PORT or --socket PATH) sends it to
 * adminlogd as the keypair saved by `adminctl login` (adminlog_client.h), with the same
 * nouns, verbs, output and exit status. Exit status: 0 done, 1 refused (error code and
 * message on stderr), 2 usage error.
 */
#include <errno.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "adminlog.h"
#include "adminlog_client.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define AL_LIST_MAX_CLI 1000

static const char *prog = "adminctl";

static void usage(FILE *out)
{
	fprintf(out,
		"usage: %s [--data DIR | --connect HOST:PORT | --socket PATH] <noun> <verb> [TARGET]\n"
		"       [--field-name value ...] [--json]\n"
		"       %s (--connect HOST:PORT | --socket PATH) login --email E [--password-stdin] [--otp CODE]\n"
		"       %s (--connect HOST:PORT | --socket PATH) watch [--from SEQ] [--count N] [--json]\n"
		"\n"
		"Runs one admin command against a data directory (direct mode) or an adminlogd (remote\n"
		"mode, as the keypair that `login` saved in $ADMINLOG_CREDENTIALS, default\n"
		"~/.config/adminlog/credentials). A boolean option given without a value (--admin) means true.\n"
		"  --data DIR        data directory (default $ADMINLOG_DATA or ./var/adminlog)\n"
		"  --connect H:P     remote mode over TCP;  --socket PATH  remote mode over a Unix socket\n"
		"  --as EMAIL        direct mode: run with the rights of that user (recorded as you acting as them)\n"
		"  --at SEQ|TIME     a read command answers from the state after event SEQ, or at an RFC 3339\n"
		"                    TIME (e.g. 2026-11-27T18:00:00Z), with the rights of now; writes are refused\n"
		"  --json            print the result as JSON (every field) instead of a table\n"
		"  --columns A,B,..  the table's columns, in this order (all: every one); wide lists show a\n"
		"                    readable default set (user list: email, username, full_name, role, ...)\n"
		"  --password-stdin  read the command's password from one line of standard input\n"
		"  --NAME-stdin      read the secret argument NAME likewise (--secret-key-stdin)\n"
		"  --request-id ID   retry key: repeating it returns the first result\n"
		"  --expected-version N  refuse with conflict unless the target is at version N\n"
		"  --reason TEXT     why, recorded in the audit log\n"
		"  -h, --help        this help, or a command's arguments: %s user create --help (also login,\n"
		"                    watch, export; a noun alone lists its verbs: user --help)\n"
		"  -V, --version     print the version\n"
		"\ncommands:\n",
		prog, prog, prog, prog);
	for (size_t i = 0; i < al_cmd_def_count(); i++) {
		const al_cmd_def *d = al_cmd_def_at(i);
		char nv[64];
		snprintf(nv, sizeof nv, "%s", d->op);
		for (char *dot = nv; (dot = strchr(dot, '.'));)
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
			snprintf(opt + strlen(opt), sizeof opt - strlen(opt), "-stdin");
		else if (a->type == AL_T_LIST)
			snprintf(opt + strlen(opt), sizeof opt - strlen(opt), " A,B,...");
		else if (a->type == AL_T_LIMIT)
			snprintf(opt + strlen(opt), sizeof opt - strlen(opt), " N|unlimited");
		else if (a->type == AL_T_NUM)
			snprintf(opt + strlen(opt), sizeof opt - strlen(opt), " N");
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

static void al_pack_cstr_(msgpack_packer *pk, const char *v)
{
	msgpack_pack_str(pk, strlen(v));
	msgpack_pack_str_body(pk, v, strlen(v));
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
	case AL_T_LIMIT:
	case AL_T_NUM: {
		if (a->type == AL_T_LIMIT &&
		    (!strcmp(v, "unlimited") || !strcmp(v, "inf") || !strcmp(v, "infinity") || !strcmp(v, "\u221e"))) {
			al_pack_cstr_(pk, "unlimited");
			return 0;
		}
		errno = 0;
		long long n = strtoll(v, &end, 10);
		if (!errno && *v && *end == 0 && n >= 0)
			return msgpack_pack_uint64(pk, (uint64_t)n);
		double d = strtod(v, &end);
		if (*v == 0 || *end || !(d >= 0 && d <= 1e15))
			return -1;
		return msgpack_pack_double(pk, d);
	}
	case AL_T_LIST: { /* comma-separated */
		size_t n = *v ? 1 : 0;
		for (const char *p = v; *p; p++)
			n += *p == ',';
		msgpack_pack_array(pk, n);
		for (const char *p = v; n--;) {
			size_t len = strcspn(p, ",");
			msgpack_pack_str(pk, len);
			msgpack_pack_str_body(pk, p, len);
			p += len + (p[len] == ',');
		}
		return 0;
	}
	default:
		al_pack_cstr_(pk, v);
		return 0;
	}
}

static void warn(const char *msg, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "%s: warning: %s\n", prog, msg);
}

/* The store's messages (views catching up) on stderr, named after the library as ever. */
static void store_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	(void)level;
	fprintf(stderr, "adminlog: %s\n", msg);
}

static char *actor_name(void)
{
	static char name[128];
	struct passwd *pw = getpwuid(geteuid());
	snprintf(name, sizeof name, "local:%s", pw ? pw->pw_name : "unknown");
	return name;
}

/* The command named by the words at argv[*i]: "noun verb" or "noun verb sub" (user 2fa enable),
 * or one word for an op without a verb (info). */
static const al_cmd_def *find_command(int argc, char **argv, int *i, char *op, size_t n)
{
	snprintf(op, n, "%s", argv[*i]);
	const al_cmd_def *one = strchr(op, '.') ? NULL : al_cmd_def_find(op);
	if (one && (*i + 1 >= argc || argv[*i + 1][0] == '-')) {
		*i += 1;
		return one;
	}
	if (*i + 1 >= argc)
		return NULL;
	snprintf(op, n, "%s.%s", argv[*i], argv[*i + 1]);
	const al_cmd_def *d = al_cmd_def_find(op);
	if (d) {
		*i += 2;
		return d;
	}
	if (*i + 2 < argc && argv[*i + 2][0] != '-') {
		snprintf(op, n, "%s.%s.%s", argv[*i], argv[*i + 1], argv[*i + 2]);
		if ((d = al_cmd_def_find(op)))
			*i += 3;
	}
	return d;
}

static void pack_name(msgpack_packer *pk, const char *name)
{
	msgpack_pack_str(pk, strlen(name));
	msgpack_pack_str_body(pk, name, strlen(name));
}

/* The next required argument after *pos that is not the target, in table order (NULL when
 * none is left): `agent set-schedulable ID true` fills schedulable. */
static const al_field_def *next_required(const al_cmd_def *d, size_t *pos)
{
	for (; *pos < d->nargs; (*pos)++) {
		const al_field_def *f = &d->args[*pos];
		if ((f->flags & AL_F_REQ) && strcmp(f->name, d->target) != 0 && f->type != AL_T_PASSWORD) {
			(*pos)++;
			return f;
		}
	}
	return NULL;
}

/* Secret arguments are read from stdin (--NAME-stdin, or --password-stdin for passwords) or
 * from a no-echo prompt, never from the command line where ps would show them. */
static int read_secrets(const al_cmd_def *d, const char *const *from_stdin, size_t nstdin, msgpack_packer *pk,
			uint32_t *pairs, const char *op)
{
	for (size_t k = 0; k < d->nargs; k++) {
		const al_field_def *f = &d->args[k];
		if (f->type != AL_T_PASSWORD)
			continue;
		int want = 0;
		for (size_t j = 0; j < nstdin; j++)
			want |= !strcmp(from_stdin[j], f->name) ||
				(!strcmp(from_stdin[j], "password") && strstr(f->name, "password"));
		if (!want && !(f->flags & AL_F_REQ))
			continue;
		if (!want && !isatty(STDIN_FILENO))
			return die_usage("%s needs a secret on standard input: pass --password-stdin", op);
		char pw[1024];
		if (read_password(pw, sizeof pw, !want) != 0)
			return die_usage("%s", "no secret on standard input");
		pack_name(pk, f->name);
		pack_value(pk, f, pw);
		sodium_memzero(pw, sizeof pw);
		(*pairs)++;
	}
	return 0;
}

/* The data rows of a CSV file (records after the header): CRLFs outside quoted fields, where a
 * quote inside a field is doubled and so toggles twice. -1 when it cannot be read. */
static long long csv_rows(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	long long records = 0;
	int ch, prev = 0, quoted = 0;
	while ((ch = getc(f)) != EOF) {
		if (ch == '"')
			quoted = !quoted;
		else if (ch == '\n' && prev == '\r' && !quoted)
			records++;
		prev = ch;
	}
	fclose(f);
	return records > 0 ? records - 1 : 0;
}

/* Writes the export to a temporary file beside path, then renames it into place: a reader
 * never sees half a file, and a failed export leaves none. Mode 0600: exports hold personal data.
 * *rows: the data rows written. */
static int export_csv(al_store *s, al_client *c, const char *what, const al_request *req, const msgpack_sbuffer *args,
		      const char *path, long long *rows, al_error *err)
{
	/* A short temporary name in the same directory (so that rename is atomic): the file's
	 * own name may already be 255 characters long. */
	char tmp[4096];
	const char *slash = strrchr(path, '/');
	int dn = slash ? (int)(slash - path + 1) : 0;
	snprintf(tmp, sizeof tmp, "%.*s.adminctl-export-XXXXXX", dn, path);
	int fd = mkstemp(tmp);
	if (fd < 0)
		return al_err(err, AL_EIO_ERROR, "--out %s: %s", path, strerror(errno));
	FILE *f = fdopen(fd, "w");
	int rc = f == NULL ? al_err(err, AL_EIO_ERROR, "fdopen: %s", strerror(errno))
		 : c	   ? al_client_export(c, what, args->data, args->size, f, err)
			   : al_export_csv(s, what, req, f, err);
	if (rc == AL_OK && (fflush(f) != 0 || fsync(fd) != 0))
		rc = al_err(err, AL_EIO_ERROR, "--out %s: %s", path, strerror(errno));
	if (f)
		fclose(f);
	else
		close(fd);
	if (rc == AL_OK)
		*rows = csv_rows(tmp);
	if (rc == AL_OK && rename(tmp, path) != 0)
		rc = al_err(err, AL_EIO_ERROR, "--out %s: %s", path, strerror(errno));
	if (rc)
		unlink(tmp);
	return rc;
}

#define REMOTE_TIMEOUT_MS 60000

static int print_reply(int rc, al_reply *rep, int json, const char *columns, const char *op);

static int refused(const al_error *err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, al_err_name(err->code), err->msg);
	return EXIT_REFUSED;
}

/* adminctl login --email E [--password-stdin] [--otp CODE]: saves the returned keypair. */
static int remote_login(const char *addr, int argc, char **argv, int i)
{
	const char *email = NULL, *otp = NULL;
	int from_stdin = 0;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--email") && i + 1 < argc)
			email = argv[++i];
		else if (!strcmp(argv[i], "--otp") && i + 1 < argc)
			otp = argv[++i];
		else if (!strcmp(argv[i], "--password-stdin"))
			from_stdin = 1;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("login: signs in to the server and saves the keypair it returns in $ADMINLOG_CREDENTIALS\n"
			       "(default ~/.config/adminlog/credentials, mode 0600); later remote commands run as it.\n\n"
			       "  %-28s (required) The user's email.\n"
			       "  %-28s Read the password from one line of standard input (else a no-echo prompt).\n"
			       "  %-28s The current one-time code, when 2FA is on.\n",
			       "--email E", "--password-stdin", "--otp CODE");
			return 0;
		} else
			return die_usage("login: unexpected %s (login --email E [--password-stdin] [--otp CODE])", argv[i]);
	}
	if (email == NULL)
		return die_usage("%s", "login needs --email");
	char pw[1024], path[4096];
	if (read_password(pw, sizeof pw, !from_stdin) != 0)
		return die_usage("%s", "login: no password on standard input");
	al_error err = {0};
	int rc = al_client_login_save(addr, email, pw, otp, al_creds_path(path, sizeof path),
				      REMOTE_TIMEOUT_MS, &err);
	sodium_memzero(pw, sizeof pw);
	if (rc)
		return refused(&err);
	printf("logged in as %s; keypair saved to %s\n", email, path);
	return 0;
}

/* adminctl watch [--from SEQ] [--count N] [--json]: the change feed, one event per line. */
static int remote_watch(const char *addr, int argc, char **argv, int i, int json)
{
	unsigned long long from = UINT64_MAX, count = 0;
	for (; i < argc; i++) {
		char *end;
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("watch: the change feed, one event per line (as JSON with --json), until interrupted.\n\n"
			       "  %-28s Start after event SEQ (0: the whole log); default: from now on.\n"
			       "  %-28s Stop after N events.\n",
			       "--from SEQ", "--count N");
			return 0;
		} else if ((!strcmp(argv[i], "--from") || !strcmp(argv[i], "--count")) && i + 1 < argc) {
			errno = 0;
			unsigned long long v = strtoull(argv[i + 1], &end, 10);
			if (errno || !*argv[i + 1] || *end || argv[i + 1][0] == '-')
				return die_usage("%s needs a number", argv[i]);
			*(argv[i][2] == 'f' ? &from : &count) = v;
			i++;
		} else
			return die_usage("watch: unexpected %s (watch [--from SEQ] [--count N] [--json])", argv[i]);
	}
	al_client *c;
	al_error err = {0};
	int rc = al_client_open(&c, addr, NULL, 0, &err); /* no timeout: the feed may be quiet for long */
	if (rc == AL_OK) {
		rc = al_client_watch(c, from, count, json, stdout, &err);
		al_client_close(c);
	}
	return rc ? refused(&err) : 0;
}

/* ---- main: parse common options → find the command → pack its arguments → run → print ---- */

#define GO_ON (-1) /* a step's "carry on"; anything else is the exit status */

/* What the command line asks for. */
typedef struct cli {
	const char *data; /* direct mode's directory */
	const char *as;   /* direct mode: --as EMAIL */
	const char *at;   /* --at SEQ|TIME: a read from the past */
	char remote[4200]; /* "HOST:PORT" or "unix:PATH"; "" for direct mode */
	int json;
	const char *columns; /* --columns a,b,c|all: the table's columns */
	char op[128];
	const al_cmd_def *d;
	const char *export_what, *export_out; /* export LIST --out FILE */
	long long export_rows; /* the rows it wrote */
	msgpack_sbuffer args; /* the packed argument map */
	char note[160]; /* said on stderr after the result: what a list's page left out */
} cli;

/* ---- paging: a list with --limit and --offset says what its page left out ------------------------ */

#define PAGE_MAX 10000 /* the largest --limit a list takes */

/* Runs the command again with other arguments: al_exec in direct mode, a call in remote mode. */
typedef int (*call_fn)(void *ctx, const char *op, const msgpack_sbuffer *args, al_reply *rep);

/* The rows of a list's answer, or -1 when it is not a list. */
static int64_t result_rows(const al_reply *rep)
{
	msgpack_zone z;
	msgpack_object o;
	size_t off = 0;
	int64_t n = -1;
	msgpack_zone_init(&z, 4096);
	if (rep->result && msgpack_unpack(rep->result, rep->result_len, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS &&
	    o.type == MSGPACK_OBJECT_ARRAY)
		n = o.via.array.size;
	msgpack_zone_destroy(&z);
	return n;
}

static bool key_is(const msgpack_object *k, const char *name)
{
	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(name) &&
	       memcmp(k->via.str.ptr, name, k->via.str.size) == 0;
}

/* args with offset and a full page's limit instead of the given ones (the filters kept);
 * *given: the offset that args gave, 0 when none. */
static void page_args(const msgpack_sbuffer *args, int64_t offset, msgpack_sbuffer *out, int64_t *given)
{
	msgpack_zone z;
	msgpack_object o = {.type = MSGPACK_OBJECT_MAP};
	msgpack_packer pk;
	size_t off = 0;
	msgpack_zone_init(&z, 1024);
	if (args->data && msgpack_unpack(args->data, args->size, &off, &z, &o) != MSGPACK_UNPACK_SUCCESS)
		o.type = MSGPACK_OBJECT_NIL;
	uint32_t n = o.type == MSGPACK_OBJECT_MAP ? o.via.map.size : 0, keep = 0;
	for (uint32_t k = 0; k < n; k++) {
		const msgpack_object *key = &o.via.map.ptr[k].key, *v = &o.via.map.ptr[k].val;
		if (key_is(key, "offset") && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			*given = (int64_t)v->via.u64;
		keep += !key_is(key, "offset") && !key_is(key, "limit");
	}
	msgpack_sbuffer_init(out);
	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, keep + 2);
	for (uint32_t k = 0; k < n; k++)
		if (!key_is(&o.via.map.ptr[k].key, "offset") && !key_is(&o.via.map.ptr[k].key, "limit")) {
			msgpack_pack_object(&pk, o.via.map.ptr[k].key);
			msgpack_pack_object(&pk, o.via.map.ptr[k].val);
		}
	pack_name(&pk, "offset");
	msgpack_pack_int64(&pk, offset);
	pack_name(&pk, "limit");
	msgpack_pack_int64(&pk, PAGE_MAX);
	msgpack_zone_destroy(&z);
}

/* After a page of `shown` rows of a paged list: the rows after it are counted by asking for
 * them (PAGE_MAX at a time), and c->note says "100 of 105 shown" when the page is not all. The
 * note goes to stderr, also with --json: the JSON stays the bare list of the protocol. */
static void page_note(cli *c, int64_t shown, call_fn call, void *ctx)
{
	if (shown <= 0 || !al_cmd_def_arg(c->d, "limit") || !al_cmd_def_arg(c->d, "offset"))
		return;
	int64_t given = 0, rest = 0, n = PAGE_MAX;
	msgpack_sbuffer a;
	page_args(&c->args, 0, &a, &given);
	msgpack_sbuffer_destroy(&a);
	while (n == PAGE_MAX) {
		al_reply rep;
		page_args(&c->args, given + shown + rest, &a, &given);
		n = call(ctx, c->op, &a, &rep) == AL_OK ? result_rows(&rep) : -1;
		al_reply_free(&rep);
		msgpack_sbuffer_destroy(&a);
		if (n < 0)
			return; /* no count: no note rather than a wrong one */
		rest += n;
	}
	int64_t total = given + shown + rest;
	if (given == 0 && rest > 0)
		snprintf(c->note, sizeof c->note, "%lld of %lld shown (--limit N, --offset N)", (long long)shown,
			 (long long)total);
	else if (given > 0)
		snprintf(c->note, sizeof c->note, "rows %lld-%lld of %lld shown (--limit N, --offset N)",
			 (long long)given + 1, (long long)(given + shown), (long long)total);
}

/* The arguments as they are packed: a map's pairs (counted first, the map header goes on last),
 * the secrets to read from stdin, and the trailing words of a required LIST. */
typedef struct packing {
	msgpack_sbuffer body;
	msgpack_packer pk;
	uint32_t pairs;
	const char *from_stdin[8];
	size_t nstdin;
	const char *rest[AL_LIST_MAX_CLI];
	size_t nrest;
	const al_field_def *rest_arg; /* the command's required LIST, filled by trailing words */
	size_t req_pos; /* after the target, words fill the other required arguments (no LIST) */
	const char *target; /* the target word (user update X), or NULL */
} packing;

/* The options before the noun (--data, --connect, --json, ...); GO_ON or the exit status. */
static int parse_common(cli *c, int argc, char **argv, int *i)
{
	c->data = getenv("ADMINLOG_DATA");
	if (c->data == NULL || !*c->data)
		c->data = "var/adminlog";
	for (; *i < argc && argv[*i][0] == '-'; (*i)++) {
		const char *a = argv[*i];
		if (!strcmp(a, "--data") && *i + 1 < argc)
			c->data = argv[++*i];
		else if (!strcmp(a, "--as") && *i + 1 < argc)
			c->as = argv[++*i];
		else if (!strcmp(a, "--at") && *i + 1 < argc)
			c->at = argv[++*i];
		else if (!strcmp(a, "--connect") && *i + 1 < argc)
			snprintf(c->remote, sizeof c->remote, "%s", argv[++*i]);
		else if (!strcmp(a, "--socket") && *i + 1 < argc)
			snprintf(c->remote, sizeof c->remote, "unix:%s", argv[++*i]);
		else if (!strcmp(a, "--json"))
			c->json = 1;
		else if (!strcmp(a, "--columns") && *i + 1 < argc)
			c->columns = argv[++*i];
		else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("adminctl %s\n", AL_VERSION);
			return 0;
		} else {
			char shown[64]; /* never echo a value given as --opt=value: it may be a password */
			snprintf(shown, sizeof shown, "%.*s", (int)strcspn(a, "="), a);
			return die_usage("unknown option %s", shown);
		}
	}
	if (c->remote[0] && c->as)
		return die_usage("%s", "--as is for direct mode; remote commands run as the logged-in user");
	return GO_ON;
}

/* The verbs of noun ("create, get, list, ..."), into buf; how many. */
static size_t noun_verbs(const char *noun, char *buf, size_t n)
{
	size_t len = strlen(noun), count = 0;
	buf[0] = 0;
	for (size_t k = 0; k < al_cmd_def_count(); k++) {
		const char *op = al_cmd_def_at(k)->op;
		if (strncmp(op, noun, len) == 0 && op[len] == '.' && strlen(buf) + strlen(op) + 2 < n) {
			char *verb = buf + strlen(buf) + (count ? 2 : 0);
			snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", count ? ", " : "", op + len + 1);
			for (char *dot; (dot = strchr(verb, '.'));) /* 2fa.enable is said "2fa enable" */
				*dot = ' ';
			count++;
		}
	}
	return count;
}

/* No such command: `user --help` lists the noun's verbs; a wrong verb says which there are,
 * and that what is never deleted is deactivated (user delete). */
static int no_command(const char *noun, const char *verb)
{
	char verbs[1024], op[128];
	if (noun_verbs(noun, verbs, sizeof verbs) == 0 || verb == NULL || verb[0] == '-') {
		if (verbs[0] && verb && (!strcmp(verb, "--help") || !strcmp(verb, "-h"))) {
			printf("%s: %s\n(%s %s VERB --help for a command's arguments)\n", noun, verbs, prog, noun);
			return 0;
		}
		return verbs[0] ? die_usage("%s", "expected a verb after the noun, e.g. user list")
				: die_usage("no command '%s'", noun);
	}
	snprintf(op, sizeof op, "%s.deactivate", noun);
	if (!strcmp(verb, "delete") && al_cmd_def_find(op)) {
		fprintf(stderr, "%s: no command '%s delete': a %s is never deleted, only deactivated (%s %s deactivate)\n",
			prog, noun, noun, prog, noun);
		return EXIT_USAGE;
	}
	fprintf(stderr, "%s: no command '%s %.64s'; %s's commands: %s\n(run %s --help)\n", prog, noun, verb, noun,
		verbs, prog);
	return EXIT_USAGE;
}

/* `export --help` (0), or `export` alone or with an option first (a usage error). */
static int export_usage(const char *word)
{
	bool help = word && (!strcmp(word, "--help") || !strcmp(word, "-h"));
	fprintf(help ? stdout : stderr,
		"%s%s export LIST --out FILE [filters of the list]: writes the list as CSV (RFC 4180, UTF-8,\n"
		"header row) to FILE (mode 0600), and says how many rows it wrote.\nlists: %s\n"
		"(%s export LIST --help names the list's filters)\n",
		help ? "" : "usage: ", prog, al_export_names(), prog);
	return help ? 0 : EXIT_USAGE;
}

/* The command at argv[*i] (or "export LIST"), into c->d and c->op; GO_ON or the exit status. */
static int pick_command(cli *c, int argc, char **argv, int *i)
{
	if (argc - *i < 1)
		return die_usage("%s", "expected a noun and a verb, e.g. user list");
	if (strcmp(argv[*i], "export") == 0 && (*i + 1 >= argc || argv[*i + 1][0] == '-'))
		return export_usage(*i + 1 < argc ? argv[*i + 1] : NULL);
	if (strcmp(argv[*i], "export") == 0) { /* export LIST --out FILE [filters of the list] */
		c->export_what = argv[*i + 1];
		if (al_export_op(c->export_what) == NULL) {
			fprintf(stderr, "%s: export: no list '%.64s' (lists: %s)\n", prog, c->export_what, al_export_names());
			return EXIT_USAGE;
		}
		snprintf(c->op, sizeof c->op, "%s", al_export_op(c->export_what));
		c->d = al_cmd_def_find(c->op);
		*i += 2;
	} else if ((c->d = find_command(argc, argv, i, c->op, sizeof c->op)) == NULL)
		return no_command(argv[*i], *i + 1 < argc ? argv[*i + 1] : NULL);
	return GO_ON;
}

/* A word that is not an option: a word of the required LIST, or the next required argument
 * (agent set-schedulable ID true). */
static int pack_word(const cli *c, packing *p, const char *a)
{
	const al_cmd_def *d = c->d;
	const al_field_def *next = p->rest_arg || !d->target[0] ? NULL : next_required(d, &p->req_pos);
	if (p->rest_arg && p->nrest < AL_LIST_MAX_CLI)
		p->rest[p->nrest++] = a;
	else if (next == NULL)
		return die_usage("unexpected argument %s", a);
	else {
		pack_name(&p->pk, next->name);
		if (pack_value(&p->pk, next, a) != 0)
			return die_usage("bad value %s", a);
		p->pairs++;
	}
	return 0;
}

/* --NAME-stdin (alen > 8): the secret argument NAME is read from stdin later (read_secrets). */
static int want_stdin(const cli *c, packing *p, const char *a, size_t alen, char *name)
{
	name[alen - 2 - 6] = 0;
	const al_field_def *f = al_cmd_def_arg(c->d, name);
	if ((f == NULL || f->type != AL_T_PASSWORD) && strcmp(name, "password") != 0)
		return die_usage("%s: this command reads no such secret", a);
	if (p->nstdin < sizeof p->from_stdin / sizeof *p->from_stdin)
		p->from_stdin[p->nstdin++] = f ? f->name : "password";
	return 0;
}

/* --field-name value (or a boolean flag alone) at argv[*i]; *i moves past its value. */
static int pack_option(const cli *c, packing *p, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	size_t alen = strlen(a);
	char name[64];
	snprintf(name, sizeof name, "%s", a + 2);
	for (char *q = name; *q; q++)
		if (*q == '-')
			*q = '_';
	if (alen > 8 && !strcmp(a + alen - 6, "-stdin")) /* --password-stdin, --secret-key-stdin */
		return want_stdin(c, p, a, alen, name);
	const al_field_def *f = al_cmd_def_arg(c->d, name);
	if (f == NULL) {
		char shown[64]; /* never echo a value given as --opt=value: it may be a password */
		snprintf(shown, sizeof shown, "%.*s", (int)strcspn(a, "="), a);
		return die_usage("unknown option %s for this command", shown);
	}
	if (f->type == AL_T_PASSWORD)
		return die_usage("%s: secrets are never taken as arguments (ps would show them); use --NAME-stdin", a);
	if (p->target && !strcmp(f->name, c->d->target)) { /* user update X --email Y */
		char what[64];
		snprintf(what, sizeof what, "%s", c->d->entity);
		for (char *u = what; (u = strchr(u, '_'));) /* keypair_policy */
			*u = ' ';
		fprintf(stderr, "%s: %s: the %s is named already (%s); its %s is its key and never changes\n", prog, a,
			what, p->target, f->name);
		return EXIT_USAGE;
	}
	pack_name(&p->pk, f->name);
	p->pairs++;
	if (f->type == AL_T_BOOL && (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0)) {
		msgpack_pack_true(&p->pk); /* a flag: --admin alone means --admin true */
		return 0;
	}
	if (*i + 1 >= argc)
		return die_usage("%s needs a value", a);
	if (pack_value(&p->pk, f, argv[++*i]) != 0) {
		static const char *const want[] = {[AL_T_INT] = " (a whole number)", [AL_T_TIME] = " (µs since 1970)",
						   [AL_T_BOOL] = " (true or false)", [AL_T_LIMIT] = " (a number >= 0 or unlimited)",
						   [AL_T_NUM] = " (a number >= 0)"};
		char words[128];
		snprintf(words, sizeof words, "%s", c->op);
		for (char *dot; (dot = strchr(words, '.'));) /* preset.create: adminctl preset create */
			*dot = ' ';
		fprintf(stderr, "%s: bad value for %s%s\n(run %s %s --help)\n", prog, a,
			(size_t)f->type < sizeof want / sizeof *want && want[f->type] ? want[f->type] : "", prog, words);
		return EXIT_USAGE;
	}
	return 0;
}

/* The words after the command, one at a time; GO_ON, or the exit status (0 after --help). */
static int pack_words(cli *c, packing *p, int argc, char **argv, int i)
{
	const al_cmd_def *d = c->d;
	if (d->target[0] && i < argc && strncmp(argv[i], "--", 2) != 0) {
		pack_name(&p->pk, d->target);
		p->target = argv[i];
		pack_value(&p->pk, al_cmd_def_arg(d, d->target), argv[i++]);
		p->pairs++;
	}
	int rc = 0;
	for (; i < argc && rc == 0; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--json"))
			c->json = 1;
		else if (!strcmp(a, "--columns") && i + 1 < argc && !c->export_what)
			c->columns = argv[++i];
		else if (c->export_what && !strcmp(a, "--out") && i + 1 < argc)
			c->export_out = argv[++i];
		else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			if (c->export_what)
				printf("export %s --out FILE: writes the list as CSV (RFC 4180, UTF-8, header row).\n"
				       "Filters, as for %s:\n",
				       c->export_what, c->op);
			cmd_help(d);
			return 0;
		} else
			rc = strncmp(a, "--", 2) != 0 ? pack_word(c, p, a) : pack_option(c, p, argc, argv, &i);
	}
	return rc ? rc : GO_ON;
}

/* After the words: the LIST's words, the export's file, the secrets from stdin. */
static int pack_rest(cli *c, packing *p)
{
	if (p->nrest) {
		pack_name(&p->pk, p->rest_arg->name);
		msgpack_pack_array(&p->pk, p->nrest);
		for (size_t k = 0; k < p->nrest; k++)
			pack_name(&p->pk, p->rest[k]);
		p->pairs++;
	}
	if (c->export_what && (c->export_out == NULL || !*c->export_out))
		return die_usage("%s", "export needs --out FILE");
	if (c->export_what) {
		/* The guide's limit is the name's, not the directory's (NAME_MAX on Linux). */
		const char *slash = strrchr(c->export_out, '/'), *name = slash ? slash + 1 : c->export_out;
		if (!*name)
			return die_usage("%s", "--out: a file name, not a directory");
		if (strlen(name) > 255)
			return die_usage("%s", "--out: the file name is longer than 255 characters");
		if (strlen(c->export_out) >= 4000)
			return die_usage("%s", "--out: the path is longer than 4000 characters");
	}
	int rc = read_secrets(c->d, p->from_stdin, p->nstdin, &p->pk, &p->pairs, c->op);
	return rc ? rc : GO_ON;
}

/* The arguments after the command, packed as a map into c->args; GO_ON or the exit status. */
static int pack_args(cli *c, int argc, char **argv, int i)
{
	packing p = {0};
	msgpack_sbuffer_init(&p.body);
	msgpack_packer_init(&p.pk, &p.body, msgpack_sbuffer_write);
	for (size_t k = 0; k < c->d->nargs && !p.rest_arg; k++)
		if (c->d->args[k].type == AL_T_LIST && (c->d->args[k].flags & AL_F_REQ))
			p.rest_arg = &c->d->args[k];
	int rc = pack_words(c, &p, argc, argv, i);
	if (rc == GO_ON)
		rc = pack_rest(c, &p);
	if (rc == GO_ON) {
		msgpack_packer apk;
		msgpack_sbuffer_init(&c->args);
		msgpack_packer_init(&apk, &c->args, msgpack_sbuffer_write);
		msgpack_pack_map(&apk, p.pairs);
		if (p.body.size) /* no arguments: body.data is NULL */
			msgpack_sbuffer_write(&c->args, p.body.data, p.body.size);
	}
	if (p.body.size)
		sodium_memzero(p.body.data, p.body.size); /* it may hold a password */
	msgpack_sbuffer_destroy(&p.body);
	return rc;
}

/* The packed arguments may hold a password: wiped before they are freed. */
static void args_free(cli *c)
{
	if (c->args.data)
		sodium_memzero(c->args.data, c->args.size);
	msgpack_sbuffer_destroy(&c->args);
}

static int call_remote(void *ctx, const char *op, const msgpack_sbuffer *args, al_reply *rep)
{
	return al_client_call(ctx, op, args->data, args->size, rep);
}

/* Remote mode: adminlogd runs the command as the saved keypair. */
static int run_remote(cli *c)
{
	al_client *cl;
	al_reply rep;
	memset(&rep, 0, sizeof rep);
	int rc = al_client_open(&cl, c->remote, NULL, REMOTE_TIMEOUT_MS, &rep.err);
	if (rc == AL_OK) {
		al_client_set_at(cl, c->at);
		if (c->export_what)
			rc = export_csv(NULL, cl, c->export_what, NULL, &c->args, c->export_out, &c->export_rows, &rep.err);
		else if ((rc = call_remote(cl, c->op, &c->args, &rep)) == AL_OK)
			page_note(c, result_rows(&rep), call_remote, cl);
		al_client_close(cl);
	}
	return c->export_what ? print_reply(rc, &rep, 1, NULL, NULL) : print_reply(rc, &rep, c->json, c->columns, c->op);
}

/* --at: the as-of store of that point of s, or s itself without one; NULL when refused. */
static al_store *store_at(cli *c, al_store *s, al_error *err)
{
	uint64_t seq;
	al_store *past = s;
	if (c->at && (al_log_point(s, c->at, &seq, err) != AL_OK || al_store_asof(s, seq, &past, err) != AL_OK))
		return NULL;
	return past;
}

/* ---- image rescan on a terminal: a line that says what it waits for, one per registry, a summary */

typedef struct rescan_view {
	unsigned ok, failed, skipped;
	size_t images;
} rescan_view;

static void show_rescan(void *ctx, const char *reg, const char *phase, const char *item, size_t done, size_t total)
{
	rescan_view *v = ctx;
	if (!strcmp(phase, "done")) {
		*(!strcmp(item, "ok") ? &v->ok : !strcmp(item, "skipped") ? &v->skipped : &v->failed) += 1;
		fprintf(stderr, "\r\033[K%s: %s\n", reg, item);
		return;
	}
	if (!strcmp(phase, "connect"))
		fprintf(stderr, "\r\033[K%s: connecting to %.200s ...", reg, item);
	else if (!strcmp(phase, "catalog"))
		fprintf(stderr, "\r\033[K%s: reading the catalog ...", reg);
	else if (!strcmp(phase, "tags"))
		fprintf(stderr, "\r\033[K%s: repository %zu of %zu: %.200s ...", reg, done + 1, total, item);
	else if (!strcmp(phase, "image")) {
		v->images++;
		fprintf(stderr, "\r\033[K%s: image %zu of %zu: %.200s ...", reg, done + 1, total, item);
	}
	fflush(stderr);
}

static bool is_rescan(const char *op) { return !strcmp(op, "image.rescan") || !strcmp(op, "maintenance.rescan-images"); }

typedef struct local_call {
	al_store *s;
	al_actor *actor;
} local_call;

static int call_local(void *ctx, const char *op, const msgpack_sbuffer *args, al_reply *rep)
{
	local_call *lc = ctx;
	al_request req = {op, args->data, args->size, lc->actor};
	return al_exec(lc->s, &req, rep);
}

/* Direct mode: the data directory opened here, the command run as local:<OS user> (or --as). */
static int run_local(cli *c)
{
	al_store *s, *view = NULL;
	al_error err = {0};
	/* Read-write so that stale views catch up first; a read also runs read-only beside
	 * adminlogd or without master.key, while a write is refused then. */
	al_open_opts oo = {c->d->kind == AL_CMD_READ ? AL_OPEN_READER : 0, 0, NULL, store_log, NULL};
	al_store_check_perms(c->data, warn, NULL);
	if (al_store_open(&s, c->data, &oo, &err) != AL_OK)
		return refused(&err);
	if (!al_store_has_secrets(s))
		fprintf(stderr, "%s: warning: %s/master.key is missing: sealed secrets cannot be opened until it is "
			"restored from a backup\n", prog, c->data);
	al_actor actor = {actor_name(), AL_ROLE_SUPERADMIN, NULL, NULL, NULL, NULL, NULL};
	char actor_buf[1024];
	int rc = AL_OK;
	/* --as: that user's rights as of now, also for a read from the past (--at) */
	if (c->as && (rc = al_actor_for_user(s, c->as, actor.name, &actor, actor_buf, sizeof actor_buf, &err)))
		fprintf(stderr, "%s: %s: --as %s: %s\n", prog, al_err_name(err.code), c->as, err.msg);
	if (rc == AL_OK && (view = store_at(c, s, &err)) == NULL)
		rc = refused(&err) ? err.code : AL_EINTERNAL;
	al_request req = {c->op, c->args.data, c->args.size, &actor};
	if (rc == AL_OK && c->export_what && (rc = export_csv(view, NULL, c->export_what, &req, NULL, c->export_out, &c->export_rows, &err)))
		refused(&err);
	al_reply rep;
	bool ran = rc == AL_OK && !c->export_what;
	rescan_view rv = {0};
	bool shown = ran && is_rescan(c->op) && isatty(STDERR_FILENO); /* progress only for a person */
	if (shown)
		al_rescan_progress(show_rescan, &rv);
	if (ran && (rc = al_exec(view, &req, &rep)) == AL_OK) {
		local_call lc = {view, &actor};
		page_note(c, result_rows(&rep), call_local, &lc);
	}
	if (shown) {
		al_rescan_progress(NULL, NULL);
		if (rv.ok + rv.failed + rv.skipped > 0) /* not when the arguments were refused */
			fprintf(stderr, "rescan: %u registr%s read, %u failed, %u skipped; %zu image%s looked at\n", rv.ok,
				rv.ok == 1 ? "y" : "ies", rv.failed, rv.skipped, rv.images, rv.images == 1 ? "" : "s");
	}
	if (view && view != s)
		al_store_close(view);
	al_store_close(s);
	if (ran)
		return print_reply(rc, &rep, c->json, c->columns, c->op);
	return rc ? EXIT_REFUSED : 0;
}

/* What an export did: "users: 42 rows written to FILE", or {"file":..,"rows":..} with --json. */
static void export_done(const cli *c)
{
	if (!c->json) {
		printf("%s: %lld row%s written to %s\n", c->export_what, c->export_rows, c->export_rows == 1 ? "" : "s",
		       c->export_out);
		return;
	}
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone z;
	msgpack_object o;
	size_t off = 0;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	pack_name(&pk, "list");
	pack_name(&pk, c->export_what);
	pack_name(&pk, "file");
	pack_name(&pk, c->export_out);
	pack_name(&pk, "rows");
	msgpack_pack_int64(&pk, c->export_rows);
	msgpack_zone_init(&z, 256);
	if (msgpack_unpack(sb.data, sb.size, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS) {
		al_render_json(&o, stdout);
		putchar('\n');
	}
	msgpack_zone_destroy(&z);
	msgpack_sbuffer_destroy(&sb);
}

int main(int argc, char **argv)
{
	cli c = {0};
	int i = 1;
	int rc = parse_common(&c, argc, argv, &i);
	if (rc != GO_ON)
		return rc;
	if (i < argc && (!strcmp(argv[i], "login") || !strcmp(argv[i], "watch"))) {
		if (c.at)
			return die_usage("--at is for read commands, not %s", argv[i]);
		bool help = i + 1 < argc && (!strcmp(argv[i + 1], "--help") || !strcmp(argv[i + 1], "-h"));
		if (!c.remote[0] && !help)
			return die_usage("%s needs --connect HOST:PORT or --socket PATH", argv[i]);
		return argv[i][0] == 'l' ? remote_login(c.remote, argc, argv, i + 1)
					 : remote_watch(c.remote, argc, argv, i + 1, c.json);
	}
	if ((rc = pick_command(&c, argc, argv, &i)) != GO_ON || (rc = pack_args(&c, argc, argv, i)) != GO_ON)
		return rc;
	if (c.at && c.d->kind != AL_CMD_READ) {
		fprintf(stderr, "%s: %s: --at: %s is a write; only read commands answer from the past\n", prog,
			al_err_name(AL_EINVALID_ARGUMENT), c.op);
		args_free(&c);
		return EXIT_REFUSED;
	}
	rc = c.remote[0] ? run_remote(&c) : run_local(&c);
	if (rc == 0 && c.export_what)
		export_done(&c);
	if (rc == 0 && c.note[0])
		fprintf(stderr, "%s: %s\n", prog, c.note);
	args_free(&c);
	return rc;
}

/* ---- tables: a readable default set of columns, or --columns ---------------------------------- */

/* The columns a wide list shows by default (the others: --columns all, or --json). */
static const struct {
	const char *op, *columns;
} default_columns[] = {
	{"user.list", "email,username,full_name,role,status,domain,projects"},
	{"keypair.list", "access_key,user,is_active,is_admin,resource_policy,last_used"},
	{"policy.list", "name,cpu,ram_gb,gpu,fgpu,concurrent_jobs,max_folders,allowed_hosts"},
	{"project.list", "name,domain,is_active,resource_policy,member_count,description"},
	{"rgroup.list", "name,is_active,is_public,scheduler,domains,projects"},
	{"domain.list", "name,is_active,total_resource_slots,description"},
	{"session.list", "id,name,user,status,type,group,image,created_at"},
};

static const char *columns_of(const char *op, const char *given)
{
	if (given)
		return strcmp(given, "all") == 0 ? NULL : given;
	for (size_t k = 0; op && k < sizeof default_columns / sizeof *default_columns; k++)
		if (strcmp(default_columns[k].op, op) == 0)
			return default_columns[k].columns;
	return NULL;
}

/* Packs map's pairs named in cols (comma-separated, in that order; a missing one is nil). */
static void pack_columns(msgpack_packer *pk, const msgpack_object *map, const char *cols)
{
	uint32_t n = 1;
	for (const char *p = cols; *p; p++)
		n += *p == ',';
	msgpack_pack_map(pk, n);
	for (const char *p = cols; n--; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
		size_t len = strcspn(p, ",");
		const msgpack_object *v = NULL;
		for (uint32_t k = 0; map->type == MSGPACK_OBJECT_MAP && k < map->via.map.size && !v; k++) {
			const msgpack_object *key = &map->via.map.ptr[k].key;
			if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == len && !memcmp(key->via.str.ptr, p, len))
				v = &map->via.map.ptr[k].val;
		}
		msgpack_pack_str(pk, len);
		msgpack_pack_str_body(pk, p, len);
		if (v)
			msgpack_pack_object(pk, *v);
		else
			msgpack_pack_nil(pk);
	}
}

/* The first of cols that no row (or the map) has, into bad; 0 when all are known. */
static int unknown_column(const msgpack_object *o, const char *cols, char *bad, size_t n)
{
	const msgpack_object *row = o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size ? &o->via.array.ptr[0] : o;
	if (row->type != MSGPACK_OBJECT_MAP)
		return 0;
	for (const char *p = cols; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
		size_t len = strcspn(p, ",");
		bool found = false;
		for (uint32_t k = 0; k < row->via.map.size && !found; k++)
			found = row->via.map.ptr[k].key.type == MSGPACK_OBJECT_STR &&
				row->via.map.ptr[k].key.via.str.size == len &&
				!memcmp(row->via.map.ptr[k].key.via.str.ptr, p, len);
		if (!found) {
			snprintf(bad, n, "%.*s", (int)(len < 64 ? len : 64), p);
			return 1;
		}
	}
	return 0;
}

/* The result as a table of the chosen columns (all when cols is NULL); 0, or EXIT_USAGE for a
 * column the result does not have. */
static int print_table(const msgpack_object *o, const char *cols)
{
	char bad[80];
	if (cols == NULL || (o->type != MSGPACK_OBJECT_ARRAY && o->type != MSGPACK_OBJECT_MAP)) {
		al_render_table(o, stdout);
		return 0;
	}
	if (unknown_column(o, cols, bad, sizeof bad)) {
		fprintf(stderr, "%s: --columns: no column '%s' in this result (--json shows every field)\n", prog, bad);
		return EXIT_USAGE;
	}
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone z;
	msgpack_object t;
	size_t off = 0;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (o->type == MSGPACK_OBJECT_MAP)
		pack_columns(&pk, o, cols);
	else {
		msgpack_pack_array(&pk, o->via.array.size);
		for (uint32_t r = 0; r < o->via.array.size; r++)
			pack_columns(&pk, &o->via.array.ptr[r], cols);
	}
	msgpack_zone_init(&z, 4096);
	if (msgpack_unpack(sb.data, sb.size, &off, &z, &t) == MSGPACK_UNPACK_SUCCESS)
		al_render_table(&t, stdout);
	msgpack_zone_destroy(&z);
	msgpack_sbuffer_destroy(&sb);
	return 0;
}

/* Prints a command's result (or its error on stderr); the exit status. json: as JSON, every
 * field; else a table of columns (--columns, or the list's default set, see default_columns). */
static int print_reply(int rc, al_reply *rep, int json, const char *columns, const char *op)
{
	int status = rc == AL_OK ? 0 : EXIT_REFUSED;
	if (rc == AL_OK && op) {
		msgpack_zone z;
		msgpack_object o;
		size_t off = 0;
		msgpack_zone_init(&z, 4096);
		if (rep->result && msgpack_unpack(rep->result, rep->result_len, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS) {
			if (json) {
				al_render_json(&o, stdout);
				putchar('\n');
			} else
				status = print_table(&o, o.type == MSGPACK_OBJECT_ARRAY || columns ? columns_of(op, columns) : NULL);
		}
		msgpack_zone_destroy(&z);
	} else if (rc != AL_OK)
		fprintf(stderr, "%s: %s: %s\n", prog, al_err_name(rep->err.code), rep->err.msg);
	if (rep->result)
		sodium_memzero(rep->result, rep->result_len); /* may hold a new secret key */
	al_reply_free(rep);
	return status;
}
