/*
 * storage.c - storage hosts (volumes) and quotas per user and project. STUB: the projection and the functions nouns.h promises, to be filled in.
 */
#include "nouns.h"

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	(void)v, (void)e, (void)err;
	return AL_OK;
}

const al_projection al__proj_storage = {"storage", 1, {"v_storage", NULL}, apply};

int al__storage_host(al_store *s, MDB_txn *txn, al_str name, bool *quota_supported, al_error *err)
{
	(void)s, (void)txn, (void)name, (void)quota_supported, (void)err;
	return 0;
}
