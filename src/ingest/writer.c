/*
 * writer.c - commits one request's events (see include/ingest/ingest.h).
 *
 * Verdicts and the privacy rules are applied here, on the caller's
 * thread; the transaction itself (merge, scores, COMMIT) is shared with
 * other requests by group commit (group.c) and runs on a committer
 * thread, which also does the spool fallback below before calling the
 * request back, so a 2xx still means durable.  A scorecard or band
 * listing never sees a contact whose scores its summary no longer
 * supports.
 *
 * When the transaction cannot commit, the batch goes to the spool (if one is
 * configured) after the rollback, never alongside a partial commit; the
 * spool's loader later runs the very same transaction (ingest_commit).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "ingest/group.h"
#include "ingest/ingest.h"
#include "store/events.h"

/* Keeps the network part of an address: /24 for IPv4, /48 for IPv6. */
static void
truncate_ip(char *ip)
{
	unsigned char addr[16];

	if (inet_pton(AF_INET, ip, addr) == 1) {
		addr[3] = 0;
		inet_ntop(AF_INET, addr, ip, (socklen_t)strlen(ip) + 1);
	} else if (inet_pton(AF_INET6, ip, addr) == 1) {
		char out[INET6_ADDRSTRLEN];

		memset(addr + 6, 0, 10);
		if (inet_ntop(AF_INET6, addr, out, sizeof(out)) != NULL &&
		    strlen(out) <= strlen(ip))
			strcpy(ip, out);
	} else {
		ip[0] = '\0';
	}
}

static void
prepare_events(struct ingest *ing, struct event_batch *batch)
{
	for (size_t i = 0; i < batch->count; i++) {
		struct event *ev = &batch->items[i];

		/* verdicts need the full address; privacy rules apply after */
		verdict_decide(&ing->rules, ev);
		if (ev->ip == NULL)
			continue;
		if (!ing->store_ip) {
			free(ev->ip);
			ev->ip = NULL;
		} else if (ing->truncate_ip) {
			truncate_ip(ev->ip);
		}
	}
}

/* Counts a committed transaction's events into result and the metrics. */
static void
count_committed(
    const struct store_write_counts *counts, struct ingest_result *result)
{
	result->accepted = counts->stored;
	result->duplicates = counts->duplicates;
	metrics_add(METRIC_EVENTS_ACCEPTED, counts->stored);
	metrics_add(METRIC_EVENTS_DUPLICATE, counts->duplicates);
	metrics_add(METRIC_EVENTS_IGNORED, counts->erased);
}

enum ingest_commit_status
ingest_commit(struct ingest *ing, int64_t account_id, const char *provider,
    const struct event_batch *batch, int64_t now_ms,
    struct ingest_result *result, struct err *err)
{
	struct store_write_counts counts;
	bool broken;

	if (!group_commit(ing, account_id, provider, batch, now_ms, &counts,
		&broken, err))
		return broken ? INGEST_UNAVAILABLE : INGEST_FAILED;
	count_committed(&counts, result);
	return INGEST_COMMITTED;
}
/* Writes batch to the spool after a failed commit; false if it cannot. */
static bool
spool_instead(struct ingest *ing, int64_t account_id, const char *provider,
    int64_t now_ms, const struct event_batch *batch,
    struct ingest_result *result)
{
	struct err spool_err = { 0 };

	if (ing->spool == NULL)
		return false;
	if (!spool_append(
		ing->spool, account_id, provider, now_ms, batch, &spool_err)) {
		log_kv(LOG_ERROR, "could not spool a request", "reason",
		    spool_err.message, NULL);
		return false;
	}
	result->accepted = 0;
	result->duplicates = 0;
	result->spooled = true;
	return true;
}

/*
 * The group's answer for one write, on the committer thread: counts, or
 * the spool when the transaction did not commit, then the caller's done.
 */
static void
write_settled(struct group_job *job)
{
	struct ingest_write *write = job->done_arg;
	struct store_write_counts counts;
	bool broken;

	/* A COMMIT whose answer was lost may have landed after all; the
	 * loader's replay then counts as duplicates. */
	if (group_job_result(job, &counts, &broken, &write->err)) {
		count_committed(&counts, &write->result);
		write->ok = true;
	} else {
		write->ok = spool_instead(write->ing, write->account_id,
		    write->provider, job->now_ms, write->batch, &write->result);
	}
	if (write->ok)
		metrics_add(METRIC_EVENTS_IGNORED, write->batch->ignored);
	write->done(write);
}

void
ingest_write_submit(struct ingest *ing, struct ingest_write *write)
{
	write->ing = ing;
	write->ok = false;
	memset(&write->result, 0, sizeof(write->result));
	err_clear(&write->err);
	write->result.ignored = write->batch->ignored;
	prepare_events(ing, write->batch);
	memset(&write->job, 0, sizeof(write->job));
	write->job.account_id = write->account_id;
	write->job.batch.provider = write->provider;
	write->job.batch.batch = write->batch;
	/* the request's arrival; the group uses its newest member's */
	write->job.now_ms = time_now_ms();
	write->job.done = write_settled;
	write->job.done_arg = write;
	group_submit(&write->job);
}

enum spool_load
ingest_load_spooled(void *ctx, const struct spool_record *rec, struct err *err)
{
	struct ingest *ing = ctx;
	struct ingest_result result;

	if (ing->schema_ready != NULL && !atomic_load(ing->schema_ready)) {
		err_set(err, 503, "not_ready", "the schema is not current yet");
		return SPOOL_LOAD_UNAVAILABLE;
	}
	memset(&result, 0, sizeof(result));
	switch (ingest_commit(ing, rec->account_id, rec->provider, &rec->batch,
	    rec->received_ms, &result, err)) {
	case INGEST_COMMITTED:
		return SPOOL_LOAD_OK;
	case INGEST_UNAVAILABLE:
		return SPOOL_LOAD_UNAVAILABLE;
	case INGEST_FAILED:
		return SPOOL_LOAD_FAILED;
	}
	abort();
}
