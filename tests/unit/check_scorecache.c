/*
 * check_scorecache.c - unit tests of the scorecard cache's structure and
 * of its notification payloads: a row comes back exactly as stored; the
 * byte budget holds and CLOCK keeps what is read; entries expire with the
 * TTL, with the 30-day counts and when the clock goes back; a fill that a
 * write overtook is refused; suspension; and, with threads, no read ever
 * sees a row older than the last write acknowledged before it began.
 *
 * No database: rows are made up here, and the clock is a parameter.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store/scorecache.h"
#include "store/scoresync.h"

#define TTL_MS 60000
#define T0 1767261600000LL /* 2026-01-01T10:00:00Z */

/* A row with every field set from seed, so rows of different seeds differ
 * everywhere. */
static void
make_row(struct store_contact *row, const char *crm_id, int64_t pk, int seed)
{
	char email[64];

	memset(row, 0, sizeof(*row));
	snprintf(email, sizeof(email), "%s-%d@example.com", crm_id, seed);
	row->contact_pk = pk;
	row->crm_id = xstrdup(crm_id);
	row->email = xstrdup(email);
	row->joined_at_ms = T0 - 86400000LL * seed;
	row->summary.n = 40 + seed;
	row->summary.x = 20 + seed;
	row->summary.t_x = 39 + seed;
	row->summary.history_len = (seed * 37) % (MODEL_HISTORY_MAX + 1);
	for (int i = 0; i < row->summary.history_len; i++)
		row->summary.history[i] = (uint8_t)((i * seed + i / 3) % 2);
	row->summary.clicks = 7 + seed;
	row->summary.suppressed = seed % 2 == 1;
	row->messages_delivered = 50 + seed;
	row->machine_opens = 3 + seed;
	row->scanner_clicks = 2 + seed;
	row->last_open_at_ms = T0 - 1000 * seed;
	row->last_click_at_ms = T0 - 2000 * seed;
	row->opens_30d = 4 + seed;
	row->clicks_30d = 1 + seed;
	row->hard_bounced = seed % 2 == 1;
	row->unsubscribed = seed % 3 == 0;
	row->complained = seed % 5 == 0;
	row->scored = seed % 7 != 0;
	row->stored.score = 12.5 + seed;
	row->stored.predicted_open_rate = 0.123456789 * seed;
	row->stored.p_alive = 1.0 / (seed + 3);
	row->stored.risk = 99.0 / (seed + 1);
	row->stored.band = (enum model_band)(seed % 5);
	row->stored.recommendation = (enum model_recommendation)(seed % 4);
	row->stored.confidence = (enum model_confidence)(seed % 3);
	row->stored.trend = (enum model_trend)(seed % 3);
}

static void
assert_same_row(const struct store_contact *a, const struct store_contact *b)
{
	ck_assert_int_eq(a->contact_pk, b->contact_pk);
	ck_assert_str_eq(a->crm_id, b->crm_id);
	if (a->email == NULL)
		ck_assert_ptr_null(b->email);
	else
		ck_assert_str_eq(a->email, b->email);
	ck_assert_int_eq(a->joined_at_ms, b->joined_at_ms);
	ck_assert_int_eq(a->summary.n, b->summary.n);
	ck_assert_int_eq(a->summary.x, b->summary.x);
	ck_assert_int_eq(a->summary.t_x, b->summary.t_x);
	ck_assert_int_eq(a->summary.history_len, b->summary.history_len);
	ck_assert_mem_eq(a->summary.history, b->summary.history,
	    (size_t)a->summary.history_len);
	ck_assert_int_eq(a->summary.clicks, b->summary.clicks);
	ck_assert(a->summary.suppressed == b->summary.suppressed);
	ck_assert_int_eq(a->messages_delivered, b->messages_delivered);
	ck_assert_int_eq(a->machine_opens, b->machine_opens);
	ck_assert_int_eq(a->scanner_clicks, b->scanner_clicks);
	ck_assert_int_eq(a->last_open_at_ms, b->last_open_at_ms);
	ck_assert_int_eq(a->last_click_at_ms, b->last_click_at_ms);
	ck_assert_int_eq(a->opens_30d, b->opens_30d);
	ck_assert_int_eq(a->clicks_30d, b->clicks_30d);
	ck_assert_int_eq(a->counts_change_at_ms, b->counts_change_at_ms);
	ck_assert(a->hard_bounced == b->hard_bounced);
	ck_assert(a->unsubscribed == b->unsubscribed);
	ck_assert(a->complained == b->complained);
	ck_assert(a->scored == b->scored);
	/* bit for bit: the JSON prints these with all their digits */
	ck_assert_mem_eq(&a->stored, &b->stored, sizeof(a->stored));
}

static struct scorecache *
active_cache(size_t max_bytes)
{
	struct scorecache *cache = scorecache_new(max_bytes, TTL_MS);

	scorecache_resume(cache);
	return cache;
}

/* Stores make_row(crm_id, pk, seed) with a fresh ticket. */
static bool
put_row(struct scorecache *cache, int64_t account, const char *crm_id,
    int64_t pk, int seed, int64_t now)
{
	struct store_contact row;
	bool stored;

	make_row(&row, crm_id, pk, seed);
	stored =
	    scorecache_put(cache, account, &row, scorecache_ticket(cache), now);
	store_contact_free(&row);
	return stored;
}

/* The opens_30d of the cached row, or -1 on a miss. */
static int
cached_opens(
    struct scorecache *cache, int64_t account, const char *crm_id, int64_t now)
{
	struct store_contact got;
	int opens;

	if (!scorecache_get(cache, account, crm_id, now, &got))
		return -1;
	opens = got.opens_30d;
	store_contact_free(&got);
	return opens;
}

START_TEST(test_round_trip)
{
	struct scorecache *cache = active_cache(1 << 20);

	for (int seed = 0; seed < 40; seed++) {
		struct store_contact row, got;
		char id[32];

		snprintf(id, sizeof(id), "crm-%d", seed);
		make_row(&row, id, 1000 + seed, seed);
		if (seed == 3) {
			free(row.email);
			row.email = NULL;
		}
		ck_assert(scorecache_put(
		    cache, 1, &row, scorecache_ticket(cache), T0));
		ck_assert(scorecache_get(cache, 1, id, T0 + 1, &got));
		assert_same_row(&row, &got);
		store_contact_free(&got);
		store_contact_free(&row);
	}
	/* the key is the account and the CRM id together */
	ck_assert_int_eq(cached_opens(cache, 2, "crm-1", T0), -1);
	ck_assert_int_eq(cached_opens(cache, 1, "crm-100", T0), -1);
	scorecache_free(cache);
}
END_TEST

START_TEST(test_replace_keeps_one_entry)
{
	struct scorecache *cache = active_cache(1 << 20);
	struct scorecache_stats st;

	ck_assert(put_row(cache, 1, "c-1", 10, 1, T0));
	ck_assert(put_row(cache, 1, "c-1", 10, 2, T0));
	ck_assert_int_eq(cached_opens(cache, 1, "c-1", T0), 4 + 2);
	scorecache_stats(cache, &st);
	ck_assert_uint_eq(st.entries, 1);
	scorecache_free(cache);
}
END_TEST

START_TEST(test_budget_and_eviction)
{
	size_t budget = 64 * 1024;
	struct scorecache *cache = active_cache(budget);
	struct scorecache_stats st;
	int present = 0;

	for (int i = 0; i < 5000; i++) {
		char id[32];

		snprintf(id, sizeof(id), "c-%d", i);
		ck_assert(put_row(cache, 1, id, i + 1, i % 50, T0));
		scorecache_stats(cache, &st);
		ck_assert_uint_le(st.bytes, budget);
	}
	ck_assert_uint_gt(st.evictions, 0);
	ck_assert_uint_lt(st.entries, 5000);
	for (int i = 0; i < 5000; i++) {
		char id[32];

		snprintf(id, sizeof(id), "c-%d", i);
		present += cached_opens(cache, 1, id, T0) >= 0;
	}
	ck_assert_int_eq((uint64_t)present, st.entries);
	scorecache_free(cache);
}
END_TEST

/* CLOCK passes over what was read since its last pass and takes the
 * rest: a row read after every insert outlives thousands of others. */
START_TEST(test_clock_keeps_read_rows)
{
	struct scorecache *cache = active_cache(64 * 1024);

	ck_assert(put_row(cache, 1, "hot", 1, 1, T0));
	ck_assert(put_row(cache, 1, "cold", 2, 1, T0));
	for (int i = 0; i < 5000; i++) {
		char id[32];

		snprintf(id, sizeof(id), "c-%d", i);
		ck_assert(put_row(cache, 1, id, i + 10, i % 50, T0));
		ck_assert_int_ge(cached_opens(cache, 1, "hot", T0), 0);
	}
	ck_assert_int_eq(cached_opens(cache, 1, "cold", T0), -1);
	scorecache_free(cache);
}
END_TEST

START_TEST(test_row_too_large_is_not_stored)
{
	/* 16 shards of 1 KiB: the bucket arrays alone take most of one */
	struct scorecache *cache = active_cache(16 * 1024);
	struct store_contact row;
	char *email = xcalloc(1, 4000);

	make_row(&row, "big", 1, 1);
	memset(email, 'a', 3000);
	free(row.email);
	row.email = email;
	ck_assert(
	    !scorecache_put(cache, 1, &row, scorecache_ticket(cache), T0));
	ck_assert_int_eq(cached_opens(cache, 1, "big", T0), -1);
	store_contact_free(&row);
	scorecache_free(cache);
}
END_TEST

START_TEST(test_ttl)
{
	struct scorecache *cache = active_cache(1 << 20);

	ck_assert(put_row(cache, 1, "c-1", 1, 1, T0));
	ck_assert_int_ge(cached_opens(cache, 1, "c-1", T0 + TTL_MS - 1), 0);
	ck_assert_int_eq(cached_opens(cache, 1, "c-1", T0 + TTL_MS), -1);
	/* the expired entry is gone, not just hidden */
	ck_assert_int_eq(cached_opens(cache, 1, "c-1", T0), -1);
	scorecache_free(cache);
}
END_TEST

START_TEST(test_counts_window_expiry)
{
	struct scorecache *cache = active_cache(1 << 20);
	struct store_contact row;

	make_row(&row, "c-1", 1, 1);
	row.counts_change_at_ms = T0 + 5000;
	ck_assert(scorecache_put(cache, 1, &row, scorecache_ticket(cache), T0));
	ck_assert_int_ge(cached_opens(cache, 1, "c-1", T0 + 4999), 0);
	ck_assert_int_eq(cached_opens(cache, 1, "c-1", T0 + 5000), -1);
	/* a change later than the TTL leaves the TTL in charge */
	row.counts_change_at_ms = T0 + 10 * TTL_MS;
	ck_assert(scorecache_put(cache, 1, &row, scorecache_ticket(cache), T0));
	ck_assert_int_eq(cached_opens(cache, 1, "c-1", T0 + TTL_MS), -1);
	store_contact_free(&row);
	scorecache_free(cache);
}
END_TEST

START_TEST(test_clock_going_back)
{
	struct scorecache *cache = active_cache(1 << 20);

	ck_assert(put_row(cache, 1, "c-1", 1, 1, T0));
	ck_assert_int_eq(cached_opens(cache, 1, "c-1", T0 - 1), -1);
	scorecache_free(cache);
}
END_TEST

START_TEST(test_invalidation_refuses_older_fill)
{
	struct scorecache *cache = active_cache(1 << 20);
	struct store_contact row;
	int64_t pk = 42, other = 43;
	uint64_t ticket;

	make_row(&row, "c-42", pk, 1);
	/* a read takes its ticket and queries; a write commits and
	 * invalidates; then the read tries to fill */
	ticket = scorecache_ticket(cache);
	scorecache_invalidate_contacts(cache, 1, &pk, 1);
	ck_assert(!scorecache_put(cache, 1, &row, ticket, T0));
	ck_assert_int_eq(cached_opens(cache, 1, "c-42", T0), -1);
	/* a read that began after the write may fill */
	ck_assert(scorecache_put(cache, 1, &row, scorecache_ticket(cache), T0));
	ck_assert_int_ge(cached_opens(cache, 1, "c-42", T0), 0);
	/* a write to another contact does not hold this one's fill back */
	ticket = scorecache_ticket(cache);
	scorecache_invalidate_contacts(cache, 1, &other, 1);
	ck_assert(scorecache_put(cache, 1, &row, ticket, T0));
	store_contact_free(&row);
	scorecache_free(cache);
}
END_TEST

START_TEST(test_invalidation_removes_entries)
{
	struct scorecache *cache = active_cache(1 << 20);
	int64_t pks[] = { 5, 7 };
	struct scorecache_stats st;

	ck_assert(put_row(cache, 1, "a", 5, 1, T0));
	ck_assert(put_row(cache, 1, "b", 6, 1, T0));
	ck_assert(put_row(cache, 1, "c", 7, 1, T0));
	ck_assert(
	    put_row(cache, 2, "a", 5, 1, T0)); /* same numbers, account 2 */
	scorecache_invalidate_contacts(cache, 1, pks, 2);
	ck_assert_int_eq(cached_opens(cache, 1, "a", T0), -1);
	ck_assert_int_ge(cached_opens(cache, 1, "b", T0), 0);
	ck_assert_int_eq(cached_opens(cache, 1, "c", T0), -1);
	ck_assert_int_ge(cached_opens(cache, 2, "a", T0), 0);
	scorecache_stats(cache, &st);
	ck_assert_uint_eq(st.invalidations, 2);
	scorecache_free(cache);
}
END_TEST

START_TEST(test_account_flush)
{
	struct scorecache *cache = active_cache(1 << 20);
	struct store_contact row;
	uint64_t ticket;

	for (int i = 0; i < 100; i++) {
		char id[16];

		snprintf(id, sizeof(id), "c-%d", i);
		ck_assert(put_row(cache, 1 + i % 2, id, i + 1, 1, T0));
	}
	make_row(&row, "late", 1000, 1);
	ticket = scorecache_ticket(cache);
	scorecache_invalidate_account(cache, 1);
	for (int i = 0; i < 100; i++) {
		char id[16];

		snprintf(id, sizeof(id), "c-%d", i);
		ck_assert_int_eq(
		    cached_opens(cache, 1 + i % 2, id, T0) >= 0, i % 2 == 1);
	}
	ck_assert(!scorecache_put(cache, 1, &row, ticket, T0));
	store_contact_free(&row);
	scorecache_free(cache);
}
END_TEST

START_TEST(test_suspended)
{
	struct scorecache *cache = scorecache_new(1 << 20, TTL_MS);
	uint64_t ticket;

	/* a new cache answers nothing until someone listens */
	ck_assert(!scorecache_active(cache));
	ck_assert(!put_row(cache, 1, "c-1", 1, 1, T0));
	ticket = scorecache_ticket(cache);
	scorecache_resume(cache);
	ck_assert(put_row(cache, 1, "c-1", 1, 1, T0));
	ck_assert_int_ge(cached_opens(cache, 1, "c-1", T0), 0);
	scorecache_suspend(cache);
	ck_assert_int_eq(cached_opens(cache, 1, "c-1", T0), -1);
	ck_assert(!put_row(cache, 1, "c-1", 1, 1, T0));
	scorecache_resume(cache);
	/* emptied, and a read begun before the resume may not fill */
	ck_assert_int_eq(cached_opens(cache, 1, "c-1", T0), -1);
	{
		struct store_contact row;

		make_row(&row, "c-1", 1, 1);
		ck_assert(!scorecache_put(cache, 1, &row, ticket, T0));
		store_contact_free(&row);
	}
	scorecache_free(cache);
}
END_TEST

/*
 * A model of the database: one contact whose version the writer raises
 * and then invalidates, and readers that read through the cache.  Every
 * read must see at least the version acknowledged before it began.
 */
#define RACE_CONTACTS 8
#define RACE_WRITES 20000

struct race {
	struct scorecache *cache;
	pthread_mutex_t db_lock;
	int db_version[RACE_CONTACTS];
	atomic_int acked[RACE_CONTACTS];
	atomic_bool done;
	atomic_long stale;
	atomic_long hits;
};

static void *
race_writer(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < RACE_WRITES; i++) {
		int64_t pk = i % RACE_CONTACTS;
		int version;

		pthread_mutex_lock(&r->db_lock);
		version = ++r->db_version[pk];
		pthread_mutex_unlock(&r->db_lock);
		scorecache_invalidate_contacts(r->cache, 1, &pk, 1);
		atomic_store(&r->acked[pk], version);
		/* let the readers find a cached row now and then */
		sched_yield();
	}
	atomic_store(&r->done, true);
	return NULL;
}

static void *
race_reader(void *arg)
{
	struct race *r = arg;
	unsigned n = 0;

	while (!atomic_load(&r->done)) {
		int pk = (int)(n++ % RACE_CONTACTS);
		int at_least = atomic_load(&r->acked[pk]);
		struct store_contact row;
		char id[16];

		snprintf(id, sizeof(id), "c-%d", pk);
		if (scorecache_get(r->cache, 1, id, T0, &row)) {
			atomic_fetch_add(&r->hits, 1);
		} else {
			uint64_t ticket = scorecache_ticket(r->cache);

			make_row(&row, id, pk, 1);
			pthread_mutex_lock(&r->db_lock);
			row.opens_30d = r->db_version[pk];
			pthread_mutex_unlock(&r->db_lock);
			/* the query's answer travels back meanwhile */
			sched_yield();
			(void)scorecache_put(r->cache, 1, &row, ticket, T0);
		}
		if (row.opens_30d < at_least)
			atomic_fetch_add(&r->stale, 1);
		store_contact_free(&row);
	}
	return NULL;
}

START_TEST(test_no_stale_fill_under_threads)
{
	struct race r;
	pthread_t writer, readers[3];

	memset(&r, 0, sizeof(r));
	r.cache = active_cache(1 << 20);
	pthread_mutex_init(&r.db_lock, NULL);
	for (int i = 0; i < 3; i++)
		pthread_create(&readers[i], NULL, race_reader, &r);
	pthread_create(&writer, NULL, race_writer, &r);
	pthread_join(writer, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(readers[i], NULL);
	ck_assert_int_eq(atomic_load(&r.stale), 0);
	ck_assert_int_gt(atomic_load(&r.hits), 0);
	pthread_mutex_destroy(&r.db_lock);
	scorecache_free(r.cache);
}
END_TEST

/* ---- payloads ---- */

START_TEST(test_payload_round_trip)
{
	int64_t pks[] = { 1, 22, 333, 9223372036854775807LL };
	struct scoresync_message msg;
	char **payloads;
	size_t n =
	    scoresync_encode(18446744073709551615ULL, 7, pks, 4, &payloads);

	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(
	    payloads[0], "18446744073709551615 7 1 22 333 9223372036854775807");
	ck_assert(scoresync_decode(payloads[0], &msg));
	ck_assert_uint_eq(msg.origin, 18446744073709551615ULL);
	ck_assert_int_eq(msg.account_id, 7);
	ck_assert(!msg.whole_account);
	ck_assert_uint_eq(msg.count, 4);
	ck_assert_mem_eq(msg.contact_pks, pks, sizeof(pks));
	scoresync_message_free(&msg);
	free(payloads[0]);
	free(payloads);
}
END_TEST

START_TEST(test_payload_chunks)
{
	size_t count = 5000, seen = 0, n;
	int64_t *pks = xcalloc(count, sizeof(*pks));
	char **payloads;

	for (size_t i = 0; i < count; i++)
		pks[i] = 1000000000000LL + (int64_t)i;
	n = scoresync_encode(5, 3, pks, count, &payloads);
	ck_assert_uint_gt(n, 1);
	for (size_t i = 0; i < n; i++) {
		struct scoresync_message msg;

		ck_assert_uint_le(strlen(payloads[i]), SCORESYNC_PAYLOAD_MAX);
		ck_assert(scoresync_decode(payloads[i], &msg));
		ck_assert_int_eq(msg.account_id, 3);
		for (size_t j = 0; j < msg.count; j++)
			ck_assert_int_eq(msg.contact_pks[j], pks[seen + j]);
		seen += msg.count;
		scoresync_message_free(&msg);
		free(payloads[i]);
	}
	ck_assert_uint_eq(seen, count);
	free(payloads);
	free(pks);
}
END_TEST

START_TEST(test_payload_whole_account)
{
	size_t count = 200000;
	int64_t *pks = xcalloc(count, sizeof(*pks));
	struct scoresync_message msg;
	char **payloads;
	size_t n;

	for (size_t i = 0; i < count; i++)
		pks[i] = 1000000000000LL + (int64_t)i;
	/* too many for SCORESYNC_MAX_PAYLOADS: the account is flushed */
	n = scoresync_encode(5, 3, pks, count, &payloads);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(payloads[0], "5 3 *");
	ck_assert(scoresync_decode(payloads[0], &msg));
	ck_assert(msg.whole_account);
	ck_assert_int_eq(msg.account_id, 3);
	scoresync_message_free(&msg);
	free(payloads[0]);
	free(payloads);
	free(pks);
}
END_TEST

START_TEST(test_payload_garbage)
{
	static const char *const bad[] = { "", "1", "1 2", "1 2 ", "x 2 3",
		"1 x 3", "1 2 3x", "1 2 3 *", "1 2  3", "-1 2 3",
		"1 2 99999999999999999999" };
	struct scoresync_message msg;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(
		    !scoresync_decode(bad[i], &msg), "accepted \"%s\"", bad[i]);
}
END_TEST

static Suite *
scorecache_suite(void)
{
	Suite *s = suite_create("scorecache");
	TCase *tc;

	tc = tcase_create("entries");
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_replace_keeps_one_entry);
	tcase_add_test(tc, test_budget_and_eviction);
	tcase_add_test(tc, test_clock_keeps_read_rows);
	tcase_add_test(tc, test_row_too_large_is_not_stored);
	suite_add_tcase(s, tc);

	tc = tcase_create("expiry");
	tcase_add_test(tc, test_ttl);
	tcase_add_test(tc, test_counts_window_expiry);
	tcase_add_test(tc, test_clock_going_back);
	suite_add_tcase(s, tc);

	tc = tcase_create("invalidation");
	tcase_add_test(tc, test_invalidation_refuses_older_fill);
	tcase_add_test(tc, test_invalidation_removes_entries);
	tcase_add_test(tc, test_account_flush);
	tcase_add_test(tc, test_suspended);
	tcase_add_test(tc, test_no_stale_fill_under_threads);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("payloads");
	tcase_add_test(tc, test_payload_round_trip);
	tcase_add_test(tc, test_payload_chunks);
	tcase_add_test(tc, test_payload_whole_account);
	tcase_add_test(tc, test_payload_garbage);
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
