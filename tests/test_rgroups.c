/*
 * test_rgroups.c - resource groups: every field rule valid and invalid (code and field), the
 * scheduler rule, update / deactivate / delete, associations with domains, projects and
 * keypairs (existence, inactive targets, renames, keypair deletion), the groups a user may use
 * (the union, public and system-only groups, permissions), the bootstrap default group and
 * al__rgroup_require, the CSV export, and rebuild / as-of equality.
 */
#include "rg_helpers.h"

#define PW "Passw0rd!"

typedef struct fx {
	TH_FX_HEAD;
	th_actor adm_a, adm_b, mon_a, usr_a, usr_a2, usr_b; /* usr_a2: of the shared cast, unused here */
	char ak_a[32], ak_a2[32]; /* usr-a's main and second access keys */
} fx;

static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	if (f == NULL)
		return -1;
	al_store *s = f->s;
	if (th_run(s, "domain.create", "name", 's', "alpha", NULL) || th_run(s, "domain.create", "name", 's', "beta", NULL) ||
	    th_cast(s, (const th_member[]){TH_AB_CAST(f, NULL), {NULL}}) ||
	    th_run(s, "project.create", "name", 's', "vision", "domain", 's', "alpha", NULL) ||
	    th_run(s, "project.create", "name", 's', "idle", "domain", 's', "alpha", NULL) ||
	    th_run(s, "project.add-member", "name", 's', "vision", "domain", 's', "alpha", "users", 'l', "usr-a@x.io",
		   NULL) ||
	    th_run(s, "project.add-member", "name", 's', "idle", "domain", 's', "alpha", "users", 'l', "usr-a@x.io", NULL) ||
	    th_run(s, "project.deactivate", "name", 's', "idle", "domain", 's', "alpha", NULL))
		return -1;
	al_reply rep;
	if (th_exec(s, &rep, "user.get", "email", 's', "usr-a@x.io", NULL) != AL_OK)
		return -1;
	snprintf(f->ak_a, sizeof f->ak_a, "%s", th_res_str(&rep, "main_access_key"));
	al_reply_free(&rep);
	if (th_exec(s, &rep, "keypair.create", "user", 's', "usr-a@x.io", NULL) != AL_OK)
		return -1;
	snprintf(f->ak_a2, sizeof f->ak_a2, "%s", th_res_str(&rep, "access_key"));
	al_reply_free(&rep);
	*state = f;
	return 0;
}

#define teardown th_teardown /* th_fx_free */

/* ---- create ------------------------------------------------------------------------------------ */

static void create_defaults(void **state)
{
	fx *f = *state;
	al_reply rep;
	TH_OK(f->s, NULL, 1, &rep, "rgroup.create", "name", 's', "gpu", NULL);
	assert_string_equal(th_res_json(&rep, "name"), "\"gpu\"");
	assert_string_equal(th_res_json(&rep, "scheduler"), "\"fifo\"");
	assert_string_equal(th_res_json(&rep, "is_public"), "true");
	assert_string_equal(th_res_json(&rep, "is_active"), "true");
	assert_string_equal(th_res_json(&rep, "allowed_session_types"), "[\"interactive\",\"batch\"]");
	assert_string_equal(th_res_json(&rep, "pending_timeout"), "0");
	assert_string_equal(th_res_json(&rep, "retries_to_skip"), "null");
	assert_string_equal(th_res_json(&rep, "wsproxy_addr"), "\"\"");
	assert_string_equal(th_res_json(&rep, "description"), "\"\"");
	assert_string_equal(th_res_json(&rep, "domains"), "[]");
	assert_string_equal(th_res_json(&rep, "version"), "1");
	al_reply_free(&rep);
	/* The event records every decided value, the scheduler included. */
	evscan x = events_of(f->s, "rgroup.created", "rgroup:gpu");
	assert_int_equal(x.n, 1);
	assert_non_null(strstr(x.last, "\"scheduler\":\"fifo\""));
	assert_non_null(strstr(x.last, "\"allowed_session_types\":[\"interactive\",\"batch\"]"));
	assert_null(strstr(x.last, "retries_to_skip")); /* inherited: absent */
}

static void create_all_options(void **state)
{
	fx *f = *state;
	al_reply rep;
	TH_OK(f->s, NULL, 1, &rep, "rgroup.create", "name", 's', "v100.nodes_1", "description", 's', "V100, \"fast\"\nnodes",
	   "scheduler", 's', "drf", "public", 'b', 0, "wsproxy", 's', "https://proxy.example.com:5050/v2",
	   "allowed_session_types", 'l', "system,inference,interactive,batch", "pending_timeout", 'i', 3600LL,
	   "retries_to_skip", 'i', 0LL, NULL);
	assert_string_equal(th_res_json(&rep, "scheduler"), "\"drf\"");
	assert_string_equal(th_res_json(&rep, "is_public"), "false");
	assert_string_equal(th_res_json(&rep, "wsproxy_addr"), "\"https://proxy.example.com:5050/v2\"");
	/* stored in the canonical order whatever the order given */
	assert_string_equal(th_res_json(&rep, "allowed_session_types"), "[\"interactive\",\"batch\",\"inference\",\"system\"]");
	assert_string_equal(th_res_json(&rep, "pending_timeout"), "3600");
	assert_string_equal(th_res_json(&rep, "retries_to_skip"), "0");
	assert_string_equal(th_res_json(&rep, "description"), "\"V100, \\\"fast\\\"\\nnodes\"");
	al_reply_free(&rep);
}

static void create_rules(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	char long_name[80], long_desc[600], long_url[1100];
	memset(long_name, 'n', 65), long_name[65] = 0;
	memset(long_desc, 'd', 513), long_desc[513] = 0;
	snprintf(long_url, sizeof long_url, "http://h/%01016d", 0); /* 1025 characters */
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "name", "rgroup.create", "name", 's', "", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "name", "rgroup.create", "name", 's', "bad name", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "name", "rgroup.create", "name", 's', "-dash", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "name", "rgroup.create", "name", 's', long_name, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "description", "rgroup.create", "name", 's', "g", "description", 's',
	       long_desc, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "scheduler", "rgroup.create", "name", 's', "g", "scheduler", 's', "mof", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "scheduler", "rgroup.create", "name", 's', "g", "scheduler", 's', "FIFO", NULL);
	static const char *const bad_urls[] = {"ftp://h",          "http://",          "http:/h",         "h:5050",
					       "http://u:pw@h",    "http://h:0",       "http://h:70000",  "http://h:",
					       "http://bad host",  "http://-h",        "http://h-.x",     "http://h..x",
					       "http://[::1",      "http://h/ä",       "http://h:50a",    NULL};
	for (int i = 0; bad_urls[i]; i++)
		TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "wsproxy", "rgroup.create", "name", 's', "g", "wsproxy", 's',
		       bad_urls[i], NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "wsproxy", "rgroup.create", "name", 's', "g", "wsproxy", 's', long_url, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "allowed_session_types", "rgroup.create", "name", 's', "g",
	       "allowed_session_types", 'l', "", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "allowed_session_types", "rgroup.create", "name", 's', "g",
	       "allowed_session_types", 'l', "interactive,gpu", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "allowed_session_types", "rgroup.create", "name", 's', "g",
	       "allowed_session_types", 'l', "batch,batch", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "pending_timeout", "rgroup.create", "name", 's', "g", "pending_timeout", 'i',
	       -1LL, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "pending_timeout", "rgroup.create", "name", 's', "g", "pending_timeout", 'i',
	       2147483648LL, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "retries_to_skip", "rgroup.create", "name", 's', "g", "retries_to_skip", 'i',
	       -2LL, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "retries_to_skip", "rgroup.create", "name", 's', "g", "retries_to_skip", 'i',
	       1001LL, NULL);
	/* retries to skip only with fifo */
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "retries_to_skip", "rgroup.create", "name", 's', "g", "scheduler", 's', "lifo",
	       "retries_to_skip", 'i', 3LL, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "retries_to_skip", "rgroup.create", "name", 's', "g", "scheduler", 's', "drf",
	       "retries_to_skip", 'i', 1LL, NULL);
	/* the valid edges */
	static const char *const good_urls[] = {"",
						"http://127.0.0.1:5050",
						"HTTPS://Proxy.Example.com",
						"http://[::1]:5050/",
						"http://wsproxy:65535/a/b?x=1#f",
						"http://h",
						NULL};
	char name[16];
	for (int i = 0; good_urls[i]; i++) {
		snprintf(name, sizeof name, "u%d", i);
		TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', name, "wsproxy", 's', good_urls[i], NULL);
	}
	long_url[1024] = 0; /* 1024 characters: the limit */
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "u-long", "wsproxy", 's', long_url, NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', long_name + 1, "description", 's', long_desc + 1, NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "r1", "retries_to_skip", 'i', 1000LL, "pending_timeout", 'i',
	   2147483647LL, NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "r2", "scheduler", 's', "lifo", "retries_to_skip", 'i', 0LL, NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "r3", "scheduler", 's', "lifo", "retries_to_skip", 'i', -1LL, NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "r4", "allowed_session_types", 'l', "system", NULL);
	/* unique names */
	TH_REFUSE(s, NULL, AL_EALREADY_EXISTS, "name", "rgroup.create", "name", 's', "r1", NULL);
	/* every field rule comes before uniqueness */
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "scheduler", "rgroup.create", "name", 's', "r1", "scheduler", 's', "x", NULL);
}

/* Without --scheduler a group takes the scheduler setting of the moment, recorded. */
static void create_takes_the_scheduler_setting(void **state)
{
	fx *f = *state;
	al_reply rep;
	/* the default retries-to-skip (3) holds the scheduler setting at fifo */
	TH_OK(f->s, NULL, 1, NULL, "settings.set", "key", 's', "retries-to-skip", "value", 'l', "0", NULL);
	TH_OK(f->s, NULL, 1, NULL, "settings.set", "key", 's', "scheduler", "value", 'l', "drf", NULL);
	TH_OK(f->s, NULL, 1, &rep, "rgroup.create", "name", 's', "g", NULL);
	assert_string_equal(th_res_json(&rep, "scheduler"), "\"drf\"");
	al_reply_free(&rep);
	TH_OK(f->s, NULL, 1, NULL, "settings.set", "key", 's', "scheduler", "value", 'l', "fifo", NULL);
	TH_OK(f->s, NULL, 0, &rep, "rgroup.get", "name", 's', "g", NULL);
	assert_string_equal(th_res_json(&rep, "scheduler"), "\"drf\""); /* kept */
	al_reply_free(&rep);
	/* with a non-fifo default, retries need an explicit fifo */
	TH_OK(f->s, NULL, 1, NULL, "settings.set", "key", 's', "scheduler", "value", 'l', "lifo", NULL);
	TH_REFUSE(f->s, NULL, AL_EINVALID_ARGUMENT, "retries_to_skip", "rgroup.create", "name", 's', "h", "retries_to_skip",
	       'i', 2LL, NULL);
	TH_OK(f->s, NULL, 1, NULL, "rgroup.create", "name", 's', "h", "scheduler", 's', "fifo", "retries_to_skip", 'i', 2LL,
	   NULL);
}

/* ---- update, deactivate, delete --------------------------------------------------------------- */

static void update(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "g", "retries_to_skip", 'i', 3LL, "description", 's', "old", NULL);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "rgroup.update", "name", 's', "nope", "description", 's', "x", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, NULL, "rgroup.update", "name", 's', "g", NULL);
	/* fifo -> lifo while the group skips after 3 retries: refused, naming the scheduler */
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "scheduler", "rgroup.update", "name", 's', "g", "scheduler", 's', "lifo", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "retries_to_skip", "rgroup.update", "name", 's', "g", "scheduler", 's', "lifo",
	       "retries_to_skip", 'i', 1LL, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "wsproxy", "rgroup.update", "name", 's', "g", "wsproxy", 's', "gopher://x", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "allowed_session_types", "rgroup.update", "name", 's', "g",
	       "allowed_session_types", 'l', "", NULL);
	TH_OK(s, NULL, 1, &rep, "rgroup.update", "name", 's', "g", "scheduler", 's', "lifo", "retries_to_skip", 'i', 0LL, NULL);
	assert_string_equal(th_res_json(&rep, "scheduler"), "\"lifo\"");
	assert_string_equal(th_res_json(&rep, "retries_to_skip"), "0");
	al_reply_free(&rep);
	/* only the changed fields are recorded */
	TH_OK(s, NULL, 1, NULL, "rgroup.update", "name", 's', "g", "description", 's', "new", "scheduler", 's', "lifo",
	   "public", 'b', 1, NULL);
	evscan x = events_of(s, "rgroup.updated", "rgroup:g");
	assert_int_equal(x.n, 2);
	assert_non_null(strstr(x.last, "\"fields\":{\"description\":\"new\"}"));
	/* the same values again record nothing */
	TH_OK(s, NULL, 0, NULL, "rgroup.update", "name", 's', "g", "description", 's', "new", "public", 'b', 1, NULL);
	/* -1: the setting applies again (shown as null) */
	TH_OK(s, NULL, 1, &rep, "rgroup.update", "name", 's', "g", "retries_to_skip", 'i', -1LL, "wsproxy", 's',
	   "http://10.0.0.1:5050", "allowed_session_types", 'l', "batch", "pending_timeout", 'i', 60LL, NULL);
	assert_string_equal(th_res_json(&rep, "retries_to_skip"), "null");
	assert_string_equal(th_res_json(&rep, "allowed_session_types"), "[\"batch\"]");
	assert_string_equal(th_res_json(&rep, "pending_timeout"), "60");
	assert_string_equal(th_res_json(&rep, "wsproxy_addr"), "\"http://10.0.0.1:5050\"");
	assert_string_equal(th_res_json(&rep, "description"), "\"new\"");
	assert_string_equal(th_res_json(&rep, "version"), "4");
	al_reply_free(&rep);
	TH_OK(s, NULL, 1, &rep, "rgroup.update", "name", 's', "g", "wsproxy", 's', "", NULL);
	assert_string_equal(th_res_json(&rep, "wsproxy_addr"), "\"\"");
	al_reply_free(&rep);
}

static void deactivate_activate(void **state)
{
	fx *f = *state;
	al_reply rep;
	TH_OK(f->s, NULL, 1, NULL, "rgroup.create", "name", 's', "g", NULL);
	TH_OK(f->s, NULL, 1, &rep, "rgroup.deactivate", "name", 's', "g", NULL);
	assert_string_equal(th_res_json(&rep, "is_active"), "false");
	al_reply_free(&rep);
	TH_OK(f->s, NULL, 0, NULL, "rgroup.deactivate", "name", 's', "g", NULL);
	TH_OK(f->s, NULL, 0, &rep, "rgroup.list", NULL); /* (the bootstrap's default group may be listed too) */
	assert_non_null(strstr(th_res_json(&rep, NULL), "{\"name\":\"g\",\"description\":\"\",\"is_active\":false,"));
	al_reply_free(&rep);
	TH_OK(f->s, NULL, 1, &rep, "rgroup.activate", "name", 's', "g", NULL);
	assert_string_equal(th_res_json(&rep, "is_active"), "true");
	al_reply_free(&rep);
	TH_OK(f->s, NULL, 0, NULL, "rgroup.activate", "name", 's', "g", NULL);
	TH_REFUSE(f->s, NULL, AL_ENOT_FOUND, NULL, "rgroup.deactivate", "name", 's', "nope", NULL);
	TH_REFUSE(f->s, NULL, AL_ENOT_FOUND, NULL, "rgroup.activate", "name", 's', "nope", NULL);
}

/* The delete guard counts agents (al__agents_count_group) and, once they exist, sessions. The
 * agents module decides the count; here no agent ever referenced a group, so delete succeeds
 * and takes the associations with it. */
static void delete(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "g", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.associate", "name", 's', "g", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.associate", "name", 's', "g", "keypair", 's', f->ak_a, NULL);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "rgroup.delete", "name", 's', "nope", NULL);
	TH_OK(s, NULL, 1, &rep, "rgroup.delete", "name", 's', "g", NULL);
	assert_string_equal(th_res_json(&rep, "deleted"), "true");
	al_reply_free(&rep);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "rgroup.get", "name", 's', "g", NULL);
	TH_OK(s, NULL, 0, &rep, "rgroup.allowed", "user", 's', "usr-a@x.io", NULL);
	assert_int_equal(th_res_len(&rep), 0);
	al_reply_free(&rep);
	/* the name may be used again, with no association left over */
	TH_OK(s, NULL, 1, &rep, "rgroup.create", "name", 's', "g", NULL);
	assert_string_equal(th_res_json(&rep, "domains"), "[]");
	assert_string_equal(th_res_json(&rep, "keypairs"), "[]");
	al_reply_free(&rep);
	/* the guard itself: the agents module's count, zero for a group no agent ever named */
	uint64_t n = 99;
	al_error err;
	msgpack_zone z;
	msgpack_zone_init(&z, 1024);
	al_cmd c = {.s = s, .err = &err, .zone = &z};
	assert_int_equal(al__read_begin(s, &c.txn, &err), AL_OK);
	assert_int_equal(al__agents_count_group(&c, (al_str){"g", 1}, &n), AL_OK);
	mdb_txn_abort(c.txn);
	assert_int_equal(n, 0);
	/* An agent in the group, even one that left it or terminated, keeps it from being deleted. */
	assert_int_equal(th_run(s, "agent.heartbeat", "id", 's', "ag1", "addr", 's', "10.0.0.1:6001", "available", 's',
				"cpu=4,mem=8g", "group", 's', "g", NULL),
			 AL_OK);
	assert_int_equal(th_run(s, "agent.heartbeat", "id", 's', "ag1", "addr", 's', "10.0.0.1:6001", "available", 's',
				"cpu=4,mem=8g", "group", 's', "default", NULL),
			 AL_OK);
	assert_int_equal(th_run(s, "agent.terminate", "id", 's', "ag1", NULL), AL_OK);
	TH_REFUSE(s, NULL, AL_EIN_USE, NULL, "rgroup.delete", "name", 's', "g", NULL);
	assert_int_equal(al__read_begin(s, &c.txn, &err), AL_OK);
	assert_int_equal(al__agents_count_group(&c, (al_str){"g", 1}, &n), AL_OK);
	mdb_txn_abort(c.txn);
	assert_int_equal(n, 1);
	msgpack_zone_destroy(&z);
}

/* ---- associations ----------------------------------------------------------------------------- */

static void associations(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "g", NULL);
	/* exactly one target */
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "target", "rgroup.associate", "name", 's', "g", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "target", "rgroup.associate", "name", 's', "g", "domain", 's', "alpha",
	       "keypair", 's', f->ak_a, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "target", "rgroup.associate", "name", 's', "g", "project", 's', "vision",
	       "keypair", 's', f->ak_a, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "target", "rgroup.dissociate", "name", 's', "g", NULL);
	/* the group and the target must exist */
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "rgroup.associate", "name", 's', "nope", "domain", 's', "alpha", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "domain", "rgroup.associate", "name", 's', "g", "domain", 's', "gamma", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "project", "rgroup.associate", "name", 's', "g", "project", 's', "nope",
	       "domain", 's', "alpha", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "project", "rgroup.associate", "name", 's', "g", "project", 's', "vision",
	       "domain", 's', "beta", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "keypair", "rgroup.associate", "name", 's', "g", "keypair", 's',
	       "AKIANOSUCHKEY0000000", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "domain", "rgroup.dissociate", "name", 's', "g", "domain", 's', "gamma", NULL);
	/* inactive targets: not to associate, but to dissociate */
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "project", "rgroup.associate", "name", 's', "g", "project", 's', "idle",
	       "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.associate", "name", 's', "g", "domain", 's', "beta", NULL);
	TH_OK(s, NULL, 1, NULL, "domain.deactivate", "name", 's', "beta", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "domain", "rgroup.associate", "name", 's', "g", "domain", 's', "beta", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.dissociate", "name", 's', "g", "domain", 's', "beta", NULL);
	TH_OK(s, NULL, 0, NULL, "rgroup.dissociate", "name", 's', "g", "domain", 's', "beta", NULL); /* none left */
	TH_OK(s, NULL, 1, NULL, "project.activate", "name", 's', "idle", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.associate", "name", 's', "g", "project", 's', "idle", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 1, NULL, "project.deactivate", "name", 's', "idle", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.dissociate", "name", 's', "g", "project", 's', "idle", "domain", 's', "alpha", NULL);

	TH_OK(s, NULL, 1, NULL, "rgroup.associate", "name", 's', "g", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 0, NULL, "rgroup.associate", "name", 's', "g", "domain", 's', "alpha", NULL); /* already */
	TH_OK(s, NULL, 1, NULL, "rgroup.associate", "name", 's', "g", "project", 's', "vision", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.associate", "name", 's', "g", "keypair", 's', f->ak_a2, NULL);
	/* --project without --domain: the actor's domain, else default (the bootstrap's project) */
	TH_OK(s, NULL, 1, &rep, "rgroup.associate", "name", 's', "g", "project", 's', "default", NULL);
	assert_string_equal(th_res_json(&rep, "domains"), "[\"alpha\"]");
	al_reply_free(&rep);
	TH_OK(s, NULL, 0, &rep, "rgroup.get", "name", 's', "g", NULL);
	const char *projects = th_res_json(&rep, "projects");
	assert_non_null(strstr(projects, "\"alpha/vision\""));
	assert_non_null(strstr(projects, "\"default/default\""));
	char kps[64];
	snprintf(kps, sizeof kps, "[\"%s\"]", f->ak_a2);
	assert_string_equal(th_res_json(&rep, "keypairs"), kps);
	al_reply_free(&rep);
	/* the event names the project by id, with its name and domain for the audit log */
	evscan x = events_of(s, "rgroup.associated", "rgroup:g");
	assert_non_null(strstr(x.last, "\"target_kind\":\"project\""));
	assert_non_null(strstr(x.last, "\"project\":\"default\""));
	/* a project keeps its associations through a rename */
	TH_OK(s, NULL, 1, NULL, "project.update", "name", 's', "vision", "domain", 's', "alpha", "new_name", 's', "sight", NULL);
	TH_OK(s, NULL, 0, &rep, "rgroup.get", "name", 's', "g", NULL);
	assert_non_null(strstr(th_res_json(&rep, "projects"), "\"alpha/sight\""));
	al_reply_free(&rep);
	/* a deleted keypair's associations go with it */
	TH_OK(s, NULL, 1, NULL, "keypair.delete", "access_key", 's', f->ak_a2, NULL);
	TH_OK(s, NULL, 0, &rep, "rgroup.get", "name", 's', "g", NULL);
	assert_string_equal(th_res_json(&rep, "keypairs"), "[]");
	al_reply_free(&rep);
	TH_OK(s, NULL, 1, NULL, "rgroup.dissociate", "name", 's', "g", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 0, &rep, "rgroup.get", "name", 's', "g", NULL);
	assert_string_equal(th_res_json(&rep, "domains"), "[]");
	al_reply_free(&rep);
}

/* ---- the groups a user may use ------------------------------------------------------------------ */

static void allowed_union(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "by-domain", "scheduler", 's', "lifo", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "by-project", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "by-keypair", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "beta-only", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "off", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "private", "public", 'b', 0, NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "sftp", "public", 'b', 0, "allowed_session_types", 'l',
	   "interactive,system", NULL);
	const char *alpha[] = {"by-domain", "off", "private", "sftp"};
	for (int i = 0; i < 4; i++)
		TH_OK(s, NULL, 1, NULL, "rgroup.associate", "name", 's', alpha[i], "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.associate", "name", 's', "by-project", "project", 's', "vision", "domain", 's', "alpha",
	   NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.associate", "name", 's', "by-project", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.associate", "name", 's', "by-keypair", "keypair", 's', f->ak_a2, NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.associate", "name", 's', "beta-only", "domain", 's', "beta", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.associate", "name", 's', "beta-only", "keypair", 's', f->ak_a, NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.deactivate", "name", 's', "off", NULL);

	TH_OK(s, NULL, 0, &rep, "rgroup.allowed", "user", 's', "usr-a@x.io", NULL);
	/* the union, by name; inactive and public-only-nothing groups left out */
	assert_string_equal(th_res_column(&rep, "name"), "beta-only,by-domain,by-keypair,by-project,sftp,");
	assert_string_equal(th_res_json_at(&rep, 1, "scheduler"), "\"lifo\"");
	assert_string_equal(th_res_json_at(&rep, 1, "session_types"), "[\"interactive\",\"batch\"]");
	assert_string_equal(th_res_json_at(&rep, 3, "via"), "[\"domain:alpha\",\"project:alpha/vision\"]");
	char via[64];
	snprintf(via, sizeof via, "[\"keypair:%s\"]", f->ak_a);
	assert_string_equal(th_res_json_at(&rep, 0, "via"), via);
	/* a non-public group: system sessions only */
	assert_string_equal(th_res_json_at(&rep, 4, "is_public"), "false");
	assert_string_equal(th_res_json_at(&rep, 4, "session_types"), "[\"system\"]");
	al_reply_free(&rep);

	/* an inactive keypair, project or domain allows nothing */
	TH_OK(s, NULL, 1, NULL, "keypair.deactivate", "access_key", 's', f->ak_a2, NULL);
	TH_OK(s, NULL, 1, NULL, "project.deactivate", "name", 's', "vision", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 0, &rep, "rgroup.allowed", "user", 's', "usr-a@x.io", NULL);
	assert_string_equal(th_res_column(&rep, "name"), "beta-only,by-domain,by-project,sftp,");
	assert_string_equal(th_res_json_at(&rep, 2, "via"), "[\"domain:alpha\"]");
	al_reply_free(&rep);
	TH_OK(s, NULL, 1, NULL, "domain.deactivate", "name", 's', "alpha", NULL);
	TH_OK(s, NULL, 0, &rep, "rgroup.allowed", "user", 's', "usr-a@x.io", NULL);
	assert_string_equal(th_res_column(&rep, "name"), "beta-only,");
	al_reply_free(&rep);
	TH_OK(s, NULL, 0, &rep, "rgroup.allowed", "user", 's', "usr-b@x.io", NULL);
	assert_string_equal(th_res_column(&rep, "name"), "beta-only,");
	al_reply_free(&rep);
	TH_OK(s, NULL, 0, &rep, "rgroup.allowed", "user", 's', "adm-b@x.io", NULL);
	assert_string_equal(th_res_column(&rep, "name"), "beta-only,");
	al_reply_free(&rep);
}

static void allowed_permissions(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	TH_OK(s, &f->usr_a, 0, NULL, "rgroup.allowed", "user", 's', "usr-a@x.io", NULL);
	TH_OK(s, &f->adm_a, 0, NULL, "rgroup.allowed", "user", 's', "usr-a@x.io", NULL);
	TH_OK(s, &f->mon_a, 0, NULL, "rgroup.allowed", "user", 's', "usr-a@x.io", NULL);
	TH_DENY(s, &f->usr_b, "rgroup.allowed", "user", 's', "usr-a@x.io", NULL);
	TH_DENY(s, &f->adm_b, "rgroup.allowed", "user", 's', "usr-a@x.io", NULL);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "rgroup.allowed", "user", 's', "ghost@x.io", NULL);
	TH_DENY(s, &f->adm_a, "rgroup.allowed", "user", 's', "ghost@x.io", NULL); /* no probing */
	/* writes: superadmin only; reads: admins and monitors */
	TH_DENY(s, &f->adm_a, "rgroup.create", "name", 's', "g", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "g", NULL);
	TH_DENY(s, &f->adm_a, "rgroup.associate", "name", 's', "g", "domain", 's', "alpha", NULL);
	TH_DENY(s, &f->adm_a, "rgroup.delete", "name", 's', "g", NULL);
	TH_OK(s, &f->adm_b, 0, NULL, "rgroup.get", "name", 's', "g", NULL);
	TH_OK(s, &f->mon_a, 0, NULL, "rgroup.list", NULL);
	TH_DENY(s, &f->usr_a, "rgroup.list", NULL);
	TH_DENY(s, &f->usr_a, "rgroup.get", "name", 's', "g", NULL);
}

/* ---- bootstrap default and al__rgroup_require ------------------------------------------------ */

static int call_default(al_cmd *c, void *ctx)
{
	(void)ctx;
	return al__rgroup_emit_default(c);
}

static int call_require(al_cmd *c, void *ctx) { return al__rgroup_require(c, "group", *(al_str *)ctx); }

static void bootstrap_default(void **state)
{
	fx *f = *state;
	al_reply rep;
	uint64_t n;
	char msg[AL_ERR_MSG_LEN];
	/* (The lead wires it into store.init; a store that already has it records nothing.) */
	int had = th_run(f->s, "rgroup.get", "name", 's', "default", NULL) == AL_OK;
	assert_int_equal(run_internal(f->s, "rgroup.create", call_default, NULL, &n, msg, sizeof msg), AL_OK);
	assert_int_equal(n, had ? 0 : 2);
	TH_OK(f->s, NULL, 0, &rep, "rgroup.get", "name", 's', "default", NULL);
	assert_string_equal(th_res_json(&rep, "scheduler"), "\"fifo\"");
	assert_string_equal(th_res_json(&rep, "is_public"), "true");
	assert_string_equal(th_res_json(&rep, "is_active"), "true");
	assert_string_equal(th_res_json(&rep, "domains"), "[\"default\"]");
	al_reply_free(&rep);
	assert_int_equal(run_internal(f->s, "rgroup.create", call_default, NULL, &n, msg, sizeof msg), AL_OK);
	assert_int_equal(n, 0);
	/* the admin of the default domain may use it */
	TH_OK(f->s, NULL, 0, &rep, "rgroup.allowed", "user", 's', "admin@example.com", NULL);
	assert_non_null(strstr(th_res_column(&rep, "name"), "default,"));
	al_reply_free(&rep);

	al_str name = {"default", 7}, none = {"nope", 4};
	assert_int_equal(run_internal(f->s, "rgroup.get", call_require, &name, &n, msg, sizeof msg), AL_OK);
	assert_int_equal(run_internal(f->s, "rgroup.get", call_require, &none, &n, msg, sizeof msg), AL_EINVALID_ARGUMENT);
	assert_true(strncmp(msg, "group:", 6) == 0);
	TH_OK(f->s, NULL, 1, NULL, "rgroup.deactivate", "name", 's', "default", NULL);
	assert_int_equal(run_internal(f->s, "rgroup.get", call_require, &name, &n, msg, sizeof msg), AL_EINVALID_ARGUMENT);
	assert_non_null(strstr(msg, "inactive"));
	assert_true(strncmp(msg, "group:", 6) == 0);
}

/* ---- CSV export ----------------------------------------------------------------------------------- */

static int64_t fixed_clock(void *ctx)
{
	(void)ctx;
	return 1893456000000000LL; /* 2030-01-01T00:00:00Z */
}

static void export_csv(void **state)
{
	fx *f = *state;
	al_store_set_clock(f->s, fixed_clock, NULL);
	TH_OK(f->s, NULL, 1, NULL, "rgroup.create", "name", 's', "zz-gpu", "description", 's', "V100, \"fast\"", "wsproxy", 's',
	   "http://127.0.0.1:5050", "allowed_session_types", 'l', "batch,system", "retries_to_skip", 'i', 2LL, NULL);
	TH_OK(f->s, NULL, 1, NULL, "rgroup.associate", "name", 's', "zz-gpu", "domain", 's', "alpha", NULL);
	TH_OK(f->s, NULL, 1, NULL, "rgroup.associate", "name", 's', "zz-gpu", "project", 's', "vision", "domain", 's', "alpha",
	   NULL);
	char *buf = NULL;
	size_t n = 0;
	FILE *out = open_memstream(&buf, &n);
	al_request req = {"rgroup.list", NULL, 0, &th_admin};
	al_error err;
	assert_int_equal(al_export_csv(f->s, "rgroups", &req, out, &err), AL_OK);
	fclose(out);
	const char *header = "name,description,is_active,is_public,scheduler,allowed_session_types,pending_timeout,"
			     "retries_to_skip,wsproxy_addr,domains,projects,keypairs,created_at\r\n";
	assert_true(strncmp(buf, header, strlen(header)) == 0);
	assert_non_null(strstr(buf, "zz-gpu,\"V100, \"\"fast\"\"\",true,true,fifo,batch;system,0,2,http://127.0.0.1:5050,"
				    "alpha,alpha/vision,,2030-01-01T00:00:00.000000Z\r\n"));
	assert_string_equal(al_export_op("rgroups"), "rgroup.list");
	free(buf);
	/* the export is the list under the caller's rights: a plain user may not */
	req.actor = &f->usr_a.a;
	FILE *none = open_memstream(&buf, &n);
	assert_int_equal(al_export_csv(f->s, "rgroups", &req, none, &err), AL_EPERMISSION_DENIED);
	fclose(none);
	free(buf);
	al_store_set_clock(f->s, NULL, NULL);
}

/* ---- rebuild and as-of ----------------------------------------------------------------------------- */

static void rebuild_and_asof(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "a", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.create", "name", 's', "b", "scheduler", 's', "drf", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.associate", "name", 's', "a", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.associate", "name", 's', "b", "keypair", 's', f->ak_a2, NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.associate", "name", 's', "a", "project", 's', "vision", "domain", 's', "alpha", NULL);
	uint64_t mid = al_log_head(s);
	char at_mid[33], live[33], rebuilt[33], past[33];
	th_digest(s, at_mid);
	TH_OK(s, NULL, 1, NULL, "keypair.delete", "access_key", 's', f->ak_a2, NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.update", "name", 's', "a", "pending_timeout", 'i', 30LL, NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.deactivate", "name", 's', "b", NULL);
	TH_OK(s, NULL, 1, NULL, "rgroup.delete", "name", 's', "a", NULL);
	th_digest(s, live);
	al_error err;
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	al_store *old;
	assert_int_equal(al_store_asof(s, mid, &old, &err), AL_OK);
	th_digest(old, past);
	assert_string_equal(past, at_mid);
	al_reply rep;
	TH_OK(old, NULL, 0, &rep, "rgroup.get", "name", 's', "a", NULL);
	assert_string_equal(th_res_json(&rep, "domains"), "[\"alpha\"]");
	al_reply_free(&rep);
	al_store_close(old);
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(create_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(create_all_options, setup, teardown),
		cmocka_unit_test_setup_teardown(create_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(create_takes_the_scheduler_setting, setup, teardown),
		cmocka_unit_test_setup_teardown(update, setup, teardown),
		cmocka_unit_test_setup_teardown(deactivate_activate, setup, teardown),
		cmocka_unit_test_setup_teardown(delete, setup, teardown),
		cmocka_unit_test_setup_teardown(associations, setup, teardown),
		cmocka_unit_test_setup_teardown(allowed_union, setup, teardown),
		cmocka_unit_test_setup_teardown(allowed_permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(bootstrap_default, setup, teardown),
		cmocka_unit_test_setup_teardown(export_csv, setup, teardown),
		cmocka_unit_test_setup_teardown(rebuild_and_asof, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
