/*
 * test_commit_pages.c - what a durable one-command commit writes (docs/BENCHMARKS.md, issue 11).
 *
 * A commit's cost is its fsync'd pages. The log head lives in LMDB's main database, whose page
 * every commit rewrites anyway (the sub-databases' roots are there), not in meta; the
 * projection cursors already marked "at the head" are not written again by a new process.
 * The data file is read as bytes between commits (LMDB 0.9's page layout, mdb.c), so nothing
 * is opened twice in this process.
 */
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "core/record.h"
#include "helpers.h"

/* ---- reading data.mdb ------------------------------------------------------------------ */

typedef struct {
	unsigned char *f;
	size_t n, psize;
} dfile;

static void dfile_read(const char *dir, dfile *d)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	d->f = (unsigned char *)th_read_file(path, &d->n);
	assert_non_null(d->f);
	d->psize = 4096;
	memcpy(&d->psize, d->f + 16 + 24, 4); /* meta 0: the free DB's md_pad holds the page size */
	d->psize &= 0xffffffffu;
	assert_true(d->psize >= 512 && d->n % d->psize == 0);
}

static uint64_t u64_at(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static unsigned u16_at(const unsigned char *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

/* The main database's root page, from the meta page of the newest transaction. */
static const unsigned char *main_root(const dfile *d)
{
	const unsigned char *m0 = d->f + 16, *m1 = d->f + d->psize + 16;
	const unsigned char *m = u64_at(m1 + 128) > u64_at(m0 + 128) ? m1 : m0; /* mm_txnid */
	uint64_t root = u64_at(m + 24 + 48 + 40); /* mm_dbs[MAIN_DBI].md_root */
	assert_true((root + 1) * d->psize <= d->n);
	return d->f + root * d->psize;
}

/* The value of key in the main database, which must be one leaf page (it is, with ~35
 * sub-databases); NULL when absent. */
static const unsigned char *main_get(const dfile *d, const char *key, size_t *vn)
{
	const unsigned char *pg = main_root(d);
	assert_int_equal(u16_at(pg + 10) & 0x02, 0x02); /* P_LEAF */
	size_t kn = strlen(key), nkeys = (u16_at(pg + 12) - 16) / 2;
	for (size_t i = 0; i < nkeys; i++) {
		const unsigned char *node = pg + u16_at(pg + 16 + 2 * i);
		size_t ks = u16_at(node + 6);
		if (ks == kn && memcmp(node + 8, key, kn) == 0) {
			*vn = u16_at(node) | (size_t)u16_at(node + 2) << 16;
			return node + 8 + ks;
		}
	}
	return NULL;
}

/* The root page of a sub-database: a new one whenever a commit wrote to it (copy on write). */
static uint64_t db_root(const dfile *d, const char *name)
{
	size_t vn = 0;
	const unsigned char *v = main_get(d, name, &vn);
	assert_non_null(v);
	assert_int_equal(vn, 48); /* MDB_db */
	return u64_at(v + 40);
}

/* How many pages differ between two versions of the file (past the two meta pages). */
static size_t pages_changed(const dfile *a, const dfile *b)
{
	size_t n = 0;
	for (size_t off = 2 * b->psize; off < b->n; off += b->psize)
		n += off + b->psize > a->n || memcmp(a->f + off, b->f + off, b->psize) != 0;
	return n;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return (x > y) - (x < y);
}

/* ---- the tests --------------------------------------------------------------------------- */

static void update(al_store *s, int u, int k)
{
	char email[64], name[64];
	snprintf(email, sizeof email, "u%03d@example.com", u);
	snprintf(name, sizeof name, "Name %d of user %d", k, u);
	assert_int_equal(th_run(s, "user.update", "email", 's', email, "full_name", 's', name, NULL), AL_OK);
}

/* The head is in the main database and equals the log's; commits, including a new process's
 * first, leave meta's page alone. */
static void commit_leaves_meta_alone(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	assert_int_equal(th_user(s, "u000@example.com", "default", "user"), AL_OK);
	update(s, 0, 0);
	dfile before, after;
	dfile_read(dir, &before);
	uint64_t meta_root = db_root(&before, "meta");
	al_store_close(s);

	al_open_opts o = {AL_OPEN_QUIET, 0};
	al_error err;
	assert_int_equal(al_store_open(&s, dir, &o, &err), AL_OK);
	for (int k = 1; k <= 3; k++)
		update(s, 0, k);
	dfile_read(dir, &after);
	if (db_root(&after, "meta") != meta_root)
		fail_msg("three one-command commits (after a reopen) rewrote meta");
	size_t vn = 0;
	const unsigned char *head = main_get(&after, "head", &vn);
	assert_non_null(head);
	assert_int_equal(vn, 48);
	assert_int_equal(al__get_be64(head), al_log_head(s));
	free(before.f);
	free(after.f);
	al_store_close(s);
	th_rmrf(dir);
}

/* bench_append_durable's store in small: 100 users, then one user.update per commit. The
 * steady state writes 8 pages per commit: the main database's leaf, the free list's leaf, and
 * a branch and a leaf each of events, idx_entity and v_users (9 with the head in meta). */
static void pages_per_commit(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	for (int u = 0; u < 100; u++) {
		char email[64];
		snprintf(email, sizeof email, "u%03d@example.com", u);
		assert_int_equal(th_user(s, email, "default", "user"), AL_OK);
	}
	for (int k = 0; k < 300; k++)
		update(s, k % 100, k);
	enum { N = 12 };
	size_t pages[N];
	dfile prev, cur;
	dfile_read(dir, &prev);
	for (int i = 0; i < N; i++) {
		update(s, (300 + i) % 100, 300 + i);
		dfile_read(dir, &cur);
		pages[i] = pages_changed(&prev, &cur);
		free(prev.f);
		prev = cur;
	}
	free(prev.f);
	/* The median: one commit in AL_IDX_LAG also writes the audit indexes, and one in ~15
	 * starts a new events leaf. */
	for (int i = 0; i < N; i++)
		print_message("commit %d: %zu pages\n", i, pages[i]);
	qsort(pages, N, sizeof *pages, cmp_size);
	if (pages[N / 2] > 8)
		fail_msg("a one-command commit writes %zu pages (median of %d)", pages[N / 2], N);
	al_store_close(s);
	th_rmrf(dir);
}

/* Sets a closed store back to format 1: the head in meta. */
static void make_format1(const char *dir)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, main;
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 128);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &main), 0);
	MDB_val hk = {4, "head"}, hv, fk = {6, "format"};
	assert_int_equal(mdb_get(txn, main, &hk, &hv), 0);
	unsigned char head[48], f[4];
	memcpy(head, hv.mv_data, 48);
	hv = (MDB_val){48, head};
	assert_int_equal(mdb_put(txn, meta, &hk, &hv, 0), 0);
	assert_int_equal(mdb_del(txn, main, &hk, NULL), 0);
	al__be32(f, 1);
	MDB_val fv = {4, f};
	assert_int_equal(mdb_put(txn, meta, &fk, &fv, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* meta "format" and whether meta and the main database hold "head", in a closed store. */
static unsigned read_layout(const char *dir, int *in_meta, int *in_main)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, main;
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 128);
	assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &main), 0);
	MDB_val hk = {4, "head"}, fk = {6, "format"}, v;
	*in_meta = mdb_get(txn, meta, &hk, &v) == 0;
	*in_main = mdb_get(txn, main, &hk, &v) == 0;
	assert_int_equal(mdb_get(txn, meta, &fk, &v), 0);
	assert_int_equal(v.mv_size, 4);
	unsigned f = al__get_be32(v.mv_data);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return f;
}

/* A format 1 store (head in meta) reads as it is read-only, and moves to format 2 when opened
 * read-write: same head and chain, appends go on, verify passes. Another format is refused. */
static void format1_store_moves(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	assert_int_equal(th_user(s, "u000@example.com", "default", "user"), AL_OK);
	uint64_t head = al_log_head(s);
	uint8_t digest[16], digest2[16];
	al_error err;
	assert_int_equal(al_store_digest(s, digest, &err), AL_OK);
	al_store_close(s);
	int in_meta, in_main;
	assert_int_equal(read_layout(dir, &in_meta, &in_main), 2);
	assert_true(!in_meta && in_main);
	make_format1(dir);
	assert_int_equal(read_layout(dir, &in_meta, &in_main), 1);

	al_open_opts ro = {AL_OPEN_QUIET | AL_OPEN_RDONLY, 0};
	assert_int_equal(al_store_open(&s, dir, &ro, &err), AL_OK);
	assert_int_equal(al_log_head(s), head);
	al_store_close(s);
	assert_int_equal(read_layout(dir, &in_meta, &in_main), 1); /* untouched */
	assert_true(in_meta && !in_main);

	al_open_opts rw = {AL_OPEN_QUIET, 0};
	assert_int_equal(al_store_open(&s, dir, &rw, &err), AL_OK);
	assert_int_equal(al_log_head(s), head);
	assert_int_equal(al_store_digest(s, digest2, &err), AL_OK);
	assert_memory_equal(digest, digest2, 16);
	update(s, 0, 1);
	assert_int_equal(al_log_head(s), head + 1);
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
	al_store_close(s);
	assert_int_equal(read_layout(dir, &in_meta, &in_main), 2);
	assert_true(!in_meta && in_main);

	/* A format this build does not know is refused, not read. */
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta;
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 128);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	unsigned char f[4];
	al__be32(f, 3);
	MDB_val fk = {6, "format"}, fv = {4, f};
	assert_int_equal(mdb_put(txn, meta, &fk, &fv, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_int_equal(al_store_open(&s, dir, &rw, &err), AL_EUNSUPPORTED);
	assert_non_null(strstr(err.msg, "format 3"));
	th_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(commit_leaves_meta_alone),
		cmocka_unit_test(pages_per_commit),
		cmocka_unit_test(format1_store_moves),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
