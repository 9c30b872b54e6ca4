/*
 * registries.c - container registries (sealed passwords) that images are scanned from. STUB: the projection and the functions nouns.h promises, to be filled in.
 */
#include "nouns.h"

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	(void)v, (void)e, (void)err;
	return AL_OK;
}

const al_projection al__proj_registries = {"registries", 1, {"v_registries", NULL}, apply};

int al__registry_require(al_cmd *c, const char *field, al_str hostname)
{
	(void)field, (void)hostname;
	return al_err(c->err, AL_EUNSUPPORTED, "registries: not built yet");
}
