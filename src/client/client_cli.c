/*
 * client_cli.c - what adminctl needs over the wire besides calls (adminlog_client.h): the
 * credentials file, connecting with it, CSV exports and the change feed, so that adminctl's
 * remote mode is a few lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adminlog_client.h"
#include "util/codec.h"

/* ---- the credentials file ------------------------------------------------------------------- */

const char *al_creds_path(char *buf, size_t n)
{
	const char *env = getenv("ADMINLOG_CREDENTIALS"), *home = getenv("HOME");
	if (env && *env)
		snprintf(buf, n, "%s", env);
	else
		snprintf(buf, n, "%s/.config/adminlog/credentials", home && *home ? home : ".");
	return buf;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

int al_creds_load(const char *path, al_creds *c, al_error *err)
{
	memset(c, 0, sizeof *c);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return al_err(err, errno == ENOENT ? AL_ENOT_FOUND : AL_EIO_ERROR,
			      "credentials %s: %s (run adminctl login)", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || (st.st_mode & 077)) {
		close(fd);
		return al_err(err, AL_EPERMISSION_DENIED, "credentials %s: readable by others; chmod 600 it", path);
	}
	FILE *f = fdopen(fd, "r");
	char line[512];
	struct {
		const char *key;
		char *dst;
		size_t n;
	} keys[] = {{"access_key", c->access_key, sizeof c->access_key},
		    {"secret_key", c->secret_key, sizeof c->secret_key},
		    {"email", c->email, sizeof c->email},
		    {"server", c->server, sizeof c->server}};
	while (f && fgets(line, sizeof line, f)) {
		char *eq = strchr(line, '='), *k = trim(line);
		if (*k == '#' || eq == NULL)
			continue;
		*eq = 0;
		k = trim(k);
		char *v = trim(eq + 1);
		for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
			if (!strcmp(k, keys[i].key))
				snprintf(keys[i].dst, keys[i].n, "%s", v);
	}
	sodium_memzero(line, sizeof line);
	if (f)
		fclose(f);
	else
		close(fd);
	if (!c->access_key[0] || !c->secret_key[0])
		return al_err(err, AL_EINVALID_ARGUMENT, "credentials %s: needs access_key and secret_key lines", path);
	return AL_OK;
}

/* mkdir -p of path's directory, new parts mode 0700. */
static void make_dirs(const char *path)
{
	char p[4096];
	snprintf(p, sizeof p, "%s", path);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = 0;
			mkdir(p, 0700);
			*s = '/';
		}
}

int al_creds_save(const char *path, const al_creds *c, al_error *err)
{
	char tmp[4200];
	make_dirs(path);
	snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path);
	int fd = mkstemp(tmp); /* mode 0600 */
	if (fd < 0)
		return al_err(err, AL_EIO_ERROR, "credentials %s: %s", path, strerror(errno));
	int ok = dprintf(fd,
			 "# adminlog credentials, written by adminctl login. Keep this file private (mode 0600).\n"
			 "email = %s\nserver = %s\naccess_key = %s\nsecret_key = %s\n",
			 c->email, c->server, c->access_key, c->secret_key) > 0 &&
		 fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return al_err(err, AL_EIO_ERROR, "credentials %s: %s", path, strerror(e));
	}
	return AL_OK;
}

int al_client_login_save(const char *addr, const char *email, const char *password, const char *otp,
			 const char *creds_path, int timeout_ms, al_error *err)
{
	char pbuf[4096];
	al_client *c;
	al_reply rep = {0};
	al_creds cr = {{0}};
	int rc = al_client_connect(&c, addr, timeout_ms, err);
	if (rc)
		return rc;
	rc = al_client_login(c, email, password, otp, &rep);
	al_client_close(c);
	if (rc && err)
		*err = rep.err;
	msgpack_zone z;
	msgpack_object o;
	msgpack_zone_init(&z, 1024);
	if (rc == AL_OK && (al_mp_decode(rep.result, rep.result_len, &z, &o) != 0 || o.type != MSGPACK_OBJECT_MAP))
		rc = al_err(err, AL_EIO_ERROR, "login: the server's answer has no keypair");
	if (rc == AL_OK) {
		al_str v;
		if (al_mp_str(&o, "access_key", &v) == 1)
			al_str_cpy(cr.access_key, sizeof cr.access_key, v);
		if (al_mp_str(&o, "secret_key", &v) == 1)
			al_str_cpy(cr.secret_key, sizeof cr.secret_key, v);
		snprintf(cr.email, sizeof cr.email, "%s", email);
		snprintf(cr.server, sizeof cr.server, "%s", addr);
		rc = cr.access_key[0] && cr.secret_key[0]
			     ? al_creds_save(creds_path ? creds_path : al_creds_path(pbuf, sizeof pbuf), &cr, err)
			     : al_err(err, AL_EIO_ERROR, "login: the server's answer has no keypair");
	}
	msgpack_zone_destroy(&z);
	if (rep.result)
		sodium_memzero(rep.result, rep.result_len);
	al_reply_free(&rep);
	sodium_memzero(&cr, sizeof cr);
	return rc;
}

int al_client_open(al_client **out, const char *addr, const char *creds_path, int timeout_ms, al_error *err)
{
	char pbuf[4096];
	al_creds cr;
	*out = NULL;
	int rc = al_creds_load(creds_path ? creds_path : al_creds_path(pbuf, sizeof pbuf), &cr, err);
	if (rc == AL_OK)
		rc = al_client_connect(out, addr, timeout_ms, err);
	if (rc == AL_OK && (rc = al_client_auth(*out, cr.access_key, cr.secret_key, err)) != AL_OK) {
		al_client_close(*out);
		*out = NULL;
	}
	sodium_memzero(&cr, sizeof cr);
	return rc;
}

/* ---- export --------------------------------------------------------------------------------------- */

static int write_chunk(const msgpack_object *o, void *ctx)
{
	FILE *out = ctx;
	if (o->type != MSGPACK_OBJECT_STR)
		return AL_EIO_ERROR;
	return fwrite(o->via.str.ptr, 1, o->via.str.size, out) == o->via.str.size ? 0 : AL_EIO_ERROR;
}

int al_client_export(al_client *c, const char *what, const void *args, size_t args_len, FILE *out, al_error *err)
{
	msgpack_zone z;
	msgpack_object a = {.type = MSGPACK_OBJECT_MAP};
	msgpack_zone_init(&z, 1024);
	if (args && args_len && (al_mp_check(args, args_len) || al_mp_decode(args, args_len, &z, &a) ||
				 a.type != MSGPACK_OBJECT_MAP)) {
		msgpack_zone_destroy(&z);
		return al_err(err, AL_EINVALID_ARGUMENT, "export: the filters are not a msgpack map");
	}
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	msgpack_pack_map(&pk, a.via.map.size + 1);
	al_pack_cstr(&pk, "what");
	al_pack_cstr(&pk, what);
	for (uint32_t i = 0; i < a.via.map.size; i++) {
		msgpack_pack_object(&pk, a.via.map.ptr[i].key);
		msgpack_pack_object(&pk, a.via.map.ptr[i].val);
	}
	int rc = al_client_stream(c, "export", sb.data, sb.size, write_chunk, out, NULL, err);
	if (rc > 0)
		rc = al_err(err, AL_EIO_ERROR, "export: writing the CSV failed");
	al_sbuffer_destroy(&sb);
	msgpack_zone_destroy(&z);
	return rc;
}

/* ---- watch ----------------------------------------------------------------------------------------- */

void al_client_event_text(const msgpack_object *ev, FILE *out)
{
	int64_t seq = 0, t = 0;
	al_str actor = {"", 0}, as = {"", 0}, type = {"", 0}, entity = {"", 0}, reason = {"", 0};
	char ts[40];
	al_mp_int(ev, "seq", &seq);
	al_mp_int(ev, "time", &t);
	al_mp_str(ev, "actor", &actor);
	al_mp_str(ev, "as", &as);
	al_mp_str(ev, "type", &type);
	al_mp_str(ev, "entity", &entity);
	al_mp_str(ev, "reason", &reason);
	fprintf(out, "%lld %s %.*s%s%.*s %.*s %.*s ", (long long)seq, al_time_format(t, ts, sizeof ts), (int)actor.n,
		actor.p, as.n ? " as " : "", (int)as.n, as.p, (int)type.n, type.p, (int)entity.n, entity.p);
	const msgpack_object *f = al_mp_get(ev, "fields");
	msgpack_object empty = {.type = MSGPACK_OBJECT_MAP};
	al_render_json(f ? f : &empty, out);
	if (reason.n) {
		msgpack_object r = {.type = MSGPACK_OBJECT_STR};
		r.via.str.ptr = reason.p;
		r.via.str.size = (uint32_t)reason.n;
		fputs(" reason=", out);
		al_render_json(&r, out);
	}
}

typedef struct feed {
	FILE *out;
	bool json;
	uint64_t left; /* 0 = no limit */
} feed;

static int print_event(const msgpack_object *ev, void *ctx)
{
	feed *f = ctx;
	if (f->json)
		al_render_json(ev, f->out);
	else
		al_client_event_text(ev, f->out);
	fputc('\n', f->out);
	if (fflush(f->out) != 0)
		return AL_EIO_ERROR;
	return f->left && --f->left == 0 ? 1 : 0; /* 1: enough, cancel the feed */
}

int al_client_watch(al_client *c, uint64_t from_seq, uint64_t count, bool json, FILE *out, al_error *err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	msgpack_pack_map(&pk, from_seq != UINT64_MAX);
	if (from_seq != UINT64_MAX) {
		al_pack_cstr(&pk, "from_seq");
		msgpack_pack_uint64(&pk, from_seq);
	}
	feed f = {out, json, count};
	int rc = al_client_stream(c, "watch", sb.data, sb.size, print_event, &f, NULL, err);
	al_sbuffer_destroy(&sb);
	if (rc == 1)
		return AL_OK; /* stopped after count events */
	if (rc > 0)
		rc = al_err(err, AL_EIO_ERROR, "watch: writing the events failed");
	return rc;
}
