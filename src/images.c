/*
 * images.c - images: scanned from registries (libcurl), their labels, minimum resources and aliases. STUB: the projection and the functions nouns.h promises, to be filled in.
 */
#include "nouns.h"

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	(void)v, (void)e, (void)err;
	return AL_OK;
}

const al_projection al__proj_images = {"images", 1, {"v_images", NULL}, apply};
