/*
 * test_fold.c - folding the log through the in-memory overlay (core/overlay.h): the overlay's
 * get / put / del / tombstone and range semantics, the view helpers over it (al__view_keys
 * merging LMDB's rows with the overlay's), a rebuild that writes its overlay out many times
 * (a tiny budget and transaction size) giving the live digest, and a rebuild interrupted at
 * each of its LMDB calls leaving a store that the next open brings to the live digest, with
 * no view ever marked complete at the head while it differs from the live one.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "al_fault.h"
#include "helpers.h"
#include "core/overlay.h"
#include "core/record.h"
#include "core/store.h"

/* ---- the overlay alone ----------------------------------------------------------------------------- */

static void assert_val(al_ov *o, MDB_dbi dbi, const char *k, const char *want)
{
	MDB_val v;
	int rc = al__ov_get(o, dbi, k, strlen(k), &v);
	if (want == NULL) {
		assert_int_equal(rc, MDB_NOTFOUND);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(v.mv_size, strlen(want));
	assert_memory_equal(v.mv_data, want, v.mv_size);
}

static int put_s(al_ov *o, MDB_dbi dbi, const char *k, const char *v)
{
	return al__ov_put(o, dbi, k, strlen(k), v, strlen(v));
}

static void overlay_get_put_del(void **state)
{
	(void)state;
	al_ov *o;
	MDB_val v;
	assert_int_equal(al__ov_new(&o), AL_OK);
	enum { EMPTY = 5, FILLED = 6, OTHER = 7 };
	assert_int_equal(al__ov_cover(o, EMPTY, true), AL_OK);
	assert_int_equal(al__ov_cover(o, FILLED, false), AL_OK);
	assert_int_equal(al__ov_cover(o, 100000, true), AL_EINVALID_ARGUMENT);

	/* Not in the overlay: absent from a view known empty, LMDB's to answer otherwise. */
	assert_val(o, EMPTY, "k", NULL);
	assert_int_equal(al__ov_get(o, FILLED, "k", 1, &v), AL_OV_MISS);
	/* A sub-database it does not cover is never its business. */
	assert_int_equal(al__ov_get(o, OTHER, "k", 1, &v), AL_OV_MISS);
	assert_int_equal(put_s(o, OTHER, "k", "v"), AL_OV_MISS);
	assert_int_equal(al__ov_del(o, OTHER, "k", 1), AL_OV_MISS);
	al_ov_iter it;
	assert_int_equal(al__ov_range(o, OTHER, "", 0, &it), AL_OV_MISS);

	/* Put, overwrite in place, grow, shrink; the same key in two views is two entries. */
	assert_int_equal(put_s(o, EMPTY, "k", "one"), AL_OK);
	assert_int_equal(put_s(o, FILLED, "k", "other view"), AL_OK);
	assert_val(o, EMPTY, "k", "one");
	assert_val(o, FILLED, "k", "other view");
	assert_int_equal(al__ov_get(o, EMPTY, "k", 1, &v), 0);
	const void *room = v.mv_data;
	assert_int_equal(put_s(o, EMPTY, "k", "two"), AL_OK);
	assert_int_equal(al__ov_get(o, EMPTY, "k", 1, &v), 0);
	assert_ptr_equal(v.mv_data, room); /* rewritten in place */
	char big[3000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	assert_int_equal(put_s(o, EMPTY, "k", big), AL_OK);
	assert_val(o, EMPTY, "k", big);
	assert_int_equal(put_s(o, EMPTY, "k", ""), AL_OK);
	assert_val(o, EMPTY, "k", "");

	/* A value read back from the overlay may be put, to its own key or another. */
	assert_int_equal(put_s(o, EMPTY, "a", "shared bytes"), AL_OK);
	assert_int_equal(al__ov_get(o, EMPTY, "a", 1, &v), 0);
	assert_int_equal(al__ov_put(o, EMPTY, "a", 1, v.mv_data, v.mv_size), AL_OK);
	assert_int_equal(al__ov_put(o, EMPTY, "b", 1, v.mv_data, v.mv_size), AL_OK);
	assert_val(o, EMPTY, "a", "shared bytes");
	assert_val(o, EMPTY, "b", "shared bytes");

	/* Deletes: a tombstone hides the key whatever LMDB holds; a put brings it back. */
	assert_int_equal(al__ov_del(o, EMPTY, "a", 1), AL_OK);
	assert_val(o, EMPTY, "a", NULL);
	assert_int_equal(al__ov_del(o, FILLED, "never put", 9), AL_OK);
	assert_val(o, FILLED, "never put", NULL); /* not AL_OV_MISS: LMDB's row is deleted */
	assert_int_equal(al__ov_del(o, EMPTY, "never put", 9), AL_OK);
	assert_val(o, EMPTY, "never put", NULL);
	assert_int_equal(put_s(o, EMPTY, "a", "back"), AL_OK);
	assert_val(o, EMPTY, "a", "back");
	assert_int_equal(put_s(o, FILLED, "never put", "now"), AL_OK);
	assert_val(o, FILLED, "never put", "now");

	/* Many keys: the tables grow and rehash, every value stays where it belongs. */
	size_t before = al__ov_bytes(o);
	for (int i = 0; i < 50000; i++) {
		char k[32], val[32];
		snprintf(k, sizeof k, "key%d", i);
		snprintf(val, sizeof val, "value %d", i * 7);
		assert_int_equal(put_s(o, i % 2 ? EMPTY : FILLED, k, val), AL_OK);
	}
	for (int i = 0; i < 50000; i++) {
		char k[32], val[32];
		snprintf(k, sizeof k, "key%d", i);
		snprintf(val, sizeof val, "value %d", i * 7);
		assert_val(o, i % 2 ? EMPTY : FILLED, k, val);
		if (i % 2 == 0)
			assert_int_equal(al__ov_get(o, EMPTY, k, strlen(k), &v), MDB_NOTFOUND);
	}
	assert_true(al__ov_bytes(o) > before);

	/* Clearing forgets everything; a view nothing was written into stays known empty. */
	al__ov_clear(o);
	assert_int_equal(al__ov_bytes(o), 0);
	assert_val(o, EMPTY, "a", NULL);
	assert_int_equal(al__ov_get(o, FILLED, "a", 1, &v), AL_OV_MISS);
	al__ov_free(o);
	al__ov_free(NULL);

	/* Empty keys and values, given as NULL, the first thing a new overlay holds. */
	assert_int_equal(al__ov_new(&o), AL_OK);
	assert_int_equal(al__ov_cover(o, FILLED, false), AL_OK);
	assert_int_equal(al__ov_cover(o, EMPTY, true), AL_OK);
	assert_int_equal(al__ov_del(o, FILLED, NULL, 0), AL_OK);
	assert_int_equal(al__ov_get(o, FILLED, NULL, 0, &v), MDB_NOTFOUND);
	assert_int_equal(al__ov_put(o, EMPTY, NULL, 0, NULL, 0), AL_OK);
	assert_int_equal(al__ov_get(o, EMPTY, NULL, 0, &v), 0);
	assert_int_equal(v.mv_size, 0);
	assert_int_equal(al__ov_range(o, EMPTY, NULL, 0, &it), AL_OK);
	MDB_val k;
	bool dead;
	assert_true(al__ov_next(&it, &k, &v, &dead));
	assert_int_equal(k.mv_size, 0);
	assert_false(al__ov_next(&it, &k, &v, &dead));
	al__ov_free(o);
}

/* LMDB's own order for the default comparator, from a real environment. */
static int lmdb_cmp(MDB_txn *txn, MDB_dbi dbi, const char *a, size_t an, const char *b, size_t bn)
{
	MDB_val x = {an, (void *)a}, y = {bn, (void *)b};
	int c = mdb_cmp(txn, dbi, &x, &y);
	return (c > 0) - (c < 0);
}

static void overlay_range_order(void **state)
{
	al_store *s = th_store(state);
	MDB_txn *txn;
	al_error err = {0};
	assert_int_equal(al__read_begin(s, &txn, &err), AL_OK);
	MDB_dbi users = al__view_dbi(s, AL_P_USERS, 0);
	/* Keys that share prefixes, differ only in length, hold NUL and bytes over 0x7f. */
	static const struct {
		const char *k;
		size_t n;
	} keys[] = {{"a", 1},		{"a\0x", 3},  {"a\0y", 3}, {"a\0", 2}, {"ab", 2},     {"b", 1},
		    {"\xff", 1},	{"", 0},      {"aaaaaaaaaaaaaaaa1", 17}, {"aaaaaaaaaaaaaaaa", 16},
		    {"aaaaaaaab", 9},	{"a\0x\0z", 5}};
	size_t nk = sizeof keys / sizeof *keys;
	for (size_t i = 0; i < nk; i++)
		for (size_t j = 0; j < nk; j++) {
			int c = al__key_cmp(keys[i].k, keys[i].n, keys[j].k, keys[j].n);
			assert_int_equal((c > 0) - (c < 0), lmdb_cmp(txn, users, keys[i].k, keys[i].n, keys[j].k, keys[j].n));
		}
	mdb_txn_abort(txn);

	al_ov *o;
	assert_int_equal(al__ov_new(&o), AL_OK);
	assert_int_equal(al__ov_cover(o, 9, false), AL_OK);
	/* Half the keys, a range (which sorts them), the other half, a range again: the newer
	 * keys are merged into the sorted ones. */
	for (size_t i = 0; i < nk; i += 2)
		assert_int_equal(al__ov_put(o, 9, keys[i].k, keys[i].n, "v", 1), AL_OK);
	al_ov_iter it;
	assert_int_equal(al__ov_range(o, 9, "", 0, &it), AL_OK);
	assert_true(it.lmdb);
	for (size_t i = 1; i < nk; i += 2)
		assert_int_equal(al__ov_put(o, 9, keys[i].k, keys[i].n, "v", 1), AL_OK);
	assert_int_equal(al__ov_del(o, 9, "ab", 2), AL_OK);
	assert_int_equal(al__ov_del(o, 9, "zz", 2), AL_OK); /* a tombstone only */
	assert_int_equal(al__ov_range(o, 9, "", 0, &it), AL_OK);
	MDB_val k, v, prev = {0, NULL};
	bool dead;
	size_t n = 0, ndead = 0;
	while (al__ov_next(&it, &k, &v, &dead)) {
		if (n++)
			assert_true(al__key_cmp(prev.mv_data, prev.mv_size, k.mv_data, k.mv_size) < 0);
		prev = k;
		ndead += dead;
		if (dead)
			assert_true((k.mv_size == 2 && memcmp(k.mv_data, "ab", 2) == 0) ||
				    (k.mv_size == 2 && memcmp(k.mv_data, "zz", 2) == 0));
	}
	assert_int_equal(n, nk + 1);
	assert_int_equal(ndead, 2);

	/* A prefix: exactly the keys that start with it, in order, tombstones flagged. */
	const char *want[] = {"a\0", "a\0x", "a\0x\0z", "a\0y"};
	const size_t wn[] = {2, 3, 5, 3};
	assert_int_equal(al__ov_range(o, 9, "a\0", 2, &it), AL_OK);
	for (size_t i = 0; i < 4; i++) {
		assert_true(al__ov_next(&it, &k, &v, &dead));
		assert_int_equal(k.mv_size, wn[i]);
		assert_memory_equal(k.mv_data, want[i], wn[i]);
		assert_false(dead);
	}
	assert_false(al__ov_next(&it, &k, &v, &dead));
	assert_int_equal(al__ov_range(o, 9, "nothing", 7, &it), AL_OK);
	assert_false(al__ov_next(&it, &k, &v, &dead));
	al__ov_free(o);
}

/* Many keys come out of a range in LMDB's order, however they share prefixes: a thousand
 * emails that differ only past the first eight bytes, a thousand keys equal as padded words
 * with the empty key among them (their shared prefix is empty), short keys, binary keys. */
static void overlay_sort_many(void **state)
{
	(void)state;
	al_ov *o;
	assert_int_equal(al__ov_new(&o), AL_OK);
	assert_int_equal(al__ov_cover(o, 9, true), AL_OK);
	enum { N = 8000 };
	static char keys[N][64];
	static size_t kn[N];
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < N; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (i % 4 == 0)
			kn[i] = (size_t)snprintf(keys[i], sizeof keys[i], "userAAAAAA%06llu@bench.example.com",
						 (unsigned long long)(x % 100000));
		else if (i % 4 == 1) { /* 8 NULs then two bytes; or up to 8 NULs (the empty key too) */
			memset(keys[i], 0, 10);
			kn[i] = x % 50 == 0 ? x / 50 % 9 : 10;
			keys[i][8] = (char)(x >> 8), keys[i][9] = (char)(x >> 16);
		} else if (i % 4 == 2)
			kn[i] = (size_t)snprintf(keys[i], sizeof keys[i], "u%llu", (unsigned long long)(x % 1000));
		else {
			kn[i] = 1 + (size_t)(x % 20);
			for (size_t j = 0; j < kn[i]; j++)
				keys[i][j] = (char)(x >> (j % 8 * 8));
		}
		assert_int_equal(al__ov_put(o, 9, keys[i], kn[i], "v", 1), AL_OK);
	}
	/* Each distinct key once, in order (the same key put twice is one entry). */
	size_t distinct = 0;
	for (size_t i = 0; i < N; i++) {
		size_t j = 0;
		while (j < i && (kn[j] != kn[i] || memcmp(keys[j], keys[i], kn[i]) != 0))
			j++;
		distinct += j == i;
	}
	al_ov_iter it;
	assert_int_equal(al__ov_range(o, 9, "", 0, &it), AL_OK);
	MDB_val k, v, prev = {0, NULL};
	bool dead;
	size_t n = 0;
	while (al__ov_next(&it, &k, &v, &dead)) {
		if (n++)
			assert_true(al__key_cmp(prev.mv_data, prev.mv_size, k.mv_data, k.mv_size) < 0);
		prev = k;
	}
	assert_int_equal(n, distinct);
	al__ov_free(o);
}

/* A large overlay's views sorted on another thread while the writer writes the ones before
 * (al__ov_presort), over several transactions: each view holds its rows, in order. */
typedef struct presort_ctx {
	al_ov *o;
	al_ov_pos pos, end;
} presort_ctx;

static int presort_write(al_wtxn *w, void *ctx, al_error *err)
{
	presort_ctx *p = ctx;
	p->end = p->pos; /* a rerun (the map grown) writes the same part again */
	return al__ov_write(p->o, w, &p->end, (size_t)1 << 20, err);
}

static void overlay_presorted_write(void **state)
{
	al_store *s = th_store(state);
	MDB_dbi dbis[] = {al__view_dbi(s, AL_P_FOLDERS, 0), al__view_dbi(s, AL_P_FOLDERS, 1),
			  al__view_dbi(s, AL_P_PRESETS, 0), al__view_dbi(s, AL_P_STORAGE, 1)};
	enum { NDB = 4, PER = 30000 }; /* more entries in all than the writer sorts by itself */
	al_ov *o;
	assert_int_equal(al__ov_new(&o), AL_OK);
	for (int d = 0; d < NDB; d++)
		assert_int_equal(al__ov_cover(o, dbis[d], true), AL_OK);
	uint64_t x = 2463534242ull;
	for (int i = 0; i < PER; i++)
		for (int d = 0; d < NDB; d++) {
			char k[32], v[32];
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			int kn = snprintf(k, sizeof k, "%d-key-%llu", d, (unsigned long long)(x % 100000000));
			int vn = snprintf(v, sizeof v, "value %d", i);
			assert_int_equal(al__ov_put(o, dbis[d], k, (size_t)kn, v, (size_t)vn), AL_OK);
		}
	size_t want[NDB];
	for (int d = 0; d < NDB; d++) {
		al_ov_iter it;
		MDB_val k, v;
		bool dead;
		want[d] = 0;
		if (d % 2 == 0) { /* two views sorted before: the thread merges nothing new in them */
			assert_int_equal(al__ov_range(o, dbis[d], "", 0, &it), AL_OK);
			while (al__ov_next(&it, &k, &v, &dead))
				want[d]++;
		}
	}
	al__ov_presort(o);
	presort_ctx p = {o, {0, 0}, {0, 0}};
	al_error err = {0};
	int writes = 0;
	do {
		assert_int_equal(al__store_write(s, presort_write, &p, &err), AL_OK);
		p.pos = p.end;
		writes++;
	} while (!al__ov_written(o, &p.pos));
	assert_true(writes > 1);
	al__ov_clear(o);
	MDB_txn *txn;
	assert_int_equal(al__read_begin(s, &txn, &err), AL_OK);
	for (int d = 0; d < NDB; d++) {
		MDB_cursor *c;
		MDB_val k, v, prev = {0, NULL};
		size_t n = 0;
		assert_int_equal(mdb_cursor_open(txn, dbis[d], &c), 0);
		for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (n++)
				assert_true(al__key_cmp(prev.mv_data, prev.mv_size, k.mv_data, k.mv_size) < 0);
			assert_int_equal(((const char *)k.mv_data)[0], '0' + d);
			prev = k;
		}
		mdb_cursor_close(c);
		assert_true(n > PER * 9 / 10); /* a few keys drawn twice */
		if (d % 2 == 0)
			assert_int_equal(n, want[d]);
	}
	mdb_txn_abort(txn);
	al__ov_free(o);
}

/* ---- the view helpers over it, in a write transaction -------------------------------------------------- */

static size_t keys_str(const al_keys *l, char *buf, size_t cap)
{
	size_t n = 0;
	buf[0] = 0;
	for (size_t i = 0; i < l->n && n + l->k[i].mv_size + 2 < cap; i++) {
		for (size_t j = 0; j < l->k[i].mv_size; j++) {
			char ch = ((const char *)l->k[i].mv_data)[j];
			buf[n++] = ch ? ch : '|';
		}
		buf[n++] = ',';
		buf[n] = 0;
	}
	return n;
}

static void assert_keys(const al_view *v, int db, const char *prefix, size_t pn, const char *want)
{
	al_keys l;
	al_error err = {0};
	char got[512];
	assert_int_equal(al__view_keys(v, db, prefix, pn, &l, &err), AL_OK);
	keys_str(&l, got, sizeof got);
	assert_string_equal(got, want);
}

static void assert_view(const al_view *v, int db, const char *k, size_t kn, const char *want)
{
	MDB_val val;
	int rc = al__view_get(v, db, k, kn, &val);
	if (want == NULL) {
		assert_int_equal(rc, MDB_NOTFOUND);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(val.mv_size, strlen(want));
	assert_memory_equal(val.mv_data, want, val.mv_size);
}

enum { DB_INSTALLED = 2 }; /* images' v_image_installed: composite "a" agent NUL image keys */

static int views_fn(al_wtxn *w, void *ctx, al_error *err)
{
	(void)ctx;
	al_view v = {w, w->txn, w->s->views[AL_P_IMAGES]};
	/* Rows in LMDB first, written past any overlay. */
	static const char *const lmdb_rows[] = {"a1\0img1", "a1\0img2", "a1\0img3", "a2\0img1", "a1"};
	static const size_t lens[] = {7, 7, 7, 7, 2};
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(al__view_put(&v, DB_INSTALLED, lmdb_rows[i], lens[i], "lmdb", 4, err), AL_OK);
	assert_keys(&v, DB_INSTALLED, "a1\0", 3, "a1|img1,a1|img2,a1|img3,");

	al_ov *o;
	assert_int_equal(al__ov_new(&o), AL_OK);
	assert_int_equal(al__ov_cover(o, w->s->views[AL_P_IMAGES][DB_INSTALLED], false), AL_OK);
	w->ov = o;
	assert_int_equal(al__view_del(&v, DB_INSTALLED, "a1\0img2", 7, err), AL_OK);   /* hides an LMDB row */
	assert_int_equal(al__view_put(&v, DB_INSTALLED, "a1\0img0", 7, "ov", 2, err), AL_OK); /* new */
	assert_int_equal(al__view_put(&v, DB_INSTALLED, "a1\0img3", 7, "ov3", 3, err), AL_OK); /* over LMDB's */
	assert_int_equal(al__view_put(&v, DB_INSTALLED, "a1\0img4", 7, "gone", 4, err), AL_OK);
	assert_int_equal(al__view_del(&v, DB_INSTALLED, "a1\0img4", 7, err), AL_OK); /* overlay only */
	assert_int_equal(al__view_put(&v, DB_INSTALLED, "a2\0img0", 7, "ov", 2, err), AL_OK);
	assert_keys(&v, DB_INSTALLED, "a1\0", 3, "a1|img0,a1|img1,a1|img3,");
	assert_keys(&v, DB_INSTALLED, "a2\0", 3, "a2|img0,a2|img1,");
	assert_keys(&v, DB_INSTALLED, "a", 1, "a1,a1|img0,a1|img1,a1|img3,a2|img0,a2|img1,");
	assert_keys(&v, DB_INSTALLED, "a3\0", 3, "");
	assert_view(&v, DB_INSTALLED, "a1\0img2", 7, NULL);
	assert_view(&v, DB_INSTALLED, "a1\0img4", 7, NULL);
	assert_view(&v, DB_INSTALLED, "a1\0img1", 7, "lmdb"); /* not in the overlay: LMDB's */
	assert_view(&v, DB_INSTALLED, "a1\0img3", 7, "ov3");
	/* The images projection's other views are not covered: straight to LMDB. */
	assert_int_equal(al__view_put(&v, 0, "img", 3, "row", 3, err), AL_OK);
	w->ov = NULL;
	assert_view(&v, 0, "img", 3, "row");
	assert_view(&v, DB_INSTALLED, "a1\0img3", 7, "lmdb"); /* LMDB has not seen the overlay yet */

	/* Written out a few rows per call, then LMDB alone says the same. */
	al_ov_pos pos = {0, 0};
	int calls = 0;
	while (!al__ov_written(o, &pos)) {
		assert_int_equal(al__ov_write(o, w, &pos, 1, err), AL_OK);
		calls++;
	}
	assert_true(calls >= 3);
	assert_keys(&v, DB_INSTALLED, "a1\0", 3, "a1|img0,a1|img1,a1|img3,");
	assert_keys(&v, DB_INSTALLED, "a2\0", 3, "a2|img0,a2|img1,");
	assert_view(&v, DB_INSTALLED, "a1\0img3", 7, "ov3");
	assert_view(&v, DB_INSTALLED, "a1\0img2", 7, NULL);
	al__ov_free(o);
	return AL_OK;
}

static void view_helpers(void **state)
{
	al_error err = {0};
	assert_int_equal(al__store_write(th_store(state), views_fn, NULL, &err), AL_OK);
}

/* ---- a log of every kind of view change -------------------------------------------------------------- */

typedef struct rng {
	uint64_t s;
} rng;

static unsigned rnd(rng *r, unsigned n)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return (unsigned)((r->s * 0x2545F4914F6CDD1DULL) >> 33) % n;
}

#define NUSERS 24
#define NAGENTS 5

/* Users, keypairs, resource groups and their associations, agents and their installed
 * images (the two views apply functions scan), created, changed and deleted at random. */
static void build_log(al_store *s, uint64_t seed, int rounds)
{
	rng r = {seed};
	char ak[NUSERS][64] = {{0}};
	assert_int_equal(th_run(s, "domain.create", "name", 's', "alpha", NULL), AL_OK);
	for (int i = 0; i < 3; i++) {
		char g[16];
		snprintf(g, sizeof g, "g%d", i);
		assert_int_equal(th_run(s, "rgroup.create", "name", 's', g, NULL), AL_OK);
	}
	for (int u = 0; u < NUSERS; u++) {
		char email[64];
		snprintf(email, sizeof email, "u%02d@x.io", u);
		assert_int_equal(th_user(s, email, u % 2 ? "alpha" : "default", "user"), AL_OK);
	}
	static const char *const images[] = {"cr.io/a/b:1", "cr.io/a/b:2", "cr.io/a/c:1", "cr.io/z/q:9"};
	for (int i = 0; i < rounds; i++) {
		char email[64], id[16], g[16], text[64], list[128] = "";
		int u = (int)rnd(&r, NUSERS);
		snprintf(email, sizeof email, "u%02d@x.io", u);
		snprintf(id, sizeof id, "ag%u", rnd(&r, NAGENTS));
		snprintf(g, sizeof g, "g%u", rnd(&r, 3));
		snprintf(text, sizeof text, "text %d %u", i, rnd(&r, 1000));
		al_reply rep;
		switch (rnd(&r, 10)) {
		case 0:
		case 1: th_run(s, "user.update", "email", 's', email, "full_name", 's', text, NULL); break;
		case 2: th_run(s, rnd(&r, 2) ? "user.deactivate" : "user.activate", "email", 's', email, NULL); break;
		case 3:
			if (ak[u][0] == 0) {
				if (th_exec(s, &rep, "keypair.create", "user", 's', email, NULL) == AL_OK)
					snprintf(ak[u], sizeof ak[u], "%s", th_res_str(&rep, "access_key"));
				al_reply_free(&rep);
			} else if (th_run(s, "keypair.delete", "access_key", 's', ak[u], NULL) == AL_OK) {
				ak[u][0] = 0;
			}
			break;
		case 4:
			if (ak[u][0])
				th_run(s, rnd(&r, 3) ? "rgroup.associate" : "rgroup.dissociate", "name", 's', g, "keypair", 's',
				       ak[u], NULL);
			break;
		case 5:
			th_run(s, rnd(&r, 3) ? "rgroup.associate" : "rgroup.dissociate", "name", 's', g, "domain", 's',
			       "alpha", NULL);
			break;
		case 6:
			if (th_run(s, "rgroup.delete", "name", 's', g, NULL) == AL_OK)
				assert_int_equal(th_run(s, "rgroup.create", "name", 's', g, NULL), AL_OK);
			break;
		case 7:
		case 8:
			for (unsigned m = rnd(&r, 16), j = 0; j < 4; j++)
				if (m >> j & 1)
					snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? "," : "",
						 images[j]);
			th_run(s, "agent.heartbeat", "id", 's', id, "addr", 's', "10.0.0.1:6001", "available", 's',
			       "cpu=8,mem=32g", "images", 'l', list, NULL);
			break;
		default: th_run(s, "agent.terminate", "id", 's', id, NULL); break;
		}
	}
}

/* ---- a rebuild that writes its overlay out many times -------------------------------------------------- */

size_t al__map_full_retries(void); /* store.c: transactions rerun after MDB_MAP_FULL */

static void rebuild_spills(void **state)
{
	al_store *s = th_store(state);
	build_log(s, 0x5eed0001u, 600);
	char live[33], got[33];
	al_error err = {0};
	th_digest(s, live);
	print_message("# %llu events\n", (unsigned long long)al_log_head(s));

	al_fold_limits saved = al__fold_limits;
	unsigned long writes = al__fold_writes;
	size_t retries = al__map_full_retries();
	al__fold_limits = (al_fold_limits){24 << 10, 1 << 10};
	int rc = al_store_rebuild(s, NULL, NULL, &err);
	al__fold_limits = saved;
	assert_int_equal(rc, AL_OK);
	assert_int_equal(al__map_full_retries(), retries); /* nothing ran twice after MDB_MAP_FULL */
	th_digest(s, got);
	assert_string_equal(got, live);
	print_message("# tiny budget: %lu write transactions\n", al__fold_writes - writes);
	assert_true(al__fold_writes - writes > 10);
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);

	/* The default budget: one write. */
	writes = al__fold_writes;
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	assert_int_equal(al__fold_writes - writes, 1);
	th_digest(s, got);
	assert_string_equal(got, live);
}

/* ---- a rebuild interrupted at every LMDB call ------------------------------------------------------- */

typedef struct logged {
	int incomplete, behind, version;
} logged;

static void count_log(void *ctx, int level, const char *msg)
{
	logged *l = ctx;
	(void)level;
	l->incomplete += strstr(msg, "is incomplete") != NULL;
	l->behind += strstr(msg, "catching up") != NULL;
	l->version += strstr(msg, "code is") != NULL;
}

static al_store *reopen(const char *dir, logged *l)
{
	al_store *s;
	al_error err = {0};
	al_open_opts o = {AL_OPEN_NOSYNC, 0, NULL, count_log, l};
	if (al_store_open(&s, dir, &o, &err) != AL_OK)
		fail_msg("reopen: %s", err.msg);
	return s;
}

/* Every projection whose cursor says it is whole at the head must equal the live views. */
static void assert_no_false_complete(al_store *s, uint8_t live[][16], int *whole)
{
	MDB_txn *txn;
	al_error err = {0};
	uint64_t head = al_log_head(s);
	assert_int_equal(al__read_begin(s, &txn, &err), AL_OK);
	for (size_t p = 0; p < al__nprojections; p++) {
		char k[64];
		MDB_val key = {(size_t)snprintf(k, sizeof k, "proj/%s", al__projections[p]->name), k}, v;
		assert_int_equal(mdb_get(txn, s->meta, &key, &v), 0);
		assert_int_equal(v.mv_size, 12);
		if (al__get_be32(v.mv_data) != al__projections[p]->version ||
		    al__get_be64((const unsigned char *)v.mv_data + 4) != head)
			continue;
		uint8_t d[16];
		assert_int_equal(al__proj_digest(s, txn, (int)p, d, &err), AL_OK);
		if (memcmp(d, live[p], 16) != 0)
			fail_msg("view %s says it is at the head but differs from the live one", al__projections[p]->name);
		(*whole)++;
	}
	mdb_txn_abort(txn);
}

static void rebuild_interrupted(void **state)
{
	th_fx *f = *state;
	build_log(f->s, 0x5eed0002u, 150);
	char live[33], got[33];
	uint8_t live_p[AL_P__COUNT][16];
	al_error err = {0};
	th_digest(f->s, live);
	MDB_txn *txn;
	assert_int_equal(al__read_begin(f->s, &txn, &err), AL_OK);
	for (size_t p = 0; p < al__nprojections; p++)
		assert_int_equal(al__proj_digest(f->s, txn, (int)p, live_p[p], &err), AL_OK);
	mdb_txn_abort(txn);

	al_fold_limits saved = al__fold_limits;
	al__fold_limits = (al_fold_limits){24 << 10, 1 << 10};
	unsigned long writes = al__fold_writes;
	al_fault_set(AL_FAULT_LMDB, LONG_MAX);
	assert_int_equal(al_store_rebuild(f->s, NULL, NULL, &err), AL_OK);
	long points = al_fault_count(AL_FAULT_LMDB);
	al_fault_set(AL_FAULT_LMDB, 0);
	print_message("# %llu events, %ld LMDB calls and %lu write transactions in a rebuild\n",
		      (unsigned long long)al_log_head(f->s), points, al__fold_writes - writes);

	/* Every call of the first 40 (before the first write), then a spread over the rest: any
	 * failing call inside a transaction ends as its failed commit would, so what counts is
	 * how many transactions committed before it, which the spread samples densely. */
	logged l = {0};
	int whole = 0;
	long step = points / 160 + 1;
	for (long n = 1; n <= points; n += n < 40 ? 1 : step) {
		al_fault_set(AL_FAULT_LMDB, -n); /* this call and every later one fail: a crash there */
		int rc = al_store_rebuild(f->s, NULL, NULL, &err);
		al_fault_set(AL_FAULT_LMDB, 0);
		if (rc != AL_EIO_ERROR)
			fail_msg("LMDB call %ld failing: rebuild answered %s", n, al_err_name(rc));
		assert_no_false_complete(f->s, live_p, &whole);
		al_store_close(f->s);
		f->s = reopen(f->dir, &l); /* catches up, or rebuilds what is marked incomplete */
		th_digest(f->s, got);
		if (strcmp(got, live) != 0)
			fail_msg("LMDB call %ld failing: the reopened store's views differ from the live ones", n);
	}
	al__fold_limits = saved;
	print_message("# reopens: %d rebuilt an incomplete view, %d caught up; %d whole views checked\n", l.incomplete,
		      l.behind, whole);
	assert_true(l.incomplete > 0); /* interrupted between two of a write's transactions */
	assert_true(l.behind > 0);     /* interrupted after a whole write, before the next */
	assert_int_equal(l.version, 0);
	assert_int_equal(al_store_verify(f->s, NULL, NULL, &err), AL_OK);
}

/* A view whose code changed is rebuilt on open through the same fold, spilling too. */
static void version_change_rebuilds(void **state)
{
	th_fx *f = *state;
	build_log(f->s, 0x5eed0003u, 200);
	char live[33], got[33];
	th_digest(f->s, live);
	al_store_close(f->s);
	f->s = NULL;
	{
		th_raw r;
		th_raw_open(&r, f->dir, 0);
		MDB_txn *txn = r.txn;
		MDB_dbi meta = th_raw_db(&r, "meta", 0);
		MDB_val k = {11, "proj/images"}, v;
		assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
		unsigned char c[12];
		memcpy(c, v.mv_data, 12);
		al__be32(c, al__proj_images.version + 1);
		v = (MDB_val){12, c};
		assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
		th_raw_close(&r, true);
	}
	al_fold_limits saved = al__fold_limits;
	al__fold_limits = (al_fold_limits){24 << 10, 1 << 10};
	logged l = {0};
	f->s = reopen(f->dir, &l);
	al__fold_limits = saved;
	assert_int_equal(l.version, 1);
	th_digest(f->s, got);
	assert_string_equal(got, live);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(overlay_get_put_del),
		cmocka_unit_test_setup_teardown(overlay_range_order, th_setup, th_teardown),
		cmocka_unit_test(overlay_sort_many),
		cmocka_unit_test_setup_teardown(overlay_presorted_write, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(view_helpers, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(rebuild_spills, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(rebuild_interrupted, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(version_change_rebuilds, th_setup, th_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
