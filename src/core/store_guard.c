/*
 * store_guard.c - what opening a data directory checks before it trusts the directory: who
 * else has it open (the lock beside adminlogd), whether data.mdb is as long as its pages,
 * what a directory without data.mdb is, and who may read its secrets (permissions).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/seal.h"
#include "core/store.h"

/* ---- the lock: adminlogd is the only writer while it runs ----------------------------------- */

/*
 * Why a lock: LMDB lets another process grow the map, and the process that notices must
 * then remap with no transaction open in any of its threads, which a threaded server cannot
 * promise (a remap under a reader was SIGSEGV in srv_pack_event). So while adminlogd runs it
 * holds DIR/adminlogd.lock exclusively and nobody else writes; every other read-write open
 * holds it shared, so that the server does not start under a direct-mode writer either.
 * flock, not fcntl: it belongs to the open file, so two stores of one process do not release
 * each other's lock, and adminlogd's hash helpers close the descriptor when they fork.
 */

/* What adminlogd wrote into the lock file: "pid\nsocket\n". */
static void read_owner(int fd, char *pid, size_t pn, char *sock, size_t sn)
{
	char buf[4200];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	char *nl = strchr(buf, '\n');
	snprintf(pid, pn, "%.*s", nl ? (int)(nl - buf) : 0, buf);
	snprintf(sock, sn, "%.*s", nl ? (int)strcspn(nl + 1, "\n") : 0, nl ? nl + 1 : "");
}

static void write_owner(int fd, const char *socket_path)
{
	char buf[4200];
	int n = snprintf(buf, sizeof buf, "%ld\n%s\n", (long)getpid(), socket_path ? socket_path : "");
	if (ftruncate(fd, 0) == 0 && n > 0 && pwrite(fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf, 0) < 0)
		return; /* only the refusal message of others uses it */
}

static int refuse_writer(al_store *s, int fd, al_error *err)
{
	char pid[32], sock[4096], use[4200];
	read_owner(fd, pid, sizeof pid, sock, sizeof sock);
	if (sock[0])
		snprintf(use, sizeof use, "adminctl --socket %s", sock);
	else
		snprintf(use, sizeof use, "adminctl --connect HOST:PORT");
	return al_err(err, AL_EIN_USE, "%s is served by adminlogd (pid %s): direct-mode writes are refused while it "
		      "runs; use %s", s->dir, pid[0] ? pid : "unknown", use);
}

static int refuse_server(al_store *s, int fd, al_error *err)
{
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) { /* only shared holders: direct-mode writers */
		flock(fd, LOCK_UN);
		return al_err(err, AL_EIN_USE, "%s is open read-write by another process (adminctl --data or adminlog); "
			      "start adminlogd when it has finished", s->dir);
	}
	char pid[32], sock[4096];
	read_owner(fd, pid, sizeof pid, sock, sizeof sock);
	return al_err(err, AL_EIN_USE, "%s is already served by adminlogd (pid %s)", s->dir, pid[0] ? pid : "unknown");
}

int al__store_lock(al_store *s, const char *socket_path, al_error *err)
{
	if (s->flags & (AL_OPEN_RDONLY | AL__OPEN_SCRATCH))
		return AL_OK;
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", s->dir, AL_LOCK_FILE);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return al_err(err, errno == EACCES ? AL_EPERMISSION_DENIED : AL_EIO_ERROR, "open %s: %s", path,
			      strerror(errno));
	bool server = s->flags & AL_OPEN_SERVER;
	if (flock(fd, (server ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
		int rc;
		if (errno != EWOULDBLOCK)
			rc = al_err(err, AL_EIO_ERROR, "lock %s: %s", path, strerror(errno));
		else
			rc = server ? refuse_server(s, fd, err) : refuse_writer(s, fd, err);
		close(fd);
		return rc;
	}
	if (server)
		write_owner(fd, socket_path);
	s->lock_fd = fd;
	return AL_OK;
}

void al__store_unlock(al_store *s)
{
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the flock */
	s->lock_fd = -1;
}

/* ---- the data file's size ---------------------------------------------------------------------- */

int al__store_check_size(al_store *s, al_error *err)
{
	/* Only the two meta pages have been read so far (mdb_env_open reads them with pread). */
	int fd;
	struct stat st;
	MDB_envinfo info;
	MDB_stat ms;
	if (mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &st) != 0)
		return al_err(err, AL_EIO_ERROR, "%s/data.mdb: cannot stat it", s->dir);
	mdb_env_info(s->env, &info);
	mdb_env_stat(s->env, &ms);
	unsigned long long need = (unsigned long long)(info.me_last_pgno + 1) * ms.ms_psize;
	if ((unsigned long long)st.st_size < need)
		return al_err(err, AL_ECORRUPT, "%s/data.mdb: %lld bytes, but the store's pages need %llu bytes "
			      "(truncated?); restore it from a backup", s->dir, (long long)st.st_size, need);
	return AL_OK;
}

/* ---- a directory without data.mdb -------------------------------------------------------------- */

static bool exists(const char *dir, const char *name)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

int al__store_missing(const char *dir, al_error *err)
{
	if (exists(dir, AL_STAGE_DIR))
		return al_err(err, AL_ENOT_FOUND, "no adminlog data directory at %s: its bootstrap was interrupted "
			      "(%s/%s is left); run adminlog init (or start adminlogd) again", dir, dir, AL_STAGE_DIR);
	if (exists(dir, AL_MASTER_KEY_FILE))
		return al_err(err, AL_ECORRUPT, "%s has %s but no data.mdb: restore data.mdb from a backup",
			      dir, AL_MASTER_KEY_FILE);
	return al_err(err, AL_ENOT_FOUND, "no adminlog data directory at %s (run adminlog init)", dir);
}

void al__store_remove_files(const char *dir)
{
	static const char *const names[] = {"data.mdb", "lock.mdb", AL_MASTER_KEY_FILE, AL_LOCK_FILE,
					    "admin-password"};
	char path[4400];
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
	}
}

void al__store_clear_stage(const char *dir)
{
	char stage[4200];
	snprintf(stage, sizeof stage, "%s/%s", dir, AL_STAGE_DIR);
	if (access(stage, F_OK) != 0)
		return;
	al__store_remove_files(stage);
	rmdir(stage);
}

/* ---- permissions --------------------------------------------------------------------------------- */

int al_store_check_perms(const char *dir, void (*report)(const char *msg, void *ctx), void *ctx)
{
	static const struct {
		const char *name; /* NULL: the directory itself */
		unsigned mode;
		const char *what;
	} files[] = {
		{NULL, 0700, "the data directory"},
		{AL_MASTER_KEY_FILE, 0600, "the master key"},
		{"admin-password", 0600, "the admin password"},
	};
	int n = 0;
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		char path[4200], msg[8800];
		struct stat st;
		snprintf(path, sizeof path, "%s%s%s", dir, files[i].name ? "/" : "", files[i].name ? files[i].name : "");
		if (stat(path, &st) != 0 || (st.st_mode & 077) == 0)
			continue;
		snprintf(msg, sizeof msg, "%s (%s) has mode %04o: group or others may access it; run chmod %o %s", path,
			 files[i].what, (unsigned)(st.st_mode & 07777), files[i].mode, path);
		if (report)
			report(msg, ctx);
		n++;
	}
	return n;
}
