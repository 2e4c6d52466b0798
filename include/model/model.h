/*
 * model.h - the scoring model's one small interface.
 *
 * Pure arithmetic: no I/O, no allocation that outlives a call, no libpq or
 * jansson.  The store keeps a struct model_summary per contact, current in
 * the ingest transaction; the read path hands it, the account's fitted
 * parameters and the configured thresholds to model_score and gets every
 * number of the scorecard back.  Fitting (model_fit) runs in the background
 * over all of an account's summaries.
 */
#ifndef ENGAGEMENTD_MODEL_MODEL_H
#define ENGAGEMENTD_MODEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How many of the newest observable messages a summary remembers one by one. */
#define MODEL_HISTORY_MAX 256

/*
 * What the model knows about one contact.  An "observable" message is a
 * delivered, tracked message whose opening the service could have seen: not
 * bounced, and not one whose only open was a machine open.
 */
struct model_summary {
	int n;   /* observable messages */
	int x;   /* of those, opened by a human or clicked */
	int t_x; /* 1-based position of the last opened one; 0 when x == 0 */
	/*
	 * The newest min(n, MODEL_HISTORY_MAX) observable messages, oldest
	 * first: history[i] is 1 when message n - history_len + i + 1 was
	 * opened.  Used by the forgetting model and the trend.
	 */
	uint8_t history[MODEL_HISTORY_MAX];
	int history_len;
	int clicks;      /* human clicks, any message */
	bool suppressed; /* hard bounce, unsubscribe or complaint seen */
};

/* The parameters fitted for one account, or the documented defaults. */
struct model_params {
	/* BG/BB: p ~ Beta(alpha, beta), dropout theta ~ Beta(gamma, delta) */
	double alpha, beta, gamma, delta;
	/* forgetting model: Beta(a0, b0) prior, messages down-weighted with
	 * this half-life, counted in messages */
	double prior_a, prior_b, half_life;
	/* weight of BG/BB in the blended prediction, 0..1 */
	double bgbb_weight;
};

/* Configurable cut-offs; model_thresholds_default gives the documented ones. */
struct model_thresholds {
	int min_observable;   /* fewer observable messages and no click: gray */
	double green_score;   /* score >= this: green */
	double yellow_score;  /* >= this: yellow */
	double orange_score;  /* >= this: orange; below: red */
	double risk_medium;   /* risk meter >= this: medium */
	double risk_elevated; /* >= this: elevated */
	double risk_high;     /* >= this: high */
	int risk_horizon;     /* messages the risk meter looks ahead (5) */
};

enum model_band { BAND_GREEN, BAND_YELLOW, BAND_ORANGE, BAND_RED, BAND_GRAY };

enum model_recommendation {
	REC_PRIORITIZE,
	REC_NURTURE,
	REC_RE_ENGAGE,
	REC_REDUCE_OUTREACH,
	REC_SUPPRESS
};

enum model_confidence { CONF_LOW, CONF_MEDIUM, CONF_HIGH };
enum model_trend { TREND_RISING, TREND_STEADY, TREND_FALLING };

/* Every number of a scorecard. */
struct model_score {
	double predicted_open_rate; /* expected opens in the next message */
	double p_alive;             /* BG/BB probability still engaged */
	double risk;  /* 0..100: P(no human open in next horizon) */
	double score; /* 0..100 */
	enum model_band band;
	enum model_recommendation recommendation;
	enum model_confidence confidence;
	enum model_trend trend;
};

void model_params_default(struct model_params *params);
void model_thresholds_default(struct model_thresholds *th);

/* Computes the scorecard numbers for one contact.  Never fails. */
void model_score(const struct model_params *params,
    const struct model_thresholds *th, const struct model_summary *summary,
    struct model_score *out);

/* Contract strings for the enums above. */
const char *model_band_name(enum model_band band);
const char *model_status_name(enum model_band band); /* "highly_engaged", ... */
const char *model_risk_label(const struct model_thresholds *th,
    const struct model_score *score); /* "low" .. "high", "unknown" for gray */
const char *model_recommendation_code(enum model_recommendation rec);
const char *model_recommendation_text(enum model_recommendation rec);
const char *model_confidence_name(enum model_confidence conf);
const char *model_trend_name(enum model_trend trend);

/* Parses a band name; false when unknown. */
bool model_band_parse(const char *name, enum model_band *out);

/* What a fit reports, stored beside the parameters. */
struct model_fit_report {
	double loglik;   /* BG/BB sequence log-likelihood (no constant) */
	size_t contacts; /* summaries used */
	size_t patterns; /* distinct (x, t_x, n) */
	int iterations;
	bool used_defaults;  /* too little data: defaults kept */
	double bgbb_logloss; /* one-step-ahead log loss per message */
	double forget_logloss;
	char chosen[64]; /* "bgbb", "forgetting" or "blend", and why */
};

/*
 * Fits the account's parameters to its contacts' summaries by maximum
 * likelihood, then chooses or blends BG/BB and the forgetting model by
 * their one-step-ahead predictive log loss.  params is read as the starting
 * point and written with the result.  Returns false only when the data are
 * too few, in which case params keeps the defaults and report says so.
 */
bool model_fit(const struct model_summary *summaries, size_t count,
    struct model_params *params, struct model_fit_report *report);

#endif
