/*
 * scorecache.h - a bounded in-process cache of scorecard rows (the struct
 * store_contact a read by CRM id fetches), so that a repeated read needs no
 * round trip to PostgreSQL.
 *
 * The cache holds rows, not JSON: every answer is still formatted with its
 * own computed_at.  It stays correct by three rules (docs/cache.md):
 *
 *   - every write that changes a contact row invalidates it after COMMIT
 *     (scorecache_invalidate_contacts, _account), and other processes hear
 *     of it through PostgreSQL notifications (store/scorecache_pg.h);
 *   - a read takes a ticket before its query and may only fill the cache
 *     when nothing it could have read was invalidated since the ticket, so
 *     a slow read cannot put back a row a concurrent write replaced;
 *   - an entry expires when the oldest open or click its 30-day counts
 *     include leaves the window, and after the configured TTL in any case.
 *
 * Memory is bounded by a byte budget split over shards, each with its own
 * lock and CLOCK eviction.  All functions are thread-safe.
 */
#ifndef ENGAGEMENTD_STORE_SCORECACHE_H
#define ENGAGEMENTD_STORE_SCORECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/contacts.h"

struct scorecache;

/* What a cache did since it was made. */
struct scorecache_stats {
	uint64_t hits;
	uint64_t misses;        /* lookups that found nothing usable */
	uint64_t expirations;   /* entries found expired (also misses) */
	uint64_t invalidations; /* entries removed by a write */
	uint64_t evictions;     /* entries removed to stay in budget */
	uint64_t refused_fills; /* fills a write overtook (not stored) */
	uint64_t entries;       /* held now */
	uint64_t bytes;         /* held now, as malloc counts them */
};

/*
 * A cache of at most max_bytes (entries and their index), whose entries
 * live at most ttl_ms.  It starts suspended (scorecache_resume): until
 * someone listens for other processes' writes, nothing may be cached.
 */
struct scorecache *scorecache_new(size_t max_bytes, int64_t ttl_ms);

/* Frees the cache and its entries.  NULL is accepted. */
void scorecache_free(struct scorecache *cache);

/*
 * The ticket a read takes before its query and gives to scorecache_put.
 */
uint64_t scorecache_ticket(struct scorecache *cache);

/*
 * Copies the live entry of (account_id, crm_id) into *out (strings owned
 * by out; free with store_contact_free) and returns true; false on a miss,
 * an expired entry (removed) or a suspended cache.  now_ms is the service
 * clock.
 */
bool scorecache_get(struct scorecache *cache, int64_t account_id,
    const char *crm_id, int64_t now_ms, struct store_contact *out);

/*
 * Stores a copy of row, read as of now_ms by a query that started after
 * ticket was taken, under (account_id, row->crm_id).  It expires at the
 * earlier of now_ms + TTL and row->counts_change_at_ms.  Not stored (and
 * false returned) when the cache is suspended, when a write invalidated
 * the row's contact (or flushed its account) after the ticket, when the
 * row has no CRM id, or when it alone exceeds a shard's budget.
 */
bool scorecache_put(struct scorecache *cache, int64_t account_id,
    const struct store_contact *row, uint64_t ticket, int64_t now_ms);

/* Removes the entries of these contacts of account_id, and refuses the
 * fills of reads that were already under way. */
void scorecache_invalidate_contacts(struct scorecache *cache,
    int64_t account_id, const int64_t *contact_pks, size_t count);

/* The same for every contact of account_id (a refit rescored them all). */
void scorecache_invalidate_account(
    struct scorecache *cache, int64_t account_id);

/*
 * Empties the cache and stops it from answering or storing anything until
 * scorecache_resume: writes of other processes may go unheard.
 */
void scorecache_suspend(struct scorecache *cache);

/* Empties the cache again and lets it answer and store. */
void scorecache_resume(struct scorecache *cache);

/* True between scorecache_resume and the next scorecache_suspend. */
bool scorecache_active(struct scorecache *cache);

void scorecache_stats(struct scorecache *cache, struct scorecache_stats *out);

#endif
