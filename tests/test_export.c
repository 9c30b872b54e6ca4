/*
 * test_export.c - the CSV exports against golden files (tests/golden/export_*.csv): RFC 4180
 * quoting of commas, quotes and line breaks, UTF-8 passed through, the columns of each
 * export, no secret anywhere, and the exporter's visibility being the list's.
 *
 * Random values (ids, generated access keys, the bootstrap's time) are replaced by
 * placeholders before comparing; every other byte must match. Set ADMINLOG_GOLDEN_WRITE=1 to
 * rewrite the golden files after a deliberate change, then review the diff.
 */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define FIXED_TIME 1893456000000000LL /* 2030-01-01T00:00:00Z: after the bootstrap, so it is used */

static int64_t fixed_clock(void *ctx)
{
	(void)ctx;
	return FIXED_TIME;
}

typedef struct subst {
	char from[128], to[64];
} subst;

typedef struct fixture {
	TH_FX_HEAD;
	subst subs[32];
	int nsubs;
} fixture;

static void add_subst(fixture *f, const char *from, const char *to)
{
	assert_true(f->nsubs < 32 && from && *from);
	snprintf(f->subs[f->nsubs].from, sizeof f->subs[0].from, "%s", from);
	snprintf(f->subs[f->nsubs].to, sizeof f->subs[0].to, "%s", to);
	f->nsubs++;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorts the data records (after the header) in place: exports keep their list's order, which
 * for keypairs is the random access key. Records may span lines inside quotes. */
static void sort_records(char *csv)
{
	char *recs[512];
	int n = 0;
	bool quoted = false;
	char *start = csv;
	for (char *p = csv; *p; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (!quoted && p[0] == '\r' && p[1] == '\n') {
			p[0] = 0;
			assert_true(n < 512);
			recs[n++] = start;
			start = p + 2;
			p++;
		}
	}
	qsort(recs + 1, (size_t)(n - 1), sizeof *recs, cmp_str);
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += strlen(recs[i]) + 2;
	char *out = malloc(total + 1), *o = out;
	for (int i = 0; i < n; i++)
		o += sprintf(o, "%s\r\n", recs[i]);
	memcpy(csv, out, total + 1);
	free(out);
}

/* Replaces every known random value in buf (in place; placeholders are never longer). */
static void normalize(const fixture *f, char *buf)
{
	for (int i = 0; i < f->nsubs; i++) {
		size_t fn = strlen(f->subs[i].from), tn = strlen(f->subs[i].to);
		assert_true(tn <= fn);
		for (char *p; (p = strstr(buf, f->subs[i].from));) {
			memcpy(p, f->subs[i].to, tn);
			memmove(p + tn, p + fn, strlen(p + fn) + 1);
		}
	}
}

static void user(fixture *f, const char *tag, ...)
{
	al_reply rep;
	va_list ap;
	va_start(ap, tag);
	size_t len;
	char *args = th_vargs(&len, ap);
	va_end(ap);
	al_request req = {"user.create", args, len, &th_admin};
	assert_int_equal(al_exec(f->s, &req, &rep), AL_OK);
	free(args);
	char id[64], ak[64];
	snprintf(id, sizeof id, "%s", th_res_str(&rep, "id"));
	snprintf(ak, sizeof ak, "%s", th_res_str(&rep, "access_key"));
	al_reply_free(&rep);
	char t[64];
	snprintf(t, sizeof t, "<id:%s>", tag);
	add_subst(f, id, t);
	snprintf(t, sizeof t, "<ak:%s>", tag);
	add_subst(f, ak, t);
}

static int setup(void **state)
{
	fixture *f = th_fx_new(sizeof *f);
	assert_non_null(f);
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "user.get", "email", 's', "admin@example.com", NULL), AL_OK);
	add_subst(f, th_res_str(&rep, "id"), "<id:admin>");
	add_subst(f, th_res_str(&rep, "main_access_key"), "<ak:admin>");
	add_subst(f, th_res_str(&rep, "created_at"), "<boot-time>");
	al_reply_free(&rep);
	al_store_set_clock(f->s, fixed_clock, NULL);

	assert_int_equal(th_run(f->s, "domain.create", "name", 's', "lab", NULL), AL_OK);
	assert_int_equal(th_run(f->s, "project.create", "name", 's', "vision", "domain", 's', "default", NULL), AL_OK);
	user(f, "zoe", "email", 's', "zoe@example.com", "username", 's', "Zoë", "password", 's', "Passw0rd!", "full_name",
	     's', "Zoë Ångström, PhD", "description", 's', "Says \"hi\",\nthen leaves", "role", 's', "admin", "status",
	     's', "before-verification", "projects", 'l', "default,vision", NULL);
	user(f, "bob", "email", 's', "bob@example.com", "username", 's', "bob", "password", 's', "Passw0rd!", "full_name",
	     's', "O'Brien \"Bob\"", "description", 's', "line one\r\nline two", "need_password_change", 'b', 1, NULL);
	user(f, "lab", "email", 's', "kim@lab.example.com", "username", 's', "김", "password", 's', "Passw0rd!",
	     "domain", 's', "lab", "full_name", 's', "김민준", NULL);
	assert_int_equal(th_run(f->s, "user.deactivate", "email", 's', "bob@example.com", NULL), AL_OK);
	/* An advanced-mode keypair has fixed keys; it was used once by a session (an old log's record). */
	assert_int_equal(th_run(f->s, "policy.create", "name", 's', "gold", "cpu", 'i', 4LL, "ram_gb", 'i', 16LL, "fgpu",
				'd', 0.5, "allowed_hosts", 's', "local:volume1:mount-in-session,local:volume1:upload-file",
				NULL),
			 AL_OK);
	assert_int_equal(th_run(f->s, "keypair.create", "user", 's', "zoe@example.com", "access_key", 's',
				"AKIAZZZZZZZZZZZZZZZZ", "secret_key", 's', "abcdefghijklmnopqrstuvwxyz0123456789-_AB",
				"policy", 's', "gold", "rate_limit", 'i', 500LL, "admin", 'b', 1, NULL),
			 AL_OK);
	/* keypair.record-use is gone; an old log's keypair.used still sets last_used. */
	assert_int_equal(th_append_event(f->s, "keypair.used", "AKIAZZZZZZZZZZZZZZZZ", "session_id", 's', "sess-1", NULL),
			 AL_OK);
	assert_int_equal(th_run(f->s, "user-policy.create", "name", 's', "big", "max_folder_count", 'i', 10LL,
				"max_quota_size", 's', "100g", NULL),
			 AL_OK);
	assert_int_equal(th_run(f->s, "project-policy.create", "name", 's', "small", "max_folder_count", 'i', 2LL, NULL),
			 AL_OK);
	*state = f;
	return 0;
}

#define teardown th_teardown /* th_fx_free */

/* Runs the export as actor into a malloc'd NUL-terminated buffer. */
static int export(fixture *f, const al_actor *actor, const char *what, char **out, ...)
{
	va_list ap;
	va_start(ap, out);
	size_t len;
	char *args = th_vargs(&len, ap);
	va_end(ap);
	size_t n = 0;
	*out = NULL;
	FILE *m = open_memstream(out, &n);
	al_request req = {NULL, args, len, actor};
	al_error err;
	int rc = al_export_csv(f->s, what, &req, m, &err);
	fclose(m);
	free(args);
	return rc;
}

static char *read_all(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	rewind(fp);
	char *b = malloc((size_t)n + 1);
	b[fread(b, 1, (size_t)n, fp)] = 0;
	fclose(fp);
	return b;
}

static void check_golden(fixture *f, const char *what, const char *name)
{
	char *csv;
	assert_int_equal(export(f, &th_admin, what, &csv, NULL), AL_OK);
	normalize(f, csv);
	sort_records(csv);
	char path[256];
	snprintf(path, sizeof path, "%s/tests/golden/%s", getenv("SRCDIR") ? getenv("SRCDIR") : ".", name);
	const char *w = getenv("ADMINLOG_GOLDEN_WRITE");
	if (w && *w == '1') {
		FILE *fp = fopen(path, "wb");
		assert_non_null(fp);
		fputs(csv, fp);
		fclose(fp);
	}
	char *want = read_all(path);
	if (want == NULL)
		fail_msg("missing golden file %s (run with ADMINLOG_GOLDEN_WRITE=1 once)", path);
	if (strcmp(csv, want) != 0)
		fail_msg("export %s differs from %s:\n--- got ---\n%s\n--- want ---\n%s", what, path, csv, want);
	/* No secret, hash or TOTP key, in any export. */
	assert_null(strstr(csv, "abcdefghijklmnopqrstuvwxyz0123456789"));
	assert_null(strstr(csv, "argon2"));
	assert_null(strstr(csv, "sealed:"));
	free(want);
	free(csv);
}

static void users_golden(void **state) { check_golden(*state, "users", "export_users.csv"); }
static void keypairs_golden(void **state) { check_golden(*state, "keypairs", "export_keypairs.csv"); }
static void policies_golden(void **state) { check_golden(*state, "policies", "export_policies.csv"); }
static void user_policies_golden(void **state) { check_golden(*state, "user-policies", "export_user_policies.csv"); }
static void project_policies_golden(void **state)
{
	check_golden(*state, "project-policies", "export_project_policies.csv");
}

/* Records: CRLFs outside quoted fields. */
static int lines(const char *csv)
{
	int n = 0;
	bool quoted = false;
	for (const char *p = csv; *p; p++) {
		if (*p == '"')
			quoted = !quoted; /* a doubled quote toggles twice */
		else if (!quoted && p[0] == '\r' && p[1] == '\n')
			n++;
	}
	return n;
}

/* The exporter sees what its list shows it, and the list's filters apply. */
static void visibility_and_filters(void **state)
{
	fixture *f = *state;
	char *csv;
	assert_int_equal(export(f, &th_admin, "users", &csv, "status", 's', "inactive", NULL), AL_OK);
	assert_int_equal(lines(csv), 3); /* header, bob (inactive), zoe (before-verification) */
	assert_non_null(strstr(csv, "bob@example.com"));
	assert_non_null(strstr(csv, "zoe@example.com"));
	free(csv);
	/* Zoë is a domain admin of default but before verification: act as a domain admin of lab. */
	assert_int_equal(th_run(f->s, "user.create", "email", 's', "boss@lab.example.com", "username", 's', "boss",
				"password", 's', "Passw0rd!", "domain", 's', "lab", "role", 's', "admin", NULL),
			 AL_OK);
	th_actor boss;
	assert_int_equal(th_as(f->s, "boss@lab.example.com", &boss), AL_OK);
	assert_int_equal(export(f, &boss.a, "users", &csv, NULL), AL_OK);
	assert_int_equal(lines(csv), 3); /* header, boss, kim */
	assert_null(strstr(csv, "example.com,admin,"));
	free(csv);
	assert_int_equal(export(f, &boss.a, "keypairs", &csv, NULL), AL_OK);
	assert_int_equal(lines(csv), 3);
	assert_null(strstr(csv, "AKIAZZZZZZZZZZZZZZZZ"));
	free(csv);
	/* A plain user may not list users, so it may not export them either. */
	th_actor kim;
	assert_int_equal(th_as(f->s, "kim@lab.example.com", &kim), AL_OK);
	assert_int_equal(export(f, &kim.a, "users", &csv, NULL), AL_EPERMISSION_DENIED);
	free(csv);
	assert_int_equal(export(f, &th_admin, "no-such-list", &csv, NULL), AL_EINVALID_ARGUMENT);
	free(csv);
	assert_int_equal(export(f, &th_admin, "users", &csv, "status", 's', "bogus", NULL), AL_EINVALID_ARGUMENT);
	free(csv);
}

/* More users than a list's default page (100) are all exported. */
static void export_is_not_paged(void **state)
{
	fixture *f = *state;
	al_request reqs[150];
	al_reply reps[150];
	char *args[150];
	for (int i = 0; i < 150; i++) {
		char email[64], name[32];
		snprintf(email, sizeof email, "many%03d@example.com", i);
		snprintf(name, sizeof name, "many%03d", i);
		size_t len;
		args[i] = th_args(&len, "email", 's', email, "username", 's', name, "password", 's', "Passw0rd!", NULL);
		reqs[i] = (al_request){"user.create", args[i], len, &th_admin};
	}
	assert_int_equal(al_exec_batch(f->s, reqs, reps, 150), AL_OK);
	for (int i = 0; i < 150; i++) {
		assert_int_equal(reps[i].err.code, AL_OK);
		al_reply_free(&reps[i]);
		free(args[i]);
	}
	char *csv;
	assert_int_equal(export(f, &th_admin, "users", &csv, "email_contains", 's', "many", NULL), AL_OK);
	assert_int_equal(lines(csv), 151);
	free(csv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(users_golden, setup, teardown),
		cmocka_unit_test_setup_teardown(keypairs_golden, setup, teardown),
		cmocka_unit_test_setup_teardown(policies_golden, setup, teardown),
		cmocka_unit_test_setup_teardown(user_policies_golden, setup, teardown),
		cmocka_unit_test_setup_teardown(project_policies_golden, setup, teardown),
		cmocka_unit_test_setup_teardown(visibility_and_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(export_is_not_paged, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
