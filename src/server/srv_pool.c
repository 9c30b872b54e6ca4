/*
 * srv_pool.c - the server's threads: the writer (group commit) and the worker pool (prepare
 * steps, logins, streams, reads from the past), and the queues that bring their results back
 * to the loop. The checkpoint thread, started and stopped with them, is srv_asof.c's.
 *
 * Group commit: the writer takes every write queued since it last looked (at most
 * SRV_MAX_BATCH) and runs them with one al_exec_batch: one write transaction, one commit and
 * fsync. While it commits, the loop keeps reading and queueing, so the next batch holds
 * everything that arrived meanwhile. Answers are sent by the loop only after the commit.
 *
 * Slow prepare steps run before a write reaches the writer: hashing on the workers, network
 * I/O (image rescans) on a thread of its own, the network thread, where a registry that does
 * not answer holds only later rescans, for up to their timeout, and neither the writer
 * (everyone's writes) nor the workers (logins, hashing, streams). The writer refuses to run a
 * network step itself (al_set_thread_prepare_limit), should one ever reach it unprepared.
 */
#define _GNU_SOURCE /* gettid */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

#include "server/srv_int.h"

void srv_job_free(job *j)
{
	if (j == NULL)
		return;
	if (j->args) /* may hold a password */
		sodium_memzero(j->args, j->args_len);
	al_free(j->args);
	al_prepared_free(j->prep, j->prep_len);
	if (j->rep.result) /* may hold a new secret key */
		sodium_memzero(j->rep.result, j->rep.result_len);
	al_reply_free(&j->rep);
	if (j->login)
		sodium_memzero(j->login, sizeof *j->login);
	al_free(j->login);
	al_sbuffer_destroy(&j->sb);
	al_free(j);
}

/* Under srv->mu. */
static void done_push(al_srv *srv, job *j)
{
	j->next = NULL;
	if (srv->dq_last)
		srv->dq_last->next = j;
	else
		srv->dq_first = j;
	srv->dq_last = j;
}

static void wake_loop(al_srv *srv) { event_active(srv->done_ev, EV_READ, 0); }

void srv_submit_write(al_srv *srv, job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&srv->mu);
	if (srv->wq_last)
		srv->wq_last->next = j;
	else
		srv->wq_first = j;
	srv->wq_last = j;
	pthread_cond_signal(&srv->wcv);
	pthread_mutex_unlock(&srv->mu);
}

void srv_submit_job(al_srv *srv, job *j)
{
	const al_cmd_def *d = j->kind == J_PREPARE ? al_cmd_def_find(j->op) : NULL;
	j->net = d && d->prep == AL_PREP_NETWORK;
	j->next = NULL;
	pthread_mutex_lock(&srv->mu);
	if (srv->jq_last)
		srv->jq_last->next = j;
	else
		srv->jq_first = j;
	srv->jq_last = j;
	pthread_cond_signal(j->net ? &srv->ncv : &srv->jcv);
	pthread_mutex_unlock(&srv->mu);
}

/* Under srv->mu: the first queued job for the network thread (net) or for a worker, taken out
 * of the queue; NULL when there is none. */
static job *take_job(al_srv *srv, bool net)
{
	for (job **p = &srv->jq_first, *prev = NULL; *p; prev = *p, p = &(*p)->next)
		if ((*p)->net == net) {
			job *j = *p;
			if ((*p = j->next) == NULL)
				srv->jq_last = prev;
			return j;
		}
	return NULL;
}

/* ---- the writer ------------------------------------------------------------------------------ */

static void run_batch(al_srv *srv, job **b, size_t n, al_request *reqs, al_reply *reps)
{
	for (size_t i = 0; i < n; i++)
		reqs[i] = (al_request){b[i]->op, b[i]->args, b[i]->args_len, &b[i]->actor, b[i]->prep, b[i]->prep_len};
	al_exec_batch(srv->s, reqs, reps, n);
	for (size_t i = 0; i < n; i++) {
		b[i]->rep = reps[i];
		al_prepared_free(b[i]->prep, b[i]->prep_len); /* wipe generated secrets early */
		b[i]->prep = NULL;
	}
}

static void *writer_main(void *arg)
{
	al_srv *srv = arg;
	job **b = al_malloc(SRV_MAX_BATCH * sizeof *b);
	al_request *reqs = al_malloc(SRV_MAX_BATCH * sizeof *reqs);
	al_reply *reps = al_malloc(SRV_MAX_BATCH * sizeof *reps);
	if (b == NULL || reqs == NULL || reps == NULL)
		abort(); /* three small allocations at start-up */
	al_set_thread_prepare_limit(AL_PREP_HASHES); /* never network I/O here */
	pthread_mutex_lock(&srv->mu);
	for (;;) {
		while (srv->wq_first == NULL && !srv->quit)
			pthread_cond_wait(&srv->wcv, &srv->mu);
		if (srv->wq_first == NULL)
			break; /* quit, and nothing left to commit */
		size_t n = 0;
		while (srv->wq_first && n < SRV_MAX_BATCH) {
			b[n++] = srv->wq_first;
			srv->wq_first = srv->wq_first->next;
		}
		if (srv->wq_first == NULL)
			srv->wq_last = NULL;
		pthread_mutex_unlock(&srv->mu);
		run_batch(srv, b, n, reqs, reps);
		pthread_mutex_lock(&srv->mu);
		srv->batches++;
		for (size_t i = 0; i < n; i++) {
			srv->batched += b[i]->c != NULL; /* clients' writes; the server's timers not counted */
			done_push(srv, b[i]);
		}
		wake_loop(srv);
	}
	pthread_mutex_unlock(&srv->mu);
	al_free(b);
	al_free(reqs);
	al_free(reps);
	return NULL;
}

/* ---- workers --------------------------------------------------------------------------------- */

static void run_prepare(al_srv *srv, job *j)
{
	al_request req = {j->op, j->args, j->args_len, &j->actor};
	al_error err = {0};
	if (al_prepare(srv->s, &req, &j->prep, &j->prep_len, &err) != AL_OK) {
		j->rep.err = err;
		j->failed = true;
	}
	/* not j->ready: only the loop sets it, when it takes the job back (srv.c on_done) */
}

static void run_login(al_srv *srv, job *j)
{
	msgpack_zone z;
	msgpack_object args;
	al_str pw = {"", 0}, otp = {NULL, 0};
	char password[1025], code[1025];
	al_login_req req = {j->who, password, NULL, j->c->ip[0] ? j->c->ip : NULL};
	msgpack_zone_init(&z, 1024);
	/* the loop checked the arguments already */
	if (al_mp_decode(j->args, j->args_len, &z, &args) == 0 && al_mp_str(&args, "password", &pw) == 1 &&
	    (j->login = al_calloc(1, sizeof *j->login)) != NULL) {
		al_str_cpy(password, sizeof password, pw);
		if (al_mp_str(&args, "otp", &otp) == 1)
			req.otp = al_str_cpy(code, sizeof code, otp);
		al_login(srv->s, &req, j->login, &j->rep.err);
	} else
		al_err(&j->rep.err, AL_ENO_MEMORY, "out of memory");
	sodium_memzero(password, sizeof password);
	msgpack_zone_destroy(&z);
}

/* Runs the queued jobs of one kind of thread (the network thread's, or the workers') until quit. */
static void serve(al_srv *srv, bool net)
{
	pthread_mutex_lock(&srv->mu);
	for (;;) {
		job *j = NULL;
		while (!srv->quit && (j = take_job(srv, net)) == NULL)
			pthread_cond_wait(net ? &srv->ncv : &srv->jcv, &srv->mu);
		if (j == NULL)
			break; /* quit */
		pthread_mutex_unlock(&srv->mu);
		bool stream = j->kind == J_STREAM;
		if (stream) /* hands its own output over; the loop frees j after the last chunk */
			srv_stream_run(srv, j);
		else if (j->kind == J_PREPARE)
			run_prepare(srv, j);
		else if (j->kind == J_LOGIN)
			run_login(srv, j);
		else if (j->kind == J_ASOF)
			srv_asof_run(srv, j);
		pthread_mutex_lock(&srv->mu);
		if (!stream) {
			done_push(srv, j);
			wake_loop(srv);
		}
	}
	pthread_mutex_unlock(&srv->mu);
}

static void *worker_main(void *arg)
{
	al_srv *srv = arg;
	/* Hashing is CPU-bound and this machine has few cores: a nicer worker leaves the loop
	 * (reads, answers) the CPU whenever it wakes up. Linux nices threads one by one. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) != 0)
		srv_log(srv, AL_SRV_LOG_DEBUG, "worker priority unchanged");
	srv_hash_use(srv, __atomic_fetch_add(&srv->next_worker, 1, __ATOMIC_RELAXED));
	serve(srv, false);
	return NULL;
}

/* Waits for registries (image rescans): nothing else waits behind it. */
static void *net_main(void *arg)
{
	serve(arg, true);
	return NULL;
}

void srv_stream_flush(al_srv *srv, job *j, bool last)
{
	chunk *ch = al_calloc(1, sizeof *ch);
	if (ch == NULL)
		abort();
	ch->j = j;
	ch->data = j->sb.data; /* handed over */
	ch->len = j->sb.size;
	ch->last = last;
	msgpack_sbuffer_init(&j->sb);
	pthread_mutex_lock(&srv->mu);
	if (srv->cq_last)
		srv->cq_last->next = ch;
	else
		srv->cq_first = ch;
	srv->cq_last = ch;
	j->queued += ch->len;
	wake_loop(srv);
	/* Back-pressure: produce more only when the client has read most of what was sent. */
	while (!last && !srv->quit && j->cancel == C_NONE && j->queued + j->outlen > SRV_STREAM_HIGH)
		pthread_cond_wait(&srv->flow, &srv->mu);
	pthread_mutex_unlock(&srv->mu);
}

int srv_threads_start(al_srv *srv, al_error *err)
{
	srv->nworkers = srv->o.workers;
	srv->workers = al_calloc((size_t)srv->nworkers, sizeof *srv->workers);
	if (srv->workers == NULL)
		return al_err(err, AL_ENO_MEMORY, "out of memory");
	pthread_cond_init(&srv->ncv, NULL);
	if (pthread_create(&srv->writer, NULL, writer_main, srv) != 0)
		return al_err(err, AL_EINTERNAL, "cannot start the writer thread");
	srv->threads_started = true;
	if (pthread_create(&srv->net, NULL, net_main, srv) != 0)
		return al_err(err, AL_EINTERNAL, "cannot start the network thread");
	srv->net_started = true;
	for (int i = 0; i < srv->nworkers; i++)
		if (pthread_create(&srv->workers[i], NULL, worker_main, srv) != 0) {
			srv->nworkers = i;
			return al_err(err, AL_EINTERNAL, "cannot start worker thread %d", i);
		}
	return srv_ckpt_start(srv, err);
}

/* Lets the writer commit what is queued, stops every thread and frees what nobody will read. */
void srv_threads_stop(al_srv *srv)
{
	if (!srv->threads_started)
		return;
	pthread_mutex_lock(&srv->mu);
	srv->quit = true;
	for (job *j = srv->jq_first; j; j = j->next)
		j->cancel = C_GONE;
	pthread_cond_broadcast(&srv->wcv);
	pthread_cond_broadcast(&srv->jcv);
	pthread_cond_broadcast(&srv->ncv);
	pthread_cond_broadcast(&srv->flow);
	pthread_mutex_unlock(&srv->mu);
	pthread_join(srv->writer, NULL);
	for (int i = 0; i < srv->nworkers; i++)
		pthread_join(srv->workers[i], NULL);
	if (srv->net_started) /* a rescan in progress ends first, at worst by its timeout */
		pthread_join(srv->net, NULL);
	srv_ckpt_join(srv);
	srv->net_started = false;
	pthread_cond_destroy(&srv->ncv);
	srv->threads_started = false;
	al_free(srv->workers);
	srv->workers = NULL;
}
