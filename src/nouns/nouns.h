/*
 * nouns.h - what one admin noun module offers the others (the command handlers themselves
 * are declared by cmd.h from schemas/commands.def). Every function here that emits does its
 * checks first, so a refusal has written nothing.
 */
#ifndef AL_NOUNS_H
#define AL_NOUNS_H

#include "core/cmd.h"
#include "core/rows.h"
#include "util/slotvec.h"

/* ---- settings (settings.c) ----------------------------------------------------------------- */
/* Reads a setting into buf as a NUL-terminated string; def when unset (def NULL: the key's
 * built-in default, see al__setting_default). txn may be NULL (a read transaction of its own).
 * AL_OK, or the error that kept it from being read (buf then holds def). */
int al__setting_get(al_store *s, MDB_txn *txn, const char *key, char *buf, size_t n, const char *def,
		    al_error *err);

/* ---- domains (domains.c) ------------------------------------------------------------------- */
bool al__domain_exists(al_cmd *c, al_str name);
/* The stored row of domain name (see domains.c), decoded in c->zone; its strings point into
 * the view, so copy what must outlive an emit. 1 found, 0 not found, or a negative al_ code. */
int al__domain_row(al_cmd *c, al_str name, msgpack_object *row);
/* An existing, active domain, else invalid_argument naming field. */
int al__domain_require_active(al_cmd *c, const char *field, al_str name);
int al__domain_emit_created(al_cmd *c, al_str name, al_str description);
/* Shared by domains and projects: parses the optional arguments total_resource_slots,
 * allowed_hosts and allowed_registries into f as the event fields total_resource_slots,
 * allowed_vfolder_hosts and allowed_docker_registries. With cur (a stored row) only those that
 * differ from it are added. Returns how many were added, or a negative al_ code (the message
 * names the argument). */
int al__resource_fields(al_cmd *c, const msgpack_object *cur, al_mb *f);
/* For images: the allowed_docker_registries array of domain name in *list (strings live in
 * the command's zone or the view). 1 found, 0 not found, or a negative al_ code. */
int al__domain_registries(al_cmd *c, al_str name, msgpack_object *list);

/* ---- resource policies (policies.c) -------------------------------------------------------- */
enum al_policy_kind { AL_POLICY_KEYPAIR, AL_POLICY_USER, AL_POLICY_PROJECT };
/* AL_OK when a policy of kind k named name exists, else invalid_argument naming field. */
int al__policy_require(al_cmd *c, enum al_policy_kind k, const char *field, al_str name);
/* Bootstrap: the unlimited "default" policy of each kind (a kind whose default exists is
 * skipped, so a second run records nothing). */
int al__policy_emit_defaults(al_cmd *c);
/* The max_quota_size of user or project resource policy name (the default quota of the
 * storage issue): bytes, or -1 when unlimited. 1 found, 0 not found, or a negative al_ code
 * (invalid_argument for AL_POLICY_KEYPAIR, which has no quota). */
/* The stored row of a policy (a map: each option a number or "unlimited", allowed_hosts a
 * map host -> [perms]), decoded in z. 1 found, 0 not found, or a negative al_ code. */
int al__policy_row(al_store *s, MDB_txn *txn, enum al_policy_kind k, al_str name, msgpack_zone *z,
		   msgpack_object *row, al_error *err);
int al__policy_quota(al_store *s, MDB_txn *txn, enum al_policy_kind k, al_str name, int64_t *bytes,
		     al_error *err);
/* What keypair policy row pol allows of slot: cpu from cpu, mem from ram_gb (GiB), cuda.device
 * from gpu, cuda.shares from fgpu, any other slot by default_for_unspecified (limited: 0).
 * False when unlimited. */
bool al__policy_slot_limit(const msgpack_object *pol, al_str slot, double *limit);

/* ---- users (users.c) ----------------------------------------------------------------------- */
typedef struct al_user_new {
	al_str id, email, username, password_hash, full_name, description, domain, role, status;
	al_str resource_policy, allowed_client_ip; /* "" = default policy / any address */
	bool need_password_change;
} al_user_new;
/* Validates u against the rules and the views (uniqueness, domain), then records it. */
int al__user_emit_created(al_cmd *c, const al_user_new *u);
/* Packs the public view of a user (never its hash) onto c->out. */
int al__user_pack_public(al_cmd *c, al_str email);
/* How many users follow user resource policy name. */
int al__users_count_policy(al_cmd *c, al_str name, uint64_t *n);

/* What login and keypair authentication need to know about a user. */
typedef struct al_user_auth {
	al_str id, email, password_hash, status, role, domain, allowed_client_ip, main_access_key;
	al_str resource_policy; /* the user resource policy (storage quota, folder count) */
} al_user_auth;
/* 1 found, 0 not found, or a negative al_ code. Strings live in zone. */
int al__user_auth_info(al_store *s, MDB_txn *txn, al_str email, al_user_auth *out, msgpack_zone *z,
		       al_error *err);

/* ---- keypairs (keypairs.c) ----------------------------------------------------------------- */
#define AL_ACCESS_KEY_LEN 20
#define AL_SECRET_KEY_LEN 40
/* Prepare step of every command that creates a keypair: generates (or, when args carry
 * access_key / secret_key, checks the format of) the pair and packs "access_key",
 * "secret_key" (plaintext, shown once, never stored) and "secret_key_sealed" into out. */
int al__keypair_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err);
typedef struct al_keypair_new {
	al_str access_key, secret_key_sealed, user_email, user_id, resource_policy;
	int64_t rate_limit;
	bool is_admin, is_active, is_main;
} al_keypair_new;
/* Validates (unused access key, policy exists, rate limit) and records keypair.created. */
int al__keypair_emit_created(al_cmd *c, const al_keypair_new *k);
/* Records keypair.deactivated for every active keypair of the user. */
int al__keypairs_deactivate_user(al_cmd *c, al_str email);
/* Records keypair.updated for every keypair of the user whose admin flag differs. */
int al__keypairs_sync_admin(al_cmd *c, al_str email, bool is_admin);
/* How many keypairs follow keypair resource policy name. */
int al__keypairs_count_policy(al_cmd *c, al_str name, uint64_t *n);

typedef struct al_keypair_info {
	al_str access_key, user, secret_key_sealed, resource_policy;
	int64_t rate_limit;
	bool is_active, is_admin;
} al_keypair_info;
/* 1 found, 0 not found (or deleted), or a negative al_ code. Strings live in zone. */
int al__keypair_info(al_store *s, MDB_txn *txn, al_str access_key, al_keypair_info *out, msgpack_zone *z,
		     al_error *err);
/* The user's main keypair when active, else its first active one (admin keypairs first);
 * 0 when it has none. */
int al__keypair_of_user(al_store *s, MDB_txn *txn, al_str email, al_keypair_info *out, msgpack_zone *z,
			al_error *err);

/* ---- projects (projects.c) ----------------------------------------------------------------- */
/* The id of project name in domain, else invalid_argument naming field. */
int al__project_require(al_cmd *c, const char *field, al_str domain, al_str name, al_str *id);
/* A project by domain and name, active or not: *id (kept in c->zone) and its stored row
 * (see projects.c; strings point into the view). 1 found, 0 not found, or a negative code. */
int al__project_find(al_cmd *c, al_str domain, al_str name, al_str *id, msgpack_object *row);
/* The stored row of the project with this id. 1 found, 0 not found, or a negative code. */
int al__project_row(al_cmd *c, al_str id, msgpack_object *row);
/* Whether email is a member of the project with this id. */
bool al__project_has_member(al_cmd *c, al_str id, al_str email);
/* Records project.member_added / project.member_removed (nothing when already so). */
int al__project_emit_member(al_cmd *c, al_str project_id, al_str email, bool add);
/* Records member removal from every project of the user (a domain change). */
int al__projects_leave_all(al_cmd *c, al_str email);
/* Project name in domain, active or not (for commands that must reach inactive ones too): its
 * id (in c->zone) and whether it is active. 1 found, 0 not found, or a negative al_ code. */
int al__project_lookup(al_cmd *c, al_str domain, al_str name, al_str *id, bool *active);
/* The project with this id: its domain and name (in c->zone) and whether it is active.
 * 1 found, 0 not found, or a negative al_ code. */
int al__project_by_id(al_cmd *c, al_str id, al_str *domain, al_str *name, bool *active);
/* How many projects follow project resource policy name. */
int al__projects_count_policy(al_cmd *c, al_str name, uint64_t *n);
/* Packs an array of the names of the projects email belongs to. */
int al__user_projects_pack(al_cmd *c, al_str email, msgpack_packer *pk);
/* The same names joined by ';' into buf (for CSV). */
int al__user_projects_join(al_cmd *c, al_str email, char *buf, size_t n);
/* Bootstrap: project "default" in domain "default" (general, policy "default", which must
 * exist), the given member in it. id is the project's UUID from the caller's prepare step. */
int al__project_emit_default(al_cmd *c, al_str id, al_str member_email);
/* For images: calls fn with each registry hostname an active project of user email allows
 * (repeats possible); stops at and returns fn's first non-zero value. */
int al__user_project_registries(al_cmd *c, al_str email, int (*fn)(al_cmd *c, al_str host, void *ctx), void *ctx);

/* ---- two-factor authentication (totp.c) ---------------------------------------------------- */
/* Which code was accepted: its time step, and which key (an id of the sealed key). */
#define AL_TOTP_KEY_ID_LEN 16
typedef struct al_totp_use {
	int64_t step;
	unsigned char key[AL_TOTP_KEY_ID_LEN];
} al_totp_use;
/* The same for a listing: *on, or the error that kept the row from being read. */
int al__totp_state(al_store *s, MDB_txn *txn, al_str email, bool *on, al_error *err);
/* AL_OK when code is valid for email's active TOTP key at now_us (+-1 step), else
 * AL_EUNAUTHENTICATED; *use (when not NULL) then says which code it was. Uses nothing up. */
int al__totp_check(al_store *s, MDB_txn *txn, al_str email, al_str code, int64_t now_us, al_totp_use *use,
		   al_error *err);
/* A code is good once (RFC 6238 §5.2): AL_OK and use remembered when no code of that key and time
 * step or a later one was accepted for email in this process (at a login or by
 * user.2fa.confirm), else AL_EUNAUTHENTICATED. */
int al__totp_consume(al_store *s, al_str email, const al_totp_use *use, al_error *err);

/* ---- resource groups (rgroups.c) ----------------------------------------------------------- */
/* An existing, active resource group, else invalid_argument naming field. */
int al__rgroup_require(al_cmd *c, const char *field, al_str name);
/* Bootstrap: resource group "default" (FIFO, public, associated with domain "default", which
 * must exist: call it after the domain). A second run records nothing. */
int al__rgroup_emit_default(al_cmd *c);
/* The stored row of resource group name (active or not), decoded in c->zone: a map with name,
 * description, is_active, is_public, scheduler, allowed_session_types, pending_timeout,
 * retries_to_skip (-1: the retries-to-skip setting applies), wsproxy_addr, created_at,
 * modified_at. 1 found, 0 not found, or a negative al_ code. */
int al__rgroup_row(al_cmd *c, al_str name, msgpack_object *row);
#define AL_RETRIES_TO_SKIP_MAX 1000
/* For session.create: AL_OK when resource group name is active, associated with the session's
 * domain, project (its id) or owner keypair, and accepts its type (interactive, batch, inference,
 * system; a non-public group system sessions only); else invalid_argument naming "group". */
typedef struct al_rgroup_use {
	al_str domain, project, project_id, access_key, type;
} al_rgroup_use;
int al__rgroup_check_use(al_cmd *c, al_str name, const al_rgroup_use *u);

/* ---- agents (agents.c) --------------------------------------------------------------------- */
/* Installed images: agent.created always, and agent.updated when they changed, carry the field
 * "images", the sorted canonical names (registry/project/name:tag) an agent reported; a
 * projection that wants to know which agents have an image folds those two events. The public
 * row of an agent (agent.get, al__agents_each) has id, status (ALIVE, LOST, RESTARTING,
 * TERMINATED), schedulable, scaling_group, available, occupied and free (slot maps; occupied
 * from the sessions projection's v_occupancy), sessions (how many occupy it), images. */
/* How many agents (of any status, ever) belong to resource group group: its delete guard. */
int al__agents_count_group(al_cmd *c, al_str group, uint64_t *n);
/* Calls fn with the public row of each agent of group (all groups when group is empty). */
int al__agents_each(al_store *s, MDB_txn *txn, al_str group, al_row_fn fn, void *ctx, al_error *err);

/* ---- registries and images (registries.c, images.c, rescan.c) ------------------------------ */
/* An existing registry with this hostname, else invalid_argument naming field. */
int al__registry_require(al_cmd *c, const char *field, al_str hostname);
/* Bootstrap (optional; the guide: "cr.backend.ai is registered by default"): registry
 * cr.backend.ai, https://cr.backend.ai, harbor2, projects community, multiarch, stable. Records
 * nothing when it exists. */
int al__registry_emit_default(al_cmd *c);
/* The image rescan, for image.rescan and maintenance.rescan-images: use
 * al__image_rescan_prepare as the command's prepare step (it reads the optional arguments
 * "registry" (STR) and "timeout" (INT, seconds per request); without "registry" it scans every
 * registry; the network work and the password unsealing happen there, outside the transaction)
 * and call al__images_rescan_apply from the handler (it records image.scanned / image.gone and
 * packs the result on c->out). */
int al__image_rescan_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err);
int al__images_rescan_apply(al_cmd *c);
/* Progress of the rescan's prepare step on the calling thread: al_rescan_progress (adminlog.h). */
void al__rescan_set_progress(al_rescan_progress_fn fn, void *ctx);
/* For session.create: the image given (a canonical name or an alias; the command's
 * "architecture" argument picks one of several), as image.get resolves it (not_found, or
 * invalid_argument naming "architecture"). Fills out (strings in c->zone) and packs its
 * effective minimum resources (slot -> amount, keys sorted) on min. */
typedef struct al_image_use {
	al_str name, arch, registry, role; /* role: the ai.backend.role label, COMPUTE when none */
	bool gone;
} al_image_use;
int al__image_for_session(al_cmd *c, al_str given, al_image_use *out, msgpack_packer *min);

/* ---- storage hosts and quotas (storage.c) -------------------------------------------------- */
/* 1 when a storage host name ("proxy:volume") is registered (and whether its backend supports
 * quotas), 0 when not, or a negative al_ code. */
int al__storage_host(al_store *s, MDB_txn *txn, al_str name, bool *quota_supported, al_error *err);

/* ---- system settings (settings.c) ---------------------------------------------------------- */
/* Setting keys (adminctl settings get/set): image-auto-pull, overlay-mtu, scheduler,
 * retries-to-skip, session-creation-retries, timezone, project-folders, agent-heartbeat-timeout.
 * Read them with al__setting_get. Defaults are implicit (nothing is recorded at bootstrap): a key
 * never set reads as its default, digest, 1500, fifo, 0, 3, UTC, true and 40. Values are text:
 * integers in decimal, booleans true/false. */
/* The built-in default of key, or NULL for an unknown key. */
const char *al__setting_default(const char *key);
/* The schedulers: fifo, lifo, drf; NULL-terminated. */
extern const char *const al__schedulers[];

/* ---- compute sessions (sessions.c) --------------------------------------------------------- */
/* How many sessions, of any status, were created with access key ak: the keypair delete guard. */
int al__sessions_count_key(al_cmd *c, al_str ak, uint64_t *n);
/* How many sessions, of any status, ever ran in resource group g: its delete guard. */
int al__sessions_count_group(al_cmd *c, al_str g, uint64_t *n);
/* What the live sessions of a holder occupy (schemas/rows.def, v_occupancy): kind 'a' agent
 * id, 'k' access key, 'u' user email, 'p' project id, 'd' domain. 1 and *o (strings in c's
 * transaction), 0 when nothing was ever held (*o zero), or a negative al_ code. */
int al__session_occupancy(al_cmd *c, char kind, al_str holder, al_row_occupancy *o);
/* The same outside a command: strings in z and txn; messages in err. */
int al__occupancy_get(al_store *s, MDB_txn *txn, char kind, al_str holder, msgpack_zone *z, al_row_occupancy *o,
		      al_error *err);
/* The kind letter of a holder kind's name (agent, keypair, user, project, domain; 0 for
 * another), and back (NULL for another letter): how usage.recalculated names them. */
char al__occupancy_kind(al_str name);
const char *al__occupancy_kind_name(char kind);
/* Calls fn with every row of v_occupancy in key order (holder and row valid until fn
 * returns); stops at fn's first non-zero value and returns it. */
typedef int (*al_occupancy_fn)(char kind, al_str holder, const al_row_occupancy *o, void *ctx);
int al__occupancy_each(al_cmd *c, al_occupancy_fn fn, void *ctx);
/* What every live session holds now, recomputed from its state row as the sessions
 * projection counts it (not read from v_occupancy): fn gets one call per share, with pending
 * false for one occupying session's slots on holder (kind as above; system: a system
 * session's share on its keypair), true (slots NULL) for a PENDING session on its keypair.
 * Stops at fn's first non-zero value and returns it. maintenance recalculate-usage sums these
 * and compares them with v_occupancy. */
typedef int (*al_holding_fn)(char kind, al_str holder, bool pending, bool system, const al_slotvec *slots, void *ctx);
int al__sessions_fold_holdings(al_cmd *c, al_holding_fn fn, void *ctx);

/* ---- maintenance (maintenance.c) ----------------------------------------------------------- */
/* Whether two resource slot maps (slot -> number) differ; a missing slot counts as 0. */
bool al__slots_differ(const msgpack_object *a, const msgpack_object *b);

#endif
