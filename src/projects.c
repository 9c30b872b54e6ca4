/*
 * projects.c - the project noun (groups in the platform model) and project membership. STUB: the projection and the functions nouns.h promises, to be filled in.
 */
#include "nouns.h"

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	(void)v, (void)e, (void)err;
	return AL_OK;
}

const al_projection al__proj_projects = {"projects", 1, {"v_projects", NULL}, apply};

static int todo(al_error *err, const char *what) { return al_err(err, AL_EUNSUPPORTED, "%s: not built yet", what); }

int al__project_require(al_cmd *c, const char *field, al_str domain, al_str name, al_str *id)
{
	(void)field, (void)domain, (void)name, (void)id;
	return todo(c->err, "project");
}
int al__project_emit_member(al_cmd *c, al_str project_id, al_str email, bool add)
{
	(void)project_id, (void)email, (void)add;
	return todo(c->err, "project");
}
int al__projects_leave_all(al_cmd *c, al_str email) { (void)c, (void)email; return AL_OK; }
int al__projects_count_policy(al_cmd *c, al_str name, uint64_t *n) { (void)c, (void)name; *n = 0; return AL_OK; }
int al__user_projects_pack(al_cmd *c, al_str email, msgpack_packer *pk)
{
	(void)c, (void)email;
	return msgpack_pack_array(pk, 0);
}
int al__user_projects_join(al_cmd *c, al_str email, char *buf, size_t n)
{
	(void)c, (void)email;
	if (n)
		buf[0] = 0;
	return AL_OK;
}
int al__project_emit_default(al_cmd *c, al_str member_email) { (void)c, (void)member_email; return AL_OK; }
