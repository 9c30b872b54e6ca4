/*
 * bootstrap.c - a new data directory: the store.init command and al_store_init. Later nouns
 * add their defaults to al__store_init so that `adminlog init` and the server's first start
 * produce the same bootstrap events. (The settings view, which keeps store.initialized's
 * pwhash, is in settings.c.)
 */
#include <string.h>
#include <sodium.h>

#include "nouns.h"
#include "secret.h"
#include "validate.h"

/* ---- store.init -------------------------------------------------------------------------------- */

int al__store_init_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err)
{
	(void)s;
	al_str cost = {"interactive", 11}, pw;
	al_mp_str(args, "pwhash", &cost);
	al_mp_str(args, "admin_password", &pw);
	int rc = al__check_enum(err, "pwhash", cost, al__pwhash_costs);
	if (rc == AL_OK)
		rc = al__check_password(err, "admin_password", pw);
	if (rc)
		return rc;
	char c[32], hash[AL_PWHASH_LEN], id[37], project_id[37];
	if ((rc = al__pwhash(al_str_cpy(c, sizeof c, cost), pw, hash, err)))
		return rc;
	al__uuid4(id);
	al__uuid4(project_id);
	al_mb_cstr(out, "password_hash", hash);
	al_mb_cstr(out, "id", id);
	al_mb_cstr(out, "project_id", project_id);
	sodium_memzero(hash, sizeof hash);
	return al__keypair_prepare(s, args, out, err); /* the admin's keypair */
}

int al__store_init(al_cmd *c)
{
	if (c->w->head_seq > 0)
		return al_err(c->err, AL_EALREADY_EXISTS, "the data directory is already initialised (%llu events)",
			      (unsigned long long)c->w->head_seq);
	al_str cost = {"interactive", 11};
	al_user_new admin = {.username = {"admin", 5}, .full_name = {"Administrator", 13},
			     .description = {"Bootstrap superadmin", 20}, .domain = {"default", 7},
			     .role = {"superadmin", 10}, .status = {"active", 6}};
	al__arg_str(c, "pwhash", &cost);
	al__arg_str(c, "admin_email", &admin.email);
	al_mp_str(c->prep, "password_hash", &admin.password_hash);
	al_mp_str(c->prep, "id", &admin.id);

	al_mb f;
	al_mb_init(&f);
	al_mb_str(&f, "pwhash", cost.p, cost.n);
	int rc = al__emit(c, AL_EV_STORE_INITIALIZED, (al_str){"store", 5}, &f);
	al_mb_free(&f);
	al_str project_id = {"", 0};
	al_mp_str(c->prep, "project_id", &project_id);
	/* Policies first: the admin, its keypair and the project follow the "default" ones. */
	if (rc == AL_OK)
		rc = al__domain_emit_created(c, (al_str){"default", 7}, (al_str){"The default domain", 18});
	if (rc == AL_OK)
		rc = al__rgroup_emit_default(c);
	if (rc == AL_OK)
		rc = al__policy_emit_defaults(c);
	al_keypair_new k = {.user_email = admin.email, .user_id = admin.id, .resource_policy = {"default", 7},
			    .rate_limit = 10000, .is_admin = true, .is_active = true, .is_main = true};
	al_mp_str(c->prep, "access_key", &k.access_key);
	al_mp_str(c->prep, "secret_key_sealed", &k.secret_key_sealed);
	if (rc == AL_OK)
		rc = al__user_emit_created(c, &admin);
	if (rc == AL_OK)
		rc = al__keypair_emit_created(c, &k);
	if (rc == AL_OK)
		rc = al__project_emit_default(c, project_id, admin.email);
	bool registry = true;
	al__arg_bool(c, "default_registry", &registry);
	if (rc == AL_OK && registry)
		rc = al__registry_emit_default(c);
	if (rc)
		return rc;
	msgpack_pack_map(c->out, 3); /* the secret key is not shown: the admin gets it by logging in */
	al_pack_cstr(c->out, "events");
	msgpack_pack_uint64(c->out, c->last_seq);
	al_pack_cstr(c->out, "access_key");
	al_pack_str(c->out, k.access_key.p, k.access_key.n);
	al_pack_cstr(c->out, "admin");
	return al__user_pack_public(c, admin.email);
}

int al_store_init(const char *dir, al_init_opts *o, const al_actor *actor, al_error *err)
{
	al_store *s;
	al_open_opts oo = {AL_OPEN_CREATE | AL_OPEN_QUIET, 0};
	int rc = al_store_open(&s, dir, &oo, err);
	if (rc)
		return rc;
	const char *pw = o->admin_password;
	if (pw == NULL) {
		al__random_password(o->generated_password, 21);
		pw = o->generated_password;
	}
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	al_pack_cstr(&pk, "default_registry");
	o->offline ? msgpack_pack_false(&pk) : msgpack_pack_true(&pk);
	al_pack_cstr(&pk, "pwhash");
	al_pack_cstr(&pk, o->pwhash ? o->pwhash : "interactive");
	al_pack_cstr(&pk, "admin_email");
	al_pack_cstr(&pk, o->admin_email ? o->admin_email : "admin@example.com");
	al_pack_cstr(&pk, "admin_password");
	al_pack_cstr(&pk, pw);
	al_request req = {"store.init", sb.data, sb.size, actor};
	al_reply rep;
	rc = al_exec(s, &req, &rep);
	sodium_memzero(sb.data, sb.size);
	al_sbuffer_destroy(&sb);
	if (rc && err)
		*err = rep.err;
	al_reply_free(&rep);
	al_store_close(s);
	return rc;
}
