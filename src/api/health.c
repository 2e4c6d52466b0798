/*
 * health.c - what the orchestrator asks: liveness, readiness, metrics.
 *
 * Readiness is the database answering with every embedded migration
 * applied; it is checked on each call (one SELECT) so it follows the
 * database's state without a background prober.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/metrics.h"
#include "store/db.h"
#include "store/migrate.h"

void
api_healthz(struct http_request *req)
{
	http_respond_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

/* Names each sender whose credentials are not configured. */
static json_t *
unconfigured_senders(void)
{
	json_t *list = json_array();

	for (int i = 0; i < CFG_SENDER_COUNT; i++) {
		const struct config_sender *s = &api_ctx->cfg->senders[i];
		bool has = (s->public_key && s->public_key[0]) ||
			   (s->signing_key && s->signing_key[0]) ||
			   (s->cert_dir && s->cert_dir[0]) ||
			   (s->password && s->password[0]) ||
			   (s->token && s->token[0]);

		if (!has)
			json_array_append_new(list,
			    json_string(
				config_sender_name((enum config_sender_id)i)));
	}
	return list;
}

void
api_readyz(struct http_request *req)
{
	struct err err = { 0 };
	PGconn *conn = db_pool_acquire(api_ctx->pool, 1000, &err);
	int pending = -1;
	json_t *body;

	if (conn != NULL) {
		pending = migrate_pending(conn);
		db_pool_release(api_ctx->pool, conn, pending < 0);
	}
	metrics_gauge_set(GAUGE_DB_UP, pending >= 0);
	body = json_pack("{s:s,s:b,s:i,s:o,s:I,s:I}", "status",
	    pending == 0 ? "ready" : "not_ready", "database", pending >= 0,
	    "pending_migrations", pending < 0 ? 0 : pending,
	    "webhooks_not_configured", unconfigured_senders(), "spool_bytes",
	    (json_int_t)metrics_gauge_get(GAUGE_SPOOL_BYTES),
	    "spool_oldest_age_s",
	    (json_int_t)metrics_gauge_get(GAUGE_SPOOL_OLDEST_AGE_S));
	http_respond_json(req, pending == 0 ? 200 : 503, body);
}

void
api_metrics(struct http_request *req)
{
	char *text = metrics_render();

	http_respond_text(
	    req, 200, "text/plain; version=0.0.4", text, strlen(text));
	free(text);
}
