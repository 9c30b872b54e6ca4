/*
 * settings.c - system settings (the guide's Configuration page): the settings view, the keys
 * and their rules, `settings get` and `settings set`.
 *
 * Defaults are implicit: a key that was never set has the built-in default of the table below,
 * so the bootstrap records no settings events and `settings get` names the source "default".
 * `settings set` records setting.changed {key, value, old}; the events of a key are its history.
 * Resource groups override the scheduler options: a group always has its own scheduler, and
 * its retries_to_skip when it sets one (see rgroups.c); `settings get --group RG` shows the
 * values that apply in that group and where each came from.
 *
 * View v_settings: key -> value (a msgpack string, the canonical text). It also holds "pwhash",
 * the password hashing cost recorded by store.initialized, which is not a settings key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/validate.h"
#include "nouns/nouns.h"

enum { DB_SETTINGS };

/* ---- the keys --------------------------------------------------------------------------------- */

typedef struct setting_def {
	const char *key, *def;
	char kind; /* 'e' one of values, 'i' an integer in [min, max], 'b' true|false, 'z' a time zone */
	const char *const *values;
	long long min, max;
} setting_def;

static const char *const pull_values[] = {"digest", "tag", "none", NULL};
static const char *const selection_values[] = {"dispersed", "concentrated", NULL}; /* scheduler.c's agent choice */
const char *const al__schedulers[] = {"fifo", "lifo", "drf", NULL};

/* Ranges: the platform's overlay MTU field is 0-15000 and must be >= 1 to mean anything; its
 * scheduler dialog takes 0-1000 retries; the heartbeat timeout is at least 1 s (a day at most).
 * session-creation-retries has no platform key: it takes the scheduler dialog's range and the
 * guide's "default three times". retries-to-skip is the system-wide default of the resource
 * groups' "retries to skip", which the guide gives as three. The hang tolerances are the
 * platform's config/session/hang-tolerance thresholds (session expire, session_expire.c): 0
 * leaves hung sessions alone, as the platform does without a threshold; at most a year.
 * scheduler-interval is the platform's 10 s scheduling timer, agent-selection its dispersed
 * and concentrated agent choices (the scheduler reads both). */
static const setting_def defs[] = {
	{"image-auto-pull", "digest", 'e', pull_values, 0, 0},
	{"overlay-mtu", "1500", 'i', NULL, 1, 15000},
	{"scheduler", "fifo", 'e', al__schedulers, 0, 0},
	{"retries-to-skip", "3", 'i', NULL, 0, AL_RETRIES_TO_SKIP_MAX},
	{"session-creation-retries", "3", 'i', NULL, 0, 1000},
	{"timezone", "UTC", 'z', NULL, 0, 0},
	{"project-folders", "true", 'b', NULL, 0, 0},
	{"agent-heartbeat-timeout", "40", 'i', NULL, 1, 86400},
	/* Events between view checkpoints (core/checkpoint.h); 0 writes none. */
	{"checkpoint-interval", "65536", 'i', NULL, 0, 999999999},
	{"hang-tolerance-preparing", "0", 'i', NULL, 0, 31536000},
	{"hang-tolerance-terminating", "0", 'i', NULL, 0, 31536000},
	{"scheduler-interval", "10", 'i', NULL, 1, 3600},
	{"agent-selection", "dispersed", 'e', selection_values, 0, 0},
};
#define NDEFS (sizeof defs / sizeof *defs)


static const setting_def *find_def(al_str key)
{
	for (size_t i = 0; i < NDEFS; i++)
		if (al_str_eq(key, defs[i].key))
			return &defs[i];
	return NULL;
}

const char *al__setting_default(const char *key)
{
	const setting_def *d = find_def((al_str){key, strlen(key)});
	return d ? d->def : NULL;
}

/* ---- projection -------------------------------------------------------------------------------- */

static int put_str(const al_view *v, al_str key, const msgpack_object *val, al_error *err)
{
	msgpack_packer pk;
	msgpack_sbuffer *b = al__view_row(v, &pk);
	msgpack_pack_object(&pk, *val);
	return al__view_put(v, DB_SETTINGS, key.p, key.n, b->data, b->size, err);
}

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	if (e->def == al__ev(AL_EV_STORE_INITIALIZED)) {
		const msgpack_object *cost = al_mp_get(&e->fields, "pwhash");
		return cost ? put_str(v, (al_str){"pwhash", 6}, cost, err) : AL_OK;
	}
	if (e->def != al__ev(AL_EV_SETTING_CHANGED))
		return AL_OK;
	const msgpack_object *val = al_mp_get(&e->fields, "value");
	if (e->id.n == 0 || val == NULL || val->type != MSGPACK_OBJECT_STR)
		return al_err(err, AL_ECORRUPT, "event %llu: setting.changed without a key or value",
			      (unsigned long long)e->seq);
	return put_str(v, e->id, val, err);
}

/* v2: setting.changed. */
/* The event types apply reads: the engine calls it for these only. */
static const enum al_ev_id applies_to[] = {AL_EV_STORE_INITIALIZED, AL_EV_SETTING_CHANGED, AL_EV__COUNT};
const al_projection al__proj_settings = {"settings", 2, {"v_settings", NULL}, apply, .on = applies_to};

/* ---- reading --------------------------------------------------------------------------------- */

/* The stored text of key into buf: 1 when set, 0 when not (buf then holds def), or a negative
 * al_ code when it cannot be read. */
static int stored(al_store *s, MDB_txn *txn, const char *key, char *buf, size_t n, const char *def,
		  al_error *err)
{
	MDB_val k = {strlen(key), (void *)key}, v;
	msgpack_zone z;
	msgpack_object o;
	snprintf(buf, n, "%s", def ? def : "");
	int rc = mdb_get(txn, al__view_dbi(s, AL_P_SETTINGS, DB_SETTINGS), &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return al_err(err, AL_EIO_ERROR, "read setting %s: %s", key, mdb_strerror(rc));
	msgpack_zone_init(&z, 256);
	rc = al_mp_decode(v.mv_data, v.mv_size, &z, &o);
	if (rc == 0 && o.type == MSGPACK_OBJECT_STR) {
		al_str_cpy(buf, n, (al_str){o.via.str.ptr, o.via.str.size});
		rc = 1;
	} else /* out of memory, or a value that is no text: the default stands */
		rc = rc == -2 ? al_err(err, AL_ENO_MEMORY, "out of memory") : 0;
	msgpack_zone_destroy(&z);
	return rc;
}

int al__setting_get(al_store *s, MDB_txn *txn, const char *key, char *buf, size_t n, const char *def,
		    al_error *err)
{
	MDB_txn *own = NULL;
	if (def == NULL)
		def = al__setting_default(key);
	snprintf(buf, n, "%s", def ? def : "");
	int rc = txn ? AL_OK : al__read_begin(s, &own, err);
	if (rc == AL_OK)
		rc = stored(s, txn ? txn : own, key, buf, n, def, err);
	if (own)
		mdb_txn_abort(own);
	return rc < 0 ? rc : AL_OK;
}

/* ---- values ------------------------------------------------------------------------------------ */

#define VALUE_MAX 64

/* Decimal digits only, at most 9 of them (no sign, no spaces); -1 otherwise. */
static long long parse_count(al_str v)
{
	if (v.n == 0 || v.n > 9)
		return -1;
	long long n = 0;
	for (size_t i = 0; i < v.n; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		n = n * 10 + (v.p[i] - '0');
	}
	return n;
}

/* An IANA zone name: components of letters, digits, '_', '+', '-', each starting with a letter
 * (so never "." or ".."), separated by '/'; at most 64 characters. */
static bool zone_shape_ok(al_str v)
{
	if (v.n == 0 || v.n > 64)
		return false;
	bool start = true;
	for (size_t i = 0; i < v.n; i++) {
		char ch = v.p[i];
		bool letter = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
		if (start && !letter)
			return false;
		if (ch == '/' ) {
			start = true;
			continue;
		}
		if (!letter && !(ch >= '0' && ch <= '9') && ch != '_' && ch != '+' && ch != '-')
			return false;
		start = false;
	}
	return !start;
}

/* Whether the zone exists in this host's zoneinfo ($TZDIR or /usr/share/zoneinfo): a file that
 * starts with the TZif magic. The command looks, once; the event records the checked name, so
 * a replay never looks again. UTC is always known. */
static bool zone_known(const char *name)
{
	if (strcmp(name, "UTC") == 0)
		return true;
	const char *dir = getenv("TZDIR");
	char path[512], magic[4];
	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return false;
	bool ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
	fclose(f);
	return ok;
}

/* Checks v against d's rule and writes its canonical text into out. */
static int check_value(al_error *err, const setting_def *d, al_str v, char out[VALUE_MAX])
{
	long long n;
	switch (d->kind) {
	case 'e': {
		int rc = al__check_enum(err, d->key, v, d->values);
		if (rc == AL_OK)
			al_str_cpy(out, VALUE_MAX, v);
		return rc;
	}
	case 'i':
		n = parse_count(v);
		if (n < d->min || n > d->max)
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: must be a whole number from %lld to %lld (got '%.*s')",
				      d->key, d->min, d->max, al__clip(v.n), v.p);
		snprintf(out, VALUE_MAX, "%lld", n);
		return AL_OK;
	case 'b':
		if (!al_str_eq(v, "true") && !al_str_eq(v, "false"))
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: must be true or false", d->key);
		al_str_cpy(out, VALUE_MAX, v);
		return AL_OK;
	default:
		if (!zone_shape_ok(v))
			return al_err(err, AL_EINVALID_ARGUMENT,
				      "%s: must be an IANA time zone name like UTC or Asia/Seoul (got '%.*s')", d->key,
				      al__clip(v.n), v.p);
		al_str_cpy(out, VALUE_MAX, v);
		if (!zone_known(out))
			return al_err(err, AL_EINVALID_ARGUMENT, "%s: unknown time zone %s (not in this host's zoneinfo)",
				      d->key, out);
		return AL_OK;
	}
}

/* A value packed with its type: numbers for integer keys, booleans for true|false keys. */
static void pack_typed(msgpack_packer *pk, const setting_def *d, const char *v)
{
	if (d->kind == 'i')
		msgpack_pack_int64(pk, strtoll(v, NULL, 10));
	else if (d->kind == 'b')
		strcmp(v, "true") == 0 ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	else
		al_pack_cstr(pk, v);
}

/* ---- effective values ------------------------------------------------------------------------ */

typedef struct effective {
	char value[VALUE_MAX], source[96];
} effective;

/* The value of d as the settings give it (ignoring resource groups). */
static void from_settings(al_cmd *c, const setting_def *d, effective *out)
{
	al_error e = {0};
	int set = stored(c->s, c->txn, d->key, out->value, sizeof out->value, d->def, &e);
	if (set < 0)
		al__cmd_fail_err(c, &e);
	snprintf(out->source, sizeof out->source, "%s", set > 0 ? "settings" : "default");
}

/* With group (a resource group's stored row, may be NULL): its scheduler, and its retries to
 * skip when it sets them. A group whose scheduler is not fifo skips no pending session. */
static void effective_value(al_cmd *c, const setting_def *d, const msgpack_object *group, effective *out)
{
	from_settings(c, d, out);
	if (group == NULL)
		return;
	al_str name = {"", 0}, sched = {"fifo", 4};
	int64_t retries = -1;
	al_mp_str(group, "name", &name);
	al_mp_str(group, "scheduler", &sched);
	al_mp_int(group, "retries_to_skip", &retries);
	bool is_sched = strcmp(d->key, "scheduler") == 0, is_retries = strcmp(d->key, "retries-to-skip") == 0;
	if (is_sched)
		al_str_cpy(out->value, sizeof out->value, sched);
	else if (is_retries && !al_str_eq(sched, "fifo"))
		snprintf(out->value, sizeof out->value, "0");
	else if (is_retries && retries >= 0)
		snprintf(out->value, sizeof out->value, "%lld", (long long)retries);
	else
		return;
	snprintf(out->source, sizeof out->source, "resource group %.*s", al__clip(name.n), name.p);
}

static void pack_setting(al_cmd *c, const setting_def *d, const msgpack_object *group, msgpack_packer *pk)
{
	effective e;
	effective_value(c, d, group, &e);
	msgpack_pack_map(pk, 4);
	al_pack_cstr(pk, "key");
	al_pack_cstr(pk, d->key);
	al_pack_cstr(pk, "value");
	pack_typed(pk, d, e.value);
	al_pack_cstr(pk, "source");
	al_pack_cstr(pk, e.source);
	al_pack_cstr(pk, "default");
	pack_typed(pk, d, d->def);
}

static int unknown_key(al_cmd *c, al_str key)
{
	return al_err(c->err, AL_EINVALID_ARGUMENT,
		      "key: no setting named '%.*s' (image-auto-pull, overlay-mtu, scheduler, retries-to-skip, "
		      "session-creation-retries, timezone, project-folders, agent-heartbeat-timeout, checkpoint-interval, "
		      "hang-tolerance-preparing, hang-tolerance-terminating, scheduler-interval, agent-selection)",
		      al__clip(key.n), key.p);
}

/* ---- commands ---------------------------------------------------------------------------------- */

int al__settings_get(al_cmd *c)
{
	al_str key, gname;
	const setting_def *one = NULL;
	msgpack_object grow, *group = NULL;
	if (al__arg_str(c, "key", &key) && (one = find_def(key)) == NULL)
		return unknown_key(c, key);
	if (al__arg_str(c, "group", &gname)) {
		int rc = al__rgroup_row(c, gname, &grow);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return al_err(c->err, AL_EINVALID_ARGUMENT, "group: no resource group named %.*s", al__clip(gname.n),
				      gname.p);
		group = &grow;
	}
	if (one) {
		pack_setting(c, one, group, c->out);
		return AL_OK;
	}
	msgpack_pack_array(c->out, NDEFS);
	for (size_t i = 0; i < NDEFS; i++)
		pack_setting(c, &defs[i], group, c->out);
	return AL_OK;
}

/* The scheduler rules of the settings: retries to skip only with fifo, checked from both sides;
 * session creation retries changed only while the scheduler is fifo (the guide's scheduler
 * dialog offers the option with FIFO only; the value stays, and applies, under the others). */
static int check_scheduler_rule(al_cmd *c, const setting_def *d, const char *value, const char *old)
{
	effective other;
	if (strcmp(d->key, "session-creation-retries") == 0 && strcmp(value, old) != 0) {
		from_settings(c, find_def((al_str){"scheduler", 9}), &other);
		if (strcmp(other.value, "fifo") != 0)
			return al_err(c->err, AL_EINVALID_ARGUMENT,
				      "session-creation-retries: can be changed only while the scheduler is fifo (it is %s)",
				      other.value);
	}
	if (strcmp(d->key, "retries-to-skip") == 0 && strcmp(value, "0") != 0) {
		from_settings(c, find_def((al_str){"scheduler", 9}), &other);
		if (strcmp(other.value, "fifo") != 0)
			return al_err(c->err, AL_EINVALID_ARGUMENT,
				      "retries-to-skip: may be non-zero only while the scheduler is fifo (it is %s)",
				      other.value);
	}
	if (strcmp(d->key, "scheduler") == 0 && strcmp(value, "fifo") != 0) {
		from_settings(c, find_def((al_str){"retries-to-skip", 15}), &other);
		if (strcmp(other.value, "0") != 0)
			return al_err(c->err, AL_EINVALID_ARGUMENT,
				      "scheduler: retries-to-skip is %s, which only fifo supports; set it to 0 first",
				      other.value);
	}
	return AL_OK;
}

int al__settings_set(al_cmd *c)
{
	al_str key;
	const msgpack_object *list;
	al__arg_str(c, "key", &key);
	al__arg_list(c, "value", &list);
	const setting_def *d = find_def(key);
	if (d == NULL)
		return unknown_key(c, key);
	if (list->via.array.size != 1)
		return al_err(c->err, AL_EINVALID_ARGUMENT, "value: give exactly one value (got %u)", list->via.array.size);
	al_str v = {list->via.array.ptr[0].via.str.ptr, list->via.array.ptr[0].via.str.size};
	char value[VALUE_MAX];
	effective old;
	int rc = check_value(c->err, d, v, value);
	if (rc)
		return rc;
	from_settings(c, d, &old);
	if ((rc = check_scheduler_rule(c, d, value, old.value)))
		return rc;
	if (strcmp(old.value, value) != 0) { /* the same value again records nothing */
		al_mb f;
		al_mb_init(&f);
		al_mb_cstr(&f, "key", d->key);
		al_mb_cstr(&f, "value", value);
		al_mb_cstr(&f, "old", old.value);
		rc = al__emit(c, AL_EV_SETTING_CHANGED, (al_str){d->key, strlen(d->key)}, &f);
		al_mb_free(&f);
	}
	if (rc == AL_OK)
		pack_setting(c, d, NULL, c->out);
	return rc;
}
