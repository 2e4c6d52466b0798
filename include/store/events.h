/*
 * events.h - the write path's SQL: stage a batch, merge it into events,
 * messages and contact summaries, all inside the caller's transaction.
 *
 * The merge is set-based and recomputes each touched message and contact
 * from the stored events, so duplicates, late and out-of-order events all
 * end in the same state as one clean, ordered delivery would.
 */
#ifndef ENGAGEMENTD_STORE_EVENTS_H
#define ENGAGEMENTD_STORE_EVENTS_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "ingest/event.h"
#include "model/model.h"

struct store_write_counts {
	size_t stored;     /* new event rows */
	size_t duplicates; /* events already stored (or twice in the batch) */
	size_t erased;     /* events for erased contacts, dropped on purpose */
};

/* One contact touched by a write, with what the model needs. */
struct store_touched {
	int64_t contact_pk;
	struct model_summary summary;
	/* the insight counts, written back with the scores */
	int delivered;
	int machine_opens;
	int scanner_clicks;
	int64_t last_open_ms;  /* -1: never */
	int64_t last_click_ms; /* -1: never */
	bool hard_bounced;
	bool unsubscribed;
	bool complained;
};

/* The scanner rules that need the stored events of a message. */
struct store_scanner {
	int window_s;       /* click this soon after delivery */
	int burst_links;    /* distinct links clicked within ... (0: off) */
	int burst_window_s; /* ... this many seconds of each other */
};

/* One request's batch within a group merged in one transaction. */
struct store_batch {
	const char *provider;
	const struct event_batch *batch;
	struct store_write_counts counts; /* filled by the merge */
};

/*
 * Merges several requests' batches of one account in one set of
 * statements (group commit); each batch's counts say what of it was new,
 * duplicate or erased, a key carried by two batches being credited to the
 * first.  Must run inside BEGIN ... COMMIT on conn.  On success fills the
 * counts and *touched (an array of *touched_count contacts, caller frees).
 */
bool store_events_merge_many(PGconn *conn, int64_t account_id,
    struct store_batch *batches, size_t nbatches,
    const struct store_scanner *scanner, int64_t now_ms,
    struct store_touched **touched, size_t *touched_count,
    struct err *err) MUST_CHECK;

/*
 * Writes each touched contact's new summary (as the merge computed it) and
 * its scores in one statement: the merge itself leaves contact rows alone.
 */
bool store_contacts_write(PGconn *conn, int64_t account_id,
    const struct store_touched *touched, const struct model_score *scores,
    size_t count, int64_t now_ms, struct err *err) MUST_CHECK;

/*
 * Stores each contact's scorecard numbers (band, score, rates, codes), so
 * a read needs no model arithmetic.  Parallel arrays of count entries.
 */
bool store_scores_update(PGconn *conn, int64_t account_id,
    const int64_t *contact_pks, const struct model_score *scores, size_t count,
    struct err *err) MUST_CHECK;

/* Parses the contacts.history text into summary->history. */
void store_history_parse(const char *text, struct model_summary *summary);

#endif
