/*
 * events.c - the write path's SQL (see include/store/events.h).
 *
 * One request is one transaction of a fixed number of statements, whatever
 * its size: the batch is passed as arrays and unnested into a temporary
 * staging table, then merged set by set.  Type and verdict codes are the
 * enum values of include/ingest/event.h; the SQL spells them as numbers
 * with the name beside.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store/db.h"
#include "store/events.h"
#include "store/pgarray.h"

_Static_assert(EVENT_DELIVERED == 1 && EVENT_OPEN == 2 && EVENT_CLICK == 3 &&
		   EVENT_BOUNCE == 4 && EVENT_UNSUBSCRIBE == 5 &&
		   EVENT_COMPLAINT == 6,
    "the SQL below spells event types as these numbers");
_Static_assert(VERDICT_HUMAN == 1 && VERDICT_MACHINE == 2 &&
		   VERDICT_SCANNER == 3 && VERDICT_UNKNOWN == 4 &&
		   BOUNCE_HARD == 1,
    "the SQL below spells verdicts and bounce kinds as these numbers");
_Static_assert(EVENT_FLAG_NO_TRACKING == 8, "the SQL tests flag bit 8");

static const char SQL_STAGE_CREATE[] =
    "CREATE TEMP TABLE IF NOT EXISTS stage_events ("
    " idx integer, req integer, provider text, event_key text,"
    " type smallint, crm_id text,"
    " email text, message_id text, campaign_id text, occurred_ms bigint,"
    " url text, user_agent text, ip text, bounce smallint, flags integer,"
    " verdict smallint, contact_pk bigint) ON COMMIT DELETE ROWS";

static struct db_statement SQL_STAGE_FILL = { "st_stage_fill",
	"INSERT INTO stage_events (idx, req, provider, event_key, type,"
	" crm_id, email, message_id, campaign_id, occurred_ms, url,"
	" user_agent, ip, bounce, flags, verdict)"
	" SELECT * FROM unnest($1::integer[], $2::integer[], $3::text[],"
	" $4::text[], $5::smallint[], $6::text[], $7::text[], $8::text[],"
	" $9::text[], $10::bigint[], $11::text[], $12::text[], $13::text[],"
	" $14::smallint[], $15::integer[], $16::smallint[])",
	16 };

/* Events for erased contacts are dropped: an erasure is final. */
static struct db_statement SQL_STAGE_DROP_ERASED = { "st_stage_drop_erased",
	"DELETE FROM stage_events s USING erasures e"
	" WHERE e.account_id = $1 AND (e.id_hash ="
	" sha256(convert_to('crm:' || s.crm_id, 'UTF8')) OR e.id_hash ="
	" sha256(convert_to('email:' || s.email, 'UTF8')))"
	" RETURNING s.req",
	1 };

/* A contact first seen by address gains its CRM id when one arrives. */
static struct db_statement SQL_CONTACTS_ATTACH_CRM = { "st_contacts_attach_crm",
	"UPDATE contacts c SET crm_id = s.crm_id,"
	" updated_at = to_timestamp($2::bigint / 1000.0)"
	" FROM (SELECT DISTINCT ON (crm_id) crm_id, email FROM stage_events"
	"  WHERE crm_id IS NOT NULL AND email IS NOT NULL"
	"  ORDER BY crm_id, idx) s"
	" WHERE c.account_id = $1 AND c.crm_id IS NULL AND c.email = s.email"
	" AND c.email = ANY (ARRAY(SELECT email FROM stage_events"
	"  WHERE crm_id IS NOT NULL AND email IS NOT NULL))"
	" AND NOT EXISTS (SELECT 1 FROM contacts c2"
	"  WHERE c2.account_id = $1 AND c2.crm_id = s.crm_id)",
	2 };

static struct db_statement SQL_CONTACTS_INSERT_CRM = { "st_contacts_insert_crm",
	"INSERT INTO contacts (account_id, crm_id, email, created_at,"
	" updated_at)"
	" SELECT DISTINCT ON (crm_id) $1::bigint, crm_id, email,"
	" to_timestamp($2::bigint / 1000.0), to_timestamp($2::bigint / 1000.0)"
	" FROM stage_events WHERE crm_id IS NOT NULL"
	" ORDER BY crm_id, (email IS NULL), idx"
	" ON CONFLICT (account_id, crm_id) DO NOTHING",
	2 };

static struct db_statement SQL_CONTACTS_FILL_EMAIL = { "st_contacts_fill_email",
	"UPDATE contacts c SET email = s.email"
	" FROM (SELECT DISTINCT ON (crm_id) crm_id, email FROM stage_events"
	"  WHERE crm_id IS NOT NULL AND email IS NOT NULL"
	"  ORDER BY crm_id, idx) s"
	" WHERE c.account_id = $1 AND c.crm_id = s.crm_id AND c.email IS NULL"
	" AND c.crm_id = ANY (ARRAY(SELECT crm_id FROM stage_events"
	"  WHERE crm_id IS NOT NULL AND email IS NOT NULL))",
	1 };

static struct db_statement SQL_CONTACTS_INSERT_EMAIL = {
	"st_contacts_insert_email",
	"INSERT INTO contacts (account_id, email, created_at, updated_at)"
	" SELECT DISTINCT $1::bigint, s.email,"
	" to_timestamp($2::bigint / 1000.0), to_timestamp($2::bigint / 1000.0)"
	" FROM stage_events s WHERE s.crm_id IS NULL AND s.email IS NOT NULL"
	" AND NOT EXISTS (SELECT 1 FROM contacts c"
	"  WHERE c.account_id = $1 AND c.email = s.email)"
	" ORDER BY 2" /* in one order, like every lock the merge takes */
	" ON CONFLICT (account_id, email) WHERE crm_id IS NULL DO NOTHING",
	2
};

/*
 * Every merge locks the contacts it touches first, in one order, so that
 * merges running side by side wait for each other instead of deadlocking
 * on the contacts', messages' and events' rows they share.
 */
static struct db_statement SQL_CONTACTS_LOCK = { "st_contacts_lock",
	"SELECT 1 FROM contacts WHERE account_id = $1"
	" AND contact_pk = ANY (ARRAY(SELECT contact_pk FROM stage_events"
	"  WHERE contact_pk IS NOT NULL))"
	" ORDER BY contact_pk FOR UPDATE",
	1 };

static struct db_statement SQL_STAGE_RESOLVE = { "st_stage_resolve",
	"UPDATE stage_events s SET contact_pk = CASE WHEN s.crm_id IS NOT NULL"
	" THEN (SELECT c.contact_pk FROM contacts c"
	"  WHERE c.account_id = $1 AND c.crm_id = s.crm_id)"
	" ELSE (SELECT c.contact_pk FROM contacts c"
	"  WHERE c.account_id = $1 AND c.email = s.email"
	"  ORDER BY (c.crm_id IS NOT NULL), c.contact_pk LIMIT 1) END",
	1 };

static struct db_statement SQL_EVENTS_INSERT = { "st_events_insert",
	"WITH ins AS (INSERT INTO events (account_id, provider, event_key,"
	" contact_pk, type, message_id, campaign_id, occurred_at, received_at,"
	" url, user_agent, ip, bounce, flags, verdict)"
	" SELECT $1::bigint, provider, event_key, contact_pk, type, message_id,"
	" campaign_id, to_timestamp(occurred_ms / 1000.0),"
	" to_timestamp($2::bigint / 1000.0), url, user_agent, ip, bounce,"
	" flags, verdict FROM stage_events ORDER BY idx"
	" ON CONFLICT (account_id, provider, event_key) DO NOTHING"
	" RETURNING provider, event_key)"
	/* each new row is credited to the first request that carried it */
	" SELECT f.req, count(*) FROM (SELECT DISTINCT ON (provider, event_key)"
	"  req, provider, event_key FROM stage_events"
	"  ORDER BY provider, event_key, req, idx) f"
	" JOIN ins USING (provider, event_key) GROUP BY f.req",
	2 };

/*
 * Clicks and unsubscribes within the window after delivery (type 1), and
 * clicks that belong to a burst over many different links of the message,
 * are a scanner's (verdict 3), in whatever order the events arrived.
 */
static struct db_statement SQL_SCANNER_TIMING = { "st_scanner_timing",
	"UPDATE events e SET verdict = 3"
	" WHERE e.account_id = $1 AND e.event_pk = ANY (ARRAY("
	"  SELECT x.event_pk FROM (SELECT DISTINCT contact_pk, message_id"
	"   FROM stage_events WHERE message_id IS NOT NULL"
	"   AND contact_pk IS NOT NULL) a"
	"  CROSS JOIN LATERAL (SELECT min(d.occurred_at) AS delivered_at"
	"   FROM events d WHERE d.account_id = $1"
	"   AND d.contact_pk = a.contact_pk AND d.message_id = a.message_id"
	"   AND d.type = 1) dl"
	"  CROSS JOIN LATERAL (SELECT k.event_pk FROM events k"
	"   WHERE k.account_id = $1 AND k.contact_pk = a.contact_pk"
	"   AND k.message_id = a.message_id AND k.type IN (3, 5)"
	"   AND k.verdict = 1 AND k.occurred_at >= dl.delivered_at"
	"   AND k.occurred_at <= dl.delivered_at"
	"    + make_interval(secs => $2::integer)"
	/* or one of a burst of clicks on many different links */
	"   UNION SELECT k.event_pk FROM events k"
	"   WHERE $3::integer > 0 AND k.account_id = $1"
	"   AND k.contact_pk = a.contact_pk AND k.message_id = a.message_id"
	"   AND k.type = 3 AND k.verdict = 1"
	"   AND (SELECT count(DISTINCT j.url) FROM events j"
	"    WHERE j.account_id = $1 AND j.contact_pk = k.contact_pk"
	"    AND j.message_id = k.message_id AND j.type = 3"
	"    AND j.occurred_at BETWEEN"
	"     k.occurred_at - make_interval(secs => $4::integer)"
	"     AND k.occurred_at + make_interval(secs => $4::integer))"
	"    >= $3::integer) x))",
	4 };

/*
 * Each touched message, recomputed from all its events.  Opened means a
 * human (or undecided) open or click (types 2, 3 with verdict 1 or 4); an
 * open implies delivery.  Observable: delivered, tracked, not hard-bounced,
 * and not a message whose only opens were machine opens.
 */
static struct db_statement SQL_MESSAGES_MERGE = { "st_messages_merge",
	"INSERT INTO messages AS m (account_id, contact_pk, message_id,"
	" order_at, delivered_at, opened_at, clicked_at, machine_opens,"
	" scanner_clicks, delivered, opened, bounced, untracked, observable)"
	" SELECT $1::bigint, a.contact_pk, a.message_id, g.order_at,"
	" g.delivered_at, g.opened_at, g.clicked_at, g.machine_opens,"
	" g.scanner_clicks, g.delivered, g.opened, g.bounced, g.untracked,"
	" g.delivered AND NOT g.bounced AND NOT g.untracked"
	"  AND (g.opened OR g.machine_opens = 0)"
	" FROM (SELECT DISTINCT contact_pk, message_id FROM stage_events"
	"  WHERE message_id IS NOT NULL AND contact_pk IS NOT NULL) a"
	" CROSS JOIN LATERAL (SELECT min(e.occurred_at) AS order_at,"
	"  min(e.occurred_at) FILTER (WHERE e.type = 1) AS delivered_at,"
	"  max(e.occurred_at) FILTER (WHERE e.type IN (2, 3)"
	"   AND e.verdict IN (1, 4)) AS opened_at,"
	"  max(e.occurred_at) FILTER (WHERE e.type = 3"
	"   AND e.verdict IN (1, 4)) AS clicked_at,"
	"  count(*) FILTER (WHERE e.type = 2 AND e.verdict = 2)"
	"   AS machine_opens,"
	"  count(*) FILTER (WHERE e.type = 3 AND e.verdict = 3)"
	"   AS scanner_clicks,"
	"  coalesce(bool_or(e.type = 1 OR (e.type IN (2, 3)"
	"   AND e.verdict IN (1, 4))), false) AS delivered,"
	"  coalesce(bool_or(e.type IN (2, 3) AND e.verdict IN (1, 4)), false)"
	"   AS opened,"
	"  coalesce(bool_or(e.type = 4 AND e.bounce = 1), false) AS bounced,"
	"  coalesce(bool_or((e.flags & 8) <> 0), false) AS untracked"
	"  FROM events e WHERE e.account_id = $1"
	"  AND e.contact_pk = a.contact_pk AND e.message_id = a.message_id) g"
	" WHERE g.order_at IS NOT NULL"
	" ON CONFLICT (account_id, contact_pk, message_id) DO UPDATE SET"
	" order_at = EXCLUDED.order_at, delivered_at = EXCLUDED.delivered_at,"
	" opened_at = EXCLUDED.opened_at, clicked_at = EXCLUDED.clicked_at,"
	" machine_opens = EXCLUDED.machine_opens,"
	" scanner_clicks = EXCLUDED.scanner_clicks,"
	" delivered = EXCLUDED.delivered, opened = EXCLUDED.opened,"
	" bounced = EXCLUDED.bounced, untracked = EXCLUDED.untracked,"
	" observable = EXCLUDED.observable",
	1 };

/*
 * Each touched contact's summary, recomputed from its messages: n, x, t_x
 * over observable messages in send order, the newest 256 as history, and
 * the insight counts.  Read here, scored by the caller, and written back
 * with the scores in one UPDATE (store_contacts_write), so each row is
 * updated once per merge.
 */
static struct db_statement SQL_CONTACTS_SUMMARY = { "st_contacts_summary",
	"SELECT a.contact_pk, s.n, s.x, s.t_x, s.history, s.clicks,"
	" f.hard_bounced, f.unsubscribed, f.complained, s.delivered,"
	" s.machine_opens, s.scanner_clicks,"
	" (extract(epoch FROM s.last_open_at) * 1000)::bigint,"
	" (extract(epoch FROM s.last_click_at) * 1000)::bigint"
	" FROM (SELECT DISTINCT contact_pk FROM stage_events"
	"  WHERE contact_pk IS NOT NULL) a"
	/* one pass over the contact's messages: pos numbers the observable
	 * ones in send order */
	" CROSS JOIN LATERAL (SELECT"
	"  count(*) FILTER (WHERE q.observable) AS n,"
	"  count(*) FILTER (WHERE q.observable AND q.opened) AS x,"
	"  coalesce(max(q.pos) FILTER (WHERE q.observable AND q.opened), 0)"
	"   AS t_x,"
	"  coalesce(right(string_agg(CASE WHEN q.opened THEN '1' ELSE '0' END,"
	"   '' ORDER BY q.pos) FILTER (WHERE q.observable), 256), '')"
	"   AS history,"
	"  count(*) FILTER (WHERE q.delivered) AS delivered,"
	"  count(*) FILTER (WHERE q.clicked_at IS NOT NULL) AS clicks,"
	"  coalesce(sum(q.machine_opens), 0) AS machine_opens,"
	"  coalesce(sum(q.scanner_clicks), 0) AS scanner_clicks,"
	"  max(q.opened_at) AS last_open_at, max(q.clicked_at) AS last_click_at"
	"  FROM (SELECT m.observable, m.opened, m.delivered, m.opened_at,"
	"   m.clicked_at, m.machine_opens, m.scanner_clicks,"
	"   count(*) FILTER (WHERE m.observable) OVER"
	"    (ORDER BY m.order_at, m.message_id) AS pos"
	"   FROM messages m WHERE m.account_id = $1"
	"   AND m.contact_pk = a.contact_pk) q) s"
	" CROSS JOIN LATERAL (SELECT"
	"  coalesce(bool_or(e.type = 4 AND e.bounce = 1), false)"
	"   AS hard_bounced,"
	"  coalesce(bool_or(e.type = 5 AND e.verdict <> 3), false)"
	"   AS unsubscribed,"
	"  coalesce(bool_or(e.type = 6), false) AS complained"
	"  FROM events e WHERE e.account_id = $1"
	"  AND e.contact_pk = a.contact_pk AND e.type IN (4, 5, 6)) f",
	1 };

static struct db_statement SQL_SCORES_UPDATE = { "st_scores_update",
	"UPDATE contacts c SET band = v.band, score = v.score,"
	" predicted_open_rate = v.rate, p_alive = v.alive, risk = v.risk,"
	" recommendation = v.rec, confidence = v.conf, trend = v.trend"
	" FROM unnest($2::bigint[], $3::smallint[], $4::real[],"
	"  $5::float8[], $6::float8[], $7::float8[], $8::smallint[],"
	"  $9::smallint[], $10::smallint[])"
	"  AS v(pk, band, score, rate, alive, risk, rec, conf, trend)"
	" WHERE c.account_id = $1 AND c.contact_pk = v.pk"
	" AND c.contact_pk = ANY ($2::bigint[])",
	10 };

#define STAGE_COLUMNS 16

/* The staged columns, as array literals. */
struct stage_columns {
	struct pgarray col[STAGE_COLUMNS];
};

static void
stage_build(struct stage_columns *sc, const struct store_batch *batches,
    size_t nbatches)
{
	int64_t idx = 0;

	for (int i = 0; i < STAGE_COLUMNS; i++)
		pgarray_init(&sc->col[i]);
	for (size_t r = 0; r < nbatches; r++) {
		const struct event_batch *batch = batches[r].batch;

		for (size_t i = 0; i < batch->count; i++) {
			const struct event *ev = &batch->items[i];

			pgarray_int(&sc->col[0], idx++);
			pgarray_int(&sc->col[1], (int64_t)r);
			pgarray_text(&sc->col[2], batches[r].provider);
			pgarray_text(&sc->col[3], ev->event_id);
			pgarray_int(&sc->col[4], ev->type);
			pgarray_text(&sc->col[5], ev->contact_id);
			pgarray_text(&sc->col[6], ev->email);
			pgarray_text(&sc->col[7], ev->message_id);
			pgarray_text(&sc->col[8], ev->campaign_id);
			pgarray_int(&sc->col[9], ev->occurred_at_ms);
			pgarray_text(&sc->col[10], ev->url);
			pgarray_text(&sc->col[11], ev->user_agent);
			pgarray_text(&sc->col[12], ev->ip);
			pgarray_int(&sc->col[13], ev->bounce);
			pgarray_int(&sc->col[14], ev->flags);
			pgarray_int(&sc->col[15], ev->verdict);
		}
	}
}

static void
stage_free(struct stage_columns *sc)
{
	for (int i = 0; i < STAGE_COLUMNS; i++)
		pgarray_free(&sc->col[i]);
}

static bool
stage_fill(PGconn *conn, const struct store_batch *batches, size_t nbatches,
    struct err *err)
{
	struct stage_columns sc;
	const char *params[STAGE_COLUMNS];
	bool ok;

	stage_build(&sc, batches, nbatches);
	for (int i = 0; i < STAGE_COLUMNS; i++)
		params[i] = pgarray_finish(&sc.col[i]);
	/* the temporary table lives as long as the session: create it once */
	ok = (db_is_prepared(conn, &SQL_STAGE_FILL) ||
		 db_command(conn, "create the staging table", SQL_STAGE_CREATE,
		     0, NULL, err)) &&
	     db_run_command(conn, &SQL_STAGE_FILL, params, err);
	stage_free(&sc);
	return ok;
}

/* Adds one to the erased count of each request a returned row names. */
static bool
drop_erased(PGconn *conn, const char *const *p_acct,
    struct store_batch *batches, size_t nbatches, struct err *err)
{
	PGresult *res = db_run(conn, &SQL_STAGE_DROP_ERASED, p_acct, err);

	if (res == NULL)
		return false;
	for (int r = 0; r < PQntuples(res); r++) {
		size_t req = (size_t)db_int64(res, r, 0);

		if (req < nbatches)
			batches[req].counts.erased++;
	}
	PQclear(res);
	return true;
}

static bool
insert_events(PGconn *conn, const char *const *p_ins,
    struct store_batch *batches, size_t nbatches, struct err *err)
{
	PGresult *res = db_run(conn, &SQL_EVENTS_INSERT, p_ins, err);

	if (res == NULL)
		return false;
	for (int r = 0; r < PQntuples(res); r++) {
		size_t req = (size_t)db_int64(res, r, 0);

		if (req < nbatches)
			batches[req].counts.stored =
			    (size_t)db_int64(res, r, 1);
	}
	PQclear(res);
	for (size_t i = 0; i < nbatches; i++)
		batches[i].counts.duplicates = batches[i].batch->count -
					       batches[i].counts.erased -
					       batches[i].counts.stored;
	return true;
}

static bool
resolve_contacts(
    PGconn *conn, const char *account, const char *now, struct err *err)
{
	const char *p2[2] = { account, now };
	const char *p1[1] = { account };

	return db_run_command(conn, &SQL_CONTACTS_ATTACH_CRM, p2, err) &&
	       db_run_command(conn, &SQL_CONTACTS_INSERT_CRM, p2, err) &&
	       db_run_command(conn, &SQL_CONTACTS_FILL_EMAIL, p1, err) &&
	       db_run_command(conn, &SQL_CONTACTS_INSERT_EMAIL, p2, err) &&
	       db_run_command(conn, &SQL_STAGE_RESOLVE, p1, err) &&
	       db_run_command(conn, &SQL_CONTACTS_LOCK, p1, err);
}

void
store_history_parse(const char *text, struct model_summary *summary)
{
	size_t len = text != NULL ? strlen(text) : 0;

	if (len > MODEL_HISTORY_MAX)
		len = MODEL_HISTORY_MAX;
	for (size_t i = 0; i < len; i++)
		summary->history[i] = text[i] == '1';
	summary->history_len = (int)len;
}

static void
touched_from_result(
    const PGresult *res, struct store_touched **touched, size_t *count)
{
	int rows = PQntuples(res);

	*count = (size_t)rows;
	*touched = xcalloc((size_t)rows, sizeof(**touched));
	for (int r = 0; r < rows; r++) {
		struct store_touched *t = &(*touched)[r];

		t->contact_pk = db_int64(res, r, 0);
		t->summary.n = (int)db_int64(res, r, 1);
		t->summary.x = (int)db_int64(res, r, 2);
		t->summary.t_x = (int)db_int64(res, r, 3);
		store_history_parse(db_text(res, r, 4), &t->summary);
		t->summary.clicks = (int)db_int64(res, r, 5);
		t->hard_bounced = db_bool(res, r, 6);
		t->unsubscribed = db_bool(res, r, 7);
		t->complained = db_bool(res, r, 8);
		t->summary.suppressed =
		    t->hard_bounced || t->unsubscribed || t->complained;
		t->delivered = (int)db_int64(res, r, 9);
		t->machine_opens = (int)db_int64(res, r, 10);
		t->scanner_clicks = (int)db_int64(res, r, 11);
		t->last_open_ms =
		    PQgetisnull(res, r, 12) ? -1 : db_int64(res, r, 12);
		t->last_click_ms =
		    PQgetisnull(res, r, 13) ? -1 : db_int64(res, r, 13);
	}
}

bool
store_events_merge_many(PGconn *conn, int64_t account_id,
    struct store_batch *batches, size_t nbatches,
    const struct store_scanner *scanner, int64_t now_ms,
    struct store_touched **touched, size_t *touched_count, struct err *err)
{
	char account[24], now[24], window[16], links[16], burst[16];
	const char *p_acct[1] = { account };
	const char *p_ins[2] = { account, now };
	const char *p_win[4] = { account, window, links, burst };
	PGresult *res;

	*touched = NULL;
	*touched_count = 0;
	for (size_t i = 0; i < nbatches; i++)
		memset(&batches[i].counts, 0, sizeof(batches[i].counts));
	snprintf(account, sizeof(account), "%" PRId64, account_id);
	snprintf(now, sizeof(now), "%" PRId64, now_ms);
	snprintf(window, sizeof(window), "%d", scanner->window_s);
	snprintf(links, sizeof(links), "%d", scanner->burst_links);
	snprintf(burst, sizeof(burst), "%d", scanner->burst_window_s);

	if (!stage_fill(conn, batches, nbatches, err) ||
	    !drop_erased(conn, p_acct, batches, nbatches, err) ||
	    !resolve_contacts(conn, account, now, err) ||
	    !insert_events(conn, p_ins, batches, nbatches, err) ||
	    !db_run_command(conn, &SQL_SCANNER_TIMING, p_win, err) ||
	    !db_run_command(conn, &SQL_MESSAGES_MERGE, p_acct, err))
		return false;
	res = db_run(conn, &SQL_CONTACTS_SUMMARY, p_acct, err);
	if (res == NULL)
		return false;
	touched_from_result(res, touched, touched_count);
	PQclear(res);
	return true;
}

static struct db_statement SQL_CONTACTS_WRITE = { "st_contacts_write",
	"UPDATE contacts c SET n = v.n, x = v.x, t_x = v.t_x,"
	" history = v.history, human_clicks = v.clicks,"
	" hard_bounced = v.hb, unsubscribed = v.un, complained = v.co,"
	" messages_delivered = v.delivered, machine_opens = v.mo,"
	" scanner_clicks = v.sc, last_open_at = to_timestamp(v.lo / 1000.0),"
	" last_click_at = to_timestamp(v.lc / 1000.0),"
	" updated_at = to_timestamp($2::bigint / 1000.0),"
	" band = v.band, score = v.score, predicted_open_rate = v.rate,"
	" p_alive = v.alive, risk = v.risk, recommendation = v.rec,"
	" confidence = v.conf, trend = v.trend"
	" FROM unnest($3::bigint[], $4::integer[], $5::integer[],"
	"  $6::integer[], $7::text[], $8::integer[], $9::boolean[],"
	"  $10::boolean[], $11::boolean[], $12::integer[], $13::integer[],"
	"  $14::integer[], $15::bigint[], $16::bigint[], $17::smallint[],"
	"  $18::real[], $19::float8[], $20::float8[], $21::float8[],"
	"  $22::smallint[], $23::smallint[], $24::smallint[])"
	"  AS v(pk, n, x, t_x, history, clicks, hb, un, co, delivered, mo, sc,"
	"  lo, lc, band, score, rate, alive, risk, rec, conf, trend)"
	" WHERE c.account_id = $1 AND c.contact_pk = v.pk"
	" AND c.contact_pk = ANY ($3::bigint[])",
	24 };

/* Appends a double with enough digits to come back the same. */
static void
array_double(struct pgarray *arr, double v)
{
	char buf[40];

	snprintf(buf, sizeof(buf), "%.17g", isfinite(v) ? v : 0.0);
	pgarray_text(arr, buf);
}

static void
array_bool(struct pgarray *arr, bool v)
{
	pgarray_text(arr, v ? "t" : "f");
}

/* A time in ms, or SQL NULL for the -1 of "never". */
static void
array_time(struct pgarray *arr, int64_t ms)
{
	if (ms < 0)
		pgarray_text(arr, NULL);
	else
		pgarray_int(arr, ms);
}

static void
array_history(struct pgarray *arr, const struct model_summary *sum)
{
	char text[MODEL_HISTORY_MAX + 1];

	for (int i = 0; i < sum->history_len; i++)
		text[i] = sum->history[i] ? '1' : '0';
	text[sum->history_len] = '\0';
	pgarray_text(arr, text);
}

#define WRITE_COLUMNS 22

bool
store_contacts_write(PGconn *conn, int64_t account_id,
    const struct store_touched *touched, const struct model_score *scores,
    size_t count, int64_t now_ms, struct err *err)
{
	struct pgarray col[WRITE_COLUMNS];
	char account[24], now[24];
	const char *params[WRITE_COLUMNS + 2];
	bool ok;

	if (count == 0)
		return true;
	snprintf(account, sizeof(account), "%" PRId64, account_id);
	snprintf(now, sizeof(now), "%" PRId64, now_ms);
	for (int i = 0; i < WRITE_COLUMNS; i++)
		pgarray_init(&col[i]);
	for (size_t i = 0; i < count; i++) {
		const struct store_touched *t = &touched[i];
		const struct model_score *sc = &scores[i];

		pgarray_int(&col[0], t->contact_pk);
		pgarray_int(&col[1], t->summary.n);
		pgarray_int(&col[2], t->summary.x);
		pgarray_int(&col[3], t->summary.t_x);
		array_history(&col[4], &t->summary);
		pgarray_int(&col[5], t->summary.clicks);
		array_bool(&col[6], t->hard_bounced);
		array_bool(&col[7], t->unsubscribed);
		array_bool(&col[8], t->complained);
		pgarray_int(&col[9], t->delivered);
		pgarray_int(&col[10], t->machine_opens);
		pgarray_int(&col[11], t->scanner_clicks);
		array_time(&col[12], t->last_open_ms);
		array_time(&col[13], t->last_click_ms);
		pgarray_int(&col[14], sc->band);
		array_double(&col[15], sc->score);
		array_double(&col[16], sc->predicted_open_rate);
		array_double(&col[17], sc->p_alive);
		array_double(&col[18], sc->risk);
		pgarray_int(&col[19], sc->recommendation);
		pgarray_int(&col[20], sc->confidence);
		pgarray_int(&col[21], sc->trend);
	}
	params[0] = account;
	params[1] = now;
	for (int i = 0; i < WRITE_COLUMNS; i++)
		params[i + 2] = pgarray_finish(&col[i]);
	ok = db_run_command(conn, &SQL_CONTACTS_WRITE, params, err);
	for (int i = 0; i < WRITE_COLUMNS; i++)
		pgarray_free(&col[i]);
	return ok;
}

bool
store_scores_update(PGconn *conn, int64_t account_id,
    const int64_t *contact_pks, const struct model_score *scores, size_t count,
    struct err *err)
{
	struct pgarray col[9];
	char account[24];
	const char *params[10];
	bool ok;

	if (count == 0)
		return true;
	snprintf(account, sizeof(account), "%" PRId64, account_id);
	for (int i = 0; i < 9; i++)
		pgarray_init(&col[i]);
	for (size_t i = 0; i < count; i++) {
		const struct model_score *sc = &scores[i];

		pgarray_int(&col[0], contact_pks[i]);
		pgarray_int(&col[1], sc->band);
		array_double(&col[2], sc->score);
		array_double(&col[3], sc->predicted_open_rate);
		array_double(&col[4], sc->p_alive);
		array_double(&col[5], sc->risk);
		pgarray_int(&col[6], sc->recommendation);
		pgarray_int(&col[7], sc->confidence);
		pgarray_int(&col[8], sc->trend);
	}
	params[0] = account;
	for (int i = 0; i < 9; i++)
		params[i + 1] = pgarray_finish(&col[i]);
	ok = db_run_command(conn, &SQL_SCORES_UPDATE, params, err);
	for (int i = 0; i < 9; i++)
		pgarray_free(&col[i]);
	return ok;
}
