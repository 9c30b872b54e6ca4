/*
 * test_registries.c - container registries: the hostname and URL rules (the guide: hostname and
 * URL set identically, scheme explicit), types, projects, login, the sealed password (never in
 * data.mdb, results, lists or the audit log), update of everything but the hostname, delete,
 * the bootstrap default, rebuild.
 */
#define _GNU_SOURCE /* memmem, open_memstream */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "nouns/images.h"
#include "core/seal.h"

#define PW "Passw0rd!"
#define REG_PW "Reg!stry-pw-7d3f"

#define setup th_setup
#define teardown th_teardown

#define S th_store

#define REFUSE(s, code, field, ...) th_refuse_at(__FILE__, __LINE__, s, NULL, code, field, NULL, __VA_ARGS__)

static int create(al_store *s, const char *host, const char *url)
{
	return th_run(s, "registry.create", "hostname", 's', host, "url", 's', url, NULL);
}

/* A result decoded; its member key as text ("" when absent; true/false for booleans). */
typedef struct decoded {
	msgpack_zone z;
	msgpack_object o;
} decoded;

static void decode(const al_reply *rep, decoded *d)
{
	msgpack_zone_init(&d->z, 1024);
	assert_non_null(rep->result);
	assert_int_equal(al_mp_decode(rep->result, rep->result_len, &d->z, &d->o), 0);
}

static const char *member(const msgpack_object *m, const char *key, char *buf, size_t n)
{
	const msgpack_object *v = al_mp_get(m, key);
	buf[0] = 0;
	if (v == NULL)
		return buf;
	if (v->type == MSGPACK_OBJECT_STR)
		snprintf(buf, n, "%.*s", (int)v->via.str.size, v->via.str.ptr);
	else if (v->type == MSGPACK_OBJECT_BOOLEAN)
		snprintf(buf, n, "%s", v->via.boolean ? "true" : "false");
	else if (v->type == MSGPACK_OBJECT_ARRAY) {
		for (uint32_t i = 0; i < v->via.array.size; i++)
			snprintf(buf + strlen(buf), n - strlen(buf), "%s%.*s", i ? "," : "", (int)v->via.array.ptr[i].via.str.size,
				 v->via.array.ptr[i].via.str.ptr);
	}
	return buf;
}

/* registry.get's member key as text. */
static const char *get_field(al_store *s, const char *host, const char *key)
{
	static char buf[512];
	al_reply rep;
	decoded d;
	assert_int_equal(th_exec(s, &rep, "registry.get", "hostname", 's', host, NULL), AL_OK);
	decode(&rep, &d);
	member(&d.o, key, buf, sizeof buf);
	msgpack_zone_destroy(&d.z);
	al_reply_free(&rep);
	return buf;
}

/* ---- rules ---------------------------------------------------------------------------------------- */

static void hostname_and_url(void **state)
{
	al_store *s = S(state);
	al_reply rep;
	decoded d;
	char b[256];
	assert_int_equal(th_exec(s, &rep, "registry.create", "hostname", 's', "reg.example.com:5000", "url", 's',
				 "http://reg.example.com:5000", NULL),
			 AL_OK);
	decode(&rep, &d);
	assert_string_equal(member(&d.o, "hostname", b, sizeof b), "reg.example.com:5000");
	assert_string_equal(member(&d.o, "url", b, sizeof b), "http://reg.example.com:5000");
	assert_string_equal(member(&d.o, "type", b, sizeof b), "docker"); /* the default */
	assert_string_equal(member(&d.o, "ssl_verify", b, sizeof b), "true");
	assert_string_equal(member(&d.o, "password_set", b, sizeof b), "false");
	assert_string_equal(member(&d.o, "username", b, sizeof b), "");
	assert_null(al_mp_get(&d.o, "password_sealed"));
	assert_non_null(al_mp_get(&d.o, "project"));
	msgpack_zone_destroy(&d.z);
	al_reply_free(&rep);
	/* a final '/' is accepted; https too */
	assert_int_equal(create(s, "cr.example.org", "https://cr.example.org/"), AL_OK);

	static const char *const bad_hosts[] = {"", "Reg.example.com", "reg..example.com", "-reg.example.com",
						"reg-.example.com", "reg.example.com:", "reg.example.com:0", "reg.example.com:65536",
						"reg.example.com:05000", "reg example.com", "reg/example", "http://reg.example.com"};
	for (size_t i = 0; i < sizeof bad_hosts / sizeof *bad_hosts; i++)
		REFUSE(s, AL_EINVALID_ARGUMENT, "hostname", "registry.create", "hostname", 's', bad_hosts[i], "url", 's',
		       "http://x", NULL);
	/* the guide: the URL carries an explicit scheme and exactly the hostname */
	static const char *const bad_urls[] = {
		"r.example.com",                 /* no scheme */
		"ftp://r.example.com",           /* not http(s) */
		"HTTP://r.example.com",          /* scheme in lowercase */
		"http://other.example.com",      /* another host */
		"http://r.example.com:5000",     /* the port is part of the host */
		"http://r.example.co",           /* a prefix of it */
		"http://r.example.com/v2/",      /* a path */
		"http://r.example.com?x=1",      /* a query */
		"http://r.example.com#f",        /* a fragment */
		"http://user:pw@r.example.com",  /* credentials in the URL */
		"https://",                      /* nothing */
	};
	for (size_t i = 0; i < sizeof bad_urls / sizeof *bad_urls; i++)
		REFUSE(s, AL_EINVALID_ARGUMENT, "url", "registry.create", "hostname", 's', "r.example.com", "url", 's',
		       bad_urls[i], NULL);
	/* the message says which host was found and which was expected */
	al_reply r2;
	assert_int_equal(th_exec(s, &r2, "registry.create", "hostname", 's', "r.example.com", "url", 's',
				 "http://other.example.com", NULL),
			 AL_EINVALID_ARGUMENT);
	assert_non_null(strstr(r2.err.msg, "'other.example.com'"));
	assert_non_null(strstr(r2.err.msg, "'r.example.com'"));
	al_reply_free(&r2);
	char longurl[600] = "http://";
	memset(longurl + 7, 'a', 520);
	longurl[527] = 0;
	REFUSE(s, AL_EINVALID_ARGUMENT, "url", "registry.create", "hostname", 's', "r.example.com", "url", 's', longurl, NULL);
	/* unique hostnames */
	REFUSE(s, AL_EALREADY_EXISTS, "hostname", "registry.create", "hostname", 's', "cr.example.org", "url", 's',
	       "https://cr.example.org", NULL);
}

static void types_projects_login(void **state)
{
	al_store *s = S(state);
	static const char *const types[] = {"docker", "harbor", "harbor2", "local"};
	for (size_t i = 0; i < 4; i++) {
		char host[64], url[80];
		snprintf(host, sizeof host, "t%zu.example.com", i);
		snprintf(url, sizeof url, "https://%s", host);
		assert_int_equal(th_run(s, "registry.create", "hostname", 's', host, "url", 's', url, "type", 's', types[i], NULL),
				 AL_OK);
		assert_string_equal(get_field(s, host, "type"), types[i]);
	}
	REFUSE(s, AL_EINVALID_ARGUMENT, "type", "registry.create", "hostname", 's', "x.example.com", "url", 's',
	       "https://x.example.com", "type", 's', "github", NULL);
	/* projects: docker path components, sorted, each once */
	assert_int_equal(th_run(s, "registry.create", "hostname", 's', "h.example.com", "url", 's', "https://h.example.com",
				"type", 's', "harbor2", "project", 'l', "stable,community,multi-arch", NULL),
			 AL_OK);
	assert_string_equal(get_field(s, "h.example.com", "project"), "community,multi-arch,stable");
	REFUSE(s, AL_EINVALID_ARGUMENT, "project", "registry.create", "hostname", 's', "p.example.com", "url", 's',
	       "https://p.example.com", "project", 'l', "Stable", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "project", "registry.create", "hostname", 's', "p.example.com", "url", 's',
	       "https://p.example.com", "project", 'l', "a/b", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "project", "registry.create", "hostname", 's', "p.example.com", "url", 's',
	       "https://p.example.com", "project", 'l', "x,y,x", NULL);
	/* a login is a username and a password, together */
	REFUSE(s, AL_EINVALID_ARGUMENT, "username", "registry.create", "hostname", 's', "l.example.com", "url", 's',
	       "https://l.example.com", "username", 's', "robot", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "password", "registry.create", "hostname", 's', "l.example.com", "url", 's',
	       "https://l.example.com", "password", 's', REG_PW, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "password", "registry.create", "hostname", 's', "l.example.com", "url", 's',
	       "https://l.example.com", "username", 's', "robot", "password", 's', "", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "username", "registry.create", "hostname", 's', "l.example.com", "url", 's',
	       "https://l.example.com", "username", 's', "ro:bot", "password", 's', REG_PW, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "password", "registry.create", "hostname", 's', "l.example.com", "url", 's',
	       "https://l.example.com", "username", 's', "robot", "password", 's', "line\nbreak", NULL);
	assert_int_equal(th_run(s, "registry.create", "hostname", 's', "l.example.com", "url", 's', "https://l.example.com",
				"username", 's', "robot", "password", 's', REG_PW, "ssl_verify", 'b', 0, NULL),
			 AL_OK);
	assert_string_equal(get_field(s, "l.example.com", "password_set"), "true");
	assert_string_equal(get_field(s, "l.example.com", "username"), "robot");
	assert_string_equal(get_field(s, "l.example.com", "ssl_verify"), "false");
	/* a non-superadmin manages no registry and reads none */
	assert_int_equal(th_run(s, "user.create", "email", 's', "adm@example.com", "username", 's', "adm", "password", 's',
				PW, "role", 's', "admin", NULL),
			 AL_OK);
	th_actor adm;
	assert_int_equal(th_as(s, "adm@example.com", &adm), AL_OK);
	assert_int_equal(th_run_as(s, &adm.a, "registry.list", NULL), AL_EPERMISSION_DENIED);
	assert_int_equal(th_run_as(s, &adm.a, "registry.create", "hostname", 's', "z.example.com", "url", 's',
				   "https://z.example.com", NULL),
			 AL_EPERMISSION_DENIED);
}

/* ---- the sealed password --------------------------------------------------------------------------- */

typedef struct printer {
	FILE *out;
	char sealed[512];
	int created, updated;
} printer;

static int print_ev(const al_event *e, void *ctx)
{
	printer *p = ctx;
	al_event_write_json(e, p->out);
	al_event_write_text(e, p->out);
	al_str v;
	if (al_mp_str(&e->fields, "password_sealed", &v) == 1 && v.n && v.n < sizeof p->sealed) {
		memcpy(p->sealed, v.p, v.n);
		p->sealed[v.n] = 0;
	}
	p->created += e->def == al_event_def_by_name("registry.created");
	p->updated += e->def == al_event_def_by_name("registry.updated");
	return 0;
}

static char *read_all(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *data = NULL;
	FILE *mem = open_memstream(&data, n);
	char chunk[65536];
	for (size_t r; (r = fread(chunk, 1, sizeof chunk, f)) > 0;)
		fwrite(chunk, 1, r, mem);
	fclose(f);
	fclose(mem);
	return data;
}

static void password_sealed(void **state)
{
	al_store *s = S(state);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "registry.create", "hostname", 's', "sec.example.com", "url", 's',
				 "https://sec.example.com", "username", 's', "robot", "password", 's', REG_PW, "request_id", 's',
				 "r-1", NULL),
			 AL_OK);
	assert_null(memmem(rep.result, rep.result_len, REG_PW, strlen(REG_PW)));
	assert_null(memmem(rep.result, rep.result_len, "sealed:", 7));
	assert_null(memmem(rep.result, rep.result_len, "password_sealed", 15));
	assert_non_null(memmem(rep.result, rep.result_len, "password_set", 12));
	al_reply_free(&rep);
	/* the retry answers from the request-id table: still no password */
	assert_int_equal(th_exec(s, &rep, "registry.create", "hostname", 's', "sec.example.com", "url", 's',
				 "https://sec.example.com", "username", 's', "robot", "password", 's', REG_PW, "request_id", 's',
				 "r-1", NULL),
			 AL_OK);
	assert_int_equal(rep.replayed, 1);
	assert_null(memmem(rep.result, rep.result_len, REG_PW, strlen(REG_PW)));
	al_reply_free(&rep);
	assert_int_equal(th_exec(s, &rep, "registry.get", "hostname", 's', "sec.example.com", NULL), AL_OK);
	assert_null(memmem(rep.result, rep.result_len, REG_PW, strlen(REG_PW)));
	assert_null(memmem(rep.result, rep.result_len, "sealed:", 7));
	al_reply_free(&rep);
	assert_int_equal(th_exec(s, &rep, "registry.list", NULL), AL_OK);
	assert_int_equal(th_res_len(&rep), 1);
	assert_null(memmem(rep.result, rep.result_len, REG_PW, strlen(REG_PW)));
	assert_null(memmem(rep.result, rep.result_len, "sealed:", 7));
	al_reply_free(&rep);
	/* a new password through update */
	assert_int_equal(th_run(s, "registry.update", "hostname", 's', "sec.example.com", "password", 's', REG_PW "2", NULL),
			 AL_OK);
	/* the audit log shows neither the password nor its sealed text; the event holds the sealed
	 * text, which opens to the password with this directory's key */
	char *buf = NULL;
	size_t len = 0;
	printer p = {open_memstream(&buf, &len), "", 0, 0};
	al_log_filter f = {0};
	al_error err;
	assert_int_equal(al_log_query(s, &f, print_ev, &p, &err), AL_OK);
	fclose(p.out);
	assert_int_equal(p.created, 1);
	assert_int_equal(p.updated, 1);
	assert_non_null(strstr(buf, "registry.created"));
	assert_non_null(strstr(buf, "sec.example.com"));
	assert_null(strstr(buf, REG_PW));
	assert_null(strstr(buf, "sealed:"));
	assert_null(strstr(buf, "password_sealed"));
	free(buf);
	assert_int_equal(strncmp(p.sealed, AL_SEAL_PREFIX, strlen(AL_SEAL_PREFIX)), 0);
	unsigned char plain[64];
	size_t pn;
	assert_int_equal(al__unseal(s, (al_str){p.sealed, strlen(p.sealed)}, plain, sizeof plain, &pn, &err), AL_OK);
	assert_int_equal(pn, strlen(REG_PW "2"));
	assert_memory_equal(plain, REG_PW "2", pn);
	/* what the rescan reads: the sealed text, never the password */
	al_registry_conf *regs;
	size_t n;
	assert_int_equal(al__registries_load(s, "sec.example.com", &regs, &n, &err), AL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(regs[0].username, "robot");
	assert_int_equal(strncmp(regs[0].password_sealed, AL_SEAL_PREFIX, strlen(AL_SEAL_PREFIX)), 0);
	al__registries_free(regs, n);
	assert_int_equal(al__registries_load(s, "nope.example.com", &regs, &n, &err), AL_EINVALID_ARGUMENT);
	assert_int_equal(strncmp(err.msg, "registry:", 9), 0);
	/* no byte of the data file holds the password */
	th_fx *fx = *state;
	char *dir = fx->dir;
	al_store_close(s);
	fx->s = NULL;
	char path[4200];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	size_t dn;
	char *data = read_all(path, &dn);
	assert_non_null(memmem(data, dn, "sec.example.com", 15)); /* the scan does see the content */
	assert_null(memmem(data, dn, REG_PW, strlen(REG_PW)));
	free(data);
	al_open_opts o = {AL_OPEN_QUIET, 0};
	assert_int_equal(al_store_open(&s, dir, &o, &err), AL_OK);
	fx->s = s;
}

/* ---- update and delete ------------------------------------------------------------------------------ */

static int count(const al_event *e, void *ctx)
{
	(void)e;
	++*(uint64_t *)ctx;
	return 0;
}

static uint64_t count_type(al_store *s, const char *type)
{
	uint64_t n = 0;
	al_log_filter f = {.type = type};
	al_error err;
	assert_int_equal(al_log_query(s, &f, count, &n, &err), AL_OK);
	return n;
}

static void update_rules(void **state)
{
	al_store *s = S(state);
	assert_int_equal(create(s, "u.example.com:8443", "https://u.example.com:8443"), AL_OK);
	REFUSE(s, AL_ENOT_FOUND, NULL, "registry.update", "hostname", 's', "nope.example.com", "type", 's', "harbor", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, NULL, "registry.update", "hostname", 's', "u.example.com:8443", NULL);
	/* the URL must still name the hostname, which never changes */
	REFUSE(s, AL_EINVALID_ARGUMENT, "url", "registry.update", "hostname", 's', "u.example.com:8443", "url", 's',
	       "https://other.example.com:8443", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "type", "registry.update", "hostname", 's', "u.example.com:8443", "type", 's',
	       "ecr", NULL);
	uint64_t before = count_type(s, "registry.updated");
	assert_int_equal(th_run(s, "registry.update", "hostname", 's', "u.example.com:8443", "url", 's',
				"http://u.example.com:8443", "type", 's', "harbor2", "project", 'l', "stable", "ssl_verify", 'b', 0,
				NULL),
			 AL_OK);
	assert_int_equal(count_type(s, "registry.updated"), before + 1);
	assert_string_equal(get_field(s, "u.example.com:8443", "url"), "http://u.example.com:8443");
	assert_string_equal(get_field(s, "u.example.com:8443", "type"), "harbor2");
	assert_string_equal(get_field(s, "u.example.com:8443", "project"), "stable");
	assert_string_equal(get_field(s, "u.example.com:8443", "ssl_verify"), "false");
	/* the same values again change nothing and record nothing */
	uint64_t head = al_log_head(s);
	assert_int_equal(th_run(s, "registry.update", "hostname", 's', "u.example.com:8443", "url", 's',
				"http://u.example.com:8443", "type", 's', "harbor2", "project", 'l', "stable", "ssl_verify", 'b', 0,
				NULL),
			 AL_OK);
	assert_int_equal(al_log_head(s), head);
	/* an empty project list scans everything */
	assert_int_equal(th_run(s, "registry.update", "hostname", 's', "u.example.com:8443", "project", 'l', "", NULL), AL_OK);
	assert_string_equal(get_field(s, "u.example.com:8443", "project"), "");
	/* a login: the username needs a password, a password a username */
	REFUSE(s, AL_EINVALID_ARGUMENT, "username", "registry.update", "hostname", 's', "u.example.com:8443", "username", 's',
	       "robot", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "password", "registry.update", "hostname", 's', "u.example.com:8443", "password", 's',
	       REG_PW, NULL);
	assert_int_equal(th_run(s, "registry.update", "hostname", 's', "u.example.com:8443", "username", 's', "robot",
				"password", 's', REG_PW, NULL),
			 AL_OK);
	assert_string_equal(get_field(s, "u.example.com:8443", "password_set"), "true");
	/* then the username alone may change (the password stays), and a password alone */
	assert_int_equal(th_run(s, "registry.update", "hostname", 's', "u.example.com:8443", "username", 's', "robot2", NULL),
			 AL_OK);
	assert_string_equal(get_field(s, "u.example.com:8443", "username"), "robot2");
	assert_string_equal(get_field(s, "u.example.com:8443", "password_set"), "true");
	head = al_log_head(s);
	assert_int_equal(th_run(s, "registry.update", "hostname", 's', "u.example.com:8443", "password", 's', "n3w", NULL),
			 AL_OK);
	assert_int_equal(al_log_head(s), head + 1); /* sealed texts never compare equal: always recorded */
	/* removing the password alone would leave a login without one */
	REFUSE(s, AL_EINVALID_ARGUMENT, "password", "registry.update", "hostname", 's', "u.example.com:8443", "password", 's',
	       "", NULL);
	/* removing the username removes the password with it */
	assert_int_equal(th_run(s, "registry.update", "hostname", 's', "u.example.com:8443", "username", 's', "", NULL),
			 AL_OK);
	assert_string_equal(get_field(s, "u.example.com:8443", "username"), "");
	assert_string_equal(get_field(s, "u.example.com:8443", "password_set"), "false");
	al_registry_conf *regs;
	size_t n;
	al_error err;
	assert_int_equal(al__registries_load(s, "u.example.com:8443", &regs, &n, &err), AL_OK);
	assert_string_equal(regs[0].password_sealed, "");
	al__registries_free(regs, n);
	/* the entity's version counts its events */
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "registry.get", "hostname", 's', "u.example.com:8443", NULL), AL_OK);
	assert_int_equal(th_res_int(&rep, "version"), 7);
	al_reply_free(&rep);
	REFUSE(s, AL_ECONFLICT, NULL, "registry.update", "hostname", 's', "u.example.com:8443", "type", 's', "docker",
	       "expected_version", 'i', 3LL, NULL);
}

static void delete_and_recreate(void **state)
{
	al_store *s = S(state);
	REFUSE(s, AL_ENOT_FOUND, NULL, "registry.delete", "hostname", 's', "d.example.com", NULL);
	assert_int_equal(create(s, "d.example.com", "https://d.example.com"), AL_OK);
	assert_int_equal(th_run(s, "registry.delete", "hostname", 's', "d.example.com", NULL), AL_OK);
	assert_int_equal(count_type(s, "registry.deleted"), 1);
	REFUSE(s, AL_ENOT_FOUND, NULL, "registry.get", "hostname", 's', "d.example.com", NULL);
	REFUSE(s, AL_ENOT_FOUND, NULL, "registry.delete", "hostname", 's', "d.example.com", NULL);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "registry.list", NULL), AL_OK);
	assert_int_equal(th_res_len(&rep), 0);
	al_reply_free(&rep);
	/* the hostname may be registered again, with other settings */
	assert_int_equal(th_run(s, "registry.create", "hostname", 's', "d.example.com", "url", 's', "http://d.example.com",
				"type", 's', "harbor", NULL),
			 AL_OK);
	assert_string_equal(get_field(s, "d.example.com", "url"), "http://d.example.com");
	/* the image rescan of a registry that does not exist is refused before any network */
	REFUSE(s, AL_EINVALID_ARGUMENT, "registry", "image.rescan", "registry", 's', "nope.example.com", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "timeout", "image.rescan", "timeout", 'i', 0LL, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "timeout", "image.rescan", "timeout", 'i', 601LL, NULL);
	/* other nouns' view of registries */
	al_error err;
	al_registry_conf *regs;
	size_t n;
	assert_int_equal(create(s, "a.example.com", "https://a.example.com"), AL_OK);
	assert_int_equal(al__registries_load(s, NULL, &regs, &n, &err), AL_OK);
	assert_int_equal(n, 2);
	assert_string_equal(regs[0].hostname, "a.example.com"); /* by hostname */
	assert_string_equal(regs[1].type, "harbor");
	al__registries_free(regs, n);
}

static void list_and_rebuild(void **state)
{
	al_store *s = S(state);
	assert_int_equal(create(s, "b.example.com", "https://b.example.com"), AL_OK);
	assert_int_equal(create(s, "a.example.com:5000", "http://a.example.com:5000"), AL_OK);
	assert_int_equal(th_run(s, "registry.update", "hostname", 's', "b.example.com", "type", 's', "harbor", NULL), AL_OK);
	assert_int_equal(th_run(s, "registry.create", "hostname", 's', "c.example.com", "url", 's', "https://c.example.com",
				"username", 's', "u", "password", 's', "p", NULL),
			 AL_OK);
	assert_int_equal(th_run(s, "registry.delete", "hostname", 's', "c.example.com", NULL), AL_OK);
	al_reply rep;
	decoded d;
	char b[128];
	assert_int_equal(th_exec(s, &rep, "registry.list", NULL), AL_OK);
	decode(&rep, &d);
	assert_int_equal(d.o.via.array.size, 2);
	assert_string_equal(member(&d.o.via.array.ptr[0], "hostname", b, sizeof b), "a.example.com:5000");
	assert_string_equal(member(&d.o.via.array.ptr[1], "type", b, sizeof b), "harbor");
	msgpack_zone_destroy(&d.z);
	al_reply_free(&rep);
	char live[33], rebuilt[33];
	th_digest(s, live);
	al_error err;
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
}

/* The reference grammar the registries and the rescan share. */
static void reference_grammar(void **state)
{
	(void)state;
#define OK(f, s) assert_true(f((al_str){s, strlen(s)}))
#define NO(f, s) assert_false(f((al_str){s, strlen(s)}))
	OK(al__ref_component_ok, "python");
	OK(al__ref_component_ok, "a.b_c__d-e--f");
	NO(al__ref_component_ok, "");
	NO(al__ref_component_ok, "_a");
	NO(al__ref_component_ok, "a_");
	NO(al__ref_component_ok, "a___b");
	NO(al__ref_component_ok, "a..b");
	NO(al__ref_component_ok, "A");
	OK(al__ref_repo_ok, "stable/python");
	OK(al__ref_repo_ok, "a/b/c");
	NO(al__ref_repo_ok, "stable//python");
	NO(al__ref_repo_ok, "/python");
	NO(al__ref_repo_ok, "python/");
	NO(al__ref_repo_ok, "../x");
	OK(al__ref_tag_ok, "3.9-cuda11.3");
	OK(al__ref_tag_ok, "_x");
	NO(al__ref_tag_ok, ".x");
	NO(al__ref_tag_ok, "-x");
	NO(al__ref_tag_ok, "a/b");
	NO(al__ref_tag_ok, "a b");
	char t[140];
	memset(t, 'a', 129);
	t[129] = 0;
	NO(al__ref_tag_ok, t);
	t[128] = 0;
	OK(al__ref_tag_ok, t);
	OK(al__ref_host_ok, "127.0.0.1:5000");
	OK(al__ref_host_ok, "cr.backend.ai");
	NO(al__ref_host_ok, "cr.backend.ai:");
	char buf[48];
	static const char *const arch[][3] = {{"amd64", "", "x86_64"}, {"x86_64", "", "x86_64"}, {"arm64", "v8", "aarch64"},
					      {"aarch64", "", "aarch64"}, {"386", "", "x86"},       {"arm", "v7", "armv7"},
					      {"ppc64le", "", "ppc64le"}, {"s390x", "", "s390x"},    {"AMD64", "", ""},
					      {"", "", ""},              {"x86-64", "", ""}};
	for (size_t i = 0; i < sizeof arch / sizeof *arch; i++)
		assert_string_equal(al__arch_normalize((al_str){arch[i][0], strlen(arch[i][0])},
						       (al_str){arch[i][1], strlen(arch[i][1])}, buf, sizeof buf),
				    arch[i][2]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(hostname_and_url, setup, teardown),
		cmocka_unit_test_setup_teardown(types_projects_login, setup, teardown),
		cmocka_unit_test_setup_teardown(password_sealed, setup, teardown),
		cmocka_unit_test_setup_teardown(update_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(delete_and_recreate, setup, teardown),
		cmocka_unit_test_setup_teardown(list_and_rebuild, setup, teardown),
		cmocka_unit_test(reference_grammar),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
