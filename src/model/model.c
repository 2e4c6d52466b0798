/*
 * model.c - one contact's scorecard numbers, bands and their names.
 *
 * The prediction blends two views of the contact: BG/BB (a fixed open
 * propensity and a permanent drop-out) and the forgetting model (a
 * propensity that follows the recent messages).  params->bgbb_weight, set
 * by model_fit from each account's own data, decides how much each counts.
 * Everything else on the card (score, band, recommendation) is derived from
 * the blended predicted open rate and risk meter; docs/model.md gives the
 * formulas and the reasons for the defaults.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/bgbb.h"
#include "model/forget.h"
#include "model/model.h"

/*
 * The predicted open rate at which the rate half of the score is full: a
 * contact opening more than 60% of messages is as engaged as we can tell.
 */
#define MODEL_RATE_FULL 0.6

/* Trend: the last TREND_RECENT messages against the TREND_EARLIER before. */
#define TREND_RECENT 5
#define TREND_EARLIER 10
#define TREND_MIN_CHANGE 0.25

/* Confidence from the number of observable messages. */
#define CONF_MEDIUM_N 10
#define CONF_HIGH_N 40

void
model_params_default(struct model_params *params)
{
	/*
	 * Email, not donations: about 30% of messages opened by a human on
	 * average, with a U-shaped spread (many rarely open, some nearly
	 * always do), and about 2.4% of contacts going quiet for good per
	 * message sent (mean theta = 0.5 / 20.5).
	 */
	params->alpha = 0.6;
	params->beta = 1.4;
	params->gamma = 0.5;
	params->delta = 20.0;
	/* same 30% prior mean, worth two messages; recent 20 count most */
	params->prior_a = 0.6;
	params->prior_b = 1.4;
	params->half_life = 20.0;
	params->bgbb_weight = 0.5;
}

void
model_thresholds_default(struct model_thresholds *th)
{
	th->min_observable = 3;
	th->green_score = 70.0;
	th->yellow_score = 40.0;
	th->orange_score = 20.0;
	th->risk_medium = 25.0;
	th->risk_elevated = 50.0;
	th->risk_high = 75.0;
	th->risk_horizon = 5;
}

/* Copies the summary's counts, repaired so the formulas stay defined. */
static void
sane_counts(const struct model_summary *s, int *x, int *t_x, int *n)
{
	*n = s->n > 0 ? s->n : 0;
	*x = s->x < 0 ? 0 : (s->x > *n ? *n : s->x);
	*t_x = s->t_x;
	if (*x == 0)
		*t_x = 0;
	else if (*t_x < *x || *t_x > *n)
		*t_x = *n;
}

static int
sane_history_len(const struct model_summary *s)
{
	if (s->history_len < 0)
		return 0;
	return s->history_len > MODEL_HISTORY_MAX ? MODEL_HISTORY_MAX
						  : s->history_len;
}

static double
clamp01(double v)
{
	if (!(v > 0.0))
		return 0.0;
	return v > 1.0 ? 1.0 : v;
}

static enum model_trend
trend_of(const uint8_t *h, int len)
{
	double recent = 0.0, earlier = 0.0, diff;
	int i;

	if (len < TREND_RECENT + TREND_EARLIER)
		return TREND_STEADY;
	for (i = len - TREND_RECENT; i < len; i++)
		recent += h[i] != 0;
	for (i = len - TREND_RECENT - TREND_EARLIER; i < len - TREND_RECENT;
	     i++)
		earlier += h[i] != 0;
	diff = recent / TREND_RECENT - earlier / TREND_EARLIER;
	if (diff >= TREND_MIN_CHANGE)
		return TREND_RISING;
	if (diff <= -TREND_MIN_CHANGE)
		return TREND_FALLING;
	return TREND_STEADY;
}

static enum model_confidence
confidence_of(int n)
{
	if (n >= CONF_HIGH_N)
		return CONF_HIGH;
	if (n >= CONF_MEDIUM_N)
		return CONF_MEDIUM;
	return CONF_LOW;
}

static enum model_band
band_of(const struct model_thresholds *th, const struct model_summary *s,
    double score)
{
	/* too little to tell is gray, never red: it is not evidence of cold */
	if (s->n < th->min_observable && s->clicks <= 0)
		return BAND_GRAY;
	if (score >= th->green_score)
		return BAND_GREEN;
	if (score >= th->yellow_score)
		return BAND_YELLOW;
	if (score >= th->orange_score)
		return BAND_ORANGE;
	return BAND_RED;
}

static enum model_recommendation
recommendation_of(const struct model_summary *s, enum model_band band)
{
	if (s->suppressed)
		return REC_SUPPRESS;
	switch (band) {
	case BAND_GREEN:
		return REC_PRIORITIZE;
	case BAND_YELLOW:
	case BAND_GRAY:
		return REC_NURTURE;
	case BAND_ORANGE:
		return REC_RE_ENGAGE;
	case BAND_RED:
		return REC_REDUCE_OUTREACH;
	}
	abort(); /* an enum value this file does not know is a bug */
}

void
model_score(const struct model_params *params,
    const struct model_thresholds *th, const struct model_summary *summary,
    struct model_score *out)
{
	struct bgbb_params bp = { params->alpha, params->beta, params->gamma,
		params->delta };
	struct forget_params fp = { params->prior_a, params->prior_b,
		params->half_life };
	double w = clamp01(params->bgbb_weight), fa, fb, e1, p0, rate, none;
	int x, t_x, n, len = sane_history_len(summary);
	int horizon = th->risk_horizon > 0 ? th->risk_horizon : 1;

	sane_counts(summary, &x, &t_x, &n);
	forget_posterior(&fp, summary->history, len, &fa, &fb);
	bgbb_envelope(&bp, x, t_x, n, horizon, &e1, &p0);

	rate = w * e1 + (1.0 - w) * forget_mean(fa, fb);
	none = w * p0 + (1.0 - w) * forget_p_no_opens(fa, fb, horizon);

	memset(out, 0, sizeof(*out));
	out->predicted_open_rate = clamp01(rate);
	out->p_alive = clamp01(bgbb_p_alive(&bp, x, t_x, n));
	out->risk = 100.0 * clamp01(none);
	out->score =
	    50.0 * fmin(1.0, out->predicted_open_rate / MODEL_RATE_FULL) +
	    0.5 * (100.0 - out->risk);
	out->band = band_of(th, summary, out->score);
	out->recommendation = recommendation_of(summary, out->band);
	out->confidence = confidence_of(n);
	out->trend = trend_of(summary->history, len);
}

/* ------------------------------------------------------------------ */
/* Contract strings                                                    */
/* ------------------------------------------------------------------ */

static const char *const band_names[] = { "green", "yellow", "orange", "red",
	"gray" };

const char *
model_band_name(enum model_band band)
{
	if ((unsigned)band > BAND_GRAY)
		abort(); /* an enum value this file does not know is a bug */
	return band_names[band];
}

const char *
model_status_name(enum model_band band)
{
	switch (band) {
	case BAND_GREEN:
		return "highly_engaged";
	case BAND_YELLOW:
		return "moderately_engaged";
	case BAND_ORANGE:
		return "low_activity";
	case BAND_RED:
		return "disengaged";
	case BAND_GRAY:
		return "insufficient_data";
	}
	abort(); /* an enum value this file does not know is a bug */
}

const char *
model_risk_label(
    const struct model_thresholds *th, const struct model_score *score)
{
	if (score->band == BAND_GRAY)
		return "unknown";
	if (score->risk >= th->risk_high)
		return "high";
	if (score->risk >= th->risk_elevated)
		return "elevated";
	if (score->risk >= th->risk_medium)
		return "medium";
	return "low";
}

const char *
model_recommendation_code(enum model_recommendation rec)
{
	switch (rec) {
	case REC_PRIORITIZE:
		return "prioritize";
	case REC_NURTURE:
		return "nurture";
	case REC_RE_ENGAGE:
		return "re_engage";
	case REC_REDUCE_OUTREACH:
		return "reduce_outreach";
	case REC_SUPPRESS:
		return "suppress";
	}
	abort(); /* an enum value this file does not know is a bug */
}

const char *
model_recommendation_text(enum model_recommendation rec)
{
	switch (rec) {
	case REC_PRIORITIZE:
		return "Reads your mail regularly: include in launches and offers, and ask for reviews or referrals.";
	case REC_NURTURE:
		return "Keep sending your regular content at the usual pace and watch how the next few messages do.";
	case REC_RE_ENGAGE:
		return "Interest is fading: try a re-engagement message with a new subject line or a preference choice.";
	case REC_REDUCE_OUTREACH:
		return "Has stopped opening: mail less often, or send one last win-back before moving to a sunset list.";
	case REC_SUPPRESS:
		return "Do not send: this address bounced, unsubscribed or complained.";
	}
	abort(); /* an enum value this file does not know is a bug */
}

const char *
model_confidence_name(enum model_confidence conf)
{
	switch (conf) {
	case CONF_LOW:
		return "low";
	case CONF_MEDIUM:
		return "medium";
	case CONF_HIGH:
		return "high";
	}
	abort(); /* an enum value this file does not know is a bug */
}

const char *
model_trend_name(enum model_trend trend)
{
	switch (trend) {
	case TREND_RISING:
		return "rising";
	case TREND_STEADY:
		return "steady";
	case TREND_FALLING:
		return "falling";
	}
	abort(); /* an enum value this file does not know is a bug */
}

bool
model_band_parse(const char *name, enum model_band *out)
{
	size_t i;

	if (name == NULL)
		return false;
	for (i = 0; i < sizeof(band_names) / sizeof(band_names[0]); i++) {
		if (strcmp(name, band_names[i]) == 0) {
			*out = (enum model_band)i;
			return true;
		}
	}
	return false;
}
