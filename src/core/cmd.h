/*
 * cmd.h - what a command handler sees, and the one way it records a change (al__emit).
 *
 * A handler reads the views through c->txn, validates, then emits events and packs one
 * result value on c->out. Arguments have been checked against the command table already:
 * unknown names, wrong types and missing required arguments never reach a handler.
 * Validate everything before the first emit: a command rejected before it emits has written
 * nothing. One that fails after emitting makes the dispatcher abort the transaction and run
 * the batch again without it, which is exact but costly.
 */
#ifndef AL_CMD_H
#define AL_CMD_H

#include "core/catalogue.h"
#include "core/log.h"
#include "core/store.h"
#include "util/rowcodec.h"

typedef struct al_cmd {
	al_store *s;
	al_wtxn *w;   /* NULL for READ commands */
	MDB_txn *txn; /* where to read views */
	const al_cmd_def *def;
	const al_actor *actor;
	const msgpack_object *args; /* a map */
	const msgpack_object *prep; /* map decided by the prepare step, or NULL */
	int64_t now_us;             /* the command's time, decided once */
	al_str request_id, reason;
	msgpack_packer *out; /* pack exactly one value: the result */
	uint64_t first_seq, last_seq;
	bool secret_result; /* the result reveals a secret: sealed when kept for request-id retries */
	al_error *err;
	msgpack_zone *zone; /* for decoded rows; lives as long as the command */
	al_row_fn sink;     /* set by al_exec_stream: list rows go here one by one */
	void *sink_ctx;
	al_error failed;    /* al__cmd_fail: the command fails with this whatever the handler returns */
} al_cmd;

/*
 * Records an error a helper met where it cannot return one (a packer that could not read a
 * view, al__keep out of memory): the command fails with it once its handler returns, whatever
 * the handler returns, like SQLite's pParse->rc. The first error recorded counts. Returns code.
 */
int al__cmd_fail(al_cmd *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same with an error a helper set (often *c->err itself); nothing when e->code is AL_OK. */
void al__cmd_fail_err(al_cmd *c, const al_error *e);

/*
 * A list result built row by row. Normally the rows are packed into a side buffer and
 * al__rows_end writes the array (its header needs the count); under al_exec_stream each row
 * goes to the sink as soon as it is pushed, so memory stays one row:
 *     al__rows_begin(c, &r);
 *     for (...) { pack_row(&r.pk); if ((rc = al__rows_push(c, &r))) break; }
 *     return al__rows_end(c, &r, rc);
 */
typedef struct al_rows {
	msgpack_sbuffer buf;
	msgpack_packer pk; /* pack exactly one value per row on this */
	uint32_t n;
	size_t mark; /* where the current row starts in buf */
	unsigned long nomem; /* al__nomem_count() at the start: a row packed short is never handed on */
} al_rows;
void al__rows_begin(al_cmd *c, al_rows *r);
int al__rows_push(al_cmd *c, al_rows *r);
/* Finishes the list (when rc is AL_OK) and frees r; returns rc. */
int al__rows_end(al_cmd *c, al_rows *r, int rc);
/* True under al_exec_stream: lists then have no default row limit. */
static inline bool al__streaming(const al_cmd *c) { return c->sink != NULL; }

typedef int (*al_handler_fn)(al_cmd *c);
/* Runs before the transaction (on a worker, in the server): slow or random decisions such
 * as password hashes and ids, packed into out. May validate stateless arguments. */
typedef int (*al_prepare_fn)(al_store *s, const msgpack_object *args, al_mb *out, al_error *err);

/* The command table's least role of d admits actor a (a monitor: reads up to the admin
 * level). The dispatcher checks it with the actor's rights as of the command's transaction. */
bool al__role_allows(const al_actor *a, const al_cmd_def *d);

/* Records one event about entity id: appends it and applies it to every view. */
int al__emit(al_cmd *c, enum al_ev_id ev, al_str id, const al_mb *fields);

#define AL_LIST_MAX 1000 /* elements of a LIST argument */
#define AL_UNLIMITED (-1.0) /* a LIMIT argument given as "unlimited" */

/* Arguments, already type-checked. Return 1 when present (and not nil). */
int al__arg_str(const al_cmd *c, const char *name, al_str *out);
/* How many of the n argument names are given (present and not nil): an update with none of
 * them has nothing to do. */
int al__args_given(const al_cmd *c, const char *const *names, size_t n);
/* --domain, else the actor's own domain, else "default": the domain a project-scoped command
 * (projects, folders, storage quotas, resource group targets) means. */
al_str al__domain_arg(const al_cmd *c);
/* A LIMIT: its value, or AL_UNLIMITED. */
int al__arg_limit(const al_cmd *c, const char *name, double *out);
/* A LIST: the array object (every element a string). */
int al__arg_list(const al_cmd *c, const char *name, const msgpack_object **out);
int al__arg_int(const al_cmd *c, const char *name, int64_t *out);
int al__arg_bool(const al_cmd *c, const char *name, bool *out);
/* At most 64 bytes of a name in a message. */
static inline int al__clip(size_t n) { return n > 64 ? 64 : (int)n; }

/* The row under key in sub-database db of projection p, decoded in c->zone: 1 found, 0 not
 * found, or a negative al_ code. */
int al__find_row(al_cmd *c, int p, int db, al_str key, msgpack_object *row);
/* The same, answering not_found "<what> <key>: not found" when there is none. */
int al__must_find_row(al_cmd *c, int p, int db, const char *what, al_str key, msgpack_object *row);
/* The map under key (0 < its length <= max) in view database dbi, decoded in z, for callers
 * outside a command: 1 found, 0 not found, or a negative al_ code. Messages: "read <what>:
 * <LMDB error>", "<row_what> view row does not decode" (what "agent", row_what "an agent"). */
int al__get_map(MDB_txn *txn, MDB_dbi dbi, al_str key, size_t max, msgpack_zone *z, msgpack_object *row,
		const char *what, const char *row_what, al_error *err);
/* al__find_row by a view database and a message of the caller's: the row under key (0 < its
 * length <= max) of dbi, decoded in c->zone; "read <what>: <LMDB error>" when unreadable. */
int al__get_row(al_cmd *c, MDB_dbi dbi, al_str key, size_t max, const char *what, msgpack_object *row);
/* How many keys of sub-database db of projection p start with "a NUL" (al__key2's range). */
int al__count_range(al_cmd *c, int p, int db, al_str a, uint64_t *n);
/* Lists every row of sub-database db of projection p in key order, each packed by pack (one
 * value on pk), through al__rows_* (so it streams under al_exec_stream). */
/* Calls fn with every row of view database dbi in key order, each decoded (a map) in a zone
 * of its own that lives until fn returns. fn returns AL_OK to go on, a negative al_ code to
 * fail, or a positive number to stop early (al__each_row then returns AL_OK). The messages name
 * the view: "<open>: <LMDB error>" (open: "list users"), "<row_what> view row does not decode"
 * (row_what: "a user"), "read <what>: ..." when the walk breaks off (what: "users"). */
typedef int (*al_row_visit_fn)(al_cmd *c, al_str key, const msgpack_object *row, void *ctx);
int al__each_row(al_cmd *c, MDB_dbi dbi, const char *open, const char *row_what, const char *what,
		 al_row_visit_fn fn, void *ctx);
/* How many rows of sub-database db of projection p have the string column col equal to val
 * (al__each_row's messages, what the projection's name): who still follows a policy. */
int al__count_rows_eq(al_cmd *c, int p, int db, const char *open, const char *row_what, const char *col, al_str val,
		      uint64_t *n);
/* The same for compact rows of kind d (rowcodec.h). */
int al__count_rows_eq_in(al_cmd *c, int p, int db, const char *open, const char *row_what, const al_row_def *d,
			 const char *col, al_str val, uint64_t *n);
/* A compact row of kind d under key: 1 found, 0 not (or an empty key), or a negative code;
 * its strings live in z and the transaction. */
int al__get_compact(MDB_txn *txn, MDB_dbi dbi, al_str key, msgpack_zone *z, const al_row_def *d, void *row,
		const char *what, const char *row_what, al_error *err);
/* Calls fn with the part after prefix (pn bytes, 0: every key) of each key of view database dbi
 * that starts with it, and its value; stops at fn's first non-zero value and returns it.
 * Messages: "read <what>: <LMDB error>". */
typedef int (*al_prefix_fn)(al_cmd *c, al_str rest, const MDB_val *val, void *ctx);
int al__scan_prefix(al_cmd *c, MDB_dbi dbi, const char *prefix, size_t pn, const char *what, al_prefix_fn fn,
		    void *ctx);
/* The same, failing to open the cursor with "<open>: <LMDB error>" (open: "list projects"). */
int al__scan_prefix_as(al_cmd *c, MDB_dbi dbi, const char *open, const char *prefix, size_t pn, const char *what,
		       al_prefix_fn fn, void *ctx);
typedef void (*al_row_pack_fn)(al_cmd *c, const msgpack_object *row, msgpack_packer *pk);
int al__list_view(al_cmd *c, int p, int db, al_row_pack_fn pack);
/* The rc of an mdb_get in a yes/no lookup: true when found. Any failure but MDB_NOTFOUND fails
 * the command (al__cmd_fail) and reads as not found. */
bool al__cmd_found(al_cmd *c, int rc, const char *what);
/* al__entity_version for a packer: 0 and the command failed (al__cmd_fail) when unreadable. */
uint64_t al__cmd_version(al_cmd *c, const char *kind, al_str id);
/* prefix then s copied into c->zone, NUL-terminated: outlives LMDB's pages and the cursor that
 * found it. Out of memory it returns "" and fails the command (al__cmd_fail): a caller whose
 * next step depends on the copy checks c->failed.code. */
al_str al__keep(al_cmd *c, const char *prefix, al_str s);
/* A list of strings kept in c->zone (al__keep), grown as needed. */
typedef struct al_strs {
	al_str *v;
	uint32_t n, cap;
} al_strs;
int al__strs_add(al_cmd *c, al_strs *l, al_str s);
/* key, then the time us as text (al_time_format), or nil when 0 (never set). */
void al__pack_time_or_nil(msgpack_packer *pk, const char *key, int64_t us);
/* A delete's answer {key: val, "deleted": true} on c->out; AL_OK. */
int al__answer_deleted(al_cmd *c, const char *key, al_str val);
/* A view row's msgpack bytes as a decoded map in a zone the command owns. */
int al__decode_row(al_cmd *c, const MDB_val *v, msgpack_object *out);

/* Handlers and prepare steps named in schemas/commands.def. */
#define AL_CMD(ID, op, kind, role, target, entity, handler, prepare, doc) int handler(al_cmd *c);
#define AL_ARG(ID, name, type, flags, doc)
#include "commands.def"
#undef AL_CMD
#undef AL_ARG
int al__user_create_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err);
int al__user_update_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err);
int al__store_init_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err);
int al__totp_enable_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err);
int al__totp_confirm_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err);
int al__project_create_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err);
/* keypair.create's prepare step (see nouns.h). */
int al__keypair_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err);
/* registries and images (registries.c, rescan.c): the password sealed; the registry scan. */
int al__registry_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err);
int al__image_rescan_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err);
/* session.create's prepare step: the new session's id (sessions.c). */
int al__session_prepare(al_store *s, const msgpack_object *args, al_mb *out, al_error *err);

#endif
