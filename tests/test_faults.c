/*
 * test_faults.c - fault injection (include/al_fault.h), SQLite's do_faultsim_test in C.
 *
 * A representative set of operations runs again and again with its Nth allocation, then its
 * Nth LMDB call, failing, for N = 1, 2, ... until it completes without meeting the fault; once
 * with only that point failing (transient), once with every point from N on (persistent).
 * Every run that fails must fail cleanly: no_memory (allocations) or io_error (LMDB) with a
 * message, the reply fully set (replies start as 0xA5 garbage), nothing of the operation left
 * behind (log head and views digest unchanged, no scratch directory) and al_store_verify
 * passing. An operation that succeeds although its fault fired has swallowed an error.
 * Leaks on those error paths fail the sanitizer build at exit (LeakSanitizer).
 *
 * Compute sessions (create, a scheduling pass, report, terminate, list) run against an image of
 * the stub registry of registry_test.h, scanned once, and an agent (both outside any fault).
 *
 * The whole process runs on a replacement allocator (al_replace_allocator) that tags each
 * block: memory of the library freed with libc's free, or libc's memory given to al_free,
 * aborts, and every block is back when the store is closed.
 */
#include "registry_test.h" /* first: it sets _GNU_SOURCE */

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "al_fault.h"
#include "helpers.h"

#define FIXED_TIME 1893456000000000LL /* 2030-01-01: after the bootstrap, so every run is alike */
#define MAX_POINTS 100000             /* a runaway loop, not a long command */

/* ---- a tagging allocator ---------------------------------------------------------------------- */

#define TAG 0x616c6c6f63746167ULL /* "alloctag" */
#define HDR 16
static long live_blocks;

static void *t_malloc(size_t n)
{
	unsigned char *p = malloc(n + HDR);
	if (p == NULL)
		return NULL;
	uint64_t tag = TAG;
	memcpy(p, &tag, sizeof tag);
	live_blocks++;
	return p + HDR;
}

static unsigned char *t_block(void *q)
{
	unsigned char *p = (unsigned char *)q - HDR;
	uint64_t tag;
	memcpy(&tag, p, sizeof tag);
	if (tag != TAG) {
		fprintf(stderr, "# al_free/al_realloc of memory the library did not allocate\n");
		abort();
	}
	return p;
}

static void t_free(void *q)
{
	if (q == NULL)
		return;
	unsigned char *p = t_block(q);
	memset(p, 0, sizeof(uint64_t));
	live_blocks--;
	free(p);
}

static void *t_realloc(void *q, size_t n)
{
	if (q == NULL)
		return t_malloc(n);
	unsigned char *p = realloc(t_block(q), n + HDR);
	return p ? p + HDR : NULL;
}

static void *t_calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	void *p = t_malloc(n * size);
	return p ? memset(p, 0, n * size) : NULL;
}

/* ---- the store under test ------------------------------------------------------------------------ */

typedef struct fx {
	char *dir;        /* the store */
	char snap[4200];  /* a copy: where each kind of fault starts a write from */
	char ref[4200];   /* reference runs of the batch */
	char tmp[4200];   /* TMPDIR of as-of stores: empty whenever nothing runs */
	al_store *s;
	al_store *past;   /* what a successful as-of step made, checked once no fault is set */
} fx;

static int64_t fixed_clock(void *ctx)
{
	(void)ctx;
	return FIXED_TIME;
}

static al_store *open_store(const char *dir)
{
	al_store *s = NULL;
	al_error err = {0};
	al_open_opts o = {AL_OPEN_QUIET | AL_OPEN_NOSYNC, 0};
	if (al_store_open(&s, dir, &o, &err) != AL_OK)
		fail_msg("open %s: %s", dir, err.msg);
	al_store_set_clock(s, fixed_clock, NULL);
	return s;
}

static void copy_file(const char *from, const char *to)
{
	size_t n;
	char *data = th_read_file(from, &n);
	assert_non_null(data);
	FILE *f = fopen(to, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	free(data);
}

/* A closed store's files into dir (created when missing). */
static void copy_store(const char *from, const char *to)
{
	static const char *const files[] = {"data.mdb", "master.key"};
	char a[4300], b[4300];
	if (mkdir(to, 0700) != 0)
		assert_int_equal(errno, EEXIST);
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(a, sizeof a, "%s/%s", from, files[i]);
		snprintf(b, sizeof b, "%s/%s", to, files[i]);
		copy_file(a, b);
	}
	snprintf(b, sizeof b, "%s/lock.mdb", to);
	unlink(b);
}

static void snapshot(fx *f)
{
	al_store_close(f->s);
	copy_store(f->dir, f->snap);
	f->s = open_store(f->dir);
}

static void restore(fx *f)
{
	al_store_close(f->s);
	copy_store(f->snap, f->dir);
	f->s = open_store(f->dir);
}

typedef struct state {
	uint64_t head;
	uint8_t digest[16];
} state;

static void state_of(al_store *s, state *st)
{
	al_error err = {0};
	st->head = al_log_head(s);
	if (al_store_digest(s, st->digest, &err) != AL_OK)
		fail_msg("digest: %s", err.msg);
}

static void assert_same_state(const char *what, const state *a, const state *b)
{
	if (a->head != b->head)
		fail_msg("%s: log head %llu, expected %llu", what, (unsigned long long)b->head,
			 (unsigned long long)a->head);
	if (memcmp(a->digest, b->digest, 16) != 0)
		fail_msg("%s: the views changed", what);
}

static void assert_verifies(fx *f, const char *what)
{
	al_error err = {0};
	if (al_store_verify(f->s, NULL, NULL, &err) != AL_OK)
		fail_msg("%s: verify: %s: %s", what, al_err_name(err.code), err.msg);
	assert_int_equal(rmdir(f->tmp), 0); /* no scratch directory left behind */
	assert_int_equal(mkdir(f->tmp, 0700), 0);
}

/* ---- what a clean failure looks like -------------------------------------------------------------- */

static void poison(void *p, size_t n) { memset(p, 0xA5, n); }

static void check_error(const char *what, const al_error *e, int want)
{
	if (e->code != want)
		fail_msg("%s: error %s (%d), expected %s: %.200s", what, al_err_name(e->code), e->code,
			 al_err_name(want), memchr(e->msg, 0, sizeof e->msg) ? e->msg : "(unterminated)");
	assert_non_null(memchr(e->msg, 0, sizeof e->msg));
	assert_true(e->msg[0] != 0);
}

/* A reply is either a success or a clean failure with want, every member set. */
static void check_reply(const char *what, const al_reply *r, int want)
{
	if (r->err.code == AL_OK) {
		assert_true(r->replayed == 0 || r->replayed == 1);
		assert_true(r->first_seq <= r->last_seq);
		assert_true((r->result == NULL) == (r->result_len == 0));
		return;
	}
	check_error(what, &r->err, want);
	assert_null(r->result);
	assert_int_equal(r->result_len, 0);
	assert_int_equal(r->first_seq, 0);
	assert_int_equal(r->last_seq, 0);
	assert_int_equal(r->replayed, 0);
}

/* ---- the driver ------------------------------------------------------------------------------------- */

static const char *const kind_names[] = {"allocation", "LMDB call"};
static const char *const mode_names[] = {"transient", "persistent"};

/* The nth point of kind fails: only it (mode 0) or it and every later one (mode 1). */
static void fault_set(int kind, int mode, long n) { al_fault_set(kind, mode ? -n : n); }

/* An as-of store a step made, checked with no fault set (the check reads too): the state it
 * holds must be the present one (the steps ask for the head), whatever the fault did. */
static void check_past(fx *f, const char *name)
{
	if (f->past == NULL)
		return;
	state then, now;
	state_of(f->past, &then);
	state_of(f->s, &now);
	assert_same_state(name, &now, &then);
	al_store_close(f->past);
	f->past = NULL;
}

/* Runs the operation once; checks its reply with check_reply/check_error; returns its code. */
typedef int (*step_fn)(fx *f, int want);

/*
 * The loop of do_faultsim_test: fault N of each kind until the step completes without meeting
 * it. writes: the step changes the store when it succeeds, so each kind starts from a copy.
 */
static void faultsim(fx *f, const char *name, step_fn step, bool writes)
{
	if (writes)
		snapshot(f);
	for (int round = 0; round < 2 * AL_FAULT__COUNT; round++) {
		int kind = round % AL_FAULT__COUNT, mode = round / AL_FAULT__COUNT;
		int want = kind == AL_FAULT_ALLOC ? AL_ENO_MEMORY : AL_EIO_ERROR;
		time_t t0 = time(NULL);
		long n;
		if (round > 0 && writes)
			restore(f);
		for (n = 1; n < MAX_POINTS; n++) {
			state before, after;
			state_of(f->s, &before);
			fault_set(kind, mode, n);
			int rc = step(f, want);
			long seen = al_fault_count(kind);
			al_fault_set(kind, 0);
			check_past(f, name);
			if (rc == AL_OK && seen < n)
				break; /* completed without meeting the fault */
			if (rc == AL_OK)
				fail_msg("%s: succeeded although %s %ld of %ld failed (%s)", name, kind_names[kind], n, seen,
					 mode_names[mode]);
			if (rc != want)
				fail_msg("%s: %s %ld failed (%s): got %s, expected %s", name, kind_names[kind], n,
					 mode_names[mode], al_err_name(rc), al_err_name(want));
			state_of(f->s, &after);
			assert_same_state(name, &before, &after);
			assert_verifies(f, name);
		}
		assert_true(n < MAX_POINTS);
		assert_verifies(f, name);
		print_message("# %s: %ld %ss (%s), %ld s\n", name, n - 1, kind_names[kind], mode_names[mode],
			      (long)(time(NULL) - t0));
	}
}

static int exec(fx *f, int want, const char *what, const char *op, ...)
{
	size_t len;
	va_list ap;
	va_start(ap, op);
	char *args = th_vargs(&len, ap);
	va_end(ap);
	al_request req = {op, args, len, &th_admin};
	al_reply rep;
	poison(&rep, sizeof rep);
	int rc = al_exec(f->s, &req, &rep);
	free(args);
	assert_int_equal(rc, rep.err.code);
	check_reply(what, &rep, want);
	if (rc == AL_OK)
		assert_int_equal(rep.replayed, 0); /* a failed try left no request id behind */
	al_reply_free(&rep);
	return rc;
}

/* ---- the operations ----------------------------------------------------------------------------------- */

static int user_create(fx *f, int want)
{
	return exec(f, want, "user.create", "user.create", "email", 's', "alice@example.com", "username", 's', "alice",
		    "password", 's', "Passw0rd!alice", "full_name", 's', "Alice", NULL);
}

/* The server's way: the prepare step first (on a worker), its output then given to al_exec. */
static int user_create_prepared(fx *f, int want)
{
	size_t len;
	char *args = th_args(&len, "email", 's', "bob@example.com", "username", 's', "bob", "password", 's',
			     "Passw0rd!bob", NULL);
	al_request req = {"user.create", args, len, &th_admin};
	char *prep;
	size_t prep_len;
	al_error err;
	poison(&err, sizeof err);
	poison(&prep, sizeof prep);
	int rc = al_prepare(f->s, &req, &prep, &prep_len, &err);
	if (rc) {
		check_error("al_prepare user.create", &err, want);
		assert_null(prep);
		assert_int_equal(prep_len, 0);
	} else {
		al_reply rep;
		req.prep = prep;
		req.prep_len = prep_len;
		poison(&rep, sizeof rep);
		rc = al_exec(f->s, &req, &rep);
		check_reply("user.create prepared", &rep, want);
		al_reply_free(&rep);
		al_prepared_free(prep, prep_len);
	}
	free(args);
	return rc;
}

static int login(fx *f, int want)
{
	al_login_req req = {"alice@example.com", "Passw0rd!alice", NULL, "127.0.0.1"};
	al_login_result out;
	al_error err;
	poison(&out, sizeof out);
	poison(&err, sizeof err);
	int rc = al_login(f->s, &req, &out, &err);
	if (rc == AL_OK) {
		assert_string_equal(out.email, "alice@example.com");
		assert_int_equal(strlen(out.secret_key), 40);
		return rc;
	}
	check_error("login", &err, want);
	for (size_t i = 0; i < sizeof out; i++) /* zeroed: no half of a secret left behind */
		assert_int_equal(((unsigned char *)&out)[i], 0);
	return rc;
}

static int user_update(fx *f, int want)
{
	return exec(f, want, "user.update", "user.update", "email", 's', "alice@example.com", "full_name", 's',
		    "Alice A.", "role", 's', "admin", "request_id", 's', "update-1", "reason", 's', "on call", NULL);
}

static int keypair_create(fx *f, int want)
{
	return exec(f, want, "keypair.create", "keypair.create", "user", 's', "alice@example.com", NULL);
}

static int policy_create(fx *f, int want)
{
	return exec(f, want, "policy.create", "policy.create", "name", 's', "research", "cpu", 'i', 8LL, "ram_gb", 'i',
		    64LL, "gpu", 's', "unlimited", "allowed_hosts", 's', "local:volume1:all", NULL);
}

static int domain_create(fx *f, int want)
{
	return exec(f, want, "domain.create", "domain.create", "name", 's', "lab", "description", 's', "the lab",
		    NULL);
}

static int add_member(fx *f, int want)
{
	return exec(f, want, "project.add-member", "project.add-member", "name", 's', "default", "domain", 's',
		    "default", "users", 'l', "alice@example.com", NULL);
}

/* ---- compute sessions: alice's, by her main access key, on the stub registry's image ---------------- */

static char sess_ak[32], sess_img[200], sess_id[40];

static int session_create(fx *f, int want)
{
	return exec(f, want, "session.create", "session.create", "name", 's', "fault-1", "image", 's', sess_img, "group",
		    's', "default", "project", 's', "default", "access_key", 's', sess_ak, "resources", 's', "cpu=0.5,mem=4g",
		    NULL);
}

/* The pass places it on agent ag1 (a session is SCHEDULED only by a pass). */
static int scheduler_run(fx *f, int want)
{
	return exec(f, want, "scheduler.run", "scheduler.run", "group", 's', "default", NULL);
}

static int session_report(fx *f, int want)
{
	return exec(f, want, "session.report", "session.report", "id", 's', sess_id, "status", 's', "PREPARING",
		    "exit_code", 'i', 0LL, NULL);
}

static int session_terminate(fx *f, int want)
{
	return exec(f, want, "session.terminate", "session.terminate", "id", 's', sess_id, "forced", 'b', 1, NULL);
}

static int session_list(fx *f, int want)
{
	return exec(f, want, "session.list", "session.list", "status", 'l', "PENDING,SCHEDULED,TERMINATED", NULL);
}

/* The timeouts run ten hours after the fixed clock (the step sets it: a restore reopens the
 * store with the fixed one): the PREPARING session fault-2 is past its hang tolerance then. */
static int64_t later_clock(void *ctx)
{
	(void)ctx;
	return FIXED_TIME + 36000LL * 1000000;
}

static char touch_id[40];

static int session_touch(fx *f, int want)
{
	return exec(f, want, "session.touch", "session.touch", "id", 's', touch_id, NULL);
}

static int session_expire(fx *f, int want)
{
	al_store_set_clock(f->s, later_clock, NULL);
	int rc = exec(f, want, "session.expire", "session.expire", NULL);
	al_store_set_clock(f->s, fixed_clock, NULL);
	return rc;
}

/* A session of alice named name moved along statuses (NULL-terminated); its id into id. */
static void session_at(fx *f, const char *name, char id[40], ...)
{
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "session.create", "name", 's', name, "image", 's', sess_img, "group", 's',
				 "default", "project", 's', "default", "access_key", 's', sess_ak, NULL),
			 AL_OK);
	snprintf(id, 40, "%s", th_res_str(&rep, "id"));
	al_reply_free(&rep);
	va_list ap;
	va_start(ap, id);
	for (const char *st; (st = va_arg(ap, const char *));)
		if (strcmp(st, "SCHEDULED") == 0) /* only a pass places a session */
			exec(f, AL_OK, "pass", "scheduler.run", NULL);
		else
			exec(f, AL_OK, "report", "session.report", "id", 's', id, "status", 's', st, NULL);
	va_end(ap);
}

static void t_sessions(void **st)
{
	fx *f = *st;
	static stub reg;
	assert_int_equal(stub_start(&reg), 0);
	char *labels = rt_labels(",\"ai.backend.resource.min.cpu\":\"1\",\"ai.backend.resource.min.mem\":\"1g\"");
	rt_image im;
	rt_image_make(&im, "amd64", labels, "fault");
	stub_put_image(&reg, "stable/python", "3.9", &im);
	stub_tags(&reg, "stable/python", "[\"3.9\"]");
	const char *cat = "{\"repositories\":[\"stable/python\"]}";
	stub_add(&reg, "/v2/_catalog", 200, NULL, cat, strlen(cat));
	char host[64], url[96];
	snprintf(host, sizeof host, "127.0.0.1:%d", reg.port);
	snprintf(url, sizeof url, "http://%s", host);
	snprintf(sess_img, sizeof sess_img, "%s/stable/python:3.9", host);
	exec(f, AL_OK, "registry", "registry.create", "hostname", 's', host, "url", 's', url, NULL);
	exec(f, AL_OK, "rescan", "image.rescan", "registry", 's', host, NULL);
	exec(f, AL_OK, "registries", "domain.update", "name", 's', "default", "allowed_registries", 'l', host, NULL);
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "user.get", "email", 's', "alice@example.com", NULL), AL_OK);
	snprintf(sess_ak, sizeof sess_ak, "%s", th_res_str(&rep, "main_access_key"));
	al_reply_free(&rep);
	faultsim(f, "session.create", session_create, true);
	assert_int_equal(th_exec(f->s, &rep, "session.list", NULL), AL_OK);
	snprintf(sess_id, sizeof sess_id, "%s", th_res_column(&rep, "id"));
	sess_id[36] = 0;
	al_reply_free(&rep);
	exec(f, AL_OK, "agent", "agent.heartbeat", "id", 's', "ag1", "addr", 's', "10.0.0.1:6001", "available", 's',
	     "cpu=8,mem=32g", "group", 's', "default", NULL);
	faultsim(f, "scheduler.run", scheduler_run, true);
	assert_int_equal(th_exec(f->s, &rep, "session.get", "id", 's', sess_id, NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status"), "SCHEDULED");
	al_reply_free(&rep);
	faultsim(f, "session.report", session_report, true);
	faultsim(f, "session.terminate", session_terminate, true);
	faultsim(f, "session.list", session_list, false);
	char hung[40];
	session_at(f, "fault-2", hung, "SCHEDULED", "PREPARING", NULL);
	session_at(f, "fault-3", touch_id, "SCHEDULED", "PREPARING", "RUNNING", NULL);
	exec(f, AL_OK, "tolerance", "settings.set", "key", 's', "hang-tolerance-preparing", "value", 'l', "60", NULL);
	faultsim(f, "session.touch", session_touch, true);
	faultsim(f, "session.expire", session_expire, true);
	assert_int_equal(th_exec(f->s, &rep, "session.get", "id", 's', hung, NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "status_info"), "hang-timeout");
	al_reply_free(&rep);
	stub_stop(&reg);
	rt_image_free(&im);
	free(labels);
}

static int user_get(fx *f, int want)
{
	return exec(f, want, "user.get", "user.get", "email", 's', "alice@example.com", NULL);
}

static int user_list(fx *f, int want) { return exec(f, want, "user.list", "user.list", NULL); }

static int count_row(const msgpack_object *row, void *ctx)
{
	assert_int_equal(row->type, MSGPACK_OBJECT_MAP);
	++*(int *)ctx;
	return 0;
}

static int keypair_stream(fx *f, int want)
{
	al_request req = {"keypair.list", NULL, 0, &th_admin};
	al_error err;
	int rows = 0;
	poison(&err, sizeof err);
	int rc = al_exec_stream(f->s, &req, count_row, &rows, &err);
	if (rc == AL_OK)
		assert_int_equal(rows, 4); /* the admin's, alice's and bob's first, keypair.create's */
	else
		check_error("keypair.list streamed", &err, want);
	return rc;
}

static int export_users(fx *f, int want)
{
	char *csv = NULL;
	size_t n = 0;
	FILE *out = open_memstream(&csv, &n);
	al_request req = {NULL, NULL, 0, &th_admin};
	al_error err;
	poison(&err, sizeof err);
	int rc = al_export_csv(f->s, "users", &req, out, &err);
	fclose(out);
	if (rc == AL_OK)
		assert_non_null(strstr(csv, "alice@example.com"));
	else
		check_error("export users", &err, want);
	free(csv);
	return rc;
}

static int rebuild(fx *f, int want)
{
	al_error err;
	poison(&err, sizeof err);
	int rc = al_store_rebuild(f->s, NULL, NULL, &err);
	if (rc)
		check_error("rebuild", &err, want);
	return rc;
}

static int verify(fx *f, int want)
{
	al_error err;
	poison(&err, sizeof err);
	int rc = al_store_verify(f->s, NULL, NULL, &err);
	if (rc)
		check_error("verify", &err, want);
	return rc;
}

/* ---- view checkpoints: writing one, and an as-of that starts from one -------------------------------- */

static int tmp_entries(fx *f)
{
	char path[4300];
	snprintf(path, sizeof path, "%s/checkpoints", f->dir);
	DIR *d = opendir(path);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += strncmp(e->d_name, ".tmp-", 5) == 0;
	if (d)
		closedir(d);
	return n;
}

static void no_checkpoints(fx *f)
{
	char path[4300];
	snprintf(path, sizeof path, "%s/checkpoints", f->dir);
	th_rmrf(strdup(path));
}

static uint64_t checkpoint_head; /* the log head the checkpoint steps see (they write no event) */

/* Each try writes the checkpoint at the head anew; a failed one leaves no half of one. */
static int checkpoint(fx *f, int want)
{
	al_error err;
	al_checkpoint_info ci;
	no_checkpoints(f);
	poison(&err, sizeof err);
	int rc = al_store_checkpoint(f->s, 0, NULL, NULL, &ci, &err);
	if (rc)
		check_error("checkpoint", &err, want);
	else
		assert_int_equal(ci.seq, checkpoint_head);
	assert_int_equal(tmp_entries(f), 0);
	return rc;
}

static int asof_from_checkpoint(fx *f, int want)
{
	al_store *past;
	al_error err;
	poison(&err, sizeof err);
	int rc = al_store_asof(f->s, UINT64_MAX, &past, &err); /* the head (al_log_head would count) */
	if (rc)
		check_error("as-of", &err, want);
	else
		f->past = past; /* checked by check_past once the fault is off */
	return rc;
}

/* ---- a batch: every command either commits or leaves no trace ---------------------------------------- */

#define NBATCH 3

typedef struct batch_reqs {
	al_request reqs[NBATCH];
	char *args[NBATCH];
} batch_reqs;

static void batch_make(batch_reqs *b)
{
	size_t len[NBATCH];
	b->args[0] = th_args(&len[0], "name", 's', "lab2", NULL);
	b->args[1] = th_args(&len[1], "name", 's', "small", "cpu", 'i', 2LL, NULL);
	b->args[2] = th_args(&len[2], "email", 's', "alice@example.com", "description", 's', "in a batch", NULL);
	static const char *const ops[NBATCH] = {"domain.create", "policy.create", "user.update"};
	for (int i = 0; i < NBATCH; i++)
		b->reqs[i] = (al_request){ops[i], b->args[i], len[i], &th_admin};
}

/* The state after running only the commands in mask, without faults, from the snapshot. */
static void reference(fx *f, const batch_reqs *b, unsigned mask, state *out)
{
	al_request reqs[NBATCH];
	al_reply reps[NBATCH];
	size_t n = 0;
	copy_store(f->snap, f->ref);
	al_store *s = open_store(f->ref);
	for (int i = 0; i < NBATCH; i++)
		if (mask & (1u << i))
			reqs[n++] = b->reqs[i];
	al_exec_batch(s, reqs, reps, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(reps[i].err.code, AL_OK);
		al_reply_free(&reps[i]);
	}
	state_of(s, out);
	al_store_close(s);
}

static void batch(void **st)
{
	fx *f = *st;
	batch_reqs b;
	state refs[1u << NBATCH];
	bool have[1u << NBATCH] = {false};
	batch_make(&b);
	snapshot(f);
	for (int round = 0; round < 2 * AL_FAULT__COUNT; round++) {
		int kind = round % AL_FAULT__COUNT, mode = round / AL_FAULT__COUNT;
		int want = kind == AL_FAULT_ALLOC ? AL_ENO_MEMORY : AL_EIO_ERROR;
		time_t t0 = time(NULL);
		long n;
		for (n = 1; n < MAX_POINTS; n++) {
			al_reply reps[NBATCH];
			poison(reps, sizeof reps);
			fault_set(kind, mode, n);
			int rc = al_exec_batch(f->s, b.reqs, reps, NBATCH);
			long seen = al_fault_count(kind);
			al_fault_set(kind, 0);
			unsigned mask = 0;
			for (int i = 0; i < NBATCH; i++) {
				check_reply(b.reqs[i].op, &reps[i], want);
				if (rc != AL_OK) /* the whole transaction failed: every reply says so */
					assert_int_equal(reps[i].err.code, rc);
				mask |= reps[i].err.code == AL_OK ? 1u << i : 0;
				al_reply_free(&reps[i]);
			}
			if (mask != (1u << NBATCH) - 1 && seen < n)
				fail_msg("batch: a command failed without a fault");
			if (mask == (1u << NBATCH) - 1 && seen >= n)
				fail_msg("batch: succeeded although %s %ld of %ld failed", kind_names[kind], n, seen);
			if (!have[mask]) {
				reference(f, &b, mask, &refs[mask]);
				have[mask] = true;
			}
			state now;
			state_of(f->s, &now);
			assert_same_state("batch", &refs[mask], &now);
			assert_verifies(f, "batch");
			if (seen < n)
				break;
			if (mask)
				restore(f);
		}
		assert_true(n < MAX_POINTS);
		print_message("# batch of %d: %ld %ss (%s), %ld s\n", NBATCH, n - 1, kind_names[kind], mode_names[mode],
			      (long)(time(NULL) - t0));
		if (round + 1 < 2 * AL_FAULT__COUNT)
			restore(f);
	}
	for (int i = 0; i < NBATCH; i++)
		free(b.args[i]);
}

/* ---- the cases, in order: each builds on the ones before ------------------------------------------------ */

static void t_user_create(void **st) { faultsim(*st, "user.create", user_create, true); }
static void t_user_create_prepared(void **st) { faultsim(*st, "user.create prepared", user_create_prepared, true); }
static void t_login(void **st) { faultsim(*st, "login", login, false); }
static void t_user_update(void **st) { faultsim(*st, "user.update", user_update, true); }
static void t_keypair_create(void **st) { faultsim(*st, "keypair.create", keypair_create, true); }
static void t_policy_create(void **st) { faultsim(*st, "policy.create", policy_create, true); }
static void t_domain_create(void **st) { faultsim(*st, "domain.create", domain_create, true); }
static void t_add_member(void **st) { faultsim(*st, "project.add-member", add_member, true); }
static void t_user_get(void **st) { faultsim(*st, "user.get", user_get, false); }
static void t_user_list(void **st) { faultsim(*st, "user.list", user_list, false); }
static void t_keypair_stream(void **st) { faultsim(*st, "keypair.list streamed", keypair_stream, false); }
static void t_export_users(void **st) { faultsim(*st, "export users", export_users, false); }
static void t_rebuild(void **st) { faultsim(*st, "rebuild", rebuild, true); }
static void t_verify(void **st) { faultsim(*st, "verify", verify, false); }
static void t_checkpoint(void **st)
{
	fx *f = *st;
	checkpoint_head = al_log_head(f->s);
	faultsim(f, "checkpoint", checkpoint, false);
	no_checkpoints(f);
}

static void t_asof_checkpoint(void **st)
{
	fx *f = *st;
	al_error err = {0};
	no_checkpoints(f);
	assert_int_equal(al_store_checkpoint(f->s, 0, NULL, NULL, NULL, &err), AL_OK);
	exec(f, AL_OK, "after the checkpoint", "user.update", "email", 's', "admin@example.com", "description", 's',
	     "later", NULL); /* a tail to fold */
	faultsim(f, "as-of from a checkpoint", asof_from_checkpoint, false);
	no_checkpoints(f);
}

/* al_exec_batch must answer every request even when it cannot start. */
static void t_batch_cannot_start(void **st)
{
	fx *f = *st;
	batch_reqs b;
	al_reply reps[NBATCH];
	batch_make(&b);
	state before, after;
	state_of(f->s, &before);
	poison(reps, sizeof reps);
	al_fault_set(AL_FAULT_ALLOC, 1);
	int rc = al_exec_batch(f->s, b.reqs, reps, NBATCH);
	al_fault_set(AL_FAULT_ALLOC, 0);
	assert_int_equal(rc, AL_ENO_MEMORY);
	for (int i = 0; i < NBATCH; i++) {
		check_reply(b.reqs[i].op, &reps[i], AL_ENO_MEMORY);
		assert_int_equal(reps[i].err.code, AL_ENO_MEMORY);
		free(b.args[i]);
	}
	state_of(f->s, &after);
	assert_same_state("batch", &before, &after);
}

static void t_replace_allocator_checks(void **st)
{
	(void)st;
	assert_int_equal(al_replace_allocator(NULL, t_realloc, t_calloc, t_free), AL_EINVALID_ARGUMENT);
	assert_int_equal(al_replace_allocator(t_malloc, t_realloc, t_calloc, NULL), AL_EINVALID_ARGUMENT);
}

/* A failed check leaves its test at once, maybe with a fault still set: not for the next. */
static int disarm(void **st)
{
	(void)st;
	for (int kind = 0; kind < AL_FAULT__COUNT; kind++)
		al_fault_set(kind, 0);
	return 0;
}

static int setup(void **st)
{
	fx *f = calloc(1, sizeof *f);
	f->dir = th_tmpdir();
	snprintf(f->snap, sizeof f->snap, "%s.snap", f->dir);
	snprintf(f->ref, sizeof f->ref, "%s.ref", f->dir);
	snprintf(f->tmp, sizeof f->tmp, "%s.tmp", f->dir);
	if (mkdir(f->tmp, 0700) != 0)
		return -1;
	setenv("TMPDIR", f->tmp, 1); /* as-of stores go here, where the test sees them */
	f->s = th_init(f->dir, 0);
	if (f->s == NULL)
		return -1;
	al_store_set_clock(f->s, fixed_clock, NULL);
	*st = f;
	return 0;
}

static int teardown(void **st)
{
	fx *f = *st;
	al_store_close(f->s);
	th_rmrf(strdup(f->snap));
	th_rmrf(strdup(f->ref));
	rmdir(f->tmp);
	th_rmrf(f->dir);
	free(f);
	if (live_blocks != 0) {
		fprintf(stderr, "# %ld blocks of the library's allocator were never freed\n", live_blocks);
		return -1;
	}
	return 0;
}

int main(void)
{
	/* Before any other al_ call, as the contract says. */
	if (al_replace_allocator(t_malloc, t_realloc, t_calloc, t_free) != AL_OK)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(t_replace_allocator_checks, disarm),
		cmocka_unit_test_setup(t_user_create, disarm),
		cmocka_unit_test_setup(t_user_create_prepared, disarm),
		cmocka_unit_test_setup(t_login, disarm),
		cmocka_unit_test_setup(t_user_update, disarm),
		cmocka_unit_test_setup(t_keypair_create, disarm),
		cmocka_unit_test_setup(t_policy_create, disarm),
		cmocka_unit_test_setup(t_domain_create, disarm),
		cmocka_unit_test_setup(t_add_member, disarm),
		cmocka_unit_test_setup(t_sessions, disarm),
		cmocka_unit_test_setup(t_user_get, disarm),
		cmocka_unit_test_setup(t_user_list, disarm),
		cmocka_unit_test_setup(t_keypair_stream, disarm),
		cmocka_unit_test_setup(t_export_users, disarm),
		cmocka_unit_test_setup(t_batch_cannot_start, disarm),
		cmocka_unit_test_setup(batch, disarm),
		cmocka_unit_test_setup(t_rebuild, disarm),
		cmocka_unit_test_setup(t_verify, disarm),
		cmocka_unit_test_setup(t_checkpoint, disarm),
		cmocka_unit_test_setup(t_asof_checkpoint, disarm),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
