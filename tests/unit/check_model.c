/*
 * check_model.c - scorecard properties: the contract strings, the bands
 * promised for typical contacts under the default parameters, and the
 * monotonicity the API promises (more opens never look worse, more silence
 * never looks safer), checked on random histories.
 */
#include <check.h>
#include <math.h>
#include <string.h>

#include "model/forget.h"
#include "model/model.h"
#include "model/simrand.h"

/* Builds a summary whose whole life is the given 0/1 history. */
static void
summary_from(struct model_summary *s, const uint8_t *h, int n)
{
	int i;

	memset(s, 0, sizeof(*s));
	s->n = n;
	for (i = 0; i < n; i++) {
		if (h[i]) {
			s->x++;
			s->t_x = i + 1;
		}
	}
	s->history_len = n < MODEL_HISTORY_MAX ? n : MODEL_HISTORY_MAX;
	memcpy(s->history, h + (n - s->history_len), (size_t)s->history_len);
}

static void
score_history(const uint8_t *h, int n, struct model_score *out)
{
	struct model_params p;
	struct model_thresholds th;
	struct model_summary s;

	model_params_default(&p);
	model_thresholds_default(&th);
	summary_from(&s, h, n);
	model_score(&p, &th, &s, out);
}

START_TEST(test_names)
{
	enum model_band b;

	ck_assert_str_eq(model_band_name(BAND_GREEN), "green");
	ck_assert_str_eq(model_band_name(BAND_YELLOW), "yellow");
	ck_assert_str_eq(model_band_name(BAND_ORANGE), "orange");
	ck_assert_str_eq(model_band_name(BAND_RED), "red");
	ck_assert_str_eq(model_band_name(BAND_GRAY), "gray");
	ck_assert_str_eq(model_status_name(BAND_GREEN), "highly_engaged");
	ck_assert_str_eq(model_status_name(BAND_YELLOW), "moderately_engaged");
	ck_assert_str_eq(model_status_name(BAND_ORANGE), "low_activity");
	ck_assert_str_eq(model_status_name(BAND_RED), "disengaged");
	ck_assert_str_eq(model_status_name(BAND_GRAY), "insufficient_data");
	ck_assert_str_eq(
	    model_recommendation_code(REC_PRIORITIZE), "prioritize");
	ck_assert_str_eq(model_recommendation_code(REC_NURTURE), "nurture");
	ck_assert_str_eq(model_recommendation_code(REC_RE_ENGAGE), "re_engage");
	ck_assert_str_eq(
	    model_recommendation_code(REC_REDUCE_OUTREACH), "reduce_outreach");
	ck_assert_str_eq(model_recommendation_code(REC_SUPPRESS), "suppress");
	ck_assert_str_eq(model_confidence_name(CONF_LOW), "low");
	ck_assert_str_eq(model_confidence_name(CONF_MEDIUM), "medium");
	ck_assert_str_eq(model_confidence_name(CONF_HIGH), "high");
	ck_assert_str_eq(model_trend_name(TREND_RISING), "rising");
	ck_assert_str_eq(model_trend_name(TREND_STEADY), "steady");
	ck_assert_str_eq(model_trend_name(TREND_FALLING), "falling");
	ck_assert(model_band_parse("orange", &b));
	ck_assert_int_eq(b, BAND_ORANGE);
	ck_assert(model_band_parse("gray", &b));
	ck_assert_int_eq(b, BAND_GRAY);
	ck_assert(!model_band_parse("grey", &b));
	ck_assert(!model_band_parse("", &b));
	ck_assert(!model_band_parse(NULL, &b));
}
END_TEST

START_TEST(test_recommendation_texts)
{
	int r;

	for (r = REC_PRIORITIZE; r <= REC_SUPPRESS; r++) {
		const char *t = model_recommendation_text(r);

		/* one sentence: capitalised, one final period, no newline */
		ck_assert_uint_gt(strlen(t), 20);
		ck_assert(t[0] >= 'A' && t[0] <= 'Z');
		ck_assert_int_eq(t[strlen(t) - 1], '.');
		ck_assert_ptr_null(strchr(t, '\n'));
		ck_assert_ptr_eq(strchr(t, '.'), t + strlen(t) - 1);
	}
}
END_TEST

START_TEST(test_defaults)
{
	struct model_params p;
	struct model_thresholds th;

	model_params_default(&p);
	model_thresholds_default(&th);
	ck_assert_double_eq_tol(p.alpha / (p.alpha + p.beta), 0.3, 1e-12);
	ck_assert_double_eq_tol(
	    p.prior_a / (p.prior_a + p.prior_b), 0.3, 1e-12);
	ck_assert_double_gt(p.delta, p.gamma);
	ck_assert(p.bgbb_weight >= 0.0 && p.bgbb_weight <= 1.0);
	ck_assert_int_eq(th.risk_horizon, 5);
	ck_assert_int_eq(th.min_observable, 3);
	ck_assert(th.green_score > th.yellow_score);
	ck_assert(th.yellow_score > th.orange_score);
	ck_assert(th.risk_high > th.risk_elevated);
	ck_assert(th.risk_elevated > th.risk_medium);
}
END_TEST

START_TEST(test_one_open_long_ago_is_red)
{
	uint8_t h[101] = { 1 };
	struct model_thresholds th;
	struct model_score sc;

	model_thresholds_default(&th);
	score_history(h, 101, &sc);
	ck_assert_int_eq(sc.band, BAND_RED);
	ck_assert_int_eq(sc.recommendation, REC_REDUCE_OUTREACH);
	ck_assert_str_eq(model_risk_label(&th, &sc), "high");
	ck_assert_double_lt(sc.predicted_open_rate, 0.05);
	ck_assert_double_gt(sc.risk, 85.0);
	ck_assert_double_lt(sc.p_alive, 0.5);
	ck_assert_int_eq(sc.confidence, CONF_HIGH);
}
END_TEST

START_TEST(test_machine_opens_only_is_gray)
{
	struct model_params p;
	struct model_thresholds th;
	struct model_summary s;
	struct model_score sc;

	model_params_default(&p);
	model_thresholds_default(&th);
	memset(&s, 0, sizeof(s)); /* n = 0: every open was a machine open */
	model_score(&p, &th, &s, &sc);
	ck_assert_int_eq(sc.band, BAND_GRAY);
	ck_assert_int_eq(sc.recommendation, REC_NURTURE);
	ck_assert_str_eq(model_risk_label(&th, &sc), "unknown");
	ck_assert_int_eq(sc.confidence, CONF_LOW);
	ck_assert_int_eq(sc.trend, TREND_STEADY);
	/* the prior: 30% times P(alive) = 20 / 20.5, blended with 30% */
	ck_assert_double_eq_tol(
	    sc.predicted_open_rate, 0.5 * 0.3 * 20.0 / 20.5 + 0.5 * 0.3, 1e-12);

	/* a click is evidence enough to leave gray */
	s.clicks = 1;
	model_score(&p, &th, &s, &sc);
	ck_assert_int_ne(sc.band, BAND_GRAY);
	ck_assert_str_ne(model_risk_label(&th, &sc), "unknown");
}
END_TEST

START_TEST(test_gray_below_min_observable)
{
	static const uint8_t silent[2] = { 0, 0 };
	struct model_params p;
	struct model_thresholds th;
	struct model_summary s;
	struct model_score sc;

	model_params_default(&p);
	model_thresholds_default(&th);
	summary_from(&s, silent, 2);
	model_score(&p, &th, &s, &sc);
	ck_assert_int_eq(sc.band, BAND_GRAY);
	/* gray is never red, however low the numbers under a strict cut */
	th.min_observable = 200;
	summary_from(&s, (const uint8_t[150]){ 0 }, 150);
	model_score(&p, &th, &s, &sc);
	ck_assert_int_eq(sc.band, BAND_GRAY);
	ck_assert_str_eq(model_status_name(sc.band), "insufficient_data");
	/* at min_observable the band is the score's */
	th.min_observable = 3;
	summary_from(&s, (const uint8_t[3]){ 1, 1, 1 }, 3);
	model_score(&p, &th, &s, &sc);
	ck_assert_int_eq(sc.band, BAND_GREEN);
}
END_TEST

START_TEST(test_eight_of_last_ten_is_green)
{
	static const uint8_t ten[10] = { 1, 1, 0, 1, 1, 1, 0, 1, 1, 1 };
	uint8_t longer[40] = { 0 };
	struct model_score sc;
	int i;

	score_history(ten, 10, &sc);
	ck_assert_int_eq(sc.band, BAND_GREEN);
	ck_assert_int_eq(sc.recommendation, REC_PRIORITIZE);
	ck_assert_double_gt(sc.predicted_open_rate, 0.6);
	ck_assert_double_lt(sc.risk, 10.0);
	ck_assert_int_eq(sc.confidence, CONF_MEDIUM);

	/* 8 of the last 10 after 30 messages with only 6 opens */
	for (i = 0; i < 30; i += 5)
		longer[i] = 1;
	memcpy(longer + 30, ten, sizeof(ten));
	score_history(longer, 40, &sc);
	ck_assert_int_eq(sc.band, BAND_GREEN);
	ck_assert_int_eq(sc.trend, TREND_RISING);
	ck_assert_int_eq(sc.confidence, CONF_HIGH);
}
END_TEST

START_TEST(test_suppression_wins)
{
	static const uint8_t ten[10] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	struct model_params p;
	struct model_thresholds th;
	struct model_summary s;
	struct model_score sc;

	model_params_default(&p);
	model_thresholds_default(&th);
	summary_from(&s, ten, 10);
	s.suppressed = true;
	model_score(&p, &th, &s, &sc);
	ck_assert_int_eq(sc.band, BAND_GREEN);
	ck_assert_int_eq(sc.recommendation, REC_SUPPRESS);
	memset(&s, 0, sizeof(s));
	s.suppressed = true;
	model_score(&p, &th, &s, &sc);
	ck_assert_int_eq(sc.band, BAND_GRAY);
	ck_assert_int_eq(sc.recommendation, REC_SUPPRESS);
	summary_from(&s, (const uint8_t[101]){ 1 }, 101);
	s.suppressed = true;
	model_score(&p, &th, &s, &sc);
	ck_assert_int_eq(sc.band, BAND_RED);
	ck_assert_int_eq(sc.recommendation, REC_SUPPRESS);
}
END_TEST

START_TEST(test_bands_follow_thresholds)
{
	struct model_params p;
	struct model_thresholds th;
	struct model_summary s;
	struct model_score sc;
	uint8_t h[60];
	int i, k, last_band = BAND_GREEN;

	model_params_default(&p);
	model_thresholds_default(&th);
	/* steady contacts opening every k-th message up to the last one */
	for (k = 1; k <= 30; k++) {
		for (i = 0; i < 60; i++)
			h[i] = ((59 - i) % k) == 0;
		summary_from(&s, h, 60);
		model_score(&p, &th, &s, &sc);
		ck_assert(sc.score >= 0.0 && sc.score <= 100.0);
		if (sc.score >= th.green_score)
			ck_assert_int_eq(sc.band, BAND_GREEN);
		else if (sc.score >= th.yellow_score)
			ck_assert_int_eq(sc.band, BAND_YELLOW);
		else if (sc.score >= th.orange_score)
			ck_assert_int_eq(sc.band, BAND_ORANGE);
		else
			ck_assert_int_eq(sc.band, BAND_RED);
		/* rarer openers never land in a better band */
		ck_assert_int_ge(sc.band, last_band);
		last_band = sc.band;
	}
	ck_assert_int_eq(last_band, BAND_RED);
}
END_TEST

START_TEST(test_risk_labels)
{
	struct model_thresholds th;
	struct model_score sc;

	model_thresholds_default(&th);
	memset(&sc, 0, sizeof(sc));
	sc.band = BAND_YELLOW;
	sc.risk = 0.0;
	ck_assert_str_eq(model_risk_label(&th, &sc), "low");
	sc.risk = th.risk_medium;
	ck_assert_str_eq(model_risk_label(&th, &sc), "medium");
	sc.risk = th.risk_elevated;
	ck_assert_str_eq(model_risk_label(&th, &sc), "elevated");
	sc.risk = th.risk_high;
	ck_assert_str_eq(model_risk_label(&th, &sc), "high");
	sc.band = BAND_GRAY;
	ck_assert_str_eq(model_risk_label(&th, &sc), "unknown");
}
END_TEST

START_TEST(test_trend)
{
	uint8_t h[30] = { 0 };
	struct model_score sc;
	int i;

	/* too short to tell */
	score_history(
	    (const uint8_t[14]){ 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1 }, 14,
	    &sc);
	ck_assert_int_eq(sc.trend, TREND_STEADY);
	for (i = 0; i < 25; i++)
		h[i] = 1;
	score_history(h, 30, &sc);
	ck_assert_int_eq(sc.trend, TREND_FALLING);
	for (i = 0; i < 30; i++)
		h[i] = i >= 25;
	score_history(h, 30, &sc);
	ck_assert_int_eq(sc.trend, TREND_RISING);
	for (i = 0; i < 30; i++)
		h[i] = i % 2;
	score_history(h, 30, &sc);
	ck_assert_int_eq(sc.trend, TREND_STEADY);
}
END_TEST

/* Random histories: k-th draw has length 1..maxlen and open share q. */
static int
random_history(struct simrand *r, uint8_t *h, int maxlen)
{
	int n = 1 + (int)(simrand_u64(r) % (uint64_t)maxlen), i;
	double q = simrand_uniform(r);

	for (i = 0; i < n; i++)
		h[i] = (uint8_t)simrand_bernoulli(r, q);
	return n;
}

START_TEST(test_more_opens_never_lower)
{
	struct simrand r;
	uint8_t h[400];
	int trial, checked = 0;

	simrand_seed(&r, 42);
	for (trial = 0; trial < 600; trial++) {
		struct model_score base, more;
		int n = random_history(&r, h, trial < 500 ? 120 : 400), j;

		score_history(h, n, &base);
		for (j = 0; j < n; j++) {
			if (h[j])
				continue;
			h[j] = 1;
			score_history(h, n, &more);
			h[j] = 0;
			ck_assert_msg(more.predicted_open_rate >=
					  base.predicted_open_rate - 1e-12,
			    "rate fell: n=%d flip %d: %.9f -> %.9f", n, j,
			    base.predicted_open_rate, more.predicted_open_rate);
			ck_assert_msg(more.score >= base.score - 1e-9,
			    "score fell: n=%d flip %d: %.6f -> %.6f", n, j,
			    base.score, more.score);
			ck_assert_double_le(more.risk, base.risk + 1e-9);
			checked++;
		}
	}
	ck_assert_int_gt(checked, 10000);
}
END_TEST

START_TEST(test_more_silence_never_lowers_risk)
{
	struct simrand r;
	uint8_t h[400];
	int trial;

	simrand_seed(&r, 7);
	for (trial = 0; trial < 300; trial++) {
		struct model_score prev, next;
		int n = random_history(&r, h, 200), k;

		score_history(h, n, &prev);
		for (k = 0; k < 60; k++) {
			h[n + k] = 0;
			score_history(h, n + k + 1, &next);
			ck_assert_msg(next.risk >= prev.risk - 1e-9,
			    "risk fell: n=%d +%d: %.9f -> %.9f", n, k + 1,
			    prev.risk, next.risk);
			ck_assert_double_le(next.predicted_open_rate,
			    prev.predicted_open_rate + 1e-12);
			prev = next;
		}
	}
}
END_TEST

START_TEST(test_numbers_in_range_for_odd_input)
{
	struct model_params p;
	struct model_thresholds th;
	struct model_summary s;
	struct model_score sc;

	model_params_default(&p);
	model_thresholds_default(&th);
	memset(&s, 0, sizeof(s));
	s.n = 5;
	s.x = 9; /* more opens than messages: repaired, not trusted */
	s.t_x = 2;
	s.history_len = 999;
	p.bgbb_weight = 3.0;
	model_score(&p, &th, &s, &sc);
	ck_assert(
	    sc.predicted_open_rate >= 0.0 && sc.predicted_open_rate <= 1.0);
	ck_assert(sc.risk >= 0.0 && sc.risk <= 100.0);
	ck_assert(sc.score >= 0.0 && sc.score <= 100.0);
	ck_assert(sc.p_alive >= 0.0 && sc.p_alive <= 1.0);
}
END_TEST

START_TEST(test_forgetting_posterior)
{
	struct forget_params fp = { 1.0, 1.0, 1.0 };
	static const uint8_t h[2] = { 1, 0 };
	double a, b;

	/* half-life 1: the open one message back counts half */
	forget_posterior(&fp, h, 2, &a, &b);
	ck_assert_double_eq_tol(a, 1.5, 1e-15);
	ck_assert_double_eq_tol(b, 2.0, 1e-15);
	ck_assert_double_eq_tol(forget_mean(a, b), 1.5 / 3.5, 1e-15);
	/* Beta(1, 1): P(no open in 2) = 1/2 * 2/3 */
	ck_assert_double_eq_tol(
	    forget_p_no_opens(1.0, 1.0, 2), 1.0 / 3.0, 1e-15);
	ck_assert_double_eq(forget_p_no_opens(1.0, 1.0, 0), 1.0);
	forget_posterior(&fp, h, 0, &a, &b);
	ck_assert_double_eq(a, 1.0);
	ck_assert_double_eq(b, 1.0);
}
END_TEST

static Suite *
model_suite(void)
{
	Suite *s = suite_create("model");
	TCase *names = tcase_create("names");
	TCase *cards = tcase_create("scorecards");
	TCase *props = tcase_create("properties");

	tcase_add_test(names, test_names);
	tcase_add_test(names, test_recommendation_texts);
	tcase_add_test(names, test_defaults);
	tcase_add_test(cards, test_one_open_long_ago_is_red);
	tcase_add_test(cards, test_machine_opens_only_is_gray);
	tcase_add_test(cards, test_gray_below_min_observable);
	tcase_add_test(cards, test_eight_of_last_ten_is_green);
	tcase_add_test(cards, test_suppression_wins);
	tcase_add_test(cards, test_bands_follow_thresholds);
	tcase_add_test(cards, test_risk_labels);
	tcase_add_test(cards, test_trend);
	tcase_add_test(cards, test_numbers_in_range_for_odd_input);
	tcase_add_test(cards, test_forgetting_posterior);
	tcase_set_timeout(props, 20);
	tcase_add_test(props, test_more_opens_never_lower);
	tcase_add_test(props, test_more_silence_never_lowers_risk);
	suite_add_tcase(s, names);
	suite_add_tcase(s, cards);
	suite_add_tcase(s, props);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(model_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
