/*
 * events.h - the write path's SQL: stage a batch, merge it into events,
 * messages and contact summaries, all inside the caller's transaction.
 *
 * The merge is set-based and works by increment: only the events a merge
 * actually stored are aggregated, and combined with the stored message
 * rows and contact summaries.  A message one of whose stored events
 * changed verdict is rebuilt from all its events, and a contact whose
 * change is not an append at the end of its message sequence (a late
 * event of an older message, a verdict flip) gets its summary recomputed
 * from all its messages, so duplicates, late and out-of-order events all
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

/*
 * The end of a contact's observable message sequence (sql/004): the
 * ordering key (order_at, message_id, the id compared byte by byte) of
 * its newest observable message, or a key above every observable one
 * once that message stopped being observable.  NONE: no observable
 * message yet; UNKNOWN: not recorded (longer id than kept here, or a row
 * from before the column), so the next change recomputes.
 */
enum store_tail { STORE_TAIL_NONE = 0, STORE_TAIL_SET, STORE_TAIL_UNKNOWN };
#define STORE_TAIL_ID_MAX 255

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
	enum store_tail tail;
	int64_t tail_order_us; /* order_at in microseconds since 1970 */
	char tail_message_id[STORE_TAIL_ID_MAX + 1];
};

/* What the summaries need of one message row. */
struct store_message_state {
	int64_t order_us; /* order_at in microseconds since 1970 */
	bool observable;
	bool opened;
	bool delivered;
	bool clicked;
	int machine_opens;
	int scanner_clicks;
};

/* One message a merge changed: before (all false for a new message) and
 * after. */
struct store_message_change {
	int64_t contact_pk;
	const char *message_id;
	bool recomputed; /* rebuilt: a stored event of it changed verdict */
	struct store_message_state before, after;
	int64_t opened_ms;  /* its latest human open or click; -1: none */
	int64_t clicked_ms; /* its latest human click; -1: none */
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

/*
 * Advances t (one contact's stored summary) by the changes of its
 * messages, sorted by their new ordering key.  Returns false, leaving t
 * as it was, when the changes are not the fast case (new messages after
 * the tail, the newest observable message changing in place or leaving
 * the sequence unopened): the caller then recomputes the contact from all
 * its messages.  The status flags are not touched here.
 */
bool store_summary_advance(struct store_touched *t,
    const struct store_message_change *changes, size_t count);

/* Parses the contacts.history text into summary->history. */
void store_history_parse(const char *text, struct model_summary *summary);

#endif
