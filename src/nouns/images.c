/*
 * images.c - images: what rescans found in the registries (rescan.c does the network part), the
 * minimum resources their labels define and administrators may raise (or, with force, lower),
 * aliases, and the agents that have them installed (platform model §9.1, §9.3, §12.2).
 *
 * An image is one architecture of a canonical name "registry/project/name:tag"; the entity id
 * of its events is the canonical name (every architecture of a name shares it), each event
 * naming its architecture. Images gone from their registry (or whose registry was deleted)
 * stay listed, marked gone, until a rescan finds them again.
 *
 * Views:
 *   v_images           name "\0" architecture -> {name, architecture, registry, project,
 *                      image, tag, config_digest, size_bytes, type, labels, accelerators,
 *                      label_min, min_override, gone, created_at, modified_at}
 *   v_image_aliases    "a" alias -> name, and "n" name "\0" alias -> "" (both directions)
 *   v_image_installed  "n" name "\0" agent -> "", and "a" agent "\0" name -> "": folded from
 *                      the agents' events that carry a field "images" (the canonical names the
 *                      agent has, the whole list each time), cleared when it terminates.
 *
 * Minimum resources: label_min holds what the labels define (ai.backend.resource.min.*, over
 * the defaults cpu 1 and mem 1 GiB); min_override what image set-min set. The effective
 * minimum of a slot is its override, else its label minimum. set-min refuses a value below the
 * label minimum unless force is given (the guide's warning), and records force.
 *
 * Who sees what: a superadmin every image; anyone else the images of the registries their
 * domain or one of their active projects allows (allowed_docker_registries), as the platform
 * filters image lists by the allowed registries.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/authz.h"
#include "nouns/images.h"
#include "util/resources.h"
#include "util/row.h"

enum { DB_IMAGES, DB_ALIASES, DB_INSTALLED };

#define KEY_MAX 511   /* LMDB's default key limit */
#define ALIAS_MAX 255
#define AGENT_ID_MAX 64

static int clip(size_t n) { return n > 80 ? 80 : (int)n; }

static al_str ostr(const msgpack_object *o)
{
	return o && o->type == MSGPACK_OBJECT_STR ? (al_str){o->via.str.ptr, o->via.str.size} : (al_str){"", 0};
}

static bool str_eq(al_str a, al_str b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

/* A msgpack number as a double (0 for anything else). */
static double num(const msgpack_object *o)
{
	if (o == NULL)
		return 0;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER: return (double)o->via.u64;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return (double)o->via.i64;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return o->via.f64;
	default: return 0;
	}
}

static bool is_num(const msgpack_object *o)
{
	return o && (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
		     o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64);
}

/* ---- projection ------------------------------------------------------------------------------------ */

/* The union of two slot maps (over wins), sorted by slot, onto pk. */
static int pack_merged(msgpack_packer *pk, const msgpack_object *base, const msgpack_object *over, msgpack_zone *z)
{
	uint32_t nb = base && base->type == MSGPACK_OBJECT_MAP ? base->via.map.size : 0;
	uint32_t no = over && over->type == MSGPACK_OBJECT_MAP ? over->via.map.size : 0;
	msgpack_object_kv *all = nb + no ? al_zone_malloc(z, (nb + no) * sizeof *all) : NULL;
	if (nb + no && all == NULL)
		return AL_ENO_MEMORY;
	uint32_t n = 0;
	for (uint32_t i = 0; i < no; i++)
		if (over->via.map.ptr[i].key.type == MSGPACK_OBJECT_STR)
			all[n++] = over->via.map.ptr[i];
	for (uint32_t i = 0; i < nb; i++) {
		const msgpack_object_kv *kv = &base->via.map.ptr[i];
		bool shadowed = kv->key.type != MSGPACK_OBJECT_STR;
		for (uint32_t k = 0; k < no && !shadowed; k++)
			shadowed = al_kv_cmp(kv, &over->via.map.ptr[k]) == 0;
		if (!shadowed)
			all[n++] = *kv;
	}
	al_pack_kv_sorted(pk, all, n);
	return AL_OK;
}

static int load_image(const al_view *v, const char *key, size_t kn, msgpack_object *row, const al_event *e,
		      al_error *err)
{
	MDB_val val;
	if (al__view_get(v, DB_IMAGES, key, kn, &val) != 0 || al_mp_decode(val.mv_data, val.mv_size, &v->w->zone, row) != 0)
		return al_err(err, AL_ECORRUPT, "event %llu: %s for an unknown image %.*s", (unsigned long long)e->seq,
			      e->def->name, clip(e->id.n), e->id.p);
	return AL_OK;
}

/* image.scanned / image.gone / image.min_set: the new row. */
static int apply_image(const al_view *v, const al_event *e, al_error *err)
{
	const al_event_def *d = e->def;
	bool scanned = d == al__ev(AL_EV_IMAGE_SCANNED);
	al_str arch = {"", 0};
	al_mp_str(&e->fields, "architecture", &arch);
	char key[KEY_MAX];
	size_t kn = al__key2(key, KEY_MAX, 0, e->id, arch);
	if (kn == 0 || e->id.n == 0 || arch.n == 0)
		return al_err(err, AL_ECORRUPT, "event %llu: bad image name or architecture", (unsigned long long)e->seq);
	msgpack_object base, *bp = NULL;
	MDB_val val;
	int64_t created_at = e->time_us;
	if (!scanned || al__view_get(v, DB_IMAGES, key, kn, &val) == 0) {
		int rc = load_image(v, key, kn, &base, e, err);
		if (rc)
			return rc;
		bp = &base;
		al_mp_int(bp, "created_at", &created_at);
	}
	/* a scan replaces the scanned columns; the others come from the old row */
	const msgpack_object *src = scanned ? &e->fields : bp;
	msgpack_packer pk;
	msgpack_sbuffer *b = al__view_row(v, &pk);
	msgpack_pack_map(&pk, 16);
	al_pack_cstr(&pk, "name");
	al_pack_str(&pk, e->id.p, e->id.n);
	al_pack_cstr(&pk, "architecture");
	al_pack_str(&pk, arch.p, arch.n);
	static const char *const str_cols[] = {"registry", "project", "image", "tag", "config_digest"};
	for (size_t i = 0; i < sizeof str_cols / sizeof *str_cols; i++)
		al__row_col(&pk, str_cols[i], 's', NULL, src);
	al__row_col(&pk, "size_bytes", 'i', NULL, src);
	al__row_col(&pk, "type", 's', NULL, src);
	al__row_col(&pk, "labels", 'm', NULL, src);
	al__row_col(&pk, "accelerators", 'a', NULL, src);
	al__row_col(&pk, "label_min", 'm', NULL, src);
	if (d == al__ev(AL_EV_IMAGE_MIN_SET)) {
		al_pack_cstr(&pk, "min_override");
		int rc = pack_merged(&pk, al_mp_get(bp, "min_override"), al_mp_get(&e->fields, "min"), &v->w->zone);
		if (rc)
			return al_err(err, rc, "out of memory");
	} else
		al__row_col(&pk, "min_override", 'm', NULL, bp); /* kept across scans */
	al_pack_cstr(&pk, "gone");
	bool gone = false;
	if (d == al__ev(AL_EV_IMAGE_GONE))
		gone = true;
	else if (!scanned && bp)
		al_mp_bool(bp, "gone", &gone);
	gone ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	al__row_times(&pk, created_at, e->time_us);
	return al__view_put(v, DB_IMAGES, key, kn, b->data, b->size, err);
}

/* image.aliased / image.dealiased: both directions of the alias index. */
static int apply_alias(const al_view *v, const al_event *e, al_error *err)
{
	al_str alias = {"", 0};
	al_mp_str(&e->fields, "alias", &alias);
	char ka[KEY_MAX], kn[KEY_MAX];
	size_t na = alias.n && alias.n < KEY_MAX ? alias.n + 1 : 0, nn = al__key2(kn, KEY_MAX, 'n', e->id, alias);
	if (na == 0 || nn == 0)
		return al_err(err, AL_ECORRUPT, "event %llu: bad alias", (unsigned long long)e->seq);
	ka[0] = 'a';
	memcpy(ka + 1, alias.p, alias.n);
	if (e->def == al__ev(AL_EV_IMAGE_DEALIASED)) {
		int rc = al__view_del(v, DB_ALIASES, ka, na, err);
		return rc ? rc : al__view_del(v, DB_ALIASES, kn, nn, err);
	}
	int rc = al__view_put(v, DB_ALIASES, ka, na, e->id.p, e->id.n, err);
	return rc ? rc : al__view_put(v, DB_ALIASES, kn, nn, "", 0, err);
}

/* An agent event with a field "images" (the whole list of what the agent has: agent.created,
 * agent.updated, and agent.status_changed when a terminated agent comes back) replaces the
 * agent's installed images; agent.status_changed to TERMINATED clears them. */
static int apply_agent(const al_view *v, const al_event *e, al_error *err)
{
	const msgpack_object *imgs = al_mp_get(&e->fields, "images");
	al_str status = {"", 0};
	bool terminated = e->def == al__ev(AL_EV_AGENT_STATUS_CHANGED) &&
			  al_mp_str(&e->fields, "status", &status) == 1 && al_str_eq(status, "TERMINATED");
	if (!terminated && (imgs == NULL || imgs->type != MSGPACK_OBJECT_ARRAY))
		return AL_OK;
	if (e->id.n == 0 || e->id.n > AGENT_ID_MAX)
		return AL_OK; /* not an id this view can key by; the agents module owns the rule */
	char pre[KEY_MAX], key[KEY_MAX];
	size_t pn = al__key2(pre, KEY_MAX, 'a', e->id, (al_str){"", 0});
	al_keys old; /* copies: the deletes below change the view */
	int rc = al__view_keys(v, DB_INSTALLED, pre, pn, &old, err);
	for (size_t i = 0; rc == AL_OK && i < old.n; i++) { /* drop the old list, both directions */
		const char *k = old.k[i].mv_data;
		al_str name = {k + pn, old.k[i].mv_size - pn};
		size_t rn = al__key2(key, KEY_MAX, 'n', name, e->id);
		rc = al__view_del(v, DB_INSTALLED, k, old.k[i].mv_size, err);
		if (rc == AL_OK && rn)
			rc = al__view_del(v, DB_INSTALLED, key, rn, err);
	}
	for (uint32_t i = 0; rc == AL_OK && !terminated && i < imgs->via.array.size; i++) {
		al_str name = ostr(&imgs->via.array.ptr[i]);
		if (name.n == 0 || name.n > AL_IMAGE_NAME_MAX || memchr(name.p, 0, name.n))
			continue;
		size_t an = al__key2(pre, KEY_MAX, 'a', e->id, name), nn = al__key2(key, KEY_MAX, 'n', name, e->id);
		if ((rc = al__view_put(v, DB_INSTALLED, pre, an, "", 0, err)) == AL_OK)
			rc = al__view_put(v, DB_INSTALLED, key, nn, "", 0, err);
	}
	return rc;
}

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	const al_event_def *d = e->def;
	if (d == al__ev(AL_EV_IMAGE_SCANNED) || d == al__ev(AL_EV_IMAGE_GONE) || d == al__ev(AL_EV_IMAGE_MIN_SET))
		return apply_image(v, e, err);
	if (d == al__ev(AL_EV_IMAGE_ALIASED) || d == al__ev(AL_EV_IMAGE_DEALIASED))
		return apply_alias(v, e, err);
	if (d == al__ev(AL_EV_AGENT_CREATED) || d == al__ev(AL_EV_AGENT_UPDATED) || d == al__ev(AL_EV_AGENT_STATUS_CHANGED))
		return apply_agent(v, e, err);
	return AL_OK;
}

/* v2: the views are filled (v1 was the empty stub). */
/* The event types apply reads: the engine calls it for these only. */
static const enum al_ev_id applies_to[] = {
	AL_EV_IMAGE_SCANNED, AL_EV_IMAGE_GONE, AL_EV_IMAGE_MIN_SET, AL_EV_IMAGE_ALIASED,
	AL_EV_IMAGE_DEALIASED, AL_EV_AGENT_CREATED, AL_EV_AGENT_UPDATED, AL_EV_AGENT_STATUS_CHANGED,
	AL_EV__COUNT};
const al_projection al__proj_images = {"images", 3, {"v_images", "v_image_aliases", "v_image_installed", NULL}, apply,
	.on = applies_to};

/* ---- queries ------------------------------------------------------------------------------------------- */

static MDB_dbi dbi(const al_cmd *c, int db) { return al__view_dbi(c->s, AL_P_IMAGES, db); }

/* Calls fn(c, rest, val, ctx) for each key of db starting with prefix; stops at fn's first
 * non-zero value and returns it. */
static int scan_prefix(al_cmd *c, int db, const char *prefix, size_t pn, al_prefix_fn fn, void *ctx)
{
	return al__scan_prefix(c, dbi(c, db), prefix, pn, "images", fn, ctx);
}

static bool strs_has(const al_strs *l, al_str s)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (str_eq(l->v[i], s))
			return true;
	return false;
}

static int collect_rest(al_cmd *c, al_str rest, const MDB_val *v, void *ctx)
{
	(void)v;
	return al__strs_add(c, ctx, rest);
}

/* The architectures of a canonical name (the prefix scan "name\0"). */
static int archs_of(al_cmd *c, al_str name, al_strs *archs)
{
	char pre[KEY_MAX];
	size_t pn = al__key2(pre, KEY_MAX, 0, name, (al_str){"", 0});
	return pn && name.n ? scan_prefix(c, DB_IMAGES, pre, pn, collect_rest, archs) : AL_OK;
}

/* The canonical name an alias stands for: 1 found (in the zone), 0 not, or a negative code. */
static int alias_target(al_cmd *c, al_str alias, al_str *name)
{
	char k[KEY_MAX];
	if (alias.n == 0 || alias.n >= KEY_MAX)
		return 0;
	k[0] = 'a';
	memcpy(k + 1, alias.p, alias.n);
	MDB_val key = {alias.n + 1, k}, v;
	int rc = mdb_get(c->txn, dbi(c, DB_ALIASES), &key, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "read aliases: %s", mdb_strerror(rc));
	*name = al__keep(c, "", (al_str){v.mv_data, v.mv_size});
	return 1;
}

/* 1 found, 0 not found, or a negative code. */
static int find_image(al_cmd *c, al_str name, al_str arch, msgpack_object *row)
{
	char k[KEY_MAX];
	MDB_val key = {al__key2(k, KEY_MAX, 0, name, arch), k}, v;
	int rc = key.mv_size && name.n && arch.n ? mdb_get(c->txn, dbi(c, DB_IMAGES), &key, &v) : MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return al_err(c->err, AL_EIO_ERROR, "read image: %s", mdb_strerror(rc));
	rc = al__decode_row(c, &v, row);
	return rc ? rc : 1;
}

/* The registries the actor may see images of; *all when it sees every image. */
typedef struct allowed {
	bool all;
	al_strs hosts;
} allowed;

static int add_host(al_cmd *c, al_str host, void *ctx)
{
	allowed *a = ctx;
	return strs_has(&a->hosts, host) ? AL_OK : al__strs_add(c, &a->hosts, host);
}

static int allowed_registries(al_cmd *c, allowed *a)
{
	memset(a, 0, sizeof *a);
	if (al__is_superadmin(c)) {
		a->all = true;
		return AL_OK;
	}
	int rc = AL_OK;
	msgpack_object list;
	if (c->actor->domain && (rc = al__domain_registries(c, (al_str){c->actor->domain, strlen(c->actor->domain)},
							     &list)) == 1) {
		rc = AL_OK;
		for (uint32_t i = 0; i < list.via.array.size && rc == AL_OK; i++)
			rc = add_host(c, ostr(&list.via.array.ptr[i]), a);
	}
	if (rc < 0)
		return rc;
	if (c->actor->user)
		rc = al__user_project_registries(c, (al_str){c->actor->user, strlen(c->actor->user)}, add_host, a);
	return rc < 0 ? rc : AL_OK;
}

static bool may_see(const allowed *a, al_str registry) { return a->all || strs_has(&a->hosts, registry); }

/* Appends "slot": {"min": x, "max": nil} for every slot of label_min or min_override. */
static void pack_resources(msgpack_packer *pk, const msgpack_object *row)
{
	const msgpack_object *lm = al_mp_get(row, "label_min"), *ov = al_mp_get(row, "min_override");
	al_repack r;
	msgpack_object merged;
	al_repack_init(&r);
	if (pack_merged(&r.pk, lm, ov, &r.z) != AL_OK || al_repack_decode(&r, &merged) != 0)
		merged = (msgpack_object){.type = MSGPACK_OBJECT_MAP};
	msgpack_pack_map(pk, merged.via.map.size);
	for (uint32_t i = 0; i < merged.via.map.size; i++) {
		msgpack_pack_object(pk, merged.via.map.ptr[i].key);
		msgpack_pack_map(pk, 2);
		al_pack_cstr(pk, "min");
		msgpack_pack_object(pk, merged.via.map.ptr[i].val);
		al_pack_cstr(pk, "max");
		msgpack_pack_nil(pk); /* no maximum: the labels define none, set-min sets none */
	}
	al_repack_destroy(&r);
}

static int pack_names(al_cmd *c, msgpack_packer *pk, int db, char tag, al_str name, uint32_t *count)
{
	char pre[KEY_MAX];
	al_strs l = {0};
	size_t pn = al__key2(pre, KEY_MAX, tag, name, (al_str){"", 0});
	int rc = pn ? scan_prefix(c, db, pre, pn, collect_rest, &l) : AL_OK;
	if (rc)
		return rc;
	msgpack_pack_array(pk, l.n);
	for (uint32_t i = 0; i < l.n; i++)
		al_pack_str(pk, l.v[i].p, l.v[i].n);
	if (count)
		*count = l.n;
	return AL_OK;
}

/* The public view of an image row: its columns (labels only when full), the effective
 * resources, base distro and role from the labels, aliases, installed agents, the version. */
static int pack_public(al_cmd *c, const msgpack_object *row, msgpack_packer *pk, bool full)
{
	al_mb out;
	al_str name = ostr(al_mp_get(row, "name"));
	const msgpack_object *labels = al_mp_get(row, "labels");
	al_mb_init(&out);
	int rc = AL_OK;
	for (uint32_t i = 0; i < row->via.map.size; i++) {
		const msgpack_object_kv *kv = &row->via.map.ptr[i];
		char key[32];
		al_str_cpy(key, sizeof key, ostr(&kv->key));
		if (strcmp(key, "created_at") == 0 || strcmp(key, "modified_at") == 0) {
			char t[40];
			al_mb_cstr(&out, key, al_time_format(kv->val.via.i64, t, sizeof t));
		} else if (strcmp(key, "labels") == 0 || strcmp(key, "label_min") == 0) {
			if (full) /* lists stay readable: these are in image get */
				al_mb_obj(&out, key, &kv->val);
		} else if (strcmp(key, "min_override") != 0)
			al_mb_obj(&out, key, &kv->val);
		if (strcmp(key, "type") == 0) { /* what the list shows from the labels, after the type */
			al_str distro = ostr(al_mp_get(labels, "ai.backend.base-distro"));
			al_str role = ostr(al_mp_get(labels, "ai.backend.role"));
			al_mb_str(&out, "base_distro", distro.p, distro.n);
			if (role.n)
				al_mb_str(&out, "role", role.p, role.n);
			else
				al_mb_cstr(&out, "role", "COMPUTE");
		}
	}
	pack_resources(al_mb_key(&out, "resources"), row);
	const msgpack_object *ov = al_mp_get(row, "min_override");
	if (full)
		al_mb_obj(&out, "min_override", ov ? ov : &(msgpack_object){.type = MSGPACK_OBJECT_MAP});
	if (rc == AL_OK)
		rc = pack_names(c, al_mb_key(&out, "aliases"), DB_ALIASES, 'n', name, NULL);
	uint32_t agents = 0;
	msgpack_sbuffer discard;
	msgpack_packer dpk;
	msgpack_sbuffer_init(&discard);
	msgpack_packer_init(&dpk, &discard, al_sbuffer_write);
	if (rc == AL_OK) /* the agent ids in image get; lists show only whether it is installed */
		rc = pack_names(c, full ? al_mb_key(&out, "installed_agents") : &dpk, DB_INSTALLED, 'n', name, &agents);
	al_sbuffer_destroy(&discard);
	if (rc == AL_OK) {
		al_mb_bool(&out, "installed", agents > 0);
		msgpack_pack_uint64(al_mb_key(&out, "version"), al__cmd_version(c, "image", name));
		al_mb_finish(&out, pk);
	}
	al_mb_free(&out);
	return rc;
}

/*
 * The image a command names: a canonical name or an alias, and an architecture when the name
 * has several. Fills *name (canonical, in the zone), *arch and row.
 */
static int resolve(al_cmd *c, al_str given, msgpack_object *row, al_str *name, al_str *arch)
{
	al_str want = {"", 0};
	char abuf[AL_ARCH_MAX + 8];
	bool has_arch = al__arg_str(c, "architecture", &want);
	if (has_arch) {
		al__arch_normalize(want, (al_str){"", 0}, abuf, sizeof abuf);
		if (!abuf[0])
			return al_err(c->err, AL_EINVALID_ARGUMENT, "architecture: '%.*s' is not an architecture name",
				      clip(want.n), want.p);
		want = (al_str){abuf, strlen(abuf)};
	}
	al_strs archs = {0};
	*name = al__keep(c, "", given);
	int rc = archs_of(c, *name, &archs);
	if (rc == AL_OK && archs.n == 0 && (rc = alias_target(c, given, name)) == 1)
		rc = archs_of(c, *name, &archs);
	if (rc < 0)
		return rc;
	if (archs.n == 0)
		return al_err(c->err, AL_ENOT_FOUND, "image %.*s: not found", clip(given.n), given.p);
	if (has_arch && !strs_has(&archs, want)) {
		char have[160] = "";
		for (uint32_t i = 0; i < archs.n; i++)
			snprintf(have + strlen(have), sizeof have - strlen(have), "%s%.*s", i ? ", " : "", clip(archs.v[i].n),
				 archs.v[i].p);
		return al_err(c->err, AL_ENOT_FOUND, "image %.*s: no architecture %.*s (it has %s)", clip(name->n), name->p,
			      clip(want.n), want.p, have);
	}
	if (!has_arch && archs.n > 1) {
		char have[160] = "";
		for (uint32_t i = 0; i < archs.n; i++)
			snprintf(have + strlen(have), sizeof have - strlen(have), "%s%.*s", i ? ", " : "", clip(archs.v[i].n),
				 archs.v[i].p);
		return al_err(c->err, AL_EINVALID_ARGUMENT, "architecture: image %.*s exists for %s; name one",
			      clip(name->n), name->p, have);
	}
	*arch = has_arch ? al__keep(c, "", want) : archs.v[0];
	rc = find_image(c, *name, *arch, row);
	return rc == 1 ? AL_OK : rc < 0 ? rc : al_err(c->err, AL_ECORRUPT, "image index changed under the read");
}

/* ---- what sessions use ------------------------------------------------------------------------------- */

int al__image_for_session(al_cmd *c, al_str given, al_image_use *out, msgpack_packer *min)
{
	msgpack_object row;
	int rc = resolve(c, given, &row, &out->name, &out->arch);
	if (rc)
		return rc;
	al_str role = ostr(al_mp_get(al_mp_get(&row, "labels"), "ai.backend.role"));
	bool gone = false;
	al_mp_bool(&row, "gone", &gone);
	out->gone = gone;
	out->registry = al__keep(c, "", ostr(al_mp_get(&row, "registry")));
	out->role = role.n ? al__keep(c, "", role) : (al_str){"COMPUTE", 7};
	/* The effective minimum: set-min's override of a slot, else its label minimum. */
	rc = pack_merged(min, al_mp_get(&row, "label_min"), al_mp_get(&row, "min_override"), c->zone);
	return rc ? al_err(c->err, rc, "out of memory") : AL_OK;
}

/* ---- reading ----------------------------------------------------------------------------------------- */

int al__image_get(al_cmd *c)
{
	al_str given, name, arch;
	msgpack_object row;
	allowed a;
	al__arg_str(c, "name", &given);
	int rc = allowed_registries(c, &a);
	if (rc == AL_OK)
		rc = resolve(c, given, &row, &name, &arch);
	/* An image of a registry the actor may not use is answered like a missing one. */
	if (rc == AL_OK && !may_see(&a, ostr(al_mp_get(&row, "registry"))))
		rc = al_err(c->err, AL_ENOT_FOUND, "image %.*s: not found", clip(given.n), given.p);
	if (rc == AL_OK)
		rc = pack_public(c, &row, c->out, true);
	return rc;
}

typedef struct list_state {
	allowed a;
	al_rows rows;
	int gone; /* -1 both, 0 only present, 1 only gone */
	msgpack_zone z;
} list_state;

static int list_one(al_cmd *c, al_str rest, const MDB_val *v, void *ctx)
{
	(void)rest;
	list_state *st = ctx;
	msgpack_object row;
	bool gone = false;
	msgpack_zone_clear(&st->z);
	if (al_mp_decode(v->mv_data, v->mv_size, &st->z, &row) != 0 || row.type != MSGPACK_OBJECT_MAP)
		return al_err(c->err, AL_ECORRUPT, "an image view row does not decode");
	al_mp_bool(&row, "gone", &gone);
	if ((st->gone >= 0 && gone != (st->gone == 1)) || !may_see(&st->a, ostr(al_mp_get(&row, "registry"))))
		return AL_OK;
	int rc = pack_public(c, &row, &st->rows.pk, false);
	return rc ? rc : al__rows_push(c, &st->rows);
}

int al__image_list(al_cmd *c)
{
	list_state st;
	al_str reg = {"", 0};
	bool gone;
	char pre[KEY_MAX];
	size_t pn = 0;
	int rc = allowed_registries(c, &st.a);
	if (rc)
		return rc;
	st.gone = al__arg_bool(c, "gone", &gone) ? gone : -1;
	if (al__arg_str(c, "registry", &reg)) { /* names start with "registry/" */
		if (reg.n == 0 || reg.n + 1 > sizeof pre)
			return al_err(c->err, AL_EINVALID_ARGUMENT, "registry: not a registry hostname");
		memcpy(pre, reg.p, reg.n);
		pre[reg.n] = '/';
		pn = reg.n + 1;
	}
	msgpack_zone_init(&st.z, 2048);
	al__rows_begin(c, &st.rows);
	rc = scan_prefix(c, DB_IMAGES, pre, pn, list_one, &st);
	msgpack_zone_destroy(&st.z);
	return al__rows_end(c, &st.rows, rc);
}

/* ---- set-min ---------------------------------------------------------------------------------------- */

typedef struct min_arg {
	const char *slot;
	bool given;
	double value;
	char text[64];
} min_arg;

/* cpu: a number > 0; mem: a size > 0. */
static int parse_min(al_cmd *c, min_arg *m)
{
	al_str v;
	if (!(m->given = al__arg_str(c, m->slot, &v)))
		return AL_OK;
	al_str_cpy(m->text, sizeof m->text, v);
	if (strcmp(m->slot, "mem") == 0) {
		int64_t b = al__parse_bytes(v.p, v.n);
		if (b <= 0)
			return al_err(c->err, AL_EINVALID_ARGUMENT, "mem: must be a size > 0 such as 512m or 2g, got '%.*s'",
				      clip(v.n), v.p);
		m->value = (double)b;
		return AL_OK;
	}
	char *end;
	m->value = v.n && v.n < sizeof m->text && ((v.p[0] >= '0' && v.p[0] <= '9')) ? strtod(m->text, &end) : -1;
	if (m->value <= 0 || m->value > 1e6 || (v.n && *end))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "cpu: must be a number > 0 (e.g. 2 or 0.5), got '%.*s'",
			      clip(v.n), v.p);
	return AL_OK;
}

static void pack_amount(msgpack_packer *pk, double v)
{
	if (v == floor(v) && v < 9e18)
		msgpack_pack_int64(pk, (int64_t)v);
	else
		msgpack_pack_double(pk, v);
}

int al__image_set_min(al_cmd *c)
{
	al_str given, name, arch;
	msgpack_object row;
	bool force = false;
	min_arg m[2] = {{.slot = "cpu"}, {.slot = "mem"}};
	al__arg_str(c, "name", &given);
	al__arg_bool(c, "force", &force);
	int rc = resolve(c, given, &row, &name, &arch);
	for (int i = 0; i < 2 && rc == AL_OK; i++)
		rc = parse_min(c, &m[i]);
	if (rc)
		return rc;
	if (!m[0].given && !m[1].given)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "nothing to set (give cpu or mem)");
	const msgpack_object *lm = al_mp_get(&row, "label_min"), *ov = al_mp_get(&row, "min_override"),
			     *labels = al_mp_get(&row, "labels");
	al_mb f, mins;
	al_mb_init(&f);
	al_mb_init(&mins);
	al_strs below = {0};
	for (int i = 0; i < 2 && rc == AL_OK; i++) {
		if (!m[i].given)
			continue;
		const msgpack_object *floor_v = al_mp_get(lm, m[i].slot), *cur = al_mp_get(ov, m[i].slot);
		if (is_num(floor_v) && m[i].value < num(floor_v)) {
			char label[64];
			snprintf(label, sizeof label, "ai.backend.resource.min.%s", m[i].slot);
			bool from_label = al_mp_get(labels, label) != NULL;
			if (!force) {
				rc = al_err(c->err, AL_EINVALID_ARGUMENT,
					    "%s: %s is below the image's minimum %.15g (%s%s); the guide warns against going "
					    "below the predefined value: give force to do it anyway",
					    m[i].slot, m[i].text, num(floor_v), from_label ? "label " : "the default",
					    from_label ? label : "");
				break;
			}
			rc = al__strs_add(c, &below, (al_str){m[i].slot, strlen(m[i].slot)});
		}
		if (is_num(cur) && num(cur) == m[i].value)
			continue; /* already so */
		if (!is_num(cur) && is_num(floor_v) && num(floor_v) == m[i].value)
			continue; /* the label minimum already: nothing to override */
		pack_amount(al_mb_key(&mins, m[i].slot), m[i].value);
	}
	if (rc == AL_OK && mins.n > 0) { /* a set-min that changes nothing records nothing */
		al_mb_str(&f, "architecture", arch.p, arch.n);
		al_mb_finish(&mins, al_mb_key(&f, "min"));
		al_mb_bool(&f, "force", force);
		if (below.n) {
			msgpack_packer *pk = al_mb_key(&f, "below_label");
			msgpack_pack_array(pk, below.n);
			for (uint32_t i = 0; i < below.n; i++)
				al_pack_str(pk, below.v[i].p, below.v[i].n);
		}
		rc = al__emit(c, AL_EV_IMAGE_MIN_SET, name, &f);
		if (rc == AL_OK && (rc = find_image(c, name, arch, &row)) == 1)
			rc = AL_OK;
		else if (rc == 0)
			rc = al_err(c->err, AL_EINTERNAL, "image vanished after set-min");
	}
	al_mb_free(&f);
	al_mb_free(&mins);
	return rc ? rc : pack_public(c, &row, c->out, true);
}

/* ---- aliases -------------------------------------------------------------------------------------------- */

static int check_alias(al_cmd *c, al_str a)
{
	if (a.n == 0 || a.n > ALIAS_MAX)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "aliases: 1 to %d characters each", ALIAS_MAX);
	for (size_t i = 0; i < a.n; i++) {
		char ch = a.p[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("._-/:@+", ch)))
			return al_err(c->err, AL_EINVALID_ARGUMENT,
				      "aliases: '%.*s' may use letters, digits and . _ - / : @ + only", clip(a.n), a.p);
	}
	return AL_OK;
}

int al__image_alias(al_cmd *c)
{
	al_str name;
	const msgpack_object *list;
	al_strs archs = {0};
	al__arg_str(c, "name", &name);
	al__arg_list(c, "aliases", &list);
	int rc = archs_of(c, name, &archs);
	if (rc)
		return rc;
	if (archs.n == 0)
		return al_err(c->err, AL_ENOT_FOUND, "image %.*s: not found (give its canonical name)", clip(name.n), name.p);
	uint32_t n = list->via.array.size;
	if (n == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "aliases: give at least one");
	for (uint32_t i = 0; i < n && rc == AL_OK; i++) {
		al_str a = ostr(&list->via.array.ptr[i]), target;
		al_strs other = {0};
		if ((rc = check_alias(c, a)))
			break;
		for (uint32_t k = 0; k < i && rc == AL_OK; k++)
			if (str_eq(a, ostr(&list->via.array.ptr[k])))
				rc = al_err(c->err, AL_EINVALID_ARGUMENT, "aliases: %.*s is listed twice", clip(a.n), a.p);
		if (rc == AL_OK && (rc = archs_of(c, a, &other)) == AL_OK && other.n)
			rc = al_err(c->err, AL_EALREADY_EXISTS, "aliases: %.*s is an image name", clip(a.n), a.p);
		if (rc == AL_OK && (rc = alias_target(c, a, &target)) == 1)
			rc = al_err(c->err, AL_EALREADY_EXISTS, "aliases: %.*s already names %.*s", clip(a.n), a.p,
				    clip(target.n), target.p);
	}
	if (rc)
		return rc;
	for (uint32_t i = 0; i < n && rc == AL_OK; i++) {
		al_mb f;
		al_mb_init(&f);
		al_str a = ostr(&list->via.array.ptr[i]);
		al_mb_str(&f, "alias", a.p, a.n);
		rc = al__emit(c, AL_EV_IMAGE_ALIASED, name, &f);
		al_mb_free(&f);
	}
	if (rc)
		return rc;
	al_mb out;
	al_mb_init(&out);
	al_mb_str(&out, "name", name.p, name.n);
	rc = pack_names(c, al_mb_key(&out, "aliases"), DB_ALIASES, 'n', name, NULL);
	if (rc == AL_OK)
		al_mb_finish(&out, c->out);
	al_mb_free(&out);
	return rc;
}

int al__image_unalias(al_cmd *c)
{
	al_str alias, name;
	al__arg_str(c, "alias", &alias);
	int rc = alias_target(c, alias, &name);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return al_err(c->err, AL_ENOT_FOUND, "alias %.*s: not found", clip(alias.n), alias.p);
	al_mb f;
	al_mb_init(&f);
	al_mb_str(&f, "alias", alias.p, alias.n);
	rc = al__emit(c, AL_EV_IMAGE_DEALIASED, name, &f);
	al_mb_free(&f);
	if (rc)
		return rc;
	al_mb out;
	al_mb_init(&out);
	al_mb_str(&out, "alias", alias.p, alias.n);
	al_mb_str(&out, "name", name.p, name.n);
	al_mb_bool(&out, "removed", true);
	al_mb_finish(&out, c->out);
	al_mb_free(&out);
	return AL_OK;
}

/* ---- gone: a deleted registry, or images no longer in theirs --------------------------------------------- */

/* One image to mark gone, copied out of the view (emitting moves its pages). */
typedef struct gone_key {
	al_str name, arch;
} gone_key;

typedef struct gone_list {
	gone_key *v;
	size_t n, cap;
} gone_list;

static int gone_add(al_cmd *c, gone_list *g, al_str name, al_str arch)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		gone_key *nv = al_zone_malloc(c->zone, cap * sizeof *nv);
		if (nv == NULL)
			return al_err(c->err, AL_ENO_MEMORY, "out of memory");
		if (g->n)
			memcpy(nv, g->v, g->n * sizeof *nv);
		g->v = nv;
		g->cap = cap;
	}
	g->v[g->n++] = (gone_key){al__keep(c, "", name), al__keep(c, "", arch)};
	return AL_OK;
}

static int emit_gone(al_cmd *c, const gone_list *g, const char *cause)
{
	int rc = AL_OK;
	for (size_t i = 0; i < g->n && rc == AL_OK; i++) {
		al_mb f;
		al_mb_init(&f);
		al_mb_str(&f, "architecture", g->v[i].arch.p, g->v[i].arch.n);
		al_mb_cstr(&f, "cause", cause);
		rc = al__emit(c, AL_EV_IMAGE_GONE, g->v[i].name, &f);
		al_mb_free(&f);
	}
	return rc;
}

/* An image the scan saw: found valid, skipped for its labels, or (arch "") a name whose
 * manifest could not be read, whose images are then left alone. */
typedef struct pair {
	al_str name, arch;
} pair;

static int cmp_str(al_str a, al_str b)
{
	int r = memcmp(a.p, b.p, a.n < b.n ? a.n : b.n);
	return r ? r : (a.n > b.n) - (a.n < b.n);
}

static int cmp_pair(const void *a, const void *b)
{
	const pair *x = a, *y = b;
	int r = cmp_str(x->name, y->name);
	return r ? r : cmp_str(x->arch, y->arch);
}

/* What the images of one registry are checked against when collecting the gone ones. */
typedef struct scope {
	al_str registry;
	const msgpack_object *projects; /* array; empty: every project */
	const msgpack_object *images, *skipped; /* from the scan; NULL: the registry was deleted */
	gone_list *out;
	msgpack_zone *z;
	pair *seen; /* images and skipped, sorted: a lookup per stored image */
	size_t nseen;
} scope;

static bool in_projects(const msgpack_object *projects, al_str project)
{
	if (projects == NULL || projects->type != MSGPACK_OBJECT_ARRAY || projects->via.array.size == 0)
		return true;
	for (uint32_t i = 0; i < projects->via.array.size; i++)
		if (str_eq(ostr(&projects->via.array.ptr[i]), project))
			return true;
	return false;
}

static int build_seen(al_cmd *c, scope *sc)
{
	const msgpack_object *lists[2] = {sc->images, sc->skipped};
	size_t n = 0;
	for (int l = 0; l < 2; l++)
		n += lists[l] && lists[l]->type == MSGPACK_OBJECT_ARRAY ? lists[l]->via.array.size : 0;
	sc->seen = n ? al_zone_malloc(c->zone, n * sizeof *sc->seen) : NULL;
	if (n && sc->seen == NULL)
		return al_err(c->err, AL_ENO_MEMORY, "out of memory");
	for (int l = 0; l < 2; l++)
		for (uint32_t i = 0; lists[l] && lists[l]->type == MSGPACK_OBJECT_ARRAY && i < lists[l]->via.array.size; i++) {
			const msgpack_object *o = &lists[l]->via.array.ptr[i];
			sc->seen[sc->nseen++] = (pair){ostr(al_mp_get(o, "name")), ostr(al_mp_get(o, "architecture"))};
		}
	if (sc->nseen > 1)
		qsort(sc->seen, sc->nseen, sizeof *sc->seen, cmp_pair);
	return AL_OK;
}

static bool seen(const scope *sc, al_str name, al_str arch)
{
	pair k = {name, arch}, any = {name, {"", 0}};
	return sc->nseen && (bsearch(&k, sc->seen, sc->nseen, sizeof k, cmp_pair) ||
			     bsearch(&any, sc->seen, sc->nseen, sizeof k, cmp_pair));
}

static int gone_candidate(al_cmd *c, al_str rest, const MDB_val *v, void *ctx)
{
	(void)rest;
	scope *sc = ctx;
	msgpack_object row;
	bool gone = false;
	msgpack_zone_clear(sc->z);
	if (al_mp_decode(v->mv_data, v->mv_size, sc->z, &row) != 0 || row.type != MSGPACK_OBJECT_MAP)
		return al_err(c->err, AL_ECORRUPT, "an image view row does not decode");
	al_mp_bool(&row, "gone", &gone);
	al_str name = ostr(al_mp_get(&row, "name")), arch = ostr(al_mp_get(&row, "architecture"));
	if (gone || !str_eq(ostr(al_mp_get(&row, "registry")), sc->registry))
		return AL_OK;
	if (sc->images) {
		if (!in_projects(sc->projects, ostr(al_mp_get(&row, "project"))))
			return AL_OK; /* outside what this scan looked at */
		if (seen(sc, name, arch))
			return AL_OK;
	}
	return gone_add(c, sc->out, name, arch);
}

/* The images of registry (not gone yet) that sc says are gone. */
static int collect_gone(al_cmd *c, scope *sc)
{
	char pre[KEY_MAX];
	if (sc->registry.n + 1 > sizeof pre)
		return AL_OK;
	memcpy(pre, sc->registry.p, sc->registry.n);
	pre[sc->registry.n] = '/';
	int rc = sc->images ? build_seen(c, sc) : AL_OK;
	if (rc)
		return rc;
	msgpack_zone z;
	msgpack_zone_init(&z, 2048);
	sc->z = &z;
	rc = scan_prefix(c, DB_IMAGES, pre, sc->registry.n + 1, gone_candidate, sc);
	msgpack_zone_destroy(&z);
	return rc;
}

int al__images_registry_deleted(al_cmd *c, al_str hostname)
{
	gone_list g = {0};
	scope sc = {.registry = hostname, .out = &g};
	int rc = collect_gone(c, &sc);
	return rc ? rc : emit_gone(c, &g, "registry_deleted");
}

/* ---- rescan: what the prepare step found becomes events ------------------------------------------------- */

/* The scanned columns of an image (a scan result or a row) packed in one order, to compare. */
static void pack_scanned(msgpack_packer *pk, const msgpack_object *o)
{
	static const char *const cols[] = {"registry", "project", "image", "tag", "config_digest", "size_bytes",
					   "type", "labels", "accelerators", "label_min"};
	for (size_t i = 0; i < sizeof cols / sizeof *cols; i++) {
		const msgpack_object *v = al_mp_get(o, cols[i]);
		v ? msgpack_pack_object(pk, *v) : msgpack_pack_nil(pk);
	}
}

static bool same_scan(const msgpack_object *found, const msgpack_object *row)
{
	al_packed2 p;
	al_packed2_init(&p);
	pack_scanned(&p.pa, found);
	pack_scanned(&p.pb, row);
	bool same = al_packed2_same(&p);
	al_packed2_destroy(&p);
	return same;
}

typedef struct counts {
	uint64_t added, updated, unchanged, gone;
} counts;

/* Records image.scanned for each found image that is new, changed or was gone. */
static int record_found(al_cmd *c, const msgpack_object *images, counts *n)
{
	for (uint32_t i = 0; images && images->type == MSGPACK_OBJECT_ARRAY && i < images->via.array.size; i++) {
		const msgpack_object *img = &images->via.array.ptr[i];
		al_str name = ostr(al_mp_get(img, "name")), arch = ostr(al_mp_get(img, "architecture"));
		msgpack_object row;
		bool gone = false;
		int rc = find_image(c, name, arch, &row);
		if (rc < 0)
			return rc;
		bool existed = rc == 1;
		if (existed) {
			al_mp_bool(&row, "gone", &gone);
			if (!gone && same_scan(img, &row)) { /* a rescan that finds nothing new records nothing */
				n->unchanged++;
				continue;
			}
		}
		al_mb f;
		al_mb_init(&f);
		for (uint32_t k = 0; k < img->via.map.size; k++) { /* every field but the name, which is the id */
			const msgpack_object_kv *kv = &img->via.map.ptr[k];
			char key[32];
			if (al_mp_str_eq(&kv->key, "name"))
				continue;
			al_str_cpy(key, sizeof key, ostr(&kv->key));
			al_mb_obj(&f, key, &kv->val);
		}
		rc = al__emit(c, AL_EV_IMAGE_SCANNED, name, &f);
		al_mb_free(&f);
		if (rc)
			return rc;
		if (existed)
			n->updated++;
		else
			n->added++;
	}
	return AL_OK;
}

static void pack_count(msgpack_packer *pk, const char *key, uint64_t v)
{
	al_pack_cstr(pk, key);
	msgpack_pack_uint64(pk, v);
}

/* One registry's scan: its events, then its entry in the result. */
static int apply_registry(al_cmd *c, const msgpack_object *reg, msgpack_packer *pk, counts *total, uint64_t *nskipped)
{
	al_str host = ostr(al_mp_get(reg, "hostname")), status = ostr(al_mp_get(reg, "status")),
	       error = ostr(al_mp_get(reg, "error"));
	const msgpack_object *images = al_mp_get(reg, "images"), *skipped = al_mp_get(reg, "skipped");
	bool complete = false;
	al_mp_bool(reg, "complete", &complete);
	counts n = {0};
	int rc = AL_OK;
	if (al_str_eq(status, "ok") && !al__registry_exists(c, host)) {
		status = (al_str){"error", 5};
		error = (al_str){"the registry was deleted during the scan", 40};
	} else if (al_str_eq(status, "ok")) {
		rc = record_found(c, images, &n);
		if (rc == AL_OK && complete) {
			gone_list g = {0};
			scope sc = {host, al_mp_get(reg, "projects"), images, skipped, &g, NULL, NULL, 0};
			if ((rc = collect_gone(c, &sc)) == AL_OK)
				rc = emit_gone(c, &g, "not_in_registry");
			n.gone = g.n;
		}
	}
	if (rc)
		return rc;
	uint32_t found = images && images->type == MSGPACK_OBJECT_ARRAY ? images->via.array.size : 0;
	uint32_t nsk = skipped && skipped->type == MSGPACK_OBJECT_ARRAY ? skipped->via.array.size : 0;
	msgpack_pack_map(pk, error.n ? 10 : 9);
	al_pack_cstr(pk, "hostname");
	al_pack_str(pk, host.p, host.n);
	al_pack_cstr(pk, "status");
	al_pack_str(pk, status.p, status.n);
	if (error.n) {
		al_pack_cstr(pk, "error");
		al_pack_str(pk, error.p, error.n);
	}
	al_pack_cstr(pk, "complete");
	complete ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	pack_count(pk, "found", found);
	pack_count(pk, "added", n.added);
	pack_count(pk, "updated", n.updated);
	pack_count(pk, "unchanged", n.unchanged);
	pack_count(pk, "gone", n.gone);
	al_pack_cstr(pk, "skipped");
	if (nsk)
		msgpack_pack_object(pk, *skipped);
	else
		msgpack_pack_array(pk, 0);
	total->added += n.added;
	total->updated += n.updated;
	total->unchanged += n.unchanged;
	total->gone += n.gone;
	*nskipped += nsk;
	return AL_OK;
}

int al__images_rescan_apply(al_cmd *c)
{
	const msgpack_object *regs = c->prep ? al_mp_get(c->prep, "registries") : NULL;
	if (regs == NULL || regs->type != MSGPACK_OBJECT_ARRAY)
		return al_err(c->err, AL_EINTERNAL, "%s ran without the rescan's prepare step", c->def->op);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	msgpack_pack_array(&pk, regs->via.array.size);
	counts total = {0};
	uint64_t nskipped = 0;
	int rc = AL_OK;
	for (uint32_t i = 0; i < regs->via.array.size && rc == AL_OK; i++)
		rc = apply_registry(c, &regs->via.array.ptr[i], &pk, &total, &nskipped);
	if (rc == AL_OK) {
		msgpack_pack_map(c->out, 6);
		al_pack_cstr(c->out, "registries");
		c->out->callback(c->out->data, sb.data, sb.size);
		pack_count(c->out, "added", total.added);
		pack_count(c->out, "updated", total.updated);
		pack_count(c->out, "unchanged", total.unchanged);
		pack_count(c->out, "gone", total.gone);
		pack_count(c->out, "skipped", nskipped);
	}
	al_sbuffer_destroy(&sb);
	return rc;
}

int al__image_rescan(al_cmd *c) { return al__images_rescan_apply(c); }
