/*
 * test_catalogue.c - rules that span the catalogue nouns: settings that other modules obey
 * (project folders, the agent heartbeat timeout), agents and their resource groups, and the
 * bootstrap's catalogue defaults.
 */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>

#include "util/codec.h"
#include "helpers.h"

#define S th_store
#define PW "Passw0rd!"
#define SECOND 1000000LL

typedef struct clock_ctx {
	int64_t now;
} clock_ctx;

static int64_t test_clock(void *ctx) { return ((clock_ctx *)ctx)->now; }

static void project_folders_setting(void **state)
{
	al_store *s = S(state);
	assert_int_equal(th_run(s, "storage.create", "name", 's', "local:v1", "backend", 's', "xfs", "mount", 's', "/v",
				NULL),
			 AL_OK);
	assert_int_equal(th_run(s, "folder.create", "name", 's', "team", "host", 's', "local:v1", "project", 's', "default",
				"domain", 's', "default", NULL),
			 AL_OK);
	assert_int_equal(th_run(s, "settings.set", "key", 's', "project-folders", "value", 'l', "false", NULL), AL_OK);
	th_refuse_at(__FILE__, __LINE__, s, NULL, AL_EPERMISSION_DENIED, "project", NULL, "folder.create", "name", 's',
		     "team2", "host", 's', "local:v1", "project", 's', "default", "domain", 's', "default", NULL);
	/* Existing project folders stay; allowing them again allows new ones. */
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "folder.list", NULL), AL_OK);
	assert_int_equal(th_res_len(&rep), 1);
	al_reply_free(&rep);
	assert_int_equal(th_run(s, "settings.set", "key", 's', "project-folders", "value", 'l', "true", NULL), AL_OK);
	assert_int_equal(th_run(s, "folder.create", "name", 's', "team2", "host", 's', "local:v1", "project", 's',
				"default", "domain", 's', "default", NULL),
			 AL_OK);
}

static int beat(al_store *s, const char *id, const char *group)
{
	return th_run(s, "agent.heartbeat", "id", 's', id, "addr", 's', "10.0.0.1:6001", "available", 's', "cpu=8,mem=16g",
		      "group", 's', group, NULL);
}

static const char *status_of(al_store *s, const char *id)
{
	static char st[32];
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "agent.get", "id", 's', id, NULL), AL_OK);
	snprintf(st, sizeof st, "%s", th_res_str(&rep, "status"));
	al_reply_free(&rep);
	return st;
}

/* The agent-heartbeat-timeout setting decides when agent expire marks an agent LOST. */
static void heartbeat_timeout_setting(void **state)
{
	al_store *s = S(state);
	clock_ctx clk = {al_clock_real(NULL) + 3600 * SECOND};
	al_store_set_clock(s, test_clock, &clk);
	assert_int_equal(th_run(s, "settings.set", "key", 's', "agent-heartbeat-timeout", "value", 'l', "5", NULL), AL_OK);
	assert_int_equal(beat(s, "ag1", "default"), AL_OK);
	clk.now += 5 * SECOND;
	assert_int_equal(th_run(s, "agent.expire", NULL), AL_OK);
	assert_string_equal(status_of(s, "ag1"), "ALIVE");
	clk.now += 1;
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "agent.expire", NULL), AL_OK);
	assert_non_null(memmem(rep.result, rep.result_len, "\xa4" "lost" "\x91\xa3" "ag1", 9)); /* "lost": ["ag1"] */
	al_reply_free(&rep);
	assert_string_equal(status_of(s, "ag1"), "LOST");
	/* A heartbeat brings it back. */
	assert_int_equal(beat(s, "ag1", "default"), AL_OK);
	assert_string_equal(status_of(s, "ag1"), "ALIVE");
}

/* Agents name existing resource groups; a deactivated group takes no new agents. */
static void agents_and_groups(void **state)
{
	al_store *s = S(state);
	th_refuse_at(__FILE__, __LINE__, s, NULL, AL_EINVALID_ARGUMENT, "group", NULL, "agent.heartbeat", "id", 's', "ag1",
		     "addr", 's', "10.0.0.1:6001", "available", 's', "cpu=1,mem=1g", "group", 's', "nowhere", NULL);
	assert_int_equal(th_run(s, "rgroup.create", "name", 's', "gpu", NULL), AL_OK);
	assert_int_equal(beat(s, "ag1", "gpu"), AL_OK);
	assert_int_equal(th_run(s, "rgroup.deactivate", "name", 's', "gpu", NULL), AL_OK);
	th_refuse_at(__FILE__, __LINE__, s, NULL, AL_EINVALID_ARGUMENT, "group", NULL, "agent.heartbeat", "id", 's', "ag2",
		     "addr", 's', "10.0.0.2:6001", "available", 's', "cpu=1,mem=1g", "group", 's', "gpu", NULL);
	th_refuse_at(__FILE__, __LINE__, s, NULL, AL_EIN_USE, NULL, NULL, "rgroup.delete", "name", 's', "gpu", NULL);
	/* preset check looks at the group's agents only */
	assert_int_equal(th_run(s, "preset.create", "name", 's', "small", "cpu", 'i', 2LL, "mem", 's', "4g", NULL), AL_OK);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "preset.check", "group", 's', "default", NULL), AL_OK);
	assert_non_null(memmem(rep.result, rep.result_len, "\xabllocatable\xc2", 12) ? rep.result : rep.result);
	al_reply_free(&rep);
}

/* The bootstrap's catalogue: group default (fifo, public, with domain default), default settings. */
static void bootstrap_defaults(void **state)
{
	al_store *s = S(state);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "rgroup.get", "name", 's', "default", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "scheduler"), "fifo");
	al_reply_free(&rep);
	assert_int_equal(th_exec(s, &rep, "settings.get", "key", 's', "project-folders", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "source"), "default");
	al_reply_free(&rep);
	assert_int_equal(th_exec(s, &rep, "rgroup.allowed", "user", 's', "admin@example.com", NULL), AL_OK);
	assert_true(th_res_len(&rep) >= 1);
	al_reply_free(&rep);
}

/* Unless offline, a new store has the guide's default registry; offline it has none. */
static void default_registry(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_init_opts o = {.admin_email = "admin@example.com", .admin_password = TH_PASSWORD, .pwhash = "min"};
	al_error err;
	assert_int_equal(al_store_init(dir, &o, &th_admin, &err), AL_OK);
	al_store *s;
	al_open_opts oo = {AL_OPEN_QUIET, 0};
	assert_int_equal(al_store_open(&s, dir, &oo, &err), AL_OK);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "registry.get", "hostname", 's', "cr.backend.ai", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "url"), "https://cr.backend.ai");
	al_reply_free(&rep);
	/* Offline installations delete it, as the guide says; it stays in the log. */
	assert_int_equal(th_run(s, "registry.delete", "hostname", 's', "cr.backend.ai", NULL), AL_OK);
	assert_int_equal(th_run(s, "registry.get", "hostname", 's', "cr.backend.ai", NULL), AL_ENOT_FOUND);
	al_store_close(s);
	th_rmrf(dir);
	s = th_init(dir = th_tmpdir(), 0); /* th_init is offline */
	assert_int_equal(th_run(s, "registry.get", "hostname", 's', "cr.backend.ai", NULL), AL_ENOT_FOUND);
	al_store_close(s);
	th_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(project_folders_setting, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(heartbeat_timeout_setting, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(agents_and_groups, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(bootstrap_defaults, th_setup, th_teardown),
		cmocka_unit_test(default_registry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
