/* fold_decode.c - the log decoded ahead of a fold, on its own thread (fold_decode.h). */
#include <pthread.h>
#include <string.h>

#include "core/fold_decode.h"
#include "core/log.h"
#include "core/record.h"

#define NBATCH 16     /* batches in the ring: the decoder may be this far ahead */
#define BATCH 512     /* events per batch */

typedef struct batch {
	al_event ev[BATCH];
	MDB_val rec[BATCH]; /* each event's record, its checksum checked when it is handed over */
	size_t n;
	bool last;        /* the stream ends after this batch (rc says how) */
	int rc;
	al_error err;
	msgpack_zone zone;
} batch;

struct al_decoder {
	al_store *s;
	uint64_t from, to;
	batch b[NBATCH];
	size_t filled, taken; /* batches the decoder filled, the fold took (ring positions) */
	bool held;            /* the fold holds batch `taken` (handed over by al__decoder_block) */
	const al_event *cur;  /* al__decoder_next: the block it hands out event by event */
	size_t pos, n;
	bool stop;            /* the fold is done with the stream */
	bool ended;           /* a record handed over failed its check: the stream ends with end_rc */
	int end_rc;
	al_error end_err;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
};

/* Fills b with the events after seq *next; false when the stream ends with it. */
static bool fill(al_decoder *d, MDB_cursor *c, batch *b, uint64_t *next)
{
	b->n = 0;
	b->rc = AL_OK;
	msgpack_zone_clear(&b->zone);
	while (b->n < BATCH && *next <= d->to) {
		unsigned char k[8];
		al__be64(k, *next);
		MDB_val key = {8, k}, val;
		int m = mdb_cursor_get(c, &key, &val, b->n == 0 && *next == d->from ? MDB_SET_KEY : MDB_NEXT);
		if (m == 0 && (key.mv_size != 8 || al__get_be64(key.mv_data) != *next))
			m = MDB_NOTFOUND; /* a gap */
		if (m) {
			b->rc = m == MDB_NOTFOUND ? al_err(&b->err, AL_ECORRUPT, "event %llu is missing from the log",
							   (unsigned long long)*next)
						  : al_err(&b->err, AL_EIO_ERROR, "read log: %s", mdb_strerror(m));
			return false;
		}
		/* The checksum is left to the fold's thread (check_block): this one is the busier. A
		 * record that fails here says what al__rec_open says first (a checksum mismatch). */
		al_rec_header h;
		b->rc = al__rec_header(val.mv_data, val.mv_size, *next, &h, &b->err);
		if (b->rc == AL_OK && (h.format != AL_FORMAT_VERSION ||
				       (b->rc = al__event_decode(&h, (const char *)val.mv_data + AL_REC_HEADER, *next,
								 &b->zone, &b->ev[b->n], &b->err)) != AL_OK)) {
			int orc = al__rec_open(val.mv_data, val.mv_size, *next, &h, &b->err);
			b->rc = orc ? orc : b->rc;
		}
		if (b->rc)
			return false;
		b->rec[b->n++] = val;
		++*next;
	}
	return *next <= d->to;
}

static void *run(void *arg)
{
	al_decoder *d = arg;
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	al_error err = {0};
	int rc = al__read_begin(d->s, &txn, &err);
	if (rc == AL_OK && (rc = mdb_cursor_open(txn, d->s->events, &c)))
		rc = al_err(&err, AL_EIO_ERROR, "open log: %s", mdb_strerror(rc));
	uint64_t next = d->from;
	bool more = true;
	pthread_mutex_lock(&d->mu);
	while (more && !d->stop) {
		while (d->filled - d->taken == NBATCH && !d->stop)
			pthread_cond_wait(&d->cv, &d->mu);
		if (d->stop)
			break;
		batch *b = &d->b[d->filled % NBATCH];
		pthread_mutex_unlock(&d->mu);
		if (rc == AL_OK)
			more = fill(d, c, b, &next);
		else {
			b->n = 0, b->rc = rc, b->err = err;
			more = false;
		}
		b->last = !more;
		pthread_mutex_lock(&d->mu);
		d->filled++;
		pthread_cond_broadcast(&d->cv);
	}
	/* The events point into this snapshot: it stays until the fold is done with them. */
	while (!d->stop)
		pthread_cond_wait(&d->cv, &d->mu);
	pthread_mutex_unlock(&d->mu);
	if (c)
		mdb_cursor_close(c);
	if (txn)
		mdb_txn_abort(txn);
	return NULL;
}

al_decoder *al__decoder_start(al_store *s, uint64_t from, uint64_t to)
{
	al_decoder *d = al_calloc(1, sizeof *d);
	if (d == NULL)
		return NULL;
	d->s = s;
	d->from = from;
	d->to = to;
	for (int i = 0; i < NBATCH; i++)
		msgpack_zone_init(&d->b[i].zone, 64 * 1024);
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	if (pthread_create(&d->thread, NULL, run, d) != 0) {
		for (int i = 0; i < NBATCH; i++)
			msgpack_zone_destroy(&d->b[i].zone);
		pthread_mutex_destroy(&d->mu);
		pthread_cond_destroy(&d->cv);
		al_free(d);
		return NULL;
	}
	return d;
}

/* The block's records' checksums, on the fold's thread: a block cut short before the first
 * that fails, which ends the stream. */
static void check_block(al_decoder *d, const batch *b, size_t *n)
{
	al_rec_header h;
	for (size_t i = 0; i < *n; i++)
		if ((d->end_rc = al__rec_open(b->rec[i].mv_data, b->rec[i].mv_size, b->ev[i].seq, &h, &d->end_err))) {
			d->ended = true;
			*n = i;
			return;
		}
}

const al_event *al__decoder_block(al_decoder *d, size_t *n, int *rc, al_error *err)
{
	if (d->ended) { /* a record failed its checksum: the end, and it stays there */
		*n = 0;
		*rc = d->end_rc;
		*err = d->end_err;
		return NULL;
	}
	pthread_mutex_lock(&d->mu);
	if (d->held) { /* done with the block handed over last: the decoder may refill it */
		d->held = false;
		d->taken++;
		pthread_cond_broadcast(&d->cv);
	}
	while (d->filled == d->taken)
		pthread_cond_wait(&d->cv, &d->mu);
	batch *b = &d->b[d->taken % NBATCH];
	*n = b->n;
	if (b->n == 0) { /* only the last batch may be empty: the end, and it stays there */
		*rc = b->rc;
		if (b->rc)
			*err = b->err;
	} else if (b->last)
		b->n = 0; /* its events now, the end at the next call: it is never stepped past */
	else
		d->held = true;
	pthread_mutex_unlock(&d->mu);
	if (*n > 0) /* outside the lock: the block is the fold's until the next call */
		check_block(d, b, n);
	if (*n == 0 && d->ended)
		return al__decoder_block(d, n, rc, err);
	return *n > 0 ? b->ev : NULL;
}

const al_event *al__decoder_next(al_decoder *d, int *rc, al_error *err)
{
	if (d->pos == d->n) {
		d->cur = al__decoder_block(d, &d->n, rc, err);
		d->pos = 0;
		if (d->cur == NULL) {
			d->n = 0;
			return NULL;
		}
	}
	return &d->cur[d->pos++];
}

void al__decoder_stop(al_decoder *d)
{
	if (d == NULL)
		return;
	pthread_mutex_lock(&d->mu);
	d->stop = true;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->thread, NULL);
	for (int i = 0; i < NBATCH; i++)
		msgpack_zone_destroy(&d->b[i].zone);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	al_free(d);
}
