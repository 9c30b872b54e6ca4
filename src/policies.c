/*
 * policies.c - the resource policy nouns (keypair, user and project resource policies). STUB: the projection and the functions nouns.h promises, to be filled in.
 */
#include "nouns.h"

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	(void)v, (void)e, (void)err;
	return AL_OK;
}

const al_projection al__proj_policies = {"policies", 1, {"v_policies", NULL}, apply};


int al__policy_require(al_cmd *c, enum al_policy_kind k, const char *field, al_str name)
{
	(void)c, (void)k, (void)field, (void)name;
	return AL_OK;
}
int al__policy_emit_defaults(al_cmd *c) { (void)c; return AL_OK; }
