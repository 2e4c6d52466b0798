/*
 * check_api.c - the CRM-facing API end to end: native events in, scorecards
 * out, authentication, bad input, band listings with cursors, contact
 * create/update and erasure, and a database outage during ingestion.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static char db[1024];
static struct harness_server srv;

static void
setup(void)
{
	harness_db_create("api", db, sizeof(db));
	harness_server_start(&srv, db,
	    "[clock]\npin = 2026-01-01T10:00:00Z\n[spool]\nenabled = false\n");
}

static void
teardown(void)
{
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}

static json_t *
post_events(const char *body, long want_status)
{
	struct harness_reply reply;
	long status =
	    harness_send_json(&srv, "POST", "/v1/events", body, &reply);
	json_t *j;

	ck_assert_msg(status == want_status,
	    "POST /v1/events: %ld, want %ld: %s", status, want_status,
	    reply.body);
	j = harness_json_parse(reply.body);
	harness_reply_free(&reply);
	return j;
}

static json_t *
get_json(const char *path, long want_status)
{
	struct harness_reply reply;
	long status = harness_get(&srv, path, &reply);
	json_t *j;

	ck_assert_msg(status == want_status, "GET %s: %ld, want %ld: %s", path,
	    status, want_status, reply.body);
	j = harness_json_parse(reply.body);
	harness_reply_free(&reply);
	return j;
}

static long
jint(json_t *obj, const char *path)
{
	json_t *v = obj;
	char buf[128], *save = NULL, *part;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part != NULL;
	     part = strtok_r(NULL, ".", &save))
		v = json_object_get(v, part);
	ck_assert_msg(json_is_integer(v), "%s is not an integer", path);
	return (long)json_integer_value(v);
}

static const char *
jstr(json_t *obj, const char *path)
{
	json_t *v = obj;
	char buf[128], *save = NULL, *part;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part != NULL;
	     part = strtok_r(NULL, ".", &save))
		v = json_object_get(v, part);
	ck_assert_msg(json_is_string(v), "%s is not a string", path);
	return json_string_value(v);
}

/* A delivered event of message m for contact c at an ISO time. */
static void
append_event(char *buf, size_t len, const char *type, const char *contact,
    const char *message, const char *when, const char *extra)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used,
	    "%s{\"type\":\"%s\",\"contact_id\":\"%s\",\"message_id\":\"%s\","
	    "\"occurred_at\":\"%s\"%s}",
	    used > 1 ? "," : "", type, contact, message, when,
	    extra != NULL ? extra : "");
}

START_TEST(native_events_and_scorecard)
{
	json_t *r, *card;

	r = post_events(
	    "[{\"event_id\":\"e1\",\"type\":\"delivered\","
	    "\"contact_id\":\"c-42\",\"email\":\"Ann@Example.com\","
	    "\"message_id\":\"m1\",\"occurred_at\":\"2025-12-30T09:00:00Z\"},"
	    "{\"event_id\":\"e2\",\"type\":\"open\",\"contact_id\":\"c-42\","
	    "\"message_id\":\"m1\",\"occurred_at\":1767085300},"
	    "{\"event_id\":\"e3\",\"type\":\"bogus\",\"contact_id\":\"c-42\"}]",
	    202);
	ck_assert_int_eq(jint(r, "accepted"), 2);
	ck_assert_int_eq(jint(r, "duplicates"), 0);
	ck_assert_int_eq(json_array_size(json_object_get(r, "rejected")), 1);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(
		json_array_get(json_object_get(r, "rejected"), 0), "index")),
	    2);
	json_decref(r);

	/* the same events again are duplicates, stored once */
	r = post_events("[{\"event_id\":\"e1\",\"type\":\"delivered\","
			"\"contact_id\":\"c-42\",\"message_id\":\"m1\","
			"\"occurred_at\":\"2025-12-30T09:00:00Z\"}]",
	    202);
	ck_assert_int_eq(jint(r, "accepted"), 0);
	ck_assert_int_eq(jint(r, "duplicates"), 1);
	json_decref(r);
	ck_assert_int_eq(harness_sql_int(db, "SELECT count(*) FROM events"), 2);

	card = get_json("/v1/contacts/c-42/scorecard", 200);
	ck_assert_str_eq(jstr(card, "contact_id"), "c-42");
	ck_assert_str_eq(jstr(card, "email"), "ann@example.com");
	ck_assert_int_eq(jint(card, "insights.messages_delivered"), 1);
	ck_assert_int_eq(jint(card, "insights.messages_opened"), 1);
	ck_assert_int_eq(jint(card, "insights.opens_30d"), 1);
	ck_assert_str_eq(
	    jstr(card, "insights.last_open_at"), "2025-12-30T09:01:40.000Z");
	/* one observable message is too little to judge */
	ck_assert_str_eq(jstr(card, "band"), "gray");
	ck_assert_str_eq(jstr(card, "status"), "insufficient_data");
	ck_assert_str_eq(jstr(card, "risk.label"), "unknown");
	ck_assert_str_eq(jstr(card, "computed_at"), "2026-01-01T10:00:00.000Z");
	json_decref(card);

	card = get_json("/v1/scorecard?email=ann%40example.com", 200);
	ck_assert_str_eq(jstr(card, "contact_id"), "c-42");
	json_decref(card);
	json_decref(get_json("/v1/contacts/nobody/scorecard", 404));
}
END_TEST

START_TEST(cold_contact_is_red_and_machine_only_is_gray)
{
	static char body[64 * 1024];
	char msg[32], when[40];
	json_t *card;

	/* one human open two years ago, then a hundred silent deliveries */
	snprintf(body, sizeof(body), "[");
	append_event(body, sizeof(body), "delivered", "cold", "m0",
	    "2024-01-01T09:00:00Z", NULL);
	append_event(body, sizeof(body), "open", "cold", "m0",
	    "2024-01-01T10:00:00Z", NULL);
	for (int i = 1; i <= 100; i++) {
		snprintf(msg, sizeof(msg), "m%d", i);
		snprintf(when, sizeof(when), "2024-%02d-%02dT09:00:00Z",
		    1 + (i - 1) / 10, 2 + (i - 1) % 10);
		append_event(
		    body, sizeof(body), "delivered", "cold", msg, when, NULL);
	}
	strcat(body, "]");
	json_decref(post_events(body, 202));
	card = get_json("/v1/contacts/cold/scorecard", 200);
	ck_assert_str_eq(jstr(card, "band"), "red");
	ck_assert_int_eq(jint(card, "insights.messages_delivered"), 101);
	ck_assert_int_eq(jint(card, "insights.messages_opened"), 1);
	json_decref(card);

	/* every open a machine open (Apple's proxy), never a click: gray */
	snprintf(body, sizeof(body), "[");
	for (int i = 1; i <= 20; i++) {
		snprintf(msg, sizeof(msg), "a%d", i);
		snprintf(when, sizeof(when), "2025-11-%02dT09:00:00Z", i);
		append_event(
		    body, sizeof(body), "delivered", "mpp", msg, when, NULL);
		snprintf(when, sizeof(when), "2025-11-%02dT09:00:03Z", i);
		append_event(body, sizeof(body), "open", "mpp", msg, when,
		    ",\"user_agent\":\"Mozilla/5.0\",\"ip\":\"17.58.63.101\"");
	}
	strcat(body, "]");
	json_decref(post_events(body, 202));
	card = get_json("/v1/contacts/mpp/scorecard", 200);
	ck_assert_str_eq(jstr(card, "band"), "gray");
	ck_assert_int_eq(jint(card, "insights.machine_opens_excluded"), 20);
	ck_assert_int_eq(jint(card, "insights.messages_opened"), 0);
	json_decref(card);
}
END_TEST

START_TEST(bad_input_changes_nothing)
{
	struct harness_reply reply;
	const char *no_auth[] = { "Content-Type: application/json", NULL };
	const char *bad_key[] = { "Content-Type: application/json",
		"Authorization: Bearer nope", NULL };
	const char *text_ct[] = { "Content-Type: text/plain",
		HARNESS_AUTH_HEADER, NULL };
	const char *ok[] = { "Content-Type: application/json",
		HARNESS_AUTH_HEADER, NULL };
	const char *event = "{\"type\":\"open\",\"contact_id\":\"x\","
			    "\"message_id\":\"m\",\"occurred_at\":1767258000}";
	const struct {
		const char *const *headers;
		const char *body;
		long status;
	} cases[] = {
		{ no_auth, event, 401 },
		{ bad_key, event, 401 },
		{ text_ct, event, 415 },
		{ ok, "{\"type\":", 400 },
		{ ok, "", 400 },
		{ ok, "[]", 400 },
		{ ok, "42", 400 },
		{ ok,
		    "{\"type\":\"open\",\"contact_id\":\"x\",\"message_id\":\"m\","
		    "\"occurred_at\":\"2099-01-01T00:00:00Z\"}",
		    400 },
		{ ok,
		    "{\"type\":\"open\",\"contact_id\":\"x\",\"message_id\":\"m\","
		    "\"occurred_at\":\"1999-12-31T23:59:59Z\"}",
		    400 },
		{ ok,
		    "{\"type\":\"open\",\"contact_id\":\"x\",\"message_id\":\"m\","
		    "\"occurred_at\":1767258000,\"ip\":12}",
		    400 },
		{ ok,
		    "{\"type\":\"open\",\"email\":\"not-an-address\","
		    "\"message_id\":\"m\",\"occurred_at\":1767258000}",
		    400 },
		{ ok,
		    "{\"type\":\"open\",\"contact_id\":\"a\\u0000b\","
		    "\"message_id\":\"m\",\"occurred_at\":1767258000}",
		    400 },
		{ ok,
		    "{\"type\":\"open\",\"contact_id\":\"x\",\"message_id\":\"m\","
		    "\"occurred_at\":99999999999999999999999}",
		    400 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long status =
		    harness_http(&srv, "POST", "/v1/events", cases[i].headers,
			cases[i].body, strlen(cases[i].body), &reply);
		json_t *j;

		ck_assert_msg(status == cases[i].status,
		    "case %zu: status %ld, want %ld: %s", i, status,
		    cases[i].status, reply.body);
		j = harness_json_parse(reply.body);
		ck_assert_msg(json_is_string(json_object_get(
				  json_object_get(j, "error"), "code")),
		    "case %zu: no error code", i);
		json_decref(j);
		harness_reply_free(&reply);
	}
	ck_assert_int_eq(harness_sql_int(db, "SELECT count(*) FROM events"), 0);
	ck_assert_int_eq(
	    harness_sql_int(db, "SELECT count(*) FROM contacts"), 0);

	ck_assert_int_eq(
	    harness_http(&srv, "DELETE", "/v1/events", ok, NULL, 0, &reply),
	    405);
	harness_reply_free(&reply);
	ck_assert_int_eq(harness_get(&srv, "/v1/nowhere", &reply), 404);
	harness_reply_free(&reply);
	/* an encoded slash stays inside the id; SQL text is just text */
	json_decref(get_json("/v1/contacts/a%2Fb/scorecard", 404));
	json_decref(get_json(
	    "/v1/contacts/x'%3B%20DROP%20TABLE%20events%3B--/scorecard", 404));
	json_decref(get_json("/v1/contacts/%ZZ/scorecard", 400));
	json_decref(get_json("/v1/contacts?band=purple", 400));
}
END_TEST

START_TEST(band_listing_batch_put_and_erase)
{
	static char body[64 * 1024];
	char id[32], msg[32];
	const char *cursor = NULL;
	char path[256];
	json_t *r, *page;
	int seen = 0, pages = 0;

	/* seven contacts, each with one open (gray until more data) */
	snprintf(body, sizeof(body), "[");
	for (int i = 0; i < 7; i++) {
		snprintf(id, sizeof(id), "p-%d", i);
		snprintf(msg, sizeof(msg), "pm-%d", i);
		append_event(body, sizeof(body), "delivered", id, msg,
		    "2025-12-01T09:00:00Z", NULL);
	}
	strcat(body, "]");
	json_decref(post_events(body, 202));

	snprintf(path, sizeof(path), "/v1/contacts?band=gray&limit=3");
	for (;;) {
		page = get_json(path, 200);
		seen += (int)json_array_size(json_object_get(page, "contacts"));
		pages++;
		if (json_is_null(json_object_get(page, "next_cursor"))) {
			json_decref(page);
			break;
		}
		cursor = jstr(page, "next_cursor");
		snprintf(path, sizeof(path),
		    "/v1/contacts?band=gray&limit=3&cursor=%s", cursor);
		json_decref(page);
	}
	ck_assert_int_eq(seen, 7);
	ck_assert_int_eq(pages, 3);

	r = NULL;
	{
		struct harness_reply reply;

		ck_assert_int_eq(
		    harness_send_json(&srv, "POST", "/v1/scorecards",
			"{\"contact_ids\":[\"p-1\",\"p-2\",\"ghost\"]}",
			&reply),
		    200);
		r = harness_json_parse(reply.body);
		harness_reply_free(&reply);
		ck_assert_int_eq(
		    json_array_size(json_object_get(r, "scorecards")), 2);
		ck_assert_str_eq(json_string_value(json_array_get(
				     json_object_get(r, "not_found"), 0)),
		    "ghost");
		json_decref(r);

		ck_assert_int_eq(
		    harness_send_json(&srv, "PUT", "/v1/contacts/p-1",
			"{\"email\":\"p1@example.com\","
			"\"joined_at\":\"2025-06-01T00:00:00Z\"}",
			&reply),
		    200);
		r = harness_json_parse(reply.body);
		harness_reply_free(&reply);
		ck_assert_str_eq(jstr(r, "email"), "p1@example.com");
		ck_assert_str_eq(
		    jstr(r, "joined_at"), "2025-06-01T00:00:00.000Z");
		json_decref(r);

		ck_assert_int_eq(
		    harness_http(&srv, "DELETE", "/v1/contacts/p-1",
			(const char *[]){ HARNESS_AUTH_HEADER, NULL }, NULL, 0,
			&reply),
		    204);
		harness_reply_free(&reply);
	}
	json_decref(get_json("/v1/contacts/p-1/scorecard", 404));
	ck_assert_int_eq(
	    harness_sql_int(db, "SELECT count(*) FROM events e"
				" JOIN contacts c USING (account_id,"
				" contact_pk) WHERE c.crm_id = 'p-1'"),
	    0);
	/* a late event for the erased contact does not bring it back */
	snprintf(body, sizeof(body), "[");
	append_event(body, sizeof(body), "open", "p-1", "pm-1",
	    "2025-12-01T10:00:00Z", NULL);
	strcat(body, "]");
	json_decref(post_events(body, 202));
	json_decref(get_json("/v1/contacts/p-1/scorecard", 404));
}
END_TEST

START_TEST(scanner_bursts_and_truncated_addresses)
{
	json_t *card;

	/* three different links clicked within a second: a scanner; two
	 * links a second apart on another message: a person */
	json_decref(post_events(
	    "["
	    "{\"type\":\"delivered\",\"contact_id\":\"burst\","
	    "\"message_id\":\"b1\",\"occurred_at\":\"2025-12-01T09:00:00Z\"},"
	    "{\"type\":\"click\",\"contact_id\":\"burst\",\"message_id\":\"b1\","
	    "\"url\":\"https://x.test/1\",\"occurred_at\":\"2025-12-01T09:05:00Z\"},"
	    "{\"type\":\"click\",\"contact_id\":\"burst\",\"message_id\":\"b1\","
	    "\"url\":\"https://x.test/2\",\"occurred_at\":\"2025-12-01T09:05:00.400Z\"},"
	    "{\"type\":\"click\",\"contact_id\":\"burst\",\"message_id\":\"b1\","
	    "\"url\":\"https://x.test/3\",\"occurred_at\":\"2025-12-01T09:05:00.800Z\"},"
	    "{\"type\":\"delivered\",\"contact_id\":\"burst\","
	    "\"message_id\":\"b2\",\"occurred_at\":\"2025-12-02T09:00:00Z\"},"
	    "{\"type\":\"click\",\"contact_id\":\"burst\",\"message_id\":\"b2\","
	    "\"url\":\"https://x.test/1\",\"occurred_at\":\"2025-12-02T10:00:00Z\","
	    "\"ip\":\"203.0.113.45\"},"
	    "{\"type\":\"click\",\"contact_id\":\"burst\",\"message_id\":\"b2\","
	    "\"url\":\"https://x.test/2\",\"occurred_at\":\"2025-12-02T10:00:01Z\","
	    "\"ip\":\"2001:db8:1234:5678::1\"}]",
	    202));
	ck_assert_int_eq(harness_sql_int(db, "SELECT count(*) FROM events"
					     " WHERE message_id = 'b1'"
					     " AND verdict = 3"),
	    3);
	ck_assert_int_eq(harness_sql_int(db, "SELECT count(*) FROM events"
					     " WHERE message_id = 'b2'"
					     " AND verdict = 1"),
	    2);
	card = get_json("/v1/contacts/burst/scorecard", 200);
	ck_assert_int_eq(jint(card, "insights.bot_clicks_excluded"), 3);
	ck_assert_int_eq(jint(card, "insights.messages_opened"), 1);
	json_decref(card);
	/* addresses are kept only as their network */
	ck_assert_int_eq(harness_sql_int(db, "SELECT count(*) FROM events"
					     " WHERE ip = '203.0.113.0'"),
	    1);
	ck_assert_int_eq(harness_sql_int(db, "SELECT count(*) FROM events"
					     " WHERE ip = '2001:db8:1234::'"),
	    1);
}
END_TEST

START_TEST(refit_on_demand_is_recorded)
{
	struct harness_reply reply;
	json_t *r;

	json_decref(post_events(
	    "[{\"type\":\"delivered\",\"contact_id\":\"f1\","
	    "\"message_id\":\"f1m\",\"occurred_at\":\"2025-12-01T09:00:00Z\"}]",
	    202));
	ck_assert_int_eq(
	    harness_send_json(&srv, "POST", "/v1/admin/refit", "", &reply),
	    200);
	r = harness_json_parse(reply.body);
	harness_reply_free(&reply);
	/* one contact is far too few to fit: the defaults stay, and say so */
	ck_assert(json_is_true(json_object_get(r, "used_defaults")));
	ck_assert_int_eq(jint(r, "contacts"), 1);
	json_decref(r);
	ck_assert_int_eq(
	    harness_sql_int(db, "SELECT count(*) FROM model_fits"
				" WHERE account_id = 1"
				" AND used_defaults AND contacts = 1"),
	    1);
	/* every contact was re-scored with the parameters in force */
	ck_assert_int_eq(harness_sql_int(db, "SELECT count(*) FROM contacts"
					     " WHERE score IS NULL"),
	    0);
}
END_TEST

START_TEST(database_outage_then_retry_stored_once)
{
	const char *body = "[{\"event_id\":\"out-1\",\"type\":\"delivered\","
			   "\"contact_id\":\"o-1\",\"message_id\":\"om\","
			   "\"occurred_at\":\"2025-12-31T09:00:00Z\"}]";
	struct harness_reply reply;
	json_t *r;

	harness_pg_stop();
	ck_assert_int_eq(
	    harness_send_json(&srv, "POST", "/v1/events", body, &reply), 503);
	ck_assert_ptr_nonnull(harness_reply_header(&reply, "Retry-After"));
	harness_reply_free(&reply);
	ck_assert_int_eq(harness_get(&srv, "/readyz", &reply), 503);
	harness_reply_free(&reply);
	harness_pg_start();

	r = post_events(body, 202);
	ck_assert_int_eq(jint(r, "accepted"), 1);
	json_decref(r);
	r = post_events(body, 202);
	ck_assert_int_eq(jint(r, "duplicates"), 1);
	json_decref(r);
	ck_assert_int_eq(harness_sql_int(db, "SELECT count(*) FROM events"
					     " WHERE event_key = 'out-1'"),
	    1);
	ck_assert_int_eq(harness_get(&srv, "/readyz", &reply), 200);
	harness_reply_free(&reply);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("api");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, native_events_and_scorecard);
	tcase_add_test(tc, cold_contact_is_red_and_machine_only_is_gray);
	tcase_add_test(tc, bad_input_changes_nothing);
	tcase_add_test(tc, band_listing_batch_put_and_erase);
	tcase_add_test(tc, scanner_bursts_and_truncated_addresses);
	tcase_add_test(tc, refit_on_demand_is_recorded);
	tcase_add_test(tc, database_outage_then_retry_stored_once);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
