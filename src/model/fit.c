/*
 * fit.c - bounded Nelder-Mead on a handful of parameters, and the BG/BB
 * maximum-likelihood fit built on it.
 *
 * The simplex moves (reflect, expand, contract, shrink) use the usual
 * coefficients 1, 2, 1/2, 1/2.  Points are clamped into the box after each
 * move, which keeps the search inside without penalty terms.
 */
#include <math.h>
#include <string.h>

#include "model/fit.h"

/* The log-parameter box of the BG/BB fit: e^-15 .. e^15. */
#define FIT_LOG_BOUND 15.0

struct simplex {
	int dim;
	double v[FIT_MAX_DIM + 1][FIT_MAX_DIM];
	double f[FIT_MAX_DIM + 1];
};

static void
clamp_point(double *v, int dim, const struct fit_options *opt)
{
	int j;

	for (j = 0; j < dim; j++) {
		if (v[j] < opt->lo[j])
			v[j] = opt->lo[j];
		if (v[j] > opt->hi[j])
			v[j] = opt->hi[j];
		if (isnan(v[j]))
			v[j] = 0.5 * (opt->lo[j] + opt->hi[j]);
	}
}

/* Evaluates, mapping NaN to +inf so a bad corner is simply never chosen. */
static double
evaluate(fit_objective_fn f, void *ctx, const double *v, int *evals)
{
	double y = f(v, ctx);

	(*evals)++;
	return isnan(y) ? INFINITY : y;
}

/* Sorts vertices by value, best first (insertion sort: dim + 1 <= 9). */
static void
simplex_sort(struct simplex *s)
{
	int i, j, d = s->dim;

	for (i = 1; i <= d; i++) {
		double fv = s->f[i], tmp[FIT_MAX_DIM];

		memcpy(tmp, s->v[i], sizeof(tmp));
		for (j = i - 1; j >= 0 && s->f[j] > fv; j--) {
			s->f[j + 1] = s->f[j];
			memcpy(s->v[j + 1], s->v[j], sizeof(tmp));
		}
		s->f[j + 1] = fv;
		memcpy(s->v[j + 1], tmp, sizeof(tmp));
	}
}

/* v = centroid + t * (centroid - worst), clamped. */
static void
simplex_line(const struct simplex *s, const double *centroid, double t,
    const struct fit_options *opt, double *out)
{
	int j, d = s->dim;

	for (j = 0; j < d; j++)
		out[j] = centroid[j] + t * (centroid[j] - s->v[d][j]);
	clamp_point(out, d, opt);
}

static bool
simplex_converged(const struct simplex *s, const struct fit_options *opt)
{
	double spread = 0.0;
	int i, j, d = s->dim;

	if (fabs(s->f[d] - s->f[0]) > opt->ftol)
		return false;
	for (i = 1; i <= d; i++)
		for (j = 0; j < d; j++)
			spread = fmax(spread, fabs(s->v[i][j] - s->v[0][j]));
	return spread <= opt->xtol;
}

static void
simplex_init(struct simplex *s, fit_objective_fn f, void *ctx,
    const double *start, const struct fit_options *opt, int *evals)
{
	int i, j, d = s->dim;

	for (i = 0; i <= d; i++) {
		memcpy(s->v[i], start, sizeof(double) * (size_t)d);
		if (i > 0) {
			j = i - 1;
			/* step inwards when the start sits on the upper bound
			 */
			s->v[i][j] += start[j] + opt->step <= opt->hi[j]
					  ? opt->step
					  : -opt->step;
		}
		clamp_point(s->v[i], d, opt);
		s->f[i] = evaluate(f, ctx, s->v[i], evals);
	}
	simplex_sort(s);
}

static void
simplex_shrink(struct simplex *s, fit_objective_fn f, void *ctx,
    const struct fit_options *opt, int *evals)
{
	int i, j, d = s->dim;

	for (i = 1; i <= d; i++) {
		for (j = 0; j < d; j++)
			s->v[i][j] =
			    s->v[0][j] + 0.5 * (s->v[i][j] - s->v[0][j]);
		clamp_point(s->v[i], d, opt);
		s->f[i] = evaluate(f, ctx, s->v[i], evals);
	}
}

static void
simplex_replace_worst(struct simplex *s, const double *v, double fv)
{
	memcpy(s->v[s->dim], v, sizeof(double) * (size_t)s->dim);
	s->f[s->dim] = fv;
}

/* One reflect/expand/contract/shrink step. */
static void
simplex_step(struct simplex *s, fit_objective_fn f, void *ctx,
    const struct fit_options *opt, int *evals)
{
	double centroid[FIT_MAX_DIM] = { 0 }, r[FIT_MAX_DIM], e[FIT_MAX_DIM];
	double c[FIT_MAX_DIM], fr, fe, fc;
	int i, j, d = s->dim;

	for (i = 0; i < d; i++)
		for (j = 0; j < d; j++)
			centroid[j] += s->v[i][j] / d;
	simplex_line(s, centroid, 1.0, opt, r);
	fr = evaluate(f, ctx, r, evals);
	if (fr < s->f[0]) {
		simplex_line(s, centroid, 2.0, opt, e);
		fe = evaluate(f, ctx, e, evals);
		if (fe < fr)
			simplex_replace_worst(s, e, fe);
		else
			simplex_replace_worst(s, r, fr);
	} else if (fr < s->f[d - 1]) {
		simplex_replace_worst(s, r, fr);
	} else {
		/* outside contraction if r beat the worst, else inside */
		simplex_line(s, centroid, fr < s->f[d] ? 0.5 : -0.5, opt, c);
		fc = evaluate(f, ctx, c, evals);
		if (fc < fmin(fr, s->f[d]))
			simplex_replace_worst(s, c, fc);
		else
			simplex_shrink(s, f, ctx, opt, evals);
	}
	simplex_sort(s);
}

static void
nelder_mead_run(fit_objective_fn f, void *ctx, double *v, int dim,
    const struct fit_options *opt, double *fmin_out, int *evals)
{
	struct simplex s;
	int limit = *evals + opt->max_evals;

	s.dim = dim;
	simplex_init(&s, f, ctx, v, opt, evals);
	while (*evals < limit && !simplex_converged(&s, opt))
		simplex_step(&s, f, ctx, opt, evals);
	memcpy(v, s.v[0], sizeof(double) * (size_t)dim);
	*fmin_out = s.f[0];
}

int
fit_nelder_mead(fit_objective_fn f, void *ctx, double *v, int dim,
    const struct fit_options *opt, double *fmin)
{
	int evals = 0;

	clamp_point(v, dim, opt);
	nelder_mead_run(f, ctx, v, dim, opt, fmin, &evals);
	/* a simplex can collapse onto a line short of the optimum */
	nelder_mead_run(f, ctx, v, dim, opt, fmin, &evals);
	return evals;
}

/* ------------------------------------------------------------------ */
/* BG/BB maximum likelihood                                            */
/* ------------------------------------------------------------------ */

struct bgbb_objective {
	const struct bgbb_pattern *patterns;
	size_t count;
	double total_weight;
};

static void
params_from_logs(const double *v, struct bgbb_params *p)
{
	p->alpha = exp(v[0]);
	p->beta = exp(v[1]);
	p->gamma = exp(v[2]);
	p->delta = exp(v[3]);
}

/* -LL per contact: scale-free, so one tolerance suits any account size. */
static double
bgbb_objective(const double *v, void *ctx)
{
	const struct bgbb_objective *o = ctx;
	struct bgbb_params p;

	params_from_logs(v, &p);
	return -bgbb_loglik_grouped(&p, o->patterns, o->count) /
	       o->total_weight;
}

bool
fit_bgbb(const struct bgbb_pattern *patterns, size_t count,
    struct bgbb_params *params, double *loglik, int *evals)
{
	struct bgbb_objective o = { patterns, count, 0.0 };
	struct fit_options opt;
	double v[4], fmin;
	size_t k;
	int j;

	for (k = 0; k < count; k++)
		o.total_weight += patterns[k].weight;
	if (!(o.total_weight > 0.0))
		return false;

	memset(&opt, 0, sizeof(opt));
	for (j = 0; j < 4; j++) {
		opt.lo[j] = -FIT_LOG_BOUND;
		opt.hi[j] = FIT_LOG_BOUND;
	}
	opt.step = 0.5;
	opt.ftol = 1e-12;
	opt.xtol = 1e-7;
	opt.max_evals = 4000;
	v[0] = log(params->alpha);
	v[1] = log(params->beta);
	v[2] = log(params->gamma);
	v[3] = log(params->delta);
	*evals = fit_nelder_mead(bgbb_objective, &o, v, 4, &opt, &fmin);
	params_from_logs(v, params);
	*loglik = -fmin * o.total_weight;
	return true;
}
