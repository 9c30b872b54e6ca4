/*
 * agents.c - agents: what the cluster reports (heartbeats, status) and what admins set (schedulable). STUB: the projection and the functions nouns.h promises, to be filled in.
 */
#include "nouns.h"

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	(void)v, (void)e, (void)err;
	return AL_OK;
}

const al_projection al__proj_agents = {"agents", 1, {"v_agents", NULL}, apply};

int al__agents_count_group(al_cmd *c, al_str group, uint64_t *n)
{
	(void)c, (void)group;
	*n = 0;
	return AL_OK;
}
int al__agents_each(al_store *s, MDB_txn *txn, al_str group, al_row_fn fn, void *ctx, al_error *err)
{
	(void)s, (void)txn, (void)group, (void)fn, (void)ctx, (void)err;
	return AL_OK;
}
