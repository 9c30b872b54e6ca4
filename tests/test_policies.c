/*
 * test_policies.c - keypair, user and project resource policies: every option at, below and
 * beyond its maximum, unlimited, fGPU steps, storage host parsing, names, update and delete
 * rules, the permission matrix, the helpers other modules use (al__policy_require,
 * al__policy_quota, al__policy_emit_defaults), and rebuild / as-of equal to live.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "nouns/nouns.h"
#include "core/store.h"

#define PW "Passw0rd!"

/* ---- fixtures ------------------------------------------------------------------------------------- */

#define setup th_setup
#define teardown th_teardown
#define S th_store
static const char *DIR_OF(void **state) { return ((th_fx *)*state)->dir; }

/*
 * Runs op as who and checks the refusal: the code, a message starting with "field:" (when
 * field is not NULL) and containing has (when not NULL), no result, nothing appended.
 */
#define REFUSE(s, code, field, has, ...) th_refuse_at(__FILE__, __LINE__, s, NULL, code, field, has, __VA_ARGS__)
#define REFUSE_AS(s, who, code, field, has, ...) th_refuse_at(__FILE__, __LINE__, s, who, code, field, has, __VA_ARGS__)

/* ---- decoding results ------------------------------------------------------------------------------ */

static const msgpack_object *get(const msgpack_object *m, const char *key)
{
	for (uint32_t i = 0; m->type == MSGPACK_OBJECT_MAP && i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
		    memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
			return &m->via.map.ptr[i].val;
	}
	return NULL;
}

static int is_str(const msgpack_object *o, const char *s)
{
	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) && memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

#define ASSERT_UNLIMITED(m, key) assert_true(is_str(get(m, key), "unlimited"))
#define ASSERT_UINT(m, key, v)                                                  \
	do {                                                                    \
		const msgpack_object *o_ = get(m, key);                         \
		assert_non_null(o_);                                            \
		assert_int_equal(o_->type, MSGPACK_OBJECT_POSITIVE_INTEGER);    \
		assert_int_equal(o_->via.u64, (uint64_t)(v));                   \
	} while (0)

/* The current row of policy name of the kind whose ops start with prefix ("policy"). */
static void fetch(al_store *s, const char *prefix, const char *name, th_result *r)
{
	char op[64];
	snprintf(op, sizeof op, "%s.get", prefix);
	TH_RUN_OK(r, s, op, "name", 's', name, NULL);
}

/* The fields of the last event in the log, decoded into r. */
typedef struct last_ev {
	char type[64], id[300];
	int nfields;
	char keys[16][48];
} last_ev;

static int last_cb(const al_event *e, void *ctx)
{
	last_ev *l = ctx;
	snprintf(l->type, sizeof l->type, "%s", e->def->name);
	al_str_cpy(l->id, sizeof l->id, e->id);
	l->nfields = (int)e->fields.via.map.size;
	for (int i = 0; i < l->nfields && i < 16; i++)
		al_str_cpy(l->keys[i], sizeof l->keys[i],
			   (al_str){e->fields.via.map.ptr[i].key.via.str.ptr, e->fields.via.map.ptr[i].key.via.str.size});
	return 0;
}

static void last_event(al_store *s, last_ev *l)
{
	al_log_filter f = {.after_seq = al_log_head(s) - 1};
	al_error err = {0};
	memset(l, 0, sizeof *l);
	assert_int_equal(al_log_query(s, &f, last_cb, l, &err), AL_OK);
}

static int count_cb(const al_event *e, void *ctx)
{
	(void)e;
	++*(int *)ctx;
	return 0;
}

/* How many events the log holds about entity ("keypair_policy:gold"). */
static int history(al_store *s, const char *entity)
{
	al_log_filter f = {.entity = entity};
	al_error err = {0};
	int n = 0;
	assert_int_equal(al_log_query(s, &f, count_cb, &n, &err), AL_OK);
	return n;
}

/* The names listed by op, comma-joined, leaving out "default" (the bootstrap's policy of each
 * kind, once store.init records it), so the tests hold with and without it. */
static const char *listed(al_store *s, const char *op)
{
	static char buf[2048];
	th_result r;
	TH_RUN_OK(&r, s, op, NULL);
	assert_int_equal(r.o.type, MSGPACK_OBJECT_ARRAY);
	buf[0] = 0;
	for (uint32_t i = 0; i < r.o.via.array.size; i++) {
		const msgpack_object *n = get(&r.o.via.array.ptr[i], "name");
		assert_non_null(n);
		if (is_str(n, "default"))
			continue;
		snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%.*s", buf[0] ? "," : "", (int)n->via.str.size,
			 n->via.str.ptr);
	}
	th_result_free(&r);
	return buf;
}

/* ---- the options, restated from the admin guide (and the documented choices) ------------------- */

typedef struct opt {
	const char *name;
	long long max;
	int frac;
	long long def; /* -1: unlimited when omitted on create */
} opt;

static const opt kp_opts[] = {
	{"cpu", 512, 0, -1},
	{"ram_gb", 1024, 0, -1},
	{"gpu", 64, 0, -1},
	{"fgpu", 256, 1, -1},
	{"containers_per_session", 100, 0, -1},
	{"idle_timeout", 15552000, 0, -1},
	{"concurrent_jobs", 100, 0, -1},
	{"session_lifetime", 31536000, 0, -1},
	{"capacity_gb", 1024, 0, -1},
	{"max_folders", 100, 0, -1},
	{"max_pending_session_count", 1000, 0, -1},
	{"max_concurrent_sftp_sessions", 100, 0, 1},
};
static const opt user_opts[] = {
	{"max_folder_count", 100, 0, -1},
	{"max_session_count_per_model_session", 100, 0, -1},
	{"max_customized_image_count", 100, 0, 3},
};
static const opt project_opts[] = {
	{"max_folder_count", 100, 0, -1},
};

typedef struct kindt {
	const char *prefix, *entity;
	const opt *opts;
	size_t n;
} kindt;

static const kindt kinds[] = {
	{"policy", "keypair_policy", kp_opts, sizeof kp_opts / sizeof *kp_opts},
	{"user-policy", "user_policy", user_opts, sizeof user_opts / sizeof *user_opts},
	{"project-policy", "project_policy", project_opts, sizeof project_opts / sizeof *project_opts},
};

static const char *op_of(const kindt *k, const char *verb)
{
	static char buf[4][64];
	static int slot;
	slot = (slot + 1) % 4;
	snprintf(buf[slot], sizeof buf[slot], "%s.%s", k->prefix, verb);
	return buf[slot];
}

/* ---- create: defaults and result shape -------------------------------------------------------------- */

static void create_defaults(void **state)
{
	al_store *s = S(state);
	for (size_t i = 0; i < 3; i++) {
		const kindt *k = &kinds[i];
		th_result r;
		uint64_t head = al_log_head(s);
		TH_RUN_OK(&r, s, op_of(k, "create"), "name", 's', "plain", NULL);
		assert_int_equal(al_log_head(s), head + 1);
		assert_true(is_str(get(&r.o, "name"), "plain"));
		for (size_t o = 0; o < k->n; o++)
			if (k->opts[o].def < 0)
				ASSERT_UNLIMITED(&r.o, k->opts[o].name);
			else
				ASSERT_UINT(&r.o, k->opts[o].name, k->opts[o].def);
		if (i == 0) {
			assert_true(is_str(get(&r.o, "default_for_unspecified"), "unlimited"));
			const msgpack_object *h = get(&r.o, "allowed_hosts");
			assert_non_null(h);
			assert_int_equal(h->type, MSGPACK_OBJECT_MAP);
			assert_int_equal(h->via.map.size, 0);
		} else {
			ASSERT_UNLIMITED(&r.o, "max_quota_size");
			assert_null(get(&r.o, "allowed_hosts"));
			assert_null(get(&r.o, "default_for_unspecified"));
		}
		/* times formatted like users', and the entity's version */
		const msgpack_object *c = get(&r.o, "created_at"), *m = get(&r.o, "modified_at");
		assert_non_null(c);
		assert_int_equal(c->type, MSGPACK_OBJECT_STR);
		assert_true(c->via.str.size >= 20 && c->via.str.ptr[4] == '-' && c->via.str.ptr[c->via.str.size - 1] == 'Z');
		assert_non_null(m);
		assert_int_equal(m->type, MSGPACK_OBJECT_STR);
		assert_int_equal(m->via.str.size, c->via.str.size);
		ASSERT_UINT(&r.o, "version", 1);
		/* every option present: name, options, times, version (+2 for keypair policies) */
		assert_int_equal(r.o.via.map.size, 1 + k->n + (i == 0 ? 2 : 1) + 3);
		th_result_free(&r);
		last_ev l;
		last_event(s, &l);
		char want[64];
		snprintf(want, sizeof want, "%s.created", k->entity);
		assert_string_equal(l.type, want);
		assert_string_equal(l.id, "plain");
		/* the created event records every option */
		assert_int_equal(l.nfields, 1 + (int)k->n + (i == 0 ? 2 : 1));
	}
}

/* ---- every limit option: at, beyond, unlimited, zero, whole numbers -------------------------------- */

static void limits(void **state)
{
	al_store *s = S(state);
	char name[96], at_most[64];
	for (size_t i = 0; i < 3; i++) {
		const kindt *k = &kinds[i];
		for (size_t o = 0; o < k->n; o++) {
			const opt *p = &k->opts[o];
			th_result r;
			snprintf(at_most, sizeof at_most, "at most %lld", p->max);
			/* at the maximum */
			snprintf(name, sizeof name, "at-%s", p->name);
			TH_RUN_OK(&r, s, op_of(k, "create"), "name", 's', name, p->name, 'i', p->max, NULL);
			ASSERT_UINT(&r.o, p->name, p->max);
			th_result_free(&r);
			/* beyond it: on create and on update, the message naming the field and the maximum */
			snprintf(name, sizeof name, "over-%s", p->name);
			REFUSE(s, AL_EINVALID_ARGUMENT, p->name, at_most, op_of(k, "create"), "name", 's', name, p->name, 'i',
			       p->max + 1, NULL);
			REFUSE(s, AL_EINVALID_ARGUMENT, p->name, at_most, op_of(k, "create"), "name", 's', name, p->name, 'd',
			       1e15, NULL);
			REFUSE(s, AL_EINVALID_ARGUMENT, p->name, NULL, op_of(k, "create"), "name", 's', name, p->name, 'i',
			       (long long)INT64_MAX, NULL);
			snprintf(name, sizeof name, "at-%s", p->name);
			REFUSE(s, AL_EINVALID_ARGUMENT, p->name, at_most, op_of(k, "update"), "name", 's', name, p->name, 'i',
			       p->max + 1, NULL);
			/* negative: refused by the argument check, naming the field */
			REFUSE(s, AL_EINVALID_ARGUMENT, p->name, NULL, op_of(k, "create"), "name", 's', "neg", p->name, 'i',
			       -1LL, NULL);
			REFUSE(s, AL_EINVALID_ARGUMENT, p->name, NULL, op_of(k, "update"), "name", 's', name, p->name, 'd',
			       -0.5, NULL);
			/* a word other than unlimited */
			REFUSE(s, AL_EINVALID_ARGUMENT, p->name, NULL, op_of(k, "create"), "name", 's', "word", p->name, 's',
			       "lots", NULL);
			/* whole numbers only (fgpu excepted) */
			if (!p->frac) {
				REFUSE(s, AL_EINVALID_ARGUMENT, p->name, "whole number", op_of(k, "create"), "name", 's', "half",
				       p->name, 'd', 1.5, NULL);
				snprintf(name, sizeof name, "two-%s", p->name);
				TH_RUN_OK(&r, s, op_of(k, "create"), "name", 's', name, p->name, 'd', 2.0, NULL);
				ASSERT_UINT(&r.o, p->name, 2); /* recorded as an integer */
				th_result_free(&r);
			}
			/* unlimited, on create and on update */
			snprintf(name, sizeof name, "unl-%s", p->name);
			TH_RUN_OK(&r, s, op_of(k, "create"), "name", 's', name, p->name, 's', "unlimited", NULL);
			ASSERT_UNLIMITED(&r.o, p->name);
			th_result_free(&r);
			snprintf(name, sizeof name, "at-%s", p->name);
			TH_RUN_OK(&r, s, op_of(k, "update"), "name", 's', name, p->name, 's', "unlimited", NULL);
			ASSERT_UNLIMITED(&r.o, p->name);
			ASSERT_UINT(&r.o, "version", 2);
			th_result_free(&r);
			/* zero is a limit of zero, not unlimited */
			snprintf(name, sizeof name, "zero-%s", p->name);
			TH_RUN_OK(&r, s, op_of(k, "create"), "name", 's', name, p->name, 'i', 0LL, NULL);
			ASSERT_UINT(&r.o, p->name, 0);
			th_result_free(&r);
		}
	}
}

static void fgpu_fractions(void **state)
{
	al_store *s = S(state);
	th_result r;
	TH_RUN_OK(&r, s, "policy.create", "name", 's', "frac", "fgpu", 'd', 0.5, NULL);
	const msgpack_object *f = get(&r.o, "fgpu");
	assert_int_equal(f->type, MSGPACK_OBJECT_FLOAT64);
	assert_true(f->via.f64 == 0.5);
	th_result_free(&r);
	/* 0.1 + 0.2 is recorded as 0.3 exactly */
	TH_RUN_OK(&r, s, "policy.update", "name", 's', "frac", "fgpu", 'd', 0.1 + 0.2, NULL);
	f = get(&r.o, "fgpu");
	assert_int_equal(f->type, MSGPACK_OBJECT_FLOAT64);
	assert_true(f->via.f64 == 0.3);
	th_result_free(&r);
	/* the same value again changes nothing and records nothing */
	uint64_t head = al_log_head(s);
	TH_RUN_OK(&r, s, "policy.update", "name", 's', "frac", "fgpu", 'd', 0.3, NULL);
	assert_int_equal(al_log_head(s), head);
	th_result_free(&r);
	TH_RUN_OK(&r, s, "policy.update", "name", 's', "frac", "fgpu", 'd', 255.9, NULL);
	assert_true(get(&r.o, "fgpu")->via.f64 == 255.9);
	th_result_free(&r);
	/* a whole fgpu is an integer */
	TH_RUN_OK(&r, s, "policy.update", "name", 's', "frac", "fgpu", 'd', 4.0, NULL);
	ASSERT_UINT(&r.o, "fgpu", 4);
	th_result_free(&r);
	REFUSE(s, AL_EINVALID_ARGUMENT, "fgpu", "multiple of 0.1", "policy.update", "name", 's', "frac", "fgpu", 'd', 0.25,
	       NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "fgpu", "multiple of 0.1", "policy.create", "name", 's', "f2", "fgpu", 'd', 0.05,
	       NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "fgpu", "at most 256", "policy.update", "name", 's', "frac", "fgpu", 'd', 256.1,
	       NULL);
	TH_RUN_OK(&r, s, "policy.update", "name", 's', "frac", "fgpu", 'd', 256.0, NULL);
	ASSERT_UINT(&r.o, "fgpu", 256);
	th_result_free(&r);
}

/* ---- quota sizes (user and project policies) ---------------------------------------------------- */

static void quota_sizes(void **state)
{
	al_store *s = S(state);
	for (size_t i = 1; i < 3; i++) {
		const kindt *k = &kinds[i];
		th_result r;
		TH_RUN_OK(&r, s, op_of(k, "create"), "name", 's', "q", "max_quota_size", 's', "100g", NULL);
		ASSERT_UINT(&r.o, "max_quota_size", 100LL << 30);
		th_result_free(&r);
		TH_RUN_OK(&r, s, op_of(k, "update"), "name", 's', "q", "max_quota_size", 's', "1048576", NULL);
		ASSERT_UINT(&r.o, "max_quota_size", 1048576);
		th_result_free(&r);
		TH_RUN_OK(&r, s, op_of(k, "update"), "name", 's', "q", "max_quota_size", 's', "1e", NULL);
		ASSERT_UINT(&r.o, "max_quota_size", 1LL << 60);
		th_result_free(&r);
		TH_RUN_OK(&r, s, op_of(k, "update"), "name", 's', "q", "max_quota_size", 's', "0", NULL);
		ASSERT_UINT(&r.o, "max_quota_size", 0);
		th_result_free(&r);
		TH_RUN_OK(&r, s, op_of(k, "update"), "name", 's', "q", "max_quota_size", 's', "unlimited", NULL);
		ASSERT_UNLIMITED(&r.o, "max_quota_size");
		th_result_free(&r);
		REFUSE(s, AL_EINVALID_ARGUMENT, "max_quota_size", "at most 1e", op_of(k, "update"), "name", 's', "q",
		       "max_quota_size", 's', "2e", NULL);
		REFUSE(s, AL_EINVALID_ARGUMENT, "max_quota_size", "at most 1e", op_of(k, "update"), "name", 's', "q",
		       "max_quota_size", 's', "1048577t", NULL);
		static const char *const bad[] = {"", "-1", "12x", "1.5g", "g", "lots", "10 g"};
		for (size_t b = 0; b < sizeof bad / sizeof *bad; b++)
			REFUSE(s, AL_EINVALID_ARGUMENT, "max_quota_size", "size like", op_of(k, "update"), "name", 's', "q",
			       "max_quota_size", 's', bad[b], NULL);
		/* a number is not a size string */
		REFUSE(s, AL_EINVALID_ARGUMENT, "max_quota_size", NULL, op_of(k, "create"), "name", 's', "q2",
		       "max_quota_size", 'i', 5LL, NULL);
	}
}

/* ---- keypair policy: hosts and default_for_unspecified ----------------------------------------- */

static void allowed_hosts(void **state)
{
	al_store *s = S(state);
	th_result r;
	TH_RUN_OK(&r, s, "policy.create", "name", 's', "hosts", "allowed_hosts", 's',
	       "nfs:data:upload-file,local:volume1:all,nfs:data:mount-in-session", NULL);
	const msgpack_object *h = get(&r.o, "allowed_hosts");
	assert_int_equal(h->type, MSGPACK_OBJECT_MAP);
	assert_int_equal(h->via.map.size, 2);
	/* sorted by host; permissions merged, in the platform's order */
	assert_true(is_str(&h->via.map.ptr[0].key, "local:volume1"));
	assert_int_equal(h->via.map.ptr[0].val.via.array.size, 8);
	assert_true(is_str(&h->via.map.ptr[1].key, "nfs:data"));
	assert_int_equal(h->via.map.ptr[1].val.via.array.size, 2);
	assert_true(is_str(&h->via.map.ptr[1].val.via.array.ptr[0], "mount-in-session"));
	assert_true(is_str(&h->via.map.ptr[1].val.via.array.ptr[1], "upload-file"));
	th_result_free(&r);
	/* the event holds the canonical text */
	last_ev l;
	last_event(s, &l);
	assert_string_equal(l.type, "keypair_policy.created");

	/* the same hosts written differently change nothing */
	uint64_t head = al_log_head(s);
	TH_RUN_OK(&r, s, "policy.update", "name", 's', "hosts", "allowed_hosts", 's',
	       "nfs:data:mount-in-session,nfs:data:upload-file,local:volume1:all", NULL);
	assert_int_equal(al_log_head(s), head);
	th_result_free(&r);
	/* "" clears them */
	TH_RUN_OK(&r, s, "policy.update", "name", 's', "hosts", "allowed_hosts", 's', "", NULL);
	assert_int_equal(get(&r.o, "allowed_hosts")->via.map.size, 0);
	th_result_free(&r);
	assert_int_equal(al_log_head(s), head + 1);

	static const char *const bad[] = {"nohost",          "local:volume1:",          ":mount-in-session",
					  "x:bad-perm",      "a:b:mount-in-session,",   "a:b:mount-in-session,,c:d:all",
					  "a:b:Mount-In-Session"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		REFUSE(s, AL_EINVALID_ARGUMENT, "allowed_hosts", NULL, "policy.create", "name", 's', "badhosts",
		       "allowed_hosts", 's', bad[i], NULL);
		REFUSE(s, AL_EINVALID_ARGUMENT, "allowed_hosts", NULL, "policy.update", "name", 's', "hosts",
		       "allowed_hosts", 's', bad[i], NULL);
	}
	/* user and project policies have no hosts */
	REFUSE(s, AL_EINVALID_ARGUMENT, "allowed_hosts", "unknown argument", "user-policy.create", "name", 's', "u",
	       "allowed_hosts", 's', "a:b:all", NULL);
}

static void default_for_unspecified(void **state)
{
	al_store *s = S(state);
	th_result r;
	TH_RUN_OK(&r, s, "policy.create", "name", 's', "lim", "default_for_unspecified", 's', "limited", NULL);
	assert_true(is_str(get(&r.o, "default_for_unspecified"), "limited"));
	th_result_free(&r);
	TH_RUN_OK(&r, s, "policy.update", "name", 's', "lim", "default_for_unspecified", 's', "unlimited", NULL);
	assert_true(is_str(get(&r.o, "default_for_unspecified"), "unlimited"));
	th_result_free(&r);
	static const char *const bad[] = {"", "LIMITED", "none", "unlimited "};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		REFUSE(s, AL_EINVALID_ARGUMENT, "default_for_unspecified", "limited, unlimited", "policy.update", "name",
		       's', "lim", "default_for_unspecified", 's', bad[i], NULL);
}

/* ---- names ----------------------------------------------------------------------------------------- */

static void names(void **state)
{
	al_store *s = S(state);
	char n256[300], n257[300];
	memset(n256, 'a', 256);
	n256[256] = 0;
	memset(n257, 'b', 257);
	n257[257] = 0;
	for (size_t i = 0; i < 3; i++) {
		const kindt *k = &kinds[i];
		assert_int_equal(th_run(s, op_of(k, "create"), "name", 's', n256, NULL), AL_OK);
		assert_int_equal(th_run(s, op_of(k, "create"), "name", 's', "Gold.v1_x-2", NULL), AL_OK);
		assert_int_equal(th_run(s, op_of(k, "create"), "name", 's', "7", NULL), AL_OK);
		REFUSE(s, AL_EINVALID_ARGUMENT, "name", "1 to 256", op_of(k, "create"), "name", 's', n257, NULL);
		REFUSE(s, AL_EINVALID_ARGUMENT, "name", "1 to 256", op_of(k, "create"), "name", 's', "", NULL);
		REFUSE(s, AL_EINVALID_ARGUMENT, "name", "is required", op_of(k, "create"), k->opts[0].name, 'i', 1LL, NULL);
		static const char *const bad[] = {"-x", "x-", ".x", "a b", "a/b", "caf\xc3\xa9", "a:b", "x\n"};
		for (size_t b = 0; b < sizeof bad / sizeof *bad; b++)
			REFUSE(s, AL_EINVALID_ARGUMENT, "name", "letters, digits", op_of(k, "create"), "name", 's', bad[b],
			       NULL);
		/* unique within the kind */
		REFUSE(s, AL_EALREADY_EXISTS, "name", "already exists", op_of(k, "create"), "name", 's', "Gold.v1_x-2",
		       NULL);
		/* the name is case-sensitive: Gold.v1_x-2 and gold.v1_x-2 are two policies */
		assert_int_equal(th_run(s, op_of(k, "create"), "name", 's', "gold.v1_x-2", NULL), AL_OK);
		/* immutable: there is no argument or command that renames */
		REFUSE(s, AL_EINVALID_ARGUMENT, "new_name", "unknown argument", op_of(k, "update"), "name", 's',
		       "Gold.v1_x-2", "new_name", 's', "other", NULL);
		assert_null(al_cmd_def_find(op_of(k, "rename")));
	}
	/* the same name in another kind is another policy */
	th_result r;
	TH_RUN_OK(&r, s, "user-policy.get", "name", 's', "7", NULL);
	th_result_free(&r);
}

/* ---- update ------------------------------------------------------------------------------------------ */

static void update_rules(void **state)
{
	al_store *s = S(state);
	th_result r;
	TH_RUN_OK(&r, s, "policy.create", "name", 's', "up", "cpu", 'i', 4LL, "gpu", 'i', 1LL, NULL);
	th_result_free(&r);
	for (size_t i = 0; i < 3; i++) {
		const kindt *k = &kinds[i];
		REFUSE(s, AL_ENOT_FOUND, NULL, "not found", op_of(k, "update"), "name", 's', "missing", k->opts[0].name,
		       'i', 1LL, NULL);
		if (i > 0)
			assert_int_equal(th_run(s, op_of(k, "create"), "name", 's', "up", NULL), AL_OK);
		REFUSE(s, AL_EINVALID_ARGUMENT, NULL, "nothing to update", op_of(k, "update"), "name", 's', "up", NULL);
		/* common write arguments alone are nothing to update either */
		REFUSE(s, AL_EINVALID_ARGUMENT, NULL, "nothing to update", op_of(k, "update"), "name", 's', "up", "reason",
		       's', "why", NULL);
	}
	/* only the changed fields are recorded */
	uint64_t head = al_log_head(s);
	TH_RUN_OK(&r, s, "policy.update", "name", 's', "up", "cpu", 'i', 4LL, "gpu", 'i', 2LL, "ram_gb", 's', "unlimited",
	       NULL);
	ASSERT_UINT(&r.o, "cpu", 4);
	ASSERT_UINT(&r.o, "gpu", 2);
	ASSERT_UINT(&r.o, "version", 2);
	th_result_free(&r);
	assert_int_equal(al_log_head(s), head + 1);
	last_ev l;
	last_event(s, &l);
	assert_string_equal(l.type, "keypair_policy.updated");
	assert_string_equal(l.id, "up");
	assert_int_equal(l.nfields, 1);
	assert_string_equal(l.keys[0], "gpu");
	/* an update that changes nothing records nothing and keeps the version */
	TH_RUN_OK(&r, s, "policy.update", "name", 's', "up", "cpu", 'i', 4LL, "gpu", 'i', 2LL, NULL);
	ASSERT_UINT(&r.o, "version", 2);
	th_result_free(&r);
	assert_int_equal(al_log_head(s), head + 1);
	/* a refused update leaves everything as it was, even when another option was valid */
	REFUSE(s, AL_EINVALID_ARGUMENT, "gpu", NULL, "policy.update", "name", 's', "up", "cpu", 'i', 8LL, "gpu", 'i',
	       65LL, NULL);
	fetch(s, "policy", "up", &r);
	ASSERT_UINT(&r.o, "cpu", 4);
	th_result_free(&r);
	/* expected_version is checked against the policy's history */
	REFUSE(s, AL_ECONFLICT, NULL, NULL, "policy.update", "name", 's', "up", "cpu", 'i', 8LL, "expected_version", 'i',
	       1LL, NULL);
	TH_RUN_OK(&r, s, "policy.update", "name", 's', "up", "cpu", 'i', 8LL, "expected_version", 'i', 2LL, NULL);
	ASSERT_UINT(&r.o, "cpu", 8);
	th_result_free(&r);
}

/* ---- get, list ------------------------------------------------------------------------------------- */

static void get_and_list(void **state)
{
	al_store *s = S(state);
	for (size_t i = 0; i < 3; i++) {
		const kindt *k = &kinds[i];
		assert_string_equal(listed(s, op_of(k, "list")), "");
		static const char *const made[] = {"c", "a", "B", "b"};
		for (size_t m = 0; m < 4; m++)
			assert_int_equal(th_run(s, op_of(k, "create"), "name", 's', made[m], NULL), AL_OK);
		/* by name, bytewise: uppercase first */
		assert_string_equal(listed(s, op_of(k, "list")), "B,a,b,c");
		th_result r;
		TH_RUN_OK(&r, s, op_of(k, "list"), NULL);
		for (uint32_t m = 0; m < r.o.via.array.size; m++) {
			const msgpack_object *row = &r.o.via.array.ptr[m];
			if (is_str(get(row, "name"), "default"))
				continue;
			/* list rows are the same maps as get's */
			ASSERT_UNLIMITED(row, k->opts[0].name);
			ASSERT_UINT(row, "version", 1);
			assert_int_equal(row->via.map.size, 1 + k->n + (i == 0 ? 2 : 1) + 3);
			assert_int_equal(get(row, "created_at")->type, MSGPACK_OBJECT_STR);
		}
		th_result_free(&r);
		REFUSE(s, AL_ENOT_FOUND, NULL, "not found", op_of(k, "get"), "name", 's', "zzz", NULL);
		REFUSE(s, AL_EINVALID_ARGUMENT, "name", "is required", op_of(k, "get"), NULL);
	}
	/* each kind lists only its own */
	assert_int_equal(th_run(s, "policy.create", "name", 's', "only-keypair", NULL), AL_OK);
	assert_string_equal(listed(s, "user-policy.list"), "B,a,b,c");
	assert_string_equal(listed(s, "project-policy.list"), "B,a,b,c");
	assert_string_equal(listed(s, "policy.list"), "B,a,b,c,only-keypair");
}

/* ---- delete ------------------------------------------------------------------------------------------ */

static void delete_and_recreate(void **state)
{
	al_store *s = S(state);
	for (size_t i = 0; i < 3; i++) {
		const kindt *k = &kinds[i];
		char entity[64];
		snprintf(entity, sizeof entity, "%s:gone", k->entity);
		th_result r;
		TH_RUN_OK(&r, s, op_of(k, "create"), "name", 's', "gone", k->opts[0].name, 'i', 7LL, NULL);
		th_result_free(&r);
		REFUSE(s, AL_ENOT_FOUND, NULL, "not found", op_of(k, "delete"), "name", 's', "never", NULL);
		/* nothing follows it (the follower counters answer 0 until keypairs, users and projects
		 * record policies): deleted */
		uint64_t head = al_log_head(s);
		TH_RUN_OK(&r, s, op_of(k, "delete"), "name", 's', "gone", NULL);
		assert_true(is_str(get(&r.o, "name"), "gone"));
		assert_true(get(&r.o, "deleted")->type == MSGPACK_OBJECT_BOOLEAN && get(&r.o, "deleted")->via.boolean);
		th_result_free(&r);
		assert_int_equal(al_log_head(s), head + 1);
		last_ev l;
		last_event(s, &l);
		char want[64];
		snprintf(want, sizeof want, "%s.deleted", k->entity);
		assert_string_equal(l.type, want);
		assert_int_equal(l.nfields, 0);
		/* gone from get, list, update and delete; its history stays */
		REFUSE(s, AL_ENOT_FOUND, NULL, "not found", op_of(k, "get"), "name", 's', "gone", NULL);
		REFUSE(s, AL_ENOT_FOUND, NULL, "not found", op_of(k, "update"), "name", 's', "gone", k->opts[0].name, 'i',
		       1LL, NULL);
		REFUSE(s, AL_ENOT_FOUND, NULL, "not found", op_of(k, "delete"), "name", 's', "gone", NULL);
		assert_string_equal(listed(s, op_of(k, "list")), "");
		assert_int_equal(history(s, entity), 2);
		/* the name may be reused: a new policy with fresh options, the history continuing */
		TH_RUN_OK(&r, s, op_of(k, "create"), "name", 's', "gone", NULL);
		ASSERT_UNLIMITED(&r.o, k->opts[0].name);
		ASSERT_UINT(&r.o, "version", 3);
		th_result_free(&r);
		assert_int_equal(history(s, entity), 3);
		/* default is the fallback of every new keypair, user and project: never deleted */
		int rc = th_run(s, op_of(k, "create"), "name", 's', "default", NULL); /* unless the bootstrap made it */
		assert_true(rc == AL_OK || rc == AL_EALREADY_EXISTS);
		REFUSE(s, AL_EIN_USE, "name", "default", op_of(k, "delete"), "name", 's', "default", NULL);
	}
}

/* ---- who may do what ---------------------------------------------------------------------------------- */

static void make_user(al_store *s, const char *email, const char *username, const char *role)
{
	assert_int_equal(th_run(s, "user.create", "email", 's', email, "username", 's', username, "password", 's', PW,
				"role", 's', role, NULL),
			 AL_OK);
}

static void permissions(void **state)
{
	al_store *s = S(state);
	make_user(s, "adm@example.com", "adm", "admin");
	make_user(s, "usr@example.com", "usr", "user");
	make_user(s, "mon@example.com", "mon", "monitor");
	make_user(s, "sup@example.com", "sup", "superadmin");
	th_actor adm, usr, mon, sup;
	assert_int_equal(th_as(s, "adm@example.com", &adm), AL_OK);
	assert_int_equal(th_as(s, "usr@example.com", &usr), AL_OK);
	assert_int_equal(th_as(s, "mon@example.com", &mon), AL_OK);
	assert_int_equal(th_as(s, "sup@example.com", &sup), AL_OK);
	const al_actor *non_super[] = {&adm.a, &usr.a, &mon.a};
	for (size_t i = 0; i < 3; i++) {
		const kindt *k = &kinds[i];
		assert_int_equal(th_run(s, op_of(k, "create"), "name", 's', "p", NULL), AL_OK);
		/* create, update, delete: superadmin only */
		for (size_t a = 0; a < 3; a++) {
			REFUSE_AS(s, non_super[a], AL_EPERMISSION_DENIED, NULL, op_of(k, "create"), op_of(k, "create"), "name",
				  's', "q", NULL);
			REFUSE_AS(s, non_super[a], AL_EPERMISSION_DENIED, NULL, op_of(k, "update"), op_of(k, "update"), "name",
				  's', "p", k->opts[0].name, 'i', 1LL, NULL);
			REFUSE_AS(s, non_super[a], AL_EPERMISSION_DENIED, NULL, op_of(k, "delete"), op_of(k, "delete"), "name",
				  's', "p", NULL);
		}
		/* get, list: admin and monitor see all; a plain user is refused */
		const al_actor *readers[] = {&adm.a, &mon.a, &sup.a};
		for (size_t a = 0; a < 3; a++) {
			al_reply rep;
			assert_int_equal(th_exec_as(s, readers[a], &rep, op_of(k, "get"), "name", 's', "p", NULL), AL_OK);
			assert_string_equal(th_res_str(&rep, "name"), "p");
			al_reply_free(&rep);
			assert_int_equal(th_exec_as(s, readers[a], &rep, op_of(k, "list"), NULL), AL_OK);
			al_reply all; /* they see what the superadmin sees */
			assert_int_equal(th_exec(s, &all, op_of(k, "list"), NULL), AL_OK);
			assert_int_equal(rep.result_len, all.result_len);
			assert_memory_equal(rep.result, all.result, all.result_len);
			assert_true(th_res_len(&rep) >= 1);
			al_reply_free(&all);
			al_reply_free(&rep);
		}
		REFUSE_AS(s, &usr.a, AL_EPERMISSION_DENIED, NULL, op_of(k, "get"), op_of(k, "get"), "name", 's', "p", NULL);
		REFUSE_AS(s, &usr.a, AL_EPERMISSION_DENIED, NULL, op_of(k, "list"), op_of(k, "list"), NULL);
		/* another superadmin may do everything */
		assert_int_equal(th_run_as(s, &sup.a, op_of(k, "create"), "name", 's', "q", NULL), AL_OK);
		assert_int_equal(th_run_as(s, &sup.a, op_of(k, "update"), "name", 's', "q", k->opts[0].name, 'i', 1LL, NULL),
				 AL_OK);
		assert_int_equal(th_run_as(s, &sup.a, op_of(k, "delete"), "name", 's', "q", NULL), AL_OK);
	}
}

/* ---- the functions other modules call ------------------------------------------------------------- */

typedef struct inner {
	int rc;
} inner;

/* Runs al__policy_emit_defaults in a write transaction, as the bootstrap will. */
static int emit_defaults_fn(al_wtxn *w, void *ctx, al_error *err)
{
	inner *in = ctx;
	msgpack_zone z;
	msgpack_sbuffer out;
	msgpack_packer pk;
	msgpack_zone_init(&z, 1024);
	msgpack_sbuffer_init(&out);
	msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
	al_cmd c = {.s = w->s, .w = w, .txn = w->txn, .actor = &th_admin, .now_us = w->head_time + 1, .err = err,
		    .zone = &z, .out = &pk};
	in->rc = al__policy_emit_defaults(&c);
	msgpack_zone_destroy(&z);
	msgpack_sbuffer_destroy(&out);
	return in->rc;
}

static void emit_defaults(void **state)
{
	al_store *s = S(state);
	al_error err = {0};
	inner in = {0};
	uint64_t head = al_log_head(s), missing = 0; /* the bootstrap may have recorded them already */
	for (size_t i = 0; i < 3; i++)
		missing += th_run(s, op_of(&kinds[i], "get"), "name", 's', "default", NULL) == AL_ENOT_FOUND;
	assert_int_equal(al__store_write(s, emit_defaults_fn, &in, &err), AL_OK);
	assert_int_equal(al_log_head(s), head + missing);
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
	for (size_t i = 0; i < 3; i++) {
		const kindt *k = &kinds[i];
		th_result r;
		fetch(s, k->prefix, "default", &r);
		/* every option unlimited, also those that default to a number on create */
		for (size_t o = 0; o < k->n; o++)
			ASSERT_UNLIMITED(&r.o, k->opts[o].name);
		if (i == 0) {
			assert_true(is_str(get(&r.o, "default_for_unspecified"), "unlimited"));
			assert_int_equal(get(&r.o, "allowed_hosts")->via.map.size, 0);
		} else
			ASSERT_UNLIMITED(&r.o, "max_quota_size");
		th_result_free(&r);
	}
	/* a second run records nothing and changes nothing */
	char before[33], after[33];
	th_digest(s, before);
	assert_int_equal(al__store_write(s, emit_defaults_fn, &in, &err), AL_OK);
	assert_int_equal(al_log_head(s), head + missing);
	th_digest(s, after);
	assert_string_equal(before, after);
	/* a changed default is kept as it is */
	assert_int_equal(th_run(s, "policy.update", "name", 's', "default", "cpu", 'i', 4LL, NULL), AL_OK);
	assert_int_equal(al__store_write(s, emit_defaults_fn, &in, &err), AL_OK);
	assert_int_equal(al_log_head(s), head + missing + 1);
	th_result r;
	fetch(s, "policy", "default", &r);
	ASSERT_UINT(&r.o, "cpu", 4);
	th_result_free(&r);
}

static void require_and_quota(void **state)
{
	al_store *s = S(state);
	assert_int_equal(th_run(s, "policy.create", "name", 's', "kp", NULL), AL_OK);
	assert_int_equal(th_run(s, "user-policy.create", "name", 's', "uq", "max_quota_size", 's', "10g", NULL), AL_OK);
	assert_int_equal(th_run(s, "project-policy.create", "name", 's', "pq", NULL), AL_OK);
	assert_int_equal(th_run(s, "policy.create", "name", 's', "del", NULL), AL_OK);
	assert_int_equal(th_run(s, "policy.delete", "name", 's', "del", NULL), AL_OK);

	MDB_txn *txn;
	al_error err = {0};
	assert_int_equal(al__read_begin(s, &txn, &err), AL_OK);
	msgpack_zone z;
	msgpack_zone_init(&z, 1024);
	al_cmd c = {.s = s, .txn = txn, .actor = &th_admin, .err = &err, .zone = &z};
	assert_int_equal(al__policy_require(&c, AL_POLICY_KEYPAIR, "resource_policy", (al_str){"kp", 2}), AL_OK);
	assert_int_equal(al__policy_require(&c, AL_POLICY_USER, "resource_policy", (al_str){"uq", 2}), AL_OK);
	assert_int_equal(al__policy_require(&c, AL_POLICY_PROJECT, "resource_policy", (al_str){"pq", 2}), AL_OK);
	/* the wrong kind, a deleted one, an unknown one, the empty name */
	assert_int_equal(al__policy_require(&c, AL_POLICY_USER, "resource_policy", (al_str){"kp", 2}), AL_EINVALID_ARGUMENT);
	assert_string_equal(err.msg, "resource_policy: no user resource policy named kp");
	assert_int_equal(al__policy_require(&c, AL_POLICY_KEYPAIR, "policy", (al_str){"del", 3}), AL_EINVALID_ARGUMENT);
	assert_string_equal(err.msg, "policy: no keypair resource policy named del");
	assert_int_equal(al__policy_require(&c, AL_POLICY_PROJECT, "resource_policy", (al_str){"nope", 4}),
			 AL_EINVALID_ARGUMENT);
	assert_string_equal(err.msg, "resource_policy: no project resource policy named nope");
	assert_int_equal(al__policy_require(&c, AL_POLICY_KEYPAIR, "policy", (al_str){"", 0}), AL_EINVALID_ARGUMENT);

	int64_t q = 7;
	assert_int_equal(al__policy_quota(s, txn, AL_POLICY_USER, (al_str){"uq", 2}, &q, &err), 1);
	assert_int_equal(q, 10LL << 30);
	assert_int_equal(al__policy_quota(s, txn, AL_POLICY_PROJECT, (al_str){"pq", 2}, &q, &err), 1);
	assert_int_equal(q, -1);
	assert_int_equal(al__policy_quota(s, txn, AL_POLICY_PROJECT, (al_str){"uq", 2}, &q, &err), 0);
	assert_int_equal(al__policy_quota(s, txn, AL_POLICY_KEYPAIR, (al_str){"kp", 2}, &q, &err), AL_EINVALID_ARGUMENT);
	msgpack_zone_destroy(&z);
	mdb_txn_abort(txn);
}

/* ---- rebuild, reopen and as-of equal live ----------------------------------------------------------- */

static void rebuild_equals_live(void **state)
{
	al_store *s = S(state);
	const char *dir = DIR_OF(state);
	char mid[33], live[33], rebuilt[33], reopened[33], then[33];
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < 3; i++) {
			const kindt *k = &kinds[i];
			char name[32];
			for (int p = 0; p < 5; p++) {
				snprintf(name, sizeof name, "r%d-p%d", round, p);
				assert_int_equal(th_run(s, op_of(k, "create"), "name", 's', name, k->opts[p % k->n].name, 'i',
							(long long)(p + round), NULL),
						 AL_OK);
			}
			assert_int_equal(th_run(s, op_of(k, "update"), "name", 's', "r0-p1", k->opts[0].name, 'i',
						(long long)round + 10, NULL),
					 AL_OK);
			if (i == 0)
				assert_int_equal(th_run(s, "policy.update", "name", 's', "r0-p2", "fgpu", 'd', 0.1 * (round + 1),
							"allowed_hosts", 's', round % 2 ? "a:b:all" : "c:d:upload-file", NULL),
						 AL_OK);
			else
				assert_int_equal(th_run(s, op_of(k, "update"), "name", 's', "r0-p2", "max_quota_size", 's',
							round % 2 ? "unlimited" : "3g", NULL),
						 AL_OK);
			snprintf(name, sizeof name, "r%d-p3", round);
			assert_int_equal(th_run(s, op_of(k, "delete"), "name", 's', name, NULL), AL_OK);
			if (round > 0) { /* reuse a name deleted in the round before */
				snprintf(name, sizeof name, "r%d-p3", round - 1);
				assert_int_equal(th_run(s, op_of(k, "create"), "name", 's', name, NULL), AL_OK);
			}
			/* refused commands on the way append nothing */
			assert_int_not_equal(th_run(s, op_of(k, "create"), "name", 's', "r0-p0", NULL), AL_OK);
		}
	uint64_t mid_seq = al_log_head(s);
	th_digest(s, mid);
	assert_int_equal(th_run(s, "policy.update", "name", 's', "r1-p0", "cpu", 's', "unlimited", NULL), AL_OK);
	assert_int_equal(th_run(s, "user-policy.delete", "name", 's', "r2-p4", NULL), AL_OK);

	th_digest(s, live);
	assert_string_not_equal(live, mid);
	al_error err = {0};
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);

	al_store *past;
	assert_int_equal(al_store_asof(s, mid_seq, &past, &err), AL_OK);
	th_digest(past, then);
	assert_string_equal(then, mid);
	al_store_close(past);

	al_store_close(s);
	((void **)*state)[1] = NULL;
	al_open_opts o = {AL_OPEN_QUIET, 0};
	assert_int_equal(al_store_open(&s, dir, &o, &err), AL_OK);
	((void **)*state)[1] = s;
	th_digest(s, reopened);
	assert_string_equal(live, reopened);
	/* the views answer the same after the rebuild */
	th_result r;
	fetch(s, "policy", "r1-p0", &r);
	ASSERT_UNLIMITED(&r.o, "cpu");
	th_result_free(&r);
	fetch(s, "policy", "r0-p2", &r);
	assert_true(get(&r.o, "fgpu")->via.f64 == 0.3);
	assert_true(is_str(&get(&r.o, "allowed_hosts")->via.map.ptr[0].key, "c:d"));
	th_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(create_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(limits, setup, teardown),
		cmocka_unit_test_setup_teardown(fgpu_fractions, setup, teardown),
		cmocka_unit_test_setup_teardown(quota_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(allowed_hosts, setup, teardown),
		cmocka_unit_test_setup_teardown(default_for_unspecified, setup, teardown),
		cmocka_unit_test_setup_teardown(names, setup, teardown),
		cmocka_unit_test_setup_teardown(update_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(get_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(delete_and_recreate, setup, teardown),
		cmocka_unit_test_setup_teardown(permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(emit_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(require_and_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(rebuild_equals_live, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
