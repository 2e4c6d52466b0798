/*
 * ingest.h - the write path below the API: validate and decide verdicts,
 * then commit the whole batch in one transaction before anyone answers 2xx.
 */
#ifndef ENGAGEMENTD_INGEST_INGEST_H
#define ENGAGEMENTD_INGEST_INGEST_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "ingest/event.h"
#include "ingest/group.h"
#include "ingest/spool.h"
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
	int max_groups;      /* group transactions running at once (group.h) */
	struct spool *spool; /* NULL: no spool, a failed commit is a 503 */
	/* the loader waits while this is false (schema not migrated yet);
	 * NULL: always ready */
	const atomic_bool *schema_ready;
};

struct ingest_result {
	size_t accepted;   /* stored now */
	size_t duplicates; /* already stored */
	size_t ignored;    /* well-formed but of a kind not kept */
	bool spooled;      /* written to the local spool, not yet to the
			    * database; accepted and duplicates are then 0 */
};

/*
 * One request's write, settled on a committer thread (group.h) so that
 * the thread that parsed the request never waits for PostgreSQL.  The
 * caller fills the first block and keeps the struct (and the batch) alive
 * until done has been called.
 */
struct ingest_write {
	int64_t account_id;
	const char *provider;
	struct event_batch *batch; /* not empty; verdicts decided here */
	/* called once, on a committer thread, when the outcome below is
	 * final; the write (and its batch) may be freed from then on */
	void (*done)(struct ingest_write *write);
	void *done_arg;

	/* ok: result says what was stored or spooled.  !ok: err is set
	 * (503 database_unavailable) and nothing of the batch is kept. */
	bool ok;
	struct ingest_result result;
	struct err err;

	/* the writer's own */
	struct ingest *ing;
	struct group_job job;
};

/*
 * Writes a batch for account in one transaction: verdicts, contacts,
 * events, messages, summaries and bands, shared with the other requests
 * of the moment by group commit.  When the database cannot commit and a
 * spool is configured, the batch (verdicts decided, privacy rules
 * applied) is written to the spool instead, flushed to disk, and the
 * write is ok with result.spooled set; the transaction was rolled back,
 * so nothing of it is in the database.  When neither could take it, the
 * write is not ok.  Returns at once; write->done reports the outcome.
 */
void ingest_write_submit(struct ingest *ing, struct ingest_write *write);

/* How one transaction ended. */
enum ingest_commit_status {
	INGEST_COMMITTED = 0,
	INGEST_UNAVAILABLE, /* no connection, or it broke: try again later */
	INGEST_FAILED       /* the database answered with an error */
};

/*
 * The transaction itself, shared by ingest_write and the spool loader:
 * merges batch (verdicts already decided) for account as of now_ms (the
 * service clock when the request came) and writes the touched contacts'
 * bands, all or nothing.  Events already stored (same provider and event
 * id) count as duplicates, so committing a batch twice stores it once.
 */
enum ingest_commit_status ingest_commit(struct ingest *ing, int64_t account_id,
    const char *provider, const struct event_batch *batch, int64_t now_ms,
    struct ingest_result *result, struct err *err) MUST_CHECK;

/*
 * The spool loader's commit function (a spool_load_fn; ctx is the struct
 * ingest): commits one spooled request through ingest_commit.
 */
enum spool_load ingest_load_spooled(
    void *ctx, const struct spool_record *rec, struct err *err);

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
