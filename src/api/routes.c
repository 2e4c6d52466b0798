/*
 * routes.c - the route table and the helpers every resource shares.
 *
 * Routes are matched in order; templates here are also what the access log
 * and the metrics report, so no identifier ever reaches them.
 */
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include <openssl/evp.h>
#include <stdio.h>

#include "core/timeutil.h"
#include "http/ratelimit.h"
#include "store/keys.h"

struct api_context *api_ctx;

const struct http_route api_routes[] = {
	{ "GET", "/healthz", api_healthz, false },
	{ "GET", "/readyz", api_readyz, false },
	{ "GET", "/metrics", api_metrics, false },
	{ "POST", "/v1/events", api_events_post, true },
	{ "POST HEAD", "/v1/webhooks/{provider}", api_webhook, true },
	{ "POST HEAD", "/v1/webhooks/{provider}/{account}", api_webhook, true },
	{ "GET", "/v1/contacts/{contact_id}/scorecard", api_scorecard_by_id,
	    false },
	{ "GET", "/v1/scorecard", api_scorecard_by_email, false },
	{ "POST", "/v1/scorecards", api_scorecards_batch, true },
	{ "GET", "/v1/contacts", api_contacts_list, false },
	/* these wait on contact row locks (a running merge) or a model fit */
	{ "PUT", "/v1/contacts/{contact_id}", api_contact_put, true, true },
	{ "DELETE", "/v1/contacts/{contact_id}", api_contact_delete, false,
	    true },
	{ "POST", "/v1/admin/refit", api_refit, false, true },
	{ NULL, NULL, NULL, false },
};

void
api_respond_unavailable(struct http_request *req, const struct err *err)
{
	json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code",
	    err != NULL && err->code[0] != '\0' ? err->code
						: "database_unavailable",
	    "message",
	    err != NULL && err->message[0] != '\0'
		? err->message
		: "the database is unavailable; try again");

	http_respond_json_header(
	    req, 503, body, "Retry-After", API_RETRY_AFTER_S);
}

bool
api_ready_or_respond(struct http_request *req)
{
	if (atomic_load(&api_ctx->migrations_current))
		return true;
	http_respond_json_header(req, 503,
	    json_pack("{s:{s:s,s:s}}", "error", "code", "not_ready", "message",
		"the database is not ready yet; try again"),
	    "Retry-After", API_RETRY_AFTER_S);
	return false;
}

/* One token of the presented key's bucket, or 429 with Retry-After. */
static bool
rate_ok_or_respond(struct http_request *req, const char *key)
{
	unsigned char digest[32];
	unsigned int len = 0;
	char retry[16];
	int wait;

	if (api_ctx->limiter == NULL)
		return true;
	EVP_Digest(key, strlen(key), digest, &len, EVP_sha256(), NULL);
	wait = ratelimit_take(api_ctx->limiter, digest, time_mono_us());
	if (wait == 0)
		return true;
	snprintf(retry, sizeof(retry), "%d", wait);
	http_respond_json_header(req, 429,
	    json_pack("{s:{s:s,s:s}}", "error", "code", "rate_limited",
		"message", "too many requests for this API key; slow down"),
	    "Retry-After", retry);
	return false;
}

bool
api_authenticate_or_respond(struct http_request *req)
{
	const char *auth = http_header(req, "Authorization");
	struct err err = { 0 };
	int64_t account = 0;
	int found;

	if (!api_ready_or_respond(req))
		return false;
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 ||
	    auth[7] == '\0') {
		http_respond_error(req, 401, "unauthorized",
		    "an API key is required: Authorization: Bearer <key>");
		return false;
	}
	found = keys_authenticate(api_ctx->pool, auth + 7, &account, &err);
	if (found < 0) {
		api_respond_unavailable(req, &err);
		return false;
	}
	if (found == 0) {
		http_respond_error(
		    req, 401, "unauthorized", "the API key is not valid");
		return false;
	}
	http_set_account(req, account);
	return rate_ok_or_respond(req, auth + 7);
}
