/*
 * test_storage.c - storage hosts (name, backend, mount, quota support, capabilities, reported
 * usage) and quotas per user and project (set, unset, get with the resource policy fallback,
 * unsupported backends, who may do what), and rebuild / as-of equality after them.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define PW "Passw0rd!"
#define H "local:volume1"

/* ---- fixture: domains alpha and beta, one user per role, projects pa (alpha) and pb (beta) ---- */

typedef struct fx {
	TH_FX_HEAD;
	th_actor adm_a, adm_b, mon_a, usr_a, usr_a2, usr_b;
} fx;

static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	if (f == NULL)
		return -1;
	al_store *s = f->s;
	if (th_run(s, "domain.create", "name", 's', "alpha", NULL) || th_run(s, "domain.create", "name", 's', "beta", NULL) ||
	    th_run(s, "user-policy.create", "name", 's', "small", "max_quota_size", 's', "10g", NULL) ||
	    th_run(s, "project-policy.create", "name", 's', "tiny", "max_quota_size", 's', "1536m", NULL) ||
	    th_cast(s, (const th_member[]){TH_AB_CAST(f, "small"), {NULL}}) ||
	    th_run(s, "project.create", "name", 's', "pa", "domain", 's', "alpha", "policy", 's', "tiny", NULL) ||
	    th_run(s, "project.create", "name", 's', "pb", "domain", 's', "beta", NULL) ||
	    th_run(s, "project.add-member", "name", 's', "pa", "domain", 's', "alpha", "users", 'l', "usr-a@x.io", NULL) ||
	    th_run(s, "storage.create", "name", 's', H, "backend", 's', "xfs", "mount", 's', "/vfroot/local", NULL) ||
	    th_run(s, "storage.create", "name", 's', "nfs:home", "backend", 's', "vfs", "mount", 's', "/mnt/home", NULL))
		return -1;
	*state = f;
	return 0;
}

#define teardown th_teardown /* th_fx_free */

static const char *rep_str(int slot, char c, size_t n, const char *suffix)
{
	static char buf[4][1200];
	memset(buf[slot], c, n);
	memcpy(buf[slot] + n, suffix, strlen(suffix) + 1);
	return buf[slot];
}

/* ---- storage hosts ------------------------------------------------------------------------------- */

static void host_name_rules(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	static const char *const bad[] = {"", "local", "local:", ":volume", "a:b:c", "lo cal:v", "local:-v", ".x:v",
					  "local:vol/ume", "local:vol\x01", "l\xc3\xa9:v"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "name", "storage.create", "name", 's', bad[i], "backend", 's', "xfs",
		       "mount", 's', "/m", NULL);
	/* Each part at most 64 characters. */
	char long_name[1300];
	snprintf(long_name, sizeof long_name, "p:%s", rep_str(0, 'v', 65, ""));
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "name", "storage.create", "name", 's', long_name, "backend", 's', "xfs",
	       "mount", 's', "/m", NULL);
	snprintf(long_name, sizeof long_name, "%s:v", rep_str(0, 'p', 64, ""));
	TH_OK(s, NULL, 1, NULL, "storage.create", "name", 's', long_name, "backend", 's', "xfs", "mount", 's', "/m", NULL);
	TH_OK(s, NULL, 1, NULL, "storage.create", "name", 's', "Proxy-1.a_b:vol_2", "backend", 's', "xfs", "mount", 's',
	   "/m", NULL);
	TH_REFUSE(s, NULL, AL_EALREADY_EXISTS, "name", "storage.create", "name", 's', H, "backend", 's', "cephfs", "mount",
	       's', "/other", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "backend", "storage.create", "name", 's', "x:v", "backend", 's', "ntfs",
	       "mount", 's', "/m", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "backend", "storage.create", "name", 's', "x:v", "backend", 's', "XFS",
	       "mount", 's', "/m", NULL);
	static const char *const bad_mounts[] = {"", "mnt/x", "./x", "/a/../b", "/a/./b", "/a//b", "/a/..", "/a\nb"};
	for (size_t i = 0; i < sizeof bad_mounts / sizeof *bad_mounts; i++)
		TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "mount", "storage.create", "name", 's', "x:v", "backend", 's', "xfs",
		       "mount", 's', bad_mounts[i], NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "mount", "storage.create", "name", 's', "x:v", "backend", 's', "xfs",
	       "mount", 's', rep_str(1, 'm', 1024, ""), NULL);
	char mount[1300];
	snprintf(mount, sizeof mount, "/%s", rep_str(1, 'm', 1023, ""));
	TH_OK(s, NULL, 1, NULL, "storage.create", "name", 's', "x:v", "backend", 's', "xfs", "mount", 's', mount, NULL);
	TH_OK(s, NULL, 1, NULL, "storage.create", "name", 's', "x:root", "backend", 's', "xfs", "mount", 's', "/", NULL);
	TH_OK(s, NULL, 1, NULL, "storage.create", "name", 's', "x:trail", "backend", 's', "xfs", "mount", 's', "/a/b/", NULL);
}

static void host_backends_and_quota(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	static const struct {
		const char *backend, *quota, *caps;
	} want[] = {
		{"vfs", "false", "[\"vfolder\"]"},
		{"xfs", "true", "[\"vfolder\",\"quota\"]"},
		{"cephfs", "true", "[\"vfolder\",\"quota\"]"},
		{"netapp", "true", "[\"vfolder\",\"quota\",\"metric\"]"},
		{"purestorage", "true", "[\"vfolder\",\"quota\",\"metric\"]"},
		{"weka", "true", "[\"vfolder\",\"quota\",\"metric\"]"},
		{"gpfs", "true", "[\"vfolder\",\"quota\",\"metric\"]"},
		{"vast", "true", "[\"vfolder\",\"quota\",\"metric\"]"},
		{"dellemc-onefs", "true", "[\"vfolder\",\"quota\",\"metric\"]"},
		{"exascaler", "true", "[\"vfolder\",\"quota\"]"},
	};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		char name[64];
		al_reply rep;
		snprintf(name, sizeof name, "p%zu:v", i);
		TH_OK(s, NULL, 1, &rep, "storage.create", "name", 's', name, "backend", 's', want[i].backend, "mount", 's',
		   "/srv", NULL);
		assert_string_equal(th_res_json(&rep, "quota_supported"), want[i].quota);
		assert_string_equal(th_res_json(&rep, "capabilities"), want[i].caps);
		assert_string_equal(th_res_json(&rep, "backend"), want[i].backend[0] ? th_res_json(&rep, "backend") : "");
		assert_string_equal(th_res_str(&rep, "mount"), "/srv");
		assert_string_equal(th_res_json(&rep, "used_bytes"), "null"); /* no report yet */
		assert_int_equal(th_res_int(&rep, "version"), 1);
		al_reply_free(&rep);
	}
	/* --quota overrides the backend both ways. */
	al_reply rep;
	TH_OK(s, NULL, 1, &rep, "storage.create", "name", 's', "q:on", "backend", 's', "vfs", "mount", 's', "/q", "quota", 'b',
	   1, NULL);
	assert_string_equal(th_res_json(&rep, "quota_supported"), "true");
	assert_string_equal(th_res_json(&rep, "capabilities"), "[\"vfolder\",\"quota\"]");
	al_reply_free(&rep);
	TH_OK(s, NULL, 1, &rep, "storage.create", "name", 's', "q:off", "backend", 's', "netapp", "mount", 's', "/q", "quota",
	   'b', 0, NULL);
	assert_string_equal(th_res_json(&rep, "quota_supported"), "false");
	assert_string_equal(th_res_json(&rep, "capabilities"), "[\"vfolder\",\"metric\"]");
	al_reply_free(&rep);
}

static void host_update_get_list(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, NULL, "storage.update", "name", 's', H, NULL);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "storage.update", "name", 's', "no:such", "mount", 's', "/x", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "mount", "storage.update", "name", 's', H, "mount", 's', "rel", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "backend", "storage.update", "name", 's', H, "backend", 's', "zfs", NULL);
	/* Nothing changes: nothing recorded. */
	TH_OK(s, NULL, 0, NULL, "storage.update", "name", 's', H, "mount", 's', "/vfroot/local", "backend", 's', "xfs", NULL);
	TH_OK(s, NULL, 1, &rep, "storage.update", "name", 's', H, "mount", 's', "/vfroot/new", NULL);
	assert_string_equal(th_res_str(&rep, "mount"), "/vfroot/new");
	assert_int_equal(th_res_int(&rep, "version"), 2);
	al_reply_free(&rep);
	/* A new backend brings its quota default and capabilities. */
	TH_OK(s, NULL, 1, &rep, "storage.update", "name", 's', "nfs:home", "backend", 's', "netapp", NULL);
	assert_string_equal(th_res_json(&rep, "quota_supported"), "true");
	assert_string_equal(th_res_json(&rep, "capabilities"), "[\"vfolder\",\"quota\",\"metric\"]");
	al_reply_free(&rep);
	TH_OK(s, NULL, 1, &rep, "storage.update", "name", 's', "nfs:home", "quota", 'b', 0, NULL);
	assert_string_equal(th_res_json(&rep, "quota_supported"), "false");
	assert_string_equal(th_res_json(&rep, "capabilities"), "[\"vfolder\",\"metric\"]");
	assert_string_equal(th_res_str(&rep, "backend"), "netapp");
	al_reply_free(&rep);
	TH_OK(s, NULL, 1, &rep, "storage.update", "name", 's', "nfs:home", "backend", 's', "vfs", "quota", 'b', 1, NULL);
	assert_string_equal(th_res_json(&rep, "quota_supported"), "true");
	assert_string_equal(th_res_json(&rep, "capabilities"), "[\"vfolder\",\"quota\"]");
	al_reply_free(&rep);
	/* Quotas cannot be turned off while some are set. */
	TH_OK(s, NULL, 1, NULL, "quota.set", "host", 's', H, "user", 's', "usr-a@x.io", "hard_limit_gb", 'i', 3LL, NULL);
	TH_REFUSE(s, NULL, AL_EIN_USE, "quota", "storage.update", "name", 's', H, "quota", 'b', 0, NULL);
	TH_REFUSE(s, NULL, AL_EIN_USE, "quota", "storage.update", "name", 's', H, "backend", 's', "vfs", NULL);
	TH_OK(s, NULL, 1, NULL, "quota.unset", "host", 's', H, "user", 's', "usr-a@x.io", NULL);
	TH_OK(s, NULL, 1, NULL, "storage.update", "name", 's', H, "backend", 's', "vfs", NULL);

	TH_OK(s, NULL, 0, &rep, "storage.get", "name", 's', H, NULL);
	assert_string_equal(th_res_str(&rep, "name"), H);
	assert_string_equal(th_res_str(&rep, "backend"), "vfs");
	assert_string_equal(th_res_json(&rep, "quota_supported"), "false");
	assert_int_equal(th_res_int(&rep, "version"), 3);
	assert_non_null(th_res_str(&rep, "created_at"));
	al_reply_free(&rep);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "storage.get", "name", 's', "no:such", NULL);
	TH_OK(s, NULL, 0, &rep, "storage.list", NULL);
	assert_string_equal(th_res_column(&rep, "name"), "local:volume1,nfs:home,");
	al_reply_free(&rep);

	/* Admins and monitors read hosts; only a superadmin changes them; users neither. */
	TH_OK(s, &f->adm_a, 0, NULL, "storage.get", "name", 's', H, NULL);
	TH_OK(s, &f->mon_a, 0, NULL, "storage.list", NULL);
	TH_DENY(s, &f->usr_a, "storage.list", NULL);
	TH_DENY(s, &f->usr_a, "storage.get", "name", 's', H, NULL);
	TH_DENY(s, &f->adm_a, "storage.create", "name", 's', "a:b", "backend", 's', "xfs", "mount", 's', "/m", NULL);
	TH_DENY(s, &f->adm_a, "storage.update", "name", 's', H, "mount", 's', "/m", NULL);
}

static void host_usage(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	TH_OK(s, NULL, 1, &rep, "storage.report-usage", "name", 's', H, "used_bytes", 'i', 100LL, "capacity_bytes", 'i',
	   1000LL, NULL);
	assert_int_equal(th_res_int(&rep, "used_bytes"), 100);
	assert_int_equal(th_res_int(&rep, "capacity_bytes"), 1000);
	assert_non_null(th_res_str(&rep, "usage_reported_at"));
	al_reply_free(&rep);
	/* The same figures again: nothing recorded; a change: one event. */
	TH_OK(s, NULL, 0, NULL, "storage.report-usage", "name", 's', H, "used_bytes", 'i', 100LL, "capacity_bytes", 'i',
	   1000LL, NULL);
	TH_OK(s, NULL, 1, NULL, "storage.report-usage", "name", 's', H, "used_bytes", 'i', 101LL, "capacity_bytes", 'i',
	   1000LL, NULL);
	TH_OK(s, NULL, 1, NULL, "storage.report-usage", "name", 's', H, "used_bytes", 'i', 101LL, "capacity_bytes", 'i',
	   2000LL, NULL);
	/* A first report of zeros is still a report. */
	TH_OK(s, NULL, 1, &rep, "storage.report-usage", "name", 's', "nfs:home", "used_bytes", 'i', 0LL, "capacity_bytes",
	   'i', 0LL, NULL);
	assert_int_equal(th_res_int(&rep, "capacity_bytes"), 0);
	al_reply_free(&rep);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "used_bytes", "storage.report-usage", "name", 's', H, "used_bytes", 'i',
	       -1LL, "capacity_bytes", 'i', 10LL, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "used_bytes", "storage.report-usage", "name", 's', H, "used_bytes", 'i',
	       11LL, "capacity_bytes", 'i', 10LL, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "capacity_bytes", "storage.report-usage", "name", 's', H, "used_bytes", 'i',
	       0LL, "capacity_bytes", 'i', -5LL, NULL);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "storage.report-usage", "name", 's', "no:such", "used_bytes", 'i', 1LL,
	       "capacity_bytes", 'i', 10LL, NULL);
	TH_DENY(s, &f->adm_a, "storage.report-usage", "name", 's', H, "used_bytes", 'i', 1LL, "capacity_bytes", 'i', 10LL,
	     NULL);
	TH_OK(s, NULL, 0, &rep, "storage.get", "name", 's', H, NULL);
	assert_int_equal(th_res_int(&rep, "used_bytes"), 101);
	assert_int_equal(th_res_int(&rep, "capacity_bytes"), 2000);
	assert_int_equal(th_res_int(&rep, "version"), 4);
	al_reply_free(&rep);
}

/* ---- quotas ---------------------------------------------------------------------------------------- */

static void quota_set_unset_get(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	/* Nothing set: the user policy's max quota size (small: 10g). */
	TH_OK(s, NULL, 0, &rep, "quota.get", "host", 's', H, "user", 's', "usr-a@x.io", NULL);
	assert_string_equal(th_res_json(&rep, "hard_limit_gb"), "10");
	assert_string_equal(th_res_str(&rep, "source"), "policy");
	assert_string_equal(th_res_str(&rep, "policy"), "small");
	assert_string_equal(th_res_str(&rep, "host"), H);
	assert_memory_equal(th_res_str(&rep, "quota_scope_id"), "user:", 5);
	al_reply_free(&rep);
	TH_OK(s, NULL, 1, &rep, "quota.set", "host", 's', H, "user", 's', "usr-a@x.io", "hard_limit_gb", 'i', 20LL, NULL);
	assert_int_equal(th_res_int(&rep, "hard_limit_gb"), 20);
	assert_string_equal(th_res_str(&rep, "source"), "quota");
	al_reply_free(&rep);
	TH_OK(s, NULL, 0, &rep, "quota.get", "host", 's', H, "user", 's', "usr-a@x.io", NULL);
	assert_int_equal(th_res_int(&rep, "hard_limit_gb"), 20);
	assert_string_equal(th_res_str(&rep, "source"), "quota");
	assert_string_equal(th_res_json(&rep, "policy"), ""); /* only for the policy source */
	al_reply_free(&rep);
	/* The same limit again records nothing; another one records one event. */
	TH_OK(s, NULL, 0, NULL, "quota.set", "host", 's', H, "user", 's', "usr-a@x.io", "hard_limit_gb", 'i', 20LL, NULL);
	TH_OK(s, NULL, 1, NULL, "quota.set", "host", 's', H, "user", 's', "usr-a@x.io", "hard_limit_gb", 'i', 30LL, NULL);
	/* Unset: back to the policy, shown as such. */
	TH_OK(s, NULL, 1, &rep, "quota.unset", "host", 's', H, "user", 's', "usr-a@x.io", NULL);
	assert_string_equal(th_res_json(&rep, "hard_limit_gb"), "10");
	assert_string_equal(th_res_str(&rep, "source"), "policy");
	al_reply_free(&rep);
	TH_OK(s, NULL, 0, NULL, "quota.unset", "host", 's', H, "user", 's', "usr-a@x.io", NULL); /* none set: nothing */
	TH_OK(s, NULL, 0, &rep, "quota.get", "host", 's', H, "user", 's', "usr-a@x.io", NULL);
	assert_string_equal(th_res_str(&rep, "source"), "policy");
	al_reply_free(&rep);
	/* The policy follows the user: a later change of its policy or of the policy shows. */
	TH_OK(s, NULL, 1, NULL, "user-policy.update", "name", 's', "small", "max_quota_size", 's', "unlimited", NULL);
	TH_OK(s, NULL, 0, &rep, "quota.get", "host", 's', H, "user", 's', "usr-a@x.io", NULL);
	assert_string_equal(th_res_str(&rep, "hard_limit_gb"), "unlimited");
	al_reply_free(&rep);
	/* The default policy is unlimited. */
	TH_OK(s, NULL, 0, &rep, "quota.get", "host", 's', H, "user", 's', "usr-b@x.io", NULL);
	assert_string_equal(th_res_str(&rep, "hard_limit_gb"), "unlimited");
	assert_string_equal(th_res_str(&rep, "policy"), "default");
	al_reply_free(&rep);

	/* Projects: by name in --domain; a fractional policy size shows as a fraction. */
	TH_OK(s, NULL, 0, &rep, "quota.get", "host", 's', H, "project", 's', "pa", "domain", 's', "alpha", NULL);
	assert_string_equal(th_res_json(&rep, "hard_limit_gb"), "1.5");
	assert_string_equal(th_res_str(&rep, "source"), "policy");
	assert_string_equal(th_res_str(&rep, "policy"), "tiny");
	assert_string_equal(th_res_str(&rep, "project"), "pa");
	assert_memory_equal(th_res_str(&rep, "quota_scope_id"), "project:", 8);
	al_reply_free(&rep);
	TH_OK(s, NULL, 1, &rep, "quota.set", "host", 's', H, "project", 's', "pa", "domain", 's', "alpha", "hard_limit_gb",
	   'i', 1073741824LL, NULL);
	assert_int_equal(th_res_int(&rep, "hard_limit_gb"), 1073741824LL);
	al_reply_free(&rep);
	TH_OK(s, NULL, 0, &rep, "quota.list", NULL);
	assert_int_equal(th_res_len(&rep), 1);
	assert_string_equal(th_res_column(&rep, "scope_type"), "project,");
	assert_string_equal(th_res_column(&rep, "project"), "pa,");
	assert_string_equal(th_res_column(&rep, "domain"), "alpha,");
	al_reply_free(&rep);
	/* A renamed project keeps its quota (the scope is its id). */
	TH_OK(s, NULL, 1, NULL, "project.update", "name", 's', "pa", "domain", 's', "alpha", "new_name", 's', "pa2", NULL);
	TH_OK(s, NULL, 0, &rep, "quota.get", "host", 's', H, "project", 's', "pa2", "domain", 's', "alpha", NULL);
	assert_string_equal(th_res_str(&rep, "source"), "quota");
	al_reply_free(&rep);
	TH_OK(s, NULL, 0, &rep, "quota.list", "host", 's', H, NULL);
	assert_string_equal(th_res_column(&rep, "project"), "pa2,");
	al_reply_free(&rep);
	TH_OK(s, NULL, 0, &rep, "quota.list", "host", 's', "nfs:home", NULL);
	assert_int_equal(th_res_len(&rep), 0);
	al_reply_free(&rep);
}

static void quota_rules(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "hard_limit_gb", "quota.set", "host", 's', H, "user", 's', "usr-a@x.io",
	       "hard_limit_gb", 'i', 0LL, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "hard_limit_gb", "quota.set", "host", 's', H, "user", 's', "usr-a@x.io",
	       "hard_limit_gb", 'i', -3LL, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "hard_limit_gb", "quota.set", "host", 's', H, "user", 's', "usr-a@x.io",
	       "hard_limit_gb", 'i', 1073741825LL, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "user", "quota.set", "host", 's', H, "hard_limit_gb", 'i', 5LL, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "project", "quota.set", "host", 's', H, "user", 's', "usr-a@x.io", "project",
	       's', "pa", "hard_limit_gb", 'i', 5LL, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "domain", "quota.set", "host", 's', H, "user", 's', "usr-a@x.io", "domain",
	       's', "alpha", "hard_limit_gb", 'i', 5LL, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "host", "quota.set", "host", 's', "no:such", "user", 's', "usr-a@x.io",
	       "hard_limit_gb", 'i', 5LL, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "user", "quota.set", "host", 's', H, "user", 's', "nobody@x.io",
	       "hard_limit_gb", 'i', 5LL, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "project", "quota.set", "host", 's', H, "project", 's', "pa", "domain", 's',
	       "beta", "hard_limit_gb", 'i', 5LL, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "user", "quota.get", "host", 's', H, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "host", "quota.unset", "host", 's', "no:such", "user", 's', "usr-a@x.io",
	       NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "host", "quota.get", "host", 's', rep_str(2, 'h', 700, ":v"), "user", 's',
	       "usr-a@x.io", NULL);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "storage.get", "name", 's', rep_str(2, 'h', 700, ":v"), NULL);
	/* A backend without quota support refuses all three, and nothing is recorded. */
	TH_REFUSE(s, NULL, AL_EUNSUPPORTED, "host", "quota.set", "host", 's', "nfs:home", "user", 's', "usr-a@x.io",
	       "hard_limit_gb", 'i', 5LL, NULL);
	TH_REFUSE(s, NULL, AL_EUNSUPPORTED, "host", "quota.unset", "host", 's', "nfs:home", "project", 's', "pa", "domain",
	       's', "alpha", NULL);
	TH_REFUSE(s, NULL, AL_EUNSUPPORTED, "host", "quota.get", "host", 's', "nfs:home", "user", 's', "usr-a@x.io", NULL);
	/* ... until its support is turned on. */
	TH_OK(s, NULL, 1, NULL, "storage.update", "name", 's', "nfs:home", "quota", 'b', 1, NULL);
	TH_OK(s, NULL, 1, NULL, "quota.set", "host", 's', "nfs:home", "user", 's', "usr-a@x.io", "hard_limit_gb", 'i', 5LL,
	   NULL);
	/* Quotas are per host: the other host still follows the policy. */
	al_reply rep;
	TH_OK(s, NULL, 0, &rep, "quota.get", "host", 's', H, "user", 's', "usr-a@x.io", NULL);
	assert_string_equal(th_res_str(&rep, "source"), "policy");
	al_reply_free(&rep);
}

static void quota_who(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	/* A domain admin: users and projects of its domain only. */
	TH_OK(s, &f->adm_a, 1, NULL, "quota.set", "host", 's', H, "user", 's', "usr-a2@x.io", "hard_limit_gb", 'i', 7LL, NULL);
	TH_OK(s, &f->adm_a, 1, NULL, "quota.set", "host", 's', H, "project", 's', "pa", "hard_limit_gb", 'i', 8LL, NULL);
	TH_DENY(s, &f->adm_a, "quota.set", "host", 's', H, "user", 's', "usr-b@x.io", "hard_limit_gb", 'i', 7LL, NULL);
	TH_DENY(s, &f->adm_a, "quota.set", "host", 's', H, "project", 's', "pb", "domain", 's', "beta", "hard_limit_gb", 'i',
	     7LL, NULL);
	/* Another domain's project that does not exist: still denied, nothing learnt. */
	TH_DENY(s, &f->adm_a, "quota.set", "host", 's', H, "project", 's', "nope", "domain", 's', "beta", "hard_limit_gb",
	     'i', 7LL, NULL);
	TH_DENY(s, &f->adm_a, "quota.unset", "host", 's', H, "user", 's', "usr-b@x.io", NULL);
	TH_DENY(s, &f->adm_a, "quota.get", "host", 's', H, "user", 's', "usr-b@x.io", NULL);
	TH_OK(s, &f->adm_b, 1, NULL, "quota.set", "host", 's', H, "user", 's', "usr-b@x.io", "hard_limit_gb", 'i', 9LL, NULL);
	/* Monitors read their domain's; never write. */
	TH_OK(s, &f->mon_a, 0, NULL, "quota.get", "host", 's', H, "user", 's', "usr-a2@x.io", NULL);
	TH_DENY(s, &f->mon_a, "quota.get", "host", 's', H, "user", 's', "usr-b@x.io", NULL);
	TH_DENY(s, &f->mon_a, "quota.set", "host", 's', H, "user", 's', "usr-a2@x.io", "hard_limit_gb", 'i', 1LL, NULL);
	/* A user reads its own scope and its projects'; sets nothing. */
	TH_OK(s, &f->usr_a, 0, &rep, "quota.get", "host", 's', H, "user", 's', "usr-a@x.io", NULL);
	assert_string_equal(th_res_str(&rep, "source"), "policy");
	al_reply_free(&rep);
	TH_OK(s, &f->usr_a, 0, &rep, "quota.get", "host", 's', H, "project", 's', "pa", NULL);
	assert_int_equal(th_res_int(&rep, "hard_limit_gb"), 8);
	al_reply_free(&rep);
	TH_DENY(s, &f->usr_a2, "quota.get", "host", 's', H, "project", 's', "pa", NULL); /* not a member */
	TH_DENY(s, &f->usr_a, "quota.get", "host", 's', H, "user", 's', "usr-a2@x.io", NULL);
	TH_DENY(s, &f->usr_a, "quota.get", "host", 's', H, "project", 's', "pb", "domain", 's', "beta", NULL);
	TH_DENY(s, &f->usr_a, "quota.set", "host", 's', H, "user", 's', "usr-a@x.io", "hard_limit_gb", 'i', 1LL, NULL);
	TH_DENY(s, &f->usr_a, "quota.list", NULL);
	/* Lists: a superadmin all; a domain admin or monitor its domain's. */
	TH_OK(s, NULL, 0, &rep, "quota.list", NULL);
	assert_int_equal(th_res_len(&rep), 3);
	al_reply_free(&rep);
	TH_OK(s, &f->adm_a, 0, &rep, "quota.list", NULL);
	assert_int_equal(th_res_len(&rep), 2);
	assert_string_equal(th_res_column(&rep, "domain"), "alpha,alpha,");
	al_reply_free(&rep);
	TH_OK(s, &f->mon_a, 0, &rep, "quota.list", NULL);
	assert_int_equal(th_res_len(&rep), 2);
	al_reply_free(&rep);
	TH_OK(s, &f->adm_b, 0, &rep, "quota.list", NULL);
	assert_string_equal(th_res_column(&rep, "user"), "usr-b@x.io,");
	al_reply_free(&rep);
	/* A user who moves to another domain takes its quota along: now beta's admin manages it. */
	TH_OK(s, NULL, 1, NULL, "user.update", "email", 's', "usr-a2@x.io", "domain", 's', "beta", NULL);
	TH_OK(s, &f->adm_b, 0, &rep, "quota.list", NULL);
	assert_int_equal(th_res_len(&rep), 2);
	al_reply_free(&rep);
	TH_OK(s, &f->adm_b, 1, NULL, "quota.unset", "host", 's', H, "user", 's', "usr-a2@x.io", NULL);
	TH_DENY(s, &f->adm_a, "quota.set", "host", 's', H, "user", 's', "usr-a2@x.io", "hard_limit_gb", 'i', 1LL, NULL);
}

static int count_event(const al_event *e, void *ctx)
{
	(void)e;
	++*(int *)ctx;
	return 0;
}

static void quota_history(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	TH_OK(s, NULL, 1, NULL, "quota.set", "host", 's', H, "user", 's', "usr-a@x.io", "hard_limit_gb", 'i', 4LL, NULL);
	TH_OK(s, NULL, 1, NULL, "quota.unset", "host", 's', H, "user", 's', "usr-a@x.io", NULL);
	TH_OK(s, NULL, 1, &rep, "quota.set", "host", 's', H, "user", 's', "usr-a@x.io", "hard_limit_gb", 'i', 6LL, NULL);
	char scope[128];
	snprintf(scope, sizeof scope, "%s", th_res_str(&rep, "quota_scope_id"));
	al_reply_free(&rep);
	/* The quota's events are one entity: HOST/SCOPE, with the fields for the audit. */
	char entity[256];
	snprintf(entity, sizeof entity, "quota:%s/%s", H, scope);
	al_log_filter flt = {.entity = entity};
	int n = 0;
	al_error err;
	assert_int_equal(al_log_query(s, &flt, count_event, &n, &err), AL_OK);
	assert_int_equal(n, 3);
}

/* ---- rebuild and as-of ------------------------------------------------------------------------------ */

static void rebuild_and_asof(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	TH_OK(s, NULL, 1, NULL, "storage.report-usage", "name", 's', H, "used_bytes", 'i', 5LL, "capacity_bytes", 'i', 50LL,
	   NULL);
	TH_OK(s, NULL, 1, NULL, "quota.set", "host", 's', H, "user", 's', "usr-a@x.io", "hard_limit_gb", 'i', 4LL, NULL);
	TH_OK(s, NULL, 1, NULL, "quota.set", "host", 's', H, "project", 's', "pb", "domain", 's', "beta", "hard_limit_gb",
	   'i', 4LL, NULL);
	uint64_t mid = al_log_head(s);
	char at_mid[33], live[33], rebuilt[33], d[33];
	th_digest(s, at_mid);
	TH_OK(s, NULL, 1, NULL, "quota.unset", "host", 's', H, "user", 's', "usr-a@x.io", NULL);
	TH_OK(s, NULL, 1, NULL, "storage.update", "name", 's', H, "mount", 's', "/elsewhere", NULL);
	TH_OK(s, NULL, 1, NULL, "storage.report-usage", "name", 's', H, "used_bytes", 'i', 6LL, "capacity_bytes", 'i', 50LL,
	   NULL);
	th_digest(s, live);
	al_error err;
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	al_store *past;
	assert_int_equal(al_store_asof(s, mid, &past, &err), AL_OK);
	th_digest(past, d);
	assert_string_equal(d, at_mid);
	al_reply rep;
	assert_int_equal(th_exec(past, &rep, "quota.list", NULL), AL_OK);
	assert_int_equal(th_res_len(&rep), 2);
	al_reply_free(&rep);
	al_store_close(past);
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(host_name_rules), T(host_backends_and_quota), T(host_update_get_list), T(host_usage),
		T(quota_set_unset_get), T(quota_rules), T(quota_who), T(quota_history), T(rebuild_and_asof),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
