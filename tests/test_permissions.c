/*
 * test_permissions.c - the permission matrix: every command of the table against every kind
 * of actor, positive and negative (the "Who may do what").
 *
 * Actors: S a superadmin user of another domain (lab), A the admin of domain default, B the
 * admin of domain lab, M a monitor of default, U a plain user of default acting on itself,
 * O another plain user of default. Targets belong to U, in domain default.
 * A cell 'y' must succeed (each write on a fresh fixture), 'n' must answer permission_denied
 * and append nothing. Every command in the table must have a row: a new command without one
 * fails this test.
 */
#include "registry_test.h" /* first: it sets _GNU_SOURCE */

#include <stdlib.h>
#include <string.h>

#include "util/codec.h"
#include "helpers.h"

#define PW "Passw0rd!"
enum { S, A, B, M, U, O, NACTORS };
static const char *const actor_email[NACTORS] = {"root@lab.example.com", "adm@example.com", "boss@lab.example.com",
						 "mon@example.com",      "u@example.com",   "o@example.com"};
static const char actor_letter[] = "SABMUO";

typedef struct fx {
	char *dir;
	al_store *s;
	th_actor who[NACTORS];
	char u_ak[32]; /* U's main access key */
	char extra_ak[32]; /* a second keypair of U, deletable */
	char sid[40]; /* a PENDING session of U */
} fx;

/* A stub registry with one image (registry_test.h), for the session rows: started once. */
static stub reg;
static rt_image reg_image;
static char *reg_labels;
static char reg_host[64], reg_url[80], reg_img[200];

static int reg_start(void **state)
{
	(void)state;
	if (stub_start(&reg) != 0)
		return -1;
	reg_labels = rt_labels(NULL);
	rt_image_make(&reg_image, "amd64", reg_labels, "perm");
	stub_put_image(&reg, "stable/plain", "1", &reg_image);
	stub_tags(&reg, "stable/plain", "[\"1\"]");
	const char *cat = "{\"repositories\":[\"stable/plain\"]}";
	stub_add(&reg, "/v2/_catalog", 200, NULL, cat, strlen(cat));
	snprintf(reg_host, sizeof reg_host, "127.0.0.1:%d", reg.port);
	snprintf(reg_url, sizeof reg_url, "http://%s", reg_host);
	snprintf(reg_img, sizeof reg_img, "%s/stable/plain:1", reg_host);
	return 0;
}

static int reg_stop(void **state)
{
	(void)state;
	stub_stop(&reg);
	rt_image_free(&reg_image);
	free(reg_labels);
	return 0;
}

static void user(al_store *s, const char *email, const char *name, const char *domain, const char *role)
{
	th_fixture(s, "user.create", "email", 's', email, "username", 's', name, "password", 's', PW, "domain", 's', domain,
	       "role", 's', role, NULL);
}

static void fx_build(fx *f)
{
	memset(f, 0, sizeof *f);
	f->dir = th_tmpdir();
	f->s = th_init(f->dir, 0);
	assert_non_null(f->s);
	al_store *s = f->s;
	th_fixture(s, "domain.create", "name", 's', "lab", NULL);
	th_fixture(s, "domain.create", "name", 's', "spare", NULL);
	user(s, "root@lab.example.com", "root", "lab", "superadmin");
	user(s, "adm@example.com", "adm", "default", "admin");
	user(s, "boss@lab.example.com", "boss", "lab", "admin");
	user(s, "mon@example.com", "mon", "default", "monitor");
	user(s, "u@example.com", "u", "default", "user");
	user(s, "o@example.com", "o", "default", "user");
	user(s, "gone@example.com", "gone", "default", "user");
	th_fixture(s, "user.deactivate", "email", 's', "gone@example.com", NULL);
	th_fixture(s, "project.create", "name", 's', "vision", "domain", 's', "default", NULL);
	th_fixture(s, "project.create", "name", 's', "idle", "domain", 's', "default", NULL);
	th_fixture(s, "project.deactivate", "name", 's', "idle", "domain", 's', "default", NULL);
	th_fixture(s, "project.add-member", "name", 's', "vision", "domain", 's', "default", "users", 'l', "u@example.com",
	       NULL);
	th_fixture(s, "policy.create", "name", 's', "gold", NULL);
	th_fixture(s, "user-policy.create", "name", 's', "silver", NULL);
	th_fixture(s, "project-policy.create", "name", 's', "bronze", NULL);
	/* Storage: a host every domain may create folders on, U's quota, a folder of vision. */
	th_fixture(s, "storage.create", "name", 's', "local:volume1", "backend", 's', "xfs", "mount", 's', "/vfroot", NULL);
	th_fixture(s, "domain.update", "name", 's', "default", "allowed_hosts", 's', "local:volume1:create-vfolder", NULL);
	th_fixture(s, "domain.update", "name", 's', "lab", "allowed_hosts", 's', "local:volume1:create-vfolder", NULL);
	th_fixture(s, "quota.set", "host", 's', "local:volume1", "user", 's', "u@example.com", "hard_limit_gb", 'i', 3LL, NULL);
	th_fixture(s, "folder.create", "name", 's', "shared", "host", 's', "local:volume1", "project", 's', "vision",
	       "domain", 's', "default", NULL);
	th_fixture(s, "preset.create", "name", 's', "p1", "cpu", 'i', 1LL, "mem", 's', "1g", NULL);
	/* type local: nothing here ever reaches for the network */
	th_fixture(s, "registry.create", "hostname", 's', "reg.example.com", "url", 's', "https://reg.example.com", "type", 's',
	       "local", NULL);
	al_reply rep;
	th_fixture(s, "rgroup.create", "name", 's', "gpu", NULL);
	th_fixture(s, "rgroup.create", "name", 's', "idle-rg", NULL);
	th_fixture(s, "rgroup.create", "name", 's', "spare-rg", NULL);
	th_fixture(s, "rgroup.deactivate", "name", 's', "idle-rg", NULL);
	th_fixture(s, "rgroup.associate", "name", 's', "gpu", "domain", 's', "default", NULL);
	assert_int_equal(th_exec(s, &rep, "user.get", "email", 's', "u@example.com", NULL), AL_OK);
	snprintf(f->u_ak, sizeof f->u_ak, "%s", th_res_str(&rep, "main_access_key"));
	al_reply_free(&rep);
	assert_int_equal(th_exec(s, &rep, "keypair.create", "user", 's', "u@example.com", NULL), AL_OK);
	snprintf(f->extra_ak, sizeof f->extra_ak, "%s", th_res_str(&rep, "access_key"));
	al_reply_free(&rep);
	/* a session of U: the stub's image, allowed for domain default, in group gpu */
	th_fixture(s, "registry.create", "hostname", 's', reg_host, "url", 's', reg_url, NULL);
	th_fixture(s, "image.rescan", "registry", 's', reg_host, NULL);
	th_fixture(s, "domain.update", "name", 's', "default", "allowed_registries", 'l', reg_host, NULL);
	assert_int_equal(th_exec(s, &rep, "session.create", "name", 's', "u-sess", "image", 's', reg_img, "group", 's', "gpu",
				 "project", 's', "vision", "access_key", 's', f->u_ak, NULL),
			 AL_OK);
	snprintf(f->sid, sizeof f->sid, "%s", th_res_str(&rep, "id"));
	al_reply_free(&rep);
	for (int i = 0; i < NACTORS; i++)
		assert_int_equal(th_as(s, actor_email[i], &f->who[i]), AL_OK);
}

static void fx_free(fx *f)
{
	al_store_close(f->s);
	th_rmrf(f->dir);
}

/* One row: the op, who may ("yyyyyy" in actor order S A B M U O), the code an allowed call
 * gives (AL_OK unless the state forbids it anyway), and its arguments as th_args triples where
 * the values "$AK" and "$EXTRA" stand for U's main and second access keys, "$SID" for U's
 * session and "$IMG" for the stub registry's image (types "s", "l" a one-element list, "i" an
 * integer, "b" a boolean "true"/"false"). */
typedef struct row {
	const char *op, *allowed;
	int ok_code;
	const char *a[18];
} row;

#define T(k, v) k, "s", v
#define I(k, v) k, "i", v
static const row rows[] = {
	{"domain.create", "ynnnnn", AL_OK, {T("name", "newdom")}},
	{"domain.update", "ynnnnn", AL_OK, {T("name", "default"), T("description", "changed")}},
	{"domain.deactivate", "ynnnnn", AL_OK, {T("name", "spare")}},
	{"domain.activate", "ynnnnn", AL_OK, {T("name", "spare")}},
	{"domain.get", "yynyyy", AL_OK, {T("name", "default")}},
	{"domain.list", "yyyynn", AL_OK, {NULL}},
	{"keypair.create", "ynnnnn", AL_OK, {T("user", "u@example.com")}},
	{"keypair.get", "yynyyn", AL_OK, {T("access_key", "$AK")}},
	{"keypair.list", "yynyyn", AL_OK, {T("user", "u@example.com")}},
	{"keypair.update", "ynnnnn", AL_OK, {T("access_key", "$EXTRA"), T("policy", "gold")}},
	{"keypair.deactivate", "ynnnnn", AL_OK, {T("access_key", "$EXTRA")}},
	{"keypair.activate", "ynnnnn", AL_OK, {T("access_key", "$EXTRA")}},
	{"keypair.delete", "ynnnnn", AL_OK, {T("access_key", "$EXTRA")}},
	{"policy.create", "ynnnnn", AL_OK, {T("name", "platinum")}},
	{"policy.update", "ynnnnn", AL_OK, {T("name", "gold"), T("default_for_unspecified", "limited")}},
	{"policy.delete", "ynnnnn", AL_OK, {T("name", "gold")}},
	{"policy.get", "yyyynn", AL_OK, {T("name", "gold")}},
	{"policy.list", "yyyynn", AL_OK, {NULL}},
	{"user-policy.create", "ynnnnn", AL_OK, {T("name", "iron")}},
	{"user-policy.update", "ynnnnn", AL_OK, {T("name", "silver"), T("max_quota_size", "10g")}},
	{"user-policy.delete", "ynnnnn", AL_OK, {T("name", "silver")}},
	{"user-policy.get", "yyyynn", AL_OK, {T("name", "silver")}},
	{"user-policy.list", "yyyynn", AL_OK, {NULL}},
	{"project-policy.create", "ynnnnn", AL_OK, {T("name", "tin")}},
	{"project-policy.update", "ynnnnn", AL_OK, {T("name", "bronze"), T("max_quota_size", "10g")}},
	{"project-policy.delete", "ynnnnn", AL_OK, {T("name", "bronze")}},
	{"project-policy.get", "yyyynn", AL_OK, {T("name", "bronze")}},
	{"project-policy.list", "yyyynn", AL_OK, {NULL}},
	{"project.create", "yynnnn", AL_OK, {T("name", "fresh"), T("domain", "default")}},
	{"project.update", "yynnnn", AL_OK, {T("name", "vision"), T("domain", "default"), T("description", "x")}},
	{"project.deactivate", "yynnnn", AL_OK, {T("name", "vision"), T("domain", "default")}},
	{"project.activate", "yynnnn", AL_OK, {T("name", "idle"), T("domain", "default")}},
	{"project.get", "yynyyn", AL_OK, {T("name", "vision"), T("domain", "default")}},
	{"project.list", "yyyyyy", AL_OK, {NULL}},
	{"project.add-member", "yynnnn", AL_OK, {T("name", "vision"), T("domain", "default"), "users", "l", "o@example.com"}},
	{"project.remove-member", "yynnnn", AL_OK, {T("name", "vision"), T("domain", "default"), "users", "l", "u@example.com"}},
	{"store.init", "ynnnnn", AL_EALREADY_EXISTS, {T("admin_email", "x@example.com"), T("admin_password", PW)}},
	{"user.create", "ynnnnn", AL_OK, {T("email", "new@example.com"), T("username", "new"), T("password", PW)}},
	{"user.get", "yynyyn", AL_OK, {T("email", "u@example.com")}},
	{"user.list", "yyyynn", AL_OK, {NULL}},
	{"user.update", "ynnnyn", AL_OK, {T("email", "u@example.com"), T("full_name", "Renamed")}},
	{"user.deactivate", "ynnnnn", AL_OK, {T("email", "u@example.com")}},
	{"user.activate", "ynnnnn", AL_OK, {T("email", "gone@example.com")}},
	/* 2FA is self-service: each actor enables and confirms its own (a monitor writes nothing);
	 * with no pending key a confirmation is not_found. */
	{"user.2fa.enable", "yyynyy", AL_OK, {NULL}},
	{"user.2fa.confirm", "yyynyy", AL_ENOT_FOUND, {T("code", "123456")}},
	{"user.2fa.disable", "yynnyn", AL_OK, {T("email", "u@example.com")}},
	{"user.2fa.status", "yynyyn", AL_OK, {T("email", "u@example.com")}},
	/* Storage hosts are global: a superadmin changes them, admins and monitors read them. */
	{"storage.create", "ynnnnn", AL_OK, {T("name", "new:vol"), T("backend", "vfs"), T("mount", "/new")}},
	{"storage.update", "ynnnnn", AL_OK, {T("name", "local:volume1"), T("mount", "/changed")}},
	{"storage.get", "yyyynn", AL_OK, {T("name", "local:volume1")}},
	{"storage.list", "yyyynn", AL_OK, {NULL}},
	{"storage.report-usage", "ynnnnn", AL_OK,
	 {T("name", "local:volume1"), I("used_bytes", "1"), I("capacity_bytes", "10")}},
	/* Quotas: admins of the target's domain set them; the user itself may read its own. */
	{"quota.set", "yynnnn", AL_OK, {T("host", "local:volume1"), T("user", "u@example.com"), I("hard_limit_gb", "5")}},
	{"quota.unset", "yynnnn", AL_OK, {T("host", "local:volume1"), T("user", "u@example.com")}},
	{"quota.get", "yynyyn", AL_OK, {T("host", "local:volume1"), T("user", "u@example.com")}},
	{"quota.list", "yyyynn", AL_OK, {NULL}},
	/* Folders: every user its own; project folders (see field_rows) by admins of the domain. */
	{"folder.create", "yyynyy", AL_OK, {T("name", "mine"), T("host", "local:volume1")}},
	{"folder.list", "yyyyyy", AL_OK, {NULL}},
	{"folder.get", "yynyyn", AL_OK, {T("name", "shared"), T("project", "vision"), T("domain", "default")}},
	{"folder.delete", "yynnnn", AL_OK, {T("name", "shared"), T("project", "vision"), T("domain", "default")}},
	/* resource groups: superadmin writes; admins and monitors read; a user asks which it may use */
	{"rgroup.create", "ynnnnn", AL_OK, {T("name", "newrg")}},
	{"rgroup.update", "ynnnnn", AL_OK, {T("name", "gpu"), T("description", "changed")}},
	{"rgroup.deactivate", "ynnnnn", AL_OK, {T("name", "gpu")}},
	{"rgroup.activate", "ynnnnn", AL_OK, {T("name", "idle-rg")}},
	{"rgroup.delete", "ynnnnn", AL_OK, {T("name", "spare-rg")}}, /* gpu ran a session: in use */
	{"rgroup.get", "yyyynn", AL_OK, {T("name", "gpu")}},
	{"rgroup.list", "yyyynn", AL_OK, {NULL}},
	{"rgroup.associate", "ynnnnn", AL_OK, {T("name", "gpu"), T("domain", "lab")}},
	{"rgroup.dissociate", "ynnnnn", AL_OK, {T("name", "gpu"), T("domain", "default")}},
	{"rgroup.allowed", "yynyyn", AL_OK, {T("user", "u@example.com")}},
	/* settings, maintenance, information */
	{"settings.get", "yyyynn", AL_OK, {NULL}},
	{"settings.set", "ynnnnn", AL_OK, {T("key", "overlay-mtu"), "value", "l", "9000"}},
	{"maintenance.recalculate-usage", "ynnnnn", AL_OK, {NULL}},
	{"maintenance.rescan-images", "ynnnnn", AL_OK, {NULL}}, /* the fixture's registry is local: no network */
	{"info", "yyyynn", AL_OK, {NULL}},
	/* Agents: superadmins only (an agent uses a superadmin service account); the others name an
	 * unknown agent. */
	{"agent.heartbeat", "ynnnnn", AL_OK, {T("id", "ag1"), T("addr", "10.0.0.1:6001"), T("available", "cpu=1,mem=1g")}},
	{"agent.terminate", "ynnnnn", AL_ENOT_FOUND, {T("id", "ghost")}},
	{"agent.expire", "ynnnnn", AL_OK, {NULL}},
	{"agent.set-schedulable", "ynnnnn", AL_ENOT_FOUND, {T("id", "ghost"), "schedulable", "b", "false"}},
	{"agent.get", "ynnnnn", AL_ENOT_FOUND, {T("id", "ghost")}},
	{"agent.list", "ynnnnn", AL_OK, {NULL}},
	/* Presets: a superadmin writes, anyone reads and checks. */
	{"preset.create", "ynnnnn", AL_OK, {T("name", "newp"), "cpu", "i", "2", T("mem", "1g")}},
	{"preset.update", "ynnnnn", AL_OK, {T("name", "p1"), "cpu", "i", "4"}},
	{"preset.delete", "ynnnnn", AL_OK, {T("name", "p1")}},
	{"preset.get", "yyyyyy", AL_OK, {T("name", "p1")}},
	{"preset.list", "yyyyyy", AL_OK, {NULL}},
	{"preset.check", "yyyyyy", AL_OK, {T("group", "default")}},
	/* registries: the superadmin's alone; images: anyone reads those its domain or projects
	 * allow (none in the fixture has images: not_found), only a superadmin changes them; a rescan
	 * of an unknown registry is refused before any network */
	{"registry.create", "ynnnnn", AL_OK, {T("hostname", "new.example.com"), T("url", "https://new.example.com")}},
	{"registry.update", "ynnnnn", AL_OK, {T("hostname", "reg.example.com"), T("type", "docker")}},
	{"registry.delete", "ynnnnn", AL_OK, {T("hostname", "reg.example.com")}},
	{"registry.get", "ynnnnn", AL_OK, {T("hostname", "reg.example.com")}},
	{"registry.list", "ynnnnn", AL_OK, {NULL}},
	{"image.list", "yyyyyy", AL_OK, {NULL}},
	{"image.get", "yyyyyy", AL_ENOT_FOUND, {T("name", "reg.example.com/stable/python:3.9")}},
	{"image.set-min", "ynnnnn", AL_ENOT_FOUND, {T("name", "reg.example.com/stable/python:3.9"), T("cpu", "2")}},
	{"image.alias", "ynnnnn", AL_ENOT_FOUND, {T("name", "reg.example.com/stable/python:3.9"), "aliases", "l", "py"}},
	{"image.unalias", "ynnnnn", AL_ENOT_FOUND, {T("alias", "py")}},
	{"image.rescan", "ynnnnn", AL_EINVALID_ARGUMENT, {T("registry", "nope.example.com")}},
	/* Sessions: a user creates and terminates its own, an admin those of its domain (by the
	 * user's access key), a monitor reads them; agents report with a superadmin account. */
	{"session.create", "yynnyn", AL_OK,
	 {T("name", "new-sess"), T("image", "$IMG"), T("group", "gpu"), T("project", "vision"), T("access_key", "$AK")}},
	{"session.get", "yynyyn", AL_OK, {T("id", "$SID")}},
	{"session.list", "yyyyyy", AL_OK, {NULL}},
	/* ERROR: a legal report from PENDING (SCHEDULED is the scheduling pass's alone) */
	{"session.report", "ynnnnn", AL_OK, {T("id", "$SID"), T("status", "ERROR")}},
	{"scheduler.run", "ynnnnn", AL_OK, {NULL}},
	{"session.terminate", "yynnyn", AL_OK, {T("id", "$SID")}},
	/* the timeouts: agents touch (the fixture's session is PENDING, so not live), adminlogd's
	 * timer expires */
	{"session.touch", "ynnnnn", AL_EINVALID_STATE, {T("id", "$SID")}},
	{"session.expire", "ynnnnn", AL_OK, {NULL}},
};
#undef T
#undef I
#define NROWS (sizeof rows / sizeof *rows)

/* Rows whose writes narrow by field rather than by command: role and status of oneself. */
static const row field_rows[] = {
	{"user.update", "ynnnnn", AL_OK, {"email", "s", "u@example.com", "role", "s", "admin"}},
	{"user.update", "ynnnnn", AL_OK, {"email", "s", "u@example.com", "status", "s", "inactive"}},
	{"user.update", "ynnnnn", AL_OK, {"email", "s", "u@example.com", "domain", "s", "lab"}},
	{"user.update", "ynnnyn", AL_OK, {"email", "s", "u@example.com", "password", "s", PW}},
	{"folder.create", "yynnnn", AL_OK,
	 {"name", "s", "team", "host", "s", "local:volume1", "project", "s", "vision", "domain", "s", "default"}},
	{"quota.set", "yynnnn", AL_OK,
	 {"host", "s", "local:volume1", "project", "s", "vision", "domain", "s", "default", "hard_limit_gb", "i", "5"}},
};

static char *pack_row(const fx *f, const row *r, size_t *len)
{
	msgpack_sbuffer b;
	msgpack_packer pk;
	msgpack_sbuffer_init(&b);
	msgpack_packer_init(&pk, &b, msgpack_sbuffer_write);
	uint32_t n = 0;
	while (n < 6 && r->a[3 * n])
		n++;
	msgpack_pack_map(&pk, n);
	for (uint32_t i = 0; i < n; i++) {
		const char *k = r->a[3 * i], *t = r->a[3 * i + 1], *v = r->a[3 * i + 2];
		if (strcmp(v, "$AK") == 0)
			v = f->u_ak;
		else if (strcmp(v, "$EXTRA") == 0)
			v = f->extra_ak;
		else if (strcmp(v, "$SID") == 0)
			v = f->sid;
		else if (strcmp(v, "$IMG") == 0)
			v = reg_img;
		al_pack_cstr(&pk, k);
		if (*t == 'l') {
			msgpack_pack_array(&pk, 1);
			al_pack_cstr(&pk, v);
		} else if (*t == 'i')
			msgpack_pack_int64(&pk, atoll(v));
		else if (*t == 'b')
			strcmp(v, "true") == 0 ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
		else
			al_pack_cstr(&pk, v);
	}
	*len = b.size;
	return b.data;
}

static int run_as(fx *f, int who, const row *r, char *msg, size_t n)
{
	size_t len;
	char *args = pack_row(f, r, &len);
	al_request req = {r->op, args, len, &f->who[who].a};
	al_reply rep;
	int rc = al_exec(f->s, &req, &rep);
	snprintf(msg, n, "%s", rep.err.msg);
	al_reply_free(&rep);
	free(args);
	return rc;
}

static void check_rows(const row *rs, size_t nrows)
{
	fx f;
	fx_build(&f);
	int failures = 0;
	bool dirty = false; /* the last cell changed the fixture */
	for (size_t i = 0; i < nrows; i++) {
		const row *r = &rs[i];
		assert_non_null(al_cmd_def_find(r->op));
		for (int who = 0; who < NACTORS; who++) {
			bool allowed = r->allowed[who] == 'y';
			bool write = al_cmd_def_find(r->op)->kind == AL_CMD_WRITE;
			if (dirty) { /* a fresh fixture: a change must not leak into other cells */
				fx_free(&f);
				fx_build(&f);
				dirty = false;
			}
			uint64_t head = al_log_head(f.s);
			char msg[AL_ERR_MSG_LEN];
			int rc = run_as(&f, who, r, msg, sizeof msg);
			dirty = al_log_head(f.s) != head;
			int want = allowed ? r->ok_code : AL_EPERMISSION_DENIED;
			if (rc != want) {
				print_error("%s as %c (%s): got %s (%s), expected %s\n", r->op, actor_letter[who],
					    actor_email[who], al_err_name(rc), msg, al_err_name(want));
				failures++;
			}
			if (!allowed && al_log_head(f.s) != head) {
				print_error("%s as %c: refused but appended events\n", r->op, actor_letter[who]);
				failures++;
			}
			if (allowed && write && rc == AL_OK && r->ok_code == AL_OK && al_log_head(f.s) == head &&
			    strcmp(r->op, "keypair.activate") != 0 && strcmp(r->op, "domain.activate") != 0 &&
			    strcmp(r->op, "user.2fa.disable") != 0 &&
			    strcmp(r->op, "maintenance.recalculate-usage") != 0 && /* nothing to correct */
			    strcmp(r->op, "maintenance.rescan-images") != 0 && /* nothing scanned */
			    strcmp(r->op, "agent.expire") != 0 && /* already so, or no agent: nothing to record */
			    strcmp(r->op, "scheduler.run") != 0 && /* no ALIVE agent: no group to visit */
			    strcmp(r->op, "session.expire") != 0) { /* no session past a limit */
				print_error("%s as %c: allowed but recorded nothing\n", r->op, actor_letter[who]);
				failures++;
			}
		}
	}
	fx_free(&f);
	assert_int_equal(failures, 0);
}

static void matrix(void **state)
{
	(void)state;
	check_rows(rows, NROWS);
}

static void matrix_fields(void **state)
{
	(void)state;
	check_rows(field_rows, sizeof field_rows / sizeof *field_rows);
}

/* Every command of the table has a row: new commands must be placed in the matrix. */
static void every_command_has_a_row(void **state)
{
	(void)state;
	int missing = 0;
	for (size_t i = 0; i < al_cmd_def_count(); i++) {
		const char *op = al_cmd_def_at(i)->op;
		bool found = false;
		for (size_t k = 0; k < NROWS && !found; k++)
			found = strcmp(rows[k].op, op) == 0;
		if (!found) {
			print_error("no permission row for %s\n", op);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
}

typedef struct seen {
	int n;
	bool as_ok, id_ok;
} seen;

static int note_actor(const al_event *e, void *ctx)
{
	seen *sn = ctx;
	sn->n++;
	sn->as_ok = al_str_eq(e->as_user, "u@example.com");
	sn->id_ok = e->user_id.n == 36;
	return 0;
}

/* The actor recorded in events: the operator and the user whose rights were used. */
static void actor_recorded(void **state)
{
	(void)state;
	fx f;
	fx_build(&f);
	al_actor as_u = f.who[U].a;
	as_u.name = "local:operator";
	row r = {"user.update", "", AL_OK, {"email", "s", "u@example.com", "full_name", "s", "Via Operator"}};
	size_t len;
	char *args = pack_row(&f, &r, &len);
	al_request req = {r.op, args, len, &as_u};
	al_reply rep;
	assert_int_equal(al_exec(f.s, &req, &rep), AL_OK);
	uint64_t seq = rep.last_seq;
	al_reply_free(&rep);
	free(args);
	/* By the actor index: the operator's name finds the event, which names the user. */
	al_error err;
	al_log_filter flt = {.actor = "local:operator"};
	seen sn = {0};
	assert_int_equal(al_log_query(f.s, &flt, note_actor, &sn, &err), AL_OK);
	assert_int_equal(sn.n, 1);
	assert_true(seq > 0);
	assert_true(sn.as_ok);
	assert_true(sn.id_ok);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_command_has_a_row),
		cmocka_unit_test(matrix),
		cmocka_unit_test(matrix_fields),
		cmocka_unit_test(actor_recorded),
	};
	return cmocka_run_group_tests(tests, reg_start, reg_stop);
}
