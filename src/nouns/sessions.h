/*
 * sessions.h - what sessions.c and session_create.c share and nobody else needs: the views,
 * the row, the platform's statuses and transition map (platform model §10.3). (What other
 * modules use is in nouns.h.)
 */
#ifndef AL_SESSIONS_H
#define AL_SESSIONS_H

#include "core/rows.h"
#include "nouns/nouns.h"

/* The views, in the projection's order (sessions.c). */
enum { AL_SDB_SESSIONS, AL_SDB_STATE, AL_SDB_BY_KEY, AL_SDB_NAMES, AL_SDB_BY_TIME, AL_SDB_LIVE, AL_SDB_BY_GROUP,
       AL_SDB_OCCUPANCY };

/* A session: its id, what was asked (v_sessions) and what happened since (v_session_state). */
typedef struct al_sess_row {
	al_str id;
	al_row_session a;
	al_row_session_state st;
} al_sess_row;

#define AL_SESSION_NAME_MAX 64
#define AL_SESSION_DEPS_MAX 64 /* ids in depends_on */

/* The statuses in the platform's sort order (SessionStatus values 0, 5, 9, ... 43). */
enum al_sess_status {
	AL_SS_PENDING,
	AL_SS_SCHEDULED,
	AL_SS_PULLING,
	AL_SS_PREPARING,
	AL_SS_RUNNING,
	AL_SS_RESTARTING,
	AL_SS_RUNNING_DEGRADED,
	AL_SS_TERMINATING,
	AL_SS_TERMINATED,
	AL_SS_ERROR,
	AL_SS_CANCELLED,
	AL_SS__COUNT
};
extern const char *const al__session_statuses[]; /* their names, NULL-terminated */
/* The status named s, or -1. */
int al__session_status(al_str s);
/* Whether from -> to is in the platform's SESSION_STATUS_TRANSITION_MAP. */
bool al__session_transition_ok(int from, int to);
/* Dead sessions (CANCELLED, TERMINATED) free their name for the keypair's next session. */
static inline bool al__session_dead(int st) { return st == AL_SS_TERMINATED || st == AL_SS_CANCELLED; }

/* What a session in status st holds (v_occupancy): an agent's share in the platform's
 * AGENT_RESOURCE_OCCUPYING statuses, the owner's share (keypair, user, project, domain) in its
 * USER_RESOURCE_OCCUPYING ones. Only a scheduled session holds anything. */
static inline bool al__session_holds_agent(int st)
{
	return st != AL_SS_PENDING && st != AL_SS_TERMINATED && st != AL_SS_CANCELLED;
}
static inline bool al__session_holds_owner(int st) { return al__session_holds_agent(st) && st != AL_SS_TERMINATING; }

/* The name index key "access key NUL name" into buf (0 when it does not fit). */
size_t al__session_name_key(char *buf, size_t n, al_str ak, al_str name);
/* The session with this id: 1 found, 0 not, or a negative al_ code; strings in c->zone and the txn. */
int al__session_find(al_cmd *c, al_str id, al_sess_row *r);
/* The same with the rows decoded in z (a walk over many sessions clears its own zone). */
int al__session_find_in(al_cmd *c, al_str id, msgpack_zone *z, al_sess_row *r);
/* The public view of a session (the reply of get, list, create, report, terminate) on pk. */
void al__session_pack_public(al_cmd *c, const al_sess_row *r, msgpack_packer *pk);

#endif
