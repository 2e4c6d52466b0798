/*
 * check_spool_outage.c - the spool end to end: while PostgreSQL is stopped,
 * native events and a signed webhook are answered 2xx from the spool and
 * /readyz shows the backlog; once it is back the loader stores every event
 * exactly once, also after the service was killed with records waiting;
 * and a full spool answers 503 and keeps nothing.
 *
 * (Named _outage so its program does not collide with the unit test
 * build/<variant>/tests/check_spool.)
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define CLOCK_INI "[clock]\npin = 2026-01-01T10:00:00Z\n"
/* the loader's wait grows to 5 s; allow two of them and the reconnect */
#define LOAD_WAIT_S 20

static char db[1024];
static char ini[1024];
static struct harness_server srv;

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static const char *
data_dir(void)
{
	const char *d = getenv("ENGAGEMENTD_TEST_DATA");

	return d != NULL && d[0] != '\0' ? d : "tests/data";
}

/* CLOCK_INI and the SendGrid key of the fixtures, plus more. */
static void
build_ini(const char *more)
{
	char path[1024], key[256] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/webhooks/sendgrid/keys/public_key.b64",
	    data_dir());
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_ptr_nonnull(fgets(key, sizeof(key), f));
	fclose(f);
	key[strcspn(key, "\r\n")] = '\0';
	snprintf(ini, sizeof(ini), "%s[sendgrid]\npublic_key = %s\n%s",
	    CLOCK_INI, key, more != NULL ? more : "");
}

static void
start(const char *name, const char *more)
{
	build_ini(more);
	harness_db_create(name, db, sizeof(db));
	harness_server_start(&srv, db, ini);
}

static void
teardown(void)
{
	/* a failed test may have left the cluster stopped */
	harness_pg_start();
	if (srv.pid > 0)
		ck_assert_int_eq(harness_server_stop(&srv), 0);
}

/* Native events e<from>..e<to-1>, one delivery each, as one request. */
static char *
native_batch(const char *prefix, int from, int to)
{
	size_t cap = 256 + (size_t)(to - from) * 200, used = 1;
	char *body = malloc(cap);

	ck_assert_ptr_nonnull(body);
	strcpy(body, "[");
	for (int i = from; i < to; i++)
		used += (size_t)snprintf(body + used, cap - used,
		    "%s{\"event_id\":\"%s%d\",\"type\":\"delivered\","
		    "\"contact_id\":\"c-%d\",\"message_id\":\"m-%d\","
		    "\"occurred_at\":\"2025-12-30T09:00:00Z\"}",
		    i > from ? "," : "", prefix, i, i % 5, i);
	snprintf(body + used, cap - used, "]");
	return body;
}

/* Posts a native batch; returns the answer's JSON (caller decrefs). */
static json_t *
post_native(const char *body, long want)
{
	struct harness_reply reply;
	long status =
	    harness_send_json(&srv, "POST", "/v1/events", body, &reply);
	json_t *j;

	ck_assert_msg(status == want, "POST /v1/events: %ld, want %ld: %s",
	    status, want, reply.body);
	if (status == 503)
		ck_assert_ptr_nonnull(
		    harness_reply_header(&reply, "Retry-After"));
	j = harness_json_parse(reply.body);
	harness_reply_free(&reply);
	return j;
}

static void
post_sendgrid_fixture(void)
{
	char **headers =
	    harness_fixture_headers("sendgrid", "01-batch-mixed.json", "valid");
	size_t len;
	char *body = harness_fixture("sendgrid", "01-batch-mixed.json", &len);
	struct harness_reply reply;
	long status = harness_http(&srv, "POST", "/v1/webhooks/sendgrid",
	    (const char *const *)headers, body, len, &reply);
	json_t *j;

	ck_assert_msg(
	    status == 200, "sendgrid webhook: %ld: %s", status, reply.body);
	j = harness_json_parse(reply.body);
	ck_assert(json_is_true(json_object_get(j, "spooled")));
	ck_assert_int_eq(json_integer_value(json_object_get(j, "accepted")), 5);
	json_decref(j);
	harness_reply_free(&reply);
	harness_headers_free(headers);
	free(body);
}

/* /readyz: its status, and spool_bytes through *bytes. */
static long
readyz(long *bytes)
{
	struct harness_reply reply;
	long status =
	    harness_http(&srv, "GET", "/readyz", NULL, NULL, 0, &reply);
	json_t *j = harness_json_parse(reply.body);

	*bytes = (long)json_integer_value(json_object_get(j, "spool_bytes"));
	json_decref(j);
	harness_reply_free(&reply);
	return status;
}

/* Authenticates once so the key is cached while the database is down. */
static void
warm_key_cache(void)
{
	struct harness_reply reply;

	ck_assert_int_eq(
	    harness_get(&srv, "/v1/contacts/nobody/scorecard", &reply), 404);
	harness_reply_free(&reply);
}

static long
count(const char *sql)
{
	return harness_sql_int(db, sql);
}

/* Waits until the spool is empty and want events are stored. */
static void
wait_loaded(long want)
{
	long bytes = -1, stored = -1, status = 0;

	for (int i = 0; i < LOAD_WAIT_S * 10; i++) {
		status = readyz(&bytes);
		if (status == 200) {
			stored = count("SELECT count(*) FROM events");
			if (bytes == 0 && stored >= want)
				break;
		}
		sleep_ms(100);
	}
	ck_assert_msg(status == 200 && bytes == 0 && stored == want,
	    "after %d s: readyz %ld, spool_bytes %ld, %ld events stored, "
	    "want %ld",
	    LOAD_WAIT_S, status, bytes, stored, want);
}

static void
assert_stored_once(void)
{
	ck_assert_int_eq(count("SELECT count(*) FROM (SELECT provider, "
			       "event_key FROM events GROUP BY 1, 2 "
			       "HAVING count(*) > 1) d"),
	    0);
	ck_assert_int_eq(count("SELECT count(*) FROM events e WHERE NOT "
			       "EXISTS (SELECT 1 FROM contacts c WHERE "
			       "c.account_id = e.account_id AND "
			       "c.contact_pk = e.contact_pk)"),
	    0);
}

START_TEST(outage_is_spooled_then_loaded_once)
{
	json_t *r;
	char *body = native_batch("sp-", 0, 4);
	long bytes;

	start("spool_outage", NULL);
	warm_key_cache();
	harness_pg_stop();

	r = post_native(body, 202);
	ck_assert(json_is_true(json_object_get(r, "spooled")));
	ck_assert_int_eq(json_integer_value(json_object_get(r, "accepted")), 4);
	json_decref(r);
	post_sendgrid_fixture();
	ck_assert_int_eq(readyz(&bytes), 503);
	ck_assert_int_gt(bytes, 0);

	harness_pg_start();
	wait_loaded(4 + 5);
	assert_stored_once();
	ck_assert_int_eq(count("SELECT count(*) FROM events WHERE "
			       "provider = 'native' AND event_key LIKE 'sp-%'"),
	    4);
	ck_assert_int_eq(
	    count("SELECT count(*) FROM events WHERE provider = 'sendgrid'"),
	    5);
	/* the contacts' summaries saw the loaded events */
	ck_assert_int_eq(count("SELECT count(*) FROM contacts WHERE crm_id "
			       "LIKE 'c-%'"),
	    4);

	/* the same request again is now a duplicate, not a new event */
	r = post_native(body, 202);
	ck_assert(json_is_false(json_object_get(r, "spooled")));
	ck_assert_int_eq(
	    json_integer_value(json_object_get(r, "duplicates")), 4);
	json_decref(r);
	ck_assert_int_eq(count("SELECT count(*) FROM events"), 9);
	free(body);
}
END_TEST

START_TEST(killed_with_spooled_records_loads_after_restart)
{
	char *first = native_batch("k-", 0, 10), *second;
	json_t *r;
	long bytes;

	start("spool_kill", NULL);
	warm_key_cache();
	harness_pg_stop();
	second = native_batch("k-", 10, 25);
	r = post_native(first, 202);
	ck_assert(json_is_true(json_object_get(r, "spooled")));
	json_decref(r);
	r = post_native(second, 202);
	ck_assert(json_is_true(json_object_get(r, "spooled")));
	json_decref(r);

	/* a crash: the answers were given, so the records must survive */
	harness_server_kill(&srv);
	harness_server_restart(&srv, db, ini);
	ck_assert_int_eq(readyz(&bytes), 503);
	ck_assert_int_gt(bytes, 0);

	harness_pg_start();
	wait_loaded(25);
	assert_stored_once();
	ck_assert_int_eq(count("SELECT count(DISTINCT event_key) FROM events "
			       "WHERE event_key LIKE 'k-%'"),
	    25);
	free(first);
	free(second);
}
END_TEST

START_TEST(full_spool_answers_503_and_keeps_nothing)
{
	char *small = native_batch("f-", 0, 1),
	     *big = native_batch("f-", 1, 40);
	json_t *r;
	long bytes;

	start("spool_full", "[spool]\nmax_bytes = 2000\n");
	warm_key_cache();
	harness_pg_stop();
	r = post_native(small, 202);
	ck_assert(json_is_true(json_object_get(r, "spooled")));
	json_decref(r);
	/* 39 events do not fit in what is left of 2000 bytes */
	json_decref(post_native(big, 503));

	harness_pg_start();
	wait_loaded(1);
	ck_assert_int_eq(readyz(&bytes), 200);
	ck_assert_int_eq(count("SELECT count(*) FROM events WHERE event_key "
			       "<> 'f-0'"),
	    0);
	free(small);
	free(big);
}
END_TEST

static Suite *
spool_suite(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("outage");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, outage_is_spooled_then_loaded_once);
	tcase_add_test(tc, killed_with_spooled_records_loads_after_restart);
	tcase_add_test(tc, full_spool_answers_503_and_keeps_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(spool_suite());
	int failed;

	/* each test stops and starts the shared cluster: one at a time */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
