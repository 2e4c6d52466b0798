/*
 * ratelimit.h - token buckets keyed by a 32-byte digest (of an API key),
 * so one client cannot take the service from the others.
 */
#ifndef ENGAGEMENTD_HTTP_RATELIMIT_H
#define ENGAGEMENTD_HTTP_RATELIMIT_H

#include <stdint.h>

struct ratelimit;

/* rate tokens a second, burst at most; rate 0 makes every take succeed. */
struct ratelimit *ratelimit_new(double rate, double burst);
void ratelimit_free(struct ratelimit *rl);

/*
 * Takes one token for key at now_us (monotonic).  Returns 0 when allowed,
 * else the whole seconds (>= 1) after which a token will be there.
 */
int ratelimit_take(
    struct ratelimit *rl, const unsigned char key[32], int64_t now_us);

#endif
