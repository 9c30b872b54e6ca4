/*
 * test_sessions.c - compute sessions, first slice (issue 12): session.create with every enqueue
 * check and its message, the image minimum adjustment, name uniqueness among a keypair's live
 * sessions, every legal and illegal transition of the platform's map (session.report; PENDING to
 * SCHEDULED only through a scheduling pass, scheduler.run, on the fixture's agent ag1), the
 * destroy rules (session.terminate), the scoping of get/list/terminate, the list filters,
 * the keypair delete guard, and rebuild/as-of against live.
 *
 * Images come from the stub registry of registry_test.h: stable/python:3.9 (label minimums cpu
 * 2, mem 2g), stable/plain:1 (the defaults cpu 1, mem 1g), stable/sftp:1 (role INFERENCE) and
 * stable/multi:1 (amd64 and arm64).
 */
#include "registry_test.h"

#include "helpers.h"

#define PW "Passw0rd!"
#define GIB 1073741824LL

typedef struct fx {
	TH_FX_HEAD;
	stub st;
	char host[64], py[200], plain[200], sftp[200], multi[200];
	rt_image ims[5];
	char *labels[3];
	char u_ak[32], u_extra[32], u2_small[32], b_ak[32];
	th_actor u, u2, adm, mon, b, badm, root;
} fx;

static void put_images(fx *f)
{
	stub *st = &f->st;
	f->labels[0] = rt_labels(",\"ai.backend.resource.min.cpu\":\"2\",\"ai.backend.resource.min.mem\":\"2g\"");
	f->labels[1] = rt_labels(NULL);
	f->labels[2] = rt_labels(",\"ai.backend.role\":\"SYSTEM\"");
	rt_image_make(&f->ims[0], "amd64", f->labels[0], "py");
	rt_image_make(&f->ims[1], "amd64", f->labels[1], "plain");
	rt_image_make(&f->ims[2], "amd64", f->labels[2], "sftp");
	rt_image_make(&f->ims[3], "amd64", f->labels[1], "m1");
	rt_image_make(&f->ims[4], "arm64", f->labels[1], "m2");
	stub_put_image(st, "stable/python", "3.9", &f->ims[0]);
	stub_put_image(st, "stable/plain", "1", &f->ims[1]);
	stub_put_image(st, "stable/sftp", "1", &f->ims[2]);
	stub_put_image(st, "stable/multi", NULL, &f->ims[3]);
	stub_put_image(st, "stable/multi", NULL, &f->ims[4]);
	static const char *const archs[] = {"amd64", "arm64"};
	char *list = rt_list(&f->ims[3], archs, 2, false, false);
	stub_add(st, "/v2/stable/multi/manifests/1", 200, MT_LIST, list, strlen(list));
	free(list);
	stub_tags(st, "stable/python", "[\"3.9\"]");
	stub_tags(st, "stable/plain", "[\"1\"]");
	stub_tags(st, "stable/sftp", "[\"1\"]");
	stub_tags(st, "stable/multi", "[\"1\"]");
	const char *cat = "{\"repositories\":[\"stable/sftp\",\"stable/multi\",\"stable/plain\",\"stable/python\"]}";
	stub_add(st, "/v2/_catalog", 200, NULL, cat, strlen(cat));
	snprintf(f->host, sizeof f->host, "127.0.0.1:%d", st->port);
	snprintf(f->py, sizeof f->py, "%s/stable/python:3.9", f->host);
	snprintf(f->plain, sizeof f->plain, "%s/stable/plain:1", f->host);
	snprintf(f->sftp, sizeof f->sftp, "%s/stable/sftp:1", f->host);
	snprintf(f->multi, sizeof f->multi, "%s/stable/multi:1", f->host);
}

static void new_key(al_store *s, const char *email, const char *policy, char *out)
{
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "keypair.create", "user", 's', email, "policy", 's', policy, NULL), AL_OK);
	snprintf(out, 32, "%s", th_res_str(&rep, "access_key"));
	al_reply_free(&rep);
}

/* Domain default (which allows the stub registry) with project vision (u, u2, adm members),
 * domain beta (no registries) with project bp (b a member); resource groups: default (the
 * domain's), batchonly (batch only), private (not public), lonely (no association), off
 * (inactive); keypair policy small (2 containers per session) on a second key of u2. */
static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	if (f == NULL || stub_start(&f->st) != 0)
		return -1;
	put_images(f);
	al_store *s = f->s;
	char url[80];
	snprintf(url, sizeof url, "http://%s", f->host);
	th_fixture(s, "registry.create", "hostname", 's', f->host, "url", 's', url, NULL);
	th_fixture(s, "image.rescan", NULL);
	th_fixture(s, "domain.update", "name", 's', "default", "allowed_registries", 'l', f->host, NULL);
	th_fixture(s, "domain.create", "name", 's', "beta", NULL);
	const th_member cast[] = {{"u@x.io", "default", "user", &f->u, NULL},
				  {"u2@x.io", "default", "user", &f->u2, NULL},
				  {"adm@x.io", "default", "admin", &f->adm, NULL},
				  {"mon@x.io", "default", "monitor", &f->mon, NULL},
				  {"b@x.io", "beta", "user", &f->b, NULL},
				  {"badm@x.io", "beta", "admin", &f->badm, NULL},
				  {"root@x.io", "beta", "superadmin", &f->root, NULL},
				  {NULL}};
	assert_int_equal(th_cast(s, cast), AL_OK);
	th_fixture(s, "project.create", "name", 's', "vision", "domain", 's', "default", NULL);
	th_fixture(s, "project.add-member", "name", 's', "vision", "domain", 's', "default", "users", 'l', "u@x.io,u2@x.io,adm@x.io",
	   NULL);
	th_fixture(s, "project.create", "name", 's', "bp", "domain", 's', "beta", NULL);
	th_fixture(s, "project.add-member", "name", 's', "bp", "domain", 's', "beta", "users", 'l', "b@x.io", NULL);
	th_fixture(s, "rgroup.associate", "name", 's', "default", "domain", 's', "beta", NULL);
	th_fixture(s, "rgroup.create", "name", 's', "batchonly", "allowed_session_types", 'l', "batch", NULL);
	th_fixture(s, "rgroup.associate", "name", 's', "batchonly", "domain", 's', "default", NULL);
	th_fixture(s, "rgroup.create", "name", 's', "private", "public", 'b', 0, "allowed_session_types", 'l', "interactive,system", NULL);
	th_fixture(s, "rgroup.associate", "name", 's', "private", "domain", 's', "default", NULL);
	th_fixture(s, "rgroup.create", "name", 's', "lonely", NULL);
	th_fixture(s, "rgroup.create", "name", 's', "off", NULL);
	th_fixture(s, "rgroup.associate", "name", 's', "off", "domain", 's', "default", NULL);
	th_fixture(s, "rgroup.deactivate", "name", 's', "off", NULL);
	th_fixture(s, "policy.create", "name", 's', "small", "containers_per_session", 'i', 2LL, NULL);
	/* an agent with room for every session of a test: only a scheduling pass makes one SCHEDULED */
	th_fixture(s, "agent.heartbeat", "id", 's', "ag1", "addr", 's', "10.0.0.1:6001", "available", 's', "cpu=1000,mem=1000g",
	   "group", 's', "default", NULL);
	th_main_key(s, "u@x.io", f->u_ak);
	th_main_key(s, "b@x.io", f->b_ak);
	new_key(s, "u@x.io", "default", f->u_extra);
	new_key(s, "u2@x.io", "small", f->u2_small);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	stub_stop(&f->st);
	for (int i = 0; i < 5; i++)
		rt_image_free(&f->ims[i]);
	for (int i = 0; i < 3; i++)
		free(f->labels[i]);
	th_fx_free(f);
	return 0;
}

#define REFUSE_HAS(s, who, code, field, has, ...) \
	th_refuse_at(__FILE__, __LINE__, s, th_who(who), code, field, has, __VA_ARGS__)

/* session.create of name on image by who in group default and project vision; the id into id. */
static void create_ok(fx *f, th_actor *who, const char *name, const char *image, char id[40])
{
	al_reply rep;
	TH_OK(f->s, who, 1, &rep, "session.create", "name", 's', name, "image", 's', image, "group", 's', "default",
	      "project", 's', "vision", NULL);
	snprintf(id, 40, "%s", th_res_str(&rep, "id"));
	assert_string_equal(th_res_str(&rep, "status"), "PENDING");
	al_reply_free(&rep);
}

/* A scheduling pass of group default, which must place id on ag1 (PENDING -> SCHEDULED). */
static void schedule_ok(fx *f, const char *id)
{
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "scheduler.run", "group", 's', "default", NULL), AL_OK);
	assert_true(th_appended(&rep) >= 1);
	al_reply_free(&rep);
	assert_int_equal(th_exec(f->s, &rep, "session.get", "id", 's', id, NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "SCHEDULED");
	assert_string_equal(th_res_json(&rep, "agents"), "[\"ag1\"]");
	al_reply_free(&rep);
}

/* ---- create ----------------------------------------------------------------------------------- */

static void create_and_minimum(void **state)
{
	fx *f = *state;
	th_result r;
	TH_RUN_OK_AS(&r, f->s, &f->u.a, "session.create", "name", 's', "nb-1", "image", 's', f->py, "group", 's', "default",
		     "project", 's', "vision", "resources", 's', "cpu=1,mem=1g", NULL);
	assert_string_equal(th_res_json(&r.rep, "status"), "\"PENDING\"");
	assert_string_equal(th_res_json(&r.rep, "user"), "\"u@x.io\"");
	assert_string_equal(th_res_str(&r.rep, "access_key"), f->u_ak);
	assert_string_equal(th_res_json(&r.rep, "type"), "\"interactive\"");
	assert_string_equal(th_res_json(&r.rep, "cluster_mode"), "\"single-node\"");
	assert_string_equal(th_res_json(&r.rep, "domain"), "\"default\"");
	assert_string_equal(th_res_json(&r.rep, "architecture"), "\"x86_64\"");
	/* below the image's minimum: raised to it, the request kept beside */
	assert_string_equal(th_res_json(&r.rep, "requested"), "{\"cpu\":1,\"mem\":1073741824}");
	assert_string_equal(th_res_json(&r.rep, "resources"), "{\"cpu\":2,\"mem\":2147483648}");
	/* status_history: PENDING at the creation time */
	char hist[120];
	snprintf(hist, sizeof hist, "{\"PENDING\":%s}", th_res_json(&r.rep, "created_at"));
	assert_string_equal(th_res_json(&r.rep, "status_history"), hist);
	assert_string_equal(th_res_json(&r.rep, "exit_code"), "null");
	assert_string_equal(th_res_json(&r.rep, "terminated_at"), "null");
	th_result_free(&r);

	/* per slot: cpu above its minimum stays, mem is raised, a slot the image has no minimum for stays */
	TH_RUN_OK_AS(&r, f->s, &f->u.a, "session.create", "name", 's', "nb-2", "image", 's', f->py, "group", 's', "default",
		     "project", 's', "vision", "resources", 's', "cpu=4,mem=1g,cuda.shares=0.5", NULL);
	assert_string_equal(th_res_json(&r.rep, "resources"), "{\"cpu\":4,\"cuda.shares\":0.5,\"mem\":2147483648}");
	assert_string_equal(th_res_json(&r.rep, "requested"), "{\"cpu\":4,\"cuda.shares\":0.5,\"mem\":1073741824}");
	th_result_free(&r);
	/* no request: the minimum */
	TH_RUN_OK_AS(&r, f->s, &f->u.a, "session.create", "name", 's', "nb-3", "image", 's', f->plain, "group", 's', "default",
		     "project", 's', "vision", NULL);
	assert_string_equal(th_res_json(&r.rep, "requested"), "{}");
	assert_string_equal(th_res_json(&r.rep, "resources"), "{\"cpu\":1,\"mem\":1073741824}");
	th_result_free(&r);

	/* the event keeps both */
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "session.list", "user", 's', "u@x.io", NULL), AL_OK);
	assert_int_equal(th_res_len(&rep), 3);
	al_reply_free(&rep);
}

static void create_options(void **state)
{
	fx *f = *state;
	th_result r;
	/* a batch session: start time and timeout; the other key of u; an architecture of a multi-arch image */
	TH_RUN_OK_AS(&r, f->s, &f->u.a, "session.create", "name", 's', "batch.job_1", "image", 's', f->multi, "architecture",
		     's', "aarch64", "group", 's', "batchonly", "project", 's', "vision", "type", 's', "batch", "starts_at", 's',
		     "2030-01-01T00:00:00Z", "batch_timeout", 'i', 3600LL, "access_key", 's', f->u_extra, "cluster_mode", 's',
		     "multi-node", "cluster_size", 'i', 3LL, NULL);
	assert_string_equal(th_res_json(&r.rep, "architecture"), "\"aarch64\"");
	assert_string_equal(th_res_json(&r.rep, "starts_at"), "\"2030-01-01T00:00:00.000000Z\"");
	assert_string_equal(th_res_json(&r.rep, "batch_timeout"), "3600");
	assert_string_equal(th_res_str(&r.rep, "access_key"), f->u_extra);
	assert_string_equal(th_res_json(&r.rep, "cluster_size"), "3");
	char dep[40];
	snprintf(dep, sizeof dep, "%s", th_res_str(&r.rep, "id"));
	th_result_free(&r);
	/* a session that waits for it */
	TH_RUN_OK_AS(&r, f->s, &f->u.a, "session.create", "name", 's', "after", "image", 's', f->plain, "group", 's',
		     "default", "project", 's', "vision", "depends_on", 'l', dep, NULL);
	char deps[60];
	snprintf(deps, sizeof deps, "[\"%s\"]", dep);
	assert_string_equal(th_res_json(&r.rep, "depends_on"), deps);
	th_result_free(&r);
	/* an admin for a user of its domain, by the user's access key */
	TH_RUN_OK_AS(&r, f->s, &f->adm.a, "session.create", "name", 's', "by-admin", "image", 's', f->plain, "group", 's',
		     "default", "project", 's', "vision", "access_key", 's', f->u_ak, NULL);
	assert_string_equal(th_res_json(&r.rep, "user"), "\"u@x.io\"");
	th_result_free(&r);
	/* a local superadmin by access key */
	TH_RUN_OK(&r, f->s, "session.create", "name", 's', "by-root", "image", 's', f->plain, "group", 's', "default",
		  "project", 's', "vision", "access_key", 's', f->u_ak, NULL);
	th_result_free(&r);
}

static void enqueue_checks(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	th_actor *u = &f->u;
#define C(...) "session.create", __VA_ARGS__, NULL
#define BASE "image", 's', f->plain, "group", 's', "default", "project", 's', "vision"
	/* the name rule */
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "name", "4 to 64", C("name", 's', "abc", BASE));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "name", "starting and ending", C("name", 's', "-abcd", BASE));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "name", "starting and ending", C("name", 's', "abcd.", BASE));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "name", NULL, C("name", 's', "ab cd", BASE));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "name", NULL,
		   C("name", 's', "a234567890123456789012345678901234567890123456789012345678901234x", BASE));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "name", "reserved", C("name", 's', "from-template", BASE));
	TH_OK(s, u, 1, NULL, C("name", 's', "a234567890123456789012345678901234567890123456789012345678901234", BASE));
	/* type, mode, size, batch-only options */
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "type", NULL, C("name", 's', "t-1x", BASE, "type", 's', "weird"));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "cluster_mode", NULL, C("name", 's', "t-1x", BASE, "cluster_mode", 's', "x"));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "cluster_size", "at least 1", C("name", 's', "t-1x", BASE, "cluster_size", 'i', 0LL));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "starts_at", "only batch",
		   C("name", 's', "t-1x", BASE, "starts_at", 's', "2030-01-01T00:00:00Z"));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "batch_timeout", "only batch", C("name", 's', "t-1x", BASE, "batch_timeout", 'i', 5LL));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "resources", NULL, C("name", 's', "t-1x", BASE, "resources", 's', "cpu=-1"));
	/* the owner */
	REFUSE_HAS(s, NULL, AL_EINVALID_ARGUMENT, "access_key", "local operator", C("name", 's', "t-1x", BASE));
	REFUSE_HAS(s, NULL, AL_EINVALID_ARGUMENT, "access_key", "no keypair",
		   C("name", 's', "t-1x", BASE, "access_key", 's', "AKIAAAAAAAAAAAAAAAAA"));
	TH_DENY(s, &f->u2, C("name", 's', "t-1x", BASE, "access_key", 's', f->u_ak));
	TH_DENY(s, &f->badm, C("name", 's', "t-1x", BASE, "access_key", 's', f->u_ak));
	/* the project: unknown, not a member, inactive */
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "project", "no project nope in domain default",
		   C("name", 's', "t-1x", "image", 's', f->plain, "group", 's', "default", "project", 's', "nope"));
	th_fixture(s, "project.create", "name", 's', "other", "domain", 's', "default", NULL);
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "project", "u@x.io is not a member of other",
		   C("name", 's', "t-1x", "image", 's', f->plain, "group", 's', "default", "project", 's', "other"));
	/* even a superadmin must be a member (the platform's quirk) */
	REFUSE_HAS(s, &f->root, AL_EINVALID_ARGUMENT, "project", "root@x.io is not a member of bp",
		   C("name", 's', "t-1x", "image", 's', f->plain, "group", 's', "default", "project", 's', "bp"));
	th_fixture(s, "project.add-member", "name", 's', "other", "domain", 's', "default", "users", 'l', "u@x.io", NULL);
	th_fixture(s, "project.deactivate", "name", 's', "other", "domain", 's', "default", NULL);
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "project", "inactive",
		   C("name", 's', "t-1x", "image", 's', f->plain, "group", 's', "default", "project", 's', "other"));
	/* the image: unknown, several architectures, role, registry not allowed */
	REFUSE_HAS(s, u, AL_ENOT_FOUND, NULL, "not found",
		   C("name", 's', "t-1x", "image", 's', "nope/x:1", "group", 's', "default", "project", 's', "vision"));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "architecture", "aarch64, x86_64",
		   C("name", 's', "t-1x", "image", 's', f->multi, "group", 's', "default", "project", 's', "vision"));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "image", "is a SYSTEM image; a interactive session needs COMPUTE",
		   C("name", 's', "t-1x", "image", 's', f->sftp, "group", 's', "default", "project", 's', "vision"));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "image", "is a COMPUTE image; a inference session needs INFERENCE",
		   C("name", 's', "t-1x", BASE, "type", 's', "inference"));
	/* a system image in a group that takes system sessions only: the private one */
	TH_OK(s, u, 1, NULL, C("name", 's', "sftp-1", "image", 's', f->sftp, "group", 's', "private", "project", 's', "vision",
			       "type", 's', "system"));
	REFUSE_HAS(s, &f->b, AL_EINVALID_ARGUMENT, "image", "is not allowed for domain beta or project bp",
		   C("name", 's', "t-1x", "image", 's', f->plain, "group", 's', "default", "project", 's', "bp"));
	/* the project's registries count too */
	th_fixture(s, "project.update", "name", 's', "bp", "domain", 's', "beta", "allowed_registries", 'l', f->host, NULL);
	TH_OK(s, &f->b, 1, NULL, C("name", 's', "t-1x", "image", 's', f->plain, "group", 's', "default", "project", 's', "bp"));
	/* the resource group: unknown, inactive, not allowed, not accepting the type */
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "group", "no resource group named nope",
		   C("name", 's', "t-1x", "image", 's', f->plain, "group", 's', "nope", "project", 's', "vision"));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "group", "inactive",
		   C("name", 's', "t-1x", "image", 's', f->plain, "group", 's', "off", "project", 's', "vision"));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "group", "is not allowed for domain default, project vision",
		   C("name", 's', "t-1x", "image", 's', f->plain, "group", 's', "lonely", "project", 's', "vision"));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "group", "does not accept interactive sessions",
		   C("name", 's', "t-1x", "image", 's', f->plain, "group", 's', "batchonly", "project", 's', "vision"));
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "group", "system sessions only",
		   C("name", 's', "t-1x", "image", 's', f->plain, "group", 's', "private", "project", 's', "vision"));
	/* a keypair association allows a group too */
	th_fixture(s, "rgroup.associate", "name", 's', "lonely", "keypair", 's', f->u_ak, NULL);
	TH_OK(s, u, 1, NULL, C("name", 's', "t-2x", "image", 's', f->plain, "group", 's', "lonely", "project", 's', "vision"));
	/* cluster size within the policy's containers per session */
	REFUSE_HAS(s, &f->u2, AL_EINVALID_ARGUMENT, "cluster_size", "You cannot create session with more than 2 containers.",
		   C("name", 's', "t-1x", BASE, "access_key", 's', f->u2_small, "cluster_size", 'i', 3LL));
	TH_OK(s, &f->u2, 1, NULL, C("name", 's', "t-1x", BASE, "access_key", 's', f->u2_small, "cluster_size", 'i', 2LL));
	/* dependencies: the owner's sessions only */
	REFUSE_HAS(s, u, AL_EINVALID_ARGUMENT, "depends_on", "no session nope of u@x.io",
		   C("name", 's', "t-3x", BASE, "depends_on", 'l', "nope"));
	/* an inactive user (by a superadmin, with its key), an inactive domain */
	th_fixture(s, "user.create", "email", 's', "gone@x.io", "username", 's', "gone", "password", 's', PW, NULL);
	char gone_ak[32];
	th_main_key(s, "gone@x.io", gone_ak);
	th_fixture(s, "user.deactivate", "email", 's', "gone@x.io", NULL);
	REFUSE_HAS(s, NULL, AL_EINVALID_ARGUMENT, "user", "gone@x.io is inactive, not active",
		   C("name", 's', "t-1x", BASE, "access_key", 's', gone_ak));
	th_fixture(s, "domain.deactivate", "name", 's', "beta", NULL);
	REFUSE_HAS(s, NULL, AL_EINVALID_ARGUMENT, "domain", NULL,
		   C("name", 's', "t-9x", "image", 's', f->plain, "group", 's', "default", "project", 's', "bp", "access_key",
		     's', f->b_ak));
	/* an image gone from its registry */
	stub_tags(&f->st, "stable/plain", "[]");
	th_fixture(s, "image.rescan", NULL);
	REFUSE_HAS(s, NULL, AL_EINVALID_ARGUMENT, "image", "is gone from its registry",
		   C("name", 's', "t-8x", BASE, "access_key", 's', f->u_ak));
#undef C
#undef BASE
}

static void names_unique_among_live(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	char id[40], id2[40];
	create_ok(f, &f->u, "dup-name", f->plain, id);
	REFUSE_HAS(s, &f->u, AL_EALREADY_EXISTS, "name", "has a live session named dup-name", "session.create", "name", 's',
		   "dup-name", "image", 's', f->plain, "group", 's', "default", "project", 's', "vision", NULL);
	/* another keypair (of the same user) may use the name */
	TH_OK(s, &f->u, 1, NULL, "session.create", "name", 's', "dup-name", "image", 's', f->plain, "group", 's', "default",
	      "project", 's', "vision", "access_key", 's', f->u_extra, NULL);
	/* a live session keeps it whatever its status; a dead one frees it */
	TH_OK(s, NULL, 1, NULL, "session.report", "id", 's', id, "status", 's', "ERROR", NULL);
	REFUSE_HAS(s, &f->u, AL_EALREADY_EXISTS, "name", NULL, "session.create", "name", 's', "dup-name", "image", 's',
		   f->plain, "group", 's', "default", "project", 's', "vision", NULL);
	TH_OK(s, NULL, 1, NULL, "session.report", "id", 's', id, "status", 's', "TERMINATED", NULL);
	create_ok(f, &f->u, "dup-name", f->plain, id2);
	assert_string_not_equal(id, id2);
	TH_OK(s, &f->u, 1, NULL, "session.terminate", "id", 's', id2, NULL); /* PENDING: CANCELLED */
	create_ok(f, &f->u, "dup-name", f->plain, id2);
}

/* ---- the transition map ----------------------------------------------------------------------- */

static const char *const st_names[] = {"PENDING", "SCHEDULED", "PULLING", "PREPARING", "RUNNING", "RESTARTING",
				       "RUNNING_DEGRADED", "TERMINATING", "TERMINATED", "ERROR", "CANCELLED"};
#define NST 11
/* The platform's SESSION_STATUS_TRANSITION_MAP, written out here independently of the code. */
static const char *const allowed_to[NST] = {
	"SCHEDULED TERMINATING TERMINATED ERROR CANCELLED",
	"PULLING PREPARING TERMINATED ERROR CANCELLED",
	"PREPARING RUNNING RUNNING_DEGRADED TERMINATED ERROR CANCELLED",
	"PULLING RUNNING RUNNING_DEGRADED TERMINATING TERMINATED ERROR CANCELLED",
	"RESTARTING RUNNING_DEGRADED TERMINATING TERMINATED ERROR",
	"RUNNING RUNNING_DEGRADED TERMINATING TERMINATED ERROR",
	"RUNNING TERMINATING TERMINATED ERROR",
	"TERMINATED ERROR",
	"",
	"TERMINATED",
	"",
};
/* A legal path from PENDING to each status. */
static const char *const path_to[NST] = {
	"",
	"SCHEDULED",
	"SCHEDULED PULLING",
	"SCHEDULED PREPARING",
	"SCHEDULED PREPARING RUNNING",
	"SCHEDULED PREPARING RUNNING RESTARTING",
	"SCHEDULED PREPARING RUNNING RUNNING_DEGRADED",
	"SCHEDULED PREPARING RUNNING TERMINATING",
	"TERMINATED",
	"ERROR",
	"CANCELLED",
};

static bool word_in(const char *list, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = list; (p = strstr(p, w)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
			return true;
	return false;
}

/* A new session of u driven along path_to[st] (SCHEDULED by a scheduling pass, the rest by
 * reports); its id into id. One meant to stay PENDING asks for more than ag1 has, so that the
 * passes of later steps leave it PENDING. */
static void session_at(fx *f, int st, int k, char id[40])
{
	char name[32];
	snprintf(name, sizeof name, "tr-%d-%d", st, k);
	al_reply rep;
	TH_OK(f->s, &f->u, 1, &rep, "session.create", "name", 's', name, "image", 's', f->plain, "group", 's', "default",
	      "project", 's', "vision", "resources", 's', st == 0 ? "cpu=5000" : "cpu=1", NULL);
	snprintf(id, 40, "%s", th_res_str(&rep, "id"));
	al_reply_free(&rep);
	char path[200];
	snprintf(path, sizeof path, "%s", path_to[st]);
	for (char *save = NULL, *w = strtok_r(path, " ", &save); w; w = strtok_r(NULL, " ", &save))
		if (strcmp(w, "SCHEDULED") == 0)
			schedule_ok(f, id);
		else
			TH_OK(f->s, NULL, 1, NULL, "session.report", "id", 's', id, "status", 's', w, NULL);
}

static void every_transition(void **state)
{
	fx *f = *state;
	int legal = 0, illegal = 0;
	for (int from = 0; from < NST; from++) {
		char id[40];
		session_at(f, from, 0, id);
		for (int to = 0; to < NST; to++) {
			bool ok_ = word_in(allowed_to[from], st_names[to]);
			if (!ok_) {
				char has[120];
				snprintf(has, sizeof has, "cannot go from %s to %s", st_names[from], st_names[to]);
				REFUSE_HAS(f->s, NULL, AL_EINVALID_STATE, "status", has, "session.report", "id", 's', id, "status",
					   's', st_names[to], NULL);
				illegal++;
				continue;
			}
			char id2[40];
			al_reply rep;
			if (from == 0 && to == 1) { /* the scheduler's alone: refused as a report */
				create_ok(f, &f->u, "tr-0-2", f->plain, id2);
				REFUSE_HAS(f->s, NULL, AL_EINVALID_STATE, "status", "only by a scheduling pass (scheduler run)",
					   "session.report", "id", 's', id2, "status", 's', "SCHEDULED", NULL);
				schedule_ok(f, id2);
				assert_int_equal(th_exec(f->s, &rep, "session.get", "id", 's', id2, NULL), AL_OK);
				assert_non_null(strstr(th_res_json(&rep, "status_history"), "\"SCHEDULED\":"));
				assert_string_equal(th_res_json(&rep, "occupied"), "{\"cpu\":1,\"mem\":1073741824}");
				al_reply_free(&rep);
				legal++;
				continue;
			}
			session_at(f, from, to + 1, id2);
			TH_OK(f->s, NULL, 1, &rep, "session.report", "id", 's', id2, "status", 's', st_names[to], "exit_code", 'i',
			      (long long)to, "reason", 's', "agent-said", NULL);
			assert_string_equal(th_res_str(&rep, "status"), st_names[to]);
			assert_int_equal(th_res_int(&rep, "exit_code"), to);
			assert_string_equal(th_res_str(&rep, "status_info"), "agent-said");
			/* the history holds every status entered, each once */
			const char *hist = th_res_json(&rep, "status_history");
			assert_non_null(strstr(hist, "\"PENDING\":"));
			char key[40];
			snprintf(key, sizeof key, "\"%s\":", st_names[to]);
			assert_non_null(strstr(hist, key));
			bool dead = to == 8 || to == 10;
			assert_true(dead == (strcmp(th_res_json(&rep, "terminated_at"), "null") != 0));
			al_reply_free(&rep);
			legal++;
		}
	}
	assert_int_equal(legal, 40);
	assert_int_equal(illegal, NST * NST - 40);
	/* an unknown status is no transition at all */
	char id[40];
	session_at(f, 0, 99, id);
	REFUSE_HAS(f->s, NULL, AL_EINVALID_ARGUMENT, "status", "not a session status", "session.report", "id", 's', id,
		   "status", 's', "DANCING", NULL);
	REFUSE_HAS(f->s, NULL, AL_ENOT_FOUND, NULL, "not found", "session.report", "id", 's', "nope", "status", 's',
		   "RUNNING", NULL);
	/* agents report with a superadmin service account; nobody else may */
	TH_DENY(f->s, &f->u, "session.report", "id", 's', id, "status", 's', "SCHEDULED", NULL);
	TH_DENY(f->s, &f->adm, "session.report", "id", 's', id, "status", 's', "SCHEDULED", NULL);
	REFUSE_HAS(f->s, &f->root, AL_EINVALID_STATE, "status", "scheduled only by a scheduling pass", "session.report", "id",
		   's', id, "status", 's', "SCHEDULED", NULL);
}

/* ---- destroy rules ---------------------------------------------------------------------------- */

/* What terminate gives from each status: not forced, forced by the owner, forced by a superadmin
 * ("-" refused with invalid_state). */
static const char *const destroy[NST][3] = {
	{"CANCELLED", "CANCELLED", "CANCELLED"},       /* PENDING */
	{"-", "TERMINATING", "TERMINATED"},            /* SCHEDULED */
	{"-", "-", "CANCELLED"},                       /* PULLING */
	{"-", "TERMINATING", "TERMINATED"},            /* PREPARING */
	{"TERMINATING", "TERMINATING", "TERMINATING"}, /* RUNNING */
	{"TERMINATING", "TERMINATING", "TERMINATING"}, /* RESTARTING */
	{"TERMINATING", "TERMINATING", "TERMINATING"}, /* RUNNING_DEGRADED */
	{"-", "TERMINATING", "TERMINATED"},            /* TERMINATING */
	{"-", "-", "-"},                               /* TERMINATED */
	{"-", "TERMINATING", "TERMINATED"},            /* ERROR */
	{"-", "-", "-"},                               /* CANCELLED */
};

static void destroy_rules(void **state)
{
	fx *f = *state;
	for (int st = 0; st < NST; st++)
		for (int how = 0; how < 3; how++) {
			char id[40];
			session_at(f, st, 200 + how, id);
			th_actor *who = how == 2 ? &f->root : &f->u;
			int forced = how > 0;
			if (strcmp(destroy[st][how], "-") == 0) {
				REFUSE_HAS(f->s, who, AL_EINVALID_STATE, NULL, st_names[st], "session.terminate", "id", 's', id,
					   "forced", 'b', forced, NULL);
				continue;
			}
			al_reply rep;
			TH_OK(f->s, who, 1, &rep, "session.terminate", "id", 's', id, "forced", 'b', forced, NULL);
			assert_string_equal(th_res_str(&rep, "status"), destroy[st][how]);
			const char *info = how == 2 && strcmp(destroy[st][how], "TERMINATED") == 0 ? "force-terminated"
												  : "user-requested";
			assert_string_equal(th_res_str(&rep, "status_info"), info);
			al_reply_free(&rep);
		}
	/* a reason given is the status_info */
	char id[40];
	session_at(f, 4, 300, id);
	al_reply rep;
	TH_OK(f->s, &f->u, 1, &rep, "session.terminate", "id", 's', id, "reason", 's', "done for today", NULL);
	assert_string_equal(th_res_str(&rep, "status_info"), "done for today");
	al_reply_free(&rep);
	/* then the agent finishes it: status_info stays */
	TH_OK(f->s, NULL, 1, &rep, "session.report", "id", 's', id, "status", 's', "TERMINATED", "exit_code", 'i', 0LL, NULL);
	assert_string_equal(th_res_str(&rep, "status_info"), "done for today");
	assert_int_equal(th_res_int(&rep, "exit_code"), 0);
	al_reply_free(&rep);
}

/* ---- scoping and filters ---------------------------------------------------------------------- */

static const char *ids_of(al_store *s, const al_actor *who, const char *key, ...)
{
	(void)key;
	al_reply rep;
	assert_int_equal(th_exec_as(s, who, &rep, "session.list", NULL), AL_OK);
	static char out[1024];
	snprintf(out, sizeof out, "%s", th_res_column(&rep, "name"));
	al_reply_free(&rep);
	return out;
}

static void scoping(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	char u1[40], u2[40], b1[40];
	create_ok(f, &f->u, "u-one", f->plain, u1);
	create_ok(f, &f->u2, "u2-one", f->plain, u2);
	th_fixture(s, "project.update", "name", 's', "bp", "domain", 's', "beta", "allowed_registries", 'l', f->host, NULL);
	al_reply rep;
	TH_OK(s, &f->b, 1, &rep, "session.create", "name", 's', "b-one", "image", 's', f->plain, "group", 's', "default",
	      "project", 's', "bp", NULL);
	snprintf(b1, sizeof b1, "%s", th_res_str(&rep, "id"));
	al_reply_free(&rep);
	/* list: a user its own, an admin or monitor its domain, a superadmin all */
	assert_string_equal(ids_of(s, &f->u.a, NULL), "u-one,");
	assert_string_equal(ids_of(s, &f->u2.a, NULL), "u2-one,");
	assert_string_equal(ids_of(s, &f->b.a, NULL), "b-one,");
	assert_string_equal(ids_of(s, &f->adm.a, NULL), "u-one,u2-one,");
	assert_string_equal(ids_of(s, &f->mon.a, NULL), "u-one,u2-one,");
	assert_string_equal(ids_of(s, &f->badm.a, NULL), "b-one,");
	assert_string_equal(ids_of(s, &f->root.a, NULL), "u-one,u2-one,b-one,");
	assert_string_equal(ids_of(s, &th_admin, NULL), "u-one,u2-one,b-one,");
	/* get */
	TH_OK(s, &f->u, 0, NULL, "session.get", "id", 's', u1, NULL);
	TH_DENY(s, &f->u2, "session.get", "id", 's', u1, NULL);
	TH_OK(s, &f->adm, 0, NULL, "session.get", "id", 's', u1, NULL);
	TH_OK(s, &f->mon, 0, NULL, "session.get", "id", 's', u1, NULL);
	TH_DENY(s, &f->badm, "session.get", "id", 's', u1, NULL);
	TH_DENY(s, &f->adm, "session.get", "id", 's', b1, NULL);
	TH_OK(s, &f->root, 0, NULL, "session.get", "id", 's', b1, NULL);
	REFUSE_HAS(s, &f->u, AL_ENOT_FOUND, NULL, "not found", "session.get", "id", 's', "nope", NULL);
	/* terminate: the owner, an admin of its domain, a superadmin */
	TH_DENY(s, &f->u2, "session.terminate", "id", 's', u1, NULL);
	TH_DENY(s, &f->badm, "session.terminate", "id", 's', u1, NULL);
	TH_DENY(s, &f->mon, "session.terminate", "id", 's', u1, NULL);
	TH_DENY(s, &f->adm, "session.terminate", "id", 's', b1, NULL);
	TH_OK(s, &f->adm, 1, NULL, "session.terminate", "id", 's', u2, NULL);
	TH_OK(s, &f->badm, 1, NULL, "session.terminate", "id", 's', b1, NULL);
	TH_OK(s, &f->u, 1, NULL, "session.terminate", "id", 's', u1, NULL);
}

static void list_filters(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	char a[40], b[40], c[40], d[40];
	al_reply rep;
	TH_OK(s, &f->u, 1, &rep, "session.create", "name", 's', "fa-1", "image", 's', f->plain, "group", 's', "default",
	      "project", 's', "vision", "resources", 's', "cpu=5000", NULL); /* more than ag1 has: stays PENDING */
	snprintf(a, sizeof a, "%s", th_res_str(&rep, "id"));
	al_reply_free(&rep);
	create_ok(f, &f->u, "fb-1", f->plain, b);
	create_ok(f, &f->u2, "fc-1", f->plain, c);
	TH_OK(s, &f->u, 1, NULL, "session.create", "name", 's', "fd-1", "image", 's', f->plain, "group", 's', "batchonly",
	      "project", 's', "vision", "type", 's', "batch", NULL);
	assert_int_equal(th_exec(s, &rep, "session.list", "group", 's', "batchonly", NULL), AL_OK);
	assert_string_equal(th_res_column(&rep, "name"), "fd-1,");
	snprintf(d, sizeof d, "%s", th_res_str(&rep, "id"));
	al_reply_free(&rep);
	TH_OK(s, NULL, 1, NULL, "session.report", "id", 's', c, "status", 's', "CANCELLED", NULL);
	schedule_ok(f, b); /* fa-1 does not fit: only fb-1 */
#define LIST(want, ...)                                                                 \
	do {                                                                            \
		assert_int_equal(th_exec(s, &rep, "session.list", __VA_ARGS__), AL_OK); \
		assert_string_equal(th_res_column(&rep, "name"), want);                 \
		al_reply_free(&rep);                                                    \
	} while (0)
	LIST("fa-1,fb-1,fc-1,fd-1,", NULL);
	LIST("fb-1,", "status", 'l', "SCHEDULED", NULL);
	LIST("fa-1,fb-1,fd-1,", "status", 'l', "PENDING,SCHEDULED", NULL);
	LIST("fc-1,", "user", 's', "u2@x.io", NULL);
	LIST("fa-1,fb-1,fc-1,fd-1,", "project", 's', "vision", NULL);
	LIST("", "project", 's', "bp", NULL);
	LIST("fb-1,", "agent", 's', "ag1", NULL);
	LIST("", "agent", 's', "ag2", NULL);
	LIST("fb-1,fc-1,", "limit", 'i', 2LL, "offset", 'i', 1LL, NULL);
	LIST("fa-1,fb-1,fc-1,fd-1,", "since", 's', "2000-01-01T00:00:00Z", NULL);
	LIST("", "until", 's', "2000-01-01T00:00:00Z", NULL);
	LIST("", "since", 's', "2999-01-01T00:00:00Z", NULL);
#undef LIST
	REFUSE_HAS(s, NULL, AL_EINVALID_ARGUMENT, "status", "not a session status", "session.list", "status", 'l', "BUSY", NULL);
	REFUSE_HAS(s, NULL, AL_EINVALID_ARGUMENT, "since", "not a time", "session.list", "since", 's', "yesterday", NULL);
	REFUSE_HAS(s, NULL, AL_EINVALID_ARGUMENT, "limit", NULL, "session.list", "limit", 'i', 0LL, NULL);
	REFUSE_HAS(s, NULL, AL_EINVALID_ARGUMENT, "offset", NULL, "session.list", "offset", 'i', -1LL, NULL);
	(void)a, (void)d;
}

/* ---- the keypair delete guard ------------------------------------------------------------------- */

static void keypair_delete_guard(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	char fresh[32];
	new_key(s, "u@x.io", "default", fresh);
	al_reply rep;
	TH_OK(s, &f->u, 1, &rep, "session.create", "name", 's', "g-one", "image", 's', f->plain, "group", 's', "default",
	      "project", 's', "vision", "access_key", 's', fresh, NULL);
	char id[40];
	snprintf(id, sizeof id, "%s", th_res_str(&rep, "id"));
	al_reply_free(&rep);
	REFUSE_HAS(s, NULL, AL_EIN_USE, "access_key", "was used by 1 compute session(s)", "keypair.delete", "access_key", 's',
		   fresh, NULL);
	/* whatever the session's status: a cancelled one counts */
	TH_OK(s, &f->u, 1, NULL, "session.terminate", "id", 's', id, NULL);
	REFUSE_HAS(s, NULL, AL_EIN_USE, "access_key", "was used by 1 compute session(s)", "keypair.delete", "access_key", 's',
		   fresh, NULL);
	/* a keypair no session used is deletable */
	char unused[32];
	new_key(s, "u@x.io", "default", unused);
	TH_OK(s, NULL, 1, NULL, "keypair.delete", "access_key", 's', unused, NULL);
}

/* ---- rebuild and as-of ---------------------------------------------------------------------------- */

static void rebuild_and_asof(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	char id[40];
	create_ok(f, &f->u, "r-one", f->py, id);
	uint64_t mid = al_log_head(s);
	char at_mid[33];
	th_digest(s, at_mid);
	schedule_ok(f, id);
	TH_OK(s, &f->u, 1, NULL, "session.terminate", "id", 's', id, "forced", 'b', 1, NULL);
	char live[33], rebuilt[33];
	th_digest(s, live);
	al_error err;
	if (al_store_rebuild(s, NULL, NULL, &err) != AL_OK)
		fail_msg("rebuild: %s", err.msg);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	al_store *past;
	assert_int_equal(al_store_asof(s, mid, &past, &err), AL_OK);
	char then[33];
	th_digest(past, then);
	assert_string_equal(then, at_mid);
	al_reply rep;
	assert_int_equal(th_exec(past, &rep, "session.get", "id", 's', id, NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "PENDING");
	al_reply_free(&rep);
	al_store_close(past);
	if (al_store_verify(s, NULL, NULL, &err) != AL_OK)
		fail_msg("verify: %s", err.msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(create_and_minimum, setup, teardown),
		cmocka_unit_test_setup_teardown(create_options, setup, teardown),
		cmocka_unit_test_setup_teardown(enqueue_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(names_unique_among_live, setup, teardown),
		cmocka_unit_test_setup_teardown(every_transition, setup, teardown),
		cmocka_unit_test_setup_teardown(destroy_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(scoping, setup, teardown),
		cmocka_unit_test_setup_teardown(list_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(keypair_delete_guard, setup, teardown),
		cmocka_unit_test_setup_teardown(rebuild_and_asof, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
