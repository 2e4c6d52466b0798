/*
 * ratelimit.c - token buckets in a fixed open-addressed table.
 *
 * The table holds RATELIMIT_SLOTS keys; when a probe run is full, the
 * stalest bucket of the run is recycled.  A recycled bucket starts full,
 * which can only favour a client, never lock one out.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "http/ratelimit.h"

#define RATELIMIT_SLOTS 4096
#define RATELIMIT_PROBE 8

struct bucket {
	unsigned char key[32];
	double tokens;
	int64_t updated_us;
	int used;
};

struct ratelimit {
	double rate;
	double burst;
	pthread_mutex_t lock;
	struct bucket slots[RATELIMIT_SLOTS];
};

struct ratelimit *
ratelimit_new(double rate, double burst)
{
	struct ratelimit *rl = xcalloc(1, sizeof(*rl));

	rl->rate = rate;
	rl->burst = burst < 1 ? 1 : burst;
	pthread_mutex_init(&rl->lock, NULL);
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

static struct bucket *
find_bucket(struct ratelimit *rl, const unsigned char key[32], int64_t now)
{
	unsigned start = ((unsigned)key[0] << 8 | key[1]) % RATELIMIT_SLOTS;
	struct bucket *stalest = NULL;

	for (unsigned i = 0; i < RATELIMIT_PROBE; i++) {
		struct bucket *b = &rl->slots[(start + i) % RATELIMIT_SLOTS];

		if (b->used && memcmp(b->key, key, 32) == 0)
			return b;
		if (!b->used || stalest == NULL ||
		    b->updated_us < stalest->updated_us)
			stalest = b;
		if (!b->used)
			break;
	}
	memcpy(stalest->key, key, 32);
	stalest->tokens = rl->burst;
	stalest->updated_us = now;
	stalest->used = 1;
	return stalest;
}

int
ratelimit_take(
    struct ratelimit *rl, const unsigned char key[32], int64_t now_us)
{
	struct bucket *b;
	int wait = 0;

	if (rl == NULL || rl->rate <= 0)
		return 0;
	pthread_mutex_lock(&rl->lock);
	b = find_bucket(rl, key, now_us);
	b->tokens += (double)(now_us - b->updated_us) / 1e6 * rl->rate;
	if (b->tokens > rl->burst)
		b->tokens = rl->burst;
	b->updated_us = now_us;
	if (b->tokens >= 1.0)
		b->tokens -= 1.0;
	else
		wait = (int)ceil((1.0 - b->tokens) / rl->rate);
	pthread_mutex_unlock(&rl->lock);
	return wait;
}
