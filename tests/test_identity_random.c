/*
 * test_identity_random.c - rebuild and as-of equal live after a seeded random mix of the
 * identity commands (users, keypairs, the three policy kinds, domains, projects and their
 * members), valid and invalid, by different actors, in group-commit batches of random size.
 *
 * Live digests are taken at checkpoints; afterwards a rebuild must give the final digest and
 * al_store_asof at each checkpoint's seq must give that checkpoint's digest. The seed is
 * printed; ADMINLOG_SEED=<n> reruns one.
 */
#include <liboath/oath.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helpers.h"

#define COMMANDS 2400
#define CHECK_EVERY 200
#define NEMAIL 24
#define NPROJ 6
#define NPOL 3
#define MAXKEYS 256

typedef struct rng {
	uint64_t s;
} rng;

static uint64_t next(rng *r)
{
	r->s ^= r->s >> 12, r->s ^= r->s << 25, r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1DULL;
}
static unsigned below(rng *r, unsigned n) { return (unsigned)(next(r) % n); }
static bool chance(rng *r, unsigned pct) { return below(r, 100) < pct; }

static const char *const domains[] = {"default", "lab", "spare", "nodomain"};
static const char *const roles[] = {"user", "admin", "superadmin", "monitor", "boss"};
static const char *const statuses[] = {"active", "inactive", "before-verification", "gone"};

typedef struct world {
	char keys[MAXKEYS][32];
	int nkeys;
	char totp[NEMAIL][64]; /* base32 secret of the last 2fa enable, per user */
} world;

static unsigned email_index(const char *e) { return (unsigned)atoi(e + 1); }

/* The current code for a base32 secret, or "000000" when unknown. */
static void totp_code(const char *b32, char out[8])
{
	char *raw = NULL;
	size_t n = 0;
	snprintf(out, 8, "000000");
	if (b32[0] && oath_base32_decode(b32, strlen(b32), &raw, &n) == OATH_OK) {
		oath_totp_generate(raw, n, time(NULL), OATH_TOTP_DEFAULT_TIME_STEP_SIZE, OATH_TOTP_DEFAULT_START_TIME, 6, out);
		free(raw);
	}
}

static void email(rng *r, char *b, size_t n) { snprintf(b, n, "e%u@example.com", below(r, NEMAIL)); }
static void project(rng *r, char *b, size_t n) { snprintf(b, n, "pr%u", below(r, NPROJ)); }
static const char *domain(rng *r) { return domains[below(r, 4)]; }

/* One random request's op and packed arguments (malloc'd). */
static const char *gen(rng *r, world *w, char **args, size_t *len)
{
	char e[64], p[32], pol[32], ak[32];
	email(r, e, sizeof e);
	project(r, p, sizeof p);
	snprintf(ak, sizeof ak, "%s", w->nkeys ? w->keys[below(r, (unsigned)w->nkeys)] : "AKIANOSUCHKEY0000000");
	unsigned k = below(r, 27);
	switch (k) {
	case 0:
	case 1:
	case 2:
		*args = th_args(len, "email", 's', e, "username", 's', e + 1, "password", 's',
				chance(r, 90) ? "Passw0rd!" : "weak", "domain", 's', domain(r), "role", 's', roles[below(r, 5)],
				"status", 's', statuses[below(r, 4)], "projects", 'l', chance(r, 50) ? "" : p, NULL);
		return "user.create";
	case 3:
		*args = th_args(len, "email", 's', e, "role", 's', roles[below(r, 5)], NULL);
		return "user.update";
	case 4:
		*args = th_args(len, "email", 's', e, "domain", 's', domain(r), NULL);
		return "user.update";
	case 5:
		snprintf(pol, sizeof pol, "up%u", below(r, NPOL));
		*args = th_args(len, "email", 's', e, "status", 's', statuses[below(r, 4)], "resource_policy", 's',
				chance(r, 70) ? "default" : pol, "full_name", 's', chance(r, 50) ? "A, \"B\"" : "Zoë", NULL);
		return "user.update";
	case 6:
		*args = th_args(len, "email", 's', e, NULL);
		return chance(r, 50) ? "user.deactivate" : "user.activate";
	case 7:
	case 8:
		snprintf(pol, sizeof pol, "kp%u", below(r, NPOL));
		*args = th_args(len, "user", 's', e, "policy", 's', chance(r, 60) ? "default" : pol, "rate_limit", 'i',
				(long long)(chance(r, 90) ? 1 + below(r, 50000) : 60000), "admin", 'b', (int)chance(r, 30), NULL);
		return "keypair.create";
	case 9:
		*args = th_args(len, "access_key", 's', ak, NULL);
		return chance(r, 50) ? "keypair.deactivate" : "keypair.activate";
	case 10:
		*args = th_args(len, "access_key", 's', ak, NULL);
		return "keypair.delete";
	case 11:
		*args = th_args(len, "access_key", 's', ak, "session_id", 's', "s", NULL);
		return "keypair.record-use";
	case 12:
		snprintf(pol, sizeof pol, "kp%u", below(r, NPOL));
		*args = th_args(len, "access_key", 's', ak, "policy", 's', pol, "rate_limit", 'i', (long long)(1 + below(r, 9)),
				NULL);
		return "keypair.update";
	case 13: {
		static const char *const kinds[] = {"policy", "user-policy", "project-policy"};
		static const char *const prefix[] = {"kp", "up", "pp"};
		static char op[64];
		unsigned kind = below(r, 3), verb = below(r, 3);
		snprintf(pol, sizeof pol, "%s%u", prefix[kind], below(r, NPOL));
		snprintf(op, sizeof op, "%s.%s", kinds[kind], verb == 0 ? "create" : verb == 1 ? "update" : "delete");
		if (verb == 1 && kind == 0)
			*args = th_args(len, "name", 's', pol, "cpu", 'i', (long long)below(r, 600), "fgpu", 'd',
					below(r, 30) / 10.0, "allowed_hosts", 's', "local:v1:all", NULL);
		else if (verb == 1)
			*args = th_args(len, "name", 's', pol, "max_folder_count", 'i', (long long)below(r, 120), NULL);
		else
			*args = th_args(len, "name", 's', pol, NULL);
		return op;
	}
	case 14:
	case 15:
		snprintf(pol, sizeof pol, "pp%u", below(r, NPOL));
		*args = th_args(len, "name", 's', p, "domain", 's', domain(r), "policy", 's', chance(r, 70) ? "default" : pol,
				"total_resource_slots", 's', chance(r, 80) ? "cpu=4,mem=8g" : "cpu=", NULL);
		return "project.create";
	case 16:
		*args = th_args(len, "name", 's', p, "domain", 's', domain(r), "description", 's', "line\nbreak", NULL);
		return "project.update";
	case 17:
		*args = th_args(len, "name", 's', p, "domain", 's', domain(r), NULL);
		return chance(r, 50) ? "project.deactivate" : "project.activate";
	case 18:
	case 19: {
		char e2[64];
		email(r, e2, sizeof e2);
		char list[160];
		snprintf(list, sizeof list, "%s,%s", e, e2);
		*args = th_args(len, "name", 's', p, "domain", 's', domain(r), "users", 'l', list, NULL);
		return chance(r, 70) ? "project.add-member" : "project.remove-member";
	}
	case 20:
		*args = th_args(len, "name", 's', domains[1 + below(r, 2)], NULL);
		return chance(r, 50) ? "domain.deactivate" : "domain.activate";
	case 21:
		*args = th_args(len, "name", 's', domain(r), "total_resource_slots", 's', "cpu=64", "allowed_registries", 'l',
				"cr.example.com", NULL);
		return "domain.update";
	case 24: /* self-service: the caller runs these as user e (see self_op) */
		*args = th_args(len, NULL);
		return "user.2fa.enable";
	case 25: {
		char code[8];
		totp_code(chance(r, 80) ? w->totp[email_index(e)] : "", code);
		*args = th_args(len, "code", 's', code, NULL);
		return "user.2fa.confirm";
	}
	case 26:
		*args = th_args(len, "email", 's', e, NULL);
		return "user.2fa.disable";
	default:
		*args = th_args(len, "email", 's', e, NULL);
		return "user.get";
	}
}

static void remember_key(world *w, const al_reply *rep)
{
	char secret[64] = ""; /* th_res_str returns one static buffer: copy before the next call */
	if (th_res_str(rep, "secret"))
		snprintf(secret, sizeof secret, "%s", th_res_str(rep, "secret"));
	const char *who = th_res_str(rep, "email");
	if (secret[0] && who)
		snprintf(w->totp[email_index(who)], sizeof w->totp[0], "%s", secret);
	const char *ak = th_res_str(rep, "access_key");
	if (ak && w->nkeys < MAXKEYS)
		snprintf(w->keys[w->nkeys++], sizeof w->keys[0], "%s", ak);
}

static int count_event(const al_event *e, void *ctx)
{
	(void)e;
	++*(int *)ctx;
	return 0;
}

typedef struct checkpoint {
	uint64_t seq;
	char digest[33];
} checkpoint;

static void random_identity_mix(void **state)
{
	(void)state;
	uint64_t seed = 0x5eed1de7175ULL;
	if (getenv("ADMINLOG_SEED"))
		seed = strtoull(getenv("ADMINLOG_SEED"), NULL, 0);
	print_message("# seed 0x%llx, %d commands\n", (unsigned long long)seed, COMMANDS);
	rng r = {seed};
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	al_store_close(s);
	al_open_opts oo = {AL_OPEN_QUIET | AL_OPEN_NOSYNC, 0};
	al_error err;
	assert_int_equal(al_store_open(&s, dir, &oo, &err), AL_OK);
	assert_int_equal(th_run(s, "domain.create", "name", 's', "lab", NULL), AL_OK);
	assert_int_equal(th_run(s, "domain.create", "name", 's', "spare", NULL), AL_OK);

	world w = {.nkeys = 0};
	checkpoint cps[COMMANDS / CHECK_EVERY + 1];
	int ncp = 0, done = 0, ok = 0;
	static th_actor as[4];
	while (done < COMMANDS) {
		enum { MAXB = 20 };
		al_request reqs[MAXB];
		al_reply reps[MAXB];
		char *args[MAXB];
		size_t len[MAXB];
		int n = 1 + (int)below(&r, MAXB);
		if (n > COMMANDS - done)
			n = COMMANDS - done;
		for (int i = 0; i < n; i++) {
			rng before = r;
			const char *op = gen(&r, &w, &args[i], &len[i]);
			const al_actor *who = &th_admin;
			bool self = strcmp(op, "user.2fa.enable") == 0 || strcmp(op, "user.2fa.confirm") == 0;
			if (self || chance(&r, 15)) { /* with a user's rights: 2fa for itself, else mostly refused */
				char e[64];
				if (self) { /* the user the generator picked */
					email(&before, e, sizeof e);
				} else
					email(&r, e, sizeof e);
				th_actor *a = &as[i % 4];
				if (th_as(s, e, a) == AL_OK)
					who = &a->a;
			}
			reqs[i] = (al_request){op, args[i], len[i], who};
		}
		al_exec_batch(s, reqs, reps, (size_t)n);
		for (int i = 0; i < n; i++) {
			ok += reps[i].err.code == AL_OK;
			if (reps[i].err.code == AL_EINTERNAL || reps[i].err.code == AL_EIO_ERROR ||
			    reps[i].err.code == AL_ECORRUPT)
				fail_msg("%s: %s: %s", reqs[i].op, al_err_name(reps[i].err.code), reps[i].err.msg);
			if (reps[i].err.code == AL_OK)
				remember_key(&w, &reps[i]);
			al_reply_free(&reps[i]);
			free(args[i]);
		}
		if ((done + n) / CHECK_EVERY != done / CHECK_EVERY) {
			cps[ncp].seq = al_log_head(s);
			th_digest(s, cps[ncp].digest);
			ncp++;
		}
		done += n;
	}
	print_message("# %d of %d commands succeeded, %d keypairs, %llu events\n", ok, COMMANDS, w.nkeys,
		      (unsigned long long)al_log_head(s));
	assert_true(ok > COMMANDS / 5); /* the mix must really change things */
	static const char *const must[] = {"user.totp_enabled", "user.totp_disabled", "keypair.deleted",
					   "project.member_removed", "keypair_policy.deleted", "domain.deactivated"};
	for (size_t i = 0; i < sizeof must / sizeof *must; i++) {
		al_log_filter f = {.type = must[i]};
		int count = 0;
		assert_int_equal(al_log_query(s, &f, count_event, &count, &err), AL_OK);
		if (count == 0)
			fail_msg("the mix never recorded %s", must[i]);
	}
	if (al_store_verify(s, NULL, NULL, &err) != AL_OK)
		fail_msg("verify before rebuild: %s (kept %s)", err.msg, dir);
	char live[33], rebuilt[33];
	th_digest(s, live);
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	if (al_store_verify(s, NULL, NULL, &err) != AL_OK)
		fail_msg("verify: %s", err.msg);
	for (int i = 0; i < ncp; i++) {
		al_store *past;
		char d[33];
		assert_int_equal(al_store_asof(s, cps[i].seq, &past, &err), AL_OK);
		th_digest(past, d);
		if (strcmp(d, cps[i].digest) != 0)
			fail_msg("as-of seq %llu differs from the live state then", (unsigned long long)cps[i].seq);
		al_store_close(past);
	}
	al_store_close(s);
	th_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(random_identity_mix)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
