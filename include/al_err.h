/*
 * al_err.h - the one table of error codes.
 *
 * Stable names are the wire names: the library, the protocol and the CLI all print
 * al_err_name(code). Codes are negative and live in their own range so that they never
 * collide with errno values or LMDB's MDB_* codes; al_strerror() describes all three.
 */
#ifndef AL_ERR_H
#define AL_ERR_H

/* XX(suffix, wire name, default description) */
#define AL_ERR_MAP(XX)                                                           \
	XX(INVALID_ARGUMENT, "invalid_argument", "invalid argument")             \
	XX(NOT_FOUND, "not_found", "not found")                                  \
	XX(ALREADY_EXISTS, "already_exists", "already exists")                   \
	XX(PERMISSION_DENIED, "permission_denied", "permission denied")          \
	XX(CONFLICT, "conflict", "entity version conflict")                      \
	XX(RATE_LIMITED, "rate_limited", "rate limited")                         \
	XX(UNAUTHENTICATED, "unauthenticated", "unauthenticated")                \
	XX(IN_USE, "in_use", "in use")                                           \
	XX(LIMIT_EXCEEDED, "limit_exceeded", "limit exceeded")                   \
	XX(IO_ERROR, "io_error", "input/output error")                           \
	XX(CORRUPT, "corrupt", "stored data is corrupt")                         \
	XX(NO_MEMORY, "no_memory", "out of memory")                              \
	XX(UNSUPPORTED, "unsupported", "unsupported format or version")          \
	XX(INTERNAL, "internal", "internal error")                               \
	XX(INVALID_STATE, "invalid_state", "not allowed in the entity's current state")

#define AL_ERR_BASE (-32000)

enum al_err_code {
	AL_OK = 0,
	AL__ERR_FIRST = AL_ERR_BASE,
#define XX(s, n, d) AL_E##s,
	AL_ERR_MAP(XX)
#undef XX
	AL__ERR_LAST
};

#define AL_ERR_MSG_LEN 256

/*
 * The caller-owned error of one call: the code, a human message naming the field and why,
 * and the source line where it was raised (so `adminlog verify` names the failing check).
 * Messages never carry secrets.
 */
typedef struct al_error {
	int code;
	int line;
	char msg[AL_ERR_MSG_LEN];
} al_error;

/* Stable wire name of an al_ code ("invalid_argument"), or "errno"/"lmdb" for others. */
const char *al_err_name(int code);
/* Description of an al_ code, an LMDB MDB_* code, or an errno value. */
const char *al_strerror(int code);
/* Parses a wire name back to a code; 0 when unknown. */
int al_err_from_name(const char *name);

/* Sets *err (when not NULL) and returns code. printf-style message. */
int al__err_set(al_error *err, int line, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define al_err(err, code, ...) al__err_set((err), __LINE__, (code), __VA_ARGS__)

void al_err_clear(al_error *err);

#endif
