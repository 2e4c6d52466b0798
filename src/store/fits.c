/*
 * fits.c - per-account model parameters (see include/store/fits.h).
 *
 * The cache is small and read on every write and scorecard, so it is a
 * fixed array under a mutex; entries expire after a minute so that a refit
 * by another instance is picked up without any messaging between them.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "store/db.h"
#include "store/events.h"
#include "store/fits.h"
#include "store/scoresync.h"

#define FITS_CACHE_SLOTS 64
#define FITS_CACHE_TTL_US (60LL * 1000000)
#define REBAND_CHUNK 5000

struct fits_slot {
	int64_t account_id;
	int64_t loaded_us;
	struct model_params params;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fits_slot cache[FITS_CACHE_SLOTS];

static struct db_statement SQL_FIT_LOAD = { "st_fit_load",
	"SELECT alpha, beta, gamma, delta, prior_a, prior_b, half_life,"
	" bgbb_weight FROM model_fits WHERE account_id = $1",
	1 };

static const char SQL_FIT_SAVE[] =
    "INSERT INTO model_fits (account_id, fitted_at, alpha, beta, gamma,"
    " delta, prior_a, prior_b, half_life, bgbb_weight, loglik, contacts,"
    " used_defaults, chosen) VALUES ($1, to_timestamp($2::bigint / 1000.0),"
    " $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    " ON CONFLICT (account_id) DO UPDATE SET fitted_at = EXCLUDED.fitted_at,"
    " alpha = EXCLUDED.alpha, beta = EXCLUDED.beta, gamma = EXCLUDED.gamma,"
    " delta = EXCLUDED.delta, prior_a = EXCLUDED.prior_a,"
    " prior_b = EXCLUDED.prior_b, half_life = EXCLUDED.half_life,"
    " bgbb_weight = EXCLUDED.bgbb_weight, loglik = EXCLUDED.loglik,"
    " contacts = EXCLUDED.contacts, used_defaults = EXCLUDED.used_defaults,"
    " chosen = EXCLUDED.chosen";

static const char SQL_SUMMARIES[] =
    "SELECT contact_pk, n, x, t_x, history, human_clicks,"
    " hard_bounced OR unsubscribed OR complained"
    " FROM contacts WHERE account_id = $1";

static bool
cache_lookup(int64_t account_id, struct model_params *out)
{
	bool hit = false;
	int64_t now = time_mono_us();

	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < FITS_CACHE_SLOTS; i++) {
		if (cache[i].account_id == account_id &&
		    now - cache[i].loaded_us < FITS_CACHE_TTL_US) {
			*out = cache[i].params;
			hit = true;
			break;
		}
	}
	pthread_mutex_unlock(&cache_lock);
	return hit;
}

static void
cache_store(int64_t account_id, const struct model_params *params)
{
	int victim = 0;

	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < FITS_CACHE_SLOTS; i++) {
		if (cache[i].account_id == account_id) {
			victim = i;
			break;
		}
		if (cache[i].loaded_us < cache[victim].loaded_us)
			victim = i;
	}
	cache[victim].account_id = account_id;
	cache[victim].params = *params;
	cache[victim].loaded_us = time_mono_us();
	pthread_mutex_unlock(&cache_lock);
}

void
fits_cache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	memset(cache, 0, sizeof(cache));
	pthread_mutex_unlock(&cache_lock);
}

void
fits_cache_forget(int64_t account_id)
{
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < FITS_CACHE_SLOTS; i++)
		if (cache[i].account_id == account_id)
			memset(&cache[i], 0, sizeof(cache[i]));
	pthread_mutex_unlock(&cache_lock);
}

void
fits_params(struct db_pool *pool, int64_t account_id, struct model_params *out)
{
	char account[24];
	const char *params[1] = { account };
	struct err err = { 0 };
	PGconn *conn;
	PGresult *res;

	if (cache_lookup(account_id, out))
		return;
	model_params_default(out);
	conn = db_pool_acquire(pool, 1000, &err);
	if (conn == NULL)
		return;
	snprintf(account, sizeof(account), "%" PRId64, account_id);
	res = db_run(conn, &SQL_FIT_LOAD, params, &err);
	if (res != NULL && PQntuples(res) == 1) {
		out->alpha = atof(PQgetvalue(res, 0, 0));
		out->beta = atof(PQgetvalue(res, 0, 1));
		out->gamma = atof(PQgetvalue(res, 0, 2));
		out->delta = atof(PQgetvalue(res, 0, 3));
		out->prior_a = atof(PQgetvalue(res, 0, 4));
		out->prior_b = atof(PQgetvalue(res, 0, 5));
		out->half_life = atof(PQgetvalue(res, 0, 6));
		out->bgbb_weight = atof(PQgetvalue(res, 0, 7));
	}
	db_pool_release(pool, conn, res == NULL && db_conn_broken(conn));
	if (res != NULL)
		cache_store(account_id, out);
	PQclear(res);
}

static bool
save_fit(PGconn *conn, const char *account, const struct model_params *p,
    const struct model_fit_report *rep, struct err *err)
{
	char v[12][40];
	const char *params[14];

	snprintf(v[0], sizeof(v[0]), "%" PRId64, time_now_ms());
	snprintf(v[1], sizeof(v[1]), "%.17g", p->alpha);
	snprintf(v[2], sizeof(v[2]), "%.17g", p->beta);
	snprintf(v[3], sizeof(v[3]), "%.17g", p->gamma);
	snprintf(v[4], sizeof(v[4]), "%.17g", p->delta);
	snprintf(v[5], sizeof(v[5]), "%.17g", p->prior_a);
	snprintf(v[6], sizeof(v[6]), "%.17g", p->prior_b);
	snprintf(v[7], sizeof(v[7]), "%.17g", p->half_life);
	snprintf(v[8], sizeof(v[8]), "%.17g", p->bgbb_weight);
	snprintf(v[9], sizeof(v[9]), "%.17g", rep->loglik);
	snprintf(v[10], sizeof(v[10]), "%zu", rep->contacts);
	snprintf(
	    v[11], sizeof(v[11]), "%s", rep->used_defaults ? "true" : "false");
	params[0] = account;
	for (int i = 0; i < 12; i++)
		params[i + 1] = v[i];
	params[13] = rep->chosen;
	return db_command(
	    conn, "save a model fit", SQL_FIT_SAVE, 14, params, err);
}

/* Re-scores every contact in chunks, each one statement. */
static bool
rescore(PGconn *conn, int64_t account_id, const PGresult *res,
    const struct model_summary *sums, const struct model_params *p,
    const struct model_thresholds *th, struct err *err)
{
	int rows = PQntuples(res);
	int64_t *pks = xcalloc(REBAND_CHUNK, sizeof(*pks));
	struct model_score *scores = xcalloc(REBAND_CHUNK, sizeof(*scores));
	bool ok = true;

	for (int start = 0; start < rows && ok; start += REBAND_CHUNK) {
		int count =
		    rows - start < REBAND_CHUNK ? rows - start : REBAND_CHUNK;

		for (int i = 0; i < count; i++) {
			model_score(p, th, &sums[start + i], &scores[i]);
			pks[i] = db_int64(res, start + i, 0);
		}
		ok = store_scores_update(
		    conn, account_id, pks, scores, (size_t)count, err);
	}
	free(pks);
	free(scores);
	return ok;
}

bool
fits_refit(struct db_pool *pool, int64_t account_id,
    const struct model_thresholds *th, struct model_fit_report *report,
    struct err *err)
{
	char account[24];
	const char *params[1] = { account };
	struct model_summary *sums = NULL;
	struct model_params fitted;
	PGresult *res = NULL;
	PGconn *conn;
	bool ok = false;
	int rows;

	memset(report, 0, sizeof(*report));
	conn = db_pool_acquire(pool, 5000, err);
	if (conn == NULL)
		return false;
	snprintf(account, sizeof(account), "%" PRId64, account_id);
	res = db_exec(conn, "load summaries", SQL_SUMMARIES, 1, params, err);
	if (res == NULL)
		goto out;
	rows = PQntuples(res);
	sums = xcalloc((size_t)rows + 1, sizeof(*sums));
	for (int r = 0; r < rows; r++) {
		sums[r].n = (int)db_int64(res, r, 1);
		sums[r].x = (int)db_int64(res, r, 2);
		sums[r].t_x = (int)db_int64(res, r, 3);
		store_history_parse(db_text(res, r, 4), &sums[r]);
		sums[r].clicks = (int)db_int64(res, r, 5);
		sums[r].suppressed = db_bool(res, r, 6);
	}
	model_params_default(&fitted);
	(void)model_fit(sums, (size_t)rows, &fitted, report);
	if (!db_command(conn, "begin a refit", "BEGIN", 0, NULL, err) ||
	    !save_fit(conn, account, &fitted, report, err) ||
	    !rescore(conn, account_id, res, sums, &fitted, th, err) ||
	    !scoresync_publish_account(conn, account_id, err))
		goto out;
	ok = db_command(conn, "commit a refit", "COMMIT", 0, NULL, err);
	scoresync_committed(conn);
	if (!ok)
		goto out;
	cache_store(account_id, &fitted);
	log_kv(LOG_INFO, "model refitted", "account", account, "chosen",
	    report->chosen, NULL);
	ok = true;
out:
	if (!ok && PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
	db_pool_release(pool, conn, !ok && db_conn_broken(conn));
	PQclear(res);
	free(sums);
	return ok;
}
