/*
 * test_folders.c - storage folders: name rules, permissions, the host allowed by the domain,
 * the project or the keypair resource policy (a superadmin any registered host), folder counts,
 * project folders only by admins, visibility for owners, project members and admins, get and
 * delete, and rebuild / as-of equality after them.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define PW "Passw0rd!"
#define H "local:volume1" /* domain alpha grants create-vfolder */
#define NFS "nfs:home"    /* alpha grants only mount-in-session; keypair policy kp-nfs grants create */
#define FAST "fast:v"     /* project pa grants create-vfolder */

/* ---- fixture ------------------------------------------------------------------------------------- */

typedef struct fx {
	TH_FX_HEAD;
	th_actor root_b, adm_a, adm_b, mon_a, usr_a, usr_a2, usr_b;
} fx;

/* Gives the user's main keypair the keypair resource policy. */
static int set_keypair_policy(al_store *s, const char *email, const char *policy)
{
	al_reply rep;
	char ak[32];
	if (th_exec(s, &rep, "user.get", "email", 's', email, NULL) != AL_OK)
		return -1;
	snprintf(ak, sizeof ak, "%s", th_res_str(&rep, "main_access_key"));
	al_reply_free(&rep);
	return th_run(s, "keypair.update", "access_key", 's', ak, "policy", 's', policy, NULL);
}

static int setup(void **state)
{
	fx *f = th_fx_new(sizeof *f);
	if (f == NULL)
		return -1;
	al_store *s = f->s;
	if (th_run(s, "storage.create", "name", 's', H, "backend", 's', "xfs", "mount", 's', "/vfroot/local", NULL) ||
	    th_run(s, "storage.create", "name", 's', NFS, "backend", 's', "vfs", "mount", 's', "/mnt/home", NULL) ||
	    th_run(s, "storage.create", "name", 's', FAST, "backend", 's', "weka", "mount", 's', "/mnt/fast", NULL) ||
	    th_run(s, "domain.create", "name", 's', "alpha", "allowed_hosts", 's',
		   H ":create-vfolder," H ":mount-in-session," NFS ":mount-in-session", NULL) ||
	    th_run(s, "domain.create", "name", 's', "beta", "allowed_hosts", 's', H ":all", NULL) ||
	    th_run(s, "policy.create", "name", 's', "kp-nfs", "allowed_hosts", 's', NFS ":create-vfolder", "max_folders",
		   'i', 2LL, NULL) ||
	    th_run(s, "user-policy.create", "name", 's', "one", "max_folder_count", 'i', 1LL, NULL) ||
	    th_run(s, "project-policy.create", "name", 's', "p1", "max_folder_count", 'i', 1LL, NULL) ||
	    th_cast(s, (const th_member[]){{"root-b@x.io", "beta", "superadmin", &f->root_b, NULL}, TH_AB_CAST(f, NULL),
					   {NULL}}) ||
	    set_keypair_policy(s, "usr-a2@x.io", "kp-nfs") ||
	    th_run(s, "project.create", "name", 's', "pa", "domain", 's', "alpha", "allowed_hosts", 's',
		   FAST ":create-vfolder", NULL) ||
	    th_run(s, "project.create", "name", 's', "pb", "domain", 's', "beta", "policy", 's', "p1", NULL) ||
	    th_run(s, "project.add-member", "name", 's', "pa", "domain", 's', "alpha", "users", 'l', "usr-a@x.io", NULL))
		return -1;
	*state = f;
	return 0;
}

#define teardown th_teardown /* th_fx_free */

/* Member key of element i of a result array (i < 0: of the result map), as text: strings
 * unquoted, other values as JSON; "" when absent. */
static const char *res_at(const al_reply *rep, long i, const char *key)
{
	static char buf[1024];
	msgpack_zone z;
	msgpack_object o;
	size_t off = 0;
	buf[0] = 0;
	msgpack_zone_init(&z, 1024);
	if (rep->result && msgpack_unpack(rep->result, rep->result_len, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS) {
		const msgpack_object *m = &o;
		if (i >= 0)
			m = o.type == MSGPACK_OBJECT_ARRAY && (uint32_t)i < o.via.array.size ? &o.via.array.ptr[i] : NULL;
		for (uint32_t k = 0; m && m->type == MSGPACK_OBJECT_MAP && k < m->via.map.size; k++) {
			const msgpack_object *ko = &m->via.map.ptr[k].key, *v = &m->via.map.ptr[k].val;
			if (ko->via.str.size != strlen(key) || memcmp(ko->via.str.ptr, key, strlen(key)) != 0)
				continue;
			if (v->type == MSGPACK_OBJECT_STR)
				snprintf(buf, sizeof buf, "%.*s", (int)v->via.str.size, v->via.str.ptr);
			else {
				FILE *f = fmemopen(buf, sizeof buf, "w");
				al_render_json(v, f);
				fclose(f);
			}
		}
	}
	msgpack_zone_destroy(&z);
	return buf;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* folder.list as who: "name/permission/owner" of each folder, sorted, joined by ','. */
static const char *listing(al_store *s, const th_actor *who)
{
	static char out[2048];
	char items[32][160], *sorted[32];
	al_reply rep;
	TH_OK(s, who, 0, &rep, "folder.list", NULL);
	long n = th_res_len(&rep);
	assert_true(n >= 0 && n <= 32);
	for (long i = 0; i < n; i++) {
		char name[64], perm[8], owner[80];
		snprintf(name, sizeof name, "%s", res_at(&rep, i, "name"));
		snprintf(perm, sizeof perm, "%s", res_at(&rep, i, "permission"));
		snprintf(owner, sizeof owner, "%s", res_at(&rep, i, "project"));
		if (!owner[0])
			snprintf(owner, sizeof owner, "%s", res_at(&rep, i, "user"));
		snprintf(items[i], sizeof items[i], "%s/%s/%s", name, perm, owner);
		sorted[i] = items[i];
	}
	al_reply_free(&rep);
	qsort(sorted, (size_t)n, sizeof *sorted, cmp_cstr);
	out[0] = 0;
	for (long i = 0; i < n; i++)
		snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", i ? "," : "", sorted[i]);
	return out;
}

/* ---- names and permissions ---------------------------------------------------------------------- */

static void name_rules(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	char n65[80], n64[80];
	memset(n65, 'n', 65), n65[65] = 0;
	memset(n64, 'n', 64), n64[64] = 0;
	const char *const bad[] = {"", "a b", "a/b", "/etc", "caf\xc3\xa9", "tab\t", ".", "..", ".ssh",
					  ".jupyter", ".terminfo", ".tmux.conf", ".bashrc", ".zshrc", ".bash_profile",
					  ".x1rc", n65};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		TH_REFUSE(s, &f->usr_a, AL_EINVALID_ARGUMENT, "name", "folder.create", "name", 's', bad[i], "host", 's', H,
		       NULL);
	const char *const good[] = {"data", "Data-1.v_2", ".hidden", ".bashrc2", ".Bashrc", ".rc", "rc",
					   ".my_profile_x", n64};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		TH_OK(s, &f->usr_a, 1, NULL, "folder.create", "name", 's', good[i], "host", 's', H, NULL);
	/* Unique per owner: the same name again is refused for the owner, fine for another. */
	TH_REFUSE(s, &f->usr_a, AL_EALREADY_EXISTS, "name", "folder.create", "name", 's', "data", "host", 's', H, NULL);
	TH_OK(s, &f->usr_a2, 1, NULL, "folder.create", "name", 's', "data", "host", 's', H, NULL);
	TH_OK(s, &f->adm_a, 1, NULL, "folder.create", "name", 's', "data", "host", 's', H, "project", 's', "pa", NULL);
	TH_REFUSE(s, &f->adm_a, AL_EALREADY_EXISTS, "name", "folder.create", "name", 's', "data", "host", 's', FAST,
	       "project", 's', "pa", NULL);
	/* A project folder's name may not start with '.', but .local. */
	TH_REFUSE(s, &f->adm_a, AL_EINVALID_ARGUMENT, "name", "folder.create", "name", 's', ".hidden", "host", 's', H,
	       "project", 's', "pa", NULL);
	TH_OK(s, &f->adm_a, 1, NULL, "folder.create", "name", 's', ".local", "host", 's', H, "project", 's', "pa", NULL);
	/* Permissions. */
	al_reply rep;
	TH_OK(s, &f->usr_b, 1, &rep, "folder.create", "name", 's', "d1", "host", 's', H, NULL);
	assert_string_equal(res_at(&rep, -1, "permission"), "rw"); /* the default */
	assert_string_equal(res_at(&rep, -1, "ownership_type"), "user");
	assert_string_equal(res_at(&rep, -1, "user"), "usr-b@x.io");
	assert_string_equal(res_at(&rep, -1, "domain"), "beta");
	assert_string_equal(res_at(&rep, -1, "creator"), "usr-b@x.io");
	assert_string_equal(res_at(&rep, -1, "status"), "ready");
	assert_int_equal(strlen(res_at(&rep, -1, "id")), 36);
	assert_memory_equal(res_at(&rep, -1, "quota_scope_id"), "user:", 5);
	al_reply_free(&rep);
	TH_OK(s, &f->usr_b, 1, &rep, "folder.create", "name", 's', "d2", "host", 's', H, "permission", 's', "ro", NULL);
	assert_string_equal(res_at(&rep, -1, "permission"), "ro");
	al_reply_free(&rep);
	TH_OK(s, &f->usr_b, 1, NULL, "folder.create", "name", 's', "d3", "host", 's', H, "permission", 's', "wd", NULL);
	static const char *const bad_perms[] = {"", "rx", "RW", "read-only", "all"};
	for (size_t i = 0; i < sizeof bad_perms / sizeof *bad_perms; i++)
		TH_REFUSE(s, &f->usr_b, AL_EINVALID_ARGUMENT, "permission", "folder.create", "name", 's', "d4", "host", 's', H,
		       "permission", 's', bad_perms[i], NULL);
	TH_REFUSE(s, &f->usr_b, AL_EINVALID_ARGUMENT, "domain", "folder.create", "name", 's', "d4", "host", 's', H, "domain",
	       's', "beta", NULL);
}

/* ---- hosts ------------------------------------------------------------------------------------------ */

static void host_allowed(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	TH_REFUSE(s, &f->usr_a, AL_EINVALID_ARGUMENT, "host", "folder.create", "name", 's', "x", "host", 's', "no:such", NULL);
	char long_host[700];
	memset(long_host, 'h', sizeof long_host - 1), long_host[sizeof long_host - 1] = 0;
	TH_REFUSE(s, &f->usr_a, AL_EINVALID_ARGUMENT, "host", "folder.create", "name", 's', "x", "host", 's', long_host, NULL);
	TH_REFUSE(s, NULL, AL_EINVALID_ARGUMENT, "host", "folder.create", "name", 's', "x", "host", 's', "no:such", "project",
	       's', "pa", "domain", 's', "alpha", NULL);
	/* The domain's map: create-vfolder on H, only mount-in-session on NFS, nothing on FAST. */
	TH_OK(s, &f->usr_a, 1, NULL, "folder.create", "name", 's', "on-h", "host", 's', H, NULL);
	TH_REFUSE(s, &f->usr_a, AL_EPERMISSION_DENIED, "host", "folder.create", "name", 's', "on-nfs", "host", 's', NFS, NULL);
	TH_REFUSE(s, &f->usr_a, AL_EPERMISSION_DENIED, "host", "folder.create", "name", 's', "on-fast", "host", 's', FAST,
	       NULL);
	/* The keypair resource policy's map adds NFS for usr-a2. */
	TH_OK(s, &f->usr_a2, 1, NULL, "folder.create", "name", 's', "on-nfs", "host", 's', NFS, NULL);
	/* The project's map adds FAST for pa's folders, not for the creator's own. */
	TH_OK(s, &f->adm_a, 1, NULL, "folder.create", "name", 's', "p-fast", "host", 's', FAST, "project", 's', "pa", NULL);
	TH_REFUSE(s, &f->adm_a, AL_EPERMISSION_DENIED, "host", "folder.create", "name", 's', "own-fast", "host", 's', FAST,
	       NULL);
	/* A superadmin uses any registered host, for its own folders and for projects. */
	TH_OK(s, &f->root_b, 1, NULL, "folder.create", "name", 's', "r-fast", "host", 's', FAST, NULL);
	TH_OK(s, NULL, 1, NULL, "folder.create", "name", 's', "p-nfs", "host", 's', NFS, "project", 's', "pb", "domain", 's',
	   "beta", NULL);
	/* An inactive domain's map grants nothing. */
	TH_OK(s, NULL, 1, NULL, "domain.deactivate", "name", 's', "alpha", NULL);
	TH_REFUSE(s, &f->usr_a, AL_EPERMISSION_DENIED, "host", "folder.create", "name", 's', "on-h2", "host", 's', H, NULL);
	TH_OK(s, NULL, 1, NULL, "domain.activate", "name", 's', "alpha", NULL);
	TH_OK(s, &f->usr_a, 1, NULL, "folder.create", "name", 's', "on-h2", "host", 's', H, NULL);
	/* Changing the domain's map changes what may be created (existing folders stay). */
	TH_OK(s, NULL, 1, NULL, "domain.update", "name", 's', "alpha", "allowed_hosts", 's', NFS ":create-vfolder", NULL);
	TH_REFUSE(s, &f->usr_a, AL_EPERMISSION_DENIED, "host", "folder.create", "name", 's', "on-h3", "host", 's', H, NULL);
	TH_OK(s, &f->usr_a, 1, NULL, "folder.create", "name", 's', "on-nfs", "host", 's', NFS, NULL);
	assert_non_null(strstr(listing(s, &f->usr_a), "on-h/rw/usr-a@x.io"));
}

/* ---- counts ----------------------------------------------------------------------------------------- */

static void folder_counts(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	/* usr-a2's keypair policy allows 2 folders. */
	TH_OK(s, &f->usr_a2, 1, NULL, "folder.create", "name", 's', "f1", "host", 's', H, NULL);
	TH_OK(s, &f->usr_a2, 1, NULL, "folder.create", "name", 's', "f2", "host", 's', NFS, NULL);
	TH_REFUSE(s, &f->usr_a2, AL_ELIMIT_EXCEEDED, "max_folders", "folder.create", "name", 's', "f3", "host", 's', H, NULL);
	/* Project folders do not count against the creator. */
	TH_OK(s, &f->adm_a, 1, NULL, "project.add-member", "name", 's', "pa", "users", 'l', "usr-a2@x.io", NULL);
	TH_OK(s, &f->adm_a, 1, NULL, "folder.create", "name", 's', "shared", "host", 's', H, "project", 's', "pa", NULL);
	TH_REFUSE(s, &f->usr_a2, AL_ELIMIT_EXCEEDED, "max_folders", "folder.create", "name", 's', "f3", "host", 's', H, NULL);
	/* A deleted folder frees its place. */
	TH_OK(s, &f->usr_a2, 1, NULL, "folder.delete", "name", 's', "f1", NULL);
	TH_OK(s, &f->usr_a2, 1, NULL, "folder.create", "name", 's', "f3", "host", 's', H, NULL);
	/* Unlimited: a policy change lifts it. */
	TH_OK(s, NULL, 1, NULL, "policy.update", "name", 's', "kp-nfs", "max_folders", 's', "unlimited", NULL);
	TH_OK(s, &f->usr_a2, 1, NULL, "folder.create", "name", 's', "f4", "host", 's', H, NULL);
	/* The user resource policy's max_folder_count counts too. */
	TH_OK(s, NULL, 1, NULL, "user.update", "email", 's', "usr-a@x.io", "resource_policy", 's', "one", NULL);
	TH_OK(s, &f->usr_a, 1, NULL, "folder.create", "name", 's', "only", "host", 's', H, NULL);
	TH_REFUSE(s, &f->usr_a, AL_ELIMIT_EXCEEDED, "max_folder_count", "folder.create", "name", 's', "second", "host", 's',
	       H, NULL);
	/* A project's folders count against its project resource policy (pb: p1, one folder). */
	TH_OK(s, &f->adm_b, 1, NULL, "folder.create", "name", 's', "b1", "host", 's', H, "project", 's', "pb", NULL);
	TH_REFUSE(s, &f->adm_b, AL_ELIMIT_EXCEEDED, "max_folder_count", "folder.create", "name", 's', "b2", "host", 's', H,
	       "project", 's', "pb", NULL);
	/* Default policies: no limit. */
	for (int i = 0; i < 5; i++) {
		char name[16];
		snprintf(name, sizeof name, "many%d", i);
		TH_OK(s, &f->usr_b, 1, NULL, "folder.create", "name", 's', name, "host", 's', H, NULL);
	}
}

/* ---- project folders --------------------------------------------------------------------------------- */

static void project_folders_by_admins(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	/* Members and monitors do not create project folders; admins of another domain neither. */
	TH_DENY(s, &f->usr_a, "folder.create", "name", 's', "p", "host", 's', H, "project", 's', "pa", NULL);
	TH_DENY(s, &f->mon_a, "folder.create", "name", 's', "p", "host", 's', H, "project", 's', "pa", NULL);
	TH_DENY(s, &f->adm_b, "folder.create", "name", 's', "p", "host", 's', H, "project", 's', "pa", "domain", 's', "alpha",
	     NULL);
	TH_DENY(s, &f->adm_a, "folder.create", "name", 's', "p", "host", 's', H, "project", 's', "nope", "domain", 's', "beta",
	     NULL);
	TH_REFUSE(s, &f->adm_a, AL_EINVALID_ARGUMENT, "project", "folder.create", "name", 's', "p", "host", 's', H, "project",
	       's', "nope", NULL);
	/* The domain admin (its domain is the default for --domain) and a superadmin may. */
	TH_OK(s, &f->adm_a, 1, &rep, "folder.create", "name", 's', "p", "host", 's', H, "project", 's', "pa", "permission",
	   's', "ro", NULL);
	assert_string_equal(res_at(&rep, -1, "ownership_type"), "project");
	assert_string_equal(res_at(&rep, -1, "project"), "pa");
	assert_string_equal(res_at(&rep, -1, "user"), "");
	assert_string_equal(res_at(&rep, -1, "domain"), "alpha");
	assert_string_equal(res_at(&rep, -1, "creator"), "adm-a@x.io");
	assert_memory_equal(res_at(&rep, -1, "quota_scope_id"), "project:", 8);
	al_reply_free(&rep);
	TH_OK(s, NULL, 1, &rep, "folder.create", "name", 's', "q", "host", 's', H, "project", 's', "pa", "domain", 's',
	   "alpha", NULL);
	assert_string_equal(res_at(&rep, -1, "creator"), "local:test"); /* the operator */
	al_reply_free(&rep);
	/* An operator without a user owns no user folder. */
	TH_DENY(s, NULL, "folder.create", "name", 's', "mine", "host", 's', H, NULL);
	/* An inactive project takes no new folders. */
	TH_OK(s, NULL, 1, NULL, "project.deactivate", "name", 's', "pa", "domain", 's', "alpha", NULL);
	TH_REFUSE(s, &f->adm_a, AL_EINVALID_ARGUMENT, "project", "folder.create", "name", 's', "r", "host", 's', H, "project",
	       's', "pa", NULL);
}

/* ---- visibility, get and delete ------------------------------------------------------------------------ */

static void visibility(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	TH_OK(s, &f->usr_a, 1, NULL, "folder.create", "name", 's', "mine", "host", 's', H, NULL);
	TH_OK(s, &f->usr_a2, 1, NULL, "folder.create", "name", 's', "theirs", "host", 's', H, NULL);
	TH_OK(s, &f->adm_a, 1, NULL, "folder.create", "name", 's', "shared", "host", 's', H, "project", 's', "pa",
	   "permission", 's', "ro", NULL);
	TH_OK(s, &f->usr_b, 1, NULL, "folder.create", "name", 's', "bee", "host", 's', H, NULL);
	TH_OK(s, &f->adm_b, 1, NULL, "folder.create", "name", 's', "b-shared", "host", 's', H, "project", 's', "pb", NULL);
	/* A user: its own and its projects' folders, with the permission, without any invitation. */
	assert_string_equal(listing(s, &f->usr_a), "mine/rw/usr-a@x.io,shared/ro/pa");
	assert_string_equal(listing(s, &f->usr_a2), "theirs/rw/usr-a2@x.io");
	TH_OK(s, &f->adm_a, 1, NULL, "project.add-member", "name", 's', "pa", "users", 'l', "usr-a2@x.io", NULL);
	assert_string_equal(listing(s, &f->usr_a2), "shared/ro/pa,theirs/rw/usr-a2@x.io");
	TH_OK(s, &f->adm_a, 1, NULL, "project.remove-member", "name", 's', "pa", "users", 'l', "usr-a2@x.io", NULL);
	assert_string_equal(listing(s, &f->usr_a2), "theirs/rw/usr-a2@x.io");
	assert_string_equal(listing(s, &f->usr_b), "bee/rw/usr-b@x.io"); /* not a member of pb */
	/* Admins and monitors: their domain's; a superadmin: all. */
	assert_string_equal(listing(s, &f->adm_a), "mine/rw/usr-a@x.io,shared/ro/pa,theirs/rw/usr-a2@x.io");
	assert_string_equal(listing(s, &f->mon_a), "mine/rw/usr-a@x.io,shared/ro/pa,theirs/rw/usr-a2@x.io");
	assert_string_equal(listing(s, &f->adm_b), "b-shared/rw/pb,bee/rw/usr-b@x.io");
	assert_string_equal(listing(s, NULL),
			    "b-shared/rw/pb,bee/rw/usr-b@x.io,mine/rw/usr-a@x.io,shared/ro/pa,theirs/rw/usr-a2@x.io");
	/* A renamed project shows its new name; a user who moves takes its folders along. */
	TH_OK(s, NULL, 1, NULL, "project.update", "name", 's', "pa", "domain", 's', "alpha", "new_name", 's', "pa2", NULL);
	assert_string_equal(listing(s, &f->usr_a), "mine/rw/usr-a@x.io,shared/ro/pa2");
	TH_OK(s, NULL, 1, NULL, "user.update", "email", 's', "usr-a2@x.io", "domain", 's', "beta", NULL);
	assert_string_equal(listing(s, &f->adm_b), "b-shared/rw/pb,bee/rw/usr-b@x.io,theirs/rw/usr-a2@x.io");
	assert_string_equal(listing(s, &f->adm_a), "mine/rw/usr-a@x.io,shared/ro/pa2");

	/* get: the actor's own folder, or a project's (members, the domain's admins and monitors). */
	al_reply rep;
	TH_OK(s, &f->usr_a, 0, &rep, "folder.get", "name", 's', "mine", NULL);
	assert_string_equal(res_at(&rep, -1, "name"), "mine");
	assert_int_equal(th_res_int(&rep, "version"), 1);
	al_reply_free(&rep);
	TH_OK(s, &f->usr_a, 0, &rep, "folder.get", "name", 's', "shared", "project", 's', "pa2", NULL);
	assert_string_equal(res_at(&rep, -1, "permission"), "ro");
	al_reply_free(&rep);
	TH_OK(s, &f->mon_a, 0, NULL, "folder.get", "name", 's', "shared", "project", 's', "pa2", NULL);
	TH_REFUSE(s, &f->usr_a, AL_ENOT_FOUND, NULL, "folder.get", "name", 's', "theirs", NULL); /* its own namespace */
	TH_DENY(s, &f->usr_b, "folder.get", "name", 's', "shared", "project", 's', "pa2", "domain", 's', "alpha", NULL);
	TH_DENY(s, &f->usr_b, "folder.get", "name", 's', "x", "project", 's', "nope", "domain", 's', "alpha", NULL);
	TH_DENY(s, NULL, "folder.get", "name", 's', "mine", NULL); /* an operator has no folders of its own */
	TH_REFUSE(s, &f->usr_a, AL_EINVALID_ARGUMENT, "domain", "folder.get", "name", 's', "mine", "domain", 's', "alpha",
	       NULL);
}

static void deleting(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	al_reply rep;
	TH_OK(s, &f->usr_a, 1, NULL, "folder.create", "name", 's', "mine", "host", 's', H, NULL);
	TH_OK(s, &f->adm_a, 1, NULL, "folder.create", "name", 's', "shared", "host", 's', H, "project", 's', "pa", NULL);
	/* Project folders: only admins of the domain delete them. */
	TH_DENY(s, &f->usr_a, "folder.delete", "name", 's', "shared", "project", 's', "pa", NULL);
	TH_DENY(s, &f->adm_b, "folder.delete", "name", 's', "shared", "project", 's', "pa", "domain", 's', "alpha", NULL);
	TH_OK(s, &f->adm_a, 1, &rep, "folder.delete", "name", 's', "shared", "project", 's', "pa", NULL);
	assert_string_equal(res_at(&rep, -1, "name"), "shared"); /* the folder as it was */
	al_reply_free(&rep);
	TH_REFUSE(s, &f->adm_a, AL_ENOT_FOUND, NULL, "folder.delete", "name", 's', "shared", "project", 's', "pa", NULL);
	/* Own folders: by their owner. */
	TH_REFUSE(s, &f->usr_a2, AL_ENOT_FOUND, NULL, "folder.delete", "name", 's', "mine", NULL);
	TH_OK(s, &f->usr_a, 1, NULL, "folder.delete", "name", 's', "mine", NULL);
	assert_string_equal(listing(s, &f->usr_a), "");
	/* The name is free again, under a new id. */
	TH_OK(s, &f->usr_a, 1, &rep, "folder.create", "name", 's', "mine", "host", 's', H, NULL);
	assert_int_equal(th_res_int(&rep, "version"), 1);
	al_reply_free(&rep);
}

/* ---- rebuild and as-of --------------------------------------------------------------------------------- */

static void rebuild_and_asof(void **state)
{
	fx *f = *state;
	al_store *s = f->s;
	TH_OK(s, &f->usr_a, 1, NULL, "folder.create", "name", 's', "a1", "host", 's', H, NULL);
	TH_OK(s, &f->adm_a, 1, NULL, "folder.create", "name", 's', "p1", "host", 's', FAST, "project", 's', "pa", NULL);
	TH_OK(s, &f->usr_a2, 1, NULL, "folder.create", "name", 's', "n1", "host", 's', NFS, NULL);
	uint64_t mid = al_log_head(s);
	char at_mid[33], live[33], rebuilt[33], d[33];
	th_digest(s, at_mid);
	TH_OK(s, &f->usr_a, 1, NULL, "folder.delete", "name", 's', "a1", NULL);
	TH_OK(s, &f->usr_a, 1, NULL, "folder.create", "name", 's', "a1", "host", 's', H, "permission", 's', "wd", NULL);
	TH_OK(s, &f->adm_a, 1, NULL, "folder.delete", "name", 's', "p1", "project", 's', "pa", NULL);
	th_digest(s, live);
	al_error err;
	assert_int_equal(al_store_rebuild(s, NULL, NULL, &err), AL_OK);
	th_digest(s, rebuilt);
	assert_string_equal(live, rebuilt);
	assert_string_equal(listing(s, &f->usr_a), "a1/wd/usr-a@x.io");
	al_store *past;
	assert_int_equal(al_store_asof(s, mid, &past, &err), AL_OK);
	th_digest(past, d);
	assert_string_equal(d, at_mid);
	assert_string_equal(listing(past, &f->usr_a), "a1/rw/usr-a@x.io,p1/rw/pa");
	al_store_close(past);
	assert_int_equal(al_store_verify(s, NULL, NULL, &err), AL_OK);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(name_rules), T(host_allowed), T(folder_counts), T(project_folders_by_admins),
		T(visibility), T(deleting),     T(rebuild_and_asof),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
