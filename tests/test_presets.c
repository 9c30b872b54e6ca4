/*
 * test_presets.c - resource presets: every rule of create and update, valid and invalid, delete
 * and reuse of a name, who may do what, the CSV export, rebuild / as-of equal to live, and
 * preset.check: agents of different free capacity, unschedulable, LOST and TERMINATED agents
 * and other groups left out, and the keypair's policy limits (numbers, unlimited,
 * default_for_unspecified), with the keypair chosen by argument or by the caller.
 *
 * preset.check needs resource groups and agents, and an agent needs a resource group (the
 * rgroups module, another helper's): those tests run only when the command table has
 * rgroup.create, i.e. after the lead's merge. The rest always runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "nouns/nouns.h"
#include "core/store.h"

#define PW "Passw0rd!"
#define GIB (1LL << 30)

#define setup th_setup
#define teardown th_teardown

#define S th_store

static bool groups_built(void) { return al_cmd_def_find("rgroup.create") != NULL; }

#define REFUSE(s, code, field, has, ...) th_refuse_at(__FILE__, __LINE__, s, NULL, code, field, has, __VA_ARGS__)
#define REFUSE_AS(s, who, code, field, has, ...) th_refuse_at(__FILE__, __LINE__, s, who, code, field, has, __VA_ARGS__)

static const msgpack_object *get(const msgpack_object *m, const char *key) { return al_mp_get(m, key); }

static bool is_str(const msgpack_object *o, const char *s)
{
	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) && memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

static double num(const msgpack_object *o)
{
	assert_non_null(o);
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (double)o->via.u64;
	assert_true(o->type == MSGPACK_OBJECT_FLOAT64);
	return o->via.f64;
}

/* The slot names of a map, comma-joined in their order. */
static const char *keys(const msgpack_object *m)
{
	static char buf[512];
	buf[0] = 0;
	for (uint32_t i = 0; m && i < m->via.map.size; i++) {
		char k[64];
		al_str_cpy(k, sizeof k, (al_str){m->via.map.ptr[i].key.via.str.ptr, m->via.map.ptr[i].key.via.str.size});
		if (i)
			strcat(buf, ",");
		strcat(buf, k);
	}
	return buf;
}

static void user(al_store *s, const char *email, const char *role)
{
	char name[64];
	snprintf(name, sizeof name, "%.*s", (int)strcspn(email, "@"), email);
	assert_int_equal(th_run(s, "user.create", "email", 's', email, "username", 's', name, "password", 's', PW, "role", 's',
				role, NULL),
			 AL_OK);
}

/* ---- create, update, delete ---------------------------------------------------------------------- */

static void create_rules(void **state)
{
	al_store *s = S(state);
#define C(...) C_(__VA_ARGS__, NULL) /* the NULL first: C_ always has variadic arguments */
#define C_(code, field, has, ...) REFUSE(s, code, field, has, "preset.create", __VA_ARGS__)
	C(AL_EINVALID_ARGUMENT, "name", NULL, "name", 's', "", "cpu", 'i', 1LL, "mem", 's', "1g");
	C(AL_EINVALID_ARGUMENT, "name", NULL, "name", 's', "bad name", "cpu", 'i', 1LL, "mem", 's', "1g");
	C(AL_EINVALID_ARGUMENT, "name", NULL, "name", 's', "-x", "cpu", 'i', 1LL, "mem", 's', "1g");
	C(AL_EINVALID_ARGUMENT, "cpu", "required", "name", 's', "p", "mem", 's', "1g");
	C(AL_EINVALID_ARGUMENT, "mem", "required", "name", 's', "p", "cpu", 'i', 1LL);
	C(AL_EINVALID_ARGUMENT, "cpu", "1 to 512", "name", 's', "p", "cpu", 'i', 0LL, "mem", 's', "1g");
	C(AL_EINVALID_ARGUMENT, "cpu", "1 to 512", "name", 's', "p", "cpu", 'i', 513LL, "mem", 's', "1g");
	C(AL_EINVALID_ARGUMENT, "cpu", "whole", "name", 's', "p", "cpu", 'd', 1.5, "mem", 's', "1g");
	C(AL_EINVALID_ARGUMENT, "cpu", "unlimited", "name", 's', "p", "cpu", 's', "unlimited", "mem", 's', "1g");
	C(AL_EINVALID_ARGUMENT, "cpu", NULL, "name", 's', "p", "cpu", 's', "four", "mem", 's', "1g");
	C(AL_EINVALID_ARGUMENT, "mem", "size", "name", 's', "p", "cpu", 'i', 1LL, "mem", 's', "lots");
	C(AL_EINVALID_ARGUMENT, "mem", "size", "name", 's', "p", "cpu", 'i', 1LL, "mem", 's', "-1g");
	C(AL_EINVALID_ARGUMENT, "mem", "more than 0", "name", 's', "p", "cpu", 'i', 1LL, "mem", 's', "0");
	C(AL_EINVALID_ARGUMENT, "gpu", "0 to 64", "name", 's', "p", "cpu", 'i', 1LL, "mem", 's', "1g", "gpu", 'i', 65LL);
	C(AL_EINVALID_ARGUMENT, "gpu", "whole", "name", 's', "p", "cpu", 'i', 1LL, "mem", 's', "1g", "gpu", 'd', 0.5);
	C(AL_EINVALID_ARGUMENT, "fgpu", "0.1", "name", 's', "p", "cpu", 'i', 1LL, "mem", 's', "1g", "fgpu", 'd', 0.25);
	C(AL_EINVALID_ARGUMENT, "fgpu", "0 to 256", "name", 's', "p", "cpu", 'i', 1LL, "mem", 's', "1g", "fgpu", 'd', 256.5);
	C(AL_EINVALID_ARGUMENT, "shmem", "more than mem", "name", 's', "p", "cpu", 'i', 1LL, "mem", 's', "1g", "shmem", 's',
	  "2g");
	C(AL_EINVALID_ARGUMENT, "shmem", "size", "name", 's', "p", "cpu", 'i', 1LL, "mem", 's', "1g", "shmem", 's', "x");
	C(AL_EINVALID_ARGUMENT, "slots", "--cpu", "name", 's', "p", "cpu", 'i', 1LL, "mem", 's', "1g", "slots", 's', "cpu=2");
	C(AL_EINVALID_ARGUMENT, "slots", "--gpu", "name", 's', "p", "cpu", 'i', 1LL, "mem", 's', "1g", "slots", 's',
	  "cuda.device=1");
	C(AL_EINVALID_ARGUMENT, "slots", "--fgpu", "name", 's', "p", "cpu", 'i', 1LL, "mem", 's', "1g", "slots", 's',
	  "cuda.shares=1");
	C(AL_EINVALID_ARGUMENT, "slots", "name=amount", "name", 's', "p", "cpu", 'i', 1LL, "mem", 's', "1g", "slots", 's',
	  "rocm");
	/* at the limits */
	th_result r;
	TH_RUN_OK(&r, s, "preset.create", "name", 's', "max", "cpu", 'i', 512LL, "mem", 's', "1g", "gpu", 'i', 64LL, "fgpu", 'd',
	       256.0, "shmem", 's', "1g", NULL);
	th_result_free(&r);
	C(AL_EALREADY_EXISTS, "name", "already exists", "name", 's', "max", "cpu", 'i', 1LL, "mem", 's', "1g");
#undef C
#undef C_
}

static void create_and_get(void **state)
{
	al_store *s = S(state);
	uint64_t head = al_log_head(s);
	th_result r;
	TH_RUN_OK(&r, s, "preset.create", "name", 's', "cuda01-small", "cpu", 'i', 1LL, "mem", 's', "4g", "gpu", 'i', 1LL,
	       "fgpu", 'd', 0.5, "shmem", 's', "1g", "slots", 's', "rocm.device=0,tpu.device=2", NULL);
	assert_int_equal(al_log_head(s), head + 1);
	assert_true(is_str(get(&r.o, "name"), "cuda01-small"));
	const msgpack_object *sl = get(&r.o, "resource_slots");
	/* sorted; gpu is cuda.device, fgpu cuda.shares; a zero amount is left out */
	assert_string_equal(keys(sl), "cpu,cuda.device,cuda.shares,mem,tpu.device");
	assert_true(num(get(sl, "cpu")) == 1);
	assert_true(num(get(sl, "mem")) == 4.0 * GIB);
	assert_true(num(get(sl, "cuda.device")) == 1);
	assert_true(num(get(sl, "cuda.shares")) == 0.5);
	assert_true(num(get(sl, "tpu.device")) == 2);
	assert_true(num(get(&r.o, "shared_memory")) == 1.0 * GIB);
	assert_true(num(get(&r.o, "version")) == 1);
	assert_non_null(get(&r.o, "created_at"));
	th_result_free(&r);
	TH_RUN_OK(&r, s, "preset.create", "name", 's', "cpu01-small", "cpu", 'i', 1LL, "mem", 's', "1073741824", "gpu", 'i',
	       0LL, NULL);
	assert_string_equal(keys(get(&r.o, "resource_slots")), "cpu,mem");
	assert_true(num(get(&r.o, "shared_memory")) == 0);
	th_result_free(&r);
	TH_RUN_OK(&r, s, "preset.get", "name", 's', "cuda01-small", NULL);
	assert_string_equal(keys(get(&r.o, "resource_slots")), "cpu,cuda.device,cuda.shares,mem,tpu.device");
	th_result_free(&r);
	TH_RUN_OK(&r, s, "preset.list", NULL);
	assert_int_equal(r.o.via.array.size, 2); /* by name */
	assert_true(is_str(get(&r.o.via.array.ptr[0], "name"), "cpu01-small"));
	assert_true(is_str(get(&r.o.via.array.ptr[1], "name"), "cuda01-small"));
	th_result_free(&r);
	REFUSE(s, AL_ENOT_FOUND, NULL, "preset nope: not found", "preset.get", "name", 's', "nope", NULL);
}

static void update_rules(void **state)
{
	al_store *s = S(state);
	assert_int_equal(th_run(s, "preset.create", "name", 's', "p", "cpu", 'i', 2LL, "mem", 's', "8g", "gpu", 'i', 1LL,
				"shmem", 's', "1g", "slots", 's', "rocm.device=1", NULL),
			 AL_OK);
	uint64_t head = al_log_head(s);
	REFUSE(s, AL_EINVALID_ARGUMENT, NULL, "nothing to update", "preset.update", "name", 's', "p", NULL);
	REFUSE(s, AL_ENOT_FOUND, NULL, "not found", "preset.update", "name", 's', "q", "cpu", 'i', 1LL, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "cpu", NULL, "preset.update", "name", 's', "p", "cpu", 'i', 0LL, NULL);
	/* shmem stays at most mem, whichever of them changes */
	REFUSE(s, AL_EINVALID_ARGUMENT, "shmem", "more than mem", "preset.update", "name", 's', "p", "mem", 's', "512m", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "shmem", "more than mem", "preset.update", "name", 's', "p", "shmem", 's', "9g", NULL);
	/* the same values: nothing recorded */
	assert_int_equal(th_run(s, "preset.update", "name", 's', "p", "cpu", 'i', 2LL, "mem", 's', "8192m", "shmem", 's', "1g",
				"slots", 's', "rocm.device=1", NULL),
			 AL_OK);
	assert_int_equal(al_log_head(s), head);
	/* one change, one event; the rest stays */
	th_result r;
	TH_RUN_OK(&r, s, "preset.update", "name", 's', "p", "cpu", 'i', 4LL, NULL);
	assert_int_equal(al_log_head(s), head + 1);
	assert_string_equal(keys(get(&r.o, "resource_slots")), "cpu,cuda.device,mem,rocm.device");
	assert_true(num(get(get(&r.o, "resource_slots"), "cpu")) == 4);
	assert_true(num(get(&r.o, "shared_memory")) == 1.0 * GIB);
	th_result_free(&r);
	/* gpu 0 removes the slot, --slots "" the other accelerators, shmem 0 the shared memory */
	TH_RUN_OK(&r, s, "preset.update", "name", 's', "p", "gpu", 'i', 0LL, "slots", 's', "", "shmem", 's', "0", "fgpu", 'd',
	       1.5, NULL);
	assert_int_equal(al_log_head(s), head + 2);
	assert_string_equal(keys(get(&r.o, "resource_slots")), "cpu,cuda.shares,mem");
	assert_true(num(get(&r.o, "shared_memory")) == 0);
	assert_true(num(get(&r.o, "version")) == 3);
	th_result_free(&r);
}

static void delete_and_reuse(void **state)
{
	al_store *s = S(state);
	assert_int_equal(th_run(s, "preset.create", "name", 's', "p", "cpu", 'i', 2LL, "mem", 's', "8g", NULL), AL_OK);
	uint64_t head = al_log_head(s);
	th_result r;
	TH_RUN_OK(&r, s, "preset.delete", "name", 's', "p", NULL);
	assert_true(get(&r.o, "deleted")->via.boolean);
	th_result_free(&r);
	assert_int_equal(al_log_head(s), head + 1);
	REFUSE(s, AL_ENOT_FOUND, NULL, NULL, "preset.get", "name", 's', "p", NULL);
	REFUSE(s, AL_ENOT_FOUND, NULL, NULL, "preset.delete", "name", 's', "p", NULL);
	TH_RUN_OK(&r, s, "preset.list", NULL);
	assert_int_equal(r.o.via.array.size, 0);
	th_result_free(&r);
	/* the name is free again; its history continues */
	TH_RUN_OK(&r, s, "preset.create", "name", 's', "p", "cpu", 'i', 1LL, "mem", 's', "1g", NULL);
	assert_true(num(get(&r.o, "version")) == 3);
	th_result_free(&r);
}

/* A superadmin writes; anyone signed in reads (monitors too). */
static void who_may(void **state)
{
	al_store *s = S(state);
	assert_int_equal(th_run(s, "preset.create", "name", 's', "p", "cpu", 'i', 2LL, "mem", 's', "8g", NULL), AL_OK);
	user(s, "adm@example.com", "admin");
	user(s, "mon@example.com", "monitor");
	user(s, "u@example.com", "user");
	static const char *const who[] = {"adm@example.com", "mon@example.com", "u@example.com"};
	for (size_t i = 0; i < 3; i++) {
		th_actor a;
		assert_int_equal(th_as(s, who[i], &a), AL_OK);
		REFUSE_AS(s, &a.a, AL_EPERMISSION_DENIED, NULL, NULL, "preset.create", "name", 's', "q", "cpu", 'i', 1LL, "mem",
			  's', "1g", NULL);
		REFUSE_AS(s, &a.a, AL_EPERMISSION_DENIED, NULL, NULL, "preset.update", "name", 's', "p", "cpu", 'i', 1LL, NULL);
		REFUSE_AS(s, &a.a, AL_EPERMISSION_DENIED, NULL, NULL, "preset.delete", "name", 's', "p", NULL);
		th_result r;
		TH_RUN_OK_AS(&r, s, &a.a, "preset.list", NULL);
		assert_int_equal(r.o.via.array.size, 1);
		th_result_free(&r);
		TH_RUN_OK_AS(&r, s, &a.a, "preset.get", "name", 's', "p", NULL);
		th_result_free(&r);
	}
}

static int write_csv(al_store *s, const char *what, char **buf, size_t *n)
{
	FILE *f = open_memstream(buf, n);
	al_request req = {NULL, NULL, 0, &th_admin};
	al_error err = {0};
	int rc = al_export_csv(s, what, &req, f, &err);
	fclose(f);
	return rc;
}

static void export_csv(void **state)
{
	al_store *s = S(state);
	assert_int_equal(th_run(s, "preset.create", "name", 's', "b", "cpu", 'i', 2LL, "mem", 's', "1k", "fgpu", 'd', 0.5,
				NULL),
			 AL_OK);
	assert_int_equal(th_run(s, "preset.create", "name", 's', "a", "cpu", 'i', 1LL, "mem", 's', "2048", "shmem", 's', "1k",
				NULL),
			 AL_OK);
	char *buf = NULL;
	size_t n = 0;
	assert_int_equal(write_csv(s, "presets", &buf, &n), AL_OK);
	assert_true(strncmp(buf, "name,resource_slots,shared_memory,created_at,modified_at\r\n", 58) == 0);
	char *a = strstr(buf, "\r\na,\"{\"\"cpu\"\":1,\"\"mem\"\":2048}\",1024,");
	char *b = strstr(buf, "\r\nb,\"{\"\"cpu\"\":2,\"\"cuda.shares\"\":0.5,\"\"mem\"\":1024}\",0,");
	if (!a || !b)
		print_error("%s\n", buf);
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a < b);
	free(buf);
	/* agents: the header, and no rows while there are no agents */
	assert_int_equal(write_csv(s, "agents", &buf, &n), AL_OK);
	assert_string_equal(buf, "id,status,schedulable,scaling_group,addr,region,architecture,agent_version,available,"
				 "occupied,free,images,first_contact,status_changed,lost_at\r\n");
	free(buf);
}

static void rebuild_and_asof(void **state)
{
	al_store *s = S(state);
	char mid[33] = "";
	uint64_t mid_seq = 0;
	for (int i = 0; i < 40; i++) {
		char name[16];
		snprintf(name, sizeof name, "p%d", i % 6);
		switch (i % 4) {
		case 0:
			th_run(s, "preset.create", "name", 's', name, "cpu", 'i', (long long)(1 + i % 8), "mem", 's', "2g", "fgpu",
			       'd', (i % 5) / 10.0, NULL);
			break;
		case 1: th_run(s, "preset.update", "name", 's', name, "shmem", 's', i % 2 ? "1g" : "0", NULL); break;
		case 2: th_run(s, "preset.update", "name", 's', name, "slots", 's', i % 3 ? "rocm.device=1" : "", NULL); break;
		default: th_run(s, "preset.delete", "name", 's', name, NULL); break;
		}
		if (i == 20) {
			mid_seq = al_log_head(s);
			th_digest(s, mid);
		}
	}
	char live[33], rebuilt[33], then[33];
	al_error err = {0};
	th_digest(s, live);
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	al_store *past;
	assert_int_equal(al_store_asof(s, mid_seq, &past, &err), AL_OK);
	th_digest(past, then);
	assert_string_equal(mid, then);
	al_store_close(past);
}

/* ---- preset.check (needs resource groups and agents) ------------------------------------------------ */

static void make_group(al_store *s, const char *name)
{
	al_reply rep;
	int rc = th_exec(s, &rep, "rgroup.create", "name", 's', name, NULL);
	if (rc != AL_OK)
		print_error("rgroup.create %s: %s\n", name, rep.err.msg);
	assert_int_equal(rc, AL_OK);
	al_reply_free(&rep);
}

static void beat(al_store *s, const char *id, const char *avail, const char *group)
{
	al_reply rep;
	int rc = th_exec(s, &rep, "agent.heartbeat", "id", 's', id, "addr", 's', "10.0.0.1:6001", "available", 's', avail,
			 "group", 's', group, NULL);
	if (rc != AL_OK)
		print_error("heartbeat %s: %s\n", id, rep.err.msg);
	assert_int_equal(rc, AL_OK);
	al_reply_free(&rep);
}

/* "name=1,name=0,..." for the presets of a check, in their order. */
static const char *check(al_store *s, const al_actor *who, const char *group, const char *keypair)
{
	static char buf[512];
	th_result r;
	if (keypair)
		TH_RUN_OK_AS(&r, s, who, "preset.check", "group", 's', group, "keypair", 's', keypair, NULL);
	else
		TH_RUN_OK_AS(&r, s, who, "preset.check", "group", 's', group, NULL);
	buf[0] = 0;
	for (uint32_t i = 0; i < r.o.via.array.size; i++) {
		const msgpack_object *p = &r.o.via.array.ptr[i], *name = get(p, "name"), *ok = get(p, "allocatable");
		assert_non_null(name);
		assert_non_null(ok);
		assert_int_equal(ok->type, MSGPACK_OBJECT_BOOLEAN);
		snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%.*s=%d", i ? "," : "", (int)name->via.str.size,
			 name->via.str.ptr, ok->via.boolean);
	}
	th_result_free(&r);
	return buf;
}

static void presets_for_check(al_store *s)
{
	assert_int_equal(th_run(s, "preset.create", "name", 's', "a-small", "cpu", 'i', 1LL, "mem", 's', "1g", NULL), AL_OK);
	assert_int_equal(th_run(s, "preset.create", "name", 's', "b-large", "cpu", 'i', 8LL, "mem", 's', "16g", NULL), AL_OK);
	assert_int_equal(th_run(s, "preset.create", "name", 's', "c-gpu", "cpu", 'i', 2LL, "mem", 's', "4g", "gpu", 'i', 1LL,
				NULL),
			 AL_OK);
	assert_int_equal(th_run(s, "preset.create", "name", 's', "d-fgpu", "cpu", 'i', 1LL, "mem", 's', "2g", "fgpu", 'd',
				0.5, NULL),
			 AL_OK);
	assert_int_equal(th_run(s, "preset.create", "name", 's', "e-rocm", "cpu", 'i', 1LL, "mem", 's', "1g", "slots", 's',
				"rocm.device=1", NULL),
			 AL_OK);
}

static void check_agents(void **state)
{
	al_store *s = S(state);
	make_group(s, "gpu");
	presets_for_check(s);
	/* no agents: nothing fits */
	assert_string_equal(check(s, &th_admin, "default", NULL), "a-small=0,b-large=0,c-gpu=0,d-fgpu=0,e-rocm=0");
	/* one small agent; each slot a preset names must fit, a slot the agent lacks is 0 */
	beat(s, "small", "cpu=4,mem=8g", "default");
	assert_string_equal(check(s, &th_admin, "default", NULL), "a-small=1,b-large=0,c-gpu=0,d-fgpu=0,e-rocm=0");
	/* enough cpu but not enough memory is not enough */
	beat(s, "cpuheavy", "cpu=64,mem=8g", "default");
	assert_string_equal(check(s, &th_admin, "default", NULL), "a-small=1,b-large=0,c-gpu=0,d-fgpu=0,e-rocm=0");
	/* a GPU agent in another group counts only for that group */
	beat(s, "gpu1", "cpu=16,mem=64g,cuda.device=2,cuda.shares=1,rocm.device=1", "gpu");
	assert_string_equal(check(s, &th_admin, "default", NULL), "a-small=1,b-large=0,c-gpu=0,d-fgpu=0,e-rocm=0");
	assert_string_equal(check(s, &th_admin, "gpu", NULL), "a-small=1,b-large=1,c-gpu=1,d-fgpu=1,e-rocm=1");
	/* an unschedulable agent is left out, and back when schedulable again */
	assert_int_equal(th_run(s, "agent.set-schedulable", "id", 's', "gpu1", "schedulable", 'b', 0, NULL), AL_OK);
	assert_string_equal(check(s, &th_admin, "gpu", NULL), "a-small=0,b-large=0,c-gpu=0,d-fgpu=0,e-rocm=0");
	assert_int_equal(th_run(s, "agent.set-schedulable", "id", 's', "gpu1", "schedulable", 'b', 1, NULL), AL_OK);
	/* TERMINATED and RESTARTING agents are left out */
	assert_int_equal(th_run(s, "agent.terminate", "id", 's', "gpu1", NULL), AL_OK);
	assert_string_equal(check(s, &th_admin, "gpu", NULL), "a-small=0,b-large=0,c-gpu=0,d-fgpu=0,e-rocm=0");
	beat(s, "gpu1", "cpu=16,mem=64g,cuda.device=2,cuda.shares=1,rocm.device=1", "gpu");
	assert_int_equal(th_run(s, "agent.terminate", "id", 's', "gpu1", "restarting", 'b', 1, NULL), AL_OK);
	assert_string_equal(check(s, &th_admin, "gpu", NULL), "a-small=0,b-large=0,c-gpu=0,d-fgpu=0,e-rocm=0");
	beat(s, "gpu1", "cpu=16,mem=64g,cuda.device=2,cuda.shares=1,rocm.device=1", "gpu");
	assert_string_equal(check(s, &th_admin, "gpu", NULL), "a-small=1,b-large=1,c-gpu=1,d-fgpu=1,e-rocm=1");
	/* a capacity that shrinks on a heartbeat counts at once */
	beat(s, "gpu1", "cpu=16,mem=64g,cuda.shares=0.4", "gpu");
	assert_string_equal(check(s, &th_admin, "gpu", NULL), "a-small=1,b-large=1,c-gpu=0,d-fgpu=0,e-rocm=0");
	/* an unknown group is refused */
	REFUSE(s, AL_EINVALID_ARGUMENT, "group", NULL, "preset.check", "group", 's', "no-such-group", NULL);
}

static int64_t lost_now;
static int64_t lost_clock(void *ctx)
{
	(void)ctx;
	return lost_now;
}

static void check_lost_agents(void **state)
{
	al_store *s = S(state);
	presets_for_check(s);
	lost_now = al_clock_real(NULL) + 3600LL * 1000000;
	al_store_set_clock(s, lost_clock, NULL);
	beat(s, "big", "cpu=64,mem=256g", "default");
	assert_string_equal(check(s, &th_admin, "default", NULL), "a-small=1,b-large=1,c-gpu=0,d-fgpu=0,e-rocm=0");
	lost_now += 41LL * 1000000;
	assert_int_equal(th_run(s, "agent.expire", NULL), AL_OK);
	assert_string_equal(check(s, &th_admin, "default", NULL), "a-small=0,b-large=0,c-gpu=0,d-fgpu=0,e-rocm=0");
	beat(s, "big", "cpu=64,mem=256g", "default");
	assert_string_equal(check(s, &th_admin, "default", NULL), "a-small=1,b-large=1,c-gpu=0,d-fgpu=0,e-rocm=0");
}

/* The keypair's policy: its limits (numbers, unlimited, default_for_unspecified), the keypair
 * given or the caller's. */
static void check_policy_limits(void **state)
{
	al_store *s = S(state);
	presets_for_check(s);
	beat(s, "big", "cpu=64,mem=256g,cuda.device=8,cuda.shares=8,rocm.device=4", "default");
	const char *all = "a-small=1,b-large=1,c-gpu=1,d-fgpu=1,e-rocm=1";
	user(s, "u@example.com", "user");
	user(s, "o@example.com", "user");
	user(s, "adm@example.com", "admin");
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', "u@example.com", NULL), AL_OK);
	char ak[32];
	snprintf(ak, sizeof ak, "%s", th_res_str(&rep, "main_access_key"));
	al_reply_free(&rep);
	th_actor u, o, adm;
	assert_int_equal(th_as(s, "u@example.com", &u), AL_OK);
	assert_int_equal(th_as(s, "o@example.com", &o), AL_OK);
	assert_int_equal(th_as(s, "adm@example.com", &adm), AL_OK);
	/* the default policy is unlimited */
	assert_string_equal(check(s, &th_admin, "default", ak), all);
	assert_string_equal(check(s, &u.a, "default", NULL), all);
	/* numbers: cpu 4 and ram_gb 8 leave out b-large; gpu 0 c-gpu; fgpu 0.4 d-fgpu */
	assert_int_equal(th_run(s, "policy.create", "name", 's', "small", "cpu", 'i', 4LL, "ram_gb", 'i', 8LL, "gpu", 'i', 0LL,
				"fgpu", 'd', 0.4, NULL),
			 AL_OK);
	assert_int_equal(th_run(s, "keypair.update", "access_key", 's', ak, "policy", 's', "small", NULL), AL_OK);
	assert_string_equal(check(s, &th_admin, "default", ak), "a-small=1,b-large=0,c-gpu=0,d-fgpu=0,e-rocm=1");
	/* by default the calling user's main keypair; a local operator has no keypair limit */
	assert_string_equal(check(s, &u.a, "default", NULL), "a-small=1,b-large=0,c-gpu=0,d-fgpu=0,e-rocm=1");
	assert_string_equal(check(s, &th_admin, "default", NULL), all);
	/* the keypair the caller signed in with comes first */
	assert_int_equal(th_exec(s, &rep, "keypair.create", "user", 's', "u@example.com", NULL), AL_OK);
	char ak2[32];
	snprintf(ak2, sizeof ak2, "%s", th_res_str(&rep, "access_key"));
	al_reply_free(&rep);
	al_actor signed_in = u.a;
	signed_in.access_key = ak2;
	assert_string_equal(check(s, &signed_in, "default", NULL), all);
	/* ram_gb is in GiB: exactly 16g fits 16 */
	assert_int_equal(th_run(s, "policy.update", "name", 's', "small", "cpu", 'i', 8LL, "ram_gb", 'i', 16LL, NULL), AL_OK);
	assert_string_equal(check(s, &th_admin, "default", ak), "a-small=1,b-large=1,c-gpu=0,d-fgpu=0,e-rocm=1");
	/* fgpu 0.5 fits 0.5 */
	assert_int_equal(th_run(s, "policy.update", "name", 's', "small", "fgpu", 'd', 0.5, NULL), AL_OK);
	assert_string_equal(check(s, &th_admin, "default", ak), "a-small=1,b-large=1,c-gpu=0,d-fgpu=1,e-rocm=1");
	/* unlimited is no limit */
	assert_int_equal(th_run(s, "policy.update", "name", 's', "small", "gpu", 's', "unlimited", NULL), AL_OK);
	assert_string_equal(check(s, &th_admin, "default", ak), all);
	/* a slot the policy does not name follows default_for_unspecified */
	assert_int_equal(th_run(s, "policy.update", "name", 's', "small", "default_for_unspecified", 's', "limited", NULL),
			 AL_OK);
	assert_string_equal(check(s, &th_admin, "default", ak), "a-small=1,b-large=1,c-gpu=1,d-fgpu=1,e-rocm=0");
	assert_int_equal(th_run(s, "policy.update", "name", 's', "small", "default_for_unspecified", 's', "unlimited", NULL),
			 AL_OK);
	assert_string_equal(check(s, &th_admin, "default", ak), all);
	/* whose keypair: a user only its own, an admin those of its domain */
	assert_string_equal(check(s, &u.a, "default", ak), all);
	REFUSE_AS(s, &o.a, AL_EPERMISSION_DENIED, NULL, NULL, "preset.check", "group", 's', "default", "keypair", 's', ak, NULL);
	assert_string_equal(check(s, &adm.a, "default", ak), all);
	REFUSE(s, AL_EINVALID_ARGUMENT, "keypair", "no keypair", "preset.check", "group", 's', "default", "keypair", 's',
	       "AKIANOSUCHKEY0000000", NULL);
}

int main(void)
{
	const struct CMUnitTest always[] = {
		cmocka_unit_test_setup_teardown(create_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(create_and_get, setup, teardown),
		cmocka_unit_test_setup_teardown(update_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(delete_and_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(who_may, setup, teardown),
		cmocka_unit_test_setup_teardown(export_csv, setup, teardown),
		cmocka_unit_test_setup_teardown(rebuild_and_asof, setup, teardown),
	};
	const struct CMUnitTest with_groups[] = {
		cmocka_unit_test_setup_teardown(check_agents, setup, teardown),
		cmocka_unit_test_setup_teardown(check_lost_agents, setup, teardown),
		cmocka_unit_test_setup_teardown(check_policy_limits, setup, teardown),
	};
	int failed = cmocka_run_group_tests_name("presets", always, NULL, NULL);
	if (!groups_built()) {
		print_message("# resource groups are not built in this tree (no rgroup.create): the %zu preset.check tests "
			      "were not run\n",
			      sizeof with_groups / sizeof *with_groups);
		return failed;
	}
	return failed + cmocka_run_group_tests_name("presets with resource groups", with_groups, NULL, NULL);
}
