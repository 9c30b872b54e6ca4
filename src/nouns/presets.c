/*
 * presets.c - resource presets and the check of which fit a resource group now.
 *
 * View v_presets: name -> {name, resource_slots, shared_memory, created_at, modified_at}.
 * resource_slots is a slot map (resources.h) sorted by slot name: cpu, mem (bytes),
 * cuda.device (--gpu), cuda.shares (--fgpu) and other accelerator slots (--slots); a zero
 * amount is left out, as the platform drops zero entries from user input. shared_memory is in
 * bytes, 0 = none (sessions then get the platform's default).
 *
 * The name is the key: unique, never renamed. Delete removes the row; the events stay and a
 * later create may reuse the name, continuing the entity's history.
 *
 * Who: a superadmin creates, changes and deletes (the platform's rule); any signed-in user,
 * monitors included, may list them and check which fit, as the platform's GET
 * /resource/presets and POST /resource/check-presets need only authentication.
 *
 * preset.check: a preset is allocatable when (1) some agent of the group that is ALIVE and
 * schedulable has at least that much free (available - occupied) in every slot the preset
 * names (a slot the agent lacks is 0), and (2) the keypair's resource policy has that much
 * left: the policy's limit (cpu, ram_gb in GiB for mem, gpu for cuda.device, fgpu for
 * cuda.shares; "unlimited" is no limit; a slot the policy does not name follows its
 * default_for_unspecified, limited = 0) minus what the keypair's sessions occupy (the
 * sessions projection's v_occupancy; an agent's free slots come from it too, al__agents_each).
 * Shared memory is not counted separately: it comes out of mem inside the container.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/authz.h"
#include "core/validate.h"
#include "nouns/nouns.h"
#include "util/resources.h"
#include "util/row.h"

enum { DB_PRESETS };


/* ---- projection ---------------------------------------------------------------------------- */

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	const al_event_def *d = e->def;
	bool created = d == al__ev(AL_EV_PRESET_CREATED);
	if (!created && d != al__ev(AL_EV_PRESET_UPDATED) && d != al__ev(AL_EV_PRESET_DELETED))
		return AL_OK;
	char key[AL_MAX_ID];
	if (e->id.n == 0 || e->id.n > sizeof key)
		return al_err(err, AL_ECORRUPT, "event %llu: bad preset name", (unsigned long long)e->seq);
	memcpy(key, e->id.p, e->id.n);
	if (d == al__ev(AL_EV_PRESET_DELETED))
		return al__view_del(v, DB_PRESETS, key, e->id.n, err);
	msgpack_object base, *old = NULL;
	if (!created) {
		MDB_val val;
		if (al__view_get(v, DB_PRESETS, key, e->id.n, &val) != 0 ||
		    al_mp_decode(val.mv_data, val.mv_size, &v->w->zone, &base) != 0)
			return al_err(err, AL_ECORRUPT, "event %llu: %s for unknown preset %.*s", (unsigned long long)e->seq,
				      d->name, al__clip(e->id.n), e->id.p);
		old = &base;
	}
	int64_t created_at = e->time_us;
	if (old)
		al_mp_int(old, "created_at", &created_at);
	msgpack_packer pk;
	msgpack_sbuffer *b = al__view_row(v, &pk);
	msgpack_pack_map(&pk, 5);
	al_pack_cstr(&pk, "name");
	al_pack_str(&pk, key, e->id.n);
	al__row_col(&pk, "resource_slots", 'm', old, &e->fields);
	al__row_col(&pk, "shared_memory", 'i', old, &e->fields);
	al__row_times(&pk, created_at, e->time_us);
	return al__view_put(v, DB_PRESETS, key, e->id.n, b->data, b->size, err);
}

/* v1: the first presets view. */
/* The event types apply reads: the engine calls it for these only. */
static const enum al_ev_id applies_to[] = {
	AL_EV_PRESET_CREATED, AL_EV_PRESET_UPDATED, AL_EV_PRESET_DELETED, AL_EV__COUNT};
const al_projection al__proj_presets = {"presets", 1, {"v_presets", NULL}, apply, .on = applies_to};

/* ---- queries ----------------------------------------------------------------------------------- */

static MDB_dbi dbi(const al_cmd *c) { return al__view_dbi(c->s, AL_P_PRESETS, DB_PRESETS); }

/* 1 found, 0 not found, or a negative al_ code. */
static int find_row(al_cmd *c, al_str key, msgpack_object *row)
{
	return al__find_row(c, AL_P_PRESETS, DB_PRESETS, key, row);
}

static int must_find(al_cmd *c, al_str key, msgpack_object *row)
{
	return al__must_find_row(c, AL_P_PRESETS, DB_PRESETS, "preset", key, row);
}

static void pack_time(msgpack_packer *pk, const char *key, const msgpack_object *row)
{
	int64_t us = 0;
	char t[40];
	al_mp_int(row, key, &us);
	al_pack_cstr(pk, key);
	al_pack_cstr(pk, al_time_format(us, t, sizeof t));
}

static void pack_public(al_cmd *c, const msgpack_object *row, msgpack_packer *pk)
{
	al_str name = {"", 0};
	al_mp_str(row, "name", &name);
	msgpack_pack_map(pk, 6);
	al__row_col(pk, "name", 's', row, NULL);
	al__row_col(pk, "resource_slots", 'm', row, NULL);
	al__row_col(pk, "shared_memory", 'i', row, NULL);
	pack_time(pk, "created_at", row);
	pack_time(pk, "modified_at", row);
	al_pack_cstr(pk, "version");
	msgpack_pack_uint64(pk, al__cmd_version(c, "preset", name));
}

/* The answer of create, update and get: the preset as it now is. */
static int pack_preset(al_cmd *c, al_str name)
{
	msgpack_object row;
	int rc = must_find(c, name, &row);
	if (rc == AL_OK)
		pack_public(c, &row, c->out);
	return rc;
}

/* ---- slot amounts ------------------------------------------------------------------------------ */

static al_str obj_str(const msgpack_object *o)
{
	return o && o->type == MSGPACK_OBJECT_STR ? (al_str){o->via.str.ptr, o->via.str.size} : (al_str){"", 0};
}

static bool str_eq2(al_str a, al_str b) { return a.n == b.n && memcmp(a.p, b.p, a.n) == 0; }

/* A number as a long double (exact for every int64); NaN when o is not a number. */
static long double amount(const msgpack_object *o)
{
	if (o == NULL)
		return NAN;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER: return (long double)o->via.u64;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: return (long double)o->via.i64;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: return (long double)o->via.f64;
	default: return NAN;
	}
}

/* The amount of slot name in a slot map; 0 when absent. */
static long double slot_amount(const msgpack_object *map, al_str name)
{
	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return 0;
	for (uint32_t i = 0; i < map->via.map.size; i++)
		if (str_eq2(obj_str(&map->via.map.ptr[i].key), name)) {
			long double a = amount(&map->via.map.ptr[i].val);
			return isnan(a) ? 0 : a;
		}
	return 0;
}

/* A preset's slots while they are built: name -> amount (an integer or a fraction). */
typedef struct pslot {
	char name[64];
	bool is_int;
	int64_t i;
	double d;
} pslot;

typedef struct pslots {
	pslot v[AL_SLOTS_MAX + 4];
	size_t n;
} pslots;

static pslot *pslot_find(pslots *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, name) == 0)
			return &s->v[i];
	return NULL;
}

static void pslot_del(pslots *s, const char *name)
{
	pslot *p = pslot_find(s, name);
	if (p)
		*p = s->v[--s->n];
}

/* Sets name to an amount; a zero amount removes the slot. */
static void pslot_set(pslots *s, const char *name, bool is_int, int64_t i, double d)
{
	if ((is_int && i == 0) || (!is_int && d == 0)) {
		pslot_del(s, name);
		return;
	}
	pslot *p = pslot_find(s, name);
	if (p == NULL && s->n < sizeof s->v / sizeof *s->v) {
		p = &s->v[s->n++];
		snprintf(p->name, sizeof p->name, "%s", name);
	}
	if (p) {
		p->is_int = is_int;
		p->i = i;
		p->d = d;
	}
}

static void pslot_set_obj(pslots *s, al_str name, const msgpack_object *v)
{
	char n[64];
	al_str_cpy(n, sizeof n, name);
	if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		pslot_set(s, n, true, v->via.u64 > INT64_MAX ? INT64_MAX : (int64_t)v->via.u64, 0);
	else if (v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32)
		pslot_set(s, n, false, 0, v->via.f64);
}

static int cmp_pslot(const void *a, const void *b) { return strcmp(((const pslot *)a)->name, ((const pslot *)b)->name); }

/* The slots as a map sorted by name, so equal presets have equal bytes. */
static void pslots_pack(pslots *s, msgpack_packer *pk)
{
	qsort(s->v, s->n, sizeof *s->v, cmp_pslot);
	msgpack_pack_map(pk, (uint32_t)s->n);
	for (size_t i = 0; i < s->n; i++) {
		al_pack_cstr(pk, s->v[i].name);
		if (s->v[i].is_int)
			msgpack_pack_int64(pk, s->v[i].i);
		else
			msgpack_pack_double(pk, s->v[i].d);
	}
}

static void pslots_from(pslots *s, const msgpack_object *map)
{
	s->n = 0;
	for (uint32_t i = 0; map && map->type == MSGPACK_OBJECT_MAP && i < map->via.map.size; i++)
		pslot_set_obj(s, obj_str(&map->via.map.ptr[i].key), &map->via.map.ptr[i].val);
}

/* ---- arguments -------------------------------------------------------------------------------- */

/* The slots that have their own arguments. */
static const char *const named_slots[][2] = {{"cpu", "cpu"}, {"mem", "mem"}, {"cuda.device", "gpu"}, {"cuda.shares", "fgpu"}};

/* A count argument: a number in [min, max], whole or (frac) a multiple of 0.1. 1 given (*out
 * set), 0 not given, or a negative al_ code. */
static int arg_count(al_cmd *c, const char *name, double min, double max, bool frac, pslot *out)
{
	double v;
	char given[40]; /* the value as given, in errors */
	if (!al__arg_limit(c, name, &v))
		return 0;
	al_double_str(v, given, sizeof given);
	if (v == AL_UNLIMITED)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: a preset names an amount, not unlimited", name);
	if (frac) {
		double tenths = round(v * 10);
		if (fabs(v * 10 - tenths) > 1e-6)
			return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: must be a multiple of 0.1, got %s", name, given);
		v = tenths / 10;
	} else if (v != floor(v))
		return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: must be a whole number, got %s", name, given);
	if (v < min || v > max)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: must be from %g to %g, got %s", name, min, max, given);
	*out = v == floor(v) ? (pslot){.is_int = true, .i = (int64_t)v} : (pslot){.is_int = false, .d = v};
	return 1;
}

/* A size argument ("4g", bytes). 1 given, 0 not, or a negative al_ code. */
static int arg_size(al_cmd *c, const char *name, int64_t *out)
{
	al_str s;
	if (!al__arg_str(c, name, &s))
		return 0;
	if ((*out = al__parse_bytes(s.p, s.n)) < 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "%s: must be a size like 4g or a number of bytes, got '%.*s'", name,
			      al__clip(s.n), s.p);
	return 1;
}

/* --slots: other accelerator slots; replaces every slot that has no argument of its own. */
static int arg_extra(al_cmd *c, pslots *s)
{
	al_str text;
	if (!al__arg_str(c, "slots", &text))
		return 0;
	al_repack r;
	msgpack_object map;
	al_repack_init(&r);
	int rc = al__slots_pack(c->err, "slots", text, &r.pk);
	if (rc == AL_OK && al_repack_decode(&r, &map) != 0)
		rc = al_err(c->err, AL_EINTERNAL, "slots: do not decode");
	for (uint32_t i = 0; rc == AL_OK && i < map.via.map.size; i++) {
		al_str name = obj_str(&map.via.map.ptr[i].key);
		for (size_t k = 0; k < sizeof named_slots / sizeof *named_slots; k++)
			if (al_str_eq(name, named_slots[k][0]))
				rc = al_err(c->err, AL_EINVALID_ARGUMENT, "slots: give %s with --%s", named_slots[k][0],
					    named_slots[k][1]);
	}
	if (rc == AL_OK) {
		pslots keep = {.n = 0};
		for (size_t k = 0; k < sizeof named_slots / sizeof *named_slots; k++) {
			pslot *p = pslot_find(s, named_slots[k][0]);
			if (p)
				keep.v[keep.n++] = *p;
		}
		*s = keep;
		for (uint32_t i = 0; i < map.via.map.size; i++)
			pslot_set_obj(s, obj_str(&map.via.map.ptr[i].key), &map.via.map.ptr[i].val);
	}
	al_repack_destroy(&r);
	return rc ? rc : 1;
}

/* Applies the arguments to s and *shmem (the current values on update, empty on create). */
static int read_amounts(al_cmd *c, pslots *s, int64_t *shmem)
{
	pslot p;
	int64_t bytes;
	int rc;
	if ((rc = arg_count(c, "cpu", 1, 512, false, &p)) < 0)
		return rc;
	if (rc)
		pslot_set(s, "cpu", p.is_int, p.i, p.d);
	if ((rc = arg_size(c, "mem", &bytes)) < 0)
		return rc;
	if (rc && bytes == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "mem: must be more than 0");
	if (rc)
		pslot_set(s, "mem", true, bytes, 0);
	if ((rc = arg_count(c, "gpu", 0, 64, false, &p)) < 0)
		return rc;
	if (rc)
		pslot_set(s, "cuda.device", p.is_int, p.i, p.d);
	if ((rc = arg_count(c, "fgpu", 0, 256, true, &p)) < 0)
		return rc;
	if (rc)
		pslot_set(s, "cuda.shares", p.is_int, p.i, p.d);
	if ((rc = arg_extra(c, s)) < 0)
		return rc;
	if ((rc = arg_size(c, "shmem", &bytes)) < 0)
		return rc;
	if (rc)
		*shmem = bytes;
	pslot *mem = pslot_find(s, "mem");
	if (*shmem > 0 && mem && *shmem > mem->i)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "shmem: %lld bytes is more than mem (%lld bytes)",
			      (long long)*shmem, (long long)mem->i);
	return AL_OK;
}

/* ---- commands ------------------------------------------------------------------------------------ */

int al__preset_create(al_cmd *c)
{
	al_str name;
	pslots s = {.n = 0};
	int64_t shmem = 0;
	msgpack_object row;
	al__arg_str(c, "name", &name);
	int rc = al__check_slug(c->err, "name", name);
	if (rc == AL_OK)
		rc = read_amounts(c, &s, &shmem);
	if (rc == AL_OK && (rc = find_row(c, name, &row)) == 1)
		rc = al_err(c->err, AL_EALREADY_EXISTS, "name: preset %.*s already exists", al__clip(name.n), name.p);
	if (rc)
		return rc;
	al_mb f;
	al_mb_init(&f);
	al_mb_str(&f, "name", name.p, name.n);
	pslots_pack(&s, al_mb_key(&f, "resource_slots"));
	if (shmem > 0)
		al_mb_int(&f, "shared_memory", shmem);
	rc = al__emit(c, AL_EV_PRESET_CREATED, name, &f);
	al_mb_free(&f);
	return rc ? rc : pack_preset(c, name);
}

int al__preset_update(al_cmd *c)
{
	static const char *const all[] = {"cpu", "mem", "gpu", "fgpu", "shmem", "slots"};
	al_str name;
	msgpack_object row;
	al__arg_str(c, "name", &name);
	int rc = must_find(c, name, &row);
	if (rc)
		return rc;
	if (al__args_given(c, all, sizeof all / sizeof *all) == 0)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "nothing to update (the name cannot change)");
	pslots s, cur;
	int64_t shmem = 0, old_shmem = 0;
	pslots_from(&s, al_mp_get(&row, "resource_slots"));
	al_mp_int(&row, "shared_memory", &old_shmem);
	shmem = old_shmem;
	if ((rc = read_amounts(c, &s, &shmem)))
		return rc;
	al_mb f;
	al_mb_init(&f);
	/* Compared as packed bytes: both sides are packed the same sorted way. */
	al_packed2 p;
	al_packed2_init(&p);
	pslots_from(&cur, al_mp_get(&row, "resource_slots"));
	pslots_pack(&cur, &p.pa);
	pslots_pack(&s, &p.pb);
	int n = 0;
	if (!al_packed2_same(&p)) {
		msgpack_packer *out = al_mb_key(&f, "resource_slots");
		out->callback(out->data, p.b.data, p.b.size);
		n++;
	}
	if (shmem != old_shmem) {
		al_mb_int(&f, "shared_memory", shmem);
		n++;
	}
	al_packed2_destroy(&p);
	if (n > 0) /* an update that changes nothing records nothing */
		rc = al__emit(c, AL_EV_PRESET_UPDATED, name, &f);
	al_mb_free(&f);
	return rc ? rc : pack_preset(c, name);
}

int al__preset_delete(al_cmd *c)
{
	al_str name;
	msgpack_object row;
	al__arg_str(c, "name", &name);
	int rc = must_find(c, name, &row);
	if (rc == AL_OK)
		rc = al__emit(c, AL_EV_PRESET_DELETED, name, NULL);
	if (rc)
		return rc;
	return al__answer_deleted(c, "name", name);
}

int al__preset_get(al_cmd *c)
{
	al_str name;
	al__arg_str(c, "name", &name);
	return pack_preset(c, name);
}

int al__preset_list(al_cmd *c) { return al__list_view(c, AL_P_PRESETS, DB_PRESETS, pack_public); }

/* ---- preset.check ---------------------------------------------------------------------------------- */

/* The keypair whose policy limits the check: the argument (a user only its own, an admin or
 * monitor those of its domain), else the one the caller signed in with, else the calling
 * user's main keypair. 1 found, 0 none (a local operator), or a negative al_ code. */
static int check_keypair(al_cmd *c, al_keypair_info *kp)
{
	al_str ak;
	int rc;
	if (al__arg_str(c, "keypair", &ak)) {
		if ((rc = al__keypair_info(c->s, c->txn, ak, kp, c->zone, c->err)) < 0)
			return rc;
		if (rc == 0)
			return al_err(c->err, AL_EINVALID_ARGUMENT, "keypair: no keypair %.*s", al__clip(ak.n), ak.p);
		al_user_auth u;
		if ((rc = al__user_auth_info(c->s, c->txn, kp->user, &u, c->zone, c->err)) < 0)
			return rc;
		rc = rc == 1 ? al__authz_read_user(c, kp->user, u.domain) : al__is_superadmin(c) ? AL_OK : al__authz_deny(c);
		return rc ? rc : 1;
	}
	if (c->actor->access_key) {
		al_str own = {c->actor->access_key, strlen(c->actor->access_key)};
		if ((rc = al__keypair_info(c->s, c->txn, own, kp, c->zone, c->err)) != 0)
			return rc;
	}
	if (c->actor->user)
		return al__keypair_of_user(c->s, c->txn, (al_str){c->actor->user, strlen(c->actor->user)}, kp, c->zone,
					   c->err);
	return 0;
}

/* What the keypair's sessions occupy, per slot (v_occupancy: its sessions in the platform's
 * USER_RESOURCE_OCCUPYING statuses), as a slot map decoded in c->zone. */
static int keypair_occupied(al_cmd *c, al_str access_key, msgpack_object *out)
{
	al_row_occupancy o;
	al_slotvec occ = {0};
	int rc = al__session_occupancy(c, 'k', access_key, &o);
	if (rc < 0)
		return rc;
	if (rc == 1 && al_slotvec_parse(&occ, o.slots) != 0)
		return al_err(c->err, AL_ECORRUPT, "keypair %.*s: occupied slots do not parse", al__clip(access_key.n),
			      access_key.p);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	al_slotvec_pack(&occ, &pk);
	char *copy = sb.size ? al_zone_malloc(c->zone, sb.size) : NULL; /* strings point into it */
	rc = copy == NULL ? al_err(c->err, AL_ENO_MEMORY, "out of memory") : AL_OK;
	if (rc == AL_OK) {
		memcpy(copy, sb.data, sb.size);
		if (al_mp_decode(copy, sb.size, c->zone, out) != 0)
			rc = al_err(c->err, AL_EINTERNAL, "occupied slots do not decode");
	}
	al_sbuffer_destroy(&sb);
	return rc;
}

/* The free slots of the group's schedulable ALIVE agents, copied out of al__agents_each. */
typedef struct frees {
	al_cmd *c;
	msgpack_object *v;
	size_t n, cap;
} frees;

static int collect_free(const msgpack_object *row, void *ctx)
{
	frees *f = ctx;
	al_str status = {"", 0};
	bool sched = false;
	al_mp_str(row, "status", &status);
	al_mp_bool(row, "schedulable", &sched);
	const msgpack_object *free_slots = al_mp_get(row, "free");
	if (!al_str_eq(status, "ALIVE") || !sched || free_slots == NULL)
		return 0;
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		msgpack_object *v = al_zone_malloc(f->c->zone, cap * sizeof *v);
		if (v == NULL)
			return AL_ENO_MEMORY;
		if (f->n)
			memcpy(v, f->v, f->n * sizeof *v);
		f->v = v;
		f->cap = cap;
	}
	/* A deep copy: the row is gone once this returns. */
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	msgpack_pack_object(&pk, *free_slots);
	char *copy = al_zone_malloc(f->c->zone, sb.size);
	int rc = copy == NULL ? AL_ENO_MEMORY : AL_OK;
	if (rc == AL_OK) {
		memcpy(copy, sb.data, sb.size);
		rc = al_mp_decode(copy, sb.size, f->c->zone, &f->v[f->n]) == 0 ? AL_OK : AL_EINTERNAL;
	}
	al_sbuffer_destroy(&sb);
	if (rc == AL_OK)
		f->n++;
	return rc;
}

/* Whether slots fit into avail in every slot slots names. */
static bool fits(const msgpack_object *slots, const msgpack_object *avail)
{
	for (uint32_t i = 0; i < slots->via.map.size; i++)
		if (amount(&slots->via.map.ptr[i].val) > slot_amount(avail, obj_str(&slots->via.map.ptr[i].key)))
			return false;
	return true;
}

/* Whether slots fit into what the policy leaves the keypair. */
static bool fits_policy(const msgpack_object *slots, const msgpack_object *pol, const msgpack_object *occupied)
{
	for (uint32_t i = 0; i < slots->via.map.size; i++) {
		al_str name = obj_str(&slots->via.map.ptr[i].key);
		double limit;
		if (al__policy_slot_limit(pol, name, &limit) &&
		    amount(&slots->via.map.ptr[i].val) > (long double)limit - slot_amount(occupied, name))
			return false;
	}
	return true;
}

typedef struct preset_check {
	al_rows rows;
	const frees *f;
	const msgpack_object *pol, *occupied;
	bool limited;
} preset_check;

/* One preset: allocatable when it fits the keypair's policy and some agent's free slots. */
static int check_one(al_cmd *c, al_str key, const msgpack_object *row, void *ctx)
{
	preset_check *pc = ctx;
	msgpack_packer *pk = &pc->rows.pk;
	(void)key;
	const msgpack_object *slots = al_mp_get(row, "resource_slots");
	msgpack_object none = {.type = MSGPACK_OBJECT_MAP};
	if (slots == NULL || slots->type != MSGPACK_OBJECT_MAP)
		slots = &none;
	bool ok = !pc->limited || fits_policy(slots, pc->pol, pc->occupied), agent = false;
	for (size_t i = 0; ok && !agent && i < pc->f->n; i++)
		agent = fits(slots, &pc->f->v[i]);
	msgpack_pack_map(pk, 4);
	al__row_col(pk, "name", 's', row, NULL);
	al_pack_cstr(pk, "allocatable");
	(ok && agent) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	al__row_col(pk, "resource_slots", 'm', row, NULL);
	al__row_col(pk, "shared_memory", 'i', row, NULL);
	return al__rows_push(c, &pc->rows);
}

int al__preset_check(al_cmd *c)
{
	al_str group;
	al_keypair_info kp;
	msgpack_object pol, occupied = {.type = MSGPACK_OBJECT_MAP};
	bool limited = false;
	al__arg_str(c, "group", &group);
	int rc = check_keypair(c, &kp), has_kp = rc; /* the group is the last check */
	if (rc < 0 || (rc = al__rgroup_require(c, "group", group)))
		return rc;
	if (has_kp == 1) {
		if ((rc = al__policy_row(c->s, c->txn, AL_POLICY_KEYPAIR, kp.resource_policy, c->zone, &pol, c->err)) < 0)
			return rc;
		limited = rc == 1; /* a policy in use cannot be deleted; none would be no limit */
		if ((rc = keypair_occupied(c, kp.access_key, &occupied)))
			return rc;
	}
	frees f = {.c = c};
	if ((rc = al__agents_each(c->s, c->txn, group, collect_free, &f, c->err)))
		return rc;

	preset_check pc = {.f = &f, .pol = &pol, .occupied = &occupied, .limited = limited};
	al__rows_begin(c, &pc.rows);
	rc = al__each_row(c, dbi(c), "list presets", "a preset", "presets", check_one, &pc);
	return al__rows_end(c, &pc.rows, rc);
}
