/*
 * check_faults.c - fault injection under a steady ingestion load.
 *
 * Two client threads post native batches with unique event ids in a loop
 * and retry a batch that did not get a 2xx, the way a sender would.
 * Meanwhile the test (a) stops PostgreSQL for a few seconds, (b) kills the
 * service's database connections from the server side, (c) stops the
 * service with SIGTERM and starts it again, and (d) kills it with SIGKILL
 * while the database is down and the spool holds events, then starts it
 * and the database again.  Afterwards every batch that got a 2xx is stored
 * exactly once and whole, nothing is stored twice or half, and /readyz
 * followed the database.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define WORKERS 2
#define EVENTS_PER_BATCH 4
#define MAX_BATCHES 20000
/* a batch is retried this long before the client gives up on it */
#define RETRY_FOR_S 25.0
#define WAIT_S 20

enum batch_state { BATCH_UNSENT = 0, BATCH_ACKED, BATCH_GAVE_UP };

struct worker {
	pthread_t thread;
	int index;
	int batches;                      /* started */
	unsigned char state[MAX_BATCHES]; /* enum batch_state */
	int retried_then_acked;           /* needed more than one try */
	atomic_int
	    spooled; /* answers with "spooled":true; read while running */
};

static char db[1024];
static struct harness_server srv;    /* the main thread's */
static struct harness_server shared; /* what the workers talk to */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool stop_load;
static struct worker workers[WORKERS];

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Makes the workers talk to srv as it is now. */
static void
publish_server(void)
{
	pthread_mutex_lock(&shared_lock);
	shared = srv;
	pthread_mutex_unlock(&shared_lock);
}

static char *
batch_body(int worker, int batch)
{
	char *body = malloc(1024);
	size_t used = 1;

	ck_assert_ptr_nonnull(body);
	strcpy(body, "[");
	for (int k = 0; k < EVENTS_PER_BATCH; k++)
		used += (size_t)snprintf(body + used, 1024 - used,
		    "%s{\"event_id\":\"w%d-%d-%d\",\"type\":\"%s\","
		    "\"contact_id\":\"fc-%d\",\"message_id\":\"fm-%d-%d\","
		    "\"occurred_at\":\"2025-12-30T09:00:%02dZ\"}",
		    k > 0 ? "," : "", worker, batch, k,
		    k == 0 ? "delivered" : "open", (batch + worker) % 11,
		    worker, batch, k);
	snprintf(body + used, 1024 - used, "]");
	return body;
}

/* Posts one batch until it gets a 2xx or RETRY_FOR_S passes. */
static void
post_batch(struct worker *w, int batch)
{
	char *body = batch_body(w->index, batch);
	double give_up = now_s() + RETRY_FOR_S;
	int tries = 0;

	w->state[batch] = BATCH_GAVE_UP;
	while (now_s() < give_up) {
		struct harness_server target;
		struct harness_reply reply;
		long status;

		pthread_mutex_lock(&shared_lock);
		target = shared;
		pthread_mutex_unlock(&shared_lock);
		tries++;
		status = harness_send_json(
		    &target, "POST", "/v1/events", body, &reply);
		if (status >= 200 && status < 300) {
			w->state[batch] = BATCH_ACKED;
			w->retried_then_acked += tries > 1;
			if (strstr(reply.body, "\"spooled\":true") != NULL)
				atomic_fetch_add(&w->spooled, 1);
			harness_reply_free(&reply);
			break;
		}
		harness_reply_free(&reply);
		sleep_ms(100);
	}
	free(body);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	while (!atomic_load(&stop_load) && w->batches < MAX_BATCHES) {
		post_batch(w, w->batches++);
		sleep_ms(15);
	}
	return NULL;
}

static long
readyz_status(long *spool_bytes)
{
	struct harness_reply reply;
	long status =
	    harness_http(&srv, "GET", "/readyz", NULL, NULL, 0, &reply);

	*spool_bytes = -1;
	if (status != 0) {
		json_t *j = harness_json_parse(reply.body);

		*spool_bytes =
		    (long)json_integer_value(json_object_get(j, "spool_bytes"));
		json_decref(j);
	}
	harness_reply_free(&reply);
	return status;
}

/* Waits for /readyz to say 200 (and, when asked, an empty spool). */
static void
wait_ready(bool spool_empty)
{
	double deadline = now_s() + WAIT_S;
	long status = 0, bytes = -1;

	while (now_s() < deadline) {
		status = readyz_status(&bytes);
		if (status == 200 && (!spool_empty || bytes == 0))
			return;
		sleep_ms(100);
	}
	ck_abort_msg("/readyz: %ld with spool_bytes %ld after %d s", status,
	    bytes, WAIT_S);
}

static int
spooled_so_far(void)
{
	int n = 0;

	for (int i = 0; i < WORKERS; i++)
		n += atomic_load(&workers[i].spooled);
	return n;
}

/* Waits until some worker has had a spooled answer since before. */
static void
wait_spooled(int before)
{
	double deadline = now_s() + WAIT_S;

	while (now_s() < deadline) {
		if (spooled_so_far() > before)
			return;
		sleep_ms(50);
	}
	ck_abort_msg("no request was spooled within %d s", WAIT_S);
}

static void
fault_pg_outage(void)
{
	long bytes;
	int before = spooled_so_far();

	harness_pg_stop();
	/* readiness follows the database */
	ck_assert_int_eq(readyz_status(&bytes), 503);
	wait_spooled(before);
	sleep_ms(3000);
	harness_pg_start();
	wait_ready(false);
}

static void
fault_terminate_backends(void)
{
	long killed = harness_sql_int(db,
	    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
	    " WHERE datname = current_database() AND pid <> pg_backend_pid()");

	ck_assert_int_gt(killed, 0);
	sleep_ms(1000);
	wait_ready(false);
}

static void
fault_sigterm(void)
{
	ck_assert_int_eq(harness_server_stop(&srv), 0);
	sleep_ms(300);
	harness_server_restart(&srv, db, NULL);
	publish_server();
	wait_ready(false);
}

static void
fault_sigkill_with_spool(void)
{
	int before = spooled_so_far();
	long bytes;

	harness_pg_stop();
	wait_spooled(before);
	sleep_ms(500);
	ck_assert_int_eq(readyz_status(&bytes), 503);
	ck_assert_int_gt(bytes, 0);
	harness_server_kill(&srv);
	harness_server_restart(&srv, db, NULL);
	publish_server();
	/* the new process found the records; the database is still down */
	ck_assert_int_eq(readyz_status(&bytes), 503);
	ck_assert_int_gt(bytes, 0);
	sleep_ms(500);
	harness_pg_start();
	wait_ready(false);
}

/* "('w0-1'),('w0-2'),..." for the batches in state; "" when none. */
static char *
batch_values(enum batch_state state, int *count)
{
	size_t cap = 64, used = 0;
	char *list = malloc(cap);

	ck_assert_ptr_nonnull(list);
	list[0] = '\0';
	*count = 0;
	for (int t = 0; t < WORKERS; t++)
		for (int b = 0; b < workers[t].batches; b++) {
			if (workers[t].state[b] != state)
				continue;
			if (used + 32 > cap) {
				cap *= 2;
				list = realloc(list, cap);
				ck_assert_ptr_nonnull(list);
			}
			used += (size_t)snprintf(list + used, cap - used,
			    "%s('w%d-%d')", *count > 0 ? "," : "", t, b);
			(*count)++;
		}
	return list;
}

/* Batches in values that are not stored as exactly want events. */
static long
batches_not_stored_as(const char *values, long want)
{
	char *sql;
	long n;

	if (values[0] == '\0')
		return 0;
	ck_assert_int_ge(asprintf(&sql,
			     "SELECT count(*) FROM (VALUES %s) v(b) LEFT JOIN"
			     " (SELECT substring(event_key from"
			     " '^(w[0-9]+-[0-9]+)-') AS b, count(*) AS n"
			     " FROM events GROUP BY 1) s USING (b)"
			     " WHERE coalesce(s.n, 0) <> %ld",
			     values, want),
	    0);
	n = harness_sql_int(db, sql);
	free(sql);
	return n;
}

static void
check_stored_exactly_once(void)
{
	int acked, gave_up, retried = 0;
	char *values = batch_values(BATCH_ACKED, &acked);
	char *lost = batch_values(BATCH_GAVE_UP, &gave_up);

	for (int i = 0; i < WORKERS; i++)
		retried += workers[i].retried_then_acked;
	printf("faults: %d batches acknowledged (%d after retries, %d "
	       "spooled), %d given up\n",
	    acked, retried, spooled_so_far(), gave_up);
	ck_assert_int_gt(acked, 50);
	ck_assert_int_gt(retried, 0);
	ck_assert_int_gt(spooled_so_far(), 0);
	/* every acknowledged batch, retried or not: all its events, once */
	ck_assert_int_eq(batches_not_stored_as(values, EVENTS_PER_BATCH), 0);
	/* no event stored twice, no batch stored in part */
	ck_assert_int_eq(harness_sql_int(db,
			     "SELECT count(*) FROM (SELECT provider, event_key"
			     " FROM events GROUP BY 1, 2 HAVING count(*) > 1)"
			     " d"),
	    0);
	ck_assert_int_eq(harness_sql_int(db,
			     "SELECT count(*) FROM (SELECT substring(event_key"
			     " from '^(w[0-9]+-[0-9]+)-') FROM events GROUP BY"
			     " 1 HAVING count(*) <> 4) d"),
	    0);
	/* no orphans: every event has its contact, every message an event */
	ck_assert_int_eq(harness_sql_int(db,
			     "SELECT count(*) FROM events e WHERE NOT EXISTS"
			     " (SELECT 1 FROM contacts c WHERE c.account_id ="
			     " e.account_id AND c.contact_pk = e.contact_pk)"),
	    0);
	ck_assert_int_eq(harness_sql_int(db,
			     "SELECT count(*) FROM messages m WHERE NOT EXISTS"
			     " (SELECT 1 FROM events e WHERE e.account_id ="
			     " m.account_id AND e.contact_pk = m.contact_pk"
			     " AND e.message_id = m.message_id)"),
	    0);
	/* stored events are acknowledged ones, or given-up ones stored whole */
	ck_assert_int_le(harness_sql_int(db, "SELECT count(*) FROM events"),
	    (long)(acked + gave_up) * EVENTS_PER_BATCH);
	free(values);
	free(lost);
}

START_TEST(faults_under_load)
{
	struct harness_reply reply;

	harness_db_create("faults", db, sizeof(db));
	harness_server_start(&srv, db, NULL);
	/* the first call initialises libcurl, before any thread does */
	ck_assert_int_eq(
	    harness_get(&srv, "/v1/contacts/nobody/scorecard", &reply), 404);
	harness_reply_free(&reply);
	publish_server();
	memset(workers, 0, sizeof(workers));
	for (int i = 0; i < WORKERS; i++) {
		workers[i].index = i;
		ck_assert_int_eq(pthread_create(&workers[i].thread, NULL,
				     worker_main, &workers[i]),
		    0);
	}
	sleep_ms(1000);

	fault_pg_outage();
	sleep_ms(500);
	fault_terminate_backends();
	sleep_ms(500);
	fault_sigterm();
	sleep_ms(500);
	fault_sigkill_with_spool();
	sleep_ms(500);

	atomic_store(&stop_load, true);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(workers[i].thread, NULL);
	wait_ready(true);
	check_stored_exactly_once();
	ck_assert_int_eq(harness_server_stop(&srv), 0);
}
END_TEST

static void
teardown(void)
{
	/* a failed step may have left the cluster stopped */
	harness_pg_start();
}

static Suite *
faults_suite(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("under load");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, faults_under_load);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(faults_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
