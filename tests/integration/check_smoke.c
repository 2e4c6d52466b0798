/*
 * check_smoke.c - the first integration test: the real binary against a
 * fresh database answers its health checks, migrates itself at start, speaks
 * the contract's JSON error format for an unknown path and exits 0 on
 * SIGTERM.  If this fails, read its log before anything else.
 */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

static char db_url[1024];
static struct harness_server srv;

static void
setup(void)
{
	harness_db_create("smoke", db_url, sizeof(db_url));
	harness_server_start(&srv, db_url, NULL);
}

static void
teardown(void)
{
	harness_server_kill(&srv);
}

/* The service applies its migrations while it starts; give it a moment. */
static long
wait_ready(struct harness_reply *reply)
{
	struct timespec pause = { 0, 100 * 1000000L };
	long status = 0;
	int i;

	for (i = 0; i < 100; i++) {
		status = harness_get(&srv, "/readyz", reply);
		if (status == 200)
			break;
		harness_reply_free(reply);
		nanosleep(&pause, NULL);
	}
	return status;
}

START_TEST(healthz_answers_ok)
{
	struct harness_reply reply;
	json_t *body;

	ck_assert_int_eq(harness_get(&srv, "/healthz", &reply), 200);
	body = harness_json_parse(reply.body);
	ck_assert_str_eq(
	    json_string_value(json_object_get(body, "status")), "ok");
	ck_assert_ptr_nonnull(harness_reply_header(&reply, "Content-Type"));
	ck_assert(strncmp(harness_reply_header(&reply, "Content-Type"),
		      "application/json", 16) == 0);
	json_decref(body);
	harness_reply_free(&reply);
}
END_TEST

START_TEST(readyz_after_self_migration)
{
	struct harness_reply reply;

	ck_assert_int_eq(wait_ready(&reply), 200);
	harness_reply_free(&reply);
	ck_assert_int_ge(
	    harness_sql_int(db_url, "SELECT count(*) FROM schema_migrations"),
	    1);
	ck_assert_int_eq(harness_sql_int(db_url,
			     "SELECT count(*) FROM information_schema.tables "
			     "WHERE table_name = 'events'"),
	    1);
	/* 005: contact pages keep room for heap-only updates */
	ck_assert_int_eq(
	    harness_sql_int(db_url,
		"SELECT count(*) FROM pg_class WHERE relname ="
		" 'contacts' AND 'fillfactor=80' = ANY(reloptions)"),
	    1);
}
END_TEST

START_TEST(unknown_path_is_json_404)
{
	struct harness_reply reply;
	json_t *body, *error;

	ck_assert_int_eq(harness_get(&srv, "/no/such/thing", &reply), 404);
	body = harness_json_parse(reply.body);
	error = json_object_get(body, "error");
	ck_assert(json_is_object(error));
	ck_assert(json_is_string(json_object_get(error, "code")));
	ck_assert_str_eq(
	    json_string_value(json_object_get(error, "code")), "not_found");
	ck_assert(json_is_string(json_object_get(error, "message")));
	ck_assert_int_gt(
	    strlen(json_string_value(json_object_get(error, "message"))), 0);
	json_decref(body);
	harness_reply_free(&reply);
}
END_TEST

START_TEST(sigterm_exits_zero)
{
	struct harness_reply reply;

	ck_assert_int_eq(harness_get(&srv, "/healthz", &reply), 200);
	harness_reply_free(&reply);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	ck_assert_int_eq(srv.pid, 0);
	/* Nothing listens any more. */
	ck_assert_int_eq(harness_get(&srv, "/healthz", &reply), 0);
	ck_assert_int_gt(strlen(reply.error), 0);
	harness_reply_free(&reply);
}
END_TEST

/*
 * The cluster is shared by the whole program, so this test restarts it
 * before it ends whatever the outcome of the 503 check.
 */
START_TEST(readyz_follows_the_database)
{
	struct harness_reply reply;
	long down;

	ck_assert_int_eq(wait_ready(&reply), 200);
	harness_reply_free(&reply);
	harness_pg_stop();
	down = harness_get(&srv, "/readyz", &reply);
	harness_reply_free(&reply);
	ck_assert_int_eq(harness_get(&srv, "/healthz", &reply), 200);
	harness_reply_free(&reply);
	harness_pg_start();
	ck_assert_int_eq(down, 503);
	ck_assert_int_eq(wait_ready(&reply), 200);
	harness_reply_free(&reply);
}
END_TEST

/* The harness's own data helpers, checked against the files themselves. */
START_TEST(fixture_is_byte_exact)
{
	size_t len = 0;
	char *body = harness_fixture("sendgrid", "01-batch-mixed.json", &len);
	json_t *json;

	ck_assert_uint_gt(len, 0);
	ck_assert_uint_eq(strlen(body), len);
	json = harness_json_parse(body);
	ck_assert(json_is_array(json));
	ck_assert_uint_gt(json_array_size(json), 0);
	json_decref(json);
	free(body);
}
END_TEST

START_TEST(fixture_headers_by_variant)
{
	char **h =
	    harness_fixture_headers("sendgrid", "01-batch-mixed.json", "valid");
	char **bad;
	size_t n = 0;
	bool timestamp = false;

	for (n = 0; h[n] != NULL; n++)
		if (strcmp(h[n], "X-Twilio-Email-Event-Webhook-Timestamp: "
				 "1767258700") == 0)
			timestamp = true;
	ck_assert_uint_eq(n, 4);
	ck_assert(timestamp);
	bad = harness_fixture_headers(
	    "postmark", "01-delivery-alice.json", "bad-auth");
	ck_assert_ptr_nonnull(bad[0]);
	harness_headers_free(bad);
	harness_headers_free(h);
}
END_TEST

START_TEST(sql_helpers_read_values)
{
	char db[1024], text[64];

	harness_db_create("smoke_sql", db, sizeof(db));
	harness_sql_exec(db, "CREATE TABLE t (n int, s text)");
	harness_sql_exec(db, "INSERT INTO t VALUES (41, 'x'), (1, NULL)");
	ck_assert_int_eq(harness_sql_int(db, "SELECT sum(n) FROM t"), 42);
	ck_assert_str_eq(harness_sql_text(db, "SELECT current_database()", text,
			     sizeof(text)),
	    "smoke_sql");
	ck_assert_str_eq(harness_sql_text(db, "SELECT s FROM t WHERE n = 1",
			     text, sizeof(text)),
	    "");
}
END_TEST

static Suite *
smoke_suite(void)
{
	Suite *s = suite_create("smoke");
	TCase *tc = tcase_create("service");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, healthz_answers_ok);
	tcase_add_test(tc, readyz_after_self_migration);
	tcase_add_test(tc, unknown_path_is_json_404);
	tcase_add_test(tc, sigterm_exits_zero);
	tcase_add_test(tc, readyz_follows_the_database);
	suite_add_tcase(s, tc);

	tc = tcase_create("harness");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, fixture_is_byte_exact);
	tcase_add_test(tc, fixture_headers_by_variant);
	tcase_add_test(tc, sql_helpers_read_values);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(smoke_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
