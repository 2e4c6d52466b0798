/*
 * simrand.c - splitmix64 and the few distributions the simulations need.
 *
 * Gamma variates use the squeeze method of Marsaglia and Tsang (2000);
 * shapes below one are boosted by one and scaled by U^(1/shape).
 */
#include <math.h>

#include "model/simrand.h"

void
simrand_seed(struct simrand *r, uint64_t seed)
{
	r->state = seed;
}

uint64_t
simrand_u64(struct simrand *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double
simrand_uniform(struct simrand *r)
{
	/* 53 random bits, shifted half a step off zero */
	return ((double)(simrand_u64(r) >> 11) + 0.5) * 0x1.0p-53;
}

int
simrand_bernoulli(struct simrand *r, double p)
{
	return simrand_uniform(r) < p;
}

double
simrand_normal(struct simrand *r)
{
	double u = simrand_uniform(r), v = simrand_uniform(r);

	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

double
simrand_gamma(struct simrand *r, double shape)
{
	double d, c;

	if (shape < 1.0)
		return simrand_gamma(r, shape + 1.0) *
		       pow(simrand_uniform(r), 1.0 / shape);
	d = shape - 1.0 / 3.0;
	c = 1.0 / sqrt(9.0 * d);
	for (;;) {
		double z = simrand_normal(r), v = 1.0 + c * z, u;

		if (v <= 0.0)
			continue;
		v = v * v * v;
		u = simrand_uniform(r);
		if (log(u) < 0.5 * z * z + d - d * v + d * log(v))
			return d * v;
	}
}

double
simrand_beta(struct simrand *r, double a, double b)
{
	double g = simrand_gamma(r, a), h = simrand_gamma(r, b);

	/* both can underflow to zero for tiny shapes */
	if (g + h <= 0.0)
		return simrand_uniform(r) < a / (a + b) ? 1.0 : 0.0;
	return g / (g + h);
}
