/*
 * auth.h - internals of login and keypair authentication (the API is in adminlog.h), shared
 * with the tests: the client address rule and the instrumentation that proves every failed
 * login does the same work.
 */
#ifndef AL_AUTH_H
#define AL_AUTH_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "adminlog.h"

/*
 * True when client (an IPv4 or IPv6 address as text) is inside one of the entries of list:
 * comma-separated addresses or CIDR blocks ("10.0.0.0/8, 2001:db8::/32, 192.0.2.7").
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) count as their IPv4 address. Malformed entries
 * match nothing; a malformed or NULL client matches nothing.
 */
bool al__ip_allowed(al_str list, const char *client);

/* How many argon2id verifications al_login has run (all threads): each call runs exactly one,
 * whatever the outcome. For tests. */
uint64_t al__auth_pwhash_verifies(void);

/* The fixed hash an unknown email's password is checked against, made once per cost (a
 * name of al__pwhash_costs) with a random password; NULL when hashing failed. */
const char *al__auth_dummy_hash(const char *cost);

#endif
