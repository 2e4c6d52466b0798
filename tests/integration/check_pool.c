/*
 * check_pool.c - a few polling threads serve every connection because
 * nothing waits on PostgreSQL on them.
 *
 * The test holds a lock from its own database connection so that writes
 * (or an erasure) stall in PostgreSQL, and checks that (a) reads on other
 * connections, more of them than the server has polling threads, are
 * still answered at once, and the stalled requests complete once the lock
 * goes; (b) a client that hangs up while its write waits leaves the event
 * stored once and the server healthy; (c) SIGTERM while writes wait lets
 * them commit and answers them before the exit, and refuses a new write
 * on an open connection meanwhile with 503.
 */
#include <arpa/inet.h>
#include <check.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* few polling threads, so that stalled requests would fill them all */
#define POOL_INI "[http]\nthreads = 2\n"
#define STALLED_WRITES 6
/* a read answered slower than this, while writes stall, waited on them */
#define PROMPT_MS 3000.0

static char db[1024];
static struct harness_server srv;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The test's own connection, which holds the lock. */
static PGconn *
lock_holder(const char *sql)
{
	PGconn *conn = PQconnectdb(db);
	PGresult *res;

	ck_assert_msg(PQstatus(conn) == CONNECTION_OK, "connect: %s",
	    PQerrorMessage(conn));
	res = PQexec(conn, "BEGIN");
	ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	res = PQexec(conn, sql);
	ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK ||
			  PQresultStatus(res) == PGRES_TUPLES_OK,
	    "%s: %s", sql, PQerrorMessage(conn));
	PQclear(res);
	return conn;
}

static void
release(PGconn *conn)
{
	PGresult *res = PQexec(conn, "COMMIT");

	ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(conn);
}

/* Waits until a backend of the service waits for a lock. */
static void
wait_for_lock_waiter(void)
{
	double until = now_ms() + 20000.0;

	while (harness_sql_int(db, "SELECT count(*) FROM pg_stat_activity"
				   " WHERE datname = current_database()"
				   " AND wait_event_type = 'Lock'") == 0) {
		ck_assert_msg(now_ms() < until, "no request waits on the lock");
		sleep_ms(50);
	}
	/* the other requests reach their suspension meanwhile */
	sleep_ms(300);
}

static char *
event_body(const char *event_id, const char *contact)
{
	static char body[512];

	snprintf(body, sizeof(body),
	    "{\"event_id\":\"%s\",\"type\":\"delivered\",\"contact_id\":\"%s\","
	    "\"message_id\":\"m-%s\",\"occurred_at\":\"2025-12-30T09:00:00Z\"}",
	    event_id, contact, event_id);
	return body;
}

static long
events_with_id(const char *event_id)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	    "SELECT count(*) FROM events WHERE event_key = '%s'", event_id);
	return harness_sql_int(db, sql);
}

/* A request sent from a thread of its own, since it will wait. */
struct waiting_call {
	pthread_t thread;
	const char *method;
	char path[128];
	char body[512];
	long status;
	char answer[256];
};

static void *
waiting_call_main(void *arg)
{
	struct waiting_call *call = arg;
	struct harness_reply reply;

	call->status = harness_send_json(&srv, call->method, call->path,
	    call->body[0] != '\0' ? call->body : NULL, &reply);
	snprintf(call->answer, sizeof(call->answer), "%s", reply.body);
	harness_reply_free(&reply);
	return NULL;
}

static void
start_writes(struct waiting_call *calls, int count, const char *prefix)
{
	for (int i = 0; i < count; i++) {
		char id[64];

		snprintf(id, sizeof(id), "%s-%d", prefix, i);
		calls[i].method = "POST";
		snprintf(calls[i].path, sizeof(calls[i].path), "/v1/events");
		snprintf(calls[i].body, sizeof(calls[i].body), "%s",
		    event_body(id, "pool-writer"));
		ck_assert_int_eq(pthread_create(&calls[i].thread, NULL,
				     waiting_call_main, &calls[i]),
		    0);
	}
}

static void
join_calls(struct waiting_call *calls, int count, long want)
{
	for (int i = 0; i < count; i++) {
		pthread_join(calls[i].thread, NULL);
		ck_assert_msg(calls[i].status == want, "%s %s: %ld %s",
		    calls[i].method, calls[i].path, calls[i].status,
		    calls[i].answer);
	}
}

/* Reads a seeded contact's scorecard, each on a new connection, and
 * fails when one is not answered promptly. */
static void
reads_are_prompt(int count)
{
	for (int i = 0; i < count; i++) {
		struct harness_reply reply;
		double started = now_ms();
		long status = harness_get(
		    &srv, "/v1/contacts/pool-seed/scorecard", &reply);
		double took = now_ms() - started;

		ck_assert_msg(
		    status == 200, "read %d: %ld %s", i, status, reply.error);
		ck_assert_msg(took < PROMPT_MS,
		    "read %d took %.0f ms while writes were stalled", i, took);
		harness_reply_free(&reply);
	}
}

static void
start_seeded(const char *name)
{
	struct harness_reply reply;

	harness_db_create(name, db, sizeof(db));
	harness_server_start(&srv, db, POOL_INI);
	ck_assert_int_eq(harness_send_json(&srv, "POST", "/v1/events",
			     event_body("seed-1", "pool-seed"), &reply),
	    202);
	harness_reply_free(&reply);
}

START_TEST(reads_while_writes_stall)
{
	struct waiting_call calls[STALLED_WRITES];
	struct waiting_call erase;
	struct harness_reply reply;
	PGconn *lock;

	memset(calls, 0, sizeof(calls));
	memset(&erase, 0, sizeof(erase));
	start_seeded("pool_reads");
	/* the merge inserts into events; reads only share-lock it */
	lock = lock_holder("LOCK TABLE events IN EXCLUSIVE MODE");
	start_writes(calls, STALLED_WRITES, "stalled");
	wait_for_lock_waiter();
	reads_are_prompt(20);
	release(lock);
	join_calls(calls, STALLED_WRITES, 202);
	ck_assert_int_eq(
	    harness_sql_int(db, "SELECT count(*) FROM events"
				" WHERE event_key LIKE 'stalled-%'"),
	    STALLED_WRITES);

	/* an erasure waiting on its contact's row runs off the polling
	 * threads too */
	ck_assert_int_eq(
	    harness_send_json(&srv, "PUT", "/v1/contacts/pool-gone",
		"{\"email\":\"gone@example.com\"}", &reply),
	    200);
	harness_reply_free(&reply);
	lock = lock_holder("SELECT 1 FROM contacts WHERE crm_id = 'pool-gone'"
			   " FOR UPDATE");
	erase.method = "DELETE";
	snprintf(erase.path, sizeof(erase.path), "/v1/contacts/pool-gone");
	ck_assert_int_eq(
	    pthread_create(&erase.thread, NULL, waiting_call_main, &erase), 0);
	wait_for_lock_waiter();
	reads_are_prompt(5);
	release(lock);
	join_calls(&erase, 1, 204);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* Sends one request on a new connection and hangs up without reading. */
static void
post_and_hang_up(const char *body)
{
	struct sockaddr_in addr;
	char request[1024];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int len;

	ck_assert_int_ge(fd, 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)srv.port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	len = snprintf(request, sizeof(request),
	    "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "%s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n%s",
	    HARNESS_AUTH_HEADER, strlen(body), body);
	ck_assert_int_eq(write(fd, request, (size_t)len), len);
	wait_for_lock_waiter();
	close(fd);
}

START_TEST(client_gone_while_write_waits)
{
	struct harness_reply reply;
	PGconn *lock;
	double until;

	start_seeded("pool_gone");
	lock = lock_holder("LOCK TABLE events IN EXCLUSIVE MODE");
	post_and_hang_up(event_body("gone-1", "pool-gone"));
	sleep_ms(200);
	release(lock);
	until = now_ms() + 20000.0;
	while (events_with_id("gone-1") == 0) {
		ck_assert_msg(now_ms() < until, "the write was not stored");
		sleep_ms(50);
	}
	/* stored once: sending it again is a duplicate */
	ck_assert_int_eq(harness_send_json(&srv, "POST", "/v1/events",
			     event_body("gone-1", "pool-gone"), &reply),
	    202);
	ck_assert_ptr_nonnull(strstr(reply.body, "\"duplicates\":1"));
	harness_reply_free(&reply);
	ck_assert_int_eq(events_with_id("gone-1"), 1);
	reads_are_prompt(3);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

/* A keep-alive connection on which the test sends requests by hand. */
static int
open_connection(void)
{
	struct sockaddr_in addr;
	struct timeval tv = { 10, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)srv.port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	return fd;
}

/* Sends a request and reads its whole answer (Content-Length framed)
 * into buf; returns the status. */
static int
exchange(int fd, const char *method, const char *path, const char *body,
    char *buf, size_t cap)
{
	char request[1024];
	size_t got = 0;
	int len, status = 0;

	len = snprintf(request, sizeof(request),
	    "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    method, path, HARNESS_AUTH_HEADER, strlen(body), body);
	ck_assert_int_eq(write(fd, request, (size_t)len), len);
	for (;;) {
		char *head_end, *cl;
		ssize_t n = read(fd, buf + got, cap - 1 - got);

		ck_assert_msg(n > 0, "%s %s: no complete answer", method, path);
		got += (size_t)n;
		buf[got] = '\0';
		head_end = strstr(buf, "\r\n\r\n");
		if (head_end == NULL)
			continue;
		cl = strcasestr(buf, "Content-Length:");
		ck_assert_ptr_nonnull(cl);
		if (got >=
		    (size_t)(head_end + 4 - buf) + strtoul(cl + 15, NULL, 10))
			break;
	}
	sscanf(buf, "HTTP/1.1 %d", &status);
	return status;
}

START_TEST(sigterm_while_writes_wait)
{
	struct waiting_call calls[STALLED_WRITES];
	char answer[4096];
	PGconn *lock;
	int kept;

	memset(calls, 0, sizeof(calls));
	start_seeded("pool_sigterm");
	kept = open_connection();
	ck_assert_int_eq(
	    exchange(kept, "GET", "/healthz", "", answer, sizeof(answer)), 200);
	lock = lock_holder("LOCK TABLE events IN EXCLUSIVE MODE");
	start_writes(calls, STALLED_WRITES, "term");
	wait_for_lock_waiter();
	ck_assert_int_eq(kill(srv.pid, SIGTERM), 0);
	sleep_ms(500);
	/* still there, waiting for its suspended writes */
	ck_assert_int_eq(kill(srv.pid, 0), 0);
	/* a new write on an open connection is refused, not lost */
	ck_assert_int_eq(
	    exchange(kept, "POST", "/v1/events",
		event_body("late-1", "pool-late"), answer, sizeof(answer)),
	    503);
	ck_assert_ptr_nonnull(strstr(answer, "shutting_down"));
	close(kept);
	release(lock);
	join_calls(calls, STALLED_WRITES, 202);
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	ck_assert_int_eq(harness_sql_int(db, "SELECT count(*) FROM events"
					     " WHERE event_key LIKE 'term-%'"),
	    STALLED_WRITES);
	ck_assert_int_eq(events_with_id("late-1"), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("pool");
	TCase *tc = tcase_create("pool");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, reads_while_writes_stall);
	tcase_add_test(tc, client_gone_while_write_waits);
	tcase_add_test(tc, sigterm_while_writes_wait);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
