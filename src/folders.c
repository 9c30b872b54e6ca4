/*
 * folders.c - storage folders (vfolders) of users and projects. STUB: the projection and the functions nouns.h promises, to be filled in.
 */
#include "nouns.h"

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	(void)v, (void)e, (void)err;
	return AL_OK;
}

const al_projection al__proj_folders = {"folders", 1, {"v_folders", NULL}, apply};
