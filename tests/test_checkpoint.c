/*
 * test_checkpoint.c - view checkpoints and as-of from them (core/checkpoint.h): as-of at every
 * point of a log with checkpoints every 7 events (on one, just after one, between) equals the
 * live state then and a full replay; damaged, version-mismatched and foreign checkpoints are
 * skipped; the pruning policy keeps what it says; a writer killed mid-checkpoint leaves nothing
 * that is used; an as-of store reads its source's log up to its point, answers reads only,
 * with the rights of now.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "helpers.h"
#include "core/checkpoint.h"
#include "core/store.h"

#define K 7
#define MAX_EVENTS 2048

/* ---- a log with checkpoints ---------------------------------------------------------------- */

typedef struct rng {
	uint64_t s;
} rng;

static unsigned below(rng *r, unsigned n)
{
	r->s ^= r->s >> 12, r->s ^= r->s << 25, r->s ^= r->s >> 27;
	return (unsigned)((r->s * 0x2545F4914F6CDD1DULL) % n);
}

typedef struct fx {
	TH_FX_HEAD;
	rng r;
	int users, domains;
	char digest[MAX_EVENTS][33]; /* the live digest after event seq, "" when never seen */
	uint64_t written[MAX_EVENTS]; /* checkpoints written, in order */
	int nwritten;
} fx;

static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	if (f == NULL)
		return -1;
	f->r.s = 0xC4EC4;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	th_fx_free(*state);
	return 0;
}

static void set_interval(al_store *s, const char *k)
{
	assert_int_equal(th_run(s, "settings.set", "key", 's', "checkpoint-interval", "value", 'l', k, NULL), AL_OK);
}

/* What adminlogd's checkpoint thread does after a commit. */
static void checkpoint_if_due(fx *f)
{
	al_checkpoint_info ci;
	al_error err = {0};
	if (al_store_checkpoint(f->s, AL_CKPT_IF_DUE, NULL, NULL, &ci, &err) != AL_OK)
		fail_msg("checkpoint: %s", err.msg);
	if (ci.seq)
		f->written[f->nwritten++] = ci.seq;
}

/* One command of a mix that changes users, keypairs, domains and settings; some refused. */
static void one_command(fx *f)
{
	char email[64], v[32];
	int u = f->users ? (int)below(&f->r, (unsigned)f->users) : 0;
	snprintf(email, sizeof email, "u%d@example.com", u);
	snprintf(v, sizeof v, "v%u", below(&f->r, 100000));
	switch (f->users < 3 ? 0 : below(&f->r, 8)) {
	case 0:
		snprintf(email, sizeof email, "u%d@example.com", f->users++);
		assert_int_equal(th_user(f->s, email, "default", "user"), AL_OK);
		break;
	case 1:
		th_run(f->s, "user.deactivate", "email", 's', email, NULL);
		break;
	case 2:
		th_run(f->s, "user.activate", "email", 's', email, NULL);
		break;
	case 3:
		th_run(f->s, "keypair.create", "user", 's', email, NULL);
		break;
	case 4:
		snprintf(v, sizeof v, "d%d", f->domains++);
		th_run(f->s, "domain.create", "name", 's', v, NULL);
		break;
	case 5:
		th_run(f->s, "settings.set", "key", 's', "overlay-mtu", "value", 'l', v + 1, NULL);
		break;
	default:
		th_run(f->s, "user.update", "email", 's', email, "full_name", 's', v, NULL);
	}
}

/* n commands, each followed by the live digest and a checkpoint when one is due. */
static void grow(fx *f, int n)
{
	for (int i = 0; i < n; i++) {
		one_command(f);
		uint64_t head = al_log_head(f->s);
		assert_true(head < MAX_EVENTS);
		th_digest(f->s, f->digest[head]);
		checkpoint_if_due(f);
	}
}

static al_store *asof(al_store *s, uint64_t n)
{
	al_store *past = NULL;
	al_error err = {0};
	if (al_store_asof(s, n, &past, &err) != AL_OK)
		fail_msg("as-of %llu: %s", (unsigned long long)n, err.msg);
	return past;
}

/* The checkpoints of s: seqs and whether usable. */
typedef struct listing {
	uint64_t seq[256];
	int usable[256];
	uint64_t bytes;
	int n;
} listing;

static void list_one(uint64_t seq, uint64_t bytes, int usable, void *ctx)
{
	listing *l = ctx;
	if (l->n < 256) {
		l->seq[l->n] = seq;
		l->usable[l->n++] = usable;
	}
	l->bytes += bytes;
}

static listing list_of(al_store *s)
{
	listing l = {0};
	al_error err = {0};
	assert_int_equal(al_store_checkpoint_list(s, list_one, &l, &err), AL_OK);
	return l;
}

/* The newest checkpoint of l at or before n (0 when none). */
static uint64_t nearest(const listing *l, uint64_t n)
{
	uint64_t best = 0;
	for (int i = 0; i < l->n; i++)
		if (l->usable[i] && l->seq[i] <= n)
			best = l->seq[i];
	return best;
}

static void ckpt_path(al_store *s, uint64_t seq, const char *file, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s/%020llu/%s", al_store_dir(s), AL_CKPT_DIR, (unsigned long long)seq, file);
}

/* The replies of a few read commands, concatenated: the past as a client sees it. */
static void replies(al_store *s, char *out, size_t n)
{
	static const char *const ops[] = {"user.list", "keypair.list", "domain.list", "settings.get", "info"};
	size_t at = 0;
	out[0] = 0;
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
		al_reply rep;
		assert_int_equal(th_exec(s, &rep, ops[i], NULL), AL_OK);
		at += (size_t)snprintf(out + at, n - at, "%s\n", th_res_json(&rep, NULL));
		al_reply_free(&rep);
	}
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', "admin@example.com", NULL), AL_OK);
	at += (size_t)snprintf(out + at, n - at, "%s\n", th_res_json(&rep, NULL)); /* with its version */
	al_reply_free(&rep);
	assert_true(at < n - 1);
}

/* As a full replay to n (a directory of its own, folded from the first event) answers. */
static void replay_replies(al_store *s, uint64_t n, char *out, size_t cap, char digest[33])
{
	char *dir = th_tmpdir();
	al_error err = {0};
	al_store *r;
	assert_int_equal(al_store_replay(s, n, dir, AL_OPEN_NOSYNC, &err), AL_OK);
	al_open_opts o = {AL_OPEN_QUIET, 0};
	assert_int_equal(al_store_open(&r, dir, &o, &err), AL_OK);
	replies(r, out, cap);
	th_digest(r, digest);
	al_store_close(r);
	th_rmrf(dir);
}

/* ---- as-of at every point -------------------------------------------------------------------- */

static void asof_every_point(void **state)
{
	fx *f = *state;
	set_interval(f->s, "7");
	uint64_t start = al_log_head(f->s);
	grow(f, 160);
	uint64_t head = al_log_head(f->s);
	listing l = list_of(f->s);
	assert_true(l.n >= 10);
	int on = 0, after = 0, points = 0;
	for (uint64_t n = start; n <= head; n++) {
		if (!f->digest[n][0])
			continue; /* inside a command of two events: no live state to compare with */
		al_store *past = asof(f->s, n);
		char d[33];
		th_digest(past, d);
		if (strcmp(d, f->digest[n]) != 0)
			fail_msg("as-of %llu (from checkpoint %llu) differs from the live state then", (unsigned long long)n,
				 (unsigned long long)past->asof_base);
		assert_int_equal(past->asof_base, nearest(&l, n)); /* the nearest one, never a later one */
		assert_int_equal(al_log_head(past), n);
		on += past->asof_base == n;
		after += past->asof_base + 1 == n;
		points++;
		al_store_close(past);
	}
	print_message("# %d points, %d on a checkpoint, %d just after one, %d checkpoints kept\n", points, on, after, l.n);
	assert_true(on >= 10 && after >= 5);
	/* Replies, not only digests: the same as a full replay, on a checkpoint and after one. */
	static char a[1 << 17], b[1 << 17];
	for (int i = l.n - 6; i < l.n; i++)
		for (uint64_t n = l.seq[i]; n <= l.seq[i] + 1 && n <= head; n++) {
			char dr[33], da[33];
			al_store *past = asof(f->s, n);
			replies(past, a, sizeof a);
			th_digest(past, da);
			assert_int_equal(past->asof_base, l.seq[i]);
			al_store_close(past);
			replay_replies(f->s, n, b, sizeof b, dr);
			assert_string_equal(da, dr);
			assert_string_equal(a, b);
		}
}

/* ---- checkpoints that must not be trusted ----------------------------------------------------- */

static void flip_byte(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	unsigned char c;
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, at), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, at), 1);
	close(fd);
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* As-of n gives the live state then, from checkpoint want. */
static void asof_from(fx *f, uint64_t n, uint64_t want)
{
	al_store *past = asof(f->s, n);
	char d[33];
	th_digest(past, d);
	assert_string_equal(d, f->digest[n]);
	if (past->asof_base != want)
		fail_msg("as-of %llu started from checkpoint %llu, expected %llu", (unsigned long long)n,
			 (unsigned long long)past->asof_base, (unsigned long long)want);
	al_store_close(past);
}

/* The newest checkpoint whose next command point is in the digests, and that point. */
static uint64_t point_after(fx *f, uint64_t c)
{
	for (uint64_t n = c; n < MAX_EVENTS; n++)
		if (f->digest[n][0])
			return n;
	fail_msg("no live state after %llu", (unsigned long long)c);
	return 0;
}

static void damaged_skipped(void **state)
{
	fx *f = *state;
	set_interval(f->s, "7");
	grow(f, 60);
	listing l = list_of(f->s);
	assert_true(l.n >= 5);
	uint64_t c3 = l.seq[l.n - 1], c2 = l.seq[l.n - 2], c1 = l.seq[l.n - 3], c0 = l.seq[l.n - 4];
	uint64_t n = point_after(f, c3);
	char path[4400];
	asof_from(f, n, c3);
	/* A flipped byte in the data file: its hash differs. */
	ckpt_path(f->s, c3, "data.mdb", path, sizeof path);
	flip_byte(path, file_size(path) / 2);
	asof_from(f, n, c2);
	/* A damaged header. */
	ckpt_path(f->s, c2, "checkpoint", path, sizeof path);
	flip_byte(path, 30);
	asof_from(f, n, c1);
	/* A truncated data file (the header says otherwise). */
	ckpt_path(f->s, c1, "data.mdb", path, sizeof path);
	assert_int_equal(truncate(path, file_size(path) - 4096), 0);
	asof_from(f, n, c0);
	/* No header at all. */
	ckpt_path(f->s, c0, "checkpoint", path, sizeof path);
	assert_int_equal(unlink(path), 0);
	asof_from(f, n, l.n > 4 ? l.seq[l.n - 5] : 0);
	/* The listing says which are usable; pruning removes the unusable ones. */
	listing m = list_of(f->s);
	int bad = 0;
	for (int i = 0; i < m.n; i++)
		bad += !m.usable[i];
	assert_int_equal(bad, 2); /* the damaged data files pass the header check: used, then skipped */
	al_checkpoint_info ci;
	al_error err = {0};
	assert_int_equal(al_store_checkpoint(f->s, AL_CKPT_IF_DUE, NULL, NULL, &ci, &err), AL_OK);
	assert_true(ci.pruned >= 2);
	m = list_of(f->s);
	for (int i = 0; i < m.n; i++)
		assert_true(m.usable[i]);
}

/* Rewrites the header of checkpoint seq with projection p's version bumped and its own hash
 * made right again: only the version is wrong. */
static void bump_version(al_store *s, uint64_t seq, size_t p)
{
	char path[4400];
	ckpt_path(s, seq, "checkpoint", path, sizeof path);
	size_t n;
	unsigned char *h = (unsigned char *)th_read_file(path, &n);
	assert_non_null(h);
	size_t at = 88;
	for (size_t i = 0; i < p; i++)
		at += 1 + h[at] + 4;
	at += 1 + h[at] + 3; /* the version's last byte */
	h[at]++;
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits(h, n - 16));
	memcpy(h + n - 16, c.digest, 16);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(h, 1, n, fp), n);
	fclose(fp);
	free(h);
}

static void version_mismatch_skipped(void **state)
{
	fx *f = *state;
	set_interval(f->s, "7");
	grow(f, 40);
	listing l = list_of(f->s);
	uint64_t c1 = l.seq[l.n - 1], c0 = l.seq[l.n - 2];
	uint64_t n = point_after(f, c1);
	asof_from(f, n, c1);
	bump_version(f->s, c1, AL_P_USERS);
	asof_from(f, n, c0);
	listing m = list_of(f->s);
	assert_false(m.usable[m.n - 1]);
}

static void copy_file(const char *from, const char *to)
{
	size_t n;
	char *b = th_read_file(from, &n);
	assert_non_null(b);
	FILE *fp = fopen(to, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(b, 1, n, fp), n);
	fclose(fp);
	free(b);
}

static void foreign_skipped(void **state)
{
	fx *f = *state;
	set_interval(f->s, "7");
	grow(f, 40);
	/* Another store, with the same commands: its log has the same length and types, but other
	 * ids, times and so chain hashes. */
	fx *g = th_fx_new(sizeof *g);
	assert_non_null(g);
	g->r.s = 0xF0;
	set_interval(g->s, "7");
	grow(g, 30);
	listing l = list_of(f->s), lg = list_of(g->s);
	uint64_t theirs = 0;
	for (int i = 0; i < lg.n; i++)
		if (lg.seq[i] <= al_log_head(f->s))
			theirs = lg.seq[i];
	assert_true(theirs > 0);
	/* This store's own checkpoint at that seq, if any, goes: theirs takes its place. */
	char mine[4400];
	snprintf(mine, sizeof mine, "%s/%s/%020llu", f->dir, AL_CKPT_DIR, (unsigned long long)theirs);
	th_rmrf(strdup(mine));
	listing own = {0};
	for (int i = 0; i < l.n; i++)
		if (l.seq[i] != theirs)
			own.usable[own.n] = 1, own.seq[own.n++] = l.seq[i];
	/* Theirs, under its seq, in this store's directory (where this store has none). */
	char from[4400], to[4400];
	snprintf(to, sizeof to, "%s/%s/%020llu", f->dir, AL_CKPT_DIR, (unsigned long long)theirs);
	assert_int_equal(mkdir(to, 0700), 0);
	const char *files[] = {"data.mdb", "checkpoint"};
	for (int i = 0; i < 2; i++) {
		ckpt_path(g->s, theirs, files[i], from, sizeof from);
		ckpt_path(f->s, theirs, files[i], to, sizeof to);
		copy_file(from, to);
	}
	uint64_t n = point_after(f, theirs);
	asof_from(f, n, nearest(&own, n)); /* this store's own, never theirs */
	listing m = list_of(f->s);
	int found = 0;
	for (int i = 0; i < m.n; i++)
		if (m.seq[i] == theirs)
			found = 1, assert_false(m.usable[i]);
	assert_true(found);
	th_fx_free(g);
}

/* ---- the pruning policy ------------------------------------------------------------------------ */

/* The policy's bucket: one per K in the last 16 K events, one per 16 K before (checkpoint.c). */
static uint64_t bucket(uint64_t seq, uint64_t head)
{
	return seq + K * AL_CKPT_WINDOW > head ? seq / K * 2 + 1 : seq / (K * AL_CKPT_WINDOW) * 2;
}

static bool kept(const listing *l, uint64_t seq)
{
	for (int i = 0; i < l->n; i++)
		if (l->seq[i] == seq)
			return true;
	return false;
}

static void pruning_policy(void **state)
{
	fx *f = *state;
	set_interval(f->s, "7");
	grow(f, 420);
	uint64_t head = al_log_head(f->s);
	assert_true(head > 3 * K * AL_CKPT_WINDOW);
	listing l = list_of(f->s);
	/* Exactly the lowest checkpoint written in each bucket, and the newest. */
	int want = 0;
	for (int i = 0; i < f->nwritten; i++) {
		uint64_t s = f->written[i];
		bool lowest = i == 0 || bucket(f->written[i - 1], head) != bucket(s, head);
		bool keep = lowest || i == f->nwritten - 1;
		want += keep;
		if (keep != kept(&l, s))
			fail_msg("checkpoint %llu: %s, the policy says %s", (unsigned long long)s, kept(&l, s) ? "kept" : "removed",
				 keep ? "keep" : "remove");
	}
	assert_int_equal(l.n, want);
	print_message("# %d checkpoints written, %d kept (%llu bytes)\n", f->nwritten, l.n, (unsigned long long)l.bytes);
	/* Filling a log that has none: at the multiples the policy keeps, and at the head. */
	char *dir = th_tmpdir();
	al_error err = {0};
	al_checkpoint_info ci;
	assert_int_equal(al_store_replay(f->s, head, dir, AL_OPEN_NOSYNC, &err), AL_OK);
	al_store *r;
	al_open_opts o = {AL_OPEN_QUIET, 0};
	assert_int_equal(al_store_open(&r, dir, &o, &err), AL_OK);
	assert_int_equal(list_of(r).n, 0);
	assert_int_equal(al_store_checkpoint(r, AL_CKPT_FILL, NULL, NULL, &ci, &err), AL_OK);
	listing lf = list_of(r);
	int n = 0;
	for (uint64_t s = K; s < head; s += K)
		if (s + K * AL_CKPT_WINDOW > head || s % (K * AL_CKPT_WINDOW) == 0) {
			assert_true(kept(&lf, s));
			n++;
		}
	assert_true(kept(&lf, head));
	assert_int_equal(lf.n, n + 1);
	assert_int_equal(ci.written, (uint64_t)n + 1);
	assert_int_equal(ci.pruned, 0);
	/* Each as-of there starts from the checkpoint at or before it. */
	for (uint64_t s = K; s <= head; s += 11) {
		al_store *past = asof(r, s);
		char a[33], b[33];
		th_digest(past, a);
		assert_int_equal(past->asof_base, nearest(&lf, s));
		al_store_close(past);
		if (f->digest[s][0]) {
			memcpy(b, f->digest[s], 33);
			assert_string_equal(a, b);
		}
	}
	al_store_close(r);
	th_rmrf(dir);
}

/* ---- kill -9 while writing ---------------------------------------------------------------------- */

static int die_at;
static void die(int stage)
{
	if (stage == die_at)
		raise(SIGKILL);
}

/* Entries of the checkpoints directory whose name starts with prefix. */
static int entries(const char *dir, const char *prefix)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, AL_CKPT_DIR);
	DIR *d = opendir(path);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	if (d)
		closedir(d);
	return n;
}

static void killed_while_writing(void **state)
{
	fx *f = *state;
	set_interval(f->s, "7");
	for (int stage = 1; stage <= 3; stage++) {
		grow(f, 12); /* the head moves past the newest checkpoint */
		assert_int_equal(th_run(f->s, "user.update", "email", 's', "admin@example.com", "full_name", 's',
					stage == 1 ? "one" : stage == 2 ? "two" : "three", NULL),
				 AL_OK);
		uint64_t head = al_log_head(f->s);
		th_digest(f->s, f->digest[head]);
		listing l = list_of(f->s);
		uint64_t before = nearest(&l, head);
		assert_true(before < head);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) { /* a writer that is killed at this stage */
			al_store *s;
			al_error err;
			al_open_opts o = {AL_OPEN_QUIET, 0};
			die_at = stage;
			al__ckpt_hook = die;
			if (al_store_open(&s, f->dir, &o, &err) == AL_OK)
				al_store_checkpoint(s, 0, NULL, NULL, NULL, &err);
			_exit(3); /* not killed: the test fails below */
		}
		int st;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		assert_int_equal(entries(f->dir, ".tmp-"), 1);
		/* What it left is never used: the state at the head comes from the older one. */
		asof_from(f, head, before);
		/* The next writer clears it (its process is gone) and writes the checkpoint. */
		al_checkpoint_info ci;
		al_error err = {0};
		assert_int_equal(al_store_checkpoint(f->s, 0, NULL, NULL, &ci, &err), AL_OK);
		assert_int_equal(ci.seq, head);
		assert_int_equal(entries(f->dir, ".tmp-"), 0);
		asof_from(f, head, head);
	}
}

/* ---- what an as-of store reads, and who may ---------------------------------------------------- */

static int count_event(const al_event *e, void *ctx)
{
	(void)e;
	(*(int *)ctx)++;
	return 0;
}

static void asof_reads(void **state)
{
	fx *f = *state;
	set_interval(f->s, "7");
	grow(f, 20);
	assert_int_equal(th_user(f->s, "boss@example.com", "default", "admin"), AL_OK);
	assert_int_equal(th_run(f->s, "user.update", "email", 's', "admin@example.com", "full_name", 's', "Then", NULL),
			 AL_OK);
	checkpoint_if_due(f);
	uint64_t n = al_log_head(f->s);
	al_reply rep;
	assert_int_equal(th_exec(f->s, &rep, "user.get", "email", 's', "admin@example.com", NULL), AL_OK);
	long long version = th_res_int(&rep, "version");
	al_reply_free(&rep);
	grow(f, 20);
	assert_int_equal(th_run(f->s, "user.update", "email", 's', "admin@example.com", "full_name", 's', "Now", NULL),
			 AL_OK);
	assert_int_equal(th_user(f->s, "late@example.com", "default", "user"), AL_OK);
	assert_int_equal(th_run(f->s, "user.update", "email", 's', "boss@example.com", "role", 's', "user", NULL), AL_OK);
	checkpoint_if_due(f);
	al_store *past = asof(f->s, n);
	/* The past state, with the entity versions of then. */
	assert_int_equal(th_exec(past, &rep, "user.get", "email", 's', "admin@example.com", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "full_name"), "Then");
	assert_int_equal(th_res_int(&rep, "version"), version);
	al_reply_free(&rep);
	/* The log as it was: head, listings, time search. */
	assert_int_equal(al_log_head(past), n);
	int all = 0, mine = 0;
	al_error err = {0};
	assert_int_equal(al_log_query(past, NULL, count_event, &all, &err), AL_OK);
	assert_int_equal(all, (int)n);
	al_log_filter ef = {.entity = "user:admin@example.com"};
	assert_int_equal(al_log_query(past, &ef, count_event, &mine, &err), AL_OK);
	assert_int_equal(mine, version);
	uint64_t seq;
	assert_int_equal(al_log_seq_at_time(past, INT64_MAX, &seq, &err), AL_OK);
	assert_int_equal(seq, n);
	assert_int_equal(al_store_verify(past, NULL, NULL, &err), AL_OK);
	/* Reads only. */
	TH_REFUSE(past, NULL, AL_EPERMISSION_DENIED, NULL, "user.update", "email", 's', "admin@example.com", "full_name",
		  's', "Never", NULL);
	assert_int_equal(al_log_head(past), n);
	/* The rights of now: a user who did not exist then reads as itself (and finds nothing); an
	 * admin demoted since may no longer list the users it listed then. */
	th_actor late, boss;
	assert_int_equal(th_as(f->s, "late@example.com", &late), AL_OK);
	assert_int_equal(th_as(f->s, "boss@example.com", &boss), AL_OK);
	TH_REFUSE(past, &late, AL_ENOT_FOUND, NULL, "user.get", "email", 's', "late@example.com", NULL);
	TH_DENY(past, &boss, "user.get", "email", 's', "admin@example.com", NULL);
	al_store_close(past);
	/* An as-of of an as-of store: the same source, the nearer point. */
	al_store *then = asof(f->s, n + 5), *older = asof(then, n);
	char a[33], b[33];
	th_digest(older, a);
	memcpy(b, f->digest[n], 33);
	if (b[0])
		assert_string_equal(a, b);
	assert_int_equal(al_log_head(older), n);
	assert_ptr_equal(older->log_src, f->s);
	al_store_close(older);
	al_store_close(then);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(asof_every_point), T(damaged_skipped),      T(version_mismatch_skipped), T(foreign_skipped),
		T(pruning_policy),   T(killed_while_writing), T(asof_reads),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
