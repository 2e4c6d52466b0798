/*
 * check_spool.c - unit tests of the local spool: the checksum, a round trip
 * of every event field, damage (a flipped byte, a torn tail, a lost read
 * position), the size limit, appends from many threads, and the loader's
 * retries and moving a refused record aside.
 *
 * Every test works in a fresh directory under /tmp and needs no database:
 * the loader is given a commit function of the test's own.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/metrics.h"
#include "core/xmalloc.h"
#include "ingest/spool.h"

static char dir[256];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_spool.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *
path_of(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static long
file_size(const char *name)
{
	char *path = path_of(name);
	struct stat st;
	long size = stat(path, &st) == 0 ? (long)st.st_size : -1;

	free(path);
	return size;
}

static struct spool *
open_spool(int64_t max_bytes)
{
	struct spool *sp = NULL;
	struct err err = { 0 };

	ck_assert_msg(
	    spool_open(dir, max_bytes, &sp, &err), "open: %s", err.message);
	ck_assert_ptr_nonnull(sp);
	return sp;
}

/* A batch of one minimal event whose id is id. */
static void
one_event(struct event_batch *batch, const char *id)
{
	struct event *ev = event_batch_push(batch);

	ev->event_id = xstrdup(id);
	ev->type = EVENT_DELIVERED;
	ev->contact_id = xstrdup("c-1");
	ev->message_id = xstrdup("m-1");
	ev->occurred_at_ms = 1767085200000LL;
}

static void
append_id(struct spool *sp, const char *id)
{
	struct event_batch batch = { 0 };
	struct err err = { 0 };

	one_event(&batch, id);
	ck_assert_msg(spool_append(sp, 1, "native", 0, &batch, &err),
	    "append %s: %s", id, err.message);
	event_batch_clear(&batch);
}

/* Reads the next record and checks that it holds event id. */
static void
expect_next(struct spool *sp, const char *id)
{
	struct spool_record rec;
	struct err err = { 0 };

	ck_assert_int_eq(spool_next(sp, &rec, &err), 1);
	ck_assert_uint_eq(rec.batch.count, 1);
	ck_assert_str_eq(rec.batch.items[0].event_id, id);
	ck_assert_msg(spool_consume(sp, &rec, &err), "%s", err.message);
	spool_record_clear(&rec);
}

static void
expect_empty(struct spool *sp)
{
	struct spool_record rec;
	struct err err = { 0 };

	ck_assert_int_eq(spool_next(sp, &rec, &err), 0);
	ck_assert_uint_eq(spool_pending_bytes(sp), 0);
}

START_TEST(test_crc32c)
{
	/* the standard check value of CRC-32C */
	ck_assert_uint_eq(spool_crc32c("123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(spool_crc32c("", 0), 0);
	ck_assert_uint_ne(
	    spool_crc32c("123456789", 9), spool_crc32c("123456788", 9));
}
END_TEST

static void
full_event(struct event *ev)
{
	ev->event_id = xstrdup("sg-\"quoted\"-\xc3\xa9");
	ev->type = EVENT_CLICK;
	ev->contact_id = xstrdup("c-42");
	ev->email = xstrdup("ann@example.com");
	ev->message_id = xstrdup("m-7");
	ev->campaign_id = xstrdup("spring");
	ev->occurred_at_ms = 1767085300123LL;
	ev->url = xstrdup("https://example.com/a?b=c&d=\xe2\x82\xac");
	ev->user_agent = xstrdup("Mozilla/5.0 (X11)");
	ev->ip = xstrdup("203.0.113.0");
	ev->bounce = BOUNCE_SOFT;
	ev->flags = EVENT_FLAG_SENDER_BOT | EVENT_FLAG_FIRST_OPEN;
	ev->verdict = VERDICT_SCANNER;
}

static void
assert_same_event(const struct event *a, const struct event *b)
{
	ck_assert_pstr_eq(a->event_id, b->event_id);
	ck_assert_int_eq(a->type, b->type);
	ck_assert_pstr_eq(a->contact_id, b->contact_id);
	ck_assert_pstr_eq(a->email, b->email);
	ck_assert_pstr_eq(a->message_id, b->message_id);
	ck_assert_pstr_eq(a->campaign_id, b->campaign_id);
	ck_assert_int_eq(a->occurred_at_ms, b->occurred_at_ms);
	ck_assert_pstr_eq(a->url, b->url);
	ck_assert_pstr_eq(a->user_agent, b->user_agent);
	ck_assert_pstr_eq(a->ip, b->ip);
	ck_assert_int_eq(a->bounce, b->bounce);
	ck_assert_uint_eq(a->flags, b->flags);
	ck_assert_int_eq(a->verdict, b->verdict);
}

START_TEST(test_round_trip_every_field)
{
	struct spool *sp = open_spool(1 << 20);
	struct event_batch batch = { 0 };
	struct spool_record rec;
	struct err err = { 0 };
	struct event *bare;

	full_event(event_batch_push(&batch));
	bare = event_batch_push(&batch);
	bare->event_id = xstrdup("bare");
	bare->type = EVENT_UNSUBSCRIBE;
	bare->email = xstrdup("bob@example.org");
	bare->occurred_at_ms = -5;
	ck_assert(
	    spool_append(sp, 77, "sendgrid", 1767090000001LL, &batch, &err));
	ck_assert_uint_eq(spool_pending_bytes(sp), file_size("spool.dat"));
	ck_assert_int_eq(
	    metrics_gauge_get(GAUGE_SPOOL_BYTES), file_size("spool.dat"));

	ck_assert_int_eq(spool_next(sp, &rec, &err), 1);
	ck_assert_int_eq(rec.account_id, 77);
	ck_assert_str_eq(rec.provider, "sendgrid");
	ck_assert_int_eq(rec.received_ms, 1767090000001LL);
	ck_assert_int_eq(rec.offset, 0);
	ck_assert_int_eq(rec.end, file_size("spool.dat"));
	ck_assert_int_gt(rec.created_ms, 1700000000000LL);
	ck_assert_uint_eq(rec.batch.count, 2);
	assert_same_event(&rec.batch.items[0], &batch.items[0]);
	assert_same_event(&rec.batch.items[1], &batch.items[1]);
	ck_assert_ptr_null(rec.batch.items[1].contact_id);
	ck_assert_ptr_null(rec.batch.items[1].ip);

	/* loaded: the file is emptied and the gauges drop to zero */
	ck_assert(spool_consume(sp, &rec, &err));
	spool_record_clear(&rec);
	expect_empty(sp);
	ck_assert_int_eq(file_size("spool.dat"), 0);
	ck_assert_int_eq(metrics_gauge_get(GAUGE_SPOOL_BYTES), 0);
	ck_assert_int_eq(metrics_gauge_get(GAUGE_SPOOL_OLDEST_AGE_S), 0);
	event_batch_clear(&batch);
	spool_close(sp);
}
END_TEST

START_TEST(test_position_survives_reopen)
{
	struct spool *sp = open_spool(1 << 20);
	long one;

	append_id(sp, "a");
	one = file_size("spool.dat");
	append_id(sp, "b");
	append_id(sp, "c");
	expect_next(sp, "a");
	ck_assert_uint_eq(
	    spool_pending_bytes(sp), file_size("spool.dat") - one);
	spool_close(sp);

	sp = open_spool(1 << 20);
	ck_assert_uint_eq(
	    spool_pending_bytes(sp), file_size("spool.dat") - one);
	expect_next(sp, "b");
	expect_next(sp, "c");
	expect_empty(sp);
	spool_close(sp);

	/* empty again: a restart finds nothing to load */
	sp = open_spool(1 << 20);
	expect_empty(sp);
	spool_close(sp);
}
END_TEST

static void
flip_byte(const char *name, long offset)
{
	char *path = path_of(name);
	int fd = open(path, O_RDWR);
	unsigned char b;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, offset), 1);
	b ^= 0x20;
	ck_assert_int_eq(pwrite(fd, &b, 1, offset), 1);
	close(fd);
	free(path);
}

START_TEST(test_flipped_payload_byte_is_skipped)
{
	struct spool *sp = open_spool(1 << 20);
	long one;

	append_id(sp, "first");
	one = file_size("spool.dat");
	append_id(sp, "second");
	spool_close(sp);
	/* a byte inside the first payload: its CRC no longer matches */
	flip_byte("spool.dat", SPOOL_HEADER_SIZE + 10);

	sp = open_spool(1 << 20);
	/* damage in the middle is kept for the loader, which skips it */
	ck_assert_uint_eq(spool_pending_bytes(sp), file_size("spool.dat"));
	ck_assert_int_gt(one, 0);
	expect_next(sp, "second");
	expect_empty(sp);
	spool_close(sp);
}
END_TEST

START_TEST(test_flipped_header_byte_is_skipped)
{
	struct spool *sp = open_spool(1 << 20);
	long one;

	append_id(sp, "first");
	one = file_size("spool.dat");
	append_id(sp, "second");
	append_id(sp, "third");
	spool_close(sp);
	/* the length field of the second record */
	flip_byte("spool.dat", one + 9);

	sp = open_spool(1 << 20);
	expect_next(sp, "first");
	expect_next(sp, "third");
	expect_empty(sp);
	spool_close(sp);
}
END_TEST

START_TEST(test_torn_tail_is_cut_and_appends_go_on)
{
	struct spool *sp = open_spool(1 << 20);
	char *path = path_of("spool.dat");
	long two;

	append_id(sp, "r1");
	append_id(sp, "r2");
	two = file_size("spool.dat");
	append_id(sp, "r3");
	spool_close(sp);
	/* a crash in the middle of writing r3 */
	ck_assert_int_eq(truncate(path, two + SPOOL_HEADER_SIZE + 7), 0);

	sp = open_spool(1 << 20);
	ck_assert_int_eq(file_size("spool.dat"), two);
	ck_assert_uint_eq(spool_pending_bytes(sp), two);
	append_id(sp, "r4");
	expect_next(sp, "r1");
	expect_next(sp, "r2");
	expect_next(sp, "r4");
	expect_empty(sp);
	spool_close(sp);

	/* a tail cut inside the header itself */
	sp = open_spool(1 << 20);
	append_id(sp, "s1");
	two = file_size("spool.dat");
	append_id(sp, "s2");
	spool_close(sp);
	ck_assert_int_eq(truncate(path, two + 5), 0);
	sp = open_spool(1 << 20);
	expect_next(sp, "s1");
	expect_empty(sp);
	spool_close(sp);
	free(path);
}
END_TEST

START_TEST(test_damaged_position_replays_everything)
{
	struct spool *sp = open_spool(1 << 20);

	append_id(sp, "a");
	append_id(sp, "b");
	expect_next(sp, "a");
	spool_close(sp);
	flip_byte("spool.pos", 6);

	/* replaying is safe: the database de-duplicates by event id */
	sp = open_spool(1 << 20);
	expect_next(sp, "a");
	expect_next(sp, "b");
	expect_empty(sp);
	spool_close(sp);
}
END_TEST

START_TEST(test_size_limit_refuses)
{
	struct spool *sp = open_spool(1 << 20);
	struct event_batch batch = { 0 };
	struct err err = { 0 };
	long one, before;
	int stored = 0;

	append_id(sp, "idX");
	one = file_size("spool.dat");
	expect_next(sp, "idX");
	spool_close(sp);

	/* room for three records of that size and a half */
	sp = open_spool(one * 7 / 2);
	for (int i = 0; i < 10; i++) {
		char id[16];

		snprintf(id, sizeof(id), "id%d", i);
		one_event(&batch, id);
		err_clear(&err);
		if (spool_append(sp, 1, "native", 0, &batch, &err))
			stored++;
		event_batch_clear(&batch);
	}
	ck_assert_int_eq(stored, 3);
	ck_assert_int_eq(err.status, 503);
	ck_assert_str_eq(err.code, "spool_full");
	before = file_size("spool.dat");
	ck_assert_int_eq(before, 3 * one);

	/* a refused request leaves nothing behind */
	one_event(&batch, "late");
	ck_assert(!spool_append(sp, 1, "native", 0, &batch, &err));
	ck_assert_int_eq(file_size("spool.dat"), before);

	/* once loaded, there is room again */
	expect_next(sp, "id0");
	expect_next(sp, "id1");
	expect_next(sp, "id2");
	err_clear(&err);
	ck_assert(spool_append(sp, 1, "native", 0, &batch, &err));
	expect_next(sp, "late");
	event_batch_clear(&batch);
	spool_close(sp);
}
END_TEST

#define THREADS 8
#define PER_THREAD 40

struct appender {
	struct spool *sp;
	int index;
};

static void *
append_many(void *arg)
{
	struct appender *a = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		struct event_batch batch = { 0 };
		struct err err = { 0 };
		char id[32];

		snprintf(id, sizeof(id), "t%d-%d", a->index, i);
		one_event(&batch, id);
		if (!spool_append(a->sp, 1, "native", 0, &batch, &err))
			abort();
		event_batch_clear(&batch);
	}
	return NULL;
}

START_TEST(test_concurrent_appends_come_back_once)
{
	struct spool *sp = open_spool(1 << 24);
	pthread_t threads[THREADS];
	struct appender args[THREADS];
	int seen[THREADS][PER_THREAD];
	struct spool_record rec;
	struct err err = { 0 };
	int total = 0, next[THREADS] = { 0 };

	memset(seen, 0, sizeof(seen));
	for (int t = 0; t < THREADS; t++) {
		args[t].sp = sp;
		args[t].index = t;
		ck_assert_int_eq(
		    pthread_create(&threads[t], NULL, append_many, &args[t]),
		    0);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(threads[t], NULL);

	while (spool_next(sp, &rec, &err) == 1) {
		int t, i;

		ck_assert_int_eq(
		    sscanf(rec.batch.items[0].event_id, "t%d-%d", &t, &i), 2);
		seen[t][i]++;
		/* one thread's records keep their order */
		ck_assert_int_eq(i, next[t]);
		next[t] = i + 1;
		total++;
		ck_assert(spool_consume(sp, &rec, &err));
		spool_record_clear(&rec);
	}
	ck_assert_int_eq(total, THREADS * PER_THREAD);
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THREAD; i++)
			ck_assert_int_eq(seen[t][i], 1);
	expect_empty(sp);
	spool_close(sp);
}
END_TEST

START_TEST(test_creates_directory_and_locks_it)
{
	char *nested = path_of("a/b/spool");
	struct spool *sp = NULL, *other = NULL;
	struct err err = { 0 };
	struct stat st;

	ck_assert(spool_open(nested, 1 << 20, &sp, &err));
	ck_assert_int_eq(stat(nested, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	ck_assert(!spool_open(nested, 1 << 20, &other, &err));
	ck_assert_ptr_null(other);
	ck_assert_ptr_nonnull(strstr(err.message, "in use"));
	spool_close(sp);
	err_clear(&err);
	ck_assert(spool_open(nested, 1 << 20, &sp, &err));
	spool_close(sp);
	free(nested);
}
END_TEST

/* ---- the loader, with a commit function of our own ---- */

struct fake_db {
	pthread_mutex_t lock;
	int unavailable_left;  /* answer UNAVAILABLE this many times first */
	const char *refuse_id; /* always answer FAILED for this event id */
	int calls;
	char loaded[16][16];
	int loaded_count;
};

static enum spool_load
fake_load(void *ctx, const struct spool_record *rec, struct err *err)
{
	struct fake_db *db = ctx;
	const char *id = rec->batch.items[0].event_id;
	enum spool_load res = SPOOL_LOAD_OK;

	pthread_mutex_lock(&db->lock);
	db->calls++;
	if (db->unavailable_left > 0) {
		db->unavailable_left--;
		err_set(err, 503, "database_unavailable", "down");
		res = SPOOL_LOAD_UNAVAILABLE;
	} else if (db->refuse_id != NULL && strcmp(id, db->refuse_id) == 0) {
		err_set(err, 503, "database_unavailable", "refused");
		res = SPOOL_LOAD_FAILED;
	} else if (db->loaded_count < 16) {
		snprintf(db->loaded[db->loaded_count++], 16, "%s", id);
	}
	pthread_mutex_unlock(&db->lock);
	return res;
}

static bool
wait_empty(struct spool *sp, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		struct timespec ts = { 0, 10000000L };

		if (spool_pending_bytes(sp) == 0)
			return true;
		nanosleep(&ts, NULL);
	}
	return spool_pending_bytes(sp) == 0;
}

START_TEST(test_loader_waits_for_the_database)
{
	struct spool *sp = open_spool(1 << 20);
	struct fake_db db = { .unavailable_left = 3 };

	pthread_mutex_init(&db.lock, NULL);
	append_id(sp, "x1");
	append_id(sp, "x2");
	spool_set_retry(sp, 10, 40);
	spool_loader_start(sp, fake_load, &db);
	ck_assert(wait_empty(sp, 3000));
	spool_loader_stop(sp);
	ck_assert_int_eq(db.loaded_count, 2);
	ck_assert_str_eq(db.loaded[0], "x1");
	ck_assert_str_eq(db.loaded[1], "x2");
	/* three refusals, then one call per record */
	ck_assert_int_eq(db.calls, 5);
	ck_assert_int_eq(file_size("spool.dat"), 0);

	/* an append wakes the loader */
	spool_loader_start(sp, fake_load, &db);
	append_id(sp, "x3");
	ck_assert(wait_empty(sp, 3000));
	spool_loader_stop(sp);
	ck_assert_str_eq(db.loaded[2], "x3");
	spool_close(sp);
	pthread_mutex_destroy(&db.lock);
}
END_TEST

START_TEST(test_loader_moves_refused_record_aside)
{
	struct spool *sp = open_spool(1 << 20);
	struct fake_db db = { .refuse_id = "bad" };
	struct spool *aside;
	char *rejected = path_of("rejected");
	struct err err = { 0 };
	struct spool_record rec;
	long one, two;

	pthread_mutex_init(&db.lock, NULL);
	append_id(sp, "good1");
	one = file_size("spool.dat");
	append_id(sp, "bad");
	two = file_size("spool.dat");
	append_id(sp, "good2");
	spool_set_retry(sp, 5, 10);
	spool_loader_start(sp, fake_load, &db);
	ck_assert(wait_empty(sp, 3000));
	spool_loader_stop(sp);
	spool_close(sp);
	ck_assert_int_eq(db.loaded_count, 2);
	ck_assert_str_eq(db.loaded[0], "good1");
	ck_assert_str_eq(db.loaded[1], "good2");
	ck_assert_int_eq(db.calls, 2 + SPOOL_REJECT_AFTER);

	/* the refused record is kept, in the spool format */
	ck_assert_int_eq(file_size("rejected/spool.dat"), two - one);
	ck_assert(spool_open(rejected, 1 << 20, &aside, &err));
	ck_assert_int_eq(spool_next(aside, &rec, &err), 1);
	ck_assert_str_eq(rec.batch.items[0].event_id, "bad");
	spool_record_clear(&rec);
	spool_close(aside);
	free(rejected);
	pthread_mutex_destroy(&db.lock);
}
END_TEST

static Suite *
spool_suite(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("spool");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_crc32c);
	tcase_add_test(tc, test_round_trip_every_field);
	tcase_add_test(tc, test_position_survives_reopen);
	tcase_add_test(tc, test_flipped_payload_byte_is_skipped);
	tcase_add_test(tc, test_flipped_header_byte_is_skipped);
	tcase_add_test(tc, test_torn_tail_is_cut_and_appends_go_on);
	tcase_add_test(tc, test_damaged_position_replays_everything);
	tcase_add_test(tc, test_size_limit_refuses);
	tcase_add_test(tc, test_concurrent_appends_come_back_once);
	tcase_add_test(tc, test_creates_directory_and_locks_it);
	tcase_add_test(tc, test_loader_waits_for_the_database);
	tcase_add_test(tc, test_loader_moves_refused_record_aside);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(spool_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
