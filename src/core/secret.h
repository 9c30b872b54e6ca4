/*
 * secret.h - password hashing (argon2id via libsodium), random ids and generated passwords.
 * Everything random or slow is decided here, before a transaction, and recorded in events.
 */
#ifndef AL_SECRET_H
#define AL_SECRET_H

#include "util/codec.h"

#define AL_PWHASH_LEN 128 /* crypto_pwhash_STRBYTES */

/* The cost names a data directory may choose. */
extern const char *const al__pwhash_costs[];

/* Hashes password with argon2id at the named cost into out (NUL-terminated encoded string,
 * which carries its own parameters so older hashes keep verifying). */
int al__pwhash(const char *cost, al_str password, char out[AL_PWHASH_LEN], al_error *err);
/* 1 when password matches hash, 0 when not. */
int al__pwhash_verify(const char *hash, al_str password);
/* A random version-4 UUID, 36 characters plus NUL. */
void al__uuid4(char out[37]);
/* A time-ordered UUID (RFC 9562 version 7: the milliseconds of us, then random bits): ids of
 * things created in great numbers (sessions), so that views keyed by them grow at one end
 * instead of dirtying a random B-tree page per insert. */
void al__uuid7(char out[37], int64_t us);
/* A random password of n-1 characters that satisfies the password rule. */
void al__random_password(char *out, size_t n);

#endif
