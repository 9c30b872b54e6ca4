/*
 * maintenance.c - the guide's Maintenance and Information pages: `maintenance
 * recalculate-usage` and `info`. (`maintenance rescan-images` belongs to the image rescan,
 * images.c / rescan.c.)
 *
 * recalculate-usage (platform-model §12.2): the occupied slots of every agent and the number of
 * concurrent sessions of every keypair are recomputed from the log, compared with the figures
 * the views hold, and the differences are recorded as one usage.recalculated event (nothing
 * when everything agrees). The recomputation is a fold over the events that occupy and release
 * resources, which are session events; sessions do not exist yet, so the recomputed figures are
 * all zero (an empty slot map, 0 sessions) until the sessions issue adds its events to
 * fold_sessions. The views compared: each agent's "occupied" (al__agents_each) and each
 * keypair's "concurrency_used" (absent: 0). The agents projection applies the event's "agents";
 * keypair concurrency joins the keypair rows with sessions, and its apply with it.
 */
#include <stdio.h>
#include <string.h>

#include "core/record.h"
#include "core/rows.h"
#include "nouns/nouns.h"

#define XSTR_(x) #x
#define XSTR(x) XSTR_(x)

/* ---- recalculate-usage ---------------------------------------------------------------------- */

/* The recomputed figures. With session events, this holds agent id -> slots and access key ->
 * count; today nothing occupies anything, so every lookup answers zero. */
typedef struct tally {
	int unused;
} tally;

/* Folds the session events into t. There are none yet (see the file comment). */
static int fold_sessions(al_cmd *c, tally *t)
{
	(void)c, (void)t;
	return AL_OK;
}

/* What agent id occupies according to t: an empty slot map until sessions exist. */
static void want_agent(const tally *t, al_str id, msgpack_packer *pk)
{
	(void)t, (void)id;
	msgpack_pack_map(pk, 0);
}

static int64_t want_keypair(const tally *t, al_str ak)
{
	(void)t, (void)ak;
	return 0;
}

static bool num(const msgpack_object *v, double *out)
{
	switch (v->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)v->via.u64; return true;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)v->via.i64; return true;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64: *out = v->via.f64; return true;
	default: return false;
	}
}

/* Whether two slot maps differ; a missing slot counts as 0, so {} equals {cpu: 0}. A value
 * that is not a number differs from everything. */
bool al__slots_differ(const msgpack_object *a, const msgpack_object *b)
{
	const msgpack_object *maps[2] = {a, b};
	for (int side = 0; side < 2; side++) {
		const msgpack_object *m = maps[side], *o = maps[1 - side];
		if (m == NULL || m->type != MSGPACK_OBJECT_MAP)
			continue;
		for (uint32_t i = 0; i < m->via.map.size; i++) {
			const msgpack_object_kv *kv = &m->via.map.ptr[i];
			char key[64];
			double x, y = 0;
			if (kv->key.type != MSGPACK_OBJECT_STR || !num(&kv->val, &x))
				return true;
			al_str_cpy(key, sizeof key, (al_str){kv->key.via.str.ptr, kv->key.via.str.size});
			const msgpack_object *w = o && o->type == MSGPACK_OBJECT_MAP ? al_mp_get(o, key) : NULL;
			if (w && !num(w, &y))
				return true;
			if (x != y)
				return true;
		}
	}
	return false;
}

typedef struct recalc {
	al_cmd *c;
	const tally *t;
	uint64_t agents, keypairs;             /* checked */
	al_mb fix_agents, was_agents, fix_kp, was_kp; /* corrections: new and old figures */
	msgpack_sbuffer scratch;
} recalc;

static int check_agent(const msgpack_object *row, void *ctx)
{
	recalc *r = ctx;
	al_str id;
	if (al_mp_str(row, "id", &id) != 1)
		return al_err(r->c->err, AL_ECORRUPT, "an agent row has no id");
	r->agents++;
	msgpack_packer pk;
	msgpack_object want;
	msgpack_zone z;
	r->scratch.size = 0;
	msgpack_packer_init(&pk, &r->scratch, al_sbuffer_write);
	want_agent(r->t, id, &pk);
	msgpack_zone_init(&z, 256);
	int rc = al_mp_decode(r->scratch.data, r->scratch.size, &z, &want);
	if (rc == 0 && al__slots_differ(al_mp_get(row, "occupied"), &want)) {
		char key[AL_MAX_ID + 1];
		al_str_cpy(key, sizeof key, id);
		al_mb_obj(&r->fix_agents, key, &want);
		const msgpack_object *had = al_mp_get(row, "occupied");
		if (had)
			al_mb_obj(&r->was_agents, key, had);
		else
			msgpack_pack_map(al_mb_key(&r->was_agents, key), 0);
	}
	msgpack_zone_destroy(&z);
	return rc ? al_err(r->c->err, AL_EINTERNAL, "recomputed slots do not decode") : 0;
}

/* Every keypair row of the keypairs view (its first sub-database, access key -> row). */
static int check_keypair(al_cmd *c, al_str ak, const msgpack_object *row, void *ctx)
{
	recalc *r = ctx;
	al_row_keypair k;
	if (al_row_read(&al_row_keypair_def, row, &k) != 0)
		return al_err(c->err, AL_ECORRUPT, "a keypair view row does not decode");
	int64_t have = k.concurrency_used;
	r->keypairs++;
	int64_t want = want_keypair(r->t, ak);
	if (have != want) {
		char key[AL_MAX_ID + 1];
		al_str_cpy(key, sizeof key, ak);
		al_mb_int(&r->fix_kp, key, want);
		al_mb_int(&r->was_kp, key, have);
	}
	return AL_OK;
}

static int check_keypairs(recalc *r)
{
	return al__each_row(r->c, al__view_dbi(r->c->s, AL_P_KEYPAIRS, 0), "read keypairs", "a keypair", "keypairs",
			    check_keypair, r);
}

static void pack_result(al_cmd *c, const recalc *r)
{
	msgpack_pack_map(c->out, 5);
	al_pack_cstr(c->out, "agents_checked");
	msgpack_pack_uint64(c->out, r->agents);
	al_pack_cstr(c->out, "keypairs_checked");
	msgpack_pack_uint64(c->out, r->keypairs);
	al_pack_cstr(c->out, "corrections");
	msgpack_pack_uint32(c->out, r->fix_agents.n + r->fix_kp.n);
	al_pack_cstr(c->out, "agents");
	al_mb_finish(&r->fix_agents, c->out);
	al_pack_cstr(c->out, "keypairs");
	al_mb_finish(&r->fix_kp, c->out);
}

/* The image rescan of every registry: the prepare step (network, outside the transaction) is
 * the images module's, and so is recording what it found. */
int al__maintenance_rescan_images(al_cmd *c) { return al__images_rescan_apply(c); }

int al__maintenance_recalculate_usage(al_cmd *c)
{
	tally t = {0};
	recalc r = {.c = c, .t = &t};
	al_mb_init(&r.fix_agents), al_mb_init(&r.was_agents), al_mb_init(&r.fix_kp), al_mb_init(&r.was_kp);
	msgpack_sbuffer_init(&r.scratch);
	int rc = fold_sessions(c, &t);
	if (rc == AL_OK)
		rc = al__agents_each(c->s, c->txn, (al_str){"", 0}, check_agent, &r, c->err);
	if (rc == AL_OK)
		rc = check_keypairs(&r);
	if (rc == AL_OK && r.fix_agents.n + r.fix_kp.n > 0) { /* all agrees: nothing to record */
		al_mb f;
		al_mb_init(&f);
		if (r.fix_agents.n) {
			al_mb_finish(&r.fix_agents, al_mb_key(&f, "agents"));
			al_mb_finish(&r.was_agents, al_mb_key(&f, "agents_before"));
		}
		if (r.fix_kp.n) {
			al_mb_finish(&r.fix_kp, al_mb_key(&f, "keypairs"));
			al_mb_finish(&r.was_kp, al_mb_key(&f, "keypairs_before"));
		}
		rc = al__emit(c, AL_EV_USAGE_RECALCULATED, (al_str){"usage", 5}, &f);
		al_mb_free(&f);
	}
	if (rc == AL_OK)
		pack_result(c, &r);
	al_mb_free(&r.fix_agents), al_mb_free(&r.was_agents), al_mb_free(&r.fix_kp), al_mb_free(&r.was_kp);
	al_sbuffer_destroy(&r.scratch);
	return rc;
}

/* ---- info ------------------------------------------------------------------------------------ */

/* One component: name, kind, version and the version this build expects (as text), the
 * projection's cursor (nil for others), compatible, and why. */
static void pack_component(msgpack_packer *pk, const char *name, const char *kind, const char *version,
			   const char *expected, const uint64_t *cursor, bool ok, const char *detail)
{
	msgpack_pack_map(pk, 7);
	al_pack_cstr(pk, "name"), al_pack_cstr(pk, name);
	al_pack_cstr(pk, "kind"), al_pack_cstr(pk, kind);
	al_pack_cstr(pk, "version"), al_pack_cstr(pk, version);
	al_pack_cstr(pk, "expected"), al_pack_cstr(pk, expected);
	al_pack_cstr(pk, "cursor");
	cursor ? msgpack_pack_uint64(pk, *cursor) : msgpack_pack_nil(pk);
	al_pack_cstr(pk, "compatible");
	ok ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	al_pack_cstr(pk, "detail"), al_pack_cstr(pk, detail);
}

/* The stored version and cursor of projection p ("proj/<name>" in meta); 0/0 when absent. */
static void proj_state(al_cmd *c, const al_projection *p, unsigned *ver, uint64_t *cursor)
{
	char k[80];
	MDB_val key = {(size_t)snprintf(k, sizeof k, "proj/%s", p->name), k}, v;
	*ver = 0;
	*cursor = 0;
	if (al__cmd_found(c, mdb_get(c->txn, c->s->meta, &key, &v), "meta") && v.mv_size == 12) {
		*ver = al__get_be32(v.mv_data);
		*cursor = al__get_be64((const unsigned char *)v.mv_data + 4);
	}
}

int al__info(al_cmd *c)
{
	MDB_val key = {6, "format"}, v;
	unsigned format = al__cmd_found(c, mdb_get(c->txn, c->s->meta, &key, &v), "meta") && v.mv_size == 4
				  ? al__get_be32(v.mv_data) : 0;
	uint64_t head;
	int rc = al__log_head_in(c->s, c->txn, &head, c->err);
	if (rc)
		return rc;
	int64_t client = -1;
	bool has_client = al__arg_int(c, "protocol", &client);
	char ver[32], want[32], detail[160];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	/* A format 1 directory is read as it is (opened read-write, it moves to AL_DIR_FORMAT). */
	bool readable = format == 1 || format == AL_DIR_FORMAT, all = readable;
	msgpack_pack_array(&pk, (uint32_t)(2 + al__nprojections + has_client));
	snprintf(ver, sizeof ver, "%u", format);
	snprintf(want, sizeof want, "%u", AL_DIR_FORMAT);
	pack_component(&pk, "store", "store", ver, want, NULL, readable,
		       readable ? "data directory format readable by this build"
				: "data directory format this build does not read");
	for (size_t i = 0; i < al__nprojections; i++) {
		const al_projection *p = al__projections[i];
		unsigned pv;
		uint64_t cur;
		proj_state(c, p, &pv, &cur);
		cur = al__proj_cursor_at(cur, head);
		bool ok = pv == p->version && cur == head;
		all = all && ok;
		snprintf(ver, sizeof ver, "%u", pv);
		snprintf(want, sizeof want, "%u", p->version);
		if (pv != p->version)
			snprintf(detail, sizeof detail, "built by version %u; opening the directory writable rebuilds it", pv);
		else if (cur != head)
			snprintf(detail, sizeof detail, "%llu events behind; opening the directory writable catches up",
				 (unsigned long long)(head - cur));
		else
			snprintf(detail, sizeof detail, "up to date with the log");
		pack_component(&pk, p->name, "projection", ver, want, &cur, ok, detail);
	}
	snprintf(ver, sizeof ver, "%d", AL_PROTOCOL_VERSION);
	pack_component(&pk, "server", "server", AL_VERSION, AL_VERSION, NULL, true,
		       "the build answering; it speaks protocol version " XSTR(AL_PROTOCOL_VERSION));
	if (has_client) {
		char got[32];
		snprintf(got, sizeof got, "%lld", (long long)client);
		bool ok = client == AL_PROTOCOL_VERSION;
		all = all && ok;
		pack_component(&pk, "client", "client", got, ver, NULL, ok,
			       ok ? "speaks this server's protocol" : "speaks another protocol version");
	}
	msgpack_pack_map(c->out, 6);
	al_pack_cstr(c->out, "server_version"), al_pack_cstr(c->out, AL_VERSION);
	al_pack_cstr(c->out, "protocol_version"), msgpack_pack_int(c->out, AL_PROTOCOL_VERSION);
	al_pack_cstr(c->out, "store_format_version"), msgpack_pack_unsigned_int(c->out, format);
	al_pack_cstr(c->out, "head_seq"), msgpack_pack_uint64(c->out, head);
	al_pack_cstr(c->out, "compatible");
	all ? msgpack_pack_true(c->out) : msgpack_pack_false(c->out);
	al_pack_cstr(c->out, "components");
	c->out->callback(c->out->data, sb.data, sb.size);
	al_sbuffer_destroy(&sb);
	return AL_OK;
}
