/*
 * events.c - the write resources: native events and the mail senders'
 * webhooks, and the model refit.
 *
 * A write is authenticated, parsed and verified on the polling thread,
 * then handed to group commit with the connection suspended; the answer
 * is built when the committer resumes it, after the events committed (or
 * were spooled), so the polling thread never waits for PostgreSQL.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "senders/sender.h"
#include "store/db.h"
#include "store/fits.h"
#include "store/keys.h"
#include "store/secrets.h"

static bool
is_json_content_type(const char *ct)
{
	size_t len;

	if (ct == NULL)
		return false;
	len = strcspn(ct, ";");
	while (len > 0 && ct[len - 1] == ' ')
		len--;
	return len == strlen("application/json") &&
	       strncasecmp(ct, "application/json", len) == 0;
}

static json_t *
rejections_json(const struct ingest_rejection *rej, size_t count)
{
	json_t *list = json_array();

	for (size_t i = 0; i < count; i++)
		json_array_append_new(
		    list, json_pack("{s:I,s:s}", "index",
			      (json_int_t)rej[i].index, "error", rej[i].error));
	return list;
}

/* A write between its hand-off and its answer; the request owns it. */
struct pending_write {
	struct ingest_write write;
	struct http_request *req;
	struct event_batch batch;
	bool webhook;
	/* native: the events that failed validation, listed in the answer */
	struct ingest_rejection *rejected;
	size_t rejected_count;
	/* webhook: how many events failed the common validation */
	size_t dropped;
};

static void
pending_write_free(void *state)
{
	struct pending_write *pw = state;

	event_batch_clear(&pw->batch);
	free(pw->rejected);
	free(pw);
}

/* On the committer thread, once the write is settled. */
static void
write_settled(struct ingest_write *write)
{
	struct pending_write *pw = write->done_arg;

	http_resume(pw->req);
}

/* The answer, on the polling thread after the resume: as it always was. */
static void
answer_write(struct http_request *req, void *state)
{
	struct pending_write *pw = state;
	const struct ingest_result *result = &pw->write.result;
	size_t accepted = result->spooled ? pw->batch.count : result->accepted;

	if (!pw->write.ok) {
		api_respond_unavailable(req, &pw->write.err);
	} else if (pw->webhook) {
		http_respond_json(req, 200,
		    json_pack("{s:I,s:I,s:I,s:I,s:b}", "accepted",
			(json_int_t)accepted, "duplicates",
			(json_int_t)result->duplicates, "ignored",
			(json_int_t)result->ignored, "rejected",
			(json_int_t)pw->dropped, "spooled", result->spooled));
	} else {
		http_respond_json(req, 202,
		    json_pack("{s:I,s:I,s:o,s:b}", "accepted",
			(json_int_t)accepted, "duplicates",
			(json_int_t)result->duplicates, "rejected",
			rejections_json(pw->rejected, pw->rejected_count),
			"spooled", result->spooled));
	}
}

/* Suspends req and hands pw (taken) to group commit. */
static void
write_later(struct http_request *req, int64_t account, const char *provider,
    struct pending_write *pw)
{
	pw->req = req;
	pw->write.account_id = account;
	pw->write.provider = provider;
	pw->write.batch = &pw->batch;
	pw->write.done = write_settled;
	pw->write.done_arg = pw;
	if (!http_suspend(req, answer_write, pw, pending_write_free)) {
		pending_write_free(pw);
		return;
	}
	ingest_write_submit(&api_ctx->ingest, &pw->write);
}

void
api_events_post(struct http_request *req)
{
	struct event_batch batch = { 0 };
	struct ingest_rejection *rejected = NULL;
	struct pending_write *pw;
	struct err err = { 0 };
	size_t rejected_count = 0, len;
	const char *body;

	if (!api_authenticate_or_respond(req))
		return;
	if (!is_json_content_type(http_header(req, "Content-Type"))) {
		http_respond_error(req, 415, "unsupported_media_type",
		    "events must be sent as application/json");
		return;
	}
	body = http_body(req, &len);
	if (!ingest_parse_native(body, len, api_ctx->ingest.max_batch_events,
		&batch, &rejected, &rejected_count, &err)) {
		metrics_add(METRIC_EVENTS_REJECTED, 1);
		http_respond_err(req, &err);
		goto out;
	}
	metrics_add(METRIC_EVENTS_REJECTED, rejected_count);
	if (batch.count == 0) {
		json_t *e = json_pack("{s:{s:s,s:s,s:o}}", "error", "code",
		    "invalid_events", "message",
		    "no event in the request is valid", "rejected",
		    rejections_json(rejected, rejected_count));

		http_respond_json(req, 400, e);
		goto out;
	}
	pw = xcalloc(1, sizeof(*pw));
	pw->batch = batch;
	pw->rejected = rejected;
	pw->rejected_count = rejected_count;
	write_later(req, http_account(req), "native", pw);
	return;
out:
	event_batch_clear(&batch);
	free(rejected);
}

static const char *
request_header(const void *ctx, const char *name)
{
	return http_header((const struct http_request *)ctx, name);
}

static void
secrets_from_config(const struct config_sender *cs, struct sender_secrets *s)
{
	memset(s, 0, sizeof(*s));
	s->public_key = cs->public_key;
	s->signing_key = cs->signing_key;
	s->signed_url = cs->signed_url;
	s->cert_dir = cs->cert_dir;
	s->topic_arn = cs->topic_arn;
	s->username = cs->username;
	s->password = cs->password;
	s->token = cs->token;
	s->replay_window_s = cs->replay_window_s;
}

static int
sender_config_index(const char *name)
{
	for (int i = 0; i < CFG_SENDER_COUNT; i++)
		if (strcmp(config_sender_name((enum config_sender_id)i),
			name) == 0)
			return i;
	return -1;
}

/* The account a webhook path names; the default account when none. */
static bool
webhook_account_or_respond(struct http_request *req, int64_t *account)
{
	const char *name = http_param(req, "account");
	struct err err = { 0 };
	PGconn *conn;
	int found;

	*account = 1;
	if (name == NULL)
		return true;
	conn = db_pool_acquire(api_ctx->pool, 2000, &err);
	if (conn == NULL) {
		api_respond_unavailable(req, &err);
		return false;
	}
	found = keys_account_id(conn, name, account, &err);
	db_pool_release(api_ctx->pool, conn, found < 0);
	if (found < 0)
		api_respond_unavailable(req, &err);
	else if (found == 0)
		http_respond_error(req, 404, "not_found", "no such account");
	return found == 1;
}

static bool
config_has_credentials(const struct config_sender *s)
{
	return s->public_key[0] != '\0' || s->signing_key[0] != '\0' ||
	       s->cert_dir[0] != '\0' || s->password[0] != '\0' ||
	       s->token[0] != '\0';
}

/* Credentials read from webhook_secrets; loaded false when the
 * configuration's are used. */
struct account_secrets {
	bool loaded;
	struct config_sender values;
};

/*
 * The default account uses the configuration file's credentials when it
 * has any for this sender; every other account only its own, from the
 * database, so no account can accept a request signed for another.
 */
static bool
account_secrets_or_respond(struct http_request *req, int64_t account, int index,
    struct account_secrets *out)
{
	struct err err = { 0 };
	PGconn *conn;
	int found;

	if (account == 1 &&
	    config_has_credentials(&api_ctx->cfg->senders[index]))
		return true;
	conn = db_pool_acquire(api_ctx->pool, 2000, &err);
	if (conn == NULL) {
		api_respond_unavailable(req, &err);
		return false;
	}
	found = secrets_load(conn, account,
	    config_sender_name((enum config_sender_id)index), &out->values,
	    &err);
	db_pool_release(api_ctx->pool, conn, found < 0);
	if (found < 0) {
		api_respond_unavailable(req, &err);
		return false;
	}
	out->loaded = true;
	return true;
}

/* Drops events that fail the common validation; returns how many. */
static size_t
drop_invalid(struct event_batch *batch)
{
	size_t kept = 0, dropped = 0;

	for (size_t i = 0; i < batch->count; i++) {
		char why[160];

		if (ingest_validate(&batch->items[i], why, sizeof(why))) {
			batch->items[kept++] = batch->items[i];
		} else {
			log_kv(LOG_WARNING, "webhook event dropped", "reason",
			    why, NULL);
			event_clear(&batch->items[i]);
			dropped++;
		}
	}
	batch->count = kept;
	return dropped;
}

/* Takes out's batch: answers now when nothing is left to store, else
 * after group commit. */
static void
webhook_answer(struct http_request *req, const char *provider, int64_t account,
    struct sender_result *out)
{
	size_t dropped = drop_invalid(&out->batch);
	struct pending_write *pw;

	metrics_add(METRIC_EVENTS_REJECTED, dropped);
	if (out->batch.count == 0) {
		metrics_add(METRIC_EVENTS_IGNORED, out->batch.ignored);
		http_respond_json(req, 200,
		    json_pack("{s:I,s:I,s:I,s:I,s:b}", "accepted",
			(json_int_t)0, "duplicates", (json_int_t)0, "ignored",
			(json_int_t)out->batch.ignored, "rejected",
			(json_int_t)dropped, "spooled", false));
		return;
	}
	pw = xcalloc(1, sizeof(*pw));
	pw->batch = out->batch;
	memset(&out->batch, 0, sizeof(out->batch));
	pw->webhook = true;
	pw->dropped = dropped;
	write_later(req, account, provider, pw);
}

void
api_webhook(struct http_request *req)
{
	const char *provider = http_param(req, "provider");
	const struct sender *sender = sender_find(provider);
	struct sender_request sreq;
	struct sender_secrets secrets;
	struct sender_result out = { 0 };
	struct err err = { 0 };
	struct account_secrets stored = { 0 };
	int64_t account;
	int index = sender_config_index(provider);

	if (sender == NULL || index < 0) {
		http_respond_error(req, 404, "unknown_provider",
		    "no webhook for that provider");
		return;
	}
	if (!api_ready_or_respond(req))
		return;
	if (!webhook_account_or_respond(req, &account))
		return;
	if (strcmp(http_method(req), "HEAD") == 0) {
		/* Mandrill checks a URL with an unsigned HEAD before use. */
		http_respond_empty(req, 200);
		return;
	}
	memset(&sreq, 0, sizeof(sreq));
	sreq.method = http_method(req);
	sreq.body = http_body(req, &sreq.body_len);
	sreq.header = request_header;
	sreq.header_ctx = req;
	sreq.now_ms = time_now_ms();
	if (!account_secrets_or_respond(req, account, index, &stored))
		return;
	secrets_from_config(
	    stored.loaded ? &stored.values : &api_ctx->cfg->senders[index],
	    &secrets);
	switch (sender->handle(&sreq, &secrets, &out, &err)) {
	case SENDER_OK:
		webhook_answer(req, provider, account, &out);
		break;
	case SENDER_SUBSCRIPTION:
		log_kv(LOG_WARNING,
		    "sns subscription waits for confirmation: visit the url",
		    "provider", provider, "url",
		    out.subscribe_url != NULL ? out.subscribe_url : "", NULL);
		http_respond_json(req, 200,
		    json_pack("{s:s}", "status", "subscription_logged"));
		break;
	case SENDER_UNAUTHORIZED:
		metrics_add(METRIC_WEBHOOK_AUTH_FAILURES, 1);
		http_respond_error(req, 401, "unauthorized",
		    "the webhook request is not authenticated");
		break;
	case SENDER_NOT_CONFIGURED:
		log_kv(LOG_ERROR, "webhook refused: credentials not configured",
		    "provider", provider, NULL);
		http_respond_json_header(req, 503,
		    json_pack("{s:{s:s,s:s}}", "error", "code",
			"webhook_not_configured", "message",
			"this webhook has no credentials configured"),
		    "Retry-After", "300");
		break;
	case SENDER_MALFORMED:
		metrics_add(METRIC_EVENTS_REJECTED, 1);
		if (!err_is_set(&err))
			err_set(&err, 400, "malformed_body",
			    "the body is not in the sender's format");
		http_respond_err(req, &err);
		break;
	}
	sender_result_clear(&out);
	secrets_clear(&stored.values);
}

void
api_refit(struct http_request *req)
{
	struct model_fit_report report;
	struct err err = { 0 };

	if (!api_authenticate_or_respond(req))
		return;
	if (!fits_refit(api_ctx->pool, http_account(req), &api_ctx->thresholds,
		&report, &err)) {
		api_respond_unavailable(req, &err);
		return;
	}
	http_respond_json(req, 200,
	    json_pack("{s:b,s:I,s:I,s:f,s:f,s:f,s:s}", "used_defaults",
		report.used_defaults, "contacts", (json_int_t)report.contacts,
		"patterns", (json_int_t)report.patterns, "loglik",
		report.loglik, "bgbb_logloss", report.bgbb_logloss,
		"forgetting_logloss", report.forget_logloss, "chosen",
		report.chosen));
}
