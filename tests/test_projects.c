/*
 * test_projects.c - domains (fields, update, deactivation, scoped reads) and projects (rules,
 * uniqueness per domain, membership, the permission matrix, the nouns.h functions other modules
 * call), and rebuild / as-of equality after a sequence of them.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "nouns/nouns.h"

#define PW "Passw0rd!"

/* ---- fixture: domains alpha and beta, and one user per role ---------------------------------- */

typedef struct fx {
	TH_FX_HEAD;
	th_actor super, adm_a, adm_b, mon_a, usr_a, usr_a2, usr_b;
	long base_projects; /* what the bootstrap made, if anything */
} fx;

static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	if (f == NULL)
		return -1;
	al_store *s = f->s;
	if (th_run(s, "domain.create", "name", 's', "alpha", NULL) || th_run(s, "domain.create", "name", 's', "beta", NULL) ||
	    th_cast(s, (const th_member[]){TH_AB_CAST(f, NULL), {NULL}}) || th_as(s, "admin@example.com", &f->super))
		return -1;
	al_reply rep;
	if (th_exec(s, &rep, "project.list", NULL) != AL_OK)
		return -1;
	f->base_projects = th_res_len(&rep);
	al_reply_free(&rep);
	*state = f;
	return 0;
}

#define teardown th_teardown /* th_fx_free */

static const char *rep_str(int slot, char c, size_t n)
{
	static char buf[4][1024];
	memset(buf[slot], c, n);
	buf[slot][n] = 0;
	return buf[slot];
}

typedef struct evscan {
	int n;
	char last[2048]; /* the last matching event as JSON */
} evscan;

static int scan_cb(const al_event *e, void *ctx)
{
	evscan *x = ctx;
	x->n++;
	FILE *f = fmemopen(x->last, sizeof x->last, "w");
	al_event_write_json(e, f);
	fclose(f);
	return 0;
}

/* How many events of type are about entity ("project:<id>"); the last one as JSON in x. */
static int events_of(al_store *s, const char *entity, const char *type, evscan *x)
{
	al_log_filter lf = {.entity = entity, .type = type};
	al_error err = {0};
	memset(x, 0, sizeof *x);
	assert_int_equal(al_log_query(s, &lf, scan_cb, x, &err), AL_OK);
	return x->n;
}

/* The project's field through project.get as the superadmin. */
static const char *project_field(al_store *s, const char *domain, const char *name, const char *key)
{
	static char buf[4096];
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "project.get", "name", 's', name, "domain", 's', domain, NULL), AL_OK);
	snprintf(buf, sizeof buf, "%s", th_res_json(&rep, key));
	al_reply_free(&rep);
	return buf;
}

/* ---- domains ------------------------------------------------------------------------------------ */

static void domain_fields(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	TH_OK(s, NULL, 1, &rep, "domain.create", "name", 's', "gamma", "description", 's', "The third",
	   "total_resource_slots", 's', "mem=32g,cpu=8,cuda.shares=2.5", "allowed_hosts", 's',
	   "local:vol1:mount-in-session,local:vol1:upload-file,nfs:data:all", "allowed_registries", 'l',
	   "index.docker.io,cr.backend.ai,localhost:5000", NULL);
	assert_string_equal(th_res_json(&rep, "description"), "\"The third\"");
	assert_string_equal(th_res_json(&rep, "is_active"), "true");
	assert_string_equal(th_res_json(&rep, "total_resource_slots"), "{\"cpu\":8,\"cuda.shares\":2.5,\"mem\":34359738368}");
	assert_string_equal(th_res_json(&rep, "allowed_vfolder_hosts"),
			    "{\"local:vol1\":[\"mount-in-session\",\"upload-file\"],\"nfs:data\":[\"create-vfolder\","
			    "\"modify-vfolder\",\"delete-vfolder\",\"mount-in-session\",\"upload-file\",\"download-file\","
			    "\"invite-others\",\"set-user-specific-permission\"]}");
	assert_string_equal(th_res_json(&rep, "allowed_docker_registries"),
			    "[\"cr.backend.ai\",\"index.docker.io\",\"localhost:5000\"]");
	assert_string_equal(th_res_json(&rep, "version"), "1");
	al_reply_free(&rep);
	/* get returns what create stored. */
	TH_OK(s, NULL, 0, &rep, "domain.get", "name", 's', "gamma", NULL);
	assert_string_equal(th_res_json(&rep, "total_resource_slots"), "{\"cpu\":8,\"cuda.shares\":2.5,\"mem\":34359738368}");
	assert_string_equal(th_res_json(&rep, "allowed_docker_registries"),
			    "[\"cr.backend.ai\",\"index.docker.io\",\"localhost:5000\"]");
	al_reply_free(&rep);
	/* Defaults: no slots (all unlimited), no hosts, no registries. */
	TH_OK(s, NULL, 0, &rep, "domain.get", "name", 's', "alpha", NULL);
	assert_string_equal(th_res_json(&rep, "total_resource_slots"), "{}");
	assert_string_equal(th_res_json(&rep, "allowed_vfolder_hosts"), "{}");
	assert_string_equal(th_res_json(&rep, "allowed_docker_registries"), "[]");
	assert_string_equal(th_res_json(&rep, "description"), "\"\"");
	al_reply_free(&rep);

	/* The description holds 512 characters (not bytes). */
	TH_OK(s, NULL, 1, NULL, "domain.create", "name", 's', "d512", "description", 's', rep_str(0, 'x', 512), NULL);
	char utf[1100] = "";
	for (int i = 0; i < 512; i++)
		strcat(utf, "\xc3\xa9");
	TH_OK(s, NULL, 1, NULL, "domain.create", "name", 's', "d512u", "description", 's', utf, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "description", "domain.create", "name", 's', "d513", "description", 's',
	       rep_str(0, 'x', 513), NULL);
	/* Slots, hosts and registries are checked, each naming its argument. */
	static const char *const bad_slots[] = {"cpu", "cpu=-1", "cpu=x", "mem=12q", "cpu=1,cpu=2", "CPU=1", "cpu=1,", "=4"};
	for (size_t i = 0; i < sizeof bad_slots / sizeof *bad_slots; i++)
		TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "total_resource_slots", "domain.create", "name", 's', "bad",
		       "total_resource_slots", 's', bad_slots[i], NULL);
	static const char *const bad_hosts[] = {"local", "local:vol1", "local:vol1:fly", "local:vol1:all,"};
	for (size_t i = 0; i < sizeof bad_hosts / sizeof *bad_hosts; i++)
		TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "allowed_hosts", "domain.create", "name", 's', "bad", "allowed_hosts",
		       's', bad_hosts[i], NULL);
	static const char *const bad_regs[] = {"http://cr.io", "cr..io", "-cr.io", "cr-.io", "cr.io:0", "cr.io:65536",
					       "cr.io:http", "cr.io:", "cr io", "cr.io/path", "a,a", "x,", "\xc3\xa9.io",
					       "Cr.io" /* registries are named in lower case, as registry create wants */};
	for (size_t i = 0; i < sizeof bad_regs / sizeof *bad_regs; i++)
		TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "allowed_registries", "domain.create", "name", 's', "bad",
		       "allowed_registries", 'l', bad_regs[i], NULL);
	TH_OK(s, NULL, 1, &rep, "domain.create", "name", 's', "regs", "allowed_registries", 'l',
	   "10.0.0.1:443,x9,a-b.example.com", NULL);
	assert_string_equal(th_res_json(&rep, "allowed_docker_registries"), "[\"10.0.0.1:443\",\"a-b.example.com\",\"x9\"]");
	al_reply_free(&rep);
	/* Uniqueness is checked after every field rule. */
	TH_REFUSE(s, NULL, AL_EALREADY_EXISTS, "name", "domain.create", "name", 's', "gamma", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "total_resource_slots", "domain.create", "name", 's', "gamma",
	       "total_resource_slots", 's', "cpu", NULL);
}

static void domain_update(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	TH_OK(s, NULL, 1, &rep, "domain.update", "name", 's', "alpha", "description", 's', "Team A", "total_resource_slots",
	   's', "cpu=4", "allowed_hosts", 's', "local:v:upload-file", "allowed_registries", 'l', "cr.backend.ai", NULL);
	assert_string_equal(th_res_json(&rep, "description"), "\"Team A\"");
	assert_string_equal(th_res_json(&rep, "total_resource_slots"), "{\"cpu\":4}");
	assert_string_equal(th_res_json(&rep, "allowed_vfolder_hosts"), "{\"local:v\":[\"upload-file\"]}");
	assert_string_equal(th_res_json(&rep, "allowed_docker_registries"), "[\"cr.backend.ai\"]");
	assert_string_equal(th_res_json(&rep, "version"), "2");
	al_reply_free(&rep);
	/* The same values again change nothing and record nothing. */
	TH_OK(s, NULL, 0, &rep, "domain.update", "name", 's', "alpha", "description", 's', "Team A", "total_resource_slots",
	   's', "cpu=4", "allowed_hosts", 's', "local:v:upload-file", "allowed_registries", 'l', "cr.backend.ai", NULL);
	assert_string_equal(th_res_json(&rep, "version"), "2");
	al_reply_free(&rep);
	/* Only the changed fields are recorded; the others stay. */
	TH_OK(s, NULL, 1, &rep, "domain.update", "name", 's', "alpha", "description", 's', "Team A", "total_resource_slots",
	   's', "cpu=4,mem=1g", NULL);
	assert_string_equal(th_res_json(&rep, "total_resource_slots"), "{\"cpu\":4,\"mem\":1073741824}");
	assert_string_equal(th_res_json(&rep, "allowed_docker_registries"), "[\"cr.backend.ai\"]");
	al_reply_free(&rep);
	evscan ev;
	assert_int_equal(events_of(s, "domain:alpha", "domain.updated", &ev), 2);
	assert_non_null(strstr(ev.last, "\"total_resource_slots\":{\"cpu\":4,\"mem\":1073741824}"));
	assert_null(strstr(ev.last, "description")); /* unchanged fields are not recorded */
	/* "" clears: no limits, no hosts, no registries. */
	TH_OK(s, NULL, 1, &rep, "domain.update", "name", 's', "alpha", "total_resource_slots", 's', "", "allowed_hosts", 's',
	   "", "allowed_registries", 'l', "", NULL);
	assert_string_equal(th_res_json(&rep, "total_resource_slots"), "{}");
	assert_string_equal(th_res_json(&rep, "allowed_vfolder_hosts"), "{}");
	assert_string_equal(th_res_json(&rep, "allowed_docker_registries"), "[]");
	assert_string_equal(th_res_json(&rep, "description"), "\"Team A\"");
	al_reply_free(&rep);

	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, NULL, "domain.update", "name", 's', "alpha", NULL);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "domain.update", "name", 's', "nowhere", "description", 's', "x", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "description", "domain.update", "name", 's', "alpha", "description", 's',
	       rep_str(0, 'x', 513), NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "total_resource_slots", "domain.update", "name", 's', "alpha",
	       "total_resource_slots", 's', "cpu=many", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "allowed_hosts", "domain.update", "name", 's', "alpha", "allowed_hosts",
	       's', "local:v:nope", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "allowed_registries", "domain.update", "name", 's', "alpha",
	       "allowed_registries", 'l', "a b", NULL);
	/* A bad field refuses the whole update, even with a good one beside it. */
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "allowed_hosts", "domain.update", "name", 's', "alpha", "description",
	       's', "changed", "allowed_hosts", 's', "x", NULL);
	TH_OK(s, NULL, 0, &rep, "domain.get", "name", 's', "alpha", NULL);
	assert_string_equal(th_res_json(&rep, "description"), "\"Team A\"");
	al_reply_free(&rep);
	/* The name cannot change: there is no argument for it. */
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "new_name", "domain.update", "name", 's', "alpha", "new_name", 's', "x",
	       NULL);
}

static void domain_deactivation(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	TH_OK(s, NULL, 1, &rep, "domain.deactivate", "name", 's', "beta", NULL);
	assert_string_equal(th_res_json(&rep, "is_active"), "false");
	al_reply_free(&rep);
	TH_OK(s, NULL, 0, &rep, "domain.deactivate", "name", 's', "beta", NULL); /* already: nothing recorded */
	assert_string_equal(th_res_json(&rep, "is_active"), "false");
	al_reply_free(&rep);
	/* An inactive domain takes no new projects; it still answers get and list. */
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "domain", "project.create", "name", 's', "p", "domain", 's', "beta", NULL);
	TH_OK(s, NULL, 0, &rep, "domain.list", NULL);
	assert_string_equal(th_res_column(&rep, "name"), "alpha,beta,default,");
	assert_string_equal(th_res_column(&rep, "is_active"), "true,false,true,");
	al_reply_free(&rep);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "domain.deactivate", "name", 's', "nowhere", NULL);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "domain.activate", "name", 's', "nowhere", NULL);
	TH_OK(s, NULL, 1, &rep, "domain.activate", "name", 's', "beta", NULL);
	assert_string_equal(th_res_json(&rep, "is_active"), "true");
	assert_string_equal(th_res_json(&rep, "version"), "3");
	al_reply_free(&rep);
	TH_OK(s, NULL, 0, NULL, "domain.activate", "name", 's', "beta", NULL);
	TH_OK(s, NULL, 1, NULL, "project.create", "name", 's', "p", "domain", 's', "beta", NULL);
	/* Deactivation keeps the projects and their members. */
	TH_OK(s, NULL, 1, NULL, "project.add-member", "name", 's', "p", "domain", 's', "beta", "users", 'l', "usr-b@x.io",
	   NULL);
	TH_OK(s, NULL, 1, NULL, "domain.deactivate", "name", 's', "beta", NULL);
	assert_string_equal(project_field(s, "beta", "p", "members"), "[\"usr-b@x.io\"]");
}

static void domain_scoping(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	/* domain.get: a superadmin any; admin, monitor and user only their own. */
	const th_actor *own[] = {&f->super, &f->adm_a, &f->mon_a, &f->usr_a};
	for (size_t i = 0; i < 4; i++) {
		TH_OK(s, own[i], 0, &rep, "domain.get", "name", 's', "alpha", NULL);
		assert_string_equal(th_res_json(&rep, "name"), "\"alpha\"");
		al_reply_free(&rep);
	}
	TH_OK(s, &f->super, 0, NULL, "domain.get", "name", 's', "beta", NULL);
	TH_DENY(s, &f->adm_b, "domain.get", "name", 's', "alpha", NULL);
	TH_DENY(s, &f->usr_b, "domain.get", "name", 's', "alpha", NULL);
	TH_DENY(s, &f->usr_a, "domain.get", "name", 's', "default", NULL);
	/* Another domain's existence is not revealed: a missing one is denied as well. */
	TH_DENY(s, &f->adm_a, "domain.get", "name", 's', "nowhere", NULL);
	TH_REFUSE(s, &f->super, AL_ENOT_FOUND, NULL, "domain.get", "name", 's', "nowhere", NULL);
	/* domain.list: a superadmin all, a domain admin or monitor its own, a user none. */
	TH_OK(s, &f->super, 0, &rep, "domain.list", NULL);
	assert_string_equal(th_res_column(&rep, "name"), "alpha,beta,default,");
	al_reply_free(&rep);
	TH_OK(s, &f->adm_a, 0, &rep, "domain.list", NULL);
	assert_string_equal(th_res_column(&rep, "name"), "alpha,");
	al_reply_free(&rep);
	TH_OK(s, &f->mon_a, 0, &rep, "domain.list", NULL);
	assert_string_equal(th_res_column(&rep, "name"), "alpha,");
	al_reply_free(&rep);
	TH_OK(s, &f->adm_b, 0, &rep, "domain.list", NULL);
	assert_string_equal(th_res_column(&rep, "name"), "beta,");
	al_reply_free(&rep);
	TH_DENY(s, &f->usr_a, "domain.list", NULL);
	/* Writes: superadmin only. */
	const th_actor *others[] = {&f->adm_a, &f->mon_a, &f->usr_a};
	for (size_t i = 0; i < 3; i++) {
		TH_DENY(s, others[i], "domain.create", "name", 's', "mine", NULL);
		TH_DENY(s, others[i], "domain.update", "name", 's', "alpha", "description", 's', "mine", NULL);
		TH_DENY(s, others[i], "domain.deactivate", "name", 's', "alpha", NULL);
		TH_DENY(s, others[i], "domain.activate", "name", 's', "alpha", NULL);
	}
	TH_OK(s, &f->super, 1, NULL, "domain.update", "name", 's', "alpha", "description", 's', "by super", NULL);
}

/* ---- projects ------------------------------------------------------------------------------------ */

static void project_rules(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	TH_OK(s, NULL, 1, &rep, "project.create", "name", 's', "ml", "domain", 's', "alpha", NULL);
	char id[64];
	snprintf(id, sizeof id, "%s", th_res_str(&rep, "id"));
	assert_int_equal(strlen(id), 36);
	assert_int_equal(id[14], '4'); /* a version-4 UUID */
	assert_string_equal(th_res_json(&rep, "type"), "\"general\"");
	assert_string_equal(th_res_json(&rep, "resource_policy"), "\"default\"");
	assert_string_equal(th_res_json(&rep, "is_active"), "true");
	assert_string_equal(th_res_json(&rep, "domain"), "\"alpha\"");
	assert_string_equal(th_res_json(&rep, "description"), "\"\"");
	assert_string_equal(th_res_json(&rep, "members"), "[]");
	assert_string_equal(th_res_json(&rep, "total_resource_slots"), "{}");
	assert_string_equal(th_res_json(&rep, "version"), "1");
	al_reply_free(&rep);
	/* The event is about the project's id and carries every field. */
	char entity[80];
	evscan ev;
	snprintf(entity, sizeof entity, "project:%s", id);
	assert_int_equal(events_of(s, entity, "project.created", &ev), 1);
	assert_non_null(strstr(ev.last, "\"name\":\"ml\""));
	assert_non_null(strstr(ev.last, "\"domain\":\"alpha\""));
	assert_non_null(strstr(ev.last, "\"type\":\"general\""));
	assert_non_null(strstr(ev.last, "\"resource_policy\":\"default\""));

	TH_OK(s, NULL, 1, &rep, "project.create", "name", 's', "store.1", "domain", 's', "alpha", "description", 's',
	   rep_str(0, 'd', 512), "type", 's', "model-store", "policy", 's', "default", "total_resource_slots", 's',
	   "cpu=2,mem=4g", "allowed_hosts", 's', "local:v:mount-in-session", "allowed_registries", 'l',
	   "cr.backend.ai", NULL);
	assert_string_equal(th_res_json(&rep, "type"), "\"model-store\"");
	assert_string_equal(th_res_json(&rep, "total_resource_slots"), "{\"cpu\":2,\"mem\":4294967296}");
	assert_string_equal(th_res_json(&rep, "allowed_vfolder_hosts"), "{\"local:v\":[\"mount-in-session\"]}");
	assert_string_equal(th_res_json(&rep, "allowed_docker_registries"), "[\"cr.backend.ai\"]");
	al_reply_free(&rep);
	assert_string_equal(project_field(s, "alpha", "store.1", "total_resource_slots"), "{\"cpu\":2,\"mem\":4294967296}");

	/* Names: the slug rule, at most 64. */
	TH_OK(s, NULL, 1, NULL, "project.create", "name", 's', rep_str(0, 'n', 64), "domain", 's', "alpha", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "name", "project.create", "name", 's', rep_str(0, 'n', 65), "domain", 's',
	       "alpha", NULL);
	static const char *const bad[] = {"", "-a", "a-", ".a", "a b", "a/b", "\xc3\xa9t\xc3\xa9", "a\nb"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "name", "project.create", "name", 's', bad[i], "domain", 's', "alpha",
		       NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "name", "project.create", "domain", 's', "alpha", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "description", "project.create", "name", 's', "p", "domain", 's', "alpha",
	       "description", 's', rep_str(0, 'd', 513), NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "type", "project.create", "name", 's', "p", "domain", 's', "alpha", "type",
	       's', "GENERAL", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "domain", "project.create", "name", 's', "p", "domain", 's', "nowhere",
	       NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "total_resource_slots", "project.create", "name", 's', "p", "domain", 's',
	       "alpha", "total_resource_slots", 's', "gpu", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "allowed_hosts", "project.create", "name", 's', "p", "domain", 's', "alpha",
	       "allowed_hosts", 's', "nohost", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "allowed_registries", "project.create", "name", 's', "p", "domain", 's',
	       "alpha", "allowed_registries", 'l', "a..b", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "bogus", "project.create", "name", 's', "p", "bogus", 's', "x", NULL);

	/* Unique within a domain; the same name in another domain is another project. */
	TH_REFUSE(s, NULL, AL_EALREADY_EXISTS, "name", "project.create", "name", 's', "ml", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 1, &rep, "project.create", "name", 's', "ml", "domain", 's', "beta", NULL);
	assert_string_not_equal(th_res_str(&rep, "id"), id);
	al_reply_free(&rep);
	TH_OK(s, NULL, 1, NULL, "project.create", "name", 's', "ML", "domain", 's', "alpha", NULL); /* case matters */
	/* No --domain: the actor's own domain (the test superadmin has none: default). */
	TH_OK(s, NULL, 1, &rep, "project.create", "name", 's', "ml", NULL);
	assert_string_equal(th_res_json(&rep, "domain"), "\"default\"");
	al_reply_free(&rep);
	TH_OK(s, &f->adm_a, 1, &rep, "project.create", "name", 's', "own", NULL);
	assert_string_equal(th_res_json(&rep, "domain"), "\"alpha\"");
	al_reply_free(&rep);

	/* get, and not_found. */
	TH_OK(s, NULL, 0, &rep, "project.get", "name", 's', "ml", "domain", 's', "alpha", NULL);
	assert_string_equal(th_res_str(&rep, "id"), id);
	al_reply_free(&rep);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "project.get", "name", 's', "nope", "domain", 's', "alpha", NULL);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "project.get", "name", 's', "ml", "domain", 's', "nowhere", NULL);
	/* list: by domain, then name. */
	TH_OK(s, NULL, 0, &rep, "project.list", NULL); /* also any project the bootstrap made */
	assert_int_equal(th_res_len(&rep), f->base_projects + 7);
	assert_non_null(strstr(th_res_column(&rep, "domain"), "alpha,alpha,alpha,alpha,alpha,beta,default,"));
	al_reply_free(&rep);
	TH_OK(s, NULL, 0, &rep, "project.list", "domain", 's', "alpha", NULL);
	char want[300];
	snprintf(want, sizeof want, "ML,ml,%.64s,own,store.1,", rep_str(0, 'n', 64));
	assert_string_equal(th_res_column(&rep, "name"), want);
	assert_string_equal(th_res_column(&rep, "member_count"), "0,0,0,0,0,");
	al_reply_free(&rep);
	TH_OK(s, NULL, 0, &rep, "project.list", "domain", 's', "nowhere", NULL);
	assert_int_equal(th_res_len(&rep), 0);
	al_reply_free(&rep);
	/* expected_version needs an entity target; project commands name projects by name. */
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "expected_version", "project.update", "name", 's', "ml", "domain", 's',
	       "alpha", "description", 's', "x", "expected_version", 'i', 1LL, NULL);
}

static void project_update(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	TH_OK(s, NULL, 1, &rep, "project.create", "name", 's', "web", "domain", 's', "alpha", NULL);
	char id[64];
	snprintf(id, sizeof id, "%s", th_res_str(&rep, "id"));
	al_reply_free(&rep);
	TH_OK(s, NULL, 1, NULL, "project.create", "name", 's', "taken", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 1, NULL, "project.add-member", "name", 's', "web", "domain", 's', "alpha", "users", 'l', "usr-a@x.io",
	   NULL);
	TH_OK(s, NULL, 1, &rep, "project.update", "name", 's', "web", "domain", 's', "alpha", "description", 's', "Web team",
	   "type", 's', "model-store", "policy", 's', "default", "total_resource_slots", 's', "cpu=1", "allowed_hosts",
	   's', "local:v:all", "allowed_registries", 'l', "cr.io", NULL);
	assert_string_equal(th_res_json(&rep, "description"), "\"Web team\"");
	assert_string_equal(th_res_json(&rep, "type"), "\"model-store\"");
	assert_string_equal(th_res_json(&rep, "total_resource_slots"), "{\"cpu\":1}");
	assert_string_equal(th_res_json(&rep, "allowed_docker_registries"), "[\"cr.io\"]");
	assert_string_equal(th_res_json(&rep, "members"), "[\"usr-a@x.io\"]");
	al_reply_free(&rep);
	/* Nothing changed: nothing recorded. */
	TH_OK(s, NULL, 0, NULL, "project.update", "name", 's', "web", "domain", 's', "alpha", "description", 's', "Web team",
	   "total_resource_slots", 's', "cpu=1", "allowed_registries", 'l', "cr.io", NULL);
	/* Rename: the id, the members and the history stay. */
	TH_OK(s, NULL, 1, &rep, "project.update", "name", 's', "web", "domain", 's', "alpha", "new_name", 's', "www", NULL);
	assert_string_equal(th_res_str(&rep, "id"), id);
	assert_string_equal(th_res_json(&rep, "name"), "\"www\"");
	assert_string_equal(th_res_json(&rep, "version"), "4");
	al_reply_free(&rep);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "project.get", "name", 's', "web", "domain", 's', "alpha", NULL);
	assert_string_equal(project_field(s, "alpha", "www", "members"), "[\"usr-a@x.io\"]");
	assert_string_equal(project_field(s, "alpha", "www", "description"), "\"Web team\"");
	TH_OK(s, NULL, 1, NULL, "project.create", "name", 's', "web", "domain", 's', "alpha", NULL); /* the old name is free */
	TH_REFUSE(s, NULL, AL_EALREADY_EXISTS, "new_name", "project.update", "name", 's', "www", "domain", 's', "alpha",
	       "new_name", 's', "taken", NULL);
	TH_OK(s, NULL, 0, NULL, "project.update", "name", 's', "www", "domain", 's', "alpha", "new_name", 's', "www", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "new_name", "project.update", "name", 's', "www", "domain", 's', "alpha",
	       "new_name", 's', "bad name", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, NULL, "project.update", "name", 's', "www", "domain", 's', "alpha", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "type", "project.update", "name", 's', "www", "domain", 's', "alpha",
	       "type", 's', "private", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "description", "project.update", "name", 's', "www", "domain", 's', "alpha",
	       "description", 's', rep_str(0, 'x', 513), NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "total_resource_slots", "project.update", "name", 's', "www", "domain", 's',
	       "alpha", "total_resource_slots", 's', "cpu=", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "allowed_registries", "project.update", "name", 's', "www", "domain", 's',
	       "alpha", "description", 's', "ok", "allowed_registries", 'l', "x,x", NULL);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "project.update", "name", 's', "nope", "domain", 's', "alpha", "description",
	       's', "x", NULL);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "project.update", "name", 's', "www", "domain", 's', "beta", "description",
	       's', "x", NULL);
	/* "" clears the resource fields. */
	TH_OK(s, NULL, 1, &rep, "project.update", "name", 's', "www", "domain", 's', "alpha", "total_resource_slots", 's',
	   "", "allowed_hosts", 's', "", "allowed_registries", 'l', "", NULL);
	assert_string_equal(th_res_json(&rep, "total_resource_slots"), "{}");
	assert_string_equal(th_res_json(&rep, "allowed_vfolder_hosts"), "{}");
	assert_string_equal(th_res_json(&rep, "allowed_docker_registries"), "[]");
	al_reply_free(&rep);
}

static void project_deactivation(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	TH_OK(s, NULL, 1, NULL, "project.create", "name", 's', "old", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 1, NULL, "project.add-member", "name", 's', "old", "domain", 's', "alpha", "users", 'l', "usr-a@x.io",
	   NULL);
	TH_OK(s, NULL, 1, &rep, "project.deactivate", "name", 's', "old", "domain", 's', "alpha", NULL);
	assert_string_equal(th_res_json(&rep, "is_active"), "false");
	assert_string_equal(th_res_json(&rep, "members"), "[\"usr-a@x.io\"]");
	al_reply_free(&rep);
	TH_OK(s, NULL, 0, NULL, "project.deactivate", "name", 's', "old", "domain", 's', "alpha", NULL);
	/* An inactive project takes no new members; removing works; its name stays taken. */
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "name", "project.add-member", "name", 's', "old", "domain", 's', "alpha",
	       "users", 'l', "usr-a2@x.io", NULL);
	TH_OK(s, NULL, 1, NULL, "project.remove-member", "name", 's', "old", "domain", 's', "alpha", "users", 'l',
	   "usr-a@x.io", NULL);
	TH_REFUSE(s, NULL, AL_EALREADY_EXISTS, "name", "project.create", "name", 's', "old", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 0, &rep, "project.list", "domain", 's', "alpha", NULL);
	assert_string_equal(th_res_column(&rep, "is_active"), "false,");
	al_reply_free(&rep);
	TH_OK(s, NULL, 1, &rep, "project.activate", "name", 's', "old", "domain", 's', "alpha", NULL);
	assert_string_equal(th_res_json(&rep, "is_active"), "true");
	al_reply_free(&rep);
	TH_OK(s, NULL, 0, NULL, "project.activate", "name", 's', "old", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 1, NULL, "project.add-member", "name", 's', "old", "domain", 's', "alpha", "users", 'l', "usr-a2@x.io",
	   NULL);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "project.deactivate", "name", 's', "none", "domain", 's', "alpha", NULL);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "project.activate", "name", 's', "none", "domain", 's', "alpha", NULL);
}

/* The id of a user, through user.get. */
static void user_id(al_store *s, const char *email, char *out, size_t n)
{
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', email, NULL), AL_OK);
	snprintf(out, n, "%s", th_res_str(&rep, "id"));
	al_reply_free(&rep);
}

static void project_members(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	TH_OK(s, NULL, 1, NULL, "project.create", "name", 's', "team", "domain", 's', "alpha", NULL);
	/* By email and by user id, several in one command: one event each. */
	char id_a2[64], ids[256];
	user_id(s, "usr-a2@x.io", id_a2, sizeof id_a2);
	snprintf(ids, sizeof ids, "usr-a@x.io,%s", id_a2);
	TH_OK(s, NULL, 2, &rep, "project.add-member", "name", 's', "team", "domain", 's', "alpha", "users", 'l', ids, NULL);
	assert_string_equal(th_res_json(&rep, "members"), "[\"usr-a2@x.io\",\"usr-a@x.io\"]");
	al_reply_free(&rep);
	/* Members already in: nothing recorded; a user named twice counts once. */
	TH_OK(s, NULL, 0, NULL, "project.add-member", "name", 's', "team", "domain", 's', "alpha", "users", 'l', ids, NULL);
	TH_OK(s, NULL, 1, &rep, "project.add-member", "name", 's', "team", "domain", 's', "alpha", "users", 'l',
	   "mon-a@x.io,mon-a@x.io,usr-a@x.io", NULL);
	assert_string_equal(th_res_json(&rep, "members"), "[\"mon-a@x.io\",\"usr-a2@x.io\",\"usr-a@x.io\"]");
	al_reply_free(&rep);
	/* A user of another domain, or no user at all: refused, naming users and the user, and
	 * nothing recorded for the good names beside it. */
	uint64_t head = al_log_head(s);
	al_request req;
	size_t len;
	char *args = th_args(&len, "name", 's', "team", "domain", 's', "alpha", "users", 'l', "adm-a@x.io,usr-b@x.io", NULL);
	req = (al_request){"project.add-member", args, len, &th_admin};
	assert_int_equal(al_exec(s, &req, &rep), AL_EINVALID_ARGUMENT);
	assert_true(strncmp(rep.err.msg, "users:", 6) == 0);
	assert_non_null(strstr(rep.err.msg, "usr-b@x.io"));
	assert_non_null(strstr(rep.err.msg, "beta"));
	assert_int_equal(al_log_head(s), head);
	al_reply_free(&rep);
	free(args);
	args = th_args(&len, "name", 's', "team", "domain", 's', "alpha", "users", 'l', "ghost@x.io", NULL);
	req = (al_request){"project.add-member", args, len, &th_admin};
	assert_int_equal(al_exec(s, &req, &rep), AL_EINVALID_ARGUMENT);
	assert_true(strncmp(rep.err.msg, "users:", 6) == 0);
	assert_non_null(strstr(rep.err.msg, "ghost@x.io"));
	al_reply_free(&rep);
	free(args);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "users", "project.add-member", "name", 's', "team", "domain", 's', "alpha",
	       "users", 'l', "", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "users", "project.add-member", "name", 's', "team", "domain", 's', "alpha",
	       NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "users", "project.add-member", "name", 's', "team", "domain", 's', "alpha",
	       "users", 'l', "00000000-0000-4000-8000-000000000000", NULL);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "project.add-member", "name", 's', "none", "domain", 's', "alpha", "users",
	       'l', "usr-a@x.io", NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "users", "project.remove-member", "name", 's', "team", "domain", 's',
	       "alpha", "users", 'l', "ghost@x.io", NULL);

	/* Remove by id and email; a non-member is skipped without a record. */
	TH_OK(s, NULL, 1, &rep, "project.remove-member", "name", 's', "team", "domain", 's', "alpha", "users", 'l', id_a2,
	   NULL);
	assert_string_equal(th_res_json(&rep, "members"), "[\"mon-a@x.io\",\"usr-a@x.io\"]");
	al_reply_free(&rep);
	TH_OK(s, NULL, 0, NULL, "project.remove-member", "name", 's', "team", "domain", 's', "alpha", "users", 'l',
	   "usr-a2@x.io,usr-b@x.io", NULL);
	TH_OK(s, NULL, 2, &rep, "project.remove-member", "name", 's', "team", "domain", 's', "alpha", "users", 'l',
	   "usr-a@x.io,mon-a@x.io", NULL);
	assert_string_equal(th_res_json(&rep, "members"), "[]");
	al_reply_free(&rep);
	/* The events name the project by id and the member by email and id. */
	char pid[64];
	TH_OK(s, NULL, 1, &rep, "project.add-member", "name", 's', "team", "domain", 's', "alpha", "users", 'l',
	   "usr-a2@x.io", NULL);
	snprintf(pid, sizeof pid, "%s", th_res_str(&rep, "id"));
	uint64_t seq = rep.first_seq;
	al_reply_free(&rep);
	char entity[80], want[200];
	evscan ev;
	snprintf(entity, sizeof entity, "project:%s", pid);
	assert_int_equal(events_of(s, entity, "project.member_added", &ev), 4);
	snprintf(want, sizeof want, "\"fields\":{\"email\":\"usr-a2@x.io\",\"user_id\":\"%s\"}", id_a2);
	assert_non_null(strstr(ev.last, want));
	assert_non_null(strstr(ev.last, "\"seq\":"));
	assert_true(seq > 0);
	assert_int_equal(events_of(s, entity, "project.member_removed", &ev), 3);
	assert_non_null(strstr(ev.last, "\"fields\":{\"email\":\"mon-a@x.io\"}"));
	assert_string_equal(project_field(s, "alpha", "team", "members"), "[\"usr-a2@x.io\"]");
}

/* ---- who may do what -------------------------------------------------------------------------- */

static void project_permissions(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	/* A domain admin manages projects of its own domain. */
	TH_OK(s, &f->adm_a, 1, NULL, "project.create", "name", 's', "pa", "domain", 's', "alpha", NULL);
	TH_OK(s, &f->adm_a, 1, NULL, "project.update", "name", 's', "pa", "domain", 's', "alpha", "description", 's', "A",
	   NULL);
	TH_OK(s, &f->adm_a, 2, NULL, "project.add-member", "name", 's', "pa", "domain", 's', "alpha", "users", 'l',
	   "usr-a@x.io,adm-a@x.io", NULL);
	TH_OK(s, &f->adm_a, 1, NULL, "project.remove-member", "name", 's', "pa", "domain", 's', "alpha", "users", 'l',
	   "adm-a@x.io", NULL);
	TH_OK(s, &f->adm_a, 1, NULL, "project.deactivate", "name", 's', "pa", "domain", 's', "alpha", NULL);
	TH_OK(s, &f->adm_a, 1, NULL, "project.activate", "name", 's', "pa", "domain", 's', "alpha", NULL);
	TH_OK(s, &f->adm_b, 1, NULL, "project.create", "name", 's', "pb", "domain", 's', "beta", NULL);
	TH_OK(s, &f->super, 1, NULL, "project.create", "name", 's', "pa2", "domain", 's', "alpha", NULL);
	TH_OK(s, &f->super, 1, NULL, "project.add-member", "name", 's', "pb", "domain", 's', "beta", "users", 'l',
	   "usr-b@x.io", NULL);

	/* ... and nothing in another domain, existing project or not. */
	TH_DENY(s, &f->adm_b, "project.create", "name", 's', "px", "domain", 's', "alpha", NULL);
	TH_DENY(s, &f->adm_b, "project.update", "name", 's', "pa", "domain", 's', "alpha", "description", 's', "B", NULL);
	TH_DENY(s, &f->adm_b, "project.update", "name", 's', "nope", "domain", 's', "alpha", "description", 's', "B", NULL);
	TH_DENY(s, &f->adm_b, "project.deactivate", "name", 's', "pa", "domain", 's', "alpha", NULL);
	TH_DENY(s, &f->adm_b, "project.activate", "name", 's', "pa", "domain", 's', "alpha", NULL);
	TH_DENY(s, &f->adm_b, "project.add-member", "name", 's', "pa", "domain", 's', "alpha", "users", 'l', "usr-a2@x.io",
	     NULL);
	TH_DENY(s, &f->adm_b, "project.remove-member", "name", 's', "pa", "domain", 's', "alpha", "users", 'l', "usr-a@x.io",
	     NULL);
	TH_DENY(s, &f->adm_a, "project.create", "name", 's', "px", "domain", 's', "default", NULL);
	TH_DENY(s, &f->adm_a, "project.create", "name", 's', "px", "domain", 's', "nowhere", NULL);
	/* Monitors and users never write. */
	const th_actor *readers[] = {&f->mon_a, &f->usr_a};
	for (size_t i = 0; i < 2; i++) {
		TH_DENY(s, readers[i], "project.create", "name", 's', "px", "domain", 's', "alpha", NULL);
		TH_DENY(s, readers[i], "project.update", "name", 's', "pa", "domain", 's', "alpha", "description", 's', "M",
		     NULL);
		TH_DENY(s, readers[i], "project.deactivate", "name", 's', "pa", "domain", 's', "alpha", NULL);
		TH_DENY(s, readers[i], "project.activate", "name", 's', "pa", "domain", 's', "alpha", NULL);
		TH_DENY(s, readers[i], "project.add-member", "name", 's', "pa", "domain", 's', "alpha", "users", 'l',
		     "usr-a2@x.io", NULL);
		TH_DENY(s, readers[i], "project.remove-member", "name", 's', "pa", "domain", 's', "alpha", "users", 'l',
		     "usr-a@x.io", NULL);
	}

	/* Reading: superadmin all; admin and monitor their domain; a user its own projects. */
	const th_actor *domain_readers[] = {&f->super, &f->adm_a, &f->mon_a};
	for (size_t i = 0; i < 3; i++) {
		TH_OK(s, domain_readers[i], 0, &rep, "project.get", "name", 's', "pa2", "domain", 's', "alpha", NULL);
		assert_string_equal(th_res_json(&rep, "name"), "\"pa2\"");
		al_reply_free(&rep);
		TH_OK(s, domain_readers[i], 0, &rep, "project.list", "domain", 's', "alpha", NULL);
		assert_string_equal(th_res_column(&rep, "name"), "pa,pa2,");
		al_reply_free(&rep);
	}
	TH_OK(s, &f->adm_a, 0, &rep, "project.list", NULL); /* its domain without asking */
	assert_string_equal(th_res_column(&rep, "name"), "pa,pa2,");
	al_reply_free(&rep);
	TH_OK(s, &f->super, 0, &rep, "project.list", NULL);
	assert_int_equal(th_res_len(&rep), f->base_projects + 3);
	assert_int_equal(strncmp(th_res_column(&rep, "name"), "pa,pa2,pb,", 10), 0);
	al_reply_free(&rep);
	TH_OK(s, &f->super, 0, &rep, "project.list", "domain", 's', "beta", NULL);
	assert_string_equal(th_res_column(&rep, "name"), "pb,");
	al_reply_free(&rep);
	TH_DENY(s, &f->adm_b, "project.get", "name", 's', "pa", "domain", 's', "alpha", NULL);
	TH_DENY(s, &f->adm_b, "project.get", "name", 's', "nope", "domain", 's', "alpha", NULL);
	TH_DENY(s, &f->adm_a, "project.list", "domain", 's', "beta", NULL);
	TH_DENY(s, &f->mon_a, "project.list", "domain", 's', "beta", NULL);
	TH_REFUSE(s, &f->adm_a, AL_ENOT_FOUND, NULL, "project.get", "name", 's', "nope", "domain", 's', "alpha", NULL);

	/* A user: the projects it belongs to, nothing else (not even whether one exists). */
	TH_OK(s, &f->usr_a, 0, &rep, "project.get", "name", 's', "pa", "domain", 's', "alpha", NULL);
	assert_string_equal(th_res_json(&rep, "members"), "[\"usr-a@x.io\"]");
	al_reply_free(&rep);
	TH_OK(s, &f->usr_a, 0, &rep, "project.get", "name", 's', "pa", NULL); /* its own domain by default */
	al_reply_free(&rep);
	TH_DENY(s, &f->usr_a, "project.get", "name", 's', "pa2", "domain", 's', "alpha", NULL);
	TH_DENY(s, &f->usr_a2, "project.get", "name", 's', "pa", "domain", 's', "alpha", NULL);
	TH_DENY(s, &f->usr_a, "project.get", "name", 's', "nope", "domain", 's', "alpha", NULL);
	TH_DENY(s, &f->usr_a, "project.get", "name", 's', "pb", "domain", 's', "beta", NULL);
	TH_OK(s, &f->usr_a, 0, &rep, "project.list", NULL);
	assert_string_equal(th_res_column(&rep, "name"), "pa,");
	al_reply_free(&rep);
	TH_OK(s, &f->usr_a, 0, &rep, "project.list", "domain", 's', "alpha", NULL);
	assert_string_equal(th_res_column(&rep, "name"), "pa,");
	al_reply_free(&rep);
	TH_OK(s, &f->usr_a2, 0, &rep, "project.list", NULL);
	assert_int_equal(th_res_len(&rep), 0);
	al_reply_free(&rep);
	TH_DENY(s, &f->usr_a, "project.list", "domain", 's', "beta", NULL);
	TH_OK(s, &f->usr_b, 0, &rep, "project.list", NULL);
	assert_string_equal(th_res_column(&rep, "name"), "pb,");
	al_reply_free(&rep);
}

/* ---- the functions other modules call (nouns.h) -------------------------------------------------- */

typedef struct inner {
	int (*fn)(al_cmd *c, void *ctx);
	void *ctx;
	const char *op;
	al_error *err;
	uint64_t first, last;
} inner;

static int inner_fn(al_wtxn *w, void *ctx, al_error *err)
{
	inner *in = ctx;
	msgpack_zone z;
	msgpack_sbuffer out;
	msgpack_packer pk;
	static const msgpack_object empty = {.type = MSGPACK_OBJECT_MAP};
	msgpack_zone_init(&z, 1024);
	msgpack_sbuffer_init(&out);
	msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
	al_cmd c = {.s = w->s, .w = w, .txn = w->txn, .def = al_cmd_def_find(in->op), .actor = &th_admin,
		    .args = &empty, .now_us = w->head_time + 1, .out = &pk, .err = err, .zone = &z};
	int rc = in->fn(&c, in->ctx);
	in->first = c.first_seq;
	in->last = c.last_seq;
	msgpack_sbuffer_destroy(&out);
	msgpack_zone_destroy(&z);
	return rc;
}

/* Runs fn with a command context inside a write transaction; its events are committed. */
static int in_txn(al_store *s, int (*fn)(al_cmd *c, void *ctx), void *ctx, uint64_t *events, al_error *err)
{
	inner in = {fn, ctx, "project.update", err, 0, 0};
	int rc = al__store_write(s, inner_fn, &in, err);
	if (events)
		*events = in.first ? in.last - in.first + 1 : 0;
	return rc;
}

typedef struct nctx {
	const char *a, *b, *c;
	char buf[512];
	uint64_t n;
	bool add;
} nctx;

static al_str S_(const char *p) { return (al_str){p, strlen(p)}; }

static int do_join(al_cmd *c, void *ctx)
{
	nctx *x = ctx;
	return al__user_projects_join(c, S_(x->a), x->buf, x->n ? x->n : sizeof x->buf);
}

static int do_pack(al_cmd *c, void *ctx)
{
	nctx *x = ctx;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone z;
	msgpack_object o;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	int rc = al__user_projects_pack(c, S_(x->a), &pk);
	size_t off = 0;
	msgpack_zone_init(&z, 256);
	if (rc == AL_OK && msgpack_unpack(sb.data, sb.size, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS) {
		FILE *f = fmemopen(x->buf, sizeof x->buf, "w");
		al_render_json(&o, f);
		fclose(f);
	}
	msgpack_zone_destroy(&z);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static int do_count(al_cmd *c, void *ctx)
{
	nctx *x = ctx;
	return al__projects_count_policy(c, S_(x->a), &x->n);
}

static int do_require(al_cmd *c, void *ctx)
{
	nctx *x = ctx;
	al_str id = {"", 0};
	int rc = al__project_require(c, "projects", S_(x->a), S_(x->b), &id);
	snprintf(x->buf, sizeof x->buf, "%.*s", (int)id.n, id.p);
	return rc;
}

static int do_member(al_cmd *c, void *ctx)
{
	nctx *x = ctx;
	return al__project_emit_member(c, S_(x->a), S_(x->b), x->add);
}

static int do_leave(al_cmd *c, void *ctx)
{
	nctx *x = ctx;
	return al__projects_leave_all(c, S_(x->a));
}

static int do_default(al_cmd *c, void *ctx)
{
	nctx *x = ctx;
	return al__project_emit_default(c, S_(x->a), S_(x->b));
}

static void noun_functions(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_error err = {0};
	uint64_t n;
	al_reply rep;
	TH_OK(s, NULL, 1, NULL, "project.create", "name", 's', "zeta", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 1, &rep, "project.create", "name", 's', "eta", "domain", 's', "alpha", NULL);
	char eta[64];
	snprintf(eta, sizeof eta, "%s", th_res_str(&rep, "id"));
	al_reply_free(&rep);
	TH_OK(s, NULL, 1, NULL, "project.create", "name", 's', "theta", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 3, NULL, "project.add-member", "name", 's', "zeta", "domain", 's', "alpha", "users", 'l',
	   "usr-a@x.io,usr-a2@x.io,mon-a@x.io", NULL);
	TH_OK(s, NULL, 1, NULL, "project.add-member", "name", 's', "eta", "domain", 's', "alpha", "users", 'l', "usr-a@x.io",
	   NULL);

	/* The user's project names, sorted, as an array and ';'-joined. */
	nctx x = {.a = "default"};
	assert_int_equal(in_txn(s, do_count, &x, &n, &err), AL_OK);
	uint64_t base_default = x.n - 3; /* the bootstrap's default project, if any, follows it too */
	x = (nctx){.a = "usr-a@x.io"};
	assert_int_equal(in_txn(s, do_pack, &x, &n, &err), AL_OK);
	assert_string_equal(x.buf, "[\"eta\",\"zeta\"]");
	assert_int_equal(in_txn(s, do_join, &x, &n, &err), AL_OK);
	assert_string_equal(x.buf, "eta;zeta");
	x.n = 8; /* "eta;zeta" needs 9 bytes with its NUL */
	assert_int_not_equal(in_txn(s, do_join, &x, &n, &err), AL_OK);
	x = (nctx){.a = "usr-b@x.io"};
	assert_int_equal(in_txn(s, do_pack, &x, &n, &err), AL_OK);
	assert_string_equal(x.buf, "[]");
	assert_int_equal(in_txn(s, do_join, &x, &n, &err), AL_OK);
	assert_string_equal(x.buf, "");

	/* Policy follower count. */
	x = (nctx){.a = "default"};
	assert_int_equal(in_txn(s, do_count, &x, &n, &err), AL_OK);
	assert_int_equal(x.n, base_default + 3);
	assert_true(base_default <= 1);
	x = (nctx){.a = "other"};
	assert_int_equal(in_txn(s, do_count, &x, &n, &err), AL_OK);
	assert_int_equal(x.n, 0);

	/* al__project_require: the id of an active project, else invalid_argument naming the field. */
	x = (nctx){.a = "alpha", .b = "eta"};
	assert_int_equal(in_txn(s, do_require, &x, &n, &err), AL_OK);
	assert_string_equal(x.buf, eta);
	x = (nctx){.a = "beta", .b = "eta"};
	assert_int_equal(in_txn(s, do_require, &x, &n, &err), AL_EINVALID_ARGUMENT);
	assert_true(strncmp(err.msg, "projects:", 9) == 0);
	TH_OK(s, NULL, 1, NULL, "project.deactivate", "name", 's', "theta", "domain", 's', "alpha", NULL);
	x = (nctx){.a = "alpha", .b = "theta"};
	assert_int_equal(in_txn(s, do_require, &x, &n, &err), AL_EINVALID_ARGUMENT);
	assert_non_null(strstr(err.msg, "inactive"));

	/* al__project_emit_member: records once, nothing when already so. */
	x = (nctx){.a = eta, .b = "usr-a2@x.io", .add = true};
	assert_int_equal(in_txn(s, do_member, &x, &n, &err), AL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(in_txn(s, do_member, &x, &n, &err), AL_OK);
	assert_int_equal(n, 0);
	x.b = "usr-b@x.io"; /* another domain */
	uint64_t head = al_log_head(s);
	assert_int_equal(in_txn(s, do_member, &x, &n, &err), AL_EINVALID_ARGUMENT);
	assert_int_equal(al_log_head(s), head);
	x = (nctx){.a = "no-such-id", .b = "usr-a2@x.io", .add = true};
	assert_int_equal(in_txn(s, do_member, &x, &n, &err), AL_EINVALID_ARGUMENT);
	x = (nctx){.a = eta, .b = "usr-a2@x.io", .add = false};
	assert_int_equal(in_txn(s, do_member, &x, &n, &err), AL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(in_txn(s, do_member, &x, &n, &err), AL_OK);
	assert_int_equal(n, 0);

	/* al__projects_leave_all: one removal per project, then nothing. */
	x = (nctx){.a = "usr-a@x.io"};
	assert_int_equal(in_txn(s, do_leave, &x, &n, &err), AL_OK);
	assert_int_equal(n, 2);
	assert_int_equal(in_txn(s, do_leave, &x, &n, &err), AL_OK);
	assert_int_equal(n, 0);
	assert_string_equal(project_field(s, "alpha", "zeta", "members"), "[\"mon-a@x.io\",\"usr-a2@x.io\"]");
	assert_string_equal(project_field(s, "alpha", "eta", "members"), "[]");

	/* al__project_emit_default: project default in domain default with its member, once (the
	 * bootstrap may have called it already). */
	x = (nctx){.a = "11111111-2222-4333-8444-555555555555", .b = "admin@example.com"};
	bool made = th_exec(s, &rep, "project.get", "name", 's', "default", "domain", 's', "default", NULL) == AL_OK;
	al_reply_free(&rep);
	if (!made) {
		assert_int_equal(in_txn(s, do_default, &x, &n, &err), AL_OK);
		assert_int_equal(n, 2);
	}
	TH_OK(s, NULL, 0, &rep, "project.get", "name", 's', "default", "domain", 's', "default", NULL);
	if (!made)
		assert_string_equal(th_res_str(&rep, "id"), x.a);
	assert_string_equal(th_res_json(&rep, "members"), "[\"admin@example.com\"]");
	assert_string_equal(th_res_json(&rep, "type"), "\"general\"");
	assert_string_equal(th_res_json(&rep, "resource_policy"), "\"default\"");
	al_reply_free(&rep);
	x.a = "11111111-2222-4333-8444-666666666666";
	assert_int_equal(in_txn(s, do_default, &x, &n, &err), AL_EALREADY_EXISTS);
}

/* ---- rebuild and as-of -------------------------------------------------------------------------- */

static void rebuild_and_asof(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	al_error err = {0};
	TH_OK(s, NULL, 1, NULL, "domain.update", "name", 's', "alpha", "total_resource_slots", 's', "cpu=8",
	   "allowed_registries", 'l', "cr.io", NULL);
	TH_OK(s, NULL, 1, NULL, "project.create", "name", 's', "r1", "domain", 's', "alpha", "allowed_hosts", 's',
	   "local:v:all", NULL);
	TH_OK(s, NULL, 1, NULL, "project.create", "name", 's', "r2", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 2, NULL, "project.add-member", "name", 's', "r1", "domain", 's', "alpha", "users", 'l',
	   "usr-a@x.io,usr-a2@x.io", NULL);
	uint64_t mid = al_log_head(s);
	TH_OK(s, NULL, 1, NULL, "project.update", "name", 's', "r1", "domain", 's', "alpha", "new_name", 's', "r1b",
	   "description", 's', "renamed", NULL);
	TH_OK(s, NULL, 1, NULL, "project.remove-member", "name", 's', "r1b", "domain", 's', "alpha", "users", 'l',
	   "usr-a@x.io", NULL);
	TH_OK(s, NULL, 1, NULL, "project.deactivate", "name", 's', "r2", "domain", 's', "alpha", NULL);
	TH_OK(s, NULL, 1, NULL, "domain.deactivate", "name", 's', "beta", NULL);
	TH_OK(s, NULL, 1, NULL, "project.update", "name", 's', "r1b", "domain", 's', "alpha", "new_name", 's', "r1", NULL);
	TH_OK(s, NULL, 1, NULL, "project.update", "name", 's', "r1", "domain", 's', "alpha", "new_name", 's', "r1c", NULL);

	char live[33], rebuilt[33];
	th_digest(s, live);
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
	assert_string_equal(project_field(s, "alpha", "r1c", "members"), "[\"usr-a2@x.io\"]");
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "project.get", "name", 's', "r1", "domain", 's', "alpha", NULL);
	TH_REFUSE(s, NULL, AL_ENOT_FOUND, NULL, "project.get", "name", 's', "r1b", "domain", 's', "alpha", NULL);

	/* As of the middle: the old name, both members, r2 active, beta active. */
	al_store *past;
	assert_int_equal(al_store_asof(s, mid, &past, &err), AL_OK);
	assert_int_equal(th_exec(past, &rep, "project.get", "name", 's', "r1", "domain", 's', "alpha", NULL), AL_OK);
	assert_string_equal(th_res_json(&rep, "members"), "[\"usr-a2@x.io\",\"usr-a@x.io\"]");
	assert_string_equal(th_res_json(&rep, "allowed_vfolder_hosts"), project_field(s, "alpha", "r1c", "allowed_vfolder_hosts"));
	al_reply_free(&rep);
	assert_int_equal(th_exec(past, &rep, "project.list", "domain", 's', "alpha", NULL), AL_OK);
	assert_string_equal(th_res_column(&rep, "is_active"), "true,true,");
	al_reply_free(&rep);
	assert_int_equal(th_exec(past, &rep, "domain.get", "name", 's', "beta", NULL), AL_OK);
	assert_string_equal(th_res_json(&rep, "is_active"), "true");
	al_reply_free(&rep);
	assert_int_equal(th_exec(past, &rep, "domain.get", "name", 's', "alpha", NULL), AL_OK);
	assert_string_equal(th_res_json(&rep, "total_resource_slots"), "{\"cpu\":8}");
	al_reply_free(&rep);
	al_store_close(past);
	/* As of the head: the same views as live. */
	assert_int_equal(al_store_asof(s, al_log_head(s), &past, &err), AL_OK);
	char then[33];
	th_digest(past, then);
	assert_string_equal(then, live);
	al_store_close(past);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(domain_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(domain_update, setup, teardown),
		cmocka_unit_test_setup_teardown(domain_deactivation, setup, teardown),
		cmocka_unit_test_setup_teardown(domain_scoping, setup, teardown),
		cmocka_unit_test_setup_teardown(project_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(project_update, setup, teardown),
		cmocka_unit_test_setup_teardown(project_deactivation, setup, teardown),
		cmocka_unit_test_setup_teardown(project_members, setup, teardown),
		cmocka_unit_test_setup_teardown(project_permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(noun_functions, setup, teardown),
		cmocka_unit_test_setup_teardown(rebuild_and_asof, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
