/*
 * check_tenants.c - accounts are kept apart: a key reaches its own
 * account's contacts only (and learns nothing about others: 404, not 403),
 * each account's webhook credentials are its own, the admin commands
 * manage accounts and keys, the per-key rate limit answers 429, and the
 * body, batch and slow-sender limits hold.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static char db[1024];
static struct harness_server srv;

/* Runs the binary's admin command against the server's INI; returns its
 * first output line in out. */
static int
admin(char *out, size_t len, const char *args)
{
	static char cmd[3 * PATH_MAX];
	FILE *p;
	int rc;

	snprintf(cmd, sizeof(cmd), "%s --config %s %s 2>/dev/null",
	    getenv("ENGAGEMENTD_TEST_BINARY"), srv.ini_path, args);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	out[0] = '\0';
	if (fgets(out, (int)len, p) == NULL)
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	rc = pclose(p);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static long
call(const char *key, const char *method, const char *path, const char *body,
    struct harness_reply *reply)
{
	char auth[256];
	const char *headers[] = { "Content-Type: application/json", auth,
		NULL };

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
	return harness_http(&srv, method, path, headers, body,
	    body != NULL ? strlen(body) : 0, reply);
}

static void
expect(const char *key, const char *method, const char *path, const char *body,
    long status)
{
	struct harness_reply reply;
	long got = call(key, method, path, body, &reply);

	ck_assert_msg(got == status, "%s %s: %ld, want %ld: %s", method, path,
	    got, status, reply.body);
	harness_reply_free(&reply);
}

START_TEST(accounts_are_kept_apart)
{
	char key_b[256], line[256];
	struct harness_reply reply;
	json_t *j;
	const char *event_b =
	    "{\"type\":\"delivered\",\"contact_id\":\"b-only\","
	    "\"email\":\"b@example.com\",\"message_id\":\"bm\","
	    "\"occurred_at\":\"2025-12-01T00:00:00Z\"}";
	const char *event_a =
	    "{\"type\":\"delivered\",\"contact_id\":\"shared\","
	    "\"message_id\":\"am\",\"occurred_at\":\"2025-12-01T00:00:00Z\"}";

	harness_db_create("tenants", db, sizeof(db));
	harness_server_start(&srv, db, "[clock]\npin = 2026-01-01T10:00:00Z\n");
	ck_assert_int_eq(admin(line, sizeof(line), "account create beta"), 0);
	ck_assert_int_eq(admin(key_b, sizeof(key_b), "key create beta crm"), 0);
	ck_assert_int_eq(strncmp(key_b, "ek_", 3), 0);
	ck_assert_int_eq(strlen(key_b), 67);
	/* only the hash is stored */
	ck_assert_int_eq(
	    harness_sql_int(db, "SELECT count(*) FROM api_keys"
				" WHERE position('ek_' in"
				" encode(key_hash, 'escape')) > 0"),
	    0);

	expect(key_b, "POST", "/v1/events", event_b, 202);
	expect(key_b, "POST", "/v1/events", event_a, 202);
	expect("test-key", "POST", "/v1/events", event_a, 202);

	/* the default account's key sees none of beta's contacts */
	expect("test-key", "GET", "/v1/contacts/b-only/scorecard", NULL, 404);
	expect("test-key", "GET", "/v1/scorecard?email=b%40example.com", NULL,
	    404);
	ck_assert_int_eq(call("test-key", "POST", "/v1/scorecards",
			     "{\"contact_ids\":[\"b-only\"]}", &reply),
	    200);
	j = harness_json_parse(reply.body);
	ck_assert_int_eq(json_array_size(json_object_get(j, "scorecards")), 0);
	ck_assert_int_eq(json_array_size(json_object_get(j, "not_found")), 1);
	json_decref(j);
	harness_reply_free(&reply);
	ck_assert_int_eq(
	    call("test-key", "GET", "/v1/contacts?band=gray", NULL, &reply),
	    200);
	j = harness_json_parse(reply.body);
	ck_assert_int_eq(json_array_size(json_object_get(j, "contacts")), 1);
	json_decref(j);
	harness_reply_free(&reply);
	expect("test-key", "DELETE", "/v1/contacts/b-only", NULL, 404);
	expect(key_b, "GET", "/v1/contacts/b-only/scorecard", NULL, 200);
	/* the same CRM id in two accounts is two contacts */
	ck_assert_int_eq(harness_sql_int(db, "SELECT count(*) FROM contacts"
					     " WHERE crm_id = 'shared'"),
	    2);
	expect("wrong-key", "GET", "/v1/contacts/shared/scorecard", NULL, 401);

	/* beta's webhook refuses until beta has its own credentials */
	{
		char **headers = harness_fixture_headers(
		    "postmark", "01-delivery-alice.json", "valid");
		size_t len;
		char *body =
		    harness_fixture("postmark", "01-delivery-alice.json", &len);

		ck_assert_int_eq(
		    harness_http(&srv, "POST", "/v1/webhooks/postmark/beta",
			(const char *const *)headers, body, len, &reply),
		    503);
		harness_reply_free(&reply);
		ck_assert_int_eq(
		    admin(line, sizeof(line),
			"webhook set beta postmark username pm-hook"),
		    0);
		ck_assert_int_eq(
		    admin(line, sizeof(line),
			"webhook set beta postmark password test-pm-password-0001"),
		    0);
		ck_assert_int_eq(
		    harness_http(&srv, "POST", "/v1/webhooks/postmark/beta",
			(const char *const *)headers, body, len, &reply),
		    200);
		harness_reply_free(&reply);
		ck_assert_int_eq(
		    harness_http(&srv, "POST", "/v1/webhooks/postmark/nosuch",
			(const char *const *)headers, body, len, &reply),
		    404);
		harness_reply_free(&reply);
		harness_headers_free(headers);
		free(body);
	}
	ck_assert_int_eq(
	    harness_sql_int(db, "SELECT count(*) FROM events e"
				" JOIN accounts a USING (account_id)"
				" WHERE a.name = 'beta'"
				" AND e.provider = 'postmark'"),
	    1);
	/* listing names, never values */
	ck_assert_int_eq(admin(line, sizeof(line), "webhook list beta"), 0);
	ck_assert_ptr_null(strstr(line, "test-pm-password"));
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

START_TEST(rate_limit_per_key)
{
	struct harness_reply reply;
	char body[256];
	long status = 0;
	int i;

	harness_db_create("ratelimit", db, sizeof(db));
	harness_server_start(&srv, db,
	    "[clock]\npin = 2026-01-01T10:00:00Z\n"
	    "[http]\nrate_limit_per_s = 1\nrate_limit_burst = 3\n");
	for (i = 0; i < 6; i++) {
		snprintf(body, sizeof(body),
		    "{\"event_id\":\"rl-%d\",\"type\":\"delivered\","
		    "\"contact_id\":\"rl\",\"message_id\":\"m\","
		    "\"occurred_at\":\"2025-12-01T00:00:00Z\"}",
		    i);
		status = call("test-key", "POST", "/v1/events", body, &reply);
		if (status == 429) {
			ck_assert_ptr_nonnull(
			    harness_reply_header(&reply, "Retry-After"));
			harness_reply_free(&reply);
			break;
		}
		harness_reply_free(&reply);
	}
	ck_assert_int_eq(status, 429);
	ck_assert_int_ge(i, 3);
	/* the refused request stored nothing */
	ck_assert_int_eq(harness_sql_int(db, "SELECT count(*) FROM events"), i);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* Opens a connection, sends half a request, and reports whether the
 * server closed it within wait_s seconds. */
static bool
slow_sender_cut_off(int port, int wait_s)
{
	struct sockaddr_in addr;
	struct timeval tv = { wait_s, 0 };
	const char *half = "POST /v1/events HTTP/1.1\r\nHost: x\r\n";
	char buf[256];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(write(fd, half, strlen(half)), (ssize_t)strlen(half));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return n >= 0; /* 0: closed; an answer also ends it; -1: timed out */
}

START_TEST(request_limits)
{
	struct harness_reply reply;
	static char big[4096];
	const char *four = "[{\"type\":\"delivered\",\"contact_id\":\"l\","
			   "\"message_id\":\"1\",\"occurred_at\":1767258000},"
			   "{\"type\":\"delivered\",\"contact_id\":\"l\","
			   "\"message_id\":\"2\",\"occurred_at\":1767258000},"
			   "{\"type\":\"delivered\",\"contact_id\":\"l\","
			   "\"message_id\":\"3\",\"occurred_at\":1767258000},"
			   "{\"type\":\"delivered\",\"contact_id\":\"l\","
			   "\"message_id\":\"4\",\"occurred_at\":1767258000}]";

	harness_db_create("limits", db, sizeof(db));
	harness_server_start(&srv, db,
	    "[clock]\npin = 2026-01-01T10:00:00Z\n"
	    "[http]\nmax_body_bytes = 2048\nmax_batch_events = 3\n"
	    "connection_timeout_s = 1\n");
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '[';
	big[sizeof(big) - 2] = ']';
	ck_assert_int_eq(
	    call("test-key", "POST", "/v1/events", big, &reply), 413);
	harness_reply_free(&reply);
	ck_assert_int_eq(
	    call("test-key", "POST", "/v1/events", four, &reply), 413);
	harness_reply_free(&reply);
	ck_assert_int_eq(harness_sql_int(db, "SELECT count(*) FROM events"), 0);
	ck_assert_msg(slow_sender_cut_off(srv.port, 5),
	    "a sender that stops half way is not cut off");
	/* the service still serves */
	ck_assert_int_eq(harness_get(&srv, "/healthz", &reply), 200);
	harness_reply_free(&reply);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("tenants");
	TCase *tc = tcase_create("tenants");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, accounts_are_kept_apart);
	tcase_add_test(tc, rate_limit_per_key);
	tcase_add_test(tc, request_limits);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
