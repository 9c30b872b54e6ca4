/*
 * export.c - CSV exports of the admin lists (the guide's "export CSV" of users, credentials and
 * resource policies). An export is the list command it names, run with al_exec_stream under
 * the caller's rights, each row written as a CSV record as it arrives: the same visibility
 * rules as the list, one read transaction, and never more than one row in memory. Columns
 * are fixed per export and never include a secret, a hash or a TOTP key.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "util/codec.h"
#include "util/csv.h"

typedef struct column {
	const char *header, *key;
} column;

typedef struct export_def {
	const char *what, *op;
	const column *cols;
} export_def;

static const column user_cols[] = {
	{"id", "id"},
	{"email", "email"},
	{"username", "username"},
	{"full_name", "full_name"},
	{"description", "description"},
	{"status", "status"},
	{"role", "role"},
	{"domain", "domain"},
	{"projects", "projects"},
	{"need_password_change", "need_password_change"},
	{"2fa_enabled", "totp_activated"},
	{"created_at", "created_at"},
	{NULL, NULL},
};

static const column keypair_cols[] = {
	{"access_key", "access_key"},
	{"user", "user"},
	{"is_active", "is_active"},
	{"is_admin", "is_admin"},
	{"resource_policy", "resource_policy"},
	{"rate_limit", "rate_limit"},
	{"created_at", "created_at"},
	{"last_used", "last_used"},
	{NULL, NULL},
};

/* Every option; unlimited is written "unlimited", allowed_hosts as JSON {host: [perms]}. */
static const column policy_cols[] = {
	{"name", "name"},
	{"default_for_unspecified", "default_for_unspecified"},
	{"cpu", "cpu"},
	{"ram_gb", "ram_gb"},
	{"gpu", "gpu"},
	{"fgpu", "fgpu"},
	{"containers_per_session", "containers_per_session"},
	{"idle_timeout", "idle_timeout"},
	{"concurrent_jobs", "concurrent_jobs"},
	{"session_lifetime", "session_lifetime"},
	{"capacity_gb", "capacity_gb"},
	{"max_folders", "max_folders"},
	{"max_pending_session_count", "max_pending_session_count"},
	{"max_concurrent_sftp_sessions", "max_concurrent_sftp_sessions"},
	{"allowed_hosts", "allowed_hosts"},
	{"created_at", "created_at"},
	{NULL, NULL},
};

static const column user_policy_cols[] = {
	{"name", "name"},
	{"max_folder_count", "max_folder_count"},
	{"max_quota_size", "max_quota_size"},
	{"max_session_count_per_model_session", "max_session_count_per_model_session"},
	{"max_customized_image_count", "max_customized_image_count"},
	{"created_at", "created_at"},
	{NULL, NULL},
};

static const column project_policy_cols[] = {
	{"name", "name"},
	{"max_folder_count", "max_folder_count"},
	{"max_quota_size", "max_quota_size"},
	{"created_at", "created_at"},
	{NULL, NULL},
};

/* Storage hosts: capabilities joined by ";"; used/capacity empty before the first usage report. */
static const column storage_cols[] = {
	{"name", "name"},
	{"backend", "backend"},
	{"mount", "mount"},
	{"quota_supported", "quota_supported"},
	{"capabilities", "capabilities"},
	{"used_bytes", "used_bytes"},
	{"capacity_bytes", "capacity_bytes"},
	{"created_at", "created_at"},
	{NULL, NULL},
};

static const column quota_cols[] = {
	{"host", "host"},
	{"quota_scope_id", "quota_scope_id"},
	{"scope_type", "scope_type"},
	{"user", "user"},
	{"project", "project"},
	{"domain", "domain"},
	{"hard_limit_gb", "hard_limit_gb"},
	{"set_at", "set_at"},
	{NULL, NULL},
};

static const column folder_cols[] = {
	{"id", "id"},
	{"name", "name"},
	{"host", "host"},
	{"ownership_type", "ownership_type"},
	{"user", "user"},
	{"project", "project"},
	{"domain", "domain"},
	{"permission", "permission"},
	{"creator", "creator"},
	{"created_at", "created_at"},
	{NULL, NULL},
};

/* Resource groups: lists joined with ';', projects as domain/name, retries_to_skip empty when
 * the retries-to-skip setting applies. */
static const column rgroup_cols[] = {
	{"name", "name"},
	{"description", "description"},
	{"is_active", "is_active"},
	{"is_public", "is_public"},
	{"scheduler", "scheduler"},
	{"allowed_session_types", "allowed_session_types"},
	{"pending_timeout", "pending_timeout"},
	{"retries_to_skip", "retries_to_skip"},
	{"wsproxy_addr", "wsproxy_addr"},
	{"domains", "domains"},
	{"projects", "projects"},
	{"keypairs", "keypairs"},
	{"created_at", "created_at"},
	{NULL, NULL},
};

/* Slot maps as JSON {slot: amount} (mem in bytes), images joined with ';'. */
static const column agent_cols[] = {
	{"id", "id"},
	{"status", "status"},
	{"schedulable", "schedulable"},
	{"scaling_group", "scaling_group"},
	{"addr", "addr"},
	{"region", "region"},
	{"architecture", "architecture"},
	{"agent_version", "agent_version"},
	{"available", "available"},
	{"occupied", "occupied"},
	{"free", "free"},
	{"images", "images"},
	{"first_contact", "first_contact"},
	{"status_changed", "status_changed"},
	{"lost_at", "lost_at"},
	{NULL, NULL},
};

static const column preset_cols[] = {
	{"name", "name"},
	{"resource_slots", "resource_slots"},
	{"shared_memory", "shared_memory"},
	{"created_at", "created_at"},
	{"modified_at", "modified_at"},
	{NULL, NULL},
};

/* Never the password: password_set says whether one is stored. */
static const column registry_cols[] = {
	{"hostname", "hostname"},
	{"url", "url"},
	{"type", "type"},
	{"project", "project"},
	{"username", "username"},
	{"password_set", "password_set"},
	{"ssl_verify", "ssl_verify"},
	{"created_at", "created_at"},
	{NULL, NULL},
};

/* resources as JSON {slot: {min, max}}; no labels (image get has them). */
static const column image_cols[] = {
	{"name", "name"},
	{"architecture", "architecture"},
	{"registry", "registry"},
	{"project", "project"},
	{"image", "image"},
	{"tag", "tag"},
	{"config_digest", "config_digest"},
	{"size_bytes", "size_bytes"},
	{"type", "type"},
	{"base_distro", "base_distro"},
	{"role", "role"},
	{"accelerators", "accelerators"},
	{"resources", "resources"},
	{"aliases", "aliases"},
	{"installed", "installed"},
	{"gone", "gone"},
	{"created_at", "created_at"},
	{NULL, NULL},
};

static const export_def exports[] = {
	{"users", "user.list", user_cols},
	{"keypairs", "keypair.list", keypair_cols},
	{"policies", "policy.list", policy_cols},
	{"user-policies", "user-policy.list", user_policy_cols},
	{"project-policies", "project-policy.list", project_policy_cols},
	{"storage", "storage.list", storage_cols},
	{"quotas", "quota.list", quota_cols},
	{"folders", "folder.list", folder_cols},
	{"rgroups", "rgroup.list", rgroup_cols},
	{"agents", "agent.list", agent_cols},
	{"presets", "preset.list", preset_cols},
	{"registries", "registry.list", registry_cols},
	{"images", "image.list", image_cols},
	{NULL, NULL, NULL},
};

static const export_def *find(const char *what)
{
	for (const export_def *e = exports; what && e->what; e++)
		if (strcmp(e->what, what) == 0)
			return e;
	return NULL;
}

const char *al_export_op(const char *what)
{
	const export_def *e = find(what);
	return e ? e->op : NULL;
}

/* The names joined with ", ", from the table: a new export needs no other change. */
static char names[512];

static void join_names(void)
{
	size_t n = 0;
	for (const export_def *e = exports; e->what; e++)
		n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", n ? ", " : "", e->what);
}

const char *al_export_names(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, join_names);
	return names;
}

typedef struct sink {
	al_csv w;
	const column *cols;
	bool header; /* written */
} sink;

static void write_header(sink *k)
{
	for (const column *c = k->cols; c->header; c++)
		al_csv_cfield(&k->w, c->header);
	al_csv_end_record(&k->w);
	k->header = true;
}

static int write_row(const msgpack_object *row, void *ctx)
{
	sink *k = ctx;
	if (!k->header)
		write_header(k);
	for (const column *c = k->cols; c->header; c++) {
		const msgpack_object *v = al_mp_get(row, c->key);
		if (v)
			al_csv_value(&k->w, v);
		else
			al_csv_field(&k->w, "", 0);
	}
	al_csv_end_record(&k->w);
	return al_csv_error(&k->w) ? AL_EIO_ERROR : 0;
}

/* The header goes with the first row, or once the list has succeeded with none: the list
 * command checks its filters and the actor's rights before its first row, so a refused export
 * writes nothing at all (a streaming client would otherwise get data, then the refusal). */
int al_export_csv(al_store *s, const char *what, const al_request *list_req, FILE *out, al_error *err)
{
	const export_def *e = find(what);
	if (e == NULL)
		return al_err(err, AL_EINVALID_ARGUMENT, "export: unknown list '%.32s' (%s)", what ? what : "",
			      al_export_names());
	al_request req = *list_req;
	req.op = e->op;
	sink k = {.cols = e->cols};
	al_csv_init(&k.w, out);
	int rc = al_exec_stream(s, &req, write_row, &k, err);
	if (rc == AL_OK && !k.header)
		write_header(&k);
	if (rc == AL_OK && (fflush(out) != 0 || al_csv_error(&k.w)))
		rc = al_err(err, AL_EIO_ERROR, "export: writing the CSV failed");
	return rc;
}
