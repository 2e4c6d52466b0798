/*
 * contacts.c - the read resources (scorecards, band listings) and the
 * contact resource itself (create/update, erase).
 *
 * Every lookup is scoped to the caller's account, and a contact of another
 * account is answered exactly like one that does not exist (404), so the
 * answers leak nothing about other tenants.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "store/contacts.h"
#include "store/db.h"
#include "store/fits.h"
#include "store/scoresync.h"

#define MAX_BATCH_IDS 500
#define MAX_PAGE 1000
#define DEFAULT_PAGE 100
#define MAX_ID_LEN 256

static PGconn *
acquire_or_respond(struct http_request *req)
{
	struct err err = { 0 };
	PGconn *conn = db_pool_acquire(api_ctx->pool, 2000, &err);

	if (conn == NULL)
		api_respond_unavailable(req, &err);
	return conn;
}

static void
release(PGconn *conn, bool failed)
{
	db_pool_release(api_ctx->pool, conn, failed && db_conn_broken(conn));
}

/*
 * Ends the transaction of a contact write: COMMIT when ok, else ROLLBACK;
 * then the cache forgets what it published, before the client hears of
 * it.  Returns whether the write committed.
 */
static bool
finish_write(PGconn *conn, bool ok, struct err *err)
{
	if (ok)
		ok = db_command(
		    conn, "commit a contact write", "COMMIT", 0, NULL, err);
	else if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
	scoresync_committed(conn);
	return ok;
}

static json_t *
card_for(
    const struct store_contact *c, const struct model_params *p, int64_t now)
{
	return scorecard_json(c, p, &api_ctx->thresholds, now);
}

static void
scorecard_lookup(
    struct http_request *req, enum store_lookup by, const char *key)
{
	struct store_contact contact;
	struct model_params params;
	struct err err = { 0 };
	int64_t now = time_now_ms();
	PGconn *conn;
	int found;

	fits_params(api_ctx->pool, http_account(req), &params);
	if (by == STORE_BY_CRM_ID) {
		found = scoresync_contact_get(
		    api_ctx->pool, http_account(req), key, now, &contact, &err);
	} else {
		/* not cached: which contact an address finds can change with
		 * writes to other contacts (docs/cache.md) */
		conn = acquire_or_respond(req);
		if (conn == NULL)
			return;
		found = store_contact_get(
		    conn, http_account(req), by, key, now, &contact, &err);
		release(conn, found < 0);
	}
	if (found < 0) {
		api_respond_unavailable(req, &err);
		return;
	}
	if (found == 0) {
		http_respond_error(req, 404, "not_found", "no such contact");
		return;
	}
	http_respond_json(req, 200, card_for(&contact, &params, now));
	store_contact_free(&contact);
}

void
api_scorecard_by_id(struct http_request *req)
{
	if (!api_authenticate_or_respond(req))
		return;
	scorecard_lookup(req, STORE_BY_CRM_ID, http_param(req, "contact_id"));
}

void
api_scorecard_by_email(struct http_request *req)
{
	const char *email;
	char *normal;

	if (!api_authenticate_or_respond(req))
		return;
	email = http_query(req, "email");
	if (email == NULL || email[0] == '\0') {
		http_respond_error(req, 400, "missing_email",
		    "the email query parameter is required");
		return;
	}
	normal = xstrdup(email);
	if (!event_normalize_email(normal)) {
		free(normal);
		http_respond_error(
		    req, 400, "bad_email", "email is not an address");
		return;
	}
	scorecard_lookup(req, STORE_BY_EMAIL, normal);
	free(normal);
}

/* Reads {"contact_ids":[...]} into a borrowed array of strings. */
static bool
batch_ids_or_respond(
    struct http_request *req, json_t *root, const char ***ids, size_t *count)
{
	json_t *list = json_object_get(root, "contact_ids");
	size_t n;

	if (!json_is_array(list)) {
		http_respond_error(req, 400, "malformed_body",
		    "the body must be {\"contact_ids\":[...]}");
		return false;
	}
	n = json_array_size(list);
	if (n == 0 || n > MAX_BATCH_IDS) {
		http_respond_error(req, 400, "bad_batch",
		    "contact_ids holds 1 to %d ids", MAX_BATCH_IDS);
		return false;
	}
	*ids = xcalloc(n, sizeof(**ids));
	for (size_t i = 0; i < n; i++) {
		json_t *id = json_array_get(list, i);

		if (!json_is_string(id) || json_string_length(id) == 0 ||
		    json_string_length(id) > MAX_ID_LEN) {
			free(*ids);
			http_respond_error(req, 400, "bad_contact_id",
			    "contact_ids[%zu] must be a non-empty string", i);
			return false;
		}
		(*ids)[i] = json_string_value(id);
	}
	*count = n;
	return true;
}

void
api_scorecards_batch(struct http_request *req)
{
	struct store_contact *found = NULL;
	struct model_params params;
	struct err err = { 0 };
	const char **ids = NULL;
	size_t nids = 0, nfound = 0, len;
	const char *body = http_body(req, &len);
	int64_t now = time_now_ms();
	json_t *root, *cards, *missing;
	bool ok;

	if (!api_authenticate_or_respond(req))
		return;
	root = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
	if (root == NULL) {
		http_respond_error(
		    req, 400, "malformed_json", "the body is not valid JSON");
		return;
	}
	if (!batch_ids_or_respond(req, root, &ids, &nids))
		goto out;
	fits_params(api_ctx->pool, http_account(req), &params);
	ok = scoresync_contacts_by_ids(api_ctx->pool, http_account(req), ids,
	    nids, now, &found, &nfound, &err);
	if (!ok) {
		api_respond_unavailable(req, &err);
		goto out;
	}
	cards = json_array();
	missing = json_array();
	for (size_t i = 0; i < nids; i++) {
		size_t j;

		for (j = 0; j < nfound; j++)
			if (strcmp(found[j].crm_id, ids[i]) == 0)
				break;
		if (j < nfound)
			json_array_append_new(
			    cards, card_for(&found[j], &params, now));
		else
			json_array_append_new(missing, json_string(ids[i]));
	}
	http_respond_json(req, 200,
	    json_pack("{s:o,s:o}", "scorecards", cards, "not_found", missing));
out:
	for (size_t j = 0; j < nfound; j++)
		store_contact_free(&found[j]);
	free(found);
	free(ids);
	json_decref(root);
}

static bool
parse_page_or_respond(
    struct http_request *req, int *band, int *limit, int64_t *after)
{
	const char *band_name = http_query(req, "band");
	enum model_band b;
	const char *text;
	char *end;

	if (band_name == NULL || !model_band_parse(band_name, &b)) {
		http_respond_error(req, 400, "bad_band",
		    "band must be one of green, yellow, orange, red, gray");
		return false;
	}
	*band = (int)b;
	*limit = DEFAULT_PAGE;
	text = http_query(req, "limit");
	if (text != NULL) {
		long v = strtol(text, &end, 10);

		if (*end != '\0' || v < 1 || v > MAX_PAGE) {
			http_respond_error(req, 400, "bad_limit",
			    "limit must be 1 to %d", MAX_PAGE);
			return false;
		}
		*limit = (int)v;
	}
	*after = 0;
	text = http_query(req, "cursor");
	if (text != NULL && text[0] != '\0') {
		long long v = strtoll(text, &end, 10);

		if (*end != '\0' || v < 0) {
			http_respond_error(req, 400, "bad_cursor",
			    "cursor is not one this service gave out");
			return false;
		}
		*after = v;
	}
	return true;
}

void
api_contacts_list(struct http_request *req)
{
	struct store_contact *page = NULL;
	struct model_params params;
	struct err err = { 0 };
	size_t count = 0;
	int band, limit;
	int64_t after, now = time_now_ms();
	json_t *cards, *cursor;
	PGconn *conn;
	bool ok;

	if (!api_authenticate_or_respond(req) ||
	    !parse_page_or_respond(req, &band, &limit, &after))
		return;
	fits_params(api_ctx->pool, http_account(req), &params);
	conn = acquire_or_respond(req);
	if (conn == NULL)
		return;
	ok = store_contacts_by_band(conn, http_account(req), band, after, limit,
	    now, &page, &count, &err);
	release(conn, !ok);
	if (!ok) {
		api_respond_unavailable(req, &err);
		return;
	}
	cards = json_array();
	for (size_t i = 0; i < count; i++)
		json_array_append_new(cards, card_for(&page[i], &params, now));
	cursor = json_null();
	if (count == (size_t)limit) {
		char buf[24];

		snprintf(
		    buf, sizeof(buf), "%" PRId64, page[count - 1].contact_pk);
		json_decref(cursor);
		cursor = json_string(buf);
	}
	http_respond_json(req, 200,
	    json_pack("{s:o,s:o}", "contacts", cards, "next_cursor", cursor));
	for (size_t i = 0; i < count; i++)
		store_contact_free(&page[i]);
	free(page);
}

static bool
contact_id_ok_or_respond(struct http_request *req, const char *id)
{
	if (id == NULL || id[0] == '\0' || strlen(id) > MAX_ID_LEN) {
		http_respond_error(req, 400, "bad_contact_id",
		    "the contact id must be 1 to %d bytes", MAX_ID_LEN);
		return false;
	}
	return true;
}

/* Reads the PUT body's optional email and joined_at. */
static bool
put_fields_or_respond(struct http_request *req, json_t *root, char **email,
    int64_t *joined, bool *has_joined)
{
	json_t *e = json_object_get(root, "email");
	json_t *j = json_object_get(root, "joined_at");

	*email = NULL;
	*has_joined = false;
	if (e != NULL && !json_is_null(e)) {
		if (!json_is_string(e)) {
			http_respond_error(
			    req, 400, "bad_email", "email must be a string");
			return false;
		}
		*email = xstrdup(json_string_value(e));
		if (!event_normalize_email(*email)) {
			free(*email);
			*email = NULL;
			http_respond_error(
			    req, 400, "bad_email", "email is not an address");
			return false;
		}
	}
	if (j != NULL && !json_is_null(j)) {
		if (!json_is_string(j) ||
		    !time_parse_iso8601(json_string_value(j), joined)) {
			free(*email);
			*email = NULL;
			http_respond_error(req, 400, "bad_joined_at",
			    "joined_at must be an RFC 3339 time");
			return false;
		}
		*has_joined = true;
	}
	return true;
}

void
api_contact_put(struct http_request *req)
{
	const char *id = http_param(req, "contact_id");
	struct store_contact contact;
	struct model_params params;
	struct err err = { 0 };
	char *email = NULL;
	int64_t joined = 0, now = time_now_ms();
	bool has_joined, ok;
	size_t len;
	const char *body = http_body(req, &len);
	json_t *root;
	PGconn *conn;
	int found = -1;

	if (!api_authenticate_or_respond(req) ||
	    !contact_id_ok_or_respond(req, id))
		return;
	root = body != NULL ? json_loadb(body, len, 0, NULL) : NULL;
	if (!json_is_object(root)) {
		json_decref(root);
		http_respond_error(req, 400, "malformed_json",
		    "the body must be a JSON object");
		return;
	}
	if (!put_fields_or_respond(req, root, &email, &joined, &has_joined))
		goto out;
	fits_params(api_ctx->pool, http_account(req), &params);
	conn = acquire_or_respond(req);
	if (conn == NULL)
		goto out;
	ok = db_command(
		 conn, "begin a contact update", "BEGIN", 0, NULL, &err) &&
	     store_contact_put(conn, http_account(req), id, email,
		 has_joined ? &joined : NULL, now, &err);
	if (ok)
		found = store_contact_get(conn, http_account(req),
		    STORE_BY_CRM_ID, id, now, &contact, &err);
	ok = finish_write(conn,
	    ok && found == 1 &&
		scoresync_publish(
		    conn, http_account(req), &contact.contact_pk, 1, &err),
	    &err);
	release(conn, !ok);
	if (!ok || found != 1) {
		if (found == 1)
			store_contact_free(&contact);
		api_respond_unavailable(req, &err);
		goto out;
	}
	http_respond_json(req, 200, card_for(&contact, &params, now));
	store_contact_free(&contact);
out:
	free(email);
	json_decref(root);
}

void
api_contact_delete(struct http_request *req)
{
	const char *id = http_param(req, "contact_id");
	struct err err = { 0 };
	int64_t contact_pk = 0;
	PGconn *conn;
	int erased;

	if (!api_authenticate_or_respond(req) ||
	    !contact_id_ok_or_respond(req, id))
		return;
	conn = acquire_or_respond(req);
	if (conn == NULL)
		return;
	erased = db_command(conn, "begin an erasure", "BEGIN", 0, NULL, &err)
		     ? store_contact_erase(conn, http_account(req), id,
			   time_now_ms(), &contact_pk, &err)
		     : -1;
	if (!finish_write(conn,
		erased == 0 ||
		    (erased == 1 && scoresync_publish(conn, http_account(req),
					&contact_pk, 1, &err)),
		&err))
		erased = -1;
	release(conn, erased < 0);
	if (erased < 0)
		api_respond_unavailable(req, &err);
	else if (erased == 0)
		http_respond_error(req, 404, "not_found", "no such contact");
	else
		http_respond_empty(req, 204);
}
