/*
 * model_fit.c - fitting an account's parameters from its contacts.
 *
 * Three steps: BG/BB by maximum likelihood over the distinct (x, t_x, n)
 * patterns; the forgetting model by one-step-ahead log loss over the
 * histories; then the weight of BG/BB in the blend, chosen by the log loss
 * of each model's prediction for the last few messages of every history
 * from the messages before them.  That last comparison is in-sample: both
 * models were fitted on data that include those messages (docs/model.md).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "model/bgbb.h"
#include "model/fit.h"
#include "model/forget.h"
#include "model/model.h"

/* Fewer contacts with at least one observable message: keep the defaults. */
#define MODEL_FIT_MIN_CONTACTS 50
/* Messages per history whose prediction is scored to choose the blend. */
#define MODEL_FIT_HOLDOUT 5
/*
 * Work caps: the forgetting fit and the blend choice look at an evenly
 * spread sample of contacts when the account is large.  Their optima are
 * averages per message, which a sample of this size pins down well.
 */
#define MODEL_FIT_FORGET_MESSAGES 200000
#define MODEL_FIT_BLEND_CONTACTS 5000
#define MODEL_FIT_P_FLOOR 1e-6

/* One scored message of the blend choice. */
struct blend_case {
	double p_bgbb, p_forget;
	int y;
};

static int
pattern_cmp(const void *a, const void *b)
{
	const struct bgbb_pattern *p = a, *q = b;

	if (p->n != q->n)
		return p->n < q->n ? -1 : 1;
	if (p->x != q->x)
		return p->x < q->x ? -1 : 1;
	if (p->t_x != q->t_x)
		return p->t_x < q->t_x ? -1 : 1;
	return 0;
}

static bool
summary_usable(const struct model_summary *s)
{
	return s->n >= 1 && s->x >= 0 && s->x <= s->n &&
	       (s->x == 0 ? s->t_x == 0 : (s->t_x >= s->x && s->t_x <= s->n)) &&
	       s->history_len >= 0 && s->history_len <= MODEL_HISTORY_MAX &&
	       s->history_len <= s->n;
}

/* Sorts the usable summaries' triples and merges equal ones; returns K. */
static size_t
group_patterns(const struct model_summary *summaries, size_t count,
    struct bgbb_pattern *out)
{
	size_t i, used = 0, k = 0;

	for (i = 0; i < count; i++) {
		const struct model_summary *s = &summaries[i];

		if (!summary_usable(s))
			continue;
		out[used].x = s->x;
		out[used].t_x = s->t_x;
		out[used].n = s->n;
		out[used].weight = 1.0;
		used++;
	}
	qsort(out, used, sizeof(*out), pattern_cmp);
	for (i = 0; i < used; i++) {
		if (k > 0 && pattern_cmp(&out[k - 1], &out[i]) == 0)
			out[k - 1].weight += 1.0;
		else
			out[k++] = out[i];
	}
	return k;
}

/* Every step-th usable summary with a history, until the cap. */
static size_t
sample_series(const struct model_summary *summaries, size_t count,
    struct forget_series *out)
{
	size_t i, k = 0, step;
	long total = 0;

	for (i = 0; i < count; i++)
		if (summary_usable(&summaries[i]))
			total += summaries[i].history_len;
	step = (size_t)(total / MODEL_FIT_FORGET_MESSAGES) + 1;
	for (i = 0; i < count; i += step) {
		if (!summary_usable(&summaries[i]) ||
		    summaries[i].history_len == 0)
			continue;
		out[k].y = summaries[i].history;
		out[k].len = summaries[i].history_len;
		k++;
	}
	return k;
}

/*
 * The summary as it was drop messages ago.  False when the last open of
 * that shorter life lies before the history window, so t_x is unknown.
 */
static bool
summary_prefix(
    const struct model_summary *s, int drop, int *x, int *t_x, int *n)
{
	int keep = s->history_len - drop, base = s->n - s->history_len, i;

	*n = s->n - drop;
	*x = s->x;
	for (i = keep; i < s->history_len; i++)
		*x -= s->history[i] != 0;
	if (*x <= 0) {
		*x = 0;
		*t_x = 0;
		return true;
	}
	if (s->t_x <= *n) {
		*t_x = s->t_x;
		return true;
	}
	for (i = keep - 1; i >= 0; i--) {
		if (s->history[i]) {
			*t_x = base + i + 1;
			return true;
		}
	}
	return false;
}

static double
floor_prob(double q)
{
	return fmin(fmax(q, MODEL_FIT_P_FLOOR), 1.0 - MODEL_FIT_P_FLOOR);
}

/* Every blend_step-th contact is scored: at most MODEL_FIT_BLEND_CONTACTS. */
static size_t
blend_step(size_t count)
{
	return count / MODEL_FIT_BLEND_CONTACTS + 1;
}

/* Scores both models on the last messages of each sampled history. */
static size_t
collect_blend_cases(const struct model_summary *summaries, size_t count,
    const struct model_params *params, struct blend_case *out)
{
	struct bgbb_params bp = { params->alpha, params->beta, params->gamma,
		params->delta };
	struct forget_params fp = { params->prior_a, params->prior_b,
		params->half_life };
	size_t i, k = 0, step = blend_step(count);

	for (i = 0; i < count; i += step) {
		const struct model_summary *s = &summaries[i];
		int drop, x, t_x, n;

		if (!summary_usable(s))
			continue;
		for (drop = 1;
		     drop <= MODEL_FIT_HOLDOUT && drop < s->history_len;
		     drop++) {
			double fa, fb, e1, p0;
			int keep = s->history_len - drop;

			if (!summary_prefix(s, drop, &x, &t_x, &n))
				continue;
			bgbb_envelope(&bp, x, t_x, n, 1, &e1, &p0);
			forget_posterior(&fp, s->history, keep, &fa, &fb);
			out[k].p_bgbb = floor_prob(e1);
			out[k].p_forget = floor_prob(forget_mean(fa, fb));
			out[k].y = s->history[keep] != 0;
			k++;
		}
	}
	return k;
}

static double
blend_logloss(const struct blend_case *cases, size_t count, double w)
{
	double loss = 0.0;
	size_t i;

	for (i = 0; i < count; i++) {
		double q = w * cases[i].p_bgbb + (1.0 - w) * cases[i].p_forget;

		loss -= cases[i].y ? log(q) : log1p(-q);
	}
	return loss / (double)count;
}

/* Picks the weight in 0, 0.01, .., 1 with the lowest blended log loss. */
static void
choose_blend(const struct blend_case *cases, size_t count,
    struct model_params *params, struct model_fit_report *report)
{
	double best = INFINITY, best_w = 0.5;
	int i;

	if (count == 0) {
		params->bgbb_weight = 0.5;
		snprintf(report->chosen, sizeof(report->chosen),
		    "blend: no history to compare the models on");
		return;
	}
	for (i = 0; i <= 100; i++) {
		double loss = blend_logloss(cases, count, i / 100.0);

		if (loss < best) {
			best = loss;
			best_w = i / 100.0;
		}
	}
	params->bgbb_weight = best_w;
	report->bgbb_logloss = blend_logloss(cases, count, 1.0);
	report->forget_logloss = blend_logloss(cases, count, 0.0);
	snprintf(report->chosen, sizeof(report->chosen),
	    "%s: bgbb %.3f vs forgetting %.3f per message",
	    best_w >= 1.0 ? "bgbb" : (best_w <= 0.0 ? "forgetting" : "blend"),
	    report->bgbb_logloss, report->forget_logloss);
}

static bool
params_positive(const struct model_params *p)
{
	return p->alpha > 0.0 && p->beta > 0.0 && p->gamma > 0.0 &&
	       p->delta > 0.0 && p->prior_a > 0.0 && p->prior_b > 0.0 &&
	       p->half_life >= FORGET_HALF_LIFE_MIN && isfinite(p->alpha) &&
	       isfinite(p->beta) && isfinite(p->gamma) && isfinite(p->delta) &&
	       isfinite(p->prior_a) && isfinite(p->prior_b) &&
	       isfinite(p->half_life);
}

static size_t
count_usable(const struct model_summary *summaries, size_t count)
{
	size_t i, used = 0;

	for (i = 0; i < count; i++)
		used += summary_usable(&summaries[i]);
	return used;
}

static void
fit_forgetting(const struct model_summary *summaries, size_t count,
    struct model_params *params)
{
	struct forget_series *series = xcalloc(count, sizeof(*series));
	struct forget_params fp = { params->prior_a, params->prior_b,
		params->half_life };
	size_t k = sample_series(summaries, count, series);
	double loss;

	if (forget_fit(series, k, &fp, &loss)) {
		params->prior_a = fp.prior_a;
		params->prior_b = fp.prior_b;
		params->half_life = fp.half_life;
	}
	free(series);
}

bool
model_fit(const struct model_summary *summaries, size_t count,
    struct model_params *params, struct model_fit_report *report)
{
	struct bgbb_pattern *patterns;
	struct blend_case *cases;
	struct bgbb_params bp;
	size_t used = count_usable(summaries, count), k;

	memset(report, 0, sizeof(*report));
	report->contacts = used;
	if (used < MODEL_FIT_MIN_CONTACTS) {
		model_params_default(params);
		report->used_defaults = true;
		snprintf(report->chosen, sizeof(report->chosen),
		    "defaults: %zu contacts with messages, %d needed", used,
		    MODEL_FIT_MIN_CONTACTS);
		return false;
	}
	if (!params_positive(params))
		model_params_default(params);

	patterns = xcalloc(used, sizeof(*patterns));
	report->patterns = group_patterns(summaries, count, patterns);
	bp = (struct bgbb_params){ params->alpha, params->beta, params->gamma,
		params->delta };
	/* fails only without patterns, which the contact minimum rules out */
	if (fit_bgbb(patterns, report->patterns, &bp, &report->loglik,
		&report->iterations)) {
		params->alpha = bp.alpha;
		params->beta = bp.beta;
		params->gamma = bp.gamma;
		params->delta = bp.delta;
	}
	free(patterns);

	fit_forgetting(summaries, count, params);

	cases = xcalloc((count / blend_step(count) + 1) * MODEL_FIT_HOLDOUT,
	    sizeof(*cases));
	k = collect_blend_cases(summaries, count, params, cases);
	choose_blend(cases, k, params, report);
	free(cases);
	return true;
}
