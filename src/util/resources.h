/*
 * resources.h - the value types several nouns share: resource slots ("cpu=8,mem=32g,
 * cuda.device=2") and storage host permissions ("local:volume1:mount-in-session,...").
 *
 * Slots are a msgpack map slot name -> number (mem and every slot whose name contains "mem"
 * in bytes, as integers; counts as integers, or doubles when fractional, e.g. cuda.shares),
 * keys sorted so that equal inputs give equal bytes. Host permissions are a map
 * "proxy:volume" -> array of permission names, in the platform's order.
 */
#ifndef AL_RESOURCES_H
#define AL_RESOURCES_H

#include "util/codec.h"

#define AL_SLOTS_MAX 32
#define AL_HOSTS_MAX 64

/* The platform's storage host permissions (VFolderHostPermission), NULL-terminated. */
extern const char *const al__host_perms[];

/* "1g" = 2^30 (k m g t p e, either case, optional "b"/"ib"/"iB"), plain digits = bytes.
 * -1 when malformed or beyond 2^62. */
int64_t al__parse_bytes(const char *s, size_t n);

/* Parses "name=amount,..." into a map packed on pk (the empty text gives an empty map).
 * Names: [a-z0-9._-]+, each once; amounts >= 0. invalid_argument naming field otherwise. */
int al__slots_pack(al_error *err, const char *field, al_str text, msgpack_packer *pk);
/* Parses "proxy:volume:perm,..." (the last ':' splits off the permission; perm "all" means
 * every permission) into a map packed on pk. */
int al__hostperms_pack(al_error *err, const char *field, al_str text, msgpack_packer *pk);

#endif
