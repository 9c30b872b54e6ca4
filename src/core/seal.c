/* seal.c - the master key file and crypto_secretbox sealing (see seal.h). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/seal.h"

#define NONCE crypto_secretbox_NONCEBYTES
#define MAC crypto_secretbox_MACBYTES

static int read_all(int fd, unsigned char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int create_key(al_store *s, const char *path, al_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? 1 : al_err(err, AL_EIO_ERROR, "create %s: %s", path, strerror(errno));
	randombytes_buf(s->master_key, sizeof s->master_key);
	ssize_t w = write(fd, s->master_key, sizeof s->master_key);
	int ok = w == (ssize_t)sizeof s->master_key && fsync(fd) == 0;
	close(fd);
	if (!ok) {
		unlink(path);
		return al_err(err, AL_EIO_ERROR, "write %s: %s", path, strerror(errno));
	}
	s->has_master_key = true;
	return AL_OK;
}

int al__master_key_load(al_store *s, bool fresh, al_error *err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", s->dir, AL_MASTER_KEY_FILE);
	if (sodium_init() < 0)
		return al_err(err, AL_EINTERNAL, "libsodium failed to initialise");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && fresh) {
		int rc = create_key(s, path, err);
		if (rc <= 0)
			return rc;
		fd = open(path, O_RDONLY | O_CLOEXEC); /* another process created it first */
	}
	/* An existing store never gets a new key: every secret sealed under the old one would
	 * silently stop opening. Read-only opens go on without secrets (al_store_has_secrets). */
	if (fd < 0 && errno == ENOENT && (s->flags & AL_OPEN_RDONLY))
		return AL_OK;
	if (fd < 0 && errno == ENOENT)
		return al_err(err, AL_ECORRUPT, "%s is missing: restore it from a backup (sealed secret keys, TOTP keys "
			      "and registry passwords open only with it; no new key is made for an existing store)", path);
	if (fd < 0)
		return al_err(err, AL_EIO_ERROR, "open %s: %s", path, strerror(errno));
	int bad = read_all(fd, s->master_key, sizeof s->master_key);
	close(fd);
	if (bad)
		return al_err(err, AL_ECORRUPT, "%s is not a 32-byte master key", path);
	s->has_master_key = true;
	return AL_OK;
}

bool al__master_key_missing(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, AL_MASTER_KEY_FILE);
	return access(path, F_OK) != 0 && errno == ENOENT;
}

int al__seal(const al_store *s, const void *plain, size_t n, char *out, size_t cap, al_error *err)
{
	if (!s->has_master_key)
		return al_err(err, AL_EUNSUPPORTED, "no master key in %s: cannot seal a secret", s->dir);
	if (cap < AL_SEALED_LEN(n))
		return al_err(err, AL_EINTERNAL, "sealed buffer too small");
	unsigned char *box = al_malloc(NONCE + MAC + n);
	if (box == NULL)
		return al_err(err, AL_ENO_MEMORY, "out of memory");
	randombytes_buf(box, NONCE);
	crypto_secretbox_easy(box + NONCE, plain, n, box, s->master_key);
	size_t p = strlen(AL_SEAL_PREFIX);
	memcpy(out, AL_SEAL_PREFIX, p);
	sodium_bin2base64(out + p, cap - p, box, NONCE + MAC + n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	al_free(box);
	return AL_OK;
}

int al__unseal(const al_store *s, al_str sealed, unsigned char *out, size_t cap, size_t *outn, al_error *err)
{
	size_t p = strlen(AL_SEAL_PREFIX), n = 0;
	if (!s->has_master_key)
		return al_err(err, AL_EUNSUPPORTED, "no master key in %s: cannot open a secret", s->dir);
	size_t room = sealed.n / 4 * 3 + 3;
	unsigned char *box = al_malloc(room);
	if (box == NULL)
		return al_err(err, AL_ENO_MEMORY, "out of memory");
	int bad = sealed.n < p || memcmp(sealed.p, AL_SEAL_PREFIX, p) != 0 ||
		  sodium_base642bin(box, room, sealed.p + p, sealed.n - p, NULL, &n, NULL,
				    sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
		  n < NONCE + MAC || n - NONCE - MAC > cap ||
		  crypto_secretbox_open_easy(out, box + NONCE, n - NONCE, box, s->master_key) != 0;
	al_free(box);
	if (bad)
		return al_err(err, AL_ECORRUPT, "a sealed secret does not open with this directory's master key");
	*outn = n - NONCE - MAC;
	return AL_OK;
}
