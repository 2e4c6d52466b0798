/*
 * scorecard.c - renders one contact's scorecard: the stored summary run
 * through the account's model, plus the insight counts, in the contract's
 * shape.
 */
#include <math.h>

#include "api/api.h"
#include "core/timeutil.h"
#include "store/contacts.h"

static json_t *
time_or_null(int64_t ms)
{
	char buf[40];

	if (ms == 0)
		return json_null();
	time_format_iso8601(ms, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
string_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* Rounds for display; the contract's numbers are for people. */
static double
round_to(double v, double unit)
{
	return isfinite(v) ? round(v / unit) * unit : 0.0;
}

json_t *
scorecard_json(const struct store_contact *c, const struct model_params *p,
    const struct model_thresholds *th, int64_t now_ms)
{
	struct model_score s;
	json_t *insights, *card;

	/* the writer scored the contact when its events last changed (and a
	 * refit re-scores everyone); only a contact without events yet is
	 * scored here */
	if (c->scored)
		s = c->stored;
	else
		model_score(p, th, &c->summary, &s);
	insights = json_pack("{s:i,s:i,s:o,s:o,s:i,s:i,s:i,s:i,s:s}",
	    "messages_delivered", c->messages_delivered, "messages_opened",
	    c->summary.x, "last_open_at", time_or_null(c->last_open_at_ms),
	    "last_click_at", time_or_null(c->last_click_at_ms), "opens_30d",
	    c->opens_30d, "clicks_30d", c->clicks_30d, "machine_opens_excluded",
	    c->machine_opens, "bot_clicks_excluded", c->scanner_clicks, "trend",
	    model_trend_name(s.trend));
	card = json_pack("{s:o,s:o,s:o,s:i,s:s,s:s,s:f,s:{s:i,s:s},"
			 "s:{s:s,s:s},s:s,s:o,s:o}",
	    "contact_id", string_or_null(c->crm_id), "email",
	    string_or_null(c->email), "joined_at",
	    time_or_null(c->joined_at_ms), "score",
	    (int)lround(round_to(s.score, 1.0)), "band",
	    model_band_name(s.band), "status", model_status_name(s.band),
	    "predicted_open_rate", round_to(s.predicted_open_rate, 0.0001),
	    "risk", "meter", (int)lround(round_to(s.risk, 1.0)), "label",
	    model_risk_label(th, &s), "recommendation", "code",
	    model_recommendation_code(s.recommendation), "text",
	    model_recommendation_text(s.recommendation), "confidence",
	    model_confidence_name(s.confidence), "insights", insights,
	    "computed_at", time_or_null(now_ms));
	return card;
}
