/* helpers.h - shared test fixtures: temp data directories and a compact command runner. */
#ifndef AL_TEST_HELPERS_H
#define AL_TEST_HELPERS_H

#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "adminlog.h"

extern const al_actor th_admin; /* "local:test", superadmin */

/* cmocka fixtures: a fresh initialised store per test (th_init in a new temp directory). */
typedef struct th_fx {
	char *dir;
	al_store *s;
} th_fx;
/*
 * The first member of a test file's own fixture struct: its th_fx, as f->fx for th_fx_new and
 * th_fx_free, whose members also read as f->dir and f->s.
 */
#define TH_FX_HEAD                       \
	union {                          \
		th_fx fx;                \
		struct {                 \
			char *dir;       \
			al_store *s;     \
		};                       \
	}
/* A zeroed fixture of size bytes (a th_fx, or a struct that begins with TH_FX_HEAD) holding a
 * fresh store in a new temp directory; NULL, with nothing left behind, when init failed. */
void *th_fx_new(size_t size);
/* Closes the fixture's store, removes its directory and frees it; NULL is fine. */
void th_fx_free(void *fx);
/* A th_fx in *state, for cmocka_unit_test_setup_teardown; th_store gives its store. */
int th_setup(void **state);
int th_teardown(void **state);
static inline al_store *th_store(void **state) { return ((th_fx *)*state)->s; }

/* The whole file in a malloc'd buffer (NUL-terminated; *n without the NUL), or NULL. */
char *th_read_file(const char *path, size_t *n);
/* 1 when the bytes of needle occur in the data directory's LMDB file (for "no secret at rest"). */
int th_store_file_has(const char *dir, const char *needle);

/* A fresh temp directory path (not created), freed by th_rmrf. */
char *th_tmpdir(void);
/* Removes dir and all below it (nftw, links not followed), then free(dir). */
void th_rmrf(char *dir);
/* How many events the bootstrap records (set by th_init). */
extern uint64_t th_boot_seq;
/* adminlog init with pwhash min and a fixed admin password, then open. map_size 0 = default. */
al_store *th_init(const char *dir, size_t map_size);

/*
 * Runs op with arguments as (name, type, value) triples ending in NULL; type is 's' (string),
 * 'i' (long long), 'b' (int as boolean), 'd' (double), 'l' (a comma-separated string packed as
 * an array of strings; "" is the empty array) or 'n' (nil, no value). The reply is left in *rep
 * (caller calls al_reply_free) and its code returned:
 *   th_exec(s, &rep, "user.get", "email", 's', "a@b.c", NULL)
 */
int th_exec(al_store *s, al_reply *rep, const char *op, ...);
/* Same, ignoring the reply. */
int th_run(al_store *s, const char *op, ...);
/* A set-up step as th_admin: the test fails ("fixture OP: message") when it is refused. */
void th_fixture(al_store *s, const char *op, ...);
/* The main access key of user email into out (the test fails when there is none). */
void th_main_key(al_store *s, const char *email, char out[32]);

/* An actor with the rights of a user (al_actor_for_user), and its storage. */
typedef struct th_actor {
	al_actor a;
	char buf[512];
} th_actor;
/* Fills out for the user with this email (its name is the email); returns the al_ code. */
int th_as(al_store *s, const char *email, th_actor *out);
/*
 * Runs op as who (NULL = th_admin) and asserts at file:line: the code is code; for a refusal,
 * the message starts with "field:" (when field is not NULL) and contains has (when not NULL),
 * there is no result and nothing was appended.
 */
void th_refuse_at(const char *file, int line, al_store *s, const al_actor *who, int code, const char *field,
		  const char *has, const char *op, ...);
/* The th_actor's al_actor, or NULL (th_admin) for NULL. */
static inline const al_actor *th_who(const th_actor *w) { return w ? &w->a : NULL; }
/* How many events a reply appended. */
uint64_t th_appended(const al_reply *rep);
/* Runs op as who (NULL = th_admin) and asserts at file:line that it succeeds and appends
 * exactly events events; the reply is left in *rep when rep is not NULL. */
void th_ok_at(const char *file, int line, al_store *s, const al_actor *who, uint64_t events, al_reply *rep,
	      const char *op, ...);
/* The same checks with a th_actor (NULL = th_admin): OK, a refusal naming field, a denial. */
#define TH_OK(s, who, events, rep, ...) th_ok_at(__FILE__, __LINE__, s, th_who(who), events, rep, __VA_ARGS__)
#define TH_REFUSE(s, who, code, field, ...) \
	th_refuse_at(__FILE__, __LINE__, s, th_who(who), code, field, NULL, __VA_ARGS__)
#define TH_DENY(s, who, ...) th_refuse_at(__FILE__, __LINE__, s, th_who(who), AL_EPERMISSION_DENIED, NULL, NULL, __VA_ARGS__)
/* The member key of the result map (of element i of a result array when i >= 0; the whole
 * result when key is NULL) as compact JSON, in one of four rotating static buffers; "" when
 * absent. th_res_json is element -1. */
const char *th_res_json_at(const al_reply *rep, long i, const char *key);
const char *th_res_json(const al_reply *rep, const char *key);
/* The values of key in every element of a result array, as "a,b,c," (strings unquoted). */
const char *th_res_column(const al_reply *rep, const char *key);
/* A successful result, decoded: o lives until th_result_free. */
typedef struct th_result {
	msgpack_zone z;
	msgpack_object o;
	al_reply rep;
} th_result;
/* Runs op as who (NULL = th_admin), asserts at file:line that it succeeds, decodes the result. */
void th_run_ok_at(const char *file, int line, th_result *r, al_store *s, const al_actor *who, const char *op, ...);
#define TH_RUN_OK(r, s, ...) th_run_ok_at(__FILE__, __LINE__, r, s, NULL, __VA_ARGS__)
#define TH_RUN_OK_AS(r, s, who, ...) th_run_ok_at(__FILE__, __LINE__, r, s, who, __VA_ARGS__)
void th_result_free(th_result *r);
/* user.create of email in domain with role: username the email's local part, password
 * TH_USER_PW. Returns the al_ code. */
#define TH_USER_PW "Passw0rd!"
int th_user(al_store *s, const char *email, const char *domain, const char *role);
/* One user of a fixture's cast (th_cast). */
typedef struct th_member {
	const char *email, *domain, *role;
	th_actor *as;       /* filled with the user's actor (th_as) when not NULL */
	const char *policy; /* its resource_policy; NULL: not given (the default) */
} th_member;
/* Creates the users of the list, which ends at a NULL email, in order (as th_user does), then
 * takes their actors. AL_OK, or the first failing code. */
int th_cast(al_store *s, const th_member *m);
/* The cast the domain tests share, for a fixture f with th_actor members of these names:
 * adm-a@x.io (admin), mon-a@x.io (monitor), usr-a@x.io (resource policy usr_a_policy, NULL =
 * the default) and usr-a2@x.io (users) of domain alpha; adm-b@x.io (admin), usr-b@x.io (user)
 * of beta. Rows of a th_member list: end it with {NULL}. */
#define TH_AB_CAST(f, usr_a_policy)                                                                                    \
	{"adm-a@x.io", "alpha", "admin", &(f)->adm_a, NULL}, {"adm-b@x.io", "beta", "admin", &(f)->adm_b, NULL},        \
		{"mon-a@x.io", "alpha", "monitor", &(f)->mon_a, NULL},                                                 \
		{"usr-a@x.io", "alpha", "user", &(f)->usr_a, usr_a_policy},                                            \
		{"usr-a2@x.io", "alpha", "user", &(f)->usr_a2, NULL}, {"usr-b@x.io", "beta", "user", &(f)->usr_b, NULL}
/* th_exec / th_run as another actor. */
int th_exec_as(al_store *s, const al_actor *who, al_reply *rep, const char *op, ...);
int th_run_as(al_store *s, const al_actor *who, const char *op, ...);
/* Packs triples like th_exec into a malloc'd msgpack map (for batches). */
char *th_args(size_t *len, ...);
char *th_vargs(size_t *len, va_list ap);

/* A string field of the reply's result map, NUL-terminated in a static buffer; NULL if absent. */
const char *th_res_str(const al_reply *rep, const char *key);
/* An integer field of the result map; -1 if absent. */
long long th_res_int(const al_reply *rep, const char *key);
/* Number of elements when the result is an array, else -1. */
long th_res_len(const al_reply *rep);

/* Appends one event of type (its wire name, current version) about entity id, fields as
 * th_args packs them (NULL-terminated), by actor "local:test", at the store's clock (never
 * before the log's head), and applies it to the views: for event types no command records any more (old logs).
 * Returns AL_OK or the code. */
int th_append_event(al_store *s, const char *type, const char *id, ...);

/* Digest of all views as 32 hex chars. */
void th_digest(al_store *s, char out[33]);

#define TH_PASSWORD "Adm1n!pass"

/* Raw LMDB access to a closed data directory, for tests that damage what the store wrote. */
typedef struct th_raw {
	MDB_env *env;
	MDB_txn *txn; /* a write transaction unless txn_flags has MDB_RDONLY */
} th_raw;
void th_raw_open(th_raw *r, const char *dir, unsigned txn_flags);
/* A sub-database of r (asserts it opens). */
MDB_dbi th_raw_db(const th_raw *r, const char *name, unsigned flags);
/* Commits (asserted) or aborts, and closes the environment. */
void th_raw_close(th_raw *r, bool commit);
/* Flips the bits in mask of byte offset of event seq's stored record (its checksum then fails). */
void th_damage_record(const char *dir, uint64_t seq, size_t offset, unsigned char mask);

#endif
