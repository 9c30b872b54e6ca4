/* projection.c - the projection engine: registry, live apply, catch-up, rebuild, digest. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "core/fold_decode.h"
#include "core/foldrows.h"
#include "core/log.h"
#include "core/overlay.h"
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
	[AL_P_SESSIONS] = &al__proj_sessions,
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

static int drop_views(al_wtxn *w, int p, al_error *err)
{
	al__rc_reset(w); /* the dropped rows may be cached */
	for (int d = 0; al__projections[p]->dbs[d]; d++) {
		int rc = mdb_drop(w->txn, w->s->views[p][d], 0);
		if (rc)
			return al__mdb(w, rc, err, "drop view");
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

/* An untyped access of a key a fold holds decoded (foldrows.h): the row goes back into the
 * overlay first. 0, or an al_ code (out of memory). */
static int untyped(const al_view *v, int db, const void *k, size_t kn)
{
	return v->w->fr ? al__fr_sync(v->w->fr, v->w->ov, v->dbi[db], k, kn) : AL_OK;
}

int al__view_get(const al_view *v, int db, const void *k, size_t kn, MDB_val *out)
{
	if (untyped(v, db, k, kn)) { /* a failed read to the caller; no_memory for the transaction */
		al_error e;
		al_err(&e, AL_ENO_MEMORY, "out of memory folding a view");
		al__poison(v->w, &e);
		return MDB_PANIC;
	}
	if (v->w->ov) {
		int rc = al__ov_get(v->w->ov, v->dbi[db], k, kn, out);
		if (rc != AL_OV_MISS)
			return rc;
	}
	MDB_val key = {kn, (void *)k};
	int rc = mdb_get(v->txn, v->dbi[db], &key, out);
	if (rc && rc != MDB_NOTFOUND) /* the transaction's failure, whatever apply makes of it */
		al__mdb(v->w, rc, NULL, "read view");
	return rc;
}

/* Where every view write goes: a fold's overlay, else LMDB. */
static int view_write(const al_view *v, int db, const void *k, size_t kn, const void *val, size_t vn, al_error *err)
{
	int rc = v->w->ov ? al__ov_put(v->w->ov, v->dbi[db], k, kn, val, vn) : AL_OV_MISS;
	if (rc != AL_OV_MISS)
		return rc ? al_err(err, rc, "out of memory") : AL_OK;
	return al__put(v->w, v->dbi[db], k, kn, val, vn, 0, err);
}

int al__view_put(const al_view *v, int db, const void *k, size_t kn, const void *val, size_t vn,
		 al_error *err)
{
	al__rc_forget(v->w, v->dbi[db], k, kn);
	if (untyped(v, db, k, kn))
		return al_err(err, AL_ENO_MEMORY, "out of memory");
	return view_write(v, db, k, kn, val, vn, err);
}

int al__view_put_row(const al_view *v, int db, const void *k, size_t kn, const void *val, size_t vn,
		     const al_row_def *d, const void *row, al_error *err)
{
	/* Cached first: the row's strings may point into the page the put rewrites. A fold keeps
	 * its rows in the overlay instead: caching them there would only cost. */
	if (v->w->ov)
		al__rc_forget(v->w, v->dbi[db], k, kn);
	else
		al__rc_put(v->w, v->dbi[db], (al_str){k, kn}, d, row);
	int rc = view_write(v, db, k, kn, val, vn, err);
	if (rc)
		al__rc_forget(v->w, v->dbi[db], k, kn);
	return rc;
}

int al__view_get_typed(const al_view *v, int db, const void *k, size_t kn, const al_row_def *d, void *row)
{
	al_wtxn *w = v->w;
	if (w->fr ? al__fr_get(w->fr, v->dbi[db], k, kn, d, row) : al__rc_get(w, v->dbi[db], (al_str){k, kn}, d, row))
		return 0;
	MDB_val val;
	int rc = al__view_get(v, db, k, kn, &val);
	if (rc)
		return rc;
	if (al_row_decode(d, val.mv_data, val.mv_size, &w->zone, row) != 0)
		return -1;
	if (w->fr && al__fr_put(w->fr, v->dbi[db], k, kn, d, row, false) != AL_OK)
		return -1;
	return 0;
}

int al__view_put_typed(const al_view *v, int db, const void *k, size_t kn, const al_row_def *d, const void *row,
		       al_error *err)
{
	if (v->w->fr) { /* a fold: packed once, when the overlay is written or measured */
		al__rc_forget(v->w, v->dbi[db], k, kn);
		int rc = al__fr_put(v->w->fr, v->dbi[db], k, kn, d, row, true);
		return rc ? al_err(err, rc, "out of memory folding a view") : AL_OK;
	}
	msgpack_packer pk;
	msgpack_sbuffer *b = al__view_row(v, &pk);
	al_row_pack(&pk, d, row);
	return al__view_put_row(v, db, k, kn, b->data, b->size, d, row, err);
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
	if (untyped(v, db, k, kn))
		return al_err(err, AL_ENO_MEMORY, "out of memory");
	int rc = v->w->ov ? al__ov_del(v->w->ov, v->dbi[db], k, kn) : AL_OV_MISS;
	if (rc != AL_OV_MISS)
		return rc ? al_err(err, rc, "out of memory") : AL_OK;
	return al__del(v->w, v->dbi[db], k, kn, err);
}

/* Appends a copy of k (in the zone) to out, whose array has room for *cap keys. */
static int keys_add(al_wtxn *w, al_keys *out, size_t *cap, const MDB_val *k, al_error *err)
{
	if (out->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		MDB_val *nk = al_zone_malloc(&w->zone, ncap * sizeof *nk);
		if (nk == NULL)
			return al_err(err, AL_ENO_MEMORY, "out of memory");
		if (out->n)
			memcpy(nk, out->k, out->n * sizeof *nk);
		out->k = nk;
		*cap = ncap;
	}
	void *copy = al_zone_malloc(&w->zone, k->mv_size ? k->mv_size : 1);
	if (copy == NULL)
		return al_err(err, AL_ENO_MEMORY, "out of memory");
	memcpy(copy, k->mv_data, k->mv_size);
	out->k[out->n++] = (MDB_val){k->mv_size, copy};
	return AL_OK;
}

static bool has_prefix(const MDB_val *k, const void *prefix, size_t pn)
{
	return k->mv_size >= pn && memcmp(k->mv_data, prefix, pn) == 0;
}

/* The two sorted sources merged: LMDB's keys (when it may hold any) under the overlay's, whose
 * tombstones hide the LMDB key they name. */
int al__view_keys(const al_view *v, int db, const void *prefix, size_t pn, al_keys *out, al_error *err)
{
	if (v->w->fr && al__fr_flush(v->w->fr, v->w->ov)) /* the rows held decoded, into the overlay */
		return al_err(err, AL_ENO_MEMORY, "out of memory");
	al_ov_iter it;
	size_t cap = 0;
	out->k = NULL;
	out->n = 0;
	int rc = v->w->ov ? al__ov_range(v->w->ov, v->dbi[db], prefix, pn, &it) : AL_OV_MISS;
	if (rc == AL_ENO_MEMORY)
		return al_err(err, rc, "out of memory");
	bool ov = rc == AL_OK, dead = false;
	MDB_cursor *cur = NULL;
	MDB_val lk = {pn, (void *)prefix}, lv, ok, ovv;
	int m = MDB_NOTFOUND;
	if (!ov || it.lmdb) {
		if ((rc = mdb_cursor_open(v->txn, v->dbi[db], &cur)))
			return al__mdb(v->w, rc, err, "read view");
		m = mdb_cursor_get(cur, &lk, &lv, MDB_SET_RANGE);
	}
	bool oh = ov && al__ov_next(&it, &ok, &ovv, &dead);
	for (rc = AL_OK; rc == AL_OK;) {
		bool lh = m == 0 && has_prefix(&lk, prefix, pn);
		if (!lh && !oh)
			break;
		int c = !lh ? 1 : !oh ? -1 : al__key_cmp(lk.mv_data, lk.mv_size, ok.mv_data, ok.mv_size);
		rc = c < 0 ? keys_add(v->w, out, &cap, &lk, err) : dead ? AL_OK : keys_add(v->w, out, &cap, &ok, err);
		if (c <= 0)
			m = mdb_cursor_get(cur, &lk, &lv, MDB_NEXT);
		if (c >= 0)
			oh = al__ov_next(&it, &ok, &ovv, &dead);
	}
	if (cur)
		mdb_cursor_close(cur);
	if (rc == AL_OK && m != 0 && m != MDB_NOTFOUND)
		rc = al__mdb(v->w, m, err, "read view");
	return rc;
}

/* ---- folding the log into views ------------------------------------------------------------------- */

al_fold_limits al__fold_limits = {(size_t)256 << 20, (size_t)8 << 20};
unsigned long al__fold_writes;

/*
 * A fold applies the events, chunk by chunk, to an overlay (overlay.h) in write transactions
 * that write nothing to LMDB, and then writes the overlay into the views, sorted: at the end,
 * or earlier whenever it holds more than its budget (it then empties and the fold goes on,
 * reading the views through it). A rebuild covers views known empty (LMDB is never read for
 * them) and drops them in the transaction of its first write, so until then the old views
 * stay whole, and the load appends into emptied views.
 *
 * The write ends with the cursors at the folded event, in the transaction of its last rows.
 * A write larger than txn_bytes spans transactions (LMDB holds each one's dirty pages in
 * memory); the ones before the last set the cursors to AL_CURSOR_INCOMPLETE, which makes the
 * next open rebuild those views. So a fold killed at any point leaves views that are whole
 * and at their cursors (as they were, or behind), or marked incomplete.
 */
typedef struct fold_ctx {
	int only;          /* the projection folded, or all when < 0 */
	bool reset;        /* drop the views in the next write: a rebuild that has written nothing yet */
	uint64_t seq;      /* the overlay holds the views as of this event */
	uint64_t to;       /* fold up to this event in the current chunk */
	uint64_t until;    /* the fold's last event */
	al_ov *ov;
	al_fr *fr;          /* compact rows held decoded, packed into ov before it is written */
	al_ov_pos pos, end; /* what the write transaction starts from, where it stopped */
	al_decoder *dec;    /* decoding seq+1..until ahead (fold_decode.h), from chunk to chunk */
	const al_event *blk; /* its block being applied: events blk_pos.. of blk_n */
	size_t blk_n, blk_pos;
	bool no_thread;     /* no decoder could be started: the events are decoded in place */
} fold_ctx;

/* What the fold holds in memory, against its budget. */
static size_t fold_bytes(const fold_ctx *f) { return al__ov_bytes(f->ov) + al__fr_bytes(f->fr); }

static bool folds(int only, size_t p) { return only < 0 || (size_t)only == p; }

/* Applies the events left in the decoder's block: AL_OK and *more, false when the overlay is
 * full (the next transaction goes on from f->seq) or the chunk is done. */
static int fold_block(al_wtxn *w, fold_ctx *f, bool *more, al_error *err)
{
	while (f->blk_pos < f->blk_n) {
		const al_event *e = &f->blk[f->blk_pos];
		int rc = al__proj_apply_only(w, f->only, e, err);
		if (rc)
			return rc;
		f->blk_pos++;
		f->seq = e->seq;
		if (fold_bytes(f) > al__fold_limits.budget || f->seq == f->to) {
			*more = false;
			break;
		}
	}
	return AL_OK;
}

#define DECODE_AHEAD_MIN 4096 /* fewer events: not worth a thread */

/* fold_events with the decoding on another thread, one for the whole fold (fold_decode.h): 0
 * done (*rc says how), -1 no thread to be had (or too few events for one). */
static int fold_decoded(al_wtxn *w, fold_ctx *f, int *rc, al_error *err)
{
	if (f->dec == NULL) {
		if (f->no_thread || f->until - f->seq < DECODE_AHEAD_MIN)
			return -1;
		if ((f->dec = al__decoder_start(w->s, f->seq + 1, f->until)) == NULL) {
			f->no_thread = true;
			return -1;
		}
		f->blk_n = f->blk_pos = 0;
	}
	bool more = f->seq < f->to;
	*rc = AL_OK;
	w->ov = f->ov;
	w->fr = f->fr;
	while (more && *rc == AL_OK) {
		if (f->blk_pos == f->blk_n) {
			f->blk_pos = 0;
			if ((f->blk = al__decoder_block(f->dec, &f->blk_n, rc, err)) == NULL) {
				f->blk_n = 0; /* the end (at until, which this chunk does not pass) or an error */
				*rc = *rc ? *rc : al_err(err, AL_EINTERNAL, "the decoded log ended early");
				break;
			}
		}
		*rc = fold_block(w, f, &more, err);
	}
	w->ov = NULL;
	w->fr = NULL;
	return 0;
}

/* Stops the decoder (before the views are written: its snapshot would keep the pages they
 * free from reuse; the next chunk starts another from where the fold is). */
static void decoder_done(fold_ctx *f)
{
	al__decoder_stop(f->dec);
	f->dec = NULL;
	f->blk = NULL;
	f->blk_n = f->blk_pos = 0;
}


/* Applies events seq+1..to into the overlay; stops early when the overlay is full. Rerun by
 * al__store_write it would go on from where it stopped, since seq moves only past an event
 * applied whole (and nothing is written, so MDB_MAP_FULL cannot rerun it anyway). */
static int fold_events(al_wtxn *w, void *ctx, al_error *err)
{
	fold_ctx *f = ctx;
	int drc;
	if (fold_decoded(w, f, &drc, err) == 0)
		return drc;
	MDB_cursor *c;
	int rc = mdb_cursor_open(w->txn, w->s->events, &c);
	if (rc)
		return al__mdb(w, rc, err, "open cursor");
	unsigned char k[8];
	al__be64(k, f->seq + 1);
	MDB_val key = {8, k}, val;
	bool full = false;
	int mrc = mdb_cursor_get(c, &key, &val, MDB_SET_KEY);
	w->ov = f->ov;
	w->fr = f->fr;
	while (mrc == 0 && f->seq < f->to) {
		uint64_t seq = f->seq + 1;
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
		if (rc)
			break;
		f->seq = seq;
		if ((full = fold_bytes(f) > al__fold_limits.budget) || seq == f->to)
			break;
		mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
	}
	w->ov = NULL;
	w->fr = NULL;
	mdb_cursor_close(c);
	if (rc)
		return rc;
	if (mrc && mrc != MDB_NOTFOUND)
		return al__mdb(w, mrc, err, "read log");
	if (f->seq < f->to && !full)
		return al_err(err, AL_ECORRUPT, "event %llu is missing from the log", (unsigned long long)f->seq + 1);
	return AL_OK;
}

/* Part of the overlay into the views from f->pos on; the cursors at seq after the last part,
 * incomplete before. A rebuild drops the views in its first. */
static int write_views(al_wtxn *w, void *ctx, al_error *err)
{
	fold_ctx *f = ctx;
	int rc = AL_OK;
	bool first = f->pos.db == 0 && f->pos.i == 0;
	for (size_t p = 0; f->reset && first && p < al__nprojections && rc == AL_OK; p++)
		if (folds(f->only, p))
			rc = drop_views(w, (int)p, err);
	f->end = f->pos; /* a rerun writes the same part again */
	if (rc == AL_OK)
		rc = al__ov_write(f->ov, w, &f->end, al__fold_limits.txn_bytes, err);
	uint64_t cursor = al__ov_written(f->ov, &f->end) ? f->seq : AL_CURSOR_INCOMPLETE;
	for (size_t p = 0; p < al__nprojections && rc == AL_OK; p++)
		if (folds(f->only, p))
			rc = write_cursor(w, (int)p, cursor, err);
	return rc;
}

/* Grows the map once for what writing the overlay adds (keeping it under the three quarters
 * at which al__store_write doubles it), so that the write is not rerun on MDB_MAP_FULL. */
static void presize_map(al_store *s, const al_ov *o)
{
	MDB_envinfo info;
	MDB_stat st;
	if ((s->flags & AL_OPEN_FIXED_MAP) || mdb_env_info(s->env, &info) || mdb_env_stat(s->env, &st))
		return;
	size_t used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
	size_t need = (used + al__ov_load_bytes(o, st.ms_psize) + ((size_t)4 << 20)) / 3 * 4;
	if (need > info.me_mapsize)
		mdb_env_set_mapsize(s->env, (need + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1));
}

static int write_out(al_store *s, fold_ctx *f, al_error *err)
{
	int rc = al__fr_flush(f->fr, f->ov);
	if (rc)
		return al_err(err, rc, "out of memory writing the folded views");
	presize_map(s, f->ov);
	al__ov_presort(f->ov);
	f->pos = (al_ov_pos){0, 0};
	do {
		rc = al__store_write(s, write_views, f, err);
		f->pos = f->end;
		al__fold_writes += rc == AL_OK;
	} while (rc == AL_OK && !al__ov_written(f->ov, &f->pos));
	if (rc == AL_OK) {
		al__ov_clear(f->ov);
		al__fr_free(f->fr); /* the overlay it was packed into is written: start afresh */
		f->fr = NULL;
		rc = al__fr_new(&f->fr) ? al_err(err, AL_ENO_MEMORY, "out of memory") : AL_OK;
		f->reset = false;
	}
	return rc;
}

/* A rebuild's views will hold about as many rows as the ones it replaces: room for them at
 * once (within half the budget) spares the overlay growing its tables step by step. */
static int size_hint(al_store *s, fold_ctx *f, al_error *err)
{
	MDB_txn *txn;
	size_t total = 0, per_row = 64; /* an entry, two slots, an index */
	int rc = f->reset ? al__read_begin(s, &txn, err) : AL_OK;
	if (!f->reset || rc)
		return rc;
	for (size_t p = 0; p < al__nprojections && rc == AL_OK; p++)
		for (int d = 0; folds(f->only, p) && al__projections[p]->dbs[d] && rc == AL_OK; d++) {
			MDB_stat st;
			if ((rc = mdb_stat(txn, s->views[p][d], &st)))
				rc = al_err(err, AL_EIO_ERROR, "read view %s: %s", al__projections[p]->dbs[d], mdb_strerror(rc));
			else if ((total += st.ms_entries) * per_row <= al__fold_limits.budget / 2 &&
				 al__ov_reserve(f->ov, s->views[p][d], st.ms_entries) != AL_OK)
				rc = al_err(err, AL_ENO_MEMORY, "out of memory");
		}
	mdb_txn_abort(txn);
	return rc;
}

static int fold_new(al_store *s, fold_ctx *f, al_error *err)
{
	int rc = al__ov_new(&f->ov);
	if (rc == AL_OK)
		rc = al__fr_new(&f->fr);
	for (size_t p = 0; p < al__nprojections && rc == AL_OK; p++)
		for (int d = 0; folds(f->only, p) && al__projections[p]->dbs[d] && rc == AL_OK; d++)
			rc = al__ov_cover(f->ov, s->views[p][d], f->reset);
	if (rc)
		return al_err(err, rc, rc == AL_ENO_MEMORY ? "out of memory" : "too many views to fold");
	return size_hint(s, f, err);
}

static int fold(al_store *s, int only, bool reset, uint64_t after_seq, uint64_t until_seq,
		al_progress_fn progress, void *pctx, al_error *err)
{
	if (until_seq < after_seq)
		until_seq = after_seq; /* nothing to fold */
	fold_ctx f = {only, reset, after_seq, after_seq, until_seq, NULL};
	int rc = fold_new(s, &f, err);
	while (rc == AL_OK) {
		f.to = until_seq - f.seq > FOLD_CHUNK ? f.seq + FOLD_CHUNK : until_seq;
		if (f.seq < f.to) {
			rc = al__store_write(s, fold_events, &f, err);
			if (rc == AL_OK && progress)
				progress(f.seq - after_seq, until_seq - after_seq, pctx);
		}
		if (rc == AL_OK && (f.seq == until_seq || fold_bytes(&f) > al__fold_limits.budget)) {
			decoder_done(&f);
			rc = write_out(s, &f, err);
		}
		if (f.seq == until_seq)
			break;
	}
	decoder_done(&f);
	al__ov_free(f.ov);
	al__fr_free(f.fr);
	return rc;
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
	bool marked = true; /* every cursor holds the marker, at this build's version */
	for (size_t p = 0; p < al__nprojections && rc == 0 && hrc == 0; p++) {
		rc = read_cursor(s, txn, (int)p, &ver[p], &cur[p]);
		marked = marked && cur[p] == AL_CURSOR_AT_HEAD && ver[p] == al__projections[p]->version;
		cur[p] = al__proj_cursor_at(cur[p], head);
	}
	mdb_txn_abort(txn);
	if (hrc)
		return hrc;
	if (rc)
		return al_err(err, AL_EIO_ERROR, "read projection cursors: %s", mdb_strerror(rc));
	for (size_t p = 0; p < al__nprojections && rc == AL_OK; p++) {
		const al_projection *pr = al__projections[p];
		/* In both cases the old views stay until the new ones commit: killed before, the next
		 * open starts again. */
		if (ver[p] != pr->version && (head > 0 || cur[p] > 0 || ver[p] != 0)) {
			al__log(s, AL_LOG_WARN, "view %s is version %u, code is %u: rebuilding from %llu events",
				pr->name, ver[p], pr->version, (unsigned long long)head);
			rc = al__proj_rebuild(s, (int)p, head, NULL, NULL, err);
		} else if (cur[p] > head) {
			al__log(s, AL_LOG_WARN, "view %s is incomplete (its writing was interrupted): rebuilding from "
				"%llu events", pr->name, (unsigned long long)head);
			rc = al__proj_rebuild(s, (int)p, head, NULL, NULL, err);
		} else if (cur[p] < head) {
			al__log(s, AL_LOG_INFO, "view %s is at event %llu of %llu: catching up", pr->name,
				(unsigned long long)cur[p], (unsigned long long)head);
			rc = al__proj_fold(s, (int)p, cur[p], head, NULL, NULL, err);
		}
	}
	/* The markers are there already (nothing above ran): the process's first commit need not
	 * write them again, so a one-command process (adminctl --data) leaves meta alone too. */
	if (rc == AL_OK && marked)
		s->cursors_at_head = true;
	return rc;
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
