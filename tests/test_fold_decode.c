/*
 * test_fold_decode.c - the log decoded ahead of a fold on a second thread (core/fold_decode.h):
 * the same events as al__log_read in the same order, the end of the stream and its errors,
 * stopping early, and a rebuild long enough to use it giving the live views.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "core/fold_decode.h"
#include "core/log.h"
#include "core/projection.h"
#include "core/record.h"
#include "core/store.h"
#include "helpers.h"

#define UPDATES 6000 /* more than a fold decodes on its own thread for (DECODE_AHEAD_MIN) */

static void fill_log(al_store *s)
{
	assert_int_equal(th_run(s, "user.create", "email", 's', "u@x.io", "username", 's', "u", "password", 's',
				TH_PASSWORD, NULL),
			 AL_OK);
	enum { B = 1000 };
	al_request reqs[B];
	al_reply reps[B];
	char *args[B];
	for (int done = 0; done < UPDATES; done += B) {
		for (int i = 0; i < B; i++) {
			char name[32];
			snprintf(name, sizeof name, "name %d", done + i);
			size_t len;
			args[i] = th_args(&len, "email", 's', "u@x.io", "full_name", 's', name, NULL);
			reqs[i] = (al_request){"user.update", args[i], len, &th_admin, NULL, 0};
		}
		assert_int_equal(al_exec_batch(s, reqs, reps, B), AL_OK);
		for (int i = 0; i < B; i++) {
			assert_int_equal(reps[i].err.code, AL_OK);
			al_reply_free(&reps[i]);
			free(args[i]);
		}
	}
}

/* Every event, in order, as al__log_read gives it. */
static void same_events_as_the_log(void **state)
{
	al_store *s = th_store(state);
	fill_log(s);
	uint64_t head = al_log_head(s);
	al_decoder *d = al__decoder_start(s, 1, head);
	assert_non_null(d);
	MDB_txn *txn;
	al_error err = {0};
	assert_int_equal(al__read_begin(s, &txn, &err), AL_OK);
	msgpack_zone z;
	msgpack_zone_init(&z, 4096);
	const al_event *e;
	int rc = -1;
	uint64_t n = 0;
	while ((e = al__decoder_next(d, &rc, &err)) != NULL) {
		al_event want;
		msgpack_zone_clear(&z);
		assert_int_equal(al__log_read(s, txn, n + 1, &z, &want, &err), AL_OK);
		assert_int_equal(e->seq, ++n);
		assert_ptr_equal(e->def, want.def);
		assert_int_equal(e->time_us, want.time_us);
		assert_true(al_str_eq(e->id, "u@x.io") || e->seq <= th_boot_seq + 2);
		assert_int_equal(e->id.n, want.id.n);
		assert_memory_equal(e->id.p, want.id.p, e->id.n);
		assert_int_equal(e->fields.via.map.size, want.fields.via.map.size);
	}
	assert_int_equal(rc, AL_OK);
	assert_int_equal(n, head);
	msgpack_zone_destroy(&z);
	mdb_txn_abort(txn);
	al__decoder_stop(d);
}

/* Past the head the stream ends with the missing event; a stop before the end is clean. */
static void ends_and_stops(void **state)
{
	al_store *s = th_store(state);
	fill_log(s);
	uint64_t head = al_log_head(s);
	al_decoder *d = al__decoder_start(s, head - 10, head + 5);
	assert_non_null(d);
	int rc = -1;
	al_error err = {0};
	size_t n = 0;
	while (al__decoder_next(d, &rc, &err) != NULL)
		n++;
	assert_int_equal(n, 11);
	assert_int_equal(rc, AL_ECORRUPT);
	char want[64];
	snprintf(want, sizeof want, "event %llu is missing", (unsigned long long)head + 1);
	assert_non_null(strstr(err.msg, want));
	al__decoder_stop(d);

	d = al__decoder_start(s, 1, head); /* stopped with the decoder still ahead */
	assert_non_null(d);
	for (int i = 0; i < 7; i++)
		assert_non_null(al__decoder_next(d, &rc, &err));
	al__decoder_stop(d);
}

/* Flips a bit of byte `at` of event bad's record (its checksum no longer matches) and reopens
 * the store. */
static void damage(th_fx *f, uint64_t bad, size_t at)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", f->dir);
	al_store_close(f->s);
	f->s = NULL;
	th_damage_record(dir, bad, at, 0x40);
	al_error err = {0};
	assert_int_equal(al_store_open(&f->s, dir, &(al_open_opts){.flags = AL_OPEN_QUIET}, &err), AL_OK);
}

/* A damaged record ends the stream with corrupt at its seq, after the events before it. */
static void damaged_record(void **state)
{
	th_fx *f = *state;
	fill_log(f->s);
	uint64_t bad = al_log_head(f->s) / 2;
	damage(f, bad, AL_REC_HEADER + 3);
	al_error err = {0};
	al_decoder *d = al__decoder_start(f->s, 1, al_log_head(f->s));
	assert_non_null(d);
	int rc = -1;
	uint64_t last = 0;
	const al_event *e;
	while ((e = al__decoder_next(d, &rc, &err)) != NULL)
		last = e->seq;
	assert_int_equal(last, bad - 1);
	assert_int_equal(rc, AL_ECORRUPT);
	al__decoder_stop(d);
	/* A rebuild through it fails the same way, and leaves the views whole. */
	char before[33], after[33];
	th_digest(f->s, before);
	assert_int_equal(al_store_rebuild(f->s, NULL, NULL, &err), AL_ECORRUPT);
	th_digest(f->s, after);
	assert_string_equal(before, after);
}

/* Events from..to of s in blocks: each block's seqs follow on from the last one's; the block
 * sizes into sizes[] (*nb of them); the end's rc, which a further call gives again. */
static int stream_blocks(al_store *s, uint64_t from, uint64_t to, size_t *sizes, size_t *nb, al_error *err)
{
	al_decoder *d = al__decoder_start(s, from, to);
	assert_non_null(d);
	const al_event *e;
	size_t n = 0;
	int rc = -1, again = -2;
	uint64_t next = from;
	*nb = 0;
	while ((e = al__decoder_block(d, &n, &rc, err)) != NULL) {
		assert_true(n >= 1);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(e[i].seq, next++);
		sizes[(*nb)++] = n;
	}
	al_error err2 = {0};
	assert_null(al__decoder_block(d, &n, &again, &err2)); /* the end stays the end */
	assert_int_equal(again, rc);
	al__decoder_stop(d);
	return rc;
}

/* The decoder hands the fold whole blocks (one lock per block, not per event): none lost or
 * repeated at a block's edge, a stream of whole blocks ends right after its last one, and a
 * damaged record in the middle of a block ends the stream after a shorter block of the
 * events before it. */
static void blocks(void **state)
{
	th_fx *f = *state;
	fill_log(f->s);
	uint64_t head = al_log_head(f->s);
	size_t sizes[256], nb;
	al_error err = {0};
	assert_int_equal(stream_blocks(f->s, 1, head, sizes, &nb, &err), AL_OK);
	size_t bn = sizes[0], total = 0;
	assert_true(bn > 1 && bn * 4 < head && nb > 4);
	for (size_t i = 0; i < nb; i++) {
		assert_true(i == nb - 1 ? sizes[i] <= bn : sizes[i] == bn);
		total += sizes[i];
	}
	assert_int_equal(total, head);

	/* Exactly three blocks, from an event that is not the first: three, and the end. */
	assert_int_equal(stream_blocks(f->s, 7, 6 + 3 * bn, sizes, &nb, &err), AL_OK);
	assert_int_equal(nb, 3);
	assert_int_equal(sizes[2], bn);
	/* One past a block: a block of one more. */
	assert_int_equal(stream_blocks(f->s, 7, 7 + bn, sizes, &nb, &err), AL_OK);
	assert_int_equal(nb, 2);
	assert_int_equal(sizes[1], 1);
	/* Past the head, at a block's first event: the blocks before, then the missing event. */
	assert_int_equal(stream_blocks(f->s, head - bn + 1, head + 1, sizes, &nb, &err), AL_ECORRUPT);
	assert_int_equal(nb, 1);
	assert_int_equal(sizes[0], bn);

	/* Damaged in the middle of the third block, in its stored checksum (the payload still
	 * decodes: the check is the fold's) and in the second, in its payload (which may not
	 * decode: the decoder says checksum mismatch first): the whole blocks before, then the
	 * events before the damage. */
	uint64_t bad = 1 + 2 * bn + bn / 2, bad2 = 1 + bn + bn / 3;
	damage(f, bad, 24);
	char want[64];
	assert_int_equal(stream_blocks(f->s, 1, head, sizes, &nb, &err), AL_ECORRUPT);
	assert_int_equal(nb, 3);
	assert_int_equal(sizes[1], bn);
	assert_int_equal(sizes[2], bad - 1 - 2 * bn);
	snprintf(want, sizeof want, "event %llu: checksum mismatch", (unsigned long long)bad);
	assert_non_null(strstr(err.msg, want));
	damage(f, bad2, AL_REC_HEADER); /* the map's first byte: 0x8N ^ 0x40, a bin 32 header */
	assert_int_equal(stream_blocks(f->s, 1, head, sizes, &nb, &err), AL_ECORRUPT);
	assert_int_equal(nb, 2);
	assert_int_equal(sizes[0], bn);
	assert_int_equal(sizes[1], bad2 - 1 - bn);
	snprintf(want, sizeof want, "event %llu: checksum mismatch", (unsigned long long)bad2);
	assert_non_null(strstr(err.msg, want));
	/* Damaged at the stream's first event: no block, only the error. */
	assert_int_equal(stream_blocks(f->s, bad, head, sizes, &nb, &err), AL_ECORRUPT);
	assert_int_equal(nb, 0);
	assert_int_equal(stream_blocks(f->s, bad2, bad2, sizes, &nb, &err), AL_ECORRUPT);
	assert_int_equal(nb, 0);
}

/* The record checksum is xxh3-64 over bytes [0, 24) then the payload, whether it is computed
 * in one call over a copy (records up to about 1 KiB) or streamed (larger ones); a changed
 * byte fails it either way. */
static void checksum_both_ways(void **state)
{
	(void)state;
	static const size_t lens[] = {0, 1, 100, 999, 1000, 1001, 5000};
	unsigned char rec[AL_REC_HEADER + 5000 + AL_REC_HASH];
	for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
		size_t n = lens[i];
		for (size_t j = 0; j < n; j++)
			rec[AL_REC_HEADER + j] = (unsigned char)(j * 31 + i);
		al__rec_seal(rec, 7, 1, 1700000000000000 + (int64_t)i, (uint32_t)n);
		XXH3_state_t st;
		XXH3_64bits_reset(&st);
		XXH3_64bits_update(&st, rec, 24);
		XXH3_64bits_update(&st, rec + AL_REC_HEADER, n);
		assert_int_equal(al__get_be64(rec + 24), XXH3_64bits_digest(&st));
		al_rec_header h;
		al_error err = {0};
		assert_int_equal(al__rec_open(rec, AL_REC_HEADER + n + AL_REC_HASH, 5, &h, &err), AL_OK);
		assert_int_equal(h.payload_len, n);
		rec[n ? AL_REC_HEADER + n - 1 : 9] ^= 1;
		assert_int_equal(al__rec_open(rec, AL_REC_HEADER + n + AL_REC_HASH, 5, &h, &err), AL_ECORRUPT);
		assert_non_null(strstr(err.msg, "checksum mismatch"));
	}
}

/* A rebuild long enough to decode on the second thread gives the live views. */
static void rebuild_equals_live(void **state)
{
	al_store *s = th_store(state);
	fill_log(s);
	char live[33], rebuilt[33];
	th_digest(s, live);
	al_error err = {0};
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
}

/* A rebuild through the decoder that writes its overlay out many times (a tiny budget): the
 * fold stops in the middle of a decoder block each time, the decoder is stopped before the
 * views are written and started again from there, and the views equal the live ones. */
static void rebuild_spills_mid_block(void **state)
{
	al_store *s = th_store(state);
	fill_log(s);
	char live[33], rebuilt[33];
	th_digest(s, live);
	al_fold_limits saved = al__fold_limits;
	unsigned long writes = al__fold_writes;
	al__fold_limits = (al_fold_limits){16 << 10, 4 << 10};
	al_error err = {0};
	int rc = al_store_rebuild(s, NULL, NULL, &err);
	al__fold_limits = saved;
	assert_int_equal(rc, AL_OK);
	print_message("# %lu write transactions\n", al__fold_writes - writes);
	assert_true(al__fold_writes - writes > 3);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(same_events_as_the_log, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(ends_and_stops, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(damaged_record, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(blocks, th_setup, th_teardown),
		cmocka_unit_test(checksum_both_ways),
		cmocka_unit_test_setup_teardown(rebuild_equals_live, th_setup, th_teardown),
		cmocka_unit_test_setup_teardown(rebuild_spills_mid_block, th_setup, th_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
