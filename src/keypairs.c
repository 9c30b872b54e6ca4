/*
 * keypairs.c - the keypair noun: access keys, sealed secret keys, activation, deletion. STUB: the projection and the functions nouns.h promises, to be filled in.
 */
#include "nouns.h"

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	(void)v, (void)e, (void)err;
	return AL_OK;
}

const al_projection al__proj_keypairs = {"keypairs", 1, {"v_keypairs", NULL}, apply};

static int todo(al_error *err, const char *what) { return al_err(err, AL_EUNSUPPORTED, "%s: not built yet", what); }

int al__keypair_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err)
{
	(void)s, (void)args, (void)out, (void)err;
	return AL_OK;
}
int al__keypair_emit_created(al_cmd *c, const al_keypair_new *k) { (void)k; return todo(c->err, "keypair"); }
int al__keypairs_deactivate_user(al_cmd *c, al_str email) { (void)c, (void)email; return AL_OK; }
int al__keypairs_sync_admin(al_cmd *c, al_str email, bool is_admin) { (void)c, (void)email, (void)is_admin; return AL_OK; }
int al__keypairs_count_policy(al_cmd *c, al_str name, uint64_t *n) { (void)c, (void)name; *n = 0; return AL_OK; }
int al__keypair_info(al_store *s, MDB_txn *txn, al_str access_key, al_keypair_info *out, msgpack_zone *z,
		     al_error *err)
{
	(void)s, (void)txn, (void)access_key, (void)out, (void)z, (void)err;
	return 0;
}
int al__keypair_of_user(al_store *s, MDB_txn *txn, al_str email, al_keypair_info *out, msgpack_zone *z,
			al_error *err)
{
	(void)s, (void)txn, (void)email, (void)out, (void)z, (void)err;
	return 0;
}
