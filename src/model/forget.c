/*
 * forget.c - Beta prior plus exponentially down-weighted evidence.
 *
 * With lambda = 2^(-1 / half_life), the evidence after each message is
 * updated as  s_open <- lambda s_open + y,  s_miss <- lambda s_miss + 1 - y,
 * and the posterior is Beta(prior_a + s_open, prior_b + s_miss).  The
 * prior itself is never down-weighted: a contact silent for a long time
 * tends towards the account's prior, not towards zero evidence at all.
 */
#include <math.h>
#include <string.h>

#include "model/fit.h"
#include "model/forget.h"

/* Probabilities are kept this far from 0 and 1 when scored by log loss. */
#define FORGET_P_FLOOR 1e-6
#define FORGET_PRIOR_MIN 1e-3
#define FORGET_PRIOR_MAX 1e3

static double
decay_factor(double half_life)
{
	return exp2(-1.0 / half_life);
}

void
forget_posterior(const struct forget_params *p, const uint8_t *y, int len,
    double *a, double *b)
{
	double lambda = decay_factor(p->half_life), so = 0.0, sm = 0.0;
	int i;

	for (i = 0; i < len; i++) {
		so = lambda * so + (y[i] ? 1.0 : 0.0);
		sm = lambda * sm + (y[i] ? 0.0 : 1.0);
	}
	*a = p->prior_a + so;
	*b = p->prior_b + sm;
}

double
forget_mean(double a, double b)
{
	return a / (a + b);
}

double
forget_p_no_opens(double a, double b, int horizon)
{
	double prob = 1.0;
	int j;

	/* each silent message adds one to b: prod (b + j) / (a + b + j) */
	for (j = 0; j < horizon; j++)
		prob *= (b + j) / (a + b + j);
	return prob;
}

static double
clamp_prob(double q)
{
	if (q < FORGET_P_FLOOR)
		return FORGET_P_FLOOR;
	if (q > 1.0 - FORGET_P_FLOOR)
		return 1.0 - FORGET_P_FLOOR;
	return q;
}

double
forget_logloss(const struct forget_params *p,
    const struct forget_series *series, size_t count)
{
	double lambda = decay_factor(p->half_life), loss = 0.0;
	long messages = 0;
	size_t k;

	for (k = 0; k < count; k++) {
		double so = 0.0, sm = 0.0;
		int i;

		for (i = 0; i < series[k].len; i++) {
			double q =
			    clamp_prob((p->prior_a + so) /
				       (p->prior_a + p->prior_b + so + sm));
			int y = series[k].y[i] != 0;

			loss -= y ? log(q) : log1p(-q);
			so = lambda * so + y;
			sm = lambda * sm + (1 - y);
		}
		messages += series[k].len;
	}
	return messages > 0 ? loss / (double)messages : 0.0;
}

struct forget_objective {
	const struct forget_series *series;
	size_t count;
};

static void
params_from_logs(const double *v, struct forget_params *p)
{
	p->prior_a = exp(v[0]);
	p->prior_b = exp(v[1]);
	p->half_life = exp(v[2]);
}

static double
forget_objective(const double *v, void *ctx)
{
	const struct forget_objective *o = ctx;
	struct forget_params p;

	params_from_logs(v, &p);
	return forget_logloss(&p, o->series, o->count);
}

bool
forget_fit(const struct forget_series *series, size_t count,
    struct forget_params *p, double *logloss)
{
	struct forget_objective o = { series, count };
	struct fit_options opt;
	double v[3];
	size_t k;
	long messages = 0;

	for (k = 0; k < count; k++)
		messages += series[k].len;
	if (messages == 0)
		return false;

	memset(&opt, 0, sizeof(opt));
	opt.lo[0] = opt.lo[1] = log(FORGET_PRIOR_MIN);
	opt.hi[0] = opt.hi[1] = log(FORGET_PRIOR_MAX);
	opt.lo[2] = log(FORGET_HALF_LIFE_MIN);
	opt.hi[2] = log(FORGET_HALF_LIFE_MAX);
	opt.step = 0.5;
	opt.ftol = 1e-9;
	opt.xtol = 1e-4;
	opt.max_evals = 400;
	v[0] = log(p->prior_a);
	v[1] = log(p->prior_b);
	v[2] = log(p->half_life);
	fit_nelder_mead(forget_objective, &o, v, 3, &opt, logloss);
	params_from_logs(v, p);
	return true;
}
