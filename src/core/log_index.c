/* log_index.c - idx_actor and idx_type, added in bulk (log_index.h). */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/log.h"
#include "core/log_index.h"
#include "core/record.h"

/* One event not yet in the audit indexes: where its actor lies in w->s->idx_names. */
typedef struct al_idx_entry {
	uint64_t seq;
	unsigned type;
	size_t off, len;
} al_idx_entry;

int al__idx_note(al_wtxn *w, uint64_t seq, unsigned type, al_str actor, al_error *err)
{
	if (w->s->idx_n == w->s->idx_cap) {
		size_t cap = w->s->idx_cap ? w->s->idx_cap * 2 : 256;
		al_idx_entry *p = al_realloc(w->s->idx, cap * sizeof *p);
		if (p == NULL)
			return al_err(err, AL_ENO_MEMORY, "out of memory noting an event for the audit indexes");
		w->s->idx = p;
		w->s->idx_cap = cap;
	}
	size_t off = w->s->idx_names.size;
	if (al_sbuffer_write(&w->s->idx_names, actor.p, actor.n))
		return al_err(err, AL_ENO_MEMORY, "out of memory noting an event for the audit indexes");
	w->s->idx[w->s->idx_n++] = (al_idx_entry){seq, type, off, actor.n};
	return AL_OK;
}

void al__idx_free(al_store *s)
{
	al_free(s->idx);
	s->idx = NULL;
	s->idx_n = s->idx_cap = s->idx_kept = s->idx_kept_names = 0;
	al_sbuffer_destroy(&s->idx_names);
}

/* ---- the notes kept between transactions --------------------------------------------------------
 *
 * A run of one-command commits notes one event each; the commit that reaches AL_IDX_LAG used to
 * read the 255 before its own back from the log (a read, checksum and decode each: most of
 * that commit's time). The notes stay in the store instead, tagged with the log they describe.
 * A transaction takes them only when its head (seq and chain hash) and meta "idx" are the
 * tag's: a commit that failed after tagging, or events another process appended, leave a tag
 * that does not match, and the flush reads the log as before. */

/* At the start of a transaction (after the head and idx_seq are known): the kept notes, or none. */
static void take_kept(al_wtxn *w)
{
	al_store *s = w->s;
	bool match = s->idx_kept > 0 && s->kept_to == w->head_seq && s->kept_from == w->idx_seq &&
		     memcmp(s->kept_hash, w->head_hash, sizeof s->kept_hash) == 0;
	if (!match)
		s->idx_kept = s->idx_kept_names = 0;
	s->idx_n = s->idx_kept;
	s->idx_names.size = s->idx_kept_names;
}

/* At the end of a transaction's flush: what the next one may take. Only notes that start right
 * after meta "idx" say everything the next flush needs. */
static void keep(al_wtxn *w)
{
	al_store *s = w->s;
	bool whole = s->idx_n > 0 && w->idx_seq < w->head_seq && s->idx[0].seq == w->idx_seq + 1;
	s->idx_kept = whole ? s->idx_n : 0;
	s->idx_kept_names = whole ? s->idx_names.size : 0;
	s->kept_from = w->idx_seq;
	s->kept_to = w->head_seq;
	memcpy(s->kept_hash, w->head_hash, sizeof s->kept_hash);
	if (!whole && s->idx_cap > 4 * AL_IDX_LAG) { /* a large batch's notes: give the memory back */
		al_free(s->idx);
		s->idx = NULL;
		s->idx_cap = 0;
		al_sbuffer_destroy(&s->idx_names);
	}
}

/* Notes the events (from, to] that earlier transactions appended, reading them from the log. */
static int note_from_log(al_wtxn *w, uint64_t from, uint64_t to, al_error *err)
{
	msgpack_zone z;
	msgpack_zone_init(&z, 4096);
	int rc = AL_OK;
	for (uint64_t seq = from + 1; seq <= to && rc == AL_OK; seq++) {
		al_event e;
		msgpack_zone_clear(&z);
		rc = al__log_read(w->s, w->txn, seq, &z, &e, err);
		if (rc == AL_OK)
			rc = al__idx_note(w, seq, e.def->number, e.actor, err);
	}
	msgpack_zone_destroy(&z);
	return rc;
}

/* The key of entry x in the index by (0 type, 1 actor); tk holds a type key. */
static MDB_val key_of(const al_wtxn *w, const al_idx_entry *x, int by, unsigned char tk[2])
{
	al__be16(tk, x->type);
	return by ? (MDB_val){x->len, w->s->idx_names.data + x->off} : (MDB_val){2, tk};
}

static bool same_key(const MDB_val *a, const MDB_val *b)
{
	return a->mv_size == b->mv_size && memcmp(a->mv_data, b->mv_data, a->mv_size) == 0;
}

/* Groups the noted entries by key: gid[i] is entry i's group (0..*ngroups-1), groups
 * numbered in the order their first entry comes. One pass over a hash table of keys. */
static int group_by_key(const al_wtxn *w, int by, uint32_t *gid, uint32_t *first, size_t *ngroups)
{
	size_t cap = 16;
	while (cap < 2 * w->s->idx_n)
		cap *= 2;
	uint32_t *slot = al_malloc(cap * sizeof *slot); /* group + 1, 0 = empty */
	if (slot == NULL)
		return -1;
	memset(slot, 0, cap * sizeof *slot);
	*ngroups = 0;
	for (size_t i = 0; i < w->s->idx_n; i++) {
		unsigned char tk[2], tk2[2];
		MDB_val k = key_of(w, &w->s->idx[i], by, tk);
		size_t h = (size_t)XXH3_64bits(k.mv_data, k.mv_size) & (cap - 1);
		for (;; h = (h + 1) & (cap - 1)) {
			if (slot[h] == 0) {
				first[*ngroups] = (uint32_t)i;
				slot[h] = (uint32_t)++*ngroups;
				break;
			}
			MDB_val kg = key_of(w, &w->s->idx[first[slot[h] - 1]], by, tk2);
			if (same_key(&k, &kg))
				break;
		}
		gid[i] = slot[h] - 1;
	}
	al_free(slot);
	return 0;
}

/* Puts one index entry per noted event (in seq order), key by key: each key's seqs go in one
 * MDB_MULTIPLE put (the indexes are DUPFIXED), appended after its older duplicates. */
static int put_entries(al_wtxn *w, MDB_dbi dbi, int by, al_error *err)
{
	size_t n = w->s->idx_n, ngroups = 0;
	uint32_t *gid = al_malloc((n ? n : 1) * sizeof *gid), *first = al_malloc((n ? n : 1) * sizeof *first);
	uint32_t *start = al_calloc(n + 1, sizeof *start);
	unsigned char *seqs = al_malloc((n ? n : 1) * 8);
	int rc = gid && first && start && seqs && group_by_key(w, by, gid, first, &ngroups) == 0
			 ? AL_OK : al_err(err, AL_ENO_MEMORY, "out of memory writing the audit indexes");
	MDB_cursor *c = NULL;
	if (rc == AL_OK && (rc = mdb_cursor_open(w->txn, dbi, &c)))
		rc = al__mdb(w, rc, err, "open audit index");
	if (rc == AL_OK) {
		/* A counting sort: each group's seqs together, still in seq order. */
		for (size_t i = 0; i < n; i++)
			start[gid[i] + 1]++;
		for (size_t g = 0; g < ngroups; g++)
			start[g + 1] += start[g];
		for (size_t i = 0; i < n; i++)
			al__be64(seqs + 8 * start[gid[i]]++, w->s->idx[i].seq);
		for (size_t g = 0, from = 0; g < ngroups && rc == AL_OK; from = start[g++]) {
			unsigned char tk[2];
			MDB_val k = key_of(w, &w->s->idx[first[g]], by, tk);
			MDB_val v[2] = {{8, seqs + 8 * from}, {start[g] - from, NULL}};
			rc = al__mdb(w, mdb_cursor_put(c, &k, v, MDB_MULTIPLE | MDB_APPENDDUP), err, "write audit index");
		}
	}
	if (c)
		mdb_cursor_close(c);
	al_free(gid);
	al_free(first);
	al_free(start);
	al_free(seqs);
	return rc;
}

static int idx_save(al_wtxn *w, al_error *err)
{
	unsigned char v[8];
	al__be64(v, w->idx_seq);
	w->idx_known = true;
	return al__put(w, w->s->meta, "idx", 3, v, sizeof v, 0, err);
}

int al__idx_load(al_wtxn *w, al_error *err)
{
	w->s->idx_n = 0;
	w->s->idx_names.size = 0;
	MDB_val k = {3, "idx"}, v;
	int rc = mdb_get(w->txn, w->s->meta, &k, &v);
	w->idx_known = rc == 0;
	w->idx_seq = w->head_seq;
	if (rc && rc != MDB_NOTFOUND)
		return al__mdb(w, rc, err, "read the audit index position");
	if (rc == 0 && v.mv_size != 8)
		return al_err(err, AL_ECORRUPT, "meta idx is damaged");
	if (rc == 0 && al__get_be64(v.mv_data) < w->head_seq) /* (a copied meta may say more than its head) */
		w->idx_seq = al__get_be64(v.mv_data);
	take_kept(w);
	return AL_OK;
}

int al__idx_seq(al_store *s, MDB_txn *txn, uint64_t head, uint64_t *out, al_error *err)
{
	MDB_val k = {3, "idx"}, v;
	int rc = mdb_get(txn, s->meta, &k, &v);
	*out = head;
	if (rc == MDB_NOTFOUND)
		return AL_OK;
	if (rc)
		return al_err(err, AL_EIO_ERROR, "read the audit index position: %s", mdb_strerror(rc));
	if (v.mv_size != 8)
		return al_err(err, AL_ECORRUPT, "meta idx is damaged");
	if (al__get_be64(v.mv_data) < head) /* a bound below the head (a time, an as-of point) */
		*out = al__get_be64(v.mv_data);
	return AL_OK;
}

int al__idx_flush(al_wtxn *w, al_error *err)
{
	/* The head moved with nothing appended: an as-of store folding its source's log, which
	 * has no log (nor audit indexes) of its own. */
	if (w->s->idx_n == 0)
		return AL_OK;
	if (w->head_seq - w->idx_seq < AL_IDX_LAG) {
		int rc = w->idx_known ? AL_OK : idx_save(w, err);
		if (rc == AL_OK)
			keep(w);
		return rc;
	}
	/* This transaction noted its own appends, in seq order; the ones before them, which
	 * earlier transactions left out, come from the log and go first. */
	size_t own = w->s->idx_n;
	uint64_t own_from = own ? w->s->idx[0].seq - 1 : w->head_seq;
	int rc = note_from_log(w, w->idx_seq, own_from, err);
	if (rc == AL_OK && own && w->s->idx_n > own) { /* rotate: [own | older] -> [older | own] */
		size_t older = w->s->idx_n - own;
		al_idx_entry *tmp = al_malloc(own * sizeof *tmp);
		if (tmp == NULL)
			return al_err(err, AL_ENO_MEMORY, "out of memory writing the audit indexes");
		memcpy(tmp, w->s->idx, own * sizeof *tmp);
		memmove(w->s->idx, w->s->idx + own, older * sizeof *tmp);
		memcpy(w->s->idx + older, tmp, own * sizeof *tmp);
		al_free(tmp);
	}
	if (rc == AL_OK)
		rc = put_entries(w, w->s->idx_type, 0, err);
	if (rc == AL_OK)
		rc = put_entries(w, w->s->idx_actor, 1, err);
	if (rc)
		return rc;
	w->idx_seq = w->head_seq;
	if ((rc = idx_save(w, err)) == AL_OK)
		keep(w);
	return rc;
}
