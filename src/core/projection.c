/* projection.c - the projection engine: registry, live apply, catch-up, rebuild, digest. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "core/log.h"
#include "core/record.h"
#include "core/rowcache.h"
#include "core/store.h"

const al_projection *const al__projections[] = {
	[AL_P_SETTINGS] = &al__proj_settings,
	[AL_P_DOMAINS] = &al__proj_domains,
	[AL_P_USERS] = &al__proj_users,
	[AL_P_POLICIES] = &al__proj_policies,
	[AL_P_KEYPAIRS] = &al__proj_keypairs,
	[AL_P_PROJECTS] = &al__proj_projects,
	[AL_P_TOTP] = &al__proj_totp,
	[AL_P_RGROUPS] = &al__proj_rgroups,
	[AL_P_AGENTS] = &al__proj_agents,
	[AL_P_REGISTRIES] = &al__proj_registries,
	[AL_P_IMAGES] = &al__proj_images,
	[AL_P_PRESETS] = &al__proj_presets,
	[AL_P_STORAGE] = &al__proj_storage,
	[AL_P_FOLDERS] = &al__proj_folders,
};
const size_t al__nprojections = AL_P__COUNT;

#define FOLD_CHUNK 65536 /* events per transaction while folding */

MDB_dbi al__view_dbi(const al_store *s, enum al_proj_id p, int db) { return s->views[p][db]; }

int al__proj_open_dbs(al_store *s, MDB_txn *txn, al_error *err)
{
	unsigned create = (s->flags & AL_OPEN_RDONLY) ? 0 : MDB_CREATE;
	for (size_t p = 0; p < al__nprojections; p++)
		for (int d = 0; al__projections[p]->dbs[d]; d++) {
			int rc = mdb_dbi_open(txn, al__projections[p]->dbs[d], create, &s->views[p][d]);
			if (rc == MDB_NOTFOUND) /* read-only, and this build's view was never built here */
				return al_err(err, AL_ENOT_FOUND, "view %s is not built yet: open the directory writable once",
					      al__projections[p]->dbs[d]);
			if (rc)
				return al_err(err, AL_EIO_ERROR, "open view %s: %s", al__projections[p]->dbs[d],
					      mdb_strerror(rc));
		}
	return AL_OK;
}

/* ---- cursors in meta: "proj/<name>" -> version(4) cursor(8) ----------------------------------- */

static size_t cursor_key(char *buf, size_t n, const al_projection *p)
{
	return (size_t)snprintf(buf, n, "proj/%s", p->name);
}

uint64_t al__proj_cursor_at(uint64_t stored, uint64_t head) { return stored == AL_CURSOR_AT_HEAD ? head : stored; }

static int read_cursor(al_store *s, MDB_txn *txn, int p, unsigned *ver, uint64_t *cursor)
{
	char k[64];
	MDB_val key = {cursor_key(k, sizeof k, al__projections[p]), k}, v;
	*ver = 0;
	*cursor = 0;
	int rc = mdb_get(txn, s->meta, &key, &v);
	if (rc == 0 && v.mv_size == 12) {
		*ver = al__get_be32(v.mv_data);
		*cursor = al__get_be64((const unsigned char *)v.mv_data + 4);
	}
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int write_cursor(al_wtxn *w, int p, uint64_t cursor, al_error *err)
{
	char k[64];
	w->s->cursors_at_head = false; /* until a commit writes the markers again */
	unsigned char v[12];
	al__be32(v, al__projections[p]->version);
	al__be64(v + 4, cursor);
	return al__put(w, w->s->meta, k, cursor_key(k, sizeof k, al__projections[p]), v, sizeof v, 0, err);
}

int al__proj_save_cursors(al_wtxn *w, al_error *err)
{
	if (w->s->cursors_at_head) /* the stored markers already say "at the head" */
		return AL_OK;
	for (size_t p = 0; p < al__nprojections; p++) {
		int rc = write_cursor(w, (int)p, AL_CURSOR_AT_HEAD, err);
		if (rc)
			return rc;
	}
	w->cursors_marked = true;
	return AL_OK;
}

static int reset_one(al_wtxn *w, int p, al_error *err)
{
	al__rc_reset(w); /* the dropped rows may be cached */
	for (int d = 0; al__projections[p]->dbs[d]; d++) {
		int rc = mdb_drop(w->txn, w->s->views[p][d], 0);
		if (rc)
			return al__mdb(w, rc, err, "drop view");
	}
	return write_cursor(w, p, 0, err);
}

int al__proj_reset_all(al_wtxn *w, al_error *err)
{
	for (size_t p = 0; p < al__nprojections; p++) {
		int rc = reset_one(w, (int)p, err);
		if (rc)
			return rc;
	}
	return AL_OK;
}

/* ---- apply --------------------------------------------------------------------------------------- */

/* Which projections read each event type (bit p for projection p), from their `on` lists. */
static uint16_t readers[AL_EV__COUNT];
static pthread_once_t readers_once = PTHREAD_ONCE_INIT;

static void readers_init(void)
{
	_Static_assert(AL_P__COUNT <= 16, "readers[] holds one bit per projection");
	for (size_t p = 0; p < al__nprojections; p++)
		for (const enum al_ev_id *t = al__projections[p]->on; *t != AL_EV__COUNT; t++)
			readers[*t] |= (uint16_t)(1u << p);
}

uint16_t al__proj_readers(const al_event_def *d)
{
	pthread_once(&readers_once, readers_init);
	return readers[d - al__ev(0)];
}

int al__proj_apply_only(al_wtxn *w, int only, const al_event *e, al_error *err)
{
	uint16_t mask = al__proj_readers(e->def);
	if (only >= 0)
		mask &= (uint16_t)(1u << only);
	for (size_t p = 0; mask; p++, mask >>= 1) {
		if (!(mask & 1))
			continue;
		al_view v = {w, w->txn, w->s->views[p]};
		int rc = al__projections[p]->apply(&v, e, err);
		if (rc)
			return rc;
	}
	return AL_OK;
}

int al__proj_apply(al_wtxn *w, const al_event *e, al_error *err)
{
	return al__proj_apply_only(w, -1, e, err);
}

size_t al__key2(char *buf, size_t cap, char tag, al_str a, al_str b)
{
	size_t t = tag ? 1 : 0, n = t + a.n + 1 + b.n;
	if (n > cap || n > 511)
		return 0;
	if (tag)
		buf[0] = tag;
	memcpy(buf + t, a.p, a.n);
	buf[t + a.n] = 0;
	memcpy(buf + t + a.n + 1, b.p, b.n);
	return n;
}

int al__view_get(const al_view *v, int db, const void *k, size_t kn, MDB_val *out)
{
	MDB_val key = {kn, (void *)k};
	int rc = mdb_get(v->txn, v->dbi[db], &key, out);
	if (rc && rc != MDB_NOTFOUND) /* the transaction's failure, whatever apply makes of it */
		al__mdb(v->w, rc, NULL, "read view");
	return rc;
}

/* Where every view write goes. */
static int view_write(const al_view *v, int db, const void *k, size_t kn, const void *val, size_t vn, al_error *err)
{
	return al__put(v->w, v->dbi[db], k, kn, val, vn, 0, err);
}

int al__view_put(const al_view *v, int db, const void *k, size_t kn, const void *val, size_t vn,
		 al_error *err)
{
	al__rc_forget(v->w, v->dbi[db], k, kn);
	return view_write(v, db, k, kn, val, vn, err);
}

int al__view_put_row(const al_view *v, int db, const void *k, size_t kn, const void *val, size_t vn,
		     const al_row_def *d, const void *row, al_error *err)
{
	/* Cached first: the row's strings may point into the page the put rewrites. */
	al__rc_put(v->w, v->dbi[db], (al_str){k, kn}, d, row);
	int rc = view_write(v, db, k, kn, val, vn, err);
	if (rc)
		al__rc_forget(v->w, v->dbi[db], k, kn);
	return rc;
}

msgpack_sbuffer *al__view_row(const al_view *v, msgpack_packer *pk)
{
	msgpack_sbuffer *b = &v->w->vb;
	b->size = 0;
	msgpack_packer_init(pk, b, al_sbuffer_write);
	return b;
}

int al__view_del(const al_view *v, int db, const void *k, size_t kn, al_error *err)
{
	al__rc_forget(v->w, v->dbi[db], k, kn);
	return al__del(v->w, v->dbi[db], k, kn, err);
}

/* ---- folding the log into views ------------------------------------------------------------------- */

typedef struct fold_ctx {
	int only;
	bool reset;        /* drop the views first, in the same transaction */
	uint64_t from, to; /* apply events [from, to] */
} fold_ctx;

static int fold_chunk(al_wtxn *w, void *ctx, al_error *err)
{
	fold_ctx *f = ctx;
	int rc = !f->reset ? AL_OK : f->only < 0 ? al__proj_reset_all(w, err) : reset_one(w, f->only, err);
	if (rc || f->from > f->to)
		return rc; /* nothing to fold: an empty log */
	MDB_cursor *c;
	rc = mdb_cursor_open(w->txn, w->s->events, &c);
	if (rc)
		return al__mdb(w, rc, err, "open cursor");
	unsigned char k[8];
	al__be64(k, f->from);
	MDB_val key = {8, k}, val;
	uint64_t seq = f->from;
	int mrc = mdb_cursor_get(c, &key, &val, MDB_SET_KEY);
	for (; seq <= f->to && mrc == 0 && rc == AL_OK; seq++) {
		if (key.mv_size != 8 || al__get_be64(key.mv_data) != seq)
			break; /* a gap: reported below as a missing event */
		al_rec_header h;
		al_event e;
		msgpack_zone_clear(&w->zone);
		rc = al__rec_open(val.mv_data, val.mv_size, seq, &h, err);
		if (rc == AL_OK)
			rc = al__event_decode(&h, (const char *)val.mv_data + AL_REC_HEADER, seq, &w->zone, &e, err);
		if (rc == AL_OK)
			rc = al__proj_apply_only(w, f->only, &e, err);
		if (rc == AL_OK && seq < f->to)
			mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc)
		return rc;
	if (mrc && mrc != MDB_NOTFOUND)
		return al__mdb(w, mrc, err, "read log");
	if (seq <= f->to)
		return al_err(err, AL_ECORRUPT, "event %llu is missing from the log", (unsigned long long)seq);
	for (size_t p = 0; p < al__nprojections; p++)
		if (f->only < 0 || (size_t)f->only == p) {
			rc = write_cursor(w, (int)p, f->to, err);
			if (rc)
				return rc;
		}
	return AL_OK;
}

static int fold(al_store *s, int only, bool reset, uint64_t after_seq, uint64_t until_seq,
		al_progress_fn progress, void *pctx, al_error *err)
{
	for (uint64_t from = after_seq + 1; from <= until_seq || reset; from += FOLD_CHUNK) {
		fold_ctx f = {only, reset, from, from + FOLD_CHUNK - 1 < until_seq ? from + FOLD_CHUNK - 1 : until_seq};
		int rc = al__store_write(s, fold_chunk, &f, err);
		if (rc)
			return rc;
		reset = false;
		if (progress && f.from <= f.to)
			progress(f.to - after_seq, until_seq - after_seq, pctx);
	}
	return AL_OK;
}

int al__proj_fold(al_store *s, int only, uint64_t after_seq, uint64_t until_seq,
		  al_progress_fn progress, void *pctx, al_error *err)
{
	return fold(s, only, false, after_seq, until_seq, progress, pctx, err);
}

int al__proj_rebuild(al_store *s, int only, uint64_t until_seq, al_progress_fn progress, void *pctx,
		     al_error *err)
{
	return fold(s, only, true, 0, until_seq, progress, pctx, err);
}

static int reset_ctx(al_wtxn *w, void *ctx, al_error *err)
{
	int only = *(int *)ctx;
	return only < 0 ? al__proj_reset_all(w, err) : reset_one(w, only, err);
}

int al__proj_catch_up(al_store *s, al_error *err)
{
	MDB_txn *txn;
	int rc = al__read_begin(s, &txn, err);
	if (rc)
		return rc;
	uint64_t head;
	unsigned ver[AL_PROJ_MAX];
	uint64_t cur[AL_PROJ_MAX];
	int hrc = al__log_head_in(s, txn, &head, err);
	for (size_t p = 0; p < al__nprojections && rc == 0 && hrc == 0; p++) {
		rc = read_cursor(s, txn, (int)p, &ver[p], &cur[p]);
		cur[p] = al__proj_cursor_at(cur[p], head);
	}
	mdb_txn_abort(txn);
	if (hrc)
		return hrc;
	if (rc)
		return al_err(err, AL_EIO_ERROR, "read projection cursors: %s", mdb_strerror(rc));
	for (size_t p = 0; p < al__nprojections; p++) {
		const al_projection *pr = al__projections[p];
		int only = (int)p;
		if (ver[p] != pr->version && (head > 0 || cur[p] > 0 || ver[p] != 0)) {
			al__log(s, AL_LOG_WARN, "view %s is version %u, code is %u: rebuilding from %llu events",
				pr->name, ver[p], pr->version, (unsigned long long)head);
			rc = al__store_write(s, reset_ctx, &only, err);
			cur[p] = 0;
		} else if (cur[p] < head) {
			al__log(s, AL_LOG_INFO, "view %s is at event %llu of %llu: catching up", pr->name,
				(unsigned long long)cur[p], (unsigned long long)head);
		}
		if (rc == AL_OK && cur[p] < head)
			rc = al__proj_fold(s, only, cur[p], head, NULL, NULL, err);
		if (rc)
			return rc;
	}
	return AL_OK;
}

/* ---- digest ------------------------------------------------------------------------------------------- */

static int digest_db(XXH3_state_t *st, MDB_txn *txn, MDB_dbi dbi, const char *name, al_error *err)
{
	XXH3_128bits_update(st, name, strlen(name) + 1);
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc)
		return al_err(err, AL_EIO_ERROR, "read view %s: %s", name, mdb_strerror(rc));
	MDB_val k, v;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		unsigned char len[8];
		al__be32(len, (uint32_t)k.mv_size);
		al__be32(len + 4, (uint32_t)v.mv_size);
		XXH3_128bits_update(st, len, sizeof len);
		XXH3_128bits_update(st, k.mv_data, k.mv_size);
		XXH3_128bits_update(st, v.mv_data, v.mv_size);
	}
	mdb_cursor_close(c);
	return al__cursor_end(rc, err, name);
}

int al__proj_digest(al_store *s, MDB_txn *txn, int only, uint8_t out[16], al_error *err)
{
	XXH3_state_t st;
	XXH3_128bits_reset(&st);
	for (size_t p = 0; p < al__nprojections; p++)
		if (only < 0 || (size_t)only == p)
			for (int d = 0; al__projections[p]->dbs[d]; d++) {
				int rc = digest_db(&st, txn, s->views[p][d], al__projections[p]->dbs[d], err);
				if (rc)
					return rc;
			}
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
	memcpy(out, c.digest, 16);
	return AL_OK;
}

int al_store_digest(al_store *s, uint8_t out[16], al_error *err)
{
	MDB_txn *txn;
	int rc = al__read_begin(s, &txn, err);
	if (rc)
		return rc;
	rc = al__proj_digest(s, txn, -1, out, err);
	mdb_txn_abort(txn);
	return rc;
}
