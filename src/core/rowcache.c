/* rowcache.c - the per-transaction cache of decoded view rows (rowcache.h). */
#include <string.h>
#include <xxhash.h>

#include "core/rowcache.h"

/* Direct-mapped: a colliding row replaces the older (a command needs a few). The table holds
 * pointers and the slots come from the transaction's arena, so a transaction pays for the rows
 * it caches: a table of whole slots was 37 KiB to allocate and zero for every one-command
 * durable commit. */
#define SLOTS 128

typedef struct al_rc_slot {
	MDB_dbi dbi;
	const al_row_def *d; /* NULL: empty */
	al_str key;
	unsigned char row[256]; /* the struct; its strings point into the arena */
} al_rc_slot;

static size_t slot_of(MDB_dbi dbi, const void *key, size_t kn)
{
	return (size_t)(XXH3_64bits_withSeed(key, kn, dbi) % SLOTS);
}

int al__rc_get(al_wtxn *w, MDB_dbi dbi, al_str key, const al_row_def *d, void *row)
{
	if (w->rc == NULL)
		return 0;
	const al_rc_slot *s = w->rc[slot_of(dbi, key.p, key.n)];
	if (s == NULL || s->d != d || s->dbi != dbi || s->key.n != key.n || memcmp(s->key.p, key.p, key.n) != 0)
		return 0;
	memcpy(row, s->row, d->size);
	return 1;
}

void al__rc_put(al_wtxn *w, MDB_dbi dbi, al_str key, const al_row_def *d, const void *row)
{
	if (d->size > sizeof ((al_rc_slot *)0)->row)
		return;
	if (w->rc == NULL && (w->rc = al_calloc(SLOTS, sizeof *w->rc)) == NULL)
		return;
	al_rc_slot **sp = &w->rc[slot_of(dbi, key.p, key.n)];
	if (*sp == NULL && (*sp = al_zone_malloc(&w->rc_arena, sizeof **sp)) == NULL)
		return;
	al_rc_slot *s = *sp;
	s->d = NULL;
	memcpy(s->row, row, d->size);
	/* The key and every string of the row in one piece of the arena. */
	char *k = al_zone_malloc(&w->rc_arena, key.n + al_row_strings_len(d, row) + 1);
	if (k == NULL)
		return;
	memcpy(k, key.p, key.n);
	al_row_move_strings(d, s->row, k + key.n);
	s->dbi = dbi;
	s->key = (al_str){k, key.n};
	s->d = d;
}

void al__rc_forget(al_wtxn *w, MDB_dbi dbi, const void *key, size_t kn)
{
	if (w->rc == NULL)
		return;
	al_rc_slot *s = w->rc[slot_of(dbi, key, kn)];
	if (s && s->d && s->dbi == dbi && s->key.n == kn && memcmp(s->key.p, key, kn) == 0)
		s->d = NULL;
}

void al__rc_reset(al_wtxn *w)
{
	if (w->rc) /* the slots are in the arena, cleared below */
		memset(w->rc, 0, SLOTS * sizeof *w->rc);
	msgpack_zone_clear(&w->rc_arena);
}

void al__rc_free(al_wtxn *w)
{
	al_free(w->rc);
	w->rc = NULL;
	msgpack_zone_destroy(&w->rc_arena);
}
