/*
 * group.h - group commit: requests that arrive while a transaction is
 * running wait, and the next transaction takes all of them at once.
 *
 * At most ing->max_groups ingest transactions run their statements at a
 * time (one per core by default).  Under load each carries many requests,
 * so the fixed cost of a transaction (a dozen statements and one WAL
 * flush) is shared.  Every request is still answered
 * only after the transaction holding its events committed.
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
 * account, waiting for it.  counts is filled on success.  Same failure
 * contract as group_commit_many.
 */
bool group_commit(struct ingest *ing, int64_t account_id, const char *provider,
    const struct event_batch *batch, int64_t now_ms,
    struct store_write_counts *counts, bool *broken,
    struct err *err) MUST_CHECK;

#endif
