/*
 * export.c - CSV exports of the admin lists (the guide's "export CSV" of users, credentials,
 * resource policies and sessions). An export is the list command it names, run with al_exec_stream under
 * the caller's rights, each row written as a CSV record as it arrives: the same visibility
 * rules as the list, one read transaction, and never more than one row in memory. Columns
 * are fixed per export and never include a secret, a hash or a TOTP key.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "util/argpack.h"
#include "util/codec.h"
#include "util/csv.h"

typedef struct column column;
struct column {
	const char *header, *key;
	/* A computed cell (the sessions export); NULL: the row's value under key, as it is. */
	void (*cell)(al_csv *w, const msgpack_object *row, const column *c);
};

typedef struct export_def {
	const char *what, *op;
	const column *cols;
	/* Columns decided when the export starts (one per accelerator the cluster has): written
	 * into cols[0..max) with their names in buf; the count, or -1. NULL: cols is the list. */
	int (*columns)(al_store *s, column *cols, size_t max, char *buf, size_t n);
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

/* ---- sessions: the platform's session export (§11.2) ----------------------------------------- */

/* The image without its registry: stable/python:3.11. */
static void cell_image(al_csv *w, const msgpack_object *row, const column *c)
{
	al_str v = {"", 0}, reg = {"", 0};
	al_mp_str(row, c->key, &v);
	al_mp_str(row, "registry", &reg);
	if (reg.n && v.n > reg.n && memcmp(v.p, reg.p, reg.n) == 0 && v.p[reg.n] == '/')
		v.p += reg.n + 1, v.n -= reg.n + 1;
	al_csv_field(w, v.p, v.n);
}

/* A slot the session occupied (all its containers, as the scheduler placed them); 0 for a
 * session never placed. */
static double occupied(const msgpack_object *row, const char *slot)
{
	const msgpack_object *v = al_mp_get(al_mp_get(row, "occupied"), slot);
	return v == NULL ? 0
	       : v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32 ? v->via.f64
	       : v->type == MSGPACK_OBJECT_POSITIVE_INTEGER				 ? (double)v->via.u64
											 : 0;
}

static void cell_number(al_csv *w, const char *fmt, double d)
{
	char buf[64];
	int n = snprintf(buf, sizeof buf, fmt, d);
	al_csv_field(w, buf, (size_t)n);
}

static void cell_cpu(al_csv *w, const msgpack_object *row, const column *c)
{
	cell_number(w, "%.0f", (double)(int64_t)occupied(row, c->key)); /* the platform's int */
}

static void cell_gib(al_csv *w, const msgpack_object *row, const column *c)
{
	cell_number(w, "%.2f", occupied(row, c->key) / (1024.0 * 1024 * 1024));
}

static void cell_slot(al_csv *w, const msgpack_object *row, const column *c)
{
	char buf[32];
	const char *t = al_double_str(occupied(row, c->key), buf, sizeof buf);
	al_csv_field(w, t, strlen(t));
}

/* The agents, each once. */
static void cell_agents(al_csv *w, const msgpack_object *row, const column *c)
{
	const msgpack_object *a = al_mp_get(row, c->key);
	char buf[2048];
	size_t n = 0;
	for (uint32_t i = 0; a && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size; i++) {
		const msgpack_object *x = &a->via.array.ptr[i];
		bool seen = x->type != MSGPACK_OBJECT_STR;
		for (uint32_t j = 0; j < i && !seen; j++) {
			const msgpack_object *y = &a->via.array.ptr[j];
			seen = y->type == MSGPACK_OBJECT_STR && y->via.str.size == x->via.str.size &&
			       memcmp(y->via.str.ptr, x->via.str.ptr, x->via.str.size) == 0;
		}
		if (!seen && n + x->via.str.size + 2 < sizeof buf)
			n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%.*s", n ? "," : "", (int)x->via.str.size, x->via.str.ptr);
	}
	al_csv_field(w, buf, n);
}

static const column session_cols[] = {
	{"id", "id", NULL},
	{"name", "name", NULL},
	{"image", "image", cell_image},
	{"cluster_mode", "cluster_mode", NULL},
	{"user_email", "user", NULL},
	{"status", "status", NULL},
	{"status_info", "status_info", NULL},
	{"access_key", "access_key", NULL},
	{"cpu_slot", "cpu", cell_cpu},
	{"mem_slot", "mem", cell_gib},
	{"", NULL, NULL}, /* the accelerator columns go here */
	{"created_at", "created_at", NULL},
	{"terminated_at", "terminated_at", NULL},
	{"agents", "agents", cell_agents},
	{NULL, NULL, NULL},
};

/* Reads the agents' slot names only (which columns the export has), whoever exports. */
static const al_actor export_actor = {"local:export", AL_ROLE_SUPERADMIN, NULL, NULL, NULL, NULL, NULL};

static int cmp_name(const void *a, const void *b) { return strcmp(a, b); }

/* The accelerator slots of the cluster (every slot but cpu and mem any agent has, terminated
 * ones included), sorted, each once, into names (n of them at most). */
static int accelerators(al_store *s, char names[][64], int max)
{
	int n = 0;
	for (int terminated = 0; terminated < 2; terminated++) {
		msgpack_sbuffer args;
		msgpack_sbuffer_init(&args);
		if (al_args_pack(&args, "terminated", 'b', terminated, NULL) != 0)
			return -1;
		al_request req = {"agent.list", args.data, args.size, &export_actor};
		al_reply rep = {0};
		msgpack_zone z;
		msgpack_object o;
		msgpack_zone_init(&z, 4096);
		int rc = al_exec(s, &req, &rep);
		if (rc == AL_OK && al_mp_decode(rep.result, rep.result_len, &z, &o) == 0 && o.type == MSGPACK_OBJECT_ARRAY)
			for (uint32_t i = 0; i < o.via.array.size; i++) {
				const msgpack_object *av = al_mp_get(&o.via.array.ptr[i], "available");
				for (uint32_t k = 0; av && av->type == MSGPACK_OBJECT_MAP && k < av->via.map.size; k++) {
					al_str sn = {av->via.map.ptr[k].key.via.str.ptr, av->via.map.ptr[k].key.via.str.size};
					if (av->via.map.ptr[k].key.type != MSGPACK_OBJECT_STR || al_str_eq(sn, "cpu") ||
					    al_str_eq(sn, "mem") || sn.n >= 64)
						continue;
					int j = 0;
					while (j < n && !(strlen(names[j]) == sn.n && memcmp(names[j], sn.p, sn.n) == 0))
						j++;
					if (j == n && n < max)
						al_str_cpy(names[n++], 64, sn);
				}
			}
		msgpack_zone_destroy(&z);
		al_reply_free(&rep);
		msgpack_sbuffer_destroy(&args);
		if (rc)
			return -1;
	}
	qsort(names, (size_t)n, sizeof *names, cmp_name);
	return n;
}

#define MAX_ACCEL 16

/* The fixed columns with one per accelerator slot in the gap: cuda.device as cuda_device. */
static int session_columns(al_store *s, column *cols, size_t max, char *buf, size_t n)
{
	char names[MAX_ACCEL][64];
	int na = accelerators(s, names, MAX_ACCEL);
	if (na < 0 || n < (size_t)na * 128)
		return -1;
	size_t k = 0;
	for (const column *c = session_cols; c->header; c++) {
		if (*c->header) {
			if (k < max)
				cols[k++] = *c;
			continue;
		}
		for (int i = 0; i < na && k < max; i++) {
			char *h = buf + (size_t)i * 128, *key = h + 64;
			snprintf(key, 64, "%s", names[i]);
			snprintf(h, 64, "%s", names[i]);
			for (char *p = h; *p; p++)
				*p = *p == '.' ? '_' : *p;
			cols[k++] = (column){h, key, cell_slot};
		}
	}
	if (k == max)
		return -1;
	cols[k] = (column){NULL, NULL, NULL};
	return (int)k;
}

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
	{"sessions", "session.list", NULL, session_columns},
	{NULL, NULL, NULL, NULL},
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
		if (c->cell)
			c->cell(&k->w, row, c);
		else if (v)
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
	column cols[64];
	char names[MAX_ACCEL * 128];
	if (e->columns && e->columns(s, cols, sizeof cols / sizeof *cols, names, sizeof names) < 0)
		return al_err(err, AL_EINTERNAL, "export %s: its columns could not be decided", what);
	if (e->columns)
		k.cols = cols;
	al_csv_init(&k.w, out);
	int rc = al_exec_stream(s, &req, write_row, &k, err);
	if (rc == AL_OK && !k.header)
		write_header(&k);
	if (rc == AL_OK && (fflush(out) != 0 || al_csv_error(&k.w)))
		rc = al_err(err, AL_EIO_ERROR, "export: writing the CSV failed");
	return rc;
}
