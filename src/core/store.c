/* store.c - opening a data directory, the write-transaction runner, map growth. */
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/record.h"
#include "core/seal.h"
#include "core/store.h"
#include "core/log_index.h"
#include "core/rowcache.h"
#include "util/codec.h"

#define DEFAULT_MAP (1u << 20)
#define MAX_MAP_RETRIES 40

static size_t map_full_retries; /* process-wide, reported by al_store_stats */

size_t al__map_full_retries(void) { return map_full_retries; }

int64_t al__now(al_store *s) { return s->clock(s->clock_ctx); }

void al_store_set_clock(al_store *s, int64_t (*clock_us)(void *), void *ctx)
{
	s->clock = clock_us ? clock_us : al_clock_real;
	s->clock_ctx = ctx;
}

void al__log(al_store *s, int level, const char *fmt, ...)
{
	if (s->log == NULL || (s->flags & AL_OPEN_QUIET))
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	s->log(s->log_ctx, level, msg);
}

const char *al_store_dir(const al_store *s) { return s->dir; }

void al__poison(al_wtxn *w, const al_error *e)
{
	if (!w->poisoned)
		w->poison = *e;
	w->poisoned = true;
}

int al__mdb(al_wtxn *w, int rc, al_error *err, const char *what)
{
	if (rc == MDB_SUCCESS)
		return AL_OK;
	al_error e;
	al_err(&e, AL_EIO_ERROR, "%s: %s", what, mdb_strerror(rc));
	if (w) {
		al__poison(w, &e);
		if (rc == MDB_MAP_FULL)
			w->map_full = true;
	}
	if (err)
		*err = e;
	return e.code;
}

int al__put(al_wtxn *w, MDB_dbi dbi, const void *k, size_t kn, const void *v, size_t vn,
	    unsigned flags, al_error *err)
{
	if (w->poisoned)
		return al_err(err, AL_EIO_ERROR, "transaction failed earlier; nothing more is written");
	MDB_val key = {kn, (void *)k}, val = {vn, (void *)v};
	return al__mdb(w, mdb_put(w->txn, dbi, &key, &val, flags), err, "write");
}

int al__del(al_wtxn *w, MDB_dbi dbi, const void *k, size_t kn, al_error *err)
{
	if (w->poisoned)
		return al_err(err, AL_EIO_ERROR, "transaction failed earlier; nothing more is written");
	MDB_val key = {kn, (void *)k};
	int rc = mdb_del(w->txn, dbi, &key, NULL);
	return rc == MDB_NOTFOUND ? AL_OK : al__mdb(w, rc, err, "delete");
}

int al__cursor_end(int rc, al_error *err, const char *what)
{
	if (rc == MDB_SUCCESS || rc == MDB_NOTFOUND)
		return AL_OK;
	return al_err(err, AL_EIO_ERROR, "read %s: %s", what, mdb_strerror(rc));
}

/* ---- map size --------------------------------------------------------------------------- */

static int grow_map(al_store *s, size_t factor_num, size_t factor_den)
{
	MDB_envinfo info;
	mdb_env_info(s->env, &info);
	size_t next = info.me_mapsize / factor_den * factor_num;
	if (next < info.me_mapsize + (1u << 16))
		next = info.me_mapsize + (1u << 16);
	return mdb_env_set_mapsize(s->env, next);
}

/* Grows before a transaction when the map is three quarters full, so that MAP_FULL (and a
 * rerun of the whole transaction) stays rare. */
static void grow_if_nearly_full(al_store *s)
{
	MDB_envinfo info;
	MDB_stat st;
	mdb_env_info(s->env, &info);
	mdb_env_stat(s->env, &st);
	size_t used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
	if (used > info.me_mapsize / 4 * 3)
		grow_map(s, 2, 1);
}

/* ---- write transactions -------------------------------------------------------------------- */

static int load_head(al_wtxn *w, al_error *err)
{
	MDB_val k = {4, "head"}, v;
	int rc = mdb_get(w->txn, w->s->head_db, &k, &v);
	if (rc == MDB_NOTFOUND) {
		w->head_seq = 0;
		memset(w->head_hash, 0, 32);
		w->head_time = 0;
		return AL_OK;
	}
	if (rc)
		return al__mdb(w, rc, err, "read head");
	if (v.mv_size != 48)
		return al_err(err, AL_ECORRUPT, "meta head has %zu bytes, expected 48", v.mv_size);
	const unsigned char *p = v.mv_data;
	w->head_seq = al__get_be64(p);
	memcpy(w->head_hash, p + 8, 32);
	w->head_time = (int64_t)al__get_be64(p + 40);
	return AL_OK;
}

static int save_head(al_wtxn *w, al_error *err)
{
	unsigned char v[48];
	al__be64(v, w->head_seq);
	memcpy(v + 8, w->head_hash, 32);
	al__be64(v + 40, (uint64_t)w->head_time);
	return al__put(w, w->s->head_db, "head", 4, v, sizeof v, 0, err);
}

static int begin(al_store *s, MDB_txn *parent, unsigned flags, MDB_txn **txn)
{
	int rc = mdb_txn_begin(s->env, parent, flags, txn);
	/* Another process grew the map: adopt its size. Never with a fixed map: other threads
	 * may be in transactions, and remapping under them crashes them. adminlogd is the only
	 * writer while it runs (its lock), so there it cannot happen; if it does, refuse. */
	if (rc == MDB_MAP_RESIZED && !(s->flags & AL_OPEN_FIXED_MAP)) {
		mdb_env_set_mapsize(s->env, 0);
		rc = mdb_txn_begin(s->env, parent, flags, txn);
	}
	return rc;
}

static int run_once(al_wtxn *w, al_write_fn fn, void *ctx, al_error *err)
{
	int rc = begin(w->s, NULL, 0, &w->txn);
	if (rc)
		return al__mdb(w, rc, err, "begin write transaction");
	w->map_full = w->poisoned = w->cursors_marked = false;
	al__rc_reset(w);
	w->nomem_seen = al__nomem_count();
	rc = w->s->dbs_open ? load_head(w, err) : AL_OK;
	if (rc == AL_OK && w->s->dbs_open)
		rc = al__idx_load(w, err);
	uint64_t start_seq = w->head_seq;
	if (rc == AL_OK)
		rc = fn(w, ctx, err);
	if (w->poisoned) /* the first failure says why, whatever it broke afterwards */
		rc = (*err = w->poison).code;
	/* A failed allocation nobody answered for: what was written may lack parts. */
	rc = al__nomem_since(w->nomem_seen, err, rc);
	if (rc == AL_OK && w->head_seq != start_seq) {
		rc = al__idx_flush(w, err);
		if (rc == AL_OK)
			rc = save_head(w, err);
		if (rc == AL_OK)
			rc = al__proj_save_cursors(w, err);
	}
	if (rc != AL_OK) {
		mdb_txn_abort(w->txn);
		w->txn = NULL;
		return rc;
	}
	rc = mdb_txn_commit(w->txn);
	w->txn = NULL;
	if (rc == MDB_SUCCESS && w->cursors_marked)
		w->s->cursors_at_head = true;
	return al__mdb(w, rc, err, "commit");
}

int al__store_write(al_store *s, al_write_fn fn, void *ctx, al_error *err)
{
	if (s->flags & AL_OPEN_RDONLY)
		return al_err(err, AL_EPERMISSION_DENIED, "data directory opened read-only");
	if (s->log_src)
		return al_err(err, AL_EPERMISSION_DENIED, "the state as of event %llu answers reads only",
			      (unsigned long long)s->log_bound);
	al_wtxn w = {.s = s};
	msgpack_zone_init(&w.zone, 8192);
	msgpack_sbuffer_init(&w.sb);
	msgpack_sbuffer_init(&w.vb);
	msgpack_zone_init(&w.rc_arena, 16384);
	int rc;
	for (int attempt = 0;; attempt++) {
		if (!(s->flags & AL_OPEN_FIXED_MAP))
			grow_if_nearly_full(s);
		rc = run_once(&w, fn, ctx, err);
		if (!w.map_full || attempt >= MAX_MAP_RETRIES)
			break;
		if (s->flags & AL_OPEN_FIXED_MAP) {
			MDB_envinfo info;
			mdb_env_info(s->env, &info);
			rc = al_err(err, AL_ELIMIT_EXCEEDED, "the data directory's map of %zu bytes is full: reopen it with a "
				    "larger map size (adminlogd --map-size)", info.me_mapsize);
			break;
		}
		/* MDB_MAP_FULL: no transaction is open now, so the map may grow. Run fn again. */
		map_full_retries++;
		if (grow_map(s, 2, 1) != MDB_SUCCESS)
			break;
		al_err_clear(err);
	}
	al_free(w.rec);
	msgpack_zone_destroy(&w.zone);
	al_sbuffer_destroy(&w.sb);
	al_sbuffer_destroy(&w.vb);
	al__rc_free(&w);
	return rc;
}

int al__read_begin(al_store *s, MDB_txn **txn, al_error *err)
{
	int rc = begin(s, NULL, MDB_RDONLY, txn);
	return rc ? al_err(err, AL_EIO_ERROR, "begin read transaction: %s", mdb_strerror(rc)) : AL_OK;
}

/* The public snapshot is the read transaction itself, under an opaque name. */
int al_snapshot_begin(al_store *s, al_snapshot **out, al_error *err)
{
	MDB_txn *txn = NULL;
	int rc = al__read_begin(s, &txn, err);
	*out = rc ? NULL : (al_snapshot *)txn;
	return rc;
}

void al_snapshot_end(al_snapshot *snap)
{
	if (snap)
		mdb_txn_abort((MDB_txn *)snap);
}

/* ---- open and close -------------------------------------------------------------------------- */

static int put_format(al_wtxn *w, al_error *err)
{
	unsigned char f[4];
	al__be32(f, AL_DIR_FORMAT);
	return al__put(w, w->s->meta, "format", 6, f, 4, 0, err);
}

/* A format 1 store opened read-write: its head moves from meta to the main database, in the
 * transaction that opens it (a build that reads only format 1 then refuses the directory
 * instead of reading a head that no longer moves). */
static int move_head(al_wtxn *w, MDB_dbi main, al_error *err)
{
	MDB_val k = {4, "head"}, v;
	int rc = mdb_get(w->txn, w->s->meta, &k, &v);
	if (rc == MDB_SUCCESS) {
		unsigned char head[48];
		if (v.mv_size != sizeof head)
			return al_err(err, AL_ECORRUPT, "meta head has %zu bytes, expected 48", v.mv_size);
		memcpy(head, v.mv_data, sizeof head); /* v points into a page the puts below may move */
		if ((rc = al__put(w, main, "head", 4, head, sizeof head, 0, err)) ||
		    (rc = al__del(w, w->s->meta, "head", 4, err)))
			return rc;
	} else if (rc != MDB_NOTFOUND)
		return al__mdb(w, rc, err, "read head");
	return put_format(w, err);
}

static int open_dbs(al_wtxn *w, void *ctx, al_error *err)
{
	(void)ctx;
	al_store *s = w->s;
	static const struct {
		const char *name;
		size_t off;
		unsigned flags;
	} dbs[] = {
		{"events", offsetof(al_store, events), 0},
		{"idx_entity", offsetof(al_store, idx_entity), MDB_DUPSORT | MDB_DUPFIXED},
		{"idx_actor", offsetof(al_store, idx_actor), MDB_DUPSORT | MDB_DUPFIXED},
		{"idx_type", offsetof(al_store, idx_type), MDB_DUPSORT | MDB_DUPFIXED},
		{"reqids", offsetof(al_store, reqids), 0},
		{"meta", offsetof(al_store, meta), 0},
	};
	unsigned create = (s->flags & AL_OPEN_RDONLY) ? 0 : MDB_CREATE;
	for (size_t i = 0; i < sizeof dbs / sizeof *dbs; i++) {
		int rc = mdb_dbi_open(w->txn, dbs[i].name, dbs[i].flags | create,
				      (MDB_dbi *)((char *)s + dbs[i].off));
		if (rc == MDB_NOTFOUND)
			return al_err(err, AL_ECORRUPT, "sub-database %s is missing", dbs[i].name);
		if (rc)
			return al__mdb(create ? w : NULL, rc, err, dbs[i].name);
	}
	MDB_dbi main;
	int rc = mdb_dbi_open(w->txn, NULL, 0, &main);
	if (rc)
		return al__mdb(create ? w : NULL, rc, err, "main database");
	if ((rc = al__proj_open_dbs(s, w->txn, err)))
		return rc;
	MDB_val k = {6, "format"}, v;
	rc = mdb_get(w->txn, s->meta, &k, &v);
	s->head_db = main;
	if (rc == MDB_NOTFOUND && create)
		return put_format(w, err);
	if (rc == MDB_NOTFOUND)
		return al_err(err, AL_ECORRUPT, "meta has no format version");
	if (rc)
		return al__mdb(NULL, rc, err, "read format");
	unsigned f = v.mv_size == 4 ? al__get_be32(v.mv_data) : 0;
	if (f == 1 && create)
		return move_head(w, main, err);
	if (f == 1) /* read only: read it where it is */
		s->head_db = s->meta;
	else if (f != AL_DIR_FORMAT)
		return al_err(err, AL_EUNSUPPORTED, "data directory format %u, this build reads 1 and %u", f,
			      AL_DIR_FORMAT);
	return AL_OK;
}

static int open_dbs_rdonly(al_store *s, al_error *err)
{
	al_wtxn w = {.s = s};
	int rc = al__read_begin(s, &w.txn, err);
	if (rc)
		return rc;
	rc = open_dbs(&w, NULL, err);
	if (rc == AL_OK)
		rc = al__mdb(NULL, mdb_txn_commit(w.txn), err, "open sub-databases");
	else
		mdb_txn_abort(w.txn);
	return rc;
}

/* Opens the environment. LMDB's "not an LMDB file" on a damaged data file becomes corrupt. */
static int env_open(al_store *s, const al_open_opts *o, al_error *err)
{
	unsigned envflags = MDB_NOTLS;
	if (o->flags & AL_OPEN_NOSYNC)
		envflags |= MDB_NOSYNC;
	if (o->flags & AL_OPEN_RDONLY)
		envflags |= MDB_RDONLY;
	/* A scratch store (as-of) is private and never synced: writing into the map spares LMDB a
	 * malloc'd copy of every page the fold touches and the write of each at commit. */
	if (o->flags & AL__OPEN_SCRATCH)
		envflags |= MDB_WRITEMAP;
	/* A read-only open maps what the writers mapped (0: the size in the meta page), so that
	 * the file does not outgrow its map while adminlogd writes beside it. */
	size_t map = o->map_size ? o->map_size : (o->flags & AL_OPEN_RDONLY) ? 0 : DEFAULT_MAP;
	int rc = mdb_env_create(&s->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(s->env, 128);
	if (rc == 0 && map)
		rc = mdb_env_set_mapsize(s->env, map);
	if (rc == 0)
		rc = mdb_env_open(s->env, s->dir, envflags, 0600);
	if (rc == MDB_INVALID)
		return al_err(err, AL_ECORRUPT, "%s/data.mdb is not an LMDB data file (truncated or overwritten?); "
			      "restore it from a backup", s->dir);
	if (rc)
		return al_err(err, rc == EACCES ? AL_EPERMISSION_DENIED : AL_EIO_ERROR, "open %s: %s", s->dir,
			      mdb_strerror(rc));
	return AL_OK;
}

/* An existing store without events was never bootstrapped: the bootstrap commits all its
 * events at once, so this is a directory whose first start was killed (by older versions,
 * which did not build it aside). Serving it would serve a store with no admin. */
static int check_bootstrapped(al_store *s, al_error *err)
{
	MDB_txn *txn;
	MDB_stat st;
	int rc = al__read_begin(s, &txn, err);
	if (rc)
		return rc;
	rc = mdb_stat(txn, s->events, &st);
	mdb_txn_abort(txn);
	if (rc)
		return al__mdb(NULL, rc, err, "count events");
	if (st.ms_entries == 0)
		return al_err(err, AL_ECORRUPT, "%s holds no events: its bootstrap never completed (a half-made data "
			      "directory); remove it and run adminlog init (or start adminlogd) again", s->dir);
	return AL_OK;
}

static int open_store(al_store **out, const char *dir, const al_open_opts *o, al_error *err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	struct stat st;
	bool fresh = stat(path, &st) != 0; /* a new store: the only kind that gets a master key */
	if (fresh) {
		if (!(o->flags & AL_OPEN_CREATE))
			return al__store_missing(dir, err);
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return al_err(err, AL_EIO_ERROR, "mkdir %s: %s", dir, strerror(errno));
	}
	al_store *s = al_calloc(1, sizeof *s);
	if (s == NULL || (s->dir = al_strdup(dir)) == NULL) {
		al_free(s);
		return al_err(err, AL_ENO_MEMORY, "out of memory");
	}
	s->flags = o->flags;
	s->lock_fd = -1;
	s->clock = al_clock_real;
	s->log = o->log;
	s->log_ctx = o->log_ctx;
	int rc = al__store_lock(s, o->socket_path, err);
	if (rc == AL_OK)
		rc = env_open(s, o, err);
	if (rc == AL_OK)
		rc = al__store_check_size(s, err);
	if (rc == AL_OK)
		rc = (o->flags & AL_OPEN_RDONLY) ? open_dbs_rdonly(s, err) : al__store_write(s, open_dbs, NULL, err);
	s->dbs_open = rc == AL_OK;
	if (rc == AL_OK && !fresh && !(o->flags & AL__OPEN_SCRATCH))
		rc = check_bootstrapped(s, err);
	if (rc == AL_OK && !(o->flags & AL__OPEN_SCRATCH)) /* a scratch store opens no secret */
		rc = al__master_key_load(s, fresh, err);
	if (rc == AL_OK && !(o->flags & AL_OPEN_RDONLY))
		rc = al__proj_catch_up(s, err);
	if (rc) {
		al_store_close(s);
		return rc;
	}
	if (!fresh && !(o->flags & (AL_OPEN_RDONLY | AL__OPEN_SCRATCH)))
		al__store_clear_stage(dir);
	*out = s;
	return AL_OK;
}

/* AL_OPEN_READER: read-write when allowed, else read-only (see adminlog.h). */
static int open_reader(al_store **out, const char *dir, al_open_opts *o, al_error *err)
{
	o->flags &= ~(unsigned)AL_OPEN_READER;
	if (!(o->flags & AL_OPEN_RDONLY) && !al__master_key_missing(dir)) {
		int rc = open_store(out, dir, o, err);
		if (rc != AL_EIN_USE)
			return rc;
		al_err_clear(err);
	}
	o->flags |= AL_OPEN_RDONLY;
	return open_store(out, dir, o, err);
}

int al_store_open(al_store **out, const char *dir, const al_open_opts *opts, al_error *err)
{
	al_open_opts o = opts ? *opts : (al_open_opts){0};
	*out = NULL;
	if (o.flags & AL_OPEN_READER)
		return open_reader(out, dir, &o, err);
	return open_store(out, dir, &o, err);
}

int al_store_has_secrets(const al_store *s) { return s->has_master_key; }

void al_store_fix_map(al_store *s) { s->flags |= AL_OPEN_FIXED_MAP; }

void al_store_close(al_store *s)
{
	if (s == NULL)
		return;
	unsigned flags = 0;
	if (s->env && mdb_env_get_flags(s->env, &flags) == 0 && (flags & MDB_NOSYNC) && !(flags & MDB_RDONLY))
		mdb_env_sync(s->env, 1); /* a store opened without fsyncs is whole on disk once closed */
	if (s->env)
		mdb_env_close(s->env);
	al__store_unlock(s);
	al__idx_free(s);
	sodium_memzero(s->master_key, sizeof s->master_key);
	for (size_t i = 0; i < al__nprojections; i++)
		if (al__projections[i]->mem_free)
			al__projections[i]->mem_free(s->proj_mem[i]);
	if (s->scratch) {
		al__store_remove_files(s->dir);
		rmdir(s->dir);
	}
	al_free(s->dir);
	al_free(s);
}
