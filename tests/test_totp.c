/* test_totp.c - two-factor authentication: enrol, confirm, disable, who may do what, the
 * ±1-step window against a controlled clock, and the TOTP key never showing anywhere. */
#define _GNU_SOURCE /* memmem, open_memstream */
#include <liboath/oath.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/codec.h"
#include "helpers.h"
#include "nouns/nouns.h"

#define PW "Passw0rd!"
#define STEP_US (30 * 1000000LL)
/* A step midpoint after any real "now", so the clock can be moved freely forward. */
#define T0_US ((((1900000000LL / 30) + 1) * 30 + 15) * 1000000LL)

typedef struct fx {
	TH_FX_HEAD;
	int64_t now_us;
	th_actor alice, bob, dadmin, oadmin, carol, root;
} fx;

static int64_t test_clock(void *ctx) { return *(int64_t *)ctx; }

static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	if (f == NULL || oath_init() != OATH_OK)
		return -1;
	f->now_us = T0_US;
	al_store_set_clock(f->s, test_clock, &f->now_us);
	if (th_run(f->s, "domain.create", "name", 's', "other", NULL) ||
	    th_cast(f->s, (const th_member[]){{"alice@example.com", "default", "user", &f->alice, NULL},
					      {"bob@example.com", "default", "user", &f->bob, NULL},
					      {"dadmin@example.com", "default", "admin", &f->dadmin, NULL},
					      {"oadmin@other.org", "other", "admin", &f->oadmin, NULL},
					      {"carol@other.org", "other", "user", &f->carol, NULL},
					      {NULL}}) ||
	    th_as(f->s, "admin@example.com", &f->root))
		return -1;
	*state = f;
	return 0;
}

#define teardown th_teardown /* th_fx_free */

/* ---- helpers ------------------------------------------------------------------------------- */

/* Runs op as who and checks the refusal: code, message starting with "field:" (or containing
 * field when it does not end in ':'), no result, nothing appended. */
/* The message contains field (2fa messages name it after a prefix). */
#define REFUSE(s, who, code, field, ...) th_refuse_at(__FILE__, __LINE__, s, who, code, NULL, field, __VA_ARGS__)

/* The 6-digit code of base32 secret b32 at time t_us. */
static void code_at(const char *b32, int64_t t_us, char out[7])
{
	char *key = NULL;
	size_t n = 0;
	assert_int_equal(oath_base32_decode(b32, strlen(b32), &key, &n), OATH_OK);
	assert_int_equal(n, 20);
	assert_int_equal(oath_totp_generate(key, n, (time_t)(t_us / 1000000), 30, 0, 6, out), OATH_OK);
	free(key);
}

/* True when the codes at -2 and +2 steps differ from those at -1, 0, +1 (almost always: with
 * random keys two 6-digit codes coincide about once in a million), so a refusal test of the
 * outer steps cannot pass or fail by luck. */
static int window_distinct(const char *b32, int64_t t_us)
{
	char c[5][7];
	for (int k = -2; k <= 2; k++)
		code_at(b32, t_us + k * STEP_US, c[k + 2]);
	for (int o = 0; o <= 4; o += 4)
		for (int i = 1; i <= 3; i++)
			if (strcmp(c[o], c[i]) == 0)
				return 0;
	return 1;
}

/* user.2fa.enable as who: checks the result and copies the base32 secret into b32 (33 bytes). */
static void enable(fx *f, const al_actor *who, char b32[33])
{
	al_reply rep;
	assert_int_equal(th_exec_as(f->s, who, &rep, "user.2fa.enable", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "pending");
	assert_string_equal(th_res_str(&rep, "email"), who->user);
	const char *sec = th_res_str(&rep, "secret");
	assert_non_null(sec);
	assert_int_equal(strlen(sec), 32); /* 20 bytes in base32, no padding */
	assert_int_equal(strspn(sec, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 32);
	strcpy(b32, sec);
	char want[256];
	snprintf(want, sizeof want, "otpauth://totp/adminlog:%s?secret=%s&issuer=adminlog", who->user, b32);
	assert_string_equal(th_res_str(&rep, "uri"), want);
	al_reply_free(&rep);
}

/* Enrols who with a key whose ±2-step codes are distinct at the clock's time. */
static void enable_distinct(fx *f, const al_actor *who, char b32[33])
{
	for (;;) {
		enable(f, who, b32);
		if (window_distinct(b32, f->now_us))
			return;
	}
}

static int confirm(fx *f, const al_actor *who, const char *code)
{
	return th_run_as(f->s, who, "user.2fa.confirm", "code", 's', code, NULL);
}

static void enable_and_confirm(fx *f, const al_actor *who, char b32[33])
{
	char code[7];
	enable(f, who, b32);
	code_at(b32, f->now_us, code);
	assert_int_equal(confirm(f, who, code), AL_OK);
}

static const char *status_of(fx *f, const char *email)
{
	static char st[32];
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "user.2fa.status", "email", 's', email, NULL), AL_OK);
	snprintf(st, sizeof st, "%s", th_res_str(&rep, "status"));
	assert_null(memmem(rep.result, rep.result_len, "sealed", 6));
	al_reply_free(&rep);
	return st;
}

/* user.get's totp_activated flag (1/0), -1 when absent. */
static int get_flag(fx *f, const char *email)
{
	al_reply rep;
	msgpack_zone z;
	msgpack_object o;
	bool on;
	assert_int_equal(th_exec(f->s, &rep, "user.get", "email", 's', email, NULL), AL_OK);
	msgpack_zone_init(&z, 1024);
	assert_int_equal(al_mp_decode(rep.result, rep.result_len, &z, &o), 0);
	int v = al_mp_bool(&o, "totp_activated", &on) == 1 ? on : -1;
	msgpack_zone_destroy(&z);
	al_reply_free(&rep);
	return v;
}

static bool enabled(fx *f, const char *email)
{
	MDB_txn *txn;
	al_error err;
	assert_int_equal(al__read_begin(f->s, &txn, &err), AL_OK);
	bool on = false;
	assert_int_equal(al__totp_state(f->s, txn, (al_str){email, strlen(email)}, &on, &err), AL_OK);
	mdb_txn_abort(txn);
	return on;
}

/* al__totp_check of email's active key at t_us. */
static int check(fx *f, const char *email, const char *code, int64_t t_us, al_error *err)
{
	MDB_txn *txn;
	assert_int_equal(al__read_begin(f->s, &txn, err), AL_OK);
	int rc = al__totp_check(f->s, txn, (al_str){email, strlen(email)}, (al_str){code, strlen(code)}, t_us, NULL, err);
	mdb_txn_abort(txn);
	return rc;
}

/* True when code happens to equal a code of the window around t_us (then a refusal test of
 * it would fail by luck, about once in a million). */
static bool in_window_by_luck(const char *b32, const char *code, int64_t t_us)
{
	char c[7];
	for (int k = -1; k <= 1; k++) {
		code_at(b32, t_us + k * STEP_US, c);
		if (strcmp(c, code) == 0)
			return true;
	}
	return false;
}

/* Counts user.totp_pending (ctx[0]) and user.totp_enabled (ctx[1]) events. */
static int count_totp(const al_event *e, void *ctx)
{
	int *seen = ctx;
	seen[0] += strcmp(e->def->name, "user.totp_pending") == 0;
	seen[1] += strcmp(e->def->name, "user.totp_enabled") == 0;
	return 0;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void enable_confirm_flow(void **state)
{
	fx *f = *state;
	char b32[33], code[7];
	assert_string_equal(status_of(f, "alice@example.com"), "disabled");
	uint64_t head = al_log_head(f->s);
	enable(f, &f->alice.a, b32);
	assert_int_equal(al_log_head(f->s), head + 1);
	assert_string_equal(status_of(f, "alice@example.com"), "pending");
	assert_false(enabled(f, "alice@example.com")); /* pending keys do not count for login */
	assert_int_equal(get_flag(f, "alice@example.com"), 0);
	code_at(b32, f->now_us, code);
	al_error err;
	assert_int_equal(check(f, "alice@example.com", code, f->now_us, &err), AL_EUNAUTHENTICATED);

	al_reply rep;
	assert_int_equal(th_exec_as(f->s, &f->alice.a, &rep, "user.2fa.confirm", "code", 's', code, NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "enabled");
	assert_null(memmem(rep.result, rep.result_len, b32, 32));
	al_reply_free(&rep);
	assert_int_equal(al_log_head(f->s), head + 2);
	assert_string_equal(status_of(f, "alice@example.com"), "enabled");
	assert_true(enabled(f, "alice@example.com"));
	assert_int_equal(get_flag(f, "alice@example.com"), 1); /* user.get shows the flag */
	assert_int_equal(check(f, "alice@example.com", code, f->now_us, &err), AL_OK);

	/* Active: a second enrolment or confirmation is refused; the key stays. */
	REFUSE(f->s, &f->alice.a, AL_EALREADY_EXISTS, "already enabled", "user.2fa.enable", NULL);
	REFUSE(f->s, &f->alice.a, AL_EALREADY_EXISTS, "already enabled", "user.2fa.confirm", "code", 's', code, NULL);
	assert_int_equal(check(f, "alice@example.com", code, f->now_us, &err), AL_OK);

	/* The events are in the user's history. */
	al_log_filter lf = {.entity = "user:alice@example.com"};
	int seen[2] = {0, 0};
	assert_int_equal(al_log_query(f->s, &lf, count_totp, seen, &err), AL_OK);
	assert_int_equal(seen[0], 1);
	assert_int_equal(seen[1], 1);
}

static void confirm_refusals(void **state)
{
	fx *f = *state;
	char b32[33], code[7];
	/* Nothing pending yet. */
	REFUSE(f->s, &f->bob.a, AL_ENOT_FOUND, "no pending", "user.2fa.confirm", "code", 's', "123456", NULL);
	enable(f, &f->bob.a, b32);
	static const char *const bad[] = {"", "12345", "1234567", "12345a", " 12345", "１２３４５６"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		REFUSE(f->s, &f->bob.a, AL_EINVALID_ARGUMENT, "code:", "user.2fa.confirm", "code", 's', bad[i], NULL);
	REFUSE(f->s, &f->bob.a, AL_EINVALID_ARGUMENT, "code:", "user.2fa.confirm", NULL);
	/* A wrong code (the right one plus one, mod 10^6) records nothing and leaves it pending. */
	code_at(b32, f->now_us, code);
	char wrong[16];
	snprintf(wrong, sizeof wrong, "%06ld", (strtol(code, NULL, 10) + 1) % 1000000);
	REFUSE(f->s, &f->bob.a, AL_EINVALID_ARGUMENT, "code:", "user.2fa.confirm", "code", 's', wrong, NULL);
	assert_string_equal(status_of(f, "bob@example.com"), "pending");
	/* The local operator has no account of its own. */
	REFUSE(f->s, &th_admin, AL_EPERMISSION_DENIED, "--as", "user.2fa.confirm", "code", 's', code, NULL);
	/* Another user cannot confirm bob's key (it has none pending of its own). */
	REFUSE(f->s, &f->carol.a, AL_ENOT_FOUND, "no pending", "user.2fa.confirm", "code", 's', code, NULL);
	assert_int_equal(confirm(f, &f->bob.a, code), AL_OK);
}

static void pending_replaced(void **state)
{
	fx *f = *state;
	char old[33], fresh[33], c_old[7], c_new[7];
	enable(f, &f->alice.a, old);
	enable(f, &f->alice.a, fresh);
	assert_string_not_equal(old, fresh);
	code_at(old, f->now_us, c_old);
	code_at(fresh, f->now_us, c_new);
	if (strcmp(c_old, c_new) != 0) /* the old key's code no longer confirms */
		REFUSE(f->s, &f->alice.a, AL_EINVALID_ARGUMENT, "code:", "user.2fa.confirm", "code", 's', c_old, NULL);
	assert_int_equal(confirm(f, &f->alice.a, c_new), AL_OK);
	al_error err;
	assert_int_equal(check(f, "alice@example.com", c_new, f->now_us, &err), AL_OK);
}

/* Confirmation uses the command's time (the store clock): codes of steps -1, 0, +1 are
 * accepted, -2 and +2 refused. */
static void confirm_window(void **state)
{
	fx *f = *state;
	char b32[33], code[7];
	for (int k = -1; k <= 1; k++) {
		f->now_us += 7 * STEP_US;
		enable_distinct(f, &f->alice.a, b32);
		for (int far = -2; far <= 2; far += 4) {
			code_at(b32, f->now_us + far * STEP_US, code);
			REFUSE(f->s, &f->alice.a, AL_EINVALID_ARGUMENT, "code:", "user.2fa.confirm", "code", 's', code, NULL);
		}
		code_at(b32, f->now_us + k * STEP_US, code);
		assert_int_equal(confirm(f, &f->alice.a, code), AL_OK);
		assert_int_equal(th_run_as(f->s, &f->alice.a, "user.2fa.disable", "email", 's', "alice@example.com", NULL),
				 AL_OK);
	}
	/* Across a step boundary the window follows the clock: a code of now becomes "-1" one
	 * step later and "-2" two steps later. */
	f->now_us += 7 * STEP_US;
	enable_distinct(f, &f->alice.a, b32);
	code_at(b32, f->now_us, code);
	f->now_us += 2 * STEP_US;
	if (!in_window_by_luck(b32, code, f->now_us))
		REFUSE(f->s, &f->alice.a, AL_EINVALID_ARGUMENT, "code:", "user.2fa.confirm", "code", 's', code, NULL);
	/* Back one step (command times never go below the log head's, which is still the enrolment
	 * as the refusal recorded nothing): the code is now one step old and accepted. */
	f->now_us -= STEP_US;
	assert_int_equal(confirm(f, &f->alice.a, code), AL_OK);
}

/* al__totp_check (what login uses) with codes at -2..+2 steps. */
static void check_window(void **state)
{
	fx *f = *state;
	char b32[33], code[7];
	for (;;) {
		enable_and_confirm(f, &f->alice.a, b32);
		if (window_distinct(b32, f->now_us))
			break;
		assert_int_equal(th_run_as(f->s, &f->alice.a, "user.2fa.disable", "email", 's', "alice@example.com", NULL),
				 AL_OK);
	}
	al_error err;
	for (int k = -2; k <= 2; k++) {
		code_at(b32, f->now_us + k * STEP_US, code);
		int want = k >= -1 && k <= 1 ? AL_OK : AL_EUNAUTHENTICATED;
		assert_int_equal(check(f, "alice@example.com", code, f->now_us, &err), want);
		if (want)
			assert_non_null(strstr(err.msg, "otp:"));
	}
	/* Any time in the step counts as that step: the code of the step start stays valid to
	 * the end of the next one. */
	int64_t start = f->now_us - 15 * 1000000LL;
	code_at(b32, start, code);
	assert_int_equal(check(f, "alice@example.com", code, start + 2 * STEP_US - 1, &err), AL_OK);
	if (!in_window_by_luck(b32, code, start + 2 * STEP_US))
		assert_int_equal(check(f, "alice@example.com", code, start + 2 * STEP_US, &err), AL_EUNAUTHENTICATED);
	/* Malformed codes, and users without an active key. */
	static const char *const bad[] = {"", "12345", "1234567", "abcdef", "12 456"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(check(f, "alice@example.com", bad[i], f->now_us, &err), AL_EUNAUTHENTICATED);
	code_at(b32, f->now_us, code);
	assert_int_equal(check(f, "bob@example.com", code, f->now_us, &err), AL_EUNAUTHENTICATED);
	assert_int_equal(check(f, "nobody@example.com", code, f->now_us, &err), AL_EUNAUTHENTICATED);
	assert_false(enabled(f, "nobody@example.com"));
}

static int count_event(const al_event *e, void *ctx)
{
	(void)e;
	++*(size_t *)ctx;
	return 0;
}

static void disable_rules(void **state)
{
	fx *f = *state;
	char b32[33];
	enable_and_confirm(f, &f->alice.a, b32);
	enable_and_confirm(f, &f->carol.a, b32);
	enable_and_confirm(f, &f->root.a, b32);
	/* Another user, an admin of another domain, a domain admin over a superadmin: refused. */
	REFUSE(f->s, &f->bob.a, AL_EPERMISSION_DENIED, "user.2fa.disable", "user.2fa.disable", "email", 's',
	       "alice@example.com", NULL);
	REFUSE(f->s, &f->oadmin.a, AL_EPERMISSION_DENIED, "user.2fa.disable", "user.2fa.disable", "email", 's',
	       "alice@example.com", NULL);
	REFUSE(f->s, &f->dadmin.a, AL_EPERMISSION_DENIED, "user.2fa.disable", "user.2fa.disable", "email", 's',
	       "admin@example.com", NULL);
	REFUSE(f->s, &f->carol.a, AL_EPERMISSION_DENIED, "user.2fa.disable", "user.2fa.disable", "email", 's',
	       "alice@example.com", NULL);
	REFUSE(f->s, &th_admin, AL_ENOT_FOUND, "nobody@example.com", "user.2fa.disable", "email", 's',
	       "nobody@example.com", NULL);
	REFUSE(f->s, &th_admin, AL_EINVALID_ARGUMENT, "email:", "user.2fa.disable", NULL);
	assert_true(enabled(f, "alice@example.com"));

	/* The domain admin of alice's domain, the other domain's admin for carol, the local
	 * superadmin for the superadmin: allowed; each records one event. */
	uint64_t head = al_log_head(f->s);
	assert_int_equal(th_run_as(f->s, &f->dadmin.a, "user.2fa.disable", "email", 's', "alice@example.com", NULL),
			 AL_OK);
	assert_int_equal(al_log_head(f->s), head + 1);
	assert_false(enabled(f, "alice@example.com"));
	assert_int_equal(get_flag(f, "alice@example.com"), 0);
	assert_string_equal(status_of(f, "alice@example.com"), "disabled");
	assert_int_equal(th_run_as(f->s, &f->oadmin.a, "user.2fa.disable", "email", 's', "carol@other.org", NULL), AL_OK);
	assert_false(enabled(f, "carol@other.org"));
	assert_int_equal(th_run(f->s, "user.2fa.disable", "email", 's', "admin@example.com", NULL), AL_OK);
	assert_false(enabled(f, "admin@example.com"));
	/* Disabling what is off records nothing. */
	head = al_log_head(f->s);
	assert_int_equal(th_run(f->s, "user.2fa.disable", "email", 's', "alice@example.com", NULL), AL_OK);
	assert_int_equal(al_log_head(f->s), head);

	/* A user turns off its own, also a pending one. */
	enable_and_confirm(f, &f->bob.a, b32);
	assert_int_equal(th_run_as(f->s, &f->bob.a, "user.2fa.disable", "email", 's', "bob@example.com", NULL), AL_OK);
	assert_false(enabled(f, "bob@example.com"));
	enable(f, &f->bob.a, b32);
	assert_int_equal(th_run_as(f->s, &f->bob.a, "user.2fa.disable", "email", 's', "bob@example.com", NULL), AL_OK);
	assert_string_equal(status_of(f, "bob@example.com"), "disabled");
	char code[7];
	code_at(b32, f->now_us, code);
	REFUSE(f->s, &f->bob.a, AL_ENOT_FOUND, "no pending", "user.2fa.confirm", "code", 's', code, NULL);

	/* A user's version counts its 2FA events too: the reply's version is the number of
	 * events of user:<email> in the entity index. */
	const char *emails[] = {"alice@example.com", "bob@example.com", "carol@other.org", "admin@example.com"};
	for (size_t i = 0; i < sizeof emails / sizeof *emails; i++) {
		al_reply rep;
		assert_int_equal(th_exec(f->s, &rep, "user.get", "email", 's', emails[i], NULL), AL_OK);
		char ent[128];
		snprintf(ent, sizeof ent, "user:%s", emails[i]);
		size_t n = 0;
		al_error err = {0};
		assert_int_equal(al_log_query(f->s, &(al_log_filter){.entity = ent}, count_event, &n, &err), AL_OK);
		assert_true(n >= 3);
		assert_int_equal(th_res_int(&rep, "version"), (long long)n);
		al_reply_free(&rep);
	}
}

/* Enabling is only ever self-service. */
static void nobody_enables_for_another(void **state)
{
	fx *f = *state;
	REFUSE(f->s, &th_admin, AL_EPERMISSION_DENIED, "--as", "user.2fa.enable", NULL);
	REFUSE(f->s, &th_admin, AL_EINVALID_ARGUMENT, "email", "user.2fa.enable", "email", 's', "alice@example.com", NULL);
	REFUSE(f->s, &f->root.a, AL_EINVALID_ARGUMENT, "email", "user.2fa.enable", "email", 's', "alice@example.com",
	       NULL);
	REFUSE(f->s, &f->dadmin.a, AL_EINVALID_ARGUMENT, "email", "user.2fa.enable", "email", 's', "alice@example.com",
	       NULL);
	/* A monitor never writes, not even for itself. */
	assert_int_equal(th_user(f->s, "mon@example.com", "default", "monitor"), AL_OK);
	th_actor mon;
	assert_int_equal(th_as(f->s, "mon@example.com", &mon), AL_OK);
	REFUSE(f->s, &mon.a, AL_EPERMISSION_DENIED, "user.2fa.enable", "user.2fa.enable", NULL);
	/* An actor naming a user that does not exist (a stale session): its rights are re-read
	 * for every command, so the session is over. */
	al_actor ghost = {"ghost@example.com", AL_ROLE_USER, "default", NULL, NULL, "ghost@example.com", NULL};
	REFUSE(f->s, &ghost, AL_EUNAUTHENTICATED, "ghost@example.com", "user.2fa.enable", NULL);
	assert_string_equal(status_of(f, "alice@example.com"), "disabled");
	/* The status read follows the read rules: a user sees only itself. */
	REFUSE(f->s, &f->bob.a, AL_EPERMISSION_DENIED, "user.2fa.status", "user.2fa.status", "email", 's',
	       "alice@example.com", NULL);
	REFUSE(f->s, &f->oadmin.a, AL_EPERMISSION_DENIED, "user.2fa.status", "user.2fa.status", "email", 's',
	       "alice@example.com", NULL);
	assert_int_equal(th_run_as(f->s, &f->dadmin.a, "user.2fa.status", "email", 's', "alice@example.com", NULL), AL_OK);
	assert_int_equal(th_run_as(f->s, &f->alice.a, "user.2fa.status", "email", 's', "alice@example.com", NULL), AL_OK);
}

/* ---- the secret never shows again -------------------------------------------------------------- */

typedef struct json_ctx {
	FILE *out;
} json_ctx;

static int write_json(const al_event *e, void *ctx)
{
	al_event_write_json(e, ((json_ctx *)ctx)->out);
	al_event_write_text(e, ((json_ctx *)ctx)->out);
	return 0;
}

static void assert_absent(const char *buf, size_t n, const char *b32, const char *raw)
{
	assert_null(memmem(buf, n, b32, 32));
	assert_null(memmem(buf, n, raw, 20));
}

static void secret_never_shown(void **state)
{
	fx *f = *state;
	char b32[33], code[7];
	/* With a request id: the retry answers the same secret, kept sealed in the table. */
	al_reply rep, again;
	assert_int_equal(th_exec_as(f->s, &f->alice.a, &rep, "user.2fa.enable", "request_id", 's', "enrol-1", NULL), AL_OK);
	strcpy(b32, th_res_str(&rep, "secret"));
	assert_int_equal(th_exec_as(f->s, &f->alice.a, &again, "user.2fa.enable", "request_id", 's', "enrol-1", NULL),
			 AL_OK);
	assert_int_equal(again.replayed, 1);
	assert_int_equal(again.result_len, rep.result_len);
	assert_memory_equal(again.result, rep.result, rep.result_len);
	al_reply_free(&rep);
	al_reply_free(&again);
	code_at(b32, f->now_us, code);
	assert_int_equal(confirm(f, &f->alice.a, code), AL_OK);
	char *raw = NULL;
	size_t rawn;
	assert_int_equal(oath_base32_decode(b32, 32, &raw, &rawn), OATH_OK);

	/* Not in the LMDB file (log, views, request ids). */
	char path[4200];
	size_t n;
	snprintf(path, sizeof path, "%s/data.mdb", f->dir);
	char *bytes = th_read_file(path, &n);
	assert_absent(bytes, n, b32, raw);
	assert_non_null(memmem(bytes, n, "sealed:1:", 9)); /* it is there, sealed */
	free(bytes);

	/* Not in the audit output, which has no sealed key either. */
	char *audit = NULL;
	size_t an = 0;
	json_ctx jc = {open_memstream(&audit, &an)};
	al_error err;
	assert_int_equal(al_log_query(f->s, &(al_log_filter){0}, write_json, &jc, &err), AL_OK);
	fclose(jc.out);
	assert_non_null(strstr(audit, "user.totp_pending"));
	assert_non_null(strstr(audit, "user.totp_enabled"));
	assert_null(strstr(audit, "sealed:1:"));
	assert_null(strstr(audit, "key_sealed"));
	assert_absent(audit, an, b32, raw);
	free(audit);

	/* Not in user.get, user.list, user.2fa.status, nor in any refusal. */
	static const char *const ops[] = {"user.get", "user.2fa.status"};
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(th_exec_as(f->s, &f->alice.a, &rep, ops[i], "email", 's', "alice@example.com", NULL), AL_OK);
		assert_absent(rep.result, rep.result_len, b32, raw);
		assert_null(memmem(rep.result, rep.result_len, "sealed", 6));
		al_reply_free(&rep);
	}
	assert_int_equal(th_exec(f->s, &rep, "user.list", NULL), AL_OK);
	assert_absent(rep.result, rep.result_len, b32, raw);
	al_reply_free(&rep);
	assert_int_equal(th_exec_as(f->s, &f->alice.a, &rep, "user.2fa.enable", NULL), AL_EALREADY_EXISTS);
	assert_null(strstr(rep.err.msg, b32));
	al_reply_free(&rep);
	sodium_memzero(raw, rawn);
	free(raw);
}

/* The views fold from the log alone: rebuild and as-of give the same digest. */
static void rebuild_equal(void **state)
{
	fx *f = *state;
	char b32[33], code[7], before[33], after[33];
	enable_and_confirm(f, &f->alice.a, b32);
	enable(f, &f->bob.a, b32);
	enable(f, &f->bob.a, b32);
	enable_and_confirm(f, &f->carol.a, b32);
	assert_int_equal(th_run_as(f->s, &f->oadmin.a, "user.2fa.disable", "email", 's', "carol@other.org", NULL), AL_OK);
	enable(f, &f->carol.a, b32);
	uint64_t mid = al_log_head(f->s);
	char mid_digest[33];
	th_digest(f->s, mid_digest);
	code_at(b32, f->now_us, code);
	assert_int_equal(confirm(f, &f->carol.a, code), AL_OK);

	th_digest(f->s, before);
	al_error err;
	assert_int_equal(al_store_rebuild(f->s, NULL, NULL, &err), AL_OK);
	th_digest(f->s, after);
	assert_string_equal(before, after);
	assert_int_equal(al_store_verify(f->s, NULL, NULL, &err), AL_OK);
	assert_true(enabled(f, "alice@example.com"));
	assert_true(enabled(f, "carol@other.org"));
	assert_false(enabled(f, "bob@example.com"));
	assert_string_equal(status_of(f, "bob@example.com"), "pending");

	al_store *past;
	assert_int_equal(al_store_asof(f->s, mid, &past, &err), AL_OK);
	th_digest(past, after);
	assert_string_equal(mid_digest, after);
	al_store_close(past);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(enable_confirm_flow, setup, teardown),
		cmocka_unit_test_setup_teardown(confirm_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(pending_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(confirm_window, setup, teardown),
		cmocka_unit_test_setup_teardown(check_window, setup, teardown),
		cmocka_unit_test_setup_teardown(disable_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(nobody_enables_for_another, setup, teardown),
		cmocka_unit_test_setup_teardown(secret_never_shown, setup, teardown),
		cmocka_unit_test_setup_teardown(rebuild_equal, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
