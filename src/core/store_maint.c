/*
 * store_maint.c - maintenance of the store as a whole (not the `maintenance` noun, which is
 * nouns/maintenance.c): verify, rebuild, replay to a point (as-of) and
 * statistics. Everything here goes through the same append and fold paths as live writes.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- replay: copy the log prefix and fold it, in a new directory ------------------------------------ */

typedef struct copy_ctx {
	al_store *src;
	MDB_txn *stxn;
	uint64_t from, to;
} copy_ctx;

static int copy_chunk(al_wtxn *w, void *ctx, al_error *err)
{
	copy_ctx *cc = ctx;
	MDB_cursor *c;
	int rc = mdb_cursor_open(cc->stxn, cc->src->events, &c);
	if (rc)
		return al_err(err, AL_EIO_ERROR, "open source log: %s", mdb_strerror(rc));
	unsigned char k[8];
	al__be64(k, cc->from);
	MDB_val key = {8, k}, val;
	uint64_t seq = cc->from;
	int mrc = mdb_cursor_get(c, &key, &val, MDB_SET_KEY);
	for (; seq <= cc->to && mrc == 0 && rc == AL_OK; seq++) {
		al_rec_header h;
		al_event e;
		if (key.mv_size != 8 || al__get_be64(key.mv_data) != seq)
			break;
		msgpack_zone_clear(&w->zone);
		rc = al__rec_open(val.mv_data, val.mv_size, seq, &h, err);
		/* The checked record is copied as it is, chain hash included; verify rechecks the chain. */
		if (rc == AL_OK)
			rc = al__event_decode(&h, (const char *)val.mv_data + AL_REC_HEADER, seq, &w->zone, &e, err);
		if (rc == AL_OK)
			rc = al__log_put_record(w, val.mv_data, val.mv_size, &h, &e, err);
		if (rc == AL_OK)
			rc = al__proj_apply(w, &e, err);
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

/* Copies from the snapshot stxn of src, or from a snapshot of its own when stxn is NULL. */
static int replay_into(al_store *src, MDB_txn *stxn, al_store *dst, uint64_t until, al_error *err)
{
	copy_ctx cc = {.src = src, .stxn = stxn};
	int rc = stxn ? AL_OK : al__read_begin(src, &cc.stxn, err);
	if (rc)
		return rc;
	uint64_t head = 0;
	rc = al__log_head_in(src, cc.stxn, &head, err);
	if (until > head)
		until = head;
	for (cc.from = 1; rc == AL_OK && cc.from <= until; cc.from += COPY_CHUNK) {
		cc.to = cc.from + COPY_CHUNK - 1 < until ? cc.from + COPY_CHUNK - 1 : until;
		rc = al__store_write(dst, copy_chunk, &cc, err);
	}
	cc.to = until;
	if (rc == AL_OK)
		rc = al__store_write(dst, copy_reqids, &cc, err);
	if (stxn == NULL)
		mdb_txn_abort(cc.stxn);
	return rc;
}

/* al_store_replay from the snapshot stxn (or a new one when NULL). AL__OPEN_SCRATCH in flags
 * makes a private copy (no lock file). */
static int replay_in(al_store *src, MDB_txn *stxn, uint64_t until_seq, const char *out_dir, unsigned flags,
		     al_error *err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/data.mdb", out_dir);
	if (access(path, F_OK) == 0)
		return al_err(err, AL_EALREADY_EXISTS, "%s already holds a data directory", out_dir);
	al_store *dst;
	/* Start with a map as large as the source's data, so the copy never reruns on MAP_FULL. */
	MDB_envinfo info;
	MDB_stat st;
	mdb_env_info(src->env, &info);
	mdb_env_stat(src->env, &st);
	al_open_opts o = {AL_OPEN_CREATE | AL_OPEN_NOSYNC | AL_OPEN_QUIET | (flags & AL__OPEN_SCRATCH),
			  (info.me_last_pgno + 1) * (size_t)st.ms_psize / 4 * 5};
	int rc = al_store_open(&dst, out_dir, &o, err);
	if (rc)
		return rc;
	rc = replay_into(src, stxn, dst, until_seq, err);
	if (rc == AL_OK && !(flags & AL_OPEN_NOSYNC) && mdb_env_sync(dst->env, 1) != 0)
		rc = al_err(err, AL_EIO_ERROR, "sync %s", out_dir);
	al_store_close(dst);
	return rc;
}

int al_store_replay(al_store *src, uint64_t until_seq, const char *out_dir, unsigned flags, al_error *err)
{
	return replay_in(src, NULL, until_seq, out_dir, flags & ~AL__OPEN_SCRATCH, err);
}

static int asof_in(al_store *src, MDB_txn *stxn, uint64_t seq, al_store **out, al_error *err)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/adminlog-asof-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return al_err(err, AL_EIO_ERROR, "cannot create a scratch directory in %s", tmp ? tmp : "/tmp");
	int rc = replay_in(src, stxn, seq, dir, AL_OPEN_NOSYNC | AL__OPEN_SCRATCH, err);
	al_open_opts o = {AL_OPEN_NOSYNC | AL_OPEN_QUIET | AL__OPEN_SCRATCH, 0};
	if (rc == AL_OK)
		rc = al_store_open(out, dir, &o, err);
	if (rc) {
		al__store_remove_files(dir);
		rmdir(dir);
		return rc;
	}
	(*out)->scratch = true;
	return AL_OK;
}

int al_store_asof(al_store *src, uint64_t seq, al_store **out, al_error *err)
{
	return asof_in(src, NULL, seq, out, err);
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

static int verify_log(al_store *s, MDB_txn *txn, uint64_t *count, al_progress_fn p, void *pctx, al_error *err)
{
	uint64_t indexed; /* idx_actor and idx_type hold events 1..indexed (log_index.h) */
	MDB_val k = {4, "head"}, v;
	unsigned char head_hash[32] = {0};
	uint64_t head = 0;
	unsigned long nomem = al__nomem_count(); /* a decode out of memory is no damage */
	int rc = mdb_get(txn, s->meta, &k, &v);
	if (rc && rc != MDB_NOTFOUND)
		return al_err(err, AL_EIO_ERROR, "read head: %s", mdb_strerror(rc));
	if (rc == 0 && v.mv_size == 48) {
		head = al__get_be64(v.mv_data);
		memcpy(head_hash, (const char *)v.mv_data + 8, 32);
	}
	if ((rc = al__idx_seq(s, txn, head, &indexed, err)))
		return rc;
	MDB_cursor *c;
	if ((rc = mdb_cursor_open(txn, s->events, &c)))
		return al_err(err, AL_EIO_ERROR, "open log: %s", mdb_strerror(rc));
	unsigned char prev[32] = {0};
	int64_t prev_t = INT64_MIN;
	uint64_t seq = 0;
	rc = AL_OK;
	msgpack_zone z;
	msgpack_zone_init(&z, 4096);
	MDB_val key, val;
	int m;
	for (m = mdb_cursor_get(c, &key, &val, MDB_FIRST); m == 0 && rc == AL_OK;
	     m = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
		seq++;
		al_rec_header h;
		al_event e;
		unsigned char hash[32];
		if (key.mv_size != 8 || al__get_be64(key.mv_data) != seq) {
			rc = al_err(err, AL_ECORRUPT, "event %llu: missing (the log has a gap)", (unsigned long long)seq);
			break;
		}
		if ((rc = al__rec_open(val.mv_data, val.mv_size, seq, &h, err)))
			break;
		al__rec_chain(prev, val.mv_data, AL_REC_HEADER + h.payload_len, hash);
		if (memcmp(hash, (const char *)val.mv_data + AL_REC_HEADER + h.payload_len, 32)) {
			rc = al_err(err, AL_ECORRUPT, "event %llu: hash chain broken", (unsigned long long)seq);
			break;
		}
		memcpy(prev, hash, 32);
		if (h.time_us < prev_t) {
			rc = al_err(err, AL_ECORRUPT, "event %llu: time goes backwards", (unsigned long long)seq);
			break;
		}
		prev_t = h.time_us;
		msgpack_zone_clear(&z);
		if ((rc = al__event_decode(&h, (const char *)val.mv_data + AL_REC_HEADER, seq, &z, &e, err)))
			break;
		char ek[AL_MAX_ID + 64];
		unsigned char tk[2];
		al__be16(tk, h.type);
		size_t ekn = al__entity_key(ek, sizeof ek, e.kind.p, e.kind.n, e.id.p, e.id.n);
		rc = verify_index(s, txn, s->idx_entity, ek, ekn, seq, "idx_entity", err);
		if (rc == AL_OK && seq <= indexed)
			rc = verify_index(s, txn, s->idx_actor, e.actor.p, e.actor.n, seq, "idx_actor", err);
		if (rc == AL_OK && seq <= indexed)
			rc = verify_index(s, txn, s->idx_type, tk, 2, seq, "idx_type", err);
		if (p && seq % 65536 == 0)
			p(seq, head, pctx);
	}
	mdb_cursor_close(c);
	msgpack_zone_destroy(&z);
	if (rc == AL_OK)
		rc = al__cursor_end(m, err, "log");
	if (rc)
		return al__nomem_since(nomem, err, rc);
	if (seq != head)
		return al_err(err, AL_ECORRUPT, "the log holds %llu events but its head says %llu",
			      (unsigned long long)seq, (unsigned long long)head);
	if (memcmp(prev, head_hash, 32))
		return al_err(err, AL_ECORRUPT, "event %llu: chain head differs from the recorded head hash",
			      (unsigned long long)seq);
	MDB_stat st;
	const MDB_dbi idx[] = {s->idx_entity, s->idx_actor, s->idx_type};
	const char *names[] = {"idx_entity", "idx_actor", "idx_type"};
	for (int i = 0; i < 3; i++) {
		if ((rc = mdb_stat(txn, idx[i], &st)))
			return al_err(err, AL_EIO_ERROR, "read %s: %s", names[i], mdb_strerror(rc));
		uint64_t want = i == 0 ? seq : indexed;
		if (st.ms_entries != want)
			return al_err(err, AL_ECORRUPT, "index %s has %zu entries for %llu events", names[i],
				      (size_t)st.ms_entries, (unsigned long long)want);
	}
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
	int rc = asof_in(s, a, n, &fresh, err);
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
	int rc = mdb_get(txn, s->meta, &k, &v);
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
