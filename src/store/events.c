/*
 * events.c - the write path's SQL (see include/store/events.h).
 *
 * One group of requests is one transaction of a fixed number of
 * statements, whatever its size: the batches are passed as arrays and
 * unnested into a temporary staging table, then merged set by set.  The
 * statements up to the message merge are sent as one pipeline (one round
 * trip); the contact summaries are then advanced here, in C, from the
 * changed messages, and only the contacts that are not the fast case are
 * recomputed by one more statement.  Type and verdict codes are the enum
 * values of include/ingest/event.h; the SQL spells them as numbers with
 * the name beside.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
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

/*
 * The session's staging tables, created by every merge (IF NOT EXISTS
 * costs a catalogue lookup): a merge rolled back on the connection's first
 * use takes its CREATE with it, while the prepared statements survive.
 * stage_new holds the events this merge stored (not the duplicates),
 * stage_recompute the messages whose stored events changed verdict.
 *
 * They keep their rows past COMMIT: each merge empties them first with
 * one DELETE (SQL_STAGE_CLEAR).  ON COMMIT DELETE ROWS truncated all
 * three at every commit, rebuilding the index of each one's TOAST table
 * and changing the catalogue, which sent every prepared statement back to
 * be checked: a fifth of PostgreSQL's time with small groups.  Deleted
 * rows leave dead tuples that nothing vacuums in a temporary table, so
 * once STAGE_TRUNCATE_ROWS rows have passed through a connection's tables
 * they are truncated instead, inside the merge's transaction.
 */
static struct db_statement SQL_STAGE_CREATE = { "st_stage_create",
	"CREATE TEMP TABLE IF NOT EXISTS stage_events ("
	" idx integer, req integer, provider text, event_key text,"
	" type smallint, crm_id text,"
	" email text, message_id text, campaign_id text, occurred_ms bigint,"
	" url text, user_agent text, ip text, bounce smallint, flags integer,"
	" verdict smallint, contact_pk bigint)",
	0 };

static struct db_statement SQL_STAGE_NEW_CREATE = { "st_stage_new_create",
	"CREATE TEMP TABLE IF NOT EXISTS stage_new ("
	" event_pk bigint, contact_pk bigint, message_id text, type smallint,"
	" verdict smallint, occurred_at timestamptz, bounce smallint,"
	" flags integer)",
	0 };

static struct db_statement SQL_STAGE_RECOMPUTE_CREATE = {
	"st_stage_recompute_create",
	"CREATE TEMP TABLE IF NOT EXISTS stage_recompute ("
	" contact_pk bigint, message_id text)",
	0
};

#define STAGE_TRUNCATE_ROWS 1000

static struct db_statement SQL_STAGE_CLEAR = { "st_stage_clear",
	"WITH n AS (DELETE FROM stage_new), r AS (DELETE FROM stage_recompute)"
	" DELETE FROM stage_events",
	0 };

static struct db_statement SQL_STAGE_TRUNCATE = { "st_stage_truncate",
	"TRUNCATE stage_events, stage_new, stage_recompute", 0 };

/*
 * The merge's statements depend on no parameter value a plan could use
 * (the batch is in the staging tables), yet PostgreSQL kept planning them
 * anew on every run (custom plans): a third of the server time of small
 * groups.  Their one generic plan is used for this transaction only.
 */
static struct db_statement SQL_GENERIC_PLANS = { "st_generic_plans",
	"SET LOCAL plan_cache_mode = force_generic_plan", 0 };

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
 * on the contacts', messages' and events' rows they share.  The locked
 * rows' summaries are what the merge advances: no other merge can change
 * them, or the contacts' messages, before this one commits.  Columns as
 * SQL_CONTACTS_RECOMPUTE's (touched_read).
 */
static struct db_statement SQL_CONTACTS_LOCK = { "st_contacts_lock",
	"SELECT contact_pk, n, x, t_x, history, human_clicks, hard_bounced,"
	" unsubscribed, complained, messages_delivered, machine_opens,"
	" scanner_clicks, (extract(epoch FROM last_open_at) * 1000)::bigint,"
	" (extract(epoch FROM last_click_at) * 1000)::bigint,"
	" tail_order_us, tail_message_id"
	" FROM contacts WHERE account_id = $1"
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
	" RETURNING event_pk, provider, event_key, contact_pk, message_id, type,"
	"  verdict, occurred_at, bounce, flags),"
	/* what the messages and summaries are advanced by */
	" kept AS (INSERT INTO stage_new (event_pk, contact_pk, message_id,"
	"  type, verdict, occurred_at, bounce, flags)"
	"  SELECT event_pk, contact_pk, message_id, type, verdict, occurred_at,"
	"  bounce, flags FROM ins)"
	/* each new row is credited to the first request that carried it */
	" SELECT f.req, count(*) FROM (SELECT DISTINCT ON (provider, event_key)"
	"  req, provider, event_key FROM stage_events"
	"  ORDER BY provider, event_key, req, idx) f"
	" JOIN ins USING (provider, event_key) GROUP BY f.req",
	2 };

/*
 * Clicks and unsubscribes within the window after delivery (type 1), and
 * clicks that belong to a burst over many different links of the message,
 * are a scanner's (verdict 3), in whatever order the events arrived.  Only
 * the messages with new events are looked at: the rules depend on a
 * message's events alone, and the last merge that stored one of them
 * applied them already.  A flipped new event is flipped in stage_new too;
 * a flipped stored one sends its message to stage_recompute.
 */
static struct db_statement SQL_SCANNER_TIMING = { "st_scanner_timing",
	"WITH flip AS (UPDATE events e SET verdict = 3"
	" WHERE e.account_id = $1 AND e.event_pk = ANY (ARRAY("
	"  SELECT x.event_pk FROM (SELECT DISTINCT contact_pk, message_id"
	"   FROM stage_new WHERE message_id IS NOT NULL) a"
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
	"    >= $3::integer) x))"
	" RETURNING e.event_pk, e.contact_pk, e.message_id),"
	" fresh AS (UPDATE stage_new n SET verdict = 3 FROM flip"
	"  WHERE n.event_pk = flip.event_pk RETURNING n.event_pk)"
	" INSERT INTO stage_recompute (contact_pk, message_id)"
	" SELECT DISTINCT contact_pk, message_id FROM flip"
	" WHERE event_pk NOT IN (SELECT event_pk FROM fresh)",
	4 };

/* A timestamptz as integer micro- and milliseconds since 1970. */
#define SQL_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"
#define SQL_MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

/*
 * Each message with new events, advanced by them: the new events of a
 * message are aggregated and combined with its stored row (earliest
 * times by least, latest by greatest, counts added, flags or'ed), which
 * is exact as long as no stored event changed verdict; the messages of
 * stage_recompute are rebuilt from all their events instead.  Opened
 * means a human (or undecided) open or click (types 2, 3 with verdict 1
 * or 4); an open implies delivery.  Observable: delivered, tracked, not
 * hard-bounced, and not a message whose only opens were machine opens.
 * Returns each changed message before and after (touched_changes).
 */
static struct db_statement SQL_MESSAGES_MERGE = { "st_messages_merge",
	"WITH inc AS (SELECT n.contact_pk, n.message_id,"
	"  min(n.occurred_at) AS order_at,"
	"  min(n.occurred_at) FILTER (WHERE n.type = 1) AS delivered_at,"
	"  max(n.occurred_at) FILTER (WHERE n.type IN (2, 3)"
	"   AND n.verdict IN (1, 4)) AS opened_at,"
	"  max(n.occurred_at) FILTER (WHERE n.type = 3"
	"   AND n.verdict IN (1, 4)) AS clicked_at,"
	"  count(*) FILTER (WHERE n.type = 2 AND n.verdict = 2)"
	"   AS machine_opens,"
	"  count(*) FILTER (WHERE n.type = 3 AND n.verdict = 3)"
	"   AS scanner_clicks,"
	"  bool_or(n.type = 1 OR (n.type IN (2, 3) AND n.verdict IN (1, 4)))"
	"   AS delivered,"
	"  bool_or(n.type IN (2, 3) AND n.verdict IN (1, 4)) AS opened,"
	"  bool_or(n.type = 4 AND n.bounce = 1) AS bounced,"
	"  bool_or((n.flags & 8) <> 0) AS untracked"
	"  FROM stage_new n WHERE n.message_id IS NOT NULL"
	"  AND NOT EXISTS (SELECT 1 FROM stage_recompute r"
	"   WHERE r.contact_pk = n.contact_pk AND r.message_id = n.message_id)"
	"  GROUP BY n.contact_pk, n.message_id),"
	" rec AS (SELECT r.contact_pk, r.message_id, g.*"
	"  FROM (SELECT DISTINCT contact_pk, message_id FROM stage_recompute) r"
	"  CROSS JOIN LATERAL (SELECT min(e.occurred_at) AS order_at,"
	"   min(e.occurred_at) FILTER (WHERE e.type = 1) AS delivered_at,"
	"   max(e.occurred_at) FILTER (WHERE e.type IN (2, 3)"
	"    AND e.verdict IN (1, 4)) AS opened_at,"
	"   max(e.occurred_at) FILTER (WHERE e.type = 3"
	"    AND e.verdict IN (1, 4)) AS clicked_at,"
	"   count(*) FILTER (WHERE e.type = 2 AND e.verdict = 2)"
	"    AS machine_opens,"
	"   count(*) FILTER (WHERE e.type = 3 AND e.verdict = 3)"
	"    AS scanner_clicks,"
	"   coalesce(bool_or(e.type = 1 OR (e.type IN (2, 3)"
	"    AND e.verdict IN (1, 4))), false) AS delivered,"
	"   coalesce(bool_or(e.type IN (2, 3) AND e.verdict IN (1, 4)), false)"
	"    AS opened,"
	"   coalesce(bool_or(e.type = 4 AND e.bounce = 1), false) AS bounced,"
	"   coalesce(bool_or((e.flags & 8) <> 0), false) AS untracked"
	"   FROM events e WHERE e.account_id = $1"
	"   AND e.contact_pk = r.contact_pk AND e.message_id = r.message_id) g"
	"  WHERE g.order_at IS NOT NULL),"
	" src AS (SELECT i.contact_pk, i.message_id, false AS recomputed,"
	"  o AS old, least(o.order_at, i.order_at) AS order_at,"
	"  least(o.delivered_at, i.delivered_at) AS delivered_at,"
	"  greatest(o.opened_at, i.opened_at) AS opened_at,"
	"  greatest(o.clicked_at, i.clicked_at) AS clicked_at,"
	"  coalesce(o.machine_opens, 0) + i.machine_opens AS machine_opens,"
	"  coalesce(o.scanner_clicks, 0) + i.scanner_clicks AS scanner_clicks,"
	"  coalesce(o.delivered, false) OR i.delivered AS delivered,"
	"  coalesce(o.opened, false) OR i.opened AS opened,"
	"  coalesce(o.bounced, false) OR i.bounced AS bounced,"
	"  coalesce(o.untracked, false) OR i.untracked AS untracked"
	"  FROM inc i LEFT JOIN messages o ON o.account_id = $1"
	"  AND o.contact_pk = i.contact_pk AND o.message_id = i.message_id"
	"  UNION ALL SELECT c.contact_pk, c.message_id, true, o, c.order_at,"
	"  c.delivered_at, c.opened_at, c.clicked_at, c.machine_opens,"
	"  c.scanner_clicks, c.delivered, c.opened, c.bounced, c.untracked"
	"  FROM rec c LEFT JOIN messages o ON o.account_id = $1"
	"  AND o.contact_pk = c.contact_pk AND o.message_id = c.message_id),"
	" nxt AS (SELECT s.*, s.delivered AND NOT s.bounced AND NOT s.untracked"
	"  AND (s.opened OR s.machine_opens = 0) AS observable FROM src s),"
	" up AS (INSERT INTO messages AS m (account_id, contact_pk, message_id,"
	"  order_at, delivered_at, opened_at, clicked_at, machine_opens,"
	"  scanner_clicks, delivered, opened, bounced, untracked, observable)"
	"  SELECT $1::bigint, contact_pk, message_id, order_at, delivered_at,"
	"  opened_at, clicked_at, machine_opens, scanner_clicks, delivered,"
	"  opened, bounced, untracked, observable FROM nxt"
	"  ORDER BY contact_pk, message_id"
	"  ON CONFLICT (account_id, contact_pk, message_id) DO UPDATE SET"
	"  order_at = EXCLUDED.order_at, delivered_at = EXCLUDED.delivered_at,"
	"  opened_at = EXCLUDED.opened_at, clicked_at = EXCLUDED.clicked_at,"
	"  machine_opens = EXCLUDED.machine_opens,"
	"  scanner_clicks = EXCLUDED.scanner_clicks,"
	"  delivered = EXCLUDED.delivered, opened = EXCLUDED.opened,"
	"  bounced = EXCLUDED.bounced, untracked = EXCLUDED.untracked,"
	"  observable = EXCLUDED.observable)"
	" SELECT contact_pk, message_id, recomputed,"
	" " SQL_US(
	    "(old).order_at") ", coalesce((old).observable, false),"
			      " coalesce((old).opened, false), coalesce((old).delivered, false),"
			      " (old).clicked_at IS NOT NULL, coalesce((old).machine_opens, 0),"
			      " coalesce((old).scanner_clicks, 0),"
			      " " SQL_US(
				  "order_at") ", observable, opened, delivered,"
					      " clicked_at IS NOT NULL, machine_opens, scanner_clicks,"
					      " " SQL_MS("opened_at") ", " SQL_MS(
						  "clicked_at") " FROM nxt",
	1 };

/* The status events among the new ones, by contact. */
static struct db_statement SQL_NEW_STATUS = { "st_new_status",
	"SELECT contact_pk, bool_or(type = 4 AND bounce = 1),"
	" bool_or(type = 5 AND verdict <> 3), bool_or(type = 6)"
	" FROM stage_new WHERE type IN (4, 5, 6) GROUP BY contact_pk",
	0 };

/*
 * The contacts ($2) the fast case does not cover, recomputed from all
 * their messages: n, x, t_x over observable messages in send order
 * (order_at, then message_id byte by byte, as store_summary_advance
 * compares), the newest 256 as history, the insight counts, and the tail.
 * Read here, scored by the caller, and written back with the scores in
 * one UPDATE (store_contacts_write), so each row is updated once per
 * merge.
 */
static struct db_statement SQL_CONTACTS_RECOMPUTE = { "st_contacts_recompute",
	"SELECT a.contact_pk, s.n, s.x, s.t_x, s.history, s.clicks,"
	" f.hard_bounced, f.unsubscribed, f.complained, s.delivered,"
	" s.machine_opens, s.scanner_clicks,"
	" " SQL_MS("s.last_open_at") ", " SQL_MS(
	    "s.last_click_at") ","
			       " k.order_us, k.message_id"
			       " FROM unnest($2::bigint[]) AS a(contact_pk)"
			       /* one pass over the contact's messages: pos
				* numbers the observable ones in send order */
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
			       "    (ORDER BY m.order_at, m.message_id COLLATE \"C\") AS pos"
			       "   FROM messages m WHERE m.account_id = $1"
			       "   AND m.contact_pk = a.contact_pk) q) s"
			       " CROSS JOIN LATERAL (SELECT"
			       "  coalesce(bool_or(e.type = 4 AND e.bounce = 1), false)"
			       "   AS hard_bounced,"
			       "  coalesce(bool_or(e.type = 5 AND e.verdict <> 3), false)"
			       "   AS unsubscribed,"
			       "  coalesce(bool_or(e.type = 6), false) AS complained"
			       "  FROM events e WHERE e.account_id = $1"
			       "  AND e.contact_pk = a.contact_pk AND e.type IN (4, 5, 6)) f"
			       " LEFT JOIN LATERAL (SELECT " SQL_US(
				   "m.order_at") " AS order_us,"
						 "  m.message_id FROM messages m WHERE m.account_id = $1"
						 "  AND m.contact_pk = a.contact_pk AND m.observable"
						 "  ORDER BY m.order_at DESC, m.message_id COLLATE \"C\" DESC LIMIT 1) k"
						 " ON true",
	2 };

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

/* Adds one to the erased count of each request a returned row names. */
static void
count_erased(const PGresult *res, struct store_batch *batches, size_t nbatches)
{
	for (int r = 0; r < PQntuples(res); r++) {
		size_t req = (size_t)db_int64(res, r, 0);

		if (req < nbatches)
			batches[req].counts.erased++;
	}
}

static void
count_stored(const PGresult *res, struct store_batch *batches, size_t nbatches)
{
	for (int r = 0; r < PQntuples(res); r++) {
		size_t req = (size_t)db_int64(res, r, 0);

		if (req < nbatches)
			batches[req].counts.stored =
			    (size_t)db_int64(res, r, 1);
	}
	for (size_t i = 0; i < nbatches; i++)
		batches[i].counts.duplicates = batches[i].batch->count -
					       batches[i].counts.erased -
					       batches[i].counts.stored;
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

/* Sets t's tail to (order_us, id), or UNKNOWN when id is too long to keep. */
static void
tail_set(struct store_touched *t, int64_t order_us, const char *id)
{
	size_t len = strlen(id);

	if (len > STORE_TAIL_ID_MAX) {
		t->tail = STORE_TAIL_UNKNOWN;
		return;
	}
	t->tail = STORE_TAIL_SET;
	t->tail_order_us = order_us;
	memcpy(t->tail_message_id, id, len + 1);
}

/* One row of SQL_CONTACTS_LOCK or SQL_CONTACTS_RECOMPUTE into *t. */
static void
touched_read(const PGresult *res, int r, struct store_touched *t)
{
	memset(t, 0, sizeof(*t));
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
	t->last_open_ms = PQgetisnull(res, r, 12) ? -1 : db_int64(res, r, 12);
	t->last_click_ms = PQgetisnull(res, r, 13) ? -1 : db_int64(res, r, 13);
	if (!PQgetisnull(res, r, 14) && !PQgetisnull(res, r, 15))
		tail_set(t, db_int64(res, r, 14), db_text(res, r, 15));
	else
		t->tail =
		    t->summary.n == 0 ? STORE_TAIL_NONE : STORE_TAIL_UNKNOWN;
}

/* Orders keys (order_us, message_id) as the SQL does with COLLATE "C". */
static int
key_compare(int64_t a_us, const char *a_id, int64_t b_us, const char *b_id)
{
	int c;

	if (a_us != b_us)
		return a_us < b_us ? -1 : 1;
	c = strcmp(a_id, b_id);
	return (c > 0) - (c < 0);
}

bool
store_summary_advance(struct store_touched *t,
    const struct store_message_change *changes, size_t count)
{
	struct store_touched next = *t;
	struct model_summary *sum = &next.summary;
	/* the known end of the observable sequence: the stored history,
	 * then what this merge appends */
	uint8_t *seq;
	size_t len = (size_t)t->summary.history_len, keep;
	bool has_tail = t->tail == STORE_TAIL_SET, appended = false;
	int64_t tail_us = t->tail_order_us;
	const char *tail_id = t->tail_message_id;
	bool fast = t->tail != STORE_TAIL_UNKNOWN;

	seq = xmalloc(len + count + 1);
	memcpy(seq, t->summary.history, len);
	for (size_t i = 0; fast && i < count; i++) {
		const struct store_message_change *c = &changes[i];
		const struct store_message_state *was = &c->before,
						 *now = &c->after;

		if (c->recomputed) {
			fast = false;
			break;
		}
		/* without verdict flips every count and time only grows */
		next.delivered += (int)now->delivered - (int)was->delivered;
		sum->clicks += (int)now->clicked - (int)was->clicked;
		next.machine_opens += now->machine_opens - was->machine_opens;
		next.scanner_clicks +=
		    now->scanner_clicks - was->scanner_clicks;
		if (c->opened_ms > next.last_open_ms)
			next.last_open_ms = c->opened_ms;
		if (c->clicked_ms > next.last_click_ms)
			next.last_click_ms = c->clicked_ms;
		if (!was->observable && !now->observable)
			continue;
		if (was->observable && now->observable &&
		    was->opened == now->opened &&
		    was->order_us == now->order_us)
			continue;
		if (was->observable) {
			/* only the newest observable message may change, in
			 * place, or leave the sequence if it was unopened
			 * (t_x then still points at an earlier one) */
			if (!has_tail || appended || len == 0 ||
			    was->order_us != now->order_us ||
			    key_compare(was->order_us, c->message_id, tail_us,
				tail_id) != 0 ||
			    was->opened) {
				fast = false;
				break;
			}
			if (now->observable) {
				if (now->opened) {
					seq[len - 1] = 1;
					sum->x++;
					sum->t_x = sum->n;
				}
			} else {
				len--;
				sum->n--;
			}
			continue;
		}
		/* joins the sequence: only after every observable message */
		if (has_tail && key_compare(now->order_us, c->message_id,
				    tail_us, tail_id) < 0) {
			fast = false;
			break;
		}
		seq[len++] = now->opened;
		sum->n++;
		if (now->opened) {
			sum->x++;
			sum->t_x = sum->n;
		}
		has_tail = appended = true;
		tail_us = now->order_us;
		tail_id = c->message_id;
	}
	/* a message that left the sequence may have uncovered one older
	 * than the stored history reaches */
	keep =
	    (size_t)(sum->n < MODEL_HISTORY_MAX ? sum->n : MODEL_HISTORY_MAX);
	if (fast && len < keep)
		fast = false;
	if (fast) {
		memcpy(sum->history, seq + (len - keep), keep);
		sum->history_len = (int)keep;
		if (appended)
			tail_set(&next, tail_us, tail_id);
		*t = next;
	}
	free(seq);
	return fast;
}

/* Sorts a contact's changes by contact, then new ordering key. */
static int
change_compare(const void *pa, const void *pb)
{
	const struct store_message_change *a = pa, *b = pb;

	if (a->contact_pk != b->contact_pk)
		return a->contact_pk < b->contact_pk ? -1 : 1;
	return key_compare(
	    a->after.order_us, a->message_id, b->after.order_us, b->message_id);
}

static int64_t
ms_or_none(const PGresult *res, int r, int col)
{
	return PQgetisnull(res, r, col) ? -1 : db_int64(res, r, col);
}

/* The rows of SQL_MESSAGES_MERGE, sorted; message ids borrowed from res. */
static struct store_message_change *
changes_read(const PGresult *res, size_t *count)
{
	int rows = PQntuples(res);
	struct store_message_change *changes =
	    xcalloc((size_t)rows + 1, sizeof(*changes));

	for (int r = 0; r < rows; r++) {
		struct store_message_change *c = &changes[r];

		c->contact_pk = db_int64(res, r, 0);
		c->message_id = PQgetvalue(res, r, 1);
		c->recomputed = db_bool(res, r, 2);
		c->before.order_us = db_int64(res, r, 3);
		c->before.observable = db_bool(res, r, 4);
		c->before.opened = db_bool(res, r, 5);
		c->before.delivered = db_bool(res, r, 6);
		c->before.clicked = db_bool(res, r, 7);
		c->before.machine_opens = (int)db_int64(res, r, 8);
		c->before.scanner_clicks = (int)db_int64(res, r, 9);
		c->after.order_us = db_int64(res, r, 10);
		c->after.observable = db_bool(res, r, 11);
		c->after.opened = db_bool(res, r, 12);
		c->after.delivered = db_bool(res, r, 13);
		c->after.clicked = db_bool(res, r, 14);
		c->after.machine_opens = (int)db_int64(res, r, 15);
		c->after.scanner_clicks = (int)db_int64(res, r, 16);
		c->opened_ms = ms_or_none(res, r, 17);
		c->clicked_ms = ms_or_none(res, r, 18);
	}
	qsort(changes, (size_t)rows, sizeof(*changes), change_compare);
	*count = (size_t)rows;
	return changes;
}

/* The index of contact_pk in touched (sorted by contact_pk), or -1. */
static long
touched_find(const struct store_touched *touched, size_t count, int64_t pk)
{
	size_t lo = 0, hi = count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (touched[mid].contact_pk == pk)
			return (long)mid;
		if (touched[mid].contact_pk < pk)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/*
 * Advances each touched contact (as locked) by its changed messages and
 * new status events; returns the contacts that need recomputing as an
 * array literal in *slow (NULL when none).
 */
static void
touched_advance(struct store_touched *touched, size_t count,
    const PGresult *changed, const PGresult *status, char **slow)
{
	size_t nchanges, nslow = 0, at = 0;
	struct store_message_change *changes = changes_read(changed, &nchanges);
	struct pgarray slow_pks;

	pgarray_init(&slow_pks);
	for (int r = 0; r < PQntuples(status); r++) {
		long i = touched_find(touched, count, db_int64(status, r, 0));

		if (i < 0)
			continue;
		touched[i].hard_bounced |= db_bool(status, r, 1);
		touched[i].unsubscribed |= db_bool(status, r, 2);
		touched[i].complained |= db_bool(status, r, 3);
	}
	for (size_t i = 0; i < count; i++) {
		struct store_touched *t = &touched[i];
		size_t first;

		while (at < nchanges && changes[at].contact_pk < t->contact_pk)
			at++;
		first = at;
		while (at < nchanges && changes[at].contact_pk == t->contact_pk)
			at++;
		t->summary.suppressed =
		    t->hard_bounced || t->unsubscribed || t->complained;
		if (!store_summary_advance(t, changes + first, at - first)) {
			pgarray_int(&slow_pks, t->contact_pk);
			nslow++;
		}
	}
	free(changes);
	metrics_add(METRIC_SUMMARIES_ADVANCED, count - nslow);
	metrics_add(METRIC_SUMMARIES_RECOMPUTED, nslow);
	*slow = nslow > 0 ? xstrdup(pgarray_finish(&slow_pks)) : NULL;
	pgarray_free(&slow_pks);
}

/* Replaces the touched contacts listed in slow by their recomputation. */
static bool
touched_recompute(PGconn *conn, const char *account, const char *slow,
    struct store_touched *touched, size_t count, struct err *err)
{
	const char *params[2] = { account, slow };
	PGresult *res = db_run(conn, &SQL_CONTACTS_RECOMPUTE, params, err);

	if (res == NULL)
		return false;
	for (int r = 0; r < PQntuples(res); r++) {
		long i = touched_find(touched, count, db_int64(res, r, 0));

		if (i >= 0)
			touched_read(res, r, &touched[i]);
	}
	PQclear(res);
	return true;
}

/* The statements of one merge, in the order they are sent and read. */
enum merge_step {
	STEP_GENERIC_PLANS,
	STEP_CREATE_STAGE,
	STEP_CREATE_NEW,
	STEP_CREATE_RECOMPUTE,
	STEP_CLEAR,
	STEP_FILL,
	STEP_DROP_ERASED,
	STEP_ATTACH_CRM,
	STEP_INSERT_CRM,
	STEP_FILL_EMAIL,
	STEP_INSERT_EMAIL,
	STEP_RESOLVE,
	STEP_LOCK,
	STEP_INSERT_EVENTS,
	STEP_SCANNER,
	STEP_MESSAGES,
	STEP_STATUS,
	STEP_COUNT
};

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
	const char *p_fill[STAGE_COLUMNS];
	struct stage_columns sc;
	struct db_pipe pipe;
	PGresult *res[STEP_COUNT] = { 0 };
	char *slow = NULL;
	size_t stage_rows = 0;
	bool ok;

	*touched = NULL;
	*touched_count = 0;
	for (size_t i = 0; i < nbatches; i++)
		memset(&batches[i].counts, 0, sizeof(batches[i].counts));
	snprintf(account, sizeof(account), "%" PRId64, account_id);
	snprintf(now, sizeof(now), "%" PRId64, now_ms);
	snprintf(window, sizeof(window), "%d", scanner->window_s);
	snprintf(links, sizeof(links), "%d", scanner->burst_links);
	snprintf(burst, sizeof(burst), "%d", scanner->burst_window_s);
	if (!db_pipe_start(&pipe, conn, err))
		return false;
	stage_build(&sc, batches, nbatches);
	for (int i = 0; i < STAGE_COLUMNS; i++)
		p_fill[i] = pgarray_finish(&sc.col[i]);
	for (size_t i = 0; i < nbatches; i++)
		stage_rows += batches[i].batch->count;
	/* nothing below depends on an earlier result on the client: all of
	 * it goes out at once */
	db_pipe_send(&pipe, &SQL_GENERIC_PLANS, NULL);
	db_pipe_send(&pipe, &SQL_STAGE_CREATE, NULL);
	db_pipe_send(&pipe, &SQL_STAGE_NEW_CREATE, NULL);
	db_pipe_send(&pipe, &SQL_STAGE_RECOMPUTE_CREATE, NULL);
	if (db_conn_tally(conn, stage_rows) < STAGE_TRUNCATE_ROWS) {
		db_pipe_send(&pipe, &SQL_STAGE_CLEAR, NULL);
	} else {
		db_conn_tally_reset(conn);
		db_pipe_send(&pipe, &SQL_STAGE_TRUNCATE, NULL);
	}
	db_pipe_send(&pipe, &SQL_STAGE_FILL, p_fill);
	db_pipe_send(&pipe, &SQL_STAGE_DROP_ERASED, p_acct);
	db_pipe_send(&pipe, &SQL_CONTACTS_ATTACH_CRM, p_ins);
	db_pipe_send(&pipe, &SQL_CONTACTS_INSERT_CRM, p_ins);
	db_pipe_send(&pipe, &SQL_CONTACTS_FILL_EMAIL, p_acct);
	db_pipe_send(&pipe, &SQL_CONTACTS_INSERT_EMAIL, p_ins);
	db_pipe_send(&pipe, &SQL_STAGE_RESOLVE, p_acct);
	db_pipe_send(&pipe, &SQL_CONTACTS_LOCK, p_acct);
	db_pipe_send(&pipe, &SQL_EVENTS_INSERT, p_ins);
	db_pipe_send(&pipe, &SQL_SCANNER_TIMING, p_win);
	db_pipe_send(&pipe, &SQL_MESSAGES_MERGE, p_acct);
	db_pipe_send(&pipe, &SQL_NEW_STATUS, NULL);
	stage_free(&sc);
	for (int i = 0; i < STEP_COUNT; i++)
		res[i] = db_pipe_next(&pipe);
	ok = db_pipe_finish(&pipe);
	if (ok) {
		size_t count = (size_t)PQntuples(res[STEP_LOCK]);

		count_erased(res[STEP_DROP_ERASED], batches, nbatches);
		count_stored(res[STEP_INSERT_EVENTS], batches, nbatches);
		*touched = xcalloc(count + 1, sizeof(**touched));
		*touched_count = count;
		for (size_t i = 0; i < count; i++)
			touched_read(res[STEP_LOCK], (int)i, &(*touched)[i]);
		touched_advance(*touched, count, res[STEP_MESSAGES],
		    res[STEP_STATUS], &slow);
	}
	for (int i = 0; i < STEP_COUNT; i++)
		PQclear(res[i]);
	if (ok && slow != NULL)
		ok = touched_recompute(
		    conn, account, slow, *touched, *touched_count, err);
	free(slow);
	if (!ok) {
		free(*touched);
		*touched = NULL;
		*touched_count = 0;
	}
	return ok;
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
	" confidence = v.conf, trend = v.trend, tail_order_us = v.tail_us,"
	" tail_message_id = v.tail_id"
	" FROM unnest($3::bigint[], $4::integer[], $5::integer[],"
	"  $6::integer[], $7::text[], $8::integer[], $9::boolean[],"
	"  $10::boolean[], $11::boolean[], $12::integer[], $13::integer[],"
	"  $14::integer[], $15::bigint[], $16::bigint[], $17::smallint[],"
	"  $18::real[], $19::float8[], $20::float8[], $21::float8[],"
	"  $22::smallint[], $23::smallint[], $24::smallint[], $25::bigint[],"
	"  $26::text[])"
	"  AS v(pk, n, x, t_x, history, clicks, hb, un, co, delivered, mo, sc,"
	"  lo, lc, band, score, rate, alive, risk, rec, conf, trend, tail_us,"
	"  tail_id)"
	" WHERE c.account_id = $1 AND c.contact_pk = v.pk"
	" AND c.contact_pk = ANY ($3::bigint[])",
	26 };

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

#define WRITE_COLUMNS 24

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
		if (t->tail == STORE_TAIL_SET) {
			pgarray_int(&col[22], t->tail_order_us);
			pgarray_text(&col[23], t->tail_message_id);
		} else {
			pgarray_text(&col[22], NULL);
			pgarray_text(&col[23], NULL);
		}
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
