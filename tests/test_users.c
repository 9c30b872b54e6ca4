/* test_users.c - the users/domains slice: every validation rule, hashes, listing, roles. */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "nouns/nouns.h"

#define PW "Passw0rd!"

/*
 * Runs op (triples as in th_exec) and checks the refusal: the error code, a message that
 * starts with "field:" (when field is not NULL), no result, and nothing appended to the log.
 */
#define REFUSE_AS(s, who, code, field, ...) th_refuse_at(__FILE__, __LINE__, s, who, code, field, NULL, __VA_ARGS__)
#define REFUSE(s, code, field, ...) th_refuse_at(__FILE__, __LINE__, s, NULL, code, field, NULL, __VA_ARGS__)

/* A string of n copies of c followed by suffix, in a static buffer per slot. */
static const char *rep_str(int slot, char c, size_t n, const char *suffix)
{
	static char buf[4][1024];
	memset(buf[slot], c, n);
	memcpy(buf[slot] + n, suffix, strlen(suffix) + 1);
	return buf[slot];
}

static int create(al_store *s, const char *email, const char *username)
{
	return th_run(s, "user.create", "email", 's', email, "username", 's', username, "password", 's', PW, NULL);
}

#define setup th_setup
#define teardown th_teardown
#define S th_store

/* ---- decoding results ------------------------------------------------------------------------ */

typedef struct {
	msgpack_zone z;
	msgpack_object o;
} decoded;

static void decode(const al_reply *rep, decoded *d)
{
	size_t off = 0;
	msgpack_zone_init(&d->z, 1024);
	assert_non_null(rep->result);
	assert_int_equal(msgpack_unpack(rep->result, rep->result_len, &off, &d->z, &d->o), MSGPACK_UNPACK_SUCCESS);
}

/* The string member key of map m, copied into buf; NULL when absent or not a string. */
static const char *map_str(const msgpack_object *m, const char *key, char *buf, size_t n)
{
	if (m->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key, *v = &m->via.map.ptr[i].val;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
		    memcmp(k->via.str.ptr, key, k->via.str.size) == 0) {
			if (v->type != MSGPACK_OBJECT_STR || v->via.str.size >= n)
				return NULL;
			memcpy(buf, v->via.str.ptr, v->via.str.size);
			buf[v->via.str.size] = 0;
			return buf;
		}
	}
	return NULL;
}

static int key_is(const msgpack_object *k, const char *key)
{
	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
	       memcmp(k->via.str.ptr, key, k->via.str.size) == 0;
}

static int map_has(const msgpack_object *m, const char *key)
{
	for (uint32_t i = 0; m->type == MSGPACK_OBJECT_MAP && i < m->via.map.size; i++)
		if (key_is(&m->via.map.ptr[i].key, key))
			return 1;
	return 0;
}

/* Runs user.list with the given triples and writes the listed emails, comma-separated. */
static void list_emails(al_store *s, char *out, size_t n, ...)
{
	size_t len;
	va_list ap;
	va_start(ap, n);
	char *args = th_vargs(&len, ap);
	va_end(ap);
	al_request req = {"user.list", args, len, &th_admin};
	al_reply rep;
	assert_int_equal(al_exec(s, &req, &rep), AL_OK);
	free(args);
	decoded d;
	decode(&rep, &d);
	assert_int_equal(d.o.type, MSGPACK_OBJECT_ARRAY);
	out[0] = 0;
	for (uint32_t i = 0; i < d.o.via.array.size; i++) {
		char e[128];
		const msgpack_object *row = &d.o.via.array.ptr[i];
		assert_non_null(map_str(row, "email", e, sizeof e));
		assert_false(map_has(row, "password_hash"));
		snprintf(out + strlen(out), n - strlen(out), "%s%s", i ? "," : "", e);
	}
	assert_null(memmem(rep.result, rep.result_len, "$argon2id", 9));
	assert_null(memmem(rep.result, rep.result_len, "password_hash", 13));
	msgpack_zone_destroy(&d.z);
	al_reply_free(&rep);
}

/* ---- email ------------------------------------------------------------------------------------- */

static void email_rules(void **state)
{
	al_store *s = S(state);
	REFUSE(s, AL_EINVALID_ARGUMENT, "email", "user.create", "username", 's', "u", "password", 's', PW, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "email", "user.create", "email", 'n', "username", 's', "u", "password", 's',
	       PW, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "email", "user.create", "email", 's', "", "username", 's', "u", "password", 's',
	       PW, NULL);
	/* 65 characters refused, 64 accepted. */
	const char *e65 = rep_str(0, 'a', 53, "@example.com"), *e64 = rep_str(1, 'b', 52, "@example.com");
	assert_int_equal(strlen(e65), 65);
	assert_int_equal(strlen(e64), 64);
	REFUSE(s, AL_EINVALID_ARGUMENT, "email", "user.create", "email", 's', e65, "username", 's', "u65", "password",
	       's', PW, NULL);
	static const char *const bad[] = {"plain", "@example.com", "name@", "a@b@c", "a b@example.com", "a@exa mple.com",
					  "a\tb@example.com"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		REFUSE(s, AL_EINVALID_ARGUMENT, "email", "user.create", "email", 's', bad[i], "username", 's', "u",
		       "password", 's', PW, NULL);
	uint64_t head = al_log_head(s);
	assert_int_equal(create(s, e64, "u64"), AL_OK);
	assert_int_equal(al_log_head(s), head + 2); /* user.created and its keypair.created */
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', e64, NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "email"), e64);
	al_reply_free(&rep);
}

/* ---- username ----------------------------------------------------------------------------------- */

static void username_rules(void **state)
{
	al_store *s = S(state);
	REFUSE(s, AL_EINVALID_ARGUMENT, "username", "user.create", "email", 's', "u@example.com", "password", 's', PW,
	       NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "username", "user.create", "email", 's', "u@example.com", "username", 's', "",
	       "password", 's', PW, NULL);
	const char *u65 = rep_str(0, 'x', 65, ""), *u64 = rep_str(1, 'y', 64, "");
	REFUSE(s, AL_EINVALID_ARGUMENT, "username", "user.create", "email", 's', "u@example.com", "username", 's', u65,
	       "password", 's', PW, NULL);
	/* Characters, not bytes: 64 two-byte characters are accepted, 65 are not. */
	char wide[200] = "";
	for (int i = 0; i < 65; i++)
		strcat(wide, "\xc3\xa9");
	REFUSE(s, AL_EINVALID_ARGUMENT, "username", "user.create", "email", 's', "u@example.com", "username", 's', wide,
	       "password", 's', PW, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "username", "user.create", "email", 's', "u@example.com", "username", 's',
	       "bad\001name", "password", 's', PW, NULL);
	assert_int_equal(create(s, "u64@example.com", u64), AL_OK);
	wide[128] = 0;
	assert_int_equal(create(s, "wide@example.com", wide), AL_OK);
	REFUSE(s, AL_EINVALID_ARGUMENT, "full_name", "user.create", "email", 's', "f@example.com", "username", 's', "f",
	       "password", 's', PW, "full_name", 's', rep_str(2, 'f', 65, ""), NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "description", "user.create", "email", 's', "f@example.com", "username", 's',
	       "f", "password", 's', PW, "description", 's', rep_str(2, 'd', 501, ""), NULL);
}

static void unique_email_and_username(void **state)
{
	al_store *s = S(state);
	assert_int_equal(create(s, "one@example.com", "one"), AL_OK);
	REFUSE(s, AL_EALREADY_EXISTS, "email", "user.create", "email", 's', "one@example.com", "username", 's', "other",
	       "password", 's', PW, NULL);
	REFUSE(s, AL_EALREADY_EXISTS, "username", "user.create", "email", 's', "two@example.com", "username", 's', "one",
	       "password", 's', PW, NULL);
	/* The bootstrap admin holds "admin". */
	REFUSE(s, AL_EALREADY_EXISTS, "username", "user.create", "email", 's', "two@example.com", "username", 's',
	       "admin", "password", 's', PW, NULL);
	REFUSE(s, AL_EALREADY_EXISTS, "email", "user.create", "email", 's', "admin@example.com", "username", 's', "adm2",
	       "password", 's', PW, NULL);
}

/* ---- password ------------------------------------------------------------------------------------ */

static void password_rules(void **state)
{
	al_store *s = S(state);
	static const char *const bad[] = {
		"Pa0!xyz",      /* 7 characters */
		"password1234", /* no special */
		"password!!!!", /* no digit */
		"12345678!!!!", /* no letter */
		"",
	};
	REFUSE(s, AL_EINVALID_ARGUMENT, "password", "user.create", "email", 's', "p@example.com", "username", 's', "p",
	       NULL);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		REFUSE(s, AL_EINVALID_ARGUMENT, "password", "user.create", "email", 's', "p@example.com", "username", 's',
		       "p", "password", 's', bad[i], NULL);
	/* The message never carries the password. */
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.create", "email", 's', "p@example.com", "username", 's', "p", "password",
				 's', "sekritsekrit", NULL), AL_EINVALID_ARGUMENT);
	assert_null(strstr(rep.err.msg, "sekrit"));
	al_reply_free(&rep);
	/* Exactly 8 with one of each class. */
	assert_int_equal(th_run(s, "user.create", "email", 's', "p@example.com", "username", 's', "p", "password", 's',
				"Pa0!xyzw", NULL), AL_OK);
	/* The same rules on update. */
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		REFUSE(s, AL_EINVALID_ARGUMENT, "password", "user.update", "email", 's', "p@example.com", "password", 's',
		       bad[i], NULL);
}

/* ---- role, status, domain ----------------------------------------------------------------------------- */

static void role_and_status_values(void **state)
{
	al_store *s = S(state);
	static const char *const roles[] = {"superadmin", "admin", "user", "monitor"};
	static const char *const statuses[] = {"active", "inactive", "before-verification"};
	char email[64], name[64];
	for (size_t i = 0; i < 4; i++) {
		snprintf(email, sizeof email, "r%zu@example.com", i);
		snprintf(name, sizeof name, "r%zu", i);
		al_reply rep;
		assert_int_equal(th_exec(s, &rep, "user.create", "email", 's', email, "username", 's', name, "password", 's',
					 PW, "role", 's', roles[i], NULL), AL_OK);
		assert_string_equal(th_res_str(&rep, "role"), roles[i]);
		al_reply_free(&rep);
	}
	for (size_t i = 0; i < 3; i++) {
		snprintf(email, sizeof email, "s%zu@example.com", i);
		snprintf(name, sizeof name, "s%zu", i);
		al_reply rep;
		assert_int_equal(th_exec(s, &rep, "user.create", "email", 's', email, "username", 's', name, "password", 's',
					 PW, "status", 's', statuses[i], NULL), AL_OK);
		assert_string_equal(th_res_str(&rep, "status"), statuses[i]);
		al_reply_free(&rep);
	}
	/* Defaults. */
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.create", "email", 's', "d@example.com", "username", 's', "d", "password",
				 's', PW, NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "role"), "user");
	assert_string_equal(th_res_str(&rep, "status"), "active");
	assert_string_equal(th_res_str(&rep, "domain"), "default");
	al_reply_free(&rep);
	static const char *const bad_roles[] = {"root", "Admin", "", "users"};
	for (size_t i = 0; i < 4; i++)
		REFUSE(s, AL_EINVALID_ARGUMENT, "role", "user.create", "email", 's', "x@example.com", "username", 's', "x",
		       "password", 's', PW, "role", 's', bad_roles[i], NULL);
	static const char *const bad_statuses[] = {"deleted", "Active", "", "before_verification"};
	for (size_t i = 0; i < 4; i++)
		REFUSE(s, AL_EINVALID_ARGUMENT, "status", "user.create", "email", 's', "x@example.com", "username", 's', "x",
		       "password", 's', PW, "status", 's', bad_statuses[i], NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "role", "user.update", "email", 's', "d@example.com", "role", 's', "root", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "status", "user.update", "email", 's', "d@example.com", "status", 's', "gone",
	       NULL);
}

static void unknown_domain(void **state)
{
	al_store *s = S(state);
	REFUSE(s, AL_EINVALID_ARGUMENT, "domain", "user.create", "email", 's', "x@example.com", "username", 's', "x",
	       "password", 's', PW, "domain", 's', "nowhere", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "domain", "user.create", "email", 's', "x@example.com", "username", 's', "x",
	       "password", 's', PW, "domain", 's', "", NULL);
	assert_int_equal(th_run(s, "domain.create", "name", 's', "sales", NULL), AL_OK);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.create", "email", 's', "x@example.com", "username", 's', "x", "password",
				 's', PW, "domain", 's', "sales", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "domain"), "sales");
	al_reply_free(&rep);
	REFUSE(s, AL_EINVALID_ARGUMENT, "domain", "user.update", "email", 's', "x@example.com", "domain", 's', "nowhere",
	       NULL);
}

/* ---- arguments ------------------------------------------------------------------------------------------ */

static void unknown_and_mistyped_arguments(void **state)
{
	al_store *s = S(state);
	REFUSE(s, AL_EINVALID_ARGUMENT, "bogus", "user.create", "email", 's', "x@example.com", "username", 's', "x",
	       "password", 's', PW, "bogus", 's', "1", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "password_hash", "user.create", "email", 's', "x@example.com", "username", 's',
	       "x", "password", 's', PW, "password_hash", 's', "$argon2id$forged", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "id", "user.create", "email", 's', "x@example.com", "username", 's', "x",
	       "password", 's', PW, "id", 's', "00000000-0000-4000-8000-000000000000", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "email", "user.create", "email", 'i', 42LL, "username", 's', "x", "password", 's',
	       PW, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "username", "user.create", "email", 's', "x@example.com", "username", 'b', 1,
	       "password", 's', PW, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "password", "user.create", "email", 's', "x@example.com", "username", 's', "x",
	       "password", 'i', 12345678LL, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "need_password_change", "user.create", "email", 's', "x@example.com", "username",
	       's', "x", "password", 's', PW, "need_password_change", 's', "true", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "limit", "user.list", "limit", 's', "10", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "email", "user.get", "email", 'i', 1LL, NULL);
	/* An update cannot smuggle in fields that only user.create or the projection sets. */
	assert_int_equal(create(s, "x@example.com", "x"), AL_OK);
	REFUSE(s, AL_EINVALID_ARGUMENT, "new_email", "user.update", "email", 's', "x@example.com", "new_email", 's',
	       "y@example.com", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "created_at", "user.update", "email", 's', "x@example.com", "created_at", 'i',
	       1LL, NULL);
	/* Arguments that are not a map. */
	uint64_t head = al_log_head(s);
	char arr[] = {(char)0x90}; /* empty array */
	al_request req = {"user.create", arr, 1, &th_admin};
	al_reply rep;
	assert_int_equal(al_exec(s, &req, &rep), AL_EINVALID_ARGUMENT);
	al_reply_free(&rep);
	char junk[] = {(char)0xc1}; /* never valid msgpack */
	req.args = junk;
	assert_int_equal(al_exec(s, &req, &rep), AL_EINVALID_ARGUMENT);
	al_reply_free(&rep);
	assert_int_equal(al_log_head(s), head);
}

/* ---- update ------------------------------------------------------------------------------------------------ */

static int64_t fake_now = 1800000000000000LL; /* 2027-01-15 */
static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static void update_fields(void **state)
{
	al_store *s = S(state);
	assert_int_equal(th_run(s, "domain.create", "name", 's', "ops", NULL), AL_OK);
	al_store_set_clock(s, fake_clock, NULL);
	assert_int_equal(create(s, "up@example.com", "alpha"), AL_OK);
	assert_int_equal(create(s, "other@example.com", "taken"), AL_OK);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', "up@example.com", NULL), AL_OK);
	char changed_before[64];
	snprintf(changed_before, sizeof changed_before, "%s", th_res_str(&rep, "password_changed_at"));
	long long version = th_res_int(&rep, "version");
	al_reply_free(&rep);

	/* Nothing given: refused; only the target is no change. */
	REFUSE(s, AL_EINVALID_ARGUMENT, NULL, "user.update", "email", 's', "up@example.com", NULL);
	assert_int_equal(th_exec(s, &rep, "user.update", "email", 's', "up@example.com", "full_name", 'n', NULL),
			 AL_EINVALID_ARGUMENT);
	assert_non_null(strstr(rep.err.msg, "nothing to update"));
	al_reply_free(&rep);
	REFUSE(s, AL_ENOT_FOUND, NULL, "user.update", "email", 's', "ghost@example.com", "full_name", 's', "G", NULL);
	REFUSE(s, AL_EALREADY_EXISTS, "username", "user.update", "email", 's', "up@example.com", "username", 's', "taken",
	       NULL);
	REFUSE(s, AL_EALREADY_EXISTS, "username", "user.update", "email", 's', "up@example.com", "username", 's', "admin",
	       NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "username", "user.update", "email", 's', "up@example.com", "username", 's', "",
	       NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "username", "user.update", "email", 's', "up@example.com", "username", 's',
	       rep_str(0, 'z', 65, ""), NULL);

	/* Every field at once. */
	fake_now += 5000000;
	uint64_t head = al_log_head(s);
	assert_int_equal(th_exec(s, &rep, "user.update", "email", 's', "up@example.com", "username", 's', "beta",
				 "password", 's', "N3w-secret", "full_name", 's', "Up Dated", "description", 's', "desc",
				 "domain", 's', "ops", "role", 's', "monitor", "status", 's', "before-verification",
				 "need_password_change", 'b', 1, NULL), AL_OK);
	assert_int_equal(al_log_head(s), head + 1);
	assert_int_equal(rep.first_seq, head + 1);
	assert_string_equal(th_res_str(&rep, "email"), "up@example.com");
	assert_string_equal(th_res_str(&rep, "username"), "beta");
	assert_string_equal(th_res_str(&rep, "full_name"), "Up Dated");
	assert_string_equal(th_res_str(&rep, "description"), "desc");
	assert_string_equal(th_res_str(&rep, "domain"), "ops");
	assert_string_equal(th_res_str(&rep, "role"), "monitor");
	assert_string_equal(th_res_str(&rep, "status"), "before-verification");
	assert_string_not_equal(th_res_str(&rep, "password_changed_at"), changed_before);
	assert_string_equal(th_res_str(&rep, "password_changed_at"), th_res_str(&rep, "modified_at"));
	assert_int_equal(th_res_int(&rep, "version"), version + 1);
	assert_null(th_res_str(&rep, "password_hash"));
	assert_null(memmem(rep.result, rep.result_len, "$argon2id", 9));
	decoded d;
	decode(&rep, &d);
	for (uint32_t i = 0; i < d.o.via.map.size; i++)
		if (key_is(&d.o.via.map.ptr[i].key, "need_password_change"))
			assert_true(d.o.via.map.ptr[i].val.type == MSGPACK_OBJECT_BOOLEAN &&
				    d.o.via.map.ptr[i].val.via.boolean);
	msgpack_zone_destroy(&d.z);
	al_reply_free(&rep);

	/* The username index moved with the rename: the old name is free, the new one is taken. */
	REFUSE(s, AL_EALREADY_EXISTS, "username", "user.create", "email", 's', "n@example.com", "username", 's', "beta",
	       "password", 's', PW, NULL);
	assert_int_equal(create(s, "n@example.com", "alpha"), AL_OK);

	/* An update to the current values records nothing; a non-password update keeps password_changed_at. */
	head = al_log_head(s);
	assert_int_equal(th_run(s, "user.update", "email", 's', "up@example.com", "username", 's', "beta", "role", 's',
				"monitor", NULL), AL_OK);
	assert_int_equal(al_log_head(s), head);
	fake_now += 5000000;
	assert_int_equal(th_exec(s, &rep, "user.update", "email", 's', "up@example.com", "full_name", 's', "Again", NULL),
			 AL_OK);
	char pca[64], mod[64];
	snprintf(pca, sizeof pca, "%s", th_res_str(&rep, "password_changed_at"));
	snprintf(mod, sizeof mod, "%s", th_res_str(&rep, "modified_at"));
	assert_string_not_equal(pca, mod);
	al_reply_free(&rep);
	al_store_set_clock(s, NULL, NULL);
	al_error err;
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
}

/* ---- hashes in the log -------------------------------------------------------------------------------------- */

typedef struct {
	const char *plain;
	char hashes[4][160];
	int nhash;
	int plain_seen;
	int events;
} hash_scan;

static int scan_fields(const al_event *e, void *ctx)
{
	hash_scan *h = ctx;
	h->events++;
	const msgpack_object *m = &e->fields;
	for (uint32_t i = 0; m->type == MSGPACK_OBJECT_MAP && i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key, *v = &m->via.map.ptr[i].val;
		if (v->type != MSGPACK_OBJECT_STR)
			continue;
		if (memmem(v->via.str.ptr, v->via.str.size, h->plain, strlen(h->plain)))
			h->plain_seen = 1;
		if (key_is(k, "password_hash") && h->nhash < 4 && v->via.str.size < 160) {
			memcpy(h->hashes[h->nhash], v->via.str.ptr, v->via.str.size);
			h->hashes[h->nhash++][v->via.str.size] = 0;
		}
		if (key_is(k, "password"))
			h->plain_seen = 1;
	}
	return 0;
}

static void passwords_stored_as_argon2id(void **state)
{
	char *dir = ((th_fx *)*state)->dir;
	al_store *s = S(state);
	const char *p1 = "Unl1kely#Plain", *p2 = "An0ther#Plain";
	assert_int_equal(th_run(s, "user.create", "email", 's', "h@example.com", "username", 's', "h", "password", 's',
				p1, NULL), AL_OK);
	assert_int_equal(th_run(s, "user.update", "email", 's', "h@example.com", "password", 's', p2, NULL), AL_OK);
	al_log_filter f = {.entity = "user:h@example.com"};
	al_error err;
	hash_scan h = {.plain = p1};
	assert_int_equal(al_log_query(s, &f, scan_fields, &h, &err), AL_OK);
	assert_int_equal(h.events, 2);
	assert_int_equal(h.nhash, 2);
	assert_false(h.plain_seen);
	assert_int_equal(strncmp(h.hashes[0], "$argon2id$", 10), 0);
	assert_int_equal(strncmp(h.hashes[1], "$argon2id$", 10), 0);
	assert_string_not_equal(h.hashes[0], h.hashes[1]); /* a new hash, not the old one again */
	hash_scan h2 = {.plain = p2};
	assert_int_equal(al_log_query(s, &f, scan_fields, &h2, &err), AL_OK);
	assert_false(h2.plain_seen);
	/* Same password twice: a fresh salt gives another hash. */
	assert_int_equal(th_run(s, "user.update", "email", 's', "h@example.com", "password", 's', p2, NULL), AL_OK);
	hash_scan h3 = {.plain = p2};
	assert_int_equal(al_log_query(s, &f, scan_fields, &h3, &err), AL_OK);
	assert_int_equal(h3.nhash, 3);
	assert_string_not_equal(h3.hashes[1], h3.hashes[2]);
	/* Nowhere in the data file either. */
	al_store_close(s);
	((void **)*state)[1] = NULL;
	char path[4200];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	FILE *df = fopen(path, "rb");
	assert_non_null(df);
	char *data = NULL;
	size_t dn = 0;
	FILE *mem = open_memstream(&data, &dn);
	char chunk[65536];
	for (size_t r; (r = fread(chunk, 1, sizeof chunk, df)) > 0;)
		fwrite(chunk, 1, r, mem);
	fclose(df);
	fclose(mem);
	assert_null(memmem(data, dn, p1, strlen(p1)));
	assert_null(memmem(data, dn, p2, strlen(p2)));
	assert_null(memmem(data, dn, TH_PASSWORD, strlen(TH_PASSWORD)));
	free(data);
	al_open_opts o = {AL_OPEN_QUIET, 0};
	assert_int_equal(al_store_open(&s, dir, &o, &err), AL_OK);
	((void **)*state)[1] = s;
}

typedef struct {
	FILE *out;
	int json;
} printer;

static int print_ev(const al_event *e, void *ctx)
{
	printer *p = ctx;
	if (p->json)
		al_event_write_json(e, p->out);
	else
		al_event_write_text(e, p->out);
	fputc('\n', p->out);
	return 0;
}

static void no_hash_in_reads(void **state)
{
	al_store *s = S(state);
	assert_int_equal(create(s, "r@example.com", "r"), AL_OK);
	assert_int_equal(th_run(s, "user.update", "email", 's', "r@example.com", "password", 's', "Upd4ted!", NULL), AL_OK);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', "r@example.com", NULL), AL_OK);
	assert_null(th_res_str(&rep, "password_hash"));
	assert_null(memmem(rep.result, rep.result_len, "$argon2id", 9));
	assert_null(memmem(rep.result, rep.result_len, "password_hash", 13));
	al_reply_free(&rep);
	char emails[512];
	list_emails(s, emails, sizeof emails, NULL);
	/* The audit renderings (JSON and text) leave secret fields out. */
	for (int json = 0; json < 2; json++) {
		char *buf = NULL;
		size_t len = 0;
		printer p = {open_memstream(&buf, &len), json};
		al_error err;
		assert_int_equal(al_log_query(s, NULL, print_ev, &p, &err), AL_OK);
		fclose(p.out);
		assert_non_null(strstr(buf, "user.created"));
		assert_non_null(strstr(buf, "user.updated"));
		assert_null(strstr(buf, "$argon2id"));
		assert_null(strstr(buf, "password_hash"));
		free(buf);
	}
	/* Stats neither. */
	char *mp;
	size_t len;
	al_error err;
	assert_int_equal(al_store_stats(s, &mp, &len, &err), AL_OK);
	assert_null(memmem(mp, len, "$argon2id", 9));
	al_free(mp);
}

/* ---- never deletable ---------------------------------------------------------------------------------------- */

static void users_not_deletable(void **state)
{
	al_store *s = S(state);
	assert_int_equal(create(s, "keep@example.com", "keep"), AL_OK);
	REFUSE(s, AL_EINVALID_ARGUMENT, "op", "user.delete", "email", 's', "keep@example.com", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "op", "user.remove", "email", 's', "keep@example.com", NULL);
	assert_null(al_cmd_def_find("user.delete"));
	/* No user command deletes and no user event is a deletion (keypairs may be deleted). */
	for (size_t i = 0; i < al_cmd_def_count(); i++)
		if (strncmp(al_cmd_def_at(i)->op, "user.", 5) == 0)
			assert_null(strstr(al_cmd_def_at(i)->op, "delete"));
	for (size_t i = 0; i < al_event_def_count(); i++)
		if (strcmp(al_event_def_at(i)->entity, "user") == 0)
			assert_null(strstr(al_event_def_at(i)->name, "deleted"));
	assert_int_equal(th_run(s, "user.get", "email", 's', "keep@example.com", NULL), AL_OK);
}

/* ---- deactivate / activate ------------------------------------------------------------------------------------ */

static void deactivate_activate(void **state)
{
	al_store *s = S(state);
	assert_int_equal(create(s, "da@example.com", "da"), AL_OK);
	al_reply rep;
	uint64_t head = al_log_head(s);
	assert_int_equal(th_exec(s, &rep, "user.deactivate", "email", 's', "da@example.com", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "inactive");
	assert_int_equal(rep.first_seq, head + 1);
	al_reply_free(&rep);
	head = al_log_head(s);
	assert_int_equal(th_exec(s, &rep, "user.deactivate", "email", 's', "da@example.com", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "inactive");
	assert_int_equal(rep.first_seq, 0);
	al_reply_free(&rep);
	assert_int_equal(al_log_head(s), head);
	assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', "da@example.com", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "inactive");
	al_reply_free(&rep);
	assert_int_equal(th_exec(s, &rep, "user.activate", "email", 's', "da@example.com", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "active");
	assert_int_equal(rep.first_seq, head + 1);
	al_reply_free(&rep);
	head = al_log_head(s);
	assert_int_equal(th_run(s, "user.activate", "email", 's', "da@example.com", NULL), AL_OK);
	assert_int_equal(al_log_head(s), head);
	/* before-verification can be activated. */
	assert_int_equal(th_run(s, "user.create", "email", 's', "bv@example.com", "username", 's', "bv", "password", 's',
				PW, "status", 's', "before-verification", NULL), AL_OK);
	assert_int_equal(th_exec(s, &rep, "user.activate", "email", 's', "bv@example.com", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "active");
	al_reply_free(&rep);
	REFUSE(s, AL_ENOT_FOUND, NULL, "user.deactivate", "email", 's', "ghost@example.com", NULL);
	REFUSE(s, AL_ENOT_FOUND, NULL, "user.activate", "email", 's', "ghost@example.com", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "email", "user.deactivate", NULL);
	REFUSE(s, AL_ENOT_FOUND, NULL, "user.get", "email", 's', "ghost@example.com", NULL);
	/* The state survives a rebuild of the views. */
	al_error err;
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
}

/* ---- listing --------------------------------------------------------------------------------------------------- */

static void list_filters(void **state)
{
	al_store *s = S(state);
	/* Created out of order; listed by email. */
	assert_int_equal(create(s, "carol@example.com", "carol"), AL_OK);
	assert_int_equal(create(s, "alice@example.org", "alice"), AL_OK);
	assert_int_equal(create(s, "bob@example.com", "bobby"), AL_OK);
	assert_int_equal(create(s, "dave@example.org", "dave"), AL_OK);
	assert_int_equal(th_run(s, "user.deactivate", "email", 's', "bob@example.com", NULL), AL_OK);
	assert_int_equal(th_run(s, "user.deactivate", "email", 's', "dave@example.org", NULL), AL_OK);
	char e[512];
	list_emails(s, e, sizeof e, NULL);
	assert_string_equal(e, "admin@example.com,alice@example.org,bob@example.com,carol@example.com,dave@example.org");
	list_emails(s, e, sizeof e, "status", 's', "inactive", NULL);
	assert_string_equal(e, "bob@example.com,dave@example.org");
	list_emails(s, e, sizeof e, "status", 's', "active", NULL);
	assert_string_equal(e, "admin@example.com,alice@example.org,carol@example.com");
	list_emails(s, e, sizeof e, "status", 's', "before-verification", NULL);
	assert_string_equal(e, "");
	list_emails(s, e, sizeof e, "email_contains", 's', "example.org", NULL);
	assert_string_equal(e, "alice@example.org,dave@example.org");
	list_emails(s, e, sizeof e, "username_contains", 's', "bob", NULL);
	assert_string_equal(e, "bob@example.com");
	list_emails(s, e, sizeof e, "username_contains", 's', "a", NULL);
	assert_string_equal(e, "admin@example.com,alice@example.org,carol@example.com,dave@example.org");
	list_emails(s, e, sizeof e, "username_contains", 's', "a", "status", 's', "active", NULL);
	assert_string_equal(e, "admin@example.com,alice@example.org,carol@example.com");
	list_emails(s, e, sizeof e, "email_contains", 's', "nobody", NULL);
	assert_string_equal(e, "");
	list_emails(s, e, sizeof e, "limit", 'i', 2LL, NULL);
	assert_string_equal(e, "admin@example.com,alice@example.org");
	list_emails(s, e, sizeof e, "limit", 'i', 2LL, "offset", 'i', 2LL, NULL);
	assert_string_equal(e, "bob@example.com,carol@example.com");
	list_emails(s, e, sizeof e, "limit", 'i', 2LL, "offset", 'i', 4LL, NULL);
	assert_string_equal(e, "dave@example.org");
	list_emails(s, e, sizeof e, "offset", 'i', 5LL, NULL);
	assert_string_equal(e, "");
	list_emails(s, e, sizeof e, "offset", 'i', 1LL, "limit", 'i', 1LL, "email_contains", 's', ".org", NULL);
	assert_string_equal(e, "dave@example.org");
	list_emails(s, e, sizeof e, "limit", 'i', 1LL, NULL);
	assert_string_equal(e, "admin@example.com");
	list_emails(s, e, sizeof e, "limit", 'i', 10000LL, NULL);
	assert_string_equal(e, "admin@example.com,alice@example.org,bob@example.com,carol@example.com,dave@example.org");
	REFUSE(s, AL_EINVALID_ARGUMENT, "limit", "user.list", "limit", 'i', 0LL, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "limit", "user.list", "limit", 'i', 10001LL, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "limit", "user.list", "limit", 'i', -1LL, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "offset", "user.list", "offset", 'i', -1LL, NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "status", "user.list", "status", 's', "deleted", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "bogus", "user.list", "bogus", 's', "x", NULL);
	al_error err;
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
}

static void list_default_limit(void **state)
{
	al_store *s = S(state);
	/* 120 users (plus the admin): the default limit is 100. Hashing at "min" cost keeps it quick. */
	size_t n = 120;
	al_request *reqs = calloc(n, sizeof *reqs);
	al_reply *reps = calloc(n, sizeof *reps);
	char **args = calloc(n, sizeof *args);
	for (size_t i = 0; i < n; i++) {
		char email[64], name[64];
		snprintf(email, sizeof email, "bulk%03zu@example.com", i);
		snprintf(name, sizeof name, "bulk%03zu", i);
		size_t len;
		args[i] = th_args(&len, "email", 's', email, "username", 's', name, "password", 's', PW, NULL);
		reqs[i] = (al_request){"user.create", args[i], len, &th_admin};
	}
	assert_int_equal(al_exec_batch(s, reqs, reps, n), AL_OK);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(reps[i].err.code, AL_OK);
		al_reply_free(&reps[i]);
		free(args[i]);
	}
	free(args);
	free(reqs);
	free(reps);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.list", NULL), AL_OK);
	assert_int_equal(th_res_len(&rep), 100);
	al_reply_free(&rep);
	assert_int_equal(th_exec(s, &rep, "user.list", "offset", 'i', 100LL, NULL), AL_OK);
	assert_int_equal(th_res_len(&rep), 21);
	al_reply_free(&rep);
}

/* ---- domains ----------------------------------------------------------------------------------------------------- */

static void domain_rules(void **state)
{
	al_store *s = S(state);
	static const char *const good[] = {"a", "Z9", "sales", "eu-west.1", "a_b", "A.b-C_d.9"};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		al_reply rep;
		assert_int_equal(th_exec(s, &rep, "domain.create", "name", 's', good[i], NULL), AL_OK);
		assert_string_equal(th_res_str(&rep, "name"), good[i]);
		al_reply_free(&rep);
	}
	const char *d64 = rep_str(0, 'd', 64, ""), *d65 = rep_str(1, 'd', 65, "");
	assert_int_equal(th_run(s, "domain.create", "name", 's', d64, "description", 's', "long name", NULL), AL_OK);
	REFUSE(s, AL_EINVALID_ARGUMENT, "name", "domain.create", "name", 's', d65, NULL);
	static const char *const bad[] = {"", "-a", "a-", ".a", "a.", "_a", "a_", "a b", "a/b", "a@b", "\xc3\xa9t\xc3\xa9",
					  "a\nb", "-", "."};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		REFUSE(s, AL_EINVALID_ARGUMENT, "name", "domain.create", "name", 's', bad[i], NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "name", "domain.create", NULL);
	REFUSE(s, AL_EALREADY_EXISTS, "name", "domain.create", "name", 's', "sales", NULL);
	REFUSE(s, AL_EALREADY_EXISTS, "name", "domain.create", "name", 's', "default", NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "description", "domain.create", "name", 's', "fresh", "description", 's',
	       rep_str(2, 'x', 513, ""), NULL);
	REFUSE(s, AL_EINVALID_ARGUMENT, "bogus", "domain.create", "name", 's', "fresh", "bogus", 'i', 1LL, NULL);

	/* domain.list: every domain, by name. */
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "domain.list", NULL), AL_OK);
	decoded d;
	decode(&rep, &d);
	assert_int_equal(d.o.type, MSGPACK_OBJECT_ARRAY);
	assert_int_equal(d.o.via.array.size, 1 + sizeof good / sizeof *good + 1);
	char prev[128] = "", name[128];
	int saw_default = 0;
	for (uint32_t i = 0; i < d.o.via.array.size; i++) {
		assert_non_null(map_str(&d.o.via.array.ptr[i], "name", name, sizeof name));
		assert_true(strcmp(prev, name) < 0);
		saw_default |= strcmp(name, "default") == 0;
		snprintf(prev, sizeof prev, "%s", name);
	}
	assert_true(saw_default);
	msgpack_zone_destroy(&d.z);
	al_reply_free(&rep);
	assert_int_equal(th_exec(s, &rep, "domain.get", "name", 's', "sales", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "name"), "sales");
	al_reply_free(&rep);
	REFUSE(s, AL_ENOT_FOUND, NULL, "domain.get", "name", 's', "nowhere", NULL);
}

/* ---- roles ---------------------------------------------------------------------------------------------------------- */

static int exec_as(al_store *s, const al_actor *who, al_reply *rep, const char *op, ...)
{
	size_t len;
	va_list ap;
	va_start(ap, op);
	char *args = th_vargs(&len, ap);
	va_end(ap);
	al_request req = {op, args, len, who};
	int rc = al_exec(s, &req, rep);
	free(args);
	return rc;
}

static void role_permissions(void **state)
{
	al_store *s = S(state);
	const al_actor user = {"bob@example.com", AL_ROLE_USER, "default", NULL, NULL};
	const al_actor admin = {"dom@example.com", AL_ROLE_ADMIN, "default", NULL, NULL};
	const al_actor monitor = {"mon@example.com", AL_ROLE_MONITOR, NULL, NULL, NULL};
	const al_actor nobody = {"anon", AL_ROLE_NONE, NULL, NULL, NULL};
	const al_actor unnamed = {NULL, AL_ROLE_SUPERADMIN, NULL, NULL, NULL};
	uint64_t head = al_log_head(s);
	al_reply rep;
	assert_int_equal(exec_as(s, &user, &rep, "user.create", "email", 's', "x@example.com", "username", 's', "x",
				 "password", 's', PW, NULL), AL_EPERMISSION_DENIED);
	assert_non_null(strstr(rep.err.msg, "user.create"));
	assert_null(rep.result);
	al_reply_free(&rep);
	assert_int_equal(exec_as(s, &admin, &rep, "user.create", "email", 's', "x@example.com", "username", 's', "x",
				 "password", 's', PW, NULL), AL_EPERMISSION_DENIED);
	al_reply_free(&rep);
	assert_int_equal(exec_as(s, &user, &rep, "user.update", "email", 's', "admin@example.com", "role", 's', "user",
				 NULL), AL_EPERMISSION_DENIED);
	al_reply_free(&rep);
	assert_int_equal(exec_as(s, &user, &rep, "user.deactivate", "email", 's', "admin@example.com", NULL),
			 AL_EPERMISSION_DENIED);
	al_reply_free(&rep);
	assert_int_equal(exec_as(s, &admin, &rep, "domain.create", "name", 's', "x", NULL), AL_EPERMISSION_DENIED);
	al_reply_free(&rep);
	assert_int_equal(exec_as(s, &user, &rep, "user.list", NULL), AL_EPERMISSION_DENIED);
	al_reply_free(&rep);
	assert_int_equal(exec_as(s, &monitor, &rep, "user.get", "email", 's', "admin@example.com", NULL),
			 AL_EPERMISSION_DENIED);
	al_reply_free(&rep);
	assert_int_equal(exec_as(s, &nobody, &rep, "user.get", "email", 's', "admin@example.com", NULL),
			 AL_EUNAUTHENTICATED);
	al_reply_free(&rep);
	assert_int_equal(exec_as(s, &unnamed, &rep, "user.create", "email", 's', "x@example.com", "username", 's', "x",
				 "password", 's', PW, NULL), AL_EUNAUTHENTICATED);
	al_reply_free(&rep);
	assert_int_equal(al_log_head(s), head);
	/* What each role may do. */
	/* A user reads only itself; a domain admin its own domain. */
	assert_int_equal(exec_as(s, &user, &rep, "user.get", "email", 's', "admin@example.com", NULL),
			 AL_EPERMISSION_DENIED);
	al_reply_free(&rep);
	assert_int_equal(exec_as(s, &admin, &rep, "user.get", "email", 's', "admin@example.com", NULL), AL_OK);
	al_reply_free(&rep);
	assert_int_equal(exec_as(s, &admin, &rep, "user.list", NULL), AL_OK);
	al_reply_free(&rep);
	assert_int_equal(exec_as(s, &admin, &rep, "domain.list", NULL), AL_OK);
	al_reply_free(&rep);
	/* The actor is recorded in the event. */
	const al_actor other = {"ops@example.com", AL_ROLE_SUPERADMIN, NULL, NULL, NULL};
	assert_int_equal(exec_as(s, &other, &rep, "domain.create", "name", 's', "by-ops", NULL), AL_OK);
	al_reply_free(&rep);
	al_log_filter f = {.actor = "ops@example.com"};
	hash_scan h = {.plain = "\x01"};
	al_error err;
	assert_int_equal(al_log_query(s, &f, scan_fields, &h, &err), AL_OK);
	assert_int_equal(h.events, 1);
}

/* ---- rebuild ------------------------------------------------------------------------------------------------------- */

/* Updates of a user that is not the newest row, folded in one transaction by a rebuild, must
 * give the same views as the live path (the row key once pointed into the moving LMDB page). */
static void rebuild_after_updates(void **state)
{
	al_store *s = S(state);
	assert_int_equal(create(s, "alice@example.com", "alice"), AL_OK);
	assert_int_equal(create(s, "bob@example.com", "bob"), AL_OK);
	assert_int_equal(create(s, "carol@example.com", "carol"), AL_OK);
	assert_int_equal(th_run(s, "user.update", "email", 's', "alice@example.com", "full_name", 's', "Alice Jones",
				"description", 's', "renamed", NULL), AL_OK);
	assert_int_equal(th_run(s, "user.update", "email", 's', "alice@example.com", "username", 's', "alicej", "role",
				's', "monitor", NULL), AL_OK);
	assert_int_equal(th_run(s, "user.deactivate", "email", 's', "bob@example.com", NULL), AL_OK);
	assert_int_equal(th_run(s, "user.update", "email", 's', "admin@example.com", "description", 's',
				"a much longer description than before", NULL), AL_OK);
	char live[33], rebuilt[33];
	th_digest(s, live);
	al_error err;
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', "alice@example.com", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "username"), "alicej");
	assert_string_equal(th_res_str(&rep, "full_name"), "Alice Jones");
	al_reply_free(&rep);
	/* The username index survived too. */
	REFUSE(s, AL_EALREADY_EXISTS, "username", "user.create", "email", 's', "x@example.com", "username", 's',
	       "alicej", "password", 's', PW, NULL);
	assert_int_equal(create(s, "x@example.com", "alice"), AL_OK);
}

/* ---- keypairs of users ---------------------------------------------------------------------------- */

/* 1 / 0 for a boolean member of the result map, -1 when absent or another type. */
static int res_bool(const al_reply *rep, const char *key)
{
	decoded d;
	decode(rep, &d);
	int out = -1;
	for (uint32_t i = 0; d.o.type == MSGPACK_OBJECT_MAP && i < d.o.via.map.size; i++)
		if (key_is(&d.o.via.map.ptr[i].key, key) && d.o.via.map.ptr[i].val.type == MSGPACK_OBJECT_BOOLEAN)
			out = d.o.via.map.ptr[i].val.via.boolean;
	msgpack_zone_destroy(&d.z);
	return out;
}

/* The keypair flags of ak: is_active * 2 + is_admin. */
static int kp_flags(al_store *s, const char *ak)
{
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "keypair.get", "access_key", 's', ak, NULL), AL_OK);
	int f = res_bool(&rep, "is_active") * 2 + res_bool(&rep, "is_admin");
	al_reply_free(&rep);
	return f;
}

/* user.create as the superadmin; copies the main access key. */
static void create_kp(al_store *s, const char *email, const char *role, const char *status, char ak[32])
{
	char name[64];
	snprintf(name, sizeof name, "%.*s", (int)strcspn(email, "@"), email);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.create", "email", 's', email, "username", 's', name, "password", 's', PW,
				 "role", 's', role, "status", 's', status, NULL), AL_OK);
	snprintf(ak, 32, "%s", th_res_str(&rep, "access_key"));
	al_reply_free(&rep);
}

static void extra_keypair(al_store *s, const char *email, char ak[32])
{
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "keypair.create", "user", 's', email, NULL), AL_OK);
	snprintf(ak, 32, "%s", th_res_str(&rep, "access_key"));
	al_reply_free(&rep);
}

typedef struct {
	int n;
	char types[8][32], ids[8][64];
} events_seen;

static int see_event(const al_event *e, void *ctx)
{
	events_seen *h = ctx;
	if (h->n < 8) {
		snprintf(h->types[h->n], 32, "%s", e->def->name);
		snprintf(h->ids[h->n], 64, "%.*s", (int)e->id.n, e->id.p);
	}
	h->n++;
	return 0;
}

/* The events of seqs first..last. */
static void events_between(al_store *s, uint64_t first, uint64_t last, events_seen *h)
{
	al_log_filter f = {.after_seq = first - 1, .limit = last - first + 1};
	al_error err;
	memset(h, 0, sizeof *h);
	assert_int_equal(al_log_query(s, &f, see_event, h, &err), AL_OK);
}

static void create_makes_main_keypair(void **state)
{
	al_store *s = S(state);
	uint64_t head = al_log_head(s);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.create", "email", 's', "kp@example.com", "username", 's', "kp", "password",
				 's', PW, NULL), AL_OK);
	assert_int_equal(rep.first_seq, head + 1);
	assert_int_equal(rep.last_seq, head + 2);
	char ak[32], sk[64];
	snprintf(ak, sizeof ak, "%s", th_res_str(&rep, "access_key"));
	snprintf(sk, sizeof sk, "%s", th_res_str(&rep, "secret_key"));
	assert_int_equal(strlen(ak), 20);
	assert_int_equal(strncmp(ak, "AKIA", 4), 0);
	assert_int_equal(strlen(sk), 40);
	assert_string_equal(th_res_str(&rep, "main_access_key"), ak);
	assert_string_equal(th_res_str(&rep, "resource_policy"), "default");
	assert_int_equal(res_bool(&rep, "totp_activated"), 0);
	decoded d;
	decode(&rep, &d);
	for (uint32_t i = 0; i < d.o.via.map.size; i++)
		if (key_is(&d.o.via.map.ptr[i].key, "projects") || key_is(&d.o.via.map.ptr[i].key, "allowed_client_ip"))
			assert_true(d.o.via.map.ptr[i].val.type == MSGPACK_OBJECT_ARRAY &&
				    d.o.via.map.ptr[i].val.via.array.size == 0);
	msgpack_zone_destroy(&d.z);
	al_reply_free(&rep);
	events_seen h;
	events_between(s, head + 1, head + 2, &h);
	assert_int_equal(h.n, 2);
	assert_string_equal(h.types[0], "user.created");
	assert_string_equal(h.types[1], "keypair.created");
	assert_string_equal(h.ids[1], ak);
	/* The keypair: main, active like the user, default policy, rate limit 10000, not admin. */
	assert_int_equal(th_exec(s, &rep, "keypair.get", "access_key", 's', ak, NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "user"), "kp@example.com");
	assert_string_equal(th_res_str(&rep, "resource_policy"), "default");
	assert_int_equal(th_res_int(&rep, "rate_limit"), 10000);
	assert_int_equal(res_bool(&rep, "is_main"), 1);
	assert_int_equal(res_bool(&rep, "is_active"), 1);
	assert_int_equal(res_bool(&rep, "is_admin"), 0);
	assert_null(memmem(rep.result, rep.result_len, sk, 40));
	al_reply_free(&rep);
	/* user.get never shows the secret again. */
	assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', "kp@example.com", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "main_access_key"), ak);
	assert_null(th_res_str(&rep, "secret_key"));
	assert_null(th_res_str(&rep, "access_key"));
	assert_null(memmem(rep.result, rep.result_len, sk, 40));
	al_reply_free(&rep);
	/* The admin flag follows the role, the active flag the status. */
	static const struct {
		const char *role, *status;
		int flags;
	} cases[] = {{"admin", "active", 3},        {"superadmin", "active", 3}, {"monitor", "active", 2},
		     {"user", "inactive", 0},        {"admin", "before-verification", 1}};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char email[64];
		snprintf(email, sizeof email, "case%zu@example.com", i);
		create_kp(s, email, cases[i].role, cases[i].status, ak);
		assert_int_equal(kp_flags(s, ak), cases[i].flags);
	}
	/* A refused user.create writes neither event. */
	REFUSE(s, AL_EALREADY_EXISTS, "email", "user.create", "email", 's', "kp@example.com", "username", 's', "kp2",
	       "password", 's', PW, NULL);
	al_error err;
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
}

static void deactivate_deactivates_keypairs(void **state)
{
	al_store *s = S(state);
	char main_ak[32], k2[32], k3[32], other[32];
	create_kp(s, "dk@example.com", "user", "active", main_ak);
	extra_keypair(s, "dk@example.com", k2);
	extra_keypair(s, "dk@example.com", k3);
	create_kp(s, "bystander@example.com", "user", "active", other);
	assert_int_equal(th_run(s, "keypair.deactivate", "access_key", 's', k3, NULL), AL_OK);
	/* Deactivation: the user, then each still active keypair as its own event. */
	uint64_t head = al_log_head(s);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.deactivate", "email", 's', "dk@example.com", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "inactive");
	assert_int_equal(rep.first_seq, head + 1);
	assert_int_equal(rep.last_seq, head + 3);
	al_reply_free(&rep);
	events_seen h;
	events_between(s, head + 1, head + 3, &h);
	assert_int_equal(h.n, 3);
	assert_string_equal(h.types[0], "user.deactivated");
	assert_string_equal(h.types[1], "keypair.deactivated");
	assert_string_equal(h.types[2], "keypair.deactivated");
	assert_true((!strcmp(h.ids[1], main_ak) && !strcmp(h.ids[2], k2)) ||
		    (!strcmp(h.ids[1], k2) && !strcmp(h.ids[2], main_ak)));
	assert_int_equal(kp_flags(s, main_ak), 0);
	assert_int_equal(kp_flags(s, k2), 0);
	assert_int_equal(kp_flags(s, k3), 0);
	assert_int_equal(kp_flags(s, other), 2); /* another user's keypair is untouched */
	/* Activation restores the status only: no keypair comes back (the guide's warning). */
	head = al_log_head(s);
	assert_int_equal(th_exec(s, &rep, "user.activate", "email", 's', "dk@example.com", NULL), AL_OK);
	assert_int_equal(rep.first_seq, head + 1);
	assert_int_equal(rep.last_seq, head + 1);
	al_reply_free(&rep);
	assert_int_equal(kp_flags(s, main_ak), 0);
	assert_int_equal(kp_flags(s, k2), 0);
	/* user.update --status inactive behaves like user.deactivate. */
	assert_int_equal(th_run(s, "keypair.activate", "access_key", 's', k2, NULL), AL_OK);
	head = al_log_head(s);
	assert_int_equal(th_exec(s, &rep, "user.update", "email", 's', "dk@example.com", "status", 's', "inactive", NULL),
			 AL_OK);
	assert_int_equal(rep.last_seq, head + 2);
	al_reply_free(&rep);
	events_between(s, head + 1, head + 2, &h);
	assert_string_equal(h.types[0], "user.updated");
	assert_string_equal(h.types[1], "keypair.deactivated");
	assert_string_equal(h.ids[1], k2);
	/* Other statuses touch no keypair. */
	assert_int_equal(th_run(s, "user.update", "email", 's', "dk@example.com", "status", 's', "active", NULL), AL_OK);
	assert_int_equal(th_run(s, "keypair.activate", "access_key", 's', k2, NULL), AL_OK);
	head = al_log_head(s);
	assert_int_equal(th_run(s, "user.update", "email", 's', "dk@example.com", "status", 's', "before-verification",
				NULL), AL_OK);
	assert_int_equal(al_log_head(s), head + 1);
	assert_int_equal(kp_flags(s, k2), 2);
	/* Deactivating an inactive user records nothing new once no keypair is active. */
	assert_int_equal(th_run(s, "user.deactivate", "email", 's', "dk@example.com", NULL), AL_OK);
	head = al_log_head(s);
	assert_int_equal(th_run(s, "user.deactivate", "email", 's', "dk@example.com", NULL), AL_OK);
	assert_int_equal(al_log_head(s), head);
	al_error err;
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
}

static void role_change_syncs_admin(void **state)
{
	al_store *s = S(state);
	char main_ak[32], k2[32];
	create_kp(s, "rc@example.com", "user", "active", main_ak);
	extra_keypair(s, "rc@example.com", k2);
	uint64_t head = al_log_head(s);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.update", "email", 's', "rc@example.com", "role", 's', "admin", NULL), AL_OK);
	assert_int_equal(rep.last_seq, head + 3); /* user.updated, then each keypair */
	al_reply_free(&rep);
	events_seen h;
	events_between(s, head + 1, head + 3, &h);
	assert_string_equal(h.types[0], "user.updated");
	assert_string_equal(h.types[1], "keypair.updated");
	assert_string_equal(h.types[2], "keypair.updated");
	assert_int_equal(kp_flags(s, main_ak), 3);
	assert_int_equal(kp_flags(s, k2), 3);
	/* admin -> superadmin: both admin roles, nothing to sync. */
	head = al_log_head(s);
	assert_int_equal(th_run(s, "user.update", "email", 's', "rc@example.com", "role", 's', "superadmin", NULL), AL_OK);
	assert_int_equal(al_log_head(s), head + 1);
	/* Only keypairs whose flag differs get an event: k2, made non-admin by hand, gets none here. */
	assert_int_equal(th_run(s, "keypair.update", "access_key", 's', k2, "admin", 'b', 0, NULL), AL_OK);
	head = al_log_head(s);
	assert_int_equal(th_run(s, "user.update", "email", 's', "rc@example.com", "role", 's', "monitor", NULL), AL_OK);
	assert_int_equal(al_log_head(s), head + 2);
	assert_int_equal(kp_flags(s, main_ak), 2);
	assert_int_equal(kp_flags(s, k2), 2);
	/* An unchanged role syncs nothing, even when a flag was changed by hand. */
	assert_int_equal(th_run(s, "keypair.update", "access_key", 's', k2, "admin", 'b', 1, NULL), AL_OK);
	head = al_log_head(s);
	assert_int_equal(th_run(s, "user.update", "email", 's', "rc@example.com", "role", 's', "monitor", NULL), AL_OK);
	assert_int_equal(al_log_head(s), head);
	assert_int_equal(kp_flags(s, k2), 3);
	/* Inactive keypairs follow the role too (their flag is kept for when they come back). */
	assert_int_equal(th_run(s, "user.deactivate", "email", 's', "rc@example.com", NULL), AL_OK);
	assert_int_equal(th_run(s, "user.update", "email", 's', "rc@example.com", "role", 's', "admin", NULL), AL_OK);
	assert_int_equal(kp_flags(s, main_ak), 1);
	assert_int_equal(kp_flags(s, k2), 1);
	al_error err;
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
}

static void inactive_tab(void **state)
{
	al_store *s = S(state);
	char ak[32];
	create_kp(s, "act@example.com", "user", "active", ak);
	create_kp(s, "bv@example.com", "user", "before-verification", ak);
	create_kp(s, "ina@example.com", "user", "inactive", ak);
	create_kp(s, "gone@example.com", "user", "active", ak);
	assert_int_equal(th_run(s, "user.deactivate", "email", 's', "gone@example.com", NULL), AL_OK);
	char e[512];
	list_emails(s, e, sizeof e, "status", 's', "inactive", NULL);
	assert_string_equal(e, "bv@example.com,gone@example.com,ina@example.com");
	list_emails(s, e, sizeof e, "status", 's', "active", NULL);
	assert_string_equal(e, "act@example.com,admin@example.com");
	list_emails(s, e, sizeof e, "status", 's', "before-verification", NULL);
	assert_string_equal(e, "bv@example.com");
	/* A domain admin's inactive tab shows its domain only. */
	assert_int_equal(th_run(s, "domain.create", "name", 's', "other", NULL), AL_OK);
	assert_int_equal(th_run(s, "user.create", "email", 's', "far@example.com", "username", 's', "far", "password", 's',
				PW, "domain", 's', "other", "status", 's', "inactive", NULL), AL_OK);
	assert_int_equal(th_run(s, "user.create", "email", 's', "boss@example.com", "username", 's', "boss", "password",
				's', PW, "domain", 's', "other", "role", 's', "admin", NULL), AL_OK);
	th_actor boss;
	assert_int_equal(th_as(s, "boss@example.com", &boss), AL_OK);
	al_reply rep;
	assert_int_equal(th_exec_as(s, &boss.a, &rep, "user.list", "status", 's', "inactive", NULL), AL_OK);
	assert_int_equal(th_res_len(&rep), 1);
	assert_non_null(memmem(rep.result, rep.result_len, "far@example.com", 15));
	al_reply_free(&rep);
}

static void allowed_client_ip_rules(void **state)
{
	al_store *s = S(state);
	static const char *const good =
		"10.0.0.1,10.0.0.0/8,0.0.0.0/0,192.168.1.7/32,::1,2001:db8::/32,::/0,fe80::1/128,::ffff:10.0.0.1";
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.create", "email", 's', "ip@example.com", "username", 's', "ip", "password",
				 's', PW, "allowed_client_ip", 'l', good, NULL), AL_OK);
	decoded d;
	decode(&rep, &d);
	const msgpack_object *ips = NULL;
	for (uint32_t i = 0; i < d.o.via.map.size; i++)
		if (key_is(&d.o.via.map.ptr[i].key, "allowed_client_ip"))
			ips = &d.o.via.map.ptr[i].val;
	assert_non_null(ips);
	assert_int_equal(ips->type, MSGPACK_OBJECT_ARRAY);
	assert_int_equal(ips->via.array.size, 9);
	assert_int_equal(ips->via.array.ptr[1].via.str.size, 10);
	assert_memory_equal(ips->via.array.ptr[1].via.str.ptr, "10.0.0.0/8", 10);
	msgpack_zone_destroy(&d.z);
	al_reply_free(&rep);
	static const char *const bad[] = {"10.0.0.0/33", "::/129",      "10.0.0.256", "10.0.0.1/",  "/8",
					  "10.0.0.1/-1", "10.0.0.1/8/8", "abc",        ",",          " 10.0.0.1",
					  "10.0.0.1/0x8", "10.0.0.1/0008", "1.2.3",     "::1::2",     "10.0.0.1,"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		REFUSE(s, AL_EINVALID_ARGUMENT, "allowed_client_ip", "user.create", "email", 's', "ip2@example.com",
		       "username", 's', "ip2", "password", 's', PW, "allowed_client_ip", 'l', bad[i], NULL);
		REFUSE(s, AL_EINVALID_ARGUMENT, "allowed_client_ip", "user.update", "email", 's', "ip@example.com",
		       "allowed_client_ip", 'l', bad[i], NULL);
	}
	REFUSE(s, AL_EINVALID_ARGUMENT, "allowed_client_ip", "user.create", "email", 's', "ip2@example.com", "username",
	       's', "ip2", "password", 's', PW, "allowed_client_ip", 's', "10.0.0.1", NULL); /* a list, not a string */
	/* Update: a new list; the same list records nothing; the empty list means any address. */
	uint64_t head = al_log_head(s);
	assert_int_equal(th_run(s, "user.update", "email", 's', "ip@example.com", "allowed_client_ip", 'l', "10.1.0.0/16",
				NULL), AL_OK);
	assert_int_equal(th_run(s, "user.update", "email", 's', "ip@example.com", "allowed_client_ip", 'l', "10.1.0.0/16",
				NULL), AL_OK);
	assert_int_equal(al_log_head(s), head + 1);
	MDB_txn *txn;
	al_error err;
	msgpack_zone z;
	msgpack_zone_init(&z, 1024);
	al_user_auth ua;
	assert_int_equal(al__read_begin(s, &txn, &err), AL_OK);
	assert_int_equal(al__user_auth_info(s, txn, (al_str){"ip@example.com", 14}, &ua, &z, &err), 1);
	assert_true(al_str_eq(ua.allowed_client_ip, "10.1.0.0/16"));
	assert_int_equal(ua.main_access_key.n, 20);
	assert_true(al_str_eq(ua.status, "active"));
	mdb_txn_abort(txn);
	assert_int_equal(th_run(s, "user.update", "email", 's', "ip@example.com", "allowed_client_ip", 'l', "", NULL),
			 AL_OK);
	assert_int_equal(al_log_head(s), head + 2);
	assert_int_equal(al__read_begin(s, &txn, &err), AL_OK);
	assert_int_equal(al__user_auth_info(s, txn, (al_str){"ip@example.com", 14}, &ua, &z, &err), 1);
	assert_int_equal(ua.allowed_client_ip.n, 0);
	assert_int_equal(al__user_auth_info(s, txn, (al_str){"no@example.com", 14}, &ua, &z, &err), 0);
	/* Every user follows the default user resource policy. */
	al_cmd c = {.s = s, .txn = txn, .err = &err, .zone = &z};
	uint64_t n = 0;
	assert_int_equal(al__users_count_policy(&c, (al_str){"default", 7}, &n), AL_OK);
	assert_int_equal(n, 2); /* admin and ip */
	assert_int_equal(al__users_count_policy(&c, (al_str){"gold", 4}, &n), AL_OK);
	assert_int_equal(n, 0);
	mdb_txn_abort(txn);
	msgpack_zone_destroy(&z);
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
}

static void self_update(void **state)
{
	al_store *s = S(state);
	char ak[32];
	create_kp(s, "me@example.com", "user", "active", ak);
	create_kp(s, "peer@example.com", "user", "active", ak);
	create_kp(s, "dadm@example.com", "admin", "active", ak);
	create_kp(s, "mon@example.com", "monitor", "active", ak);
	th_actor me, dadm, mon;
	assert_int_equal(th_as(s, "me@example.com", &me), AL_OK);
	assert_int_equal(th_as(s, "dadm@example.com", &dadm), AL_OK);
	assert_int_equal(th_as(s, "mon@example.com", &mon), AL_OK);
	/* A user changes its own name fields and password. */
	al_reply rep;
	assert_int_equal(th_exec_as(s, &me.a, &rep, "user.update", "email", 's', "me@example.com", "username", 's', "myself",
				    "full_name", 's', "Me Myself", "description", 's', "mine", "password", 's',
				    "N3w-secret", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "username"), "myself");
	assert_string_equal(th_res_str(&rep, "full_name"), "Me Myself");
	char pca[64];
	snprintf(pca, sizeof pca, "%s", th_res_str(&rep, "password_changed_at"));
	assert_string_equal(pca, th_res_str(&rep, "modified_at")); /* the password changed with it */
	al_reply_free(&rep);
	/* Never the fields only a superadmin sets: refused naming the field, nothing recorded. */
	static const char *const forbidden[] = {"role", "status", "domain", "resource_policy"};
	static const char *const values[] = {"superadmin", "active", "default", "default"};
	for (size_t i = 0; i < 4; i++) {
		REFUSE_AS(s, &me.a, AL_EPERMISSION_DENIED, forbidden[i], "user.update", "email", 's',
			  "me@example.com", forbidden[i], 's', values[i], NULL);
		/* ...also mixed with allowed ones. */
		REFUSE_AS(s, &me.a, AL_EPERMISSION_DENIED, forbidden[i], "user.update", "email", 's',
			  "me@example.com", "full_name", 's', "X", forbidden[i], 's', values[i], NULL);
	}
	REFUSE_AS(s, &me.a, AL_EPERMISSION_DENIED, "need_password_change", "user.update", "email", 's',
		  "me@example.com", "need_password_change", 'b', 0, NULL);
	REFUSE_AS(s, &me.a, AL_EPERMISSION_DENIED, "allowed_client_ip", "user.update", "email", 's',
		  "me@example.com", "allowed_client_ip", 'l', "", NULL);
	/* Never another user. */
	REFUSE_AS(s, &me.a, AL_EPERMISSION_DENIED, NULL, "user.update", "email", 's',
		  "peer@example.com", "full_name", 's', "Hacked", NULL);
	/* A domain admin: itself like a user, the users of its domain not at all. */
	assert_int_equal(th_run_as(s, &dadm.a, "user.update", "email", 's', "dadm@example.com", "full_name", 's', "Boss",
				   NULL), AL_OK);
	REFUSE_AS(s, &dadm.a, AL_EPERMISSION_DENIED, NULL, "user.update", "email", 's',
		  "peer@example.com", "full_name", 's', "X", NULL);
	REFUSE_AS(s, &dadm.a, AL_EPERMISSION_DENIED, "role", "user.update", "email", 's',
		  "dadm@example.com", "role", 's', "superadmin", NULL);
	REFUSE_AS(s, &dadm.a, AL_EPERMISSION_DENIED, NULL, "user.deactivate", "email", 's',
		  "peer@example.com", NULL);
	REFUSE_AS(s, &dadm.a, AL_EPERMISSION_DENIED, NULL, "user.activate", "email", 's',
		  "peer@example.com", NULL);
	REFUSE_AS(s, &me.a, AL_EPERMISSION_DENIED, NULL, "user.deactivate", "email", 's',
		  "me@example.com", NULL);
	/* A monitor writes nothing, not even itself. */
	REFUSE_AS(s, &mon.a, AL_EPERMISSION_DENIED, NULL, "user.update", "email", 's',
		  "mon@example.com", "full_name", 's', "X", NULL);
	/* The superadmin still changes everything. */
	assert_int_equal(th_run(s, "user.update", "email", 's', "me@example.com", "role", 's', "admin", "status", 's',
				"active", "need_password_change", 'b', 1, "resource_policy", 's', "default",
				"allowed_client_ip", 'l', "10.0.0.0/8", NULL), AL_OK);
	/* The user sees the superadmin's change on itself. */
	assert_int_equal(th_exec_as(s, &me.a, &rep, "user.get", "email", 's', "me@example.com", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "role"), "admin");
	al_reply_free(&rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(email_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(username_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(unique_email_and_username, setup, teardown),
		cmocka_unit_test_setup_teardown(password_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(role_and_status_values, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_domain, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_and_mistyped_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(update_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(passwords_stored_as_argon2id, setup, teardown),
		cmocka_unit_test_setup_teardown(no_hash_in_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(users_not_deletable, setup, teardown),
		cmocka_unit_test_setup_teardown(deactivate_activate, setup, teardown),
		cmocka_unit_test_setup_teardown(list_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(list_default_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(domain_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(role_permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(rebuild_after_updates, setup, teardown),
		cmocka_unit_test_setup_teardown(create_makes_main_keypair, setup, teardown),
		cmocka_unit_test_setup_teardown(deactivate_deactivates_keypairs, setup, teardown),
		cmocka_unit_test_setup_teardown(role_change_syncs_admin, setup, teardown),
		cmocka_unit_test_setup_teardown(inactive_tab, setup, teardown),
		cmocka_unit_test_setup_teardown(allowed_client_ip_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(self_update, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
