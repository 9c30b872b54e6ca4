/* foldrows.c - a fold's compact rows kept decoded (foldrows.h). */
#include <string.h>
#include <xxhash.h>

#include "core/foldrows.h"
#include "util/alloc.h"

#define ROW_MAX 256 /* bytes of a row struct (rows.def kinds are well below) */

typedef struct fr_ent {
	MDB_dbi dbi;
	const al_row_def *d; /* NULL: a free entry (forgotten) */
	bool dirty;
	char *mem;           /* the key, then the strings of row */
	size_t kn, cap;
	unsigned char row[ROW_MAX];
} fr_ent;

struct al_fr {
	fr_ent *ents;
	size_t n, cap;
	uint32_t *slots; /* entry + 1, 0 empty; open addressing, linear probing */
	size_t nslots;
	size_t bytes;
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

void al__fr_free(al_fr *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++)
		al_free(f->ents[i].mem);
	al_free(f->ents);
	al_free(f->slots);
	al_sbuffer_destroy(&f->pack);
	al_free(f);
}

size_t al__fr_bytes(const al_fr *f) { return f ? f->bytes : 0; }

static size_t hash(MDB_dbi dbi, const void *k, size_t kn) { return (size_t)XXH3_64bits_withSeed(k, kn, dbi); }

/* The slot of (dbi, key): its entry's, or the empty one where it would go. */
static size_t find(const al_fr *f, MDB_dbi dbi, const void *k, size_t kn)
{
	size_t mask = f->nslots - 1, h = hash(dbi, k, kn) & mask;
	for (;; h = (h + 1) & mask) {
		uint32_t e = f->slots[h];
		if (e == 0)
			return h;
		const fr_ent *x = &f->ents[e - 1];
		if (x->dbi == dbi && x->kn == kn && memcmp(x->mem, k, kn) == 0)
			return h;
	}
}

static int grow(al_fr *f)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 4096;
		fr_ent *e = al_realloc(f->ents, cap * sizeof *e);
		if (e == NULL)
			return AL_ENO_MEMORY;
		f->ents = e;
		f->bytes += (cap - f->cap) * sizeof *e;
		f->cap = cap;
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
		f->slots[find(f, f->ents[i].dbi, f->ents[i].mem, f->ents[i].kn)] = (uint32_t)i + 1;
	return AL_OK;
}

int al__fr_get(al_fr *f, MDB_dbi dbi, const void *k, size_t kn, const al_row_def *d, void *row)
{
	if (f == NULL || f->n == 0)
		return 0;
	uint32_t e = f->slots[find(f, dbi, k, kn)];
	if (e == 0 || f->ents[e - 1].d != d)
		return 0;
	memcpy(row, f->ents[e - 1].row, d->size);
	return 1;
}

int al__fr_put(al_fr *f, MDB_dbi dbi, const void *k, size_t kn, const al_row_def *d, const void *row, bool dirty)
{
	if (d->size > ROW_MAX)
		return AL_EINTERNAL;
	int rc = grow(f);
	if (rc)
		return rc;
	size_t slot = find(f, dbi, k, kn);
	/* The key and strings are laid out in the scratch buffer first: they may point into the
	 * entry's own memory, which is then overwritten. */
	msgpack_sbuffer *b = &f->pack;
	b->size = 0;
	if (al_sbuffer_write(b, k, kn))
		return AL_ENO_MEMORY;
	unsigned char tmp[ROW_MAX];
	memcpy(tmp, row, d->size);
	for (size_t i = 0; i < d->ncols; i++)
		if (d->cols[i].type == AL_COL_STR) {
			al_str *s = (al_str *)(tmp + d->cols[i].off);
			size_t at = b->size;
			if (al_sbuffer_write(b, s->p ? s->p : "", s->n))
				return AL_ENO_MEMORY;
			s->p = (const char *)(uintptr_t)at; /* an offset until the memory is known */
		}
	fr_ent *x;
	if (f->slots[slot] == 0) {
		x = &f->ents[f->n];
		memset(x, 0, sizeof *x);
		f->slots[slot] = (uint32_t)++f->n;
	} else
		x = &f->ents[f->slots[slot] - 1];
	if (x->cap < b->size) {
		size_t cap = b->size + b->size / 2 + 16;
		char *m = al_realloc(x->mem, cap);
		if (m == NULL)
			return AL_ENO_MEMORY; /* the entry is as it was */
		f->bytes += cap - x->cap;
		x->mem = m;
		x->cap = cap;
	}
	memcpy(x->mem, b->data, b->size);
	for (size_t i = 0; i < d->ncols; i++)
		if (d->cols[i].type == AL_COL_STR) {
			al_str *s = (al_str *)(tmp + d->cols[i].off);
			s->p = x->mem + (uintptr_t)s->p;
		}
	memcpy(x->row, tmp, d->size);
	x->dbi = dbi;
	x->d = d;
	x->kn = kn;
	x->dirty = dirty || x->dirty;
	return AL_OK;
}

static int put_back(al_fr *f, al_ov *ov, fr_ent *x)
{
	msgpack_sbuffer *b = &f->pack;
	msgpack_packer pk;
	b->size = 0;
	msgpack_packer_init(&pk, b, al_sbuffer_write);
	unsigned long nomem = al__nomem_count();
	al_row_pack(&pk, x->d, x->row);
	if (al__nomem_count() != nomem)
		return AL_ENO_MEMORY;
	int rc = al__ov_put(ov, x->dbi, x->mem, x->kn, b->data, b->size);
	if (rc == AL_OK)
		x->dirty = false;
	return rc == AL_OV_MISS ? AL_EINTERNAL : rc;
}

int al__fr_flush(al_fr *f, al_ov *ov)
{
	for (size_t i = 0; f && i < f->n; i++)
		if (f->ents[i].d && f->ents[i].dirty) {
			int rc = put_back(f, ov, &f->ents[i]);
			if (rc)
				return rc;
		}
	return AL_OK;
}

int al__fr_sync(al_fr *f, al_ov *ov, MDB_dbi dbi, const void *k, size_t kn)
{
	if (f == NULL || f->n == 0)
		return AL_OK;
	uint32_t e = f->slots[find(f, dbi, k, kn)];
	if (e == 0 || f->ents[e - 1].d == NULL)
		return AL_OK;
	fr_ent *x = &f->ents[e - 1];
	int rc = x->dirty ? put_back(f, ov, x) : AL_OK;
	if (rc == AL_OK)
		x->d = NULL; /* forgotten: the overlay has it */
	return rc;
}
