/*
 * audit.c - reading the log for people: the audit listing with its filters, the time binary
 * search, and one event as JSON or as a line (secret fields always left out).
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/log_index.h"
#include "core/record.h"

uint64_t al_log_head(al_store *s)
{
	MDB_txn *txn;
	if (al__read_begin(s, &txn, NULL))
		return 0;
	uint64_t h;
	if (al__log_head_in(s, txn, &h, NULL))
		h = 0;
	mdb_txn_abort(txn);
	return h;
}

static int time_of(al_store *s, MDB_txn *txn, uint64_t seq, int64_t *t, al_error *err)
{
	unsigned char k[8];
	al__be64(k, seq);
	MDB_val key = {8, k}, val;
	int rc = mdb_get(txn, s->events, &key, &val);
	if (rc)
		return al_err(err, rc == MDB_NOTFOUND ? AL_ECORRUPT : AL_EIO_ERROR, "event %llu: %s",
			      (unsigned long long)seq, rc == MDB_NOTFOUND ? "missing from the log" : mdb_strerror(rc));
	al_rec_header h;
	if ((rc = al__rec_open(val.mv_data, val.mv_size, seq, &h, err)))
		return rc;
	*t = h.time_us;
	return AL_OK;
}

/* Last seq with time <= t among 1..hi; times never decrease along the log, so this is a binary
 * search. */
static int seq_at_time(al_store *s, MDB_txn *txn, uint64_t hi, int64_t t, uint64_t *out, al_error *err)
{
	uint64_t lo = 0; /* answer in [lo, hi] */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo + 1) / 2;
		int64_t mt = 0;
		int rc = time_of(s, txn, mid, &mt, err);
		if (rc)
			return rc;
		if (mt <= t)
			lo = mid;
		else
			hi = mid - 1;
	}
	*out = lo;
	return AL_OK;
}

int al_log_seq_at_time(al_store *s, int64_t t_us, uint64_t *seq, al_error *err)
{
	al_logv lv;
	uint64_t head;
	int rc = al__logv_begin(s, NULL, &lv, err);
	if (rc)
		return rc;
	rc = al__logv_head(&lv, &head, err);
	if (rc == AL_OK)
		rc = seq_at_time(lv.s, lv.txn, head, t_us, seq, err);
	al__logv_end(&lv);
	return rc;
}

int al_log_point(al_store *s, const char *text, uint64_t *seq, al_error *err)
{
	size_t digits = strspn(text, "0123456789");
	int64_t t;
	uint64_t head = al_log_head(s);
	if (digits && !text[digits] && digits <= 19) {
		*seq = strtoull(text, NULL, 10);
		if (*seq > head)
			return al_err(err, AL_EINVALID_ARGUMENT, "at: event %llu is past the log's head %llu",
				      (unsigned long long)*seq, (unsigned long long)head);
		return AL_OK;
	}
	if (al_time_parse(text, &t) != 0)
		return al_err(err, AL_EINVALID_ARGUMENT, "at: not an event seq or an RFC 3339 time: %.64s", text);
	if (t > al__now(s))
		return al_err(err, AL_EINVALID_ARGUMENT, "at: %.64s is in the future", text);
	return al_log_seq_at_time(s, t, seq, err);
}

static bool matches(const al_event *e, const al_log_filter *f)
{
	if (f->actor && !al_str_eq(e->actor, f->actor))
		return false;
	if (f->type && strcmp(e->def->name, f->type) != 0)
		return false;
	if (f->entity) {
		size_t kn = e->kind.n;
		if (strncmp(f->entity, e->kind.p, kn) != 0 || f->entity[kn] != ':' ||
		    !al_str_eq(e->id, f->entity + kn + 1))
			return false;
	}
	return true;
}

typedef struct scan {
	al_store *s;
	MDB_txn *txn;
	const al_log_filter *f;
	uint64_t lo, hi; /* seq range from the time bounds and after_seq */
	size_t emitted;
	al_event_cb cb;
	void *ctx;
	msgpack_zone zone;
} scan;

/* Reads, filters and hands one event to the callback. Returns non-zero to stop. */
static int visit(scan *sc, uint64_t seq, al_error *err, bool *stop)
{
	al_event e;
	msgpack_zone_clear(&sc->zone);
	int rc = al__log_read(sc->s, sc->txn, seq, &sc->zone, &e, err);
	if (rc == AL_ENOT_FOUND)
		rc = al_err(err, AL_ECORRUPT, "event %llu is indexed but missing from the log", (unsigned long long)seq);
	if (rc)
		return rc;
	if (!matches(&e, sc->f))
		return AL_OK;
	rc = sc->cb(&e, sc->ctx);
	if (rc || (sc->f->limit && ++sc->emitted >= sc->f->limit))
		*stop = true;
	return rc;
}

/* Puts the cursor on the index key's last seq <= at: one back from its first seq after at, or its
 * last seq when none is after at. */
static int index_seek_back(MDB_cursor *c, MDB_val *k, MDB_val *v, unsigned char at_be[8], uint64_t at)
{
	MDB_val key = *k;
	int m = MDB_NOTFOUND;
	if (at < UINT64_MAX) {
		al__be64(at_be, at + 1);
		*v = (MDB_val){8, at_be};
		m = mdb_cursor_get(c, k, v, MDB_GET_BOTH_RANGE);
	}
	if (m == 0)
		return mdb_cursor_get(c, k, v, MDB_PREV_DUP);
	if (m != MDB_NOTFOUND)
		return m;
	*k = key;
	m = mdb_cursor_get(c, k, v, MDB_SET_KEY);
	return m ? m : mdb_cursor_get(c, k, v, MDB_LAST_DUP);
}

/* Puts the cursor on the index key's first seq >= at or, going back, its last seq <= at. */
static int index_seek(MDB_cursor *c, MDB_val *k, MDB_val *v, unsigned char at_be[8], uint64_t at, bool back)
{
	if (back)
		return index_seek_back(c, k, v, at_be, at);
	al__be64(at_be, at);
	*v = (MDB_val){8, at_be};
	return mdb_cursor_get(c, k, v, MDB_GET_BOTH_RANGE);
}

/* Walks the duplicates (seqs) of one index key from sc->lo to sc->hi, or back from sc->hi to
 * sc->lo for newest_first (so that a limit keeps the newest without reading the older ones). */
static int walk_index(scan *sc, MDB_dbi dbi, const void *key, size_t kn, al_error *err)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(sc->txn, dbi, &c);
	if (rc)
		return al_err(err, AL_EIO_ERROR, "open index: %s", mdb_strerror(rc));
	bool back = sc->f->newest_first, stop = false;
	unsigned char at[8];
	MDB_val k = {kn, (void *)key}, v;
	int m;
	for (m = index_seek(c, &k, &v, at, back ? sc->hi : sc->lo, back); m == 0 && !stop && rc == AL_OK;
	     m = mdb_cursor_get(c, &k, &v, back ? MDB_PREV_DUP : MDB_NEXT_DUP)) {
		uint64_t seq = al__get_be64(v.mv_data);
		if (back ? seq < sc->lo : seq > sc->hi)
			break;
		rc = visit(sc, seq, err, &stop);
	}
	if (rc == AL_OK)
		rc = al__cursor_end(m, err, "index");
	mdb_cursor_close(c);
	return rc;
}

static int walk_log(scan *sc, al_error *err)
{
	bool stop = false;
	int rc = AL_OK;
	if (sc->f->newest_first)
		for (uint64_t seq = sc->hi; seq >= sc->lo && seq > 0 && !stop && rc == AL_OK; seq--)
			rc = visit(sc, seq, err, &stop);
	else
		for (uint64_t seq = sc->lo; seq <= sc->hi && !stop && rc == AL_OK; seq++)
			rc = visit(sc, seq, err, &stop);
	return rc;
}

/* An audit index (idx_actor, idx_type) up to where it is complete, and the log after it
 * (log_index.h: fewer than AL_IDX_LAG events plus one transaction's), in the walk's order:
 * the index first oldest first, the log first newest first. */
static int walk_audit_index(scan *sc, MDB_dbi dbi, const void *key, size_t kn, al_error *err)
{
	uint64_t lo = sc->lo, hi = sc->hi, done;
	int rc = al__idx_seq(sc->s, sc->txn, hi, &done, err);
	for (int part = 0; part < 2 && rc == AL_OK && !(sc->f->limit && sc->emitted >= sc->f->limit); part++) {
		bool from_log = (part == 0) == sc->f->newest_first;
		sc->lo = from_log && done + 1 > lo ? done + 1 : lo;
		sc->hi = !from_log && done < hi ? done : hi;
		if (sc->lo <= sc->hi)
			rc = from_log ? walk_log(sc, err) : walk_index(sc, dbi, key, kn, err);
	}
	sc->lo = lo;
	sc->hi = hi;
	return rc;
}

/* The seq range the filter's time bounds and after_seq leave of 1..sc->hi. */
static int seq_range(scan *sc, al_error *err)
{
	const al_log_filter *f = sc->f;
	uint64_t t;
	int rc = AL_OK;
	sc->lo = f->after_seq + 1;
	if (f->since_us && (rc = seq_at_time(sc->s, sc->txn, sc->hi, f->since_us - 1, &t, err)) == AL_OK && t + 1 > sc->lo)
		sc->lo = t + 1;
	if (rc == AL_OK && f->until_us && (rc = seq_at_time(sc->s, sc->txn, sc->hi, f->until_us, &t, err)) == AL_OK &&
	    t < sc->hi)
		sc->hi = t;
	return rc;
}

/* Drives the scan from the most selective index the filter names. */
static int run_scan(scan *sc, al_error *err)
{
	const al_log_filter *f = sc->f;
	if (f->entity)
		return walk_index(sc, sc->s->idx_entity, f->entity, strlen(f->entity), err);
	if (f->actor)
		return walk_audit_index(sc, sc->s->idx_actor, f->actor, strlen(f->actor), err);
	if (f->type) {
		const al_event_def *d = al_event_def_by_name(f->type);
		unsigned char tk[2];
		if (d == NULL)
			return al_err(err, AL_EINVALID_ARGUMENT, "type: no event type named %.64s", f->type);
		al__be16(tk, d->number);
		return walk_audit_index(sc, sc->s->idx_type, tk, 2, err);
	}
	return walk_log(sc, err);
}

int al_log_query(al_store *s, const al_log_filter *f, al_event_cb cb, void *ctx, al_error *err)
{
	static const al_log_filter none = {0};
	if (f == NULL)
		f = &none;
	al_logv lv; /* an as-of store lists its source's log up to its point */
	int rc = al__logv_begin(s, NULL, &lv, err);
	if (rc)
		return rc;
	scan sc = {.s = lv.s, .txn = lv.txn, .f = f, .cb = cb, .ctx = ctx};
	msgpack_zone_init(&sc.zone, 4096);
	rc = al__logv_head(&lv, &sc.hi, err);
	if (rc == AL_OK)
		rc = seq_range(&sc, err);
	if (rc == AL_OK && sc.lo <= sc.hi)
		rc = run_scan(&sc, err);
	msgpack_zone_destroy(&sc.zone);
	al__logv_end(&lv);
	return rc;
}

/* ---- printing events ------------------------------------------------------------------------------ */

static bool is_secret(const al_event *e, const msgpack_object *key)
{
	for (size_t i = 0; i < e->def->nfields; i++)
		if ((e->def->fields[i].flags & AL_F_SECRET) && al_mp_str_eq(key, e->def->fields[i].name))
			return true;
	return false;
}

/* The event's fields without the secret ones, as a map object in zone. */
static msgpack_object public_fields(const al_event *e, msgpack_zone *z)
{
	msgpack_object m = {.type = MSGPACK_OBJECT_MAP};
	uint32_t n = e->fields.via.map.size;
	m.via.map.ptr = n ? al_zone_malloc(z, sizeof(msgpack_object_kv) * n) : NULL;
	for (uint32_t i = 0; i < n && m.via.map.ptr; i++)
		if (!is_secret(e, &e->fields.via.map.ptr[i].key))
			m.via.map.ptr[m.via.map.size++] = e->fields.via.map.ptr[i];
	return m;
}

static void json_str(FILE *out, al_str s)
{
	msgpack_object o = {.type = MSGPACK_OBJECT_STR};
	o.via.str.ptr = s.p;
	o.via.str.size = (uint32_t)s.n;
	al_render_json(&o, out);
}

void al_event_write_json(const al_event *e, FILE *out)
{
	char t[40];
	msgpack_zone z;
	msgpack_zone_init(&z, 1024);
	fprintf(out, "{\"seq\":%llu,\"time\":\"%s\",\"type\":\"%s\",\"version\":%u,\"actor\":",
		(unsigned long long)e->seq, al_time_format(e->time_us, t, sizeof t), e->def->name, e->def->version);
	json_str(out, e->actor);
	fputs(",\"entity\":", out);
	char ent[AL_MAX_ID + 64];
	size_t n = al__entity_key(ent, sizeof ent, e->kind.p, e->kind.n, e->id.p, e->id.n);
	json_str(out, (al_str){ent, n});
	const al_str *opt[] = {&e->as_user, &e->user_id, &e->access_key, &e->client, &e->request_id, &e->reason};
	const char *names[] = {"as", "user_id", "access_key", "client", "request_id", "reason"};
	for (int i = 0; i < 6; i++)
		if (opt[i]->n) {
			fprintf(out, ",\"%s\":", names[i]);
			json_str(out, *opt[i]);
		}
	fputs(",\"fields\":", out);
	msgpack_object f = public_fields(e, &z);
	al_render_json(&f, out);
	fputc('}', out);
	msgpack_zone_destroy(&z);
}

void al_event_write_text(const al_event *e, FILE *out)
{
	char t[40];
	msgpack_zone z;
	msgpack_zone_init(&z, 1024);
	fprintf(out, "%llu %s %.*s%s%.*s %s %.*s:%.*s ", (unsigned long long)e->seq,
		al_time_format(e->time_us, t, sizeof t), (int)e->actor.n, e->actor.p, e->as_user.n ? " as " : "",
		(int)e->as_user.n, e->as_user.p, e->def->name, (int)e->kind.n, e->kind.p, (int)e->id.n, e->id.p);
	msgpack_object f = public_fields(e, &z);
	al_render_json(&f, out);
	if (e->reason.n) {
		fputs(" reason=", out);
		json_str(out, e->reason);
	}
	msgpack_zone_destroy(&z);
}
