/*
 * scorecache.c - the scorecard row cache (see include/store/scorecache.h).
 *
 * Sixteen shards, chosen by the hash of (account, CRM id), each a mutex,
 * two chained hash indexes over the same entries (by CRM id for reads, by
 * contact for invalidation) and a CLOCK ring for eviction.  A write knows
 * its contacts by number, not by CRM id, so an invalidation probes the
 * contact index of every shard: sixteen short lock holds per write against
 * one per read, which suits a read-mostly cache.
 *
 * The fill race is closed with sequence numbers: every invalidation takes
 * the next number and raises its contact's slot (one of CONTACT_SLOTS,
 * by hash) to it before it removes entries; a fill whose ticket is older
 * than its contact's slot (or than the last account flush) is refused.
 * Both the raise and the fill's check happen around the shard lock, so
 * either the fill sees the raised slot or the removal sees the entry.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "core/xmalloc.h"
#include "store/scorecache.h"

#define SHARD_BITS 4
#define SHARDS (1 << SHARD_BITS)
#define CONTACT_SLOTS 4096
#define FIRST_BUCKETS 64
/* What malloc keeps beside each block, for an honest byte count. */
#define MALLOC_OVERHEAD sizeof(size_t)

enum entry_flag {
	ENTRY_HARD_BOUNCED = 1 << 0,
	ENTRY_UNSUBSCRIBED = 1 << 1,
	ENTRY_COMPLAINED = 1 << 2,
	ENTRY_SUPPRESSED = 1 << 3,
	ENTRY_SCORED = 1 << 4,
	ENTRY_HAS_EMAIL = 1 << 5,
};

/* One cached row, packed: the history as bits, the strings inline. */
struct entry {
	struct entry *next_by_key;
	struct entry *next_by_contact;
	struct entry *ring_prev, *ring_next;
	uint64_t key_hash;
	uint64_t contact_hash;
	int64_t account_id;
	int64_t contact_pk;
	int64_t filled_ms;
	int64_t expires_ms;
	size_t charge; /* bytes counted against the shard's budget */
	int64_t joined_at_ms;
	int64_t last_open_at_ms;
	int64_t last_click_at_ms;
	int64_t counts_change_at_ms;
	struct model_score stored;
	int32_t n, x, t_x, clicks;
	int32_t messages_delivered, machine_opens, scanner_clicks;
	int32_t opens_30d, clicks_30d;
	uint16_t history_len;
	uint8_t flags;
	bool referenced; /* read since the CLOCK hand last passed */
	uint8_t history_bits[MODEL_HISTORY_MAX / 8];
	uint16_t crm_len;
	char text[]; /* crm_id NUL email NUL */
};

struct shard {
	pthread_mutex_t lock;
	struct entry **by_key;
	struct entry **by_contact;
	size_t buckets; /* of each index, a power of two */
	size_t count;
	size_t bytes; /* entries and both bucket arrays */
	struct entry *hand;
} __attribute__((aligned(64)));

struct scorecache {
	struct shard shards[SHARDS];
	size_t shard_budget;
	int64_t ttl_ms;
	atomic_bool active;
	_Atomic uint64_t seq;
	_Atomic uint64_t flush_seq;
	_Atomic uint64_t contact_seq[CONTACT_SLOTS];
	_Atomic uint64_t hits, misses, expirations, invalidations, evictions,
	    refused;
};

/* ---- hashing ---- */

static uint64_t
mix64(uint64_t v)
{
	v ^= v >> 30;
	v *= 0xbf58476d1ce4e5b9ULL;
	v ^= v >> 27;
	v *= 0x94d049bb133111ebULL;
	return v ^ (v >> 31);
}

static uint64_t
key_hash(int64_t account_id, const char *crm_id)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const unsigned char *p = (const unsigned char *)crm_id; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return mix64(h ^ mix64((uint64_t)account_id));
}

static uint64_t
contact_hash(int64_t account_id, int64_t contact_pk)
{
	return mix64((uint64_t)contact_pk ^ mix64((uint64_t)account_id + 1));
}

static struct shard *
shard_of(struct scorecache *cache, uint64_t hash)
{
	return &cache->shards[hash >> (64 - SHARD_BITS)];
}

static _Atomic uint64_t *
slot_of(struct scorecache *cache, uint64_t contact_hash_value)
{
	return &cache->contact_seq[contact_hash_value % CONTACT_SLOTS];
}

/* Raises *target to at least value. */
static void
atomic_raise(_Atomic uint64_t *target, uint64_t value)
{
	uint64_t seen = atomic_load(target);

	while (
	    seen < value && !atomic_compare_exchange_weak(target, &seen, value))
		;
}

static void
count_event(_Atomic uint64_t *stat, enum metrics_counter metric, uint64_t n)
{
	if (n == 0)
		return;
	atomic_fetch_add(stat, n);
	metrics_add(metric, n);
}

/* ---- one shard, its lock held ---- */

static void
shard_init(struct shard *s)
{
	pthread_mutex_init(&s->lock, NULL);
	s->buckets = FIRST_BUCKETS;
	s->by_key = xcalloc(s->buckets, sizeof(*s->by_key));
	s->by_contact = xcalloc(s->buckets, sizeof(*s->by_contact));
	s->bytes = 2 * s->buckets * sizeof(struct entry *);
}

static void
unlink_chain(struct entry **bucket, struct entry *e, bool by_key)
{
	while (*bucket != e)
		bucket = by_key ? &(*bucket)->next_by_key
				: &(*bucket)->next_by_contact;
	*bucket = by_key ? e->next_by_key : e->next_by_contact;
}

static void
shard_remove(struct shard *s, struct entry *e)
{
	size_t mask = s->buckets - 1;

	unlink_chain(&s->by_key[e->key_hash & mask], e, true);
	unlink_chain(&s->by_contact[e->contact_hash & mask], e, false);
	if (e->ring_next == e) {
		s->hand = NULL;
	} else {
		if (s->hand == e)
			s->hand = e->ring_next;
		e->ring_prev->ring_next = e->ring_next;
		e->ring_next->ring_prev = e->ring_prev;
	}
	s->count--;
	s->bytes -= e->charge;
	free(e);
}

/* Evicts the first entry the CLOCK hand finds unread since its last pass. */
static void
shard_evict_one(struct shard *s)
{
	while (s->hand->referenced) {
		s->hand->referenced = false;
		s->hand = s->hand->ring_next;
	}
	shard_remove(s, s->hand);
}

static void
shard_grow(struct shard *s)
{
	size_t buckets = s->buckets * 2, mask = buckets - 1;
	struct entry **by_key = xcalloc(buckets, sizeof(*by_key));
	struct entry **by_contact = xcalloc(buckets, sizeof(*by_contact));

	for (size_t i = 0; i < s->buckets; i++) {
		struct entry *e, *next;

		for (e = s->by_key[i]; e != NULL; e = next) {
			next = e->next_by_key;
			e->next_by_key = by_key[e->key_hash & mask];
			by_key[e->key_hash & mask] = e;
		}
		for (e = s->by_contact[i]; e != NULL; e = next) {
			next = e->next_by_contact;
			e->next_by_contact = by_contact[e->contact_hash & mask];
			by_contact[e->contact_hash & mask] = e;
		}
	}
	free(s->by_key);
	free(s->by_contact);
	s->by_key = by_key;
	s->by_contact = by_contact;
	s->bytes += 2 * (buckets - s->buckets) * sizeof(struct entry *);
	s->buckets = buckets;
}

static struct entry *
shard_find(
    struct shard *s, uint64_t hash, int64_t account_id, const char *crm_id)
{
	struct entry *e = s->by_key[hash & (s->buckets - 1)];

	for (; e != NULL; e = e->next_by_key)
		if (e->key_hash == hash && e->account_id == account_id &&
		    strcmp(e->text, crm_id) == 0)
			return e;
	return NULL;
}

/* Links e in; new entries go just behind the hand, the last it reaches. */
static void
shard_insert(struct shard *s, struct entry *e)
{
	size_t mask;

	if (s->count + 1 > s->buckets)
		shard_grow(s);
	mask = s->buckets - 1;
	e->next_by_key = s->by_key[e->key_hash & mask];
	s->by_key[e->key_hash & mask] = e;
	e->next_by_contact = s->by_contact[e->contact_hash & mask];
	s->by_contact[e->contact_hash & mask] = e;
	if (s->hand == NULL) {
		e->ring_prev = e->ring_next = e;
		s->hand = e;
	} else {
		e->ring_next = s->hand;
		e->ring_prev = s->hand->ring_prev;
		e->ring_prev->ring_next = e;
		s->hand->ring_prev = e;
	}
	s->count++;
	s->bytes += e->charge;
}

/* Removes the entries of account_id (every account when 0); their number. */
static uint64_t
shard_drop_account(struct shard *s, int64_t account_id)
{
	uint64_t dropped = 0;

	for (size_t i = 0; i < s->buckets; i++) {
		struct entry *e = s->by_key[i], *next;

		for (; e != NULL; e = next) {
			next = e->next_by_key;
			if (account_id == 0 || e->account_id == account_id) {
				shard_remove(s, e);
				dropped++;
			}
		}
	}
	return dropped;
}

/* ---- packing a row ---- */

static struct entry *
entry_pack(int64_t account_id, const struct store_contact *row)
{
	size_t crm_len = strlen(row->crm_id);
	size_t email_len = row->email != NULL ? strlen(row->email) : 0;
	struct entry *e = xcalloc(1, sizeof(*e) + crm_len + email_len + 2);
	const struct model_summary *sum = &row->summary;

	e->account_id = account_id;
	e->contact_pk = row->contact_pk;
	e->joined_at_ms = row->joined_at_ms;
	e->last_open_at_ms = row->last_open_at_ms;
	e->last_click_at_ms = row->last_click_at_ms;
	e->counts_change_at_ms = row->counts_change_at_ms;
	e->stored = row->stored;
	e->n = sum->n;
	e->x = sum->x;
	e->t_x = sum->t_x;
	e->clicks = sum->clicks;
	e->messages_delivered = row->messages_delivered;
	e->machine_opens = row->machine_opens;
	e->scanner_clicks = row->scanner_clicks;
	e->opens_30d = row->opens_30d;
	e->clicks_30d = row->clicks_30d;
	e->history_len = (uint16_t)sum->history_len;
	for (int i = 0; i < sum->history_len; i++)
		if (sum->history[i])
			e->history_bits[i / 8] |= (uint8_t)(1u << (i % 8));
	e->flags = (row->hard_bounced ? ENTRY_HARD_BOUNCED : 0) |
		   (row->unsubscribed ? ENTRY_UNSUBSCRIBED : 0) |
		   (row->complained ? ENTRY_COMPLAINED : 0) |
		   (sum->suppressed ? ENTRY_SUPPRESSED : 0) |
		   (row->scored ? ENTRY_SCORED : 0) |
		   (row->email != NULL ? ENTRY_HAS_EMAIL : 0);
	e->crm_len = (uint16_t)crm_len;
	memcpy(e->text, row->crm_id, crm_len + 1);
	if (row->email != NULL)
		memcpy(e->text + crm_len + 1, row->email, email_len + 1);
	e->charge = malloc_usable_size(e) + MALLOC_OVERHEAD;
	return e;
}

static void
entry_unpack(const struct entry *e, struct store_contact *out)
{
	struct model_summary *sum = &out->summary;

	memset(out, 0, sizeof(*out));
	out->contact_pk = e->contact_pk;
	out->crm_id = xstrdup(e->text);
	if (e->flags & ENTRY_HAS_EMAIL)
		out->email = xstrdup(e->text + e->crm_len + 1);
	out->joined_at_ms = e->joined_at_ms;
	out->last_open_at_ms = e->last_open_at_ms;
	out->last_click_at_ms = e->last_click_at_ms;
	out->counts_change_at_ms = e->counts_change_at_ms;
	out->stored = e->stored;
	sum->n = e->n;
	sum->x = e->x;
	sum->t_x = e->t_x;
	sum->clicks = e->clicks;
	sum->history_len = e->history_len;
	for (int i = 0; i < e->history_len; i++)
		sum->history[i] = (e->history_bits[i / 8] >> (i % 8)) & 1;
	sum->suppressed = (e->flags & ENTRY_SUPPRESSED) != 0;
	out->messages_delivered = e->messages_delivered;
	out->machine_opens = e->machine_opens;
	out->scanner_clicks = e->scanner_clicks;
	out->opens_30d = e->opens_30d;
	out->clicks_30d = e->clicks_30d;
	out->hard_bounced = (e->flags & ENTRY_HARD_BOUNCED) != 0;
	out->unsubscribed = (e->flags & ENTRY_UNSUBSCRIBED) != 0;
	out->complained = (e->flags & ENTRY_COMPLAINED) != 0;
	out->scored = (e->flags & ENTRY_SCORED) != 0;
}

/* ---- the cache ---- */

struct scorecache *
scorecache_new(size_t max_bytes, int64_t ttl_ms)
{
	struct scorecache *cache = xcalloc(1, sizeof(*cache));

	for (int i = 0; i < SHARDS; i++)
		shard_init(&cache->shards[i]);
	cache->shard_budget = max_bytes / SHARDS;
	cache->ttl_ms = ttl_ms;
	atomic_init(&cache->active, false);
	return cache;
}

void
scorecache_free(struct scorecache *cache)
{
	if (cache == NULL)
		return;
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &cache->shards[i];

		shard_drop_account(s, 0);
		free(s->by_key);
		free(s->by_contact);
		pthread_mutex_destroy(&s->lock);
	}
	free(cache);
}

uint64_t
scorecache_ticket(struct scorecache *cache)
{
	return atomic_load(&cache->seq);
}

static bool
entry_live(const struct entry *e, int64_t now_ms)
{
	/* a clock that went back could count events the row did not */
	return now_ms >= e->filled_ms && now_ms < e->expires_ms;
}

bool
scorecache_get(struct scorecache *cache, int64_t account_id, const char *crm_id,
    int64_t now_ms, struct store_contact *out)
{
	uint64_t hash = key_hash(account_id, crm_id);
	struct shard *s = shard_of(cache, hash);
	struct entry *e;
	bool hit = false, expired = false;

	if (!atomic_load(&cache->active)) {
		count_event(&cache->misses, METRIC_CACHE_MISSES, 1);
		return false;
	}
	pthread_mutex_lock(&s->lock);
	e = shard_find(s, hash, account_id, crm_id);
	if (e != NULL && entry_live(e, now_ms)) {
		e->referenced = true;
		entry_unpack(e, out);
		hit = true;
	} else if (e != NULL) {
		shard_remove(s, e);
		expired = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (hit)
		count_event(&cache->hits, METRIC_CACHE_HITS, 1);
	else
		count_event(&cache->misses, METRIC_CACHE_MISSES, 1);
	if (expired)
		atomic_fetch_add(&cache->expirations, 1);
	return hit;
}

/* True when nothing invalidated the row's contact since ticket. */
static bool
fill_allowed(struct scorecache *cache, uint64_t chash, uint64_t ticket)
{
	return atomic_load(&cache->active) &&
	       atomic_load(&cache->flush_seq) <= ticket &&
	       atomic_load(slot_of(cache, chash)) <= ticket;
}

bool
scorecache_put(struct scorecache *cache, int64_t account_id,
    const struct store_contact *row, uint64_t ticket, int64_t now_ms)
{
	struct entry *e, *old;
	struct shard *s;
	uint64_t evicted = 0;
	bool stored = false;

	if (row->crm_id == NULL || strlen(row->crm_id) > UINT16_MAX)
		return false;
	e = entry_pack(account_id, row);
	e->key_hash = key_hash(account_id, row->crm_id);
	e->contact_hash = contact_hash(account_id, row->contact_pk);
	e->filled_ms = now_ms;
	e->expires_ms = now_ms + cache->ttl_ms;
	if (row->counts_change_at_ms > 0 &&
	    row->counts_change_at_ms < e->expires_ms)
		e->expires_ms = row->counts_change_at_ms;
	s = shard_of(cache, e->key_hash);

	pthread_mutex_lock(&s->lock);
	if (fill_allowed(cache, e->contact_hash, ticket) &&
	    e->charge + 2 * s->buckets * sizeof(struct entry *) <=
		cache->shard_budget) {
		old = shard_find(s, e->key_hash, account_id, row->crm_id);
		if (old != NULL)
			shard_remove(s, old);
		while (s->count > 0 &&
		       s->bytes + e->charge > cache->shard_budget) {
			shard_evict_one(s);
			evicted++;
		}
		shard_insert(s, e);
		stored = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (!stored) {
		free(e);
		atomic_fetch_add(&cache->refused, 1);
	}
	count_event(&cache->evictions, METRIC_CACHE_EVICTIONS, evicted);
	return stored;
}

/* Removes the entries of the contacts whose hashes are given, in s. */
static uint64_t
shard_drop_contacts(struct shard *s, int64_t account_id,
    const int64_t *contact_pks, const uint64_t *hashes, size_t count)
{
	uint64_t dropped = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < count && s->count > 0; i++) {
		struct entry *e = s->by_contact[hashes[i] & (s->buckets - 1)];
		struct entry *next;

		for (; e != NULL; e = next) {
			next = e->next_by_contact;
			if (e->contact_pk == contact_pks[i] &&
			    e->account_id == account_id) {
				shard_remove(s, e);
				dropped++;
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
	return dropped;
}

void
scorecache_invalidate_contacts(struct scorecache *cache, int64_t account_id,
    const int64_t *contact_pks, size_t count)
{
	uint64_t *hashes = xcalloc(count + 1, sizeof(*hashes));
	uint64_t dropped = 0;

	for (size_t i = 0; i < count; i++) {
		uint64_t seq = atomic_fetch_add(&cache->seq, 1) + 1;

		hashes[i] = contact_hash(account_id, contact_pks[i]);
		atomic_raise(slot_of(cache, hashes[i]), seq);
	}
	for (int i = 0; i < SHARDS; i++)
		dropped += shard_drop_contacts(
		    &cache->shards[i], account_id, contact_pks, hashes, count);
	free(hashes);
	count_event(&cache->invalidations, METRIC_CACHE_INVALIDATIONS, dropped);
}

/* Refuses every fill under way, then drops account_id's entries (0: all). */
static uint64_t
flush(struct scorecache *cache, int64_t account_id)
{
	uint64_t seq = atomic_fetch_add(&cache->seq, 1) + 1;
	uint64_t dropped = 0;

	atomic_raise(&cache->flush_seq, seq);
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &cache->shards[i];

		pthread_mutex_lock(&s->lock);
		dropped += shard_drop_account(s, account_id);
		pthread_mutex_unlock(&s->lock);
	}
	return dropped;
}

void
scorecache_invalidate_account(struct scorecache *cache, int64_t account_id)
{
	count_event(&cache->invalidations, METRIC_CACHE_INVALIDATIONS,
	    flush(cache, account_id));
}

void
scorecache_suspend(struct scorecache *cache)
{
	atomic_store(&cache->active, false);
	metrics_gauge_set(GAUGE_CACHE_ACTIVE, 0);
	count_event(
	    &cache->invalidations, METRIC_CACHE_INVALIDATIONS, flush(cache, 0));
}

void
scorecache_resume(struct scorecache *cache)
{
	count_event(
	    &cache->invalidations, METRIC_CACHE_INVALIDATIONS, flush(cache, 0));
	atomic_store(&cache->active, true);
	metrics_gauge_set(GAUGE_CACHE_ACTIVE, 1);
}

bool
scorecache_active(struct scorecache *cache)
{
	return atomic_load(&cache->active);
}

void
scorecache_stats(struct scorecache *cache, struct scorecache_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->hits = atomic_load(&cache->hits);
	out->misses = atomic_load(&cache->misses);
	out->expirations = atomic_load(&cache->expirations);
	out->invalidations = atomic_load(&cache->invalidations);
	out->evictions = atomic_load(&cache->evictions);
	out->refused_fills = atomic_load(&cache->refused);
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &cache->shards[i];

		pthread_mutex_lock(&s->lock);
		out->entries += s->count;
		out->bytes += s->bytes;
		pthread_mutex_unlock(&s->lock);
	}
}
