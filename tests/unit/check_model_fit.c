/*
 * check_model_fit.c - model_fit on simulated accounts: it falls back to the
 * defaults when data are few, recovers BG/BB parameters from data drawn
 * from BG/BB, and leans on the forgetting model when interest drifts.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "model/bgbb.h"
#include "model/forget.h"
#include "model/model.h"
#include "model/simrand.h"

#define ACCOUNT 2500

static void
summary_push(struct model_summary *s, int opened)
{
	s->n++;
	if (opened) {
		s->x++;
		s->t_x = s->n;
	}
	if (s->history_len < MODEL_HISTORY_MAX) {
		s->history[s->history_len++] = (uint8_t)opened;
	} else {
		memmove(s->history, s->history + 1, MODEL_HISTORY_MAX - 1);
		s->history[MODEL_HISTORY_MAX - 1] = (uint8_t)opened;
	}
}

/* BG/BB contacts with 5..64 messages each. */
static struct model_summary *
bgbb_account(const struct bgbb_params *truth, uint64_t seed)
{
	struct model_summary *sums = xcalloc(ACCOUNT, sizeof(*sums));
	struct simrand r;
	size_t i;

	simrand_seed(&r, seed);
	for (i = 0; i < ACCOUNT; i++) {
		double p = simrand_beta(&r, truth->alpha, truth->beta);
		double theta = simrand_beta(&r, truth->gamma, truth->delta);
		int n = 5 + (int)(simrand_u64(&r) % 60), t, alive = 1;

		for (t = 0; t < n; t++) {
			alive = alive && !simrand_bernoulli(&r, theta);
			summary_push(
			    &sums[i], alive && simrand_bernoulli(&r, p));
		}
	}
	return sums;
}

/* No drop-out; p halves every `half` messages (INFINITY: constant). */
static struct model_summary *
drift_account(double half, uint64_t seed)
{
	struct model_summary *sums = xcalloc(ACCOUNT, sizeof(*sums));
	struct simrand r;
	size_t i;

	simrand_seed(&r, seed);
	for (i = 0; i < ACCOUNT; i++) {
		double p = simrand_beta(&r, 2.0, 2.0);
		int n = 20 + (int)(simrand_u64(&r) % 80), t;

		for (t = 0; t < n; t++)
			summary_push(&sums[i],
			    simrand_bernoulli(&r, p * exp2(-t / half)));
	}
	return sums;
}

START_TEST(test_too_few_contacts_keep_defaults)
{
	struct model_summary *sums = xcalloc(60, sizeof(*sums));
	struct model_params p, def;
	struct model_fit_report rep;
	int i;

	for (i = 0; i < 49; i++)
		summary_push(&sums[i], i % 2);
	/* n = 0 and inconsistent summaries do not count */
	sums[50].n = 3;
	sums[50].x = 5;
	p.alpha = 9.0;
	ck_assert(!model_fit(sums, 60, &p, &rep));
	model_params_default(&def);
	ck_assert(memcmp(&p, &def, sizeof(p)) == 0);
	ck_assert(rep.used_defaults);
	ck_assert_uint_eq(rep.contacts, 49);
	ck_assert_str_eq(
	    rep.chosen, "defaults: 49 contacts with messages, 50 needed");
	free(sums);
}
END_TEST

START_TEST(test_recovers_bgbb)
{
	struct bgbb_params truth = { 0.8, 1.6, 0.4, 8.0 }, fitted;
	struct model_summary *sums = bgbb_account(&truth, 11);
	struct model_params p;
	struct model_fit_report rep;
	double ll = 0.0;
	size_t i;

	model_params_default(&p);
	ck_assert(model_fit(sums, ACCOUNT, &p, &rep));
	ck_assert(!rep.used_defaults);
	ck_assert_uint_eq(rep.contacts, ACCOUNT);
	ck_assert_uint_gt(rep.patterns, 100);
	ck_assert_uint_le(rep.patterns, ACCOUNT);
	ck_assert_int_gt(rep.iterations, 50);
	/* means of p and theta are well determined; shapes less so */
	ck_assert_double_eq_tol(p.alpha / (p.alpha + p.beta), 1.0 / 3.0, 0.03);
	ck_assert_double_eq_tol(
	    p.gamma / (p.gamma + p.delta), 0.4 / 8.4, 0.015);
	ck_assert_double_eq_tol(p.alpha, truth.alpha, 0.25 * truth.alpha);
	ck_assert_double_eq_tol(p.beta, truth.beta, 0.25 * truth.beta);
	ck_assert_double_eq_tol(p.gamma, truth.gamma, 0.35 * truth.gamma);
	/* the reported LL is the sequence LL at the fitted parameters */
	fitted = (struct bgbb_params){ p.alpha, p.beta, p.gamma, p.delta };
	for (i = 0; i < ACCOUNT; i++)
		ll += bgbb_loglik(&fitted, sums[i].x, sums[i].t_x, sums[i].n);
	ck_assert_double_eq_tol(rep.loglik, ll, 1e-6 * fabs(ll));
	/* BG/BB data: BG/BB predicts them better than forgetting alone */
	ck_assert_double_lt(rep.bgbb_logloss, rep.forget_logloss);
	ck_assert_double_ge(p.bgbb_weight, 0.5);
	ck_assert_double_le(p.bgbb_weight, 1.0);
	ck_assert_ptr_nonnull(strstr(rep.chosen, "per message"));
	free(sums);
}
END_TEST

START_TEST(test_drift_prefers_forgetting)
{
	struct model_summary *sums = drift_account(15.0, 12);
	struct model_params p;
	struct model_fit_report rep;

	model_params_default(&p);
	ck_assert(model_fit(sums, ACCOUNT, &p, &rep));
	ck_assert_double_lt(p.half_life, 40.0);
	ck_assert_double_lt(rep.forget_logloss, rep.bgbb_logloss);
	ck_assert_double_lt(p.bgbb_weight, 0.5);
	ck_assert(strncmp(rep.chosen, "forgetting:", 11) == 0 ||
		  strncmp(rep.chosen, "blend:", 6) == 0);
	free(sums);
}
END_TEST

START_TEST(test_stationary_forgets_slowly)
{
	struct model_summary *sums = drift_account(INFINITY, 13);
	struct forget_series *series = xcalloc(ACCOUNT, sizeof(*series));
	struct forget_params fp = { 1.0, 1.0, 10.0 };
	double loss;
	size_t i;

	for (i = 0; i < ACCOUNT; i++) {
		series[i].y = sums[i].history;
		series[i].len = sums[i].history_len;
	}
	ck_assert(forget_fit(series, ACCOUNT, &fp, &loss));
	/* constant p ~ Beta(2, 2): keep (almost) everything, prior near it */
	ck_assert_double_gt(fp.half_life, 100.0);
	ck_assert_double_eq_tol(
	    fp.prior_a / (fp.prior_a + fp.prior_b), 0.5, 0.05);
	ck_assert_double_eq_tol(
	    loss, forget_logloss(&fp, series, ACCOUNT), 1e-12);
	ck_assert_double_lt(loss, log(2.0));
	ck_assert(!forget_fit(series, 0, &fp, &loss));
	free(series);
	free(sums);
}
END_TEST

static Suite *
model_fit_suite(void)
{
	Suite *s = suite_create("model_fit");
	TCase *tc = tcase_create("fit");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_too_few_contacts_keep_defaults);
	tcase_add_test(tc, test_recovers_bgbb);
	tcase_add_test(tc, test_drift_prefers_forgetting);
	tcase_add_test(tc, test_stationary_forgets_slowly);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(model_fit_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
