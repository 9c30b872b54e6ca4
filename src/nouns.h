/*
 * nouns.h - what one admin noun module offers the others (the command handlers themselves
 * are declared by cmd.h from schemas/commands.def).
 */
#ifndef AL_NOUNS_H
#define AL_NOUNS_H

#include "cmd.h"

/* settings (bootstrap.c) */
/* Reads a setting into buf as a NUL-terminated string; def when unset. */
void al__setting_get(al_store *s, MDB_txn *txn, const char *key, char *buf, size_t n, const char *def);

/* domains (domains.c) */
bool al__domain_exists(al_cmd *c, al_str name);
int al__domain_emit_created(al_cmd *c, al_str name, al_str description);

/* users (users.c) */
typedef struct al_user_new {
	al_str id, email, username, password_hash, full_name, description, domain, role, status;
	bool need_password_change;
} al_user_new;
/* Validates u against the rules and the views (uniqueness, domain), then records it. */
int al__user_emit_created(al_cmd *c, const al_user_new *u);
/* Packs the public view of a user (never its hash) onto c->out. */
int al__user_pack_public(al_cmd *c, al_str email);

#endif
