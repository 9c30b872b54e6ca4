/*
 * srv_asof.c - the past: reads that carry `at` (docs/protocol.md), answered on a worker from an
 * as-of store of that point (al_store_asof), and the checkpoint thread that writes the view
 * checkpoints those stores start from.
 *
 * Building an as-of store copies a checkpoint's file and folds up to checkpoint-interval
 * events: a good part of a second on a large store, so never on the loop. The last
 * SRV_ASOF_CACHE stores built stay open for later reads of the same point (a client paging
 * through a list as of yesterday), least recently used replaced first; the past never changes,
 * so a cached store never goes stale. Rights are checked as for any read, against the present.
 *
 * The checkpoint thread writes a checkpoint from a read transaction whenever the log head is
 * checkpoint-interval events past the newest one (AL_CKPT_IF_DUE), off the writer's path: the
 * loop only wakes it after a commit that reached the head it waits for.
 */
#define _GNU_SOURCE /* gettid */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "server/srv_int.h"

/* ---- as-of stores ---------------------------------------------------------------------------- */

/* Under mu: the slot holding (or building) seq, or NULL. */
static struct srv_asof *slot_of(al_srv *srv, uint64_t seq)
{
	for (int i = 0; i < SRV_ASOF_CACHE; i++)
		if ((srv->asof[i].s || srv->asof[i].building) && srv->asof[i].seq == seq)
			return &srv->asof[i];
	return NULL;
}

/* Under mu: an empty slot, else the least recently used one nobody reads; NULL when all are
 * in use (the store is then built for this job alone). */
static struct srv_asof *slot_free(al_srv *srv)
{
	struct srv_asof *best = NULL;
	for (int i = 0; i < SRV_ASOF_CACHE; i++) {
		struct srv_asof *a = &srv->asof[i];
		if (!a->s && !a->building)
			return a;
		if (a->s && a->users == 0 && (best == NULL || a->used < best->used))
			best = a;
	}
	return best;
}

/* Builds the store of seq into slot a (NULL: for j alone), outside mu. */
static int build(al_srv *srv, job *j, struct srv_asof *a, uint64_t seq, al_error *err)
{
	int64_t t0 = srv_mono_us();
	al_store *s = NULL;
	int rc = al_store_asof(srv->s, seq, &s, err);
	if (rc == AL_OK)
		srv_log(srv, AL_SRV_LOG_INFO, "as-of: the state after event %llu built in %.3f s", (unsigned long long)seq,
			(srv_mono_us() - t0) / 1e6);
	pthread_mutex_lock(&srv->mu);
	if (a) {
		a->building = false;
		a->s = s;
		a->users = s != NULL;
		a->used = ++srv->asof_tick;
		pthread_cond_broadcast(&srv->asof_cv);
	}
	pthread_mutex_unlock(&srv->mu);
	j->view = s;
	j->view_own = a == NULL;
	return rc;
}

int srv_asof_acquire(al_srv *srv, job *j, al_error *err)
{
	uint64_t seq;
	j->view = NULL;
	int rc = al_log_point(srv->s, j->at, &seq, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&srv->mu);
	struct srv_asof *a;
	while ((a = slot_of(srv, seq)) && a->building) /* another worker builds it: wait for it */
		pthread_cond_wait(&srv->asof_cv, &srv->mu);
	if (a) {
		a->users++;
		a->used = ++srv->asof_tick;
		j->view = a->s;
		j->view_own = false;
		pthread_mutex_unlock(&srv->mu);
		return AL_OK;
	}
	al_store *old = NULL;
	if ((a = slot_free(srv))) {
		old = a->s;
		*a = (struct srv_asof){.seq = seq, .building = true};
	}
	pthread_mutex_unlock(&srv->mu);
	al_store_close(old); /* nobody reads it: users was 0 */
	return build(srv, j, a, seq, err);
}

void srv_asof_release(al_srv *srv, job *j)
{
	if (j->view == NULL)
		return;
	if (j->view_own)
		al_store_close(j->view);
	else {
		pthread_mutex_lock(&srv->mu);
		for (int i = 0; i < SRV_ASOF_CACHE; i++)
			if (srv->asof[i].s == j->view)
				srv->asof[i].users--;
		pthread_mutex_unlock(&srv->mu);
	}
	j->view = NULL;
}

void srv_asof_free(al_srv *srv)
{
	for (int i = 0; i < SRV_ASOF_CACHE; i++) {
		al_store_close(srv->asof[i].s);
		srv->asof[i] = (struct srv_asof){0};
	}
}

void srv_asof_submit(conn *c, const request *rq)
{
	job *j = srv_job_new(c, rq, J_ASOF);
	if (j == NULL) {
		srv_reply_error(c, rq, AL_ENO_MEMORY, "out of memory");
		return;
	}
	srv_submit_job(c->srv, j);
}

void srv_asof_run(al_srv *srv, job *j)
{
	al_error err = {0};
	if (srv_asof_acquire(srv, j, &err) != AL_OK) {
		j->rep.err = err;
		return;
	}
	al_request req = {j->op, j->args, j->args_len, &j->actor};
	al_exec(j->view, &req, &j->rep);
	srv_asof_release(srv, j);
}

/* ---- the checkpoint thread --------------------------------------------------------------------- */

#define CKPT_RECHECK_S 1  /* a changed checkpoint-interval is seen within this (a cheap look) */
#define CKPT_RETRY_S 60   /* after a failure (a full disk, say) */

static void ckpt_once(al_srv *srv, bool *failed)
{
	al_checkpoint_info ci;
	al_error err = {0};
	int64_t t0 = srv_mono_us();
	int rc = al_store_checkpoint(srv->s, AL_CKPT_IF_DUE, NULL, NULL, &ci, &err);
	if (rc)
		srv_log(srv, AL_SRV_LOG_WARN, "checkpoint: %s: %s", al_err_name(rc), err.msg);
	else if (ci.written)
		srv_log(srv, AL_SRV_LOG_INFO, "checkpoint at event %llu written in %.3f s (%.1f MB); %llu kept (%.1f MB), "
			"%llu removed", (unsigned long long)ci.seq, (srv_mono_us() - t0) / 1e6, ci.bytes / 1e6,
			(unsigned long long)ci.kept, ci.kept_bytes / 1e6, (unsigned long long)ci.pruned);
	pthread_mutex_lock(&srv->mu);
	srv->ckpt_due = rc ? 0 : ci.next_due;
	pthread_mutex_unlock(&srv->mu);
	*failed = rc != AL_OK;
}

static void *ckpt_main(void *arg)
{
	al_srv *srv = arg;
	/* Like the workers: the loop and the writer come first on a small machine. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) != 0)
		srv_log(srv, AL_SRV_LOG_DEBUG, "checkpoint thread priority unchanged");
	pthread_mutex_lock(&srv->mu);
	while (!srv->quit) {
		bool failed;
		srv->ckpt_poked = false;
		pthread_mutex_unlock(&srv->mu);
		ckpt_once(srv, &failed);
		pthread_mutex_lock(&srv->mu);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += failed ? CKPT_RETRY_S : CKPT_RECHECK_S;
		int w = 0;
		while (!srv->quit && !srv->ckpt_poked && w != ETIMEDOUT)
			w = pthread_cond_timedwait(&srv->ckcv, &srv->mu, &until);
	}
	pthread_mutex_unlock(&srv->mu);
	return NULL;
}

int srv_ckpt_start(al_srv *srv, al_error *err)
{
	if (pthread_create(&srv->ckpt, NULL, ckpt_main, srv) != 0)
		return al_err(err, AL_EINTERNAL, "cannot start the checkpoint thread");
	srv->ckpt_started = true;
	return AL_OK;
}

void srv_ckpt_join(al_srv *srv)
{
	if (!srv->ckpt_started)
		return;
	pthread_mutex_lock(&srv->mu);
	pthread_cond_broadcast(&srv->ckcv);
	pthread_mutex_unlock(&srv->mu);
	pthread_join(srv->ckpt, NULL); /* a checkpoint being written is finished first */
	srv->ckpt_started = false;
}

void srv_ckpt_poke(al_srv *srv)
{
	pthread_mutex_lock(&srv->mu);
	if (srv->ckpt_due && srv->head >= srv->ckpt_due) {
		srv->ckpt_poked = true;
		pthread_cond_signal(&srv->ckcv);
	}
	pthread_mutex_unlock(&srv->mu);
}
