/*
 * ingest.h - the write path below the API: validate and decide verdicts,
 * then commit the whole batch in one transaction before anyone answers 2xx.
 */
#ifndef ENGAGEMENTD_INGEST_INGEST_H
#define ENGAGEMENTD_INGEST_INGEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "ingest/event.h"
#include "ingest/verdict.h"
#include "model/model.h"

struct db_pool;

struct ingest {
	struct db_pool *pool;
	struct verdict_rules rules;
	struct model_thresholds thresholds;
	bool store_ip;
	bool truncate_ip;
	size_t max_batch_events;
};

struct ingest_result {
	size_t accepted;   /* stored now */
	size_t duplicates; /* already stored */
	size_t ignored;    /* well-formed but of a kind not kept */
	bool spooled;      /* written to the local spool, not yet to the
			    * database; accepted and duplicates are then 0 */
};

/*
 * Writes batch for account in one transaction: verdicts, contacts,
 * events, messages, summaries and bands.  Returns false with err set (503
 * database_unavailable) when the database could not commit; nothing of the
 * batch is then kept.
 */
bool ingest_write(struct ingest *ing, int64_t account_id,
    const char *provider, struct event_batch *batch,
    struct ingest_result *result, struct err *err) MUST_CHECK;

/* One event of a native batch that failed validation. */
struct ingest_rejection {
	size_t index;
	char error[160];
};

/*
 * Parses a native body (one event object or an array of them).  Valid
 * events go to batch; invalid ones to *rejected (caller frees).  Returns
 * false with err set (400) when the body as a whole is not acceptable:
 * not JSON, not an object or array, empty, or over max_events.
 */
bool ingest_parse_native(const char *body, size_t len, size_t max_events,
    struct event_batch *batch, struct ingest_rejection **rejected,
    size_t *rejected_count, struct err *err) MUST_CHECK;

/*
 * Checks one normalised event the way every source must satisfy:
 * identity, message, plausible time, lengths.  Returns false with a
 * reason in buf.
 */
bool ingest_validate(const struct event *ev, char *buf, size_t buflen);

#endif
