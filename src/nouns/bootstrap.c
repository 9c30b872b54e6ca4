/*
 * bootstrap.c - a new data directory: the store.init command and al_store_init. Later nouns
 * add their defaults to al__store_init so that `adminlog init` and the server's first start
 * produce the same bootstrap events. (The settings view, which keeps store.initialized's
 * pwhash, is in settings.c.)
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/seal.h"
#include "core/secret.h"
#include "core/validate.h"
#include "nouns/nouns.h"

/* ---- store.init -------------------------------------------------------------------------------- */

int al__store_init_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err)
{
	(void)s;
	al_str cost = {"interactive", 11}, pw;
	al_mp_str(args, "pwhash", &cost);
	al_mp_str(args, "admin_password", &pw);
	int rc = al__check_enum(err, "pwhash", cost, al__pwhash_costs);
	if (rc == AL_OK)
		rc = al__check_password(err, "admin_password", pw);
	if (rc)
		return rc;
	char c[32], hash[AL_PWHASH_LEN], id[37], project_id[37];
	if ((rc = al__pwhash(al_str_cpy(c, sizeof c, cost), pw, hash, err)))
		return rc;
	al__uuid4(id);
	al__uuid4(project_id);
	al_mb_cstr(out, "password_hash", hash);
	al_mb_cstr(out, "id", id);
	al_mb_cstr(out, "project_id", project_id);
	sodium_memzero(hash, sizeof hash);
	return al__keypair_prepare(s, args, out, err); /* the admin's keypair */
}

int al__store_init(al_cmd *c)
{
	if (c->w->head_seq > 0)
		return al_err(c->err, AL_EALREADY_EXISTS, "the data directory is already initialised (%llu events)",
			      (unsigned long long)c->w->head_seq);
	al_str cost = {"interactive", 11};
	al_user_new admin = {.username = {"admin", 5}, .full_name = {"Administrator", 13},
			     .description = {"Bootstrap superadmin", 20}, .domain = {"default", 7},
			     .role = {"superadmin", 10}, .status = {"active", 6}};
	al__arg_str(c, "pwhash", &cost);
	al__arg_str(c, "admin_email", &admin.email);
	al_mp_str(c->prep, "password_hash", &admin.password_hash);
	al_mp_str(c->prep, "id", &admin.id);

	al_mb f;
	al_mb_init(&f);
	al_mb_str(&f, "pwhash", cost.p, cost.n);
	int rc = al__emit(c, AL_EV_STORE_INITIALIZED, (al_str){"store", 5}, &f);
	al_mb_free(&f);
	al_str project_id = {"", 0};
	al_mp_str(c->prep, "project_id", &project_id);
	/* Policies first: the admin, its keypair and the project follow the "default" ones. */
	if (rc == AL_OK)
		rc = al__domain_emit_created(c, (al_str){"default", 7}, (al_str){"The default domain", 18});
	if (rc == AL_OK)
		rc = al__rgroup_emit_default(c);
	if (rc == AL_OK)
		rc = al__policy_emit_defaults(c);
	al_keypair_new k = {.user_email = admin.email, .user_id = admin.id, .resource_policy = {"default", 7},
			    .rate_limit = 10000, .is_admin = true, .is_active = true, .is_main = true};
	al_mp_str(c->prep, "access_key", &k.access_key);
	al_mp_str(c->prep, "secret_key_sealed", &k.secret_key_sealed);
	if (rc == AL_OK)
		rc = al__user_emit_created(c, &admin);
	if (rc == AL_OK)
		rc = al__keypair_emit_created(c, &k);
	if (rc == AL_OK)
		rc = al__project_emit_default(c, project_id, admin.email);
	bool registry = true;
	al__arg_bool(c, "default_registry", &registry);
	if (rc == AL_OK && registry)
		rc = al__registry_emit_default(c);
	if (rc)
		return rc;
	msgpack_pack_map(c->out, 3); /* the secret key is not shown: the admin gets it by logging in */
	al_pack_cstr(c->out, "events");
	msgpack_pack_uint64(c->out, c->last_seq);
	al_pack_cstr(c->out, "access_key");
	al_pack_str(c->out, k.access_key.p, k.access_key.n);
	al_pack_cstr(c->out, "admin");
	return al__user_pack_public(c, admin.email);
}

/* ---- al_store_init: build aside, then move into place -------------------------------------------------- */

/*
 * A kill -9 during the first start once left DIR with data.mdb and master.key but no events
 * and no admin-password, which the next start then served. Now the store is made in
 * DIR/.init (the stage) and moved into DIR file by file, data.mdb last: its appearance is
 * the commit point, and everything it needs is already there. A stage left by a killed init
 * is cleared by the next one; its lock (flock on the stage directory) keeps two inits apart.
 */

static int sync_dir(const char *dir, al_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ok = fd >= 0 && fsync(fd) == 0;
	if (fd >= 0)
		close(fd);
	return ok ? AL_OK : al_err(err, AL_EIO_ERROR, "fsync %s: %s", dir, strerror(errno));
}

/* Refuses a DIR that already holds a store (or a half-made one: the open says which). */
static int check_target(const char *dir, bool stage_left, al_error *err)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	if (access(path, F_OK) != 0) {
		/* A master.key without data.mdb is ours only when a stage was left with it. */
		if (!stage_left && !al__master_key_missing(dir))
			return al_err(err, AL_ECORRUPT, "%s has %s but no data.mdb: restore data.mdb from a backup, or "
				      "move %s away to make a new store", dir, AL_MASTER_KEY_FILE, AL_MASTER_KEY_FILE);
		return AL_OK;
	}
	al_store *s;
	al_open_opts oo = {AL_OPEN_RDONLY | AL_OPEN_QUIET, 0};
	int rc = al_store_open(&s, dir, &oo, err);
	if (rc)
		return rc;
	uint64_t head = al_log_head(s);
	al_store_close(s);
	return al_err(err, AL_EALREADY_EXISTS, "the data directory is already initialised (%llu events)",
		      (unsigned long long)head);
}

/* Makes and locks the stage DIR/.init, emptied of what a killed init left. */
static int stage_begin(const char *dir, const char *stage, int *lock, al_error *err)
{
	bool left = mkdir(stage, 0700) != 0;
	if (left && errno != EEXIST)
		return al_err(err, AL_EIO_ERROR, "mkdir %s: %s", stage, strerror(errno));
	*lock = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*lock < 0) { /* another init may have finished and removed it just now */
		int e = errno, rc = check_target(dir, false, err);
		return rc ? rc : al_err(err, AL_EIO_ERROR, "open %s: %s", stage, strerror(e));
	}
	if (flock(*lock, LOCK_EX | LOCK_NB) != 0) {
		close(*lock);
		*lock = -1; /* the stage is the other process's: stage_end leaves it alone */
		return al_err(err, AL_EIN_USE, "%s is being initialised by another process (adminlog init or adminlogd; "
			      "%s is locked)", dir, stage);
	}
	int rc = check_target(dir, left, err);
	if (rc == AL_OK)
		al__store_remove_files(stage);
	return rc;
}

static void stage_end(const char *stage, int lock)
{
	if (lock < 0)
		return;
	al__store_remove_files(stage);
	rmdir(stage);
	close(lock);
}

/* A 0600 file holding line, fsynced: it must be on disk before data.mdb appears. */
static int write_secret_file(const char *path, const char *line, al_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ok = fd >= 0 && dprintf(fd, "%s\n", line) > 0 && fsync(fd) == 0;
	if (fd >= 0)
		close(fd);
	return ok ? AL_OK : al_err(err, AL_EIO_ERROR, "write %s: %s", path, strerror(errno));
}

/* The bootstrap events in a new store in stage, and the generated password beside them. */
static int64_t fixed_clock(void *ctx) { return *(const int64_t *)ctx; }

static int stage_build(const char *stage, al_init_opts *o, const al_actor *actor, al_error *err)
{
	al_store *s;
	al_open_opts oo = {AL_OPEN_CREATE | AL_OPEN_QUIET, 0};
	int rc = al_store_open(&s, stage, &oo, err);
	if (rc)
		return rc;
	if (o->at_us)
		al_store_set_clock(s, fixed_clock, &o->at_us);
	const char *pw = o->admin_password;
	if (pw == NULL) {
		al__random_password(o->generated_password, 21);
		pw = o->generated_password;
	}
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	al_pack_cstr(&pk, "default_registry");
	o->offline ? msgpack_pack_false(&pk) : msgpack_pack_true(&pk);
	al_pack_cstr(&pk, "pwhash");
	al_pack_cstr(&pk, o->pwhash ? o->pwhash : "interactive");
	al_pack_cstr(&pk, "admin_email");
	al_pack_cstr(&pk, o->admin_email ? o->admin_email : "admin@example.com");
	al_pack_cstr(&pk, "admin_password");
	al_pack_cstr(&pk, pw);
	al_request req = {"store.init", sb.data, sb.size, actor};
	al_reply rep;
	rc = al_exec(s, &req, &rep); /* commits with fsync */
	sodium_memzero(sb.data, sb.size);
	al_sbuffer_destroy(&sb);
	if (rc && err)
		*err = rep.err;
	al_reply_free(&rep);
	al_store_close(s);
	char path[4400];
	snprintf(path, sizeof path, "%s/admin-password", stage);
	if (rc == AL_OK && o->write_password && o->admin_password == NULL)
		rc = write_secret_file(path, o->generated_password, err);
	return rc;
}

static int move(const char *stage, const char *dir, const char *name, al_error *err)
{
	char from[4400], to[4400];
	snprintf(from, sizeof from, "%s/%s", stage, name);
	snprintf(to, sizeof to, "%s/%s", dir, name);
	if (rename(from, to) == 0 || (errno == ENOENT && strcmp(name, "admin-password") == 0))
		return AL_OK;
	return al_err(err, AL_EIO_ERROR, "rename %s to %s: %s", from, to, strerror(errno));
}

/* Moves the store into dir: key and password first, data.mdb last (the commit point). */
static int stage_publish(const char *stage, const char *dir, al_error *err)
{
	int rc = move(stage, dir, AL_MASTER_KEY_FILE, err);
	if (rc == AL_OK)
		rc = move(stage, dir, "admin-password", err);
	if (rc == AL_OK)
		rc = sync_dir(dir, err);
	if (rc == AL_OK)
		rc = move(stage, dir, "data.mdb", err);
	if (rc == AL_OK)
		rc = sync_dir(dir, err);
	return rc;
}

/* fsync of the directory that holds dir, so that a dir made here survives a crash too. */
static int sync_parent(const char *dir, al_error *err)
{
	char parent[4096];
	snprintf(parent, sizeof parent, "%s", dir);
	char *slash = strrchr(parent, '/');
	if (slash == parent)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	else
		snprintf(parent, sizeof parent, ".");
	return sync_dir(parent, err);
}

int al_store_init(const char *dir, al_init_opts *o, const al_actor *actor, al_error *err)
{
	bool made = mkdir(dir, 0700) == 0;
	if (!made && errno != EEXIST)
		return al_err(err, AL_EIO_ERROR, "mkdir %s: %s", dir, strerror(errno));
	char stage[4200];
	snprintf(stage, sizeof stage, "%s/%s", dir, AL_STAGE_DIR);
	int lock = -1;
	int rc = stage_begin(dir, stage, &lock, err);
	if (rc == AL_OK)
		rc = stage_build(stage, o, actor, err);
	if (rc == AL_OK)
		rc = stage_publish(stage, dir, err);
	stage_end(stage, lock);
	if (rc == AL_OK && made)
		rc = sync_parent(dir, err);
	if (rc && made)
		rmdir(dir); /* only when empty: nothing of a failed init remains */
	if (rc)
		sodium_memzero(o->generated_password, sizeof o->generated_password);
	return rc;
}
