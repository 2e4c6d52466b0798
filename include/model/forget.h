/*
 * forget.h - the forgetting model: a Beta prior updated with the contact's
 * recent messages, older ones counting less.
 *
 * BG/BB assumes a contact's open propensity never changes while alive; real
 * interest drifts.  This model lets it drift: message i messages back counts
 * 2^(-i / half_life) of a message, so the posterior follows the recent past.
 * The prior Beta(prior_a, prior_b) and the half-life are fitted per account
 * by one-step-ahead log loss over the contacts' histories.
 */
#ifndef ENGAGEMENTD_MODEL_FORGET_H
#define ENGAGEMENTD_MODEL_FORGET_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h" /* MUST_CHECK */
#include <stdint.h>

struct forget_params {
	double prior_a, prior_b; /* Beta prior, both > 0 */
	double half_life;        /* in messages, >= FORGET_HALF_LIFE_MIN */
};

#define FORGET_HALF_LIFE_MIN 1.0
#define FORGET_HALF_LIFE_MAX 10000.0

/* A contact's 0/1 history, oldest first; borrowed, not copied. */
struct forget_series {
	const uint8_t *y;
	int len;
};

/*
 * Writes the Beta posterior (a, b) after the first len messages of y (the
 * newest of them at full weight).  len may be 0: the prior.
 */
void forget_posterior(const struct forget_params *p, const uint8_t *y, int len,
    double *a, double *b);

/* Posterior mean a / (a + b): P(the next message is opened). */
double forget_mean(double a, double b);

/* Beta-binomial P(none of the next horizon messages opened | a, b). */
double forget_p_no_opens(double a, double b, int horizon);

/*
 * Mean one-step-ahead log loss (natural log, per message) of predicting
 * every message of every series from the messages before it.  Returns 0
 * when there are no messages.
 */
double forget_logloss(const struct forget_params *p,
    const struct forget_series *series, size_t count);

/*
 * Fits prior and half-life by minimising forget_logloss, starting from p
 * and writing the result back; logloss gets the minimum.  Returns false,
 * leaving p untouched, when the series hold no message.
 */
MUST_CHECK bool forget_fit(const struct forget_series *series, size_t count,
    struct forget_params *p, double *logloss);

#endif
