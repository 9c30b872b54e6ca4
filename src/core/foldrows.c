/* foldrows.c - a fold's compact rows kept decoded (foldrows.h). */
#include <string.h>
#include <xxhash.h>

#include "core/foldrows.h"
#include "util/alloc.h"

#define ROW_MAX 256 /* bytes of a row struct (rows.def kinds are well below) */
#define STR_MAX 16  /* string columns of a row kind (the user row has 12) */
#define KEY_IN 40   /* keys up to this long are kept in their entry: one cache miss less */
#define ENTS0 256   /* entries in the first block of the entry array; each next one twice as many */
#define NBLOCKS 40
#define CHUNK0 ((size_t)64 << 10) /* the arena's first chunk; each next one twice as large */
#define CHUNK_MAX ((size_t)8 << 20) /* up to this: most of it in 2 MiB huge pages */
#define GRAIN 8                 /* memory sizes are multiples of this */
#define NCLASS 256              /* free lists for sizes up to NCLASS * GRAIN; larger ones alone */
#define KINDS 8                 /* row kinds a fold holds (rows.def has two) */

/*
 * Each string column of a held row has a slot of its own, with some room past its string;
 * the row's string always starts at its slot. A put copies only the strings that changed
 * (an event changes one or two columns of a row), into their slots; a string that outgrows
 * its slot gets a new one, and the old one goes on a free list of its size for the next.
 * The entries are in blocks that never move, so a row held is never copied to grow the
 * array; blocks and slots come from an arena of large chunks readied at once (overlay.h).
 */

/* A row kind's string columns, where a put looks at them. */
typedef struct fr_kind {
	const al_row_def *d;
	size_t ns;
	uint16_t off[STR_MAX]; /* of each one's al_str in the row */
} fr_kind;

typedef struct fr_ent {
	MDB_dbi dbi;
	uint32_t kn;
	char *key;             /* kin, or the arena's for a longer key */
	char kin[KEY_IN];
	const fr_kind *k;      /* the row's kind, whose string columns own the slots */
	bool held;             /* false: forgotten (the overlay has the row); the slots stay */
	bool dirty;
	uint32_t cap[STR_MAX]; /* the room of each string column's slot, in column order */
	const char *lo, *hi;   /* the span of the slots */
	unsigned char row[ROW_MAX];
} fr_ent;

typedef struct fr_chunk {
	struct fr_chunk *next;
} fr_chunk;

struct al_fr {
	fr_ent *ents[NBLOCKS]; /* block b holds ENTS0 << b entries */
	size_t n, nblocks;
	uint32_t *slots; /* entry + 1, 0 empty; open addressing, linear probing */
	size_t nslots;
	uint32_t last;   /* the entry found last, + 1: a put follows the get of its row */
	uint64_t dbis[4]; /* the sub-databases (dbi < 256) it holds rows of: most lookups are not */
	bool big_dbi;     /* and one of a larger dbi: then every lookup looks */
	size_t bytes;
	fr_chunk *chunks; /* the arena */
	char *cur;
	size_t left, next_chunk;
	char *free[NCLASS]; /* freed memory by size / GRAIN - 1, linked through its first bytes */
	fr_kind kinds[KINDS];
	msgpack_sbuffer pack; /* scratch for packing a row */
};

int al__fr_new(al_fr **out)
{
	*out = al_calloc(1, sizeof **out);
	if (*out == NULL)
		return AL_ENO_MEMORY;
	msgpack_sbuffer_init(&(*out)->pack);
	return AL_OK;
}

/* Entry i: block b starts at entry ENTS0 * (2^b - 1). */
static fr_ent *ent(const al_fr *f, size_t i)
{
	size_t q = i / ENTS0 + 1, b = (size_t)(63 - __builtin_clzll(q));
	return &f->ents[b][i - ENTS0 * (((size_t)1 << b) - 1)];
}

/* String column i of a row of kind k. */
static al_str *str_of(const fr_kind *k, size_t i, const void *row) { return (al_str *)((char *)row + k->off[i]); }

/* The kind of d (its string columns found once), or NULL when d has too many of them or the
 * fold too many kinds. */
static const fr_kind *kind_of(al_fr *f, const al_row_def *d)
{
	fr_kind *k = f->kinds;
	while (k < f->kinds + KINDS && k->d && k->d != d)
		k++;
	if (k == f->kinds + KINDS || d->size > ROW_MAX)
		return NULL;
	if (k->d == NULL) {
		size_t ns = 0;
		for (size_t c = 0; c < d->ncols; c++)
			if (d->cols[c].type == AL_COL_STR) {
				if (ns == STR_MAX)
					return NULL;
				k->off[ns++] = d->cols[c].off;
			}
		k->ns = ns;
		k->d = d;
	}
	return k;
}

static size_t rounded(size_t n) { return n ? (n + GRAIN - 1) / GRAIN * GRAIN : GRAIN; }

static bool alone(size_t size) { return size > NCLASS * GRAIN; }

void al__fr_free(al_fr *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++) { /* memory too large for the arena */
		fr_ent *x = ent(f, i);
		for (size_t s = 0; s < x->k->ns; s++)
			if (alone(x->cap[s]))
				al_free((char *)str_of(x->k, s, x->row)->p);
		if (x->key != x->kin && alone(rounded(x->kn)))
			al_free(x->key);
	}
	for (fr_chunk *c = f->chunks, *next; c; c = next) {
		next = c->next;
		al_free(c);
	}
	al_free(f->slots);
	al_sbuffer_destroy(&f->pack);
	al_free(f);
}

size_t al__fr_bytes(const al_fr *f) { return f ? f->bytes : 0; }

/* ---- memory: an arena with free lists ----------------------------------------------------------- */

/* size bytes from the arena's newest chunk, or a new one (what the last one had left is lost:
 * a little). */
static char *bump(al_fr *f, size_t size)
{
	if (size > f->left) {
		size_t csize = f->next_chunk < CHUNK0 ? CHUNK0 : f->next_chunk;
		while (csize < size)
			csize *= 2;
		fr_chunk *c = al_malloc(sizeof *c + csize);
		if (c == NULL)
			return NULL;
		al__ov_mem_ready(c, sizeof *c + csize);
		c->next = f->chunks;
		f->chunks = c;
		f->bytes += sizeof *c + csize;
		f->cur = (char *)(c + 1);
		f->left = csize;
		f->next_chunk = csize < CHUNK_MAX ? csize * 2 : CHUNK_MAX;
	}
	char *p = f->cur;
	f->cur += size;
	f->left -= size;
	return p;
}

/* size bytes (rounded): freed memory of that size, the arena's, or (large) their own. */
static char *mem_alloc(al_fr *f, size_t size)
{
	size = rounded(size);
	if (alone(size)) {
		char *p = al_malloc(size);
		f->bytes += p ? size : 0;
		return p;
	}
	char **fl = &f->free[size / GRAIN - 1];
	if (*fl == NULL)
		return bump(f, size);
	char *p = *fl;
	memcpy(fl, p, sizeof *fl);
	return p;
}

static void mem_free(al_fr *f, char *p, size_t size)
{
	size = rounded(size);
	if (alone(size)) {
		al_free(p);
		f->bytes -= size;
		return;
	}
	char **fl = &f->free[size / GRAIN - 1];
	memcpy(p, fl, sizeof *fl);
	*fl = p;
}

/* The room of a string of n bytes: some slack, since a column that changes often grows (a
 * revision number gains a digit). */
static uint32_t room_for(size_t n) { return (uint32_t)rounded(n + n / 4 + GRAIN); }

/* ---- the hash table ------------------------------------------------------------------------------ */

static size_t hash(MDB_dbi dbi, const void *k, size_t kn) { return (size_t)XXH3_64bits_withSeed(k, kn, dbi); }

static bool is_key(const fr_ent *x, MDB_dbi dbi, const void *k, size_t kn)
{
	return x->dbi == dbi && x->kn == kn && memcmp(x->key, k, kn) == 0;
}

/* The slot of (dbi, key): its entry's, or the empty one where it would go. */
static size_t find(const al_fr *f, MDB_dbi dbi, const void *k, size_t kn)
{
	size_t mask = f->nslots - 1, h = hash(dbi, k, kn) & mask;
	for (;; h = (h + 1) & mask) {
		uint32_t e = f->slots[h];
		if (e == 0 || is_key(ent(f, e - 1), dbi, k, kn))
			return h;
	}
}

static bool holds_dbi(const al_fr *f, MDB_dbi dbi)
{
	return dbi < 256 ? (f->dbis[dbi / 64] >> (dbi % 64)) & 1 : f->big_dbi;
}

/* The entry of (dbi, key), + 1, or 0; the one found last is tried first. */
static uint32_t lookup(al_fr *f, MDB_dbi dbi, const void *k, size_t kn)
{
	if (f->n == 0 || !holds_dbi(f, dbi))
		return 0;
	if (f->last && is_key(ent(f, f->last - 1), dbi, k, kn))
		return f->last;
	uint32_t e = f->slots[find(f, dbi, k, kn)];
	if (e)
		f->last = e;
	return e;
}

static int grow(al_fr *f)
{
	if (f->n == ENTS0 * (((size_t)1 << f->nblocks) - 1)) { /* the blocks are full */
		fr_ent *b = f->nblocks < NBLOCKS && f->n < UINT32_MAX / 2 ?
				    (fr_ent *)bump(f, (ENTS0 << f->nblocks) * sizeof *b) : NULL;
		if (b == NULL)
			return AL_ENO_MEMORY;
		f->ents[f->nblocks++] = b;
	}
	if (2 * (f->n + 1) <= f->nslots)
		return AL_OK;
	size_t ns = f->nslots ? f->nslots * 2 : 8192;
	uint32_t *s = al_calloc(ns, sizeof *s);
	if (s == NULL)
		return AL_ENO_MEMORY;
	al_free(f->slots);
	f->bytes += (ns - f->nslots) * sizeof *s;
	f->slots = s;
	f->nslots = ns;
	for (size_t i = 0; i < f->n; i++) /* forgotten entries keep their key: still findable */
		f->slots[find(f, ent(f, i)->dbi, ent(f, i)->key, ent(f, i)->kn)] = (uint32_t)i + 1;
	return AL_OK;
}

int al__fr_get(al_fr *f, MDB_dbi dbi, const void *k, size_t kn, const al_row_def *d, void *row)
{
	if (f == NULL)
		return 0;
	uint32_t e = lookup(f, dbi, k, kn);
	if (e == 0 || !ent(f, e - 1)->held || ent(f, e - 1)->k->d != d)
		return 0;
	memcpy(row, ent(f, e - 1)->row, d->size);
	return 1;
}

/* ---- put --------------------------------------------------------------------------------------- */

/* Whether [p, p + n) overlaps one of x's slots (which a put may overwrite). */
static bool in_slots(const fr_ent *x, const char *p, size_t n)
{
	for (size_t i = 0; i < x->k->ns; i++) {
		const char *s = str_of(x->k, i, x->row)->p;
		if (p < s + x->cap[i] && p + n > s)
			return true;
	}
	return false;
}

/* Whether row's strings can be copied into x's slots as they are: each fits, and none but
 * one already in its own slot comes from anywhere near them (it could be overwritten before
 * it is read). The common case: an event's new strings, the rest as the row held them. */
static bool fits_in_place(const fr_ent *x, const unsigned char *row)
{
	const fr_kind *k = x->k;
	for (size_t i = 0; i < k->ns; i++) {
		const al_str *s = str_of(k, i, row);
		if (s->n > x->cap[i])
			return false;
		if (s->n && s->p != str_of(k, i, x->row)->p && s->p < x->hi && s->p + s->n > x->lo)
			return false;
	}
	return true;
}

/* Notes where x's slots lie (row: x's new row, its strings at the slots). */
static void set_span(fr_ent *x, const unsigned char *row)
{
	x->lo = x->hi = NULL;
	for (size_t i = 0; i < x->k->ns; i++) {
		const char *s = str_of(x->k, i, row)->p;
		if (x->lo == NULL || s < x->lo)
			x->lo = s;
		if (x->hi == NULL || s + x->cap[i] > x->hi)
			x->hi = s + x->cap[i];
	}
}

/* Puts row's strings into x's slots, a string that outgrows its slot (or comes from another
 * of x's slots) into a new one; the slots left go on the free lists. row's strings then
 * point at the slots. AL_ENO_MEMORY with x as it was. */
static int put_strings(al_fr *f, fr_ent *x, unsigned char *row)
{
	const fr_kind *k = x->k;
	if (fits_in_place(x, row)) {
		for (size_t i = 0; i < k->ns; i++) {
			al_str *s = str_of(k, i, row);
			char *slot = (char *)str_of(k, i, x->row)->p;
			if (s->n && s->p != slot)
				memcpy(slot, s->p, s->n);
			s->p = slot;
		}
		return AL_OK;
	}
	char *slot[STR_MAX], *moved[STR_MAX] = {0};
	for (size_t i = 0; i < k->ns; i++) { /* first the new slots: nothing of x is written yet */
		const al_str *s = str_of(k, i, row);
		slot[i] = (char *)str_of(k, i, x->row)->p;
		if (s->n > x->cap[i] || (s->n && s->p != slot[i] && in_slots(x, s->p, s->n))) {
			if ((moved[i] = mem_alloc(f, room_for(s->n))) == NULL) {
				while (i-- > 0)
					if (moved[i])
						mem_free(f, moved[i], room_for(str_of(k, i, row)->n));
				return AL_ENO_MEMORY;
			}
			memcpy(moved[i], s->p, s->n);
		}
	}
	for (size_t i = 0; i < k->ns; i++) {
		al_str *s = str_of(k, i, row);
		if (moved[i]) {
			mem_free(f, slot[i], x->cap[i]);
			x->cap[i] = room_for(s->n);
			slot[i] = moved[i];
		} else if (s->n && s->p != slot[i])
			memcpy(slot[i], s->p, s->n); /* from outside x: no slot is read after it is written */
		s->p = slot[i];
	}
	set_span(x, row);
	return AL_OK;
}

/* A new entry (or one of another kind) gets a slot for each string column, row's strings
 * copied into them. */
static int put_new(al_fr *f, fr_ent *x, const fr_kind *k, unsigned char *row)
{
	char *slot[STR_MAX];
	for (size_t i = 0; i < k->ns; i++) {
		const al_str *s = str_of(k, i, row);
		if ((slot[i] = mem_alloc(f, room_for(s->n))) == NULL) {
			while (i-- > 0)
				mem_free(f, slot[i], room_for(str_of(k, i, row)->n));
			return AL_ENO_MEMORY;
		}
		memcpy(slot[i], s->p, s->n);
	}
	for (size_t i = 0; x->k && i < x->k->ns; i++) /* the old kind's slots are free now */
		mem_free(f, (char *)str_of(x->k, i, x->row)->p, x->cap[i]);
	for (size_t i = 0; i < k->ns; i++) {
		x->cap[i] = room_for(str_of(k, i, row)->n);
		str_of(k, i, row)->p = slot[i];
	}
	x->k = k;
	set_span(x, row);
	return AL_OK;
}

int al__fr_put(al_fr *f, MDB_dbi dbi, const void *key, size_t kn, const al_row_def *d, const void *row, bool dirty)
{
	const fr_kind *k = kind_of(f, d);
	if (k == NULL || kn > UINT32_MAX)
		return AL_EINTERNAL;
	unsigned char tmp[ROW_MAX];
	memcpy(tmp, row, d->size);
	uint32_t e = lookup(f, dbi, key, kn);
	fr_ent *x;
	int rc;
	if (e) {
		x = ent(f, e - 1);
		rc = x->k == k ? put_strings(f, x, tmp) : put_new(f, x, k, tmp);
		if (rc)
			return rc; /* the entry is as it was */
	} else {
		if ((rc = grow(f)))
			return rc;
		size_t hslot = find(f, dbi, key, kn);
		x = ent(f, f->n);
		memset(x, 0, offsetof(fr_ent, row));
		x->key = kn <= KEY_IN ? x->kin : mem_alloc(f, kn);
		if (x->key == NULL)
			return AL_ENO_MEMORY;
		if ((rc = put_new(f, x, k, tmp))) {
			if (x->key != x->kin)
				mem_free(f, x->key, kn);
			return rc;
		}
		memcpy(x->key, key, kn);
		x->kn = (uint32_t)kn;
		x->dbi = dbi;
		if (dbi < 256)
			f->dbis[dbi / 64] |= (uint64_t)1 << (dbi % 64);
		else
			f->big_dbi = true;
		f->slots[hslot] = (uint32_t)++f->n;
		f->last = (uint32_t)f->n;
	}
	memcpy(x->row, tmp, d->size);
	x->dirty = x->held ? dirty || x->dirty : dirty;
	x->held = true;
	return AL_OK;
}

/* ---- into the overlay ------------------------------------------------------------------------------ */

static int put_back(al_fr *f, al_ov *ov, fr_ent *x)
{
	msgpack_sbuffer *b = &f->pack;
	size_t n = al_row_packed_size(x->k->d, x->row);
	b->size = 0;
	if (n > b->alloc) {
		char *m = al_realloc(b->data, n);
		if (m == NULL)
			return AL_ENO_MEMORY;
		b->data = m;
		b->alloc = n;
	}
	al_row_pack_to(b->data, x->k->d, x->row);
	int rc = al__ov_put(ov, x->dbi, x->key, x->kn, b->data, n);
	if (rc == AL_OK)
		x->dirty = false;
	return rc == AL_OV_MISS ? AL_EINTERNAL : rc;
}

int al__fr_flush(al_fr *f, al_ov *ov)
{
	for (size_t i = 0; f && i < f->n; i++)
		if (ent(f, i)->held && ent(f, i)->dirty) {
			int rc = put_back(f, ov, ent(f, i));
			if (rc)
				return rc;
		}
	return AL_OK;
}

int al__fr_sync(al_fr *f, al_ov *ov, MDB_dbi dbi, const void *k, size_t kn)
{
	if (f == NULL)
		return AL_OK;
	uint32_t e = lookup(f, dbi, k, kn);
	if (e == 0 || !ent(f, e - 1)->held)
		return AL_OK;
	fr_ent *x = ent(f, e - 1);
	int rc = x->dirty ? put_back(f, ov, x) : AL_OK;
	if (rc == AL_OK)
		x->held = false; /* forgotten: the overlay has it */
	return rc;
}
