/*
 * metrics.h - process-wide counters and a latency histogram, exposed in the
 * Prometheus text format at /metrics.
 *
 * Counters are atomics so the request threads never take a lock to count.
 */
#ifndef ENGAGEMENTD_CORE_METRICS_H
#define ENGAGEMENTD_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum metrics_counter {
	METRIC_EVENTS_ACCEPTED = 0,
	METRIC_EVENTS_DUPLICATE,
	METRIC_EVENTS_REJECTED,
	METRIC_EVENTS_IGNORED,
	METRIC_DB_ERRORS,
	METRIC_SPOOLED_REQUESTS,
	METRIC_SPOOL_LOADED,
	METRIC_WEBHOOK_AUTH_FAILURES,
	METRIC_SUMMARIES_ADVANCED,
	METRIC_SUMMARIES_RECOMPUTED,
	METRIC_CACHE_HITS,
	METRIC_CACHE_MISSES,
	METRIC_CACHE_INVALIDATIONS,
	METRIC_CACHE_EVICTIONS,
	METRIC_CACHE_LISTENER_CONNECTS,
	METRIC_COUNTER_COUNT
};

/* Adds delta to a counter. */
void metrics_add(enum metrics_counter counter, uint64_t delta);

/*
 * Records one finished request: route is the path template (at most
 * METRICS_MAX_ROUTES distinct ones are kept; later ones are counted under
 * route "other"), status the HTTP status and duration_us its latency.
 * Methods other than GET, HEAD, POST, PUT, DELETE, PATCH and OPTIONS are
 * counted as "other" and statuses outside 100..599 as 0, so clients cannot
 * grow the series table.
 */
#define METRICS_MAX_ROUTES 32
void metrics_request(
    const char *method, const char *route, int status, int64_t duration_us);

/* Sets a gauge reported as is (spool depth, spool age, pool size...). */
enum metrics_gauge {
	GAUGE_SPOOL_BYTES = 0,
	GAUGE_SPOOL_OLDEST_AGE_S,
	GAUGE_DB_UP,
	GAUGE_CACHE_ACTIVE,
	GAUGE_COUNT
};
void metrics_gauge_set(enum metrics_gauge gauge, int64_t value);
int64_t metrics_gauge_get(enum metrics_gauge gauge);

/* Renders every metric as Prometheus text.  Caller frees. */
char *metrics_render(void);

#endif
