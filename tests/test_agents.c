/*
 * test_agents.c - agents: the heartbeat's rules (valid and invalid), a heartbeat that changes
 * nothing appends nothing and one that changes one thing appends exactly one event, LOST after
 * the heartbeat timeout with a controlled clock (and not before), the restart grace, terminate,
 * set-schedulable, list and --terminated, get's fields (available, occupied, free), the group
 * index, the in-memory last-seen time, and rebuild / as-of equal to live.
 *
 * Resource groups are another module (rgroups.c). Until it is merged its stub refuses every
 * group, and the group is the heartbeat's last check, so no heartbeat can succeed: the tests
 * that need agents run only when the command table has rgroup.create (the lead's merge); the
 * rules checked before the group always run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "nouns/nouns.h"
#include "core/store.h"

/* ---- fixtures ------------------------------------------------------------------------------------ */

typedef struct fx {
	TH_FX_HEAD;
	int64_t now; /* the store's clock, µs */
} fx;

static int64_t fake_clock(void *ctx) { return ((fx *)ctx)->now; }

static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	if (f == NULL)
		return -1;
	f->now = al_clock_real(NULL) + 3600LL * 1000000; /* after the bootstrap's events */
	al_store_set_clock(f->s, fake_clock, f);
	*state = f;
	return 0;
}

#define teardown th_teardown /* th_fx_free */

#define SEC 1000000LL

static bool groups_built(void) { return al_cmd_def_find("rgroup.create") != NULL; }

#define REFUSE(s, code, field, has, ...) th_refuse_at(__FILE__, __LINE__, s, NULL, code, field, has, __VA_ARGS__)

static const msgpack_object *get(const msgpack_object *m, const char *key) { return al_mp_get(m, key); }

static bool is_str(const msgpack_object *o, const char *s)
{
	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) && memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

static long long int_of(const msgpack_object *o)
{
	assert_non_null(o);
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (long long)o->via.u64;
	assert_int_equal(o->type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
	return (long long)o->via.i64;
}

#define ASSERT_STR(m, key, v)                                                                    \
	do {                                                                                     \
		if (!is_str(get(m, key), v))                                                     \
			print_error("%s is not %s\n", key, v);                                   \
		assert_true(is_str(get(m, key), v));                                             \
	} while (0)

static int count_cb(const al_event *e, void *ctx)
{
	(void)e;
	++*(int *)ctx;
	return 0;
}

static int count_row(const msgpack_object *row, void *ctx)
{
	assert_int_equal(row->type, MSGPACK_OBJECT_MAP);
	++*(int *)ctx;
	return 0;
}

/* How many events of type the log holds (any type when NULL) after seq. */
static int events_after(al_store *s, uint64_t seq, const char *type)
{
	al_log_filter f = {.type = type, .after_seq = seq};
	al_error err = {0};
	int n = 0;
	assert_int_equal(al_log_query(s, &f, count_cb, &n, &err), AL_OK);
	return n;
}

/* The field names of the last event, comma-joined, and its type. */
typedef struct last_ev {
	char type[64], keys[512];
} last_ev;

static int last_cb(const al_event *e, void *ctx)
{
	last_ev *l = ctx;
	snprintf(l->type, sizeof l->type, "%s", e->def->name);
	l->keys[0] = 0;
	for (uint32_t i = 0; i < e->fields.via.map.size; i++) {
		char k[64];
		al_str_cpy(k, sizeof k, (al_str){e->fields.via.map.ptr[i].key.via.str.ptr, e->fields.via.map.ptr[i].key.via.str.size});
		if (i)
			strcat(l->keys, ",");
		strcat(l->keys, k);
	}
	return 0;
}

static last_ev last_event(al_store *s)
{
	last_ev l = {{0}};
	al_log_filter f = {.after_seq = al_log_head(s) - 1};
	al_error err = {0};
	assert_int_equal(al_log_query(s, &f, last_cb, &l, &err), AL_OK);
	return l;
}

/* A heartbeat with the usual arguments, more given as extra triples (the NULL that ends them
 * is added first, so that BEAT_ always has variadic arguments: ISO C without ##__VA_ARGS__). */
#define BEAT(...) BEAT_(__VA_ARGS__, NULL)
#define BEAT_(s, id, ...) th_run(s, "agent.heartbeat", "id", 's', id, "addr", 's', "10.0.0.1:6001", "available", 's', \
				 "cpu=8,mem=32g", __VA_ARGS__)

/* ---- rules checked before the group (always run) ------------------------------------------------------ */

static void heartbeat_rules(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
#define HB(code, field, has, id, addr, ...) \
	REFUSE(s, code, field, has, "agent.heartbeat", "id", 's', id, "addr", 's', addr, "available", 's', __VA_ARGS__, NULL)
	/* id: the slug rule, at most 64 */
	HB(AL_EINVALID_ARGUMENT, "id", NULL, "", "h:1", "cpu=1,mem=1g");
	HB(AL_EINVALID_ARGUMENT, "id", NULL, "-ag", "h:1", "cpu=1,mem=1g");
	HB(AL_EINVALID_ARGUMENT, "id", NULL, "a g", "h:1", "cpu=1,mem=1g");
	char longid[80];
	memset(longid, 'a', 65);
	longid[65] = 0;
	HB(AL_EINVALID_ARGUMENT, "id", "64", longid, "h:1", "cpu=1,mem=1g");
	/* addr: HOST:PORT */
	HB(AL_EINVALID_ARGUMENT, "addr", "HOST:PORT", "ag1", "10.0.0.1", "cpu=1,mem=1g");
	HB(AL_EINVALID_ARGUMENT, "addr", "HOST:PORT", "ag1", ":6001", "cpu=1,mem=1g");
	HB(AL_EINVALID_ARGUMENT, "addr", "port", "ag1", "10.0.0.1:0", "cpu=1,mem=1g");
	HB(AL_EINVALID_ARGUMENT, "addr", "port", "ag1", "10.0.0.1:65536", "cpu=1,mem=1g");
	HB(AL_EINVALID_ARGUMENT, "addr", "port", "ag1", "10.0.0.1:http", "cpu=1,mem=1g");
	HB(AL_EINVALID_ARGUMENT, "addr", "port", "ag1", "10.0.0.1:", "cpu=1,mem=1g");
	HB(AL_EINVALID_ARGUMENT, "addr", "host name", "ag1", "300.1.2.3:6001", "cpu=1,mem=1g");
	HB(AL_EINVALID_ARGUMENT, "addr", "host name", "ag1", "bad_host:6001", "cpu=1,mem=1g");
	HB(AL_EINVALID_ARGUMENT, "addr", "host name", "ag1", "-x.example.com:6001", "cpu=1,mem=1g");
	HB(AL_EINVALID_ARGUMENT, "addr", "host name", "ag1", "[::1:6001", "cpu=1,mem=1g");
	HB(AL_EINVALID_ARGUMENT, "addr", "host name", "ag1", "[zz::1]:6001", "cpu=1,mem=1g");
	char longaddr[200];
	memset(longaddr, 'a', 130);
	strcpy(longaddr + 130, ":1");
	HB(AL_EINVALID_ARGUMENT, "addr", "128", "ag1", longaddr, "cpu=1,mem=1g");
	/* region, arch, version */
	HB(AL_EINVALID_ARGUMENT, "region", NULL, "ag1", "h:1", "cpu=1,mem=1g", "region", 's', "");
	HB(AL_EINVALID_ARGUMENT, "region", "64", "ag1", "h:1", "cpu=1,mem=1g", "region", 's', longid);
	HB(AL_EINVALID_ARGUMENT, "arch", "x86_64", "ag1", "h:1", "cpu=1,mem=1g", "arch", 's', "X86");
	HB(AL_EINVALID_ARGUMENT, "arch", NULL, "ag1", "h:1", "cpu=1,mem=1g", "arch", 's', "");
	HB(AL_EINVALID_ARGUMENT, "arch", NULL, "ag1", "h:1", "cpu=1,mem=1g", "arch", 's', "x86/64");
	HB(AL_EINVALID_ARGUMENT, "version", NULL, "ag1", "h:1", "cpu=1,mem=1g", "version", 's', "");
	HB(AL_EINVALID_ARGUMENT, "version", NULL, "ag1", "h:1", "cpu=1,mem=1g", "version", 's', "24.03\n");
	/* available: slot syntax, cpu and mem required */
	HB(AL_EINVALID_ARGUMENT, "available", "cpu and mem", "ag1", "h:1", "cpu=8");
	HB(AL_EINVALID_ARGUMENT, "available", "cpu and mem", "ag1", "h:1", "mem=8g,cuda.device=1");
	HB(AL_EINVALID_ARGUMENT, "available", "cpu and mem", "ag1", "h:1", "");
	HB(AL_EINVALID_ARGUMENT, "available", "size", "ag1", "h:1", "cpu=8,mem=lots");
	HB(AL_EINVALID_ARGUMENT, "available", "number", "ag1", "h:1", "cpu=-1,mem=1g");
	HB(AL_EINVALID_ARGUMENT, "available", "twice", "ag1", "h:1", "cpu=1,cpu=2,mem=1g");
	HB(AL_EINVALID_ARGUMENT, "available", "name=amount", "ag1", "h:1", "cpu,mem=1g");
	/* images: canonical names */
	HB(AL_EINVALID_ARGUMENT, "images", "canonical", "ag1", "h:1", "cpu=1,mem=1g", "images", 'l', "python:3.9");
	HB(AL_EINVALID_ARGUMENT, "images", "canonical", "ag1", "h:1", "cpu=1,mem=1g", "images", 'l', "cr.io/lab/python");
	HB(AL_EINVALID_ARGUMENT, "images", "canonical", "ag1", "h:1", "cpu=1,mem=1g", "images", 'l',
	   "cr.io/lab/python:3.9,cr.io/lab/bad tag:1");
	HB(AL_EINVALID_ARGUMENT, "images", "canonical", "ag1", "h:1", "cpu=1,mem=1g", "images", 'l', "/lab/python:3.9");
	HB(AL_EINVALID_ARGUMENT, "images", "canonical", "ag1", "h:1", "cpu=1,mem=1g", "images", 'l', "cr.io/lab/py:");
	/* group: not empty (whether it exists is the last check, the resource groups' module) */
	HB(AL_EINVALID_ARGUMENT, "group", NULL, "ag1", "h:1", "cpu=1,mem=1g", "group", 's', "");
	/* the arguments' types and presence, from the command table */
	REFUSE(s, AL_EINVALID_ARGUMENT, "available", "required", "agent.heartbeat", "id", 's', "ag1", "addr", 's', "h:1", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "addr", "required", "agent.heartbeat", "id", 's', "ag1", "available", 's', "cpu=1,mem=1g",
	       NULL);
	/* an invalid field is reported before the group is looked at */
	HB(AL_EINVALID_ARGUMENT, "addr", NULL, "ag1", "nope", "cpu=1,mem=1g", "group", 's', "no-such-group");
#undef HB
}

static void unknown_agents(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	REFUSE(s, AL_ENOT_FOUND, NULL, "agent ghost: not found", "agent.get", "id", 's', "ghost", NULL);
	REFUSE(s, AL_ENOT_FOUND, NULL, "agent ghost: not found", "agent.terminate", "id", 's', "ghost", NULL);
	REFUSE(s, AL_ENOT_FOUND, NULL, "agent ghost: not found", "agent.set-schedulable", "id", 's', "ghost", "schedulable",
	       'b', 0, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "schedulable", "required", "agent.set-schedulable", "id", 's', "ghost", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "group", NULL, "agent.list", "group", 's', "", NULL);
	th_result r;
	TH_RUN_OK(&r, s, "agent.list", NULL);
	assert_int_equal(r.o.type, MSGPACK_OBJECT_ARRAY);
	assert_int_equal(r.o.via.array.size, 0);
	th_result_free(&r);
	/* expire with no agents: nothing lost, nothing appended, the default timeout */
	uint64_t head = al_log_head(s);
	TH_RUN_OK(&r, s, "agent.expire", NULL);
	assert_int_equal(get(&r.o, "lost")->via.array.size, 0);
	assert_true(get(&r.o, "timeout")->via.f64 == 40.0);
	th_result_free(&r);
	assert_int_equal(al_log_head(s), head);
}

/* Only a superadmin: agents authenticate with a superadmin service account's keypair. */
static void only_superadmins(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	assert_int_equal(th_run(s, "user.create", "email", 's', "adm@example.com", "username", 's', "adm", "password", 's',
				"Passw0rd!", "role", 's', "admin", NULL),
			 AL_OK);
	th_actor a;
	assert_int_equal(th_as(s, "adm@example.com", &a), AL_OK);
	static const char *const ops[] = {"agent.heartbeat", "agent.terminate", "agent.expire", "agent.set-schedulable",
					  "agent.get", "agent.list"};
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
		uint64_t head = al_log_head(s);
		al_reply rep;
		int rc = th_exec_as(s, &a.a, &rep, ops[i], "id", 's', "ag1", "addr", 's', "h:1", "available", 's',
				    "cpu=1,mem=1g", "schedulable", 'b', 1, NULL);
		if (rc != AL_EPERMISSION_DENIED)
			print_error("%s as a domain admin: %s\n", ops[i], al_err_name(rc));
		assert_int_equal(rc, AL_EPERMISSION_DENIED);
		assert_int_equal(al_log_head(s), head);
		al_reply_free(&rep);
	}
}

/* ---- with resource groups --------------------------------------------------------------------------- */

/* A resource group beside default (rgroups.c's rgroup.create). */
static void make_group(al_store *s, const char *name)
{
	al_reply rep;
	int rc = th_exec(s, &rep, "rgroup.create", "name", 's', name, NULL);
	if (rc != AL_OK)
		print_error("rgroup.create %s: %s\n", name, rep.err.msg);
	assert_int_equal(rc, AL_OK);
	al_reply_free(&rep);
}

static void first_contact(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	uint64_t head = al_log_head(s);
	th_result r;
	TH_RUN_OK(&r, s, "agent.heartbeat", "id", 's', "i-ag1", "addr", 's', "10.0.0.1:6001", "available", 's',
	       "cpu=8,mem=32g,cuda.device=2", NULL);
	assert_int_equal(al_log_head(s), head + 1);
	last_ev l = last_event(s);
	assert_string_equal(l.type, "agent.created");
	assert_string_equal(l.keys, "addr,region,architecture,agent_version,available_slots,scaling_group,images");
	/* the result is the agent, with the defaults of the options left out */
	ASSERT_STR(&r.o, "id", "i-ag1");
	ASSERT_STR(&r.o, "status", "ALIVE");
	assert_true(get(&r.o, "schedulable")->via.boolean);
	ASSERT_STR(&r.o, "addr", "10.0.0.1:6001");
	ASSERT_STR(&r.o, "region", "local");
	ASSERT_STR(&r.o, "architecture", "x86_64");
	ASSERT_STR(&r.o, "agent_version", "");
	ASSERT_STR(&r.o, "scaling_group", "default");
	assert_int_equal(get(&r.o, "images")->via.array.size, 0);
	th_result_free(&r);

	TH_RUN_OK(&r, s, "agent.get", "id", 's', "i-ag1", NULL);
	static const char *const fields[] = {"id", "status", "schedulable", "scaling_group", "addr", "region",
					     "architecture", "agent_version", "available", "occupied", "free", "sessions",
					     "images", "first_contact", "status_changed", "lost_at", "last_seen", "version"};
	assert_int_equal(r.o.via.map.size, sizeof fields / sizeof *fields);
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
		assert_non_null(get(&r.o, fields[i]));
	const msgpack_object *av = get(&r.o, "available"), *oc = get(&r.o, "occupied"), *fr = get(&r.o, "free");
	assert_int_equal(av->via.map.size, 3);
	assert_int_equal(int_of(get(av, "cpu")), 8);
	assert_int_equal(int_of(get(av, "mem")), 32LL << 30);
	assert_int_equal(int_of(get(av, "cuda.device")), 2);
	/* occupied names every slot, at 0 while no session is placed on it (test_occupancy.c:
	 * with sessions); free = available - occupied */
	assert_int_equal(oc->via.map.size, 3);
	assert_int_equal(fr->via.map.size, 3);
	static const char *const slots[] = {"cpu", "mem", "cuda.device"};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(int_of(get(oc, slots[i])), 0);
		assert_int_equal(int_of(get(fr, slots[i])), int_of(get(av, slots[i])));
	}
	assert_int_equal(int_of(get(&r.o, "sessions")), 0);
	assert_int_equal(get(&r.o, "lost_at")->type, MSGPACK_OBJECT_NIL);
	assert_non_null(get(&r.o, "last_seen"));
	assert_int_equal(get(&r.o, "last_seen")->type, MSGPACK_OBJECT_STR);
	assert_int_equal(int_of(get(&r.o, "version")), 1);
	th_result_free(&r);
	/* amd64 and x86-64 are x86_64: no change */
	head = al_log_head(s);
	assert_int_equal(th_run(s, "agent.heartbeat", "id", 's', "i-ag1", "addr", 's', "10.0.0.1:6001", "available", 's',
				"cpu=8,mem=32g,cuda.device=2", "arch", 's', "amd64", NULL),
			 AL_OK);
	assert_int_equal(th_run(s, "agent.heartbeat", "id", 's', "i-ag1", "addr", 's', "10.0.0.1:6001", "available", 's',
				"cpu=8,mem=32g,cuda.device=2", "arch", 's', "x86-64", NULL),
			 AL_OK);
	assert_int_equal(al_log_head(s), head);
	/* an unknown group is refused, as the last check, with nothing appended */
	REFUSE(s, AL_EINVALID_ARGUMENT, "group", NULL, "agent.heartbeat", "id", 's', "i-ag2", "addr", 's', "h:1", "available",
	       's', "cpu=1,mem=1g", "group", 's', "no-such-group", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "group", NULL, "agent.heartbeat", "id", 's', "i-ag1", "addr", 's', "10.0.0.1:6001",
	       "available", 's', "cpu=8,mem=32g,cuda.device=2", "group", 's', "no-such-group", NULL);
}

static void no_change_appends_nothing(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	assert_int_equal(BEAT(s, "ag1", "region", 's', "eu-1", "arch", 's', "aarch64", "version", 's', "24.03.1", "images",
			      'l', "cr.io/lab/b:1,cr.io/lab/a:2"),
			 AL_OK);
	uint64_t head = al_log_head(s);
	/* the same report again, and in other spellings of the same values */
	assert_int_equal(BEAT(s, "ag1", "region", 's', "eu-1", "arch", 's', "aarch64", "version", 's', "24.03.1", "images",
			      'l', "cr.io/lab/b:1,cr.io/lab/a:2"),
			 AL_OK);
	assert_int_equal(th_run(s, "agent.heartbeat", "id", 's', "ag1", "addr", 's', "10.0.0.1:6001", "available", 's',
				"mem=32768m,cpu=8", "arch", 's', "arm64", "images", 'l',
				"cr.io/lab/a:2,cr.io/lab/b:1,cr.io/lab/a:2", NULL),
			 AL_OK);
	/* options left out keep their values */
	assert_int_equal(BEAT(s, "ag1"), AL_OK);
	for (int i = 0; i < 20; i++) {
		f->now += 5 * SEC;
		assert_int_equal(BEAT(s, "ag1"), AL_OK);
	}
	assert_int_equal(al_log_head(s), head);
	th_result r;
	TH_RUN_OK(&r, s, "agent.get", "id", 's', "ag1", NULL);
	ASSERT_STR(&r.o, "region", "eu-1");
	ASSERT_STR(&r.o, "architecture", "aarch64");
	ASSERT_STR(&r.o, "agent_version", "24.03.1");
	const msgpack_object *im = get(&r.o, "images");
	assert_int_equal(im->via.array.size, 2);
	assert_true(is_str(&im->via.array.ptr[0], "cr.io/lab/a:2")); /* sorted */
	assert_true(is_str(&im->via.array.ptr[1], "cr.io/lab/b:1"));
	/* the last heartbeat's time, kept in memory */
	char t[40];
	assert_true(is_str(get(&r.o, "last_seen"), al_time_format(f->now, t, sizeof t)));
	th_result_free(&r);
}

static void each_change_appends_one_event(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	make_group(s, "gpu");
	assert_int_equal(BEAT(s, "ag1"), AL_OK);
	static const struct {
		const char *key, *value, *field;
	} changes[] = {
		{"addr", "node1.example.com:6001", "addr"},
		{"region", "eu-2", "region"},
		{"arch", "aarch64", "architecture"},
		{"version", "24.09", "agent_version"},
		{"available", "cpu=16,mem=32g", "available_slots"},
		{"group", "gpu", "scaling_group"},
		{"images", "cr.io/lab/x:1", "images"},
	};
	const char *addr = "10.0.0.1:6001", *avail = "cpu=8,mem=32g";
	for (size_t i = 0; i < sizeof changes / sizeof *changes; i++) {
		uint64_t head = al_log_head(s);
		if (strcmp(changes[i].key, "addr") == 0)
			addr = changes[i].value;
		if (strcmp(changes[i].key, "available") == 0)
			avail = changes[i].value;
		int rc;
		if (strcmp(changes[i].key, "images") == 0)
			rc = th_run(s, "agent.heartbeat", "id", 's', "ag1", "addr", 's', addr, "available", 's', avail, "images",
				    'l', changes[i].value, NULL);
		else if (strcmp(changes[i].key, "addr") == 0 || strcmp(changes[i].key, "available") == 0)
			rc = th_run(s, "agent.heartbeat", "id", 's', "ag1", "addr", 's', addr, "available", 's', avail, NULL);
		else
			rc = th_run(s, "agent.heartbeat", "id", 's', "ag1", "addr", 's', addr, "available", 's', avail,
				    changes[i].key, 's', changes[i].value, NULL);
		assert_int_equal(rc, AL_OK);
		assert_int_equal(al_log_head(s), head + 1);
		last_ev l = last_event(s);
		assert_string_equal(l.type, "agent.updated");
		assert_string_equal(l.keys, changes[i].field);
	}
	/* the empty image list is a change too */
	uint64_t head = al_log_head(s);
	assert_int_equal(th_run(s, "agent.heartbeat", "id", 's', "ag1", "addr", 's', addr, "available", 's', avail, "images",
				'l', "", NULL),
			 AL_OK);
	assert_int_equal(al_log_head(s), head + 1);
	/* the group index keeps every group the agent ever had: the resource groups' delete guard */
	MDB_txn *txn;
	al_error err = {0};
	assert_int_equal(al__read_begin(s, &txn, &err), AL_OK);
	msgpack_zone z;
	msgpack_zone_init(&z, 1024);
	al_cmd c = {.s = s, .txn = txn, .actor = &th_admin, .err = &err, .zone = &z};
	uint64_t n = 9;
	assert_int_equal(al__agents_count_group(&c, (al_str){"default", 7}, &n), AL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(al__agents_count_group(&c, (al_str){"gpu", 3}, &n), AL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(al__agents_count_group(&c, (al_str){"gp", 2}, &n), AL_OK); /* a prefix is not the group */
	assert_int_equal(n, 0);
	msgpack_zone_destroy(&z);
	mdb_txn_abort(txn);
}

/* LOST after the timeout, with the store's clock under control, and not before. */
static void lost_after_timeout(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	assert_int_equal(BEAT(s, "ag1"), AL_OK);
	assert_int_equal(BEAT(s, "ag2"), AL_OK);
	int64_t t0 = f->now;
	th_result r;
	/* ag2 keeps beating without changes (no events), ag1 falls silent */
	f->now = t0 + 30 * SEC;
	assert_int_equal(BEAT(s, "ag2"), AL_OK);
	uint64_t head = al_log_head(s);
	f->now = t0 + 40 * SEC; /* exactly the timeout: not yet */
	TH_RUN_OK(&r, s, "agent.expire", NULL);
	assert_int_equal(get(&r.o, "lost")->via.array.size, 0);
	th_result_free(&r);
	assert_int_equal(al_log_head(s), head);
	f->now = t0 + 40 * SEC + 1;
	TH_RUN_OK(&r, s, "agent.expire", NULL);
	assert_int_equal(get(&r.o, "lost")->via.array.size, 1);
	assert_true(is_str(&get(&r.o, "lost")->via.array.ptr[0], "ag1"));
	th_result_free(&r);
	assert_int_equal(al_log_head(s), head + 1);
	last_ev l = last_event(s);
	assert_string_equal(l.type, "agent.status_changed");
	assert_string_equal(l.keys, "status,previous");
	TH_RUN_OK(&r, s, "agent.get", "id", 's', "ag1", NULL);
	ASSERT_STR(&r.o, "status", "LOST");
	char t[40];
	assert_true(is_str(get(&r.o, "lost_at"), al_time_format(f->now, t, sizeof t)));
	assert_true(is_str(get(&r.o, "status_changed"), t));
	th_result_free(&r);
	TH_RUN_OK(&r, s, "agent.get", "id", 's', "ag2", NULL);
	ASSERT_STR(&r.o, "status", "ALIVE");
	th_result_free(&r);
	/* once LOST, another check records nothing more */
	f->now += 100 * SEC;
	head = al_log_head(s);
	TH_RUN_OK(&r, s, "agent.expire", NULL);
	assert_int_equal(get(&r.o, "lost")->via.array.size, 1); /* ag2, silent for 110 s now */
	assert_true(is_str(&get(&r.o, "lost")->via.array.ptr[0], "ag2"));
	th_result_free(&r);
	assert_int_equal(al_log_head(s), head + 1);
	head = al_log_head(s);
	TH_RUN_OK(&r, s, "agent.expire", NULL);
	assert_int_equal(get(&r.o, "lost")->via.array.size, 0);
	th_result_free(&r);
	assert_int_equal(al_log_head(s), head);
	/* a heartbeat brings a LOST agent back: one event, ALIVE */
	assert_int_equal(BEAT(s, "ag1"), AL_OK);
	assert_int_equal(al_log_head(s), head + 1);
	l = last_event(s);
	assert_string_equal(l.type, "agent.status_changed");
	TH_RUN_OK(&r, s, "agent.get", "id", 's', "ag1", NULL);
	ASSERT_STR(&r.o, "status", "ALIVE");
	assert_true(is_str(get(&r.o, "lost_at"), t)); /* when it was last lost */
	th_result_free(&r);
	/* a LOST agent that comes back with a change: the change and the status, two events */
	head = al_log_head(s);
	assert_int_equal(th_run(s, "agent.heartbeat", "id", 's', "ag2", "addr", 's', "10.0.0.9:6001", "available", 's',
				"cpu=8,mem=32g", NULL),
			 AL_OK);
	assert_int_equal(events_after(s, head, NULL), 2);
	assert_int_equal(events_after(s, head, "agent.updated"), 1);
	assert_int_equal(events_after(s, head, "agent.status_changed"), 1);
}

/* A process that starts knows no heartbeat times: the first check counts every agent as seen
 * then, so a restart does not make every agent LOST at once. */
static void restart_grace(void **state)
{
	fx *f = *state;
	assert_int_equal(BEAT(f->s, "ag1"), AL_OK);
	assert_int_equal(th_run(f->s, "agent.terminate", "id", 's', "ag1", "restarting", 'b', 1, NULL), AL_OK);
	assert_int_equal(BEAT(f->s, "ag2"), AL_OK);
	al_store_close(f->s);
	al_open_opts oo = {AL_OPEN_QUIET, 0};
	al_error err = {0};
	assert_int_equal(al_store_open(&f->s, f->dir, &oo, &err), AL_OK);
	al_store_set_clock(f->s, fake_clock, f);
	al_store *s = f->s;
	th_result r;
	TH_RUN_OK(&r, s, "agent.get", "id", 's', "ag2", NULL);
	assert_int_equal(get(&r.o, "last_seen")->type, MSGPACK_OBJECT_NIL); /* not heard from by this process */
	th_result_free(&r);
	uint64_t head = al_log_head(s);
	f->now += 3600 * SEC; /* long after the last heartbeats */
	TH_RUN_OK(&r, s, "agent.expire", NULL);
	assert_int_equal(get(&r.o, "lost")->via.array.size, 0);
	th_result_free(&r);
	assert_int_equal(al_log_head(s), head);
	f->now += 40 * SEC;
	TH_RUN_OK(&r, s, "agent.expire", NULL);
	assert_int_equal(al_log_head(s), head);
	th_result_free(&r);
	f->now += 1;
	TH_RUN_OK(&r, s, "agent.expire", NULL); /* both: ALIVE and RESTARTING agents go LOST */
	assert_int_equal(get(&r.o, "lost")->via.array.size, 2);
	th_result_free(&r);
	assert_int_equal(al_log_head(s), head + 2);
}

static void terminate_and_list(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	make_group(s, "gpu");
	assert_int_equal(BEAT(s, "ag1"), AL_OK);
	assert_int_equal(BEAT(s, "ag2", "group", 's', "gpu"), AL_OK);
	assert_int_equal(BEAT(s, "ag3"), AL_OK);
	uint64_t head = al_log_head(s);
	th_result r;
	TH_RUN_OK(&r, s, "agent.terminate", "id", 's', "ag3", NULL);
	ASSERT_STR(&r.o, "status", "TERMINATED");
	th_result_free(&r);
	assert_int_equal(al_log_head(s), head + 1);
	assert_int_equal(th_run(s, "agent.terminate", "id", 's', "ag3", NULL), AL_OK); /* already: nothing */
	assert_int_equal(al_log_head(s), head + 1);
	TH_RUN_OK(&r, s, "agent.terminate", "id", 's', "ag1", "restarting", 'b', 1, NULL);
	ASSERT_STR(&r.o, "status", "RESTARTING");
	th_result_free(&r);
	/* connected: every status but TERMINATED, by id */
	TH_RUN_OK(&r, s, "agent.list", NULL);
	assert_int_equal(r.o.via.array.size, 2);
	ASSERT_STR(&r.o.via.array.ptr[0], "id", "ag1");
	ASSERT_STR(&r.o.via.array.ptr[1], "id", "ag2");
	th_result_free(&r);
	TH_RUN_OK(&r, s, "agent.list", "terminated", 'b', 1, NULL);
	assert_int_equal(r.o.via.array.size, 1);
	ASSERT_STR(&r.o.via.array.ptr[0], "id", "ag3");
	assert_non_null(get(&r.o.via.array.ptr[0], "free"));
	th_result_free(&r);
	TH_RUN_OK(&r, s, "agent.list", "group", 's', "gpu", NULL);
	assert_int_equal(r.o.via.array.size, 1);
	ASSERT_STR(&r.o.via.array.ptr[0], "id", "ag2");
	th_result_free(&r);
	TH_RUN_OK(&r, s, "agent.list", "group", 's', "default", "terminated", 'b', 1, NULL);
	assert_int_equal(r.o.via.array.size, 1);
	th_result_free(&r);
	/* a terminated (or restarting) agent that beats again is ALIVE: one event */
	head = al_log_head(s);
	assert_int_equal(BEAT(s, "ag3"), AL_OK);
	assert_int_equal(al_log_head(s), head + 1);
	assert_int_equal(BEAT(s, "ag1"), AL_OK);
	assert_int_equal(al_log_head(s), head + 2);
	TH_RUN_OK(&r, s, "agent.list", NULL);
	assert_int_equal(r.o.via.array.size, 3);
	th_result_free(&r);
	/* al__agents_each: the public rows of a group's agents */
	MDB_txn *txn;
	al_error err = {0};
	assert_int_equal(al__read_begin(s, &txn, &err), AL_OK);
	int n = 0;
	assert_int_equal(al__agents_each(s, txn, (al_str){"gpu", 3}, count_row, &n, &err), AL_OK);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(al__agents_each(s, txn, (al_str){"", 0}, count_row, &n, &err), AL_OK);
	assert_int_equal(n, 3);
	mdb_txn_abort(txn);
}

static void set_schedulable(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	assert_int_equal(BEAT(s, "ag1"), AL_OK);
	uint64_t head = al_log_head(s);
	th_result r;
	TH_RUN_OK(&r, s, "agent.set-schedulable", "id", 's', "ag1", "schedulable", 'b', 0, NULL);
	assert_false(get(&r.o, "schedulable")->via.boolean);
	ASSERT_STR(&r.o, "status", "ALIVE"); /* just the flag */
	th_result_free(&r);
	assert_int_equal(al_log_head(s), head + 1);
	assert_string_equal(last_event(s).type, "agent.schedulable_changed");
	assert_int_equal(th_run(s, "agent.set-schedulable", "id", 's', "ag1", "schedulable", 'b', 0, NULL), AL_OK);
	assert_int_equal(al_log_head(s), head + 1);
	/* heartbeats leave it alone */
	assert_int_equal(BEAT(s, "ag1", "region", 's', "eu-3"), AL_OK);
	TH_RUN_OK(&r, s, "agent.get", "id", 's', "ag1", NULL);
	assert_false(get(&r.o, "schedulable")->via.boolean);
	th_result_free(&r);
	assert_int_equal(th_run(s, "agent.set-schedulable", "id", 's', "ag1", "schedulable", 'b', 1, NULL), AL_OK);
	assert_int_equal(al_log_head(s), head + 3);
	/* expected_version targets the agent */
	TH_RUN_OK(&r, s, "agent.get", "id", 's', "ag1", NULL);
	long long v = int_of(get(&r.o, "version"));
	th_result_free(&r);
	REFUSE(s, AL_ECONFLICT, NULL, NULL, "agent.set-schedulable", "id", 's', "ag1", "schedulable", 'b', 0,
	       "expected_version", 'i', v - 1, NULL);
	assert_int_equal(th_run(s, "agent.set-schedulable", "id", 's', "ag1", "schedulable", 'b', 0, "expected_version", 'i',
				v, NULL),
			 AL_OK);
}

static void rebuild_and_asof(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	make_group(s, "gpu");
	uint64_t mid = 0;
	char mid_digest[33];
	for (int i = 0; i < 30; i++) {
		char id[16];
		snprintf(id, sizeof id, "ag%d", i % 7);
		f->now += 7 * SEC;
		switch (i % 5) {
		case 0: BEAT(s, id, "images", 'l', i % 2 ? "cr.io/a/b:1" : "cr.io/a/b:2"); break;
		case 1: BEAT(s, id, "group", 's', i % 2 ? "gpu" : "default"); break;
		case 2: th_run(s, "agent.terminate", "id", 's', id, NULL); break;
		case 3: th_run(s, "agent.set-schedulable", "id", 's', id, "schedulable", 'b', i % 2, NULL); break;
		default: th_run(s, "agent.expire", NULL); break;
		}
		if (i == 15) {
			mid = al_log_head(s);
			th_digest(s, mid_digest);
		}
	}
	f->now += 100 * SEC;
	assert_int_equal(th_run(s, "agent.expire", NULL), AL_OK);
	char live[33], rebuilt[33], past[33];
	al_error err = {0};
	th_digest(s, live);
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	al_store *then;
	assert_int_equal(al_store_asof(s, mid, &then, &err), AL_OK);
	th_digest(then, past);
	assert_string_equal(mid_digest, past);
	al_store_close(then);
}

int main(void)
{
	const struct CMUnitTest always[] = {
		cmocka_unit_test_setup_teardown(heartbeat_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_agents, setup, teardown),
		cmocka_unit_test_setup_teardown(only_superadmins, setup, teardown),
	};
	const struct CMUnitTest with_groups[] = {
		cmocka_unit_test_setup_teardown(first_contact, setup, teardown),
		cmocka_unit_test_setup_teardown(no_change_appends_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(each_change_appends_one_event, setup, teardown),
		cmocka_unit_test_setup_teardown(lost_after_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(restart_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(terminate_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(set_schedulable, setup, teardown),
		cmocka_unit_test_setup_teardown(rebuild_and_asof, setup, teardown),
	};
	int failed = cmocka_run_group_tests_name("agents", always, NULL, NULL);
	if (!groups_built()) {
		print_message("# resource groups are not built in this tree (no rgroup.create): the %zu tests that "
			      "need a successful heartbeat were not run\n",
			      sizeof with_groups / sizeof *with_groups);
		return failed;
	}
	return failed + cmocka_run_group_tests_name("agents with resource groups", with_groups, NULL, NULL);
}
