/*
 * scoresync.h - the scorecard cache's side in PostgreSQL: reads through
 * the cache, the invalidation a write publishes inside its transaction
 * (pg_notify, so other processes hear of it only if it commits) and
 * applies locally after its COMMIT, and the listener thread that applies
 * other processes' invalidations.
 *
 * The process's cache is installed once (scoresync_install) before any
 * request; without one, reads go to the database and writes still notify,
 * since other processes sharing the database may cache.
 */
#ifndef ENGAGEMENTD_STORE_SCORESYNC_H
#define ENGAGEMENTD_STORE_SCORESYNC_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/contacts.h"
#include "store/events.h"
#include "store/scorecache.h"

struct db_pool;
struct scoresync_listener;

/* The notification channel every process listens on. */
#define SCORESYNC_CHANNEL "engagementd_scorecards"

/* Longest payload sent; PostgreSQL refuses 8000 bytes and more. */
#define SCORESYNC_PAYLOAD_MAX 7900

/* Past this many payloads a write flushes the whole account instead. */
#define SCORESYNC_MAX_PAYLOADS 32

/* Makes cache (NULL: none) the process's cache.  Not thread-safe: call
 * before serving and after stopping. */
void scoresync_install(struct scorecache *cache);

/* The installed cache, or NULL. */
struct scorecache *scoresync_cache(void);

/*
 * The contact crm_id of account_id, from the cache or else from the
 * database (then cached).  Returns 1 found, 0 not found, -1 when the
 * database could not answer (err set, 503).
 */
int scoresync_contact_get(struct db_pool *pool, int64_t account_id,
    const char *crm_id, int64_t now_ms, struct store_contact *out,
    struct err *err);

/*
 * store_contacts_by_ids through the cache: only the ids it misses are
 * queried (in one statement).  Same results and ownership.
 */
bool scoresync_contacts_by_ids(struct db_pool *pool, int64_t account_id,
    const char *const *ids, size_t nids, int64_t now_ms,
    struct store_contact **out, size_t *count, struct err *err) MUST_CHECK;

/*
 * Inside an open transaction on conn (a pool connection): notifies the
 * contacts' change to other processes (delivered at COMMIT) and remembers
 * them for scoresync_committed.  False with err set when the statement
 * failed (the transaction is then aborted).
 */
bool scoresync_publish(PGconn *conn, int64_t account_id,
    const int64_t *contact_pks, size_t count, struct err *err) MUST_CHECK;

/* The same for the contacts a merge touched. */
bool scoresync_publish_touched(PGconn *conn, int64_t account_id,
    const struct store_touched *touched, size_t count,
    struct err *err) MUST_CHECK;

/* The same for every contact of account_id (a refit). */
bool scoresync_publish_account(
    PGconn *conn, int64_t account_id, struct err *err) MUST_CHECK;

/*
 * After COMMIT was sent on conn, whatever its answer (a lost answer may
 * hide a commit): invalidates in the installed cache what conn published
 * in that transaction.  Call before the write is acknowledged.
 */
void scoresync_committed(PGconn *conn);

/*
 * The payloads announcing contact_pks of account_id, from process origin,
 * each at most SCORESYNC_PAYLOAD_MAX bytes; count 0 (or too many for
 * SCORESYNC_MAX_PAYLOADS) gives the one payload of a whole-account flush.
 * Returns how many; *payloads is an array of strings (caller frees each
 * and the array).
 */
size_t scoresync_encode(uint64_t origin, int64_t account_id,
    const int64_t *contact_pks, size_t count, char ***payloads);

/* One received payload. */
struct scoresync_message {
	uint64_t origin;
	int64_t account_id;
	bool whole_account;
	int64_t *contact_pks; /* owned; NULL for a whole account */
	size_t count;
};

/* Parses a payload; false when it is not one scoresync_encode makes. */
bool scoresync_decode(const char *payload, struct scoresync_message *out);

void scoresync_message_free(struct scoresync_message *msg);

/*
 * Starts the thread that listens on its own connection to conninfo and
 * applies other processes' invalidations to cache.  The cache is resumed
 * each time listening starts and suspended each time the connection is
 * lost (notifications may have been missed).  The connection's
 * application_name is "engagementd-listener-<pid>".
 */
struct scoresync_listener *scoresync_listener_start(
    struct scorecache *cache, const char *conninfo);

/* Stops and joins the thread, closes its connection.  NULL is accepted. */
void scoresync_listener_stop(struct scoresync_listener *listener);

#endif
