/*
 * adminlog.h - the library API used by adminctl, adminlog, the server, tests and benchmarks.
 *
 * A store is one data directory: one LMDB environment holding the append-only event log, its
 * indexes, and the views that projections fold from it. Every change goes through one path:
 * al_exec()/al_exec_batch() run a command from the command table (schemas/commands.def); a
 * write command validates against the views, appends events, applies them to the views and
 * commits, all in one LMDB write transaction.
 *
 * Ownership: memory handed out (al_reply.result, al_prepare's output, al_store_stats's map, the
 * client's answers) comes from the library's allocator (al_replace_allocator) and goes back
 * through the library: al_reply_free, al_prepared_free, or al_free, never free().
 * Pointers inside an al_event live until the callback that received it returns.
 */
#ifndef ADMINLOG_H
#define ADMINLOG_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "al_err.h"

#define AL_VERSION "0.1.0"
#define AL_FORMAT_VERSION 1 /* on-disk record format, see docs/format.md */
#define AL_PROTOCOL_VERSION 1 /* the client/server wire protocol (docs/protocol.md) */

typedef struct al_store al_store;

/* ---- memory ------------------------------------------------------------------------------- */

/*
 * Replaces the allocator of the whole library (libuv's uv_replace_allocator): every allocation
 * the library makes itself goes through these four. Call it before any other al_ call, from
 * one thread, and never again while memory the library allocated is still live. What is not
 * covered: the memory LMDB, msgpack-c's zones, libsodium, libevent and libcurl allocate
 * inside themselves (docs/architecture.md, "Faults and allocation").
 * @return AL_OK, or AL_EINVALID_ARGUMENT (and nothing changes) when a function is NULL.
 */
int al_replace_allocator(void *(*malloc_fn)(size_t), void *(*realloc_fn)(void *, size_t),
			 void *(*calloc_fn)(size_t, size_t), void (*free_fn)(void *));
/* Frees memory the library handed out where no specific function is named; NULL is accepted. */
void al_free(void *p);

/* ---- opening a data directory ----------------------------------------------------- */

enum al_open_flags {
	AL_OPEN_CREATE = 1 << 0, /* create the directory and an empty environment */
	AL_OPEN_RDONLY = 1 << 1, /* read only: no catch-up, no writes */
	AL_OPEN_NOSYNC = 1 << 2, /* no fsync on commit: scratch stores and benchmarks only */
	AL_OPEN_QUIET = 1 << 3,  /* do not pass projection catch-up messages to opts->log */
	/* Never grow the map in this process: LMDB may change the map size only while no other
	 * thread has a transaction open, which a threaded server cannot promise. A full map then
	 * refuses writes with AL_ELIMIT_EXCEEDED instead of growing (reserve enough map_size). */
	AL_OPEN_FIXED_MAP = 1 << 4,
	/* adminlogd: the only writer while it runs (DIR/adminlogd.lock, below). */
	AL_OPEN_SERVER = 1 << 5,
	/* For a caller that only reads: open read-write when allowed (so views catch up), else
	 * read-only: while adminlogd serves the directory (its views are current), or when
	 * DIR/master.key is missing (al_store_has_secrets then says 0). */
	AL_OPEN_READER = 1 << 6,
};

/* How much a message of the library matters: AL_LOG_WARN when a view is rebuilt because its
 * stored version differs from the code's, AL_LOG_INFO for progress (a view catching up). */
enum al_log_level { AL_LOG_WARN = 1, AL_LOG_INFO = 2 };

/*
 * Where the library's messages go. The library itself never prints: without a log function
 * its messages are dropped. msg is one line without a newline, never holds a secret, and lives
 * until the function returns. The tools print it on stderr ("adminlog: " msg); adminlogd
 * writes it to its log.
 */
typedef void (*al_log_fn)(void *ctx, int level, const char *msg);

typedef struct al_open_opts {
	unsigned flags;
	size_t map_size; /* initial LMDB map size in bytes; 0 = 1 MiB. It grows by itself. */
	/* AL_OPEN_SERVER: the Unix socket clients reach the server on (or NULL), recorded in
	 * the lock file so that a refused direct-mode write can name it. */
	const char *socket_path;
	/* Receives the store's messages, from al_store_open on (catch-up happens there) until
	 * al_store_close; NULL = none. log_ctx is passed back as is. */
	al_log_fn log;
	void *log_ctx;
} al_open_opts;

/*
 * Opens the store in dir. Projections whose stored version differs from the code's are
 * rebuilt, and those behind the log catch up, before this returns (told to opts->log).
 *
 * Who may open a directory at once: adminlogd (AL_OPEN_SERVER) holds DIR/adminlogd.lock
 * exclusively for its lifetime, and every other read-write open holds it shared. So a
 * direct-mode write is refused while the server runs (AL_EIN_USE naming its pid and
 * socket), and the server does not start while a direct-mode writer has the store open.
 * Read-only opens take no lock and never change the map, so they may run beside the server.
 *
 * Only a new store (AL_OPEN_CREATE on a directory without data.mdb) gets a master key; a
 * read-write open of a store whose DIR/master.key is missing is refused (restore the file
 * from a backup), because sealed secrets would never open again under a new key.
 * @return AL_OK, AL_ENOT_FOUND (no store and no AL_OPEN_CREATE), AL_EIN_USE (see above),
 *         AL_EUNSUPPORTED (format version), AL_EIO_ERROR, AL_ECORRUPT (a damaged record, a
 *         data.mdb shorter than its pages, a missing master.key, a half-made directory
 *         whose bootstrap never committed).
 */
int al_store_open(al_store **out, const char *dir, const al_open_opts *opts, al_error *err);
/* Closes the store; NULL is accepted. A scratch store (al_store_asof) deletes its files. */
void al_store_close(al_store *s);
const char *al_store_dir(const al_store *s);
/* 1 when the master key is loaded, so sealed secrets can be opened; 0 after a read-only
 * open of a directory whose master.key is missing. */
int al_store_has_secrets(const al_store *s);
/* AL_OPEN_FIXED_MAP from now on, for a store opened before its threads start (adminlogd). */
void al_store_fix_map(al_store *s);
/*
 * Checks, as ssh does for private keys, that group and others have no access to DIR,
 * DIR/master.key and DIR/admin-password. For each file that fails, report gets a message
 * naming it, its mode and the chmod that fixes it. Missing files are skipped.
 * @return the number of files reported.
 */
int al_store_check_perms(const char *dir, void (*report)(const char *msg, void *ctx), void *ctx);
/* An integer store setting (>= 0; e.g. checkpoint-interval, scheduler-interval), read through
 * the command table (settings.get) as a superadmin named "adminlog:settings". */
int al_setting_int(al_store *s, const char *key, int64_t *v, al_error *err);
/* Replaces the wall clock (µs since the epoch) for tests; NULL restores it. */
void al_store_set_clock(al_store *s, int64_t (*clock_us)(void *), void *ctx);

/* ---- commands ----------------------------------------------------------------------- */

enum al_role { AL_ROLE_NONE = 0, AL_ROLE_MONITOR, AL_ROLE_USER, AL_ROLE_ADMIN, AL_ROLE_SUPERADMIN };
/* "superadmin", "admin", "user", "monitor" ("none" for AL_ROLE_NONE) and back (0 if unknown). */
const char *al_role_name(int role);
int al_role_parse(const char *name, size_t n);

/* Who runs a command. Recorded in every event it appends. */
typedef struct al_actor {
	const char *name;       /* who answers for it: "local:alice" in direct mode, an email over the wire */
	int role;               /* enum al_role */
	const char *domain;     /* the actor's domain (scopes a domain admin); may be NULL */
	const char *access_key; /* keypair used, or NULL */
	const char *client;     /* client address, or NULL */
	const char *user;       /* email of the user whose rights apply, or NULL for a local operator */
	const char *user_id;    /* that user's id, or NULL */
} al_actor;

/*
 * The actor for acting with the rights of the user with this email (adminctl --as, and the
 * server after a login): role, domain and ids from the users view; name is kept as given.
 * Strings point into buf. AL_ENOT_FOUND for no such user, AL_EUNAUTHENTICATED when the user
 * is not active.
 */
int al_actor_for_user(al_store *s, const char *email, const char *name, al_actor *out, char *buf,
		      size_t n, al_error *err);
/*
 * The actor's rights as the views hold them now. An actor acting as a user (in->user set) is
 * re-read: that user must exist and be active and, when in->access_key is set, that keypair
 * must exist, be active and belong to the user; otherwise AL_EUNAUTHENTICATED. out then has
 * the user's current role, domain and user_id, and in's name, user, access_key and client.
 * An actor without a user (a local operator) is copied unchanged. Every string of out is
 * copied into buf (n bytes; 1024 is enough), so in may point into the caller's old buffer but
 * not into buf. al_exec and friends do this themselves for every command, in the command's
 * own transaction; this is for callers that show or keep an actor (a server's session).
 * @return AL_OK, AL_EUNAUTHENTICATED, or an I/O / corruption code.
 */
int al_actor_refresh(al_store *s, const al_actor *in, al_actor *out, char *buf, size_t n, al_error *err);

/*
 * A read snapshot: one read transaction, for a caller that asks several questions of the same
 * state (a server re-checking the rights of every running feed after a commit). It keeps the
 * pages it sees from reuse while open, so end it soon; it belongs to the thread that began it.
 * al_snapshot_end accepts NULL.
 */
typedef struct al_snapshot al_snapshot;
int al_snapshot_begin(al_store *s, al_snapshot **out, al_error *err);
void al_snapshot_end(al_snapshot *snap);
/* al_actor_refresh as of snap; when rate_limit is not NULL it gets the rate_limit of in's
 * keypair (0 without one). */
int al_actor_refresh_at(al_store *s, al_snapshot *snap, const al_actor *in, al_actor *out, char *buf,
			size_t n, int64_t *rate_limit, al_error *err);

typedef struct al_request {
	const char *op;   /* "user.create" */
	const void *args; /* msgpack map, borrowed for the call; NULL = no arguments */
	size_t args_len;
	const al_actor *actor;
	const void *prep; /* the output of al_prepare for these args, or NULL to run the step here */
	size_t prep_len;
} al_request;

typedef struct al_reply {
	al_error err;       /* err.code == AL_OK on success */
	char *result;       /* msgpack value (map or array), freed by al_reply_free; NULL on error */
	size_t result_len;
	uint64_t first_seq; /* events this command appended, 0/0 when none */
	uint64_t last_seq;
	int replayed; /* 1 when answered from an earlier command with the same request_id */
} al_reply;

/* Runs one command in its own transaction (and fsync for writes). Returns rep->err.code. */
int al_exec(al_store *s, const al_request *req, al_reply *rep);
/*
 * Runs n commands in one write transaction (group commit): a rejected command leaves no
 * trace while the others commit, and later commands see the earlier ones' effects. READ
 * commands run too.
 * Per-command outcomes are in reps[i]; the return value is AL_OK unless the whole
 * transaction failed (then every reply carries that error). Every reply is set, whatever
 * happens: out of memory before anything ran, each one says AL_ENO_MEMORY.
 */
int al_exec_batch(al_store *s, const al_request *reqs, al_reply *reps, size_t n);
void al_reply_free(al_reply *rep);

/*
 * The part of a command that runs before its transaction, on its own: the checks (op, role,
 * argument names and types) and the command's prepare step (argon2id password hashes, ids,
 * generated keys), which can take 100 ms. A server runs this on a worker thread, then passes
 * the output as req->prep to al_exec/al_exec_batch, which then do not run the step again.
 * *prep is allocated (NULL when the command has no prepare step) and may hold a new secret:
 * release it with al_prepared_free. Returns the al_ code (err says why).
 */
int al_prepare(al_store *s, const al_request *req, char **prep, size_t *prep_len, al_error *err);
void al_prepared_free(char *prep, size_t prep_len);
/* 1 when the command op has a prepare step (slow: call al_prepare off any event loop). */
int al_cmd_has_prepare(const char *op);
/*
 * The slowest prepare step (enum al_prep_kind) that al_exec/al_exec_batch may run in the calling
 * thread when a request comes without req->prep; a request whose step is slower is refused with
 * AL_EINTERNAL instead of run. Per thread; the default is AL_PREP_NETWORK (anything). A server's
 * writer sets AL_PREP_HASHES: no network I/O ever runs there, whatever its callers forget.
 */
void al_set_thread_prepare_limit(int max_kind);

/* Receives one row of a streamed list; non-zero stops the stream (and is returned). */
typedef int (*al_row_fn)(const msgpack_object *row, void *ctx);
/*
 * Runs a READ command in a read transaction and hands each element of its list result to fn
 * as it is produced, so an export or a long listing never holds the whole result (a
 * non-list result is handed over as one row). List commands drop their default row limit
 * here; an explicit limit argument still applies. Returns the al_ code (err says why).
 */
int al_exec_stream(al_store *s, const al_request *req, al_row_fn fn, void *ctx, al_error *err);

/* ---- where password hashing runs ----------------------------------------------------- */

/*
 * argon2id hashing and verification (prepare steps, login) run in the calling thread by
 * default. A server may run them elsewhere: adminlogd uses helper processes, because each
 * hash maps and touches 64 MiB with MAP_POPULATE, which holds the address space's lock long
 * enough to stall every other thread of the same process. hash writes the encoded hash of pw
 * at cost ("min", "interactive", "moderate") into out (NUL-terminated, out_len >= 128) and
 * returns 0, or -1 for an unknown cost, -2 when out of memory. verify returns 1 when pw
 * matches hash, else 0. Process-wide; NULL restores the default.
 */
typedef struct al_pwhash_ops {
	int (*hash)(const char *cost, const char *pw, size_t n, char *out, size_t out_len, void *ctx);
	int (*verify)(const char *hash, const char *pw, size_t n, void *ctx);
	void *ctx;
} al_pwhash_ops;
void al_set_pwhash_ops(const al_pwhash_ops *ops);
/* The default implementations (this thread), for a helper process to call. ctx is unused. */
int al_pwhash_local(const char *cost, const char *pw, size_t n, char *out, size_t out_len, void *ctx);
int al_pwhash_verify_local(const char *hash, const char *pw, size_t n, void *ctx);

/* ---- the catalogue (from schemas/) ------------------------------------------------ */

/* LIMIT: a number >= 0 (integer or float) or the string "unlimited". LIST: array of strings.
 * MAP: a map with string keys (event fields only, e.g. parsed resource slots). NUM: a number
 * >= 0 (integer or float), an amount that cannot be "unlimited" (a preset's cpu). */
enum al_type { AL_T_STR, AL_T_INT, AL_T_BOOL, AL_T_TIME, AL_T_PASSWORD, AL_T_LIMIT, AL_T_LIST, AL_T_MAP, AL_T_NUM };
enum al_field_flags { AL_F_REQ = 1, AL_F_OPT = 2, AL_F_SECRET = 4 };
enum al_cmd_kind { AL_CMD_WRITE = 1, AL_CMD_READ = 2 };
/* What a command's prepare step does, so a server knows where it may run it (AL_PREP in
 * schemas/commands.def): nothing; something quick (ids, keys, sealing); argon2id hashing when
 * a PASSWORD argument is given; network I/O (always slow, and unbounded by anything but the
 * command's own timeouts). A server runs HASHES (with a password) and NETWORK steps off its
 * writer and event loop with al_prepare, and passes the result as al_request.prep. */
enum al_prep_kind { AL_PREP_NONE = 0, AL_PREP_QUICK, AL_PREP_HASHES, AL_PREP_NETWORK };

typedef struct al_field_def {
	const char *name;
	int type;       /* enum al_type */
	unsigned flags; /* enum al_field_flags */
	const char *doc;
} al_field_def;

typedef struct al_old_version_def {
	unsigned version;
	const char *doc;
} al_old_version_def;

typedef struct al_event_def {
	const char *name; /* "user.created" */
	unsigned number;  /* stored in every record, never reused */
	unsigned version; /* current version */
	const char *entity;
	const char *doc;
	const al_field_def *fields;
	size_t nfields;
	const al_old_version_def *old;
	size_t nold;
} al_event_def;

typedef struct al_cmd_def {
	const char *op; /* "user.create" */
	int kind;       /* enum al_cmd_kind */
	int role;       /* least role allowed */
	const char *target;
	const char *entity;
	const char *doc;
	const al_field_def *args;
	size_t nargs;
	int prep; /* enum al_prep_kind */
} al_cmd_def;

size_t al_event_def_count(void);
const al_event_def *al_event_def_at(size_t i);
const al_event_def *al_event_def_by_name(const char *name);
const al_event_def *al_event_def_by_number(unsigned number);
size_t al_cmd_def_count(void);
const al_cmd_def *al_cmd_def_at(size_t i);
const al_cmd_def *al_cmd_def_find(const char *op);
/* The argument name of d: one of its own (d->args) or, for a WRITE command, one every write
 * accepts (request_id, expected_version, reason); NULL when d takes no such argument. */
const al_field_def *al_cmd_def_arg(const al_cmd_def *d, const char *name);
/* Whether a's role admits d: the table's least role; a monitor reads what an admin reads and
 * never writes. The command checks it again itself; this is for a caller that keeps an actor. */
bool al_cmd_def_allows(const al_cmd_def *d, const al_actor *a);
/* The values argument arg of d takes, "a|b|c" (schemas' AL_VALUES), or NULL when it is free. */
const char *al_cmd_arg_values(const al_cmd_def *d, const char *arg);

/* ---- the log -------------------------------------------------------------------------- */

typedef struct al_str {
	const char *p;
	size_t n;
} al_str;

/* One event as read back, upcast to the current version of its type. */
typedef struct al_event {
	uint64_t seq;
	int64_t time_us;
	const al_event_def *def;
	unsigned stored_version; /* version the record was written in */
	al_str actor, as_user, user_id, access_key, client, request_id, kind, id, reason;
	msgpack_object fields; /* a map */
} al_event;

/* Filters of the audit listing; zero/NULL members do not filter. */
typedef struct al_log_filter {
	const char *entity; /* "user:alice@example.com" */
	const char *actor;
	const char *type; /* "user.created" */
	int64_t since_us; /* inclusive */
	int64_t until_us; /* inclusive; 0 = no bound */
	uint64_t after_seq;
	size_t limit;
	bool newest_first; /* from the newest match back, so that limit keeps the newest */
} al_log_filter;

/* Return non-zero from the callback to stop early (that value is returned). */
typedef int (*al_event_cb)(const al_event *e, void *ctx);

/* Calls cb for each matching event, oldest first (newest first with f->newest_first). A damaged
 * record fails with AL_ECORRUPT. */
int al_log_query(al_store *s, const al_log_filter *f, al_event_cb cb, void *ctx, al_error *err);
/* Writes one event as a JSON object (no newline). Secret fields are left out. */
void al_event_write_json(const al_event *e, FILE *out);
/* Writes one event as one readable line (no newline). Secret fields are left out. */
void al_event_write_text(const al_event *e, FILE *out);
/* The last seq whose time is <= t (binary search; times never decrease). 0 if none. */
int al_log_seq_at_time(al_store *s, int64_t t_us, uint64_t *seq, al_error *err);
/* The log's last seq; 0 when it is empty or cannot be read (al_log_query then says why). */
uint64_t al_log_head(al_store *s);
/*
 * The point of the log that text names (adminctl --at, the protocol's at): an event seq
 * (digits), or an RFC 3339 time, meaning the last event at or before it.
 * @return AL_OK, or AL_EINVALID_ARGUMENT ("at: ...") for neither, a seq past the head, or a
 *         time later than now (the store's clock): the past only.
 */
int al_log_point(al_store *s, const char *text, uint64_t *seq, al_error *err);

/* ---- maintenance: verify, rebuild, digest, as-of, stats --------------------------------- */

/* Progress: called now and then with events done and total. */
typedef void (*al_progress_fn)(uint64_t done, uint64_t total, void *ctx);

/* Checksums, hash chain, indexes and views against a fresh rebuild. AL_ECORRUPT names the
 * first bad seq or view. */
int al_store_verify(al_store *s, al_progress_fn p, void *pctx, al_error *err);
/* Drops every view and folds the whole log again. */
int al_store_rebuild(al_store *s, al_progress_fn p, void *pctx, al_error *err);
/* xxh3-128 over every view's name, keys and values in order. */
int al_store_digest(al_store *s, uint8_t out[16], al_error *err);
/*
 * Writes to out_dir (which must not hold a store) a data directory holding the log prefix
 * 1..until_seq and the views folded from it. NOSYNC in flags skips the final fsync.
 */
int al_store_replay(al_store *src, uint64_t until_seq, const char *out_dir, unsigned flags,
		    al_error *err);
/*
 * Opens a scratch store holding the state after event seq (clamped to the head), deleted again
 * by al_store_close. Its views start from the nearest usable view checkpoint at or before seq
 * (al_store_checkpoint; a copy of its file) and fold the events after it, read in place from
 * src's log; without one they fold from the first event. Every read command answers there as
 * in a full replay to seq (al_store_replay), with the actor's rights as src holds them now.
 * Reads of the log (al_log_query, al_log_head, al_log_seq_at_time, entity versions) see src's
 * log up to seq. It answers reads only: a write is refused with AL_EPERMISSION_DENIED.
 * src must stay open until the as-of store is closed.
 */
int al_store_asof(al_store *src, uint64_t seq, al_store **out, al_error *err);

/* ---- view checkpoints ----------------------------------------------------------------------- */

enum al_checkpoint_flags {
	/* Only when due: the log head is at least K events past the newest usable checkpoint (K is
	 * the store setting checkpoint-interval; 0 = none are due). adminlogd's checkpoint thread. */
	AL_CKPT_IF_DUE = 1 << 0,
	/* Also the missing ones before the head, at multiples of K, as the pruning policy keeps
	 * them (`adminlog checkpoint DIR` on a log that had none), each from an as-of store. */
	AL_CKPT_FILL = 1 << 1,
};

typedef struct al_checkpoint_info {
	uint64_t seq;      /* the newest checkpoint written now; 0 when none was */
	uint64_t written;  /* how many were written */
	uint64_t bytes;    /* their size in bytes */
	uint64_t next_due; /* the head at which the next one falls due (0: never, K = 0) */
	uint64_t pruned;   /* old, unusable or surplus checkpoints removed */
	uint64_t kept, kept_bytes; /* the checkpoints left, and their size */
} al_checkpoint_info;

/*
 * Writes a view checkpoint of the state at s's log head (for an as-of store: at its point,
 * into its source's directory) as DIR/checkpoints/<seq>/ (docs/format.md), from one read
 * transaction, so it runs beside writers (adminlogd's own thread, or `adminlog checkpoint`
 * as a reader beside adminlogd). Then prunes: one per K events is kept for the last 16 K
 * events, then one per 16 K, and the newest; checkpoints that this build cannot use are
 * removed. A checkpoint that exists already is not written again. p is told progress of
 * AL_CKPT_FILL (checkpoints done, to do). out may be NULL.
 * @return AL_OK, AL_EIO_ERROR (the directory cannot be written), AL_ENO_MEMORY, AL_ECORRUPT.
 */
int al_store_checkpoint(al_store *s, unsigned flags, al_progress_fn p, void *pctx, al_checkpoint_info *out,
			al_error *err);
/* Calls fn for each checkpoint of s (of its source for an as-of store), oldest first: its seq,
 * the size of its data file, and whether this build can use it (its header, versions and the
 * log's chain hash at its seq match; the data file's own hash is checked only when used). */
typedef void (*al_checkpoint_fn)(uint64_t seq, uint64_t bytes, int usable, void *ctx);
int al_store_checkpoint_list(al_store *s, al_checkpoint_fn fn, void *ctx, al_error *err);
/* Statistics as a msgpack map (head_seq, head_hash, events, per-type counts, sizes); free *mp
 * with al_free. */
int al_store_stats(al_store *s, char **mp, size_t *len, al_error *err);

/* ---- set-up ---------------------------------------------------------------------------- */

typedef struct al_init_opts {
	const char *admin_email;    /* default admin@example.com */
	const char *admin_password; /* NULL: generated and returned in generated_password */
	const char *pwhash;         /* min, interactive (default) or moderate */
	int offline;                /* do not register the default registry cr.backend.ai */
	int write_password;         /* a generated password also goes to DIR/admin-password (0600) */
	int64_t at_us;              /* the bootstrap events' time; 0: now (a simulated history starts earlier) */
	char generated_password[32];
} al_init_opts;

/*
 * Creates a new data directory with the bootstrap events: store, domain default, resource
 * group default, the default policies, the admin and its keypair, project default, and
 * (unless offline) the registry cr.backend.ai, as the guide's installations have.
 *
 * Atomic: the store is built in DIR/.init (master.key, data.mdb with the bootstrap events
 * committed, admin-password, each fsynced) and moved into DIR with data.mdb last, so DIR
 * holds either no store or a complete one. An init that was killed leaves DIR/.init, which
 * the next init (or adminlogd's first start) clears and redoes.
 * @return AL_OK, AL_EALREADY_EXISTS (DIR holds a store), AL_EIN_USE (another init is
 *         building DIR), AL_ECORRUPT (a half-made directory from an older version, or a
 *         master.key without data.mdb), AL_EINVALID_ARGUMENT, AL_EIO_ERROR.
 */
int al_store_init(const char *dir, al_init_opts *o, const al_actor *actor, al_error *err);

/* ---- image rescan progress ----------------------------------------------------------------- */

/*
 * Progress of an image rescan (image.rescan, maintenance.rescan-images) that al_exec runs on
 * the calling thread: fn gets the registry's hostname, a phase and counts. Phases: "connect"
 * (before the first request, which may wait up to the timeout), "catalog", "tags" (item: the
 * repository, done of total repositories), "image" (item: the image name, done of total tags of
 * its repository), "done" (item: "ok", "error" or "skipped"). NULL turns it off.
 */
typedef void (*al_rescan_progress_fn)(void *ctx, const char *registry, const char *phase, const char *item,
				      size_t done, size_t total);
void al_rescan_progress(al_rescan_progress_fn fn, void *ctx);

/* ---- CSV exports ------------------------------------------------------------------------ */

/* The list command behind an export ("users" -> "user.list"), or NULL when unknown. */
const char *al_export_op(const char *what);
/* The export names, for help texts. */
const char *al_export_names(void);
/*
 * Writes the CSV export what (users, keypairs, ...) to out: RFC 4180, UTF-8, a header row,
 * then one record per row the actor of list_req may see. list_req carries the actor and the
 * list command's filter arguments (its op is replaced). Streams from one read transaction.
 */
int al_export_csv(al_store *s, const char *what, const al_request *list_req, FILE *out, al_error *err);

/* ==== authentication: login and keypair challenge-response (src/nouns/auth.c) =============
 * What the server calls before it runs commands for a connection. Neither appends events.
 * Every refusal is AL_EUNAUTHENTICATED; an unknown email, a wrong password and an inactive
 * user give the same message after the same work (one argon2id verification), so neither the
 * answer nor its timing tells whether an account exists. Only once the password matched do
 * the messages say more ("needs verification", a missing or wrong one-time code, the client
 * address, no active keypair).
 */
typedef struct al_login_req {
	const char *email;
	const char *password;
	const char *otp;    /* the 6-digit TOTP code when the user has 2FA enabled; may be NULL */
	const char *client; /* the client's IP address as text (IPv4 or IPv6), or NULL */
} al_login_req;

typedef struct al_login_result {
	char access_key[21]; /* the user's main keypair when active, else its first active one */
	char secret_key[41]; /* its secret key in plaintext, the client's credential: wipe it after use */
	char email[65];
	char user_id[37];
	int role; /* enum al_role */
	char domain[65];
} al_login_result;

/*
 * Checks email + password (+ otp when 2FA is on) and the user's allowed client addresses,
 * and returns the keypair the client authenticates with from then on. Slow by design (an
 * argon2id verification at the cost the hash was made with), done outside any transaction.
 * @return AL_OK, AL_EUNAUTHENTICATED, AL_EINVALID_ARGUMENT (NULL email or password), or an
 *         I/O / corruption code. out is zeroed on failure.
 */
int al_login(al_store *s, const al_login_req *req, al_login_result *out, al_error *err);

#define AL_AUTH_MAC_LEN 32
#define AL_AUTH_NONCE_MIN 16
#define AL_AUTH_NONCE_MAX 256

/*
 * Keypair challenge-response: the server sends a fresh random nonce, the client answers
 * mac = HMAC-SHA256(key = secret key, message = nonce || access key) (al_auth_keypair_mac).
 * Refuses, with one message, an unknown, deleted or inactive keypair, a keypair whose user is
 * not active, and a wrong mac (compared in constant time); then the user's allowed client
 * addresses. On success fills out like al_actor_for_user (name = the user's email, role,
 * domain, user, user_id, access_key, client), its strings in buf (n bytes; 512 is enough).
 */
int al_auth_keypair(al_store *s, const char *access_key, const unsigned char *nonce, size_t nonce_len,
		    const unsigned char mac[AL_AUTH_MAC_LEN], const char *client, al_actor *out, char *buf,
		    size_t n, al_error *err);
/* The client's side of the challenge-response. */
void al_auth_keypair_mac(const char *secret_key, const unsigned char *nonce, size_t nonce_len,
			 const char *access_key, unsigned char mac_out[AL_AUTH_MAC_LEN]);
/* ==== end of authentication ================================================================ */

/* ---- rendering results ------------------------------------------------------------------ */

/* JSON of a msgpack value. */
void al_render_json(const msgpack_object *o, FILE *out);
/* d as the shortest text that reads back as d (256.1, not 256.09999999999999); buf of 32+. */
char *al_double_str(double d, char *buf, size_t n);
/* A readable table: "key  value" lines for a map, a column table for an array of maps. */
void al_render_table(const msgpack_object *o, FILE *out);
/* Parses "2026-11-27T18:00:00Z" (also with fractions and +hh:mm offsets) to µs. */
int al_time_parse(const char *s, int64_t *us);
/* Formats µs as RFC 3339 UTC with microseconds; buf of at least 32 bytes. */
char *al_time_format(int64_t us, char *buf, size_t n);

/* ---- simulated histories ---------------------------------------------------------------- */

/* What `adminlog simulate` builds: see src/nouns/simulate.c. */
typedef struct al_sim_opts {
	unsigned days;             /* 1 to 3650: the history ends at end_us and starts this many days earlier */
	unsigned users;            /* 1 to 1000000 */
	unsigned agents;           /* 0 to 100000 */
	unsigned sessions_per_day; /* 0 to 1000000 */
	uint64_t seed;
	int64_t end_us;     /* 0: now, to the hour */
	const char *pwhash; /* the users' password hashing cost: NULL is min (fast) */
	/* Called for each command refused (as a live cluster's are: a session of an inactive user). */
	void (*refused)(const char *op, const al_error *err, void *ctx);
	void *ctx;
} al_sim_opts;
extern const al_sim_opts al_sim_defaults; /* 30 days, 50 users, 8 agents, 200 sessions a day, seed 1 */

typedef struct al_sim_stats {
	uint64_t commands, refused, events, head;
} al_sim_stats;

/*
 * Creates the data directory dir (which must not hold a store) with a simulated history of
 * o->days days, every event written by a command with the simulated clock. The same options
 * give the same history; the same digest too when the process's random source is the seed's
 * (al_sim_seed_random). Counts go to st (may be NULL).
 */
int al_simulate(const char *dir, const al_sim_opts *o, al_sim_stats *st, al_error *err);
/*
 * Makes this process's random source (the keys, salts and ids commands draw) a stream of seed,
 * so that a simulation repeats to the byte. Before anything else uses libsodium; 0, or -1 when
 * too late. Never in a process that serves real data: such keys are not secret.
 */
int al_sim_seed_random(uint64_t seed);

#endif
