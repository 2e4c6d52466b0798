/*
 * contacts.c - contact reads, upserts and erasure (see store/contacts.h).
 *
 * A scorecard read is the contact's row plus two counts over the partial
 * indexes of recent opens and clicks; nothing scans a contact's events, so
 * the cost does not grow with its history.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store/contacts.h"
#include "store/db.h"
#include "store/events.h"
#include "store/pgarray.h"

/*
 * The columns read_row expects, in order; $2 is the service clock (ms).
 * The last is when the 30-day counts next change with time alone: the
 * oldest counted open or click plus 30 days, an hour early so that the
 * day arithmetic of a time zone with daylight saving cannot make it late.
 */
#define CONTACT_COLUMNS                                                        \
	"SELECT c.contact_pk, c.crm_id, c.email,"                              \
	" (extract(epoch FROM c.joined_at) * 1000)::bigint,"                   \
	" c.n, c.x, c.t_x, c.history, c.human_clicks, c.messages_delivered,"   \
	" c.machine_opens, c.scanner_clicks,"                                  \
	" (extract(epoch FROM c.last_open_at) * 1000)::bigint,"                \
	" (extract(epoch FROM c.last_click_at) * 1000)::bigint,"               \
	" c.hard_bounced, c.unsubscribed, c.complained,"                       \
	" o.opens, k.clicks,"                                                  \
	" c.score, c.predicted_open_rate, c.p_alive, c.risk, c.band,"          \
	" c.recommendation, c.confidence, c.trend,"                            \
	" floor(extract(epoch FROM least(o.oldest, k.oldest)"                  \
	"  + interval '30 days' - interval '1 hour') * 1000)::bigint"          \
	" FROM contacts c"                                                     \
	" CROSS JOIN LATERAL (SELECT count(*) AS opens,"                       \
	"  min(m.opened_at) AS oldest FROM messages m"                         \
	"  WHERE m.account_id = c.account_id"                                  \
	"  AND m.contact_pk = c.contact_pk AND m.opened_at >="                 \
	"  to_timestamp($2::bigint / 1000.0) - interval '30 days') o"          \
	" CROSS JOIN LATERAL (SELECT count(*) AS clicks,"                      \
	"  min(m.clicked_at) AS oldest FROM messages m"                        \
	"  WHERE m.account_id = c.account_id"                                  \
	"  AND m.contact_pk = c.contact_pk AND m.clicked_at >="                \
	"  to_timestamp($2::bigint / 1000.0) - interval '30 days') k "

static struct db_statement SQL_BY_CRM = { "st_by_crm",
	CONTACT_COLUMNS "WHERE c.account_id = $1 AND c.crm_id = $3", 3 };

static struct db_statement SQL_BY_EMAIL = { "st_by_email",
	CONTACT_COLUMNS "WHERE c.account_id = $1 AND c.email = $3"
			" ORDER BY (c.crm_id IS NULL), c.contact_pk LIMIT 1",
	3 };

static struct db_statement SQL_BY_IDS = { "st_by_ids",
	CONTACT_COLUMNS
	"WHERE c.account_id = $1 AND c.crm_id = ANY($3::text[])",
	3 };

static struct db_statement SQL_BY_BAND = { "st_by_band",
	CONTACT_COLUMNS
	"WHERE c.account_id = $1 AND c.band = $3 AND c.contact_pk > $4"
	" ORDER BY c.contact_pk LIMIT $5",
	5 };

static const char SQL_PUT_ATTACH[] =
    "UPDATE contacts SET crm_id = $2, joined_at = coalesce("
    " to_timestamp($4::bigint / 1000.0), joined_at),"
    " updated_at = to_timestamp($5::bigint / 1000.0)"
    " WHERE account_id = $1 AND crm_id IS NULL AND email = $3"
    " AND NOT EXISTS (SELECT 1 FROM contacts WHERE account_id = $1"
    "  AND crm_id = $2)";

static const char SQL_PUT_UPSERT[] =
    "INSERT INTO contacts (account_id, crm_id, email, joined_at, created_at,"
    " updated_at) VALUES ($1, $2, $3, to_timestamp($4::bigint / 1000.0),"
    " to_timestamp($5::bigint / 1000.0), to_timestamp($5::bigint / 1000.0))"
    " ON CONFLICT (account_id, crm_id) DO UPDATE SET"
    " email = coalesce(EXCLUDED.email, contacts.email),"
    " joined_at = coalesce(EXCLUDED.joined_at, contacts.joined_at),"
    " updated_at = EXCLUDED.updated_at";

static const char SQL_LIFT_TOMBSTONE[] =
    "DELETE FROM erasures WHERE account_id = $1 AND id_hash IN ("
    " sha256(convert_to('crm:' || $2, 'UTF8')),"
    " sha256(convert_to('email:' || coalesce($3, ''), 'UTF8')))";

static const char SQL_ERASE[] =
    "DELETE FROM contacts WHERE account_id = $1 AND crm_id = $2"
    " RETURNING email, contact_pk";

static const char SQL_TOMBSTONE[] =
    "INSERT INTO erasures (account_id, id_hash, erased_at)"
    " SELECT $1, h, to_timestamp($4::bigint / 1000.0) FROM unnest(ARRAY["
    " sha256(convert_to('crm:' || $2, 'UTF8')),"
    " sha256(convert_to('email:' || coalesce($3, ''), 'UTF8'))]) AS h"
    " ON CONFLICT DO NOTHING";

void
store_contact_free(struct store_contact *c)
{
	free(c->crm_id);
	free(c->email);
	memset(c, 0, sizeof(*c));
}

static void
read_row(const PGresult *res, int r, struct store_contact *c)
{
	memset(c, 0, sizeof(*c));
	c->contact_pk = db_int64(res, r, 0);
	c->crm_id = xstrdup(db_text(res, r, 1));
	c->email = xstrdup(db_text(res, r, 2));
	c->joined_at_ms = db_int64(res, r, 3);
	c->summary.n = (int)db_int64(res, r, 4);
	c->summary.x = (int)db_int64(res, r, 5);
	c->summary.t_x = (int)db_int64(res, r, 6);
	store_history_parse(db_text(res, r, 7), &c->summary);
	c->summary.clicks = (int)db_int64(res, r, 8);
	c->messages_delivered = (int)db_int64(res, r, 9);
	c->machine_opens = (int)db_int64(res, r, 10);
	c->scanner_clicks = (int)db_int64(res, r, 11);
	c->last_open_at_ms = db_int64(res, r, 12);
	c->last_click_at_ms = db_int64(res, r, 13);
	c->hard_bounced = db_bool(res, r, 14);
	c->unsubscribed = db_bool(res, r, 15);
	c->complained = db_bool(res, r, 16);
	c->opens_30d = (int)db_int64(res, r, 17);
	c->clicks_30d = (int)db_int64(res, r, 18);
	c->summary.suppressed =
	    c->hard_bounced || c->unsubscribed || c->complained;
	c->scored = !PQgetisnull(res, r, 19);
	if (c->scored) {
		c->stored.score = atof(PQgetvalue(res, r, 19));
		c->stored.predicted_open_rate = atof(PQgetvalue(res, r, 20));
		c->stored.p_alive = atof(PQgetvalue(res, r, 21));
		c->stored.risk = atof(PQgetvalue(res, r, 22));
		c->stored.band = (enum model_band)db_int64(res, r, 23);
		c->stored.recommendation =
		    (enum model_recommendation)db_int64(res, r, 24);
		c->stored.confidence =
		    (enum model_confidence)db_int64(res, r, 25);
		c->stored.trend = (enum model_trend)db_int64(res, r, 26);
	}
	c->counts_change_at_ms = db_int64(res, r, 27);
}

static void
read_all(const PGresult *res, struct store_contact **out, size_t *count)
{
	int rows = PQntuples(res);

	*count = (size_t)rows;
	*out = xcalloc((size_t)rows + 1, sizeof(**out));
	for (int r = 0; r < rows; r++)
		read_row(res, r, &(*out)[r]);
}

int
store_contact_get(PGconn *conn, int64_t account_id, enum store_lookup by,
    const char *key, int64_t now_ms, struct store_contact *out, struct err *err)
{
	char account[24], now[24];
	const char *params[3] = { account, now, key };
	PGresult *res;
	int found;

	snprintf(account, sizeof(account), "%" PRId64, account_id);
	snprintf(now, sizeof(now), "%" PRId64, now_ms);
	res = db_run(conn, by == STORE_BY_CRM_ID ? &SQL_BY_CRM : &SQL_BY_EMAIL,
	    params, err);
	if (res == NULL)
		return -1;
	found = PQntuples(res) > 0;
	if (found)
		read_row(res, 0, out);
	PQclear(res);
	return found;
}

bool
store_contacts_by_ids(PGconn *conn, int64_t account_id, const char *const *ids,
    size_t nids, int64_t now_ms, struct store_contact **out, size_t *count,
    struct err *err)
{
	char account[24], now[24];
	const char *params[3] = { account, now, NULL };
	struct pgarray arr;
	PGresult *res;

	snprintf(account, sizeof(account), "%" PRId64, account_id);
	snprintf(now, sizeof(now), "%" PRId64, now_ms);
	pgarray_init(&arr);
	for (size_t i = 0; i < nids; i++)
		pgarray_text(&arr, ids[i]);
	params[2] = pgarray_finish(&arr);
	res = db_run(conn, &SQL_BY_IDS, params, err);
	pgarray_free(&arr);
	if (res == NULL)
		return false;
	read_all(res, out, count);
	PQclear(res);
	return true;
}

bool
store_contacts_by_band(PGconn *conn, int64_t account_id, int band,
    int64_t after, int limit, int64_t now_ms, struct store_contact **out,
    size_t *count, struct err *err)
{
	char account[24], now[24], b[8], a[24], l[12];
	const char *params[5] = { account, now, b, a, l };
	PGresult *res;

	snprintf(account, sizeof(account), "%" PRId64, account_id);
	snprintf(now, sizeof(now), "%" PRId64, now_ms);
	snprintf(b, sizeof(b), "%d", band);
	snprintf(a, sizeof(a), "%" PRId64, after);
	snprintf(l, sizeof(l), "%d", limit);
	res = db_run(conn, &SQL_BY_BAND, params, err);
	if (res == NULL)
		return false;
	read_all(res, out, count);
	PQclear(res);
	return true;
}

bool
store_contact_put(PGconn *conn, int64_t account_id, const char *crm_id,
    const char *email, const int64_t *joined_at_ms, int64_t now_ms,
    struct err *err)
{
	char account[24], joined[24], now[24];
	const char *params[5] = { account, crm_id, email, NULL, now };
	PGresult *res;
	bool attached = false;

	snprintf(account, sizeof(account), "%" PRId64, account_id);
	snprintf(now, sizeof(now), "%" PRId64, now_ms);
	if (joined_at_ms != NULL) {
		snprintf(joined, sizeof(joined), "%" PRId64, *joined_at_ms);
		params[3] = joined;
	}
	if (email != NULL) {
		res = db_exec(
		    conn, "attach a contact", SQL_PUT_ATTACH, 5, params, err);
		if (res == NULL)
			return false;
		attached = strcmp(PQcmdTuples(res), "0") != 0;
		PQclear(res);
	}
	if (!attached && !db_command(conn, "upsert a contact", SQL_PUT_UPSERT,
			     5, params, err))
		return false;
	return db_command(
	    conn, "lift a tombstone", SQL_LIFT_TOMBSTONE, 3, params, err);
}

int
store_contact_erase(PGconn *conn, int64_t account_id, const char *crm_id,
    int64_t now_ms, int64_t *contact_pk, struct err *err)
{
	char account[24], now[24];
	const char *params[4] = { account, crm_id, NULL, now };
	PGresult *res;
	char *email = NULL;
	bool ok;

	snprintf(account, sizeof(account), "%" PRId64, account_id);
	snprintf(now, sizeof(now), "%" PRId64, now_ms);
	res = db_exec(conn, "erase a contact", SQL_ERASE, 2, params, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	email = xstrdup(db_text(res, 0, 0));
	*contact_pk = db_int64(res, 0, 1);
	PQclear(res);
	params[2] = email;
	ok = db_command(
	    conn, "record an erasure", SQL_TOMBSTONE, 4, params, err);
	free(email);
	return ok ? 1 : -1;
}
