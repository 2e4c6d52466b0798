/*
 * event.h - the normalised engagement event.
 *
 * Every way an event reaches the service (the native API or one of the mail
 * senders' webhooks) ends as a batch of these.  Past this point nothing knows
 * which sender an event came from except the provider name kept for
 * de-duplication and for the record.
 */
#ifndef ENGAGEMENTD_INGEST_EVENT_H
#define ENGAGEMENTD_INGEST_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum event_type {
	EVENT_SENT = 0,
	EVENT_DELIVERED,
	EVENT_OPEN,
	EVENT_CLICK,
	EVENT_BOUNCE,
	EVENT_UNSUBSCRIBE,
	EVENT_COMPLAINT,
	EVENT_TYPE_COUNT
};

enum bounce_kind { BOUNCE_NONE = 0, BOUNCE_HARD, BOUNCE_SOFT };

/*
 * Who produced an open or a click.  Decided at ingest (see verdict.h) and
 * stored with the event; only EVENT_VERDICT_HUMAN and EVENT_VERDICT_UNKNOWN
 * count as engagement.
 */
enum event_verdict {
	VERDICT_NONE = 0, /* not an open or a click */
	VERDICT_HUMAN,
	VERDICT_MACHINE, /* privacy proxy or prefetch: Apple MPP and the like */
	VERDICT_SCANNER, /* security gateway following links */
	VERDICT_UNKNOWN
};

/*
 * Sender signals, kept as bits so adapters can add what they know without
 * deciding anything.  The verdict code weighs them.
 */
#define EVENT_FLAG_SENDER_MACHINE 0x01u /* sender flagged a machine open */
#define EVENT_FLAG_SENDER_BOT 0x02u     /* sender flagged a bot click */
#define EVENT_FLAG_GMAIL_PROXY 0x04u    /* open fetched by Google's proxy */
#define EVENT_FLAG_NO_TRACKING 0x08u    /* sent without open tracking */
#define EVENT_FLAG_FIRST_OPEN 0x10u     /* sender's "initial"/"unique" open */

/*
 * One event.  Every string is owned by the event and freed by event_clear;
 * NULL means absent.
 */
struct event {
	char *event_id; /* idempotency key: sender's id or a composite key */
	enum event_type type;
	char *contact_id;       /* CRM identifier from the sender's metadata */
	char *email;            /* lower-cased recipient address */
	char *message_id;       /* the email this event belongs to */
	char *campaign_id;      /* optional */
	int64_t occurred_at_ms; /* UTC, ms since the epoch */
	char *url;
	char *user_agent;
	char *ip;
	enum bounce_kind bounce;
	unsigned flags; /* EVENT_FLAG_* */
	enum event_verdict verdict;
};

/*
 * A batch as parsed from one request.  items grows with event_batch_push;
 * ignored counts well-formed events of types the service does not use
 * (deferrals, "processed", resubscribes), which are acknowledged but not kept.
 */
struct event_batch {
	struct event *items;
	size_t count;
	size_t capacity;
	size_t ignored;
};

/* Returns a pointer to a new zeroed event at the end of the batch. */
struct event *event_batch_push(struct event_batch *batch);

/* Frees every event and the array; the batch can be reused afterwards. */
void event_batch_clear(struct event_batch *batch);

/* Frees the strings of one event and zeroes it. */
void event_clear(struct event *ev);

/* "open", "click", ...; NULL for an out-of-range value. */
const char *event_type_name(enum event_type type);

/* Parses a contract type name; false when unknown. */
bool event_type_parse(const char *name, enum event_type *out);

/* "human", "machine", "scanner", "unknown" or "none". */
const char *event_verdict_name(enum event_verdict verdict);

/*
 * Lower-cases an e-mail address in place and trims surrounding white space.
 * Returns false when it does not look like local@domain.
 */
bool event_normalize_email(char *email);

#endif
