/*
 * bgbb.c - BG/BB likelihood and predictions in log space.
 *
 * With B(a, b) the beta function and BB = B(alpha, beta) B(gamma, delta),
 * the sequence likelihood of (x, t_x, n) is
 *
 *   L = [ B(alpha+x, beta+n-x) B(gamma, delta+n)
 *       + sum_{i=0}^{n-t_x-1} B(alpha+x, beta+t_x-x+i) B(gamma+1, delta+t_x+i)
 *       ] / BB
 *
 * the first term for a contact alive through message n, the others for one
 * that dropped out just after its last open plus i silent messages.  Each
 * prediction is a ratio of sums of that shape, so everything below works on
 * the logarithm of such sums.  Beta functions of a long history underflow
 * a double (B(500, 500) is about 1e-301), which is why nothing is summed in
 * linear space except ratios of consecutive terms.
 */
#include <math.h>

#include "model/bgbb.h"

/* Keeps the tail of a series below this share of its sum. */
#define BGBB_TAIL_EPS 1e-17

/*
 * Bounds the walk of bgbb_envelope for contacts with thousands of opens
 * (a known limit, in docs/limitations.md).  A walk cut short only gives
 * up some monotonicity, never returns a number that is not a BG/BB
 * prediction for a plausible contact.
 */
#define BGBB_ENVELOPE_STEPS 1024

static double
lbeta(double a, double b)
{
	int sign;

	/* lgamma_r, not lgamma: the latter writes the global signgam. */
	return lgamma_r(a, &sign) + lgamma_r(b, &sign) - lgamma_r(a + b, &sign);
}

static double
log_add(double u, double v)
{
	double hi = u > v ? u : v;
	double lo = u > v ? v : u;

	if (lo == -INFINITY)
		return hi;
	return hi + log1p(exp(lo - hi));
}

/*
 * ln sum_{i=0}^{count-1} B(a, b+i) B(c, d+i).  Consecutive terms have the
 * ratio (b+i)/(a+b+i) * (d+i)/(c+d+i) < 1, so the first term is the largest
 * and the rest are a running product that cannot overflow.  The terms fall
 * off only polynomially; the loop stops once every remaining term, each no
 * larger than the current one, could not move the sum.
 */
static double
log_series(double a, double b, double c, double d, int count)
{
	double sum = 1.0, term = 1.0;
	int i;

	if (count <= 0)
		return -INFINITY;
	for (i = 1; i < count; i++) {
		double j = i - 1;

		/* one division per term: this loop is most of a fit's time */
		term *= ((b + j) * (d + j)) / ((a + b + j) * (c + d + j));
		sum += term;
		if (term * (double)(count - i - 1) < BGBB_TAIL_EPS * sum)
			break;
	}
	return lbeta(a, b) + lbeta(c, d) + log(sum);
}

/*
 * ln(L * BB) with alpha + x replaced by alpha + x + shift in the first beta
 * function; shift 1 gives the numerator of E[p | data].
 */
static double
log_numerator(const struct bgbb_params *p, int x, int t_x, int n, int shift)
{
	double ax = p->alpha + x + shift;
	double alive =
	    lbeta(ax, p->beta + n - x) + lbeta(p->gamma, p->delta + n);
	double gone = log_series(
	    ax, p->beta + t_x - x, p->gamma + 1.0, p->delta + t_x, n - t_x);

	return log_add(alive, gone);
}

static double
log_bb(const struct bgbb_params *p)
{
	return lbeta(p->alpha, p->beta) + lbeta(p->gamma, p->delta);
}

double
bgbb_loglik(const struct bgbb_params *p, int x, int t_x, int n)
{
	return log_numerator(p, x, t_x, n, 0) - log_bb(p);
}

double
bgbb_loglik_grouped(const struct bgbb_params *p,
    const struct bgbb_pattern *patterns, size_t count)
{
	double bb = log_bb(p), ll = 0.0;
	size_t k;

	for (k = 0; k < count; k++) {
		const struct bgbb_pattern *q = &patterns[k];

		ll +=
		    q->weight * (log_numerator(p, q->x, q->t_x, q->n, 0) - bb);
	}
	return ll;
}

/* P(alive at message n | data), i.e. after the observed n messages. */
static double
p_alive_now(const struct bgbb_params *p, int x, int t_x, int n)
{
	double alive = lbeta(p->alpha + x, p->beta + n - x) +
		       lbeta(p->gamma, p->delta + n);

	return exp(alive - log_numerator(p, x, t_x, n, 0));
}

double
bgbb_p_alive_at(const struct bgbb_params *p, int x, int t_x, int n, int m)
{
	double pa = p_alive_now(p, x, t_x, n);
	int k;

	/* B(gamma, d + 1) / B(gamma, d) = d / (gamma + d) */
	for (k = 0; k < m; k++)
		pa *= (p->delta + n + k) / (p->gamma + p->delta + n + k);
	return pa;
}

double
bgbb_p_alive(const struct bgbb_params *p, int x, int t_x, int n)
{
	return bgbb_p_alive_at(p, x, t_x, n, 1);
}

double
bgbb_p_open_at(const struct bgbb_params *p, int x, int t_x, int n, int k)
{
	return bgbb_p_alive_at(p, x, t_x, n, k) * (p->alpha + x) /
	       (p->alpha + p->beta + n);
}

double
bgbb_expected_opens(
    const struct bgbb_params *p, int x, int t_x, int n, int horizon)
{
	double pa = p_alive_now(p, x, t_x, n), sum = 0.0;
	int k;

	/*
	 * The closed form of this sum is singular at gamma == 1 and cancels
	 * badly for large n; the recurrence has neither problem.
	 */
	for (k = 0; k < horizon; k++) {
		pa *= (p->delta + n + k) / (p->gamma + p->delta + n + k);
		sum += pa;
	}
	return sum * (p->alpha + x) / (p->alpha + p->beta + n);
}

double
bgbb_p_any_open(const struct bgbb_params *p, int x, int t_x, int n, int horizon)
{
	/* first future open at n + k: sum of B(a+x+1, b+n-x+k-1) B(g, d+n+k) */
	double first = log_series(p->alpha + x + 1.0, p->beta + n - x, p->gamma,
	    p->delta + n + 1.0, horizon);

	if (horizon <= 0)
		return 0.0;
	return exp(first - log_numerator(p, x, t_x, n, 0));
}

double
bgbb_p_no_opens(const struct bgbb_params *p, int x, int t_x, int n, int horizon)
{
	double any = bgbb_p_any_open(p, x, t_x, n, horizon);
	double none;

	/* 1 - any is exact enough while any is small, and only then. */
	if (any < 0.5)
		return 1.0 - any;
	/* silence for horizon more messages is a longer history, same x, t_x */
	none = exp(log_numerator(p, x, t_x, n + horizon, 0) -
		   log_numerator(p, x, t_x, n, 0));
	return none > 1.0 ? 1.0 : none;
}

double
bgbb_posterior_p(const struct bgbb_params *p, int x, int t_x, int n)
{
	return exp(
	    log_numerator(p, x, t_x, n, 1) - log_numerator(p, x, t_x, n, 0));
}

/*
 * BG/BB itself is not monotone in the opens: one more open before the last
 * one raises the estimate of p, which makes the silence since then stronger
 * evidence of drop-out, and P(open next) can fall (199 opens then one miss
 * leaves P(alive) at 0.53).  The scorecard promises that more opens never make
 * a contact look worse, so BG/BB is asked about the best case among the
 * contacts with the same n and t_x but fewer opens, and about the contact
 * who never opened; more opens only widen that set.  e(x', t_x, n) rises
 * then falls in x' (and P0 falls then rises), so walking down from x until
 * the value stops improving finds the best case.  (Unimodality is checked,
 * not proved: it held for every (x, t_x, n) with n <= 150 under six quite
 * different parameter sets, and tests/unit/check_model.c flips single
 * messages of random histories to check the end result.)
 */
void
bgbb_envelope(const struct bgbb_params *p, int x, int t_x, int n, int horizon,
    double *e1, double *p0)
{
	double e = bgbb_expected_opens(p, x, t_x, n, 1);
	double any = bgbb_p_any_open(p, x, t_x, n, horizon), v;
	int k, steps, best_x = x, best_t = t_x;

	/*
	 * Walks compare P(any open), not P(no open): the latter rounds to
	 * exactly 1 for long silences and would hide the slope.  Equal values
	 * (both underflowed) do not stop a walk.
	 */
	for (k = x - 1, steps = 0; k >= 1 && steps < BGBB_ENVELOPE_STEPS;
	     k--, steps++) {
		v = bgbb_expected_opens(p, k, t_x, n, 1);
		if (v < e)
			break;
		e = v;
	}
	for (k = x - 1, steps = 0; k >= 1 && steps < BGBB_ENVELOPE_STEPS;
	     k--, steps++) {
		v = bgbb_p_any_open(p, k, t_x, n, horizon);
		if (v < any)
			break;
		any = v;
		best_x = k;
	}
	if (x > 0) {
		e = fmax(e, bgbb_expected_opens(p, 0, 0, n, 1));
		v = bgbb_p_any_open(p, 0, 0, n, horizon);
		if (v > any) {
			best_x = 0;
			best_t = 0;
		}
	}
	*e1 = e;
	*p0 = bgbb_p_no_opens(p, best_x, best_t, n, horizon);
}
