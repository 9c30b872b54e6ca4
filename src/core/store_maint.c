/*
 * store_maint.c - maintenance of the store as a whole (not the `maintenance` noun, which is
 * nouns/maintenance.c): verify, rebuild, replay to a point (as-of) and
 * statistics. Everything here goes through the same append and fold paths as live writes.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/log.h"
#include "core/log_index.h"
#include "core/record.h"
#include "core/seal.h"
#include "util/codec.h"

size_t al__map_full_retries(void);

static int log_head(al_store *s, uint64_t *head, al_error *err)
{
	MDB_txn *txn;
	int rc = al__read_begin(s, &txn, err);
	if (rc)
		return rc;
	rc = al__log_head_in(s, txn, head, err);
	mdb_txn_abort(txn);
	return rc;
}

int al_store_rebuild(al_store *s, al_progress_fn p, void *pctx, al_error *err)
{
	uint64_t head;
	unsigned long nomem = al__nomem_count();
	int rc = log_head(s, &head, err);
	if (rc == AL_OK)
		rc = al__proj_rebuild(s, -1, head, p, pctx, err);
	return al__nomem_since(nomem, err, rc);
}

/* ---- replay and as-of: walking a log prefix ----------------------------------------------------------- */

typedef struct copy_ctx {
	al_store *src;  /* the store whose log is read (an as-of store's source) */
	MDB_txn *stxn;  /* a read transaction on it */
	uint64_t from, to;
	bool copy; /* replay: copy each record, with its indexes; as-of: fold it only */
} copy_ctx;

/* One checked record into w: copied byte for byte (replay; verify rechecks the chain), or only
 * folded, the head moving with it (as-of: the scratch store's head is then the as-of point). */
static int take_record(al_wtxn *w, const copy_ctx *cc, const MDB_val *val, uint64_t seq, al_error *err)
{
	al_rec_header h;
	al_event e;
	msgpack_zone_clear(&w->zone);
	int rc = al__rec_open(val->mv_data, val->mv_size, seq, &h, err);
	if (rc == AL_OK)
		rc = al__event_decode(&h, (const char *)val->mv_data + AL_REC_HEADER, seq, &w->zone, &e, err);
	if (rc == AL_OK && cc->copy)
		rc = al__log_put_record(w, val->mv_data, val->mv_size, &h, &e, err);
	else if (rc == AL_OK) {
		w->head_seq = seq;
		memcpy(w->head_hash, (const unsigned char *)val->mv_data + val->mv_size - AL_REC_HASH, AL_REC_HASH);
		w->head_time = h.time_us;
	}
	return rc == AL_OK ? al__proj_apply(w, &e, err) : rc;
}

static int copy_chunk(al_wtxn *w, void *ctx, al_error *err)
{
	copy_ctx *cc = ctx;
	MDB_cursor *c;
	if (w->head_seq + 1 != cc->from)
		return al_err(err, AL_EINTERNAL, "events from %llu taken after head %llu", (unsigned long long)cc->from,
			      (unsigned long long)w->head_seq);
	int rc = mdb_cursor_open(cc->stxn, cc->src->events, &c);
	if (rc)
		return al_err(err, AL_EIO_ERROR, "open source log: %s", mdb_strerror(rc));
	unsigned char k[8];
	al__be64(k, cc->from);
	MDB_val key = {8, k}, val;
	uint64_t seq = cc->from;
	int mrc = mdb_cursor_get(c, &key, &val, MDB_SET_KEY);
	for (; seq <= cc->to && mrc == 0 && rc == AL_OK; seq++) {
		if (key.mv_size != 8 || al__get_be64(key.mv_data) != seq || val.mv_size < AL_REC_HEADER + AL_REC_HASH)
			break;
		rc = take_record(w, cc, &val, seq, err);
		if (rc == AL_OK && seq < cc->to)
			mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc == AL_OK && mrc && mrc != MDB_NOTFOUND)
		rc = al_err(err, AL_EIO_ERROR, "read source log: %s", mdb_strerror(mrc));
	if (rc)
		return rc;
	if (seq <= cc->to)
		return al_err(err, AL_ECORRUPT, "event %llu is missing from the log", (unsigned long long)seq);
	return AL_OK;
}

/* Request ids of the copied prefix keep answering retries in the copy. */
static int copy_reqids(al_wtxn *w, void *ctx, al_error *err)
{
	copy_ctx *cc = ctx;
	MDB_cursor *c;
	int rc = mdb_cursor_open(cc->stxn, cc->src->reqids, &c);
	if (rc)
		return al_err(err, AL_EIO_ERROR, "open request ids: %s", mdb_strerror(rc));
	MDB_val k, v;
	int m;
	for (m = mdb_cursor_get(c, &k, &v, MDB_FIRST); m == 0 && rc == AL_OK; m = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		if (v.mv_size >= 16 && al__get_be64((const unsigned char *)v.mv_data + 8) <= cc->to)
			rc = al__put(w, w->s->reqids, k.mv_data, k.mv_size, v.mv_data, v.mv_size, 0, err);
	mdb_cursor_close(c);
	return rc ? rc : al__cursor_end(m, err, "request ids");
}

#define COPY_CHUNK 65536

/* Events (after, until] of cc's log into dst, COPY_CHUNK per transaction. */
static int walk_prefix(copy_ctx *cc, al_store *dst, uint64_t after, uint64_t until, al_error *err)
{
	int rc = AL_OK;
	for (cc->from = after + 1; rc == AL_OK && cc->from <= until; cc->from += COPY_CHUNK) {
		cc->to = cc->from + COPY_CHUNK - 1 < until ? cc->from + COPY_CHUNK - 1 : until;
		rc = al__store_write(dst, copy_chunk, cc, err);
	}
	return rc;
}

/* Copies src's log 1..until (clamped to its head), its request ids and the folded views. */
static int replay_into(al_store *src, al_store *dst, uint64_t until, al_error *err)
{
	al_logv lv; /* a replay of an as-of store copies its source's prefix */
	int rc = al__logv_begin(src, NULL, &lv, err);
	if (rc)
		return rc;
	copy_ctx cc = {.src = lv.s, .stxn = lv.txn, .copy = true};
	uint64_t head = 0;
	rc = al__logv_head(&lv, &head, err);
	if (until > head)
		until = head;
	if (rc == AL_OK)
		rc = walk_prefix(&cc, dst, 0, until, err);
	cc.to = until;
	if (rc == AL_OK)
		rc = al__store_write(dst, copy_reqids, &cc, err);
	al__logv_end(&lv);
	return rc;
}

/* A map as large as src's data: neither a copy nor a fold of it then reruns on MAP_FULL. */
static size_t data_size(al_store *src)
{
	MDB_envinfo info;
	MDB_stat st;
	mdb_env_info(src->env, &info);
	mdb_env_stat(src->env, &st);
	return (info.me_last_pgno + 1) * (size_t)st.ms_psize / 4 * 5;
}

int al_store_replay(al_store *src, uint64_t until_seq, const char *out_dir, unsigned flags, al_error *err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/data.mdb", out_dir);
	if (access(path, F_OK) == 0)
		return al_err(err, AL_EALREADY_EXISTS, "%s already holds a data directory", out_dir);
	al_store *dst;
	al_open_opts o = {AL_OPEN_CREATE | AL_OPEN_NOSYNC | AL_OPEN_QUIET, data_size(src)};
	int rc = al_store_open(&dst, out_dir, &o, err);
	if (rc)
		return rc;
	rc = replay_into(src, dst, until_seq, err);
	if (rc == AL_OK && !(flags & AL_OPEN_NOSYNC) && mdb_env_sync(dst->env, 1) != 0)
		rc = al_err(err, AL_EIO_ERROR, "sync %s", out_dir);
	al_store_close(dst);
	return rc;
}

/*
 * The as-of store: a scratch directory whose views start from the nearest checkpoint at or
 * before n (a copy of its file, al__ckpt_restore) or empty, and fold the events after it, read
 * in place from the log lv (never copied). Its head is then n; it keeps no log, and reads of
 * the log go to lv's store bounded at n (log_src, log_bound).
 */
static int asof_build(const al_logv *lv, uint64_t n, bool use_checkpoints, const char *dir, al_store **out,
		      al_error *err)
{
	uint64_t base = 0, bytes = 0;
	int rc = use_checkpoints ? al__ckpt_restore(lv, n, dir, &base, &bytes, err) : AL_OK;
	al_open_opts o = {AL_OPEN_CREATE | AL_OPEN_NOSYNC | AL_OPEN_QUIET | AL__OPEN_SCRATCH,
			  base ? bytes / 4 * 5 + (1u << 20) : data_size(lv->s)};
	if (rc == AL_OK)
		rc = al_store_open(out, dir, &o, err);
	if (rc)
		return rc;
	(*out)->scratch = true;
	copy_ctx cc = {.src = lv->s, .stxn = lv->txn, .copy = false};
	rc = walk_prefix(&cc, *out, base, n, err);
	(*out)->log_src = lv->s;
	(*out)->log_bound = n;
	(*out)->asof_base = base;
	return rc;
}

/* As-of n of s's log, read in the snapshot txn when given (s's own log). */
static int asof_in(al_store *s, MDB_txn *txn, uint64_t n, bool use_checkpoints, al_store **out, al_error *err)
{
	*out = NULL;
	const char *tmp = getenv("TMPDIR");
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/adminlog-asof-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	al_logv lv;
	uint64_t head = 0;
	int rc = al__logv_begin(s, txn, &lv, err);
	if (rc)
		return rc;
	if ((rc = al__logv_head(&lv, &head, err)) == AL_OK && mkdtemp(dir) == NULL)
		rc = al_err(err, AL_EIO_ERROR, "cannot create a scratch directory in %s", tmp && *tmp ? tmp : "/tmp");
	else if (rc == AL_OK) {
		rc = asof_build(&lv, n < head ? n : head, use_checkpoints, dir, out, err);
		if (rc && *out)
			al_store_close(*out); /* a scratch store: removes its directory */
		else if (rc) {
			al__store_remove_files(dir);
			rmdir(dir);
		}
		if (rc)
			*out = NULL;
	}
	al__logv_end(&lv);
	return rc;
}

int al_store_asof(al_store *src, uint64_t seq, al_store **out, al_error *err)
{
	return asof_in(src, NULL, seq, true, out, err);
}

/* ---- verify ---------------------------------------------------------------------------------------------- */

static int verify_index(al_store *s, MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, uint64_t seq,
			const char *name, al_error *err)
{
	unsigned char sk[8];
	al__be64(sk, seq);
	MDB_cursor *c;
	MDB_val key = {kn, (void *)k}, val = {8, sk};
	(void)s;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc)
		return al_err(err, AL_EIO_ERROR, "open %s: %s", name, mdb_strerror(rc));
	rc = mdb_cursor_get(c, &key, &val, MDB_GET_BOTH);
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		return al_err(err, AL_ECORRUPT, "event %llu: missing from index %s", (unsigned long long)seq, name);
	return rc ? al_err(err, AL_EIO_ERROR, "read %s: %s", name, mdb_strerror(rc)) : AL_OK;
}

/* One record of the log: its seq, checksum, chain link, time order and index entries. */
typedef struct verify_walk {
	const al_logv *lv;
	unsigned char prev[32]; /* chain hash of the previous event */
	int64_t prev_t;
	uint64_t indexed; /* idx_actor and idx_type hold events 1..indexed (log_index.h) */
	msgpack_zone z;
} verify_walk;

static int verify_record(verify_walk *vw, const MDB_val *key, const MDB_val *val, uint64_t seq, al_error *err)
{
	al_store *s = vw->lv->s;
	MDB_txn *txn = vw->lv->txn;
	al_rec_header h;
	al_event e;
	unsigned char hash[32];
	if (key->mv_size != 8 || al__get_be64(key->mv_data) != seq)
		return al_err(err, AL_ECORRUPT, "event %llu: missing (the log has a gap)", (unsigned long long)seq);
	int rc = al__rec_open(val->mv_data, val->mv_size, seq, &h, err);
	if (rc)
		return rc;
	al__rec_chain(vw->prev, val->mv_data, AL_REC_HEADER + h.payload_len, hash);
	if (memcmp(hash, (const char *)val->mv_data + AL_REC_HEADER + h.payload_len, 32))
		return al_err(err, AL_ECORRUPT, "event %llu: hash chain broken", (unsigned long long)seq);
	memcpy(vw->prev, hash, 32);
	if (h.time_us < vw->prev_t)
		return al_err(err, AL_ECORRUPT, "event %llu: time goes backwards", (unsigned long long)seq);
	vw->prev_t = h.time_us;
	msgpack_zone_clear(&vw->z);
	if ((rc = al__event_decode(&h, (const char *)val->mv_data + AL_REC_HEADER, seq, &vw->z, &e, err)))
		return rc;
	char ek[AL_MAX_ID + 64];
	unsigned char tk[2];
	al__be16(tk, h.type);
	size_t ekn = al__entity_key(ek, sizeof ek, e.kind.p, e.kind.n, e.id.p, e.id.n);
	rc = verify_index(s, txn, s->idx_entity, ek, ekn, seq, "idx_entity", err);
	if (rc == AL_OK && seq <= vw->indexed)
		rc = verify_index(s, txn, s->idx_actor, e.actor.p, e.actor.n, seq, "idx_actor", err);
	if (rc == AL_OK && seq <= vw->indexed)
		rc = verify_index(s, txn, s->idx_type, tk, 2, seq, "idx_type", err);
	return rc;
}

/* Each index holds one entry per event: no more (a log of its own; a source's log goes on
 * past an as-of store's point). */
static int verify_index_counts(const al_logv *lv, uint64_t n, uint64_t indexed, al_error *err)
{
	MDB_stat st;
	const MDB_dbi idx[] = {lv->s->idx_entity, lv->s->idx_actor, lv->s->idx_type};
	const char *names[] = {"idx_entity", "idx_actor", "idx_type"};
	for (int i = 0; i < 3 && lv->bound == UINT64_MAX; i++) {
		int rc = mdb_stat(lv->txn, idx[i], &st);
		if (rc)
			return al_err(err, AL_EIO_ERROR, "read %s: %s", names[i], mdb_strerror(rc));
		uint64_t want = i == 0 ? n : indexed;
		if (st.ms_entries != want)
			return al_err(err, AL_ECORRUPT, "index %s has %zu entries for %llu events", names[i],
				      (size_t)st.ms_entries, (unsigned long long)want);
	}
	return AL_OK;
}

/* The log as s sees it (an as-of store: its source's, up to its point) against s's head. */
static int verify_log(al_store *s, MDB_txn *txn, uint64_t *count, al_progress_fn p, void *pctx, al_error *err)
{
	uint64_t indexed; /* idx_actor and idx_type hold events 1..indexed (log_index.h) */
	MDB_val k = {4, "head"}, v;
	unsigned char head_hash[32] = {0};
	uint64_t head = 0;
	unsigned long nomem = al__nomem_count(); /* a decode out of memory is no damage */
	int rc = mdb_get(txn, s->head_db, &k, &v);
	if (rc && rc != MDB_NOTFOUND)
		return al_err(err, AL_EIO_ERROR, "read head: %s", mdb_strerror(rc));
	if (rc == 0 && v.mv_size == 48) {
		head = al__get_be64(v.mv_data);
		memcpy(head_hash, (const char *)v.mv_data + 8, 32);
	}
	al_logv lv;
	if ((rc = al__logv_begin(s, txn, &lv, err)))
		return rc;
	verify_walk vw = {.lv = &lv, .prev_t = INT64_MIN};
	if ((rc = al__idx_seq(lv.s, lv.txn, head, &indexed, err))) {
		al__logv_end(&lv);
		return rc;
	}
	vw.indexed = indexed;
	MDB_cursor *c;
	if ((rc = mdb_cursor_open(lv.txn, lv.s->events, &c))) {
		al__logv_end(&lv);
		return al_err(err, AL_EIO_ERROR, "open log: %s", mdb_strerror(rc));
	}
	msgpack_zone_init(&vw.z, 4096);
	uint64_t seq = 0;
	MDB_val key, val;
	int m;
	for (m = mdb_cursor_get(c, &key, &val, MDB_FIRST); m == 0 && rc == AL_OK && seq < lv.bound;
	     m = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		rc = verify_record(&vw, &key, &val, ++seq, err);
		if (p && seq % 65536 == 0)
			p(seq, head, pctx);
	}
	mdb_cursor_close(c);
	msgpack_zone_destroy(&vw.z);
	if (rc == AL_OK)
		rc = al__cursor_end(m, err, "log");
	if (rc == AL_OK && seq != head)
		rc = al_err(err, AL_ECORRUPT, "the log holds %llu events but its head says %llu", (unsigned long long)seq,
			    (unsigned long long)head);
	else if (rc == AL_OK && memcmp(vw.prev, head_hash, 32))
		rc = al_err(err, AL_ECORRUPT, "event %llu: chain head differs from the recorded head hash",
			    (unsigned long long)seq);
	if (rc == AL_OK)
		rc = verify_index_counts(&lv, seq, indexed, err);
	al__logv_end(&lv);
	if (rc)
		return al__nomem_since(nomem, err, rc);
	*count = seq;
	return AL_OK;
}

/* Views against a fresh fold of the log's n events, view by view. */
static int verify_views(al_store *s, MDB_txn *a, uint64_t n, al_error *err)
{
	/* One snapshot (a) for the log, the fresh fold and the views: adminlogd may be writing
	 * beside a read-only verify, and a later snapshot's views would differ from the fold. */
	al_store *fresh = NULL;
	MDB_txn *b = NULL;
	int rc = asof_in(s, a, n, false, &fresh, err); /* a fold from the first event: no checkpoint */
	if (rc == AL_OK)
		rc = al__read_begin(fresh, &b, err);
	for (size_t i = 0; rc == AL_OK && i < al__nprojections; i++) {
		uint8_t da[16], db[16];
		rc = al__proj_digest(s, a, (int)i, da, err);
		if (rc == AL_OK)
			rc = al__proj_digest(fresh, b, (int)i, db, err);
		if (rc == AL_OK && memcmp(da, db, 16))
			rc = al_err(err, AL_ECORRUPT, "view %s differs from a rebuild of the log (run adminlog rebuild)",
				    al__projections[i]->name);
	}
	if (b)
		mdb_txn_abort(b);
	al_store_close(fresh);
	return rc;
}

int al_store_verify(al_store *s, al_progress_fn p, void *pctx, al_error *err)
{
	MDB_txn *txn;
	uint64_t n = 0;
	unsigned long nomem = al__nomem_count(); /* out of memory, nothing can be said about damage */
	int rc = al__read_begin(s, &txn, err);
	if (rc)
		return rc;
	rc = verify_log(s, txn, &n, p, pctx, err);
	if (rc == AL_OK)
		rc = verify_views(s, txn, n, err);
	mdb_txn_abort(txn);
	return al__nomem_since(nomem, err, rc);
}

/* ---- stats ------------------------------------------------------------------------------------------------ */

/* Events per type: the type index, plus the events after it from their record headers. */
static int count_types(al_store *s, MDB_txn *txn, uint64_t head, al_mb *types, al_error *err)
{
	uint64_t indexed, tail[AL_EV__COUNT] = {0};
	int r = al__idx_seq(s, txn, head, &indexed, err);
	for (uint64_t seq = indexed + 1; r == AL_OK && seq <= head; seq++) {
		unsigned char k[8];
		al__be64(k, seq);
		MDB_val key = {8, k}, val;
		al_rec_header h;
		if ((r = mdb_get(txn, s->events, &key, &val)))
			return al_err(err, AL_EIO_ERROR, "read event %llu: %s", (unsigned long long)seq, mdb_strerror(r));
		if ((r = al__rec_open(val.mv_data, val.mv_size, seq, &h, err)))
			return r;
		const al_event_def *d = al_event_def_by_number(h.type);
		if (d)
			tail[d - al__ev(0)]++;
	}
	if (r)
		return r;
	MDB_cursor *c;
	if ((r = mdb_cursor_open(txn, s->idx_type, &c)))
		return al_err(err, AL_EIO_ERROR, "read idx_type: %s", mdb_strerror(r));
	MDB_val tk, tv;
	for (r = mdb_cursor_get(c, &tk, &tv, MDB_FIRST); r == 0; r = mdb_cursor_get(c, &tk, &tv, MDB_NEXT_NODUP)) {
		size_t cnt = 0;
		if ((r = mdb_cursor_count(c, &cnt)))
			break;
		const al_event_def *d = tk.mv_size == 2 ? al_event_def_by_number(al__get_be16(tk.mv_data)) : NULL;
		if (d) {
			cnt += tail[d - al__ev(0)];
			tail[d - al__ev(0)] = 0;
		}
		al_mb_int(types, d ? d->name : "unknown", (int64_t)cnt);
	}
	mdb_cursor_close(c);
	for (size_t i = 0; i < AL_EV__COUNT; i++) /* types seen only after the index */
		if (tail[i])
			al_mb_int(types, al__ev((enum al_ev_id)i)->name, (int64_t)tail[i]);
	return al__cursor_end(r, err, "idx_type");
}

static int stats_in(al_store *s, MDB_txn *txn, al_mb *m, al_error *err)
{
	MDB_val k = {4, "head"}, v;
	unsigned char hash[32] = {0};
	uint64_t head = 0;
	int rc = mdb_get(txn, s->head_db, &k, &v);
	if (rc && rc != MDB_NOTFOUND)
		return al_err(err, AL_EIO_ERROR, "read head: %s", mdb_strerror(rc));
	if (rc == 0 && v.mv_size == 48) {
		head = al__get_be64(v.mv_data);
		memcpy(hash, (const char *)v.mv_data + 8, 32);
	}
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", hash[i]);
	MDB_envinfo info;
	MDB_stat st, es;
	mdb_env_info(s->env, &info);
	mdb_env_stat(s->env, &st);
	if ((rc = mdb_stat(txn, s->events, &es)))
		return al_err(err, AL_EIO_ERROR, "read events: %s", mdb_strerror(rc));
	al_mb types;
	al_mb_init(&types);
	rc = count_types(s, txn, head, &types, err);
	al_mb_int(m, "head_seq", (int64_t)head);
	al_mb_cstr(m, "head_hash", hex);
	al_mb_int(m, "format", AL_FORMAT_VERSION);
	al_mb_finish(&types, al_mb_key(m, "events_by_type"));
	al_mb_free(&types);
	al_mb_int(m, "map_size", (int64_t)info.me_mapsize);
	al_mb_int(m, "used_bytes", (int64_t)((info.me_last_pgno + 1) * (size_t)st.ms_psize));
	char path[4096];
	struct stat fst;
	snprintf(path, sizeof path, "%s/data.mdb", s->dir);
	al_mb_int(m, "file_bytes", stat(path, &fst) == 0 ? (int64_t)fst.st_size : 0);
	al_mb_int(m, "log_pages", (int64_t)(es.ms_branch_pages + es.ms_leaf_pages + es.ms_overflow_pages));
	al_mb_int(m, "map_full_retries", (int64_t)al__map_full_retries());
	return rc;
}

int al_store_stats(al_store *s, char **mp, size_t *len, al_error *err)
{
	*mp = NULL;
	*len = 0;
	unsigned long nomem = al__nomem_count();
	MDB_txn *txn;
	int rc = al__read_begin(s, &txn, err);
	if (rc)
		return rc;
	al_mb m;
	al_mb_init(&m);
	rc = stats_in(s, txn, &m, err);
	mdb_txn_abort(txn);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	if (rc == AL_OK)
		al_mb_to_sbuffer(&m, &sb);
	al_mb_free(&m);
	rc = al__nomem_since(nomem, err, rc);
	if (rc) {
		al_sbuffer_destroy(&sb);
		return rc;
	}
	*mp = sb.data;
	*len = sb.size;
	return AL_OK;
}
