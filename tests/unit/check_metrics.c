/*
 * check_metrics.c - unit tests of the metrics registry: counters, gauges,
 * request series, the latency histogram, the route limit, counting from
 * many threads, and the Prometheus text that /metrics serves.
 *
 * The registry is process-wide, so tests compare values before and after
 * what they record and use route names no other test uses.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"

/*
 * Value of the sample whose line starts with series (name and labels, no
 * trailing space) in text; -1 when absent.
 */
static double
sample_value(const char *text, const char *series)
{
	size_t len = strlen(series);
	const char *line = text;

	while (line != NULL && *line != '\0') {
		if (strncmp(line, series, len) == 0 && line[len] == ' ')
			return strtod(line + len + 1, NULL);
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	return -1;
}

static double
current(const char *series)
{
	char *text = metrics_render();
	double v = sample_value(text, series);

	free(text);
	return v;
}

START_TEST(test_counters)
{
	static const struct {
		enum metrics_counter counter;
		const char *name;
	} names[] = {
		{ METRIC_EVENTS_ACCEPTED, "engagementd_events_accepted_total" },
		{ METRIC_EVENTS_DUPLICATE,
		    "engagementd_events_duplicate_total" },
		{ METRIC_EVENTS_REJECTED, "engagementd_events_rejected_total" },
		{ METRIC_EVENTS_IGNORED, "engagementd_events_ignored_total" },
		{ METRIC_DB_ERRORS, "engagementd_db_errors_total" },
		{ METRIC_SPOOLED_REQUESTS, "engagementd_spool_requests_total" },
		{ METRIC_SPOOL_LOADED, "engagementd_spool_loaded_total" },
		{ METRIC_WEBHOOK_AUTH_FAILURES,
		    "engagementd_webhook_auth_failures_total" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		double before = current(names[i].name);

		ck_assert_double_ge(before, 0);
		metrics_add(names[i].counter, i + 1);
		metrics_add(names[i].counter, 10);
		ck_assert_double_eq(current(names[i].name), before + i + 11);
	}
	/* Out-of-range counters are ignored rather than corrupting memory. */
	metrics_add(METRIC_COUNTER_COUNT, 1);
}
END_TEST

START_TEST(test_gauges)
{
	metrics_gauge_set(GAUGE_DB_UP, 1);
	metrics_gauge_set(GAUGE_SPOOL_BYTES, 123456789012LL);
	metrics_gauge_set(GAUGE_SPOOL_OLDEST_AGE_S, 42);
	ck_assert_int_eq(metrics_gauge_get(GAUGE_DB_UP), 1);
	ck_assert_int_eq(metrics_gauge_get(GAUGE_SPOOL_BYTES), 123456789012LL);
	ck_assert_double_eq(current("engagementd_db_up"), 1);
	ck_assert_double_eq(current("engagementd_spool_bytes"), 123456789012.0);
	ck_assert_double_eq(
	    current("engagementd_spool_oldest_age_seconds"), 42);
	metrics_gauge_set(GAUGE_DB_UP, 0);
	ck_assert_double_eq(current("engagementd_db_up"), 0);
	ck_assert_int_eq(metrics_gauge_get(GAUGE_COUNT), 0);
}
END_TEST

START_TEST(test_request_series)
{
	char *text;

	metrics_request("GET", "/v1/test/series", 200, 100);
	metrics_request("GET", "/v1/test/series", 200, 100);
	metrics_request("GET", "/v1/test/series", 200, 100);
	metrics_request("GET", "/v1/test/series", 404, 100);
	metrics_request("POST", "/v1/test/series", 202, 100);
	metrics_request("BREW", "/v1/test/series", 418, 100);
	metrics_request(NULL, "/v1/test/series", 999, 100);

	text = metrics_render();
	ck_assert_double_eq(
	    sample_value(text, "engagementd_http_requests_total{method=\"GET\","
			       "route=\"/v1/test/series\",status=\"200\"}"),
	    3);
	ck_assert_double_eq(
	    sample_value(text, "engagementd_http_requests_total{method=\"GET\","
			       "route=\"/v1/test/series\",status=\"404\"}"),
	    1);
	ck_assert_double_eq(
	    sample_value(text,
		"engagementd_http_requests_total{method=\"POST\","
		"route=\"/v1/test/series\",status=\"202\"}"),
	    1);
	/* Unknown methods fold into "other"; impossible statuses into 0. */
	ck_assert_double_eq(
	    sample_value(text, "engagementd_http_requests_total{method="
			       "\"other\",route=\"/v1/test/series\","
			       "status=\"418\"}"),
	    1);
	ck_assert_double_eq(
	    sample_value(text, "engagementd_http_requests_total{method="
			       "\"other\",route=\"/v1/test/series\","
			       "status=\"0\"}"),
	    1);
	ck_assert_ptr_null(strstr(text, "BREW"));
	free(text);
}
END_TEST

START_TEST(test_histogram)
{
	static const struct {
		const char *le;
		double count;
	} want[] = {
		{ "0.0005", 2 },
		{ "0.001", 2 },
		{ "0.0025", 3 },
		{ "0.005", 3 },
		{ "0.01", 3 },
		{ "0.025", 3 },
		{ "0.05", 3 },
		{ "0.1", 4 },
		{ "0.25", 4 },
		{ "0.5", 4 },
		{ "1", 4 },
		{ "2.5", 4 },
		{ "+Inf", 5 },
	};
	char *text;
	char series[200];

	metrics_request("GET", "/v1/test/histogram", 200, 500); /* on a bound */
	metrics_request("GET", "/v1/test/histogram", 200, -7);  /* clamped */
	metrics_request("GET", "/v1/test/histogram", 200, 2000);
	metrics_request("GET", "/v1/test/histogram", 500, 100000);
	metrics_request("GET", "/v1/test/histogram", 200, 3000000);

	text = metrics_render();
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		snprintf(series, sizeof(series),
		    "engagementd_http_request_duration_seconds_bucket{route="
		    "\"/v1/test/histogram\",le=\"%s\"}",
		    want[i].le);
		ck_assert_msg(sample_value(text, series) == want[i].count,
		    "%s is %g, want %g", series, sample_value(text, series),
		    want[i].count);
	}
	ck_assert_double_eq(
	    sample_value(text, "engagementd_http_request_duration_seconds_count"
			       "{route=\"/v1/test/histogram\"}"),
	    5);
	ck_assert_double_eq_tol(
	    sample_value(text, "engagementd_http_request_duration_seconds_"
			       "sum{route=\"/v1/test/histogram\"}"),
	    3.1025, 1e-9);
	ck_assert_ptr_nonnull(strstr(text,
	    "engagementd_http_request_duration_seconds_sum{route=\"/v1/test/"
	    "histogram\"} 3.102500\n"));
	free(text);
}
END_TEST

START_TEST(test_label_escaping)
{
	char *text;

	metrics_request("GET", "/v1/odd\"route\\\n", 200, 10);
	text = metrics_render();
	ck_assert_ptr_nonnull(strstr(text,
	    "{method=\"GET\",route=\"/v1/odd\\\"route\\\\\\n\",status=\"200\"} "));
	free(text);
}
END_TEST

static int
count_routes(const char *text)
{
	const char *p = text;
	int n = 0;

	while ((p = strstr(p, "engagementd_http_request_duration_seconds_count"
			      "{route=")) != NULL) {
		n++;
		p++;
	}
	return n;
}

START_TEST(test_route_limit)
{
	char route[64];
	char *text;

	for (int i = 0; i < METRICS_MAX_ROUTES + 8; i++) {
		snprintf(route, sizeof(route), "/v1/test/limit/%d", i);
		metrics_request("GET", route, 200, 10);
	}
	text = metrics_render();
	ck_assert_int_eq(count_routes(text), METRICS_MAX_ROUTES);
	/* Every request is still counted, the extra routes as "other". */
	ck_assert_double_ge(
	    sample_value(text, "engagementd_http_request_duration_seconds_count"
			       "{route=\"other\"}"),
	    8);
	ck_assert_ptr_null(strstr(text, "/v1/test/limit/39\""));
	free(text);
}
END_TEST

#define WORKERS 4
#define ROUNDS 20000

static void *
count_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		metrics_request("POST", "/v1/test/threads", 202, i % 2000);
		metrics_request("POST",
		    i % 2 ? "/v1/test/threads-a" : "/v1/test/threads-b",
		    200 + i % 3, 10);
		metrics_add(METRIC_EVENTS_IGNORED, 1);
	}
	return NULL;
}

START_TEST(test_threads)
{
	pthread_t threads[WORKERS];
	double ignored = current("engagementd_events_ignored_total");
	char *text;
	double total = 0;

	for (int t = 0; t < WORKERS; t++)
		pthread_create(&threads[t], NULL, count_worker, NULL);
	for (int t = 0; t < WORKERS; t++)
		pthread_join(threads[t], NULL);

	text = metrics_render();
	ck_assert_double_eq(
	    sample_value(text,
		"engagementd_http_requests_total{method=\"POST\","
		"route=\"/v1/test/threads\",status=\"202\"}"),
	    WORKERS * ROUNDS);
	ck_assert_double_eq(
	    sample_value(text, "engagementd_http_request_duration_seconds_count"
			       "{route=\"/v1/test/threads\"}"),
	    WORKERS * ROUNDS);
	for (int s = 200; s < 203; s++) {
		char series[160];

		snprintf(series, sizeof(series),
		    "engagementd_http_requests_total{method=\"POST\",route="
		    "\"/v1/test/threads-a\",status=\"%d\"}",
		    s);
		total += sample_value(text, series);
		snprintf(series, sizeof(series),
		    "engagementd_http_requests_total{method=\"POST\",route="
		    "\"/v1/test/threads-b\",status=\"%d\"}",
		    s);
		total += sample_value(text, series);
	}
	ck_assert_double_eq(total, WORKERS * ROUNDS);
	ck_assert_double_eq(
	    sample_value(text, "engagementd_events_ignored_total"),
	    ignored + WORKERS * ROUNDS);
	free(text);
}
END_TEST

START_TEST(test_render_format)
{
	static const char *const families[][2] = {
		{ "engagementd_http_requests_total", "counter" },
		{ "engagementd_http_request_duration_seconds", "histogram" },
		{ "engagementd_events_accepted_total", "counter" },
		{ "engagementd_events_duplicate_total", "counter" },
		{ "engagementd_events_rejected_total", "counter" },
		{ "engagementd_events_ignored_total", "counter" },
		{ "engagementd_db_errors_total", "counter" },
		{ "engagementd_spool_requests_total", "counter" },
		{ "engagementd_spool_loaded_total", "counter" },
		{ "engagementd_webhook_auth_failures_total", "counter" },
		{ "engagementd_spool_bytes", "gauge" },
		{ "engagementd_spool_oldest_age_seconds", "gauge" },
		{ "engagementd_db_up", "gauge" },
	};
	char *text;
	char want[200];

	metrics_request("GET", "/healthz", 200, 50);
	text = metrics_render();
	ck_assert_int_eq(text[strlen(text) - 1], '\n');
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		snprintf(want, sizeof(want), "# TYPE %s %s\n", families[i][0],
		    families[i][1]);
		ck_assert_msg(strstr(text, want) != NULL, "missing %s", want);
		snprintf(want, sizeof(want), "# HELP %s ", families[i][0]);
		ck_assert_msg(strstr(text, want) != NULL, "missing %s", want);
	}
	/* Every sample line is "name[{labels}] value" with a numeric value. */
	for (char *line = text; *line != '\0';) {
		char *nl = strchr(line, '\n');
		char *space;
		char *end;

		ck_assert_ptr_nonnull(nl);
		*nl = '\0';
		if (line[0] != '#') {
			ck_assert_msg(
			    strncmp(line, "engagementd_", 12) == 0, "%s", line);
			space = strrchr(line, ' ');
			ck_assert_ptr_nonnull(space);
			strtod(space + 1, &end);
			ck_assert_msg(*end == '\0' && end != space + 1,
			    "bad value in \"%s\"", line);
		}
		line = nl + 1;
	}
	free(text);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc;

	tc = tcase_create("values");
	tcase_add_test(tc, test_counters);
	tcase_add_test(tc, test_gauges);
	suite_add_tcase(s, tc);

	tc = tcase_create("requests");
	tcase_add_test(tc, test_request_series);
	tcase_add_test(tc, test_histogram);
	tcase_add_test(tc, test_label_escaping);
	tcase_add_test(tc, test_threads);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("render");
	tcase_add_test(tc, test_render_format);
	suite_add_tcase(s, tc);

	/* Last: it fills the route table, even when tests do not fork. */
	tc = tcase_create("limits");
	tcase_add_test(tc, test_route_limit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
