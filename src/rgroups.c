/*
 * rgroups.c - resource groups (scaling groups) and their associations with domains, projects and keypairs. STUB: the projection and the functions nouns.h promises, to be filled in.
 */
#include "nouns.h"

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	(void)v, (void)e, (void)err;
	return AL_OK;
}

const al_projection al__proj_rgroups = {"rgroups", 1, {"v_rgroups", NULL}, apply};

int al__rgroup_require(al_cmd *c, const char *field, al_str name)
{
	(void)field, (void)name;
	return al_err(c->err, AL_EUNSUPPORTED, "resource groups: not built yet");
}
int al__rgroup_emit_default(al_cmd *c) { (void)c; return AL_OK; }
