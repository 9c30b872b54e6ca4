/*
 * totp.c - two-factor authentication: TOTP keys (RFC 6238, liboath), sealed at rest. STUB: the projection and the functions nouns.h promises, to be filled in.
 */
#include "nouns.h"

static int apply(const al_view *v, const al_event *e, al_error *err)
{
	(void)v, (void)e, (void)err;
	return AL_OK;
}

const al_projection al__proj_totp = {"totp", 1, {"v_totp", NULL}, apply};

static int todo(al_error *err, const char *what) { return al_err(err, AL_EUNSUPPORTED, "%s: not built yet", what); }

bool al__totp_enabled(al_store *s, MDB_txn *txn, al_str email)
{
	(void)s, (void)txn, (void)email;
	return false;
}
int al__totp_check(al_store *s, MDB_txn *txn, al_str email, al_str code, int64_t now_us, al_error *err)
{
	(void)s, (void)txn, (void)email, (void)code, (void)now_us;
	return todo(err, "2fa");
}
