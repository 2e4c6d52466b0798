/*
 * api.h - the resources: one file per resource under src/api/, sharing
 * the context set up by main and a few helpers for authentication and
 * answers.
 */
#ifndef ENGAGEMENTD_API_API_H
#define ENGAGEMENTD_API_API_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "http/http.h"
#include "ingest/ingest.h"
#include "model/model.h"

struct store_contact;
struct spool;
struct ratelimit;

/* What every handler reaches; set once by main before serving. */
struct api_context {
	const struct config *cfg;
	struct db_pool *pool;
	struct ingest ingest;
	struct model_thresholds thresholds;
	atomic_bool migrations_current; /* set by main after migrating */
	struct ratelimit *limiter;      /* per API key; NULL: no limit */
};

extern struct api_context *api_ctx;

/* The route table, ending with a NULL pattern. */
extern const struct http_route api_routes[];

/* Seconds a client is told to wait when the database cannot answer. */
#define API_RETRY_AFTER_S "5"

/* Answers 503 with Retry-After; err (may be NULL) gives code and text. */
void api_respond_unavailable(struct http_request *req, const struct err *err);

/* Answers 503 and returns false until the schema is current. */
bool api_ready_or_respond(struct http_request *req);

/*
 * Checks "Authorization: Bearer <key>" and records the key's account on
 * req.  Returns false after answering 401 (or 503 when the database cannot
 * say).
 */
bool api_authenticate_or_respond(struct http_request *req);

/* The scorecard of one contact, as the contract shows it.  New reference. */
json_t *scorecard_json(const struct store_contact *contact,
    const struct model_params *params, const struct model_thresholds *th,
    int64_t now_ms);

/* Handlers, by resource. */
void api_healthz(struct http_request *req);
void api_readyz(struct http_request *req);
void api_metrics(struct http_request *req);
void api_events_post(struct http_request *req);
void api_webhook(struct http_request *req);
void api_scorecard_by_id(struct http_request *req);
void api_scorecard_by_email(struct http_request *req);
void api_scorecards_batch(struct http_request *req);
void api_contacts_list(struct http_request *req);
void api_contact_put(struct http_request *req);
void api_contact_delete(struct http_request *req);
void api_refit(struct http_request *req);

#endif
