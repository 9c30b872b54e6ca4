/*
 * srv_ops.c - the server's own operations (hello, login, auth, whoami, describe, watch,
 * cancel), the checks every request passes after authentication (the actor's rights as of
 * now, its keypair's rate limit) and the re-check of running watches and streams when rights
 * change; the command table's operations are dispatched by srv.c.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "server/srv_int.h"

/* rate_limited with retry_after = wait; the message is why, then "; retry in N s". */
static void reply_rate_limited(conn *c, const request *rq, int64_t wait, const char *why)
{
	char m[200];
	snprintf(m, sizeof m, "%s; retry in %lld s", why, (long long)wait);
	msgpack_packer pk;
	srv_frame_begin(c->srv, &pk);
	msgpack_pack_map(&pk, 2);
	al_pack_cstr(&pk, "id");
	srv_pack_id(&pk, rq->id, rq->idlen);
	al_pack_cstr(&pk, "error");
	msgpack_pack_map(&pk, 3);
	al_pack_cstr(&pk, "code");
	al_pack_cstr(&pk, al_err_name(AL_ERATE_LIMITED));
	al_pack_cstr(&pk, "message");
	al_pack_cstr(&pk, m);
	al_pack_cstr(&pk, "retry_after");
	msgpack_pack_int64(&pk, wait);
	srv_frame_send(c);
	srv_log_req(c, c->authed ? &c->actor : NULL, rq->op, AL_ERATE_LIMITED, rq->t0);
}

/* The rights of actor in as the views hold them now, in out (strings in buf); *limit gets its
 * keypair's rate_limit. */
static int actor_now(al_srv *srv, const al_actor *in, al_actor *out, char *buf, size_t n, int64_t *limit,
		     al_error *err)
{
	al_snapshot *snap;
	int rc = al_snapshot_begin(srv->s, &snap, err);
	if (rc == AL_OK) {
		rc = al_actor_refresh_at(srv->s, snap, in, out, buf, n, limit, err);
		al_snapshot_end(snap);
	}
	return rc;
}

/* The connection's session is over (its user or keypair is no longer active). */
static void log_out(conn *c)
{
	srv_conn_set_authed(c, false);
	memset(&c->actor, 0, sizeof c->actor);
}

/* Every request is authorized on the rights as of that request: the user's role, domain and
 * status and its keypair are re-read (the commands themselves are checked again in their own
 * transaction), so what whoami, the request log and the server's own operations see is never
 * stale. Then the keypair's rate_limit, as it is now. */
bool srv_actor_allows(conn *c, const request *rq)
{
	al_srv *srv = c->srv;
	al_actor now;
	char buf[SRV_ACTOR_BUF];
	int64_t limit = 0;
	al_error err = {0};
	int rc = actor_now(srv, &c->actor, &now, buf, sizeof buf, &limit, &err);
	if (rc) {
		srv_reply_error(c, rq, rc, "%s: %s", rq->op, err.msg);
		if (rc == AL_EUNAUTHENTICATED)
			log_out(c);
		return false;
	}
	srv_actor_copy(&c->actor, c->actor_buf, sizeof c->actor_buf, &now);
	if (c->actor.access_key == NULL)
		return true;
	int64_t wait = srv_rate_hit(srv->rate_keys, c->actor.access_key, limit > 0 ? limit : INT64_MAX, srv_mono_us());
	if (wait) {
		reply_rate_limited(c, rq, wait, "rate_limit: too many requests");
		return false;
	}
	return true;
}

/* Copies the actor's strings into buf so that it outlives the connection's. */
void srv_actor_copy(al_actor *dst, char *buf, size_t n, const al_actor *src)
{
	const char *const *from[] = {&src->name, &src->domain, &src->access_key, &src->client, &src->user,
				     &src->user_id};
	const char **to[] = {&dst->name, &dst->domain, &dst->access_key, &dst->client, &dst->user, &dst->user_id};
	size_t off = 0;
	*dst = *src;
	for (size_t i = 0; i < sizeof from / sizeof *from; i++) {
		*to[i] = NULL;
		if (*from[i] == NULL)
			continue;
		size_t len = strlen(*from[i]);
		if (off + len + 1 > n)
			continue; /* cannot happen: the connection's actor has the same bound */
		memcpy(buf + off, *from[i], len + 1);
		*to[i] = buf + off;
		off += len + 1;
	}
}

/* ---- session operations ---------------------------------------------------------------------------- */

void srv_op_hello(conn *c, const request *rq)
{
	int64_t proto = PROTOCOL;
	if (rq->args && al_mp_int(rq->args, "protocol", &proto) < 0) {
		srv_reply_error(c, rq, AL_EINVALID_ARGUMENT, "protocol: must be an integer");
		return;
	}
	if (proto != PROTOCOL) {
		srv_reply_error(c, rq, AL_EUNSUPPORTED, "protocol: this server speaks version %d only", PROTOCOL);
		return;
	}
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	al_pack_cstr(&pk, "protocol");
	msgpack_pack_int(&pk, PROTOCOL);
	al_pack_cstr(&pk, "server");
	al_pack_cstr(&pk, AL_VERSION);
	srv_send_result(c, rq, &sb);
	al_sbuffer_destroy(&sb);
}

static void pack_actor(msgpack_packer *pk, const al_actor *a)
{
	const char *k[] = {"email", "user_id", "role", "domain", "access_key", "client"};
	const char *v[] = {a->user, a->user_id, al_role_name(a->role), a->domain, a->access_key, a->client};
	msgpack_pack_map(pk, 6);
	for (int i = 0; i < 6; i++) {
		al_pack_cstr(pk, k[i]);
		if (v[i])
			al_pack_cstr(pk, v[i]);
		else
			msgpack_pack_nil(pk);
	}
}

/* Makes the connection act as actor a (its strings are copied). */
static void set_actor(conn *c, const al_actor *a)
{
	al_actor tmp = *a;
	tmp.client = c->ip[0] ? c->ip : "unix"; /* the address events record */
	if (tmp.name == NULL)
		tmp.name = tmp.user;
	srv_actor_copy(&c->actor, c->actor_buf, sizeof c->actor_buf, &tmp);
	srv_conn_set_authed(c, true);
}

void srv_op_whoami(conn *c, const request *rq)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	pack_actor(&pk, &c->actor);
	srv_send_result(c, rq, &sb);
	al_sbuffer_destroy(&sb);
}

void srv_op_describe(conn *c, const request *rq)
{
	msgpack_sbuffer sb = {c->srv->describe_len, c->srv->describe, c->srv->describe_len};
	srv_send_result(c, rq, &sb);
}

bool srv_superadmin_only(conn *c, const request *rq)
{
	if (c->actor.role == AL_ROLE_SUPERADMIN)
		return true;
	srv_reply_error(c, rq, AL_EPERMISSION_DENIED, "%s: not allowed for %s", rq->op,
		    c->actor.user ? c->actor.user : c->actor.name);
	return false;
}

/* ---- the owners of watches and streams ------------------------------------------------------- */

/* How far an actor sees: itself, its domain, everything. */
static int scope(int role)
{
	if (role == AL_ROLE_SUPERADMIN)
		return 3;
	if (role == AL_ROLE_ADMIN || role == AL_ROLE_MONITOR)
		return 2;
	return role == AL_ROLE_USER ? 1 : 0;
}

static bool same(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

/*
 * 0 while owner (as it was when its feed started) may still receive the feed, else the code
 * that ends it: unauthenticated when its user or keypair is no longer active; permission_denied
 * when its role no longer admits the command d (a watch or log: superadmin), or what it sees
 * narrowed (a lower scope, or a domain admin or monitor moved to another domain), since the
 * rows were chosen by the old rights. A promotion ends nothing.
 */
static int owner_lost(al_srv *srv, al_snapshot *snap, const al_actor *owner, const al_cmd_def *d, bool superadmin)
{
	al_actor now;
	char buf[SRV_ACTOR_BUF];
	al_error err = {0};
	int rc = al_actor_refresh_at(srv->s, snap, owner, &now, buf, sizeof buf, NULL, &err);
	if (rc)
		return rc == AL_EUNAUTHENTICATED ? rc : AL_OK; /* a failed read ends nothing */
	if ((superadmin && now.role != AL_ROLE_SUPERADMIN) || (d && !al_cmd_def_allows(d, &now)))
		return AL_EPERMISSION_DENIED;
	int was = scope(owner->role), is = scope(now.role);
	if (is < was || (is == 2 && !same(owner->domain, now.domain)))
		return AL_EPERMISSION_DENIED;
	return AL_OK;
}

static const char *lost_msg(int code)
{
	return code == AL_EUNAUTHENTICATED ? "ended: the user or keypair is no longer active; log in again"
					   : "ended: its owner no longer has the right to it";
}

/* One read transaction for every owner, begun at the first one (most commits have none). */
static al_snapshot *feeds_snap(al_srv *srv, al_snapshot **snap)
{
	if (*snap == NULL && al_snapshot_begin(srv->s, snap, NULL) != AL_OK)
		*snap = NULL;
	return *snap;
}

void srv_feeds_check(al_srv *srv)
{
	al_snapshot *snap = NULL;
	uint64_t was = srv->checked;
	srv->checked = srv->head;
	bool cancelled = false;
	for (conn *c = srv->conns; c; c = c->next) {
		if (c->watches == NULL && c->streams == NULL)
			continue;
		if (feeds_snap(srv, &snap) == NULL) { /* the first one: nothing done, the poll tries again */
			srv->checked = was;
			return;
		}
		for (watch *w = c->watches, *next; w; w = next) {
			next = w->next;
			int code = owner_lost(srv, snap, &w->owner, NULL, true);
			if (code) {
				char m[120];
				snprintf(m, sizeof m, "watch: %s", lost_msg(code));
				srv_watch_fail(w, code, m);
			}
		}
		for (job *j = c->streams; j; j = j->snext) {
			int code = j->cancel == C_NONE ? owner_lost(srv, snap, &j->actor, j->def, j->skind == S_LOG) : 0;
			if (code == 0)
				continue;
			pthread_mutex_lock(&srv->mu); /* the worker reads it */
			j->cancel = code == AL_EUNAUTHENTICATED ? C_UNAUTH : C_DENIED;
			pthread_mutex_unlock(&srv->mu);
			cancelled = true;
		}
	}
	al_snapshot_end(snap);
	if (cancelled) { /* wake streams that wait for the client to read */
		pthread_mutex_lock(&srv->mu);
		pthread_cond_broadcast(&srv->flow);
		pthread_mutex_unlock(&srv->mu);
	}
}

/* ---- watch and cancel ------------------------------------------------------------------------ */

void srv_op_watch(conn *c, const request *rq)
{
	int64_t from = -1;
	if (rq->args && al_mp_int(rq->args, "from_seq", &from) < 0) {
		srv_reply_error(c, rq, AL_EINVALID_ARGUMENT, "from_seq: must be an integer >= 0");
		return;
	}
	if (from < -1) {
		srv_reply_error(c, rq, AL_EINVALID_ARGUMENT, "from_seq: must be an integer >= 0");
		return;
	}
	if (!srv_superadmin_only(c, rq))
		return;
	uint64_t head = al_log_head(c->srv->s);
	if (head > c->srv->head)
		c->srv->head = head;
	srv_watch_start(c, rq->id, rq->idlen, from < 0 ? c->srv->head : (uint64_t)from);
}

void srv_op_cancel(conn *c, const request *rq)
{
	const msgpack_object *t = rq->args ? al_mp_get(rq->args, "target") : NULL;
	if (t == NULL || (t->type != MSGPACK_OBJECT_POSITIVE_INTEGER && t->type != MSGPACK_OBJECT_STR)) {
		srv_reply_error(c, rq, AL_EINVALID_ARGUMENT, "target: must be the id of a stream or watch");
		return;
	}
	msgpack_sbuffer tb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&tb);
	msgpack_packer_init(&pk, &tb, al_sbuffer_write);
	msgpack_pack_object(&pk, *t);
	bool found = false;
	for (job *j = c->streams; j && !found; j = j->snext)
		if (j->idlen == tb.size && memcmp(j->id, tb.data, tb.size) == 0) {
			pthread_mutex_lock(&c->srv->mu);
			if (j->cancel == C_NONE)
				j->cancel = C_CLIENT;
			pthread_cond_broadcast(&c->srv->flow);
			pthread_mutex_unlock(&c->srv->mu);
			found = true;
		}
	for (watch *w = c->watches; w && !found; w = w->next)
		if (w->idlen == tb.size && memcmp(w->id, tb.data, tb.size) == 0) {
			srv_watch_end(w, true);
			found = true;
		}
	al_sbuffer_destroy(&tb);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	al_pack_cstr(&pk, "cancelled");
	found ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	srv_send_result(c, rq, &sb);
	al_sbuffer_destroy(&sb);
}

/* ---- login and keypair challenge-response ---------------------------------------------------- */

#define FAIL_LIMIT_ONE 10      /* failed logins or auths per email or access key, per window */
#define FAIL_LIMIT_CLIENT 100  /* per client address */

/* Refuses (rate_limited) when this client address, or the email / access key it names, has
 * failed too often in the current window. The client is checked first, so that one client
 * cannot fill the table with names. */
static bool failures_allow(conn *c, const request *rq, char kind, al_str who)
{
	al_srv *srv = c->srv;
	char key[160];
	int64_t now = srv_mono_us();
	snprintf(key, sizeof key, "c:%s", c->ip[0] ? c->ip : "unix");
	rate_slot *s = srv_rate_slot(srv->rate_fail, key, now);
	int64_t wait = s ? srv_rate_wait(s, FAIL_LIMIT_CLIENT, now) : 60;
	if (wait == 0) {
		snprintf(key, sizeof key, "%c:%.*s", kind, (int)(who.n > 128 ? 128 : who.n), who.p);
		s = srv_rate_slot(srv->rate_fail, key, now);
		wait = s ? srv_rate_wait(s, FAIL_LIMIT_ONE, now) : 60;
	}
	if (wait) {
		char why[SRV_OP_MAX + 40];
		snprintf(why, sizeof why, "%s: too many failed attempts", rq->op);
		reply_rate_limited(c, rq, wait, why);
	}
	return wait == 0;
}

/* Counts one attempt against the client address and the email / access key; returns when. */
static int64_t count_failure(conn *c, char kind, al_str who)
{
	char key[160];
	int64_t now = srv_mono_us();
	snprintf(key, sizeof key, "c:%s", c->ip[0] ? c->ip : "unix");
	srv_rate_hit(c->srv->rate_fail, key, INT64_MAX, now);
	snprintf(key, sizeof key, "%c:%.*s", kind, (int)(who.n > 128 ? 128 : who.n), who.p);
	srv_rate_hit(c->srv->rate_fail, key, INT64_MAX, now);
	return now;
}

void srv_login_uncount(job *j)
{
	char key[160];
	int64_t now = srv_mono_us();
	for (int i = 0; i < 2; i++) {
		if (i == 0)
			snprintf(key, sizeof key, "c:%s", j->c->ip[0] ? j->c->ip : "unix");
		else
			snprintf(key, sizeof key, "e:%s", j->who);
		rate_slot *s = srv_rate_slot(j->c->srv->rate_fail, key, now);
		if (s && s->count > 0 && s->start_us <= j->counted_at) /* the same window */
			s->count--;
	}
}

/* A string argument without NUL bytes; false (answered invalid_argument) otherwise. */
static bool str_arg(conn *c, const request *rq, const char *name, bool required, al_str *out)
{
	int r = rq->args ? al_mp_str(rq->args, name, out) : 0;
	if (r < 0 || (r == 1 && (out->n == 0 || out->n > 1024 || memchr(out->p, 0, out->n))) || (r == 0 && required)) {
		srv_reply_error(c, rq, AL_EINVALID_ARGUMENT, "%s: %s a string of 1 to 1024 bytes", name,
			    r == 0 ? "is required:" : "must be");
		return false;
	}
	if (r == 0)
		*out = (al_str){NULL, 0};
	return true;
}

/*
 * login {email, password, otp?}: checked here, verified on a worker (al_login: argon2id),
 * after a wait in the login queue (srv_login.c). One login at a time per connection, and the
 * attempt counts against the failure limits as soon as it is accepted, not when it is
 * answered: otherwise logins sent together would all pass the limit before any had failed.
 */
void srv_op_login(conn *c, const request *rq)
{
	al_str email, pw, otp;
	if (!str_arg(c, rq, "email", true, &email) ||
	    !str_arg(c, rq, "password", true, &pw) || !str_arg(c, rq, "otp", false, &otp))
		return;
	if (c->login) {
		reply_rate_limited(c, rq, 1, "login: one login at a time on a connection, and one is in progress");
		return;
	}
	if (!failures_allow(c, rq, 'e', email))
		return;
	int64_t wait = srv_login_room(c);
	if (wait) {
		reply_rate_limited(c, rq, wait, "login: too many logins are waiting to be verified");
		return;
	}
	job *j = srv_job_new(c, rq, J_LOGIN);
	if (j == NULL) {
		srv_reply_error(c, rq, AL_ENO_MEMORY, "out of memory");
		return;
	}
	snprintf(j->who, sizeof j->who, "%.*s", (int)(email.n > 128 ? 128 : email.n), email.p);
	j->counted_at = count_failure(c, 'e', email);
	if (srv_login_queue(j) != AL_OK) {
		srv_login_uncount(j);
		al_err(&j->rep.err, AL_ENO_MEMORY, "out of memory");
		srv_answer_job(j);
	}
}

/* The answer to a login, back on the loop: the connection now acts as that user. Only a
 * refusal of the credentials stays counted as a failure. */
void srv_login_done(job *j)
{
	conn *c = j->c;
	al_login_result *r = j->login;
	srv_login_finished(j);
	if (j->rep.err.code != AL_EUNAUTHENTICATED)
		srv_login_uncount(j);
	if (j->rep.err.code == AL_OK && r) {
		al_actor a = {r->email, r->role, r->domain, r->access_key, NULL, r->email, r->user_id};
		set_actor(c, &a);
		srv_actor_copy(&j->actor, j->actor_buf, sizeof j->actor_buf, &c->actor); /* logged as the user */
		msgpack_sbuffer sb;
		msgpack_packer pk;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, al_sbuffer_write);
		msgpack_pack_map(&pk, 6);
		al_pack_cstr(&pk, "access_key");
		al_pack_cstr(&pk, r->access_key);
		al_pack_cstr(&pk, "secret_key");
		al_pack_cstr(&pk, r->secret_key);
		al_pack_cstr(&pk, "email");
		al_pack_cstr(&pk, r->email);
		al_pack_cstr(&pk, "user_id");
		al_pack_cstr(&pk, r->user_id);
		al_pack_cstr(&pk, "role");
		al_pack_cstr(&pk, al_role_name(r->role));
		al_pack_cstr(&pk, "domain");
		al_pack_cstr(&pk, r->domain);
		j->rep.result = sb.data; /* wiped and freed with the job */
		j->rep.result_len = sb.size;
	}
	srv_answer_job(j);
}

/* 32 bytes from a bin of 32 or a str of 64 hex digits. */
static bool mac_arg(const msgpack_object *m, unsigned char out[AL_AUTH_MAC_LEN])
{
	if (m && m->type == MSGPACK_OBJECT_BIN && m->via.bin.size == AL_AUTH_MAC_LEN) {
		memcpy(out, m->via.bin.ptr, AL_AUTH_MAC_LEN);
		return true;
	}
	size_t n = 0;
	return m && m->type == MSGPACK_OBJECT_STR && m->via.str.size == 2 * AL_AUTH_MAC_LEN &&
	       sodium_hex2bin(out, AL_AUTH_MAC_LEN, m->via.str.ptr, m->via.str.size, NULL, &n, NULL) == 0 &&
	       n == AL_AUTH_MAC_LEN;
}

/* auth {access_key, mac}: the keypair challenge-response against this connection's nonce.
 * Cheap (an HMAC and an unseal), so it runs on the loop. */
void srv_op_auth(conn *c, const request *rq)
{
	al_str ak;
	unsigned char mac[AL_AUTH_MAC_LEN];
	if (!str_arg(c, rq, "access_key", true, &ak))
		return;
	if (!mac_arg(al_mp_get(rq->args, "mac"), mac)) {
		srv_reply_error(c, rq, AL_EINVALID_ARGUMENT, "mac: must be 32 bytes (bin) or 64 hex digits");
		return;
	}
	if (!failures_allow(c, rq, 'k', ak))
		return;
	char akz[80], buf[SRV_ACTOR_BUF];
	al_actor a;
	al_error err = {0};
	al_str_cpy(akz, sizeof akz, ak);
	int rc = ak.n < sizeof akz ? al_auth_keypair(c->srv->s, akz, c->nonce, sizeof c->nonce, mac,
						     c->ip[0] ? c->ip : NULL, &a, buf, sizeof buf, &err)
				   : al_err(&err, AL_EUNAUTHENTICATED, "invalid access key or signature");
	if (rc) {
		if (rc == AL_EUNAUTHENTICATED)
			count_failure(c, 'k', ak);
		srv_reply_error(c, rq, rc, "%s", err.msg);
		return;
	}
	set_actor(c, &a);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	al_pack_cstr(&pk, "access_key");
	al_pack_cstr(&pk, c->actor.access_key);
	al_pack_cstr(&pk, "email");
	al_pack_cstr(&pk, c->actor.user);
	al_pack_cstr(&pk, "user_id");
	al_pack_cstr(&pk, c->actor.user_id);
	al_pack_cstr(&pk, "role");
	al_pack_cstr(&pk, al_role_name(c->actor.role));
	al_pack_cstr(&pk, "domain");
	al_pack_cstr(&pk, c->actor.domain ? c->actor.domain : "");
	srv_send_result(c, rq, &sb);
	al_sbuffer_destroy(&sb);
}

/* ---- the table of the server's own operations ------------------------------------------------ */

static const srv_arg no_args[] = {{NULL, NULL, false, NULL, NULL}};
static const srv_arg hello_args[] = {
	{"protocol", "integer", false, "the protocol version the client speaks (1)", NULL},
	{"client", "string", false, "the client's name/version, for the server's log", NULL},
	{NULL, NULL, false, NULL, NULL},
};
static const srv_arg login_args[] = {
	{"email", "string", true, "the user's email", NULL},
	{"password", "password", true, "the user's password", NULL},
	{"otp", "string", false, "the 6-digit one-time code (a str, not an int), when 2FA is on", NULL},
	{NULL, NULL, false, NULL, NULL},
};
static const srv_arg auth_args[] = {
	{"access_key", "string", true, "the keypair's access key", NULL},
	{"mac", "bin_or_hex", true, "HMAC-SHA256(secret_key, nonce || access_key): 32 bytes bin or 64 hex digits", NULL},
	{NULL, NULL, false, NULL, NULL},
};
static const srv_arg cancel_args[] = {
	{"target", "id", true, "the request id of the stream or watch to stop", NULL},
	{NULL, NULL, false, NULL, NULL},
};
static const srv_arg watch_args[] = {
	{"from_seq", "integer", false, "send events after this seq (default: the head, only new events)", NULL},
	{NULL, NULL, false, NULL, NULL},
};
static const srv_arg log_args[] = {
	{"entity", "string", false, "\"kind:id\", e.g. \"user:a@b.c\"", NULL},
	{"actor", "string", false, "the actor's email or name", NULL},
	{"type", "string", false, "an event type name (user.created)", NULL},
	{"since", "time", false, "from this time (µs since the epoch, inclusive)", NULL},
	{"until", "time", false, "up to this time (µs since the epoch, inclusive)", NULL},
	{"after_seq", "integer", false, "events after this seq", NULL},
	{"limit", "integer", false, "at most this many events", NULL},
	{NULL, NULL, false, NULL, NULL},
};
static const srv_arg export_args[] = {
	{"what", "string", true, "the list to export", al_export_names},
	{NULL, NULL, false, NULL, NULL},
};

static const srv_op ops[] = {
	{"hello", srv_op_hello, true, false, false, hello_args, false, "none",
	 "Asks for a protocol version: {protocol, server}, or unsupported."},
	{"login", srv_op_login, true, false, false, login_args, false, "none",
	 "Logs in: {access_key, secret_key, email, user_id, role, domain} of the user's active keypair."},
	{"auth", srv_op_auth, true, false, false, auth_args, false, "none",
	 "Keypair challenge-response on this connection's nonce: {access_key, email, user_id, role, domain}."},
	{"whoami", srv_op_whoami, false, false, false, no_args, false, "user",
	 "The connection's actor: {email, user_id, role, domain, access_key, client}."},
	{"describe", srv_op_describe, false, false, false, no_args, false, "user",
	 "Every operation with its arguments, their types and allowed values."},
	{"cancel", srv_op_cancel, false, false, false, cancel_args, false, "user",
	 "Stops this connection's stream or watch: {cancelled: bool}."},
	{"watch", srv_op_watch, false, true, false, watch_args, false, "superadmin",
	 "The change feed: one event per row frame, forever (until cancelled)."},
	{"log", srv_op_log, false, true, true, log_args, false, "superadmin",
	 "The audit listing, oldest first, one event per row frame."},
	{"export", srv_op_export, false, true, true, export_args, true, "user",
	 "CSV of a list as csv frames; the other arguments are those of the list command behind it, "
	 "whose role and rules apply."},
};

const srv_op *srv_op_find(const char *op)
{
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (strcmp(op, ops[i].name) == 0)
			return &ops[i];
	return NULL;
}

/* Checked before the op runs, so that a misspelt argument (watch {from: 0}) is refused rather
 * than ignored. An export's other arguments are the list command's: it checks them. */
bool srv_only_args(conn *c, const request *rq, const srv_op *so)
{
	for (uint32_t i = 0; rq->args && !so->more_args && i < rq->args->via.map.size; i++) {
		const msgpack_object *k = &rq->args->via.map.ptr[i].key;
		bool known = false;
		for (const srv_arg *a = so->args; a->name && !known; a++)
			known = al_mp_str_eq(k, a->name);
		if (known)
			continue;
		if (k->type != MSGPACK_OBJECT_STR)
			srv_reply_error(c, rq, AL_EINVALID_ARGUMENT, "%s: argument names must be strings", rq->op);
		else
			srv_reply_error(c, rq, AL_EINVALID_ARGUMENT, "%.*s: unknown argument of %s",
				    (int)(k->via.str.size > 64 ? 64 : k->via.str.size), k->via.str.ptr, rq->op);
		return false;
	}
	return true;
}

/* ---- describe ------------------------------------------------------------------------------- */

/* The values of list (separated by sep, which may be followed by spaces) as an array. */
static void pack_values(msgpack_packer *pk, const char *list, char sep)
{
	uint32_t n = 1;
	for (const char *p = list; *p; p++)
		n += *p == sep;
	msgpack_pack_array(pk, n);
	for (const char *p = list;;) {
		size_t len = strcspn(p, (char[]){sep, 0});
		al_pack_str(pk, p, len);
		if (p[len] == 0)
			break;
		p += len + 1;
		p += strspn(p, " ");
	}
}

static void pack_arg(msgpack_packer *pk, const char *name, const char *type, bool required, const char *doc,
		     const char *values, char sep)
{
	msgpack_pack_map(pk, values ? 5 : 4);
	al_pack_cstr(pk, "name");
	al_pack_cstr(pk, name);
	al_pack_cstr(pk, "type");
	al_pack_cstr(pk, type);
	al_pack_cstr(pk, "required");
	required ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	al_pack_cstr(pk, "doc");
	al_pack_cstr(pk, doc);
	if (values) {
		al_pack_cstr(pk, "values");
		pack_values(pk, values, sep);
	}
}

static void pack_op_head(msgpack_packer *pk, const char *op, const char *kind, const char *role, const char *target,
			 const char *doc)
{
	msgpack_pack_map(pk, 6);
	const char *k[] = {"op", "kind", "role", "target", "doc"}, *v[] = {op, kind, role, target, doc};
	for (int i = 0; i < 5; i++) {
		al_pack_cstr(pk, k[i]);
		al_pack_cstr(pk, v[i]);
	}
	al_pack_cstr(pk, "args");
}

/* describe's answer, built once: the command table, then the server's own operations, each
 * argument with its type and, when it takes only some values, their list. */
void srv_build_describe(al_srv *srv)
{
	static const char *const types[] = {[AL_T_STR] = "string", [AL_T_INT] = "integer", [AL_T_BOOL] = "boolean",
					    [AL_T_TIME] = "time",  [AL_T_PASSWORD] = "password", [AL_T_LIMIT] = "limit",
					    [AL_T_LIST] = "list",  [AL_T_MAP] = "map", [AL_T_NUM] = "number"};
	size_t nown = sizeof ops / sizeof *ops;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, al_sbuffer_write);
	msgpack_pack_array(&pk, al_cmd_def_count() + nown);
	for (size_t i = 0; i < al_cmd_def_count(); i++) {
		const al_cmd_def *d = al_cmd_def_at(i);
		pack_op_head(&pk, d->op, d->kind == AL_CMD_WRITE ? "write" : "read", al_role_name(d->role), d->target,
			     d->doc);
		msgpack_pack_array(&pk, d->nargs);
		for (size_t k = 0; k < d->nargs; k++) {
			const al_field_def *a = &d->args[k];
			pack_arg(&pk, a->name, types[a->type], a->flags & AL_F_REQ, a->doc, al_cmd_arg_values(d, a->name),
				 '|');
		}
	}
	for (size_t i = 0; i < nown; i++) {
		const srv_op *o = &ops[i];
		pack_op_head(&pk, o->name, o->streams ? "stream" : "session", o->role, "", o->doc);
		size_t n = 0;
		while (o->args[n].name)
			n++;
		msgpack_pack_array(&pk, n);
		for (const srv_arg *a = o->args; a->name; a++)
			pack_arg(&pk, a->name, a->type, a->required, a->doc, a->values ? a->values() : NULL, ',');
	}
	srv->describe = sb.data;
	srv->describe_len = sb.size;
}
