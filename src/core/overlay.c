/* overlay.c - a fold's views in memory (overlay.h): a hash table over an arena, sorted per view
 * only when it is scanned or written. */
#define _GNU_SOURCE /* qsort_r */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "core/overlay.h"
#include "core/store.h"

#define CHUNK_MIN ((size_t)16 << 10) /* the first arena chunk; each next one twice as large */
#define CHUNK_MAX ((size_t)8 << 20)  /* up to this; a value larger than a quarter of it alone */
#define HUGE_PAGE ((uintptr_t)2 << 20)
#define MAX_DBI 256             /* dbi handles are small (al_store opens at most 128) */
#define MAX_DBS (AL_PROJ_MAX * AL_PROJ_MAX_DBS)

typedef struct ov_ent {
	uint64_t h;
	char *k, *v;              /* v: its room, cap bytes */
	uint32_t kn, vn, cap;
	uint16_t db;
	uint8_t dead;             /* a tombstone: deleted, whatever LMDB holds */
} ov_ent;

typedef struct ov_slot {
	uint32_t ent;             /* entry index + 1, 0 empty */
	uint32_t tag;             /* the hash's high half: most probes never touch the entry */
} ov_slot;

typedef struct ov_db {
	MDB_dbi dbi;
	bool lmdb;                /* LMDB may hold rows of it: read it on a miss, write with puts */
	bool wrote;               /* al__ov_write put rows into it since al__ov_clear */
	uint32_t *idx;            /* its entries; the first nsorted in key order */
	size_t n, cap, nsorted;
} ov_db;

typedef struct ov_chunk {
	struct ov_chunk *next;
	size_t size;
} ov_chunk;

struct al_ov {
	ov_ent *ents;
	size_t n, cap;
	ov_slot *slots;           /* open addressing, linear probing */
	size_t nslots;            /* a power of 2, at least twice n */
	uint32_t last;            /* the entry found last, + 1: a put follows the get of its row */
	ov_db dbs[MAX_DBS];
	size_t ndbs;
	short db_of[MAX_DBI];     /* dbi -> index in dbs, or -1 */
	ov_chunk *chunks;
	char *cur;                /* the free end of the newest chunk */
	size_t left, arena, next_chunk;
	size_t hint;              /* entries announced by al__ov_reserve */
	struct ov_presort *ps;    /* the views being sorted on another thread (al__ov_presort) */
	size_t idx_bytes;         /* the dbs' index arrays, counted as they grow (read per event) */
};

int al__key_cmp(const void *a, size_t an, const void *b, size_t bn)
{
	size_t n = an < bn ? an : bn;
	int c = n ? memcmp(a, b, n) : 0; /* an empty key may come as NULL */
	return c ? c : (an > bn) - (an < bn);
}

int al__ov_new(al_ov **out)
{
	al_ov *o = al_calloc(1, sizeof *o);
	*out = o;
	if (o == NULL)
		return AL_ENO_MEMORY;
	for (size_t i = 0; i < MAX_DBI; i++)
		o->db_of[i] = -1;
	return AL_OK;
}

static void free_entries(al_ov *o)
{
	for (ov_chunk *c = o->chunks, *next; c; c = next) {
		next = c->next;
		al_free(c);
	}
	o->chunks = NULL;
	o->cur = NULL;
	o->left = o->arena = o->next_chunk = 0;
	o->last = 0;
	o->hint = o->idx_bytes = 0;
	al_free(o->ents);
	al_free(o->slots);
	o->ents = NULL;
	o->slots = NULL;
	o->n = o->cap = o->nslots = 0;
	for (size_t d = 0; d < o->ndbs; d++) {
		al_free(o->dbs[d].idx);
		o->dbs[d].idx = NULL;
		o->dbs[d].n = o->dbs[d].cap = o->dbs[d].nsorted = 0;
	}
}

static void presort_stop(al_ov *o);

void al__ov_free(al_ov *o)
{
	if (o == NULL)
		return;
	presort_stop(o);
	free_entries(o);
	al_free(o);
}

int al__ov_cover(al_ov *o, MDB_dbi dbi, bool empty)
{
	if (dbi >= MAX_DBI || o->ndbs == MAX_DBS)
		return AL_EINVALID_ARGUMENT;
	if (o->db_of[dbi] < 0) {
		o->db_of[dbi] = (short)o->ndbs;
		o->dbs[o->ndbs++] = (ov_db){.dbi = dbi};
	}
	o->dbs[o->db_of[dbi]].lmdb = !empty;
	return AL_OK;
}

size_t al__ov_bytes(const al_ov *o)
{
	/* The arena as used, not as allocated: its newest chunk's free end is small beside the
	 * budget at scale, and counting it would make small budgets jump by whole chunks. */
	return o->arena - o->left + o->cap * sizeof *o->ents + o->nslots * sizeof *o->slots + o->idx_bytes;
}

static int db_index(const al_ov *o, MDB_dbi dbi) { return dbi < MAX_DBI ? o->db_of[dbi] : -1; }

/* ---- memory ------------------------------------------------------------------------------------ */

/* Readies a large block of new memory in one go: transparent huge pages over its 2 MiB-aligned
 * part, then every page faulted in by one call. A fold touches a few hundred MB of new
 * memory; where a page fault costs ~10-20 us (a VM), faulting it page by page on first write
 * takes as long as the fold itself. Only hints: nothing depends on them. */
void al__ov_mem_ready(void *p, size_t n)
{
	uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1), e = ((uintptr_t)p + n) & ~(HUGE_PAGE - 1);
	if (e > a)
		madvise((void *)a, e - a, MADV_HUGEPAGE);
#ifdef MADV_POPULATE_WRITE
	uintptr_t page = 4096;
	a = ((uintptr_t)p + page - 1) & ~(page - 1), e = ((uintptr_t)p + n) & ~(page - 1);
	if (e > a)
		madvise((void *)a, e - a, MADV_POPULATE_WRITE);
#endif
}

static char *arena_alloc(al_ov *o, size_t n)
{
	if (n > o->left) {
		size_t size = o->next_chunk < CHUNK_MIN ? CHUNK_MIN : o->next_chunk;
		bool alone = n > CHUNK_MAX / 4; /* a large value: the current chunk's rest stays in use */
		if (alone)
			size = n;
		ov_chunk *c = al_malloc(sizeof *c + size);
		if (c == NULL)
			return NULL;
		al__ov_mem_ready(c, sizeof *c + size);
		c->next = o->chunks;
		c->size = size;
		o->chunks = c;
		o->arena += sizeof *c + size;
		if (alone)
			return (char *)(c + 1);
		o->next_chunk = size < CHUNK_MAX ? size * 2 : CHUNK_MAX;
		o->cur = (char *)(c + 1);
		o->left = size;
		if (n > o->left) /* larger than this chunk, not than a quarter of the largest: once more */
			return arena_alloc(o, n);
	}
	char *p = o->cur;
	o->cur += n;
	o->left -= n;
	return p;
}

/* The room for a value of n bytes: some slack, since a row that grows usually grows again. */
static size_t room_for(size_t n) { return n + n / 8 + 8; }

/* ---- the hash table -------------------------------------------------------------------------------- */

static uint64_t hash(MDB_dbi dbi, const void *k, size_t kn) { return XXH3_64bits_withSeed(k, kn, dbi); }

static ov_ent *find(al_ov *o, unsigned db, uint64_t h, const void *k, size_t kn)
{
	if (o->last) {
		ov_ent *e = &o->ents[o->last - 1];
		if (e->h == h && e->kn == kn && e->db == db && (kn == 0 || memcmp(e->k, k, kn) == 0))
			return e;
	}
	if (o->nslots == 0)
		return NULL;
	uint32_t tag = (uint32_t)(h >> 32);
	for (size_t i = h & (o->nslots - 1);; i = (i + 1) & (o->nslots - 1)) {
		const ov_slot *s = &o->slots[i];
		if (s->ent == 0)
			return NULL;
		if (s->tag != tag)
			continue;
		ov_ent *e = &o->ents[s->ent - 1];
		if (e->h == h && e->kn == kn && e->db == db && (kn == 0 || memcmp(e->k, k, kn) == 0)) {
			o->last = s->ent;
			return e;
		}
	}
}

static void place(al_ov *o, uint32_t ent)
{
	uint64_t h = o->ents[ent].h;
	size_t i = h & (o->nslots - 1);
	while (o->slots[i].ent)
		i = (i + 1) & (o->nslots - 1);
	o->slots[i] = (ov_slot){ent + 1, (uint32_t)(h >> 32)};
}

static int grow_ents(al_ov *o, size_t need)
{
	size_t cap = o->cap ? o->cap : 256;
	while (cap < need)
		cap *= 2;
	if (cap == o->cap)
		return AL_OK;
	ov_ent *e = al_realloc(o->ents, cap * sizeof *e);
	if (e == NULL)
		return AL_ENO_MEMORY;
	al__ov_mem_ready(e, cap * sizeof *e);
	o->ents = e;
	o->cap = cap;
	return AL_OK;
}

static int grow_idx(al_ov *o, ov_db *d, size_t need)
{
	size_t cap = d->cap ? d->cap : 16;
	while (cap < need)
		cap *= 2;
	if (cap == d->cap)
		return AL_OK;
	uint32_t *x = al_realloc(d->idx, cap * sizeof *x);
	if (x == NULL)
		return AL_ENO_MEMORY;
	al__ov_mem_ready(x, cap * sizeof *x);
	o->idx_bytes += (cap - d->cap) * sizeof *x;
	d->idx = x;
	d->cap = cap;
	return AL_OK;
}

/* Slots for need entries at most half full. Zeroed by writing rather than taken zeroed from
 * calloc: a read of a page never written maps the zero page, and the write after it then
 * faults again and flushes the TLB of every CPU. */
static int grow_slots(al_ov *o, size_t need)
{
	size_t n = o->nslots ? o->nslots : 512;
	while (n < need * 2)
		n *= 2;
	if (n == o->nslots)
		return AL_OK;
	ov_slot *s = al_malloc(n * sizeof *s);
	if (s == NULL)
		return AL_ENO_MEMORY;
	al__ov_mem_ready(s, n * sizeof *s);
	memset(s, 0, n * sizeof *s);
	al_free(o->slots);
	o->slots = s;
	o->nslots = n;
	for (size_t i = 0; i < o->n; i++)
		place(o, (uint32_t)i);
	return AL_OK;
}

/* Room for n more entries in the entry array, the slots and db's index. */
static int reserve(al_ov *o, ov_db *d, size_t n)
{
	if (o->n + n > o->cap && grow_ents(o, o->n + n) != AL_OK)
		return AL_ENO_MEMORY;
	if (d->n + n > d->cap && grow_idx(o, d, d->n + n) != AL_OK)
		return AL_ENO_MEMORY;
	if ((o->n + n) * 2 > o->nslots && grow_slots(o, o->n + n) != AL_OK)
		return AL_ENO_MEMORY;
	return AL_OK;
}

int al__ov_reserve(al_ov *o, MDB_dbi dbi, size_t n)
{
	int db = db_index(o, dbi);
	if (db < 0)
		return AL_OK;
	o->hint += n; /* the hints of all sub-databases share the entries and slots */
	ov_db *d = &o->dbs[db];
	if (d->n + n > d->cap && grow_idx(o, d, d->n + n) != AL_OK)
		return AL_ENO_MEMORY;
	if (o->n + o->hint > o->cap && grow_ents(o, o->n + o->hint) != AL_OK)
		return AL_ENO_MEMORY;
	if ((o->n + o->hint) * 2 > o->nslots && grow_slots(o, o->n + o->hint) != AL_OK)
		return AL_ENO_MEMORY;
	return AL_OK;
}

/* A new entry for key k of db (copied, with room for a value of vn bytes; none when dead). */
static ov_ent *insert(al_ov *o, unsigned db, uint64_t h, const void *k, size_t kn, size_t vn, bool dead)
{
	ov_db *d = &o->dbs[db];
	size_t room = dead ? 0 : room_for(vn);
	if (kn > UINT32_MAX || room > UINT32_MAX || reserve(o, d, 1) != AL_OK)
		return NULL;
	char *p = arena_alloc(o, kn + room ? kn + room : 1); /* an empty key's tombstone too */
	if (p == NULL)
		return NULL;
	if (kn)
		memcpy(p, k, kn);
	uint32_t i = (uint32_t)o->n++;
	o->ents[i] = (ov_ent){h, p, p + kn, (uint32_t)kn, 0, (uint32_t)room, (uint16_t)db, dead};
	place(o, i);
	d->idx[d->n++] = i;
	o->last = i + 1;
	return &o->ents[i];
}

/* ---- get, put, del --------------------------------------------------------------------------------- */

int al__ov_get(al_ov *o, MDB_dbi dbi, const void *k, size_t kn, MDB_val *out)
{
	int db = db_index(o, dbi);
	if (db < 0)
		return AL_OV_MISS;
	ov_ent *e = find(o, (unsigned)db, hash(dbi, k, kn), k, kn);
	if (e == NULL)
		return o->dbs[db].lmdb ? AL_OV_MISS : MDB_NOTFOUND;
	if (e->dead)
		return MDB_NOTFOUND;
	*out = (MDB_val){e->vn, e->v};
	return 0;
}

int al__ov_put(al_ov *o, MDB_dbi dbi, const void *k, size_t kn, const void *v, size_t vn)
{
	int db = db_index(o, dbi);
	if (db < 0)
		return AL_OV_MISS;
	uint64_t h = hash(dbi, k, kn);
	ov_ent *e = find(o, (unsigned)db, h, k, kn);
	if (e == NULL && (e = insert(o, (unsigned)db, h, k, kn, vn, false)) == NULL)
		return AL_ENO_MEMORY;
	if (vn > e->cap) {
		size_t room = room_for(vn);
		char *r = room <= UINT32_MAX ? arena_alloc(o, room) : NULL;
		if (r == NULL)
			return AL_ENO_MEMORY;
		e->v = r;
		e->cap = (uint32_t)room;
	}
	if (vn)
		memmove(e->v, v, vn); /* v may be this very value, read back */
	e->vn = (uint32_t)vn;
	e->dead = 0;
	return AL_OK;
}

int al__ov_del(al_ov *o, MDB_dbi dbi, const void *k, size_t kn)
{
	int db = db_index(o, dbi);
	if (db < 0)
		return AL_OV_MISS;
	uint64_t h = hash(dbi, k, kn);
	ov_ent *e = find(o, (unsigned)db, h, k, kn);
	if (e) {
		e->dead = 1;
		e->vn = 0;
		return AL_OK;
	}
	if (!o->dbs[db].lmdb)
		return AL_OK; /* nothing anywhere to shadow */
	return insert(o, (unsigned)db, h, k, kn, 0, true) ? AL_OK : AL_ENO_MEMORY;
}

/* ---- key order ------------------------------------------------------------------------------------- */

static int ent_cmp(const void *a, const void *b, void *ctx)
{
	const ov_ent *ents = ctx, *x = &ents[*(const uint32_t *)a], *y = &ents[*(const uint32_t *)b];
	return al__key_cmp(x->k, x->kn, y->k, y->kn);
}

/* An entry to sort: 8 bytes of its key as a number, from past the prefix the keys sorted with
 * it share, so that most of the sorting reads the items in a row rather than keys elsewhere. */
typedef struct sort_item {
	uint64_t word;
	uint32_t ent;
} sort_item;

static int item_cmp(const void *a, const void *b, void *ctx)
{
	const sort_item *x = a, *y = b;
	if (x->word != y->word)
		return x->word < y->word ? -1 : 1;
	return ent_cmp(&x->ent, &y->ent, ctx); /* equal there: the whole keys decide */
}

/* Bytes [skip, skip + 8) of e's key, big-endian, zeros past its end: when two such words
 * differ, their order is the keys' order (a key ending there sorts first, as in LMDB). */
static uint64_t key_word(const ov_ent *e, size_t skip)
{
	uint64_t w = 0;
	for (size_t i = skip; i < skip + 8; i++)
		w = w << 8 | (i < e->kn ? (unsigned char)e->k[i] : 0);
	return w;
}

/* The length of the prefix all n items' keys share. */
static size_t shared_prefix(const al_ov *o, const sort_item *a, size_t n)
{
	const ov_ent *first = &o->ents[a[0].ent];
	size_t skip = first->kn;
	for (size_t i = 1; i < n && skip > 0; i++) {
		const ov_ent *e = &o->ents[a[i].ent];
		size_t l = 0;
		while (l < skip && l < e->kn && e->k[l] == first->k[l])
			l++;
		skip = l;
	}
	return skip;
}

/* Sorts a by word, a byte at a time from the lowest (LSD radix: no comparison calls; a byte
 * every word shares is skipped). tmp: room for n. */
static void radix_words(sort_item *a, sort_item *tmp, size_t n)
{
	size_t count[8][256] = {{0}};
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++)
			count[b][(a[i].word >> (8 * b)) & 0xff]++;
	sort_item *src = a, *dst = tmp;
	for (int b = 0; b < 8; b++) {
		if (count[b][(src[0].word >> (8 * b)) & 0xff] == n)
			continue;
		size_t at = 0;
		for (int v = 0; v < 256; v++) { /* where each byte value's items start */
			size_t c = count[b][v];
			count[b][v] = at;
			at += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[b][(src[i].word >> (8 * b)) & 0xff]++] = src[i];
		sort_item *t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, n * sizeof *a);
}

#define TOP SIZE_MAX /* sort_keys' parent_skip for the first call */

/* Sorts n items by their entries' keys: by the 8 bytes past the prefix they share (a radix
 * sort for many, a comparison sort for a few), then each run of equal words the same way past
 * its own longer prefix (keys that differ only further on: the emails of one domain). A run
 * whose prefix is no longer than its parent's (keys that end within the word) compares whole
 * keys: their words are all equal. tmp: room for n. */
static void sort_keys(al_ov *o, sort_item *a, sort_item *tmp, size_t n, size_t parent_skip)
{
	size_t skip = shared_prefix(o, a, n);
	bool deeper = parent_skip == TOP || skip > parent_skip;
	for (size_t i = 0; deeper && i < n; i++)
		a[i].word = key_word(&o->ents[a[i].ent], skip);
	if (n < 1024 || !deeper) {
		qsort_r(a, n, sizeof *a, item_cmp, o->ents); /* equal words: the whole keys decide */
		return;
	}
	radix_words(a, tmp, n);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && a[j].word == a[i].word; j++)
			;
		if (j - i > 1)
			sort_keys(o, a + i, tmp, j - i, skip);
	}
}

static int sort_ents(al_ov *o, uint32_t *idx, size_t n)
{
	if (n < 2)
		return AL_OK;
	sort_item *a = al_malloc(2 * n * sizeof *a);
	if (a == NULL)
		return AL_ENO_MEMORY;
	for (size_t i = 0; i < n; i++)
		a[i] = (sort_item){0, idx[i]};
	sort_keys(o, a, a + n, n, TOP);
	for (size_t i = 0; i < n; i++)
		idx[i] = a[i].ent;
	al_free(a);
	return AL_OK;
}

/* Sorts the entries added since the last sort and merges them into the sorted ones. */
static int sort_db(al_ov *o, ov_db *d)
{
	if (d->nsorted == d->n)
		return AL_OK;
	if (sort_ents(o, d->idx + d->nsorted, d->n - d->nsorted) != AL_OK)
		return AL_ENO_MEMORY;
	if (d->nsorted > 0) {
		uint32_t *m = al_malloc(d->n * sizeof *m);
		if (m == NULL)
			return AL_ENO_MEMORY; /* the new entries stay apart, sorted: still consistent */
		size_t i = 0, j = d->nsorted, n = 0;
		while (i < d->nsorted && j < d->n)
			m[n++] = ent_cmp(&d->idx[j], &d->idx[i], o->ents) < 0 ? d->idx[j++] : d->idx[i++];
		while (i < d->nsorted)
			m[n++] = d->idx[i++];
		while (j < d->n)
			m[n++] = d->idx[j++];
		al_free(d->idx);
		o->idx_bytes -= (d->cap - d->n) * sizeof *m;
		d->idx = m;
		d->cap = d->n;
	}
	d->nsorted = d->n;
	return AL_OK;
}

int al__ov_range(al_ov *o, MDB_dbi dbi, const void *prefix, size_t pn, al_ov_iter *it)
{
	int db = db_index(o, dbi);
	if (db < 0)
		return AL_OV_MISS;
	ov_db *d = &o->dbs[db];
	if (sort_db(o, d) != AL_OK)
		return AL_ENO_MEMORY;
	size_t lo = 0, hi = d->n; /* the first key >= prefix */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const ov_ent *e = &o->ents[d->idx[mid]];
		if (al__key_cmp(e->k, e->kn, prefix, pn) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	hi = lo;
	while (hi < d->n) {
		const ov_ent *e = &o->ents[d->idx[hi]];
		if (e->kn < pn || (pn && memcmp(e->k, prefix, pn) != 0))
			break;
		hi++;
	}
	*it = (al_ov_iter){o, (unsigned)db, lo, hi, d->lmdb};
	return AL_OK;
}

bool al__ov_next(al_ov_iter *it, MDB_val *k, MDB_val *v, bool *deleted)
{
	if (it->i >= it->end)
		return false;
	const ov_ent *e = &it->o->ents[it->o->dbs[it->db].idx[it->i++]];
	*k = (MDB_val){e->kn, e->k};
	*v = (MDB_val){e->dead ? 0 : e->vn, e->v};
	*deleted = e->dead;
	return true;
}

/* ---- sorting ahead of the write ------------------------------------------------------------------ */

#define PRESORT_MIN 65536 /* entries: fewer are sorted by the writer as it goes */

/* While the views are written one after the other, the next ones are sorted on the other
 * core (idle then: the log is decoded). The thread is the only one to touch a view's index
 * until it has said the view is sorted; nothing else changes the overlay meanwhile. */
typedef struct ov_presort {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t done; /* views sorted (in al__ov_cover order) */
	int rc;      /* a sort that failed (out of memory): the views from done on are not sorted */
	bool stop;
} ov_presort;

static void *presort_run(void *arg)
{
	al_ov *o = arg;
	ov_presort *ps = o->ps;
	for (size_t d = 0; d < o->ndbs; d++) {
		int rc = sort_db(o, &o->dbs[d]);
		pthread_mutex_lock(&ps->mu);
		ps->rc = rc;
		ps->done += rc == AL_OK;
		bool stop = ps->stop || rc;
		pthread_cond_broadcast(&ps->cv);
		pthread_mutex_unlock(&ps->mu);
		if (stop)
			break;
	}
	return NULL;
}

void al__ov_presort(al_ov *o)
{
	if (o->ps || o->n < PRESORT_MIN || (o->ps = al_calloc(1, sizeof *o->ps)) == NULL)
		return; /* the writer sorts each view itself */
	pthread_mutex_init(&o->ps->mu, NULL);
	pthread_cond_init(&o->ps->cv, NULL);
	if (pthread_create(&o->ps->thread, NULL, presort_run, o) != 0) {
		pthread_mutex_destroy(&o->ps->mu);
		pthread_cond_destroy(&o->ps->cv);
		al_free(o->ps);
		o->ps = NULL;
	}
}

static void presort_stop(al_ov *o)
{
	if (o->ps == NULL)
		return;
	pthread_mutex_lock(&o->ps->mu);
	o->ps->stop = true;
	pthread_mutex_unlock(&o->ps->mu);
	pthread_join(o->ps->thread, NULL);
	pthread_mutex_destroy(&o->ps->mu);
	pthread_cond_destroy(&o->ps->cv);
	al_free(o->ps);
	o->ps = NULL;
}

/* View d in key order: sorted by the thread (once it says so), or here. */
static int sorted(al_ov *o, ov_db *d)
{
	ov_presort *ps = o->ps;
	if (ps == NULL)
		return sort_db(o, d);
	size_t want = (size_t)(d - o->dbs) + 1;
	pthread_mutex_lock(&ps->mu);
	while (ps->done < want && ps->rc == AL_OK && !ps->stop)
		pthread_cond_wait(&ps->cv, &ps->mu);
	bool done = ps->done >= want;
	int rc = done ? AL_OK : ps->rc;
	pthread_mutex_unlock(&ps->mu);
	return rc ? rc : done ? AL_OK : sort_db(o, d);
}

/* ---- writing it out ----------------------------------------------------------------------------------- */

size_t al__ov_load_bytes(const al_ov *o, size_t psize)
{
	size_t nodemax = (psize - 16) / 2 - 2, bytes = 0; /* LMDB's largest node on a leaf */
	for (size_t d = 0; d < o->ndbs; d++) {
		size_t b = 0;
		for (size_t i = 0; i < o->dbs[d].n; i++) {
			const ov_ent *e = &o->ents[o->dbs[d].idx[i]];
			if (e->dead)
				continue;
			if (8 + e->kn + e->vn <= nodemax)
				b += 10 + e->kn + e->vn;
			else /* an overflow value: whole pages, the node keeps the key and a page number */
				b += 18 + e->kn + (e->vn + 16 + psize - 1) / psize * psize;
		}
		/* Puts into a filled view split pages (half full at worst); appends fill them. */
		bytes += o->dbs[d].lmdb ? 2 * b : b + b / 8;
	}
	return bytes;
}

/* Entries i.. of d, until limit bytes are written (*used counts them); *i moves past them. */
static int write_db(al_ov *o, ov_db *d, al_wtxn *w, size_t *i, size_t limit, size_t *used, al_error *err)
{
	int rc = sorted(o, d);
	if (rc)
		return al_err(err, rc, "out of memory");
	MDB_cursor *c;
	if ((rc = mdb_cursor_open(w->txn, d->dbi, &c)))
		return al__mdb(w, rc, err, "open view");
	unsigned flags = d->lmdb ? 0 : MDB_APPEND; /* sorted keys into an empty view: pages filled in turn */
	for (; *i < d->n && *used < limit && rc == AL_OK; ++*i) {
		const ov_ent *e = &o->ents[d->idx[*i]];
		if (e->dead) {
			if (d->lmdb)
				rc = al__del(w, d->dbi, e->k, e->kn, err);
			continue;
		}
		MDB_val k = {e->kn, e->k}, v = {e->vn, e->v};
		if ((rc = al__mdb(w, mdb_cursor_put(c, &k, &v, flags), err, "write view")))
			break;
		d->wrote = true;
		*used += 10 + e->kn + e->vn;
	}
	mdb_cursor_close(c);
	return rc;
}

int al__ov_write(al_ov *o, al_wtxn *w, al_ov_pos *pos, size_t limit, al_error *err)
{
	if (w->poisoned)
		return al_err(err, AL_EIO_ERROR, "transaction failed earlier; nothing more is written");
	size_t used = 0;
	for (; pos->db < o->ndbs; pos->db++, pos->i = 0) {
		int rc = write_db(o, &o->dbs[pos->db], w, &pos->i, limit, &used, err);
		if (rc)
			return rc;
		if (pos->i < o->dbs[pos->db].n)
			break; /* the limit: the next transaction goes on here */
	}
	return AL_OK;
}

bool al__ov_written(const al_ov *o, const al_ov_pos *pos) { return pos->db >= o->ndbs; }

void al__ov_clear(al_ov *o)
{
	presort_stop(o);
	for (size_t d = 0; d < o->ndbs; d++) {
		o->dbs[d].lmdb |= o->dbs[d].wrote;
		o->dbs[d].wrote = false;
	}
	free_entries(o);
}
