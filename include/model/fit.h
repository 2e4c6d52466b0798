/*
 * fit.h - a small bounded Nelder-Mead minimiser and the BG/BB ML fit.
 *
 * The model layer has no numerical library behind it, and its problems are
 * tiny (three or four parameters, smooth objectives), so a derivative-free
 * simplex search is enough.  Parameters are searched on the log scale so
 * positivity holds by construction; a box keeps degenerate fits (dropout
 * rates going to zero, gamma and delta running off to infinity together)
 * from wandering forever.
 */
#ifndef ENGAGEMENTD_MODEL_FIT_H
#define ENGAGEMENTD_MODEL_FIT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h" /* MUST_CHECK */

#include "model/bgbb.h"

#define FIT_MAX_DIM 8

/* The function to minimise at point v (dim values); ctx is passed through. */
typedef double (*fit_objective_fn)(const double *v, void *ctx);

struct fit_options {
	double lo[FIT_MAX_DIM], hi[FIT_MAX_DIM]; /* box, inclusive */
	double step;                             /* initial simplex edge */
	double ftol;   /* stop when the simplex values differ by less */
	double xtol;   /* ... and its vertices by less than this */
	int max_evals; /* per run; the restart gets as many again */
};

/*
 * Minimises f from v (dim <= FIT_MAX_DIM; v is clamped into the box first),
 * then restarts once from the best vertex with a fresh simplex to escape a
 * collapsed one.  Writes the minimiser to v and its value to fmin.  Returns
 * the number of evaluations.  Never fails.
 */
int fit_nelder_mead(fit_objective_fn f, void *ctx, double *v, int dim,
    const struct fit_options *opt, double *fmin);

/*
 * Fits BG/BB by maximum likelihood over grouped patterns, starting from
 * params (which must be positive; use defaults otherwise) and writing the
 * result back.  loglik gets the sequence log-likelihood at the optimum and
 * evals the number of likelihood evaluations.  Returns false, leaving
 * params untouched, when the patterns carry no weight.
 */
MUST_CHECK bool fit_bgbb(const struct bgbb_pattern *patterns, size_t count,
    struct bgbb_params *params, double *loglik, int *evals);

#endif
