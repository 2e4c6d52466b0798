/*
 * fits.h - each account's fitted model parameters: stored in model_fits,
 * cached in memory for the read and write paths, refitted on demand or on
 * a schedule.
 */
#ifndef ENGAGEMENTD_STORE_FITS_H
#define ENGAGEMENTD_STORE_FITS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "model/model.h"

struct db_pool;

/*
 * The parameters in force for account: the cached fit, the stored fit, or
 * the documented defaults when the account was never fitted.  Never fails;
 * a database error falls back to what is cached or to the defaults.
 */
void fits_params(
    struct db_pool *pool, int64_t account_id, struct model_params *out);

/*
 * Refits account from all its contacts' summaries, stores the result,
 * refreshes the cache and re-bands every contact with the new parameters.
 * Returns false with err set when the database failed.
 */
bool fits_refit(struct db_pool *pool, int64_t account_id,
    const struct model_thresholds *th, struct model_fit_report *report,
    struct err *err) MUST_CHECK;

/* Forgets every cached fit (tests, and after an account is removed). */
void fits_cache_clear(void);

/*
 * Forgets the cached fit of one account, so that the next write scores
 * with the fit stored now: called when another process announces that it
 * refitted the account (store/scoresync.c).
 */
void fits_cache_forget(int64_t account_id);

#endif
