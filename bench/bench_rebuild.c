/*
 * bench_rebuild - folding the log: al_store_rebuild and al_store_asof over a 1M-event log.
 *
 * Setup (not timed): the year log of bench_util.h, 1,000,000 events: 100k users (user.create,
 * argon2id at pwhash "min"; 200k events with their keypairs), then mostly user.update
 * (~776k user.updated), from 50 operators over a year of store time, built with
 * AL_OPEN_NOSYNC (once per `make bench` and copied, see bu_year_log).
 * Measures, on that log, with the store reopened with default (durable) flags:
 *   rebuild - al_store_rebuild (drop every view, fold the whole log). Unit: events/s.
 *             Baseline raw_scan: a read-only LMDB env on the same data.mdb, one cursor pass
 *             over the `events` sub-database touching one byte of every value.
 *   asof    - al_store_asof(s, head/2) plus closing (deleting) the scratch store, from the view
 *             checkpoints `adminlog checkpoint` writes (al_store_checkpoint with AL_CKPT_FILL,
 *             default checkpoint-interval, not timed; its time and disk cost are noted). Unit: s.
 *             Baseline rebuild_same_events: the measured rebuild time prorated to head/2
 *             events (rebuild_s * (head/2) / head), i.e. what folding that many events costs;
 *             if the rebuild fails, the raw scan time prorated the same way (named so).
 *   rebuild_peak_anon - the process's peak anonymous resident memory (RssAnon of
 *             /proc/self/status, sampled every 2 ms by a thread while al_store_rebuild runs:
 *             the kernel keeps no high-water mark of anonymous memory alone). LMDB's map of
 *             data.mdb is file-backed and not counted; the heap left by the set-up is (its
 *             RssAnon before the rebuild is printed on stderr). Unit: MiB. Baseline: the
 *             512 MiB required for 1M events / 100k users (ratio <= 1 meets it). VmHWM (all
 *             resident memory, the file map included) is printed on stderr beside it.
 * A failing rebuild or as-of is reported on stderr, its line left out, and the exit status is 1;
 * an as-of slower than the required 0.5 s at full scale is said on stderr.
 * BENCH_SCALE scales users and events (e.g. 0.1 = 10k users, 100k events).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "bench_util.h"

#define MAP (4ull << 30)
#define ASOF_REQUIRED_S 0.5 /* as-of to the middle of 1M events, issue 11 */

/* The process-wide count of transactions rerun after MDB_MAP_FULL (from al_store_stats). */
static long long map_full_retries(al_store *s)
{
	char *mp;
	size_t len;
	long long n = -1;
	al_error err = {0};
	if (al_store_stats(s, &mp, &len, &err) != AL_OK)
		return -1;
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, mp, len, NULL) == MSGPACK_UNPACK_SUCCESS && u.data.type == MSGPACK_OBJECT_MAP)
		for (uint32_t i = 0; i < u.data.via.map.size; i++) {
			msgpack_object *k = &u.data.via.map.ptr[i].key;
			if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 16 &&
			    memcmp(k->via.str.ptr, "map_full_retries", 16) == 0)
				n = u.data.via.map.ptr[i].val.via.i64;
		}
	msgpack_unpacked_destroy(&u);
	al_free(mp);
	return n;
}

static double file_mb(const char *dir)
{
	char p[4300];
	struct stat st;
	snprintf(p, sizeof p, "%s/data.mdb", dir);
	return stat(p, &st) == 0 ? st.st_size / 1e6 : 0;
}

/* A field of /proc/self/status in KiB (VmHWM, RssAnon, ...), or -1. */
static long proc_status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t n = strlen(field);
	long kb = -1;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			kb = strtol(line + n + 1, NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return kb;
}

/* The highest RssAnon seen while a sampler runs. */
typedef struct anon_peak {
	pthread_t thread;
	atomic_bool stop;
	long max_kb;
} anon_peak;

static void *sample_anon(void *arg)
{
	anon_peak *a = arg;
	struct timespec tick = {0, 2000000};
	do {
		long kb = proc_status_kb("RssAnon");
		if (kb > a->max_kb)
			a->max_kb = kb;
		nanosleep(&tick, NULL);
	} while (!atomic_load(&a->stop));
	return NULL;
}

static void anon_peak_start(anon_peak *a)
{
	a->max_kb = proc_status_kb("RssAnon");
	atomic_init(&a->stop, false);
	if (pthread_create(&a->thread, NULL, sample_anon, a) != 0)
		bu_die("cannot start the memory sampler");
}

/* Stops the sampler and returns the peak in KiB (one last sample included). */
static long anon_peak_stop(anon_peak *a)
{
	atomic_store(&a->stop, true);
	pthread_join(a->thread, NULL);
	return a->max_kb;
}

static double raw_scan(const char *dir, uint64_t *count)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *c;
	double t0 = bu_now();
	bu_raw_open(dir, &env, &txn, &dbi, "events");
	if (mdb_cursor_open(txn, dbi, &c))
		bu_die("raw cursor");
	MDB_val k, v;
	uint64_t n = 0;
	unsigned sum = 0;
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		sum += ((const unsigned char *)v.mv_data)[v.mv_size - 1];
		n++;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	double t = bu_now() - t0;
	bu_note("raw scan: %llu records in %.3f s (byte sum %u)", (unsigned long long)n, t, sum);
	*count = n;
	return t;
}

int main(void)
{
	char *dir = bu_tmpdir("rebuild"), path[4200];
	snprintf(path, sizeof path, "%s/store", dir);

	bu_year_log(path, 1);

	uint64_t scanned;
	double scan = raw_scan(path, &scanned);

	/* as-of first: it reads only the log, so it runs even if a rebuild leaves the views bad */
	al_error err = {0};
	int failed = 0;
	al_store *s = bu_store_open(path, 0, MAP);
	uint64_t head = al_log_head(s);
	double t0;
	al_checkpoint_info ci;
	t0 = bu_now();
	if (al_store_checkpoint(s, AL_CKPT_FILL, NULL, NULL, &ci, &err) != AL_OK)
		bu_die("checkpoints: %s", err.msg);
	bu_note("checkpoints: %llu written in %.1f s; %llu kept, %.1f MB on disk (the store's data.mdb: %.1f MB)",
		(unsigned long long)ci.written, bu_now() - t0, (unsigned long long)ci.kept, ci.kept_bytes / 1e6,
		file_mb(path));
	sync(); /* written long before an as-of in real use: their writeback is not the as-of's cost */
	al_store *past;
	long long retries0 = map_full_retries(s);
	t0 = bu_now();
	double asof = -1, rebuild = -1;
	if (al_store_asof(s, head / 2, &past, &err) == AL_OK) {
		al_store_close(past);
		asof = bu_now() - t0;
		bu_note("asof %llu: %.3f s, %lld transactions rerun after MDB_MAP_FULL", (unsigned long long)(head / 2),
			asof, map_full_retries(s) - retries0);
	} else {
		bu_note("asof FAILED after %.3f s: %s", bu_now() - t0, err.msg);
		failed = 1;
	}

	anon_peak mem;
	long anon_before = proc_status_kb("RssAnon");
	anon_peak_start(&mem);
	t0 = bu_now();
	int rrc = al_store_rebuild(s, NULL, NULL, &err);
	double t1 = bu_now();
	long anon_max = anon_peak_stop(&mem);
	if (rrc == AL_OK) {
		rebuild = t1 - t0;
		bu_note("rebuild: %llu events in %.3f s", (unsigned long long)head, rebuild);
		bu_note("rebuild memory: RssAnon %.1f MiB before, peak %.1f MiB during; VmHWM (file map included) "
			"%.1f MiB", anon_before / 1024.0, anon_max / 1024.0, proc_status_kb("VmHWM") / 1024.0);
		bu_emit("rebuild", (double)head / rebuild, "events/s", "raw_scan", (double)scanned / scan);
		bu_emit("rebuild_peak_anon", anon_max / 1024.0, "MiB", "required_max", 512);
	} else {
		bu_note("rebuild FAILED after %.3f s: %s", bu_now() - t0, err.msg);
		failed = 1;
	}
	al_store_close(s);
	if (asof >= 0 && rebuild >= 0)
		bu_emit("asof", asof, "s", "rebuild_same_events", rebuild * (double)(head / 2) / (double)head);
	else if (asof >= 0) /* no rebuild time: compare with the raw scan of as many events */
		bu_emit("asof", asof, "s", "raw_scan_same_events", scan * (double)(head / 2) / (double)scanned);
	/* Issue 11's bound on the full log: said, not failed on (the machine may be shared). */
	if (asof > ASOF_REQUIRED_S && head >= 1000000)
		bu_note("asof %.3f s is over the required %.1f s", asof, ASOF_REQUIRED_S);
	bu_rmrf(dir);
	return failed;
}
