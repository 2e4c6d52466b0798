/*
 * check_cache.c - the scorecard cache end to end: a read after an
 * acknowledged event, a PUT, an erasure or a refit shows the write; a
 * second process sharing the database hears of writes through the first;
 * a lost listening connection empties the cache; and the 30-day counts
 * expire with the service clock.
 *
 * A change made with plain SQL tells no process, so it shows whether a
 * read came from the cache (the old value) or from the database.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "harness.h"
#include "store/db.h"
#include "store/scorecache.h"
#include "store/scoresync.h"

#define PINNED "[clock]\npin = 2026-01-01T10:00:00Z\n[spool]\nenabled = false\n"

static char db[1024];
static struct harness_server srv, other;

static void
setup(void)
{
	harness_db_create("scorecache", db, sizeof(db));
	harness_server_start(&srv, db, PINNED);
	memset(&other, 0, sizeof(other));
}

static void
teardown(void)
{
	if (other.pid != 0)
		ck_assert_int_eq(harness_server_stop(&other), 0);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A delivered and an open event of message msg for contact at day. */
static void
post_message(const struct harness_server *s, const char *contact,
    const char *msg, const char *day)
{
	struct harness_reply reply;
	char body[1024];
	long status;

	snprintf(body, sizeof(body),
	    "[{\"event_id\":\"%s-%s-d\",\"type\":\"delivered\","
	    "\"contact_id\":\"%s\",\"message_id\":\"%s\","
	    "\"occurred_at\":\"%sT09:00:00Z\"},"
	    "{\"event_id\":\"%s-%s-o\",\"type\":\"open\",\"contact_id\":\"%s\","
	    "\"message_id\":\"%s\",\"occurred_at\":\"%sT09:30:00Z\","
	    "\"user_agent\":\"Thunderbird\"}]",
	    contact, msg, contact, msg, day, contact, msg, contact, msg, day);
	status = harness_send_json(s, "POST", "/v1/events", body, &reply);
	ck_assert_msg(
	    status == 202, "POST /v1/events: %ld: %s", status, reply.body);
	harness_reply_free(&reply);
}

/* The scorecard of contact through s; NULL after a 404. */
static json_t *
card(const struct harness_server *s, const char *contact)
{
	struct harness_reply reply;
	char path[256];
	long status;
	json_t *j = NULL;

	snprintf(path, sizeof(path), "/v1/contacts/%s/scorecard", contact);
	status = harness_get(s, path, &reply);
	ck_assert_msg(status == 200 || status == 404, "GET %s: %ld: %s", path,
	    status, reply.body);
	if (status == 200)
		j = harness_json_parse(reply.body);
	harness_reply_free(&reply);
	return j;
}

static long
insight(json_t *c, const char *name)
{
	json_t *v = json_object_get(json_object_get(c, "insights"), name);

	ck_assert_msg(json_is_integer(v), "insights.%s is not a number", name);
	return (long)json_integer_value(v);
}

/* insights.name of contact's scorecard through s. */
static long
card_insight(
    const struct harness_server *s, const char *contact, const char *name)
{
	json_t *c = card(s, contact);
	long v;

	ck_assert_msg(c != NULL, "%s is not found", contact);
	v = insight(c, name);
	json_decref(c);
	return v;
}

/* The value of a metric without labels in s's /metrics. */
static long
metric(const struct harness_server *s, const char *name)
{
	struct harness_reply reply;
	size_t len = strlen(name);
	long value = -1;

	ck_assert_int_eq(
	    harness_http(s, "GET", "/metrics", NULL, NULL, 0, &reply), 200);
	for (const char *line = reply.body; line != NULL && *line != '\0';) {
		if (strncmp(line, name, len) == 0 && line[len] == ' ')
			value = strtol(line + len + 1, NULL, 10);
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	harness_reply_free(&reply);
	ck_assert_msg(value >= 0, "no metric %s", name);
	return value;
}

/* Waits until metric name of s is at least want. */
static void
wait_metric(const struct harness_server *s, const char *name, long want)
{
	for (int i = 0; i < 200; i++) {
		if (metric(s, name) >= want)
			return;
		sleep_ms(50);
	}
	ck_abort_msg("%s stayed below %ld", name, want);
}

/* The cache answers nothing until its listener is connected. */
static void
wait_active(const struct harness_server *s)
{
	wait_metric(s, "engagementd_scorecache_active", 1);
}

START_TEST(read_after_event)
{
	long hits;

	post_message(&srv, "c-1", "m1", "2025-12-30");
	wait_active(&srv);
	ck_assert_int_eq(card_insight(&srv, "c-1", "opens_30d"), 1);
	hits = metric(&srv, "engagementd_scorecache_hits_total");
	ck_assert_int_eq(card_insight(&srv, "c-1", "opens_30d"), 1);
	ck_assert_int_eq(
	    metric(&srv, "engagementd_scorecache_hits_total"), hits + 1);

	/* acknowledged, then read at once: the new row, not the cached one */
	post_message(&srv, "c-1", "m2", "2025-12-31");
	ck_assert_int_eq(card_insight(&srv, "c-1", "opens_30d"), 2);
	ck_assert_int_eq(card_insight(&srv, "c-1", "messages_delivered"), 2);
	ck_assert_int_ge(
	    metric(&srv, "engagementd_scorecache_invalidations_total"), 1);
}
END_TEST

START_TEST(batch_read_after_event)
{
	struct harness_reply reply;
	const char *body = "{\"contact_ids\":[\"c-2\",\"nobody\"]}";
	json_t *r;

	post_message(&srv, "c-2", "m1", "2025-12-30");
	wait_active(&srv);
	ck_assert_int_eq(card_insight(&srv, "c-2", "opens_30d"), 1);
	post_message(&srv, "c-2", "m2", "2025-12-31");
	ck_assert_int_eq(
	    harness_send_json(&srv, "POST", "/v1/scorecards", body, &reply),
	    200);
	r = harness_json_parse(reply.body);
	harness_reply_free(&reply);
	ck_assert_int_eq(
	    insight(json_array_get(json_object_get(r, "scorecards"), 0),
		"opens_30d"),
	    2);
	ck_assert_int_eq(json_array_size(json_object_get(r, "not_found")), 1);
	json_decref(r);
}
END_TEST

START_TEST(put_and_delete)
{
	struct harness_reply reply;
	json_t *c;

	post_message(&srv, "c-3", "m1", "2025-12-30");
	wait_active(&srv);
	ck_assert_int_eq(card_insight(&srv, "c-3", "opens_30d"), 1);
	ck_assert_int_eq(harness_send_json(&srv, "PUT", "/v1/contacts/c-3",
			     "{\"email\":\"new@example.com\"}", &reply),
	    200);
	harness_reply_free(&reply);
	c = card(&srv, "c-3");
	ck_assert_str_eq(
	    json_string_value(json_object_get(c, "email")), "new@example.com");
	json_decref(c);

	ck_assert_int_eq(
	    harness_http(&srv, "DELETE", "/v1/contacts/c-3",
		(const char *[]){ HARNESS_AUTH_HEADER, NULL }, NULL, 0, &reply),
	    204);
	harness_reply_free(&reply);
	ck_assert_ptr_null(card(&srv, "c-3"));
}
END_TEST

START_TEST(refit_flushes_the_account)
{
	struct harness_reply reply;

	post_message(&srv, "c-4", "m1", "2025-12-30");
	wait_active(&srv);
	ck_assert_int_eq(card_insight(&srv, "c-4", "messages_delivered"), 1);
	harness_sql_exec(db, "UPDATE contacts SET messages_delivered = 77"
			     " WHERE crm_id = 'c-4'");
	/* nobody told the cache */
	ck_assert_int_eq(card_insight(&srv, "c-4", "messages_delivered"), 1);
	ck_assert_int_eq(
	    harness_send_json(&srv, "POST", "/v1/admin/refit", "", &reply),
	    200);
	harness_reply_free(&reply);
	ck_assert_int_eq(card_insight(&srv, "c-4", "messages_delivered"), 77);
}
END_TEST

START_TEST(second_process_hears_writes)
{
	json_t *c = NULL;

	harness_server_start(&other, db, PINNED);
	wait_active(&srv);
	wait_active(&other);
	post_message(&srv, "c-5", "m1", "2025-12-30");
	/* its notification reaches the other process a moment later */
	sleep_ms(500);
	ck_assert_int_eq(card_insight(&other, "c-5", "messages_delivered"), 1);
	harness_sql_exec(db, "UPDATE contacts SET joined_at = "
			     "'2020-05-05T00:00:00Z' WHERE crm_id = 'c-5'");
	c = card(&other, "c-5");
	ck_assert(json_is_null(json_object_get(c, "joined_at")));
	json_decref(c);

	/* a write through the first process reaches the second's cache */
	post_message(&srv, "c-5", "m2", "2025-12-31");
	for (int i = 0; i < 100; i++) {
		c = card(&other, "c-5");
		if (insight(c, "messages_delivered") == 2)
			break;
		json_decref(c);
		c = NULL;
		sleep_ms(20);
	}
	ck_assert_msg(c != NULL, "the second process never saw the write");
	ck_assert_str_eq(json_string_value(json_object_get(c, "joined_at")),
	    "2020-05-05T00:00:00.000Z");
	json_decref(c);
}
END_TEST

/* Contact shape's history: which of its 8 messages were opened. */
static bool
history_opened(int shape, int message)
{
	return ((shape * 7 + message * 3) % (shape % 4 + 2)) == 0;
}

/* Contact's 8 messages in one batch, opened as shape says. */
static void
post_history(const struct harness_server *s, const char *contact, int shape)
{
	struct harness_reply reply;
	char body[8192];
	size_t len = 0;
	long status;

	len += (size_t)snprintf(body + len, sizeof(body) - len, "[");
	for (int m = 0; m < 8; m++) {
		len += (size_t)snprintf(body + len, sizeof(body) - len,
		    "%s{\"event_id\":\"%s-%d-d\",\"type\":\"delivered\","
		    "\"contact_id\":\"%s\",\"message_id\":\"m%d\","
		    "\"occurred_at\":\"2025-12-%02dT09:00:00Z\"}",
		    m > 0 ? "," : "", contact, m, contact, m, 10 + m);
		if (history_opened(shape, m))
			len += (size_t)snprintf(body + len, sizeof(body) - len,
			    ",{\"event_id\":\"%s-%d-o\",\"type\":\"open\","
			    "\"contact_id\":\"%s\",\"message_id\":\"m%d\","
			    "\"occurred_at\":\"2025-12-%02dT09:30:00Z\","
			    "\"user_agent\":\"Thunderbird\"}",
			    contact, m, contact, m, 10 + m);
	}
	snprintf(body + len, sizeof(body) - len, "]");
	status = harness_send_json(s, "POST", "/v1/events", body, &reply);
	ck_assert_msg(
	    status == 202, "POST /v1/events: %ld: %s", status, reply.body);
	harness_reply_free(&reply);
}

/*
 * A refit through one process changes the fit every process scores with:
 * a contact written through the other right after it gets the same
 * numbers as its twin that the refit rescored, not numbers from the fit
 * the other process had cached before.
 */
START_TEST(second_process_hears_refits)
{
	struct harness_reply reply;
	json_t *rescored, *twin;
	char id[32];

	harness_server_start(&other, db, PINNED);
	wait_active(&srv);
	wait_active(&other);
	/* enough contacts for a fit of its own (MODEL_FIT_MIN_CONTACTS) */
	for (int i = 0; i < 64; i++) {
		snprintf(id, sizeof(id), "h-%d", i);
		post_history(&srv, id, i);
	}
	/* the other process scores a contact, and so caches today's fit */
	post_history(&other, "warm", 3);
	ck_assert_int_eq(
	    harness_send_json(&srv, "POST", "/v1/admin/refit", "", &reply),
	    200);
	harness_reply_free(&reply);
	sleep_ms(500);
	post_history(&other, "twin", 5);
	rescored = card(&srv, "h-5");
	twin = card(&other, "twin");
	ck_assert_ptr_nonnull(rescored);
	ck_assert_ptr_nonnull(twin);
	ck_assert_int_eq(json_integer_value(json_object_get(twin, "score")),
	    json_integer_value(json_object_get(rescored, "score")));
	ck_assert_double_eq(
	    json_real_value(json_object_get(twin, "predicted_open_rate")),
	    json_real_value(json_object_get(rescored, "predicted_open_rate")));
	json_decref(rescored);
	json_decref(twin);
}
END_TEST

START_TEST(lost_listener_empties_the_cache)
{
	char sql[256];
	long connects;

	post_message(&srv, "c-6", "m1", "2025-12-30");
	wait_active(&srv);
	ck_assert_int_eq(card_insight(&srv, "c-6", "messages_delivered"), 1);
	/* a write whose notification will be lost with the connection */
	harness_sql_exec(db, "UPDATE contacts SET messages_delivered = 55"
			     " WHERE crm_id = 'c-6'");
	ck_assert_int_eq(card_insight(&srv, "c-6", "messages_delivered"), 1);
	connects =
	    metric(&srv, "engagementd_scorecache_listener_connects_total");
	snprintf(sql, sizeof(sql),
	    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
	    " WHERE application_name = 'engagementd-listener-%ld'",
	    (long)srv.pid);
	ck_assert_int_eq(harness_sql_int(db, sql), 1);
	wait_metric(&srv, "engagementd_scorecache_listener_connects_total",
	    connects + 1);
	ck_assert_int_eq(card_insight(&srv, "c-6", "messages_delivered"), 55);
}
END_TEST

/*
 * In this process, through the same read path as the service, with the
 * service clock pinned and moved: an open 27 days old at the pin leaves
 * the 30-day window three days later, and the cached row with it.
 */
START_TEST(counts_expire_with_the_clock)
{
	struct scorecache *cache = scorecache_new(1 << 20, 7 * 86400000LL);
	struct db_pool *pool = db_pool_new(db, 2, 10000);
	struct scorecache_stats st;
	struct store_contact c;
	struct err err = { 0 };
	int64_t t;

	post_message(&srv, "c-7", "m1", "2025-12-05");
	scorecache_resume(cache);
	scoresync_install(cache);

	ck_assert(time_parse_iso8601("2026-01-01T10:00:00Z", &t));
	time_pin(t);
	ck_assert_int_eq(
	    scoresync_contact_get(pool, 1, "c-7", time_now_ms(), &c, &err), 1);
	ck_assert_int_eq(c.opens_30d, 1);
	store_contact_free(&c);

	ck_assert(time_parse_iso8601("2026-01-03T10:00:00Z", &t));
	time_pin(t);
	ck_assert_int_eq(
	    scoresync_contact_get(pool, 1, "c-7", time_now_ms(), &c, &err), 1);
	ck_assert_int_eq(c.opens_30d, 1);
	store_contact_free(&c);
	scorecache_stats(cache, &st);
	ck_assert_uint_eq(st.hits, 1);

	ck_assert(time_parse_iso8601("2026-01-04T09:31:00Z", &t));
	time_pin(t);
	ck_assert_int_eq(
	    scoresync_contact_get(pool, 1, "c-7", time_now_ms(), &c, &err), 1);
	ck_assert_int_eq(c.opens_30d, 0);
	store_contact_free(&c);
	scorecache_stats(cache, &st);
	ck_assert_uint_eq(st.hits, 1);
	ck_assert_uint_eq(st.expirations, 1);

	scoresync_install(NULL);
	scorecache_free(cache);
	db_pool_free(pool);
	time_pin(0);
}
END_TEST

static Suite *
scorecache_suite(void)
{
	Suite *s = suite_create("scorecache");
	TCase *tc = tcase_create("cache");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, read_after_event);
	tcase_add_test(tc, batch_read_after_event);
	tcase_add_test(tc, put_and_delete);
	tcase_add_test(tc, refit_flushes_the_account);
	tcase_add_test(tc, second_process_hears_refits);
	tcase_add_test(tc, second_process_hears_writes);
	tcase_add_test(tc, lost_listener_empties_the_cache);
	tcase_add_test(tc, counts_expire_with_the_clock);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(scorecache_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
