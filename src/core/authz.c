/* authz.c - the per-entity permission checks of authz.h. */
#include <string.h>

#include "core/authz.h"

static bool eq(const char *a, al_str b) { return a && strlen(a) == b.n && memcmp(a, b.p, b.n) == 0; }

bool al__is_superadmin(const al_cmd *c) { return c->actor->role == AL_ROLE_SUPERADMIN; }

bool al__is_self(const al_cmd *c, al_str email) { return email.n && eq(c->actor->user, email); }

bool al__sees_domain(const al_cmd *c, al_str d)
{
	if (al__is_superadmin(c))
		return true;
	return (c->actor->role == AL_ROLE_ADMIN || c->actor->role == AL_ROLE_MONITOR) && eq(c->actor->domain, d);
}

int al__authz_deny(al_cmd *c)
{
	return al_err(c->err, AL_EPERMISSION_DENIED, "%s: not allowed for %s", c->def->op,
		      c->actor->user ? c->actor->user : c->actor->name);
}

int al__authz_read_domain(al_cmd *c, al_str d) { return al__sees_domain(c, d) ? AL_OK : al__authz_deny(c); }

int al__authz_manage_domain(al_cmd *c, al_str d)
{
	if (al__is_superadmin(c) || (c->actor->role == AL_ROLE_ADMIN && eq(c->actor->domain, d)))
		return AL_OK;
	return al__authz_deny(c);
}

int al__authz_read_user(al_cmd *c, al_str email, al_str domain)
{
	return al__is_self(c, email) || al__sees_domain(c, domain) ? AL_OK : al__authz_deny(c);
}

int al__authz_self_or_superadmin(al_cmd *c, al_str email)
{
	return al__is_superadmin(c) || al__is_self(c, email) ? AL_OK : al__authz_deny(c);
}

static const char *const role_names[] = {"none", "monitor", "user", "admin", "superadmin"};

const char *al_role_name(int role)
{
	return role >= 0 && role <= AL_ROLE_SUPERADMIN ? role_names[role] : "none";
}

int al_role_parse(const char *name, size_t n)
{
	for (int r = AL_ROLE_MONITOR; r <= AL_ROLE_SUPERADMIN; r++)
		if (strlen(role_names[r]) == n && memcmp(role_names[r], name, n) == 0)
			return r;
	return AL_ROLE_NONE;
}
