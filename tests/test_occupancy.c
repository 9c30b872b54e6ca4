/*
 * test_occupancy.c - what sessions make real (issue 12): agents' occupied and free slots and
 * session count, keypairs' concurrency_used and occupied slots, preset check against both,
 * through every occupying step of a session's life (PENDING, then SCHEDULED by scheduler.run,
 * PREPARING, RUNNING, TERMINATING, TERMINATED); maintenance recalculate-usage correcting a
 * v_occupancy damaged in LMDB behind the log's back (and a second run, verify and rebuild
 * agreeing with it); the resource group and keypair delete guards.
 *
 * Only scheduler.run places sessions (session.report cannot make one SCHEDULED with an agent),
 * so every session here is scheduled by a pass over agent ag1 (group default, cpu=8, mem=16g).
 * The image comes from the stub registry of registry_test.h: stable/plain:1, minimum cpu 1,
 * mem 1g.
 */
#include "registry_test.h"

#include "helpers.h"

#define GIB 1073741824LL

typedef struct fx {
	TH_FX_HEAD;
	stub st;
	char host[64], img[200];
	rt_image im;
	char *labels;
	char u_ak[32], u2_ak[32];
	th_actor u, u2;
} fx;

/* The registry with its image, project vision (u, u2), u's keypair under policy cpu7 (7 cpus),
 * agent ag1 in group default, presets p3 (cpu 3) and p4 (cpu 4). */
static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	if (f == NULL || stub_start(&f->st) != 0)
		return -1;
	f->labels = rt_labels(NULL);
	rt_image_make(&f->im, "amd64", f->labels, "plain");
	stub_put_image(&f->st, "stable/plain", "1", &f->im);
	stub_tags(&f->st, "stable/plain", "[\"1\"]");
	const char *cat = "{\"repositories\":[\"stable/plain\"]}";
	stub_add(&f->st, "/v2/_catalog", 200, NULL, cat, strlen(cat));
	snprintf(f->host, sizeof f->host, "127.0.0.1:%d", f->st.port);
	snprintf(f->img, sizeof f->img, "%s/stable/plain:1", f->host);
	al_store *s = f->s;
	char url[80];
	snprintf(url, sizeof url, "http://%s", f->host);
	th_fixture(s, "registry.create", "hostname", 's', f->host, "url", 's', url, NULL);
	th_fixture(s, "image.rescan", NULL);
	th_fixture(s, "domain.update", "name", 's', "default", "allowed_registries", 'l', f->host, NULL);
	const th_member cast[] = {{"u@x.io", "default", "user", &f->u, NULL}, {"u2@x.io", "default", "user", &f->u2, NULL}, {NULL}};
	assert_int_equal(th_cast(s, cast), AL_OK);
	th_fixture(s, "project.create", "name", 's', "vision", "domain", 's', "default", NULL);
	th_fixture(s, "project.add-member", "name", 's', "vision", "domain", 's', "default", "users", 'l', "u@x.io,u2@x.io", NULL);
	th_fixture(s, "policy.create", "name", 's', "cpu7", "cpu", 'i', 7LL, NULL);
	th_main_key(s, "u@x.io", f->u_ak);
	th_main_key(s, "u2@x.io", f->u2_ak);
	th_fixture(s, "keypair.update", "access_key", 's', f->u_ak, "policy", 's', "cpu7", NULL);
	th_fixture(s, "agent.heartbeat", "id", 's', "ag1", "addr", 's', "10.0.0.1:6001", "available", 's', "cpu=8,mem=16g", NULL);
	th_fixture(s, "preset.create", "name", 's', "p3", "cpu", 'i', 3LL, "mem", 's', "1g", NULL);
	th_fixture(s, "preset.create", "name", 's', "p4", "cpu", 'i', 4LL, "mem", 's', "1g", NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	stub_stop(&f->st);
	rt_image_free(&f->im);
	free(f->labels);
	th_fx_free(f);
	return 0;
}

/* A session of who with these resources in group, PENDING; its id into id. */
static void create(fx *f, th_actor *who, const char *name, const char *group, const char *resources, char id[40])
{
	al_reply rep;
	TH_OK(f->s, who, 1, &rep, "session.create", "name", 's', name, "image", 's', f->img, "group", 's', group, "project",
	      's', "vision", "resources", 's', resources, NULL);
	snprintf(id, 40, "%s", th_res_str(&rep, "id"));
	al_reply_free(&rep);
}

static void report(fx *f, const char *id, const char *status)
{
	al_reply rep;
	TH_OK(f->s, NULL, 1, &rep, "session.report", "id", 's', id, "status", 's', status, NULL);
	al_reply_free(&rep);
}

/* One scheduling pass; id is SCHEDULED on ag1 afterwards. */
static void schedule(fx *f, const char *id)
{
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "scheduler.run", NULL), AL_OK);
	al_reply_free(&rep);
	assert_int_equal(th_exec(f->s, &rep, "session.get", "id", 's', id, NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "SCHEDULED");
	assert_string_equal(th_res_json(&rep, "agents"), "[\"ag1\"]");
	al_reply_free(&rep);
}

/* agent get ag1: occupied, free (JSON) and sessions. */
#define AGENT_IS(f, occ, fr, n) agent_is(__FILE__, __LINE__, f, occ, fr, n)
static void agent_is(const char *file, int line, fx *f, const char *occ, const char *fr, int n)
{
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "agent.get", "id", 's', "ag1", NULL), AL_OK);
	char got[400];
	snprintf(got, sizeof got, "%s %s %s", th_res_json(&rep, "occupied"), th_res_json(&rep, "free"),
		 th_res_json(&rep, "sessions"));
	char want[400];
	snprintf(want, sizeof want, "%s %s %d", occ, fr, n);
	if (strcmp(got, want) != 0)
		print_error("%s:%d: agent ag1: %s, expected %s\n", file, line, got, want);
	_assert_true(strcmp(got, want) == 0, "agent figures", file, line);
	al_reply_free(&rep);
	/* agent list shows the same row */
	assert_int_equal(th_exec(f->s, &rep, "agent.list", NULL), AL_OK);
	assert_string_equal(th_res_json_at(&rep, 0, "occupied"), occ);
	al_reply_free(&rep);
}

/* keypair get ak: concurrency_used and occupied (JSON). */
#define KEYPAIR_IS(f, ak, n, occ) keypair_is(__FILE__, __LINE__, f, ak, n, occ)
static void keypair_is(const char *file, int line, fx *f, const char *ak, int n, const char *occ)
{
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "keypair.get", "access_key", 's', ak, NULL), AL_OK);
	char got[300], want[300];
	snprintf(got, sizeof got, "%s %s", th_res_json(&rep, "concurrency_used"), th_res_json(&rep, "occupied"));
	snprintf(want, sizeof want, "%d %s", n, occ);
	if (strcmp(got, want) != 0)
		print_error("%s:%d: keypair: %s, expected %s\n", file, line, got, want);
	_assert_true(strcmp(got, want) == 0, "keypair figures", file, line);
	al_reply_free(&rep);
}

/* preset check for u in group default: allocatable of p3 and p4, as "tf". */
#define PRESETS_ARE(f, want) presets_are(__FILE__, __LINE__, f, want)
static void presets_are(const char *file, int line, fx *f, const char *want)
{
	al_reply rep;
	assert_int_equal(th_exec_as(f->s, &f->u.a, &rep, "preset.check", "group", 's', "default", NULL), AL_OK);
	assert_int_equal(th_res_len(&rep), 2);
	char got[3] = {0};
	for (long i = 0; i < 2; i++)
		got[i] = strcmp(th_res_json_at(&rep, i, "allocatable"), "true") == 0 ? 't' : 'f';
	if (strcmp(got, want) != 0)
		print_error("%s:%d: presets p3 p4 allocatable %s, expected %s\n", file, line, got, want);
	_assert_true(strcmp(got, want) == 0, "preset check", file, line);
	al_reply_free(&rep);
}

#define NONE "{\"cpu\":0,\"mem\":0}"
#define ALL "{\"cpu\":8,\"mem\":17179869184}"

/* ---- every step of a session's life ------------------------------------------------------- */

static void occupancy_through_a_life(void **state)
{
	fx *f = *state;
	char s1[40], s2[40];
	create(f, &f->u, "s-one", "default", "cpu=4,mem=4g", s1);
	/* PENDING holds nothing */
	AGENT_IS(f, NONE, ALL, 0);
	KEYPAIR_IS(f, f->u_ak, 0, "{}");
	PRESETS_ARE(f, "tt");

	/* SCHEDULED on ag1: the agent and the keypair hold it; u's policy leaves 3 cpus */
	schedule(f, s1);
	AGENT_IS(f, "{\"cpu\":4,\"mem\":4294967296}", "{\"cpu\":4,\"mem\":12884901888}", 1);
	KEYPAIR_IS(f, f->u_ak, 1, "{\"cpu\":4,\"mem\":4294967296}");
	PRESETS_ARE(f, "tf"); /* p4: the agent has room, the policy not */
	report(f, s1, "PREPARING");
	AGENT_IS(f, "{\"cpu\":4,\"mem\":4294967296}", "{\"cpu\":4,\"mem\":12884901888}", 1);
	KEYPAIR_IS(f, f->u_ak, 1, "{\"cpu\":4,\"mem\":4294967296}");
	report(f, s1, "RUNNING");
	AGENT_IS(f, "{\"cpu\":4,\"mem\":4294967296}", "{\"cpu\":4,\"mem\":12884901888}", 1);
	KEYPAIR_IS(f, f->u_ak, 1, "{\"cpu\":4,\"mem\":4294967296}");
	PRESETS_ARE(f, "tf");

	/* another user's session fills the agent: no room left for p3 on it */
	create(f, &f->u2, "s-two", "default", "cpu=2,mem=1g", s2);
	schedule(f, s2);
	AGENT_IS(f, "{\"cpu\":6,\"mem\":5368709120}", "{\"cpu\":2,\"mem\":11811160064}", 2);
	KEYPAIR_IS(f, f->u_ak, 1, "{\"cpu\":4,\"mem\":4294967296}");
	KEYPAIR_IS(f, f->u2_ak, 1, "{\"cpu\":2,\"mem\":1073741824}");
	PRESETS_ARE(f, "ff");

	/* TERMINATING: the agent still holds it (the platform's AGENT_RESOURCE_OCCUPYING), the
	 * keypair no more (USER_RESOURCE_OCCUPYING leaves it out) */
	report(f, s1, "TERMINATING");
	AGENT_IS(f, "{\"cpu\":6,\"mem\":5368709120}", "{\"cpu\":2,\"mem\":11811160064}", 2);
	KEYPAIR_IS(f, f->u_ak, 0, "{}");
	PRESETS_ARE(f, "ff"); /* the policy has room again, the agent not */

	/* TERMINATED: nothing of s1 is held anywhere */
	report(f, s1, "TERMINATED");
	AGENT_IS(f, "{\"cpu\":2,\"mem\":1073741824}", "{\"cpu\":6,\"mem\":16106127360}", 1);
	KEYPAIR_IS(f, f->u_ak, 0, "{}");
	PRESETS_ARE(f, "tt");

	/* a keypair list shows the same figures */
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "keypair.list", "user", 's', "u2@x.io", NULL), AL_OK);
	assert_string_equal(th_res_json_at(&rep, 0, "concurrency_used"), "1");
	assert_string_equal(th_res_json_at(&rep, 0, "num_sessions"), "1");
	al_reply_free(&rep);

	/* the views equal a rebuild, and recalculate-usage finds nothing to correct */
	al_error err;
	char live[33], rebuilt[33];
	th_digest(f->s, live);
	if (al_store_verify(f->s, NULL, NULL, &err) != AL_OK)
		fail_msg("verify: %s", err.msg);
	assert_int_equal(al_store_rebuild(f->s, NULL, NULL, &err), AL_OK);
	th_digest(f->s, rebuilt);
	assert_string_equal(live, rebuilt);
	TH_OK(f->s, NULL, 0, &rep, "maintenance.recalculate-usage", NULL);
	assert_string_equal(th_res_json(&rep, "corrections"), "0");
	assert_string_equal(th_res_json(&rep, "agents_checked"), "1");
	al_reply_free(&rep);
}

/* ---- maintenance recalculate-usage ---------------------------------------------------------- */

/* The v_occupancy key of holder (kind letter, holder, NUL). */
static MDB_val occ_key(char *buf, size_t n, char kind, const char *holder)
{
	size_t hn = strlen(holder);
	assert_true(hn + 2 <= n);
	buf[0] = kind;
	memcpy(buf + 1, holder, hn);
	buf[1 + hn] = 0;
	return (MDB_val){hn + 2, buf};
}

/* A v_occupancy row (schemas/rows.def: sessions, slots, pending, system_sessions). */
static void put_row(th_raw *r, MDB_dbi dbi, char kind, const char *holder, int sessions, const char *slots)
{
	char k[128];
	MDB_val key = occ_key(k, sizeof k, kind, holder);
	msgpack_sbuffer b;
	msgpack_packer pk;
	msgpack_sbuffer_init(&b);
	msgpack_packer_init(&pk, &b, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_int(&pk, sessions);
	msgpack_pack_str(&pk, strlen(slots));
	msgpack_pack_str_body(&pk, slots, strlen(slots));
	msgpack_pack_int(&pk, 0);
	msgpack_pack_int(&pk, 0);
	MDB_val v = {b.size, b.data};
	assert_int_equal(mdb_put(r->txn, dbi, &key, &v, 0), 0);
	msgpack_sbuffer_destroy(&b);
}

/* Damages v_occupancy in LMDB with the store closed, then opens it again. */
static void damage(fx *f)
{
	al_store_close(f->s);
	th_raw r;
	th_raw_open(&r, f->dir, 0);
	MDB_dbi dbi = th_raw_db(&r, "v_occupancy", 0);
	put_row(&r, dbi, 'a', "ag1", 5, "cpu=7");              /* an agent's figures drifted */
	put_row(&r, dbi, 'u', "ghost@x.io", 1, "cpu=1");       /* a holder that holds nothing */
	char k[128];
	MDB_val key = occ_key(k, sizeof k, 'k', f->u2_ak);     /* a keypair's row lost */
	assert_int_equal(mdb_del(r.txn, dbi, &key, NULL), 0);
	th_raw_close(&r, true);
	al_error err;
	al_open_opts oo = {AL_OPEN_QUIET, 0};
	assert_int_equal(al_store_open(&f->s, f->dir, &oo, &err), AL_OK);
}

static void recalculate_corrects_damage(void **state)
{
	fx *f = *state;
	char s2[40];
	create(f, &f->u2, "s-two", "default", "cpu=2,mem=1g", s2);
	schedule(f, s2);
	report(f, s2, "PREPARING");
	al_reply rep;
	damage(f);
	AGENT_IS(f, "{\"cpu\":7,\"mem\":0}", "{\"cpu\":1,\"mem\":17179869184}", 5); /* what the damage says */
	KEYPAIR_IS(f, f->u2_ak, 0, "{}");
	uint64_t head = al_log_head(f->s);
	TH_OK(f->s, NULL, 1, &rep, "maintenance.recalculate-usage", NULL);
	assert_string_equal(th_res_json(&rep, "corrections"), "3");
	assert_string_equal(th_res_json(&rep, "agents"), "{\"ag1\":{\"cpu\":2,\"mem\":1073741824}}");
	char want[600];
	snprintf(want, sizeof want, "{\"%s\":1}", f->u2_ak);
	assert_string_equal(th_res_json(&rep, "keypairs"), want);
	snprintf(want, sizeof want,
		 "{\"agent\":{\"ag1\":{\"sessions\":1,\"system_sessions\":0,\"slots\":{\"cpu\":2,\"mem\":1073741824},\"pending\":0}},"
		 "\"keypair\":{\"%s\":{\"sessions\":1,\"system_sessions\":0,\"slots\":{\"cpu\":2,\"mem\":1073741824},\"pending\":0}},"
		 "\"user\":{\"ghost@x.io\":{\"sessions\":0,\"system_sessions\":0,\"slots\":{},\"pending\":0}}}",
		 f->u2_ak);
	assert_string_equal(th_res_json(&rep, "occupancy"), want);
	al_reply_free(&rep);
	assert_int_equal(al_log_head(f->s), head + 1); /* one event */
	/* the figures are right again */
	AGENT_IS(f, "{\"cpu\":2,\"mem\":1073741824}", "{\"cpu\":6,\"mem\":16106127360}", 1);
	KEYPAIR_IS(f, f->u2_ak, 1, "{\"cpu\":2,\"mem\":1073741824}");
	/* a second run records nothing */
	TH_OK(f->s, NULL, 0, &rep, "maintenance.recalculate-usage", NULL);
	assert_string_equal(th_res_json(&rep, "corrections"), "0");
	al_reply_free(&rep);
	/* verify: a replay, the correction included, gives these views; so does a rebuild */
	al_error err;
	if (al_store_verify(f->s, NULL, NULL, &err) != AL_OK)
		fail_msg("verify after a correction: %s", err.msg);
	char live[33], rebuilt[33];
	th_digest(f->s, live);
	assert_int_equal(al_store_rebuild(f->s, NULL, NULL, &err), AL_OK);
	th_digest(f->s, rebuilt);
	assert_string_equal(live, rebuilt);
	/* a set, not a difference: no figure counted twice */
	AGENT_IS(f, "{\"cpu\":2,\"mem\":1073741824}", "{\"cpu\":6,\"mem\":16106127360}", 1);
	/* the session ends: the corrected figures go down from the right values */
	report(f, s2, "TERMINATED");
	AGENT_IS(f, NONE, ALL, 0);
	KEYPAIR_IS(f, f->u2_ak, 0, "{}");
	TH_OK(f->s, NULL, 0, &rep, "maintenance.recalculate-usage", NULL);
	assert_string_equal(th_res_json(&rep, "corrections"), "0");
	al_reply_free(&rep);
}

/* A PENDING session's request is a keypair figure too: damaged, it is corrected. */
static void recalculate_pending(void **state)
{
	fx *f = *state;
	char s1[40];
	create(f, &f->u, "s-wait", "default", "cpu=1,mem=1g", s1);
	al_store_close(f->s);
	th_raw r;
	th_raw_open(&r, f->dir, 0);
	MDB_dbi dbi = th_raw_db(&r, "v_occupancy", 0);
	char k[128];
	MDB_val key = occ_key(k, sizeof k, 'k', f->u_ak);
	assert_int_equal(mdb_del(r.txn, dbi, &key, NULL), 0);
	th_raw_close(&r, true);
	al_error err;
	al_open_opts oo = {AL_OPEN_QUIET, 0};
	assert_int_equal(al_store_open(&f->s, f->dir, &oo, &err), AL_OK);
	al_reply rep;
	TH_OK(f->s, NULL, 1, &rep, "maintenance.recalculate-usage", NULL);
	char want[400];
	snprintf(want, sizeof want,
		 "{\"keypair\":{\"%s\":{\"sessions\":0,\"system_sessions\":0,\"slots\":{},\"pending\":1}}}",
		 f->u_ak);
	assert_string_equal(th_res_json(&rep, "occupancy"), want);
	al_reply_free(&rep);
	TH_OK(f->s, NULL, 0, &rep, "maintenance.recalculate-usage", NULL);
	al_reply_free(&rep);
	if (al_store_verify(f->s, NULL, NULL, &err) != AL_OK)
		fail_msg("verify: %s", err.msg);
}

/* ---- delete guards -------------------------------------------------------------------------- */

static void delete_guards(void **state)
{
	fx *f = *state;
	/* a group whose only session was cancelled while PENDING: still in use */
	th_fixture(f->s, "rgroup.create", "name", 's', "spare", NULL);
	th_fixture(f->s, "rgroup.associate", "name", 's', "spare", "domain", 's', "default", NULL);
	th_fixture(f->s, "rgroup.create", "name", 's', "never", NULL);
	char id[40];
	create(f, &f->u2, "s-gone", "spare", "cpu=1,mem=1g", id);
	al_reply rep;
	TH_OK(f->s, &f->u2, 1, &rep, "session.terminate", "id", 's', id, NULL);
	assert_string_equal(th_res_str(&rep, "status"), "CANCELLED");
	al_reply_free(&rep);
	th_refuse_at(__FILE__, __LINE__, f->s, NULL, AL_EIN_USE, "name",
		     "resource group spare ran 1 compute session(s); deactivate it instead", "rgroup.delete", "name", 's',
		     "spare", NULL);
	th_fixture(f->s, "rgroup.deactivate", "name", 's', "spare", NULL);
	th_fixture(f->s, "rgroup.delete", "name", 's', "never", NULL); /* nothing ever ran there */
	/* a keypair one session was created with, cancelled or not */
	char extra[32];
	TH_OK(f->s, NULL, 1, &rep, "keypair.create", "user", 's', "u2@x.io", NULL);
	snprintf(extra, sizeof extra, "%s", th_res_str(&rep, "access_key"));
	al_reply_free(&rep);
	TH_OK(f->s, &f->u2, 1, &rep, "session.create", "name", 's', "s-extra", "image", 's', f->img, "group", 's', "default",
	      "project", 's', "vision", "access_key", 's', extra, NULL);
	al_reply_free(&rep);
	char msg[200];
	snprintf(msg, sizeof msg, "access_key: %s was used by 1 compute session(s); deactivate it instead", extra);
	th_refuse_at(__FILE__, __LINE__, f->s, NULL, AL_EIN_USE, "access_key", msg, "keypair.delete", "access_key", 's',
		     extra, NULL);
	/* PENDING: counted among its sessions, holding nothing yet */
	KEYPAIR_IS(f, extra, 0, "{}");
	assert_int_equal(th_exec(f->s, &rep, "keypair.get", "access_key", 's', extra, NULL), AL_OK);
	assert_string_equal(th_res_json(&rep, "num_sessions"), "1");
	al_reply_free(&rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(occupancy_through_a_life, setup, teardown),
		cmocka_unit_test_setup_teardown(recalculate_corrects_damage, setup, teardown),
		cmocka_unit_test_setup_teardown(recalculate_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(delete_guards, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
