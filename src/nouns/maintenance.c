/*
 * maintenance.c - the guide's Maintenance and Information pages: `maintenance
 * recalculate-usage` and `info`. (`maintenance rescan-images` belongs to the image rescan,
 * images.c / rescan.c.)
 *
 * recalculate-usage (platform-model §12.2): what every live session holds is recomputed from
 * its state rows (al__sessions_fold_holdings: the status, the agents and the occupied slots
 * the scheduler gave it, counted by the platform's status groups exactly as the sessions
 * projection counts them) and compared, holder by holder, with the figures of v_occupancy:
 * each agent's, keypair's, user's, project's and domain's occupying sessions and slots, and
 * each keypair's PENDING sessions and what they ask for. The holders whose figures differ
 * are recorded in one usage.recalculated event (nothing when everything agrees), with the
 * recomputed figures and those the view held. The sessions projection sets each corrected
 * holder's row to the recomputed figures: a value, not a difference, so a replay (whose rows
 * are right whenever the drift came from outside the log) sets the same values again, and a
 * second run finds nothing to correct.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "core/record.h"
#include "core/rows.h"
#include "nouns/nouns.h"
#include "util/alloc.h"

#define XSTR_(x) #x
#define XSTR(x) XSTR_(x)

/* ---- recalculate-usage ---------------------------------------------------------------------- */

/* What one holder has: occupying sessions (system ones among them) and their slots; PENDING
 * ones (a keypair's). */
typedef struct figures {
	int64_t sessions, system_sessions, pending;
	al_slotvec slots;
} figures;

/* The recomputed figures of one holder (kind, then holder's bytes). */
typedef struct entry {
	struct entry *next;
	figures f;
	bool seen; /* v_occupancy has a row for it */
	char kind;
	size_t n;
	char holder[];
} entry;

#define TALLY_BUCKETS 4096

typedef struct tally {
	al_cmd *c;
	entry *b[TALLY_BUCKETS];
} tally;

static entry **slot_of(tally *t, char kind, al_str holder)
{
	entry **e = &t->b[XXH3_64bits_withSeed(holder.p, holder.n, (unsigned char)kind) % TALLY_BUCKETS];
	while (*e && !((*e)->kind == kind && (*e)->n == holder.n && memcmp((*e)->holder, holder.p, holder.n) == 0))
		e = &(*e)->next;
	return e;
}

static void tally_free(tally *t)
{
	for (size_t i = 0; i < TALLY_BUCKETS; i++)
		for (entry *e = t->b[i], *next; e; e = next) {
			next = e->next;
			al_free(e);
		}
}

/* One share of a live session (al__sessions_fold_holdings) added to its holder. */
static int add_share(char kind, al_str holder, bool pending, bool system, const al_slotvec *slots, void *ctx)
{
	tally *t = ctx;
	entry **e = slot_of(t, kind, holder);
	if (*e == NULL) {
		if ((*e = al_calloc(1, sizeof **e + holder.n)) == NULL)
			return al_err(t->c->err, AL_ENO_MEMORY, "out of memory");
		(*e)->kind = kind, (*e)->n = holder.n;
		memcpy((*e)->holder, holder.p, holder.n);
	}
	figures *f = &(*e)->f;
	if (pending) {
		f->pending++;
		return AL_OK;
	}
	f->sessions++;
	f->system_sessions += system;
	if (al_slotvec_add(&f->slots, slots, 1) != 0)
		return al_err(t->c->err, AL_ECORRUPT, "the slots of %.*s do not add up (too many slot types)",
			      al__clip(holder.n), holder.p);
	return AL_OK;
}

/* Folds what every live session holds now into t. */
static int fold_sessions(al_cmd *c, tally *t)
{
	t->c = c;
	return al__sessions_fold_holdings(c, add_share, t);
}

static bool figures_differ(const figures *a, const figures *b)
{
	return a->sessions != b->sessions || a->system_sessions != b->system_sessions || a->pending != b->pending ||
	       !al_slotvec_same(&a->slots, &b->slots);
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

/* A holder whose figures are corrected: the recomputed ones and those the view held. */
typedef struct fix {
	char kind;
	al_str holder; /* in the command's zone */
	figures want, was;
} fix;

typedef struct recalc {
	al_cmd *c;
	tally *t;
	uint64_t agents, keypairs, holders; /* checked */
	fix *v;
	size_t n, cap;
} recalc;

static int add_fix(recalc *r, char kind, al_str holder, const figures *want, const figures *was)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		fix *v = al_realloc(r->v, cap * sizeof *v);
		if (v == NULL)
			return al_err(r->c->err, AL_ENO_MEMORY, "out of memory");
		r->v = v, r->cap = cap;
	}
	al_str kept = al__keep(r->c, "", holder);
	if (r->c->failed.code)
		return al_err(r->c->err, r->c->failed.code, "%s", r->c->failed.msg);
	r->v[r->n++] = (fix){kind, kept, *want, *was};
	return AL_OK;
}

/* One row of v_occupancy against its recomputed figures (none: all zero). A row whose slots
 * do not parse differs from everything. */
static int check_row(char kind, al_str holder, const al_row_occupancy *o, void *ctx)
{
	recalc *r = ctx;
	static const figures zero;
	figures was = {.sessions = o->sessions, .system_sessions = o->system_sessions, .pending = o->pending};
	bool bad = al_slotvec_parse(&was.slots, o->slots) != 0;
	if (bad)
		was.slots.n = 0;
	entry *e = *slot_of(r->t, kind, holder);
	const figures *want = e ? &e->f : &zero;
	r->holders++;
	if (e)
		e->seen = true;
	return bad || figures_differ(want, &was) ? add_fix(r, kind, holder, want, &was) : AL_OK;
}

/* Holders that hold something with no row in the view at all. */
static int check_unseen(recalc *r)
{
	static const figures zero;
	for (size_t i = 0; i < TALLY_BUCKETS; i++)
		for (entry *e = r->t->b[i]; e; e = e->next)
			if (!e->seen) {
				int rc;
				r->holders++;
				if (figures_differ(&e->f, &zero) &&
				    (rc = add_fix(r, e->kind, (al_str){e->holder, e->n}, &e->f, &zero)))
					return rc;
			}
	return AL_OK;
}

static int count_agent(const msgpack_object *row, void *ctx)
{
	(void)row;
	((recalc *)ctx)->agents++;
	return 0;
}

static int count_keypair(al_cmd *c, al_str ak, const msgpack_object *row, void *ctx)
{
	(void)c, (void)ak, (void)row;
	((recalc *)ctx)->keypairs++;
	return AL_OK;
}

/* Corrections in a stable order: by kind (agents, keypairs, users, projects, domains), then holder. */
static int kind_rank(char k) { return k == 'a' ? 0 : k == 'k' ? 1 : k == 'u' ? 2 : k == 'p' ? 3 : 4; }

static int fix_cmp(const void *pa, const void *pb)
{
	const fix *a = pa, *b = pb;
	if (a->kind != b->kind)
		return kind_rank(a->kind) - kind_rank(b->kind);
	int d = memcmp(a->holder.p, b->holder.p, a->holder.n < b->holder.n ? a->holder.n : b->holder.n);
	return d ? d : (a->holder.n > b->holder.n) - (a->holder.n < b->holder.n);
}

static void pack_figures(msgpack_packer *pk, const figures *f)
{
	msgpack_pack_map(pk, 4);
	al_pack_cstr(pk, "sessions"), msgpack_pack_int64(pk, f->sessions);
	al_pack_cstr(pk, "system_sessions"), msgpack_pack_int64(pk, f->system_sessions);
	al_pack_cstr(pk, "slots"), al_slotvec_pack(&f->slots, pk);
	al_pack_cstr(pk, "pending"), msgpack_pack_int64(pk, f->pending);
}

/* The corrections as kind name -> holder -> figures (before: those the view held). */
static void pack_fixes(msgpack_packer *pk, const recalc *r, bool before)
{
	uint32_t kinds = 0;
	for (size_t i = 0; i < r->n; i++)
		kinds += i == 0 || r->v[i].kind != r->v[i - 1].kind;
	msgpack_pack_map(pk, kinds);
	for (size_t i = 0; i < r->n;) {
		size_t j = i;
		while (j < r->n && r->v[j].kind == r->v[i].kind)
			j++;
		al_pack_cstr(pk, al__occupancy_kind_name(r->v[i].kind));
		msgpack_pack_map(pk, (uint32_t)(j - i));
		for (; i < j; i++) {
			al_pack_str(pk, r->v[i].holder.p, r->v[i].holder.n);
			pack_figures(pk, before ? &r->v[i].was : &r->v[i].want);
		}
	}
}

/* The agents' slots or the keypairs' session counts of the corrections (the summary fields). */
static uint32_t pack_summary(msgpack_packer *pk, const recalc *r, char kind, bool before)
{
	uint32_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += r->v[i].kind == kind;
	if (pk == NULL)
		return n;
	msgpack_pack_map(pk, n);
	for (size_t i = 0; i < r->n; i++) {
		const figures *f = before ? &r->v[i].was : &r->v[i].want;
		if (r->v[i].kind != kind)
			continue;
		al_pack_str(pk, r->v[i].holder.p, r->v[i].holder.n);
		if (kind == 'a')
			al_slotvec_pack(&f->slots, pk);
		else
			msgpack_pack_int64(pk, f->sessions);
	}
	return n;
}

static int emit_fixes(al_cmd *c, const recalc *r)
{
	al_mb f;
	al_mb_init(&f);
	if (pack_summary(NULL, r, 'a', false)) {
		pack_summary(al_mb_key(&f, "agents"), r, 'a', false);
		pack_summary(al_mb_key(&f, "agents_before"), r, 'a', true);
	}
	if (pack_summary(NULL, r, 'k', false)) {
		pack_summary(al_mb_key(&f, "keypairs"), r, 'k', false);
		pack_summary(al_mb_key(&f, "keypairs_before"), r, 'k', true);
	}
	pack_fixes(al_mb_key(&f, "occupancy"), r, false);
	pack_fixes(al_mb_key(&f, "occupancy_before"), r, true);
	int rc = al__emit(c, AL_EV_USAGE_RECALCULATED, (al_str){"usage", 5}, &f);
	al_mb_free(&f);
	return rc;
}

static void pack_result(al_cmd *c, const recalc *r)
{
	msgpack_pack_map(c->out, 7);
	al_pack_cstr(c->out, "agents_checked");
	msgpack_pack_uint64(c->out, r->agents);
	al_pack_cstr(c->out, "keypairs_checked");
	msgpack_pack_uint64(c->out, r->keypairs);
	al_pack_cstr(c->out, "holders_checked");
	msgpack_pack_uint64(c->out, r->holders);
	al_pack_cstr(c->out, "corrections");
	msgpack_pack_uint64(c->out, r->n);
	al_pack_cstr(c->out, "agents");
	pack_summary(c->out, r, 'a', false);
	al_pack_cstr(c->out, "keypairs");
	pack_summary(c->out, r, 'k', false);
	al_pack_cstr(c->out, "occupancy");
	pack_fixes(c->out, r, false);
}

/* The image rescan of every registry: the prepare step (network, outside the transaction) is
 * the images module's, and so is recording what it found. */
int al__maintenance_rescan_images(al_cmd *c) { return al__images_rescan_apply(c); }

int al__maintenance_recalculate_usage(al_cmd *c)
{
	tally *t = al_calloc(1, sizeof *t);
	recalc r = {.c = c, .t = t};
	if (t == NULL)
		return al_err(c->err, AL_ENO_MEMORY, "out of memory");
	int rc = fold_sessions(c, t);
	if (rc == AL_OK)
		rc = al__occupancy_each(c, check_row, &r);
	if (rc == AL_OK)
		rc = check_unseen(&r);
	if (rc == AL_OK)
		rc = al__agents_each(c->s, c->txn, (al_str){"", 0}, count_agent, &r, c->err);
	if (rc == AL_OK)
		rc = al__each_row(c, al__view_dbi(c->s, AL_P_KEYPAIRS, 0), "read keypairs", "a keypair", "keypairs",
				  count_keypair, &r);
	if (rc == AL_OK && r.n > 1)
		qsort(r.v, r.n, sizeof *r.v, fix_cmp);
	if (rc == AL_OK && r.n > 0) /* all agrees: nothing to record */
		rc = emit_fixes(c, &r);
	if (rc == AL_OK)
		pack_result(c, &r);
	al_free(r.v);
	tally_free(t);
	al_free(t);
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
