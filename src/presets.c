/*
 * presets.c - resource presets and the check of which fit a resource group now. STUB: the projection and the functions nouns.h promises, to be filled in.
 */
#include "nouns.h"

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	(void)v, (void)e, (void)err;
	return AL_OK;
}

const al_projection al__proj_presets = {"presets", 1, {"v_presets", NULL}, apply};
