/* test_keypairs.c - keypairs: generated and advanced keys, limits, activation, deletion guards,
 * secrets at rest and in every output, request-id retries, permissions by role and domain. */
#define _GNU_SOURCE /* memmem, open_memstream */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "nouns/nouns.h"
#include "core/seal.h"

#define PW "Passw0rd!"
#define AK_GOOD "AKIAABCDEFGHIJ234567"
#define SK_GOOD "Adv4nced_Secret-Key_0123456789abcdefghij"

/* ---- fixtures ---------------------------------------------------------------------------------- */

#define setup th_setup
#define teardown th_teardown
#define S th_store
static char *DIR_OF(void **state) { return ((th_fx *)*state)->dir; }

/*
 * Runs op as who and checks the refusal: the code, a message starting with "field:" (unless
 * field is NULL), no result, nothing appended.
 */
#define REFUSE(s, code, field, ...) th_refuse_at(__FILE__, __LINE__, s, NULL, code, field, NULL, __VA_ARGS__)
#define REFUSE_AS(s, who, code, field, ...) th_refuse_at(__FILE__, __LINE__, s, who, code, field, NULL, __VA_ARGS__)

/* Creates a user and copies its main access key (and secret, when sk is not NULL). */
static void make_user(al_store *s, const char *email, const char *role, const char *domain, char ak[32], char sk[64])
{
	char name[64];
	snprintf(name, sizeof name, "%.*s", (int)strcspn(email, "@"), email);
	al_reply rep;
	int rc = th_exec(s, &rep, "user.create", "email", 's', email, "username", 's', name, "password", 's', PW, "role",
			 's', role, "domain", 's', domain, NULL);
	if (rc)
		print_error("user.create %s: %s\n", email, rep.err.msg);
	assert_int_equal(rc, AL_OK);
	snprintf(ak, 32, "%s", th_res_str(&rep, "access_key"));
	if (sk)
		snprintf(sk, 64, "%s", th_res_str(&rep, "secret_key"));
	al_reply_free(&rep);
}

/* keypair.create for email with extra triples; copies the keys. Returns the code. */
static int make_keypair(al_store *s, const char *email, char ak[32], char sk[64])
{
	al_reply rep;
	int rc = th_exec(s, &rep, "keypair.create", "user", 's', email, NULL);
	if (rc == AL_OK) {
		snprintf(ak, 32, "%s", th_res_str(&rep, "access_key"));
		if (sk)
			snprintf(sk, 64, "%s", th_res_str(&rep, "secret_key"));
	}
	al_reply_free(&rep);
	return rc;
}

static bool ak_format(const char *ak)
{
	if (strlen(ak) != 20 || strncmp(ak, "AKIA", 4) != 0)
		return false;
	for (int i = 4; i < 20; i++)
		if (!((ak[i] >= 'A' && ak[i] <= 'Z') || (ak[i] >= '2' && ak[i] <= '7')))
			return false;
	return true;
}

static bool sk_format(const char *sk)
{
	if (strlen(sk) != 40)
		return false;
	for (int i = 0; i < 40; i++) {
		char c = sk[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* ---- decoded results ------------------------------------------------------------------------------ */

typedef struct {
	msgpack_zone z;
	msgpack_object o;
} decoded;

static void decode(const al_reply *rep, decoded *d)
{
	size_t off = 0;
	msgpack_zone_init(&d->z, 2048);
	assert_non_null(rep->result);
	assert_int_equal(msgpack_unpack(rep->result, rep->result_len, &off, &d->z, &d->o), MSGPACK_UNPACK_SUCCESS);
}

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

/* 1 / 0 for a boolean member, -1 when absent or not a boolean. */
static int res_bool(const al_reply *rep, const char *key)
{
	decoded d;
	decode(rep, &d);
	const msgpack_object *v = get(&d.o, key);
	int out = v && v->type == MSGPACK_OBJECT_BOOLEAN ? v->via.boolean : -1;
	msgpack_zone_destroy(&d.z);
	return out;
}

/* A public keypair map: the fields the issue names, and no secret in any form. */
static void check_public(const msgpack_object *row)
{
	static const char *const fields[] = {"access_key", "user",     "is_active",    "is_admin",  "resource_policy",
					     "rate_limit", "created_at", "last_used", "num_sessions", "concurrency_used",
					     "occupied"};
	assert_int_equal(row->type, MSGPACK_OBJECT_MAP);
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
		if (get(row, fields[i]) == NULL) {
			print_error("field %s missing\n", fields[i]);
			fail();
		}
	assert_null(get(row, "secret_key"));
	assert_null(get(row, "secret_key_sealed"));
}

/* keypair.list as who with triples; writes the listed access keys, comma-separated, in order. */
static int list_as(al_store *s, const al_actor *who, char *out, size_t n, ...)
{
	size_t len;
	va_list ap;
	va_start(ap, n);
	char *args = th_vargs(&len, ap);
	va_end(ap);
	al_request req = {"keypair.list", args, len, who};
	al_reply rep;
	int rc = al_exec(s, &req, &rep);
	free(args);
	out[0] = 0;
	if (rc == AL_OK) {
		decoded d;
		decode(&rep, &d);
		assert_int_equal(d.o.type, MSGPACK_OBJECT_ARRAY);
		for (uint32_t i = 0; i < d.o.via.array.size; i++) {
			const msgpack_object *row = &d.o.via.array.ptr[i], *ak = get(row, "access_key");
			check_public(row);
			snprintf(out + strlen(out), n - strlen(out), "%s%.*s", i ? "," : "", (int)ak->via.str.size,
				 ak->via.str.ptr);
		}
		assert_null(memmem(rep.result, rep.result_len, "sealed:", 7));
		msgpack_zone_destroy(&d.z);
	}
	al_reply_free(&rep);
	return rc;
}
#define LIST(s, out, ...) assert_int_equal(list_as(s, &th_admin, out, sizeof out, __VA_ARGS__), AL_OK)

static bool has_key(const char *list, const char *ak) { return strstr(list, ak) != NULL; }

static int count_keys(const char *list)
{
	if (!*list)
		return 0;
	int n = 1;
	for (const char *p = list; *p; p++)
		n += *p == ',';
	return n;
}

/* The types of the events seen, and the names of their fields. */
typedef struct {
	int n;
	char types[8][32], fields[8][128];
} history;

static int record_type(const al_event *e, void *ctx)
{
	history *h = ctx;
	if (h->n < 8) {
		snprintf(h->types[h->n], 32, "%s", e->def->name);
		char *f = h->fields[h->n];
		f[0] = 0;
		for (uint32_t i = 0; i < e->fields.via.map.size; i++) {
			const msgpack_object *k = &e->fields.via.map.ptr[i].key;
			snprintf(f + strlen(f), 128 - strlen(f), "%s%.*s", i ? "," : "", (int)k->via.str.size, k->via.str.ptr);
		}
	}
	h->n++;
	return 0;
}

/* ---- generation ---------------------------------------------------------------------------------- */

static void generated_keys(void **state)
{
	al_store *s = S(state);
	char main_ak[32], main_sk[64], ak[32], sk[64];
	make_user(s, "gen@example.com", "user", "default", main_ak, main_sk);
	assert_true(ak_format(main_ak));
	assert_true(sk_format(main_sk));
	/* Twenty more: every key is well formed and different (80 and 240 random bits). */
	char seen_ak[21][32], seen_sk[21][64];
	snprintf(seen_ak[0], 32, "%s", main_ak);
	snprintf(seen_sk[0], 64, "%s", main_sk);
	for (int i = 1; i <= 20; i++) {
		uint64_t head = al_log_head(s);
		assert_int_equal(make_keypair(s, "gen@example.com", ak, sk), AL_OK);
		assert_int_equal(al_log_head(s), head + 1);
		assert_true(ak_format(ak));
		assert_true(sk_format(sk));
		for (int k = 0; k < i; k++) {
			assert_string_not_equal(ak, seen_ak[k]);
			assert_string_not_equal(sk, seen_sk[k]);
		}
		snprintf(seen_ak[i], 32, "%s", ak);
		snprintf(seen_sk[i], 64, "%s", sk);
	}
	/* Defaults of keypair.create. */
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "keypair.get", "access_key", 's', ak, NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "user"), "gen@example.com");
	assert_string_equal(th_res_str(&rep, "resource_policy"), "default");
	assert_int_equal(th_res_int(&rep, "rate_limit"), 10000);
	assert_int_equal(th_res_int(&rep, "num_sessions"), 0);
	assert_int_equal(res_bool(&rep, "is_active"), 1);
	assert_int_equal(res_bool(&rep, "is_admin"), 0);
	assert_int_equal(res_bool(&rep, "is_main"), 0);
	assert_int_equal(th_res_int(&rep, "version"), 1);
	decoded d;
	decode(&rep, &d);
	check_public(&d.o);
	assert_int_equal(get(&d.o, "last_used")->type, MSGPACK_OBJECT_NIL); /* never used */
	msgpack_zone_destroy(&d.z);
	assert_null(memmem(rep.result, rep.result_len, sk, 40));
	al_reply_free(&rep);
	/* Options. */
	assert_int_equal(th_exec(s, &rep, "keypair.create", "user", 's', "gen@example.com", "policy", 's', "default",
				 "rate_limit", 'i', 500LL, "admin", 'b', 1, NULL), AL_OK);
	assert_int_equal(th_res_int(&rep, "rate_limit"), 500);
	assert_int_equal(res_bool(&rep, "is_admin"), 1);
	assert_int_equal(res_bool(&rep, "is_active"), 1);
	assert_true(sk_format(th_res_str(&rep, "secret_key")));
	al_reply_free(&rep);
	/* The owner must exist; the argument is required. */
	REFUSE(s, AL_EINVALID_ARGUMENT, "user", "keypair.create", "user", 's', "ghost@example.com", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "user", "keypair.create", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "rate_limit", "keypair.create", "user", 's', "gen@example.com", "rate_limit", 's',
	       "10", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "bogus", "keypair.create", "user", 's', "gen@example.com", "bogus", 'i', 1LL, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "secret_key_sealed", "keypair.create", "user", 's', "gen@example.com",
	       "secret_key_sealed", 's', "sealed:1:forged", NULL);
	/* A keypair for a user who is not active is created inactive. */
	char ak2[32];
	assert_int_equal(th_run(s, "user.deactivate", "email", 's', "gen@example.com", NULL), AL_OK);
	assert_int_equal(make_keypair(s, "gen@example.com", ak2, NULL), AL_OK);
	assert_int_equal(th_exec(s, &rep, "keypair.get", "access_key", 's', ak2, NULL), AL_OK);
	assert_int_equal(res_bool(&rep, "is_active"), 0);
	al_reply_free(&rep);
}

/* ---- advanced mode -------------------------------------------------------------------------------- */

static void advanced_mode(void **state)
{
	al_store *s = S(state);
	char main_ak[32];
	make_user(s, "adv@example.com", "user", "default", main_ak, NULL);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "keypair.create", "user", 's', "adv@example.com", "access_key", 's', AK_GOOD,
				 "secret_key", 's', SK_GOOD, NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "access_key"), AK_GOOD);
	assert_string_equal(th_res_str(&rep, "secret_key"), SK_GOOD);
	al_reply_free(&rep);
	/* Unused: not by a live keypair, not by the user's main one. */
	REFUSE(s, AL_EALREADY_EXISTS, "access_key", "keypair.create", "user", 's', "adv@example.com", "access_key", 's',
	       AK_GOOD, "secret_key", 's', SK_GOOD, NULL);
	REFUSE(s, AL_EALREADY_EXISTS, "access_key", "keypair.create", "user", 's', "adv@example.com", "access_key", 's',
	       main_ak, "secret_key", 's', SK_GOOD, NULL);
	/* Formats: "AKIA" + exactly 16 of A-Z2-7; exactly 40 of the URL-safe base64 alphabet. */
	static const char *const bad_ak[] = {
		"AKIAABCDEFGHIJ23456",   /* 19 */
		"AKIAABCDEFGHIJ2345678", /* 21 */
		"AKIAabcdefghij234567",  /* lower case */
		"AKIAABCDEFGHIJ234561",  /* 1 is not base32 */
		"AKIAABCDEFGHIJ234580",  /* 8, 0 */
		"AKIBABCDEFGHIJ234567",  /* prefix */
		"akiaABCDEFGHIJ234567",
		"AKIAABCDEFGH-J234567",
		"",
	};
	for (size_t i = 0; i < sizeof bad_ak / sizeof *bad_ak; i++)
		REFUSE(s, AL_EINVALID_ARGUMENT, "access_key", "keypair.create", "user", 's', "adv@example.com", "access_key",
		       's', bad_ak[i], "secret_key", 's', SK_GOOD, NULL);
	static const char *const bad_sk[] = {
		"Adv4nced_Secret-Key_0123456789abcdefghi",   /* 39 */
		"Adv4nced_Secret-Key_0123456789abcdefghijk", /* 41 */
		"Adv4nced+Secret/Key=0123456789abcdefghij",  /* standard base64, padding */
		"Adv4nced Secret-Key_0123456789abcdefghij",
		"",
	};
	for (size_t i = 0; i < sizeof bad_sk / sizeof *bad_sk; i++) {
		al_reply r;
		assert_int_equal(th_exec(s, &r, "keypair.create", "user", 's', "adv@example.com", "access_key", 's',
					 "AKIAZZZZZZZZZZZZZZZZ", "secret_key", 's', bad_sk[i], NULL),
				 AL_EINVALID_ARGUMENT);
		assert_int_equal(strncmp(r.err.msg, "secret_key:", 11), 0);
		if (bad_sk[i][0])
			assert_null(strstr(r.err.msg, bad_sk[i])); /* the message never shows a secret */
		assert_null(strstr(r.err.msg, "0123456789"));
		al_reply_free(&r);
	}
	/* Both or neither. */
	REFUSE(s, AL_EINVALID_ARGUMENT, "secret_key", "keypair.create", "user", 's', "adv@example.com", "access_key", 's',
	       "AKIAZZZZZZZZZZZZZZZZ", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "access_key", "keypair.create", "user", 's', "adv@example.com", "secret_key", 's',
	       SK_GOOD, NULL);
	/* The boundary characters of both alphabets. */
	assert_int_equal(th_run(s, "keypair.create", "user", 's', "adv@example.com", "access_key", 's',
				"AKIAAZ27AZ27AZ27AZ27", "secret_key", 's', "AZaz09-_AZaz09-_AZaz09-_AZaz09-_AZaz09-_", NULL),
			 AL_OK);
	/* A deleted keypair's access key never goes to another user (issue 15 item 9)... */
	assert_int_equal(th_run(s, "keypair.delete", "access_key", 's', AK_GOOD, NULL), AL_OK);
	char other_ak[32];
	make_user(s, "other@example.com", "user", "default", other_ak, NULL);
	al_reply r2;
	assert_int_equal(th_exec(s, &r2, "keypair.create", "user", 's', "other@example.com", "access_key", 's', AK_GOOD,
				 "secret_key", 's', SK_GOOD, NULL), AL_EALREADY_EXISTS);
	assert_non_null(strstr(r2.err.msg, "deleted keypair of another user"));
	al_reply_free(&r2);
	/* ... but its user gets it back with the same keys, as the guide tells admins to do; the
	 * entity's history keeps both lives, and a rebuild gives the same views. */
	assert_int_equal(th_exec(s, &r2, "keypair.create", "user", 's', "adv@example.com", "access_key", 's', AK_GOOD,
				 "secret_key", 's', SK_GOOD, NULL), AL_OK);
	assert_string_equal(th_res_str(&r2, "access_key"), AK_GOOD);
	al_reply_free(&r2);
	assert_int_equal(th_exec(s, &r2, "keypair.get", "access_key", 's', AK_GOOD, NULL), AL_OK);
	assert_string_equal(th_res_str(&r2, "user"), "adv@example.com");
	al_reply_free(&r2);
	REFUSE(s, AL_EALREADY_EXISTS, "access_key", "keypair.create", "user", 's', "adv@example.com", "access_key", 's',
	       AK_GOOD, "secret_key", 's', SK_GOOD, NULL);
	char entity[64];
	snprintf(entity, sizeof entity, "keypair:%s", AK_GOOD);
	al_log_filter f = {.entity = entity};
	history h = {0};
	al_error err;
	assert_int_equal(al_log_query(s, &f, record_type, &h, &err), AL_OK);
	assert_int_equal(h.n, 3);
	assert_string_equal(h.types[0], "keypair.created");
	assert_string_equal(h.types[1], "keypair.deleted");
	assert_string_equal(h.types[2], "keypair.created");
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
	char live[33], rebuilt[33];
	th_digest(s, live);
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	/* deleted again, it is still not another user's */
	assert_int_equal(th_run(s, "keypair.delete", "access_key", 's', AK_GOOD, NULL), AL_OK);
	REFUSE(s, AL_EALREADY_EXISTS, "access_key", "keypair.create", "user", 's', "other@example.com", "access_key", 's',
	       AK_GOOD, "secret_key", 's', SK_GOOD, NULL);
}

/* ---- rate limit ---------------------------------------------------------------------------------- */

static void rate_limit_bounds(void **state)
{
	al_store *s = S(state);
	char ak[32];
	make_user(s, "rl@example.com", "user", "default", ak, NULL);
	static const long long bad[] = {0, 50001, -1, 1000000};
	for (size_t i = 0; i < 4; i++) {
		REFUSE(s, AL_EINVALID_ARGUMENT, "rate_limit", "keypair.create", "user", 's', "rl@example.com", "rate_limit",
		       'i', bad[i], NULL);
		REFUSE(s, AL_EINVALID_ARGUMENT, "rate_limit", "keypair.update", "access_key", 's', ak, "rate_limit", 'i',
		       bad[i], NULL);
	}
	static const long long good[] = {1, 50000, 10000, 1000};
	for (size_t i = 0; i < 4; i++) {
		al_reply rep;
		assert_int_equal(th_exec(s, &rep, "keypair.create", "user", 's', "rl@example.com", "rate_limit", 'i', good[i],
					 NULL), AL_OK);
		assert_int_equal(th_res_int(&rep, "rate_limit"), good[i]);
		al_reply_free(&rep);
		assert_int_equal(th_exec(s, &rep, "keypair.update", "access_key", 's', ak, "rate_limit", 'i', good[i], NULL),
				 AL_OK);
		assert_int_equal(th_res_int(&rep, "rate_limit"), good[i]);
		al_reply_free(&rep);
	}
}

/* ---- update --------------------------------------------------------------------------------------- */

static void update_fields(void **state)
{
	al_store *s = S(state);
	char ak[32];
	make_user(s, "up@example.com", "user", "default", ak, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, NULL, "keypair.update", "access_key", 's', ak, NULL);
	REFUSE(s, AL_ENOT_FOUND, NULL, "keypair.update", "access_key", 's', "AKIAZZZZZZZZZZZZZZZZ", "admin", 'b', 1, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "user", "keypair.update", "access_key", 's', ak, "user", 's', "x@example.com",
	       NULL);
	uint64_t head = al_log_head(s);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "keypair.update", "access_key", 's', ak, "admin", 'b', 1, "rate_limit", 'i',
				 777LL, "policy", 's', "default", NULL), AL_OK);
	assert_int_equal(al_log_head(s), head + 1);
	assert_int_equal(res_bool(&rep, "is_admin"), 1);
	assert_int_equal(th_res_int(&rep, "rate_limit"), 777);
	assert_int_equal(th_res_int(&rep, "version"), 2);
	al_reply_free(&rep);
	/* The same values again: nothing recorded. */
	assert_int_equal(th_run(s, "keypair.update", "access_key", 's', ak, "admin", 'b', 1, "rate_limit", 'i', 777LL,
				"policy", 's', "default", NULL), AL_OK);
	assert_int_equal(al_log_head(s), head + 1);
	/* Only the changed field is in the event. */
	assert_int_equal(th_run(s, "keypair.update", "access_key", 's', ak, "admin", 'b', 0, "rate_limit", 'i', 777LL,
				NULL), AL_OK);
	assert_int_equal(al_log_head(s), head + 2);
	history h = {0};
	al_log_filter flt = {.type = "keypair.updated", .after_seq = head + 1};
	al_error err;
	assert_int_equal(al_log_query(s, &flt, record_type, &h, &err), AL_OK);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.fields[0], "is_admin");
}

/* ---- deactivate / activate ----------------------------------------------------------------------- */

static void deactivate_activate(void **state)
{
	al_store *s = S(state);
	char main_ak[32], ak[32];
	make_user(s, "da@example.com", "user", "default", main_ak, NULL);
	assert_int_equal(make_keypair(s, "da@example.com", ak, NULL), AL_OK);
	uint64_t head = al_log_head(s);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "keypair.deactivate", "access_key", 's', ak, NULL), AL_OK);
	assert_int_equal(res_bool(&rep, "is_active"), 0);
	assert_int_equal(rep.first_seq, head + 1);
	al_reply_free(&rep);
	/* Again: nothing to record. */
	assert_int_equal(th_exec(s, &rep, "keypair.deactivate", "access_key", 's', ak, NULL), AL_OK);
	assert_int_equal(rep.first_seq, 0);
	assert_int_equal(res_bool(&rep, "is_active"), 0);
	al_reply_free(&rep);
	assert_int_equal(al_log_head(s), head + 1);
	char l[512];
	LIST(s, l, "user", 's', "da@example.com", "status", 's', "inactive", NULL);
	assert_string_equal(l, ak);
	LIST(s, l, "user", 's', "da@example.com", "status", 's', "active", NULL);
	assert_string_equal(l, main_ak);
	LIST(s, l, "user", 's', "da@example.com", NULL);
	assert_int_equal(count_keys(l), 2);
	REFUSE(s, AL_EINVALID_ARGUMENT, "status", "keypair.list", "status", 's', "deleted", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "user", "keypair.list", "user", 's', "ghost@example.com", NULL);
	/* Activate. */
	assert_int_equal(th_exec(s, &rep, "keypair.activate", "access_key", 's', ak, NULL), AL_OK);
	assert_int_equal(res_bool(&rep, "is_active"), 1);
	assert_int_equal(rep.first_seq, head + 2);
	al_reply_free(&rep);
	assert_int_equal(th_run(s, "keypair.activate", "access_key", 's', ak, NULL), AL_OK);
	assert_int_equal(al_log_head(s), head + 2);
	/* A keypair of a user who is not active cannot be activated: activate the user first. */
	assert_int_equal(th_run(s, "user.deactivate", "email", 's', "da@example.com", NULL), AL_OK);
	LIST(s, l, "user", 's', "da@example.com", "status", 's', "active", NULL);
	assert_string_equal(l, "");
	REFUSE(s, AL_EINVALID_ARGUMENT, "access_key", "keypair.activate", "access_key", 's', ak, NULL);
	assert_int_equal(th_run(s, "user.update", "email", 's', "da@example.com", "status", 's', "before-verification",
				NULL), AL_OK);
	REFUSE(s, AL_EINVALID_ARGUMENT, "access_key", "keypair.activate", "access_key", 's', ak, NULL);
	assert_int_equal(th_run(s, "user.activate", "email", 's', "da@example.com", NULL), AL_OK);
	assert_int_equal(th_run(s, "keypair.activate", "access_key", 's', ak, NULL), AL_OK);
	LIST(s, l, "user", 's', "da@example.com", "status", 's', "active", NULL);
	assert_string_equal(l, ak);
	/* Unknown keys. */
	REFUSE(s, AL_ENOT_FOUND, NULL, "keypair.deactivate", "access_key", 's', "AKIAZZZZZZZZZZZZZZZZ", NULL);
	REFUSE(s, AL_ENOT_FOUND, NULL, "keypair.activate", "access_key", 's', "AKIAZZZZZZZZZZZZZZZZ", NULL);
	REFUSE(s, AL_ENOT_FOUND, NULL, "keypair.get", "access_key", 's', "AKIAZZZZZZZZZZZZZZZZ", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "access_key", "keypair.get", NULL);
	al_error err;
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
}

/* ---- delete ---------------------------------------------------------------------------------------- */

static void delete_guards(void **state)
{
	al_store *s = S(state);
	char main_ak[32], used[32], spare[32];
	make_user(s, "del@example.com", "user", "default", main_ak, NULL);
	assert_int_equal(make_keypair(s, "del@example.com", used, NULL), AL_OK);
	assert_int_equal(make_keypair(s, "del@example.com", spare, NULL), AL_OK);
	/* The main access key: in use, also when deactivated. */
	REFUSE(s, AL_EIN_USE, "access_key", "keypair.delete", "access_key", 's', main_ak, NULL);
	assert_int_equal(th_run(s, "keypair.deactivate", "access_key", 's', main_ak, NULL), AL_OK);
	REFUSE(s, AL_EIN_USE, "access_key", "keypair.delete", "access_key", 's', main_ak, NULL);
	/* Used by a compute session in an old log (keypair.used, which keypair.record-use recorded
	 * before sessions existed): counted, last_used set, never deletable again. (Sessions
	 * count themselves now: test_sessions.c, test_occupancy.c.) */
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "keypair.get", "access_key", 's', used, NULL), AL_OK);
	char modified[64];
	snprintf(modified, sizeof modified, "%s", th_res_str(&rep, "modified_at"));
	al_reply_free(&rep);
	assert_int_equal(th_append_event(s, "keypair.used", used, "session_id", 's', "sess-1", NULL), AL_OK);
	assert_int_equal(th_exec(s, &rep, "keypair.get", "access_key", 's', used, NULL), AL_OK);
	assert_int_equal(th_res_int(&rep, "num_sessions"), 1);
	assert_non_null(th_res_str(&rep, "last_used"));
	assert_string_equal(th_res_str(&rep, "modified_at"), modified); /* a use is not a settings change */
	al_reply_free(&rep);
	assert_int_equal(th_append_event(s, "keypair.used", used, "session_id", 's', "sess-2", NULL), AL_OK);
	assert_int_equal(th_exec(s, &rep, "keypair.get", "access_key", 's', used, NULL), AL_OK);
	assert_int_equal(th_res_int(&rep, "num_sessions"), 2);
	al_reply_free(&rep);
	al_reply del;
	assert_int_equal(th_exec(s, &del, "keypair.delete", "access_key", 's', used, NULL), AL_EIN_USE);
	assert_int_equal(strncmp(del.err.msg, "access_key:", 11), 0);
	assert_non_null(strstr(del.err.msg, "2 compute session"));
	al_reply_free(&del);
	assert_int_equal(th_run(s, "keypair.deactivate", "access_key", 's', used, NULL), AL_OK);
	REFUSE(s, AL_EIN_USE, "access_key", "keypair.delete", "access_key", 's', used, NULL);
	/* The stand-in command is gone. */
	REFUSE(s, AL_EINVALID_ARGUMENT, "op", "keypair.record-use", "access_key", 's', spare, "session_id", 's', "s",
	       NULL);
	/* A spare one goes; it disappears from get and list, its history stays. */
	uint64_t head = al_log_head(s);
	assert_int_equal(th_exec(s, &rep, "keypair.delete", "access_key", 's', spare, NULL), AL_OK);
	assert_int_equal(rep.first_seq, head + 1);
	assert_string_equal(th_res_str(&rep, "access_key"), spare);
	assert_int_equal(res_bool(&rep, "deleted"), 1);
	al_reply_free(&rep);
	REFUSE(s, AL_ENOT_FOUND, NULL, "keypair.get", "access_key", 's', spare, NULL);
	REFUSE(s, AL_ENOT_FOUND, NULL, "keypair.delete", "access_key", 's', spare, NULL);
	REFUSE(s, AL_ENOT_FOUND, NULL, "keypair.deactivate", "access_key", 's', spare, NULL);
	REFUSE(s, AL_ENOT_FOUND, NULL, "keypair.update", "access_key", 's', spare, "admin", 'b', 1, NULL);
	char l[512];
	LIST(s, l, NULL);
	assert_false(has_key(l, spare));
	assert_true(has_key(l, used) && has_key(l, main_ak));
	LIST(s, l, "user", 's', "del@example.com", NULL);
	assert_int_equal(count_keys(l), 2);
	char entity[64];
	snprintf(entity, sizeof entity, "keypair:%s", spare);
	al_log_filter f = {.entity = entity};
	history h = {0};
	al_error err;
	assert_int_equal(al_log_query(s, &f, record_type, &h, &err), AL_OK);
	assert_int_equal(h.n, 2);
	assert_string_equal(h.types[0], "keypair.created");
	assert_string_equal(h.types[1], "keypair.deleted");
	snprintf(entity, sizeof entity, "keypair:%s", used);
	h = (history){0};
	assert_int_equal(al_log_query(s, &f, record_type, &h, &err), AL_OK);
	assert_int_equal(h.n, 4); /* created, used, used, deactivated */
	assert_string_equal(h.types[1], "keypair.used");
	/* The deletion survives rebuild and as-of. */
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
	char live[33], rebuilt[33];
	th_digest(s, live);
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	REFUSE(s, AL_ENOT_FOUND, NULL, "keypair.get", "access_key", 's', spare, NULL);
	al_store *past;
	assert_int_equal(al_store_asof(s, head, &past, &err), AL_OK);
	assert_int_equal(th_run(past, "keypair.get", "access_key", 's', spare, NULL), AL_OK);
	al_store_close(past);
}

/* ---- secrets -------------------------------------------------------------------------------------- */

typedef struct {
	FILE *out;
	int json;
	char sealed[256];
} printer;

static int print_ev(const al_event *e, void *ctx)
{
	printer *p = ctx;
	if (p->json)
		al_event_write_json(e, p->out);
	else
		al_event_write_text(e, p->out);
	fputc('\n', p->out);
	al_str v;
	if (e->def == al_event_def_by_name("keypair.created") && al_mp_str(&e->fields, "secret_key_sealed", &v) == 1 &&
	    v.n < sizeof p->sealed) {
		memcpy(p->sealed, v.p, v.n);
		p->sealed[v.n] = 0;
	}
	return 0;
}

static void secret_never_stored(void **state)
{
	al_store *s = S(state);
	char main_ak[32], main_sk[64], ak[32], sk[64];
	make_user(s, "sec@example.com", "user", "default", main_ak, main_sk);
	assert_int_equal(make_keypair(s, "sec@example.com", ak, sk), AL_OK);
	assert_int_equal(th_run(s, "keypair.create", "user", 's', "sec@example.com", "access_key", 's', AK_GOOD,
				"secret_key", 's', SK_GOOD, "request_id", 's', "adv-1", NULL), AL_OK);
	const char *secrets[] = {main_sk, sk, SK_GOOD};
	/* The event holds the sealed secret, which opens to the secret with the master key. */
	for (int json = 0; json < 2; json++) {
		char *buf = NULL;
		size_t len = 0;
		printer p = {open_memstream(&buf, &len), json, ""};
		al_log_filter f = {.type = "keypair.created"};
		al_error err;
		assert_int_equal(al_log_query(s, &f, print_ev, &p, &err), AL_OK);
		fclose(p.out);
		assert_non_null(strstr(buf, "keypair.created"));
		assert_non_null(strstr(buf, AK_GOOD));
		for (int i = 0; i < 3; i++)
			assert_null(strstr(buf, secrets[i]));
		assert_null(strstr(buf, "secret_key"));
		assert_null(strstr(buf, "sealed:"));
		free(buf);
		assert_int_equal(strncmp(p.sealed, AL_SEAL_PREFIX, strlen(AL_SEAL_PREFIX)), 0);
		unsigned char plain[64];
		size_t pn;
		assert_int_equal(al__unseal(s, (al_str){p.sealed, strlen(p.sealed)}, plain, sizeof plain, &pn, &err), AL_OK);
		assert_int_equal(pn, 40);
		assert_memory_equal(plain, SK_GOOD, 40); /* the last keypair.created is the advanced one */
	}
	/* Lists and gets. */
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "keypair.list", NULL), AL_OK);
	for (int i = 0; i < 3; i++)
		assert_null(memmem(rep.result, rep.result_len, secrets[i], 40));
	assert_null(memmem(rep.result, rep.result_len, "secret", 6));
	al_reply_free(&rep);
	assert_int_equal(th_exec(s, &rep, "keypair.get", "access_key", 's', AK_GOOD, NULL), AL_OK);
	assert_null(memmem(rep.result, rep.result_len, SK_GOOD, 40));
	assert_null(memmem(rep.result, rep.result_len, "secret", 6));
	al_reply_free(&rep);
	assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', "sec@example.com", NULL), AL_OK);
	assert_null(memmem(rep.result, rep.result_len, main_sk, 40));
	assert_string_equal(th_res_str(&rep, "main_access_key"), main_ak);
	al_reply_free(&rep);
	/* A retry (request-id table) still answers with the secret... */
	assert_int_equal(th_exec(s, &rep, "keypair.create", "user", 's', "sec@example.com", "access_key", 's', AK_GOOD,
				 "secret_key", 's', SK_GOOD, "request_id", 's', "adv-1", NULL), AL_OK);
	assert_int_equal(rep.replayed, 1);
	assert_string_equal(th_res_str(&rep, "secret_key"), SK_GOOD);
	al_reply_free(&rep);
	/* ...but no byte of the data file holds any secret in plaintext. */
	char *dir = DIR_OF(state);
	al_store_close(s);
	((void **)*state)[1] = NULL;
	char path[4200];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	size_t dn;
	char *data = th_read_file(path, &dn);
	assert_true(dn > 0);
	assert_non_null(memmem(data, dn, AK_GOOD, 20)); /* the scan does see the file's content */
	for (int i = 0; i < 3; i++)
		assert_null(memmem(data, dn, secrets[i], 40));
	free(data);
	al_open_opts o = {AL_OPEN_QUIET, 0};
	al_error err;
	assert_int_equal(al_store_open(&s, dir, &o, &err), AL_OK);
	((void **)*state)[1] = s;
}

static void request_id_replay(void **state)
{
	al_store *s = S(state);
	char main_ak[32];
	make_user(s, "rid@example.com", "user", "default", main_ak, NULL);
	al_reply a, b;
	assert_int_equal(th_exec(s, &a, "keypair.create", "user", 's', "rid@example.com", "request_id", 's', "kp-1", NULL),
			 AL_OK);
	uint64_t head = al_log_head(s);
	char ak[32], sk[64];
	snprintf(ak, sizeof ak, "%s", th_res_str(&a, "access_key"));
	snprintf(sk, sizeof sk, "%s", th_res_str(&a, "secret_key"));
	assert_true(sk_format(sk));
	assert_int_equal(th_exec(s, &b, "keypair.create", "user", 's', "rid@example.com", "request_id", 's', "kp-1", NULL),
			 AL_OK);
	assert_int_equal(b.replayed, 1);
	assert_int_equal(al_log_head(s), head); /* nothing new: the prepared new key was dropped */
	assert_string_equal(th_res_str(&b, "access_key"), ak);
	assert_string_equal(th_res_str(&b, "secret_key"), sk);
	assert_int_equal(a.result_len, b.result_len);
	assert_memory_equal(a.result, b.result, a.result_len);
	assert_int_equal(b.first_seq, a.first_seq);
	al_reply_free(&a);
	al_reply_free(&b);
	/* user.create: the main keypair's secret too. */
	assert_int_equal(th_exec(s, &a, "user.create", "email", 's', "rid2@example.com", "username", 's', "rid2",
				 "password", 's', PW, "request_id", 's', "u-1", NULL), AL_OK);
	assert_int_equal(th_exec(s, &b, "user.create", "email", 's', "rid2@example.com", "username", 's', "rid2",
				 "password", 's', PW, "request_id", 's', "u-1", NULL), AL_OK);
	assert_int_equal(b.replayed, 1);
	assert_true(sk_format(th_res_str(&a, "secret_key")));
	snprintf(sk, sizeof sk, "%s", th_res_str(&a, "secret_key"));
	assert_string_equal(th_res_str(&b, "secret_key"), sk);
	assert_int_equal(a.result_len, b.result_len);
	assert_memory_equal(a.result, b.result, a.result_len);
	al_reply_free(&a);
	al_reply_free(&b);
	/* The request id of another op is refused. */
	REFUSE(s, AL_EINVALID_ARGUMENT, "request_id", "keypair.create", "user", 's', "rid@example.com", "request_id", 's',
	       "u-1", NULL);
}

/* ---- permissions ---------------------------------------------------------------------------------- */

static void permissions(void **state)
{
	al_store *s = S(state);
	assert_int_equal(th_run(s, "domain.create", "name", 's', "dom-b", NULL), AL_OK);
	char ak_a1[32], ak_a2[32], ak_adm[32], ak_mon[32], ak_b1[32], ak_admb[32], extra_a1[32], ak_root[32];
	make_user(s, "a1@example.com", "user", "default", ak_a1, NULL);
	make_user(s, "a2@example.com", "user", "default", ak_a2, NULL);
	make_user(s, "adm@example.com", "admin", "default", ak_adm, NULL);
	make_user(s, "mon@example.com", "monitor", "default", ak_mon, NULL);
	make_user(s, "b1@example.com", "user", "dom-b", ak_b1, NULL);
	make_user(s, "admb@example.com", "admin", "dom-b", ak_admb, NULL);
	make_user(s, "root2@example.com", "superadmin", "dom-b", ak_root, NULL);
	assert_int_equal(make_keypair(s, "a1@example.com", extra_a1, NULL), AL_OK);
	th_actor a1, adm, mon, admb, root;
	assert_int_equal(th_as(s, "a1@example.com", &a1), AL_OK);
	assert_int_equal(th_as(s, "adm@example.com", &adm), AL_OK);
	assert_int_equal(th_as(s, "mon@example.com", &mon), AL_OK);
	assert_int_equal(th_as(s, "admb@example.com", &admb), AL_OK);
	assert_int_equal(th_as(s, "root2@example.com", &root), AL_OK);
	char l[1024];

	/* A user: lists and gets its own keypairs only, changes none. */
	assert_int_equal(list_as(s, &a1.a, l, sizeof l, NULL), AL_OK);
	assert_int_equal(count_keys(l), 2);
	assert_true(has_key(l, ak_a1) && has_key(l, extra_a1));
	assert_int_equal(list_as(s, &a1.a, l, sizeof l, "user", 's', "a1@example.com", "status", 's', "active", NULL),
			 AL_OK);
	assert_int_equal(count_keys(l), 2);
	REFUSE_AS(s, &a1.a, AL_EPERMISSION_DENIED, NULL, "keypair.list", "user", 's', "a2@example.com", NULL);
	REFUSE_AS(s, &a1.a, AL_EPERMISSION_DENIED, NULL, "keypair.list", "user", 's', "b1@example.com", NULL);
	assert_int_equal(th_run_as(s, &a1.a, "keypair.get", "access_key", 's', ak_a1, NULL), AL_OK);
	REFUSE_AS(s, &a1.a, AL_EPERMISSION_DENIED, NULL, "keypair.get", "access_key", 's', ak_a2, NULL);
	REFUSE_AS(s, &a1.a, AL_EPERMISSION_DENIED, NULL, "keypair.get", "access_key", 's', ak_adm, NULL);
	REFUSE_AS(s, &a1.a, AL_EPERMISSION_DENIED, NULL, "keypair.create", "user", 's', "a1@example.com", NULL);
	REFUSE_AS(s, &a1.a, AL_EPERMISSION_DENIED, NULL, "keypair.create", "user", 's', "a2@example.com", NULL);
	REFUSE_AS(s, &a1.a, AL_EPERMISSION_DENIED, NULL, "keypair.deactivate", "access_key", 's', extra_a1, NULL);
	REFUSE_AS(s, &a1.a, AL_EPERMISSION_DENIED, NULL, "keypair.activate", "access_key", 's', extra_a1, NULL);
	REFUSE_AS(s, &a1.a, AL_EPERMISSION_DENIED, NULL, "keypair.delete", "access_key", 's', extra_a1, NULL);
	REFUSE_AS(s, &a1.a, AL_EPERMISSION_DENIED, NULL, "keypair.update", "access_key", 's', extra_a1, "rate_limit", 'i',
		  5LL, NULL);

	/* A domain admin (domain default): reads the keypairs of its domain's users only. */
	assert_int_equal(list_as(s, &adm.a, l, sizeof l, NULL), AL_OK);
	assert_int_equal(count_keys(l), 6); /* a1 (2), a2, adm, mon, and the bootstrap admin's */
	assert_true(has_key(l, ak_a1) && has_key(l, ak_a2) && has_key(l, ak_adm) && has_key(l, ak_mon));
	assert_false(has_key(l, ak_b1) || has_key(l, ak_admb) || has_key(l, ak_root));
	assert_int_equal(list_as(s, &adm.a, l, sizeof l, "user", 's', "a2@example.com", NULL), AL_OK);
	assert_string_equal(l, ak_a2);
	REFUSE_AS(s, &adm.a, AL_EPERMISSION_DENIED, NULL, "keypair.list", "user", 's', "b1@example.com", NULL);
	assert_int_equal(th_run_as(s, &adm.a, "keypair.get", "access_key", 's', ak_a2, NULL), AL_OK);
	REFUSE_AS(s, &adm.a, AL_EPERMISSION_DENIED, NULL, "keypair.get", "access_key", 's', ak_b1, NULL);
	REFUSE_AS(s, &adm.a, AL_EPERMISSION_DENIED, NULL, "keypair.get", "access_key", 's', ak_root, NULL);
	/* ...and creates, changes or deletes none: only a superadmin manages other users' keypairs. */
	REFUSE_AS(s, &adm.a, AL_EPERMISSION_DENIED, NULL, "keypair.create", "user", 's', "a1@example.com", NULL);
	REFUSE_AS(s, &adm.a, AL_EPERMISSION_DENIED, NULL, "keypair.create", "user", 's', "adm@example.com", NULL);
	REFUSE_AS(s, &adm.a, AL_EPERMISSION_DENIED, NULL, "keypair.deactivate", "access_key", 's', extra_a1, NULL);
	REFUSE_AS(s, &adm.a, AL_EPERMISSION_DENIED, NULL, "keypair.delete", "access_key", 's', extra_a1, NULL);
	REFUSE_AS(s, &adm.a, AL_EPERMISSION_DENIED, NULL, "keypair.update", "access_key", 's', extra_a1, "admin", 'b', 1,
		  NULL);
	/* The admin of domain B versus the users of domain default. */
	assert_int_equal(list_as(s, &admb.a, l, sizeof l, NULL), AL_OK);
	assert_int_equal(count_keys(l), 3); /* b1, admb, root2 */
	assert_true(has_key(l, ak_b1) && has_key(l, ak_admb) && has_key(l, ak_root));
	REFUSE_AS(s, &admb.a, AL_EPERMISSION_DENIED, NULL, "keypair.get", "access_key", 's', ak_a1, NULL);
	REFUSE_AS(s, &admb.a, AL_EPERMISSION_DENIED, NULL, "keypair.list", "user", 's', "a1@example.com", NULL);

	/* A monitor: reads what its domain's admin reads, writes nothing. */
	assert_int_equal(list_as(s, &mon.a, l, sizeof l, NULL), AL_OK);
	assert_int_equal(count_keys(l), 6);
	assert_false(has_key(l, ak_b1));
	assert_int_equal(list_as(s, &mon.a, l, sizeof l, "status", 's', "active", NULL), AL_OK);
	assert_int_equal(count_keys(l), 6);
	assert_int_equal(th_run_as(s, &mon.a, "keypair.get", "access_key", 's', ak_a1, NULL), AL_OK);
	REFUSE_AS(s, &mon.a, AL_EPERMISSION_DENIED, NULL, "keypair.get", "access_key", 's', ak_b1, NULL);
	REFUSE_AS(s, &mon.a, AL_EPERMISSION_DENIED, NULL, "keypair.create", "user", 's', "mon@example.com", NULL);
	REFUSE_AS(s, &mon.a, AL_EPERMISSION_DENIED, NULL, "keypair.deactivate", "access_key", 's', ak_mon, NULL);

	/* A superadmin (of another domain, even): everything. */
	assert_int_equal(list_as(s, &root.a, l, sizeof l, NULL), AL_OK);
	assert_int_equal(count_keys(l), 9); /* with the bootstrap admin's */
	char ak[32];
	al_reply rep;
	assert_int_equal(th_exec_as(s, &root.a, &rep, "keypair.create", "user", 's', "a1@example.com", NULL), AL_OK);
	snprintf(ak, sizeof ak, "%s", th_res_str(&rep, "access_key"));
	al_reply_free(&rep);
	assert_int_equal(th_run_as(s, &root.a, "keypair.deactivate", "access_key", 's', ak, NULL), AL_OK);
	assert_int_equal(th_run_as(s, &root.a, "keypair.activate", "access_key", 's', ak, NULL), AL_OK);
	assert_int_equal(th_run_as(s, &root.a, "keypair.update", "access_key", 's', ak, "rate_limit", 'i', 9LL, NULL),
			 AL_OK);
	assert_int_equal(th_run_as(s, &root.a, "keypair.delete", "access_key", 's', ak, NULL), AL_OK);
	assert_int_equal(th_run_as(s, &root.a, "keypair.get", "access_key", 's', ak_b1, NULL), AL_OK);
	/* A user-role actor that names no user lists nothing of anyone. */
	const al_actor anon_user = {"someone", AL_ROLE_USER, "default", NULL, NULL, NULL, NULL};
	REFUSE_AS(s, &anon_user, AL_EPERMISSION_DENIED, NULL, "keypair.list", NULL);
}

/* ---- what login and authentication use -------------------------------------------------------------- */

static void lookups_for_login(void **state)
{
	al_store *s = S(state);
	char main_ak[32], plain[32], adminkp[32];
	make_user(s, "lk@example.com", "user", "default", main_ak, NULL);
	assert_int_equal(make_keypair(s, "lk@example.com", plain, NULL), AL_OK);
	assert_int_equal(th_run(s, "keypair.create", "user", 's', "lk@example.com", "admin", 'b', 1, NULL), AL_OK);
	char l[512];
	LIST(s, l, "user", 's', "lk@example.com", NULL);
	char keys[3][32]; /* the admin one is neither main nor plain */
	assert_int_equal(sscanf(l, "%20[^,],%20[^,],%20s", keys[0], keys[1], keys[2]), 3);
	for (int i = 0; i < 3; i++)
		if (strcmp(keys[i], main_ak) && strcmp(keys[i], plain))
			snprintf(adminkp, sizeof adminkp, "%.20s", keys[i]);

	MDB_txn *txn;
	al_error err;
	msgpack_zone z;
	msgpack_zone_init(&z, 1024);
	al_keypair_info info;
	al_str email = {"lk@example.com", 14};
	/* The main key while active. */
	assert_int_equal(al__read_begin(s, &txn, &err), AL_OK);
	assert_int_equal(al__keypair_of_user(s, txn, email, &info, &z, &err), 1);
	assert_true(al_str_eq(info.access_key, main_ak));
	assert_true(al_str_eq(info.user, "lk@example.com"));
	assert_true(info.is_active);
	assert_int_equal(strncmp(info.secret_key_sealed.p, AL_SEAL_PREFIX, strlen(AL_SEAL_PREFIX)), 0);
	assert_int_equal(al__keypair_info(s, txn, (al_str){plain, 20}, &info, &z, &err), 1);
	assert_true(al_str_eq(info.resource_policy, "default"));
	assert_int_equal(info.rate_limit, 10000);
	assert_false(info.is_admin);
	assert_int_equal(al__keypair_info(s, txn, (al_str){"AKIAZZZZZZZZZZZZZZZZ", 20}, &info, &z, &err), 0);
	assert_int_equal(al__keypair_of_user(s, txn, (al_str){"nobody@example.com", 18}, &info, &z, &err), 0);
	mdb_txn_abort(txn);
	/* Main deactivated: the first active admin keypair, then any active one, then none. */
	assert_int_equal(th_run(s, "keypair.deactivate", "access_key", 's', main_ak, NULL), AL_OK);
	assert_int_equal(al__read_begin(s, &txn, &err), AL_OK);
	assert_int_equal(al__keypair_of_user(s, txn, email, &info, &z, &err), 1);
	assert_true(al_str_eq(info.access_key, adminkp));
	assert_true(info.is_admin);
	mdb_txn_abort(txn);
	assert_int_equal(th_run(s, "keypair.deactivate", "access_key", 's', adminkp, NULL), AL_OK);
	assert_int_equal(al__read_begin(s, &txn, &err), AL_OK);
	assert_int_equal(al__keypair_of_user(s, txn, email, &info, &z, &err), 1);
	assert_true(al_str_eq(info.access_key, plain));
	mdb_txn_abort(txn);
	assert_int_equal(th_run(s, "keypair.delete", "access_key", 's', plain, NULL), AL_OK);
	assert_int_equal(al__read_begin(s, &txn, &err), AL_OK);
	assert_int_equal(al__keypair_of_user(s, txn, email, &info, &z, &err), 0);
	assert_int_equal(al__keypair_info(s, txn, (al_str){plain, 20}, &info, &z, &err), 0); /* deleted */
	/* Policy counts: every live keypair follows "default", also inactive ones. */
	al_cmd c = {.s = s, .txn = txn, .err = &err, .zone = &z};
	uint64_t n = 99;
	assert_int_equal(al__keypairs_count_policy(&c, (al_str){"default", 7}, &n), AL_OK);
	assert_int_equal(n, 3); /* main and admin, both inactive, and the bootstrap admin's; the deleted one is gone */
	assert_int_equal(al__keypairs_count_policy(&c, (al_str){"gold", 4}, &n), AL_OK);
	assert_int_equal(n, 0);
	mdb_txn_abort(txn);
	msgpack_zone_destroy(&z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(generated_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(advanced_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(rate_limit_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(update_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(deactivate_activate, setup, teardown),
		cmocka_unit_test_setup_teardown(delete_guards, setup, teardown),
		cmocka_unit_test_setup_teardown(secret_never_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(request_id_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(lookups_for_login, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
