/*
 * metrics.c - process-wide counters, gauges and per-route request metrics,
 * rendered in the Prometheus text format (see include/core/metrics.h).
 *
 * Recording never takes a lock once a series exists: the route and series
 * tables only grow, each slot is filled before the published count is
 * raised (release), and readers scan up to the count they loaded (acquire).
 * The mutex serialises only the insertion of a new route or series.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/metrics.h"
#include "core/xmalloc.h"

/* Upper bounds of the latency buckets, in microseconds; +Inf follows. */
static const int64_t metrics_bucket_us[] = { 500, 1000, 2500, 5000, 10000,
	25000, 50000, 100000, 250000, 500000, 1000000, 2500000 };
#define METRICS_BUCKETS                                                        \
	(sizeof(metrics_bucket_us) / sizeof(metrics_bucket_us[0]) + 1)

/*
 * Every (method, route, status) seen.  Methods are folded to a short known
 * list and statuses to 100..599, so 32 routes fit comfortably.
 */
#define METRICS_MAX_SERIES 1024
#define METRICS_ROUTE_LEN 96
/* Requests of routes past METRICS_MAX_ROUTES are counted under this one. */
#define METRICS_OTHER_ROUTE "other"

struct metrics_route {
	char name[METRICS_ROUTE_LEN];
	_Atomic uint64_t buckets[METRICS_BUCKETS]; /* not cumulative */
	_Atomic uint64_t sum_us;
};

struct metrics_series {
	const char *method; /* one of metrics_methods */
	int route;          /* index into metrics_routes */
	int status;
	_Atomic uint64_t count;
};

static const char *const metrics_methods[] = { "GET", "HEAD", "POST", "PUT",
	"DELETE", "PATCH", "OPTIONS", "other" };

static const struct {
	const char *name;
	const char *help;
} metrics_counter_info[METRIC_COUNTER_COUNT] = {
	[METRIC_EVENTS_ACCEPTED] = { "engagementd_events_accepted_total",
	    "Events stored or spooled for the first time." },
	[METRIC_EVENTS_DUPLICATE] = { "engagementd_events_duplicate_total",
	    "Events already stored under the same event id." },
	[METRIC_EVENTS_REJECTED] = { "engagementd_events_rejected_total",
	    "Events refused as invalid." },
	[METRIC_EVENTS_IGNORED] = { "engagementd_events_ignored_total",
	    "Sender notifications that carry no engagement event." },
	[METRIC_DB_ERRORS] = { "engagementd_db_errors_total",
	    "Database operations that failed." },
	[METRIC_SPOOLED_REQUESTS] = { "engagementd_spool_requests_total",
	    "Requests written to the local spool." },
	[METRIC_SPOOL_LOADED] = { "engagementd_spool_loaded_total",
	    "Spooled requests loaded into the database." },
	[METRIC_WEBHOOK_AUTH_FAILURES] = { "engagementd_webhook_auth_failures_total",
	    "Webhook calls refused for a bad or missing signature." },
	[METRIC_SUMMARIES_ADVANCED] = { "engagementd_summaries_advanced_total",
	    "Contact summaries a merge advanced by its changed messages alone." },
	[METRIC_SUMMARIES_RECOMPUTED] = { "engagementd_summaries_recomputed_total",
	    "Contact summaries a merge recomputed from all their messages." },
	[METRIC_CACHE_HITS] = { "engagementd_scorecache_hits_total",
	    "Scorecard reads answered from the cache." },
	[METRIC_CACHE_MISSES] = { "engagementd_scorecache_misses_total",
	    "Scorecard reads the cache could not answer." },
	[METRIC_CACHE_INVALIDATIONS] = { "engagementd_scorecache_invalidations_total",
	    "Cached scorecards removed because a write changed them." },
	[METRIC_CACHE_EVICTIONS] = { "engagementd_scorecache_evictions_total",
	    "Cached scorecards removed to stay within the size limit." },
	[METRIC_CACHE_LISTENER_CONNECTS] = { "engagementd_scorecache_listener_connects_total",
	    "Times the cache started listening for other processes' writes." },
};

static const struct {
	const char *name;
	const char *help;
} metrics_gauge_info[GAUGE_COUNT] = {
	[GAUGE_SPOOL_BYTES] = { "engagementd_spool_bytes",
	    "Bytes waiting in the local spool." },
	[GAUGE_SPOOL_OLDEST_AGE_S] = { "engagementd_spool_oldest_age_seconds",
	    "Age of the oldest spooled request." },
	[GAUGE_DB_UP] = { "engagementd_db_up",
	    "1 when the database answered the last check, else 0." },
	[GAUGE_CACHE_ACTIVE] = { "engagementd_scorecache_active",
	    "1 while the scorecard cache answers reads, else 0." },
};

static _Atomic uint64_t metrics_counters[METRIC_COUNTER_COUNT];
static _Atomic int64_t metrics_gauges[GAUGE_COUNT];

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_route metrics_routes[METRICS_MAX_ROUTES];
static _Atomic int metrics_route_count;
static struct metrics_series metrics_series[METRICS_MAX_SERIES];
static _Atomic int metrics_series_count;
static _Atomic uint64_t metrics_series_dropped;

void
metrics_add(enum metrics_counter counter, uint64_t delta)
{
	if ((int)counter < 0 || counter >= METRIC_COUNTER_COUNT)
		return;
	atomic_fetch_add_explicit(
	    &metrics_counters[counter], delta, memory_order_relaxed);
}

void
metrics_gauge_set(enum metrics_gauge gauge, int64_t value)
{
	if ((int)gauge < 0 || gauge >= GAUGE_COUNT)
		return;
	atomic_store_explicit(
	    &metrics_gauges[gauge], value, memory_order_relaxed);
}

int64_t
metrics_gauge_get(enum metrics_gauge gauge)
{
	if ((int)gauge < 0 || gauge >= GAUGE_COUNT)
		return 0;
	return atomic_load_explicit(
	    &metrics_gauges[gauge], memory_order_relaxed);
}

/* ---- route and series lookup ---- */

static const char *
method_fold(const char *method)
{
	size_t n = sizeof(metrics_methods) / sizeof(metrics_methods[0]);

	for (size_t i = 0; method != NULL && i < n - 1; i++) {
		if (strcmp(method, metrics_methods[i]) == 0)
			return metrics_methods[i];
	}
	return metrics_methods[n - 1];
}

static int
route_scan(const char *name, int count)
{
	for (int i = 0; i < count; i++) {
		if (strcmp(metrics_routes[i].name, name) == 0)
			return i;
	}
	return -1;
}

/*
 * Index of route's slot, added on first use.  The last slot is kept for
 * METRICS_OTHER_ROUTE so that an unexpected flood of route names still
 * counts every request somewhere.
 */
static int
route_index(const char *route)
{
	char name[METRICS_ROUTE_LEN];
	int count =
	    atomic_load_explicit(&metrics_route_count, memory_order_acquire);
	int idx;

	snprintf(name, sizeof(name), "%s", route != NULL ? route : "");
	idx = route_scan(name, count);
	if (idx >= 0)
		return idx;

	pthread_mutex_lock(&metrics_lock);
	count =
	    atomic_load_explicit(&metrics_route_count, memory_order_relaxed);
	idx = route_scan(name, count);
	if (idx < 0 && count >= METRICS_MAX_ROUTES - 1) {
		snprintf(name, sizeof(name), "%s", METRICS_OTHER_ROUTE);
		idx = route_scan(name, count);
	}
	if (idx < 0) {
		idx = count;
		memcpy(metrics_routes[idx].name, name, sizeof(name));
		atomic_store_explicit(
		    &metrics_route_count, count + 1, memory_order_release);
	}
	pthread_mutex_unlock(&metrics_lock);
	return idx;
}

static int
series_scan(const char *method, int route, int status, int count)
{
	for (int i = 0; i < count; i++) {
		const struct metrics_series *s = &metrics_series[i];

		if (s->route == route && s->status == status &&
		    s->method == method)
			return i;
	}
	return -1;
}

/* Index of the series, added on first use; -1 when the table is full. */
static int
series_index(const char *method, int route, int status)
{
	int count =
	    atomic_load_explicit(&metrics_series_count, memory_order_acquire);
	int idx = series_scan(method, route, status, count);

	if (idx >= 0)
		return idx;

	pthread_mutex_lock(&metrics_lock);
	count =
	    atomic_load_explicit(&metrics_series_count, memory_order_relaxed);
	idx = series_scan(method, route, status, count);
	if (idx < 0 && count < METRICS_MAX_SERIES) {
		idx = count;
		metrics_series[idx].method = method;
		metrics_series[idx].route = route;
		metrics_series[idx].status = status;
		atomic_store_explicit(
		    &metrics_series_count, count + 1, memory_order_release);
	}
	pthread_mutex_unlock(&metrics_lock);
	return idx;
}

void
metrics_request(
    const char *method, const char *route, int status, int64_t duration_us)
{
	int r = route_index(route);
	int s;
	size_t bucket = 0;

	if (status < 100 || status > 599)
		status = 0;
	s = series_index(method_fold(method), r, status);
	if (s >= 0)
		atomic_fetch_add_explicit(
		    &metrics_series[s].count, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(
		    &metrics_series_dropped, 1, memory_order_relaxed);

	if (duration_us < 0)
		duration_us = 0;
	while (bucket < METRICS_BUCKETS - 1 &&
	       duration_us > metrics_bucket_us[bucket])
		bucket++;
	atomic_fetch_add_explicit(
	    &metrics_routes[r].buckets[bucket], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&metrics_routes[r].sum_us,
	    (uint64_t)duration_us, memory_order_relaxed);
}

/* ---- rendering ---- */

struct metrics_buf {
	char *data;
	size_t len;
	size_t cap;
};

static void buf_printf(struct metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
buf_printf(struct metrics_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (n > 0 ? (size_t)n : 0);
		b->data = xrealloc(b->data, b->cap);
	}
}

/* Writes a label value with the escapes the text format requires. */
static void
buf_label_value(struct metrics_buf *b, const char *value)
{
	for (const char *p = value; *p; p++) {
		if (*p == '\\')
			buf_printf(b, "\\\\");
		else if (*p == '"')
			buf_printf(b, "\\\"");
		else if (*p == '\n')
			buf_printf(b, "\\n");
		else
			buf_printf(b, "%c", *p);
	}
}

static void
render_requests(struct metrics_buf *b)
{
	int count =
	    atomic_load_explicit(&metrics_series_count, memory_order_acquire);

	buf_printf(b, "# HELP engagementd_http_requests_total HTTP requests "
		      "answered, by method, route template and status.\n"
		      "# TYPE engagementd_http_requests_total counter\n");
	for (int i = 0; i < count; i++) {
		const struct metrics_series *s = &metrics_series[i];

		buf_printf(b,
		    "engagementd_http_requests_total{method=\"%s\","
		    "route=\"",
		    s->method);
		buf_label_value(b, metrics_routes[s->route].name);
		buf_printf(b, "\",status=\"%d\"} %llu\n", s->status,
		    (unsigned long long)atomic_load_explicit(
			&s->count, memory_order_relaxed));
	}
	buf_printf(b,
	    "# HELP engagementd_metrics_series_dropped_total "
	    "Requests not counted by series because the table was "
	    "full.\n"
	    "# TYPE engagementd_metrics_series_dropped_total counter\n"
	    "engagementd_metrics_series_dropped_total %llu\n",
	    (unsigned long long)atomic_load(&metrics_series_dropped));
}

static void
render_route_histogram(struct metrics_buf *b, const struct metrics_route *r)
{
	uint64_t cumulative = 0;

	for (size_t i = 0; i < METRICS_BUCKETS; i++) {
		cumulative +=
		    atomic_load_explicit(&r->buckets[i], memory_order_relaxed);
		buf_printf(b, "engagementd_http_request_duration_seconds_bucket"
			      "{route=\"");
		buf_label_value(b, r->name);
		if (i < METRICS_BUCKETS - 1)
			buf_printf(b, "\",le=\"%g\"} %llu\n",
			    (double)metrics_bucket_us[i] / 1e6,
			    (unsigned long long)cumulative);
		else
			buf_printf(b, "\",le=\"+Inf\"} %llu\n",
			    (unsigned long long)cumulative);
	}
	/* _count is the +Inf bucket so the two always agree. */
	buf_printf(b, "engagementd_http_request_duration_seconds_sum{route=\"");
	buf_label_value(b, r->name);
	buf_printf(b, "\"} %.6f\n",
	    (double)atomic_load_explicit(&r->sum_us, memory_order_relaxed) /
		1e6);
	buf_printf(
	    b, "engagementd_http_request_duration_seconds_count{route=\"");
	buf_label_value(b, r->name);
	buf_printf(b, "\"} %llu\n", (unsigned long long)cumulative);
}

static void
render_durations(struct metrics_buf *b)
{
	int count =
	    atomic_load_explicit(&metrics_route_count, memory_order_acquire);

	buf_printf(b, "# HELP engagementd_http_request_duration_seconds Time "
		      "to answer an HTTP request, by route template.\n"
		      "# TYPE engagementd_http_request_duration_seconds "
		      "histogram\n");
	for (int i = 0; i < count; i++)
		render_route_histogram(b, &metrics_routes[i]);
}

char *
metrics_render(void)
{
	struct metrics_buf b = { xmalloc(4096), 0, 4096 };

	render_requests(&b);
	render_durations(&b);
	for (int i = 0; i < METRIC_COUNTER_COUNT; i++) {
		buf_printf(&b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
		    metrics_counter_info[i].name, metrics_counter_info[i].help,
		    metrics_counter_info[i].name, metrics_counter_info[i].name,
		    (unsigned long long)atomic_load_explicit(
			&metrics_counters[i], memory_order_relaxed));
	}
	for (int i = 0; i < GAUGE_COUNT; i++) {
		buf_printf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n",
		    metrics_gauge_info[i].name, metrics_gauge_info[i].help,
		    metrics_gauge_info[i].name, metrics_gauge_info[i].name,
		    (long long)atomic_load_explicit(
			&metrics_gauges[i], memory_order_relaxed));
	}
	return b.data;
}
