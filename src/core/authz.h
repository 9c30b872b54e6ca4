/*
 * authz.h - who may do what, from the actor (the guide's rules, one place).
 *
 * The command table gives each command its least role (checked before the handler runs); the
 * handler then narrows it to the entity with these checks, before its first emit:
 *   superadmin   everything
 *   admin        reads and manages its own domain's users, keypairs and projects
 *   monitor      reads what an admin of its domain may read; never writes
 *   user         reads and changes only itself and what it owns
 * Each returns AL_OK or AL_EPERMISSION_DENIED with a message naming the op.
 */
#ifndef AL_AUTHZ_H
#define AL_AUTHZ_H

#include "core/cmd.h"

/*
 * What authorizing needs from the users and keypairs views, which the core does not know: a
 * descriptor the nouns define (nouns/auth.c), read here as the projection descriptors are.
 * The command and projection tables and this are the core's only links down, by design
 * (tests/test_layers_calls.sh).
 */
typedef struct al_actor_source {
	/* al_actor_refresh in the caller's transaction txn (read or write). When rate_limit is
	 * not NULL it gets the keypair's rate_limit (0 without a keypair). */
	int (*refresh)(al_store *s, MDB_txn *txn, const al_actor *in, al_actor *out, char *buf, size_t n,
		       int64_t *rate_limit, al_error *err);
} al_actor_source;
extern const al_actor_source al__actor_source;

bool al__is_superadmin(const al_cmd *c);
/* The actor has the rights of the user with this email. */
bool al__is_self(const al_cmd *c, al_str email);
/* The actor is an admin or monitor of domain d (or a superadmin). */
bool al__sees_domain(const al_cmd *c, al_str d);

/* Reading something that belongs to domain d. */
int al__authz_read_domain(al_cmd *c, al_str d);
/* Creating or changing something in domain d: a superadmin, or an admin of d. */
int al__authz_manage_domain(al_cmd *c, al_str d);
/* Reading a user or what it owns: the user itself, or al__authz_read_domain of its domain. */
int al__authz_read_user(al_cmd *c, al_str email, al_str domain);
/* Changing a user's own settings (name, password, own 2FA): the user itself or a superadmin. */
int al__authz_self_or_superadmin(al_cmd *c, al_str email);
/* Refuses with the common message. */
int al__authz_deny(al_cmd *c);

#endif
