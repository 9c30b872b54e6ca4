/*
 * session_create.c - session.create: the enqueue checks of the platform (platform model §9.3,
 * §10.1; the guide's resource policy, resource group and image sections), then session.created.
 *
 * The owner: the caller (or the --as user) with its main access key, or the user of the
 * access key given (one's own; an admin's for users of its domain; a superadmin's any). The
 * checks, in order, each before the one event: name rule, owner keypair and rights, an active
 * user and domain, project membership (even a superadmin must be a member, as the platform
 * has it), the image (exists, not gone, its registry allowed for the domain or the project,
 * its role fits the type), the resource group, cluster size against the keypair policy's
 * containers per session, the name unused among the keypair's live sessions, dependencies.
 * A request below the image's minimum is raised to it slot by slot (the guide: "adjusted ...
 * not canceled"; the platform's HEAD checks each slot too); the event keeps both.
 */
#include <stdlib.h>
#include <string.h>

#include "core/authz.h"
#include "core/secret.h"
#include "core/validate.h"
#include "nouns/sessions.h"
#include "util/resources.h"

#define BATCH_TIMEOUT_MAX 2147483647LL

static const char *const types[] = {"interactive", "batch", "inference", "system", NULL};
static const char *const modes[] = {"single-node", "multi-node", NULL};

int al__session_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err)
{
	(void)args, (void)err;
	char id[37];
	al__uuid7(id, al__now(s)); /* time-ordered: the session views grow at their end */
	al_mb_cstr(out, "id", id);
	return AL_OK;
}

/* What the command asks, then what the checks found. */
typedef struct req {
	al_str id, name, image, group, project, type, mode, resources, access_key;
	int64_t size, batch_timeout, starts_at;
	const msgpack_object *deps;
	al_user_auth u;   /* the owner */
	al_keypair_info k; /* the owner keypair */
	al_str project_id;
	al_image_use img;
} req;

static bool word(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

/* The platform's ^(?=.{4,64}$)\w[\w.-]*\w$ (ASCII), and from-template is reserved. */
static int check_name(al_cmd *c, al_str n)
{
	bool ok = n.n >= 4 && n.n <= AL_SESSION_NAME_MAX && word(n.p[0]) && word(n.p[n.n - 1]);
	for (size_t i = 1; ok && i + 1 < n.n; i++)
		ok = word(n.p[i]) || n.p[i] == '.' || n.p[i] == '-';
	if (!ok)
		return al_err(c->err, AL_EINVALID_ARGUMENT,
			      "name: 4 to 64 of A-Z a-z 0-9 _ . -, starting and ending with a letter, digit or _ (got '%.*s')",
			      al__clip(n.n), n.p);
	if (al_str_eq(n, "from-template"))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "name: from-template is reserved");
	return AL_OK;
}

/* The arguments, with their defaults and the checks that need no view. */
static int read_args(al_cmd *c, req *q)
{
	q->type = (al_str){"interactive", 11};
	q->mode = (al_str){"single-node", 11};
	q->size = 1;
	q->resources = (al_str){"", 0};
	al__arg_str(c, "name", &q->name);
	al__arg_str(c, "image", &q->image);
	al__arg_str(c, "group", &q->group);
	al__arg_str(c, "project", &q->project);
	al__arg_str(c, "type", &q->type);
	al__arg_str(c, "cluster_mode", &q->mode);
	al__arg_int(c, "cluster_size", &q->size);
	al__arg_str(c, "resources", &q->resources);
	bool timeout = al__arg_int(c, "batch_timeout", &q->batch_timeout);
	if (!al__arg_list(c, "depends_on", &q->deps))
		q->deps = NULL;
	al_str starts;
	bool has_start = al__arg_str(c, "starts_at", &starts);
	bool batch = al_str_eq(q->type, "batch");
	int rc;
	if ((rc = check_name(c, q->name)) || (rc = al__check_enum(c->err, "type", q->type, types)) ||
	    (rc = al__check_enum(c->err, "cluster_mode", q->mode, modes)))
		return rc;
	if (q->size < 1)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "cluster_size: at least 1 (got %lld)", (long long)q->size);
	if ((timeout || has_start) && !batch)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: only batch sessions have one",
			      timeout ? "batch_timeout" : "starts_at");
	if (timeout && (q->batch_timeout < 1 || q->batch_timeout > BATCH_TIMEOUT_MAX))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "batch_timeout: 1 to 2147483647 seconds");
	char t[64];
	if (has_start && (starts.n >= sizeof t || al_time_parse(al_str_cpy(t, sizeof t, starts), &q->starts_at) != 0))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "starts_at: not a time (RFC 3339, e.g. 2026-12-01T08:00:00Z)");
	if (q->deps && q->deps->via.array.size > AL_SESSION_DEPS_MAX)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "depends_on: at most %d sessions", AL_SESSION_DEPS_MAX);
	if (!c->prep || al_mp_str(c->prep, "id", &q->id) != 1)
		return al_err(c->err, AL_EINTERNAL, "session.create ran without its prepare step");
	return AL_OK;
}

/* The owner keypair and user, and whether the actor may create for them. */
static int find_owner(al_cmd *c, req *q)
{
	int rc;
	if (al__arg_str(c, "access_key", &q->access_key)) {
		if ((rc = al__keypair_info(c->s, c->txn, q->access_key, &q->k, c->zone, c->err)) <= 0)
			return rc < 0 ? rc
				      : al_err(c->err, AL_EINVALID_ARGUMENT, "access_key: no keypair %.*s",
					       al__clip(q->access_key.n), q->access_key.p);
	} else if (c->actor->user == NULL)
		return al_err(c->err, AL_EINVALID_ARGUMENT,
			      "access_key: a local operator names the owner (--as EMAIL or --access-key)");
	al_str email = q->k.user.n ? q->k.user : (al_str){c->actor->user, strlen(c->actor->user)};
	if ((rc = al__user_auth_info(c->s, c->txn, email, &q->u, c->zone, c->err)) <= 0)
		return rc < 0 ? rc : al_err(c->err, AL_EINVALID_ARGUMENT, "user: no user %.*s", al__clip(email.n), email.p);
	if (!al__is_self(c, q->u.email) && (rc = al__authz_manage_domain(c, q->u.domain)))
		return rc;
	if (!al_str_eq(q->u.status, "active"))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "user: %.*s is %.*s, not active", al__clip(email.n), email.p,
			      al__clip(q->u.status.n), q->u.status.p);
	if (q->k.access_key.n == 0) { /* the user's main access key */
		if ((rc = al__keypair_info(c->s, c->txn, q->u.main_access_key, &q->k, c->zone, c->err)) < 0)
			return rc;
		if (rc == 0)
			return al_err(c->err, AL_EINVALID_ARGUMENT, "access_key: user %.*s has no main access key",
				      al__clip(email.n), email.p);
	}
	q->access_key = q->k.access_key;
	if (!q->k.is_active)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "access_key: keypair %.*s is inactive",
			      al__clip(q->access_key.n), q->access_key.p);
	return AL_OK;
}

static int check_project(al_cmd *c, req *q)
{
	bool active;
	int rc = al__project_lookup(c, q->u.domain, q->project, &q->project_id, &active);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "project: no project %.*s in domain %.*s",
			      al__clip(q->project.n), q->project.p, al__clip(q->u.domain.n), q->u.domain.p);
	if (!active)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "project: %.*s is inactive", al__clip(q->project.n),
			      q->project.p);
	if (!al__project_has_member(c, q->project_id, q->u.email))
		return c->failed.code ? c->failed.code
				      : al_err(c->err, AL_EINVALID_ARGUMENT, "project: %.*s is not a member of %.*s",
					       al__clip(q->u.email.n), q->u.email.p, al__clip(q->project.n), q->project.p);
	return AL_OK;
}

static bool list_has(const msgpack_object *l, al_str s)
{
	for (uint32_t i = 0; l && l->type == MSGPACK_OBJECT_ARRAY && i < l->via.array.size; i++)
		if (l->via.array.ptr[i].type == MSGPACK_OBJECT_STR && l->via.array.ptr[i].via.str.size == s.n &&
		    memcmp(l->via.array.ptr[i].via.str.ptr, s.p, s.n) == 0)
			return true;
	return false;
}

/* The image's registry is allowed by the domain or the project (allowed_docker_registries),
 * and its role (the ai.backend.role label) fits the session type. */
static int check_image_use(al_cmd *c, req *q)
{
	al_image_use *im = &q->img;
	if (im->gone)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "image: %.*s is gone from its registry", al__clip(im->name.n),
			      im->name.p);
	msgpack_object list, prow;
	int rc = al__domain_registries(c, q->u.domain, &list);
	if (rc < 0)
		return rc;
	bool ok = rc == 1 && list_has(&list, im->registry);
	if (!ok && (rc = al__project_row(c, q->project_id, &prow)) < 0)
		return rc;
	if (!ok && !(rc == 1 && list_has(al_mp_get(&prow, "allowed_docker_registries"), im->registry)))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "image: registry %.*s is not allowed for domain %.*s or project %.*s",
			      al__clip(im->registry.n), im->registry.p, al__clip(q->u.domain.n), q->u.domain.p,
			      al__clip(q->project.n), q->project.p);
	const char *want = al_str_eq(q->type, "inference") ? "INFERENCE" : al_str_eq(q->type, "system") ? "SYSTEM" : "COMPUTE";
	if (!al_str_eq(im->role, want))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "image: %.*s is a %.*s image; a %.*s session needs %s",
			      al__clip(im->name.n), im->name.p, al__clip(im->role.n), im->role.p, al__clip(q->type.n),
			      q->type.p, want);
	return AL_OK;
}

/* Cluster size within the keypair policy's containers per session (unlimited: any). */
static int check_cluster_size(al_cmd *c, req *q)
{
	msgpack_object row;
	int rc = al__policy_row(c->s, c->txn, AL_POLICY_KEYPAIR, q->k.resource_policy, c->zone, &row, c->err);
	if (rc <= 0)
		return rc < 0 ? rc : al_err(c->err, AL_ECORRUPT, "keypair policy %.*s is missing", al__clip(q->k.resource_policy.n),
					   q->k.resource_policy.p);
	const msgpack_object *max = al_mp_get(&row, "containers_per_session");
	double m = !max ? -1
		   : max->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)max->via.u64
		   : max->type == MSGPACK_OBJECT_FLOAT64	  ? max->via.f64
							  : -1; /* "unlimited" */
	if (m >= 0 && (double)q->size > m)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "cluster_size: You cannot create session with more than %lld containers.",
			      (long long)m);
	return AL_OK;
}

/* The name is free among the keypair's live sessions; dependencies are the owner's sessions. */
static int check_unique_and_deps(al_cmd *c, req *q)
{
	char k[512];
	size_t kn = al__session_name_key(k, sizeof k, q->access_key, q->name);
	MDB_val key = {kn, k}, v;
	if (kn && al__cmd_found(c, mdb_get(c->txn, al__view_dbi(c->s, AL_P_SESSIONS, AL_SDB_NAMES), &key, &v), "sessions"))
		return al_err(c->err, AL_EALREADY_EXISTS, "name: keypair %.*s has a live session named %.*s (%.*s)",
			      al__clip(q->access_key.n), q->access_key.p, al__clip(q->name.n), q->name.p,
			      (int)(v.mv_size > 64 ? 64 : v.mv_size), (const char *)v.mv_data);
	if (c->failed.code)
		return c->failed.code;
	for (uint32_t i = 0; q->deps && i < q->deps->via.array.size; i++) {
		al_str id = {q->deps->via.array.ptr[i].via.str.ptr, q->deps->via.array.ptr[i].via.str.size};
		al_sess_row r;
		int rc = al__session_find(c, id, &r);
		if (rc < 0)
			return rc;
		if (rc == 0 || !(r.a.user.n == q->u.email.n && memcmp(r.a.user.p, q->u.email.p, r.a.user.n) == 0))
			return al_err(c->err, AL_EINVALID_ARGUMENT, "depends_on: no session %.*s of %.*s", al__clip(id.n),
				      id.p, al__clip(q->u.email.n), q->u.email.p);
	}
	return AL_OK;
}

/* ---- resources: the request raised to the image's minimum ------------------------------------ */

static double num(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER: return (double)o->via.u64;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return o->via.f64;
	default: return 0;
	}
}

static const msgpack_object *slot(const msgpack_object *m, const msgpack_object_str *k)
{
	for (uint32_t i = 0; i < m->via.map.size; i++) {
		const msgpack_object_str *s = &m->via.map.ptr[i].key.via.str;
		if (s->size == k->size && memcmp(s->ptr, k->ptr, k->size) == 0)
			return &m->via.map.ptr[i].val;
	}
	return NULL;
}

/* Packs on pk every slot of req and min, each at least its minimum, keys sorted. */
static int pack_adjusted(al_cmd *c, const msgpack_object *req, const msgpack_object *min, msgpack_packer *pk)
{
	uint32_t n = 0, cap = req->via.map.size + min->via.map.size;
	msgpack_object_kv *all = cap ? al_zone_malloc(c->zone, cap * sizeof *all) : NULL;
	if (cap && all == NULL)
		return al_err(c->err, AL_ENO_MEMORY, "out of memory");
	for (uint32_t i = 0; i < min->via.map.size; i++) {
		const msgpack_object_kv *m = &min->via.map.ptr[i];
		const msgpack_object *r = slot(req, &m->key.via.str);
		all[n++] = r && num(r) >= num(&m->val) ? (msgpack_object_kv){m->key, *r} : *m;
	}
	for (uint32_t i = 0; i < req->via.map.size; i++)
		if (!slot(min, &req->via.map.ptr[i].key.via.str))
			all[n++] = req->via.map.ptr[i];
	al_pack_kv_sorted(pk, all, n);
	return AL_OK;
}

/* ---- the command ----------------------------------------------------------------------------- */

static void created_fields(const req *q, al_mb *f)
{
	al_mb_str(f, "name", q->name.p, q->name.n);
	al_mb_str(f, "type", q->type.p, q->type.n);
	al_mb_str(f, "cluster_mode", q->mode.p, q->mode.n);
	al_mb_int(f, "cluster_size", q->size);
	al_mb_str(f, "user", q->u.email.p, q->u.email.n);
	al_mb_str(f, "user_id", q->u.id.p, q->u.id.n);
	al_mb_str(f, "access_key", q->access_key.p, q->access_key.n);
	al_mb_str(f, "domain", q->u.domain.p, q->u.domain.n);
	al_mb_str(f, "project", q->project.p, q->project.n);
	al_mb_str(f, "project_id", q->project_id.p, q->project_id.n);
	al_mb_str(f, "group", q->group.p, q->group.n);
	al_mb_str(f, "image", q->img.name.p, q->img.name.n);
	al_mb_str(f, "architecture", q->img.arch.p, q->img.arch.n);
	al_mb_str(f, "registry", q->img.registry.p, q->img.registry.n);
	if (q->starts_at)
		al_mb_int(f, "starts_at", q->starts_at);
	if (q->deps && q->deps->via.array.size)
		al_mb_obj(f, "depends_on", q->deps);
	if (q->batch_timeout)
		al_mb_int(f, "batch_timeout", q->batch_timeout);
}

/* The checks that read the views, in the platform's order. */
static int check_all(al_cmd *c, req *q, al_repack *min)
{
	int rc;
	if ((rc = find_owner(c, q)) || (rc = al__domain_require_active(c, "domain", q->u.domain)) ||
	    (rc = check_project(c, q)) || (rc = al__image_for_session(c, q->image, &q->img, &min->pk)) ||
	    (rc = check_image_use(c, q)))
		return rc;
	al_rgroup_use use = {q->u.domain, q->project, q->project_id, q->access_key, q->type};
	if ((rc = al__rgroup_check_use(c, q->group, &use)) || (rc = check_cluster_size(c, q)))
		return rc;
	return check_unique_and_deps(c, q);
}

int al__session_create(al_cmd *c)
{
	req q = {0};
	al_repack asked, min;
	msgpack_object asked_m, min_m;
	al_mb f;
	al_repack_init(&asked);
	al_repack_init(&min);
	al_mb_init(&f);
	int rc = read_args(c, &q);
	if (rc == AL_OK)
		rc = al__slots_pack(c->err, "resources", q.resources, &asked.pk);
	if (rc == AL_OK)
		rc = check_all(c, &q, &min);
	if (rc == AL_OK && (al_repack_decode(&asked, &asked_m) != 0 || al_repack_decode(&min, &min_m) != 0))
		rc = al_err(c->err, AL_ENO_MEMORY, "out of memory");
	if (rc == AL_OK) {
		created_fields(&q, &f);
		msgpack_pack_object(al_mb_key(&f, "requested"), asked_m);
		rc = pack_adjusted(c, &asked_m, &min_m, al_mb_key(&f, "resources"));
	}
	if (rc == AL_OK)
		rc = al__emit(c, AL_EV_SESSION_CREATED, q.id, &f);
	al_mb_free(&f);
	al_repack_destroy(&asked);
	al_repack_destroy(&min);
	if (rc)
		return rc;
	al_sess_row r;
	if ((rc = al__session_find(c, q.id, &r)) != 1)
		return rc < 0 ? rc : al_err(c->err, AL_EINTERNAL, "session %.*s: not in the view after its event", al__clip(q.id.n), q.id.p);
	al__session_pack_public(c, &r, c->out);
	return AL_OK;
}
