/*
 * scoresync.c - keeps the scorecard cache true to the database (see
 * include/store/scoresync.h and docs/cache.md).
 *
 * A payload is "<origin> <account> <contact> <contact> ..." in decimal, or
 * "<origin> <account> *" for a whole account.  origin is a random number
 * drawn once per process: a process ignores its own notifications, since
 * it invalidated its own cache before answering the write.
 *
 * What a transaction published is kept per connection until its COMMIT,
 * in a small table keyed by the connection (libpq has no user data per
 * connection); a transaction that rolls back leaves an entry that the
 * connection's next publication replaces.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/xmalloc.h"
#include "store/db.h"
#include "store/fits.h"
#include "store/pgarray.h"
#include "store/scoresync.h"

/* How long the listener waits before connecting again, doubling. */
#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS 5000
/* How long a read may wait for a pool connection. */
#define ACQUIRE_WAIT_MS 2000

static struct scorecache *installed;

static pthread_once_t origin_once = PTHREAD_ONCE_INIT;
static uint64_t origin_id;

static void
origin_draw(void)
{
	if (getrandom(&origin_id, sizeof(origin_id), 0) !=
	    (ssize_t)sizeof(origin_id))
		origin_id = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
}

static uint64_t
origin(void)
{
	pthread_once(&origin_once, origin_draw);
	return origin_id;
}

void
scoresync_install(struct scorecache *cache)
{
	installed = cache;
}

struct scorecache *
scoresync_cache(void)
{
	return installed;
}

/* ---- reads ---- */

int
scoresync_contact_get(struct db_pool *pool, int64_t account_id,
    const char *crm_id, int64_t now_ms, struct store_contact *out,
    struct err *err)
{
	struct scorecache *cache = installed;
	uint64_t ticket = 0;
	PGconn *conn;
	int found;

	if (cache != NULL) {
		if (scorecache_get(cache, account_id, crm_id, now_ms, out))
			return 1;
		ticket = scorecache_ticket(cache);
	}
	conn = db_pool_acquire(pool, ACQUIRE_WAIT_MS, err);
	if (conn == NULL)
		return -1;
	found = store_contact_get(
	    conn, account_id, STORE_BY_CRM_ID, crm_id, now_ms, out, err);
	db_pool_release(pool, conn, found < 0 && db_conn_broken(conn));
	if (found == 1 && cache != NULL)
		(void)scorecache_put(cache, account_id, out, ticket, now_ms);
	return found;
}

bool
scoresync_contacts_by_ids(struct db_pool *pool, int64_t account_id,
    const char *const *ids, size_t nids, int64_t now_ms,
    struct store_contact **out, size_t *count, struct err *err)
{
	struct scorecache *cache = installed;
	struct store_contact *hits = xcalloc(nids + 1, sizeof(*hits));
	struct store_contact *queried = NULL;
	const char **missed = xcalloc(nids + 1, sizeof(*missed));
	size_t nhits = 0, nmissed = 0, nqueried = 0;
	uint64_t ticket = 0;
	PGconn *conn;
	bool ok = true;

	for (size_t i = 0; i < nids; i++) {
		if (cache != NULL && scorecache_get(cache, account_id, ids[i],
					 now_ms, &hits[nhits]))
			nhits++;
		else
			missed[nmissed++] = ids[i];
	}
	if (cache != NULL)
		ticket = scorecache_ticket(cache);
	if (nmissed > 0) {
		conn = db_pool_acquire(pool, ACQUIRE_WAIT_MS, err);
		ok = conn != NULL &&
		     store_contacts_by_ids(conn, account_id, missed, nmissed,
			 now_ms, &queried, &nqueried, err);
		if (conn != NULL)
			db_pool_release(
			    pool, conn, !ok && db_conn_broken(conn));
	}
	free(missed);
	if (!ok) {
		for (size_t i = 0; i < nhits; i++)
			store_contact_free(&hits[i]);
		free(hits);
		return false;
	}
	hits = xrealloc(hits, (nhits + nqueried + 1) * sizeof(*hits));
	for (size_t i = 0; i < nqueried; i++) {
		if (cache != NULL)
			(void)scorecache_put(
			    cache, account_id, &queried[i], ticket, now_ms);
		hits[nhits++] = queried[i];
	}
	free(queried);
	*out = hits;
	*count = nhits;
	return true;
}

/* ---- payloads ---- */

static void
payload_add(char ***payloads, size_t *n, const char *text)
{
	*payloads = xrealloc(*payloads, (*n + 1) * sizeof(**payloads));
	(*payloads)[(*n)++] = xstrdup(text);
}

size_t
scoresync_encode(uint64_t origin_value, int64_t account_id,
    const int64_t *contact_pks, size_t count, char ***payloads)
{
	char buf[SCORESYNC_PAYLOAD_MAX + 1], head[48];
	size_t n = 0, head_len, len;

	*payloads = NULL;
	head_len = (size_t)snprintf(head, sizeof(head), "%" PRIu64 " %" PRId64,
	    origin_value, account_id);
	memcpy(buf, head, head_len + 1);
	len = head_len;
	for (size_t i = 0; i < count && n <= SCORESYNC_MAX_PAYLOADS; i++) {
		char item[24];
		size_t item_len = (size_t)snprintf(
		    item, sizeof(item), " %" PRId64, contact_pks[i]);

		if (len + item_len > SCORESYNC_PAYLOAD_MAX) {
			payload_add(payloads, &n, buf);
			len = head_len;
			buf[len] = '\0';
		}
		memcpy(buf + len, item, item_len + 1);
		len += item_len;
	}
	if (len > head_len)
		payload_add(payloads, &n, buf);
	if (count == 0 || n > SCORESYNC_MAX_PAYLOADS) {
		for (size_t i = 0; i < n; i++)
			free((*payloads)[i]);
		free(*payloads);
		*payloads = NULL;
		n = 0;
		snprintf(buf, sizeof(buf), "%s *", head);
		payload_add(payloads, &n, buf);
	}
	return n;
}

/* Reads one decimal number and the blank after it. */
static bool
read_number(const char **p, bool is_signed, uint64_t *out)
{
	char *end;

	if (!((**p >= '0' && **p <= '9') || (is_signed && **p == '-')))
		return false;
	errno = 0;
	*out = is_signed ? (uint64_t)strtoll(*p, &end, 10)
			 : strtoull(*p, &end, 10);
	if (errno != 0 || (*end != ' ' && *end != '\0'))
		return false;
	*p = *end == ' ' ? end + 1 : end;
	return true;
}

bool
scoresync_decode(const char *payload, struct scoresync_message *out)
{
	const char *p = payload;
	uint64_t value;
	size_t cap = 0;

	memset(out, 0, sizeof(*out));
	if (!read_number(&p, false, &out->origin) ||
	    !read_number(&p, true, &value))
		return false;
	out->account_id = (int64_t)value;
	if (strcmp(p, "*") == 0) {
		out->whole_account = true;
		return true;
	}
	while (*p != '\0') {
		if (!read_number(&p, true, &value)) {
			scoresync_message_free(out);
			return false;
		}
		if (out->count == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			out->contact_pks = xrealloc(
			    out->contact_pks, cap * sizeof(*out->contact_pks));
		}
		out->contact_pks[out->count++] = (int64_t)value;
	}
	return out->count > 0;
}

void
scoresync_message_free(struct scoresync_message *msg)
{
	free(msg->contact_pks);
	memset(msg, 0, sizeof(*msg));
}

/* ---- publishing ---- */

static struct db_statement SQL_NOTIFY = { "st_scorecache_notify",
	"SELECT pg_notify('" SCORESYNC_CHANNEL "', p)"
	" FROM unnest($1::text[]) AS p",
	1 };

/* What one connection's open transaction published. */
struct pending {
	PGconn *conn;
	int64_t account_id;
	bool whole_account;
	int64_t *contact_pks;
	size_t count;
};

static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pending *pending_list;
static size_t pending_len;

/* Adds to conn's record; a record of another account is replaced, since
 * a transaction writes one account. */
static void
pending_add(PGconn *conn, int64_t account_id, const int64_t *contact_pks,
    size_t count, bool whole_account)
{
	struct pending *rec = NULL;

	pthread_mutex_lock(&pending_lock);
	for (size_t i = 0; i < pending_len && rec == NULL; i++)
		if (pending_list[i].conn == conn)
			rec = &pending_list[i];
	if (rec == NULL) {
		pending_list = xrealloc(
		    pending_list, (pending_len + 1) * sizeof(*pending_list));
		rec = &pending_list[pending_len++];
		memset(rec, 0, sizeof(*rec));
		rec->conn = conn;
	}
	if (rec->account_id != account_id) {
		free(rec->contact_pks);
		rec->contact_pks = NULL;
		rec->count = 0;
		rec->whole_account = false;
	}
	rec->account_id = account_id;
	rec->whole_account = rec->whole_account || whole_account;
	rec->contact_pks = xrealloc(rec->contact_pks,
	    (rec->count + count + 1) * sizeof(*rec->contact_pks));
	if (count > 0)
		memcpy(rec->contact_pks + rec->count, contact_pks,
		    count * sizeof(*contact_pks));
	rec->count += count;
	pthread_mutex_unlock(&pending_lock);
}

/* Takes conn's record out of the table; false when there is none. */
static bool
pending_take(PGconn *conn, struct pending *out)
{
	bool found = false;

	pthread_mutex_lock(&pending_lock);
	for (size_t i = 0; i < pending_len; i++) {
		if (pending_list[i].conn == conn) {
			*out = pending_list[i];
			pending_list[i] = pending_list[--pending_len];
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&pending_lock);
	return found;
}

static bool
notify(PGconn *conn, char **payloads, size_t n, struct err *err)
{
	struct pgarray arr;
	const char *params[1];
	bool ok;

	pgarray_init(&arr);
	for (size_t i = 0; i < n; i++)
		pgarray_text(&arr, payloads[i]);
	params[0] = pgarray_finish(&arr);
	ok = db_run_command(conn, &SQL_NOTIFY, params, err);
	pgarray_free(&arr);
	for (size_t i = 0; i < n; i++)
		free(payloads[i]);
	free(payloads);
	return ok;
}

bool
scoresync_publish(PGconn *conn, int64_t account_id, const int64_t *contact_pks,
    size_t count, struct err *err)
{
	char **payloads;
	size_t n;

	if (count == 0)
		return true;
	n = scoresync_encode(
	    origin(), account_id, contact_pks, count, &payloads);
	if (!notify(conn, payloads, n, err))
		return false;
	pending_add(conn, account_id, contact_pks, count, false);
	return true;
}

bool
scoresync_publish_touched(PGconn *conn, int64_t account_id,
    const struct store_touched *touched, size_t count, struct err *err)
{
	int64_t *pks = xcalloc(count + 1, sizeof(*pks));
	bool ok;

	for (size_t i = 0; i < count; i++)
		pks[i] = touched[i].contact_pk;
	ok = scoresync_publish(conn, account_id, pks, count, err);
	free(pks);
	return ok;
}

bool
scoresync_publish_account(PGconn *conn, int64_t account_id, struct err *err)
{
	char **payloads;
	size_t n = scoresync_encode(origin(), account_id, NULL, 0, &payloads);

	if (!notify(conn, payloads, n, err))
		return false;
	pending_add(conn, account_id, NULL, 0, true);
	return true;
}

void
scoresync_committed(PGconn *conn)
{
	struct pending rec;

	if (!pending_take(conn, &rec))
		return;
	if (installed != NULL && rec.whole_account)
		scorecache_invalidate_account(installed, rec.account_id);
	else if (installed != NULL)
		scorecache_invalidate_contacts(
		    installed, rec.account_id, rec.contact_pks, rec.count);
	free(rec.contact_pks);
}

/* ---- the listener ---- */

struct scoresync_listener {
	struct scorecache *cache;
	bool connected_once; /* a later connect is a recovery, logged */
	char *conninfo;
	char application_name[48];
	int wake[2]; /* a byte on wake[1] stops the thread */
	atomic_bool stopping;
	pthread_t thread;
};

/* Waits up to ms for the stop signal; false when stopping. */
static bool
pause_or_stop(struct scoresync_listener *l, int ms)
{
	struct pollfd pfd = { l->wake[0], POLLIN, 0 };

	if (poll(&pfd, 1, ms) < 0 && errno != EINTR)
		return false;
	return !atomic_load(&l->stopping);
}

/* Connects and runs LISTEN; NULL (logged) when it could not. */
static PGconn *
listen_connect(struct scoresync_listener *l)
{
	const char *keys[] = { "dbname", "application_name", "keepalives",
		"keepalives_idle", "keepalives_interval", "keepalives_count",
		NULL };
	const char *values[] = { l->conninfo, l->application_name, "1", "10",
		"5", "3", NULL };
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	PGresult *res;

	/* libpq prints what the server says outside a query (a FATAL when
	 * the backend is terminated, say) on stderr, which carries JSON
	 * lines only; the loss itself is logged below */
	db_quiet_notices(conn);
	if (PQstatus(conn) != CONNECTION_OK) {
		log_kv(LOG_WARNING, "the scorecard cache cannot listen",
		    "error", PQerrorMessage(conn), NULL);
		PQfinish(conn);
		return NULL;
	}
	res = PQexec(conn, "LISTEN " SCORESYNC_CHANNEL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		log_kv(LOG_WARNING, "the scorecard cache cannot listen",
		    "error", PQerrorMessage(conn), NULL);
		PQclear(res);
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	return conn;
}

static void
apply(struct scorecache *cache, const char *payload)
{
	struct scoresync_message msg;

	if (!scoresync_decode(payload, &msg)) {
		/* not ours to understand: forget everything to be safe */
		log_warning("unreadable scorecard notification; cache emptied");
		scorecache_suspend(cache);
		scorecache_resume(cache);
		return;
	}
	if (msg.origin != origin()) {
		/* A whole account is announced by a refit (or by a write too
		 * large to list): the fit this process cached for it may be
		 * the old one, and every contact it scores would be stored
		 * with the old numbers until the next refit. */
		if (msg.whole_account) {
			scorecache_invalidate_account(cache, msg.account_id);
			fits_cache_forget(msg.account_id);
		} else {
			scorecache_invalidate_contacts(
			    cache, msg.account_id, msg.contact_pks, msg.count);
		}
	}
	scoresync_message_free(&msg);
}

/* Applies notifications until the connection is lost or stop is asked. */
static void
listen_loop(struct scoresync_listener *l, PGconn *conn)
{
	while (!atomic_load(&l->stopping)) {
		struct pollfd pfd[2] = { { PQsocket(conn), POLLIN, 0 },
			{ l->wake[0], POLLIN, 0 } };
		PGnotify *note;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (pfd[1].revents != 0)
			return;
		if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK)
			return;
		while ((note = PQnotifies(conn)) != NULL) {
			apply(l->cache, note->extra);
			PQfreemem(note);
		}
	}
}

static void *
listener_main(void *arg)
{
	struct scoresync_listener *l = arg;
	int retry_ms = RETRY_FIRST_MS;

	while (!atomic_load(&l->stopping)) {
		PGconn *conn = listen_connect(l);

		if (conn == NULL) {
			if (!pause_or_stop(l, retry_ms))
				break;
			retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
							       : retry_ms * 2;
			continue;
		}
		retry_ms = RETRY_FIRST_MS;
		/* from here on every commit is heard: what was cached before
		 * may have missed some, so resume starts empty, and so does
		 * the fit cache (a refit may have been missed too) */
		scorecache_resume(l->cache);
		fits_cache_clear();
		if (l->connected_once)
			log_info("the scorecard cache is listening again");
		l->connected_once = true;
		metrics_add(METRIC_CACHE_LISTENER_CONNECTS, 1);
		listen_loop(l, conn);
		scorecache_suspend(l->cache);
		PQfinish(conn);
		if (!atomic_load(&l->stopping))
			log_warning(
			    "the scorecard cache lost its listening "
			    "connection; reads bypass it until it is back");
	}
	return NULL;
}

struct scoresync_listener *
scoresync_listener_start(struct scorecache *cache, const char *conninfo)
{
	struct scoresync_listener *l = xcalloc(1, sizeof(*l));

	l->cache = cache;
	l->conninfo = xstrdup(conninfo);
	snprintf(l->application_name, sizeof(l->application_name),
	    "engagementd-listener-%ld", (long)getpid());
	if (pipe(l->wake) != 0) {
		log_error("the scorecard cache cannot start its listener: %s",
		    strerror(errno));
		free(l->conninfo);
		free(l);
		return NULL;
	}
	atomic_init(&l->stopping, false);
	pthread_create(&l->thread, NULL, listener_main, l);
	return l;
}

void
scoresync_listener_stop(struct scoresync_listener *l)
{
	char byte = 1;

	if (l == NULL)
		return;
	atomic_store(&l->stopping, true);
	if (write(l->wake[1], &byte, 1) != 1)
		log_warning("could not wake the scorecard cache's listener");
	pthread_join(l->thread, NULL);
	close(l->wake[0]);
	close(l->wake[1]);
	free(l->conninfo);
	free(l);
}
