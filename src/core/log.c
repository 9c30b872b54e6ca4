/* log.c - appending to and reading from the event log (layout in record.h and store.h). */
#include <stdlib.h>
#include <string.h>

#include "core/catalogue.h"
#include "core/log.h"
#include "core/log_index.h"
#include "core/record.h"

size_t al__entity_key(char *buf, size_t n, const char *kind, size_t kn, const char *id, size_t idn)
{
	if (kn + 1 + idn > n)
		return 0;
	memcpy(buf, kind, kn);
	buf[kn] = ':';
	memcpy(buf + kn + 1, id, idn);
	return kn + 1 + idn;
}

static int reserve(al_wtxn *w, size_t n)
{
	if (n <= w->rec_cap)
		return 0;
	size_t cap = w->rec_cap ? w->rec_cap : 1024;
	while (cap < n)
		cap *= 2;
	unsigned char *p = al_realloc(w->rec, cap);
	if (p == NULL)
		return -1;
	w->rec = p;
	w->rec_cap = cap;
	return 0;
}

/* Index keys must be valid before anything is written: a record without its index entries
 * would be a half-written event. */
static int check_keys(const al_event *e, al_error *err)
{
	char key[AL_MAX_ID + 64];
	if (e->id.n == 0 || al__entity_key(key, sizeof key, e->kind.p, e->kind.n, e->id.p, e->id.n) == 0)
		return al_err(err, AL_EINTERNAL, "%s: entity id empty or longer than %d bytes", e->def->name, AL_MAX_ID);
	if (e->actor.n == 0 || e->actor.n > 500)
		return al_err(err, AL_EINTERNAL, "%s: actor empty or longer than 500 bytes", e->def->name);
	return AL_OK;
}

/* idx_entity now; the audit indexes at the end of the transaction (log_index.h), from the
 * note taken before anything is written (so a note that fails leaves nothing half done). */
static int put_indexes(al_wtxn *w, const al_event *e, const unsigned char seqk[8], al_error *err)
{
	char key[AL_MAX_ID + 64];
	size_t kn = al__entity_key(key, sizeof key, e->kind.p, e->kind.n, e->id.p, e->id.n);
	return al__put(w, w->s->idx_entity, key, kn, seqk, 8, MDB_APPENDDUP, err);
}

int al__log_put_record(al_wtxn *w, const void *rec, size_t len, const al_rec_header *h, const al_event *e,
			al_error *err)
{
	if (e->seq != w->head_seq + 1)
		return al_err(err, AL_EINTERNAL, "event %llu appended after head %llu", (unsigned long long)e->seq,
			      (unsigned long long)w->head_seq);
	if (h->time_us < w->head_time)
		return al_err(err, AL_EINTERNAL, "event time %lld before the log head's %lld", (long long)h->time_us,
			      (long long)w->head_time);
	int rc = check_keys(e, err);
	if (rc)
		return rc;
	if ((rc = al__idx_note(w, e->seq, e->def->number, e->actor, err)))
		return rc;
	unsigned char seqk[8];
	al__be64(seqk, e->seq);
	rc = al__put(w, w->s->events, seqk, 8, rec, len, MDB_APPEND, err);
	if (rc == AL_OK)
		rc = put_indexes(w, e, seqk, err);
	if (rc)
		return rc;
	w->head_seq = e->seq;
	memcpy(w->head_hash, (const unsigned char *)rec + len - AL_REC_HASH, AL_REC_HASH);
	w->head_time = h->time_us;
	return AL_OK;
}

/* Copies payload into the record buffer, seals and chains it; the record is w->rec, *rlen bytes
 * without its chain hash. */
static int seal(al_wtxn *w, unsigned type, unsigned version, int64_t time_us, const void *payload, size_t plen,
		size_t *rlen, al_error *err)
{
	*rlen = AL_REC_HEADER + plen;
	if (plen > UINT32_MAX / 2 || reserve(w, *rlen + AL_REC_HASH))
		return al_err(err, AL_ENO_MEMORY, "event payload of %zu bytes", plen);
	memcpy(w->rec + AL_REC_HEADER, payload, plen);
	al__rec_seal(w->rec, type, version, time_us, (uint32_t)plen);
	al__rec_chain(w->head_hash, w->rec, *rlen, w->rec + *rlen);
	return AL_OK;
}

int al__log_append(al_wtxn *w, unsigned type, unsigned version, int64_t time_us,
		   const void *payload, size_t plen, al_event *e, al_error *err)
{
	size_t rlen;
	int rc = seal(w, type, version, time_us, payload, plen, &rlen, err);
	if (rc)
		return rc;
	/* Decode what was written, exactly as a reader would, for indexes and projections. */
	al_rec_header h;
	rc = al__rec_open(w->rec, rlen + AL_REC_HASH, w->head_seq + 1, &h, err);
	if (rc == AL_OK)
		rc = al__event_decode(&h, w->rec + AL_REC_HEADER, w->head_seq + 1, &w->zone, e, err);
	return rc ? rc : al__log_put_record(w, w->rec, rlen + AL_REC_HASH, &h, e, err);
}

int al__log_append_event(al_wtxn *w, const void *payload, size_t plen, size_t fields_off, al_event *e,
			 al_error *err)
{
	size_t rlen;
	int rc = seal(w, e->def->number, e->def->version, e->time_us, payload, plen, &rlen, err);
	if (rc)
		return rc;
	/* The fields as a reader decodes them (the current version: nothing to upcast); they
	 * point into the record buffer, which stays put until the next append. */
	e->seq = w->head_seq + 1;
	e->stored_version = e->def->version;
	if (fields_off >= plen ||
	    al_mp_decode(w->rec + AL_REC_HEADER + fields_off, plen - fields_off, &w->zone, &e->fields) != 0 ||
	    e->fields.type != MSGPACK_OBJECT_MAP)
		return al_err(err, AL_EINTERNAL, "%s: the fields do not decode as a map", e->def->name);
	al_rec_header h = {.type = e->def->number, .version = e->def->version, .time_us = e->time_us,
			   .payload_len = (uint32_t)plen};
	return al__log_put_record(w, w->rec, rlen + AL_REC_HASH, &h, e, err);
}

static al_str str_of(const msgpack_object *o)
{
	if (o && o->type == MSGPACK_OBJECT_STR)
		return (al_str){o->via.str.ptr, o->via.str.size};
	return (al_str){"", 0};
}

int al__event_decode(const al_rec_header *h, const void *payload, uint64_t seq,
		     msgpack_zone *zone, al_event *e, al_error *err)
{
	memset(e, 0, sizeof *e);
	e->seq = seq;
	e->time_us = h->time_us;
	e->stored_version = h->version;
	e->def = al_event_def_by_number(h->type);
	if (e->def == NULL)
		return al_err(err, AL_EUNSUPPORTED, "event %llu: unknown event type %u",
			      (unsigned long long)seq, h->type);
	msgpack_object m;
	if (al_mp_check(payload, h->payload_len) != 0 || al_mp_decode(payload, h->payload_len, zone, &m) != 0 ||
	    m.type != MSGPACK_OBJECT_MAP)
		return al_err(err, AL_ECORRUPT, "event %llu: payload is not a msgpack map", (unsigned long long)seq);
	/* The envelope's keys, told apart by length and first byte before one memcmp (every
	 * replay and rebuild decodes each event here). */
	static const struct {
		const char *name;
		unsigned char len;
		size_t off; /* of the al_str in al_event; SIZE_MAX: fields */
	} env[] = {{"actor", 5, offsetof(al_event, actor)},           {"as", 2, offsetof(al_event, as_user)},
		   {"user_id", 7, offsetof(al_event, user_id)},       {"access_key", 10, offsetof(al_event, access_key)},
		   {"client", 6, offsetof(al_event, client)},         {"request_id", 10, offsetof(al_event, request_id)},
		   {"kind", 4, offsetof(al_event, kind)},             {"id", 2, offsetof(al_event, id)},
		   {"reason", 6, offsetof(al_event, reason)},         {"fields", 6, SIZE_MAX}};
	const msgpack_object *fields = NULL;
	for (uint32_t i = 0; i < m.via.map.size; i++) {
		const msgpack_object *k = &m.via.map.ptr[i].key, *v = &m.via.map.ptr[i].val;
		if (k->type != MSGPACK_OBJECT_STR || k->via.str.size == 0)
			continue;
		for (size_t j = 0; j < sizeof env / sizeof *env; j++) {
			if (k->via.str.size != env[j].len || k->via.str.ptr[0] != env[j].name[0] ||
			    memcmp(k->via.str.ptr, env[j].name, env[j].len) != 0)
				continue;
			if (env[j].off == SIZE_MAX)
				fields = v;
			else
				*(al_str *)((char *)e + env[j].off) = str_of(v);
			break;
		}
	}
	if (fields == NULL || fields->type != MSGPACK_OBJECT_MAP || e->kind.n == 0)
		return al_err(err, AL_ECORRUPT, "event %llu: payload lacks kind or fields", (unsigned long long)seq);
	e->fields = *fields;
	if (h->version != e->def->version) {
		int rc = al__upcast(e->def, h->version, &e->fields, zone, err);
		if (rc)
			return rc;
	}
	return AL_OK;
}

int al__log_read(al_store *s, MDB_txn *txn, uint64_t seq, msgpack_zone *zone, al_event *e,
		 al_error *err)
{
	unsigned char k[8];
	al__be64(k, seq);
	MDB_val key = {8, k}, val;
	int rc = mdb_get(txn, s->events, &key, &val);
	if (rc == MDB_NOTFOUND)
		return al_err(err, AL_ENOT_FOUND, "event %llu does not exist", (unsigned long long)seq);
	if (rc)
		return al_err(err, AL_EIO_ERROR, "read event %llu: %s", (unsigned long long)seq, mdb_strerror(rc));
	al_rec_header h;
	rc = al__rec_open(val.mv_data, val.mv_size, seq, &h, err);
	if (rc == AL_OK)
		rc = al__event_decode(&h, (const char *)val.mv_data + AL_REC_HEADER, seq, zone, e, err);
	return rc;
}

/* The number of duplicates of the cursor's key with seq <= bound, given n in all: the newest
 * are last, so only those past the bound are walked. */
static int count_to_bound(MDB_cursor *c, size_t *n, uint64_t bound)
{
	MDB_val k, v;
	int rc = mdb_cursor_get(c, &k, &v, MDB_LAST_DUP);
	while (rc == 0 && *n > 0 && v.mv_size == 8 && al__get_be64(v.mv_data) > bound) {
		(*n)--;
		rc = mdb_cursor_get(c, &k, &v, MDB_PREV_DUP);
	}
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int al__entity_version(al_store *s, MDB_txn *txn, const char *kind, al_str id, uint64_t *out, al_error *err)
{
	char key[AL_MAX_ID + 64];
	size_t kn = al__entity_key(key, sizeof key, kind, strlen(kind), id.p, id.n);
	MDB_cursor *c;
	*out = 0;
	if (kn == 0)
		return AL_OK; /* longer than any id: no events */
	al_logv lv;
	int rc = al__logv_begin(s, txn, &lv, err);
	if (rc)
		return rc;
	rc = mdb_cursor_open(lv.txn, lv.s->idx_entity, &c);
	if (rc) {
		al__logv_end(&lv);
		return al_err(err, AL_EIO_ERROR, "read entity index: %s", mdb_strerror(rc));
	}
	MDB_val k = {kn, key}, v;
	size_t n = 0;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET);
	if (rc == 0)
		rc = mdb_cursor_count(c, &n);
	if (rc == 0 && lv.bound != UINT64_MAX)
		rc = count_to_bound(c, &n, lv.bound);
	mdb_cursor_close(c);
	al__logv_end(&lv);
	if (rc && rc != MDB_NOTFOUND)
		return al_err(err, AL_EIO_ERROR, "read entity index: %s", mdb_strerror(rc));
	*out = n;
	return AL_OK;
}

uint64_t al__entity_version_or(al_store *s, MDB_txn *txn, const char *kind, al_str id, al_error *fail)
{
	uint64_t v;
	al_error e = {0};
	if (al__entity_version(s, txn, kind, id, &v, &e) != AL_OK && fail->code == AL_OK)
		*fail = e;
	return v;
}

int al__log_head_in(al_store *s, MDB_txn *txn, uint64_t *head, al_error *err)
{
	MDB_val k = {4, "head"}, v;
	*head = 0;
	int rc = mdb_get(txn, s->head_db, &k, &v);
	if (rc == MDB_NOTFOUND)
		return AL_OK; /* an empty log */
	if (rc)
		return al_err(err, AL_EIO_ERROR, "read head: %s", mdb_strerror(rc));
	if (v.mv_size != 48)
		return al_err(err, AL_ECORRUPT, "meta head has %zu bytes, expected 48", v.mv_size);
	*head = al__get_be64(v.mv_data);
	return AL_OK;
}

/* ---- the log as a store sees it ---------------------------------------------------------------- */

int al__logv_begin(al_store *s, MDB_txn *txn, al_logv *v, al_error *err)
{
	*v = (al_logv){s, txn, UINT64_MAX, false};
	if (s->log_src == NULL && txn)
		return AL_OK;
	if (s->log_src) {
		v->s = s->log_src;
		v->bound = s->log_bound;
	}
	int rc = al__read_begin(v->s, &v->txn, err);
	v->own_txn = rc == AL_OK;
	return rc;
}

void al__logv_end(al_logv *v)
{
	if (v->own_txn)
		mdb_txn_abort(v->txn);
	v->own_txn = false;
	v->txn = NULL;
}

int al__logv_head(const al_logv *v, uint64_t *head, al_error *err)
{
	if (v->bound != UINT64_MAX) {
		*head = v->bound;
		return AL_OK;
	}
	return al__log_head_in(v->s, v->txn, head, err);
}
