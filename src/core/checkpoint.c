/*
 * checkpoint.c - view checkpoints (layout and trust rules in checkpoint.h): writing one from a
 * read transaction, finding and restoring the newest usable one for an as-of store, and the
 * pruning policy. Nothing here runs inside a write transaction of the store: a checkpoint is
 * written off the writer's path, from a snapshot.
 */
#define _GNU_SOURCE /* O_CLOEXEC, fdatasync */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "core/checkpoint.h"
#include "core/record.h"
#include "util/codec.h"

void (*al__ckpt_hook)(int stage);

static void hook(int stage)
{
	if (al__ckpt_hook)
		al__ckpt_hook(stage);
}

#define CKPT_MAGIC "ALCKPT"
#define CKPT_VERSION 1
#define HEADER_MAX 4096
#define HEADER_FIXED 88
#define COPY_BUF (1u << 20)
#define SEQ_DIGITS 20

/* ---- names and files --------------------------------------------------------------------- */

static void ckpt_dir(const al_store *root, char *buf, size_t n) { snprintf(buf, n, "%s/%s", root->dir, AL_CKPT_DIR); }

/* A checkpoint's directory name is its seq in exactly 20 digits; nothing else is ever read. */
static bool parse_name(const char *name, uint64_t *seq)
{
	uint64_t v = 0;
	size_t i;
	for (i = 0; name[i] >= '0' && name[i] <= '9'; i++)
		v = v * 10 + (uint64_t)(name[i] - '0');
	*seq = v;
	return i == SEQ_DIGITS && name[i] == 0 && v > 0;
}

static int write_full(int fd, const void *p, size_t n)
{
	const char *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = fd >= 0 && fsync(fd) == 0 ? 0 : -1;
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Removes a checkpoint's directory and the files in it (it holds no subdirectories). */
static void remove_dir(const char *path)
{
	DIR *d = opendir(path);
	char p[4600];
	for (struct dirent *e; d && (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(p, sizeof p, "%s/%s", path, e->d_name);
			unlink(p);
		}
	if (d)
		closedir(d);
	rmdir(path);
}

/* The seqs of the checkpoints in cdir, ascending; a missing directory has none. */
typedef struct ckpt_list {
	uint64_t *seq;
	size_t n, cap;
} ckpt_list;

static int cmp_seq(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int list_read(const char *cdir, ckpt_list *l, al_error *err)
{
	*l = (ckpt_list){0};
	DIR *d = opendir(cdir);
	if (d == NULL)
		return errno == ENOENT ? AL_OK : al_err(err, AL_EIO_ERROR, "open %s: %s", cdir, strerror(errno));
	int rc = AL_OK;
	uint64_t seq;
	for (struct dirent *e; rc == AL_OK && (e = readdir(d));) {
		if (!parse_name(e->d_name, &seq))
			continue;
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 32;
			uint64_t *p = al_realloc(l->seq, cap * sizeof *p);
			if (p == NULL) {
				rc = al_err(err, AL_ENO_MEMORY, "out of memory");
				break;
			}
			l->seq = p;
			l->cap = cap;
		}
		l->seq[l->n++] = seq;
	}
	closedir(d);
	if (l->n)
		qsort(l->seq, l->n, sizeof *l->seq, cmp_seq);
	return rc;
}

static void list_free(ckpt_list *l)
{
	al_free(l->seq);
	*l = (ckpt_list){0};
}

/* ---- the header --------------------------------------------------------------------------- */

typedef struct ckpt_head {
	uint64_t seq;
	unsigned char hash[32];
	int64_t time_us;
	uint64_t size;
	unsigned char digest[16];
} ckpt_head;

static void digest_out(XXH3_state_t *st, unsigned char out[16])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
	memcpy(out, c.digest, 16);
}

static void digest_of(const void *p, size_t n, unsigned char out[16])
{
	XXH3_state_t st;
	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, p, n);
	digest_out(&st, out);
}

/* This build's header for h into buf (at least HEADER_MAX bytes); returns its length. */
static size_t header_pack(const ckpt_head *h, unsigned char *buf)
{
	memcpy(buf, CKPT_MAGIC, 6);
	al__be16(buf + 6, CKPT_VERSION);
	al__be32(buf + 8, AL_FORMAT_VERSION);
	al__be32(buf + 12, (uint32_t)al__nprojections);
	al__be64(buf + 16, h->seq);
	memcpy(buf + 24, h->hash, 32);
	al__be64(buf + 56, (uint64_t)h->time_us);
	al__be64(buf + 64, h->size);
	memcpy(buf + 72, h->digest, 16);
	size_t n = HEADER_FIXED;
	for (size_t p = 0; p < al__nprojections; p++) {
		size_t len = strlen(al__projections[p]->name);
		buf[n++] = (unsigned char)len;
		memcpy(buf + n, al__projections[p]->name, len);
		al__be32(buf + n + len, al__projections[p]->version);
		n += len + 4;
	}
	digest_of(buf, n, buf + n);
	return n + 16;
}

/* Reads the header at path into h; 0 when it is one this build uses, else -1 and why. */
static int header_read(const char *path, uint64_t seq, ckpt_head *h, char *why, size_t wn)
{
	unsigned char buf[HEADER_MAX], want[HEADER_MAX];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
	if (fd >= 0)
		close(fd);
	if (n < HEADER_FIXED + 16)
		return snprintf(why, wn, "its header is missing or short"), -1;
	unsigned char d[16];
	digest_of(buf, (size_t)n - 16, d);
	if (memcmp(buf, CKPT_MAGIC, 6) || memcmp(d, buf + n - 16, 16))
		return snprintf(why, wn, "its header is damaged"), -1;
	h->seq = al__get_be64(buf + 16);
	memcpy(h->hash, buf + 24, 32);
	h->time_us = (int64_t)al__get_be64(buf + 56);
	h->size = al__get_be64(buf + 64);
	memcpy(h->digest, buf + 72, 16);
	if (h->seq != seq)
		return snprintf(why, wn, "its header is for event %llu", (unsigned long long)h->seq), -1;
	/* Versions: the same header as this build would write, but for the fields of the data. */
	size_t wl = header_pack(h, want);
	if ((size_t)n != wl || memcmp(buf, want, HEADER_FIXED) || memcmp(buf + HEADER_FIXED, want + HEADER_FIXED,
									 wl - HEADER_FIXED - 16))
		return snprintf(why, wn, "it was written by another version (format or projections)"), -1;
	return 0;
}

/* 0 when event seq of lv's log has the chain hash h (the checkpoint belongs to this log), 1
 * (why set) when not, or the al_ code of a failed read: a log that cannot be read says nothing
 * about a checkpoint, which must then be neither used nor removed. */
static int log_matches(const al_logv *lv, const ckpt_head *h, char *why, size_t wn, al_error *err)
{
	uint64_t head = 0;
	int rc = al__logv_head(lv, &head, err);
	if (rc)
		return rc;
	if (h->seq > head)
		return snprintf(why, wn, "its event is past the log's head"), 1;
	unsigned char k[8];
	al__be64(k, h->seq);
	MDB_val key = {8, k}, val;
	al_rec_header rh;
	rc = mdb_get(lv->txn, lv->s->events, &key, &val);
	if (rc)
		return al_err(err, rc == MDB_NOTFOUND ? AL_ECORRUPT : AL_EIO_ERROR, "read event %llu: %s",
			      (unsigned long long)h->seq, mdb_strerror(rc));
	if ((rc = al__rec_open(val.mv_data, val.mv_size, h->seq, &rh, err)))
		return rc;
	if (memcmp((const unsigned char *)val.mv_data + val.mv_size - AL_REC_HASH, h->hash, 32))
		return snprintf(why, wn, "it belongs to another log (chain hash differs)"), 1;
	return 0;
}

/* Whether checkpoint seq in cdir is one this build may use on lv's log (its header and the log
 * only): 0 yes, 1 no (why set), or the al_ code of a failed read of the log. */
static int usable(const al_logv *lv, const char *cdir, uint64_t seq, ckpt_head *h, char *why, size_t wn,
		  al_error *err)
{
	char path[4400];
	snprintf(path, sizeof path, "%s/%0*llu/checkpoint", cdir, SEQ_DIGITS, (unsigned long long)seq);
	if (header_read(path, seq, h, why, wn))
		return 1;
	return log_matches(lv, h, why, wn, err);
}

/* ---- restoring one for an as-of store ----------------------------------------------------- */

/* Copies src to dst (new), hashing what passes; 0 when it is h's data file, 1 (dst removed,
 * why set) when not, an al_ code when dst cannot be written. */
static int copy_checked(const char *src, const char *dst, const ckpt_head *h, char *why, size_t wn, al_error *err)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return snprintf(why, wn, "its data file cannot be opened"), 1;
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	unsigned char *buf = out >= 0 ? al_malloc(COPY_BUF) : NULL;
	int rc = out < 0 ? al_err(err, AL_EIO_ERROR, "create %s: %s", dst, strerror(errno))
		 : buf == NULL ? al_err(err, AL_ENO_MEMORY, "out of memory") : AL_OK;
	XXH3_state_t st;
	XXH3_128bits_reset(&st);
	uint64_t total = 0;
	posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
	while (rc == AL_OK) {
		ssize_t n = read(in, buf, COPY_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			break;
		if (n < 0)
			rc = 1, snprintf(why, wn, "its data file cannot be read");
		else if (write_full(out, buf, (size_t)n))
			rc = al_err(err, AL_EIO_ERROR, "write %s: %s", dst, strerror(errno));
		XXH3_128bits_update(&st, buf, n > 0 ? (size_t)n : 0);
		total += n > 0 ? (uint64_t)n : 0;
	}
	unsigned char d[16];
	digest_out(&st, d);
	if (rc == AL_OK && (total != h->size || memcmp(d, h->digest, 16)))
		rc = 1, snprintf(why, wn, "its data file is damaged (size or hash differs)");
	al_free(buf);
	close(in);
	if (out >= 0)
		close(out);
	if (rc && out >= 0)
		unlink(dst);
	return rc;
}

int al__ckpt_restore(const al_logv *lv, uint64_t n, const char *dir, uint64_t *base, uint64_t *bytes,
		     al_error *err)
{
	char cdir[4200], src[4400], dst[4400], why[160];
	ckpt_list l;
	*base = *bytes = 0;
	ckpt_dir(lv->s, cdir, sizeof cdir);
	snprintf(dst, sizeof dst, "%s/data.mdb", dir);
	int rc = n ? list_read(cdir, &l, err) : AL_OK;
	if (rc || n == 0)
		return rc;
	for (size_t i = l.n; i-- > 0 && *base == 0 && rc == AL_OK;) {
		ckpt_head h;
		if (l.seq[i] > n)
			continue;
		snprintf(src, sizeof src, "%s/%0*llu/data.mdb", cdir, SEQ_DIGITS, (unsigned long long)l.seq[i]);
		int r = usable(lv, cdir, l.seq[i], &h, why, sizeof why, err);
		if (r == 0)
			r = copy_checked(src, dst, &h, why, sizeof why, err);
		if (r == 0) {
			*base = h.seq;
			*bytes = h.size;
		} else if (r == 1)
			al__log(lv->s, AL_LOG_WARN, "checkpoint %llu skipped: %s", (unsigned long long)l.seq[i], why);
		else
			rc = r;
	}
	list_free(&l);
	return rc;
}

/* ---- writing one ---------------------------------------------------------------------------- */

/* What a snapshot says of its views: the head, and whether every view is at it. */
typedef struct snap_head {
	ckpt_head h;
	bool current; /* every projection at this build's version, its cursor at the head */
} snap_head;

static int read_snap_head(al_store *s, MDB_txn *txn, snap_head *sh, al_error *err)
{
	MDB_val k = {4, "head"}, v;
	memset(sh, 0, sizeof *sh);
	int rc = mdb_get(txn, s->head_db, &k, &v);
	if (rc && rc != MDB_NOTFOUND)
		return al_err(err, AL_EIO_ERROR, "read head: %s", mdb_strerror(rc));
	if (rc == 0 && v.mv_size != 48)
		return al_err(err, AL_ECORRUPT, "meta head has %zu bytes, expected 48", v.mv_size);
	if (rc == 0) {
		sh->h.seq = al__get_be64(v.mv_data);
		memcpy(sh->h.hash, (const unsigned char *)v.mv_data + 8, 32);
		sh->h.time_us = (int64_t)al__get_be64((const unsigned char *)v.mv_data + 40);
	}
	sh->current = true;
	for (size_t p = 0; p < al__nprojections && sh->current; p++) {
		char name[80];
		MDB_val key = {(size_t)snprintf(name, sizeof name, "proj/%s", al__projections[p]->name), name};
		if ((rc = mdb_get(txn, s->meta, &key, &v)) && rc != MDB_NOTFOUND)
			return al_err(err, AL_EIO_ERROR, "read %s: %s", name, mdb_strerror(rc));
		sh->current = rc == 0 && v.mv_size == 12 && al__get_be32(v.mv_data) == al__projections[p]->version &&
			      al__proj_cursor_at(al__get_be64((const unsigned char *)v.mv_data + 4), sh->h.seq) == sh->h.seq;
	}
	return AL_OK;
}

/* Copies one sub-database of the snapshot into the new environment, in key order. */
static int copy_db(MDB_txn *from, MDB_dbi sdbi, MDB_txn *to, const char *name)
{
	MDB_dbi ddbi;
	MDB_cursor *c;
	int rc = mdb_dbi_open(to, name, MDB_CREATE, &ddbi);
	if (rc || (rc = mdb_cursor_open(from, sdbi, &c)))
		return rc;
	MDB_val k, v;
	int m;
	for (m = mdb_cursor_get(c, &k, &v, MDB_FIRST); m == 0 && rc == 0; m = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		rc = mdb_put(to, ddbi, &k, &v, MDB_APPEND);
	mdb_cursor_close(c);
	return rc ? rc : m == MDB_NOTFOUND ? 0 : m;
}

/* The meta sub-database in the store's layout: a copy of the file opens as a store at seq. */
static int put_meta(MDB_txn *to, const ckpt_head *h)
{
	MDB_dbi meta, main;
	unsigned char f[4], head[48], cur[12];
	int rc = mdb_dbi_open(to, "meta", MDB_CREATE, &meta);
	if (rc == 0)
		rc = mdb_dbi_open(to, NULL, 0, &main);
	al__be32(f, AL_DIR_FORMAT);
	al__be64(head, h->seq);
	memcpy(head + 8, h->hash, 32);
	al__be64(head + 40, (uint64_t)h->time_us);
	MDB_val fk = {6, "format"}, fv = {4, f}, hk = {4, "head"}, hv = {48, head};
	if (rc == 0)
		rc = mdb_put(to, meta, &fk, &fv, 0);
	if (rc == 0)
		rc = mdb_put(to, main, &hk, &hv, 0);
	for (size_t p = 0; p < al__nprojections && rc == 0; p++) {
		char name[80];
		MDB_val key = {(size_t)snprintf(name, sizeof name, "proj/%s", al__projections[p]->name), name};
		MDB_val val = {12, cur};
		al__be32(cur, al__projections[p]->version);
		al__be64(cur + 4, h->seq);
		rc = mdb_put(to, meta, &key, &val, 0);
	}
	return rc;
}

/* The pages the views take in the snapshot: a map that holds their copy (MDB_APPEND fills
 * pages, so the copy is no larger). */
static int views_size(al_store *s, MDB_txn *txn, size_t *map, al_error *err)
{
	MDB_stat st;
	size_t pages = 64, psize = 4096;
	for (size_t p = 0; p < al__nprojections; p++)
		for (int d = 0; al__projections[p]->dbs[d]; d++) {
			int rc = mdb_stat(txn, s->views[p][d], &st);
			if (rc)
				return al_err(err, AL_EIO_ERROR, "read view %s: %s", al__projections[p]->dbs[d],
					      mdb_strerror(rc));
			pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
			psize = st.ms_psize;
		}
	*map = pages * psize / 4 * 5 + (1u << 20);
	return AL_OK;
}

/* Writes the views of snapshot txn into a new environment in dir, synced; MDB_MAP_FULL when
 * map is too small. */
static int write_env(al_store *s, MDB_txn *txn, const ckpt_head *h, const char *dir, size_t map)
{
	MDB_env *env;
	MDB_txn *to = NULL;
	int rc = mdb_env_create(&env);
	if (rc)
		return rc;
	rc = mdb_env_set_maxdbs(env, 128);
	if (rc == 0)
		rc = mdb_env_set_mapsize(env, map);
	/* Nobody else opens it before it is renamed into place: no lock file, synced once below. */
	if (rc == 0)
		rc = mdb_env_open(env, dir, MDB_NOSYNC | MDB_NOLOCK, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, 0, &to);
	for (size_t p = 0; p < al__nprojections && rc == 0; p++)
		for (int d = 0; al__projections[p]->dbs[d] && rc == 0; d++)
			rc = copy_db(txn, s->views[p][d], to, al__projections[p]->dbs[d]);
	if (rc == 0)
		rc = put_meta(to, h);
	if (to)
		rc = rc ? (mdb_txn_abort(to), rc) : mdb_txn_commit(to);
	if (rc == 0)
		hook(1);
	if (rc == 0)
		rc = mdb_env_sync(env, 1);
	mdb_env_close(env);
	return rc;
}

/* Size and xxh3-128 of the file at path; 0 or -1. */
static int file_digest(const char *path, ckpt_head *h)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char *buf = fd >= 0 ? al_malloc(COPY_BUF) : NULL;
	XXH3_state_t st;
	XXH3_128bits_reset(&st);
	h->size = 0;
	ssize_t n = buf ? 1 : -1;
	while (n > 0) {
		n = read(fd, buf, COPY_BUF);
		if (n < 0 && errno == EINTR)
			n = 1;
		else if (n > 0) {
			XXH3_128bits_update(&st, buf, (size_t)n);
			h->size += (uint64_t)n;
		}
	}
	digest_out(&st, h->digest);
	al_free(buf);
	if (fd >= 0)
		close(fd);
	return n == 0 ? 0 : -1;
}

static int write_header(const char *tmp, const ckpt_head *h)
{
	unsigned char buf[HEADER_MAX];
	char path[4400];
	size_t n = header_pack(h, buf);
	snprintf(path, sizeof path, "%s/checkpoint", tmp);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc = fd >= 0 && write_full(fd, buf, n) == 0 && fsync(fd) == 0 ? 0 : -1;
	if (fd >= 0)
		close(fd);
	return rc;
}

/* The views of s in snapshot txn (at head h) into tmp, complete and synced; AL_ codes. */
static int fill_tmp(al_store *s, MDB_txn *txn, ckpt_head *h, const char *tmp, al_error *err)
{
	char data[4400];
	snprintf(data, sizeof data, "%s/data.mdb", tmp);
	size_t map = 0;
	int rc = views_size(s, txn, &map, err);
	if (rc)
		return rc;
	for (rc = MDB_MAP_FULL; rc == MDB_MAP_FULL && map < ((size_t)1 << 46); map *= 2) {
		unlink(data);
		rc = write_env(s, txn, h, tmp, map);
	}
	if (rc)
		return al_err(err, AL_EIO_ERROR, "write checkpoint %llu: %s", (unsigned long long)h->seq, mdb_strerror(rc));
	if (file_digest(data, h))
		return al_err(err, AL_EIO_ERROR, "read back %s: %s", data, strerror(errno));
	hook(2);
	if (write_header(tmp, h) || fsync_path(tmp))
		return al_err(err, AL_EIO_ERROR, "write checkpoint header in %s: %s", tmp, strerror(errno));
	hook(3);
	return AL_OK;
}

/*
 * Writes the checkpoint of s's views in snapshot txn (their head h) into root's checkpoints
 * directory: under a temporary name, synced, then renamed, so that the 20-digit name only ever
 * names a complete checkpoint. AL_EALREADY_EXISTS when that checkpoint exists.
 */
static int ckpt_write(al_store *root, al_store *s, MDB_txn *txn, ckpt_head *h, al_error *err)
{
	static unsigned counter;
	char cdir[4200], tmp[4300], target[4300];
	ckpt_dir(root, cdir, sizeof cdir);
	snprintf(target, sizeof target, "%s/%0*llu", cdir, SEQ_DIGITS, (unsigned long long)h->seq);
	if (mkdir(cdir, 0700) != 0 && errno != EEXIST)
		return al_err(err, AL_EIO_ERROR, "mkdir %s: %s", cdir, strerror(errno));
	if (access(target, F_OK) == 0)
		return al_err(err, AL_EALREADY_EXISTS, "checkpoint %llu exists", (unsigned long long)h->seq);
	snprintf(tmp, sizeof tmp, "%s/.tmp-%0*llu-%ld-%u", cdir, SEQ_DIGITS, (unsigned long long)h->seq, (long)getpid(),
		 __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
	if (mkdir(tmp, 0700) != 0)
		return al_err(err, AL_EIO_ERROR, "mkdir %s: %s", tmp, strerror(errno));
	int rc = fill_tmp(s, txn, h, tmp, err);
	if (rc == AL_OK && rename(tmp, target) != 0)
		rc = errno == EEXIST || errno == ENOTEMPTY
			     ? al_err(err, AL_EALREADY_EXISTS, "checkpoint %llu exists", (unsigned long long)h->seq)
			     : al_err(err, AL_EIO_ERROR, "rename %s: %s", tmp, strerror(errno));
	if (rc) {
		remove_dir(tmp);
		return rc;
	}
	if (fsync_path(cdir))
		return al_err(err, AL_EIO_ERROR, "sync %s: %s", cdir, strerror(errno));
	return AL_OK;
}

/* The checkpoint of s's state at its head. Views behind the head (a read-only open of a
 * directory whose views never caught up) are checkpointed from an as-of store of the head. */
static int write_at_head(al_store *root, al_store *s, uint64_t *seq, uint64_t *bytes, al_error *err)
{
	MDB_txn *txn;
	snap_head sh;
	*seq = *bytes = 0;
	int rc = al__read_begin(s, &txn, err);
	if (rc)
		return rc;
	rc = read_snap_head(s, txn, &sh, err);
	if (rc == AL_OK && sh.h.seq > 0 && sh.current)
		rc = ckpt_write(root, s, txn, &sh.h, err);
	mdb_txn_abort(txn);
	if (rc == AL_OK && sh.h.seq > 0 && !sh.current && s->log_src) /* an as-of store is at its head */
		return al_err(err, AL_EINTERNAL, "an as-of store's views are not at its point");
	if (rc == AL_OK && sh.h.seq > 0 && !sh.current) {
		al_store *past;
		if ((rc = al_store_asof(s, sh.h.seq, &past, err)) == AL_OK) {
			rc = write_at_head(root, past, seq, bytes, err);
			al_store_close(past);
		}
		return rc;
	}
	if (rc == AL_OK) {
		*seq = sh.h.seq;
		*bytes = sh.h.size;
	}
	return rc;
}

/* ---- which to keep --------------------------------------------------------------------------- */

/* The policy's bucket of seq, with the log at head: one per K events in the window of the last
 * AL_CKPT_WINDOW * K, one per AL_CKPT_WINDOW * K before it (odd numbers: the window). */
static uint64_t bucket(uint64_t seq, uint64_t head, uint64_t k)
{
	uint64_t w = k * AL_CKPT_WINDOW;
	return seq + w > head ? seq / k * 2 + 1 : seq / w * 2;
}

/* K: the store setting checkpoint-interval (settings are a noun's: asked through the table). */
static int interval(al_store *s, uint64_t *k, al_error *err)
{
	int64_t v = -1;
	int rc = al_setting_int(s, "checkpoint-interval", &v, err);
	*k = rc ? 0 : (uint64_t)v;
	return rc;
}

/* What a listing knows of each checkpoint. */
typedef struct ckpt_state {
	ckpt_list l;
	bool *ok;          /* usable, by index */
	uint64_t *bytes;   /* data.mdb's size, by index */
	uint64_t newest;   /* the newest usable, 0 when none */
	uint64_t head;     /* the log's head */
} ckpt_state;

static void state_free(ckpt_state *cs)
{
	list_free(&cs->l);
	al_free(cs->ok);
	al_free(cs->bytes);
}

static int state_read(const al_logv *lv, ckpt_state *cs, al_error *err)
{
	char cdir[4200], why[160], path[4400];
	memset(cs, 0, sizeof *cs);
	ckpt_dir(lv->s, cdir, sizeof cdir);
	int rc = list_read(cdir, &cs->l, err);
	if (rc == AL_OK)
		rc = al__logv_head(lv, &cs->head, err);
	cs->ok = al_calloc(cs->l.n + 1, sizeof *cs->ok);
	cs->bytes = al_calloc(cs->l.n + 1, sizeof *cs->bytes);
	if (rc == AL_OK && (cs->ok == NULL || cs->bytes == NULL))
		rc = al_err(err, AL_ENO_MEMORY, "out of memory");
	for (size_t i = 0; rc == AL_OK && i < cs->l.n; i++) {
		ckpt_head h;
		struct stat st;
		int r = usable(lv, cdir, cs->l.seq[i], &h, why, sizeof why, err);
		cs->ok[i] = r == 0;
		rc = r == 1 ? AL_OK : r;
		snprintf(path, sizeof path, "%s/%0*llu/data.mdb", cdir, SEQ_DIGITS, (unsigned long long)cs->l.seq[i]);
		cs->bytes[i] = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
		if (cs->ok[i])
			cs->newest = cs->l.seq[i];
	}
	if (rc)
		state_free(cs);
	return rc;
}

/* Removes a checkpoint: renamed away first, so that no reader finds half of one. */
static void ckpt_remove(const char *cdir, uint64_t seq)
{
	static unsigned counter;
	char from[4300], to[4300];
	snprintf(from, sizeof from, "%s/%0*llu", cdir, SEQ_DIGITS, (unsigned long long)seq);
	snprintf(to, sizeof to, "%s/.del-%0*llu-%ld-%u", cdir, SEQ_DIGITS, (unsigned long long)seq, (long)getpid(),
		 __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
	if (rename(from, to) == 0)
		remove_dir(to);
}

/* Temporary directories of writers that died (kill -9 while writing): .tmp-SEQ-PID-N, .del-...
 * whose process is gone. */
static void clear_dead(const char *cdir)
{
	DIR *d = opendir(cdir);
	char path[4600];
	for (struct dirent *e; d && (e = readdir(d));) {
		const char *n = e->d_name;
		if (strncmp(n, ".tmp-", 5) && strncmp(n, ".del-", 5))
			continue;
		long pid = strlen(n) > 5 + SEQ_DIGITS + 1 ? strtol(n + 5 + SEQ_DIGITS + 1, NULL, 10) : 0;
		if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
			snprintf(path, sizeof path, "%s/%s", cdir, n);
			remove_dir(path);
		}
	}
	if (d)
		closedir(d);
}

/*
 * The policy: in each bucket (see bucket) the lowest usable checkpoint stays (so that a kept
 * one is never replaced by a later one), and the newest usable one; checkpoints this build
 * cannot use are removed when the log reaches their seq (one past the head may be another
 * process's newer one). K = 0 keeps every usable one.
 */
static int prune(const al_logv *lv, uint64_t k, al_checkpoint_info *out, al_error *err)
{
	char cdir[4200];
	ckpt_state cs;
	ckpt_dir(lv->s, cdir, sizeof cdir);
	clear_dead(cdir);
	int rc = state_read(lv, &cs, err); /* a listing that failed removes nothing */
	if (rc)
		return rc;
	bool have = false;
	uint64_t last = 0;
	for (size_t i = 0; i < cs.l.n; i++) {
		uint64_t seq = cs.l.seq[i], b = k ? bucket(seq, cs.head, k) : seq;
		bool keep = cs.ok[i] ? (!have || b != last || seq == cs.newest) : seq > cs.head;
		if (cs.ok[i] && (!have || b != last)) {
			have = true;
			last = b;
		}
		if (!keep) {
			ckpt_remove(cdir, seq);
			out->pruned++;
		} else {
			out->kept++;
			out->kept_bytes += cs.bytes[i];
		}
	}
	state_free(&cs);
	return AL_OK;
}

/* ---- filling the gaps (adminlog checkpoint on a log without them) ---------------------------- */

/* Whether the policy wants a checkpoint at t (a multiple of k) that no usable one provides. */
static bool wanted(const ckpt_state *cs, uint64_t t, uint64_t head, uint64_t k)
{
	if (t + k * AL_CKPT_WINDOW <= head && (t / k) % AL_CKPT_WINDOW != 0)
		return false; /* before the window: only at multiples of AL_CKPT_WINDOW * k */
	for (size_t i = 0; i < cs->l.n; i++)
		if (cs->ok[i] && bucket(cs->l.seq[i], head, k) == bucket(t, head, k))
			return false;
	return true;
}

/* Each wanted checkpoint before head, oldest first: an as-of store of it (which starts from the
 * one written just before) written out. */
static int fill(al_store *root, al_store *s, const al_logv *lv, uint64_t k, al_progress_fn p, void *pctx,
		al_checkpoint_info *out, al_error *err)
{
	ckpt_state cs;
	int rc = state_read(lv, &cs, err);
	if (rc)
		return rc;
	uint64_t todo = 0, done = 0;
	for (uint64_t t = k; k && t < cs.head; t += k)
		todo += wanted(&cs, t, cs.head, k);
	for (uint64_t t = k; k && rc == AL_OK && t < cs.head; t += k) {
		if (!wanted(&cs, t, cs.head, k))
			continue;
		al_store *past;
		uint64_t seq, bytes;
		if ((rc = al_store_asof(s, t, &past, err)) == AL_OK) {
			rc = write_at_head(root, past, &seq, &bytes, err);
			al_store_close(past);
		}
		if (rc == AL_EALREADY_EXISTS)
			rc = AL_OK;
		else if (rc == AL_OK) {
			out->seq = seq;
			out->written++;
			out->bytes += bytes;
		}
		if (p)
			p(++done, todo, pctx);
	}
	state_free(&cs);
	return rc;
}

/* ---- the public calls ----------------------------------------------------------------------- */

/* Whether a checkpoint falls due: the head is K past the newest usable one. */
static int due(const al_logv *lv, uint64_t k, al_checkpoint_info *out, bool *is_due, al_error *err)
{
	ckpt_state cs;
	int rc = state_read(lv, &cs, err);
	if (rc)
		return rc;
	out->next_due = k ? cs.newest + k : 0;
	*is_due = k && cs.head >= cs.newest + k;
	state_free(&cs);
	return AL_OK;
}

int al_store_checkpoint(al_store *s, unsigned flags, al_progress_fn p, void *pctx, al_checkpoint_info *out,
			al_error *err)
{
	al_checkpoint_info none;
	out = out ? out : &none;
	memset(out, 0, sizeof *out);
	al_store *root = s->log_src ? s->log_src : s;
	unsigned long nomem = al__nomem_count();
	uint64_t k;
	bool go = true;
	al_logv lv;
	int rc = interval(root, &k, err);
	if (rc == AL_OK)
		rc = al__logv_begin(s, NULL, &lv, err);
	if (rc) /* an allocation that failed on the way answers no_memory, whatever it broke */
		return al__nomem_since(nomem, err, rc);
	if (flags & AL_CKPT_IF_DUE)
		rc = due(&lv, k, out, &go, err);
	if (rc == AL_OK && go && (flags & AL_CKPT_FILL))
		rc = fill(root, s, &lv, k, p, pctx, out, err);
	uint64_t seq = 0, bytes = 0;
	if (rc == AL_OK && go && (rc = write_at_head(root, s, &seq, &bytes, err)) == AL_OK && seq) {
		out->seq = seq;
		out->written++;
		out->bytes += bytes;
		out->next_due = k ? seq + k : 0;
	}
	if (rc == AL_EALREADY_EXISTS) /* written by another process, or at this head before */
		rc = AL_OK;
	if (rc == AL_OK)
		rc = prune(&lv, k, out, err);
	al__logv_end(&lv);
	return al__nomem_since(nomem, err, rc);
}

int al_store_checkpoint_list(al_store *s, al_checkpoint_fn fn, void *ctx, al_error *err)
{
	al_logv lv;
	ckpt_state cs;
	int rc = al__logv_begin(s, NULL, &lv, err);
	if (rc)
		return rc;
	if ((rc = state_read(&lv, &cs, err)) == AL_OK) {
		for (size_t i = 0; i < cs.l.n; i++)
			fn(cs.l.seq[i], cs.bytes[i], cs.ok[i], ctx);
		state_free(&cs);
	}
	al__logv_end(&lv);
	return rc;
}
