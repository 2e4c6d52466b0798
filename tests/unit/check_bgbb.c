/*
 * check_bgbb.c - the BG/BB numbers against reference values: the 33 rows
 * of tests/data/bgbb_vectors.csv (computed in 50-digit arithmetic), the
 * donations fit of Fader, Hardie & Shang (2010), and the normalising
 * constant that turns sequence probabilities into summary probabilities.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/bgbb.h"
#include "model/fit.h"

#define VEC_MAX 64
#define PAT_MAX 64

struct vec_row {
	struct bgbb_params p;
	int x, t_x, n;
	double p_alive, e_next1, e_next10, p_zero_next5;
};

static const struct bgbb_params donations_mle = { 1.203522, 0.749716, 0.656718,
	2.783442 };

static FILE *
open_data(const char *name)
{
	const char *dir = getenv("ENGAGEMENTD_TEST_DATA");
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/data", name);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	return f;
}

static int
load_vectors(struct vec_row *rows)
{
	FILE *f = open_data("bgbb_vectors.csv");
	char line[512];
	int count = 0;

	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f)); /* header */
	while (count < VEC_MAX && fgets(line, sizeof(line), f) != NULL) {
		struct vec_row *r = &rows[count];

		if (sscanf(line, "%lf,%lf,%lf,%lf,%d,%d,%d,%lf,%lf,%lf,%lf",
			&r->p.alpha, &r->p.beta, &r->p.gamma, &r->p.delta,
			&r->x, &r->t_x, &r->n, &r->p_alive, &r->e_next1,
			&r->e_next10, &r->p_zero_next5) == 11)
			count++;
	}
	fclose(f);
	return count;
}

static int
load_donations(struct bgbb_pattern *pats)
{
	FILE *f = open_data("donations.csv");
	char line[256];
	int count = 0;

	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	while (count < PAT_MAX && fgets(line, sizeof(line), f) != NULL) {
		struct bgbb_pattern *q = &pats[count];

		if (sscanf(line, "%d,%d,%d,%lf", &q->x, &q->t_x, &q->n,
			&q->weight) == 4)
			count++;
	}
	fclose(f);
	return count;
}

static void
assert_rel(double got, double want, double tol, const char *what, int row)
{
	double scale = fabs(want) > 0.0 ? fabs(want) : 1.0;

	ck_assert_msg(fabs(got - want) <= tol * scale,
	    "row %d %s: got %.15g want %.15g (rel %.3g)", row, what, got, want,
	    fabs(got - want) / scale);
}

START_TEST(test_vectors_all_rows)
{
	struct vec_row rows[VEC_MAX];
	int count = load_vectors(rows), i;

	ck_assert_int_eq(count, 33);
	for (i = 0; i < count; i++) {
		const struct vec_row *r = &rows[i];

		assert_rel(bgbb_p_alive(&r->p, r->x, r->t_x, r->n), r->p_alive,
		    1e-9, "p_alive", i + 1);
		assert_rel(bgbb_expected_opens(&r->p, r->x, r->t_x, r->n, 1),
		    r->e_next1, 1e-9, "e_next1", i + 1);
		assert_rel(bgbb_p_open_at(&r->p, r->x, r->t_x, r->n, 1),
		    r->e_next1, 1e-9, "p_open_at 1", i + 1);
		assert_rel(bgbb_expected_opens(&r->p, r->x, r->t_x, r->n, 10),
		    r->e_next10, 1e-9, "e_next10", i + 1);
		assert_rel(bgbb_p_no_opens(&r->p, r->x, r->t_x, r->n, 5),
		    r->p_zero_next5, 1e-9, "p_zero_next5", i + 1);
	}
}
END_TEST

START_TEST(test_loglik_and_posterior_p)
{
	struct bgbb_params paper = { 1.204, 0.75, 0.657, 2.783 };
	struct bgbb_params stress = { 0.5, 2, 1, 3 };

	/* ln L and E[p | data] from the reference table (10 and 6 digits) */
	assert_rel(bgbb_loglik(&donations_mle, 0, 0, 0), 0.0, 1e-15, "lnL", 1);
	assert_rel(bgbb_loglik(&donations_mle, 0, 0, 1), -0.6902369147, 1e-9,
	    "lnL", 2);
	assert_rel(
	    bgbb_loglik(&donations_mle, 2, 4, 6), -5.195619729, 1e-9, "lnL", 6);
	assert_rel(bgbb_loglik(&donations_mle, 50, 100, 200), -78.28706649,
	    1e-9, "lnL", 14);
	assert_rel(bgbb_loglik(&donations_mle, 1000, 5000, 5000), -2511.637061,
	    1e-9, "lnL", 18);
	assert_rel(bgbb_loglik(&paper, 6, 6, 6), -2.182248448, 1e-9, "lnL", 21);
	assert_rel(
	    bgbb_loglik(&stress, 2, 3, 60), -5.268253393, 1e-9, "lnL", 25);
	assert_rel(bgbb_posterior_p(&donations_mle, 0, 0, 0), 0.616168, 1e-5,
	    "E[p]", 1);
	assert_rel(bgbb_posterior_p(&donations_mle, 2, 4, 6), 0.444683, 1e-5,
	    "E[p]", 6);
	assert_rel(bgbb_posterior_p(&donations_mle, 199, 199, 200), 0.993634,
	    1e-5, "E[p]", 16);
	assert_rel(
	    bgbb_posterior_p(&stress, 3, 7, 10), 0.308761, 1e-5, "E[p]", 23);
}
END_TEST

START_TEST(test_closed_forms)
{
	struct bgbb_params p = { 0.5, 2, 1, 3 };

	/* t_x == n: L is the alive term alone, so P(alive) is closed form */
	assert_rel(bgbb_p_alive(&p, 10, 10, 10), 13.0 / 14.0, 1e-14,
	    "alive t_x=n", 24);
	assert_rel(bgbb_p_alive(&donations_mle, 0, 0, 0),
	    donations_mle.delta / (donations_mle.gamma + donations_mle.delta),
	    1e-14, "prior alive", 1);
	/* the two forms of P(no opens) add to one */
	assert_rel(bgbb_p_no_opens(&donations_mle, 2, 4, 6, 5) +
		       bgbb_p_any_open(&donations_mle, 2, 4, 6, 5),
	    1.0, 1e-13, "complement", 6);
	/* tiny complement keeps its digits (row 14: 1 - P0 = 3.4e-18) */
	ck_assert_double_gt(
	    bgbb_p_any_open(&donations_mle, 50, 100, 200, 5), 3.3e-18);
	ck_assert_double_lt(
	    bgbb_p_any_open(&donations_mle, 50, 100, 200, 5), 3.5e-18);
	ck_assert_double_eq(bgbb_p_any_open(&donations_mle, 2, 4, 6, 0), 0.0);
}
END_TEST

static double
log_choose(int n, int k)
{
	return lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0);
}

/* Summary probability of (x, t_x) among n: C(t_x-1, x-1) L, or L at x=0. */
static double
summary_total(const struct bgbb_params *p, int n)
{
	double total = exp(bgbb_loglik(p, 0, 0, n));
	int x, t;

	for (x = 1; x <= n; x++)
		for (t = x; t <= n; t++)
			total += exp(
			    log_choose(t - 1, x - 1) + bgbb_loglik(p, x, t, n));
	return total;
}

START_TEST(test_normalising_constant)
{
	static const int ns[] = { 0, 1, 6, 30 };
	struct bgbb_params u = { 0.1, 0.1, 0.1, 0.1 };
	size_t i;

	for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		assert_rel(summary_total(&donations_mle, ns[i]), 1.0, 1e-12,
		    "summary sum", ns[i]);
		assert_rel(summary_total(&u, ns[i]), 1.0, 1e-12,
		    "summary sum U", ns[i]);
	}
}
END_TEST

START_TEST(test_donations_loglik)
{
	struct bgbb_pattern pats[PAT_MAX];
	struct bgbb_params paper = { 1.204, 0.75, 0.657, 2.783 };
	int count = load_donations(pats);

	ck_assert_int_eq(count, 22);
	ck_assert_double_eq_tol(
	    bgbb_loglik_grouped(&paper, pats, 22), -33225.5818, 1e-3);
}
END_TEST

START_TEST(test_donations_fit)
{
	struct bgbb_pattern pats[PAT_MAX];
	struct bgbb_params p = { 1, 1, 1, 1 };
	double ll, total = 0.0, ex = 0.0;
	int count = load_donations(pats), evals, k;

	ck_assert(fit_bgbb(pats, (size_t)count, &p, &ll, &evals));
	ck_assert_double_eq_tol(p.alpha, 1.203522, 5e-5);
	ck_assert_double_eq_tol(p.beta, 0.749716, 5e-5);
	ck_assert_double_eq_tol(p.gamma, 0.656718, 5e-5);
	ck_assert_double_eq_tol(p.delta, 2.783442, 5e-4);
	ck_assert_double_eq_tol(ll, -33225.5813, 1e-3);
	ck_assert_int_lt(evals, 8000);

	/* paper's Table 6 and the published workbook sum of E[X(6, 11)] */
	ck_assert_double_eq_tol(bgbb_p_alive(&p, 0, 0, 6), 0.11, 0.005);
	ck_assert_double_eq_tol(bgbb_p_alive(&p, 2, 4, 6), 0.59, 0.005);
	ck_assert_double_eq_tol(bgbb_p_alive(&p, 6, 6, 6), 0.93, 0.005);
	for (k = 0; k < count; k++) {
		total += pats[k].weight;
		ex += pats[k].weight * bgbb_expected_opens(&p, pats[k].x,
					   pats[k].t_x, pats[k].n, 5);
	}
	ck_assert_double_eq(total, 11104.0);
	ck_assert_double_eq_tol(ex, 12884.2, 0.1);
}
END_TEST

START_TEST(test_fit_from_other_start)
{
	struct bgbb_pattern pats[PAT_MAX];
	struct bgbb_params p = { 5.0, 0.2, 3.0, 0.5 };
	double ll;
	int count = load_donations(pats), evals;

	ck_assert(fit_bgbb(pats, (size_t)count, &p, &ll, &evals));
	ck_assert_double_eq_tol(p.alpha, 1.2035, 5e-4);
	ck_assert_double_eq_tol(p.delta, 2.7834, 5e-3);
	ck_assert_double_eq_tol(ll, -33225.58, 1e-2);
	/* no weight, no fit, params untouched */
	pats[0].weight = 0.0;
	ck_assert(!fit_bgbb(pats, 1, &p, &ll, &evals));
	ck_assert_double_eq_tol(p.alpha, 1.2035, 5e-4);
}
END_TEST

static Suite *
bgbb_suite(void)
{
	Suite *s = suite_create("bgbb");
	TCase *tc = tcase_create("reference");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_vectors_all_rows);
	tcase_add_test(tc, test_loglik_and_posterior_p);
	tcase_add_test(tc, test_closed_forms);
	tcase_add_test(tc, test_normalising_constant);
	tcase_add_test(tc, test_donations_loglik);
	tcase_add_test(tc, test_donations_fit);
	tcase_add_test(tc, test_fit_from_other_start);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(bgbb_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
