/*
 * bgbb.h - the beta-geometric/beta-Bernoulli (BG/BB) model for one contact.
 *
 * While "alive" a contact opens each delivered message with probability p;
 * before each message it may drop out for good with probability theta.
 * Across contacts p ~ Beta(alpha, beta) and theta ~ Beta(gamma, delta).
 * The summary (x, t_x, n) is sufficient: n messages, x opened, the last
 * opened one at 1-based position t_x (0 when x == 0).  Everything is
 * evaluated in log space so long histories neither underflow nor lose the
 * small gap terms.  All functions are pure and thread-safe (lgamma_r).
 */
#ifndef ENGAGEMENTD_MODEL_BGBB_H
#define ENGAGEMENTD_MODEL_BGBB_H

#include <stddef.h>

struct bgbb_params {
	double alpha, beta, gamma, delta; /* all strictly positive */
};

/* One distinct summary and how many contacts share it. */
struct bgbb_pattern {
	int x, t_x, n;
	double weight;
};

/*
 * ln of the probability of the contact's particular 0/1 sequence, without
 * the binomial constant that would make it the probability of the summary
 * (the convention of the paper: the donations LL is -33225.58).
 */
double bgbb_loglik(const struct bgbb_params *p, int x, int t_x, int n);

/* sum of weight * bgbb_loglik over the patterns. */
double bgbb_loglik_grouped(const struct bgbb_params *p,
    const struct bgbb_pattern *patterns, size_t count);

/* P(alive at message n + m | data), m >= 1; bgbb_p_alive is m = 1. */
double bgbb_p_alive_at(
    const struct bgbb_params *p, int x, int t_x, int n, int m);
double bgbb_p_alive(const struct bgbb_params *p, int x, int t_x, int n);

/* P(message n + k is opened | data), k >= 1. */
double bgbb_p_open_at(
    const struct bgbb_params *p, int x, int t_x, int n, int k);

/* Expected opens among the next horizon messages, E[X(n, n + horizon)]. */
double bgbb_expected_opens(
    const struct bgbb_params *p, int x, int t_x, int n, int horizon);

/* P(none of the next horizon messages is opened | data). */
double bgbb_p_no_opens(
    const struct bgbb_params *p, int x, int t_x, int n, int horizon);

/*
 * P(at least one of the next horizon messages is opened | data), summed
 * directly, so it keeps its relative accuracy when it is tiny.
 */
double bgbb_p_any_open(
    const struct bgbb_params *p, int x, int t_x, int n, int horizon);

/* E[p | data], the posterior mean open propensity (alive or not). */
double bgbb_posterior_p(const struct bgbb_params *p, int x, int t_x, int n);

/*
 * The next-open probability (e1) and P(no opens in horizon) (p0), made
 * monotone in the opens: the best of bgbb_expected_opens and
 * bgbb_p_no_opens over the contacts with the same n and t_x and at most x
 * opens, and over the contact with no open at all.  Flipping any unopened
 * message to opened never lowers e1 and never raises p0; one more silent
 * message never lowers p0.  The scorecard uses these.
 */
void bgbb_envelope(const struct bgbb_params *p, int x, int t_x, int n,
    int horizon, double *e1, double *p0);

#endif
