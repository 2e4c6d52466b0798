/*
 * verdict.h - who produced an open or a click: a person, a privacy proxy
 * that fetches every image (Apple Mail Privacy Protection and the like), or
 * a security gateway that follows every link.
 *
 * The part decided from the event alone lives here; the part that needs the
 * message's delivery time (a click within seconds of delivery) is applied
 * by the store in the ingest transaction, where that time is known whatever
 * order the events arrive in.
 */
#ifndef ENGAGEMENTD_INGEST_VERDICT_H
#define ENGAGEMENTD_INGEST_VERDICT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "ingest/event.h"

#define VERDICT_MAX_CIDRS 16
#define VERDICT_MAX_AGENTS 32

/* An address range; IPv4 is held as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
struct verdict_range {
	unsigned char prefix[16];
	int bits;
};

struct verdict_rules {
	/* ranges of image proxies that prefetch at delivery */
	struct verdict_range ranges[VERDICT_MAX_CIDRS];
	int cidr_count;
	/* lower-case user-agent fragments of known link scanners */
	char *scanner_agents[VERDICT_MAX_AGENTS];
	int agent_count;
	/* rules that need the message's stored events, applied by the store */
	int scanner_window_s; /* click this soon after delivery */
	int burst_links;      /* distinct links clicked within ... (0: off) */
	int burst_window_s;   /* ... this many seconds */
};

/*
 * Builds rules from comma-separated lists ("17.0.0.0/8", "barracuda,...").
 * Returns false with err set when a range or the lists are malformed.
 */
bool verdict_rules_init(struct verdict_rules *rules, const char *cidrs,
    const char *agents, int scanner_window_s, struct err *err) MUST_CHECK;

void verdict_rules_free(struct verdict_rules *rules);

/* Sets ev->verdict for opens, clicks and unsubscribes; others get NONE. */
void verdict_decide(const struct verdict_rules *rules, struct event *ev);

#endif
