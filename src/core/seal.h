/*
 * seal.h - secrets at rest: keypair secret keys, TOTP keys and registry passwords are sealed
 * with the data directory's master key before they enter an event (or the request-id table).
 *
 * The master key is 32 random bytes in DIR/master.key (mode 0600), created with a new store
 * and never again: a read-write open of a store without it is refused. It never enters
 * LMDB, so a copy of the log alone reveals no secret. A
 * sealed value is the text "sealed:1:" + base64url(nonce(24) || crypto_secretbox(plain)),
 * XSalsa20-Poly1305 from libsodium, with a random nonce per value.
 */
#ifndef AL_SEAL_H
#define AL_SEAL_H

#include "core/store.h"

#define AL_SEAL_PREFIX "sealed:1:"
/* Room for the sealed text of n plaintext bytes, with its NUL. */
#define AL_SEALED_LEN(n) (sizeof AL_SEAL_PREFIX + ((24 + 16 + (n)) * 4 + 2) / 3 + 1)
#define AL_MASTER_KEY_FILE "master.key"

/* Loads DIR/master.key, creating it when fresh (a new store). Missing on an existing store:
 * AL_ECORRUPT, or AL_OK without a key for a read-only open. */
int al__master_key_load(al_store *s, bool fresh, al_error *err);
/* True when DIR/master.key does not exist. */
bool al__master_key_missing(const char *dir);
/* Seals n bytes of plain into out (at least AL_SEALED_LEN(n) bytes, NUL-terminated). */
int al__seal(const al_store *s, const void *plain, size_t n, char *out, size_t cap, al_error *err);
/* Opens a sealed text into out (cap bytes); *outn is the plaintext length. AL_ECORRUPT when it
 * was not sealed with this directory's key or was altered. */
int al__unseal(const al_store *s, al_str sealed, unsigned char *out, size_t cap, size_t *outn, al_error *err);

#endif
