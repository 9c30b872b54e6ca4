/* test_log.c - the event log: round trip, gapless seqs, idempotency, conflicts, corruption. */
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helpers.h"

typedef struct {
	uint64_t seqs[64];
	size_t n;
} seen;

static int collect(const al_event *e, void *ctx)
{
	seen *s = ctx;
	if (s->n < 64)
		s->seqs[s->n++] = e->seq;
	return 0;
}

static void round_trip(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	assert_non_null(s);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.create", "email", 's', "rt@example.com", "username", 's', "rt",
				 "password", 's', "Passw0rd!", "full_name", 's', "Round Trip", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "full_name"), "Round Trip");
	assert_int_equal(rep.first_seq, th_boot_seq + 1);
	al_reply_free(&rep);
	al_store_close(s);
	/* Reopen: the view and the log survived. */
	al_open_opts o = {AL_OPEN_QUIET, 0};
	al_error err;
	assert_int_equal(al_store_open(&s, dir, &o, &err), AL_OK);
	assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', "rt@example.com", NULL), AL_OK);
	assert_string_equal(th_res_str(&rep, "username"), "rt");
	assert_null(th_res_str(&rep, "password_hash"));
	al_reply_free(&rep);
	seen sn = {0};
	al_log_filter f = {.entity = "user:rt@example.com"};
	assert_int_equal(al_log_query(s, &f, collect, &sn, &err), AL_OK);
	assert_int_equal(sn.n, 1);
	assert_int_equal(sn.seqs[0], th_boot_seq + 1);
	al_store_close(s);
	th_rmrf(dir);
}

static void gapless(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	for (int i = 0; i < 20; i++) {
		char email[64];
		snprintf(email, sizeof email, "g%d@example.com", i);
		/* Every other command is invalid (bad role) and must not consume a seq. */
		th_run(s, "user.create", "email", 's', email, "username", 's', email, "password", 's', "Passw0rd!",
		       "role", 's', i % 2 ? "nope" : "user", NULL);
	}
	seen sn = {0};
	al_error err;
	assert_int_equal(al_log_query(s, NULL, collect, &sn, &err), AL_OK);
	assert_int_equal(sn.n, th_boot_seq + 20); /* bootstrap + 10 valid, each user.created and keypair.created */
	for (size_t i = 0; i < sn.n; i++)
		assert_int_equal(sn.seqs[i], i + 1);
	assert_int_equal(al_log_head(s), th_boot_seq + 20);
	al_store_close(s);
	th_rmrf(dir);
}

static void idempotent_retry(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	al_reply a, b;
	assert_int_equal(th_exec(s, &a, "user.create", "email", 's', "i@example.com", "username", 's', "i", "password",
				 's', "Passw0rd!", "request_id", 's', "req-1", NULL), AL_OK);
	uint64_t head = al_log_head(s);
	assert_int_equal(th_exec(s, &b, "user.create", "email", 's', "i@example.com", "username", 's', "i", "password",
				 's', "Passw0rd!", "request_id", 's', "req-1", NULL), AL_OK);
	assert_int_equal(b.replayed, 1);
	assert_int_equal(al_log_head(s), head);
	assert_int_equal(a.result_len, b.result_len);
	assert_memory_equal(a.result, b.result, a.result_len);
	assert_int_equal(a.first_seq, b.first_seq);
	al_reply_free(&a);
	al_reply_free(&b);
	/* Same id, other op: refused, nothing appended. */
	assert_int_equal(th_run(s, "user.deactivate", "email", 's', "i@example.com", "request_id", 's', "req-1", NULL),
			 AL_EINVALID_ARGUMENT);
	assert_int_equal(al_log_head(s), head);
	al_store_close(s);
	th_rmrf(dir);
}

static void stale_version_conflict(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	assert_int_equal(th_run(s, "user.create", "email", 's', "v@example.com", "username", 's', "v", "password", 's',
				"Passw0rd!", NULL), AL_OK);
	assert_int_equal(th_run(s, "user.update", "email", 's', "v@example.com", "full_name", 's', "V1",
				"expected_version", 'i', 1LL, NULL), AL_OK);
	uint64_t head = al_log_head(s);
	al_reply rep;
	assert_int_equal(th_exec(s, &rep, "user.update", "email", 's', "v@example.com", "full_name", 's', "V2",
				 "expected_version", 'i', 1LL, NULL), AL_ECONFLICT);
	assert_non_null(strstr(rep.err.msg, "version 2"));
	al_reply_free(&rep);
	assert_int_equal(al_log_head(s), head);
	assert_int_equal(th_run(s, "user.update", "email", 's', "v@example.com", "full_name", 's', "V2",
				"expected_version", 'i', 2LL, NULL), AL_OK);
	al_store_close(s);
	th_rmrf(dir);
}

/* Flips one byte of event seq's stored record directly in LMDB. */
static void tamper(const char *dir, uint64_t seq, size_t offset, int recompute_checksum)
{
	if (!recompute_checksum) {
		th_damage_record(dir, seq, offset, 0x20);
		return;
	}
	th_raw r;
	th_raw_open(&r, dir, 0);
	MDB_txn *txn = r.txn;
	MDB_dbi dbi = th_raw_db(&r, "events", 0);
	unsigned char k[8];
	for (int i = 7; i >= 0; i--, seq >>= 8)
		k[i] = (unsigned char)seq;
	MDB_val key = {8, k}, val;
	assert_int_equal(mdb_get(txn, dbi, &key, &val), 0);
	unsigned char *copy = malloc(val.mv_size);
	memcpy(copy, val.mv_data, val.mv_size);
	copy[offset] ^= 0x20;
	/* A forger who also fixes the checksum: only the hash chain can tell. */
	extern void al__rec_seal(unsigned char *, unsigned, unsigned, int64_t, uint32_t);
	uint32_t plen = (uint32_t)copy[16] << 24 | (uint32_t)copy[17] << 16 | (uint32_t)copy[18] << 8 | copy[19];
	int64_t t = 0;
	for (int i = 8; i < 16; i++)
		t = (int64_t)((uint64_t)t << 8 | copy[i]);
	al__rec_seal(copy, (unsigned)(copy[2] << 8 | copy[3]), (unsigned)(copy[4] << 8 | copy[5]), t, plen);
	MDB_val nv = {val.mv_size, copy};
	assert_int_equal(mdb_put(txn, dbi, &key, &nv, 0), 0);
	th_raw_close(&r, true);
	free(copy);
}

static void corrupt_record_detected(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	assert_int_equal(th_run(s, "user.create", "email", 's', "c@example.com", "username", 's', "c", "password", 's',
				"Passw0rd!", NULL), AL_OK);
	al_store_close(s);
	tamper(dir, 4, 40, 0); /* a payload byte of event 4 */
	al_open_opts o = {AL_OPEN_QUIET, 0};
	al_error err;
	assert_int_equal(al_store_open(&s, dir, &o, &err), AL_OK);
	seen sn = {0};
	assert_int_equal(al_log_query(s, NULL, collect, &sn, &err), AL_ECORRUPT);
	assert_non_null(strstr(err.msg, "event 4"));
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_ECORRUPT);
	assert_non_null(strstr(err.msg, "event 4"));
	al_store_close(s);
	th_rmrf(dir);
}

static void tampered_chain_detected(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	assert_int_equal(th_run(s, "user.create", "email", 's', "h@example.com", "username", 's', "h", "password", 's',
				"Passw0rd!", NULL), AL_OK);
	al_store_close(s);
	tamper(dir, 2, 40, 1); /* payload of event 2 with a valid checksum */
	al_open_opts o = {AL_OPEN_QUIET, 0};
	al_error err;
	assert_int_equal(al_store_open(&s, dir, &o, &err), AL_OK);
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_ECORRUPT);
	assert_non_null(strstr(err.msg, "event 2"));
	assert_non_null(strstr(err.msg, "chain"));
	al_store_close(s);
	th_rmrf(dir);
}

/* With AL_OPEN_FIXED_MAP (a threaded server) a full map refuses the write whole, never grows,
 * and leaves the store as it was; reopened without the flag, it grows and goes on. */
static void fixed_map_refuses_when_full(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0);
	al_store_close(s);
	al_error err;
	al_open_opts oo = {AL_OPEN_QUIET | AL_OPEN_NOSYNC | AL_OPEN_FIXED_MAP, 0};
	assert_int_equal(al_store_open(&s, dir, &oo, &err), AL_OK);
	int rc = AL_OK, made = 0;
	char d[64];
	for (; rc == AL_OK && made < 100000; made++) {
		snprintf(d, sizeof d, "domain-with-a-long-enough-name-%06d", made);
		al_reply rep;
		rc = th_exec(s, &rep, "domain.create", "name", 's', d, "description", 's',
			     "a description that fills the map a little faster than a name alone", NULL);
		if (rc)
			assert_non_null(strstr(rep.err.msg, "--map-size"));
		al_reply_free(&rep);
	}
	assert_int_equal(rc, AL_ELIMIT_EXCEEDED);
	uint64_t head = al_log_head(s);
	assert_int_equal(th_run(s, "domain.get", "name", 's', d, NULL), AL_ENOT_FOUND); /* the refused one */
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
	al_store_close(s);
	oo.flags &= ~(unsigned)AL_OPEN_FIXED_MAP;
	assert_int_equal(al_store_open(&s, dir, &oo, &err), AL_OK);
	assert_int_equal(al_log_head(s), head);
	assert_int_equal(th_run(s, "domain.create", "name", 's', d, NULL), AL_OK);
	al_store_close(s);
	th_rmrf(dir);
}

/* A fixed-map store (a threaded server) never remaps when another writer grew the file past
 * its map: remapping under other threads' transactions crashed them. It refuses instead. */
static void fixed_map_never_remaps(void **state)
{
	(void)state;
	char *dir = th_tmpdir();
	al_store *s = th_init(dir, 0), *f;
	al_store_close(s);
	al_error err;
	al_open_opts fixed = {AL_OPEN_QUIET | AL_OPEN_NOSYNC | AL_OPEN_FIXED_MAP, 1u << 20};
	assert_int_equal(al_store_open(&f, dir, &fixed, &err), AL_OK);
	assert_int_equal(th_run(f, "domain.get", "name", 's', "default", NULL), AL_OK);
	al_open_opts grow = {AL_OPEN_QUIET | AL_OPEN_NOSYNC, 0};
	assert_int_equal(al_store_open(&s, dir, &grow, &err), AL_OK);
	char path[4200], d[64];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	struct stat st = {0};
	for (int i = 0; i < 100000 && st.st_size < (3 << 19); i++) {
		snprintf(d, sizeof d, "domain-with-a-long-enough-name-%06d", i);
		assert_int_equal(th_run(s, "domain.create", "name", 's', d, "description", 's',
					"a description that fills the map a little faster than a name alone", NULL),
				 AL_OK);
		assert_int_equal(stat(path, &st), 0);
	}
	al_store_close(s);
	al_reply rep;
	assert_int_equal(th_exec(f, &rep, "domain.get", "name", 's', "default", NULL), AL_EIO_ERROR);
	assert_non_null(strstr(rep.err.msg, "MDB_MAP_RESIZED"));
	al_reply_free(&rep);
	al_store_close(f);
	th_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(gapless),
		cmocka_unit_test(idempotent_retry),
		cmocka_unit_test(stale_version_conflict),
		cmocka_unit_test(corrupt_record_detected),
		cmocka_unit_test(tampered_chain_detected),
		cmocka_unit_test(fixed_map_refuses_when_full),
		cmocka_unit_test(fixed_map_never_remaps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
