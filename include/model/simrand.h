/*
 * simrand.h - a small seeded random source for simulations and tests.
 *
 * The model simulator and the fitting tests must give the same numbers on
 * every machine, so they draw from this splitmix64 generator instead of
 * rand().  Not for anything secret.
 */
#ifndef ENGAGEMENTD_MODEL_SIMRAND_H
#define ENGAGEMENTD_MODEL_SIMRAND_H

#include <stdint.h>

struct simrand {
	uint64_t state;
};

void simrand_seed(struct simrand *r, uint64_t seed);
uint64_t simrand_u64(struct simrand *r);
/* Uniform on the open interval (0, 1). */
double simrand_uniform(struct simrand *r);
/* 1 with probability p. */
int simrand_bernoulli(struct simrand *r, double p);
/* Standard normal. */
double simrand_normal(struct simrand *r);
/* Gamma(shape, 1), shape > 0. */
double simrand_gamma(struct simrand *r, double shape);
/* Beta(a, b), a, b > 0. */
double simrand_beta(struct simrand *r, double a, double b);

#endif
