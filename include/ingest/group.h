/*
 * group.h - group commit: requests that arrive while a transaction is
 * running queue up, and the next transaction takes all of them at once.
 *
 * The transactions run on committer threads (group_start), so a request
 * only queues its batch and is called back when it is settled; no thread
 * of the caller waits.  At most ing->max_groups ingest transactions run
 * their statements at a time (one per core by default).  Under load each
 * carries many requests, so the fixed cost of a transaction (a dozen
 * statements and one WAL flush) is shared.  Every request is still
 * answered only after the transaction holding its events committed.
 */
#ifndef ENGAGEMENTD_INGEST_GROUP_H
#define ENGAGEMENTD_INGEST_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "ingest/event.h"
#include "store/events.h"

struct ingest;

/* The most events one grouped transaction takes (a lone larger batch
 * still goes alone). */
#define GROUP_MAX_EVENTS 20000

/* How often a group that lost a deadlock is run again before it fails. */
#define GROUP_MAX_ATTEMPTS 3

/* One request's batch queued for the next group of its account. */
struct group_job {
	/* set by the caller */
	int64_t account_id;
	struct store_batch batch; /* provider and batch; counts come back */
	int64_t now_ms;
	/* called once on a committer thread when the group has committed or
	 * failed; it may free the job */
	void (*done)(struct group_job *job);
	void *done_arg;
	/* the outcome, final when done is called; see group_job_result */
	bool ok;
	bool broken;
	struct err err;
	struct group_job *next;
};

/*
 * Starts the committer threads (two per group that may run, so the next
 * group's statements overlap the previous group's COMMIT).  Once, before
 * the first job.
 */
void group_start(struct ingest *ing);

/*
 * Lets the committers finish every queued job, then joins them.  No job
 * may be submitted afterwards.
 */
void group_stop(void);

/* Queues job (caller's memory until done runs); returns at once. */
void group_submit(struct group_job *job);

/*
 * The outcome of a settled job in group_commit's terms: true with counts
 * filled, or false with err set and *broken telling whether the
 * connection was lost.
 */
bool group_job_result(const struct group_job *job,
    struct store_write_counts *counts, bool *broken,
    struct err *err) MUST_CHECK;

/*
 * Commits batches (all of account_id) in one transaction: merge, bands,
 * COMMIT.  Fills each batch's counts.  Returns false with err set when the
 * transaction did not commit; *broken tells whether the connection was lost.
 */
bool group_commit_many(struct ingest *ing, int64_t account_id,
    struct store_batch *batches, size_t nbatches, int64_t now_ms, bool *broken,
    struct err *err) MUST_CHECK;

/*
 * Commits one request's batch as part of the next group transaction of its
 * account, waiting for it on the calling thread (the spool loader's way;
 * requests use group_submit).  counts is filled on success.  Same failure
 * contract as group_commit_many.
 */
bool group_commit(struct ingest *ing, int64_t account_id, const char *provider,
    const struct event_batch *batch, int64_t now_ms,
    struct store_write_counts *counts, bool *broken,
    struct err *err) MUST_CHECK;

#endif
