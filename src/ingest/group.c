/*
 * group.c - group commit for the write path (see include/ingest/group.h).
 *
 * Requests queue their batches; a committer thread that finds fewer than
 * ing->max_groups transactions running becomes a leader, takes every
 * queued request of the same account as the oldest (up to
 * GROUP_MAX_EVENTS events), runs the transaction and calls each request
 * back with its result.  A request of another account waits for the next
 * round.  There are twice as many committers as groups so that the next
 * group's statements run while the previous group waits for its COMMIT.
 * Groups running side by side lock their contacts in one order
 * (store/events.c), and a group that still loses a deadlock is run again.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "core/xmalloc.h"
#include "ingest/group.h"
#include "ingest/ingest.h"
#include "store/db.h"
#include "store/fits.h"
#include "store/scoresync.h"

static pthread_mutex_t group_lock = PTHREAD_MUTEX_INITIALIZER;
/* committers wait here for a job and a free group slot */
static pthread_cond_t group_changed = PTHREAD_COND_INITIALIZER;
/* group_commit's callers wait here for their job */
static pthread_cond_t group_settled = PTHREAD_COND_INITIALIZER;
static struct group_job *queue_head, **queue_tail = &queue_head;
static int groups_running;
static bool committers_stopping;
static pthread_t *committers;
static int committer_count;

/* Scores every touched contact with the account's model and writes its
 * summary and scores back. */
static bool
write_contacts(struct ingest *ing, PGconn *conn, int64_t account_id,
    const struct store_touched *touched, size_t count, int64_t now_ms,
    struct err *err)
{
	struct model_params params;
	struct model_score *scores = xcalloc(count, sizeof(*scores));
	bool ok;

	fits_params(ing->pool, account_id, &params);
	for (size_t i = 0; i < count; i++)
		model_score(
		    &params, &ing->thresholds, &touched[i].summary, &scores[i]);
	ok = store_contacts_write(
		 conn, account_id, touched, scores, count, now_ms, err) &&
	     scoresync_publish_touched(conn, account_id, touched, count, err);
	free(scores);
	return ok;
}

static PGconn *
group_try(struct ingest *ing, int64_t account_id, struct store_batch *batches,
    size_t nbatches, int64_t now_ms, bool *broken, struct err *err)
{
	struct store_touched *touched = NULL;
	struct store_scanner scanner;
	size_t touched_count = 0;
	PGconn *conn;
	bool ok;

	*broken = false;
	scanner.window_s = ing->rules.scanner_window_s;
	scanner.burst_links = ing->rules.burst_links;
	scanner.burst_window_s = ing->rules.burst_window_s;
	conn = db_pool_acquire(ing->pool, 5000, err);
	if (conn == NULL) {
		*broken = true;
		return NULL;
	}
	ok = db_command(conn, "begin", "BEGIN", 0, NULL, err) &&
	     store_events_merge_many(conn, account_id, batches, nbatches,
		 &scanner, now_ms, &touched, &touched_count, err) &&
	     write_contacts(
		 ing, conn, account_id, touched, touched_count, now_ms, err);
	free(touched);
	if (ok)
		return conn;
	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
	*broken = db_conn_broken(conn);
	db_pool_release(ing->pool, conn, *broken);
	return NULL;
}

/*
 * Runs the group's statements up to, not including, COMMIT, again when a
 * deadlock with a concurrent group aborted them.  Returns the connection
 * inside its open transaction, or NULL with err set (the transaction
 * rolled back, *broken telling whether the connection died).
 */
static PGconn *
group_prepare(struct ingest *ing, int64_t account_id,
    struct store_batch *batches, size_t nbatches, int64_t now_ms, bool *broken,
    struct err *err)
{
	PGconn *conn = NULL;

	for (int attempt = 0; attempt < GROUP_MAX_ATTEMPTS; attempt++) {
		err_clear(err);
		conn = group_try(
		    ing, account_id, batches, nbatches, now_ms, broken, err);
		if (conn != NULL || strcmp(err->code, DB_ERR_CONFLICT) != 0)
			break;
	}
	return conn;
}

static bool
group_finish(struct ingest *ing, PGconn *conn, bool *broken, struct err *err)
{
	bool ok = db_command(conn, "commit", "COMMIT", 0, NULL, err);

	scoresync_committed(conn);
	*broken = !ok && db_conn_broken(conn);
	db_pool_release(ing->pool, conn, *broken);
	return ok;
}

bool
group_commit_many(struct ingest *ing, int64_t account_id,
    struct store_batch *batches, size_t nbatches, int64_t now_ms, bool *broken,
    struct err *err)
{
	PGconn *conn = group_prepare(
	    ing, account_id, batches, nbatches, now_ms, broken, err);

	return conn != NULL && group_finish(ing, conn, broken, err);
}

/* Unlinks and returns the jobs of the head's account, up to the limit. */
static struct group_job *
take_group(size_t *count)
{
	struct group_job **link = &queue_head, *taken = NULL, **tail = &taken;
	int64_t account = queue_head->account_id;
	size_t events = 0;

	*count = 0;
	while (*link != NULL) {
		struct group_job *job = *link;
		size_t n = job->batch.batch->count;

		if (job->account_id != account ||
		    (*count > 0 && events + n > GROUP_MAX_EVENTS)) {
			link = &job->next;
			continue;
		}
		*link = job->next;
		if (queue_tail == &job->next)
			queue_tail = link;
		job->next = NULL;
		*tail = job;
		tail = &job->next;
		events += n;
		(*count)++;
	}
	return taken;
}

/*
 * Called with the lock held and a running slot taken; returns with the
 * lock held, after calling every job back without it.  The next group
 * may start its statements while this one waits for its COMMIT to reach the
 * disk: it can only wait on this group's row locks, never the other way round,
 * so the overlap cannot deadlock, and the disk flush, the slowest step, no
 * longer stalls the queue.
 */
static void
lead(struct ingest *ing)
{
	struct group_job *jobs, *job, *next;
	struct store_batch *batches;
	struct err err = { 0 };
	size_t count, i;
	int64_t now_ms;
	bool ok, broken;
	PGconn *conn;

	jobs = take_group(&count);
	pthread_mutex_unlock(&group_lock);

	batches = xcalloc(count, sizeof(*batches));
	now_ms = jobs->now_ms;
	for (job = jobs, i = 0; job != NULL; job = job->next, i++) {
		batches[i] = job->batch;
		if (job->now_ms > now_ms)
			now_ms = job->now_ms;
	}
	/* the group's clock is its newest member's, so no updated_at goes
	 * backwards */
	conn = group_prepare(
	    ing, jobs->account_id, batches, count, now_ms, &broken, &err);

	pthread_mutex_lock(&group_lock);
	groups_running--;
	pthread_cond_broadcast(&group_changed);
	pthread_mutex_unlock(&group_lock);

	ok = conn != NULL && group_finish(ing, conn, &broken, &err);

	for (job = jobs, i = 0; job != NULL; job = next, i++) {
		next = job->next;
		job->batch.counts = batches[i].counts;
		job->ok = ok;
		job->broken = broken;
		job->err = err;
		job->done(job);
	}
	free(batches);
	pthread_mutex_lock(&group_lock);
}

static void *
committer_main(void *arg)
{
	struct ingest *ing = arg;

	pthread_mutex_lock(&group_lock);
	for (;;) {
		if (queue_head != NULL && groups_running < ing->max_groups) {
			groups_running++;
			lead(ing);
		} else if (committers_stopping && queue_head == NULL) {
			break;
		} else {
			pthread_cond_wait(&group_changed, &group_lock);
		}
	}
	pthread_mutex_unlock(&group_lock);
	return NULL;
}

void
group_start(struct ingest *ing)
{
	int want = 2 * (ing->max_groups > 0 ? ing->max_groups : 1);

	committers = xcalloc((size_t)want, sizeof(*committers));
	committers_stopping = false;
	for (committer_count = 0; committer_count < want; committer_count++)
		if (pthread_create(&committers[committer_count], NULL,
			committer_main, ing) != 0)
			abort();
}

void
group_stop(void)
{
	pthread_mutex_lock(&group_lock);
	committers_stopping = true;
	pthread_cond_broadcast(&group_changed);
	pthread_mutex_unlock(&group_lock);
	for (int i = 0; i < committer_count; i++)
		pthread_join(committers[i], NULL);
	free(committers);
	committers = NULL;
	committer_count = 0;
}

void
group_submit(struct group_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&group_lock);
	*queue_tail = job;
	queue_tail = &job->next;
	pthread_cond_signal(&group_changed);
	pthread_mutex_unlock(&group_lock);
}

bool
group_job_result(const struct group_job *job, struct store_write_counts *counts,
    bool *broken, struct err *err)
{
	*counts = job->batch.counts;
	*broken = job->broken;
	if (!job->ok)
		err_set(err, job->err.status != 0 ? job->err.status : 503,
		    job->err.code[0] != '\0' ? job->err.code
					     : "database_unavailable",
		    "%s", job->err.message);
	return job->ok;
}

/* group_commit's callback: wakes the thread waiting for job. */
static void
wake_waiter(struct group_job *job)
{
	bool *settled = job->done_arg;

	pthread_mutex_lock(&group_lock);
	*settled = true;
	pthread_cond_broadcast(&group_settled);
	pthread_mutex_unlock(&group_lock);
}

bool
group_commit(struct ingest *ing, int64_t account_id, const char *provider,
    const struct event_batch *batch, int64_t now_ms,
    struct store_write_counts *counts, bool *broken, struct err *err)
{
	struct group_job job;
	bool settled = false;

	(void)ing; /* the committers were started with it */
	memset(&job, 0, sizeof(job));
	job.account_id = account_id;
	job.batch.provider = provider;
	job.batch.batch = batch;
	job.now_ms = now_ms;
	job.done = wake_waiter;
	job.done_arg = &settled;
	group_submit(&job);

	pthread_mutex_lock(&group_lock);
	while (!settled)
		pthread_cond_wait(&group_settled, &group_lock);
	pthread_mutex_unlock(&group_lock);
	return group_job_result(&job, counts, broken, err);
}
